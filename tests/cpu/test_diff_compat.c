/*
 * test_diff_compat.c — differential tests of IA-32e compatibility mode: the
 * host runs a 32-bit snippet in a 32-bit code segment of its own LDT from
 * 64-bit code (tests/support/host_exec32.c: a far CALL through an m16:32
 * pointer, the snippet, a far RET back: the host's own compatibility mode),
 * and the interpreter does the same in its 64-bit harness — 64-bit code,
 * CALL FAR [m16:32] into a 32-bit code segment (compatibility mode, SS a
 * 32-bit data segment), the snippet, RETF to 64-bit mode — from the same
 * registers, flags and scratch memory. EAX..EDI (ESP aside), the flags the
 * SDM defines and the scratch memory must agree, and the interpreter must
 * be back in 64-bit mode with RSP restored (SDM Vol. 2 "CALL", "RET";
 * Vol. 3A 5.2.1). Covered: ALU register forms at 8/16/32 bits, the INC/DEC
 * short forms, the BCD adjustments (valid in compatibility mode, #UD only
 * in 64-bit mode), PUSH/POP through SS:ESP, and string instructions with
 * REP in both directions.
 *
 * On a host that cannot run 32-bit code this way (not x86-64 Linux, or
 * modify_ldt refused) the test prints why and passes without comparing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"
#include "tests/support/host_diff32.h"
#include "tests/support/host_exec32.h"

#define CODE CPU_HARNESS_CODE   /* 64-bit: call far [PTR]; hlt */
#define C32 0x101000u           /* the snippet, then RETF */
#define PTR 0x102000u           /* m16:32 -> SEL_C32:C32 */
#define SEL_C32 0x28
#define SEL_D32 0x30
#define STACK 0x80000u
#define ARITH (CPU_FL_CF | CPU_FL_PF | CPU_FL_AF | CPU_FL_ZF | CPU_FL_SF | CPU_FL_OF)

static host_code32 hc;
static bool have_host;
static cpu_harness h;
static uint8_t scratch0[HOST32_SCRATCH_SIZE];

static void setup(void)
{
    have_host = host_diff32_host_init(&hc, "cpu_test_diff_compat");
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, 0x500 + SEL_C32, 0x00CF9A000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_D32, 0x00CF92000000FFFFull);
    c->gdtr.limit = 0x37;
    cpu_set_segment(c, CPU_SS, SEL_D32, 0, 0xFFFFFFFF, 0xC93);
    cpu_set_segment(c, CPU_DS, SEL_D32, 0, 0xFFFFFFFF, 0xC93);
    cpu_set_segment(c, CPU_ES, SEL_D32, 0, 0xFFFFFFFF, 0xC93);
    static const uint8_t enter[] = {0xFF, 0x1C, 0x25, 0x00, 0x20, 0x10, 0x00, 0xF4};
    cpu_harness_load(&h, CODE, enter, sizeof enter);
    cpu_harness_poke32(&h, PTR, C32);
    cpu_harness_poke32(&h, PTR + 4, SEL_C32);
}

static void teardown(void)
{
    if (have_host)
        host_code32_free(&hc);
    cpu_harness_free(&h);
}

/* Runs the snippet in the interpreter's compatibility mode: 0, or the
 * vector it raised. */
static int interp_run(const uint8_t *code, size_t len, host_regs *r)
{
    cpu_t *c = &h.cpu;
    uint8_t buf[80];
    memcpy(buf, code, len);
    buf[len] = 0xCB; /* retf */
    cpu_harness_load(&h, C32, buf, len + 1);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    int v = host_diff32_interp_run(&h, scratch0, r, STACK, CODE);
    if (v >= 0)
        return v;
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, 0x08);
    ck_assert_uint_eq(c->rip, CODE + 8);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
    host_diff32_interp_regs(c, r);
    return 0;
}

/* What each case compares with (mask = the flags compared). */
static const host_diff32 diff = {.hc = &hc, .h = &h, .interp = interp_run, .scratch0 = scratch0};

static uint64_t lcg = 0x2545F4914F6CDD1Dull;

