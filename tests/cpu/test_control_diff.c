/*
 * test_control_diff.c — the control transfer family (cpu/cpu_control.c)
 * against the host CPU: conditional branches after flag producers of every
 * lazy kind and size, and LOOP/LOOPE/LOOPNE/JRCXZ with both address sizes,
 * run natively (tests/support/host_exec) and in the interpreter with the
 * same random and edge-value registers and flags; the path taken, every
 * register and the flags must agree.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_harness.h"
#include "tests/support/host_exec.h"

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

#define DIFF_CODE 0x300000u
#define DIFF_CASES 400
#define FL_ALL 0x8D5ull /* CF PF AF ZF SF OF */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t operand(uint64_t *s)
{
    static const uint64_t edge[] = {0, 1, 2, ~0ull, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000,
                                    0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000ull,
                                    0x100000001ull, 0x8000000000000000ull,
                                    0x7FFFFFFFFFFFFFFFull};
    uint64_t r = rng_next(s);
    if ((r & 3) != 3)
        return edge[(r >> 2) % (sizeof edge / sizeof edge[0])];
    return rng_next(s);
}

#define DIFF_CHECK(cond, ...)          \
    do {                               \
        if (!(cond))                   \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

/* Runs snippet (a flag producer, then a branch over "mov bl, 1", whose
 * target is the end of the snippet) on host and interpreter with the
 * same random registers and flags; every register and flag must agree. */
static void diff_snippet(host_code *hc, const uint8_t *code, size_t len, unsigned ninsn,
                         unsigned idx, uint64_t *seed, const char *name)
{
    uint64_t code_pa = DIFF_CODE + idx * 32u;
    uint8_t buf[32];
    memset(buf, 0xF4, sizeof buf);
    memcpy(buf, code, len);
    cpu_harness_load(&h, code_pa, buf, sizeof buf);
    DIFF_CHECK(host_code_build(hc, code, len), "%s: cannot build", name);
    for (unsigned k = 0; k < DIFF_CASES; k++) {
        host_regs in, nat;
        for (unsigned r = 0; r < 16; r++)
            in.gpr[r] = operand(seed);
        in.gpr[CPU_RSP] = 0;
        if (k & 1)
            in.gpr[CPU_RCX] = in.gpr[CPU_RAX]; /* equal operands for CMP */
        in.rflags = rng_next(seed) & FL_ALL;
        in.mem = 0;
        nat = in;
        int sig = host_code_run(hc, &nat);
        DIFF_CHECK(sig == 0, "%s: host signal %d", name, sig);

        memcpy(c->gpr, in.gpr, sizeof c->gpr);
        c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
        cpu_set_rflags(c, in.rflags | CPU_FL_FIXED1);
        c->rip = code_pa;
        c->halted = 0;
        cpu_run(c, UINT64_MAX, ninsn + 1);
        DIFF_CHECK(c->halted && c->rip == code_pa + len + 1, "%s case %u: ended at %llx",
                   name, k, (unsigned long long)c->rip);
        for (unsigned r = 0; r < 16; r++) {
            if (r == CPU_RSP)
                continue;
            DIFF_CHECK(c->gpr[r] == nat.gpr[r],
                       "%s case %u: r%u interp %016llx host %016llx (in %016llx, flags %03llx)",
                       name, k, r, (unsigned long long)c->gpr[r], (unsigned long long)nat.gpr[r],
                       (unsigned long long)in.gpr[r], (unsigned long long)in.rflags);
        }
        uint64_t fi = cpu_get_rflags(c) & FL_ALL, fh = nat.rflags & FL_ALL;
        DIFF_CHECK(fi == fh, "%s case %u: flags interp %03llx host %03llx", name, k,
                   (unsigned long long)fi, (unsigned long long)fh);
    }
}

/* Flag producers: none (flags straight from RFLAGS), and ALU operations of
 * every lazy kind and size. AF after logic ops is undefined, but the branch
 * conditions never read it and both CPUs clear it anyway. */
static const struct producer {
    const char *name;
    uint8_t code[4];
    uint8_t len;
} producers[] = {
    {"-", {0}, 0},
    {"cmp rax, rcx", {0x48, 0x39, 0xC8}, 3},
    {"cmp eax, ecx", {0x39, 0xC8}, 2},
    {"cmp ax, cx", {0x66, 0x39, 0xC8}, 3},
    {"cmp al, cl", {0x38, 0xC8}, 2},
    {"sub rax, rcx", {0x48, 0x29, 0xC8}, 3},
    {"add eax, ecx", {0x01, 0xC8}, 2},
    {"adc al, cl", {0x10, 0xC8}, 2},
    {"sbb rax, rcx", {0x48, 0x19, 0xC8}, 3},
    {"test rax, rcx", {0x48, 0x85, 0xC8}, 3},
    {"and eax, ecx", {0x21, 0xC8}, 2},
    {"xor al, cl", {0x30, 0xC8}, 2},
    {"inc rax", {0x48, 0xFF, 0xC0}, 3},
    {"dec eax", {0xFF, 0xC8}, 2},
    {"neg rax", {0x48, 0xF7, 0xD8}, 3},
};

START_TEST(diff_branches_against_host)
{
    host_code hc;
    if (!host_exec_supported())
        return;
    ck_assert(host_code_init(&hc));
    uint64_t seed = 0xB4A0C4E5ull;
    unsigned idx = 0, snippets = 0;
    for (unsigned p = 0; p < sizeof producers / sizeof producers[0]; p++) {
        for (unsigned cc = 0; cc < 16; cc++) {
            uint8_t code[16];
            char name[64];
            size_t n = 0;
            memcpy(code, producers[p].code, producers[p].len);
            n = producers[p].len;
            code[n++] = (uint8_t)(0x70 + cc); /* jcc +2 */
            code[n++] = 2;
            code[n++] = 0xB3; /* mov bl, 1 */
            code[n++] = 1;
            snprintf(name, sizeof name, "%s; j%u", producers[p].name, cc);
            diff_snippet(&hc, code, n, producers[p].len ? 3 : 2, idx++, &seed, name);
            snippets++;
        }
    }
    /* LOOP, LOOPE, LOOPNE, JRCXZ with 64- and 32-bit address size, after a
     * CMP that makes ZF random */
    static const uint8_t loops[][8] = {
        {0x48, 0x39, 0xC8, 0xE2, 0x02, 0xB3, 0x01},       /* cmp rax, rcx; loop +2 */
        {0x48, 0x39, 0xC8, 0xE1, 0x02, 0xB3, 0x01},       /* cmp rax, rcx; loope +2 */
        {0x48, 0x39, 0xC8, 0xE0, 0x02, 0xB3, 0x01},       /* cmp rax, rcx; loopne +2 */
        {0x48, 0x39, 0xC8, 0xE3, 0x02, 0xB3, 0x01},       /* cmp rax, rcx; jrcxz +2 */
        {0x48, 0x39, 0xC8, 0x67, 0xE2, 0x02, 0xB3, 0x01}, /* cmp rax, rcx; addr32 loop +2 */
        {0x48, 0x39, 0xC8, 0x67, 0xE1, 0x02, 0xB3, 0x01}, /* cmp rax, rcx; addr32 loope +2 */
        {0x48, 0x39, 0xC8, 0x67, 0xE0, 0x02, 0xB3, 0x01}, /* cmp rax, rcx; addr32 loopne +2 */
        {0x48, 0x39, 0xC8, 0x67, 0xE3, 0x02, 0xB3, 0x01}, /* cmp rax, rcx; jecxz +2 */
    };
    for (unsigned k = 0; k < 8; k++) {
        char name[32];
        snprintf(name, sizeof name, "loop form %u", k);
        diff_snippet(&hc, loops[k], k < 4 ? 7 : 8, 3, idx++, &seed, name);
        snippets++;
    }
    host_code_free(&hc);
    ck_assert_uint_eq(snippets, 15 * 16 + 8);
}
END_TEST

static Suite *control_diff_suite(void)
{
    Suite *s = suite_create("control_diff");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, diff_branches_against_host);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(control_diff_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
