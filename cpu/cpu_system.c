/*
 * cpu_system.c — the system instructions of the interpreter (SDM Vol. 2,
 * each instruction's page; SDM Vol. 3A chapters 2-3 for control registers,
 * descriptor tables and segments, chapter 6 for interrupts, chapter 25 for
 * which of them VMX non-root operation intercepts).
 *
 * Order of checks in every handler, as in SDM Vol. 3A 26.1.1 "Relative
 * Priority of Faults and VM Exits": #UD and CPL-based #GP first, then the
 * intercept hook (a VM exit in non-root operation), then the checks on the
 * operands, then the architectural effect. A handler changes nothing before
 * its last fault can be raised (cpu_internal.h contract).
 *
 * This file: control registers, CLTS/SMSW/LMSW, INVLPG, INVD/WBINVD,
 * PAUSE, RDPMC and the 0F 01 group that mixes them with others. Segments
 * and descriptor tables live in cpu_segment.c, port I/O, HLT, INT and IRET
 * in cpu_interrupt.c, the VMX instructions in cpu_vmx_insn.c, MSR
 * instructions in cpu_msr.c, CPUID in cpu_cpuid.c; cpu_register_system
 * registers them all.
 */
#include "cpu/cpu_internal.h"

/* CR0 bits a MOV may set (SDM Vol. 3A 2.5); the other low bits are
 * reserved and ignored, ET is hardwired to 1. */
#define CR0_WRITABLE                                                                      \
    ((uint64_t)(CPU_CR0_PE | CPU_CR0_MP | CPU_CR0_EM | CPU_CR0_TS | CPU_CR0_ET |           \
                CPU_CR0_NE | CPU_CR0_WP | CPU_CR0_AM | CPU_CR0_NW | CPU_CR0_CD | CPU_CR0_PG))
/* CR4 bits of features CPUID reports (docs/cpu-model.md); every other bit is
 * reserved for this CPU and setting it is #GP(0). */
#define CR4_SUPPORTED                                                                     \
    ((uint64_t)(CPU_CR4_TSD | CPU_CR4_DE | CPU_CR4_PSE | CPU_CR4_PAE | CPU_CR4_PGE |      \
                CPU_CR4_PCE | CPU_CR4_VMXE))

/* ---- control registers (SDM Vol. 3A 2.5, Vol. 2 "MOV—Move to/from Control Registers") ---- */

static void emit_cr(cpu_t *c, unsigned cr, uint64_t before, uint64_t after)
{
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_CR_WRITE, cr, before, c->rip, after);
}

/* Whether PAE paging (SDM 4.1.1 Table 4-1: CR0.PG = 1, CR4.PAE = 1,
 * IA32_EFER.LME = 0) is in use with these register values. */
static bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    return (cr0 & CPU_CR0_PG) && (cr4 & CPU_CR4_PAE) && !(efer & CPU_EFER_LME);
}

/* SDM 4.4.1: a MOV to CR0/CR3/CR4 after which PAE paging is in use loads
 * the PDPTE registers from the new CR3 first; a present PDPTE with a
 * reserved bit makes the MOV #GP(0), leaving every register as it was. */
static void load_pdptes_or_gp(cpu_t *c, uint64_t cr3)
{
    uint64_t p[4];
    if (!cpu_pdptes_read(c, cr3, p))
        cpu_gp0(c);
    memcpy(c->pdpte, p, sizeof p);
}

/* CR0 load checks (SDM Vol. 2 MOV CR exceptions; Vol. 3A 9.8.5): bits 63:32
 * are reserved; NW without CD and PG without PE are invalid; paging cannot
 * be turned off from 64-bit mode. Paging-mode changes flush the TLB
 * (SDM 4.10.4.1); one that leaves PAE paging in use (PG set, or CD/NW
 * changed under it) loads the PDPTEs (SDM 4.4.1). */
