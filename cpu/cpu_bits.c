/*
 * cpu_bits.c — bit instructions: BT, BTS, BTR, BTC, BSF, BSR, LZCNT, TZCNT,
 * POPCNT, SETcc and CMOVcc (SDM Vol. 2A/2B, the pages of each).
 *
 * Flags the SDM leaves undefined are left unchanged. That is what the AMD
 * hosts we compare against do for BT* and BSF/BSR (ZF-only, CF-only); Intel
 * hardware is not documented for them, and the differential tests mask them.
 */
#include "cpu/cpu_internal.h"

/* Which operation a bit-test handler performs (also 0F BA /4../7 - 4). */
enum { BIT_TEST, BIT_SET, BIT_RESET, BIT_COMPLEMENT };

static inline uint64_t bit_apply(unsigned op, uint64_t v, uint64_t m)
{
    switch (op) {
    case BIT_SET:
        return v | m;
    case BIT_RESET:
        return v & ~m;
    case BIT_COMPLEMENT:
        return v ^ m;
    default:
        return v;
    }
}

static inline void set_cf(cpu_t *c, bool cf)
{
    cpu_flags_set(c, CPU_FL_CF, cf ? CPU_FL_CF : 0);
}

static inline void set_zf(cpu_t *c, bool zf)
{
    cpu_flags_set(c, CPU_FL_ZF, zf ? CPU_FL_ZF : 0);
}

/*
 * SDM Vol. 2A "BT—Bit Test" (and BTS/BTR/BTC) with a register operand: the
 * bit offset is taken modulo the operand width. CF = the selected bit.
 */
static inline void bit_test_reg(cpu_t *c, const cpu_insn *i, unsigned op, uint64_t off)
{
    unsigned sz = i->osize, bit = (unsigned)(off & (sz * 8 - 1));
    uint64_t v = cpu_reg_get(c, i->rm, sz);
    if (op != BIT_TEST)
        cpu_reg_set(c, i->rm, sz, bit_apply(op, v, 1ull << bit));
    set_cf(c, (v >> bit) & 1);
}

/*
 * SDM Vol. 2A "BT—Bit Test", memory operand. With a register bit offset the
 * offset is a signed integer of the operand size: the operand addressed is
 * at EA + size * floor(offset / width) (SDM Vol. 1 3.4.3 "bit base / bit
 * offset"), which can lie far before or after the ModRM address. With an
 * immediate the offset is taken modulo the width.
 */
static inline void bit_test_mem(cpu_t *c, const cpu_insn *i, unsigned op, uint64_t off,
                                bool reg_offset)
{
    unsigned sz = i->osize, lg = sz == 2 ? 4 : sz == 4 ? 5 : 6;
    uint64_t a = cpu_ea(c, i);
    if (reg_offset) {
        unsigned sh = 64 - sz * 8;
        int64_t so = (int64_t)(off << sh) >> sh;
        uint64_t segbase = (i->pfx & CPU_PFX_SEG) ? c->seg[i->seg].base : 0;
        a = a - segbase + (uint64_t)((so >> lg) * (int64_t)sz);
        if (i->asize == 4)
            a = (uint32_t)a;
        a += segbase;
    }
    unsigned bit = (unsigned)(off & (sz * 8 - 1));
    uint64_t v = cpu_read(c, a, sz);
    if (op != BIT_TEST)
        cpu_write(c, a, sz, bit_apply(op, v, 1ull << bit));
    set_cf(c, (v >> bit) & 1);
}

#define BIT_HANDLERS(name, op)                                                   \
    static void exec_##name##_rr(cpu_t *c, const cpu_insn *i)                    \
    {                                                                            \
        bit_test_reg(c, i, op, c->gpr[i->reg]);                                  \
    }                                                                            \
    static void exec_##name##_mr(cpu_t *c, const cpu_insn *i)                    \
    {                                                                            \
        bit_test_mem(c, i, op, cpu_reg_get(c, i->reg, i->osize), true);          \
    }                                                                            \
    static void exec_##name##_ri(cpu_t *c, const cpu_insn *i)                    \
    {                                                                            \
        bit_test_reg(c, i, op, i->imm);                                          \
    }                                                                            \
    static void exec_##name##_mi(cpu_t *c, const cpu_insn *i)                    \
    {                                                                            \
        bit_test_mem(c, i, op, i->imm, false);                                   \
    }

