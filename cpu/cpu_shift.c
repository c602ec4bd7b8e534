/*
 * cpu_shift.c — shifts and rotates (SDM Vol. 2 "RCL/RCR/ROL/ROR",
 * "SAL/SAR/SHL/SHR", "SHLD", "SHRD").
 *
 * Counts are masked to 5 bits (6 with a 64-bit operand); a masked count of
 * 0 changes no flag. Flags the SDM leaves undefined get the values of the
 * count-1 formulas (OF), 0 (AF), and the logical "last bit shifted out"
 * (CF beyond the operand width), as P6-family and later Intel processors
 * are known to produce. A 16-bit SHLD/SHRD with a count above 16 has an
 * undefined result; it is computed as P6 and later Intel processors do, by
 * shifting the 48-bit value dest:src:dest (the Pentium used dest:src:src).
 * None of these undefined outcomes could be checked against Intel hardware
 * here (the development host is AMD); the differential test masks them.
 */
#include "cpu/cpu_internal.h"

/* Group 2 digits (SDM Vol. 2 table A-6); /6 is an alias of SHL. */
enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static inline uint64_t msb(uint64_t v, unsigned bits)
{
    return (v >> (bits - 1)) & 1;
}

/* SF, ZF and PF of a result. */
static inline uint64_t szp_flags(uint64_t res, unsigned bits)
{
    uint64_t f = 0;
    if (res == 0)
        f |= CPU_FL_ZF;
    if (msb(res, bits))
        f |= CPU_FL_SF;
    if (cpu_parity(res))
        f |= CPU_FL_PF;
    return f;
}

static inline uint64_t cf_of(uint64_t cf, uint64_t of)
{
    return (cf ? CPU_FL_CF : 0) | (of ? CPU_FL_OF : 0);
}

/* Replaces all six arithmetic flags: the lazy state is dropped, nothing
 * needs materialising (cpu_flags_set's full-mask case, inlined). */
static inline void set_arith(cpu_t *c, uint64_t f)
{
    c->rflags = (c->rflags & ~(uint64_t)CPU_FL_ARITH) | f;
    c->lf_op = CPU_LF_NONE;
}

/* The operand of a read-modify-write r/m instruction; *va gets its
 * address when it is in memory. size and mem are constants in the
 * register-form handlers. */
static inline __attribute__((always_inline)) uint64_t rmw_read(cpu_t *c, const cpu_insn *i,
                                                               unsigned size, bool mem,
                                                               uint64_t *va)
{
    if (!mem)
        return cpu_reg_get(c, i->rm, size);
    *va = cpu_ea(c, i);
    return cpu_read(c, *va, size);
}

static inline __attribute__((always_inline)) void rmw_write(cpu_t *c, const cpu_insn *i,
                                                            unsigned size, bool mem, uint64_t va,
                                                            uint64_t v)
{
    if (!mem)
        cpu_reg_set(c, i->rm, size, v);
    else
        cpu_write(c, va, size, v);
}

/*
 * One group-2 operation with a raw count (SDM Vol. 2 RCL/RCR/ROL/ROR and
 * SAL/SAR/SHL/SHR "Operation"). op is a compile-time constant in every
 * handler, and so are size and mem in the 32/64-bit register forms, so the
 * switches fold away.
 */
