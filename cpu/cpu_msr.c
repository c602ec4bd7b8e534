/*
 * cpu_msr.c — the model-specific registers the CPU owns, and the
 * instructions that reach them: RDMSR, WRMSR, RDTSC, RDTSCP, SWAPGS.
 *
 * SDM Vol. 4 chapter 2 (architectural MSRs), Vol. 3A 2.2.1 (IA32_EFER),
 * 5.8.8 (SYSCALL MSRs), 11.11/11.12 (MTRRs, PAT), 17.17 (time-stamp
 * counter), 23.7 (IA32_FEATURE_CONTROL). MSRs this file does not own (the
 * local APIC's, VMX capability MSRs) go to hooks.rdmsr/wrmsr; an MSR that
 * nobody owns is #GP(0), as on hardware. docs/cpu-model.md lists them.
 */
#include "cpu/cpu_internal.h"

void cpu_register_msr(cpu_opmap *m);
void cpu_exec_swapgs(cpu_t *c, const cpu_insn *i);
void cpu_exec_rdtscp(cpu_t *c, const cpu_insn *i);

enum {
    MSR_PLATFORM_ID = 0x17,
    MSR_BIOS_SIGN_ID = 0x8B,
    MSR_MTRRCAP = 0xFE,
    MSR_MISC_ENABLE = 0x1A0,
    MSR_MTRR_DEF_TYPE = 0x2FF,
};

/* IA32_FEATURE_CONTROL bits that exist (SDM Vol. 4 table 2-2): lock (0),
 * VMXON inside SMX (1), VMXON outside SMX (2), SENTER enables 14:8, SENTER
 * global enable (15); the rest is reserved. */
#define FEATURE_CONTROL_WRITABLE 0xFF07ull
/* IA32_MISC_ENABLE: fast strings (0), BTS unavailable (11), PEBS unavailable
 * (12). MONITOR FSM (18) is clear: CPUID reports no MONITOR/MWAIT. */
#define MISC_ENABLE_VALUE ((1ull << 0) | (1ull << 11) | (1ull << 12))
/* IA32_MTRR_DEF_TYPE: MTRRs enabled (11), default type write-back (6); the
 * interpreter has no memory types, so this is what software reads. */
#define MTRR_DEF_TYPE_VALUE 0x806ull
/* Microcode revision in IA32_BIOS_SIGN_ID[63:32]: that of a Cascade Lake
 * stepping 7 part, matching the CPUID signature (docs/cpu-model.md). */
#define UCODE_REVISION 0x5003604ull
/* IA32_DEBUGCTL bits a WRMSR may set: LBR (0), BTF (1). */
#define DEBUGCTL_WRITABLE 0x3ull

static inline uint64_t tsc_now(const cpu_t *c)
{
    return c->cycles + c->tsc_offset;
}

/* A memory type encoding the PAT accepts (SDM 11.12.2): 0, 1, 4, 5, 6, 7. */
static bool pat_valid(uint64_t v)
{
    for (unsigned k = 0; k < 8; k++) {
        unsigned t = (v >> (8 * k)) & 0xFF;
        if (t == 2 || t == 3 || t > 7)
            return false;
    }
    return true;
}

