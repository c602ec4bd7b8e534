/*
 * cpu_sys_fixture.h — the fixture of the system-instruction and exception
 * tests (tests/cpu/test_system.c, test_system_hooks.c, test_exceptions.c):
 * one harness CPU (cpu_harness.h) per test, helpers to write memory, check
 * a delivered fault and its frame, add a 64-bit TSS, and an observer of
 * CR/MSR writes.
 * Included by the single .c file of a test program (it defines the
 * file-level harness h); the functions are static inline, so a program
 * that does not use one does not warn.
 */
#ifndef APICV_TEST_CPU_SYS_FIXTURE_H
#define APICV_TEST_CPU_SYS_FIXTURE_H

#include <check.h>
#include <stdint.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

static cpu_harness h;

static inline void setup(void)
{
    cpu_harness_init(&h);
}

static inline void teardown(void)
{
    cpu_harness_free(&h);
}

#define RUN(code) cpu_harness_exec(&h, (code), sizeof(code), 1000)
#define CODE CPU_HARNESS_CODE

static inline uint64_t frame(unsigned k)
{
    return cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + 8u * k);
}

static inline void poke64(uint64_t pa, uint64_t v)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &v, 8));
}

static inline void poke(uint64_t pa, const void *p, size_t n)
{
    ck_assert(cpu_phys_write(&h.phys, pa, p, n));
}

/* Asserts that the CPU halted in the handler of vector v with error code
 * err (or none when err < 0) and the saved RIP rip. */
static inline void expect_fault(int v, int64_t err, uint64_t rip)
{
    ck_assert_int_eq(cpu_harness_vector(&h), v);
    if (err >= 0) {
        ck_assert_uint_eq(frame(0), (uint64_t)err);
        ck_assert_uint_eq(frame(1), rip);
    } else {
        ck_assert_uint_eq(frame(0), rip);
    }
}

/* A 64-bit TSS at base (RSP0 = 0x70000, IST1 = 0x60000) and its descriptor
 * at GDT selector 0x28, after the harness's five entries. */
static inline void add_tss(uint64_t base)
{
    poke64(base + 4, 0x70000);
    poke64(base + 0x24, 0x60000);
    uint16_t iomap = 0x68;
    poke(base + 0x66, &iomap, 2);
    uint64_t lo = 0x67 | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) | (((base >> 24) & 0xFF) << 56);
    poke64(0x528, lo);
    poke64(0x530, base >> 32);
    h.cpu.gdtr.limit = 0x37;
}

/* An observer that keeps the CR and MSR write and HLT events (the first
 * 16) for a test to look at. */
static cpu_obs_event seen[16];
static unsigned nseen;

static inline void record_event(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    if ((ev->kind == CPU_EV_CR_WRITE || ev->kind == CPU_EV_MSR_WRITE || ev->kind == CPU_EV_HALT) &&
        nseen < 16)
        seen[nseen++] = *ev;
}

#endif
