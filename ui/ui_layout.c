/*
 * ui_layout.c — where every panel goes in a window of any size, and hit
 * testing (which grid cell or vCPU tab is under the mouse).
 *
 * From top to bottom: the title bar with vCPU tabs; a row of six 16x16
 * grids (VIRR, VISR, PIR, IRR, ISR, EOI-exit bitmap); registers,
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
 * out makes the others larger. */
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
    int cell_w = (w - m - n * per_grid_extra) / (n * 16);
    int cell_h = (h * (present ? 52 : 40) / 100 - 3 * ch) / 16;
    int cell = cell_w < cell_h ? cell_w : cell_h;
    if (cell < 2)
        cell = 2;
    l->cell = cell;
    int x = m;
    for (unsigned g = 0; g < UI_GRID_COUNT; g++) {
        if (!((grids >> g) & 1)) {
            l->grid[g] = rect(0, 0, 0, 0);
            continue;
        }
        x += 2 * cw;
        l->grid[g] = rect(x, grid_top, 16 * cell, 16 * cell);
        x += 16 * cell + cw + m;
    }
    int y = grid_top + 16 * cell + ch / 2 + m;

    /* Bottom: caption (big type) and timeline; the middle band and the
     * events | console panels share what is left above them. */
    int cap_h = present ? 5 * ch : 2 * ch + ch / 2; /* presenting: two lines of large type */
    /* The timeline: a title line, one lane per vCPU (they share the
     * height between them) and the cycle axis. */
    int tl_h = 6 * ch;
    l->caption = rect(m, h - m - cap_h, w - 2 * m, cap_h);
    l->timeline = rect(m, l->caption.y - m - tl_h, w - 2 * m, tl_h);

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
    /* The caption list's button sits in the title bar left of the vCPU
     * tabs; the open list covers the events and console panels. */
    int bw = 19 * cw;
    l->cap_button = rect(tabs_x - m - bw, 2, bw, ch + ch / 2 - 4);
    l->cap_list = rect(m, y, w - 2 * m, rest);
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
