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
     * lies right of the EOI in cpu1's lane. It comes after the current
     * event (seen before going back), so it is drawn dim: its colour at a
     * quarter. */
    ck_assert_int_eq(find(sc.surf, &sc.l, 0xff6e9c).n, 0);
    box aw = find(sc.surf, &sc.l, (0xff6e9c >> 2) & 0x3f3f3f);
    ck_assert_int_gt(aw.n, 0);
    ck_assert_int_gt(aw.x0, eo.x1);
    ck_assert_int_eq(aw.y0, ex.y0);
    ck_assert_int_lt(ex.x1, en.x0); /* the red box holds only the first exit */
    /* Deliveries by path: the injection is not the virtual delivery's green. */
    box in = find(sc.surf, &sc.l, (0xc3e88d >> 2) & 0x3f3f3f);
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
    /* The marks of the span on screen, as the window asks for them: the
     * rest of that instruction boundary (the machine ran past event 41 to
     * stop) is not among them, nothing after the event is. */
    ck_assert_uint_gt(mt->rec.total, 41);
    t.marks(t.ctx, s, NULL);
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


/* ---- the whole run: the mark store, zoom and pan ----------------------------- */

/* An exit of reason 1 on CPU cpu at cycle, through the recorder. */
static void feed_exit(ui_recorder *rec, uint64_t cycle, unsigned cpu)
{
    cpu_obs_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.cycle = cycle;
    ev.cpu = (uint16_t)cpu;
    ev.kind = VMX_EV_VMEXIT;
    ev.a = 1;
    ui_recorder_event(rec, &ev);
}

static void snap_of(ui_snapshot *s, const ui_recorder *rec, const ui_tl_view *tv)
{
    memset(s, 0, sizeof(*s));
    s->ncpus = 2;
    ui_snapshot_events(s, rec);
    s->now = s->nev ? s->ev[s->nev - 1].cycle : 0;
    ui_snapshot_marks(s, rec, tv);
}

/* Every mark of the run is kept (not only the last 256), in a store
 * bounded by UI_MARKS_MAX: past it, every other mark goes, the whole run
 * stays covered and the newest marks stay in full. */
START_TEST(the_store_keeps_the_whole_run_bounded)
{
    ui_recorder *rec = calloc(1, sizeof(*rec));
    ui_snapshot *s = calloc(1, sizeof(*s));
    ui_recorder_init(rec, NULL);
    for (unsigned i = 0; i < 1000; i++)
        feed_exit(rec, 10 + 10 * (uint64_t)i, i % 2);
    ck_assert_uint_eq(rec->nstore, 1000);
    ck_assert_uint_eq(rec->stride, 1);
    /* Following (the default): the newest 256 marks' span. */
    snap_of(s, rec, NULL);
    ck_assert_uint_eq(s->nmarks, 256);
    ck_assert_uint_eq(s->marks[0].ev_no, 745);
    ck_assert_uint_ge(s->tl_t0, 7450);
    ck_assert_uint_eq(s->tl_first, 10);
    ck_assert_uint_eq(s->tl_last, 10000);
    /* The whole run: every mark, from the first. */
    ui_tl_view whole = {.whole = true};
    snap_of(s, rec, &whole);
    ck_assert_uint_eq(s->nmarks, 1000);
    ck_assert_uint_eq(s->tl_sample, 1);
    ck_assert_uint_le(s->tl_t0, 10);
    ck_assert_uint_gt(s->tl_t1, 10000);
    for (unsigned i = 0; i < s->nmarks; i++)
        ck_assert_uint_eq(s->marks[i].ev_no, i + 1);
    /* A span early in the run: exactly its marks. */
    ui_tl_view early = {.fixed = true, .t0 = 1000, .span = 1000};
    snap_of(s, rec, &early);
    ck_assert_uint_eq(s->tl_t0, 1000);
    ck_assert_uint_eq(s->tl_t1, 2000);
    ck_assert_uint_eq(s->nmarks, 101);
    ck_assert_uint_eq(s->marks[0].cycle, 1000);
    ck_assert_uint_eq(s->marks[100].cycle, 2000);

    /* Past the bound: halved, one in 2 kept from then on. */
    uint64_t n = UI_MARKS_MAX + 5000;
    for (uint64_t i = 1000; i < n; i++)
        feed_exit(rec, 10 + 10 * i, (unsigned)(i % 2));
    ck_assert_uint_le(rec->nstore, UI_MARKS_MAX);
    ck_assert_uint_ge(rec->nstore, UI_MARKS_MAX / 2);
    ck_assert_uint_eq(rec->stride, 2);
    ck_assert_uint_le(rec->capstore, UI_MARKS_MAX);
    snap_of(s, rec, &whole);
    ck_assert_uint_le(s->tl_t0, 10);
    ck_assert_uint_eq(s->tl_last, 10 * n);
    ck_assert_uint_eq(s->tl_stride, 2);
    ck_assert_uint_gt(s->tl_sample, 1);
    ck_assert_uint_le(s->nmarks, UI_TIMELINE);
    ck_assert_uint_eq(s->marks[0].cycle, 10);       /* the run's first mark */
    ck_assert_uint_eq(s->marks[s->nmarks - 1].ev_no, n); /* the current one */
    /* Near the end every mark is there (the newest are kept in full). */
    ui_tl_view tail = {.fixed = true, .t0 = 10 * (n - 100), .span = 10 * 99};
    snap_of(s, rec, &tail);
    ck_assert_uint_eq(s->nmarks, 100);
    ui_recorder_free(rec);
    free(rec);
    free(s);
}
END_TEST

