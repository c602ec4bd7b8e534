/*
 * test_string.c — string instructions (SDM Vol. 2B MOVS, STOS, LODS, CMPS,
 * SCAS, INS, OUTS, REP/REPE/REPNE): counts of zero, both directions, the
 * REPE/REPNE stop conditions, 32-bit address size, a page fault in the
 * middle of a REP and its restart, cycle-budget interruption. INS, OUTS
 * and string instructions over MMIO are in test_string_io.c.
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_string_fixture.h"

START_TEST(rep_count_zero_does_nothing)
{
    /* rep movsb; rep stosq; repe cmpsb; 67 rep movsb */
    static const uint8_t forms[][4] = {
        {0xF3, 0xA4}, {0xF3, 0x48, 0xAB}, {0xF3, 0xA6}, {0x67, 0xF3, 0xA4}};
    static const uint8_t lens[] = {2, 3, 2, 3};
    for (unsigned f = 0; f < 4; f++) {
        cpu_t *c = &h.cpu;
        fill(SRC, 64, 1);
        memset(ram(DST, 64), 0xEE, 64);
        c->gpr[CPU_RSI] = SRC;
        c->gpr[CPU_RDI] = DST;
        /* With 67h only ECX counts: the upper half is not part of the
         * count; Intel still writes ECX (rep_count_zero_a32_intel). */
        c->gpr[CPU_RCX] = f == 3 ? 0xABCD000000000000ull : 0;
        c->gpr[CPU_RAX] = 0x1111111111111111ull;
        cpu_set_rflags(c, 2 | CPU_FL_ZF | CPU_FL_CF);
        uint64_t cyc = c->cycles;
        ck_assert_int_eq(run1(forms[f], lens[f]), CPU_STOP_INSNS);
        ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE + lens[f]);
        ck_assert_uint_eq(c->gpr[CPU_RSI], SRC);
        ck_assert_uint_eq(c->gpr[CPU_RDI], DST);
        ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
        ck_assert_uint_eq(cpu_get_rflags(c) & CPU_FL_ARITH, CPU_FL_ZF | CPU_FL_CF);
        ck_assert_uint_eq(ram(DST, 1)[0], 0xEE);
        ck_assert_uint_eq(c->cycles - cyc, h.costs.cost[CPU_COST_STRING]);
    }
}
END_TEST

/*
 * A repeated string instruction with a 32-bit address size (67h) and ECX =
 * 0 does no iteration, but an Intel processor still writes ECX and the
 * ESI/EDI the instruction uses: their bits 63:32 clear (AMD keeps them;
 * docs/cpu-model.md, "Where Intel and AMD differ"). With a 64-bit address
 * size and RCX = 0 nothing is written on either.
 */
