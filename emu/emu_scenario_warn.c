/*
 * emu_scenario_warn.c — warnings about a scenario that parses but does not
 * fit the run (docs/scenarios.md, "Warnings"): the mode it declares is not
 * the run's, a vmcs line is overwritten (by a later line, or by the
 * hypervisor or guest before a VM entry), a trigger or an expectation
 * waits for an event the mode's VMCS controls rule out or that its filter
 * can never match, a caption or an
 * `on` stimulus is never reached. The run itself is never changed: a
 * scenario may be run in another mode on purpose, to show what differs.
 */
#include <stdarg.h>
#include <string.h>

#include "apic/apic.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"

void emu_scenario_warn(emu_scenario *s, int line, const char *fmt, ...)
{
    emu_scn_warning w = {.line = line};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w.text, sizeof(w.text), fmt, ap);
    va_end(ap);
    for (unsigned k = 0; k < s->nwarn; k++)
        if (s->warn[k].line == line && strcmp(s->warn[k].text, w.text) == 0)
            return;
    if (s->nwarn < EMU_SCN_MAX_WARN)
        s->warn[s->nwarn++] = w;
}

void emu_scenario_print_warnings(emu_scenario *s, FILE *out)
{
    for (; s->nwarn_printed < s->nwarn; s->nwarn_printed++)
        if (out)
            fprintf(out, "%s:%d: warning: %s\n", s->path, s->warn[s->nwarn_printed].line,
                    s->warn[s->nwarn_printed].text);
}

static emu_hv *machine_hv(emu_machine *m)
{
    emu_hv *hv = m && m->hv_ops ? (emu_hv *)m->hv : NULL;
    return hv && hv->m == m ? hv : NULL;
}

static const char *kind_name(unsigned kind)
{
    const char *n = emu_any_event_name(kind);
    if (!n)
        n = emu_scenario_event_name(kind);
    return n ? n : "?";
}

/* Why events of `kind` cannot happen on this machine, or NULL when they
 * can. Only what the VMCS controls rule out for certain, read from every
 * vCPU's VMCS after the scenario's own vmcs lines (a control that any vCPU
 * has makes the event possible):
 *  - posted-interrupt processing, SDM 29.6, needs the "process posted
 *    interrupts" pin-based control (and the hypervisor posts only then);
 *  - virtual-interrupt delivery, EOI and self-IPI virtualization, SDM
 *    29.2, 29.1.2, 29.4.3, need "virtual-interrupt delivery" (and so does
 *    the hypervisor's write of VIRR, its apicv path);
 *  - TPR virtualization and PPR virtualization, SDM 29.1.2, 29.1.3, need
 *    the "use TPR shadow" control;
 *  - every hypervisor event needs the built-in hypervisor (not native);
 *    a VMX event natively needs VMX in the CPU model (a guest that is its
 *    own hypervisor, vmx/vmx_root.h).
 * Controls the hypervisor flips during a run (interrupt-window exiting,
 * virtualize x2APIC mode) decide nothing here. */
