/*
 * emu_gdb_internal.h — what the files of the gdb stub share (not public:
 * emu_gdb.h is the stub's interface). emu_gdb.c: packets, registers,
 * memory, queries; emu_gdb_points.c: breakpoints and watchpoints;
 * emu_gdb_run.c: run control, replay and reverse execution;
 * emu_gdb_monitor.c: `monitor` commands.
 */
#ifndef APICV_EMU_GDB_INTERNAL_H
#define APICV_EMU_GDB_INTERNAL_H

#include "emu/emu_gdb.h"

/* ---- emu_gdb.c: the protocol's encodings -------------------------------- */

extern const char emu_gdb_hexd[];
int emu_gdb_hexval(int ch);
/* Hex digits at *p up to a non-hex character; false when none or more than 16. */
bool emu_gdb_parse_hex(const char **p, uint64_t *out);
void emu_gdb_hex_bytes(char *out, const uint8_t *b, size_t n);
bool emu_gdb_unhex_bytes(const char *s, uint8_t *b, size_t n);
/* A thread id: CPU index + 1; "0" and "-1" leave *cpu as it is. */
bool emu_gdb_parse_thread(emu_gdb *g, const char *s, unsigned *cpu);
/* One byte from the connection: -1 on EOF or error, -2 when wait is false
 * and nothing is there. */
int emu_gdb_get_byte(emu_gdb *g, bool wait);
/* The Hg thread's CPU (registers, memory, monitor). */
cpu_t *emu_gdb_cpu(emu_gdb *g);

/* ---- emu_gdb_points.c ---------------------------------------------------- */

/* Z/z TYPE,ADDR,KIND: insert or remove; the reply in out. */
void emu_gdb_point(emu_gdb *g, bool insert, const char *p, char *out);
/* A breakpoint at rip. */
bool emu_gdb_bp_at(const emu_gdb *g, uint64_t rip);
/* The first watchpoint whose value changed since the last look (every
 * watched value moves on), else -1. */
int emu_gdb_watch_hit(emu_gdb *g);
/* Hands the read and access watchpoints to the CPUs (cpu_watch_set): after
 * a change, and after a replay restarted (a new machine). */
bool emu_gdb_watch_install(emu_gdb *g);
/* Takes every watched value as it is now (after the machine jumped: a
 * replay restarted). A virtual-APIC byte with no page yet counts as 0. */
void emu_gdb_watch_sync(emu_gdb *g);
/* The stop reply's reason for watchpoint w ("watch:ADDR;" and the like). */
void emu_gdb_watch_reason(const emu_gdb *g, int w, char *out, size_t len);

/* ---- emu_gdb_run.c ------------------------------------------------------- */

void emu_gdb_record_event(void *ctx, const cpu_obs_event *ev);
/* T or W (a replay's end is T05 with replaylog:end). */
void emu_gdb_stop_reply(emu_gdb *g, char *out, unsigned sig, unsigned cpu, const char *extra);
/* c, vCont;c: false when the connection went away or Ctrl-C ended the run.
 * Under emu_gdb_poll it only starts the continue (g->running). */
bool emu_gdb_continue(emu_gdb *g, char *out);
/* At most budget steps of a continue (a slice counts 1024): 1 stopped
 * (the reply in out), 0 not yet, -1 the connection went away. */
int emu_gdb_continue_some(emu_gdb *g, char *out, unsigned budget);
void emu_gdb_step(emu_gdb *g, unsigned cpu, char *out);
bool emu_gdb_vcont(emu_gdb *g, const char *p, char *out);
/* bs and bc (replay only). */
void emu_gdb_reverse_step(emu_gdb *g, char *out);
void emu_gdb_reverse_continue(emu_gdb *g, char *out);
/* monitor step-event: runs until the observer sees an event (g->event_hit)
 * or the run cannot go on. */
void emu_gdb_until_event(emu_gdb *g);

#endif