/* Reads an MSR this CPU owns; false when it does not own it. */
static bool msr_read(cpu_t *c, uint32_t msr, uint64_t *v)
{
    switch (msr) {
    case CPU_MSR_TSC: *v = tsc_now(c); return true;
    case MSR_PLATFORM_ID: *v = 0; return true;
    case MSR_BIOS_SIGN_ID: *v = UCODE_REVISION << 32; return true;
    case CPU_MSR_FEATURE_CONTROL: *v = c->feature_control; return true;
    case MSR_MTRRCAP: *v = 0; return true; /* no variable, fixed or WC ranges */
    case CPU_MSR_SYSENTER_CS: *v = c->sysenter_cs; return true;
    case CPU_MSR_SYSENTER_ESP: *v = c->sysenter_esp; return true;
    case CPU_MSR_SYSENTER_EIP: *v = c->sysenter_eip; return true;
    case MSR_MISC_ENABLE: *v = MISC_ENABLE_VALUE; return true;
    case CPU_MSR_PAT: *v = c->pat; return true;
    case CPU_MSR_DEBUGCTL: *v = c->debugctl; return true;
    case MSR_MTRR_DEF_TYPE: *v = MTRR_DEF_TYPE_VALUE; return true;
    case CPU_MSR_EFER: *v = c->efer; return true;
    case CPU_MSR_STAR: *v = c->star; return true;
    case CPU_MSR_LSTAR: *v = c->lstar; return true;
    case CPU_MSR_CSTAR: *v = c->cstar; return true;
    case CPU_MSR_SFMASK: *v = c->sfmask; return true;
    case CPU_MSR_FS_BASE: *v = c->seg[CPU_FS].base; return true;
    case CPU_MSR_GS_BASE: *v = c->seg[CPU_GS].base; return true;
    case CPU_MSR_KERNEL_GS_BASE: *v = c->kernel_gs_base; return true;
    case CPU_MSR_TSC_AUX: *v = c->tsc_aux; return true;
    default: return false;
    }
}

/* Canonical 48-bit address (SDM Vol. 1 3.3.7.1), without the signed
 * left shift of cpu_canonical, which UBSan reports for upper-half values. */
static inline bool is_canonical(uint64_t va)
{
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1FFFF;
}

/* IA32_EFER (SDM Vol. 3A 2.2.1, 9.8.5): SCE, LME, NXE are writable; LMA is
 * read-only (the written value is ignored); LME cannot change while
 * paging is on. A change of NXE changes what the TLB cached. False where
 * WRMSR raises #GP(0). */
static bool efer_write(cpu_t *c, uint64_t v)
{
    const uint64_t writable = CPU_EFER_SCE | CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE;
    if (v & ~writable)
        return false;
    if (((v ^ c->efer) & CPU_EFER_LME) && (c->cr0 & CPU_CR0_PG))
        return false;
    uint64_t nv = (v & ~(uint64_t)CPU_EFER_LMA) | (c->efer & CPU_EFER_LMA);
    if ((nv ^ c->efer) & CPU_EFER_NXE)
        cpu_tlb_flush(c);
    c->efer = nv;
    cpu_update_mode(c);
    return true;
}

/* What a write to an MSR comes to: not this CPU's, done, or #GP(0). */
typedef enum { MSR_NOT_OWNED, MSR_DONE, MSR_GP } msr_wr;

/* Stores v in *reg when it is canonical (the MSRs that hold linear
 * addresses), else #GP(0). */
static msr_wr set_canonical(uint64_t *reg, uint64_t v)
{
    if (!is_canonical(v))
        return MSR_GP;
    *reg = v;
    return MSR_DONE;
}

/* Writes an MSR this CPU owns. It raises nothing itself: its callers
 * (WRMSR, the VMX MSR-load lists of SDM 26.4 and 27.6) decide what a
 * #GP(0) becomes. */
