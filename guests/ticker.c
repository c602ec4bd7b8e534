/* ticker.c — every vCPU raises INT 0x80 ten times; a handler keeps count. */
#include "guest.h"

#define VEC_TICK 0x80

static volatile uint32_t ticks[8];      /* one counter per vCPU (at most 8) */
static struct guest_barrier barrier;    /* zero-initialised: ready to use */

/* Runs with IF = 0 on the vCPU that executed INT 0x80. The frame holds that
 * vCPU's registers: read the arguments from it, write a result into it. */
static void on_tick(struct guest_frame *f)
{
    ticks[f->rdi] += (uint32_t)f->rsi;
    f->rax = ticks[f->rdi];
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    if (cpu == 0)
        register_handler(VEC_TICK, on_tick);
    guest_barrier_wait(&barrier, ncpus);    /* nobody raises the vector before it has a handler */

    uint64_t total = 0;
    for (uint64_t i = 1; i <= 10; i++)
        __asm__ volatile("int $0x80" : "=a"(total) : "D"((uint64_t)cpu), "S"(i) : "memory");
    printf("vCPU %u of %u: total %llu\n", cpu, ncpus, (unsigned long long)total);

    guest_barrier_wait(&barrier, ncpus);    /* vCPU 0's return ends the run: wait for all */
    if (cpu == 0) {
        for (unsigned k = 0; k < ncpus; k++)
            GUEST_CHECK(ticks[k] == 55);
        puts("ticker: OK");
    }
    return GUEST_OK;
}
