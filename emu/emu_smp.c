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
#include <string.h>

#include "emu/emu_internal.h"

/* The register state after INIT (SDM Table 9-1, "Following INIT" column):
 * real mode at F000:FFF0, CR0 = 60000010H, flat 64-KByte segments, EDX =
 * the processor signature; MSRs, x87/SSE state and caches keep what they
 * had. */
static void init_cpu_state(cpu_t *c)
{
    memset(c->gpr, 0, sizeof(c->gpr));
    uint32_t sig[4];
    cpu_cpuid(c, 1, 0, sig);
    c->gpr[CPU_RDX] = sig[0];
    c->rip = 0xFFF0;
    cpu_set_rflags(c, CPU_FL_FIXED1);
    c->cr0 = 0x60000010ull;
    c->cr2 = c->cr3 = c->cr4 = 0;
    c->cr8 = 0;
    c->efer = 0;
    for (unsigned k = 0; k < CPU_NSEG; k++)
        c->seg[k] = (cpu_seg){.sel = 0, .attr = 0x93, .limit = 0xFFFF, .base = 0};
    c->seg[CPU_CS] = (cpu_seg){.sel = 0xF000, .attr = 0x9B, .limit = 0xFFFF, .base = 0xFFFF0000ull};
    c->gdtr.base = 0, c->gdtr.limit = 0xFFFF;
    c->idtr.base = 0, c->idtr.limit = 0xFFFF;
    c->ldtr = (cpu_seg){.sel = 0, .attr = 0x82, .limit = 0xFFFF, .base = 0};
    c->tr = (cpu_seg){.sel = 0, .attr = 0x8B, .limit = 0xFFFF, .base = 0};
    memset(c->dr, 0, sizeof(c->dr));
    c->dr[6] = 0xFFFF0FF0ull;
    c->dr[7] = 0x400;
    c->cpl = 0;
    c->mode = CPU_MODE_REAL;
    c->nmi_blocked = false;
    c->events &= ~(uint32_t)CPU_EVT_SHADOW;
    cpu_tlb_flush(c);
}

void emu_smp_wait_for_sipi(emu_machine *m, unsigned k)
{
    cpu_t *c = &m->cpu[k];
    init_cpu_state(c);
    apic_init_reset(&m->apic[k]);
    c->halted = 1;
    m->wait_sipi[k] = true;
    cpu_obs_emit(&m->obs, c->cycles, k, EMU_EV_INIT, 0, 0, 0, 0);
}

void emu_smp_hold_aps(emu_machine *m)
{
    for (unsigned k = 1; k < m->cfg.ncpus; k++)
        emu_smp_wait_for_sipi(m, k);
}

/* STARTUP (SDM 9.4.4, 11.6.1 "Start-Up"): real mode, CS:IP = VV00:0000. */
static void start_up(emu_machine *m, cpu_t *c, uint8_t vector)
{
    c->seg[CPU_CS] = (cpu_seg){.sel = (uint16_t)(vector << 8), .attr = 0x9B, .limit = 0xFFFF,
                               .base = (uint64_t)vector << 12};
    c->rip = 0;
    c->halted = 0;
    m->wait_sipi[c->index] = false;
    cpu_tlb_flush(c);
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
