/*
 * test_events_panel.c — the window's events panel filter: by vCPU, by
 * class of event, captions and console I/O hidden by default; the keys
 * v, k and c change it; a click on a row finds that event (to go there).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <SDL.h>

#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "ui/ui.h"
#include "vmx/vmx.h"

static ui_event ev(unsigned cpu, unsigned kind, uint64_t a, uint64_t b)
{
    ui_event e = {100, (uint16_t)cpu, (uint16_t)kind, 0, a, b, 0, 0};
    return e;
}

START_TEST(filter_by_cpu_kind_and_chatter)
{
    ui_view *v = calloc(1, sizeof(*v));
    ck_assert_ptr_nonnull(v);
    ui_view_init(v);
    ui_event exit56 = ev(1, VMX_EV_VMEXIT, 56, 0x300);
    ui_event console_exit = ev(1, VMX_EV_VMEXIT, 30, 0xE9u << 16);
    ui_event caption = ev(0, EMU_SCN_EV_CAPTION, 1, 20);
    ui_event pi = ev(0, VMX_EV_PI_ON_CLEAR, 0x1000, 1);
    /* Default: every vCPU and class, chatter hidden. */
    ck_assert(ui_view_event_shown(v, &exit56));
    ck_assert(ui_view_event_shown(v, &pi));
    ck_assert(!ui_view_event_shown(v, &console_exit));
    ck_assert(!ui_view_event_shown(v, &caption));

    ui_session s;
    ui_target t = {0};
    ui_session_init(&s, &t, v);
    int arg;
    ui_session_command(&s, ui_key_command(SDLK_c, &arg), arg);
    ck_assert(ui_view_event_shown(v, &console_exit));
    ck_assert(ui_view_event_shown(v, &caption));
    ui_session_command(&s, ui_key_command(SDLK_v, &arg), arg); /* vCPU 0 only */
    ck_assert(!ui_view_event_shown(v, &exit56));
    ck_assert(ui_view_event_shown(v, &pi));
    ui_session_command(&s, ui_key_command(SDLK_v, &arg), arg);
    /* k cycles the classes: other, exits, ... */
    ui_session_command(&s, ui_key_command(SDLK_k, &arg), arg);
    ck_assert_uint_eq(v->ev_class, UI_EVC_OTHER);
    ui_session_command(&s, ui_key_command(SDLK_k, &arg), arg);
    ck_assert_uint_eq(v->ev_class, UI_EVC_EXIT);
    ck_assert(ui_view_event_shown(v, &exit56));
    ck_assert(!ui_view_event_shown(v, &pi));
    for (unsigned i = 0; i <= UI_EVC_COUNT; i++)
        ui_session_command(&s, UI_CMD_EV_KIND, 0);
    ck_assert_uint_eq(v->ev_class, UI_EVC_EXIT); /* a full turn */
    free(v);
}
END_TEST

/* A click on a row of the events panel finds that event's number (the
 * window then goes to it); hidden events take no row. */
START_TEST(click_on_a_row_finds_its_event)
{
    ui_view *v = calloc(1, sizeof(*v));
    ui_snapshot *snap = calloc(1, sizeof(*snap));
    ck_assert(v && snap);
    ui_view_init(v);
    snap->ncpus = 2;
    snap->nev = 5;
    snap->ev_total = 105; /* ev[4] is event 105 */
    snap->ev[0] = ev(1, VMX_EV_VMEXIT, 1, 0);
    snap->ev[1] = ev(1, VMX_EV_VMENTRY, 0, 0);
    snap->ev[2] = ev(0, EMU_SCN_EV_CAPTION, 1, 20); /* hidden by default */
    snap->ev[3] = ev(0, VMX_EV_PI_ON_CLEAR, 0x1000, 1);
    snap->ev[4] = ev(1, CPU_EV_INTERRUPT, 0x41, 0);
    ui_view_accept(v, snap);
    SDL_Surface *surf = SDL_CreateRGBSurfaceWithFormat(0, 1600, 900, 32, SDL_PIXELFORMAT_ARGB8888);
    SDL_Renderer *ren = SDL_CreateSoftwareRenderer(surf);
    char err[256];
    ui_gfx *g = ui_gfx_create(ren, err, sizeof(err));
    ck_assert_msg(g != NULL, "%s", err);
    ui_layout l;
    ui_render(g, v, 1600, 900, &l);
    int row0 = l.events.y + 2 + l.ch, x = l.events.x + 5 * l.cw;
    static const uint64_t want[4] = {101, 102, 104, 105};
    uint64_t n = 0;
    for (unsigned k = 0; k < 4; k++) {
        ck_assert(ui_layout_hit_event(&l, v, x, row0 + (int)k * l.ch + 1, &n));
        ck_assert_uint_eq(n, want[k]);
    }
    ck_assert(!ui_layout_hit_event(&l, v, x, row0 + 4 * l.ch + 1, &n)); /* no fifth row */
    ck_assert(!ui_layout_hit_event(&l, v, x, l.events.y + 1, &n));      /* the title */
    /* With captions shown, the caption takes its row. */
    v->ev_chatter = true;
    ck_assert(ui_layout_hit_event(&l, v, x, row0 + 2 * l.ch + 1, &n));
    ck_assert_uint_eq(n, 103);
    /* The open caption list covers the panel. */
    v->captions_open = true;
    ck_assert(!ui_layout_hit_event(&l, v, x, row0 + 1, &n));
    ui_gfx_destroy(g);
    SDL_DestroyRenderer(ren);
    SDL_FreeSurface(surf);
    free(snap);
    free(v);
}
END_TEST

/* A caption event reads as its caption's text (the timeline's "now" at a
 * caption stop, where the caption list leads, said "caption 4 (scenario
 * line 29)"); other events keep their descriptor's words. */
START_TEST(a_caption_event_says_its_text)
{
    ui_snapshot *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    ui_event cap = ev(0, EMU_SCN_EV_CAPTION, 4, 29);
    char buf[256];
    ui_event_words(s, &cap, buf, sizeof(buf));
    ck_assert_str_eq(buf, "caption 4 (scenario line 29)"); /* no text known */
    s->ncaps = 2;
    s->caps[0].idx = 3;
    snprintf(s->caps[0].text, sizeof(s->caps[0].text), "%s", "the third");
    s->caps[1].idx = 4;
    snprintf(s->caps[1].text, sizeof(s->caps[1].text), "%s", "MSI 44h for running vCPU 0");
    ui_event_words(s, &cap, buf, sizeof(buf));
    ck_assert_str_eq(buf, "caption 4 (line 29): MSI 44h for running vCPU 0");
    ui_event_words(NULL, &cap, buf, sizeof(buf));
    ck_assert_str_eq(buf, "caption 4 (scenario line 29)");
    ui_event post = ev(1, EMU_HV_EV_POST, 0x41, 1);
    ui_event_words(s, &post, buf, sizeof(buf));
    ck_assert_str_eq(buf, "PIR[41h] = 1 for vCPU 1, notification sent 0");
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("events_panel");
    TCase *t = tcase_create("events_panel");
    tcase_add_test(t, filter_by_cpu_kind_and_chatter);
    tcase_add_test(t, click_on_a_row_finds_its_event);
    tcase_add_test(t, a_caption_event_says_its_text);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
