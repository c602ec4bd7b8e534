/*
 * diag_flood.c — a guest that makes the emulator's per-event diagnostics
 * repeat (tests/emu/test_signals.c): 200 x87 instructions (FLD1, not
 * implemented: each is reported, then #UD, whose handler skips it) and, on
 * vCPU 0, 200 INIT IPIs to an APIC ID that does not exist (the built-in
 * hypervisor reports each as not emulated). Prints
 *     diag_flood: 200 #UD
 * and exits 0.
 */
#include "guest.h"

#define N 200

static volatile uint32_t uds;

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
    printf("diag_flood: %u #UD\n", uds);
    return uds == N ? 0 : GUEST_FAIL;
}
