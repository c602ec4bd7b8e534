/*
 * ui_window.c — the window loop, `--screenshot`, and the front end that
 * emu_main calls.
 *
 * Real time: two threads. The machine thread runs the machine in slices
 * (full speed: each slice sized to take about 2 ms of host time, so a
 * frame holds several; slow motion: speed x elapsed time instructions of
 * the selected CPU) and takes a snapshot between two slices when the
 * window asks, once per frame; the window thread handles input and draws
 * the latest snapshot 60 times a second, only the panels that changed (see
 * ui_screen below), so it takes a few percent of the second core and the
 * machine thread keeps the first. Host time decides only how much runs per
 * slice, never what the machine does: emu_machine_run's result does not
 * depend on how a run is sliced, and commands (step, pause) are applied
 * between slices.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "emu/emu_gdb.h"
#include "emu/emu_hv.h"
#include "emu/emu_record.h"
#include "ui/ui_internal.h"

/* The vmx_vcpu of CPU k when a hypervisor runs (m->hv is the emu_hv of
 * emu/emu_hv.h in every mode but native). */
static vmx_vcpu *hv_vcpu(emu_machine *m, unsigned k)
{
    if (m->cfg.mode == EMU_MODE_NATIVE || !m->hv || k >= CPU_MAX_CPUS)
        return NULL;
    emu_hv *hv = m->hv;
    return k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

/* A display is there when SDL can open a real video driver. SDL falls back
 * to its "offscreen" driver on its own; that counts only when asked for by
 * name (SDL_VIDEODRIVER=offscreen, as the tests do). Without DISPLAY,
 * WAYLAND_DISPLAY or SDL_VIDEODRIVER there is nothing to probe (and probing
 * Wayland would print errors). */
bool ui_display_available(void)
{
    const char *want = getenv("SDL_VIDEODRIVER");
    if (!(want && *want) && !getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY"))
        return false;
    if (SDL_Init(SDL_INIT_VIDEO) != 0)
        return false;
    const char *drv = SDL_GetCurrentVideoDriver();
    bool ok = drv != NULL;
    if (ok && (strcmp(drv, "offscreen") == 0 || strcmp(drv, "dummy") == 0))
        ok = want && strcmp(want, drv) == 0;
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    return ok;
}

/* The view's starting state from the options: --caption, --present, --captions. */
static void set_caption(ui_view *v, const ui_options *uo)
{
    if (uo && uo->caption)
        snprintf(v->snap.caption, sizeof(v->snap.caption), "%s", uo->caption);
    if (uo) {
        v->present = uo->present;
        v->captions_open = uo->captions;
    }
}

/* Runs target t (machine m, recorder rec) to --at-event N (the stop taken
 * at that event: the state right after it, even inside an instruction
 * boundary), to --at CYCLE or to the end, and renders it into a PNG. */
static int shoot(const ui_target *t, ui_recorder *rec, emu_machine *m, const ui_options *uo)
{
    ui_view *v = calloc(1, sizeof(*v));
    int status = EMU_EXIT_USAGE;
    if (!v)
        return status;
    ui_view_init(v);
    set_caption(v, uo);
    if (uo->at_event) {
        rec->pause_at_total = uo->at_event;
        while (!rec->hit && !m->finished && rec->total < uo->at_event)
            t->run(t->ctx, 10000000);
    } else if (uo->at_cycle) {
        while (m->now < uo->at_cycle && !m->finished)
            t->run(t->ctx, uo->at_cycle - m->now);
    } else {
        while (!t->run(t->ctx, 100000000))
            ;
    }
    ui_snapshot snap = v->snap;
    t->snapshot(t->ctx, &snap);
    if (t->marks)
        t->marks(t->ctx, &snap, &v->tl);
    ui_view_accept(v, &snap);
    ui_view_select(v, uo->vcpu);
    /* A still picture: nothing flashes. */
    v->clock_ms += 10 * UI_FLASH_MS;
    snprintf(v->status, sizeof(v->status), "screenshot");
    char err[512];
    int w = uo->width > 0 ? uo->width : 1600, h = uo->height > 0 ? uo->height : 900;
    if (!ui_render_png(v, w, h, uo->screenshot, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: --screenshot: %s\n", err);
    } else {
        /* At an event, its own cycle (the CPU's clock); else the machine's. */
        uint64_t cycle = uo->at_event && v->snap.nev ? v->snap.ev[v->snap.nev - 1].cycle : v->snap.now;
        fprintf(stderr, "apicv-emu: screenshot %s at cycle %llu, event %llu\n", uo->screenshot,
                (unsigned long long)cycle, (unsigned long long)v->snap.ev_total);
        /* A stop the run never reached (a mistyped number in a lecture's
         * script): the picture is of the end, and that is said. */
        if (uo->at_event && v->snap.ev_total < uo->at_event)
            fprintf(stderr,
                    "apicv-emu: --at-event %llu: the run ended after %llu events; the picture "
                    "shows its end\n",
                    (unsigned long long)uo->at_event, (unsigned long long)v->snap.ev_total);
        else if (!uo->at_event && uo->at_cycle && v->snap.finished && v->snap.now < uo->at_cycle)
            fprintf(stderr,
                    "apicv-emu: --at %llu: the run ended at cycle %llu; the picture shows its "
                    "end\n",
                    (unsigned long long)uo->at_cycle, (unsigned long long)v->snap.now);
        status = 0;
    }
    free(v);
    return status;
}

static int screenshot(emu_machine *m, const char *guest, const ui_options *uo,
                      struct emu_scenario *scenario)
{
    ui_machine_target *mt = calloc(1, sizeof(*mt));
    if (!mt)
        return EMU_EXIT_USAGE;
    ui_target t;
    ui_machine_target_init(mt, m, guest, hv_vcpu, &t);
    mt->scenario = scenario;
    int status = shoot(&t, &mt->rec, m, uo);
    ui_machine_target_detach(mt);
    free(mt);
    return status;
}

static double now_ms(void)
{
    return (double)SDL_GetPerformanceCounter() * 1000.0 / (double)SDL_GetPerformanceFrequency();
}

/* One input event; true when it moved the machine itself (a click that
 * goes to an event), so a snapshot the machine thread took before is
 * stale. */
static bool handle_event(ui_session *s, const SDL_Event *e, const ui_layout *l)
{
    int arg = 0;
    uint64_t ev_no;
    switch (e->type) {
    case SDL_QUIT:
        s->quit = true;
        break;
    case SDL_KEYDOWN:
        ui_session_command(s, ui_key_command(e->key.keysym.sym, &arg), arg);
        break;
    case SDL_MOUSEMOTION: {
        bool went;
        ui_session_timeline_mouse(s, l, UI_MOUSE_MOVE, e->motion.x, e->motion.y, 0, &went);
        s->view->tl_hover = ui_layout_hit_mark(l, s->view, e->motion.x, e->motion.y, &ev_no)
                                ? ev_no
                                : 0;
        break;
    }
    case SDL_MOUSEWHEEL: {
        /* The wheel zooms the timeline at the mouse. */
        int mx, my;
        bool went;
        SDL_GetMouseState(&mx, &my);
        int notch = e->wheel.direction == SDL_MOUSEWHEEL_FLIPPED ? -e->wheel.y : e->wheel.y;
        ui_session_timeline_mouse(s, l, UI_MOUSE_WHEEL, mx, my, notch, &went);
        break;
    }
    case SDL_MOUSEBUTTONUP: {
        bool went = false;
        if (e->button.button == SDL_BUTTON_LEFT)
            ui_session_timeline_mouse(s, l, UI_MOUSE_UP, e->button.x, e->button.y, 0, &went);
        return went;
    }
    case SDL_MOUSEBUTTONDOWN: {
        bool went;
        ui_grid_id g;
        unsigned vec;
        int x = e->button.x, y = e->button.y;
        int tab = ui_layout_hit_tab(l, x, y);
        if (ui_layout_hit_caption(l, s->view, x, y, &ev_no)) {
            ui_session_goto_event(s, ev_no);
            return true;
        } else if (s->view->captions_open && ui_rect_has(&l->cap_list, x, y)) {
            break; /* the list's title or empty rows */
        } else if (s->view->nhist && ui_rect_has(&l->cap_button, x, y)) {
            ui_session_command(s, UI_CMD_CAPTIONS, 0);
        } else if (tab >= 0) {
            ui_session_command(s, UI_CMD_SELECT, tab);
        } else if (ui_layout_hit_grid(l, x, y, &g, &vec)) {
            ui_view_describe_cell(s->view, g, vec);
        } else if (e->button.button == SDL_BUTTON_LEFT &&
                   ui_session_timeline_mouse(s, l, UI_MOUSE_DOWN, x, y, 0, &went)) {
            break; /* a drag pans it; a release without one goes to the mark */
        } else if (ui_layout_hit_event(l, s->view, x, y, &ev_no)) {
            ui_session_goto_event(s, ev_no);
            return true;
        }
        break;
    }
    default:
        break;
    }
    return false;
}

/*
 * The machine thread: it alone runs the machine, in slices of about 2 ms,
 * under the runner's mutex; after a slice, if the window asked for one, it
 * takes a snapshot into `snap`. The window thread takes the mutex only to
 * send commands and to collect a snapshot, and renders without it, so
 * drawing never slows the machine (on a second core) and the picture is
 * always one consistent between-slices state.
 */
typedef struct ui_runner {
    SDL_mutex *mu;
    ui_session *s;
    SDL_atomic_t stop;
    SDL_atomic_t ui_waiting; /* the window wants the mutex: let it in */
    bool want_snap;
    bool snap_ready;
    ui_snapshot snap;
    const emu_machine *m;
    emu_gdb *gdb;       /* run --gdb with the window: gdb holds the machine while attached */
    double t_done;      /* host time (ms) the slice that ended the run ended, 0 before */
    double cpu_seconds; /* CPU time of the machine thread, for --stats */
} ui_runner;

static void runner_lock(ui_runner *r)
{
    SDL_AtomicSet(&r->ui_waiting, 1);
    SDL_LockMutex(r->mu);
    SDL_AtomicSet(&r->ui_waiting, 0);
}

/* CPU time of the calling thread (user + system), for --stats. */
static double thread_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static int machine_thread(void *arg)
{
    ui_runner *r = arg;
    ui_session *s = r->s;
    double last = now_ms();
    while (!SDL_AtomicGet(&r->stop)) {
        SDL_LockMutex(r->mu);
        /* gdb attached: it stops the machine (and runs it for a continue);
         * the window shows where, paused. */
        bool held = r->gdb && emu_gdb_poll(r->gdb);
        if (held && s->state != UI_PAUSED)
            ui_session_command(s, UI_CMD_RUN_PAUSE, 0);
        if (r->gdb && r->gdb->moved) {
            r->gdb->moved = false;
            s->snap_dirty = true;
        }
        bool idle = held || s->state == UI_PAUSED;
        double t0 = now_ms();
        if (!idle) {
            ui_session_tick(s, t0 - last);
            double took = now_ms() - t0;
            if (took < 1.0 && s->slice_cycles < (1ull << 30))
                s->slice_cycles *= 2;
            else if (took > 4.0 && s->slice_cycles > 1000)
                s->slice_cycles /= 2;
        }
        last = t0;
        if (r->t_done == 0 && r->m->finished)
            r->t_done = now_ms();
        if (s->snap_dirty && r->want_snap) {
            ui_session_snapshot(s, &r->snap);
            s->snap_dirty = false;
            r->want_snap = false;
            r->snap_ready = true;
        }
        bool slow = s->state == UI_RUNNING && ui_speeds[s->speed] != 0;
        SDL_UnlockMutex(r->mu);
        if (idle || slow)
            SDL_Delay(idle ? 2 : 1);
        else if (SDL_AtomicGet(&r->ui_waiting))
            SDL_Delay(0);
    }
    r->cpu_seconds = thread_cpu_seconds();
    return 0;
}

/*
 * The window's pixels: SDL's software renderer drawing straight into the
 * window surface, which keeps its pixels between frames, so a frame draws
 * only the panels that changed (ui_render_update) and hands only their
 * rectangles to the display (SDL_UpdateWindowSurfaceRects). A frame at full
 * speed touches the title bar and the registers, a few percent of the
 * window, instead of drawing and copying the whole window 60 times a second.
 */
typedef struct ui_screen {
    SDL_Window *win;
    SDL_Surface *surf; /* the window surface the renderer draws into */
    int w, h;
    SDL_Renderer *r;
    ui_gfx *g;
} ui_screen;

static void screen_detach(ui_screen *sc)
{
    ui_gfx_destroy(sc->g);
    if (sc->r)
        SDL_DestroyRenderer(sc->r);
    sc->g = NULL;
    sc->r = NULL;
    sc->surf = NULL;
}

/* (Re)attaches the renderer when the window surface is new (first frame,
 * resize); *fresh tells the caller the whole window must be presented. */
static bool screen_attach(ui_screen *sc, bool *fresh, char *err, size_t errlen)
{
    SDL_Surface *s = SDL_GetWindowSurface(sc->win);
    if (!s) {
        snprintf(err, errlen, "window surface: %s", SDL_GetError());
        return false;
    }
    if (s == sc->surf && s->w == sc->w && s->h == sc->h && sc->g)
        return true;
    screen_detach(sc);
    sc->surf = s;
    sc->w = s->w;
    sc->h = s->h;
    sc->r = SDL_CreateSoftwareRenderer(s);
    if (!sc->r) {
        snprintf(err, errlen, "software renderer: %s", SDL_GetError());
        return false;
    }
    sc->g = ui_gfx_create(sc->r, err, errlen);
    if (sc->g)
        ui_gfx_set_surface(sc->g, s);
    *fresh = true;
    return sc->g != NULL;
}

/* Draws what changed and shows it. */
static bool screen_frame(ui_screen *sc, ui_view *v, ui_layout *l, bool full, char *err,
                         size_t errlen)
{
    bool fresh = full;
    if (!screen_attach(sc, &fresh, err, errlen))
        return false;
    ui_rect dirty[UI_MAX_DIRTY];
    int n = ui_render_update(sc->g, v, sc->w, sc->h, l, dirty);
    SDL_RenderFlush(sc->r);
    if (fresh) {
        SDL_UpdateWindowSurface(sc->win);
    } else if (n > 0) {
        SDL_Rect rc[UI_MAX_DIRTY];
        for (int i = 0; i < n; i++) {
            rc[i].x = dirty[i].x;
            rc[i].y = dirty[i].y;
            rc[i].w = dirty[i].w;
            rc[i].h = dirty[i].h;
        }
        SDL_UpdateWindowSurfaceRects(sc->win, rc, n);
    }
    return true;
}

/* Where the display keeps the window's pixels itself (X11's shared-memory
 * images, the offscreen driver), SDL would still present the window surface
 * through an accelerated renderer, which under Xvfb is OpenGL on llvmpipe:
 * more than a core spent to copy a picture. Asked for by default priority,
 * so SDL_FRAMEBUFFER_ACCELERATION in the environment still decides. */
static void prefer_native_framebuffer(void)
{
    const char *drv = SDL_GetCurrentVideoDriver();
    if (drv && (strcmp(drv, "x11") == 0 || strcmp(drv, "offscreen") == 0))
        SDL_SetHintWithPriority(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0", SDL_HINT_DEFAULT);
}

/* The window over target t of machine m (live or replayed). */
static int window_loop(const ui_target *t, emu_machine *m, bool stats, const ui_options *uo,
                       emu_gdb *gdb)
{
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        fprintf(stderr, "apicv-emu: cannot open a window: %s\n", SDL_GetError());
        return EMU_EXIT_USAGE;
    }
    prefer_native_framebuffer();
    ui_screen sc;
    memset(&sc, 0, sizeof(sc));
    sc.win = SDL_CreateWindow("apicv-emu", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                              1600, 900, SDL_WINDOW_RESIZABLE);
    char err[512];
    bool fresh = false;
    bool screen_ok = sc.win && screen_attach(&sc, &fresh, err, sizeof(err));
    ui_view *v = calloc(1, sizeof(*v));
    ui_session *s = calloc(1, sizeof(*s));
    ui_runner *run = calloc(1, sizeof(*run));
    ui_snapshot *fresh_snap = calloc(1, sizeof(*fresh_snap));
    SDL_Thread *th = NULL;
    int status = EMU_EXIT_USAGE;
    if (!screen_ok || !v || !s || !run || !fresh_snap) {
        fprintf(stderr, "apicv-emu: window: %s\n", sc.win ? err : SDL_GetError());
        goto out;
    }
    ui_view_init(v);
    set_caption(v, uo);
    ui_session_init(s, t, v);
    ui_session_refresh(s);
    if (uo)
        ui_view_select(v, uo->vcpu);
    run->snap = v->snap;
    run->s = s;
    run->m = m;
    run->gdb = gdb;
    run->mu = SDL_CreateMutex();
    if (uo && uo->autorun)
        ui_session_command(s, UI_CMD_RUN_PAUSE, 0);
    double frame = 1000.0 / 60.0, t_start = now_ms(), cpu_start = thread_cpu_seconds();
    th = run->mu ? SDL_CreateThread(machine_thread, "apicv-machine", run) : NULL;
    if (!th) {
        fprintf(stderr, "apicv-emu: window: %s\n", SDL_GetError());
        goto out;
    }
    ui_layout l;
    memset(&l, 0, sizeof(l));
    uint64_t frames = 0;
    bool quit = false, full = true;
    while (!quit) {
        double f0 = now_ms();
        SDL_Event e;
        bool got = false;
        runner_lock(run);
        while (SDL_PollEvent(&e)) {
            if (e.type == SDL_WINDOWEVENT && (e.window.event == SDL_WINDOWEVENT_EXPOSED ||
                                              e.window.event == SDL_WINDOWEVENT_SIZE_CHANGED))
                full = true;
            if (handle_event(s, &e, &l))
                run->snap_ready = false;
        }
        ui_session_command(s, UI_CMD_NONE, 0); /* the state line follows the machine thread */
        if (run->snap_ready) {
            *fresh_snap = run->snap;
            run->snap_ready = false;
            got = true;
        }
        run->want_snap = true;
        quit = s->quit || (uo && ((uo->exit_when_done && m->finished) ||
                                  (uo->max_frames && frames + 1 >= uo->max_frames)));
        SDL_UnlockMutex(run->mu);
        if (got)
            ui_view_accept(v, fresh_snap);
        v->clock_ms = (uint64_t)(now_ms() - t_start) + UI_FLASH_MS + 1;
        /* Every frame: panels whose picture changed (new snapshot, a flash
         * fading, a key) are drawn again; a still picture costs a hash. */
        if (!screen_frame(&sc, v, &l, full, err, sizeof(err))) {
            fprintf(stderr, "apicv-emu: window: %s\n", err);
            quit = true;
        }
        full = false;
        frames++;
        double left = f0 + frame - now_ms();
        if (left > 1)
            SDL_Delay((Uint32)left);
    }
    SDL_AtomicSet(&run->stop, 1);
    SDL_WaitThread(th, NULL);
    status = m->finished ? m->exit_status : 0;
    if (stats) {
        /* MIPS over the run (window open, machine running), as the
         * headless figure; fps over the whole time the window was open. */
        double t_end = now_ms(), secs = (t_end - t_start) / 1000.0;
        double run_secs = ((run->t_done > 0 ? run->t_done : t_end) - t_start) / 1000.0;
        fprintf(stderr,
                "window: %llu frames in %.2f s (%.1f fps), %llu instructions in %.2f s, "
                "%.1f MIPS; CPU: machine thread %.2f s, window thread %.2f s\n",
                (unsigned long long)frames, secs, frames / secs,
                (unsigned long long)emu_machine_insns(m), run_secs,
                emu_machine_insns(m) / run_secs / 1e6, run->cpu_seconds,
                thread_cpu_seconds() - cpu_start);
    }
out:
    if (run && run->mu)
        SDL_DestroyMutex(run->mu);
    free(fresh_snap);
    free(run);
    free(s);
    free(v);
    screen_detach(&sc);
    if (sc.win)
        SDL_DestroyWindow(sc.win);
    TTF_Quit();
    SDL_Quit();
    return status;
}

int ui_screenshot(emu_machine *m, const char *guest, const ui_options *uo)
{
    return screenshot(m, guest, uo, NULL);
}

int ui_run_window(emu_machine *m, const char *guest, const emu_run_opts *opts,
                  const ui_options *uo)
{
    struct emu_scenario *scenario = opts ? opts->scenario : NULL;
    if (uo && uo->screenshot)
        return screenshot(m, guest, uo, scenario);
    ui_machine_target *mt = calloc(1, sizeof(*mt));
    if (!mt)
        return EMU_EXIT_USAGE;
    ui_target t;
    ui_machine_target_init(mt, m, guest, hv_vcpu, &t);
    mt->scenario = scenario;
    int status = window_loop(&t, m, opts && opts->stats, uo, opts ? opts->gdb : NULL);
    ui_machine_target_detach(mt);
    free(mt);
    return status;
}

int ui_replay_window(emu_replayer *r, const ui_options *uo)
{
    ui_replay_target *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return EMU_EXIT_USAGE;
    ui_target t;
    ui_replay_target_init(rt, r, hv_vcpu, &t);
    int status = uo && uo->screenshot ? shoot(&t, &rt->rec, emu_replay_machine(r), uo)
                                      : window_loop(&t, emu_replay_machine(r), false, uo, NULL);
    ui_replay_target_detach(rt);
    free(rt);
    return status;
}
