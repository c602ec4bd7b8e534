/*
 * test_diff_bits.c — differential tests of bit and string instructions
 * against the host CPU: each random case runs natively (through a small
 * register-loading stub and an mmap'd code buffer) and in the interpreter
 * from the same registers, flags and memory, and the results must agree.
 *
 * Compared: BT/BTS/BTR/BTC (register and memory destinations, register and
 * immediate offsets), BSF/BSR (also on zero), LZCNT/TZCNT/POPCNT (when the
 * host has them), SETcc and CMOVcc, and MOVS/STOS/LODS/CMPS/SCAS with and without REP, REPE,
 * REPNE, in both directions, at every size, with 64- and 32-bit address
 * size. Flags the SDM leaves undefined are masked on every host. What Intel
 * and AMD are known to do differently is compared only on an Intel host
 * (the interpreter models Intel; docs/cpu-model.md, "Where Intel and AMD
 * differ") and left out elsewhere with a message: BSF/BSR on zero with a
 * 32-bit destination (Intel clears bits 63:32, AMD keeps them) and a
 * repeated string instruction with a 32-bit address size and ECX = 0
 * (Intel writes ECX, ESI, EDI, clearing bits 63:32; AMD leaves them).
 * cpu_test_bits and cpu_test_string assert the Intel results on every
 * host. Cases are seeded; a failure names the case and the instruction
 * bytes.
 */
#include <check.h>
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"
#include "tests/support/host_exec.h"

/* ---- native execution ---------------------------------------------------------- */

/* Registers in and out of one native run. Offsets are used by the stub. */
typedef struct native_regs {
    uint64_t gpr[16]; /* 0..120; gpr[4] (RSP) is neither loaded nor stored */
    uint64_t rflags;  /* 128: loaded with POPFQ (arithmetic flags and DF) */
    uint64_t target;  /* 136: the code buffer: instruction bytes, then RET */
} native_regs;

void strbits_native_call(native_regs *r);

/*
 * Saves the callee-saved registers, loads every GPR but RSP and RFLAGS from
 * *r, calls the instruction buffer, and stores everything back. Between the
 * instruction and PUSHFQ only flag-neutral instructions run (LEA, MOV,
 * PUSH, POP). CLD restores the ABI's DF = 0 before returning to C.
 */
__asm__(
    ".pushsection .text\n"
    ".globl strbits_native_call\n"
    ".type strbits_native_call, @function\n"
    "strbits_native_call:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  push %rdi\n"
    "  pushq 136(%rdi)\n"
    "  pushq 128(%rdi)\n"
    "  popfq\n"
    "  mov 0(%rdi), %rax\n  mov 8(%rdi), %rcx\n  mov 16(%rdi), %rdx\n  mov 24(%rdi), %rbx\n"
    "  mov 40(%rdi), %rbp\n  mov 48(%rdi), %rsi\n"
    "  mov 64(%rdi), %r8\n  mov 72(%rdi), %r9\n  mov 80(%rdi), %r10\n  mov 88(%rdi), %r11\n"
    "  mov 96(%rdi), %r12\n  mov 104(%rdi), %r13\n  mov 112(%rdi), %r14\n  mov 120(%rdi), %r15\n"
    "  mov 56(%rdi), %rdi\n"
    "  call *(%rsp)\n"
    "  lea 8(%rsp), %rsp\n"
    "  push %rdi\n"
    "  mov 8(%rsp), %rdi\n"
    "  mov %rax, 0(%rdi)\n  mov %rcx, 8(%rdi)\n  mov %rdx, 16(%rdi)\n  mov %rbx, 24(%rdi)\n"
    "  mov %rbp, 40(%rdi)\n  mov %rsi, 48(%rdi)\n"
    "  mov %r8, 64(%rdi)\n  mov %r9, 72(%rdi)\n  mov %r10, 80(%rdi)\n  mov %r11, 88(%rdi)\n"
    "  mov %r12, 96(%rdi)\n  mov %r13, 104(%rdi)\n  mov %r14, 112(%rdi)\n  mov %r15, 120(%rdi)\n"
    "  pop %rax\n"
    "  mov %rax, 56(%rdi)\n"
    "  pushfq\n"
    "  pop %rax\n"
    "  mov %rax, 128(%rdi)\n"
    "  cld\n"
    "  pop %rdi\n"
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
    "  ret\n"
    ".size strbits_native_call, .-strbits_native_call\n"
    ".popsection\n");

