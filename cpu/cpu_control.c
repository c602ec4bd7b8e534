/*
 * cpu_control.c — control transfer and flag-control instructions (SDM
 * Vol. 1 7.3.8 and 7.3.13; each instruction's page in SDM Vol. 2): Jcc,
 * JMP, CALL, RET, LOOP/LOOPcc, JRCXZ/JECXZ, CLC/STC/CMC/CLD/STD, the
 * multi-byte and hint NOPs, and the FF group digits 2..7.
 *
 * Near branches in 64-bit mode always use a 64-bit operand size (Intel
 * ignores 66) and raise #GP(0) at the branch itself when the target is not
 * canonical, before anything is pushed or popped (SDM Vol. 2 "JMP",
 * "CALL", "RET" 64-bit mode exceptions). The decoder puts rel8/rel32 in
 * i->imm sign-extended; the target is next_rip + imm.
 */
#include "cpu/cpu_internal.h"

/* ZF straight from the lazy result: ZF is res == 0 for every lazy kind. */
static inline bool zf_now(const cpu_t *c)
{
    return c->lf_op != CPU_LF_NONE ? c->lf_res == 0 : (c->rflags & CPU_FL_ZF) != 0;
}

/* ---- Jcc, JMP (SDM Vol. 2 "Jcc", "JMP") -------------------------------------- */

static void jcc(cpu_t *c, const cpu_insn *i)
{
    if (cpu_cond(c, i->sub))
        cpu_branch_to(c, c->next_rip + i->imm);
}

/* JZ and JNZ close most loops: test the lazy result without a call. */
static void jz(cpu_t *c, const cpu_insn *i)
{
    if (zf_now(c))
        cpu_branch_to(c, c->next_rip + i->imm);
}

static void jnz(cpu_t *c, const cpu_insn *i)
{
    if (!zf_now(c))
        cpu_branch_to(c, c->next_rip + i->imm);
}

bool cpu_is_jcc(const cpu_insn *i)
{
    return i->exec == jcc || i->exec == jz || i->exec == jnz;
}

static bool decode_jcc(cpu_insn *i) /* 70..7F, 0F 80..8F */
{
    i->sub = i->op & 0xF;
    i->exec = i->sub == 4 ? jz : i->sub == 5 ? jnz : jcc;
    return true;
}

static void jmp_rel(cpu_t *c, const cpu_insn *i)
{
    cpu_branch_to(c, c->next_rip + i->imm);
}

static void jmp_rm(cpu_t *c, const cpu_insn *i)
{
    cpu_branch_to(c, cpu_rm_read(c, i, 8));
}

/* ---- CALL, RET (SDM Vol. 2 "CALL", "RET") ------------------------------------------ */

static void call_to(cpu_t *c, uint64_t target)
{
    if (unlikely(!cpu_canonical(target)))
        cpu_gp0(c);
    cpu_push(c, 8, c->next_rip);
    c->next_rip = target;
}

static void call_rel(cpu_t *c, const cpu_insn *i)
{
    call_to(c, c->next_rip + i->imm);
}

/* CALL r/m64: the target is read before RSP moves (CALL RSP uses the old
 * RSP, CALL [RSP] the old stack top). */
static void call_rm(cpu_t *c, const cpu_insn *i)
{
    call_to(c, cpu_rm_read(c, i, 8));
}

/* RET [imm16]: pop RIP, then release imm16 more bytes. A non-canonical
 * return address faults with RSP unchanged. */
static void ret_near(cpu_t *c, const cpu_insn *i)
{
    uint64_t target = cpu_read(c, c->gpr[CPU_RSP], 8);
    if (unlikely(!cpu_canonical(target)))
        cpu_gp0(c);
    c->gpr[CPU_RSP] += 8 + i->imm;
    c->next_rip = target;
}

static bool decode_branch(cpu_insn *i) /* EB, E9, E8, C3, C2 */
{
    i->exec = i->op == 0xE8 ? call_rel : (i->op & 0xF0) == 0xC0 ? ret_near : jmp_rel;
    return true;
}