START_TEST(rep_count_zero_a32_intel)
{
    static const struct {
        uint8_t code[4], len;
        bool rsi, rdi;
    } forms[] = {
        {{0x67, 0xF3, 0xA4}, 3, true, true},        /* rep movsb */
        {{0x67, 0xF3, 0x66, 0xA5}, 4, true, true},  /* rep movsw */
        {{0x67, 0xF3, 0x48, 0xAB}, 4, false, true}, /* rep stosq */
        {{0x67, 0xF3, 0xAC}, 3, true, false},       /* rep lodsb */
        {{0x67, 0xF3, 0x66, 0xA7}, 4, true, true},  /* repe cmpsw: the case seen on Intel */
        {{0x67, 0xF2, 0xA6}, 3, true, true},        /* repne cmpsb */
        {{0x67, 0xF3, 0xAF}, 3, false, true},       /* repe scasd */
        {{0x67, 0xF2, 0xAE}, 3, false, true},       /* repne scasb */
        {{0x67, 0xF3, 0x6C}, 3, false, true},       /* rep insb */
        {{0x67, 0xF3, 0x6E}, 3, true, false},       /* rep outsb */
    };
    const uint64_t hi = 0xABCD123400000000ull;
    cpu_t *c = &h.cpu;
    for (unsigned f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        for (unsigned a64 = 0; a64 < 2; a64++) {
            uint8_t code[4];
            memcpy(code, forms[f].code, 4);
            const uint8_t *insn = a64 ? code + 1 : code; /* without 67h */
            unsigned len = forms[f].len - a64;
            c->gpr[CPU_RSI] = (a64 ? 0 : hi) | SRC;
            c->gpr[CPU_RDI] = (a64 ? 0 : hi) | DST;
            c->gpr[CPU_RCX] = a64 ? 0 : hi;
            c->gpr[CPU_RDX] = 0x80; /* a port nobody answers: never reached */
            cpu_set_rflags(c, 2 | CPU_FL_ZF);
            ck_assert_int_eq(run1(insn, len), CPU_STOP_INSNS);
            ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE + len);
            uint64_t keep = a64 ? 0 : hi;
            ck_assert_msg(c->gpr[CPU_RCX] == 0, "form %u a64 %u: rcx %llx", f, a64,
                          (unsigned long long)c->gpr[CPU_RCX]);
            ck_assert_uint_eq(c->gpr[CPU_RSI], (forms[f].rsi ? 0 : keep) | SRC);
            ck_assert_uint_eq(c->gpr[CPU_RDI], (forms[f].rdi ? 0 : keep) | DST);
            ck_assert_uint_eq(cpu_get_rflags(c) & CPU_FL_ARITH, CPU_FL_ZF);
        }
    }
}
END_TEST

START_TEST(rep_movsb_forward_across_pages)
{
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0xF3, 0xA4}; /* rep movsb */
    const unsigned n = 3 * 4096 + 123;
    h.costs.cost[CPU_COST_STRING] = 3;
    fill(SRC + 5, n, 9);
    memset(ram(DST + 1, n + 2), 0, n + 2);
    c->gpr[CPU_RSI] = SRC + 5;
    c->gpr[CPU_RDI] = DST + 1;
    c->gpr[CPU_RCX] = n;
    uint64_t cyc = c->cycles;
    ck_assert_int_eq(run1(code, sizeof(code)), CPU_STOP_INSNS);
    ck_assert_mem_eq(ram(DST + 1, n), ram(SRC + 5, n), n);
    ck_assert_uint_eq(ram(DST, 1)[0], 0);
    ck_assert_uint_eq(ram(DST + 1 + n, 1)[0], 0);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 5 + n);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 1 + n);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
    /* One string-class charge per iteration. */
    ck_assert_uint_eq(c->cycles - cyc, 3ull * n);
}
END_TEST

START_TEST(rep_movs_backward)
{
    cpu_t *c = &h.cpu;
    const uint8_t movsb[] = {0xF3, 0xA4};       /* rep movsb */
    const uint8_t movsq[] = {0xF3, 0x48, 0xA5}; /* rep movsq */
    fill(SRC, 8192, 3);
    memset(ram(DST, 8192), 0, 8192);
    /* DF = 1: the last byte first, addresses going down. */
    cpu_set_rflags(c, 2 | CPU_FL_DF);
    c->gpr[CPU_RSI] = SRC + 4999;
    c->gpr[CPU_RDI] = DST + 4999;
    c->gpr[CPU_RCX] = 5000;
    run1(movsb, sizeof(movsb));
    ck_assert_mem_eq(ram(DST, 5000), ram(SRC, 5000), 5000);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC - 1);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST - 1);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
    ck_assert(cpu_get_rflags(c) & CPU_FL_DF);

    memset(ram(DST, 8192), 0, 8192);
    c->gpr[CPU_RSI] = SRC + 8 * 99;
    c->gpr[CPU_RDI] = DST + 8 * 99 + 4;
    c->gpr[CPU_RCX] = 100;
    run1(movsq, sizeof(movsq));
    ck_assert_mem_eq(ram(DST + 4, 800), ram(SRC, 800), 800);
    ck_assert_uint_eq(ram(DST + 3, 1)[0], 0);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC - 8);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST - 4);
}
END_TEST

