/*
 * ui_draw.c — drawing primitives (rectangles, monospaced text from a glyph
 * cache), the whole-window render, and off-screen rendering to PNG.
 *
 * Text: every printable ASCII glyph of DejaVu Sans Mono is rendered once
 * per size into a white texture and tinted at draw time, so a frame never
 * calls into FreeType. The sizes follow the window size (ui_render), so the
 * window stays readable on a projector.
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
    for (int i = 0; i < UI_NGLYPHS; i++)
        g->gsurf[f][i] = TTF_RenderGlyph_Blended(font, (Uint16)(0x20 + i), white);
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

void ui_fill(ui_gfx *g, int x, int y, int w, int h, uint32_t rgb)
{
    SDL_Rect rc = {x, y, w, h};
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

int ui_text(ui_gfx *g, int font, int x, int y, uint32_t rgb, const char *s)
{
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

/* Text sizes for a window: about 48 lines high and 130 columns wide. */
static void font_sizes(int w, int h, int *text_px, int *big_px)
{
    int px = h / 48 < w / 130 ? h / 48 : w / 130;
    if (px < 8)
        px = 8;
    if (px > 40)
        px = 40;
    *text_px = px;
    *big_px = px * 2;
}

void ui_render(ui_gfx *g, ui_view *v, int w, int h, ui_layout *l)
{
    int text_px, big_px;
    font_sizes(w, h, &text_px, &big_px);
    ui_gfx_set_size(g, text_px, big_px);
    ui_layout_compute(l, w, h, g->cw[UI_FONT_TEXT], g->ch[UI_FONT_TEXT]);
    l->font_px = text_px;
    l->big_px = big_px;
    ui_fill(g, 0, 0, w, h, UI_RGB_BG);
    ui_draw_top(g, v, l);
    for (unsigned i = 0; i < UI_GRID_COUNT; i++)
        ui_draw_grid(g, v, l, (ui_grid_id)i);
    ui_draw_regs(g, v, &l->regs);
    ui_draw_disasm(g, v, &l->disasm);
    ui_draw_controls(g, v, &l->ctls);
    ui_draw_events(g, v, &l->events);
    ui_draw_timeline(g, v, &l->timeline);
    ui_draw_console(g, v, &l->console);
    ui_draw_caption(g, v, &l->caption);
    if (v->have_snap && v->snap.finished && v->snap.exit_status == EMU_EXIT_CRASH)
        ui_draw_crash(g, v, l);
    if (v->help)
        ui_draw_help(g, l);
}

bool ui_render_png(ui_view *v, int w, int h, const char *path, char *err, size_t errlen)
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
            ui_layout l;
            ui_render(g, v, w, h, &l);
            SDL_RenderPresent(r);
            ok = ui_png_write_surface(path, s);
            if (!ok)
                snprintf(err, errlen, "cannot write %s", path);
            ui_gfx_destroy(g);
        }
        SDL_DestroyRenderer(r);
    }
    SDL_FreeSurface(s);
    return ok;
}
