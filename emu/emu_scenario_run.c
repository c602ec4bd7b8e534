/*
 * emu_scenario_run.c — the scenario runtime: binds a parsed scenario
 * (emu_scenario.c) to a machine. `at` items become scheduled calls on the
 * machine's event queue, so they land at an instruction boundary on the
 * cycle clock, deterministically; `on` items are driven by an observer on
 * the event bus; expectations are evaluated at their point or at the end.
 * Stimuli go through the machine's MSI device, local APICs and hypervisor,
 * never around them.
 */
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_scenario.h"

enum { ITEM_STIM, ITEM_CAP, ITEM_EXP, ITEM_INPUT };

/* ---- the runtime ------------------------------------------------------------ */

/* The hypervisor of a VMX-mode machine, or NULL (native, or not attached). */
static emu_hv *machine_hv(emu_machine *m)
{
    emu_hv *hv = m->hv_ops ? (emu_hv *)m->hv : NULL;
    return hv && hv->m == m ? hv : NULL;
}

void emu_stimulus_perform(emu_machine *m, const trace_input *in)
{
    if (in->cpu >= m->cfg.ncpus)
        return;
    cpu_t *c = &m->cpu[in->cpu];
    cpu_obs_emit(&m->obs, c->cycles, in->cpu, EMU_SCN_EV_STIMULUS, in->kind, in->a, in->cpu,
                 in->c);
    switch (in->kind) {
    case EMU_STIM_MSI:
        /* The device's message, delivered the mode's way (emu_msi.c). */
        emu_msi_raise(m, (uint8_t)in->a, in->cpu, c->cycles, in->cpu);
        break;
    case EMU_STIM_HOST_IRQ:
        /* A fixed, edge interrupt message at the physical local APIC
         * (SDM 11.6.1 acceptance), as an I/O APIC or IPI would send. */
        apic_accept(&m->apic[in->cpu], (uint8_t)in->a, APIC_DM_FIXED, false);
        break;
    case EMU_STIM_DESCHEDULE:
        /* The host scheduler preempts the vCPU (posted mode: SN set while
         * it is off the CPU); emu_scenario_apply refuses it in native. */
        if (m->hv)
            emu_hv_deschedule_at(m->hv, in->cpu, in->c, c->cycles);
        break;
    case EMU_STIM_NMI:
        /* An NMI message (delivery mode NMI, SDM 11.6.1), as a device or
         * another CPU sends one: natively the local APIC takes it (vector
         * field ignored); under the hypervisor it is an NMI for the vCPU,
         * which the host injects (virtual NMIs, docs/hypervisor.md). */
        if (m->hv)
            emu_hv_nmi_at(m->hv, in->cpu, c->cycles);
        else
            apic_accept(&m->apic[in->cpu], 2, APIC_DM_NMI, false);
        break;
    default:
        break;
    }
}

static trace_input stim_input(const emu_scenario *s, const emu_stimulus *st, uint64_t cycle)
{
    trace_input in = {.post = s->m->now, .cycle = cycle, .cpu = (uint16_t)st->cpu,
                      .kind = (uint16_t)st->kind, .a = st->vector, .c = st->cycles};
    return in;
}

static uint64_t expect_value(emu_scenario *s, unsigned k)
{
    emu_machine *m = s->m;
    const emu_expect *e = &s->exp[k];
    uint64_t v = 0;
    switch (e->what) {
    case EMU_EXPECT_STATUS:
        return m->finished ? (uint64_t)(int64_t)m->exit_status : UINT64_MAX;
    case EMU_EXPECT_CYCLES:
        return e->at_end ? m->now : m->cpu[m->cfg.ncpus - 1].cycles;
    case EMU_EXPECT_EVENTS:
    case EMU_EXPECT_DELIVERED:
        return s->rt.counts[k];
    case EMU_EXPECT_EXITS:
        if (m->hv_ops && m->hv_ops->exit_count)
            return m->hv_ops->exit_count(m, (unsigned)e->cpu, e->has_a ? (unsigned)e->a : EMU_HC_ALL_EXITS);
        return 0; /* native: no hypervisor, no exits */
    case EMU_EXPECT_APIC: {
        apic_t *a = &m->apic[e->cpu];
        if (apic_x2apic_mode(a))
            apic_msr_read(a, 0x800 + (uint32_t)e->a / 16, &v);
        else
            apic_mmio_read(a, (uint32_t)e->a, 4, &v);
        return v & 0xFFFFFFFFu;
    }
    case EMU_EXPECT_VAPIC: {
        emu_hv *hv = machine_hv(m);
        const uint32_t *p = hv ? cpu_phys_ptr(&m->phys, hv->vcpu[e->cpu].vapic_pa + e->a, 4) : NULL;
        return p ? *p : 0;
    }
    }
    return v;
}

