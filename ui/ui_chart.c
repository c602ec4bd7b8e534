/*
 * ui_chart.c — `apicv-emu compare --chart FILE.png`: the comparison drawn
 * off screen, with the window's own drawing (a software renderer on an SDL
 * surface, the PNG writer of screenshots), so no display is needed.
 *
 * Four bar charts, one bar per mode: VM exits per interrupt (the
 * receiver's share darker), latency from raise to handler, overhead per
 * interrupt over native, and the interrupts delivered per path (stacked).
 */
#include <stdio.h>

#include "emu/emu_compare.h"
#include "ui/ui_internal.h"

#define CHART_W 1400
#define CHART_H 860

static const uint32_t mode_rgb[EMU_MODE_COUNT] = {0x7c8794, 0xff5a5a, 0xffa13d, 0x4aa3ff, 0x3ddc84};
static const uint32_t path_rgb[EMU_CMP_NPATHS] = {0x7c8794, 0xb0b0b0, 0xff5a5a,
                                                   0x4aa3ff, 0xd45cff, 0x3ddc84};

typedef struct chart_panel {
    const char *title;
    const char *unit;
    double v[EMU_MODE_COUNT];
    double inner[EMU_MODE_COUNT]; /* a darker part at the bottom of each bar, 0 for none */
} chart_panel;

/* The bar area of a panel whose content starts at y0: a slot per mode, the
 * base line at `bottom`, bars of width bw scaled so that max reaches top. */
typedef struct bar_frame {
    int top, bottom, slot, bw, x0;
    double max;
} bar_frame;

/* Lays the frame out and draws its base line; false when the panel is too
 * small to hold bars. */
static bool bar_frame_draw(ui_gfx *g, const ui_rect *r, int y0, double max, bar_frame *f)
{
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    f->top = y0 + ch;
    f->bottom = r->y + r->h - 2 * ch - 4;
    f->slot = (r->w - 2 * cw) / EMU_MODE_COUNT;
    f->bw = f->slot * 3 / 5;
    f->x0 = r->x + cw;
    f->max = max;
    if (f->bottom <= f->top || f->slot <= 0)
        return false;
    ui_fill(g, r->x + cw, f->bottom, r->w - 2 * cw, 1, UI_RGB_BORDER);
    return true;
}

/* The left edge of mode k's bar. */
static int bar_x(const bar_frame *f, unsigned k)
{
    return f->x0 + (int)k * f->slot + (f->slot - f->bw) / 2;
}

/* The height of a bar of value v. */
static int bar_h(const bar_frame *f, double v)
{
    return f->max > 0 ? (int)((double)(f->bottom - f->top) * v / f->max) : 0;
}

static void bars(ui_gfx *g, const ui_rect *r, const chart_panel *p)
{
    int y0 = ui_panel(g, r, p->title);
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    double max = 0;
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
        if (p->v[k] > max)
            max = p->v[k];
    bar_frame f;
    if (!bar_frame_draw(g, r, y0, max, &f))
        return;
    int bottom = f.bottom, bw = f.bw;
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++) {
        int x = bar_x(&f, k);
        int h = bar_h(&f, p->v[k]);
        int hi = bar_h(&f, p->inner[k]);
        ui_fill(g, x, bottom - h, bw, h, mode_rgb[k]);
        if (hi > 0)
            ui_fill(g, x, bottom - hi, bw, hi, (mode_rgb[k] >> 1) & 0x7f7f7f);
        ui_textf(g, UI_FONT_TEXT, x, bottom - h - ch, UI_RGB_TEXT,
                 p->v[k] >= 100 || p->v[k] == (double)(long long)p->v[k] ? "%.0f" : "%.2f", p->v[k]);
        ui_text(g, UI_FONT_TEXT, x, bottom + 4, UI_RGB_TEXT, emu_mode_name((emu_mode)k));
    }
    ui_text(g, UI_FONT_TEXT, r->x + cw, r->y + r->h - ch - 2, UI_RGB_DIM, p->unit);
}

