/*
 * cpu_string.c — string instructions: MOVS, STOS, LODS, CMPS, SCAS, INS,
 * OUTS, with and without REP / REPE / REPNE (SDM Vol. 2B "MOVS/MOVSB/...",
 * "STOS", "LODS", "CMPS", "SCAS", "INS", "OUTS", "REP/REPE/REPZ/REPNE/REPNZ"
 * and Vol. 1 7.3.9 "String Operations").
 *
 * Each iteration completes (memory, then RSI/RDI, then RCX) before the next
 * begins, so a fault in the middle of a REP leaves the registers describing
 * the remaining work with RIP still at the instruction: delivering the fault
 * and returning restarts it where it stopped (SDM Vol. 2B "REP": "the
 * instruction can be restarted").
 *
 * A REP instruction is interruptible (SDM Vol. 2B "REP", "Interrupts and
 * exceptions during repeated string operations"): after any iteration that
 * leaves work, it stops when the cycle budget is spent, an event is pending
 * or a hook asked to stop, and sets next_rip = rip so the run loop comes back
 * to it. REP forms therefore end their decoded block.
 *
 * Cost: the run loop charges the first iteration (the instruction's cost);
 * every further iteration adds the instruction's cost class (string, or I/O
 * for INS/OUTS) to c->cycles.
 */
#include "cpu/cpu_internal.h"

/* ---- operand addressing (SDM Vol. 1 3.7.7, Vol. 2B "MOVS" operation) ---- */

/* RSI, RDI or RCX as the address size sees it (67h: 32-bit; 16-bit
 * outside 64-bit mode: SI, DI, CX). */
static inline uint64_t str_reg(const cpu_t *c, unsigned r, unsigned asize)
{
    return asize == 8 ? c->gpr[r] : asize == 4 ? (uint32_t)c->gpr[r] : (uint16_t)c->gpr[r];
}

/* Advances a string register; a 32-bit address size writes ESI/EDI/ECX,
 * which zero-extends into the full register; a 16-bit one writes SI/DI/CX
 * alone, wrapping at 64 KBytes (SDM Vol. 1 3.6). */
static inline void str_reg_add(cpu_t *c, unsigned r, unsigned asize, uint64_t delta)
{
    if (asize == 8)
        c->gpr[r] += delta;
    else if (asize == 4)
        c->gpr[r] = (uint32_t)(c->gpr[r] + delta);
    else
        cpu_reg_set(c, r, 2, c->gpr[r] + delta);
}

/*
 * A repeated string instruction whose count is already 0 when it starts:
 * the SDM's REP pseudo-code (Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ") runs no
 * iteration and writes nothing, but with a 32-bit address size Intel
 * processors still write ECX and the ESI/EDI the instruction uses, which in
 * 64-bit mode clears their bits 63:32; AMD leaves them as they were. The
 * model is Intel's (docs/cpu-model.md, "Where Intel and AMD differ").
 */
static inline void rep_zero_count(cpu_t *c, const cpu_insn *i, bool uses_rsi, bool uses_rdi)
{
    if (i->asize != 4)
        return;
    c->gpr[CPU_RCX] = (uint32_t)c->gpr[CPU_RCX];
    if (uses_rsi)
        c->gpr[CPU_RSI] = (uint32_t)c->gpr[CPU_RSI];
    if (uses_rdi)
        c->gpr[CPU_RDI] = (uint32_t)c->gpr[CPU_RDI];
}

/* DS:RSI; DS may be overridden, and only FS and GS have a base in 64-bit
 * mode; outside it every segment has one and the linear address wraps at
 * 4 GBytes (SDM Vol. 3A 3.4). */
