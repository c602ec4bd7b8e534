/*
 * ui_snapshot.c — the snapshot model: a plain copy of what the window shows,
 * taken from the machine between slices, and the observer that keeps the
 * recent events, the timeline marks and the console.
 *
 * Nothing here runs per instruction: the recorder runs per event (as every
 * observer does) and the snapshot per frame at most.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "ui/ui.h"
#include "vmx/vmx.h"
#include "vmx/vmx_apicv.h"
#include "vmx/vmx_root.h"

ui_event_class ui_event_classify(unsigned kind)
{
    switch (kind) {
    case VMX_EV_VMEXIT:
    case VMX_EV_ENTRY_FAIL:
        return UI_EVC_EXIT;
    case VMX_EV_VMENTRY:
        return UI_EVC_ENTRY;
    case VMX_EV_VINTR_RECOGNIZED:
    case VMX_EV_VINTR_DELIVERED:
    case VMX_EV_EVENT_INJECTED:
    case CPU_EV_INTERRUPT:
        return UI_EVC_DELIVERY;
    case VMX_EV_EOI_VIRT:
    case VMX_EV_PI_EOI:
    case APIC_EV_EOI:
        return UI_EVC_EOI;
    case VMX_EV_PI_ACK:
    case VMX_EV_PI_NV_MATCH:
    case VMX_EV_PI_NV_MISMATCH:
    case VMX_EV_PI_ON_CLEAR:
    case VMX_EV_PI_PIR_TO_VIRR:
    case VMX_EV_PI_RVI_UPDATE:
        return UI_EVC_POSTED;
    default:
        break;
    }
    if (kind >= CPU_OBS_RANGE_APIC && kind < CPU_OBS_RANGE_VMX)
        return UI_EVC_APIC;
    return UI_EVC_OTHER;
}

bool ui_timeline_kind(const cpu_obs_event *ev, ui_tl_kind *tl, unsigned *lane)
{
    *lane = ev->cpu;
    switch (ev->kind) {
    case EMU_EV_MSI_RAISE:
    case EMU_EV_IPI_ROUTE:
    case EMU_HV_EV_POST:
        /* In the lane of the CPU it is for (field b). */
        *tl = UI_TL_RAISE;
        *lane = (unsigned)ev->b;
        return ev->b < CPU_MAX_CPUS;
    case EMU_EV_IOAPIC_DELIVER:
    case APIC_EV_TIMER:
        *tl = UI_TL_RAISE;
        return true;
    case VMX_EV_VINTR_RECOGNIZED:
        return false; /* recognised, not yet delivered: the delivery is marked */
    default:
        break;
    }
    switch (ui_event_classify(ev->kind)) {
    case UI_EVC_EXIT:
        *tl = UI_TL_EXIT;
        return true;
    case UI_EVC_ENTRY:
        *tl = UI_TL_ENTRY;
        return true;
    case UI_EVC_DELIVERY:
        *tl = UI_TL_DELIVERY;
        return true;
    case UI_EVC_EOI:
        *tl = UI_TL_EOI;
        return true;
    default:
        return false;
    }
}

const char *ui_event_name(unsigned kind)
{
    const char *n = emu_any_event_name(kind);
    if (!n)
        n = emu_hv_event_name(kind);
    return n ? n : "?";
}

void ui_recorder_init(ui_recorder *r, emu_machine *m)
{
    memset(r, 0, sizeof(*r));
    r->m = m;
    r->pause_cpu = -1;
    r->cur_stop = -1;
    r->stride = 1;
}

static void free_stops(ui_recorder *r)
{
    free(r->stops);
    r->stops = NULL;
    r->nstops = r->stops_cap = 0;
    r->cur_stop = -1;
}

void ui_recorder_free(ui_recorder *r)
{
    free_stops(r);
    free(r->store);
    free(r->store_maxc);
    r->store = NULL;
    r->store_maxc = NULL;
    r->nstore = r->capstore = 0;
}

