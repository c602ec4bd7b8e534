/*
 * emu.h — the machine: CPUs with their local APICs sharing guest RAM,
 * devices, an event queue and a deterministic scheduler on one global cycle
 * clock, the event log and statistics, and the command line.
 *
 * Everything a machine owns lives in emu_machine, so two machines can run
 * side by side in one process (replay verification does). docs/machine.md
 * describes the scheduler, the devices and the hooks; docs/cli.md the
 * command line.
 */
#ifndef APICV_EMU_H
#define APICV_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apic/apic.h"
#include "cpu/cpu.h"
#include "emu/devices/emu_devices.h"

/* Exit statuses of `apicv-emu run` (guest ABI "Exit status"). */
enum {
    EMU_EXIT_OK = 0,
    EMU_EXIT_USAGE = 2,    /* bad option or input */
    EMU_EXIT_CRASH = 3,    /* triple fault, exception without IDT, unimplemented (strict) */
    EMU_EXIT_CYCLES = 4,   /* --max-cycles reached */
    EMU_EXIT_DIVERGED = 5, /* replay --verify found a difference */
};

/* Guest I/O ports (guest ABI "I/O ports"; 0xF0 is this machine's extension,
 * docs/machine.md "The MSI device"). */
enum {
    EMU_PORT_MSI = 0xF0, /* OUT dword: vector[7:0] | dest CPU[15:8] | delay[31:16] */
    EMU_PORT_CONSOLE = 0xE9,
    EMU_PORT_EXIT = 0xF4,
};

typedef enum emu_mode {
    EMU_MODE_NATIVE,
    EMU_MODE_EMULATED,
    EMU_MODE_TPR_SHADOW,
    EMU_MODE_APICV,
    EMU_MODE_POSTED,
    EMU_MODE_COUNT
} emu_mode;

const char *emu_mode_name(emu_mode m);
bool emu_mode_parse(const char *s, emu_mode *m);

/* Kinds emitted by emu/ (range CPU_OBS_RANGE_EMU). */
enum emu_obs_kind {
    EMU_EV_CONSOLE = CPU_OBS_RANGE_EMU, /* a = byte written to port 0xE9 c = rip */
    EMU_EV_EXIT_PORT,                   /* a = value written to port 0xF4 c = rip */
    EMU_EV_CRASH,                       /* a = cpu_stop reason c = rip */
    EMU_EV_MSI_RAISE,  /* a = vector b = destination CPU c = due cycle d = 1 if dropped (no such CPU) */
    EMU_EV_MSI_DELIVER, /* a = vector b = destination CPU: the message reaches the APIC */
    EMU_EV_IPI_ROUTE,  /* a = vector b = receiving CPU c = due cycle d = sending CPU */
    EMU_EV_IPI_ARRIVE, /* a = vector b = delivery mode d = sending CPU: applied at the receiver */
    EMU_EV_TIMER_DUE,  /* a = the deadline cycle: the scheduler stopped the CPU for its APIC timer */
    EMU_EV_IRQ_LINE,   /* a = ISA IRQ line b = new level: a device drives an interrupt line */
    EMU_EV_IOAPIC_DELIVER, /* a = vector b = delivery mode c = level d = I/O APIC pin: the message reaches the APIC */
    EMU_EV_PIC_INTA,   /* a = vector from the 8259A: ExtINT through LINT0 */
    EMU_EV_INIT,       /* the CPU took INIT: reset, waiting for SIPI */
    EMU_EV_SIPI,       /* a = vector: the CPU starts in real mode at CS = a << 8, IP = 0 */
    EMU_EV_QUEUE_DROP, /* a = emu_qkind b = destination CPU c = due cycle d = vector: the
                        * destination's event queue was full (EMU_EVQ_MAX), the event is dropped */
    EMU_EV_LAST
};
/* "emu.console", ... or NULL outside the range. */
const char *emu_event_name(unsigned kind);
/* Name of any kind on the bus (cpu., apic., vmx., emu.), or NULL. */
const char *emu_any_event_name(unsigned kind);

