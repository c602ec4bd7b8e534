/*
 * ui_checkpoints.c — going back in a live run without running it again
 * from cycle 0 (docs/window.md "Going to an event"; docs/architecture.md
 * "Checkpoints").
 *
 * The window's targets keep checkpoints of their machine with the
 * recorder's counters as they were then (event number, recent events and
 * marks, captions, console): a live machine's are emu_checkpoint copies
 * (emu/emu_checkpoint.h: everything a run changes, in every mode), a
 * replay's are emu_replay_mark copies (the same checkpoint with the
 * replayer's positions in the trace, emu/emu_record.h). One is taken
 * before the run starts, then one every `every` cycles (100 000 at first)
 * at a round boundary between two slices, never at an event stop; one
 * with no event since the previous takes its place (it is closer to the
 * next event). At most UI_CHECKPOINTS, and at most UI_CHECKPOINT_BYTES in
 * all: when either is reached every other one goes (the first stays) and
 * they are taken twice as far apart. Going to event n restores the newest
 * checkpoint taken before event n (back, or forward past the machine when
 * the run was there before) and runs from there to the event: the run
 * (and the replay) is deterministic, so it is the state a fresh run
 * stopped at event n has (tests/ui/test_checkpoints.c and
 * test_replay_checkpoints.c compare them).
 *
 * A checkpoint costs host time (a pass over guest RAM): after one took T
 * seconds the next waits at least 50 T, so checkpoints take at most about
 * 2% of the machine thread (about 1 ms each for 64 MiB of RAM). Host time
 * decides only which checkpoints exist, never what the machine does.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu/emu_checkpoint.h"
#include "emu/emu_record.h"
#include "emu/emu_scenario.h"
#include "ui/ui.h"

struct ui_checkpoint {
    void *cp; /* the machine: l->ops says what it is */
    uint64_t cycle;
    /* The recorder's counters when it was taken. */
    uint64_t total, nmarks_total;
    ui_event ring[UI_RING_EVENTS];
    ui_mark marks[UI_TL_RECENT];
    ui_caption_entry caps[UI_CAPTIONS];
    unsigned ncaps;
    char console[UI_CONSOLE_BYTES];
    unsigned console_len;
};

/* ---- what a checkpoint keeps of the machine --------------------------------- */

static void *live_take(void *ctx)
{
    const ui_machine_target *mt = ctx;
    return emu_checkpoint_take(mt->m, mt->scenario);
}

static bool live_restore(void *ctx, const void *state)
{
    ui_machine_target *mt = ctx;
    return emu_checkpoint_restore(mt->m, mt->scenario, state);
}

static void live_free(void *state)
{
    emu_checkpoint_free(state);
}

static size_t live_bytes(const void *state)
{
    return emu_checkpoint_bytes(state);
}

const ui_cp_ops ui_cp_live_ops = {live_take, live_restore, live_free, live_bytes};

static void *replay_take(void *ctx)
{
    const ui_replay_target *rt = ctx;
    return emu_replay_mark_take(rt->r);
}

static bool replay_restore(void *ctx, const void *state)
{
    ui_replay_target *rt = ctx;
    return emu_replay_mark_restore(rt->r, state);
}

static void replay_free(void *state)
{
    emu_replay_mark_free(state);
}

static size_t replay_bytes(const void *state)
{
    return emu_replay_mark_bytes(state);
}

const ui_cp_ops ui_cp_replay_ops = {replay_take, replay_restore, replay_free, replay_bytes};

/* ---- the list ---------------------------------------------------------------- */

static void drop(ui_cp_list *l, ui_checkpoint *c)
{
    l->cp_bytes -= l->ops->bytes(c->cp) + sizeof(*c);
    l->ops->free(c->cp);
    free(c);
}

