/*
 * ui_grid.c — the 16x16 vector grids: one cell per vector, one row per
 * priority class (class 15 at the top, SDM Vol. 3A 11.8.3.1: priority class =
 * vector[7:4]), with the RVI/SVI markers and the PPR class line.
 *
 * VIRR/VISR are the virtual-APIC page's IRR and ISR (SDM 29.1.1), PIR the
 * posted-interrupt descriptor's requests (SDM 29.6), IRR/ISR the physical
 * local APIC's, and the EOI-exit bitmap the VMCS's (SDM 24.6.8, 2016 numbering).
 */
#include <stdio.h>
#include <string.h>

#include "ui/ui_internal.h"
#include "vmx/vmx.h"

static const uint32_t lit_rgb[UI_GRID_COUNT] = {
    UI_RGB_VIRR, UI_RGB_VISR, UI_RGB_PIR, UI_RGB_IRR, UI_RGB_ISR, UI_RGB_EOI_EXIT,
};

/* The title line of a grid: the values that belong with it. */
static void grid_title(const ui_snapshot *s, const ui_cpu_snap *c, ui_grid_id id, char *buf,
                       size_t len)
{
    unsigned cpu;
    uint32_t apic;
    switch (id) {
    case UI_GRID_VIRR:
        if (c->sw_apic)
            snprintf(buf, len, "host's APIC: TPR=%02X", c->vtpr);
        else
            snprintf(buf, len, "RVI=%02X VTPR=%02X", c->rvi, c->vtpr);
        break;
    case UI_GRID_VISR:
        if (c->sw_apic)
            snprintf(buf, len, "host's APIC: PPR=%02X", c->vppr);
        else
            snprintf(buf, len, "SVI=%02X VPPR=%02X", c->svi, c->vppr);
        break;
    case UI_GRID_PIR:
        /* NDST named by the CPU it designates (SDM 29.6); no descriptor
         * without posted-interrupt processing. */
        if (!(c->pin & VMX_PIN_POSTED_INTR))
            snprintf(buf, len, "no descriptor (not posted)");
        else if (ui_ndst_cpu(s, c, &cpu, &apic))
            snprintf(buf, len, "ON=%u SN=%u NV=%02X NDST=cpu%u", c->on, c->sn, c->pi_nv, cpu);
        else
            snprintf(buf, len, "ON=%u SN=%u NV=%02X NDST=%X", c->on, c->sn, c->pi_nv,
                     (unsigned)c->ndst);
        break;
    case UI_GRID_IRR:
        snprintf(buf, len, "TPR=%02X", c->tpr);
        break;
    case UI_GRID_ISR:
        snprintf(buf, len, "PPR=%02X", c->ppr);
        break;
    default:
        snprintf(buf, len, "EOI exits");
        break;
    }
}

/* Splits a grid's title that is longer than its column (maxc characters)
 * at a space: the head goes after the grid's name (first) when it fits
 * there (maxc - name_len), the tail on the values line (second). Else the
 * title is cut at the column's edge. A title that fits stays whole in second. */
static void title_split(const char *title, int maxc, int name_len, char *first, char *second,
                        size_t len)
{
    int n = (int)strlen(title);
    first[0] = 0;
    if (maxc <= 0) {
        second[0] = 0;
        return;
    }
    int cut = -1;
    if (n > maxc)
        for (int i = 0; i < n && cut < 0; i++)
            if (title[i] == ' ' && n - i - 1 <= maxc)
                cut = i;
    if (cut < 0 || cut > maxc - name_len) {
        snprintf(second, len, "%.*s", maxc, title);
        return;
    }
    snprintf(first, len, "%.*s", cut, title);
    snprintf(second, len, "%s", title + cut + 1);
}

static bool grid_is_virtual(ui_grid_id id)
{
    return id == UI_GRID_VIRR || id == UI_GRID_VISR || id == UI_GRID_PIR ||
           id == UI_GRID_EOI_EXIT;
}