static void cr0_write(cpu_t *c, uint64_t v)
{
    if (v >> 32)
        cpu_gp0(c);
    v = (v & CR0_WRITABLE) | CPU_CR0_ET;
    if ((v & CPU_CR0_NW) && !(v & CPU_CR0_CD))
        cpu_gp0(c);
    if ((v & CPU_CR0_PG) && !(v & CPU_CR0_PE))
        cpu_gp0(c);
    if (c->mode == CPU_MODE_LONG64 && !(v & CPU_CR0_PG))
        cpu_gp0(c);
    if (!cpu_vmx_cr_ok(v, c->vmx_cr0_fixed0, c->vmx_cr0_fixed1, c->vmx_operation))
        cpu_gp0(c);
    uint64_t old = c->cr0;
    bool pg_on = (v & CPU_CR0_PG) && !(old & CPU_CR0_PG);
    bool pg_off = !(v & CPU_CR0_PG) && (old & CPU_CR0_PG);
    /* SDM 9.8.5: setting PG with EFER.LME = 1 activates IA-32e mode
     * (LMA = 1), which needs CR4.PAE = 1 and a CS without L; clearing PG
     * (from compatibility mode) deactivates it (SDM 9.8.5.4). */
    if (pg_on && (c->efer & CPU_EFER_LME) &&
        (!(c->cr4 & CPU_CR4_PAE) || (c->seg[CPU_CS].attr & CPU_SEG_L)))
        cpu_gp0(c);
    if (pae_paging(v, c->cr4, c->efer) &&
        (pg_on || ((old ^ v) & (CPU_CR0_CD | CPU_CR0_NW))))
        load_pdptes_or_gp(c, c->cr3);
    c->cr0 = v;
    if (pg_on && (c->efer & CPU_EFER_LME))
        c->efer |= CPU_EFER_LMA;
    else if (pg_off)
        c->efer &= ~(uint64_t)CPU_EFER_LMA;
    /* SDM 4.10.4.1: only clearing PG must invalidate; PE and PG changes
     * flush here (the fast paths were made for the old paging mode), AM
     * too (alignment checking, cpu_ac_on, is decided on the slow path). A
     * WP change invalidates nothing: TLB entries hold the AND of the R/W
     * flags and access rights are checked with the current CR0.WP (SDM
     * 4.10.2.2, 4.6). Only the fast write paths granted to supervisor
     * writes by WP = 0 go when it is set (cpu_tlb_wp_set). */
    if ((old ^ v) & (CPU_CR0_PG | CPU_CR0_PE | CPU_CR0_AM))
        cpu_tlb_flush(c);
    else if (v & ~old & CPU_CR0_WP)
        cpu_tlb_wp_set(c);
    emit_cr(c, 0, old, v);
    cpu_update_mode(c);
}

/* CR3 load (SDM 4.5, 4.10.4.1): without PCIDE bits 63:MAXPHYADDR are
 * reserved; with PAE paging the PDPTEs are loaded (SDM 4.4.1); the load
 * invalidates the TLB. */
static void cr3_write(cpu_t *c, uint64_t v)
{
    if (v >> CPU_MAXPHYADDR)
        cpu_gp0(c);
    if (pae_paging(c->cr0, c->cr4, c->efer))
        load_pdptes_or_gp(c, v);
    uint64_t old = c->cr3;
    c->cr3 = v;
    cpu_tlb_flush(c);
    emit_cr(c, 3, old, v);
}

/* CR4 load: unsupported bits are reserved; PAE cannot be cleared in IA-32e
 * mode; changing PSE, PAE or PGE flushes the TLB (SDM 4.10.4.1), and
 * with PAE paging in use afterwards also loads the PDPTEs (SDM 4.4.1:
 * 32-bit paging <-> PAE paging by MOV CR4 is allowed). */
static void cr4_write(cpu_t *c, uint64_t v)
{
    if (v & ~CR4_SUPPORTED)
        cpu_gp0(c);
    if ((c->efer & CPU_EFER_LMA) && !(v & CPU_CR4_PAE))
        cpu_gp0(c);
    if (!cpu_vmx_cr_ok(v, c->vmx_cr4_fixed0, c->vmx_cr4_fixed1, c->vmx_operation))
        cpu_gp0(c);
    uint64_t old = c->cr4;
    uint64_t paging_bits = CPU_CR4_PSE | CPU_CR4_PAE | CPU_CR4_PGE;
    if (pae_paging(c->cr0, v, c->efer) && ((old ^ v) & paging_bits))
        load_pdptes_or_gp(c, c->cr3);
    c->cr4 = v;
    if ((old ^ v) & paging_bits)
        cpu_tlb_flush(c);
    emit_cr(c, 4, old, v);
}

/* CR8 = TPR[7:4] (SDM Vol. 3A 10.8.6.1); bits 63:4 are reserved. Lowering
 * it may unmask a pending interrupt, so the run loop must look. */
static void cr8_write(cpu_t *c, uint64_t v)
{
    if (v >> 4)
        cpu_gp0(c);
    uint64_t old = c->cr8;
    c->cr8 = v;
    c->events |= CPU_EVT_INTR;
    emit_cr(c, 8, old, v);
}