void ui_recorder_rewind(ui_recorder *r, emu_machine *m)
{
    ui_capture_fn capture = r->capture;
    void *ctx = r->capture_ctx;
    ui_mark *store = r->store;
    uint64_t *maxc = r->store_maxc;
    size_t nstore = r->nstore, cap = r->capstore;
    uint64_t stride = r->stride, next = r->store_next, disorder = r->disorder;
    free_stops(r);
    ui_recorder_init(r, m);
    r->capture = capture;
    r->capture_ctx = ctx;
    r->store = store;
    r->store_maxc = maxc;
    r->nstore = nstore;
    r->capstore = cap;
    r->stride = stride;
    r->store_next = next;
    r->disorder = disorder;
}

void ui_recorder_reset(ui_recorder *r, emu_machine *m)
{
    ui_capture_fn capture = r->capture;
    void *ctx = r->capture_ctx;
    ui_recorder_free(r);
    ui_recorder_init(r, m);
    r->capture = capture;
    r->capture_ctx = ctx;
}

bool ui_recorder_matches(const ui_recorder *r, const cpu_obs_event *ev)
{
    if (r->pause_cpu >= 0 && ev->cpu != (unsigned)r->pause_cpu)
        return false;
    if ((r->pause_classes >> ui_event_classify(ev->kind)) & 1)
        return true;
    return r->pause_apic_vmx && !emu_event_is_chatter(ev);
}

void ui_recorder_forget_stops(ui_recorder *r)
{
    r->nstops = 0;
    r->cur_stop = -1;
    r->capturing = false;
}

void ui_recorder_stopped(ui_recorder *r)
{
    r->capturing = false;
}

bool ui_recorder_next_stop(ui_recorder *r)
{
    for (unsigned i = (unsigned)(r->cur_stop + 1); r->cur_stop >= 0 && i < r->nstops; i++) {
        const ui_snapshot *s = &r->stops[i];
        if (s->nev && ui_recorder_matches(r, &s->ev[s->nev - 1])) {
            r->cur_stop = (int)i;
            r->hit = false;
            return true;
        }
    }
    ui_recorder_forget_stops(r);
    return false;
}

const ui_snapshot *ui_recorder_current_stop(const ui_recorder *r)
{
    return r->cur_stop >= 0 && (unsigned)r->cur_stop < r->nstops ? &r->stops[r->cur_stop] : NULL;
}

/* A stop: the machine as it is right after this event (read-only). */
static void take_stop(ui_recorder *r)
{
    if (r->nstops >= UI_MAX_STOPS) {
        r->stops_lost++;
        return;
    }
    if (r->nstops == r->stops_cap) {
        unsigned cap = r->stops_cap ? r->stops_cap * 2 : 8;
        ui_snapshot *grown = realloc(r->stops, cap * sizeof(*grown));
        if (!grown) {
            r->stops_lost++;
            return;
        }
        r->stops = grown;
        r->stops_cap = cap;
    }
    ui_snapshot *s = &r->stops[r->nstops++];
    memset(s, 0, sizeof(*s));
    r->capture(r->capture_ctx, s);
}

/* The observer: called for every event on the machine's bus. */
void ui_recorder_event(void *ctx, const cpu_obs_event *ev)
{
    ui_recorder *r = ctx;
    r->ring[r->total % UI_RING_EVENTS] = *ev;
    r->total++;
    ui_tl_kind tl;
    unsigned lane;
    if (ui_timeline_kind(ev, &tl, &lane)) {
        ui_mark *mk = &r->marks[r->nmarks_total % UI_TL_RECENT];
        mk->cycle = ev->cycle;
        mk->cpu = (uint8_t)lane;
        mk->cls = (uint8_t)ui_event_classify(ev->kind);
        mk->tl = (uint8_t)tl;
        mk->ev_no = r->total;
        mk->ev = *ev;
        ui_marks_add(r, mk, r->nmarks_total);
        r->nmarks_total++;
    }
    if (ev->kind == EMU_SCN_EV_CAPTION && r->ncaps < UI_CAPTIONS) {
        ui_caption_entry *c = &r->caps[r->ncaps++];
        memset(c, 0, sizeof(*c));
        c->ev_no = r->total;
        c->cycle = ev->cycle;
        c->idx = (uint16_t)ev->a;
        c->line = (uint16_t)ev->b;
        c->cpu = (uint8_t)ev->cpu;
    }
    if (ev->kind == EMU_EV_CONSOLE) {
        if (r->console_len + 1 >= UI_CONSOLE_BYTES) {
            /* Keep the newer half: the panel shows the last lines. */
            unsigned keep = UI_CONSOLE_BYTES / 2;
            memmove(r->console, r->console + r->console_len - keep, keep);
            r->console_len = keep;
        }
        r->console[r->console_len++] = (char)ev->a;
        r->console[r->console_len] = 0;
    }
    bool stop = ui_recorder_matches(r, ev);
    if (r->pause_at_total && r->total == r->pause_at_total)
        stop = true;
    if (stop && !r->capturing) {
        r->hit = true;
        if (r->capture) {
            r->nstops = 0;
            r->cur_stop = 0;
            r->capturing = true;
        }
        if (r->m)
            emu_machine_pause(r->m);
    }
    if (r->capturing)
        take_stop(r);
}

