/*
 * test_seg_limits.c — segment limit checks outside 64-bit mode (SDM Vol. 3A
 * 5.3 "Limit Checking", 3.4.5.1): every byte of a multi-byte access (offset
 * + size - 1 within the limit), expand-down data and stack segments, the
 * stack (#SS(0)), the string instructions element by element (the REP fast
 * path included), and instruction fetch beyond the CS limit (#GP(0)), also
 * for code whose decoded block was cached under a larger limit.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define STACK CPU_HARNESS_STACK
#define SEL_SMALL 0x38      /* data, limit 0xFFF, byte granular, base 0 */
#define SEL_EXPDOWN 0x40    /* data, expand-down, limit 0xFFF, B = 1 */
#define SEL_EXPDOWN16 0x48  /* data, expand-down, limit 0xFFF, B = 0: 0x1000..0xFFFF */
#define SEL_CODE_SMALL 0x50 /* 32-bit code, base CODE, limit 0xF */

static cpu_harness h;
static cpu_t *c;

/* 32-bit protected mode, paging off, flat segments, the harness's HLT
 * handlers through a 32-bit IDT, and the descriptors above. */
static void setup(void)
{
    cpu_harness_init(&h);
    c = &h.cpu;
    cpu_harness_poke64(&h, 0x500 + SEL_SMALL, 0x0040920000000FFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_EXPDOWN, 0x0040960000000FFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_EXPDOWN16, 0x0000960000000FFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_CODE_SMALL, 0x00409A100000000Full);
    cpu_harness_enter_prot32(&h, 0x57);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

static cpu_stop run(const uint8_t *code, size_t len)
{
    cpu_harness_load(&h, CODE, code, len);
    c->rip = CODE;
    c->halted = 0;
    c->gpr[CPU_RSP] = STACK; /* each run's fault frame at the same place */
    return cpu_run(c, UINT64_MAX, 1000);
}

/* The 32-bit frame of a fault with an error code on the flat stack. */
static uint32_t fault_error(void)
{
    return cpu_harness_peek32(&h, STACK - 16);
}

static uint32_t fault_eip(void)
{
    return cpu_harness_peek32(&h, STACK - 12);
}

/* The code that loads `sel` into DS (mov ax, sel; mov ds, ax), then `tail`. */
static cpu_stop run_with_ds(uint16_t sel, const uint8_t *tail, size_t n)
{
    uint8_t code[64] = {0x66, 0xB8, (uint8_t)sel, (uint8_t)(sel >> 8), 0x8E, 0xD8};
    ck_assert(n + 6 <= sizeof code);
    memcpy(code + 6, tail, n);
    return run(code, n + 6);
}

/* A DS limit of 0xFFF: a dword or word at 0xFFE crosses it (the first byte
 * alone is within), through ModRM and moffs alike; a word there and the
 * byte at 0xFFF are fine; MOVZX checks the bytes it reads, not the
 * destination's size. */
START_TEST(multibyte_access_crossing_limit)
{
    static const uint8_t ok[] = {
        0x66, 0x8B, 0x05, 0xFE, 0x0F, 0, 0, /* mov ax, [0xFFE] */
        0x0F, 0xB6, 0x1D, 0xFF, 0x0F, 0, 0, /* movzx ebx, byte [0xFFF] */
        0x0F, 0xB7, 0x0D, 0xFE, 0x0F, 0, 0, /* movzx ecx, word [0xFFE] */
        0xF4,
    };
    cpu_harness_poke32(&h, 0xFFC, 0xA1B2C3D4);
    ck_assert_int_eq(run_with_ds(SEL_SMALL, ok, sizeof ok), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RAX] & 0xFFFF, 0xA1B2);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0xA1);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0xA1B2);

    static const uint8_t modrm[] = {0x8B, 0x05, 0xFE, 0x0F, 0, 0, 0xF4}; /* mov eax, [0xFFE] */
    ck_assert_int_eq(run_with_ds(SEL_SMALL, modrm, sizeof modrm), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_error(), 0);
    ck_assert_uint_eq(fault_eip(), CODE + 6);

    static const uint8_t moffs[] = {0xA1, 0xFD, 0x0F, 0, 0, 0xF4}; /* mov eax, [0xFFD] */
    ck_assert_int_eq(run_with_ds(SEL_SMALL, moffs, sizeof moffs), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_eip(), CODE + 6);

    /* A far pointer (LES: 4-byte offset + selector) at 0xFFC needs 6 bytes. */
    static const uint8_t les[] = {0xC4, 0x05, 0xFC, 0x0F, 0, 0, 0xF4}; /* les eax, [0xFFC] */
    ck_assert_int_eq(run_with_ds(SEL_SMALL, les, sizeof les), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_eip(), CODE + 6);
}
END_TEST

