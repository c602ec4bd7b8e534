/*
 * emu_checkpoint.c — a whole machine copied between two slices and put
 * back (emu_checkpoint.h), in every mode: the window goes back to an
 * earlier event from the latest checkpoint before it instead of running
 * again from cycle 0.
 *
 * Everything a run changes lives in a few places: the emu_machine struct
 * itself (flat: CPUs, APICs, devices, scheduler, statistics), the event
 * queues' heaps, guest RAM, the host-owned memory of the hypervisor's VMCS
 * pages (cpu_phys host area), the emu_hv struct (flat, with each vCPU's
 * list of timed work on the heap) and the guest's own VMX root state
 * (vroot). Pointers inside these structs point into the machine, the
 * hypervisor or the RAM buffers, which stay where they are for the life
 * of the machine, so a copy of the structs is valid for the same machine;
 * on restore the host-side members (observer bus, console, buffers, the
 * CPUs' decoded-block caches) stay the live ones, and every TLB and
 * decoded block is flushed, since RAM changed under them. A CPU's hooks
 * are the checkpoint's: VMX installs its non-root hooks at each VM entry
 * and puts the root ones back at each exit (vmx_vcpu.root_hooks).
 */
#include <stdlib.h>
#include <string.h>

#include "emu/emu_checkpoint.h"
#include "emu/emu_hv.h"
#include "emu/emu_internal.h"
#include "emu/emu_scenario.h"
#include "vmx/vmx_root.h"

struct emu_checkpoint {
    emu_machine m;               /* the flat part (its pointers are not used) */
    emu_qevent *q[CPU_MAX_CPUS]; /* each queue's heap */
    uint64_t *ram_pages;         /* numbers of the nonzero RAM pages, ascending */
    uint8_t *ram;                /* their bytes */
    size_t ram_n, ram_cap;
    bool failed;
    uint8_t *host;               /* the used part of host-owned memory */
    emu_hv *hv;                  /* the hypervisor (NULL in native mode) */
    emu_hv_work *work[CPU_MAX_CPUS];
    struct vmx_root *vroot;      /* a guest's own VMX root state (native) */
    bool has_rt;
    emu_scenario_rt rt;
    size_t bytes;
};

static void grab_page(void *ctx, uint64_t page, const uint8_t *data)
{
    emu_checkpoint *c = ctx;
    if (c->failed)
        return;
    if (c->ram_n == c->ram_cap) {
        size_t cap = c->ram_cap ? c->ram_cap * 2 : 64;
        uint64_t *pages = realloc(c->ram_pages, cap * sizeof(*pages));
        if (pages)
            c->ram_pages = pages;
        uint8_t *bytes = pages ? realloc(c->ram, cap * CPU_PAGE_SIZE) : NULL;
        if (!bytes) {
            c->failed = true;
            return;
        }
        c->ram = bytes;
        c->ram_cap = cap;
    }
    c->ram_pages[c->ram_n] = page;
    memcpy(c->ram + c->ram_n * CPU_PAGE_SIZE, data, CPU_PAGE_SIZE);
    c->ram_n++;
}

static emu_hv *machine_hv(const emu_machine *m)
{
    return m->hv_ops && m->hv ? (emu_hv *)m->hv : NULL;
}

emu_checkpoint *emu_checkpoint_take(const emu_machine *m, const emu_scenario *scn)
{
    emu_checkpoint *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->m = *m;
    c->bytes = sizeof(*c);
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        size_t n = m->evq[k].n;
        if (!n)
            continue;
        c->q[k] = malloc(n * sizeof(emu_qevent));
        if (!c->q[k])
            goto fail;
        memcpy(c->q[k], m->evq[k].heap, n * sizeof(emu_qevent));
        c->bytes += n * sizeof(emu_qevent);
    }
    emu_ram_each_nonzero_page(&m->phys, grab_page, c);
    if (c->failed)
        goto fail;
    c->bytes += c->ram_n * (CPU_PAGE_SIZE + sizeof(uint64_t));
    if (m->phys.host_used) {
        c->host = malloc(m->phys.host_used);
        if (!c->host)
            goto fail;
        memcpy(c->host, m->phys.host, m->phys.host_used);
        c->bytes += m->phys.host_used;
    }
    const emu_hv *hv = machine_hv(m);
    if (hv) {
        c->hv = malloc(sizeof(*hv));
        if (!c->hv)
            goto fail;
        *c->hv = *hv;
        c->bytes += sizeof(*hv);
        for (unsigned k = 0; k < hv->ncpus && k < CPU_MAX_CPUS; k++) {
            size_t n = hv->vcpu[k].nwork;
            if (!n)
                continue;
            c->work[k] = malloc(n * sizeof(emu_hv_work));
            if (!c->work[k])
                goto fail;
            memcpy(c->work[k], hv->vcpu[k].work, n * sizeof(emu_hv_work));
            c->bytes += n * sizeof(emu_hv_work);
        }
    }
    if (m->vroot) {
        c->vroot = malloc(m->cfg.ncpus * sizeof(*c->vroot));
        if (!c->vroot)
            goto fail;
        memcpy(c->vroot, m->vroot, m->cfg.ncpus * sizeof(*c->vroot));
        c->bytes += m->cfg.ncpus * sizeof(*c->vroot);
    }
    if (scn) {
        c->has_rt = true;
        c->rt = scn->rt;
    }
    return c;
fail:
    emu_checkpoint_free(c);
    return NULL;
}

