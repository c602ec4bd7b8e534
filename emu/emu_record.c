/*
 * emu_record.c — the glue between the machine and traces/: recording a run.
 * Replaying it is emu_replay.c (the run, opening and closing),
 * emu_replay_verify.c (checking it against the recording),
 * emu_replay_snap.c (snapshots and seeking) and emu_replay_cli.c (the
 * `replay` command).
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_internal.h"
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

/* A Multiboot kernel's run depends on its --append text and --initrd
 * modules too (their bytes and the names the command line gave them, which
 * the kernel reads in its information structure): the boot record. */
static bool record_boot(emu_recorder *r, const emu_machine *m, char *err, size_t errlen)
{
    static trace_boot b; /* large: keep it off the stack */
    memset(&b, 0, sizeof(b));
    b.has_append = m->cfg.append != NULL;
    if (m->cfg.append && strlen(m->cfg.append) >= sizeof(b.append)) {
        snprintf(err, errlen, "--append: the text is over %zu bytes, more than a trace holds",
                 sizeof(b.append) - 1);
        return false;
    }
    snprintf(b.append, sizeof(b.append), "%s", m->cfg.append ? m->cfg.append : "");
    bool ok = m->cfg.ninitrd <= TRACE_MAX_MODULES;
    for (unsigned k = 0; ok && k < m->cfg.ninitrd; k++) {
        const char *name = m->cfg.initrd[k];
        if (strlen(name) >= sizeof(b.module[k].name) ||
            !read_file(name, &b.module[k].data, &b.module[k].len)) {
            snprintf(err, errlen, "--initrd %s: cannot read the module to record it", name);
            ok = false;
            break;
        }
        snprintf(b.module[k].name, sizeof(b.module[k].name), "%s", name);
        b.nmodules = k + 1;
    }
    if (ok)
        trace_write_boot(r->w, &b);
    for (unsigned k = 0; k < b.nmodules; k++)
        free(b.module[k].data);
    return ok;
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
    h.cpu_off = m->cfg.cpu_off; /* --cpu: CPUID and the MSRs follow it */
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
    if (m->multiboot && !record_boot(r, m, err, errlen)) {
        char ignored[256];
        trace_writer_close(r->w, ignored, sizeof(ignored));
        free(r);
        unlink(path);
        return false;
    }
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
