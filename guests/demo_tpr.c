/*
 * demo_tpr.c — the guest of scenarios/tpr_mask_*.scn: the task priority
 * holds back an interrupt of a lower priority class (SDM Vol. 3A 11.8.3.1;
 * under VMX: TPR shadow, PPR virtualization, 30.1.2-30.1.3 and 30.3).
 *
 * One vCPU enables its xAPIC, sets RFLAGS.IF and raises CR8 to 5 (TPR 50H:
 * classes 5 and below are masked). The scenario sends vector 0x51 (class 5:
 * held back) and then 0x61 (class 6: taken at once). After 0x61 has been
 * handled the guest waits HOLD cycles more, still with 0x51 pending, then
 * lowers CR8 to 0: 0x51 must arrive before the next instruction. It checks
 * each step (GUEST_FAIL otherwise), prints "demo_tpr: OK" and ends with 0.
 */
#include "guest.h"

#define VEC_LOW 0x51
#define VEC_HIGH 0x61
#define HOLD 20000u

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
        return GUEST_OK;
    register_handler(VEC_LOW, on_irq);
    register_handler(VEC_HIGH, on_irq);
    xapic_enable(0xFF);
    sti();
    write_cr8(5);
    while (!got[VEC_HIGH])
        pause();
    GUEST_CHECK(got[VEC_LOW] == 0);
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < HOLD)
        pause();
    GUEST_CHECK(got[VEC_LOW] == 0);
    write_cr8(0);
    GUEST_CHECK(got[VEC_LOW] == 1);
    cli();
    GUEST_CHECK(got[VEC_HIGH] == 1);
    puts("demo_tpr: OK");
    return GUEST_OK;
}
