/*
 * ui_timeline.c — the timeline (an axis in cycles, one lane per vCPU,
 * marks for interrupts raised, VM exits and entries, deliveries and EOIs,
 * the current event highlighted, hover and click) and the caption list
 * (the scenario's captions shown so far; a click goes to one's event).
 *
 * Drawing and hit testing share one geometry (tl_geom), so what the mouse
 * finds is what is drawn there.
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_evdesc.h"
#include "ui/ui_internal.h"
#include "vmx/vmx.h"

/* Colours of the marks: exits red (by reason, below), entries orange,
 * raises purple, deliveries green, EOIs cyan (the events panel's class
 * colours). */
static uint32_t tl_rgb(ui_tl_kind k)
{
    static const uint32_t rgb[UI_TL_COUNT] = {
        [UI_TL_RAISE] = 0xd45cff, [UI_TL_EXIT] = 0xff5555, [UI_TL_ENTRY] = 0xffb86c,
        [UI_TL_DELIVERY] = 0x50fa7b, [UI_TL_EOI] = 0x8be9fd,
    };
    return (unsigned)k < UI_TL_COUNT ? rgb[k] : 0xa0a8b0;
}

#define UI_RGB_TOOLTIP 0x2a3440

static const char *const tl_names[UI_TL_COUNT] = {"raise", "exit", "entry", "deliver", "EOI"};

/* VM exits by basic reason (SDM Appendix C): reds, pinks and yellows, so
 * an exit is still told from the other kinds, and the title line's key
 * names the reasons on screen. Others: a darker red. */
static const struct {
    unsigned reason;
    uint32_t rgb;
    const char *name;
} exit_colours[] = {
    {1, 0xff5555, "ext-intr"},    {7, 0xff79c6, "intr-window"}, {12, 0xc05050, "hlt"},
    {18, 0xe08080, "vmcall"},     {30, 0xd09090, "i/o"},        {31, 0xf4a0a0, "rdmsr"},
    {32, 0xf4a0a0, "wrmsr"},      {43, 0xf1fa8c, "tpr"},        {44, 0xff9e64, "apic-access"},
    {45, 0xffd700, "eoi-induced"}, {56, 0xff6e9c, "apic-write"},
};
#define EXIT_OTHER_RGB 0xb03030

static int exit_colour_index(const ui_mark *mk)
{
    unsigned reason;
    if (mk->ev.kind != VMX_EV_VMEXIT || !emu_event_exit_reason(&mk->ev, &reason))
        return -1;
    for (unsigned i = 0; i < sizeof(exit_colours) / sizeof(exit_colours[0]); i++)
        if (exit_colours[i].reason == reason)
            return (int)i;
    return -1;
}

/* Deliveries by path (SDM 26.6 injection at VM entry, 29.2.2 virtual-
 * interrupt delivery, 6.12 the IDT delivery that follows either, or a
 * native APIC's interrupt): greens. */
static const struct {
    unsigned kind;
    uint32_t rgb;
    const char *name;
} delivery_colours[] = {
    {VMX_EV_EVENT_INJECTED, 0xc3e88d, "injected"},
    {VMX_EV_VINTR_DELIVERED, 0x50fa7b, "virtual"},
    {CPU_EV_INTERRUPT, 0x2fbf71, "IDT"},
};

static int delivery_colour_index(const ui_mark *mk)
{
    for (unsigned i = 0; i < sizeof(delivery_colours) / sizeof(delivery_colours[0]); i++)
        if (delivery_colours[i].kind == mk->ev.kind)
            return (int)i;
    return -1;
}

static uint32_t mark_rgb(const ui_mark *mk)
{
    int i;
    switch (mk->tl) {
    case UI_TL_EXIT:
        i = exit_colour_index(mk);
        return i >= 0 ? exit_colours[i].rgb : EXIT_OTHER_RGB;
    case UI_TL_DELIVERY:
        i = delivery_colour_index(mk);
        return i >= 0 ? delivery_colours[i].rgb : tl_rgb(UI_TL_DELIVERY);
    default:
        return tl_rgb((ui_tl_kind)mk->tl);
    }
}

