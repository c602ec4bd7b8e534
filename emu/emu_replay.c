/*
 * emu_replay.c — replaying a recorded trace: building its machine from
 * the header and the embedded guest, running it with the recorded inputs
 * posted where they were, and the digests and snapshots due on the way.
 * See emu_record.c for what a trace holds and why.
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
                emu_replay_diverge(r, "diverged at cycle %llu: the recording ended at cycle %llu but the "
                           "replay is still running",
                        (unsigned long long)m->now, (unsigned long long)r->t.end.cycle);
        } else {
            emu_replay_check_digest(r, &r->t.digests[r->dg_i], &d);
        }
        r->dg_i++;
        r->next_digest = (m->now / r->interval + 1) * r->interval;
    }
    if (r->snapshots_ok && m->now >= r->next_snap) {
        emu_replay_take_snapshot(r);
        r->next_snap = (m->now / r->snap_interval + 1) * r->snap_interval;
    }
}

/* Inputs posted from outside (the window) that are due at this round
 * boundary. */
static void post_due_inputs(emu_replayer *r)
{
    emu_machine *m = &r->m;
    while (!m->in_round && r->in_i < r->t.ninputs && r->t.inputs[r->in_i].post > 0 &&
           r->t.inputs[r->in_i].post <= m->now) {
        emu_scenario_post_recorded(&r->s, r->in_i);
        r->in_i++;
    }
    while (r->in_i < r->t.ninputs && r->t.inputs[r->in_i].post == 0)
        r->in_i++;
}

bool emu_replay_run(emu_replayer *r, uint64_t until)
{
    emu_machine *m = &r->m;
    if (r->unfinished && until > r->t.end.cycle)
        until = r->t.end.cycle;
    while (!m->finished && !r->diverged && !r->done) {
        post_due_inputs(r);
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
            emu_replay_finish(r);
            break;
        }
        replay_poll(r);
        if (r->unfinished && !m->in_round && m->now >= r->t.end.cycle) {
            emu_replay_finish(r);
            r->done = true;
        }
        if (m->pause_req || m->interrupted)
            break;
    }
    return m->finished || r->diverged || r->done;
}

/* ---- stepping (replay --gdb) ---------------------------------------------- */

/*
 * The stepping schedule: each call runs the machine as emu_machine_step_any
 * does (any CPU, one instruction), bounded by the round boundary where the
 * next recorded input is due, which is posted there as emu_replay_run
 * posts it. No call depends on anything but the state the previous calls
 * left, so the state after N calls from cycle 0 is a function of the trace
 * and N: a position that reverse execution can return to exactly.
 */
int emu_replay_step(emu_replayer *r)
{
    emu_machine *m = &r->m;
    if (emu_replay_ended(r))
        return -1;
    r->pos++;
    post_due_inputs(r);
    uint64_t stop = m->now + 100 * m->cfg.quantum;
    if (r->in_i < r->t.ninputs && r->t.inputs[r->in_i].post < stop)
        stop = r->t.inputs[r->in_i].post;
    if (r->unfinished && r->t.end.cycle < stop)
        stop = r->t.end.cycle;
    bool fin;
    int stepped = emu_machine_step_any_until(m, stop, &fin);
    if (fin)
        emu_replay_finish(r);
    else if (r->unfinished && !m->in_round && m->now >= r->t.end.cycle)
        r->done = true;
    return stepped;
}

uint64_t emu_replay_position(const emu_replayer *r)
{
    return r->pos;
}

bool emu_replay_ended(const emu_replayer *r)
{
    return r->m.finished || r->diverged || r->done || r->m.interrupted;
}

