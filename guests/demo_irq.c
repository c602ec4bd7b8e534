/*
 * demo_irq.c — the guest of the teaching scenarios about device interrupts
 * (scenarios/irq_*.scn, desched_posted.scn): every vCPU waits, running, for
 * whatever interrupts the scenario sends it.
 *
 * Every vCPU enables its xAPIC, sets RFLAGS.IF and spins on PAUSE and
 * RDTSC until the time stamp counter reaches DEMO_END cycles; the handler
 * (any vector 0x20..0xFE) counts the vector and writes EOI (xAPIC 0B0H);
 * an NMI (a scenario's `nmi`, scenarios/nmi_window_posted.scn) is counted
 * as vector 2, without EOI.
 * Nothing in the loop or the handler exits on its own in any VMX mode but
 * the EOI write (which exits where the mode does not virtualize it), so
 * the VM exits a vCPU takes while it waits are those its interrupts cost.
 * Then vCPU 0 prints one line per vector received,
 *     demo_irq: vector 0x41 x4
 * and ends the run with 0.
 */
#include "guest.h"

#define DEMO_END 150000u

static volatile uint32_t got[256];
static struct guest_barrier barrier;

static void on_irq(struct guest_frame *f)
{
    atomic_add(&got[f->vector & 0xFF], 1);
    xapic_eoi();
}

/* An NMI (a scenario's `nmi` stimulus) is counted as vector 2; it has no
 * EOI (SDM 11.8.5: only fixed interrupts are in service). */
static void on_nmi(struct guest_frame *f)
{
    (void)f;
    atomic_add(&got[2], 1);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    if (cpu == 0) {
        register_handler(2, on_nmi);
        for (unsigned v = 0x20; v < 0xFF; v++)
            register_handler(v, on_irq);
    }
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, ncpus);
    sti();
    while (rdtsc() < DEMO_END)
        pause();
    cli();
    guest_barrier_wait(&barrier, ncpus);
    if (cpu != 0)
        return GUEST_OK;
    for (unsigned v = 0; v < 256; v++)
        if (got[v])
            printf("demo_irq: vector %#x x%u\n", v, (unsigned)got[v]);
    return GUEST_OK;
}
