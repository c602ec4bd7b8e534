/*
 * emu_record.c — the glue between the machine and traces/: recording a run,
 * replaying it, verifying it, and seeking in it.
 *
 * What a trace must hold to re-run a machine: everything the run is a
 * function of. The machine is deterministic (docs/machine.md), so that is
 * the guest image (embedded, with its digest), the options and cost model
 * (header), the scenario text (header), and the inputs that came from
 * outside: scenario `at` stimuli and stimuli posted by the window. Stimuli
 * triggered by `on` lines, by hypercalls or by the MSI port follow from the
 * run itself: they appear in the event log but are not inputs.
 *
 * Digests are taken at the first round boundary at or after each multiple
 * of the digest interval — the same points in recording and replay, since
 * emu_machine_run always stops at the first round boundary at or after its
 * limit. Each digest is split into parts (per CPU and machine-wide) so a
 * divergence names the state that differs; the event log is compared event
 * by event, which names the cycle and CPU of the first difference exactly.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_hv.h"
#include "emu/emu_internal.h"
#include "emu/emu_export.h"
#include "emu/emu_record.h"

/* ---- recording ------------------------------------------------------------- */

struct emu_recorder {
    emu_machine *m;
    emu_scenario *s;
    trace_writer *w;
    uint64_t interval, next;
    uint64_t ninputs;
    bool failed;
    char path[4096];
};

static void rec_event(void *ctx, const cpu_obs_event *ev)
{
    emu_recorder *r = ctx;
    trace_write_event(r->w, ev);
    /* A trace that cannot be written is useless: stop at the failed write
     * instead of running on (a guest may never end). */
    if (!r->failed && trace_writer_failed(r->w)) {
        r->failed = true;
        emu_machine_stop(r->m, EMU_EXIT_USAGE, "--record %s: write failed", r->path);
    }
}

static void rec_input(void *ctx, const trace_input *in)
{
    emu_recorder *r = ctx;
    trace_write_input(r->w, in);
    r->ninputs++;
}

static uint64_t round_up(uint64_t v, uint64_t q)
{
    if (!q)
        return v;
    if (v > UINT64_MAX - q)
        return UINT64_MAX / q * q;
    return (v + q - 1) / q * q;
}

