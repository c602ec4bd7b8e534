/*
 * test_hv_glue.c — the hypervisor attached the machine's way
 * (emu_hv_machine_ops): the host APICs are the machine's m->apic[], timed
 * work and device interrupts go through the machine's event queue and MSI
 * device, statistics and the digest through the ops table. The device and
 * IPI workload of guests/hv_irq.c must behave as with the stand-alone
 * queue, and two identical runs must end with the same digest.
 */
#include "tests/emu/test_hv_support.h"

#define MAX_CYCLES 400000000ull

typedef struct glued {
    emu_machine m;
    char out[16384];
    size_t outlen;
} glued;

static void glued_console(void *ctx, unsigned cpu, uint8_t byte)
{
    glued *g = ctx;
    (void)cpu;
    if (g->outlen + 1 < sizeof(g->out))
        g->out[g->outlen++] = (char)byte;
    g->out[g->outlen] = 0;
}

static glued *run_glued_sched(const char *guest, emu_mode mode, unsigned ncpus, bool machine_sched)
{
    glued *g = calloc(1, sizeof(*g));
    ck_assert_ptr_nonnull(g);
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/%s.elf", APICV_GUEST_DIR, guest);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = ncpus;
    cfg.max_cycles = MAX_CYCLES;
    cfg.mode = mode;
    /* emu_machine_init attaches the hypervisor of every VMX mode. */
    ck_assert_msg(emu_machine_init(&g->m, &cfg, path, err, sizeof(err)), "%s", err);
    g->m.console = glued_console;
    g->m.console_ctx = g;
    ck_assert_ptr_eq(g->m.hv_ops, &emu_hv_machine_ops);
    ck_assert_ptr_nonnull(g->m.hv);
    emu_hv *hv = g->m.hv;
    ck_assert(hv->machine_queue);
    ck_assert_ptr_eq(hv->vcpu[ncpus - 1].host_apic, &g->m.apic[ncpus - 1]);
    if (machine_sched)
        emu_machine_run(&g->m, UINT64_MAX);
    else
        emu_hv_run_machine(hv, UINT64_MAX);
    return g;
}

static glued *run_glued_guest(const char *guest, emu_mode mode, unsigned ncpus)
{
    return run_glued_sched(guest, mode, ncpus, false);
}

static glued *run_glued(emu_mode mode, unsigned ncpus)
{
    return run_glued_guest("hv_irq", mode, ncpus);
}

static void free_glued(glued *g)
{
    emu_machine_free(&g->m);
    ck_assert_ptr_null(g->m.hv);
    free(g);
}

static long result(const glued *g, const char *phase, unsigned cpu, const char *key)
{
    hv_run r;
    memcpy(r.out, g->out, sizeof(r.out));
    return hv_result(&r, phase, cpu, key);
}

START_TEST(posted_through_machine_queue)
{
    glued *g = run_glued(EMU_MODE_POSTED, 2);
    ck_assert_msg(g->m.exit_status == 0, "status %d: %s\n%s", g->m.exit_status, g->m.diag, g->out);
    const char *phases[] = {"msi", "ipi", "ipi-x2"};
    for (unsigned p = 0; p < 3; p++) {
        ck_assert_int_eq(result(g, phases[p], 1, "got"), 16);
        ck_assert_int_eq(result(g, phases[p], 1, "exits"), 0);
    }
    ck_assert_int_eq(result(g, "self", 0, "exits"), 0);
    /* SEND_MSI went through the machine's MSI device. */
    ck_assert_uint_ge(g->m.stats.msi_delivered, 32);
    ck_assert_uint_eq(g->m.hv_ops->delivered(&g->m, 1, EMU_HV_PATH_POSTED), 48);
    ck_assert_uint_eq(g->m.hv_ops->exit_count(&g->m, 1, VMX_EXIT_EXTERNAL_INTERRUPT), 0);
    free_glued(g);
}
END_TEST

START_TEST(emulated_through_machine_queue)
{
    glued *g = run_glued(EMU_MODE_EMULATED, 2);
    ck_assert_msg(g->m.exit_status == 0, "status %d: %s\n%s", g->m.exit_status, g->m.diag, g->out);
    ck_assert_int_eq(result(g, "msi", 1, "got"), 16);
    ck_assert_int_ge(result(g, "msi", 1, "exits"), 32);
    ck_assert_uint_eq(g->m.hv_ops->delivered(&g->m, 1, EMU_HV_PATH_INJECT), 48);
    free_glued(g);
}
END_TEST

/* The machine's MSI device (port 0xF0) from a guest under the hypervisor:
 * each CPU gets its vector, delivered the mode's way. */
