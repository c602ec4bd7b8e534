/*
 * test_transfer_stack.c — the stack instructions of the data transfer
 * family (cpu/cpu_transfer.c): PUSH, POP, PUSHF, POPF, LAHF, SAHF, ENTER,
 * LEAVE, including page faults that must leave RSP unchanged.
 *
 * Each test runs a few machine-code bytes (assembled with GNU as; the
 * assembly is beside each line) on the bare harness CPU.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_fixture.h"

#define DATA 0x200000u /* identity-mapped RAM for data */
#define PF_HOLE 0x20000000ull /* a 2 MiB page the tests make not-present */
#define TSS 0x6000u

/* Makes [PF_HOLE, PF_HOLE + 2 MiB) not present, and gives #PF its own
 * stack (IST1) so a fault on a broken stack can still be delivered. */
static void make_hole(void)
{
    poke(0x4000 + (PF_HOLE >> 21) * 8, 0, 8);
    poke(TSS + 0x24, 0x70000, 8);
    c->tr.base = TSS;
    c->tr.limit = 0x67;
    uint64_t gate = peek(0x3000 + 14 * 16, 8);
    poke(0x3000 + 14 * 16, gate | (1ull << 32), 8);
}

/* ---- PUSH, POP ------------------------------------------------------------------- */

START_TEST(push_pop_basic)
{
    static const uint8_t code[] = {
        0x48, 0x89, 0xe3, /* mov rbx, rsp */
        0x54, /* push rsp */
        0x59, /* pop rcx */
        0x68, 0xff, 0xff, 0xff, 0x7f, /* push 0x7FFFFFFF */
        0x6a, 0xff, /* push -1 */
        0x66, 0x6a, 0xfe, /* pushw -2 */
        0x66, 0x68, 0x34, 0x12, /* pushw 0x1234 */
        0x49, 0x89, 0xe0, /* mov r8, rsp */
        0xb8, 0xef, 0xbe, 0x00, 0x00, /* mov eax, 0xBEEF */
        0x66, 0x50, /* push ax */
        0x66, 0x5a, /* pop dx */
        0x66, 0x41, 0x59, /* pop r9w */
        0x48, 0x83, 0xc4, 0x02, /* add rsp, 2 */
        0x41, 0x5a, /* pop r10 */
        0x41, 0x5b, /* pop r11 */
        0x41, 0x57, /* push r15 */
        0x41, 0x5c, /* pop r12 */
        0xf4, /* hlt */
    };
    c->gpr[CPU_R15] = 0x5A5A5A5A5A5A5A5Aull;
    c->gpr[CPU_R9] = ~0ull;
    c->gpr[CPU_RDX] = ~0ull;
    run(code, sizeof code);
    /* PUSH RSP pushes the value before the decrement */
    ck_assert_uint_eq(c->gpr[CPU_RCX], CPU_HARNESS_STACK);
    /* 66 PUSH imm: 2 bytes */
    ck_assert_uint_eq(c->gpr[CPU_R8], CPU_HARNESS_STACK - 16 - 4);
    ck_assert_uint_eq(peek(CPU_HARNESS_STACK - 20, 2), 0x1234ull);
    ck_assert_uint_eq(peek(CPU_HARNESS_STACK - 18, 2), 0xFFFEull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0xFFFFFFFFFFFFBEEFull);
    ck_assert_uint_eq(c->gpr[CPU_R9], 0xFFFFFFFFFFFF1234ull);
    /* PUSH imm8 -1 sign-extends to 64 bits; PUSH imm32 too */
    ck_assert_uint_eq(c->gpr[CPU_R10], ~0ull);
    ck_assert_uint_eq(c->gpr[CPU_R11], 0x7FFFFFFFull);
    ck_assert_uint_eq(c->gpr[CPU_R12], 0x5A5A5A5A5A5A5A5Aull);
    ck_assert_uint_eq(c->gpr[CPU_RSP], CPU_HARNESS_STACK);
}
END_TEST

