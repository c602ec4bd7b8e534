/*
 * test_import_kvm.c — `apicv-emu import-kvm` (docs/import-kvm.md):
 *
 *   - the line parser on every layout it reads: trace-cmd report and ftrace
 *     prefixes, kvm_exit of 2.6 ("reason rip"), 3.x ("reason rip info A B"),
 *     4.x (with "vcpu N") and 5.10+ (info1/info2/intr_info/error_code), the
 *     interrupt tracepoints, old and new kvm_inj_virq; malformed lines give
 *     the reason, other events their name;
 *   - the hand-written excerpts in tests/import/ (one per layout, written
 *     from the kernel's TP_printk formats) imported by the real binary: the
 *     mode inferred from their exits, the stimuli, then the scenario run
 *     with --stats: its own expectations (deliveries, the mode's exits)
 *     hold, the guest took each interrupt, the exits per reason match the
 *     mode;
 *   - timing (--cycles-per-us, the minimum gap), --mode, --run, the IPI
 *     fallback, and bad input (status 2 only when nothing is usable);
 *   - mutated excerpts (lines dropped, duplicated, cut, bytes changed):
 *     never a crash (ASan in `make asan`), and every scenario the importer
 *     writes is one the scenario parser accepts.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu/emu_import_kvm.h"
#include "emu/emu_scenario.h"
#include "test_cli_run.h"

#define EXCERPT(name) APICV_SOURCE_DIR "/tests/import/" name ".txt"

/* ---- the parser ----------------------------------------------------------- */

static emu_kvm_event ev;
static char name[48], err[512];

static emu_kvm_line parse(const char *line)
{
    return emu_kvm_parse_line(line, 7, &ev, name, sizeof(name), err, sizeof(err));
}

