/*
 * vmx_checks.c — the checks a VM entry performs before it loads anything
 * (SDM Vol. 3C 26.2 "Checks on VMX Controls and Host-State Area" and 26.3.1
 * "Checks on the Guest State Area", 2016 numbering). Each returns the first
 * rule that fails as a vmx_check id; the caller turns it into VM-instruction
 * error 7 or 8, or an entry-failure exit 33.
 *
 * Deviation (docs/vmx.md): virtual-8086 mode (RFLAGS.VM = 1) fails (the
 * interpreter does not execute it).
 */
#include "vmx/vmx_internal.h"

/* A PAT value whose eight entries are all valid memory types (0, 1, 4, 5,
 * 6, 7) (SDM 26.2.2, 26.3.1.1). */
static bool vmx_pat_valid(uint64_t pat)
{
    for (unsigned i = 0; i < 8; i++) {
        unsigned t = (pat >> (8 * i)) & 0xFF;
        if (t == 2 || t == 3 || t > 7)
            return false;
    }
    return true;
}

static bool vmx_page_addr_ok(uint64_t a)
{
    return (a & 0xFFF) == 0 && vmx_phys_ok(a);
}

/* Reads VTPR (virtual-APIC page offset 80H) for the TPR-threshold check
 * (SDM 26.2.1.1). A virtual-APIC address below MAXPHYADDR that no memory
 * backs reads as all ones, as a physical read of nothing does on a PC (the
 * VMCS region does the same, vmx_region.c): the address is legal, only the
 * value read is. */
static uint8_t vmx_read_vtpr(const vmx_vcpu *v)
{
    const uint8_t *p = cpu_phys_ptr(v->phys, VMCS(v, VIRTUAL_APIC_ADDR) + 0x80, 1);
    return p ? *p : 0xFF;
}

/* SDM 26.2.1.1: with TPR shadow, neither virtual-interrupt delivery nor
 * APIC-access virtualization, TPR threshold bits 3:0 must not exceed VTPR
 * bits 7:4: the one control check that reads memory. */
static bool vmx_tpr_threshold_above_vtpr(const vmx_vcpu *v)
{
    uint32_t proc2 = vmx_proc2(v);
    return (VMCS(v, PROC_CONTROLS) & VMX_PROC_TPR_SHADOW) &&
           !(proc2 & (VMX_PROC2_VIRT_INTR_DELIVERY | VMX_PROC2_VIRT_APIC_ACCESS)) &&
           ((uint32_t)VMCS(v, TPR_THRESHOLD) & 0xF) > (unsigned)(vmx_read_vtpr(v) >> 4);
}

