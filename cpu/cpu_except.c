/*
 * cpu_except.c — exceptions and interrupts in 64-bit mode.
 *
 * SDM Vol. 3A chapter 6: 6.12 (exception and interrupt handling), 6.14
 * (64-bit mode: 16-byte gates, stack switching, IST, the 64-bit frame), 6.15
 * (double-fault conditions: benign, contributory and page-fault classes,
 * Table 6-5) and shutdown on a fault while delivering a double fault.
 */
#include "cpu/cpu_internal.h"

enum { EVT_EXT = 0, EVT_NMI = 2, EVT_HW = 3, EVT_SOFT_INT = 4, EVT_PRIV_SOFT = 5, EVT_SOFT_EXC = 6 };

/* Contributory exceptions (SDM 6.15 Table 6-4). */
static bool contributory(int v)
{
    return v == CPU_EXC_DE || v == CPU_EXC_TS || v == CPU_EXC_NP || v == CPU_EXC_SS ||
           v == CPU_EXC_GP;
}

/* Does vector `second`, raised while delivering `first`, make a #DF?
 * (SDM 6.15 Table 6-5) */
static bool makes_double_fault(int first, int second)
{
    if (contributory(first))
        return contributory(second);
    if (first == CPU_EXC_PF)
        return contributory(second) || second == CPU_EXC_PF;
    return false;
}

static bool has_error_code(unsigned v)
{
    return v == CPU_EXC_DF || v == CPU_EXC_TS || v == CPU_EXC_NP || v == CPU_EXC_SS ||
           v == CPU_EXC_GP || v == CPU_EXC_PF || v == CPU_EXC_AC;
}

/* Reads the code-segment descriptor a gate points to (GDT only: an LDT
 * code segment for a handler is accepted by hardware but no guest of ours
 * needs it; it faults here with #GP(selector)). */
static void load_handler_cs(cpu_t *c, uint16_t sel, uint32_t ext, cpu_seg *cs)
{
    uint32_t err = (sel & 0xFFFC) | ext;
    if ((sel & 0xFFFC) == 0 || (sel & 4) || (uint32_t)(sel | 7) > c->gdtr.limit)
        cpu_fault(c, CPU_EXC_GP, err);
    uint64_t d = cpu_read_supervisor(c, c->gdtr.base + (sel & ~7u), 8);
    unsigned type = (d >> 40) & 0xF, s = (d >> 44) & 1, p = (d >> 47) & 1, l = (d >> 53) & 1;
    unsigned dpl = (d >> 45) & 3;
    if (!s || !(type & 8) || !l || dpl > c->cpl)
        cpu_fault(c, CPU_EXC_GP, err);
    if (!p)
        cpu_fault(c, CPU_EXC_NP, err);
    cs->base = 0;
    cs->limit = 0xFFFFFFFF;
    cs->attr = (uint16_t)(((d >> 40) & 0xFF) | (((d >> 52) & 0xF) << 8));
    /* A conforming code segment keeps the CPL; otherwise CPL = DPL. */
    cs->sel = (uint16_t)((sel & ~3u) | ((type & 4) ? c->cpl : dpl));
}

static void finish_delivery(cpu_t *c, unsigned type);

/*
 * Delivers vector through the 64-bit IDT (SDM 6.14.1-6.14.5). type is the
 * VMCS-style event type; insn_len is the length of INT n/INT3 for software
 * events (the saved RIP is after them). Faults during delivery propagate
 * through cpu_fault and are classified by cpu_deliver_pending_fault.
 */
