/*
 * emu_hv_run.c — the built-in hypervisor's run loop: timed work on each
 * physical CPU's clock, HLT blocking and waking, descheduling, VM entry
 * (with the guest ABI's VMCS policy and the undo of a failed VMCS_WRITE),
 * the exit-loop guard, and emu_hv_run_vcpu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

/* ---- timed work --------------------------------------------------------------- */

static void hv_apply_work(emu_hv *hv, emu_hv_vcpu *vc, const emu_hv_work *w);

/* Work on the machine's queue: kind and vector ride in the top bits of
 * the argument. */
#define HV_ARG_BITS 48
static void hv_machine_work(emu_machine *m, const emu_qevent *ev)
{
    emu_hv *hv = ev->ctx;
    emu_hv_work w = {.cycle = ev->cycle,
                     .kind = (uint8_t)(ev->arg >> 56),
                     .vector = (uint8_t)(ev->arg >> HV_ARG_BITS),
                     .arg = ev->arg & ((1ull << HV_ARG_BITS) - 1)};
    (void)m;
    hv_apply_work(hv, &hv->vcpu[ev->cpu], &w);
}

void hv_queue(emu_hv *hv, unsigned cpu, unsigned kind, uint8_t vector, uint64_t arg, uint64_t cycle)
{
    emu_hv_vcpu *vc = &hv->vcpu[cpu];
    if (hv->machine_queue) {
        unsigned src = hv->m->running >= 0 ? (unsigned)hv->m->running : cpu;
        if (kind == HV_WORK_MSI) {
            emu_msi_raise(hv->m, vector, cpu, cycle, src);
            return;
        }
        if (arg >> HV_ARG_BITS)
            arg = (1ull << HV_ARG_BITS) - 1;
        uint64_t packed = ((uint64_t)kind << 56) | ((uint64_t)vector << HV_ARG_BITS) | arg;
        /* A full queue drops the work like a message the bus had no room
         * for: emu_machine_post counts it and logs emu.queue-drop. */
        emu_machine_schedule_call(hv->m, cycle, cpu, hv_machine_work, hv, packed);
        return;
    }
    if (vc->nwork == vc->capwork) {
        size_t cap = vc->capwork ? vc->capwork * 2 : 16;
        emu_hv_work *w = realloc(vc->work, cap * sizeof(*w));
        if (!w) {
            hv_crash(hv, vc, "hypervisor: out of memory for timed work");
            return;
        }
        vc->work = w;
        vc->capwork = cap;
    }
    vc->work[vc->nwork++] = (emu_hv_work){.cycle = cycle, .seq = hv->seq++, .kind = (uint8_t)kind,
                                          .vector = vector, .arg = arg};
}

/* Index of the earliest work (cycle, then posting order), -1 when none. */
static long hv_first_work(const emu_hv_vcpu *vc)
{
    long best = -1;
    for (size_t i = 0; i < vc->nwork; i++) {
        const emu_hv_work *w = &vc->work[i];
        if (best < 0 || w->cycle < vc->work[best].cycle ||
            (w->cycle == vc->work[best].cycle && w->seq < vc->work[best].seq))
            best = (long)i;
    }
    return best;
}

uint64_t emu_hv_next_work(const emu_hv *hv, unsigned cpu)
{
    long i = hv_first_work(&hv->vcpu[cpu]);
    return i < 0 ? UINT64_MAX : hv->vcpu[cpu].work[i].cycle;
}

static void hv_apply_work(emu_hv *hv, emu_hv_vcpu *vc, const emu_hv_work *w)
{
    unsigned k = hv_index(hv, vc);
    switch (w->kind) {
    case HV_WORK_MSI: hv_deliver(hv, k, w->vector); break;
    case HV_WORK_HOST_IRQ: apic_accept(vc->host_apic, w->vector, APIC_DM_FIXED, false); break;
    case HV_WORK_NMI:
        vc->nmi_pending = true;
        hv_kick(hv, vc);
        break;
    case HV_WORK_INIT:
        /* An INIT signal at the physical APIC: a VM exit (3) at once in
         * non-root operation, or at the next entry of a sleeper. */
        apic_accept(vc->host_apic, 0, APIC_DM_INIT, false);
        break;
    case HV_WORK_SIPI:
        /* Only a vCPU in wait-for-SIPI takes it (exit 4); anywhere else
         * a SIPI is discarded (SDM 25.2). An INIT it has not taken yet
         * counts: INIT + SIPI sent back to back (kvm-unit-tests) start
         * it, as on hardware, where the INIT completes first. */
        if (HV_VMCS(vc, GUEST_ACTIVITY_STATE) == VMX_ACTIVITY_WAIT_SIPI ||
            vc->host_apic->init_pending)
            apic_accept(vc->host_apic, w->vector, APIC_DM_SIPI, false);
        break;
    case HV_WORK_DESCHEDULE:
        if (vc->vmx.non_root) {
            /* A preempting scheduler takes the CPU with its timer tick: the
             * vCPU exits (1) and is not entered again for a while. */
            vc->desched_requested = true;
            vc->desched_request = w->arg;
            apic_accept(vc->host_apic, EMU_HV_TIMER_VECTOR, APIC_DM_FIXED, false);
        } else {
            hv_deschedule(hv, vc, w->arg);
        }
        break;
    default: break;
    }
}

