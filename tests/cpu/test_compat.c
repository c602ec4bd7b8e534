/*
 * test_compat.c — IA-32e compatibility mode (SDM Vol. 3A 2.2, 5.2.1: a code
 * segment with L = 0 while EFER.LMA = 1) and the transitions in and out of
 * it from 64-bit mode: far JMP/CALL through memory (FF /5, FF /3 with m16:32
 * and m16:64), RETF and RETFQ, IRETQ to a 32- or 16-bit code segment, IRET
 * inside compatibility mode (SS:ESP popped only on a CPL change, SDM Vol. 3A
 * 6.14.3), and interrupts from compatibility mode into 64-bit handlers
 * through the 64-bit IDT (SDM 6.14.1), in 32-bit and 16-bit code segments.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define STACK CPU_HARNESS_STACK
#define C32 0x101000u  /* compatibility-mode code (flat 32-bit segment) */
#define B64 0x102000u  /* 64-bit code reached back from it */
#define C16_BASE 0x110000u
#define PTR 0x200000u  /* far pointers in memory */
#define SEL_C32 0x28   /* 32-bit code, flat */
#define SEL_C16 0x30   /* 16-bit code, base C16_BASE, limit FFFFH */
#define SEL_D32 0x38   /* 32-bit data, flat */

/* An 8-byte segment descriptor (SDM Vol. 3A 3.4.5 Figure 3-8). */
static uint64_t desc(uint32_t base, uint32_t limit, unsigned access, unsigned flags)
{
    return (limit & 0xFFFFull) | ((uint64_t)(base & 0xFFFFFF) << 16) |
           ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xF) << 48) |
           ((uint64_t)flags << 52) | ((uint64_t)(base >> 24) << 56);
}

/* The harness (64-bit mode, CPL 0) with compatibility-mode code and a
 * 32-bit stack segment added to its GDT; SS is that 32-bit data segment,
 * as a kernel that runs 32-bit code has it. */
static void setup(cpu_harness *h)
{
    cpu_harness_init(h);
    cpu_t *c = &h->cpu;
    cpu_harness_poke64(h, 0x500 + SEL_C32, desc(0, 0xFFFFF, 0x9A, 0xC));
    cpu_harness_poke64(h, 0x500 + SEL_C16, desc(C16_BASE, 0xFFFF, 0x9A, 0x0));
    cpu_harness_poke64(h, 0x500 + SEL_D32, desc(0, 0xFFFFF, 0x92, 0xC));
    c->gdtr.limit = 0x3F;
    cpu_set_segment(c, CPU_SS, SEL_D32, 0, 0xFFFFFFFF, 0xC93);
}

static void load(cpu_harness *h, uint64_t addr, const uint8_t *code, size_t n)
{
    cpu_harness_load(h, addr, code, n);
}

static cpu_stop run_from(cpu_harness *h, uint64_t rip, uint64_t n)
{
    h->cpu.rip = rip;
    h->cpu.halted = 0;
    return cpu_run(&h->cpu, UINT64_MAX, n);
}

/* jmp far [PTR] (FF /5, m16:32) into 32-bit code, which far-jumps (EA) back
 * to the 64-bit code segment. */
START_TEST(far_jmp_m16_32_to_compat_and_back)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {0xFF, 0x2C, 0x25, 0x00, 0x00, 0x20, 0x00}; /* jmp far [PTR] */
    load(&h, CODE, code, sizeof code);
    cpu_harness_poke32(&h, PTR, C32);
    cpu_harness_poke32(&h, PTR + 4, SEL_C32);
    static const uint8_t c32[] = {
        0xB8, 0x44, 0x33, 0x22, 0x11,                  /* mov eax, 0x11223344 */
        0xEA, 0x00, 0x20, 0x10, 0x00, 0x08, 0x00,      /* jmp 0x08:B64 */
    };
    load(&h, C32, c32, sizeof c32);
    static const uint8_t b64[] = {0x48, 0xFF, 0xC0, 0xF4}; /* inc rax; hlt */
    load(&h, B64, b64, sizeof b64);

    ck_assert_int_eq(run_from(&h, CODE, 2), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, SEL_C32);
    ck_assert_uint_eq(c->rip, C32 + 5);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x11223345);
    ck_assert_uint_eq(c->rip, B64 + 4);
    cpu_harness_free(&h);
}
END_TEST

