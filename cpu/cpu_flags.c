/*
 * cpu_flags.c — lazy arithmetic flags (SDM Vol. 1 3.4.3 and appendix A).
 *
 * Instructions record their operation, operands and result; the six
 * arithmetic flags are computed only when something reads them (Jcc, SETcc,
 * PUSHF, LAHF, interrupt delivery, ...).
 */
#include "cpu/cpu_internal.h"

static uint64_t sign_bit(unsigned size)
{
    return 1ull << (size * 8 - 1);
}

uint64_t cpu_lf_flags(const cpu_t *c)
{
    unsigned kind = (c->lf_op & 0xFF) >> 2;
    unsigned size = 1u << (c->lf_op & 3);
    uint64_t mask = cpu_size_mask(size), sb = sign_bit(size);
    uint64_t res = c->lf_res, a = c->lf_src1 & mask, b = c->lf_src2 & mask;
    uint64_t cin = (c->lf_op & CPU_LF_CARRY_IN) ? 1 : 0;
    uint64_t f = 0;
    bool cf = false, of = false, af = false;

    switch (kind) {
    case CPU_LF_NONE:
        return c->rflags & CPU_FL_ARITH;
    case CPU_LF_ADD:
    case CPU_LF_ADC:
        cf = res < a || (cin && res == a);
        of = ((a ^ res) & (b ^ res) & sb) != 0;
        af = ((a ^ b ^ res) & 0x10) != 0;
        break;
    case CPU_LF_SUB:
    case CPU_LF_SBB:
        cf = a < b || (cin && a == b);
        of = ((a ^ b) & (a ^ res) & sb) != 0;
        af = ((a ^ b ^ res) & 0x10) != 0;
        break;
    case CPU_LF_LOGIC:
        break;
    case CPU_LF_INC:
        cf = (c->rflags & CPU_FL_CF) != 0;
        of = res == sb;
        af = (res & 0xF) == 0;
        break;
    case CPU_LF_DEC:
        cf = (c->rflags & CPU_FL_CF) != 0;
        of = res == sb - 1;
        af = (res & 0xF) == 0xF;
        break;
    case CPU_LF_NEG:
        cf = res != 0;
        of = res == sb;
        af = ((b ^ res) & 0x10) != 0;
        break;
    default:
        break;
    }
    if (cf)
        f |= CPU_FL_CF;
    if (of)
        f |= CPU_FL_OF;
    if (af)
        f |= CPU_FL_AF;
    if (res == 0)
        f |= CPU_FL_ZF;
    if (res & sb)
        f |= CPU_FL_SF;
    if (cpu_parity(res))
        f |= CPU_FL_PF;
    return f;
}

uint64_t cpu_peek_rflags(const cpu_t *c)
{
    uint64_t f = c->rflags;
    if (c->lf_op != CPU_LF_NONE)
        f = (f & ~(uint64_t)CPU_FL_ARITH) | cpu_lf_flags(c);
    return f | CPU_FL_FIXED1;
}

uint64_t cpu_get_rflags(cpu_t *c)
{
    if (c->lf_op != CPU_LF_NONE) {
        c->rflags = (c->rflags & ~(uint64_t)CPU_FL_ARITH) | cpu_lf_flags(c);
        c->lf_op = CPU_LF_NONE;
    }
    return c->rflags | CPU_FL_FIXED1;
}

void cpu_set_rflags(cpu_t *c, uint64_t v)
{
    bool ac_was = cpu_ac_on(c);
    c->rflags = (v & ~(uint64_t)(1u << 3 | 1u << 5 | 1u << 15)) | CPU_FL_FIXED1;
    if (unlikely(cpu_ac_on(c) != ac_was))
        cpu_tlb_flush(c); /* alignment checking on or off (cpu_ac_on) */
    c->lf_op = CPU_LF_NONE;
    /* POPF, IRET, a VM entry setting TF: single-step from the next
     * boundary on (cpu_debug.c). Every writer of TF comes here; event
     * delivery only clears it. */
    if (v & CPU_FL_TF)
        c->events |= CPU_EVT_DEBUG;
}