START_TEST(msi_device_port)
{
    const emu_mode modes[] = {EMU_MODE_EMULATED, EMU_MODE_APICV, EMU_MODE_POSTED};
    const enum emu_hv_path paths[] = {EMU_HV_PATH_INJECT, EMU_HV_PATH_VIRR, EMU_HV_PATH_POSTED};
    for (unsigned i = 0; i < 3; i++) {
        glued *g = run_glued_guest("machine_msi", modes[i], 3);
        ck_assert_msg(g->m.exit_status == 0, "%s: status %d: %s\n%s", emu_mode_name(modes[i]),
                      g->m.exit_status, g->m.diag, g->out);
        ck_assert_ptr_nonnull(strstr(g->out, "machine_msi: cpu2 vector 0x72"));
        for (unsigned k = 0; k < 3; k++)
            ck_assert_uint_eq(g->m.hv_ops->delivered(&g->m, k, paths[i]), 1);
        free_glued(g);
    }
}
END_TEST

/* The machine's own scheduler (emu_machine_run) running the vCPUs through
 * hv_ops->run: the same workload, the same exits per interrupt. */
START_TEST(machine_scheduler)
{
    const emu_mode modes[] = {EMU_MODE_EMULATED, EMU_MODE_TPR_SHADOW, EMU_MODE_APICV,
                              EMU_MODE_POSTED};
    for (unsigned i = 0; i < 4; i++) {
        glued *g = run_glued_sched("hv_irq", modes[i], 2, true);
        ck_assert_msg(g->m.exit_status == 0, "%s: status %d: %s\n%s", emu_mode_name(modes[i]),
                      g->m.exit_status, g->m.diag, g->out);
        long e = result(g, "msi", 1, "exits");
        ck_assert_int_eq(result(g, "msi", 1, "got"), 16);
        ck_assert_int_eq(result(g, "ipi-x2", 1, "got"), 16);
        if (modes[i] == EMU_MODE_POSTED)
            ck_assert_int_eq(e, 0);
        else if (modes[i] == EMU_MODE_APICV)
            ck_assert_int_eq(e, 16);
        else
            ck_assert_int_ge(e, 32);
        free_glued(g);
    }
    glued *g = run_glued_sched("hv_sleep", EMU_MODE_POSTED, 2, true);
    ck_assert_msg(g->m.exit_status == 0, "status %d: %s\n%s", g->m.exit_status, g->m.diag, g->out);
    ck_assert_ptr_nonnull(strstr(g->out, "RESULT desched got=1"));
    free_glued(g);
    g = run_glued_sched("machine_timer", EMU_MODE_APICV, 1, true);
    ck_assert_msg(g->m.exit_status == 0, "status %d: %s\n%s", g->m.exit_status, g->m.diag, g->out);
    free_glued(g);
}
END_TEST

/* A vCPU spinning on PAUSE yields its slice to the machine's scheduler
 * (no VM exit: docs/machine.md "PAUSE yields"), so it sees the flag vCPU 1
 * writes within the yield gap, in every mode (the guest checks it). */
START_TEST(pause_yield_under_hv)
{
    const emu_mode modes[] = {EMU_MODE_EMULATED, EMU_MODE_TPR_SHADOW, EMU_MODE_APICV,
                              EMU_MODE_POSTED};
    for (unsigned i = 0; i < 4; i++) {
        glued *g = run_glued_sched("pause_yield", modes[i], 2, true);
        ck_assert_msg(g->m.exit_status == 0, "%s: status %d: %s\n%s", emu_mode_name(modes[i]),
                      g->m.exit_status, g->m.diag, g->out);
        ck_assert_ptr_nonnull(strstr(g->out, "pause_yield: OK"));
        free_glued(g);
    }
}
END_TEST

START_TEST(digest_repeats)
{
    uint64_t d[2];
    for (unsigned i = 0; i < 2; i++) {
        glued *g = run_glued(EMU_MODE_POSTED, 2);
        d[i] = 0xCBF29CE484222325ull;
        g->m.hv_ops->digest(&g->m, &d[i]);
        free_glued(g);
    }
    ck_assert_uint_eq(d[0], d[1]);
    ck_assert_uint_ne(d[0], 0xCBF29CE484222325ull);
}
END_TEST

static Suite *hv_glue_suite(void)
{
    Suite *s = suite_create("hv_glue");
    TCase *tc = tcase_create("glue");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, posted_through_machine_queue);
    tcase_add_test(tc, emulated_through_machine_queue);
    tcase_add_test(tc, msi_device_port);
    tcase_add_test(tc, machine_scheduler);
    tcase_add_test(tc, pause_yield_under_hv);
    tcase_add_test(tc, digest_repeats);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hv_glue_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
