/*
 * emu_digest.c — one 64-bit digest of a machine's whole architectural state.
 *
 * Replay verification (traces/) and the determinism tests compare machines
 * through it, so it must depend on nothing but architectural state: no
 * pointers, no host addresses, no decoded-code caches or TLBs, no lazy-flag
 * representation (RFLAGS is materialised on a copy, so taking a digest never
 * changes the machine). Small fields go through FNV-1a; guest RAM, the bulk,
 * through a word-at-a-time multiply-xorshift hash over four lanes, fast
 * enough to take digests periodically during a run.
 */
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"

#define FNV_PRIME 0x100000001b3ull

static void fnv(uint64_t *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t k = 0; k < len; k++) {
        *h ^= p[k];
        *h *= FNV_PRIME;
    }
}

static void fnv64(uint64_t *h, uint64_t v)
{
    fnv(h, &v, sizeof(v));
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

/* Guest RAM: four independent lanes of 64-bit words, each word's position
 * folded in through the lane's running state. */
static uint64_t ram_hash(const uint8_t *ram, uint64_t size)
{
    uint64_t lane[4] = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull,
                        0x2545f4914f6cdd1dull};
    uint64_t n = size / 32, k;
    for (k = 0; k < n; k++) {
        uint64_t w[4];
        memcpy(w, ram + k * 32, sizeof(w));
        for (unsigned j = 0; j < 4; j++)
            lane[j] = (lane[j] ^ w[j]) * 0x9fb21c651e98df25ull + (lane[j] >> 29);
    }
    uint64_t h = size;
    for (unsigned j = 0; j < 4; j++)
        h = mix(h ^ lane[j]);
    for (k = n * 32; k < size; k++)
        h = mix(h ^ ram[k]);
    return h;
}

static void seg_digest(uint64_t *h, const cpu_seg *s)
{
    fnv64(h, s->sel);
    fnv64(h, s->attr);
    fnv64(h, s->limit);
    fnv64(h, s->base);
}

static void cpu_digest(const cpu_t *src, uint64_t *h)
{
    /* cpu_get_rflags materialises the lazy flags: do it on a copy. */
    cpu_t *c = malloc(sizeof(*c));
    if (!c)
        abort();
    memcpy(c, src, sizeof(*c));
    uint64_t rflags = cpu_get_rflags(c);
    free(c);
    for (unsigned k = 0; k < 16; k++)
        fnv64(h, src->gpr[k]);
    fnv64(h, src->rip);
    fnv64(h, rflags);
    fnv64(h, src->cycles);
    fnv64(h, src->insns);
    fnv64(h, src->cpl);
    fnv64(h, src->halted);
    fnv64(h, src->mode);
    for (unsigned k = 0; k < CPU_NSEG; k++)
        seg_digest(h, &src->seg[k]);
    seg_digest(h, &src->ldtr);
    seg_digest(h, &src->tr);
    fnv64(h, src->gdtr.base);
    fnv64(h, src->gdtr.limit);
    fnv64(h, src->idtr.base);
    fnv64(h, src->idtr.limit);
    const uint64_t regs[] = {src->cr0, src->cr2, src->cr3, src->cr4, src->cr8, src->efer,
                             src->star, src->lstar, src->cstar, src->sfmask,
                             src->kernel_gs_base, src->tsc_aux, src->pat, src->sysenter_cs,
                             src->sysenter_esp, src->sysenter_eip, src->tsc_offset,
                             src->misc_enable, src->mtrr_def_type};
    for (unsigned k = 0; k < sizeof(regs) / sizeof(regs[0]); k++)
        fnv64(h, regs[k]);
    for (unsigned k = 0; k < 8; k++)
        fnv64(h, src->dr[k]);
    fnv64(h, src->nmi_blocked);
    fnv64(h, (src->events & CPU_EVT_SHADOW) ? src->shadow_kind : 0);
    fnv64(h, src->unimplemented_count);
}

static void event_digest(uint64_t *h, const emu_qevent *ev)
{
    fnv64(h, ev->cycle);
    fnv64(h, ev->seq);
    fnv64(h, ev->cpu);
    fnv64(h, ev->kind);
    fnv64(h, ev->vector);
    fnv64(h, ev->arg);
    if (ev->kind == EMU_Q_IPI) {
        fnv64(h, ev->ipi.icr);
        fnv64(h, ev->ipi.src_index);
        fnv64(h, ev->ipi.src_id);
        fnv64(h, ev->ipi.x2apic);
    }
}

void emu_machine_digest(const emu_machine *m, uint64_t *out)
{
    uint64_t h = 0xcbf29ce484222325ull;
    fnv64(&h, m->cfg.ncpus);
    fnv64(&h, m->cfg.mode);
    fnv64(&h, m->now);
    fnv64(&h, m->finished);
    fnv64(&h, m->finished ? (uint64_t)m->exit_status : 0);
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        cpu_digest(&m->cpu[k], &h);
        uint64_t ah = 0xcbf29ce484222325ull;
        apic_digest(&m->apic[k], &ah);
        fnv64(&h, ah);
        fnv64(&h, m->evq[k].n);
        for (size_t j = 0; j < m->evq[k].n; j++)
            event_digest(&h, &m->evq[k].heap[j]);
    }
    fnv64(&h, m->evq_seq);
    fnv64(&h, ram_hash(m->phys.ram, m->phys.ram_size));
    if (m->hv_ops && m->hv_ops->digest)
        m->hv_ops->digest(m, &h);
    *out = h;
}
