/*
 * host_exec.h — runs one x86-64 instruction natively on the host CPU, for
 * differential tests of the interpreter.
 *
 * A wrapper is generated at run time into an mmap'd buffer (written while
 * RW, executed while RX): it loads every general register except RSP and
 * the arithmetic flags from a host_regs, executes the instruction bytes,
 * and stores the registers and RFLAGS back. A fault in the instruction
 * (SIGFPE for #DE, SIGILL for #UD) is caught and reported instead of
 * killing the test.
 * Only available on x86-64 hosts (host_exec_supported()).
 */
#ifndef APICV_TEST_HOST_EXEC_H
#define APICV_TEST_HOST_EXEC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct host_regs {
    uint64_t gpr[16];  /* RAX..R15 in encoding order; gpr[4] (RSP) is ignored */
    uint64_t rflags;   /* in: only CF PF AF ZF SF OF are loaded; out: RFLAGS */
    uint64_t mem;      /* scratch memory operand: point a base register at it */
} host_regs;

typedef struct host_code {
    uint8_t *buf;
    size_t size;
    struct sigaction old_fpe, old_ill; /* restored by host_code_free */
} host_code;

/* True when this host can run x86-64 code natively. */
bool host_exec_supported(void);

/*
 * The host processor's vendor, from CPUID leaf 0 ("GenuineIntel",
 * "AuthenticAMD", ...; "" off x86-64). The interpreter models an Intel CPU
 * also where Intel and AMD legitimately differ (docs/cpu-model.md, "Where
 * Intel and AMD differ"): a differential test compares such a case with the
 * host only when host_cpu_is_intel(), and otherwise says once, through
 * host_vendor_skip, what it left out and why.
 */
const char *host_cpu_vendor(void);
bool host_cpu_is_intel(void);
/* Prints "<test>: host is <vendor>, not Intel: <what> not compared with it
 * (<why>)" to stderr, once per distinct what. */
void host_vendor_skip(const char *test, const char *what, const char *why);
/* True when the host has the CPUID feature leaf/subleaf 0, register
 * (0 EAX .. 3 EDX), bit. */
bool host_cpu_has(uint32_t leaf, unsigned reg, unsigned bit);
/* Maps the code buffer and catches SIGFPE and SIGILL (until host_code_free). */
bool host_code_init(host_code *hc);
void host_code_free(host_code *hc);
/* Generates the wrapper around insn (len bytes, at most 15), replacing the
 * previous one. */
bool host_code_build(host_code *hc, const uint8_t *insn, size_t len);
/* Runs the wrapper on r (in/out). Returns 0, or the signal the instruction
 * raised (SIGFPE for a divide error, SIGILL for an invalid opcode), in which
 * case r is unchanged.
 * A memory operand must be addressed through a register holding &r->mem. */
int host_code_run(const host_code *hc, host_regs *r);

#endif
