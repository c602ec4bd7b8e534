/*
 * apic_timer.c — the local APIC timer on the CPU's cycle clock (SDM Vol. 3A
 * 11.5.4): one-shot, periodic and TSC-deadline modes.
 *
 * The timer's input clock is the cycle counter divided by the divide
 * configuration. The divided clock starts when the count is (re)loaded, so
 * with initial count N and divisor D written at cycle s the count reads
 * N - floor((t - s) / D) at cycle t and reaches 0 — the interrupt — at
 * s + N * D exactly. Nothing is computed from host time; the current count
 * is always derived from the cycle at which it is read.
 */
#include "apic/apic_internal.h"

static unsigned apic_timer_mode(const apic_t *a)
{
    return (a->lvt[APIC_LVT_TIMER] & APIC_LVT_TIMER_MODE_MASK) >> APIC_LVT_TIMER_MODE_SHIFT;
}

/* SDM 11.5.4 (Figure "Divide Configuration Register"): bits 3,1:0 select
 * 2, 4, 8, 16, 32, 64, 128 and (111B) 1. */
unsigned apic_timer_divisor(const apic_t *a)
{
    unsigned d = ((a->timer_divide >> 1) & 4) | (a->timer_divide & 3);
    return d == 7 ? 1 : 2u << d;
}

/* SDM 11.5.4: the current count decrements once per divided clock; in
 * periodic mode it reloads from the initial count on reaching 0; one-shot
 * stays at 0; TSC-deadline mode reads 0. */
uint32_t apic_timer_current(const apic_t *a, uint64_t now)
{
    if (!a->timer_armed || apic_timer_mode(a) == APIC_TIMER_TSC_DEADLINE)
        return 0;
    uint64_t ticks = now > a->timer_anchor ? (now - a->timer_anchor) / apic_timer_divisor(a) : 0;
    if (ticks < a->timer_anchor_count)
        return (uint32_t)(a->timer_anchor_count - ticks);
    if (apic_timer_mode(a) == APIC_TIMER_PERIODIC && a->timer_initial)
        return (uint32_t)(a->timer_initial - (ticks - a->timer_anchor_count) % a->timer_initial);
    return 0;
}

uint64_t apic_timer_deadline(const apic_t *a)
{
    if (!apic_hw_enabled(a))
        return UINT64_MAX;
    if (apic_timer_mode(a) == APIC_TIMER_TSC_DEADLINE)
        return a->tsc_deadline ? a->tsc_deadline : UINT64_MAX;
    if (!a->timer_armed)
        return UINT64_MAX;
    return a->timer_anchor + (uint64_t)a->timer_anchor_count * apic_timer_divisor(a);
}

/*
 * Timer expiry (SDM 11.5.4, 11.5.4.1): the LVT timer interrupt is raised
 * unless masked; periodic mode reloads the initial count (several periods
 * that passed since the deadline count as expirations of one interrupt, the
 * IRR bit being one bit); one-shot stops at 0; TSC-deadline clears
 * IA32_TSC_DEADLINE.
 */
void apic_timer_advance(apic_t *a, uint64_t now)
{
    uint64_t due = apic_timer_deadline(a);
    if (due == UINT64_MAX || now < due)
        return;
    unsigned mode = apic_timer_mode(a);
    uint64_t n = 1;
    if (mode == APIC_TIMER_TSC_DEADLINE) {
        a->tsc_deadline = 0;
    } else if (mode == APIC_TIMER_PERIODIC && a->timer_initial) {
        uint64_t period = (uint64_t)a->timer_initial * apic_timer_divisor(a);
        uint64_t k = (now - due) / period;
        a->timer_anchor = due + k * period;
        a->timer_anchor_count = a->timer_initial;
        n = k + 1;
    } else {
        a->timer_armed = false;
    }
    a->timer_fired += n;
    uint32_t lvt = a->lvt[APIC_LVT_TIMER];
    apic_emit(a, APIC_EV_TIMER, lvt & APIC_LVT_VECTOR, mode, (lvt & APIC_LVT_MASKED) != 0, n);
    apic_lvt_deliver(a, APIC_LVT_TIMER);
}

/* SDM 11.5.4: writing the initial count (re)starts the count from it; 0
 * stops the timer; TSC-deadline mode ignores the write. */
void apic_timer_write_initial(apic_t *a, uint32_t v)
{
    if (apic_timer_mode(a) == APIC_TIMER_TSC_DEADLINE)
        return;
    a->timer_initial = v;
    a->timer_armed = v != 0;
    a->timer_anchor = a->cpu->cycles;
    a->timer_anchor_count = v;
}

/* A divide change while counting keeps the current count and counts on
 * from it at the new rate from this cycle (a partly elapsed input tick is
 * dropped: the SDM leaves this case unspecified). */
void apic_timer_write_divide(apic_t *a, uint32_t v)
{
    uint64_t now = a->cpu->cycles;
    if (a->timer_armed) {
        uint32_t cur = apic_timer_current(a, now);
        a->timer_anchor = now;
        a->timer_anchor_count = cur;
        a->timer_armed = cur != 0;
    }
    a->timer_divide = v;
}

/* SDM 11.5.4.1: moving between TSC-deadline mode and the other modes
 * disarms the timer (initial count and IA32_TSC_DEADLINE cleared); a switch
 * between one-shot and periodic takes effect at the next expiry. */
void apic_timer_lvt_written(apic_t *a, uint32_t before, uint32_t after)
{
    unsigned old_mode = (before & APIC_LVT_TIMER_MODE_MASK) >> APIC_LVT_TIMER_MODE_SHIFT;
    unsigned new_mode = (after & APIC_LVT_TIMER_MODE_MASK) >> APIC_LVT_TIMER_MODE_SHIFT;
    if ((old_mode == APIC_TIMER_TSC_DEADLINE) != (new_mode == APIC_TIMER_TSC_DEADLINE)) {
        a->timer_armed = false;
        a->timer_initial = 0;
        a->timer_anchor_count = 0;
        a->tsc_deadline = 0;
    }
}

/* SDM 11.5.4.1: IA32_TSC_DEADLINE reads 0 outside TSC-deadline mode. */
uint64_t apic_timer_read_deadline(const apic_t *a)
{
    return apic_timer_mode(a) == APIC_TIMER_TSC_DEADLINE ? a->tsc_deadline : 0;
}

/* SDM 11.5.4.1: in TSC-deadline mode a non-zero write arms the timer for
 * that TSC value (a past value fires at once), 0 disarms it; other modes
 * ignore the write. The TSC here is the cycle counter. */
void apic_timer_write_deadline(apic_t *a, uint64_t v)
{
    if (apic_timer_mode(a) != APIC_TIMER_TSC_DEADLINE)
        return;
    a->tsc_deadline = v;
    apic_timer_advance(a, a->cpu->cycles);
}
