/*
 * cpu_string_fixture.h — the fixture of the string-instruction tests
 * (tests/cpu/test_string.c, test_string_io.c): one harness CPU
 * (cpu_harness.h) per test, source and destination buffers, a run of one
 * instruction, and a 4-KByte mapping with a page left out for the page
 * faults in the middle of a string. Included by the single .c file of a
 * test program (it defines the file-level harness h); the functions are
 * static inline, so a program that does not use one does not warn.
 */
#ifndef APICV_TEST_CPU_STRING_FIXTURE_H
#define APICV_TEST_CPU_STRING_FIXTURE_H

#include <check.h>
#include <stdint.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define SRC 0x200000u /* source buffer (identity-mapped RAM) */
#define DST 0x300000u /* destination buffer */

static cpu_harness h;

static inline void setup(void)
{
    cpu_harness_init(&h);
}

static inline void teardown(void)
{
    cpu_harness_free(&h);
}

static inline void fill(uint64_t pa, size_t n, uint8_t seed)
{
    uint8_t *p = cpu_phys_ptr_write(&h.phys, pa, n);
    ck_assert_ptr_nonnull(p);
    for (size_t k = 0; k < n; k++)
        p[k] = (uint8_t)(seed + k * 7 + (k >> 8));
}

static inline uint8_t *ram(uint64_t pa, size_t n)
{
    uint8_t *p = cpu_phys_ptr_write(&h.phys, pa, n);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Runs one instruction at the test-code address. The decoded-block cache
 * is dropped first so each test's new code is decoded afresh. */
static inline cpu_stop run1(const uint8_t *code, size_t len)
{
    h.cpu.halted = 0; /* out of the HLT handler of an earlier fault */
    h.cpu.gpr[CPU_RSP] = CPU_HARNESS_STACK;
    cpu_dcache_flush(&h.cpu);
    return cpu_harness_exec(&h, code, len, 1);
}

/*
 * 4-KiB page tables for linear 0x40000000.. (PDPT entry 1 of the harness,
 * which maps only the first GiB): PD at PD4K, PT at PT4K, page k maps
 * physical PHYS4K + k * 4096; map_4k maps `pages` pages, page `missing`
 * (-1: none) not present.
 */
#define PD4K 0x20000u
#define PT4K 0x21000u
#define PHYS4K 0x400000u
#define LIN4K 0x40000000ull

static inline void map_4k(unsigned pages, int missing)
{
    uint64_t e;
    e = PD4K | 7;
    ck_assert(cpu_phys_write(&h.phys, 0x2000 + 8, &e, 8));
    e = PT4K | 7;
    ck_assert(cpu_phys_write(&h.phys, PD4K, &e, 8));
    for (unsigned k = 0; k < pages; k++) {
        e = (int)k == missing ? 0 : (PHYS4K + k * 4096ull) | 7;
        ck_assert(cpu_phys_write(&h.phys, PT4K + k * 8, &e, 8));
    }
    cpu_tlb_flush(&h.cpu);
}

/* Runs one instruction again from the start of the test code, as the
 * return from a fixed page fault would. */
static inline void rerun(void)
{
    cpu_t *c = &h.cpu;
    c->halted = 0;
    c->rip = CPU_HARNESS_CODE;
    c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 1), CPU_STOP_INSNS);
}

#endif
