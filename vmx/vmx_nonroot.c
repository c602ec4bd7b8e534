/*
 * vmx_nonroot.c — VMX non-root operation (SDM Vol. 3C chapter 25, 2016
 * numbering) through the cpu hooks: which instructions exit (25.1), how the
 * ones that do not exit behave (25.3), and the events at instruction
 * boundaries (25.2 "Other Causes of VM Exits", 25.5 features: interrupt- and
 * NMI-window exiting, the preemption timer; 6.9 priorities).
 *
 * The exit decisions are pure functions (vmx.h) so they can be tested
 * without running guest code.
 */
#include "vmx/vmx_internal.h"

#include <string.h>

#include "apic/apic.h"
#include "vmx/vmx_apicv.h"

/* ---- pure decision functions (SDM 25.1.3) -------------------------------- */

/* SDM 25.1.3 "I/O instructions": bitmap A covers ports 0000H-7FFFH, B
 * 8000H-FFFFH; an access that wraps past FFFFH exits. */
bool vmx_io_bitmap_exit(const uint8_t *bitmap_a, const uint8_t *bitmap_b, uint16_t port,
                        unsigned size)
{
    if ((unsigned)port + size - 1 > 0xFFFF)
        return true;
    for (unsigned p = port; p < (unsigned)port + size; p++) {
        const uint8_t *bm = p < 0x8000 ? bitmap_a : bitmap_b;
        unsigned bit = p & 0x7FFF;
        if (bm[bit >> 3] & (1u << (bit & 7)))
            return true;
    }
    return false;
}

bool vmx_io_exit(vmx_vcpu *v, uint16_t port, unsigned size)
{
    uint32_t proc = (uint32_t)VMCS(v, PROC_CONTROLS);
    if (!(proc & VMX_PROC_IO_BITMAPS))
        return (proc & VMX_PROC_UNCOND_IO) != 0;
    const uint8_t *a = cpu_phys_ptr(v->phys, VMCS(v, IO_BITMAP_A), 4096);
    const uint8_t *b = cpu_phys_ptr(v->phys, VMCS(v, IO_BITMAP_B), 4096);
    if (!a || !b)
        return true;
    return vmx_io_bitmap_exit(a, b, port, size);
}

/* SDM 24.6.9 "MSR-Bitmap Address" and 25.1.3 RDMSR/WRMSR. */
bool vmx_msr_bitmap_exit(const uint8_t *bitmap, uint32_t msr, bool write)
{
    unsigned base;
    if (msr <= 0x1FFF)
        base = 0;
    else if (msr >= 0xC0000000u && msr <= 0xC0001FFFu)
        base = 1024;
    else
        return true;
    if (write)
        base += 2048;
    unsigned bit = msr & 0x1FFF;
    return (bitmap[base + (bit >> 3)] >> (bit & 7)) & 1;
}

bool vmx_msr_exit(vmx_vcpu *v, uint32_t msr, bool write)
{
    if (!(VMCS(v, PROC_CONTROLS) & VMX_PROC_MSR_BITMAPS))
        return true;
    const uint8_t *bm = cpu_phys_ptr(v->phys, VMCS(v, MSR_BITMAP), 4096);
    if (!bm)
        return true;
    return vmx_msr_bitmap_exit(bm, msr, write);
}

/* SDM 27.2.1 table 27-3 "Exit Qualification for Control-Register Accesses". */
uint64_t vmx_cr_qualification(unsigned cr, unsigned access, unsigned gpr, bool lmsw_mem,
                              uint16_t lmsw_src)
{
    uint64_t q = (cr & 0xF) | ((uint64_t)(access & 3) << 4);
    if (access == VMX_CR_ACCESS_LMSW)
        q |= ((uint64_t)lmsw_mem << 6) | ((uint64_t)lmsw_src << 16);
    else if (access != VMX_CR_ACCESS_CLTS)
        q |= (uint64_t)(gpr & 0xF) << 8;
    return q;
}

bool vmx_cr_write_exits(uint64_t mask, uint64_t shadow, uint64_t val)
{
    return ((val ^ shadow) & mask) != 0;
}

uint64_t vmx_cr_write_value(uint64_t mask, uint64_t current, uint64_t val)
{
    return (val & ~mask) | (current & mask);
}

uint64_t vmx_cr_read_value(uint64_t mask, uint64_t shadow, uint64_t guest)
{
    return (guest & ~mask) | (shadow & mask);
}

bool vmx_clts_exits(uint64_t mask, uint64_t shadow)
{
    return (mask & CPU_CR0_TS) && (shadow & CPU_CR0_TS);
}

bool vmx_lmsw_exits(uint64_t mask, uint64_t shadow, uint16_t src)
{
    if ((mask & CPU_CR0_PE) && !(shadow & CPU_CR0_PE) && (src & CPU_CR0_PE))
        return true;
    return ((src ^ shadow) & mask & 0xE) != 0;
}

bool vmx_cr3_write_exits(const vmx_vmcs *vmcs, uint64_t val)
{
    if (!(vmx_vmcs_read_fast(vmcs, VMCS_PROC_CONTROLS) & VMX_PROC_CR3_LOAD))
        return false;
    uint64_t n = vmx_vmcs_read_fast(vmcs, VMCS_CR3_TARGET_COUNT);
    for (uint64_t i = 0; i < n && i < 4; i++)
        if (vmx_vmcs_read_fast(vmcs, VMCS_CR3_TARGET0 + 2 * (uint32_t)i) == val)
            return false;
    return true;
}

