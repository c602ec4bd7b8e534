/*
 * emu_hv_internal.h — shared between the hypervisor's files: emu_hv.c
 * (set-up, APIC controls), emu_hv_irq.c (interrupt paths), emu_hv_run.c
 * (timed work, scheduling, the run loop), emu_hv_exit.c (exit dispatch),
 * emu_hv_apic.c (APIC emulation, APIC MSRs), emu_hv_hypercall.c, and
 * emu_hv_mp.c, emu_hv_devices.c, emu_hv_policy.c, emu_hv_glue.c.
 * Not for other files: the public interface is emu/emu_hv.h.
 */
#ifndef APICV_EMU_HV_INTERNAL_H
#define APICV_EMU_HV_INTERNAL_H

#include "emu/emu_hv.h"

#define HV_VMCS(vc, name) vmx_vmcs_get(&(vc)->vmx.vmcs, VMCS_##name)
#define HV_VMCS_SET(vc, name, val) vmx_vmcs_set(&(vc)->vmx.vmcs, VMCS_##name, (val))

/* Kinds of timed work (emu_hv_work.kind). */
enum { HV_WORK_MSI, HV_WORK_HOST_IRQ, HV_WORK_DESCHEDULE, HV_WORK_NMI, HV_WORK_INIT, HV_WORK_SIPI };

static inline bool hv_apicv_mode(const emu_hv *hv)
{
    return hv->mode == EMU_MODE_APICV || hv->mode == EMU_MODE_POSTED;
}
static inline bool hv_tpr_shadow_mode(const emu_hv *hv)
{
    return hv->mode != EMU_MODE_EMULATED;
}
static inline unsigned hv_index(const emu_hv *hv, const emu_hv_vcpu *vc)
{
    return (unsigned)(vc - hv->vcpu);
}

/* ---- exit-handler helpers (KVM x86.c) ------------------------------------- */

/* KVM skip_emulated_instruction: RIP past the instruction, and the
 * instruction's STI / MOV-SS blocking no longer applies. */
static inline void hv_skip(emu_hv_vcpu *vc, uint64_t len)
{
    HV_VMCS_SET(vc, GUEST_RIP, HV_VMCS(vc, GUEST_RIP) + len);
    HV_VMCS_SET(vc, GUEST_INTERRUPTIBILITY,
                HV_VMCS(vc, GUEST_INTERRUPTIBILITY) &
                    ~(uint64_t)(VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS));
}

static inline void hv_skip_insn(emu_hv_vcpu *vc)
{
    hv_skip(vc, HV_VMCS(vc, EXIT_INSN_LEN));
}

/* An exception into the guest at the next entry (KVM kvm_queue_exception);
 * the faulting instruction is not skipped. */
static inline void hv_inject_exception(emu_hv_vcpu *vc, unsigned vector, bool has_error, uint32_t error)
{
    HV_VMCS_SET(vc, ENTRY_INTR_INFO, VMX_INTR_INFO_VALID |
                                         (has_error ? VMX_INTR_INFO_ERROR_VALID : 0) |
                                         ((uint32_t)VMX_INTR_TYPE_HW_EXC << 8) | vector);
    HV_VMCS_SET(vc, ENTRY_EXCEPTION_ERROR, has_error ? error : 0);
}

/* #GP(0) (KVM kvm_inject_gp). */
static inline void hv_inject_gp(emu_hv_vcpu *vc)
{
    hv_inject_exception(vc, CPU_EXC_GP, true, 0);
}

static inline uint64_t hv_size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* emu_hv.c */
/* The host's work in root operation takes time on the vCPU's CPU. */
void hv_charge(emu_hv_vcpu *vc, cpu_cost_class k);
/* An event of the hypervisor on the observer bus, at vc's cycle and RIP. */
void hv_emit(emu_hv *hv, emu_hv_vcpu *vc, unsigned kind, uint64_t a, uint64_t b, uint64_t d);
/* The posted-interrupt NDST of vc's host APIC. */
uint32_t hv_ndst(emu_hv_vcpu *vc);
void hv_crash(emu_hv *hv, emu_hv_vcpu *vc, const char *cause);
/* The x2APIC switch of IA32_APIC_BASE in apicv/posted modes. */
void hv_set_x2apic_controls(emu_hv *hv, emu_hv_vcpu *vc, bool x2apic);
/* apicv/posted: the virtual-APIC page back to its power-up values (guest APIC
 * globally disabled). */
void hv_vapic_power_up(emu_hv_vcpu *vc, unsigned index);
/* SDM 11.4.7.1 reset values on vc's virtual-APIC page. */
void hv_vapic_reset(emu_hv_vcpu *vc, unsigned index);

/* emu_hv_run.c */
void hv_queue(emu_hv *hv, unsigned cpu, unsigned kind, uint8_t vector, uint64_t arg, uint64_t cycle);
/* HLT: the vCPU sleeps until it has an interrupt it can take. */
void hv_block(emu_hv *hv, emu_hv_vcpu *vc);
void hv_deschedule(emu_hv *hv, emu_hv_vcpu *vc, uint64_t cycles);
/* The host takes (acknowledges and EOIs) every interrupt pending at its
 * local APIC, in root operation. */
