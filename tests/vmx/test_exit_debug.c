/*
 * test_exit_debug.c — the debug features of VMX non-root operation, guest
 * code run to its VM exit: MOV-DR exiting (SDM 25.1.3, exit reason 29 and
 * its qualification, 27.2.1), a #DB intercepted by the exception bitmap
 * (qualification = the DR6 bits, DR6 left alone: 27.1, 27.2.1), and the
 * "load debug controls" / "save debug controls" entry and exit controls
 * for DR7 and IA32_DEBUGCTL (26.3.2.1, 27.3.1); single-step traps and the
 * pending-debug-exceptions field at VM entry and exit (26.7.3, 27.3.4).
 */
#include <check.h>
#include <stdlib.h>

#include "apic/apic.h"
#include "tests/support/vmx_guest_fixture.h"
#include "vmx/vmx.h"

START_TEST(mov_dr_exit_qualification)
{
    /* mov r9, dr3; hlt */
    static const uint8_t code[] = {0x41, 0x0f, 0x21, 0xd9, 0xf4};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_MOV_DR);
    h.cpu.gpr[CPU_R9] = 99;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_DR_ACCESS);
    /* DR 3 (2:0), MOV from DR (4), R9 (11:8) */
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 3u | (1u << 4) | (9u << 8));
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 4);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_R9], 99);
}
END_TEST

/* SDM 25.1.3: the exit comes before the #GP of CPL > 0 and the #UD of
 * DR4/DR5 with CR4.DE = 1. */
START_TEST(mov_dr_exit_before_ud)
{
    /* mov dr5, rax (0F 23 E8); hlt */
    static const uint8_t code[] = {0x0f, 0x23, 0xe8, 0xf4};
    load_guest(code, sizeof code);
    SET(GUEST_CR4, GET(GUEST_CR4) | CPU_CR4_DE);
    OR(PROC_CONTROLS, VMX_PROC_MOV_DR);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_DR_ACCESS);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 5u);
}
END_TEST

START_TEST(mov_dr_without_exiting_runs)
{
    /* mov dr7, rax; hlt */
    static const uint8_t code[] = {0x0f, 0x23, 0xf8, 0xf4};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    h.cpu.gpr[CPU_RAX] = 0x402;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(h.cpu.dr[7], 0x402);
}
END_TEST

/* A general-detect #DB intercepted by the exception bitmap: the
 * qualification has BD, DR6 and DR7.GD are not touched (SDM 27.1). */
START_TEST(db_exit_qualification_leaves_dr6)
{
    /* mov eax, 0x2400; mov dr7, rax; mov rbx, dr0; hlt */
    static const uint8_t code[] = {0xb8, 0x00, 0x24, 0x00, 0x00, 0x0f,
                                   0x23, 0xf8, 0x0f, 0x21, 0xc3, 0xf4};
    load_guest(code, sizeof code);
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_DB);
    h.cpu.dr[6] = 0xFFFF0FF0 | CPU_DR6_BS | 2;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO) & 0x7FF, (3u << 8) | CPU_EXC_DB);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), CPU_DR6_BD);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 8);
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0 | CPU_DR6_BS | 2);
    ck_assert_uint_eq(h.cpu.dr[7], 0x2400);
}
END_TEST

/* SDM 26.3.2.1 / 27.3.1: "load debug controls" loads DR7 and
 * IA32_DEBUGCTL from the guest fields, "save debug controls" stores them. */
START_TEST(debug_controls_load_and_save)
{
    /* mov ecx, 0x1d9; rdmsr; mov ebx, eax; mov eax, 1; wrmsr; vmcall */
    static const uint8_t code[] = {0xb9, 0xd9, 0x01, 0x00, 0x00, 0x0f, 0x32, 0x89, 0xc3, 0xb8,
                                   0x01, 0x00, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x01, 0xc1};
    load_guest(code, sizeof code);
    uint64_t bitmap = cpu_phys_host_alloc(&h.phys, 4096); /* zeroed: no MSR exits */
    ck_assert_uint_ne(bitmap, 0);
    SET(MSR_BITMAP, bitmap);
    OR(PROC_CONTROLS, VMX_PROC_MSR_BITMAPS);
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_DEBUG);
    OR(EXIT_CONTROLS, VMX_EXIT_SAVE_DEBUG);
    SET(GUEST_DR7, 0x404);
    SET(GUEST_DEBUGCTL, 2);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_VMCALL);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 2);
    ck_assert_uint_eq(GET(GUEST_DEBUGCTL), 1);
    ck_assert_uint_eq(GET(GUEST_DR7), 0x404);
}
END_TEST

/* ---- single-step traps and pending debug exceptions ---- */

