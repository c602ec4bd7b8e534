/*
 * guest.h — the runtime every apicv-emu guest program is linked with.
 *
 * A guest program is one C (or assembly) file in guests/ that defines
 *
 *     int guest_main(unsigned cpu, unsigned ncpus);
 *
 * The runtime's entry point (_start in crt0.S) runs on every vCPU, all
 * started together by the emulator in 64-bit mode (docs/guest-abi.md):
 *   1. it installs the runtime's IDT (256 interrupt gates, selector 0x08,
 *      every vector routed to guest_isr_dispatch below), the same table on
 *      every vCPU, so an exception prints a diagnostic instead of crashing;
 *   2. it calls guest_main(cpu, ncpus) with RFLAGS.IF still 0;
 *   3. when guest_main returns on vCPU 0, the run ends with that value as
 *      the exit status (port 0xF4, status & 0xFF). When it returns on any
 *      other vCPU, that vCPU stops for good (CLI; HLT forever) and the run
 *      goes on until vCPU 0 returns or someone calls guest_exit().
 * So vCPU 0 decides when the run is over: if it must wait for the others,
 * make it wait (e.g. with guest_barrier_wait()).
 *
 * Conventions: 0 reports success; failures use 16 or more (GUEST_FAIL),
 * since 2..5 are the emulator's own exit statuses. Everything here uses
 * general-purpose registers only (guests are built with -mgeneral-regs-only).
 *
 * Console output (putchar/puts/printf) goes to port 0xE9, one OUT per
 * character. One printf call writes all its output under a spin lock with
 * interrupts disabled, so output from different vCPUs (or from an interrupt
 * handler) never interleaves within a call. putchar takes no lock.
 */
#ifndef APICV_GUEST_H
#define APICV_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- exit statuses and ports (guest ABI) -------------------------------- */

#define GUEST_PORT_CONSOLE 0xE9 /* OUT of a byte: console */
#define GUEST_PORT_EXIT 0xF4    /* OUT of a dword v: the run ends, status v & 0xFF */

#define GUEST_OK 0
#define GUEST_FAIL 16          /* first status a guest uses for failure */
#define GUEST_EXIT_UNHANDLED 0x7F /* the default handler's status: unexpected vector */

/* Ends the run on every vCPU with status & 0xFF. */
__attribute__((noreturn)) void guest_exit(uint32_t status);

/* Prints "FAIL: <message>" with file and line and ends the run with GUEST_FAIL
 * when cond is false. */
#define GUEST_CHECK(cond)                                                          \
    do {                                                                           \
        if (!(cond))                                                               \
            guest_check_failed(__FILE__, __LINE__, #cond);                          \
    } while (0)
__attribute__((noreturn)) void guest_check_failed(const char *file, int line, const char *what);

/* The guest program's entry, called on every vCPU (see the top of this file). */
int guest_main(unsigned cpu, unsigned ncpus);

/* ---- console (port 0xE9) ------------------------------------------------ */

int putchar(int c);
/* Writes s and a newline, like the C library's puts. */
int puts(const char *s);
/*
 * printf subset: %d %i %u %x %X %o %p %s %c %%; flags '-' (left-justify),
 * '0' (zero padding), '#' (0x prefix for %x/%X), '+' and ' '; a width
 * (digits or '*'); a precision for %s ('.N' or '.*'); length modifiers
 * hh, h, l, ll, z and t. Returns the number of characters produced.
 */
int printf(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
int vprintf(const char *fmt, va_list ap) __attribute__((format(__printf__, 1, 0)));
/* Formats into buf (always NUL-terminated when size > 0); returns the length
 * the full output would have, as the C library does. */
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(__printf__, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(__printf__, 3, 0)));

/* ---- freestanding C library bits (gcc may emit calls to the first two) ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strcpy(char *dst, const char *src);

/* ---- interrupts and exceptions ------------------------------------------ */

/*
 * What the IDT stub saved, lowest address first: the 15 GPRs, the vector,
 * the error code (0 for vectors without one), then the frame the CPU pushed.
 * A handler may change any field; the stub restores the GPRs from it and
 * returns with IRETQ through rip/cs/rflags/rsp/ss.
 */
struct guest_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;
    uint64_t error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*guest_handler_fn)(struct guest_frame *f);

/*
 * Routes a vector (0..255) to fn on every vCPU (the table is shared);
 * NULL restores the default handler, which prints the vector, error code
 * and RIP and ends the run with GUEST_EXIT_UNHANDLED. Interrupt handlers
 * must signal EOI themselves (xapic_eoi() or x2apic_eoi()). Handlers run
 * with IF = 0 (interrupt gates).
 */
