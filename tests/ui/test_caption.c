/*
 * test_caption.c — a scenario's narration in the window: the caption the
 * scenario shows at a moment travels in the snapshot of that moment, and a
 * restart applies the scenario again, so the same moment shows the same
 * caption, and outside observers (--log) keep listening. Runs
 * scenarios/posted_demo.scn, the default demo.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_scenario.h"
#include "ui/ui.h"
#include "ui_test_scenario.h"

typedef struct demo {
    emu_scenario scn;
    emu_machine m;
    ui_machine_target mt;
    ui_target t;
    ui_snapshot snap;
} demo;

static demo *open_demo(void)
{
    demo *d = calloc(1, sizeof(*d));
    ck_assert_ptr_nonnull(d);
    emu_mode declared;
    ui_test_scenario_open("posted_demo.scn", NULL, &declared, &d->scn, &d->m, &d->mt, &d->t);
    ck_assert_int_eq(declared, EMU_MODE_POSTED);
    return d;
}

static void close_demo(demo *d)
{
    ui_test_scenario_close(&d->scn, &d->m, &d->mt);
    free(d);
}

static void count_events(void *ctx, const cpu_obs_event *ev)
{
    (void)ev;
    (*(uint64_t *)ctx)++;
}

/* Runs to the first round boundary at or after cycle and snapshots. */
static void run_to(demo *d, uint64_t cycle)
{
    if (d->m.now < cycle)
        d->t.run(d->t.ctx, cycle - d->m.now);
    memset(&d->snap, 0, sizeof(d->snap));
    d->t.snapshot(d->t.ctx, &d->snap);
}

START_TEST(snapshot_carries_the_scenario_caption)
{
    demo *d = open_demo();
    run_to(d, 1);
    /* The first caption is tied to cycle 0. */
    ck_assert_str_eq(d->snap.caption, emu_scenario_caption_text(&d->scn, 0));
    run_to(d, 20500);
    const char *now = emu_scenario_caption_now(&d->scn);
    ck_assert_ptr_nonnull(now);
    ck_assert_str_ne(now, emu_scenario_caption_text(&d->scn, 0));
    ck_assert_str_eq(d->snap.caption, now);
    char at_20500[sizeof(d->snap.caption)];
    snprintf(at_20500, sizeof(at_20500), "%s", d->snap.caption);

    /* Restart: a new machine with the scenario applied again; an observer
     * from outside (the command line's --log) stays subscribed. */
    uint64_t logged = 0;
    ck_assert(cpu_obs_subscribe(&d->m.obs, count_events, &logged));
    char err[512];
    ck_assert_ptr_nonnull(d->t.restart);
    ck_assert_msg(d->t.restart(d->t.ctx, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(d->m.now, 0);
    uint64_t at_restart = logged;
    run_to(d, 1);
    ck_assert_str_eq(d->snap.caption, emu_scenario_caption_text(&d->scn, 0));
    run_to(d, 20500);
    ck_assert_str_eq(d->snap.caption, at_20500);
    ck_assert_uint_gt(logged, at_restart);
    /* ... and it still ends as the scenario expects. */
    while (!d->t.run(d->t.ctx, 1000000))
        ;
    ck_assert_int_eq(emu_scenario_check(&d->scn, stderr), 0);
    close_demo(d);
}
END_TEST

START_TEST(no_scenario_keeps_the_given_caption)
{
    demo *d = open_demo();
    d->mt.scenario = NULL;
    run_to(d, 20500);
    ck_assert_str_eq(d->snap.caption, "");
    snprintf(d->snap.caption, sizeof(d->snap.caption), "%s", "--caption text");
    ui_snapshot_scenario_caption(&d->snap, NULL);
    ck_assert_str_eq(d->snap.caption, "--caption text");
    close_demo(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_caption");
    TCase *tc = tcase_create("caption");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, snapshot_carries_the_scenario_caption);
    tcase_add_test(tc, no_scenario_keeps_the_given_caption);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