/* The key of one kind of mark: the names of the colours among the marks
 * on screen ("exits: ext-intr apic-write"). Returns the x after it. */
static int key(ui_gfx *g, const ui_snapshot *s, int x, int y, ui_tl_kind tl)
{
    enum { MAXC = 16 };
    bool seen[MAXC + 1] = {false};
    unsigned n = tl == UI_TL_EXIT ? sizeof(exit_colours) / sizeof(exit_colours[0])
                                  : sizeof(delivery_colours) / sizeof(delivery_colours[0]);
    for (unsigned i = 0; i < s->nmarks; i++) {
        if (s->marks[i].tl != tl || s->marks[i].ev_no > s->ev_total)
            continue; /* not those ahead of the current event */
        int e = tl == UI_TL_EXIT ? exit_colour_index(&s->marks[i])
                                 : delivery_colour_index(&s->marks[i]);
        seen[e >= 0 && (unsigned)e < MAXC ? (unsigned)e : MAXC] = true;
    }
    int cw = g->cw[UI_FONT_TEXT];
    bool any = false;
    for (unsigned i = 0; i <= MAXC; i++) {
        if (!seen[i] || (i >= n && i < MAXC))
            continue;
        if (!any)
            x += ui_text(g, UI_FONT_TEXT, x, y, UI_RGB_DIM,
                         tl == UI_TL_EXIT ? "exits:" : "deliveries:") + cw / 2;
        any = true;
        const char *name = i == MAXC ? "other"
                           : tl == UI_TL_EXIT ? exit_colours[i].name : delivery_colours[i].name;
        uint32_t rgb = i == MAXC ? (tl == UI_TL_EXIT ? EXIT_OTHER_RGB : tl_rgb(tl))
                       : tl == UI_TL_EXIT ? exit_colours[i].rgb : delivery_colours[i].rgb;
        x += ui_text(g, UI_FONT_TEXT, x, y, rgb, name) + cw;
    }
    return x;
}

typedef struct tl_geom {
    int x0, w;           /* the plot: x0 .. x0 + w */
    int lanes_y, lane_h; /* lane k: lanes_y + k * lane_h */
    unsigned nlanes;
    int axis_y;          /* the axis line; labels below it */
    int label_x;         /* lane labels ("cpu1") */
    uint64_t t0, t1;     /* cycles at x0 and x0 + w */
} tl_geom;

/* The current event: the newest the snapshot holds (at an event stop, the
 * stop's own). */
static const ui_event *current_event(const ui_snapshot *s)
{
    return s->nev ? &s->ev[s->nev - 1] : NULL;
}

static bool geom(const ui_snapshot *s, const ui_rect *r, int cw, int ch, tl_geom *g)
{
    memset(g, 0, sizeof(*g));
    g->nlanes = s->ncpus ? s->ncpus : 1;
    g->label_x = r->x + cw / 2;
    g->x0 = r->x + 6 * cw;
    g->w = r->w - 6 * cw - cw;
    g->lanes_y = r->y + ch + 2;
    g->axis_y = r->y + r->h - ch - 3;
    g->lane_h = (g->axis_y - g->lanes_y) / (int)g->nlanes;
    if (g->w < 8 || g->lane_h < 2)
        return false;
    /* The span: the one the snapshot's marks were chosen for
     * (ui_snapshot_marks), else every mark and the current event. Marks of
     * different CPUs are not in cycle order (each CPU runs its turn of a
     * round ahead of the others), so the whole range is taken. */
    const ui_event *cur = current_event(s);
    uint64_t t0 = UINT64_MAX, t1 = 0;
    if (s->tl_t1 > s->tl_t0) {
        g->t0 = s->tl_t0;
        g->t1 = s->tl_t1;
        return true;
    }
    for (unsigned i = 0; i < s->nmarks; i++) {
        if (s->marks[i].cycle < t0)
            t0 = s->marks[i].cycle;
        if (s->marks[i].cycle > t1)
            t1 = s->marks[i].cycle;
    }
    if (cur && cur->cycle < t0)
        t0 = cur->cycle;
    if (cur && cur->cycle > t1)
        t1 = cur->cycle;
    if (t0 == UINT64_MAX)
        t0 = t1 = s->now;
    /* A little room on the right, so the newest marks are not on the edge. */
    t1 += (t1 - t0) / 50 + 1;
    g->t0 = t0;
    g->t1 = t1;
    return true;
}

