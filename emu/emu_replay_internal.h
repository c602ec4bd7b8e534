/*
 * emu_replay_internal.h — the replayer's state, shared by the files that
 * replay a trace (emu_replay*.c; not public: emu_record.h is the API).
 */
#ifndef APICV_EMU_REPLAY_INTERNAL_H
#define APICV_EMU_REPLAY_INTERNAL_H

#include "emu/emu_record.h"

/*
 * A snapshot is the architectural state only: each CPU's registers (a copy
 * of cpu_t whose host-side members — hooks, phys, obs, cost model, decoded
 * cache, TLB — are taken from the live CPU on restore, then the TLB and the
 * decoded cache are flushed), each local APIC (sinks kept from the live
 * one), the event queues, guest RAM, the scheduler's scalars, the
 * scenario's runtime counters and the verification cursors.
 *
 * Guest RAM is kept sparse: only the pages holding a nonzero byte, with
 * their numbers (a 4 GiB machine whose guest uses 100 KiB costs 100 KiB
 * per snapshot, not 4 GiB); every other page is zeros on restore.
 */
typedef struct emu_snapshot {
    uint64_t now;
    cpu_t cpu[CPU_MAX_CPUS];
    apic_t apic[CPU_MAX_CPUS];
    emu_qevent *q[CPU_MAX_CPUS];
    size_t qn[CPU_MAX_CPUS];
    uint64_t evq_seq;
    bool in_round, finished;
    unsigned turn;
    uint64_t round_end;
    int exit_status;
    char diag[512];
    emu_stats stats;
    uint64_t *ram_pages;  /* numbers of the pages kept, ascending */
    uint8_t *ram;         /* their bytes, CPU_PAGE_SIZE each */
    size_t ram_n, ram_cap;
    bool ram_failed;
    emu_scenario_rt srt;
    size_t ev_i, dg_i, in_i;
    uint64_t next_digest;
} emu_snapshot;

struct emu_replayer {
    trace_file t;
    emu_machine m;
    emu_scenario s;
    bool verify;
    size_t ev_i, dg_i, in_i; /* next event, digest, interactive input */
    uint64_t interval, next_digest;
    bool diverged;
    char diag[2048];
    emu_snapshot *snap[EMU_REPLAY_MAX_SNAPSHOTS];
    size_t nsnap;
    uint64_t snap_interval, next_snap;
    bool snapshots_ok; /* native only: VMX modes seek back by replay_rebuild */
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
 * (kept in r->snap), and freeing one. */
void emu_replay_take_snapshot(emu_replayer *r);
void emu_replay_free_snapshot(emu_snapshot *s);
/* emu_replay.c: the machine built again at cycle 0 from the trace. */
bool emu_replay_rebuild(emu_replayer *r, char *err, size_t errlen);

#endif
