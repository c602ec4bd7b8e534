/*
 * vmx_internal.h — shared between the files of vmx/ (not for other layers).
 */
#ifndef APICV_VMX_INTERNAL_H
#define APICV_VMX_INTERNAL_H

#include "vmx/vmx.h"

/* Reads a VMCS field (full encoding constant). */
#define VMCS(v, name) vmx_vmcs_read_fast(&(v)->vmcs, VMCS_##name)

/* Canonical 48-bit linear address (SDM Vol. 1 3.3.7.1). */
static inline bool vmx_canonical(uint64_t a)
{
    return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* Physical address within MAXPHYADDR. */
static inline bool vmx_phys_ok(uint64_t pa)
{
    return (pa >> CPU_MAXPHYADDR) == 0;
}

/* SDM 26.2.1.1 (and INVEPT, 30.3): an EPTP is valid when its memory type
 * (2:0) is one IA32_VMX_EPT_VPID_CAP reports — write-back (bit 14) only:
 * uncacheable (bit 8) is not reported — its walk length - 1 (5:3) is 3,
 * bit 6 (accessed/dirty flags, not reported) and bits 11:7 are 0, and the
 * address fits MAXPHYADDR. */
static inline bool vmx_eptp_ok(uint64_t eptp)
{
    return (eptp & 7) == 6 && ((eptp >> 3) & 7) == 3 && !(eptp & 0xFC0) && vmx_phys_ok(eptp);
}

/* SDM 26.2.1.1, 26.2.1.2, 26.2.1.3: VM-execution, exit and entry control
 * checks; VMX_CHECK_NONE when all pass. */
vmx_check vmx_check_controls(const vmx_vcpu *v);
/* SDM 26.2.2-26.2.4: host-state checks. */
vmx_check vmx_check_host_state(const vmx_vcpu *v);
/* SDM 26.3.1: guest-state checks. */
vmx_check vmx_check_guest_state(const vmx_vcpu *v);
/* The same three as a VM entry makes them: a group of vmx_vmcs.checked
 * that passed with the values its fields still hold is not checked again
 * (what reads memory and the guest's RIP, RFLAGS, non-register state and
 * PDPTEs are, every time); a group that passes is recorded there. */
vmx_check vmx_entry_check_controls(vmx_vcpu *v);
vmx_check vmx_entry_check_host_state(vmx_vcpu *v);
vmx_check vmx_entry_check_guest_state(vmx_vcpu *v);

/* Installs / removes the non-root hooks of vmx_nonroot.c on v->cpu and
 * recomputes cpu->icpt_mask from the controls. */
void vmx_nonroot_enter(vmx_vcpu *v);
void vmx_nonroot_leave(vmx_vcpu *v);
/* Recomputes cpu->icpt_mask after the controls changed. */
void vmx_nonroot_update_icpt(vmx_vcpu *v);

/* VMCS shadowing (vmx_shadow.c): does a VMREAD/VMWRITE (reason 23/25) of
 * encoding enc in non-root operation exit (SDM 25.1.3)? hooks.vmx of the
 * non-root hooks: one that does not, on the shadow VMCS (SDM 30.3). The
 * VMCS link pointer check of VM entry (SDM 26.3.1.5). */
bool vmx_shadow_exits(const vmx_vcpu *v, unsigned reason, uint64_t enc);
cpu_vmx_result vmx_shadow_insn(void *ctx, cpu_t *c, cpu_vmx_op *op);
bool vmx_link_pointer_ok(const vmx_vcpu *v);

/* SDM 27.3: the guest-state area from the cpu_t (vmx_exit.c). */
void vmx_save_guest_state(vmx_vcpu *v);

/* MSR lists (vmx_msrlist.c): SDM 26.4, the VM-entry MSR-load list (0 when
 * every entry loaded, else the 1-based number of the failing entry, the
 * exit qualification of exit 34); 27.4, the VM-exit MSR-store list; 27.6,
 * the VM-exit MSR-load list (false: a VMX abort is due). */
uint32_t vmx_msr_entry_load(vmx_vcpu *v);
bool vmx_msr_exit_store(vmx_vcpu *v);
bool vmx_msr_exit_load(vmx_vcpu *v);
/* SDM 27.7: the VMX abort with this indicator: recorded in v->vmcs.abort
 * and v->aborted, the CPU in the shutdown state (halted, neither root nor
 * non-root work left), VMX_EV_ABORT emitted. */
void vmx_abort(vmx_vcpu *v, uint32_t indicator);

/* cpu_hooks.translate with "enable EPT" = 1 (vmx_ept.c). */
bool vmx_ept_translate(void *ctx, cpu_t *c, uint64_t gpa, cpu_access acc, uint64_t *hpa);

/* VMCS access rights <-> cpu_seg.attr (cpu.h: attr bits 7:0 = AR 7:0,
 * bits 11:8 = AR 15:12; unusable (AR bit 16) is attr 0 with P = 0). */
static inline uint16_t vmx_ar_to_attr(uint32_t ar)
{
    if (ar & (1u << 16))
        return 0;
    return (uint16_t)((ar & 0xFF) | ((ar >> 4) & 0xF00));
}
static inline uint32_t vmx_attr_to_ar(uint16_t attr)
{
    if (!(attr & 0x80))
        return 1u << 16; /* not present: unusable */
    return (uint32_t)(attr & 0xFF) | ((uint32_t)(attr & 0xF00) << 4);
}

#endif
