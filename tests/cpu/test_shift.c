/*
 * test_shift.c — unit tests of shifts and rotates (cpu_shift.c): count
 * masking, count 0 and 1 rules, counts beyond the operand width, RCL/RCR
 * modulo 9 and 17, SHLD/SHRD, memory operands, LOCK and byte registers.
 * Expected values are worked out by hand from the SDM instruction pages;
 * flags the SDM leaves undefined for a case are masked out.
 */
#include <check.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_harness.h"

#define CF CPU_FL_CF
#define PF CPU_FL_PF
#define AF CPU_FL_AF
#define ZF CPU_FL_ZF
#define SF CPU_FL_SF
#define OF CPU_FL_OF
#define ARITH CPU_FL_ARITH
#define DATA 0x200000ull

static cpu_harness h;

static void setup(void)
{
    cpu_harness_init(&h);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

static void run(const uint8_t *code, size_t len)
{
    h.cpu.halted = 0;
    cpu_harness_exec(&h, code, len, 1);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + len);
}
#define RUN(...)                                                \
    do {                                                        \
        static const uint8_t code_[] = {__VA_ARGS__};           \
        run(code_, sizeof(code_));                              \
    } while (0)

static uint64_t *gpr(void)
{
    return h.cpu.gpr;
}

static uint64_t flags(void)
{
    return cpu_get_rflags(&h.cpu) & ARITH;
}

static void set_flags(uint64_t f)
{
    cpu_set_rflags(&h.cpu, f | 2);
}

START_TEST(shl_by_one)
{
    gpr()[CPU_RAX] = 0xFFFFFFFF80000000ull;
    RUN(0xD1, 0xE0); /* shl eax, 1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0);
    ck_assert_uint_eq(flags() & ~AF, CF | OF | ZF | PF);

    gpr()[CPU_RAX] = 0x40000000;
    RUN(0xD1, 0xF0); /* sal eax, 1 (the /6 alias) */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x80000000);
    ck_assert_uint_eq(flags() & ~AF, OF | SF | PF);
}
END_TEST