/* ---- FF /2../7 ------------------------------------------------------------------------ */

/* FF /6: PUSH r/m; the operand is read (with an RSP-based address) before
 * RSP is decremented (SDM Vol. 2 "PUSH"). */
static void push_rm(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = cpu_rm_read(c, i, i->osize);
    cpu_push(c, i->osize, v);
}

/*
 * The ALU family registers FF without 64-bit defaults (INC/DEC follow the
 * ordinary operand size), so this fixes the size up for 64-bit mode: near
 * CALL/JMP are always 64-bit, PUSH is 64-bit unless 66 without REX.W.
 * Outside 64-bit mode the decoder's 16/32-bit operand size stands (SDM
 * Vol. 2 "CALL", "JMP", "PUSH": 64-bit only in 64-bit mode).
 * Far CALL/JMP through memory (/3, /5) are cpu_far.c's, with the ordinary
 * operand size (m16:32 by default, m16:64 with REX.W); a register operand
 * is #UD (SDM Vol. 2 "CALL", "JMP"). /7 is #UD.
 */
bool cpu_decode_grp5_other(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    if (i->pfx & CPU_PFX_LOCK)
        return false;
    switch (digit) {
    case 2:
    case 4:
        if (i->mode == CPU_MODE_LONG64)
            i->osize = 8;
        i->exec = digit == 2 ? call_rm : jmp_rm;
        i->ends_block = 1;
        i->cost_class = CPU_COST_BRANCH;
        return true;
    case 3:
    case 5:
        if (!i->has_mem)
            return false;
        i->exec = digit == 3 ? cpu_far_call_m : cpu_far_jmp_m;
        i->ends_block = 1;
        i->cost_class = CPU_COST_BRANCH;
        return true;
    case 6:
        if (i->mode == CPU_MODE_LONG64)
            i->osize = ((i->pfx & CPU_PFX_OSIZE) && !(i->pfx & CPU_PFX_REXW)) ? 2 : 8;
        i->exec = push_rm;
        i->cost_class = CPU_COST_STACK;
        return true;
    default:
        return false;
    }
}

/* ---- LOOP, LOOPE, LOOPNE, JRCXZ (SDM Vol. 2 "LOOP/LOOPcc", "Jcc") ----------------- */

/* The count is RCX, or ECX with a 32-bit address size (67), written back
 * at that size; no flags change. */
static inline void loop_step(cpu_t *c, const cpu_insn *i, bool cond)
{
    uint64_t n = c->gpr[CPU_RCX] - 1;
    if (i->asize == 4)
        n = (uint32_t)n;
    bool take = n != 0 && cond;
    uint64_t target = c->next_rip + i->imm;
    if (take && unlikely(!cpu_canonical(target)))
        cpu_gp0(c);
    c->gpr[CPU_RCX] = n;
    if (take)
        c->next_rip = target;
}

static void loop(cpu_t *c, const cpu_insn *i)
{
    loop_step(c, i, true);
}

static void loope(cpu_t *c, const cpu_insn *i)
{
    loop_step(c, i, zf_now(c));
}

static void loopne(cpu_t *c, const cpu_insn *i)
{
    loop_step(c, i, !zf_now(c));
}

static void jrcxz(cpu_t *c, const cpu_insn *i)
{
    uint64_t n = i->asize == 4 ? (uint32_t)c->gpr[CPU_RCX] : c->gpr[CPU_RCX];
    if (n == 0)
        cpu_branch_to(c, c->next_rip + i->imm);
}

static bool decode_loop(cpu_insn *i) /* E0..E3 */
{
    static const cpu_exec_fn fns[4] = {loopne, loope, loop, jrcxz};
    i->exec = fns[i->op - 0xE0];
    return true;
}

/* ---- flag control (SDM Vol. 2 "CLC", "STC", "CMC", "CLD", "STD") --------------------- */

static void clc(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    cpu_flags_set(c, CPU_FL_CF, 0);
}