static inline __attribute__((always_inline)) void grp2_exec(cpu_t *c, const cpu_insn *i,
                                                            unsigned op, unsigned count,
                                                            unsigned size, bool mem)
{
    unsigned bits = size * 8;
    uint64_t mask = cpu_size_mask(size), va = 0;
    uint64_t v = rmw_read(c, i, size, mem, &va);
    uint64_t r, cf, of;

    count &= size == 8 ? 63 : 31;
    if (count == 0) {
        /* No flag changes; a 32-bit register destination is still written
         * and so zero-extended, as on hardware. */
        if (!mem)
            cpu_reg_set(c, i->rm, size, v);
        return;
    }
    switch (op) {
    case SH_ROL: {
        unsigned n = count & (bits - 1);
        r = n ? ((v << n) | (v >> (bits - n))) & mask : v;
        cf = r & 1;
        of = msb(r, bits) ^ cf;
        rmw_write(c, i, size, mem, va, r);
        cpu_flags_set(c, CPU_FL_CF | CPU_FL_OF, cf_of(cf, of));
        return;
    }
    case SH_ROR: {
        unsigned n = count & (bits - 1);
        r = n ? ((v >> n) | (v << (bits - n))) & mask : v;
        cf = msb(r, bits);
        of = cf ^ msb(r, bits - 1);
        rmw_write(c, i, size, mem, va, r);
        cpu_flags_set(c, CPU_FL_CF | CPU_FL_OF, cf_of(cf, of));
        return;
    }
    case SH_RCL:
    case SH_RCR: {
        /* Rotation through the (bits + 1)-bit ring CF:dest; 8- and 16-bit
         * counts are reduced modulo 9 and 17. */
        unsigned w = bits + 1, n = count % w;
        uint64_t cin = cpu_cond(c, 2) ? 1 : 0; /* condition B = CF */
        unsigned __int128 ring = ((unsigned __int128)cin << bits) | v;
        unsigned __int128 rmask = ((unsigned __int128)1 << w) - 1;
        if (n) {
            if (op == SH_RCL)
                ring = ((ring << n) | (ring >> (w - n))) & rmask;
            else
                ring = ((ring >> n) | (ring << (w - n))) & rmask;
        }
        r = (uint64_t)ring & mask;
        cf = (uint64_t)(ring >> bits) & 1;
        of = op == SH_RCL ? msb(r, bits) ^ cf : msb(r, bits) ^ msb(r, bits - 1);
        rmw_write(c, i, size, mem, va, r);
        cpu_flags_set(c, CPU_FL_CF | CPU_FL_OF, cf_of(cf, of));
        return;
    }
    case SH_SHL:
    case SH_SAL:
        r = (v << count) & mask;
        cf = count <= bits ? (v >> (bits - count)) & 1 : 0;
        of = msb(r, bits) ^ cf;
        break;
    case SH_SHR:
        r = v >> count;
        cf = (v >> (count - 1)) & 1;
        /* Count 1: the original sign; larger counts (OF undefined) use the
         * top two result bits, which give the same value for count 1. */
        of = msb(r, bits) ^ msb(r, bits - 1);
        break;
    default: { /* SAR */
        unsigned sh = 64 - bits;
        int64_t sv = (int64_t)(v << sh) >> sh;
        r = (uint64_t)(sv >> count) & mask;
        cf = (uint64_t)(sv >> (count - 1)) & 1;
        of = 0;
        break;
    }
    }
    rmw_write(c, i, size, mem, va, r);
    set_arith(c, szp_flags(r, bits) | cf_of(cf, of));
}

/* One handler per operation and count source: generic (any size, register
 * or memory), and for 32- and 64-bit register operands, the forms compiled
 * code runs in loops. */
#define GRP2_FORM(name, op, src, count, tag, size, mem)                   \
    static void grp2_##name##_##src##tag(cpu_t *c, const cpu_insn *i)    \
    {                                                                      \
        grp2_exec(c, i, op, count, size, mem);                             \
    }
#define GRP2_COUNT_IMM ((unsigned)i->imm)
#define GRP2_COUNT_CL ((unsigned)c->gpr[CPU_RCX] & 0xFF)
#define GRP2(name, op)                                                     \
    GRP2_FORM(name, op, imm, GRP2_COUNT_IMM, , i->osize, i->has_mem)       \
    GRP2_FORM(name, op, cl, GRP2_COUNT_CL, , i->osize, i->has_mem)         \
    GRP2_FORM(name, op, imm, GRP2_COUNT_IMM, _r4, 4, false)                \
    GRP2_FORM(name, op, cl, GRP2_COUNT_CL, _r4, 4, false)                  \
    GRP2_FORM(name, op, imm, GRP2_COUNT_IMM, _r8, 8, false)                \
    GRP2_FORM(name, op, cl, GRP2_COUNT_CL, _r8, 8, false)
GRP2(rol, SH_ROL)
GRP2(ror, SH_ROR)
GRP2(rcl, SH_RCL)
GRP2(rcr, SH_RCR)
GRP2(shl, SH_SHL)
GRP2(shr, SH_SHR)
GRP2(sar, SH_SAR)

