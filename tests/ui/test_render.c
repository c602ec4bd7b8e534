/*
 * test_render.c — the window's drawing from synthetic snapshots (no
 * machine): pixels of the grids (a lit VIRR cell, the RVI marker, the VPPR
 * class line, a flashing cell), hit testing of every cell, any window size,
 * 8 vCPUs, the crash diagnostic and the PNG writer.
 *
 * Rendering goes to a software renderer on an SDL surface, so no display
 * or video driver is needed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <SDL.h>

#include "ui/ui.h"

static ui_view *view;
static SDL_Surface *surf;
static SDL_Renderer *ren;
static ui_gfx *gfx;
static ui_layout lay;

static void setup(void)
{
    view = calloc(1, sizeof(*view));
    ck_assert_ptr_nonnull(view);
    ui_view_init(view);
}

static void teardown(void)
{
    if (gfx)
        ui_gfx_destroy(gfx);
    if (ren)
        SDL_DestroyRenderer(ren);
    if (surf)
        SDL_FreeSurface(surf);
    gfx = NULL;
    ren = NULL;
    surf = NULL;
    free(view);
}

/* The snapshot of the lesson: vCPU 0 in non-root with 0x41 requested in
 * VIRR, RVI = 0x41, VPPR = 0x40 (class 4), 0x31 in service. */
static void lesson_snapshot(ui_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->seq = 1;
    s->ncpus = 2;
    s->now = 1000;
    s->mode = EMU_MODE_POSTED;
    for (unsigned k = 0; k < 2; k++) {
        ui_cpu_snap *c = &s->cpu[k];
        c->has_vmx = true;
        c->where = UI_WHERE_NONROOT;
        c->cycle = 1000;
        c->rip = 0x200000;
    }
    ui_cpu_snap *c = &s->cpu[0];
    ui_vec_set(&c->virr, 0x41);
    ui_vec_set(&c->visr, 0x31);
    c->rvi = 0x41;
    c->svi = 0x31;
    c->vppr = 0x40;
    c->vtpr = 0x20;
    ui_vec_set(&c->pir, 0x51);
    ui_vec_set(&c->irr, 0xF2);
    c->ppr = 0x10;
}

/* Renders the view at w x h into a fresh surface. */
static void render(int w, int h)
{
    char err[256];
    if (!surf || surf->w != w || surf->h != h) {
        if (gfx)
            ui_gfx_destroy(gfx);
        if (ren)
            SDL_DestroyRenderer(ren);
        if (surf)
            SDL_FreeSurface(surf);
        surf = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_ARGB8888);
        ck_assert_ptr_nonnull(surf);
        ren = SDL_CreateSoftwareRenderer(surf);
        ck_assert_ptr_nonnull(ren);
        gfx = ui_gfx_create(ren, err, sizeof(err));
        ck_assert_msg(gfx != NULL, "%s", err);
    }
    ui_render(gfx, view, w, h, &lay);
    SDL_RenderPresent(ren);
}

static uint32_t pixel(int x, int y)
{
    ck_assert_int_ge(x, 0);
    ck_assert_int_ge(y, 0);
    ck_assert_int_lt(x, surf->w);
    ck_assert_int_lt(y, surf->h);
    const uint8_t *row = (const uint8_t *)surf->pixels + (size_t)y * (size_t)surf->pitch;
    uint32_t argb;
    memcpy(&argb, row + (size_t)x * 4, 4);
    return argb & 0xFFFFFF;
}

static void cell_center(ui_grid_id g, unsigned vec, int *x, int *y)
{
    ui_layout_cell(&lay, g, vec, x, y);
    *x += lay.cell / 2;
    *y += lay.cell / 2;
}

static uint32_t cell_pixel(ui_grid_id g, unsigned vec)
{
    int x, y;
    cell_center(g, vec, &x, &y);
    return pixel(x, y);
}

