/*
 * cpu_legacy.c — what 32-bit protected mode and compatibility mode do
 * differently from 64-bit mode: near branches that truncate EIP and check
 * the CS limit, stack operations at the operand size through SS:ESP, PUSHA/
 * POPA, PUSH/POP of segment registers (far JMP/CALL/RET: cpu_far.c), IRET
 * and interrupt delivery through
 * the 32-bit IDT (SDM Vol. 3A 6.10-6.12), and which 64-bit-mode handlers
 * are wrong outside 64-bit mode (they are reported as unimplemented there,
 * never run silently wrong).
 *
 * The decoder calls cpu_legacy_fixup() for every instruction it decodes
 * outside 64-bit mode; 64-bit decoding never reaches this file, so 64-bit
 * speed does not depend on it.
 */
#include "cpu/cpu_internal.h"

/* ---- stack (SDM Vol. 1 6.2, Vol. 3A 3.4.5: SS.B selects ESP or SP) ---------- */

static inline bool stack32(const cpu_t *c)
{
    return (c->seg[CPU_SS].attr & CPU_SEG_DB) != 0;
}

static inline uint64_t sp_get(const cpu_t *c)
{
    return stack32(c) ? (uint32_t)c->gpr[CPU_RSP] : (uint16_t)c->gpr[CPU_RSP];
}

static inline void sp_set(cpu_t *c, uint64_t sp)
{
    if (stack32(c))
        c->gpr[CPU_RSP] = (uint32_t)sp;
    else
        c->gpr[CPU_RSP] = (c->gpr[CPU_RSP] & ~0xFFFFull) | (uint16_t)sp;
}

/* Linear address of the `size` bytes at stack offset sp: SS.base + sp,
 * wrapping at 4 GBytes, after the SS limit check of every byte (SDM Vol.
 * 3A 5.3, 6.2; expand-down stacks included): #SS(0) beyond it. */
static inline uint64_t stack_va(const cpu_t *c, uint64_t sp, unsigned size)
{
    uint64_t off = stack32(c) ? (uint32_t)sp : (uint16_t)sp;
    return cpu_legacy_va(c, CPU_SS, off, 4, size);
}

static void lpush(cpu_t *c, unsigned size, uint64_t v)
{
    uint64_t sp = sp_get(c) - size;
    cpu_write(c, stack_va(c, sp, size), size, v);
    sp_set(c, sp);
}

/* The value at the stack top plus k bytes, without popping. */
static uint64_t lpeek(cpu_t *c, unsigned k, unsigned size)
{
    return cpu_read(c, stack_va(c, sp_get(c) + k, size), size);
}

static uint64_t lpop(cpu_t *c, unsigned size)
{
    uint64_t v = lpeek(c, 0, size);
    sp_set(c, sp_get(c) + size);
    return v;
}

/* ---- near branches (SDM Vol. 2 "Jcc", "JMP", "CALL", "RET", "LOOP") ----------
 * The target is truncated to the operand size (16 or 32 bits) and must be
 * within the CS limit, else #GP(0) at the branch. */

static inline uint64_t near_target(cpu_t *c, const cpu_insn *i, uint64_t target)
{
    target &= cpu_size_mask(i->osize);
    if (unlikely(target > c->seg[CPU_CS].limit))
        cpu_gp0(c);
    return target;
}

static void l_jcc(cpu_t *c, const cpu_insn *i)
{
    if (cpu_cond(c, i->sub))
        c->next_rip = near_target(c, i, c->next_rip + i->imm);
}

static void l_jmp_rel(cpu_t *c, const cpu_insn *i)
{
    c->next_rip = near_target(c, i, c->next_rip + i->imm);
}

static void l_jmp_rm(cpu_t *c, const cpu_insn *i)
{
    c->next_rip = near_target(c, i, cpu_rm_read(c, i, i->osize));
}

static void l_call_rel(cpu_t *c, const cpu_insn *i)
{
    uint64_t t = near_target(c, i, c->next_rip + i->imm);
    lpush(c, i->osize, c->next_rip);
    c->next_rip = t;
}

static void l_call_rm(cpu_t *c, const cpu_insn *i)
{
    uint64_t t = near_target(c, i, cpu_rm_read(c, i, i->osize));
    lpush(c, i->osize, c->next_rip);
    c->next_rip = t;
}

static void l_ret(cpu_t *c, const cpu_insn *i)
{
    uint64_t t = near_target(c, i, lpeek(c, 0, i->osize));
    sp_set(c, sp_get(c) + i->osize + i->imm);
    c->next_rip = t;
}

