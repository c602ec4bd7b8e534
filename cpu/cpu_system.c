/*
 * cpu_system.c — the system instructions of the interpreter (SDM Vol. 2,
 * each instruction's page; SDM Vol. 3A chapters 2-3 for control registers,
 * descriptor tables and segments, chapter 6 for interrupts, chapter 25 for
 * which of them VMX non-root operation intercepts).
 *
 * Order of checks in every handler, as in SDM Vol. 3A 26.1.1 "Relative
 * Priority of Faults and VM Exits": #UD and CPL-based #GP first, then the
 * intercept hook (a VM exit in non-root operation), then the checks on the
 * operands, then the architectural effect. A handler changes nothing before
 * its last fault can be raised (cpu_internal.h contract).
 *
 * MSR instructions live in cpu_msr.c, CPUID in cpu_cpuid.c; this file
 * registers the 0F 01 group that mixes them.
 */
#include "cpu/cpu_internal.h"

/* Interfaces between the files of cpu/ that cpu_internal.h does not list yet. */

/* VMCS-style event types for cpu_deliver_event (SDM Vol. 3C 25.8.3). */
enum { EVT_SOFT_INT = 4, EVT_PRIV_SOFT = 5, EVT_SOFT_EXC = 6 };

/* Basic exit reasons of the VMX instructions (SDM Vol. 3C Appendix C); the
 * intercept hook gets them in cpu_icpt.subop. */
enum {
    VMX_VMCLEAR = 19, VMX_VMLAUNCH = 20, VMX_VMPTRLD = 21, VMX_VMPTRST = 22,
    VMX_VMREAD = 23, VMX_VMRESUME = 24, VMX_VMWRITE = 25, VMX_VMXOFF = 26,
    VMX_VMXON = 27, VMX_INVEPT = 50, VMX_INVVPID = 53, VMX_VMFUNC = 59,
    VMX_VMCALL_REASON = 18,
};

/* cpu_icpt.subop of CPU_ICPT_DESC_TABLE: the instruction identity of the
 * VMX exit qualifications of exits 46 (0-3) and 47 (4 + identity). */
enum { DT_SGDT, DT_SIDT, DT_LGDT, DT_LIDT, DT_SLDT, DT_STR, DT_LLDT, DT_LTR };

/* CR0 bits a MOV may set (SDM Vol. 3A 2.5); the other low bits are
 * reserved and ignored, ET is hardwired to 1. */
#define CR0_WRITABLE                                                                      \
    ((uint64_t)(CPU_CR0_PE | CPU_CR0_MP | CPU_CR0_EM | CPU_CR0_TS | CPU_CR0_ET |           \
                CPU_CR0_NE | CPU_CR0_WP | CPU_CR0_AM | CPU_CR0_NW | CPU_CR0_CD | CPU_CR0_PG))
/* CR4 bits of features CPUID reports (docs/cpu-model.md); every other bit is
 * reserved for this CPU and setting it is #GP(0). */
#define CR4_SUPPORTED                                                                     \
    ((uint64_t)(CPU_CR4_TSD | CPU_CR4_PSE | CPU_CR4_PAE | CPU_CR4_PGE | CPU_CR4_PCE |     \
                CPU_CR4_VMXE))

/* Canonical 48-bit address (SDM Vol. 1 3.3.7.1), without the signed
 * left shift of cpu_canonical, which UBSan reports for upper-half values. */
static inline bool is_canonical(uint64_t va)
{
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1FFFF;
}

/* SDM 23.8 "Restrictions on VMX Operation": in VMX operation every bit set
 * in FIXED0 must be 1 and every bit clear in FIXED1 must be 0. */
static inline bool cpu_vmx_cr_ok(uint64_t v, uint64_t fixed0, uint64_t fixed1, bool in_vmx)
{
    return !in_vmx || ((v & fixed0) == fixed0 && (v & ~fixed1) == 0);
}

static inline void require_cpl0(cpu_t *c)
{
    if (c->cpl != 0)
        cpu_gp0(c);
}

static _Noreturn void fault_sel(cpu_t *c, unsigned vector, uint16_t sel)
{
    cpu_fault(c, vector, sel & 0xFFFCu);
}

/* ---- control registers (SDM Vol. 3A 2.5, Vol. 2 "MOV—Move to/from Control Registers") ---- */

static void emit_cr(cpu_t *c, unsigned cr, uint64_t before, uint64_t after)
{
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_CR_WRITE, cr, before, c->rip, after);
}

