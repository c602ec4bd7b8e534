/*
 * cpu_debug.c — the debug facilities of the interpreter (SDM Vol. 3B
 * chapter 17 "Debug, Branch Profile, TSC, and Intel Resource Director
 * Technology Features"): the debug registers DR0-DR7 and the MOV
 * instructions that reach them (17.2; SDM Vol. 2 "MOV—Move to/from Debug
 * Registers"), and what a #DB writes into DR6 and DR7 when it is
 * delivered (17.2.3, 17.2.4). docs/cpu-model.md says what is modelled.
 */
#include "cpu/cpu_internal.h"

bool cpu_decode_mov_dr(cpu_insn *i);

_Noreturn void cpu_debug_fault(cpu_t *c, uint32_t dr6_bits)
{
    c->db_payload = dr6_bits;
    cpu_fault_noerr(c, CPU_EXC_DB);
}

/* SDM 17.2.3: a debug exception sets the DR6 bits of its condition and
 * may clear B3-B0; BD, BS and BT stay set until software clears them.
 * 17.2.4: the processor clears DR7.GD on entry to the #DB handler, so the
 * handler can reach the debug registers. Not for a #DB that a VM exit
 * intercepts (SDM 27.1: DR6 and DR7 are left alone, the qualification
 * carries the bits) nor for one injected by VM entry or raised by INT1. */
void cpu_debug_deliver(cpu_t *c, uint32_t dr6_bits)
{
    c->dr[6] = (c->dr[6] & ~(uint64_t)CPU_DR6_B0_3) | dr6_bits | CPU_DR6_FIXED1;
    c->dr[7] &= ~(uint64_t)CPU_DR7_GD;
}

/* The value a MOV from DR n reads (n = 0-3, 6, 7 after the DR4/DR5 alias). */
static uint64_t dr_read(const cpu_t *c, unsigned n)
{
    return c->dr[n];
}

/* SDM 17.2.3, 17.2.4: writes to DR6 and DR7 keep their fixed bits; in
 * 64-bit mode a 1 in bits 63:32 of either is #GP(0) (SDM Vol. 2 MOV DR,
 * "64-Bit Mode Exceptions"). DR0-DR3 take the whole register. */
static void dr_write(cpu_t *c, unsigned n, uint64_t v)
{
    if (n >= 6 && (v >> 32))
        cpu_gp0(c);
    if (n == 6)
        v = (v & CPU_DR6_WRITABLE) | CPU_DR6_FIXED1;
    else if (n == 7)
        v = (v & CPU_DR7_WRITABLE) | CPU_DR7_FIXED1;
    c->dr[n] = v;
}

/*
 * 0F 21 (MOV r, DRn) and 0F 23 (MOV DRn, r): SDM Vol. 2 "MOV—Move to/from
 * Debug Registers". Order of checks:
 *  - the VM exit for "MOV-DR exiting" comes first: SDM 25.1.3 makes it an
 *    exception to 25.1.1, with priority over the CPL #GP and the DR4/DR5
 *    #UD;
 *  - #GP(0) at CPL > 0 (real mode is CPL 0);
 *  - DR4/DR5: #UD with CR4.DE = 1, else they alias DR6/DR7 (17.2.2);
 *  - #DB (a fault, DR6.BD set) while DR7.GD = 1 (17.2.4);
 *  - the write's #GP for bits 63:32 of DR6/DR7.
 * The operand is 64 bits in 64-bit mode and 32 bits elsewhere (operand
 * size prefixes are ignored).
 */
static void exec_mov_dr(cpu_t *c, const cpu_insn *i)
{
    bool from = i->op == 0x21;
    unsigned n = i->reg;
    cpu_icpt info = {.kind = CPU_ICPT_DR, .len = i->len, .reg = i->rm, .cr = (uint8_t)n,
                     .in = from};
    cpu_intercept(c, &info);
    cpu_require_cpl0(c);
    if (n == 4 || n == 5) {
        if (c->cr4 & CPU_CR4_DE)
            cpu_ud(c);
        n += 2;
    }
    if (c->dr[7] & CPU_DR7_GD)
        cpu_debug_fault(c, CPU_DR6_BD);
    unsigned size = c->mode == CPU_MODE_LONG64 ? 8 : 4;
    if (from)
        cpu_reg_set(c, i->rm, size, dr_read(c, n));
    else
        dr_write(c, n, cpu_reg_get(c, i->rm, size));
}

/* REX.R selects DR8-DR15, which do not exist: #UD (SDM Vol. 2 MOV DR). */
bool cpu_decode_mov_dr(cpu_insn *i)
{
    if (i->reg > 7)
        return false;
    i->exec = exec_mov_dr;
    return true;
}

/* ---- single-step traps and pending debug exceptions ----------------------- */

/* SDM 17.3.1.4 "Single-Step Exception Condition": an instruction that
 * began with TF = 1 and completed (no fault) is followed by a #DB trap with
 * DR6.BS. It joins the pending debug exceptions; INT n, which clears TF,
 * still has its trap, at the handler's first instruction (17.3.1.4: "to
 * single step an interrupt handler, single step an INT n instruction"). */
void cpu_debug_step_done(cpu_t *c)
{
    c->dbg_tf = 0;
    c->dbg_pending |= CPU_DR6_BS;
}

/* Delivers the pending debug exceptions as one #DB trap (SDM 6.9 priority
 * 4, after the instruction: the saved RIP is the next instruction's). The
 * exception bitmap may turn it into a VM exit, whose qualification gets
 * the bits (SDM 27.2.1); else DR6 gets them (17.2.3). Bit 12 of the VMCS
 * format (an enabled breakpoint) is not a DR6 bit. */
void cpu_debug_trap(cpu_t *c)
{
    uint32_t bits = c->dbg_pending & (CPU_DR6_B0_3 | CPU_DR6_BS);
    c->dbg_pending = 0;
    c->db_payload = bits;
    c->pending_vector = CPU_EXC_DB;
    c->pending_error = 0;
    c->pending_has_error = false;
    cpu_deliver_pending_fault(c);
}

/* At a boundary with CPU_EVT_DEBUG: whether the next instruction is
 * single-stepped (TF = 1 now) or a pending trap waits (behind MOV SS
 * blocking); then the run loop runs it alone. With neither, the event is
 * dropped and blocks run at full speed again. */
bool cpu_debug_arm(cpu_t *c)
{
    c->dbg_tf = (c->rflags & CPU_FL_TF) != 0;
    if (!c->dbg_tf && !c->dbg_pending) {
        c->events &= ~(uint32_t)CPU_EVT_DEBUG;
        return false;
    }
    return true;
}
