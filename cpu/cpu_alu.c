/*
 * cpu_alu.c — integer arithmetic and logic (SDM Vol. 2 instruction pages of
 * ADD, ADC, SUB, SBB, AND, OR, XOR, CMP, TEST, NOT, NEG, INC, DEC, MUL, IMUL,
 * DIV, IDIV, CBW/CWDE/CDQE and CWD/CDQ/CQO).
 *
 * The eight classic ALU operations share one core, alu_calc/alu_flags,
 * inlined with a constant operation and size into one handler per operand
 * form, so a register-register ADD runs without a switch on anything known
 * at decode time. Memory read-modify-write forms write memory before they
 * touch the flags, so a #PF on the write leaves no architectural change.
 * With a single host thread every RMW is atomic, so LOCK only has to be
 * accepted where the SDM allows it (memory destination) and #UD elsewhere.
 */
#include "cpu/cpu_internal.h"

/* FF /2../6 (CALL, JMP, PUSH) belong to the control-transfer family. */
extern bool cpu_decode_grp5_other(cpu_insn *i);

/* The operation numbers are opcode bits 5:3 and the group-1 ModRM digit
 * (SDM Vol. 2 appendix A.4, table A-6). */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

static inline uint64_t sign_bit(unsigned size)
{
    return 1ull << (size * 8 - 1);
}

static inline int64_t sext(uint64_t v, unsigned size)
{
    unsigned sh = 64 - size * 8;
    return (int64_t)(v << sh) >> sh;
}

/* SF, ZF and PF of a result, for instructions that set them eagerly. */
static inline uint64_t szp_flags(uint64_t res, unsigned size)
{
    uint64_t f = 0;
    res &= cpu_size_mask(size);
    if (res == 0)
        f |= CPU_FL_ZF;
    if (res & sign_bit(size))
        f |= CPU_FL_SF;
    if (cpu_parity(res))
        f |= CPU_FL_PF;
    return f;
}

/* The carry-in of ADC/SBB: CF of the previous flag-setting instruction. */
static inline uint64_t carry_in(const cpu_t *c, unsigned op)
{
    if (op != ALU_ADC && op != ALU_SBB)
        return 0;
    return cpu_cond(c, 2) ? 1 : 0; /* condition B = CF */
}

/* The result of an ALU operation (SDM Vol. 2 ADD/ADC/.../CMP "Operation"). */
static inline uint64_t alu_calc(unsigned op, uint64_t a, uint64_t b, uint64_t cin)
{
    switch (op) {
    case ALU_ADD: return a + b;
    case ALU_OR: return a | b;
    case ALU_ADC: return a + b + cin;
    case ALU_SBB: return a - b - cin;
    case ALU_AND: return a & b;
    case ALU_XOR: return a ^ b;
    default: return a - b; /* SUB, CMP */
    }
}

/* Records the flags of an ALU operation lazily (cpu_flags.c computes them). */
static inline void alu_flags(cpu_t *c, unsigned op, unsigned size, uint64_t r, uint64_t a,
                             uint64_t b, uint64_t cin)
{
    switch (op) {
    case ALU_ADD:
        cpu_lf_set(c, CPU_LF_ADD, size, r, a, b);
        break;
    case ALU_ADC:
        cpu_lf_set(c, CPU_LF_ADC, size, r, a, b);
        if (cin)
            c->lf_op |= CPU_LF_CARRY_IN;
        break;
    case ALU_SBB:
        cpu_lf_set(c, CPU_LF_SBB, size, r, a, b);
        if (cin)
            c->lf_op |= CPU_LF_CARRY_IN;
        break;
    case ALU_OR:
    case ALU_AND:
    case ALU_XOR:
        cpu_lf_set_res(c, CPU_LF_LOGIC, size, r);
        break;
    default:
        cpu_lf_set(c, CPU_LF_SUB, size, r, a, b);
        break;
    }
}

/* ---- ALU handlers, one per operation, form and (register forms) size ---- */

/* Register destination i->rm, register source i->reg. The reg, r/m forms
 * (02, 03, ...) swap the two fields at decode time and use these too. */
#define ALU_RR(name, op, size)                                                 \
    static void alu_rr_##name##_##size(cpu_t *c, const cpu_insn *i)           \
    {                                                                          \
        uint64_t a = cpu_reg_get(c, i->rm, size), b = cpu_reg_get(c, i->reg, size); \
        uint64_t cin = carry_in(c, op), r = alu_calc(op, a, b, cin);           \
        if (op != ALU_CMP)                                                     \
            cpu_reg_set(c, i->rm, size, r);                                    \
        alu_flags(c, op, size, r, a, b, cin);                                  \
    }

