/*
 * test_timeline.c — the timeline: one lane per vCPU, marks for raises, VM
 * exits and entries, deliveries and EOIs at their cycles (left to right in
 * cycle order, each in its CPU's lane), labelled axis ticks, the current
 * event framed white, hover framing a mark, and the hit test finding the
 * mark under the mouse (a click goes to its event). Marks of a real run
 * carry their event and its number on the bus.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "ui/ui.h"

#define W 1600
#define H 900

typedef struct box {
    int x0, y0, x1, y1, n;
} box;

static uint32_t px(SDL_Surface *s, int x, int y)
{
    return ((uint32_t *)((uint8_t *)s->pixels + y * s->pitch))[x] & 0xFFFFFF;
}

/* Where pixels of colour rgb lie in r below its title line. */
static box find(SDL_Surface *s, const ui_layout *l, uint32_t rgb)
{
    const ui_rect *r = &l->timeline;
    box b = {W, H, -1, -1, 0};
    for (int y = r->y + l->ch + 2; y < r->y + r->h; y++)
        for (int x = r->x; x < r->x + r->w; x++)
            if (px(s, x, y) == rgb) {
                b.n++;
                b.x0 = x < b.x0 ? x : b.x0;
                b.y0 = y < b.y0 ? y : b.y0;
                b.x1 = x > b.x1 ? x : b.x1;
                b.y1 = y > b.y1 ? y : b.y1;
            }
    return b;
}

static void add_mark(ui_snapshot *s, uint64_t cycle, unsigned cpu, ui_tl_kind tl, uint16_t kind,
                     uint64_t ev_no)
{
    ui_mark *m = &s->marks[s->nmarks++];
    memset(m, 0, sizeof(*m));
    m->cycle = cycle;
    m->cpu = (uint8_t)cpu;
    m->tl = (uint8_t)tl;
    m->ev_no = ev_no;
    m->ev.cycle = cycle;
    m->ev.cpu = (uint16_t)cpu;
    m->ev.kind = kind;
    m->ev.a = 0x41;
}

typedef struct scene {
    ui_view *v;
    SDL_Surface *surf;
    SDL_Renderer *ren;
    ui_gfx *g;
    ui_layout l;
} scene;

static void render(scene *sc)
{
    ui_render(sc->g, sc->v, W, H, &sc->l);
    SDL_RenderPresent(sc->ren);
}