START_TEST(virr_cell_lit)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    render(1600, 900);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x41), UI_RGB_VIRR);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x42), UI_RGB_CELL_OFF);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x14), UI_RGB_CELL_OFF);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VISR, 0x31), UI_RGB_VISR);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VISR, 0x41), UI_RGB_CELL_OFF);
    ck_assert_uint_eq(cell_pixel(UI_GRID_PIR, 0x51), UI_RGB_PIR);
    ck_assert_uint_eq(cell_pixel(UI_GRID_IRR, 0xF2), UI_RGB_IRR);
    ck_assert_uint_eq(cell_pixel(UI_GRID_ISR, 0xF2), UI_RGB_CELL_OFF);
    /* Row = class: 0x41 is one row above 0x31 and in the same column. */
    int x41, y41, x31, y31;
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x41, &x41, &y41);
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x31, &x31, &y31);
    ck_assert_int_eq(x41, x31);
    ck_assert_int_eq(y31 - y41, lay.cell);
}
END_TEST

START_TEST(rvi_and_svi_markers)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    render(1600, 900);
    int x, y;
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x41, &x, &y);
    ck_assert_uint_eq(pixel(x, y + lay.cell / 2), UI_RGB_MARKER);
    ck_assert_uint_eq(pixel(x + lay.cell - 1, y + lay.cell / 2), UI_RGB_MARKER);
    /* No marker on a neighbour, none on VISR 0x41. */
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x43, &x, &y);
    ck_assert_uint_ne(pixel(x, y + lay.cell / 2), UI_RGB_MARKER);
    ui_layout_cell(&lay, UI_GRID_VISR, 0x41, &x, &y);
    ck_assert_uint_ne(pixel(x, y + lay.cell / 2), UI_RGB_MARKER);
    /* SVI = 0x31 on VISR. */
    ui_layout_cell(&lay, UI_GRID_VISR, 0x31, &x, &y);
    ck_assert_uint_eq(pixel(x, y + lay.cell / 2), UI_RGB_MARKER);
    /* RVI moves with the snapshot. */
    s.cpu[0].rvi = 0x43;
    ui_view_accept(view, &s);
    render(1600, 900);
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x41, &x, &y);
    ck_assert_uint_ne(pixel(x, y + lay.cell / 2), UI_RGB_MARKER);
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x43, &x, &y);
    ck_assert_uint_eq(pixel(x, y + lay.cell / 2), UI_RGB_MARKER);
}
END_TEST

START_TEST(vppr_class_line)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    render(1600, 900);
    int x, y40, y50, y30;
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x48, &x, &y40);
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x58, &x, &y50);
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x38, &x, &y30);
    int line = ui_layout_class_line_y(&lay, UI_GRID_VIRR, 0x40);
    ck_assert_int_eq(line, y40); /* the top edge of the class-4 row */
    ck_assert_uint_eq(pixel(x + lay.cell / 2, y40), UI_RGB_PPR_LINE);
    ck_assert_uint_eq(pixel(x + lay.cell / 2, y40 - 1), UI_RGB_PPR_LINE);
    ck_assert_uint_ne(pixel(x + lay.cell / 2, y50), UI_RGB_PPR_LINE);
    ck_assert_uint_ne(pixel(x + lay.cell / 2, y30), UI_RGB_PPR_LINE);
    /* The same line on VISR; the physical grids follow the physical PPR (class 1). */
    ui_layout_cell(&lay, UI_GRID_VISR, 0x48, &x, &y40);
    ck_assert_uint_eq(pixel(x + lay.cell / 2, y40), UI_RGB_PPR_LINE);
    ui_layout_cell(&lay, UI_GRID_ISR, 0x18, &x, &y40);
    ck_assert_uint_eq(pixel(x + lay.cell / 2, y40), UI_RGB_PPR_LINE);
    ui_layout_cell(&lay, UI_GRID_ISR, 0x48, &x, &y40);
    ck_assert_uint_ne(pixel(x + lay.cell / 2, y40), UI_RGB_PPR_LINE);
    /* VPPR 0x70: the line moves up to class 7. */
    s.cpu[0].vppr = 0x70;
    ui_view_accept(view, &s);
    render(1600, 900);
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x78, &x, &y40);
    ck_assert_uint_eq(pixel(x + lay.cell / 2, y40), UI_RGB_PPR_LINE);
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x48, &x, &y40);
    ck_assert_uint_ne(pixel(x + lay.cell / 2, y40), UI_RGB_PPR_LINE);
}
END_TEST