/* Whether PAE paging (SDM 4.1.1 Table 4-1: CR0.PG = 1, CR4.PAE = 1,
 * IA32_EFER.LME = 0) is in use with these register values. */
static bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    return (cr0 & CPU_CR0_PG) && (cr4 & CPU_CR4_PAE) && !(efer & CPU_EFER_LME);
}

/* SDM 4.4.1: a MOV to CR0/CR3/CR4 after which PAE paging is in use loads
 * the PDPTE registers from the new CR3 first; a present PDPTE with a
 * reserved bit makes the MOV #GP(0), leaving every register as it was. */
static void load_pdptes_or_gp(cpu_t *c, uint64_t cr3)
{
    uint64_t p[4];
    if (!cpu_pdptes_read(c, cr3, p))
        cpu_gp0(c);
    memcpy(c->pdpte, p, sizeof p);
}

/* CR0 load checks (SDM Vol. 2 MOV CR exceptions; Vol. 3A 9.8.5): bits 63:32
 * are reserved; NW without CD and PG without PE are invalid; paging cannot
 * be turned off from 64-bit mode. Paging-mode changes flush the TLB
 * (SDM 4.10.4.1); one that leaves PAE paging in use (PG set, or CD/NW
 * changed under it) loads the PDPTEs (SDM 4.4.1). */
static void cr0_write(cpu_t *c, uint64_t v)
{
    if (v >> 32)
        cpu_gp0(c);
    v = (v & CR0_WRITABLE) | CPU_CR0_ET;
    if ((v & CPU_CR0_NW) && !(v & CPU_CR0_CD))
        cpu_gp0(c);
    if ((v & CPU_CR0_PG) && !(v & CPU_CR0_PE))
        cpu_gp0(c);
    if (c->mode == CPU_MODE_LONG64 && !(v & CPU_CR0_PG))
        cpu_gp0(c);
    if (!cpu_vmx_cr_ok(v, c->vmx_cr0_fixed0, c->vmx_cr0_fixed1, c->vmx_operation))
        cpu_gp0(c);
    uint64_t old = c->cr0;
    bool pg_on = (v & CPU_CR0_PG) && !(old & CPU_CR0_PG);
    bool pg_off = !(v & CPU_CR0_PG) && (old & CPU_CR0_PG);
    /* SDM 9.8.5: setting PG with EFER.LME = 1 activates IA-32e mode
     * (LMA = 1), which needs CR4.PAE = 1 and a CS without L; clearing PG
     * (from compatibility mode) deactivates it (SDM 9.8.5.4). */
    if (pg_on && (c->efer & CPU_EFER_LME) &&
        (!(c->cr4 & CPU_CR4_PAE) || (c->seg[CPU_CS].attr & CPU_SEG_L)))
        cpu_gp0(c);
    if (pae_paging(v, c->cr4, c->efer) &&
        (pg_on || ((old ^ v) & (CPU_CR0_CD | CPU_CR0_NW))))
        load_pdptes_or_gp(c, c->cr3);
    c->cr0 = v;
    if (pg_on && (c->efer & CPU_EFER_LME))
        c->efer |= CPU_EFER_LMA;
    else if (pg_off)
        c->efer &= ~(uint64_t)CPU_EFER_LMA;
    if ((old ^ v) & (CPU_CR0_PG | CPU_CR0_WP | CPU_CR0_PE))
        cpu_tlb_flush(c);
    emit_cr(c, 0, old, v);
    cpu_update_mode(c);
}

/* CR3 load (SDM 4.5, 4.10.4.1): without PCIDE bits 63:MAXPHYADDR are
 * reserved; with PAE paging the PDPTEs are loaded (SDM 4.4.1); the load
 * invalidates the TLB. */
static void cr3_write(cpu_t *c, uint64_t v)
{
    if (v >> CPU_MAXPHYADDR)
        cpu_gp0(c);
    if (pae_paging(c->cr0, c->cr4, c->efer))
        load_pdptes_or_gp(c, v);
    uint64_t old = c->cr3;
    c->cr3 = v;
    cpu_tlb_flush(c);
    emit_cr(c, 3, old, v);
}

/* CR4 load: unsupported bits are reserved; PAE cannot be cleared in IA-32e
 * mode; changing PSE, PAE or PGE flushes the TLB (SDM 4.10.4.1), and
 * with PAE paging in use afterwards also loads the PDPTEs (SDM 4.4.1:
 * 32-bit paging <-> PAE paging by MOV CR4 is allowed). */
