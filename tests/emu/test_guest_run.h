/*
 * test_guest_run.h — running a guest image on a whole machine in a test,
 * the way `apicv-emu run` does: emu_machine_init in the mode under test
 * (the built-in hypervisor attached for the VMX modes), the console
 * captured. Shared by the guest-level tests of tests/emu/.
 */
#ifndef APICV_TEST_GUEST_RUN_H
#define APICV_TEST_GUEST_RUN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"

typedef struct guest_run {
    emu_machine m;
    char out[16384];
    size_t outlen;
} guest_run;

static inline void guest_run_console(void *ctx, unsigned cpu, uint8_t byte)
{
    guest_run *r = ctx;
    (void)cpu;
    if (r->outlen + 1 < sizeof(r->out))
        r->out[r->outlen++] = (char)byte;
    r->out[r->outlen] = 0;
}

/* A configuration for guests/<name>.elf: the defaults with ncpus vCPUs,
 * the mode and the cycle cap given; the caller may change more fields. */
static inline emu_config guest_run_config(emu_mode mode, unsigned ncpus, uint64_t max_cycles)
{
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = ncpus;
    cfg.max_cycles = max_cycles;
    cfg.mode = mode;
    return cfg;
}

/* Loads guests/<name>.elf on a new machine with cfg and captures its
 * console; the run has not started (the caller may adjust the machine). */
static inline guest_run *guest_run_load(const char *name, const emu_config *cfg)
{
    guest_run *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/%s.elf", APICV_GUEST_DIR, name);
    ck_assert_msg(emu_machine_init(&r->m, cfg, path, err, sizeof(err)), "%s: %s", name, err);
    r->m.console = guest_run_console;
    r->m.console_ctx = r;
    return r;
}

/* Loads and runs guests/<name>.elf to its end (or cfg's cycle cap). */
static inline guest_run *guest_run_cfg(const char *name, const emu_config *cfg)
{
    guest_run *r = guest_run_load(name, cfg);
    emu_machine_run(&r->m, UINT64_MAX);
    return r;
}

static inline guest_run *guest_run_start(const char *name, emu_mode mode, unsigned ncpus,
                                         uint64_t max_cycles)
{
    emu_config cfg = guest_run_config(mode, ncpus, max_cycles);
    return guest_run_cfg(name, &cfg);
}

/* The run ended by the guest with status 0, or the test fails with the
 * diagnostic and the console output. */
static inline void guest_run_assert_ok(const guest_run *r, const char *name)
{
    ck_assert_msg(r->m.finished && r->m.exit_status == 0, "%s (%s): status %d %s\n%s", name,
                  emu_mode_name(r->m.cfg.mode), r->m.exit_status, r->m.diag, r->out);
}

static inline void guest_run_free(guest_run *r)
{
    emu_machine_free(&r->m);
    free(r);
}

#endif