START_TEST(prefixes_and_timestamps)
{
    ck_assert_int_eq(parse("       CPU 0/KVM-4321    [002] d..1.  5120.000100: kvm_entry: vcpu 0, "
                           "rip 0xffffffff81b2c9de"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.kind, EMU_KVM_ENTRY);
    ck_assert_int_eq(ev.prefix, EMU_KVM_PREFIX_FTRACE);
    ck_assert_str_eq(ev.comm, "CPU 0/KVM");
    ck_assert_int_eq(ev.pid, 4321);
    ck_assert_int_eq(ev.host_cpu, 2);
    ck_assert_int_eq(ev.vcpu, 0);
    ck_assert_uint_eq(ev.line, 7);
    ck_assert_uint_eq(ev.ts_ns, 5120000100000ull);
    ck_assert_int_eq(parse(" qemu-system-x86-2001  [000]  1801.123456789: kvm_entry:            vcpu 3"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.prefix, EMU_KVM_PREFIX_TRACE_CMD);
    ck_assert_str_eq(ev.comm, "qemu-system-x86");
    ck_assert_int_eq(ev.vcpu, 3);
    ck_assert_uint_eq(ev.ts_ns, 1801123456789ull);
    ck_assert_int_eq(parse("  <idle>-0     [001] d.h1   250.5: kvm_entry: vcpu 1"), EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.ts_ns, 250500000000ull);
    /* Comments and the tools' header lines. */
    ck_assert_int_eq(parse("# tracer: nop"), EMU_KVM_LINE_BLANK);
    ck_assert_int_eq(parse("cpus=4"), EMU_KVM_LINE_BLANK);
    ck_assert_int_eq(parse("CPU 3 is empty"), EMU_KVM_LINE_BLANK);
    ck_assert_int_eq(parse("   "), EMU_KVM_LINE_BLANK);
    /* Another event: its name, not an error. */
    ck_assert_int_eq(parse(" qemu-1  [000]  1.000001: sched_switch: prev_comm=qemu"), EMU_KVM_LINE_UNKNOWN);
    ck_assert_str_eq(name, "sched_switch");
    uint64_t ns;
    ck_assert(emu_kvm_parse_seconds("1234.5", &ns));
    ck_assert_uint_eq(ns, 1234500000000ull);
    ck_assert(emu_kvm_parse_seconds("7", &ns));
    ck_assert_uint_eq(ns, 7000000000ull);
    ck_assert(!emu_kvm_parse_seconds("1.5s", &ns));
    ck_assert(!emu_kvm_parse_seconds("", &ns));
}
END_TEST

START_TEST(kvm_exit_layouts)
{
    /* 5.10 and later. */
    ck_assert_int_eq(parse(" CPU 1/KVM-9 [003] d..1. 1.000000: kvm_exit: vcpu 1 reason APIC_ACCESS rip "
                           "0xffffffff81047e40 info1 0x00000000000010b0 info2 0x0000000000000000 "
                           "intr_info 0x00000000 error_code 0x00000000"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.kind, EMU_KVM_EXIT);
    ck_assert_int_eq(ev.layout, EMU_KVM_EXIT_INFO1);
    ck_assert_int_eq(ev.vcpu, 1);
    ck_assert_uint_eq(ev.reason, 44);
    ck_assert_uint_eq(ev.info1, 0x10b0);
    ck_assert(ev.has_info);
    /* A flag after the reason (FAILED_VMENTRY) does not hide rip. */
    ck_assert_int_eq(parse(" CPU 0/KVM-9 [003] d..1. 1.000000: kvm_exit: vcpu 0 reason INVALID_STATE "
                           "FAILED_VMENTRY rip 0x0 info1 0x0 info2 0x0 intr_info 0x80000300 "
                           "error_code 0x0"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.reason, 33);
    ck_assert_uint_eq(ev.intr_info, 0x80000300u);
    /* 4.x: the vCPU and "info A B". */
    ck_assert_int_eq(parse(" qemu-system-x86-3101  [000] d...   250.000100: kvm_exit: vcpu 0 reason "
                           "CR_ACCESS rip 0xffffffff8101a0c2 info 8 0"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.layout, EMU_KVM_EXIT_INFO);
    ck_assert_uint_eq(ev.reason, 28);
    ck_assert_uint_eq(ev.info1, 8);
    /* 3.x: no vCPU. */
    ck_assert_int_eq(parse(" qemu-system-x86-2001  [000]  1801.100503: kvm_exit:             reason "
                           "EXTERNAL_INTERRUPT rip 0xffffffff8104f6a6 info 0 800000fd"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.vcpu, -1);
    ck_assert_uint_eq(ev.reason, 1);
    ck_assert_uint_eq(ev.intr_info, 0x800000fdu);
    /* 2.6: reason and rip only; the older name of exit 7. */
    ck_assert_int_eq(parse(" qemu-kvm-777 [000] 42.5: kvm_exit: reason PENDING_INTERRUPT rip 0xffffffff81030b80"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.layout, EMU_KVM_EXIT_PLAIN);
    ck_assert_uint_eq(ev.reason, 7);
    ck_assert(!ev.has_info);
    /* A reason KVM has no name for is printed in hex; an SVM name is kept. */
    ck_assert_int_eq(parse(" q-1 [000] 1.0: kvm_exit: vcpu 0 reason 0x4a rip 0x0 info 0 0"), EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.reason, 0x4a);
    ck_assert_int_eq(parse(" q-1 [000] 1.0: kvm_exit: vcpu 0 reason npf rip 0x0 info 0 0"), EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.reason, EMU_KVM_NO_REASON);
    ck_assert_str_eq(ev.reason_name, "npf");
}
END_TEST

START_TEST(interrupt_tracepoints)
{
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_apic_accept_irq: apicid a vec 236 (LowPrio|level)"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.kind, EMU_KVM_ACCEPT_IRQ);
    ck_assert_uint_eq(ev.dest, 10);
    ck_assert_uint_eq(ev.vector, 236);
    ck_assert_uint_eq(ev.dm, 1);
    ck_assert(ev.level);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_apicv_accept_irq: apicid 1 vec 2 (NMI|edge)"), EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.kind, EMU_KVM_APICV_ACCEPT_IRQ);
    ck_assert_uint_eq(ev.dm, 4);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_apic_ipi: dst ff vec 251 (Fixed|logical|assert|edge|all-but-self)"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.dest, 0xff);
    ck_assert(ev.logical);
    ck_assert_uint_eq(ev.shorthand, 3);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_apic: apic_write APIC_EOI = 0x0"), EMU_KVM_LINE_EVENT);
    ck_assert(ev.write);
    ck_assert_uint_eq(ev.reg, 0xB0);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_apic: apic_read APIC_TMCCT = 0x1234"), EMU_KVM_LINE_EVENT);
    ck_assert(!ev.write);
    ck_assert_uint_eq(ev.reg, 0x390);
    ck_assert_uint_eq(ev.val, 0x1234);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_msr: msr_write 80b = 0x0"), EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.reg, 0x80B);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_msr: msr_read 6e0 = 0x0 (#GP)"), EMU_KVM_LINE_EVENT);
    ck_assert(ev.flag);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_eoi: apicid 3 vector 65"), EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.vcpu, 3);
    ck_assert_uint_eq(ev.vector, 65);
    /* kvm_inj_virq: "irq %u" before 5.x, "IRQ 0x%x" / "Soft/INTn 0x%x" after. */
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_inj_virq: irq 65"), EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.vector, 65);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_inj_virq: IRQ 0x41"), EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.vector, 0x41);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_inj_virq: Soft/INTn 0x80 [reinjected]"), EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.vector, 0x80);
    ck_assert(ev.flag);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_pi_irte_update: VT-d PI is enabled and being updated for "
                           "irq 41, vcpu 2, gsi: 0x19, gvec: 0x22, pi_desc_addr: 0x1d8c0c0"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.vcpu, 2);
    ck_assert_uint_eq(ev.vector, 0x22);
    ck_assert(ev.flag);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_ple_window_update: vcpu 2 old 4096 new 8192 (growed)"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.vcpu, 2);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_ple_window: vcpu 1: ple_window 8192 (grow 4096)"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_int_eq(ev.kind, EMU_KVM_PLE_WINDOW);
    ck_assert_int_eq(ev.vcpu, 1);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_wait_lapic_expire: vcpu 1: delta -120 (early)"), EMU_KVM_LINE_EVENT);
    ck_assert_int_eq((int64_t)ev.val, -120);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_hv_timer_state: vcpu_id 1 hv_timer 1"), EMU_KVM_LINE_EVENT);
    ck_assert(ev.flag);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_vcpu_wakeup: wait time 420000 ns (max poll 200000 ns), polling valid"),
                     EMU_KVM_LINE_EVENT);
    ck_assert_uint_eq(ev.val, 420000);
    ck_assert(ev.flag);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_vcpu_wakeup: poll time 300 ns, polling valid"), EMU_KVM_LINE_EVENT);
    ck_assert(!ev.flag);
}
END_TEST

START_TEST(malformed_lines_say_why)
{
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_exit: vcpu 0 reason HLT"), EMU_KVM_LINE_MALFORMED);
    ck_assert_msg(strstr(err, "expected 'rip 0xADDRESS' in kvm_exit"), "%s", err);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_exit: vcpu 0"), EMU_KVM_LINE_MALFORMED);
    ck_assert_msg(strstr(err, "expected 'reason NAME'"), "%s", err);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_apic_accept_irq: apicid 0 (Fixed|edge)"), EMU_KVM_LINE_MALFORMED);
    ck_assert_msg(strstr(err, "apicid ID vec VECTOR"), "%s", err);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_apic_accept_irq: apicid 0 vec 65 (Bogus|edge)"),
                     EMU_KVM_LINE_MALFORMED);
    ck_assert_msg(strstr(err, "delivery mode"), "%s", err);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_inj_virq: irq 999"), EMU_KVM_LINE_MALFORMED);
    ck_assert_int_eq(parse("this line is not a trace line at all"), EMU_KVM_LINE_MALFORMED);
    ck_assert_msg(strstr(err, "TASK-PID [CPU] TIMESTAMP"), "%s", err);
    ck_assert_int_eq(parse(" q-5 [001] sometime: kvm_entry: vcpu 0"), EMU_KVM_LINE_MALFORMED);
    ck_assert_msg(strstr(err, "expected a timestamp"), "%s", err);
    ck_assert_int_eq(parse(" q-5 [001] 1.0: kvm_entry: rip 0x0"), EMU_KVM_LINE_MALFORMED);
}
END_TEST

