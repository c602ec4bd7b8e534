/*
 * test_replay.c — record → replay --verify round trips, altered traces
 * caught at the right cycle (status 5), seeking backwards and forwards,
 * and the recorded traces of traces/recorded/.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_record.h"

static emu_machine machine;

static void guest(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", APICV_GUEST_DIR, name);
}

/* Records guest (or a scenario text naming it) into path; returns the status. */
static emu_mode record_mode = EMU_MODE_NATIVE;

static int record(const char *guest_name, const char *scenario_text, unsigned ncpus,
                  const char *path)
{
    char g[1024], err[1024];
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = ncpus;
    cfg.mem_bytes = 8u << 20;
    cfg.mode = record_mode;
    static emu_scenario s;
    bool have_scn = scenario_text != NULL;
    guest(guest_name, g, sizeof(g));
    if (have_scn) {
        char name[1100];
        snprintf(name, sizeof(name), "%s/test.scn", APICV_GUEST_DIR);
        ck_assert_msg(emu_scenario_parse(name, scenario_text, &s, err, sizeof(err)), "%s", err);
        emu_scenario_config(&s, &cfg);
    }
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    emu_recorder *rec;
    emu_record_info info = {.guest_path = g, .scenario = have_scn ? &s : NULL,
                            .emu_version = "test", .digest_interval = 10000};
    ck_assert_msg(emu_record_begin(&machine, path, &info, &rec, err, sizeof(err)), "%s", err);
    if (have_scn)
        ck_assert_msg(emu_scenario_apply(&s, &machine, err, sizeof(err)), "%s", err);
    while (!emu_record_run(rec, machine.now + 1000000))
        ;
    ck_assert_msg(emu_record_end(rec, err, sizeof(err)), "%s", err);
    int status = have_scn ? emu_scenario_check(&s, stderr) : machine.exit_status;
    emu_machine_free(&machine);
    if (have_scn)
        emu_scenario_free(&s);
    return status;
}

static int replay_verify(const char *path)
{
    char *argv[] = {"replay", "--verify", (char *)path, NULL};
    return emu_replay_main(3, argv);
}

static void tmp_path(char *out, size_t len, const char *tag)
{
    snprintf(out, len, "/tmp/apicv-test-replay-%d-%s.trace", (int)getpid(), tag);
}

START_TEST(round_trip_native)
{
    char path[256];
    tmp_path(path, sizeof(path), "rt");
    int st = record("apic_ipi.elf", NULL, 2, path);
    ck_assert_int_eq(st, 0);
    trace_file t;
    char err[1024];
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_uint_gt(t.nevents, 10);
    ck_assert_uint_ge(t.ndigests, 3);
    ck_assert_int_eq(t.end.exit_status, 0);
    ck_assert_str_eq(t.header.mode_name, "native");
    ck_assert_uint_eq(t.header.ncpus, 2);
    trace_file_free(&t);
    ck_assert_int_eq(replay_verify(path), 0);
    unlink(path);
}
END_TEST

/* The scenario used by the input tests: an MSI at a fixed cycle. */
static const char *msi_scenario = "apicv-scenario 1\n"
                                  "guest hello.elf\n"
                                  "cpus 2\n"
                                  "at 5000 msi vector=0x61 cpu=1\n"
                                  "caption at 0 \"start\"\n"
                                  "expect end events emu.msi-deliver cpu=1 a=0x61 == 1\n";

START_TEST(round_trip_scenario_with_input)
{
    char path[256];
    tmp_path(path, sizeof(path), "scn");
    ck_assert_int_eq(record("hello.elf", msi_scenario, 2, path), 0);
    trace_file t;
    char err[1024];
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(t.ninputs, 1);
    ck_assert_uint_eq(t.inputs[0].cycle, 5000);
    ck_assert_uint_eq(t.inputs[0].a, 0x61);
    ck_assert_ptr_nonnull(t.header.scenario_text);
    trace_file_free(&t);
    ck_assert_int_eq(replay_verify(path), 0);
    unlink(path);
}
END_TEST

/* Flipping the input's vector: the replay delivers another vector, caught
 * at the stimulus, on its CPU. */
