/*
 * emu_digest.c — the digest of a machine's whole architectural state, in
 * named parts (per CPU: registers, control state, local APIC, event queue,
 * and under a hypervisor its VMCS and virtual-APIC state; machine-wide:
 * RAM, clock, hypervisor) and as one 64-bit total folded from the parts.
 *
 * Replay verification (traces/) names the part that differs; the
 * determinism tests and the window compare totals. Both come from this one
 * place, so they cannot disagree about what "the same state" means. Only
 * architectural state counts: no pointers, no host addresses, no decoded-
 * code caches or TLBs, no lazy-flag representation (RFLAGS is materialised
 * on a copy, so taking a digest never changes the machine). Small fields go
 * through FNV-1a; guest RAM, the bulk, through a word-at-a-time
 * multiply-xorshift hash over four lanes, fast enough to take digests
 * periodically during a run.
 */
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv.h"
#include "emu/emu_internal.h"
#include "emu/emu_record.h"
#include "vmx/vmx_root.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

void emu_fnv(uint64_t *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t k = 0; k < len; k++) {
        *h ^= p[k];
        *h *= FNV_PRIME;
    }
}

void emu_fnv64(uint64_t *h, uint64_t v)
{
    emu_fnv(h, &v, sizeof(v));
}


static void fnv_words(uint64_t *h, const uint64_t *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        emu_fnv64(h, v[k]);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

bool emu_page_is_zero(const uint8_t *page)
{
    uint64_t acc = 0;
    for (unsigned k = 0; k < CPU_PAGE_SIZE; k += 64) {
        uint64_t w[8];
        memcpy(w, page + k, sizeof(w));
        acc |= w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
        if (acc)
            return false;
    }
    return true;
}

void emu_ram_each_nonzero_page(const cpu_phys *p, emu_page_fn fn, void *ctx)
{
    uint8_t backed[4096];
    for (uint64_t first = 0; first < p->npages; first += sizeof(backed)) {
        uint64_t n = p->npages - first < sizeof(backed) ? p->npages - first : sizeof(backed);
        if (!cpu_phys_backed_pages(p, first, n, backed))
            memset(backed, 1, sizeof(backed));
        for (uint64_t k = 0; k < n; k++) {
            const uint8_t *page = p->ram + (first + k) * CPU_PAGE_SIZE;
            if (backed[k] && !emu_page_is_zero(page))
                fn(ctx, first + k, page);
        }
    }
}

/* Guest RAM, page by page: each page holding a nonzero byte is hashed in
 * four independent lanes of 64-bit words and folded in with its page
 * number; pages of zeros contribute nothing. So the digest of a large RAM
 * the guest barely uses costs what the guest used (pages the host never
 * backed are known to be zeros without being read), and it is the same
 * whatever the host backed: a backed page of zeros is skipped too. */
static void ram_page_fold(void *ctx, uint64_t page, const uint8_t *data)
{
    uint64_t *h = ctx;
    uint64_t lane[4] = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull,
                        0x2545f4914f6cdd1dull};
    for (unsigned k = 0; k < CPU_PAGE_SIZE / 32; k++) {
        uint64_t w[4];
        memcpy(w, data + k * 32, sizeof(w));
        for (unsigned j = 0; j < 4; j++)
            lane[j] = (lane[j] ^ w[j]) * 0x9fb21c651e98df25ull + (lane[j] >> 29);
    }
    uint64_t ph = mix(page + 1);
    for (unsigned j = 0; j < 4; j++)
        ph = mix(ph ^ lane[j]);
    *h = mix(*h ^ ph);
}

static uint64_t ram_digest(const cpu_phys *p)
{
    uint64_t h = mix(p->ram_size);
    emu_ram_each_nonzero_page(p, ram_page_fold, &h);
    return h;
}

