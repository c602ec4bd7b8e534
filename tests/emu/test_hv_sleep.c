/*
 * test_hv_sleep.c — guests/hv_sleep.c in every VMX mode: HLT blocks the
 * vCPU until it has an interrupt it can take (each wait is an HLT exit and
 * the interrupt still arrives), and DESCHEDULE keeps a vCPU off its CPU:
 * the device interrupt sent meanwhile waits for its return (posted mode:
 * SN set while away, the post sends no notification, SN clear after).
 */
#include "tests/emu/test_hv_support.h"

#define MAX_CYCLES 100000000ull

typedef struct seen {
    unsigned desched, desched_sn, posts, posts_notified, wakes;
} seen;

static void watch(void *ctx, const cpu_obs_event *ev)
{
    seen *s = ctx;
    if (ev->kind == EMU_HV_EV_DESCHED && ev->cpu == 1) {
        s->desched++;
        s->desched_sn += ev->b != 0;
    } else if (ev->kind == EMU_HV_EV_POST && ev->cpu == 1 && ev->a == 0x42) {
        s->posts++;
        s->posts_notified += ev->d != 0;
    } else if (ev->kind == EMU_HV_EV_WAKE && ev->cpu == 1) {
        s->wakes++;
    }
}

static void run_mode(emu_mode mode)
{
    seen s = {0};
    hv_run *r = hv_run_guest_obs("hv_sleep", mode, 2, MAX_CYCLES, watch, &s);
    ck_assert_msg(r->status == 0, "%s: status %d: %s\n%s", emu_mode_name(mode), r->status,
                  r->m.diag, r->out);
    const char *sl = strstr(r->out, "RESULT sleep got=");
    const char *dl = strstr(r->out, "RESULT desched got=");
    ck_assert_ptr_nonnull(sl);
    ck_assert_ptr_nonnull(dl);
    unsigned got, hlt, late, sn;
    ck_assert_int_eq(sscanf(sl, "RESULT sleep got=%u hlt=%u", &got, &hlt), 2);
    ck_assert_uint_eq(got, 8);
    ck_assert_uint_ge(hlt, 8);
    ck_assert_uint_ge(s.wakes, 8);
    ck_assert_int_eq(sscanf(dl, "RESULT desched got=%u late=%u sn=%u", &got, &late, &sn), 3);
    ck_assert_uint_eq(got, 1);
    /* Sent right after the DESCHEDULE of 40000 cycles: taken after it. */
    ck_assert_uint_ge(late, 35000);
    ck_assert_uint_eq(s.desched, 1);
    if (mode == EMU_MODE_POSTED) {
        ck_assert_uint_eq(sn, 0);
        ck_assert_uint_eq(s.desched_sn, 1);
        ck_assert_uint_eq(s.posts, 1);
        ck_assert_uint_eq(s.posts_notified, 0);
    } else {
        ck_assert_uint_eq(sn, 2); /* PID_READ is posted-only: -22 */
        ck_assert_uint_eq(s.desched_sn, 0);
    }
    /* The preemption was the host's timer tick: an external-interrupt exit. */
    ck_assert_uint_ge(emu_hv_exit_count(r->hv, 1, VMX_EXIT_EXTERNAL_INTERRUPT), 1);
    hv_run_free(r);
}

START_TEST(emulated) { run_mode(EMU_MODE_EMULATED); }
END_TEST
START_TEST(tpr_shadow) { run_mode(EMU_MODE_TPR_SHADOW); }
END_TEST
START_TEST(apicv) { run_mode(EMU_MODE_APICV); }
END_TEST
START_TEST(posted) { run_mode(EMU_MODE_POSTED); }
END_TEST

static Suite *hv_sleep_suite(void)
{
    Suite *s = suite_create("hv_sleep");
    TCase *tc = tcase_create("modes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, emulated);
    tcase_add_test(tc, tpr_shadow);
    tcase_add_test(tc, apicv);
    tcase_add_test(tc, posted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hv_sleep_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
