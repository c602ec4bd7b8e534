/*
 * emu_log.c — observers for people: the text event log and --stats.
 *
 * The log is one line per event of the bus, in the order they happen:
 *     cycle=1234 cpu=1 ev=apic.accept a=0x40 b=0 c=0 d=0 | vector 40h -> IRR, ...
 * "cycle" and "cpu" say when and where, "ev" names the kind, a..d are the
 * kind's raw fields, and after " | " the kind's descriptor says them in
 * words (emu_evdesc.h). Fixed keys first and one event per line make it
 * easy to grep, cut and parse.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "vmx/vmx.h"
#include "vmx/vmx_root.h"

static const char *cpu_event_name(unsigned kind)
{
    static const char *const names[] = {
        "cpu.exception", "cpu.interrupt", "cpu.soft-int", "cpu.double-fault",
        "cpu.triple-fault", "cpu.halt", "cpu.wake", "cpu.unimplemented",
        "cpu.cr-write", "cpu.msr-write",
    };
    unsigned k = kind - CPU_OBS_RANGE_CPU;
    return k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

const char *emu_event_name(unsigned kind)
{
    static const char *const names[EMU_EV_LAST - CPU_OBS_RANGE_EMU] = {
        "emu.console", "emu.exit-port", "emu.crash", "emu.msi-raise",
        "emu.msi-deliver", "emu.ipi-route", "emu.ipi-arrive", "emu.timer-due",
        "emu.irq-line", "emu.ioapic-deliver", "emu.pic-inta", "emu.init", "emu.sipi",
        "emu.queue-drop",
    };
    if (kind < CPU_OBS_RANGE_EMU || kind >= EMU_EV_LAST)
        return NULL;
    return names[kind - CPU_OBS_RANGE_EMU];
}

const char *emu_any_event_name(unsigned kind)
{
    const emu_evdesc *d = emu_event_desc(kind);
    if (d)
        return d->name;
    if (kind >= CPU_OBS_RANGE_EMU) {
        /* The machine, the hypervisor and the scenario runtime share the
         * range in disjoint blocks (emu.h, emu_hv.h, emu_scenario.h). */
        const char *n = emu_event_name(kind);
        if (!n)
            n = emu_hv_event_name(kind);
        if (!n)
            n = emu_scenario_event_name(kind);
        return n;
    }
    if (kind >= CPU_OBS_RANGE_VMX)
        return vmx_event_name(kind);
    if (kind >= CPU_OBS_RANGE_APIC)
        return apic_event_name(kind);
    return cpu_event_name(kind);
}

void emu_log_format(const cpu_obs_event *ev, char *buf, size_t len)
{
    const char *name = emu_any_event_name(ev->kind);
    char unknown[16];
    if (!name) {
        snprintf(unknown, sizeof(unknown), "kind.%#x", ev->kind);
        name = unknown;
    }
    int n = snprintf(buf, len, "cycle=%" PRIu64 " cpu=%u ev=%s a=%#" PRIx64 " b=%#" PRIx64
                               " c=%#" PRIx64 " d=%#" PRIx64,
                     ev->cycle, ev->cpu, name, ev->a, ev->b, ev->c, ev->d);
    if (n > 0 && (size_t)n + 4 < len && emu_event_desc(ev->kind)) {
        memcpy(buf + n, " | ", 4);
        emu_event_describe(ev, buf + n + 3, len - (size_t)n - 3);
    }
}

void emu_log_event(void *ctx, const cpu_obs_event *ev)
{
    emu_log *log = ctx;
    char line[384];
    emu_log_format(ev, line, sizeof(line));
    fputs(line, log->f);
    fputc('\n', log->f);
    log->lines++;
    /* A full disk shows when the buffer is written out: stop there, not
     * after a run that may never end. */
    if (!log->failed && ferror(log->f)) {
        log->failed = true;
        if (log->stop)
            emu_machine_stop(log->stop, EMU_EXIT_USAGE, "--log %s: write failed",
                             log->path ? log->path : "");
    }
}