/* ---- the command ---------------------------------------------------------- */

typedef cli_result result;

/* Runs `apicv-emu ARGS` (guests from APICV_GUEST_DIR), capturing both streams. */
static result *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static result *run(const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return cli_run("APICV_GUEST_DIR='" APICV_GUEST_DIR "' ", args);
}

#define HAS(text, what) ck_assert_msg(strstr((text), (what)), "lacks '%s' in:\n%s", (what), (text))

/* VM exits of vcpuN with a reason in --stats ("reason 44 APIC_ACCESS : vcpu0=2 vcpu1=3"). */
static unsigned stat_exits(const char *err, unsigned reason, unsigned vcpu)
{
    char key[32], cpu[16];
    snprintf(key, sizeof(key), "stats:   reason %u ", reason);
    const char *l = strstr(err, key);
    if (!l)
        return 0;
    const char *eol = strchr(l, '\n');
    snprintf(cpu, sizeof(cpu), "vcpu%u=", vcpu);
    const char *p = strstr(l, cpu);
    return p && (!eol || p < eol) ? (unsigned)strtoul(p + strlen(cpu), NULL, 10) : 0;
}

static char scn[64];
static char scn_text[65536];

/* Imports an excerpt into a scenario file (scn), then runs that. */
static result *import_and_run(const char *excerpt, const char *extra, const char *mode)
{
    snprintf(scn, sizeof(scn), "/tmp/apicv_imp_%d.scn", (int)getpid());
    result *r = run("import-kvm %s -o %s '%s'", extra, scn, excerpt);
    ck_assert_msg(r->status == 0, "import status %d: %s", r->status, r->err);
    char want[64];
    snprintf(want, sizeof(want), "import-kvm: mode %s:", mode);
    HAS(r->err, want);
    cli_slurp(scn, scn_text, sizeof(scn_text));
    snprintf(want, sizeof(want), "\nmode %s\n", mode);
    HAS(scn_text, want);
    r = run("run --headless --stats --quiet %s", scn);
    ck_assert_msg(r->status == 0, "run status %d:\n%s\n%s\n%s", r->status, scn_text, r->out, r->err);
    return r;
}

