/*
 * test_scenario.c — scenario files: every kind of mistake is refused with
 * file:line and what was expected; scenarios run, with stimuli, captions
 * and expectations that pass and that fail.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_scenario.h"

static emu_scenario scn;
static emu_machine machine;

typedef struct bad_case {
    const char *text;
    const char *want; /* the message must start with this */
} bad_case;

#define HDR "apicv-scenario 1\nguest hello.elf\n"

static const bad_case bad[] = {
    {"", "t.scn:1: expected the first line 'apicv-scenario 1', got an empty file"},
    {"# only a comment\n\n", "t.scn:2: expected the first line 'apicv-scenario 1', got an empty file"},
    {"apicv-scenari 1\n", "t.scn:1: expected the first line 'apicv-scenario 1', got 'apicv-scenari'"},
    {"apicv-scenario 2\n", "t.scn:1: expected scenario version 1, got 2"},
    {"apicv-scenario\n", "t.scn:1: expected the scenario version (a number in 1..1000), got 'the end of the line'"},
    {HDR "frobnicate 3\n", "t.scn:3: expected a statement (guest, cpus, mode"},
    {HDR "cpus 9\n", "t.scn:3: expected the CPU count (a number in 1..8), got '9'"},
    {HDR "cpus two\n", "t.scn:3: expected the CPU count (a number in 1..8), got 'two'"},
    {HDR "mode turbo\n", "t.scn:3: expected a mode (native, emulated, tpr-shadow, apicv, posted), got 'turbo'"},
    {HDR "mem 1\n", "t.scn:3: expected the RAM size in MiB (a number in 2..4096), got '1'"},
    {HDR "at soon msi vector=0x41 cpu=0\n", "t.scn:3: expected a cycle (a number in"},
    {HDR "at 100 msi cpu=0\n", "t.scn:3: expected vector=NUMBER, got 'cpu=0'"},
    {HDR "at 100 msi vector=5 cpu=0\n", "t.scn:3: expected vector=NUMBER in 16..255, got 'vector=5'"},
    {HDR "at 100 beep vector=0x41 cpu=0\n", "t.scn:3: expected a stimulus (msi, host-irq, deschedule or nmi), got 'beep'"},
    {HDR "at 100 nmi vector=2 cpu=0\n", "t.scn:3: expected cpu=NUMBER, got 'vector=2'"},
    {HDR "at 100 deschedule cpu=0\n", "t.scn:3: expected for=NUMBER, got 'the end of the line'"},
    {HDR "on apic.nothing msi vector=0x41 cpu=0\n", "t.scn:3: expected an event name such as"},
    {HDR "at 100 msi vector=0x41 cpu=0 now\n", "t.scn:3: expected the end of the line, got 'now'"},
    {HDR "caption at 0 hello\n", "t.scn:3: expected the caption text in double quotes, got 'hello'"},
    {HDR "caption at 0 \"hello\n", "t.scn:3: expected a closing '\"'"},
    {HDR "caption soon \"x\"\n", "t.scn:3: expected 'at CYCLE' or 'on EVENT', got 'soon'"},
    {HDR "expect end status = 0\n", "t.scn:3: expected a comparison (==, !=, >=, <=, >, <), got '='"},
    {HDR "expect at 100 status == 0\n", "t.scn:3: expected 'expect end status ...'"},
    {HDR "expect later status == 0\n", "t.scn:3: expected 'end' or 'at CYCLE' after expect, got 'later'"},
    {HDR "expect end happiness == 1\n", "t.scn:3: expected what to check (status, cycles, events"},
    {HDR "expect end apic cpu=0 offset=0x24 == 0\n", "t.scn:3: expected an offset aligned to 16 bytes, got 0x24"},
    {HDR "expect end delivered cpu=0 == 1\n", "t.scn:3: expected vector=NUMBER, got '=='"},
    {HDR "expect end status == zero\n", "t.scn:3: expected the expected value (a number in"},
    {HDR "cpus 2\n\nat 100 msi vector=0x41 cpu=2\n", "t.scn:5: expected a target CPU below the CPU count 2, got cpu=2"},
    {HDR "expect end exits cpu=1 == 0\n", "t.scn:3: expected a CPU below the CPU count 1, got cpu=1"},
    {"apicv-scenario 1\ncpus 2\n", "t.scn:1: expected a 'guest PATH' line, got none in the file"},
    {HDR "vmcs 0x4002\n", "t.scn:3: expected the field's value (a number in"},
};

START_TEST(parser_errors_name_file_and_line)
{
    char err[600];
    const bad_case *c = &bad[_i];
    ck_assert_msg(!emu_scenario_parse("t.scn", c->text, &scn, err, sizeof(err)),
                  "case %d accepted", _i);
    ck_assert_msg(strncmp(err, c->want, strlen(c->want)) == 0, "case %d: got '%s', expected '%s...'",
                  _i, err, c->want);
}
END_TEST

