/*
 * test_fusion.c — macro-fusion of a flag-setting register instruction with
 * the Jcc after it (cpu_fused_jcc): a block run at full speed (fused) must
 * end in exactly the state single-stepping (never fused) reaches, with the
 * same retired count and cycles; an instruction limit may stop between the
 * two halves; a fault earlier in the block retires exactly what ran.
 */
#include <check.h>
#include <stdlib.h>

#include "tests/support/cpu_harness.h"

static cpu_harness a, b;

static void setup(void)
{
    cpu_harness_init(&a);
    cpu_harness_init(&b);
}

static void teardown(void)
{
    cpu_harness_free(&a);
    cpu_harness_free(&b);
}

/*
 * A loop of 50 iterations whose every block ends in a fusable pair, each a
 * different producer and condition: ADD/CMP imm + JL, TEST imm + JZ,
 * SUB imm + JB, ADD imm + JO, CMP r8,imm + JA, CMP r64,r64 + JGE,
 * INC r16 + JLE, TEST r8,imm + JP, DEC + JNZ. ADC and SBB in the fall
 * through paths read CF left by the fused producers.
 */
static const uint8_t prog[] = {
    0xB9, 0x32, 0x00, 0x00, 0x00, 0x31, 0xC0, 0xBA, 0x07, 0x00, 0x00, 0x00, 0x01, 0xC8, 0x3D,
    0x2C, 0x01, 0x00, 0x00, 0x7C, 0x05, 0x2D, 0xFA, 0x00, 0x00, 0x00, 0xA9, 0x01, 0x00, 0x00,
    0x00, 0x74, 0x02, 0x01, 0xC2, 0x83, 0xEA, 0x03, 0x72, 0x03, 0x83, 0xC3, 0x01, 0x89, 0xD6,
    0x81, 0xC6, 0x00, 0xFF, 0xFF, 0x7F, 0x70, 0x02, 0xFF, 0xC7, 0x41, 0xFF, 0xC0, 0x41, 0x80,
    0xF8, 0xC8, 0x77, 0x03, 0x83, 0xD5, 0x03, 0x48, 0x39, 0xC2, 0x7D, 0x03, 0x49, 0x19, 0xC9,
    0x66, 0x41, 0xFF, 0xC2, 0x7E, 0x03, 0x49, 0x31, 0xD3, 0xF6, 0xC1, 0x03, 0x7A, 0x04, 0x49,
    0x83, 0xC4, 0x05, 0xFF, 0xC9, 0x75, 0xAB, 0xF4};

static void start(cpu_harness *h, const uint8_t *code, size_t len)
{
    cpu_harness_load(h, CPU_HARNESS_CODE, code, len);
    h->cpu.rip = CPU_HARNESS_CODE;
    h->cpu.halted = 0;
}

static void assert_same_state(cpu_harness *x, cpu_harness *y)
{
    for (unsigned r = 0; r < 16; r++)
        ck_assert_uint_eq(x->cpu.gpr[r], y->cpu.gpr[r]);
    ck_assert_uint_eq(cpu_get_rflags(&x->cpu), cpu_get_rflags(&y->cpu));
    ck_assert_uint_eq(x->cpu.rip, y->cpu.rip);
    ck_assert_uint_eq(x->cpu.insns, y->cpu.insns);
    ck_assert_uint_eq(x->cpu.cycles, y->cpu.cycles);
}

/* Runs until HLT, max_insns at a time; returns the number of cpu_run calls. */
static unsigned run_in_steps(cpu_harness *h, uint64_t step)
{
    unsigned calls = 0;
    while (cpu_run(&h->cpu, UINT64_MAX, step) != CPU_STOP_HALT) {
        calls++;
        ck_assert_uint_lt(calls, 100000);
    }
    return calls;
}

