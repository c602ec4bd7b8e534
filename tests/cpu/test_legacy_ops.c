/*
 * test_legacy_ops.c — instructions of the modes other than 64-bit mode:
 * the BCD adjustments (SDM Vol. 2 "DAA", "DAS", "AAA", "AAS", "AAM",
 * "AAD"), BOUND, ARPL, LDS/LES/LSS/LFS/LGS (also in 64-bit mode), ENTER
 * with a 32-bit stack, the string instructions with an ES base and a
 * 16-bit address size, XLAT with a 16-bit address size, and data-segment
 * limit checks (SDM Vol. 3A 5.3) with their #GP(0)/#SS(0).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define STACK CPU_HARNESS_STACK
#define SEL_DATA32 CPU_HARNESS_SEL_DATA32
#define SEL_ES_BASE 0x50    /* data, base 0x10000 */
#define SEL_SMALL 0x58      /* data, limit 0xFFF, byte granular */
#define SEL_NP 0x60         /* data, not present */
#define SEL_EXPDOWN 0x68    /* data, expand-down, limit 0xFFF, B = 1 */

static cpu_harness h;

static uint8_t get8(uint64_t pa)
{
    uint8_t v = 0;
    ck_assert(cpu_phys_read(&h.phys, pa, &v, 1));
    return v;
}

static void put8(uint64_t pa, uint8_t v)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &v, 1));
}

/* 32-bit protected mode, paging off, flat segments, the harness's HLT
 * handlers through a 32-bit IDT, and the descriptors above. */
static void setup(void)
{
    cpu_harness_init(&h);
    cpu_harness_poke64(&h, 0x500 + SEL_ES_BASE, 0x00CF92010000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_SMALL, 0x0040920000000FFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_NP, 0x00CF12000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + SEL_EXPDOWN, 0x0040960000000FFFull);
    cpu_harness_enter_prot32(&h, 0x6F);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

static cpu_stop run_n(const uint8_t *code, size_t len, uint64_t n)
{
    cpu_harness_load(&h, CODE, code, len);
    h.cpu.rip = CODE;
    h.cpu.halted = 0;
    return cpu_run(&h.cpu, UINT64_MAX, n);
}

static cpu_stop run(const uint8_t *code, size_t len)
{
    return run_n(code, len, 1000);
}

static const uint8_t bcd[] = {
    0xB0, 0x79,             /* mov al, 0x79 */
    0x04, 0x35,             /* add al, 0x35: 0xAE, 79 + 35 in BCD */
    0x27,                   /* daa: 0x14, CF = 1 (114) */
    0x88, 0xC3,             /* mov bl, al */
    0xB0, 0x35,             /* mov al, 0x35 */
    0x2C, 0x47,             /* sub al, 0x47: 0xEE, CF = AF = 1 */
    0x2F,                   /* das: 0x88, CF = 1 (35 - 47 = -12) */
    0x88, 0xC7,             /* mov bh, al */
    0x66, 0xB8, 0x09, 0x00, /* mov ax, 9 */
    0x04, 0x08,             /* add al, 8: 0x11, AF = 1 */
    0x37,                   /* aaa: AX = 0x0107, CF = AF = 1 */
    0x66, 0x89, 0xC1,       /* mov cx, ax */
    0x66, 0xB8, 0x02, 0x01, /* mov ax, 0x102 */
    0x2C, 0x05,             /* sub al, 5: 0xFD, AF = 1 */
    0x3F,                   /* aas: AX = 0x0007 (12 - 5) */
    0x66, 0x89, 0xC2,       /* mov dx, ax */
    0x66, 0xB8, 0x3F, 0x00, /* mov ax, 63 */
    0xD4, 0x0A,             /* aam: AX = 0x0603 */
    0x66, 0x89, 0xC6,       /* mov si, ax */
    0xD5, 0x0A,             /* aad: AX = 0x003F */
    0x66, 0x89, 0xC7,       /* mov di, ax */
    0xF4,
};

START_TEST(bcd_adjustments)
{
    cpu_t *c = &h.cpu;
    ck_assert_int_eq(run(bcd, sizeof bcd), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFFFF, 0x8814);
    ck_assert_uint_eq(c->gpr[CPU_RCX] & 0xFFFF, 0x0107);
    ck_assert_uint_eq(c->gpr[CPU_RDX] & 0xFFFF, 0x0007);
    ck_assert_uint_eq(c->gpr[CPU_RSI] & 0xFFFF, 0x0603);
    ck_assert_uint_eq(c->gpr[CPU_RDI] & 0xFFFF, 0x003F);
    /* The flags of each step (CF and AF are defined; ZF, SF, PF too for
     * DAA, DAS, AAM, AAD). */
    static const struct {
        unsigned n;
        uint64_t mask, want;
    } steps[] = {
        {3, CPU_FL_CF | CPU_FL_AF | CPU_FL_ZF | CPU_FL_SF | CPU_FL_PF,
         CPU_FL_CF | CPU_FL_AF | CPU_FL_PF},
        {7, CPU_FL_CF | CPU_FL_AF | CPU_FL_ZF | CPU_FL_SF, CPU_FL_CF | CPU_FL_AF | CPU_FL_SF},
        {11, CPU_FL_CF | CPU_FL_AF, CPU_FL_CF | CPU_FL_AF},
        {15, CPU_FL_CF | CPU_FL_AF, CPU_FL_CF | CPU_FL_AF},
        {18, CPU_FL_ZF | CPU_FL_SF | CPU_FL_PF, CPU_FL_PF}, /* AL = 3 */
    };
    for (unsigned k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        ck_assert_int_eq(run_n(bcd, sizeof bcd, steps[k].n), CPU_STOP_INSNS);
        ck_assert_uint_eq(cpu_get_rflags(c) & steps[k].mask, steps[k].want);
    }
}
END_TEST

START_TEST(aam_zero_is_de_and_bcd_invalid_in_64bit)
{
    static const uint8_t aam0[] = {0xD4, 0x00, 0xF4};
    ck_assert_int_eq(run(aam0, sizeof aam0), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_DE);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE);

    cpu_harness_free(&h);
    cpu_harness_init(&h);
    static const uint8_t daa64[] = {0x27, 0xF4};
    cpu_harness_exec(&h, daa64, sizeof daa64, 10);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
}
END_TEST