static void cr4_write(cpu_t *c, uint64_t v)
{
    if (v & ~CR4_SUPPORTED)
        cpu_gp0(c);
    if ((c->efer & CPU_EFER_LMA) && !(v & CPU_CR4_PAE))
        cpu_gp0(c);
    if (!cpu_vmx_cr_ok(v, c->vmx_cr4_fixed0, c->vmx_cr4_fixed1, c->vmx_operation))
        cpu_gp0(c);
    uint64_t old = c->cr4;
    uint64_t paging_bits = CPU_CR4_PSE | CPU_CR4_PAE | CPU_CR4_PGE;
    if (pae_paging(c->cr0, v, c->efer) && ((old ^ v) & paging_bits))
        load_pdptes_or_gp(c, c->cr3);
    c->cr4 = v;
    if ((old ^ v) & paging_bits)
        cpu_tlb_flush(c);
    emit_cr(c, 4, old, v);
}

/* CR8 = TPR[7:4] (SDM Vol. 3A 10.8.6.1); bits 63:4 are reserved. Lowering
 * it may unmask a pending interrupt, so the run loop must look. */
static void cr8_write(cpu_t *c, uint64_t v)
{
    if (v >> 4)
        cpu_gp0(c);
    uint64_t old = c->cr8;
    c->cr8 = v;
    c->events |= CPU_EVT_INTR;
    emit_cr(c, 8, old, v);
}

static void exec_mov_from_cr(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
    cpu_icpt info = {.kind = CPU_ICPT_CR_READ, .len = i->len, .reg = i->rm, .cr = i->reg};
    uint64_t v;
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE) {
        v = info.value;
    } else {
        switch (i->reg) {
        case 0: v = c->cr0; break;
        case 2: v = c->cr2; break;
        case 3: v = c->cr3; break;
        case 4: v = c->cr4; break;
        default: v = c->cr8; break;
        }
    }
    c->gpr[i->rm] = v;
}

static void exec_mov_to_cr(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
    uint64_t v = c->gpr[i->rm];
    cpu_icpt info = {.kind = CPU_ICPT_CR_WRITE, .len = i->len, .reg = i->rm, .cr = i->reg,
                     .value = v};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    v = info.value; /* a hook that passes may have merged host-owned bits (VMX masks) */
    switch (i->reg) {
    case 0: cr0_write(c, v); break;
    case 2: {
        uint64_t old = c->cr2;
        c->cr2 = v;
        emit_cr(c, 2, old, v);
        break;
    }
    case 3: cr3_write(c, v); break;
    case 4: cr4_write(c, v); break;
    default: cr8_write(c, v); break;
    }
}

/* 0F 20 / 0F 22: REX.R selects CR8; CR1, CR5-7 and CR9-15 are #UD. LOCK
 * (AMD's CR8 alias) is rejected by the decoder: MOD is forced to register. */
static bool decode_mov_cr(cpu_insn *i)
{
    unsigned cr = i->reg;
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8)
        return false;
    i->exec = i->op == 0x20 ? exec_mov_from_cr : exec_mov_to_cr;
    return true;
}