/* SDM 26.2.1.1 "VM-Execution Control Fields" (and apicv.md section 8). */
static vmx_check vmx_check_exec_controls(const vmx_vcpu *v)
{
    uint64_t cap;
    uint32_t pin = (uint32_t)VMCS(v, PIN_CONTROLS);
    uint32_t proc = (uint32_t)VMCS(v, PROC_CONTROLS);
    uint32_t proc2 = vmx_proc2(v);
    uint32_t exit = (uint32_t)VMCS(v, EXIT_CONTROLS);

    vmx_capability_msr(VMX_MSR_TRUE_PINBASED_CTLS, &cap);
    if (!vmx_ctls_allowed(cap, pin))
        return VMX_CHECK_PIN_CTLS;
    vmx_capability_msr(VMX_MSR_TRUE_PROCBASED_CTLS, &cap);
    if (!vmx_ctls_allowed(cap, proc))
        return VMX_CHECK_PROC_CTLS;
    vmx_capability_msr(VMX_MSR_PROCBASED_CTLS2, &cap);
    if ((proc & VMX_PROC_SECONDARY) && !vmx_ctls_allowed(cap, proc2))
        return VMX_CHECK_PROC2_CTLS;
    if (VMCS(v, CR3_TARGET_COUNT) > 4)
        return VMX_CHECK_CR3_TARGET_COUNT;
    if (proc & VMX_PROC_IO_BITMAPS) {
        if (!vmx_page_addr_ok(VMCS(v, IO_BITMAP_A)))
            return VMX_CHECK_IO_BITMAP_A;
        if (!vmx_page_addr_ok(VMCS(v, IO_BITMAP_B)))
            return VMX_CHECK_IO_BITMAP_B;
    }
    if ((proc & VMX_PROC_MSR_BITMAPS) && !vmx_page_addr_ok(VMCS(v, MSR_BITMAP)))
        return VMX_CHECK_MSR_BITMAP;

    if (proc & VMX_PROC_TPR_SHADOW) {
        if (!vmx_page_addr_ok(VMCS(v, VIRTUAL_APIC_ADDR)))
            return VMX_CHECK_VAPIC_ADDR;
        if (!(proc2 & VMX_PROC2_VIRT_INTR_DELIVERY)) {
            uint32_t thr = (uint32_t)VMCS(v, TPR_THRESHOLD);
            if (thr & 0xFFFFFFF0u)
                return VMX_CHECK_TPR_THRESHOLD_HIGH;
            if (vmx_tpr_threshold_above_vtpr(v))
                return VMX_CHECK_TPR_THRESHOLD_VTPR;
        }
    } else if (proc2 & (VMX_PROC2_VIRT_X2APIC | VMX_PROC2_APIC_REG_VIRT |
                        VMX_PROC2_VIRT_INTR_DELIVERY)) {
        return VMX_CHECK_TPR_SHADOW_APICV;
    }

    if (!(pin & VMX_PIN_NMI_EXITING) && (pin & VMX_PIN_VIRTUAL_NMIS))
        return VMX_CHECK_NMI_VIRTUAL_NMIS;
    if (!(pin & VMX_PIN_VIRTUAL_NMIS) && (proc & VMX_PROC_NMI_WINDOW))
        return VMX_CHECK_VIRTUAL_NMIS_WINDOW;
    if ((proc2 & VMX_PROC2_VIRT_APIC_ACCESS) && !vmx_page_addr_ok(VMCS(v, APIC_ACCESS_ADDR)))
        return VMX_CHECK_APIC_ACCESS_ADDR;
    if ((proc2 & VMX_PROC2_VIRT_X2APIC) && (proc2 & VMX_PROC2_VIRT_APIC_ACCESS))
        return VMX_CHECK_X2APIC_APIC_ACCESS;
    if ((proc2 & VMX_PROC2_VIRT_INTR_DELIVERY) && !(pin & VMX_PIN_EXT_INTR_EXITING))
        return VMX_CHECK_VID_EXT_INTR;
    if (pin & VMX_PIN_POSTED_INTR) {
        uint64_t desc = VMCS(v, POSTED_INTR_DESC_ADDR);
        if (!(proc2 & VMX_PROC2_VIRT_INTR_DELIVERY))
            return VMX_CHECK_PI_VID;
        if (!(exit & VMX_EXIT_ACK_INTR))
            return VMX_CHECK_PI_ACK;
        if (VMCS(v, POSTED_INTR_NV) & 0xFF00)
            return VMX_CHECK_PI_NV;
        if ((desc & 0x3F) || !vmx_phys_ok(desc))
            return VMX_CHECK_PI_DESC;
    }
    if ((proc2 & VMX_PROC2_VPID) && VMCS(v, VPID) == 0)
        return VMX_CHECK_VPID_ZERO;
    if (proc2 & VMX_PROC2_EPT) {
        if (!vmx_eptp_ok(VMCS(v, EPT_POINTER)))
            return VMX_CHECK_EPTP;
    }
    if ((proc2 & VMX_PROC2_UNRESTRICTED) && !(proc2 & VMX_PROC2_EPT))
        return VMX_CHECK_UNRESTRICTED_EPT;
    /* "VMCS shadowing": both bitmap addresses 4-KByte aligned, within the
     * physical-address width. */
    if (proc2 & VMX_PROC2_VMCS_SHADOW) {
        if (!vmx_page_addr_ok(VMCS(v, VMREAD_BITMAP)))
            return VMX_CHECK_VMREAD_BITMAP;
        if (!vmx_page_addr_ok(VMCS(v, VMWRITE_BITMAP)))
            return VMX_CHECK_VMWRITE_BITMAP;
    }
    return VMX_CHECK_NONE;
}

/* SDM 26.2.1.2 / 26.2.1.3: an MSR-store or -load area of count entries
 * (16 bytes each) at addr. With a nonzero count, bits 3:0 of the address
 * are 0 and neither the address nor the area's last byte (computed with
 * more bits than MAXPHYADDR) sets a bit beyond the physical-address width.
 * The count is a 32-bit field, so the sum cannot wrap. */
static bool vmx_msr_area_ok(uint64_t count, uint64_t addr)
{
    if (count == 0)
        return true;
    if ((addr & 0xF) || !vmx_phys_ok(addr))
        return false;
    return vmx_phys_ok(addr + count * 16 - 1);
}

/* SDM 26.2.1.2 "VM-Exit Control Fields". */
static vmx_check vmx_check_exit_controls(const vmx_vcpu *v)
{
    uint64_t cap;
    uint32_t exit = (uint32_t)VMCS(v, EXIT_CONTROLS);
    vmx_capability_msr(VMX_MSR_TRUE_EXIT_CTLS, &cap);
    if (!vmx_ctls_allowed(cap, exit))
        return VMX_CHECK_EXIT_CTLS;
    if (!(VMCS(v, PIN_CONTROLS) & VMX_PIN_PREEMPT_TIMER) && (exit & VMX_EXIT_SAVE_PREEMPT_TIMER))
        return VMX_CHECK_PREEMPT_SAVE;
    if (!vmx_msr_area_ok(VMCS(v, EXIT_MSR_STORE_COUNT), VMCS(v, EXIT_MSR_STORE_ADDR)))
        return VMX_CHECK_EXIT_MSR_STORE;
    if (!vmx_msr_area_ok(VMCS(v, EXIT_MSR_LOAD_COUNT), VMCS(v, EXIT_MSR_LOAD_ADDR)))
        return VMX_CHECK_EXIT_MSR_LOAD;
    return VMX_CHECK_NONE;
}

/* Exceptions that push an error code (SDM 26.2.1.3: #DF, #TS, #NP, #SS, #GP,
 * #PF, #AC). */
static bool vmx_exc_has_error(unsigned vector)
{
    return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17;
}

