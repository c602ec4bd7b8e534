/*
 * emu_hv_glue.c — the hypervisor as the machine sees it: the emu_hv_ops
 * table of emu.h (attach, detach, device MSIs, digest, statistics), the
 * per-turn run entry of the scheduler, the stand-alone fallback scheduler,
 * and the hypervisor's state digest.
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

static bool glue_attach(emu_machine *m, char *err, size_t errlen)
{
    apic_t *apics[CPU_MAX_CPUS] = {0};
    for (unsigned k = 0; k < m->cfg.ncpus; k++)
        apics[k] = &m->apic[k];
    emu_hv *hv = emu_hv_create(m, m->cfg.mode, apics, err, errlen);
    if (!hv)
        return false;
    hv->machine_queue = true;
    m->hv = hv;
    return true;
}

static void glue_detach(emu_machine *m)
{
    emu_hv_free(m->hv);
    m->hv = NULL;
}

static void glue_deliver_msi(emu_machine *m, unsigned vcpu, uint8_t vector)
{
    if (m->hv)
        emu_hv_device_msi(m->hv, vcpu, vector);
}

static void glue_digest(const emu_machine *m, uint64_t *hash)
{
    if (m->hv)
        emu_hv_digest(m->hv, hash);
}

static uint64_t glue_exit_count(const emu_machine *m, unsigned vcpu, unsigned reason)
{
    return m->hv ? emu_hv_exit_count(m->hv, vcpu, reason) : 0;
}

static uint64_t glue_delivered(const emu_machine *m, unsigned vcpu, unsigned path)
{
    return m->hv ? emu_hv_delivered(m->hv, vcpu, (enum emu_hv_path)path) : 0;
}

static const char *const glue_path_names[EMU_HV_NPATHS] = {"injection", "vid", "posted"};

const emu_hv_ops emu_hv_machine_ops = {
    .attach = glue_attach,
    .detach = glue_detach,
    .run = emu_hv_machine_run,
    .deliver_msi = glue_deliver_msi,
    .digest = glue_digest,
    .exit_count = glue_exit_count,
    .npaths = EMU_HV_NPATHS,
    .path_names = glue_path_names,
    .delivered = glue_delivered,
};

cpu_stop emu_hv_machine_run(emu_machine *m, unsigned cpu, uint64_t cycle_limit,
                            uint64_t max_insns)
{
    return emu_hv_run_vcpu_insns(m->hv, cpu, cycle_limit, max_insns);
}

/* ---- digest (FNV-1a 64) ------------------------------------------------------ */