static int x_of(const tl_geom *g, uint64_t cycle)
{
    if (cycle <= g->t0)
        return g->x0;
    if (cycle >= g->t1)
        return g->x0 + g->w - 1;
    return g->x0 + (int)((double)(cycle - g->t0) / (double)(g->t1 - g->t0) * (g->w - 1));
}

/* A mark's rectangle: exits and entries in the top half of its lane,
 * raises, deliveries and EOIs in the bottom half. */
static void mark_rect(const tl_geom *g, const ui_mark *mk, int *x, int *y, int *w, int *h)
{
    int lane = mk->cpu < g->nlanes ? mk->cpu : (int)g->nlanes - 1;
    int half = g->lane_h / 2 > 1 ? g->lane_h / 2 : 1;
    bool top = mk->tl == UI_TL_EXIT || mk->tl == UI_TL_ENTRY;
    *x = x_of(g, mk->cycle);
    *w = 2;
    *y = g->lanes_y + lane * g->lane_h + (top ? 0 : half);
    *h = half - (g->lane_h > 6 ? 1 : 0);
}

/* Tick spacing: 1, 2 or 5 times a power of ten, so labels do not touch. */
static uint64_t tick_step(uint64_t span, int w, int label_w)
{
    uint64_t max_ticks = (uint64_t)(w / (label_w > 0 ? label_w : 1));
    if (max_ticks < 1)
        max_ticks = 1;
    for (uint64_t p = 1;; p *= 10) {
        static const unsigned m[3] = {1, 2, 5};
        for (unsigned i = 0; i < 3; i++)
            if (span / (p * m[i]) <= max_ticks)
                return p * m[i];
        if (p > UINT64_MAX / 100)
            return span ? span : 1;
    }
}

/* "vmx.exit exit 1 EXTERNAL_INTERRUPT": an event in words. */
static void event_words(const ui_snapshot *s, const ui_event *e, char *buf, size_t len)
{
    const emu_evdesc *d = emu_event_desc(e->kind);
    char words[256];
    ui_event_words(s, e, words, sizeof(words));
    snprintf(buf, len, "%s %s", d ? d->name : ui_event_name(e->kind), words);
}

/* What the hovered mark is, in a box beside it (right of it, or left when
 * there is no room), inside the plot so it never covers another panel. */
static void tooltip(ui_gfx *g, const ui_rect *r, const tl_geom *gm, const ui_mark *mk)
{
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    char words[320], text[360];
    event_words(NULL, &mk->ev, words, sizeof(words));
    snprintf(text, sizeof(text), "event %llu cpu%u: %s", (unsigned long long)mk->ev_no,
             (unsigned)mk->ev.cpu, words);
    int maxc = (gm->w - 2 * cw) / (cw > 0 ? cw : 1);
    if (maxc <= 0)
        return;
    if ((int)strlen(text) > maxc)
        text[maxc] = 0;
    int mx, my, mw, mh;
    mark_rect(gm, mk, &mx, &my, &mw, &mh);
    int bw = (int)strlen(text) * cw + cw, bh = ch + 2;
    int bx = mx + mw + cw;
    if (bx + bw > gm->x0 + gm->w)
        bx = mx - cw - bw;
    if (bx < gm->x0)
        bx = gm->x0;
    int by = my;
    if (by + bh > gm->axis_y)
        by = gm->axis_y - bh;
    if (by < r->y + 1)
        by = r->y + 1;
    ui_fill(g, bx, by, bw, bh, UI_RGB_TOOLTIP);
    ui_frame(g, bx, by, bw, bh, 1, UI_RGB_TITLE);
    ui_text(g, UI_FONT_TEXT, bx + cw / 2, by + 1, 0xffffff, text);
}

