/*
 * cpu_far.c — far JMP, CALL and RET (SDM Vol. 2 "JMP", "CALL", "RET", the
 * real-address, protected-mode and IA-32e-mode parts of their Operation;
 * Vol. 3A 5.8 "Privilege Level Checking When Transferring Program Control
 * Between Code Segments") in every mode: real mode, 16/32-bit protected
 * mode, compatibility mode and 64-bit mode, where FF /3, FF /5 and RETF
 * (CA, CB) are the far transfers between 64-bit and compatibility code.
 *
 * The far pointer's offset has the operand size: 16 or 32 bits, or 64
 * with REX.W in 64-bit mode (m16:64, RETF with REX.W); the default stays
 * 32 bits in 64-bit mode (no "d64" in the SDM's opcode map for these).
 * Outside IA-32e mode also call gates (to the same or a more privileged
 * level, with the TSS stack switch) and far RET to an outer level; task
 * gates, TSSs and IA-32e call gates are reported as unimplemented.
 */
#include "cpu/cpu_internal.h"

/* A far transfer to a call gate, task gate or TSS, or a return to an outer
 * privilege level: reported and the run stopped, never run wrongly. */
static _Noreturn void unimplemented_form(cpu_t *c, const cpu_insn *i)
{
    cpu_exec_unimplemented(c, i);
    cpu_ud(c); /* not reached: cpu_exec_unimplemented raises #UD itself */
}

/* ---- the stack (SDM Vol. 1 6.2, 6.14; Vol. 3A 3.4.5): RSP without a base in
 * 64-bit mode, else SS:ESP or SS:SP by SS.B, wrapping at 4 GBytes. A far
 * CALL or RET uses the stack of the mode it began in, so the callers take
 * `long64` before the transfer changes the mode. */

static uint64_t stk_sp(const cpu_t *c, bool long64)
{
    if (long64)
        return c->gpr[CPU_RSP];
    return (c->seg[CPU_SS].attr & CPU_SEG_DB) ? (uint32_t)c->gpr[CPU_RSP]
                                              : (uint16_t)c->gpr[CPU_RSP];
}

static void stk_set(cpu_t *c, bool long64, uint64_t sp)
{
    if (long64)
        c->gpr[CPU_RSP] = sp;
    else if (c->seg[CPU_SS].attr & CPU_SEG_DB)
        c->gpr[CPU_RSP] = (uint32_t)sp;
    else
        c->gpr[CPU_RSP] = (c->gpr[CPU_RSP] & ~0xFFFFull) | (uint16_t)sp;
}

/* The `size` bytes at stack offset sp; outside 64-bit mode within the SS
 * limit, else #SS(0) (SDM Vol. 3A 5.3). */
static uint64_t stk_va(const cpu_t *c, bool long64, uint64_t sp, unsigned size)
{
    if (long64)
        return sp;
    uint64_t off = (c->seg[CPU_SS].attr & CPU_SEG_DB) ? (uint32_t)sp : (uint16_t)sp;
    return cpu_legacy_va(c, CPU_SS, off, 4, size);
}

/*
 * Checks the code-segment descriptor a far JMP/CALL/RET/IRET goes to and
 * makes it CS with CPL new_cpl (SDM Vol. 2 "JMP" protected-mode operation:
 * null #GP(0); not a code segment #GP(sel); conforming DPL > CPL, or
 * non-conforming RPL > CPL or DPL != CPL, #GP(sel); not present #NP(sel);
 * in IA-32e mode L = D = 1 #GP(sel)). ret says the RET/IRET rules apply
 * (RPL is the new CPL). The offset is checked against the new limit, or
 * for canonical form when the target is 64-bit code.
 */