/* ---- helpers ---------------------------------------------------------------- */

/* Raises a fault in the guest from inside an intercept (the instruction is
 * abandoned; cpu_run delivers the exception through the guest IDT). */
static _Noreturn void vmx_raise_fault(cpu_t *c, unsigned vector, bool has_error, uint32_t error)
{
    c->pending_vector = (int)vector;
    c->pending_error = error;
    c->pending_has_error = has_error;
    cpu_abort_insn(c, CPU_STOP_NONE);
}

/* An instruction-caused exit: RIP stays at the instruction (fault-like). */
static void vmx_insn_exit(vmx_vcpu *v, uint32_t reason, const cpu_icpt *info, uint64_t qual)
{
    vmx_exit_info ei = {.qualification = qual, .insn_len = info->len};
    vmx_vmexit(v, reason, &ei);
}

/* After the apicv code ran inside an instruction: make the next boundary
 * look at its work (APIC-write emulation, trap-like exits). */
static void vmx_apicv_followup(vmx_vcpu *v)
{
    if (vmx_apicv_work_pending(v) || v->vintr_recognized)
        cpu_signal(v->cpu, CPU_EVT_HOOK);
}

/* ---- control-register accesses (SDM 25.1.3, 25.3) ------------------------ */

/* MOV CR8 with neither CR8 exiting nor TPR shadow reaches the processor's
 * own TPR (SDM 25.3 leaves it unchanged in non-root operation), which the
 * root hooks own when they intercept it: in native mode the local APIC's
 * TPR (SDM 10.8.6.1), for a guest hypervisor's guest. */
static cpu_hook_result vmx_cr8_passthrough(vmx_vcpu *v, cpu_t *c, cpu_icpt *info)
{
    if (v->root_hooks.intercept && (v->root_icpt_mask & (1u << info->kind)))
        return v->root_hooks.intercept(v->root_hooks.ctx, c, info);
    return CPU_HOOK_PASS;
}

static cpu_hook_result vmx_cr_read(vmx_vcpu *v, cpu_t *c, cpu_icpt *info)
{
    uint32_t proc = (uint32_t)VMCS(v, PROC_CONTROLS);
    switch (info->cr) {
    case 0:
        info->value = vmx_cr_read_value(VMCS(v, CR0_GUEST_HOST_MASK), VMCS(v, CR0_READ_SHADOW), c->cr0);
        return CPU_HOOK_DONE;
    case 4:
        info->value = vmx_cr_read_value(VMCS(v, CR4_GUEST_HOST_MASK), VMCS(v, CR4_READ_SHADOW), c->cr4);
        return CPU_HOOK_DONE;
    case 3:
        if (proc & VMX_PROC_CR3_STORE)
            vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info,
                          vmx_cr_qualification(3, VMX_CR_ACCESS_MOV_FROM, info->reg, false, 0));
        return CPU_HOOK_PASS;
    case 8:
        if (proc & VMX_PROC_CR8_STORE)
            vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info,
                          vmx_cr_qualification(8, VMX_CR_ACCESS_MOV_FROM, info->reg, false, 0));
        if (proc & VMX_PROC_TPR_SHADOW) {
            /* SDM 29.3: MOV from CR8 reads VTPR[7:4]. */
            info->value = vmx_apicv_cr8_read(v);
            return CPU_HOOK_DONE;
        }
        return vmx_cr8_passthrough(v, c, info);
    default:
        return CPU_HOOK_PASS;
    }
}

/* #GP(0) conditions of a MOV to CR0 / CR4 in VMX non-root operation: the
 * architectural ones (SDM Vol. 3A 2.5, Vol. 2 "MOV to/from Control
 * Registers") and the VMX fixed bits, which hold in VMX operation
 * (SDM 23.8 "Restrictions on VMX Operation": with "unrestricted guest" = 1
 * in non-root operation, CR0.PE and CR0.PG may be 0). */
static bool vmx_cr_value_faults(const vmx_vcpu *v, const cpu_t *c, unsigned cr, uint64_t val)
{
    uint64_t f0, f1;
    bool lma = (c->efer & CPU_EFER_LMA) != 0;
    if (cr == 0) {
        vmx_capability_msr(VMX_MSR_CR0_FIXED0, &f0);
        vmx_capability_msr(VMX_MSR_CR0_FIXED1, &f1);
        if (vmx_proc2(v) & VMX_PROC2_UNRESTRICTED)
            f0 &= ~(uint64_t)(CPU_CR0_PE | CPU_CR0_PG);
        if ((val & CPU_CR0_NW) && !(val & CPU_CR0_CD))
            return true;
        if (lma && !(val & CPU_CR0_PG))
            return true;
    } else {
        vmx_capability_msr(VMX_MSR_CR4_FIXED0, &f0);
        vmx_capability_msr(VMX_MSR_CR4_FIXED1, &f1);
        if (lma && !(val & CPU_CR4_PAE))
            return true;
    }
    return (val & f0) != f0 || (val & ~f1) != 0;
}

