/*
 * hello.c — the smallest useful guest: every vCPU greets, vCPU 0 exits 0.
 *
 * Each vCPU computes the sum of the squares 1..1000 by a loop, checks it
 * against the closed form n(n+1)(2n+1)/6, prints it with its index, and
 * waits at a barrier so vCPU 0 does not end the run before the others
 * have spoken.
 */
#include "guest.h"

static struct guest_barrier all_greeted;

int guest_main(unsigned cpu, unsigned ncpus)
{
    const uint32_t n = 1000;
    uint64_t sum = 0;
    for (uint32_t i = 1; i <= n; i++)
        sum += (uint64_t)i * i;
    GUEST_CHECK(sum == (uint64_t)n * (n + 1) * (2 * n + 1) / 6);
    printf("hello from vCPU %u of %u: sum of squares 1..%u = %llu\n", cpu, ncpus, n,
           (unsigned long long)sum);
    guest_barrier_wait(&all_greeted, ncpus);
    return GUEST_OK;
}
