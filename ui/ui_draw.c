/*
 * ui_draw.c — drawing primitives (rectangles, monospaced text from a glyph
 * cache), the whole-window render, and off-screen rendering to PNG.
 *
 * Text: every printable ASCII glyph of DejaVu Sans Mono is rendered once
 * per size into a white surface and made into one texture per colour on
 * first use, so a frame never calls into FreeType. The sizes follow the
 * window size (ui_render), so the window stays readable on a projector.
 *
 * The window draws incrementally (ui_render_update): every panel is first
 * run "dry", folding its primitives into a hash, and only panels whose hash
 * changed are cleared and drawn again. Running at full speed, that is the
 * title bar, the registers and the code; the grids, event log and console
 * are drawn only when their contents change. Into a surface (the window's,
 * the PNG's) rectangles are filled directly: SDL's SSE fill writes with
 * non-temporal stores, slow to write and slower for the text blended on top.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/ui_internal.h"

#define UI_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"

static void drop_fonts(ui_gfx *g)
{
    for (int f = 0; f < UI_NFONTS; f++) {
        for (int i = 0; i < UI_NGLYPHS; i++) {
            for (int c = 0; c < UI_NCOLOURS; c++) {
                if (g->glyph[f][c][i])
                    SDL_DestroyTexture(g->glyph[f][c][i]);
                g->glyph[f][c][i] = NULL;
            }
            if (g->gsurf[f][i])
                SDL_FreeSurface(g->gsurf[f][i]);
            g->gsurf[f][i] = NULL;
        }
        if (g->font[f])
            TTF_CloseFont(g->font[f]);
        g->font[f] = NULL;
        g->px[f] = 0;
    }
}

static bool load_font(ui_gfx *g, int f, int px)
{
    TTF_Font *font = TTF_OpenFont(g->path, px);
    if (!font)
        return false;
    g->font[f] = font;
    g->px[f] = px;
    int adv = 0;
    TTF_GlyphMetrics(font, 'M', NULL, NULL, NULL, NULL, &adv);
    g->cw[f] = adv > 0 ? adv : px / 2;
    g->ch[f] = TTF_FontLineSkip(font);
    SDL_Color white = {255, 255, 255, 255};
    g->gw[f] = g->gh[f] = 0;
    for (int i = 0; i < UI_NGLYPHS; i++) {
        SDL_Surface *gs = TTF_RenderGlyph_Blended(font, (Uint16)(0x20 + i), white);
        g->gsurf[f][i] = gs;
        if (gs && gs->w > g->gw[f])
            g->gw[f] = gs->w;
        if (gs && gs->h > g->gh[f])
            g->gh[f] = gs->h;
    }
    return true;
}

/* Glyph surface s recoloured to rgb, alpha kept. */
static SDL_Surface *coloured(SDL_Surface *s, uint32_t rgb)
{
    SDL_Surface *c = SDL_ConvertSurfaceFormat(s, SDL_PIXELFORMAT_ARGB8888, 0);
    if (!c || SDL_LockSurface(c) != 0)
        return c;
    for (int y = 0; y < c->h; y++) {
        uint32_t *row = (uint32_t *)((uint8_t *)c->pixels + (size_t)y * (size_t)c->pitch);
        for (int x = 0; x < c->w; x++)
            row[x] = (row[x] & 0xFF000000u) | (rgb & 0xFFFFFFu);
    }
    SDL_UnlockSurface(c);
    return c;
}

/* The texture of glyph i of font f in colour rgb, made on first use; past
 * UI_NCOLOURS colours the last slot is remade (slow, but never wrong). */
static SDL_Texture *glyph(ui_gfx *g, int f, int i, uint32_t rgb)
{
    int c = 0;
    while (c < g->npal && g->pal[c] != rgb)
        c++;
    if (c == g->npal) {
        if (g->npal == UI_NCOLOURS) {
            c = UI_NCOLOURS - 1;
            for (int k = 0; k < UI_NFONTS; k++) {
                for (int j = 0; j < UI_NGLYPHS; j++) {
                    if (g->glyph[k][c][j])
                        SDL_DestroyTexture(g->glyph[k][c][j]);
                    g->glyph[k][c][j] = NULL;
                }
            }
            g->pal[c] = rgb;
        } else {
            g->pal[g->npal++] = rgb;
        }
    }
    SDL_Texture *t = g->glyph[f][c][i];
    if (!t && g->gsurf[f][i]) {
        SDL_Surface *cs = coloured(g->gsurf[f][i], rgb);
        if (!cs)
            return NULL;
        t = SDL_CreateTextureFromSurface(g->r, cs);
        SDL_FreeSurface(cs);
        if (!t)
            return NULL;
        SDL_SetTextureBlendMode(t, SDL_BLENDMODE_BLEND);
        g->glyph[f][c][i] = t;
    }
    return t;
}

