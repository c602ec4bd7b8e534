/*
 * cpu_legacy_ops.c — instructions that exist only outside 64-bit mode, or
 * whose encodings mean something else there: the BCD adjustments (DAA, DAS,
 * AAA, AAS, AAM, AAD), BOUND, ARPL, LDS/LES, and the far-pointer loads
 * LSS/LFS/LGS (valid in every mode). SDM Vol. 2, each instruction's page.
 *
 * 27, 2F, 37, 3F, D4 and D5 are "i64" (SDM Vol. 2 appendix A): #UD in
 * 64-bit mode, where the decoder refuses them before their decode function
 * runs. 62, C4 and C5 are EVEX and VEX prefixes in 64-bit mode (and C4/C5
 * with a register ModRM outside it): not implemented, reported as such.
 */
#include "cpu/cpu_internal.h"

/* ---- BCD adjustments (SDM Vol. 2 "DAA", "DAS", "AAA", "AAS", "AAM", "AAD") ---- */

/* The six arithmetic flags after a BCD instruction: CF and AF as computed,
 * SF, ZF, PF from the result byte. The flags the SDM leaves undefined (OF
 * for DAA/DAS; OF, SF, ZF, PF for AAA/AAS; OF, AF, CF for AAM/AAD) are set
 * this way too and must not be relied on (docs/cpu-model.md). */
static void bcd_flags(cpu_t *c, uint8_t res, bool cf, bool af)
{
    uint64_t f = (cf ? CPU_FL_CF : 0) | (af ? CPU_FL_AF : 0) | (res == 0 ? CPU_FL_ZF : 0) |
                 ((res & 0x80) ? CPU_FL_SF : 0) | (cpu_parity(res) ? CPU_FL_PF : 0);
    cpu_flags_set(c, CPU_FL_ARITH, f);
}

static void exec_daa(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    uint64_t fl = cpu_get_rflags(c);
    uint8_t old = (uint8_t)c->gpr[CPU_RAX], al = old;
    bool old_cf = (fl & CPU_FL_CF) != 0, af = false, cf;
    if ((al & 0xF) > 9 || (fl & CPU_FL_AF)) {
        al = (uint8_t)(al + 6);
        af = true;
    }
    if (old > 0x99 || old_cf) {
        al = (uint8_t)(al + 0x60);
        cf = true;
    } else {
        cf = false;
    }
    cpu_reg_set(c, CPU_RAX, 1, al);
    bcd_flags(c, al, cf, af);
}

static void exec_das(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    uint64_t fl = cpu_get_rflags(c);
    uint8_t old = (uint8_t)c->gpr[CPU_RAX], al = old;
    bool old_cf = (fl & CPU_FL_CF) != 0, af = false, cf = false;
    if ((al & 0xF) > 9 || (fl & CPU_FL_AF)) {
        cf = old_cf || al < 6; /* the borrow of AL - 6 */
        al = (uint8_t)(al - 6);
        af = true;
    }
    if (old > 0x99 || old_cf) {
        al = (uint8_t)(al - 0x60);
        cf = true;
    }
    cpu_reg_set(c, CPU_RAX, 1, al);
    bcd_flags(c, al, cf, af);
}

/* AAA: AX + 106H (processors after the 80286), AL keeps its low nibble. */
static void exec_aaa(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    uint16_t ax = (uint16_t)c->gpr[CPU_RAX];
    bool adj = (ax & 0xF) > 9 || (cpu_get_rflags(c) & CPU_FL_AF);
    if (adj)
        ax = (uint16_t)(ax + 0x106);
    ax &= 0xFF0F;
    cpu_reg_set(c, CPU_RAX, 2, ax);
    bcd_flags(c, (uint8_t)ax, adj, adj);
}

/* AAS: AX - 6, then AH - 1. */
static void exec_aas(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    uint16_t ax = (uint16_t)c->gpr[CPU_RAX];
    bool adj = (ax & 0xF) > 9 || (cpu_get_rflags(c) & CPU_FL_AF);
    if (adj) {
        ax = (uint16_t)(ax - 6);
        ax = (uint16_t)(ax - 0x100);
    }
    ax &= 0xFF0F;
    cpu_reg_set(c, CPU_RAX, 2, ax);
    bcd_flags(c, (uint8_t)ax, adj, adj);
}

/* AAM imm8: AH = AL / imm8, AL = AL mod imm8; imm8 = 0 is #DE. */
static void exec_aam(cpu_t *c, const cpu_insn *i)
{
    uint8_t base = (uint8_t)i->imm, al = (uint8_t)c->gpr[CPU_RAX];
    if (base == 0)
        cpu_fault_noerr(c, CPU_EXC_DE);
    uint16_t ax = (uint16_t)(((al / base) << 8) | (al % base));
    cpu_reg_set(c, CPU_RAX, 2, ax);
    bcd_flags(c, (uint8_t)ax, false, false);
}

/* AAD imm8: AL = AL + AH * imm8 (8 bits), AH = 0. */
static void exec_aad(cpu_t *c, const cpu_insn *i)
{
    uint16_t ax = (uint16_t)c->gpr[CPU_RAX];
    uint8_t al = (uint8_t)((ax & 0xFF) + (ax >> 8) * (uint8_t)i->imm);
    cpu_reg_set(c, CPU_RAX, 2, al);
    bcd_flags(c, al, false, false);
}

static bool decode_bcd(cpu_insn *i)
{
    switch (i->op) {
    case 0x27: i->exec = exec_daa; break;
    case 0x2F: i->exec = exec_das; break;
    case 0x37: i->exec = exec_aaa; break;
    case 0x3F: i->exec = exec_aas; break;
    case 0xD4: i->exec = exec_aam; break;
    default: i->exec = exec_aad; break;
    }
    return true;
}

