/*
 * hv_tmcct.c — the x2APIC timer's current count (MSR 839H) counts down in
 * every mode. Under APIC virtualization the virtual-APIC page has no
 * timer, so the hypervisor must intercept this one read and answer from
 * its software APIC (as KVM does); a pass-through read returns 0.
 * Prints both readings and ends with 0 when they count down.
 */
#include "guest.h"

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return GUEST_OK;
    x2apic_enable();
    x2apic_write(0x0F0, APIC_SVR_ENABLE | 0xFF);
    x2apic_write(APIC_TIMER_DCR, 0xB); /* divide by 1 */
    x2apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | 0x40);
    x2apic_write(APIC_TIMER_ICR, 1000000);
    uint64_t first = x2apic_read(APIC_TIMER_CCR);
    for (volatile int i = 0; i < 1000; i++)
        ;
    uint64_t second = x2apic_read(APIC_TIMER_CCR);
    printf("x2APIC TMCCT: %llu then %llu\n", (unsigned long long)first,
           (unsigned long long)second);
    return first > second && second > 0 ? GUEST_OK : GUEST_FAIL;
}