/* When every arithmetic flag is replaced (shifts, MUL, SHLD) the lazy state
 * need not be materialised first: it is simply discarded. */
void cpu_flags_set(cpu_t *c, uint64_t mask, uint64_t values)
{
    if ((mask & CPU_FL_ARITH) == CPU_FL_ARITH) {
        c->rflags = (c->rflags & ~mask) | (values & mask);
        c->lf_op = CPU_LF_NONE;
        return;
    }
    uint64_t f = cpu_get_rflags(c);
    c->rflags = (f & ~mask) | (values & mask);
}

/* CF alone from the lazy state: ADC, SBB, RCL, RCR and INC/DEC need only
 * it, so the other five are not computed. */
static bool lf_cf(const cpu_t *c)
{
    unsigned kind = (c->lf_op & 0xFF) >> 2;
    uint64_t mask = cpu_size_mask(1u << (c->lf_op & 3));
    uint64_t res = c->lf_res, a = c->lf_src1 & mask, b = c->lf_src2 & mask;
    bool cin = (c->lf_op & CPU_LF_CARRY_IN) != 0;

    switch (kind) {
    case CPU_LF_ADD:
    case CPU_LF_ADC:
        return res < a || (cin && res == a);
    case CPU_LF_SUB:
    case CPU_LF_SBB:
        return a < b || (cin && a == b);
    case CPU_LF_NEG:
        return res != 0;
    case CPU_LF_LOGIC:
        return false;
    default: /* none, INC, DEC: CF is in rflags */
        return (c->rflags & CPU_FL_CF) != 0;
    }
}

/* The out-of-line half of cpu_lf_keep_cf (cpu_internal.h). */
void cpu_lf_keep_cf_slow(cpu_t *c)
{
    c->rflags = (c->rflags & ~(uint64_t)CPU_FL_CF) | (lf_cf(c) ? CPU_FL_CF : 0);
}

static bool cond_logic(const cpu_t *c, unsigned cc)
{
    uint64_t res = c->lf_res, sb = sign_bit(1u << (c->lf_op & 3));
    switch (cc >> 1) {
    case 0: /* OF = 0 */
    case 1: /* CF = 0 */
        return false;
    case 2:
    case 3:
        return res == 0;
    case 4:
    case 6: /* SF != OF with OF = 0 */
        return (res & sb) != 0;
    case 5:
        return cpu_parity(res);
    default:
        return res == 0 || (res & sb) != 0;
    }
}

bool cpu_cond(const cpu_t *c, unsigned cc)
{
    unsigned kind = (c->lf_op & 0xFF) >> 2;
    uint64_t f;
    /* Fast path for the zero test, the common loop condition. */
    if ((cc & 0xE) == 4 && c->lf_op != CPU_LF_NONE)
        return (c->lf_res == 0) ^ (cc & 1);
    if (kind == CPU_LF_SUB)
        return cpu_cond_sub(c, cc);
    if (kind == CPU_LF_LOGIC)
        return cond_logic(c, cc) ^ (cc & 1);
    if ((cc & 0xE) == 2)
        return lf_cf(c) ^ (cc & 1);
    f = c->lf_op != CPU_LF_NONE ? cpu_lf_flags(c) : c->rflags;
    bool r;
    switch (cc >> 1) {
    case 0: r = f & CPU_FL_OF; break;
    case 1: r = f & CPU_FL_CF; break;
    case 2: r = f & CPU_FL_ZF; break;
    case 3: r = f & (CPU_FL_CF | CPU_FL_ZF); break;
    case 4: r = f & CPU_FL_SF; break;
    case 5: r = f & CPU_FL_PF; break;
    case 6: r = !(f & CPU_FL_SF) != !(f & CPU_FL_OF); break;
    default: r = (f & CPU_FL_ZF) || (!(f & CPU_FL_SF) != !(f & CPU_FL_OF)); break;
    }
    return r ^ (cc & 1);
}
