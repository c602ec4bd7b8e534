/*
 * test_present.c — presentation mode (key p, --present) and small windows
 * drawn off screen from synthetic snapshots: the presenting grids are
 * larger than the normal window's, and grid titles stay in their columns.
 * Six grids side by side are as wide as a 16:9 window allows, so it leaves
 * out those the vCPU's mode keeps empty (no PIR without posted interrupts,
 * no EOI-exit bitmap without virtual-interrupt delivery or while it is all
 * zero, no virtual registers natively); all six go in two rows of three,
 * the events beside them: side by side, the larger type made the cells
 * smaller than the normal window's (14 against 15 pixels at 1600x900).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "ui/ui.h"
#include "vmx/vmx.h"

static SDL_Surface *surf;
static SDL_Renderer *ren;
static ui_gfx *gfx;

typedef enum kind { POSTED, POSTED_EOI_EXIT, EMULATED, NATIVE } kind;

/* Two vCPUs; vCPU 0 has vector 51h in PIR (posted) or 41h in VIRR, and F2h
 * in the physical IRR. */
static void snapshot(ui_snapshot *s, kind k)
{
    memset(s, 0, sizeof(*s));
    s->seq = 1;
    s->ncpus = 2;
    s->now = 1000;
    s->mode = k == NATIVE ? EMU_MODE_NATIVE : k == EMULATED ? EMU_MODE_EMULATED : EMU_MODE_POSTED;
    for (unsigned i = 0; i < 2; i++) {
        ui_cpu_snap *c = &s->cpu[i];
        c->has_vmx = k != NATIVE;
        c->where = k == NATIVE ? UI_WHERE_NATIVE : UI_WHERE_NONROOT;
        c->cycle = 1000;
        c->rip = 0x200000;
        c->apic_id = i;
        if (k == POSTED || k == POSTED_EOI_EXIT) {
            c->pin = VMX_PIN_POSTED_INTR;
            c->proc2 = VMX_PROC2_VIRT_INTR_DELIVERY;
            c->pi_nv = 0xF2;
            c->ndst = i << 8;
        }
        c->sw_apic = k == EMULATED;
    }
    ui_cpu_snap *c = &s->cpu[0];
    if (k == POSTED || k == POSTED_EOI_EXIT)
        ui_vec_set(&c->pir, 0x51);
    if (k == POSTED_EOI_EXIT)
        ui_vec_set(&c->eoi_exit, 0x55);
    if (k != NATIVE)
        ui_vec_set(&c->virr, 0x41);
    ui_vec_set(&c->irr, 0xF2);
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
}

/* Renders a view of snapshot k at w x h, presenting or not, into l. */
static void render(kind k, bool present, int w, int h, ui_layout *l)
{
    char err[256];
    teardown();
    ui_view *v = calloc(1, sizeof(*v));
    ui_snapshot *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(s);
    ui_view_init(v);
    v->present = present;
    snapshot(s, k);
    ui_view_accept(v, s);
    surf = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_ARGB8888);
    ck_assert_ptr_nonnull(surf);
    ren = SDL_CreateSoftwareRenderer(surf);
    ck_assert_ptr_nonnull(ren);
    gfx = ui_gfx_create(ren, err, sizeof(err));
    ck_assert_msg(gfx != NULL, "%s", err);
    ui_render(gfx, v, w, h, l);
    SDL_RenderPresent(ren);
    free(s);
    free(v);
}

static uint32_t cell_pixel(const ui_layout *l, ui_grid_id g, unsigned vec)
{
    int x, y;
    ui_layout_cell(l, g, vec, &x, &y);
    x += l->cell / 2;
    y += l->cell / 2;
    ck_assert(x >= 0 && y >= 0 && x < surf->w && y < surf->h);
    const uint8_t *row = (const uint8_t *)surf->pixels + (size_t)y * (size_t)surf->pitch;
    uint32_t argb;
    memcpy(&argb, row + (size_t)x * 4, 4);
    return argb & 0xFFFFFF;
}

static unsigned shown(const ui_layout *l)
{
    unsigned m = 0;
    for (unsigned g = 0; g < UI_GRID_COUNT; g++)
        if (l->grid[g].w > 0)
            m |= 1u << g;
    return m;
}

static const int sizes[][2] = {{1600, 900}, {1280, 720}, {1920, 1080}, {1024, 768}};

/* Each mode, each window size: the presenting grids' cells are larger than
 * the normal window's, only the grids that mode can fill are there, and
 * what they hold is drawn at the new places (and found by a click). */
