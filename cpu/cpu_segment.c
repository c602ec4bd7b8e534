/*
 * cpu_segment.c — descriptors and segment registers (SDM Vol. 3A 3.4, 3.5,
 * 7.2): segment loads, PUSH/POP FS/GS, SGDT/SIDT/LGDT/LIDT, SLDT/STR,
 * LLDT/LTR (the 0F 00 group).
 *
 * Order of checks as in cpu_system.c (SDM Vol. 3A 26.1.1): #UD and
 * CPL-based #GP, then the intercept hook, then the operands, then the
 * effect; a handler changes nothing before its last fault can be raised.
 */
#include "cpu/cpu_internal.h"

/* cpu_icpt.subop of CPU_ICPT_DESC_TABLE: the instruction identity of the
 * VMX exit qualifications of exits 46 (0-3) and 47 (4 + identity). */
enum { DT_SGDT, DT_SIDT, DT_LGDT, DT_LIDT, DT_SLDT, DT_STR, DT_LLDT, DT_LTR };

/* ---- descriptors and segments (SDM Vol. 3A 3.4, 3.5, 7.2.3) --------------------------- */

/* An implicit supervisor-mode read of a descriptor table (SDM 4.6.1). At
 * CPL 3 the table is read without the user-mode check; a page that is
 * not present still faults through the normal path. */
static uint64_t sys_read(cpu_t *c, uint64_t va, unsigned size)
{
    return cpu_read_supervisor(c, va, size);
}

/* Linear address of the descriptor of sel, #GP(sel) when its `bytes` bytes
 * are not inside the GDT or LDT limit (SDM 3.5.1). */
static uint64_t desc_addr(cpu_t *c, uint16_t sel, unsigned bytes)
{
    uint64_t base, limit;
    if (sel & 4) {
        if (!(c->ldtr.attr & 0x80))
            cpu_fault_sel(c, CPU_EXC_GP, sel);
        base = c->ldtr.base;
        limit = c->ldtr.limit;
    } else {
        base = c->gdtr.base;
        limit = c->gdtr.limit;
    }
    if ((uint64_t)(sel & ~7u) + bytes - 1 > limit)
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    return base + (sel & ~7u);
}

/* The hidden part of a segment register from an 8-byte descriptor (SDM
 * 3.4.5); attr packs type/S/DPL/P and AVL/L/D/G as cpu.h says. */
static cpu_seg seg_from_desc(uint16_t sel, uint64_t d)
{
    cpu_seg s;
    uint32_t limit = (uint32_t)((d & 0xFFFF) | ((d >> 32) & 0xF0000));
    s.sel = sel;
    s.attr = (uint16_t)(((d >> 40) & 0xFF) | (((d >> 52) & 0xF) << 8));
    s.limit = (d & (1ull << 55)) ? (limit << 12) | 0xFFF : limit;
    s.base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
    return s;
}

/* Sets the accessed bit of a descriptor the way the processor does on a
 * segment load (SDM 3.4.5.1), only when it is clear. */
static void mark_accessed(cpu_t *c, uint64_t va, uint64_t d)
{
    if (!(d & (1ull << 40)) && c->cpl == 0)
        cpu_write(c, va + 5, 1, ((d >> 40) & 0xFF) | 1);
}

/*
 * Loads a data or stack segment register in 64-bit mode at privilege cpl
 * (SDM Vol. 2 "MOV—Move" and "POP" protected-mode operation, Vol. 3A
 * 5.6/5.7): a null selector is allowed for DS/ES/FS/GS, and for SS only
 * below CPL 3 with RPL = CPL; Intel clears the base of a null FS/GS. A
 * null segment is represented with attr = 0 (not present).
 */
