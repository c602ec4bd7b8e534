/*
 * emu_scenario.h — scenario files: a guest, a machine, timed stimuli,
 * narration and expectations in one human-readable, versioned file, so that
 * a teaching demo is also a test. docs/scenarios.md gives the grammar.
 *
 *   apicv-scenario 1
 *   guest hello.elf
 *   cpus 2
 *   at 20000 msi vector=0x41 cpu=1
 *   caption on emu.msi-deliver "The device's message reaches CPU 1's APIC"
 *   expect end delivered cpu=1 vector=0x41 >= 1
 *
 * Life of a scenario: emu_scenario_load (parse; a bad file gives
 * "file:line: expected ..., got ..."), emu_scenario_config (its machine
 * options), emu_machine_init, emu_scenario_apply (VMCS overrides, stimuli
 * on the machine's event queue, its observer for `on` triggers, captions
 * and counts), the run, emu_scenario_check (expectations; the run's status).
 */
#ifndef APICV_EMU_SCENARIO_H
#define APICV_EMU_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "emu/emu.h"
#include "traces/trace.h"

#define EMU_SCENARIO_VERSION 1
#define EMU_SCENARIO_MAGIC "apicv-scenario"
#define EMU_SCN_MAX_ITEMS 128
#define EMU_SCN_MAX_CAPTION 200

/* Exit status when an expectation failed (guest ABI: 2..5 are taken). */
#define EMU_EXIT_EXPECT 1

/* Events the scenario runtime emits (range CPU_OBS_RANGE_EMU, clear of
 * emu.h's and the hypervisor's kinds). */
enum emu_scn_obs_kind {
    EMU_SCN_EV_STIMULUS = CPU_OBS_RANGE_EMU + 0xE0, /* a=emu_stim_kind b=vector c=target CPU d=cycles (deschedule) */
    EMU_SCN_EV_CAPTION,                             /* a=caption index b=scenario line */
    EMU_SCN_EV_EXPECT,                              /* a=expectation index b=line c=passed d=actual value */
    EMU_SCN_EV_END
};
/* "scn.stimulus", ... or NULL outside the range. */
const char *emu_scenario_event_name(unsigned kind);

/* Stimuli; also the input kinds of a trace (trace_input.kind). */
typedef enum emu_stim_kind {
    EMU_STIM_MSI = 1,        /* a device MSI: vector for vCPU/CPU `cpu`, the mode's path */
    EMU_STIM_HOST_IRQ = 2,   /* a fixed interrupt at physical CPU `cpu`'s local APIC */
    EMU_STIM_DESCHEDULE = 3, /* the host takes vCPU `cpu` off its CPU for `cycles` */
    EMU_STIM_NMI = 4,        /* an NMI message (delivery mode NMI) for (v)CPU `cpu` */
} emu_stim_kind;
/* "msi", "host-irq", "deschedule", "nmi" or NULL. */
const char *emu_stim_name(unsigned kind);

/* When something happens: at a cycle, or on the count-th event matching a
 * kind (and optionally a CPU and field a), plus a delay. */
typedef struct emu_trigger {
    bool on_event;
    uint64_t cycle;    /* at */
    uint16_t kind;     /* on */
    int cpu;           /* on: -1 = any CPU */
    bool has_a;
    uint64_t a;
    uint64_t count;    /* on: the count-th match (1 = the first) */
    uint64_t delay;    /* cycles after the trigger */
} emu_trigger;

typedef struct emu_stimulus {
    emu_trigger when;
    emu_stim_kind kind;
    uint8_t vector;
    unsigned cpu;
    uint64_t cycles; /* deschedule */
    int line;
} emu_stimulus;

typedef struct emu_caption {
    emu_trigger when;
    char text[EMU_SCN_MAX_CAPTION];
    int line;
} emu_caption;

typedef enum emu_expect_what {
    EMU_EXPECT_STATUS,    /* the run's exit status (end only) */
    EMU_EXPECT_EVENTS,    /* number of events of a kind [cpu] [a] so far */
    EMU_EXPECT_DELIVERED, /* interrupts with `vector` delivered through CPU cpu's IDT (cpu.interrupt) */
    EMU_EXPECT_EXITS,     /* VM exits of vCPU cpu [with basic reason] (hypervisor) */
    EMU_EXPECT_APIC,      /* a physical local APIC register (xAPIC offset) */
    EMU_EXPECT_VAPIC,     /* a dword of vCPU cpu's virtual-APIC page (VMX modes) */
    EMU_EXPECT_CYCLES,    /* the global clock */
} emu_expect_what;