void ui_draw_timeline(ui_gfx *g, const ui_view *v, const ui_rect *r)
{
    const ui_snapshot *s = &v->snap;
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    ui_fill(g, r->x, r->y, r->w, r->h, UI_RGB_PANEL);
    ui_frame(g, r->x, r->y, r->w, r->h, 1, UI_RGB_BORDER);
    int x = r->x + cw / 2;
    x += ui_text(g, UI_FONT_TEXT, x, r->y + 1, UI_RGB_TITLE, "timeline") + cw;
    /* The span's state: zoomed or panned, the whole run, or following;
     * and when only a sample of its marks is drawn. */
    if (s->tl_t1 > s->tl_t0) {
        const char *how = v->tl.whole ? "whole run" : v->tl.fixed ? "zoomed" : "following";
        char tag[96];
        int n = snprintf(tag, sizeof(tag), "[%s, %llu cycles", how,
                         (unsigned long long)(s->tl_t1 - s->tl_t0));
        if (s->tl_sample > 1 && n > 0 && (size_t)n < sizeof(tag))
            n += snprintf(tag + n, sizeof(tag) - (size_t)n, ", 1 mark in %u", s->tl_sample);
        if (s->tl_stride > 1 && n > 0 && (size_t)n < sizeof(tag))
            n += snprintf(tag + n, sizeof(tag) - (size_t)n, ", run kept 1 in %llu",
                          (unsigned long long)s->tl_stride);
        if (n > 0 && (size_t)n < sizeof(tag) - 1)
            snprintf(tag + n, sizeof(tag) - (size_t)n, "]");
        x += ui_text(g, UI_FONT_TEXT, x, r->y + 1, UI_RGB_DIM, tag) + cw;
    }
    /* The legend, then what is under the mouse or the current event. */
    for (unsigned k = 0; k < UI_TL_COUNT; k++) {
        ui_fill(g, x, r->y + 1 + ch / 4, 2, ch / 2, tl_rgb((ui_tl_kind)k));
        x += cw / 2 + ui_text(g, UI_FONT_TEXT, x + cw / 2, r->y + 1, tl_rgb((ui_tl_kind)k),
                              tl_names[k]) + cw;
    }
    /* The keys of the exit reasons and delivery paths on screen. */
    x = key(g, s, x, r->y + 1, UI_TL_EXIT);
    x = key(g, s, x, r->y + 1, UI_TL_DELIVERY);
    tl_geom gm;
    if (!geom(s, r, cw, ch, &gm))
        return;
    const ui_event *cur = current_event(s);
    const ui_mark *hover = NULL;
    for (unsigned i = 0; v->tl_hover && i < s->nmarks; i++)
        if (s->marks[i].ev_no == v->tl_hover)
            hover = &s->marks[i];
    char info[400] = "", words[320];
    if (hover) {
        event_words(s, &hover->ev, words, sizeof(words));
        snprintf(info, sizeof(info), "event %llu, cycle %llu, cpu%u: %s (click: go there)",
                 (unsigned long long)hover->ev_no, (unsigned long long)hover->cycle,
                 (unsigned)hover->ev.cpu, words);
    } else if (cur) {
        event_words(s, cur, words, sizeof(words));
        snprintf(info, sizeof(info), "now: event %llu, cycle %llu, cpu%u: %s",
                 (unsigned long long)s->ev_total, (unsigned long long)cur->cycle,
                 (unsigned)cur->cpu, words);
    }
    int maxc = (r->x + r->w - x - cw) / (cw > 0 ? cw : 1);
    if (maxc > 0 && (int)strlen(info) > maxc)
        info[maxc] = 0;
    if (maxc > 0)
        ui_text(g, UI_FONT_TEXT, x + cw, r->y + 1, hover ? 0xffffff : UI_RGB_DIM, info);

    /* Lanes, alternating shades, named by CPU; the selected one lit. */
    for (unsigned k = 0; k < gm.nlanes; k++) {
        int ly = gm.lanes_y + (int)k * gm.lane_h;
        ui_fill(g, gm.x0, ly, gm.w, gm.lane_h, k % 2 ? 0x1c2229 : 0x141a20);
        if (gm.lane_h >= ch * 2 / 3 || k == v->sel)
            ui_textf(g, UI_FONT_TEXT, gm.label_x, ly + (gm.lane_h - ch) / 2,
                     k == v->sel ? UI_RGB_TEXT : UI_RGB_DIM, "cpu%u", k);
    }
    /* The axis: a line and labelled ticks. */
    ui_fill(g, gm.x0, gm.axis_y, gm.w, 1, UI_RGB_BORDER);
    char lab[32];
    int label_w = (snprintf(lab, sizeof(lab), "%llu", (unsigned long long)gm.t1) + 3) * cw;
    uint64_t step = tick_step(gm.t1 - gm.t0, gm.w, label_w);
    for (uint64_t t = (gm.t0 + step - 1) / step * step; t <= gm.t1; t += step) {
        int tx = x_of(&gm, t);
        int n = snprintf(lab, sizeof(lab), "%llu", (unsigned long long)t);
        int lx = tx - n * cw / 2;
        if (lx < gm.x0) /* not over the axis's name, "cycle", left of the plot */
            lx = gm.x0;
        if (lx + n * cw > r->x + r->w - 2)
            lx = r->x + r->w - 2 - n * cw;
        ui_fill(g, tx, gm.axis_y - 3, 1, 4, UI_RGB_DIM);
        ui_text(g, UI_FONT_TEXT, lx, gm.axis_y + 1, UI_RGB_DIM, lab);
        if (t > UINT64_MAX - step)
            break;
    }
    ui_text(g, UI_FONT_TEXT, gm.label_x, gm.axis_y + 1, UI_RGB_DIM, "cycle");
    /* The overview: the run the recorder knows along the bottom edge, the
     * span on screen lit in it. */
    if (s->tl_last > s->tl_first) {
        double run = (double)(s->tl_last - s->tl_first);
        double a = gm.t0 > s->tl_first ? (double)(gm.t0 - s->tl_first) / run : 0;
        double b = gm.t1 > s->tl_first ? (double)(gm.t1 - s->tl_first) / run : 0;
        a = a > 1 ? 1 : a;
        b = b > 1 ? 1 : b;
        int oy = r->y + r->h - 3, ax = gm.x0 + (int)(a * (gm.w - 1));
        int bx = gm.x0 + (int)(b * (gm.w - 1));
        ui_fill(g, gm.x0, oy, gm.w, 2, UI_RGB_BORDER);
        ui_fill(g, ax, oy, bx - ax + 1 > 2 ? bx - ax + 1 : 2, 2, UI_RGB_TITLE);
    }

    /* A cursor line at the current event's cycle in its lane, the marks
     * over it, and the current event's mark and the hovered one framed
     * white. */
    if (cur && cur->cycle >= gm.t0 && cur->cycle <= gm.t1) {
        unsigned lane = cur->cpu < gm.nlanes ? cur->cpu : gm.nlanes - 1;
        int cx = x_of(&gm, cur->cycle);
        ui_fill(g, cx, gm.lanes_y + (int)lane * gm.lane_h, 1, gm.lane_h, 0xffffff);
    }
    /* Marks after the current event (seen before going back) are dim. */
    for (unsigned i = 0; i < s->nmarks; i++) {
        const ui_mark *mk = &s->marks[i];
        int mx, my, mw, mh;
        mark_rect(&gm, mk, &mx, &my, &mw, &mh);
        uint32_t rgb = mark_rgb(mk);
        if (mk->ev_no > s->ev_total)
            rgb = (rgb >> 2) & 0x3f3f3f;
        ui_fill(g, mx, my, mw, mh, rgb);
    }
    for (unsigned i = 0; i < s->nmarks; i++) {
        const ui_mark *mk = &s->marks[i];
        if (mk->ev_no != s->ev_total && mk != hover)
            continue;
        int mx, my, mw, mh;
        mark_rect(&gm, mk, &mx, &my, &mw, &mh);
        ui_frame(g, mx - 2, my - 1, mw + 4, mh + 2, 1, 0xffffff);
    }
    if (hover)
        tooltip(g, r, &gm, hover);
}

