/*
 * test_vmx_hook32.c — the VMX instructions outside 64-bit mode (SDM Vol. 3C
 * 31.3, each instruction's "Operation" and "Operand size"): in 32-bit
 * protected mode VMREAD and VMWRITE take 32-bit register and memory
 * operands (the field encoding too), INVEPT/INVVPID a 32-bit type, while
 * VMPTRLD and the INVEPT descriptor stay m64 and m128; memory operands go
 * through the segment (base and limit) like any other; in compatibility
 * mode every one of them is #UD. The hook side is test_vmx_hook.c's.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

static cpu_harness h;
static cpu_vmx_op ops[4];
static unsigned nops;
static uint64_t next_value;

static cpu_vmx_result hook(void *ctx, cpu_t *c, cpu_vmx_op *op)
{
    (void)ctx;
    (void)c;
    if (nops < 4)
        ops[nops] = *op;
    nops++;
    op->value = next_value;
    return CPU_VMX_SUCCEED;
}

/* 32-bit protected mode (flat segments, paging off), in VMX root
 * operation at CPL 0, with the hook installed. */
static void setup(void)
{
    cpu_harness_init(&h);
    cpu_harness_enter_prot32(&h, 0x37);
    cpu_hooks hk = {.vmx = hook};
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.vmx_operation = true;
    nops = 0;
    next_value = 0;
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

#define RUN(code) cpu_harness_exec(&h, (code), sizeof(code), 100)
#define DATA 0x9000u

static uint64_t rflags(void)
{
    return cpu_get_rflags(&h.cpu);
}

/* vmread ebx, eax (0F 78 C3): the encoding is EAX, bits 63:32 of RAX play
 * no part; EBX gets the low 32 bits of a 64-bit field. */
START_TEST(vmread_register_is_32_bits)
{
    static const uint8_t code[] = {0x0f, 0x78, 0xc3, 0xf4};
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_PROT32);
    h.cpu.gpr[CPU_RAX] = 0xFFFFFFFF00006802ull; /* GUEST_CR3 */
    h.cpu.gpr[CPU_RBX] = 0x5555555555555555ull;
    next_value = 0x123456789ull;
    cpu_set_rflags(&h.cpu, CPU_FL_FIXED1 | CPU_FL_CF | CPU_FL_ZF);
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(ops[0].field, 0x6802);
    ck_assert_uint_eq((uint32_t)h.cpu.gpr[CPU_RBX], 0x23456789u);
    ck_assert_uint_eq(rflags() & CPU_FL_ARITH, 0);
}
END_TEST

/* vmread [ebx], eax (0F 78 03) writes 4 bytes; vmwrite eax, [ebx]
 * (0F 79 03) reads 4 and hands over a zero-extended value. */
START_TEST(vmread_vmwrite_memory_are_32_bits)
{
    static const uint8_t rd[] = {0x0f, 0x78, 0x03, 0xf4};
    static const uint8_t wr[] = {0x0f, 0x79, 0x03, 0xf4};
    cpu_harness_poke64(&h, DATA, 0xAAAAAAAAAAAAAAAAull);
    h.cpu.gpr[CPU_RAX] = 0x4402;
    h.cpu.gpr[CPU_RBX] = DATA;
    next_value = 0x1122334455667788ull;
    RUN(rd);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 0xAAAAAAAA55667788ull);
    cpu_harness_poke64(&h, DATA, 0x9999999912345678ull);
    h.cpu.gpr[CPU_RAX] = 0x100000681Eull; /* GUEST_RIP, high bits ignored */
    RUN(wr);
    ck_assert_uint_eq(nops, 2);
    ck_assert_uint_eq(ops[1].field, 0x681E);
    ck_assert_uint_eq(ops[1].value, 0x12345678u);
}
END_TEST

