/*
 * emu_replay_cli.c — the `apicv-emu replay` command: options, the window
 * or a headless run, exports, and the exit status.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_hv.h"
#include "emu/emu_internal.h"
#include "emu/emu_export.h"
#include "emu/emu_gdb.h"
#include "emu/emu_record.h"
#include "emu/emu_replay_internal.h"

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

/* replay --gdb PORT: gdb drives the replay (emu_gdb_run.c) until it
 * kills it (137) or detaches (the replay then runs to its end). */
static int replay_gdb(emu_replayer *r, const char *path, unsigned port)
{
    emu_gdb *g = malloc(sizeof(*g));
    char err[256];
    if (!g) {
        fprintf(stderr, "apicv-emu: --gdb: out of memory\n");
        return EMU_EXIT_USAGE;
    }
    if (!emu_gdb_listen(g, &r->m, port, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        free(g);
        return EMU_EXIT_USAGE;
    }
    g->rp = r;
    fprintf(stderr, "apicv-emu: replaying %s; waiting for gdb on 127.0.0.1:%u (target remote :%u)\n",
            path, g->port, g->port);
    emu_gdb_end end = emu_gdb_serve(g);
    emu_gdb_close(g);
    free(g);
    if (end == EMU_GDB_KILLED) {
        fprintf(stderr, "apicv-emu: killed by gdb at cycle %llu\n", (unsigned long long)r->m.now);
        return 137;
    }
    if (end == EMU_GDB_ERROR) {
        fprintf(stderr, "apicv-emu: --gdb: accept failed\n");
        return EMU_EXIT_USAGE;
    }
    while (!emu_replay_run(r, r->m.now + 2000000))
        if (emu_stop_requested(&r->m))
            break;
    fflush(stdout);
    if (r->m.interrupted) {
        fprintf(stderr, "\napicv-emu replay: %s: %s at cycle %llu\n", path, r->m.diag,
                (unsigned long long)r->m.now);
        return 128 + emu_stop_signal();
    }
    cpu_obs_unsubscribe(&r->m.obs, emu_replay_event, r);
    return r->unfinished ? 0 : r->s.m ? emu_scenario_check(&r->s, stderr) : r->m.exit_status;
}

int emu_replay_main(int argc, char **argv)
{
    return emu_replay_cli(argc, argv, NULL);
}

int emu_replay_cli(int argc, char **argv, const emu_frontend *fe)
{
    bool verify = false, headless = false;
    const char *path = NULL, *vcd = NULL, *perfetto = NULL;
    long gdb_port = -1;
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--verify") == 0)
            verify = true;
        else if (strcmp(argv[k], "--gdb") == 0) {
            char *end = NULL;
            gdb_port = k + 1 < argc ? strtol(argv[k + 1], &end, 10) : -1;
            if (k + 1 >= argc || !*argv[k + 1] || *end || gdb_port < 0 || gdb_port > 65535) {
                fprintf(stderr, "apicv-emu replay: --gdb: expected a port 0..65535, got '%s'\n",
                        k + 1 < argc ? argv[k + 1] : "");
                return EMU_EXIT_USAGE;
            }
            k++;
        }
        else if ((strcmp(argv[k], "--vcd") == 0 || strcmp(argv[k], "--perfetto") == 0) &&
                 k + 1 < argc) {
            const char **dst = argv[k][2] == 'v' ? &vcd : &perfetto;
            *dst = argv[++k];
        }
        else if (strcmp(argv[k], "--headless") == 0)
            headless = true;
        else if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            printf("usage: apicv-emu replay [--verify] [--headless] [--vcd FILE] [--perfetto FILE] TRACE\n"
                   "       apicv-emu replay --gdb PORT TRACE\n"
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
                   "(docs/export.md); they replay headless.\n"
                   "--gdb PORT serves gdb on 127.0.0.1:PORT (0: a free port) with reverse\n"
                   "execution (reverse-stepi, reverse-continue): docs/gdb.md.\n");
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
    if (gdb_port >= 0 && (verify || vcd || perfetto)) {
        fprintf(stderr, "apicv-emu replay: --gdb cannot be combined with %s (gdb's stepping "
                        "schedule is not the recorded run's: docs/gdb.md)\n",
                verify ? "--verify" : vcd ? "--vcd" : "--perfetto");
        return EMU_EXIT_USAGE;
    }
    emu_replayer *r;
    char err[2048];
    int st = emu_replay_open(path, verify, &r, err, sizeof(err));
    if (st) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        return st;
    }
    if (gdb_port >= 0) {
        r->snapshots_ok = false; /* reverse execution restarts from cycle 0 */
        r->m.console = replay_console;
        emu_catch_stop_signals();
        int status = replay_gdb(r, path, (unsigned)gdb_port);
        emu_replay_close(r);
        return status;
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
        cpu_obs_unsubscribe(&r->m.obs, emu_replay_event, r);
        status = r->unfinished ? 0 : r->s.m ? emu_scenario_check(&r->s, stderr) : r->m.exit_status;
        if (verify)
            fprintf(stderr, "apicv-emu replay: %s: verified %zu events and %zu digests up to "
                            "cycle %llu: no divergence\n",
                    path, r->ev_i, r->dg_i + 1, (unsigned long long)r->m.now);
    }
    emu_replay_close(r);
    return export_failed ? EMU_EXIT_USAGE : status;
}