static void far_to_code(cpu_t *c, const cpu_insn *i, uint16_t sel, uint64_t offset, bool ret)
{
    if (!(c->cr0 & CPU_CR0_PE)) {
        /* Real mode: CS = sel, base sel << 4, limit and attributes kept
         * (SDM Vol. 2 "JMP", real-address mode). */
        offset &= cpu_size_mask(i->osize);
        if (offset > c->seg[CPU_CS].limit)
            cpu_gp0(c);
        c->seg[CPU_CS].sel = sel;
        c->seg[CPU_CS].base = (uint64_t)sel << 4;
        c->next_rip = offset;
        cpu_epoch_new(c);
        cpu_end_block(c);
        return;
    }
    if ((sel & 0xFFFC) == 0)
        cpu_gp0(c);
    uint64_t va;
    uint64_t d = cpu_desc_read(c, sel, &va);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    unsigned rpl = sel & 3;
    if (!s)
        unimplemented_form(c, i); /* task gate, TSS; IA-32e: any (else through_gate) */
    if (!(type & 8))
        cpu_fault(c, CPU_EXC_GP, sel & 0xFFFC);
    unsigned new_cpl = c->cpl;
    if (ret) {
        if (rpl < c->cpl || ((type & 4) ? dpl > rpl : dpl != rpl))
            cpu_fault(c, CPU_EXC_GP, sel & 0xFFFC);
        new_cpl = rpl;
    } else if ((type & 4) ? dpl > c->cpl : (rpl > c->cpl || dpl != c->cpl)) {
        cpu_fault(c, CPU_EXC_GP, sel & 0xFFFC);
    }
    if (!p)
        cpu_fault(c, CPU_EXC_NP, sel & 0xFFFC);
    bool lma = (c->efer & CPU_EFER_LMA) != 0;
    bool l = (d >> 53) & 1, db = (d >> 54) & 1;
    if (lma && l && db)
        cpu_fault(c, CPU_EXC_GP, sel & 0xFFFC);
    cpu_seg cs = cpu_seg_from_desc((uint16_t)((sel & ~3u) | new_cpl), d | (1ull << 40));
    if (lma && l) {
        if (!cpu_canonical(offset))
            cpu_gp0(c);
        cs.base = 0;
    } else {
        offset = (uint32_t)offset;
        if (offset > cs.limit)
            cpu_gp0(c);
    }
    if (new_cpl != c->cpl)
        unimplemented_form(c, i); /* outer level in IA-32e mode (else far_ret_outer) */
    cpu_desc_mark_accessed(c, va, d);
    c->seg[CPU_CS] = cs;
    c->next_rip = offset;
    cpu_epoch_new(c); /* successor links assumed the old CS base */
    cpu_end_block(c);
    cpu_update_mode(c);
}

/* ---- call gates and returns to an outer level, outside IA-32e mode (SDM Vol. 2
 * "CALL" and "JMP" CALL-GATE, "RET" RETURN-TO-OUTER-PRIVILEGE-LEVEL; Vol. 3A
 * 5.8.3-5.8.6 and 7.2.1 for the TSS stack) ---- */

static void null_data_segments(cpu_t *c, unsigned cpl)
{
    /* Data segments (and non-conforming code) the outer level may not use
     * become null (SDM Vol. 2 "RET", RETURN-TO-OUTER-PRIVILEGE-LEVEL). */
    static const unsigned segs[4] = {CPU_ES, CPU_DS, CPU_FS, CPU_GS};
    for (unsigned k = 0; k < 4; k++) {
        cpu_seg *s = &c->seg[segs[k]];
        unsigned t = s->attr & 0xF, dpl = (s->attr >> 5) & 3;
        if ((s->attr & CPU_SEG_P) && (t & 0xC) != 0xC && dpl < cpl)
            *s = (cpu_seg){0};
    }
}

/* Loads CS (and CPL) for a transfer that passed its checks. */
static void commit_cs(cpu_t *c, cpu_seg cs, uint64_t va, uint64_t d, uint64_t offset)
{
    cpu_desc_mark_accessed(c, va, d);
    c->seg[CPU_CS] = cs;
    c->next_rip = offset;
    cpu_epoch_new(c); /* successor links assumed the old CS base and limit */
    cpu_end_block(c);
    cpu_update_mode(c);
}

/*
 * A far JMP or CALL whose selector names a 16- or 32-bit call gate (types
 * 4, C) in protected mode outside IA-32e mode; false for anything else
 * (far_to_code handles code segments and reports the other system types).
 * Checks: gate DPL >= CPL and RPL, else #GP(gate); not present #NP(gate);
 * the gate's code selector null #GP(0); not code or DPL > CPL #GP(code);
 * JMP to non-conforming code needs DPL = CPL; not present #NP(code); the
 * offset within the limit #GP(0). A CALL to non-conforming code of a more
 * privileged level switches to the TSS's stack for that level (#TS(TSS)
 * beyond its limit, #TS(SS) for a bad SS, #SS(SS) not present) and pushes
 * the old SS:ESP, the gate's parameter count of parameters copied from the
 * old stack, and CS:EIP, at the gate's size; otherwise CS:EIP go on the
 * current stack at the gate's size.
 */
