/*
 * ui_replay.c — the window's target over a replayed trace
 * (emu/emu_record.h): run and pause like a live machine, step back
 * through the replayer's snapshots (emu_replay_seek restores the latest
 * snapshot at or before a cycle and runs forward from there, so going back
 * shows exactly the state the recorded run had), and go to an event from
 * the newest of the target's own checkpoints before it (ui_checkpoints.c
 * over emu_replay_mark, with the recorder's counters, as a live run does),
 * in every mode.
 *
 * Replay moves on round boundaries (the trace's digests and snapshots lie
 * on them), so here one step, forward or back, is one scheduling round.
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_record.h"
#include "ui/ui.h"

static cpu_stop rt_step(void *ctx, unsigned cpu, uint64_t n)
{
    ui_replay_target *rt = ctx;
    (void)cpu;
    (void)n;
    ui_recorder_forget_stops(&rt->rec);
    ui_checkpoints_take(&rt->cpl, rt->m, &rt->rec);
    if (rt->m->finished)
        return CPU_STOP_NONE;
    emu_replay_run(rt->r, rt->m->now + 1);
    ui_recorder_stopped(&rt->rec);
    return CPU_STOP_CYCLES;
}

static bool rt_run(void *ctx, uint64_t cycles)
{
    ui_replay_target *rt = ctx;
    ui_recorder_forget_stops(&rt->rec);
    ui_checkpoints_take(&rt->cpl, rt->m, &rt->rec);
    bool done = emu_replay_run(rt->r, rt->m->now + cycles);
    ui_recorder_stopped(&rt->rec);
    ui_checkpoints_take(&rt->cpl, rt->m, &rt->rec);
    return done;
}

static void rt_run_until(void *ctx, uint32_t classes, bool any, int cpu)
{
    ui_replay_target *rt = ctx;
    rt->rec.pause_classes = classes;
    rt->rec.pause_apic_vmx = any;
    rt->rec.pause_cpu = cpu;
    rt->rec.hit = false;
}

static bool rt_next_stop(void *ctx)
{
    ui_replay_target *rt = ctx;
    return ui_recorder_next_stop(&rt->rec);
}

static bool rt_hit(void *ctx)
{
    ui_replay_target *rt = ctx;
    if (!rt->rec.hit)
        return false;
    rt->rec.hit = false;
    rt->rec.pause_classes = 0;
    rt->rec.pause_apic_vmx = false;
    rt->rec.pause_cpu = -1;
    return true;
}

/* After a seek that restored a snapshot from the middle of the run, the
 * recorder counted the events from there: the replay's own count (every
 * event since cycle 0) gives them their numbers in the run again, as
 * --log and --at-event count them. */
static void renumber(ui_replay_target *rt)
{
    ui_recorder *r = &rt->rec;
    uint64_t events, digests;
    emu_replay_progress(rt->r, &events, &digests);
    if (events <= r->total)
        return;
    uint64_t off = events - r->total;
    uint64_t n = r->total < UI_RING_EVENTS ? r->total : UI_RING_EVENTS;
    ui_event ring[UI_RING_EVENTS];
    memcpy(ring, r->ring, sizeof(ring));
    for (uint64_t k = r->total - n; k < r->total; k++)
        r->ring[(k + off) % UI_RING_EVENTS] = ring[k % UI_RING_EVENTS];
    r->total += off;
    uint64_t nm = r->nmarks_total < UI_TL_RECENT ? r->nmarks_total : UI_TL_RECENT;
    for (uint64_t i = 0; i < nm; i++)
        r->marks[(r->nmarks_total - 1 - i) % UI_TL_RECENT].ev_no += off;
    for (size_t i = 0; i < r->nstore; i++)
        r->store[i].ev_no += off;
    for (unsigned i = 0; i < r->ncaps; i++)
        r->caps[i].ev_no += off;
}

/* Goes to `cycle`. The events the window remembers are from a future that
 * is no longer on screen, so they are forgotten first; the replay from the
 * restored snapshot up to `cycle` then fills the events panel again. */