START_TEST(pop_rsp_and_pop_memory)
{
    static const uint8_t code[] = {
        0x68, 0x11, 0x11, 0x01, 0x00, /* push 0x11111 */
        0x68, 0x22, 0x22, 0x02, 0x00, /* push 0x22222 */
        0x8f, 0x04, 0x24, /* pop qword ptr [rsp] */
        0x48, 0x8b, 0x1c, 0x24, /* mov rbx, [rsp] */
        0x48, 0x89, 0xe7, /* mov rdi, rsp */
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x68, 0x33, 0x03, 0x00, 0x00, /* push 0x333 */
        0x8f, 0x06, /* pop qword ptr [rsi] */
        0x68, 0x44, 0x44, 0x04, 0x00, /* push 0x44444 */
        0x5c, /* pop rsp */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    /* POP [RSP]: the address uses RSP after the increment */
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x22222ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], CPU_HARNESS_STACK - 8);
    ck_assert_uint_eq(peek(DATA, 8), 0x333ull);
    /* POP RSP: RSP is the popped value, not value + 8 */
    ck_assert_uint_eq(c->gpr[CPU_RSP], 0x44444ull);
}
END_TEST

START_TEST(pop_8f_forms)
{
    static const uint8_t code[] = {
        0x68, 0x34, 0x12, 0x00, 0x00, /* push 0x1234 */
        0x8f, 0xc3, /* pop rbx (8F /0 register form) */
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x66, 0x68, 0x78, 0x56, /* pushw 0x5678 */
        0x66, 0x8f, 0x06, /* pop word ptr [rsi] */
        0x68, 0x99, 0x00, 0x00, 0x00, /* push 0x99 */
        0x8f, 0xc4, /* pop rsp (8F form) */
        0xf4, /* hlt */
    };
    poke(DATA, ~0ull, 8);
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x1234ull);
    ck_assert_uint_eq(peek(DATA, 8), 0xFFFFFFFFFFFF5678ull);
    ck_assert_uint_eq(c->gpr[CPU_RSP], 0x99ull);
}
END_TEST

START_TEST(pop_8f_other_digits_ud)
{
    static const uint8_t code[] = {
        0x8f, 0xc8, /* 8f /1 (XOP on AMD) */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_UD);
}
END_TEST

START_TEST(push_page_fault_keeps_rsp)
{
    static const uint8_t code[] = {
        0xbc, 0x00, 0x10, 0x00, 0x20, /* mov esp, 0x20001000 */
        0x50, /* push rax */
        0xf4, /* hlt */
    };
    make_hole();
    c->gpr[CPU_RAX] = 0x1234;
    run_fault(code, sizeof code, CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, PF_HOLE + 0x1000 - 8);
    ck_assert_uint_eq(frame(0), CPU_PF_W);           /* not present, write, supervisor */
    ck_assert_uint_eq(frame(1), CPU_HARNESS_CODE + 5); /* RIP of the PUSH */
    ck_assert_uint_eq(frame(4), PF_HOLE + 0x1000); /* RSP unchanged */
}
END_TEST

START_TEST(pop_memory_fault_keeps_rsp)
{
    static const uint8_t code[] = {
        0x6a, 0x07, /* push 7 */
        0x8f, 0x03, /* pop qword ptr [rbx] */
        0xf4, /* hlt */
    };
    make_hole();
    c->gpr[CPU_RBX] = PF_HOLE + 0x10;
    run_fault(code, sizeof code, CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, PF_HOLE + 0x10);
    ck_assert_uint_eq(frame(1), CPU_HARNESS_CODE + 2);
    ck_assert_uint_eq(frame(4), CPU_HARNESS_STACK - 8);
}
END_TEST

/* ---- PUSHF, POPF, LAHF, SAHF -------------------------------------------------------- */

