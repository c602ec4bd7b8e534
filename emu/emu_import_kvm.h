/*
 * emu_import_kvm.h — `apicv-emu import-kvm`: real KVM traces (the text of
 * `trace-cmd report` or of ftrace's `trace` file) turned into a scenario
 * for our machine (docs/import-kvm.md).
 *
 * Three steps, each usable alone (the tests drive them one by one):
 *   emu_kvm_parse_line   one line -> one event (or a comment, an event we do
 *                        not read, a malformed line with the reason);
 *   emu_kvm_read         a whole file into an emu_kvm_log (malformed lines
 *                        reported as FILE:LINE and skipped, unknown events
 *                        counted by name);
 *   emu_kvm_analyse      the log -> per-vCPU stimuli on our clock and the
 *                        mode the exit pattern shows (emu_kvm_import);
 *   emu_kvm_write_scenario / emu_kvm_print_summary  the scenario text and
 *                        the report of what was read and inferred.
 */
#ifndef APICV_EMU_IMPORT_KVM_H
#define APICV_EMU_IMPORT_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "emu/emu.h"

/* The KVM tracepoints read (include/trace/events/kvm.h and
 * arch/x86/kvm/trace.h of the kernel). */
typedef enum emu_kvm_kind {
    EMU_KVM_ENTRY,            /* kvm_entry */
    EMU_KVM_EXIT,             /* kvm_exit */
    EMU_KVM_ACCEPT_IRQ,       /* kvm_apic_accept_irq */
    EMU_KVM_APICV_ACCEPT_IRQ, /* kvm_apicv_accept_irq (newer kernels) */
    EMU_KVM_APIC_IPI,         /* kvm_apic_ipi */
    EMU_KVM_APIC,             /* kvm_apic (apic_read / apic_write) */
    EMU_KVM_EOI,              /* kvm_eoi */
    EMU_KVM_PV_EOI,           /* kvm_pv_eoi */
    EMU_KVM_MSR,              /* kvm_msr */
    EMU_KVM_INJ_VIRQ,         /* kvm_inj_virq */
    EMU_KVM_PI_IRTE,          /* kvm_pi_irte_update (VT-d posted interrupts) */
    EMU_KVM_PLE_WINDOW,       /* kvm_ple_window_update, older kvm_ple_window */
    EMU_KVM_LAPIC_EXPIRE,     /* kvm_wait_lapic_expire */
    EMU_KVM_HV_TIMER,         /* kvm_hv_timer_state */
    EMU_KVM_WAKEUP,           /* kvm_vcpu_wakeup */
    EMU_KVM_APICV_INHIBIT,    /* kvm_apicv_inhibit_changed, older kvm_apicv_update_request */
    EMU_KVM_NKINDS
} emu_kvm_kind;

/* The tracepoint's name ("kvm_exit", ...). */
const char *emu_kvm_kind_name(emu_kvm_kind k);

/* Which line prefix and which kvm_exit layout a line had (reported). */
typedef enum emu_kvm_prefix { EMU_KVM_PREFIX_TRACE_CMD, EMU_KVM_PREFIX_FTRACE } emu_kvm_prefix;
typedef enum emu_kvm_exit_layout {
    EMU_KVM_EXIT_PLAIN,     /* "reason R rip 0x..." (2.6-era kernels) */
    EMU_KVM_EXIT_INFO,      /* "[vcpu N] reason R rip 0x... info A B" (3.x-5.9) */
    EMU_KVM_EXIT_INFO1,     /* "vcpu N reason R rip ... info1 ... info2 ... intr_info ... error_code ..." */
    EMU_KVM_EXIT_NLAYOUTS
} emu_kvm_exit_layout;

#define EMU_KVM_NO_REASON 0xFFFFu /* a kvm_exit whose reason name is not a VMX one */
#define EMU_KVM_COMM_MAX 32

typedef struct emu_kvm_event {
    emu_kvm_kind kind;
    unsigned line;        /* 1-based line in the file */
    uint64_t ts_ns;       /* the timestamp, in nanoseconds */
    int pid;              /* the thread (TASK-PID) */
    int host_cpu;         /* [CPU] */
    int vcpu;             /* the vCPU the event is about, -1 until known */
    emu_kvm_prefix prefix;
    char comm[EMU_KVM_COMM_MAX];
    /* fields by kind */
    unsigned reason;            /* exit: basic reason, EMU_KVM_NO_REASON if unknown */
    char reason_name[24];       /* exit: as printed */
    emu_kvm_exit_layout layout; /* exit */
    bool has_info;              /* exit: qualification and interruption info known */
    uint64_t info1;             /* exit: exit qualification */
    uint32_t intr_info;         /* exit: VM-exit interruption information */
    unsigned vector;            /* accept, ipi, eoi, inj_virq, pi_irte (gvec) */
    unsigned dest;              /* accept: APIC ID; ipi: dst */
    unsigned dm;                /* accept, ipi: delivery mode 0..7 */
    bool level;                 /* accept, ipi: level-triggered */
    bool logical;               /* ipi: logical destination */
    unsigned shorthand;         /* ipi: 0 dst, 1 self, 2 all, 3 all-but-self */
    bool write;                 /* apic, msr: a write */
    uint32_t reg;               /* apic: xAPIC offset; msr: the MSR */
    uint64_t val;               /* apic, msr: the value; wakeup: ns; lapic_expire: delta */
    bool flag;                  /* pi_irte: enabled; wakeup: waited; hv_timer: in use;
                                 * inhibit: set; inj_virq: soft */
} emu_kvm_event;