static const char *impossible(emu_machine *m, unsigned kind, bool has_a, uint64_t a)
{
    bool vmx_kind = kind >= CPU_OBS_RANGE_VMX && kind < VMX_EV_VMX_END;
    bool hv_kind = kind >= EMU_HV_EV_HYPERCALL && kind < EMU_HV_EV_END;
    if (!vmx_kind && !hv_kind)
        return NULL;
    emu_hv *hv = machine_hv(m);
    /* Natively the guest may be a hypervisor itself (vmx/vmx_root.h): its
     * VMCSs are built at run time, so no VMX event is ruled out; without
     * VMX in the CPU model there is none, and the built-in hypervisor's
     * events never happen natively. */
    if (!hv && vmx_kind && m->vroot)
        return NULL;
    if (!hv)
        return m->vroot ? "there is no built-in hypervisor in native mode"
                        : "there is no VM in native mode (and the CPU model has no VMX)";
    uint64_t pin = 0, proc = 0, proc2 = 0;
    for (unsigned c = 0; c < m->cfg.ncpus && c < hv->ncpus; c++) {
        const vmx_vmcs *v = &hv->vcpu[c].vmx.vmcs;
        pin |= vmx_vmcs_get(v, VMCS_PIN_CONTROLS);
        proc |= vmx_vmcs_get(v, VMCS_PROC_CONTROLS);
        proc2 |= vmx_vmcs_get(v, VMCS_PROC_CONTROLS2);
    }
    if (!(proc & VMX_PROC_SECONDARY))
        proc2 = 0;
    /* VM exits that only APIC virtualization causes (SDM 29.1.2 TPR
     * below threshold: TPR shadow without virtual-interrupt delivery;
     * 29.1.3 EOI-induced: virtual-interrupt delivery; 29.4.3.2 APIC
     * write: APIC-register virtualization or virtual-interrupt delivery). */
    if (kind == VMX_EV_VMEXIT && has_a) {
        switch (a & 0xFFFF) {
        case VMX_EXIT_TPR_BELOW_THRESHOLD:
            if (!(proc & VMX_PROC_TPR_SHADOW))
                return "TPR-below-threshold exits need the TPR shadow";
            if (proc2 & VMX_PROC2_VIRT_INTR_DELIVERY)
                return "no TPR-below-threshold exits with virtual-interrupt delivery";
            return NULL;
        case VMX_EXIT_VIRTUALIZED_EOI:
            return proc2 & VMX_PROC2_VIRT_INTR_DELIVERY
                       ? NULL
                       : "EOI-induced exits need virtual-interrupt delivery";
        case VMX_EXIT_APIC_WRITE:
            return proc2 & (VMX_PROC2_APIC_REG_VIRT | VMX_PROC2_VIRT_INTR_DELIVERY)
                       ? NULL
                       : "APIC-write exits need APIC-register virtualization or "
                         "virtual-interrupt delivery";
        default:
            return NULL;
        }
    }
    switch (kind) {
    case VMX_EV_PI_ACK:
    case VMX_EV_PI_NV_MATCH:
    case VMX_EV_PI_NV_MISMATCH:
    case VMX_EV_PI_ON_CLEAR:
    case VMX_EV_PI_EOI:
    case VMX_EV_PI_PIR_TO_VIRR:
    case VMX_EV_PI_RVI_UPDATE:
    case EMU_HV_EV_POST:
        return pin & VMX_PIN_POSTED_INTR ? NULL : "posted-interrupt processing is off";
    case VMX_EV_VINTR_RECOGNIZED:
    case VMX_EV_VINTR_DELIVERED:
    case VMX_EV_EOI_VIRT:
    case VMX_EV_SELF_IPI_VIRT:
    case EMU_HV_EV_VIRR_SET:
        return proc2 & VMX_PROC2_VIRT_INTR_DELIVERY ? NULL
                                                      : "virtual-interrupt delivery is off";
    case VMX_EV_TPR_VIRT:
    case VMX_EV_PPR_VIRT:
    case VMX_EV_CR8_READ_VIRT:
    case VMX_EV_CR8_WRITE_VIRT:
        return proc & VMX_PROC_TPR_SHADOW ? NULL : "the TPR shadow is off";
    default:
        return NULL;
    }
}

/* Why an `on` trigger's filter can never match whatever the mode, or NULL:
 * the scenario's own events trigger nothing (emu_scenario_run.c: no
 * loops); a field a that is a vector is at most FFh; a VM-exit reason
 * whose basic reason no exit has (SDM Appendix C). For an `events`
 * expectation (trigger false) the scenario's own events do count. */
static const char *never_matches(unsigned kind, bool has_a, uint64_t a, bool trigger)
{
    if (trigger && kind >= EMU_SCN_EV_STIMULUS && kind < EMU_SCN_EV_END)
        return "the scenario's own events (scn.*) trigger nothing";
    const emu_evdesc *d = emu_event_desc(kind);
    if (!has_a || !d)
        return NULL;
    if (d->vector == 0 && a > 0xFF)
        return "its field a is a vector, at most 0xff";
    if (d->reason == 0 && strcmp(vmx_exit_reason_name((unsigned)a & 0xFFFF), "UNKNOWN") == 0)
        return "no VM exit has that basic reason (SDM Appendix C)";
    return NULL;
}

/* The expectation "cmp value" holds for a count of 0. */
static bool compare0(emu_cmp cmp, uint64_t v)
{
    switch (cmp) {
    case EMU_CMP_EQ:
    case EMU_CMP_GE:
        return v == 0;
    case EMU_CMP_NE:
    case EMU_CMP_LT:
        return v != 0;
    case EMU_CMP_LE:
        return true;
    case EMU_CMP_GT:
        return false;
    }
    return true;
}

