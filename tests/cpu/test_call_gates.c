/*
 * test_call_gates.c — call gates and returns to an outer privilege level in
 * 32-bit protected mode (SDM Vol. 2 "CALL" CALL-GATE, "RET"
 * RETURN-TO-OUTER-PRIVILEGE-LEVEL; Vol. 3A 5.8.3-5.8.6): a CPL 3 program
 * calls CPL 0 code through a gate with two parameters (the stack switch to
 * SS0:ESP0 of the TSS, the parameters copied), the CPL 0 code returns with
 * RET 8; the gate checks (#GP(gate) when its DPL is below CPL); a JMP
 * through a gate to conforming-less same-level code.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define STACK CPU_HARNESS_STACK
#define USER 0x101000u
#define KERN 0x102000u
#define TSS 0x103000u
#define ESP0 0x90000u
#define USTACK 0x7F000u
#define SEL_CODE32 CPU_HARNESS_SEL_CODE32
#define SEL_DATA32 CPU_HARNESS_SEL_DATA32
#define SEL_UCODE 0x3B  /* 32-bit code, DPL 3 */
#define SEL_UDATA 0x43  /* 32-bit data, DPL 3 */
#define SEL_GATE3 0x4B  /* call gate, DPL 3, to SEL_CODE32:KERN, 2 parameters */
#define SEL_GATE0 0x50  /* call gate, DPL 0 */
#define SEL_TSS 0x58

static cpu_harness h;
static cpu_t *c;

/* A 32-bit call gate (SDM Vol. 3A Figure 5-8). */
static uint64_t gate(uint32_t off, uint16_t sel, unsigned dpl, unsigned params)
{
    return (off & 0xFFFFull) | ((uint64_t)sel << 16) | ((uint64_t)params << 32) |
           ((uint64_t)(0x8C | (dpl << 5)) << 40) | ((uint64_t)(off >> 16) << 48);
}

static void setup(void)
{
    cpu_harness_init(&h);
    c = &h.cpu;
    cpu_harness_poke64(&h, 0x500 + (SEL_UCODE & ~3u), 0x00CFFA000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + (SEL_UDATA & ~3u), 0x00CFF2000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + (SEL_GATE3 & ~3u), gate(KERN, SEL_CODE32, 3, 2));
    cpu_harness_poke64(&h, 0x500 + SEL_GATE0, gate(KERN, SEL_CODE32, 0, 0));
    cpu_harness_poke32(&h, TSS + 4, ESP0);
    cpu_harness_poke32(&h, TSS + 8, SEL_DATA32);
    cpu_harness_enter_prot32(&h, 0x5F);
    c->tr = (cpu_seg){.sel = SEL_TSS, .attr = 0x8B, .limit = 0x67, .base = TSS};
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* CPL 0 code that enters CPL 3 at USER with IRETD. */
static const uint8_t to_user[] = {
    0x6A, SEL_UDATA,               /* push ss */
    0x68, 0x00, 0xF0, 0x07, 0x00,  /* push esp: USTACK */
    0x6A, 0x02,                    /* push eflags */
    0x6A, SEL_UCODE,               /* push cs */
    0x68, 0x00, 0x10, 0x10, 0x00,  /* push USER */
    0xCF,                          /* iretd */
};

START_TEST(call_gate_to_inner_level_and_ret_outer)
{
    cpu_harness_load(&h, CODE, to_user, sizeof to_user);
    static const uint8_t user[] = {
        0x6A, 0x11,                               /* push 0x11 */
        0x6A, 0x22,                               /* push 0x22 */
        0x9A, 0, 0, 0, 0, SEL_GATE3, 0x00,        /* call SEL_GATE3:0 */
        0xBB, 0x77, 0, 0, 0,                      /* mov ebx, 0x77 */
        0xEB, 0xFE,                               /* jmp $ */
    };
    cpu_harness_load(&h, USER, user, sizeof user);
    static const uint8_t kern[] = {
        0x8B, 0x44, 0x24, 0x08,                   /* mov eax, [esp + 8]: 0x22 */
        0x8B, 0x4C, 0x24, 0x0C,                   /* mov ecx, [esp + 12]: 0x11 */
        0xCA, 0x08, 0x00,                         /* retf 8 */
    };
    cpu_harness_load(&h, KERN, kern, sizeof kern);
    c->rip = CODE;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 9), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->cpl, 0);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, SEL_CODE32);
    ck_assert_uint_eq(c->seg[CPU_SS].sel, SEL_DATA32);
    ck_assert_uint_eq(c->rip, KERN);
    ck_assert_uint_eq(c->gpr[CPU_RSP], ESP0 - 24);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 4), SEL_UDATA);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 8), USTACK - 8);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 12), 0x11);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 16), 0x22);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 20), SEL_UCODE);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 24), USER + 11);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 5), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->cpl, 3);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, SEL_UCODE);
    ck_assert_uint_eq(c->seg[CPU_SS].sel, SEL_UDATA);
    ck_assert_uint_eq(c->gpr[CPU_RSP], USTACK); /* the parameters released */
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x22);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x11);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x77);
    ck_assert_uint_eq(c->rip, USER + 16);
    /* DS held a DPL 0 data segment: null at CPL 3. */
    ck_assert_uint_eq(c->seg[CPU_DS].sel, 0);
    ck_assert_uint_eq(c->seg[CPU_DS].attr & CPU_SEG_P, 0);
}
END_TEST

/* A gate whose DPL is below CPL is #GP(gate selector) at the CALL. */
START_TEST(call_gate_dpl_checked)
{
    cpu_harness_load(&h, CODE, to_user, sizeof to_user);
    static const uint8_t user[] = {0x9A, 0, 0, 0, 0, SEL_GATE0 | 3, 0x00, 0xEB, 0xFE};
    cpu_harness_load(&h, USER, user, sizeof user);
    c->rip = CODE;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 20), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    /* Delivered at CPL 0 on ESP0: error code, EIP, CS, EFLAGS, ESP, SS. */
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 24), SEL_GATE0);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 20), USER);
}
END_TEST

/* CALL through a gate to code of the same level pushes CS:EIP on the
 * current stack; JMP through a gate loads CS:EIP alone. */
START_TEST(call_and_jmp_gate_same_level)
{
    static const uint8_t code[] = {
        0x9A, 0, 0, 0, 0, SEL_GATE0, 0x00,        /* call SEL_GATE0:0 */
        0xF4,
    };
    static const uint8_t kern[] = {0xBB, 0x55, 0, 0, 0, 0xCB}; /* mov ebx, 0x55; retf */
    cpu_harness_load(&h, KERN, kern, sizeof kern);
    cpu_harness_load(&h, CODE, code, sizeof code);
    c->rip = CODE;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->rip, KERN);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK - 8);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 4), SEL_CODE32);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 8), CODE + 7);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x55);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
    static const uint8_t jmp[] = {0xEA, 0, 0, 0, 0, SEL_GATE0, 0x00};
    static const uint8_t kern2[] = {0xF4};
    cpu_harness_load(&h, CODE, jmp, sizeof jmp);
    cpu_harness_load(&h, KERN, kern2, sizeof kern2);
    c->rip = CODE;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_uint_eq(c->rip, KERN + 1);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("call_gates");
    TCase *t = tcase_create("call_gates");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, call_gate_to_inner_level_and_ret_outer);
    tcase_add_test(t, call_gate_dpl_checked);
    tcase_add_test(t, call_and_jmp_gate_same_level);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
