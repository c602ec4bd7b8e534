/*
 * test_hv_loops.c — the host side never spins in place (issue 8, item 6).
 * Each configuration below once made the built-in hypervisor exit and
 * re-enter forever without the guest moving: a VM exit and a VM entry took
 * no cycles, so even --max-cycles never ended the run. Now the transitions
 * cost cycles (docs/cost-model.md), the hypervisor handles each exit so
 * that the guest goes on, and an exit loop that still makes no progress
 * ends the run with status 3 and a diagnostic.
 *
 * Every run is bounded (max-cycles) and its status asserted; a hang shows
 * as the test's timeout.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_scenario.h"
#include "test_hv_support.h"

static emu_machine machine;
static emu_scenario scn;

/* Runs scenario text as if it lived in the guest directory; returns the
 * scenario's status (expectations checked) with their report in report. */
static int run_text(const char *text, char *report, size_t replen)
{
    char err[600], g[1200], name[1200];
    snprintf(name, sizeof(name), "%s/t.scn", APICV_GUEST_DIR);
    ck_assert_msg(emu_scenario_parse(name, text, &scn, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_guest_path(&scn, NULL, g, sizeof(g), err, sizeof(err)), "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mem_bytes = 8u << 20;
    emu_scenario_config(&scn, &cfg);
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_apply(&scn, &machine, err, sizeof(err)), "%s", err);
    while (!emu_machine_run(&machine, machine.now + 1000000))
        ;
    FILE *f = fmemopen(report, replen, "w");
    int st = emu_scenario_check(&scn, f);
    fclose(f);
    return st;
}

static void finish_run(void)
{
    emu_machine_free(&machine);
    emu_scenario_free(&scn);
}

static void assert_ran_to_end(const char *text)
{
    char report[2000] = "";
    int st = run_text(text, report, sizeof(report));
    ck_assert_msg(machine.exit_status == 0, "guest status %d (%s)", machine.exit_status, machine.diag);
    ck_assert_msg(st == 0, "scenario status %d: %s", st, report);
    finish_run();
}

/* a. The VMX-preemption timer armed with 0 (a scenario's vmcs lines: the
 * pin control and the value) exits before the first guest instruction
 * (SDM 25.5.1). The host soft-disables it on the exit, as KVM does, so
 * the guest runs on: one exit 52, and hello.elf ends with status 0. */
START_TEST(preemption_timer_zero_from_scenario)
{
    assert_ran_to_end("apicv-scenario 1\n"
                      "guest hello.elf\n"
                      "mode posted\n"
                      "max-cycles 5000000\n"
                      "vmcs 0x4000 0xFF\n" /* posted-mode pin controls + preemption timer */
                      "vmcs 0x482E 0\n"
                      "expect end exits cpu=0 reason=52 == 1\n"
                      "expect end status == 0\n");
}
END_TEST

/* a, from the guest: hv_preempt_zero.elf arms the timer with 0 through
 * VMCS_WRITE; in every VMX mode it must see one exit 52 and go on. Run by
 * the hypervisor's stand-alone scheduler (emu_hv_run_machine). */
START_TEST(preemption_timer_zero_from_guest)
{
    emu_mode mode = (emu_mode)(EMU_MODE_EMULATED + _i);
    hv_run *r = hv_run_guest("hv_preempt_zero", mode, 1, 5000000);
    ck_assert_msg(r->status == 0, "%s: status %d (%s) %s", emu_mode_name(mode), r->status,
                  r->m.diag, r->out);
    ck_assert_ptr_nonnull(strstr(r->out, "preemption timer 0: 1 exit, then soft-disabled"));
    hv_run_free(r);
}
END_TEST

/* b. "Acknowledge interrupt on exit" = 0 (exit controls without bit 15) and
 * a host interrupt: the exit (1) leaves it in the host APIC's IRR. The host
 * takes it in root operation (hv.host-irq), so one exit, not one per entry. */
START_TEST(ack_on_exit_cleared_host_irq_taken_in_root)
{
    assert_ran_to_end("apicv-scenario 1\n"
                      "guest hello.elf\n"
                      "mode emulated\n"
                      "max-cycles 5000000\n"
                      "vmcs 0x400C 0x36FFB\n" /* the hypervisor's exit controls, ack cleared */
                      "at 500 host-irq vector=0x30 cpu=0\n"
                      "expect end exits cpu=0 reason=1 == 1\n"
                      "expect end events hv.host-irq a=0x30 == 1\n"
                      "expect end status == 0\n");
}
END_TEST

/* c. VID turned off in apicv mode (TPR shadow stays) with a TPR threshold
 * above VTPR: exit 43 right after the entry (SDM 26.6.7). The host lowers
 * the threshold there (KVM update_cr8_intercept: nothing pending, so 0):
 * one exit 43. */
START_TEST(tpr_threshold_above_vtpr_without_vid)
{
    assert_ran_to_end("apicv-scenario 1\n"
                      "guest hello.elf\n"
                      "mode apicv\n"
                      "max-cycles 5000000\n"
                      "vmcs 0x401E 0x101\n" /* APIC-access and register virtualization, no VID */
                      "vmcs 0x401C 5\n"
                      "expect end exits cpu=0 reason=43 == 1\n"
                      "expect end status == 0\n");
}
END_TEST

/* d. PAUSE exiting on (primary controls of posted mode + bit 30): the
 * waiting vCPU's PAUSEs exit (40); the host skips each, as KVM does, and
 * the barrier completes. */
START_TEST(pause_exiting_skips_the_pause)
{
    assert_ran_to_end("apicv-scenario 1\n"
                      "guest hello.elf\n"
                      "mode posted\n"
                      "cpus 2\n"
                      "max-cycles 5000000\n"
                      "vmcs 0x4002 0xD62061F2\n"
                      "expect end exits cpu=1 reason=40 >= 1\n"
                      "expect end status == 0\n");
}
END_TEST

/* The exit-loop guard: hv_exit_loop.elf points its #GP gate (IST 1) at an
 * intercepted WRMSR, so every entry delivers the injected #GP to the WRMSR,
 * which exits again: the same exit at the same RIP, no instruction retired,
 * nothing changed. The run ends with status 3 and a diagnostic naming the
 * vCPU, the RIP and the exit reason, long before the cycle limit. */
START_TEST(exit_loop_without_progress_ends_as_crash)
{
    emu_mode mode = (emu_mode)(EMU_MODE_EMULATED + _i);
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/hv_exit_loop.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = mode;
    cfg.max_cycles = 100000000;
    ck_assert_msg(emu_machine_init(&machine, &cfg, path, err, sizeof(err)), "%s", err);
    while (!emu_machine_run(&machine, machine.now + 1000000))
        ;
    ck_assert_msg(machine.exit_status == EMU_EXIT_CRASH, "%s: status %d (%s)", emu_mode_name(mode),
                  machine.exit_status, machine.diag);
    ck_assert_msg(strstr(machine.diag, "cpu0: exit loop: 1000 VM exits in a row, reason 32 (WRMSR)") ==
                      machine.diag,
                  "%s", machine.diag);
    ck_assert_ptr_nonnull(strstr(machine.diag, " at RIP 0x"));
    ck_assert_ptr_nonnull(strstr(machine.diag, "wrmsr"));
    ck_assert_uint_lt(machine.now, 10000000);
    emu_machine_free(&machine);
}
END_TEST

/* The step path (the window's single step): emu_machine_step asks for
 * instructions the looping guest never retires; each call must still
 * return (it is bounded in cycles, and exits cost cycles), and the guard
 * ends the run within a few calls. */
START_TEST(exit_loop_ends_under_single_steps)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/hv_exit_loop.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_POSTED;
    ck_assert_msg(emu_machine_init(&machine, &cfg, path, err, sizeof(err)), "%s", err);
    unsigned calls = 0;
    while (!machine.finished && calls < 100) {
        emu_machine_step(&machine, 0, 1000);
        calls++;
    }
    ck_assert_msg(machine.finished, "still running after %u steps", calls);
    ck_assert_int_eq(machine.exit_status, EMU_EXIT_CRASH);
    ck_assert_ptr_nonnull(strstr(machine.diag, "exit loop: 1000 VM exits in a row"));
    emu_machine_free(&machine);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hv_loops");
    TCase *t = tcase_create("loops");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, preemption_timer_zero_from_scenario);
    tcase_add_loop_test(t, preemption_timer_zero_from_guest, 0, 4);
    tcase_add_test(t, ack_on_exit_cleared_host_irq_taken_in_root);
    tcase_add_test(t, tpr_threshold_above_vtpr_without_vid);
    tcase_add_test(t, pause_exiting_skips_the_pause);
    tcase_add_loop_test(t, exit_loop_without_progress_ends_as_crash, 0, 4);
    tcase_add_test(t, exit_loop_ends_under_single_steps);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
