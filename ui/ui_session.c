/*
 * ui_session.c — the commands of the window (keys, clicks, tests) over a
 * ui_target, and the target that drives a live machine.
 *
 * The session never touches a machine itself: it calls the target between
 * slices and takes snapshots for the view. Slow motion steps the selected
 * CPU a few instructions per frame (emu_machine_step keeps the other CPUs
 * taking their turns); full speed runs slices of cycles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "emu/emu_scenario.h"
#include "ui/ui.h"

const uint64_t ui_speeds[UI_NSPEEDS] = {2, 10, 100, 1000, 100000, 10000000, 0};

ui_cmd ui_key_command(int key, int *arg)
{
    *arg = 0;
    if (key >= SDLK_1 && key <= SDLK_8) {
        *arg = key - SDLK_1;
        return UI_CMD_SELECT;
    }
    switch (key) {
    case SDLK_SPACE:
        return UI_CMD_RUN_PAUSE;
    case SDLK_s:
        return UI_CMD_STEP;
    case SDLK_n:
        return UI_CMD_NEXT_EVENT;
    case SDLK_m:
        return UI_CMD_NEXT_EVENT_CPU;
    case SDLK_e:
        return UI_CMD_NEXT_EXIT;
    case SDLK_PLUS:
    case SDLK_EQUALS:
    case SDLK_KP_PLUS:
    case SDLK_f:
        return UI_CMD_FASTER;
    case SDLK_MINUS:
    case SDLK_KP_MINUS:
        return UI_CMD_SLOWER;
    case SDLK_r:
        return UI_CMD_RESTART;
    case SDLK_h:
        return UI_CMD_HELP;
    case SDLK_b:
        return UI_CMD_STEP_BACK;
    case SDLK_v:
        return UI_CMD_EV_CPU;
    case SDLK_k:
        return UI_CMD_EV_KIND;
    case SDLK_c:
        return UI_CMD_EV_CHATTER;
    case SDLK_p:
        return UI_CMD_PRESENT;
    case SDLK_l:
        return UI_CMD_CAPTIONS;
    case SDLK_w:
        return UI_CMD_WARNINGS;
    case SDLK_LEFT:
        return UI_CMD_TL_LEFT;
    case SDLK_RIGHT:
        return UI_CMD_TL_RIGHT;
    case SDLK_UP:
        return UI_CMD_TL_ZOOM_IN;
    case SDLK_DOWN:
        return UI_CMD_TL_ZOOM_OUT;
    case SDLK_HOME:
        return UI_CMD_TL_WHOLE;
    case SDLK_END:
        return UI_CMD_TL_FOLLOW;
    case SDLK_q:
    case SDLK_ESCAPE:
        return UI_CMD_QUIT;
    default:
        return UI_CMD_NONE;
    }
}

static void set_status(ui_session *s)
{
    static const char *const names[] = {"paused", "running", "to next event", "to next exit"};
    uint64_t sp = ui_speeds[s->speed];
    if (sp)
        snprintf(s->view->status, sizeof(s->view->status), "%s, %llu insn/s", names[s->state],
                 (unsigned long long)sp);
    else
        snprintf(s->view->status, sizeof(s->view->status), "%s, full speed", names[s->state]);
}

void ui_session_init(ui_session *s, const ui_target *t, ui_view *v)
{
    memset(s, 0, sizeof(*s));
    s->t = *t;
    s->view = v;
    s->state = UI_PAUSED;
    s->speed = UI_NSPEEDS - 1;
    s->slice_cycles = 200000;
    set_status(s);
}

void ui_session_snapshot(ui_session *s, ui_snapshot *out)
{
    s->t.snapshot(s->t.ctx, out);
    if (s->t.marks)
        s->t.marks(s->t.ctx, out, &s->view->tl);
}

void ui_session_refresh(ui_session *s)
{
    ui_snapshot snap = s->view->snap; /* keeps the caption */
    ui_session_snapshot(s, &snap);
    ui_view_accept(s->view, &snap);
    s->snap_dirty = false;
    set_status(s);
}

