/*
 * test_stats.c — --stats counts what the guest took, per path: virtual-
 * interrupt deliveries (self-IPI virtualization included, not only what
 * the hypervisor put in VIRR) and virtual NMIs; exit reasons by name; the
 * run's cycles are the furthest CPU's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_hv.h"
#include "vmx/vmx.h"

typedef struct counted {
    emu_machine m;
    uint64_t vid_events[CPU_MAX_CPUS], vnmi_events[CPU_MAX_CPUS];
    char *report;
    size_t report_len;
} counted;

static void count(void *ctx, const cpu_obs_event *ev)
{
    counted *c = ctx;
    if (ev->kind == VMX_EV_VINTR_DELIVERED)
        c->vid_events[ev->cpu]++;
    if (ev->kind == VMX_EV_EVENT_INJECTED && ev->b == 2)
        c->vnmi_events[ev->cpu]++;
}

static counted *run_guest(const char *name, emu_mode mode, unsigned ncpus)
{
    counted *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/%s.elf", APICV_GUEST_DIR, name);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = ncpus;
    cfg.mode = mode;
    ck_assert_msg(emu_machine_init(&c->m, &cfg, path, err, sizeof(err)), "%s", err);
    cpu_obs_subscribe(&c->m.obs, count, c);
    while (!emu_machine_run(&c->m, c->m.now + 10000000))
        ;
    ck_assert_int_eq(c->m.exit_status, 0);
    FILE *f = open_memstream(&c->report, &c->report_len);
    emu_print_stats(f, &c->m, 0);
    fclose(f);
    return c;
}

static void free_counted(counted *c)
{
    emu_machine_free(&c->m);
    free(c->report);
    free(c);
}

/* The row of cpuK in the per-path table: apic nmi injection vid vnmi posted. */
static void row(const counted *c, unsigned k, uint64_t col[6])
{
    char key[32];
    snprintf(key, sizeof(key), "stats:   cpu%-3u", k);
    const char *p = strstr(c->report, key);
    ck_assert_ptr_nonnull(p);
    unsigned long long v[6];
    ck_assert_int_eq(sscanf(p + strlen(key), "%llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                            &v[3], &v[4], &v[5]),
                     6);
    for (int i = 0; i < 6; i++)
        col[i] = v[i];
}

START_TEST(self_ipis_count_as_vid)
{
    /* hv_apicv's self-IPIs are virtualized (SDM 30.1.5): no exit, no
     * hypervisor, yet each is a virtual-interrupt delivery. */
    counted *c = run_guest("hv_apicv", EMU_MODE_APICV, 2);
    uint64_t col[6];
    row(c, 0, col);
    ck_assert_uint_eq(col[3], c->vid_events[0]);
    ck_assert_uint_gt(col[3], emu_hv_delivered(c->m.hv, 0, EMU_HV_PATH_VIRR));
    ck_assert_ptr_nonnull(strstr(c->report, "injection          vid         vnmi       posted"));
    free_counted(c);
}
END_TEST

START_TEST(virtual_nmis_count)
{
    counted *c = run_guest("hv_nmi", EMU_MODE_POSTED, 2);
    uint64_t col[6];
    row(c, 1, col);
    ck_assert_uint_eq(c->vnmi_events[1], 3);
    ck_assert_uint_eq(col[4], 3);
    ck_assert_uint_eq(col[1], 0); /* not a native NMI */
    free_counted(c);
}
END_TEST

START_TEST(exit_reasons_by_name_and_cycles)
{
    counted *c = run_guest("hv_nmi", EMU_MODE_POSTED, 2);
    ck_assert_ptr_nonnull(strstr(c->report, "reason 56 APIC_WRITE"));
    uint64_t furthest = 0;
    for (unsigned k = 0; k < 2; k++)
        if (c->m.cpu[k].cycles > furthest)
            furthest = c->m.cpu[k].cycles;
    char want[64];
    snprintf(want, sizeof(want), "2 cpu(s), %llu cycles", (unsigned long long)furthest);
    ck_assert_ptr_nonnull(strstr(c->report, want));
    free_counted(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *t = tcase_create("stats");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, self_ipis_count_as_vid);
    tcase_add_test(t, virtual_nmis_count);
    tcase_add_test(t, exit_reasons_by_name_and_cycles);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