START_TEST(altered_input_caught)
{
    char path[256], err[2048];
    tmp_path(path, sizeof(path), "in");
    ck_assert_int_eq(record("hello.elf", msi_scenario, 2, path), 0);
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    t.inputs[0].a = 0x62;
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    trace_file_free(&t);
    emu_replayer *r;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), 0);
    while (!emu_replay_run(r, emu_replay_machine(r)->now + 1000000))
        ;
    const char *d = emu_replay_divergence(r);
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(strstr(d, "on cpu1") != NULL, "%s", d);
    ck_assert_msg(strstr(d, "scn.stimulus") != NULL, "%s", d);
    /* At the boundary where the MSI was applied: cycle 5000 or just after. */
    unsigned long long cyc = 0;
    ck_assert_int_eq(sscanf(d, "diverged at cycle %llu", &cyc), 1);
    ck_assert_uint_ge(cyc, 5000);
    ck_assert_uint_lt(cyc, 5100);
    emu_replay_close(r);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_DIVERGED);
    unlink(path);
}
END_TEST

/* Flipping one part of a digest: caught at that digest's cycle, naming the
 * CPU and the part. */
START_TEST(altered_digest_caught)
{
    char path[256], err[2048];
    tmp_path(path, sizeof(path), "dg");
    ck_assert_int_eq(record("apic_ipi.elf", NULL, 2, path), 0);
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_uint_ge(t.ndigests, 3);
    trace_digest *dg = &t.digests[1];
    uint64_t cycle = dg->cycle;
    bool flipped = false;
    for (uint32_t k = 0; k < dg->nparts; k++) {
        if (dg->part[k].cpu == 1 && dg->part[k].kind == TRACE_PART_APIC) {
            dg->part[k].value ^= 0x10;
            flipped = true;
        }
    }
    ck_assert(flipped);
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    trace_file_free(&t);
    emu_replayer *r;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), 0);
    while (!emu_replay_run(r, emu_replay_machine(r)->now + 1000000))
        ;
    const char *d = emu_replay_divergence(r);
    ck_assert_ptr_nonnull(d);
    char want[128];
    snprintf(want, sizeof(want), "diverged at cycle %llu on cpu1: digest #2: cpu1 apic",
             (unsigned long long)cycle);
    ck_assert_msg(strstr(d, want) == d, "got '%s', expected it to start with '%s'", d, want);
    ck_assert_msg(strstr(d, "cpu0") == NULL, "%s", d);
    emu_replay_close(r);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_DIVERGED);
    unlink(path);
}
END_TEST

/* An altered event (the order of the event log is what verify checks). */
START_TEST(altered_event_caught)
{
    char path[256], err[2048];
    tmp_path(path, sizeof(path), "ev");
    ck_assert_int_eq(record("apic_ipi.elf", NULL, 2, path), 0);
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    size_t k = t.nevents / 2;
    uint64_t cycle = t.events[k].cycle;
    unsigned cpu = t.events[k].cpu;
    t.events[k].b ^= 1;
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    trace_file_free(&t);
    emu_replayer *r;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), 0);
    while (!emu_replay_run(r, emu_replay_machine(r)->now + 1000000))
        ;
    const char *d = emu_replay_divergence(r);
    ck_assert_ptr_nonnull(d);
    char want[128];
    snprintf(want, sizeof(want), "diverged at cycle %llu on cpu%u: event #%zu",
             (unsigned long long)cycle, cpu, k + 1);
    ck_assert_msg(strstr(d, want) == d, "got '%s', expected '%s'", d, want);
    emu_replay_close(r);
    unlink(path);
}
END_TEST

/* Seeking: back to an earlier cycle gives the same state as getting there
 * the first time; forward again reaches the same end. */