START_TEST(marks_lanes_axis_and_current_event)
{
    scene sc;
    sc.v = calloc(1, sizeof(*sc.v));
    ui_view_init(sc.v);
    ui_snapshot *s = calloc(1, sizeof(*s));
    s->ncpus = 2;
    s->now = 5000;
    add_mark(s, 1000, 1, UI_TL_EXIT, VMX_EV_VMEXIT, 10);
    s->marks[0].ev.a = 1; /* external interrupt: red */
    add_mark(s, 1800, 1, UI_TL_ENTRY, VMX_EV_VMENTRY, 11);
    add_mark(s, 2600, 0, UI_TL_RAISE, EMU_EV_MSI_RAISE, 12);
    add_mark(s, 3400, 0, UI_TL_DELIVERY, VMX_EV_VINTR_DELIVERED, 13);
    add_mark(s, 4200, 0, UI_TL_EOI, APIC_EV_EOI, 14);
    add_mark(s, 4600, 1, UI_TL_EXIT, VMX_EV_VMEXIT, 15);
    s->marks[5].ev.a = 56; /* APIC write: its own colour */
    add_mark(s, 4800, 1, UI_TL_DELIVERY, VMX_EV_EVENT_INJECTED, 16); /* another path */
    s->ev[0] = s->marks[4].ev;
    s->nev = 1;
    s->ev_total = 14; /* mark 15 is after it: seen before going back */
    ui_view_accept(sc.v, s);
    sc.surf = SDL_CreateRGBSurfaceWithFormat(0, W, H, 32, SDL_PIXELFORMAT_ARGB8888);
    sc.ren = SDL_CreateSoftwareRenderer(sc.surf);
    char err[256];
    sc.g = ui_gfx_create(sc.ren, err, sizeof(err));
    ck_assert_msg(sc.g != NULL, "%s", err);
    render(&sc);

    box ex = find(sc.surf, &sc.l, 0xff5555), en = find(sc.surf, &sc.l, 0xffb86c),
        ra = find(sc.surf, &sc.l, 0xd45cff), de = find(sc.surf, &sc.l, 0x50fa7b),
        eo = find(sc.surf, &sc.l, 0x8be9fd);
    ck_assert(ex.n > 0 && en.n > 0 && ra.n > 0 && de.n > 0 && eo.n > 0);
    /* Cycle order, left to right, over the width of the plot. */
    ck_assert_int_lt(ex.x1, en.x0);
    ck_assert_int_lt(en.x1, ra.x0);
    ck_assert_int_lt(ra.x1, de.x0);
    ck_assert_int_lt(de.x1, eo.x0);
    ck_assert_int_gt(eo.x0 - ex.x0, sc.l.timeline.w / 2);
    /* Exits are coloured by reason: the APIC-write exit is not red, and
     * lies right of the EOI in cpu1's lane. */
    box aw = find(sc.surf, &sc.l, 0xff6e9c);
    ck_assert_int_gt(aw.n, 0);
    ck_assert_int_gt(aw.x0, eo.x1);
    ck_assert_int_eq(aw.y0, ex.y0);
    ck_assert_int_lt(ex.x1, en.x0); /* the red box holds only the first exit */
    /* Deliveries by path: the injection is not the virtual delivery's green. */
    box in = find(sc.surf, &sc.l, 0xc3e88d);
    ck_assert_int_gt(in.n, 0);
    ck_assert_int_gt(in.x0, aw.x1);
    ck_assert_int_lt(de.x1, eo.x0); /* the green box holds only the virtual delivery */
    ck_assert_int_gt(in.y0, ex.y1); /* cpu1's bottom half, under its exits */
    /* cpu1's lane is below cpu0's; exits and entries in a lane's top half,
     * raises, deliveries and EOIs in its bottom half. */
    ck_assert_int_gt(ex.y0, ra.y1 - 1);
    ck_assert_int_eq(ex.y0, en.y0);
    ck_assert_int_eq(ra.y0, de.y0);
    ck_assert_int_eq(de.y0, eo.y0);
    /* The current event (the EOI, event 14): a white frame around its mark. */
    ck_assert_int_eq(px(sc.surf, eo.x0 - 2, eo.y0), 0xffffff);
    ck_assert_int_ne(px(sc.surf, ra.x0 - 2, ra.y0), 0xffffff);
    /* Axis labels under the lanes (dim text). */
    box ax = find(sc.surf, &sc.l, 0x7c8794);
    ck_assert_int_gt(ax.n, 20);
    ck_assert_int_gt(ax.y1, eo.y1);

    /* The mouse over each mark finds it; away from them, nothing. */
    uint64_t ev = 0;
    ck_assert(ui_layout_hit_mark(&sc.l, sc.v, ex.x0, ex.y0 + 1, &ev));
    ck_assert_uint_eq(ev, 10);
    ck_assert(ui_layout_hit_mark(&sc.l, sc.v, ra.x0 + 1, ra.y0, &ev));
    ck_assert_uint_eq(ev, 12);
    ck_assert(ui_layout_hit_mark(&sc.l, sc.v, eo.x0, eo.y0, &ev));
    ck_assert_uint_eq(ev, 14);
    ck_assert(!ui_layout_hit_mark(&sc.l, sc.v, (ex.x0 + en.x0) / 2, ex.y0, &ev));
    ck_assert(!ui_layout_hit_mark(&sc.l, sc.v, ex.x0, ra.y0, &ev)); /* cpu0's lane: no exit */
    /* No tooltip without hover. */
    ck_assert_int_eq(find(sc.surf, &sc.l, 0x2a3440).n, 0);
    /* Hovered, the raise is framed too, and a tooltip beside it says what
     * it is (inside the timeline, right of the mark). */
    sc.v->tl_hover = 12;
    render(&sc);
    ck_assert_int_eq(px(sc.surf, ra.x0 - 2, ra.y0), 0xffffff);
    box tip = find(sc.surf, &sc.l, 0x2a3440);
    ck_assert_int_gt(tip.n, 10 * sc.l.cw);
    ck_assert_int_gt(tip.x0, ra.x1);
    ck_assert_int_lt(tip.x1, sc.l.timeline.x + sc.l.timeline.w);

    ui_gfx_destroy(sc.g);
    SDL_DestroyRenderer(sc.ren);
    SDL_FreeSurface(sc.surf);
    free(s);
    free(sc.v);
}
END_TEST