static bool through_gate(cpu_t *c, uint16_t gsel, bool call)
{
    if (!(c->cr0 & CPU_CR0_PE) || (c->efer & CPU_EFER_LMA) || (gsel & 0xFFFC) == 0)
        return false;
    uint64_t gva;
    uint64_t g = cpu_desc_read(c, gsel, &gva);
    unsigned gtype = (g >> 40) & 0xF, gdpl = (g >> 45) & 3;
    if (((g >> 44) & 1) || (gtype != 0x4 && gtype != 0xC))
        return false;
    if (gdpl < c->cpl || gdpl < (gsel & 3u))
        cpu_fault_sel(c, CPU_EXC_GP, gsel);
    if (!((g >> 47) & 1))
        cpu_fault_sel(c, CPU_EXC_NP, gsel);
    bool gate32 = gtype == 0xC;
    unsigned n = gate32 ? 4 : 2, nparams = (unsigned)(g >> 32) & 0x1F;
    uint64_t offset = (g & 0xFFFF) | (gate32 ? ((g >> 32) & 0xFFFF0000ull) : 0);
    uint16_t csel = (uint16_t)(g >> 16);
    if ((csel & 0xFFFC) == 0)
        cpu_gp0(c);
    uint64_t va;
    uint64_t d = cpu_desc_read(c, csel, &va);
    unsigned type = (d >> 40) & 0xF, dpl = (d >> 45) & 3;
    bool conforming = (type & 4) != 0;
    if (!((d >> 44) & 1) || !(type & 8) || dpl > c->cpl ||
        (!call && !conforming && dpl != c->cpl))
        cpu_fault_sel(c, CPU_EXC_GP, csel);
    if (!((d >> 47) & 1))
        cpu_fault_sel(c, CPU_EXC_NP, csel);
    unsigned new_cpl = (call && !conforming) ? dpl : c->cpl;
    cpu_seg cs = cpu_seg_from_desc((uint16_t)((csel & ~3u) | new_cpl), d | (1ull << 40));
    if (offset > cs.limit)
        cpu_gp0(c);
    uint16_t old_cs = c->seg[CPU_CS].sel;
    uint64_t ret = c->next_rip, sp = stk_sp(c, false);
    if (!call) {
        commit_cs(c, cs, va, d, offset);
        return true;
    }
    if (new_cpl == c->cpl) {
        cpu_probe_write(c, stk_va(c, false, sp - n, n), n);
        cpu_probe_write(c, stk_va(c, false, sp - 2 * n, n), n);
        cpu_write(c, stk_va(c, false, sp - n, n), n, old_cs);
        cpu_write(c, stk_va(c, false, sp - 2 * n, n), n, ret);
        stk_set(c, false, sp - 2 * n);
        commit_cs(c, cs, va, d, offset);
        return true;
    }
    /* The inner stack from the TSS: SS0:ESP0.. of a 32-bit TSS, SS0:SP0..
     * of a 16-bit one (SDM 7.2.1, 7.6). */
    bool tss32 = (c->tr.attr & 8) != 0;
    uint64_t at = tss32 ? 4 + new_cpl * 8u : 2 + new_cpl * 4u;
    unsigned w = tss32 ? 4 : 2;
    if (at + w + 1 > c->tr.limit)
        cpu_fault_sel(c, CPU_EXC_TS, c->tr.sel);
    uint64_t nsp = cpu_read_supervisor(c, (uint32_t)(c->tr.base + at), w);
    uint16_t ss_sel = (uint16_t)cpu_read_supervisor(c, (uint32_t)(c->tr.base + at + w), 2);
    if ((ss_sel & 0xFFFC) == 0)
        cpu_fault(c, CPU_EXC_TS, 0);
    uint64_t sva;
    uint64_t sd = cpu_desc_read(c, ss_sel, &sva);
    unsigned st = (sd >> 40) & 0xF;
    if ((ss_sel & 3u) != new_cpl || !((sd >> 44) & 1) || (st & 8) || !(st & 2) ||
        ((sd >> 45) & 3) != new_cpl)
        cpu_fault_sel(c, CPU_EXC_TS, ss_sel);
    if (!((sd >> 47) & 1))
        cpu_fault_sel(c, CPU_EXC_SS, ss_sel);
    cpu_seg ss = cpu_seg_from_desc(ss_sel, sd | (1ull << 40));
    /* The frame: old SS, old ESP, the parameters as they lie on the old
     * stack, old CS, old EIP. */
    uint64_t frame[4 + 31];
    unsigned k = 0;
    frame[k++] = c->seg[CPU_SS].sel;
    frame[k++] = c->gpr[CPU_RSP] & cpu_size_mask(n);
    for (unsigned p = nparams; p-- > 0;)
        frame[k++] = cpu_read(c, stk_va(c, false, sp + p * n, n), n);
    frame[k++] = old_cs;
    frame[k++] = ret;
    uint64_t smask = (ss.attr & CPU_SEG_DB) ? 0xFFFFFFFFull : 0xFFFFull;
    for (unsigned j = 0; j < k; j++)
        if (!cpu_seg_range_ok(c, &ss, (uint32_t)((nsp - (j + 1) * n) & smask), n))
            cpu_fault_sel(c, CPU_EXC_SS, ss_sel);
    /* The frame is written at the new privilege level (a page fault there
     * restores the CPL: cpu_deliver_pending_fault). */
    c->delivery_old_cpl = (int8_t)c->cpl;
    c->cpl = (uint8_t)new_cpl;
    cpu_tlb_flush(c);
    for (unsigned j = 0; j < k; j++)
        cpu_probe_write(c, (uint32_t)(ss.base + ((nsp - (j + 1) * n) & smask)), n);
    for (unsigned j = 0; j < k; j++)
        cpu_write(c, (uint32_t)(ss.base + ((nsp - (j + 1) * n) & smask)), n, frame[j]);
    c->delivery_old_cpl = -1;
    cpu_desc_mark_accessed(c, sva, sd);
    c->seg[CPU_SS] = ss;
    stk_set(c, false, nsp - k * n);
    commit_cs(c, cs, va, d, offset);
    return true;
}