void ui_draw_grid(ui_gfx *g, const ui_view *v, const ui_layout *l, ui_grid_id id)
{
    const ui_rect *r = &l->grid[id];
    int cell = l->cell, cw = l->cw, ch = l->ch;
    const ui_cpu_snap *c = &v->snap.cpu[v->sel];
    bool absent = grid_is_virtual(id) && !c->has_vmx;
    char title[64];

    /* Name and values above, column digits under them, class digits left. */
    /* Before APIC virtualization the hypervisor's software APIC stands
     * where VIRR and VISR would be. */
    const char *name = ui_grid_name(id);
    if (c->sw_apic && id == UI_GRID_VIRR)
        name = "IRR (software)";
    else if (c->sw_apic && id == UI_GRID_VISR)
        name = "ISR (software)";
    int name_w = ui_text(g, UI_FONT_TEXT, r->x - 2 * cw, r->y - 3 * ch, lit_rgb[id], name);
    if (!absent) {
        grid_title(&v->snap, c, id, title, sizeof(title));
        /* The grid's column, up to one character before the next grid's
         * labels (ui_layout_compute_grids): a longer title (a small window,
         * "ON=0 SN=0 NV=F2 NDST=cpu1") never runs into the next grid's. */
        int maxc = cw > 0 ? (16 * cell + 2 * cw) / cw : 0;
        char first[64], second[64];
        title_split(title, maxc, (int)strlen(name) + 1, first, second, sizeof(first));
        if (first[0])
            ui_text(g, UI_FONT_TEXT, r->x - 2 * cw + name_w + cw, r->y - 3 * ch, UI_RGB_TEXT, first);
        ui_text(g, UI_FONT_TEXT, r->x - 2 * cw, r->y - 2 * ch, UI_RGB_TEXT, second);
    } else {
        ui_text(g, UI_FONT_TEXT, r->x - 2 * cw, r->y - 2 * ch, UI_RGB_DIM, "(no vCPU)");
    }
    if (cell >= cw) {
        for (int col = 0; col < 16; col++)
            ui_textf(g, UI_FONT_TEXT, r->x + col * cell + (cell - cw) / 2, r->y - ch, UI_RGB_DIM,
                     "%X", col);
    }
    for (int row = 0; row < 16; row++)
        ui_textf(g, UI_FONT_TEXT, r->x - cw - cw / 2, r->y + row * cell + (cell - ch) / 2,
                 UI_RGB_DIM, "%X", 15 - row);

    const ui_vec256 *reg = ui_grid_reg(c, id);
    int gap = cell >= 6 ? 1 : 0;
    for (unsigned vec = 0; vec < 256; vec++) {
        int x, y;
        ui_layout_cell(l, id, vec, &x, &y);
        uint32_t rgb = UI_RGB_CELL_OFF;
        if (ui_view_flashing(v, v->sel, id, vec))
            rgb = UI_RGB_FLASH;
        else if (!absent && ui_vec_test(reg, vec))
            rgb = lit_rgb[id];
        ui_fill(g, x + gap, y + gap, cell - 2 * gap, cell - 2 * gap, rgb);
    }

    /* The class line of the PPR that governs this register: VPPR for the
     * virtual registers (SDM 29.1.3), the APIC's PPR for the physical ones
     * (SDM Vol. 3A 11.8.3.1). Vectors in the rows at or below it are masked. */
    int t = cell / 6 > 2 ? cell / 6 : 2;
    bool have_line = false;
    uint8_t ppr = 0;
    if ((id == UI_GRID_VIRR || id == UI_GRID_VISR) && c->has_vmx) {
        have_line = true;
        ppr = c->vppr;
    } else if (id == UI_GRID_IRR || id == UI_GRID_ISR) {
        have_line = true;
        ppr = c->ppr;
    }
    if (have_line) {
        int ly = ui_layout_class_line_y(l, id, ppr);
        ui_fill(g, r->x - cw / 2, ly - t / 2, r->w + cw, t, UI_RGB_PPR_LINE);
    }

    /* RVI on VIRR, SVI on VISR (0 means none: vectors 0-15 never pend);
     * thin enough to leave the cell's own colour visible. */
    int x, y;
    t = cell >= 8 ? t : 1;
    if (id == UI_GRID_VIRR && c->has_vmx && c->rvi) {
        ui_layout_cell(l, id, c->rvi, &x, &y);
        ui_frame(g, x, y, cell, cell, t, UI_RGB_MARKER);
    }
    if (id == UI_GRID_VISR && c->has_vmx && c->svi) {
        ui_layout_cell(l, id, c->svi, &x, &y);
        ui_frame(g, x, y, cell, cell, t, UI_RGB_MARKER);
    }
    if (v->sel_grid == (int)id) {
        ui_layout_cell(l, id, (unsigned)v->sel_vector, &x, &y);
        ui_frame(g, x - 1, y - 1, cell + 2, cell + 2, 1, UI_RGB_SELECT);
    }
}
