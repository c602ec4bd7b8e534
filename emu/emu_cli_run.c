/*
 * emu_cli_run.c — `apicv-emu run`: its options, the headless run (captions,
 * recording, gdb) or the window, and the end of run (expectations, stats).
 *
 * Bad input gets a message naming the option or file and what was expected,
 * and exit status 2; the guest's own exit status is passed through
 * (docs/cli.md, guest ABI "Exit status").
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu.h"
#include "emu/emu_cli.h"
#include "emu/emu_export.h"
#include "emu/emu_gdb.h"
#include "emu/emu_hv.h"
#include "emu/emu_record.h"
#include "emu/emu_scenario.h"

static void usage_run(FILE *f)
{
    fputs("usage: apicv-emu run [OPTIONS] GUEST.elf|KERNEL|SCENARIO\n"
          "\n"
          "Runs a guest program (an ELF64 image following docs/guest-abi.md), a Multiboot\n"
          "kernel (a Multiboot v1 header in its first 8 KiB: docs/multiboot.md), or a\n"
          "scenario (docs/scenarios.md: guest, machine, stimuli, captions, expectations).\n"
          "The console (port 0xE9, COM1) goes to standard output. Exit status: the value\n"
          "written to port 0xF4, 2 for bad input, 3 if the guest crashed, 4 if the cycle\n"
          "limit came first, 1 if a scenario's expectation failed.\n"
          "\n"
          "options:\n"
          "  --headless          no window, even when a display exists\n"
          "  --mode M            posted (the default), apicv, tpr-shadow, emulated or\n"
          "                      native (no hypervisor); docs/hypervisor.md\n"
          "  --cpus N            number of CPUs, 1..8 (default 1)\n"
          "  --mem MiB           guest RAM in MiB, 2..4096 (default 64)\n"
          "  --append \"ARGS\"     Multiboot kernels: the command line after the kernel's path\n"
          "  --initrd FILE       Multiboot kernels: a module (repeatable, up to 16)\n"
          "  --serial-input FILE the bytes COM1 receives, in order, each once the guest\n"
          "                      has read the one before (- : standard input, read to\n"
          "                      its end first); docs/machine.md\n"
          "  --cpu MODEL[,+f|,-f...]  CPU model (max, the default) without or with\n"
          "                      features x2apic, tsc-deadline, vmx (apicv-emu info)\n"
          "  --max-cycles N      stop after N cycles of the global clock (exit status 4)\n"
          "  --quantum N         cycles of one scheduling round (default 10000)\n"
          "  --cost-model FILE   override costs: instructions, VM entry/exit, the\n"
          "                      hypervisor's work per exit reason (docs/cost-model.md)\n"
          "  --strict            an unimplemented instruction ends the run (status 3)\n"
          "  --log FILE          write the event log, one line per event (docs/cli.md)\n"
          "  --record FILE       record a trace for `apicv-emu replay` (docs/scenarios.md)\n"
          "  --vcd FILE          write a Value Change Dump of each vCPU's interrupt state\n"
          "                      for GTKWave (docs/export.md); runs headless\n"
          "  --perfetto FILE     write Chrome trace-event JSON for Perfetto UI or\n"
          "                      chrome://tracing (docs/export.md); runs headless\n"
          "  --digest-every N    with --record: a state digest every N cycles (default\n"
          "                      1000000), so a divergence is found near where it starts\n"
          "  --stats             print cycles, instructions, MIPS, interrupts per path and\n"
          "                      VM exits per reason per vCPU at the end (standard error)\n"
          "  --gdb PORT          wait for gdb on 127.0.0.1:PORT before running (0: a free\n"
          "                      port, printed on standard error); docs/gdb.md\n"
          "  --quiet             no progress line on a terminal, no scenario captions\n"
          "                      on standard error when headless\n"
          "  --help              this text\n",
          f);
}

/* The guest's console on standard output (ctx: the machine). A write that
 * fails (a full disk, a closed pipe) ends the run there, status 2: the
 * output is lost and a guest may never end by itself. */