/* CLTS (SDM Vol. 2 "CLTS"). */
static void exec_clts(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
    cpu_icpt info = {.kind = CPU_ICPT_CLTS, .len = i->len, .cr = 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    uint64_t old = c->cr0;
    c->cr0 &= ~(uint64_t)CPU_CR0_TS;
    emit_cr(c, 0, old, c->cr0);
}

/* SMSW (SDM Vol. 2 "SMSW"): not privileged (no UMIP). It reads CR0 through
 * the CR-read intercept so VMX can apply the CR0 read shadow. */
static void exec_smsw(cpu_t *c, const cpu_insn *i)
{
    cpu_icpt info = {.kind = CPU_ICPT_CR_READ, .len = i->len, .reg = i->rm, .cr = 0};
    uint64_t v = cpu_intercept(c, &info) == CPU_HOOK_DONE ? info.value : c->cr0;
    if (i->has_mem)
        cpu_write(c, cpu_ea(c, i), 2, v);
    else
        cpu_reg_set(c, i->rm, i->osize, v);
}

/* LMSW (SDM Vol. 2 "LMSW"): loads CR0[3:0]; it can set PE but not clear it. */
static void exec_lmsw(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
    uint64_t src = cpu_rm_read(c, i, 2);
    cpu_icpt info = {.kind = CPU_ICPT_LMSW, .len = i->len, .value = src,
                     .addr = i->has_mem ? cpu_ea(c, i) : 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    uint64_t old = c->cr0;
    uint64_t v = (old & ~0xEull) | (src & 0xF) | (old & CPU_CR0_PE);
    c->cr0 = v;
    if ((old ^ v) & CPU_CR0_PE)
        cpu_tlb_flush(c);
    emit_cr(c, 0, old, v);
    cpu_update_mode(c);
}

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
            fault_sel(c, CPU_EXC_GP, sel);
        base = c->ldtr.base;
        limit = c->ldtr.limit;
    } else {
        base = c->gdtr.base;
        limit = c->gdtr.limit;
    }
    if ((uint64_t)(sel & ~7u) + bytes - 1 > limit)
        fault_sel(c, CPU_EXC_GP, sel);
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
            fault_sel(c, CPU_EXC_GP, sel);
        if (!p)
            fault_sel(c, CPU_EXC_SS, sel);
    } else {
        if (!s || (code && !(type & 2)))
            fault_sel(c, CPU_EXC_GP, sel);
        if ((!code || !(type & 4)) && (rpl > dpl || cpl > dpl))
            fault_sel(c, CPU_EXC_GP, sel);
        if (!p)
            fault_sel(c, CPU_EXC_NP, sel);
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
static void exec_desc_table(cpu_t *c, const cpu_insn *i)
{
    unsigned which = i->sub;
    if (which >= DT_LGDT)
        require_cpl0(c);
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
        fault_sel(c, CPU_EXC_GP, sel);
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
        fault_sel(c, CPU_EXC_GP, sel);
    if (!p)
        fault_sel(c, CPU_EXC_NP, sel);
    cpu_seg s = system_seg(sel, lo, hi);
    if (ia32e && !is_canonical(s.base))
        fault_sel(c, CPU_EXC_GP, sel);
    return s;
}

/* LLDT (SDM Vol. 2 "LLDT", Vol. 3A 3.5.2): an LDT descriptor (type 2) from
 * the GDT, 16 bytes in IA-32e mode and 8 bytes in protected mode; a null
 * selector makes the LDT unusable. */
static void exec_lldt(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
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
    require_cpl0(c);
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

/* 0F 00: SLDT, STR, LLDT, LTR; VERR/VERW are not implemented (reported). */
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
        i->exec = cpu_exec_unimplemented;
        i->ends_block = 1;
        return true;
    default:
        return false;
    }
}

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
    uint64_t io_base = sys_read(c, c->tr.base + 0x66, 2);
    uint64_t off = io_base + port / 8;
    if (off + 1 > c->tr.limit)
        cpu_gp0(c);
    uint64_t bits = sys_read(c, c->tr.base + off, 2);
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
        cpu_begin_shadow(c, 1);
    }
    c->events |= CPU_EVT_INTR;
}

/* HLT (SDM Vol. 2 "HLT"): the run loop returns CPU_STOP_HALT and an
 * interrupt delivery (cpu_deliver_interrupt) resumes after the HLT. */
static void exec_hlt(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
    cpu_icpt info = {.kind = CPU_ICPT_HLT, .len = i->len};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    c->halted = 1;
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_HALT, 0, 0, c->rip, 0);
    cpu_end_block(c);
}

/* INT n, INT3, INT1 (SDM Vol. 2 "INT n/INTO/INT3/INT1"): delivered through
 * the IDT with the return address after the instruction. */
static void exec_soft_int(cpu_t *c, const cpu_insn *i)
{
    unsigned type = i->op == 0xCD ? EVT_SOFT_INT : i->op == 0xCC ? EVT_SOFT_EXC : EVT_PRIV_SOFT;
    uint8_t vector = i->op == 0xCD ? (uint8_t)i->imm : i->op == 0xCC ? CPU_EXC_BP : CPU_EXC_DB;
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_SOFT_INT, vector, 0, c->rip, 0);
    cpu_deliver_event(c, vector, type, false, 0, i->len);
}

/* Checks the code segment IRET returns to (SDM Vol. 2 "IRET", IA-32e mode
 * protected-mode return); returns its descriptor. */
static uint64_t iret_check_cs(cpu_t *c, uint16_t sel)
{
    if ((sel & 0xFFFC) == 0)
        cpu_gp0(c);
    uint64_t d = sys_read(c, desc_addr(c, sel, 8), 8);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    unsigned rpl = sel & 3;
    if (!s || !(type & 8) || rpl < c->cpl)
        fault_sel(c, CPU_EXC_GP, sel);
    if ((type & 4) ? dpl > rpl : dpl != rpl)
        fault_sel(c, CPU_EXC_GP, sel);
    if (!p)
        fault_sel(c, CPU_EXC_NP, sel);
    return d;
}