/* A non-exiting MOV to CR0/CR4 leaves host-owned bits unchanged (SDM 25.3):
 * the CPU performs the write itself with the merged value (info->value),
 * so that everything a CR0/CR4 load does happens — the paging-mode change,
 * EFER.LMA when PG turns on with LME (SDM 9.8.5), the PDPTE loads, the
 * TLB flush, the mode. The value must keep the VMX fixed bits. */
static cpu_hook_result vmx_cr_write_masked(const vmx_vcpu *v, cpu_t *c, cpu_icpt *info,
                                           uint64_t mask)
{
    uint64_t *reg = info->cr == 0 ? &c->cr0 : &c->cr4;
    uint64_t merged = vmx_cr_write_value(mask, *reg, info->value);
    if (vmx_cr_value_faults(v, c, info->cr, merged))
        vmx_raise_fault(c, CPU_EXC_GP, true, 0);
    info->value = merged;
    return CPU_HOOK_PASS;
}

static cpu_hook_result vmx_cr_write(vmx_vcpu *v, cpu_t *c, cpu_icpt *info)
{
    uint32_t proc = (uint32_t)VMCS(v, PROC_CONTROLS);
    uint64_t qual = vmx_cr_qualification(info->cr, VMX_CR_ACCESS_MOV_TO, info->reg, false, 0);
    switch (info->cr) {
    case 0: {
        uint64_t mask = VMCS(v, CR0_GUEST_HOST_MASK);
        if (vmx_cr_write_exits(mask, VMCS(v, CR0_READ_SHADOW), info->value))
            vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info, qual);
        return vmx_cr_write_masked(v, c, info, mask);
    }
    case 4: {
        uint64_t mask = VMCS(v, CR4_GUEST_HOST_MASK);
        if (vmx_cr_write_exits(mask, VMCS(v, CR4_READ_SHADOW), info->value))
            vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info, qual);
        return vmx_cr_write_masked(v, c, info, mask);
    }
    case 3:
        if (vmx_cr3_write_exits(&v->vmcs, info->value))
            vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info, qual);
        return CPU_HOOK_PASS;
    case 8:
        if (proc & VMX_PROC_CR8_LOAD)
            vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info, qual);
        if (proc & VMX_PROC_TPR_SHADOW) {
            /* SDM 29.3: MOV to CR8 with reserved bits set is #GP(0) as
             * usual; otherwise VTPR write and TPR virtualization. */
            if (info->value >> 4)
                vmx_raise_fault(c, CPU_EXC_GP, true, 0);
            vmx_apicv_cr8_write(v, info->value);
            vmx_apicv_followup(v);
            return CPU_HOOK_DONE;
        }
        return vmx_cr8_passthrough(v, c, info);
    default:
        return CPU_HOOK_PASS;
    }
}

static cpu_hook_result vmx_clts(vmx_vcpu *v, cpu_icpt *info)
{
    uint64_t mask = VMCS(v, CR0_GUEST_HOST_MASK);
    if (vmx_clts_exits(mask, VMCS(v, CR0_READ_SHADOW)))
        vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info,
                      vmx_cr_qualification(0, VMX_CR_ACCESS_CLTS, 0, false, 0));
    /* 25.3: with TS host-owned, a non-exiting CLTS does not modify CR0.TS. */
    return (mask & CPU_CR0_TS) ? CPU_HOOK_DONE : CPU_HOOK_PASS;
}

static cpu_hook_result vmx_lmsw(vmx_vcpu *v, cpu_t *c, cpu_icpt *info)
{
    uint64_t mask = VMCS(v, CR0_GUEST_HOST_MASK);
    uint16_t src = (uint16_t)info->value;
    if (vmx_lmsw_exits(mask, VMCS(v, CR0_READ_SHADOW), src))
        vmx_insn_exit(v, VMX_EXIT_CR_ACCESS, info,
                      vmx_cr_qualification(0, VMX_CR_ACCESS_LMSW, 0, info->addr != 0, src));
    if (!(mask & 0xF))
        return CPU_HOOK_PASS;
    /* 25.3: LMSW does not modify host-owned bits among CR0[3:0]; PE can be
     * set, never cleared. */
    uint64_t old = c->cr0;
    uint64_t v4 = (old & ~0xEull) | (src & 0xE) | (old & CPU_CR0_PE) | (src & CPU_CR0_PE);
    c->cr0 = (v4 & ~mask) | (old & mask);
    if ((old ^ c->cr0) & CPU_CR0_PE)
        cpu_tlb_flush(c);
    return CPU_HOOK_DONE;
}

/* ---- MSRs and I/O --------------------------------------------------------- */

static bool vmx_x2apic_msr(const vmx_vcpu *v, uint32_t msr)
{
    return msr >= 0x800 && msr <= 0x8FF && (vmx_proc2(v) & VMX_PROC2_VIRT_X2APIC);
}