/* vmwrite eax, ecx (0F 79 C1): the value register at 32 bits. */
START_TEST(vmwrite_register_is_32_bits)
{
    static const uint8_t code[] = {0x0f, 0x79, 0xc1, 0xf4};
    h.cpu.gpr[CPU_RAX] = 0x4002;
    h.cpu.gpr[CPU_RCX] = 0xDEADBEEF00000080ull;
    RUN(code);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(ops[0].field, 0x4002);
    ck_assert_uint_eq(ops[0].value, 0x80);
}
END_TEST

/* The memory operand is DS:EBX: the segment base is added, and every byte
 * must lie within the limit (4 for VMREAD/VMWRITE, 8 for VMPTRLD), else
 * #GP(0) before the hook runs (SDM Vol. 3A 5.3). */
START_TEST(memory_operands_follow_the_segment)
{
    static const uint8_t wr[] = {0x0f, 0x79, 0x03, 0xf4};
    static const uint8_t ptrld[] = {0x0f, 0xc7, 0x33, 0xf4}; /* vmptrld [ebx] */
    h.cpu.seg[CPU_DS].base = 0x1000;
    h.cpu.seg[CPU_DS].limit = DATA + 7;
    cpu_harness_poke64(&h, DATA + 0x1000, 0x0000000500004000ull);
    h.cpu.gpr[CPU_RBX] = DATA;
    RUN(ptrld);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(ops[0].ptr, 0x0000000500004000ull);
    h.cpu.gpr[CPU_RBX] = DATA + 4; /* the last 4 bytes: VMWRITE fits */
    RUN(wr);
    ck_assert_uint_eq(nops, 2);
    ck_assert_uint_eq(ops[1].value, 5);
    h.cpu.gpr[CPU_RBX] = DATA + 1; /* 8 bytes from here pass the limit */
    RUN(ptrld);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(nops, 2);
}
END_TEST

/* invept eax, [ebx] (66 0F 38 80 03): a 32-bit type, the m128 descriptor. */
START_TEST(invept_type_is_32_bits)
{
    static const uint8_t code[] = {0x66, 0x0f, 0x38, 0x80, 0x03, 0xf4};
    cpu_harness_poke64(&h, DATA, 0x1234501Eull);
    cpu_harness_poke64(&h, DATA + 8, 0x77);
    h.cpu.gpr[CPU_RAX] = 0xF00000001ull;
    h.cpu.gpr[CPU_RBX] = DATA;
    RUN(code);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(ops[0].field, 1);
    ck_assert_uint_eq(ops[0].desc[0], 0x1234501Eull);
    ck_assert_uint_eq(ops[0].desc[1], 0x77);
}
END_TEST

/* Compatibility mode (IA32_EFER.LMA = 1, CS.L = 0): #UD, nothing reaches
 * the hook (SDM 31.3). */
START_TEST(ud_in_compatibility_mode)
{
    static const uint8_t rd[] = {0x0f, 0x78, 0xc3, 0xf4};
    static const uint8_t ptrld[] = {0x0f, 0xc7, 0x33, 0xf4};
    teardown();
    cpu_harness_init(&h);
    cpu_hooks hk = {.vmx = hook};
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.vmx_operation = true;
    cpu_set_segment(&h.cpu, CPU_CS, 0x28, 0, 0xFFFFFFFF, 0x9B | CPU_SEG_DB | CPU_SEG_G);
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_COMPAT32);
    h.cpu.gpr[CPU_RBX] = DATA;
    RUN(rd);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    cpu_set_segment(&h.cpu, CPU_CS, 0x28, 0, 0xFFFFFFFF, 0x9B | CPU_SEG_DB | CPU_SEG_G);
    RUN(ptrld);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(nops, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_vmx_hook32");
    TCase *t = tcase_create("vmx32");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, vmread_register_is_32_bits);
    tcase_add_test(t, vmread_vmwrite_memory_are_32_bits);
    tcase_add_test(t, vmwrite_register_is_32_bits);
    tcase_add_test(t, memory_operands_follow_the_segment);
    tcase_add_test(t, invept_type_is_32_bits);
    tcase_add_test(t, ud_in_compatibility_mode);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
