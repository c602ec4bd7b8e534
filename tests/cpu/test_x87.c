/*
 * test_x87.c — the x87 instructions the interpreter has (cpu_x87.c): FNOP,
 * a no-operation that is #NM with CR0.EM or CR0.TS (SDM Vol. 2 "FNOP");
 * the other x87 encodings are reported unimplemented.
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu.h"
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

#define RUN(code) cpu_harness_exec(&h, (code), sizeof(code), 1000)

/* fnop; hlt */
static const uint8_t fnop[] = {0xd9, 0xd0, 0xf4};

START_TEST(fnop_does_nothing)
{
    ck_assert_int_eq(RUN(fnop), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 3);
}
END_TEST

START_TEST(fnop_nm_with_ts_or_em)
{
    h.cpu.cr0 |= CPU_CR0_TS;
    RUN(fnop);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_NM);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_HARNESS_CODE);
    teardown();
    setup();
    h.cpu.cr0 |= CPU_CR0_EM;
    RUN(fnop);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_NM);
}
END_TEST

START_TEST(other_x87_unimplemented)
{
    /* fld st(0) */
    static const uint8_t fld[] = {0xd9, 0xc0};
    uint64_t before = h.cpu.unimplemented_count;
    RUN(fld);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(h.cpu.unimplemented_count, before + 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_x87");
    TCase *t = tcase_create("x87");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, fnop_does_nothing);
    tcase_add_test(t, fnop_nm_with_ts_or_em);
    tcase_add_test(t, other_x87_unimplemented);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