static cpu_hook_result vmx_msr_access(vmx_vcpu *v, cpu_t *c, cpu_icpt *info, bool write)
{
    if (vmx_msr_exit(v, info->msr, write))
        vmx_insn_exit(v, write ? VMX_EXIT_WRMSR : VMX_EXIT_RDMSR, info, 0);
    if (!vmx_x2apic_msr(v, info->msr))
        return CPU_HOOK_PASS;
    /* SDM 29.5: x2APIC MSR virtualization (vmx_x2apic.c). */
    vmx_x2apic_result r = write ? vmx_apicv_wrmsr(v, info->msr, info->value)
                                : vmx_apicv_rdmsr(v, info->msr, &info->value);
    switch (r) {
    case VMX_X2APIC_PASS: return CPU_HOOK_PASS;
    case VMX_X2APIC_GP: vmx_raise_fault(c, CPU_EXC_GP, true, 0);
    case VMX_X2APIC_DONE:
    case VMX_X2APIC_DONE_EXIT:
    default:
        vmx_apicv_followup(v);
        return CPU_HOOK_DONE;
    }
}

/* SDM 27.2.1 table 27-5 "Exit Qualification for I/O Instructions": size - 1
 * (2:0), direction (3, 1 = IN), string (4), REP (5), operand encoding (6,
 * 0 = DX: the interpreter does not say which form, so 0 is reported), port
 * (31:16). */
static uint64_t vmx_io_qualification(const cpu_icpt *info)
{
    /* SDM Table 27-5: bit 6 is the operand encoding (1 = immediate). */
    return (uint64_t)(info->size - 1) | ((uint64_t)info->in << 3) | ((uint64_t)info->string << 4) |
           ((uint64_t)info->rep << 5) | ((uint64_t)info->imm_port << 6) |
           ((uint64_t)info->port << 16);
}

/* ---- exceptions (SDM 25.2 exception bitmap) -------------------------------- */

static cpu_hook_result vmx_exception(vmx_vcpu *v, cpu_t *c, cpu_icpt *info)
{
    uint32_t vector = info->vector;
    uint32_t bitmap = (uint32_t)VMCS(v, EXCEPTION_BITMAP);
    bool exits = (bitmap >> vector) & 1;
    if (vector == CPU_EXC_PF) {
        /* 25.2: #PF exits iff bit 14 equals "(error & mask) == match". */
        uint32_t err = (uint32_t)info->value;
        bool match = (err & (uint32_t)VMCS(v, PF_ERROR_MASK)) == (uint32_t)VMCS(v, PF_ERROR_MATCH);
        exits = exits == match;
    }
    if (!exits || vector > 31) {
        /* Monitor trap flag (25.5.2): the stepped instruction's exception
         * is delivered through the guest IDT, then the MTF exit comes,
         * before the handler's first instruction. */
        if (v->mtf_stepping) {
            v->mtf_delivered = true;
            cpu_request_stop(c, CPU_STOP_HOOK);
        }
        return CPU_HOOK_PASS;
    }
    vmx_exit_info ei = {0};
    /* INT3, INTO (software exception, 6) and INT1 (privileged software
     * exception, 5) report their type and length (27.2.2, 27.2.4). */
    uint32_t type = info->subop ? info->subop : VMX_INTR_TYPE_HW_EXC;
    ei.intr_info = VMX_INTR_INFO_VALID | (type << 8) | vector;
    if (info->subop)
        ei.insn_len = info->len;
    if (info->has_error) {
        ei.intr_info |= VMX_INTR_INFO_ERROR_VALID;
        ei.intr_error = (uint32_t)info->value;
    }
    /* 27.2.1: #PF qualification is the faulting linear address (CR2 as the
     * fault left it); #DB's is the DR6 bits it would have set (B3-B0, BD,
     * BS), DR6 itself is left alone (27.1). */
    if (vector == CPU_EXC_PF)
        ei.qualification = c->cr2;
    else if (vector == CPU_EXC_DB)
        ei.qualification = info->value;
    vmx_vmexit(v, VMX_EXIT_EXCEPTION_NMI, &ei);
    return CPU_HOOK_EXIT;
}

/* ---- the intercept hook ------------------------------------------------------ */