static void hv_apply_due_work(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_t *c = vc->vmx.cpu;
    for (;;) {
        long i = hv_first_work(vc);
        if (i < 0 || vc->work[i].cycle > c->cycles || hv->m->finished)
            return;
        emu_hv_work w = vc->work[i];
        vc->work[i] = vc->work[--vc->nwork];
        hv_apply_work(hv, vc, &w);
    }
}

void emu_hv_device_msi_at(emu_hv *hv, unsigned vcpu, uint8_t vector, uint64_t cycle)
{
    if (vcpu < hv->ncpus)
        hv_queue(hv, vcpu, HV_WORK_MSI, vector, 0, cycle);
}

void emu_hv_deschedule_at(emu_hv *hv, unsigned vcpu, uint64_t cycles, uint64_t cycle)
{
    if (vcpu < hv->ncpus)
        hv_queue(hv, vcpu, HV_WORK_DESCHEDULE, 0, cycles, cycle);
}

void emu_hv_nmi_at(emu_hv *hv, unsigned vcpu, uint64_t cycle)
{
    if (vcpu < hv->ncpus)
        hv_queue(hv, vcpu, HV_WORK_NMI, 2, 0, cycle);
}

void emu_hv_host_irq(emu_hv *hv, unsigned pcpu, uint8_t vector, uint64_t cycle)
{
    if (pcpu < hv->ncpus)
        hv_queue(hv, pcpu, HV_WORK_HOST_IRQ, vector, 0, cycle);
}


void hv_block(emu_hv *hv, emu_hv_vcpu *vc)
{
    vc->blocked = true;
    vc->blocked_since = vc->vmx.cpu->cycles;
    /* KVM pi_pre_block: notifications become wakeup events. */
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_nv(&hv->m->phys, vc->pid_pa, EMU_HV_WAKEUP_VECTOR);
    hv_emit(hv, vc, EMU_HV_EV_BLOCK, 0, 0, 0);
}

static void hv_unblock(emu_hv *hv, emu_hv_vcpu *vc)
{
    vc->blocked = false;
    vc->vmx.cpu->halted = 0;
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_nv(&hv->m->phys, vc->pid_pa, EMU_HV_NOTIFY_VECTOR);
    hv_emit(hv, vc, EMU_HV_EV_WAKE, vc->vmx.cpu->cycles - vc->blocked_since, 0, 0);
}

void hv_deschedule(emu_hv *hv, emu_hv_vcpu *vc, uint64_t cycles)
{
    vc->descheduled = true;
    vc->desched_until = vc->vmx.cpu->cycles + cycles;
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_sn(&hv->m->phys, vc->pid_pa, true);
    hv_emit(hv, vc, EMU_HV_EV_DESCHED, vc->desched_until, hv->mode == EMU_MODE_POSTED, 0);
}

static void hv_reschedule(emu_hv *hv, emu_hv_vcpu *vc)
{
    vc->descheduled = false;
    if (hv->mode == EMU_MODE_POSTED)
        vmx_pi_set_sn(&hv->m->phys, vc->pid_pa, false);
    hv_emit(hv, vc, EMU_HV_EV_RESCHED, 0, 0, 0);
}

/* Host interrupts taken in root operation while the vCPU is off the CPU:
 * the host's handlers acknowledge and EOI them (the wakeup vector's
 * handler makes the sleeper runnable: hv_can_wake looks at PIR). */