/* The count register is CX or ECX by address size. */
static void l_loop(cpu_t *c, const cpu_insn *i)
{
    uint64_t mask = cpu_size_mask(i->asize);
    uint64_t n = (c->gpr[CPU_RCX] - 1) & mask;
    bool cond = i->op == 0xE2 ? true : i->op == 0xE1 ? cpu_cond(c, 4) : !cpu_cond(c, 4);
    uint64_t t = 0;
    if (n != 0 && cond)
        t = near_target(c, i, c->next_rip + i->imm);
    cpu_reg_set(c, CPU_RCX, i->asize, n);
    if (n != 0 && cond)
        c->next_rip = t;
}

static void l_jcxz(cpu_t *c, const cpu_insn *i)
{
    if ((c->gpr[CPU_RCX] & cpu_size_mask(i->asize)) == 0)
        c->next_rip = near_target(c, i, c->next_rip + i->imm);
}

/* ---- PUSH, POP, PUSHA, POPA, PUSHF, POPF, LEAVE --------------------------------- */

static void l_push_r(cpu_t *c, const cpu_insn *i)
{
    lpush(c, i->osize, cpu_reg_get(c, i->reg, i->osize));
}

/* POP r: the register is written after ESP moves, so POP ESP loads the
 * popped value (SDM Vol. 2 "POP"). */
static void l_pop_r(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = lpop(c, i->osize);
    cpu_reg_set(c, i->reg, i->osize, v);
}

static void l_push_imm(cpu_t *c, const cpu_insn *i)
{
    lpush(c, i->osize, i->imm);
}

static void l_push_rm(cpu_t *c, const cpu_insn *i)
{
    lpush(c, i->osize, cpu_rm_read(c, i, i->osize));
}

/* POP r/m: an ESP-based destination address is computed after ESP moves. */
static void l_pop_rm(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = lpeek(c, 0, i->osize);
    uint64_t old = c->gpr[CPU_RSP];
    sp_set(c, sp_get(c) + i->osize);
    if (i->has_mem) {
        uint64_t va = cpu_ea(c, i);
        c->gpr[CPU_RSP] = old; /* a fault on the store leaves ESP as it was */
        cpu_write(c, va, i->osize, v);
        sp_set(c, sp_get(c) + i->osize);
    } else {
        cpu_reg_set(c, i->rm, i->osize, v);
    }
}

/* PUSHA/PUSHAD (SDM Vol. 2 "PUSHA"): EAX, ECX, EDX, EBX, the original ESP,
 * EBP, ESI, EDI; every slot is checked before ESP changes. */
static void l_pusha(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t sp = sp_get(c);
    uint64_t orig = cpu_reg_get(c, CPU_RSP, s);
    for (unsigned r = 0; r < 8; r++)
        cpu_probe_write(c, stack_va(c, sp - (r + 1) * s, s), s);
    for (unsigned r = 0; r < 8; r++)
        cpu_write(c, stack_va(c, sp - (r + 1) * s, s), s, r == CPU_RSP ? orig : cpu_reg_get(c, r, s));
    sp_set(c, sp - 8 * s);
}

/* POPA/POPAD: the reverse, skipping the ESP slot. */
static void l_popa(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t v[8];
    for (unsigned r = 0; r < 8; r++)
        v[7 - r] = lpeek(c, r * s, s);
    for (unsigned r = 0; r < 8; r++)
        if (r != CPU_RSP)
            cpu_reg_set(c, r, s, v[r]);
    sp_set(c, sp_get(c) + 8 * s);
}

/* PUSHF/PUSHFD: VM and RF are stored as 0 (SDM Vol. 2 "PUSHF"). */
static void l_pushf(cpu_t *c, const cpu_insn *i)
{
    uint64_t f = cpu_get_rflags(c) & ~(uint64_t)(CPU_FL_VM | CPU_FL_RF);
    lpush(c, i->osize, f);
}

/* POPF/POPFD in protected mode (SDM Vol. 2 "POPF", Table: CPL 0 changes
 * IOPL and IF; IF also when CPL <= IOPL; VIP/VIF/VM unchanged, RF
 * cleared). A 16-bit POPF changes the low 16 bits only. */
static void l_popf(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = lpeek(c, 0, i->osize);
    uint64_t old = cpu_get_rflags(c);
    unsigned iopl = (unsigned)((old >> 12) & 3);
    uint64_t mask = CPU_FL_ARITH | CPU_FL_TF | CPU_FL_DF | CPU_FL_NT | CPU_FL_AC | CPU_FL_ID;
    if (c->cpl == 0)
        mask |= CPU_FL_IOPL | CPU_FL_IF;
    else if (c->cpl <= iopl)
        mask |= CPU_FL_IF;
    if (i->osize == 2)
        mask &= 0xFFFF;
    sp_set(c, sp_get(c) + i->osize);
    cpu_set_rflags(c, ((old & ~mask) | (v & mask)) & ~(uint64_t)CPU_FL_RF);
    c->events |= CPU_EVT_INTR; /* IF may have been set */
    cpu_end_block(c);
}

