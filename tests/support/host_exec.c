/*
 * host_exec.c — native execution of single instructions (see host_exec.h).
 *
 * The generated wrapper (System V call, RDI = host_regs *):
 *   push rbx, rbp, r12..r15     callee-saved registers
 *   push rdi                    keep the state pointer
 *   push [rdi+128]; popfq       arithmetic flags
 *   mov rN, [rdi+8N]            every register but RSP, RDI last
 *   <instruction>
 *   pushfq
 *   xchg rdi, [rsp+8]           RDI = state pointer, the test's RDI saved
 *   mov [rdi+8N], rN
 *   pop rax; mov [rdi+128], rax
 *   pop rax; mov [rdi+56], rax
 *   pop r15..r12, rbp, rbx; ret
 */
#include "tests/support/host_exec.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define HOST_CODE_SIZE 4096u
#define FLAGS_IN_MASK 0x8D5u /* CF PF AF ZF SF OF */

static void on_fault(int sig);

bool host_exec_supported(void)
{
#if defined(__x86_64__)
    return true;
#else
    return false;
#endif
}

const char *host_cpu_vendor(void)
{
    static char vendor[13];
#if defined(__x86_64__)
    if (!vendor[0]) {
        unsigned a, b, c, d;
        __cpuid(0, a, b, c, d);
        memcpy(vendor, &b, 4);
        memcpy(vendor + 4, &d, 4);
        memcpy(vendor + 8, &c, 4);
        vendor[12] = 0;
    }
#endif
    return vendor;
}

bool host_cpu_is_intel(void)
{
    return strcmp(host_cpu_vendor(), "GenuineIntel") == 0;
}

void host_vendor_skip(const char *test, const char *what, const char *why)
{
    static const char *said[32];
    static unsigned nsaid;
    for (unsigned k = 0; k < nsaid; k++)
        if (said[k] == what || strcmp(said[k], what) == 0)
            return;
    if (nsaid < sizeof(said) / sizeof(said[0]))
        said[nsaid++] = what;
    fprintf(stderr, "%s: host is %s, not Intel: %s not compared with it (%s)\n", test,
            host_cpu_vendor()[0] ? host_cpu_vendor() : "not x86-64", what, why);
}

bool host_cpu_has(uint32_t leaf, unsigned reg, unsigned bit)
{
#if defined(__x86_64__)
    unsigned r[4];
    /* gcc's __get_cpuid_max returns unsigned, clang's int. */
    uint32_t max = (uint32_t)__get_cpuid_max(leaf & 0x80000000u, NULL);
    if (max < leaf)
        return false;
    __cpuid_count(leaf, 0, r[0], r[1], r[2], r[3]);
    return reg < 4 && ((r[reg] >> bit) & 1) != 0;
#else
    (void)leaf, (void)reg, (void)bit;
    return false;
#endif
}

bool host_code_init(host_code *hc)
{
    hc->size = HOST_CODE_SIZE;
    hc->buf = mmap(NULL, hc->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (hc->buf == MAP_FAILED) {
        hc->buf = NULL;
        return false;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_NODEFER; /* left by siglongjmp without restoring the mask */
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGFPE, &sa, &hc->old_fpe) == 0 && sigaction(SIGILL, &sa, &hc->old_ill) == 0;
}

void host_code_free(host_code *hc)
{
    if (hc->buf) {
        munmap(hc->buf, hc->size);
        sigaction(SIGFPE, &hc->old_fpe, NULL);
        sigaction(SIGILL, &hc->old_ill, NULL);
    }
    hc->buf = NULL;
}

static unsigned emit(uint8_t *p, unsigned n, const uint8_t *bytes, unsigned len)
{
    memcpy(p + n, bytes, len);
    return n + len;
}

/* mov r64, [rdi + 8*r] (load) or mov [rdi + 8*r], r64 (store). */
static unsigned emit_mov(uint8_t *p, unsigned n, unsigned r, bool store)
{
    p[n++] = (uint8_t)(0x48 | (r >= 8 ? 4 : 0));
    p[n++] = store ? 0x89 : 0x8B;
    p[n++] = (uint8_t)(0x40 | ((r & 7) << 3) | 7);
    p[n++] = (uint8_t)(r * 8);
    return n;
}

bool host_code_build(host_code *hc, const uint8_t *insn, size_t len)
{
    static const uint8_t save[] = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57,
                                   0x57};
    static const uint8_t load_flags[] = {0xFF, 0xB7, 0x80, 0x00, 0x00, 0x00, 0x9D};
    static const uint8_t load_rdi[] = {0x48, 0x8B, 0x7F, 0x38};
    static const uint8_t after[] = {0x9C, 0x48, 0x87, 0x7C, 0x24, 0x08};
    static const uint8_t tail[] = {0x58, 0x48, 0x89, 0x87, 0x80, 0x00, 0x00, 0x00, /* flags */
                                   0x58, 0x48, 0x89, 0x47, 0x38,                   /* rdi */
                                   0x41, 0x5F, 0x41, 0x5E, 0x41, 0x5D, 0x41, 0x5C, 0x5D, 0x5B,
                                   0xC3};
    if (!hc->buf || len > 15 || mprotect(hc->buf, hc->size, PROT_READ | PROT_WRITE) != 0)
        return false;
    uint8_t *p = hc->buf;
    unsigned n = 0;
    n = emit(p, n, save, sizeof(save));
    n = emit(p, n, load_flags, sizeof(load_flags));
    for (unsigned r = 0; r < 16; r++) {
        if (r != 4 && r != 7)
            n = emit_mov(p, n, r, false);
    }
    n = emit(p, n, load_rdi, sizeof(load_rdi));
    n = emit(p, n, insn, (unsigned)len);
    n = emit(p, n, after, sizeof(after));
    for (unsigned r = 0; r < 16; r++) {
        if (r != 4 && r != 7)
            n = emit_mov(p, n, r, true);
    }
    n = emit(p, n, tail, sizeof(tail));
    __builtin___clear_cache((char *)p, (char *)p + n);
    return mprotect(hc->buf, hc->size, PROT_READ | PROT_EXEC) == 0;
}

/* Where a fault in the native instruction returns to. Per thread, and only
 * live during host_code_run. */
static _Thread_local sigjmp_buf fault_env;

static void on_fault(int sig)
{
    siglongjmp(fault_env, sig);
}

int host_code_run(const host_code *hc, host_regs *r)
{
    typedef void (*wrapper_fn)(host_regs *);
    wrapper_fn fn;
    void *code = hc->buf;
    memcpy(&fn, &code, sizeof(fn));
    uint64_t flags_in = r->rflags;
    int sig = sigsetjmp(fault_env, 0); /* no mask syscall per run */
    if (sig == 0) {
        r->rflags = (flags_in & FLAGS_IN_MASK) | 2;
        fn(r);
    } else {
        /* The wrapper stores nothing before the instruction completes. */
        r->rflags = flags_in;
    }
    return sig;
}
