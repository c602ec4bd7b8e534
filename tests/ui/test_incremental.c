/*
 * test_incremental.c — the window's incremental drawing (ui_render_update)
 * and the disassembly cache, the two things that keep the window cheap
 * while the machine runs at full speed.
 *
 * Every step changes the view the way a running machine or a viewer does
 * (registers, a flashing cell, the help overlay, a caption, a crash, the
 * selected vCPU, a resize), updates one surface incrementally (filling
 * rectangles directly, as the window does) and renders another from scratch
 * through SDL alone: the two must be identical pixel for pixel, and the
 * rectangles reported as changed must cover every pixel that changed and
 * leave alone the panels that did not.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "ui/ui.h"
#include "vmx/vmx_vmcs.h"

typedef struct canvas {
    SDL_Surface *s;
    SDL_Renderer *r;
    ui_gfx *g;
} canvas;

static void canvas_open(canvas *c, int w, int h)
{
    char err[256];
    c->s = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_ARGB8888);
    ck_assert_ptr_nonnull(c->s);
    c->r = SDL_CreateSoftwareRenderer(c->s);
    ck_assert_ptr_nonnull(c->r);
    c->g = ui_gfx_create(c->r, err, sizeof(err));
    ck_assert_msg(c->g != NULL, "%s", err);
}

static void canvas_close(canvas *c)
{
    ui_gfx_destroy(c->g);
    SDL_DestroyRenderer(c->r);
    SDL_FreeSurface(c->s);
}

static uint32_t px(const SDL_Surface *s, int x, int y)
{
    uint32_t v;
    memcpy(&v, (const uint8_t *)s->pixels + (size_t)y * (size_t)s->pitch + (size_t)x * 4, 4);
    return v & 0xFFFFFF;
}

static bool inside(const ui_rect *d, int n, int x, int y)
{
    for (int i = 0; i < n; i++)
        if (x >= d[i].x && x < d[i].x + d[i].w && y >= d[i].y && y < d[i].y + d[i].h)
            return true;
    return false;
}

/* The test fixture: an incremental canvas, a reference canvas, a copy of
 * the incremental canvas before the step, the view. */
static canvas inc, ref;
static SDL_Surface *before;
static ui_view *view;
static ui_layout lay;
static ui_rect dirty[UI_MAX_DIRTY];
static int ndirty;

static void open_all(int w, int h)
{
    canvas_open(&inc, w, h);
    canvas_open(&ref, w, h);
    /* The window's way (direct fills) against SDL's own fills. */
    ui_gfx_set_surface(inc.g, inc.s);
    before = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_ARGB8888);
    ck_assert_ptr_nonnull(before);
}

static void close_all(void)
{
    canvas_close(&inc);
    canvas_close(&ref);
    SDL_FreeSurface(before);
}

static void setup(void)
{
    view = calloc(1, sizeof(*view));
    ck_assert_ptr_nonnull(view);
    ui_view_init(view);
    open_all(1280, 720);
}

static void teardown(void)
{
    close_all();
    free(view);
}

/* Updates inc, renders ref from scratch, and checks: same pixels, and
 * every pixel that changed lies in a reported rectangle. */
static void step(void)
{
    ck_assert_int_eq(before->pitch, inc.s->pitch);
    memcpy(before->pixels, inc.s->pixels, (size_t)inc.s->pitch * (size_t)inc.s->h);
    ui_layout l2;
    ndirty = ui_render_update(inc.g, view, inc.s->w, inc.s->h, &lay, dirty);
    SDL_RenderFlush(inc.r);
    ui_render(ref.g, view, ref.s->w, ref.s->h, &l2);
    SDL_RenderFlush(ref.r);
    ck_assert_int_ge(ndirty, 0);
    ck_assert_int_le(ndirty, UI_MAX_DIRTY);
    for (int y = 0; y < inc.s->h; y++) {
        for (int x = 0; x < inc.s->w; x++) {
            uint32_t a = px(inc.s, x, y), b = px(ref.s, x, y);
            if (a != b)
                ck_abort_msg("pixel (%d,%d): incremental %06x, full %06x", x, y, a, b);
            if (a != px(before, x, y) && !inside(dirty, ndirty, x, y))
                ck_abort_msg("pixel (%d,%d) changed outside the dirty rectangles", x, y);
        }
    }
}