void register_handler(unsigned vector, guest_handler_fn fn);

/* Called by the IDT stubs; not for guest programs. */
void guest_isr_dispatch(struct guest_frame *f);
/* Called by crt0 on each vCPU before guest_main: builds and loads the IDT. */
void guest_runtime_init(unsigned cpu, unsigned ncpus);
/* Writes s to the console even if the console lock is stuck (the default
 * handler uses it); for guests, printf is the better choice. */
void guest_console_emergency(const char *s);
/* Name of an exception vector ("#GP"), or "irq" for vectors >= 32. */
const char *guest_vector_name(unsigned vector);

/* ---- small instruction wrappers ---------------------------------------- */

static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* STI; HLT: the STI shadow makes the pair wait for an interrupt without a
 * window in which one could be taken before the HLT. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }

static inline uint64_t read_rflags(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f)::"memory");
    return f;
}
/* Disables interrupts and returns the old RFLAGS for irq_restore(). */
static inline uint64_t irq_save(void)
{
    uint64_t f = read_rflags();
    cli();
    return f;
}
static inline void irq_restore(uint64_t flags)
{
    if (flags & (1u << 9))
        sti();
}

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* CPUID leaf/subleaf into out[0..3] = EAX, EBX, ECX, EDX. */
static inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3])
                     : "a"(leaf), "c"(subleaf));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

/* CR8 is the TPR's bits 7:4 (SDM Vol. 3A 11.8.6.1). */
static inline uint64_t read_cr8(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr8, %0" : "=r"(v)::"memory");
    return v;
}
static inline void write_cr8(uint64_t v) { __asm__ volatile("mov %0, %%cr8" ::"r"(v) : "memory"); }

static inline uint64_t read_cr0(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v)::"memory");
    return v;
}
static inline uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v)::"memory");
    return v;
}
static inline uint64_t read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v)::"memory");
    return v;
}

/* ---- atomics and a barrier (for multi-vCPU guests) ---------------------- */