static void vapic_reg(vmx_vcpu *v, unsigned base, ui_vec256 *out)
{
    for (unsigned i = 0; i < 8; i++)
        out->w[i] = vmx_vapic_read32(v, base + 0x10 * i);
}

void ui_snapshot_vcpu(ui_cpu_snap *c, vmx_vcpu *v)
{
    const vmx_vmcs *vm = &v->vmcs;
    c->has_vmx = true;
    c->where = v->non_root ? UI_WHERE_NONROOT : UI_WHERE_ROOT;
    c->pin = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_PIN_CONTROLS);
    c->proc = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_PROC_CONTROLS);
    c->proc2 = vmx_proc2(v);
    c->exit_ctls = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_EXIT_CONTROLS);
    c->entry_ctls = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_ENTRY_CONTROLS);
    c->tpr_threshold = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_TPR_THRESHOLD);
    c->notify_vector = (uint16_t)vmx_vmcs_read_fast(vm, VMCS_POSTED_INTR_NV);
    c->last_exit = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_EXIT_REASON);
    c->entries = v->entries;
    c->exits = v->exits;
    for (unsigned i = 0; i < 4; i++) {
        uint64_t q = vmx_vmcs_read_fast(vm, VMCS_EOI_EXIT_BITMAP0 + 2 * i);
        c->eoi_exit.w[2 * i] = (uint32_t)q;
        c->eoi_exit.w[2 * i + 1] = (uint32_t)(q >> 32);
    }
    c->rvi = vmx_apicv_rvi(v);
    c->svi = vmx_apicv_svi(v);
    if (c->proc & VMX_PROC_TPR_SHADOW) {
        vapic_reg(v, VMX_VAPIC_IRR, &c->virr);
        vapic_reg(v, VMX_VAPIC_ISR, &c->visr);
        c->vtpr = (uint8_t)vmx_vapic_read32(v, VMX_VAPIC_TPR);
        c->vppr = (uint8_t)vmx_vapic_read32(v, VMX_VAPIC_PPR);
    }
    uint64_t desc = vmx_vmcs_read_fast(vm, VMCS_POSTED_INTR_DESC_ADDR);
    if ((c->pin & VMX_PIN_POSTED_INTR) && cpu_phys_ptr(v->phys, desc, VMX_PI_DESC_SIZE)) {
        for (unsigned i = 0; i < 4; i++) {
            uint64_t q = vmx_pi_pir_qword(v->phys, desc, i);
            c->pir.w[2 * i] = (uint32_t)q;
            c->pir.w[2 * i + 1] = (uint32_t)(q >> 32);
        }
        c->on = vmx_pi_get_on(v->phys, desc);
        c->sn = vmx_pi_get_sn(v->phys, desc);
        c->pi_nv = vmx_pi_get_nv(v->phys, desc);
        c->ndst = vmx_pi_get_ndst(v->phys, desc);
    }
}

/* The code around RIP: as much of [rip - UI_CODE_BEFORE, +UI_CODE_BYTES) as
 * is mapped, else from RIP on. */
