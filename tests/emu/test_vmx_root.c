/*
 * test_vmx_root.c — VMX root operation for guest code in `--mode native`
 * (vmx/vmx_root.h, docs/vmx.md): guests that are hypervisors themselves.
 *   vmx_insns  every VMX instruction's success and failure paths, the
 *              error numbers, VMCLEAR/VMPTRLD round trips, entry failures;
 *   vmx_teach  the teaching hypervisor: TPR shadow and virtual-interrupt
 *              delivery for a tiny guest, VMCALL exits, VMRESUME; on two
 *              CPUs both in VMX operation, INIT, wait-for-SIPI and SIPI
 *              exits, a posted interrupt from the other CPU's hypervisor;
 *   vmx_host   the host state a VM exit loads (SDM 27.5); interrupts in
 *              root through the hypervisor's IDT, external-interrupt
 *              exiting with and without acknowledge-on-exit, and without
 *              it delivery through the guest's IDT; VMFUNC #UD, no exit;
 *              a notification that waited in IRR while in root processed
 *              at the next entry (posted interrupt, no exit);
 *   vmx_abort  VMX aborts; hv_msr_lists  MSR lists under the built-in one.
 * The VMX instructions reach vmx/ through the CPU's vmx hook only in
 * native mode; under the built-in hypervisor they are VM exits.
 */
#include <check.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu.h"
#include "tests/emu/test_guest_run.h"
#include "vmx/vmx_root.h"

#define MAX_CYCLES 2000000000ull

static guest_run *run_guest(const char *guest, emu_mode mode, unsigned ncpus, uint32_t cpu_off)
{
    emu_config cfg = guest_run_config(mode, ncpus, MAX_CYCLES);
    cfg.cpu_off = cpu_off;
    guest_run *r = guest_run_load(guest, &cfg);
    r->m.diag_out = NULL;
    emu_machine_run(&r->m, UINT64_MAX);
    ck_assert(r->m.finished);
    return r;
}

START_TEST(vmx_instructions)
{
    guest_run *r = run_guest("vmx_insns", EMU_MODE_NATIVE, 1, 0);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "vmx_insns: OK 172 checks") != NULL, "%s", r->out);
    /* The guest's own VM exits went through vmx/'s exit path. */
    ck_assert_uint_ge(r->m.vroot[0].v.exit_count[VMX_EXIT_VMCALL], 3);
    ck_assert_uint_eq(r->m.vroot[0].v.exit_count[VMX_EXIT_ENTRY_FAIL_GUEST], 1);
    ck_assert_uint_eq(r->m.vroot[0].v.exit_count[VMX_EXIT_ENTRY_FAIL_MSR], 1);
    ck_assert(!r->m.cpu[0].vmx_operation);
    guest_run_free(r);
}
END_TEST

/* VMCS shadowing (guests/vmx_shadow.c): the guest hypervisor's guest
 * reads and writes the shadow VMCS without exits where the bitmaps let
 * it; the VMREAD/VMWRITE exits are the ones the bitmaps and encodings ask
 * for (4 VMREAD, 3 VMWRITE), and entry failures 33 for the link pointer. */
START_TEST(vmcs_shadowing)
{
    guest_run *r = run_guest("vmx_shadow", EMU_MODE_NATIVE, 1, 0);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "vmx_shadow: OK ") != NULL, "%s", r->out);
    const vmx_vcpu *v = &r->m.vroot[0].v;
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_VMREAD], 4);
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_VMWRITE], 3);
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_ENTRY_FAIL_GUEST], 4);
    guest_run_free(r);
}
END_TEST

/* The teaching hypervisor: 1004 VMCALL exits and nothing else (TPR
 * shadow, virtual-interrupt delivery and EOI virtualization need none),
 * one virtual interrupt delivered. */
START_TEST(teaching_hypervisor)
{
    guest_run *r = run_guest("vmx_teach", EMU_MODE_NATIVE, 1, 0);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "vmx_teach: OK: 1004 VMCALL exits (1000 round trips), VTPR 0x60, 0 INIT exit") !=
                      NULL,
                  "%s", r->out);
    const vmx_vcpu *v = &r->m.vroot[0].v;
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_VMCALL], 1004);
    ck_assert_uint_eq(v->exits, 1004);
    ck_assert_uint_eq(v->entries, 1004);
    ck_assert_uint_eq(v->vid_delivered, 1);
    ck_assert(!r->m.cpu[0].vmx_operation);
    guest_run_free(r);
}
END_TEST