/* LEAVE: ESP = EBP (SP = BP with a 16-bit stack), then pop EBP. */
static void l_leave(cpu_t *c, const cpu_insn *i)
{
    uint64_t bp = c->gpr[CPU_RBP];
    uint64_t v = cpu_read(c, stack_va(c, bp, i->osize), i->osize);
    sp_set(c, bp + i->osize);
    cpu_reg_set(c, CPU_RBP, i->osize, v);
}

/* ENTER imm16, imm8 (SDM Vol. 2 "ENTER"): push EBP (BP) at the operand
 * size through SS:ESP (SS:SP by SS.B), copy level-1 frame pointers from
 * SS:EBP - k * size (EBP or BP by the stack size), push the frame pointer
 * when level > 0, then EBP = frame and ESP -= imm16. Every slot is probed
 * first, so a fault leaves the registers as they were. */
static void l_enter(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize, level = i->sub & 31;
    uint64_t smask = stack32(c) ? 0xFFFFFFFFull : 0xFFFFull;
    uint64_t sp = sp_get(c), bp = c->gpr[CPU_RBP] & smask;
    unsigned pushes = level ? level + 1 : 1;
    for (unsigned k = 1; k <= pushes; k++)
        cpu_probe_write(c, stack_va(c, sp - k * s, s), s);
    sp -= s;
    cpu_write(c, stack_va(c, sp, s), s, c->gpr[CPU_RBP]);
    uint64_t frame = sp & smask;
    if (level > 0) {
        for (unsigned k = 1; k < level; k++) {
            bp -= s;
            uint64_t v = cpu_read(c, stack_va(c, bp, s), s);
            sp -= s;
            cpu_write(c, stack_va(c, sp, s), s, v);
        }
        sp -= s;
        cpu_write(c, stack_va(c, sp, s), s, frame);
    }
    cpu_reg_set(c, CPU_RBP, s, frame);
    sp_set(c, sp - i->imm);
}

/* ---- segment registers ----------------------------------------------------------- */

/* PUSH ES/CS/SS/DS/FS/GS: recent processors write the 16-bit selector
 * into an operand-size slot (SDM Vol. 2 "PUSH"). */
static void l_push_sreg(cpu_t *c, const cpu_insn *i)
{
    uint64_t sp = sp_get(c) - i->osize;
    cpu_write(c, stack_va(c, sp, i->osize), 2, c->seg[i->sub].sel);
    sp_set(c, sp);
}

/* POP ES/SS/DS/FS/GS: the selector is loaded before ESP moves, so a
 * descriptor fault leaves ESP intact; POP SS inhibits interrupts for one
 * instruction (SDM Vol. 3A 6.8.3). */
static void l_pop_sreg(cpu_t *c, const cpu_insn *i)
{
    uint16_t sel = (uint16_t)lpeek(c, 0, i->osize);
    cpu_load_segment(c, i->sub, sel);
    sp_set(c, sp_get(c) + i->osize);
    if (i->sub == CPU_SS)
        cpu_begin_shadow(c, CPU_SHADOW_MOV_SS);
    cpu_end_block(c);
}

/* A task return or a return to virtual-8086 mode: reported and the run
 * stopped, never run wrongly. */
static _Noreturn void unimplemented_form(cpu_t *c, const cpu_insn *i)
{
    cpu_exec_unimplemented(c, i);
    cpu_ud(c); /* not reached: cpu_exec_unimplemented raises #UD itself */
}

/* ---- IRET in protected mode (SDM Vol. 2 "IRET/IRETD", PROTECTED-MODE,
 * RETURN-TO-SAME-PRIVILEGE-LEVEL and RETURN-TO-OUTER-PRIVILEGE-LEVEL) ---- */

