/*
 * trace.h — the trace format of apicv-emu: write, read, dump.
 *
 * A trace is what a recorded run needs to be re-run and checked: a header
 * (format and emulator versions, the guest image's path and digest, the
 * scenario text, mode, cost model, options), the guest image itself, the
 * inputs that came from outside the machine, periodic digests of the whole
 * machine state (split into named parts so a divergence can name the state
 * that differs), the architectural event log, and an end record.
 *
 * This layer sits below emu/: it knows the event stream (cpu/cpu_obs.h) and
 * treats inputs and digests as opaque numbers; emu/emu_record.c and
 * emu/emu_replay*.c give them meaning. traces/README.md documents the byte
 * layout.
 */
#ifndef APICV_TRACE_H
#define APICV_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu/cpu_obs.h"

#define TRACE_MAGIC "APICVTRC" /* 8 bytes at offset 0 */
/* Version 5 holds 37 cost classes (the processor's per-exit-reason and
 * entry extras added); versions 2 to 4 (apicv-emu with the hypervisor's
 * per-exit-reason costs) held the first 31, version 1 the first 15
 * (instructions, VM entry, VM exit), all in the same byte layout: a reader
 * takes each, emu/ decides what the classes mean (emu_replay.c). The
 * writer writes header.format_version (0: the current one), so that a
 * test can make an older trace. */
#define TRACE_FORMAT_VERSION 5u /* 3: may hold a boot record (Multiboot options); 4: --cpu; 5: 37 costs */
#define TRACE_FORMAT_MIN_VERSION 1u
#define TRACE_MAX_COSTS 64
#define TRACE_MAX_PARTS 96
#define TRACE_MAX_STR 4096
#define TRACE_MAX_BLOB (64u << 20) /* guest image or scenario text */

/* Exit status of a reader failure (guest ABI: input error). */
#define TRACE_EXIT_BAD 2

typedef enum trace_rec_type {
    TRACE_REC_HEADER = 1,
    TRACE_REC_GUEST = 2,  /* the guest image, byte for byte */
    TRACE_REC_EVENT = 3,  /* one cpu_obs_event */
    TRACE_REC_INPUT = 4,  /* one input from outside the machine */
    TRACE_REC_DIGEST = 5, /* the machine's digest and its parts at one cycle */
    TRACE_REC_END = 6,    /* how the run ended */
    TRACE_REC_BOOT = 7,   /* a Multiboot kernel's --append text and --initrd modules (version 3) */
    TRACE_REC_NTYPES
} trace_rec_type;

typedef struct trace_header {
    uint32_t format_version;
    char emu_version[64];
    char guest_path[TRACE_MAX_STR];    /* as given to the recording run */
    uint64_t guest_digest;             /* trace_fnv1a64 of the image file */
    char scenario_path[TRACE_MAX_STR]; /* "" when the run had no scenario */
    char *scenario_text;               /* owned (malloc) or NULL */
    uint32_t mode;                     /* emu_mode, opaque here */
    char mode_name[32];
    uint32_t ncpus;
    uint64_t mem_bytes;
    uint64_t quantum;
    uint64_t max_cycles;
    uint32_t strict;
    uint32_t ncosts;
    uint16_t costs[TRACE_MAX_COSTS];
    uint64_t digest_interval; /* a digest at the first round end at or after each multiple */
    /* --cpu: the features taken away from the `max` CPU model (emu_config
     * cpu_off, opaque here). Format version 4; read as 0 (max) from older
     * traces, which did not record it. */
    uint32_t cpu_off;
} trace_header;

/* An input: something the machine could not have computed itself. post is
 * the global clock when it was posted (a round boundary; 0 = before the
 * run), cycle the cycle it is due at on CPU cpu; kind and a..d are
 * interpreted by emu/ (emu_record.h). */
typedef struct trace_input {
    uint64_t post;
    uint64_t cycle;
    uint16_t cpu;
    uint16_t kind;
    uint64_t a, b, c, d;
} trace_input;

/* Parts of a digest: cpu = TRACE_PART_MACHINE for machine-wide parts. */
#define TRACE_PART_MACHINE 0xFFFFu
typedef enum trace_part_kind {
    TRACE_PART_TOTAL = 0, /* the machine's one digest (emu_machine_digest) */
    TRACE_PART_REGS,      /* per CPU: GPRs, RIP, RFLAGS, cycle/insn counts, HLT/shadow/NMI state */
    TRACE_PART_CTRL,      /* per CPU: segments, descriptor tables, CRs, MSRs, DRs */
    TRACE_PART_APIC,      /* per CPU: the physical local APIC */
    TRACE_PART_QUEUE,     /* per CPU: its event queue */
    TRACE_PART_RAM,       /* machine: guest RAM */
    TRACE_PART_CLOCK,     /* machine: global clock, run status, posting counter */
    TRACE_PART_HV,        /* machine: the hypervisor (VMCSs, virtual APICs, PIDs) */
    TRACE_PART_VMCS,      /* per vCPU: its VMCS (every field, launch state, non-root) */
    TRACE_PART_VAPIC,     /* per vCPU: virtual-APIC page, posted-interrupt descriptor, software APIC */
    TRACE_PART_DEVICES,   /* machine: the PC devices (only once a guest has used one) */
    TRACE_PART_NKINDS
} trace_part_kind;
/* "regs", "ctrl", ... */
const char *trace_part_name(unsigned kind);

