/*
 * emu_cli.c — the command line of apicv-emu: the dispatch to each command
 * (run: emu_cli_run.c, info: emu_cli_info.c, bench: emu_cli_bench.c,
 * import-kvm: emu_cli_import.c, replay: emu_replay_cli.c, compare:
 * emu_compare.c) and what they share.
 *
 * Bad input gets a message naming the option or file and what was expected,
 * and exit status 2; the guest's own exit status is passed through
 * (docs/cli.md, guest ABI "Exit status").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu/emu.h"
#include "emu/emu_cli.h"
#include "emu/emu_compare.h"
#include "emu/emu_record.h"
#include "traces/trace.h"

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
          "  import-kvm LOG      a real KVM trace (trace-cmd report, ftrace) as a scenario\n"
          "  --help, -h          this text (every command has its own --help)\n"
          "  --version           the emulator version\n",
          f);
}

bool emu_cli_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
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

double emu_cli_host_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs a machine to the end, with a progress line on a terminal. Host time
 * only decides when to print: it never touches the machine. */
void emu_cli_run_to_end(emu_machine *m, bool progress, double *seconds)
{
    double t0 = emu_cli_host_seconds(), last = t0;
    const uint64_t slice = 20000000;
    bool printed = false;
    while (!emu_machine_run(m, m->now + slice)) {
        if (emu_stop_requested(m))
            break;
        if (progress) {
            double t = emu_cli_host_seconds();
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
    *seconds = emu_cli_host_seconds() - t0;
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
        return emu_cli_run(argc - 1, argv + 1, fe);
    if (strcmp(cmd, "replay") == 0)
        return emu_replay_cli(argc - 1, argv + 1, fe);
    if (strcmp(cmd, "trace-dump") == 0)
        return trace_dump_main(argc - 1, argv + 1, &emu_trace_names);
    if (strcmp(cmd, "info") == 0)
        return emu_cli_info(argc - 1, argv + 1);
    if (strcmp(cmd, "compare") == 0)
        return emu_compare_main(argc - 1, argv + 1, fe);
    if (strcmp(cmd, "bench") == 0)
        return emu_cli_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "import-kvm") == 0)
        return emu_cli_import_kvm(argc - 1, argv + 1, fe);
    fprintf(stderr, "apicv-emu: unknown command '%s' (expected run, replay, trace-dump, info, compare, bench or import-kvm; see apicv-emu --help)\n",
            cmd);
    return EMU_EXIT_USAGE;
}