static msr_wr msr_write(cpu_t *c, uint32_t msr, uint64_t v)
{
    switch (msr) {
    case CPU_MSR_TSC:
        /* Writing the TSC sets the offset so RDTSC continues from v (SDM 17.17). */
        c->tsc_offset = v - c->cycles;
        return MSR_DONE;
    case MSR_BIOS_SIGN_ID:
        return MSR_DONE; /* software writes 0 before CPUID to latch the revision */
    case CPU_MSR_FEATURE_CONTROL:
        /* SDM 23.7: once the lock bit is set, a write is #GP(0) until
         * reset; reserved bits are #GP(0) too. */
        if ((c->feature_control & 1) || (v & ~FEATURE_CONTROL_WRITABLE))
            return MSR_GP;
        c->feature_control = v;
        return MSR_DONE;
    case MSR_PLATFORM_ID:
    case MSR_MTRRCAP:
        return MSR_GP;
    case CPU_MSR_SYSENTER_CS:
        c->sysenter_cs = v & 0xFFFFFFFFull;
        return MSR_DONE;
    case CPU_MSR_SYSENTER_ESP: return set_canonical(&c->sysenter_esp, v);
    case CPU_MSR_SYSENTER_EIP: return set_canonical(&c->sysenter_eip, v);
    case MSR_MISC_ENABLE:
        return MSR_DONE; /* accepted and ignored: no bit changes the interpreter */
    case CPU_MSR_DEBUGCTL:
        /* SDM 17.4.1: LBR (0) and BTF (1) are kept (neither has an effect:
         * no last-branch records, no single-step on branches,
         * docs/cpu-model.md); the other bits are features CPUID does not
         * report (BTS, PMU freezes, RTM debug) and #GP(0) like reserved ones. */
        if (v & ~DEBUGCTL_WRITABLE)
            return MSR_GP;
        c->debugctl = v;
        return MSR_DONE;
    case CPU_MSR_PAT:
        if (!pat_valid(v))
            return MSR_GP;
        c->pat = v;
        return MSR_DONE;
    case MSR_MTRR_DEF_TYPE: {
        unsigned type = v & 0xFF;
        if ((v & ~0xCFFull) || (type != 0 && type != 1 && type != 4 && type != 5 && type != 6))
            return MSR_GP;
        return MSR_DONE; /* checked, then ignored: no memory types here */
    }
    case CPU_MSR_EFER:
        return efer_write(c, v) ? MSR_DONE : MSR_GP;
    case CPU_MSR_STAR:
        c->star = v;
        return MSR_DONE;
    case CPU_MSR_LSTAR: return set_canonical(&c->lstar, v);
    case CPU_MSR_CSTAR: return set_canonical(&c->cstar, v);
    case CPU_MSR_SFMASK:
        if (v >> 32)
            return MSR_GP;
        c->sfmask = v;
        return MSR_DONE;
    case CPU_MSR_FS_BASE: return set_canonical(&c->seg[CPU_FS].base, v);
    case CPU_MSR_GS_BASE: return set_canonical(&c->seg[CPU_GS].base, v);
    case CPU_MSR_KERNEL_GS_BASE: return set_canonical(&c->kernel_gs_base, v);
    case CPU_MSR_TSC_AUX:
        if (v >> 32)
            return MSR_GP;
        c->tsc_aux = v;
        return MSR_DONE;
    default:
        return MSR_NOT_OWNED;
    }
}

bool cpu_msr_get(cpu_t *c, uint32_t msr, uint64_t *val)
{
    return msr_read(c, msr, val) || (c->hooks.rdmsr && c->hooks.rdmsr(c->hooks.ctx, c, msr, val));
}

/* WRMSR's write, after its CPL check and intercept. Emits CPU_EV_MSR_WRITE
 * with the value before and after; for an MSR owned above cpu/ "before" is
 * what its rdmsr hook reads (0 when it cannot be read). A write above cpu/
 * may change interrupt state (APIC TPR, EOI), so the run loop looks. False
 * where WRMSR raises #GP(0). */
bool cpu_msr_set(cpu_t *c, uint32_t msr, uint64_t v)
{
    uint64_t before = 0, after = v;
    if (msr_read(c, msr, &before)) {
        if (msr_write(c, msr, v) != MSR_DONE)
            return false;
        msr_read(c, msr, &after);
    } else {
        if (c->hooks.rdmsr && !c->hooks.rdmsr(c->hooks.ctx, c, msr, &before))
            before = 0;
        if (!c->hooks.wrmsr || !c->hooks.wrmsr(c->hooks.ctx, c, msr, v))
            return false;
        c->events |= CPU_EVT_INTR;
    }
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_MSR_WRITE, msr, before, c->rip, after);
    return true;
}

/* RDMSR (SDM Vol. 2 "RDMSR"): CPL 0, then the intercept (VMX MSR bitmaps),
 * then the CPU's own MSRs, then the machine's. */