/* Two CPUs, both in VMX operation with their own VMCS and save area
 * (guests/vmx_guest.h keeps one per CPU): CPU 1 sends CPU 0 an INIT while
 * CPU 0 is in VMX root operation (blocked, SDM 23.8: CPU 0 goes on) that
 * becomes an INIT exit (3) at its guest's first instruction; CPU 0's
 * hypervisor puts its guest into the wait-for-SIPI activity state, and
 * CPU 1's SIPI ends it with a SIPI exit (4, the vector in the
 * qualification). Then CPU 1's own guest asks its hypervisor to post a
 * vector to CPU 0's guest (SDM 29.6), which takes it without an exit:
 * posted-interrupt processing, then virtual-interrupt delivery. */
START_TEST(teaching_hypervisor_two_cpus)
{
    guest_run *r = run_guest("vmx_teach", EMU_MODE_NATIVE, 2, 0);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "INIT from cpu1 is pending, blocked in VMX root operation") != NULL,
                  "%s", r->out);
    ck_assert_msg(strstr(r->out, "guest into wait-for-SIPI") != NULL, "%s", r->out);
    ck_assert_msg(strstr(r->out, "host: SIPI exit, vector 0x12: the guest is active again") != NULL,
                  "%s", r->out);
    ck_assert_msg(strstr(r->out, "guest: posted interrupt 0x66 from cpu1 delivered") != NULL, "%s",
                  r->out);
    ck_assert_msg(strstr(r->out, "1004 VMCALL exits (1000 round trips), VTPR 0x60, 1 INIT exit, "
                                 "1 SIPI exit, no other exit; cpu1's hypervisor: 2 VMCALL exits") !=
                      NULL,
                  "%s", r->out);
    const vmx_vcpu *v = &r->m.vroot[0].v;
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_INIT], 1);
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_SIPI], 1);
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_EXTERNAL_INTERRUPT], 0);
    ck_assert_uint_eq(v->exits, 1006);
    ck_assert_uint_eq(v->vid_delivered, 2);
    /* CPU 1 was a hypervisor too: its own VMCS, two VMCALL exits. */
    const vmx_root *r1 = &r->m.vroot[1];
    ck_assert_uint_eq(r1->v.exit_count[VMX_EXIT_VMCALL], 2);
    ck_assert_uint_eq(r1->v.exits, 2);
    ck_assert_uint_ne(r1->vmxon_ptr, r->m.vroot[0].vmxon_ptr);
    ck_assert(!r->m.cpu[0].vmx_operation && !r->m.cpu[1].vmx_operation);
    guest_run_free(r);
}
END_TEST

/* Record the run on one CPU and on two and replay each with --verify:
 * the digests include the guest hypervisor's VMX state (current VMCS,
 * VMXON pointer, root or non-root), and the replay must not diverge. */
START_TEST(teaching_hypervisor_replay_verify)
{
    unsigned ncpus = (unsigned)_i + 1;
    char trace[] = "/tmp/apicv-vmxroot-XXXXXX";
    int fd = mkstemp(trace);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "%s run --mode native --cpus %u --headless --digest-every 10000 --record %s "
             "%s/vmx_teach.elf > /dev/null 2>&1",
             APICV_EMU, ncpus, trace, APICV_GUEST_DIR);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "%s replay --verify %s 2>&1 | grep -q 'digests up to cycle [0-9]*: no divergence'",
             APICV_EMU, trace);
    ck_assert_msg(system(cmd) == 0, "replay --verify of vmx_teach on %u CPU(s)", ncpus);
    unlink(trace);
}
END_TEST

/* The event log says each VMX instruction in words, with the VMCS it
 * used: a VMLAUNCH refused before the entry (error 4) names the current
 * VMCS, not a zero operand. */
