/*
 * cpu_fixture.h — the fixture the 64-bit instruction tests share: one
 * harness CPU (cpu_harness.h) per test, helpers that run code to its HLT
 * and look at memory and at the exception frame. Included by the single
 * .c file of a test program (it defines the file-level harness h and c);
 * the functions are static inline, so a test program that does not use
 * one does not warn.
 */
#ifndef APICV_TEST_CPU_FIXTURE_H
#define APICV_TEST_CPU_FIXTURE_H

#include <check.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_harness.h"

static cpu_harness h;
static cpu_t *c;

/* The Check fixture: a fresh harness CPU for each test. */
static inline void setup(void)
{
    cpu_harness_init(&h);
    c = &h.cpu;
}

static inline void teardown(void)
{
    cpu_harness_free(&h);
}

/* Runs code to its final HLT and checks no exception was delivered. */
static inline void run(const uint8_t *code, size_t len)
{
    ck_assert_int_eq(cpu_harness_exec(&h, code, len, 100000), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
}

/* Runs code that must deliver vector v. */
static inline void run_fault(const uint8_t *code, size_t len, int v)
{
    cpu_harness_exec(&h, code, len, 100000);
    ck_assert_int_eq(cpu_harness_vector(&h), v);
}

/* Runs exactly n instructions. */
static inline void run_n(const uint8_t *code, size_t len, uint64_t n)
{
    ck_assert_int_eq(cpu_harness_exec(&h, code, len, n), CPU_STOP_INSNS);
}

static inline uint64_t peek(uint64_t pa, unsigned size)
{
    uint64_t v = 0;
    ck_assert(cpu_phys_read(&h.phys, pa, &v, size));
    return v;
}

static inline void poke(uint64_t pa, uint64_t v, unsigned size)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &v, size));
}

/* Qword k of the exception frame on the handler's stack (0 = error code
 * for vectors that push one). */
static inline uint64_t frame(unsigned k)
{
    return peek(c->gpr[CPU_RSP] + 8 * k, 8);
}

#endif