/* Checks the SS IRET loads for the new CPL (64-bit mode: a null SS is
 * allowed when returning to CPL < 3 in 64-bit code); returns the register. */
static cpu_seg iret_check_ss(cpu_t *c, uint16_t sel, unsigned new_cpl)
{
    if ((sel & 0xFFFC) == 0) {
        if (new_cpl == 3 || (sel & 3) != new_cpl)
            cpu_gp0(c);
        return (cpu_seg){.sel = sel, .attr = 0, .limit = 0, .base = 0};
    }
    uint64_t d = sys_read(c, desc_addr(c, sel, 8), 8);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    if ((sel & 3) != new_cpl || !s || (type & 8) || !(type & 2) || dpl != new_cpl)
        fault_sel(c, CPU_EXC_GP, sel);
    if (!p)
        fault_sel(c, CPU_EXC_SS, sel);
    return seg_from_desc(sel, d);
}

/*
 * IRET in IA-32e mode (SDM Vol. 2 "IRET/IRETD/IRETQ"): pops RIP, CS, RFLAGS,
 * RSP and SS at the operand size (SS:RSP always, in 64-bit mode), checks
 * CS and SS, and changes CPL. Everything is read and checked before any
 * state changes. Returning to compatibility mode is not implemented.
 * NMI unblocking is not modelled: cpu_t has no NMI-blocking state yet.
 */
static void exec_iret(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = i->osize;
    if (c->rflags & CPU_FL_NT)
        cpu_gp0(c); /* task return is not available in IA-32e mode */
    uint64_t sp = c->gpr[CPU_RSP];
    uint64_t new_rip = cpu_read(c, sp, sz);
    uint16_t cs_sel = (uint16_t)cpu_read(c, sp + sz, sz);
    uint64_t fl = cpu_read(c, sp + 2 * sz, sz);
    uint64_t new_rsp = cpu_read(c, sp + 3 * sz, sz);
    uint16_t ss_sel = (uint16_t)cpu_read(c, sp + 4 * sz, sz);

    uint64_t d = iret_check_cs(c, cs_sel);
    if (!((d >> 53) & 1))
        cpu_exec_unimplemented(c, i); /* return to compatibility mode */
    unsigned new_cpl = cs_sel & 3;
    cpu_seg ss = iret_check_ss(c, ss_sel, new_cpl);
    if (!is_canonical(new_rip))
        cpu_gp0(c);

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

    cpu_seg cs = seg_from_desc(cs_sel, d);
    cs.base = 0;
    cs.limit = 0xFFFFFFFF;
    c->seg[CPU_CS] = cs;
    cpu_update_mode(c);
    c->seg[CPU_SS] = ss;
    c->gpr[CPU_RSP] = sz == 2 ? (c->gpr[CPU_RSP] & ~0xFFFFull) | (uint16_t)new_rsp : new_rsp;
    c->next_rip = sz == 2 ? (uint16_t)new_rip : new_rip;
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

/* ---- TLB, caches, VMX and the rest ----------------------------------------------------- */

static void exec_invlpg(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
    uint64_t ea = cpu_ea(c, i);
    cpu_icpt info = {.kind = CPU_ICPT_INVLPG, .len = i->len, .addr = ea};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    cpu_tlb_flush_page(c, ea);
}

/* INVD, WBINVD: the interpreter has no caches to write back. */
static void exec_invd(cpu_t *c, const cpu_insn *i)
{
    require_cpl0(c);
    cpu_icpt info = {.kind = i->op == 0x08 ? CPU_ICPT_INVD : CPU_ICPT_WBINVD, .len = i->len};
    cpu_intercept(c, &info);
}

/* PAUSE (F3 90): a spin-loop hint; VMX may exit on it. */
static void exec_pause(cpu_t *c, const cpu_insn *i)
{
    cpu_icpt info = {.kind = CPU_ICPT_PAUSE, .len = i->len};
    cpu_intercept(c, &info);
}

bool cpu_decode_pause(cpu_insn *i)
{
    i->exec = exec_pause;
    return true;
}

/* RDPMC (SDM Vol. 2 "RDPMC"): CPUID leaf 0AH reports no counters, so every
 * counter number is invalid: #GP(0) once the privilege check passes. */
static void exec_rdpmc(cpu_t *c, const cpu_insn *i)
{
    if (c->cpl != 0 && !(c->cr4 & CPU_CR4_PCE))
        cpu_gp0(c);
    cpu_icpt info = {.kind = CPU_ICPT_RDPMC, .len = i->len, .msr = (uint32_t)c->gpr[CPU_RCX]};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE) {
        c->gpr[CPU_RAX] = (uint32_t)info.value;
        c->gpr[CPU_RDX] = (uint32_t)(info.value >> 32);
        return;
    }
    cpu_gp0(c);
}