START_TEST(log_says_vmx_instructions)
{
    char log[] = "/tmp/apicv-vmxlog-XXXXXX";
    int fd = mkstemp(log);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s run --mode native --headless --log %s %s/vmx_insns.elf > /dev/null",
             APICV_EMU, log, APICV_GUEST_DIR);
    ck_assert_int_eq(system(cmd), 0);
    static const char *const want[] = {
        ("ev=vmx.root-insn a=0x14 b=0x[1-9a-f][0-9a-f]*000 .* | guest hypervisor's VMLAUNCH, VMCS "
         "0x[0-9a-f]*000, rip 0x[0-9a-f]*: VMfailValid, error 4 (VMLAUNCH with non-clear VMCS)$"),
        "guest hypervisor's VMLAUNCH, no current VMCS, rip 0x[0-9a-f]*: VMfailInvalid$",
        "guest hypervisor's VMWRITE 6C17h (no such field), rip 0x[0-9a-f]*: VMfailValid, error 12 ",
        /* IA32_VMX_MISC[29] = 1: the exit-information fields are writable. */
        "guest hypervisor's VMWRITE 4402h EXIT_REASON, rip 0x[0-9a-f]*: VMsucceed$",
        "guest hypervisor's VMXON, region 0x[0-9a-f]*, rip 0x[0-9a-f]*: VMsucceed$",
    };
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    bool seen[sizeof(want) / sizeof(want[0])] = {false};
    regex_t re[sizeof(want) / sizeof(want[0])];
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_int_eq(regcomp(&re[i], want[i], REG_NOSUB), 0);
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
            seen[i] = seen[i] || regexec(&re[i], line, 0, NULL, 0) == 0;
    }
    fclose(f);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_msg(seen[i], "not in the log: %s", want[i]);
        regfree(&re[i]);
    }
    unlink(log);
}
END_TEST

/* Screenshots and replay work the same with a guest hypervisor: the
 * picture of scenarios/vmx_root_native.scn at the event where cpu0's guest
 * gets 55h by virtual-interrupt delivery (found in the log) is the same,
 * byte for byte, taken from the live run and from its recorded trace. */
START_TEST(screenshot_live_and_replayed_alike)
{
    char dir[] = "/tmp/apicv-vmxshot-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "%s run --headless --log %s/log --record %s/trace %s/scenarios/vmx_root_native.scn "
             "> /dev/null 2>&1",
             APICV_EMU, dir, dir, APICV_SOURCE_DIR);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/log", dir);
    FILE *f = fopen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    unsigned n = 0, at = 0;
    while (!at && fgets(line, sizeof(line), f)) {
        n++;
        if (strstr(line, " cpu=0 ev=vmx.vintr-delivered a=0x55 "))
            at = n;
    }
    fclose(f);
    ck_assert_uint_gt(at, 0);
    snprintf(cmd, sizeof(cmd),
             "%s run --size 960x540 --screenshot %s/live.png --at-event %u "
             "%s/scenarios/vmx_root_native.scn > /dev/null 2>&1 && "
             "%s replay --size 960x540 --screenshot %s/replay.png --at-event %u %s/trace "
             "> /dev/null 2>&1 && test -s %s/live.png && cmp -s %s/live.png %s/replay.png",
             APICV_EMU, dir, at, APICV_SOURCE_DIR, APICV_EMU, dir, at, dir, dir, dir, dir);
    ck_assert_msg(system(cmd) == 0, "screenshots at event %u differ or failed", at);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* What a guest hypervisor gets at its VM exits (guests/vmx_host.c): the
 * host-state area loaded as SDM 27.5 says, interrupts in root through its
 * own IDT, exit 1 with and without acknowledge-on-exit (the vector in the
 * interruption information and the local APIC's ISR, or left in IRR), and
 * delivery through the guest's IDT without external-interrupt exiting. */
START_TEST(host_state_and_interrupts)
{
    guest_run *r = run_guest("vmx_host", EMU_MODE_NATIVE, 1, 0);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "vmx_host: OK 54 checks") != NULL, "%s", r->out);
    const vmx_vcpu *v = &r->m.vroot[0].v;
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_EXTERNAL_INTERRUPT], 2);
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_VMCALL], 5);
    ck_assert_uint_eq(v->exit_count[VMX_EXIT_VMFUNC], 0);
    ck_assert_uint_eq(v->exits, 7);
    /* The notification that waited in IRR was processed, not an exit. */
    ck_assert_uint_eq(v->vid_delivered, 1);
    /* Nothing left in the local APIC: every vector was taken and EOIed. */
    for (unsigned i = 0; i < 8; i++)
        ck_assert_uint_eq(r->m.apic[0].irr[i] | r->m.apic[0].isr[i], 0);
    guest_run_free(r);
}
END_TEST

