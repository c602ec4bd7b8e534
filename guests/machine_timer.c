/*
 * machine_timer.c — the local APIC timer of vCPU 0 on the cycle clock
 * (SDM Vol. 3A 11.5.4): one-shot, periodic, then TSC-deadline.
 *
 *   one-shot:     divide by 1, initial count 5000: exactly one interrupt,
 *                 no earlier than 5000 cycles after the count was written;
 *   periodic:     divide by 2, initial count 15000 (a 30000-cycle period,
 *                 long enough for the exits an emulated APIC takes for
 *                 each interrupt, docs/cost-model.md):
 *                 5 interrupts, each no earlier than the previous + 30000,
 *                 then the timer is stopped (initial count 0);
 *   TSC deadline: IA32_TSC_DEADLINE = now + 7000: one interrupt, at or
 *                 after that TSC value, and the MSR reads 0 afterwards.
 * Interrupt times are taken with RDTSC (the cycle counter) in the handler.
 * Prints "machine_timer: oneshot=D periodic=D1,D2,.. deadline=T late=L" and
 * exits 0 when every check holds, GUEST_FAIL otherwise. 1 vCPU is enough;
 * the others park.
 */
#include "guest.h"

#define VEC_TIMER 0x60
#define MSR_TSC_DEADLINE 0x6E0
#define PERIODS 5

static volatile uint32_t fired;
static volatile uint64_t when[16];

static void on_timer(struct guest_frame *f)
{
    (void)f;
    if (fired < 16)
        when[fired] = rdtsc();
    fired++;
    xapic_eoi();
}

static void wait_fired(uint32_t n)
{
    for (;;) {
        cli();
        if (fired >= n)
            break;
        sti_hlt();
    }
    sti();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(VEC_TIMER, on_timer);
    xapic_enable(0xFF);
    sti();

    /* One-shot, divide by 1 (DCR 1011b). */
    xapic_write(APIC_TIMER_DCR, 0xB);
    xapic_write(APIC_LVT_TIMER, VEC_TIMER);
    uint64_t t0 = rdtsc();
    xapic_write(APIC_TIMER_ICR, 5000);
    wait_fired(1);
    uint64_t oneshot = when[0] - t0;
    /* Under a hypervisor the ICR write's exit, the HLT exit and the
     * injection's entry come on top (docs/cost-model.md: with the default
     * costs, under 8000 cycles in emulated mode). */
    GUEST_CHECK(oneshot >= 5000 && oneshot < 5000 + 8000);
    for (int i = 0; i < 2000; i++)
        pause();
    GUEST_CHECK(fired == 1);
    GUEST_CHECK(xapic_read(APIC_TIMER_CCR) == 0);

    /* Periodic, divide by 2 (DCR 0000b). */
    fired = 0;
    xapic_write(APIC_TIMER_DCR, 0x0);
    xapic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | VEC_TIMER);
    t0 = rdtsc();
    xapic_write(APIC_TIMER_ICR, 15000);
    wait_fired(PERIODS);
    xapic_write(APIC_TIMER_ICR, 0);
    uint32_t n_periodic = fired;
    GUEST_CHECK(n_periodic == PERIODS);
    uint64_t prev = t0, periodic[PERIODS];
    for (unsigned k = 0; k < PERIODS; k++) {
        periodic[k] = when[k] - t0;
        GUEST_CHECK(when[k] - t0 >= 30000ull * (k + 1));
        GUEST_CHECK(when[k] - t0 < 30000ull * (k + 1) + 8000);
        GUEST_CHECK(when[k] > prev);
        prev = when[k];
    }

    /* TSC-deadline mode (LVT timer mode 10b). */
    fired = 0;
    xapic_write(APIC_LVT_TIMER, (2u << 17) | VEC_TIMER);
    uint64_t deadline = rdtsc() + 7000;
    wrmsr(MSR_TSC_DEADLINE, deadline);
    wait_fired(1);
    GUEST_CHECK(when[0] >= deadline && when[0] < deadline + 8000);
    GUEST_CHECK(rdmsr(MSR_TSC_DEADLINE) == 0);
    cli();

    printf("machine_timer: oneshot=%llu periodic=", (unsigned long long)oneshot);
    for (unsigned k = 0; k < PERIODS; k++)
        printf("%s%llu", k ? "," : "", (unsigned long long)periodic[k]);
    printf(" deadline=%llu late=%llu OK\n", (unsigned long long)deadline,
           (unsigned long long)(when[0] - deadline));
    return GUEST_OK;
}