static void load_segment(cpu_t *c, unsigned sreg, uint16_t sel, unsigned cpl)
{
    unsigned rpl = sel & 3;
    if ((sel & 0xFFFC) == 0) {
        /* A null SS is allowed only in 64-bit mode (SDM Vol. 2 "MOV",
         * "POP": protected and compatibility mode raise #GP(0)). */
        if (sreg == CPU_SS && (cpl == 3 || rpl != cpl || c->mode != CPU_MODE_LONG64))
            cpu_gp0(c);
        c->seg[sreg] = (cpu_seg){.sel = sel, .attr = 0, .limit = 0, .base = 0};
        return;
    }
    uint64_t va = desc_addr(c, sel, 8);
    uint64_t d = sys_read(c, va, 8);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    bool code = (type & 8) != 0;
    if (sreg == CPU_SS) {
        if (rpl != cpl || !s || code || !(type & 2) || dpl != cpl)
            cpu_fault_sel(c, CPU_EXC_GP, sel);
        if (!p)
            cpu_fault_sel(c, CPU_EXC_SS, sel);
    } else {
        if (!s || (code && !(type & 2)))
            cpu_fault_sel(c, CPU_EXC_GP, sel);
        if ((!code || !(type & 4)) && (rpl > dpl || cpl > dpl))
            cpu_fault_sel(c, CPU_EXC_GP, sel);
        if (!p)
            cpu_fault_sel(c, CPU_EXC_NP, sel);
    }
    mark_accessed(c, va, d);
    c->seg[sreg] = seg_from_desc(sel, d | (1ull << 40));
}

uint64_t cpu_desc_read(cpu_t *c, uint16_t sel, uint64_t *va)
{
    *va = desc_addr(c, sel, 8);
    return sys_read(c, *va, 8);
}

cpu_seg cpu_seg_from_desc(uint16_t sel, uint64_t d)
{
    return seg_from_desc(sel, d);
}

void cpu_desc_mark_accessed(cpu_t *c, uint64_t va, uint64_t d)
{
    mark_accessed(c, va, d);
}

/* The loader MOV Sreg (8E) uses; MOV CS is #UD. MOV SS blocking is armed by
 * the caller. */
void cpu_load_segment(cpu_t *c, unsigned sreg, uint16_t sel)
{
    if (sreg == CPU_CS || sreg >= CPU_NSEG)
        cpu_ud(c);
    if (!(c->cr0 & CPU_CR0_PE)) {
        /* Real mode: base = selector << 4; limit and attributes stay
         * (SDM Vol. 3A 20.1.1). */
        c->seg[sreg].sel = sel;
        c->seg[sreg].base = (uint64_t)sel << 4;
        return;
    }
    load_segment(c, sreg, sel, c->cpl);
}

/* PUSH FS/GS (0F A0/A8): recent Intel processors write only the 16-bit
 * selector into the slot (SDM Vol. 2 "PUSH", operation note). */
static void exec_push_sreg(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    uint64_t sp = c->gpr[CPU_RSP] - size;
    cpu_write(c, sp, 2, c->seg[i->sub].sel);
    c->gpr[CPU_RSP] = sp;
}

/* POP FS/GS (0F A1/A9): the selector is loaded before RSP changes, so a
 * descriptor fault leaves RSP intact. */
static void exec_pop_sreg(cpu_t *c, const cpu_insn *i)
{
    unsigned size = i->osize;
    uint16_t sel = (uint16_t)cpu_read(c, c->gpr[CPU_RSP], size);
    load_segment(c, i->sub, sel, c->cpl);
    c->gpr[CPU_RSP] += size;
}

static bool decode_push_pop_sreg(cpu_insn *i)
{
    i->sub = (uint8_t)(i->op >= 0xA8 ? CPU_GS : CPU_FS);
    i->exec = (i->op & 1) ? exec_pop_sreg : exec_push_sreg;
    return true;
}

/* SGDT, SIDT, LGDT, LIDT (SDM Vol. 2 "LGDT/LIDT", "SGDT", "SIDT"): in 64-bit
 * mode the operand is a 2-byte limit and an 8-byte base; elsewhere the base
 * is 4 bytes, of which LGDT/LIDT with a 16-bit operand size use 24 bits. */