START_TEST(pushf_popf_round_trip)
{
    static const uint8_t code[] = {
        0xb8, 0x01, 0x00, 0x00, 0x00, /* mov eax, 1 */
        0x83, 0xe8, 0x02, /* sub eax, 2 */
        0xf9, /* stc */
        0x9c, /* pushfq */
        0x5b, /* pop rbx */
        0x6a, 0x00, /* push 0 */
        0x9d, /* popfq */
        0x9c, /* pushfq */
        0x59, /* pop rcx */
        0x53, /* push rbx */
        0x9d, /* popfq */
        0x9c, /* pushfq */
        0x5a, /* pop rdx */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    uint64_t arith = CPU_FL_CF | CPU_FL_SF | CPU_FL_PF | CPU_FL_AF;
    ck_assert_uint_eq(c->gpr[CPU_RBX], arith | CPU_FL_FIXED1);
    ck_assert_uint_eq(c->gpr[CPU_RCX], CPU_FL_FIXED1);
    ck_assert_uint_eq(c->gpr[CPU_RDX], arith | CPU_FL_FIXED1);
}
END_TEST

START_TEST(popf_cpl0_bits)
{
    /* At CPL 0 every non-reserved bit except RF, VM, VIF, VIP can change;
     * reserved bits stay as they are (bit 1 = 1, 3/5/15/22+ = 0). TF is
     * left out so no single-step trap follows. */
    static const uint8_t code[] = {
        0x68, 0xff, 0xfe, 0xff, 0xff, /* push -257 */
        0x9d, /* popfq */
        0x9c, /* pushfq */
        0x5b, /* pop rbx */
        0x6a, 0x00, /* push 0 */
        0x9d, /* popfq */
        0x9c, /* pushfq */
        0x59, /* pop rcx */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    uint64_t settable = CPU_FL_ARITH | CPU_FL_IF | CPU_FL_DF | CPU_FL_IOPL | CPU_FL_NT |
                        CPU_FL_AC | CPU_FL_ID;
    ck_assert_uint_eq(c->gpr[CPU_RBX], settable | CPU_FL_FIXED1);
    ck_assert_uint_eq(c->gpr[CPU_RCX], CPU_FL_FIXED1);
}
END_TEST

START_TEST(popf_vm_rf_untouched)
{
    static const uint8_t code[] = {
        0x68, 0xff, 0xfe, 0xff, 0xff, /* push -257 */
        0x9d, /* popfq */
        0xf4, /* hlt */
    };
    cpu_set_rflags(c, CPU_FL_FIXED1 | CPU_FL_RF);
    run_n(code, sizeof code, 2);
    uint64_t f = cpu_get_rflags(c);
    ck_assert_uint_eq(f & (CPU_FL_VM | CPU_FL_RF | CPU_FL_VIF | CPU_FL_VIP), 0);
    ck_assert_uint_eq(f & CPU_FL_IF, CPU_FL_IF);
    ck_assert_uint_eq(f >> 22, 0);
    ck_assert_uint_eq(f & ((1u << 3) | (1u << 5) | (1u << 15)), 0);
}
END_TEST

START_TEST(popf_16bit)
{
    /* 66 9D writes FLAGS[15:0] only: AC (bit 18) survives */
    static const uint8_t code[] = {
        0xb8, 0x00, 0x00, 0x04, 0x00, /* mov eax, 0x40000 */
        0x50, /* push rax */
        0x9d, /* popfq */
        0x66, 0x6a, 0x01, /* pushw 0x0001 */
        0x66, 0x9d, /* popfw */
        0x9c, /* pushfq */
        0x5b, /* pop rbx */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], CPU_FL_AC | CPU_FL_CF | CPU_FL_FIXED1);
    ck_assert_uint_eq(c->gpr[CPU_RSP], CPU_HARNESS_STACK);
}
END_TEST

START_TEST(popf_cpl3_cannot_change_if_iopl)
{
    /* At CPL 3 with IOPL 0, IF and IOPL silently keep their values. */
    static const uint8_t code[] = {
        0x68, 0xff, 0xfe, 0xff, 0xff, /* push -257 */
        0x9d, /* popfq */
        0x9c, /* pushfq */
        0x5b, /* pop rbx */
    };
    c->cpl = 3;
    run_n(code, sizeof code, 5);
    uint64_t f = c->gpr[CPU_RBX];
    ck_assert_uint_eq(f & (CPU_FL_IF | CPU_FL_IOPL), 0);
    ck_assert_uint_eq(f & (CPU_FL_CF | CPU_FL_DF | CPU_FL_AC | CPU_FL_NT), CPU_FL_CF | CPU_FL_DF | CPU_FL_AC | CPU_FL_NT);
}
END_TEST

START_TEST(popf_cpl3_iopl3_can_change_if)
{
    static const uint8_t code[] = {
        0x68, 0x00, 0x02, 0x00, 0x00, /* push 0x200 */
        0x9d, /* popfq */
        0x9c, /* pushfq */
        0x5b, /* pop rbx */
    };
    c->cpl = 3;
    cpu_set_rflags(c, CPU_FL_FIXED1 | CPU_FL_IOPL);
    run_n(code, sizeof code, 4);
    /* IF set, IOPL unchanged at 3 although the popped image had 0 */
    ck_assert_uint_eq(c->gpr[CPU_RBX] & (CPU_FL_IF | CPU_FL_IOPL), CPU_FL_IF | CPU_FL_IOPL);
}
END_TEST

START_TEST(pushf_clears_rf)
{
    static const uint8_t code[] = {
        0x9c, /* pushfq */
        0x5b, /* pop rbx */
        0xf4, /* hlt */
    };
    cpu_set_rflags(c, CPU_FL_FIXED1 | CPU_FL_RF | CPU_FL_CF);
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & (CPU_FL_RF | CPU_FL_CF), CPU_FL_CF);
}
END_TEST