typedef enum emu_kvm_line {
    EMU_KVM_LINE_BLANK,     /* empty, a comment, a header line of either tool */
    EMU_KVM_LINE_EVENT,     /* a KVM tracepoint we read: *ev filled */
    EMU_KVM_LINE_UNKNOWN,   /* a well-formed line of another event: its name in name */
    EMU_KVM_LINE_MALFORMED, /* why in err */
} emu_kvm_line;

/* Parses one line (without its newline). For EMU_KVM_LINE_UNKNOWN the
 * event's name goes to name (namelen bytes). */
emu_kvm_line emu_kvm_parse_line(const char *line, unsigned lineno, emu_kvm_event *ev,
                                char *name, size_t namelen, char *err, size_t errlen);

/* "SECONDS[.FRACTION]" as the tools print timestamps, in nanoseconds. */
bool emu_kvm_parse_seconds(const char *text, uint64_t *ns);

#define EMU_KVM_MAX_UNKNOWN 32
typedef struct emu_kvm_log {
    const char *path;
    emu_kvm_event *ev;
    size_t n, cap;
    unsigned lines;
    unsigned malformed;
    unsigned prefixes[2];                      /* lines per emu_kvm_prefix */
    unsigned exit_layouts[EMU_KVM_EXIT_NLAYOUTS];
    unsigned kinds[EMU_KVM_NKINDS];            /* events per kind */
    unsigned unknown_total;
    unsigned nunknown;                         /* names below; more are counted in unknown_total */
    char unknown_name[EMU_KVM_MAX_UNKNOWN][48];
    unsigned unknown_count[EMU_KVM_MAX_UNKNOWN];
} emu_kvm_log;

/* Reads path into log. Malformed lines are printed to diag as
 * "FILE:LINE: ..." (the first 20; then only counted) and skipped. False
 * (with err) only when the file cannot be read or memory runs out. */
bool emu_kvm_read(const char *path, emu_kvm_log *log, FILE *diag, char *err, size_t errlen);
void emu_kvm_log_free(emu_kvm_log *log);

/* The scenario's clock: stimuli start at EMU_KVM_START and end before
 * EMU_KVM_WINDOW_END; the guest (guests/kvm_import.c) runs to
 * EMU_KVM_GUEST_END. Stimuli for one vCPU stay EMU_KVM_MIN_GAP apart. */
#define EMU_KVM_START 30000u
#define EMU_KVM_WINDOW_END 900000u
#define EMU_KVM_GUEST_END 1000000u
#define EMU_KVM_MIN_GAP 5000u
#define EMU_KVM_DEFAULT_CYCLES_PER_US 3000u /* a 3 GHz host */
#define EMU_KVM_MAX_STIMULI 110 /* a scenario holds 128 captions and 128 expectations */
#define EMU_KVM_MAX_CAPTION_TEXT 190 /* below the scenario's EMU_SCN_MAX_CAPTION */

typedef struct emu_kvm_stimulus {
    uint64_t cycle;
    uint64_t ts_ns;
    unsigned line;
    unsigned vcpu;
    uint8_t vector;
    bool nmi;
    char what[160]; /* the caption: what the trace says happened */
} emu_kvm_stimulus;

typedef struct emu_kvm_import_opts {
    bool mode_given;
    emu_mode mode;
    uint64_t cycles_per_us; /* 0: the default */
    uint64_t from_ns, to_ns; /* only interrupts in [from, to] are replayed; to 0: no end */
} emu_kvm_import_opts;

typedef struct emu_kvm_import {
    unsigned nvcpus;
    emu_mode mode;
    char mode_why[800];
    uint64_t cycles_per_us_used; /* after compression; 0 when stimuli were only spaced */
    bool compressed;
    unsigned nstim;
    emu_kvm_stimulus stim[EMU_KVM_MAX_STIMULI];
    unsigned dropped_window, dropped_vcpu, dropped_vector, dropped_dm, dropped_dup;
    unsigned outside;            /* accepted interrupts outside --from/--to */
    uint64_t from_ns, to_ns;     /* the window asked for (to 0: no end) */
    unsigned from_ipi;           /* stimuli taken from kvm_apic_ipi (no acceptance traced) */
    unsigned ipis;               /* kvm_apic_ipi events */
    unsigned unresolved;         /* events whose vCPU could not be found */
    unsigned exits[CPU_MAX_CPUS][80]; /* exits in the trace per vCPU per basic reason */
    unsigned exits_other[CPU_MAX_CPUS];
    unsigned eoi_exits, apicv_signs, pi_signs, tpr_threshold, cr8_exits;
    unsigned pv_eois, injections; /* kvm_pv_eoi; kvm_inj_virq of an accepted APIC vector */
    unsigned running_accepts, kicked_accepts;
    unsigned halts, wakeups, timer_events;
} emu_kvm_import;

/* Turns a log into stimuli and a mode. False (err) when nothing in the
 * log can make a scenario: no KVM event, or no vCPU identified. */
bool emu_kvm_analyse(const emu_kvm_log *log, const emu_kvm_import_opts *opts,
                     emu_kvm_import *imp, char *err, size_t errlen);
/* Writes the scenario (docs/scenarios.md) for imp. */
bool emu_kvm_write_scenario(const emu_kvm_log *log, const emu_kvm_import *imp, FILE *out);
/* What was read and inferred, for people (standard error). */
void emu_kvm_print_summary(const emu_kvm_log *log, const emu_kvm_import *imp, FILE *out);

#endif
