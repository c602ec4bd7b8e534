/*
 * emu_gdb_run.c — run control of the gdb stub: stop replies, continue,
 * step, vCont; and in a replay (`replay --gdb`, docs/gdb.md) the stepping
 * schedule with reverse execution (bs, bc).
 *
 * A live run moves by emu_machine_run, emu_machine_step and
 * emu_machine_step_any. A replay moves only by emu_replay_step, one call
 * at a time, so that where it stands is a position: the number of calls
 * since cycle 0, which reaches exactly the same state again whenever the
 * replay restarts and makes that many calls (emu_record.h). Reverse
 * execution is built on that: the history of which CPU retired an
 * instruction at each position (g->hist) finds the previous instruction
 * of a thread; a pass from cycle 0 up to the current position finds the
 * last breakpoint or watchpoint hit; then the replay restarts and runs to
 * the position found.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_gdb_internal.h"
#include "emu/emu_record.h"

void emu_gdb_record_event(void *ctx, const cpu_obs_event *ev)
{
    emu_gdb *g = ctx;
    g->ev[g->nev++ % EMU_GDB_NEV] = *ev;
    if (g->want_event) {
        g->want_event = false;
        g->event_hit = true;
        emu_machine_pause(g->m);
    }
}

void emu_gdb_stop_reply(emu_gdb *g, char *out, unsigned sig, unsigned cpu, const char *extra)
{
    emu_machine *m = g->m;
    if (g->rp && emu_replay_ended(g->rp)) {
        /* The end of a replay is the end of its history, not an exit:
         * gdb says "No more reverse-execution history." and can go back. */
        g->g_cpu = cpu;
        sprintf(out, "T05thread:%x;replaylog:end;", cpu + 1);
        return;
    }
    if (m->finished) {
        sprintf(out, "W%02x", (unsigned)m->exit_status & 0xFF);
        return;
    }
    g->g_cpu = cpu;
    sprintf(out, "T%02xthread:%x;%s", sig, cpu + 1, extra ? extra : "");
}

/* ---- the replay's positions ------------------------------------------------ */

/* One call of the stepping schedule, remembered in the history. */
static int rstep(emu_gdb *g)
{
    uint64_t pos = emu_replay_position(g->rp);
    int k = emu_replay_step(g->rp);
    if (emu_replay_position(g->rp) == pos || pos < g->nhist)
        return k; /* ended, or a position already in the history */
    if (g->nhist == g->hist_cap) {
        size_t cap = g->hist_cap ? g->hist_cap * 2 : 1 << 16;
        uint8_t *h = realloc(g->hist, cap);
        if (!h) {
            g->hist_lost = true;
            return k;
        }
        g->hist = h;
        g->hist_cap = cap;
    }
    if (!g->hist_lost)
        g->hist[g->nhist++] = k < 0 ? 0xFF : (uint8_t)k;
    return k;
}

/* To position target: forward by stepping, backward by restarting the
 * replay at cycle 0 first. The event ring then holds the events of the
 * way there. False when the replay cannot be rebuilt. */
static bool replay_goto(emu_gdb *g, uint64_t target)
{
    emu_replayer *rp = g->rp;
    if (target < emu_replay_position(rp)) {
        char err[1024];
        if (!emu_replay_restart(rp, err, sizeof(err)))
            return false;
        g->nev = 0;
        emu_gdb_watch_install(g);
    }
    while (emu_replay_position(rp) < target && !emu_replay_ended(rp))
        rstep(g);
    emu_gdb_watch_sync(g);
    return true;
}

static unsigned first_cpu(const emu_gdb *g, int k)
{
    return k >= 0 ? (unsigned)k : g->g_cpu;
}

/* bs: back to the state before the selected thread's last instruction. */
void emu_gdb_reverse_step(emu_gdb *g, char *out)
{
    if (!g->rp) {
        out[0] = 0;
        return;
    }
    if (g->hist_lost) {
        strcpy(out, "E0c"); /* ENOMEM: the history could not be kept */
        return;
    }
    unsigned cpu = g->c_any ? g->g_cpu : g->c_cpu;
    uint64_t j = emu_replay_position(g->rp);
    while (j > 0 && g->hist[j - 1] != cpu)
        j--;
    if (!replay_goto(g, j ? j - 1 : 0)) {
        strcpy(out, "E01");
        return;
    }
    if (j == 0)
        sprintf(out, "T05thread:%x;replaylog:begin;", cpu + 1);
    else
        emu_gdb_stop_reply(g, out, 5, cpu, NULL);
}

/*
 * bc: back to the last breakpoint or watchpoint hit before the current
 * position. A breakpoint hit at position j (a CPU stepped onto its RIP)
 * stops at j, as a forward continue would; a watched value that changed
 * in the step to position j stops at j - 1, before the instruction (or
 * the event at its boundary) that changed it, the way gdb expects a
 * watchpoint met backwards. None: position 0, replaylog:begin.
 */