/* Register destination i->rm (AL/eAX for the accumulator forms), immediate. */
#define ALU_RI(name, op, size)                                                 \
    static void alu_ri_##name##_##size(cpu_t *c, const cpu_insn *i)           \
    {                                                                          \
        uint64_t a = cpu_reg_get(c, i->rm, size), b = i->imm & cpu_size_mask(size); \
        uint64_t cin = carry_in(c, op), r = alu_calc(op, a, b, cin);           \
        if (op != ALU_CMP)                                                     \
            cpu_reg_set(c, i->rm, size, r);                                    \
        alu_flags(c, op, size, r, a, b, cin);                                  \
    }

/* Memory forms: r/m destination with a register or immediate source, and
 * register destination with a memory source. */
#define ALU_MEM(name, op)                                                      \
    static void alu_mr_##name(cpu_t *c, const cpu_insn *i)                    \
    {                                                                          \
        unsigned size = i->osize;                                              \
        uint64_t va = cpu_ea(c, i);                                            \
        uint64_t a = cpu_read(c, va, size), b = cpu_reg_get(c, i->reg, size);  \
        uint64_t cin = carry_in(c, op), r = alu_calc(op, a, b, cin);           \
        if (op != ALU_CMP)                                                     \
            cpu_write(c, va, size, r);                                         \
        alu_flags(c, op, size, r, a, b, cin);                                  \
    }                                                                          \
    static void alu_mi_##name(cpu_t *c, const cpu_insn *i)                    \
    {                                                                          \
        unsigned size = i->osize;                                              \
        uint64_t va = cpu_ea(c, i);                                            \
        uint64_t a = cpu_read(c, va, size), b = i->imm & cpu_size_mask(size);  \
        uint64_t cin = carry_in(c, op), r = alu_calc(op, a, b, cin);           \
        if (op != ALU_CMP)                                                     \
            cpu_write(c, va, size, r);                                         \
        alu_flags(c, op, size, r, a, b, cin);                                  \
    }                                                                          \
    static void alu_rm_##name(cpu_t *c, const cpu_insn *i)                    \
    {                                                                          \
        unsigned size = i->osize;                                              \
        uint64_t a = cpu_reg_get(c, i->reg, size), b = cpu_read(c, cpu_ea(c, i), size); \
        uint64_t cin = carry_in(c, op), r = alu_calc(op, a, b, cin);           \
        if (op != ALU_CMP)                                                     \
            cpu_reg_set(c, i->reg, size, r);                                   \
        alu_flags(c, op, size, r, a, b, cin);                                  \
    }

#define ALU_ALL(name, op)                                                      \
    ALU_RR(name, op, 1) ALU_RR(name, op, 2) ALU_RR(name, op, 4) ALU_RR(name, op, 8) \
    ALU_RI(name, op, 1) ALU_RI(name, op, 2) ALU_RI(name, op, 4) ALU_RI(name, op, 8) \
    ALU_MEM(name, op)

ALU_ALL(add, ALU_ADD)
ALU_ALL(or, ALU_OR)
ALU_ALL(adc, ALU_ADC)
ALU_ALL(sbb, ALU_SBB)
ALU_ALL(and, ALU_AND)
ALU_ALL(sub, ALU_SUB)
ALU_ALL(xor, ALU_XOR)
ALU_ALL(cmp, ALU_CMP)