static void lesson(ui_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->seq = 1;
    s->ncpus = 2;
    s->now = 1000;
    s->insns_total = 500;
    s->mode = EMU_MODE_POSTED;
    for (unsigned k = 0; k < 2; k++) {
        s->cpu[k].has_vmx = true;
        s->cpu[k].where = UI_WHERE_NONROOT;
        s->cpu[k].cycle = 1000;
        s->cpu[k].rip = 0x200000 + k;
    }
    ui_vec_set(&s->cpu[0].virr, 0x41);
    s->cpu[0].rvi = 0x41;
    s->cpu[0].vppr = 0x40;
    ui_vec_set(&s->cpu[0].irr, 0xF2);
}

/* A pixel in the middle of a cell of grid g. */
static void cell_mid(ui_grid_id g, unsigned vec, int *x, int *y)
{
    ui_layout_cell(&lay, g, vec, x, y);
    *x += lay.cell / 2;
    *y += lay.cell / 2;
}

START_TEST(running_machine_redraws_only_what_changed)
{
    ui_snapshot s;
    lesson(&s);
    ui_view_accept(view, &s);
    step();
    ck_assert_int_eq(ndirty, 1); /* the first frame is the whole window */
    ck_assert_int_eq(dirty[0].w, 1280);
    ck_assert_int_eq(dirty[0].h, 720);

    /* Nothing changed: nothing drawn. */
    step();
    ck_assert_int_eq(ndirty, 0);

    /* The machine ran: clock, instructions, registers moved; no grid bit. */
    for (int i = 0; i < 5; i++) {
        s.seq++;
        s.now += 400000;
        s.insns_total += 300000;
        s.cpu[0].cycle = s.now;
        s.cpu[0].gpr[0] += 0x1234567;
        s.cpu[0].rip += 3;
        ui_view_accept(view, &s);
        view->clock_ms += 16;
        step();
        ck_assert_int_gt(ndirty, 0);
        /* No grid cell is in a dirty rectangle: the grids were not redrawn. */
        for (unsigned g = 0; g < UI_GRID_COUNT; g++) {
            int x, y;
            cell_mid((ui_grid_id)g, 0x41, &x, &y);
            ck_assert_msg(!inside(dirty, ndirty, x, y), "grid %u redrawn", g);
        }
        int area = 0;
        for (int k = 0; k < ndirty; k++)
            area += dirty[k].w * dirty[k].h;
        ck_assert_int_lt(area, 1280 * 720 / 3);
    }
}
END_TEST

START_TEST(changes_of_every_kind_match_a_full_render)
{
    ui_snapshot s;
    lesson(&s);
    ui_view_accept(view, &s);
    step();

    /* A bit moves from PIR to VIRR: the cells flash, then stop. */
    view->clock_ms += 5000;
    s.seq++;
    ui_vec_set(&s.cpu[0].virr, 0x51);
    s.cpu[0].rvi = 0x51;
    s.nev = 1;
    s.ev[0].cycle = 1050;
    s.ev[0].kind = 0x200;
    s.ev[0].a = 0x51;
    s.ev_total = 1;
    ui_view_accept(view, &s);
    step();
    int x, y;
    cell_mid(UI_GRID_VIRR, 0x51, &x, &y);
    ck_assert_uint_eq(px(inc.s, x, y), UI_RGB_FLASH);
    view->clock_ms += UI_FLASH_MS;
    step();
    ck_assert_uint_eq(px(inc.s, x, y), UI_RGB_VIRR);

    /* The help overlay over the panels, then gone. */
    view->help = true;
    step();
    view->help = false;
    step();

    /* A clicked cell (caption line), a narration caption, then none. */
    ui_view_describe_cell(view, UI_GRID_VIRR, 0x51);
    step();
    snprintf(view->snap.caption, sizeof(view->snap.caption), "%s", "PIR to VIRR");
    step();
    view->snap.caption[0] = 0;
    view->info[0] = 0;
    view->sel_grid = -1;
    step();

    /* Another vCPU, then a crash box over the middle. */
    ui_view_select(view, 1);
    step();
    s.seq++;
    s.finished = true;
    s.exit_status = EMU_EXIT_CRASH;
    snprintf(s.diag, sizeof(s.diag), "%s", "#GP at 0x200000 with no IDT");
    ui_view_accept(view, &s);
    step();
    s.seq++;
    s.finished = false;
    s.exit_status = 0;
    ui_view_accept(view, &s);
    step();

    /* The console grows and the timeline fills. */
    snprintf(view->snap.console, sizeof(view->snap.console), "%s", "hello\nworld\n");
    view->snap.nmarks = 2;
    view->snap.marks[0].cycle = 100;
    view->snap.marks[1].cycle = 900;
    view->snap.marks[1].cls = UI_EVC_EXIT;
    step();

    /* Presentation mode: the grids the mode cannot fill go and the others
     * grow; then the EOI-exit bitmap gets a bit and its grid comes back
     * (the layout changes between two frames), and out of it again. */
    ui_view_select(view, 0);
    view->present = true;
    step();
    ck_assert_int_eq(lay.grid[UI_GRID_PIR].w, 0);
    ck_assert_int_eq(lay.grid[UI_GRID_EOI_EXIT].w, 0);
    s.seq++;
    s.cpu[0].proc2 = VMX_PROC2_VIRT_INTR_DELIVERY;
    ui_vec_set(&s.cpu[0].eoi_exit, 0x55);
    ui_view_accept(view, &s);
    step();
    ck_assert_int_gt(lay.grid[UI_GRID_EOI_EXIT].w, 0);
    view->present = false;
    step();
}
END_TEST

