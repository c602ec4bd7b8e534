/*
 * emu_machine.c — the machine and its deterministic scheduler.
 *
 * One global cycle clock, advanced in rounds that lie on a fixed grid of
 * multiples of the quantum. In a round every CPU, in index order, runs
 * until its own cycle counter reaches the round's end. Inside its turn a
 * CPU runs in slices that end at its next event — the earliest event in its
 * queue (IPIs, device MSIs, stimuli) or its APIC timer's deadline — and the
 * events due are applied at that instruction boundary, before it goes on.
 * Cross-CPU effects are events with the sender's cycle, so they land at the
 * receiver's next boundary at or after that cycle: during this round for a
 * receiver with a higher index, at the start of its next turn for a lower
 * one. A halted CPU sleeps until its next event or the end of the round;
 * when every CPU sleeps, the clock jumps to the round of the next event.
 *
 * PAUSE yields: a CPU spinning on PAUSE waits for another CPU, which a
 * higher-index one cannot give it before its turn. So a PAUSE retired at
 * least EMU_PAUSE_YIELD_GAP cycles after the CPU's previous yield ends its
 * slice (CPU_STOP_YIELD, cpu_t.pause_yield_at); the CPUs after it in the
 * round first run up to its clock, then it goes on. Its own timing is
 * unchanged (a PAUSE delay loop takes the cycles it took); it sees what the
 * others wrote up to its own cycle, not a round later. The decision rests
 * on the CPU's own instruction stream and clock only, so the run stays the
 * same however a caller slices it.
 *
 * Nothing here reads host time or depends on how a caller slices a run, so
 * the same inputs always give the same cycle-exact run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv.h"
#include "emu/emu_internal.h"
#include "emu/emu_loader.h"
#include "emu/emu_multiboot.h"
#include "vmx/vmx_root.h"

#define EMU_HOST_MEM (4u << 20) /* host-owned pages: VMCS-referenced structures */
#define EMU_DEFAULT_QUANTUM 10000
/* Cycles between two yields of a spinning CPU: the granularity at which it
 * and the CPUs after it advance together while it spins. */
#define EMU_PAUSE_YIELD_GAP 1000

const char *emu_mode_name(emu_mode m)
{
    static const char *const names[EMU_MODE_COUNT] = {"native", "emulated", "tpr-shadow",
                                                      "apicv", "posted"};
    return (unsigned)m < EMU_MODE_COUNT ? names[m] : "?";
}

bool emu_mode_parse(const char *s, emu_mode *m)
{
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++) {
        if (strcmp(s, emu_mode_name((emu_mode)k)) == 0) {
            *m = (emu_mode)k;
            return true;
        }
    }
    return false;
}

void emu_config_default(emu_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ncpus = 1;
    cfg->mem_bytes = 64ull << 20;
    cfg->mode = EMU_MODE_POSTED;
    cfg->quantum = EMU_DEFAULT_QUANTUM;
}

static void finish(emu_machine *m, int status)
{
    if (!m->finished) {
        m->finished = true;
        m->exit_status = status;
    }
}

static void crash(emu_machine *m, cpu_t *c, const char *cause)
{
    char what[200];
    emu_describe_rip(c, what, sizeof(what));
    snprintf(m->diag, sizeof(m->diag), "cpu%u: %s at RIP %#llx, cycle %llu: %s", c->index, cause,
             (unsigned long long)c->rip, (unsigned long long)c->cycles, what);
    cpu_obs_emit(&m->obs, c->cycles, c->index, EMU_EV_CRASH, c->stop, 0, c->rip, 0);
    finish(m, EMU_EXIT_CRASH);
}