bool ui_layout_timeline_at(const ui_layout *l, const ui_view *v, int x, int y, double *frac,
                           int *plot_w)
{
    tl_geom gm;
    if (!v->have_snap || !ui_rect_has(&l->timeline, x, y) ||
        !geom(&v->snap, &l->timeline, l->cw, l->ch, &gm) || x < gm.x0 || x >= gm.x0 + gm.w ||
        y < gm.lanes_y)
        return false;
    *frac = gm.w > 1 ? (double)(x - gm.x0) / (double)(gm.w - 1) : 0;
    *plot_w = gm.w;
    return true;
}

bool ui_layout_hit_mark(const ui_layout *l, const ui_view *v, int x, int y, uint64_t *ev_no)
{
    const ui_snapshot *s = &v->snap;
    tl_geom gm;
    if (!v->have_snap || !ui_rect_has(&l->timeline, x, y) ||
        !geom(s, &l->timeline, l->cw, l->ch, &gm) || y < gm.lanes_y ||
        y >= gm.lanes_y + (int)gm.nlanes * gm.lane_h)
        return false;
    int best = -1, best_d = l->cw > 3 ? l->cw : 4;
    for (unsigned i = 0; i < s->nmarks; i++) {
        int mx, my, mw, mh;
        mark_rect(&gm, &s->marks[i], &mx, &my, &mw, &mh);
        int lane_top = gm.lanes_y + s->marks[i].cpu * gm.lane_h;
        if (y < lane_top || y >= lane_top + gm.lane_h)
            continue;
        int d = x < mx ? mx - x : x >= mx + mw ? x - (mx + mw - 1) : 0;
        /* Ties go to the mark in the half under the mouse, then the newer. */
        if (d < best_d || (d == best_d && best >= 0 && y >= my && y < my + mh)) {
            best_d = d;
            best = (int)i;
        }
    }
    if (best < 0)
        return false;
    *ev_no = s->marks[best].ev_no;
    return true;
}