/* Expand-down (B = 1): offsets 0x1000..0xFFFFFFFF. A dword at 0x1000 is
 * fine; one at 0xFFE starts below the range; one at 0xFFFFFFFE ends past
 * 4 GBytes. */
START_TEST(expand_down_every_byte)
{
    static const uint8_t ok[] = {0x8B, 0x05, 0x00, 0x10, 0, 0, 0xF4}; /* mov eax, [0x1000] */
    cpu_harness_poke32(&h, 0x1000, 0x55667788);
    ck_assert_int_eq(run_with_ds(SEL_EXPDOWN, ok, sizeof ok), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x55667788);

    static const uint8_t below[] = {0x8B, 0x05, 0xFE, 0x0F, 0, 0, 0xF4};
    ck_assert_int_eq(run_with_ds(SEL_EXPDOWN, below, sizeof below), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);

    static const uint8_t top[] = {0x8B, 0x05, 0xFE, 0xFF, 0xFF, 0xFF, 0xF4};
    ck_assert_int_eq(run_with_ds(SEL_EXPDOWN, top, sizeof top), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_error(), 0);
    ck_assert_uint_eq(fault_eip(), CODE + 6);
}
END_TEST

/* The stack: a POP whose dword crosses SS's limit is #SS(0) (the fault's
 * frame fits below it); a 16-bit expand-down stack (0x1000..0xFFFF) takes
 * a word at 0xFFFE but not a dword. */
START_TEST(stack_limits)
{
    static const uint8_t up[] = {
        0x66, 0xB8, SEL_SMALL, 0x00,  /* mov ax, SEL_SMALL */
        0x8E, 0xD0,                   /* mov ss, ax */
        0xBC, 0xFE, 0x0F, 0x00, 0x00, /* mov esp, 0xFFE */
        0x58,                         /* pop eax: 0xFFE..0x1001 */
        0xF4,
    };
    ck_assert_int_eq(run(up, sizeof up), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_SS);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xFFE - 16), 0);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xFFE - 12), CODE + 11);

    teardown();
    setup();
    static const uint8_t down16[] = {
        0x66, 0xB8, SEL_EXPDOWN16, 0x00, /* mov ax, SEL_EXPDOWN16 */
        0x8E, 0xD0,                      /* mov ss, ax */
        0xBC, 0xFE, 0xFF, 0x00, 0x00,    /* mov esp, 0xFFFE */
        0x66, 0x5B,                      /* pop bx: 0xFFFE..0xFFFF */
        0x66, 0xBC, 0xFE, 0xFF,          /* mov sp, 0xFFFE */
        0x58,                            /* pop eax: past 0xFFFF */
        0xF4,
    };
    cpu_harness_poke32(&h, 0xFFFC, 0x4321AAAA);
    ck_assert_int_eq(run(down16, sizeof down16), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_SS);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFFFF, 0x4321);
    /* The frame went on the same 16-bit stack, below SP = 0xFFFE. */
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xFFFE - 16), 0);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xFFFE - 12), CODE + 17);
}
END_TEST

/* REP STOSD with ES limit 0xFFF from EDI = 0xFF8: two elements, then #GP(0)
 * at the third with EDI and ECX where it stopped (the fast path must not
 * run past the limit). LODSD at 0xFFE crosses DS's limit. */