static void exec_rdmsr(cpu_t *c, const cpu_insn *i)
{
    if (c->cpl != 0)
        cpu_gp0(c);
    uint32_t msr = (uint32_t)c->gpr[CPU_RCX];
    cpu_icpt info = {.kind = CPU_ICPT_RDMSR, .len = i->len, .msr = msr};
    uint64_t v = 0;
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        v = info.value;
    else if (!msr_read(c, msr, &v) &&
             !(c->hooks.rdmsr && c->hooks.rdmsr(c->hooks.ctx, c, msr, &v)))
        cpu_gp0(c);
    c->gpr[CPU_RAX] = (uint32_t)v;
    c->gpr[CPU_RDX] = (uint32_t)(v >> 32);
}

/* WRMSR (SDM Vol. 2 "WRMSR"): CPL 0, then the intercept (VMX MSR
 * bitmaps), then the write (cpu_msr_set). */
static void exec_wrmsr(cpu_t *c, const cpu_insn *i)
{
    if (c->cpl != 0)
        cpu_gp0(c);
    uint32_t msr = (uint32_t)c->gpr[CPU_RCX];
    uint64_t v = (uint32_t)c->gpr[CPU_RAX] | ((uint64_t)(uint32_t)c->gpr[CPU_RDX] << 32);
    cpu_icpt info = {.kind = CPU_ICPT_WRMSR, .len = i->len, .msr = msr, .value = v};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    if (!cpu_msr_set(c, msr, v))
        cpu_gp0(c);
}

/* RDTSC (SDM Vol. 2 "RDTSC"): CR4.TSD restricts it to CPL 0; the counter is
 * this CPU's cycle count plus the offset a TSC write set. */
static void exec_rdtsc(cpu_t *c, const cpu_insn *i)
{
    if ((c->cr4 & CPU_CR4_TSD) && c->cpl != 0)
        cpu_gp0(c);
    cpu_icpt info = {.kind = CPU_ICPT_RDTSC, .len = i->len};
    uint64_t v = cpu_intercept(c, &info) == CPU_HOOK_DONE ? info.value : tsc_now(c);
    c->gpr[CPU_RAX] = (uint32_t)v;
    c->gpr[CPU_RDX] = (uint32_t)(v >> 32);
}

/* RDTSCP (SDM Vol. 2 "RDTSCP"): RDTSC plus ECX = IA32_TSC_AUX. */
void cpu_exec_rdtscp(cpu_t *c, const cpu_insn *i)
{
    if ((c->cr4 & CPU_CR4_TSD) && c->cpl != 0)
        cpu_gp0(c);
    cpu_icpt info = {.kind = CPU_ICPT_RDTSCP, .len = i->len};
    uint64_t v = cpu_intercept(c, &info) == CPU_HOOK_DONE ? info.value : tsc_now(c);
    c->gpr[CPU_RAX] = (uint32_t)v;
    c->gpr[CPU_RDX] = (uint32_t)(v >> 32);
    c->gpr[CPU_RCX] = (uint32_t)c->tsc_aux;
}

/* SWAPGS (SDM Vol. 2 "SWAPGS"): exchanges GS.base and IA32_KERNEL_GS_BASE;
 * CPL 0 only. */
void cpu_exec_swapgs(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    if (c->cpl != 0)
        cpu_gp0(c);
    uint64_t t = c->seg[CPU_GS].base;
    c->seg[CPU_GS].base = c->kernel_gs_base;
    c->kernel_gs_base = t;
}

static bool decode_msr(cpu_insn *i)
{
    i->exec = i->op == 0x30 ? exec_wrmsr : i->op == 0x31 ? exec_rdtsc : exec_rdmsr;
    return true;
}

void cpu_register_msr(cpu_opmap *m)
{
    cpu_op(m, 1, 0x30, decode_msr, CPU_OPF_ENDS, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x31, decode_msr, 0, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x32, decode_msr, 0, CPU_IMM_NONE, CPU_COST_SYSTEM);
}