/* REX.W jmp far [PTR] reads an 8-byte offset, then the selector (m16:64). */
START_TEST(far_jmp_m16_64)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {0x48, 0xFF, 0x2C, 0x25, 0x00, 0x00, 0x20, 0x00};
    load(&h, CODE, code, sizeof code);
    cpu_harness_poke64(&h, PTR, B64);
    cpu_harness_poke32(&h, PTR + 8, 0x08);
    static const uint8_t b64[] = {0xF4};
    load(&h, B64, b64, sizeof b64);
    ck_assert_int_eq(run_from(&h, CODE, 10), CPU_STOP_HALT);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(c->rip, B64 + 1);
    cpu_harness_free(&h);
}
END_TEST

/* call far [PTR] (m16:32) pushes CS and EIP as 4-byte slots on the 64-bit
 * stack; the 32-bit code's RETF pops them through SS:ESP and returns to
 * 64-bit mode. */
START_TEST(far_call_to_compat_and_retf_back)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {
        0xFF, 0x1C, 0x25, 0x00, 0x00, 0x20, 0x00, /* call far [PTR] */
        0x48, 0xFF, 0xC0,                         /* inc rax */
        0xF4,
    };
    load(&h, CODE, code, sizeof code);
    cpu_harness_poke32(&h, PTR, C32);
    cpu_harness_poke32(&h, PTR + 4, SEL_C32);
    static const uint8_t c32[] = {0xB8, 0x10, 0, 0, 0, 0xCB}; /* mov eax, 16; retf */
    load(&h, C32, c32, sizeof c32);

    ck_assert_int_eq(run_from(&h, CODE, 1), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK - 8);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 4), 0x08);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 8), CODE + 7);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 17);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
    ck_assert_uint_eq(c->rip, CODE + 11);
    cpu_harness_free(&h);
}
END_TEST

/* RETFQ (REX.W CB) from 64-bit code into compatibility mode pops 8-byte
 * slots; RETF imm16 (CA) in compatibility mode releases the parameters
 * (its immediate is part of the instruction). */
START_TEST(retfq_to_compat_and_retf_imm)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {
        0x6A, SEL_C32,                  /* push 0x28 */
        0x68, 0x00, 0x10, 0x10, 0x00,   /* push C32 */
        0x48, 0xCB,                     /* retfq */
    };
    load(&h, CODE, code, sizeof code);
    static const uint8_t c32[] = {
        0x6A, 0x08,                     /* push 0x08: the outer return */
        0x68, 0x00, 0x20, 0x10, 0x00,   /* push B64 */
        0x6A, 0x55, 0x6A, 0x66,         /* two parameters */
        0x0E,                           /* push cs */
        0x68, 0x16, 0x10, 0x10, 0x00,   /* push C32 + 22 */
        0xCA, 0x08, 0x00,               /* retf 8: to C32 + 22, releasing the parameters */
        0xF4, 0xF4,                     /* C32 + 20: not reached */
        0xCB,                           /* C32 + 22: retf to 0x08:B64 */
    };
    load(&h, C32, c32, sizeof c32);
    static const uint8_t b64[] = {0xF4};
    load(&h, B64, b64, sizeof b64);

    ck_assert_int_eq(run_from(&h, CODE, 3), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->rip, C32);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
    ck_assert_int_eq(run_from(&h, C32, 7), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->rip, C32 + 22);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK - 8);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
    ck_assert_uint_eq(c->rip, B64 + 1);
    cpu_harness_free(&h);
}
END_TEST

/* IRETQ from 64-bit code to a 32-bit code segment (SDM Vol. 2 "IRET":
 * IA-32e-MODE-RETURN, the new EIP checked against the CS limit); the
 * 32-bit code's INT 0x40 goes through the 64-bit IDT to a 64-bit handler
 * with an 8-byte frame holding the compatibility-mode CS:EIP and SS:ESP;
 * the handler's IRETQ returns into compatibility mode after the INT. */
START_TEST(iretq_to_compat_and_interrupt_back)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {
        0x6A, SEL_D32,                  /* push ss */
        0x68, 0x00, 0xF0, 0x07, 0x00,   /* push rsp value 0x7F000 */
        0x9C,                           /* pushfq */
        0x6A, SEL_C32,                  /* push cs */
        0x68, 0x00, 0x10, 0x10, 0x00,   /* push C32 */
        0x48, 0xCF,                     /* iretq */
    };
    load(&h, CODE, code, sizeof code);
    static const uint8_t c32[] = {
        0xB8, 0x07, 0, 0, 0,            /* mov eax, 7 */
        0xCD, 0x40,                     /* int 0x40 */
        0x40,                           /* inc eax */
        0xF4,
    };
    load(&h, C32, c32, sizeof c32);
    static const uint8_t iretq[] = {0x48, 0xCF};
    load(&h, B64, iretq, sizeof iretq);

    ck_assert_int_eq(run_from(&h, CODE, 6), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->rip, C32);
    ck_assert_uint_eq(c->gpr[CPU_RSP], 0x7F000);
    ck_assert_uint_eq(c->seg[CPU_SS].sel, SEL_D32);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x40);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    uint64_t sp = c->gpr[CPU_RSP];
    ck_assert_uint_eq(sp, 0x7F000 - 40);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp), C32 + 7);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 8), SEL_C32);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 24), 0x7F000);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 32), SEL_D32);
    ck_assert_int_eq(run_from(&h, B64, 10), CPU_STOP_HALT);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 8);
    ck_assert_uint_eq(c->rip, C32 + 9);
    ck_assert_uint_eq(c->gpr[CPU_RSP], 0x7F000);
    cpu_harness_free(&h);
}
END_TEST