START_TEST(fused_run_matches_single_steps)
{
    start(&a, prog, sizeof prog);
    start(&b, prog, sizeof prog);
    a.cpu.gpr[CPU_RBP] = b.cpu.gpr[CPU_RBP] = 0x1234;
    ck_assert_int_eq(cpu_run(&a.cpu, UINT64_MAX, UINT64_MAX), CPU_STOP_HALT);
    unsigned steps = run_in_steps(&b, 1);
    assert_same_state(&a, &b);
    /* The loop really ran: 50 iterations of at least 17 instructions. */
    ck_assert_uint_eq(a.cpu.gpr[CPU_RCX], 0);
    ck_assert_uint_ge(a.cpu.insns, 50 * 17);
    /* One instruction per call; the last call only finds the CPU halted. */
    ck_assert_uint_eq(steps, b.cpu.insns);
}
END_TEST

/* Limits of 2, 3, 5 and 7 cut blocks everywhere, between fused halves too;
 * the state after every chunk must equal single-stepping that far. */
START_TEST(chunked_runs_match_single_steps_after_every_chunk)
{
    static const uint64_t chunks[] = {2, 3, 5, 7};
    for (unsigned k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        cpu_harness_free(&a);
        cpu_harness_free(&b);
        cpu_harness_init(&a);
        cpu_harness_init(&b);
        start(&a, prog, sizeof prog);
        start(&b, prog, sizeof prog);
        for (;;) {
            cpu_stop s = cpu_run(&a.cpu, UINT64_MAX, chunks[k]);
            uint64_t target = a.cpu.insns;
            while (b.cpu.insns < target)
                cpu_run(&b.cpu, UINT64_MAX, 1);
            assert_same_state(&a, &b);
            if (s == CPU_STOP_HALT)
                break;
            ck_assert_int_eq(s, CPU_STOP_INSNS);
        }
    }
}
END_TEST