/* ---- the caption list ------------------------------------------------------- */

/* Rows of the list: the first row's y and the row height. */
static int list_first_row(const ui_layout *l)
{
    return l->cap_list.y + 2 + 2 * l->ch;
}

/* The caption of the current moment: the newest at or before the current
 * event. */
static int current_caption(const ui_view *v)
{
    int cur = -1;
    for (unsigned i = 0; i < v->nhist; i++)
        if (v->hist[i].ev_no <= v->snap.ev_total)
            cur = (int)i;
    return cur;
}

#define LIST_MAX_ROWS 3 /* rows of one entry at most (then cut) */

/* Entry i of the list: its columns (prefix, the text's indent) and its
 * caption wrapped to the rest of the width, on up to LIST_MAX_ROWS rows
 * (a caption is never cut at a common window size). Returns the rows. */
static unsigned entry_rows(const ui_view *v, const ui_layout *l, unsigned i, char *prefix,
                           size_t plen, unsigned *starts, unsigned *lens)
{
    const ui_caption_entry *c = &v->hist[i];
    int cur = current_caption(v);
    int n = snprintf(prefix, plen, "%c%6llu %10llu  cpu%u %4u  ", (int)i == cur ? '>' : ' ',
                     (unsigned long long)c->ev_no, (unsigned long long)c->cycle, c->cpu, c->line);
    int maxc = (l->cap_list.w - 2 * l->cw) / (l->cw > 0 ? l->cw : 1);
    int cols = maxc - n;
    unsigned rows = cols >= 16 ? ui_wrap(c->text, (unsigned)cols, LIST_MAX_ROWS, starts, lens) : 0;
    if (rows == 0 || cols < 16) { /* no room to wrap: one row, cut */
        starts[0] = 0;
        lens[0] = (unsigned)strlen(c->text);
        rows = 1;
    }
    if (rows > LIST_MAX_ROWS) {
        rows = LIST_MAX_ROWS;
        lens[rows - 1] = (unsigned)strlen(c->text) - starts[rows - 1];
    }
    for (unsigned k = 0; k < rows; k++)
        if (cols > 0 && (int)lens[k] > cols)
            lens[k] = (unsigned)cols;
    return rows;
}

