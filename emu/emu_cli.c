/*
 * emu_cli.c — the command line of apicv-emu: run, replay, info, bench.
 *
 * Bad input gets a message naming the option or file and what was expected,
 * and exit status 2; the guest's own exit status is passed through
 * (docs/cli.md, guest ABI "Exit status").
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emu/emu.h"
#include "emu/emu_compare.h"
#include "emu/emu_gdb.h"
#include "emu/emu_hv.h"
#include "emu/emu_record.h"
#include "emu/emu_scenario.h"
#include "traces/trace.h"
#include "vmx/vmx.h"
#include "vmx/vmx_root.h"
#include "vmx/vmx_vmcs.h"

#define APICV_VERSION "0.1.0"

static void usage_main(FILE *f)
{
    fputs("usage: apicv-emu COMMAND [OPTIONS]\n"
          "\n"
          "A cycle-level emulator of Intel VMX APIC virtualization.\n"
          "\n"
          "commands:\n"
          "  run GUEST.elf       run a guest program (see `apicv-emu run --help`)\n"
          "  replay TRACE        re-run a recorded trace; --verify checks every digest\n"
          "  trace-dump TRACE    print a trace as text\n"
          "  info [--cost-model FILE]  modes, CPU model, implemented features, the cost model\n"
          "  compare             the same interrupt workload in all five modes, side by side\n"
          "  bench               guest MIPS and VM-exit round trips per second\n"
          "  --help, -h          this text (every command has its own --help)\n"
          "  --version           the emulator version\n",
          f);
}

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
          "  --cpu MODEL[,+f|,-f...]  CPU model (max, the default) without or with\n"
          "                      features x2apic, tsc-deadline, vmx (apicv-emu info)\n"
          "  --max-cycles N      stop after N cycles of the global clock (exit status 4)\n"
          "  --quantum N         cycles of one scheduling round (default 10000)\n"
          "  --cost-model FILE   override costs: instructions, VM entry/exit, the\n"
          "                      hypervisor's work per exit reason (docs/cost-model.md)\n"
          "  --strict            an unimplemented instruction ends the run (status 3)\n"
          "  --log FILE          write the event log, one line per event (docs/cli.md)\n"
          "  --record FILE       record a trace for `apicv-emu replay` (docs/scenarios.md)\n"
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

static bool parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    /* Decimal, or hexadecimal with 0x: a leading 0 is not octal here. */
    int base = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "apicv-emu: %s: expected a number in %llu..%llu, got '%s'\n", opt,
                (unsigned long long)lo, (unsigned long long)hi, s);
        return false;
    }
    *out = v;
    return true;
}

static double host_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
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

/* Runs a machine to the end, with a progress line on a terminal. Host time
 * only decides when to print: it never touches the machine. */