static cpu_hook_result vmx_hook_intercept(void *ctx, cpu_t *c, cpu_icpt *info)
{
    vmx_vcpu *v = ctx;
    uint32_t proc = (uint32_t)VMCS(v, PROC_CONTROLS);
    switch (info->kind) {
    /* 25.1.2 "Instructions That Cause VM Exits Unconditionally". */
    case CPU_ICPT_CPUID: vmx_insn_exit(v, VMX_EXIT_CPUID, info, 0); break;
    case CPU_ICPT_INVD: vmx_insn_exit(v, VMX_EXIT_INVD, info, 0); break;
    case CPU_ICPT_VMCALL: vmx_insn_exit(v, VMX_EXIT_VMCALL, info, 0); break;
    case CPU_ICPT_XSETBV: vmx_insn_exit(v, VMX_EXIT_XSETBV, info, 0); break;
    case CPU_ICPT_VMX_INSN:
        /* VMFUNC is #UD while "enable VM functions" is 0 (SDM 25.5.6 and
         * VMFUNC's "#UD"), and it is always 0 here (IA32_VMX_PROCBASED_CTLS2
         * bit 45): cpu/ raises the #UD, no exit 59. */
        if (info->subop == VMX_EXIT_VMFUNC)
            return CPU_HOOK_PASS;
        /* subop is the basic exit reason of the VMX instruction. With
         * "VMCS shadowing" a VMREAD/VMWRITE may reach the shadow VMCS
         * instead (SDM 25.1.3, vmx_shadow.c): the CPU then executes it
         * (info->value = 1, cpu_vmx_insn.c) and calls vmx_shadow_insn. */
        if ((info->subop == VMX_EXIT_VMREAD || info->subop == VMX_EXIT_VMWRITE) &&
            !vmx_shadow_exits(v, info->subop, c->gpr[info->reg])) {
            info->value = 1;
            return CPU_HOOK_PASS;
        }
        vmx_insn_exit(v, info->subop, info, 0);
        break;
    /* 25.1.3 "Instructions That Cause VM Exits Conditionally". */
    case CPU_ICPT_HLT:
        if (proc & VMX_PROC_HLT)
            vmx_insn_exit(v, VMX_EXIT_HLT, info, 0);
        return CPU_HOOK_PASS;
    case CPU_ICPT_INVLPG:
        if (proc & VMX_PROC_INVLPG)
            vmx_insn_exit(v, VMX_EXIT_INVLPG, info, info->addr);
        return CPU_HOOK_PASS;
    case CPU_ICPT_RDTSC:
        if (proc & VMX_PROC_RDTSC)
            vmx_insn_exit(v, VMX_EXIT_RDTSC, info, 0);
        return CPU_HOOK_PASS; /* TSC offsetting: cpu->tsc_offset, loaded at entry */
    case CPU_ICPT_RDTSCP:
        /* 25.3: with "enable RDTSCP" = 0 RDTSCP is #UD; else it exits like
         * RDTSC (reason 51) when "RDTSC exiting" = 1. */
        if (!(vmx_proc2(v) & VMX_PROC2_RDTSCP))
            vmx_raise_fault(c, CPU_EXC_UD, false, 0);
        if (proc & VMX_PROC_RDTSC)
            vmx_insn_exit(v, VMX_EXIT_RDTSCP, info, 0);
        return CPU_HOOK_PASS;
    case CPU_ICPT_RDPMC:
        if (proc & VMX_PROC_RDPMC)
            vmx_insn_exit(v, VMX_EXIT_RDPMC, info, 0);
        return CPU_HOOK_PASS;
    case CPU_ICPT_PAUSE:
        if (proc & VMX_PROC_PAUSE)
            vmx_insn_exit(v, VMX_EXIT_PAUSE, info, 0);
        return CPU_HOOK_PASS;
    case CPU_ICPT_MWAIT:
        if (proc & VMX_PROC_MWAIT)
            vmx_insn_exit(v, VMX_EXIT_MWAIT, info, 0);
        return CPU_HOOK_PASS;
    case CPU_ICPT_MONITOR:
        if (proc & VMX_PROC_MONITOR)
            vmx_insn_exit(v, VMX_EXIT_MONITOR, info, 0);
        return CPU_HOOK_PASS;
    case CPU_ICPT_DR:
        /* SDM 25.1.3 "MOV DR"; qualification 27.2.1 table "Exit
         * Qualification for MOV DR": the register 2:0, direction 4 (1 =
         * MOV from DR), the general-purpose register 11:8. */
        if (proc & VMX_PROC_MOV_DR)
            vmx_insn_exit(v, VMX_EXIT_DR_ACCESS, info,
                          (info->cr & 7u) | ((uint64_t)info->in << 4) |
                              ((uint64_t)(info->reg & 0xF) << 8));
        return CPU_HOOK_PASS;
    case CPU_ICPT_WBINVD:
        if (vmx_proc2(v) & VMX_PROC2_WBINVD)
            vmx_insn_exit(v, VMX_EXIT_WBINVD, info, 0);
        return CPU_HOOK_PASS;
    case CPU_ICPT_CR_READ: return vmx_cr_read(v, c, info);
    case CPU_ICPT_CR_WRITE: return vmx_cr_write(v, c, info);
    case CPU_ICPT_CLTS: return vmx_clts(v, info);
    case CPU_ICPT_LMSW: return vmx_lmsw(v, c, info);
    case CPU_ICPT_RDMSR: return vmx_msr_access(v, c, info, false);
    case CPU_ICPT_WRMSR: return vmx_msr_access(v, c, info, true);
    case CPU_ICPT_IO:
        if (vmx_io_exit(v, info->port, info->size)) {
            /* SDM 27.2.3: INS/OUTS also report the guest-linear address of
             * their memory operand. */
            vmx_exit_info ei = {.qualification = vmx_io_qualification(info), .insn_len = info->len,
                                .has_guest_linear = info->string, .guest_linear = info->addr};
            vmx_vmexit(v, VMX_EXIT_IO, &ei);
        }
        return CPU_HOOK_PASS;
    case CPU_ICPT_EXCEPTION: return vmx_exception(v, c, info);
    case CPU_ICPT_TRIPLE_FAULT: vmx_vmexit(v, VMX_EXIT_TRIPLE_FAULT, NULL); break;
    case CPU_ICPT_IRET:
        /* SDM 25.3: with virtual NMIs IRET removes virtual-NMI blocking;
         * without NMI exiting it unblocks NMIs as outside VMX. */
        if (VMCS(v, PIN_CONTROLS) & VMX_PIN_VIRTUAL_NMIS)
            v->vnmi_blocked = false;
        else if (!(VMCS(v, PIN_CONTROLS) & VMX_PIN_NMI_EXITING))
            v->nmi_blocked = false;
        return CPU_HOOK_PASS;
    default: return CPU_HOOK_PASS;
    }
    return CPU_HOOK_EXIT;
}