static void pause(ui_session *s)
{
    if (s->t.run_until && s->state != UI_RUNNING && s->state != UI_PAUSED)
        s->t.run_until(s->t.ctx, 0, false, -1);
    s->state = UI_PAUSED;
}

void ui_session_command(ui_session *s, ui_cmd cmd, int arg)
{
    char err[200];
    switch (cmd) {
    case UI_CMD_NONE:
        break;
    case UI_CMD_RUN_PAUSE:
        if (s->state == UI_PAUSED && !s->view->snap.finished) {
            s->state = UI_RUNNING;
            s->insn_credit = 0;
        } else {
            pause(s);
        }
        break;
    case UI_CMD_STEP:
        pause(s);
        if (s->t.step && !s->view->snap.finished) {
            s->t.step(s->t.ctx, s->view->sel, 1);
            ui_session_refresh(s);
        }
        break;
    case UI_CMD_NEXT_EVENT:
    case UI_CMD_NEXT_EVENT_CPU:
    case UI_CMD_NEXT_EXIT: {
        if (!s->t.run_until || !s->t.run)
            break;
        pause(s);
        int cpu = cmd == UI_CMD_NEXT_EVENT_CPU ? (int)s->view->sel : -1;
        if (cmd == UI_CMD_NEXT_EXIT)
            s->t.run_until(s->t.ctx, 1u << UI_EVC_EXIT, false, -1);
        else
            s->t.run_until(s->t.ctx, 0, true, cpu);
        /* The boundary the machine stopped at may hold the next stop. */
        if (s->t.next_stop && s->t.next_stop(s->t.ctx)) {
            s->t.run_until(s->t.ctx, 0, false, -1);
            ui_session_refresh(s);
            break;
        }
        if (s->view->snap.finished) {
            s->t.run_until(s->t.ctx, 0, false, -1);
            break;
        }
        s->state = cmd == UI_CMD_NEXT_EXIT ? UI_TO_EXIT : UI_TO_EVENT;
        break;
    }
    case UI_CMD_FASTER:
        if (s->speed + 1 < UI_NSPEEDS)
            s->speed++;
        break;
    case UI_CMD_SLOWER:
        if (s->speed > 0)
            s->speed--;
        break;
    case UI_CMD_SELECT:
        ui_view_select(s->view, (unsigned)arg);
        break;
    case UI_CMD_RESTART:
        pause(s);
        if (s->t.restart) {
            if (!s->t.restart(s->t.ctx, err, sizeof(err)))
                snprintf(s->view->info, sizeof(s->view->info), "restart failed: %s", err);
            else
                ui_session_refresh(s);
        }
        break;
    case UI_CMD_HELP:
        s->view->help = !s->view->help;
        break;
    case UI_CMD_STEP_BACK:
        pause(s);
        if (s->t.step_back && s->t.step_back(s->t.ctx))
            ui_session_refresh(s);
        else if (s->t.step_back)
            snprintf(s->view->info, sizeof(s->view->info),
                     "cannot step back from here (the replay has no snapshot before it)");
        else
            snprintf(s->view->info, sizeof(s->view->info),
                     "step back works while replaying a trace (apicv-emu replay)");
        break;
    case UI_CMD_QUIT:
        s->quit = true;
        break;
    case UI_CMD_EV_CPU:
        s->view->ev_sel_only = !s->view->ev_sel_only;
        break;
    case UI_CMD_EV_KIND:
        s->view->ev_class = (s->view->ev_class + 1) % (UI_EVC_COUNT + 1);
        break;
    case UI_CMD_EV_CHATTER:
        s->view->ev_chatter = !s->view->ev_chatter;
        break;
    case UI_CMD_PRESENT:
        s->view->present = !s->view->present;
        break;
    case UI_CMD_TL_LEFT:
    case UI_CMD_TL_RIGHT:
    case UI_CMD_TL_ZOOM_IN:
    case UI_CMD_TL_ZOOM_OUT:
    case UI_CMD_TL_WHOLE:
    case UI_CMD_TL_FOLLOW:
        if (cmd == UI_CMD_TL_LEFT || cmd == UI_CMD_TL_RIGHT)
            ui_view_tl_pan(s->view, cmd == UI_CMD_TL_LEFT ? -0.25 : 0.25);
        else if (cmd == UI_CMD_TL_ZOOM_IN || cmd == UI_CMD_TL_ZOOM_OUT)
            ui_view_tl_zoom(s->view, cmd == UI_CMD_TL_ZOOM_IN ? 2.0 : 0.5, 0.5, true);
        else if (cmd == UI_CMD_TL_WHOLE)
            ui_view_tl_whole(s->view);
        else
            ui_view_tl_follow(s->view);
        /* The marks of the new span: the view's state is read under the
         * runner's lock, as commands are given. */
        ui_session_refresh(s);
        break;
    case UI_CMD_WARNINGS:
        s->view->warn_hidden = !s->view->warn_hidden;
        break;
    case UI_CMD_CAPTIONS:
        s->view->captions_open = !s->view->captions_open;
        if (s->view->captions_open && s->view->nhist == 0)
            snprintf(s->view->info, sizeof(s->view->info),
                     "no caption shown yet (captions come from a scenario's caption lines)");
        break;
    }
    set_status(s);
}

