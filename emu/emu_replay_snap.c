/*
 * emu_replay_snap.c — snapshots of a replay and seeking in it (the
 * window's step back): forward by running, backward by restoring the
 * latest snapshot at or before the target and running from there.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_hv.h"
#include "emu/emu_internal.h"
#include "emu/emu_export.h"
#include "emu/emu_record.h"
#include "emu/emu_replay_internal.h"

/* ---- snapshots ------------------------------------------------------------ */

void emu_replay_free_snapshot(emu_snapshot *s)
{
    if (!s)
        return;
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++)
        free(s->q[k]);
    free(s->ram_pages);
    free(s->ram);
    free(s);
}

static void snap_page(void *ctx, uint64_t page, const uint8_t *data)
{
    emu_snapshot *s = ctx;
    if (s->ram_failed)
        return;
    if (s->ram_n == s->ram_cap) {
        size_t cap = s->ram_cap ? s->ram_cap * 2 : 64;
        uint64_t *pages = realloc(s->ram_pages, cap * sizeof(*pages));
        if (pages)
            s->ram_pages = pages;
        uint8_t *bytes = pages ? realloc(s->ram, cap * CPU_PAGE_SIZE) : NULL;
        if (!bytes) {
            s->ram_failed = true;
            return;
        }
        s->ram = bytes;
        s->ram_cap = cap;
    }
    s->ram_pages[s->ram_n] = page;
    memcpy(s->ram + s->ram_n * CPU_PAGE_SIZE, data, CPU_PAGE_SIZE);
    s->ram_n++;
}

/* Live RAM back to snapshot s: its pages copied, every other page that may
 * hold data (and does) cleared, so untouched RAM stays untouched. */
typedef struct restore_ctx {
    const emu_snapshot *s;
    size_t next; /* s->ram_pages index at or after the page being visited */
    uint8_t *ram;
} restore_ctx;

static void clear_page_not_kept(void *ctx, uint64_t page, const uint8_t *data)
{
    restore_ctx *rc = ctx;
    (void)data;
    while (rc->next < rc->s->ram_n && rc->s->ram_pages[rc->next] < page)
        rc->next++;
    if (rc->next < rc->s->ram_n && rc->s->ram_pages[rc->next] == page)
        return; /* copied below */
    memset(rc->ram + page * CPU_PAGE_SIZE, 0, CPU_PAGE_SIZE);
}

static void restore_ram(emu_machine *m, const emu_snapshot *s)
{
    restore_ctx rc = {s, 0, m->phys.ram};
    emu_ram_each_nonzero_page(&m->phys, clear_page_not_kept, &rc);
    for (size_t k = 0; k < s->ram_n; k++)
        memcpy(m->phys.ram + s->ram_pages[k] * CPU_PAGE_SIZE, s->ram + k * CPU_PAGE_SIZE,
               CPU_PAGE_SIZE);
}

/* What a snapshot keeps of the machine's run state and of the replayer's
 * positions in the trace, by field name (the same in both structures):
 * one list serves taking and restoring, so the two cannot drift apart. */
#define SNAP_MACHINE_FIELDS(X) \
    X(now) X(evq_seq) X(in_round) X(turn) X(round_end) X(finished) X(exit_status) X(stats)
#define SNAP_REPLAYER_FIELDS(X) X(ev_i) X(dg_i) X(in_i) X(next_digest)
#define SNAP_TAKE_M(f) s->f = m->f;
#define SNAP_TAKE_R(f) s->f = r->f;
#define SNAP_RESTORE_M(f) m->f = s->f;
#define SNAP_RESTORE_R(f) r->f = s->f;