START_TEST(seek_backwards_and_forwards)
{
    char path[256], err[2048];
    tmp_path(path, sizeof(path), "seek");
    ck_assert_int_eq(record("apic_ipi.elf", NULL, 2, path), 0);
    emu_replayer *r;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), 0);
    emu_machine *m = emu_replay_machine(r);
    uint64_t mid_digest, end_digest, again;
    ck_assert(emu_replay_seek(r, 30000, err, sizeof(err)));
    /* The first round boundary at or after it (idle CPUs may jump rounds). */
    uint64_t mid = m->now;
    ck_assert_uint_ge(mid, 30000);
    ck_assert(!m->finished);
    emu_machine_digest(m, &mid_digest);
    while (!emu_replay_run(r, m->now + 1000000))
        ;
    ck_assert_ptr_null(emu_replay_divergence(r));
    ck_assert(m->finished);
    emu_machine_digest(m, &end_digest);
    ck_assert_msg(emu_replay_seek(r, 30000, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(m->now, mid);
    ck_assert(!m->finished);
    emu_machine_digest(m, &again);
    ck_assert_uint_eq(again, mid_digest);
    /* Step back one quantum at a time, then run to the end again. */
    ck_assert(emu_replay_seek(r, 20000, err, sizeof(err)));
    ck_assert_uint_ge(m->now, 20000);
    ck_assert_uint_le(m->now, mid);
    while (!emu_replay_run(r, m->now + 1000000))
        ;
    ck_assert_ptr_null(emu_replay_divergence(r));
    emu_machine_digest(m, &again);
    ck_assert_uint_eq(again, end_digest);
    emu_replay_close(r);
    unlink(path);
}
END_TEST

static void count_events(void *ctx, const cpu_obs_event *ev)
{
    (void)ev;
    (*(uint64_t *)ctx)++;
}

/* VMX modes keep snapshots too (replay marks, the hypervisor's state
 * included): seeking back restores the one before and runs forward to the
 * same state; an observer subscribed from outside (the window's) keeps
 * hearing events. */
START_TEST(seek_backwards_in_posted_mode)
{
    char path[256], err[2048];
    tmp_path(path, sizeof(path), "seekvmx");
    record_mode = EMU_MODE_POSTED;
    ck_assert_int_eq(record("hv_irq.elf", NULL, 2, path), 0);
    record_mode = EMU_MODE_NATIVE;
    emu_replayer *r;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), 0);
    emu_machine *m = emu_replay_machine(r);
    ck_assert_ptr_nonnull(m->hv);
    uint64_t seen = 0, mid_digest, end_digest, again;
    ck_assert(cpu_obs_subscribe(&m->obs, count_events, &seen));
    ck_assert(emu_replay_seek(r, 300000, err, sizeof(err)));
    uint64_t mid = m->now;
    ck_assert(!m->finished);
    emu_machine_digest(m, &mid_digest);
    while (!emu_replay_run(r, m->now + 1000000))
        ;
    ck_assert_ptr_null(emu_replay_divergence(r));
    emu_machine_digest(m, &end_digest);
    ck_assert_msg(emu_replay_seek(r, 300000, err, sizeof(err)), "%s", err);
    ck_assert_ptr_eq(emu_replay_machine(r), m);
    ck_assert_uint_eq(m->now, mid);
    emu_machine_digest(m, &again);
    ck_assert_uint_eq(again, mid_digest);
    uint64_t before = seen;
    while (!emu_replay_run(r, m->now + 1000000))
        ;
    ck_assert_ptr_null(emu_replay_divergence(r));
    ck_assert_uint_gt(seen, before); /* still subscribed after going back */
    emu_machine_digest(m, &again);
    ck_assert_uint_eq(again, end_digest);
    emu_replay_close(r);
    unlink(path);
}
END_TEST

/* A recording stopped before the run ended (the window closed): the replay
 * stops at the same cycle and checks the final state there. */
START_TEST(unfinished_recording)
{
    char path[256], g[1024], err[1024];
    tmp_path(path, sizeof(path), "unf");
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = 2;
    cfg.mem_bytes = 8u << 20;
    guest("apic_ipi.elf", g, sizeof(g));
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    emu_recorder *rec;
    emu_record_info info = {.guest_path = g, .digest_interval = 10000};
    ck_assert_msg(emu_record_begin(&machine, path, &info, &rec, err, sizeof(err)), "%s", err);
    ck_assert(!emu_record_run(rec, 20000));
    ck_assert_msg(emu_record_end(rec, err, sizeof(err)), "%s", err);
    emu_machine_free(&machine);
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(t.end.exit_status, -1);
    ck_assert_uint_eq(t.end.cycle, 20000);
    trace_file_free(&t);
    emu_replayer *r;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), 0);
    while (!emu_replay_run(r, emu_replay_machine(r)->now + 1000000))
        ;
    ck_assert_ptr_null(emu_replay_divergence(r));
    ck_assert_uint_eq(emu_replay_machine(r)->now, 20000);
    ck_assert(!emu_replay_machine(r)->finished);
    emu_replay_close(r);
    ck_assert_int_eq(replay_verify(path), 0);
    unlink(path);
}
END_TEST