START_TEST(bound_raises_br)
{
    static const uint8_t code[] = {
        0xC7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00, /* mov dword [0x2000], 10 */
        0xC7, 0x05, 0x04, 0x20, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, /* mov dword [0x2004], 20 */
        0xB8, 0x0F, 0x00, 0x00, 0x00,                               /* mov eax, 15 */
        0x62, 0x05, 0x00, 0x20, 0x00, 0x00,                         /* bound eax, [0x2000] */
        0xB8, 0x15, 0x00, 0x00, 0x00,                               /* mov eax, 21 */
        0x62, 0x05, 0x00, 0x20, 0x00, 0x00,                         /* bound eax, [0x2000] */
        0xF4,
    };
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_BR);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12),
                      CODE + 0x24); /* the second BOUND, no error code */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], STACK - 12);
}
END_TEST

START_TEST(arpl_raises_rpl)
{
    static const uint8_t code[] = {
        0x66, 0xB8, 0x28, 0x00, /* mov ax, 0x28 */
        0x66, 0xBB, 0x33, 0x00, /* mov bx, 0x33 */
        0x63, 0xD8,             /* arpl ax, bx */
        0x0F, 0x94, 0xC1,       /* setz cl */
        0x63, 0xD8,             /* arpl ax, bx */
        0x0F, 0x94, 0xC2,       /* setz dl */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RAX] & 0xFFFF, 0x2B);
    ck_assert_uint_eq(c->gpr[CPU_RCX] & 0xFF, 1);
    ck_assert_uint_eq(c->gpr[CPU_RDX] & 0xFF, 0);
}
END_TEST

/* LES/LDS/LFS/LGS/LSS m16:32: the offset into the register, the selector
 * into the segment register with its descriptor; a not-present selector
 * is #NP(sel) with the register unchanged. */