/* SDM Vol. 3C 31.2 "Conventions": VMsucceed clears CF, PF, AF, ZF, SF and
 * OF; VMfailInvalid sets CF; VMfailValid sets ZF (the error number is in
 * the current VMCS, written by the hook). */
static void vmx_set_result(cpu_t *c, cpu_vmx_result r)
{
    uint64_t v = r == CPU_VMX_FAIL_INVALID ? CPU_FL_CF : r == CPU_VMX_FAIL_VALID ? CPU_FL_ZF : 0;
    if (r != CPU_VMX_DEFERRED)
        cpu_flags_set(c, CPU_FL_ARITH, v);
}

/* The #UD of every VMX instruction in real mode, virtual-8086 mode and
 * compatibility mode (SDM Vol. 3C 31.3: "(CR0.PE = 0) or (RFLAGS.VM = 1) or
 * (IA32_EFER.LMA = 1 and CS.L = 0)"). */
static bool vmx_mode_ud(const cpu_t *c)
{
    return !(c->cr0 & CPU_CR0_PE) || (c->rflags & CPU_FL_VM) || c->mode == CPU_MODE_COMPAT32 ||
           c->mode == CPU_MODE_COMPAT16;
}

/* VMCALL (SDM Vol. 3C 31.3 "VMCALL"): in non-root operation it exits (the
 * intercept); outside VMX operation it is #UD; in VMX root operation it
 * goes to hooks.vmx (there is no dual-monitor treatment: VMfail). */
static void exec_vmcall(cpu_t *c, const cpu_insn *i)
{
    cpu_icpt info = {.kind = CPU_ICPT_VMCALL, .len = i->len};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    if (!c->vmx_operation || vmx_mode_ud(c) || !c->hooks.vmx)
        cpu_ud(c);
    require_cpl0(c);
    cpu_vmx_op op = {.insn = VMX_VMCALL_REASON};
    vmx_set_result(c, c->hooks.vmx(c->hooks.ctx, c, &op));
}

/* The other VMX instructions (SDM Vol. 3C 31.3, the "Operation" section of
 * each): #UD in the wrong mode (VMXON: also with CR4.VMXE = 0), the VM exit
 * in non-root operation (the intercept), #UD outside VMX operation (but
 * VMXON), #GP(0) at CPL > 0; VMXON outside VMX operation also #GP(0) unless
 * IA32_FEATURE_CONTROL is locked with VMXON outside SMX allowed and CR0/CR4
 * hold the bits fixed in VMX operation (SDM 23.7, 23.8). Then the memory
 * operands are read (their faults come before any effect), hooks.vmx does
 * the instruction, and the destination and RFLAGS are written. Without
 * hooks.vmx this machine has no VMX root operation for its guest: VMXON is
 * reported as unimplemented. */