bool ui_gfx_set_size(ui_gfx *g, int text_px, int big_px)
{
    if (g->px[UI_FONT_TEXT] == text_px && g->px[UI_FONT_BIG] == big_px)
        return true;
    g->valid = false;
    drop_fonts(g);
    return load_font(g, UI_FONT_TEXT, text_px) && load_font(g, UI_FONT_BIG, big_px);
}

ui_gfx *ui_gfx_create(SDL_Renderer *r, char *err, size_t errlen)
{
    if (!TTF_WasInit() && TTF_Init() != 0) {
        snprintf(err, errlen, "SDL_ttf: %s", TTF_GetError());
        return NULL;
    }
    ui_gfx *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->r = r;
    const char *path = getenv("APICV_UI_FONT");
    snprintf(g->path, sizeof(g->path), "%s", path && *path ? path : UI_DEFAULT_FONT);
    if (!ui_gfx_set_size(g, 14, 28)) {
        snprintf(err, errlen,
                 "cannot open the font %s (%s): install fonts-dejavu-core or set APICV_UI_FONT",
                 g->path, TTF_GetError());
        ui_gfx_destroy(g);
        return NULL;
    }
    return g;
}

void ui_gfx_destroy(ui_gfx *g)
{
    if (!g)
        return;
    drop_fonts(g);
    free(g);
}

static void set_rgb(ui_gfx *g, uint32_t rgb)
{
    SDL_SetRenderDrawColor(g->r, (Uint8)(rgb >> 16), (Uint8)(rgb >> 8), (Uint8)rgb, 255);
}

/* FNV-1a over 64-bit words: the hash of a dry run. */
static void fold(ui_gfx *g, uint64_t x)
{
    g->hash = (g->hash ^ x) * 0x100000001b3ull;
}

static bool rect_empty(const SDL_Rect *r)
{
    return r->w <= 0 || r->h <= 0;
}

/* a grows to cover b. */
static void rect_union(SDL_Rect *a, const SDL_Rect *b)
{
    if (rect_empty(b))
        return;
    if (rect_empty(a)) {
        *a = *b;
        return;
    }
    int x0 = a->x < b->x ? a->x : b->x, y0 = a->y < b->y ? a->y : b->y;
    int x1 = a->x + a->w > b->x + b->w ? a->x + a->w : b->x + b->w;
    int y1 = a->y + a->h > b->y + b->h ? a->y + a->h : b->y + b->h;
    a->x = x0;
    a->y = y0;
    a->w = x1 - x0;
    a->h = y1 - y0;
}

static bool rect_same(const SDL_Rect *a, const SDL_Rect *b)
{
    return a->x == b->x && a->y == b->y && a->w == b->w && a->h == b->h;
}

static bool rect_meets(const SDL_Rect *a, const SDL_Rect *b)
{
    return !rect_empty(a) && !rect_empty(b) && a->x < b->x + b->w && b->x < a->x + a->w &&
           a->y < b->y + b->h && b->y < a->y + a->h;
}

void ui_gfx_set_surface(ui_gfx *g, SDL_Surface *s)
{
    g->surf = s && s->format->BytesPerPixel == 4 ? s : NULL;
}

/* ui_fill into g->surf: after what the renderer has queued, the pixel
 * SDL's fill would write (SDL_MapRGBA, opaque), clipped like it. */
