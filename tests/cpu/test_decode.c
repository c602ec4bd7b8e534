/*
 * test_decode.c — the decoder: prefixes, REX, ModRM/SIB, RIP-relative and
 * displacement forms, immediates, byte registers, over-long and invalid
 * encodings (SDM Vol. 2 chapter 2).
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"

static cpu_cost_model costs;

static unsigned dec(const uint8_t *b, unsigned n, cpu_insn *i)
{
    cpu_cost_default(&costs);
    return cpu_decode(CPU_MODE_LONG64, &costs, b, n, i);
}

START_TEST(sib_disp8)
{
    /* mov rax, [rsp+8] */
    const uint8_t b[] = {0x48, 0x8B, 0x44, 0x24, 0x08};
    cpu_insn i;
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 5);
    ck_assert_uint_eq(i.osize, 8);
    ck_assert_uint_eq(i.reg, CPU_RAX);
    ck_assert_uint_eq(i.base, CPU_RSP);
    ck_assert_uint_eq(i.index, CPU_REG_NONE);
    ck_assert_int_eq(i.disp, 8);
    ck_assert(i.has_mem);
}
END_TEST

START_TEST(rip_relative)
{
    /* mov eax, [rip+0x10] */
    const uint8_t b[] = {0x8B, 0x05, 0x10, 0x00, 0x00, 0x00};
    cpu_insn i;
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 6);
    ck_assert_uint_eq(i.base, CPU_REG_RIP);
    ck_assert_int_eq(i.disp, 0x10);
    ck_assert_uint_eq(i.osize, 4);
}
END_TEST

START_TEST(osize_rex_b_x_sib)
{
    /* mov [r13+r9*4-0x10], cx  (66 43 89 4C 8D F0) */
    const uint8_t b[] = {0x66, 0x43, 0x89, 0x4C, 0x8D, 0xF0};
    cpu_insn i;
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 6);
    ck_assert_uint_eq(i.osize, 2);
    ck_assert_uint_eq(i.base, 13);
    ck_assert_uint_eq(i.index, 9);
    ck_assert_uint_eq(i.scale, 2);
    ck_assert_int_eq(i.disp, -16);
    ck_assert_uint_eq(i.reg, CPU_RCX);
}
END_TEST

START_TEST(byte_registers)
{
    /* 88 E0: mov al, ah (reg field 4 without REX = AH); 40 88 E0: mov al, spl */
    const uint8_t a[] = {0x88, 0xE0}, b[] = {0x40, 0x88, 0xE0};
    cpu_insn i;
    ck_assert_uint_eq(dec(a, sizeof(a), &i), 2);
    ck_assert_uint_eq(i.reg, CPU_REG_AH);
    ck_assert_uint_eq(i.rm, CPU_RAX);
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 3);
    ck_assert_uint_eq(i.reg, CPU_RSP);
}
END_TEST

START_TEST(imm64_and_moffs)
{
    const uint8_t a[] = {0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 0x88};
    const uint8_t b[] = {0x48, 0xA1, 8, 7, 6, 5, 4, 3, 2, 1}; /* mov rax, moffs64 */
    cpu_insn i;
    ck_assert_uint_eq(dec(a, sizeof(a), &i), 10);
    ck_assert_uint_eq(i.imm, 0x8807060504030201ull);
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 10);
    ck_assert_uint_eq(i.imm, 0x0102030405060708ull);
}
END_TEST

START_TEST(fs_override_absolute)
{
    /* mov rax, fs:[0x28]: SIB with no base and no index */
    const uint8_t b[] = {0x64, 0x48, 0x8B, 0x04, 0x25, 0x28, 0, 0, 0};
    cpu_insn i;
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 9);
    ck_assert_uint_eq(i.base, CPU_REG_NONE);
    ck_assert_uint_eq(i.index, CPU_REG_NONE);
    ck_assert_int_eq(i.disp, 0x28);
    ck_assert_uint_eq(i.seg, CPU_FS);
    ck_assert(i.pfx & CPU_PFX_SEG);
    /* A DS override has no base in 64-bit mode. */
    const uint8_t c2[] = {0x3E, 0x8B, 0x00};
    ck_assert_uint_eq(dec(c2, sizeof(c2), &i), 3);
    ck_assert(!(i.pfx & CPU_PFX_SEG));
}
END_TEST

START_TEST(address_size_prefix)
{
    const uint8_t b[] = {0x67, 0x8B, 0x00}; /* mov eax, [eax] */
    cpu_insn i;
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 3);
    ck_assert_uint_eq(i.asize, 4);
}
END_TEST

START_TEST(rex_then_legacy_prefix_ignored)
{
    /* REX followed by 66: the REX is ignored (SDM Vol. 2 2.2.1) — mov ax, [rax] */
    const uint8_t b[] = {0x48, 0x66, 0x8B, 0x00};
    cpu_insn i;
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 4);
    ck_assert_uint_eq(i.osize, 2);
}
END_TEST

START_TEST(too_long)
{
    uint8_t b[16];
    memset(b, 0x66, 15);
    b[15] = 0x90;
    cpu_insn i;
    ck_assert_uint_eq(dec(b, 16, &i), 0);
    ck_assert_ptr_eq((void *)i.exec, (void *)cpu_exec_ud);
}
END_TEST

START_TEST(lock_on_register_is_ud)
{
    const uint8_t b[] = {0xF0, 0x01, 0xC0}; /* lock add eax, eax */
    cpu_insn i;
    ck_assert_uint_eq(dec(b, sizeof(b), &i), 3);
    ck_assert_ptr_eq((void *)i.exec, (void *)cpu_exec_ud);
}
END_TEST

START_TEST(vex_is_reported_unimplemented)
{
    const uint8_t b[] = {0xC5, 0xF8, 0x77}; /* vzeroupper */
    bool implemented = true;
    cpu_decode_length(CPU_MODE_LONG64, b, sizeof(b), &implemented);
    ck_assert(!implemented);
}
END_TEST

START_TEST(memory_operand_costs_more)
{
    const uint8_t reg[] = {0x01, 0xC0}, mem[] = {0x01, 0x00};
    cpu_insn a, b;
    dec(reg, sizeof(reg), &a);
    dec(mem, sizeof(mem), &b);
    ck_assert_uint_eq(b.cost, a.cost + costs.cost[CPU_COST_MEM]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("decode");
    TCase *t = tcase_create("decode");
    tcase_add_test(t, sib_disp8);
    tcase_add_test(t, rip_relative);
    tcase_add_test(t, osize_rex_b_x_sib);
    tcase_add_test(t, byte_registers);
    tcase_add_test(t, imm64_and_moffs);
    tcase_add_test(t, fs_override_absolute);
    tcase_add_test(t, address_size_prefix);
    tcase_add_test(t, rex_then_legacy_prefix_ignored);
    tcase_add_test(t, too_long);
    tcase_add_test(t, lock_on_register_is_ud);
    tcase_add_test(t, vex_is_reported_unimplemented);
    tcase_add_test(t, memory_operand_costs_more);
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
