/*
 * host_exec32.c — native execution of 32-bit code snippets (see
 * host_exec32.h).
 *
 * The wrapper (64-bit, System V call, RDI = the state copy in low memory):
 *   push rbx, rbp, r12..r15        callee-saved registers
 *   mov [SAVED_RSP], rsp           the C stack may lie above 4 GBytes
 *   mov rsp, STACK_TOP             a stack the 32-bit code can address
 *   mov eax, 0x2B; mov ds, eax; mov es, eax   flat user data (Linux __USER_DS)
 *   push rdi; push [rdi+128]; popfq
 *   mov rN, [rdi+8N]               every register but RSP, RDI last
 *   call far [FARPTR]              m16:32 -> the LDT code segment
 *   pushfq; xchg rdi, [rsp+8]; mov [rdi+8N], rN ...
 *   pop rax -> flags; pop rax -> RDI
 *   mov rsp, [SAVED_RSP]; pop r15..rbx; ret
 * The snippet ends with a 32-bit far RET (CB) back to the 64-bit CS.
 */
#include "tests/support/host_exec32.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__linux__)
#include <asm/ldt.h>
#include <sys/syscall.h>
#define HOST32_OK 1
#else
#define HOST32_OK 0
#endif

#define FARPTR (HOST32_DATA + 0x100u)
#define SAVED_RSP (HOST32_DATA + 0x108u)
#define STATE (HOST32_DATA + 0x200u)
#define STACK_TOP (HOST32_DATA + 0x4000u)
#define DATA_SIZE 0x4000u
#define CODE_SIZE 0x1000u
#define SNIPPET_OFF 0x800u
#define LDT_SEL 0x7u /* LDT entry 0, TI = 1, RPL 3 */
#define FLAGS_IN_MASK 0x8D5u

static _Thread_local sigjmp_buf fault_env32;

static void on_fault32(int sig)
{
    siglongjmp(fault_env32, sig);
}

static void put_abs32(uint8_t *p, unsigned *n, uint32_t v)
{
    memcpy(p + *n, &v, 4);
    *n += 4;
}

static void emit(uint8_t *p, unsigned *n, const uint8_t *b, unsigned len)
{
    memcpy(p + *n, b, len);
    *n += len;
}

static void emit_mov(uint8_t *p, unsigned *n, unsigned r, bool store)
{
    p[(*n)++] = (uint8_t)(0x48 | (r >= 8 ? 4 : 0));
    p[(*n)++] = store ? 0x89 : 0x8B;
    p[(*n)++] = (uint8_t)(0x40 | ((r & 7) << 3) | 7);
    p[(*n)++] = (uint8_t)(r * 8);
}