/* Recent kernel, ftrace: APIC-write exits, no EOI exit, a notification
 * that arrived in root operation (F2h) => posted. The device MSI, the IPI
 * and the timer interrupt each taken once; no kick, no EOI exit. */
START_TEST(ftrace_new_layout_posted)
{
    result *r = import_and_run(EXCERPT("ftrace_new_posted"), "", "posted");
    HAS(scn_text, "msi vector=0x22 cpu=0");
    HAS(scn_text, "msi vector=0xfb cpu=1");
    HAS(scn_text, "msi vector=0xec cpu=1");
    HAS(scn_text, "an IPI from vCPU 0");
    HAS(scn_text, "its APIC timer (LVTT vector ECh)");
    HAS(scn_text, "expect end delivered cpu=0 vector=0x22 == 2");
    HAS(r->out, "kvm_import: vcpu0 vector 0x22 x2");
    HAS(r->out, "kvm_import: vcpu1 vector 0xfb x1");
    HAS(r->out, "kvm_import: vcpu1 vector 0xec x1");
    for (unsigned v = 0; v < 2; v++) {
        ck_assert_uint_eq(stat_exits(r->err, 1, v), 0);
        ck_assert_uint_eq(stat_exits(r->err, 44, v), 0);
    }
    /* Recorded and replayed like any scenario: the same run, event for event. */
    char trace[64];
    snprintf(trace, sizeof(trace), "/tmp/apicv_imp_%d.trace", (int)getpid());
    r = run("run --headless --quiet --record %s %s", trace, scn);
    ck_assert_msg(r->status == 0, "%s", r->err);
    r = run("replay --headless --verify %s", trace);
    unlink(trace);
    ck_assert_msg(r->status == 0, "replay --verify: status %d: %s", r->status, r->err);
}
END_TEST

/* 3.x kernel, trace-cmd report: EOIs exit (APIC_ACCESS at 0B0h), a
 * TPR-below-threshold exit => tpr-shadow: a kick and an EOI exit each. */
