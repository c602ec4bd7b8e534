/*
 * test_seg_verify.c — LAR, LSL, VERR and VERW (SDM Vol. 2 "LAR", "LSL",
 * "VERR/VERW"): ZF and the access rights or limit for valid, visible
 * descriptors; ZF = 0 and the destination unchanged for null, out-of-table,
 * invisible (DPL < CPL or RPL) and wrong-type selectors, never a fault; the
 * system types each accepts outside and inside IA-32e mode; 16-bit operand
 * size; #UD in real mode.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define STACK CPU_HARNESS_STACK
#define SEL_CODE32 CPU_HARNESS_SEL_CODE32
#define SEL_DATA32 CPU_HARNESS_SEL_DATA32
#define SEL_SMALL 0x38    /* data, limit 0xFFF, byte granular */
#define SEL_TSS32 0x40    /* 32-bit TSS, limit 0x67 */
#define SEL_GATE32 0x48   /* 32-bit call gate */
#define SEL_XO_CODE 0x50  /* execute-only code */
#define SEL_RO_DATA 0x58  /* read-only data */
#define SEL_TSS16 0x60    /* 16-bit TSS */
#define SEL_CONF 0x68     /* conforming readable code, DPL 0 */
#define SEL_DPL3 0x70     /* data, DPL 3 */
#define GDT_END 0x78

enum { LAR, LSL, VERR, VERW, LAR16 };

static cpu_harness h;
static cpu_t *c;

/* All of this file's descriptors, the flat code and data too (the IA-32e
 * test uses them without cpu_harness_enter_prot32). */
static void put_descriptors(void)
{
    cpu_harness_poke64(&h, 0x500 + SEL_CODE32, 0x00CF9A000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_DATA32, 0x00CF92000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_SMALL, 0x0040920000000FFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_TSS32, 0x0000890000000067ull);
    cpu_harness_poke64(&h, 0x500 + SEL_GATE32, 0x00008C0000281000ull);
    cpu_harness_poke64(&h, 0x500 + SEL_XO_CODE, 0x00CF98000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_RO_DATA, 0x00CF90000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_TSS16, 0x000081000000002Bull);
    cpu_harness_poke64(&h, 0x500 + SEL_CONF, 0x00CF9E000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_DPL3, 0x00CFF2000000FFFFull);
}

/* 32-bit protected mode, paging off, the harness's HLT handlers through a
 * 32-bit IDT. */
static void setup(void)
{
    cpu_harness_init(&h);
    c = &h.cpu;
    put_descriptors();
    cpu_harness_enter_prot32(&h, GDT_END - 1);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* Runs `op` with selector sel in BX and EAX = DEADBEEFH before it (RAX all
 * ones in 64-bit mode); returns ZF (SETZ CL after it). */
static bool verify(unsigned op, uint16_t sel)
{
    static const uint8_t ops[5][4] = {
        {0x0F, 0x02, 0xC3}, {0x0F, 0x03, 0xC3}, {0x0F, 0x00, 0xE3}, {0x0F, 0x00, 0xEB},
        {0x66, 0x0F, 0x02, 0xC3},
    };
    uint8_t code[32] = {0x66, 0xBB, (uint8_t)sel, (uint8_t)(sel >> 8), 0xB8, 0xEF, 0xBE, 0xAD,
                        0xDE};
    size_t n = 9, len = op == LAR16 ? 4 : 3;
    memcpy(code + n, ops[op], len);
    n += len;
    static const uint8_t tail[] = {0x0F, 0x94, 0xC1, 0xF4}; /* setz cl; hlt */
    memcpy(code + n, tail, sizeof tail);
    n += sizeof tail;
    cpu_harness_load(&h, CODE, code, n);
    c->rip = CODE;
    c->halted = 0;
    c->gpr[CPU_RCX] = 0xFF;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_le(c->gpr[CPU_RCX] & 0xFF, 1);
    return (c->gpr[CPU_RCX] & 0xFF) != 0;
}

START_TEST(lar_lsl_valid)
{
    ck_assert(verify(LAR, SEL_DATA32));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x00C09200u); /* bits 63:32 AND 00F0FF00H */
    ck_assert(verify(LSL, SEL_DATA32));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFu); /* G = 1: scaled */
    ck_assert(verify(LSL, SEL_SMALL));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFF);
    ck_assert(verify(LAR16, SEL_CODE32));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDEAD9A00u); /* 16 bits: AND FF00H */
    ck_assert(verify(LAR, SEL_DPL3 | 3));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x00C0F200u);
    /* A conforming code segment is visible whatever its DPL. */
    c->cpl = 0;
    ck_assert(verify(LAR, SEL_CONF | 3));
}
END_TEST