void ui_session_goto_event(ui_session *s, uint64_t n)
{
    char err[200];
    pause(s);
    if (!s->t.goto_event) {
        snprintf(s->view->info, sizeof(s->view->info), "going to an event is not available here");
    } else if (!s->t.goto_event(s->t.ctx, n, err, sizeof(err))) {
        snprintf(s->view->info, sizeof(s->view->info), "cannot go to event %llu: %s",
                 (unsigned long long)n, err);
        ui_session_refresh(s);
    } else {
        ui_session_refresh(s);
        snprintf(s->view->info, sizeof(s->view->info), "at event %llu (cycle %llu)",
                 (unsigned long long)n,
                 (unsigned long long)(s->view->snap.nev ? s->view->snap.ev[s->view->snap.nev - 1].cycle
                                                        : s->view->snap.now));
    }
    set_status(s);
}

bool ui_session_timeline_mouse(ui_session *s, const ui_layout *l, ui_mouse what, int x, int y,
                               int wheel, bool *went)
{
    ui_view *v = s->view;
    double frac;
    int w;
    *went = false;
    bool in = ui_layout_timeline_at(l, v, x, y, &frac, &w);
    switch (what) {
    case UI_MOUSE_WHEEL:
        if (!in || wheel == 0)
            return false;
        /* One notch: 1.5 times closer or farther, the cycle under the
         * mouse staying under it. */
        ui_view_tl_zoom(v, wheel > 0 ? 1.5 : 1 / 1.5, frac, false);
        ui_session_refresh(s);
        return true;
    case UI_MOUSE_DOWN:
        if (!in)
            return false;
        v->tl_drag = true;
        v->tl_dragged = false;
        v->tl_drag_x = x;
        v->tl_drag_t0 = v->snap.tl_t0;
        return true;
    case UI_MOUSE_MOVE: {
        if (!v->tl_drag)
            return false;
        int dx = x - v->tl_drag_x;
        if (!v->tl_dragged && dx > -4 && dx < 4)
            return true; /* a click that trembles is still a click */
        v->tl_dragged = true;
        uint64_t span = v->snap.tl_t1 - v->snap.tl_t0;
        double t0 = (double)v->tl_drag_t0 - (double)dx * (double)span / (double)(w > 1 ? w : 1);
        if (!in) {
            /* Out of the plot: the last position stands. */
            return true;
        }
        if (t0 > (double)v->snap.tl_last)
            t0 = (double)v->snap.tl_last;
        v->tl.whole = false;
        v->tl.fixed = true;
        v->tl.span = span;
        v->tl.t0 = t0 > 0 ? (uint64_t)t0 : 0;
        ui_session_refresh(s);
        return true;
    }
    case UI_MOUSE_UP: {
        if (!v->tl_drag)
            return false;
        bool click = !v->tl_dragged;
        v->tl_drag = v->tl_dragged = false;
        uint64_t ev_no;
        if (click && ui_layout_hit_mark(l, v, x, y, &ev_no)) {
            ui_session_goto_event(s, ev_no);
            *went = true;
        }
        return true;
    }
    }
    return false;
}