static bool seek(ui_replay_target *rt, uint64_t cycle, char *err, size_t errlen)
{
    /* From cycle 0 the events come again with their numbers: the marks
     * of the whole run stay. A seek elsewhere may start from a snapshot:
     * what the recorder kept goes, and what it sees from the snapshot on
     * is numbered from the replay's count (renumber). */
    if (cycle == 0)
        ui_recorder_rewind(&rt->rec, rt->m);
    else
        ui_recorder_reset(&rt->rec, rt->m);
    if (!emu_replay_seek(rt->r, cycle, err, errlen))
        return false;
    renumber(rt);
    return true;
}

static bool rt_restart(void *ctx, char *err, size_t errlen)
{
    return seek(ctx, 0, err, errlen);
}

static bool rt_step_back(void *ctx)
{
    ui_replay_target *rt = ctx;
    uint64_t q = rt->m->cfg.quantum ? rt->m->cfg.quantum : 10000;
    if (rt->m->now == 0)
        return false;
    uint64_t to = rt->m->now > q ? rt->m->now - q : 0;
    return seek(rt, to, rt->err, sizeof(rt->err));
}

/* Back: from the newest checkpoint before event n (the replay and the
 * recorder as they were there), else seek to cycle 0 (the recorder starts
 * again, so event numbers count as in the first pass), and replay to
 * event n; forward: replay on, from a checkpoint past the machine when the
 * replay was there before. */
static bool rt_goto_event(void *ctx, uint64_t n, char *err, size_t errlen)
{
    ui_replay_target *rt = ctx;
    if (n == 0) {
        snprintf(err, errlen, "events are numbered from 1");
        return false;
    }
    ui_checkpoints_take(&rt->cpl, rt->m, &rt->rec);
    bool restored = false;
    /* Refused: the replay's machine was built again since (its marks
     * point into the old one), or no memory; they go. */
    if (!ui_checkpoints_goto(&rt->cpl, &rt->rec, n, &restored))
        ui_checkpoints_free(&rt->cpl);
    if (restored) {
        rt->cpl.cp_restored++;
    } else if (n <= rt->rec.total) {
        rt->rewinds++;
        if (!seek(rt, 0, err, errlen))
            return false;
    }
    return ui_target_run_to_event(&rt->rec, rt->m, rt_run, rt, n, err, errlen);
}

static void rt_capture(void *ctx, ui_snapshot *s)
{
    ui_replay_target *rt = ctx;
    ui_snapshot_take(s, rt->m, &rt->rec, rt->lookup);
    ui_snapshot_scenario_caption(s, emu_replay_scenario(rt->r));
}

static void rt_marks(void *ctx, ui_snapshot *s, const ui_tl_view *tv)
{
    ui_replay_target *rt = ctx;
    ui_snapshot_marks(s, &rt->rec, tv);
}

static void rt_snapshot(void *ctx, ui_snapshot *s)
{
    ui_replay_target *rt = ctx;
    const ui_snapshot *stop = ui_recorder_current_stop(&rt->rec);
    if (stop)
        ui_snapshot_from_stop(s, stop);
    else
        rt_capture(ctx, s);
}

void ui_replay_target_init(ui_replay_target *rt, emu_replayer *r, ui_vcpu_lookup lookup,
                           ui_target *t)
{
    memset(rt, 0, sizeof(*rt));
    rt->r = r;
    rt->m = emu_replay_machine(r);
    rt->lookup = lookup;
    rt->cpl.ops = &ui_cp_replay_ops;
    rt->cpl.ctx = rt;
    ui_recorder_init(&rt->rec, rt->m);
    rt->rec.capture = rt_capture;
    rt->rec.capture_ctx = rt;
    cpu_obs_subscribe(&rt->m->obs, ui_recorder_event, &rt->rec);
    memset(t, 0, sizeof(*t));
    t->ctx = rt;
    t->step = rt_step;
    t->run = rt_run;
    t->run_until = rt_run_until;
    t->next_stop = rt_next_stop;
    t->hit = rt_hit;
    t->restart = rt_restart;
    t->step_back = rt_step_back;
    t->snapshot = rt_snapshot;
    t->marks = rt_marks;
    t->goto_event = rt_goto_event;
}

void ui_replay_target_detach(ui_replay_target *rt)
{
    cpu_obs_unsubscribe(&rt->m->obs, ui_recorder_event, &rt->rec);
    ui_checkpoints_free(&rt->cpl);
    ui_recorder_free(&rt->rec);
}
