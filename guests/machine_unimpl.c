/*
 * machine_unimpl.c — executes an x87 instruction (FLD1, D9 E8), which the
 * interpreter does not implement (docs/cpu-model.md: no x87/SSE). Without
 * --strict the CPU raises #UD and the runtime's default handler ends the
 * run with 0x7F; with --strict the run ends with status 3 and a diagnostic.
 */
#include "guest.h"

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    puts("machine_unimpl: FLD1");
    __asm__ volatile(".byte 0xd9, 0xe8" ::: "memory");
    return GUEST_FAIL; /* not reached */
}