void hv_host_irqs_in_root(emu_hv *hv, emu_hv_vcpu *vc)
{
    while (apic_pending_vector(vc->host_apic) >= 0) {
        int vec = apic_acknowledge(vc->host_apic);
        apic_eoi(vc->host_apic);
        vc->host_irqs++;
        hv_emit(hv, vc, EMU_HV_EV_HOST_IRQ, (uint64_t)vec, 0, 0);
    }
}

/* ---- VM entry and the run loop ----------------------------------------------- */

static void hv_count_exit(emu_hv_vcpu *vc, uint32_t basic)
{
    vc->exits++;
    if (basic < VMX_EXIT_NREASONS)
        vc->exit_count[basic]++;
}

/* One VM entry attempt: 0 on success (possibly already exited), else the
 * VM-instruction error, or the full exit reason of a failed guest-state
 * check (bit 31 set). */
static uint64_t hv_try_entry(emu_hv *hv, emu_hv_vcpu *vc)
{
    vmx_vcpu *v = &vc->vmx;
    hv_prepare_entry(hv, vc);
    unsigned err = vmx_vmentry(v, !vc->launched);
    if (err)
        return err;
    vc->launched = v->vmcs.launch_state == VMX_LAUNCH_LAUNCHED;
    uint32_t reason = (uint32_t)HV_VMCS(vc, EXIT_REASON);
    if (v->exited && (reason & VMX_EXIT_REASON_ENTRY_FAIL)) {
        hv_count_exit(vc, reason & VMX_EXIT_REASON_BASIC_MASK);
        vc->last_reason = reason & VMX_EXIT_REASON_BASIC_MASK;
        vc->last_qual = 0;
        return reason;
    }
    return 0;
}

/* VM entry. A failure caused by the guest's own VMCS_WRITE restores the old
 * value and resumes with -22 and the error in RDX (guest ABI); any other
 * failure is a crash. Returns false when the run ended. */
static bool hv_enter(emu_hv *hv, emu_hv_vcpu *vc)
{
    /* The guest ABI's address policy, checked again at every entry
     * whatever wrote the VMCS: a value that breaks it is refused as a bad
     * control (error 7) if the guest's pending write put it there, and is
     * the host's own bug otherwise. */
    char why[256];
    if (!hv_policy_check_entry(hv, vc, NULL, why, sizeof(why))) {
        if (vc->undo_valid) {
            vmx_vmcs_set(&vc->vmx.vmcs, vc->undo_field, vc->undo_value);
            vc->undo_valid = false;
            vc->vmx.cpu->gpr[CPU_RAX] = EMU_HC_EINVAL;
            vc->vmx.cpu->gpr[CPU_RDX] = VMX_ERR_ENTRY_INVALID_CONTROL;
        }
        if (!hv_policy_check_entry(hv, vc, NULL, why, sizeof(why))) {
            hv_crash(hv, vc, why);
            return false;
        }
    }
    uint64_t fail = hv_try_entry(hv, vc);
    if (fail && vc->undo_valid) {
        cpu_t *c = vc->vmx.cpu;
        vmx_vmcs_set(&vc->vmx.vmcs, vc->undo_field, vc->undo_value);
        vc->undo_valid = false;
        c->gpr[CPU_RAX] = EMU_HC_EINVAL;
        c->gpr[CPU_RDX] = fail;
        fail = hv_try_entry(hv, vc);
    }
    vc->undo_valid = false;
    if (fail) {
        char msg[160];
        snprintf(msg, sizeof(msg), "VM-entry failure the host did not expect (%s %llu, check %d)",
                 (fail & VMX_EXIT_REASON_ENTRY_FAIL) ? "exit reason" : "VM-instruction error",
                 (unsigned long long)(fail & 0xFFFF), (int)vc->vmx.last_check);
        hv_crash(hv, vc, msg);
        return false;
    }
    return true;
}

/* The exit-loop guard. Every exit the hypervisor handles must let the guest
 * go on: an emulated instruction is skipped, an event injected, a control
 * that caused the exit cleared. An exit after which the guest resumes at
 * the same RIP, with no instruction retired since the previous exit, for
 * the same reason, made no progress; EMU_HV_STALL_EXITS of them in a row
 * are a loop the host cannot break (a guest that made its own #GP handler
 * an intercepted instruction, say), and the run ends with status 3 and a
 * diagnostic instead of spinning until --max-cycles. Returns false then. */
