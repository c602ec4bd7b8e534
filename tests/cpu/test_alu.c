/*
 * test_alu.c — unit tests of the arithmetic and logic family (cpu_alu.c):
 * ADD..CMP in their forms, TEST, INC/DEC, NOT/NEG, MUL/IMUL, DIV/IDIV with
 * #DE, CBW/CWD, LOCK rules and byte-register encodings. Expected values are
 * worked out by hand from the SDM instruction pages.
 */
#include <check.h>

#include "cpu/cpu.h"
#include "cpu/cpu_internal.h" /* CPU_LF_NONE: the lazy state itself */
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

/* Runs code (one instruction unless n says more) from a fresh RIP. */
static void run(const uint8_t *code, size_t len, uint64_t n)
{
    h.cpu.halted = 0;
    cpu_harness_exec(&h, code, len, n);
}
#define RUN(...)                                                \
    do {                                                        \
        static const uint8_t code_[] = {__VA_ARGS__};           \
        run(code_, sizeof(code_), 1);                           \
    } while (0)

static uint64_t flags(void)
{
    return cpu_get_rflags(&h.cpu) & ARITH;
}

static uint64_t *gpr(void)
{
    return h.cpu.gpr;
}

static void set_flags(uint64_t f)
{
    cpu_set_rflags(&h.cpu, f | 2);
}

static void poke64(uint64_t pa, uint64_t v)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &v, 8));
}

/* The instruction completed: RIP is past it. */
static void assert_retired(size_t len)
{
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + len);
}

/* Exception v was delivered with the saved RIP at the faulting instruction
 * (above the error code for #PF). */
static void assert_fault(int v)
{
    uint64_t rip_slot = h.cpu.gpr[CPU_RSP] + (v == CPU_EXC_PF ? 8 : 0);
    ck_assert_int_eq(cpu_harness_vector(&h), v);
    ck_assert_uint_eq(cpu_harness_peek64(&h, rip_slot), CPU_HARNESS_CODE);
}

/* Peeking at RFLAGS gives what reading it gives, and leaves the lazy
 * state as it was (observers never change the CPU). */
START_TEST(peek_rflags_reads_without_folding)
{
    gpr()[CPU_RAX] = 0x7F;
    RUN(0x04, 0x01); /* add al, 1: OF, SF, AF set lazily */
    ck_assert_uint_ne(h.cpu.lf_op, CPU_LF_NONE);
    unsigned lazy = h.cpu.lf_op;
    uint64_t peeked = cpu_peek_rflags(&h.cpu);
    ck_assert_uint_eq(h.cpu.lf_op, lazy);
    ck_assert_uint_eq(peeked, cpu_get_rflags(&h.cpu));
    ck_assert_uint_eq(peeked & ARITH, CPU_FL_OF | CPU_FL_SF | CPU_FL_AF);
}
END_TEST

START_TEST(add_overflow_and_zero_extension)
{
    gpr()[CPU_RAX] = 0xFFFFFFFF7FFFFFFFull;
    gpr()[CPU_RCX] = 1;
    RUN(0x01, 0xC8); /* add eax, ecx */
    assert_retired(2);
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x80000000ull); /* 32-bit write zero-extends */
    ck_assert_uint_eq(flags(), OF | SF | AF | PF);
}
END_TEST

START_TEST(add_carry_byte_merges)
{
    gpr()[CPU_RAX] = 0x1234567801ull;
    RUN(0x04, 0xFF); /* add al, 0xff */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x1234567800ull);
    ck_assert_uint_eq(flags(), CF | ZF | AF | PF);
}
END_TEST

START_TEST(adc_sbb_carry_in)
{
    gpr()[CPU_RAX] = ~0ull;
    gpr()[CPU_RCX] = 0;
    set_flags(CF);
    RUN(0x48, 0x11, 0xC8); /* adc rax, rcx */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0);
    ck_assert_uint_eq(flags(), CF | ZF | AF | PF);

    gpr()[CPU_RAX] = 0;
    set_flags(CF);
    RUN(0x48, 0x19, 0xC8); /* sbb rax, rcx */
    ck_assert_uint_eq(gpr()[CPU_RAX], ~0ull);
    ck_assert_uint_eq(flags(), CF | SF | AF | PF);

    /* without carry-in, SBB is SUB: 5 - 3 = 2 */
    gpr()[CPU_RAX] = 5;
    gpr()[CPU_RCX] = 3;
    set_flags(0);
    RUN(0x19, 0xC8); /* sbb eax, ecx */
    ck_assert_uint_eq(gpr()[CPU_RAX], 2);
    ck_assert_uint_eq(flags(), 0);
}
END_TEST

