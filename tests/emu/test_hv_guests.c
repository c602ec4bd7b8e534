/*
 * test_hv_guests.c — the general guest programs (guests/ programs written for
 * any mode) under the built-in hypervisor in every VMX mode: they must
 * end as they do natively (status 0, their output), with only the exits
 * the hypervisor needs (their console output is port I/O: exit 30).
 */
#include "tests/emu/test_hv_support.h"

#define MAX_CYCLES 2000000000ull

static const emu_mode modes[] = {EMU_MODE_EMULATED, EMU_MODE_TPR_SHADOW, EMU_MODE_APICV,
                                 EMU_MODE_POSTED};

static void run_everywhere(const char *guest, unsigned ncpus, const char *expect)
{
    for (unsigned i = 0; i < 4; i++) {
        hv_run *r = hv_run_guest(guest, modes[i], ncpus, MAX_CYCLES);
        ck_assert_msg(r->status == 0, "%s (%s): status %d: %s\n%s", guest,
                      emu_mode_name(modes[i]), r->status, r->m.diag, r->out);
        if (expect)
            ck_assert_msg(strstr(r->out, expect) != NULL, "%s (%s): no \"%s\" in\n%s", guest,
                          emu_mode_name(modes[i]), expect, r->out);
        /* Every console byte was one I/O exit on some vCPU. */
        uint64_t io = 0;
        for (unsigned k = 0; k < ncpus; k++)
            io += emu_hv_exit_count(r->hv, k, VMX_EXIT_IO);
        ck_assert_uint_ge(io, r->outlen);
        hv_run_free(r);
    }
}

START_TEST(hello) { run_everywhere("hello", 2, NULL); }
END_TEST
/* IPIs, self-IPIs, TPR and the one-shot APIC timer (emulated by the
 * hypervisor on the software APIC in every mode), xAPIC and x2APIC. */
START_TEST(apic_ipi_guest) { run_everywhere("apic_ipi", 3, "timer on 3 vCPUs OK"); }
END_TEST
START_TEST(ticker) { run_everywhere("ticker", 2, NULL); }
END_TEST
/* CR8 is TPR[7:4]: CR8 exiting on the software APIC (emulated), VTPR
 * through TPR shadow (the others). */
START_TEST(machine_cr8) { run_everywhere("machine_cr8", 1, "machine_cr8: OK"); }
END_TEST
/* The guest's APIC globally disabled: CPUID.01H:EDX.APIC follows
 * IA32_APIC_BASE.EN, and enabling it again resets the xAPIC ID. */
START_TEST(machine_apic_off) { run_everywhere("machine_apic_off", 1, "machine_apic_off: OK (ID written 5, 0"); }
END_TEST
/* One-shot, periodic and TSC-deadline timers of the guest's APIC. */
START_TEST(machine_timer) { run_everywhere("machine_timer", 1, "machine_timer: oneshot="); }
END_TEST
/* A physical IPI reaches the APIC whose xAPIC ID software changed: the
 * hypervisor's routing follows the ID written on the virtual-APIC page. */
START_TEST(xapic_id_ipi) { run_everywhere("xapic_id_ipi", 2, "xapic id ipi: 1 to ID 5\n"); }
END_TEST
/* A TSC deadline already passed when written fires before the next
 * instruction boundary the guest can take it at (SDM 11.5.4.1), xAPIC and
 * x2APIC: the vector leaves the software APIC for VIRR/PIR at once. */
START_TEST(tsc_deadline_past)
{
    run_everywhere("tsc_deadline_past", 1, "tsc deadline past: xapic 1, x2apic 1\n");
}
END_TEST
/* Physical, logical, broadcast, shorthands, lowest priority and an NMI
 * between vCPUs. */
START_TEST(machine_ipi) { run_everywhere("machine_ipi", 3, "machine_ipi: cpu2"); }
END_TEST
/* Back-to-back NMIs: the guest's NMI blocking must end at each IRET
 * (virtual NMIs), or the second NMI could never be delivered. */
START_TEST(three_nmis) { run_everywhere("hv_nmi", 2, "nmi 3 handled"); }
END_TEST

/* The x2APIC timer count read goes to the software APIC (apicv, posted). */
START_TEST(x2apic_timer_count) { run_everywhere("hv_tmcct", 1, "x2APIC TMCCT"); }
END_TEST

static void machine_console(void *ctx, unsigned cpu, uint8_t byte)
{
    char *buf = ctx;
    size_t n = strlen(buf);
    (void)cpu;
    if (n + 1 < 4096)
        buf[n] = (char)byte;
}

/* HLT ends only for an interrupt above the task priority (posted: the
 * masked vector waits in PIR). Through the machine: the guest uses the
 * MSI device on port 0xF0, which the machine's queue carries. */
START_TEST(hlt_respects_tpr)
{
    for (unsigned mode = EMU_MODE_NATIVE; mode < EMU_MODE_COUNT; mode++) {
        emu_machine *m = calloc(1, sizeof(*m));
        char *out = calloc(1, 4096), err[512];
        emu_config cfg;
        emu_config_default(&cfg);
        cfg.mode = (emu_mode)mode;
        cfg.max_cycles = 10000000;
        ck_assert_msg(emu_machine_init(m, &cfg, APICV_GUEST_DIR "/hv_hlt_tpr.elf", err, sizeof(err)),
                      "%s", err);
        m->console = machine_console;
        m->console_ctx = out;
        emu_machine_run(m, UINT64_MAX);
        ck_assert_msg(m->exit_status == 0 && strstr(out, "after CR8=0 51h=1"),
                      "mode %s: status %d %s\n%s", emu_mode_name((emu_mode)mode), m->exit_status,
                      m->diag, out);
        emu_machine_free(m);
        free(m);
        free(out);
    }
}
END_TEST

START_TEST(hypercalls) { run_everywhere("hypercalls", 2, NULL); }
END_TEST
START_TEST(selftest) { run_everywhere("selftest", 1, NULL); }
END_TEST
/* The long one in the default mode only (CPU-bound: no exits but I/O). */
START_TEST(workload)
{
    hv_run *r = hv_run_guest("workload", EMU_MODE_POSTED, 1, MAX_CYCLES);
    ck_assert_msg(r->status == 0, "status %d: %s\n%s", r->status, r->m.diag, r->out);
    hv_run_free(r);
}
END_TEST

static Suite *hv_guests_suite(void)
{
    Suite *s = suite_create("hv_guests");
    TCase *tc = tcase_create("guests");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, hello);
    tcase_add_test(tc, ticker);
    tcase_add_test(tc, machine_ipi);
    tcase_add_test(tc, machine_cr8);
    tcase_add_test(tc, machine_apic_off);
    tcase_add_test(tc, machine_timer);
    tcase_add_test(tc, tsc_deadline_past);
    tcase_add_test(tc, xapic_id_ipi);
    tcase_add_test(tc, apic_ipi_guest);
    tcase_add_test(tc, hypercalls);
    tcase_add_test(tc, three_nmis);
    tcase_add_test(tc, x2apic_timer_count);
    tcase_add_test(tc, hlt_respects_tpr);
    tcase_add_test(tc, selftest);
    tcase_add_test(tc, workload);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hv_guests_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