void emu_print_stats(FILE *f, const emu_machine *m, double secs)
{
    uint64_t insns = emu_machine_insns(m);
    /* The run's length is the furthest CPU's clock (what the vCPUs show);
     * the global clock stops at the round where the run ended. */
    uint64_t cycles = m->now;
    for (unsigned k = 0; k < m->cfg.ncpus; k++)
        if (m->cpu[k].cycles > cycles)
            cycles = m->cpu[k].cycles;
    fprintf(f, "stats: mode %s, %u cpu(s), %" PRIu64 " cycles (global clock %" PRIu64 "), %" PRIu64
               " instructions, %.3f s, %.1f MIPS\n",
            emu_mode_name(m->cfg.mode), m->cfg.ncpus, cycles, m->now, insns, secs,
            secs > 0 ? (double)insns / secs / 1e6 : 0.0);
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        const cpu_t *c = &m->cpu[k];
        fprintf(f, "stats: cpu%u: %" PRIu64 " cycles, %" PRIu64 " instructions, %" PRIu64
                   " unimplemented, %" PRIu64 " APIC timer expirations\n",
                k, c->cycles, c->insns, c->unimplemented_count, m->apic[k].timer_fired);
    }
    /* Interrupts per delivery path, as the guest took them: natively from
     * the CPU's local APIC (and NMIs); under the hypervisor injected at VM
     * entry (external interrupts, NMIs: "vnmi") or delivered by
     * virtual-interrupt delivery (SDM 30.2.2: "vid", whatever put the
     * vector in VIRR: the hypervisor, posted-interrupt processing,
     * self-IPI virtualization); "posted" counts the interrupts the
     * hypervisor routed through a posted-interrupt descriptor. */
    const emu_hv *hv = m->cfg.mode != EMU_MODE_NATIVE ? m->hv : NULL;
    fprintf(f, "stats: interrupts delivered per path:\n");
    fprintf(f, "stats:   %-6s %12s %12s", "cpu", "apic", "nmi");
    if (hv)
        fprintf(f, " %12s %12s %12s %12s", "injection", "vid", "vnmi", "posted");
    fputc('\n', f);
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        fprintf(f, "stats:   cpu%-3u %12" PRIu64 " %12" PRIu64, k, m->stats.intr_apic[k],
                m->stats.nmi[k]);
        if (hv && k < hv->ncpus) {
            const vmx_vcpu *v = &hv->vcpu[k].vmx;
            fprintf(f, " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64, v->injected_ext,
                    v->vid_delivered, v->injected_nmi,
                    emu_hv_delivered(hv, k, EMU_HV_PATH_POSTED));
        }
        fputc('\n', f);
    }
    if (m->hv_ops)
        /* The hypervisor routes guest IPIs as messages to the target vCPU,
         * through the same queue as device MSIs (docs/hypervisor.md). */
        fprintf(f, "stats: interrupt messages (device MSIs and guest IPIs) raised %" PRIu64
                   ", delivered %" PRIu64 ", dropped %" PRIu64 "\n",
                m->stats.msi_raised, m->stats.msi_delivered, m->stats.msi_dropped);
    else
        fprintf(f, "stats: IPIs routed %" PRIu64 "; device MSIs raised %" PRIu64
                   ", delivered %" PRIu64 ", dropped %" PRIu64 "\n",
                m->stats.ipis_routed, m->stats.msi_raised, m->stats.msi_delivered,
                m->stats.msi_dropped);
    uint64_t qd = 0;
    for (unsigned k = 0; k < m->cfg.ncpus; k++)
        qd += m->stats.queue_dropped[k];
    fprintf(f, "stats: event queues: at most %u pending events per CPU; events dropped on a full "
               "queue %" PRIu64,
            EMU_EVQ_MAX, qd);
    for (unsigned k = 0; qd && k < m->cfg.ncpus; k++)
        fprintf(f, " cpu%u=%" PRIu64, k, m->stats.queue_dropped[k]);
    fputc('\n', f);
    if (!m->hv_ops || !m->hv_ops->exit_count) {
        /* Native mode: the guest may be a hypervisor itself (vmx_root.h). */
        uint64_t total = 0;
        for (unsigned k = 0; m->vroot && k < m->cfg.ncpus; k++)
            total += m->vroot[k].v.exits;
        if (!total) {
            fprintf(f, "stats: VM exits: none (mode %s runs no hypervisor)\n",
                    emu_mode_name(m->cfg.mode));
            return;
        }
        fprintf(f, "stats: VM exits to the guest's own hypervisor (VMX root) per reason per CPU:\n");
        for (unsigned reason = 0; reason < VMX_EXIT_NREASONS; reason++) {
            uint64_t any = 0;
            for (unsigned k = 0; k < m->cfg.ncpus; k++)
                any += m->vroot[k].v.exit_count[reason];
            if (!any)
                continue;
            char name[64];
            fprintf(f, "stats:   reason %-28s:", emu_exit_reason_text(reason, name, sizeof(name)));
            for (unsigned k = 0; k < m->cfg.ncpus; k++)
                fprintf(f, " cpu%u=%" PRIu64, k, m->vroot[k].v.exit_count[reason]);
            fputc('\n', f);
        }
        return;
    }
    fprintf(f, "stats: VM exits per reason per vCPU:\n");
    for (unsigned reason = 0; reason < 80; reason++) {
        uint64_t any = 0;
        for (unsigned k = 0; k < m->cfg.ncpus; k++)
            any += m->hv_ops->exit_count(m, k, reason);
        if (!any)
            continue;
        char name[64];
        fprintf(f, "stats:   reason %-28s:", emu_exit_reason_text(reason, name, sizeof(name)));
        for (unsigned k = 0; k < m->cfg.ncpus; k++)
            fprintf(f, " vcpu%u=%" PRIu64, k, m->hv_ops->exit_count(m, k, reason));
        fputc('\n', f);
    }
}