static unsigned rows_of(const ui_view *v, const ui_layout *l, unsigned i)
{
    char prefix[64];
    unsigned starts[LIST_MAX_ROWS], lens[LIST_MAX_ROWS];
    return entry_rows(v, l, i, prefix, sizeof(prefix), starts, lens);
}

/* The first entry shown: the list scrolls so that the current caption is
 * on screen, whole. */
static unsigned list_first(const ui_view *v, const ui_layout *l)
{
    int rows = (l->cap_list.y + l->cap_list.h - list_first_row(l)) / (l->ch > 0 ? l->ch : 1);
    int cur = current_caption(v);
    if (rows <= 0 || cur < 0)
        return 0;
    int used = 0, first = cur;
    for (int i = cur; i >= 0; i--) {
        used += (int)rows_of(v, l, (unsigned)i);
        if (used > rows)
            break;
        first = i;
    }
    return (unsigned)first;
}

void ui_draw_caption_list(ui_gfx *g, const ui_view *v, const ui_layout *l)
{
    const ui_rect *r = &l->cap_list;
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    ui_fill(g, r->x, r->y, r->w, r->h, 0x0b0e12);
    ui_frame(g, r->x, r->y, r->w, r->h, 2, UI_RGB_TITLE);
    ui_textf(g, UI_FONT_TEXT, r->x + cw, r->y + 2, UI_RGB_TITLE,
             "captions shown so far (%u): click one to go to its event; l closes", v->nhist);
    ui_text(g, UI_FONT_TEXT, r->x + cw, r->y + 2 + ch, UI_RGB_DIM,
            "  event      cycle  cpu  line  caption");
    int y = list_first_row(l), cur = current_caption(v);
    if (v->nhist == 0)
        ui_text(g, UI_FONT_TEXT, r->x + cw, y, UI_RGB_DIM,
                "none yet: captions come from a scenario's caption lines as they fire");
    for (unsigned i = list_first(v, l); i < v->nhist && y + ch <= r->y + r->h; i++) {
        const ui_caption_entry *c = &v->hist[i];
        bool ahead = c->ev_no > v->snap.ev_total;
        uint32_t rgb = ahead ? UI_RGB_DIM : UI_RGB_TEXT;
        char prefix[64], text[UI_CAPTION_TEXT];
        unsigned starts[LIST_MAX_ROWS], lens[LIST_MAX_ROWS];
        unsigned rows = entry_rows(v, l, i, prefix, sizeof(prefix), starts, lens);
        if ((int)i == cur)
            ui_fill(g, r->x + 2, y, r->w - 4, (int)rows * ch, UI_RGB_CUR);
        int tx = r->x + cw + ui_text(g, UI_FONT_TEXT, r->x + cw, y, rgb, prefix);
        for (unsigned k = 0; k < rows && y + ch <= r->y + r->h; k++, y += ch) {
            snprintf(text, sizeof(text), "%.*s", (int)lens[k], c->text + starts[k]);
            ui_text(g, UI_FONT_TEXT, tx, y, rgb, text);
        }
    }
}

bool ui_layout_hit_caption(const ui_layout *l, const ui_view *v, int x, int y, uint64_t *ev_no)
{
    if (!v->captions_open || !ui_rect_has(&l->cap_list, x, y) || l->ch <= 0)
        return false;
    int row0 = list_first_row(l);
    if (y < row0)
        return false;
    int row = (y - row0) / l->ch, at = 0;
    for (unsigned i = list_first(v, l); i < v->nhist; i++) {
        at += (int)rows_of(v, l, i);
        if (row < at) {
            *ev_no = v->hist[i].ev_no;
            return true;
        }
    }
    return false;
}