static void fill_direct(ui_gfx *g, const SDL_Rect *rc, uint32_t rgb)
{
    SDL_Surface *s = g->surf;
    SDL_Rect r;
    SDL_RenderFlush(g->r);
    if (!SDL_IntersectRect(rc, &s->clip_rect, &r))
        return;
    uint32_t px = SDL_MapRGBA(s->format, (Uint8)(rgb >> 16), (Uint8)(rgb >> 8), (Uint8)rgb, 255);
    if (SDL_MUSTLOCK(s) && SDL_LockSurface(s) != 0)
        return;
    /* One row by pixels, the others copied from it (memcpy is the widest
     * store the C library has). */
    uint8_t *first = (uint8_t *)s->pixels + (size_t)r.y * (size_t)s->pitch + (size_t)r.x * 4;
    SDL_memset4(first, px, (size_t)r.w);
    for (int y = 1; y < r.h; y++)
        memcpy(first + (size_t)y * (size_t)s->pitch, first, (size_t)r.w * 4);
    if (SDL_MUSTLOCK(s))
        SDL_UnlockSurface(s);
}

void ui_fill(ui_gfx *g, int x, int y, int w, int h, uint32_t rgb)
{
    SDL_Rect rc = {x, y, w, h};
    if (g->dry) {
        if (g->nprims++ == 0)
            g->first = rc;
        fold(g, 1);
        fold(g, (uint64_t)(uint32_t)x << 32 | (uint32_t)y);
        fold(g, (uint64_t)(uint32_t)w << 32 | (uint32_t)h);
        fold(g, rgb);
        rect_union(&g->box, &rc);
        return;
    }
    if (g->surf) {
        fill_direct(g, &rc, rgb);
        return;
    }
    set_rgb(g, rgb);
    SDL_RenderFillRect(g->r, &rc);
}

void ui_frame(ui_gfx *g, int x, int y, int w, int h, int t, uint32_t rgb)
{
    ui_fill(g, x, y, w, t, rgb);
    ui_fill(g, x, y + h - t, w, t, rgb);
    ui_fill(g, x, y, t, h, rgb);
    ui_fill(g, x + w - t, y, t, h, rgb);
}

/* A dry run of ui_text: the text, where and in what colour, and the box
 * its glyphs would cover (each glyph is centred on the line like below). */
static int text_dry(ui_gfx *g, int font, int x, int y, uint32_t rgb, const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 0;
    int cw = g->cw[font], ch = g->ch[font];
    g->nprims++;
    fold(g, 2 + (uint64_t)font);
    fold(g, (uint64_t)(uint32_t)x << 32 | (uint32_t)y);
    fold(g, rgb);
    uint64_t word = 0;
    for (size_t i = 0; i < n; i++) {
        word = word << 8 | (unsigned char)s[i];
        if (i % 8 == 7 || i + 1 == n) {
            fold(g, word);
            word = 0;
        }
    }
    fold(g, n);
    SDL_Rect box = {x, y + (ch - g->gh[font]) / 2, (int)(n - 1) * cw + g->gw[font], g->gh[font]};
    rect_union(&g->box, &box);
    return (int)n * cw;
}

int ui_text(ui_gfx *g, int font, int x, int y, uint32_t rgb, const char *s)
{
    if (g->dry)
        return text_dry(g, font, x, y, rgb, s);
    int x0 = x;
    int cw = g->cw[font], ch = g->ch[font];
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7E)
            c = '?';
        SDL_Texture *t = c != ' ' ? glyph(g, font, c - 0x20, rgb) : NULL;
        if (t) {
            const SDL_Surface *gs = g->gsurf[font][c - 0x20];
            SDL_Rect dst = {x, y + (ch - gs->h) / 2, gs->w, gs->h};
            SDL_RenderCopy(g->r, t, NULL, &dst);
        }
        x += cw;
    }
    return x - x0;
}

int ui_textf(ui_gfx *g, int font, int x, int y, uint32_t rgb, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return ui_text(g, font, x, y, rgb, buf);
}

int ui_panel(ui_gfx *g, const ui_rect *r, const char *title)
{
    ui_fill(g, r->x, r->y, r->w, r->h, UI_RGB_PANEL);
    ui_frame(g, r->x, r->y, r->w, r->h, 1, UI_RGB_BORDER);
    int pad = g->cw[UI_FONT_TEXT] / 2;
    ui_text(g, UI_FONT_TEXT, r->x + pad, r->y + 2, UI_RGB_TITLE, title);
    return r->y + 2 + g->ch[UI_FONT_TEXT];
}