/* SDM 26.2.1.3 "VM-Entry Control Fields". */
static vmx_check vmx_check_entry_controls(const vmx_vcpu *v)
{
    uint64_t cap;
    uint32_t entry = (uint32_t)VMCS(v, ENTRY_CONTROLS);
    vmx_capability_msr(VMX_MSR_TRUE_ENTRY_CTLS, &cap);
    if (!vmx_ctls_allowed(cap, entry))
        return VMX_CHECK_ENTRY_CTLS;

    uint32_t info = (uint32_t)VMCS(v, ENTRY_INTR_INFO);
    if (info & VMX_INTR_INFO_VALID) {
        unsigned type = (info >> 8) & 7, vector = info & 0xFF;
        /* Type 1 is reserved; type 7 (other event) exists with the monitor
         * trap flag and must have vector 0 (pending MTF VM exit). */
        if (type == 1)
            return VMX_CHECK_ENTRY_INTR_TYPE;
        if (type == VMX_INTR_TYPE_NMI && vector != 2)
            return VMX_CHECK_ENTRY_INTR_VECTOR;
        if (type == VMX_INTR_TYPE_OTHER && vector != 0)
            return VMX_CHECK_ENTRY_INTR_VECTOR;
        if (type == VMX_INTR_TYPE_HW_EXC && vector > 31)
            return VMX_CHECK_ENTRY_INTR_VECTOR;
        /* The deliver-error-code bit is 1 iff (unrestricted guest = 0 or
         * CR0.PE = 1 in the guest CR0 field), a hardware exception, and a
         * vector that delivers an error code. */
        bool pm = !(vmx_proc2(v) & VMX_PROC2_UNRESTRICTED) || (VMCS(v, GUEST_CR0) & CPU_CR0_PE);
        bool want_error = pm && type == VMX_INTR_TYPE_HW_EXC && vmx_exc_has_error(vector);
        if (((info & VMX_INTR_INFO_ERROR_VALID) != 0) != want_error)
            return VMX_CHECK_ENTRY_INTR_ERROR_VALID;
        if (info & 0x7FFFF000u)
            return VMX_CHECK_ENTRY_INTR_RESERVED;
        if ((info & VMX_INTR_INFO_ERROR_VALID) && (VMCS(v, ENTRY_EXCEPTION_ERROR) & 0xFFFF8000u))
            return VMX_CHECK_ENTRY_ERROR_CODE;
        if (type == VMX_INTR_TYPE_SOFT_INT || type == VMX_INTR_TYPE_PRIV_SOFT_EXC ||
            type == VMX_INTR_TYPE_SOFT_EXC) {
            uint64_t len = VMCS(v, ENTRY_INSN_LEN);
            if (len < 1 || len > 15)
                return VMX_CHECK_ENTRY_INSN_LEN;
        }
    }
    if (!vmx_msr_area_ok(VMCS(v, ENTRY_MSR_LOAD_COUNT), VMCS(v, ENTRY_MSR_LOAD_ADDR)))
        return VMX_CHECK_ENTRY_MSR_LOAD;
    if (entry & (VMX_ENTRY_SMM | VMX_ENTRY_DEACT_DUAL_MONITOR))
        return VMX_CHECK_ENTRY_SMM;
    return VMX_CHECK_NONE;
}

vmx_check vmx_check_controls(const vmx_vcpu *v)
{
    vmx_check r = vmx_check_exec_controls(v);
    if (r == VMX_CHECK_NONE)
        r = vmx_check_exit_controls(v);
    if (r == VMX_CHECK_NONE)
        r = vmx_check_entry_controls(v);
    return r;
}

static bool vmx_cr_fixed_ok(uint64_t val, uint32_t fixed0_msr, uint32_t fixed1_msr)
{
    uint64_t f0, f1;
    vmx_capability_msr(fixed0_msr, &f0);
    vmx_capability_msr(fixed1_msr, &f1);
    return (val & f0) == f0 && (val & ~f1) == 0;
}

/* IA32_EFER reserved bits: all but SCE (0), LME (8), LMA (10), NXE (11). */
#define VMX_EFER_RESERVED (~(uint64_t)(CPU_EFER_SCE | CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE))

/* SDM 26.2.2 "Checks on Host Control Registers and MSRs", 26.2.3 "Checks on
 * Host Segment and Descriptor-Table Registers", 26.2.4 "Checks Related to
 * Address-Space Size". The host is in IA-32e mode. */
