/*
 * compare_load.c — the built-in workload of `apicv-emu compare`: the same
 * interrupts in every mode, so the modes can be compared.
 *
 * Every vCPU runs `rounds` rounds of about `period` cycles of work; in each
 * round it sends a fixed IPI to the next vCPU (vector 51h, xAPIC ICR), a
 * self-IPI (52h, ICR with the "self" shorthand: self-IPI virtualization in
 * apicv/posted modes, SDM 30.1.5) and arms its APIC timer one-shot for
 * half a period (53h, SDM 11.5.4). Device MSIs (50h) come from outside:
 * `compare` posts `msis` of them per vCPU, one a period. Handlers count
 * and write EOI. At the end each vCPU waits until every interrupt it is
 * owed has arrived, and vCPU 0 ends the run with 0 (GUEST_FAIL when one
 * never came). The vCPUs never halt, so no exit is a HLT exit: what the
 * modes differ in is only how interrupts travel.
 *
 * Parameters: `compare` finds the block below in guest memory by its magic
 * and writes its options into it before the run; run alone, the guest uses
 * the defaults (no MSIs).
 */
#include "guest.h"

#define VEC_MSI 0x50
#define VEC_IPI 0x51
#define VEC_SELF 0x52
#define VEC_TIMER 0x53

/* Layout known to emu/emu_compare.c: magic, then 32-bit words. */
volatile struct compare_params {
    char magic[8];
    uint32_t rounds; /* rounds of work per vCPU */
    uint32_t period; /* cycles of work per round (approximately) */
    uint32_t msis;   /* device MSIs each vCPU will receive */
    uint32_t kinds;  /* bit 0 IPIs, bit 1 self-IPIs, bit 2 timer */
} compare_params = {{'A', 'P', 'I', 'C', 'V', 'C', 'M', 'P'}, 16, 20000, 0, 7};

static volatile uint32_t got[4];
static struct guest_barrier barrier;

static void on_irq(struct guest_frame *f)
{
    atomic_add(&got[(f->vector - VEC_MSI) & 3], 1);
    xapic_eoi();
}

/* About `cycles` cycles of guest work: the same instructions in every mode. */
static void work(uint32_t cycles)
{
    for (uint32_t i = 0; i < cycles / 4; i++)
        pause();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    uint32_t rounds = compare_params.rounds, period = compare_params.period;
    uint32_t kinds = compare_params.kinds;
    if (ncpus < 2)
        kinds &= ~1u; /* nobody to send an IPI to */
    if (cpu == 0)
        for (unsigned v = VEC_MSI; v <= VEC_TIMER; v++)
            register_handler(v, on_irq);
    xapic_enable(0xFF);
    xapic_write(APIC_TIMER_DCR, 0xB); /* divide by 1 */
    xapic_write(APIC_LVT_TIMER, VEC_TIMER);
    guest_barrier_wait(&barrier, ncpus);
    sti();
    for (uint32_t r = 0; r < rounds; r++) {
        if (kinds & 4)
            xapic_write(APIC_TIMER_ICR, period / 2);
        work(period / 2);
        if (kinds & 1)
            xapic_send_ipi((cpu + 1) % ncpus, VEC_IPI);
        if (kinds & 2)
            xapic_write(APIC_ICR_LO, (1u << 18) | APIC_ICR_DELIVERY_FIXED | APIC_ICR_ASSERT | VEC_SELF);
        work(period / 2);
    }
    /* Everything owed to every vCPU, with a bound so a lost interrupt ends
     * the run with a failure instead of a hang. */
    const uint32_t want[4] = {compare_params.msis * ncpus, (kinds & 1) ? rounds * ncpus : 0,
                              (kinds & 2) ? rounds * ncpus : 0, (kinds & 4) ? rounds * ncpus : 0};
    uint64_t spins = 0;
    for (unsigned k = 0; k < 4; k++)
        while (atomic_load(&got[k]) < want[k] && spins++ < 100000ull + 10ull * rounds * period)
            pause();
    guest_barrier_wait(&barrier, ncpus);
    if (cpu != 0)
        return 0;
    int ok = 1;
    for (unsigned k = 0; k < 4; k++)
        ok &= atomic_load(&got[k]) == want[k];
    if (!ok)
        printf("compare_load: got %u %u %u %u, wanted %u %u %u %u\n", got[0], got[1], got[2], got[3],
               want[0], want[1], want[2], want[3]);
    return ok ? 0 : GUEST_FAIL;
}
