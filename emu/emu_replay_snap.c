/*
 * emu_replay_snap.c — snapshots of a replay (replay marks) and seeking in
 * it (the window's step back and jumps): forward by running, backward by
 * restoring the latest snapshot at or before the target and running from
 * there.
 *
 * A mark is a checkpoint of the whole machine (emu/emu_checkpoint.h, the
 * same copy live runs go back with: CPUs, local APICs, event queues, guest
 * RAM, the host-owned VMCS pages, the built-in hypervisor or a guest's own
 * VMX root state, the scenario's runtime) plus the replayer's positions in
 * the trace (next event, digest and input to check or post). It is taken
 * between two slices and restored into the same machine: a replay built
 * again (emu_replay_rebuild frees the machine the checkpoint points into)
 * refuses the marks of the previous one by their generation.
 */
#include <stdlib.h>
#include <string.h>

#include "emu/emu_checkpoint.h"
#include "emu/emu_internal.h"
#include "emu/emu_record.h"
#include "emu/emu_replay_internal.h"

struct emu_replay_mark {
    emu_checkpoint *cp;
    uint64_t now;
    uint64_t gen; /* the replayer's machine it belongs to */
    size_t ev_i, dg_i, in_i;
    uint64_t next_digest;
    uint64_t pos;
};

emu_replay_mark *emu_replay_mark_take(const emu_replayer *r)
{
    if (r->m.in_round || r->diverged)
        return NULL;
    emu_replay_mark *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->cp = emu_checkpoint_take(&r->m, &r->s);
    if (!k->cp) {
        free(k);
        return NULL;
    }
    k->now = r->m.now;
    k->gen = r->gen;
    k->ev_i = r->ev_i;
    k->dg_i = r->dg_i;
    k->in_i = r->in_i;
    k->next_digest = r->next_digest;
    k->pos = r->pos;
    return k;
}

bool emu_replay_mark_restore(emu_replayer *r, const emu_replay_mark *k)
{
    if (k->gen != r->gen || r->diverged)
        return false;
    if (!emu_checkpoint_restore(&r->m, &r->s, k->cp))
        return false;
    r->ev_i = k->ev_i;
    r->dg_i = k->dg_i;
    r->in_i = k->in_i;
    r->next_digest = k->next_digest;
    r->pos = k->pos;
    r->next_snap = (k->now / r->snap_interval + 1) * r->snap_interval;
    r->done = false;
    return true;
}

void emu_replay_mark_free(emu_replay_mark *k)
{
    if (!k)
        return;
    emu_checkpoint_free(k->cp);
    free(k);
}

size_t emu_replay_mark_bytes(const emu_replay_mark *k)
{
    return sizeof(*k) + emu_checkpoint_bytes(k->cp);
}

uint64_t emu_replay_mark_cycle(const emu_replay_mark *k)
{
    return k->now;
}

/* ---- the replayer's own snapshots (for seeking by cycle) ------------------ */

void emu_replay_take_snapshot(emu_replayer *r)
{
    if (r->nsnap == EMU_REPLAY_MAX_SNAPSHOTS) {
        /* Full: keep every other one and space them twice as far. */
        size_t j = 0;
        for (size_t k = 0; k < r->nsnap; k++) {
            if (k % 2 == 0)
                r->snap[j++] = r->snap[k];
            else
                emu_replay_mark_free(r->snap[k]);
        }
        r->nsnap = j;
        r->snap_interval *= 2;
    }
    emu_replay_mark *k = emu_replay_mark_take(r);
    if (k)
        r->snap[r->nsnap++] = k;
}

void emu_replay_free_snapshots(emu_replayer *r)
{
    for (size_t k = 0; k < r->nsnap; k++)
        emu_replay_mark_free(r->snap[k]);
    r->nsnap = 0;
}

bool emu_replay_seek(emu_replayer *r, uint64_t cycle, char *err, size_t errlen)
{
    emu_machine *m = &r->m;
    if (r->diverged) {
        snprintf(err, errlen, "the replay diverged: %s", r->diag);
        return false;
    }
    if (cycle < m->now || (m->in_round && cycle <= m->now)) {
        const emu_replay_mark *best = NULL;
        for (size_t k = 0; r->snapshots_ok && k < r->nsnap; k++)
            if (r->snap[k]->now <= cycle)
                best = r->snap[k];
        /* No snapshot (turned off, or no memory to restore one): the
         * machine is built again at cycle 0 and runs forward. */
        if (!best || !emu_replay_mark_restore(r, best)) {
            if (!emu_replay_rebuild(r, err, errlen))
                return false;
        }
    }
    emu_replay_run(r, cycle);
    return !r->diverged;
}