vmx_check vmx_check_host_state(const vmx_vcpu *v)
{
    uint32_t exit = (uint32_t)VMCS(v, EXIT_CONTROLS);
    if (!vmx_cr_fixed_ok(VMCS(v, HOST_CR0), VMX_MSR_CR0_FIXED0, VMX_MSR_CR0_FIXED1))
        return VMX_CHECK_HOST_CR0;
    if (!vmx_cr_fixed_ok(VMCS(v, HOST_CR4), VMX_MSR_CR4_FIXED0, VMX_MSR_CR4_FIXED1))
        return VMX_CHECK_HOST_CR4;
    if (!vmx_phys_ok(VMCS(v, HOST_CR3)))
        return VMX_CHECK_HOST_CR3;
    if (!vmx_canonical(VMCS(v, HOST_SYSENTER_ESP)) || !vmx_canonical(VMCS(v, HOST_SYSENTER_EIP)))
        return VMX_CHECK_HOST_CANONICAL;
    if ((exit & VMX_EXIT_LOAD_PAT) && !vmx_pat_valid(VMCS(v, HOST_PAT)))
        return VMX_CHECK_HOST_PAT;
    if (exit & VMX_EXIT_LOAD_EFER) {
        uint64_t efer = VMCS(v, HOST_EFER);
        bool hasz = (exit & VMX_EXIT_HOST_ADDR_SPACE) != 0;
        if ((efer & VMX_EFER_RESERVED) || ((efer & CPU_EFER_LMA) != 0) != hasz ||
            ((efer & CPU_EFER_LME) != 0) != hasz)
            return VMX_CHECK_HOST_EFER;
    }
    static const uint32_t sels[] = {VMCS_HOST_ES_SEL, VMCS_HOST_CS_SEL, VMCS_HOST_SS_SEL,
                                    VMCS_HOST_DS_SEL, VMCS_HOST_FS_SEL, VMCS_HOST_GS_SEL,
                                    VMCS_HOST_TR_SEL};
    for (unsigned i = 0; i < sizeof sels / sizeof sels[0]; i++)
        if (vmx_vmcs_read_fast(&v->vmcs, sels[i]) & 7)
            return VMX_CHECK_HOST_SEL;
    if (VMCS(v, HOST_CS_SEL) == 0 || VMCS(v, HOST_TR_SEL) == 0)
        return VMX_CHECK_HOST_SEL;
    if (!vmx_canonical(VMCS(v, HOST_FS_BASE)) || !vmx_canonical(VMCS(v, HOST_GS_BASE)) ||
        !vmx_canonical(VMCS(v, HOST_GDTR_BASE)) || !vmx_canonical(VMCS(v, HOST_IDTR_BASE)) ||
        !vmx_canonical(VMCS(v, HOST_TR_BASE)))
        return VMX_CHECK_HOST_CANONICAL;
    /* 26.2.4: with the processor in IA-32e mode (outside it: see
     * vmx_entry_check_host_state), "host address-space size" must be 1,
     * CR4.PAE = 1 and RIP canonical. */
    if (!(exit & VMX_EXIT_HOST_ADDR_SPACE) || !(VMCS(v, HOST_CR4) & CPU_CR4_PAE))
        return VMX_CHECK_HOST_ADDR_SPACE;
    if (!vmx_canonical(VMCS(v, HOST_RIP)))
        return VMX_CHECK_HOST_RIP;
    return VMX_CHECK_NONE;
}

/* ---- guest state (SDM 26.3.1) ----------------------------------------- */

#define AR_TYPE(ar) ((ar) & 0xF)
#define AR_S(ar) (((ar) >> 4) & 1)
#define AR_DPL(ar) (((ar) >> 5) & 3)
#define AR_P(ar) (((ar) >> 7) & 1)
#define AR_L(ar) (((ar) >> 13) & 1)
#define AR_DB(ar) (((ar) >> 14) & 1)
#define AR_G(ar) (((ar) >> 15) & 1)
#define AR_UNUSABLE(ar) (((ar) >> 16) & 1)
#define AR_RESERVED 0xFFFE0F00u

/* Granularity against the limit (SDM 26.3.1.2): limit[11:0] != FFFH → G = 0;
 * limit[31:20] != 0 → G = 1. */
static bool vmx_limit_g_ok(uint32_t limit, uint32_t ar)
{
    if ((limit & 0xFFF) != 0xFFF && AR_G(ar))
        return false;
    if ((limit & 0xFFF00000u) && !AR_G(ar))
        return false;
    return true;
}

/* "Unrestricted guest" (secondary control 7) in effect: the guest may run
 * with paging off or in real mode (SDM 26.3.1.1, 26.3.1.2 relax their
 * checks for it). */
static bool vmx_unrestricted(const vmx_vcpu *v)
{
    return (vmx_proc2(v) & VMX_PROC2_UNRESTRICTED) != 0;
}

