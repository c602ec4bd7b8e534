/*
 * ui_layout.c — where every panel goes in a window of any size, and hit
 * testing (which grid cell or vCPU tab is under the mouse).
 *
 * From top to bottom: the title bar with vCPU tabs; a row of six 16x16
 * grids (VIRR, VISR, PIR, IRR, ISR, EOI-exit bitmap; presenting all six:
 * two rows of three, the events and console beside them); registers,
 * disassembly and VMCS controls side by side; the event log beside the
 * guest console; the timeline strip; the narration caption.
 */
#include "ui/ui.h"
#include "vmx/vmx.h"

static ui_rect rect(int x, int y, int w, int h)
{
    ui_rect r = {x, y, w > 0 ? w : 0, h > 0 ? h : 0};
    return r;
}

void ui_layout_compute(ui_layout *l, int w, int h, int cw, int ch)
{
    ui_layout_compute_mode(l, w, h, cw, ch, false);
}

void ui_layout_compute_mode(ui_layout *l, int w, int h, int cw, int ch, bool present)
{
    ui_layout_compute_grids(l, w, h, cw, ch, present, UI_GRIDS_ALL);
}

/* Presentation mode leaves out the grids that stay empty in the selected
 * vCPU's mode: the PIR without posted interrupts (SDM 30.6), the EOI-exit
 * bitmap without virtual-interrupt delivery or while it is all zero (only
 * then does it take part, SDM 30.1.4), the virtual registers natively. Six
 * grids side by side are as wide as a 16:9 window allows, so each one left
 * out makes the others larger (all six go in two rows of three). */
unsigned ui_view_grids(const ui_view *v)
{
    if (!v->present || !v->have_snap || v->sel >= v->snap.ncpus)
        return UI_GRIDS_ALL;
    const ui_cpu_snap *c = &v->snap.cpu[v->sel];
    unsigned grids = 1u << UI_GRID_IRR | 1u << UI_GRID_ISR;
    if (!c->has_vmx)
        return grids;
    grids |= 1u << UI_GRID_VIRR | 1u << UI_GRID_VISR;
    if (c->pin & VMX_PIN_POSTED_INTR)
        grids |= 1u << UI_GRID_PIR;
    bool eoi_bits = false;
    for (unsigned i = 0; i < sizeof(c->eoi_exit.w) / sizeof(c->eoi_exit.w[0]); i++)
        eoi_bits |= c->eoi_exit.w[i] != 0;
    if ((c->proc2 & VMX_PROC2_VIRT_INTR_DELIVERY) && eoi_bits)
        grids |= 1u << UI_GRID_EOI_EXIT;
    return grids;
}