START_TEST(far_pointer_loads)
{
    static const uint8_t code[] = {
        0xC4, 0x05, 0x00, 0x20, 0x00, 0x00,       /* les eax, [0x2000] */
        0xC5, 0x1D, 0x00, 0x20, 0x00, 0x00,       /* lds ebx, [0x2000] */
        0x0F, 0xB4, 0x0D, 0x00, 0x20, 0x00, 0x00, /* lfs ecx, [0x2000] */
        0x0F, 0xB5, 0x15, 0x00, 0x20, 0x00, 0x00, /* lgs edx, [0x2000] */
        0x0F, 0xB2, 0x35, 0x00, 0x20, 0x00, 0x00, /* lss esi, [0x2000] */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, 0x2000, ((uint64_t)SEL_ES_BASE << 32) | 0x12345678);
    cpu_harness_poke64(&h, 0x12000,
                       ((uint64_t)SEL_ES_BASE << 32) | 0x12345678); /* DS:0x2000 after LDS */
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x12345678);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0x12345678);
    for (unsigned s = 0; s < CPU_NSEG; s++) {
        if (s == CPU_CS)
            continue;
        ck_assert_uint_eq(c->seg[s].sel, SEL_ES_BASE);
        ck_assert_uint_eq(c->seg[s].base, 0x10000);
    }

    teardown();
    setup();
    static const uint8_t np[] = {
        0xB8, 0x07, 0x00, 0x00, 0x00,       /* mov eax, 7 */
        0xC4, 0x05, 0x08, 0x20, 0x00, 0x00, /* les eax, [0x2008] */
        0xF4,
    };
    cpu_harness_poke64(&h, 0x2008, ((uint64_t)SEL_NP << 32) | 0x99);
    ck_assert_int_eq(run(np, sizeof np), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_NP);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), SEL_NP);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 7);
    ck_assert_uint_eq(h.cpu.seg[CPU_ES].sel, SEL_DATA32);

    /* LFS in 64-bit mode, and LES there is a VEX prefix (unimplemented). */
    cpu_harness_free(&h);
    cpu_harness_init(&h);
    cpu_harness_poke64(&h, 0x7000, (0x10ull << 32) | 0xCAFE);
    static const uint8_t lfs64[] = {0x0F, 0xB4, 0x04, 0x25, 0x00, 0x70, 0x00, 0x00, 0xF4};
    ck_assert_int_eq(cpu_harness_exec(&h, lfs64, sizeof lfs64, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0xCAFE);
    ck_assert_uint_eq(h.cpu.seg[CPU_FS].sel, 0x10);
    bool impl = true;
    static const uint8_t vex[] = {0xC5, 0xF8, 0x77}; /* vzeroupper */
    cpu_decode_length(CPU_MODE_LONG64, vex, sizeof vex, &impl);
    ck_assert(!impl);
}
END_TEST

/* ENTER with a 32-bit stack: ENTER 8, 0 then LEAVE, and ENTER 16, 3,
 * which copies two frame pointers from the old frame. */
START_TEST(enter_32bit)
{
    static const uint8_t code[] = {
        0xC8, 0x08, 0x00, 0x00, /* enter 8, 0 */
        0x89, 0xE6,             /* mov esi, esp */
        0x89, 0xEF,             /* mov edi, ebp */
        0xC9,                   /* leave */
        0xC8, 0x10, 0x00, 0x03, /* enter 16, 3 */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    c->gpr[CPU_RBP] = 0x7F000;
    cpu_harness_poke64(&h, 0x7EFF8, 0x0000AAAA0000BBBBull); /* [EBP-4] = AAAA, [EBP-8] = BBBB */
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RSI], STACK - 12);
    ck_assert_uint_eq(c->gpr[CPU_RDI], STACK - 4);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 4), 0x7F000);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 8), 0xAAAA);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), 0xBBBB);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), STACK - 4);
    ck_assert_uint_eq(c->gpr[CPU_RBP], STACK - 4);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK - 32);
}
END_TEST

/* MOVS and STOS write ES:EDI with ES.base = 0x10000. */
START_TEST(string_es_base)
{
    static const uint8_t code[] = {
        0x66, 0xB8, 0x50, 0x00,       /* mov ax, SEL_ES_BASE */
        0x8E, 0xC0,                   /* mov es, ax */
        0xBE, 0x00, 0x30, 0x00, 0x00, /* mov esi, 0x3000 */
        0xBF, 0x00, 0x01, 0x00, 0x00, /* mov edi, 0x100 */
        0xB9, 0x04, 0x00, 0x00, 0x00, /* mov ecx, 4 */
        0xF3, 0xA4,                   /* rep movsb */
        0xBF, 0x00, 0x02, 0x00, 0x00, /* mov edi, 0x200 */
        0xB8, 0x44, 0x33, 0x22, 0x11, /* mov eax, 0x11223344 */
        0xAB,                         /* stosd */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, 0x3000, 0x44434241);
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_ptr_null(cpu_unexecuted_reason(c));
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0x10100), 0x44434241);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0x100), 0);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0x10200), 0x11223344);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0x204);
}
END_TEST