/* Field type (SDM 24.11.2, encoding bits 11:10): 0 control, 1 read-only
 * data, 2 guest state, 3 host state. */
static unsigned field_type(uint32_t enc)
{
    return (enc >> 10) & 3;
}

static const char *field_name(uint32_t enc)
{
    const char *n = vmx_vmcs_field_name(enc);
    return n ? n : "?";
}

void emu_scenario_lint_apply(emu_scenario *s)
{
    emu_machine *m = s->m;
    const char *mode = emu_mode_name(m->cfg.mode);
    if (s->has_mode && s->mode != m->cfg.mode)
        emu_scenario_warn(s, s->mode_line,
                          "the scenario is written for mode %s and runs in mode %s: captions "
                          "and expectations about %s may not happen",
                          emu_mode_name(s->mode), mode, emu_mode_name(s->mode));
    /* A vmcs line that a later line overwrites (same field, same vCPUs or
     * all of them) never reaches a VM entry. */
    for (unsigned k = 0; k < s->nvmcs; k++) {
        const emu_vmcs_override *o = &s->vmcs[k];
        s->vmcs_live[k] = true;
        for (unsigned j = k + 1; j < s->nvmcs; j++) {
            const emu_vmcs_override *p = &s->vmcs[j];
            if (p->field == o->field && (p->cpu < 0 || p->cpu == o->cpu)) {
                s->vmcs_live[k] = false;
                emu_scenario_warn(s, o->line,
                                  "vmcs %#x (%s) is overwritten by line %d before the first VM "
                                  "entry: this line has no effect",
                                  o->field, field_name(o->field), p->line);
                break;
            }
        }
    }
    for (unsigned k = 0; k < s->nstim; k++) {
        const emu_trigger *w = &s->stim[k].when;
        const char *never = w->on_event ? never_matches(w->kind, w->has_a, w->a, true) : NULL;
        const char *why = w->on_event && !never ? impossible(m, w->kind, w->has_a, w->a) : NULL;
        if (never)
            emu_scenario_warn(s, s->stim[k].line,
                              "this stimulus waits for %s, which can never match: %s: it never "
                              "fires",
                              kind_name(w->kind), never);
        if (why)
            emu_scenario_warn(s, s->stim[k].line,
                              "this stimulus waits for %s, which cannot happen in mode %s (%s): "
                              "it never fires",
                              kind_name(w->kind), mode, why);
    }
    for (unsigned k = 0; k < s->ncap; k++) {
        const emu_trigger *w = &s->cap[k].when;
        const char *never = w->on_event ? never_matches(w->kind, w->has_a, w->a, true) : NULL;
        const char *why = w->on_event && !never ? impossible(m, w->kind, w->has_a, w->a) : NULL;
        if (never)
            emu_scenario_warn(s, s->cap[k].line,
                              "this caption waits for %s, which can never match: %s: it is "
                              "never shown",
                              kind_name(w->kind), never);
        if (why)
            emu_scenario_warn(s, s->cap[k].line,
                              "this caption waits for %s, which cannot happen in mode %s (%s): "
                              "it is never shown",
                              kind_name(w->kind), mode, why);
    }
    for (unsigned k = 0; k < s->nexp; k++) {
        const emu_expect *e = &s->exp[k];
        const char *never =
            e->what == EMU_EXPECT_EVENTS ? never_matches(e->kind, e->has_a, e->a, false) : NULL;
        if (e->what == EMU_EXPECT_EXITS && e->has_a &&
            strcmp(vmx_exit_reason_name((unsigned)e->a), "UNKNOWN") == 0)
            never = "no VM exit has that basic reason (SDM Appendix C)";
        if (never && !compare0(e->cmp, e->value))
            emu_scenario_warn(s, e->line, "this expectation can never hold: %s", never);
        const char *why = NULL;
        if (!never && e->what == EMU_EXPECT_EVENTS)
            why = impossible(m, e->kind, e->has_a, e->a);
        else if (!never && e->what == EMU_EXPECT_EXITS && e->has_a && machine_hv(m))
            why = impossible(m, VMX_EV_VMEXIT, true, e->a);
        if (why && !compare0(e->cmp, e->value))
            emu_scenario_warn(s, e->line,
                              "this expectation needs %s, which cannot happen in mode %s (%s)",
                              e->what == EMU_EXPECT_EXITS ? "such VM exits" : kind_name(e->kind),
                              mode, why);
        if (e->what == EMU_EXPECT_EXITS && !machine_hv(m) && !compare0(e->cmp, e->value))
            emu_scenario_warn(s, e->line,
                              "this expectation needs VM exits, and there are none in mode %s",
                              mode);
    }
}

