/*
 * cpu_interrupt.c — port I/O (SDM Vol. 1 18.5, Vol. 2 "IN", "OUT") and the
 * interrupt-flag, HLT, software-interrupt and IRET instructions of IA-32e
 * mode (SDM Vol. 3A 6.8, 6.12, 6.14; Vol. 2 each instruction's page).
 *
 * Order of checks as in cpu_system.c (SDM Vol. 3A 26.1.1): #UD and
 * CPL-based #GP, then the intercept hook, then the operands, then the
 * effect; a handler changes nothing before its last fault can be raised.
 */
#include "cpu/cpu_internal.h"

/* VMCS-style event types for cpu_deliver_event (SDM Vol. 3C 25.8.3). */
enum { EVT_SOFT_INT = 4, EVT_PRIV_SOFT = 5, EVT_SOFT_EXC = 6 };

/* ---- port I/O (SDM Vol. 1 18.5, Vol. 2 "IN", "OUT") ----------------------------------- */

/* I/O permission: CPL > IOPL consults the TSS I/O bitmap (SDM Vol. 1 18.5.2);
 * Intel reads two bytes of it, so both must be inside the TSS limit. */
static void io_permission(cpu_t *c, uint16_t port, unsigned size)
{
    if (c->cpl <= ((c->rflags >> 12) & 3))
        return;
    unsigned type = c->tr.attr & 0x1F;
    if (!(c->tr.attr & 0x80) || (type != 0x09 && type != 0x0B) || c->tr.limit < 0x67)
        cpu_gp0(c);
    uint64_t io_base = cpu_read_supervisor(c, c->tr.base + 0x66, 2);
    uint64_t off = io_base + port / 8;
    if (off + 1 > c->tr.limit)
        cpu_gp0(c);
    uint64_t bits = cpu_read_supervisor(c, c->tr.base + off, 2);
    uint64_t mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask)
        cpu_gp0(c);
}

/* IN/OUT: the intercept hook (VMX I/O exits), then the machine's devices;
 * nobody on a port reads all ones. OUT ends the block: a device may stop
 * the run (the exit port). */
static void exec_io(cpu_t *c, const cpu_insn *i)
{
    bool in = !(i->op & 2);
    uint16_t port = (i->op & 8) ? (uint16_t)c->gpr[CPU_RDX] : (uint16_t)i->imm;
    unsigned size = i->osize == 8 ? 4 : i->osize;
    io_permission(c, port, size);
    uint32_t val = in ? 0 : (uint32_t)cpu_reg_get(c, CPU_RAX, size);
    cpu_icpt info = {.kind = CPU_ICPT_IO, .len = i->len, .size = (uint8_t)size, .in = in,
                     .port = port, .value = val, .imm_port = !(i->op & 8)};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        val = (uint32_t)info.value;
    else if (!c->hooks.io || !c->hooks.io(c->hooks.ctx, c, port, size, in, &val))
        val = 0xFFFFFFFFu;
    if (in)
        cpu_reg_set(c, CPU_RAX, size, val & cpu_size_mask(size));
    else
        cpu_end_block(c);
}

/* ---- interrupt flag, HLT, software interrupts, IRET (SDM Vol. 3A 6.8, 6.12, 6.14) ---- */

static bool iopl_allows(const cpu_t *c)
{
    return c->cpl <= ((c->rflags >> 12) & 3);
}

/* CLI (SDM Vol. 2 "CLI"): CPL > IOPL is #GP(0) (no PVI/VME in 64-bit mode). */
static void exec_cli(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    if (!iopl_allows(c))
        cpu_gp0(c);
    c->rflags &= ~(uint64_t)CPU_FL_IF;
}

/* STI (SDM Vol. 2 "STI", Vol. 3A 6.8.3): setting IF from 0 blocks
 * interrupts until after the next instruction. */
static void exec_sti(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    if (!iopl_allows(c))
        cpu_gp0(c);
    if (!(c->rflags & CPU_FL_IF)) {
        c->rflags |= CPU_FL_IF;
        cpu_begin_shadow(c, CPU_SHADOW_STI);
    }
    c->events |= CPU_EVT_INTR;
}