uint32_t ui_class_rgb(ui_event_class c)
{
    static const uint32_t rgb[UI_EVC_COUNT] = {
        [UI_EVC_OTHER] = 0xa0a8b0,  [UI_EVC_EXIT] = 0xff5555,   [UI_EVC_ENTRY] = 0xffb86c,
        [UI_EVC_DELIVERY] = 0x50fa7b, [UI_EVC_EOI] = 0x8be9fd,  [UI_EVC_POSTED] = 0xd45cff,
        [UI_EVC_APIC] = 0x6fa8ff,
    };
    return (unsigned)c < UI_EVC_COUNT ? rgb[c] : rgb[0];
}

/* Text sizes for a window: about 48 lines high and 130 columns wide (36
 * and 100 when presenting: larger type for a lecture hall). */
static void font_sizes(int w, int h, bool present, int *text_px, int *big_px)
{
    int lines = present ? 36 : 48, cols = present ? 100 : 130;
    int px = h / lines < w / cols ? h / lines : w / cols;
    if (px < 8)
        px = 8;
    if (px > 40)
        px = 40;
    *text_px = px;
    *big_px = px * 2;
}

/* Draws panel p (one of UI_PANEL_*), or folds it into the hash when dry. */
static void draw_panel(ui_gfx *g, const ui_view *v, const ui_layout *l, int p)
{
    if (p >= UI_PANEL_GRID0 && p < UI_PANEL_GRID0 + UI_GRID_COUNT) {
        if (l->grid[p - UI_PANEL_GRID0].w > 0) /* not left out (ui_view_grids) */
            ui_draw_grid(g, v, l, (ui_grid_id)(p - UI_PANEL_GRID0));
        return;
    }
    switch (p) {
    case UI_PANEL_TOP:
        ui_draw_top(g, v, l);
        break;
    case UI_PANEL_REGS:
        if (l->regs.w > 0)
            ui_draw_regs(g, v, &l->regs);
        break;
    case UI_PANEL_DISASM:
        if (l->disasm.w > 0)
            ui_draw_disasm(g, v, &l->disasm);
        break;
    case UI_PANEL_CTLS:
        if (l->ctls.w > 0)
            ui_draw_controls(g, v, &l->ctls);
        break;
    case UI_PANEL_EVENTS:
        if (l->events.h > 0)
            ui_draw_events(g, v, &l->events);
        break;
    case UI_PANEL_TIMELINE:
        ui_draw_timeline(g, v, &l->timeline);
        break;
    case UI_PANEL_CONSOLE:
        if (l->console.h > 0)
            ui_draw_console(g, v, &l->console);
        break;
    case UI_PANEL_CAPTION:
        ui_draw_caption(g, v, l);
        break;
    case UI_PANEL_CAPLIST:
        if (v->captions_open && l->cap_list.h > 0)
            ui_draw_caption_list(g, v, l);
        break;
    case UI_PANEL_WARN:
        if (v->have_snap && v->snap.nwarn && !v->warn_hidden)
            ui_draw_warnings(g, v, l);
        break;
    case UI_PANEL_CRASH:
        if (v->have_snap && v->snap.finished && v->snap.exit_status == EMU_EXIT_CRASH)
            ui_draw_crash(g, v, l);
        break;
    case UI_PANEL_HELP:
        if (v->help)
            ui_draw_help(g, l);
        break;
    default:
        break;
    }
}

static void clip(SDL_Rect *r, int w, int h)
{
    SDL_Rect all = {0, 0, w, h}, out;
    if (!SDL_IntersectRect(r, &all, &out))
        out.w = out.h = 0;
    *r = out;
}

_Static_assert(UI_NPANELS <= UI_MAX_DIRTY, "one dirty rectangle per panel");