static void snapshot_code(ui_cpu_snap *c, cpu_t *cpu)
{
    static const unsigned lens[] = {UI_CODE_BYTES - UI_CODE_BEFORE, 16, 1};
    c->code_len = 0;
    c->code_base = cpu->rip;
    if (cpu->rip >= UI_CODE_BEFORE &&
        cpu_peek_linear(cpu, cpu->rip - UI_CODE_BEFORE, c->code, UI_CODE_BYTES)) {
        c->code_base = cpu->rip - UI_CODE_BEFORE;
        c->code_len = UI_CODE_BYTES;
        return;
    }
    for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        if (cpu_peek_linear(cpu, cpu->rip, c->code, lens[i])) {
            c->code_len = (uint8_t)lens[i];
            return;
        }
    }
}

static void snapshot_cpu(ui_cpu_snap *c, cpu_t *cpu, const apic_t *a)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->gpr, cpu->gpr, sizeof(c->gpr));
    c->rip = cpu->rip;
    c->rflags = cpu_peek_rflags(cpu);
    c->cr0 = cpu->cr0;
    c->cr2 = cpu->cr2;
    c->cr3 = cpu->cr3;
    c->cr4 = cpu->cr4;
    c->cr8 = cpu->cr8;
    c->efer = cpu->efer;
    c->cycle = cpu->cycles;
    c->insns = cpu->insns;
    c->cpl = cpu->cpl;
    c->mode = cpu->mode;
    c->where = UI_WHERE_NATIVE;
    c->halted = cpu->halted != 0;
    c->activity = cpu->halted ? 1 : 0;
    if (cpu->events & CPU_EVT_SHADOW)
        c->interruptibility |= cpu->shadow_kind == 2 ? 2u : 1u;
    if (cpu->nmi_blocked)
        c->interruptibility |= 8u;
    snapshot_code(c, cpu);
    memcpy(c->irr.w, a->irr, sizeof(c->irr.w));
    memcpy(c->isr.w, a->isr, sizeof(c->isr.w));
    c->tpr = (uint8_t)a->tpr;
    c->ppr = apic_ppr(a);
    c->apic_id = apic_id(a);
    c->x2apic = apic_x2apic_mode(a);
}

void ui_event_words(const ui_snapshot *s, const ui_event *e, char *buf, size_t len)
{
    if (s && e->kind == EMU_SCN_EV_CAPTION)
        for (unsigned k = 0; k < s->ncaps && k < UI_CAPTIONS; k++)
            if (s->caps[k].idx == e->a && s->caps[k].text[0]) {
                snprintf(buf, len, "caption %u (line %u): %s", (unsigned)e->a, (unsigned)e->b,
                         s->caps[k].text);
                return;
            }
    emu_event_describe(e, buf, len);
}

uint64_t ui_snapshot_cycle(const ui_snapshot *s)
{
    uint64_t newest = s->nev ? s->ev[s->nev - 1].cycle : 0;
    return newest > s->now ? newest : s->now;
}

bool ui_ndst_cpu(const ui_snapshot *s, const ui_cpu_snap *c, unsigned *cpu, uint32_t *id)
{
    /* The destination's APIC mode decides the format; every CPU's APIC is
     * in the same mode here (the host's), so this CPU's says it. */
    *id = c->x2apic ? c->ndst : (c->ndst >> 8) & 0xFF;
    for (unsigned k = 0; k < s->ncpus && k < CPU_MAX_CPUS; k++) {
        if (s->cpu[k].apic_id == *id) {
            *cpu = k;
            return true;
        }
    }
    return false;
}

const char *ui_pi_nv_note(const ui_cpu_snap *c)
{
    if (c->pi_nv == c->notify_vector)
        return " (the same)";
    /* Posted-interrupt processing compares the VMCS's vector (SDM 29.6);
     * the descriptor's NV is for whoever posts: the built-in hypervisor's
     * devices notify with it (emu_hv_irq.c), a guest hypervisor's own
     * code need not use it at all. */
    return c->guest_hv ? " (software's field: processing uses the VMCS's)"
                       : " (differs: a device's post notifies with it, no processing)";
}