/* HLT (SDM Vol. 2 "HLT"): the run loop returns CPU_STOP_HALT and an
 * interrupt delivery (cpu_deliver_interrupt) resumes after the HLT. */
static void exec_hlt(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    cpu_icpt info = {.kind = CPU_ICPT_HLT, .len = i->len};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    c->halted = 1;
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_HALT, 0, 0, c->rip, 0);
    cpu_end_block(c);
}

/* INT n, INT3, INT1 (SDM Vol. 2 "INT n/INTO/INT3/INT1"): delivered through
 * the IDT with the return address after the instruction (INTO, outside
 * 64-bit mode only, is cpu_legacy.c's). INT3 and INT1 raise exceptions
 * that the exception bitmap may turn into a VM exit (SDM 25.2; types 6 and
 * 5 with the instruction length, 27.2.2, 27.2.4), before the IDT is read;
 * INT n never exits that way. */
static void exec_soft_int(cpu_t *c, const cpu_insn *i)
{
    unsigned type = EVT_SOFT_EXC;
    uint8_t vector;
    switch (i->op) {
    case 0xCD:
        type = EVT_SOFT_INT;
        vector = (uint8_t)i->imm;
        break;
    case 0xCC: vector = CPU_EXC_BP; break;
    default:
        type = EVT_PRIV_SOFT;
        vector = CPU_EXC_DB;
        break;
    }
    if (type != EVT_SOFT_INT) {
        cpu_icpt info = {.kind = CPU_ICPT_EXCEPTION, .len = i->len, .vector = vector,
                         .subop = type};
        cpu_intercept(c, &info);
    }
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_SOFT_INT, vector, 0, c->rip, 0);
    cpu_deliver_event(c, vector, type, false, 0, i->len);
}

/* Checks the code segment IRET returns to (SDM Vol. 2 "IRET", IA-32e mode
 * protected-mode return); returns its descriptor. */
static uint64_t iret_check_cs(cpu_t *c, uint16_t sel)
{
    if ((sel & 0xFFFC) == 0)
        cpu_gp0(c);
    uint64_t va;
    uint64_t d = cpu_desc_read(c, sel, &va);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    unsigned rpl = sel & 3;
    if (!s || !(type & 8) || rpl < c->cpl)
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    if ((type & 4) ? dpl > rpl : dpl != rpl)
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    if (!p)
        cpu_fault_sel(c, CPU_EXC_NP, sel);
    return d;
}

/* Checks the SS IRET loads for the new CPL (SDM Vol. 2 "IRET",
 * IA-32e-MODE-RETURN; Vol. 3A 6.14.3): a null SS is allowed only when
 * returning to 64-bit code at CPL < 3 with RPL = CPL; returns the register. */
static cpu_seg iret_check_ss(cpu_t *c, uint16_t sel, unsigned new_cpl, bool to64)
{
    if ((sel & 0xFFFC) == 0) {
        if (!to64 || new_cpl == 3 || (sel & 3) != new_cpl)
            cpu_gp0(c);
        return (cpu_seg){.sel = sel, .attr = 0, .limit = 0, .base = 0};
    }
    uint64_t va;
    uint64_t d = cpu_desc_read(c, sel, &va);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    if ((sel & 3) != new_cpl || !s || (type & 8) || !(type & 2) || dpl != new_cpl)
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    if (!p)
        cpu_fault_sel(c, CPU_EXC_SS, sel);
    return cpu_seg_from_desc(sel, d);
}

/* The stack IRET pops in IA-32e mode: RSP in 64-bit mode; SS:ESP or SS:SP
 * (by SS.B) in compatibility mode, where segmentation still applies (SDM
 * Vol. 3A 3.2.4, 6.14.3). */