void emu_checkpoint_free(emu_checkpoint *c)
{
    if (!c)
        return;
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++) {
        free(c->q[k]);
        free(c->work[k]);
    }
    free(c->ram_pages);
    free(c->ram);
    free(c->host);
    free(c->hv);
    free(c->vroot);
    free(c);
}

uint64_t emu_checkpoint_cycle(const emu_checkpoint *c)
{
    return c->m.now;
}

size_t emu_checkpoint_bytes(const emu_checkpoint *c)
{
    return c->bytes;
}

/* RAM back: the checkpoint's pages copied, every other page that holds
 * data now cleared (pages never touched stay untouched). */
typedef struct clear_ctx {
    const emu_checkpoint *c;
    size_t next;
    uint8_t *ram;
} clear_ctx;

static void clear_other_page(void *ctx, uint64_t page, const uint8_t *data)
{
    clear_ctx *cc = ctx;
    (void)data;
    while (cc->next < cc->c->ram_n && cc->c->ram_pages[cc->next] < page)
        cc->next++;
    if (cc->next < cc->c->ram_n && cc->c->ram_pages[cc->next] == page)
        return;
    memset(cc->ram + page * CPU_PAGE_SIZE, 0, CPU_PAGE_SIZE);
}

/* A heap of n items of size sz at *p with capacity *cap, grown to hold n. */
static bool fit(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return true;
    void *g = realloc(*p, n * sz);
    if (!g)
        return false;
    *p = g;
    *cap = n;
    return true;
}

void emu_cpu_restored(cpu_t *cpu, const cpu_t *live)
{
    cpu->phys = live->phys;
    cpu->obs = live->obs;
    cpu->costs = live->costs;
    cpu->dcache = live->dcache;
    cpu->tlb_epoch = live->tlb_epoch;
    cpu->epoch = live->epoch; /* the live decoded blocks' links carry its epochs */
    cpu->cur_block = NULL;
    cpu->in_run = false;
    cpu_tlb_flush(cpu);
    cpu_dcache_flush(cpu);
}

bool emu_checkpoint_restore(emu_machine *m, emu_scenario *scn, const emu_checkpoint *c)
{
    /* The queues' and the hypervisor's work lists' room first: nothing
     * changes when memory runs out here. */
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        void *h = m->evq[k].heap;
        if (!fit(&h, &m->evq[k].cap, c->m.evq[k].n, sizeof(emu_qevent)))
            return false;
        m->evq[k].heap = h;
    }
    emu_hv *hv = machine_hv(m);
    if (hv && c->hv) {
        for (unsigned k = 0; k < hv->ncpus && k < CPU_MAX_CPUS; k++) {
            void *w = hv->vcpu[k].work;
            if (!fit(&w, &hv->vcpu[k].capwork, c->hv->vcpu[k].nwork, sizeof(emu_hv_work)))
                return false;
            hv->vcpu[k].work = w;
        }
    }
    emu_machine live = *m;
    *m = c->m;
    /* What belongs to the host, not to the run: as it is now. */
    m->cfg = live.cfg;
    m->costs = live.costs;
    m->obs = live.obs;
    m->phys = live.phys;
    m->console = live.console;
    m->console_ctx = live.console_ctx;
    m->diag_out = live.diag_out;
    m->hv_ops = live.hv_ops;
    m->hv = live.hv;
    m->vroot = live.vroot;
    m->running = -1;
    m->pause_req = false;
    m->step_cpu = -1;
    m->interrupted = live.interrupted;
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        m->evq[k].heap = live.evq[k].heap;
        m->evq[k].cap = live.evq[k].cap;
        if (m->evq[k].n)
            memcpy(m->evq[k].heap, c->q[k], m->evq[k].n * sizeof(emu_qevent));
        /* The hooks stay the checkpoint's: VMX swaps them at each entry
         * and exit (root and non-root), and they point into this machine. */
        emu_cpu_restored(&m->cpu[k], &live.cpu[k]);
    }
    clear_ctx cc = {c, 0, m->phys.ram};
    emu_ram_each_nonzero_page(&m->phys, clear_other_page, &cc);
    for (size_t k = 0; k < c->ram_n; k++)
        memcpy(m->phys.ram + c->ram_pages[k] * CPU_PAGE_SIZE, c->ram + k * CPU_PAGE_SIZE,
               CPU_PAGE_SIZE);
    if (c->host && c->m.phys.host_used <= m->phys.host_size) {
        memcpy(m->phys.host, c->host, c->m.phys.host_used);
        if (m->phys.host_used > c->m.phys.host_used)
            memset(m->phys.host + c->m.phys.host_used, 0,
                   m->phys.host_used - c->m.phys.host_used);
        m->phys.host_used = c->m.phys.host_used;
    }
    if (hv && c->hv) {
        emu_hv_work *work[CPU_MAX_CPUS];
        size_t capwork[CPU_MAX_CPUS];
        for (unsigned k = 0; k < CPU_MAX_CPUS; k++) {
            work[k] = hv->vcpu[k].work;
            capwork[k] = hv->vcpu[k].capwork;
        }
        *hv = *c->hv;
        for (unsigned k = 0; k < CPU_MAX_CPUS; k++) {
            hv->vcpu[k].work = work[k];
            hv->vcpu[k].capwork = capwork[k];
            if (hv->vcpu[k].nwork)
                memcpy(hv->vcpu[k].work, c->work[k], hv->vcpu[k].nwork * sizeof(emu_hv_work));
        }
    }
    if (m->vroot && c->vroot)
        memcpy(m->vroot, c->vroot, m->cfg.ncpus * sizeof(*m->vroot));
    if (scn && c->has_rt)
        scn->rt = c->rt;
    return true;
}