/* IRETD in compatibility mode at the same privilege level pops EIP, CS and
 * EFLAGS only (SDM Vol. 3A 6.14.3): ESP moves by 12, not 20. */
START_TEST(iretd_in_compat_same_level_pops_three)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    cpu_set_segment(c, CPU_CS, SEL_C32, 0, 0xFFFFFFFF, 0xC9B);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    static const uint8_t c32[] = {
        0x9C,                           /* pushfd */
        0x0E,                           /* push cs */
        0x68, 0x09, 0x10, 0x10, 0x00,   /* push C32 + 9 */
        0xCF,                           /* iretd */
        0xF4,                           /* C32 + 8: not reached */
        0xF4,                           /* C32 + 9 */
    };
    load(&h, C32, c32, sizeof c32);
    ck_assert_int_eq(run_from(&h, C32, 10), CPU_STOP_HALT);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->rip, C32 + 10);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
    cpu_harness_free(&h);
}
END_TEST

/* A 16-bit code segment in IA-32e mode (compatibility mode, CS.D = 0):
 * 16-bit default operand size, its CS base; INT from it goes to the 64-bit
 * handler with CS = the 16-bit selector and RIP = the 16-bit offset. */
START_TEST(compat16_runs_and_interrupts)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {0xFF, 0x2C, 0x25, 0x00, 0x00, 0x20, 0x00}; /* jmp far [PTR] */
    load(&h, CODE, code, sizeof code);
    cpu_harness_poke32(&h, PTR, 0x10);
    cpu_harness_poke32(&h, PTR + 4, SEL_C16);
    static const uint8_t c16[] = {
        0xB8, 0x34, 0x12,               /* mov ax, 0x1234 (16-bit immediate) */
        0x05, 0x01, 0x00,               /* add ax, 1 */
        0xCD, 0x41,                     /* int 0x41 */
    };
    load(&h, C16_BASE + 0x10, c16, sizeof c16);
    c->gpr[CPU_RAX] = 0xAAAA0000;
    ck_assert_int_eq(run_from(&h, CODE, 1), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT16);
    ck_assert_ptr_null(cpu_unexecuted_reason(c));
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x41);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xAAAA1235);
    uint64_t sp = c->gpr[CPU_RSP];
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp), 0x18);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 8), SEL_C16);
    cpu_harness_free(&h);
}
END_TEST

/* IRETQ faults, changing nothing: a null SS going back to compatibility
 * mode is #GP(0) (SDM Vol. 2 "IRET", IA-32e-MODE-RETURN); an EIP beyond
 * the 16-bit segment's limit is #GP(0). */