/* General registers, RIP, RFLAGS, the clock and run state of one CPU. */
static uint64_t regs_digest(const cpu_t *src)
{
    uint64_t rflags = cpu_peek_rflags(src);
    uint64_t h = FNV_OFFSET;
    fnv_words(&h, src->gpr, 16);
    const uint64_t v[] = {src->rip, rflags, src->cycles, src->insns, src->cpl, src->halted,
                          src->mode, src->nmi_blocked,
                          (src->events & CPU_EVT_SHADOW) ? src->shadow_kind : 0,
                          src->unimplemented_count};
    fnv_words(&h, v, sizeof(v) / sizeof(v[0]));
    return h;
}

static void seg_fold(uint64_t *h, const cpu_seg *s)
{
    const uint64_t v[] = {s->sel, s->attr, s->limit, s->base};
    fnv_words(h, v, 4);
}

/* Segments, descriptor tables, control registers and MSRs of one CPU. */
static uint64_t ctrl_digest(const cpu_t *c)
{
    uint64_t h = FNV_OFFSET;
    for (unsigned k = 0; k < CPU_NSEG; k++)
        seg_fold(&h, &c->seg[k]);
    seg_fold(&h, &c->ldtr);
    seg_fold(&h, &c->tr);
    const uint64_t v[] = {c->gdtr.base, c->gdtr.limit, c->idtr.base, c->idtr.limit, c->cr0,
                          c->cr2, c->cr3, c->cr4, c->cr8, c->efer, c->star, c->lstar, c->cstar,
                          c->sfmask, c->kernel_gs_base, c->tsc_aux, c->pat, c->sysenter_cs,
                          c->sysenter_esp, c->sysenter_eip, c->tsc_offset, c->misc_enable,
                          c->mtrr_def_type};
    fnv_words(&h, v, sizeof(v) / sizeof(v[0]));
    fnv_words(&h, c->dr, 8);
    return h;
}

/* The CPU's queue of timed machine events (IPIs in flight, MSIs, ...). */
static uint64_t queue_digest(const emu_evq *q)
{
    uint64_t h = FNV_OFFSET;
    emu_fnv64(&h, q->n);
    for (size_t j = 0; j < q->n; j++) {
        const emu_qevent *ev = &q->heap[j];
        const uint64_t v[] = {ev->cycle,     ev->seq,           ev->cpu,         ev->kind,
                              ev->vector,    ev->arg,           ev->ipi.icr,     ev->ipi.src_index,
                              ev->ipi.src_id, ev->ipi.x2apic};
        fnv_words(&h, v, sizeof(v) / sizeof(v[0]));
    }
    return h;
}

/* Per-vCPU VMX state, as the hypervisor digests it per vCPU (its whole
 * digest, the hv part, folds every vCPU into one value). */
static void vcpu_parts(const emu_machine *m, unsigned k, uint64_t *vmcs, uint64_t *vapic)
{
    const emu_hv *hv = m->hv_ops ? (const emu_hv *)m->hv : NULL;
    *vmcs = *vapic = FNV_OFFSET;
    if (!hv || hv->m != m || k >= hv->ncpus)
        return;
    emu_hv_vcpu_digest(hv, k, vmcs, vapic);
}

static void add_part(trace_digest *d, unsigned cpu, unsigned kind, uint64_t value)
{
    if (d->nparts < TRACE_MAX_PARTS)
        d->part[d->nparts++] = (trace_part){(uint16_t)cpu, (uint16_t)kind, value};
}

/* Native mode: the VMX state of a guest that is its own hypervisor (VMX
 * operation, VMXON and current-VMCS pointers, the cached current VMCS,
 * non-root state). Only for a CPU that executed a VMX instruction, so the
 * digests of every other native run stay what they were. */
static bool vroot_digest(const emu_machine *m, unsigned k, uint64_t *out)
{
    const vmx_root *r = m->vroot ? &m->vroot[k] : NULL;
    if (!r || r->insns == 0)
        return false;
    const vmx_vcpu *v = &r->v;
    uint64_t h = FNV_OFFSET;
    const uint64_t st[] = {m->cpu[k].vmx_operation, r->vmxon_ptr, r->current, r->entry_req,
                           v->non_root, v->nmi_blocked, v->vnmi_blocked, v->mtf_pending,
                           v->preempt_armed, v->preempt_deadline, v->vmcs.launch_state,
                           v->vmcs.abort, v->entries, v->exits, m->cpu[k].feature_control};
    fnv_words(&h, st, sizeof(st) / sizeof(st[0]));
    fnv_words(&h, v->vmcs.field, VMX_VMCS_NSLOTS);
    *out = h;
    return true;
}