START_TEST(changed_cell_flashes)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    view->clock_ms += 5000;
    /* PIR[0x51] → VIRR: the VIRR cell is set, the PIR cell cleared. */
    s.seq++;
    s.now += 100;
    s.cpu[0].cycle += 100;
    ui_vec_set(&s.cpu[0].virr, 0x51);
    memset(&s.cpu[0].pir, 0, sizeof(s.cpu[0].pir));
    s.nev = 1;
    s.ev[0].cycle = 1050;
    s.ev[0].cpu = 0;
    s.ev[0].kind = 0x200 + 17; /* any kind naming vector 0x51 in a */
    s.ev[0].a = 0x51;
    ui_view_accept(view, &s);
    render(1600, 900);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x51), UI_RGB_FLASH);
    ck_assert_uint_eq(cell_pixel(UI_GRID_PIR, 0x51), UI_RGB_FLASH);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x41), UI_RGB_VIRR); /* unchanged: no flash */
    ck_assert(ui_view_flashing(view, 0, UI_GRID_VIRR, 0x51));
    /* The flash ends; the cells show their state. */
    view->clock_ms += UI_FLASH_MS;
    render(1600, 900);
    ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x51), UI_RGB_VIRR);
    ck_assert_uint_eq(cell_pixel(UI_GRID_PIR, 0x51), UI_RGB_CELL_OFF);
    /* Clicking it says what changed it and when. */
    ui_view_describe_cell(view, UI_GRID_VIRR, 0x51);
    ck_assert_ptr_nonnull(strstr(view->info, "VIRR[0x51]"));
    ck_assert_ptr_nonnull(strstr(view->info, "cycle 1100"));
    ck_assert_ptr_nonnull(strstr(view->info, "= 1"));
}
END_TEST

START_TEST(click_reports_vector)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    render(1600, 900);
    for (unsigned g = 0; g < UI_GRID_COUNT; g++) {
        for (unsigned vec = 0; vec < 256; vec++) {
            int x, y;
            ui_grid_id hg;
            unsigned hv;
            ui_layout_cell(&lay, (ui_grid_id)g, vec, &x, &y);
            ck_assert(ui_layout_hit_grid(&lay, x + 1, y + lay.cell - 2, &hg, &hv));
            ck_assert_uint_eq(hg, g);
            ck_assert_uint_eq(hv, vec);
        }
    }
    int x, y;
    ui_grid_id hg;
    unsigned hv;
    cell_center(UI_GRID_VIRR, 0x41, &x, &y);
    ck_assert(ui_layout_hit_grid(&lay, x, y, &hg, &hv));
    ui_view_describe_cell(view, hg, hv);
    ck_assert_ptr_nonnull(strstr(view->info, "VIRR[0x41]"));
    ck_assert_ptr_nonnull(strstr(view->info, "= RVI"));
    ck_assert_ptr_nonnull(strstr(view->info, "class 4"));
    /* Outside every grid: nothing. */
    ck_assert(!ui_layout_hit_grid(&lay, 1, surf->h - 2, &hg, &hv));
    /* The clicked cell is outlined. */
    ui_layout_cell(&lay, UI_GRID_VIRR, 0x41, &x, &y);
    render(1600, 900);
    ck_assert_uint_eq(pixel(x - 1, y + lay.cell / 2), 0xffffff);
}
END_TEST