bool emu_machine_init(emu_machine *m, const emu_config *cfg, const char *guest_path, char *err,
                      size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    m->diag_out = stderr;
    m->running = -1;
    m->step_cpu = -1;
    if (cfg->ncpus < 1 || cfg->ncpus > CPU_MAX_CPUS) {
        snprintf(err, errlen, "--cpus: expected 1..%d, got %u", CPU_MAX_CPUS, cfg->ncpus);
        return false;
    }
    /* Every mode but native runs under the built-in hypervisor
     * (emu/emu_hv*.c): its table takes over the scheduler's turns. */
    if (cfg->mode != EMU_MODE_NATIVE)
        m->hv_ops = &emu_hv_machine_ops;
    if (cfg->quantum == 0)
        m->cfg.quantum = EMU_DEFAULT_QUANTUM;
    if (cfg->costs)
        m->costs = *cfg->costs;
    else
        cpu_cost_default(&m->costs);
    /* A class of 0 cycles could let a CPU loop without moving the clock,
     * and then no cycle limit would ever end the run. */
    char why[160];
    if (!cpu_cost_check(&m->costs, why, sizeof(why))) {
        snprintf(err, errlen, "cost model: %s", why);
        return false;
    }
    if (!cpu_phys_init(&m->phys, cfg->mem_bytes, EMU_HOST_MEM)) {
        snprintf(err, errlen, "cannot allocate %llu MiB of guest RAM",
                 (unsigned long long)(cfg->mem_bytes >> 20));
        return false;
    }
    /* A Multiboot header in the first 8 KiB makes the image a kernel booted
     * the Multiboot way; anything else is a guest ABI image. */
    emu_mb_boot mb = {0};
    m->multiboot = emu_multiboot_detect(guest_path);
    if (m->multiboot) {
        emu_mb_opts o = {cfg->append, cfg->initrd, cfg->ninitrd, cfg->kernel_name,
                         cfg->initrd_names};
        if (!emu_multiboot_load(&m->phys, guest_path, &o, &mb, err, errlen)) {
            cpu_phys_free(&m->phys);
            return false;
        }
        m->entry = mb.entry;
    } else if (!emu_load_guest(&m->phys, guest_path, &m->entry, err, errlen)) {
        cpu_phys_free(&m->phys);
        return false;
    }
    if (!emu_build_boot_tables(&m->phys, cfg->ncpus, err, errlen)) {
        cpu_phys_free(&m->phys);
        return false;
    }
    emu_devices_init(m);
    /* Native mode offers VMX root operation to the guest unless the CPU
     * model takes VMX away (vmx/vmx_root.h). */
    if (!m->hv_ops && !(cfg->cpu_off & EMU_CPU_F_VMX)) {
        m->vroot = calloc(cfg->ncpus, sizeof(*m->vroot));
        if (!m->vroot) {
            snprintf(err, errlen, "out of memory for the VMX state of %u CPUs", cfg->ncpus);
            cpu_phys_free(&m->phys);
            return false;
        }
    }
    for (unsigned k = 0; k < cfg->ncpus; k++) {
        cpu_t *c = &m->cpu[k];
        if (!cpu_init(c, k, &m->phys, &m->costs, &m->obs)) {
            snprintf(err, errlen, "cannot create cpu%u", k);
            emu_machine_free(m);
            return false;
        }
        c->strict = cfg->strict;
        if (cfg->ncpus > 1) {
            c->pause_yield_at = 0;
            c->pause_yield_gap = EMU_PAUSE_YIELD_GAP;
        }
        emu_setup_entry_state(c, &m->phys, k, cfg->ncpus, m->entry);
        if (m->multiboot && k == 0)
            emu_multiboot_entry_state(c, &mb);
        /* Guest ABI "State at entry": xAPIC mode, APIC ID = index, BSP on 0. */
        apic_init(&m->apic[k], c, k, k == 0, &m->obs);
        apic_set_ipi_sink(&m->apic[k], emu_route_ipi, m);
        apic_set_eoi_sink(&m->apic[k], emu_irq_eoi, m);
        emu_native_attach(m, k);
    }
    /* After reset every processor but the BSP waits for SIPI (SDM 9.4.1),
     * as a Multiboot kernel expects; ABI guests start together. */
    if (m->multiboot)
        emu_smp_hold_aps(m);
    /* With the CPUs, APICs and native hooks in place, the hypervisor takes
     * over the CPUs of a VMX mode (VMXON, VMCSs, its own hooks). */
    if (m->hv_ops && m->hv_ops->attach && !m->hv_ops->attach(m, err, errlen)) {
        emu_machine_free(m);
        return false;
    }
    return true;
}