bool emu_replay_restart(emu_replayer *r, char *err, size_t errlen)
{
    return emu_replay_rebuild(r, err, errlen);
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
     * CPU_COST_FIRST_OPTIONAL classes; versions 2 to 4 before the
     * processor's per-exit-reason and entry extras: the first
     * CPU_COST_FIRST_V5. The run they record charged 0 for the others,
     * which is how replay_build fills them in. */
    unsigned want_costs = h->format_version == 1  ? CPU_COST_FIRST_OPTIONAL
                          : h->format_version < 5 ? CPU_COST_FIRST_V5
                                                  : CPU_COST_NCLASSES;
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
    if (h->cpu_off & ~(uint32_t)EMU_CPU_F_ALL) {
        snprintf(want, sizeof(want), "a mask of the --cpu features taken away (0..%#x)",
                 EMU_CPU_F_ALL);
        return header_bad(err, errlen, path, "CPU features taken away", want, h->cpu_off);
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
    /* The limits of `run`'s options (emu_cli_run.c): a trace asks for nothing
     * a recording could not have made. */
    if (!replay_check_header(h, path, err, errlen))
        goto bad;
    cfg.ncpus = h->ncpus;
    cfg.mem_bytes = h->mem_bytes;
    cfg.mode = (emu_mode)h->mode;
    cfg.quantum = h->quantum;
    cfg.max_cycles = h->max_cycles;
    cfg.strict = h->strict;
    cfg.cpu_off = h->cpu_off;
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
    /* A Multiboot kernel sees the recorded names: its path in the command
     * line, and the modules of the boot record under theirs. */
    cfg.kernel_name = h->guest_path;
    const trace_boot *boot = r->t.boot;
    char mod_tmp[TRACE_MAX_MODULES][32];
    const char *mod_path[TRACE_MAX_MODULES], *mod_name[TRACE_MAX_MODULES];
    unsigned nmod = 0;
    for (; wrote && boot && nmod < boot->nmodules; nmod++) {
        snprintf(mod_tmp[nmod], sizeof(mod_tmp[nmod]), "/tmp/apicv-replay-XXXXXX");
        int mfd = mkstemp(mod_tmp[nmod]);
        if (mfd < 0) {
            wrote = false;
            break;
        }
        const trace_module *mod = &boot->module[nmod];
        wrote = !mod->len || write(mfd, mod->data, mod->len) == (ssize_t)mod->len;
        close(mfd);
        mod_path[nmod] = mod_tmp[nmod];
        mod_name[nmod] = mod->name;
    }
    if (boot) {
        cfg.append = boot->has_append ? boot->append : NULL;
        cfg.initrd = mod_path;
        cfg.initrd_names = mod_name;
        cfg.ninitrd = nmod;
    }
    char why[1024] = "";
    bool init = wrote && emu_machine_init(&r->m, &cfg, tmp, why, sizeof(why));
    unlink(tmp);
    for (unsigned k = 0; k < nmod; k++)
        unlink(mod_tmp[k]);
    if (!init) {
        if (!wrote)
            snprintf(err, errlen, "cannot write the guest image or a module to %s", tmp);
        else /* the message names the temporary file: name the trace */
            snprintf(err, errlen, "%s: the embedded guest image: %s", path,
                     strncmp(why, tmp, strlen(tmp)) == 0 ? why + strlen(tmp) + 2 : why);
        goto bad;
    }
    r->interval = h->digest_interval;
    r->next_digest = (r->m.now / r->interval + 1) * r->interval;
    r->snap_interval = r->interval * EMU_REPLAY_SNAPSHOT_EVERY;
    r->next_snap = r->snap_interval;
    r->snapshots_ok = true;
    r->unfinished = r->t.end.exit_status < 0;
    if (!cpu_obs_subscribe(&r->m.obs, emu_replay_event, r)) {
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
        emu_replay_take_snapshot(r);
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

/* Seeking back where there is no snapshot (snapshots turned off, or no
 * memory to restore one): the machine is built again at cycle 0 from
 * the trace and runs forward — the run is deterministic, so it passes
 * through exactly the recorded states. Observers others subscribed (the
 * window's) and the console are carried over to the new machine. */
bool emu_replay_rebuild(emu_replayer *r, char *err, size_t errlen)
{
    cpu_obs_bus listeners = r->m.obs;
    emu_console_fn console = r->m.console;
    void *console_ctx = r->m.console_ctx;
    cpu_obs_unsubscribe(&r->m.obs, emu_replay_event, r);
    emu_replay_free_snapshots(r);
    emu_machine_free(&r->m);
    emu_scenario_free(&r->s);
    r->gen++;
    r->ev_i = r->dg_i = r->in_i = 0;
    r->pos = 0;
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
    cpu_obs_unsubscribe(&r->m.obs, emu_replay_event, r);
    emu_replay_free_snapshots(r);
    emu_machine_free(&r->m);
    emu_scenario_free(&r->s);
    trace_file_free(&r->t);
    free(r);
}
