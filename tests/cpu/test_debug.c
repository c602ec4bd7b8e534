/*
 * test_debug.c — the debug facilities of the interpreter (cpu_debug.c; SDM
 * Vol. 3B chapter 17): MOV to and from DR0-DR7, the DR4/DR5 aliases and
 * CR4.DE, the fixed and reserved bits of DR6 and DR7, DR7.GD, IA32_DEBUGCTL;
 * single-step traps (RFLAGS.TF, 17.3.1.4) and pending debug exceptions.
 *
 * Each snippet is shown in Intel syntax beside its bytes (assembled with
 * GNU as). Exceptions end in the harness's HLT handlers, so a test reads the
 * vector with cpu_harness_vector and the frame at RSP.
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_harness.h"

static cpu_harness h;

static void setup(void)
{
    cpu_harness_init(&h);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

#define RUN(code) cpu_harness_exec(&h, (code), sizeof(code), 1000)
#define CODE CPU_HARNESS_CODE

/* The saved RIP of an exception without an error code. */
static uint64_t fault_rip(void)
{
    return cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]);
}

/* Enters CPL 3 on the harness's user selectors with a TSS for the way back
 * (RSP0 = 0x70000). */
static void enter_user(void)
{
    cpu_harness_poke64(&h, 0x9000 + 4, 0x70000);
    cpu_harness_poke64(&h, 0x528, 0x67 | (0x9000ull << 16) | (0x8Bull << 40));
    cpu_harness_poke64(&h, 0x530, 0);
    h.cpu.gdtr.limit = 0x37;
    h.cpu.tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x67, .base = 0x9000};
    h.cpu.cpl = 3;
    h.cpu.seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
    h.cpu.seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0xF3, .limit = 0xFFFFFFFF};
    h.cpu.gpr[CPU_RSP] = 0x50000;
    cpu_tlb_flush(&h.cpu);
}

START_TEST(dr_round_trip_and_fixed_bits)
{
    /* mov eax, 0x12345678; mov dr0, rax; mov rbx, dr0; mov rcx, dr6; mov rdx, dr7; hlt */
    static const uint8_t code[] = {0xb8, 0x78, 0x56, 0x34, 0x12, 0x0f, 0x23, 0xc0, 0x0f,
                                   0x21, 0xc3, 0x0f, 0x21, 0xf1, 0x0f, 0x21, 0xfa, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x12345678);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0xFFFF0FF0); /* SDM 17.2.3: after reset */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDX], 0x400);      /* SDM 17.2.4 */
}
END_TEST

START_TEST(dr0_takes_64_bits)
{
    /* movabs rax, 0x100000000; mov dr0, rax; mov rbx, dr0; hlt */
    static const uint8_t code[] = {0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                                   0x00, 0x0f, 0x23, 0xc0, 0x0f, 0x21, 0xc3, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x100000000ull);
}
END_TEST

START_TEST(dr4_dr5_alias_dr6_dr7)
{
    /* mov rax, dr4; mov rbx, dr5; mov eax, 0xffffdfff; mov dr4, rax; mov dr5, rax;
     * mov rcx, dr6; mov rdx, dr7; hlt (GD, bit 13, would fault the MOVs after it) */
    static const uint8_t code[] = {0x0f, 0x21, 0xe0, 0x0f, 0x21, 0xeb, 0xb8, 0xff,
                                   0xdf, 0xff, 0xff, 0x0f, 0x23, 0xe0, 0x0f, 0x23,
                                   0xe8, 0x0f, 0x21, 0xf1, 0x0f, 0x21, 0xfa, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x400); /* the DR5 read was DR7 */
    /* Writes keep the fixed bits: DR6 = B0-B3, BD, BS, BT writable, the
     * rest reads 1 (bit 12: 0); DR7 bits 15:14, 12, 11 read 0, bit 10 1. */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0xFFFFCFFF);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDX], 0xFFFF07FF);
}
END_TEST

START_TEST(dr4_is_ud_with_cr4_de)
{
    /* mov rax, cr4; or eax, 8; mov cr4, rax; mov rbx, dr4 */
    static const uint8_t code[] = {0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x08,
                                   0x0f, 0x22, 0xe0, 0x0f, 0x21, 0xe3};
    RUN(code);
    ck_assert(h.cpu.cr4 & CPU_CR4_DE);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(fault_rip(), CODE + 9);
}
END_TEST