/* A VM exit whose MSR list fails is a VMX abort (SDM 27.7): the indicator
 * in the VMCS region's second dword, the CPU shut down, the run over with
 * a crash naming the abort; the guest hypervisor never gets the exit. One
 * CPU: the VM-exit MSR-store list (indicator 1); two: the VM-exit MSR-load
 * list (4), after the host state was loaded. */
START_TEST(vmx_abort_shuts_down)
{
    static const struct {
        unsigned ncpus, indicator;
        const char *text;
    } cases[] = {{1, 1, "VMX abort 1 (failure saving guest MSRs)"},
                 {2, 4, "VMX abort 4 (failure loading host MSRs)"}};
    guest_run *r = run_guest("vmx_abort", EMU_MODE_NATIVE, cases[_i].ncpus, 0);
    ck_assert_int_eq(r->m.exit_status, EMU_EXIT_CRASH);
    ck_assert_msg(strstr(r->m.diag, cases[_i].text) != NULL, "%s", r->m.diag);
    ck_assert_msg(strstr(r->out, "vmx_abort: launching") != NULL, "%s", r->out);
    ck_assert_msg(strstr(r->out, "FAIL") == NULL, "%s", r->out);
    const vmx_root *vr = &r->m.vroot[0];
    ck_assert_uint_eq(vr->v.aborted, cases[_i].indicator);
    ck_assert_uint_ne(vr->current, VMX_NO_VMCS);
    uint32_t in_region = 0;
    ck_assert(cpu_phys_read(&r->m.phys, vr->current + VMX_REGION_ABORT, &in_region, 4));
    ck_assert_uint_eq(in_region, cases[_i].indicator);
    /* The exit never reached the guest hypervisor's host code. */
    ck_assert_uint_eq(vr->v.exit_count[VMX_EXIT_VMCALL], 1);
    guest_run_free(r);
}
END_TEST

/* The same lists for the built-in hypervisor's guests (vmx/ serves both
 * hosts): a guest names areas in its RAM through VMCS_WRITE; the entry
 * list loads, the exit lists store and load, a refused entry is exit 34
 * (guests/hv_msr_lists.c). */
START_TEST(msr_lists_under_builtin)
{
    static const emu_mode modes[] = {EMU_MODE_EMULATED, EMU_MODE_APICV, EMU_MODE_POSTED};
    guest_run *r = run_guest("hv_msr_lists", modes[_i], 1, 0);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "hv_msr_lists: OK") != NULL, "%s", r->out);
    guest_run_free(r);
}
END_TEST

/* SDM 30.3 VMWRITE: with IA32_VMX_MISC[29] = 0 (`--cpu max,-vmwrite-any`)
 * VMWRITE to a VM-exit information field fails with VMfailValid(13), in
 * root operation (vmx_insns: EXIT_REASON 4402H) and through a shadow VMCS
 * (vmx_shadow: EXIT_QUAL); each guest reads the MSR and checks the
 * outcome it says, so passing here means error 13 was produced. */
START_TEST(vmwrite_read_only_without_misc29)
{
    static const char *const guests[] = {"vmx_insns", "vmx_shadow"};
    guest_run *r = run_guest(guests[_i], EMU_MODE_NATIVE, 1, EMU_CPU_F_VMWRITE_ANY);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert(r->m.vroot[0].v.vmwrite_ro_fails);
    uint64_t misc = 0;
    cpu_t *c = &r->m.cpu[0];
    ck_assert(c->hooks.rdmsr(c->hooks.ctx, c, VMX_MSR_MISC, &misc));
    ck_assert_uint_eq((misc >> 29) & 1, 0);
    if (_i == 0)
        ck_assert_msg(strstr(r->out, "vmx_insns: OK 172 checks") != NULL, "%s", r->out);
    else
        ck_assert_msg(strstr(r->out, "vmx_shadow: OK ") != NULL, "%s", r->out);
    guest_run_free(r);
}
END_TEST

/* Without VMX in the CPU model there is no VMX root operation: the
 * capability MSRs #GP and the guest fails its first check. */