/* ---- events at instruction boundaries ---------------------------------- */

/* A physical NMI is waiting for this CPU (from emu/ or the local APIC). */
static bool vmx_nmi_waiting(const vmx_vcpu *v)
{
    return v->nmi_pending || (v->apic && v->apic->nmi_pending);
}

static void vmx_take_nmi(vmx_vcpu *v)
{
    if (v->nmi_pending)
        v->nmi_pending = false;
    else if (v->apic)
        apic_take_nmi(v->apic);
}

/* SDM 25.2 external interrupts with "external-interrupt exiting" = 1 (and
 * 29.6 posted-interrupt processing); returns true when the interrupt was
 * consumed by posting so the caller evaluates again. */
static bool vmx_external_interrupt_exit(vmx_vcpu *v)
{
    uint32_t pin = (uint32_t)VMCS(v, PIN_CONTROLS);
    bool ack = (VMCS(v, EXIT_CONTROLS) & VMX_EXIT_ACK_INTR) != 0;
    vmx_exit_info ei = {0};
    if (ack || (pin & VMX_PIN_POSTED_INTR)) {
        /* 27.2.2: with "acknowledge interrupt on exit" the processor
         * acknowledges the interrupt controller and stores the vector. */
        uint8_t vector = apic_acknowledge_or_spurious(v->apic);
        if (pin & VMX_PIN_POSTED_INTR) {
            if (vmx_apicv_posted_intr_process(v, vector) == VMX_PI_PROCESSED)
                return true;
        }
        ei.intr_info = VMX_INTR_INFO_VALID | ((uint32_t)VMX_INTR_TYPE_EXT << 8) | vector;
    }
    vmx_vmexit(v, VMX_EXIT_EXTERNAL_INTERRUPT, &ei);
    return false;
}

/*
 * INIT and SIPI in non-root operation (SDM 25.2 "Other Causes of VM
 * Exits"): an INIT signal always causes a VM exit (3; it ranks above the
 * preemption timer and NMIs, SDM 6.9 class 3); a SIPI causes one (4, the
 * vector in the exit qualification, SDM 27.2.1) only in the wait-for-SIPI
 * activity state, and is discarded otherwise. In that state nothing else
 * is taken (24.4.2; 25.5.1: not even the preemption timer). Returns true
 * when the CPU waits for SIPI.
 */
static bool vmx_mp_signals(vmx_vcpu *v)
{
    if (!v->apic)
        return v->wait_sipi;
    if (v->apic->init_pending && apic_take_init(v->apic))
        vmx_vmexit(v, VMX_EXIT_INIT, NULL);
    if (v->apic->sipi_pending) {
        int vector = apic_take_sipi(v->apic);
        if (vector >= 0 && v->wait_sipi) {
            vmx_exit_info ei = {.qualification = (uint64_t)vector};
            vmx_vmexit(v, VMX_EXIT_SIPI, &ei);
        }
    }
    return v->wait_sipi;
}

/*
 * The events hook: what the CPU takes at this boundary, in the priority of
 * SDM Vol. 3A 6.9 with the VMX additions (Vol. 3C 25.2, 25.5, 29.2.2):
 * APIC-write emulation and trap-like exits of the last instruction, the
 * preemption timer, NMI-window exiting, NMIs, interrupt-window exiting and
 * virtual-interrupt delivery, external interrupts.
 */