#define REGION 8192u          /* data region of the string cases */
#define GUEST_REGION 0x200000u /* the same region in guest memory */
/* The string cases see the region at GUEST_LIN through 4-KiB pages whose
 * physical frames are in reverse order, so a string crossing a page in
 * linear memory jumps in physical memory (a fast path that ran past a page
 * end would show). */
#define GUEST_LIN 0x40000000ull
#define GUEST_PD 0x20000u
#define GUEST_PT 0x21000u

typedef struct diff_env {
    cpu_harness h;
    uint8_t *code; /* RWX code buffer */
    uint8_t *host; /* REGION bytes below 4 GiB (67h forms address it with ESI/EDI) */
    uint64_t rng;
    bool has_lzcnt, has_bmi1, has_popcnt;
    bool intel; /* the host is an Intel CPU: vendor-specific cases compared too */
} diff_env;

static diff_env env;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic for the fixed seed. */
    env.rng ^= env.rng >> 12;
    env.rng ^= env.rng << 25;
    env.rng ^= env.rng >> 27;
    return env.rng * 0x2545F4914F6CDD1Dull;
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* A random value with interesting shape: sparse, dense, small, or any. */
static uint64_t rnd_value(void)
{
    switch (rnd_below(5)) {
    case 0:
        return 1ull << rnd_below(64);
    case 1:
        return rnd() >> rnd_below(64);
    case 2:
        return rnd() & rnd() & rnd();
    case 3:
        return ~(rnd() & rnd());
    default:
        return rnd();
    }
}

static void setup(void)
{
    memset(&env, 0, sizeof(env));
    env.rng = 0x5EED0B175EED0B17ull;
    cpu_harness_init(&env.h);
    env.code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
    ck_assert_msg(env.code != MAP_FAILED, "cannot map an executable buffer");
    env.host = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                    -1, 0);
    ck_assert_msg(env.host != MAP_FAILED, "cannot map a buffer below 4 GiB");
    ck_assert_uint_lt((uintptr_t)env.host + REGION, 1ull << 32);
    env.intel = host_cpu_is_intel();
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d))
        env.has_popcnt = (c >> 23) & 1;
    if (__get_cpuid(0x80000001, &a, &b, &c, &d))
        env.has_lzcnt = (c >> 5) & 1;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        env.has_bmi1 = (b >> 3) & 1;
    }
}

static void teardown(void)
{
    munmap(env.code, 4096);
    munmap(env.host, REGION);
    cpu_harness_free(&env.h);
}

/* Runs insn natively on r. */
static void native_run(const uint8_t *insn, size_t len, native_regs *r)
{
    memcpy(env.code, insn, len);
    env.code[len] = 0xC3; /* ret */
    r->target = (uintptr_t)env.code;
    r->rflags = (r->rflags & (CPU_FL_ARITH | CPU_FL_DF)) | 0x202;
    strbits_native_call(r);
}

/* Runs insn in the interpreter with the same registers and flags. */
static void emu_run(const uint8_t *insn, size_t len, const native_regs *in, native_regs *out)
{
    cpu_t *c = &env.h.cpu;
    for (unsigned k = 0; k < 16; k++)
        if (k != CPU_RSP)
            c->gpr[k] = in->gpr[k];
    c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
    c->halted = 0;
    cpu_set_rflags(c, 2 | (in->rflags & (CPU_FL_ARITH | CPU_FL_DF)));
    cpu_dcache_flush(c);
    cpu_harness_exec(&env.h, insn, len, 1);
    ck_assert_msg(c->rip == CPU_HARNESS_CODE + len, "instruction did not complete (vector %d)",
                  cpu_harness_vector(&env.h));
    memcpy(out->gpr, c->gpr, sizeof(out->gpr));
    out->rflags = cpu_get_rflags(c);
}

static void describe(char *buf, size_t n, unsigned cs, const uint8_t *insn, size_t len)
{
    int p = snprintf(buf, n, "case %u, bytes", cs);
    for (size_t k = 0; k < len && p > 0 && (size_t)p < n; k++)
        p += snprintf(buf + p, n - (size_t)p, " %02X", insn[k]);
}