START_TEST(count_zero_keeps_flags)
{
    gpr()[CPU_RAX] = 0xFFFFFFFF00000005ull;
    set_flags(ARITH);
    RUN(0xC1, 0xE0, 0x00); /* shl eax, 0: no flag changes, upper half cleared */
    ck_assert_uint_eq(gpr()[CPU_RAX], 5);
    ck_assert_uint_eq(flags(), ARITH);

    gpr()[CPU_RCX] = 32; /* masked to 0 for a 32-bit operand */
    set_flags(CF | SF);
    RUN(0xD3, 0xE8); /* shr eax, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 5);
    ck_assert_uint_eq(flags(), CF | SF);

    gpr()[CPU_RAX] = 0x8000000000000000ull;
    gpr()[CPU_RCX] = 64; /* masked to 0 for a 64-bit operand */
    set_flags(ZF);
    RUN(0x48, 0xD3, 0xC0); /* rol rax, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x8000000000000000ull);
    ck_assert_uint_eq(flags(), ZF);
}
END_TEST

START_TEST(count_masking)
{
    gpr()[CPU_RAX] = 0x80000001;
    gpr()[CPU_RCX] = 33; /* & 31 = 1 */
    RUN(0xD3, 0xE8);     /* shr eax, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x40000000);
    ck_assert_uint_eq(flags() & ~AF, CF | OF | PF);

    gpr()[CPU_RAX] = 0x8000000000000002ull;
    gpr()[CPU_RCX] = 65; /* & 63 = 1 */
    RUN(0x48, 0xD3, 0xE8); /* shr rax, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x4000000000000001ull);
    ck_assert_uint_eq(flags() & ~AF, OF);

    gpr()[CPU_RAX] = 1;
    gpr()[CPU_RCX] = 0x12345600 | 63; /* only CL counts */
    RUN(0x48, 0xD3, 0xE0);            /* shl rax, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x8000000000000000ull);
    ck_assert_uint_eq(flags() & (CF | SF | ZF), SF);
}
END_TEST

START_TEST(sar_sign_fill)
{
    gpr()[CPU_RAX] = 0x80000000;
    RUN(0xC1, 0xF8, 0x1F); /* sar eax, 31 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFFFFFFFF);
    ck_assert_uint_eq(flags() & ~(AF | OF), SF | PF);

    gpr()[CPU_RAX] = 0x80;
    gpr()[CPU_RCX] = 200; /* masked to 8: the whole byte is sign */
    RUN(0xD2, 0xF8);      /* sar al, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFF);
    ck_assert_uint_eq(flags() & (CF | SF | ZF), CF | SF);

    gpr()[CPU_RAX] = 0xFFFFFFFF;
    RUN(0xD1, 0xF8); /* sar eax, 1: OF = 0 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFFFFFFFF);
    ck_assert_uint_eq(flags() & ~AF, CF | SF | PF);
}
END_TEST

START_TEST(shift_beyond_width)
{
    gpr()[CPU_RAX] = 0x12FF;
    RUN(0xC0, 0xE0, 0x09); /* shl al, 9 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x1200);
    ck_assert_uint_eq(flags() & (ZF | SF), ZF);

    gpr()[CPU_RAX] = 0xABCD8000ull;
    RUN(0x66, 0xC1, 0xE8, 0x10); /* shr ax, 16 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xABCD0000ull);
    ck_assert_uint_eq(flags() & (ZF | SF | PF), ZF | PF);
}
END_TEST

START_TEST(rol_ror)
{
    gpr()[CPU_RAX] = 0x80;
    set_flags(ZF | PF);
    RUN(0xD0, 0xC0); /* rol al, 1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x01);
    ck_assert_uint_eq(flags(), CF | OF | ZF | PF); /* ZF, PF untouched */

    gpr()[CPU_RAX] = 0x01;
    set_flags(0);
    RUN(0xD0, 0xC8); /* ror al, 1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x80);
    ck_assert_uint_eq(flags(), CF | OF);

    gpr()[CPU_RAX] = 0x81;
    set_flags(0);
    RUN(0xC0, 0xC0, 0x08); /* rol al, 8: value unchanged, CF = bit 0 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x81);
    ck_assert_uint_eq(flags() & CF, CF);

    gpr()[CPU_RAX] = 0x123456789ABCDEF0ull;
    RUN(0x48, 0xC1, 0xC0, 0x04); /* rol rax, 4 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x23456789ABCDEF01ull);
    ck_assert_uint_eq(flags() & CF, CF);

    gpr()[CPU_RAX] = 0x123456789ABCDEF0ull;
    RUN(0x48, 0xC1, 0xC8, 0x08); /* ror rax, 8 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xF0123456789ABCDEull);
    ck_assert_uint_eq(flags() & CF, CF);
}
END_TEST

START_TEST(rcl_rcr_modulo)
{
    gpr()[CPU_RAX] = 0x5A;
    gpr()[CPU_RCX] = 9; /* 9 mod 9 = 0 for a byte */
    set_flags(CF);
    RUN(0xD2, 0xD0); /* rcl al, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x5A);
    ck_assert_uint_eq(flags() & CF, CF);

    gpr()[CPU_RAX] = 0x80;
    gpr()[CPU_RCX] = 1;
    set_flags(0);
    RUN(0xD2, 0xD0); /* rcl al, 1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x00);
    ck_assert_uint_eq(flags(), CF | OF);

    gpr()[CPU_RAX] = 0x80;
    gpr()[CPU_RCX] = 2;
    set_flags(CF);
    RUN(0xD2, 0xD0); /* rcl al, 2: ring 1:10000000 → 0:00000011 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x03);
    ck_assert_uint_eq(flags() & CF, 0);

    gpr()[CPU_RAX] = 0x1234;
    gpr()[CPU_RCX] = 17; /* 17 mod 17 = 0 for a word */
    set_flags(0);
    RUN(0x66, 0xD3, 0xD8); /* rcr ax, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x1234);
    ck_assert_uint_eq(flags() & CF, 0);

    gpr()[CPU_RAX] = 0;
    gpr()[CPU_RCX] = 1;
    set_flags(CF);
    RUN(0x66, 0xD3, 0xD8); /* rcr ax, 1: CF enters at the top */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x8000);
    ck_assert_uint_eq(flags(), OF);

    gpr()[CPU_RAX] = 0xFFFFFFFF00000001ull;
    set_flags(0);
    RUN(0xD1, 0xD8); /* rcr eax, 1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0);
    ck_assert_uint_eq(flags() & (CF | OF), CF);

    gpr()[CPU_RAX] = 0;
    gpr()[CPU_RCX] = 32; /* 64-bit: no modulo, 32 < 64 */
    set_flags(CF);
    RUN(0x48, 0xD3, 0xD0); /* rcl rax, cl: CF lands in bit 31 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x80000000ull);
    ck_assert_uint_eq(flags() & CF, 0);
}
END_TEST

START_TEST(shld_shrd)
{
    gpr()[CPU_RAX] = 0x12345678;
    gpr()[CPU_RCX] = 0x9ABCDEF0;
    RUN(0x0F, 0xA4, 0xC8, 0x04); /* shld eax, ecx, 4 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x23456789);
    ck_assert_uint_eq(flags() & (CF | SF | ZF | PF), CF);

    gpr()[CPU_RAX] = 0x12345678;
    RUN(0x0F, 0xAC, 0xC8, 0x04); /* shrd eax, ecx, 4 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x01234567);
    ck_assert_uint_eq(flags() & (CF | SF | ZF | PF), CF);

    gpr()[CPU_RAX] = 0x80000000;
    gpr()[CPU_RCX] = 0;
    RUN(0x0F, 0xAC, 0xC8, 0x01); /* shrd eax, ecx, 1: sign change → OF */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x40000000);
    ck_assert_uint_eq(flags() & (CF | OF | SF | ZF | PF), OF | PF);

    gpr()[CPU_RAX] = 1;
    gpr()[CPU_RCX] = 0x8000000000000000ull | 63;
    RUN(0x48, 0x0F, 0xA5, 0xC8); /* shld rax, rcx, cl (63) */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xC00000000000001Full); /* RCX is also the source */
    ck_assert_uint_eq(flags() & (CF | SF | ZF), SF);

    gpr()[CPU_RAX] = 0x1234;
    gpr()[CPU_RCX] = 64; /* masked to 0 */
    set_flags(ZF | AF);
    RUN(0x48, 0x0F, 0xAD, 0xC8); /* shrd rax, rcx, cl */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x1234);
    ck_assert_uint_eq(flags(), ZF | AF);

    gpr()[CPU_RAX] = 0xFFFF1234;
    gpr()[CPU_RCX] = 0x5678;
    RUN(0x66, 0x0F, 0xA4, 0xC8, 0x10); /* shld ax, cx, 16: AX = CX */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFFFF5678);
    ck_assert_uint_eq(flags() & CF, 0); /* last bit out: bit 0 of 0x1234 */
}
END_TEST

