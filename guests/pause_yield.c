/*
 * pause_yield.c — a CPU spinning on PAUSE sees what a CPU after it in the
 * scheduling round writes at about the cycle it is written, not a round
 * later (docs/machine.md, "PAUSE yields"; SDM Vol. 2 "PAUSE": a spin-wait
 * loop hint). CPU 0 asks CPU 1 to write a flag at a TSC value it picks,
 * spins on PAUSE until the flag is set and measures how many cycles after
 * the write it saw it; TRIALS times, at different phases of the round.
 * Without the yield the worst is up to a whole scheduling round (10 000
 * cycles by default); with it, within the yield gap (1000 cycles) and a
 * few loop iterations. The TSCs of the CPUs are one clock (the cycle
 * counters; no TSC offset). Prints "pause_yield: OK" and exits 0.
 */
#include "guest.h"

#define TRIALS 8
#define WORST_ALLOWED 2500

static volatile uint64_t go[TRIALS], written[TRIALS];
static volatile uint32_t flag[TRIALS];

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus >= 2);
    if (cpu >= 2)
        return 0;
    if (cpu == 1) {
        /* No PAUSE here: only CPU 0's waiting is under test. */
        for (unsigned i = 0; i < TRIALS; i++) {
            while (!go[i])
                ;
            while (rdtsc() < go[i])
                ;
            written[i] = rdtsc();
            flag[i] = 1;
        }
        return 0;
    }
    int64_t worst = 0;
    for (unsigned i = 0; i < TRIALS; i++) {
        go[i] = rdtsc() + 3000 + 1237 * i;
        while (!flag[i])
            pause();
        int64_t late = (int64_t)(rdtsc() - written[i]);
        if (late > worst)
            worst = late;
    }
    printf("pause_yield: worst %d cycles\n", (int)worst);
    GUEST_CHECK(worst < WORST_ALLOWED);
    printf("pause_yield: OK\n");
    return GUEST_OK;
}
