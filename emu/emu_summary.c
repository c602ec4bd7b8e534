/*
 * emu_summary.c — what a run was doing when it was stopped from outside
 * (Ctrl-C: SIGINT or SIGTERM, docs/cli.md): per CPU its RIP, the mode, the
 * clock, whether it sleeps and takes interrupts, the interrupts its local
 * APIC holds (IRR, ISR, TPR), the messages waiting on its event queue, and
 * the last few events of the bus that concern it (an emu_recent observer
 * keeps them). A guest that hangs is no longer silent.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "emu/emu.h"

/* The one flag of the signal handler (SIGINT, SIGTERM: the signal's
 * number). The handler only sets it; the run loops poll it between slices
 * and stop the machine through its API (emu_machine_interrupt). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

void emu_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* a console write in progress completes */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool emu_stop_requested(emu_machine *m)
{
    if (!stop_signal)
        return false;
    char why[64];
    snprintf(why, sizeof(why), "interrupted by %s", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
    emu_machine_interrupt(m, why);
    return true;
}

int emu_stop_signal(void)
{
    return stop_signal;
}

void emu_recent_event(void *ctx, const cpu_obs_event *ev)
{
    emu_recent *r = ctx;
    unsigned k = ev->cpu < CPU_MAX_CPUS ? ev->cpu : 0;
    r->ev[k][r->n[k] % EMU_RECENT_N] = *ev;
    r->n[k]++;
}

static const char *cpu_mode_text(unsigned mode)
{
    static const char *const names[] = {"real", "16-bit protected", "32-bit protected",
                                        "compatibility", "64-bit"};
    return mode < sizeof(names) / sizeof(names[0]) ? names[mode] : "?";
}

/* "0x41 0x80" for the vectors set in a 256-bit APIC register. */
static void vectors(const uint32_t reg[8], char *out, size_t len)
{
    size_t n = 0;
    out[0] = 0;
    for (unsigned v = 0; v < 256 && n + 8 < len; v++)
        if (reg[v / 32] >> (v % 32) & 1)
            n += (size_t)snprintf(out + n, len - n, "%s%#x", n ? " " : "", v);
    if (!n)
        snprintf(out, len, "none");
}

void emu_print_summary(FILE *f, const emu_machine *m, const emu_recent *recent)
{
    fprintf(f, "apicv-emu: the machine at cycle %" PRIu64 " (mode %s, %" PRIu64
               " instructions retired):\n",
            m->now, emu_mode_name(m->cfg.mode), emu_machine_insns(m));
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        const cpu_t *c = &m->cpu[k];
        const apic_t *a = &m->apic[k];
        char irr[200], isr[200];
        vectors(a->irr, irr, sizeof(irr));
        vectors(a->isr, isr, sizeof(isr));
        bool intr = (cpu_peek_rflags(c) & CPU_FL_IF) != 0;
        fprintf(f, "apicv-emu:   cpu%u: RIP %#" PRIx64 ", %s mode, CPL %u, cycle %" PRIu64
                   ", %s, interrupts %s\n",
                k, c->rip, cpu_mode_text(c->mode), (unsigned)c->cpl, c->cycles,
                c->halted ? "halted (HLT)" : "running", intr ? "enabled" : "disabled (IF=0)");
        fprintf(f, "apicv-emu:     local APIC: IRR %s; ISR %s; TPR %#x; %zu event(s) queued",
                irr, isr, a->tpr, m->evq[k].n);
        if (m->evq[k].n)
            fprintf(f, " (next due at cycle %" PRIu64 ")", emu_evq_next_cycle(&m->evq[k]));
        fputc('\n', f);
        if (m->hv_ops)
            fprintf(f, "apicv-emu:     (a VMX mode: the guest's virtual APIC is the "
                       "hypervisor's; the log names its interrupts)\n");
        if (!recent)
            continue;
        uint64_t n = recent->n[k], first = n > EMU_RECENT_N ? n - EMU_RECENT_N : 0;
        if (n == 0)
            fprintf(f, "apicv-emu:     no events\n");
        for (uint64_t i = first; i < n; i++) {
            char line[256];
            emu_log_format(&recent->ev[k][i % EMU_RECENT_N], line, sizeof(line));
            fprintf(f, "apicv-emu:     %s\n", line);
        }
    }
}