/* Compares registers (all but RSP, and bits of `mask_reg` masked by
 * reg_mask) and the flags in flag_mask. */
static void compare(unsigned cs, const uint8_t *insn, size_t len, const native_regs *n,
                    const native_regs *e, uint64_t flag_mask, unsigned mask_reg, uint64_t reg_mask)
{
    char what[96];
    describe(what, sizeof(what), cs, insn, len);
    for (unsigned k = 0; k < 16; k++) {
        if (k == CPU_RSP)
            continue;
        uint64_t m = k == mask_reg ? reg_mask : ~0ull;
        ck_assert_msg((n->gpr[k] & m) == (e->gpr[k] & m),
                      "%s: reg %u host %016llx emu %016llx", what, k,
                      (unsigned long long)n->gpr[k], (unsigned long long)e->gpr[k]);
    }
    ck_assert_msg((n->rflags & flag_mask) == (e->rflags & flag_mask),
                  "%s: flags host %03llx emu %03llx (compared %03llx)", what,
                  (unsigned long long)(n->rflags & 0xFFF), (unsigned long long)(e->rflags & 0xFFF),
                  (unsigned long long)flag_mask);
}

static void random_regs(native_regs *r)
{
    for (unsigned k = 0; k < 16; k++)
        r->gpr[k] = rnd_value();
    r->gpr[CPU_RSP] = 0;
    r->rflags = rnd() & CPU_FL_ARITH;
}

static unsigned rnd_size(void)
{
    static const unsigned sizes[3] = {2, 4, 8};
    return sizes[rnd_below(3)];
}