static const uint8_t nops[] = {0x90, 0x90, 0xf4}; /* nop; nop; hlt */

/* A single-step #DB intercepted by the exception bitmap: a trap (RIP after
 * the instruction), qualification BS, no pending debug exceptions left,
 * DR6 untouched (SDM 27.1, 27.2.1, 27.3.4). */
START_TEST(single_step_db_exit)
{
    load_guest(nops, sizeof nops);
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_DB);
    SET(GUEST_RFLAGS, CPU_FL_FIXED1 | CPU_FL_TF);
    h.cpu.dr[6] = 0xFFFF0FF0 | CPU_DR6_BD | 8;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO) & 0x7FF, (3u << 8) | CPU_EXC_DB);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), CPU_DR6_BS);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 1);
    ck_assert_uint_eq(GET(GUEST_PENDING_DBG), 0);
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0 | CPU_DR6_BD | 8);
}
END_TEST

/* Entry with blocking by MOV SS and pending debug exceptions (BS, B0,
 * enabled breakpoint): held back for one instruction, then one #DB with
 * the bits of both (SDM 26.7.3, 6.8.3). */
START_TEST(pending_dbg_behind_mov_ss)
{
    load_guest(nops, sizeof nops);
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_DB);
    SET(GUEST_RFLAGS, CPU_FL_FIXED1 | CPU_FL_TF);
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_MOV_SS);
    SET(GUEST_PENDING_DBG, CPU_DR6_BS | (1u << 12) | 1);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), CPU_DR6_BS | 1);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 1);
    ck_assert_uint_eq(GET(GUEST_PENDING_DBG), 0);
}
END_TEST

/* SDM 25.5.2: MTF VM exits take priority over debug-trap exceptions: the
 * single-step trap is saved as a pending debug exception. */
START_TEST(mtf_saves_single_step)
{
    load_guest(nops, sizeof nops);
    OR(PROC_CONTROLS, VMX_PROC_MTF);
    SET(GUEST_RFLAGS, CPU_FL_FIXED1 | CPU_FL_TF);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 1);
    ck_assert_uint_eq(GET(GUEST_PENDING_DBG), CPU_DR6_BS);
    ck_assert_uint_eq(h.cpu.dbg_pending, 0); /* the host does not inherit it */
}
END_TEST

/* A preemption timer of 0 expires after the #DB of the pending debug
 * exceptions was delivered, before any guest instruction; intercepted,
 * the #DB is the exit. */
START_TEST(preempt_zero_after_pending_db)
{
    load_guest(nops, sizeof nops);
    OR(PIN_CONTROLS, VMX_PIN_PREEMPT_TIMER);
    SET(PREEMPT_TIMER_VALUE, 0);
    SET(GUEST_PENDING_DBG, (1u << 12) | 2);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_PREEMPT_TIMER);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_DB));
    ck_assert_uint_eq(h.cpu.dr[6] & 0xF, 2);
}
END_TEST

START_TEST(preempt_zero_pending_db_intercepted)
{
    load_guest(nops, sizeof nops);
    OR(PIN_CONTROLS, VMX_PIN_PREEMPT_TIMER);
    SET(PREEMPT_TIMER_VALUE, 0);
    SET(GUEST_PENDING_DBG, (1u << 12) | 2);
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_DB);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
}
END_TEST

/* INT3 is a software exception the exception bitmap intercepts: type 6,
 * the instruction's length, RIP at the INT3 (SDM 25.2, 27.2.2, 27.2.4). */
START_TEST(int3_exit_software_exception)
{
    static const uint8_t code[] = {0x90, 0xcc, 0xf4}; /* nop; int3; hlt */
    load_guest(code, sizeof code);
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_BP);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | (6u << 8) | CPU_EXC_BP);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 1);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_exit_debug");
    TCase *r = tcase_create("run");
    tcase_add_checked_fixture(r, vmx_guest_setup, vmx_guest_teardown);
    tcase_add_test(r, mov_dr_exit_qualification);
    tcase_add_test(r, mov_dr_exit_before_ud);
    tcase_add_test(r, mov_dr_without_exiting_runs);
    tcase_add_test(r, db_exit_qualification_leaves_dr6);
    tcase_add_test(r, debug_controls_load_and_save);
    tcase_add_test(r, single_step_db_exit);
    tcase_add_test(r, pending_dbg_behind_mov_ss);
    tcase_add_test(r, mtf_saves_single_step);
    tcase_add_test(r, preempt_zero_after_pending_db);
    tcase_add_test(r, preempt_zero_pending_db_intercepted);
    tcase_add_test(r, int3_exit_software_exception);
    suite_add_tcase(s, r);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