START_TEST(tracecmd_old_layout_tpr_shadow)
{
    result *r = import_and_run(EXCERPT("tracecmd_old_tpr_shadow"), "", "tpr-shadow");
    HAS(r->out, "kvm_import: vcpu0 vector 0x41 x2");
    HAS(r->out, "kvm_import: vcpu0 vector 0xef x1");
    ck_assert_uint_ge(stat_exits(r->err, 1, 0), 3);
    ck_assert_uint_ge(stat_exits(r->err, 44, 0), 3);
}
END_TEST

/* 4.x kernel, ftrace: x2APIC EOIs exit (WRMSR 80BH), CR8 exits => emulated;
 * IPIs both ways and an NMI. */
START_TEST(ftrace_v4_layout_emulated)
{
    result *r = import_and_run(EXCERPT("ftrace_v4_emulated"), "", "emulated");
    HAS(scn_text, "nmi cpu=1");
    HAS(r->out, "kvm_import: vcpu1 vector 0xfd x2");
    HAS(r->out, "kvm_import: vcpu0 vector 0xfb x1");
    HAS(r->out, "kvm_import: vcpu1 vector 0x2 x1");
    ck_assert_uint_ge(stat_exits(r->err, 44, 1), 2);
    ck_assert_uint_ge(stat_exits(r->err, 44, 0), 1);
    ck_assert_uint_ge(stat_exits(r->err, 1, 1), 3); /* 2 kicks, 1 NMI */
}
END_TEST

/* 2.6-layout kvm_exit (reason and rip only), trace-cmd: an EOI-induced exit
 * and no EOI write, but a kick after every interrupt => apicv. The INIT and
 * the vector below 20h are not replayed; the junk line is reported. */
START_TEST(tracecmd_plain_layout_apicv)
{
    result *r = run("import-kvm '%s'", EXCERPT("tracecmd_plain_apicv"));
    ck_assert_int_eq(r->status, 0);
    HAS(r->err, "tracecmd_plain_apicv.txt:20: expected 'TASK-PID [CPU] TIMESTAMP");
    HAS(r->err, "1 SMI/INIT/SIPI/ExtINT");
    HAS(r->err, "1 vectors below 20h");
    HAS(r->out, "apicv-scenario 1"); /* no -o: the scenario on standard output */
    r = import_and_run(EXCERPT("tracecmd_plain_apicv"), "", "apicv");
    HAS(r->out, "kvm_import: vcpu0 vector 0x51 x2");
    HAS(r->out, "kvm_import: vcpu0 vector 0x61 x1");
    ck_assert_uint_ge(stat_exits(r->err, 1, 0), 3);
    ck_assert_uint_eq(stat_exits(r->err, 44, 0), 0);
}
END_TEST

/* Malformed lines are named FILE:LINE and skipped; unknown events listed. */
START_TEST(malformed_and_unknown_are_not_fatal)
{
    result *r = run("import-kvm -o /dev/null '%s'", EXCERPT("ftrace_new_posted"));
    ck_assert_int_eq(r->status, 0);
    HAS(r->err, "ftrace_new_posted.txt:40: expected 'rip 0xADDRESS' in kvm_exit");
    HAS(r->err, "unknown events (counted, not used): kvm_fpu x1 kvm_pio x1");
    HAS(r->err, "1 malformed (skipped)");
}
END_TEST