BIT_HANDLERS(bt, BIT_TEST)
BIT_HANDLERS(bts, BIT_SET)
BIT_HANDLERS(btr, BIT_RESET)
BIT_HANDLERS(btc, BIT_COMPLEMENT)

static const cpu_exec_fn bit_fns[4][4] = {
    {exec_bt_rr, exec_bt_mr, exec_bt_ri, exec_bt_mi},
    {exec_bts_rr, exec_bts_mr, exec_bts_ri, exec_bts_mi},
    {exec_btr_rr, exec_btr_mr, exec_btr_ri, exec_btr_mi},
    {exec_btc_rr, exec_btc_mr, exec_btc_ri, exec_btc_mi},
};

static void bit_pick(cpu_insn *i, unsigned op, bool imm)
{
    i->exec = bit_fns[op][(imm ? 2 : 0) + (i->has_mem ? 1 : 0)];
    if (i->pfx & CPU_PFX_LOCK)
        i->cost_class = CPU_COST_ATOMIC;
}

/* 0F A3 / AB / B3 / BB: BT, BTS, BTR, BTC r/m, r. */
static bool decode_bit_reg(cpu_insn *i)
{
    unsigned op = i->op == 0xA3 ? BIT_TEST : i->op == 0xAB ? BIT_SET
                : i->op == 0xB3 ? BIT_RESET : BIT_COMPLEMENT;
    bit_pick(i, op, false);
    return true;
}

/* 0F BA /4../7 ib (group 8); /0../3 are undefined (#UD). LOCK BT is #UD. */
static bool decode_bit_imm(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    if (digit < 4 || (digit == 4 && (i->pfx & CPU_PFX_LOCK)))
        return false;
    bit_pick(i, digit - 4, true);
    return true;
}

/*
 * SDM Vol. 2A "BSF—Bit Scan Forward" / "BSR—Bit Scan Reverse". A zero
 * source sets ZF and leaves the destination as Intel hardware does: its
 * value unchanged, but a 32-bit destination still has bits 63:32 cleared
 * (the write happens; AMD documents "unchanged" and keeps them).
 */
static inline void bit_scan_zero(cpu_t *c, const cpu_insn *i)
{
    if (i->osize == 4)
        c->gpr[i->reg] = (uint32_t)c->gpr[i->reg];
    set_zf(c, true);
}

static void exec_bsf(cpu_t *c, const cpu_insn *i)
{
    uint64_t s = cpu_rm_read(c, i, i->osize);
    if (!s) {
        bit_scan_zero(c, i);
        return;
    }
    cpu_reg_set(c, i->reg, i->osize, (uint64_t)__builtin_ctzll(s));
    set_zf(c, false);
}

static void exec_bsr(cpu_t *c, const cpu_insn *i)
{
    uint64_t s = cpu_rm_read(c, i, i->osize);
    if (!s) {
        bit_scan_zero(c, i);
        return;
    }
    cpu_reg_set(c, i->reg, i->osize, (uint64_t)(63 - __builtin_clzll(s)));
    set_zf(c, false);
}

/* SDM Vol. 2A "LZCNT" and Vol. 2B "TZCNT": CF = source is zero, ZF = result
 * is zero; the count of a zero source is the operand width. */
static void exec_lzcnt(cpu_t *c, const cpu_insn *i)
{
    unsigned w = i->osize * 8u;
    uint64_t s = cpu_rm_read(c, i, i->osize);
    uint64_t r = s ? (uint64_t)(__builtin_clzll(s) - (64 - (int)w)) : w;
    cpu_reg_set(c, i->reg, i->osize, r);
    cpu_flags_set(c, CPU_FL_CF | CPU_FL_ZF, (s ? 0 : CPU_FL_CF) | (r ? 0 : CPU_FL_ZF));
}