static bool compare(emu_cmp cmp, uint64_t x, uint64_t y)
{
    switch (cmp) {
    case EMU_CMP_EQ:
        return x == y;
    case EMU_CMP_NE:
        return x != y;
    case EMU_CMP_GE:
        return x >= y;
    case EMU_CMP_LE:
        return x <= y;
    case EMU_CMP_GT:
        return x > y;
    case EMU_CMP_LT:
        return x < y;
    }
    return false;
}

static void check_one(emu_scenario *s, unsigned k, unsigned cpu)
{
    uint64_t v = expect_value(s, k);
    s->rt.checked[k] = true;
    s->rt.actual[k] = v;
    s->rt.passed[k] = compare(s->exp[k].cmp, v, s->exp[k].value);
    cpu_obs_emit(&s->m->obs, s->m->cpu[cpu].cycles, cpu, EMU_SCN_EV_EXPECT, k,
                 (uint64_t)s->exp[k].line, s->rt.passed[k], v);
}

static void show_caption(emu_scenario *s, unsigned k, unsigned cpu)
{
    s->rt.caption = (int)k;
    s->rt.shown[k] = true;
    s->rt.caption_cycle = s->m->cpu[cpu].cycles;
    cpu_obs_emit(&s->m->obs, s->m->cpu[cpu].cycles, cpu, EMU_SCN_EV_CAPTION, k,
                 (uint64_t)s->cap[k].line, 0, 0);
}

/* A scheduled call of the scenario at a CPU's instruction boundary. */
static void scn_call(emu_machine *m, const emu_qevent *ev)
{
    emu_scenario *s = ev->ctx;
    unsigned what = (unsigned)(ev->arg >> 32), k = (unsigned)ev->arg;
    (void)m;
    switch (what) {
    case ITEM_STIM: {
        trace_input in = stim_input(s, &s->stim[k], ev->cycle);
        emu_stimulus_perform(s->m, &in);
        break;
    }
    case ITEM_INPUT:
        if (k < s->ninputs)
            emu_stimulus_perform(s->m, &s->inputs[k]);
        break;
    case ITEM_CAP:
        show_caption(s, k, ev->cpu);
        break;
    case ITEM_EXP:
        check_one(s, k, ev->cpu);
        break;
    default:
        break;
    }
}

static bool post_call(emu_scenario *s, uint64_t cycle, unsigned cpu, unsigned what, unsigned k)
{
    return emu_machine_schedule_call(s->m, cycle, cpu, scn_call, s, (uint64_t)what << 32 | k);
}

static bool matches(const emu_trigger *w, const cpu_obs_event *ev)
{
    return w->on_event && ev->kind == w->kind && (w->cpu < 0 || ev->cpu == w->cpu) &&
           (!w->has_a || ev->a == w->a);
}