void emu_machine_free(emu_machine *m)
{
    if (m->hv_ops && m->hv_ops->detach)
        m->hv_ops->detach(m);
    for (unsigned k = 0; k < m->cfg.ncpus && k < CPU_MAX_CPUS; k++) {
        if (m->cpu[k].phys)
            cpu_free(&m->cpu[k]);
        emu_evq_free(&m->evq[k]);
    }
    cpu_phys_free(&m->phys);
    free(m->vroot);
    m->vroot = NULL;
}

uint64_t emu_machine_insns(const emu_machine *m)
{
    uint64_t n = 0;
    for (unsigned k = 0; k < m->cfg.ncpus; k++)
        n += m->cpu[k].insns;
    return n;
}

bool emu_machine_post(emu_machine *m, const emu_qevent *ev)
{
    if (ev->cpu >= m->cfg.ncpus)
        return false;
    emu_qevent e = *ev;
    if (e.cycle > EMU_CYCLE_MAX)
        e.cycle = EMU_CYCLE_MAX;
    e.seq = m->evq_seq++;
    if (!emu_evq_push(&m->evq[e.cpu], &e)) {
        /* Full (or out of memory): dropped, and never silently. */
        m->stats.queue_dropped[e.cpu]++;
        cpu_t *src = m->running >= 0 ? &m->cpu[m->running] : NULL;
        cpu_obs_emit(&m->obs, src ? src->cycles : m->now, src ? src->index : e.cpu,
                     EMU_EV_QUEUE_DROP, e.kind, e.cpu, e.cycle, e.vector);
        return false;
    }
    cpu_t *c = &m->cpu[e.cpu];
    if (m->running == (int)e.cpu && e.cycle < c->cycle_limit)
        c->cycle_limit = e.cycle > c->cycles ? e.cycle : c->cycles;
    return true;
}

bool emu_machine_schedule_call(emu_machine *m, uint64_t cycle, unsigned cpu,
                               void (*fn)(emu_machine *m, const emu_qevent *ev), void *ctx,
                               uint64_t arg)
{
    emu_qevent ev = {.cycle = cycle, .cpu = (uint8_t)cpu, .kind = EMU_Q_CALL, .fn = fn,
                     .ctx = ctx, .arg = arg};
    return emu_machine_post(m, &ev);
}

void emu_machine_stop(emu_machine *m, int status, const char *fmt, ...)
{
    if (m->finished)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->diag, sizeof(m->diag), fmt, ap);
    va_end(ap);
    finish(m, status);
    if (m->running >= 0)
        cpu_request_stop(&m->cpu[m->running], CPU_STOP_HOOK);
}

void emu_machine_interrupt(emu_machine *m, const char *why)
{
    m->interrupted = true;
    snprintf(m->diag, sizeof(m->diag), "%s", why);
    if (m->running >= 0)
        cpu_request_stop(&m->cpu[m->running], CPU_STOP_HOOK);
}

void emu_machine_pause(emu_machine *m)
{
    m->pause_req = true;
    if (m->running >= 0)
        cpu_request_stop(&m->cpu[m->running], CPU_STOP_HOOK);
}

/* The cycle of CPU k's next event: its queue, its APIC timer, or (native
 * mode) its guest hypervisor's VMX-preemption timer. */
static uint64_t next_event(const emu_machine *m, unsigned k)
{
    uint64_t q = emu_evq_next_cycle(&m->evq[k]);
    uint64_t t = apic_timer_deadline(&m->apic[k]);
    if (q < t)
        t = q;
    if (m->vroot) {
        /* A guest hypervisor's guest may sleep until its preemption timer. */
        uint64_t p = vmx_root_wake_deadline(&m->vroot[k]);
        if (p < t)
            t = p;
    }
    return t;
}

/* Applies what is due at CPU k's current boundary: its APIC timer
 * (SDM 11.5.4), then its queued events in posting order. */
static void apply_due(emu_machine *m, unsigned k)
{
    cpu_t *c = &m->cpu[k];
    apic_t *a = &m->apic[k];
    uint64_t due = apic_timer_deadline(a);
    if (due <= c->cycles) {
        cpu_obs_emit(&m->obs, c->cycles, k, EMU_EV_TIMER_DUE, due, 0, c->rip, 0);
        apic_timer_advance(a, c->cycles);
    }
    emu_qevent ev;
    while (emu_evq_pop_due(&m->evq[k], c->cycles, &ev))
        emu_apply_event(m, &ev);
}

