/*
 * emu_irq.c — interrupt lines: from devices to the 8259A pair and the I/O
 * APIC, from the I/O APIC onto the interrupt bus, and back (EOI).
 *
 * ISA IRQ line n (0..15) is input n of the 8259A pair and every line n
 * (0..23) is pin n of the I/O APIC, except IRQ 0, which is pin 2 (the PC
 * wiring ACPI's MADT describes with an interrupt source override; pin 0
 * carries the 8259's INT in ExtINT mode on a PC and is left unconnected).
 *
 * An I/O APIC message is matched against every local APIC at the cycle of
 * the access that caused it (SDM 11.6.2 destinations; lowest priority
 * 11.6.2.4) and becomes an event on each receiver's queue, applied at its
 * next boundary at or after that cycle — the same path as an IPI, logged as
 * emu.ioapic-deliver. The 8259's INT output reaches a CPU through LINT0
 * in ExtINT mode (SDM 11.5.1 "ExtINT": the vector comes from the external
 * controller's INTA cycle); a rising INT wakes those CPUs through their
 * queues.
 */
#include "emu/emu_hv.h"
#include "emu/emu_internal.h"

/* Whether CPU k takes the 8259's INT: its local APIC's LINT0 is unmasked
 * in ExtINT mode, or the APIC is globally disabled (then LINT0 is the
 * processor's INTR pin, SDM 11.4.3). */
bool emu_pic_routes_to(const emu_machine *m, unsigned k)
{
    /* Under the hypervisor: the guest's APIC of vCPU k. */
    const apic_t *a = m->hv ? emu_hv_guest_apic(m->hv, k) : &m->apic[k];
    if (!apic_hw_enabled(a))
        return k == 0;
    uint32_t e = m->hv ? emu_hv_guest_lint0(m->hv, k) : a->lvt[APIC_LVT_LINT0];
    return !(e & APIC_LVT_MASKED) &&
           ((e & APIC_LVT_DELIVERY_MASK) >> APIC_LVT_DELIVERY_SHIFT) == APIC_DM_EXTINT;
}

static void pic_kick(emu_machine *m, const emu_qevent *ev)
{
    cpu_signal(&m->cpu[ev->cpu], CPU_EVT_INTR);
}

void emu_pic_changed(emu_machine *m)
{
    if (!m->dev.pic.intr)
        return;
    for (unsigned k = 0; k < m->cfg.ncpus; k++)
        if (emu_pic_routes_to(m, k))
            emu_machine_schedule_call(m, m->dev.irq_cycle, k, pic_kick, NULL, 0);
}

void emu_irq_set_line(emu_machine *m, cpu_t *c, unsigned line, bool level)
{
    if (line >= EMU_ISA_LINES)
        return;
    emu_devices *d = &m->dev;
    d->touched = true;
    d->irq_cycle = c ? c->cycles : m->now;
    d->irq_cpu = c ? c->index : 0;
    bool was = (d->isa_lines >> line) & 1;
    if (was == level)
        return;
    if (level)
        d->isa_lines |= 1u << line;
    else
        d->isa_lines &= ~(1u << line);
    cpu_obs_emit(&m->obs, d->irq_cycle, d->irq_cpu, EMU_EV_IRQ_LINE, line, level, 0, 0);
    if (line < 16 && emu_pic_set_line(&d->pic, line, level))
        emu_pic_changed(m);
    ioapic_set_line(&d->ioapic, line == 0 ? 2 : line, level);
}

void emu_ioapic_send(void *ctx, const ioapic_msg *msg)
{
    emu_machine *m = ctx;
    uint64_t due = m->dev.irq_cycle;
    apic_ipi ipi = {
        .src_index = CPU_MAX_CPUS, /* no CPU: shorthands never apply */
        .vector = msg->vector,
        .delivery = msg->delivery,
        .logical = msg->logical,
        .level_assert = true,
        .trigger_level = msg->level,
        .dest = msg->dest,
    };
    /* Natively the physical APICs; under the hypervisor the guest's. */
    unsigned n = m->cfg.ncpus;
    apic_t *all[CPU_MAX_CPUS] = {0};
    for (unsigned k = 0; k < n; k++)
        all[k] = m->hv ? emu_hv_guest_apic(m->hv, k) : &m->apic[k];
    int only = -1;
    if (msg->delivery == APIC_DM_LOWEST) {
        only = apic_select_lowest_priority(all, n, &ipi);
        if (only < 0)
            return;
    }
    for (unsigned k = 0; k < n; k++) {
        if (only >= 0 ? (int)k != only : !apic_matches_destination(all[k], &ipi))
            continue;
        emu_qevent ev = {.cycle = due, .cpu = (uint8_t)k, .kind = EMU_Q_IOAPIC,
                         .vector = msg->vector, .ipi = ipi, .arg = msg->pin};
        emu_machine_post(m, &ev);
    }
}

/* The message arrives at the receiver's APIC (SDM 11.8.4: fixed and lowest
 * priority into IRR, TMR set for level; NMI, INIT as their pending flags).
 * Under the hypervisor a fixed or lowest-priority message is a device
 * interrupt for the vCPU, delivered the mode's way (edge). */
void emu_ioapic_deliver(emu_machine *m, const emu_qevent *ev)
{
    cpu_t *c = &m->cpu[ev->cpu];
    cpu_obs_emit(&m->obs, c->cycles, ev->cpu, EMU_EV_IOAPIC_DELIVER, ev->vector, ev->ipi.delivery,
                 ev->ipi.trigger_level, ev->arg);
    if (m->hv) {
        if (ev->ipi.delivery != APIC_DM_FIXED && ev->ipi.delivery != APIC_DM_LOWEST) {
            emu_diag(m, EMU_DIAG_MESSAGE,
                     "cpu%u: I/O APIC pin %llu: delivery mode %u not emulated by the hypervisor "
                     "(dropped)",
                     ev->cpu, (unsigned long long)ev->arg, ev->ipi.delivery);
            return;
        }
        if (ev->ipi.trigger_level)
            emu_hv_device_level(m->hv, ev->cpu, ev->vector);
        else
            emu_hv_device_msi(m->hv, ev->cpu, ev->vector);
        return;
    }
    apic_accept(&m->apic[ev->cpu], ev->vector, ev->ipi.delivery, ev->ipi.trigger_level);
}

void emu_irq_eoi(void *ctx, apic_t *a, uint8_t vector)
{
    emu_machine *m = ctx;
    m->dev.irq_cycle = a->cpu->cycles;
    m->dev.irq_cpu = a->cpu->index;
    ioapic_eoi(&m->dev.ioapic, vector);
}
