/*
 * cpu_exec.c — the run loop and the decoded-block cache.
 *
 * Instructions are decoded once into blocks keyed by physical address and
 * CPU mode (the same bytes decode differently in 16-, 32- and 64-bit code,
 * so the two never alias). A
 * block ends at a branch, at an instruction that changes interrupt state or
 * mode, at a page end or after CPU_BLOCK_MAX instructions. Each block
 * remembers its last two successors, so a hot loop goes from block to block
 * without a lookup. Interrupts and other events are looked at once per
 * block: everything that can make one deliverable either ends the block
 * (STI, POPF, IRET, CR and MSR writes, stores to trap pages) or happens
 * between runs (other CPUs, devices), so no delivery is late.
 */
#include <stdlib.h>

#include "cpu/cpu_internal.h"

#define CPU_BLOCK_MAX 32
#define DC_HASH 8192
#define DC_BLOCKS 16384
#define DC_ARENA (DC_BLOCKS * 8)
#define NO_PAGE UINT64_MAX

typedef struct cpu_block cpu_block;

struct cpu_block {
    const cpu_insn *end;  /* one past the last instruction */
    const cpu_insn *run_end; /* where the run loop stops: end, or end - 1 when fused */
    cpu_exec_fn unfused;  /* the fused first half's own handler (for stepping) */
    const uint32_t *genp; /* &phys->code_gen[first page] */
    uint64_t pa;    /* physical address of the first byte */
    uint64_t page2; /* second physical page an instruction runs into, or NO_PAGE */
    uint32_t gen, gen2;
    uint16_t n;
    uint8_t mode;   /* cpu_mode the block was decoded in: part of the key */
    uint8_t next_succ;
    uint8_t fused; /* the last two records are a fused pair (cpu_fused_jcc) */
    uint16_t bytes; /* the block's length in bytes (its records' lengths summed) */
    struct {
        uint64_t rip;
        cpu_block *block;
        uint32_t epoch;
    } succ[2];
    cpu_insn *insn;
};

typedef struct cpu_dcache {
    cpu_block *hash[DC_HASH];
    unsigned nblocks, ninsns;
    cpu_block blocks[DC_BLOCKS];
    cpu_insn arena[DC_ARENA];
} cpu_dcache;

bool cpu_dcache_alloc(cpu_t *c);
void cpu_dcache_release(cpu_t *c);

bool cpu_dcache_alloc(cpu_t *c)
{
    c->dcache = calloc(1, sizeof(cpu_dcache));
    return c->dcache != NULL;
}

void cpu_dcache_release(cpu_t *c)
{
    free(c->dcache);
    c->dcache = NULL;
}

void cpu_dcache_flush(cpu_t *c)
{
    cpu_dcache *dc = c->dcache;
    memset(dc->hash, 0, sizeof(dc->hash));
    dc->nblocks = 0;
    dc->ninsns = 0;
    cpu_epoch_invalidate(c); /* every cached successor link is now stale */
}

static inline unsigned hash_pa(uint64_t pa, unsigned mode)
{
    return (unsigned)((pa ^ (pa >> 13) ^ ((uint64_t)mode << 11)) & (DC_HASH - 1));
}

static inline bool block_valid(const cpu_t *c, const cpu_block *b)
{
    return *b->genp == b->gen &&
           (likely(b->page2 == NO_PAGE) || c->phys->code_gen[b->page2] == b->gen2);
}

/* SDM Vol. 2 2.3.11: an instruction longer than 15 bytes raises #GP(0). */
static void exec_too_long(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    cpu_gp0(c);
}

/* Decodes the first instruction of a block that runs into the next page. */
static unsigned decode_crossing(cpu_t *c, cpu_block *b, const uint8_t *bytes, unsigned avail,
                                cpu_insn *i)
{
    uint8_t buf[15];
    memcpy(buf, bytes, avail);
    uint64_t next_va = cpu_fetch_va(c, c->rip) + avail;
    uint64_t pa2 = cpu_translate(c, next_va, CPU_ACC_FETCH);
    for (unsigned k = avail; k < 15; k++)
        buf[k] = (uint8_t)cpu_phys_load(c, pa2 + (k - avail), 1, CPU_ACC_FETCH);
    if (pa2 < c->phys->ram_size) {
        b->page2 = pa2 >> CPU_PAGE_SHIFT;
        cpu_mark_code_page(c, pa2);
        b->gen2 = c->phys->code_gen[b->page2];
    }
    unsigned len = cpu_decode((cpu_mode)c->mode, c->costs, buf, 15, i);
    if (len == 0) {
        i->exec = exec_too_long;
        len = 15;
    }
    return len;
}