void emu_gdb_reverse_continue(emu_gdb *g, char *out)
{
    if (!g->rp) {
        out[0] = 0;
        return;
    }
    emu_replayer *rp = g->rp;
    uint64_t here = emu_replay_position(rp);
    char err[1024];
    if (!emu_replay_restart(rp, err, sizeof(err))) {
        strcpy(out, "E01");
        return;
    }
    g->nev = 0;
    emu_gdb_watch_install(g);
    emu_gdb_watch_sync(g);
    bool found = false;
    uint64_t best = 0;
    int best_cpu = -1, best_w = -1;
    for (uint64_t j = 1; j <= here && !emu_replay_ended(rp); j++) {
        int k = rstep(g);
        if (k >= 0 && j < here && emu_gdb_bp_at(g, g->m->cpu[k].rip)) {
            found = true;
            best = j;
            best_cpu = k;
            best_w = -1;
        }
        int w = emu_gdb_watch_hit(g);
        if (w >= 0 && (!found || j - 1 >= best)) {
            found = true;
            best = j - 1;
            best_cpu = k;
            best_w = w;
        }
    }
    if (!replay_goto(g, found ? best : 0)) {
        strcpy(out, "E01");
        return;
    }
    if (!found) {
        sprintf(out, "T05thread:%x;replaylog:begin;", g->g_cpu + 1);
        return;
    }
    char extra[48] = "hwbreak:;";
    if (best_w >= 0)
        emu_gdb_watch_reason(g, best_w, extra, sizeof(extra));
    /* A virtual-APIC byte belongs to its vCPU: that thread stops. */
    unsigned cpu = best_w >= 0 && g->wp[best_w].vapic ? g->wp[best_w].vapic_cpu
                                                      : first_cpu(g, best_cpu);
    emu_gdb_stop_reply(g, out, 5, cpu, extra);
}

/* ---- forward ----------------------------------------------------------------- */

/* Ctrl-C or a closed connection between slices: 1 stop (reply made), -1
 * the session is over, 0 go on. */
static int check_interrupt(emu_gdb *g, char *out)
{
    emu_machine *m = g->m;
    int ch = emu_gdb_get_byte(g, false);
    if (ch == -1 || emu_stop_requested(m))
        return -1;
    if (ch == 0x03) {
        emu_gdb_stop_reply(g, out, 2, m->in_round ? m->turn : 0, NULL);
        return 1;
    }
    return 0;
}

/* Runs until a breakpoint, a watchpoint, Ctrl-C or the end of the run.
 * Without breakpoints or watchpoints a live machine runs in slices; with
 * them, and always in a replay, one instruction of any CPU at a time. */
int emu_gdb_continue_some(emu_gdb *g, char *out, unsigned budget)
{
    emu_machine *m = g->m;
    for (unsigned iter = 0;; iter++) {
        if (m->finished || (g->rp && emu_replay_ended(g->rp))) {
            emu_gdb_stop_reply(g, out, 5, g->g_cpu, NULL);
            return 1;
        }
        if (iter >= budget)
            return 0;
        if (!g->rp && g->nbp == 0 && g->nwp == 0) {
            emu_machine_run(m, m->now + 100000);
            iter += 1023; /* a slice costs a step's budget 1024 times */
        } else {
            int k = g->rp ? rstep(g) : emu_machine_step_any(m);
            if (k >= 0) {
                if (emu_gdb_bp_at(g, m->cpu[k].rip)) {
                    emu_gdb_stop_reply(g, out, 5, (unsigned)k, "hwbreak:;");
                    return 1;
                }
            }
            int w = emu_gdb_watch_hit(g);
            if (w >= 0) {
                char extra[48];
                emu_gdb_watch_reason(g, w, extra, sizeof(extra));
                unsigned cpu = g->wp[w].vapic ? g->wp[w].vapic_cpu : first_cpu(g, k);
                emu_gdb_stop_reply(g, out, 5, cpu, extra);
                return 1;
            }
            if ((iter & 1023) != 0)
                continue;
        }
        int st = check_interrupt(g, out);
        if (st)
            return st;
    }
}

bool emu_gdb_continue(emu_gdb *g, char *out)
{
    if (g->async) {
        g->running = true; /* emu_gdb_poll goes on with it */
        return true;
    }
    int st;
    while ((st = emu_gdb_continue_some(g, out, UINT_MAX)) == 0)
        ;
    return st > 0;
}

/* One instruction of CPU cpu (the others take their turns meanwhile). */
void emu_gdb_step(emu_gdb *g, unsigned cpu, char *out)
{
    emu_machine *m = g->m;
    if (g->rp) {
        /* Bounded as emu_machine_step is: a CPU asleep for good. */
        uint64_t limit = m->now + 100 * m->cfg.quantum;
        while (!emu_replay_ended(g->rp) && m->now < limit)
            if (rstep(g) == (int)cpu)
                break;
    } else {
        emu_machine_step(m, cpu, 1);
    }
    emu_gdb_watch_hit(g);
    emu_gdb_stop_reply(g, out, 5, cpu, NULL);
}

void emu_gdb_until_event(emu_gdb *g)
{
    emu_machine *m = g->m;
    if (g->rp) {
        while (!g->event_hit && !emu_replay_ended(g->rp))
            rstep(g);
        return;
    }
    for (unsigned i = 0; i < 1000 && !g->event_hit && !m->finished; i++)
        emu_machine_run(m, m->now + 1000000);
}

/* vCont;ACTION[:TID]...: a step action steps its thread (the others run
 * as the scheduler runs them); otherwise the machine continues. */
bool emu_gdb_vcont(emu_gdb *g, const char *p, char *out)
{
    while (*p == ';') {
        p++;
        char a = *p++;
        if (a == 'S' || a == 'C') /* signals mean nothing to this machine */
            while (emu_gdb_hexval(*p) >= 0)
                p++;
        unsigned cpu = g->c_cpu;
        if (*p == ':') {
            char tid[24];
            size_t n = 0;
            p++;
            while (*p && *p != ';' && n < sizeof(tid) - 1)
                tid[n++] = *p++;
            tid[n] = 0;
            if (!emu_gdb_parse_thread(g, tid, &cpu)) {
                strcpy(out, "E01");
                return true;
            }
        }
        if (a == 's' || a == 'S') {
            emu_gdb_step(g, cpu, out);
            return true;
        }
        if (a != 'c' && a != 'C') {
            strcpy(out, "E01");
            return true;
        }
    }
    return emu_gdb_continue(g, out);
}