START_TEST(any_window_size)
{
    static const int sizes[][2] = {{480, 300}, {640, 480}, {1024, 768}, {1600, 900},
                                   {1920, 1080}, {3840, 2160}, {900, 1600}, {640, 360}};
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    int prev_font = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        render(sizes[i][0], sizes[i][1]);
        ck_assert_int_ge(lay.cell, 3);
        ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x41), UI_RGB_VIRR);
        ck_assert_uint_eq(cell_pixel(UI_GRID_EOI_EXIT, 0xFF), UI_RGB_CELL_OFF);
        /* Every grid fits in the window. */
        for (unsigned g = 0; g < UI_GRID_COUNT; g++) {
            ck_assert_int_le(lay.grid[g].x + lay.grid[g].w, sizes[i][0]);
            ck_assert_int_le(lay.grid[g].y + lay.grid[g].h, sizes[i][1]);
        }
        /* The panels do not run into each other: the events and console
         * panels are there only when they fit between the middle band and
         * the timeline (at 640x360 their titles were drawn over it). */
        for (const ui_rect *p = &lay.events; p; p = p == &lay.events ? &lay.console : NULL) {
            if (p->h > 0) {
                ck_assert_int_ge(p->h, 3 * lay.ch);
                ck_assert_int_le(p->y + p->h, lay.timeline.y);
            }
        }
        ck_assert_msg(lay.regs.y + lay.regs.h <= lay.timeline.y, "%dx%d: registers over the timeline",
                      sizes[i][0], sizes[i][1]);
        int x, y;
        ui_grid_id hg;
        unsigned hv;
        cell_center(UI_GRID_PIR, 0x51, &x, &y);
        ck_assert(ui_layout_hit_grid(&lay, x, y, &hg, &hv));
        ck_assert_uint_eq(hg, UI_GRID_PIR);
        ck_assert_uint_eq(hv, 0x51);
        if (i == 4)
            prev_font = lay.font_px;
        if (i == 5) /* a projector-sized window gets larger text */
            ck_assert_int_gt(lay.font_px, prev_font);
    }
}
END_TEST

START_TEST(eight_vcpus)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    s.ncpus = 8;
    for (unsigned k = 0; k < 8; k++) {
        s.cpu[k].has_vmx = true;
        ui_vec_set(&s.cpu[k].virr, 0x80 + 0x10 * (k % 8) / 2 + k);
    }
    ui_view_accept(view, &s);
    render(1600, 900);
    for (unsigned k = 0; k < 8; k++) {
        int x = lay.tabs[k].x + lay.tabs[k].w / 2, y = lay.tabs[k].y + lay.tabs[k].h / 2;
        ck_assert_int_eq(ui_layout_hit_tab(&lay, x, y), (int)k);
        ui_view_select(view, k);
        ck_assert_uint_eq(view->sel, k);
        render(1600, 900);
        unsigned vec = 0x80 + 0x10 * (k % 8) / 2 + k;
        ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, vec), UI_RGB_VIRR);
        if (k != 0) /* cpu 0's own 0x41 is not shown for cpu k */
            ck_assert_uint_eq(cell_pixel(UI_GRID_VIRR, 0x41), UI_RGB_CELL_OFF);
    }
    /* A CPU that does not exist cannot be selected. */
    s.ncpus = 2;
    ui_view_accept(view, &s);
    ck_assert_uint_eq(view->sel, 0);
    ui_view_select(view, 5);
    ck_assert_uint_eq(view->sel, 0);
}
END_TEST

/* Every CPU's VMX operation at a glance: a tab's frame is green in
 * non-root operation, amber in root, the plain border natively and for a
 * descheduled vCPU; the left edge's middle is frame, never text. */
START_TEST(tabs_say_root_or_non_root)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    s.cpu[1].where = UI_WHERE_ROOT;
    ui_view_accept(view, &s);
    render(1600, 900);
    for (int edge = 0; edge < 2; edge++) {
        int y = lay.tabs[0].y + lay.tabs[0].h / 2;
        ck_assert_uint_eq(pixel(lay.tabs[0].x + edge, y), UI_RGB_TAB_NONROOT);
        ck_assert_uint_eq(pixel(lay.tabs[1].x + edge, y), UI_RGB_TAB_ROOT);
    }
    s.cpu[1].descheduled = true;
    s.cpu[0].where = UI_WHERE_NATIVE;
    s.seq++;
    ui_view_accept(view, &s);
    render(1600, 900);
    int y = lay.tabs[0].y + lay.tabs[0].h / 2;
    for (unsigned k = 0; k < 2; k++)
        for (int edge = 0; edge < 2; edge++) {
            uint32_t px = pixel(lay.tabs[k].x + edge, y);
            ck_assert(px != UI_RGB_TAB_NONROOT && px != UI_RGB_TAB_ROOT);
        }
}
END_TEST

