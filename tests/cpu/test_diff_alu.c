/*
 * test_diff_alu.c — differential tests of the ALU, multiply/divide and
 * shift/rotate families against the host CPU.
 *
 * For every instruction form (operation x operand size x register/memory/
 * immediate form, several register choices) the same encoding runs natively
 * (tests/support/host_exec) and in the interpreter over thousands of inputs
 * from a seeded PRNG mixing random values with edge values. Every register,
 * the memory operand and the flags the SDM defines for that instruction and
 * count are compared; a divide error must happen in both or in neither.
 * The interpreter's condition evaluation straight from its lazy state
 * (cpu_cond) is checked against the materialised flags each time. Every
 * form is also run with a LOCK prefix (the host's #UD must match ours),
 * and flag-producer/flag-consumer pairs check the lazy carry-in path.
 * Undefined flags are masked on every host (Intel generations differ among
 * themselves); an undefined result the interpreter computes as Intel does
 * (16-bit SHLD/SHRD by more than 16) is compared on Intel hosts only.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/cpu_internal.h" /* white box: cpu_cond's fast paths */
#include "tests/support/cpu_harness.h"
#include "tests/support/host_exec.h"

#define FL_ALL 0x8D5ull /* CF PF AF ZF SF OF */
#define FL_CF 0x001ull
#define FL_PF 0x004ull
#define FL_AF 0x010ull
#define FL_ZF 0x040ull
#define FL_SF 0x080ull
#define FL_OF 0x800ull
#define GUEST_MEM 0x200000ull
#define CODE_BASE 0x300000ull
#define CASES 3000

/* Check marks every passing assertion through a pipe; millions of them
 * would dominate the run time, so the hot loop only calls Check on a
 * mismatch. */
#define DIFF_CHECK(cond, ...)              \
    do {                                   \
        if (!(cond))                       \
            ck_abort_msg(__VA_ARGS__);     \
    } while (0)

/* How the defined flags of a form are found (SDM Vol. 2 "Flags Affected"). */
enum fkind {
    FK_ALL,   /* every arithmetic flag defined (ADD..CMP, INC, DEC, NEG; NOT, CBW leave all) */
    FK_LOGIC, /* AF undefined */
    FK_MUL,   /* only CF and OF */
    FK_DIV,   /* none */
    FK_SHIFT, /* group 2: depends on the digit and the masked count */
    FK_SHXD,  /* SHLD/SHRD: depends on the masked count */
    FK_FIXED, /* the mask in form.fmask (instruction pairs) */
};

enum cnt { CNT_NONE, CNT_IMM, CNT_CL };

typedef struct form {
    char name[64];
    uint8_t code[15];
    unsigned len;
    unsigned size;  /* operand size */
    unsigned fkind;
    unsigned digit; /* group-2 digit */
    unsigned cnt;   /* where a shift count comes from */
    unsigned imm;   /* the immediate count */
    bool mem;       /* ModRM operand is [rbx] */
    int dst;        /* register holding an undefined result to skip (SHLD 16 > 16), or -1 */
    unsigned div;   /* 0, or 1 DIV / 2 IDIV: shape the dividend */
    unsigned ninsn; /* instructions in code (0 means 1) */
    uint64_t fmask; /* FK_FIXED: the defined flags */
} form;

typedef struct diff_ctx {
    cpu_harness h;
    host_code hc;
    uint64_t rng;
    unsigned nforms;
    unsigned cases; /* inputs per form */
    bool lock;      /* prefix every form with LOCK */
    uint64_t compared, faults, skipped_dst;
} diff_ctx;

static uint64_t rnd(diff_ctx *d)
{
    /* xorshift64*: deterministic, seeded per test run */
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 0x2545F4914F6CDD1Dull;
}

static const uint64_t edges[] = {
    0, 1, 2, 0x7F, 0x80, 0x81, 0xFF, 0x100, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x10000,
    0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0x100000000ull, 0x7FFFFFFFFFFFFFFFull,
    0x8000000000000000ull, 0x8000000000000001ull, ~0ull, ~0ull - 1, 0xF, 0x10, 0x0F0F0F0F0F0F0F0Full,
};

/* A random operand: half the time an edge value (possibly with random bits
 * above the operand), otherwise random with a random width. */
