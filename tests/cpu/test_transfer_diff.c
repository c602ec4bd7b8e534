/*
 * test_transfer_diff.c — the data transfer family (cpu/cpu_transfer.c)
 * against the host CPU: each single-instruction form runs natively
 * (tests/support/host_exec) and in the interpreter with the same random
 * and edge-value registers, memory operand and flags; every register, the
 * memory operand and the six arithmetic flags must agree.
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_harness.h"
#include "tests/support/host_exec.h"

#define DATA 0x200000u /* identity-mapped RAM for data */

static cpu_harness h;
static cpu_t *c;

static void setup(void)
{
    cpu_harness_init(&h);
    c = &h.cpu;
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

static uint64_t peek(uint64_t pa, unsigned size)
{
    uint64_t v = 0;
    ck_assert(cpu_phys_read(&h.phys, pa, &v, size));
    return v;
}

static void poke(uint64_t pa, uint64_t v, unsigned size)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &v, size));
}

#define DIFF_CODE 0x300000u
#define DIFF_MEM (DATA + 0x1000)
#define DIFF_CASES 1500
#define FL_ALL 0x8D5ull /* CF PF AF ZF SF OF */

/* How a form's operands are made equal on odd cases, so compare-and-swap
 * forms take both paths. */
enum { EQ_NONE = -1, EQ_MEM = 16, EQ_MEM8B = 17, EQ_AH_AL = 18 };

typedef struct dform {
    const char *name;
    uint8_t code[15];
    uint8_t len;
    int8_t base; /* the memory operand's base register (its value differs
                  * between host and guest), or -1 */
    int8_t eq;  /* register that gets RAX's value, or EQ_* */
} dform;

#define DF(nm, base, eq, ...) {nm, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), base, eq}

/* Every form leaves the flags it does not define unchanged, or defines
 * all six (XADD, CMPXCHG, SAHF, CMC...), so all six are compared. */