/* SDM 26.3.1.1 "Checks on Guest Control Registers, Debug Registers, and MSRs". */
static vmx_check vmx_check_guest_regs(const vmx_vcpu *v)
{
    uint32_t entry = (uint32_t)VMCS(v, ENTRY_CONTROLS);
    bool ia32e = (entry & VMX_ENTRY_IA32E) != 0;
    uint64_t cr0 = VMCS(v, GUEST_CR0), cr4 = VMCS(v, GUEST_CR4);
    /* 26.3.1.1: with unrestricted guest, PE and PG are not checked against
     * IA32_VMX_CR0_FIXED0 (PG = 1 still needs PE = 1). */
    uint64_t cr0_checked = vmx_unrestricted(v) ? cr0 | CPU_CR0_PE | CPU_CR0_PG : cr0;
    if (!vmx_cr_fixed_ok(cr0_checked, VMX_MSR_CR0_FIXED0, VMX_MSR_CR0_FIXED1))
        return VMX_CHECK_GUEST_CR0;
    if ((cr0 & CPU_CR0_PG) && !(cr0 & CPU_CR0_PE))
        return VMX_CHECK_GUEST_CR0;
    if (!vmx_cr_fixed_ok(cr4, VMX_MSR_CR4_FIXED0, VMX_MSR_CR4_FIXED1))
        return VMX_CHECK_GUEST_CR4;
    if (ia32e && (!(cr0 & CPU_CR0_PG) || !(cr4 & CPU_CR4_PAE)))
        return VMX_CHECK_GUEST_IA32E_PAE;
    if (!ia32e && (cr4 & CPU_CR4_PCIDE))
        return VMX_CHECK_GUEST_IA32E_PAE;
    if (!vmx_phys_ok(VMCS(v, GUEST_CR3)))
        return VMX_CHECK_GUEST_CR3;
    if (entry & VMX_ENTRY_LOAD_DEBUG) {
        if (VMCS(v, GUEST_DEBUGCTL) & ~0xFFC3ull) /* bits 5:2 and 63:16 reserved */
            return VMX_CHECK_GUEST_DEBUGCTL;
        if (VMCS(v, GUEST_DR7) >> 32)
            return VMX_CHECK_GUEST_DR7;
    }
    if (!vmx_canonical(VMCS(v, GUEST_SYSENTER_ESP)) || !vmx_canonical(VMCS(v, GUEST_SYSENTER_EIP)))
        return VMX_CHECK_GUEST_SYSENTER;
    if ((entry & VMX_ENTRY_LOAD_PAT) && !vmx_pat_valid(VMCS(v, GUEST_PAT)))
        return VMX_CHECK_GUEST_PAT;
    if (entry & VMX_ENTRY_LOAD_EFER) {
        uint64_t efer = VMCS(v, GUEST_EFER);
        if ((efer & VMX_EFER_RESERVED) || ((efer & CPU_EFER_LMA) != 0) != ia32e)
            return VMX_CHECK_GUEST_EFER;
        if ((cr0 & CPU_CR0_PG) && ((efer & CPU_EFER_LME) != 0) != ia32e)
            return VMX_CHECK_GUEST_EFER;
    }
    return VMX_CHECK_NONE;
}

/* SDM 26.3.1.2 "Checks on Guest Segment Registers" (protected mode, no
 * unrestricted guest) and 26.3.1.3 "Checks on Guest Descriptor-Table
 * Registers". */