static uint64_t operand(diff_ctx *d)
{
    uint64_t r = rnd(d);
    switch (r & 7) {
    case 0:
    case 1:
    case 2:
        return edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
    case 3: {
        uint64_t e = edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
        unsigned sh = 8u << ((r >> 16) & 3);
        return sh >= 64 ? e : (e & ((1ull << sh) - 1)) | (rnd(d) << sh);
    }
    case 4:
        return (r >> 8) & 0xFF;
    default:
        return rnd(d);
    }
}

/* ---- encoding ------------------------------------------------------------- */

typedef struct enc {
    unsigned size;
    bool rex_force; /* 8-bit: REX present, so 4..7 are SPL..DIL */
    bool mem;
} enc;

/* prefixes, opcode, ModRM (reg field = reg or digit, rm = register or [rbx]), imm. */
static void encode(form *f, const enc *e, const uint8_t *op, unsigned oplen, unsigned reg,
                   unsigned rm, uint64_t imm, unsigned immlen)
{
    unsigned n = 0;
    if (e->size == 2)
        f->code[n++] = 0x66;
    unsigned rex = 0x40 | (e->size == 8 ? 8 : 0) | (reg >= 8 ? 4 : 0) | (!e->mem && rm >= 8 ? 1 : 0);
    if (rex != 0x40 || e->rex_force)
        f->code[n++] = (uint8_t)rex;
    memcpy(f->code + n, op, oplen);
    n += oplen;
    f->code[n++] = e->mem ? (uint8_t)(((reg & 7) << 3) | 3) : (uint8_t)(0xC0 | ((reg & 7) << 3) | (rm & 7));
    for (unsigned k = 0; k < immlen; k++)
        f->code[n++] = (uint8_t)(imm >> (8 * k));
    f->len = n;
    f->size = e->size;
    f->mem = e->mem;
}

/* A register for an operand: not RSP (nor SPL), not RBX (nor BL, BH) with a
 * memory operand; 8-bit registers without REX are 0..7 (AH..BH for 4..7). */
static unsigned pick_reg(diff_ctx *d, const enc *e, unsigned avoid)
{
    for (;;) {
        unsigned r = (unsigned)(rnd(d) % 16);
        if (e->size == 1 && !e->rex_force)
            r &= 7;
        if (r == avoid || (e->mem && (r == 3 || (e->size == 1 && !e->rex_force && r == 7))))
            continue;
        if (r == 4 && !(e->size == 1 && !e->rex_force))
            continue;
        return r;
    }
}

/* ---- running one form ----------------------------------------------------- */

