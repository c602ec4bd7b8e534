/*
 * test_interrupt.c — runs that end from outside or on a failed output
 * (issue 8 items 11 and 12), with the emulator as a child process:
 *
 *   - SIGINT (Ctrl-C) or SIGTERM ends a run of a guest that never ends:
 *     status 130 (143), a summary of each vCPU on standard error, the log
 *     flushed and the --record trace finalized so trace-dump reads it;
 *   - a write to standard output, --log or --record that fails (/dev/full)
 *     ends the run at once with status 2 and a message naming the output;
 *   - inputs that are not regular files are refused at once with status 2;
 *   - --screenshot to a path that cannot be written is refused before the
 *     run;
 *   - a diagnostic a guest makes repeat is printed a few times, then
 *     counted (in-process, on the machine's own diagnostic stream);
 *   - SIGINT/SIGTERM stop a `replay` the same way;
 *   - the fuzzer's hang input (preemption timer 0) ends under the CLI.
 *
 * Every child runs under a wall-clock watchdog: one that does not end in
 * time is killed and the test fails.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emu/emu.h"
#include "emu/emu_scenario.h"

#define GUEST(name) APICV_GUEST_DIR "/" name ".elf"

typedef struct child {
    pid_t pid;
    char out[256], err[256]; /* files holding its stdout and stderr */
} child;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Starts APICV_EMU with argv[1..]; stdout to out_path (NULL: a file of its
 * own), stderr to a file. */