/* Every part but the total. */
static void digest_parts(const emu_machine *m, trace_digest *out)
{
    memset(out, 0, sizeof(*out));
    out->cycle = m->now;
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        uint64_t ah = FNV_OFFSET;
        apic_digest(&m->apic[k], &ah);
        uint64_t rh = regs_digest(&m->cpu[k]);
        if (m->wait_sipi[k]) /* folded only when set: older digests stay */
            emu_fnv64(&rh, 0x5151);
        add_part(out, k, TRACE_PART_REGS, rh);
        add_part(out, k, TRACE_PART_CTRL, ctrl_digest(&m->cpu[k]));
        add_part(out, k, TRACE_PART_APIC, ah);
        add_part(out, k, TRACE_PART_QUEUE, queue_digest(&m->evq[k]));
        if (m->hv_ops) {
            uint64_t vmcs, vapic;
            vcpu_parts(m, k, &vmcs, &vapic);
            add_part(out, k, TRACE_PART_VMCS, vmcs);
            add_part(out, k, TRACE_PART_VAPIC, vapic);
        }
        uint64_t vr;
        if (vroot_digest(m, k, &vr))
            add_part(out, k, TRACE_PART_VMCS, vr);
    }
    add_part(out, TRACE_PART_MACHINE, TRACE_PART_RAM, ram_digest(&m->phys));
    uint64_t ch = FNV_OFFSET;
    const uint64_t clock[] = {m->cfg.ncpus, m->cfg.mode, m->now, m->finished,
                              m->finished ? (uint64_t)m->exit_status : 0, m->evq_seq};
    fnv_words(&ch, clock, sizeof(clock) / sizeof(clock[0]));
    add_part(out, TRACE_PART_MACHINE, TRACE_PART_CLOCK, ch);
    if (m->hv_ops && m->hv_ops->digest) {
        uint64_t hh = FNV_OFFSET;
        m->hv_ops->digest(m, &hh);
        add_part(out, TRACE_PART_MACHINE, TRACE_PART_HV, hh);
    }
    /* The devices count once a guest has touched one: a machine that never
     * did (every run recorded before they existed) keeps its digest. */
    if (m->dev.touched) {
        uint64_t dh = FNV_OFFSET;
        emu_devices_digest(&m->dev, &dh);
        add_part(out, TRACE_PART_MACHINE, TRACE_PART_DEVICES, dh);
    }
}

static uint64_t fold_parts(const trace_digest *d)
{
    uint64_t h = FNV_OFFSET;
    for (uint32_t k = 0; k < d->nparts; k++) {
        const uint64_t v[] = {d->part[k].cpu, d->part[k].kind, d->part[k].value};
        fnv_words(&h, v, 3);
    }
    return h;
}

void emu_machine_digest(const emu_machine *m, uint64_t *out)
{
    trace_digest *d = malloc(sizeof(*d));
    if (!d)
        abort();
    digest_parts(m, d);
    *out = fold_parts(d);
    free(d);
}

void emu_record_digest(const emu_machine *m, trace_digest *out)
{
    trace_digest *parts = malloc(sizeof(*parts));
    if (!parts)
        abort();
    digest_parts(m, parts);
    memset(out, 0, sizeof(*out));
    out->cycle = m->now;
    add_part(out, TRACE_PART_MACHINE, TRACE_PART_TOTAL, fold_parts(parts));
    for (uint32_t k = 0; k < parts->nparts; k++)
        add_part(out, parts->part[k].cpu, parts->part[k].kind, parts->part[k].value);
    free(parts);
}