/* At a VM entry (VMX_EV_VMENTRY, after it): a control or host-state field
 * a vmcs line set and that now holds another value was changed by the
 * hypervisor (or the guest's VMCS_WRITE hypercall) before the entry, so
 * the line did not have the effect it was written for. Guest-state fields
 * change architecturally at every VM exit (SDM 27.3) and are not
 * watched. */
void emu_scenario_lint_entry(emu_scenario *s, const cpu_obs_event *ev)
{
    emu_hv *hv = machine_hv(s->m);
    if (!hv || ev->cpu >= hv->ncpus)
        return;
    const vmx_vmcs *v = &hv->vcpu[ev->cpu].vmx.vmcs;
    for (unsigned k = 0; k < s->nvmcs; k++) {
        const emu_vmcs_override *o = &s->vmcs[k];
        if (!s->vmcs_live[k] || (o->cpu >= 0 && (unsigned)o->cpu != ev->cpu))
            continue;
        unsigned t = field_type(o->field);
        if (t != 0 && t != 3)
            continue;
        uint64_t now = vmx_vmcs_get(v, o->field);
        if (now == s->vmcs_value[k])
            continue;
        s->vmcs_live[k] = false; /* said once */
        emu_scenario_warn(s, o->line,
                          "vmcs %#x (%s) = %#llx was overwritten by the hypervisor: vCPU %u "
                          "entered at cycle %llu with %#llx",
                          o->field, field_name(o->field), (unsigned long long)s->vmcs_value[k],
                          (unsigned)ev->cpu, (unsigned long long)ev->cycle,
                          (unsigned long long)now);
    }
}

/* "vmx.exit cpu=1 a=0x38 (the 2nd)": what an `on` trigger waits for. */
static void trigger_text(const emu_trigger *w, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s", kind_name(w->kind));
    if (w->cpu >= 0 && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " cpu=%d", w->cpu);
    if (w->has_a && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " a=%#llx", (unsigned long long)w->a);
    if (w->count > 1 && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " count=%llu", (unsigned long long)w->count);
}

/* After the run: captions never shown and `on` stimuli never fired (those
 * already named as impossible in this mode are not named again). */
void emu_scenario_lint_end(emu_scenario *s)
{
    emu_machine *m = s->m;
    uint64_t end = m ? m->now : 0;
    char what[120];
    for (unsigned k = 0; k < s->ncap; k++) {
        const emu_caption *c = &s->cap[k];
        if (s->rt.shown[k] ||
            (c->when.on_event &&
             (impossible(m, c->when.kind, c->when.has_a, c->when.a) ||
              never_matches(c->when.kind, c->when.has_a, c->when.a, true))))
            continue;
        trigger_text(&c->when, what, sizeof(what));
        if (c->when.on_event)
            emu_scenario_warn(s, c->line,
                              "caption never shown: the run ended at cycle %llu before %s "
                              "happened",
                              (unsigned long long)end, what);
        else
            emu_scenario_warn(s, c->line,
                              "caption never shown: the run ended at cycle %llu, before cycle %llu",
                              (unsigned long long)end, (unsigned long long)c->when.cycle);
    }
    for (unsigned k = 0; k < s->nstim; k++) {
        const emu_trigger *w = &s->stim[k].when;
        if (!w->on_event || s->rt.fired[0][k] || impossible(m, w->kind, w->has_a, w->a) ||
            never_matches(w->kind, w->has_a, w->a, true))
            continue;
        trigger_text(w, what, sizeof(what));
        emu_scenario_warn(s, s->stim[k].line,
                          "stimulus never fired: the run ended at cycle %llu before %s happened",
                          (unsigned long long)end, what);
    }
}
