/*
 * demo_hlt.c — the guest of scenarios/hlt_wakeup_posted.scn: a vCPU that
 * waits for interrupts asleep in HLT instead of spinning.
 *
 * vCPU 0 enables its xAPIC and sleeps with STI; HLT (the STI shadow covers
 * the HLT, so no interrupt slips in between) until DEMO_N interrupts have
 * arrived; each handler counts and writes EOI. Then it prints
 * "demo_hlt: N interrupts" and ends the run with 0. Under a hypervisor
 * with HLT exiting every HLT is a VM exit (12) and the vCPU is blocked
 * until the hypervisor sees an interrupt it can take.
 */
#include "guest.h"

#define DEMO_N 2

static volatile uint32_t got;

static void on_irq(struct guest_frame *f)
{
    (void)f;
    got++;
    xapic_eoi();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return GUEST_OK;
    for (unsigned v = 0x20; v < 0xFF; v++)
        register_handler(v, on_irq);
    xapic_enable(0xFF);
    for (;;) {
        cli();
        if (got >= DEMO_N)
            break;
        sti_hlt();
    }
    printf("demo_hlt: %u interrupts\n", (unsigned)got);
    return GUEST_OK;
}