static bool hv_exit_progress(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_t *c = vc->vmx.cpu;
    uint64_t rip = HV_VMCS(vc, GUEST_RIP);
    if (rip != vc->stall_rip || c->insns != vc->stall_insns || vc->last_reason != vc->stall_reason) {
        vc->stall_rip = rip;
        vc->stall_insns = c->insns;
        vc->stall_reason = vc->last_reason;
        vc->stall_count = 0;
        return true;
    }
    if (++vc->stall_count < EMU_HV_STALL_EXITS)
        return true;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "exit loop: %u VM exits in a row, reason %u (%s), qualification %#llx, and no "
             "guest instruction retired between them",
             vc->stall_count, vc->last_reason, vmx_exit_reason_name(vc->last_reason),
             (unsigned long long)vc->last_qual);
    hv_crash(hv, vc, msg);
    return false;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

cpu_stop emu_hv_run_vcpu(emu_hv *hv, unsigned k, uint64_t limit)
{
    return emu_hv_run_vcpu_insns(hv, k, limit, UINT64_MAX);
}

cpu_stop emu_hv_run_vcpu_insns(emu_hv *hv, unsigned k, uint64_t limit, uint64_t max_insns)
{
    emu_machine *m = hv->m;
    emu_hv_vcpu *vc = &hv->vcpu[k];
    vmx_vcpu *v = &vc->vmx;
    cpu_t *c = v->cpu;
    const uint64_t insns_at_start = c->insns;
    while (!m->finished && c->cycles < limit) {
        uint64_t done = c->insns - insns_at_start;
        if (done >= max_insns)
            return CPU_STOP_INSNS;
        hv_apply_due_work(hv, vc);
        hv_guest_timer(hv, vc);
        if (m->finished)
            break;
        uint64_t next = min_u64(limit, emu_hv_next_work(hv, k));
        next = min_u64(next, apic_timer_deadline(&vc->sw_apic));
        if (hv->machine_queue) {
            /* The machine applies its own events: back to its scheduler. */
            uint64_t mnext = emu_evq_next_cycle(&m->evq[k]);
            if (mnext <= c->cycles)
                break;
            next = min_u64(next, mnext);
        }
        if (vc->descheduled) {
            if (c->cycles >= vc->desched_until) {
                hv_reschedule(hv, vc);
                continue;
            }
            hv_host_irqs_in_root(hv, vc);
            c->cycles = min_u64(next, vc->desched_until);
            continue;
        }
        if (vc->blocked) {
            hv_host_irqs_in_root(hv, vc);
            if (!hv_can_wake(hv, vc)) {
                /* Halted as the machine's scheduler sees it: nothing but
                 * an event can wake it (its own armed timer can). */
                c->halted = apic_timer_deadline(&vc->sw_apic) == UINT64_MAX;
                c->cycles = next;
                continue;
            }
            hv_unblock(hv, vc);
        }
        if (!v->non_root && !hv_enter(hv, vc))
            break;
        cpu_stop s = vmx_run_insns(v, next, max_insns == UINT64_MAX ? UINT64_MAX : max_insns - done);
        if (v->exited) {
            if (!hv_handle_exit(hv, vc) || !hv_exit_progress(hv, vc))
                break;
            v->exited = false;
            if (vc->desched_requested) {
                vc->desched_requested = false;
                hv_deschedule(hv, vc, vc->desched_request);
            }
            continue;
        }
        if (s == CPU_STOP_INSNS || s == CPU_STOP_YIELD)
            return s; /* a PAUSE yielded: the machine's scheduler decides */
        if (s == CPU_STOP_HOOK) {
            /* Someone asked the CPU to stop (emu_machine_pause): the
             * vCPU stays in non-root operation; its caller resumes it. */
            break;
        }
        if (s == CPU_STOP_HALT) {
            c->cycles = next; /* in the HLT activity state without HLT exiting */
        } else if (s == CPU_STOP_TRIPLE_FAULT || s == CPU_STOP_UNIMPLEMENTED) {
            char why[160];
            if (v->aborted)
                snprintf(why, sizeof(why), "VMX abort %u (%s): the guest's VMCS MSR lists (SDM 27.7)",
                         v->aborted, vmx_abort_name(v->aborted));
            hv_crash(hv, vc,
                     v->aborted ? why
                     : s == CPU_STOP_TRIPLE_FAULT
                         ? "triple fault (an exception could not be delivered: is the IDT loaded?)"
                         : "unimplemented instruction (--strict)");
            break;
        }
    }
    return m->finished ? CPU_STOP_HOOK : CPU_STOP_CYCLES;
}