static void l_iret(cpu_t *c, const cpu_insn *i)
{
    unsigned n = i->osize;
    if (!(c->cr0 & CPU_CR0_PE)) {
        /* Real-address mode (SDM Vol. 2 "IRET"): IP, CS, FLAGS at the
         * operand size; a 16-bit IRET keeps EFLAGS[31:16]; VM and the
         * VIF/VIP bits stay as they were. */
        uint64_t ip = lpeek(c, 0, n);
        uint16_t sel = (uint16_t)lpeek(c, n, n);
        uint64_t fl = lpeek(c, 2 * n, n);
        ip &= cpu_size_mask(n);
        if (ip > c->seg[CPU_CS].limit)
            cpu_gp0(c);
        uint64_t keep = n == 2 ? ~0xFFFFull : (uint64_t)(CPU_FL_VM | CPU_FL_VIF | CPU_FL_VIP);
        uint64_t rflags = cpu_get_rflags(c);
        cpu_set_rflags(c, (rflags & keep) | (fl & ~keep & ~(uint64_t)CPU_FL_RF));
        sp_set(c, sp_get(c) + 3 * n);
        c->seg[CPU_CS].sel = sel;
        c->seg[CPU_CS].base = (uint64_t)sel << 4;
        c->next_rip = ip;
        cpu_epoch_new(c);
        c->nmi_blocked = false;
        c->events |= CPU_EVT_INTR;
        cpu_end_block(c);
        return;
    }
    if (c->rflags & CPU_FL_NT)
        unimplemented_form(c, i); /* task return */
    uint64_t eip = lpeek(c, 0, n);
    uint16_t cs_sel = (uint16_t)lpeek(c, n, n);
    uint64_t fl = lpeek(c, 2 * n, n);
    if ((fl & CPU_FL_VM) && n == 4 && c->cpl == 0)
        unimplemented_form(c, i); /* return to virtual-8086 mode */
    unsigned rpl = cs_sel & 3;
    uint64_t new_sp = 0;
    uint16_t ss_sel = 0;
    if (rpl > c->cpl) {
        new_sp = lpeek(c, 3 * n, n);
        ss_sel = (uint16_t)lpeek(c, 4 * n, n);
    }
    uint64_t va;
    if ((cs_sel & 0xFFFC) == 0)
        cpu_gp0(c);
    uint64_t d = cpu_desc_read(c, cs_sel, &va);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    if (!s || !(type & 8) || rpl < c->cpl || ((type & 4) ? dpl > rpl : dpl != rpl))
        cpu_fault(c, CPU_EXC_GP, cs_sel & 0xFFFC);
    if (!p)
        cpu_fault(c, CPU_EXC_NP, cs_sel & 0xFFFC);
    cpu_seg cs = cpu_seg_from_desc(cs_sel, d | (1ull << 40));
    eip &= cpu_size_mask(n);
    if (eip > cs.limit)
        cpu_gp0(c);
    cpu_seg ss = c->seg[CPU_SS];
    if (rpl > c->cpl) {
        if ((ss_sel & 0xFFFC) == 0)
            cpu_gp0(c);
        uint64_t sva;
        uint64_t sd = cpu_desc_read(c, ss_sel, &sva);
        unsigned st = (sd >> 40) & 0xF, ss_s = (sd >> 44) & 1, sdpl = (sd >> 45) & 3;
        if ((ss_sel & 3) != rpl || !ss_s || (st & 8) || !(st & 2) || sdpl != rpl)
            cpu_fault(c, CPU_EXC_GP, ss_sel & 0xFFFC);
        if (!((sd >> 47) & 1))
            cpu_fault(c, CPU_EXC_SS, ss_sel & 0xFFFC);
        ss = cpu_seg_from_desc(ss_sel, sd | (1ull << 40));
    }

    uint64_t mask = CPU_FL_ARITH | CPU_FL_TF | CPU_FL_DF | CPU_FL_NT | CPU_FL_RF | CPU_FL_AC |
                    CPU_FL_ID;
    unsigned iopl = (unsigned)((c->rflags >> 12) & 3);
    if (c->cpl <= iopl)
        mask |= CPU_FL_IF;
    if (c->cpl == 0)
        mask |= CPU_FL_IOPL | CPU_FL_VIF | CPU_FL_VIP;
    if (n == 2)
        mask &= 0xFFFF;
    uint64_t rflags = cpu_get_rflags(c);
    cpu_set_rflags(c, (rflags & ~mask) | (fl & mask));

    cpu_desc_mark_accessed(c, va, d);
    c->seg[CPU_CS] = cs;
    if (rpl > c->cpl) {
        c->seg[CPU_SS] = ss;
        sp_set(c, new_sp);
        /* Data segments the outer level may not use become null. */
        static const unsigned data_segs[4] = {CPU_ES, CPU_DS, CPU_FS, CPU_GS};
        for (unsigned k = 0; k < 4; k++) {
            cpu_seg *sg = &c->seg[data_segs[k]];
            unsigned t = sg->attr & 0xF, sdpl = (sg->attr >> 5) & 3;
            if ((sg->attr & CPU_SEG_P) && (t & 0xC) != 0xC && sdpl < rpl)
                *sg = (cpu_seg){0};
        }
        c->cpl = (uint8_t)rpl;
        cpu_tlb_flush(c);
    } else {
        sp_set(c, sp_get(c) + 3 * n);
    }
    c->next_rip = eip;
    cpu_epoch_new(c);
    cpu_update_mode(c);
    /* IRET ends blocking by NMI (SDM Vol. 3A 6.7.1). */
    c->nmi_blocked = false;
    cpu_icpt note = {.kind = CPU_ICPT_IRET, .len = i->len};
    cpu_intercept(c, &note);
    c->events |= CPU_EVT_INTR;
    cpu_end_block(c);
}