START_TEST(vmx_off_in_model)
{
    guest_run *r = run_guest("vmx_insns", EMU_MODE_NATIVE, 1, EMU_CPU_F_VMX);
    ck_assert_ptr_null(r->m.vroot);
    ck_assert_int_ne(r->m.exit_status, 0);
    ck_assert_msg(strstr(r->out, "FAIL") != NULL, "%s", r->out);
    guest_run_free(r);
}
END_TEST

/* Under the built-in hypervisor the same instructions are VM exits to it
 * (reasons 19-27, SDM 25.1.2): the guest never reaches VMX root. */
START_TEST(vmx_insns_exit_under_builtin)
{
    guest_run *r = run_guest("vmx_insns", EMU_MODE_POSTED, 1, 0);
    ck_assert_ptr_null(r->m.vroot);
    ck_assert_int_ne(r->m.exit_status, 0);
    guest_run_free(r);
}
END_TEST

/* A guest hypervisor's guest in HLT with interrupts off wakes at its
 * VMX-preemption timer's deadline (SDM 25.5.1), hundreds of quanta ahead,
 * though it is the only CPU and it sleeps; then a timer value of 0 exits
 * before the guest's first instruction; then an entry into the HLT state
 * with NMI-window exiting exits at once. _i = 1: scheduling rounds of 100
 * cycles, shorter than a VM entry, so each entry ends its CPU's turn with
 * the CPU halted and its exit still to be taken: the machine must not take
 * that for every CPU asleep. */
START_TEST(preemption_timer_wakes_hlt)
{
    emu_config cfg = guest_run_config(EMU_MODE_NATIVE, 1, MAX_CYCLES);
    if (_i)
        cfg.quantum = 100;
    guest_run *r = guest_run_load("vmx_preempt", &cfg);
    r->m.diag_out = NULL;
    emu_machine_run(&r->m, UINT64_MAX);
    ck_assert(r->m.finished);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "vmx_preempt: OK") != NULL, "%s", r->out);
    ck_assert_uint_eq(r->m.vroot[0].v.exit_count[VMX_EXIT_PREEMPT_TIMER], 2);
    ck_assert_uint_eq(r->m.vroot[0].v.exit_count[VMX_EXIT_NMI_WINDOW], 1);
    guest_run_free(r);
}
END_TEST

/* guests/vmx_init_latch.c: an INIT sent to a CPU in VMX root operation is
 * pending there before the sender's next store is seen, so the receiver's
 * VMXOFF, made when it sees that store, takes it (docs/cost-model.md "INIT
 * and SIPI do not travel"); kvm-unit-tests' vmx_init_signal_test's last
 * check. With the `ipi` trip applied to INIT the receiver ran on. */
START_TEST(init_latched_before_the_senders_next_store)
{
    guest_run *r = run_guest("vmx_init_latch", EMU_MODE_NATIVE, 2, 0);
    ck_assert_msg(r->m.exit_status == 0, "status %d %s\n%s", r->m.exit_status, r->m.diag, r->out);
    ck_assert_msg(strstr(r->out, "vmx_init_latch: INIT taken at VMXOFF") != NULL, "%s", r->out);
    ck_assert(r->m.wait_sipi[1]);
    ck_assert(!r->m.cpu[1].vmx_operation);
    guest_run_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("vmx_root");
    TCase *t = tcase_create("guests");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, vmx_instructions);
    tcase_add_test(t, teaching_hypervisor);
    tcase_add_test(t, teaching_hypervisor_two_cpus);
    tcase_add_loop_test(t, teaching_hypervisor_replay_verify, 0, 2);
    tcase_add_test(t, host_state_and_interrupts);
    tcase_add_test(t, log_says_vmx_instructions);
    tcase_add_test(t, screenshot_live_and_replayed_alike);
    tcase_add_loop_test(t, vmx_abort_shuts_down, 0, 2);
    tcase_add_loop_test(t, msr_lists_under_builtin, 0, 3);
    tcase_add_test(t, vmx_off_in_model);
    tcase_add_loop_test(t, vmwrite_read_only_without_misc29, 0, 2);
    tcase_add_test(t, vmx_insns_exit_under_builtin);
    tcase_add_test(t, vmcs_shadowing);
    tcase_add_loop_test(t, preemption_timer_wakes_hlt, 0, 2);
    tcase_add_test(t, init_latched_before_the_senders_next_store);
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