static inline uint64_t str_src(const cpu_t *c, const cpu_insn *i)
{
    uint64_t a = str_reg(c, CPU_RSI, i->asize);
    if (i->pfx & CPU_PFX_SEG) {
        /* Outside 64-bit mode every element is checked against the
         * segment limit (SDM Vol. 3A 5.3): #GP(0), #SS(0) for SS. */
        if (unlikely(cpu_mode_legacy(i->mode)))
            return cpu_legacy_va(c, i->seg, a, i->asize, i->osize);
        a += c->seg[i->seg].base;
    }
    return a;
}

/* ES:RDI; ES cannot be overridden. It has no base in 64-bit mode; outside
 * it (where every access has CPU_PFX_SEG) ES.base is added after the ES
 * limit check of the element. */
static inline uint64_t str_dst(const cpu_t *c, const cpu_insn *i)
{
    uint64_t a = str_reg(c, CPU_RDI, i->asize);
    if (unlikely(i->pfx & CPU_PFX_SEG) && cpu_mode_legacy(i->mode))
        return cpu_legacy_va(c, CPU_ES, a, i->asize, i->osize);
    return a;
}

/* +size or -size by RFLAGS.DF. DF is never lazy, so rflags holds it. */
static inline uint64_t str_delta(const cpu_t *c, unsigned size)
{
    return (c->rflags & CPU_FL_DF) ? (uint64_t)-(int64_t)size : size;
}

/* ---- one iteration of each instruction --------------------------------- */

static inline bool movs_once(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = i->osize;
    uint64_t v = cpu_read(c, str_src(c, i), sz);
    cpu_write(c, str_dst(c, i), sz, v);
    uint64_t d = str_delta(c, sz);
    str_reg_add(c, CPU_RSI, i->asize, d);
    str_reg_add(c, CPU_RDI, i->asize, d);
    return true;
}

static inline bool stos_once(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = i->osize;
    cpu_write(c, str_dst(c, i), sz, c->gpr[CPU_RAX]);
    str_reg_add(c, CPU_RDI, i->asize, str_delta(c, sz));
    return true;
}

static inline bool lods_once(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = i->osize;
    uint64_t v = cpu_read(c, str_src(c, i), sz);
    cpu_reg_set(c, CPU_RAX, sz, v);
    str_reg_add(c, CPU_RSI, i->asize, str_delta(c, sz));
    return true;
}

/* CMPS: flags of [RSI] - [RDI], as CMP. Returns ZF. */
static inline bool cmps_once(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = i->osize;
    uint64_t a = cpu_read(c, str_src(c, i), sz);
    uint64_t b = cpu_read(c, str_dst(c, i), sz);
    cpu_lf_set(c, CPU_LF_SUB, sz, a - b, a, b);
    uint64_t d = str_delta(c, sz);
    str_reg_add(c, CPU_RSI, i->asize, d);
    str_reg_add(c, CPU_RDI, i->asize, d);
    return a == b;
}

/* SCAS: flags of rAX - [RDI], as CMP. Returns ZF. */
static inline bool scas_once(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = i->osize;
    uint64_t a = c->gpr[CPU_RAX] & cpu_size_mask(sz);
    uint64_t b = cpu_read(c, str_dst(c, i), sz);
    cpu_lf_set(c, CPU_LF_SUB, sz, a - b, a, b);
    str_reg_add(c, CPU_RDI, i->asize, str_delta(c, sz));
    return a == b;
}

/*
 * I/O permission (SDM Vol. 1 19.5 "Protection and I/O"): with CPL > IOPL
 * every bit for the accessed ports in the TSS I/O permission bitmap must be
 * clear; a bitmap byte beyond the TSS limit counts as set.
 */
static void io_check_permission(cpu_t *c, uint16_t port, unsigned size)
{
    unsigned iopl = (unsigned)((c->rflags & CPU_FL_IOPL) >> 12);
    if (c->cpl <= iopl)
        return;
    if (c->tr.limit < 0x67)
        cpu_gp0(c);
    uint64_t base = (uint16_t)cpu_read(c, c->tr.base + 0x66, 2);
    uint64_t off = base + port / 8u;
    if (off + 1 > c->tr.limit)
        cpu_gp0(c);
    uint64_t bits = cpu_read(c, c->tr.base + off, 2);
    if ((bits >> (port & 7)) & ((1u << size) - 1))
        cpu_gp0(c);
}