void hv_host_irqs_in_root(emu_hv *hv, emu_hv_vcpu *vc);

/* emu_hv_irq.c */
/* Delivers a fixed interrupt to vCPU `to` now, by the mode's path (the
 * caller runs on that vCPU's clock or accepts the skew). */
void hv_deliver(emu_hv *hv, unsigned to, uint8_t vector);
/* The TMR bit of vector on the virtual-APIC page (emu_hv_devices.c). */
void hv_set_trigger(emu_hv_vcpu *vc, uint8_t vector, bool level);
/* Interrupts the vCPU's software APIC raised for the guest (its timer, its
 * LVT error entry) go on by the mode's path. */
void hv_sw_apic_raised(emu_hv *hv, emu_hv_vcpu *vc);
/* Sends a fixed interrupt to a vCPU at the sender's cycle: at once to
 * itself, through the target's work queue to another vCPU. */
void hv_send(emu_hv *hv, unsigned from, unsigned to, uint8_t vector);
/* The same for an NMI (ICR delivery mode NMI). */
void hv_send_nmi(emu_hv *hv, unsigned from, unsigned to);
/* Exit 43 and tpr-shadow entries: the TPR threshold from the pending
 * interrupts and the TPR (KVM update_cr8_intercept). */
void hv_update_cr8_intercept(emu_hv *hv, emu_hv_vcpu *vc);
/* The reschedule IPI (KVM kvm_vcpu_kick): a running vCPU exits. */
void hv_kick(emu_hv *hv, emu_hv_vcpu *vc);
/* Everything done in root operation right before VM entry. */
void hv_prepare_entry(emu_hv *hv, emu_hv_vcpu *vc);
/* Can a sleeping vCPU take an interrupt? */
bool hv_can_wake(emu_hv *hv, emu_hv_vcpu *vc);
/* The guest's APIC timer, when due, by the mode's path. */
void hv_guest_timer(emu_hv *hv, emu_hv_vcpu *vc);

/* emu_hv_apic.c: completes the instruction at the guest's RIP with the
 * interpreter (cpu_emulate_insn) — the APIC-access page is the
 * hypervisor's APIC, device pages and ports the machine's; a fault is
 * injected. false (after a crash diagnostic) when it cannot. */
bool hv_emulate_insn(emu_hv *hv, emu_hv_vcpu *vc, const char *what);

/* emu_hv_mp.c: Multiboot kernels (unrestricted guest, EPT identity map,
 * CR0.NE, INIT/SIPI through exits 3 and 4). */
bool hv_mp_setup(emu_hv *hv, char *err, size_t errlen);
void hv_mp_prepare_entry(emu_hv *hv, emu_hv_vcpu *vc);
/* A guest CR0 write that exited (28): false means #GP. */
bool hv_mp_cr0_write(emu_hv *hv, emu_hv_vcpu *vc, uint64_t val);
/* A guest INIT or STARTUP IPI from vCPU from to vCPU to. */
void hv_mp_send(emu_hv *hv, unsigned from, unsigned to, const apic_ipi *ipi);
void hv_mp_init_exit(emu_hv *hv, emu_hv_vcpu *vc);
void hv_mp_sipi_exit(emu_hv *hv, emu_hv_vcpu *vc, uint8_t vector);
bool hv_mp_ept_violation(emu_hv *hv, emu_hv_vcpu *vc);

/* emu_hv_policy.c */
/* Records the host's value of every address field (after setup). */
void hv_policy_record_host_values(emu_hv_vcpu *vc);
/* The address policy over vc's whole VMCS, as VM entry sees it: false
 * with the first field that breaks it in *field and a message in why. */
bool hv_policy_check_entry(const emu_hv *hv, const emu_hv_vcpu *vc, uint32_t *field, char *why,
                           size_t len);

/* emu_hv_exit.c */
/* Handles the VM exit recorded in vc's VMCS; false when the run ended. */
bool hv_handle_exit(emu_hv *hv, emu_hv_vcpu *vc);

/* emu_hv_apic.c */
/* Routes a guest IPI (from an ICR write) to its target vCPUs. */
void hv_route_ipi(emu_hv *hv, unsigned from, const apic_ipi *ipi);
/* The software APIC's TPR (CR8 and TPR shadow reach it even when the APIC
 * is globally disabled). */
void hv_sw_set_tpr(apic_t *a, uint32_t tpr);
/* Exit 56 at offset off; exit 44 with its qualification; RDMSR/WRMSR. */
void hv_apic_write(emu_hv *hv, emu_hv_vcpu *vc, unsigned off);
bool hv_apic_access(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual);
void hv_msr_exit(emu_hv *hv, emu_hv_vcpu *vc, bool write);

/* emu_hv_hypercall.c: VMCALL (exit 18), the guest ABI's table. */
bool hv_hypercall(emu_hv *hv, emu_hv_vcpu *vc);

#endif