static inline uint32_t atomic_add(volatile uint32_t *p, uint32_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}
static inline uint32_t atomic_load(volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void atomic_store(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

/* A sense-reversing barrier; zero-initialise it (a static is fine). */
struct guest_barrier {
    volatile uint32_t count;
    volatile uint32_t generation;
};
/* Returns when n vCPUs have called it (spinning with PAUSE). */
void guest_barrier_wait(struct guest_barrier *b, unsigned n);

/* A test-and-set spin lock; zero-initialise it. */
struct guest_lock {
    volatile uint32_t held;
};
void guest_lock(struct guest_lock *l);
void guest_unlock(struct guest_lock *l);

/* ---- local APIC: xAPIC (MMIO at 0xFEE00000) ---------------------------- */

#define XAPIC_BASE 0xFEE00000ull

/* Register offsets in the APIC page (SDM Vol. 3A table 11-1; 10-1 in older editions). */
enum {
    APIC_ID = 0x020,
    APIC_VERSION = 0x030,
    APIC_TPR = 0x080,
    APIC_APR = 0x090,
    APIC_PPR = 0x0A0,
    APIC_EOI = 0x0B0,
    APIC_RRD = 0x0C0,
    APIC_LDR = 0x0D0,
    APIC_DFR = 0x0E0,
    APIC_SVR = 0x0F0,
    APIC_ISR = 0x100, /* 8 registers, 0x10 apart: vectors 32n..32n+31 */
    APIC_TMR = 0x180,
    APIC_IRR = 0x200,
    APIC_ESR = 0x280,
    APIC_LVT_CMCI = 0x2F0,
    APIC_ICR_LO = 0x300,
    APIC_ICR_HI = 0x310,
    APIC_LVT_TIMER = 0x320,
    APIC_LVT_THERMAL = 0x330,
    APIC_LVT_PMC = 0x340,
    APIC_LVT_LINT0 = 0x350,
    APIC_LVT_LINT1 = 0x360,
    APIC_LVT_ERROR = 0x370,
    APIC_TIMER_ICR = 0x380,
    APIC_TIMER_CCR = 0x390,
    APIC_TIMER_DCR = 0x3E0,
    APIC_SELF_IPI = 0x3F0, /* x2APIC mode only */
};

/* Bits of the SVR, LVT and ICR (SDM Vol. 3A 11.5.1, 11.6.1, 11.9). */
#define APIC_SVR_ENABLE (1u << 8)
#define APIC_LVT_MASKED (1u << 16)
#define APIC_LVT_TIMER_PERIODIC (1u << 17)
#define APIC_ICR_DELIVERY_FIXED (0u << 8)
#define APIC_ICR_DELIVERY_NMI (4u << 8)
#define APIC_ICR_PENDING (1u << 12) /* xAPIC delivery status */
#define APIC_ICR_ASSERT (1u << 14)
#define APIC_ICR_LEVEL (1u << 15)
#define APIC_ICR_SELF (1u << 18)
#define APIC_ICR_ALL_INCL (2u << 18)
#define APIC_ICR_ALL_EXCL (3u << 18)

static inline uint32_t xapic_read(uint32_t offset)
{
    return *(volatile uint32_t *)(uintptr_t)(XAPIC_BASE + offset);
}
static inline void xapic_write(uint32_t offset, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(XAPIC_BASE + offset) = v;
}
static inline void xapic_eoi(void) { xapic_write(APIC_EOI, 0); }
/* Fixed, edge IPI with a vector to the APIC whose ID is dest (physical mode). */
static inline void xapic_send_ipi(uint32_t dest, uint8_t vector)
{
    xapic_write(APIC_ICR_HI, dest << 24);
    xapic_write(APIC_ICR_LO, APIC_ICR_DELIVERY_FIXED | APIC_ICR_ASSERT | vector);
}
/* Sets the SVR's software-enable bit with a spurious vector. */
static inline void xapic_enable(uint8_t spurious_vector)
{
    xapic_write(APIC_SVR, APIC_SVR_ENABLE | spurious_vector);
}
/* Bit `vector` of one of the 256-bit registers (APIC_ISR, APIC_TMR, APIC_IRR). */
static inline int xapic_test_vector(uint32_t reg, uint8_t vector)
{
    return (int)((xapic_read(reg + 0x10u * (vector >> 5)) >> (vector & 31)) & 1);
}

/* ---- local APIC: x2APIC (MSRs 0x800 + offset/16) ------------------------ */

#define MSR_IA32_APIC_BASE 0x1Bu
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_X2APIC (1ull << 10)
#define APIC_BASE_ENABLE (1ull << 11)
#define X2APIC_MSR(offset) (0x800u + ((uint32_t)(offset) >> 4))

/* Switches this vCPU's APIC from xAPIC to x2APIC mode (IA32_APIC_BASE bit 10). */
static inline void x2apic_enable(void)
{
    wrmsr(MSR_IA32_APIC_BASE, rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_X2APIC | APIC_BASE_ENABLE);
}
static inline uint64_t x2apic_read(uint32_t offset) { return rdmsr(X2APIC_MSR(offset)); }
static inline void x2apic_write(uint32_t offset, uint64_t v) { wrmsr(X2APIC_MSR(offset), v); }
static inline void x2apic_eoi(void) { x2apic_write(APIC_EOI, 0); }
/* In x2APIC mode the ICR is one 64-bit MSR (0x830), destination in 63:32. */
static inline void x2apic_send_ipi(uint32_t dest, uint8_t vector)
{
    x2apic_write(APIC_ICR_LO, ((uint64_t)dest << 32) | APIC_ICR_DELIVERY_FIXED | APIC_ICR_ASSERT | vector);
}
static inline void x2apic_self_ipi(uint8_t vector) { x2apic_write(APIC_SELF_IPI, vector); }

/* ---- hypercalls (guest ABI table; VMCALL, KVM register convention) ------- */

enum {
    HC_ABI_VERSION = 0x00,
    HC_SEND_MSI = 0x01,
    HC_RAISE_HOST_IRQ = 0x02,
    HC_VMCS_READ = 0x03,
    HC_VMCS_WRITE = 0x04,
    HC_VAPIC_READ = 0x05,
    HC_VAPIC_WRITE = 0x06,
    HC_PID_READ = 0x07,
    HC_PID_WRITE = 0x08,
    HC_EXIT_COUNT = 0x09,
    HC_LAST_EXIT = 0x0A,
    HC_DESCHEDULE = 0x0B,
    HC_CYCLES = 0x0C,
};
#define HC_EINVAL (-22) /* invalid argument */
#define HC_ENOSYS (-38) /* unknown hypercall number */
#define HC_ALL_EXITS 0xFFFFu /* HC_EXIT_COUNT: every basic reason */

/* Posted-interrupt descriptor qword 4 (HC_PID_READ index 4). */
#define PID_ON (1ull << 0)
#define PID_SN (1ull << 1)
#define PID_NV(q) (((q) >> 16) & 0xFF)
#define PID_NDST(q) ((uint32_t)((q) >> 32))

/*
 * One VMCALL: RAX = nr, arguments in RBX, RCX, RDX, RSI. Returns RAX (0 or
 * a negative errno); *rdx and *rsi (when not NULL) receive RDX and RSI after
 * the call. Outside VMX (native mode) VMCALL raises #UD.
 */
static inline int64_t hc_call(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                              uint64_t *rdx, uint64_t *rsi)
{
    uint64_t rax = nr, rbx = a1, rcx = a2, d = a3, s = a4;
    __asm__ volatile("vmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(d), "+S"(s)::"memory");
    if (rdx)
        *rdx = d;
    if (rsi)
        *rsi = s;
    return (int64_t)rax;
}

/* 0x00: *version = the ABI version (1). */
static inline int64_t hc_abi_version(uint64_t *version) { return hc_call(HC_ABI_VERSION, 0, 0, 0, 0, version, 0); }
/* 0x01: a device raises an edge, fixed interrupt `vector` for vCPU `dest`, `delay` cycles from now. */
static inline int64_t hc_send_msi(uint8_t vector, unsigned dest_vcpu, uint64_t delay)
{
    return hc_call(HC_SEND_MSI, vector, dest_vcpu, delay, 0, 0, 0);
}
/* 0x02: a fixed interrupt `vector` arrives at physical CPU `pcpu`'s local APIC after `delay`. */
static inline int64_t hc_raise_host_irq(uint8_t vector, unsigned pcpu, uint64_t delay)
{
    return hc_call(HC_RAISE_HOST_IRQ, vector, pcpu, delay, 0, 0, 0);
}
/* 0x03: *value = the VMCS field (as saved at this VM exit). */
static inline int64_t hc_vmcs_read(uint32_t field, uint64_t *value)
{
    return hc_call(HC_VMCS_READ, field, 0, 0, 0, value, 0);
}
/* 0x04: writes a VMCS field for the resuming entry; on HC_EINVAL *vm_insn_error
 * (when not NULL) is the VM-instruction error number of the failed entry. */
static inline int64_t hc_vmcs_write(uint32_t field, uint64_t value, uint64_t *vm_insn_error)
{
    return hc_call(HC_VMCS_WRITE, field, value, 0, 0, vm_insn_error, 0);
}
/* 0x05 / 0x06: a dword of the caller's virtual-APIC page (offset 4-aligned, < 0x1000). */
static inline int64_t hc_vapic_read(uint32_t offset, uint32_t *value)
{
    uint64_t v = 0;
    int64_t r = hc_call(HC_VAPIC_READ, offset, 0, 0, 0, &v, 0);
    if (value)
        *value = (uint32_t)v;
    return r;
}
static inline int64_t hc_vapic_write(uint32_t offset, uint32_t value)
{
    return hc_call(HC_VAPIC_WRITE, offset, value, 0, 0, 0, 0);
}
/* 0x07 / 0x08: qword `index` (0..7) of the caller's posted-interrupt descriptor. */
static inline int64_t hc_pid_read(unsigned index, uint64_t *value)
{
    return hc_call(HC_PID_READ, index, 0, 0, 0, value, 0);
}
static inline int64_t hc_pid_write(unsigned index, uint64_t value)
{
    return hc_call(HC_PID_WRITE, index, value, 0, 0, 0, 0);
}
/* 0x09: *count = VM exits with basic reason `reason` (HC_ALL_EXITS: all) on vCPU `vcpu`. */
static inline int64_t hc_exit_count(uint32_t reason, unsigned vcpu, uint64_t *count)
{
    return hc_call(HC_EXIT_COUNT, reason, vcpu, 0, 0, count, 0);
}
/* 0x0A: basic reason and qualification of vCPU `vcpu`'s latest exit before this call. */
static inline int64_t hc_last_exit(unsigned vcpu, uint64_t *reason, uint64_t *qualification)
{
    return hc_call(HC_LAST_EXIT, 0, vcpu, 0, 0, reason, qualification);
}
/* 0x0B: takes vCPU `vcpu` off its physical CPU for `cycles`. */
static inline int64_t hc_deschedule(unsigned vcpu, uint64_t cycles)
{
    return hc_call(HC_DESCHEDULE, vcpu, cycles, 0, 0, 0, 0);
}
/* 0x0C: *cycles = the global cycle count. */
static inline int64_t hc_cycles(uint64_t *cycles) { return hc_call(HC_CYCLES, 0, 0, 0, 0, cycles, 0); }

#endif
