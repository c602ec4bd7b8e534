/*
 * tsc_deadline_past.c — a TSC deadline that has already passed when it is
 * written fires at once (SDM 11.5.4.1 "TSC-Deadline Mode": the timer
 * interrupt is generated when the TSC reaches or passes the value written).
 * One CPU, xAPIC then x2APIC: LVT timer in TSC-deadline mode (bits 18:17 =
 * 10b), vector EFH, IA32_TSC_DEADLINE := RDTSC, then CPUID to serialize;
 * with RFLAGS.IF = 1 the handler must have run once by then, and
 * IA32_TSC_DEADLINE reads 0 afterwards (it is cleared when the timer fires).
 * Prints "tsc deadline past: xapic 1, x2apic 1" and exits 0.
 */
#include "guest.h"

#define MSR_TSC_DEADLINE 0x6E0
#define VEC 0xEF

static volatile uint32_t count;
static volatile int x2;

static void on_timer(struct guest_frame *f)
{
    (void)f;
    count++;
    if (x2)
        x2apic_eoi();
    else
        xapic_eoi();
}

static uint32_t fire_once(void)
{
    uint32_t out[4];
    count = 0;
    if (x2)
        x2apic_write(APIC_LVT_TIMER, (2u << 17) | VEC);
    else
        xapic_write(APIC_LVT_TIMER, (2u << 17) | VEC);
    wrmsr(MSR_TSC_DEADLINE, rdtsc());
    cpuid(0, 0, out);
    uint32_t n = count;
    GUEST_CHECK(rdmsr(MSR_TSC_DEADLINE) == 0);
    return n;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(VEC, on_timer);
    xapic_enable(0xFF);
    sti();
    uint32_t a = fire_once();
    x2apic_enable();
    x2 = 1;
    uint32_t b = fire_once();
    printf("tsc deadline past: xapic %u, x2apic %u\n", a, b);
    GUEST_CHECK(a == 1 && b == 1);
    return GUEST_OK;
}