START_TEST(cmp_sets_flags_only)
{
    gpr()[CPU_RAX] = 1;
    gpr()[CPU_RCX] = 2;
    RUN(0x48, 0x39, 0xC8); /* cmp rax, rcx */
    ck_assert_uint_eq(gpr()[CPU_RAX], 1);
    ck_assert_uint_eq(flags(), CF | SF | AF | PF);

    /* 81 /7 with a sign-extended imm32: cmp rcx, 0xffffffff80000000 */
    gpr()[CPU_RCX] = 0xFFFFFFFF80000000ull;
    RUN(0x48, 0x81, 0xF9, 0x00, 0x00, 0x00, 0x80);
    assert_retired(7);
    ck_assert_uint_eq(flags(), ZF | PF);
}
END_TEST

START_TEST(logic_ops)
{
    gpr()[CPU_RAX] = ~0ull;
    set_flags(CF | OF);
    RUN(0x31, 0xC0); /* xor eax, eax */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0);
    ck_assert_uint_eq(flags() & ~AF, ZF | PF);

    gpr()[CPU_RDX] = 0xF0;
    RUN(0x80, 0xCA, 0x0F); /* or dl, 0x0f */
    ck_assert_uint_eq(gpr()[CPU_RDX], 0xFF);
    ck_assert_uint_eq(flags() & ~AF, SF | PF);

    gpr()[CPU_RDX] = 0x8000000000000001ull;
    RUN(0x48, 0x83, 0xE2, 0xFE); /* and rdx, -2 */
    ck_assert_uint_eq(gpr()[CPU_RDX], 0x8000000000000000ull);
    ck_assert_uint_eq(flags() & ~AF, SF | PF);
}
END_TEST

START_TEST(add_sign_extended_imm8)
{
    gpr()[CPU_RAX] = 0;
    RUN(0x48, 0x83, 0xC0, 0xFF); /* add rax, -1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], ~0ull);
    ck_assert_uint_eq(flags(), SF | PF);
    /* 16-bit: add ax, 0x8000 (66 05 iw) keeps the upper bits */
    gpr()[CPU_RAX] = 0xAAAA0000ull;
    RUN(0x66, 0x05, 0x00, 0x80);
    assert_retired(4);
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xAAAA8000ull);
}
END_TEST

START_TEST(memory_forms)
{
    poke64(DATA, 0x00000000FFFFFFFFull);
    gpr()[CPU_RBX] = DATA;
    gpr()[CPU_RCX] = 1;
    RUN(0x01, 0x0B); /* add [rbx], ecx */
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 0);
    ck_assert_uint_eq(flags(), CF | ZF | AF | PF);

    poke64(DATA, 40);
    gpr()[CPU_RCX] = 2;
    RUN(0x48, 0x2B, 0x0B); /* sub rcx, [rbx] */
    ck_assert_uint_eq(gpr()[CPU_RCX], (uint64_t)-38);
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 40);

    RUN(0x83, 0x2B, 0x05); /* sub dword [rbx], 5 */
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 35);

    RUN(0x83, 0x3B, 0x23); /* cmp dword [rbx], 0x23 */
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 35);
    ck_assert_uint_eq(flags(), ZF | PF);

    /* RIP-relative: xor [rip + 0x1000], eax addresses the next RIP + 0x1000 */
    uint64_t target = CPU_HARNESS_CODE + 6 + 0x1000;
    poke64(target, 0xFF00FF00FF00FF00ull);
    gpr()[CPU_RAX] = 0xFFFFFFFF0F0F0F0Full;
    RUN(0x31, 0x05, 0x00, 0x10, 0x00, 0x00);
    assert_retired(6);
    ck_assert_uint_eq(cpu_harness_peek64(&h, target), 0xFF00FF00F00FF00Full);
}
END_TEST

