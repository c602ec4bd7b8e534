/*
 * sync.c — a spin lock and a barrier for guests that use several vCPUs.
 *
 * Both spin with PAUSE; neither sleeps (a vCPU that waits keeps running
 * instructions, which keeps the run deterministic and needs no interrupts).
 */
#include "guest.h"

void guest_lock(struct guest_lock *l)
{
    while (__atomic_exchange_n(&l->held, 1u, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->held, __ATOMIC_RELAXED))
            pause();
}

void guest_unlock(struct guest_lock *l)
{
    __atomic_store_n(&l->held, 0u, __ATOMIC_RELEASE);
}

/* Sense reversal by generation count: the last arrival resets the count and
 * bumps the generation the others are spinning on. */
void guest_barrier_wait(struct guest_barrier *b, unsigned n)
{
    uint32_t gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1u, __ATOMIC_ACQ_REL) == n) {
        __atomic_store_n(&b->count, 0u, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b->generation, 1u, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen)
        pause();
}
