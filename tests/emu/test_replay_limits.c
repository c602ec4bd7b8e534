/*
 * test_replay_limits.c — what replay refuses and what it costs (issue 8
 * item 10):
 *
 *   - every header field a recording holds is checked against what
 *     `run --record` can write; a trace whose cycle costs are 0 (the clock
 *     would stand still: the replay hung) is refused with status 2 and a
 *     message naming the field;
 *   - replaying the trace of a 4 GiB machine does not copy its RAM: the
 *     digest and the replay's snapshots hold only the pages in use;
 *   - the RAM digest sees one byte anywhere, and a page written back to
 *     zeros digests as a page never touched.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "emu/emu_record.h"

static emu_machine machine;

static void tmp_path(char *out, size_t len, const char *tag)
{
    snprintf(out, len, "/tmp/apicv-test-replay-limits-%d-%s.trace", (int)getpid(), tag);
}

static void record_hello(const char *path, uint64_t mem_bytes)
{
    char g[1024], err[1024];
    snprintf(g, sizeof(g), "%s/hello.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.mem_bytes = mem_bytes;
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    emu_recorder *rec;
    emu_record_info info = {.guest_path = g, .emu_version = "test", .digest_interval = 10000};
    ck_assert_msg(emu_record_begin(&machine, path, &info, &rec, err, sizeof(err)), "%s", err);
    while (!emu_record_run(rec, machine.now + 1000000))
        ;
    ck_assert_msg(emu_record_end(rec, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(machine.exit_status, 0);
    emu_machine_free(&machine);
}

/* One alteration of the header per loop index, and the field the message
 * must name. */
static const char *alter(trace_header *h, int i)
{
    switch (i) {
    case 0:
        for (unsigned k = 0; k < h->ncosts; k++)
            h->costs[k] = 0;
        return "header field 'cost of 'simple'': expected 1..10000 cycles, got 0";
    case 1:
        h->costs[CPU_COST_BRANCH] = 0;
        return "'cost of 'branch''";
    case 2:
        h->costs[CPU_COST_MEM] = 20000;
        return "'cost of 'mem'': expected 0..10000 cycles, got 20000";
    case 3:
        snprintf(h->mode_name, sizeof(h->mode_name), "posted");
        return "header field 'mode name'";
    case 4:
        h->digest_interval += 1;
        return "header field 'digest interval'";
    case 5:
        h->quantum = 0;
        return "header field 'quantum'";
    case 6:
        h->mem_bytes = 3ull << 19;
        return "header field 'RAM size'";
    case 7:
        h->ncpus = 9;
        return "header field 'cpus'";
    default:
        h->mode = 7;
        return "header field 'mode'";
    }
}