static void console_stdout(void *ctx, unsigned cpu, uint8_t byte)
{
    emu_machine *m = ctx;
    (void)cpu;
    if (putchar(byte) == EOF || (byte == '\n' && fflush(stdout) != 0) || ferror(stdout)) {
        clearerr(stdout);
        emu_machine_stop(m, EMU_EXIT_USAGE, "standard output (the guest's console): write "
                                            "failed: %s",
                         strerror(errno));
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int unknown_option(const char *cmd, char **argv, int optind_now)
{
    fprintf(stderr, "apicv-emu %s: unknown option or missing value '%s' (see apicv-emu %s --help)\n",
            cmd, argv[optind_now - 1], cmd);
    return EMU_EXIT_USAGE;
}

/* Parses `run`'s options into opts; returns -1 to go on, else an exit status. */
static int parse_run(int argc, char **argv, emu_run_opts *opts, bool *headless,
                     cpu_cost_model *costs)
{
    static const struct option lopts[] = {
        {"headless", no_argument, 0, 'H'},         {"mode", required_argument, 0, 'm'},
        {"cpus", required_argument, 0, 'c'},       {"mem", required_argument, 0, 'M'},
        {"max-cycles", required_argument, 0, 'x'}, {"quantum", required_argument, 0, 'q'},
        {"cost-model", required_argument, 0, 'C'}, {"strict", no_argument, 0, 's'},
        {"stats", no_argument, 0, 'S'},            {"quiet", no_argument, 0, 'Q'},
        {"log", required_argument, 0, 'L'},        {"record", required_argument, 0, 'R'},
        {"digest-every", required_argument, 0, 'D'},
        {"append", required_argument, 0, 'A'},     {"initrd", required_argument, 0, 'I'},
        {"cpu", required_argument, 0, 'P'},        {"gdb", required_argument, 0, 'G'},
        {"vcd", required_argument, 0, 'V'},        {"perfetto", required_argument, 0, 'F'},
        {"serial-input", required_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0},
    };
    emu_config *cfg = &opts->cfg;
    uint64_t v;
    optind = 1;
    opterr = 0;
    for (;;) {
        int o = getopt_long(argc, argv, "h", lopts, NULL);
        if (o == -1)
            break;
        switch (o) {
        case 'H':
            *headless = true;
            break;
        case 'm':
            if (!emu_mode_parse(optarg, &cfg->mode)) {
                fprintf(stderr, "apicv-emu: --mode: expected native, emulated, tpr-shadow, apicv or posted, got '%s'\n",
                        optarg);
                return EMU_EXIT_USAGE;
            }
            break;
        case 'c':
            if (!emu_cli_parse_u64("--cpus", optarg, 1, CPU_MAX_CPUS, &v))
                return EMU_EXIT_USAGE;
            cfg->ncpus = (unsigned)v;
            break;
        case 'M':
            if (!emu_cli_parse_u64("--mem", optarg, 2, 4096, &v))
                return EMU_EXIT_USAGE;
            cfg->mem_bytes = v << 20;
            break;
        case 'x':
            if (!emu_cli_parse_u64("--max-cycles", optarg, 1, UINT64_MAX, &cfg->max_cycles))
                return EMU_EXIT_USAGE;
            break;
        case 'q':
            if (!emu_cli_parse_u64("--quantum", optarg, 100, 100000000, &cfg->quantum))
                return EMU_EXIT_USAGE;
            break;
        case 'C': {
            char err[512];
            cpu_cost_default(costs);
            if (!cpu_cost_load(costs, optarg, err, sizeof(err))) {
                fprintf(stderr, "apicv-emu: --cost-model: %s\n", err);
                return EMU_EXIT_USAGE;
            }
            cfg->costs = costs;
            break;
        }
        case 's':
            cfg->strict = true;
            break;
        case 'S':
            opts->stats = true;
            break;
        case 'Q':
            opts->quiet = true;
            break;
        case 'L':
            opts->log_path = optarg;
            break;
        case 'R':
            opts->record_path = optarg;
            break;
        case 'V':
            opts->vcd_path = optarg;
            break;
        case 'F':
            opts->perfetto_path = optarg;
            break;
        case 'D':
            if (!emu_cli_parse_u64("--digest-every", optarg, EMU_RECORD_MIN_INTERVAL,
                           EMU_RECORD_MAX_INTERVAL, &opts->digest_every))
                return EMU_EXIT_USAGE;
            break;
        case 'G':
            if (!emu_cli_parse_u64("--gdb", optarg, 0, 65535, &v))
                return EMU_EXIT_USAGE;
            opts->gdb_port = (int)v;
            break;
        case 'A':
            cfg->append = optarg;
            break;
        case 'P': {
            char err[256];
            if (!emu_cpu_model_parse(optarg, &cfg->cpu_off, err, sizeof(err))) {
                fprintf(stderr, "apicv-emu: %s\n", err);
                return EMU_EXIT_USAGE;
            }
            break;
        }
        case 'I':
            if (cfg->ninitrd == sizeof(opts->initrd) / sizeof(opts->initrd[0])) {
                fprintf(stderr, "apicv-emu: --initrd: at most %zu modules\n",
                        sizeof(opts->initrd) / sizeof(opts->initrd[0]));
                return EMU_EXIT_USAGE;
            }
            opts->initrd[cfg->ninitrd++] = optarg;
            cfg->initrd = opts->initrd;
            break;
        case 'i':
            opts->serial_input_path = optarg;
            break;
        case 'h':
            usage_run(stdout);
            return 0;
        default:
            return unknown_option("run", argv, optind);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "apicv-emu run: expected one GUEST.elf or SCENARIO, got %d arguments (see apicv-emu run --help)\n",
                argc - optind);
        return EMU_EXIT_USAGE;
    }
    return -1;
}

/* A scenario file: by its name, or by its first word (docs/scenarios.md). */
static bool is_scenario_file(const char *path)
{
    if (ends_with(path, ".scn") || ends_with(path, ".scenario"))
        return true;
    char err[512];
    FILE *f = cpu_open_input(path, err, sizeof(err)); /* never blocks: the loader says why */
    if (!f)
        return false;
    char head[sizeof(EMU_SCENARIO_MAGIC)] = {0};
    size_t n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    return n == sizeof(head) - 1 && memcmp(head, EMU_SCENARIO_MAGIC, n) == 0;
}

/* Headless narration: a scenario's captions on standard error, in cycle
 * order (the window shows them in large type instead). The scheduler runs
 * each CPU's turn of a round in turn, so captions fire round by round, not
 * in cycle order across CPUs: they wait here until the clock has passed
 * them (a new round began) and go out sorted by cycle. */
#define NARRATION_MAX 256
typedef struct caption_printer {
    const emu_scenario *scenario;
    FILE *out;
    const emu_machine *m;
    cpu_obs_event held[NARRATION_MAX]; /* sorted by cycle, then by firing */
    unsigned nheld;
} caption_printer;

static void flush_captions(caption_printer *cp, uint64_t before)
{
    unsigned n = 0;
    while (n < cp->nheld && cp->held[n].cycle < before) {
        const cpu_obs_event *ev = &cp->held[n++];
        const char *text = emu_scenario_caption_text(cp->scenario, (unsigned)ev->a);
        if (text)
            fprintf(cp->out, "[cycle %llu cpu%u] %s\n", (unsigned long long)ev->cycle, ev->cpu,
                    text);
    }
    memmove(cp->held, cp->held + n, (cp->nheld - n) * sizeof(cp->held[0]));
    cp->nheld -= n;
}

static void print_caption(void *ctx, const cpu_obs_event *ev)
{
    caption_printer *cp = ctx;
    if (ev->kind != EMU_SCN_EV_CAPTION)
        return;
    flush_captions(cp, cp->m->now);
    if (cp->nheld == NARRATION_MAX)
        flush_captions(cp, UINT64_MAX);
    unsigned i = cp->nheld++;
    while (i > 0 && cp->held[i - 1].cycle > ev->cycle) {
        cp->held[i] = cp->held[i - 1];
        i--;
    }
    cp->held[i] = *ev;
}

/* Runs a machine to the end while recording it (emu_record_run takes the
 * periodic digests); progress as run_to_end. */
static void record_to_end(emu_machine *m, emu_recorder *rec, bool progress, double *seconds)
{
    double t0 = emu_cli_host_seconds(), last = t0;
    const uint64_t slice = 20000000;
    while (!emu_record_run(rec, m->now + slice)) {
        if (emu_stop_requested(m))
            break;
        double t = emu_cli_host_seconds();
        if (progress && t - last >= 1.0) {
            fprintf(stderr, "\r[apicv-emu] recording: cycle %llu, %llu instructions   ",
                    (unsigned long long)m->now, (unsigned long long)emu_machine_insns(m));
            last = t;
        }
    }
    if (progress && last != t0)
        fputs("\r\033[K", stderr);
    *seconds = emu_cli_host_seconds() - t0;
}

/* --gdb: serves gdb (emu_gdb.h) until it detaches (then the run goes on
 * without it: returns -1), kills the run, or the run ends. */
static int run_gdb(emu_machine *m, int port)
{
    emu_gdb *g = malloc(sizeof(*g));
    char err[256];
    if (!g) {
        fprintf(stderr, "apicv-emu: --gdb: out of memory\n");
        return EMU_EXIT_USAGE;
    }
    if (!emu_gdb_listen(g, m, (unsigned)port, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        free(g);
        return EMU_EXIT_USAGE;
    }
    fprintf(stderr, "apicv-emu: waiting for gdb on 127.0.0.1:%u (target remote :%u)\n", g->port,
            g->port);
    emu_gdb_end end = emu_gdb_serve(g);
    emu_gdb_close(g);
    free(g);
    switch (end) {
    case EMU_GDB_KILLED:
        fprintf(stderr, "apicv-emu: killed by gdb at cycle %llu\n", (unsigned long long)m->now);
        return 137;
    case EMU_GDB_FINISHED:
        return m->exit_status;
    case EMU_GDB_ERROR:
        fprintf(stderr, "apicv-emu: --gdb: accept failed\n");
        return EMU_EXIT_USAGE;
    default:
        return m->finished ? m->exit_status : -1;
    }
}

/* --gdb with the window: the window's machine thread serves gdb between
 * slices (emu_gdb_poll); gdb stops the machine and the window shows where.
 * -1 when ready (or without --gdb), else the exit status. */
static int window_gdb_open(emu_run_opts *opts, emu_machine *m)
{
    if (opts->gdb_port < 0)
        return -1;
    char err[256];
    opts->gdb = malloc(sizeof(*opts->gdb));
    if (!opts->gdb || !emu_gdb_listen(opts->gdb, m, (unsigned)opts->gdb_port, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", opts->gdb ? err : "--gdb: out of memory");
        free(opts->gdb);
        opts->gdb = NULL;
        return EMU_EXIT_USAGE;
    }
    fprintf(stderr, "apicv-emu: the window is open; gdb can attach on 127.0.0.1:%u (target remote :%u)\n",
            opts->gdb->port, opts->gdb->port);
    return -1;
}

/* The most --serial-input takes: far more than a terminal session sends. */
#define SERIAL_INPUT_MAX (64u << 20)

/* Reads --serial-input FILE ("-": standard input, to its end) into a new
 * buffer (*out, *len; NULL for an empty input); false with a message
 * naming the file. */
static bool read_serial_input(const char *path, uint8_t **out, size_t *len)
{
    char err[512];
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : cpu_open_input(path, err, sizeof(err));
    *out = NULL;
    *len = 0;
    if (!f) {
        fprintf(stderr, "apicv-emu: --serial-input %s\n", err); /* err names the path */
        return false;
    }
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 4096;
            uint8_t *nb = n < SERIAL_INPUT_MAX ? realloc(buf, ncap) : NULL;
            if (!nb) {
                fprintf(stderr, "apicv-emu: --serial-input %s: %s\n", path,
                        n < SERIAL_INPUT_MAX ? "out of memory" : "more than 64 MiB");
                free(buf);
                if (!is_stdin)
                    fclose(f);
                return false;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(f);
    if (!is_stdin)
        fclose(f);
    if (failed) {
        fprintf(stderr, "apicv-emu: --serial-input %s: read failed\n", path);
        free(buf);
        return false;
    }
    if (n == 0) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    *len = n;
    return true;
}

int emu_cli_run(int argc, char **argv, const emu_frontend *fe)
{
    emu_run_opts opts;
    cpu_cost_model costs;
    bool headless = false;
    memset(&opts, 0, sizeof(opts));
    opts.gdb_port = -1;
    emu_config_default(&opts.cfg);
    int r = parse_run(argc, argv, &opts, &headless, &costs);
    if (r >= 0)
        return r;
    const char *path = argv[optind];
    char err[512], guest[PATH_MAX];
    static emu_scenario scn; /* large: keep it off the stack */
    emu_scenario *scenario = NULL;
    if (is_scenario_file(path)) {
        if (!emu_scenario_load(path, &scn, err, sizeof(err))) {
            fprintf(stderr, "apicv-emu: %s\n", err);
            return EMU_EXIT_USAGE;
        }
        scenario = &scn;
        /* The scenario's machine options first; the command line overrides. */
        memset(&opts, 0, sizeof(opts));
        opts.gdb_port = -1;
        emu_config_default(&opts.cfg);
        emu_scenario_config(scenario, &opts.cfg);
        headless = false;
        r = parse_run(argc, argv, &opts, &headless, &costs);
        if (r >= 0) {
            emu_scenario_free(scenario);
            return r;
        }
        if (!emu_scenario_guest_path(scenario, NULL, guest, sizeof(guest), err, sizeof(err))) {
            fprintf(stderr, "apicv-emu: %s\n", err);
            emu_scenario_free(scenario);
            return EMU_EXIT_USAGE;
        }
    } else {
        snprintf(guest, sizeof(guest), "%s", path);
    }
    opts.scenario = scenario;
    if (opts.gdb_port >= 0 && opts.record_path) {
        fprintf(stderr, "apicv-emu run: --gdb and --record cannot be combined (a recording is "
                        "one uninterrupted run)\n");
        if (scenario)
            emu_scenario_free(scenario);
        return EMU_EXIT_USAGE;
    }

    /* A trace holds no serial input, so a replay could not follow the run. */
    if (opts.serial_input_path && opts.record_path) {
        fprintf(stderr, "apicv-emu run: --serial-input and --record cannot be combined (a "
                        "trace does not hold the input, so it could not be replayed)\n");
        if (scenario)
            emu_scenario_free(scenario);
        return EMU_EXIT_USAGE;
    }
    uint8_t *serial_input = NULL;
    if (opts.serial_input_path) {
        if (!read_serial_input(opts.serial_input_path, &serial_input,
                               &opts.cfg.serial_input_len)) {
            if (scenario)
                emu_scenario_free(scenario);
            return EMU_EXIT_USAGE;
        }
        opts.cfg.serial_input = serial_input;
    }

    static emu_machine m; /* large: keep it off the stack */
    emu_recorder *rec = NULL;
    emu_log log = {0};
    emu_exports exports = {0};
    int status = EMU_EXIT_USAGE;
    if (!emu_machine_init(&m, &opts.cfg, guest, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        if (scenario)
            emu_scenario_free(scenario);
        free(serial_input);
        return EMU_EXIT_USAGE;
    }
    if (opts.record_path) {
        emu_record_info info = {.guest_path = guest,
                                .scenario = scenario,
                                .emu_version = APICV_VERSION,
                                .digest_interval = opts.digest_every};
        if (!emu_record_begin(&m, opts.record_path, &info, &rec, err, sizeof(err))) {
            fprintf(stderr, "apicv-emu: --record %s: %s\n", opts.record_path, err);
            goto out;
        }
    }
    if (scenario && !emu_scenario_apply(scenario, &m, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        goto out;
    }
    if (scenario)
        emu_scenario_print_warnings(scenario, stderr);
    if (opts.log_path) {
        log.f = fopen(opts.log_path, "w");
        if (!log.f) {
            fprintf(stderr, "apicv-emu: --log %s: %s\n", opts.log_path, strerror(errno));
            goto out;
        }
        setvbuf(log.f, NULL, _IOFBF, 1 << 20);
        log.stop = &m;
        log.path = opts.log_path;
        cpu_obs_subscribe(&m.obs, emu_log_event, &log);
    }
    m.console = console_stdout;
    m.console_ctx = &m;
    if (!emu_exports_open(&exports, &m, opts.vcd_path, opts.perfetto_path, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        goto out;
    }
    bool exporting = opts.vcd_path || opts.perfetto_path;

    double secs = 0;
    bool progress = !opts.quiet && isatty(STDERR_FILENO);
    bool window = !rec && !exporting && !headless && fe && fe->run_window && fe->display_available &&
                  fe->display_available();
    caption_printer *narration = calloc(1, sizeof(*narration));
    if (!narration) {
        status = EMU_EXIT_USAGE;
        goto out;
    }
    narration->scenario = scenario;
    narration->out = stderr;
    narration->m = &m;
    if (scenario && !window && !opts.quiet)
        cpu_obs_subscribe(&m.obs, print_caption, narration);
    if (window) {
        /* The window restarts the machine from the guest image (and the
         * scenario in opts) and reports its own timing with --stats. */
        double t0 = emu_cli_host_seconds();
        status = window_gdb_open(&opts, &m);
        if (status < 0)
            status = fe->run_window(&m, guest, &opts);
        if (opts.gdb) {
            emu_gdb_close(opts.gdb);
            free(opts.gdb);
            opts.gdb = NULL;
        }
        secs = emu_cli_host_seconds() - t0;
    } else {
        if (!headless && fe && fe->run_window && rec)
            fprintf(stderr, "apicv-emu: --record runs headless (a recording is one uninterrupted run)\n");
        else if (!headless && fe && fe->run_window && exporting)
            fprintf(stderr, "apicv-emu: --vcd and --perfetto run headless (an export is one uninterrupted run)\n");
        else if (!headless && fe && fe->run_window)
            fprintf(stderr, "apicv-emu: no display available; running headless\n");
        /* Ctrl-C ends a headless run with a summary (the window has its
         * own quit). */
        emu_recent recent; /* lives until the run ends: unsubscribed below */
        memset(&recent, 0, sizeof(recent));
        cpu_obs_subscribe(&m.obs, emu_recent_event, &recent);
        emu_catch_stop_signals();
        int gdb_status = opts.gdb_port >= 0 ? run_gdb(&m, opts.gdb_port) : -1;
        if (gdb_status >= 0)
            status = gdb_status;
        else if (rec)
            record_to_end(&m, rec, progress, &secs);
        else
            emu_cli_run_to_end(&m, progress, &secs);
        if (gdb_status < 0)
            status = m.exit_status;
        if (m.interrupted) {
            fflush(stdout);
            fprintf(stderr, "\napicv-emu: %s: %s at cycle %llu\n", path, m.diag,
                    (unsigned long long)m.now);
            emu_print_summary(stderr, &m, &recent);
            status = 128 + emu_stop_signal();
        }
        cpu_obs_unsubscribe(&m.obs, emu_recent_event, &recent);
    }
    flush_captions(narration, UINT64_MAX);
    cpu_obs_unsubscribe(&m.obs, print_caption, narration);
    free(narration);
    /* emu_machine_stop's reasons (a failed output) come with a diagnostic;
     * a guest that exits with 2 itself has none. */
    bool output_failed = m.finished && m.exit_status == EMU_EXIT_USAGE && m.diag[0];
    if ((fflush(stdout) != 0 || ferror(stdout)) && !output_failed) {
        fprintf(stderr, "apicv-emu: standard output (the guest's console): write failed: %s\n",
                strerror(errno));
        status = EMU_EXIT_USAGE;
        output_failed = true;
    }
    emu_diag_summary(&m, stderr);
    /* A guest may exit with 3 or 4 itself: then there is no diagnostic. */
    if ((status == EMU_EXIT_CRASH || status == EMU_EXIT_CYCLES || status == EMU_EXIT_USAGE) &&
        m.finished && m.diag[0])
        fprintf(stderr, "apicv-emu: %s\n", m.diag);
    bool record_failed = false;
    if (!emu_exports_close(&exports, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        record_failed = true;
    }
    if (rec) {
        emu_recorder *done = rec;
        rec = NULL;
        if (!emu_record_end(done, err, sizeof(err))) {
            fprintf(stderr, "apicv-emu: --record %s: %s\n", opts.record_path, err);
            record_failed = true;
        }
    }
    if (record_failed) {
        status = EMU_EXIT_USAGE;
    } else if (scenario && !output_failed) {
        if (m.finished)
            status = emu_scenario_check(scenario, stderr);
        else
            fprintf(stderr, "apicv-emu: %s: stopped before the run ended (global clock %llu): "
                            "expectations not checked\n",
                    path, (unsigned long long)m.now);
    }
    if (opts.stats)
        emu_print_stats(stderr, &m, secs);
    if (log.f && fclose(log.f) != 0 && !log.failed) {
        fprintf(stderr, "apicv-emu: --log %s: write failed\n", opts.log_path);
        if (status == 0)
            status = EMU_EXIT_USAGE;
    }
    log.f = NULL;
out:
    if (log.f)
        fclose(log.f);
    emu_exports_close(&exports, err, sizeof(err));
    if (rec) {
        /* The run never started: no trace is better than an empty one. */
        emu_record_end(rec, err, sizeof(err));
        unlink(opts.record_path);
    }
    emu_machine_free(&m);
    if (scenario)
        emu_scenario_free(scenario);
    free(serial_input);
    return status;
}