static void exec_vmx(cpu_t *c, const cpu_insn *i)
{
    unsigned insn = i->sub;
    if (vmx_mode_ud(c) || (insn == VMX_VMXON && !(c->cr4 & CPU_CR4_VMXE)))
        cpu_ud(c);
    cpu_icpt info = {.kind = CPU_ICPT_VMX_INSN, .len = i->len, .subop = i->sub,
                     .reg = i->reg, .addr = i->has_mem ? cpu_ea(c, i) : 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    /* VMFUNC outside non-root operation is #UD (SDM 31.3 "VMFUNC"). */
    if ((!c->vmx_operation && insn != VMX_VMXON) || insn == VMX_VMFUNC)
        cpu_ud(c);
    require_cpl0(c);
    if (!c->hooks.vmx)
        cpu_exec_unimplemented(c, i);
    if (insn == VMX_VMXON && !c->vmx_operation) {
        if ((c->feature_control & 5) != 5 ||
            !cpu_vmx_cr_ok(c->cr0, c->vmx_cr0_fixed0, c->vmx_cr0_fixed1, true) ||
            !cpu_vmx_cr_ok(c->cr4, c->vmx_cr4_fixed0, c->vmx_cr4_fixed1, true))
            cpu_gp0(c);
    }
    cpu_vmx_op op = {.insn = insn,
                     .mov_ss = (c->events & CPU_EVT_SHADOW) && c->shadow_kind == 2};
    switch (insn) {
    case VMX_VMXON:
    case VMX_VMCLEAR:
    case VMX_VMPTRLD:
        op.ptr = cpu_read(c, cpu_ea(c, i), 8);
        break;
    case VMX_VMPTRST:
        cpu_probe_write(c, cpu_ea(c, i), 8);
        break;
    case VMX_VMREAD:
        /* 0F 78 /r VMREAD r/m64, r64: the encoding is in ModRM.reg. */
        op.field = c->gpr[i->reg];
        if (i->has_mem)
            cpu_probe_write(c, cpu_ea(c, i), 8);
        break;
    case VMX_VMWRITE:
        /* 0F 79 /r VMWRITE r64, r/m64. */
        op.field = c->gpr[i->reg];
        op.value = i->has_mem ? cpu_read(c, cpu_ea(c, i), 8) : c->gpr[i->rm];
        break;
    case VMX_INVEPT:
    case VMX_INVVPID:
        op.field = c->gpr[i->reg];
        op.desc[0] = cpu_read(c, cpu_ea(c, i), 8);
        op.desc[1] = cpu_read(c, cpu_ea(c, i) + 8, 8);
        break;
    default:
        break;
    }
    cpu_vmx_result r = c->hooks.vmx(c->hooks.ctx, c, &op);
    if (r == CPU_VMX_SUCCEED && (insn == VMX_VMPTRST || insn == VMX_VMREAD)) {
        if (insn == VMX_VMREAD && !i->has_mem)
            c->gpr[i->rm] = op.value;
        else
            cpu_write(c, cpu_ea(c, i), 8, op.value);
    }
    vmx_set_result(c, r);
}

static bool vmx_insn(cpu_insn *i, unsigned reason)
{
    i->sub = (uint8_t)reason;
    i->exec = exec_vmx;
    /* Those that change the processor's operation end the block (VM
     * entry, entering and leaving VMX operation, INIT blocking); VMREAD,
     * VMWRITE, VMPTRLD, VMPTRST, VMCLEAR and INVEPT/INVVPID change only the
     * VMCS, memory or the TLB, and the block goes on. In non-root
     * operation all of them exit, which abandons the block anyway. */
    i->ends_block = reason == VMX_VMLAUNCH || reason == VMX_VMRESUME || reason == VMX_VMXON ||
                    reason == VMX_VMXOFF || reason == VMX_VMFUNC;
    i->cost_class = CPU_COST_SYSTEM;
    return true;
}

/* 0F 78 VMREAD, 0F 79 VMWRITE (66/F2/F3 forms are AMD's SSE4a: #UD). */
static bool decode_vmread_vmwrite(cpu_insn *i)
{
    if (i->pfx & (CPU_PFX_OSIZE | CPU_PFX_REP | CPU_PFX_REPNE))
        return false;
    return vmx_insn(i, i->op == 0x78 ? VMX_VMREAD : VMX_VMWRITE);
}

/* 66 0F 38 80 INVEPT, 66 0F 38 81 INVVPID: memory operand required. */
static bool decode_invept(cpu_insn *i)
{
    if (!(i->pfx & CPU_PFX_OSIZE) || !i->has_mem)
        return false;
    return vmx_insn(i, i->op == 0x80 ? VMX_INVEPT : VMX_INVVPID);
}

/* 0F C7: /1 CMPXCHG8B/16B (cpu_transfer.c); /6 VMPTRLD, 66 /6 VMCLEAR,
 * F3 /6 VMXON, /7 VMPTRST with memory. RDRAND, RDSEED and RDPID (register
 * forms) and the XSAVE forms are #UD: CPUID reports them absent. */
static bool decode_grp9(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    if (digit == 1)
        return cpu_decode_cmpxchg8b(i);
    if ((i->pfx & CPU_PFX_LOCK) || !i->has_mem)
        return false;
    if (digit == 6) {
        if (i->pfx & CPU_PFX_REP)
            return vmx_insn(i, VMX_VMXON);
        return vmx_insn(i, (i->pfx & CPU_PFX_OSIZE) ? VMX_VMCLEAR : VMX_VMPTRLD);
    }
    if (digit == 7 && !(i->pfx & (CPU_PFX_OSIZE | CPU_PFX_REP | CPU_PFX_REPNE)))
        return vmx_insn(i, VMX_VMPTRST);
    return false;
}

/* 0F 01 (group 7): the memory forms are the descriptor-table instructions,
 * SMSW, LMSW and INVLPG; the register forms are selected by the whole
 * ModRM byte. MONITOR/MWAIT, XGETBV/XSETBV, CLAC/STAC, XTEST and the rest
 * are #UD: CPUID reports none of their features. */
static bool decode_grp7(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    i->cost_class = CPU_COST_SYSTEM;
    if (i->has_mem) {
        switch (digit) {
        case 0:
        case 1:
        case 2:
        case 3:
            i->sub = (uint8_t)digit;
            i->exec = exec_desc_table;
            i->ends_block = digit >= 2;
            return true;
        case 4:
            i->exec = exec_smsw;
            return true;
        case 6:
            i->exec = exec_lmsw;
            i->ends_block = 1;
            return true;
        case 7:
            i->exec = exec_invlpg;
            i->ends_block = 1;
            return true;
        default:
            return false;
        }
    }
    switch (i->modrm) {
    case 0xC1:
        i->exec = exec_vmcall;
        i->ends_block = 1;
        return true;
    case 0xC2: return vmx_insn(i, VMX_VMLAUNCH);
    case 0xC3: return vmx_insn(i, VMX_VMRESUME);
    case 0xC4: return vmx_insn(i, VMX_VMXOFF);
    case 0xD4: return vmx_insn(i, VMX_VMFUNC);
    case 0xF8:
        /* SWAPGS exists in 64-bit mode only (SDM Vol. 2 "SWAPGS"). */
        if (cpu_mode_legacy(i->mode))
            return false;
        i->exec = cpu_exec_swapgs;
        return true;
    case 0xF9:
        i->exec = cpu_exec_rdtscp;
        return true;
    default:
        break;
    }
    if (digit == 4) {
        i->exec = exec_smsw;
        return true;
    }
    if (digit == 6) {
        i->exec = exec_lmsw;
        i->ends_block = 1;
        return true;
    }
    return false;
}

static bool decode_simple(cpu_insn *i)
{
    switch (i->map == 0 ? i->op : 0x100 | i->op) {
    case 0xF4: i->exec = exec_hlt; break;
    case 0xFA: i->exec = exec_cli; break;
    case 0xFB: i->exec = exec_sti; break;
    case 0xCC:
    case 0xCD:
    case 0xF1: i->exec = exec_soft_int; break;
    case 0xCF: i->exec = exec_iret; break;
    case 0x106: i->exec = exec_clts; break;
    case 0x108:
    case 0x109: i->exec = exec_invd; break;
    case 0x133: i->exec = exec_rdpmc; break;
    default: i->exec = exec_io; break; /* E4-E7, EC-EF */
    }
    return true;
}

void cpu_register_system(cpu_opmap *m)
{
    const unsigned M = CPU_OPF_MODRM, E = CPU_OPF_ENDS, B = CPU_OPF_BYTE;

    /* one-byte map */
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

    /* 0F map */
    /* UD2, UD1, UD0: the architecturally undefined opcodes (#UD, not reported
     * as unimplemented). */
    cpu_op(m, 1, 0x0B, NULL, CPU_OPF_UD, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xB9, NULL, CPU_OPF_UD | M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xFF, NULL, CPU_OPF_UD | M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0x00, decode_grp6, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x01, decode_grp7, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x06, decode_simple, E, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x08, decode_simple, 0, CPU_IMM_NONE, CPU_COST_SERIALIZE);
    cpu_op(m, 1, 0x09, decode_simple, 0, CPU_IMM_NONE, CPU_COST_SERIALIZE);
    cpu_op(m, 1, 0x20, decode_mov_cr, CPU_OPF_MODREG, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x22, decode_mov_cr, CPU_OPF_MODREG | E, CPU_IMM_NONE, CPU_COST_SERIALIZE);
    cpu_op(m, 1, 0x33, decode_simple, 0, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x78, decode_vmread_vmwrite, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x79, decode_vmread_vmwrite, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    for (unsigned op = 0xA0; op <= 0xA8; op += 8) {
        cpu_op(m, 1, op, decode_push_pop_sreg, CPU_OPF_DEF64, CPU_IMM_NONE, CPU_COST_STACK);
        cpu_op(m, 1, op + 1, decode_push_pop_sreg, CPU_OPF_DEF64, CPU_IMM_NONE, CPU_COST_STACK);
    }
    cpu_op(m, 1, 0xC7, decode_grp9, M | CPU_OPF_LOCKOK, CPU_IMM_NONE, CPU_COST_ATOMIC);

    /* 0F 38 map */
    cpu_op(m, 2, 0x80, decode_invept, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 2, 0x81, decode_invept, M, CPU_IMM_NONE, CPU_COST_SYSTEM);

    cpu_register_msr(m);
    cpu_register_cpuid(m);
}