START_TEST(lahf_sahf)
{
    static const uint8_t code[] = {
        0xb8, 0xff, 0xff, 0x00, 0x00, /* mov eax, 0xFFFF */
        0x31, 0xdb, /* xor ebx, ebx */
        0x83, 0xeb, 0x01, /* sub ebx, 1 */
        0x9f, /* lahf */
        0x89, 0xc1, /* mov ecx, eax */
        0xb4, 0xd5, /* mov ah, 0xD5 */
        0x9e, /* sahf */
        0x9c, /* pushfq */
        0x5a, /* pop rdx */
        0xb4, 0x00, /* mov ah, 0 */
        0x9e, /* sahf */
        0x9c, /* pushfq */
        0x5e, /* pop rsi */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    /* 0 - 1: SF, AF, PF, CF set; bit 1 always 1 */
    ck_assert_uint_eq((c->gpr[CPU_RCX] >> 8) & 0xFF, 0x80 | 0x10 | 0x04 | 0x01 | 0x02);
    ck_assert_uint_eq(c->gpr[CPU_RCX] & 0xFF, 0xFFull);
    ck_assert_uint_eq(c->gpr[CPU_RDX] & 0xFF, 0xD7ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI] & 0xFF, 0x02ull);
}
END_TEST

/* ---- ENTER, LEAVE ------------------------------------------------------------------ */

START_TEST(enter_leave_level0)
{
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc5, 0x34, 0x12, 0x00, 0x00, /* mov rbp, 0x1234 */
        0xc8, 0x20, 0x00, 0x00, /* enter 0x20, 0 */
        0x48, 0x89, 0xeb, /* mov rbx, rbp */
        0x48, 0x89, 0xe1, /* mov rcx, rsp */
        0xc9, /* leave */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], CPU_HARNESS_STACK - 8);
    ck_assert_uint_eq(c->gpr[CPU_RCX], CPU_HARNESS_STACK - 8 - 0x20);
    ck_assert_uint_eq(peek(CPU_HARNESS_STACK - 8, 8), 0x1234ull);
    ck_assert_uint_eq(c->gpr[CPU_RBP], 0x1234ull);
    ck_assert_uint_eq(c->gpr[CPU_RSP], CPU_HARNESS_STACK);
}
END_TEST

START_TEST(enter_level1)
{
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc5, 0x21, 0x43, 0x00, 0x00, /* mov rbp, 0x4321 */
        0xc8, 0x10, 0x00, 0x01, /* enter 0x10, 1 */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    uint64_t frame_ptr = CPU_HARNESS_STACK - 8;
    ck_assert_uint_eq(c->gpr[CPU_RBP], frame_ptr);
    ck_assert_uint_eq(peek(CPU_HARNESS_STACK - 8, 8), 0x4321ull);
    ck_assert_uint_eq(peek(CPU_HARNESS_STACK - 16, 8), frame_ptr);
    ck_assert_uint_eq(c->gpr[CPU_RSP], CPU_HARNESS_STACK - 16 - 0x10);
}
END_TEST

