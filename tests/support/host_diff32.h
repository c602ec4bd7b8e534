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

/* One case: runs code on both from the registers and flags in *in; asserts
 * that either both fault with #DE (SIGFPE on the host) or neither faults,
 * that EAX..EDI (ESP aside) agree, that the flags in mask agree, and, if
 * memory, that the scratch memory agrees. what names the case in failures. */
void host_diff32_compare(const host_diff32 *d, const char *what, const uint8_t *code, size_t len,
                         const host_regs *in, uint64_t mask, bool memory);

#endif