void ui_session_tick(ui_session *s, double dt_ms)
{
    bool finished = false;
    switch (s->state) {
    case UI_PAUSED:
        return;
    case UI_RUNNING:
        if (ui_speeds[s->speed]) {
            s->insn_credit += (double)ui_speeds[s->speed] * dt_ms / 1000.0;
            uint64_t n = (uint64_t)s->insn_credit;
            if (n == 0 || !s->t.step)
                return;
            s->insn_credit -= (double)n;
            s->t.step(s->t.ctx, s->view->sel, n);
            s->snap_dirty = true;
            /* A finished machine is seen in the next snapshot. */
            return;
        }
        finished = s->t.run && s->t.run(s->t.ctx, s->slice_cycles);
        break;
    case UI_TO_EVENT:
    case UI_TO_EXIT:
        finished = s->t.run(s->t.ctx, s->slice_cycles);
        if (s->t.hit && s->t.hit(s->t.ctx))
            pause(s);
        break;
    }
    s->snap_dirty = true;
    if (finished)
        pause(s);
}

/* ---- the target over a live machine ----------------------------------------- */

static cpu_stop mt_step(void *ctx, unsigned cpu, uint64_t n)
{
    ui_machine_target *mt = ctx;
    ui_recorder_forget_stops(&mt->rec);
    ui_checkpoints_take(&mt->cpl, mt->m, &mt->rec);
    if (mt->m->finished || cpu >= mt->m->cfg.ncpus)
        return CPU_STOP_NONE;
    cpu_stop s = emu_machine_step(mt->m, cpu, n);
    ui_recorder_stopped(&mt->rec);
    return s;
}

static bool mt_run(void *ctx, uint64_t cycles)
{
    ui_machine_target *mt = ctx;
    ui_recorder_forget_stops(&mt->rec);
    ui_checkpoints_take(&mt->cpl, mt->m, &mt->rec);
    if (mt->m->finished)
        return true;
    bool done = emu_machine_run(mt->m, mt->m->now + cycles);
    ui_recorder_stopped(&mt->rec);
    ui_checkpoints_take(&mt->cpl, mt->m, &mt->rec);
    return done;
}

static void mt_run_until(void *ctx, uint32_t classes, bool any, int cpu)
{
    ui_machine_target *mt = ctx;
    mt->rec.pause_classes = classes;
    mt->rec.pause_apic_vmx = any;
    mt->rec.pause_cpu = cpu;
    mt->rec.hit = false;
}

static bool mt_next_stop(void *ctx)
{
    ui_machine_target *mt = ctx;
    return ui_recorder_next_stop(&mt->rec);
}

static bool mt_hit(void *ctx)
{
    ui_machine_target *mt = ctx;
    if (!mt->rec.hit)
        return false;
    mt->rec.hit = false;
    mt->rec.pause_classes = 0;
    mt->rec.pause_apic_vmx = false;
    mt->rec.pause_cpu = -1;
    return true;
}

