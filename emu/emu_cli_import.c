/*
 * emu_cli_import.c — `apicv-emu import-kvm LOG [-o SCENARIO] [--run]`: a
 * real KVM trace (trace-cmd report, ftrace) into a scenario, optionally run
 * at once (docs/import-kvm.md).
 *
 * Status: 0 when a scenario was written (with --run: the run's status), 2
 * for bad options, an unreadable LOG, or a LOG with nothing usable (no KVM
 * tracepoint line, no vCPU). Malformed lines and unknown events are
 * reported and skipped, never fatal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu.h"
#include "emu/emu_cli.h"
#include "emu/emu_import_kvm.h"

static void usage_import(FILE *f)
{
    fputs("usage: apicv-emu import-kvm [OPTIONS] LOG\n"
          "\n"
          "Reads a KVM trace as `trace-cmd report` or ftrace's `trace` file print it\n"
          "(kvm_entry, kvm_exit of every kernel's layout, kvm_apic_accept_irq,\n"
          "kvm_apicv_accept_irq, kvm_apic_ipi, kvm_apic, kvm_eoi, kvm_msr, kvm_inj_virq,\n"
          "kvm_pi_irte_update, kvm_ple_window_update, kvm_wait_lapic_expire,\n"
          "kvm_hv_timer_state, kvm_vcpu_wakeup) and writes a scenario that replays the\n"
          "interrupts each vCPU accepted on our machine, in the mode the trace's exits\n"
          "show (no EOI exits => APICv). Unknown events are counted and listed;\n"
          "malformed lines are reported as LOG:LINE and skipped. A summary of what was\n"
          "read and inferred goes to standard error (docs/import-kvm.md).\n"
          "Exit status: 0, or the run's status with --run; 2 for bad options or a LOG\n"
          "with no KVM tracepoint line or no vCPU in it.\n"
          "\n"
          "options:\n"
          "  -o, --output FILE   write the scenario to FILE (default: standard output;\n"
          "                      with --run and no -o, a temporary file)\n"
          "  --mode M            replay in mode M instead of the inferred one\n"
          "  --cycles-per-us N   our cycles per microsecond of the trace (default 3000, a\n"
          "                      3 GHz host); compressed further when the trace is long\n"
          "  --from SECONDS, --to SECONDS   replay only the interrupts accepted in that\n"
          "                      part of the trace (timestamps as printed); the mode is\n"
          "                      still inferred from the whole trace\n"
          "  --run               run the scenario at once (`apicv-emu run FILE`): the\n"
          "                      window when there is a display\n"
          "  --headless, --stats, --quiet   passed to the run (see apicv-emu run --help)\n"
          "  --help              this text\n",
          f);
}

int emu_cli_import_kvm(int argc, char **argv, const emu_frontend *fe)
{
    static const struct option lopts[] = {
        {"output", required_argument, 0, 'o'}, {"mode", required_argument, 0, 'm'},
        {"cycles-per-us", required_argument, 0, 'c'}, {"run", no_argument, 0, 'r'},
        {"from", required_argument, 0, 'f'},   {"to", required_argument, 0, 't'},
        {"headless", no_argument, 0, 'H'},     {"stats", no_argument, 0, 'S'},
        {"quiet", no_argument, 0, 'Q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    emu_kvm_import_opts opts = {0};
    const char *out_path = NULL;
    bool run = false, headless = false, stats = false, quiet = false;
    uint64_t v;
    optind = 1;
    opterr = 0;
    for (;;) {
        int o = getopt_long(argc, argv, "ho:", lopts, NULL);
        if (o == -1)
            break;
        switch (o) {
        case 'o':
            out_path = optarg;
            break;
        case 'm':
            if (!emu_mode_parse(optarg, &opts.mode) || opts.mode == EMU_MODE_NATIVE) {
                fprintf(stderr, "apicv-emu import-kvm: --mode: expected emulated, tpr-shadow, "
                                "apicv or posted, got '%s'\n",
                        optarg);
                return EMU_EXIT_USAGE;
            }
            opts.mode_given = true;
            break;
        case 'c':
            if (!emu_cli_parse_u64("--cycles-per-us", optarg, 1, 1000000, &v))
                return EMU_EXIT_USAGE;
            opts.cycles_per_us = v;
            break;
        case 'f':
        case 't':
            if (!emu_kvm_parse_seconds(optarg, o == 'f' ? &opts.from_ns : &opts.to_ns)) {
                fprintf(stderr, "apicv-emu import-kvm: --%s: expected a timestamp in seconds as "
                                "the trace prints them (1234.567890), got '%s'\n",
                        o == 'f' ? "from" : "to", optarg);
                return EMU_EXIT_USAGE;
            }
            break;
        case 'r':
            run = true;
            break;
        case 'H':
            headless = true;
            break;
        case 'S':
            stats = true;
            break;
        case 'Q':
            quiet = true;
            break;
        case 'h':
            usage_import(stdout);
            return 0;
        default:
            fprintf(stderr, "apicv-emu import-kvm: unknown option or missing value '%s' (see "
                            "apicv-emu import-kvm --help)\n",
                    argv[optind - 1]);
            return EMU_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "apicv-emu import-kvm: expected one LOG, got %d arguments (see apicv-emu "
                        "import-kvm --help)\n",
                argc - optind);
        return EMU_EXIT_USAGE;
    }
    const char *log_path = argv[optind];
    char err[600];
    static emu_kvm_log log;
    static emu_kvm_import imp;
    if (!emu_kvm_read(log_path, &log, stderr, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu import-kvm: %s\n", err);
        return EMU_EXIT_USAGE;
    }
    if (!emu_kvm_analyse(&log, &opts, &imp, err, sizeof(err))) {
        emu_kvm_print_summary(&log, NULL, stderr);
        fprintf(stderr, "apicv-emu import-kvm: %s: nothing to import\n", err);
        emu_kvm_log_free(&log);
        return EMU_EXIT_USAGE;
    }
    emu_kvm_print_summary(&log, &imp, stderr);
    char tmp[] = "/tmp/apicv-import-XXXXXX.scn";
    FILE *out = stdout;
    if (out_path) {
        out = fopen(out_path, "w");
    } else if (run) {
        int fd = mkstemps(tmp, 4);
        out = fd >= 0 ? fdopen(fd, "w") : NULL;
        out_path = tmp;
    }
    if (!out) {
        fprintf(stderr, "apicv-emu import-kvm: %s: %s\n", out_path, strerror(errno));
        emu_kvm_log_free(&log);
        return EMU_EXIT_USAGE;
    }
    bool ok = emu_kvm_write_scenario(&log, &imp, out);
    ok = (out == stdout ? fflush(out) == 0 : fclose(out) == 0) && ok;
    emu_kvm_log_free(&log);
    if (!ok) {
        fprintf(stderr, "apicv-emu import-kvm: %s: write failed\n",
                out_path ? out_path : "standard output");
        return EMU_EXIT_USAGE;
    }
    if (!run) {
        if (out_path)
            fprintf(stderr, "import-kvm: wrote %s; run it with: apicv-emu run %s\n", out_path,
                    out_path);
        return 0;
    }
    fprintf(stderr, "import-kvm: running %s\n", out_path);
    char *rargv[6];
    int rargc = 0;
    rargv[rargc++] = "run";
    if (headless)
        rargv[rargc++] = "--headless";
    if (stats)
        rargv[rargc++] = "--stats";
    if (quiet)
        rargv[rargc++] = "--quiet";
    rargv[rargc++] = (char *)out_path;
    rargv[rargc] = NULL;
    int status = emu_cli_run(rargc, rargv, fe);
    if (out_path == tmp)
        unlink(tmp);
    return status;
}