#define GRP2_ROW(src, tag)                                                              \
    {grp2_rol_##src##tag, grp2_ror_##src##tag, grp2_rcl_##src##tag, grp2_rcr_##src##tag, \
     grp2_shl_##src##tag, grp2_shr_##src##tag, grp2_shl_##src##tag, grp2_sar_##src##tag}
/* [form][digit]: form = 2 * (0 generic, 1 32-bit register, 2 64-bit
 * register) + (1 for a CL count). */
static const cpu_exec_fn grp2_tab[6][8] = {GRP2_ROW(imm, ), GRP2_ROW(cl, ),
                                           GRP2_ROW(imm, _r4), GRP2_ROW(cl, _r4),
                                           GRP2_ROW(imm, _r8), GRP2_ROW(cl, _r8)};

/* C0/C1 (Ib), D0/D1 (count 1), D2/D3 (CL). */
static bool decode_grp2(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    unsigned form = 0;
    bool cl = i->op == 0xD2 || i->op == 0xD3;
    i->sub = (uint8_t)digit;
    if (i->op == 0xD0 || i->op == 0xD1)
        i->imm = 1;
    if (!i->has_mem && i->osize >= 4)
        form = i->osize == 4 ? 2 : 4;
    i->exec = grp2_tab[form + cl][digit];
    return true;
}

/*
 * SHLD/SHRD (SDM Vol. 2 "SHLD", "SHRD"): dest r/m shifted with bits from
 * the register source. The double-width value is dest:src for SHLD and
 * src:dest for SHRD; a 16-bit operand uses dest:src:dest (48 bits) so that
 * counts 17..31 behave as on Intel processors.
 */
static inline __attribute__((always_inline)) void shxd_exec(cpu_t *c, const cpu_insn *i,
                                                            bool left, unsigned count)
{
    unsigned size = i->osize, bits = size * 8;
    uint64_t mask = cpu_size_mask(size), va = 0;
    uint64_t v = rmw_read(c, i, size, i->has_mem, &va);
    uint64_t s = cpu_reg_get(c, i->reg, size);
    uint64_t r, cf;

    count &= size == 8 ? 63 : 31;
    if (count == 0) {
        if (!i->has_mem)
            cpu_reg_set(c, i->rm, size, v);
        return;
    }
    unsigned __int128 x;
    unsigned w;
    if (size == 2) {
        w = 48;
        x = ((unsigned __int128)v << 32) | (s << 16) | v;
    } else {
        w = 2 * bits;
        x = left ? ((unsigned __int128)v << bits) | s : ((unsigned __int128)s << bits) | v;
    }
    if (left) {
        r = (uint64_t)(x >> (w - bits - count)) & mask;
        cf = (uint64_t)(x >> (w - count)) & 1;
    } else {
        r = (uint64_t)(x >> count) & mask;
        cf = (uint64_t)(x >> (count - 1)) & 1;
    }
    rmw_write(c, i, size, i->has_mem, va, r);
    set_arith(c, szp_flags(r, bits) | cf_of(cf, msb(r ^ v, bits)));
}

static void shld_imm(cpu_t *c, const cpu_insn *i)
{
    shxd_exec(c, i, true, (unsigned)i->imm);
}

static void shld_cl(cpu_t *c, const cpu_insn *i)
{
    shxd_exec(c, i, true, (unsigned)c->gpr[CPU_RCX] & 0xFF);
}

static void shrd_imm(cpu_t *c, const cpu_insn *i)
{
    shxd_exec(c, i, false, (unsigned)i->imm);
}

static void shrd_cl(cpu_t *c, const cpu_insn *i)
{
    shxd_exec(c, i, false, (unsigned)c->gpr[CPU_RCX] & 0xFF);
}

/* 0F A4, A5, AC, AD. */
static bool decode_shxd(cpu_insn *i)
{
    static const cpu_exec_fn fns[4] = {shld_imm, shld_cl, shrd_imm, shrd_cl};
    i->exec = fns[((i->op >> 3) & 1) * 2 + (i->op & 1)];
    return true;
}

void cpu_register_shift(cpu_opmap *m)
{
    cpu_op(m, 0, 0xC0, decode_grp2, CPU_OPF_MODRM | CPU_OPF_BYTE, CPU_IMM_UB, CPU_COST_SHIFT);
    cpu_op(m, 0, 0xC1, decode_grp2, CPU_OPF_MODRM, CPU_IMM_UB, CPU_COST_SHIFT);
    cpu_op(m, 0, 0xD0, decode_grp2, CPU_OPF_MODRM | CPU_OPF_BYTE, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 0, 0xD1, decode_grp2, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 0, 0xD2, decode_grp2, CPU_OPF_MODRM | CPU_OPF_BYTE, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 0, 0xD3, decode_grp2, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xA4, decode_shxd, CPU_OPF_MODRM, CPU_IMM_UB, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xA5, decode_shxd, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xAC, decode_shxd, CPU_OPF_MODRM, CPU_IMM_UB, CPU_COST_SHIFT);
    cpu_op(m, 1, 0xAD, decode_shxd, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SHIFT);
}