/* The port size of INS/OUTS: byte for 6C/6E, else 16 or 32 bits (REX.W
 * does not make a 64-bit port access). */
static inline unsigned io_size(const cpu_insn *i)
{
    return i->osize == 1 ? 1 : i->osize == 2 ? 2 : 4;
}

/* Builds the I/O intercept of one iteration (the VMX exit qualification of
 * SDM Vol. 3C 28.2.1 Table 28-5: size, direction, string, REP, port, and the
 * guest-linear address of the memory operand). */
static cpu_hook_result io_intercept(cpu_t *c, const cpu_insn *i, bool in, uint64_t addr,
                                    uint64_t *value)
{
    cpu_icpt info;
    memset(&info, 0, sizeof(info));
    info.kind = CPU_ICPT_IO;
    info.len = i->len;
    info.size = (uint8_t)io_size(i);
    info.in = in;
    info.string = true;
    info.rep = (i->pfx & (CPU_PFX_REP | CPU_PFX_REPNE)) != 0;
    info.port = (uint16_t)c->gpr[CPU_RDX];
    info.addr = addr;
    cpu_hook_result r = cpu_intercept(c, &info);
    *value = info.value;
    return r;
}

/*
 * INS: the destination is checked for writability before the port is read,
 * so a page fault does not lose a device read; the permission check comes
 * first of all (SDM Vol. 2A "INS" operation). An intercept that emulated the
 * access (CPU_HOOK_DONE) supplies the value.
 */
static inline bool ins_once(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = io_size(i);
    uint16_t port = (uint16_t)c->gpr[CPU_RDX];
    uint64_t dst = str_dst(c, i), v = 0;
    io_check_permission(c, port, sz);
    if (io_intercept(c, i, true, dst, &v) != CPU_HOOK_DONE) {
        cpu_probe_write(c, dst, sz);
        uint32_t val = 0;
        if (!c->hooks.io || !c->hooks.io(c->hooks.ctx, c, port, sz, true, &val))
            val = 0xFFFFFFFFu; /* no device owns the port: the bus floats high */
        v = val;
    }
    cpu_write(c, dst, sz, v & cpu_size_mask(sz));
    str_reg_add(c, CPU_RDI, i->asize, str_delta(c, sz));
    return true;
}

/* OUTS: the source is read (and may fault) before the port is written. */
static inline bool outs_once(cpu_t *c, const cpu_insn *i)
{
    unsigned sz = io_size(i);
    uint16_t port = (uint16_t)c->gpr[CPU_RDX];
    uint64_t src = str_src(c, i), ignored;
    io_check_permission(c, port, sz);
    cpu_hook_result r = io_intercept(c, i, false, src, &ignored);
    uint32_t v = (uint32_t)cpu_read(c, src, sz);
    if (r != CPU_HOOK_DONE && c->hooks.io)
        c->hooks.io(c->hooks.ctx, c, port, sz, false, &v);
    str_reg_add(c, CPU_RSI, i->asize, str_delta(c, sz));
    return true;
}

/* ---- the REP loop (SDM Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ") ------------- */

enum { REP_ALWAYS, REP_WHILE_EQUAL, REP_WHILE_NOT_EQUAL };

/* True when a REP must give the run loop a look before its next iteration. */
static inline bool rep_must_pause(const cpu_t *c)
{
    return c->cycles >= c->cycle_limit || c->events != 0 || c->stop != CPU_STOP_NONE;
}

/* How many iterations may run before the pause test would stop the loop:
 * the first is paid for; each further one costs k and runs only while
 * cycles < cycle_limit before it. */