static bool read_file(const char *path, uint8_t **out, size_t *len)
{
    char why[512];
    FILE *f = cpu_open_input(path, why, sizeof(why));
    if (!f)
        return false;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    bool ok = buf && !ferror(f);
    fclose(f);
    if (!ok) {
        free(buf);
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

bool emu_record_begin(emu_machine *m, const char *path, const emu_record_info *info,
                      emu_recorder **out, char *err, size_t errlen)
{
    *out = NULL;
    uint8_t *image = NULL;
    size_t image_len = 0;
    if (!read_file(info->guest_path, &image, &image_len)) {
        snprintf(err, errlen, "%s: cannot read the guest image to record it", info->guest_path);
        return false;
    }
    static trace_header h; /* large: keep it off the stack */
    memset(&h, 0, sizeof(h));
    h.format_version = TRACE_FORMAT_VERSION;
    snprintf(h.emu_version, sizeof(h.emu_version), "%s",
             info->emu_version ? info->emu_version : "unknown");
    snprintf(h.guest_path, sizeof(h.guest_path), "%s", info->guest_path);
    h.guest_digest = trace_fnv1a64(image, image_len);
    if (info->scenario) {
        snprintf(h.scenario_path, sizeof(h.scenario_path), "%s", info->scenario->path);
        h.scenario_text = info->scenario->text;
    }
    h.mode = m->cfg.mode;
    snprintf(h.mode_name, sizeof(h.mode_name), "%s", emu_mode_name(m->cfg.mode));
    h.ncpus = m->cfg.ncpus;
    h.mem_bytes = m->cfg.mem_bytes;
    h.quantum = m->cfg.quantum;
    h.max_cycles = m->cfg.max_cycles;
    h.strict = m->cfg.strict;
    h.ncosts = CPU_COST_NCLASSES;
    for (unsigned k = 0; k < CPU_COST_NCLASSES && k < TRACE_MAX_COSTS; k++)
        h.costs[k] = m->costs.cost[k];
    h.digest_interval = round_up(info->digest_interval ? info->digest_interval
                                                       : EMU_RECORD_DEFAULT_INTERVAL,
                                 m->cfg.quantum);
    emu_recorder *r = calloc(1, sizeof(*r));
    if (!r) {
        free(image);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    r->w = trace_writer_open(path, &h, err, errlen);
    if (!r->w) {
        free(image);
        free(r);
        return false;
    }
    trace_write_guest(r->w, image, image_len);
    free(image);
    r->m = m;
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->s = info->scenario;
    r->interval = h.digest_interval;
    r->next = (m->now / r->interval + 1) * r->interval;
    if (!cpu_obs_subscribe(&m->obs, rec_event, r)) {
        trace_writer_close(r->w, err, errlen);
        free(r);
        snprintf(err, errlen, "%s: the machine's event bus is full", path);
        return false;
    }
    if (r->s) {
        r->s->input_sink = rec_input;
        r->s->input_ctx = r;
    }
    *out = r;
    return true;
}

bool emu_record_run(emu_recorder *r, uint64_t until)
{
    emu_machine *m = r->m;
    for (;;) {
        uint64_t stop = until < r->next ? until : r->next;
        if (emu_machine_run(m, stop))
            return true;
        if (!m->in_round && m->now >= r->next) {
            static trace_digest d;
            emu_record_digest(m, &d);
            trace_write_digest(r->w, &d);
            r->next = (m->now / r->interval + 1) * r->interval;
        }
        if (m->now >= until || m->pause_req || m->in_round || m->interrupted)
            return false;
    }
}

bool emu_record_end(emu_recorder *r, char *err, size_t errlen)
{
    if (!r)
        return false;
    emu_machine *m = r->m;
    static trace_digest d;
    emu_record_digest(m, &d);
    trace_write_digest(r->w, &d);
    cpu_obs_unsubscribe(&m->obs, rec_event, r);
    if (r->s) {
        r->s->input_sink = NULL;
        r->s->input_ctx = NULL;
    }
    trace_end e = {.cycle = m->now, .exit_status = m->finished ? m->exit_status : -1,
                   .nevents = trace_writer_events(r->w), .ninputs = r->ninputs};
    trace_write_end(r->w, &e);
    bool ok = trace_writer_close(r->w, err, errlen);
    free(r);
    return ok;
}

/* ---- replay ------------------------------------------------------------------ */

/*
 * A snapshot is the architectural state only: each CPU's registers (a copy
 * of cpu_t whose host-side members — hooks, phys, obs, cost model, decoded
 * cache, TLB — are taken from the live CPU on restore, then the TLB and the
 * decoded cache are flushed), each local APIC (sinks kept from the live
 * one), the event queues, guest RAM, the scheduler's scalars, the
 * scenario's runtime counters and the verification cursors.
 *
 * Guest RAM is kept sparse: only the pages holding a nonzero byte, with
 * their numbers (a 4 GiB machine whose guest uses 100 KiB costs 100 KiB
 * per snapshot, not 4 GiB); every other page is zeros on restore.
 */
typedef struct emu_snapshot {
    uint64_t now;
    cpu_t cpu[CPU_MAX_CPUS];
    apic_t apic[CPU_MAX_CPUS];
    emu_qevent *q[CPU_MAX_CPUS];
    size_t qn[CPU_MAX_CPUS];
    uint64_t evq_seq;
    bool in_round, finished;
    unsigned turn;
    uint64_t round_end;
    int exit_status;
    char diag[512];
    emu_stats stats;
    uint64_t *ram_pages;  /* numbers of the pages kept, ascending */
    uint8_t *ram;         /* their bytes, CPU_PAGE_SIZE each */
    size_t ram_n, ram_cap;
    bool ram_failed;
    emu_scenario_rt srt;
    size_t ev_i, dg_i, in_i;
    uint64_t next_digest;
} emu_snapshot;

struct emu_replayer {
    trace_file t;
    emu_machine m;
    emu_scenario s;
    bool verify;
    size_t ev_i, dg_i, in_i; /* next event, digest, interactive input */
    uint64_t interval, next_digest;
    bool diverged;
    char diag[2048];
    emu_snapshot *snap[EMU_REPLAY_MAX_SNAPSHOTS];
    size_t nsnap;
    uint64_t snap_interval, next_snap;
    bool snapshots_ok; /* native only: VMX modes seek back by replay_rebuild */
    bool unfinished;   /* the recording stopped before the run ended (end status -1) */
    bool done;         /* an unfinished recording's end was reached and checked */
    char path[4096];   /* the trace, for messages and rebuilding */
};

emu_machine *emu_replay_machine(emu_replayer *r)
{
    return &r->m;
}

emu_scenario *emu_replay_scenario(emu_replayer *r)
{
    return &r->s;
}

const char *emu_replay_divergence(const emu_replayer *r)
{
    return r->diverged ? r->diag : NULL;
}

void emu_replay_progress(const emu_replayer *r, uint64_t *events, uint64_t *digests)
{
    *events = r->ev_i;
    *digests = r->dg_i;
}

static void diverge(emu_replayer *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diverge(emu_replayer *r, const char *fmt, ...)
{
    if (r->diverged)
        return;
    r->diverged = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->diag, sizeof(r->diag), fmt, ap);
    va_end(ap);
    emu_machine_pause(&r->m);
}

static void describe_event(const cpu_obs_event *ev, char *buf, size_t len)
{
    const char *n = emu_any_event_name(ev->kind);
    if (!n)
        n = emu_scenario_event_name(ev->kind);
    char kind[32];
    if (!n) {
        snprintf(kind, sizeof(kind), "kind%#x", ev->kind);
        n = kind;
    }
    snprintf(buf, len, "%s a=%#llx b=%#llx c=%#llx d=%#llx", n, (unsigned long long)ev->a,
             (unsigned long long)ev->b, (unsigned long long)ev->c, (unsigned long long)ev->d);
}

/* The replay's observer: every event must be the recorded one. */
static void replay_event(void *ctx, const cpu_obs_event *ev)
{
    emu_replayer *r = ctx;
    if (r->diverged)
        return;
    char got[160], want[160];
    if (r->ev_i >= r->t.nevents) {
        describe_event(ev, got, sizeof(got));
        if (r->verify)
            diverge(r, "diverged at cycle %llu on cpu%u: event #%zu: the recording has no more "
                       "events, the replay emits %s",
                    (unsigned long long)ev->cycle, ev->cpu, r->ev_i + 1, got);
        r->ev_i++;
        return;
    }
    const cpu_obs_event *rec = &r->t.events[r->ev_i];
    if (r->verify && (rec->cycle != ev->cycle || rec->cpu != ev->cpu || rec->kind != ev->kind ||
                      rec->a != ev->a || rec->b != ev->b || rec->c != ev->c || rec->d != ev->d)) {
        describe_event(rec, want, sizeof(want));
        describe_event(ev, got, sizeof(got));
        diverge(r, "diverged at cycle %llu on cpu%u: event #%zu: recorded cycle %llu cpu%u %s; "
                   "replayed cycle %llu cpu%u %s",
                (unsigned long long)(rec->cycle < ev->cycle ? rec->cycle : ev->cycle),
                rec->cycle <= ev->cycle ? rec->cpu : ev->cpu, r->ev_i + 1,
                (unsigned long long)rec->cycle, rec->cpu, want, (unsigned long long)ev->cycle,
                ev->cpu, got);
    }
    r->ev_i++;
}

/* Compares a replayed digest with the recorded one and names every part
 * that differs. */
static void check_digest(emu_replayer *r, const trace_digest *rec, const trace_digest *now)
{
    if (!r->verify || r->diverged)
        return;
    if (rec->cycle != now->cycle) {
        diverge(r, "diverged at cycle %llu: the recording took digest #%zu at cycle %llu, the "
                   "replay at cycle %llu (the run's length differs)",
                (unsigned long long)(rec->cycle < now->cycle ? rec->cycle : now->cycle),
                r->dg_i + 1, (unsigned long long)rec->cycle, (unsigned long long)now->cycle);
        return;
    }
    char parts[1200] = "";
    size_t len = 0;
    int first_cpu = -1;
    bool total_differs = false;
    for (uint32_t k = 0; k < rec->nparts; k++) {
        const trace_part *p = &rec->part[k];
        const trace_part *q = NULL;
        for (uint32_t j = 0; j < now->nparts; j++)
            if (now->part[j].cpu == p->cpu && now->part[j].kind == p->kind)
                q = &now->part[j];
        if (q && q->value == p->value)
            continue;
        if (p->kind == TRACE_PART_TOTAL) {
            total_differs = true;
            continue;
        }
        if (p->cpu != TRACE_PART_MACHINE && first_cpu < 0)
            first_cpu = p->cpu;
        char name[32];
        if (p->cpu == TRACE_PART_MACHINE)
            snprintf(name, sizeof(name), "%s", trace_part_name(p->kind));
        else
            snprintf(name, sizeof(name), "cpu%u %s", p->cpu, trace_part_name(p->kind));
        len += (size_t)snprintf(parts + len, len < sizeof(parts) ? sizeof(parts) - len : 0,
                                "%s%s (recorded %016llx, replayed %016llx)", len ? ", " : "",
                                name, (unsigned long long)p->value,
                                q ? (unsigned long long)q->value : 0ull);
        if (len >= sizeof(parts))
            break;
    }
    char where[32] = "";
    if (first_cpu >= 0)
        snprintf(where, sizeof(where), " on cpu%d", first_cpu);
    if (parts[0])
        diverge(r, "diverged at cycle %llu%s: digest #%zu: %s differs",
                (unsigned long long)rec->cycle, where, r->dg_i + 1, parts);
    else if (total_differs)
        diverge(r, "diverged at cycle %llu: digest #%zu: the machine's total digest differs while "
                   "every part agrees (state outside the parts: hypervisor or run status)",
                (unsigned long long)rec->cycle, r->dg_i + 1);
}

static void take_snapshot(emu_replayer *r);

/* After each run call: digests and snapshots that are due at this round
 * boundary. */
static void replay_poll(emu_replayer *r)
{
    emu_machine *m = &r->m;
    if (m->in_round || m->finished || r->diverged)
        return;
    if (m->now >= r->next_digest) {
        static trace_digest d;
        emu_record_digest(m, &d);
        /* The last recorded digest is the final one (taken at the end). */
        if (r->dg_i + 1 >= r->t.ndigests) {
            if (r->verify)
                diverge(r, "diverged at cycle %llu: the recording ended at cycle %llu but the "
                           "replay is still running",
                        (unsigned long long)m->now, (unsigned long long)r->t.end.cycle);
        } else {
            check_digest(r, &r->t.digests[r->dg_i], &d);
        }
        r->dg_i++;
        r->next_digest = (m->now / r->interval + 1) * r->interval;
    }
    if (r->snapshots_ok && m->now >= r->next_snap) {
        take_snapshot(r);
        r->next_snap = (m->now / r->snap_interval + 1) * r->snap_interval;
    }
}

/* At the end of the run: the final digest, the counts, the exit status. */
static void replay_finish(emu_replayer *r)
{
    emu_machine *m = &r->m;
    if (r->diverged || !r->verify)
        return;
    static trace_digest d;
    emu_record_digest(m, &d);
    if (r->dg_i + 1 != r->t.ndigests) {
        diverge(r, "diverged at cycle %llu: the replay ended after %zu periodic digests, the "
                   "recording has %zu",
                (unsigned long long)m->now, r->dg_i, r->t.ndigests ? r->t.ndigests - 1 : 0);
        return;
    }
    check_digest(r, &r->t.digests[r->dg_i], &d);
    if (r->diverged)
        return;
    if (r->ev_i != r->t.nevents)
        diverge(r, "diverged at cycle %llu: the replay ended after %zu events, the recording has %zu",
                (unsigned long long)m->now, r->ev_i, r->t.nevents);
    else if (!r->unfinished && m->exit_status != r->t.end.exit_status)
        diverge(r, "diverged at cycle %llu: exit status %d, the recording's was %d",
                (unsigned long long)m->now, m->exit_status, r->t.end.exit_status);
}

bool emu_replay_run(emu_replayer *r, uint64_t until)
{
    emu_machine *m = &r->m;
    if (r->unfinished && until > r->t.end.cycle)
        until = r->t.end.cycle;
    while (!m->finished && !r->diverged && !r->done) {
        /* Inputs posted from outside at this round boundary (the window). */
        while (!m->in_round && r->in_i < r->t.ninputs && r->t.inputs[r->in_i].post > 0 &&
               r->t.inputs[r->in_i].post <= m->now) {
            emu_scenario_post_recorded(&r->s, r->in_i);
            r->in_i++;
        }
        while (r->in_i < r->t.ninputs && r->t.inputs[r->in_i].post == 0)
            r->in_i++;
        if (m->now >= until && !m->in_round)
            break;
        uint64_t stop = until;
        if (r->next_digest < stop)
            stop = r->next_digest;
        if (r->snapshots_ok && r->next_snap < stop)
            stop = r->next_snap;
        if (r->in_i < r->t.ninputs && r->t.inputs[r->in_i].post < stop)
            stop = r->t.inputs[r->in_i].post;
        bool fin = emu_machine_run(m, stop);
        if (fin) {
            replay_finish(r);
            break;
        }
        replay_poll(r);
        if (r->unfinished && !m->in_round && m->now >= r->t.end.cycle) {
            replay_finish(r);
            r->done = true;
        }
        if (m->pause_req || m->interrupted)
            break;
    }
    return m->finished || r->diverged || r->done;
}

/* ---- snapshots ------------------------------------------------------------ */

static void free_snapshot(emu_snapshot *s)
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

static void take_snapshot(emu_replayer *r)
{
    emu_machine *m = &r->m;
    if (r->nsnap == EMU_REPLAY_MAX_SNAPSHOTS) {
        /* Full: keep every other one and space them twice as far. */
        size_t j = 0;
        for (size_t k = 0; k < r->nsnap; k++) {
            if (k % 2 == 0)
                r->snap[j++] = r->snap[k];
            else
                free_snapshot(r->snap[k]);
        }
        r->nsnap = j;
        r->snap_interval *= 2;
    }
    emu_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    emu_ram_each_nonzero_page(&m->phys, snap_page, s);
    if (s->ram_failed) {
        free_snapshot(s);
        return;
    }
    s->now = m->now;
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        s->cpu[k] = m->cpu[k];
        s->apic[k] = m->apic[k];
        s->qn[k] = m->evq[k].n;
        if (s->qn[k]) {
            s->q[k] = malloc(s->qn[k] * sizeof(emu_qevent));
            if (!s->q[k]) {
                free_snapshot(s);
                return;
            }
            memcpy(s->q[k], m->evq[k].heap, s->qn[k] * sizeof(emu_qevent));
        }
    }
    s->evq_seq = m->evq_seq;
    s->in_round = m->in_round;
    s->turn = m->turn;
    s->round_end = m->round_end;
    s->finished = m->finished;
    s->exit_status = m->exit_status;
    memcpy(s->diag, m->diag, sizeof(s->diag));
    s->stats = m->stats;
    s->srt = r->s.rt;
    s->ev_i = r->ev_i;
    s->dg_i = r->dg_i;
    s->in_i = r->in_i;
    s->next_digest = r->next_digest;
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
    m->now = s->now;
    m->evq_seq = s->evq_seq;
    m->in_round = s->in_round;
    m->turn = s->turn;
    m->round_end = s->round_end;
    m->finished = s->finished;
    m->exit_status = s->exit_status;
    memcpy(m->diag, s->diag, sizeof(m->diag));
    m->stats = s->stats;
    m->running = -1;
    m->pause_req = false;
    m->step_cpu = -1;
    r->s.rt = s->srt;
    r->ev_i = s->ev_i;
    r->dg_i = s->dg_i;
    r->in_i = s->in_i;
    r->next_digest = s->next_digest;
    r->next_snap = (s->now / r->snap_interval + 1) * r->snap_interval;
    r->done = false;
    return true;
}

static bool replay_rebuild(emu_replayer *r, char *err, size_t errlen);

bool emu_replay_seek(emu_replayer *r, uint64_t cycle, char *err, size_t errlen)
{
    emu_machine *m = &r->m;
    if (r->diverged) {
        snprintf(err, errlen, "the replay diverged: %s", r->diag);
        return false;
    }
    if (cycle < m->now || (m->in_round && cycle <= m->now)) {
        if (!r->snapshots_ok) {
            if (!replay_rebuild(r, err, errlen))
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

/* ---- opening and closing ------------------------------------------------------- */

static bool header_bad(char *err, size_t errlen, const char *path, const char *field,
                       const char *expected, unsigned long long got)
{
    snprintf(err, errlen, "%s: header field '%s': expected %s, got %llu (a recording never holds "
                          "this)",
             path, field, expected, got);
    return false;
}

/* Every field of the header against what `run --record` can write: a
 * trace with a cost of 0 cycles (the clock would stand still, the replay
 * would never end), no CPUs or an impossible RAM size is refused by name
 * before anything is built. */
static bool replay_check_header(const trace_header *h, const char *path, char *err,
                                size_t errlen)
{
    char want[128];
    if (h->mode >= EMU_MODE_COUNT)
        return header_bad(err, errlen, path, "mode", "0..4 (native..posted)", h->mode);
    if (strcmp(h->mode_name, emu_mode_name((emu_mode)h->mode)) != 0) {
        snprintf(err, errlen, "%s: header field 'mode name': expected '%s' for mode %u, got '%s'",
                 path, emu_mode_name((emu_mode)h->mode), h->mode, h->mode_name);
        return false;
    }
    if (h->ncpus == 0 || h->ncpus > CPU_MAX_CPUS) {
        snprintf(want, sizeof(want), "1..%d CPUs", CPU_MAX_CPUS);
        return header_bad(err, errlen, path, "cpus", want, h->ncpus);
    }
    if (h->mem_bytes < (2ull << 20) || h->mem_bytes > (4096ull << 20) ||
        (h->mem_bytes & ((1ull << 20) - 1)))
        return header_bad(err, errlen, path, "RAM size",
                          "2..4096 MiB in bytes, a whole number of MiB", h->mem_bytes);
    if (h->quantum < 100 || h->quantum > 100000000)
        return header_bad(err, errlen, path, "quantum", "100..100000000 cycles", h->quantum);
    if (h->strict > 1)
        return header_bad(err, errlen, path, "strict", "0 or 1", h->strict);
    /* Version 1 traces were recorded before the hypervisor's and the
     * interrupt hardware's classes existed: they hold the first
     * CPU_COST_FIRST_OPTIONAL classes, and the run they record charged 0
     * for the others, which is how replay_build fills them in. */
    unsigned want_costs = h->format_version == 1 ? CPU_COST_FIRST_OPTIONAL : CPU_COST_NCLASSES;
    if (h->ncosts != want_costs) {
        snprintf(want, sizeof(want), "%u cost classes (format version %u)", want_costs,
                 h->format_version);
        return header_bad(err, errlen, path, "number of cost classes", want, h->ncosts);
    }
    for (unsigned k = 0; k < h->ncosts; k++) {
        if (cpu_cost_valid((cpu_cost_class)k, h->costs[k]))
            continue;
        char field[64];
        snprintf(field, sizeof(field), "cost of '%s'", cpu_cost_name((cpu_cost_class)k));
        snprintf(want, sizeof(want), "%u..%u cycles", cpu_cost_min((cpu_cost_class)k), CPU_COST_MAX);
        return header_bad(err, errlen, path, field, want, h->costs[k]);
    }
    if (h->digest_interval < EMU_RECORD_MIN_INTERVAL ||
        h->digest_interval > EMU_RECORD_MAX_INTERVAL || h->digest_interval % h->quantum) {
        snprintf(want, sizeof(want), "%d..%llu cycles, a multiple of the quantum %llu",
                 EMU_RECORD_MIN_INTERVAL, (unsigned long long)EMU_RECORD_MAX_INTERVAL,
                 (unsigned long long)h->quantum);
        return header_bad(err, errlen, path, "digest interval", want, h->digest_interval);
    }
    return true;
}

/* Builds the machine of loaded trace r->t at cycle 0: configuration from
 * the header, the embedded guest image, the scenario and the recorded
 * inputs posted. On failure nothing is left but the trace. */
static bool replay_build(emu_replayer *r, char *err, size_t errlen)
{
    const char *path = r->path;
    emu_scenario_init_empty(&r->s);
    const trace_header *h = &r->t.header;
    emu_config cfg;
    emu_config_default(&cfg);
    cpu_cost_model costs;
    /* The limits of `run`'s options (emu_cli.c): a trace asks for nothing
     * a recording could not have made. */
    if (!replay_check_header(h, path, err, errlen))
        goto bad;
    cfg.ncpus = h->ncpus;
    cfg.mem_bytes = h->mem_bytes;
    cfg.mode = (emu_mode)h->mode;
    cfg.quantum = h->quantum;
    cfg.max_cycles = h->max_cycles;
    cfg.strict = h->strict;
    for (unsigned k = 0; k < CPU_COST_NCLASSES; k++)
        costs.cost[k] = k < h->ncosts ? h->costs[k] : 0;
    cfg.costs = &costs;
    if (h->scenario_text &&
        !emu_scenario_parse(h->scenario_path[0] ? h->scenario_path : path, h->scenario_text,
                            &r->s, err, errlen))
        goto bad;
    /* The guest: the embedded image, checked against the header. */
    if (!r->t.guest) {
        snprintf(err, errlen, "%s: expected the guest image inside the trace, got none", path);
        goto bad;
    }
    if (trace_fnv1a64(r->t.guest, r->t.guest_len) != h->guest_digest) {
        snprintf(err, errlen, "%s: the embedded guest image's digest %016llx is not the header's "
                              "%016llx",
                 path, (unsigned long long)trace_fnv1a64(r->t.guest, r->t.guest_len),
                 (unsigned long long)h->guest_digest);
        goto bad;
    }
    char tmp[] = "/tmp/apicv-replay-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file for the guest image");
        goto bad;
    }
    bool wrote = write(fd, r->t.guest, r->t.guest_len) == (ssize_t)r->t.guest_len;
    close(fd);
    char why[1024] = "";
    bool init = wrote && emu_machine_init(&r->m, &cfg, tmp, why, sizeof(why));
    unlink(tmp);
    if (!init) {
        if (!wrote)
            snprintf(err, errlen, "cannot write the guest image to %s", tmp);
        else /* the message names the temporary file: name the trace */
            snprintf(err, errlen, "%s: the embedded guest image: %s", path,
                     strncmp(why, tmp, strlen(tmp)) == 0 ? why + strlen(tmp) + 2 : why);
        goto bad;
    }
    r->interval = h->digest_interval;
    r->next_digest = (r->m.now / r->interval + 1) * r->interval;
    r->snap_interval = r->interval * EMU_REPLAY_SNAPSHOT_EVERY;
    r->next_snap = r->snap_interval;
    r->snapshots_ok = r->m.hv_ops == NULL;
    r->unfinished = r->t.end.exit_status < 0;
    if (!cpu_obs_subscribe(&r->m.obs, replay_event, r)) {
        snprintf(err, errlen, "the machine's event bus is full");
        goto bad_machine;
    }
    if (r->t.ninputs) {
        r->s.inputs = malloc(r->t.ninputs * sizeof(trace_input));
        if (!r->s.inputs) {
            snprintf(err, errlen, "out of memory");
            goto bad_machine;
        }
        memcpy(r->s.inputs, r->t.inputs, r->t.ninputs * sizeof(trace_input));
        r->s.ninputs = r->t.ninputs;
    } else {
        /* Marks "the recording's inputs, none" so the scenario posts none of its own. */
        r->s.inputs = malloc(sizeof(trace_input));
        if (!r->s.inputs) {
            snprintf(err, errlen, "out of memory");
            goto bad_machine;
        }
        r->s.ninputs = 0;
    }
    for (size_t k = 0; k < r->t.ninputs; k++) {
        const trace_input *in = &r->t.inputs[k];
        /* Deschedules need the hypervisor (VMX modes). */
        bool known = emu_stim_name(in->kind) && (in->kind != EMU_STIM_DESCHEDULE || r->m.hv);
        if (in->cpu >= r->m.cfg.ncpus || !known) {
            snprintf(err, errlen, "%s: input #%zu: expected an msi, host-irq, nmi or (in a VMX "
                                  "mode) deschedule for one of the %u CPUs, got kind %u for cpu%u",
                     path, k + 1, r->m.cfg.ncpus, in->kind, in->cpu);
            goto bad_machine;
        }
    }
    if (!emu_scenario_apply(&r->s, &r->m, err, errlen))
        goto bad_machine;
    if (r->snapshots_ok)
        take_snapshot(r);
    return true;
bad_machine:
    emu_machine_free(&r->m);
bad:
    emu_scenario_free(&r->s);
    return false;
}

int emu_replay_open(const char *path, bool verify, emu_replayer **out, char *err, size_t errlen)
{
    *out = NULL;
    emu_replayer *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return EMU_EXIT_USAGE;
    }
    r->verify = verify;
    snprintf(r->path, sizeof(r->path), "%s", path);
    if (!trace_load(path, &r->t, err, errlen)) {
        free(r);
        return EMU_EXIT_USAGE;
    }
    if (!replay_build(r, err, errlen)) {
        trace_file_free(&r->t);
        free(r);
        return EMU_EXIT_USAGE;
    }
    *out = r;
    return 0;
}

/* Seeking back where there is no snapshot (VMX modes: the hypervisor's
 * state is not snapshotted): the machine is built again at cycle 0 from
 * the trace and runs forward — the run is deterministic, so it passes
 * through exactly the recorded states. Observers others subscribed (the
 * window's) and the console are carried over to the new machine. */
static bool replay_rebuild(emu_replayer *r, char *err, size_t errlen)
{
    cpu_obs_bus listeners = r->m.obs;
    emu_console_fn console = r->m.console;
    void *console_ctx = r->m.console_ctx;
    cpu_obs_unsubscribe(&r->m.obs, replay_event, r);
    emu_machine_free(&r->m);
    emu_scenario_free(&r->s);
    for (size_t k = 0; k < r->nsnap; k++)
        free_snapshot(r->snap[k]);
    r->nsnap = 0;
    r->ev_i = r->dg_i = r->in_i = 0;
    r->diverged = r->done = false;
    r->diag[0] = 0;
    memset(&r->m, 0, sizeof(r->m));
    if (!replay_build(r, err, errlen)) {
        r->diverged = true; /* nothing runs any more */
        snprintf(r->diag, sizeof(r->diag), "rebuilding the machine failed: %s", err);
        return false;
    }
    r->m.console = console;
    r->m.console_ctx = console_ctx;
    /* The replay's and the scenario's own are back already: no-ops. */
    cpu_obs_subscribe_all(&r->m.obs, &listeners);
    return true;
}

void emu_replay_close(emu_replayer *r)
{
    if (!r)
        return;
    cpu_obs_unsubscribe(&r->m.obs, replay_event, r);
    emu_machine_free(&r->m);
    emu_scenario_free(&r->s);
    for (size_t k = 0; k < r->nsnap; k++)
        free_snapshot(r->snap[k]);
    trace_file_free(&r->t);
    free(r);
}

/* ---- the command ------------------------------------------------------------- */

static const char *any_event_name(unsigned kind)
{
    const char *n = emu_any_event_name(kind);
    return n ? n : emu_scenario_event_name(kind);
}

const trace_names emu_trace_names = {any_event_name, emu_stim_name};

static void replay_console(void *ctx, unsigned cpu, uint8_t byte)
{
    (void)ctx;
    (void)cpu;
    putchar(byte);
}

int emu_replay_main(int argc, char **argv)
{
    return emu_replay_cli(argc, argv, NULL);
}

int emu_replay_cli(int argc, char **argv, const emu_frontend *fe)
{
    bool verify = false, headless = false;
    const char *path = NULL, *vcd = NULL, *perfetto = NULL;
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--verify") == 0)
            verify = true;
        else if ((strcmp(argv[k], "--vcd") == 0 || strcmp(argv[k], "--perfetto") == 0) &&
                 k + 1 < argc) {
            const char **dst = argv[k][2] == 'v' ? &vcd : &perfetto;
            *dst = argv[++k];
        }
        else if (strcmp(argv[k], "--headless") == 0)
            headless = true;
        else if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            printf("usage: apicv-emu replay [--verify] [--headless] [--vcd FILE] [--perfetto FILE] TRACE\n"
                   "       apicv-emu replay --screenshot FILE.png [--at-event N | --at CYCLE] TRACE\n\n"
                   "Re-runs a trace recorded with `apicv-emu run --record TRACE`: the guest image,\n"
                   "options, cost model and scenario from its header, its recorded inputs.\n"
                   "--verify checks every event and every periodic digest against the recording\n"
                   "and stops at the first divergence, naming the cycle, the CPU and the state\n"
                   "that differs. Exit status: the replayed run's, 2 for a bad trace, 5 when the\n"
                   "replay diverged. Without --verify the replay opens in the window when a\n"
                   "display exists (step back with b); --headless never opens it.\n"
                   "--screenshot renders the window off screen at the N-th event (the state\n"
                   "right after it) or at a cycle, as run --screenshot does.\n"
                   "--vcd and --perfetto export the replayed run as run's options do\n"
                   "(docs/export.md); they replay headless.\n");
            return 0;
        } else if (strcmp(argv[k], "--vcd") == 0 || strcmp(argv[k], "--perfetto") == 0) {
            fprintf(stderr, "apicv-emu replay: %s: expected a FILE after it\n", argv[k]);
            return EMU_EXIT_USAGE;
        } else if (argv[k][0] == '-') {
            fprintf(stderr, "apicv-emu replay: unknown option '%s' (see apicv-emu replay --help)\n", argv[k]);
            return EMU_EXIT_USAGE;
        } else if (path) {
            fprintf(stderr, "apicv-emu replay: expected one TRACE, got '%s' and '%s'\n", path, argv[k]);
            return EMU_EXIT_USAGE;
        } else {
            path = argv[k];
        }
    }
    if (!path) {
        fprintf(stderr, "apicv-emu replay: expected a TRACE (see apicv-emu replay --help)\n");
        return EMU_EXIT_USAGE;
    }
    emu_replayer *r;
    char err[2048];
    int st = emu_replay_open(path, verify, &r, err, sizeof(err));
    if (st) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        return st;
    }
    if (vcd || perfetto)
        headless = true;
    if (!verify && !headless && fe && fe->replay_window) {
        if (fe->display_available && fe->display_available()) {
            int status = fe->replay_window(r, path);
            emu_replay_close(r);
            return status;
        }
        fprintf(stderr, "apicv-emu: no display available; replaying headless\n");
    }
    /* Nobody seeks a headless replay: no snapshots (each holds guest RAM). */
    r->snapshots_ok = false;
    r->m.console = replay_console;
    /* Ctrl-C (SIGINT) or SIGTERM stops the replay between slices as it
     * stops `run`: a summary of each CPU, status 128 + the signal. The
     * slices are short (2 * 10^6 cycles: a replay verifying a VMX-mode
     * trace under a sanitizer runs a few million cycles a second), so the
     * stop comes within a fraction of a second. */
    emu_recent recent;
    memset(&recent, 0, sizeof(recent));
    cpu_obs_subscribe(&r->m.obs, emu_recent_event, &recent);
    emu_exports exports;
    if (!emu_exports_open(&exports, &r->m, vcd, perfetto, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        cpu_obs_unsubscribe(&r->m.obs, emu_recent_event, &recent);
        emu_replay_close(r);
        return EMU_EXIT_USAGE;
    }
    emu_catch_stop_signals();
    while (!emu_replay_run(r, r->m.now + 2000000))
        if (emu_stop_requested(&r->m))
            break;
    cpu_obs_unsubscribe(&r->m.obs, emu_recent_event, &recent);
    bool export_failed = !emu_exports_close(&exports, err, sizeof(err));
    if (export_failed)
        fprintf(stderr, "apicv-emu: %s\n", err);
    fflush(stdout);
    emu_diag_summary(&r->m, stderr);
    int status;
    if (r->m.interrupted) {
        fprintf(stderr, "\napicv-emu replay: %s: %s at cycle %llu\n", path, r->m.diag,
                (unsigned long long)r->m.now);
        emu_print_summary(stderr, &r->m, &recent);
        if (verify)
            fprintf(stderr, "apicv-emu replay: %s: verified %zu events and %zu digests up to "
                            "cycle %llu before the interruption: no divergence\n",
                    path, r->ev_i, r->dg_i, (unsigned long long)r->m.now);
        status = 128 + emu_stop_signal();
    } else if (r->diverged) {
        fprintf(stderr, "apicv-emu replay: %s: %s\n", path, r->diag);
        status = EMU_EXIT_DIVERGED;
    } else {
        if (r->unfinished)
            fprintf(stderr, "apicv-emu replay: %s: the recording stops at cycle %llu, before the "
                            "run finished\n",
                    path, (unsigned long long)r->t.end.cycle);
        /* The check's own events come after the recording ended: the
         * replay's observer must not compare them. */
        cpu_obs_unsubscribe(&r->m.obs, replay_event, r);
        status = r->unfinished ? 0 : r->s.m ? emu_scenario_check(&r->s, stderr) : r->m.exit_status;
        if (verify)
            fprintf(stderr, "apicv-emu replay: %s: verified %zu events and %zu digests up to "
                            "cycle %llu: no divergence\n",
                    path, r->ev_i, r->dg_i + 1, (unsigned long long)r->m.now);
    }
    emu_replay_close(r);
    return export_failed ? EMU_EXIT_USAGE : status;
}