void emu_hv_vcpu_digest(const emu_hv *hv, unsigned k, uint64_t *vmcs, uint64_t *vapic)
{
    if (k >= hv->ncpus)
        return;
    const emu_hv_vcpu *vc = &hv->vcpu[k];
    cpu_phys *p = &hv->m->phys;
    const vmx_vcpu *v = &vc->vmx;
    emu_fnv(vmcs, v->vmcs.field, sizeof(v->vmcs.field));
    emu_fnv64(vmcs, v->vmcs.launch_state);
    emu_fnv64(vmcs, v->non_root);
    /* Non-root state that lives outside the VMCS while the vCPU runs
     * across rounds, and decides what happens next. */
    const uint64_t live[] = {v->nmi_pending,        v->nmi_blocked,
                             v->vnmi_blocked,       v->mtf_pending,
                             v->preempt_armed,      v->preempt_deadline,
                             v->delivery_info,      v->delivery_error,
                             v->delivery_insn_len,  v->vintr_recognized,
                             v->apic_write_pending, v->apic_write_offset,
                             v->tpr_threshold_pending, v->eoi_exit_pending,
                             v->eoi_exit_vector,    v->apicv_aux[0],
                             v->apicv_aux[1],       v->apicv_aux[2],
                             v->apicv_aux[3]};
    for (unsigned i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        emu_fnv64(vmcs, live[i]);
    const uint8_t *page = cpu_phys_ptr(p, vc->vapic_pa, CPU_PAGE_SIZE);
    if (page)
        emu_fnv(vapic, page, CPU_PAGE_SIZE);
    const uint8_t *pid = cpu_phys_ptr(p, vc->pid_pa, VMX_PI_DESC_SIZE);
    if (pid)
        emu_fnv(vapic, pid, VMX_PI_DESC_SIZE);
    apic_digest(&vc->sw_apic, vapic);
}

void emu_hv_digest(const emu_hv *hv, uint64_t *hash)
{
    emu_fnv64(hash, hv->mode);
    for (unsigned k = 0; k < hv->ncpus; k++) {
        const emu_hv_vcpu *vc = &hv->vcpu[k];
        uint64_t vmcs = 0xCBF29CE484222325ull, vapic = vmcs;
        emu_hv_vcpu_digest(hv, k, &vmcs, &vapic);
        emu_fnv64(hash, vmcs);
        emu_fnv64(hash, vapic);
        emu_fnv64(hash, vc->nmi_pending);
        emu_fnv64(hash, vc->blocked);
        emu_fnv64(hash, vc->descheduled);
        emu_fnv64(hash, vc->desched_until);
        emu_fnv64(hash, vc->desched_requested);
        emu_fnv(hash, vc->pending_irr, sizeof(vc->pending_irr));
        emu_fnv64(hash, vc->undo_valid);
        emu_fnv64(hash, vc->last_reason);
        emu_fnv64(hash, vc->last_qual);
        emu_fnv(hash, vc->exit_count, sizeof(vc->exit_count));
        /* The work list is a set ordered by (cycle, seq): an order-free sum. */
        uint64_t work = 0;
        for (size_t i = 0; i < vc->nwork; i++) {
            uint64_t h = 0xCBF29CE484222325ull;
            const emu_hv_work *w = &vc->work[i];
            emu_fnv64(&h, w->cycle);
            emu_fnv64(&h, w->seq);
            emu_fnv64(&h, ((uint64_t)w->kind << 8) | w->vector);
            emu_fnv64(&h, w->arg);
            work += h;
        }
        emu_fnv64(hash, work);
    }
}

/* ---- statistics and the fallback scheduler ------------------------------------- */

uint64_t emu_hv_exit_count(const emu_hv *hv, unsigned vcpu, unsigned reason)
{
    if (vcpu >= hv->ncpus)
        return 0;
    if (reason == EMU_HC_ALL_EXITS)
        return hv->vcpu[vcpu].exits;
    return reason < VMX_EXIT_NREASONS ? hv->vcpu[vcpu].exit_count[reason] : 0;
}

uint64_t emu_hv_delivered(const emu_hv *hv, unsigned vcpu, enum emu_hv_path path)
{
    return vcpu < hv->ncpus && path < EMU_HV_NPATHS ? hv->vcpu[vcpu].delivered[path] : 0;
}

bool emu_hv_all_stuck(const emu_hv *hv)
{
    for (unsigned k = 0; k < hv->ncpus; k++) {
        const emu_hv_vcpu *vc = &hv->vcpu[k];
        if (!vc->blocked || vc->descheduled || vc->nwork || vc->nmi_pending ||
            (HV_VMCS(vc, GUEST_RFLAGS) & CPU_FL_IF) ||
            apic_timer_deadline(&vc->sw_apic) != UINT64_MAX)
            return false;
    }
    return true;
}

bool emu_hv_run_machine(emu_hv *hv, uint64_t until)
{
    emu_machine *m = hv->m;
    uint64_t limit = until;
    if (m->cfg.max_cycles && m->cfg.max_cycles < limit)
        limit = m->cfg.max_cycles;
    uint64_t quantum = m->cfg.quantum ? m->cfg.quantum : 10000;
    while (!m->finished && m->now < limit) {
        uint64_t round_end = m->now + quantum < limit ? m->now + quantum : limit;
        for (unsigned k = 0; k < hv->ncpus && !m->finished; k++) {
            cpu_t *c = &m->cpu[k];
            do {
                if (hv->machine_queue) {
                    emu_qevent ev;
                    while (emu_evq_pop_due(&m->evq[k], c->cycles, &ev))
                        emu_apply_event(m, &ev);
                }
                emu_hv_run_vcpu(hv, k, round_end);
            } while (!m->finished && c->cycles < round_end);
        }
        m->now = round_end;
        if (!m->finished && emu_hv_all_stuck(hv))
            hv_crash(hv, &hv->vcpu[0], "every vCPU halted with interrupts disabled (HLT after CLI)");
    }
    if (!m->finished && m->cfg.max_cycles && m->now >= m->cfg.max_cycles) {
        snprintf(m->diag, sizeof(m->diag), "the cycle limit (%llu) was reached first",
                 (unsigned long long)m->cfg.max_cycles);
        m->finished = true;
        m->exit_status = EMU_EXIT_CYCLES;
    }
    return m->finished;
}