typedef struct emu_config {
    unsigned ncpus;          /* 1..8 */
    uint64_t mem_bytes;      /* guest RAM */
    emu_mode mode;
    uint64_t max_cycles;     /* 0 = unlimited */
    uint64_t quantum;        /* length of a scheduling round in cycles (0: 10000) */
    bool strict;             /* an unimplemented instruction ends the run (status 3) */
    const cpu_cost_model *costs; /* NULL: the default model */
    /* --cpu: features taken away from the `max` model (EMU_CPU_F_*; 0 = max). */
    uint32_t cpu_off;
    /* Multiboot kernels only (docs/multiboot.md): --append and --initrd. */
    const char *append;
    const char *const *initrd;
    unsigned ninitrd;
    /* The names the kernel sees: its own in the command line and each
     * module's string (NULL: the paths loaded). A replay loads them from
     * temporary files and gives the recorded names. */
    const char *kernel_name;
    const char *const *initrd_names;
    /* --serial-input: the bytes COM1 receives, in order (docs/machine.md);
     * the caller keeps them for the machine's lifetime. NULL: none. */
    const uint8_t *serial_input;
    size_t serial_input_len;
} emu_config;

void emu_config_default(emu_config *cfg);

/* CPU model features (emu_cpumodel.c, docs/cpu-model.md). */
enum { EMU_CPU_F_X2APIC = 1u << 0, EMU_CPU_F_TSC_DEADLINE = 1u << 1, EMU_CPU_F_VMX = 1u << 2,
       EMU_CPU_F_VMWRITE_ANY = 1u << 3, EMU_CPU_F_ALL = (1u << 4) - 1 };
/* Parses "max[,+f|,-f...]" into the set of features taken away. */
bool emu_cpu_model_parse(const char *s, uint32_t *off, char *err, size_t errlen);
/* Clears the CPUID bits of the features taken away (leaf 1 ECX). */
void emu_cpu_model_cpuid(uint32_t off, uint32_t leaf, uint32_t out[4]);
/* false: the MSR access must #GP under this model. */
bool emu_cpu_model_msr_ok(uint32_t off, uint32_t msr, bool write, uint64_t val);
/* The models and features, for `info`. */
void emu_cpu_model_print(FILE *f);

typedef void (*emu_console_fn)(void *ctx, unsigned cpu, uint8_t byte);

/* ---- the event queue (emu_events.c) ------------------------------------ */

struct emu_machine;

typedef enum emu_qkind {
    EMU_Q_IPI,  /* apic_accept_ipi(ipi) on cpu's APIC */
    EMU_Q_MSI,  /* a device MSI (edge, fixed, vector) for cpu */
    EMU_Q_CALL, /* fn(m, ev): a scheduled stimulus (scenarios, hypervisor) */
    EMU_Q_IOAPIC, /* an I/O APIC message (vector, ipi.delivery, ipi.trigger_level; arg = pin) */
} emu_qkind;

typedef struct emu_qevent {
    uint64_t cycle; /* applied at the CPU's first instruction boundary at or after it */
    uint64_t seq;   /* machine-wide posting order: breaks ties */
    uint8_t cpu;    /* the CPU at whose boundary it is applied */
    uint8_t kind;   /* emu_qkind */
    uint8_t vector;
    apic_ipi ipi;
    void (*fn)(struct emu_machine *m, const struct emu_qevent *ev);
    void *ctx;
    uint64_t arg;
} emu_qevent;

typedef struct emu_evq {
    emu_qevent *heap;
    size_t n, cap;
} emu_evq;

/* At most this many events wait on one CPU's queue (docs/machine.md "The
 * event queue is bounded"): a message that finds it full is dropped and
 * counted, as a bus with no room for a posted write drops it, so a guest
 * cannot make the emulator's memory grow without limit. */
#define EMU_EVQ_MAX 65536u

/* The latest cycle an event can be due at: a delay that would pass it
 * (delays near 2^64 from SEND_MSI) saturates here instead of wrapping to a
 * cycle in the past. 2^62 cycles leave room for the clock to run on past
 * it without any cycle arithmetic overflowing. */
#define EMU_CYCLE_MAX (1ull << 62)