typedef struct trace_part {
    uint16_t cpu;
    uint16_t kind;
    uint64_t value;
} trace_part;

typedef struct trace_digest {
    uint64_t cycle;
    uint32_t nparts;
    trace_part part[TRACE_MAX_PARTS];
} trace_digest;

/* The boot record: what a Multiboot kernel's run got besides its image
 * (docs/multiboot.md): the --append text and each --initrd module, its
 * name as the command line gave it (the module's string) and its bytes. */
#define TRACE_MAX_MODULES 16
typedef struct trace_module {
    char name[TRACE_MAX_STR];
    uint8_t *data; /* owned (malloc); NULL when empty */
    size_t len;
} trace_module;

typedef struct trace_boot {
    bool has_append; /* --append was given (its text may be empty) */
    char append[TRACE_MAX_STR];
    unsigned nmodules;
    trace_module module[TRACE_MAX_MODULES];
} trace_boot;

typedef struct trace_end {
    uint64_t cycle;
    int32_t exit_status;
    uint64_t nevents;
    uint64_t ninputs;
} trace_end;

/* FNV-1a 64 (the guest image digest). */
uint64_t trace_fnv1a64(const void *data, size_t len);
/* FNV-1a 64 of a whole file; false when it cannot be read. */
bool trace_file_digest(const char *path, uint64_t *out);

/* ---- writing (trace_write.c) ------------------------------------------ */

typedef struct trace_writer trace_writer;

/* Creates path and writes the magic and the header; NULL and a message
 * naming the file in err on failure. */
trace_writer *trace_writer_open(const char *path, const trace_header *h, char *err,
                                size_t errlen);
void trace_write_guest(trace_writer *w, const void *image, size_t len);
/* After the guest image, before any event (format version 3). */
void trace_write_boot(trace_writer *w, const trace_boot *b);
void trace_write_event(trace_writer *w, const cpu_obs_event *ev);
void trace_write_input(trace_writer *w, const trace_input *in);
void trace_write_digest(trace_writer *w, const trace_digest *d);
void trace_write_end(trace_writer *w, const trace_end *e);
/* True once a write failed (a full disk shows when the buffer is written
 * out): the recorder stops the run there. */
bool trace_writer_failed(const trace_writer *w);
/* Flushes and closes; false (with a message) when any write failed. */
bool trace_writer_close(trace_writer *w, char *err, size_t errlen);
uint64_t trace_writer_events(const trace_writer *w);

/* ---- reading (trace_read.c) ------------------------------------------- */

/* One record in file order: its type, its index in the array of its type,
 * and its offset in the file (for messages and the dump). */
typedef struct trace_index {
    uint8_t type;
    uint32_t idx;
    uint64_t offset;
} trace_index;

typedef struct trace_file {
    char name[TRACE_MAX_STR];
    trace_header header;
    uint8_t *guest;
    size_t guest_len;
    trace_boot *boot; /* owned; NULL when the trace has no boot record */
    cpu_obs_event *events;
    size_t nevents;
    trace_input *inputs;
    size_t ninputs;
    trace_digest *digests;
    size_t ndigests;
    bool has_end;
    trace_end end;
    trace_index *order;
    size_t norder;
} trace_file;

/*
 * Reads and checks a whole trace. A truncated or corrupted file gives false
 * and a message naming the file, the byte offset, the record number and
 * what was expected; never a crash. trace_parse reads from memory (name is
 * only for messages).
 */
bool trace_load(const char *path, trace_file *out, char *err, size_t errlen);
bool trace_parse(const char *name, const uint8_t *buf, size_t len, trace_file *out, char *err,
                 size_t errlen);
void trace_file_free(trace_file *t);
/* Writes t back as a trace file (records in t->order), e.g. after a tool
 * or a test changed it; false with a message on failure. */
bool trace_save(const trace_file *t, const char *path, char *err, size_t errlen);

/* ---- dump (trace_dump.c) ---------------------------------------------- */

/* Names for event kinds and input kinds (NULL: numbers are printed). */
typedef struct trace_names {
    const char *(*event)(unsigned kind);
    const char *(*input)(unsigned kind);
} trace_names;

/* Writes the trace as text, one line a record. */
void trace_dump(FILE *f, const trace_file *t, const trace_names *names);
/* `apicv-emu trace-dump [--help] FILE`: 0, or 2 for a bad trace/usage. */
int trace_dump_main(int argc, char **argv, const trace_names *names);

#endif
