/*
 * emu_msi.c — an MSI-capable device.
 *
 * The device raises edge-triggered, fixed-delivery message-signalled
 * interrupts (SDM Vol. 3A 11.11: an MSI is a write of a vector and
 * destination to the interrupt bus). A raise is an event on the
 * destination CPU's queue at the cycle it is due; at that CPU's next
 * instruction boundary at or after it the message arrives and is delivered
 * the current mode's way: in native mode the CPU's local APIC accepts it
 * (apic_accept, fixed, edge); under the hypervisor hv_ops->deliver_msi does
 * (posting, virtual APIC, injection).
 *
 * Native guests have no hypercalls (VMCALL is #UD), so the device also has
 * a register on I/O port 0xF0: OUT of a dword v raises vector v[7:0] for
 * CPU v[15:8], v[31:16] cycles after the OUT. This extends the guest ABI
 * (docs/machine.md); ports 0xE9 and 0xF4 are unchanged.
 */
#include "emu/emu_internal.h"

void emu_msi_raise(emu_machine *m, uint8_t vector, unsigned dest, uint64_t due, unsigned src_cpu)
{
    bool dropped = dest >= m->cfg.ncpus;
    m->stats.msi_raised++;
    cpu_obs_emit(&m->obs, src_cpu < m->cfg.ncpus ? m->cpu[src_cpu].cycles : m->now, src_cpu,
                 EMU_EV_MSI_RAISE, vector, dest, due, dropped);
    if (dropped) {
        m->stats.msi_dropped++;
        return;
    }
    emu_qevent ev = {.cycle = due, .cpu = (uint8_t)dest, .kind = EMU_Q_MSI, .vector = vector};
    /* A full queue drops the message: emu_machine_post logs it
     * (emu.queue-drop); it is one more message the device lost. */
    if (!emu_machine_post(m, &ev))
        m->stats.msi_dropped++;
}

bool emu_msi_port_write(emu_machine *m, cpu_t *c, uint32_t value)
{
    uint8_t vector = (uint8_t)value;
    unsigned dest = (value >> 8) & 0xFF;
    uint64_t delay = value >> 16;
    emu_msi_raise(m, vector, dest, emu_cycle_after(c->cycles, delay), c->index);
    return true;
}