START_TEST(lock_rules)
{
    poke64(DATA, 10);
    gpr()[CPU_RBX] = DATA;
    gpr()[CPU_RCX] = 5;
    RUN(0xF0, 0x01, 0x0B); /* lock add [rbx], ecx */
    assert_retired(3);
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 15);

    RUN(0xF0, 0xF7, 0x1B); /* lock neg dword [rbx] */
    assert_retired(3);
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 0xFFFFFFF1ull);

    RUN(0xF0, 0x01, 0xC8); /* lock add eax, ecx: register destination */
    assert_fault(CPU_EXC_UD);
}
END_TEST

START_TEST(lock_cmp_is_ud)
{
    gpr()[CPU_RBX] = DATA;
    RUN(0xF0, 0x39, 0x0B); /* lock cmp [rbx], ecx */
    assert_fault(CPU_EXC_UD);
}
END_TEST

START_TEST(lock_test_is_ud)
{
    gpr()[CPU_RBX] = DATA;
    RUN(0xF0, 0xF7, 0x03, 1, 0, 0, 0); /* lock test dword [rbx], 1 */
    assert_fault(CPU_EXC_UD);
}
END_TEST

START_TEST(opcode_82_is_ud_in_64bit)
{
    gpr()[CPU_RAX] = 7;
    RUN(0x82, 0xC0, 0x01); /* add al, 1 through the 82 alias */
    assert_fault(CPU_EXC_UD);
    ck_assert_uint_eq(gpr()[CPU_RAX], 7);
}
END_TEST

START_TEST(grp4_invalid_digit_is_ud)
{
    RUN(0xFE, 0xD0); /* FE /2 */
    assert_fault(CPU_EXC_UD);
}
END_TEST

START_TEST(byte_registers_high_vs_rex)
{
    gpr()[CPU_RDX] = 0x1100;
    gpr()[CPU_RBX] = 0x2200;
    gpr()[CPU_RSI] = 0x33;
    gpr()[CPU_RDI] = 0x44;
    RUN(0x00, 0xFE); /* add dh, bh */
    ck_assert_uint_eq(gpr()[CPU_RDX], 0x3300);
    ck_assert_uint_eq(gpr()[CPU_RSI], 0x33);
    RUN(0x40, 0x00, 0xFE); /* add sil, dil */
    ck_assert_uint_eq(gpr()[CPU_RSI], 0x77);
    ck_assert_uint_eq(gpr()[CPU_RDX], 0x3300);
    ck_assert_uint_eq(gpr()[CPU_RBX], 0x2200);
}
END_TEST

START_TEST(test_instruction)
{
    gpr()[CPU_RAX] = 0xF0;
    gpr()[CPU_RCX] = 0x0F;
    RUN(0x85, 0xC8); /* test eax, ecx */
    ck_assert_uint_eq(flags() & ~AF, ZF | PF);
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xF0);
    RUN(0xA8, 0x80); /* test al, 0x80 */
    ck_assert_uint_eq(flags() & ~AF, SF);
    RUN(0xF7, 0xC9, 0x00, 0x00, 0x00, 0x00); /* test ecx, 0 (the /1 alias) */
    assert_retired(6);
    ck_assert_uint_eq(flags() & ~AF, ZF | PF);
}
END_TEST

START_TEST(inc_dec_keep_cf)
{
    gpr()[CPU_RAX] = 0x7FFFFFFF;
    set_flags(CF);
    RUN(0xFF, 0xC0); /* inc eax */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x80000000ull);
    ck_assert_uint_eq(flags(), CF | OF | SF | AF | PF);

    gpr()[CPU_RCX] = 0x100;
    set_flags(0);
    RUN(0xFE, 0xC9); /* dec cl */
    ck_assert_uint_eq(gpr()[CPU_RCX], 0x1FF);
    ck_assert_uint_eq(flags(), SF | AF | PF);

    /* CF from a preceding lazy SUB survives INC: sub eax, ecx (borrow); inc eax */
    static const uint8_t seq[] = {0x29, 0xC8, 0xFF, 0xC0};
    gpr()[CPU_RAX] = 0;
    gpr()[CPU_RCX] = 1;
    run(seq, sizeof(seq), 2);
    ck_assert_uint_eq(gpr()[CPU_RAX], 0);
    ck_assert_uint_eq(flags(), CF | ZF | AF | PF);

    poke64(DATA, 0);
    gpr()[CPU_RBX] = DATA;
    RUN(0x48, 0xFF, 0x0B); /* dec qword [rbx] */
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), ~0ull);
}
END_TEST

