/*
 * vmx_caps.c — the VMX capability MSRs (SDM Vol. 3D appendix A), reporting
 * exactly the controls this implementation carries out. A control the code
 * does not implement is reported must-be-0 (its allowed-1 bit clear); the
 * "default1" bits of each control class (A.2) are must-be-1 in the non-TRUE
 * MSRs and, where the TRUE MSRs allow it, may be 0 only if they have no
 * function here (CR3-load/store exiting are implemented, so they may be 0).
 * docs/vmx.md lists the result.
 */
#include "vmx/vmx.h"

/* Default1 classes (SDM A.2, A.3.1, A.3.2, A.4, A.5). */
#define VMX_PIN_DEFAULT1 0x00000016u
#define VMX_PROC_DEFAULT1 0x0401E172u
#define VMX_EXIT_DEFAULT1 0x00036DFFu
#define VMX_ENTRY_DEFAULT1 0x000011FFu
/* What the TRUE MSRs let be 0 among them: CR3-load/store exiting (15, 16),
 * save/load debug controls (2). */
#define VMX_TRUE_PROC_DEFAULT1 (VMX_PROC_DEFAULT1 & ~(VMX_PROC_CR3_LOAD | VMX_PROC_CR3_STORE))
#define VMX_TRUE_EXIT_DEFAULT1 (VMX_EXIT_DEFAULT1 & ~VMX_EXIT_SAVE_DEBUG)
#define VMX_TRUE_ENTRY_DEFAULT1 (VMX_ENTRY_DEFAULT1 & ~VMX_ENTRY_LOAD_DEBUG)

/* Implemented (allowed-1) controls. */
#define VMX_PIN_IMPL                                                                   \
    (VMX_PIN_DEFAULT1 | VMX_PIN_EXT_INTR_EXITING | VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS | \
     VMX_PIN_PREEMPT_TIMER | VMX_PIN_POSTED_INTR)
#define VMX_PROC_IMPL                                                                       \
    (VMX_PROC_DEFAULT1 | VMX_PROC_INTR_WINDOW | VMX_PROC_TSC_OFFSET | VMX_PROC_HLT |            \
     VMX_PROC_INVLPG | VMX_PROC_MWAIT | VMX_PROC_RDPMC | VMX_PROC_RDTSC | VMX_PROC_CR3_LOAD |   \
     VMX_PROC_CR3_STORE | VMX_PROC_CR8_LOAD | VMX_PROC_CR8_STORE | VMX_PROC_TPR_SHADOW |       \
     VMX_PROC_NMI_WINDOW | VMX_PROC_MOV_DR | VMX_PROC_UNCOND_IO | VMX_PROC_IO_BITMAPS | VMX_PROC_MSR_BITMAPS |   \
     VMX_PROC_MTF | VMX_PROC_MONITOR | VMX_PROC_PAUSE | VMX_PROC_SECONDARY)
/* "VMCS shadowing" (SDM 24.10, 25.1.3): VMREAD/VMWRITE in non-root
 * operation reach the shadow VMCS of the link pointer (vmx_shadow.c).
 * "enable VPID": translations are not tagged with VPIDs here, every VM
 * entry and exit empties the TLB instead, which SDM 28.3.3.1 allows (a
 * processor may invalidate more than it must); INVVPID has nothing left
 * to invalidate (vmx_root.c). */
#define VMX_PROC2_IMPL                                                                      \
    (VMX_PROC2_VIRT_APIC_ACCESS | VMX_PROC2_EPT | VMX_PROC2_RDTSCP | VMX_PROC2_VIRT_X2APIC |   \
     VMX_PROC2_VPID |                                                                       \
     VMX_PROC2_WBINVD | VMX_PROC2_UNRESTRICTED |                                            \
     VMX_PROC2_APIC_REG_VIRT | VMX_PROC2_VIRT_INTR_DELIVERY | VMX_PROC2_VMCS_SHADOW)
/* The host is 64-bit: "host address-space size" must be 1 (SDM 26.2.1.2
 * lets a 64-bit processor require it through the allowed-0 setting). */
#define VMX_EXIT_IMPL                                                                       \
    (VMX_EXIT_DEFAULT1 | VMX_EXIT_HOST_ADDR_SPACE | VMX_EXIT_ACK_INTR | VMX_EXIT_SAVE_PAT |  \
     VMX_EXIT_LOAD_PAT | VMX_EXIT_SAVE_EFER | VMX_EXIT_LOAD_EFER | VMX_EXIT_SAVE_PREEMPT_TIMER)
#define VMX_EXIT_MUST1 (VMX_EXIT_DEFAULT1 | VMX_EXIT_HOST_ADDR_SPACE)
#define VMX_TRUE_EXIT_MUST1 (VMX_TRUE_EXIT_DEFAULT1 | VMX_EXIT_HOST_ADDR_SPACE)
/* The interpreter executes real, protected, compatibility and 64-bit mode:
 * "IA-32e mode guest" may be 0 or 1. */
#define VMX_ENTRY_IMPL (VMX_ENTRY_DEFAULT1 | VMX_ENTRY_IA32E | VMX_ENTRY_LOAD_PAT | VMX_ENTRY_LOAD_EFER)
#define VMX_ENTRY_MUST1 VMX_ENTRY_DEFAULT1
#define VMX_TRUE_ENTRY_MUST1 VMX_TRUE_ENTRY_DEFAULT1