static uint64_t iret_sp(const cpu_t *c, bool long64)
{
    if (long64)
        return c->gpr[CPU_RSP];
    return (c->seg[CPU_SS].attr & CPU_SEG_DB) ? (uint32_t)c->gpr[CPU_RSP]
                                              : (uint16_t)c->gpr[CPU_RSP];
}

static uint64_t iret_pop(cpu_t *c, bool long64, uint64_t sp, unsigned size)
{
    if (long64)
        return cpu_read(c, sp, size);
    uint64_t off = (c->seg[CPU_SS].attr & CPU_SEG_DB) ? (uint32_t)sp : (uint16_t)sp;
    return cpu_read(c, cpu_legacy_va(c, CPU_SS, off, 4, size), size);
}

/*
 * IRET in IA-32e mode (SDM Vol. 2 "IRET/IRETD/IRETQ", IA-32e-MODE-RETURN;
 * Vol. 3A 6.14.3): pops RIP, CS, RFLAGS at the operand size, then RSP and
 * SS when it began in 64-bit mode (always) or returns to an outer level
 * (compatibility mode pops SS:ESP only then); checks CS and SS; the new RIP
 * must be canonical for 64-bit code, or within the CS limit for a
 * compatibility-mode code segment (CS.L = 0: 32- or 16-bit code, whose
 * base and limit load from the descriptor). Everything is read and checked
 * before any state changes. NT = 1 is #GP(0): no task return in IA-32e mode.
 */
static void exec_iret(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = i->osize;
    if (c->rflags & CPU_FL_NT)
        cpu_gp0(c); /* task return is not available in IA-32e mode */
    bool long64 = c->mode == CPU_MODE_LONG64;
    uint64_t sp = iret_sp(c, long64);
    uint64_t new_rip = iret_pop(c, long64, sp, sz);
    uint16_t cs_sel = (uint16_t)iret_pop(c, long64, sp + sz, sz);
    uint64_t fl = iret_pop(c, long64, sp + 2 * sz, sz);
    unsigned new_cpl = cs_sel & 3;
    bool pop_ss = long64 || new_cpl > c->cpl;
    uint64_t new_rsp = 0;
    uint16_t ss_sel = 0;
    if (pop_ss) {
        new_rsp = iret_pop(c, long64, sp + 3 * sz, sz);
        ss_sel = (uint16_t)iret_pop(c, long64, sp + 4 * sz, sz);
    }

    uint64_t d = iret_check_cs(c, cs_sel);
    bool to64 = (d >> 53) & 1;
    if (to64 && ((d >> 54) & 1))
        cpu_fault_sel(c, CPU_EXC_GP, cs_sel); /* L = D = 1 is reserved (SDM 5.2.1) */
    cpu_seg ss = c->seg[CPU_SS];
    if (pop_ss)
        ss = iret_check_ss(c, ss_sel, new_cpl, to64);
    cpu_seg cs = cpu_seg_from_desc(cs_sel, d);
    if (sz == 2)
        new_rip = (uint16_t)new_rip;
    if (to64) {
        if (!cpu_canonical(new_rip))
            cpu_gp0(c);
        cs.base = 0;
        cs.limit = 0xFFFFFFFF;
    } else {
        new_rip = (uint32_t)new_rip;
        if (new_rip > cs.limit)
            cpu_gp0(c);
    }

    /* RFLAGS bits IRET may load (SDM IRET operation, IA-32e mode). */
    uint64_t mask = CPU_FL_ARITH | CPU_FL_TF | CPU_FL_DF | CPU_FL_NT | CPU_FL_RF | CPU_FL_AC |
                    CPU_FL_ID;
    if (iopl_allows(c))
        mask |= CPU_FL_IF;
    if (c->cpl == 0)
        mask |= CPU_FL_IOPL | CPU_FL_VIF | CPU_FL_VIP;
    if (sz == 2)
        mask &= 0xFFFF;
    uint64_t rflags = cpu_get_rflags(c);
    cpu_set_rflags(c, ((rflags & ~mask) | (fl & mask) | CPU_FL_FIXED1) & ~(uint64_t)CPU_FL_VM);

    if (cs.base != c->seg[CPU_CS].base || cs.limit != c->seg[CPU_CS].limit)
        cpu_epoch_new(c); /* successor links assumed the old CS base and limit */
    c->seg[CPU_CS] = cs;
    cpu_update_mode(c);
    if (pop_ss) {
        c->seg[CPU_SS] = ss;
        if (sz == 2)
            c->gpr[CPU_RSP] = (c->gpr[CPU_RSP] & ~0xFFFFull) | (uint16_t)new_rsp;
        else
            c->gpr[CPU_RSP] = sz == 4 ? (uint32_t)new_rsp : new_rsp;
    } else if (c->seg[CPU_SS].attr & CPU_SEG_DB) {
        c->gpr[CPU_RSP] = (uint32_t)(sp + 3 * sz);
    } else {
        c->gpr[CPU_RSP] = (c->gpr[CPU_RSP] & ~0xFFFFull) | (uint16_t)(sp + 3 * sz);
    }
    c->next_rip = new_rip;
    if (new_cpl != c->cpl) {
        /* Returning to an outer level nulls data segments the new CPL may
         * not use (SDM IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL). */
        static const unsigned data_segs[4] = {CPU_ES, CPU_DS, CPU_FS, CPU_GS};
        for (unsigned k = 0; k < 4; k++) {
            cpu_seg *s = &c->seg[data_segs[k]];
            unsigned type = s->attr & 0xF, dpl = (s->attr >> 5) & 3;
            bool conforming_code = (type & 0xC) == 0xC;
            if ((s->attr & 0x80) && !conforming_code && dpl < new_cpl) {
                s->sel = 0;
                s->attr = 0;
            }
        }
        c->cpl = (uint8_t)new_cpl;
        cpu_tlb_flush(c); /* the TLB's fast paths were filled at the old CPL */
    }
    /* IRET ends blocking by NMI (SDM Vol. 3A 6.7.1); VMX hears of it for
     * virtual-NMI blocking (SDM Vol. 3C 25.3, "Changes to instruction
     * behavior in VMX non-root operation"). */
    c->nmi_blocked = false;
    cpu_icpt note = {.kind = CPU_ICPT_IRET, .len = i->len};
    cpu_intercept(c, &note);
    c->events |= CPU_EVT_INTR;
}