/* Our cycles per microsecond from the first interrupt, and the gap. */
START_TEST(timing_scale_and_gap)
{
    result *r = run("import-kvm --cycles-per-us 100 '%s'", EXCERPT("ftrace_v4_emulated"));
    ck_assert_int_eq(r->status, 0);
    HAS(r->out, "at 30000 msi vector=0xfd cpu=1");
    HAS(r->out, "at 60000 msi vector=0xfb cpu=0");
    HAS(r->out, "at 100000 nmi cpu=1");
    HAS(r->out, "at 120000 msi vector=0xfd cpu=1");
    HAS(r->err, "100 cycles per us");
    r = run("import-kvm --cycles-per-us 1 '%s'", EXCERPT("ftrace_v4_emulated"));
    ck_assert_int_eq(r->status, 0);
    HAS(r->out, "at 30300 msi vector=0xfb cpu=0");
    HAS(r->out, "at 35000 nmi cpu=1");
    HAS(r->out, "at 40000 msi vector=0xfd cpu=1");
    /* Only a part of the trace: the interrupts from 250.0009 s to 250.0012 s. */
    r = run("import-kvm --from 250.0009 --to 250.0012 --cycles-per-us 100 '%s'",
            EXCERPT("ftrace_v4_emulated"));
    ck_assert_int_eq(r->status, 0);
    HAS(r->out, "at 30000 nmi cpu=1");
    HAS(r->out, "at 50000 msi vector=0xfd cpu=1");
    ck_assert_ptr_null(strstr(r->out, "vector=0xfb"));
    HAS(r->err, "2 accepted interrupts outside --from/--to not replayed");
    HAS(r->err, "mode emulated"); /* still from the whole trace */
    r = run("import-kvm --from 12s '%s'", EXCERPT("ftrace_v4_emulated"));
    ck_assert_int_eq(r->status, 2);
    HAS(r->err, "--from: expected a timestamp in seconds");
    /* The default (3 GHz) would need 2.7 M cycles: compressed into the window. */
    r = run("import-kvm '%s'", EXCERPT("ftrace_v4_emulated"));
    HAS(r->err, "compressed to");
    HAS(r->out, "at 30000 msi vector=0xfd cpu=1");
}
END_TEST

/* --mode replaces the inference; --run runs at once. */
START_TEST(mode_option_and_run)
{
    result *r = import_and_run(EXCERPT("tracecmd_plain_apicv"), "--mode posted", "posted");
    ck_assert_uint_eq(stat_exits(r->err, 1, 0), 0);
    HAS(r->out, "kvm_import: vcpu0 vector 0x51 x2");
    r = run("import-kvm --run --headless --quiet '%s'", EXCERPT("tracecmd_old_tpr_shadow"));
    ck_assert_msg(r->status == 0, "%s", r->err);
    HAS(r->err, "import-kvm: running /tmp/apicv-import-");
    HAS(r->out, "kvm_import: vcpu0 vector 0x41 x2");
}
END_TEST

/* Only IPIs traced (no kvm_apic_accept_irq): they become the stimuli. */
START_TEST(ipis_without_acceptance)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/apicv_imp_ipi_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(" CPU 0/KVM-10 [000] d..1. 9.000000: kvm_entry: vcpu 0, rip 0x0\n"
          " CPU 1/KVM-11 [001] d..1. 9.000001: kvm_entry: vcpu 1, rip 0x0\n"
          " CPU 2/KVM-12 [002] d..1. 9.000002: kvm_entry: vcpu 2, rip 0x0\n"
          " CPU 0/KVM-10 [000] ..... 9.000100: kvm_apic_ipi: dst 0 vec 252 (Fixed|physical|assert|edge|all-but-self)\n",
          f);
    fclose(f);
    result *r = run("import-kvm '%s'", path);
    unlink(path);
    ck_assert_int_eq(r->status, 0);
    HAS(r->out, "msi vector=0xfc cpu=1");
    HAS(r->out, "msi vector=0xfc cpu=2");
    ck_assert_ptr_null(strstr(r->out, "msi vector=0xfc cpu=0"));
    HAS(r->err, "2 from kvm_apic_ipi");
    HAS(r->out, "cpus 3");
}
END_TEST

/* No exit traced at all, but paravirtual EOIs, or injections of the
 * accepted vectors: no virtual-interrupt delivery either way. */