START_TEST(crash_shows_diagnostic)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    render(1600, 900);
    int probe_x = 1600 / 2, probe_y = lay.regs.y + 3;
    ck_assert_uint_ne(pixel(probe_x, probe_y), 0x8b1e1e);
    s.finished = true;
    s.exit_status = EMU_EXIT_CRASH;
    snprintf(s.diag, sizeof(s.diag), "cpu0: triple fault at RIP 0x202463");
    ui_view_accept(view, &s);
    render(1600, 900);
    ck_assert_uint_eq(pixel(probe_x, probe_y), 0x8b1e1e);
    /* A guest that exits normally shows no such box. */
    s.exit_status = 0;
    ui_view_accept(view, &s);
    render(1600, 900);
    ck_assert_uint_ne(pixel(probe_x, probe_y), 0x8b1e1e);
}
END_TEST

START_TEST(help_overlay)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    render(1600, 900);
    int n = 0;
    while (ui_help_lines[n])
        n++;
    int bw = 64 * lay.cw, bh = (n + 3) * lay.ch;
    int x = (1600 - bw) / 2, y = (900 - bh) / 2;
    ck_assert_uint_ne(pixel(x, y + bh / 2), 0x9ecbff);
    view->help = true;
    render(1600, 900);
    ck_assert_uint_eq(pixel(x, y + bh / 2), 0x9ecbff); /* the box's frame */
    ck_assert_uint_eq(pixel(x + bw - 1, y + bh / 2), 0x9ecbff);
}
END_TEST

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A small inflater for the test, written from RFC 1951 independently of
 * the writer: stored and fixed-Huffman blocks (the writer uses those). */
typedef struct inflater {
    const uint8_t *p;
    size_t len;
    size_t bit;
} inflater;

static unsigned getbits(inflater *in, unsigned n)
{
    unsigned v = 0;
    for (unsigned i = 0; i < n; i++, in->bit++) {
        ck_assert_uint_lt(in->bit / 8, in->len);
        v |= (unsigned)((in->p[in->bit / 8] >> (in->bit % 8)) & 1) << i;
    }
    return v;
}

static unsigned getcode(inflater *in, unsigned n, unsigned v)
{
    for (unsigned i = 0; i < n; i++)
        v = v << 1 | getbits(in, 1);
    return v;
}

static unsigned fixed_sym(inflater *in)
{
    unsigned v = getcode(in, 7, 0);
    if (v <= 23)
        return 256 + v;
    v = getcode(in, 1, v);
    if (v >= 0x30 && v <= 0xBF)
        return v - 0x30;
    if (v >= 0xC0 && v <= 0xC7)
        return 280 + v - 0xC0;
    v = getcode(in, 1, v);
    ck_assert_uint_ge(v, 0x190);
    return 144 + v - 0x190;
}

