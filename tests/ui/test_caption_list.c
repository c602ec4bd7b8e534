/*
 * test_caption_list.c — the caption list (key l): the captions shown so far
 * travel in the snapshot with their event numbers and texts; clicking one
 * goes to the state right after its scn.caption event, back (a live run
 * restarts, a replay seeks to 0 and runs again: the same run) and forward;
 * the list keeps the later captions after going back; it opens with l and
 * draws one row per caption, and a click on a row finds that caption; a
 * caption panel too narrow for one character draws no line.
 * Runs scenarios/posted_demo.scn, live and replayed from a recording.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <SDL.h>

#include "emu/emu_record.h"
#include "emu/emu_scenario.h"
#include "ui/ui.h"
#include "ui/ui_internal.h"
#include "ui_test_scenario.h"

typedef struct demo {
    emu_scenario scn;
    emu_machine m;
    ui_machine_target mt;
    ui_target t;
    ui_snapshot snap;
    ui_view view;
    ui_session session;
} demo;

static demo *open_demo(void)
{
    demo *d = calloc(1, sizeof(*d));
    ck_assert_ptr_nonnull(d);
    ui_test_scenario_open("posted_demo.scn", NULL, NULL, &d->scn, &d->m, &d->mt, &d->t);
    ui_view_init(&d->view);
    ui_session_init(&d->session, &d->t, &d->view);
    return d;
}

static void close_demo(demo *d)
{
    ui_test_scenario_close(&d->scn, &d->m, &d->mt);
    free(d);
}

/* The snapshot at event n is the caption's own moment: its last event is
 * the scn.caption event of that caption, and the caption shows. */
static void check_at_caption(const ui_snapshot *s, const ui_caption_entry *c, const char *text)
{
    ck_assert_uint_eq(s->ev_total, c->ev_no);
    ck_assert_uint_gt(s->nev, 0);
    const ui_event *e = &s->ev[s->nev - 1];
    ck_assert_uint_eq(e->kind, EMU_SCN_EV_CAPTION);
    ck_assert_uint_eq(e->a, c->idx);
    ck_assert_uint_eq(e->cycle, c->cycle);
    ck_assert_str_eq(s->caption, text);
}

START_TEST(live_run_goes_back_and_forth_to_captions)
{
    demo *d = open_demo();
    while (!d->t.run(d->t.ctx, 1000000))
        ;
    ui_session_refresh(&d->session);
    const ui_snapshot *s = &d->view.snap;
    /* Every caption of the demo fired once, in event order, with its text. */
    ck_assert_uint_eq(s->ncaps, emu_scenario_caption_count(&d->scn));
    ck_assert_uint_ge(s->ncaps, 10);
    for (unsigned k = 0; k < s->ncaps; k++) {
        /* The list keeps each caption whole (it kept 127 characters:
         * the demo's first, 128 long, lost its closing parenthesis). */
        ck_assert_str_eq(s->caps[k].text, emu_scenario_caption_text(&d->scn, s->caps[k].idx));
        ck_assert_uint_eq(s->caps[k].line, d->scn.cap[s->caps[k].idx].line);
        if (k)
            ck_assert_uint_gt(s->caps[k].ev_no, s->caps[k - 1].ev_no);
    }
    ck_assert_uint_eq(d->view.nhist, s->ncaps);
    unsigned total = d->view.nhist;
    ui_caption_entry c3 = d->view.hist[3], c7 = d->view.hist[7];
    const char *t3 = emu_scenario_caption_text(&d->scn, c3.idx);
    const char *t7 = emu_scenario_caption_text(&d->scn, c7.idx);
    uint64_t end = d->m.now;

    /* Back to caption 3: a restart and a run to its event. */
    ui_session_goto_event(&d->session, c3.ev_no);
    check_at_caption(s, &c3, t3);
    ck_assert_uint_lt(d->m.now, end);
    ck_assert(!s->finished);
    /* The list still has the later captions, to go forward to. */
    ck_assert_uint_eq(d->view.nhist, total);
    ck_assert_uint_eq(d->view.hist[7].ev_no, c7.ev_no);
    /* Forward to caption 7: the machine runs on. */
    ui_session_goto_event(&d->session, c7.ev_no);
    check_at_caption(s, &c7, t7);
    /* n from there steps to the next event (not chatter), one at a time. */
    uint64_t before = s->ev_total;
    ui_session_command(&d->session, UI_CMD_NEXT_EVENT, 0);
    for (int i = 0; i < 1000 && d->session.state != UI_PAUSED; i++)
        ui_session_tick(&d->session, 16);
    ui_session_refresh(&d->session);
    ck_assert_uint_gt(s->ev_total, before);
    /* Beyond the run's end: refused with a message, nothing breaks. */
    ui_session_goto_event(&d->session, 1000000000);
    ck_assert_msg(strstr(d->view.info, "cannot go to event 1000000000") != NULL, "%s",
                  d->view.info);
    close_demo(d);
}
END_TEST