static void run_to_end(emu_machine *m, bool progress, double *seconds)
{
    double t0 = host_seconds(), last = t0;
    const uint64_t slice = 20000000;
    bool printed = false;
    while (!emu_machine_run(m, m->now + slice)) {
        if (emu_stop_requested(m))
            break;
        if (progress) {
            double t = host_seconds();
            if (t - last >= 1.0) {
                fprintf(stderr, "\r[apicv-emu] cycle %llu, %llu instructions, %.0f MIPS   ",
                        (unsigned long long)m->now, (unsigned long long)emu_machine_insns(m),
                        (double)emu_machine_insns(m) / (t - t0) / 1e6);
                last = t;
                printed = true;
            }
        }
    }
    if (printed)
        fputs("\r\033[K", stderr);
    *seconds = host_seconds() - t0;
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
            if (!parse_u64("--cpus", optarg, 1, CPU_MAX_CPUS, &v))
                return EMU_EXIT_USAGE;
            cfg->ncpus = (unsigned)v;
            break;
        case 'M':
            if (!parse_u64("--mem", optarg, 2, 4096, &v))
                return EMU_EXIT_USAGE;
            cfg->mem_bytes = v << 20;
            break;
        case 'x':
            if (!parse_u64("--max-cycles", optarg, 1, UINT64_MAX, &cfg->max_cycles))
                return EMU_EXIT_USAGE;
            break;
        case 'q':
            if (!parse_u64("--quantum", optarg, 100, 100000000, &cfg->quantum))
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
        case 'D':
            if (!parse_u64("--digest-every", optarg, EMU_RECORD_MIN_INTERVAL,
                           EMU_RECORD_MAX_INTERVAL, &opts->digest_every))
                return EMU_EXIT_USAGE;
            break;
        case 'G':
            if (!parse_u64("--gdb", optarg, 0, 65535, &v))
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
    double t0 = host_seconds(), last = t0;
    const uint64_t slice = 20000000;
    while (!emu_record_run(rec, m->now + slice)) {
        if (emu_stop_requested(m))
            break;
        double t = host_seconds();
        if (progress && t - last >= 1.0) {
            fprintf(stderr, "\r[apicv-emu] recording: cycle %llu, %llu instructions   ",
                    (unsigned long long)m->now, (unsigned long long)emu_machine_insns(m));
            last = t;
        }
    }
    if (progress && last != t0)
        fputs("\r\033[K", stderr);
    *seconds = host_seconds() - t0;
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

static int cmd_run(int argc, char **argv, const emu_frontend *fe)
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

    static emu_machine m; /* large: keep it off the stack */
    emu_recorder *rec = NULL;
    emu_log log = {0};
    int status = EMU_EXIT_USAGE;
    if (!emu_machine_init(&m, &opts.cfg, guest, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        if (scenario)
            emu_scenario_free(scenario);
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

    double secs = 0;
    bool progress = !opts.quiet && isatty(STDERR_FILENO);
    bool window = !rec && !headless && opts.gdb_port < 0 && fe && fe->run_window && fe->display_available &&
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
        double t0 = host_seconds();
        status = fe->run_window(&m, guest, &opts);
        secs = host_seconds() - t0;
    } else {
        if (!headless && fe && fe->run_window && rec)
            fprintf(stderr, "apicv-emu: --record runs headless (a recording is one uninterrupted run)\n");
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
            run_to_end(&m, progress, &secs);
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
            fprintf(stderr, "apicv-emu: %s: stopped at cycle %llu before the run ended: "
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
    if (rec) {
        /* The run never started: no trace is better than an empty one. */
        emu_record_end(rec, err, sizeof(err));
        unlink(opts.record_path);
    }
    emu_machine_free(&m);
    if (scenario)
        emu_scenario_free(scenario);
    return status;
}

/* One line per mode for `info` (docs/hypervisor.md has the whole story). */
static const char *mode_summary(emu_mode mode)
{
    switch (mode) {
    case EMU_MODE_NATIVE:
        return "no hypervisor: the guest drives the physical CPUs and local APICs";
    case EMU_MODE_EMULATED:
        return "VMX, no APIC virtualization: every APIC access and EOI exits";
    case EMU_MODE_TPR_SHADOW:
        return "VMX with TPR shadow: MOV CR8 without exits, TPR-below-threshold exits";
    case EMU_MODE_APICV:
        return "VMX with APIC-register and virtual-interrupt delivery (RVI/SVI, EOI virt)";
    case EMU_MODE_POSTED:
        return "apicv plus posted interrupts (PIR/ON, notification vector, SN); the default";
    default:
        return "?";
    }
}

/* The APIC-virtualization controls as the capability MSRs report them
 * (allowed-1 bits, SDM Vol. 3D A.3.1-A.3.3): read from vmx/, not restated. */
static void print_vmx_capabilities(void)
{
    static const struct {
        uint32_t msr;
        uint32_t bit;
        const char *name;
    } ctl[] = {
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_EXT_INTR_EXITING, "external-interrupt exiting"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_NMI_EXITING, "NMI exiting"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_VIRTUAL_NMIS, "virtual NMIs"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_PREEMPT_TIMER, "VMX-preemption timer"},
        {VMX_MSR_TRUE_PINBASED_CTLS, VMX_PIN_POSTED_INTR, "process posted interrupts"},
        {VMX_MSR_TRUE_PROCBASED_CTLS, VMX_PROC_TPR_SHADOW, "use TPR shadow"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VIRT_APIC_ACCESS, "virtualize APIC accesses"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VIRT_X2APIC, "virtualize x2APIC mode"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_APIC_REG_VIRT, "APIC-register virtualization"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VIRT_INTR_DELIVERY, "virtual-interrupt delivery"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_EPT, "enable EPT"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VPID, "enable VPID"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_UNRESTRICTED, "unrestricted guest"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_VMCS_SHADOW, "VMCS shadowing"},
        {VMX_MSR_PROCBASED_CTLS2, VMX_PROC2_PML, "page-modification logging"},
    };
    printf("\nVMX capabilities (IA32_VMX_* MSRs 480H-491H, docs/vmx.md):\n");
    for (unsigned k = 0; k < sizeof(ctl) / sizeof(ctl[0]); k++) {
        uint64_t cap = 0;
        bool known = vmx_capability_msr(ctl[k].msr, &cap);
        bool allowed = known && ((cap >> 32) & ctl[k].bit);
        printf("  %-30s %s\n", ctl[k].name, allowed ? "supported" : "not implemented (must be 0)");
    }
    printf("  raw:");
    for (uint32_t msr = VMX_MSR_BASIC; msr <= VMX_MSR_VMFUNC; msr++) {
        uint64_t v = 0;
        if (vmx_capability_msr(msr, &v))
            printf("%s %03XH=%016llx", (msr - VMX_MSR_BASIC) % 3 == 0 ? "\n   " : "", msr,
                   (unsigned long long)v);
    }
    printf("\n");
}

static int cmd_info(int argc, char **argv)
{
    cpu_cost_model costs;
    cpu_cost_default(&costs);
    const char *cost_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: apicv-emu info [--cost-model FILE]\n\nPrints the modes, the CPU model, what "
                   "is implemented and the cost model:\nthe default one, or the one FILE makes "
                   "(docs/cost-model.md).\n");
            return 0;
        }
        if (strcmp(argv[i], "--cost-model") == 0 && i + 1 < argc) {
            char err[512];
            cost_file = argv[++i];
            if (!cpu_cost_load(&costs, cost_file, err, sizeof(err))) {
                fprintf(stderr, "apicv-emu info: --cost-model: %s\n", err);
                return EMU_EXIT_USAGE;
            }
            continue;
        }
        fprintf(stderr, "apicv-emu info: unexpected argument '%s' (see apicv-emu info --help)\n", argv[i]);
        return EMU_EXIT_USAGE;
    }
    printf("apicv-emu %s\n\n", APICV_VERSION);
    printf("modes:\n");
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
        printf("  %-11s %s\n", emu_mode_name((emu_mode)k),
               mode_summary((emu_mode)k));
    printf("\nmachine: 1..%d CPUs, each with a local APIC (xAPIC and x2APIC, timer one-shot,\n"
           "  periodic and TSC-deadline); a deterministic round-robin scheduler on one cycle\n"
           "  clock; devices: console 0xE9, exit 0xF4, MSI device 0xF0, COM1 16550A 0x3F8,\n"
           "  fw_cfg 0x510, 8259A pair 0x20/0xA0, test device 0x2000, I/O APIC 0xFEC00000\n"
           "  (docs/machine.md)\n",
           CPU_MAX_CPUS);
    printf("interpreter: x86-64, 64-bit mode only; general-purpose instruction set, no x87/SSE\n");
    emu_cpu_model_print(stdout);
    printf("VMX: the built-in hypervisor runs every mode but native (docs/hypervisor.md);\n"
           "  vmx/ implements TPR shadow, APIC-register and x2APIC virtualization,\n"
           "  virtual-interrupt delivery and posted interrupts (docs/vmx.md)\n");
    printf("VMX root operation for the guest (native mode, unless --cpu max,-vmx):\n"
           "  VMXON/VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD/VMWRITE, VMLAUNCH/VMRESUME,\n"
           "  INVEPT, VMCALL (VMfail) in 64-bit mode; VM exits load the host state of the\n"
           "  guest's VMCS (guests/vmx_teach.c); INIT blocked in root, posted interrupts\n"
           "  from other CPUs. Not yet: INVVPID (no VPID), VMCS shadowing, wait-for-SIPI,\n"
           "  32-bit VMX instructions (docs/vmx.md \"VMX root operation\")\n");
    printf("scenarios, run --record, replay --verify, trace-dump: implemented (docs/scenarios.md)\n");
    printf("not implemented: 32-bit and real mode, x87/SSE; the built-in hypervisor runs\n"
           "  guests without EPT (vmx/ implements it for hypervisors in tests)\n");
    print_vmx_capabilities();
    if (cost_file)
        printf("\ncost model (cycles) of %s; the defaults elsewhere:\n", cost_file);
    else
        printf("\ncost model (cycles; defaults, sources in docs/cost-model.md; override with\n"
               "  --cost-model FILE, lines of 'class cycles'):\n");
    for (unsigned k = 0; k < CPU_COST_NCLASSES; k++)
        printf("  %-15s %5u  %s\n", cpu_cost_name((cpu_cost_class)k), costs.cost[k],
               cpu_cost_what((cpu_cost_class)k));
    return 0;
}