/* The scenario's observer: counts for expectations, `on` triggers. */
static void scn_observe(void *ctx, const cpu_obs_event *ev)
{
    emu_scenario *s = ctx;
    for (unsigned k = 0; k < s->nexp; k++) {
        const emu_expect *e = &s->exp[k];
        if (e->what == EMU_EXPECT_EVENTS) {
            if (ev->kind == e->kind && (e->cpu < 0 || ev->cpu == e->cpu) && (!e->has_a || ev->a == e->a))
                s->rt.counts[k]++;
        } else if (e->what == EMU_EXPECT_DELIVERED) {
            /* Through the guest IDT (native, virtual-interrupt delivery),
             * or injected at VM entry as an external interrupt (type 0,
             * SDM 26.6: emulated and tpr-shadow modes). */
            bool taken = ev->kind == CPU_EV_INTERRUPT ||
                         (ev->kind == VMX_EV_EVENT_INJECTED && ev->b == 0);
            if (taken && ev->cpu == e->cpu && ev->a == e->a)
                s->rt.counts[k]++;
        }
    }
    if (ev->kind == VMX_EV_VMENTRY && s->nvmcs)
        emu_scenario_lint_entry(s, ev);
    /* The scenario's own events trigger nothing (no loops). */
    if (ev->kind >= EMU_SCN_EV_STIMULUS && ev->kind < EMU_SCN_EV_END)
        return;
    for (unsigned k = 0; k < s->nstim; k++) {
        const emu_trigger *w = &s->stim[k].when;
        if (s->rt.fired[ITEM_STIM][k] || !matches(w, ev) || ++s->rt.matches[ITEM_STIM][k] < w->count)
            continue;
        s->rt.fired[ITEM_STIM][k] = true;
        post_call(s, ev->cycle + w->delay, s->stim[k].cpu, ITEM_STIM, k);
    }
    for (unsigned k = 0; k < s->ncap; k++) {
        const emu_trigger *w = &s->cap[k].when;
        if (s->rt.fired[ITEM_CAP][k] || !matches(w, ev) || ++s->rt.matches[ITEM_CAP][k] < w->count)
            continue;
        s->rt.fired[ITEM_CAP][k] = true;
        if (w->delay == 0)
            show_caption(s, k, ev->cpu);
        else
            post_call(s, ev->cycle + w->delay, ev->cpu, ITEM_CAP, k);
    }
}

static bool apply_vmcs(emu_scenario *s, char *err, size_t errlen)
{
    emu_hv *hv = machine_hv(s->m);
    for (unsigned k = 0; k < s->nvmcs; k++) {
        const emu_vmcs_override *o = &s->vmcs[k];
        if (!hv) {
            snprintf(err, errlen, "%s:%d: expected a VMX mode for a VMCS override, got mode %s%s",
                     s->path, o->line, emu_mode_name(s->m->cfg.mode),
                     s->m->hv_ops ? " (its hypervisor is not attached)" : "");
            return false;
        }
        for (unsigned c = 0; c < s->m->cfg.ncpus; c++) {
            if (o->cpu >= 0 && (unsigned)o->cpu != c)
                continue;
            char why[256];
            unsigned e = emu_hv_guest_vmwrite(hv, c, o->field, o->value, why, sizeof(why));
            if (e == VMX_ERR_ENTRY_INVALID_CONTROL) {
                /* The guest ABI's address policy (docs/guest-abi.md). */
                snprintf(err, errlen, "%s:%d: %s", s->path, o->line, why);
                return false;
            }
            if (e) {
                snprintf(err, errlen, "%s:%d: VMWRITE of field %#x failed with VM-instruction "
                                      "error %u (unsupported field?)",
                         s->path, o->line, o->field, e);
                return false;
            }
            /* What the VMWRITE left (a narrower field keeps fewer bits). */
            s->vmcs_value[k] = vmx_vmcs_get(&hv->vcpu[c].vmx.vmcs, o->field);
        }
    }
    /* A value the first VM entry would refuse is bad input, found before
     * the run (status 2), not a crash of the run (status 3). The line named
     * is the last vmcs line for that vCPU. */
    for (unsigned c = 0; hv && c < s->m->cfg.ncpus; c++) {
        int line = 0;
        for (unsigned k = 0; k < s->nvmcs; k++)
            if (s->vmcs[k].cpu < 0 || (unsigned)s->vmcs[k].cpu == c)
                line = s->vmcs[k].line;
        if (!line)
            continue;
        vmx_check chk = vmx_entry_check(&hv->vcpu[c].vmx);
        if (chk != VMX_CHECK_NONE) {
            snprintf(err, errlen, "%s:%d: expected VMCS values a VM entry accepts, got values that "
                                  "fail VM-entry check %u on vCPU %u (%s)",
                     s->path, line, (unsigned)chk, c, vmx_check_section(chk));
            return false;
        }
    }
    return true;
}