/* Every mode the machine runs: record → replay --verify with a device MSI.
 * A mode the machine does not run yet must say so (and is reported). */
START_TEST(round_trip_every_mode)
{
    char path[256], g[1024], err[1024];
    tmp_path(path, sizeof(path), "mode");
    guest("hello.elf", g, sizeof(g));
    emu_mode mode = (emu_mode)_i;
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = mode;
    cfg.ncpus = 2;
    cfg.mem_bytes = 8u << 20;
    if (!emu_machine_init(&machine, &cfg, g, err, sizeof(err))) {
        ck_assert_msg(strstr(err, "not implemented") != NULL, "%s", err);
        fprintf(stderr, "test_replay: mode %s not run by the machine yet: %s\n",
                emu_mode_name(mode), err);
        return;
    }
    emu_machine_free(&machine);
    record_mode = mode;
    int st = record("hello.elf", msi_scenario, 2, path);
    record_mode = EMU_MODE_NATIVE;
    ck_assert_int_eq(st, 0);
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_str_eq(t.header.mode_name, emu_mode_name(mode));
    trace_file_free(&t);
    ck_assert_int_eq(replay_verify(path), 0);
    unlink(path);
}
END_TEST

START_TEST(bad_traces_status_2)
{
    char path[256];
    tmp_path(path, sizeof(path), "bad");
    FILE *f = fopen(path, "wb");
    fputs("not a trace", f);
    fclose(f);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_USAGE);
    ck_assert_int_eq(replay_verify("/nonexistent/x.trace"), EMU_EXIT_USAGE);
    char *argv[] = {"replay", "--bogus", path, NULL};
    ck_assert_int_eq(emu_replay_main(3, argv), EMU_EXIT_USAGE);
    unlink(path);
}
END_TEST

/* Writes text to a temporary file of this test. */
static void put_file(char *out, size_t len, const char *tag, const char *text)
{
    snprintf(out, len, "/tmp/apicv-test-replay-%d-%s", (int)getpid(), tag);
    FILE *f = fopen(out, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A recorded Multiboot kernel run replays (issue 9): the boot record keeps
 * --append and each --initrd module (name and bytes), and the kernel sees
 * its recorded path in the command line, not the replay's temporary file.
 * Altering the recorded text or a module's byte is caught (the
 * information structure and the modules are in guest RAM). */
START_TEST(multiboot_round_trip)
{
    char path[256], plain[256], m1[256], m2[256], cmd[2048], err[2048];
    tmp_path(path, sizeof(path), "mb");
    tmp_path(plain, sizeof(plain), "mb-plain");
    put_file(m1, sizeof(m1), "module-a", "module A\n");
    put_file(m2, sizeof(m2), "module-b", "the second module\n");
    snprintf(cmd, sizeof(cmd), "%s run --headless --quiet --record %s %s/mb_smp.elf >/dev/null",
             APICV_EMU, plain, APICV_GUEST_DIR);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(replay_verify(plain), 0);
    snprintf(cmd, sizeof(cmd), "%s run --headless --quiet --record %s --append 'console=ttyS0 x=1' "
             "--initrd %s --initrd %s %s/mb_smp.elf >/dev/null",
             APICV_EMU, path, m1, m2, APICV_GUEST_DIR);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(replay_verify(path), 0);

    trace_file t;
    ck_assert_msg(trace_load(plain, &t, err, sizeof(err)), "%s", err);
    ck_assert_ptr_nonnull(t.boot);
    ck_assert(!t.boot->has_append);
    ck_assert_uint_eq(t.boot->nmodules, 0);
    trace_file_free(&t);
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(t.header.format_version, TRACE_FORMAT_VERSION);
    ck_assert_ptr_nonnull(t.boot);
    ck_assert(t.boot->has_append);
    ck_assert_str_eq(t.boot->append, "console=ttyS0 x=1");
    ck_assert_uint_eq(t.boot->nmodules, 2);
    ck_assert_str_eq(t.boot->module[0].name, m1);
    ck_assert_str_eq(t.boot->module[1].name, m2);
    ck_assert_uint_eq(t.boot->module[1].len, strlen("the second module\n"));
    /* The command line as recorded, but another text: a divergence. */
    snprintf(t.boot->append, sizeof(t.boot->append), "console=ttyS0 x=2");
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_DIVERGED);
    snprintf(t.boot->append, sizeof(t.boot->append), "console=ttyS0 x=1");
    t.boot->module[0].data[0] ^= 1;
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_DIVERGED);
    /* A boot record in a version-2 trace is malformed (status 2). */
    t.header.format_version = 2;
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    trace_file_free(&t);
    ck_assert(!trace_load(path, &t, err, sizeof(err)));
    ck_assert_msg(strstr(err, "expected no boot record in a format version 2 trace"), "%s", err);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_USAGE);
    unlink(path);
    unlink(plain);
    unlink(m1);
    unlink(m2);
}
END_TEST