START_TEST(neg_not)
{
    gpr()[CPU_RAX] = 0;
    RUN(0xF7, 0xD8); /* neg eax */
    ck_assert_uint_eq(flags(), ZF | PF);
    gpr()[CPU_RAX] = 0x80000000;
    RUN(0xF7, 0xD8);
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x80000000);
    ck_assert_uint_eq(flags(), CF | OF | SF | PF);
    gpr()[CPU_RAX] = 1;
    RUN(0x48, 0xF7, 0xD8); /* neg rax */
    ck_assert_uint_eq(gpr()[CPU_RAX], ~0ull);
    ck_assert_uint_eq(flags(), CF | SF | AF | PF);

    gpr()[CPU_RAX] = 0x1234;
    set_flags(CF | ZF);
    RUN(0xF6, 0xD0); /* not al */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x12CB);
    ck_assert_uint_eq(flags(), CF | ZF); /* NOT changes no flag */
}
END_TEST

START_TEST(mul_forms)
{
    gpr()[CPU_RAX] = 0x80000000;
    gpr()[CPU_RCX] = 4;
    gpr()[CPU_RDX] = ~0ull;
    RUN(0xF7, 0xE1); /* mul ecx */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0);
    ck_assert_uint_eq(gpr()[CPU_RDX], 2);
    ck_assert_uint_eq(flags() & (CF | OF), CF | OF);

    gpr()[CPU_RAX] = 0xAB10;
    gpr()[CPU_RCX] = 0x10;
    gpr()[CPU_RDX] = 0x55;
    RUN(0xF6, 0xE1); /* mul cl: AX = AL * CL */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x100);
    ck_assert_uint_eq(gpr()[CPU_RDX], 0x55);
    ck_assert_uint_eq(flags() & (CF | OF), CF | OF);

    gpr()[CPU_RAX] = ~0ull;
    gpr()[CPU_RCX] = ~0ull;
    RUN(0x48, 0xF7, 0xE1); /* mul rcx */
    ck_assert_uint_eq(gpr()[CPU_RAX], 1);
    ck_assert_uint_eq(gpr()[CPU_RDX], ~0ull - 1);

    gpr()[CPU_RAX] = 3;
    gpr()[CPU_RCX] = 5;
    RUN(0x66, 0xF7, 0xE1); /* mul cx: no overflow */
    ck_assert_uint_eq(gpr()[CPU_RAX], 15);
    ck_assert_uint_eq(gpr()[CPU_RDX] & 0xFFFF, 0);
    ck_assert_uint_eq(flags() & (CF | OF), 0);
}
END_TEST

