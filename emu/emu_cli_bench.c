/*
 * emu_cli_bench.c — `apicv-emu bench`: guest MIPS natively, VM-exit round
 * trips of the built-in hypervisor and of a guest hypervisor.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_cli.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "vmx/vmx_root.h"

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
    emu_cli_run_to_end(&m, false, &secs);
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
    emu_cli_run_to_end(&m, false, &secs);
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
    emu_cli_run_to_end(&m, false, &secs);
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

int emu_cli_bench(int argc, char **argv)
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
    else if (!emu_exe_guest_dir(dir, sizeof(dir)))
        snprintf(dir, sizeof(dir), "guests");
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