static void stacked(ui_gfx *g, const ui_rect *r, const emu_compare_result *c)
{
    int y0 = ui_panel(g, r, "interrupts delivered per path");
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    static const char *const names[EMU_CMP_NPATHS] = {"apic", "nmi", "injection", "vid", "vnmi",
                                                      "posted (of vid)"};
    double max = 0;
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++) {
        double s = 0;
        for (unsigned p = 0; p < EMU_CMP_POSTED; p++)
            s += (double)c->m[k].delivered[p];
        if (s > max)
            max = s;
    }
    bar_frame f;
    if (!bar_frame_draw(g, r, y0, max, &f))
        return;
    int bottom = f.bottom, bw = f.bw;
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++) {
        int x = bar_x(&f, k), y = bottom;
        for (unsigned p = 0; p < EMU_CMP_POSTED && max > 0; p++) {
            int h = bar_h(&f, (double)c->m[k].delivered[p]);
            ui_fill(g, x, y - h, bw, h, path_rgb[p]);
            y -= h;
        }
        /* The posted ones are part of the vid bar: a stripe beside it. */
        int hp = bar_h(&f, (double)c->m[k].delivered[EMU_CMP_POSTED]);
        ui_fill(g, x + bw, bottom - hp, cw / 2 + 1, hp, path_rgb[EMU_CMP_POSTED]);
        ui_text(g, UI_FONT_TEXT, x, bottom + 4, UI_RGB_TEXT, emu_mode_name((emu_mode)k));
    }
    int x = r->x + cw;
    for (unsigned p = 0; p < EMU_CMP_NPATHS; p++) {
        ui_fill(g, x, r->y + r->h - ch + 2, cw, ch - 6, path_rgb[p]);
        x += cw + cw / 2;
        x += ui_text(g, UI_FONT_TEXT, x, r->y + r->h - ch - 2, UI_RGB_TEXT, names[p]) + cw;
    }
}

static void draw(ui_gfx *g, const emu_compare_result *c)
{
    ui_fill(g, 0, 0, CHART_W, CHART_H, UI_RGB_BG);
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    ui_textf(g, UI_FONT_BIG, cw, 4, UI_RGB_TITLE, "apicv-emu compare");
    if (c->ncpus)
        ui_textf(g, UI_FONT_TEXT, cw, 4 + g->ch[UI_FONT_BIG], UI_RGB_TEXT,
                 "%s: %u vCPUs; per vCPU %u device MSIs, IPIs, self-IPIs, timer interrupts, "
                 "one of each every %u cycles",
                 c->workload, c->ncpus, c->interrupts, c->rate);
    else
        ui_textf(g, UI_FONT_TEXT, cw, 4 + g->ch[UI_FONT_BIG], UI_RGB_TEXT, "workload %s",
                 c->workload);
    int top = 8 + g->ch[UI_FONT_BIG] + 2 * ch;
    int pw = (CHART_W - 3 * cw) / 2, ph = (CHART_H - top - 2 * cw) / 2;
    chart_panel exits = {"VM exits per interrupt (darker: the receiver's)", "exits / interrupt",
                         {0}, {0}};
    chart_panel lat = {"latency: raise to the handler's first instruction", "cycles, mean",
                       {0}, {0}};
    chart_panel over = {"overhead per interrupt over native", "cycles / interrupt", {0}, {0}};
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++) {
        exits.v[k] = emu_cmp_exits_per_intr(&c->m[k]);
        exits.inner[k] = emu_cmp_receive_exits_per_intr(&c->m[k]);
        lat.v[k] = emu_cmp_latency(&c->m[k]);
        double o = emu_cmp_overhead(c, &c->m[k]);
        over.v[k] = o > 0 ? o : 0;
    }
    ui_rect r1 = {cw, top, pw, ph}, r2 = {2 * cw + pw, top, pw, ph};
    ui_rect r3 = {cw, top + ph + cw, pw, ph}, r4 = {2 * cw + pw, top + ph + cw, pw, ph};
    bars(g, &r1, &exits);
    bars(g, &r2, &lat);
    bars(g, &r3, &over);
    stacked(g, &r4, c);
}

static bool chart_frame(ui_gfx *g, void *ctx, char *err, size_t errlen)
{
    if (!ui_gfx_set_size(g, 16, 28)) {
        snprintf(err, errlen, "cannot open the chart's font sizes");
        return false;
    }
    draw(g, ctx);
    return true;
}

bool ui_compare_chart(const emu_compare_result *c, const char *path, char *err, size_t errlen)
{
    return ui_draw_png(CHART_W, CHART_H, chart_frame, (void *)c, path, err, errlen);
}