/* now + delay, saturated at EMU_CYCLE_MAX. */
static inline uint64_t emu_cycle_after(uint64_t now, uint64_t delay)
{
    if (now >= EMU_CYCLE_MAX || delay >= EMU_CYCLE_MAX - now)
        return EMU_CYCLE_MAX;
    return now + delay;
}

/* False when the queue holds EMU_EVQ_MAX events or memory ran out. */
bool emu_evq_push(emu_evq *q, const emu_qevent *ev);
/* Cycle of the earliest event, UINT64_MAX when empty. */
uint64_t emu_evq_next_cycle(const emu_evq *q);
/* Removes the earliest event if it is due at or before now. */
bool emu_evq_pop_due(emu_evq *q, uint64_t now, emu_qevent *out);
void emu_evq_free(emu_evq *q);

/* ---- the hypervisor's place ---------------------------------------------- */

/*
 * Modes other than native run under the built-in hypervisor (emu/emu_hv*.c,
 * owned by its engineer). The machine knows it only through this table and
 * the opaque m->hv, both set in emu_machine_init at the place marked
 * "HYPERVISOR HOOK". Every member may be NULL.
 */
typedef struct emu_hv_ops {
    /* After the CPUs and APICs exist: install VMX, hooks, per-vCPU state. */
    bool (*attach)(struct emu_machine *m, char *err, size_t errlen);
    void (*detach)(struct emu_machine *m);
    /* Runs vCPU `cpu`'s part of a scheduler turn, in place of
     * cpu_run(c, cycle_limit, ...): returns when the limit (the turn's end
     * or the CPU's next machine event) is reached, or why it stopped
     * earlier. NULL: the scheduler calls cpu_run. max_insns is the budget
     * of guest instructions (emu_machine_step; UINT64_MAX: none): the run
     * returns CPU_STOP_INSNS when it is spent. */
    cpu_stop (*run)(struct emu_machine *m, unsigned cpu, uint64_t cycle_limit, uint64_t max_insns);
    /* A device MSI for vCPU vcpu is due now: deliver it the mode's way
     * (posted: PIR, ON, notification unless SN; ...). */
    void (*deliver_msi)(struct emu_machine *m, unsigned vcpu, uint8_t vector);
    /* Folds the hypervisor's state (VMCSs, virtual APICs) into the digest. */
    void (*digest)(const struct emu_machine *m, uint64_t *hash);
    /* --stats: exits with basic reason `reason` on vCPU vcpu. */
    uint64_t (*exit_count)(const struct emu_machine *m, unsigned vcpu, unsigned reason);
    /* --stats: interrupts delivered per path (virtual-interrupt delivery,
     * injection, posted) on vCPU vcpu; path names for the table. */
    unsigned npaths;
    const char *const *path_names;
    uint64_t (*delivered)(const struct emu_machine *m, unsigned vcpu, unsigned path);
} emu_hv_ops;

/* ---- statistics the machine keeps (cheap counters, no observer) --------- */

typedef struct emu_stats {
    uint64_t intr_apic[CPU_MAX_CPUS]; /* external interrupts taken from the local APIC */
    uint64_t nmi[CPU_MAX_CPUS];       /* NMIs taken from the local APIC */
    uint64_t ipis_routed;             /* IPI messages put on the bus to other CPUs */
    uint64_t msi_raised, msi_delivered, msi_dropped;
    uint64_t queue_dropped[CPU_MAX_CPUS]; /* events a full queue refused (EMU_EV_QUEUE_DROP) */
} emu_stats;

/* ---- diagnostics a guest can make repeat (emu_diag.c) ----------------------- */

typedef enum emu_diag_kind {
    EMU_DIAG_UNIMPLEMENTED, /* an instruction the interpreter does not implement */
    EMU_DIAG_IPI,           /* an IPI the built-in hypervisor does not emulate (INIT, SIPI) */
    EMU_DIAG_MESSAGE,       /* an interrupt message dropped: SMI (no SMM), an I/O APIC
                             * message the hypervisor does not emulate */
    EMU_DIAG_DEVICE,        /* a device mode the machine does not model (none at present) */
    EMU_DIAG_NKINDS
} emu_diag_kind;
#define EMU_DIAG_REPEAT 5 /* lines printed per kind; the rest are counted */