/* Macro-fusion (cpu_fused_jcc): a block ending in a register-only
 * flag-setting instruction and a Jcc runs the two with one handler call.
 * The Jcc record stays in the block for lengths, costs and fault
 * accounting; the run loop stops before it. */
static void fuse_last_pair(cpu_block *b)
{
    if (b->n < 2 || !cpu_is_jcc(&b->insn[b->n - 1]))
        return;
    cpu_insn *first = &b->insn[b->n - 2];
    cpu_exec_fn f = cpu_alu_fused(first->exec, b->insn[b->n - 1].sub);
    if (!f)
        return;
    b->unfused = first->exec;
    first->exec = f;
    b->fused = 1;
}

static cpu_block *decode_block(cpu_t *c, uint64_t pa)
{
    cpu_dcache *dc = c->dcache;
    if (dc->nblocks == DC_BLOCKS || dc->ninsns + CPU_BLOCK_MAX > DC_ARENA)
        cpu_dcache_flush(c);
    cpu_block *b = &dc->blocks[dc->nblocks];
    memset(b, 0, sizeof(*b));
    b->pa = pa;
    b->mode = c->mode;
    b->page2 = NO_PAGE;
    b->insn = &dc->arena[dc->ninsns];
    cpu_mark_code_page(c, pa);
    b->genp = &c->phys->code_gen[pa >> CPU_PAGE_SHIFT];
    b->gen = *b->genp;

    const uint8_t *page = c->phys->ram + (pa & ~0xFFFull);
    const unsigned start = (unsigned)(pa & 0xFFF);
    unsigned off = start, n = 0;
    while (n < CPU_BLOCK_MAX) {
        cpu_insn *i = &b->insn[n];
        unsigned avail = 0x1000 - off;
        unsigned len = cpu_decode((cpu_mode)c->mode, c->costs, page + off, avail, i);
        if (len == 0) {
            if (avail >= 15) {
                i->exec = exec_too_long;
                i->ends_block = 1;
                len = 15;
            } else if (n > 0) {
                break; /* the next block starts with the crossing instruction */
            } else {
                len = decode_crossing(c, b, page + off, avail, i);
                i->ends_block = 1;
            }
        }
        n++;
        off += len;
        if (i->ends_block || off >= 0x1000)
            break;
    }
    b->n = (uint16_t)n;
    b->bytes = (uint16_t)(off - start); /* at most a page, or 15 when crossing */
    b->end = b->insn + n;
    fuse_last_pair(b);
    b->run_end = b->end - b->fused;
    dc->nblocks++;
    dc->ninsns += n;
    dc->hash[hash_pa(pa, c->mode)] = b;
    return b;
}

/* Outside 64-bit mode: the bytes from RIP to the end of the CS limit
 * (SDM Vol. 3A 5.3: an instruction fetch beyond it is #GP(0)), at most 15
 * (the longest instruction); 64-bit mode has no CS limit. */
static unsigned cs_room(const cpu_t *c)
{
    if (c->mode == CPU_MODE_LONG64)
        return 15;
    uint64_t off = (uint32_t)c->rip, limit = c->seg[CPU_CS].limit;
    return off > limit ? 0 : limit - off + 1 >= 15 ? 15 : (unsigned)(limit - off + 1);
}

/* Whether every byte of block b lies within the CS limit when it starts at
 * RIP (outside 64-bit mode; SDM Vol. 3A 5.3). Blocks are keyed by physical
 * address and mode, not by CS, so this is checked whenever one is looked
 * up; a CS load with a new base or limit starts a new successor epoch.
 * O(1): the block's byte length is kept from when it was decoded. */
static inline bool block_in_cs_limit(const cpu_t *c, const cpu_block *b)
{
    return (uint64_t)(uint32_t)c->rip + b->bytes - 1 <= c->seg[CPU_CS].limit;
}

/* Executes one instruction from a page that is not plain RAM (MMIO, an
 * APIC-access page), or one that reaches the end of the CS limit: fetched
 * byte by byte, never cached; an instruction that does not fit in the
 * limit is #GP(0) before any byte beyond it is fetched. */