static bool decode_simple(cpu_insn *i)
{
    switch (i->op) {
    case 0xF4: i->exec = exec_hlt; break;
    case 0xFA: i->exec = exec_cli; break;
    case 0xFB: i->exec = exec_sti; break;
    case 0xCC:
    case 0xCD:
    case 0xF1: i->exec = exec_soft_int; break;
    case 0xCF: i->exec = exec_iret; break;
    default: i->exec = exec_io; break; /* E4-E7, EC-EF */
    }
    return true;
}

void cpu_register_interrupt(cpu_opmap *m)
{
    const unsigned E = CPU_OPF_ENDS, B = CPU_OPF_BYTE;

    for (unsigned op = 0xE4; op <= 0xE7; op++)
        cpu_op(m, 0, op, decode_simple, ((op & 1) ? 0 : B) | ((op & 2) ? E : 0), CPU_IMM_UB,
               CPU_COST_IO);
    for (unsigned op = 0xEC; op <= 0xEF; op++)
        cpu_op(m, 0, op, decode_simple, ((op & 1) ? 0 : B) | ((op & 2) ? E : 0), CPU_IMM_NONE,
               CPU_COST_IO);
    cpu_op(m, 0, 0xF4, decode_simple, E, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 0, 0xFA, decode_simple, E, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xFB, decode_simple, E, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xCC, decode_simple, E, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xCD, decode_simple, E, CPU_IMM_UB, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xCE, NULL, CPU_OPF_INVALID64, CPU_IMM_NONE, CPU_COST_SIMPLE); /* INTO */
    cpu_op(m, 0, 0xF1, decode_simple, E, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xCF, decode_simple, E, CPU_IMM_NONE, CPU_COST_SERIALIZE);
}
