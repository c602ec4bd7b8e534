/*
 * ui_checkpoints.c — going back in a live run without running it again
 * from cycle 0 (docs/window.md "Going to an event"; docs/architecture.md
 * "Checkpoints").
 *
 * The window's machine target keeps checkpoints of the machine
 * (emu/emu_checkpoint.h: everything a run changes, in every mode) with the
 * recorder's counters as they were then (event number, recent events and
 * marks, captions, console): one before the run starts, then one every
 * `every` cycles (100 000 at first) at a round boundary between two
 * slices, never at an event stop; one with no event since the previous
 * takes its place (it is closer to the next event). At most
 * UI_CHECKPOINTS, and at most UI_CHECKPOINT_BYTES in all: when either is
 * reached every other one goes (the first stays) and they are taken twice
 * as far apart. Going to event
 * n restores the newest checkpoint taken before event n (back, or forward
 * past the machine when the run was there before) and runs from there to
 * the event: the run is deterministic, so it is the state a fresh run
 * stopped at event n has (tests/ui/test_checkpoints.c compares them).
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
#include "ui/ui.h"

struct ui_checkpoint {
    emu_checkpoint *cp;
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

void ui_checkpoints_free(ui_machine_target *mt)
{
    for (unsigned i = 0; i < mt->ncps; i++) {
        emu_checkpoint_free(mt->cps[i]->cp);
        free(mt->cps[i]);
    }
    mt->ncps = 0;
    mt->cp_bytes = 0;
    mt->cp_next = 0;
    if (!mt->cp_every)
        mt->cp_every = UI_CHECKPOINT_EVERY;
}

/* Every other checkpoint goes (the first stays), the rest twice apart. */
static void thin(ui_machine_target *mt)
{
    unsigned j = 0;
    for (unsigned i = 0; i < mt->ncps; i++) {
        if (i % 2 == 0) {
            mt->cps[j++] = mt->cps[i];
        } else {
            mt->cp_bytes -= emu_checkpoint_bytes(mt->cps[i]->cp) + sizeof(*mt->cps[i]);
            emu_checkpoint_free(mt->cps[i]->cp);
            free(mt->cps[i]);
        }
    }
    mt->ncps = j;
    mt->cp_every *= 2;
}

static double host_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ui_checkpoints_take(ui_machine_target *mt)
{
    emu_machine *m = mt->m;
    const ui_recorder *r = &mt->rec;
    if (!mt->cp_every)
        mt->cp_every = UI_CHECKPOINT_EVERY;
    /* Between rounds, with no event stop on screen, and past the newest
     * checkpoint (after going back the run passes the same cycles again). */
    if (m->finished || m->in_round || r->capturing || r->nstops || m->now < mt->cp_next)
        return;
    /* No event since the newest: this one is closer to the next event,
     * it takes the newest's place. */
    if (mt->ncps && r->total == mt->cps[mt->ncps - 1]->total) {
        ui_checkpoint *old = mt->cps[--mt->ncps];
        mt->cp_bytes -= emu_checkpoint_bytes(old->cp) + sizeof(*old);
        emu_checkpoint_free(old->cp);
        free(old);
    }
    if (mt->ncps && r->total < mt->cps[mt->ncps - 1]->total)
        return;
    double t0 = host_seconds();
    if (!mt->cp_eager && t0 < mt->cp_host_next)
        return;
    unsigned max = mt->cp_max && mt->cp_max < UI_CHECKPOINTS ? mt->cp_max : UI_CHECKPOINTS;
    if (mt->ncps >= max || mt->cp_bytes > UI_CHECKPOINT_BYTES)
        thin(mt);
    ui_checkpoint *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->cp = emu_checkpoint_take(m, mt->scenario);
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
    mt->cps[mt->ncps++] = c;
    mt->cp_bytes += emu_checkpoint_bytes(c->cp) + sizeof(*c);
    mt->cp_next = (m->now / mt->cp_every + 1) * mt->cp_every;
    mt->cp_host_next = t0 + 50 * (host_seconds() - t0);
}

bool ui_checkpoints_goto(ui_machine_target *mt, uint64_t n, bool *restored)
{
    *restored = false;
    const ui_checkpoint *best = NULL;
    for (unsigned i = 0; i < mt->ncps; i++)
        if (mt->cps[i]->total < n)
            best = mt->cps[i];
    bool back = n <= mt->rec.total;
    /* Forward, only a checkpoint past where the machine is saves time. */
    if (!best || (!back && best->total <= mt->rec.total))
        return true;
    if (!emu_checkpoint_restore(mt->m, mt->scenario, best->cp))
        return false;
    ui_recorder *r = &mt->rec;
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

unsigned ui_checkpoints_count(const ui_machine_target *mt, size_t *bytes)
{
    if (bytes)
        *bytes = mt->cp_bytes;
    return mt->ncps;
}