static bool mt_restart(void *ctx, char *err, size_t errlen)
{
    ui_machine_target *mt = ctx;
    emu_machine *m = mt->m;
    emu_config cfg = m->cfg;
    emu_console_fn console = m->console;
    void *console_ctx = m->console_ctx;
    /* Build a trial machine first: if the guest image can no longer be
     * loaded (rebuilt, deleted), the current machine stays as it is. */
    emu_machine *trial = calloc(1, sizeof(*trial));
    if (!trial) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool loads = emu_machine_init(trial, &cfg, mt->guest, err, errlen);
    if (loads)
        emu_machine_free(trial);
    free(trial);
    if (!loads)
        return false;
    /* Every observer follows the machine in its old order: the command
     * line's (the --log writer), the scenario's, the window's recorder
     * (whose own subscriptions below are then no-ops). */
    cpu_obs_bus listeners = m->obs;
    /* The checkpoints point into this machine's hypervisor: they go. */
    ui_checkpoints_free(&mt->cpl);
    mt->restarts++;
    emu_machine_free(m);
    if (!emu_machine_init(m, &cfg, mt->guest, err, errlen))
        return false;
    cpu_obs_subscribe_all(&m->obs, &listeners);
    m->console = console;
    m->console_ctx = console_ctx;
    if (mt->scenario && !emu_scenario_apply(mt->scenario, m, err, errlen))
        return false;
    ui_recorder_rewind(&mt->rec, m);
    cpu_obs_subscribe(&m->obs, ui_recorder_event, &mt->rec);
    return true;
}

/* Runs to event number n with the recorder's stop at it (the state right
 * after the event, also inside an instruction boundary). */
bool ui_target_run_to_event(ui_recorder *rec, const emu_machine *m,
                            bool (*run)(void *, uint64_t), void *ctx, uint64_t n, char *err,
                            size_t errlen)
{
    rec->pause_classes = 0;
    rec->pause_apic_vmx = false;
    rec->pause_cpu = -1;
    rec->hit = false;
    rec->pause_at_total = n;
    while (!rec->hit && !m->finished && rec->total < n)
        run(ctx, 10000000);
    rec->pause_at_total = 0;
    bool ok = rec->hit;
    rec->hit = false;
    if (!ok)
        snprintf(err, errlen, "the run ended after event %llu", (unsigned long long)rec->total);
    return ok;
}

/* Back: from the newest checkpoint before event n (ui_checkpoints.c),
 * else the machine starts again (a restart: the same guest, scenario and
 * observers, so the same run); forward: it runs on, from a checkpoint
 * past the machine when the run was there before. */
static bool mt_goto_event(void *ctx, uint64_t n, char *err, size_t errlen)
{
    ui_machine_target *mt = ctx;
    if (n == 0) {
        snprintf(err, errlen, "events are numbered from 1");
        return false;
    }
    ui_checkpoints_take(&mt->cpl, mt->m, &mt->rec);
    bool restored = false;
    if (!ui_checkpoints_goto(&mt->cpl, &mt->rec, n, &restored) && !mt_restart(ctx, err, errlen))
        return false; /* no memory to restore (nothing changed): built again */
    if (restored)
        mt->cpl.cp_restored++;
    else if (n <= mt->rec.total && !mt_restart(ctx, err, errlen))
        return false;
    return ui_target_run_to_event(&mt->rec, mt->m, mt_run, mt, n, err, errlen);
}

/* The scenario's narration, when it has shown a caption yet: it is part
 * of the machine's state of the moment, so it travels in the snapshot. */
