/*
 * fault.c — shows the runtime's default exception handler at work.
 *
 * Writes to 4 GiB, just past the boot identity map, with no #PF handler
 * registered. The default handler prints
 *     guest: unhandled vector 14 (#PF) error 0x2 at RIP ... CR2 0x100000000
 * and ends the run with GUEST_EXIT_UNHANDLED (0x7F = 127). That status is
 * this guest's expected outcome; the line before it is printed first so a
 * test can tell "faulted where intended" from "never started".
 */
#include "guest.h"

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    printf("fault: writing to 0x100000000 with no #PF handler\n");
    *(volatile uint8_t *)(uintptr_t)0x100000000ull = 1;
    printf("fault: the write did not fault\n");
    return GUEST_FAIL;
}
