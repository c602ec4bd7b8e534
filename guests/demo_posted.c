/*
 * demo_posted.c — the guest of scenarios/posted_demo.scn: interrupts
 * between two vCPUs that keep running, the case posted interrupts exist for.
 *
 *   vCPU 1 runs a PAUSE loop with RFLAGS.IF = 1 and waits for
 *     1. a device interrupt, vector 0x41 (the scenario's `msi` stimulus), then
 *     2. an IPI from vCPU 0, vector 0x42;
 *   it answers with an IPI back to vCPU 0, vector 0x43, and spins on.
 *   vCPU 0 waits (running, IF = 1) until vCPU 1 has taken the device
 *   interrupt, sends 0x42 through the xAPIC ICR, waits for 0x43 and ends the
 *   run with 0.
 *
 * Every handler counts its vector and writes EOI (xAPIC offset 0B0H).
 * Nothing else runs on vCPU 1 while it waits: no HLT, no port I/O, no
 * hypercall, so the only VM exits it could take are those the interrupts
 * themselves cause (none in posted mode). vCPU 0 checks the counts and
 * fails (GUEST_FAIL) on a wrong vector or count. Works in every VMX mode
 * and natively (the paths differ, the guest does not).
 */
#include "guest.h"

#define VEC_DEVICE 0x41
#define VEC_PING 0x42
#define VEC_PONG 0x43

static volatile uint32_t got[2][256];
static struct guest_barrier barrier;

static void on_irq(struct guest_frame *f)
{
    unsigned cpu = xapic_read(APIC_ID) >> 24;
    got[cpu & 1][f->vector & 0xFF]++;
    xapic_eoi();
}

/* A few thousand cycles of nothing, so that the steps of the demo do not
 * overlap in the window (and in the log). */
static void linger(void)
{
    for (int i = 0; i < 200; i++)
        pause();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus == 2);
    if (cpu == 0) {
        register_handler(VEC_DEVICE, on_irq);
        register_handler(VEC_PING, on_irq);
        register_handler(VEC_PONG, on_irq);
    }
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, ncpus);
    sti();
    if (cpu == 1) {
        while (!got[1][VEC_DEVICE] || !got[1][VEC_PING])
            pause();
        linger();
        xapic_send_ipi(0, VEC_PONG);
        for (;;)
            pause();
    }
    while (!got[1][VEC_DEVICE])
        pause();
    linger();
    xapic_send_ipi(1, VEC_PING);
    while (!got[0][VEC_PONG])
        pause();
    cli();
    for (unsigned v = 0; v < 256; v++) {
        GUEST_CHECK(got[0][v] == (v == VEC_PONG));
        GUEST_CHECK(got[1][v] == (v == VEC_DEVICE || v == VEC_PING));
    }
    puts("demo_posted: OK");
    return GUEST_OK;
}