static uint64_t size_mask(unsigned size)
{
    return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* The flags the SDM defines for group 2 with masked count n. */
static uint64_t shift_flags(unsigned digit, unsigned size, unsigned n)
{
    unsigned bits = size * 8;
    if (n == 0)
        return FL_ALL;
    switch (digit) {
    case 0: case 1: case 2: case 3: /* rotates: CF, OF for 1; the rest unaffected */
        return (FL_ALL & ~FL_OF) | (n == 1 ? FL_OF : 0);
    case 7: /* SAR */
        return FL_CF | FL_SF | FL_ZF | FL_PF | (n == 1 ? FL_OF : 0);
    default: /* SHL, SHR: CF undefined for counts >= the width */
        return FL_SF | FL_ZF | FL_PF | (n < bits ? FL_CF : 0) | (n == 1 ? FL_OF : 0);
    }
}

static uint64_t defined_flags(const form *f, uint64_t rcx, bool *skip_dst)
{
    unsigned n = f->cnt == CNT_CL ? (unsigned)(rcx & 0xFF) : f->imm;
    n &= f->size == 8 ? 63 : 31;
    *skip_dst = false;
    switch (f->fkind) {
    case FK_ALL: return FL_ALL;
    case FK_LOGIC: return FL_ALL & ~FL_AF;
    case FK_MUL: return FL_CF | FL_OF;
    case FK_DIV: return 0;
    case FK_FIXED: return f->fmask;
    case FK_SHIFT: return shift_flags(f->digit, f->size, n);
    default:
        if (n == 0)
            return FL_ALL;
        if (n > f->size * 8) {
            /* 16-bit count above 16: flags undefined; the result is
             * undefined too, and the interpreter computes it as P6 and
             * later Intel processors do (cpu_shift.c; cpu_test_shift checks
             * it on every host): compared with an Intel host only. */
            if (!host_cpu_is_intel()) {
                host_vendor_skip("test_diff_alu", "the result of a 16-bit SHLD/SHRD with a count above 16",
                                 "undefined by the SDM; the interpreter computes it as P6 and later Intel processors do");
                *skip_dst = true;
            }
            return 0;
        }
        return FL_CF | FL_SF | FL_ZF | FL_PF | (n == 1 ? FL_OF : 0);
    }
}

static void make_inputs(diff_ctx *d, const form *f, host_regs *in, unsigned k)
{
    for (unsigned r = 0; r < 16; r++)
        in->gpr[r] = operand(d);
    in->gpr[4] = 0;
    in->rflags = rnd(d) & FL_ALL;
    in->mem = operand(d);
    if (f->cnt == CNT_CL) {
        static const unsigned fixed[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255};
        unsigned cl = k < 15 ? fixed[k] : (unsigned)(k % 3 == 0 ? rnd(d) % 66 : rnd(d) & 0xFF);
        in->gpr[1] = (in->gpr[1] & ~0xFFull) | cl;
    }
    if (f->div && (k & 3) != 3) {
        /* Mostly dividends that fit: high half zero (DIV) or the sign of the
         * low half (IDIV); the rest are random and mostly overflow. */
        unsigned size = f->size, bits = size * 8;
        uint64_t m = size_mask(size);
        bool neg = f->div == 2 && ((in->gpr[0] >> (bits - 1)) & 1);
        uint64_t hi = neg ? m : 0;
        if (size == 1)
            in->gpr[0] = (in->gpr[0] & ~0xFF00ull) | (hi & 0xFF) << 8;
        else if (size == 4)
            in->gpr[2] = hi & m;
        else if (size == 2)
            in->gpr[2] = (in->gpr[2] & ~0xFFFFull) | (hi & m);
        else
            in->gpr[2] = hi;
    }
}

/* The 16 conditions of Jcc evaluated from a flags value (SDM Vol. 1 B.1). */
static unsigned conds_from_flags(uint64_t f)
{
    bool of = f & FL_OF, cf = f & FL_CF, zf = f & FL_ZF, sf = f & FL_SF, pf = f & FL_PF;
    bool base[8] = {of, cf, zf, cf || zf, sf, pf, sf != of, zf || sf != of};
    unsigned m = 0;
    for (unsigned cc = 0; cc < 16; cc++)
        m |= (unsigned)(base[cc >> 1] ^ (cc & 1)) << cc;
    return m;
}

/* Runs one form over d->cases inputs, comparing host and interpreter. */
static void run_form(diff_ctx *d, form *fin)
{
    cpu_t *c = &d->h.cpu;
    form lf = *fin, *f = &lf;
    if (d->lock) {
        memmove(f->code + 1, f->code, f->len);
        f->code[0] = 0xF0;
        f->len++;
        strncat(f->name, "/lock", sizeof(f->name) - strlen(f->name) - 1);
    }
    uint64_t code_pa = CODE_BASE + (uint64_t)d->nforms * 32;
    uint8_t buf[32];
    memset(buf, 0xF4, sizeof(buf)); /* HLT after the instruction */
    memcpy(buf, f->code, f->len);
    cpu_harness_load(&d->h, code_pa, buf, sizeof(buf));
    d->nforms++;
    DIFF_CHECK(host_code_build(&d->hc, f->code, f->len), "%s: cannot build", f->name);

    for (unsigned k = 0; k < d->cases; k++) {
        host_regs in, nat;
        make_inputs(d, f, &in, k);
        nat = in;
        if (f->mem)
            nat.gpr[3] = (uint64_t)(uintptr_t)&nat.mem;
        int sig = host_code_run(&d->hc, &nat);

        memcpy(c->gpr, in.gpr, sizeof(c->gpr));
        c->gpr[4] = CPU_HARNESS_STACK;
        if (f->mem) {
            c->gpr[3] = GUEST_MEM;
            uint64_t *mp = cpu_phys_ptr_write(&d->h.phys, GUEST_MEM, 8);
            memcpy(mp, &in.mem, 8);
        }
        cpu_set_rflags(c, in.rflags | 2);
        c->rip = code_pa;
        c->halted = 0;
        cpu_run(c, UINT64_MAX, f->ninsn ? f->ninsn : 1);

        if (sig) {
            DIFF_CHECK(sig == SIGFPE || sig == SIGILL, "%s: host signal %d", f->name, sig);
            int want = sig == SIGFPE ? CPU_EXC_DE : CPU_EXC_UD;
            DIFF_CHECK(cpu_harness_vector(&d->h) == want,
                       "%s case %u: host vector %d, interpreter vector %d (rax=%llx rdx=%llx)",
                       f->name, k, want, cpu_harness_vector(&d->h),
                       (unsigned long long)in.gpr[0], (unsigned long long)in.gpr[2]);
            for (unsigned r = 0; r < 16; r++) {
                if (r != 4 && !(f->mem && r == 3))
                    DIFF_CHECK(c->gpr[r] == in.gpr[r], "%s: fault changed r%u", f->name, r);
            }
            d->faults++;
            continue;
        }
        DIFF_CHECK(c->rip == code_pa + f->len, "%s case %u: rip %llx (vector %d)", f->name,
                      k, (unsigned long long)c->rip, cpu_harness_vector(&d->h));
        bool skip_dst;
        uint64_t fm = defined_flags(f, in.gpr[1], &skip_dst);
        for (unsigned r = 0; r < 16; r++) {
            if (r == 4 || (f->mem && r == 3) || (skip_dst && (int)r == f->dst))
                continue;
            DIFF_CHECK(c->gpr[r] == nat.gpr[r],
                          "%s case %u: r%u interp %016llx host %016llx (in %016llx, rcx %llx)",
                          f->name, k, r, (unsigned long long)c->gpr[r],
                          (unsigned long long)nat.gpr[r], (unsigned long long)in.gpr[r],
                          (unsigned long long)in.gpr[1]);
        }
        if (f->mem && !skip_dst) {
            uint64_t got;
            memcpy(&got, cpu_phys_ptr(&d->h.phys, GUEST_MEM, 8), 8);
            DIFF_CHECK(got == nat.mem, "%s case %u: mem interp %016llx host %016llx", f->name,
                          k, (unsigned long long)got, (unsigned long long)nat.mem);
        }
        unsigned conds = 0;
        for (unsigned cc = 0; cc < 16; cc++)
            conds |= (unsigned)cpu_cond(c, cc) << cc;
        uint64_t all = cpu_get_rflags(c);
        DIFF_CHECK(conds == conds_from_flags(all), "%s case %u: cpu_cond %04x, flags %03llx",
                   f->name, k, conds, (unsigned long long)all);
        uint64_t fi = all & fm, fh = nat.rflags & fm;
        DIFF_CHECK(fi == fh,
                      "%s case %u: flags interp %03llx host %03llx (mask %03llx, in %03llx, rcx %llx)",
                      f->name, k, (unsigned long long)fi, (unsigned long long)fh,
                      (unsigned long long)fm, (unsigned long long)in.rflags,
                      (unsigned long long)in.gpr[1]);
        if (skip_dst)
            d->skipped_dst++;
        d->compared++;
    }
}

static void diff_init(diff_ctx *d, uint64_t seed, unsigned cases, bool lock)
{
    cpu_harness_init(&d->h);
    ck_assert(host_code_init(&d->hc));
    d->rng = seed;
    d->nforms = 0;
    d->cases = cases;
    d->lock = lock;
    d->compared = d->faults = d->skipped_dst = 0;
}

static void diff_done(diff_ctx *d, const char *what)
{
    printf("%s: %u forms, %llu cases compared, %llu faults (#DE/#UD) matched, %llu with an undefined result skipped\n",
           what, d->nforms, (unsigned long long)d->compared, (unsigned long long)d->faults,
           (unsigned long long)d->skipped_dst);
    fflush(stdout);
    host_code_free(&d->hc);
    cpu_harness_free(&d->h);
}

static const unsigned sizes[4] = {1, 2, 4, 8};
static const char *const alu_names[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};

/* The register/memory shapes every r/m form is tried in. */
static unsigned shapes(unsigned size, enc out[3])
{
    unsigned n = 0;
    out[n++] = (enc){size, false, false};
    if (size == 1)
        out[n++] = (enc){size, true, false};
    out[n++] = (enc){size, false, true};
    return n;
}

static void setname(form *f, const char *what, const enc *e)
{
    snprintf(f->name, sizeof(f->name), "%s/%u%s%s", what, e->size * 8, e->mem ? "/mem" : "",
             e->rex_force ? "/rex" : "");
}

/* ---- the tests -------------------------------------------------------------- */

static void gen_alu(diff_ctx *d)
{
    for (unsigned op = 0; op < 8; op++) {
        unsigned fk = (op == 1 || op == 4 || op == 6) ? FK_LOGIC : FK_ALL;
        for (unsigned s = 0; s < 4; s++) {
            enc es[3];
            unsigned ne = shapes(sizes[s], es);
            for (unsigned k = 0; k < ne; k++) {
                const enc *e = &es[k];
                form f = {.fkind = fk, .dst = -1};
                char nm[48];
                unsigned a = pick_reg(d, e, 99), b = pick_reg(d, e, 99);
                uint8_t opc = (uint8_t)(op * 8 + (sizes[s] == 1 ? 0 : 1));
                /* op r/m, reg */
                encode(&f, e, &opc, 1, a, b, 0, 0);
                snprintf(nm, sizeof(nm), "%s rm,r", alu_names[op]);
                setname(&f, nm, e);
                run_form(d, &f);
                /* op reg, r/m */
                uint8_t opc2 = (uint8_t)(opc + 2);
                encode(&f, e, &opc2, 1, b, a, 0, 0);
                snprintf(nm, sizeof(nm), "%s r,rm", alu_names[op]);
                setname(&f, nm, e);
                run_form(d, &f);
                /* group 1 with imm8 (80 / 83) and imm16/32 (81) */
                for (unsigned v = 0; v < 3; v++) {
                    uint64_t imm = v == 0 ? operand(d) : v == 1 ? 0xFF : rnd(d);
                    uint8_t g = sizes[s] == 1 ? 0x80 : 0x83;
                    encode(&f, e, &g, 1, op, a, imm, 1);
                    snprintf(nm, sizeof(nm), "%s rm,ib#%u", alu_names[op], v);
                    setname(&f, nm, e);
                    run_form(d, &f);
                    if (sizes[s] > 1) {
                        uint8_t g81 = 0x81;
                        encode(&f, e, &g81, 1, op, a, imm, sizes[s] == 2 ? 2 : 4);
                        snprintf(nm, sizeof(nm), "%s rm,iz#%u", alu_names[op], v);
                        setname(&f, nm, e);
                        run_form(d, &f);
                    }
                }
            }
            /* accumulator, imm */
            enc e = {sizes[s], false, false};
            form f = {.fkind = fk, .dst = -1};
            unsigned n = 0;
            if (sizes[s] == 2)
                f.code[n++] = 0x66;
            if (sizes[s] == 8)
                f.code[n++] = 0x48;
            f.code[n++] = (uint8_t)(op * 8 + (sizes[s] == 1 ? 4 : 5));
            uint64_t imm = rnd(d);
            unsigned il = sizes[s] == 1 ? 1 : sizes[s] == 2 ? 2 : 4;
            for (unsigned k = 0; k < il; k++)
                f.code[n++] = (uint8_t)(imm >> (8 * k));
            f.len = n;
            f.size = sizes[s];
            char nm[48];
            snprintf(nm, sizeof(nm), "%s acc,imm", alu_names[op]);
            setname(&f, nm, &e);
            run_form(d, &f);
        }
    }
    /* TEST (84/85, A8/A9, F6/F7 /0 and /1) */
    for (unsigned s = 0; s < 4; s++) {
        enc es[3];
        unsigned ne = shapes(sizes[s], es);
        for (unsigned k = 0; k < ne; k++) {
            const enc *e = &es[k];
            form f = {.fkind = FK_LOGIC, .dst = -1};
            unsigned a = pick_reg(d, e, 99), b = pick_reg(d, e, 99);
            uint8_t opc = sizes[s] == 1 ? 0x84 : 0x85, g = sizes[s] == 1 ? 0xF6 : 0xF7;
            encode(&f, e, &opc, 1, a, b, 0, 0);
            setname(&f, "test rm,r", e);
            run_form(d, &f);
            for (unsigned digit = 0; digit < 2; digit++) {
                encode(&f, e, &g, 1, digit, a, rnd(d), sizes[s] == 1 ? 1 : sizes[s] == 2 ? 2 : 4);
                setname(&f, digit ? "test rm,imm (/1)" : "test rm,imm", e);
                run_form(d, &f);
            }
        }
    }
}

static void gen_unary_muldiv(diff_ctx *d)
{
    static const char *const g3[8] = {"test", "test1", "not", "neg", "mul", "imul", "div", "idiv"};
    for (unsigned s = 0; s < 4; s++) {
        enc es[3];
        unsigned ne = shapes(sizes[s], es);
        for (unsigned k = 0; k < ne; k++) {
            const enc *e = &es[k];
            char nm[48];
            unsigned a = pick_reg(d, e, 99);
            /* INC/DEC (FE/FF /0 /1) */
            for (unsigned digit = 0; digit < 2; digit++) {
                form f = {.fkind = FK_ALL, .dst = -1};
                uint8_t opc = sizes[s] == 1 ? 0xFE : 0xFF;
                encode(&f, e, &opc, 1, digit, a, 0, 0);
                setname(&f, digit ? "dec" : "inc", e);
                run_form(d, &f);
            }
            /* NOT, NEG, MUL, IMUL, DIV, IDIV (F6/F7 /2../7) */
            for (unsigned digit = 2; digit < 8; digit++) {
                static const unsigned fk[8] = {0, 0, FK_ALL, FK_ALL, FK_MUL, FK_MUL, FK_DIV, FK_DIV};
                uint8_t opc = sizes[s] == 1 ? 0xF6 : 0xF7;
                /* several register operands, RAX and RDX included */
                for (unsigned v = 0; v < (digit >= 4 ? 3u : 1u); v++) {
                    form f = {.fkind = fk[digit], .dst = -1, .div = digit >= 6 ? digit - 5 : 0};
                    unsigned r = v == 0 ? a : v == 1 ? 0 : 2;
                    if (e->mem && v > 0)
                        break;
                    if (sizes[s] == 1 && !e->rex_force && v == 2)
                        r = 4; /* AH */
                    encode(&f, e, &opc, 1, digit, r, 0, 0);
                    snprintf(nm, sizeof(nm), "%s r%u", g3[digit], r);
                    setname(&f, nm, e);
                    run_form(d, &f);
                }
            }
            if (sizes[s] == 1)
                continue;
            /* IMUL r, r/m (0F AF); IMUL r, r/m, imm (6B ib, 69 iz) */
            unsigned b = pick_reg(d, e, 99);
            form f = {.fkind = FK_MUL, .dst = -1};
            static const uint8_t imul2[2] = {0x0F, 0xAF};
            encode(&f, e, imul2, 2, b, a, 0, 0);
            setname(&f, "imul r,rm", e);
            run_form(d, &f);
            for (unsigned v = 0; v < 3; v++) {
                uint64_t imm = v == 0 ? operand(d) : rnd(d);
                uint8_t o6b = 0x6B, o69 = 0x69;
                encode(&f, e, &o6b, 1, b, a, imm, 1);
                snprintf(nm, sizeof(nm), "imul r,rm,ib#%u", v);
                setname(&f, nm, e);
                run_form(d, &f);
                encode(&f, e, &o69, 1, b, a, imm, sizes[s] == 2 ? 2 : 4);
                snprintf(nm, sizeof(nm), "imul r,rm,iz#%u", v);
                setname(&f, nm, e);
                run_form(d, &f);
            }
        }
        if (sizes[s] == 1)
            continue;
        /* CBW/CWDE/CDQE, CWD/CDQ/CQO: no flags change */
        for (unsigned op = 0x98; op <= 0x99; op++) {
            form f = {.fkind = FK_ALL, .dst = -1, .size = sizes[s]};
            enc e = {sizes[s], false, false};
            unsigned n = 0;
            if (sizes[s] == 2)
                f.code[n++] = 0x66;
            if (sizes[s] == 8)
                f.code[n++] = 0x48;
            f.code[n++] = (uint8_t)op;
            f.len = n;
            setname(&f, op == 0x98 ? "cbw" : "cwd", &e);
            run_form(d, &f);
        }
    }
}

static void gen_shift(diff_ctx *d)
{
    static const char *const g2[8] = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};
    for (unsigned s = 0; s < 4; s++) {
        unsigned bits = sizes[s] * 8;
        const unsigned imms[] = {0, 1, 2, bits - 1, bits, bits + 1, 31, 63, 200};
        enc es[3];
        unsigned ne = shapes(sizes[s], es);
        for (unsigned k = 0; k < ne; k++) {
            const enc *e = &es[k];
            for (unsigned digit = 0; digit < 8; digit++) {
                char nm[48];
                unsigned a = pick_reg(d, e, 1);
                bool b8 = sizes[s] == 1;
                form f = {.fkind = FK_SHIFT, .digit = digit, .dst = -1};
                uint8_t o;
                /* by CL */
                o = b8 ? 0xD2 : 0xD3;
                f.cnt = CNT_CL;
                encode(&f, e, &o, 1, digit, a, 0, 0);
                snprintf(nm, sizeof(nm), "%s rm,cl", g2[digit]);
                setname(&f, nm, e);
                run_form(d, &f);
                /* by 1 */
                o = b8 ? 0xD0 : 0xD1;
                f.cnt = CNT_IMM;
                f.imm = 1;
                encode(&f, e, &o, 1, digit, a, 0, 0);
                snprintf(nm, sizeof(nm), "%s rm,1", g2[digit]);
                setname(&f, nm, e);
                run_form(d, &f);
                /* by imm8 */
                if (e->mem)
                    continue;
                o = b8 ? 0xC0 : 0xC1;
                for (unsigned v = 0; v < sizeof(imms) / sizeof(imms[0]); v++) {
                    f.imm = imms[v];
                    encode(&f, e, &o, 1, digit, a, imms[v], 1);
                    snprintf(nm, sizeof(nm), "%s rm,%u", g2[digit], imms[v]);
                    setname(&f, nm, e);
                    run_form(d, &f);
                }
            }
            if (sizes[s] == 1)
                continue;
            /* SHLD/SHRD by CL and by imm8 */
            for (unsigned right = 0; right < 2; right++) {
                char nm[48];
                unsigned a = pick_reg(d, e, 1), b = pick_reg(d, e, 1);
                uint8_t ocl[2] = {0x0F, right ? 0xAD : 0xA5}, oib[2] = {0x0F, right ? 0xAC : 0xA4};
                form f = {.fkind = FK_SHXD, .cnt = CNT_CL, .dst = e->mem ? -1 : (int)a};
                encode(&f, e, ocl, 2, b, a, 0, 0);
                snprintf(nm, sizeof(nm), "%s rm,r,cl", right ? "shrd" : "shld");
                setname(&f, nm, e);
                run_form(d, &f);
                if (e->mem)
                    continue;
                f.cnt = CNT_IMM;
                for (unsigned v = 0; v < sizeof(imms) / sizeof(imms[0]); v++) {
                    f.imm = imms[v];
                    encode(&f, e, oib, 2, b, a, imms[v], 1);
                    snprintf(nm, sizeof(nm), "%s rm,r,%u", right ? "shrd" : "shld", imms[v]);
                    setname(&f, nm, e);
                    run_form(d, &f);
                }
            }
        }
    }
}