static void vmx_hook_events(void *ctx, cpu_t *c)
{
    vmx_vcpu *v = ctx;
    /* A boundary: any event delivery begun earlier is complete. */
    v->delivery_info = 0;
    if (vmx_apicv_work_pending(v))
        vmx_apicv_after_insn(v);
    c->events &= ~(uint32_t)(CPU_EVT_HOOK | CPU_EVT_INTR);

    uint32_t pin = (uint32_t)VMCS(v, PIN_CONTROLS);
    uint32_t proc = (uint32_t)VMCS(v, PROC_CONTROLS);

    if (vmx_mp_signals(v))
        return;

    if (v->preempt_armed && c->cycles >= v->preempt_deadline)
        vmx_vmexit(v, VMX_EXIT_PREEMPT_TIMER, NULL);

    /* 25.5.2 NMI-window exiting: no virtual-NMI blocking (STI/MOV-SS
     * blocking never reaches this hook). */
    if ((proc & VMX_PROC_NMI_WINDOW) && !v->vnmi_blocked)
        vmx_vmexit(v, VMX_EXIT_NMI_WINDOW, NULL);

    /* Blocking by NMI (virtual NMIs = 0) holds physical NMIs off, whether
     * they would exit or be delivered (SDM 24.4.2); with virtual NMIs = 1
     * the guest's blocking is virtual and physical NMIs always exit. */
    bool nmi_held = !(pin & VMX_PIN_VIRTUAL_NMIS) && v->nmi_blocked;
    if (vmx_nmi_waiting(v) && !nmi_held) {
        if (pin & VMX_PIN_NMI_EXITING) {
            /* 25.2: an NMI causes an exit (exception/NMI reason 0). */
            vmx_take_nmi(v);
            vmx_exit_info ei = {.intr_info = VMX_INTR_INFO_VALID |
                                             ((uint32_t)VMX_INTR_TYPE_NMI << 8) | CPU_EXC_NMI};
            vmx_vmexit(v, VMX_EXIT_EXCEPTION_NMI, &ei);
        } else {
            vmx_take_nmi(v);
            v->nmi_blocked = true;
            v->delivery_info = VMX_INTR_INFO_VALID | ((uint32_t)VMX_INTR_TYPE_NMI << 8) | CPU_EXC_NMI;
            cpu_deliver_event(c, CPU_EXC_NMI, VMX_INTR_TYPE_NMI, false, 0, 0);
            v->delivery_info = 0;
            return;
        }
    }

    for (int round = 0; round < 4; round++) {
        /* 25.5.1 interrupt-window exiting; 29.2.2 virtual-interrupt delivery
         * (same priority; interrupt-window exiting = 1 blocks delivery). */
        if ((proc & VMX_PROC_INTR_WINDOW) && cpu_interruptible(c))
            vmx_vmexit(v, VMX_EXIT_INTERRUPT_WINDOW, NULL);
        if (v->vintr_recognized && vmx_apicv_deliver_virtual_interrupt(v))
            return;

        if (!v->apic || apic_pending_vector(v->apic) < 0)
            return;
        if (pin & VMX_PIN_EXT_INTR_EXITING) {
            if (vmx_external_interrupt_exit(v))
                continue; /* posted: evaluate virtual interrupts again */
            return;
        }
        /* Without external-interrupt exiting the interrupt goes to the
         * guest through its IDT (SDM 25.3 "Treatment of external
         * interrupts" is the native behaviour). */
        if (cpu_interruptible(c)) {
            uint8_t vector = apic_acknowledge_or_spurious(v->apic);
            v->delivery_info = VMX_INTR_INFO_VALID | vector;
            cpu_deliver_interrupt(c, vector);
            v->delivery_info = 0;
        }
        return;
    }
}

/* ---- forwarding hooks --------------------------------------------------------- */

static cpu_page_kind vmx_hook_page_kind(void *ctx, cpu_t *c, uint64_t paddr)
{
    vmx_vcpu *v = ctx;
    if (v->ept_trap_armed) {
        /* The TLB fill right after an EPT translation with restricted
         * permissions: no fast path, so each access is translated (and
         * checked) again; the access itself then proceeds as RAM. */
        v->ept_trap_armed = false;
        if ((paddr & ~0xFFFull) == v->ept_trap_page)
            return CPU_PAGE_TRAP;
    }
    if (vmx_apicv_is_apic_access_page(v, paddr))
        return CPU_PAGE_TRAP;
    if (v->root_hooks.page_kind)
        return v->root_hooks.page_kind(v->root_hooks.ctx, c, paddr);
    return paddr < c->phys->ram_size ? CPU_PAGE_RAM : CPU_PAGE_TRAP;
}

static bool vmx_hook_mmio(void *ctx, cpu_t *c, uint64_t paddr, unsigned size, cpu_access acc,
                          uint64_t *val)
{
    vmx_vcpu *v = ctx;
    if (vmx_apicv_mmio(v, paddr, size, acc, val)) {
        vmx_apicv_followup(v);
        return true;
    }
    return v->root_hooks.mmio && v->root_hooks.mmio(v->root_hooks.ctx, c, paddr, size, acc, val);
}

static bool vmx_hook_io(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    vmx_vcpu *v = ctx;
    return v->root_hooks.io && v->root_hooks.io(v->root_hooks.ctx, c, port, size, in, val);
}

static bool vmx_hook_rdmsr(void *ctx, cpu_t *c, uint32_t msr, uint64_t *val)
{
    vmx_vcpu *v = ctx;
    return v->root_hooks.rdmsr && v->root_hooks.rdmsr(v->root_hooks.ctx, c, msr, val);
}

static bool vmx_hook_wrmsr(void *ctx, cpu_t *c, uint32_t msr, uint64_t val)
{
    vmx_vcpu *v = ctx;
    return v->root_hooks.wrmsr && v->root_hooks.wrmsr(v->root_hooks.ctx, c, msr, val);
}

static void vmx_hook_unimplemented(void *ctx, cpu_t *c, const uint8_t *bytes, unsigned len)
{
    vmx_vcpu *v = ctx;
    if (v->root_hooks.unimplemented)
        v->root_hooks.unimplemented(v->root_hooks.ctx, c, bytes, len);
}