/* The hypervisor's software APIC of vCPU k (emulated, tpr-shadow): what
 * stands for VIRR/VISR before APIC virtualization. With the TPR shadow the
 * TPR lives in the virtual-APIC page (SDM 30.1.1), which the VTPR already
 * shows. */
static void snapshot_sw_apic(ui_cpu_snap *c, const emu_hv *hv, unsigned k, bool tpr_shadow)
{
    if (k >= hv->ncpus)
        return;
    const apic_t *a = &hv->vcpu[k].sw_apic;
    c->sw_apic = true;
    memcpy(c->virr.w, a->irr, sizeof(c->virr.w));
    memcpy(c->visr.w, a->isr, sizeof(c->visr.w));
    if (!tpr_shadow)
        c->vtpr = (uint8_t)a->tpr;
    c->vppr = apic_ppr(a);
    c->rvi = c->svi = 0;
}

void ui_snapshot_take(ui_snapshot *s, emu_machine *m, const ui_recorder *rec,
                      ui_vcpu_lookup lookup)
{
    uint64_t seq = s->seq + 1;
    char caption[sizeof(s->caption)];
    memcpy(caption, s->caption, sizeof(caption));
    memset(s, 0, sizeof(*s));
    memcpy(s->caption, caption, sizeof(caption));
    s->seq = seq;
    s->ncpus = m->cfg.ncpus;
    s->now = m->now;
    s->insns_total = emu_machine_insns(m);
    s->mode = (uint8_t)m->cfg.mode;
    s->finished = m->finished;
    s->exit_status = m->exit_status;
    snprintf(s->diag, sizeof(s->diag), "%s", m->finished ? m->diag : "");
    for (unsigned k = 0; k < s->ncpus && k < CPU_MAX_CPUS; k++) {
        snapshot_cpu(&s->cpu[k], &m->cpu[k], &m->apic[k]);
        vmx_vcpu *v = lookup ? lookup(m, k) : NULL;
        if (v)
            ui_snapshot_vcpu(&s->cpu[k], v);
        if (!v && m->vroot && m->cpu[k].vmx_operation) {
            /* The guest's own hypervisor: its current VMCS, fed to the same
             * panels (root or non-root, controls, virtual-APIC page, PIR). */
            vmx_root *r = &m->vroot[k];
            s->cpu[k].guest_hv = true;
            /* In VMX operation without a current VMCS the CPU is in root
             * operation all the same (SDM 23.3). */
            s->cpu[k].where = UI_WHERE_ROOT;
            s->cpu[k].vmcs_ptr = r->current;
            s->cpu[k].vmcs_launched = r->v.vmcs.launch_state == VMX_LAUNCH_LAUNCHED;
            if (r->current != VMX_NO_VMCS)
                ui_snapshot_vcpu(&s->cpu[k], &r->v);
        }
        if (v && m->cfg.mode != EMU_MODE_NATIVE && m->hv && k < ((emu_hv *)m->hv)->ncpus) {
            const emu_hv *hv = m->hv;
            s->cpu[k].descheduled = hv->vcpu[k].descheduled;
            s->cpu[k].blocked = hv->vcpu[k].blocked;
        }
        if (v && (m->cfg.mode == EMU_MODE_EMULATED || m->cfg.mode == EMU_MODE_TPR_SHADOW) && m->hv)
            snapshot_sw_apic(&s->cpu[k], m->hv, k, m->cfg.mode == EMU_MODE_TPR_SHADOW);
    }
    if (rec)
        ui_snapshot_events(s, rec);
}

void ui_snapshot_events(ui_snapshot *s, const ui_recorder *rec)
{
    uint64_t n = rec->total < UI_SNAP_EVENTS ? rec->total : UI_SNAP_EVENTS;
    for (uint64_t i = 0; i < n; i++)
        s->ev[i] = rec->ring[(rec->total - n + i) % UI_RING_EVENTS];
    s->nev = (unsigned)n;
    s->ev_total = rec->total;
    ui_snapshot_marks(s, rec, NULL);
    memcpy(s->caps, rec->caps, rec->ncaps * sizeof(rec->caps[0]));
    s->ncaps = rec->ncaps;
    memcpy(s->console, rec->console, rec->console_len + 1);
}