START_TEST(rep_movsb_overlap_replicates)
{
    /* dst = src + 1 forward: the byte-by-byte definition copies src[0] into
     * every byte (a fill), which memmove would not. */
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0xF3, 0xA4};
    uint8_t *p = ram(SRC, 200);
    for (unsigned k = 0; k < 200; k++)
        p[k] = (uint8_t)k;
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RDI] = SRC + 1;
    c->gpr[CPU_RCX] = 150;
    run1(code, sizeof(code));
    for (unsigned k = 0; k <= 150; k++)
        ck_assert_uint_eq(p[k], 0);
    ck_assert_uint_eq(p[151], 151);
    /* movsq with an overlap of 3 bytes: each qword re-reads what the
     * previous one stored. */
    const uint8_t q[] = {0xF3, 0x48, 0xA5};
    for (unsigned k = 0; k < 200; k++)
        p[k] = (uint8_t)k;
    uint8_t ref[200];
    memcpy(ref, p, 200);
    for (unsigned e = 0; e < 20; e++)
        memmove(ref + 3 + e * 8, ref + e * 8, 8);
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RDI] = SRC + 3;
    c->gpr[CPU_RCX] = 20;
    run1(q, sizeof(q));
    ck_assert_mem_eq(p, ref, 200);
}
END_TEST

START_TEST(stos_lods_sizes)
{
    cpu_t *c = &h.cpu;
    const uint8_t stosw[] = {0x66, 0xAB}, stosd[] = {0xAB}, stosq[] = {0x48, 0xAB};
    const uint8_t lodsb[] = {0xAC}, lodsw[] = {0x66, 0xAD}, lodsd[] = {0xAD}, lodsq[] = {0x48, 0xAD};
    const uint8_t rep_stosq[] = {0xF3, 0x48, 0xAB}, rep_stosb[] = {0xF3, 0xAA};
    memset(ram(DST, 64), 0, 64);
    c->gpr[CPU_RAX] = 0x8877665544332211ull;
    c->gpr[CPU_RDI] = DST;
    run1(stosw, sizeof(stosw));
    run1(stosd, sizeof(stosd));
    run1(stosq, sizeof(stosq));
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 14);
    ck_assert_uint_eq(cpu_harness_peek64(&h, DST), 0x2211443322112211ull);
    ck_assert_uint_eq(cpu_harness_peek64(&h, DST + 6), 0x8877665544332211ull);

    c->gpr[CPU_RSI] = DST;
    c->gpr[CPU_RAX] = 0xFFFFFFFFFFFFFFFFull;
    run1(lodsb, sizeof(lodsb));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFFFFFFF11ull);
    run1(lodsw, sizeof(lodsw));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFFFFF1122ull);
    run1(lodsd, sizeof(lodsd)); /* a 32-bit load zero-extends */
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x11443322ull);
    c->gpr[CPU_RSI] = DST + 6;
    run1(lodsq, sizeof(lodsq));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x8877665544332211ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI], DST + 14);

    /* REP STOSQ over a page boundary, then REP STOSB backward. */
    c->gpr[CPU_RAX] = 0x0102030405060708ull;
    c->gpr[CPU_RDI] = DST + 4096 - 16;
    c->gpr[CPU_RCX] = 5;
    run1(rep_stosq, sizeof(rep_stosq));
    for (unsigned k = 0; k < 5; k++)
        ck_assert_uint_eq(cpu_harness_peek64(&h, DST + 4096 - 16 + 8 * k), 0x0102030405060708ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 4096 + 24);
    cpu_set_rflags(c, 2 | CPU_FL_DF);
    c->gpr[CPU_RAX] = 0xAB;
    c->gpr[CPU_RDI] = DST + 4096 + 23;
    c->gpr[CPU_RCX] = 10;
    run1(rep_stosb, sizeof(rep_stosb));
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 4096 + 13);
    ck_assert_uint_eq(ram(DST + 4096 + 14, 1)[0], 0xAB);
    ck_assert_uint_eq(ram(DST + 4096 + 23, 1)[0], 0xAB);
    ck_assert_uint_eq(ram(DST + 4096 + 13, 1)[0], 0x03); /* byte 5 of the qword at +4104 */
}
END_TEST