static void exec_mov_from_cr(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    cpu_icpt info = {.kind = CPU_ICPT_CR_READ, .len = i->len, .reg = i->rm, .cr = i->reg};
    uint64_t v;
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE) {
        v = info.value;
    } else {
        switch (i->reg) {
        case 0: v = c->cr0; break;
        case 2: v = c->cr2; break;
        case 3: v = c->cr3; break;
        case 4: v = c->cr4; break;
        default: v = c->cr8; break;
        }
    }
    c->gpr[i->rm] = v;
}

static void exec_mov_to_cr(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    uint64_t v = c->gpr[i->rm];
    cpu_icpt info = {.kind = CPU_ICPT_CR_WRITE, .len = i->len, .reg = i->rm, .cr = i->reg,
                     .value = v};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    v = info.value; /* a hook that passes may have merged host-owned bits (VMX masks) */
    switch (i->reg) {
    case 0: cr0_write(c, v); break;
    case 2: {
        uint64_t old = c->cr2;
        c->cr2 = v;
        emit_cr(c, 2, old, v);
        break;
    }
    case 3: cr3_write(c, v); break;
    case 4: cr4_write(c, v); break;
    default: cr8_write(c, v); break;
    }
}

/* 0F 20 / 0F 22: REX.R selects CR8; CR1, CR5-7 and CR9-15 are #UD. LOCK
 * (AMD's CR8 alias) is rejected by the decoder: MOD is forced to register. */
static bool decode_mov_cr(cpu_insn *i)
{
    unsigned cr = i->reg;
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8)
        return false;
    i->exec = i->op == 0x20 ? exec_mov_from_cr : exec_mov_to_cr;
    return true;
}

