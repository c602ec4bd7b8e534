/*
 * test_hv.c — the built-in hypervisor end to end: the device-interrupt and
 * cross-vCPU IPI workloads of guests/hv_irq.c in every VMX mode, checking
 * the vectors delivered and the VM exits each interrupt costs:
 *   emulated   — at least one exit per interrupt and one per EOI;
 *   tpr-shadow — the same (TPR shadow does not spare those exits);
 *   apicv      — at least the kick per interrupt, no exit per EOI;
 *   posted     — no exit per interrupt while the target vCPU runs.
 */
#include "tests/emu/test_hv_support.h"

#define HV_N 16
#define MAX_CYCLES 400000000ull

static const char *const phases[] = {"msi", "ipi", "ipi-x2"};

/* Every phase delivered its HV_N interrupts to every receiver. */
static void check_delivered(const hv_run *r, unsigned ncpus)
{
    ck_assert_msg(r->status == 0, "status %d: %s\n%s", r->status, r->m.diag, r->out);
    for (unsigned p = 0; p < 3; p++)
        for (unsigned t = 1; t < ncpus; t++)
            ck_assert_int_eq(hv_result(r, phases[p], t, "got"), HV_N);
    ck_assert_int_eq(hv_result(r, "self", 0, "got"), HV_N);
}

START_TEST(emulated_exits_per_interrupt_and_eoi)
{
    hv_run *r = hv_run_guest("hv_irq", EMU_MODE_EMULATED, 2, MAX_CYCLES);
    check_delivered(r, 2);
    for (unsigned p = 0; p < 3; p++)
        ck_assert_int_ge(hv_result(r, phases[p], 1, "exits"), 2 * HV_N);
    ck_assert_int_ge(hv_result(r, "self", 0, "exits"), 2 * HV_N);
    /* Injection is the only path; each EOI was an APIC access (44) or,
     * in x2APIC mode, a WRMSR (32). */
    ck_assert_uint_eq(emu_hv_delivered(r->hv, 1, EMU_HV_PATH_INJECT), 3 * HV_N);
    ck_assert_uint_eq(emu_hv_delivered(r->hv, 1, EMU_HV_PATH_POSTED), 0);
    ck_assert_uint_ge(emu_hv_exit_count(r->hv, 1, VMX_EXIT_APIC_ACCESS), 2 * HV_N);
    ck_assert_uint_ge(emu_hv_exit_count(r->hv, 1, VMX_EXIT_WRMSR), HV_N);
    hv_run_free(r);
}
END_TEST

START_TEST(tpr_shadow_exits_per_interrupt_and_eoi)
{
    hv_run *r = hv_run_guest("hv_irq", EMU_MODE_TPR_SHADOW, 2, MAX_CYCLES);
    check_delivered(r, 2);
    for (unsigned p = 0; p < 3; p++)
        ck_assert_int_ge(hv_result(r, phases[p], 1, "exits"), 2 * HV_N);
    ck_assert_uint_eq(emu_hv_delivered(r->hv, 1, EMU_HV_PATH_INJECT), 3 * HV_N);
    hv_run_free(r);
}
END_TEST

START_TEST(apicv_kick_per_interrupt_no_eoi_exit)
{
    hv_run *r = hv_run_guest("hv_irq", EMU_MODE_APICV, 2, MAX_CYCLES);
    check_delivered(r, 2);
    for (unsigned p = 0; p < 3; p++) {
        long e = hv_result(r, phases[p], 1, "exits");
        /* One external-interrupt exit (the kick) per interrupt; EOIs are
         * virtualized. */
        ck_assert_int_eq(e, HV_N);
    }
    ck_assert_uint_eq(emu_hv_delivered(r->hv, 1, EMU_HV_PATH_VIRR), 3 * HV_N);
    ck_assert_uint_eq(emu_hv_delivered(r->hv, 1, EMU_HV_PATH_INJECT), 0);
    ck_assert_uint_eq(emu_hv_exit_count(r->hv, 1, VMX_EXIT_APIC_ACCESS), 0);
    hv_run_free(r);
}
END_TEST

START_TEST(posted_no_exit_per_interrupt)
{
    hv_run *r = hv_run_guest("hv_irq", EMU_MODE_POSTED, 2, MAX_CYCLES);
    check_delivered(r, 2);
    for (unsigned p = 0; p < 3; p++)
        ck_assert_int_eq(hv_result(r, phases[p], 1, "exits"), 0);
    ck_assert_int_eq(hv_result(r, "self", 0, "exits"), 0);
    ck_assert_uint_eq(emu_hv_delivered(r->hv, 1, EMU_HV_PATH_POSTED), 3 * HV_N);
    ck_assert_uint_eq(emu_hv_delivered(r->hv, 1, EMU_HV_PATH_INJECT), 0);
    ck_assert_uint_eq(emu_hv_exit_count(r->hv, 1, VMX_EXIT_EXTERNAL_INTERRUPT), 0);
    hv_run_free(r);
}
END_TEST

START_TEST(posted_four_vcpus)
{
    hv_run *r = hv_run_guest("hv_irq", EMU_MODE_POSTED, 4, MAX_CYCLES);
    check_delivered(r, 4);
    for (unsigned p = 0; p < 3; p++)
        for (unsigned t = 1; t < 4; t++)
            ck_assert_int_eq(hv_result(r, phases[p], t, "exits"), 0);
    hv_run_free(r);
}
END_TEST

static Suite *hv_suite(void)
{
    Suite *s = suite_create("hv");
    TCase *tc = tcase_create("workloads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, emulated_exits_per_interrupt_and_eoi);
    tcase_add_test(tc, tpr_shadow_exits_per_interrupt_and_eoi);
    tcase_add_test(tc, apicv_kick_per_interrupt_no_eoi_exit);
    tcase_add_test(tc, posted_no_exit_per_interrupt);
    tcase_add_test(tc, posted_four_vcpus);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
