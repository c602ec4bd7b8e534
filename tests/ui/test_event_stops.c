/*
 * test_event_stops.c — every event is a stop: --at-event N and the key n
 * stop exactly after event N, also inside one instruction boundary (a VM
 * exit, the hypervisor's work and the next entry; posted-interrupt
 * processing and virtual-interrupt delivery), and the snapshot then shows
 * the state after that event and nothing later, with its caption.
 * Runs scenarios/irq_emulated.scn (events 15..27 are one boundary) and
 * scenarios/posted_demo.scn.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "ui/ui.h"
#include "vmx/vmx.h"

typedef struct demo {
    emu_scenario scn;
    emu_machine m;
    ui_machine_target mt;
    ui_target t;
    ui_snapshot snap;
    cpu_obs_event all[4096]; /* every event, in the recorder's order */
    unsigned nall;
} demo;

static vmx_vcpu *lookup(emu_machine *m, unsigned k)
{
    emu_hv *hv = m->hv;
    return hv && k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

static void keep(void *ctx, const cpu_obs_event *ev)
{
    demo *d = ctx;
    if (d->nall < sizeof(d->all) / sizeof(d->all[0]))
        d->all[d->nall] = *ev;
    d->nall++;
}

static demo *open_demo(const char *name)
{
    demo *d = calloc(1, sizeof(*d));
    ck_assert_ptr_nonnull(d);
    char path[1024], guest[4096], err[1024];
    snprintf(path, sizeof(path), "%s/scenarios/%s", APICV_SOURCE_DIR, name);
    ck_assert_msg(emu_scenario_load(path, &d->scn, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_guest_path(&d->scn, APICV_GUEST_DIR, guest, sizeof(guest), err,
                                          sizeof(err)),
                  "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(&d->scn, &cfg);
    ck_assert_msg(emu_machine_init(&d->m, &cfg, guest, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_apply(&d->scn, &d->m, err, sizeof(err)), "%s", err);
    ui_machine_target_init(&d->mt, &d->m, guest, lookup, &d->t);
    d->mt.scenario = &d->scn;
    cpu_obs_subscribe(&d->m.obs, keep, d);
    return d;
}

static void close_demo(demo *d)
{
    ui_machine_target_detach(&d->mt);
    emu_machine_free(&d->m);
    emu_scenario_free(&d->scn);
    free(d);
}

/* As --at-event N does. */
static void at_event(demo *d, uint64_t n)
{
    d->mt.rec.pause_at_total = n;
    while (!d->mt.rec.hit && !d->m.finished)
        d->t.run(d->t.ctx, 1000000);
    memset(&d->snap, 0, sizeof(d->snap));
    d->t.snapshot(d->t.ctx, &d->snap);
}

static const ui_event *last(const ui_snapshot *s)
{
    ck_assert_uint_gt(s->nev, 0);
    return &s->ev[s->nev - 1];
}

/* irq_emulated.scn, one instruction boundary of CPU 0 at cycle 30012:
 * the kick's external-interrupt exit, the software APIC, the injection. */
static const struct {
    unsigned n;
    unsigned kind;
    uint64_t a;
} emulated[] = {
    {15, APIC_EV_ACK, 0xFD},          {16, VMX_EV_VMEXIT, 1},
    {17, APIC_EV_EOI, 0xFD},          {18, APIC_EV_ACK, 0x41},
    {19, EMU_SCN_EV_CAPTION, 4},      {20, EMU_HV_EV_INJECT, 0x41},
    {21, VMX_EV_VMENTRY, 0},          {22, EMU_SCN_EV_CAPTION, 5},
    {23, VMX_EV_EVENT_INJECTED, 0x41}, {24, EMU_SCN_EV_CAPTION, 6},
    {25, VMX_EV_VMEXIT, 44},          {26, APIC_EV_EOI, 0x41},
    {27, VMX_EV_VMENTRY, 0},
};

START_TEST(at_event_stops_inside_a_boundary)
{
    static ui_snapshot prev;
    uint64_t rip_at_entry = 0;
    memset(&prev, 0, sizeof(prev));
    for (unsigned i = 0; i < sizeof(emulated) / sizeof(emulated[0]); i++) {
        demo *d = open_demo("irq_emulated.scn");
        at_event(d, emulated[i].n);
        const ui_snapshot *s = &d->snap;
        const ui_cpu_snap *c = &s->cpu[0];
        /* Exactly event N, nothing after it. */
        ck_assert_uint_eq(s->ev_total, emulated[i].n);
        ck_assert_uint_eq(last(s)->kind, emulated[i].kind);
        ck_assert_uint_eq(last(s)->a, emulated[i].a);
        /* The title bar's cycle is the event's (inside the scheduler's
         * round that began at s->now), as the timeline's "now" says. */
        ck_assert_uint_eq(ui_snapshot_cycle(s), last(s)->cycle);
        if (emulated[i].n == 16) {
            ck_assert_uint_gt(last(s)->cycle, s->now);
            ck_assert_uint_eq(ui_snapshot_cycle(s), c->cycle);
        }
        switch (emulated[i].n) {
        case 15: /* the kick FDh acknowledged: in service, still non-root */
            ck_assert(ui_vec_test(&c->isr, 0xFD));
            ck_assert(!ui_vec_test(&c->irr, 0xFD));
            ck_assert_int_eq(c->where, UI_WHERE_NONROOT);
            ck_assert_uint_eq(c->exits, 1);
            break;
        case 16: /* the external-interrupt exit: root, one more exit */
            ck_assert_int_eq(c->where, UI_WHERE_ROOT);
            ck_assert_uint_eq(c->exits, 2);
            ck_assert_uint_eq(c->last_exit & 0xFFFF, 1);
            ck_assert(ui_vec_test(&c->isr, 0xFD));
            break;
        case 17: /* the host's EOI of FDh */
            ck_assert(!ui_vec_test(&c->isr, 0xFD));
            ck_assert_int_eq(c->where, UI_WHERE_ROOT);
            break;
        case 18: /* the hypervisor's software APIC acknowledges 41h: its ISR,
                  * shown where VISR would be */
            ck_assert(c->sw_apic);
            ck_assert(ui_vec_test(&c->visr, 0x41));
            ck_assert(!ui_vec_test(&c->virr, 0x41));
            ck_assert_uint_eq(c->vppr, 0x40);
            break;
        case 26: /* the host emulates the EOI on its software APIC */
            ck_assert(!ui_vec_test(&c->visr, 0x41));
            ck_assert_uint_eq(c->vppr, 0);
            break;
        case 21: /* entered again */
            ck_assert_int_eq(c->where, UI_WHERE_NONROOT);
            ck_assert_uint_eq(c->entries, prev.cpu[0].entries + 1);
            rip_at_entry = c->rip;
            break;
        case 25: /* the handler's EOI write: an APIC-access exit from elsewhere */
            ck_assert_int_eq(c->where, UI_WHERE_ROOT);
            ck_assert_uint_ne(c->rip, rip_at_entry);
            ck_assert_uint_eq(c->last_exit & 0xFFFF, 44);
            break;
        case 27:
            ck_assert_int_eq(c->where, UI_WHERE_NONROOT);
            break;
        default:
            break;
        }
        /* A caption event shows its caption. */
        if (emulated[i].kind == EMU_SCN_EV_CAPTION)
            ck_assert_str_eq(s->caption, emu_scenario_caption_text(&d->scn, (unsigned)emulated[i].a));
        prev = *s;
        close_demo(d);
    }
}
END_TEST

START_TEST(n_steps_one_event_at_a_time)
{
    demo *d = open_demo("posted_demo.scn");
    ui_view *v = calloc(1, sizeof(*v));
    ck_assert_ptr_nonnull(v);
    ui_view_init(v);
    ui_session s;
    ui_session_init(&s, &d->t, v);
    at_event(d, 21);
    ui_session_refresh(&s);
    ck_assert_uint_eq(v->snap.ev_total, 21);
    bool saw_on_clear = false, saw_delivery = false;
    uint64_t at = 21;
    for (int press = 0; press < 14; press++) {
        ui_session_command(&s, UI_CMD_NEXT_EVENT, 0);
        for (int i = 0; i < 1000 && s.state != UI_PAUSED; i++)
            ui_session_tick(&s, 16);
        ck_assert_int_eq(s.state, UI_PAUSED);
        ui_session_refresh(&s);
        /* The next event that is not chatter, and the state right after it. */
        uint64_t want = at + 1;
        while (emu_event_is_chatter(&d->all[want - 1]))
            want++;
        ck_assert_uint_eq(v->snap.ev_total, want);
        ck_assert_uint_eq(last(&v->snap)->kind, d->all[want - 1].kind);
        ck_assert_uint_eq(last(&v->snap)->a, d->all[want - 1].a);
        const ui_event *e = last(&v->snap);
        const ui_cpu_snap *c = &v->snap.cpu[e->cpu];
        if (e->kind == VMX_EV_PI_ON_CLEAR) {
            saw_on_clear = true;
            ck_assert(!c->on);
            ck_assert(ui_vec_test(&c->pir, 0x41)); /* PIR moves at step 5 */
            ck_assert_str_eq(v->snap.caption,
                             "Posted-interrupt processing, step 3: ON is cleared in the descriptor");
        }
        if (e->kind == VMX_EV_PI_PIR_TO_VIRR) {
            ck_assert(!ui_vec_test(&c->pir, 0x41));
            ck_assert(ui_vec_test(&c->virr, 0x41));
            ck_assert_uint_eq(c->rvi, 0); /* RVI follows at step 6 */
        }
        if (e->kind == VMX_EV_PI_RVI_UPDATE)
            ck_assert_uint_eq(c->rvi, 0x41);
        if (e->kind == VMX_EV_VINTR_DELIVERED) {
            ck_assert(ui_vec_test(&c->visr, 0x41));
            ck_assert(!ui_vec_test(&c->virr, 0x41));
            ck_assert_uint_eq(c->svi, 0x41);
            saw_delivery = true;
        }
        at = want;
    }
    ck_assert(saw_on_clear);
    ck_assert(saw_delivery);
    /* A step runs the machine on: the stops are gone. */
    ui_session_command(&s, UI_CMD_STEP, 0);
    ck_assert_ptr_null(ui_recorder_current_stop(&d->mt.rec));
    free(v);
    close_demo(d);
}
END_TEST

/* A vCPU the host took off its CPU is shown as descheduled (not as root
 * and active), with SN set and its posted interrupt waiting in PIR. */
START_TEST(descheduled_vcpu)
{
    demo *d = open_demo("desched_posted.scn");
    d->t.run(d->t.ctx, 50000 - d->m.now);
    memset(&d->snap, 0, sizeof(d->snap));
    d->t.snapshot(d->t.ctx, &d->snap);
    ck_assert(d->snap.cpu[1].descheduled);
    ck_assert(d->snap.cpu[1].sn);
    ck_assert(!d->snap.cpu[0].descheduled);
    while (!d->m.finished)
        d->t.run(d->t.ctx, 100000);
    d->t.snapshot(d->t.ctx, &d->snap);
    ck_assert(!d->snap.cpu[1].descheduled);
    close_demo(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event_stops");
    TCase *t = tcase_create("event_stops");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, at_event_stops_inside_a_boundary);
    tcase_add_test(t, n_steps_one_event_at_a_time);
    tcase_add_test(t, descheduled_vcpu);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