static void stc(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    cpu_flags_set(c, CPU_FL_CF, CPU_FL_CF);
}

static void cmc(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    cpu_flags_set(c, CPU_FL_CF, ~cpu_get_rflags(c));
}

/* DF is never lazy: it lives in rflags all the time. */
static void cld(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    c->rflags &= ~(uint64_t)CPU_FL_DF;
}

static void std_(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    c->rflags |= CPU_FL_DF;
}

static bool decode_flag_op(cpu_insn *i) /* F5, F8, F9, FC, FD */
{
    switch (i->op) {
    case 0xF5: i->exec = cmc; break;
    case 0xF8: i->exec = clc; break;
    case 0xF9: i->exec = stc; break;
    case 0xFC: i->exec = cld; break;
    default: i->exec = std_; break;
    }
    return true;
}

/* ---- NOPs ---------------------------------------------------------------------------- */

static void nop(cpu_t *c, const cpu_insn *i)
{
    (void)c;
    (void)i;
}

/* 0F 1F /r is the multi-byte NOP; 0F 18..1E are hint spaces (PREFETCHh,
 * reserved NOPs, MPX and CET encodings such as ENDBR64 = F3 0F 1E FA) and
 * 0F 0D is PREFETCHW: all execute as NOPs (a prefetch never faults; the
 * others do nothing on a CPU that does not enumerate their features) (SDM
 * Vol. 2 "NOP", "PREFETCHh", "PREFETCHW", "ENDBR64", appendix A "reserved
 * NOP"). Nothing is accessed, so the memory operand adds no cost. */
static bool decode_nop_modrm(cpu_insn *i)
{
    i->has_mem = 0;
    i->exec = nop;
    return true;
}

/* ---- registration ------------------------------------------------------------------------ */

void cpu_register_control(cpu_opmap *m)
{
    const unsigned BR = CPU_OPF_FORCE64 | CPU_OPF_ENDS;

    for (unsigned cc = 0; cc < 16; cc++) {
        cpu_op(m, 0, 0x70 + cc, decode_jcc, BR, CPU_IMM_B, CPU_COST_BRANCH);
        cpu_op(m, 1, 0x80 + cc, decode_jcc, BR, CPU_IMM_Z, CPU_COST_BRANCH);
    }
    cpu_op(m, 0, 0xEB, decode_branch, BR, CPU_IMM_B, CPU_COST_BRANCH);
    cpu_op(m, 0, 0xE9, decode_branch, BR, CPU_IMM_Z, CPU_COST_BRANCH);
    cpu_op(m, 0, 0xE8, decode_branch, BR, CPU_IMM_Z, CPU_COST_BRANCH);
    cpu_op(m, 0, 0xC3, decode_branch, BR, CPU_IMM_NONE, CPU_COST_BRANCH);
    cpu_op(m, 0, 0xC2, decode_branch, BR, CPU_IMM_W, CPU_COST_BRANCH);
    /* Direct far CALL/JMP (9A, EA) are invalid in 64-bit mode (SDM Vol. 2
     * appendix A, "i64"). */
    cpu_op(m, 0, 0x9A, NULL, CPU_OPF_INVALID64, CPU_IMM_PTR, CPU_COST_BRANCH);
    cpu_op(m, 0, 0xEA, NULL, CPU_OPF_INVALID64, CPU_IMM_PTR, CPU_COST_BRANCH);
    for (unsigned op = 0xE0; op <= 0xE3; op++)
        cpu_op(m, 0, op, decode_loop, BR, CPU_IMM_B, CPU_COST_BRANCH);

    cpu_op(m, 0, 0xF5, decode_flag_op, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xF8, decode_flag_op, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xF9, decode_flag_op, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xFC, decode_flag_op, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xFD, decode_flag_op, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);

    cpu_op(m, 1, 0x0D, decode_nop_modrm, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SIMPLE);
    for (unsigned op = 0x18; op <= 0x1F; op++)
        cpu_op(m, 1, op, decode_nop_modrm, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SIMPLE);
}