typedef enum emu_cmp { EMU_CMP_EQ, EMU_CMP_NE, EMU_CMP_GE, EMU_CMP_LE, EMU_CMP_GT, EMU_CMP_LT } emu_cmp;

typedef struct emu_expect {
    bool at_end;
    uint64_t cycle; /* checked at the last CPU's first boundary at or after it: by then
                     * every CPU has run to at least this cycle */
    emu_expect_what what;
    int cpu;        /* -1 = any (events) */
    uint16_t kind;  /* events */
    bool has_a;
    uint64_t a;     /* events: field a; delivered: vector; exits: reason; apic/vapic: offset */
    emu_cmp cmp;
    uint64_t value;
    int line;
} emu_expect;

typedef struct emu_vmcs_override {
    int cpu; /* -1 = every vCPU */
    uint32_t field;
    uint64_t value;
    int line;
} emu_vmcs_override;

/* What a run changes: everything here is copied by a replay snapshot. */
typedef struct emu_scenario_rt {
    uint64_t matches[3][EMU_SCN_MAX_ITEMS]; /* on-trigger matches: stimuli, captions, expects */
    bool fired[3][EMU_SCN_MAX_ITEMS];
    uint64_t counts[EMU_SCN_MAX_ITEMS];     /* events/delivered expectations: matches so far */
    bool checked[EMU_SCN_MAX_ITEMS];
    bool passed[EMU_SCN_MAX_ITEMS];
    uint64_t actual[EMU_SCN_MAX_ITEMS];
    int caption;            /* index of the caption showing, -1 none */
    uint64_t caption_cycle; /* when it appeared */
    bool shown[EMU_SCN_MAX_ITEMS]; /* captions shown so far */
} emu_scenario_rt;

/* A warning about a scenario that parses but does not fit the run: a line
 * that cannot have the effect it was written for (docs/scenarios.md,
 * "Warnings"). Never changes the run or its status. */
#define EMU_SCN_MAX_WARN 64
typedef struct emu_scn_warning {
    int line;
    char text[240];
} emu_scn_warning;

typedef struct emu_scenario {
    char path[1024];
    char dir[1024];
    char *text; /* the whole file (recorded in traces) */
    char guest[1024];
    bool has_cpus, has_mode, has_mem, has_quantum, has_max_cycles;
    unsigned ncpus;
    emu_mode mode;
    int mode_line; /* the `mode` statement's line, 0 when none */
    uint64_t mem_bytes, quantum, max_cycles;

    unsigned nstim, ncap, nexp, nvmcs;
    emu_stimulus stim[EMU_SCN_MAX_ITEMS];
    emu_caption cap[EMU_SCN_MAX_ITEMS];
    emu_expect exp[EMU_SCN_MAX_ITEMS];
    emu_vmcs_override vmcs[EMU_SCN_MAX_ITEMS];

    /* Bound by emu_scenario_apply. */
    emu_machine *m;
    emu_scenario_rt rt;
    /* Warnings (emu_scenario_warn.c): kept across restarts and replay
     * seeks, each said once. vmcs_value is what each vmcs line left in
     * the VMCS (read back after the VMWRITE). */
    emu_scn_warning warn[EMU_SCN_MAX_WARN];
    unsigned nwarn, nwarn_printed;
    uint64_t vmcs_value[EMU_SCN_MAX_ITEMS];
    bool vmcs_live[EMU_SCN_MAX_ITEMS]; /* the line's value reaches the first entry (no later line overwrites it) */
    /* Replay: the recorded inputs replace the scenario's own `at` stimuli. */
    trace_input *inputs;
    size_t ninputs;
    /* Recording: told about every input when it is posted. */
    void (*input_sink)(void *ctx, const trace_input *in);
    void *input_ctx;
} emu_scenario;

/* Reads and parses a scenario file; on error "file:line: expected ..., got
 * ..." in err (the caller exits with status 2). */
bool emu_scenario_load(const char *path, emu_scenario *out, char *err, size_t errlen);
/* The same from text; name is the file name for messages and for relative
 * guest paths (its directory). */
