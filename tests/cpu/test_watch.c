/*
 * test_watch.c — data watchpoints (cpu_watch_set, the debugger's version
 * of DR0-DR3 with R/W = 11b, SDM Vol. 3B 17.2.4): every read and write an
 * instruction makes to a watched range is noted, also on a page the TLB
 * had already given a fast path; accesses next to the range, instruction
 * fetches and other pages are not; bad sets are refused.
 */
#include <check.h>
#include <stdlib.h>

#include "tests/support/cpu_harness.h"

#define SLOT (CPU_HARNESS_STACK - 8) /* where push rax stores */

static cpu_harness h;

static void setup(void)
{
    cpu_harness_init(&h);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* Runs one instruction; returns what was noted for watch 0 and clears it. */
static uint8_t one(const uint8_t *code, size_t len)
{
    ck_assert_int_eq(cpu_harness_exec(&h, code, len, 1), CPU_STOP_INSNS);
    uint8_t seen = h.phys.watch_seen[0];
    h.phys.watch_seen[0] = 0;
    return seen;
}

START_TEST(reads_and_writes_are_noted)
{
    static const uint8_t push_rax[] = {0x50};
    static const uint8_t pop_rbx[] = {0x5B};
    static const uint8_t load_slot[] = {0x48, 0x8B, 0x54, 0x24, 0xF8};          /* mov rdx, [rsp-8] */
    static const uint8_t load_near[] = {0x48, 0x8B, 0x4C, 0x24, 0xF0};          /* mov rcx, [rsp-16] */
    static const uint8_t add_slot[] = {0x48, 0x83, 0x44, 0x24, 0xF8, 0x01};     /* add qword [rsp-8], 1 */
    /* Warm the TLB: the stack page gets its fast read and write paths. */
    ck_assert_uint_eq(one(push_rax, sizeof push_rax), 0);
    ck_assert_uint_eq(one(pop_rbx, sizeof pop_rbx), 0);
    uint64_t pa = SLOT;
    unsigned len = 8;
    ck_assert(cpu_watch_set(&h.phys, 1, &pa, &len));
    h.cpu.gpr[CPU_RAX] = 0x1234;
    ck_assert_uint_eq(one(push_rax, sizeof push_rax), CPU_WATCH_WRITE);
    ck_assert_uint_eq(one(pop_rbx, sizeof pop_rbx), CPU_WATCH_READ);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x1234); /* the slow path reads the same bytes */
    ck_assert_uint_eq(one(load_slot, sizeof load_slot), CPU_WATCH_READ);
    ck_assert_uint_eq(one(load_near, sizeof load_near), 0); /* the same page, not the range */
    ck_assert_uint_eq(one(add_slot, sizeof add_slot), CPU_WATCH_READ | CPU_WATCH_WRITE);
    ck_assert_uint_eq(cpu_harness_peek64(&h, SLOT), 0x1235);
    /* n = 0: nothing is watched any more. */
    ck_assert(cpu_watch_set(&h.phys, 0, NULL, NULL));
    ck_assert_uint_eq(one(load_slot, sizeof load_slot), 0);
}
END_TEST

/* The code page itself watched: fetching and running the code there is
 * no data access; one byte of a range straddling two pages is seen. */
START_TEST(fetches_are_not_data_accesses)
{
    static const uint8_t load_slot[] = {0x48, 0x8B, 0x54, 0x24, 0xF8};
    uint64_t pa = CPU_HARNESS_CODE;
    unsigned len = 8;
    ck_assert(cpu_watch_set(&h.phys, 1, &pa, &len));
    ck_assert_uint_eq(one(load_slot, sizeof load_slot), 0);
    /* A range from the last byte of one page into the next. */
    pa = 0x70FFF;
    len = 2;
    ck_assert(cpu_watch_set(&h.phys, 1, &pa, &len));
    static const uint8_t load_byte[] = {0x8A, 0x04, 0x25, 0x00, 0x10, 0x07, 0x00}; /* mov al, [0x71000] */
    ck_assert_uint_eq(one(load_byte, sizeof load_byte), CPU_WATCH_READ);
}
END_TEST

START_TEST(bad_sets_are_refused)
{
    uint64_t pa[CPU_MAX_WATCH + 1] = {0};
    unsigned len[CPU_MAX_WATCH + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert(!cpu_watch_set(&h.phys, CPU_MAX_WATCH + 1, pa, len));
    len[0] = 0;
    ck_assert(!cpu_watch_set(&h.phys, 1, pa, len));
    len[0] = 9;
    ck_assert(!cpu_watch_set(&h.phys, 1, pa, len));
    ck_assert_uint_eq(h.phys.nwatch, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("watch");
    TCase *t = tcase_create("watch");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, reads_and_writes_are_noted);
    tcase_add_test(t, fetches_are_not_data_accesses);
    tcase_add_test(t, bad_sets_are_refused);
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