void emu_replay_take_snapshot(emu_replayer *r)
{
    emu_machine *m = &r->m;
    if (r->nsnap == EMU_REPLAY_MAX_SNAPSHOTS) {
        /* Full: keep every other one and space them twice as far. */
        size_t j = 0;
        for (size_t k = 0; k < r->nsnap; k++) {
            if (k % 2 == 0)
                r->snap[j++] = r->snap[k];
            else
                emu_replay_free_snapshot(r->snap[k]);
        }
        r->nsnap = j;
        r->snap_interval *= 2;
    }
    emu_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    emu_ram_each_nonzero_page(&m->phys, snap_page, s);
    if (s->ram_failed) {
        emu_replay_free_snapshot(s);
        return;
    }
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        s->cpu[k] = m->cpu[k];
        s->apic[k] = m->apic[k];
        s->qn[k] = m->evq[k].n;
        if (s->qn[k]) {
            s->q[k] = malloc(s->qn[k] * sizeof(emu_qevent));
            if (!s->q[k]) {
                emu_replay_free_snapshot(s);
                return;
            }
            memcpy(s->q[k], m->evq[k].heap, s->qn[k] * sizeof(emu_qevent));
        }
    }
    SNAP_MACHINE_FIELDS(SNAP_TAKE_M)
    memcpy(s->diag, m->diag, sizeof(s->diag));
    s->srt = r->s.rt;
    SNAP_REPLAYER_FIELDS(SNAP_TAKE_R)
    r->snap[r->nsnap++] = s;
}

static bool restore_snapshot(emu_replayer *r, const emu_snapshot *s)
{
    emu_machine *m = &r->m;
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        cpu_t *live = &m->cpu[k];
        cpu_t tmp = s->cpu[k];
        tmp.hooks = live->hooks;
        tmp.phys = live->phys;
        tmp.obs = live->obs;
        tmp.costs = live->costs;
        tmp.dcache = live->dcache;
        tmp.cur_block = NULL;
        tmp.tlb_epoch = live->tlb_epoch;
        tmp.epoch = live->epoch; /* the live decoded blocks' links carry its epochs */
        tmp.in_run = false;
        *live = tmp;
        cpu_tlb_flush(live);
        cpu_dcache_flush(live);
        apic_t *la = &m->apic[k];
        apic_t a = s->apic[k];
        a.cpu = la->cpu;
        a.obs = la->obs;
        a.ipi_send = la->ipi_send;
        a.ipi_ctx = la->ipi_ctx;
        a.level_eoi = la->level_eoi;
        a.eoi_ctx = la->eoi_ctx;
        *la = a;
        emu_evq *q = &m->evq[k];
        if (s->qn[k] > q->cap) {
            emu_qevent *h = realloc(q->heap, s->qn[k] * sizeof(*h));
            if (!h)
                return false;
            q->heap = h;
            q->cap = s->qn[k];
        }
        if (s->qn[k])
            memcpy(q->heap, s->q[k], s->qn[k] * sizeof(emu_qevent));
        q->n = s->qn[k];
    }
    restore_ram(m, s);
    SNAP_MACHINE_FIELDS(SNAP_RESTORE_M)
    memcpy(m->diag, s->diag, sizeof(m->diag));
    m->running = -1;
    m->pause_req = false;
    m->step_cpu = -1;
    r->s.rt = s->srt;
    SNAP_REPLAYER_FIELDS(SNAP_RESTORE_R)
    r->next_snap = (s->now / r->snap_interval + 1) * r->snap_interval;
    r->done = false;
    return true;
}

bool emu_replay_seek(emu_replayer *r, uint64_t cycle, char *err, size_t errlen)
{
    emu_machine *m = &r->m;
    if (r->diverged) {
        snprintf(err, errlen, "the replay diverged: %s", r->diag);
        return false;
    }
    if (cycle < m->now || (m->in_round && cycle <= m->now)) {
        if (!r->snapshots_ok) {
            if (!emu_replay_rebuild(r, err, errlen))
                return false;
            emu_replay_run(r, cycle);
            return !r->diverged;
        }
        const emu_snapshot *best = NULL;
        for (size_t k = 0; k < r->nsnap; k++)
            if (r->snap[k]->now <= cycle && !r->snap[k]->in_round)
                best = r->snap[k];
        if (!best || !restore_snapshot(r, best)) {
            snprintf(err, errlen, "no snapshot at or before cycle %llu", (unsigned long long)cycle);
            return false;
        }
    }
    emu_replay_run(r, cycle);
    return !r->diverged;
}
