/*
 * test_scenario_warn.c — warnings about a scenario that does not fit the
 * run (docs/scenarios.md, "Warnings"): each names file:line, none changes
 * the run's status, and malformed input stays an error (status 2).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"

static emu_scenario scn;
static emu_machine machine;
static char report[8000];

/* Parses text as if it lived in the guest directory, runs it in mode
 * (unless the scenario names one and force is false) and checks it; the
 * report holds the expectation failures and every warning. */
static int run_text(const char *text, emu_mode mode, bool force)
{
    char err[600], g[1200], name[1200];
    snprintf(name, sizeof(name), "%s/t.scn", APICV_GUEST_DIR);
    ck_assert_msg(emu_scenario_parse(name, text, &scn, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_guest_path(&scn, NULL, g, sizeof(g), err, sizeof(err)), "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = mode;
    cfg.mem_bytes = 8u << 20;
    emu_scenario_config(&scn, &cfg);
    if (force)
        cfg.mode = mode; /* as --mode on the command line */
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_apply(&scn, &machine, err, sizeof(err)), "%s", err);
    while (!emu_machine_run(&machine, machine.now + 1000000))
        ;
    memset(report, 0, sizeof(report));
    FILE *f = fmemopen(report, sizeof(report) - 1, "w");
    int st = emu_scenario_check(&scn, f);
    fclose(f);
    return st;
}

static void finish_run(void)
{
    emu_machine_free(&machine);
    emu_scenario_free(&scn);
}

#define HAS(s) ck_assert_msg(strstr(report, s) != NULL, "missing '%s' in:\n%s", s, report)
#define HASNT(s) ck_assert_msg(strstr(report, s) == NULL, "unexpected '%s' in:\n%s", s, report)

START_TEST(fitting_scenario_has_no_warning)
{
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "mode posted\n"
                       "caption at 0 \"start\"\n"
                       "caption on vmx.exit cpu=0 \"an exit\"\n"
                       "expect end exits cpu=0 >= 1\n";
    int st = run_text(text, EMU_MODE_POSTED, false);
    ck_assert_msg(st == 0, "status %d: %s", st, report);
    ck_assert_str_eq(report, "");
    ck_assert_uint_eq(scn.nwarn, 0);
    finish_run();
}
END_TEST

START_TEST(other_mode_names_the_lines_that_cannot_happen)
{
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "mode posted\n"                                     /* 3 */
                       "caption on vmx.pi-on-clear \"ON cleared\"\n"       /* 4 */
                       "caption on vmx.vintr-delivered \"delivered\"\n"    /* 5 */
                       "caption on vmx.exit cpu=0 \"an exit\"\n"           /* 6 */
                       "on hv.post msi vector=0x41 cpu=0\n"                /* 7 */
                       "expect end events vmx.eoi-virt >= 1\n"             /* 8 */
                       "expect end events vmx.pi-ack == 0\n"               /* 9 */
                       "caption on vmx.exit a=45 \"EOI exit\"\n"           /* 10 */
                       "expect end exits cpu=0 reason=56 >= 1\n"           /* 11 */
                       "caption on vmx.exit a=1 \"ext-intr exit\"\n";      /* 12: possible */
    /* In emulated mode: no posted-interrupt processing, no virtual-
     * interrupt delivery; the run goes on, the expectation of line 8 fails
     * (status 1), line 9 holds and is not warned about. */
    int st = run_text(text, EMU_MODE_EMULATED, true);
    ck_assert_int_eq(st, EMU_EXIT_EXPECT);
    HAS("t.scn:3: warning: the scenario is written for mode posted and runs in mode emulated");
    HAS("t.scn:4: warning: this caption waits for vmx.pi-on-clear, which cannot happen in mode "
        "emulated (posted-interrupt processing is off): it is never shown");
    HAS("t.scn:5: warning: this caption waits for vmx.vintr-delivered, which cannot happen in mode "
        "emulated (virtual-interrupt delivery is off)");
    HAS("t.scn:7: warning: this stimulus waits for hv.post, which cannot happen in mode emulated");
    HAS("t.scn:8: warning: this expectation needs vmx.eoi-virt, which cannot happen in mode emulated");
    HAS("t.scn:8: expectation failed");
    HASNT("t.scn:6:");
    HASNT("t.scn:9:");
    /* Exits that only APIC virtualization causes (SDM 29.1.3, 29.4.3.2). */
    HAS("t.scn:10: warning: this caption waits for vmx.exit, which cannot happen in mode emulated "
        "(EOI-induced exits need virtual-interrupt delivery)");
    HAS("t.scn:11: warning: this expectation needs such VM exits, which cannot happen in mode "
        "emulated (APIC-write exits need APIC-register virtualization or virtual-interrupt "
        "delivery)");
    HASNT("t.scn:12: warning: this caption waits");
    /* Each line once: the end of the run does not name line 4 again. */
    const char *first = strstr(report, "t.scn:4:");
    ck_assert_ptr_null(strstr(first + 1, "t.scn:4:"));
    finish_run();

    /* The same file in native mode: the built-in hypervisor's events
     * cannot happen; VMX events can (the guest may be its own hypervisor,
     * vmx/vmx_root.h). */
    st = run_text(text, EMU_MODE_NATIVE, true);
    HAS("t.scn:7: warning: this stimulus waits for hv.post, which cannot happen in mode native "
        "(there is no built-in hypervisor in native mode)");
    HASNT("waits for vmx.exit, which cannot happen");
    finish_run();
}
END_TEST

START_TEST(vmcs_line_overwritten_by_a_later_line)
{
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "mode posted\n"
                       "cpus 2\n"
                       "vmcs 0x0002 0xF1\n"       /* 5: overwritten by 7 on every vCPU */
                       "vmcs 0x0002 0xF3 cpu=1\n" /* 6: overwritten by 7 */
                       "vmcs 0x0002 0xF2\n"       /* 7 */
                       "vmcs 0x401c 0 cpu=0\n"    /* 8: not overwritten (another vCPU) */
                       "vmcs 0x401c 0 cpu=1\n";   /* 9 */
    int st = run_text(text, EMU_MODE_POSTED, false);
    ck_assert_int_eq(st, 0);
    HAS("t.scn:5: warning: vmcs 0x2 (");
    HAS(") is overwritten by line 7 before the first VM entry: this line has no effect");
    HAS("t.scn:6: warning: vmcs 0x2");
    HASNT("t.scn:7:");
    HASNT("t.scn:8:");
    HASNT("t.scn:9:");
    finish_run();
}
END_TEST

START_TEST(vmcs_line_the_hypervisor_overwrites)
{
    /* Interrupt-window exiting set by the scenario: the VM exits as soon
     * as the guest can take an interrupt, and the hypervisor clears the
     * control again on that exit (SDM 25.2, interrupt-window exiting), so the next entry runs with
     * other primary controls than the line set. */
    char err[600], g[1200], text[600];
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_POSTED;
    cfg.mem_bytes = 8u << 20;
    snprintf(g, sizeof(g), "%s/demo_irq.elf", APICV_GUEST_DIR);
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    emu_hv *hv = machine.hv;
    uint64_t proc = vmx_vmcs_get(&hv->vcpu[0].vmx.vmcs, VMCS_PROC_CONTROLS);
    emu_machine_free(&machine);
    ck_assert(!(proc & VMX_PROC_INTR_WINDOW));
    snprintf(text, sizeof(text),
             "apicv-scenario 1\nguest demo_irq.elf\nmode posted\nvmcs 0x4002 %#llx\n",
             (unsigned long long)(proc | VMX_PROC_INTR_WINDOW));
    int st = run_text(text, EMU_MODE_POSTED, false);
    ck_assert_int_eq(st, 0);
    HAS("t.scn:4: warning: vmcs 0x4002 (");
    HAS("was overwritten by the hypervisor: vCPU 0 entered at cycle");
    char want[64];
    snprintf(want, sizeof(want), "with %#llx", (unsigned long long)proc);
    HAS(want);
    finish_run();
}
END_TEST

START_TEST(captions_and_stimuli_never_reached)
{
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "caption at 0 \"start\"\n"                          /* 3: shown */
                       "caption at 900000000 \"too late\"\n"               /* 4 */
                       "caption on apic.eoi cpu=0 \"an EOI\"\n"            /* 5: never */
                       "on emu.msi-deliver count=3 host-irq vector=0x50 cpu=0\n"; /* 6 */
    int st = run_text(text, EMU_MODE_NATIVE, false);
    ck_assert_int_eq(st, 0); /* warnings do not change the status */
    HASNT("t.scn:3:");
    HAS("t.scn:4: warning: caption never shown: the run ended at cycle ");
    HAS(", before cycle 900000000");
    HAS("t.scn:5: warning: caption never shown: the run ended at cycle ");
    HAS("before apic.eoi cpu=0 happened");
    HAS("t.scn:6: warning: stimulus never fired: the run ended at cycle ");
    HAS("before emu.msi-deliver count=3 happened");
    finish_run();
}
END_TEST

START_TEST(filters_that_can_never_match)
{
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "mode posted\n"
                       "caption on scn.stimulus \"loop\"\n"                 /* 4 */
                       "caption on cpu.interrupt a=0x141 \"no vector\"\n"   /* 5 */
                       "on vmx.exit a=0xFFF msi vector=0x41 cpu=0\n"          /* 6 */
                       "expect end events cpu.interrupt a=0x300 >= 1\n"       /* 7 */
                       "expect end exits cpu=0 reason=200 >= 1\n"             /* 8 */
                       "expect end events scn.caption >= 0\n"                 /* 9 */
                       "caption on vmx.exit a=0x38 \"APIC write\"\n";       /* 10: fine */
    int st = run_text(text, EMU_MODE_POSTED, false);
    ck_assert_int_eq(st, EMU_EXIT_EXPECT);
    HAS("t.scn:4: warning: this caption waits for scn.stimulus, which can never match: the "
        "scenario's own events (scn.*) trigger nothing: it is never shown");
    HAS("t.scn:5: warning: this caption waits for cpu.interrupt, which can never match: its field "
        "a is a vector, at most 0xff");
    HAS("t.scn:6: warning: this stimulus waits for vmx.exit, which can never match: no VM exit has "
        "that basic reason");
    HAS("t.scn:7: warning: this expectation can never hold: its field a is a vector");
    HAS("t.scn:8: warning: this expectation can never hold: no VM exit has that basic reason");
    HASNT("t.scn:9:");
    HASNT("t.scn:10: warning: this caption waits");
    /* Not named again at the end of the run. */
    ck_assert_ptr_null(strstr(strstr(report, "t.scn:4:") + 1, "t.scn:4:"));
    finish_run();
}
END_TEST

/* The command line: warnings on standard error with status 0; a malformed
 * file is still refused with status 2 and file:line. */
static int run_cli(const char *scn_text, const char *args, char *out, size_t outlen)
{
    char path[256], cmd[1024];
    snprintf(path, sizeof(path), "%s/warn_cli_%d.scn", APICV_GUEST_DIR, (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(scn_text, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "'%s' run --headless --quiet %s '%s' 2>&1 >/dev/null", APICV_EMU,
             args, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(command_line_warns_and_refuses_bad_input)
{
    char out[4000];
    int st = run_cli("apicv-scenario 1\nguest hello.elf\nmode apicv\n", "--mode native", out,
                     sizeof(out));
    ck_assert_msg(st == 0, "status %d: %s", st, out);
    ck_assert_msg(strstr(out, ".scn:3: warning: the scenario is written for mode apicv and runs "
                              "in mode native") != NULL,
                  "%s", out);
    st = run_cli("apicv-scenario 1\nguest hello.elf\nmode apicv\nvmcs 0x4002\n", "--mode native",
                 out, sizeof(out));
    ck_assert_int_eq(st, 2);
    ck_assert_msg(strstr(out, ".scn:4: expected the field's value") != NULL, "%s", out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("scenario_warn");
    TCase *tc = tcase_create("warn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fitting_scenario_has_no_warning);
    tcase_add_test(tc, other_mode_names_the_lines_that_cannot_happen);
    tcase_add_test(tc, vmcs_line_overwritten_by_a_later_line);
    tcase_add_test(tc, vmcs_line_the_hypervisor_overwrites);
    tcase_add_test(tc, captions_and_stimuli_never_reached);
    tcase_add_test(tc, filters_that_can_never_match);
    tcase_add_test(tc, command_line_warns_and_refuses_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