/* ---- the machine ------------------------------------------------------------ */

typedef struct emu_machine {
    emu_config cfg;
    cpu_cost_model costs;
    cpu_obs_bus obs;
    cpu_phys phys;
    cpu_t cpu[CPU_MAX_CPUS];
    apic_t apic[CPU_MAX_CPUS]; /* the physical local APIC of each CPU */
    emu_evq evq[CPU_MAX_CPUS]; /* per receiving CPU */
    uint64_t evq_seq;
    uint64_t now; /* the global cycle clock: every CPU has run up to here */
    uint64_t entry;

    /* Scheduler state: a round runs every CPU, in index order, up to
     * round_end; `turn` is the CPU whose turn it is. A round can be left in
     * the middle (emu_machine_step, emu_machine_pause) and resumed. */
    bool in_round;
    unsigned turn;
    uint64_t round_end;
    /* A PAUSE of CPU `turn` yielded (cpu_t.pause_yield_at): the CPUs after
     * it, from yield_next on, first run up to yield_until, its clock then
     * (emu_machine.c, "PAUSE yields"). */
    bool yield_active;
    unsigned yield_next;
    uint64_t yield_until;
    int running;       /* index of the CPU inside cpu_run, or -1 */
    bool pause_req;    /* emu_machine_pause was called */
    int step_cpu;      /* emu_machine_step: the CPU with an instruction budget, or -1;
                        * EMU_STEP_ANY: every CPU, one instruction (emu_machine_step_any) */
    uint64_t step_until_insns;

    bool finished;   /* the run is over */
    int exit_status; /* valid when finished */
    char diag[512];  /* why a run crashed, for people */

    emu_stats stats;

    emu_console_fn console;
    void *console_ctx;

    /* The PC devices and the port/MMIO dispatch table (emu/devices/). */
    emu_devices dev;
    /* CPUs in the wait-for-SIPI state (emu_smp.c). */
    bool wait_sipi[CPU_MAX_CPUS];
    /* The image is a Multiboot kernel (emu_multiboot.c): CPU 0 enters it
     * in 32-bit protected mode, the others wait for SIPI. */
    bool multiboot;
    /* Diagnostics for people (emu_diag): where they go (stderr after
     * emu_machine_init; NULL: nowhere) and how many of each kind. */
    FILE *diag_out;
    uint64_t diag_count[EMU_DIAG_NKINDS];
    /* emu_machine_interrupt was called: the run stops without finishing. */
    bool interrupted;

    /* The built-in hypervisor (NULL in native mode): see emu_hv_ops. */
    const emu_hv_ops *hv_ops;
    void *hv;
    /* Native mode: VMX root operation for the guest, one per CPU
     * (vmx/vmx_root.h; NULL in the VMX modes, where the built-in
     * hypervisor owns VMX). */
    struct vmx_root *vroot;
} emu_machine;

/* Creates a machine and loads the guest image; on error writes a message
 * naming the file and the fault into err and returns false. */
bool emu_machine_init(emu_machine *m, const emu_config *cfg, const char *guest_path, char *err,
                      size_t errlen);
void emu_machine_free(emu_machine *m);

/*
 * Runs whole scheduling rounds until the guest exits or crashes, the global
 * clock reaches `until` (rounds lie on a fixed grid of multiples of the
 * quantum, so the clock may pass `until` by less than a quantum; how a
 * caller slices a run never changes it), cfg.max_cycles is reached, or
 * emu_machine_pause was called. Deterministic. Returns true when the run
 * finished.
 */
bool emu_machine_run(emu_machine *m, uint64_t until);

/*
 * Runs the machine, exactly as emu_machine_run would schedule it, until
 * CPU `cpu` has retired `insns` more instructions (or the run finishes or
 * is paused). The other CPUs take their turns as usual, and the round is
 * resumed where it stopped, so a stepped run keeps the scheduler's order
 * and the global clock. One difference from a free run (docs/machine.md):
 * an instruction budget ends a decoded block early, so an interrupt that
 * became due inside a block is taken at that finer boundary. Returns why
 * the CPU stopped (CPU_STOP_INSNS when the budget was met).
 */
