/*
 * emu_smp.c — INIT and STARTUP IPIs: the multiprocessor start-up protocol
 * (SDM Vol. 3A 9.4 "Multiple-Processor (MP) Initialization", 9.1.1
 * "Processor State After Reset", 11.4.7.3 "Local APIC State After an INIT
 * Reset (Wait-for-SIPI State)", 11.6.1 delivery modes INIT and Start-Up).
 *
 * An INIT message (physical, logical or a shorthand: apic/ matches it as
 * any IPI) resets the receiving CPU's registers and its local APIC (ID,
 * IA32_APIC_BASE and mode kept) and puts the CPU in the wait-for-SIPI
 * state: it executes nothing and takes no interrupt, NMI or SMI. A STARTUP
 * message with vector V then starts it in real mode at CS = V << 8 (base
 * V << 12), IP = 0. A SIPI to a CPU that is not waiting is ignored (SDM
 * 9.4.4.1: the second SIPI of INIT-SIPI-SIPI is dropped by a CPU already
 * started). Both are applied at the receiver's instruction boundary, like
 * every cross-CPU effect.
 *
 * Our ABI guests start every CPU at e_entry (guest ABI "State at entry");
 * only kernels booted by the multiboot loader start with every CPU but
 * CPU 0 waiting for SIPI (emu_smp_hold_aps).
 */
#include "emu/emu_internal.h"

/* The register state of SDM Table 9-1 — after INIT (init): real mode at
 * F000:FFF0, CR0.CD/NW kept, EDX = the signature, the MSRs kept; after
 * RESET the power-up values — and the wait-for-SIPI state. */
static void wait_for_sipi(emu_machine *m, unsigned k, bool init)
{
    cpu_t *c = &m->cpu[k];
    cpu_wait_for_sipi(c, init);
    apic_init_reset(&m->apic[k]);
    m->wait_sipi[k] = true;
    cpu_obs_emit(&m->obs, c->cycles, k, EMU_EV_INIT, 0, 0, 0, 0);
}

void emu_smp_wait_for_sipi(emu_machine *m, unsigned k)
{
    wait_for_sipi(m, k, true);
}

/* After RESET every AP waits for SIPI (SDM 9.4.1). */
void emu_smp_hold_aps(emu_machine *m)
{
    for (unsigned k = 1; k < m->cfg.ncpus; k++)
        wait_for_sipi(m, k, false);
}

/* STARTUP (SDM 9.4.4, 11.6.1 "Start-Up"): real mode, CS:IP = VV00:0000. */
static void start_up(emu_machine *m, cpu_t *c, uint8_t vector)
{
    cpu_start_sipi(c, vector);
    m->wait_sipi[c->index] = false;
    cpu_obs_emit(&m->obs, c->cycles, c->index, EMU_EV_SIPI, vector, 0, 0, 0);
}

bool emu_smp_events(emu_machine *m, cpu_t *c)
{
    apic_t *a = &m->apic[c->index];
    if (apic_take_init(a))
        emu_smp_wait_for_sipi(m, c->index);
    int v = apic_take_sipi(a);
    if (v >= 0 && m->wait_sipi[c->index])
        start_up(m, c, (uint8_t)v);
    return m->wait_sipi[c->index];
}