void ui_layout_compute_grids(ui_layout *l, int w, int h, int cw, int ch, bool present,
                             unsigned grids)
{
    int m = cw > 4 ? cw / 2 : 2; /* margin */
    l->w = w;
    l->h = h;
    l->cw = cw;
    l->ch = ch;
    l->top = rect(0, 0, w, ch + ch / 2);
    int tab_w = cw * 7;
    int tabs_x = w - m - CPU_MAX_CPUS * (tab_w + m);
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++)
        l->tabs[k] = rect(tabs_x + (int)k * (tab_w + m), 2, tab_w, ch + ch / 2 - 4);

    /* The grids: each has a row-label column (2 chars) on its left, a title
     * (2 lines) above and a column-label line. Cells are square. */
    int grid_top = l->top.h + m + 3 * ch;
    int per_grid_extra = 3 * cw + m;
    grids &= UI_GRIDS_ALL;
    if (!grids)
        grids = UI_GRIDS_ALL;
    int n = 0;
    for (unsigned g = 0; g < UI_GRID_COUNT; g++)
        n += (grids >> g) & 1;
    /* Bottom: caption (big type) and timeline; the middle band and the
     * events | console panels share what is left above them. */
    int cap_h = present ? 5 * ch : 2 * ch + ch / 2; /* presenting: two lines of large type */
    /* The timeline: a title line, one lane per vCPU (they share the
     * height between them) and the cycle axis. */
    int tl_h = 6 * ch;
    int tl_y = h - m - cap_h - m - tl_h;
    /* Presenting all six grids: two rows of three (VIRR VISR PIR over IRR
     * ISR EOI-exit) down to the timeline, the events and console beside
     * them. Six side by side in the presenter's larger type left cells
     * smaller than the normal window's (14 against 15 pixels at 1600x900). */
    int rows = present && n > 5 ? 2 : 1;
    int per_row = (n + rows - 1) / rows;
    int row_gap = 3 * ch; /* the second row's titles and column digits */
    int cell_w = (w - m - per_row * per_grid_extra) / (per_row * 16);
    int band = rows == 1 ? h * (present ? 52 : 40) / 100 - 3 * ch
                         : tl_y - m - ch / 2 - grid_top - row_gap;
    int cell_h = band / (16 * rows);
    int cell = cell_w < cell_h ? cell_w : cell_h;
    if (cell < 2)
        cell = 2;
    l->cell = cell;
    int x = m, k = 0, row_y = grid_top;
    for (unsigned g = 0; g < UI_GRID_COUNT; g++) {
        if (!((grids >> g) & 1)) {
            l->grid[g] = rect(0, 0, 0, 0);
            continue;
        }
        if (k == per_row) {
            x = m;
            row_y += 16 * cell + row_gap;
        }
        k++;
        x += 2 * cw;
        l->grid[g] = rect(x, row_y, 16 * cell, 16 * cell);
        x += 16 * cell + cw + m;
    }
    int y = row_y + 16 * cell + ch / 2 + m;

    l->caption = rect(m, h - m - cap_h, w - 2 * m, cap_h);
    l->timeline = rect(m, tl_y, w - 2 * m, tl_h);

    /* Middle band: registers | disassembly | controls (none when presenting,
     * nor in a window too low for it above the timeline). */
    int band_h = present ? 0 : 13 * ch;
    if (band_h > l->timeline.y - m - y)
        band_h = 0;
    int regs_w = 44 * cw, dis_w = 48 * cw;
    int ctl_w = w - 2 * m - regs_w - dis_w - 2 * m;
    if (ctl_w < 20 * cw) {
        int spare = w - 2 * m - 2 * m - 20 * cw;
        regs_w = spare * 44 / 92;
        dis_w = spare - regs_w;
        ctl_w = 20 * cw;
    }
    l->regs = rect(m, y, regs_w, band_h);
    l->disasm = rect(m + regs_w + m, y, dis_w, band_h);
    l->ctls = rect(m + regs_w + m + dis_w + m, y, ctl_w, band_h);
    if (band_h == 0) {
        l->regs = l->disasm = l->ctls = rect(0, 0, 0, 0);
    } else {
        y += band_h + m;
    }

    /* Events | console: the rest, when there are at least three lines of it
     * (else none: they were drawn over the timeline). */
    int rest = l->timeline.y - m - y;
    if (rest < 3 * ch)
        rest = 0;
    int ev_w = (w - 3 * m) * 62 / 100;
    l->events = rect(m, y, ev_w, rest);
    l->console = rect(2 * m + ev_w, y, w - 3 * m - ev_w, rest);
    int cl_x = m, cl_w = w - 2 * m;
    if (rows > 1) {
        /* Beside the two rows of grids: the events over the console. */
        int side_x = x, side_y = grid_top - 3 * ch, side_w = w - m - x;
        int side_h = tl_y - m - side_y;
        if (side_w < 20 * cw)
            side_w = side_h = 0;
        int ev_h = side_h * 62 / 100;
        l->events = rect(side_x, side_y, side_w, ev_h);
        l->console = rect(side_x, side_y + ev_h + m, side_w, side_h - ev_h - m);
        if (l->events.h < 3 * ch)
            l->events.h = l->console.h = 0;
        cl_x = side_x;
        cl_w = side_w;
        y = side_y;
        rest = side_h;
    }
    /* The caption list's button sits in the title bar left of the vCPU
     * tabs; the open list covers the events and console panels. */
    int bw = 19 * cw;
    l->cap_button = rect(tabs_x - m - bw, 2, bw, ch + ch / 2 - 4);
    l->cap_list = rect(cl_x, y, cl_w, rest);
    /* The warnings banner: a title line, up to UI_WARN_LINES warnings of
     * up to two lines each (wrapped) and the count of the others
     * (ui_draw_warnings uses what it needs from the top). */
    l->warn = rect(m, y, w - 2 * m, (2 * UI_WARN_LINES + 2) * ch + 6);
}

bool ui_rect_has(const ui_rect *r, int x, int y)
{
    return r->w > 0 && r->h > 0 && x >= r->x && x < r->x + r->w && y >= r->y && y < r->y + r->h;
}

bool ui_layout_hit_grid(const ui_layout *l, int x, int y, ui_grid_id *g, unsigned *vector)
{
    for (unsigned i = 0; i < UI_GRID_COUNT; i++) {
        const ui_rect *r = &l->grid[i];
        if (x >= r->x && x < r->x + r->w && y >= r->y && y < r->y + r->h) {
            unsigned col = (unsigned)(x - r->x) / (unsigned)l->cell;
            unsigned row = (unsigned)(y - r->y) / (unsigned)l->cell;
            if (col > 15 || row > 15)
                return false;
            *g = (ui_grid_id)i;
            *vector = (15 - row) << 4 | col;
            return true;
        }
    }
    return false;
}

int ui_layout_hit_tab(const ui_layout *l, int x, int y)
{
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++) {
        const ui_rect *r = &l->tabs[k];
        if (x >= r->x && x < r->x + r->w && y >= r->y && y < r->y + r->h)
            return (int)k;
    }
    return -1;
}

void ui_layout_cell(const ui_layout *l, ui_grid_id g, unsigned vector, int *x, int *y)
{
    *x = l->grid[g].x + (int)(vector & 15) * l->cell;
    *y = l->grid[g].y + (int)(15 - ((vector >> 4) & 15)) * l->cell;
}

int ui_layout_class_line_y(const ui_layout *l, ui_grid_id g, uint8_t ppr)
{
    return l->grid[g].y + (15 - (ppr >> 4)) * l->cell;
}