static void exec_uncached(cpu_t *c)
{
    uint8_t buf[15];
    cpu_insn i;
    unsigned len = 0, room = cs_room(c);
    for (unsigned k = 0; k < room && len == 0; k++) {
        buf[k] = (uint8_t)cpu_read_slow(c, cpu_fetch_va(c, c->rip) + k, 1, CPU_ACC_FETCH);
        len = cpu_decode((cpu_mode)c->mode, c->costs, buf, k + 1, &i);
    }
    if (len == 0)
        cpu_gp0(c);
    c->next_rip = c->rip + len;
    c->cycles += i.cost;
    i.exec(c, &i);
    c->rip = c->next_rip;
    c->insns++;
}

/* Finds (or decodes) the block at RIP; NULL when RIP is not in plain RAM,
 * or when the block would run past the CS limit. */
static __attribute__((noinline)) cpu_block *lookup_block(cpu_t *c)
{
    uint64_t rip = cpu_fetch_va(c, c->rip); /* the linear address */
    cpu_tlb_entry *e = cpu_tlb_slot(c, rip);
    uint64_t pa;
    if (likely(e->tag_fetch == (rip & ~0xFFFull)))
        pa = e->paddr | (rip & 0xFFF);
    else {
        pa = cpu_translate(c, rip, CPU_ACC_FETCH);
        if (e->tag_fetch != (rip & ~0xFFFull))
            return NULL;
    }
    cpu_block *b = c->dcache->hash[hash_pa(pa, c->mode)];
    if (!(b && b->pa == pa && b->mode == c->mode && block_valid(c, b)))
        b = decode_block(c, pa);
    if (unlikely(c->mode != CPU_MODE_LONG64) && !block_in_cs_limit(c, b))
        return NULL; /* run one by one up to the limit (exec_uncached) */
    return b;
}

/* rip is c->rip, passed in a register by the run loop. */
static inline cpu_block *next_block(cpu_t *c, cpu_block *prev, uint64_t rip)
{
    if (likely(prev)) {
        uint32_t epoch = c->tlb_epoch;
        /* A link is as good as its epoch: TLB flushes and writes to any
         * code page (cpu_code_page_written) start a new one. */
        if (likely(prev->succ[0].rip == rip && prev->succ[0].epoch == epoch))
            return prev->succ[0].block;
        if (prev->succ[1].rip == rip && prev->succ[1].epoch == epoch)
            return prev->succ[1].block;
    }
    cpu_block *b = lookup_block(c);
    if (prev && b) {
        unsigned k = prev->next_succ;
        prev->succ[k].rip = c->rip;
        prev->succ[k].block = b;
        prev->succ[k].epoch = c->tlb_epoch;
        prev->next_succ = (uint8_t)(k ^ 1);
    }
    return b;
}

static void handle_events(cpu_t *c)
{
    if (c->hooks.events)
        c->hooks.events(c->hooks.ctx, c);
    else
        c->events &= ~(uint32_t)(CPU_EVT_INTR | CPU_EVT_HOOK);
}

/* How many instructions of the current block retired before the one at
 * c->rip, which a fault abandoned. A block lies within one page (only a
 * page-crossing instruction, always first, reaches into the next), so
 * the page offset of RIP says how far into the block it was. */
static uint64_t retired_before_fault(const cpu_t *c)
{
    const cpu_block *b = c->cur_block;
    unsigned target = (unsigned)((cpu_fetch_va(c, c->rip) - b->pa) & 0xFFF), off = 0, n = 0;
    while (n < b->n && off != target) {
        off += b->insn[n].len;
        n++;
    }
    return n < b->n ? n : 0;
}

/* The checks a block boundary needs only now and then: a stop, HLT, the
 * cycle or instruction limit, pending events, debug traps. Returns false
 * to leave the run loop; *shadowed says the next instruction runs alone
 * (an interrupt shadow, or single-stepping: CPU_EVT_DEBUG). */