static vmx_check vmx_check_guest_segments(const vmx_vcpu *v)
{
    bool ia32e = (VMCS(v, ENTRY_CONTROLS) & VMX_ENTRY_IA32E) != 0;
    bool ug = vmx_unrestricted(v);
    bool pe = (VMCS(v, GUEST_CR0) & CPU_CR0_PE) != 0;
    uint32_t cs_ar = (uint32_t)VMCS(v, GUEST_CS_AR), ss_ar = (uint32_t)VMCS(v, GUEST_SS_AR);
    uint32_t tr_ar = (uint32_t)VMCS(v, GUEST_TR_AR), ldtr_ar = (uint32_t)VMCS(v, GUEST_LDTR_AR);
    uint16_t cs_sel = (uint16_t)VMCS(v, GUEST_CS_SEL), ss_sel = (uint16_t)VMCS(v, GUEST_SS_SEL);

    /* Selectors. */
    if (VMCS(v, GUEST_TR_SEL) & 4)
        return VMX_CHECK_GUEST_SEL;
    if (!AR_UNUSABLE(ldtr_ar) && (VMCS(v, GUEST_LDTR_SEL) & 4))
        return VMX_CHECK_GUEST_SEL;
    if (!ug && (ss_sel & 3) != (cs_sel & 3))
        return VMX_CHECK_GUEST_SEL;

    /* Bases. */
    if (!vmx_canonical(VMCS(v, GUEST_TR_BASE)) || !vmx_canonical(VMCS(v, GUEST_FS_BASE)) ||
        !vmx_canonical(VMCS(v, GUEST_GS_BASE)))
        return VMX_CHECK_GUEST_SEG_BASE;
    if (!AR_UNUSABLE(ldtr_ar) && !vmx_canonical(VMCS(v, GUEST_LDTR_BASE)))
        return VMX_CHECK_GUEST_SEG_BASE;
    if (VMCS(v, GUEST_CS_BASE) >> 32)
        return VMX_CHECK_GUEST_SEG_BASE;
    static const uint32_t data_ar[] = {VMCS_GUEST_SS_AR, VMCS_GUEST_DS_AR, VMCS_GUEST_ES_AR,
                                       VMCS_GUEST_FS_AR, VMCS_GUEST_GS_AR};
    static const uint32_t data_base[] = {VMCS_GUEST_SS_BASE, VMCS_GUEST_DS_BASE,
                                         VMCS_GUEST_ES_BASE, 0, 0};
    static const uint32_t data_sel[] = {VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL, VMCS_GUEST_ES_SEL,
                                        VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL};
    static const uint32_t data_limit[] = {VMCS_GUEST_SS_LIMIT, VMCS_GUEST_DS_LIMIT,
                                          VMCS_GUEST_ES_LIMIT, VMCS_GUEST_FS_LIMIT,
                                          VMCS_GUEST_GS_LIMIT};
    for (unsigned i = 0; i < 3; i++) {
        uint32_t ar = (uint32_t)vmx_vmcs_read_fast(&v->vmcs, data_ar[i]);
        if (!AR_UNUSABLE(ar) && (vmx_vmcs_read_fast(&v->vmcs, data_base[i]) >> 32))
            return VMX_CHECK_GUEST_SEG_BASE;
    }

    /* CS access rights; with unrestricted guest type 3 (a real-mode CS
     * loaded as data) with DPL 0 too. */
    unsigned cst = AR_TYPE(cs_ar);
    bool cs_ok_type = cst == 9 || cst == 11 || cst == 13 || cst == 15 || (ug && cst == 3);
    if (AR_UNUSABLE(cs_ar) || !cs_ok_type || !AR_S(cs_ar) || !AR_P(cs_ar) ||
        (cs_ar & AR_RESERVED))
        return VMX_CHECK_GUEST_CS;
    if (cst == 3 && AR_DPL(cs_ar) != 0)
        return VMX_CHECK_GUEST_CS;
    if ((cst == 9 || cst == 11) && AR_DPL(cs_ar) != AR_DPL(ss_ar))
        return VMX_CHECK_GUEST_CS;
    if ((cst == 13 || cst == 15) && AR_DPL(cs_ar) > AR_DPL(ss_ar))
        return VMX_CHECK_GUEST_CS;
    if (ia32e && AR_L(cs_ar) && AR_DB(cs_ar))
        return VMX_CHECK_GUEST_CS;
    if (!vmx_limit_g_ok((uint32_t)VMCS(v, GUEST_CS_LIMIT), cs_ar))
        return VMX_CHECK_GUEST_CS;

    /* SS: type 3 or 7 when usable; DPL = RPL without unrestricted guest;
     * DPL 0 when CS is type 3 or CR0.PE = 0. */
    if (!AR_UNUSABLE(ss_ar) && AR_TYPE(ss_ar) != 3 && AR_TYPE(ss_ar) != 7)
        return VMX_CHECK_GUEST_SS;
    if (!ug && AR_DPL(ss_ar) != (ss_sel & 3u))
        return VMX_CHECK_GUEST_SS;
    if ((cst == 3 || !pe) && AR_DPL(ss_ar) != 0)
        return VMX_CHECK_GUEST_SS;

    /* Usable data segments (SS, DS, ES, FS, GS). */
    for (unsigned i = 0; i < 5; i++) {
        uint32_t ar = (uint32_t)vmx_vmcs_read_fast(&v->vmcs, data_ar[i]);
        if (AR_UNUSABLE(ar))
            continue;
        unsigned t = AR_TYPE(ar);
        unsigned rpl = (unsigned)vmx_vmcs_read_fast(&v->vmcs, data_sel[i]) & 3;
        if (!(t & 1) || ((t & 8) && !(t & 2)) || !AR_S(ar) || !AR_P(ar) || (ar & AR_RESERVED))
            return VMX_CHECK_GUEST_SEG_AR;
        if (!ug && i > 0 && t < 12 && AR_DPL(ar) < rpl)
            return VMX_CHECK_GUEST_SEG_AR;
        if (!vmx_limit_g_ok((uint32_t)vmx_vmcs_read_fast(&v->vmcs, data_limit[i]), ar))
            return VMX_CHECK_GUEST_SEG_AR;
    }

    /* TR: busy 64-bit TSS (11) in IA-32e mode (3 or 11 otherwise), S = 0,
     * P = 1, usable. */
    unsigned trt = AR_TYPE(tr_ar);
    if (AR_UNUSABLE(tr_ar) || AR_S(tr_ar) || !AR_P(tr_ar) || (tr_ar & AR_RESERVED) ||
        (ia32e ? trt != 11 : (trt != 3 && trt != 11)) ||
        !vmx_limit_g_ok((uint32_t)VMCS(v, GUEST_TR_LIMIT), tr_ar))
        return VMX_CHECK_GUEST_TR;

    /* LDTR when usable: type 2, S = 0, P = 1. */
    if (!AR_UNUSABLE(ldtr_ar) &&
        (AR_TYPE(ldtr_ar) != 2 || AR_S(ldtr_ar) || !AR_P(ldtr_ar) || (ldtr_ar & AR_RESERVED) ||
         !vmx_limit_g_ok((uint32_t)VMCS(v, GUEST_LDTR_LIMIT), ldtr_ar)))
        return VMX_CHECK_GUEST_LDTR;

    /* 26.3.1.3 GDTR / IDTR. */
    if (!vmx_canonical(VMCS(v, GUEST_GDTR_BASE)) || !vmx_canonical(VMCS(v, GUEST_IDTR_BASE)) ||
        (VMCS(v, GUEST_GDTR_LIMIT) >> 16) || (VMCS(v, GUEST_IDTR_LIMIT) >> 16))
        return VMX_CHECK_GUEST_DTR;
    return VMX_CHECK_NONE;
}

/* RFLAGS reserved bits 63:22, 15, 5, 3 must be 0 and bit 1 must be 1. */
#define VMX_RFLAGS_RESERVED (~0x3FFFFFull | (1ull << 15) | (1ull << 5) | (1ull << 3))