void cpu_exec_desc_table(cpu_t *c, const cpu_insn *i)
{
    unsigned which = i->sub;
    if (which >= DT_LGDT)
        cpu_require_cpl0(c);
    uint64_t ea = cpu_ea(c, i);
    cpu_icpt info = {.kind = CPU_ICPT_DESC_TABLE, .len = i->len, .subop = which, .addr = ea};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    cpu_dtr *t = (which & 1) ? &c->idtr : &c->gdtr;
    unsigned bsize = cpu_mode_legacy(i->mode) ? 4 : 8;
    if (which < DT_LGDT) {
        cpu_probe_write(c, ea, 2 + bsize);
        cpu_write(c, ea, 2, t->limit);
        cpu_write(c, ea + 2, bsize, t->base);
    } else {
        uint16_t limit = (uint16_t)cpu_read(c, ea, 2);
        uint64_t base = cpu_read(c, ea + 2, bsize);
        if (bsize == 4 && i->osize == 2)
            base &= 0xFFFFFF;
        t->limit = limit;
        t->base = base;
    }
}

/* SLDT, STR (SDM Vol. 2): a register destination is zero-extended to the
 * operand size, memory takes 16 bits. */
static void exec_sldt_str(cpu_t *c, const cpu_insn *i)
{
    unsigned which = i->sub;
    cpu_icpt info = {.kind = CPU_ICPT_DESC_TABLE, .len = i->len, .subop = which,
                     .addr = i->has_mem ? cpu_ea(c, i) : 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    uint16_t sel = which == DT_SLDT ? c->ldtr.sel : c->tr.sel;
    if (i->has_mem)
        cpu_write(c, cpu_ea(c, i), 2, sel);
    else
        cpu_reg_set(c, i->rm, i->osize == 2 ? 2 : i->osize, sel);
}

/* Whether the instruction runs in IA-32e mode (64-bit or compatibility
 * mode), where system descriptors are 16 bytes (SDM Vol. 3A 3.5.2, 7.2.3). */
static bool mode_ia32e(unsigned mode)
{
    return mode == CPU_MODE_LONG64 || mode == CPU_MODE_COMPAT32 || mode == CPU_MODE_COMPAT16;
}

/* Reads the system descriptor of sel from the GDT (SDM 7.2.2-7.2.3 for a
 * TSS, 3.5.2 for an LDT): 16 bytes in IA-32e mode (hi = the upper half),
 * 8 bytes outside it (hi = 0). A selector in the LDT is #GP(sel). */
static uint64_t read_system_desc(cpu_t *c, uint16_t sel, bool ia32e, uint64_t *hi,
                                 uint64_t *va)
{
    if (sel & 4)
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    *va = desc_addr(c, sel, ia32e ? 16 : 8);
    uint64_t lo = sys_read(c, *va, 8);
    *hi = ia32e ? sys_read(c, *va + 8, 8) : 0;
    return lo;
}

static cpu_seg system_seg(uint16_t sel, uint64_t lo, uint64_t hi)
{
    cpu_seg s = seg_from_desc(sel, lo);
    s.base |= (hi & 0xFFFFFFFFull) << 32;
    return s;
}

/* Whether the S bit and type of lo (bits 44:40) name one of the accepted
 * system types; in IA-32e mode the upper half's type field must be zero and
 * the base canonical (SDM 7.2.3). Wrong -> #GP(sel), not present -> #NP(sel). */
static cpu_seg check_system_desc(cpu_t *c, uint16_t sel, bool ia32e, uint64_t lo, uint64_t hi,
                                 unsigned type_a, unsigned type_b)
{
    unsigned type = (lo >> 40) & 0x1F, p = (lo >> 47) & 1;
    if ((type != type_a && type != type_b) || ((hi >> 40) & 0x1F) != 0)
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    if (!p)
        cpu_fault_sel(c, CPU_EXC_NP, sel);
    cpu_seg s = system_seg(sel, lo, hi);
    if (ia32e && !cpu_canonical(s.base))
        cpu_fault_sel(c, CPU_EXC_GP, sel);
    return s;
}

/* LLDT (SDM Vol. 2 "LLDT", Vol. 3A 3.5.2): an LDT descriptor (type 2) from
 * the GDT, 16 bytes in IA-32e mode and 8 bytes in protected mode; a null
 * selector makes the LDT unusable. */
static void exec_lldt(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    uint16_t sel = (uint16_t)cpu_rm_read(c, i, 2);
    cpu_icpt info = {.kind = CPU_ICPT_DESC_TABLE, .len = i->len, .subop = DT_LLDT,
                     .value = sel, .addr = i->has_mem ? cpu_ea(c, i) : 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    if ((sel & 0xFFFC) == 0) {
        c->ldtr = (cpu_seg){.sel = sel, .attr = 0, .limit = 0, .base = 0};
        return;
    }
    bool ia32e = mode_ia32e(i->mode);
    uint64_t hi, va;
    uint64_t lo = read_system_desc(c, sel, ia32e, &hi, &va);
    c->ldtr = check_system_desc(c, sel, ia32e, lo, hi, 0x02, 0x02);
}

/* LTR (SDM Vol. 2 "LTR", Vol. 3A 7.2.2-7.2.4, 7.7): loads an available TSS
 * from the GDT and marks its descriptor busy (type | 2). IA-32e mode: only
 * a 64-bit TSS (type 9), 16-byte descriptor; protected mode: a 16-bit
 * (type 1) or 32-bit (type 9) TSS, 8-byte descriptor. */
static void exec_ltr(cpu_t *c, const cpu_insn *i)
{
    cpu_require_cpl0(c);
    uint16_t sel = (uint16_t)cpu_rm_read(c, i, 2);
    cpu_icpt info = {.kind = CPU_ICPT_DESC_TABLE, .len = i->len, .subop = DT_LTR,
                     .value = sel, .addr = i->has_mem ? cpu_ea(c, i) : 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    if ((sel & 0xFFFC) == 0)
        cpu_gp0(c);
    bool ia32e = mode_ia32e(i->mode);
    uint64_t hi, va;
    uint64_t lo = read_system_desc(c, sel, ia32e, &hi, &va);
    cpu_seg s = check_system_desc(c, sel, ia32e, lo, hi, 0x09, ia32e ? 0x09 : 0x01);
    cpu_write(c, va + 5, 1, ((lo >> 40) & 0xFF) | 0x02);
    s.attr |= 0x02; /* busy: type 3 (16-bit TSS) or 11 */
    c->tr = s;
}

/* ---- LAR, LSL, VERR, VERW (SDM Vol. 2 "LAR", "LSL", "VERR/VERW") ---------------------- */

/* The 8-byte descriptor of sel for LAR, LSL, VERR and VERW, which never
 * fault on the selector: false for a null selector or one whose descriptor
 * lies beyond the GDT or LDT limit (an unusable LDT included). A page
 * fault reading the table is still raised. */
static bool probe_desc(cpu_t *c, uint16_t sel, uint64_t *d)
{
    uint64_t base, limit;
    if ((sel & 0xFFFC) == 0)
        return false;
    if (sel & 4) {
        if (!(c->ldtr.attr & CPU_SEG_P))
            return false;
        base = c->ldtr.base;
        limit = c->ldtr.limit;
    } else {
        base = c->gdtr.base;
        limit = c->gdtr.limit;
    }
    if ((uint64_t)(sel & ~7u) + 7 > limit)
        return false;
    *d = sys_read(c, base + (sel & ~7u), 8);
    return true;
}

/* The privilege rule of all four: a conforming code segment is always
 * visible, any other needs DPL >= CPL and DPL >= RPL. */
static bool desc_visible(const cpu_t *c, uint16_t sel, uint64_t d)
{
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3;
    if (s && (type & 0xC) == 0xC)
        return true;
    return dpl >= c->cpl && dpl >= (sel & 3u);
}

/* The system types LAR and LSL accept (SDM Vol. 2 "LAR" Table 3-52, "LSL"
 * Table 3-62): outside IA-32e mode 16- and 32-bit TSSs (1, 3, 9, B), the
 * LDT (2) and, for LAR only, call gates (4, C) and the task gate (5); in
 * IA-32e mode the LDT, the 64-bit TSS (9, B) and, for LAR, the 64-bit call
 * gate (C). */
static bool lar_lsl_system_ok(unsigned type, bool ia32e, bool lsl)
{
    unsigned ok = ia32e ? (1u << 2) | (1u << 9) | (1u << 0xB) | (lsl ? 0 : 1u << 0xC)
                        : (1u << 1) | (1u << 2) | (1u << 3) | (1u << 9) | (1u << 0xB) |
                              (lsl ? 0 : (1u << 4) | (1u << 5) | (1u << 0xC));
    return (ok >> type) & 1;
}

/* LAR r, r/m16 (0F 02) and LSL r, r/m16 (0F 03): ZF = 1 and the access
 * rights (descriptor bits 63:32 AND 00F0FF00H; FF00H at 16 bits) or the
 * limit in bytes (scaled by G) into the register when the descriptor is
 * valid and visible, else ZF = 0 and the register unchanged. Not
 * privileged, never #GP for the selector; #UD in real mode (cpu_legacy.c). */
static void exec_lar_lsl(cpu_t *c, const cpu_insn *i)
{
    uint16_t sel = (uint16_t)cpu_rm_read(c, i, 2);
    bool lsl = i->op == 0x03;
    uint64_t d = 0;
    bool ok = probe_desc(c, sel, &d);
    if (ok && !((d >> 44) & 1))
        ok = lar_lsl_system_ok((d >> 40) & 0xF, mode_ia32e(i->mode), lsl);
    ok = ok && desc_visible(c, sel, d);
    cpu_flags_set(c, CPU_FL_ZF, ok ? CPU_FL_ZF : 0);
    if (!ok)
        return;
    uint64_t v = (d >> 32) & 0x00F0FF00u;
    if (lsl)
        v = seg_from_desc(sel, d).limit;
    cpu_reg_set(c, i->reg, i->osize, v);
}

static bool decode_lar_lsl(cpu_insn *i)
{
    i->exec = exec_lar_lsl;
    return true;
}

/* VERR (0F 00 /4), VERW (0F 00 /5): ZF = 1 when the selector names a code
 * or data segment readable (VERR: data, or readable code) or writable
 * (VERW: writable data) at the current CPL and the selector's RPL (SDM
 * Vol. 2 "VERR/VERW"); never a fault for the selector. */
static void exec_verr_verw(cpu_t *c, const cpu_insn *i)
{
    uint16_t sel = (uint16_t)cpu_rm_read(c, i, 2);
    uint64_t d = 0;
    bool ok = probe_desc(c, sel, &d) && ((d >> 44) & 1) && desc_visible(c, sel, d);
    if (ok) {
        unsigned type = (d >> 40) & 0xF;
        bool code = (type & 8) != 0;
        ok = i->sub == 5 ? !code && (type & 2) : !code || (type & 2);
    }
    cpu_flags_set(c, CPU_FL_ZF, ok ? CPU_FL_ZF : 0);
}

/* 0F 00: SLDT, STR, LLDT, LTR, VERR, VERW. */
static bool decode_grp6(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    i->cost_class = CPU_COST_SYSTEM;
    switch (digit) {
    case 0:
    case 1:
        i->sub = (uint8_t)(DT_SLDT + digit);
        i->exec = exec_sldt_str;
        return true;
    case 2:
        i->exec = exec_lldt;
        return true;
    case 3:
        i->exec = exec_ltr;
        return true;
    case 4:
    case 5:
        i->sub = (uint8_t)digit;
        i->exec = exec_verr_verw;
        return true;
    default:
        return false;
    }
}

void cpu_register_segment(cpu_opmap *m)
{
    cpu_op(m, 1, 0x00, decode_grp6, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x02, decode_lar_lsl, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x03, decode_lar_lsl, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SYSTEM);
    for (unsigned op = 0xA0; op <= 0xA8; op += 8) {
        cpu_op(m, 1, op, decode_push_pop_sreg, CPU_OPF_DEF64, CPU_IMM_NONE, CPU_COST_STACK);
        cpu_op(m, 1, op + 1, decode_push_pop_sreg, CPU_OPF_DEF64, CPU_IMM_NONE, CPU_COST_STACK);
    }
}