START_TEST(resize_redraws_everything)
{
    ui_snapshot s;
    lesson(&s);
    ui_view_accept(view, &s);
    step();
    close_all();
    open_all(800, 500);
    /* A new gfx starts from scratch; an old one at a new size as well. */
    step();
    ck_assert_int_eq(ndirty, 1);
    ck_assert_int_eq(dirty[0].w, 800);
    ui_rect d[UI_MAX_DIRTY];
    ui_layout l;
    int n = ui_render_update(inc.g, view, 640, 400, &l, d);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(d[0].w, 640);
    ck_assert_int_eq(d[0].h, 400);
    ck_assert_int_eq(l.w, 640);
}
END_TEST

/* The disassembly is remembered by address, mode and bytes: the same code
 * gives the same lines, changed bytes at the same address or another CPU
 * mode give new ones. */
START_TEST(disassembly_cache_follows_the_bytes)
{
    ui_snapshot s;
    memset(&s, 0, sizeof(s));
    s.ncpus = 1;
    ui_cpu_snap *c = &s.cpu[0];
    c->code_base = 0x1000;
    c->code_len = UI_CODE_BYTES;
    c->rip = 0x1000 + UI_CODE_BEFORE;
    c->mode = CPU_MODE_LONG64;
    memset(c->code, 0x90, sizeof(c->code)); /* nop */
    ui_view_accept(view, &s);
    ck_assert_int_ge(view->disasm_cur, 0);
    ck_assert_ptr_nonnull(strstr(view->disasm[view->disasm_cur], "nop"));
    char lines[UI_DISASM_LINES][96];
    memcpy(lines, view->disasm, sizeof(lines));
    unsigned n = view->ndisasm;
    ui_view_accept(view, &s);
    ck_assert_uint_eq(view->ndisasm, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_str_eq(lines[i], view->disasm[i]);
    /* The same address now holds RET: the line follows the bytes. */
    c->code[UI_CODE_BEFORE] = 0xC3;
    ui_view_accept(view, &s);
    ck_assert_ptr_nonnull(strstr(view->disasm[view->disasm_cur], "ret"));
    ck_assert_ptr_null(strstr(view->disasm[view->disasm_cur], "nop"));
    /* A five-byte instruction at RIP: decoded whole, at RIP. */
    memset(c->code, 0x90, sizeof(c->code));
    static const uint8_t mov[] = {0xB8, 0x78, 0x56, 0x34, 0x12};
    memcpy(c->code + UI_CODE_BEFORE, mov, sizeof(mov));
    ui_view_accept(view, &s);
    ck_assert_ptr_nonnull(strstr(view->disasm[view->disasm_cur], "mov eax, 0x12345678"));
    ck_assert_uint_eq(view->disasm_addr[view->disasm_cur], c->rip);
    /* The same bytes in 16-bit code: the cache follows the mode too. */
    c->mode = CPU_MODE_PROT16;
    ui_view_accept(view, &s);
    ck_assert_ptr_nonnull(strstr(view->disasm[view->disasm_cur], "mov ax, 0x5678"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_incremental");
    TCase *tc = tcase_create("incremental");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, running_machine_redraws_only_what_changed);
    tcase_add_test(tc, changes_of_every_kind_match_a_full_render);
    tcase_add_test(tc, resize_redraws_everything);
    tcase_add_test(tc, disassembly_cache_follows_the_bytes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
