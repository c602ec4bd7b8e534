/*
 * test_scenario_files.c — every scenario shipped in scenarios/ is a test.
 *
 * The directory is listed at run time, so a new scenarios/X.scn is covered
 * without editing this file. For each scenario:
 *   - it runs through the library (emu_scenario_load, emu_scenario_config,
 *     emu_machine_init, emu_scenario_apply, emu_machine_run,
 *     emu_scenario_check) and passes every expectation, with status 0,
 *     within a few million cycles (a person watches these in the window);
 *   - every caption is shown exactly once, in the order of the file (a
 *     caption whose event never happens narrates something that did not);
 *   - a record -> replay --verify round trip reproduces the run.
 * And the lesson of the per-mode scenarios is checked the other way round:
 * their expectations fail when the same scenario runs in another mode, so
 * they really measure the mode's interrupt path (exits per interrupt).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_record.h"
#include "emu/emu_scenario.h"

#define MAX_FILES 64
#define MAX_RUN_CYCLES 5000000u /* "a few million cycles at most" */

static char files[MAX_FILES][1024];
static int nfiles;

static emu_scenario scn;
static emu_machine machine;

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The .scn files of scenarios/ in the source tree, sorted. */
static void list_scenarios(void)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/scenarios", APICV_SOURCE_DIR);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && nfiles < MAX_FILES) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".scn") == 0)
            snprintf(files[nfiles++], sizeof(files[0]), "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(files, (size_t)nfiles, sizeof(files[0]), cmp_names);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Captions shown during a run, in the order they appeared. */
typedef struct caption_log {
    unsigned shown[EMU_SCN_MAX_ITEMS];
    unsigned order[4 * EMU_SCN_MAX_ITEMS];
    unsigned n;
} caption_log;

static void on_event(void *ctx, const cpu_obs_event *ev)
{
    caption_log *log = ctx;
    if (ev->kind != EMU_SCN_EV_CAPTION || ev->a >= EMU_SCN_MAX_ITEMS)
        return;
    log->shown[ev->a]++;
    if (log->n < sizeof(log->order) / sizeof(log->order[0]))
        log->order[log->n++] = (unsigned)ev->a;
}

typedef struct run_result {
    int status;
    uint64_t cycles;
    char report[4096];
} run_result;

/*
 * Runs a loaded scenario to the end as `apicv-emu run` does, recording a
 * trace into record_path when it is not NULL. Expectation failures are
 * collected in out->report.
 */
static void run_loaded(emu_scenario *s, const char *record_path, caption_log *captions,
                       run_result *out)
{
    char guest[1024], err[1024];
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(s, &cfg);
    ck_assert_msg(emu_scenario_guest_path(s, APICV_GUEST_DIR, guest, sizeof(guest), err,
                                          sizeof(err)),
                  "%s", err);
    ck_assert_msg(emu_machine_init(&machine, &cfg, guest, err, sizeof(err)), "%s: %s", s->path, err);
    emu_recorder *rec = NULL;
    if (record_path) {
        emu_record_info info = {.guest_path = guest, .scenario = s, .emu_version = "test",
                                .digest_interval = 10000};
        ck_assert_msg(emu_record_begin(&machine, record_path, &info, &rec, err, sizeof(err)), "%s",
                      err);
    }
    if (captions)
        ck_assert(cpu_obs_subscribe(&machine.obs, on_event, captions));
    ck_assert_msg(emu_scenario_apply(s, &machine, err, sizeof(err)), "%s", err);
    if (rec) {
        while (!emu_record_run(rec, machine.now + 1000000))
            ;
        ck_assert_msg(emu_record_end(rec, err, sizeof(err)), "%s", err);
    } else {
        while (!emu_machine_run(&machine, machine.now + 1000000))
            ;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(report);
    out->status = emu_scenario_check(s, report);
    fclose(report);
    snprintf(out->report, sizeof(out->report), "%s", buf ? buf : "");
    free(buf);
    out->cycles = machine.now;
    emu_machine_free(&machine);
}

START_TEST(scenarios_are_there)
{
    ck_assert_msg(nfiles >= 10, "only %d scenarios in %s/scenarios", nfiles, APICV_SOURCE_DIR);
    bool demo = false;
    for (int i = 0; i < nfiles; i++)
        demo |= strcmp(base_name(files[i]), "posted_demo.scn") == 0;
    ck_assert_msg(demo, "scenarios/posted_demo.scn (the default demo) is missing");
}
END_TEST

/* The whole text of a file of the source tree (free it). */
static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", APICV_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(out);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, out);
    fclose(f);
    fclose(out);
    return buf;
}

/* Every demo is in the lecturer's list: README's "Teach a class with it"
 * section and the table of scenarios/README.md name each file of
 * scenarios/ (vmx_root_native.scn was missing from the first). */
START_TEST(every_demo_is_listed)
{
    char *readme = slurp("README.md"), *table = slurp("scenarios/README.md");
    char *teach = strstr(readme, "\n## Teach a class with it\n");
    ck_assert_msg(teach != NULL, "README.md has no 'Teach a class with it' section");
    char *end = strstr(teach + 1, "\n## ");
    if (end)
        *end = 0;
    for (int i = 0; i < nfiles; i++) {
        char name[300];
        snprintf(name, sizeof(name), "`%.280s`", base_name(files[i]));
        ck_assert_msg(strstr(teach, name) != NULL,
                      "README.md, 'Teach a class with it', does not list %s", name);
        ck_assert_msg(strstr(table, name) != NULL, "scenarios/README.md does not list %s", name);
    }
    free(readme);
    free(table);
}
END_TEST

/* Each scenario passes its expectations, narrates every step it announces
 * in order, and finishes quickly. */
START_TEST(scenario_passes)
{
    const char *path = files[_i];
    char err[1024];
    ck_assert_msg(emu_scenario_load(path, &scn, err, sizeof(err)), "%s", err);
    ck_assert_msg(scn.nexp > 0, "%s has no expectation: it tests nothing", path);
    ck_assert_msg(scn.ncap > 0, "%s has no caption: it teaches nothing", path);
    static caption_log captions;
    memset(&captions, 0, sizeof(captions));
    static run_result r;
    run_loaded(&scn, NULL, &captions, &r);
    ck_assert_msg(r.status == 0, "%s: status %d\n%s", path, r.status, r.report);
    ck_assert_msg(r.report[0] == 0, "%s: %s", path, r.report);
    ck_assert_msg(r.cycles <= MAX_RUN_CYCLES, "%s ran %llu cycles", path,
                  (unsigned long long)r.cycles);
    for (unsigned k = 0; k < scn.ncap; k++)
        ck_assert_msg(captions.shown[k] == 1, "%s:%d: caption shown %u times: \"%s\"", path,
                      scn.cap[k].line, captions.shown[k], scn.cap[k].text);
    for (unsigned k = 1; k < captions.n; k++)
        ck_assert_msg(captions.order[k] > captions.order[k - 1],
                      "%s: caption of line %d shown after the one of line %d", path,
                      scn.cap[captions.order[k]].line, scn.cap[captions.order[k - 1]].line);
    emu_scenario_free(&scn);
}
END_TEST

/* record -> replay --verify: the trace holds the scenario and its `at`
 * stimuli as inputs, and replays event for event. */
START_TEST(scenario_record_replay)
{
    const char *path = files[_i];
    char err[1024], trace[256];
    snprintf(trace, sizeof(trace), "/tmp/apicv-test-scnfiles-%d-%d.trace", (int)getpid(), _i);
    ck_assert_msg(emu_scenario_load(path, &scn, err, sizeof(err)), "%s", err);
    unsigned at_stimuli = 0;
    for (unsigned k = 0; k < scn.nstim; k++)
        at_stimuli += !scn.stim[k].when.on_event;
    static run_result r;
    run_loaded(&scn, trace, NULL, &r);
    ck_assert_msg(r.status == 0, "%s: status %d while recording\n%s", path, r.status, r.report);

    trace_file t;
    ck_assert_msg(trace_load(trace, &t, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(t.ninputs, at_stimuli);
    ck_assert_ptr_nonnull(t.header.scenario_text);
    ck_assert_str_eq(t.header.scenario_text, scn.text);
    ck_assert_uint_gt(t.nevents, 10);
    trace_file_free(&t);
    emu_scenario_free(&scn);

    char *argv[] = {"replay", "--verify", trace, NULL};
    ck_assert_msg(emu_replay_main(3, argv) == 0, "%s: replay --verify of %s failed", path, trace);
    unlink(trace);
}
END_TEST

/* Reads a scenario and replaces its `mode` line. */
static char *with_mode(const char *path, const char *mode)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char text[32768];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    char *line = strstr(text, "\nmode ");
    ck_assert_ptr_nonnull(line);
    char *eol = strchr(line + 1, '\n');
    ck_assert_ptr_nonnull(eol);
    size_t out_len = (size_t)(line - text) + strlen(mode) + strlen(eol) + 8;
    char *out = malloc(out_len);
    ck_assert_ptr_nonnull(out);
    snprintf(out, out_len, "%.*s\nmode %s%s", (int)(line - text), text, mode, eol);
    return out;
}

typedef struct mode_case {
    const char *file;
    const char *mode;        /* run it in this mode instead */
    const char *must_report; /* a failure that must be among those reported */
} mode_case;

static const mode_case wrong_modes[] = {
    /* Posted: no exit per interrupt; the other modes exit for each. */
    {"irq_posted.scn", "apicv", "exits cpu=0 reason=1 EXTERNAL_INTERRUPT == 0"},
    {"irq_posted.scn", "emulated", "exits cpu=0 reason=1 EXTERNAL_INTERRUPT == 0"},
    {"irq_posted.scn", "tpr-shadow", "exits cpu=0 reason=44 APIC_ACCESS == 0"},
    /* APICv: EOIs virtualized (no exit 44), a kick per interrupt. */
    {"irq_apicv.scn", "emulated", "exits cpu=0 reason=44 APIC_ACCESS == 0"},
    {"irq_apicv.scn", "posted", "exits cpu=0 reason=1 EXTERNAL_INTERRUPT == 0x4"},
    /* Emulated: an exit per interrupt and per EOI. */
    {"irq_emulated.scn", "apicv", "exits cpu=0 reason=44 APIC_ACCESS == 0x5"},
    {"irq_emulated.scn", "posted", "exits cpu=0 reason=1 EXTERNAL_INTERRUPT == 0x4"},
    {"irq_tpr_shadow.scn", "apicv", "exits cpu=0 reason=44 APIC_ACCESS == 0x5"},
    /* The demo's receiver takes no exit per interrupt only when posted. */
    {"posted_demo.scn", "apicv", "exits cpu=1 reason=1 EXTERNAL_INTERRUPT == 0"},
    /* TPR masking: VID decides on the page (no exit 43) ... */
    {"tpr_mask_apicv.scn", "tpr-shadow", "exits cpu=0 reason=43 TPR_BELOW_THRESHOLD == 0"},
    /* ... the TPR shadow alone needs the TPR-below-threshold exit. */
    {"tpr_mask_tpr_shadow.scn", "apicv", "exits cpu=0 reason=43 TPR_BELOW_THRESHOLD == 0x1"},
    /* Without SN the descheduled vCPU's CPU gets the notification. */
    {"desched_posted.scn", "apicv", "events hv.post cpu=1 a=0x45 == 0x1"},
    /* A sleeping vCPU is woken through the wakeup vector only when posted. */
    {"hlt_wakeup_posted.scn", "apicv", "events apic.accept cpu=0 a=0xf1 == 0x2"},
    /* NMIs are injected under every hypervisor mode; natively nothing is. */
    {"nmi_posted.scn", "native", "events vmx.vnmi-inject cpu=1 == 0x3"},
    {"nmi_window_posted.scn", "native", "exits cpu=0 reason=8 NMI_WINDOW == 0x1"},
    /* The EOI-exit bitmap needs virtual-interrupt delivery. */
    {"eoi_exit_posted.scn", "emulated", "exits cpu=0 reason=45 VIRTUALIZED_EOI == 0x3"},
    /* Virtual-interrupt delivery waits for IF = 1 itself: no exit 7. */
    {"intr_window_emulated.scn", "apicv", "exits cpu=0 reason=7 INTERRUPT_WINDOW == 0x1"},
    /* Without APIC-register virtualization every APIC read exits. */
    {"apic_regs_apicv.scn", "tpr-shadow", "exits cpu=0 reason=44 APIC_ACCESS == 0x2"},
    {"self_ipi_apicv.scn", "emulated", "events vmx.self-ipi-virt cpu=0 == 0x3"},
    {"x2apic_apicv.scn", "tpr-shadow", "events vmx.x2apic-wrmsr cpu=0 a=0x83f == 0x1"},
    {"compare_demo.scn", "emulated", "exits cpu=0 reason=1 EXTERNAL_INTERRUPT == 0"},
    /* A guest hypervisor exists only natively: under the built-in one its
     * VMXON is a VM exit, never a VMX root instruction. */
    {"vmx_root_native.scn", "posted", "events vmx.root-insn cpu=0 a=0x1b == 0x1"},
    /* Natively an IPI travels through the machine's router (emu.ipi-route);
     * under the hypervisor it is an APIC-write exit and hv.ipi. */
    {"ipi_native.scn", "posted", "events emu.ipi-route >= 0x2"},
    /* Natively the disabled APIC refuses the MSI (apic.accept, outcome
     * disabled); posted mode posts it into PIR, the APIC never sees it. */
    {"msi_native.scn", "posted", "events apic.accept cpu=1 a=0x41 == 0x1"},
};

/* Every demo is checked in a wrong mode too (ipi_native.scn and
 * msi_native.scn were not). */
START_TEST(every_demo_fails_in_a_wrong_mode)
{
    for (int i = 0; i < nfiles; i++) {
        bool found = false;
        for (size_t k = 0; k < sizeof(wrong_modes) / sizeof(wrong_modes[0]); k++)
            found |= strcmp(wrong_modes[k].file, base_name(files[i])) == 0;
        ck_assert_msg(found, "%s has no case in wrong_modes[]", base_name(files[i]));
    }
}
END_TEST

START_TEST(wrong_mode_fails)
{
    const mode_case *c = &wrong_modes[_i];
    char path[1100], err[1024];
    snprintf(path, sizeof(path), "%s/scenarios/%s", APICV_SOURCE_DIR, c->file);
    char *text = with_mode(path, c->mode);
    ck_assert_msg(emu_scenario_parse(path, text, &scn, err, sizeof(err)), "%s", err);
    free(text);
    static run_result r;
    run_loaded(&scn, NULL, NULL, &r);
    emu_scenario_free(&scn);
    ck_assert_msg(r.status == EMU_EXIT_EXPECT, "%s in mode %s: status %d, expected %d\n%s",
                  c->file, c->mode, r.status, EMU_EXIT_EXPECT, r.report);
    ck_assert_msg(strstr(r.report, c->must_report) != NULL,
                  "%s in mode %s: expected a failure of '%s' among:\n%s", c->file, c->mode,
                  c->must_report, r.report);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("scenario_files");
    TCase *tc = tcase_create("scenario_files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, scenarios_are_there);
    tcase_add_test(tc, every_demo_is_listed);
    tcase_add_test(tc, every_demo_fails_in_a_wrong_mode);
    tcase_add_loop_test(tc, scenario_passes, 0, nfiles);
    tcase_add_loop_test(tc, scenario_record_replay, 0, nfiles);
    tcase_add_loop_test(tc, wrong_mode_fails, 0,
                        (int)(sizeof(wrong_modes) / sizeof(wrong_modes[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    list_scenarios();
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