void ui_snapshot_scenario_caption(ui_snapshot *s, const struct emu_scenario *scn)
{
    const char *now = scn ? emu_scenario_caption_now(scn) : NULL;
    if (now)
        snprintf(s->caption, sizeof(s->caption), "%s", now);
    /* Its warnings so far, as stderr says them (file:line). */
    s->nwarn = scn ? scn->nwarn : 0;
    for (unsigned k = 0; k < s->nwarn && k < UI_WARN_LINES; k++) {
        /* A long path keeps its end (the file's name). */
        const char *path = scn->path;
        size_t len = strlen(path);
        if (len > 100)
            path += len - 100;
        snprintf(s->warn[k], sizeof(s->warn[k]), "%.100s:%d: warning: %s", path,
                 scn->warn[k].line, scn->warn[k].text);
    }
    /* The texts of the captions shown so far (the list), whole. */
    _Static_assert(UI_CAPTION_TEXT >= EMU_SCN_MAX_CAPTION, "the caption list keeps captions whole");
    _Static_assert(sizeof(s->warn[0]) >= 100 + 24 + sizeof(scn->warn[0].text),
                   "a warning line keeps its text whole");
    for (unsigned k = 0; scn && k < s->ncaps; k++) {
        const char *t = emu_scenario_caption_text(scn, s->caps[k].idx);
        snprintf(s->caps[k].text, sizeof(s->caps[k].text), "%s", t ? t : "?");
    }
}

/* The machine as it is, from inside it at an event (an event stop). */
static void mt_capture(void *ctx, ui_snapshot *s)
{
    ui_machine_target *mt = ctx;
    ui_snapshot_take(s, mt->m, &mt->rec, mt->lookup);
    ui_snapshot_scenario_caption(s, mt->scenario);
}

/* The event stop on screen, when there is one, keeping the caller's
 * caption when the stop has none (--caption) and the sequence going up. */
void ui_snapshot_from_stop(ui_snapshot *s, const ui_snapshot *stop)
{
    uint64_t seq = s->seq + 1;
    char caption[sizeof(s->caption)];
    memcpy(caption, s->caption, sizeof(caption));
    *s = *stop;
    s->seq = seq;
    if (!s->caption[0])
        memcpy(s->caption, caption, sizeof(caption));
}

static void mt_marks(void *ctx, ui_snapshot *s, const ui_tl_view *tv)
{
    ui_machine_target *mt = ctx;
    ui_snapshot_marks(s, &mt->rec, tv);
}

static void mt_snapshot(void *ctx, ui_snapshot *s)
{
    ui_machine_target *mt = ctx;
    const ui_snapshot *stop = ui_recorder_current_stop(&mt->rec);
    if (stop) {
        ui_snapshot_from_stop(s, stop);
        return;
    }
    ui_snapshot_take(s, mt->m, &mt->rec, mt->lookup);
    ui_snapshot_scenario_caption(s, mt->scenario);
}

void ui_machine_target_init(ui_machine_target *mt, emu_machine *m, const char *guest,
                            ui_vcpu_lookup lookup, ui_target *t)
{
    memset(mt, 0, sizeof(*mt));
    mt->m = m;
    mt->lookup = lookup;
    mt->cpl.ops = &ui_cp_live_ops;
    mt->cpl.ctx = mt;
    snprintf(mt->guest, sizeof(mt->guest), "%s", guest ? guest : "");
    ui_recorder_init(&mt->rec, m);
    mt->rec.capture = mt_capture;
    mt->rec.capture_ctx = mt;
    cpu_obs_subscribe(&m->obs, ui_recorder_event, &mt->rec);
    memset(t, 0, sizeof(*t));
    t->ctx = mt;
    t->step = mt_step;
    t->run = mt_run;
    t->run_until = mt_run_until;
    t->next_stop = mt_next_stop;
    t->hit = mt_hit;
    t->restart = guest && *guest ? mt_restart : NULL;
    t->snapshot = mt_snapshot;
    t->marks = mt_marks;
    t->goto_event = guest && *guest ? mt_goto_event : NULL;
}

void ui_machine_target_detach(ui_machine_target *mt)
{
    ui_checkpoints_free(&mt->cpl);
    cpu_obs_unsubscribe(&mt->m->obs, ui_recorder_event, &mt->rec);
    ui_recorder_free(&mt->rec);
}