/* RET far to an outer privilege level (CS.RPL > CPL) outside IA-32e mode:
 * after EIP and CS, then SRC bytes of parameters, pops ESP and SS; checks
 * the code segment as any far RET, then SS (null #GP(0); RPL, DPL and
 * type #GP(SS); not present #SS(SS)); then CPL = RPL, ESP = the popped ESP
 * + SRC, and data segments the outer level may not use become null. */
static void far_ret_outer(cpu_t *c, const cpu_insn *i, uint16_t sel, uint64_t off, uint64_t sp)
{
    unsigned n = i->osize, rpl = sel & 3u;
    uint64_t va;
    uint64_t d = cpu_desc_read(c, sel, &va);
    unsigned type = (d >> 40) & 0xF, dpl = (d >> 45) & 3;
    if (!((d >> 44) & 1) || !(type & 8) || ((type & 4) ? dpl > rpl : dpl != rpl))
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    if (!((d >> 47) & 1))
        cpu_fault_sel(c, CPU_EXC_NP, sel);
    uint64_t new_sp = cpu_read(c, stk_va(c, false, sp + 2 * n + i->imm, n), n);
    uint16_t ss_sel = (uint16_t)cpu_read(c, stk_va(c, false, sp + 3 * n + i->imm, n), n);
    if ((ss_sel & 0xFFFC) == 0)
        cpu_gp0(c);
    uint64_t sva;
    uint64_t sd = cpu_desc_read(c, ss_sel, &sva);
    unsigned st = (sd >> 40) & 0xF;
    if ((ss_sel & 3u) != rpl || !((sd >> 44) & 1) || (st & 8) || !(st & 2) ||
        ((sd >> 45) & 3) != rpl)
        cpu_fault_sel(c, CPU_EXC_GP, ss_sel);
    if (!((sd >> 47) & 1))
        cpu_fault_sel(c, CPU_EXC_SS, ss_sel);
    cpu_seg cs = cpu_seg_from_desc(sel, d | (1ull << 40));
    off &= cpu_size_mask(n);
    if (off > cs.limit)
        cpu_gp0(c);
    cpu_desc_mark_accessed(c, sva, sd);
    c->seg[CPU_SS] = cpu_seg_from_desc(ss_sel, sd | (1ull << 40));
    stk_set(c, false, new_sp + i->imm);
    c->cpl = (uint8_t)rpl;
    cpu_tlb_flush(c); /* the TLB's fast paths were filled at the old CPL */
    null_data_segments(c, rpl);
    commit_cs(c, cs, va, d, off);
}