static void iretq_fault(uint16_t cs, uint32_t rip, uint16_t ss)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    uint8_t code[] = {
        0x6A, (uint8_t)ss,
        0x68, 0x00, 0xF0, 0x07, 0x00,
        0x9C,
        0x6A, (uint8_t)cs,
        0x68, (uint8_t)rip, (uint8_t)(rip >> 8), (uint8_t)(rip >> 16), (uint8_t)(rip >> 24),
        0x48, 0xCF,
    };
    load(&h, CODE, code, sizeof code);
    ck_assert_int_eq(run_from(&h, CODE, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(cpu_harness_peek64(&h, c->gpr[CPU_RSP]), 0); /* error code */
    ck_assert_uint_eq(cpu_harness_peek64(&h, c->gpr[CPU_RSP] + 8), CODE + 15);
    cpu_harness_free(&h);
}

START_TEST(iretq_to_compat_faults)
{
    iretq_fault(SEL_C32, C32, 0);            /* null SS to compatibility mode */
    iretq_fault(SEL_C16, 0x10000, SEL_D32);  /* beyond the 16-bit limit */
}
END_TEST

/* Privilege changes in and out of compatibility mode: IRETQ from CPL 0
 * 64-bit code to CPL 3 32-bit code (SS:ESP popped and loaded, SDM Vol. 2
 * "IRET" RETURN-TO-OUTER-PRIVILEGE-LEVEL); there INT 0x40 through a DPL 0
 * gate is #GP(0x40 * 8 + 2), delivered to the CPL 0 64-bit handler on the
 * TSS's RSP0 with a null SS and the 8-byte frame of the CPL 3
 * compatibility-mode state (SDM 6.14.2, 6.14.4); the handler's IRETQ goes
 * back to CPL 3 compatibility mode. */
#define SEL_C32U 0x3B /* 32-bit code, DPL 3 */
#define SEL_D32U 0x43 /* 32-bit data, DPL 3 */
#define TSS64 0x104000u
#define RSP0 0x90008u

START_TEST(privilege_change_from_compat_to_64bit_handler)
{
    cpu_harness h;
    setup(&h);
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, 0x500 + (SEL_C32U & ~3u), desc(0, 0xFFFFF, 0xFA, 0xC));
    cpu_harness_poke64(&h, 0x500 + (SEL_D32U & ~3u), desc(0, 0xFFFFF, 0xF2, 0xC));
    c->gdtr.limit = 0x47;
    cpu_harness_poke64(&h, TSS64 + 4, RSP0);
    c->tr = (cpu_seg){.sel = 0x48, .attr = 0x8B, .limit = 0x67, .base = TSS64};
    static const uint8_t code[] = {
        0x6A, SEL_D32U,                 /* push ss */
        0x68, 0x00, 0xF0, 0x07, 0x00,   /* push rsp value 0x7F000 */
        0x6A, 0x02,                     /* push rflags: 2 */
        0x6A, SEL_C32U,                 /* push cs */
        0x68, 0x00, 0x10, 0x10, 0x00,   /* push C32 */
        0x48, 0xCF,                     /* iretq */
    };
    load(&h, CODE, code, sizeof code);
    static const uint8_t user[] = {
        0xB8, 0x05, 0, 0, 0,            /* mov eax, 5 */
        0xCD, 0x40,                     /* int 0x40: #GP, the gate's DPL is 0 */
        0xF4,                           /* not reached */
    };
    load(&h, C32, user, sizeof user);
    static const uint8_t handler[] = {
        0x48, 0x83, 0xC4, 0x08,         /* add rsp, 8: the error code */
        0xC7, 0x04, 0x24, 0x07, 0x10, 0x10, 0x00, /* mov dword [rsp], C32 + 7 */
        0x48, 0xCF,                     /* iretq */
    };
    load(&h, B64, handler, sizeof handler);
    static const uint8_t user_tail[] = {0x40, 0xEB, 0xFE}; /* C32 + 7: inc eax; jmp $ */
    load(&h, C32 + 7, user_tail, sizeof user_tail);

    ck_assert_int_eq(run_from(&h, CODE, 6), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->cpl, 3);
    ck_assert_uint_eq(c->seg[CPU_SS].sel, SEL_D32U);
    ck_assert_uint_eq(c->gpr[CPU_RSP], 0x7F000);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(c->cpl, 0);
    ck_assert_uint_eq(c->seg[CPU_SS].sel, 0); /* null SS at CPL 0 */
    uint64_t sp = c->gpr[CPU_RSP];
    ck_assert_uint_eq(sp, (RSP0 & ~0xFull) - 48);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp), 0x40 * 8 + 2); /* IDT, not EXT */
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 8), C32 + 5);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 16), SEL_C32U);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 32), 0x7F000);
    ck_assert_uint_eq(cpu_harness_peek64(&h, sp + 40), SEL_D32U);
    ck_assert_int_eq(run_from(&h, B64, 5), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_eq(c->cpl, 3);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, SEL_C32U);
    ck_assert_uint_eq(c->seg[CPU_SS].sel, SEL_D32U);
    ck_assert_uint_eq(c->gpr[CPU_RSP], 0x7F000);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 6);
    ck_assert_uint_eq(c->rip, C32 + 8);
    cpu_harness_free(&h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("compat");
    TCase *t = tcase_create("compat");
    tcase_add_test(t, far_jmp_m16_32_to_compat_and_back);
    tcase_add_test(t, far_jmp_m16_64);
    tcase_add_test(t, far_call_to_compat_and_retf_back);
    tcase_add_test(t, retfq_to_compat_and_retf_imm);
    tcase_add_test(t, iretq_to_compat_and_interrupt_back);
    tcase_add_test(t, iretd_in_compat_same_level_pops_three);
    tcase_add_test(t, compat16_runs_and_interrupts);
    tcase_add_test(t, iretq_to_compat_faults);
    tcase_add_test(t, privilege_change_from_compat_to_64bit_handler);
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
