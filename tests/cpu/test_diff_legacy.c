/*
 * test_diff_legacy.c — differential tests of 32-bit code: the same snippet
 * runs natively on the host in a 32-bit code segment (modify_ldt,
 * tests/support/host_exec32.c) and in the interpreter in 32-bit protected
 * mode, from the same registers, flags and scratch memory; EAX..EDI (ESP
 * aside), the flags the SDM defines and the scratch memory must agree.
 * Covered: the BCD adjustments (SDM Vol. 2 "DAA", "DAS", "AAA", "AAS",
 * "AAM", "AAD"), the INC/DEC short forms (40H-4FH), ALU register forms at
 * 8/16/32 bits, ARPL, and MOVS/STOS/LODS/CMPS/SCAS with and without REP,
 * both directions and both operand sizes. Strings with a 16-bit address
 * size are not compared (their offsets lie below 64 KBytes, where the host
 * cannot map memory); tests/cpu/test_legacy_ops.c checks them.
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

#define CODE CPU_HARNESS_CODE
#define ARITH (CPU_FL_CF | CPU_FL_PF | CPU_FL_AF | CPU_FL_ZF | CPU_FL_SF | CPU_FL_OF)

static host_code32 hc;
static bool have_host;
static cpu_harness h;
static uint8_t scratch0[HOST32_SCRATCH_SIZE]; /* the initial scratch memory of a case */

/* The interpreter side: 32-bit protected mode, paging off (the harness's
 * flat code and data descriptors only). */
static void interp_init(void)
{
    cpu_harness_init(&h);
    cpu_harness_enter_prot32(&h, 0x37);
}

static void setup(void)
{
    have_host = host_diff32_host_init(&hc, "cpu_test_diff_legacy");
    interp_init();
}

static void teardown(void)
{
    if (have_host)
        host_code32_free(&hc);
    cpu_harness_free(&h);
}

/* Runs the snippet in the interpreter: 0, or the vector it raised. */
static int interp_run(const uint8_t *code, size_t len, host_regs *r)
{
    cpu_t *c = &h.cpu;
    uint8_t buf[80];
    memcpy(buf, code, len);
    buf[len] = 0xF4;
    cpu_harness_load(&h, CODE, buf, len + 1);
    int v = host_diff32_interp_run(&h, scratch0, r, 0x80000, CODE);
    if (v >= 0)
        return v;
    ck_assert_uint_eq(c->rip, CODE + len + 1);
    host_diff32_interp_regs(c, r);
    return 0;
}

/* What each case compares with (mask = the flags compared). */
static const host_diff32 diff = {.hc = &hc, .h = &h, .interp = interp_run, .scratch0 = scratch0};

static uint64_t lcg = 0x9E3779B97F4A7C15ull;

/* DAA, DAS, AAA, AAS for every AL with every CF/AF; AAM and AAD for a
 * spread of AX and several bases (AAM 0 faults on both). */
START_TEST(diff_bcd)
{
    if (!have_host)
        return;
    static const struct {
        uint8_t op;
        uint64_t mask;
        const char *name;
    } ops[] = {
        {0x27, CPU_FL_CF | CPU_FL_AF | CPU_FL_SF | CPU_FL_ZF | CPU_FL_PF, "daa"},
        {0x2F, CPU_FL_CF | CPU_FL_AF | CPU_FL_SF | CPU_FL_ZF | CPU_FL_PF, "das"},
        {0x37, CPU_FL_CF | CPU_FL_AF, "aaa"},
        {0x3F, CPU_FL_CF | CPU_FL_AF, "aas"},
    };
    for (unsigned o = 0; o < 4; o++) {
        for (unsigned al = 0; al < 256; al++) {
            for (unsigned f = 0; f < 4; f++) {
                host_regs r;
                memset(&r, 0, sizeof r);
                r.gpr[CPU_RAX] = 0xABCD0000u | ((al * 7u & 0xFF) << 8) | al;
                r.rflags = ((f & 1) ? CPU_FL_CF : 0) | ((f & 2) ? CPU_FL_AF : 0);
                host_diff32_compare(&diff, ops[o].name, &ops[o].op, 1, &r, ops[o].mask, false);
            }
        }
    }
    static const uint8_t bases[] = {10, 16, 7, 1, 255, 0};
    for (unsigned b = 0; b < sizeof bases; b++) {
        for (unsigned ax = 0; ax < 0x10000; ax += 97) {
            host_regs r;
            memset(&r, 0, sizeof r);
            r.gpr[CPU_RAX] = 0x12340000u | ax;
            uint8_t aam[] = {0xD4, bases[b]}, aad[] = {0xD5, bases[b]};
            host_diff32_compare(&diff, "aam", aam, 2, &r, CPU_FL_SF | CPU_FL_ZF | CPU_FL_PF, false);
            host_diff32_compare(&diff, "aad", aad, 2, &r, CPU_FL_SF | CPU_FL_ZF | CPU_FL_PF, false);
        }
    }
}
END_TEST

/* INC/DEC r32 and r16 short forms (40H-4FH, ESP left out) and ALU register
 * forms: all six flags (AF masked after AND/OR/XOR, where it is
 * undefined), CF kept by INC/DEC. */