START_TEST(parser_accepts_the_grammar)
{
    char err[600];
    const char *text = "apicv-scenario 1   # version\n"
                       "guest hello.elf\n"
                       "cpus 4\n"
                       "mode posted\n"
                       "mem 16\n"
                       "quantum 5000\n"
                       "max-cycles 1000000\n"
                       "vmcs 0x4002 0x1 cpu=1\n"
                       "at 100 msi vector=0x41 cpu=3\n"
                       "at 200 host-irq vector=0xF2 cpu=1\n"
                       "at 300 deschedule cpu=2 for=5000\n"
                       "on apic.eoi cpu=1 a=0x41 count=2 delay=10 msi vector=0x42 cpu=1\n"
                       "caption at 0 \"say \\\"hi\\\" # not a comment\"\n"
                       "caption on vmx.exit cpu=0 \"an exit\"\n"
                       "expect at 5000 events emu.msi-deliver cpu=3 a=0x41 >= 1\n"
                       "expect end exits cpu=0 reason=1 == 0\n"
                       "expect end vapic cpu=1 offset=0x80 == 0x10\n"
                       "expect end status != 3\n";
    ck_assert_msg(emu_scenario_parse("ok.scn", text, &scn, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(scn.ncpus, 4);
    ck_assert_int_eq(scn.mode, EMU_MODE_POSTED);
    ck_assert_uint_eq(scn.mem_bytes, 16u << 20);
    ck_assert_uint_eq(scn.nvmcs, 1);
    ck_assert_int_eq(scn.vmcs[0].cpu, 1);
    ck_assert_uint_eq(scn.vmcs[0].field, 0x4002);
    ck_assert_uint_eq(scn.nstim, 4);
    ck_assert_int_eq(scn.stim[1].kind, EMU_STIM_HOST_IRQ);
    ck_assert_uint_eq(scn.stim[2].cycles, 5000);
    ck_assert(scn.stim[3].when.on_event);
    ck_assert_uint_eq(scn.stim[3].when.count, 2);
    ck_assert_uint_eq(scn.stim[3].when.delay, 10);
    ck_assert_uint_eq(scn.stim[3].when.a, 0x41);
    ck_assert_uint_eq(scn.ncap, 2);
    ck_assert_str_eq(scn.cap[0].text, "say \"hi\" # not a comment");
    ck_assert_uint_eq(scn.nexp, 4);
    ck_assert_int_eq(scn.exp[3].cmp, EMU_CMP_NE);
    ck_assert_int_eq(scn.exp[0].line, 15);
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(&scn, &cfg);
    ck_assert_uint_eq(cfg.ncpus, 4);
    ck_assert_uint_eq(cfg.quantum, 5000);
    ck_assert_uint_eq(cfg.max_cycles, 1000000);
    emu_scenario_free(&scn);
}
END_TEST

/* Parses text as if it lived in the guest directory and runs it natively. */
static int run_text(const char *text, char *report, size_t replen)
{
    char err[600], g[1200], name[1200];
    snprintf(name, sizeof(name), "%s/t.scn", APICV_GUEST_DIR);
    ck_assert_msg(emu_scenario_parse(name, text, &scn, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_guest_path(&scn, NULL, g, sizeof(g), err, sizeof(err)), "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE; /* unless the scenario names a mode */
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

START_TEST(expectations_pass)
{
    char report[2000] = "";
    char path[1200], err[600];
    /* The example scenario shipped in scenarios/. */
    snprintf(path, sizeof(path), "%s/scenarios/msi_native.scn", APICV_SOURCE_DIR);
    ck_assert_msg(emu_scenario_load(path, &scn, err, sizeof(err)), "%s", err);
    char *text = strdup(scn.text);
    emu_scenario_free(&scn);
    int st = run_text(text, report, sizeof(report));
    free(text);
    ck_assert_msg(st == 0, "status %d: %s", st, report);
    ck_assert_str_eq(report, "");
    ck_assert_uint_eq(emu_scenario_caption_count(&scn), 5);
    /* The last caption showing is the end of the run's, after the refusal's. */
    ck_assert_ptr_nonnull(strstr(emu_scenario_caption_now(&scn), "hello ends with status 0"));
    ck_assert_ptr_nonnull(strstr(emu_scenario_caption_text(&scn, 3), "Refused: a software-disabled APIC"));
    ck_assert_ptr_nonnull(strstr(emu_scenario_caption_text(&scn, 0), "Two CPUs start at the guest's entry point"));
    finish_run();
}
END_TEST

START_TEST(expectations_fail_with_message)
{
    char report[2000] = "";
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "cpus 2\n"
                       "at 5000 msi vector=0x41 cpu=1\n"
                       "expect end events emu.msi-deliver cpu=1 a=0x41 == 2\n"
                       "expect end apic cpu=1 offset=0x20 == 0x1000000\n"
                       "expect at 99999999 cycles >= 1\n";
    int st = run_text(text, report, sizeof(report));
    ck_assert_int_eq(st, EMU_EXIT_EXPECT);
    ck_assert_msg(strstr(report, "t.scn:5: expectation failed: events emu.msi-deliver cpu=1 a=0x41 == 0x2, got 0x1") != NULL,
                  "%s", report);
    /* The APIC ID expectation holds (CPU 1's xAPIC ID is 1 << 24). */
    ck_assert_msg(strstr(report, "t.scn:6:") == NULL, "%s", report);
    ck_assert_msg(strstr(report, "t.scn:7: expectation not checked") != NULL, "%s", report);
    finish_run();
}
END_TEST

START_TEST(on_event_stimulus_and_point_expectation)
{
    char report[2000] = "";
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "cpus 2\n"
                       "at 3000 msi vector=0x41 cpu=1\n"
                       "on emu.msi-deliver cpu=1 a=0x41 delay=500 host-irq vector=0x52 cpu=0\n"
                       "expect at 2000 events emu.msi-deliver == 0\n"
                       "expect at 15000 events apic.accept cpu=0 a=0x52 == 1\n"
                       "expect at 3000 events apic.accept cpu=0 a=0x52 == 0\n"
                       "expect at 10000 cycles >= 10000\n"
                       "expect end events scn.stimulus == 2\n"
                       "expect end status == 0\n";
    int st = run_text(text, report, sizeof(report));
    ck_assert_msg(st == 0, "status %d: %s", st, report);
    ck_assert(scn.rt.checked[0] && scn.rt.checked[1] && scn.rt.checked[2] && scn.rt.checked[3]);
    finish_run();
}
END_TEST

/* The nmi stimulus: an NMI message for a CPU, no vector (scenarios/
 * nmi_window_posted.scn runs one under the hypervisor). */
START_TEST(nmi_stimulus)
{
    char err[512];
    const char *text = "apicv-scenario 1\n"
                       "guest hello.elf\n"
                       "at 100 nmi cpu=0\n";
    ck_assert_msg(emu_scenario_parse("n.scn", text, &scn, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(scn.nstim, 1);
    ck_assert_int_eq(scn.stim[0].kind, EMU_STIM_NMI);
    ck_assert_uint_eq(scn.stim[0].cpu, 0);
    ck_assert_str_eq(emu_stim_name(EMU_STIM_NMI), "nmi");
    emu_scenario_free(&scn);
}
END_TEST

START_TEST(apply_refuses_what_the_machine_cannot_do)
{
    char err[600], g[1200], name[1200];
    static const char *const texts[] = {
        "apicv-scenario 1\nguest hello.elf\nat 100 deschedule cpu=0 for=100\n",
        "apicv-scenario 1\nguest hello.elf\n\nexpect end vapic cpu=0 offset=0x80 == 0\n",
        "apicv-scenario 1\nguest hello.elf\nvmcs 0x4002 1\n",
    };
    static const char *const want[] = {
        "t.scn:3: expected a VMX mode for deschedule, got mode native",
        "t.scn:4: expected a VMX mode for a vapic expectation, got mode native",
        "t.scn:3: expected a VMX mode for a VMCS override, got mode native",
    };
    snprintf(name, sizeof(name), "%s/t.scn", APICV_GUEST_DIR);
    for (unsigned k = 0; k < 3; k++) {
        ck_assert_msg(emu_scenario_parse(name, texts[k], &scn, err, sizeof(err)), "%s", err);
        ck_assert(emu_scenario_guest_path(&scn, NULL, g, sizeof(g), err, sizeof(err)));
        emu_config cfg;
        emu_config_default(&cfg);
        cfg.mode = EMU_MODE_NATIVE;
        cfg.mem_bytes = 8u << 20;
        ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
        ck_assert(!emu_scenario_apply(&scn, &machine, err, sizeof(err)));
        ck_assert_msg(strstr(err, want[k]) != NULL, "got '%s'", err);
        emu_machine_free(&machine);
        emu_scenario_free(&scn);
    }
}
END_TEST

START_TEST(missing_guest_and_file)
{
    char err[600], g[1200];
    ck_assert(!emu_scenario_load("/nonexistent/x.scn", &scn, err, sizeof(err)));
    ck_assert_str_eq(err, "/nonexistent/x.scn: cannot open: No such file or directory");
    ck_assert(emu_scenario_parse("/tmp/t.scn", "apicv-scenario 1\nguest nope.elf\n", &scn, err,
                                 sizeof(err)));
    ck_assert(!emu_scenario_guest_path(&scn, "/nonexistent", g, sizeof(g), err, sizeof(err)));
    ck_assert_msg(strstr(err, "/tmp/t.scn: guest image 'nope.elf' not found") == err, "%s", err);
    emu_scenario_free(&scn);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("scenario");
    TCase *tc = tcase_create("scenario");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, parser_errors_name_file_and_line, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, parser_accepts_the_grammar);
    tcase_add_test(tc, expectations_pass);
    tcase_add_test(tc, expectations_fail_with_message);
    tcase_add_test(tc, on_event_stimulus_and_point_expectation);
    tcase_add_test(tc, apply_refuses_what_the_machine_cannot_do);
    tcase_add_test(tc, nmi_stimulus);
    tcase_add_test(tc, missing_guest_and_file);
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
