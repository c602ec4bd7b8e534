/*
 * emu_replay_internal.h — the replayer's state, shared by the files that
 * replay a trace (emu_replay*.c; not public: emu_record.h is the API).
 */
#ifndef APICV_EMU_REPLAY_INTERNAL_H
#define APICV_EMU_REPLAY_INTERNAL_H

#include "emu/emu_record.h"

struct emu_replayer {
    trace_file t;
    emu_machine m;
    emu_scenario s;
    bool verify;
    size_t ev_i, dg_i, in_i; /* next event, digest, interactive input */
    uint64_t interval, next_digest;
    bool diverged;
    char diag[2048];
    /* Snapshots every snap_interval cycles (emu_replay_snap.c), in every
     * mode: checkpoints of the whole machine with the positions above. */
    emu_replay_mark *snap[EMU_REPLAY_MAX_SNAPSHOTS];
    size_t nsnap;
    uint64_t snap_interval, next_snap;
    bool snapshots_ok; /* false: seeking back builds the machine again (headless, --gdb) */
    uint64_t gen;      /* machines built (emu_replay_rebuild): marks of another are refused */
    bool unfinished;   /* the recording stopped before the run ended (end status -1) */
    bool done;         /* an unfinished recording's end was reached and checked */
    char path[4096];   /* the trace, for messages and rebuilding */
    uint64_t pos;      /* emu_replay_step calls since cycle 0 (replay --gdb) */
};

/* emu_replay_verify.c: the first divergence (pauses the machine); the
 * observer that checks every event; a digest against the recorded one;
 * the checks at the end of the run. */
void emu_replay_diverge(emu_replayer *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emu_replay_event(void *ctx, const cpu_obs_event *ev);
void emu_replay_check_digest(emu_replayer *r, const trace_digest *rec, const trace_digest *now);
void emu_replay_finish(emu_replayer *r);
/* emu_replay_snap.c: a snapshot of the machine at this round boundary
 * (kept in r->snap), and freeing them all. */
void emu_replay_take_snapshot(emu_replayer *r);
void emu_replay_free_snapshots(emu_replayer *r);
/* emu_replay.c: the machine built again at cycle 0 from the trace. */
bool emu_replay_rebuild(emu_replayer *r, char *err, size_t errlen);

#endif