static bool boundary_checks(cpu_t *c, bool *shadowed)
{
    *shadowed = false;
    c->cur_block = NULL;
    /* The instruction just completed began with TF = 1: its single-step
     * trap is pending now, before any stop (an MTF VM exit, SDM 25.5.2,
     * and other VM exits at this boundary save it in the VMCS). */
    if (unlikely(c->dbg_tf))
        cpu_debug_step_done(c);
    if (c->stop)
        return false;
    if (c->cycles >= c->cycle_limit) {
        c->stop = CPU_STOP_CYCLES;
        return false;
    }
    if (c->insns >= c->insn_limit) {
        c->stop = CPU_STOP_INSNS;
        return false;
    }
    if (c->events) {
        /* SDM Vol. 3A 6.8.3: nothing is taken in the shadow of STI or
         * MOV SS; the shadowed instruction runs alone. */
        *shadowed = (c->events & CPU_EVT_SHADOW) != 0;
        /* SDM 6.9: traps of the previous instruction (priority 4) come
         * before NMIs and interrupts; MOV SS blocking holds them back
         * (6.8.3). */
        if ((c->events & CPU_EVT_DEBUG) && c->dbg_pending && !cpu_mov_ss_blocking(c))
            cpu_debug_trap(c);
        if (!*shadowed && (c->events & (CPU_EVT_INTR | CPU_EVT_HOOK))) {
            handle_events(c);
            if (c->stop)
                return false;
        }
    }
    if (c->halted) {
        c->stop = CPU_STOP_HALT;
        return false;
    }
    if (unlikely(c->mode != CPU_MODE_LONG64) && cpu_unexecuted_reason(c)) {
        /* A mode the interpreter does not execute yet (cpu_mode_executes;
         * docs/cpu-model.md): stop rather than run it wrongly. */
        c->stop = CPU_STOP_UNIMPLEMENTED;
        return false;
    }
    c->exit_block = 0; /* an interrupt delivered just now ended no block */
    if (unlikely(c->events & CPU_EVT_DEBUG))
        *shadowed |= cpu_debug_arm(c);
    return true;
}

/* Runs the records [i, end) of b one by one, the first half of a fused
 * pair with its own handler: stepping may stop between the two. Returns
 * one past the last record run. */
static const cpu_insn *run_unfused(cpu_t *c, const cpu_block *b, const cpu_insn *i,
                                   const cpu_insn *end)
{
    const cpu_insn *first = b->fused ? b->end - 2 : NULL;
    do {
        c->next_rip = c->rip + i->len;
        c->cycles += i->cost;
        (i == first ? b->unfused : i->exec)(c, i);
        c->rip = c->next_rip;
    } while (++i < end && !c->exit_block);
    return i;
}

/*
 * The hot loop. A block boundary costs a test of `events` and of the cycle
 * limit; everything rarer (stops, HLT, stepping, shadows) goes through
 * boundary_checks, entered whenever `slow` is set: after a block that ended
 * early, and for every block while stepping or in an interrupt shadow.
 */
static void run_loop(cpu_t *c)
{
    cpu_block *prev = NULL;
    bool stepping = c->insn_limit != UINT64_MAX;
    bool slow = true, shadowed = false;
    unsigned max_n = CPU_BLOCK_MAX;
    uint64_t rip = c->rip; /* c->rip; reloaded wherever something else may change it */
    for (;;) {
        if (unlikely(slow || c->events || c->cycles >= c->cycle_limit)) {
            if (!boundary_checks(c, &shadowed))
                return;
            rip = c->rip; /* an event may have been delivered */
            if (c->events & ~(uint32_t)CPU_EVT_SHADOW)
                prev = NULL;
            max_n = CPU_BLOCK_MAX;
            if (shadowed)
                max_n = 1;
            else if (stepping && c->insn_limit - c->insns < max_n)
                max_n = (unsigned)(c->insn_limit - c->insns);
            slow = stepping || shadowed;
        }
        cpu_block *b = next_block(c, prev, rip);
        if (unlikely(!b)) {
            c->cur_block = NULL;
            exec_uncached(c);
            prev = NULL;
            slow = true;
            continue;
        }
        const cpu_insn *i = b->insn, *end = b->run_end;
        unsigned cut = 0; /* instructions past the limit (stepping) */
        c->cur_block = b;
        if (unlikely(max_n < b->n)) {
            cut = b->n - max_n;
            end = i + max_n;
            i = run_unfused(c, b, i, end);
            rip = c->rip;
        } else {
            /* RIP stays in a register between instructions (handlers see
             * it in c->rip, stored after each one), saving a reload. */
            do {
                c->next_rip = rip + i->len;
                c->cycles += i->cost;
                i->exec(c, i);
                rip = c->next_rip;
                c->rip = rip;
            } while (++i < end && !c->exit_block);
        }
        c->insns += b->n;
        prev = b;
        if (unlikely(c->exit_block || slow)) {
            /* Instructions not run: the records left, the cut, and a
             * fused pair's Jcc when its first half did not run either. */
            unsigned left = (unsigned)(end - i) + (cut ? cut : i < end ? b->fused : 0);
            c->exit_block = 0;
            c->insns -= left;
            if (left)
                prev = NULL;
            slow = true;
            if (shadowed && !c->shadow_arm)
                c->events &= ~(uint32_t)CPU_EVT_SHADOW;
            c->shadow_arm = 0;
        }
    }
}