void ui_checkpoints_free(ui_cp_list *l)
{
    for (unsigned i = 0; i < l->ncps; i++) {
        l->ops->free(l->cps[i]->cp);
        free(l->cps[i]);
    }
    l->ncps = 0;
    l->cp_bytes = 0;
    l->cp_next = 0;
    if (!l->cp_every)
        l->cp_every = UI_CHECKPOINT_EVERY;
}

/* Every other checkpoint goes (the first stays), the rest twice apart. */
static void thin(ui_cp_list *l)
{
    unsigned j = 0;
    for (unsigned i = 0; i < l->ncps; i++) {
        if (i % 2 == 0)
            l->cps[j++] = l->cps[i];
        else
            drop(l, l->cps[i]);
    }
    l->ncps = j;
    l->cp_every *= 2;
}

static double host_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ui_checkpoints_take(ui_cp_list *l, const emu_machine *m, const ui_recorder *r)
{
    if (!l->ops)
        return;
    if (!l->cp_every)
        l->cp_every = UI_CHECKPOINT_EVERY;
    /* Between rounds, with no event stop on screen, and past the newest
     * checkpoint (after going back the run passes the same cycles again). */
    if (m->finished || m->in_round || r->capturing || r->nstops || m->now < l->cp_next)
        return;
    /* No event since the newest: this one is closer to the next event,
     * it takes the newest's place. */
    if (l->ncps && r->total == l->cps[l->ncps - 1]->total)
        drop(l, l->cps[--l->ncps]);
    if (l->ncps && r->total < l->cps[l->ncps - 1]->total)
        return;
    double t0 = host_seconds();
    if (!l->cp_eager && t0 < l->cp_host_next)
        return;
    unsigned max = l->cp_max && l->cp_max < UI_CHECKPOINTS ? l->cp_max : UI_CHECKPOINTS;
    if (l->ncps >= max || l->cp_bytes > UI_CHECKPOINT_BYTES)
        thin(l);
    ui_checkpoint *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->cp = l->ops->take(l->ctx);
    if (!c->cp) {
        free(c);
        return;
    }
    c->cycle = m->now;
    c->total = r->total;
    c->nmarks_total = r->nmarks_total;
    memcpy(c->ring, r->ring, sizeof(c->ring));
    memcpy(c->marks, r->marks, sizeof(c->marks));
    memcpy(c->caps, r->caps, sizeof(c->caps));
    c->ncaps = r->ncaps;
    memcpy(c->console, r->console, sizeof(c->console));
    c->console_len = r->console_len;
    l->cps[l->ncps++] = c;
    l->cp_bytes += l->ops->bytes(c->cp) + sizeof(*c);
    l->cp_next = (m->now / l->cp_every + 1) * l->cp_every;
    l->cp_host_next = t0 + 50 * (host_seconds() - t0);
}

bool ui_checkpoints_goto(ui_cp_list *l, ui_recorder *r, uint64_t n, bool *restored)
{
    *restored = false;
    const ui_checkpoint *best = NULL;
    for (unsigned i = 0; i < l->ncps; i++)
        if (l->cps[i]->total < n)
            best = l->cps[i];
    bool back = n <= r->total;
    /* Forward, only a checkpoint past where the machine is saves time. */
    if (!best || (!back && best->total <= r->total))
        return true;
    if (!l->ops->restore(l->ctx, best->cp))
        return false;
    ui_recorder_forget_stops(r);
    r->total = best->total;
    r->nmarks_total = best->nmarks_total;
    memcpy(r->ring, best->ring, sizeof(r->ring));
    memcpy(r->marks, best->marks, sizeof(r->marks));
    memcpy(r->caps, best->caps, sizeof(r->caps));
    r->ncaps = best->ncaps;
    memcpy(r->console, best->console, sizeof(r->console));
    r->console_len = best->console_len;
    r->hit = false;
    *restored = true;
    return true;
}

unsigned ui_checkpoints_count(const ui_cp_list *l, size_t *bytes)
{
    if (bytes)
        *bytes = l->cp_bytes;
    return l->ncps;
}