/*
 * Flag producer then flag consumer: the consumer reads the producer's
 * lazily recorded flags (carry-in of ADC/SBB/RCL/RCR, CF kept by INC/DEC),
 * a path the single-instruction forms, which start from materialised
 * flags, never take.
 */
static void gen_pairs(diff_ctx *d)
{
    static const struct { const char *name; uint8_t op, digit; bool logic; } prod[] = {
        {"add", 0x01, 0xFF, false}, {"adc", 0x11, 0xFF, false}, {"sub", 0x29, 0xFF, false},
        {"sbb", 0x19, 0xFF, false}, {"cmp", 0x39, 0xFF, false}, {"and", 0x21, 0xFF, true},
        {"or", 0x09, 0xFF, true},   {"xor", 0x31, 0xFF, true},  {"test", 0x85, 0xFF, true},
        {"neg", 0xF7, 3, false},    {"inc", 0xFF, 0, false},    {"dec", 0xFF, 1, false},
    };
    static const struct { const char *name; uint8_t op, digit; bool rot; } cons[] = {
        {"adc", 0x11, 0xFF, false}, {"sbb", 0x19, 0xFF, false}, {"rcl1", 0xD1, 2, true},
        {"rcr1", 0xD1, 3, true},    {"inc", 0xFF, 0, false},    {"dec", 0xFF, 1, false},
    };
    for (unsigned p = 0; p < sizeof(prod) / sizeof(prod[0]); p++) {
        for (unsigned q = 0; q < sizeof(cons) / sizeof(cons[0]); q++) {
            for (unsigned v = 0; v < 4; v++) {
                enc e1 = {sizes[rnd(d) % 4], false, false}, e2 = {sizes[v], false, false};
                form a = {.dst = -1}, b = {.dst = -1};
                unsigned r1 = pick_reg(d, &e1, 99), r2 = pick_reg(d, &e1, 99);
                unsigned r3 = pick_reg(d, &e2, 99), r4 = pick_reg(d, &e2, 99);
                /* byte forms are the opcode minus one (F6/FE for F7/FF) */
                uint8_t o1 = (uint8_t)(prod[p].op - (e1.size == 1)), o2 = (uint8_t)(cons[q].op - (e2.size == 1));
                encode(&a, &e1, &o1, 1, prod[p].digit == 0xFF ? r1 : prod[p].digit, r2, 0, 0);
                encode(&b, &e2, &o2, 1, cons[q].digit == 0xFF ? r3 : cons[q].digit, r4, 0, 0);
                form f = {.fkind = FK_FIXED, .dst = -1, .ninsn = 2, .size = e2.size};
                memcpy(f.code, a.code, a.len);
                memcpy(f.code + a.len, b.code, b.len);
                f.len = a.len + b.len;
                f.fmask = FL_ALL;
                if (cons[q].rot) /* SF ZF AF PF are the producer's */
                    f.fmask = FL_CF | FL_OF | FL_SF | FL_ZF | FL_PF | (prod[p].logic ? 0 : FL_AF);
                snprintf(f.name, sizeof(f.name), "%s/%u then %s/%u", prod[p].name, e1.size * 8,
                         cons[q].name, e2.size * 8);
                run_form(d, &f);
            }
        }
    }
}