START_TEST(grids_larger_when_presenting)
{
    int w = sizes[_i][0], h = sizes[_i][1];
    static const struct {
        kind k;
        unsigned grids;
    } cases[] = {
        {POSTED, 1u << UI_GRID_VIRR | 1u << UI_GRID_VISR | 1u << UI_GRID_PIR | 1u << UI_GRID_IRR |
                     1u << UI_GRID_ISR},
        {POSTED_EOI_EXIT, UI_GRIDS_ALL},
        {EMULATED, 1u << UI_GRID_VIRR | 1u << UI_GRID_VISR | 1u << UI_GRID_IRR | 1u << UI_GRID_ISR},
        {NATIVE, 1u << UI_GRID_IRR | 1u << UI_GRID_ISR},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ui_layout normal, pres;
        render(cases[i].k, false, w, h, &normal);
        ck_assert_uint_eq(shown(&normal), UI_GRIDS_ALL);
        render(cases[i].k, true, w, h, &pres);
        ck_assert_uint_eq(shown(&pres), cases[i].grids);
        ck_assert_msg(pres.cell > normal.cell, "%dx%d case %u: presenting cell %d, normal %d", w, h,
                      i, pres.cell, normal.cell);
        ck_assert_uint_eq(cell_pixel(&pres, UI_GRID_IRR, 0xF2), UI_RGB_IRR);
        ck_assert_uint_eq(cell_pixel(&pres, UI_GRID_IRR, 0xF3), UI_RGB_CELL_OFF);
        if (pres.grid[UI_GRID_PIR].w)
            ck_assert_uint_eq(cell_pixel(&pres, UI_GRID_PIR, 0x51), UI_RGB_PIR);
        if (pres.grid[UI_GRID_VIRR].w)
            ck_assert_uint_eq(cell_pixel(&pres, UI_GRID_VIRR, 0x41), UI_RGB_VIRR);
        if (pres.grid[UI_GRID_EOI_EXIT].w)
            ck_assert_uint_eq(cell_pixel(&pres, UI_GRID_EOI_EXIT, 0x55), UI_RGB_EOI_EXIT);
        int x, y;
        ui_grid_id g;
        unsigned vec;
        ui_layout_cell(&pres, UI_GRID_ISR, 0x63, &x, &y);
        ck_assert(ui_layout_hit_grid(&pres, x + 1, y + 1, &g, &vec));
        ck_assert_int_eq(g, UI_GRID_ISR);
        ck_assert_uint_eq(vec, 0x63);
        /* Nothing of the grids runs past the window's right edge, into the
         * timeline or under the events (beside two rows of six). */
        for (unsigned k = 0; k < UI_GRID_COUNT; k++) {
            ck_assert_int_le(pres.grid[k].x + pres.grid[k].w, w);
            ck_assert_int_le(pres.grid[k].y + pres.grid[k].h, pres.timeline.y);
            if (pres.grid[k].w && pres.events.h && pres.events.y < pres.grid[k].y + pres.grid[k].h)
                ck_assert_int_ge(pres.events.x, pres.grid[k].x + pres.grid[k].w);
        }
    }
}
END_TEST

/* Pixels unlike the background in x0..x1-1 over the two title lines (the
 * name and the values) above grid g's column digits. */
static int inked(const ui_layout *l, ui_grid_id g, int x0, int x1)
{
    const ui_rect *r = &l->grid[g];
    int n = 0;
    for (int y = r->y - 3 * l->ch; y < r->y - l->ch; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *row = (const uint8_t *)surf->pixels + (size_t)y * (size_t)surf->pitch;
            uint32_t argb;
            memcpy(&argb, row + (size_t)x * 4, 4);
            n += (argb & 0xFFFFFF) != UI_RGB_BG;
        }
    return n;
}

static const int small_sizes[][2] = {{640, 360}, {800, 450}, {1024, 576}, {1280, 720}, {1600, 900}};

/* The PIR grid's title, the longest ("ON=0 SN=0 NV=F2 NDST=cpu0"), stays in
 * its column at any window size, presenting or not: nothing of it between
 * the PIR grid and the IRR grid's labels, nor past the IRR grid's own name
 * and title ("IRR", "TPR=00"). At 640x360 it ran into them ("NDST=cTPR=00"). */
START_TEST(grid_titles_stay_in_their_columns)
{
    int w = small_sizes[_i / 2][0], h = small_sizes[_i / 2][1];
    bool present = _i & 1;
    ui_layout l;
    render(POSTED, present, w, h, &l);
    const ui_rect *pir = &l.grid[UI_GRID_PIR], *irr = &l.grid[UI_GRID_IRR];
    int gap0 = pir->x + pir->w + l.cw / 2, gap1 = irr->x - 2 * l.cw;
    ck_assert_int_ge(gap1, gap0);
    ck_assert_msg(inked(&l, UI_GRID_PIR, gap0, gap1) == 0, "%dx%d%s: PIR title in the gap", w, h,
                  present ? " presenting" : "");
    ck_assert_msg(inked(&l, UI_GRID_IRR, gap1 + 7 * l.cw, irr->x + irr->w) == 0,
                  "%dx%d%s: PIR title over the IRR grid's", w, h, present ? " presenting" : "");
    ck_assert_int_gt(inked(&l, UI_GRID_PIR, pir->x - 2 * l.cw, gap0), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("present");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, grids_larger_when_presenting, 0, (int)(sizeof(sizes) / sizeof(sizes[0])));
    tcase_add_loop_test(t, grid_titles_stay_in_their_columns, 0,
                        (int)(2 * sizeof(small_sizes) / sizeof(small_sizes[0])));
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