/* SDM 26.3.1.4 "Checks on Guest RIP and RFLAGS" and 26.3.1.5 "Checks on
 * Guest Non-Register State". */
static vmx_check vmx_check_guest_nonreg(const vmx_vcpu *v)
{
    bool ia32e = (VMCS(v, ENTRY_CONTROLS) & VMX_ENTRY_IA32E) != 0;
    uint32_t cs_ar = (uint32_t)VMCS(v, GUEST_CS_AR);
    uint64_t rip = VMCS(v, GUEST_RIP), rfl = VMCS(v, GUEST_RFLAGS);
    uint32_t info = (uint32_t)VMCS(v, ENTRY_INTR_INFO);
    bool inject = (info & VMX_INTR_INFO_VALID) != 0;
    unsigned itype = (info >> 8) & 7, ivec = info & 0xFF;

    if (!(ia32e && AR_L(cs_ar)) ? (rip >> 32) != 0 : !vmx_canonical(rip))
        return VMX_CHECK_GUEST_RIP;
    if ((rfl & VMX_RFLAGS_RESERVED) || !(rfl & CPU_FL_FIXED1))
        return VMX_CHECK_GUEST_RFLAGS;
    if (ia32e && (rfl & CPU_FL_VM))
        return VMX_CHECK_GUEST_RFLAGS;
    if (inject && itype == VMX_INTR_TYPE_EXT && !(rfl & CPU_FL_IF))
        return VMX_CHECK_GUEST_RFLAGS;

    uint32_t act = (uint32_t)VMCS(v, GUEST_ACTIVITY_STATE);
    uint32_t intr = (uint32_t)VMCS(v, GUEST_INTERRUPTIBILITY);
    /* Active, HLT and wait-for-SIPI are supported (IA32_VMX_MISC bits
     * 8:6); no event may be injected into the wait-for-SIPI state. */
    if (act > VMX_ACTIVITY_WAIT_SIPI || act == VMX_ACTIVITY_SHUTDOWN)
        return VMX_CHECK_GUEST_ACTIVITY;
    if (act == VMX_ACTIVITY_WAIT_SIPI && inject)
        return VMX_CHECK_GUEST_ACTIVITY;
    if (act == VMX_ACTIVITY_HLT && AR_DPL((uint32_t)VMCS(v, GUEST_SS_AR)) != 0)
        return VMX_CHECK_GUEST_ACTIVITY;
    if (act != VMX_ACTIVITY_ACTIVE && (intr & (VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS)))
        return VMX_CHECK_GUEST_ACTIVITY;
    if (inject && act == VMX_ACTIVITY_HLT &&
        !(itype == VMX_INTR_TYPE_EXT || itype == VMX_INTR_TYPE_NMI ||
          (itype == VMX_INTR_TYPE_HW_EXC && (ivec == 1 || ivec == 18)) ||
          (itype == VMX_INTR_TYPE_OTHER && ivec == 0)))
        return VMX_CHECK_GUEST_ACTIVITY;

    if (intr & 0xFFFFFFF0u)
        return VMX_CHECK_GUEST_INTERRUPTIBILITY;
    if ((intr & VMX_INTERRUPTIBILITY_STI) && (intr & VMX_INTERRUPTIBILITY_MOV_SS))
        return VMX_CHECK_GUEST_INTERRUPTIBILITY;
    if (!(rfl & CPU_FL_IF) && (intr & VMX_INTERRUPTIBILITY_STI))
        return VMX_CHECK_GUEST_INTERRUPTIBILITY;
    if (inject && itype == VMX_INTR_TYPE_EXT &&
        (intr & (VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS)))
        return VMX_CHECK_GUEST_INTERRUPTIBILITY;
    if (inject && itype == VMX_INTR_TYPE_NMI && (intr & VMX_INTERRUPTIBILITY_MOV_SS))
        return VMX_CHECK_GUEST_INTERRUPTIBILITY;
    if (intr & VMX_INTERRUPTIBILITY_SMI)
        return VMX_CHECK_GUEST_INTERRUPTIBILITY;
    if (inject && itype == VMX_INTR_TYPE_NMI && (VMCS(v, PIN_CONTROLS) & VMX_PIN_VIRTUAL_NMIS) &&
        (intr & VMX_INTERRUPTIBILITY_NMI))
        return VMX_CHECK_GUEST_INTERRUPTIBILITY;

    /* Pending debug exceptions (B3-B0 3:0, enabled breakpoint 12, BS 14):
     * bits 11:4, 13 and 63:15 reserved; BS must agree with TF when STI/MOV
     * SS blocking or HLT hold off the single-step trap. */
    uint64_t pdbg = VMCS(v, GUEST_PENDING_DBG);
    if (pdbg & ~0x500Full)
        return VMX_CHECK_GUEST_PENDING_DBG;
    if ((intr & (VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS)) || act == VMX_ACTIVITY_HLT) {
        bool tf = (rfl & CPU_FL_TF) != 0;
        bool btf = (VMCS(v, GUEST_DEBUGCTL) & 2) != 0;
        bool bs = (pdbg & (1ull << 14)) != 0;
        if (tf && !btf && !bs)
            return VMX_CHECK_GUEST_PENDING_DBG;
        if ((!tf || btf) && bs)
            return VMX_CHECK_GUEST_PENDING_DBG;
    }

    /* The VMCS link pointer (vmx_shadow.c): it reads memory, so it is
     * checked at every entry. */
    if (!vmx_link_pointer_ok(v))
        return VMX_CHECK_GUEST_LINK_PTR;
    /* The interpreter does not execute virtual-8086 mode. */
    if (rfl & CPU_FL_VM)
        return VMX_CHECK_GUEST_MODE;
    return VMX_CHECK_NONE;
}