/* ---- BOUND (SDM Vol. 2 "BOUND") -------------------------------------------------- */

/* The signed index must lie within [lower, upper] of the memory pair, else
 * #BR (a fault: RIP stays at the BOUND). */
static void exec_bound(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize, sh = 64 - 8 * s;
    uint64_t ea = cpu_ea(c, i);
    int64_t lo = (int64_t)(cpu_read(c, ea, s) << sh) >> sh;
    int64_t hi = (int64_t)(cpu_read(c, (uint32_t)(ea + s), s) << sh) >> sh;
    int64_t idx = (int64_t)(cpu_reg_get(c, i->reg, s) << sh) >> sh;
    if (idx < lo || idx > hi)
        cpu_fault_noerr(c, CPU_EXC_BR);
}

/* 62: BOUND outside 64-bit mode (a register operand is #UD); the EVEX
 * prefix in 64-bit mode, not implemented. */
static bool decode_bound(cpu_insn *i)
{
    if (i->mode == CPU_MODE_LONG64) {
        i->exec = cpu_exec_unimplemented;
        i->ends_block = 1;
        return true;
    }
    if (!i->has_mem)
        return false;
    i->exec = exec_bound;
    return true;
}

/* ---- ARPL (SDM Vol. 2 "ARPL") ------------------------------------------------------- */

/* r/m16's RPL is raised to r16's: ZF = 1 when it changed, else ZF = 0; no
 * other flag changes. Real mode does not recognise it (#UD). */
static void exec_arpl(cpu_t *c, const cpu_insn *i)
{
    if (!(c->cr0 & CPU_CR0_PE))
        cpu_ud(c);
    uint64_t va = i->has_mem ? cpu_ea(c, i) : 0;
    uint16_t dst = (uint16_t)(i->has_mem ? cpu_read(c, va, 2) : cpu_reg_get(c, i->rm, 2));
    uint16_t src = (uint16_t)cpu_reg_get(c, i->reg, 2);
    bool raise = (dst & 3) < (src & 3);
    if (raise) {
        dst = (uint16_t)((dst & ~3u) | (src & 3u));
        if (i->has_mem)
            cpu_write(c, va, 2, dst);
        else
            cpu_reg_set(c, i->rm, 2, dst);
    }
    cpu_flags_set(c, CPU_FL_ZF, raise ? CPU_FL_ZF : 0);
}

/* ---- LDS, LES, LSS, LFS, LGS (SDM Vol. 2 "LDS/LES/LFS/LGS/LSS") ---------------- */

/* m16:16, m16:32 or m16:64: the offset at the operand size, then the
 * selector. The segment register is loaded first (with MOV Sreg's checks
 * and faults), so a fault leaves the general register unchanged. */
static void exec_lxs(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t ea = cpu_ea(c, i);
    uint64_t off = cpu_read(c, ea, s);
    uint64_t sel_va = ea + s;
    if (cpu_mode_legacy(i->mode))
        sel_va = (uint32_t)sel_va;
    uint16_t sel = (uint16_t)cpu_read(c, sel_va, 2);
    cpu_load_segment(c, i->sub, sel);
    cpu_reg_set(c, i->reg, s, off);
}

/* C4 (LES) and C5 (LDS): VEX prefixes in 64-bit mode and, with a register
 * ModRM, outside it too (not implemented). */
static bool decode_les_lds(cpu_insn *i)
{
    if (i->mode == CPU_MODE_LONG64 || !i->has_mem) {
        i->exec = cpu_exec_unimplemented;
        i->ends_block = 1;
        return true;
    }
    i->sub = i->op == 0xC4 ? CPU_ES : CPU_DS;
    i->exec = exec_lxs;
    return true;
}

/* 0F B2 (LSS), 0F B4 (LFS), 0F B5 (LGS); a register operand is #UD. */
static bool decode_lss_lfs_lgs(cpu_insn *i)
{
    if (!i->has_mem)
        return false;
    i->sub = i->op == 0xB2 ? CPU_SS : i->op == 0xB4 ? CPU_FS : CPU_GS;
    i->exec = exec_lxs;
    return true;
}

/* ARPL's handler for cpu_legacy_fixup (63 is MOVSXD in 64-bit mode). */
cpu_exec_fn cpu_legacy_arpl(void)
{
    return exec_arpl;
}

void cpu_register_legacy(cpu_opmap *m)
{
    const unsigned i64 = CPU_OPF_INVALID64;
    cpu_op(m, 0, 0x27, decode_bcd, i64, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x2F, decode_bcd, i64, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x37, decode_bcd, i64, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x3F, decode_bcd, i64, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xD4, decode_bcd, i64, CPU_IMM_UB, CPU_COST_DIV);
    cpu_op(m, 0, 0xD5, decode_bcd, i64, CPU_IMM_UB, CPU_COST_MUL);
    cpu_op(m, 0, 0x62, decode_bound, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xC4, decode_les_lds, CPU_OPF_MODRM | CPU_OPF_ENDS, CPU_IMM_NONE,
           CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xC5, decode_les_lds, CPU_OPF_MODRM | CPU_OPF_ENDS, CPU_IMM_NONE,
           CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xB2, decode_lss_lfs_lgs, CPU_OPF_MODRM | CPU_OPF_ENDS, CPU_IMM_NONE,
           CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xB4, decode_lss_lfs_lgs, CPU_OPF_MODRM | CPU_OPF_ENDS, CPU_IMM_NONE,
           CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xB5, decode_lss_lfs_lgs, CPU_OPF_MODRM | CPU_OPF_ENDS, CPU_IMM_NONE,
           CPU_COST_SIMPLE);
}
