/*
 * hv_msi_flood.c — a guest that tries to exhaust the machine's event
 * queue (docs/machine.md "The event queue is bounded"), for
 * tests/emu/test_machine.c.
 *
 * vCPU 0 sends one SEND_MSI whose delay is 2^64 - 1 (the due cycle must
 * saturate, not wrap into the past and arrive at once), then N more with a
 * delay of 2^40 cycles, far more than a CPU's queue holds: the machine must
 * drop the excess and count it. The message with the huge delay must never
 * arrive. Prints
 *     hv_msi_flood: sent N early=<arrivals of the saturated message>
 * and exits 0.
 */
#include "guest.h"

#define N 70000u
#define VEC_NEVER 0x41
#define VEC_LATER 0x42

static volatile uint32_t got[256];

static void on_irq(struct guest_frame *f)
{
    got[f->vector & 0xFF]++;
    xapic_eoi();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(VEC_NEVER, on_irq);
    register_handler(VEC_LATER, on_irq);
    xapic_enable(0xFF);
    sti();
    GUEST_CHECK(hc_send_msi(VEC_NEVER, 0, ~0ull) == 0);
    for (uint32_t k = 0; k < N; k++)
        hc_send_msi(VEC_LATER, 0, 1ull << 40);
    /* Time for a wrapped (past-due) message to arrive. */
    for (volatile int k = 0; k < 1000; k++)
        pause();
    printf("hv_msi_flood: sent %u early=%u\n", N, got[VEC_NEVER]);
    return 0;
}