START_TEST(replay_goes_to_a_caption)
{
    char trace[] = "/tmp/apicv_ui_caps_XXXXXX", cmd[4096], err[512];
    int fd = mkstemp(trace);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "'%s' run --headless --quiet --record '%s' '%s/scenarios/posted_demo.scn' "
                               ">/dev/null 2>&1",
             APICV_EMU, trace, APICV_SOURCE_DIR);
    ck_assert_int_eq(system(cmd), 0);
    emu_replayer *r;
    ck_assert_msg(emu_replay_open(trace, false, &r, err, sizeof(err)) == 0, "%s", err);
    ui_replay_target *rt = calloc(1, sizeof(*rt));
    ui_view *v = calloc(1, sizeof(*v));
    ui_session *s = calloc(1, sizeof(*s));
    ui_target t;
    ui_replay_target_init(rt, r, NULL, &t);
    ui_view_init(v);
    ui_session_init(s, &t, v);
    while (!t.run(t.ctx, 1000000))
        ;
    ui_session_refresh(s);
    ck_assert_uint_ge(v->nhist, 10);
    ui_caption_entry c = v->hist[2];
    const char *text = emu_scenario_caption_text(emu_replay_scenario(r), c.idx);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_ne(c.text, "");
    ui_session_goto_event(s, c.ev_no);
    check_at_caption(&v->snap, &c, text);
    ck_assert(!v->snap.finished);
    ui_replay_target_detach(rt);
    emu_replay_close(r);
    unlink(trace);
    free(s);
    free(v);
    free(rt);
}
END_TEST

/* Bright pixels of colour rgb inside rect r of surface px. */
static int count_rgb(SDL_Surface *surf, const ui_rect *r, uint32_t rgb)
{
    int n = 0;
    for (int y = r->y; y < r->y + r->h && y < surf->h; y++)
        for (int x = r->x; x < r->x + r->w && x < surf->w; x++) {
            uint32_t p = ((uint32_t *)((uint8_t *)surf->pixels + y * surf->pitch))[x];
            if ((p & 0xFFFFFF) == rgb)
                n++;
        }
    return n;
}

START_TEST(list_opens_draws_and_is_clicked)
{
    ui_view *v = calloc(1, sizeof(*v));
    ui_view_init(v);
    ui_snapshot *snap = calloc(1, sizeof(*snap));
    snap->ncpus = 2;
    snap->ev_total = 250;
    snap->ncaps = 3;
    for (unsigned k = 0; k < 3; k++) {
        snap->caps[k].ev_no = 100 * (k + 1);
        snap->caps[k].cycle = 1000 * (k + 1);
        snap->caps[k].idx = (uint16_t)k;
        snprintf(snap->caps[k].text, sizeof(snap->caps[k].text), "caption number %u", k);
    }
    ui_view_accept(v, snap);
    ck_assert_uint_eq(v->nhist, 3);
    /* Key l opens the list (a fake target: no machine needed). */
    ui_target t = {0};
    t.snapshot = NULL;
    ui_session s;
    ui_session_init(&s, &t, v);
    int arg;
    ck_assert_int_eq(ui_key_command(SDLK_l, &arg), UI_CMD_CAPTIONS);
    ui_session_command(&s, UI_CMD_CAPTIONS, 0);
    ck_assert(v->captions_open);

    SDL_Surface *surf = SDL_CreateRGBSurfaceWithFormat(0, 1600, 900, 32, SDL_PIXELFORMAT_ARGB8888);
    SDL_Renderer *ren = SDL_CreateSoftwareRenderer(surf);
    char err[256];
    ui_gfx *g = ui_gfx_create(ren, err, sizeof(err));
    ck_assert_msg(g != NULL, "%s", err);
    ui_layout l;
    ui_render(g, v, 1600, 900, &l);
    SDL_RenderPresent(ren);
    /* The list covers the events panel: its frame in the title colour,
     * and the current caption's row (the second: event 200 <= 250 < 300)
     * highlighted. */
    ck_assert_int_gt(count_rgb(surf, &l.cap_list, 0x9ecbff), 100);
    ck_assert_int_gt(count_rgb(surf, &l.cap_list, 0x3a4a1c), 10 * l.cw);
    /* The button in the title bar says how many. */
    ck_assert_int_gt(l.cap_button.w, 0);
    /* A click on each row finds that caption. */
    int row0 = l.cap_list.y + 2 + 2 * l.ch;
    for (unsigned k = 0; k < 3; k++) {
        uint64_t ev = 0;
        ck_assert(ui_layout_hit_caption(&l, v, l.cap_list.x + 40, row0 + (int)k * l.ch + 2, &ev));
        ck_assert_uint_eq(ev, 100 * (k + 1));
    }
    uint64_t ev;
    ck_assert(!ui_layout_hit_caption(&l, v, l.cap_list.x + 40, row0 + 3 * l.ch + 2, &ev));
    /* Going to an event needs a target that can: the fake one says so. */
    ui_session_goto_event(&s, 100);
    ck_assert_str_eq(v->info, "going to an event is not available here");
    /* Closed, nothing of it is drawn and no row is found. */
    ui_session_command(&s, UI_CMD_CAPTIONS, 0);
    ck_assert(!v->captions_open);
    ck_assert(!ui_layout_hit_caption(&l, v, l.cap_list.x + 40, row0 + 2, &ev));
    ui_render(g, v, 1600, 900, &l);
    SDL_RenderPresent(ren);
    ck_assert_int_eq(count_rgb(surf, &l.cap_list, 0x3a4a1c), 0);
    ui_gfx_destroy(g);
    SDL_DestroyRenderer(ren);
    SDL_FreeSurface(surf);
    free(snap);
    free(v);
}
END_TEST