/* Going back (a restart, a jump to an earlier event) keeps the marks
 * after the moment on screen: the run is deterministic, the same marks
 * come again and are not stored twice. */
START_TEST(going_back_keeps_the_marks_ahead)
{
    ui_recorder *rec = calloc(1, sizeof(*rec));
    ui_snapshot *s = calloc(1, sizeof(*s));
    ui_recorder_init(rec, NULL);
    for (unsigned i = 0; i < 500; i++)
        feed_exit(rec, 100 * (uint64_t)i, i % 2);
    ui_recorder_rewind(rec, NULL);
    ck_assert_uint_eq(rec->total, 0);
    for (unsigned i = 0; i < 200; i++)
        feed_exit(rec, 100 * (uint64_t)i, i % 2);
    ck_assert_uint_eq(rec->nstore, 500);
    ui_tl_view whole = {.whole = true};
    snap_of(s, rec, &whole);
    ck_assert_uint_eq(s->ev_total, 200);
    ck_assert_uint_eq(s->nmarks, 500);
    ck_assert_uint_eq(s->marks[499].ev_no, 500); /* ahead of the current event */
    ck_assert_uint_eq(s->tl_last, 49900);
    ui_recorder_free(rec);
    free(rec);
    free(s);
}
END_TEST

/* A target over a recorder alone, for the session's commands. */
typedef struct fake {
    ui_recorder rec;
    uint64_t went_to;
} fake;

static void fake_snapshot(void *ctx, ui_snapshot *s)
{
    fake *f = ctx;
    snap_of(s, &f->rec, NULL);
}

static void fake_marks(void *ctx, ui_snapshot *s, const ui_tl_view *tv)
{
    fake *f = ctx;
    ui_snapshot_marks(s, &f->rec, tv);
}

static bool fake_goto(void *ctx, uint64_t n, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ((fake *)ctx)->went_to = n;
    return true;
}

/* The cycle under pixel column x of the plot. */
static double cycle_at(const ui_layout *l, const ui_view *v, int x, int y)
{
    double frac;
    int w;
    ck_assert(ui_layout_timeline_at(l, v, x, y, &frac, &w));
    return (double)v->snap.tl_t0 + frac * (double)(v->snap.tl_t1 - v->snap.tl_t0);
}

/* Keys zoom and pan the cycle axis, Home shows the whole run and End
 * follows the current event again; the wheel zooms at the mouse (the
 * cycle under it stays there), a drag pans, and a click without a drag
 * still goes to the mark under it. What is drawn follows the span. */