/* The directory holding the built guests: beside the executable. */
static void guest_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(out, len, "guests");
        return;
    }
    exe[n] = 0;
    snprintf(out, len, "%s/guests", dirname(exe));
}

static int bench_one(const char *name, const char *path, double *mips)
{
    static emu_machine m;
    emu_config cfg;
    char err[512];
    emu_config_default(&cfg);
    cfg.quantum = 1000000;
    cfg.mode = EMU_MODE_NATIVE; /* the interpreter's speed, without VM exits */
    if (!emu_machine_init(&m, &cfg, path, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu bench: %s\n", err);
        return EMU_EXIT_USAGE;
    }
    double secs;
    run_to_end(&m, false, &secs);
    uint64_t insns = emu_machine_insns(&m);
    *mips = secs > 0 ? (double)insns / secs / 1e6 : 0;
    printf("bench: %-9s %12llu instructions %8.3f s %8.1f MIPS (exit %d)\n", name,
           (unsigned long long)insns, secs, *mips, m.exit_status);
    int status = m.exit_status;
    emu_machine_free(&m);
    return status;
}

/* Exit round trips per second: vmcall_loop.elf (10^6 VMCALLs) in posted
 * mode, so that nearly all host time is VM exit, handler and VM entry. */
static int bench_exits(const char *path, double *us_each)
{
    static emu_machine m;
    emu_config cfg;
    char err[512];
    emu_config_default(&cfg);
    cfg.quantum = 1000000;
    cfg.mode = EMU_MODE_POSTED;
    if (!emu_machine_init(&m, &cfg, path, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu bench: %s\n", err);
        return EMU_EXIT_USAGE;
    }
    double secs;
    run_to_end(&m, false, &secs);
    uint64_t exits = m.hv_ops->exit_count(&m, 0, EMU_HC_ALL_EXITS);
    double per_sec = secs > 0 ? (double)exits / secs : 0;
    printf("bench: %-9s %12llu VM exits     %8.3f s %8.0f exit round trips/s, %.2f us each "
           "(posted, exit %d)\n",
           "vmcall", (unsigned long long)exits, secs, per_sec, per_sec > 0 ? 1e6 / per_sec : 0,
           m.exit_status);
    *us_each = per_sec > 0 ? 1e6 / per_sec : 0;
    int status = m.exit_status;
    emu_machine_free(&m);
    return status;
}

/* The same round trip with the guest's own hypervisor: vmx_bench.elf (the
 * teaching hypervisor's exit loop around 10^5 VMCALLs) in native mode,
 * where each exit loads the host state and the guest hypervisor's code
 * reads the exit, moves RIP on and VMRESUMEs (docs/vmx.md). */
static int bench_root_exits(const char *path, double builtin_us)
{
    static emu_machine m;
    emu_config cfg;
    char err[512];
    emu_config_default(&cfg);
    cfg.quantum = 1000000;
    cfg.mode = EMU_MODE_NATIVE;
    if (!emu_machine_init(&m, &cfg, path, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu bench: %s\n", err);
        return EMU_EXIT_USAGE;
    }
    double secs;
    run_to_end(&m, false, &secs);
    uint64_t exits = m.vroot ? m.vroot[0].v.exits : 0;
    double per_sec = secs > 0 ? (double)exits / secs : 0, us = per_sec > 0 ? 1e6 / per_sec : 0;
    printf("bench: %-9s %12llu VM exits     %8.3f s %8.0f exit round trips/s, %.2f us each "
           "(guest hypervisor, native, exit %d)\n",
           "vmx_bench", (unsigned long long)exits, secs, per_sec, us, m.exit_status);
    if (builtin_us > 0)
        printf("bench: VMCALL round trip: guest hypervisor %.2f us, built-in hypervisor %.2f us "
               "(%.2fx)\n",
               us, builtin_us, us / builtin_us);
    int status = m.exit_status;
    emu_machine_free(&m);
    return status;
}

static int cmd_bench(int argc, char **argv)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: apicv-emu bench [GUEST_DIR]\n\nRuns loop.elf (a DEC/JNZ loop of 10^9 instructions) and workload.elf\n"
               "(the C workload) natively and prints guest MIPS, then vmcall_loop.elf (10^6\n"
               "VMCALLs) in posted mode and prints VM-exit round trips per second, and\n"
               "vmx_bench.elf (a guest hypervisor, 10^5 VMCALLs) in native mode, with both\n"
               "round trips side by side.\n"
               "GUEST_DIR defaults to the\n"
               "guests/ directory beside the executable.\n");
        return 0;
    }
    if (argc > 2) {
        fprintf(stderr, "apicv-emu bench: expected at most one GUEST_DIR (see apicv-emu bench --help)\n");
        return EMU_EXIT_USAGE;
    }
    if (argc > 1)
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    else
        guest_dir(dir, sizeof(dir));
    double loop_mips = 0, work_mips = 0;
    snprintf(path, sizeof(path), "%s/loop.elf", dir);
    int s1 = bench_one("loop", path, &loop_mips);
    snprintf(path, sizeof(path), "%s/workload.elf", dir);
    int s2 = bench_one("workload", path, &work_mips);
    printf("bench: targets 250 MIPS (loop) and 120 MIPS (workload): %s, %s\n",
           loop_mips >= 250 ? "met" : "not met", work_mips >= 120 ? "met" : "not met");
    snprintf(path, sizeof(path), "%s/vmcall_loop.elf", dir);
    double builtin_us = 0;
    int s3 = bench_exits(path, &builtin_us);
    snprintf(path, sizeof(path), "%s/vmx_bench.elf", dir);
    int s4 = bench_root_exits(path, builtin_us);
    return s1 ? s1 : s2 ? s2 : s3 ? s3 : s4;
}

int emu_main(int argc, char **argv, const emu_frontend *fe)
{
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc < 2) {
        usage_main(stderr);
        return EMU_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("apicv-emu %s\n", APICV_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1, fe);
    if (strcmp(cmd, "replay") == 0)
        return emu_replay_cli(argc - 1, argv + 1, fe);
    if (strcmp(cmd, "trace-dump") == 0)
        return trace_dump_main(argc - 1, argv + 1, &emu_trace_names);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "compare") == 0)
        return emu_compare_main(argc - 1, argv + 1, fe);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    fprintf(stderr, "apicv-emu: unknown command '%s' (expected run, replay, trace-dump, info, compare or bench; see apicv-emu --help)\n",
            cmd);
    return EMU_EXIT_USAGE;
}