static vmx_vcpu *hv_lookup(emu_machine *m, unsigned k)
{
    emu_hv *hv = m->hv;
    return hv && k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

static void count(void *ctx, const cpu_obs_event *ev)
{
    (void)ev;
    (*(uint64_t *)ctx)++;
}

START_TEST(marks_of_a_real_run_name_their_events)
{
    char path[1024], guest[4096], err[1024];
    emu_scenario *scn = calloc(1, sizeof(*scn));
    emu_machine *m = calloc(1, sizeof(*m));
    ui_machine_target *mt = calloc(1, sizeof(*mt));
    ui_snapshot *s = calloc(1, sizeof(*s));
    snprintf(path, sizeof(path), "%s/scenarios/posted_demo.scn", APICV_SOURCE_DIR);
    ck_assert_msg(emu_scenario_load(path, scn, err, sizeof(err)), "%s", err);
    ck_assert(emu_scenario_guest_path(scn, APICV_GUEST_DIR, guest, sizeof(guest), err, sizeof(err)));
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(scn, &cfg);
    ck_assert_msg(emu_machine_init(m, &cfg, guest, err, sizeof(err)), "%s", err);
    ck_assert_msg(emu_scenario_apply(scn, m, err, sizeof(err)), "%s", err);
    uint64_t n = 0;
    cpu_obs_subscribe(&m->obs, count, &n);
    ui_target t;
    ui_machine_target_init(mt, m, guest, hv_lookup, &t);
    /* Event 41 of the demo: inside the boundary that delivers 41h. */
    char e2[64];
    ck_assert(ui_target_run_to_event(&mt->rec, m, t.run, t.ctx, 41, e2, sizeof(e2)));
    t.snapshot(t.ctx, s);
    ck_assert_uint_eq(s->ev_total, 41);
    bool kinds[UI_TL_COUNT] = {false};
    for (unsigned i = 0; i < s->nmarks; i++) {
        const ui_mark *mk = &s->marks[i];
        kinds[mk->tl] = true;
        ck_assert_uint_le(mk->ev_no, s->ev_total);
        /* The same event as the events ring holds under that number. */
        uint64_t back = s->ev_total - mk->ev_no;
        if (back < s->nev) {
            const ui_event *e = &s->ev[s->nev - 1 - back];
            ck_assert_uint_eq(e->kind, mk->ev.kind);
            ck_assert_uint_eq(e->cycle, mk->cycle);
        }
        ui_tl_kind tl;
        unsigned lane;
        ck_assert(ui_timeline_kind(&mk->ev, &tl, &lane));
        ck_assert_uint_eq(tl, mk->tl);
        ck_assert_uint_eq(lane, mk->cpu);
    }
    /* Each vCPU's descriptor names its own CPU (the hypervisor's NDST). */
    for (unsigned k = 0; k < s->ncpus; k++) {
        unsigned cpu;
        uint32_t id;
        ck_assert(ui_ndst_cpu(s, &s->cpu[k], &cpu, &id));
        ck_assert_uint_eq(cpu, k);
    }
    /* By then: entries, an exit, the MSI raised for cpu1, a delivery, an EOI. */
    for (unsigned k = 0; k < UI_TL_COUNT; k++)
        ck_assert_msg(kinds[k], "no mark of kind %u", k);
    ui_machine_target_detach(mt);
    emu_machine_free(m);
    emu_scenario_free(scn);
    free(s);
    free(mt);
    free(m);
    free(scn);
}
END_TEST

/* Named values: NDST names the CPU whose APIC has that ID (SDM 29.6:
 * NDST[15:8] in xAPIC mode, all of it in x2APIC mode). */
START_TEST(ndst_names_a_cpu)
{
    ui_snapshot *s = calloc(1, sizeof(*s));
    s->ncpus = 3;
    for (unsigned k = 0; k < 3; k++)
        s->cpu[k].apic_id = k;
    unsigned cpu = 99;
    uint32_t id;
    s->cpu[0].ndst = 0x200;
    ck_assert(ui_ndst_cpu(s, &s->cpu[0], &cpu, &id));
    ck_assert_uint_eq(cpu, 2);
    ck_assert_uint_eq(id, 2);
    s->cpu[0].x2apic = true;
    s->cpu[0].ndst = 1;
    ck_assert(ui_ndst_cpu(s, &s->cpu[0], &cpu, &id));
    ck_assert_uint_eq(cpu, 1);
    s->cpu[0].ndst = 0x200; /* x2APIC ID 512: no such CPU */
    ck_assert(!ui_ndst_cpu(s, &s->cpu[0], &cpu, &id));
    ck_assert_uint_eq(id, 0x200);
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_timeline");
    TCase *tc = tcase_create("timeline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, marks_lanes_axis_and_current_event);
    tcase_add_test(tc, marks_of_a_real_run_name_their_events);
    tcase_add_test(tc, ndst_names_a_cpu);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