static void deliver_event_now(cpu_t *c, uint8_t vector, unsigned type, bool has_error,
                              uint32_t error, unsigned insn_len)
{
    bool soft = type == EVT_SOFT_INT || type == EVT_SOFT_EXC || type == EVT_PRIV_SOFT;
    uint32_t ext = soft ? 0 : 1; /* EXT bit of error codes raised during delivery */
    uint32_t idt_err = vector * 8u + 2 + ext;

    if (!(c->efer & CPU_EFER_LMA)) {
        /* Outside IA-32e mode: the 32-bit IDT or the real-mode IVT
         * (cpu_legacy.c). */
        if (!(c->cr0 & CPU_CR0_PE))
            cpu_deliver_real(c, vector, soft ? c->rip + insn_len : c->rip);
        else
            cpu_deliver_legacy(c, vector, soft, type == EVT_SOFT_INT || type == EVT_SOFT_EXC,
                           has_error, error, soft ? c->rip + insn_len : c->rip);
        finish_delivery(c, type);
        return;
    }

    if (vector * 16u + 15 > c->idtr.limit)
        cpu_fault(c, CPU_EXC_GP, idt_err);
    uint64_t lo = cpu_read_supervisor(c, c->idtr.base + vector * 16u, 8);
    uint64_t hi = cpu_read_supervisor(c, c->idtr.base + vector * 16u + 8, 8);
    unsigned gtype = (lo >> 40) & 0x1F, dpl = (lo >> 45) & 3, present = (lo >> 47) & 1;
    unsigned ist = (lo >> 32) & 7;
    if (gtype != 0xE && gtype != 0xF)
        cpu_fault(c, CPU_EXC_GP, idt_err);
    /* INT n, INT3 and INTO check the gate's DPL (SDM 6.12.1.1). */
    if (type == EVT_SOFT_INT || type == EVT_SOFT_EXC) {
        if (dpl < c->cpl)
            cpu_fault(c, CPU_EXC_GP, idt_err);
    }
    if (!present)
        cpu_fault(c, CPU_EXC_NP, idt_err);
    uint64_t target = (lo & 0xFFFF) | ((lo >> 32) & 0xFFFF0000ull) | (hi << 32);
    cpu_seg cs;
    load_handler_cs(c, (uint16_t)(lo >> 16), ext, &cs);
    unsigned new_cpl = cs.sel & 3;

    /* Stack: IST, or RSPn of the TSS on a privilege change; then aligned to
     * 16 bytes (SDM 6.14.2, 6.14.5). */
    uint64_t rsp = c->gpr[CPU_RSP];
    uint16_t ss_sel = c->seg[CPU_SS].sel;
    if (ist)
        rsp = cpu_read_supervisor(c, c->tr.base + 0x24 + 8u * (ist - 1), 8);
    else if (new_cpl < c->cpl)
        rsp = cpu_read_supervisor(c, c->tr.base + 4 + 8u * new_cpl, 8);
    if (new_cpl < c->cpl)
        ss_sel = (uint16_t)new_cpl;
    rsp &= ~0xFull;

    uint64_t return_rip = soft ? c->rip + insn_len : c->rip;
    uint64_t rflags = cpu_get_rflags(c);
    uint64_t frame[6];
    unsigned n = 0;
    frame[n++] = c->seg[CPU_SS].sel;
    frame[n++] = c->gpr[CPU_RSP];
    frame[n++] = rflags;
    frame[n++] = c->seg[CPU_CS].sel;
    frame[n++] = return_rip;
    if (has_error)
        frame[n++] = error;
    if (!cpu_canonical(target))
        cpu_fault(c, CPU_EXC_GP, ext);

    /* Write the frame at the new privilege level before changing anything,
     * so a fault here leaves the interrupted state intact. */
    uint8_t old_cpl = c->cpl;
    if (new_cpl != old_cpl) {
        /* Restored by cpu_deliver_pending_fault if the frame faults. */
        c->delivery_old_cpl = (int8_t)old_cpl;
        c->cpl = (uint8_t)new_cpl;
        cpu_tlb_flush(c);
    }
    uint64_t sp = rsp;
    for (unsigned k = 0; k < n; k++) {
        sp -= 8;
        cpu_probe_write(c, sp, 8);
    }
    sp = rsp;
    for (unsigned k = 0; k < n; k++) {
        sp -= 8;
        cpu_write(c, sp, 8, frame[k]);
    }

    c->gpr[CPU_RSP] = sp;
    c->delivery_old_cpl = -1;
    if (new_cpl != old_cpl) {
        c->seg[CPU_SS].sel = ss_sel;
        c->seg[CPU_SS].base = 0;
        c->seg[CPU_SS].attr = 0; /* null SS in 64-bit mode (SDM 6.14.4) */
    }
    c->seg[CPU_CS] = cs;
    cpu_update_mode(c);
    uint64_t clear = CPU_FL_TF | CPU_FL_NT | CPU_FL_RF | CPU_FL_VM;
    if (gtype == 0xE)
        clear |= CPU_FL_IF; /* interrupt gate (SDM 6.12.1.3) */
    c->rflags = rflags & ~clear;
    c->lf_op = CPU_LF_NONE;
    c->rip = target;
    c->next_rip = target;
    finish_delivery(c, type);
}

/* What every delivery ends with: out of HLT, NMI blocking, the shadow
 * gone, the block ended, the cost counted. */
static void finish_delivery(cpu_t *c, unsigned type)
{
    c->halted = 0;
    if (type == EVT_NMI)
        c->nmi_blocked = true; /* until the next IRET (SDM Vol. 3A 6.7.1) */
    c->events &= ~(uint32_t)CPU_EVT_SHADOW;
    c->exit_block = 1;
    c->cycles += c->costs->cost[CPU_COST_INTERRUPT];
}