/* INTO: #OF as a software exception when OF = 1 (SDM Vol. 2 "INT n/INTO"),
 * which VMX's exception bitmap may turn into a VM exit (type 6 with the
 * instruction length, SDM 25.2, 27.2.2) before the IDT is read. */
static void l_into(cpu_t *c, const cpu_insn *i)
{
    if (!(cpu_get_rflags(c) & CPU_FL_OF))
        return;
    cpu_icpt info = {.kind = CPU_ICPT_EXCEPTION, .len = i->len, .vector = CPU_EXC_OF,
                     .subop = 6};
    cpu_intercept(c, &info);
    cpu_deliver_event(c, CPU_EXC_OF, 6, false, 0, i->len);
}

/* ---- interrupt delivery through the 32-bit IDT (SDM Vol. 3A 6.10-6.12) ---------- */

/*
 * Protected mode outside IA-32e mode: 8-byte gates; 32-bit (type E/F) and
 * 16-bit (6/7) interrupt and trap gates; a handler at a more privileged
 * level gets the stack from the TSS (SS0:ESP0 of a 32-bit TSS, SDM 7.2.1)
 * and the old SS:ESP on the new stack (SDM 6.12.1 Figure 6-4). Task gates
 * are reported as unimplemented. Faults during delivery propagate through
 * cpu_fault like the 64-bit path.
 */