START_TEST(lar_lsl_invalid_leave_destination)
{
    ck_assert(!verify(LAR, 0));                 /* null */
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDEADBEEFu);
    ck_assert(!verify(LSL, GDT_END));           /* beyond the GDT limit */
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDEADBEEFu);
    ck_assert(!verify(LAR, SEL_DATA32 | 3));    /* RPL 3 > DPL 0 */
    ck_assert(!verify(LAR, 0x04 | SEL_DATA32)); /* LDT selector, no LDT */
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDEADBEEFu);
}
END_TEST

/* System types outside IA-32e mode: LAR takes TSSs and call gates, LSL
 * TSSs but no gate. */
START_TEST(lar_lsl_system_types_protected)
{
    ck_assert(verify(LAR, SEL_TSS32));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x00008900u);
    ck_assert(verify(LSL, SEL_TSS32));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x67);
    ck_assert(verify(LAR, SEL_TSS16));
    ck_assert(verify(LAR, SEL_GATE32));
    ck_assert(!verify(LSL, SEL_GATE32));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDEADBEEFu);
}
END_TEST

START_TEST(verr_verw)
{
    ck_assert(verify(VERR, SEL_CODE32));   /* readable code */
    ck_assert(!verify(VERW, SEL_CODE32));  /* code is never writable */
    ck_assert(!verify(VERR, SEL_XO_CODE)); /* execute-only */
    ck_assert(verify(VERR, SEL_RO_DATA));
    ck_assert(!verify(VERW, SEL_RO_DATA));
    ck_assert(verify(VERW, SEL_DATA32));
    ck_assert(!verify(VERR, SEL_TSS32));   /* system segment */
    ck_assert(!verify(VERW, SEL_DATA32 | 3));
    ck_assert(verify(VERR, SEL_CONF | 3)); /* conforming readable: no DPL check */
    ck_assert(!verify(VERR, 0));
    ck_assert(!verify(VERW, GDT_END));
}
END_TEST

/* In IA-32e mode (here 64-bit mode) a 16-bit TSS is no longer a valid
 * type; REX.W LSL zero-extends the limit into RAX. */
START_TEST(ia32e_types)
{
    teardown();
    cpu_harness_init(&h);
    c = &h.cpu;
    put_descriptors();
    c->gdtr.limit = GDT_END - 1;
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert(!verify(LAR, SEL_TSS16));
    ck_assert(!verify(LSL, SEL_GATE32)); /* no gates for LSL */
    ck_assert(verify(LSL, SEL_SMALL));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFF);
    static const uint8_t lslq[] = {
        0x66, 0xBB, SEL_DATA32, 0x00, /* mov bx, SEL_DATA32 */
        0x48, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, /* mov rax, -1 */
        0x48, 0x0F, 0x03, 0xC3,       /* lsl rax, bx */
        0xF4,
    };
    ck_assert_int_eq(cpu_harness_exec(&h, lslq, sizeof lslq, 10), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFull);
}
END_TEST

/* All four are #UD in real mode (SDM Vol. 2: "not recognized in real-address
 * mode"). */
START_TEST(real_mode_ud)
{
    cpu_wait_for_sipi(c, true);
    cpu_start_sipi(c, 0x10); /* real mode at 1000:0000 */
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    cpu_harness_poke32(&h, CPU_EXC_UD * 4, 0x00007000); /* IVT[6] = 0000:7000 */
    uint8_t hlt = 0xF4;
    cpu_harness_load(&h, 0x7000, &hlt, 1);
    static const uint8_t lar[] = {0x0F, 0x02, 0xC3, 0xF4};
    cpu_harness_load(&h, 0x10000, lar, sizeof lar);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, 0);
    ck_assert_uint_eq(c->rip, 0x7001);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xFFFA) & 0xFFFF, 0); /* the IP of the LAR, at SS:SP */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("seg_verify");
    TCase *t = tcase_create("seg_verify");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, lar_lsl_valid);
    tcase_add_test(t, lar_lsl_invalid_leave_destination);
    tcase_add_test(t, lar_lsl_system_types_protected);
    tcase_add_test(t, verr_verw);
    tcase_add_test(t, ia32e_types);
    tcase_add_test(t, real_mode_ud);
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
