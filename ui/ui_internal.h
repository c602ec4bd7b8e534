/*
 * ui_internal.h — drawing helpers shared by the files of ui/ (not public).
 */
#ifndef APICV_UI_INTERNAL_H
#define APICV_UI_INTERNAL_H

#include <SDL.h>
#include <SDL_ttf.h>

#include "ui/ui.h"

enum { UI_FONT_TEXT = 0, UI_FONT_BIG = 1, UI_NFONTS = 2 };
#define UI_NGLYPHS 95 /* printable ASCII 0x20..0x7E */
#define UI_NCOLOURS 32 /* text colours with their own glyph textures */

/* The panels in drawing order; the overlays (crash, help) come last. */
enum {
    UI_PANEL_TOP,
    UI_PANEL_GRID0, /* UI_GRID_COUNT grids from here */
    UI_PANEL_REGS = UI_PANEL_GRID0 + UI_GRID_COUNT,
    UI_PANEL_DISASM,
    UI_PANEL_CTLS,
    UI_PANEL_EVENTS,
    UI_PANEL_TIMELINE,
    UI_PANEL_CONSOLE,
    UI_PANEL_CAPTION,
    UI_PANEL_CAPLIST,
    UI_PANEL_WARN,
    UI_PANEL_CRASH,
    UI_PANEL_HELP,
    UI_NPANELS
};

/* Glyphs are white surfaces made once per size; each text colour gets its
 * own textures, made when first used, so drawing never changes a
 * texture's colour modulation (which makes SDL rebuild its blitter on
 * every glyph in the software renderer). */
struct ui_gfx {
    SDL_Renderer *r;
    SDL_Surface *surf; /* what r draws into, when known (ui_gfx_set_surface) */
    char path[512];
    TTF_Font *font[UI_NFONTS];
    int px[UI_NFONTS];
    int cw[UI_NFONTS], ch[UI_NFONTS];
    SDL_Surface *gsurf[UI_NFONTS][UI_NGLYPHS];
    uint32_t pal[UI_NCOLOURS];
    int npal;
    SDL_Texture *glyph[UI_NFONTS][UI_NCOLOURS][UI_NGLYPHS];
    int gw[UI_NFONTS], gh[UI_NFONTS]; /* the largest glyph surface of each font */

    /* Incremental drawing (ui_render_update). In a dry run the primitives
     * draw nothing: they fold what they would draw into hash and box, so a
     * panel whose hash did not change need not be drawn again. */
    bool dry;
    uint64_t hash;
    SDL_Rect box;    /* bounding box of a dry run's primitives (w = 0: none) */
    unsigned nprims; /* primitives in the dry run so far */
    SDL_Rect first;  /* the dry run's first primitive when it is a fill, else empty */
    bool valid;      /* panel_hash/panel_box describe the target's pixels */
    int vw, vh;      /* the size they were drawn at */
    uint64_t panel_hash[UI_NPANELS];
    SDL_Rect panel_box[UI_NPANELS];
};

/* Loads both fonts at the given pixel sizes (no-op when unchanged). */
bool ui_gfx_set_size(ui_gfx *g, int text_px, int big_px);
/* Draws one frame off screen (a software renderer on a w x h surface) with
 * draw(g, ctx, ...) and writes it as a PNG: screenshots and charts. draw
 * returns false with a message in err to give up. */
bool ui_draw_png(int w, int h, bool (*draw)(ui_gfx *g, void *ctx, char *err, size_t errlen),
                 void *ctx, const char *path, char *err, size_t errlen);

void ui_fill(ui_gfx *g, int x, int y, int w, int h, uint32_t rgb);
/* An outline t pixels thick inside the rectangle. */
void ui_frame(ui_gfx *g, int x, int y, int w, int h, int t, uint32_t rgb);
/* Draws s (ASCII; other bytes show as '?'); returns the width drawn. */
int ui_text(ui_gfx *g, int font, int x, int y, uint32_t rgb, const char *s);
int ui_textf(ui_gfx *g, int font, int x, int y, uint32_t rgb, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* A panel: background, border and a title line; returns the y below the title. */
int ui_panel(ui_gfx *g, const ui_rect *r, const char *title);

/* Colours of the event classes and of text. */
uint32_t ui_class_rgb(ui_event_class c);
enum {
    UI_RGB_PANEL = 0x181d23,
    UI_RGB_BORDER = 0x39424d,
    UI_RGB_TEXT = 0xd8dee6,
    UI_RGB_DIM = 0x7c8794,
    UI_RGB_TITLE = 0x9ecbff,
    UI_RGB_CUR = 0x3a4a1c, /* the current instruction's line */
    UI_RGB_ON = 0x3ddc84,
    UI_RGB_OFF = 0x4a525c,
    UI_RGB_SELECT = 0xffffff,
    UI_RGB_CRASH = 0x8b1e1e,
    UI_RGB_WARN = 0xffb000,    /* the warnings banner: amber on dark brown */
    UI_RGB_WARN_BG = 0x2e2208,
};

/* The panels (ui_grid.c, ui_panels.c): one function each. */
void ui_draw_grid(ui_gfx *g, const ui_view *v, const ui_layout *l, ui_grid_id id);
void ui_draw_top(ui_gfx *g, const ui_view *v, const ui_layout *l);
void ui_draw_regs(ui_gfx *g, const ui_view *v, const ui_rect *r);
void ui_draw_disasm(ui_gfx *g, const ui_view *v, const ui_rect *r);
void ui_draw_controls(ui_gfx *g, const ui_view *v, const ui_rect *r);
void ui_draw_events(ui_gfx *g, const ui_view *v, const ui_rect *r);
void ui_draw_timeline(ui_gfx *g, const ui_view *v, const ui_rect *r);
void ui_draw_console(ui_gfx *g, const ui_view *v, const ui_rect *r);
void ui_draw_caption(ui_gfx *g, const ui_view *v, const ui_layout *l);
/* Splits text into lines of at most `cols` characters at spaces (a word
 * longer than a line is split); returns the number of lines, and fills
 * starts/lens for the first `max` of them (ui_panels.c). */
unsigned ui_wrap(const char *text, unsigned cols, unsigned max, unsigned *starts, unsigned *lens);
void ui_draw_caption_list(ui_gfx *g, const ui_view *v, const ui_layout *l);
/* The caption button's label ("[l] captions (3)"). */
void ui_caption_button_label(const ui_view *v, char *buf, size_t len);
void ui_draw_help(ui_gfx *g, const ui_layout *l);
void ui_draw_warnings(ui_gfx *g, const ui_view *v, const ui_layout *l);
void ui_draw_crash(ui_gfx *g, const ui_view *v, const ui_layout *l);

#endif