static inline uint64_t rep_budget(const cpu_t *c, unsigned k)
{
    if (c->events != 0 || c->stop != CPU_STOP_NONE || c->cycles >= c->cycle_limit)
        return 1;
    if (k == 0)
        return UINT64_MAX;
    uint64_t rem = c->cycle_limit - c->cycles;
    return 1 + rem / k + (rem % k != 0);
}

/*
 * The plain REP loop, one iteration at a time: RCX is counted after each
 * iteration, then tested; on a pause next_rip = rip makes the run loop
 * restart the instruction where it stopped.
 */
static void rep_run(cpu_t *c, const cpu_insn *i, bool (*once)(cpu_t *, const cpu_insn *),
                    bool uses_rsi)
{
    unsigned k = c->costs->cost[i->cost_class];
    if (str_reg(c, CPU_RCX, i->asize) == 0) {
        rep_zero_count(c, i, uses_rsi, !uses_rsi);
        return;
    }
    for (;;) {
        once(c, i);
        str_reg_add(c, CPU_RCX, i->asize, ~0ull);
        if (str_reg(c, CPU_RCX, i->asize) == 0)
            return;
        if (rep_must_pause(c)) {
            c->next_rip = c->rip;
            return;
        }
        c->cycles += k;
    }
}

/* ---- fast path: whole pages of plain RAM ---------------------------------- */

/*
 * A repeated MOVS, STOS, LODS, CMPS or SCAS runs as many iterations as fit
 * in the current source and destination pages at once, on host pointers,
 * when both pages are plain RAM (the TLB gives them a host pointer; pages of
 * decoded code, trap pages and MMIO do not, and take one slow iteration).
 * Results equal the element-by-element definition, overlapping copies
 * included, and the cycle budget cuts a chunk where the slow loop would
 * pause, so the fast path changes nothing but speed.
 */

enum { OP_MOVS, OP_STOS, OP_LODS, OP_CMPS, OP_SCAS };

/* Elements of size sz from va in the direction of the string before the
 * page ends (and, with a 32- or 16-bit address size, before the offset
 * register wraps); 0 when the first element straddles a page. */
static inline uint64_t str_room(uint64_t va, uint64_t reg, unsigned asize, unsigned sz, bool down)
{
    uint64_t off = va & 0xFFF, n;
    if (off + sz > 0x1000)
        return 0;
    if (!down) {
        n = (0x1000 - off) / sz;
        if (asize == 4 && ((1ull << 32) - (uint32_t)reg) / sz < n)
            n = ((1ull << 32) - (uint32_t)reg) / sz;
        else if (asize == 2 && ((1ull << 16) - (uint16_t)reg) / sz < n)
            n = ((1ull << 16) - (uint16_t)reg) / sz;
    } else {
        n = off / sz + 1;
        if (asize == 4 && (uint32_t)reg / sz + 1 < n)
            n = (uint32_t)reg / sz + 1;
        else if (asize == 2 && (uint16_t)reg / sz + 1u < n)
            n = (uint16_t)reg / sz + 1u;
    }
    return n;
}

/*
 * Host pointer to va for a read or a write, translating on a TLB miss (the
 * fault, if any, is the one the next iteration would raise, in the same
 * order); NULL when the page has no fast path. The pointer is kept in a
 * local, so a source and a destination sharing a TLB slot still both run
 * fast.
 */