/* 67 REP MOVSB in 32-bit code: SI, DI and CX at 16 bits, wrapping at
 * 64 KBytes, the upper halves of ESI, EDI, ECX untouched. */
START_TEST(string_16bit_address_size)
{
    static const uint8_t code[] = {
        0xBE, 0xFF, 0xFF, 0x01, 0x00, /* mov esi, 0x1FFFF */
        0xBF, 0xFE, 0xFF, 0x02, 0x00, /* mov edi, 0x2FFFE */
        0xB9, 0x03, 0x00, 0x01, 0x00, /* mov ecx, 0x10003 */
        0x67, 0xF3, 0xA4,             /* rep movsb (16-bit addressing) */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    put8(0xFFFF, 0x11);
    put8(0x0, 0x22);
    put8(0x1, 0x33);
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(get8(0xFFFE), 0x11);
    ck_assert_uint_eq(get8(0xFFFF), 0x22);
    ck_assert_uint_eq(get8(0x0), 0x33);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0x10002);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0x20001);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x10000);

    static const uint8_t xlat[] = {
        0xBB, 0x00, 0x20, 0x01, 0x00, /* mov ebx, 0x12000 */
        0xB8, 0x05, 0x00, 0x00, 0x00, /* mov eax, 5 */
        0x67, 0xD7,                   /* xlatb [bx] */
        0xF4,
    };
    put8(0x2005, 0x5A);
    put8(0x12005, 0xA5);
    ck_assert_int_eq(run(xlat, sizeof xlat), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x5A);
}
END_TEST

/* A DS limit of 0xFFF: [0xFFC] is fine, [0x1000] is #GP(0); an SS limit
 * gives #SS(0); an expand-down segment allows only offsets above its
 * limit. */
START_TEST(data_segment_limits)
{
    static const uint8_t ds_code[] = {
        0x66, 0xB8, 0x58, 0x00,       /* mov ax, SEL_SMALL */
        0x8E, 0xD8,                   /* mov ds, ax */
        0xA1, 0xFC, 0x0F, 0x00, 0x00, /* mov eax, [0xFFC] */
        0xA1, 0x00, 0x10, 0x00, 0x00, /* mov eax, [0x1000] */
        0xF4,
    };
    ck_assert_int_eq(run(ds_code, sizeof ds_code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), 0);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE + 11);

    teardown();
    setup();
    /* ESP inside the small stack segment: the #SS frame itself must fit
     * in it (beyond it, delivery would fault again: #DF, then shutdown). */
    static const uint8_t ss_code[] = {
        0x66, 0xB8, 0x58, 0x00,       /* mov ax, SEL_SMALL */
        0x8E, 0xD0,                   /* mov ss, ax */
        0xBC, 0x00, 0x0F, 0x00, 0x00, /* mov esp, 0xF00 */
        0xBD, 0x00, 0x10, 0x00, 0x00, /* mov ebp, 0x1000 */
        0x8B, 0x45, 0x00,             /* mov eax, [ebp] */
        0xF4,
    };
    ck_assert_int_eq(run(ss_code, sizeof ss_code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_SS);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xF00 - 16), 0);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0xF00 - 12), CODE + 16);

    teardown();
    setup();
    static const uint8_t down[] = {
        0x66, 0xB8, 0x68, 0x00,       /* mov ax, SEL_EXPDOWN */
        0x8E, 0xD8,                   /* mov ds, ax */
        0xA1, 0x00, 0x20, 0x00, 0x00, /* mov eax, [0x2000] */
        0xA1, 0xFC, 0x0F, 0x00, 0x00, /* mov eax, [0xFFC] */
        0xF4,
    };
    cpu_harness_poke64(&h, 0x2000, 0x77);
    ck_assert_int_eq(run(down, sizeof down), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x77);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE + 11);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("legacy_ops");
    TCase *t = tcase_create("legacy_ops");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, bcd_adjustments);
    tcase_add_test(t, aam_zero_is_de_and_bcd_invalid_in_64bit);
    tcase_add_test(t, bound_raises_br);
    tcase_add_test(t, arpl_raises_rpl);
    tcase_add_test(t, far_pointer_loads);
    tcase_add_test(t, enter_32bit);
    tcase_add_test(t, string_es_base);
    tcase_add_test(t, string_16bit_address_size);
    tcase_add_test(t, data_segment_limits);
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
