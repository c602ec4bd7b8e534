/*
 * test_hv_support.h — running a guest image under the built-in hypervisor
 * in a test: a machine is created (guest loaded, entry state) in native
 * mode, the hypervisor is created on it in the mode under test, and
 * emu_hv_run_machine schedules the vCPUs. The console is captured.
 */
#ifndef APICV_TEST_HV_SUPPORT_H
#define APICV_TEST_HV_SUPPORT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_hv.h"

typedef struct hv_run {
    emu_machine m;
    emu_hv *hv;
    char out[16384];
    size_t outlen;
    int status;
} hv_run;

static inline void hv_run_console(void *ctx, unsigned cpu, uint8_t byte)
{
    hv_run *r = ctx;
    (void)cpu;
    if (r->outlen + 1 < sizeof(r->out))
        r->out[r->outlen++] = (char)byte;
    r->out[r->outlen] = 0;
}

/* Runs guests/<name>.elf with ncpus vCPUs in mode; returns the run (free
 * it with hv_run_free). The run is capped at max_cycles. An observer fn
 * (may be NULL) listens on the machine's bus during the run. */
static inline hv_run *hv_run_guest_obs(const char *name, emu_mode mode, unsigned ncpus,
                                       uint64_t max_cycles, cpu_obs_fn fn, void *ctx)
{
    hv_run *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/%s.elf", APICV_GUEST_DIR, name);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = ncpus;
    cfg.max_cycles = max_cycles;
    cfg.mode = EMU_MODE_NATIVE;
    ck_assert_msg(emu_machine_init(&r->m, &cfg, path, err, sizeof(err)), "%s", err);
    r->m.cfg.mode = mode;
    r->m.console = hv_run_console;
    r->m.console_ctx = r;
    r->hv = emu_hv_create(&r->m, mode, NULL, err, sizeof(err));
    ck_assert_msg(r->hv != NULL, "%s", err);
    if (fn)
        cpu_obs_subscribe(&r->m.obs, fn, ctx);
    emu_hv_run_machine(r->hv, UINT64_MAX);
    if (fn)
        cpu_obs_unsubscribe(&r->m.obs, fn, ctx);
    r->status = r->m.exit_status;
    if (getenv("HV_TEST_VERBOSE"))
        fprintf(stderr, "--- %s (%s, %u vCPUs): status %d %s\n%s", name, emu_mode_name(mode), ncpus,
                r->status, r->m.diag, r->out);
    return r;
}

static inline hv_run *hv_run_guest(const char *name, emu_mode mode, unsigned ncpus,
                                   uint64_t max_cycles)
{
    return hv_run_guest_obs(name, mode, ncpus, max_cycles, NULL, NULL);
}

static inline void hv_run_free(hv_run *r)
{
    emu_hv_free(r->hv);
    emu_machine_free(&r->m);
    free(r);
}

/* The value of key=<n> in the RESULT line of a phase and cpu, -1 if absent. */
static inline long hv_result(const hv_run *r, const char *phase, unsigned cpu, const char *key)
{
    char head[64];
    snprintf(head, sizeof(head), "RESULT %s cpu=%u ", phase, cpu);
    const char *line = strstr(r->out, head);
    if (!line)
        return -1;
    const char *eol = strchr(line, '\n');
    char k[32];
    snprintf(k, sizeof(k), " %s=", key);
    const char *p = strstr(line, k);
    if (!p || (eol && p > eol))
        return -1;
    return strtol(p + strlen(k), NULL, 10);
}

#endif