START_TEST(header_fields_are_checked_by_name)
{
    char path[256], err[2048];
    tmp_path(path, sizeof(path), "hdr");
    record_hello(path, 8u << 20);
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    const char *want = alter(&t.header, _i);
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    trace_file_free(&t);
    emu_replayer *r = NULL;
    err[0] = 0;
    int st = emu_replay_open(path, true, &r, err, sizeof(err));
    if (st == 0)
        emu_replay_close(r);
    ck_assert_msg(st == EMU_EXIT_USAGE, "alteration %d: status %d (%s)", _i, st, err);
    ck_assert_msg(strstr(err, want) != NULL, "alteration %d: '%s' not in: %s", _i, want, err);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
    /* The command says the same, status 2, without running anything. */
    char *argv[] = {"replay", "--verify", path, NULL};
    ck_assert_int_eq(emu_replay_main(3, argv), EMU_EXIT_USAGE);
    unlink(path);
}
END_TEST

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A 4 GiB machine running hello: recording, replay --verify (with the
 * window's snapshots, which the replay takes from the start) and a seek
 * back cost megabytes, not the RAM size. */
/* Records hello.elf in posted mode (its output is port I/O: VM exits the
 * hypervisor handles) with the default cost model, or with the classes a
 * version-1 trace did not have set to 0. */
static void record_posted_hello_from(const char *path, unsigned first_zero)
{
    char g[1024], err[1024];
    snprintf(g, sizeof(g), "%s/hello.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_POSTED;
    cpu_cost_model costs;
    cpu_cost_default(&costs);
    for (unsigned k = first_zero; k < CPU_COST_NCLASSES; k++)
        costs.cost[k] = 0;
    cfg.costs = &costs;
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    emu_recorder *rec;
    emu_record_info info = {.guest_path = g, .emu_version = "test", .digest_interval = 10000};
    ck_assert_msg(emu_record_begin(&machine, path, &info, &rec, err, sizeof(err)), "%s", err);
    while (!emu_record_run(rec, machine.now + 1000000))
        ;
    ck_assert_msg(emu_record_end(rec, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(machine.exit_status, 0);
    emu_machine_free(&machine);
}

static void record_posted_hello(const char *path, bool v1_model)
{
    record_posted_hello_from(path, v1_model ? CPU_COST_FIRST_OPTIONAL : CPU_COST_NCLASSES);
}

/* Rewrites a trace's header as format version 1 wrote it: the first
 * CPU_COST_FIRST_OPTIONAL cost classes only. */
static void make_v1(const char *path, unsigned version, unsigned ncosts)
{
    char err[1024];
    trace_file t;
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    t.header.format_version = version;
    t.header.ncosts = ncosts;
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    trace_file_free(&t);
}

static int verify(const char *path, char *err, size_t errlen, const char **divergence)
{
    emu_replayer *r = NULL;
    err[0] = 0;
    int st = emu_replay_open(path, true, &r, err, errlen);
    if (st != 0)
        return st;
    while (!emu_replay_run(r, emu_replay_machine(r)->now + 1000000))
        ;
    static char div[1024];
    const char *d = emu_replay_divergence(r);
    snprintf(div, sizeof(div), "%s", d ? d : "");
    *divergence = d ? div : NULL;
    emu_replay_close(r);
    return 0;
}

/* A version-1 trace (before the per-exit-reason classes) is still read:
 * its run charged nothing for the hypervisor's work, the IPI trip,
 * posted-interrupt processing and virtual-interrupt delivery, so the
 * replay does the same and verifies. A version-1 header with the new
 * number of classes, or a version-2 one with the old, is refused by
 * name. */
START_TEST(version_1_traces_replay_with_the_new_classes_at_0)
{
    char path[256], err[2048];
    const char *div = NULL;
    tmp_path(path, sizeof(path), "v1");
    record_posted_hello(path, true);
    make_v1(path, 1, CPU_COST_FIRST_OPTIONAL);
    ck_assert_int_eq(verify(path, err, sizeof(err), &div), 0);
    ck_assert_msg(div == NULL, "%s", div);

    /* The same downgrade of a run that did pay for them diverges. */
    record_posted_hello(path, false);
    make_v1(path, 1, CPU_COST_FIRST_OPTIONAL);
    ck_assert_int_eq(verify(path, err, sizeof(err), &div), 0);
    ck_assert_ptr_nonnull(div);

    record_posted_hello(path, false);
    make_v1(path, 1, CPU_COST_NCLASSES);
    ck_assert_int_eq(verify(path, err, sizeof(err), &div), EMU_EXIT_USAGE);
    ck_assert_msg(strstr(err, "header field 'number of cost classes': expected 15 cost classes "
                              "(format version 1), got 37") != NULL,
                  "%s", err);
    record_posted_hello(path, false);
    make_v1(path, 2, CPU_COST_FIRST_OPTIONAL);
    ck_assert_int_eq(verify(path, err, sizeof(err), &div), EMU_EXIT_USAGE);
    ck_assert_msg(strstr(err, "expected 31 cost classes (format version 2), got 15") != NULL, "%s",
                  err);
    unlink(path);
}
END_TEST

/* A version-4 trace (before the processor's per-exit-reason and entry
 * extras: 31 classes) replays with those at 0, what its run charged, and
 * verifies; the same downgrade of a run that paid them diverges (its
 * first entry paid vmentry_checks); a version-5 header with 31 classes is
 * refused by name. */
START_TEST(version_4_traces_replay_with_the_exit_extras_at_0)
{
    char path[256], err[2048];
    const char *div = NULL;
    tmp_path(path, sizeof(path), "v4");
    record_posted_hello_from(path, CPU_COST_FIRST_V5);
    make_v1(path, 4, CPU_COST_FIRST_V5);
    ck_assert_int_eq(verify(path, err, sizeof(err), &div), 0);
    ck_assert_msg(div == NULL, "%s", div);

    record_posted_hello(path, false);
    make_v1(path, 4, CPU_COST_FIRST_V5);
    ck_assert_int_eq(verify(path, err, sizeof(err), &div), 0);
    ck_assert_ptr_nonnull(div);

    record_posted_hello(path, false);
    make_v1(path, 5, CPU_COST_FIRST_V5);
    ck_assert_int_eq(verify(path, err, sizeof(err), &div), EMU_EXIT_USAGE);
    ck_assert_msg(strstr(err, "expected 37 cost classes (format version 5), got 31") != NULL, "%s",
                  err);
    unlink(path);
}
END_TEST

START_TEST(replay_of_a_4gib_machine_does_not_copy_ram)
{
    char path[256], err[2048];
    tmp_path(path, sizeof(path), "4g");
    record_hello(path, 4096ull << 20);
    emu_replayer *r;
    ck_assert_int_eq(emu_replay_open(path, true, &r, err, sizeof(err)), 0);
    while (!emu_replay_run(r, emu_replay_machine(r)->now + 1000000))
        ;
    ck_assert_msg(emu_replay_divergence(r) == NULL, "%s", emu_replay_divergence(r));
    ck_assert_int_eq(emu_replay_machine(r)->exit_status, 0);
    ck_assert_msg(emu_replay_seek(r, 0, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(emu_replay_machine(r)->now, 0);
    emu_replay_close(r);
    long kib = max_rss_kib();
    ck_assert_msg(kib < 1024 * 1024, "peak RSS %ld KiB for a 4 GiB machine", kib);
    unlink(path);
}
END_TEST

/* The RAM part of the digest: one byte in the last page changes it; a page
 * written and cleared again digests as one never touched. */
START_TEST(ram_digest_sees_every_page)
{
    char g[1024], err[1024];
    snprintf(g, sizeof(g), "%s/hello.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.mem_bytes = 64u << 20;
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    static trace_digest d0, d1, d2;
    emu_record_digest(&machine, &d0);
    uint64_t last = machine.phys.ram_size - 1;
    machine.phys.ram[last] = 1;
    emu_record_digest(&machine, &d1);
    machine.phys.ram[last] = 0;
    emu_record_digest(&machine, &d2);
    uint64_t r0 = 0, r1 = 0, r2 = 0;
    for (uint32_t k = 0; k < d0.nparts; k++)
        if (d0.part[k].kind == TRACE_PART_RAM) {
            r0 = d0.part[k].value;
            r1 = d1.part[k].value;
            r2 = d2.part[k].value;
        }
    ck_assert_uint_ne(r0, 0);
    ck_assert_uint_ne(r0, r1);
    ck_assert_uint_eq(r0, r2);
    /* The same byte one page lower is another digest. */
    machine.phys.ram[last - 4096] = 1;
    emu_record_digest(&machine, &d2);
    for (uint32_t k = 0; k < d2.nparts; k++)
        if (d2.part[k].kind == TRACE_PART_RAM)
            ck_assert_uint_ne(d2.part[k].value, r1);
    emu_machine_free(&machine);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replay_limits");
    TCase *tc = tcase_create("replay_limits");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, header_fields_are_checked_by_name, 0, 9);
    tcase_add_test(tc, replay_of_a_4gib_machine_does_not_copy_ram);
    tcase_add_test(tc, version_1_traces_replay_with_the_new_classes_at_0);
    tcase_add_test(tc, version_4_traces_replay_with_the_exit_extras_at_0);
    tcase_add_test(tc, ram_digest_sees_every_page);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