START_TEST(dr6_dr7_upper_bits_gp)
{
    /* movabs rax, 0x100000000; mov dr7, rax */
    static const uint8_t code[] = {0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01,
                                   0x00, 0x00, 0x00, 0x0f, 0x23, 0xf8};
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + 8), CODE + 10);
    ck_assert_uint_eq(h.cpu.dr[7], 0x400);
}
END_TEST

START_TEST(mov_dr_cpl3_gp)
{
    /* mov rax, dr0 */
    static const uint8_t code[] = {0x0f, 0x21, 0xc0};
    enter_user();
    h.cpu.gpr[CPU_RAX] = 77;
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + 8), CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 77);
}
END_TEST

START_TEST(dr8_is_ud)
{
    /* mov rax, dr8 (REX.R) */
    static const uint8_t code[] = {0x44, 0x0f, 0x21, 0xc0};
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
}
END_TEST

/* SDM 17.2.4: with DR7.GD a MOV DR is a #DB fault with DR6.BD; the
 * processor clears GD on entry to the handler. */
START_TEST(general_detect_db)
{
    /* mov eax, 0x2400; mov dr7, rax; mov rbx, dr3 */
    static const uint8_t code[] = {0xb8, 0x00, 0x24, 0x00, 0x00, 0x0f,
                                   0x23, 0xf8, 0x0f, 0x21, 0xdb};
    h.cpu.gpr[CPU_RBX] = 55;
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DB);
    ck_assert_uint_eq(fault_rip(), CODE + 8);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 55);
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0 | CPU_DR6_BD);
    ck_assert_uint_eq(h.cpu.dr[7], 0x400);
}
END_TEST

START_TEST(debugctl_msr)
{
    /* mov ecx, 0x1d9; mov eax, 3; xor edx, edx; wrmsr; rdmsr; mov ebx, eax;
     * mov eax, 4; wrmsr */
    static const uint8_t code[] = {0xb9, 0xd9, 0x01, 0x00, 0x00, 0xb8, 0x03, 0x00, 0x00,
                                   0x00, 0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x32, 0x89, 0xc3,
                                   0xb8, 0x04, 0x00, 0x00, 0x00, 0x0f, 0x30};
    RUN(code);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 3);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP); /* bit 2: reserved here */
    ck_assert_uint_eq(h.cpu.debugctl, 3);
}
END_TEST

START_TEST(cpuid_reports_de)
{
    uint32_t out[4];
    cpu_cpuid(&h.cpu, 1, 0, out);
    ck_assert(out[3] & (1u << 2)); /* CPUID.01H:EDX.DE */
}
END_TEST

/* ---- single-step traps (SDM 17.3.1.4) ---- */

static void set_tf(void)
{
    cpu_set_rflags(&h.cpu, cpu_get_rflags(&h.cpu) | CPU_FL_TF);
}

/* The saved RFLAGS of an exception without an error code. */
static uint64_t fault_rflags(void)
{
    return cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + 16);
}

START_TEST(single_step_after_each_instruction)
{
    /* nop; nop; hlt */
    static const uint8_t code[] = {0x90, 0x90, 0xf4};
    set_tf();
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DB);
    ck_assert_uint_eq(fault_rip(), CODE + 1); /* a trap: after the first NOP */
    ck_assert(fault_rflags() & CPU_FL_TF);
    ck_assert(!(cpu_get_rflags(&h.cpu) & CPU_FL_TF)); /* the handler is not stepped */
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0 | CPU_DR6_BS);
}
END_TEST

/* POPF that sets TF: the trap comes after the instruction that follows. */
START_TEST(popf_setting_tf_traps_after_next)
{
    /* pushfq; or qword ptr [rsp], 0x100; popfq; nop; hlt */
    static const uint8_t code[] = {0x9c, 0x48, 0x81, 0x0c, 0x24, 0x00,
                                   0x01, 0x00, 0x00, 0x9d, 0x90, 0xf4};
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DB);
    ck_assert_uint_eq(fault_rip(), CODE + 11);
}
END_TEST

/* SDM 6.8.3: MOV SS inhibits debug traps until after the next instruction:
 * the trap of the MOV SS and of the NOP come as one, after the NOP. */