START_TEST(repe_cmpsb_stops_at_first_difference)
{
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0xF3, 0xA6}; /* repe cmpsb */
    fill(SRC, 100, 5);
    memcpy(ram(DST, 100), ram(SRC, 100), 100);
    ram(SRC, 100)[10] = 0x10;
    ram(DST, 100)[10] = 0x20;
    ram(DST, 100)[20] ^= 1;
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 100;
    run1(code, sizeof(code));
    ck_assert_uint_eq(c->gpr[CPU_RCX], 100 - 11);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 11);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 11);
    uint64_t f = cpu_get_rflags(c);
    ck_assert(!(f & CPU_FL_ZF));
    ck_assert(f & CPU_FL_CF); /* 0x10 - 0x20 borrows */
    ck_assert(f & CPU_FL_SF);

    /* Equal all the way: stops on the count with ZF = 1. */
    c->gpr[CPU_RSI] = SRC + 11;
    c->gpr[CPU_RDI] = DST + 11;
    c->gpr[CPU_RCX] = 9;
    run1(code, sizeof(code));
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
    ck_assert(cpu_get_rflags(c) & CPU_FL_ZF);

    /* REPNE CMPSB stops at the first equal pair. */
    const uint8_t repne[] = {0xF2, 0xA6};
    memset(ram(SRC, 100), 1, 100);
    memset(ram(DST, 100), 2, 100);
    ram(DST, 100)[33] = 1;
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 100;
    run1(repne, sizeof(repne));
    ck_assert_uint_eq(c->gpr[CPU_RCX], 100 - 34);
    ck_assert(cpu_get_rflags(c) & CPU_FL_ZF);
}
END_TEST

START_TEST(cmpsq_scasw_flags)
{
    cpu_t *c = &h.cpu;
    const uint8_t cmpsq[] = {0x48, 0xA7}, scasw[] = {0x66, 0xAF};
    uint64_t a = 0x8000000000000000ull, b = 1;
    memcpy(ram(SRC, 8), &a, 8);
    memcpy(ram(DST, 8), &b, 8);
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RDI] = DST;
    run1(cmpsq, sizeof(cmpsq));
    /* 0x8000000000000000 - 1: no borrow, signed overflow, positive. */
    uint64_t f = cpu_get_rflags(c) & CPU_FL_ARITH;
    ck_assert_uint_eq(f, CPU_FL_OF | CPU_FL_AF | CPU_FL_PF);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 8);

    uint16_t w = 0x1234;
    memcpy(ram(DST, 2), &w, 2);
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RAX] = 0xFFFF1234;
    run1(scasw, sizeof(scasw));
    ck_assert(cpu_get_rflags(c) & CPU_FL_ZF);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 2);
}
END_TEST

START_TEST(repne_scasb_finds_byte)
{
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0xF2, 0xAE}; /* repne scasb */
    memset(ram(DST, 300), 'a', 300);
    ram(DST, 300)[257] = 'x';
    c->gpr[CPU_RAX] = 0x7700 | 'x';
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 300;
    run1(code, sizeof(code));
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 258);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 300 - 258);
    ck_assert(cpu_get_rflags(c) & CPU_FL_ZF);

    /* Not found: runs out of count with ZF = 0. */
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 200;
    run1(code, sizeof(code));
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 200);
    ck_assert(!(cpu_get_rflags(c) & CPU_FL_ZF));

    /* REPE SCASB backward skips equal bytes. */
    const uint8_t repe[] = {0xF3, 0xAE};
    cpu_set_rflags(c, 2 | CPU_FL_DF);
    c->gpr[CPU_RAX] = 'a';
    c->gpr[CPU_RDI] = DST + 299;
    c->gpr[CPU_RCX] = 1000;
    run1(repe, sizeof(repe));
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 256);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 1000 - 43);
}
END_TEST