/* Every form over its operands, compared with the host. */
static void diff_run(uint64_t seed, void (*gen)(diff_ctx *), const char *what)
{
    diff_ctx d;
    if (!host_exec_supported())
        return;
    diff_init(&d, seed, CASES, false);
    gen(&d);
    ck_assert_uint_gt(d.compared, 100000);
    diff_done(&d, what);
}

START_TEST(diff_alu)
{
    diff_run(0x5EED0001u, gen_alu, "alu");
}
END_TEST

START_TEST(diff_unary_muldiv)
{
    diff_run(0x5EED0002u, gen_unary_muldiv, "unary/mul/div");
}
END_TEST

START_TEST(diff_shift)
{
    diff_run(0x5EED0003u, gen_shift, "shift/rotate");
}
END_TEST

START_TEST(diff_lazy_pairs)
{
    diff_run(0x5EED0005u, gen_pairs, "producer/consumer pairs");
}
END_TEST

/* The same forms with a LOCK prefix: where the host raises #UD (SIGILL)
 * the interpreter must too, elsewhere the results must agree. */
START_TEST(diff_lock)
{
    diff_ctx d;
    if (!host_exec_supported())
        return;
    diff_init(&d, 0x5EED0004u, 16, true);
    gen_alu(&d);
    gen_unary_muldiv(&d);
    gen_shift(&d);
    ck_assert_uint_gt(d.faults, 1000);
    ck_assert_uint_gt(d.compared, 1000);
    diff_done(&d, "lock");
}
END_TEST

static Suite *diff_suite(void)
{
    Suite *s = suite_create("cpu_diff_alu");
    TCase *tc = tcase_create("host");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, diff_alu);
    tcase_add_test(tc, diff_unary_muldiv);
    tcase_add_test(tc, diff_shift);
    tcase_add_test(tc, diff_lock);
    tcase_add_test(tc, diff_lazy_pairs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(diff_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
