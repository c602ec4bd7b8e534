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
        c->tlb_epoch++;
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
        unimplemented_form(c, i); /* call gate, task gate, TSS */
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
        unimplemented_form(c, i); /* return to an outer privilege level */
    cpu_desc_mark_accessed(c, va, d);
    c->seg[CPU_CS] = cs;
    c->next_rip = offset;
    c->tlb_epoch++; /* successor links assumed the old CS base */
    cpu_end_block(c);
    cpu_update_mode(c);
}

/* JMP ptr16:16/32 (EA, not in 64-bit mode). */
void cpu_far_jmp_ptr(cpu_t *c, const cpu_insn *i)
{
    unsigned n = i->osize;
    far_to_code(c, i, (uint16_t)(i->imm >> (8 * n)), i->imm & cpu_size_mask(n), false);
}

/* JMP m16:16/32/64 (FF /5): the offset, then the selector after it. */
void cpu_far_jmp_m(cpu_t *c, const cpu_insn *i)
{
    uint64_t ea = cpu_ea(c, i);
    uint64_t off = cpu_read(c, ea, i->osize);
    uint16_t sel = (uint16_t)cpu_read(c, ea + i->osize, 2);
    far_to_code(c, i, sel, off, false);
}

/* CALL far: CS and the return offset are pushed at the operand size after
 * the target is checked; the pushes are probed first, so a stack fault
 * leaves the old CS in place. */
static void far_call(cpu_t *c, const cpu_insn *i, uint16_t sel, uint64_t off)
{
    unsigned n = i->osize;
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
