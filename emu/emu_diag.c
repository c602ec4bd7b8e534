/*
 * emu_diag.c — diagnostics that a guest can make repeat (an unimplemented
 * instruction in a loop, an IPI the hypervisor drops for each of 200 000
 * INITs): the first EMU_DIAG_REPEAT of each kind are printed, the rest
 * only counted, and emu_diag_summary prints the count at the end. 13 MB of
 * identical lines on standard error helped nobody.
 */
#include <stdarg.h>
#include <stdio.h>

#include "emu/emu.h"

static const char *const diag_names[EMU_DIAG_NKINDS] = {
    "unimplemented instruction",
    "IPI not emulated",
    "interrupt message not emulated",
    "device mode not modelled",
};

void emu_diag(emu_machine *m, emu_diag_kind kind, const char *fmt, ...)
{
    if ((unsigned)kind >= EMU_DIAG_NKINDS)
        return;
    uint64_t n = ++m->diag_count[kind];
    FILE *f = m->diag_out;
    if (!f || n > EMU_DIAG_REPEAT + 1)
        return;
    if (n == EMU_DIAG_REPEAT + 1) {
        fprintf(f, "apicv-emu: more '%s' diagnostics are counted, not printed (the total comes "
                   "at the end)\n",
                diag_names[kind]);
        return;
    }
    fputs("apicv-emu: ", f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

void emu_diag_summary(const emu_machine *m, FILE *f)
{
    for (unsigned k = 0; k < EMU_DIAG_NKINDS; k++)
        if (m->diag_count[k] > EMU_DIAG_REPEAT)
            fprintf(f, "apicv-emu: %llu '%s' diagnostics in all, %llu of them not printed\n",
                    (unsigned long long)m->diag_count[k], diag_names[k],
                    (unsigned long long)(m->diag_count[k] - EMU_DIAG_REPEAT));
}