enum { SLICE_END, SLICE_STOP, SLICE_YIELD };

/* CPU k runs until its clock reaches `end`: SLICE_END then; SLICE_STOP
 * when the run finished, was paused or met the step budget (it resumes
 * there next time); SLICE_YIELD after a PAUSE that yielded, if `yield`. */
static int run_slice(emu_machine *m, unsigned k, uint64_t end, bool yield)
{
    cpu_t *c = &m->cpu[k];
    while (!m->finished && !m->pause_req && !m->interrupted) {
        apply_due(m, k);
        if (c->cycles >= end)
            return SLICE_END;
        uint64_t max_insns = UINT64_MAX;
        if (m->step_cpu == EMU_STEP_ANY) {
            max_insns = 1;
        } else if (m->step_cpu == (int)k) {
            if (c->insns >= m->step_until_insns)
                return SLICE_STOP;
            max_insns = m->step_until_insns - c->insns;
        }
        uint64_t limit = next_event(m, k);
        if (limit > end)
            limit = end;
        if (limit <= c->cycles)
            limit = c->cycles + 1;
        m->running = (int)k;
        cpu_stop s = m->hv_ops && m->hv_ops->run ? m->hv_ops->run(m, k, limit, max_insns)
                                                 : emu_native_run(m, k, limit, max_insns);
        m->running = -1;
        switch (s) {
        case CPU_STOP_HALT: {
            /* Asleep with nothing to take: until its next event, or the
             * end of the round (another CPU may wake it meanwhile). */
            uint64_t wake = next_event(m, k);
            if (wake > end)
                wake = end;
            if (wake > c->cycles)
                c->cycles = wake;
            break;
        }
        case CPU_STOP_YIELD:
            if (yield)
                return SLICE_YIELD;
            break;
        case CPU_STOP_TRIPLE_FAULT: {
            char why[256];
            crash(m, c, emu_native_shutdown_cause(m, k, why, sizeof(why)));
            return SLICE_STOP;
        }
        case CPU_STOP_UNIMPLEMENTED:
        {
            /* Outside 64-bit mode the CPU says which corner of its mode it
             * does not execute yet (docs/cpu-model.md "Modes"). */
            const char *why = cpu_unexecuted_reason(c);
            crash(m, c, why ? why : "unimplemented instruction (--strict)");
        }
            return SLICE_STOP;
        case CPU_STOP_INSNS:
            return SLICE_STOP;
        default:
            break;
        }
    }
    return SLICE_STOP;
}

/* CPU k's turn in the current round. Returns true when it reached the
 * round's end, false when the run finished, was paused or met the step
 * budget (the turn resumes there next time, a yield's catch-up included). */
static bool run_turn(emu_machine *m, unsigned k)
{
    cpu_t *c = &m->cpu[k];
    for (;;) {
        for (; m->yield_active && m->yield_next < m->cfg.ncpus; m->yield_next++)
            if (run_slice(m, m->yield_next, m->yield_until, false) == SLICE_STOP)
                return false;
        m->yield_active = false;
        switch (run_slice(m, k, m->round_end, k + 1 < m->cfg.ncpus)) {
        case SLICE_END: return true;
        case SLICE_STOP: return false;
        default:
            m->yield_active = true;
            m->yield_next = k + 1;
            m->yield_until = c->cycles < m->round_end ? c->cycles : m->round_end;
            break;
        }
    }
}

static bool all_halted(const emu_machine *m, bool *all_if_off)
{
    *all_if_off = true;
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        if (!m->cpu[k].halted)
            return false;
        /* A guest hypervisor's VM entry into the HLT activity state may end
         * the CPU's turn with a VM exit still to be taken at its first
         * boundary (NMI-window exiting, a pending event, SDM 26.6): events
         * its hook has not looked at yet mean it is not asleep. */
        if (m->vroot && m->vroot[k].v.non_root &&
            (m->cpu[k].events & (CPU_EVT_HOOK | CPU_EVT_INTR)))
            return false;
        if (m->cpu[k].rflags & CPU_FL_IF)
            *all_if_off = false;
    }
    return true;
}