static void exec_tzcnt(cpu_t *c, const cpu_insn *i)
{
    unsigned w = i->osize * 8u;
    uint64_t s = cpu_rm_read(c, i, i->osize);
    uint64_t r = s ? (uint64_t)__builtin_ctzll(s) : w;
    cpu_reg_set(c, i->reg, i->osize, r);
    cpu_flags_set(c, CPU_FL_CF | CPU_FL_ZF, (s ? 0 : CPU_FL_CF) | (r ? 0 : CPU_FL_ZF));
}

/* SDM Vol. 2B "POPCNT": ZF = source is zero; OF, SF, AF, CF, PF cleared. */
static void exec_popcnt(cpu_t *c, const cpu_insn *i)
{
    uint64_t s = cpu_rm_read(c, i, i->osize);
    cpu_reg_set(c, i->reg, i->osize, (uint64_t)__builtin_popcountll(s));
    cpu_flags_set(c, CPU_FL_ARITH, s ? 0 : CPU_FL_ZF);
}

/* 0F BC: BSF, or TZCNT with F3. 0F BD: BSR, or LZCNT with F3. */
static bool decode_bit_scan(cpu_insn *i)
{
    bool rep = (i->pfx & CPU_PFX_REP) != 0;
    if (i->op == 0xBC)
        i->exec = rep ? exec_tzcnt : exec_bsf;
    else
        i->exec = rep ? exec_lzcnt : exec_bsr;
    return true;
}

/* F3 0F B8: POPCNT. Without F3 it is JMPE (IA-64 only): #UD. */
static bool decode_popcnt(cpu_insn *i)
{
    if (!(i->pfx & CPU_PFX_REP))
        return false;
    i->exec = exec_popcnt;
    return true;
}

/* SDM Vol. 2B "SETcc": the byte r/m becomes 1 when the condition holds. */
static void exec_setcc(cpu_t *c, const cpu_insn *i)
{
    cpu_rm_write(c, i, 1, cpu_cond(c, i->sub));
}

static bool decode_setcc(cpu_insn *i)
{
    i->sub = i->op & 15;
    i->exec = exec_setcc;
    return true;
}

/*
 * SDM Vol. 2A "CMOVcc": the source is read (and may fault) whatever the
 * condition; a 32-bit destination is zero-extended even when the condition
 * is false (the register is written with its own low half).
 */
static void exec_cmovcc(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = cpu_rm_read(c, i, i->osize);
    if (cpu_cond(c, i->sub))
        cpu_reg_set(c, i->reg, i->osize, v);
    else if (i->osize == 4)
        c->gpr[i->reg] = (uint32_t)c->gpr[i->reg];
}

static void exec_cmovcc_rr64(cpu_t *c, const cpu_insn *i)
{
    if (cpu_cond(c, i->sub))
        c->gpr[i->reg] = c->gpr[i->rm];
}

static bool decode_cmovcc(cpu_insn *i)
{
    i->sub = i->op & 15;
    i->exec = (!i->has_mem && i->osize == 8) ? exec_cmovcc_rr64 : exec_cmovcc;
    return true;
}

void cpu_register_bits(cpu_opmap *m)
{
    const unsigned rmw = CPU_OPF_MODRM | CPU_OPF_LOCKOK;
    cpu_op(m, 1, 0xA3, decode_bit_reg, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xAB, decode_bit_reg, rmw, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xB3, decode_bit_reg, rmw, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xBB, decode_bit_reg, rmw, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xBA, decode_bit_imm, rmw, CPU_IMM_UB, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xBC, decode_bit_scan, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xBD, decode_bit_scan, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xB8, decode_popcnt, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
    for (unsigned cc = 0; cc < 16; cc++) {
        cpu_op(m, 1, 0x90 + cc, decode_setcc, CPU_OPF_MODRM | CPU_OPF_BYTE, CPU_IMM_NONE,
               CPU_COST_SIMPLE);
        cpu_op(m, 1, 0x40 + cc, decode_cmovcc, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SIMPLE);
    }
}