void vmx_nonroot_update_icpt(vmx_vcpu *v)
{
    uint32_t proc = (uint32_t)VMCS(v, PROC_CONTROLS);
    uint32_t m = (1u << CPU_ICPT_CPUID) | (1u << CPU_ICPT_INVD) | (1u << CPU_ICPT_VMCALL) |
                 (1u << CPU_ICPT_VMX_INSN) | (1u << CPU_ICPT_XSETBV) | (1u << CPU_ICPT_TRIPLE_FAULT) |
                 (1u << CPU_ICPT_RDTSCP) | (1u << CPU_ICPT_CR_READ) | (1u << CPU_ICPT_CR_WRITE) |
                 (1u << CPU_ICPT_CLTS) | (1u << CPU_ICPT_LMSW) | (1u << CPU_ICPT_RDMSR) |
                 (1u << CPU_ICPT_WRMSR);
    if (proc & VMX_PROC_HLT)
        m |= 1u << CPU_ICPT_HLT;
    if (proc & VMX_PROC_INVLPG)
        m |= 1u << CPU_ICPT_INVLPG;
    if (proc & VMX_PROC_RDTSC)
        m |= 1u << CPU_ICPT_RDTSC;
    if (proc & VMX_PROC_RDPMC)
        m |= 1u << CPU_ICPT_RDPMC;
    if (proc & VMX_PROC_PAUSE)
        m |= 1u << CPU_ICPT_PAUSE;
    if (proc & VMX_PROC_MWAIT)
        m |= 1u << CPU_ICPT_MWAIT;
    if (proc & VMX_PROC_MONITOR)
        m |= 1u << CPU_ICPT_MONITOR;
    if (proc & VMX_PROC_MOV_DR)
        m |= 1u << CPU_ICPT_DR;
    if (proc & (VMX_PROC_UNCOND_IO | VMX_PROC_IO_BITMAPS))
        m |= 1u << CPU_ICPT_IO;
    if (vmx_proc2(v) & VMX_PROC2_WBINVD)
        m |= 1u << CPU_ICPT_WBINVD;
    /* #PF exits depend on bitmap bit 14 and on PFEC mask/match together
     * (a clear bit 14 with a mismatch exits), so exceptions are always
     * looked at; they are rare. */
    m |= 1u << CPU_ICPT_EXCEPTION;
    m |= 1u << CPU_ICPT_IRET;
    v->cpu->icpt_mask = m;
}

/* The label of the guest's translations (cpu_tlb_key): the paging state,
 * the VPID, and what the non-root hooks classify pages by: EPT (its
 * EPTP) and the APIC-access page. */
static cpu_tlb_key vmx_guest_tlb_key(const vmx_vcpu *v)
{
    uint32_t p2 = vmx_proc2(v);
    bool ept = (p2 & VMX_PROC2_EPT) != 0, vaa = (p2 & VMX_PROC2_VIRT_APIC_ACCESS) != 0;
    uint64_t w2 = VMCS(v, VPID) | (uint64_t)ept << 16 | (uint64_t)vaa << 17 |
                  (vaa ? (VMCS(v, APIC_ACCESS_ADDR) >> 12) << 18 : 0);
    return cpu_tlb_key_of(v->cpu, w2, ept ? VMCS(v, EPT_POINTER) : 0);
}

void vmx_nonroot_enter(vmx_vcpu *v)
{
    cpu_t *c = v->cpu;
    v->root_hooks = c->hooks;
    v->root_icpt_mask = c->icpt_mask;
    cpu_hooks h = {
        .page_kind = vmx_hook_page_kind,
        .mmio = vmx_hook_mmio,
        .io = vmx_hook_io,
        .rdmsr = vmx_hook_rdmsr,
        .wrmsr = vmx_hook_wrmsr,
        .intercept = vmx_hook_intercept,
        .events = vmx_hook_events,
        .translate = (vmx_proc2(v) & VMX_PROC2_EPT) ? vmx_ept_translate : NULL,
        .unimplemented = vmx_hook_unimplemented,
        .vmx = vmx_shadow_insn,
        .ctx = v,
    };
    if (v->tlb_vpid) {
        /* VPIDs: the root's translations go aside, the guest's come back
         * if they were made under the same VPID, paging state and
         * page-kind inputs (EPT, APIC-access page) (SDM 28.3.1). */
        cpu_tlb_key guest = vmx_guest_tlb_key(v);
        cpu_swap_hooks(c, &h);
        cpu_tlb_switch(c, &v->tlb_root_key, &guest);
        cpu_epoch_resume(c, &v->guest_mark);
    } else {
        /* cpu_set_hooks flushes the TLB: page kinds change (APIC-access
         * page, EPT), so no fast path of root operation survives. */
        cpu_set_hooks(c, &h);
    }
    vmx_nonroot_update_icpt(v);
}

void vmx_nonroot_leave(vmx_vcpu *v)
{
    cpu_t *c = v->cpu;
    if (v->tlb_vpid) {
        /* The guest's translations go aside under its VPID, the root's
         * come back (SDM 28.3.1: VM exits do not invalidate mappings of
         * VPIDs other than 0000H, nor VPID 0000H's when VPIDs are on). */
        cpu_tlb_key guest = vmx_guest_tlb_key(v);
        v->guest_mark = cpu_epoch_mark_now(c); /* the guest's state is still in the CPU */
        cpu_swap_hooks(c, &v->root_hooks);
        cpu_tlb_switch(c, &guest, &v->tlb_root_key);
        /* A host that is C code loads nothing into the CPU: the root's
         * translations fit only if its paging state is the one they were
         * made under (vmx_root checks after loading the host state). */
        cpu_tlb_key now = cpu_tlb_key_of(c, 0, 0);
        if (!v->host_on_cpu && memcmp(&now, &v->tlb_root_key, sizeof(now)) != 0)
            cpu_tlb_flush(c);
    } else {
        cpu_set_hooks(c, &v->root_hooks); /* flushes the TLB */
    }
    c->icpt_mask = v->root_icpt_mask;
    c->tsc_offset = v->root_tsc_offset;
}