START_TEST(string_elements)
{
    static const uint8_t stos[] = {
        0x66, 0xB8, SEL_SMALL, 0x00,  /* mov ax, SEL_SMALL */
        0x8E, 0xC0,                   /* mov es, ax */
        0xB8, 0x11, 0x22, 0x33, 0x44, /* mov eax, 0x44332211 */
        0xBF, 0xF8, 0x0F, 0x00, 0x00, /* mov edi, 0xFF8 */
        0xB9, 0x04, 0x00, 0x00, 0x00, /* mov ecx, 4 */
        0xF3, 0xAB,                   /* rep stosd */
        0xF4,
    };
    cpu_harness_poke32(&h, 0x1000, 0);
    ck_assert_int_eq(run(stos, sizeof stos), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_error(), 0);
    ck_assert_uint_eq(fault_eip(), CODE + 21);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0x1000);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 2);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xFF8), 0x44332211);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xFFC), 0x44332211);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0x1000), 0);

    static const uint8_t lods[] = {
        0xBE, 0xFE, 0x0F, 0x00, 0x00, /* mov esi, 0xFFE */
        0xAD,                         /* lodsd */
        0xF4,
    };
    ck_assert_int_eq(run_with_ds(SEL_SMALL, lods, sizeof lods), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_eip(), CODE + 11);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0xFFE);
}
END_TEST

/* Code segment base CODE, limit 0xF: 14 NOPs run, the MOV at offset 14
 * (5 bytes, ending at 18) is #GP(0) with EIP = 14 and nothing done. The
 * same bytes run first through the flat code segment, so their decoded
 * block is cached under the larger limit and must not be reused blindly. */
START_TEST(fetch_beyond_cs_limit)
{
    uint8_t code[32];
    memset(code, 0x90, 14);
    static const uint8_t tail[] = {0xB8, 0x78, 0x56, 0x34, 0x12, 0xF4};
    memcpy(code + 14, tail, sizeof tail);
    ck_assert_int_eq(run(code, 14 + sizeof tail), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x12345678);

    c->gpr[CPU_RAX] = 0;
    cpu_set_segment(c, CPU_CS, SEL_CODE_SMALL, CODE, 0xF, 0x49B);
    c->rip = 0;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_error(), 0);
    ck_assert_uint_eq(fault_eip(), 14);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 8), SEL_CODE_SMALL);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0);
}
END_TEST

/* The CS limit's last byte: with limit 0xF, 15 NOPs and a HLT at offset
 * 0xF (the block's last byte at the limit) run to the HLT; 16 NOPs put the
 * HLT at 0x10, one byte beyond, and its fetch is #GP(0) with EIP = 0x10
 * (SDM Vol. 3A 5.3), though the 16 NOPs and the HLT were decoded as one
 * block under the flat code segment first. */
START_TEST(fetch_at_cs_limit_edge)
{
    uint8_t code[17];
    memset(code, 0x90, 15);
    code[15] = 0xF4;
    cpu_harness_load(&h, CODE, code, 16);
    cpu_set_segment(c, CPU_CS, SEL_CODE_SMALL, CODE, 0xF, 0x49B);
    c->rip = 0;
    c->halted = 0;
    c->gpr[CPU_RSP] = STACK;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->rip, 0x10);

    memset(code, 0x90, 16);
    code[16] = 0xF4;
    cpu_harness_enter_prot32(&h, 0x57);
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    cpu_set_segment(c, CPU_CS, SEL_CODE_SMALL, CODE, 0xF, 0x49B);
    c->rip = 0;
    c->halted = 0;
    c->gpr[CPU_RSP] = STACK;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(fault_error(), 0);
    ck_assert_uint_eq(fault_eip(), 0x10);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("seg_limits");
    TCase *t = tcase_create("seg_limits");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, multibyte_access_crossing_limit);
    tcase_add_test(t, expand_down_every_byte);
    tcase_add_test(t, stack_limits);
    tcase_add_test(t, string_elements);
    tcase_add_test(t, fetch_beyond_cs_limit);
    tcase_add_test(t, fetch_at_cs_limit_edge);
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
