/*
 * emu_replay_verify.c — checking a replay against its recording
 * (`apicv-emu replay --verify`): every event as it is emitted, every
 * periodic digest part by part, and the end of the run. The first
 * difference is the divergence, named by cycle, CPU and state.
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

void emu_replay_diverge(emu_replayer *r, const char *fmt, ...)
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
void emu_replay_event(void *ctx, const cpu_obs_event *ev)
{
    emu_replayer *r = ctx;
    if (r->diverged)
        return;
    char got[160], want[160];
    if (r->ev_i >= r->t.nevents) {
        describe_event(ev, got, sizeof(got));
        if (r->verify)
            emu_replay_diverge(r, "diverged at cycle %llu on cpu%u: event #%zu: the recording has no more "
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
        emu_replay_diverge(r, "diverged at cycle %llu on cpu%u: event #%zu: recorded cycle %llu cpu%u %s; "
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
void emu_replay_check_digest(emu_replayer *r, const trace_digest *rec, const trace_digest *now)
{
    if (!r->verify || r->diverged)
        return;
    if (rec->cycle != now->cycle) {
        emu_replay_diverge(r, "diverged at cycle %llu: the recording took digest #%zu at cycle %llu, the "
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
        emu_replay_diverge(r, "diverged at cycle %llu%s: digest #%zu: %s differs",
                (unsigned long long)rec->cycle, where, r->dg_i + 1, parts);
    else if (total_differs)
        emu_replay_diverge(r, "diverged at cycle %llu: digest #%zu: the machine's total digest differs while "
                   "every part agrees (state outside the parts: hypervisor or run status)",
                (unsigned long long)rec->cycle, r->dg_i + 1);
}

/* At the end of the run: the final digest, the counts, the exit status. */
void emu_replay_finish(emu_replayer *r)
{
    emu_machine *m = &r->m;
    if (r->diverged || !r->verify)
        return;
    static trace_digest d;
    emu_record_digest(m, &d);
    if (r->dg_i + 1 != r->t.ndigests) {
        emu_replay_diverge(r, "diverged at cycle %llu: the replay ended after %zu periodic digests, the "
                   "recording has %zu",
                (unsigned long long)m->now, r->dg_i, r->t.ndigests ? r->t.ndigests - 1 : 0);
        return;
    }
    emu_replay_check_digest(r, &r->t.digests[r->dg_i], &d);
    if (r->diverged)
        return;
    if (r->ev_i != r->t.nevents)
        emu_replay_diverge(r, "diverged at cycle %llu: the replay ended after %zu events, the recording has %zu",
                (unsigned long long)m->now, r->ev_i, r->t.nevents);
    else if (!r->unfinished && m->exit_status != r->t.end.exit_status)
        emu_replay_diverge(r, "diverged at cycle %llu: exit status %d, the recording's was %d",
                (unsigned long long)m->now, m->exit_status, r->t.end.exit_status);
}