/* ALU register forms, INC/DEC short forms, DAA/DAS/AAA/AAS, PUSH/POP. */
START_TEST(diff_compat_alu_bcd_stack)
{
    if (!have_host)
        return;
    static const uint8_t alu[] = {0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38};
    for (unsigned a = 0; a < 8; a++) {
        bool logic = alu[a] == 0x08 || alu[a] == 0x20 || alu[a] == 0x30;
        uint64_t mask = logic ? ARITH & ~(uint64_t)CPU_FL_AF : ARITH;
        for (unsigned k = 0; k < 40; k++) {
            host_regs r;
            memset(&r, 0, sizeof r);
            r.gpr[CPU_RBX] = host_diff32_rnd(&lcg);
            r.gpr[CPU_RCX] = k & 1 ? host_diff32_rnd(&lcg) : 0xFFFFFFFFu;
            r.gpr[CPU_RAX] = host_diff32_rnd(&lcg);
            r.rflags = host_diff32_rnd(&lcg) & ARITH;
            uint8_t r32[] = {(uint8_t)(alu[a] + 1), 0xD9};
            uint8_t r16[] = {0x66, (uint8_t)(alu[a] + 1), 0xD9};
            uint8_t r8[] = {alu[a], 0xFC};
            host_diff32_compare(&diff, "alu r32", r32, sizeof r32, &r, mask, false);
            host_diff32_compare(&diff, "alu r16", r16, sizeof r16, &r, mask, false);
            host_diff32_compare(&diff, "alu r8", r8, sizeof r8, &r, mask, false);
        }
    }
    for (unsigned op = 0x40; op < 0x50; op++) {
        if ((op & 7) == CPU_RSP)
            continue;
        host_regs r;
        memset(&r, 0, sizeof r);
        for (unsigned g = 0; g < 8; g++)
            r.gpr[g] = g & 1 ? 0x7FFFFFFFu : 0xFFFFFFFFu;
        uint8_t one[] = {(uint8_t)op};
        host_diff32_compare(&diff, "inc/dec r32", one, 1, &r, ARITH, false);
    }
    static const uint8_t bcd[] = {0x27, 0x2F, 0x37, 0x3F};
    for (unsigned o = 0; o < 4; o++) {
        for (unsigned al = 0; al < 256; al += 3) {
            host_regs r;
            memset(&r, 0, sizeof r);
            r.gpr[CPU_RAX] = 0xABCD0000u | al;
            r.rflags = (al & 4) ? CPU_FL_AF : 0;
            host_diff32_compare(&diff, "bcd", &bcd[o], 1, &r, CPU_FL_CF | CPU_FL_AF, false);
        }
    }
    /* Through SS:ESP: push/pop at 32 and 16 bits, PUSHA/POPA. */
    static const uint8_t stack[] = {0x50, 0x66, 0x53, 0x60, 0x31, 0xC0, 0x61, 0x66, 0x5A, 0x59};
    host_regs r;
    memset(&r, 0, sizeof r);
    for (unsigned g = 0; g < 8; g++)
        r.gpr[g] = host_diff32_rnd(&lcg);
    host_diff32_compare(&diff, "stack", stack, sizeof stack, &r, 0, false);
}
END_TEST

/* MOVS, STOS, CMPS with REP and REPE over the scratch memory, both
 * directions, bytes and dwords. */
START_TEST(diff_compat_strings)
{
    if (!have_host)
        return;
    for (unsigned k = 0; k < sizeof scratch0; k++)
        scratch0[k] = (uint8_t)(k * 29 + (k >> 4));
    memcpy(scratch0 + 0x900, scratch0 + 0x100, 6);
    static const uint8_t ops[] = {0xA4, 0xA5, 0xAA, 0xAB, 0xA6, 0xA7};
    for (unsigned o = 0; o < sizeof ops; o++) {
        for (unsigned df = 0; df < 2; df++) {
            for (unsigned cnt = 0; cnt < 9; cnt += 2) {
                uint8_t code[4];
                size_t n = 0;
                if (df)
                    code[n++] = 0xFD;
                code[n++] = 0xF3;
                code[n++] = ops[o];
                if (df)
                    code[n++] = 0xFC;
                host_regs r;
                memset(&r, 0, sizeof r);
                r.gpr[CPU_RSI] = HOST32_SCRATCH + 0x100 + 8 * cnt;
                r.gpr[CPU_RDI] = HOST32_SCRATCH + 0x900 + 4 * cnt;
                r.gpr[CPU_RCX] = cnt;
                r.gpr[CPU_RAX] = 0x5566AA77u;
                r.rflags = host_diff32_rnd(&lcg) & ARITH;
                host_diff32_compare(&diff, "string", code, n, &r, ops[o] >= 0xA6 ? ARITH : 0, true);
            }
        }
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("diff_compat");
    TCase *t = tcase_create("diff_compat");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, diff_compat_alu_bcd_stack);
    tcase_add_test(t, diff_compat_strings);
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