bool emu_scenario_parse(const char *name, const char *text, emu_scenario *out, char *err,
                        size_t errlen);
/* An empty scenario (no file): a replay of a plain guest run uses it to
 * post the trace's inputs. */
void emu_scenario_init_empty(emu_scenario *s);
/* Frees what the scenario owns; call it after emu_scenario_check or after
 * the machine it was applied to is gone (its observer is not removed here). */
void emu_scenario_free(emu_scenario *s);

/* The directory of the built guests: guests/ beside the running executable
 * (emu_exe_guest_dir), or $APICV_GUEST_DIR when it is set and not empty,
 * else that (emu_default_guest_dir). False, out untouched, when neither is
 * known (/proc/self/exe unreadable). */
bool emu_exe_guest_dir(char *out, size_t len);
bool emu_default_guest_dir(char *out, size_t len);

/* Where the guest image is: relative to the scenario's directory, else to
 * guest_dir (the built guests; NULL: $APICV_GUEST_DIR, then guests/ beside
 * the executable). False with a message when no file exists. */
bool emu_scenario_guest_path(const emu_scenario *s, const char *guest_dir, char *out,
                             size_t outlen, char *err, size_t errlen);
/* Applies the scenario's machine options (cpus, mode, mem, quantum,
 * max-cycles) to cfg. */
void emu_scenario_config(const emu_scenario *s, emu_config *cfg);

/*
 * Binds the scenario to a freshly initialised machine: applies VMCS
 * overrides, posts `at` stimuli (or, when s->inputs is set, the recorded
 * inputs posted before the run), captions and expectations on the event
 * queue, and subscribes its observer. False with "file:line: ..." when the
 * machine cannot do what the scenario asks (status 2).
 */
bool emu_scenario_apply(emu_scenario *s, emu_machine *m, char *err, size_t errlen);

/*
 * A stimulus from outside (the window, or a replay of one): posted now, at
 * a round boundary (!m->in_round), due at `cycle` on CPU `cpu`. Recorded as
 * an input when a recorder listens.
 */
bool emu_scenario_post_input(emu_scenario *s, const trace_input *in);

/* Replay: posts recorded input k (one with post > 0) now, when the clock
 * has reached its posting cycle at a round boundary. */
bool emu_scenario_post_recorded(emu_scenario *s, size_t k);

/*
 * After the run: checks the end expectations, writes one line per failed
 * expectation ("file:line: expectation failed: ...") to report, unsubscribes.
 * Returns the run's status: EMU_EXIT_EXPECT when an expectation failed; 0
 * when the scenario expects an exit status and got it; else the machine's.
 */
int emu_scenario_check(emu_scenario *s, FILE *report);

/*
 * Warnings (docs/scenarios.md, "Warnings"): a scenario whose lines do not
 * fit the run's mode is run anyway (it may be run in another mode on
 * purpose, to show what differs), but each line that cannot do what it
 * was written for is named: "file:line: warning: ...".
 *
 * emu_scenario_apply finds what can be known before the run (the mode
 * the scenario declares, a vmcs line a later line overwrites, an `on`
 * trigger or an events expectation whose event the mode's VMCS controls
 * rule out); the run adds a vmcs line whose value the hypervisor or guest
 * changed before a VM entry; emu_scenario_check adds captions and `on`
 * stimuli never reached, and prints what was not printed yet to its
 * report. emu_scenario_print_warnings prints the new ones now.
 */
void emu_scenario_print_warnings(emu_scenario *s, FILE *out);
/* Adds a warning about line (said once: an identical one is dropped). */
void emu_scenario_warn(emu_scenario *s, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Internal to the scenario runtime (emu_scenario_warn.c). */
void emu_scenario_lint_apply(emu_scenario *s);
void emu_scenario_lint_entry(emu_scenario *s, const cpu_obs_event *ev);
void emu_scenario_lint_end(emu_scenario *s);

/* Captions for the window: the number, the text of one, and the one
 * showing now (NULL before the first). */
unsigned emu_scenario_caption_count(const emu_scenario *s);
const char *emu_scenario_caption_text(const emu_scenario *s, unsigned idx);
const char *emu_scenario_caption_now(const emu_scenario *s);

/* Performs one stimulus on the machine now, at CPU in->cpu's boundary. */
void emu_stimulus_perform(emu_machine *m, const trace_input *in);

#endif