bool emu_scenario_apply(emu_scenario *s, emu_machine *m, char *err, size_t errlen)
{
    s->m = m;
    memset(&s->rt, 0, sizeof(s->rt));
    s->rt.caption = -1;
    for (unsigned k = 0; k < s->nstim; k++) {
        if (s->stim[k].kind == EMU_STIM_DESCHEDULE && !m->hv) {
            snprintf(err, errlen, "%s:%d: expected a VMX mode for deschedule, got mode %s",
                     s->path, s->stim[k].line, emu_mode_name(m->cfg.mode));
            return false;
        }
        if (s->stim[k].cpu >= m->cfg.ncpus) {
            snprintf(err, errlen, "%s:%d: expected a target CPU below %u, got cpu=%u", s->path,
                     s->stim[k].line, m->cfg.ncpus, s->stim[k].cpu);
            return false;
        }
    }
    for (unsigned k = 0; k < s->nexp; k++) {
        if (s->exp[k].cpu >= (int)m->cfg.ncpus) {
            snprintf(err, errlen, "%s:%d: expected a CPU below %u, got cpu=%d", s->path,
                     s->exp[k].line, m->cfg.ncpus, s->exp[k].cpu);
            return false;
        }
        if (s->exp[k].what == EMU_EXPECT_VAPIC && !machine_hv(m)) {
            snprintf(err, errlen, "%s:%d: expected a VMX mode for a vapic expectation, got mode %s",
                     s->path, s->exp[k].line, emu_mode_name(m->cfg.mode));
            return false;
        }
    }
    if (!apply_vmcs(s, err, errlen))
        return false;
    emu_scenario_lint_apply(s);
    /* The posting order is part of the machine's state (ties in the event
     * queue): inputs first, then captions, then expectations, always. */
    if (!s->inputs) {
        /* A live run: the `at` stimuli become the machine's inputs (a replay
         * brings the recorded ones instead). */
        for (unsigned k = 0; k < s->nstim; k++) {
            if (s->stim[k].when.on_event)
                continue;
            trace_input *grown = realloc(s->inputs, (s->ninputs + 1) * sizeof(*grown));
            if (!grown)
                goto oom;
            s->inputs = grown;
            s->inputs[s->ninputs++] = stim_input(s, &s->stim[k], s->stim[k].when.cycle);
            if (s->input_sink)
                s->input_sink(s->input_ctx, &s->inputs[s->ninputs - 1]);
        }
    }
    for (size_t k = 0; k < s->ninputs; k++)
        if (s->inputs[k].post == 0 &&
            !post_call(s, s->inputs[k].cycle, s->inputs[k].cpu, ITEM_INPUT, (unsigned)k))
            goto oom;
    for (unsigned k = 0; k < s->ncap; k++)
        if (!s->cap[k].when.on_event && !post_call(s, s->cap[k].when.cycle, 0, ITEM_CAP, k))
            goto oom;
    for (unsigned k = 0; k < s->nexp; k++)
        if (!s->exp[k].at_end &&
            !post_call(s, s->exp[k].cycle, m->cfg.ncpus - 1, ITEM_EXP, k))
            goto oom;
    if (!cpu_obs_subscribe(&m->obs, scn_observe, s)) {
        snprintf(err, errlen, "%s: the machine's event bus is full", s->path);
        return false;
    }
    return true;
oom:
    snprintf(err, errlen, "%s: out of memory posting the scenario's events", s->path);
    return false;
}

bool emu_scenario_post_recorded(emu_scenario *s, size_t k)
{
    if (!s->m || k >= s->ninputs)
        return false;
    return post_call(s, s->inputs[k].cycle, s->inputs[k].cpu, ITEM_INPUT, (unsigned)k);
}