START_TEST(mov_ss_defers_trap)
{
    /* pushfq; or qword ptr [rsp], 0x100; popfq; mov ss, eax; nop; hlt */
    static const uint8_t code[] = {0x9c, 0x48, 0x81, 0x0c, 0x24, 0x00, 0x01,
                                   0x00, 0x00, 0x9d, 0x8e, 0xd0, 0x90, 0xf4};
    h.cpu.gpr[CPU_RAX] = 0x10;
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DB);
    ck_assert_uint_eq(fault_rip(), CODE + 13);
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0 | CPU_DR6_BS);
}
END_TEST

/* A faulting instruction has no single-step trap; DR6 is not touched. */
START_TEST(fault_has_no_trap)
{
    /* ud2 */
    static const uint8_t code[] = {0x0f, 0x0b};
    set_tf();
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(fault_rip(), CODE);
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0);
}
END_TEST

/* SDM 17.3.1.4: "to single step an interrupt handler, single step an INT n
 * instruction": the trap comes at the handler's first instruction. */
START_TEST(int_n_traps_at_handler)
{
    /* int 0x20 */
    static const uint8_t code[] = {0xcd, 0x20};
    set_tf();
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DB);
    ck_assert_uint_eq(fault_rip(), CPU_HARNESS_HANDLER(0x20));
}
END_TEST

/* A REP string instruction traps after each iteration, RIP still at it. */
START_TEST(rep_traps_each_iteration)
{
    /* rep stosb; hlt */
    static const uint8_t code[] = {0xf3, 0xaa, 0xf4};
    h.cpu.gpr[CPU_RCX] = 3;
    h.cpu.gpr[CPU_RDI] = 0x200000;
    set_tf();
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DB);
    ck_assert_uint_eq(fault_rip(), CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 2);
}
END_TEST

/* Pending debug exceptions (a VM entry's, cpu.h dbg_pending) are one #DB
 * before the first instruction, with their B3-B0 in DR6 and without the
 * enabled-breakpoint bit 12, which is not a DR6 bit. */
START_TEST(pending_debug_exceptions_delivered_first)
{
    /* nop; hlt */
    static const uint8_t code[] = {0x90, 0xf4};
    h.cpu.dr[6] = 0xFFFF0FF0 | 1; /* a stale B0 is cleared */
    h.cpu.dbg_pending = (1u << 12) | 2;
    h.cpu.events |= CPU_EVT_DEBUG;
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DB);
    ck_assert_uint_eq(fault_rip(), CODE);
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0 | 2);
    ck_assert_uint_eq(h.cpu.dbg_pending, 0);
}
END_TEST

/* RESET and INIT (SDM 9.1.1 Table 9-1): DR6, DR7, IA32_DEBUGCTL to their
 * reset values, no single-step trap or pending debug exception survives. */
START_TEST(init_clears_debug_state)
{
    h.cpu.dr[7] = 0x2402;
    h.cpu.dr[6] = 0xFFFF4FF1;
    h.cpu.debugctl = 3;
    h.cpu.dbg_tf = 1;
    h.cpu.dbg_pending = CPU_DR6_BS;
    cpu_reset(&h.cpu, true);
    ck_assert_uint_eq(h.cpu.dr[7], 0x400);
    ck_assert_uint_eq(h.cpu.dr[6], 0xFFFF0FF0);
    ck_assert_uint_eq(h.cpu.debugctl, 0);
    ck_assert_uint_eq(h.cpu.dbg_tf, 0);
    ck_assert_uint_eq(h.cpu.dbg_pending, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_debug");
    TCase *t = tcase_create("debug");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, dr_round_trip_and_fixed_bits);
    tcase_add_test(t, dr0_takes_64_bits);
    tcase_add_test(t, dr4_dr5_alias_dr6_dr7);
    tcase_add_test(t, dr4_is_ud_with_cr4_de);
    tcase_add_test(t, dr6_dr7_upper_bits_gp);
    tcase_add_test(t, mov_dr_cpl3_gp);
    tcase_add_test(t, dr8_is_ud);
    tcase_add_test(t, general_detect_db);
    tcase_add_test(t, debugctl_msr);
    tcase_add_test(t, cpuid_reports_de);
    tcase_add_test(t, single_step_after_each_instruction);
    tcase_add_test(t, popf_setting_tf_traps_after_next);
    tcase_add_test(t, mov_ss_defers_trap);
    tcase_add_test(t, fault_has_no_trap);
    tcase_add_test(t, int_n_traps_at_handler);
    tcase_add_test(t, rep_traps_each_iteration);
    tcase_add_test(t, pending_debug_exceptions_delivered_first);
    tcase_add_test(t, init_clears_debug_state);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