START_TEST(zoom_and_pan_with_keys_wheel_and_drag)
{
    fake *f = calloc(1, sizeof(*f));
    ui_view *v = calloc(1, sizeof(*v));
    ui_session *ss = calloc(1, sizeof(*ss));
    ui_recorder_init(&f->rec, NULL);
    for (unsigned i = 0; i < 2000; i++)
        feed_exit(&f->rec, 1000 + 100 * (uint64_t)i, i % 2);
    ui_target t = {.ctx = f, .snapshot = fake_snapshot, .marks = fake_marks, .goto_event = fake_goto};
    ui_view_init(v);
    ui_session_init(ss, &t, v);
    ui_session_refresh(ss);
    uint64_t last = 1000 + 100 * 1999;
    /* Following: the newest 256 marks. */
    ck_assert_uint_eq(v->snap.nmarks, 256);
    ck_assert_uint_gt(v->snap.tl_t0, last - 100 * 256);
    ui_session_command(ss, UI_CMD_TL_WHOLE, 0);
    ck_assert_uint_eq(v->snap.tl_t0, 1000);
    ck_assert_uint_gt(v->snap.tl_t1, last);
    /* 2000 marks: one in two drawn, and the current event's. */
    ck_assert_uint_eq(v->snap.tl_sample, 2);
    ck_assert_uint_eq(v->snap.nmarks, 1001);
    ck_assert_uint_eq(v->snap.marks[1000].ev_no, 2000);
    uint64_t whole_span = v->snap.tl_t1 - v->snap.tl_t0;
    ui_session_command(ss, UI_CMD_TL_ZOOM_IN, 0);
    ck_assert_uint_eq(v->snap.tl_t1 - v->snap.tl_t0, whole_span / 2);
    ck_assert(v->tl.fixed);
    uint64_t mid = v->snap.tl_t0;
    ck_assert_uint_gt(mid, 1000 + whole_span / 4 - 2);
    ck_assert_uint_lt(mid, 1000 + whole_span / 4 + 2);
    ck_assert_uint_lt(v->snap.nmarks, 1100);
    ck_assert_uint_gt(v->snap.nmarks, 900);
    for (unsigned i = 0; i < v->snap.nmarks; i++) {
        ck_assert_uint_ge(v->snap.marks[i].cycle, v->snap.tl_t0);
        ck_assert_uint_le(v->snap.marks[i].cycle, v->snap.tl_t1);
    }
    ui_session_command(ss, UI_CMD_TL_LEFT, 0);
    uint64_t want0 = mid - (whole_span / 2) / 4;
    ck_assert_uint_le(v->snap.tl_t0, want0 + 1);
    ck_assert_uint_ge(v->snap.tl_t0 + 1, want0);
    ui_session_command(ss, UI_CMD_TL_RIGHT, 0);
    ui_session_command(ss, UI_CMD_TL_RIGHT, 0);
    ck_assert_uint_gt(v->snap.tl_t0, mid);
    ui_session_command(ss, UI_CMD_TL_ZOOM_OUT, 0);
    ck_assert_uint_eq(v->snap.tl_t1 - v->snap.tl_t0, (whole_span / 2) * 2);
    ui_session_command(ss, UI_CMD_TL_FOLLOW, 0);
    ck_assert(!v->tl.fixed && !v->tl.whole);
    ck_assert_uint_eq(v->snap.nmarks, 256);

    /* The mouse, on the layout of a 1600x900 window. */
    ui_layout l;
    ui_layout_compute_mode(&l, W, H, 9, 18, false);
    ui_session_command(ss, UI_CMD_TL_WHOLE, 0);
    int y = l.timeline.y + l.timeline.h / 2;
    int x = l.timeline.x + l.timeline.w / 3;
    double c0 = cycle_at(&l, v, x, y);
    bool went;
    ck_assert(ui_session_timeline_mouse(ss, &l, UI_MOUSE_WHEEL, x, y, 1, &went));
    ck_assert(!went);
    uint64_t span = v->snap.tl_t1 - v->snap.tl_t0;
    ck_assert_uint_lt(span, whole_span * 2 / 3 + 2);
    ck_assert_uint_gt(span, whole_span * 2 / 3 - 2);
    double c1 = cycle_at(&l, v, x, y);
    ck_assert_msg(c1 > c0 - 2 && c1 < c0 + 2, "the wheel moved cycle %.0f to %.0f", c0, c1);
    /* A drag of 100 pixels to the left: later cycles come in. */
    uint64_t t0 = v->snap.tl_t0;
    double frac;
    int pw;
    ck_assert(ui_layout_timeline_at(&l, v, x, y, &frac, &pw));
    ck_assert(ui_session_timeline_mouse(ss, &l, UI_MOUSE_DOWN, x, y, 0, &went));
    ck_assert(ui_session_timeline_mouse(ss, &l, UI_MOUSE_MOVE, x - 100, y, 0, &went));
    ck_assert(ui_session_timeline_mouse(ss, &l, UI_MOUSE_UP, x - 100, y, 0, &went));
    ck_assert(!went);
    ck_assert_uint_eq(f->went_to, 0);
    double moved = (double)(v->snap.tl_t0 - t0), want = 100.0 * (double)span / (double)pw;
    ck_assert_msg(moved > want - 2 && moved < want + 2, "moved %.0f, want %.0f", moved, want);
    ck_assert_uint_eq(v->snap.tl_t1 - v->snap.tl_t0, span);
    /* A click on a mark (no drag) goes to its event. */
    uint64_t ev = 0;
    int mx = -1, my = -1;
    for (int yy = l.timeline.y; yy < l.timeline.y + l.timeline.h && mx < 0; yy++)
        for (int xx = l.timeline.x + l.timeline.w / 2; xx < l.timeline.x + l.timeline.w; xx++)
            if (ui_layout_hit_mark(&l, v, xx, yy, &ev)) {
                mx = xx;
                my = yy;
                break;
            }
    ck_assert_int_ge(mx, 0);
    ck_assert(ui_session_timeline_mouse(ss, &l, UI_MOUSE_DOWN, mx, my, 0, &went));
    ck_assert(ui_session_timeline_mouse(ss, &l, UI_MOUSE_MOVE, mx + 1, my, 0, &went));
    ck_assert(ui_session_timeline_mouse(ss, &l, UI_MOUSE_UP, mx + 1, my, 0, &went));
    ck_assert(went);
    ck_assert_uint_eq(f->went_to, ev);
    /* Outside the timeline the mouse is not the timeline's. */
    ck_assert(!ui_session_timeline_mouse(ss, &l, UI_MOUSE_WHEEL, 5, 5, 1, &went));
    ui_recorder_free(&f->rec);
    free(ss);
    free(v);
    free(f);
}
END_TEST