cpu_stop emu_machine_step(emu_machine *m, unsigned cpu, uint64_t insns);

/*
 * Runs the machine, as emu_machine_run would schedule it, until any CPU
 * retires one instruction (a debugger checks breakpoints after each).
 * Returns that CPU, or -1 when the run finished, was paused, or no CPU
 * retired one within 100 quanta (all asleep). Same finer-boundary caveat
 * as emu_machine_step.
 */
#define EMU_STEP_ANY (-2)
int emu_machine_step_any(emu_machine *m);

/* From an observer or device: stop the run at the running CPU's next
 * instruction boundary; emu_machine_run/step return and a later call
 * resumes exactly there. (Run-until-event: subscribe an observer that
 * calls this on the kind it waits for.) */
void emu_machine_pause(emu_machine *m);

/* Ends the run at the running CPU's next instruction boundary (or at once
 * between runs) with `status` and a diagnostic: for failures outside the
 * guest (its console cannot be written, the log or trace cannot be). */
void emu_machine_stop(emu_machine *m, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A stop requested from outside (Ctrl-C): emu_machine_run returns at the
 * next CPU slice and every later call returns at once; the run is not
 * finished (no exit status: a recording of it ends as unfinished, which
 * replays up to this point). */
void emu_machine_interrupt(emu_machine *m, const char *why);

/* Prints a diagnostic that a guest can make repeat: the first
 * EMU_DIAG_REPEAT of each kind go to m->diag_out ("apicv-emu: " + fmt),
 * then one line saying the rest are counted (emu_diag.c). */
void emu_diag(emu_machine *m, emu_diag_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "N 'KIND' diagnostics in all, M of them not printed" for each kind that
 * was cut short. */
void emu_diag_summary(const emu_machine *m, FILE *f);

/* Posts an event; ev->seq is assigned here. If the target CPU is running
 * and the event is due before its slice ends, the slice is shortened. A due
 * cycle past EMU_CYCLE_MAX is saturated. False when there is no such CPU,
 * or its queue is full (EMU_EVQ_MAX): then the drop is counted in
 * stats.queue_dropped and EMU_EV_QUEUE_DROP is emitted. */
bool emu_machine_post(emu_machine *m, const emu_qevent *ev);
/* A scheduled stimulus: fn(m, ev) at cpu's first boundary at/after cycle. */
bool emu_machine_schedule_call(emu_machine *m, uint64_t cycle, unsigned cpu,
                               void (*fn)(emu_machine *m, const emu_qevent *ev), void *ctx,
                               uint64_t arg);

/* Total guest instructions retired by all CPUs. */
uint64_t emu_machine_insns(const emu_machine *m);

/*
 * A 64-bit digest of all architectural state, deterministic across runs
 * and hosts: every CPU's registers (RFLAGS with lazy flags materialised),
 * control registers, MSRs, segments and descriptor tables, cycle and
 * instruction counts, the HLT/NMI/shadow state; guest RAM (a fast 64-bit
 * hash); every local APIC (apic_digest); the event queues; the clock and
 * run status; the hypervisor's state (hv_ops->digest). Takes no pointers
 * or host addresses into account.
 */
void emu_machine_digest(const emu_machine *m, uint64_t *out);

/* ---- the MSI device (emu_msi.c) ---------------------------------------- */

/* An edge-triggered fixed interrupt with `vector` for CPU `dest`, raised by
 * the device at cycle `due` and delivered the current mode's way (native:
 * the CPU's local APIC accepts it). A CPU that does not exist, or whose
 * event queue is full, drops it (counted in stats.msi_dropped). src_cpu is
 * only for the event log. */
void emu_msi_raise(emu_machine *m, uint8_t vector, unsigned dest, uint64_t due, unsigned src_cpu);

/* ---- observers: the text log and statistics (emu_log.c) -------------------- */

/* Writes one line per event: "cycle=N cpu=K ev=NAME a=.. b=.. c=.. d=..". */
typedef struct emu_log {
    FILE *f;
    uint64_t lines;
    /* Optional: a write that fails stops this machine at once (status 2,
     * "--log PATH: write failed"); failed says it happened. */
    emu_machine *stop;
    const char *path;
    bool failed;
} emu_log;
void emu_log_event(void *ctx, const cpu_obs_event *ev);
void emu_log_format(const cpu_obs_event *ev, char *buf, size_t len);

/* The last EMU_RECENT_N events of each CPU (an observer: emu_recent_event),
 * for the summary of an interrupted run. */
#define EMU_RECENT_N 6
typedef struct emu_recent {
    cpu_obs_event ev[CPU_MAX_CPUS][EMU_RECENT_N];
    uint64_t n[CPU_MAX_CPUS];
} emu_recent;
void emu_recent_event(void *ctx, const cpu_obs_event *ev);
/* What each CPU was doing (emu_summary.c): RIP, mode, clock, HLT and IF,
 * its local APIC's IRR/ISR/TPR, its queued events, its last events
 * (recent may be NULL). */
void emu_print_summary(FILE *f, const emu_machine *m, const emu_recent *recent);
/* Ctrl-C for the commands that run a machine (`run`, `replay`;
 * emu_summary.c). emu_catch_stop_signals makes SIGINT and SIGTERM set one
 * flag, the process's only signal state (a handler can reach nothing else);
 * emu_stop_requested, called between slices, interrupts the machine
 * (emu_machine_interrupt, "interrupted by SIGINT") when it is set;
 * emu_stop_signal is the signal's number, 0 when none came. */
void emu_catch_stop_signals(void);
bool emu_stop_requested(emu_machine *m);
int emu_stop_signal(void);

/* Prints the --stats report (cycles, instructions, MIPS, interrupts per
 * path, exits per reason per vCPU when a hypervisor runs). */
void emu_print_stats(FILE *f, const emu_machine *m, double host_seconds);

/* ---- the command line (emu_cli*.c) ------------------------------------------- */

/* Options of `run` that a front end may need. */
struct emu_scenario; /* emu/emu_scenario.h */

typedef struct emu_run_opts {
    emu_config cfg;
    struct emu_scenario *scenario; /* the scenario being run (captions), or NULL */
    const char *log_path;    /* --log, or NULL */
    const char *record_path; /* --record, or NULL */
    const char *vcd_path;      /* --vcd, or NULL (emu/emu_export.h) */
    const char *perfetto_path; /* --perfetto, or NULL */
    uint64_t digest_every;   /* --digest-every: cycles between digests (0: the default) */
    bool stats;              /* --stats */
    bool quiet;              /* --quiet */
    int gdb_port;            /* --gdb PORT (0: any free port), -1 without */
    struct emu_gdb *gdb;     /* the window's gdb stub when --gdb runs with the window */
    const char *initrd[16];  /* --initrd, in order (cfg.initrd points here) */
    const char *serial_input_path; /* --serial-input FILE ("-": standard input), or NULL */
} emu_run_opts;

/*
 * A front end (the window, ui/): emu_main asks whether a display exists and
 * hands it a ready machine; run_window runs it (emu_machine_run/step) and
 * returns the exit status. NULL front end: headless only.
 */
struct emu_replayer;       /* emu/emu_record.h */
struct emu_compare_result; /* emu/emu_compare.h */

typedef struct emu_frontend {
    bool (*display_available)(void);
    int (*run_window)(emu_machine *m, const char *guest_or_scenario, const emu_run_opts *opts);
    /* `replay` without --verify or --headless: the same window over a
     * replay (with step back); returns the replayed run's status. */
    int (*replay_window)(struct emu_replayer *r, const char *trace);
    /* `compare --chart FILE.png`: draws the comparison off screen. */
    bool (*compare_chart)(const struct emu_compare_result *c, const char *path, char *err,
                          size_t errlen);
} emu_frontend;

/* The command line: `apicv-emu run|replay|info|bench ...`. Returns the exit status. */
int emu_main(int argc, char **argv, const emu_frontend *fe);

#endif
