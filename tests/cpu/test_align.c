/*
 * test_align.c — alignment checking (SDM Vol. 3A 6.15 "Interrupt 17—
 * Alignment Check Exception"): at CPL 3 with CR0.AM = 1 and RFLAGS.AC = 1
 * a misaligned data access is #AC(0); aligned accesses, byte accesses, CPL
 * 0 and AC = 0 are not checked (cpu_internal.h cpu_ac_on).
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
#define CODE CPU_HARNESS_CODE

/* CPL 3 on the harness's user selectors, a TSS with RSP0 = 0x70000; with
 * `ac`, CR0.AM and RFLAGS.AC set first. */
static void enter_user(bool am, bool ac)
{
    if (am)
        h.cpu.cr0 |= CPU_CR0_AM;
    if (ac)
        cpu_set_rflags(&h.cpu, cpu_get_rflags(&h.cpu) | CPU_FL_AC);
    cpu_harness_poke64(&h, 0x9000 + 4, 0x70000);
    cpu_harness_poke64(&h, 0x528, 0x67 | (0x9000ull << 16) | (0x8Bull << 40));
    cpu_harness_poke64(&h, 0x530, 0);
    h.cpu.gdtr.limit = 0x37;
    h.cpu.tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x67, .base = 0x9000};
    h.cpu.cpl = 3;
    h.cpu.seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
    h.cpu.seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0xF3, .limit = 0xFFFFFFFF};
    h.cpu.gpr[CPU_RSP] = 0x50000;
    cpu_tlb_flush(&h.cpu);
}

/* The error code and saved RIP of the exception taken (an error code is
 * pushed for #AC and #GP). */
static uint64_t frame(unsigned k)
{
    return cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + 8u * k);
}

/* mov qword ptr [rsp-4], 0; hlt */
static const uint8_t misaligned[] = {0x48, 0xc7, 0x44, 0x24, 0xfc, 0x00, 0x00, 0x00, 0x00, 0xf4};
/* mov word ptr [rsp-2], 0; mov qword ptr [rsp-8], 0; mov byte ptr [rsp-3], 0; hlt */
static const uint8_t aligned[] = {0x66, 0xc7, 0x44, 0x24, 0xfe, 0x00, 0x00, 0x48,
                                  0xc7, 0x44, 0x24, 0xf8, 0x00, 0x00, 0x00, 0x00,
                                  0xc6, 0x44, 0x24, 0xfd, 0x00, 0xf4};

START_TEST(misaligned_store_is_ac)
{
    enter_user(true, true);
    RUN(misaligned);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_AC);
    ck_assert_uint_eq(frame(0), 0);
    ck_assert_uint_eq(frame(1), CODE);
}
END_TEST

/* Aligned and byte accesses pass; the run ends at the HLT, #GP at CPL 3. */
START_TEST(aligned_stores_pass)
{
    enter_user(true, true);
    RUN(aligned);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(frame(1), CODE + 21);
}
END_TEST

START_TEST(not_checked_without_ac_or_am)
{
    enter_user(true, false);
    RUN(misaligned);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP); /* the HLT */
    ck_assert_uint_eq(frame(1), CODE + 9);
    teardown();
    setup();
    enter_user(false, true);
    RUN(misaligned);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
}
END_TEST

START_TEST(not_checked_at_cpl0)
{
    h.cpu.cr0 |= CPU_CR0_AM;
    cpu_set_rflags(&h.cpu, cpu_get_rflags(&h.cpu) | CPU_FL_AC);
    ck_assert_int_eq(RUN(misaligned), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
}
END_TEST

/* POPF setting AC at CPL 3 turns checking on at once: the TLB's fast
 * paths filled before it do not skip the check. */
START_TEST(popf_turns_checking_on)
{
    /* mov qword ptr [rsp-8], 0 (fills the TLB); pushfq; or dword ptr [rsp], 0x40000;
     * popfq; mov qword ptr [rsp-4], 0 */
    static const uint8_t code[] = {0x48, 0xc7, 0x44, 0x24, 0xf8, 0x00, 0x00, 0x00, 0x00,
                                   0x9c, 0x81, 0x0c, 0x24, 0x00, 0x00, 0x04, 0x00, 0x9d,
                                   0x48, 0xc7, 0x44, 0x24, 0xfc, 0x00, 0x00, 0x00, 0x00};
    enter_user(true, false);
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_AC);
    ck_assert_uint_eq(frame(1), CODE + 18);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_align");
    TCase *t = tcase_create("align");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, misaligned_store_is_ac);
    tcase_add_test(t, aligned_stores_pass);
    tcase_add_test(t, not_checked_without_ac_or_am);
    tcase_add_test(t, not_checked_at_cpl0);
    tcase_add_test(t, popf_turns_checking_on);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
