/*
 * cpu_state.c — the CPU's mode and the architectural states the layers
 * above put it in: RESET and INIT (SDM Vol. 3A 9.1.1), the STARTUP IPI
 * start (SDM Vol. 3A 10.6.1, 8.4.4.1) and the Multiboot entry state.
 *
 * cpu_t.mode is a cache of what CR0.PE, EFER.LMA, CS.L and CS.D say (SDM
 * Vol. 3A 2.2 "Modes of Operation"): the decoder's defaults and the
 * decoded-block cache key depend on it, so it is recomputed by one function
 * wherever one of them changes.
 */
#include "cpu/cpu_internal.h"

/* SDM Vol. 3A 2.2 and 9.8.5: IA-32e mode is active when EFER.LMA = 1; CS.L
 * then selects 64-bit mode, else compatibility mode with CS.D choosing the
 * default size. Outside IA-32e mode CR0.PE selects real or protected mode,
 * and CS.D the 16- or 32-bit default. Virtual-8086 mode is not modelled
 * (RFLAGS.VM can never be set: POPF and IRET keep it clear). */
cpu_mode cpu_mode_of(uint64_t cr0, uint64_t efer, uint16_t cs_attr)
{
    if (efer & CPU_EFER_LMA) {
        if (cs_attr & CPU_SEG_L)
            return CPU_MODE_LONG64;
        return (cs_attr & CPU_SEG_DB) ? CPU_MODE_COMPAT32 : CPU_MODE_COMPAT16;
    }
    if (!(cr0 & CPU_CR0_PE))
        return CPU_MODE_REAL;
    return (cs_attr & CPU_SEG_DB) ? CPU_MODE_PROT32 : CPU_MODE_PROT16;
}

void cpu_update_mode(cpu_t *c)
{
    cpu_mode m = cpu_mode_of(c->cr0, c->efer, c->seg[CPU_CS].attr);
    if (m == c->mode)
        return;
    c->mode = (uint8_t)m;
    /* Successor links were made under the old mode; blocks are keyed by
     * (physical address, mode), so a new epoch is enough. */
    cpu_epoch_new(c);
    c->exit_block = 1;
}

void cpu_set_segment(cpu_t *c, unsigned sreg, uint16_t sel, uint64_t base, uint32_t limit,
                     uint16_t attr)
{
    if (sreg >= CPU_NSEG)
        return;
    c->seg[sreg] = (cpu_seg){.sel = sel, .attr = attr, .limit = limit, .base = base};
    if (sreg == CPU_CS) {
        cpu_epoch_new(c); /* successor links assumed the old CS base and limit */
        cpu_update_mode(c);
    }
}

/* Every mode cpu_mode_of can compute executes; virtual-8086 mode has no
 * cpu_mode (RFLAGS.VM is never set). */
bool cpu_mode_executes(cpu_mode m)
{
    return m < CPU_MODE_COUNT;
}

/* What execution outside 64-bit mode cannot do (docs/cpu-model.md): a mode
 * without an implementation. Checked at every block boundary that can
 * follow a change of mode (segment loads, CR writes and far transfers end
 * their block); since 16-bit compatibility mode executes, nothing here. */
const char *cpu_unexecuted_reason(const cpu_t *c)
{
    cpu_mode m = (cpu_mode)c->mode;
    if (m == CPU_MODE_LONG64)
        return NULL;
    if (!cpu_mode_executes(m))
        return "this mode is not implemented";
    return NULL;
}

const char *cpu_mode_name(cpu_mode m)
{
    switch (m) {
    case CPU_MODE_REAL: return "real";
    case CPU_MODE_PROT16: return "protected-16";
    case CPU_MODE_PROT32: return "protected-32";
    case CPU_MODE_COMPAT32: return "compat-32";
    case CPU_MODE_LONG64: return "64-bit";
    case CPU_MODE_COMPAT16: return "compat-16";
    default: return "?";
    }
}

/* Attribute bytes of the states below (cpu.h cpu_seg.attr layout). */
enum {
    ATTR_REAL_DATA = 0x93,   /* present, S, read/write, accessed (SDM Table 9-1) */
    ATTR_REAL_CODE = 0x9B,   /* present, S, execute/read, accessed */
    ATTR_LDT = 0x82,         /* present, LDT */
    ATTR_TSS16_BUSY = 0x83,  /* present, busy 16-bit TSS (SDM Table 9-1: "Present, R/W") */
};

/*
 * SDM Vol. 3A 9.1.1, Table 9-1 "IA-32 and Intel 64 Processor States
 * Following Power-up, Reset, or INIT". INIT differs from RESET in keeping
 * CR0.CD/NW, the MSRs (Table 9-1 note: INIT does not change them), the
 * x87/SSE state (not modelled) and the cycle counter. EFER is cleared by
 * both: the CPU is in real mode, where LMA cannot be 1, and KVM clears it
 * on INIT as well.
 */