void cpu_deliver_legacy(cpu_t *c, uint8_t vector, bool soft, bool check_dpl, bool has_error,
                        uint32_t error, uint64_t return_eip)
{
    uint32_t ext = soft ? 0 : 1;
    uint32_t idt_err = vector * 8u + 2 + ext;
    if (vector * 8u + 7 > c->idtr.limit)
        cpu_fault(c, CPU_EXC_GP, idt_err);
    uint64_t g = cpu_read_supervisor(c, (uint32_t)(c->idtr.base + vector * 8u), 8);
    unsigned gtype = (g >> 40) & 0x1F, gdpl = (g >> 45) & 3, present = (g >> 47) & 1;
    if (gtype == 0x5) {
        c->in_delivery = 0;
        c->first_fault = -1;
        cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_UNIMPLEMENTED, 0, 0, c->rip, 0);
        cpu_abort_insn(c, CPU_STOP_UNIMPLEMENTED); /* task gate: no task switching */
    }
    if (gtype != 0x6 && gtype != 0x7 && gtype != 0xE && gtype != 0xF)
        cpu_fault(c, CPU_EXC_GP, idt_err);
    if (check_dpl && gdpl < c->cpl)
        cpu_fault(c, CPU_EXC_GP, idt_err);
    if (!present)
        cpu_fault(c, CPU_EXC_NP, idt_err);
    bool gate32 = (gtype & 8) != 0;
    unsigned n = gate32 ? 4 : 2;
    uint64_t offset = (g & 0xFFFF) | (gate32 ? ((g >> 32) & 0xFFFF0000ull) : 0);
    uint16_t sel = (uint16_t)(g >> 16);

    if ((sel & 0xFFFC) == 0)
        cpu_fault(c, CPU_EXC_GP, ext);
    uint64_t va;
    uint64_t d = cpu_desc_read(c, sel, &va);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, dpl = (d >> 45) & 3, p = (d >> 47) & 1;
    if (!s || !(type & 8) || dpl > c->cpl)
        cpu_fault(c, CPU_EXC_GP, (sel & 0xFFFC) | ext);
    if (!p)
        cpu_fault(c, CPU_EXC_NP, (sel & 0xFFFC) | ext);
    unsigned new_cpl = (type & 4) ? c->cpl : dpl;
    cpu_seg cs = cpu_seg_from_desc((uint16_t)((sel & ~3u) | new_cpl), d | (1ull << 40));
    if (offset > cs.limit)
        cpu_fault(c, CPU_EXC_GP, ext);

    cpu_seg ss = c->seg[CPU_SS];
    uint64_t sp = sp_get(c);
    bool inner = new_cpl < c->cpl;
    if (inner) {
        /* SS:ESP for new_cpl from the TSS: 32-bit TSS (types 9, B) or
         * 16-bit TSS (types 1, 3) (SDM 7.2.1, 7.6). */
        bool tss32 = (c->tr.attr & 8) != 0;
        uint64_t at = tss32 ? 4 + new_cpl * 8u : 2 + new_cpl * 4u;
        unsigned w = tss32 ? 4 : 2;
        if (at + w + 1 > c->tr.limit)
            cpu_fault(c, CPU_EXC_TS, c->tr.sel & 0xFFFC);
        sp = cpu_read_supervisor(c, (uint32_t)(c->tr.base + at), w);
        uint16_t ss_sel = (uint16_t)cpu_read_supervisor(c, (uint32_t)(c->tr.base + at + w), 2);
        if ((ss_sel & 0xFFFC) == 0)
            cpu_fault(c, CPU_EXC_TS, ext);
        uint64_t sva;
        uint64_t sd = cpu_desc_read(c, ss_sel, &sva);
        unsigned st = (sd >> 40) & 0xF, ss_s = (sd >> 44) & 1, sdpl = (sd >> 45) & 3;
        if ((ss_sel & 3) != new_cpl || !ss_s || (st & 8) || !(st & 2) || sdpl != new_cpl)
            cpu_fault(c, CPU_EXC_TS, (ss_sel & 0xFFFC) | ext);
        if (!((sd >> 47) & 1))
            cpu_fault(c, CPU_EXC_SS, (ss_sel & 0xFFFC) | ext);
        ss = cpu_seg_from_desc(ss_sel, sd | (1ull << 40));
    }

    uint64_t rflags = cpu_get_rflags(c);
    uint64_t frame[6];
    unsigned k = 0;
    if (inner) {
        frame[k++] = c->seg[CPU_SS].sel;
        frame[k++] = c->gpr[CPU_RSP];
    }
    frame[k++] = rflags;
    frame[k++] = c->seg[CPU_CS].sel;
    frame[k++] = return_eip;
    if (has_error)
        frame[k++] = error;

    /* Every slot within the limit of the stack it goes on (SDM Vol. 3A
     * 6.12.1, 5.3): #SS(0) on the same stack, #SS(new SS) after a switch,
     * with EXT for an external event; nothing has changed yet. */
    uint64_t fmask = (ss.attr & CPU_SEG_DB) ? 0xFFFFFFFFull : 0xFFFFull;
    for (unsigned j = 0; j < k; j++)
        if (!cpu_seg_range_ok(c, &ss, (uint32_t)((sp - (j + 1) * n) & fmask), n))
            cpu_fault(c, CPU_EXC_SS, inner ? (ss.sel & 0xFFFCu) | ext : ext);

    /* Write the frame on the new stack at the new privilege level before
     * changing anything else (cpu_deliver_pending_fault restores the CPL
     * when the frame faults). */
    uint8_t old_cpl = c->cpl;
    cpu_seg old_ss = c->seg[CPU_SS];
    if (inner) {
        c->delivery_old_cpl = (int8_t)old_cpl;
        c->cpl = (uint8_t)new_cpl;
        cpu_tlb_flush(c);
        c->seg[CPU_SS] = ss;
    }
    bool s32 = stack32(c);
    uint64_t smask = s32 ? 0xFFFFFFFFull : 0xFFFFull;
    for (unsigned j = 0; j < k; j++)
        cpu_probe_write(c, (uint32_t)(ss.base + ((sp - (j + 1) * n) & smask)), n);
    c->seg[CPU_SS] = old_ss;
    for (unsigned j = 0; j < k; j++)
        cpu_write(c, (uint32_t)(ss.base + ((sp - (j + 1) * n) & smask)), n, frame[j]);
    c->delivery_old_cpl = -1;
    c->seg[CPU_SS] = ss;
    sp_set(c, sp - k * n);
    cpu_desc_mark_accessed(c, va, d);
    c->seg[CPU_CS] = cs;
    uint64_t clear = CPU_FL_TF | CPU_FL_NT | CPU_FL_RF | CPU_FL_VM;
    if (!(gtype & 1))
        clear |= CPU_FL_IF; /* interrupt gate (SDM 6.12.1.3) */
    c->rflags = rflags & ~clear;
    c->lf_op = CPU_LF_NONE;
    c->rip = offset;
    c->next_rip = offset;
    cpu_epoch_new(c);
    cpu_update_mode(c);
}

/* ---- interrupt delivery in real-address mode (SDM Vol. 3A 20.1.4) ------------------ */