/* SDM 26.3.1.6 "Checks on Guest Page-Directory-Pointer-Table Entries": a
 * guest that will use PAE paging (CR0.PG = 1 and CR4.PAE = 1 in the fields,
 * "IA-32e mode guest" = 0) needs every present PDPTE free of reserved bits
 * (2:1, 8:5, 63:MAXPHYADDR, SDM 4.4.1) — the guest PDPTE fields with
 * "enable EPT", else the 32-byte table at CR3[31:5] (a read of no memory
 * gives all ones: present, reserved bits set). */
static vmx_check vmx_check_guest_pdptes(const vmx_vcpu *v)
{
    if (!(VMCS(v, GUEST_CR0) & CPU_CR0_PG) || !(VMCS(v, GUEST_CR4) & CPU_CR4_PAE) ||
        (VMCS(v, ENTRY_CONTROLS) & VMX_ENTRY_IA32E))
        return VMX_CHECK_NONE;
    const uint64_t rsvd = 0x1E6ull | ~((1ull << CPU_MAXPHYADDR) - 1);
    bool ept = (vmx_proc2(v) & VMX_PROC2_EPT) != 0;
    for (unsigned k = 0; k < 4; k++) {
        uint64_t e;
        if (ept)
            e = vmx_vmcs_get(&v->vmcs, VMCS_GUEST_PDPTE0 + 2 * k);
        else if (!cpu_phys_read(v->phys, (VMCS(v, GUEST_CR3) & 0xFFFFFFE0ull) + 8 * k, &e, 8))
            e = ~0ull;
        if ((e & 1) && (e & rsvd))
            return VMX_CHECK_GUEST_PDPTE;
    }
    return VMX_CHECK_NONE;
}

vmx_check vmx_check_guest_state(const vmx_vcpu *v)
{
    vmx_check r = vmx_check_guest_regs(v);
    if (r == VMX_CHECK_NONE)
        r = vmx_check_guest_segments(v);
    if (r == VMX_CHECK_NONE)
        r = vmx_check_guest_nonreg(v);
    if (r == VMX_CHECK_NONE)
        r = vmx_check_guest_pdptes(v);
    return r;
}

/*
 * The checks of a VM entry (SDM 26.2, 26.3.1) with the groups of
 * vmx_vmcs.checked: a group that passed with the values its fields still
 * hold passes again, so only what reads memory or the fields checked at
 * every entry is looked at again. Same results, in the same order, as
 * vmx_check_controls, vmx_check_host_state and vmx_check_guest_state.
 */
vmx_check vmx_entry_check_controls(vmx_vcpu *v)
{
    if (v->vmcs.checked & VMX_CHECKED_CONTROLS)
        return vmx_tpr_threshold_above_vtpr(v) ? VMX_CHECK_TPR_THRESHOLD_VTPR : VMX_CHECK_NONE;
    vmx_check r = vmx_check_controls(v);
    if (r == VMX_CHECK_NONE)
        v->vmcs.checked |= VMX_CHECKED_CONTROLS;
    return r;
}

vmx_check vmx_entry_check_host_state(vmx_vcpu *v)
{
    if (!(v->vmcs.checked & VMX_CHECKED_HOST)) {
        vmx_check r = vmx_check_host_state(v);
        if (r != VMX_CHECK_NONE)
            return r;
        v->vmcs.checked |= VMX_CHECKED_HOST;
    }
    /* 26.2.4: a processor outside IA-32e mode at the entry (a guest
     * hypervisor in 32-bit protected mode; the built-in one's host is
     * always 64-bit) needs "host address-space size" and "IA-32e mode
     * guest" = 0; the first is must-be-1 here (IA32_VMX_EXIT_CTLS), so
     * such an entry always fails. Read from the CPU, so never remembered. */
    if (v->host_on_cpu && !(v->cpu->efer & CPU_EFER_LMA))
        return VMX_CHECK_HOST_ADDR_SPACE;
    return VMX_CHECK_NONE;
}

vmx_check vmx_entry_check_guest_state(vmx_vcpu *v)
{
    vmx_check r = VMX_CHECK_NONE;
    if (!(v->vmcs.checked & VMX_CHECKED_GUEST)) {
        r = vmx_check_guest_regs(v);
        if (r == VMX_CHECK_NONE)
            r = vmx_check_guest_segments(v);
        if (r != VMX_CHECK_NONE)
            return r;
        v->vmcs.checked |= VMX_CHECKED_GUEST;
    }
    r = vmx_check_guest_nonreg(v);
    if (r == VMX_CHECK_NONE)
        r = vmx_check_guest_pdptes(v);
    return r;
}