START_TEST(segment_override_on_source_only)
{
    /* fs rep movsb (64 F3 A4): the source is FS:RSI (FS has a base in
     * 64-bit mode); the destination stays ES:RDI, never overridden. */
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0x64, 0xF3, 0xA4};
    const uint8_t lods[] = {0x65, 0x48, 0xAD}; /* gs lodsq */
    fill(SRC + 0x1000, 32, 0x21);
    memset(ram(SRC, 32), 0, 32);
    memset(ram(DST, 64), 0, 64);
    c->seg[CPU_FS].base = 0x1000;
    c->seg[CPU_ES].base = 0x8000; /* ignored in 64-bit mode */
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 32;
    run1(code, sizeof(code));
    ck_assert_mem_eq(ram(DST, 32), ram(SRC + 0x1000, 32), 32);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 32);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 32);
    c->seg[CPU_GS].base = 0x1000;
    c->gpr[CPU_RSI] = SRC + 8;
    run1(lods, sizeof(lods));
    uint64_t want;
    memcpy(&want, ram(SRC + 0x1008, 8), 8);
    ck_assert_uint_eq(c->gpr[CPU_RAX], want);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 16);
}
END_TEST

START_TEST(address_size_32)
{
    cpu_t *c = &h.cpu;
    const uint8_t movsb[] = {0x67, 0xF3, 0xA4};       /* addr32 rep movsb */
    const uint8_t scasb[] = {0x67, 0xF2, 0xAE};       /* addr32 repne scasb */
    fill(SRC, 64, 7);
    memset(ram(DST, 64), 0, 64);
    /* Only ESI/EDI/ECX are used; the results are written as 32-bit
     * registers, clearing the upper halves. */
    c->gpr[CPU_RSI] = 0xDEAD000000000000ull | SRC;
    c->gpr[CPU_RDI] = 0x0000BEEF00000000ull | DST;
    c->gpr[CPU_RCX] = 0x1234567800000010ull;
    run1(movsb, sizeof(movsb));
    ck_assert_mem_eq(ram(DST, 16), ram(SRC, 16), 16);
    ck_assert_uint_eq(ram(DST, 17)[16], 0);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 16);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 16);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);

    ram(DST, 64)[40] = 0x5A;
    c->gpr[CPU_RAX] = 0x5A;
    c->gpr[CPU_RDI] = 0xFFFF000000000000ull | DST;
    c->gpr[CPU_RCX] = 0xFFFFFFFF00000040ull;
    run1(scasb, sizeof(scasb));
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 41);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 64 - 41);

    /* Only EDI forms the address: with RDI = 0x77770000FFFFFFFF the access
     * goes to 0xFFFFFFFF (beyond the mapped GiB: #PF there), not to a
     * non-canonical address (#GP). */
    const uint8_t stosb[] = {0x67, 0xAA};
    c->gpr[CPU_RDI] = 0x77770000FFFFFFFFull;
    c->gpr[CPU_RAX] = 0x99;
    run1(stosb, sizeof(stosb));
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, 0xFFFFFFFFull);
}
END_TEST

/* A page fault in the middle of a REP MOVSQ over 4-KiB pages (map_4k,
 * cpu_string_fixture.h), then its restart. */
START_TEST(page_fault_mid_string_restarts)
{
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0xF3, 0x48, 0xA5}; /* rep movsq */
    const unsigned n = 3 * 512;                /* three pages of qwords */
    map_4k(3, 1);
    fill(SRC, n * 8, 11);
    memset(ram(PHYS4K, 3 * 4096), 0, 3 * 4096);
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RDI] = LIN4K + 8; /* the element at 0x40000FF8 is the last before the hole */
    c->gpr[CPU_RCX] = n - 1;
    run1(code, sizeof(code));
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, LIN4K + 4096);
    /* The frame's RIP is the instruction; registers describe the rest. */
    ck_assert_uint_eq(cpu_harness_peek64(&h, c->gpr[CPU_RSP] + 8), CPU_HARNESS_CODE);
    ck_assert_uint_eq(cpu_harness_peek64(&h, c->gpr[CPU_RSP]), CPU_PF_W);
    ck_assert_uint_eq(c->gpr[CPU_RCX], n - 1 - 511);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 511 * 8);
    ck_assert_uint_eq(c->gpr[CPU_RDI], LIN4K + 4096);
    ck_assert_mem_eq(ram(PHYS4K + 8, 4088), ram(SRC, 4088), 4088);

    map_4k(3, -1);
    rerun();
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + (n - 1) * 8);
    ck_assert_uint_eq(c->gpr[CPU_RDI], LIN4K + n * 8);
    ck_assert_mem_eq(ram(PHYS4K + 8, (n - 1) * 8), ram(SRC, (n - 1) * 8), (n - 1) * 8);
    ck_assert_uint_eq(ram(PHYS4K, 1)[0], 0);
}
END_TEST