void cpu_reset(cpu_t *c, bool init)
{
    uint64_t cd_nw = init ? c->cr0 & (CPU_CR0_CD | CPU_CR0_NW) : (CPU_CR0_CD | CPU_CR0_NW);
    uint32_t sig[4];
    cpu_cpuid(c, 1, 0, sig);

    memset(c->gpr, 0, sizeof(c->gpr));
    c->gpr[CPU_RDX] = sig[0]; /* the processor signature (Table 9-1: EDX) */
    c->rflags = CPU_FL_FIXED1;
    c->lf_op = CPU_LF_NONE;
    c->rip = c->next_rip = 0xFFF0;
    c->cr0 = cd_nw | CPU_CR0_ET;
    c->cr2 = c->cr3 = c->cr4 = c->cr8 = 0;
    c->efer = 0;
    c->cpl = 0;
    for (unsigned s = 0; s < CPU_NSEG; s++)
        c->seg[s] = (cpu_seg){.sel = 0, .attr = ATTR_REAL_DATA, .limit = 0xFFFF, .base = 0};
    c->seg[CPU_CS] = (cpu_seg){.sel = 0xF000, .attr = ATTR_REAL_CODE, .limit = 0xFFFF,
                               .base = 0xFFFF0000ull};
    c->gdtr = (cpu_dtr){.base = 0, .limit = 0xFFFF};
    c->idtr = (cpu_dtr){.base = 0, .limit = 0xFFFF};
    c->ldtr = (cpu_seg){.sel = 0, .attr = ATTR_LDT, .limit = 0xFFFF, .base = 0};
    c->tr = (cpu_seg){.sel = 0, .attr = ATTR_TSS16_BUSY, .limit = 0xFFFF, .base = 0};
    memset(c->dr, 0, sizeof(c->dr));
    c->dr[6] = 0xFFFF0FF0;
    c->dr[7] = 0x400;
    c->debugctl = 0;
    c->db_payload = 0;
    c->dbg_tf = 0; /* RFLAGS.TF is 0 and no debug trap survives RESET or INIT */
    c->dbg_pending = 0;
    if (!init) {
        c->star = c->lstar = c->cstar = c->sfmask = c->kernel_gs_base = c->tsc_aux = 0;
        c->sysenter_cs = c->sysenter_esp = c->sysenter_eip = 0;
        c->pat = 0x0007040600070406ull; /* the power-up PAT (SDM Vol. 3A 11.12.4) */
    }
    c->halted = 0;
    c->nmi_blocked = false;
    c->events &= ~(uint32_t)CPU_EVT_SHADOW;
    c->shadow_arm = 0;
    c->inject_pending = false;
    c->pending_vector = -1;
    c->in_delivery = 0;
    c->first_fault = -1;
    c->delivery_old_cpl = -1;
    cpu_tlb_flush(c);
    cpu_update_mode(c);
}

/* SDM Vol. 3A 9.4.1 and 11.4.7.3: the RESET of an AP (init = false) or an
 * INIT (init = true) puts the CPU in the wait-for-SIPI state — the state
 * of Table 9-1 (cpu_reset), and it executes nothing (halted) until a
 * STARTUP IPI (cpu_start_sipi). Which events it still takes (none: not
 * even NMIs or interrupts) is for the caller's events hook to decide. */
void cpu_wait_for_sipi(cpu_t *c, bool init)
{
    cpu_reset(c, init);
    c->halted = 1;
}

/* SDM Vol. 3A 10.6.1 (Startup IPI) and 8.4.4.1: the target starts executing
 * in real mode at the 4-KByte page V: CS selector V << 8, base V << 12,
 * IP 0; everything else is as INIT left it. */
void cpu_start_sipi(cpu_t *c, uint8_t vector)
{
    c->seg[CPU_CS] = (cpu_seg){.sel = (uint16_t)(vector << 8), .attr = ATTR_REAL_CODE,
                               .limit = 0xFFFF, .base = (uint64_t)vector << 12};
    c->rip = c->next_rip = 0;
    c->halted = 0;
    cpu_update_mode(c);
}

/* Multiboot Specification 0.6.96, 3.2 "Machine state": flat 4-GByte
 * segments, CR0.PG = 0, CR0.PE = 1, EFLAGS.VM = IF = 0. The selectors are
 * ours to choose (the kernel must load its own GDT before reloading them). */
void cpu_enter_flat32(cpu_t *c, uint32_t eip)
{
    const uint16_t code = CPU_SEG_P | CPU_SEG_S | 0xB | CPU_SEG_DB | CPU_SEG_G;
    const uint16_t data = CPU_SEG_P | CPU_SEG_S | 0x3 | CPU_SEG_DB | CPU_SEG_G;
    c->cr0 = (c->cr0 & ~(uint64_t)CPU_CR0_PG) | CPU_CR0_PE | CPU_CR0_ET;
    c->efer &= ~(uint64_t)(CPU_EFER_LMA | CPU_EFER_LME);
    c->cpl = 0;
    for (unsigned s = 0; s < CPU_NSEG; s++)
        c->seg[s] = (cpu_seg){.sel = 0x10, .attr = data, .limit = 0xFFFFFFFFu, .base = 0};
    c->seg[CPU_CS] = (cpu_seg){.sel = 0x08, .attr = code, .limit = 0xFFFFFFFFu, .base = 0};
    cpu_set_rflags(c, cpu_get_rflags(c) & ~(uint64_t)(CPU_FL_IF | CPU_FL_VM));
    c->rip = c->next_rip = eip;
    c->halted = 0;
    cpu_tlb_flush(c);
    cpu_update_mode(c);
}
