/*
 * test_run.c — the run loop: instruction and cycle limits, exact retired
 * counts (also after a fault in the middle of a block), cycle accounting by
 * the cost model, the STI shadow (SDM Vol. 3A 6.8.3), HLT and wake-up by an
 * interrupt, and events looked at on block boundaries.
 */
#include <check.h>
#include <stdlib.h>

#include "tests/support/cpu_harness.h"

static cpu_harness h;

static void setup(void)
{
    cpu_harness_init(&h);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* 10 x (inc eax) then hlt: one block */
static const uint8_t incs[] = {0xFF, 0xC0, 0xFF, 0xC0, 0xFF, 0xC0, 0xFF, 0xC0, 0xFF, 0xC0,
                               0xFF, 0xC0, 0xFF, 0xC0, 0xFF, 0xC0, 0xFF, 0xC0, 0xFF, 0xC0, 0xF4};

START_TEST(step_counts_exactly)
{
    for (unsigned n = 1; n <= 10; n++) {
        h.cpu.gpr[CPU_RAX] = 0;
        uint64_t before = h.cpu.insns;
        ck_assert_int_eq(cpu_harness_exec(&h, incs, sizeof incs, n), CPU_STOP_INSNS);
        ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], n);
        ck_assert_uint_eq(h.cpu.insns - before, n);
        ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 2 * n);
    }
}
END_TEST

START_TEST(cycles_follow_the_cost_model)
{
    uint64_t c0 = h.cpu.cycles;
    cpu_harness_exec(&h, incs, sizeof incs, 10);
    ck_assert_uint_eq(h.cpu.cycles - c0, 10u * h.costs.cost[CPU_COST_SIMPLE]);
    /* A memory operand adds the mem class: add [rsp], eax */
    const uint8_t mem[] = {0x01, 0x04, 0x24, 0xF4};
    c0 = h.cpu.cycles;
    cpu_harness_exec(&h, mem, sizeof mem, 1);
    ck_assert_uint_eq(h.cpu.cycles - c0,
                      (uint64_t)h.costs.cost[CPU_COST_SIMPLE] + h.costs.cost[CPU_COST_MEM]);
}
END_TEST

START_TEST(cycle_limit_stops_at_a_boundary)
{
    /* 1: inc eax; jmp 1b — runs until the limit */
    const uint8_t loop[] = {0xFF, 0xC0, 0xEB, 0xFC};
    cpu_harness_load(&h, CPU_HARNESS_CODE, loop, sizeof loop);
    h.cpu.rip = CPU_HARNESS_CODE;
    ck_assert_int_eq(cpu_run(&h.cpu, h.cpu.cycles + 1000, UINT64_MAX), CPU_STOP_CYCLES);
    uint64_t per_iter = h.costs.cost[CPU_COST_SIMPLE] + h.costs.cost[CPU_COST_BRANCH];
    /* Overshoot is at most one block. */
    ck_assert_uint_ge(h.cpu.cycles, 1000);
    ck_assert_uint_le(h.cpu.cycles, 1000 + per_iter);
    ck_assert_uint_eq(h.cpu.insns, 2 * h.cpu.gpr[CPU_RAX] - (h.cpu.rip == CPU_HARNESS_CODE + 2));
}
END_TEST

START_TEST(retired_count_after_mid_block_fault)
{
    /* inc eax; inc eax; ud2 — the UD2 faults, the first two retired; the
     * #UD handler's HLT retires too. */
    const uint8_t code[] = {0xFF, 0xC0, 0xFF, 0xC0, 0x0F, 0x0B};
    uint64_t before = h.cpu.insns;
    cpu_harness_exec(&h, code, sizeof code, 100);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 2);
    ck_assert_uint_eq(h.cpu.insns - before, 3);
}
END_TEST

static unsigned events_calls;
static void deliver_0x40(void *ctx, cpu_t *c)
{
    (void)ctx;
    events_calls++;
    if (cpu_interruptible(c)) {
        c->events &= ~(uint32_t)CPU_EVT_INTR;
        cpu_deliver_interrupt(c, 0x40);
    }
}

START_TEST(sti_shadow_delays_the_interrupt_one_instruction)
{
    cpu_hooks hk = {.events = deliver_0x40};
    cpu_set_hooks(&h.cpu, &hk);
    /* sti; inc eax; inc eax; hlt — the interrupt comes after the first INC */
    const uint8_t code[] = {0xFB, 0xFF, 0xC0, 0xFF, 0xC0, 0xF4};
    h.cpu.events |= CPU_EVT_INTR;
    cpu_harness_exec(&h, code, sizeof code, 100);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x40);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 1);
    /* the frame's RIP is the second INC */
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_HARNESS_CODE + 3);
}
END_TEST

START_TEST(hlt_sleeps_until_an_interrupt)
{
    const uint8_t code[] = {0xFB, 0x90, 0xF4, 0xFF, 0xC0, 0xF4}; /* sti; nop; hlt; inc eax; hlt */
    ck_assert_int_eq(cpu_harness_exec(&h, code, sizeof code, 100), CPU_STOP_HALT);
    ck_assert(h.cpu.halted);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 3); /* after the HLT */
    /* Nothing pending: running again returns at once. */
    uint64_t insns = h.cpu.insns;
    ck_assert_int_eq(cpu_run(&h.cpu, UINT64_MAX, 100), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.insns, insns);
    /* An interrupt wakes it: the handler runs with the HLT's successor saved. */
    cpu_hooks hk = {.events = deliver_0x40};
    cpu_set_hooks(&h.cpu, &hk);
    cpu_signal(&h.cpu, CPU_EVT_INTR);
    cpu_run(&h.cpu, UINT64_MAX, 100);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x40);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_HARNESS_CODE + 3);
}
END_TEST

START_TEST(events_are_not_polled_without_a_signal)
{
    cpu_hooks hk = {.events = deliver_0x40};
    cpu_set_hooks(&h.cpu, &hk);
    events_calls = 0;
    const uint8_t loop[] = {0xFF, 0xC0, 0xEB, 0xFC};
    cpu_harness_load(&h, CPU_HARNESS_CODE, loop, sizeof loop);
    h.cpu.rip = CPU_HARNESS_CODE;
    cpu_run(&h.cpu, h.cpu.cycles + 10000, UINT64_MAX);
    ck_assert_uint_eq(events_calls, 0);
    /* A signal makes the loop ask the hook at block boundaries. */
    cpu_signal(&h.cpu, CPU_EVT_INTR);
    cpu_run(&h.cpu, h.cpu.cycles + 10000, UINT64_MAX);
    ck_assert_uint_ge(events_calls, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("run");
    TCase *t = tcase_create("run");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, step_counts_exactly);
    tcase_add_test(t, cycles_follow_the_cost_model);
    tcase_add_test(t, cycle_limit_stops_at_a_boundary);
    tcase_add_test(t, retired_count_after_mid_block_fault);
    tcase_add_test(t, sti_shadow_delays_the_interrupt_one_instruction);
    tcase_add_test(t, hlt_sleeps_until_an_interrupt);
    tcase_add_test(t, events_are_not_polled_without_a_signal);
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