/* Opens the next round. When every CPU sleeps, the clock first jumps to
 * the round holding the earliest event; when no event will ever come, the
 * guest can never continue and the run ends as a crash. */
static void start_round(emu_machine *m)
{
    uint64_t q = m->cfg.quantum;
    bool if_off;
    if (all_halted(m, &if_off)) {
        uint64_t next = UINT64_MAX;
        for (unsigned k = 0; k < m->cfg.ncpus; k++) {
            uint64_t t = next_event(m, k);
            if (t < next)
                next = t;
        }
        if (next == UINT64_MAX) {
            crash(m, &m->cpu[0], if_off ? "every CPU halted with interrupts disabled (HLT after CLI)"
                                        : "every CPU halted and no interrupt source is armed");
            return;
        }
        uint64_t target = next - next % q;
        if (m->cfg.max_cycles && target > m->cfg.max_cycles)
            target = m->cfg.max_cycles;
        if (target > m->now) {
            for (unsigned k = 0; k < m->cfg.ncpus; k++)
                if (m->cpu[k].cycles < target)
                    m->cpu[k].cycles = target;
            m->now = target;
        }
    }
    m->round_end = (m->now / q + 1) * q;
    if (m->cfg.max_cycles && m->round_end > m->cfg.max_cycles)
        m->round_end = m->cfg.max_cycles;
    m->turn = 0;
    m->in_round = true;
}

bool emu_machine_run(emu_machine *m, uint64_t until)
{
    uint64_t limit = until;
    if (m->cfg.max_cycles && m->cfg.max_cycles < limit)
        limit = m->cfg.max_cycles;
    m->pause_req = false;
    while (!m->finished && !m->interrupted) {
        if (!m->in_round) {
            if (m->now >= limit)
                break;
            start_round(m);
            if (m->finished)
                break;
            if (m->now >= m->round_end) {
                m->in_round = false; /* the cycle limit: no round is left */
                break;
            }
        }
        for (; m->turn < m->cfg.ncpus; m->turn++)
            if (!run_turn(m, m->turn))
                goto out;
        m->now = m->round_end;
        m->in_round = false;
        m->turn = 0;
    }
out:
    if (!m->finished && !m->in_round && m->cfg.max_cycles && m->now >= m->cfg.max_cycles) {
        snprintf(m->diag, sizeof(m->diag), "the cycle limit (%llu) was reached first",
                 (unsigned long long)m->cfg.max_cycles);
        finish(m, EMU_EXIT_CYCLES);
    }
    return m->finished;
}

int emu_machine_step_any_until(emu_machine *m, uint64_t until, bool *finished)
{
    /* The CPU count is fixed for a machine's life; kept in a local, so
     * that both loops visibly cover the same entries of before[]. */
    const unsigned ncpus = m->cfg.ncpus;
    uint64_t before[CPU_MAX_CPUS];
    for (unsigned k = 0; k < ncpus; k++)
        before[k] = m->cpu[k].insns;
    m->step_cpu = EMU_STEP_ANY;
    bool fin = emu_machine_run(m, until);
    m->step_cpu = -1;
    if (finished)
        *finished = fin;
    for (unsigned k = 0; k < ncpus; k++)
        if (m->cpu[k].insns != before[k])
            return (int)k;
    return -1;
}

int emu_machine_step_any(emu_machine *m)
{
    if (m->finished)
        return -1;
    return emu_machine_step_any_until(m, m->now + 100 * m->cfg.quantum, NULL);
}

cpu_stop emu_machine_step(emu_machine *m, unsigned cpu, uint64_t insns)
{
    if (cpu >= m->cfg.ncpus || m->finished)
        return CPU_STOP_NONE;
    cpu_t *c = &m->cpu[cpu];
    m->step_cpu = (int)cpu;
    m->step_until_insns = c->insns + insns;
    /* Bounded, so a CPU parked for good does not hang the caller. */
    emu_machine_run(m, m->now + 100 * m->cfg.quantum);
    m->step_cpu = -1;
    if (c->insns >= m->step_until_insns)
        return CPU_STOP_INSNS;
    if (m->finished || m->pause_req)
        return CPU_STOP_HOOK;
    return c->halted ? CPU_STOP_HALT : CPU_STOP_CYCLES;
}