/* Public entry: inside cpu_run the event is delivered at once; outside
 * (VM-entry injection, a test) it is queued and delivered when the next run
 * starts, before the first instruction, where faults can be handled. */
void cpu_deliver_event(cpu_t *c, uint8_t vector, unsigned type, bool has_error,
                       uint32_t error, unsigned insn_len)
{
    if (!c->in_run) {
        c->inject_pending = true;
        c->inject_vector = vector;
        c->inject_type = (uint8_t)type;
        c->inject_has_error = has_error;
        c->inject_error = error;
        c->inject_len = (uint8_t)insn_len;
        c->halted = 0;
        return;
    }
    bool hw = type == EVT_HW || type == EVT_NMI;
    c->in_delivery = 1;
    c->first_fault = hw ? vector : -2;
    deliver_event_now(c, vector, type, has_error, error, insn_len);
    c->in_delivery = 0;
    c->first_fault = -1;
}

void cpu_deliver_injected(cpu_t *c)
{
    c->inject_pending = false;
    cpu_deliver_event(c, c->inject_vector, c->inject_type, c->inject_has_error,
                      c->inject_error, c->inject_len);
}

void cpu_deliver_pending_fault(cpu_t *c)
{
    int vector = c->pending_vector;
    uint32_t error = c->pending_error;
    bool has_error = c->pending_has_error && has_error_code((unsigned)vector);
    c->pending_vector = -1;
    c->halted = 0;
    if (c->delivery_old_cpl >= 0) {
        c->cpl = (uint8_t)c->delivery_old_cpl;
        c->delivery_old_cpl = -1;
        cpu_tlb_flush(c);
    }

    if (c->in_delivery) {
        if (c->first_fault == CPU_EXC_DF) {
            /* A fault while delivering #DF: shutdown (SDM 6.15, interrupt 8). */
            cpu_icpt info = {.kind = CPU_ICPT_TRIPLE_FAULT};
            c->in_delivery = 0;
            cpu_intercept(c, &info);
            cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_TRIPLE_FAULT, (uint64_t)vector, 0,
                         c->rip, 0);
            c->stop = CPU_STOP_TRIPLE_FAULT;
            return;
        }
        if (makes_double_fault(c->first_fault, vector)) {
            cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_DOUBLE_FAULT,
                         (uint64_t)c->first_fault, (uint64_t)vector, c->rip, 0);
            vector = CPU_EXC_DF;
            error = 0;
            has_error = true;
        }
    }

    /* A #DB raised as a fault (MOV DR with DR7.GD) reports its DR6 bits
     * to a VM exit as the qualification (SDM 27.2.1), else writes them
     * into DR6 when delivered (SDM 17.2.3). */
    uint32_t db_bits = vector == CPU_EXC_DB ? c->db_payload : 0;
    c->db_payload = 0;
    cpu_icpt info = {.kind = CPU_ICPT_EXCEPTION, .vector = (uint32_t)vector,
                     .has_error = has_error, .value = vector == CPU_EXC_DB ? db_bits : error};
    cpu_intercept(c, &info);
    if (vector == CPU_EXC_DB)
        cpu_debug_deliver(c, db_bits);

    if (vector == CPU_EXC_PF)
        cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_EXCEPTION, (uint64_t)vector,
                     has_error ? error : ~0ull, c->rip, c->cr2);
    else
        cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_EXCEPTION, (uint64_t)vector,
                     has_error ? error : ~0ull, c->rip, 0);
    c->in_delivery = 1;
    c->first_fault = vector;
    deliver_event_now(c, (uint8_t)vector, EVT_HW, has_error, error, 0);
    c->in_delivery = 0;
    c->first_fault = -1;
}

bool cpu_interruptible(cpu_t *c)
{
    return (c->rflags & CPU_FL_IF) && !(c->events & CPU_EVT_SHADOW);
}

void cpu_deliver_interrupt(cpu_t *c, uint8_t vector)
{
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_INTERRUPT, vector, 0, c->rip, 0);
    bool was_halted = c->halted;
    /* A fault raised while delivering an external interrupt is delivered
     * serially (the interrupt is benign, SDM Table 6-5). */
    cpu_deliver_event(c, vector, EVT_EXT, false, 0, 0);
    if (was_halted)
        cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_WAKE, vector, 0, c->rip, 0);
}

const char *cpu_exception_name(unsigned v)
{
    static const char *const names[32] = {
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
        "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    };
    if (v < 32 && names[v])
        return names[v];
    return "interrupt";
}
