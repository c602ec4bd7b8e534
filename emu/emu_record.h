/*
 * emu_record.h — recording a run into a trace and replaying it (traces/).
 *
 * Recording (`apicv-emu run --record FILE`):
 *
 *   emu_machine_init(&m, &cfg, guest, ...);
 *   emu_record_begin(&m, FILE, &info, &rec, err, errlen);  // before emu_scenario_apply
 *   emu_scenario_apply(&scn, &m, ...);                      // if a scenario runs
 *   while (!emu_record_run(rec, m.now + slice)) { progress; }   // instead of emu_machine_run
 *   emu_record_end(rec, err, errlen);                       // final digest, end record
 *
 * Replay (`apicv-emu replay [--verify] [--headless] TRACE`): emu_replay_main,
 * or for the window emu_replay_open / emu_replay_run / emu_replay_seek.
 * traces/README.md explains what is recorded and why.
 */
#ifndef APICV_EMU_RECORD_H
#define APICV_EMU_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu/emu.h"
#include "emu/emu_scenario.h"
#include "traces/trace.h"

#define EMU_RECORD_DEFAULT_INTERVAL 1000000 /* cycles between digests */
#define EMU_RECORD_MIN_INTERVAL 1000        /* --digest-every's range */
#define EMU_RECORD_MAX_INTERVAL 1000000000000000ull
#define EMU_REPLAY_SNAPSHOT_EVERY 8         /* digests between snapshots */
#define EMU_REPLAY_MAX_SNAPSHOTS 64

/* The machine's digest split into the named parts of trace.h (per CPU:
 * regs, ctrl, apic, queue; machine: ram, clock, hv) plus the total
 * (emu_machine_digest). Takes nothing that is not architectural. */
void emu_record_digest(const emu_machine *m, trace_digest *out);

/* ---- recording ---------------------------------------------------------- */

typedef struct emu_record_info {
    const char *guest_path;   /* the image the machine loaded (embedded in the trace) */
    emu_scenario *scenario;   /* NULL for a plain guest run */
    const char *emu_version;  /* NULL: "unknown" */
    uint64_t digest_interval; /* 0: EMU_RECORD_DEFAULT_INTERVAL (rounded up to the quantum) */
} emu_record_info;

typedef struct emu_recorder emu_recorder;

/* Starts recording machine m (just initialised, not yet run) into path:
 * writes the header and the guest image, subscribes to the event bus and,
 * with a scenario, to its inputs. Call before emu_scenario_apply. */
bool emu_record_begin(emu_machine *m, const char *path, const emu_record_info *info,
                      emu_recorder **out, char *err, size_t errlen);
/* emu_machine_run(m, until) that also takes the periodic digests. Returns
 * true when the run finished. */
bool emu_record_run(emu_recorder *r, uint64_t until);
/* Takes the final digest, writes the end record, closes and frees. */
bool emu_record_end(emu_recorder *r, char *err, size_t errlen);

/* ---- replay --------------------------------------------------------------- */

typedef struct emu_replayer emu_replayer;

/* Loads a trace and builds its machine (the embedded guest image, checked
 * against the header's digest; the header's options and cost model; the
 * scenario with the recorded inputs). Returns 0, or 2 with a message. */
int emu_replay_open(const char *path, bool verify, emu_replayer **out, char *err, size_t errlen);
void emu_replay_close(emu_replayer *r);
/* The machine being replayed (read it, never run it directly). */
emu_machine *emu_replay_machine(emu_replayer *r);
emu_scenario *emu_replay_scenario(emu_replayer *r);
/* Runs the replay until the clock reaches until or the run ends; with
 * verify, checks every event and digest on the way and stops at the first
 * divergence. Returns true when it cannot go on (finished or diverged). */
bool emu_replay_run(emu_replayer *r, uint64_t until);
/*
 * Moves the replay to the first round boundary at or after cycle, forward
 * by running, backward by restoring the latest snapshot at or before it and
 * running from there (in every mode; without snapshots the machine is built
 * again at cycle 0). False with a message in err when it cannot.
 */
bool emu_replay_seek(emu_replayer *r, uint64_t cycle, char *err, size_t errlen);
/*
 * A mark: the replay as it is between two slices (a checkpoint of the
 * whole machine, emu_checkpoint.h, with the replayer's positions in the
 * trace), to come back to (the window's jumps to an earlier event). NULL
 * when taken inside a round, after a divergence, or out of memory.
 * Restoring one puts the replay back exactly where it was taken; false,
 * with nothing changed, for a mark of a machine since built again
 * (emu_replay_restart, a seek without snapshots) or without memory.
 */
typedef struct emu_replay_mark emu_replay_mark;
emu_replay_mark *emu_replay_mark_take(const emu_replayer *r);
bool emu_replay_mark_restore(emu_replayer *r, const emu_replay_mark *k);
void emu_replay_mark_free(emu_replay_mark *k);
size_t emu_replay_mark_bytes(const emu_replay_mark *k);
uint64_t emu_replay_mark_cycle(const emu_replay_mark *k);
/*
 * The stepping schedule of `replay --gdb` (docs/gdb.md): one call runs the
 * machine until any CPU retires one instruction (as emu_machine_step_any),
 * or to the round boundary where the next recorded input is posted.
 * Returns that CPU or -1. The state after N calls from cycle 0 depends on
 * the trace and N only (emu_replay_position is N), so a position can be
 * reached again exactly: emu_replay_restart (back to cycle 0, position 0)
 * and N calls. The schedule's instruction-level interrupt timing is the
 * stepped one (docs/machine.md), not necessarily the recording's.
 */
int emu_replay_step(emu_replayer *r);
uint64_t emu_replay_position(const emu_replayer *r);
/* The replay cannot go on: the run finished, the recording's end was
 * reached, it diverged or was interrupted. */
bool emu_replay_ended(const emu_replayer *r);
bool emu_replay_restart(emu_replayer *r, char *err, size_t errlen);
/* The first divergence, or NULL. */
const char *emu_replay_divergence(const emu_replayer *r);
/* Events and digests checked so far. */
void emu_replay_progress(const emu_replayer *r, uint64_t *events, uint64_t *digests);

/* `apicv-emu replay [--verify] [--headless] TRACE`: the replayed run's exit
 * status, 2 for a bad trace or usage, 5 when --verify found a divergence. */
int emu_replay_main(int argc, char **argv);
/* The same with a front end: without --verify or --headless, and when a
 * display exists, the replay opens in the window (fe->replay_window). */
int emu_replay_cli(int argc, char **argv, const emu_frontend *fe);
/* Names for trace_dump_main: event kinds of every layer and input kinds. */
extern const trace_names emu_trace_names;

#endif
