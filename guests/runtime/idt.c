/*
 * idt.c — the runtime's IDT, the C side of the interrupt stubs, exit.
 *
 * One IDT of 256 64-bit interrupt gates (SDM Vol. 3A 6.14.1), shared by all
 * vCPUs: gate v points at stub v in isr.S, selector 0x08 (the ABI's code
 * segment), DPL 0, IST 0. Interrupt gates clear IF on entry, so handlers
 * run with interrupts disabled until IRETQ restores RFLAGS.
 */
#include "guest.h"

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
};

struct __attribute__((packed)) idt_pointer {
    uint16_t limit;
    uint64_t base;
};

#define GATE_SELECTOR 0x08
#define GATE_PRESENT_INTR64 0x8E /* P = 1, DPL = 0, type 1110b: 64-bit interrupt gate */
#define STUB_STRIDE 16            /* isr.S aligns each stub to 16 bytes */

extern const char guest_isr_stubs[];

static struct idt_gate idt[256] __attribute__((aligned(16)));
static volatile guest_handler_fn handlers[256];

void register_handler(unsigned vector, guest_handler_fn fn)
{
    if (vector < 256)
        handlers[vector] = fn;
}

/*
 * Every vCPU fills the table with the same values before loading it, so no
 * vCPU can load a half-built IDT and none has to wait for another.
 */
void guest_runtime_init(unsigned cpu, unsigned ncpus)
{
    (void)cpu;
    (void)ncpus;
    for (unsigned v = 0; v < 256; v++) {
        uint64_t target = (uint64_t)(uintptr_t)(guest_isr_stubs + STUB_STRIDE * v);
        idt[v].offset_lo = (uint16_t)target;
        idt[v].selector = GATE_SELECTOR;
        idt[v].ist = 0;
        idt[v].type_attr = GATE_PRESENT_INTR64;
        idt[v].offset_mid = (uint16_t)(target >> 16);
        idt[v].offset_hi = (uint32_t)(target >> 32);
        idt[v].reserved = 0;
    }
    struct idt_pointer p = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" ::"m"(p) : "memory");
}

const char *guest_vector_name(unsigned vector)
{
    static const char *const names[32] = {
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
        "#NP", "#SS", "#GP", "#PF", "reserved", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    };
    if (vector < 32)
        return names[vector] ? names[vector] : "reserved";
    return "irq";
}

static void default_handler(struct guest_frame *f)
{
    char line[192];
    uint64_t cr2 = 0;
    if (f->vector == 14)
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    snprintf(line, sizeof(line),
             "guest: unhandled vector %lu (%s) error %#lx at RIP %#lx RSP %#lx RFLAGS %#lx CR2 %#lx\n",
             (unsigned long)f->vector, guest_vector_name((unsigned)f->vector),
             (unsigned long)f->error_code, (unsigned long)f->rip, (unsigned long)f->rsp,
             (unsigned long)f->rflags, (unsigned long)cr2);
    guest_console_emergency(line);
    guest_exit(GUEST_EXIT_UNHANDLED);
}

void guest_isr_dispatch(struct guest_frame *f)
{
    guest_handler_fn fn = handlers[f->vector & 0xFF];
    if (fn)
        fn(f);
    else
        default_handler(f);
}

void guest_exit(uint32_t status)
{
    outl(GUEST_PORT_EXIT, status);
    /* The exit port ends the run; should it ever return, stay parked. */
    for (;;) {
        cli();
        hlt();
    }
}

void guest_check_failed(const char *file, int line, const char *what)
{
    printf("FAIL: %s:%d: %s\n", file, line, what);
    guest_exit(GUEST_FAIL);
}
