/*
 * test_replay_checkpoints.c — going to an earlier event in a replay
 * restores the newest checkpoint before it (emu_replay_mark: the whole
 * machine, hypervisor included, with the replayer's positions in the
 * trace; ui/ui_checkpoints.c) and replays from there, and lands on exactly
 * the state a fresh replay stopped at that event has: the same digest of
 * the whole machine (CPUs, APICs, RAM, queues, the hypervisor's VMCSs and
 * virtual APICs), the same snapshot (registers, grids, PIR, controls), the
 * same events, console and caption, and no divergence from the recording.
 * In posted and emulated mode (the recorded traces of traces/recorded/),
 * back and forth, without ever replaying from cycle 0; and a step back by
 * cycles in a VMX-mode replay restores the replayer's own snapshot instead
 * of building the machine again.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv.h"
#include "emu/emu_record.h"
#include "ui/ui.h"

typedef struct rep {
    emu_replayer *r;
    ui_replay_target rt;
    ui_target t;
    ui_snapshot snap;
} rep;

static vmx_vcpu *hv_lookup(emu_machine *m, unsigned k)
{
    emu_hv *hv = m->cfg.mode != EMU_MODE_NATIVE ? m->hv : NULL;
    return hv && k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

static rep *open_rep(const char *name)
{
    rep *p = calloc(1, sizeof(*p));
    ck_assert_ptr_nonnull(p);
    char path[1024], err[1024];
    snprintf(path, sizeof(path), "%s/traces/recorded/%s", APICV_SOURCE_DIR, name);
    ck_assert_int_eq(emu_replay_open(path, true, &p->r, err, sizeof(err)), 0);
    emu_replay_machine(p->r)->diag_out = NULL;
    ui_replay_target_init(&p->rt, p->r, hv_lookup, &p->t);
    p->rt.cpl.cp_eager = true;
    return p;
}

static void close_rep(rep *p)
{
    ck_assert_msg(emu_replay_divergence(p->r) == NULL, "%s", emu_replay_divergence(p->r));
    ui_replay_target_detach(&p->rt);
    emu_replay_close(p->r);
    free(p);
}

static void snap(rep *p)
{
    p->t.snapshot(p->t.ctx, &p->snap);
}

/* The replay at event n of a fresh replay and of p (which went there),
 * compared: digest, every CPU's snapshot, the events, console, caption. */
static void same_as_fresh(const char *name, rep *p, uint64_t n)
{
    rep *f = open_rep(name);
    char err[256];
    ck_assert_msg(ui_target_run_to_event(&f->rt.rec, f->rt.m, f->t.run, f->t.ctx, n, err,
                                         sizeof(err)),
                  "%s", err);
    snap(f);
    snap(p);
    ck_assert_uint_eq(p->snap.ev_total, n);
    ck_assert_uint_eq(f->snap.ev_total, n);
    uint64_t dp = 0, df = 0;
    emu_machine_digest(p->rt.m, &dp);
    emu_machine_digest(f->rt.m, &df);
    ck_assert_msg(dp == df, "%s event %llu: digest %016llx, a fresh replay's %016llx", name,
                  (unsigned long long)n, (unsigned long long)dp, (unsigned long long)df);
    ck_assert_uint_eq(p->snap.now, f->snap.now);
    ck_assert_uint_eq(p->snap.insns_total, f->snap.insns_total);
    for (unsigned k = 0; k < p->snap.ncpus; k++)
        ck_assert_msg(memcmp(&p->snap.cpu[k], &f->snap.cpu[k], sizeof(ui_cpu_snap)) == 0,
                      "%s event %llu: cpu%u differs from a fresh replay's", name,
                      (unsigned long long)n, k);
    ck_assert_uint_eq(p->snap.nev, f->snap.nev);
    ck_assert(memcmp(p->snap.ev, f->snap.ev, p->snap.nev * sizeof(ui_event)) == 0);
    ck_assert_str_eq(p->snap.console, f->snap.console);
    ck_assert_str_eq(p->snap.caption, f->snap.caption);
    ck_assert_uint_eq(p->snap.ncaps, f->snap.ncaps);
    close_rep(f);
}

static void jumps(const char *name)
{
    rep *p = open_rep(name);
    ck_assert_ptr_nonnull(emu_replay_machine(p->r)->hv); /* a VMX mode */
    p->rt.cpl.cp_every = 3000; /* many checkpoints in a short trace */
    while (!p->t.run(p->t.ctx, 7000))
        ;
    uint64_t total = p->rt.rec.total;
    ck_assert_uint_gt(total, 40);
    ck_assert_uint_gt(ui_checkpoints_count(&p->rt.cpl, NULL), 3);
    /* Back, further back, forward (past checkpoints taken before), the
     * first event, the last. */
    uint64_t to[] = {total / 2, total / 5, total - 3, 1, total * 3 / 4, total};
    char err[256];
    for (unsigned i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
        ck_assert_msg(p->t.goto_event(p->t.ctx, to[i], err, sizeof(err)), "%s", err);
        same_as_fresh(name, p, to[i]);
    }
    /* Every jump back came from a checkpoint (the first is taken before
     * the replay runs): nothing was replayed from cycle 0. */
    ck_assert_uint_ge(p->rt.cpl.cp_restored, 4);
    ck_assert_uint_eq(p->rt.rewinds, 0);
    close_rep(p);
}

START_TEST(posted_replay_jumps_land_where_a_fresh_replay_stops)
{
    jumps("posted_demo.trace");
}
END_TEST

START_TEST(emulated_replay_jumps_land_where_a_fresh_replay_stops)
{
    jumps("irq_emulated.trace");
}
END_TEST

/* The replayer's own snapshots (emu_replay_seek) in a VMX mode: going back
 * by cycles restores one, the machine is not built again (restoring a
 * window checkpoint taken before still works: it would be refused after a
 * rebuild), and the state is the one a fresh replay has there. */
START_TEST(vmx_step_back_restores_a_snapshot)
{
    rep *p = open_rep("irq_emulated.trace");
    char err[256];
    ck_assert_msg(p->t.goto_event(p->t.ctx, 20, err, sizeof(err)), "%s", err);
    while (!p->t.run(p->t.ctx, 7000))
        ;
    uint64_t end = p->rt.m->now;
    ck_assert(p->t.step_back(p->t.ctx));
    ck_assert_uint_lt(p->rt.m->now, end);
    uint64_t at = p->rt.m->now, d = 0, fd = 0;
    emu_machine_digest(p->rt.m, &d);
    rep *f = open_rep("irq_emulated.trace");
    ck_assert(emu_replay_seek(f->r, at, err, sizeof(err)));
    ck_assert_uint_eq(f->rt.m->now, at);
    emu_machine_digest(f->rt.m, &fd);
    ck_assert_uint_eq(d, fd);
    close_rep(f);
    ck_assert_msg(p->t.goto_event(p->t.ctx, 20, err, sizeof(err)), "%s", err);
    ck_assert_uint_ge(p->rt.cpl.cp_restored, 1);
    ck_assert_uint_eq(p->rt.rewinds, 0);
    same_as_fresh("irq_emulated.trace", p, 20);
    close_rep(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_replay_checkpoints");
    TCase *tc = tcase_create("replay_checkpoints");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, posted_replay_jumps_land_where_a_fresh_replay_stops);
    tcase_add_test(tc, emulated_replay_jumps_land_where_a_fresh_replay_stops);
    tcase_add_test(tc, vmx_step_back_restores_a_snapshot);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