bool host_code32_init(host_code32 *hc, char *why, size_t whylen)
{
    memset(hc, 0, sizeof *hc);
#if HOST32_OK
    void *d = mmap((void *)(uintptr_t)HOST32_DATA, DATA_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (d != (void *)(uintptr_t)HOST32_DATA) {
        snprintf(why, whylen, "cannot map the data page at %#x", HOST32_DATA);
        if (d != MAP_FAILED)
            munmap(d, DATA_SIZE);
        return false;
    }
    void *c = mmap((void *)(uintptr_t)HOST32_CODE, CODE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (c != (void *)(uintptr_t)HOST32_CODE) {
        snprintf(why, whylen, "cannot map the code page at %#x", HOST32_CODE);
        if (c != MAP_FAILED)
            munmap(c, CODE_SIZE);
        munmap(d, DATA_SIZE);
        return false;
    }
    hc->data = d;
    hc->code = c;
    struct user_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.entry_number = 0;
    desc.base_addr = 0;
    desc.limit = 0xFFFFF;
    desc.seg_32bit = 1;
    desc.contents = 2; /* code, non-conforming */
    desc.limit_in_pages = 1;
    desc.useable = 1;
    if (syscall(SYS_modify_ldt, 1, &desc, sizeof desc) != 0) {
        snprintf(why, whylen, "modify_ldt refused the 32-bit code segment");
        host_code32_free(hc);
        return false;
    }
    uint32_t off = HOST32_CODE + SNIPPET_OFF;
    uint16_t sel = LDT_SEL;
    memcpy(hc->data + (FARPTR - HOST32_DATA), &off, 4);
    memcpy(hc->data + (FARPTR - HOST32_DATA) + 4, &sel, 2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault32;
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGFPE, &sa, &hc->old_fpe) != 0 || sigaction(SIGILL, &sa, &hc->old_ill) != 0) {
        snprintf(why, whylen, "sigaction failed");
        host_code32_free(hc);
        return false;
    }
    return true;
#else
    snprintf(why, whylen, "not an x86-64 Linux host");
    return false;
#endif
}

void host_code32_free(host_code32 *hc)
{
    if (hc->data) {
        munmap(hc->data, DATA_SIZE);
        munmap(hc->code, CODE_SIZE);
        sigaction(SIGFPE, &hc->old_fpe, NULL);
        sigaction(SIGILL, &hc->old_ill, NULL);
    }
    hc->data = hc->code = NULL;
}

uint8_t *host_code32_scratch(host_code32 *hc)
{
    return hc->data + (HOST32_SCRATCH - HOST32_DATA);
}

bool host_code32_build(host_code32 *hc, const uint8_t *code, size_t len)
{
    if (!hc->code || len > 64 || mprotect(hc->code, CODE_SIZE, PROT_READ | PROT_WRITE) != 0)
        return false;
    uint8_t *p = hc->code;
    unsigned n = 0;
    static const uint8_t save[] = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57};
    emit(p, &n, save, sizeof save);
    static const uint8_t save_rsp[] = {0x48, 0x89, 0x24, 0x25}; /* mov [abs32], rsp */
    emit(p, &n, save_rsp, sizeof save_rsp);
    put_abs32(p, &n, SAVED_RSP);
    static const uint8_t set_rsp[] = {0x48, 0xC7, 0xC4}; /* mov rsp, imm32 */
    emit(p, &n, set_rsp, sizeof set_rsp);
    put_abs32(p, &n, STACK_TOP);
    static const uint8_t segs[] = {0xB8, 0x2B, 0, 0, 0, 0x8E, 0xD8, 0x8E, 0xC0}; /* DS = ES = 2BH */
    emit(p, &n, segs, sizeof segs);
    static const uint8_t load_flags[] = {0x57, 0xFF, 0xB7, 0x80, 0x00, 0x00, 0x00, 0x9D};
    emit(p, &n, load_flags, sizeof load_flags);
    for (unsigned r = 0; r < 16; r++)
        if (r != 4 && r != 7)
            emit_mov(p, &n, r, false);
    static const uint8_t load_rdi[] = {0x48, 0x8B, 0x7F, 0x38};
    emit(p, &n, load_rdi, sizeof load_rdi);
    static const uint8_t lcall[] = {0xFF, 0x1C, 0x25}; /* call far [abs32] (m16:32) */
    emit(p, &n, lcall, sizeof lcall);
    put_abs32(p, &n, FARPTR);
    static const uint8_t after[] = {0x9C, 0x48, 0x87, 0x7C, 0x24, 0x08};
    emit(p, &n, after, sizeof after);
    for (unsigned r = 0; r < 16; r++)
        if (r != 4 && r != 7)
            emit_mov(p, &n, r, true);
    static const uint8_t tail1[] = {0x58, 0x48, 0x89, 0x87, 0x80, 0x00, 0x00, 0x00,
                                    0x58, 0x48, 0x89, 0x47, 0x38,
                                    0x48, 0x8B, 0x24, 0x25}; /* mov rsp, [abs32] */
    emit(p, &n, tail1, sizeof tail1);
    put_abs32(p, &n, SAVED_RSP);
    static const uint8_t tail2[] = {0x41, 0x5F, 0x41, 0x5E, 0x41, 0x5D, 0x41, 0x5C, 0x5D, 0x5B, 0xC3};
    emit(p, &n, tail2, sizeof tail2);
    if (n > SNIPPET_OFF)
        return false;
    memcpy(p + SNIPPET_OFF, code, len);
    p[SNIPPET_OFF + len] = 0xCB; /* 32-bit far RET */
    __builtin___clear_cache((char *)p, (char *)p + SNIPPET_OFF + len + 1);
    return mprotect(hc->code, CODE_SIZE, PROT_READ | PROT_EXEC) == 0;
}

int host_code32_run(const host_code32 *hc, host_regs *r)
{
    typedef void (*wrapper_fn)(host_regs *);
    wrapper_fn fn;
    void *code = hc->code;
    memcpy(&fn, &code, sizeof fn);
    host_regs *low = (host_regs *)(void *)(hc->data + (STATE - HOST32_DATA));
    *low = *r;
    low->rflags = (r->rflags & FLAGS_IN_MASK) | 2;
    int sig = sigsetjmp(fault_env32, 0);
    if (sig == 0) {
        fn(low);
        *r = *low;
    }
    return sig;
}