/* JMP ptr16:16/32 (EA, not in 64-bit mode). */
void cpu_far_jmp_ptr(cpu_t *c, const cpu_insn *i)
{
    unsigned n = i->osize;
    uint16_t sel = (uint16_t)(i->imm >> (8 * n));
    if (!through_gate(c, sel, false))
        far_to_code(c, i, sel, i->imm & cpu_size_mask(n), false);
}

/* JMP m16:16/32/64 (FF /5): the offset, then the selector after it. */
void cpu_far_jmp_m(cpu_t *c, const cpu_insn *i)
{
    uint64_t ea = cpu_ea(c, i);
    uint64_t off = cpu_read(c, ea, i->osize);
    uint16_t sel = (uint16_t)cpu_read(c, ea + i->osize, 2);
    if (!through_gate(c, sel, false))
        far_to_code(c, i, sel, off, false);
}

/* CALL far: CS and the return offset are pushed at the operand size after
 * the target is checked; the pushes are probed first, so a stack fault
 * leaves the old CS in place. */
static void far_call(cpu_t *c, const cpu_insn *i, uint16_t sel, uint64_t off)
{
    unsigned n = i->osize;
    if (through_gate(c, sel, true))
        return;
    bool long64 = c->mode == CPU_MODE_LONG64;
    uint64_t sp = stk_sp(c, long64);
    cpu_probe_write(c, stk_va(c, long64, sp - n, n), n);
    cpu_probe_write(c, stk_va(c, long64, sp - 2 * n, n), n);
    uint16_t old_cs = c->seg[CPU_CS].sel;
    uint64_t ret = c->next_rip;
    far_to_code(c, i, sel, off, false);
    cpu_write(c, stk_va(c, long64, sp - n, n), n, old_cs);
    cpu_write(c, stk_va(c, long64, sp - 2 * n, n), n, ret);
    stk_set(c, long64, sp - 2 * n);
}

/* CALL ptr16:16/32 (9A, not in 64-bit mode). */
void cpu_far_call_ptr(cpu_t *c, const cpu_insn *i)
{
    unsigned n = i->osize;
    far_call(c, i, (uint16_t)(i->imm >> (8 * n)), i->imm & cpu_size_mask(n));
}

/* CALL m16:16/32/64 (FF /3). */
void cpu_far_call_m(cpu_t *c, const cpu_insn *i)
{
    uint64_t ea = cpu_ea(c, i);
    uint64_t off = cpu_read(c, ea, i->osize);
    uint16_t sel = (uint16_t)cpu_read(c, ea + i->osize, 2);
    far_call(c, i, sel, off);
}

/* RET far (CB, CA imm16): pops the offset and CS at the operand size; a
 * return to 64-bit code (`lret` into a 64-bit code segment) switches to
 * 64-bit mode, a return from 64-bit code to a compatibility-mode segment
 * leaves it. Same privilege level only. */
static void far_ret(cpu_t *c, const cpu_insn *i)
{
    unsigned n = i->osize;
    bool long64 = c->mode == CPU_MODE_LONG64;
    uint64_t sp = stk_sp(c, long64);
    uint64_t off = cpu_read(c, stk_va(c, long64, sp, n), n);
    uint16_t sel = (uint16_t)cpu_read(c, stk_va(c, long64, sp + n, n), n);
    if ((c->cr0 & CPU_CR0_PE) && !(c->efer & CPU_EFER_LMA) && (sel & 0xFFFC) &&
        (sel & 3u) > c->cpl) {
        far_ret_outer(c, i, sel, off, sp);
        return;
    }
    far_to_code(c, i, sel, off, true);
    stk_set(c, long64, sp + 2 * n + i->imm);
}

static bool decode_retf(cpu_insn *i)
{
    i->exec = far_ret;
    return true;
}

void cpu_register_far(cpu_opmap *m)
{
    const unsigned E = CPU_OPF_ENDS;
    cpu_op(m, 0, 0xCA, decode_retf, E, CPU_IMM_W, CPU_COST_BRANCH);
    cpu_op(m, 0, 0xCB, decode_retf, E, CPU_IMM_NONE, CPU_COST_BRANCH);
}