/* A caption longer than the list is wide wraps onto more rows under its
 * text column (it was cut at the window's edge, and at 127 characters in
 * the snapshot): at 1024x768 the demos' 190-character captions take two
 * rows; the current one is highlighted on both, and a click on either row
 * finds it. */
START_TEST(long_captions_wrap_in_the_list)
{
    ui_view *v = calloc(1, sizeof(*v));
    ui_view_init(v);
    ui_snapshot *snap = calloc(1, sizeof(*snap));
    snap->ncpus = 2;
    snap->ev_total = 150;
    snap->ncaps = 3;
    for (unsigned k = 0; k < 3; k++) {
        snap->caps[k].ev_no = 100 * (k + 1);
        snap->caps[k].cycle = 1000 * (k + 1);
        snap->caps[k].idx = (uint16_t)k;
        char *t = snap->caps[k].text;
        size_t n = 0;
        while (n + 10 < 190)
            n += (size_t)snprintf(t + n, UI_CAPTION_TEXT - n, "word%u%04zu ", k, n);
        snprintf(t + n, UI_CAPTION_TEXT - n, "END");
    }
    ui_view_accept(v, snap);
    v->captions_open = true;
    SDL_Surface *surf = SDL_CreateRGBSurfaceWithFormat(0, 1024, 768, 32, SDL_PIXELFORMAT_ARGB8888);
    SDL_Renderer *ren = SDL_CreateSoftwareRenderer(surf);
    char err[256];
    ui_gfx *g = ui_gfx_create(ren, err, sizeof(err));
    ck_assert_msg(g != NULL, "%s", err);
    ui_layout l;
    ui_render(g, v, 1024, 768, &l);
    SDL_RenderPresent(ren);
    ck_assert_int_lt(l.cap_list.w / l.cw, 190 + 30); /* too narrow for one row each */
    int row0 = l.cap_list.y + 2 + 2 * l.ch;
    /* Entry 0 (the current one: event 100 <= 150 < 200) highlighted on its
     * two rows, entry 1 not. */
    ui_rect r0 = {l.cap_list.x + 4, row0, l.cap_list.w - 8, l.ch};
    ui_rect r1 = {l.cap_list.x + 4, row0 + l.ch, l.cap_list.w - 8, l.ch};
    ui_rect r2 = {l.cap_list.x + 4, row0 + 2 * l.ch, l.cap_list.w - 8, l.ch};
    ck_assert_int_gt(count_rgb(surf, &r0, 0x3a4a1c), 10 * l.cw);
    ck_assert_int_gt(count_rgb(surf, &r1, 0x3a4a1c), 10 * l.cw);
    ck_assert_int_eq(count_rgb(surf, &r2, 0x3a4a1c), 0);
    /* Rows 0-1 are caption 0, rows 2-3 caption 1, rows 4-5 caption 2. */
    for (unsigned row = 0; row < 6; row++) {
        uint64_t ev = 0;
        ck_assert(ui_layout_hit_caption(&l, v, l.cap_list.x + 40, row0 + (int)row * l.ch + 2, &ev));
        ck_assert_uint_eq(ev, 100 * (row / 2 + 1));
    }
    uint64_t ev;
    ck_assert(!ui_layout_hit_caption(&l, v, l.cap_list.x + 40, row0 + 6 * l.ch + 2, &ev));
    ui_gfx_destroy(g);
    SDL_DestroyRenderer(ren);
    SDL_FreeSurface(surf);
    free(snap);
    free(v);
}
END_TEST

