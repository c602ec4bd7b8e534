/*
 * hang.c — a guest that never ends, for the tests of interrupting a run
 * (SIGINT/SIGTERM) and of output failures (tests/emu/test_interrupt.c).
 *
 * vCPU 0 prints "hang: spinning" and a line per 64 ticks, with its local
 * APIC timer periodic (vector 0x40 every 20000 cycles, so the event log
 * keeps growing), and spins forever with interrupts enabled. Other vCPUs
 * halt with interrupts disabled.
 */
#include "guest.h"

#define VEC_TICK 0x40

static volatile uint64_t ticks;

static void on_tick(struct guest_frame *f)
{
    (void)f;
    ticks++;
    xapic_eoi();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0) {
        for (;;) {
            cli();
            hlt();
        }
    }
    register_handler(VEC_TICK, on_tick);
    xapic_enable(0xFF);
    xapic_write(APIC_TIMER_DCR, 0xB); /* divide by 1 */
    xapic_write(APIC_LVT_TIMER, VEC_TICK | APIC_LVT_TIMER_PERIODIC);
    xapic_write(APIC_TIMER_ICR, 20000);
    puts("hang: spinning");
    sti();
    uint64_t said = 0;
    for (;;) {
        if (ticks / 64 != said) {
            said = ticks / 64;
            printf("hang: %llu ticks\n", (unsigned long long)ticks);
        }
        pause();
    }
}