/* The IVT: 4-byte entries (offset, segment) at IDTR.base; FLAGS, CS and IP
 * are pushed (2 bytes each), IF, TF and AC cleared. An entry beyond the
 * IDTR limit is #GP (SDM 20.1.4). */
void cpu_deliver_real(cpu_t *c, uint8_t vector, uint64_t return_ip)
{
    if (vector * 4u + 3 > c->idtr.limit)
        cpu_fault(c, CPU_EXC_GP, 0);
    uint64_t e = cpu_read(c, (uint32_t)(c->idtr.base + vector * 4u), 4);
    uint64_t rflags = cpu_get_rflags(c);
    uint64_t sp = sp_get(c);
    for (unsigned k = 1; k <= 3; k++)
        cpu_probe_write(c, stack_va(c, sp - 2 * k, 2), 2);
    cpu_write(c, stack_va(c, sp - 2, 2), 2, rflags);
    cpu_write(c, stack_va(c, sp - 4, 2), 2, c->seg[CPU_CS].sel);
    cpu_write(c, stack_va(c, sp - 6, 2), 2, return_ip);
    sp_set(c, sp - 6);
    c->seg[CPU_CS].sel = (uint16_t)(e >> 16);
    c->seg[CPU_CS].base = (e >> 16) << 4;
    c->rflags = rflags & ~(uint64_t)(CPU_FL_IF | CPU_FL_TF | CPU_FL_AC | CPU_FL_RF);
    c->lf_op = CPU_LF_NONE;
    c->rip = c->next_rip = e & 0xFFFF;
    cpu_epoch_new(c);
}

/* ---- data-segment limits (SDM Vol. 3A 5.3 "Limit Checking", 3.4.5.1) --------------- */

/* A memory operand outside its segment (cpu_legacy_va, cpu_seg_range_ok):
 * #SS(0) for SS, #GP(0) for the others, a null segment included (SDM Vol.
 * 3A 5.3, 6.15 "#GP", "#SS"). */
_Noreturn void cpu_seg_fault(cpu_t *c, unsigned seg)
{
    cpu_fault(c, seg == CPU_SS && (c->seg[CPU_SS].attr & CPU_SEG_P) ? CPU_EXC_SS : CPU_EXC_GP, 0);
}

uint64_t cpu_ea_legacy(const cpu_t *c, const cpu_insn *i, uint64_t a)
{
    return cpu_legacy_va(c, i->seg, a, i->asize, i->rm);
}

/* ---- which handlers outside 64-bit mode ------------------------------------------ */

/* The bytes the ModRM memory operand of i covers, which cpu_legacy_va
 * checks against the segment limit (SDM Vol. 3A 5.3: every byte): the
 * operand size, or what the instruction's page says its operand is. The
 * bit-string forms (BT/BTS/BTR/BTC with a register offset) check the
 * operand at the effective address, not the byte the offset selects. */
static unsigned access_width(const cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7, n = i->osize;
    if (i->map == 0) {
        switch (i->op) {
        case 0x62: return 2 * n;                      /* BOUND: two bounds */
        case 0x63: case 0x8C: case 0x8E: return 2;    /* ARPL, MOV to/from Sreg */
        case 0xC4: case 0xC5: return n + 2;           /* LES, LDS: m16:16/32 */
        case 0xFF: return (digit == 3 || digit == 5) ? n + 2 : n; /* far CALL/JMP */
        default: return n;
        }
    }
    if (i->map == 1) {
        switch (i->op) {
        case 0x00: case 0x02: case 0x03: return 2;    /* SLDT..VERW, LAR, LSL: r/m16 */
        case 0x01: return digit < 4 ? 6 : digit == 7 ? 1 : 2; /* SGDT..LIDT, SMSW/LMSW, INVLPG */
        case 0xB6: case 0xBE: return 1;               /* MOVZX/MOVSX r, r/m8 */
        case 0xB7: case 0xBF: return 2;               /* MOVZX/MOVSX r, r/m16 */
        case 0xB2: case 0xB4: case 0xB5: return n + 2; /* LSS, LFS, LGS */
        case 0xC7: return 8;                          /* CMPXCHG8B; VMPTRLD..VMPTRST: m64 */
        case 0x78: case 0x79: return 4;               /* VMREAD, VMWRITE: 32 bits here */
        default: return n;
        }
    }
    if (i->map == 2 && i->op == 0xF0 && (i->pfx & CPU_PFX_REPNE))
        return 1; /* CRC32 r, r/m8 */
    if (i->map == 2 && (i->op == 0x80 || i->op == 0x81))
        return 16; /* INVEPT, INVVPID: the m128 descriptor */
    return n;
}