/* Zoomed into an early span, the marks are spread over the plot in cycle
 * order and the overview bar lights the span's place in the run. */
START_TEST(a_zoomed_span_is_drawn_across_the_plot)
{
    scene sc;
    sc.v = calloc(1, sizeof(*sc.v));
    ui_view_init(sc.v);
    ui_recorder *rec = calloc(1, sizeof(*rec));
    ui_recorder_init(rec, NULL);
    for (unsigned i = 0; i < 1000; i++)
        feed_exit(rec, 100 * (uint64_t)i, 0);
    ui_snapshot *s = calloc(1, sizeof(*s));
    ui_tl_view early = {.fixed = true, .t0 = 1000, .span = 1000};
    snap_of(s, rec, &early);
    ui_view_accept(sc.v, s);
    sc.v->tl = early;
    sc.surf = SDL_CreateRGBSurfaceWithFormat(0, W, H, 32, SDL_PIXELFORMAT_ARGB8888);
    sc.ren = SDL_CreateSoftwareRenderer(sc.surf);
    char err[256];
    sc.g = ui_gfx_create(sc.ren, err, sizeof(err));
    ck_assert_msg(sc.g != NULL, "%s", err);
    render(&sc);
    /* Marks at 1000, 1100, ..., 2000, external-interrupt red. */
    box ex = find(sc.surf, &sc.l, 0xff5555);
    ck_assert_int_gt(ex.n, 0);
    ck_assert_int_lt(ex.x0, sc.l.timeline.x + sc.l.timeline.w / 8);
    ck_assert_int_gt(ex.x1, sc.l.timeline.x + sc.l.timeline.w * 7 / 8);
    /* The overview: lit where 1000..2000 lies in 0..99900, near the left. */
    int oy = sc.l.timeline.y + sc.l.timeline.h - 3;
    int lit = -1, lit_end = -1, unlit = 0;
    for (int x = sc.l.timeline.x; x < sc.l.timeline.x + sc.l.timeline.w; x++) {
        if (px(sc.surf, x, oy) == 0x9ecbff) {
            if (lit < 0)
                lit = x;
            lit_end = x;
        }
        unlit += px(sc.surf, x, oy) == 0x39424d;
    }
    ck_assert_int_ge(lit, 0);
    ck_assert_int_lt(lit_end, sc.l.timeline.x + sc.l.timeline.w / 4);
    ck_assert_int_gt(unlit, sc.l.timeline.w / 2);
    ui_gfx_destroy(sc.g);
    SDL_DestroyRenderer(sc.ren);
    SDL_FreeSurface(sc.surf);
    ui_recorder_free(rec);
    free(rec);
    free(s);
    free(sc.v);
}
END_TEST