static size_t inflate_all(inflater *in, uint8_t *out, size_t cap)
{
    static const unsigned lb[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const unsigned le[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    size_t n = 0;
    unsigned final;
    do {
        final = getbits(in, 1);
        unsigned type = getbits(in, 2);
        ck_assert_uint_ne(type, 2); /* no dynamic codes expected */
        ck_assert_uint_ne(type, 3);
        if (type == 0) {
            in->bit = (in->bit + 7) / 8 * 8;
            unsigned len = getbits(in, 16), nlen = getbits(in, 16);
            ck_assert_uint_eq(len ^ 0xFFFF, nlen);
            for (unsigned i = 0; i < len; i++) {
                ck_assert_uint_lt(n, cap);
                out[n++] = (uint8_t)getbits(in, 8);
            }
            continue;
        }
        for (;;) {
            unsigned sym = fixed_sym(in);
            if (sym < 256) {
                ck_assert_uint_lt(n, cap);
                out[n++] = (uint8_t)sym;
                continue;
            }
            if (sym == 256)
                break;
            ck_assert_uint_le(sym, 285);
            unsigned len = lb[sym - 257] + getbits(in, le[sym - 257]);
            unsigned dc = getcode(in, 5, 0);
            ck_assert_uint_lt(dc, 30);
            unsigned extra = dc < 4 ? 0 : dc / 2 - 1;
            unsigned base = dc < 4 ? dc + 1 : ((2u + (dc & 1)) << extra) + 1;
            unsigned dist = base + getbits(in, extra);
            ck_assert_uint_le(dist, n);
            ck_assert_uint_le(n + len, cap);
            for (unsigned i = 0; i < len; i++, n++)
                out[n] = out[n - dist];
        }
    } while (!final);
    return n;
}

/* Bright caption pixels in the rows [y0, y1) of the caption panel, and the
 * rightmost column that has one. */
static int caption_ink(int y0, int y1, int *right)
{
    int n = 0;
    *right = -1;
    for (int y = y0; y < y1; y++)
        for (int x = lay.caption.x; x < lay.caption.x + lay.caption.w; x++)
            if ((pixel(x, y) & 0xFF) > 0xC0) {
                n++;
                if (x > *right)
                    *right = x;
            }
    return n;
}

/* A caption longer than the panel is wide wraps onto the next line, and
 * none of it is drawn beyond the panel, at a small window size. */
START_TEST(caption_wraps)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    snprintf(s.caption, sizeof(s.caption), "%s",
             "Virtual-interrupt delivery (30.2.2): VIRR[41h] -> VISR[41h], SVI = 41h, VPPR = 40h, "
             "RVI = 0; the guest's IDT vector 41h runs, and then its handler writes EOI");
    ui_view_accept(view, &s);
    view->clock_ms += 10 * UI_FLASH_MS;
    render(640, 400);
    int mid = lay.caption.y + lay.caption.h / 2, right;
    ck_assert_int_gt(caption_ink(lay.caption.y, mid, &right), 0);
    ck_assert_int_lt(right, lay.caption.x + lay.caption.w);
    ck_assert_int_gt(caption_ink(mid, lay.caption.y + lay.caption.h, &right), 0);
    /* A short one stays in the large type, on one line. */
    snprintf(s.caption, sizeof(s.caption), "%s", "PIR -> VIRR");
    s.seq++;
    ui_view_accept(view, &s);
    render(640, 400);
    int top = caption_ink(lay.caption.y, mid, &right);
    ck_assert_int_gt(top, 0);
    ck_assert_int_lt(right, lay.caption.x + lay.caption.w / 2);
}
END_TEST

/* Presentation mode (key p): no registers, code or VMCS panels, larger
 * type, a caption of two lines of large type. */
START_TEST(presentation_mode)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    snprintf(s.caption, sizeof(s.caption), "%s",
             "Virtual-interrupt delivery (30.2.2): VIRR[41h] -> VISR[41h], SVI = 41h, VPPR = 40h, "
             "RVI = 0; IDT vector 41h");
    ui_view_accept(view, &s);
    render(1600, 900);
    ui_layout normal = lay;
    ck_assert_int_gt(normal.regs.w, 0);
    ui_session ses;
    ui_target t = {0};
    ui_session_init(&ses, &t, view);
    int arg;
    ui_session_command(&ses, ui_key_command(SDLK_p, &arg), arg);
    ck_assert(view->present);
    render(1600, 900);
    ck_assert_int_eq(lay.regs.w, 0);
    ck_assert_int_eq(lay.disasm.w, 0);
    ck_assert_int_eq(lay.ctls.w, 0);
    ck_assert_int_gt(lay.ch, normal.ch);
    ck_assert_int_gt(lay.caption.h, normal.caption.h);
    /* The grids take the room of the panels that went (the lesson's vCPU
     * has no posted interrupts, so no PIR: tests/ui/test_present.c); the
     * events panel stays, shorter. */
    ck_assert_int_gt(lay.cell, normal.cell);
    ck_assert_int_eq(lay.grid[UI_GRID_PIR].w, 0);
    ck_assert_int_gt(lay.events.h, 8 * lay.ch);
    /* The caption is drawn in two lines of the large type. */
    int right, mid = lay.caption.y + lay.caption.h / 2;
    ck_assert_int_gt(caption_ink(lay.caption.y, mid, &right), 0);
    ck_assert_int_gt(caption_ink(mid, lay.caption.y + lay.caption.h, &right), 0);
    ui_session_command(&ses, UI_CMD_PRESENT, 0);
    ck_assert(!view->present);
}
END_TEST