START_TEST(imul_forms)
{
    gpr()[CPU_RAX] = 0xFFFFFFFE; /* -2 */
    gpr()[CPU_RCX] = 3;
    RUN(0xF7, 0xE9); /* imul ecx */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFFFFFFFA);
    ck_assert_uint_eq(gpr()[CPU_RDX], 0xFFFFFFFF);
    ck_assert_uint_eq(flags() & (CF | OF), 0);

    gpr()[CPU_RAX] = 0x10000;
    gpr()[CPU_RCX] = 0x10000;
    RUN(0x0F, 0xAF, 0xC1); /* imul eax, ecx */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0);
    ck_assert_uint_eq(flags() & (CF | OF), CF | OF);

    gpr()[CPU_RCX] = 7;
    RUN(0x48, 0x6B, 0xC1, 0xFF); /* imul rax, rcx, -1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], (uint64_t)-7);
    ck_assert_uint_eq(flags() & (CF | OF), 0);

    gpr()[CPU_RCX] = 0x4000;
    RUN(0x66, 0x69, 0xC1, 0x02, 0x00); /* imul ax, cx, 2: 0x8000 overflows */
    assert_retired(5);
    ck_assert_uint_eq(gpr()[CPU_RAX] & 0xFFFF, 0x8000);
    ck_assert_uint_eq(flags() & (CF | OF), CF | OF);

    gpr()[CPU_RAX] = 0x80; /* AL = -128 */
    gpr()[CPU_RBX] = 0xFF; /* BL = -1 */
    RUN(0xF6, 0xEB);       /* imul bl: AX = 128 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x0080);
    ck_assert_uint_eq(flags() & (CF | OF), CF | OF);
}
END_TEST

START_TEST(div_forms)
{
    gpr()[CPU_RDX] = 1;
    gpr()[CPU_RAX] = 0;
    gpr()[CPU_RCX] = 2;
    RUN(0xF7, 0xF1); /* div ecx: 0x100000000 / 2 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x80000000);
    ck_assert_uint_eq(gpr()[CPU_RDX], 0);

    gpr()[CPU_RAX] = 1003;
    gpr()[CPU_RCX] = 10;
    RUN(0xF6, 0xF1); /* div cl: AX / CL → AL = 100, AH = 3 */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x0364);

    gpr()[CPU_RAX] = (uint64_t)-7;
    gpr()[CPU_RDX] = ~0ull;
    gpr()[CPU_RCX] = 2;
    RUN(0x48, 0xF7, 0xF9); /* idiv rcx: -7 / 2 = -3 rem -1 */
    ck_assert_uint_eq(gpr()[CPU_RAX], (uint64_t)-3);
    ck_assert_uint_eq(gpr()[CPU_RDX], (uint64_t)-1);

    gpr()[CPU_RAX] = 0x0080; /* AX = 128 */
    gpr()[CPU_RCX] = 0xFF;   /* CL = -1 */
    RUN(0xF6, 0xF9);         /* idiv cl: quotient -128 fits */
    assert_retired(2);
    ck_assert_uint_eq(gpr()[CPU_RAX], 0x0080);

    gpr()[CPU_RDX] = 0;
    gpr()[CPU_RAX] = 100;
    poke64(DATA, 7);
    gpr()[CPU_RBX] = DATA;
    RUN(0x48, 0xF7, 0x33); /* div qword [rbx] */
    ck_assert_uint_eq(gpr()[CPU_RAX], 14);
    ck_assert_uint_eq(gpr()[CPU_RDX], 2);
}
END_TEST

/* #DE leaves every register as it was and reports the DIV's own RIP. */
static void check_de(const uint8_t *code, size_t len, uint64_t rax, uint64_t rdx, uint64_t rcx)
{
    gpr()[CPU_RAX] = rax;
    gpr()[CPU_RDX] = rdx;
    gpr()[CPU_RCX] = rcx;
    set_flags(CF | ZF);
    run(code, len, 1);
    assert_fault(CPU_EXC_DE);
    ck_assert_uint_eq(gpr()[CPU_RAX], rax);
    ck_assert_uint_eq(gpr()[CPU_RDX], rdx);
    ck_assert_uint_eq(gpr()[CPU_RCX], rcx);
}

START_TEST(divide_errors)
{
    static const uint8_t div_ecx[] = {0xF7, 0xF1};
    static const uint8_t idiv_rcx[] = {0x48, 0xF7, 0xF9};
    static const uint8_t idiv_cl[] = {0xF6, 0xF9};
    static const uint8_t div_cx[] = {0x66, 0xF7, 0xF1};
    check_de(div_ecx, sizeof(div_ecx), 5, 0, 0);                  /* by zero */
    check_de(div_ecx, sizeof(div_ecx), 0, 2, 2);                  /* quotient 2^32 */
    check_de(idiv_rcx, sizeof(idiv_rcx), 1ull << 63, ~0ull, ~0ull); /* INT64_MIN / -1 */
    check_de(idiv_cl, sizeof(idiv_cl), 0xFF80, 0, 0xFF);          /* -128 / -1 */
    check_de(div_cx, sizeof(div_cx), 0, 0xFFFF, 0xFFFF);          /* 0xFFFF0000 / 0xFFFF */
    check_de(idiv_rcx, sizeof(idiv_rcx), 0, 0, 0);                /* signed by zero */
}
END_TEST