START_TEST(page_fault_mid_scas_backward)
{
    /* A read fault with DF = 1 inside REPNE SCASB: the restart resumes the
     * search and finds the byte. */
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0xF2, 0xAE};
    map_4k(2, 0);
    memset(ram(PHYS4K, 8192), 'z', 8192);
    ram(PHYS4K, 8192)[100] = '!';
    cpu_set_rflags(c, 2 | CPU_FL_DF);
    c->gpr[CPU_RAX] = '!';
    c->gpr[CPU_RDI] = LIN4K + 4096 + 50;
    c->gpr[CPU_RCX] = 10000;
    run1(code, sizeof(code));
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, LIN4K + 4095);
    ck_assert_uint_eq(c->gpr[CPU_RDI], LIN4K + 4095);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 10000 - 51);
    map_4k(2, -1);
    cpu_set_rflags(c, 2 | CPU_FL_DF);
    rerun();
    ck_assert_uint_eq(c->gpr[CPU_RDI], LIN4K + 99);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 10000 - 51 - (4095 - 100 + 1));
    ck_assert(cpu_get_rflags(c) & CPU_FL_ZF);
}
END_TEST

START_TEST(rep_is_interruptible_by_cycle_limit)
{
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0xF3, 0xAA}; /* rep stosb */
    const unsigned n = 100000;
    h.costs.cost[CPU_COST_STRING] = 2;
    memset(ram(DST, n + 1), 0, n + 1);
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, sizeof(code));
    c->rip = CPU_HARNESS_CODE;
    c->gpr[CPU_RAX] = 0x42;
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = n;
    uint64_t start = c->cycles;
    ck_assert_int_eq(cpu_run(c, start + 1001, UINT64_MAX), CPU_STOP_CYCLES);
    /* 2 cycles per iteration: it pauses on the first iteration ending at
     * or past the limit (cycles 2, 4, .. 1002 → 501 iterations). */
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE);
    ck_assert_uint_eq(c->gpr[CPU_RCX], n - 501);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 501);
    ck_assert_uint_eq(c->cycles, start + 1002);
    ck_assert_uint_eq(ram(DST, 502)[500], 0x42);
    ck_assert_uint_eq(ram(DST, 502)[501], 0);

    /* Then it finishes with the exact result. */
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE + 2);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + n);
    ck_assert_uint_eq(c->cycles, start + 2ull * n);
    for (unsigned k = 0; k < n; k++)
        ck_assert_uint_eq(ram(DST, n)[k], 0x42);
    ck_assert_uint_eq(ram(DST, n + 1)[n], 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("string");
    TCase *t = tcase_create("string");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, rep_count_zero_does_nothing);
    tcase_add_test(t, rep_count_zero_a32_intel);
    tcase_add_test(t, rep_movsb_forward_across_pages);
    tcase_add_test(t, rep_movs_backward);
    tcase_add_test(t, rep_movsb_overlap_replicates);
    tcase_add_test(t, stos_lods_sizes);
    tcase_add_test(t, repe_cmpsb_stops_at_first_difference);
    tcase_add_test(t, cmpsq_scasw_flags);
    tcase_add_test(t, repne_scasb_finds_byte);
    tcase_add_test(t, segment_override_on_source_only);
    tcase_add_test(t, address_size_32);
    tcase_add_test(t, page_fault_mid_string_restarts);
    tcase_add_test(t, page_fault_mid_scas_backward);
    tcase_add_test(t, rep_is_interruptible_by_cycle_limit);
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
