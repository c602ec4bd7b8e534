/*
 * test_checkpoints.c — going to an earlier event in a live run restores
 * the newest checkpoint before it (emu/emu_checkpoint.h,
 * ui/ui_checkpoints.c) and runs from there, and lands on exactly the state
 * a fresh run stopped at that event has: the same digest of the whole
 * machine (CPUs, APICs, RAM, queues, the hypervisor's VMCSs and virtual
 * APICs), the same snapshot (registers, grids, PIR, controls), the same
 * events, console and caption. In posted, emulated and native mode, back
 * and forth, without ever building the machine again; and the checkpoints
 * stay within their bound on a long run.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "ui/ui.h"

typedef struct run {
    emu_scenario scn;
    emu_machine m;
    ui_machine_target mt;
    ui_target t;
    ui_snapshot snap;
} run;

static vmx_vcpu *hv_lookup(emu_machine *m, unsigned k)
{
    emu_hv *hv = m->cfg.mode != EMU_MODE_NATIVE ? m->hv : NULL;
    return hv && k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

static run *open_run(const char *name)
{
    run *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    char path[1024], guest[4096], err[1024];
    snprintf(path, sizeof(path), "%s/scenarios/%s", APICV_SOURCE_DIR, name);
    ck_assert_msg(emu_scenario_load(path, &r->scn, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_guest_path(&r->scn, APICV_GUEST_DIR, guest, sizeof(guest), err,
                                          sizeof(err)),
                  "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(&r->scn, &cfg);
    ck_assert_msg(emu_machine_init(&r->m, &cfg, guest, err, sizeof(err)), "%s", err);
    r->m.diag_out = NULL;
    ck_assert_msg(emu_scenario_apply(&r->scn, &r->m, err, sizeof(err)), "%s", err);
    ui_machine_target_init(&r->mt, &r->m, guest, hv_lookup, &r->t);
    r->mt.scenario = &r->scn;
    r->mt.cpl.cp_eager = true;
    return r;
}

static void close_run(run *r)
{
    ui_machine_target_detach(&r->mt);
    emu_machine_free(&r->m);
    emu_scenario_free(&r->scn);
    free(r);
}

static void snap(run *r)
{
    r->t.snapshot(r->t.ctx, &r->snap);
}

/* The machine at event n of a fresh run and of r (which went there),
 * compared: digest, every CPU's snapshot, the events, console, caption. */
static void same_as_fresh(const char *name, run *r, uint64_t n)
{
    run *f = open_run(name);
    char err[256];
    ck_assert_msg(ui_target_run_to_event(&f->mt.rec, &f->m, f->t.run, f->t.ctx, n, err,
                                         sizeof(err)),
                  "%s", err);
    snap(f);
    snap(r);
    ck_assert_uint_eq(r->snap.ev_total, n);
    ck_assert_uint_eq(f->snap.ev_total, n);
    uint64_t dr = 0, df = 0;
    emu_machine_digest(&r->m, &dr);
    emu_machine_digest(&f->m, &df);
    ck_assert_msg(dr == df, "%s event %llu: digest %016llx, a fresh run's %016llx", name,
                  (unsigned long long)n, (unsigned long long)dr, (unsigned long long)df);
    ck_assert_uint_eq(r->snap.now, f->snap.now);
    ck_assert_uint_eq(r->snap.insns_total, f->snap.insns_total);
    for (unsigned k = 0; k < r->snap.ncpus; k++)
        ck_assert_msg(memcmp(&r->snap.cpu[k], &f->snap.cpu[k], sizeof(ui_cpu_snap)) == 0,
                      "%s event %llu: cpu%u differs from a fresh run's", name,
                      (unsigned long long)n, k);
    ck_assert_uint_eq(r->snap.nev, f->snap.nev);
    ck_assert(memcmp(r->snap.ev, f->snap.ev, r->snap.nev * sizeof(ui_event)) == 0);
    ck_assert_str_eq(r->snap.console, f->snap.console);
    ck_assert_str_eq(r->snap.caption, f->snap.caption);
    ck_assert_uint_eq(r->snap.ncaps, f->snap.ncaps);
    close_run(f);
}

static void jumps(const char *name)
{
    run *r = open_run(name);
    r->mt.cpl.cp_every = 3000; /* many checkpoints in a short demo */
    while (!r->t.run(r->t.ctx, 7000))
        ;
    uint64_t total = r->mt.rec.total;
    ck_assert_uint_gt(total, 40);
    ck_assert_uint_gt(ui_checkpoints_count(&r->mt.cpl, NULL), 3);
    /* Back, further back, forward (past checkpoints taken before), the
     * first event, the last. */
    uint64_t to[] = {total / 2, total / 5, total - 3, 1, total * 3 / 4, total};
    char err[256];
    for (unsigned i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
        ck_assert_msg(r->t.goto_event(r->t.ctx, to[i], err, sizeof(err)), "%s", err);
        same_as_fresh(name, r, to[i]);
    }
    /* Every jump back came from a checkpoint: the machine was never built
     * again. */
    ck_assert_uint_ge(r->mt.cpl.cp_restored, 4);
    ck_assert_uint_eq(r->mt.restarts, 0);
    close_run(r);
}

START_TEST(posted_jumps_land_where_a_fresh_run_stops)
{
    jumps("posted_demo.scn");
}
END_TEST

START_TEST(emulated_jumps_land_where_a_fresh_run_stops)
{
    jumps("irq_emulated.scn");
}
END_TEST

START_TEST(native_jumps_land_where_a_fresh_run_stops)
{
    jumps("ipi_native.scn");
}
END_TEST

/* A run with checkpoints asked for every 100 cycles and room for 8: at
 * most 8 of them, thinned (and spaced wider) as the run goes, the
 * earliest kept, and going back still lands right. */
START_TEST(checkpoints_stay_bounded)
{
    run *r = open_run("compare_demo.scn"); /* 160 000 cycles in rounds of 1 000 */
    r->mt.cpl.cp_every = 100;
    r->mt.cpl.cp_max = 8;
    while (!r->t.run(r->t.ctx, 1000))
        ;
    size_t bytes = 0;
    unsigned n = ui_checkpoints_count(&r->mt.cpl, &bytes);
    ck_assert_uint_le(n, 8);
    ck_assert_uint_ge(n, 4);
    ck_assert_uint_gt(r->mt.cpl.cp_every, 100);
    ck_assert_uint_le(bytes, UI_CHECKPOINT_BYTES + bytes / n * 2);
    char err[256];
    ck_assert_msg(r->t.goto_event(r->t.ctx, 5, err, sizeof(err)), "%s", err);
    same_as_fresh("compare_demo.scn", r, 5);
    ck_assert_uint_ge(r->mt.cpl.cp_restored, 1);
    ck_assert_uint_eq(r->mt.restarts, 0);
    close_run(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_checkpoints");
    TCase *tc = tcase_create("checkpoints");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, posted_jumps_land_where_a_fresh_run_stops);
    tcase_add_test(tc, emulated_jumps_land_where_a_fresh_run_stops);
    tcase_add_test(tc, native_jumps_land_where_a_fresh_run_stops);
    tcase_add_test(tc, checkpoints_stay_bounded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