/* CR0: PE, NE, PG fixed to 1 ("unrestricted guest" lets PE and PG be 0,
 * SDM 26.3.1.1, A.7); FIXED1 has bits 31:0 set, as processors report it:
 * the reserved bits of CR0[31:0] cannot become 1 (MOV to CR0 ignores them,
 * VM entry and VM exit never load them), so VMX need not forbid them; bits
 * 63:32 must be 0. CR4: VMXE fixed to 1, and only the CR4 bits the
 * interpreter knows may be 1 (SDM A.7, A.8): TSD, DE, PSE, PAE, PGE, PCE, VMXE
 * (cpu_system.c CR4_SUPPORTED). */
#define VMX_CR0_FIXED0 0x80000021ull
#define VMX_CR0_FIXED1 0xFFFFFFFFull
#define VMX_CR4_FIXED0 0x00002000ull
#define VMX_CR4_FIXED1 0x000021BCull

static uint64_t vmx_ctl_pair(uint32_t must1, uint32_t allowed1)
{
    return (uint64_t)must1 | ((uint64_t)allowed1 << 32);
}

/* SDM A.1 IA32_VMX_BASIC: revision 30:0, region size 44:32 = 4096, memory
 * type 53:50 = 6 (write-back), bit 54 = 0 (INS/OUTS instruction information
 * not reported), bit 55 = 1 (TRUE controls MSRs exist). */
static uint64_t vmx_basic(void)
{
    return VMX_VMCS_REVISION | (4096ull << 32) | (6ull << 50) | (1ull << 55);
}

/* SDM A.6 IA32_VMX_MISC: preemption-timer rate 4:0, LMA stored into the
 * IA-32e entry control on exit (5), activity states HLT (6) and
 * wait-for-SIPI (8) supported (shutdown, 7, is not), 4 CR3-target values
 * (24:16), MSR lists recommended 512 (27:25 = 0), VMWRITE to any
 * supported field, the VM-exit information fields included (29 = 1: a
 * hypervisor that shadows its guest's VMCS writes them; vmx_vmwrite).
 * A machine whose CPU model lacks it (--cpu max,-vmwrite-any) clears bit
 * 29 in what its guest reads and sets vmx_vcpu.vmwrite_ro_fails. */
static uint64_t vmx_misc(void)
{
    return VMX_PREEMPT_RATE | (1ull << 5) | (1ull << 6) | (1ull << 8) | (4ull << 16) | (1ull << 29);
}

/* SDM A.10 IA32_VMX_EPT_VPID_CAP: execute-only translations (0), 4-level
 * walks (6), write-back paging structures (14), 2-MByte and 1-GByte pages
 * (16, 17), INVEPT with single-context and all-context types (20, 25, 26),
 * no accessed/dirty flags (21); INVVPID (32) with all four types:
 * individual-address (40), single-context (41), all-context (42),
 * single-context-retaining-globals (43). */
static uint64_t vmx_ept_vpid_cap(void)
{
    return (1ull << 0) | (1ull << 6) | (1ull << 14) | (1ull << 16) | (1ull << 17) | (1ull << 20) |
           (1ull << 25) | (1ull << 26) | (1ull << 32) | (0xFull << 40);
}

bool vmx_capability_msr(uint32_t msr, uint64_t *val)
{
    switch (msr) {
    case VMX_MSR_BASIC: *val = vmx_basic(); return true;
    case VMX_MSR_PINBASED_CTLS:
    case VMX_MSR_TRUE_PINBASED_CTLS: *val = vmx_ctl_pair(VMX_PIN_DEFAULT1, VMX_PIN_IMPL); return true;
    case VMX_MSR_PROCBASED_CTLS: *val = vmx_ctl_pair(VMX_PROC_DEFAULT1, VMX_PROC_IMPL); return true;
    case VMX_MSR_TRUE_PROCBASED_CTLS: *val = vmx_ctl_pair(VMX_TRUE_PROC_DEFAULT1, VMX_PROC_IMPL); return true;
    case VMX_MSR_EXIT_CTLS: *val = vmx_ctl_pair(VMX_EXIT_MUST1, VMX_EXIT_IMPL); return true;
    case VMX_MSR_TRUE_EXIT_CTLS: *val = vmx_ctl_pair(VMX_TRUE_EXIT_MUST1, VMX_EXIT_IMPL); return true;
    case VMX_MSR_ENTRY_CTLS: *val = vmx_ctl_pair(VMX_ENTRY_MUST1, VMX_ENTRY_IMPL); return true;
    case VMX_MSR_TRUE_ENTRY_CTLS: *val = vmx_ctl_pair(VMX_TRUE_ENTRY_MUST1, VMX_ENTRY_IMPL); return true;
    case VMX_MSR_MISC: *val = vmx_misc(); return true;
    case VMX_MSR_CR0_FIXED0: *val = VMX_CR0_FIXED0; return true;
    case VMX_MSR_CR0_FIXED1: *val = VMX_CR0_FIXED1; return true;
    case VMX_MSR_CR4_FIXED0: *val = VMX_CR4_FIXED0; return true;
    case VMX_MSR_CR4_FIXED1: *val = VMX_CR4_FIXED1; return true;
    /* SDM A.9: bits 9:1 the highest index of any field (TSC multiplier, 0x19). */
    case VMX_MSR_VMCS_ENUM: *val = 0x19u << 1; return true;
    case VMX_MSR_PROCBASED_CTLS2: *val = vmx_ctl_pair(0, VMX_PROC2_IMPL); return true;
    case VMX_MSR_EPT_VPID_CAP: *val = vmx_ept_vpid_cap(); return true;
    case VMX_MSR_VMFUNC: *val = 0; return true;
    default: return false;
    }
}

bool vmx_ctls_allowed(uint64_t cap, uint32_t ctl)
{
    uint32_t must1 = (uint32_t)cap, may1 = (uint32_t)(cap >> 32);
    return (ctl & must1) == must1 && (ctl & ~may1) == 0;
}