/* A 16-bit count above 16 has an undefined result; we shift the 48-bit
 * value dest:src:dest as Intel processors do (0x1234:0x5678:0x1234). */
START_TEST(shxd_16bit_long_counts)
{
    gpr()[CPU_RAX] = 0x1234;
    gpr()[CPU_RCX] = 0x5678;
    RUN(0x66, 0x0F, 0xA4, 0xC8, 0x14); /* shld ax, cx, 20 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x6781);
    gpr()[CPU_RAX] = 0x1234;
    RUN(0x66, 0x0F, 0xAC, 0xC8, 0x14); /* shrd ax, cx, 20 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x4567);
}
END_TEST

START_TEST(memory_operands)
{
    uint64_t *m = cpu_phys_ptr_write(&h.phys, DATA, 8);
    ck_assert_ptr_nonnull(m);
    *m = 0xAAAAAAAA80000001ull;
    gpr()[CPU_RBX] = DATA;
    RUN(0xD1, 0x23); /* shl dword [rbx], 1 */
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 0xAAAAAAAA00000002ull);
    ck_assert_uint_eq(flags() & (CF | OF), CF | OF);

    gpr()[CPU_RCX] = 8;
    RUN(0x48, 0xD3, 0x03); /* rol qword [rbx], cl */
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 0xAAAAAA00000002AAull);

    gpr()[CPU_RDX] = 0xF0;
    gpr()[CPU_RCX] = 4;
    RUN(0x66, 0x0F, 0xA5, 0x13); /* shld word [rbx], dx, cl */
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 0xAAAAAA0000002AA0ull);
}
END_TEST

START_TEST(lock_shift_is_ud)
{
    gpr()[CPU_RBX] = DATA;
    h.cpu.halted = 0;
    static const uint8_t code[] = {0xF0, 0xD1, 0x23}; /* lock shl dword [rbx], 1 */
    cpu_harness_exec(&h, code, sizeof(code), 1);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
}
END_TEST

START_TEST(byte_registers_high_vs_rex)
{
    gpr()[CPU_RBX] = 0x4000;
    gpr()[CPU_RDI] = 0x40;
    RUN(0xD0, 0xE7); /* shl bh, 1 */
    ck_assert_uint_eq(gpr()[CPU_RBX], 0x8000);
    ck_assert_uint_eq(gpr()[CPU_RDI], 0x40);
    RUN(0x40, 0xD0, 0xE7); /* shl dil, 1 */
    ck_assert_uint_eq(gpr()[CPU_RDI], 0x80);
    ck_assert_uint_eq(gpr()[CPU_RBX], 0x8000);
}
END_TEST

static Suite *shift_suite(void)
{
    Suite *s = suite_create("cpu_shift");
    TCase *tc = tcase_create("shift");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, shl_by_one);
    tcase_add_test(tc, count_zero_keeps_flags);
    tcase_add_test(tc, count_masking);
    tcase_add_test(tc, sar_sign_fill);
    tcase_add_test(tc, shift_beyond_width);
    tcase_add_test(tc, rol_ror);
    tcase_add_test(tc, rcl_rcr_modulo);
    tcase_add_test(tc, shld_shrd);
    tcase_add_test(tc, shxd_16bit_long_counts);
    tcase_add_test(tc, memory_operands);
    tcase_add_test(tc, lock_shift_is_ud);
    tcase_add_test(tc, byte_registers_high_vs_rex);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shift_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