START_TEST(diff_alu32)
{
    if (!have_host)
        return;
    static const uint32_t edge[] = {0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
                                    0x7FFFFFFF, 0x80000000u, 0xFFFFFFFFu, 0x0F0F0F0F};
    for (unsigned op = 0x40; op < 0x50; op++) {
        if ((op & 7) == CPU_RSP)
            continue;
        for (unsigned k = 0; k < 60; k++) {
            host_regs r;
            memset(&r, 0, sizeof r);
            for (unsigned g = 0; g < 8; g++)
                r.gpr[g] = k < 12 ? edge[k] : host_diff32_rnd(&lcg);
            r.rflags = host_diff32_rnd(&lcg) & ARITH;
            uint8_t one[] = {(uint8_t)op}, two[] = {0x66, (uint8_t)op};
            host_diff32_compare(&diff, "inc/dec r32", one, 1, &r, ARITH, false);
            host_diff32_compare(&diff, "inc/dec r16", two, 2, &r, ARITH, false);
        }
    }
    static const uint8_t alu[] = {0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38};
    for (unsigned a = 0; a < 8; a++) {
        bool logic = alu[a] == 0x08 || alu[a] == 0x20 || alu[a] == 0x30;
        uint64_t mask = logic ? ARITH & ~(uint64_t)CPU_FL_AF : ARITH;
        for (unsigned k = 0; k < 200; k++) {
            host_regs r;
            memset(&r, 0, sizeof r);
            r.gpr[CPU_RBX] = k < 12 ? edge[k] : host_diff32_rnd(&lcg);
            r.gpr[CPU_RCX] = k < 12 ? edge[11 - k] : host_diff32_rnd(&lcg);
            r.gpr[CPU_RAX] = host_diff32_rnd(&lcg);
            r.rflags = host_diff32_rnd(&lcg) & ARITH;
            uint8_t r32[] = {(uint8_t)(alu[a] + 1), 0xD9};       /* op ecx, ebx */
            uint8_t r16[] = {0x66, (uint8_t)(alu[a] + 1), 0xD9}; /* op cx, bx */
            uint8_t r8[] = {alu[a], 0xFC};                       /* op ah, bh */
            host_diff32_compare(&diff, "alu r32", r32, sizeof r32, &r, mask, false);
            host_diff32_compare(&diff, "alu r16", r16, sizeof r16, &r, mask, false);
            host_diff32_compare(&diff, "alu r8", r8, sizeof r8, &r, mask, false);
        }
    }
    /* ARPL ax, bx: only ZF. */
    for (unsigned k = 0; k < 64; k++) {
        host_regs r;
        memset(&r, 0, sizeof r);
        r.gpr[CPU_RAX] = host_diff32_rnd(&lcg);
        r.gpr[CPU_RBX] = host_diff32_rnd(&lcg);
        r.rflags = host_diff32_rnd(&lcg) & ARITH;
        static const uint8_t arpl[] = {0x63, 0xD8};
        host_diff32_compare(&diff, "arpl", arpl, sizeof arpl, &r, ARITH, false);
    }
}
END_TEST

/* String instructions over the scratch memory: each of MOVS, STOS, LODS,
 * CMPS, SCAS, bytes and dwords (and words with 66H), no prefix, REP/REPE
 * and REPNE, DF = 0 and 1 (STD before, CLD after), counts 0..7. */
START_TEST(diff_strings)
{
    if (!have_host)
        return;
    for (unsigned k = 0; k < sizeof scratch0; k++)
        scratch0[k] = (uint8_t)(k * 37 + (k >> 5));
    /* Equal runs so REPE/REPNE stop at different places. */
    memcpy(scratch0 + 0x900, scratch0 + 0x100, 5);
    memcpy(scratch0 + 0x8F0, scratch0 + 0xF0, 0x14);
    static const uint8_t ops[] = {0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD, 0xA6, 0xA7, 0xAE, 0xAF};
    static const uint8_t reps[] = {0, 0xF3, 0xF2};
    for (unsigned o = 0; o < sizeof ops; o++) {
        for (unsigned p = 0; p < 3; p++) {
            bool cmp = ops[o] >= 0xA6 && ops[o] != 0xAA && ops[o] != 0xAB && ops[o] != 0xAC &&
                       ops[o] != 0xAD;
            if (reps[p] == 0xF2 && !cmp)
                continue;
            for (unsigned osz = 0; osz < 2; osz++) {
                if (osz && !(ops[o] & 1))
                    continue;
                for (unsigned df = 0; df < 2; df++) {
                    for (unsigned cnt = 0; cnt < 8; cnt++) {
                        uint8_t code[8];
                        size_t n = 0;
                        if (df)
                            code[n++] = 0xFD; /* std */
                        if (osz)
                            code[n++] = 0x66;
                        if (reps[p])
                            code[n++] = reps[p];
                        code[n++] = ops[o];
                        if (df)
                            code[n++] = 0xFC; /* cld */
                        host_regs r;
                        memset(&r, 0, sizeof r);
                        r.gpr[CPU_RSI] = HOST32_SCRATCH + 0x100 + cnt;
                        r.gpr[CPU_RDI] = HOST32_SCRATCH + 0x900 + 3 * cnt;
                        r.gpr[CPU_RCX] = reps[p] ? cnt : 0x55;
                        r.gpr[CPU_RAX] = cnt & 1 ? 0x11223344u
                                                 : (uint32_t)scratch0[0x900 + 3 * cnt] * 0x01010101u;
                        r.gpr[CPU_RDX] = host_diff32_rnd(&lcg);
                        r.rflags = host_diff32_rnd(&lcg) & ARITH;
                        host_diff32_compare(&diff, "string", code, n, &r, cmp ? ARITH : 0, true);
                    }
                }
            }
        }
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("diff_legacy");
    TCase *t = tcase_create("diff_legacy");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, diff_bcd);
    tcase_add_test(t, diff_alu32);
    tcase_add_test(t, diff_strings);
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