START_TEST(enter_level3)
{
    /* Level 3 copies two display entries from the old frame ([rbp-8],
     * [rbp-16]) and then pushes the new frame pointer. */
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc5, 0x00, 0x00, 0x06, 0x00, /* mov rbp, 0x60000 */
        0xc8, 0x08, 0x00, 0x03, /* enter 8, 3 */
        0xf4, /* hlt */
    };
    poke(0x60000 - 8, 0xAAAA, 8);
    poke(0x60000 - 16, 0xBBBB, 8);
    run(code, sizeof code);
    uint64_t s = CPU_HARNESS_STACK;
    ck_assert_uint_eq(peek(s - 8, 8), 0x60000ull);
    ck_assert_uint_eq(peek(s - 16, 8), 0xAAAAull);
    ck_assert_uint_eq(peek(s - 24, 8), 0xBBBBull);
    ck_assert_uint_eq(peek(s - 32, 8), s - 8);
    ck_assert_uint_eq(c->gpr[CPU_RBP], s - 8);
    ck_assert_uint_eq(c->gpr[CPU_RSP], s - 32 - 8);
}
END_TEST

START_TEST(enter_fault_changes_nothing)
{
    static const uint8_t code[] = {
        0xc8, 0x10, 0x00, 0x02, /* enter 0x10, 2 */
        0xf4, /* hlt */
    };
    make_hole();
    c->gpr[CPU_RBP] = PF_HOLE + 0x100; /* the display copy reads the hole */
    run_fault(code, sizeof code, CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, PF_HOLE + 0x100 - 8);
    ck_assert_uint_eq(frame(4), CPU_HARNESS_STACK);
    ck_assert_uint_eq(c->gpr[CPU_RBP], PF_HOLE + 0x100);
}
END_TEST

START_TEST(enter_16bit)
{
    /* 66 C8: 16-bit pushes on the 64-bit stack; BP merges */
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc5, 0xff, 0xff, 0xff, 0xff, /* mov rbp, -1 */
        0x66, 0xc8, 0x08, 0x00, 0x01, /* enter 8, 1 with a 16-bit operand size */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    uint64_t s = CPU_HARNESS_STACK;
    ck_assert_uint_eq(peek(s - 2, 2), 0xFFFFull);
    ck_assert_uint_eq(peek(s - 4, 2), (s - 2) & 0xFFFF);
    ck_assert_uint_eq(c->gpr[CPU_RBP], 0xFFFFFFFFFFFF0000ull | ((s - 2) & 0xFFFF));
    ck_assert_uint_eq(c->gpr[CPU_RSP], s - 4 - 8);
}
END_TEST

START_TEST(leave_16bit)
{
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc5, 0x00, 0x00, 0x06, 0x00, /* mov rbp, 0x60000 */
        0x66, 0xc9, /* leave (16-bit) */
        0xf4, /* hlt */
    };
    poke(0x60000, 0xFFFF1234ull, 8);
    c->gpr[CPU_RBP] = 0;
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBP], 0x61234ull);
    ck_assert_uint_eq(c->gpr[CPU_RSP], 0x60002ull);
}
END_TEST

static Suite *transfer_stack_suite(void)
{
    Suite *s = suite_create("transfer_stack");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, push_pop_basic);
    tcase_add_test(t, pop_rsp_and_pop_memory);
    tcase_add_test(t, pop_8f_forms);
    tcase_add_test(t, pop_8f_other_digits_ud);
    tcase_add_test(t, push_page_fault_keeps_rsp);
    tcase_add_test(t, pop_memory_fault_keeps_rsp);
    tcase_add_test(t, pushf_popf_round_trip);
    tcase_add_test(t, popf_cpl0_bits);
    tcase_add_test(t, popf_vm_rf_untouched);
    tcase_add_test(t, popf_16bit);
    tcase_add_test(t, popf_cpl3_cannot_change_if_iopl);
    tcase_add_test(t, popf_cpl3_iopl3_can_change_if);
    tcase_add_test(t, pushf_clears_rf);
    tcase_add_test(t, lahf_sahf);
    tcase_add_test(t, enter_leave_level0);
    tcase_add_test(t, enter_level1);
    tcase_add_test(t, enter_level3);
    tcase_add_test(t, enter_fault_changes_nothing);
    tcase_add_test(t, enter_16bit);
    tcase_add_test(t, leave_16bit);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(transfer_stack_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