int ui_render_update(ui_gfx *g, ui_view *v, int w, int h, ui_layout *l,
                     ui_rect dirty[UI_MAX_DIRTY])
{
    int text_px, big_px;
    font_sizes(w, h, v->present, &text_px, &big_px);
    ui_gfx_set_size(g, text_px, big_px);
    ui_layout_compute_grids(l, w, h, g->cw[UI_FONT_TEXT], g->ch[UI_FONT_TEXT], v->present,
                            ui_view_grids(v));
    l->font_px = text_px;
    l->big_px = big_px;
    if (g->vw != w || g->vh != h)
        g->valid = false;

    /* Dry runs: what each panel would draw now. */
    uint64_t hash[UI_NPANELS];
    SDL_Rect box[UI_NPANELS], clear[UI_NPANELS];
    bool redraw[UI_NPANELS], opaque[UI_NPANELS];
    for (int p = 0; p < UI_NPANELS; p++) {
        g->dry = true;
        g->hash = 0xcbf29ce484222325ull;
        g->box.x = g->box.y = g->box.w = g->box.h = 0;
        g->first = g->box;
        g->nprims = 0;
        draw_panel(g, v, l, p);
        g->dry = false;
        hash[p] = g->hash;
        box[p] = g->box;
        /* A panel whose first primitive is a fill of everything it draws
         * paints over its old pixels itself: no need to clear first. */
        opaque[p] = g->nprims > 0 && rect_same(&g->first, &g->box);
        clip(&box[p], w, h);
        redraw[p] = !g->valid || hash[p] != g->panel_hash[p];
        clear[p] = box[p];
        if (redraw[p] && g->valid)
            rect_union(&clear[p], &g->panel_box[p]);
        if (!rect_same(&clear[p], &box[p]))
            opaque[p] = false;
    }
    /* A panel drawn again is first cleared (its old and new boxes); every
     * panel that overlaps a cleared area is drawn again too, in order, so
     * overlays and neighbours that stick out stay whole. */
    for (bool grew = g->valid; grew;) {
        grew = false;
        for (int q = 0; q < UI_NPANELS; q++) {
            for (int p = 0; p < UI_NPANELS && !redraw[q]; p++) {
                if (redraw[p] && rect_meets(&clear[p], &box[q])) {
                    redraw[q] = true;
                    grew = true;
                }
            }
        }
    }

    int n = 0;
    if (!g->valid) {
        ui_fill(g, 0, 0, w, h, UI_RGB_BG);
        ui_rect all = {0, 0, w, h};
        dirty[n++] = all;
    } else {
        for (int p = 0; p < UI_NPANELS; p++) {
            if (!redraw[p] || rect_empty(&clear[p]))
                continue;
            if (!opaque[p])
                ui_fill(g, clear[p].x, clear[p].y, clear[p].w, clear[p].h, UI_RGB_BG);
            ui_rect d = {clear[p].x, clear[p].y, clear[p].w, clear[p].h};
            dirty[n++] = d;
        }
    }
    for (int p = 0; p < UI_NPANELS; p++) {
        if (redraw[p])
            draw_panel(g, v, l, p);
        g->panel_hash[p] = hash[p];
        g->panel_box[p] = box[p];
    }
    g->valid = true;
    g->vw = w;
    g->vh = h;
    return n;
}

void ui_render(ui_gfx *g, ui_view *v, int w, int h, ui_layout *l)
{
    ui_rect dirty[UI_MAX_DIRTY];
    g->valid = false;
    ui_render_update(g, v, w, h, l, dirty);
}

bool ui_draw_png(int w, int h, bool (*draw)(ui_gfx *g, void *ctx, char *err, size_t errlen),
                 void *ctx, const char *path, char *err, size_t errlen)
{
    SDL_Surface *s = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_ARGB8888);
    if (!s) {
        snprintf(err, errlen, "SDL: %s", SDL_GetError());
        return false;
    }
    SDL_Renderer *r = SDL_CreateSoftwareRenderer(s);
    bool ok = false;
    if (!r) {
        snprintf(err, errlen, "SDL software renderer: %s", SDL_GetError());
    } else {
        ui_gfx *g = ui_gfx_create(r, err, errlen);
        if (g) {
            ui_gfx_set_surface(g, s);
            if (draw(g, ctx, err, errlen)) {
                SDL_RenderPresent(r);
                ok = ui_png_write_surface(path, s);
                if (!ok)
                    snprintf(err, errlen, "cannot write %s", path);
            }
            ui_gfx_destroy(g);
        }
        SDL_DestroyRenderer(r);
    }
    SDL_FreeSurface(s);
    return ok;
}

struct render_png_ctx {
    ui_view *v;
    int w, h;
};

static bool render_png_frame(ui_gfx *g, void *ctx, char *err, size_t errlen)
{
    struct render_png_ctx *rc = ctx;
    ui_layout l;
    (void)err;
    (void)errlen;
    ui_render(g, rc->v, rc->w, rc->h, &l);
    return true;
}

bool ui_render_png(ui_view *v, int w, int h, const char *path, char *err, size_t errlen)
{
    struct render_png_ctx rc = {v, w, h};
    return ui_draw_png(w, h, render_png_frame, &rc, path, err, errlen);
}