#define ALU_SIZES(form, name) \
    { form##_##name##_1, form##_##name##_2, form##_##name##_4, form##_##name##_8 }
#define ALU_TAB(form) \
    { ALU_SIZES(form, add), ALU_SIZES(form, or), ALU_SIZES(form, adc), ALU_SIZES(form, sbb), \
      ALU_SIZES(form, and), ALU_SIZES(form, sub), ALU_SIZES(form, xor), ALU_SIZES(form, cmp) }

static const cpu_exec_fn alu_rr_tab[8][4] = ALU_TAB(alu_rr);
static const cpu_exec_fn alu_ri_tab[8][4] = ALU_TAB(alu_ri);
static const cpu_exec_fn alu_mr_tab[8] = {alu_mr_add, alu_mr_or, alu_mr_adc, alu_mr_sbb,
                                          alu_mr_and, alu_mr_sub, alu_mr_xor, alu_mr_cmp};
static const cpu_exec_fn alu_mi_tab[8] = {alu_mi_add, alu_mi_or, alu_mi_adc, alu_mi_sbb,
                                          alu_mi_and, alu_mi_sub, alu_mi_xor, alu_mi_cmp};
static const cpu_exec_fn alu_rm_tab[8] = {alu_rm_add, alu_rm_or, alu_rm_adc, alu_rm_sbb,
                                          alu_rm_and, alu_rm_sub, alu_rm_xor, alu_rm_cmp};

/* 00/01, 08/09, ... 38/39: r/m, reg. LOCK is refused for CMP at
 * registration (no CPU_OPF_LOCKOK) and for register destinations by the
 * decoder. */
static bool decode_alu_rm_reg(cpu_insn *i)
{
    unsigned op = (i->op >> 3) & 7;
    i->sub = (uint8_t)op;
    i->exec = i->has_mem ? alu_mr_tab[op] : alu_rr_tab[op][cpu_size_log2(i->osize)];
    return true;
}

/* 02/03, ... 3A/3B: reg, r/m. */
static bool decode_alu_reg_rm(cpu_insn *i)
{
    unsigned op = (i->op >> 3) & 7;
    i->sub = (uint8_t)op;
    if (i->has_mem) {
        i->exec = alu_rm_tab[op];
    } else {
        uint8_t t = i->rm;
        i->rm = i->reg;
        i->reg = t;
        i->exec = alu_rr_tab[op][cpu_size_log2(i->osize)];
    }
    return true;
}

/* 04/05, ... 3C/3D: AL/AX/EAX/RAX, imm. */
static bool decode_alu_acc(cpu_insn *i)
{
    unsigned op = (i->op >> 3) & 7;
    i->sub = (uint8_t)op;
    i->rm = CPU_RAX;
    i->exec = alu_ri_tab[op][cpu_size_log2(i->osize)];
    return true;
}

/* Group 1 (80, 81, 83; 82 in legacy modes): the digit is the operation. */
static bool decode_grp1(cpu_insn *i)
{
    unsigned op = (i->modrm >> 3) & 7;
    if (op == ALU_CMP && (i->pfx & CPU_PFX_LOCK))
        return false;
    i->sub = (uint8_t)op;
    i->exec = i->has_mem ? alu_mi_tab[op] : alu_ri_tab[op][cpu_size_log2(i->osize)];
    return true;
}

/* ---- TEST (SDM Vol. 2 TEST): AND without a result ------------------------- */

#define TEST_R(size)                                                               \
    static void test_rr_##size(cpu_t *c, const cpu_insn *i)                      \
    {                                                                              \
        uint64_t r = cpu_reg_get(c, i->rm, size) & cpu_reg_get(c, i->reg, size);   \
        cpu_lf_set_res(c, CPU_LF_LOGIC, size, r);                                \
    }                                                                              \
    static void test_ri_##size(cpu_t *c, const cpu_insn *i)                      \
    {                                                                              \
        uint64_t r = cpu_reg_get(c, i->rm, size) & i->imm;                         \
        cpu_lf_set_res(c, CPU_LF_LOGIC, size, r);                                \
    }
TEST_R(1)
TEST_R(2)
TEST_R(4)
TEST_R(8)

static const cpu_exec_fn test_rr_tab[4] = {test_rr_1, test_rr_2, test_rr_4, test_rr_8};
static const cpu_exec_fn test_ri_tab[4] = {test_ri_1, test_ri_2, test_ri_4, test_ri_8};

static void test_mr(cpu_t *c, const cpu_insn *i)
{
    uint64_t r = cpu_read(c, cpu_ea(c, i), i->osize) & cpu_reg_get(c, i->reg, i->osize);
    cpu_lf_set_res(c, CPU_LF_LOGIC, i->osize, r);
}

static void test_mi(cpu_t *c, const cpu_insn *i)
{
    uint64_t r = cpu_read(c, cpu_ea(c, i), i->osize) & i->imm;
    cpu_lf_set_res(c, CPU_LF_LOGIC, i->osize, r);
}

/* 84/85: TEST r/m, reg. */
static bool decode_test_rm_reg(cpu_insn *i)
{
    i->exec = i->has_mem ? test_mr : test_rr_tab[cpu_size_log2(i->osize)];
    return true;
}

/* A8/A9: TEST AL/eAX, imm. */
static bool decode_test_acc(cpu_insn *i)
{
    i->rm = CPU_RAX;
    i->exec = test_ri_tab[cpu_size_log2(i->osize)];
    return true;
}

/* ---- INC, DEC (SDM Vol. 2 INC, DEC): CF is preserved ----------------------- */

/* CF is materialised first, so the common case (the previous operation
 * was INC or DEC, or flags are already in rflags) makes no call. */
#define INCDEC_R(size)                                                     \
    static void inc_r_##size(cpu_t *c, const cpu_insn *i)                \
    {                                                                      \
        cpu_lf_keep_cf(c);                                                 \
        uint64_t r = cpu_reg_get(c, i->rm, size) + 1;                      \
        cpu_reg_set(c, i->rm, size, r);                                    \
        cpu_lf_set_res(c, CPU_LF_INC, size, r);                            \
    }                                                                      \
    static void dec_r_##size(cpu_t *c, const cpu_insn *i)                \
    {                                                                      \
        cpu_lf_keep_cf(c);                                                 \
        uint64_t r = cpu_reg_get(c, i->rm, size) - 1;                      \
        cpu_reg_set(c, i->rm, size, r);                                    \
        cpu_lf_set_res(c, CPU_LF_DEC, size, r);                            \
    }
INCDEC_R(1)
INCDEC_R(2)
INCDEC_R(4)
INCDEC_R(8)

static const cpu_exec_fn inc_r_tab[4] = {inc_r_1, inc_r_2, inc_r_4, inc_r_8};
static const cpu_exec_fn dec_r_tab[4] = {dec_r_1, dec_r_2, dec_r_4, dec_r_8};

/* ---- macro-fusion with a following Jcc (cpu_fused_jcc, cpu_internal.h) ---- */

/* Only register forms: they cannot fault, so a fused pair never has to
 * undo its first half. */
#define FUSED_AS(fn, jcc_tail)                                             \
    static void fn##_jcc(cpu_t *c, const cpu_insn *i)                     \
    {                                                                      \
        fn(c, i);                                                          \
        jcc_tail(c, i + 1);                                                \
    }                                                                      \
    static void fn##_jz(cpu_t *c, const cpu_insn *i)                      \
    {                                                                      \
        fn(c, i);                                                          \
        cpu_fused_jz(c, i + 1, c->lf_res == 0);                            \
    }                                                                      \
    static void fn##_jnz(cpu_t *c, const cpu_insn *i)                     \
    {                                                                      \
        fn(c, i);                                                          \
        cpu_fused_jz(c, i + 1, c->lf_res != 0);                            \
    }
#define FUSED(fn) FUSED_AS(fn, cpu_fused_jcc)
#define FUSED_SUB(fn) FUSED_AS(fn, cpu_fused_jcc_sub)
#define FUSED_SIZES(p) FUSED(p##_1) FUSED(p##_2) FUSED(p##_4) FUSED(p##_8)
#define FUSED_SIZES_SUB(p) FUSED_SUB(p##_1) FUSED_SUB(p##_2) FUSED_SUB(p##_4) FUSED_SUB(p##_8)
#define FUSED_OPS(form)                                                    \
    FUSED_SIZES(form##_add) FUSED_SIZES(form##_or) FUSED_SIZES(form##_adc) \
    FUSED_SIZES(form##_sbb) FUSED_SIZES(form##_and) FUSED_SIZES_SUB(form##_sub) \
    FUSED_SIZES(form##_xor) FUSED_SIZES_SUB(form##_cmp)
FUSED_OPS(alu_rr)
FUSED_OPS(alu_ri)
FUSED_SIZES(test_rr)
FUSED_SIZES(test_ri)
FUSED_SIZES(inc_r)
FUSED_SIZES(dec_r)

#define PAIR(fn) {fn, fn##_jcc, fn##_jz, fn##_jnz},
#define PAIR_SIZES(p) PAIR(p##_1) PAIR(p##_2) PAIR(p##_4) PAIR(p##_8)
#define PAIR_OPS(form)                                                     \
    PAIR_SIZES(form##_add) PAIR_SIZES(form##_or) PAIR_SIZES(form##_adc)    \
    PAIR_SIZES(form##_sbb) PAIR_SIZES(form##_and) PAIR_SIZES(form##_sub)   \
    PAIR_SIZES(form##_xor) PAIR_SIZES(form##_cmp)

static const cpu_exec_fn fused_pairs[][4] = {
    PAIR_OPS(alu_rr) PAIR_OPS(alu_ri) PAIR_SIZES(test_rr) PAIR_SIZES(test_ri)
    PAIR_SIZES(inc_r) PAIR_SIZES(dec_r)
};

/* Called once per decoded block, so a linear search is cheap enough. JZ
 * and JNZ get handlers of their own: the zero test needs no dispatch. */
cpu_exec_fn cpu_alu_fused(cpu_exec_fn first, unsigned cc)
{
    for (size_t k = 0; k < sizeof(fused_pairs) / sizeof(fused_pairs[0]); k++) {
        if (fused_pairs[k][0] == first)
            return fused_pairs[k][cc == 4 ? 2 : cc == 5 ? 3 : 1];
    }
    return NULL;
}

static void inc_m(cpu_t *c, const cpu_insn *i)
{
    uint64_t va = cpu_ea(c, i);
    uint64_t r = cpu_read(c, va, i->osize) + 1;
    cpu_write(c, va, i->osize, r);
    cpu_lf_keep_cf(c);
    cpu_lf_set_res(c, CPU_LF_INC, i->osize, r);
}

static void dec_m(cpu_t *c, const cpu_insn *i)
{
    uint64_t va = cpu_ea(c, i);
    uint64_t r = cpu_read(c, va, i->osize) - 1;
    cpu_write(c, va, i->osize, r);
    cpu_lf_keep_cf(c);
    cpu_lf_set_res(c, CPU_LF_DEC, i->osize, r);
}

static bool decode_incdec(cpu_insn *i)
{
    bool dec = ((i->modrm >> 3) & 7) == 1;
    if (i->has_mem)
        i->exec = dec ? dec_m : inc_m;
    else
        i->exec = (dec ? dec_r_tab : inc_r_tab)[cpu_size_log2(i->osize)];
    return true;
}

/* 40..47 INC r16/r32, 48..4F DEC r16/r32: the short forms that exist
 * outside 64-bit mode only, where these bytes are REX prefixes (SDM Vol. 2
 * "INC", "DEC"; table A-2). The decoder never looks them up in 64-bit mode. */
static bool decode_incdec_short(cpu_insn *i)
{
    i->rm = i->reg;
    i->exec = ((i->op & 8) ? dec_r_tab : inc_r_tab)[cpu_size_log2(i->osize)];
    return true;
}

/* FE: /0 INC, /1 DEC r/m8; the other digits are invalid. */
static bool decode_grp4(cpu_insn *i)
{
    if (((i->modrm >> 3) & 7) > 1)
        return false;
    return decode_incdec(i);
}

/* FF: /0 INC, /1 DEC here; /2../6 (CALL, JMP, PUSH) are decoded by the
 * control-transfer family, which also sets their operand size; none of them
 * takes LOCK; /7 is invalid. */
static bool decode_grp5(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    if (digit <= 1)
        return decode_incdec(i);
    if (digit == 7 || (i->pfx & CPU_PFX_LOCK))
        return false;
    return cpu_decode_grp5_other(i);
}

/* ---- group 3: NOT, NEG, MUL, IMUL, DIV, IDIV ------------------------------- */

/* SDM Vol. 2 NOT: no flags. */
static void not_rm(cpu_t *c, const cpu_insn *i)
{
    cpu_rm_write(c, i, i->osize, ~cpu_rm_read(c, i, i->osize));
}

/* SDM Vol. 2 NEG: CF = (source != 0), the others from 0 - source. */
static void neg_rm(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = cpu_rm_read(c, i, i->osize), r = 0 - v;
    cpu_rm_write(c, i, i->osize, r);
    cpu_lf_set(c, CPU_LF_NEG, i->osize, r, 0, v);
}

/* MUL and IMUL define only CF and OF. SF, ZF and PF follow the low half of
 * the product (the value Jcc users would expect, and what P6-family
 * processors report) and AF is cleared. */
static inline void mul_flags(cpu_t *c, unsigned size, uint64_t low, bool overflow)
{
    uint64_t f = szp_flags(low, size);
    if (overflow)
        f |= CPU_FL_CF | CPU_FL_OF;
    /* All six flags are replaced: drop the lazy state, nothing to merge. */
    c->rflags = (c->rflags & ~(uint64_t)CPU_FL_ARITH) | f;
    c->lf_op = CPU_LF_NONE;
}

/* SDM Vol. 2 MUL: AX/DX:AX/EDX:EAX/RDX:RAX = accumulator * r/m, unsigned. */
static void mul_rm(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    uint64_t b = cpu_rm_read(c, i, size);
    uint64_t a = cpu_reg_get(c, CPU_RAX, size);
    uint64_t lo, hi;
    if (size == 8) {
        unsigned __int128 p = (unsigned __int128)a * b;
        lo = (uint64_t)p;
        hi = (uint64_t)(p >> 64);
    } else {
        uint64_t p = a * b;
        lo = p & cpu_size_mask(size);
        hi = p >> (size * 8);
    }
    if (size == 1) {
        cpu_reg_set(c, CPU_RAX, 2, lo | hi << 8);
    } else {
        cpu_reg_set(c, CPU_RAX, size, lo);
        cpu_reg_set(c, CPU_RDX, size, hi);
    }
    mul_flags(c, size, lo, hi != 0);
}

/* The signed product of a and b at size: low half in *lo, high half in *hi;
 * returns whether the product does not fit in size (CF = OF). */
static inline __attribute__((always_inline)) bool imul_full(unsigned size, uint64_t a, uint64_t b,
                                                            uint64_t *lo, uint64_t *hi)
{
    if (size == 8) {
        __int128 p = (__int128)(int64_t)a * (int64_t)b;
        *lo = (uint64_t)p;
        *hi = (uint64_t)((unsigned __int128)p >> 64);
        return p != (__int128)(int64_t)*lo;
    }
    int64_t p = sext(a, size) * sext(b, size);
    *lo = (uint64_t)p & cpu_size_mask(size);
    *hi = ((uint64_t)p >> (size * 8)) & cpu_size_mask(size);
    return p != sext((uint64_t)p, size);
}

/* SDM Vol. 2 IMUL, one-operand form: like MUL, signed. */
static void imul1_rm(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    uint64_t lo, hi;
    bool ov = imul_full(size, cpu_reg_get(c, CPU_RAX, size), cpu_rm_read(c, i, size), &lo, &hi);
    if (size == 1) {
        cpu_reg_set(c, CPU_RAX, 2, lo | hi << 8);
    } else {
        cpu_reg_set(c, CPU_RAX, size, lo);
        cpu_reg_set(c, CPU_RDX, size, hi);
    }
    mul_flags(c, size, lo, ov);
}

/* SDM Vol. 2 IMUL, two-operand form (0F AF): reg = reg * r/m, truncated;
 * one handler per size, as compiled code uses it in hot loops. */
#define IMUL2(size)                                                                 \
    static void imul2_##size(cpu_t *c, const cpu_insn *i)                         \
    {                                                                               \
        uint64_t lo, hi;                                                            \
        bool ov = imul_full(size, cpu_reg_get(c, i->reg, size), cpu_rm_read(c, i, size), \
                            &lo, &hi);                                              \
        cpu_reg_set(c, i->reg, size, lo);                                           \
        mul_flags(c, size, lo, ov);                                                 \
    }
IMUL2(2)
IMUL2(4)
IMUL2(8)

/* SDM Vol. 2 IMUL, three-operand forms (69 Iz, 6B Ib): reg = r/m * imm. */
static void imul3(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    uint64_t lo, hi;
    bool ov = imul_full(size, cpu_rm_read(c, i, size), i->imm, &lo, &hi);
    cpu_reg_set(c, i->reg, size, lo);
    mul_flags(c, size, lo, ov);
}

/* SDM Vol. 2 DIV: (high:low accumulator) / r/m, unsigned; #DE when the
 * divisor is 0 or the quotient does not fit. Flags are undefined and are
 * left unchanged. */
static void div_rm(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    uint64_t d = cpu_rm_read(c, i, size);
    if (d == 0)
        cpu_fault_noerr(c, CPU_EXC_DE);
    if (size == 8) {
        unsigned __int128 n = ((unsigned __int128)c->gpr[CPU_RDX] << 64) | c->gpr[CPU_RAX];
        unsigned __int128 q = n / d;
        if (q >> 64)
            cpu_fault_noerr(c, CPU_EXC_DE);
        c->gpr[CPU_RAX] = (uint64_t)q;
        c->gpr[CPU_RDX] = (uint64_t)(n % d);
        return;
    }
    uint64_t n = size == 1 ? cpu_reg_get(c, CPU_RAX, 2)
                           : cpu_reg_get(c, CPU_RDX, size) << (size * 8) |
                                 cpu_reg_get(c, CPU_RAX, size);
    uint64_t q = n / d, r = n % d;
    if (q > cpu_size_mask(size))
        cpu_fault_noerr(c, CPU_EXC_DE);
    if (size == 1) {
        cpu_reg_set(c, CPU_RAX, 2, q | r << 8);
    } else {
        cpu_reg_set(c, CPU_RAX, size, q);
        cpu_reg_set(c, CPU_RDX, size, r);
    }
}

/* SDM Vol. 2 IDIV: signed, quotient truncated toward zero, remainder with
 * the sign of the dividend; #DE for a zero divisor or a quotient outside the
 * signed range (INT_MIN / -1 included). Computed on magnitudes so no host
 * division can overflow. */
static void idiv_rm(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    int64_t d = sext(cpu_rm_read(c, i, size), size);
    if (d == 0)
        cpu_fault_noerr(c, CPU_EXC_DE);
    __int128 n;
    if (size == 8)
        n = (__int128)(((unsigned __int128)c->gpr[CPU_RDX] << 64) | c->gpr[CPU_RAX]);
    else if (size == 1)
        n = sext(cpu_reg_get(c, CPU_RAX, 2), 2);
    else
        n = sext(cpu_reg_get(c, CPU_RDX, size) << (size * 8) | cpu_reg_get(c, CPU_RAX, size),
                 size * 2);
    bool nneg = n < 0, dneg = d < 0;
    unsigned __int128 un = nneg ? -(unsigned __int128)n : (unsigned __int128)n;
    unsigned __int128 ud = dneg ? -(unsigned __int128)(__int128)d : (unsigned __int128)d;
    unsigned __int128 uq = un / ud, ur = un % ud;
    unsigned __int128 limit = (unsigned __int128)sign_bit(size); /* |INT_MIN| */
    if (nneg != dneg ? uq > limit : uq >= limit)
        cpu_fault_noerr(c, CPU_EXC_DE);
    uint64_t q = (uint64_t)(nneg != dneg ? -uq : uq);
    uint64_t r = (uint64_t)(nneg ? -ur : ur);
    if (size == 1) {
        cpu_reg_set(c, CPU_RAX, 2, (q & 0xFF) | (r & 0xFF) << 8);
    } else {
        cpu_reg_set(c, CPU_RAX, size, q);
        cpu_reg_set(c, CPU_RDX, size, r);
    }
}

/* F6/F7: the digit selects the operation. LOCK only for NOT and NEG with a
 * memory destination (the decoder has checked the memory part). */
static bool decode_grp3(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    if ((i->pfx & CPU_PFX_LOCK) && digit != 2 && digit != 3)
        return false;
    i->sub = (uint8_t)digit;
    switch (digit) {
    case 0:
    case 1: /* /1 is an undocumented alias of TEST */
        i->exec = i->has_mem ? test_mi : test_ri_tab[cpu_size_log2(i->osize)];
        break;
    case 2:
        i->exec = not_rm;
        break;
    case 3:
        i->exec = neg_rm;
        break;
    case 4:
        i->exec = mul_rm;
        i->cost_class = CPU_COST_MUL;
        break;
    case 5:
        i->exec = imul1_rm;
        i->cost_class = CPU_COST_MUL;
        break;
    case 6:
        i->exec = div_rm;
        i->cost_class = CPU_COST_DIV;
        break;
    default:
        i->exec = idiv_rm;
        i->cost_class = CPU_COST_DIV;
        break;
    }
    return true;
}

static bool decode_imul2(cpu_insn *i)
{
    i->exec = i->osize == 2 ? imul2_2 : i->osize == 4 ? imul2_4 : imul2_8;
    return true;
}

static bool decode_imul3(cpu_insn *i)
{
    i->exec = imul3;
    return true;
}

/* ---- CBW/CWDE/CDQE and CWD/CDQ/CQO (SDM Vol. 2) ------------------------------ */

/* 98: sign-extends the lower half of the accumulator into all of it. */
static void cbw(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize, half = size / 2;
    cpu_reg_set(c, CPU_RAX, size, (uint64_t)sext(cpu_reg_get(c, CPU_RAX, half), half));
}

/* 99: fills DX/EDX/RDX with the sign of AX/EAX/RAX. */
static void cwd(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    bool neg = (cpu_reg_get(c, CPU_RAX, size) & sign_bit(size)) != 0;
    cpu_reg_set(c, CPU_RDX, size, neg ? ~0ull : 0);
}

static bool decode_cbw(cpu_insn *i)
{
    i->exec = cbw;
    return true;
}

static bool decode_cwd(cpu_insn *i)
{
    i->exec = cwd;
    return true;
}

void cpu_register_alu(cpu_opmap *m)
{
    for (unsigned op = 0; op < 8; op++) {
        unsigned base = op << 3;
        unsigned lock = op == ALU_CMP ? 0 : CPU_OPF_LOCKOK;
        cpu_op(m, 0, base + 0, decode_alu_rm_reg, CPU_OPF_MODRM | CPU_OPF_BYTE | lock,
               CPU_IMM_NONE, CPU_COST_SIMPLE);
        cpu_op(m, 0, base + 1, decode_alu_rm_reg, CPU_OPF_MODRM | lock, CPU_IMM_NONE,
               CPU_COST_SIMPLE);
        cpu_op(m, 0, base + 2, decode_alu_reg_rm, CPU_OPF_MODRM | CPU_OPF_BYTE, CPU_IMM_NONE,
               CPU_COST_SIMPLE);
        cpu_op(m, 0, base + 3, decode_alu_reg_rm, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SIMPLE);
        cpu_op(m, 0, base + 4, decode_alu_acc, CPU_OPF_BYTE, CPU_IMM_B, CPU_COST_SIMPLE);
        cpu_op(m, 0, base + 5, decode_alu_acc, 0, CPU_IMM_Z, CPU_COST_SIMPLE);
    }
    cpu_op(m, 0, 0x80, decode_grp1, CPU_OPF_MODRM | CPU_OPF_BYTE | CPU_OPF_LOCKOK, CPU_IMM_B,
           CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x81, decode_grp1, CPU_OPF_MODRM | CPU_OPF_LOCKOK, CPU_IMM_Z, CPU_COST_SIMPLE);
    /* 82 is an alias of 80 outside 64-bit mode (SDM Vol. 2 table A-2). */
    cpu_op(m, 0, 0x82, decode_grp1,
           CPU_OPF_MODRM | CPU_OPF_BYTE | CPU_OPF_LOCKOK | CPU_OPF_INVALID64, CPU_IMM_B,
           CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x83, decode_grp1, CPU_OPF_MODRM | CPU_OPF_LOCKOK, CPU_IMM_B, CPU_COST_SIMPLE);

    cpu_op(m, 0, 0x84, decode_test_rm_reg, CPU_OPF_MODRM | CPU_OPF_BYTE, CPU_IMM_NONE,
           CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x85, decode_test_rm_reg, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xA8, decode_test_acc, CPU_OPF_BYTE, CPU_IMM_B, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xA9, decode_test_acc, 0, CPU_IMM_Z, CPU_COST_SIMPLE);

    cpu_op(m, 0, 0xF6, decode_grp3, CPU_OPF_MODRM | CPU_OPF_BYTE | CPU_OPF_LOCKOK, CPU_IMM_GRP3,
           CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xF7, decode_grp3, CPU_OPF_MODRM | CPU_OPF_LOCKOK, CPU_IMM_GRP3,
           CPU_COST_SIMPLE);
    for (unsigned op = 0x40; op <= 0x4F; op++)
        cpu_op(m, 0, op, decode_incdec_short, CPU_OPF_REGOP, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xFE, decode_grp4, CPU_OPF_MODRM | CPU_OPF_BYTE | CPU_OPF_LOCKOK, CPU_IMM_NONE,
           CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xFF, decode_grp5, CPU_OPF_MODRM | CPU_OPF_LOCKOK, CPU_IMM_NONE,
           CPU_COST_SIMPLE);

    cpu_op(m, 1, 0xAF, decode_imul2, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_MUL);
    cpu_op(m, 0, 0x69, decode_imul3, CPU_OPF_MODRM, CPU_IMM_Z, CPU_COST_MUL);
    cpu_op(m, 0, 0x6B, decode_imul3, CPU_OPF_MODRM, CPU_IMM_B, CPU_COST_MUL);

    cpu_op(m, 0, 0x98, decode_cbw, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x99, decode_cwd, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
}