/* A caption panel narrower than one character of the text type: not one
 * character fits, so no line is drawn. The panel is drawn wide first, so
 * that a line kept from that draw (the wrap gives no lines here) would
 * show beside the narrow panel. */
START_TEST(caption_panel_narrower_than_a_character)
{
    ui_view *v = calloc(1, sizeof(*v));
    ck_assert_ptr_nonnull(v);
    ui_view_init(v);
    snprintf(v->snap.caption, sizeof(v->snap.caption), "%s",
             "a caption long enough to be wrapped over several lines of the panel, "
             "word after word after word after word");
    SDL_Surface *surf = SDL_CreateRGBSurfaceWithFormat(0, 1600, 900, 32, SDL_PIXELFORMAT_ARGB8888);
    SDL_Renderer *ren = SDL_CreateSoftwareRenderer(surf);
    char err[256];
    ui_gfx *g = ui_gfx_create(ren, err, sizeof(err));
    ck_assert_msg(g != NULL, "%s", err);
    ui_layout wide = {0}, narrow = {0};
    wide.caption = (ui_rect){100, 100, 300, 400};
    narrow.caption = (ui_rect){1000, 100, 4, 400};
    ui_draw_caption(g, v, &wide);
    ui_draw_caption(g, v, &narrow);
    SDL_RenderPresent(ren);
    const ui_rect left = {0, 0, 900, 900}, right = {900, 0, 700, 900};
    ck_assert_int_gt(count_rgb(surf, &left, 0xffffff), 0);
    ck_assert_int_eq(count_rgb(surf, &right, 0xffffff), 0);
    ui_gfx_destroy(g);
    SDL_DestroyRenderer(ren);
    SDL_FreeSurface(surf);
    free(v);
}
END_TEST

static long file_bytes(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long n = (long)fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* --captions opens the list for a screenshot: replay and run draw the same
 * picture at the same event, and it differs from the one without the list. */
START_TEST(screenshot_with_the_list_open)
{
    char dir[] = "/tmp/apicv_ui_caplist_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && APICV_GUEST_DIR='%s' '%s' run --headless --quiet --record t.trace "
             "'%s/scenarios/posted_demo.scn' >/dev/null 2>&1 && "
             "'%s' replay --screenshot r.png --captions --at-event 41 --size 800x450 t.trace "
             "2>/dev/null && "
             "'%s' replay --screenshot n.png --at-event 41 --size 800x450 t.trace 2>/dev/null && "
             "APICV_GUEST_DIR='%s' '%s' run --screenshot s.png --captions --at-event 41 "
             "--size 800x450 '%s/scenarios/posted_demo.scn' 2>/dev/null",
             dir, APICV_GUEST_DIR, APICV_EMU, APICV_SOURCE_DIR, APICV_EMU, APICV_EMU,
             APICV_GUEST_DIR, APICV_EMU, APICV_SOURCE_DIR);
    ck_assert_int_eq(system(cmd), 0);
    static uint8_t a[1 << 20], b[1 << 20], c[1 << 20];
    char p[600];
    snprintf(p, sizeof(p), "%s/r.png", dir);
    long na = file_bytes(p, a, sizeof(a));
    snprintf(p, sizeof(p), "%s/s.png", dir);
    long nb = file_bytes(p, b, sizeof(b));
    snprintf(p, sizeof(p), "%s/n.png", dir);
    long nc = file_bytes(p, c, sizeof(c));
    ck_assert_int_gt(na, 100);
    ck_assert_int_eq(na, nb);
    ck_assert(memcmp(a, b, (size_t)na) == 0);
    ck_assert(nc != na || memcmp(a, c, (size_t)na) != 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_caption_list");
    TCase *tc = tcase_create("caption_list");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, live_run_goes_back_and_forth_to_captions);
    tcase_add_test(tc, replay_goes_to_a_caption);
    tcase_add_test(tc, list_opens_draws_and_is_clicked);
    tcase_add_test(tc, long_captions_wrap_in_the_list);
    tcase_add_test(tc, caption_panel_narrower_than_a_character);
    tcase_add_test(tc, screenshot_with_the_list_open);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