static void spawn(child *c, const char *tag, const char *out_path, char *const argv[])
{
    snprintf(c->out, sizeof(c->out), "/tmp/apicv-test-int-%d-%s.out", (int)getpid(), tag);
    snprintf(c->err, sizeof(c->err), "/tmp/apicv-test-int-%d-%s.err", (int)getpid(), tag);
    c->pid = fork();
    ck_assert_int_ge(c->pid, 0);
    if (c->pid == 0) {
        int o = open(out_path ? out_path : c->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(c->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(99);
        dup2(o, 1);
        dup2(e, 2);
        execv(APICV_EMU, argv);
        _exit(98);
    }
}

/* Waits at most `seconds` for the child; -1 (and the child killed) when it
 * did not end. Otherwise its exit status, or 200 + signal. */
static int wait_for(child *c, double seconds)
{
    double t0 = now_s();
    int st;
    while (now_s() - t0 < seconds) {
        pid_t p = waitpid(c->pid, &st, WNOHANG);
        if (p == c->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
        usleep(20000);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &st, 0);
    return -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* The last `len` bytes of a file (a dump may be large). */
static char *tail_of(const char *path, long len)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, (size_t)len + 1);
    if (!f)
        return buf;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > len ? size - len : 0, SEEK_SET);
    size_t n = fread(buf, 1, (size_t)len, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Waits until the child's stdout holds `text` (the guest is running). */
static void wait_output(const child *c, const char *text)
{
    double t0 = now_s();
    for (;;) {
        char *o = slurp(c->out);
        bool seen = strstr(o, text) != NULL;
        free(o);
        if (seen)
            return;
        ck_assert_msg(now_s() - t0 < 60, "the guest never printed '%s'", text);
        usleep(20000);
    }
}

static void cleanup(const child *c)
{
    unlink(c->out);
    unlink(c->err);
}

/* Ctrl-C on a guest that never ends, natively and under the hypervisor. */
START_TEST(sigint_stops_a_hanging_guest)
{
    static const char *const modes[] = {"native", "posted", "emulated"};
    int sig = _i == 3 ? SIGTERM : SIGINT;
    const char *mode = modes[_i % 3];
    char log[256], trace[256];
    snprintf(log, sizeof(log), "/tmp/apicv-test-int-%d.log", (int)getpid());
    snprintf(trace, sizeof(trace), "/tmp/apicv-test-int-%d.trace", (int)getpid());
    char *argv[] = {"apicv-emu", "run", "--headless", "--mode", (char *)mode, "--cpus", "2",
                    "--log", log, "--record", trace, GUEST("hang"), NULL};
    child c;
    spawn(&c, "sigint", NULL, argv);
    wait_output(&c, "hang: spinning");
    usleep(300000);
    kill(c.pid, sig);
    int st = wait_for(&c, 60);
    char *err = slurp(c.err);
    ck_assert_msg(st == 128 + sig, "%s: status %d, stderr:\n%s", mode, st, err);
    ck_assert_msg(strstr(err, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM"),
                  "%s", err);
    ck_assert_msg(strstr(err, "cpu0: RIP 0x") && strstr(err, "cpu1: RIP 0x"), "%s", err);
    ck_assert_msg(strstr(err, "local APIC: IRR"), "%s", err);
    ck_assert_msg(strstr(err, "ev="), "no recent events in:\n%s", err);
    free(err);
    /* The log was flushed: it ends with a whole line. */
    FILE *lf = fopen(log, "rb");
    ck_assert_ptr_nonnull(lf);
    ck_assert_int_eq(fseek(lf, -1, SEEK_END), 0);
    ck_assert_int_eq(fgetc(lf), '\n');
    fclose(lf);
    /* The trace was finalized: trace-dump reads it to its end record. */
    char *dump_argv[] = {"apicv-emu", "trace-dump", trace, NULL};
    child d;
    spawn(&d, "dump", NULL, dump_argv);
    ck_assert_int_eq(wait_for(&d, 60), 0);
    char *out = tail_of(d.out, 4096);
    ck_assert_msg(strstr(out, "\nend ") != NULL, "%s", out);
    free(out);
    /* And it replays: an unfinished recording up to where it stopped. */
    char *rp_argv[] = {"apicv-emu", "replay", "--verify", trace, NULL};
    child rp;
    spawn(&rp, "replay", NULL, rp_argv);
    int rst = wait_for(&rp, 120);
    char *rerr = slurp(rp.err);
    ck_assert_msg(rst == 0, "replay status %d: %s", rst, rerr);
    free(rerr);
    cleanup(&c);
    cleanup(&d);
    cleanup(&rp);
    unlink(log);
    unlink(trace);
}
END_TEST

/* Standard output, --log or --record on a full disk: the run ends at the
 * failed write (the guest would never end), status 2, naming the output. */
START_TEST(failed_writes_end_the_run_at_once)
{
    const char *want;
    char *argv[16] = {"apicv-emu", "run", "--headless", "--mode", "native"};
    int a = 5;
    const char *out = NULL;
    if (_i == 0) {
        out = "/dev/full";
        want = "standard output";
    } else if (_i == 1) {
        argv[a++] = "--log";
        argv[a++] = "/dev/full";
        want = "--log /dev/full";
    } else {
        argv[a++] = "--record";
        argv[a++] = "/dev/full";
        want = "--record /dev/full";
    }
    argv[a++] = GUEST("hang");
    argv[a] = NULL;
    child c;
    spawn(&c, "full", out, argv);
    int st = wait_for(&c, 90);
    char *err = slurp(c.err);
    ck_assert_msg(st == EMU_EXIT_USAGE, "%s: status %d (-1: still running), stderr:\n%s", want,
                  st, err);
    ck_assert_msg(strstr(err, want) && strstr(err, "write failed"), "%s", err);
    free(err);
    cleanup(&c);
}
END_TEST

/* A FIFO (would block forever), /dev/zero (never ends), a directory: as the
 * guest, a scenario, a trace and a cost model, refused at once. */
START_TEST(inputs_that_are_not_files_are_refused)
{
    char fifo[256], scn[256];
    snprintf(fifo, sizeof(fifo), "/tmp/apicv-test-int-%d.fifo", (int)getpid());
    snprintf(scn, sizeof(scn), "/tmp/apicv-test-int-%d.scn", (int)getpid());
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    symlink(fifo, scn);
    struct {
        const char *what;
        char *argv[8];
    } cases[] = {
        {"a FIFO", {"apicv-emu", "run", "--headless", fifo, NULL}},
        {"a character device", {"apicv-emu", "run", "--headless", "/dev/zero", NULL}},
        {"a directory", {"apicv-emu", "run", "--headless", "/tmp", NULL}},
        {"a FIFO", {"apicv-emu", "run", "--headless", scn, NULL}},
        {"a FIFO", {"apicv-emu", "replay", "--headless", fifo, NULL}},
        {"a character device", {"apicv-emu", "trace-dump", "/dev/zero", NULL}},
        {"a character device",
         {"apicv-emu", "run", "--headless", "--cost-model", "/dev/zero", GUEST("hello"), NULL}},
    };
    for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        child c;
        spawn(&c, "input", NULL, cases[k].argv);
        int st = wait_for(&c, 20);
        char *err = slurp(c.err);
        ck_assert_msg(st == EMU_EXIT_USAGE, "case %u: status %d: %s", k, st, err);
        ck_assert_msg(strstr(err, "expected a regular file") && strstr(err, cases[k].what),
                      "case %u: %s", k, err);
        free(err);
        cleanup(&c);
    }
    unlink(scn);
    unlink(fifo);
}
END_TEST

/* --screenshot into a directory that does not exist: refused before the
 * run (which would otherwise run to its end first). */
START_TEST(screenshot_to_an_unwritable_path_is_refused_first)
{
    char *argv[] = {"apicv-emu", "run", "--screenshot", "/nonexistent/dir/x.png",
                    GUEST("hang"), NULL};
    child c;
    spawn(&c, "shot", NULL, argv);
    int st = wait_for(&c, 20);
    char *err = slurp(c.err);
    ck_assert_msg(st == EMU_EXIT_USAGE, "status %d: %s", st, err);
    ck_assert_msg(strstr(err, "--screenshot /nonexistent/dir/x.png"), "%s", err);
    free(err);
    char *o = slurp(c.out);
    ck_assert_msg(strstr(o, "hang: spinning") == NULL, "the guest ran: %s", o);
    free(o);
    cleanup(&c);
}
END_TEST

/* 200 unimplemented instructions (and, under the hypervisor, 200 INIT IPIs
 * it does not emulate), 200 SMIs: each kind printed EMU_DIAG_REPEAT times,
 * then one line saying the rest are counted, and the count at the end. The
 * guest's 200 8259A initializations in level-triggered mode (LTIM) are
 * modelled and report nothing. */
START_TEST(repeated_diagnostics_are_rate_limited)
{
    emu_mode mode = _i == 0 ? EMU_MODE_NATIVE : EMU_MODE_POSTED;
    emu_machine *m = calloc(1, sizeof(*m));
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = mode;
    cfg.ncpus = 2;
    char err[512];
    ck_assert_msg(emu_machine_init(m, &cfg, GUEST("diag_flood"), err, sizeof(err)), "%s", err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    m->diag_out = f;
    while (!emu_machine_run(m, UINT64_MAX))
        ;
    ck_assert_int_eq(m->exit_status, 0);
    emu_diag_summary(m, f);
    fclose(f);
    unsigned lines = 0, unimpl = 0;
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            lines++;
    for (char *p = buf; (p = strstr(p, "unimplemented instruction at")); p++)
        unimpl++;
    ck_assert_uint_eq(m->diag_count[EMU_DIAG_UNIMPLEMENTED], 200);
    ck_assert_msg(unimpl == EMU_DIAG_REPEAT, "%u lines:\n%s", unimpl, buf);
    ck_assert_msg(strstr(buf, "200 'unimplemented instruction' diagnostics in all"), "%s", buf);
    if (mode != EMU_MODE_NATIVE) {
        ck_assert_uint_eq(m->diag_count[EMU_DIAG_IPI], 200);
        ck_assert_msg(strstr(buf, "200 'IPI not emulated' diagnostics in all"), "%s", buf);
    }
    /* SMIs: natively no SMM, under the hypervisor an I/O APIC message it
     * does not emulate. */
    ck_assert_uint_eq(m->diag_count[EMU_DIAG_MESSAGE], 200);
    ck_assert_msg(strstr(buf, "200 'interrupt message not emulated' diagnostics in all"), "%s", buf);
    ck_assert_uint_eq(m->diag_count[EMU_DIAG_DEVICE], 0);
    ck_assert_msg(!strstr(buf, "LTIM"), "%s", buf);
    ck_assert_msg(lines <= EMU_DIAG_NKINDS * (EMU_DIAG_REPEAT + 2), "%u lines:\n%s", lines, buf);
    free(buf);
    emu_machine_free(m);
    free(m);
}
END_TEST

/* A scenario's vmcs value that the first VM entry would refuse (reserved
 * pin-based controls; an unaligned virtual-APIC address) is bad input:
 * refused by emu_scenario_apply naming the line and the SDM section, and by
 * `run` with status 2 (it used to crash the run, status 3). */
START_TEST(bad_vmcs_value_is_bad_input)
{
    static const char *const lines[] = {"vmcs 0x4000 0xffffffff\n", "vmcs 0x2012 0x123\n"};
    static const char *const sections[] = {"26.2.1.1", "26.2.1.1"};
    char text[512], err[1024], path[256];
    snprintf(text, sizeof(text), "apicv-scenario 1\nguest hello.elf\nmode posted\n%s", lines[_i]);
    snprintf(path, sizeof(path), "%s/bad_vmcs_%d.scn", APICV_GUEST_DIR, (int)getpid());
    static emu_scenario s;
    ck_assert_msg(emu_scenario_parse(path, text, &s, err, sizeof(err)), "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(&s, &cfg);
    emu_machine *m = calloc(1, sizeof(*m));
    ck_assert_msg(emu_machine_init(m, &cfg, GUEST("hello"), err, sizeof(err)), "%s", err);
    err[0] = 0;
    ck_assert(!emu_scenario_apply(&s, m, err, sizeof(err)));
    ck_assert_msg(strstr(err, ":4: ") && strstr(err, "VM-entry check") &&
                      strstr(err, sections[_i]),
                  "%s", err);
    emu_machine_free(m);
    free(m);
    emu_scenario_free(&s);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    char *argv[] = {"apicv-emu", "run", "--headless", path, NULL};
    child c;
    spawn(&c, "vmcs", NULL, argv);
    int st = wait_for(&c, 30);
    char *e = slurp(c.err);
    ck_assert_msg(st == EMU_EXIT_USAGE, "status %d: %s", st, e);
    free(e);
    cleanup(&c);
    unlink(path);
}
END_TEST

/* Waits until process pid catches SIGINT and SIGTERM (its handlers are
 * installed: the run loop is about to start), from /proc/PID/status. Name
 * and SigCgt are read from the same snapshot and the name must be
 * apicv-emu's: between fork and exec the child still shows the test
 * runner's own handlers (Check catches SIGINT/SIGTERM), and a signal sent
 * then would reach an emulator that has not installed its handlers yet. */
static void wait_catches_sigint(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    double t0 = now_s();
    const unsigned long long both = (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1));
    for (;;) {
        FILE *f = fopen(path, "r");
        unsigned long long cgt = 0;
        bool is_emu = false;
        while (f && fgets(line, sizeof(line), f)) {
            if (strncmp(line, "Name:", 5) == 0)
                is_emu = strstr(line, "apicv-emu") != NULL;
            if (strncmp(line, "SigCgt:", 7) == 0)
                cgt = strtoull(line + 7, NULL, 16);
        }
        if (f)
            fclose(f);
        if (is_emu && (cgt & both) == both)
            return;
        ck_assert_msg(now_s() - t0 < 60, "the replay never installed its SIGINT/SIGTERM handlers");
        usleep(10000);
    }
}

/* Ctrl-C during `replay` (it used to be ignored until the replay ended):
 * a recording of a guest that never ends, 3 s long, replayed headless and
 * interrupted 0.3 s after it installed its handler, stops there with the summary `run` prints and
 * status 130 (143 for SIGTERM); with --verify it says how far it verified.
 * _i: 0 native, 1 posted (1 also with --verify and SIGTERM). */
START_TEST(sigint_stops_a_replay)
{
    const char *mode = _i ? "posted" : "native";
    int sig = _i ? SIGTERM : SIGINT;
    char trace[256];
    snprintf(trace, sizeof(trace), "/tmp/apicv-test-int-%d-rp.trace", (int)getpid());
    char *argv[] = {"apicv-emu", "run", "--headless", "--mode", (char *)mode, "--cpus", "2",
                    "--record", trace, GUEST("hang"), NULL};
    child c;
    spawn(&c, "rec", NULL, argv);
    wait_output(&c, "hang: spinning");
    usleep(3000000);
    kill(c.pid, SIGINT);
    ck_assert_int_eq(wait_for(&c, 60), 130);
    char *rp_argv[] = {"apicv-emu", "replay", "--headless", _i ? "--verify" : trace,
                       _i ? trace : NULL, NULL};
    child rp;
    double t0 = now_s();
    spawn(&rp, "rp", NULL, rp_argv);
    wait_catches_sigint(rp.pid);
    usleep(300000);
    kill(rp.pid, sig);
    int st = wait_for(&rp, 60);
    double took = now_s() - t0;
    char *err = slurp(rp.err);
    ck_assert_msg(st == 128 + sig, "%s: replay status %d after %.1f s, stderr:\n%s", mode, st,
                  took, err);
    ck_assert_msg(strstr(err, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM"),
                  "%s", err);
    ck_assert_msg(strstr(err, "cpu0: RIP 0x") && strstr(err, "cpu1: RIP 0x"), "%s", err);
    ck_assert_msg(strstr(err, "ev="), "no recent events in:\n%s", err);
    if (_i)
        ck_assert_msg(strstr(err, "before the interruption: no divergence"), "%s", err);
    /* Not the end of the recording: it stopped when it was told. */
    ck_assert_msg(strstr(err, "the recording stops at cycle") == NULL, "%s", err);
    free(err);
    cleanup(&c);
    cleanup(&rp);
    unlink(trace);
}
END_TEST

/* The fuzzer's one hang (docs/testing.md: a hypercall guest that turned on
 * the VMX-preemption timer with the value 0, after which the host exited
 * and re-entered for ever and --max-cycles never ended the run), run as the
 * fuzzer ran it — the `apicv-emu` binary with its options, under a
 * watchdog — by guests/hv_preempt_zero.c, which does the same through
 * VMCS_READ/VMCS_WRITE. _i: apicv, posted. */
START_TEST(fuzz_hang_preemption_timer_zero_ends)
{
    char *argv[] = {"apicv-emu", "run", "--headless", _i ? "--mode=posted" : "--mode=apicv",
                    "--max-cycles=499880", "--cpus=1", "--mem=8", GUEST("hv_preempt_zero"), NULL};
    child c;
    spawn(&c, "preempt", NULL, argv);
    int st = wait_for(&c, 30);
    char *o = slurp(c.out), *e = slurp(c.err);
    ck_assert_msg(st == 0, "status %d (-1: still running after 30 s)\nout: %s\nerr: %s", st, o, e);
    ck_assert_msg(strstr(o, "preemption timer 0: 1 exit, then soft-disabled"), "%s", o);
    free(o);
    free(e);
    cleanup(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("interrupt");
    TCase *t = tcase_create("interrupt");
    tcase_set_timeout(t, 240);
    tcase_add_loop_test(t, sigint_stops_a_hanging_guest, 0, 4);
    tcase_add_loop_test(t, failed_writes_end_the_run_at_once, 0, 3);
    tcase_add_test(t, inputs_that_are_not_files_are_refused);
    tcase_add_test(t, screenshot_to_an_unwritable_path_is_refused_first);
    tcase_add_loop_test(t, repeated_diagnostics_are_rate_limited, 0, 2);
    tcase_add_loop_test(t, bad_vmcs_value_is_bad_input, 0, 2);
    tcase_add_loop_test(t, sigint_stops_a_replay, 0, 2);
    tcase_add_loop_test(t, fuzz_hang_preemption_timer_zero_ends, 0, 2);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