START_TEST(cbw_cwd_families)
{
    gpr()[CPU_RAX] = 0x1280;
    RUN(0x66, 0x98); /* cbw */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFF80);
    gpr()[CPU_RAX] = 0xFFFFFFFF00008000ull;
    RUN(0x98); /* cwde: 32-bit write zero-extends */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFFFF8000ull);
    RUN(0x48, 0x98); /* cdqe */
    ck_assert_uint_eq(gpr()[CPU_RAX], 0xFFFFFFFFFFFF8000ull);

    gpr()[CPU_RDX] = 0x123456789ull;
    gpr()[CPU_RAX] = 0x80000000;
    RUN(0x99); /* cdq */
    ck_assert_uint_eq(gpr()[CPU_RDX], 0xFFFFFFFF);
    gpr()[CPU_RAX] = 0x7FFFFFFFFFFFFFFFull;
    RUN(0x48, 0x99); /* cqo */
    ck_assert_uint_eq(gpr()[CPU_RDX], 0);
    gpr()[CPU_RDX] = 0xAAAA0000ull;
    gpr()[CPU_RAX] = 0x8000;
    RUN(0x66, 0x99); /* cwd */
    ck_assert_uint_eq(gpr()[CPU_RDX], 0xAAAAFFFFull);
}
END_TEST

/* A read-modify-write whose write faults makes no change: neither the
 * memory nor the flags (SDM Vol. 3A 6.5 "faults are restartable"). */
START_TEST(rmw_write_fault_changes_nothing)
{
    /* Make the 2 MiB page at DATA read-only (PD entry 1, R/W clear); CR0.WP
     * makes that binding at CPL 0. */
    poke64(0x4000 + 8, (1ull << 21) | 0x85);
    cpu_tlb_flush(&h.cpu);
    poke64(DATA, 10);
    gpr()[CPU_RBX] = DATA;
    gpr()[CPU_RCX] = 0xFFFFFFF6;
    set_flags(SF | OF);
    RUN(0x01, 0x0B); /* add [rbx], ecx: would give 0 with CF and ZF */
    assert_fault(CPU_EXC_PF);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_PF_P | CPU_PF_W);
    ck_assert_uint_eq(cpu_harness_peek64(&h, DATA), 10);
    ck_assert_uint_eq(flags(), SF | OF);
}
END_TEST

START_TEST(dec_jnz_loop)
{
    /* The ALU half of a DEC/JNZ loop: ZF is set exactly when the counter
     * reaches zero. */
    gpr()[CPU_RCX] = 3;
    for (int k = 2; k >= 0; k--) {
        RUN(0xFF, 0xC9); /* dec ecx */
        ck_assert_uint_eq(gpr()[CPU_RCX], (uint64_t)k);
        ck_assert_uint_eq((flags() & ZF) != 0, k == 0);
    }
}
END_TEST

static Suite *alu_suite(void)
{
    Suite *s = suite_create("cpu_alu");
    TCase *tc = tcase_create("alu");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, peek_rflags_reads_without_folding);
    tcase_add_test(tc, add_overflow_and_zero_extension);
    tcase_add_test(tc, add_carry_byte_merges);
    tcase_add_test(tc, adc_sbb_carry_in);
    tcase_add_test(tc, cmp_sets_flags_only);
    tcase_add_test(tc, logic_ops);
    tcase_add_test(tc, add_sign_extended_imm8);
    tcase_add_test(tc, memory_forms);
    tcase_add_test(tc, lock_rules);
    tcase_add_test(tc, lock_cmp_is_ud);
    tcase_add_test(tc, lock_test_is_ud);
    tcase_add_test(tc, opcode_82_is_ud_in_64bit);
    tcase_add_test(tc, grp4_invalid_digit_is_ud);
    tcase_add_test(tc, byte_registers_high_vs_rex);
    tcase_add_test(tc, test_instruction);
    tcase_add_test(tc, inc_dec_keep_cf);
    tcase_add_test(tc, neg_not);
    tcase_add_test(tc, mul_forms);
    tcase_add_test(tc, imul_forms);
    tcase_add_test(tc, div_forms);
    tcase_add_test(tc, divide_errors);
    tcase_add_test(tc, cbw_cwd_families);
    tcase_add_test(tc, rmw_write_fault_changes_nothing);
    tcase_add_test(tc, dec_jnz_loop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(alu_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
