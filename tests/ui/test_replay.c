/*
 * test_replay.c — the window's commands over a replayed trace, native and
 * posted (both through the replayer's snapshots): b steps
 * back one scheduling round to exactly the state the recorded run had
 * there (digests against a machine run directly), s steps forward again,
 * r goes back to the start, and the events remembered from the abandoned
 * future are forgotten; the events kept keep their numbers in the run
 * (a native step back restores a snapshot from the middle of the run).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_record.h"
#include "ui/ui.h"

#define QUANTUM 1000

/* Replays step back through snapshots in every mode (emu_replay_mark:
 * VMX modes' hypervisor included). */
static const emu_mode modes[] = {EMU_MODE_NATIVE, EMU_MODE_POSTED};
static emu_mode test_mode = EMU_MODE_NATIVE;

static emu_machine *machine(const char *path)
{
    emu_machine *m = calloc(1, sizeof(*m));
    emu_config cfg;
    char err[512];
    emu_config_default(&cfg);
    cfg.mode = test_mode;
    cfg.ncpus = 2;
    cfg.mem_bytes = 16u << 20;
    cfg.quantum = QUANTUM;
    ck_assert_msg(emu_machine_init(m, &cfg, path, err, sizeof(err)), "%s", err);
    return m;
}

static uint64_t digest_at(const char *guest, uint64_t cycle)
{
    emu_machine *m = machine(guest);
    emu_machine_run(m, cycle);
    ck_assert_uint_eq(m->now, cycle);
    uint64_t d;
    emu_machine_digest(m, &d);
    emu_machine_free(m);
    free(m);
    return d;
}

START_TEST(step_back_through_a_replay)
{
    test_mode = modes[_i];
    char guest[512], trace[] = "/tmp/apicv_ui_trace_XXXXXX", err[512];
    snprintf(guest, sizeof(guest), "%s/apic_ipi.elf", APICV_GUEST_DIR);
    int fd = mkstemp(trace);
    ck_assert_int_ge(fd, 0);
    close(fd);

    /* Record the run. */
    emu_machine *m = machine(guest);
    emu_record_info info = {guest, NULL, "test", 2000};
    emu_recorder *rec;
    ck_assert_msg(emu_record_begin(m, trace, &info, &rec, err, sizeof(err)), "%s", err);
    while (!emu_record_run(rec, m->now + 100000))
        ;
    ck_assert_msg(emu_record_end(rec, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(m->exit_status, 0);
    emu_machine_free(m);
    free(m);

    /* Replay it in the session. */
    emu_replayer *rp;
    ck_assert_msg(emu_replay_open(trace, false, &rp, err, sizeof(err)) == 0, "%s", err);
    emu_machine *rm = emu_replay_machine(rp);
    ui_replay_target *rt = calloc(1, sizeof(*rt));
    ui_view *view = calloc(1, sizeof(*view));
    ui_session s;
    ui_target t;
    ui_replay_target_init(rt, rp, NULL, &t);
    ui_view_init(view);
    ui_session_init(&s, &t, view);
    ui_session_refresh(&s);
    ck_assert_uint_eq(view->snap.now, 0);

    t.run(t.ctx, 40000);
    ui_session_refresh(&s);
    uint64_t n1 = rm->now, d1;
    ck_assert_uint_ge(n1, 40000);
    emu_machine_digest(rm, &d1);
    ck_assert_uint_eq(d1, digest_at(guest, n1));
    ck_assert_uint_gt(view->snap.ev_total, 0);

    ui_session_command(&s, UI_CMD_STEP_BACK, 0);
    ck_assert_uint_eq(view->snap.now, n1 - QUANTUM);
    ck_assert_uint_eq(rm->now, n1 - QUANTUM);
    uint64_t d0;
    emu_machine_digest(rm, &d0);
    ck_assert_uint_eq(d0, digest_at(guest, n1 - QUANTUM));
    /* The events panel stays filled, with the past only: the future is
     * forgotten (events of a round end near its last cycle). */
    ck_assert_uint_gt(view->snap.nev, 0);
    for (unsigned i = 0; i < view->snap.nev; i++)
        ck_assert_uint_le(view->snap.ev[i].cycle, n1 - QUANTUM + 200);
    /* Events keep their numbers in the run (as --log and --at-event count
     * them), also when the replay went back through a snapshot taken in
     * the middle of the run (native): the count is the replay's own. */
    uint64_t events, digests;
    emu_replay_progress(rp, &events, &digests);
    ck_assert_uint_eq(view->snap.ev_total, events);
    for (unsigned i = 0; i < view->snap.nmarks; i++)
        ck_assert_uint_le(view->snap.marks[i].ev_no, events);

    ui_session_command(&s, UI_CMD_STEP_BACK, 0);
    ck_assert_uint_eq(rm->now, n1 - 2 * QUANTUM);

    /* Forward again: one round per step, the same state as before. */
    ui_session_command(&s, UI_CMD_STEP, 0);
    ui_session_command(&s, UI_CMD_STEP, 0);
    ck_assert_uint_eq(rm->now, n1);
    emu_machine_digest(rm, &d0);
    ck_assert_uint_eq(d0, d1);

    ui_session_command(&s, UI_CMD_RESTART, 0);
    ck_assert_uint_eq(view->snap.now, 0);
    ui_session_command(&s, UI_CMD_STEP_BACK, 0); /* nothing before 0 */
    ck_assert_ptr_nonnull(strstr(view->info, "cannot step back"));

    ui_replay_target_detach(rt);
    emu_replay_close(rp);
    free(rt);
    free(view);
    unlink(trace);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, step_back_through_a_replay, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