START_TEST(pv_eoi_and_injection_mean_no_apicv)
{
    static const char *const tails[2] = {
        " q-20 [000] 5.000201: kvm_pv_eoi: apicid 0 vector 65\n",
        " q-20 [000] 5.000150: kvm_inj_virq: IRQ 0x41\n"};
    for (unsigned k = 0; k < 2; k++) {
        char path[64];
        snprintf(path, sizeof(path), "/tmp/apicv_imp_pv_%d.txt", (int)getpid());
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(" q-20 [000] 5.000000: kvm_entry: vcpu 0\n"
              " q-19 [001] 5.000100: kvm_apic_accept_irq: apicid 0 vec 65 (Fixed|edge)\n",
              f);
        fputs(tails[k], f);
        fclose(f);
        result *r = run("import-kvm '%s'", path);
        unlink(path);
        ck_assert_int_eq(r->status, 0);
        HAS(r->err, "import-kvm: mode tpr-shadow:");
        HAS(r->err, k == 0 ? "1 paravirtual EOIs" : "1 injected APIC interrupts");
    }
    /* The same interrupt with neither: APICv (posted). */
    char path[64];
    snprintf(path, sizeof(path), "/tmp/apicv_imp_pv_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(" q-20 [000] 5.000000: kvm_entry: vcpu 0\n"
          " q-19 [001] 5.000100: kvm_apic_accept_irq: apicid 0 vec 65 (Fixed|edge)\n"
          " q-20 [000] 5.000300: kvm_exit: reason HLT rip 0x0 info 0 0\n",
          f);
    fclose(f);
    result *r = run("import-kvm '%s'", path);
    unlink(path);
    HAS(r->err, "import-kvm: mode posted:");
}
END_TEST

/* Status 2 only when nothing is usable. */
START_TEST(bad_input_is_status_2)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/apicv_imp_none_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# tracer: nop\n bash-1 [000] ..... 1.0: sched_switch: prev_comm=bash\nnonsense\n", f);
    fclose(f);
    result *r = run("import-kvm '%s'", path);
    unlink(path);
    ck_assert_int_eq(r->status, 2);
    HAS(r->err, ":3: expected 'TASK-PID [CPU] TIMESTAMP");
    HAS(r->err, "expected KVM tracepoint lines");
    HAS(r->err, "sched_switch x1");
    r = run("import-kvm /nonexistent/trace.txt");
    ck_assert_int_eq(r->status, 2);
    HAS(r->err, "/nonexistent/trace.txt");
    r = run("import-kvm --mode native '%s'", EXCERPT("ftrace_v4_emulated"));
    ck_assert_int_eq(r->status, 2);
    HAS(r->err, "--mode: expected emulated, tpr-shadow, apicv or posted");
    r = run("import-kvm --cycles-per-us 0 '%s'", EXCERPT("ftrace_v4_emulated"));
    ck_assert_int_eq(r->status, 2);
    r = run("import-kvm");
    ck_assert_int_eq(r->status, 2);
    HAS(r->err, "expected one LOG");
    r = run("import-kvm --help");
    ck_assert_int_eq(r->status, 0);
    HAS(r->out, "usage: apicv-emu import-kvm");
}
END_TEST

/* ---- mutated excerpts ----------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* splitmix64: a fixed stream, the same inputs every run */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The start of line k % lines of text[0..n), and its length. */
static size_t line_at(const char *t, size_t n, uint64_t k, size_t *len)
{
    size_t lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += t[i] == '\n';
    k %= lines;
    size_t s = 0;
    while (k && s < n)
        if (t[s++] == '\n')
            k--;
    size_t e = s;
    while (e < n && t[e] != '\n')
        e++;
    *len = e - s;
    return s;
}

static void mutate(char *t, size_t *n, size_t cap)
{
    static const char *const words[] = {"kvm_exit: ", "reason ", "rip ", "info ", "info1 ", "vcpu ",
                                        "apicid ", "vec ", "(NMI|edge)", "(Fixed|level)", "0x",
                                        "-1", "4294967296", "99999999999999999999", " [", "]",
                                        ": ", "\t", "#", "CPU 9/KVM-1 ", "(INIT", "|", "256"};
    size_t len, s = line_at(t, *n, rng(), &len);
    switch (rng() % 6) {
    case 0: /* drop a line */
        memmove(t + s, t + s + len, *n - s - len);
        *n -= len;
        break;
    case 1: /* duplicate one */
        if (*n + len + 1 < cap) {
            memmove(t + s + len + 1, t + s, *n - s);
            t[s + len] = '\n';
            *n += len + 1;
        }
        break;
    case 2: /* cut one short */
        if (len) {
            size_t keep = rng() % len;
            memmove(t + s + keep, t + s + len, *n - s - len);
            *n -= len - keep;
        }
        break;
    case 3: /* change a byte */
        if (len)
            t[s + rng() % len] = (char)(rng() & 0xFF);
        break;
    default: { /* put a word somewhere in a line */
        const char *w = words[rng() % (sizeof(words) / sizeof(words[0]))];
        size_t wl = strlen(w), at = s + (len ? rng() % len : 0);
        if (*n + wl < cap) {
            memmove(t + at + wl, t + at, *n - at);
            memcpy(t + at, w, wl);
            *n += wl;
        }
        break;
    }
    }
}