cpu_stop cpu_run(cpu_t *c, uint64_t cycle_limit, uint64_t max_insns)
{
    c->stop = CPU_STOP_NONE;
    c->cycle_limit = cycle_limit;
    c->insn_limit = max_insns > UINT64_MAX - c->insns ? UINT64_MAX : c->insns + max_insns;
    c->in_run = true;
    if (setjmp(c->abort_jmp)) {
        /* A fault or a hook abandoned an instruction; RIP is still at it. */
        if (c->cur_block) {
            c->insns += retired_before_fault(c);
            c->cur_block = NULL;
        }
        c->exit_block = 0;
        c->shadow_arm = 0;
        c->dbg_tf = 0; /* a faulting instruction has no single-step trap (SDM 17.3.1.4) */
        if (c->stop == CPU_STOP_NONE && c->pending_vector >= 0)
            cpu_deliver_pending_fault(c);
    } else if (c->inject_pending) {
        cpu_deliver_injected(c);
    } else if (unlikely(c->dbg_pending) && !cpu_mov_ss_blocking(c)) {
        /* Pending debug exceptions left by a VM entry (SDM 26.7.3) or by
         * the end of the last run: delivered before the first instruction
         * and before the limits are looked at, so a VMX-preemption timer
         * of 0 expires after the #DB. */
        cpu_debug_trap(c);
    }
    run_loop(c);
    c->in_run = false;
    return c->stop;
}

void cpu_request_stop(cpu_t *c, cpu_stop why)
{
    c->stop = why;
    c->exit_block = 1;
}

_Noreturn void cpu_abort_insn(cpu_t *c, cpu_stop why)
{
    c->stop = why;
    longjmp(c->abort_jmp, 1);
}

_Noreturn void cpu_fault(cpu_t *c, unsigned vector, uint32_t error)
{
    c->pending_vector = (int)vector;
    c->pending_error = error;
    c->pending_has_error = true;
    longjmp(c->abort_jmp, 1);
}

_Noreturn void cpu_fault_noerr(cpu_t *c, unsigned vector)
{
    c->pending_vector = (int)vector;
    c->pending_error = 0;
    c->pending_has_error = false;
    longjmp(c->abort_jmp, 1);
}

_Noreturn void cpu_raise_exception(cpu_t *c, unsigned vector, bool has_error, uint32_t error)
{
    if (has_error)
        cpu_fault(c, vector, error);
    cpu_fault_noerr(c, vector);
}

void cpu_exec_ud(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    cpu_ud(c);
}

/* An encoding our tables do not implement: reported (event, hook with the
 * bytes), then #UD in the guest, or the end of the run in strict mode. */
void cpu_exec_unimplemented(cpu_t *c, const cpu_insn *i)
{
    uint8_t bytes[15] = {0};
    unsigned len = i->len ? i->len : 1;
    if (!cpu_peek_linear(c, cpu_fetch_va(c, c->rip), bytes, len))
        len = 0;
    uint64_t first8 = 0;
    memcpy(&first8, bytes, len < 8 ? len : 8);
    c->unimplemented_count++;
    cpu_obs_emit(c->obs, c->cycles, c->index, CPU_EV_UNIMPLEMENTED, first8, len, c->rip, 0);
    if (c->hooks.unimplemented)
        c->hooks.unimplemented(c->hooks.ctx, c, bytes, len);
    if (c->strict)
        cpu_abort_insn(c, CPU_STOP_UNIMPLEMENTED);
    cpu_ud(c);
}