/* CLTS (SDM Vol. 2 "CLTS"). */
static void exec_clts(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    cpu_icpt info = {.kind = CPU_ICPT_CLTS, .len = i->len, .cr = 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    uint64_t old = c->cr0;
    c->cr0 &= ~(uint64_t)CPU_CR0_TS;
    emit_cr(c, 0, old, c->cr0);
}

/* SMSW (SDM Vol. 2 "SMSW"): not privileged (no UMIP). It reads CR0 through
 * the CR-read intercept so VMX can apply the CR0 read shadow. */
static void exec_smsw(cpu_t *c, const cpu_insn *i)
{
    cpu_icpt info = {.kind = CPU_ICPT_CR_READ, .len = i->len, .reg = i->has_mem ? 0 : i->rm,
                     .cr = 0};
    uint64_t v = cpu_intercept(c, &info) == CPU_HOOK_DONE ? info.value : c->cr0;
    if (i->has_mem)
        cpu_write(c, cpu_ea(c, i), 2, v);
    else
        cpu_reg_set(c, i->rm, i->osize, v);
}

/* LMSW (SDM Vol. 2 "LMSW"): loads CR0[3:0]; it can set PE but not clear it. */
static void exec_lmsw(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    uint64_t src = cpu_rm_read(c, i, 2);
    cpu_icpt info = {.kind = CPU_ICPT_LMSW, .len = i->len, .value = src,
                     .addr = i->has_mem ? cpu_ea(c, i) : 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    uint64_t old = c->cr0;
    uint64_t v = (old & ~0xEull) | (src & 0xF) | (old & CPU_CR0_PE);
    c->cr0 = v;
    if ((old ^ v) & CPU_CR0_PE)
        cpu_tlb_flush(c);
    emit_cr(c, 0, old, v);
    cpu_update_mode(c);
}

/* ---- TLB, caches and the rest --------------------------------------------------------- */

static void exec_invlpg(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    uint64_t ea = cpu_ea(c, i);
    cpu_icpt info = {.kind = CPU_ICPT_INVLPG, .len = i->len, .addr = ea};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    cpu_tlb_flush_page(c, ea);
}

/* INVD, WBINVD: the interpreter has no caches to write back. */
static void exec_invd(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    cpu_icpt info = {.kind = i->op == 0x08 ? CPU_ICPT_INVD : CPU_ICPT_WBINVD, .len = i->len};
    cpu_intercept(c, &info);
}

/* PAUSE (F3 90): a spin-loop hint (SDM Vol. 2 "PAUSE"); VMX may exit on
 * it. The hint reaches the owner's scheduler as CPU_STOP_YIELD, at most
 * once per pause_yield_gap cycles, so a spinning CPU lets the others run. */
static void exec_pause(cpu_t *c, const cpu_insn *i)
{
    cpu_icpt info = {.kind = CPU_ICPT_PAUSE, .len = i->len};
    cpu_intercept(c, &info);
    if (c->cycles >= c->pause_yield_at && c->stop == CPU_STOP_NONE) {
        c->pause_yield_at = c->cycles + c->pause_yield_gap;
        cpu_request_stop(c, CPU_STOP_YIELD);
    }
}

bool cpu_decode_pause(cpu_insn *i)
{
    i->exec = exec_pause;
    return true;
}

/* RDPMC (SDM Vol. 2 "RDPMC"): CPUID leaf 0AH reports no counters, so every
 * counter number is invalid: #GP(0) once the privilege check passes. */
static void exec_rdpmc(cpu_t *c, const cpu_insn *i)
{
    if (c->cpl != 0 && !(c->cr4 & CPU_CR4_PCE))
        cpu_gp0(c);
    cpu_icpt info = {.kind = CPU_ICPT_RDPMC, .len = i->len, .msr = (uint32_t)c->gpr[CPU_RCX]};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE) {
        c->gpr[CPU_RAX] = (uint32_t)info.value;
        c->gpr[CPU_RDX] = (uint32_t)(info.value >> 32);
        return;
    }
    cpu_gp0(c);
}

/* 0F 01 (group 7): the memory forms are the descriptor-table instructions,
 * SMSW, LMSW and INVLPG; the register forms are selected by the whole
 * ModRM byte. MONITOR/MWAIT, XGETBV/XSETBV, CLAC/STAC, XTEST and the rest
 * are #UD: CPUID reports none of their features. */
static bool decode_grp7(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    i->cost_class = CPU_COST_SYSTEM;
    if (i->has_mem) {
        switch (digit) {
        case 0:
        case 1:
        case 2:
        case 3:
            i->sub = (uint8_t)digit;
            i->exec = cpu_exec_desc_table;
            i->ends_block = digit >= 2;
            return true;
        case 4:
            i->exec = exec_smsw;
            return true;
        case 6:
            i->exec = exec_lmsw;
            i->ends_block = 1;
            return true;
        case 7:
            i->exec = exec_invlpg;
            i->ends_block = 1;
            return true;
        default:
            return false;
        }
    }
    switch (i->modrm) {
    case 0xC1:
    case 0xC2:
    case 0xC3:
    case 0xC4:
    case 0xD4: return cpu_decode_grp7_vmx(i);
    case 0xF8:
        /* SWAPGS exists in 64-bit mode only (SDM Vol. 2 "SWAPGS"). */
        if (cpu_mode_legacy(i->mode))
            return false;
        i->exec = cpu_exec_swapgs;
        return true;
    case 0xF9:
        i->exec = cpu_exec_rdtscp;
        return true;
    default:
        break;
    }
    if (digit == 4) {
        i->exec = exec_smsw;
        return true;
    }
    if (digit == 6) {
        i->exec = exec_lmsw;
        i->ends_block = 1;
        return true;
    }
    return false;
}

static bool decode_simple(cpu_insn *i)
{
    switch (i->op) {
    case 0x06: i->exec = exec_clts; break;
    case 0x08:
    case 0x09: i->exec = exec_invd; break;
    default: i->exec = exec_rdpmc; break; /* 0F 33 */
    }
    return true;
}

void cpu_register_system(cpu_opmap *m)
{
    const unsigned M = CPU_OPF_MODRM, E = CPU_OPF_ENDS;

    /* 0F map */
    /* UD2, UD1, UD0: the architecturally undefined opcodes (#UD, not reported
     * as unimplemented). */
    cpu_op(m, 1, 0x0B, NULL, CPU_OPF_UD, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xB9, NULL, CPU_OPF_UD | M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xFF, NULL, CPU_OPF_UD | M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0x01, decode_grp7, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x06, decode_simple, E, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x08, decode_simple, 0, CPU_IMM_NONE, CPU_COST_SERIALIZE);
    cpu_op(m, 1, 0x09, decode_simple, 0, CPU_IMM_NONE, CPU_COST_SERIALIZE);
    cpu_op(m, 1, 0x20, decode_mov_cr, CPU_OPF_MODREG, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x22, decode_mov_cr, CPU_OPF_MODREG | E, CPU_IMM_NONE, CPU_COST_SERIALIZE);
    cpu_op(m, 1, 0x21, cpu_decode_mov_dr, CPU_OPF_MODREG, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x23, cpu_decode_mov_dr, CPU_OPF_MODREG | E, CPU_IMM_NONE, CPU_COST_SERIALIZE);
    cpu_op(m, 1, 0x33, decode_simple, 0, CPU_IMM_NONE, CPU_COST_SYSTEM);

    cpu_register_segment(m);
    cpu_register_interrupt(m);
    cpu_register_vmx_insn(m);
    cpu_register_msr(m);
    cpu_register_cpuid(m);
    cpu_register_x87(m);
}