/* A random ModRM register pair (no RSP, no RBX — RBX is the memory base). */
static unsigned rnd_reg(void)
{
    static const unsigned regs[] = {0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    return regs[rnd_below(sizeof(regs) / sizeof(regs[0]))];
}

/* Emits REX (with W for 64-bit) when needed, then the opcode bytes and a
 * register-register ModRM. */
static size_t encode_rr(uint8_t *b, bool f3, unsigned size, const uint8_t *op, size_t oplen,
                        unsigned reg, unsigned rm)
{
    size_t n = 0;
    if (size == 2)
        b[n++] = 0x66;
    if (f3)
        b[n++] = 0xF3;
    unsigned rex = (size == 8 ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0);
    if (rex)
        b[n++] = (uint8_t)(0x40 | rex);
    memcpy(b + n, op, oplen);
    n += oplen;
    b[n++] = (uint8_t)(0xC0 | ((reg & 7) << 3) | (rm & 7));
    return n;
}

/* ---- bit tests ------------------------------------------------------------------- */

START_TEST(diff_bt_register)
{
    static const uint8_t ops[4] = {0xA3, 0xAB, 0xB3, 0xBB};
    for (unsigned cs = 0; cs < 6000; cs++) {
        native_regs in, n, e;
        uint8_t b[16];
        size_t len;
        unsigned size = rnd_size(), reg = rnd_reg(), rm = rnd_reg();
        random_regs(&in);
        if (rnd_below(2)) {
            uint8_t op[2] = {0x0F, ops[rnd_below(4)]};
            len = encode_rr(b, false, size, op, 2, reg, rm);
        } else {
            uint8_t op[2] = {0x0F, 0xBA};
            len = encode_rr(b, false, size, op, 2, 4 + rnd_below(4), rm);
            b[len++] = (uint8_t)rnd();
        }
        n = in;
        native_run(b, len, &n);
        emu_run(b, len, &in, &e);
        compare(cs, b, len, &n, &e, CPU_FL_CF | CPU_FL_ZF | CPU_FL_DF, 99, 0);
    }
}
END_TEST

START_TEST(diff_bt_memory)
{
    /* bt* [rbx], reg with offsets reaching ±28 KiB around the middle of
     * the region, and bt* [rbx], imm8. */
    static const uint8_t ops[4] = {0xA3, 0xAB, 0xB3, 0xBB};
    uint8_t *guest = cpu_phys_ptr_write(&env.h.phys, GUEST_REGION, REGION * 8);
    uint8_t *host = malloc(REGION * 8);
    ck_assert_ptr_nonnull(guest);
    ck_assert_ptr_nonnull(host);
    for (unsigned k = 0; k < REGION * 8; k++)
        host[k] = guest[k] = (uint8_t)rnd();
    const uint64_t mid = REGION * 4;
    for (unsigned cs = 0; cs < 4000; cs++) {
        native_regs in, n, e;
        uint8_t b[16];
        size_t len = 0;
        unsigned size = rnd_size(), reg = rnd_reg();
        random_regs(&in);
        bool imm = rnd_below(4) == 0;
        if (size == 2)
            b[len++] = 0x66;
        unsigned rex = (size == 8 ? 8 : 0) | ((reg & 8) ? 4 : 0);
        if (rex)
            b[len++] = (uint8_t)(0x40 | rex);
        b[len++] = 0x0F;
        if (imm) {
            b[len++] = 0xBA;
            b[len++] = (uint8_t)(((4 + rnd_below(4)) << 3) | 3); /* [rbx] */
            b[len++] = (uint8_t)rnd();
        } else {
            b[len++] = ops[rnd_below(4)];
            b[len++] = (uint8_t)(((reg & 7) << 3) | 3);
            int64_t off = (int64_t)rnd_below(2 * 28 * 1024 * 8) - 28 * 1024 * 8;
            if (size == 2)
                off = (int16_t)off;
            in.gpr[reg] = (in.gpr[reg] & ~cpu_size_mask(size)) | ((uint64_t)off & cpu_size_mask(size));
        }
        in.gpr[CPU_RBX] = (uintptr_t)host + mid;
        n = in;
        native_run(b, len, &n);
        in.gpr[CPU_RBX] = GUEST_REGION + mid;
        emu_run(b, len, &in, &e);
        e.gpr[CPU_RBX] = n.gpr[CPU_RBX];
        compare(cs, b, len, &n, &e, CPU_FL_CF | CPU_FL_ZF | CPU_FL_DF, 99, 0);
        ck_assert_msg(memcmp(host, guest, REGION * 8) == 0, "case %u: memory differs", cs);
    }
    free(host);
}
END_TEST

START_TEST(diff_bsf_bsr)
{
    for (unsigned cs = 0; cs < 6000; cs++) {
        native_regs in, n, e;
        uint8_t b[16];
        unsigned size = rnd_size(), reg = rnd_reg(), rm = rnd_reg();
        uint8_t op[2] = {0x0F, (uint8_t)(0xBC + rnd_below(2))};
        size_t len = encode_rr(b, false, size, op, 2, reg, rm);
        random_regs(&in);
        bool zero = rnd_below(8) == 0;
        if (zero)
            in.gpr[rm] &= ~cpu_size_mask(size);
        else if ((in.gpr[rm] & cpu_size_mask(size)) == 0)
            in.gpr[rm] |= 1ull << rnd_below(size * 8);
        n = in;
        native_run(b, len, &n);
        emu_run(b, len, &in, &e);
        /* A zero source leaves a 32-bit destination's bits 63:32 to the
         * vendor (and when reg = rm the source is the destination). */
        uint64_t m = ~0ull;
        if (zero && size == 4 && !env.intel) {
            host_vendor_skip("test_diff_bits", "bits 63:32 of a 32-bit BSF/BSR destination after a zero source",
                             "Intel clears them, AMD keeps them; cpu_test_bits scans_on_zero checks Intel's");
            m = 0xFFFFFFFFull;
        }
        compare(cs, b, len, &n, &e, CPU_FL_ZF | CPU_FL_DF, reg, m);
    }
}
END_TEST

static void diff_count(unsigned op2, bool supported, const char *name, uint64_t flag_mask)
{
    if (!supported) {
        fprintf(stderr, "test_diff_bits: host has no %s, skipping its comparison\n", name);
        return;
    }
    for (unsigned cs = 0; cs < 5000; cs++) {
        native_regs in, n, e;
        uint8_t b[16];
        unsigned size = rnd_size(), reg = rnd_reg(), rm = rnd_reg();
        uint8_t op[2] = {0x0F, (uint8_t)op2};
        size_t len = encode_rr(b, true, size, op, 2, reg, rm);
        random_regs(&in);
        if (rnd_below(8) == 0)
            in.gpr[rm] &= ~cpu_size_mask(size);
        n = in;
        native_run(b, len, &n);
        emu_run(b, len, &in, &e);
        compare(cs, b, len, &n, &e, flag_mask | CPU_FL_DF, 99, 0);
    }
}

START_TEST(diff_lzcnt)
{
    diff_count(0xBD, env.has_lzcnt, "LZCNT", CPU_FL_CF | CPU_FL_ZF);
}
END_TEST

START_TEST(diff_tzcnt)
{
    diff_count(0xBC, env.has_bmi1, "TZCNT (BMI1)", CPU_FL_CF | CPU_FL_ZF);
}
END_TEST

START_TEST(diff_popcnt)
{
    diff_count(0xB8, env.has_popcnt, "POPCNT", CPU_FL_ARITH);
}
END_TEST

START_TEST(diff_setcc_cmovcc)
{
    for (unsigned cs = 0; cs < 4000; cs++) {
        native_regs in, n, e;
        uint8_t b[16];
        size_t len;
        unsigned cc = rnd_below(16), reg = rnd_reg(), rm = rnd_reg();
        random_regs(&in);
        if (rnd_below(2)) {
            uint8_t op[2] = {0x0F, (uint8_t)(0x90 + cc)};
            len = encode_rr(b, false, 4, op, 2, 0, rm); /* setcc r/m8 */
        } else {
            uint8_t op[2] = {0x0F, (uint8_t)(0x40 + cc)};
            len = encode_rr(b, false, rnd_size(), op, 2, reg, rm);
        }
        n = in;
        native_run(b, len, &n);
        emu_run(b, len, &in, &e);
        compare(cs, b, len, &n, &e, CPU_FL_ARITH | CPU_FL_DF, 99, 0);
    }
}
END_TEST

/* ---- string instructions ------------------------------------------------------------ */

enum { S_MOVS, S_STOS, S_LODS, S_CMPS, S_SCAS, S_NOPS };
static const uint8_t str_opcode[S_NOPS] = {0xA4, 0xAA, 0xAC, 0xA6, 0xAE};

/* Fills the region from a few element values so that compares and scans
 * both match and differ. */
static void fill_region(uint8_t *p, unsigned size)
{
    uint64_t pool[4];
    for (unsigned k = 0; k < 4; k++)
        pool[k] = rnd();
    for (unsigned k = 0; k + size <= REGION; k += size) {
        uint64_t v = rnd_below(8) == 0 ? rnd() : pool[rnd_below(4)];
        memcpy(p + k, &v, size);
    }
}

/* Maps linear page k of GUEST_LIN to physical GUEST_REGION + (npages-1-k)
 * pages, through PDPT entry 1 of the harness's identity tables. */
static void map_reversed(unsigned npages)
{
    uint64_t e = GUEST_PD | 7;
    ck_assert(cpu_phys_write(&env.h.phys, 0x2000 + 8, &e, 8));
    e = GUEST_PT | 7;
    ck_assert(cpu_phys_write(&env.h.phys, GUEST_PD, &e, 8));
    for (unsigned k = 0; k < npages; k++) {
        e = (GUEST_REGION + (uint64_t)(npages - 1 - k) * 4096) | 7;
        ck_assert(cpu_phys_write(&env.h.phys, GUEST_PT + k * 8, &e, 8));
    }
    cpu_tlb_flush(&env.h.cpu);
}

/* Copies between the host region and the guest's linear view of it. */
static void guest_put(const uint8_t *src)
{
    for (unsigned k = 0; k < REGION; k += 4096)
        memcpy(cpu_phys_ptr_write(&env.h.phys, GUEST_REGION + (REGION - 4096 - k), 4096), src + k, 4096);
}

static void guest_get(uint8_t *dst)
{
    ck_assert(cpu_peek_linear(&env.h.cpu, GUEST_LIN, dst, REGION));
}

START_TEST(diff_string)
{
    static uint8_t guest[REGION];
    map_reversed(REGION / 4096);
    for (unsigned cs = 0; cs < 6000; cs++) {
        unsigned op = rnd_below(S_NOPS);
        static const unsigned sizes[4] = {1, 2, 4, 8};
        unsigned size = sizes[rnd_below(4)];
        unsigned rep = rnd_below(4); /* 0 none, 1 F3, 2 F2, 3 F3 */
        bool a32 = rnd_below(3) == 0, df = rnd_below(2);
        unsigned count = rnd_below(6) == 0 ? 0 : rnd_below(100);

        uint8_t b[8];
        size_t len = 0;
        if (a32)
            b[len++] = 0x67;
        if (size == 2)
            b[len++] = 0x66;
        if (rep == 1 || rep == 3)
            b[len++] = 0xF3;
        else if (rep == 2)
            b[len++] = 0xF2;
        if (size == 8)
            b[len++] = 0x48;
        b[len++] = (uint8_t)(str_opcode[op] + (size > 1));

        fill_region(env.host, size);
        if (op == S_CMPS && rnd_below(2)) {
            /* Make the two strings mostly equal. */
            memcpy(env.host + REGION / 2, env.host, REGION / 2);
            for (unsigned k = rnd_below(4); k > 0; k--)
                env.host[REGION / 2 + rnd_below(REGION / 2)] ^= (uint8_t)(1 + rnd_below(255));
        }
        guest_put(env.host);

        /* Start offsets that keep every access inside the region. */
        const unsigned span = 100 * 8 + 8;
        unsigned so = df ? span + rnd_below(REGION / 2 - span - 8) : rnd_below(REGION / 2 - span);
        unsigned dof;
        if (op == S_MOVS && rnd_below(3) == 0) {
            int delta = (int)rnd_below(33) - 16; /* overlapping copy */
            if ((int)so + delta < 0)
                delta = -delta;
            dof = (unsigned)((int)so + delta);
        } else if (op == S_CMPS) {
            dof = so + REGION / 2;
        } else {
            dof = df ? span + rnd_below(REGION - span - 8) : rnd_below(REGION - span);
        }

        native_regs in, n, e;
        random_regs(&in);
        in.rflags |= df ? CPU_FL_DF : 0;
        uint64_t hi_si = a32 ? (rnd() << 32) : 0, hi_di = a32 ? (rnd() << 32) : 0;
        uint64_t hi_cx = a32 ? (rnd() << 32) : 0;
        in.gpr[CPU_RCX] = rep ? (hi_cx | count) : rnd_value();
        in.gpr[CPU_RSI] = hi_si + (uintptr_t)env.host + so;
        in.gpr[CPU_RDI] = hi_di + (uintptr_t)env.host + dof;
        n = in;
        native_run(b, len, &n);
        in.gpr[CPU_RSI] = hi_si + GUEST_LIN + so;
        in.gpr[CPU_RDI] = hi_di + GUEST_LIN + dof;
        emu_run(b, len, &in, &e);
        /* Same offsets into the region: rebase the guest pointers. */
        e.gpr[CPU_RSI] += (uintptr_t)env.host - GUEST_LIN;
        e.gpr[CPU_RDI] += (uintptr_t)env.host - GUEST_LIN;
        if (a32 && rep && count == 0 && !env.intel) {
            host_vendor_skip("test_diff_bits",
                             "bits 63:32 of RCX, RSI and RDI after a 67h REP string with ECX = 0",
                             "Intel writes ECX/ESI/EDI, AMD leaves them; cpu_test_string "
                             "rep_count_zero_a32_intel checks Intel's");
            static const unsigned vendor_regs[3] = {CPU_RCX, CPU_RSI, CPU_RDI};
            for (unsigned k = 0; k < 3; k++) {
                unsigned r = vendor_regs[k];
                e.gpr[r] = (n.gpr[r] & ~0xFFFFFFFFull) | (e.gpr[r] & 0xFFFFFFFFull);
            }
        }
        compare(cs, b, len, &n, &e, CPU_FL_ARITH | CPU_FL_DF, 99, 0);
        char what[96];
        describe(what, sizeof(what), cs, b, len);
        guest_get(guest);
        ck_assert_msg(memcmp(env.host, guest, REGION) == 0, "%s: memory differs", what);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("diff_bits");
    TCase *t = tcase_create("diff_bits");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, diff_bt_register);
    tcase_add_test(t, diff_bt_memory);
    tcase_add_test(t, diff_bsf_bsr);
    tcase_add_test(t, diff_lzcnt);
    tcase_add_test(t, diff_tzcnt);
    tcase_add_test(t, diff_popcnt);
    tcase_add_test(t, diff_setcc_cmovcc);
    tcase_add_test(t, diff_string);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