/* At the start of a run (the first VM entry at cycle 350, the first stop a
 * lecture makes) the first tick is at the plot's left edge: its label
 * starts there, clear of the axis's name "cycle" (it was drawn two
 * characters further left, over it: "cycl350"). */
START_TEST(first_tick_label_clear_of_the_axis_name)
{
    scene sc;
    sc.v = calloc(1, sizeof(*sc.v));
    ui_view_init(sc.v);
    ui_snapshot *s = calloc(1, sizeof(*s));
    s->ncpus = 2;
    s->now = 0;
    add_mark(s, 350, 0, UI_TL_ENTRY, VMX_EV_VMENTRY, 1);
    add_mark(s, 350, 1, UI_TL_ENTRY, VMX_EV_VMENTRY, 3);
    s->ev[0] = s->marks[1].ev;
    s->nev = 1;
    s->ev_total = 3;
    ui_view_accept(sc.v, s);
    sc.surf = SDL_CreateRGBSurfaceWithFormat(0, W, H, 32, SDL_PIXELFORMAT_ARGB8888);
    sc.ren = SDL_CreateSoftwareRenderer(sc.surf);
    char err[256];
    sc.g = ui_gfx_create(sc.ren, err, sizeof(err));
    ck_assert_msg(sc.g != NULL, "%s", err);
    render(&sc);
    const ui_rect *r = &sc.l.timeline;
    int cw = sc.l.cw, x0 = r->x + 6 * cw; /* the plot's left edge (ui_timeline.c geom) */
    int below = r->y + r->h - sc.l.ch - 2;  /* the label row under the axis line */
    int name_ink = 0, gap_ink = 0, tick_ink = 0;
    for (int y = below; y < r->y + r->h; y++) {
        for (int x = r->x; x < r->x + cw * 11 / 2; x++)
            name_ink += px(sc.surf, x, y) == 0x7c8794;
        for (int x = r->x + cw * 11 / 2 + 1; x < x0; x++)
            gap_ink += px(sc.surf, x, y) == 0x7c8794;
        for (int x = x0; x < x0 + 3 * cw; x++)
            tick_ink += px(sc.surf, x, y) == 0x7c8794;
    }
    ck_assert_int_gt(name_ink, 0);  /* "cycle" */
    ck_assert_int_gt(tick_ink, 0);  /* "350" */
    ck_assert_int_eq(gap_ink, 0);   /* nothing between them */
    ui_gfx_destroy(sc.g);
    SDL_DestroyRenderer(sc.ren);
    SDL_FreeSurface(sc.surf);
    free(s);
    free(sc.v);
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
    tcase_add_test(tc, the_store_keeps_the_whole_run_bounded);
    tcase_add_test(tc, going_back_keeps_the_marks_ahead);
    tcase_add_test(tc, zoom_and_pan_with_keys_wheel_and_drag);
    tcase_add_test(tc, a_zoomed_span_is_drawn_across_the_plot);
    tcase_add_test(tc, first_tick_label_clear_of_the_axis_name);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
