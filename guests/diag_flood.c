/*
 * diag_flood.c — a guest that makes the emulator's per-event diagnostics
 * repeat (tests/emu/test_interrupt.c): 200 x87 instructions (FLD1, not
 * implemented: each is reported, then #UD, whose handler skips it) and, on
 * vCPU 0, 200 INIT IPIs to an APIC ID that does not exist (the built-in
 * hypervisor reports each as not emulated), 200 SMI messages from I/O APIC
 * pin 5 (raised through the test device; no SMM natively, not emulated by
 * the hypervisor) and 200 8259A initializations in level-triggered mode
 * (LTIM: modelled, so they must not produce a diagnostic). Prints
 *     diag_flood: 200 #UD
 * and exits 0.
 */
#include "guest.h"

#define N 200

#define IOAPIC ((volatile uint32_t *)0xFEC00000ull)
#define TESTDEV 0x2000

static volatile uint32_t uds;

static void spin_cycles(uint64_t n)
{
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < n)
        pause();
}

static void on_ud(struct guest_frame *f)
{
    uds++;
    f->rip += 2; /* D9 E8 */
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(6, on_ud);
    xapic_enable(0xFF);
    for (unsigned k = 0; k < N; k++)
        __asm__ volatile(".byte 0xd9, 0xe8" ::: "memory");
    for (unsigned k = 0; k < N; k++) {
        xapic_write(APIC_ICR_HI, 7u << 24);
        xapic_write(APIC_ICR_LO, 5u << 8 | 1u << 14); /* INIT, assert */
    }
    /* I/O APIC pin 5: SMI (delivery mode 010), edge, physical, APIC 0. */
    IOAPIC[0] = 0x11 + 2 * 5;
    IOAPIC[4] = 0;
    IOAPIC[0] = 0x10 + 2 * 5;
    IOAPIC[4] = 2u << 8;
    for (unsigned k = 0; k < N; k++) {
        outb(TESTDEV + 5, 1);
        spin_cycles(500); /* each message arrives on its own */
        outb(TESTDEV + 5, 0);
    }
    for (unsigned k = 0; k < N; k++) {
        outb(0x20, 0x19); /* ICW1: LTIM, IC4 */
        outb(0x21, 0x20); /* ICW2 */
        outb(0x21, 0x04); /* ICW3 */
        outb(0x21, 0x01); /* ICW4 */
    }
    printf("diag_flood: %u #UD\n", uds);
    return uds == N ? 0 : GUEST_FAIL;
}
