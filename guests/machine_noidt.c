/*
 * machine_noidt.c — a guest that crashes the way the guest ABI describes:
 * it loads an empty IDT (limit 0) and raises #UD. The exception cannot be
 * delivered (#GP on the IDT limit, then #DF, then shutdown), so the run
 * must end with status 3 and a diagnostic naming the CPU, the RIP and the
 * instruction bytes (0f 0b, UD2).
 */
#include "guest.h"

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {0, 0};
    puts("machine_noidt: loading an empty IDT, then UD2");
    __asm__ volatile("lidt %0; ud2" ::"m"(idtr) : "memory");
    return GUEST_FAIL; /* not reached */
}