START_TEST(limit_stops_between_the_halves)
{
    /* mov ecx, 3; 1: dec ecx; jnz 1b; hlt */
    const uint8_t code[] = {0xB9, 0x03, 0x00, 0x00, 0x00, 0xFF, 0xC9, 0x75, 0xFC, 0xF4};
    start(&a, code, sizeof code);
    uint64_t warm0 = a.cpu.cycles;
    /* Warm the block cache so the DEC/JNZ block is decoded (and fused). */
    ck_assert_int_eq(cpu_run(&a.cpu, UINT64_MAX, UINT64_MAX), CPU_STOP_HALT);
    uint64_t i0 = a.cpu.insns, c0 = a.cpu.cycles, warm = c0 - warm0;
    a.cpu.rip = CPU_HARNESS_CODE + 5;
    a.cpu.halted = 0;
    a.cpu.gpr[CPU_RCX] = 3;
    ck_assert_int_eq(cpu_run(&a.cpu, UINT64_MAX, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(a.cpu.gpr[CPU_RCX], 2);
    ck_assert_uint_eq(a.cpu.rip, CPU_HARNESS_CODE + 7); /* at the JNZ */
    ck_assert_uint_eq(a.cpu.insns - i0, 1);
    ck_assert_uint_eq(a.cpu.cycles - c0, a.costs.cost[CPU_COST_SIMPLE]);
    ck_assert_int_eq(cpu_run(&a.cpu, UINT64_MAX, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(a.cpu.rip, CPU_HARNESS_CODE + 5); /* taken: ZF from DEC is 0 */
    ck_assert_uint_eq(a.cpu.insns - i0, 2);
    ck_assert_uint_eq(a.cpu.cycles - c0,
                      (uint64_t)a.costs.cost[CPU_COST_SIMPLE] + a.costs.cost[CPU_COST_BRANCH]);
    /* The rest at full speed: two more fused pairs, then HLT. */
    ck_assert_int_eq(cpu_run(&a.cpu, UINT64_MAX, UINT64_MAX), CPU_STOP_HALT);
    ck_assert_uint_eq(a.cpu.gpr[CPU_RCX], 0);
    ck_assert_uint_eq(a.cpu.insns - i0, 7);
    /* The same cycles as the unsplit warm-up run, less its MOV. */
    ck_assert_uint_eq(a.cpu.cycles - c0, warm - a.costs.cost[CPU_COST_SIMPLE]);
}
END_TEST

START_TEST(fault_before_the_pair_retires_exactly)
{
    /* mov rbx, 1<<63; inc eax; mov [rbx], eax (#GP: not canonical);
     * dec ecx; jnz -4; hlt */
    const uint8_t code[] = {0x48, 0xBB, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0xC0,
                            0x89, 0x03, 0xFF, 0xC9, 0x75, 0xFC, 0xF4};
    a.cpu.gpr[CPU_RAX] = 0;
    a.cpu.gpr[CPU_RCX] = 5;
    uint64_t i0 = a.cpu.insns;
    cpu_harness_exec(&a, code, sizeof code, UINT64_MAX);
    ck_assert_int_eq(cpu_harness_vector(&a), CPU_EXC_GP);
    ck_assert_uint_eq(a.cpu.gpr[CPU_RAX], 1);
    ck_assert_uint_eq(a.cpu.gpr[CPU_RCX], 5); /* the fused pair never ran */
    ck_assert_uint_eq(a.cpu.insns - i0, 3);   /* MOV, INC and the handler's HLT */
}
END_TEST

/* Every ALU operation, every condition, three sizes, register and immediate
 * sources, edge operands: the fused pair (one cpu_run) must branch and set
 * registers, flags, retired count and cycles exactly as single steps do. */
START_TEST(every_producer_and_condition_matches_single_steps)
{
    static const uint64_t vals[][2] = {
        {0, 0}, {1, 2}, {0x80, 0x7F}, {0xFFFFFFFFFFFFFFFFull, 1}, {0x8000000000000000ull, 1},
        {0x7FFFFFFF, 0xFFFFFFFF}, {0x8000, 0x8000}, {5, 0x85},
    };
    unsigned cases = 0;
    for (unsigned op = 0; op < 8; op++) {
        for (unsigned cc = 0; cc < 16; cc++) {
            for (unsigned form = 0; form < 4; form++) {
                /* op ebx/rbx/bl, eax/rax/al (or imm8); jcc +2; inc ecx; hlt */
                uint8_t code[16];
                unsigned n = 0;
                if (form == 2)
                    code[n++] = 0x48;
                if (form < 3) {
                    code[n++] = (uint8_t)(op * 8 + (form == 0 ? 0 : 1));
                    code[n++] = 0xC3; /* mod 3, reg eax, rm ebx */
                } else {
                    code[n++] = 0x83;
                    code[n++] = (uint8_t)(0xC3 | op << 3);
                    code[n++] = 0x80; /* imm8 -128, sign-extended */
                }
                code[n++] = (uint8_t)(0x70 + cc);
                code[n++] = 0x02;
                code[n++] = 0xFF;
                code[n++] = 0xC1;
                code[n++] = 0xF4;
                for (unsigned v = 0; v < sizeof vals / sizeof vals[0]; v++) {
                    cpu_harness *hs[2] = {&a, &b};
                    for (unsigned k = 0; k < 2; k++) {
                        cpu_harness *h = hs[k];
                        h->cpu.gpr[CPU_RBX] = vals[v][0];
                        h->cpu.gpr[CPU_RAX] = vals[v][1];
                        h->cpu.gpr[CPU_RCX] = 0;
                        /* ADC/SBB read CF: set it from a known state. */
                        cpu_set_rflags(&h->cpu, (v & 1) ? 0x3 : 0x2);
                        start(h, code, n);
                    }
                    ck_assert_int_eq(cpu_run(&a.cpu, UINT64_MAX, UINT64_MAX), CPU_STOP_HALT);
                    run_in_steps(&b, 1);
                    assert_same_state(&a, &b);
                    cases++;
                }
            }
        }
    }
    ck_assert_uint_eq(cases, 8 * 16 * 4 * 8);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fusion");
    TCase *t = tcase_create("fusion");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, fused_run_matches_single_steps);
    tcase_add_test(t, chunked_runs_match_single_steps_after_every_chunk);
    tcase_add_test(t, every_producer_and_condition_matches_single_steps);
    tcase_add_test(t, limit_stops_between_the_halves);
    tcase_add_test(t, fault_before_the_pair_retires_exactly);
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
