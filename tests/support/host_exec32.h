/*
 * host_exec32.h — runs a snippet of 32-bit code natively on an x86-64
 * Linux host, for differential tests of the interpreter's 32-bit modes.
 *
 * modify_ldt(2) installs a flat 32-bit code segment in the process's LDT;
 * a 64-bit wrapper, mapped at a fixed address below 4 GBytes, loads the
 * registers and flags from a host_regs, far-calls the snippet in that
 * segment (compatibility mode: the host's own 32-bit execution) on a stack
 * below 4 GBytes, and the snippet's far return brings it back to store
 * them. DS and ES are the flat user data segment. Scratch memory at the
 * fixed linear address HOST32_SCRATCH is where the snippet's memory
 * operands point (the interpreter's tests put theirs at the same address).
 * SIGFPE and SIGILL in the snippet are caught and reported.
 */
#ifndef APICV_TEST_HOST_EXEC32_H
#define APICV_TEST_HOST_EXEC32_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/host_exec.h"

#define HOST32_DATA 0x00A00000u    /* state, far pointer, saved RSP, scratch, stack */
#define HOST32_CODE 0x00A10000u    /* the wrapper and the snippet */
#define HOST32_SCRATCH 0x00A01000u /* 4 KBytes the snippet may use */
#define HOST32_SCRATCH_SIZE 0x1000u

typedef struct host_code32 {
    uint8_t *data, *code;
    struct sigaction old_fpe, old_ill;
} host_code32;

/* Maps the fixed pages, installs the 32-bit code segment and catches SIGFPE
 * and SIGILL. False, with why filled in, when this host cannot (not
 * x86-64 Linux, modify_ldt refused, the addresses taken). */
bool host_code32_init(host_code32 *hc, char *why, size_t whylen);
void host_code32_free(host_code32 *hc);
/* Generates the wrapper around the 32-bit snippet (at most 64 bytes). */
bool host_code32_build(host_code32 *hc, const uint8_t *code, size_t len);
/* The scratch memory, for the test to fill and read. */
uint8_t *host_code32_scratch(host_code32 *hc);
/* Runs the snippet on r (in/out: EAX..EDI, RSP ignored; the six arithmetic
 * flags in, RFLAGS out). Returns 0 or the signal it raised (r unchanged). */
int host_code32_run(const host_code32 *hc, host_regs *r);

#endif