static uint8_t *str_host(cpu_t *c, uint64_t va, bool write)
{
    cpu_tlb_entry *e = cpu_tlb_slot(c, va);
    uint64_t page = va & ~0xFFFull;
    if ((write ? e->tag_write : e->tag_read) != page) {
        cpu_translate(c, va, write ? CPU_ACC_WRITE : CPU_ACC_READ);
        if ((write ? e->tag_write : e->tag_read) != page)
            return NULL;
    }
    return (uint8_t *)(uintptr_t)(va + e->host_adj);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Outside 64-bit mode: elements of size sz from offset reg on that stay
 * within segment seg's limit (SDM Vol. 3A 5.3), so a chunk never runs past
 * it; 0 sends an expand-down or null segment, or an element beyond the
 * limit, to the slow path, which checks (and faults) element by element. */
static uint64_t seg_room(const cpu_t *c, unsigned seg, uint64_t reg, unsigned asize,
                         unsigned sz, bool down)
{
    const cpu_seg *s = &c->seg[seg];
    uint32_t off = asize == 2 ? (uint16_t)reg : (uint32_t)reg;
    if ((c->cr0 & CPU_CR0_PE) && ((s->attr & 0x1C) == 0x14 || !(s->attr & CPU_SEG_P)))
        return 0;
    if ((uint64_t)off + sz - 1 > s->limit)
        return 0;
    if (down)
        return (uint64_t)off / sz + 1; /* every lower offset is within the limit */
    return ((uint64_t)s->limit - off - (sz - 1)) / sz + 1;
}

/* Copies n elements the way MOVS does one by one: where the ranges overlap
 * an element may read what an earlier one stored (a pattern fill). */
static void chunk_copy(uint8_t *d, const uint8_t *s, uint64_t n, unsigned sz, bool down)
{
    size_t bytes = (size_t)n * sz;
    const uint8_t *s0 = down ? s - bytes + sz : s;
    uint8_t *d0 = down ? d - bytes + sz : d;
    uintptr_t gap = d0 > s0 ? (uintptr_t)(d0 - s0) : (uintptr_t)(s0 - d0);
    if (gap >= bytes) {
        memcpy(d0, s0, bytes);
        return;
    }
    ptrdiff_t step = down ? -(ptrdiff_t)sz : (ptrdiff_t)sz;
    for (uint64_t j = 0; j < n; j++)
        cpu_store_host(d + (ptrdiff_t)j * step, sz, cpu_load_host(s + (ptrdiff_t)j * step, sz));
}

/*
 * Runs up to cnt iterations of op within the current pages. Returns how
 * many ran (0: the slow path must run one); *eq is the last comparison of
 * CMPS/SCAS. Memory goes first, then RSI/RDI and the flags, then the
 * cycles of every iteration but the first (already paid).
 */
static inline uint64_t rep_chunk(cpu_t *c, const cpu_insn *i, unsigned op, unsigned cond,
                                 uint64_t cnt, unsigned k, bool *eq)
{
    unsigned sz = i->osize, as = i->asize;
    bool down = (c->rflags & CPU_FL_DF) != 0;
    bool uses_src = op == OP_MOVS || op == OP_LODS || op == OP_CMPS;
    bool uses_dst = op != OP_LODS;
    uint8_t *hs = NULL, *hd = NULL;
    uint64_t n = min_u64(cnt, rep_budget(c, k));

    if (unlikely(cpu_mode_legacy(i->mode))) {
        if (uses_src)
            n = min_u64(n, seg_room(c, i->seg, c->gpr[CPU_RSI], as, sz, down));
        if (uses_dst)
            n = min_u64(n, seg_room(c, CPU_ES, c->gpr[CPU_RDI], as, sz, down));
        if (n == 0)
            return 0;
    }
    if (uses_src) {
        uint64_t s = str_src(c, i);
        n = min_u64(n, str_room(s, c->gpr[CPU_RSI], as, sz, down));
        if (n == 0 || !(hs = str_host(c, s, false)))
            return 0;
    }
    if (uses_dst) {
        uint64_t d = str_dst(c, i);
        n = min_u64(n, str_room(d, c->gpr[CPU_RDI], as, sz, down));
        if (n == 0 || !(hd = str_host(c, d, op == OP_MOVS || op == OP_STOS)))
            return 0;
    }

    ptrdiff_t step = down ? -(ptrdiff_t)sz : (ptrdiff_t)sz;
    uint64_t done = n;
    switch (op) {
    case OP_MOVS:
        chunk_copy(hd, hs, n, sz, down);
        break;
    case OP_STOS:
        if (sz == 1)
            memset(down ? hd - n + 1 : hd, (uint8_t)c->gpr[CPU_RAX], (size_t)n);
        else
            for (uint64_t j = 0; j < n; j++)
                cpu_store_host(hd + (ptrdiff_t)j * step, sz, c->gpr[CPU_RAX]);
        break;
    case OP_LODS:
        cpu_reg_set(c, CPU_RAX, sz, cpu_load_host(hs + (ptrdiff_t)(n - 1) * step, sz));
        break;
    default: {
        /* CMPS: [RSI] - [RDI]; SCAS: rAX - [RDI]. Stop at the first pair
         * that ends the repetition. */
        uint64_t a = c->gpr[CPU_RAX] & cpu_size_mask(sz), b = 0;
        bool want_eq = cond == REP_WHILE_EQUAL;
        for (done = 0; done < n;) {
            if (op == OP_CMPS)
                a = cpu_load_host(hs + (ptrdiff_t)done * step, sz);
            b = cpu_load_host(hd + (ptrdiff_t)done * step, sz);
            done++;
            if ((a == b) != want_eq)
                break;
        }
        *eq = a == b;
        cpu_lf_set(c, CPU_LF_SUB, sz, a - b, a, b);
        break;
    }
    }
    uint64_t delta = (uint64_t)((int64_t)done * step);
    if (uses_src)
        str_reg_add(c, CPU_RSI, as, delta);
    if (uses_dst)
        str_reg_add(c, CPU_RDI, as, delta);
    c->cycles += (done - 1) * k;
    return done;
}

/* The REP loop with the fast path: chunks where possible, single slow
 * iterations elsewhere (SDM Vol. 2B "REP" operation). */
static inline void rep_exec(cpu_t *c, const cpu_insn *i, unsigned op, unsigned cond,
                            bool (*once)(cpu_t *, const cpu_insn *))
{
    unsigned k = c->costs->cost[i->cost_class];
    uint64_t cnt = str_reg(c, CPU_RCX, i->asize);
    if (cnt == 0) {
        rep_zero_count(c, i, op == OP_MOVS || op == OP_LODS || op == OP_CMPS, op != OP_LODS);
        return;
    }
    for (;;) {
        bool eq = true;
        uint64_t done = rep_chunk(c, i, op, cond, cnt, k, &eq);
        if (!done) {
            eq = once(c, i);
            done = 1;
        }
        str_reg_add(c, CPU_RCX, i->asize, (uint64_t)-(int64_t)done);
        cnt = str_reg(c, CPU_RCX, i->asize);
        if (cnt == 0)
            return;
        if (cond != REP_ALWAYS && eq != (cond == REP_WHILE_EQUAL))
            return;
        if (rep_must_pause(c)) {
            c->next_rip = c->rip;
            return;
        }
        c->cycles += k;
    }
}

/* ---- handlers --------------------------------------------------------------- */

static void exec_movs(cpu_t *c, const cpu_insn *i) { movs_once(c, i); }
static void exec_stos(cpu_t *c, const cpu_insn *i) { stos_once(c, i); }
static void exec_lods(cpu_t *c, const cpu_insn *i) { lods_once(c, i); }
static void exec_cmps(cpu_t *c, const cpu_insn *i) { cmps_once(c, i); }
static void exec_scas(cpu_t *c, const cpu_insn *i) { scas_once(c, i); }
static void exec_ins(cpu_t *c, const cpu_insn *i) { ins_once(c, i); }
static void exec_outs(cpu_t *c, const cpu_insn *i) { outs_once(c, i); }

static void exec_rep_movs(cpu_t *c, const cpu_insn *i) { rep_exec(c, i, OP_MOVS, REP_ALWAYS, movs_once); }
static void exec_rep_stos(cpu_t *c, const cpu_insn *i) { rep_exec(c, i, OP_STOS, REP_ALWAYS, stos_once); }
static void exec_rep_lods(cpu_t *c, const cpu_insn *i) { rep_exec(c, i, OP_LODS, REP_ALWAYS, lods_once); }
static void exec_repe_cmps(cpu_t *c, const cpu_insn *i) { rep_exec(c, i, OP_CMPS, REP_WHILE_EQUAL, cmps_once); }
static void exec_repne_cmps(cpu_t *c, const cpu_insn *i) { rep_exec(c, i, OP_CMPS, REP_WHILE_NOT_EQUAL, cmps_once); }
static void exec_repe_scas(cpu_t *c, const cpu_insn *i) { rep_exec(c, i, OP_SCAS, REP_WHILE_EQUAL, scas_once); }
static void exec_repne_scas(cpu_t *c, const cpu_insn *i) { rep_exec(c, i, OP_SCAS, REP_WHILE_NOT_EQUAL, scas_once); }

/* Port I/O has side effects per access: no chunks, one access at a time. */
static void exec_rep_ins(cpu_t *c, const cpu_insn *i) { rep_run(c, i, ins_once, false); }
static void exec_rep_outs(cpu_t *c, const cpu_insn *i) { rep_run(c, i, outs_once, true); }

/* ---- decoding ------------------------------------------------------------------ */

/* Picks the plain or the repeated handler. F2 and F3 both repeat MOVS,
 * STOS, LODS, INS and OUTS; for CMPS and SCAS F3 is REPE and F2 REPNE. A
 * repeated instruction ends its block because it may restart itself. */
static bool string_pick(cpu_insn *i, cpu_exec_fn plain, cpu_exec_fn rep, cpu_exec_fn repne)
{
    if (i->pfx & CPU_PFX_REP) {
        i->exec = rep;
        i->ends_block = 1;
    } else if (i->pfx & CPU_PFX_REPNE) {
        i->exec = repne;
        i->ends_block = 1;
    } else {
        i->exec = plain;
    }
    return true;
}

static bool decode_movs(cpu_insn *i) { return string_pick(i, exec_movs, exec_rep_movs, exec_rep_movs); }
static bool decode_stos(cpu_insn *i) { return string_pick(i, exec_stos, exec_rep_stos, exec_rep_stos); }
static bool decode_lods(cpu_insn *i) { return string_pick(i, exec_lods, exec_rep_lods, exec_rep_lods); }
static bool decode_cmps(cpu_insn *i) { return string_pick(i, exec_cmps, exec_repe_cmps, exec_repne_cmps); }
static bool decode_scas(cpu_insn *i) { return string_pick(i, exec_scas, exec_repe_scas, exec_repne_scas); }
static bool decode_ins(cpu_insn *i) { return string_pick(i, exec_ins, exec_rep_ins, exec_rep_ins); }
static bool decode_outs(cpu_insn *i) { return string_pick(i, exec_outs, exec_rep_outs, exec_rep_outs); }

void cpu_register_string(cpu_opmap *m)
{
    static const struct {
        uint8_t op;
        cpu_decode_fn fn;
        uint8_t cost;
    } ops[] = {
        {0xA4, decode_movs, CPU_COST_STRING}, {0xA6, decode_cmps, CPU_COST_STRING},
        {0xAA, decode_stos, CPU_COST_STRING}, {0xAC, decode_lods, CPU_COST_STRING},
        {0xAE, decode_scas, CPU_COST_STRING}, {0x6C, decode_ins, CPU_COST_IO},
        {0x6E, decode_outs, CPU_COST_IO},
    };
    for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        /* Even opcodes are the byte forms, odd ones use the operand size. */
        cpu_op(m, 0, ops[k].op, ops[k].fn, CPU_OPF_BYTE, CPU_IMM_NONE, ops[k].cost);
        cpu_op(m, 0, ops[k].op + 1u, ops[k].fn, 0, CPU_IMM_NONE, ops[k].cost);
    }
}