bool emu_scenario_post_input(emu_scenario *s, const trace_input *in)
{
    /* Only at a round boundary: a replay can stop exactly there again. */
    if (!s->m || s->m->in_round || in->cpu >= s->m->cfg.ncpus || in->kind < EMU_STIM_MSI ||
        in->kind > EMU_STIM_HOST_IRQ)
        return false;
    trace_input *grown = realloc(s->inputs, (s->ninputs + 1) * sizeof(*grown));
    if (!grown)
        return false;
    s->inputs = grown;
    s->inputs[s->ninputs] = *in;
    s->inputs[s->ninputs].post = s->m->now;
    if (s->inputs[s->ninputs].cycle < s->m->now)
        s->inputs[s->ninputs].cycle = s->m->now;
    if (s->input_sink)
        s->input_sink(s->input_ctx, &s->inputs[s->ninputs]);
    const trace_input *p = &s->inputs[s->ninputs];
    s->ninputs++;
    return post_call(s, p->cycle, p->cpu, ITEM_INPUT, (unsigned)(s->ninputs - 1));
}

static const char *cmp_name(emu_cmp c)
{
    static const char *const ops[] = {"==", "!=", ">=", "<=", ">", "<"};
    return ops[c];
}

static void describe(const emu_expect *e, char *buf, size_t len)
{
    static const char *const what[] = {"status", "events", "delivered", "exits", "apic", "vapic", "cycles"};
    char sel[96] = "";
    if (e->what == EMU_EXPECT_EVENTS) {
        const char *n = emu_any_event_name(e->kind);
        if (!n)
            n = emu_scenario_event_name(e->kind);
        snprintf(sel, sizeof(sel), " %s", n ? n : "?");
    }
    if (e->cpu >= 0)
        snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), " cpu=%d", e->cpu);
    if (e->has_a && e->what == EMU_EXPECT_EXITS) {
        char r[64];
        snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), " reason=%s",
                 emu_exit_reason_text((unsigned)e->a, r, sizeof(r)));
    } else if (e->has_a)
        snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), " %s=%#llx",
                 e->what == EMU_EXPECT_DELIVERED ? "vector" : e->what == EMU_EXPECT_EXITS ? "reason"
                 : e->what == EMU_EXPECT_EVENTS ? "a" : "offset",
                 (unsigned long long)e->a);
    snprintf(buf, len, "%s%s %s %#llx", what[e->what], sel, cmp_name(e->cmp),
             (unsigned long long)e->value);
}

int emu_scenario_check(emu_scenario *s, FILE *report)
{
    emu_machine *m = s->m;
    if (!m)
        return EMU_EXIT_USAGE;
    bool any_failed = false, status_expected = false;
    for (unsigned k = 0; k < s->nexp; k++) {
        const emu_expect *e = &s->exp[k];
        char d[200];
        if (e->at_end)
            check_one(s, k, 0);
        if (e->what == EMU_EXPECT_STATUS)
            status_expected = true;
        describe(e, d, sizeof(d));
        if (!s->rt.checked[k]) {
            any_failed = true;
            if (report)
                fprintf(report, "%s:%d: expectation not checked: %s at cycle %llu: the run ended "
                                "at cycle %llu first\n",
                        s->path, e->line, d, (unsigned long long)e->cycle,
                        (unsigned long long)m->now);
        } else if (!s->rt.passed[k]) {
            any_failed = true;
            if (report)
                fprintf(report, "%s:%d: expectation failed: %s, got %#llx (%llu)\n", s->path,
                        e->line, d, (unsigned long long)s->rt.actual[k],
                        (unsigned long long)s->rt.actual[k]);
        }
    }
    emu_scenario_lint_end(s);
    emu_scenario_print_warnings(s, report);
    cpu_obs_unsubscribe(&m->obs, scn_observe, s);
    if (any_failed)
        return EMU_EXIT_EXPECT;
    if (status_expected)
        return 0;
    return m->exit_status;
}

unsigned emu_scenario_caption_count(const emu_scenario *s)
{
    return s->ncap;
}

const char *emu_scenario_caption_text(const emu_scenario *s, unsigned idx)
{
    return idx < s->ncap ? s->cap[idx].text : NULL;
}

const char *emu_scenario_caption_now(const emu_scenario *s)
{
    return s->rt.caption >= 0 ? s->cap[s->rt.caption].text : NULL;
}