static const dform dforms[] = {
    DF("mov al, cl", -1, EQ_NONE, 0x88, 0xC8),
    DF("mov ch, ah", -1, EQ_NONE, 0x88, 0xE5),
    DF("mov sil, dil (rex)", -1, EQ_NONE, 0x40, 0x88, 0xFE),
    DF("mov ax, cx", -1, EQ_NONE, 0x66, 0x89, 0xC8),
    DF("mov eax, ecx", -1, EQ_NONE, 0x89, 0xC8),
    DF("mov rax, rcx", -1, EQ_NONE, 0x48, 0x89, 0xC8),
    DF("mov r9d, r10d (8b)", -1, EQ_NONE, 0x45, 0x8B, 0xCA),
    DF("mov al, [rbx]", 3, EQ_NONE, 0x8A, 0x03),
    DF("mov ax, [rbx]", 3, EQ_NONE, 0x66, 0x8B, 0x03),
    DF("mov eax, [rbx]", 3, EQ_NONE, 0x8B, 0x03),
    DF("mov rax, [rbx]", 3, EQ_NONE, 0x48, 0x8B, 0x03),
    DF("mov [rbx], ah", 3, EQ_NONE, 0x88, 0x23),
    DF("mov [rbx], cx", 3, EQ_NONE, 0x66, 0x89, 0x0B),
    DF("mov [rbx], ecx", 3, EQ_NONE, 0x89, 0x0B),
    DF("mov [rbx], rcx", 3, EQ_NONE, 0x48, 0x89, 0x0B),
    DF("mov byte [rbx], 0x81", 3, EQ_NONE, 0xC6, 0x03, 0x81),
    DF("mov qword [rbx], -0x80", 3, EQ_NONE, 0x48, 0xC7, 0x03, 0x80, 0xFF, 0xFF, 0xFF),
    DF("mov eax, 0x80000000", -1, EQ_NONE, 0xB8, 0x00, 0x00, 0x00, 0x80),
    DF("mov rax, -0x80000000", -1, EQ_NONE, 0x48, 0xC7, 0xC0, 0x00, 0x00, 0x00, 0x80),
    DF("mov bh, 0x99", -1, EQ_NONE, 0xB7, 0x99),
    DF("movzx eax, cl", -1, EQ_NONE, 0x0F, 0xB6, 0xC1),
    DF("movzx eax, ch", -1, EQ_NONE, 0x0F, 0xB6, 0xC5),
    DF("movzx rax, bpl", -1, EQ_NONE, 0x48, 0x0F, 0xB6, 0xC5),
    DF("movzx ax, cl", -1, EQ_NONE, 0x66, 0x0F, 0xB6, 0xC1),
    DF("movzx eax, cx", -1, EQ_NONE, 0x0F, 0xB7, 0xC1),
    DF("movzx rax, word [rbx]", 3, EQ_NONE, 0x48, 0x0F, 0xB7, 0x03),
    DF("movsx eax, cl", -1, EQ_NONE, 0x0F, 0xBE, 0xC1),
    DF("movsx eax, ah", -1, EQ_NONE, 0x0F, 0xBE, 0xC4),
    DF("movsx rax, byte [rbx]", 3, EQ_NONE, 0x48, 0x0F, 0xBE, 0x03),
    DF("movsx ax, cl", -1, EQ_NONE, 0x66, 0x0F, 0xBE, 0xC1),
    DF("movsx eax, cx", -1, EQ_NONE, 0x0F, 0xBF, 0xC1),
    DF("movsx rax, cx", -1, EQ_NONE, 0x48, 0x0F, 0xBF, 0xC1),
    DF("movsxd rax, ecx", -1, EQ_NONE, 0x48, 0x63, 0xC1),
    DF("movsxd rax, [rbx]", 3, EQ_NONE, 0x48, 0x63, 0x03),
    DF("movsxd eax, ecx (no rex.w)", -1, EQ_NONE, 0x63, 0xC1),
    DF("xchg cl, al", -1, EQ_NONE, 0x86, 0xC8),
    DF("xchg al, ah", -1, EQ_NONE, 0x86, 0xE0),
    DF("xchg ax, cx", -1, EQ_NONE, 0x66, 0x87, 0xC8),
    DF("xchg eax, ecx (87)", -1, EQ_NONE, 0x87, 0xC8),
    DF("xchg rax, rcx (87)", -1, EQ_NONE, 0x48, 0x87, 0xC8),
    DF("xchg eax, eax (87)", -1, EQ_NONE, 0x87, 0xC0),
    DF("xchg [rbx], cl", 3, EQ_NONE, 0x86, 0x0B),
    DF("xchg [rbx], ecx", 3, EQ_NONE, 0x87, 0x0B),
    DF("xchg [rbx], rcx", 3, EQ_NONE, 0x48, 0x87, 0x0B),
    DF("xchg eax, ecx (91)", -1, EQ_NONE, 0x91),
    DF("xchg rax, rcx (91)", -1, EQ_NONE, 0x48, 0x91),
    DF("xchg ax, cx (91)", -1, EQ_NONE, 0x66, 0x91),
    DF("xchg eax, r8d", -1, EQ_NONE, 0x41, 0x90),
    DF("nop (90)", -1, EQ_NONE, 0x90),
    DF("xadd cl, al", -1, EQ_NONE, 0x0F, 0xC0, 0xC1),
    DF("xadd al, ah", -1, EQ_NONE, 0x0F, 0xC0, 0xE0),
    DF("xadd ax, cx", -1, EQ_NONE, 0x66, 0x0F, 0xC1, 0xC8),
    DF("xadd eax, ecx", -1, EQ_NONE, 0x0F, 0xC1, 0xC8),
    DF("xadd rax, rcx", -1, EQ_NONE, 0x48, 0x0F, 0xC1, 0xC8),
    DF("xadd eax, eax", -1, EQ_NONE, 0x0F, 0xC1, 0xC0),
    DF("xadd [rbx], cl", 3, EQ_NONE, 0x0F, 0xC0, 0x0B),
    DF("lock xadd [rbx], rcx", 3, EQ_NONE, 0xF0, 0x48, 0x0F, 0xC1, 0x0B),
    DF("cmpxchg al, cl", -1, EQ_NONE, 0x0F, 0xB0, 0xC8),
    DF("cmpxchg cl, dl", -1, 1, 0x0F, 0xB0, 0xD1),
    DF("cmpxchg ah, al", -1, EQ_AH_AL, 0x0F, 0xB0, 0xC4),
    DF("cmpxchg cx, dx", -1, 1, 0x66, 0x0F, 0xB1, 0xD1),
    DF("cmpxchg ecx, edx", -1, 1, 0x0F, 0xB1, 0xD1),
    DF("cmpxchg rcx, rdx", -1, 1, 0x48, 0x0F, 0xB1, 0xD1),
    DF("cmpxchg ecx, eax", -1, 1, 0x0F, 0xB1, 0xC1),
    DF("cmpxchg eax, ecx", -1, EQ_NONE, 0x0F, 0xB1, 0xC8),
    DF("cmpxchg [rbx], cl", 3, EQ_MEM, 0x0F, 0xB0, 0x0B),
    DF("cmpxchg [rbx], cx", 3, EQ_MEM, 0x66, 0x0F, 0xB1, 0x0B),
    DF("cmpxchg [rbx], ecx", 3, EQ_MEM, 0x0F, 0xB1, 0x0B),
    DF("lock cmpxchg [rbx], rcx", 3, EQ_MEM, 0xF0, 0x48, 0x0F, 0xB1, 0x0B),
    DF("lock cmpxchg8b [rsi]", 6, EQ_MEM8B, 0xF0, 0x0F, 0xC7, 0x0E),
    DF("bswap eax", -1, EQ_NONE, 0x0F, 0xC8),
    DF("bswap r9", -1, EQ_NONE, 0x49, 0x0F, 0xC9),
    DF("bswap cx (undefined: Intel and AMD clear it)", -1, EQ_NONE, 0x66, 0x0F, 0xC9),
    DF("movbe eax, [rbx]", 3, EQ_NONE, 0x0F, 0x38, 0xF0, 0x03),
    DF("movbe ax, [rbx]", 3, EQ_NONE, 0x66, 0x0F, 0x38, 0xF0, 0x03),
    DF("movbe rax, [rbx]", 3, EQ_NONE, 0x48, 0x0F, 0x38, 0xF0, 0x03),
    DF("movbe [rbx], ecx", 3, EQ_NONE, 0x0F, 0x38, 0xF1, 0x0B),
    DF("movbe [rbx], cx", 3, EQ_NONE, 0x66, 0x0F, 0x38, 0xF1, 0x0B),
    DF("movbe [rbx], rcx", 3, EQ_NONE, 0x48, 0x0F, 0x38, 0xF1, 0x0B),
    DF("crc32 eax, cl", -1, EQ_NONE, 0xF2, 0x0F, 0x38, 0xF0, 0xC1),
    DF("crc32 eax, ch", -1, EQ_NONE, 0xF2, 0x0F, 0x38, 0xF0, 0xC5),
    DF("crc32 rax, cl", -1, EQ_NONE, 0xF2, 0x48, 0x0F, 0x38, 0xF0, 0xC1),
    DF("crc32 eax, cx", -1, EQ_NONE, 0x66, 0xF2, 0x0F, 0x38, 0xF1, 0xC1),
    DF("crc32 eax, ecx", -1, EQ_NONE, 0xF2, 0x0F, 0x38, 0xF1, 0xC1),
    DF("crc32 rax, rcx", -1, EQ_NONE, 0xF2, 0x48, 0x0F, 0x38, 0xF1, 0xC1),
    DF("crc32 eax, dword [rbx]", 3, EQ_NONE, 0xF2, 0x0F, 0x38, 0xF1, 0x03),
    DF("lea rax, [rdx+rcx*4]", -1, EQ_NONE, 0x48, 0x8D, 0x04, 0x8A),
    DF("lea eax, [edx+ecx*4] (67)", -1, EQ_NONE, 0x67, 0x8D, 0x04, 0x8A),
    DF("lea ax, [rdx+rcx+0x7f]", -1, EQ_NONE, 0x66, 0x8D, 0x44, 0x0A, 0x7F),
    DF("lea rax, [rdx-0x80000000]", -1, EQ_NONE, 0x48, 0x8D, 0x82, 0x00, 0x00, 0x00, 0x80),
    DF("lahf", -1, EQ_NONE, 0x9F),
    DF("sahf", -1, EQ_NONE, 0x9E),
    DF("cmc", -1, EQ_NONE, 0xF5),
    DF("clc", -1, EQ_NONE, 0xF8),
    DF("stc", -1, EQ_NONE, 0xF9),
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random values, a quarter of them edge values. */
static uint64_t operand(uint64_t *s)
{
    static const uint64_t edge[] = {0, 1, ~0ull, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
                                    0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x8000000000000000ull,
                                    0x7FFFFFFFFFFFFFFFull};
    uint64_t r = rng_next(s);
    if ((r & 3) == 0)
        return edge[(r >> 2) % (sizeof edge / sizeof edge[0])];
    return rng_next(s);
}

/* Quiet unless something differs: Check would otherwise record every one
 * of the hundred thousand comparisons. */
#define DIFF_CHECK(cond, ...)          \
    do {                               \
        if (!(cond))                   \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

static void diff_form(host_code *hc, const dform *f, unsigned idx, uint64_t *seed)
{
    uint64_t code_pa = DIFF_CODE + idx * 32u;
    uint8_t buf[32];
    memset(buf, 0xF4, sizeof buf);
    memcpy(buf, f->code, f->len);
    cpu_harness_load(&h, code_pa, buf, sizeof buf);
    DIFF_CHECK(host_code_build(hc, f->code, f->len), "%s: cannot build", f->name);
    for (unsigned k = 0; k < DIFF_CASES; k++) {
        host_regs in, nat;
        for (unsigned r = 0; r < 16; r++)
            in.gpr[r] = operand(seed);
        in.gpr[CPU_RSP] = 0;
        in.rflags = rng_next(seed) & FL_ALL;
        in.mem = operand(seed);
        if (k & 1) {
            if (f->eq >= 0 && f->eq < 16)
                in.gpr[f->eq] = in.gpr[CPU_RAX];
            else if (f->eq == EQ_MEM)
                in.mem = in.gpr[CPU_RAX];
            else if (f->eq == EQ_MEM8B)
                in.mem = (uint32_t)in.gpr[CPU_RAX] | in.gpr[CPU_RDX] << 32;
            else if (f->eq == EQ_AH_AL)
                in.gpr[CPU_RAX] = (in.gpr[CPU_RAX] & ~0xFF00ull) | (in.gpr[CPU_RAX] & 0xFF) << 8;
        }
        nat = in;
        if (f->base >= 0)
            nat.gpr[f->base] = (uint64_t)(uintptr_t)&nat.mem;
        int sig = host_code_run(hc, &nat);
        DIFF_CHECK(sig == 0, "%s: the host raised signal %d", f->name, sig);

        memcpy(c->gpr, in.gpr, sizeof c->gpr);
        c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
        if (f->base >= 0) {
            c->gpr[f->base] = DIFF_MEM;
            poke(DIFF_MEM, in.mem, 8);
        }
        cpu_set_rflags(c, in.rflags | CPU_FL_FIXED1);
        c->rip = code_pa;
        c->halted = 0;
        cpu_run(c, UINT64_MAX, 1);
        DIFF_CHECK(c->rip == code_pa + f->len, "%s case %u: rip %llx (vector %d)", f->name, k,
                   (unsigned long long)c->rip, cpu_harness_vector(&h));
        for (unsigned r = 0; r < 16; r++) {
            if (r == CPU_RSP || (int)r == f->base)
                continue;
            DIFF_CHECK(c->gpr[r] == nat.gpr[r],
                       "%s case %u: r%u interp %016llx host %016llx (in %016llx)", f->name, k,
                       r, (unsigned long long)c->gpr[r], (unsigned long long)nat.gpr[r],
                       (unsigned long long)in.gpr[r]);
        }
        if (f->base >= 0) {
            uint64_t got = peek(DIFF_MEM, 8);
            DIFF_CHECK(got == nat.mem, "%s case %u: mem interp %016llx host %016llx", f->name,
                       k, (unsigned long long)got, (unsigned long long)nat.mem);
        }
        uint64_t fi = cpu_get_rflags(c) & FL_ALL, fh = nat.rflags & FL_ALL;
        DIFF_CHECK(fi == fh, "%s case %u: flags interp %03llx host %03llx (in %03llx)", f->name,
                   k, (unsigned long long)fi, (unsigned long long)fh,
                   (unsigned long long)in.rflags);
    }
}

/* A form whose instruction the host may lack (CPUID.1:ECX MOVBE bit 22,
 * SSE4.2 bit 20 for CRC32): the host would raise #UD where the
 * interpreter, which has it, does not. Compared only where the host has it. */
static bool host_runs(const dform *f)
{
    if (strncmp(f->name, "movbe", 5) == 0)
        return host_cpu_has(1, 2, 22);
    if (strncmp(f->name, "crc32", 5) == 0)
        return host_cpu_has(1, 2, 20);
    return true;
}

START_TEST(diff_against_host)
{
    host_code hc;
    if (!host_exec_supported())
        return;
    ck_assert(host_code_init(&hc));
    uint64_t seed = 0x7E57C0DEull;
    unsigned n = sizeof dforms / sizeof dforms[0];
    for (unsigned k = 0; k < n; k++) {
        if (!host_runs(&dforms[k])) {
            fprintf(stderr, "test_transfer_diff: the host has no %.5s: \"%s\" not compared\n",
                    dforms[k].name, dforms[k].name);
            continue;
        }
        diff_form(&hc, &dforms[k], k, &seed);
    }
    host_code_free(&hc);
    ck_assert_uint_gt(n, 90);
}
END_TEST

static Suite *transfer_diff_suite(void)
{
    Suite *s = suite_create("transfer_diff");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, diff_against_host);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(transfer_diff_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