/* Replaces a handler whose 64-bit semantics differ outside 64-bit mode
 * (branches, stack, far transfers, IRET), or marks it unimplemented there.
 * Called by cpu_decode for every legacy-mode instruction it decoded. */
void cpu_legacy_fixup(cpu_insn *i)
{
    cpu_exec_fn f = NULL;
    bool unimpl = false;
    unsigned digit = (i->modrm >> 3) & 7;
    /* Architectural #UD stays; "unimplemented" may be a 64-bit-mode hole
     * (PUSH ES, far JMP...) that this file implements. */
    if (i->exec == cpu_exec_ud)
        return;
    if (i->has_mem)
        i->rm = (uint8_t)access_width(i);
    if (i->map == 0) {
        switch (i->op) {
        case 0x06: case 0x0E: case 0x16: case 0x1E:
            i->sub = (uint8_t)(i->op >> 3);
            f = l_push_sreg;
            break;
        case 0x07: case 0x17: case 0x1F:
            i->sub = (uint8_t)(i->op >> 3);
            f = l_pop_sreg;
            break;
        case 0x60: f = l_pusha; break;
        case 0x61: f = l_popa; break;
        case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
            f = l_push_r;
            break;
        case 0x58: case 0x59: case 0x5A: case 0x5B: case 0x5C: case 0x5D: case 0x5E: case 0x5F:
            f = l_pop_r;
            break;
        case 0x68: case 0x6A: f = l_push_imm; break;
        case 0x8F: f = l_pop_rm; break;
        case 0x9C: f = l_pushf; break;
        case 0x9D: f = l_popf; break;
        case 0xC9: f = l_leave; break;
        case 0xC8: f = l_enter; break;
        case 0x63: f = cpu_legacy_arpl(); break;
        case 0xE8: f = l_call_rel; break;
        case 0xE9: case 0xEB: f = l_jmp_rel; break;
        case 0xC2: case 0xC3: f = l_ret; break;
        case 0xEA: f = cpu_far_jmp_ptr; break;
        case 0x9A: f = cpu_far_call_ptr; break;
        case 0xCE: f = l_into; break;
        case 0xCF:
            if (!(i->pfx & CPU_PFX_REXW) && i->mode != CPU_MODE_COMPAT32 &&
                i->mode != CPU_MODE_COMPAT16)
                f = l_iret; /* compatibility mode keeps the IA-32e IRET */
            break;
        case 0xE0: case 0xE1: case 0xE2: f = l_loop; break;
        case 0xE3: f = l_jcxz; break;
        case 0xFF:
            switch (digit) {
            case 2: f = l_call_rm; break;
            case 4: f = l_jmp_rm; break;
            case 6: f = l_push_rm; break;
            default: break;
            }
            break;
        default:
            if (i->op >= 0x70 && i->op <= 0x7F)
                f = l_jcc;
            break;
        }
    } else if (i->map == 1) {
        switch (i->op) {
        case 0xA0: case 0xA8:
            i->sub = (uint8_t)(i->op == 0xA0 ? CPU_FS : CPU_GS);
            f = l_push_sreg;
            break;
        case 0xA1: case 0xA9:
            i->sub = (uint8_t)(i->op == 0xA1 ? CPU_FS : CPU_GS);
            f = l_pop_sreg;
            break;
        case 0x00: case 0x02: case 0x03:
            /* SLDT, STR, LLDT, LTR, VERR, VERW, LAR, LSL: cpu_segment.c's
             * handlers follow the mode; all are #UD in real mode (SDM Vol. 2). */
            if (i->mode == CPU_MODE_REAL)
                f = cpu_exec_ud;
            break;
        case 0x05: case 0x07: case 0x34: case 0x35: /* SYSCALL, SYSRET, SYSENTER, SYSEXIT */
            unimpl = true;
            break;
        default:
            if (i->op >= 0x80 && i->op <= 0x8F)
                f = l_jcc;
            break;
        }
    }
    /* The VMX instructions (0F 78, 0F 79, 0F C7 /6 /7, 66 0F 38 80/81, 0F
     * 01 C1-C4) keep cpu_vmx_insn.c's handlers: they take the mode into
     * account themselves (SDM Vol. 3C 31.3: #UD in real, virtual-8086 and
     * compatibility mode, 32-bit operands in protected mode). */
    if (unimpl) {
        i->exec = cpu_exec_unimplemented;
        i->ends_block = 1;
    } else if (f) {
        i->exec = f;
        i->ends_block = i->ends_block || f == l_pop_sreg || f == l_popf || f == l_iret ||
                        f == cpu_far_jmp_ptr || f == cpu_far_call_ptr;
    }
}