/* A run with a reduced CPU model replays with it: the trace's header holds
 * the --cpu features taken away (format version 4). apic_ipi switches to
 * x2APIC mode; under max,-x2apic that WRMSR faults (CPUID.1:ECX[21] clear),
 * so a replay with the full model would run differently: the recording
 * with its model taken out is caught as a divergence, and a mask naming no
 * feature is refused by field (status 2). */
START_TEST(cpu_model_round_trip)
{
    char path[256], cmd[2048], err[2048];
    tmp_path(path, sizeof(path), "cpu");
    snprintf(cmd, sizeof(cmd), "%s run --headless --quiet --cpus 2 --cpu max,-x2apic --record %s "
                               "%s/apic_ipi.elf >/dev/null 2>&1",
             APICV_EMU, path, APICV_GUEST_DIR);
    ck_assert_int_ne(system(cmd), -1);
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(t.header.format_version, TRACE_FORMAT_VERSION);
    ck_assert_uint_eq(t.header.cpu_off, EMU_CPU_F_X2APIC);
    int want = t.end.exit_status;
    ck_assert_int_ge(want, 0);
    ck_assert_int_eq(replay_verify(path), want);
    /* The same recording replayed with the full model diverges. */
    t.header.cpu_off = 0;
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_DIVERGED);
    /* A feature the emulator does not know: malformed, named. */
    t.header.cpu_off = 0x80;
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    trace_file_free(&t);
    emu_replayer *r = NULL;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), EMU_EXIT_USAGE);
    ck_assert_msg(strstr(err, "header field 'CPU features taken away'"), "%s", err);
    ck_assert_int_eq(replay_verify(path), EMU_EXIT_USAGE);
    unlink(path);
}
END_TEST

/* Every trace kept in traces/recorded/ replays with --verify. */
START_TEST(recorded_traces_verify)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/traces/recorded", APICV_SOURCE_DIR);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    unsigned n = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".trace") != 0)
            continue;
        char path[2048], err[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        trace_file t;
        ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
        int want = t.end.exit_status;
        trace_file_free(&t);
        ck_assert_msg(replay_verify(path) == want, "%s did not replay with --verify", path);
        n++;
    }
    closedir(d);
    /* ipi_native, msi_native, posted_demo and irq_emulated (traces/README.md). */
    ck_assert_uint_ge(n, 4);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_native);
    tcase_add_test(tc, round_trip_scenario_with_input);
    tcase_add_test(tc, altered_input_caught);
    tcase_add_test(tc, altered_digest_caught);
    tcase_add_test(tc, altered_event_caught);
    tcase_add_test(tc, seek_backwards_and_forwards);
    tcase_add_test(tc, seek_backwards_in_posted_mode);
    tcase_add_test(tc, unfinished_recording);
    tcase_add_loop_test(tc, round_trip_every_mode, 0, EMU_MODE_COUNT);
    tcase_add_test(tc, bad_traces_status_2);
    tcase_add_test(tc, recorded_traces_verify);
    tcase_add_test(tc, multiboot_round_trip);
    tcase_add_test(tc, cpu_model_round_trip);
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
