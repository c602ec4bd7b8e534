/*
 * hv_preempt_zero.c — a guest arms its own VMX-preemption timer with 0
 * through VMCS_WRITE (value, then the pin control). The next VM entry exits
 * before the first guest instruction (SDM 25.5.1); the hypervisor must
 * soft-disable the timer then (KVM: a one-shot timer, value 2^32-1), or it
 * would exit and re-enter for ever. Checks: exactly one exit 52, the value
 * the host left, and that the guest goes on. VMX modes, one vCPU.
 */
#include "guest.h"

#define F_PIN_CONTROLS 0x4000u
#define F_PREEMPT_TIMER_VALUE 0x482Eu
#define PIN_PREEMPT_TIMER (1u << 6)
#define X_PREEMPT_TIMER 52u

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0) {
        for (;;)
            sti_hlt();
    }
    uint64_t pin = 0, before = 0, after = 0, value = 0;
    GUEST_CHECK(hc_vmcs_read(F_PIN_CONTROLS, &pin) == 0);
    GUEST_CHECK(hc_exit_count(X_PREEMPT_TIMER, 0, &before) == 0);
    GUEST_CHECK(hc_vmcs_write(F_PREEMPT_TIMER_VALUE, 0, 0) == 0);
    GUEST_CHECK(hc_vmcs_write(F_PIN_CONTROLS, pin | PIN_PREEMPT_TIMER, 0) == 0);
    volatile uint64_t sum = 0;
    for (uint64_t i = 1; i <= 1000; i++)
        sum += i;
    GUEST_CHECK(sum == 500500);
    GUEST_CHECK(hc_exit_count(X_PREEMPT_TIMER, 0, &after) == 0);
    GUEST_CHECK(after == before + 1);
    GUEST_CHECK(hc_vmcs_read(F_PREEMPT_TIMER_VALUE, &value) == 0);
    GUEST_CHECK(value == 0xFFFFFFFFu);
    printf("preemption timer 0: %llu exit, then soft-disabled\n", (unsigned long long)(after - before));
    return GUEST_OK;
}
