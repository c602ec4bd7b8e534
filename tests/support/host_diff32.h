/*
 * host_diff32.h — the comparison step shared by the 32-bit differential
 * tests (tests/cpu/test_diff_legacy.c, test_diff_compat.c): one snippet runs
 * natively on the host (host_exec32.h) and in the interpreter (the test's
 * own set-up and mode) from the same registers, flags and scratch memory,
 * and the results must agree.
 */
#ifndef APICV_TEST_HOST_DIFF32_H
#define APICV_TEST_HOST_DIFF32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/cpu_harness.h"
#include "tests/support/host_exec32.h"

/* The host side of a test's set-up: host_code32_init, and when this host
 * cannot run 32-bit code, a line on stderr naming test and why (the test then
 * passes without comparing). True when the host side is ready. */
bool host_diff32_host_init(host_code32 *hc, const char *test);

/* The common part of a test's interpreter run: the scratch memory at
 * HOST32_SCRATCH from scratch0, EAX..EDI from r (zero-extended), RSP = rsp,
 * the arithmetic flags from r (the others clear), RIP = rip; runs until the
 * CPU halts (asserted within 1000 instructions) and returns the vector whose
 * HLT handler it halted in, or -1 when it halted elsewhere (the test checks
 * where, then takes the results with host_diff32_interp_regs). */
int host_diff32_interp_run(cpu_harness *h, const uint8_t *scratch0, const host_regs *r,
                           uint64_t rsp, uint64_t rip);
/* EAX..EDI (low 32 bits) and RFLAGS of the interpreter into r. */
void host_diff32_interp_regs(cpu_t *c, host_regs *r);

/* The interpreter side of one case: runs code from r's EAX..EDI and
 * arithmetic flags; returns 0 with r's registers and RFLAGS replaced by the
 * interpreter's, or the vector it raised. */
typedef int host_diff32_interp_fn(const uint8_t *code, size_t len, host_regs *r);

/* What a test compares with: the host side, the interpreter's harness (its
 * scratch memory is read at HOST32_SCRATCH), its run function, and the
 * initial scratch memory of a case (HOST32_SCRATCH_SIZE bytes). */
typedef struct host_diff32 {
    host_code32 *hc;
    cpu_harness *h;
    host_diff32_interp_fn *interp;
    const uint8_t *scratch0;
} host_diff32;

/* The next value of a test's pseudo-random sequence (a 64-bit LCG in *state,
 * its high half returned): the same cases on every run. */
uint32_t host_diff32_rnd(uint64_t *state);

/* One case: runs code on both from the registers and flags in *in; asserts
 * that either both fault with #DE (SIGFPE on the host) or neither faults,
 * that EAX..EDI (ESP aside) agree, that the flags in mask agree, and, if
 * memory, that the scratch memory agrees. what names the case in failures. */
void host_diff32_compare(const host_diff32 *d, const char *what, const uint8_t *code, size_t len,
                         const host_regs *in, uint64_t mask, bool memory);

#endif