START_TEST(png_file)
{
    ui_snapshot s;
    lesson_snapshot(&s);
    ui_view_accept(view, &s);
    char path[] = "/tmp/apicv_ui_png_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char err[256];
    ck_assert_msg(ui_render_png(view, 640, 400, path, err, sizeof(err)), "%s", err);
    render(640, 400); /* the same picture, for the layout and the pixels */
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static uint8_t buf[2 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    unlink(path);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    ck_assert_mem_eq(buf, sig, 8);
    ck_assert_mem_eq(buf + 12, "IHDR", 4);
    ck_assert_uint_eq(rd32(buf + 16), 640);
    ck_assert_uint_eq(rd32(buf + 20), 400);
    ck_assert_uint_eq(buf[24], 8);
    ck_assert_uint_eq(buf[25], 2);
    /* IEND's CRC is the well-known AE426082: the CRC is the PNG one. */
    ck_assert_mem_eq(buf + n - 12, "\0\0\0\0IEND\xAE\x42\x60\x82", 12);
    /* The IDAT: a zlib stream; inflate it (fixed-Huffman and stored
     * blocks, RFC 1951) into the raw rows. */
    size_t off = 33;
    ck_assert_mem_eq(buf + off + 4, "IDAT", 4);
    size_t zlen = rd32(buf + off);
    const uint8_t *z = buf + off + 8;
    ck_assert_uint_eq(z[0], 0x78);
    ck_assert_uint_eq((z[0] * 256u + z[1]) % 31, 0);
    size_t row = 640 * 3 + 1;
    uint8_t *raw = malloc(row * 400);
    inflater in = {z + 2, zlen - 6, 0};
    size_t got = inflate_all(&in, raw, row * 400);
    ck_assert_uint_eq(got, row * 400);
    size_t p = 2 + (in.bit + 7) / 8;
    ck_assert_uint_eq(p + 4, zlen);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < got; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    ck_assert_uint_eq(rd32(z + p), b << 16 | a);
    /* The VIRR 0x41 cell is lit in the file. */
    int x, y;
    cell_center(UI_GRID_VIRR, 0x41, &x, &y);
    const uint8_t *px = raw + row * (size_t)y + 1 + (size_t)x * 3;
    ck_assert_uint_eq((uint32_t)px[0] << 16 | px[1] << 8 | px[2], UI_RGB_VIRR);
    free(raw);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_render");
    TCase *tc = tcase_create("render");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, virr_cell_lit);
    tcase_add_test(tc, rvi_and_svi_markers);
    tcase_add_test(tc, vppr_class_line);
    tcase_add_test(tc, changed_cell_flashes);
    tcase_add_test(tc, click_reports_vector);
    tcase_add_test(tc, any_window_size);
    tcase_add_test(tc, eight_vcpus);
    tcase_add_test(tc, crash_shows_diagnostic);
    tcase_add_test(tc, png_file);
    tcase_add_test(tc, help_overlay);
    tcase_add_test(tc, tabs_say_root_or_non_root);
    tcase_add_test(tc, caption_wraps);
    tcase_add_test(tc, presentation_mode);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