START_TEST(mutated_excerpts_never_break)
{
    static const char *const names[] = {"ftrace_new_posted", "tracecmd_old_tpr_shadow",
                                        "ftrace_v4_emulated", "tracecmd_plain_apicv"};
    static char seed[4][16384], text[32768];
    size_t seedlen[4];
    for (unsigned k = 0; k < 4; k++) {
        char p[512];
        snprintf(p, sizeof(p), APICV_SOURCE_DIR "/tests/import/%s.txt", names[k]);
        cli_slurp(p, seed[k], sizeof(seed[k]));
        seedlen[k] = strlen(seed[k]);
        ck_assert_uint_gt(seedlen[k], 100);
    }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/apicv_imp_fuzz_%d.txt", (int)getpid());
    static emu_kvm_log log;
    static emu_kvm_import imp;
    static emu_scenario scn;
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    unsigned accepted = 0, refused = 0;
    rng_state = 20261207;
    for (unsigned i = 0; i < 1500; i++) {
        unsigned k = (unsigned)(rng() % 4);
        size_t n = seedlen[k];
        memcpy(text, seed[k], n);
        for (unsigned m = 1 + (unsigned)(rng() % 8); m > 0; m--)
            mutate(text, &n, sizeof(text));
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(text, 1, n, f), n);
        fclose(f);
        ck_assert_msg(emu_kvm_read(path, &log, devnull, err, sizeof(err)), "input %u: %s", i, err);
        emu_kvm_import_opts o = {0};
        if (!emu_kvm_analyse(&log, &o, &imp, err, sizeof(err))) {
            ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "input %u: '%s' does not name the file",
                          i, err);
            refused++;
            emu_kvm_log_free(&log);
            continue;
        }
        char *out = NULL;
        size_t outlen = 0;
        FILE *m = open_memstream(&out, &outlen);
        ck_assert_ptr_nonnull(m);
        ck_assert(emu_kvm_write_scenario(&log, &imp, m));
        emu_kvm_print_summary(&log, &imp, devnull);
        fclose(m);
        ck_assert_msg(emu_scenario_parse("imported.scn", out, &scn, err, sizeof(err)),
                      "input %u: the importer wrote a scenario the parser refuses: %s\n%s", i, err, out);
        ck_assert_uint_eq(scn.nstim, imp.nstim);
        emu_scenario_free(&scn);
        free(out);
        emu_kvm_log_free(&log);
        accepted++;
    }
    fclose(devnull);
    unlink(path);
    ck_assert_uint_eq(accepted + refused, 1500);
    ck_assert_uint_gt(accepted, 1000);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("import_kvm");
    TCase *t = tcase_create("parse");
    tcase_add_test(t, prefixes_and_timestamps);
    tcase_add_test(t, kvm_exit_layouts);
    tcase_add_test(t, interrupt_tracepoints);
    tcase_add_test(t, malformed_lines_say_why);
    suite_add_tcase(s, t);
    t = tcase_create("import");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, ftrace_new_layout_posted);
    tcase_add_test(t, tracecmd_old_layout_tpr_shadow);
    tcase_add_test(t, ftrace_v4_layout_emulated);
    tcase_add_test(t, tracecmd_plain_layout_apicv);
    tcase_add_test(t, malformed_and_unknown_are_not_fatal);
    tcase_add_test(t, timing_scale_and_gap);
    tcase_add_test(t, mode_option_and_run);
    tcase_add_test(t, ipis_without_acceptance);
    tcase_add_test(t, pv_eoi_and_injection_mean_no_apicv);
    tcase_add_test(t, bad_input_is_status_2);
    tcase_add_test(t, mutated_excerpts_never_break);
    suite_add_tcase(s, t);
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
