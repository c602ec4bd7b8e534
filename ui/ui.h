/*
 * ui.h — the SDL2 window of apicv-emu: what ui/ offers.
 *
 * The window never reaches into a running machine. Between slices of
 * emulation it copies what it shows into a ui_snapshot (plain data); the
 * renderer draws only from snapshots, so it can be tested with synthetic
 * ones and no machine at all. Commands (run, pause, step, ...) go to a
 * ui_target: the live machine, a replay, or a fake in the tests.
 *
 * Pieces (docs/window.md):
 *  - ui_snapshot.c: the snapshot model, taken from an emu_machine, and the
 *    event observer (a ring of recent events, the console, the timeline);
 *  - ui_view.c: what the viewer has done (selected vCPU, help, clicked cell)
 *    and what changed between two snapshots (flashing cells, the cycle and
 *    event that last changed each cell);
 *  - ui_layout.c, ui_grid.c, ui_panels.c, ui_draw.c: layout and drawing onto
 *    any SDL_Renderer (a window, or a software renderer on a surface);
 *  - ui_session.c: the commands and keys over a ui_target;
 *  - ui_window.c: the window loop, `--screenshot`, the front end for emu_main;
 *  - ui_png.c: a small PNG writer (stored deflate blocks, no zlib needed).
 */
#ifndef APICV_UI_H
#define APICV_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "emu/emu.h"

struct SDL_Renderer;
struct SDL_Surface;
struct vmx_vcpu;

/* ---- the snapshot ---------------------------------------------------------- */

/* A 256-bit vector register (IRR, ISR, PIR, ...): vector v is bit v & 31 of
 * w[v >> 5], the layout of the APIC's and the virtual-APIC page's. */
typedef struct ui_vec256 {
    uint32_t w[8];
} ui_vec256;

static inline bool ui_vec_test(const ui_vec256 *r, unsigned v)
{
    return (r->w[(v >> 5) & 7] >> (v & 31)) & 1;
}
static inline void ui_vec_set(ui_vec256 *r, unsigned v)
{
    r->w[(v >> 5) & 7] |= 1u << (v & 31);
}

/* Where a CPU executes. */
typedef enum ui_cpu_where { UI_WHERE_NATIVE, UI_WHERE_ROOT, UI_WHERE_NONROOT } ui_cpu_where;

/* Bytes of code copied around RIP: UI_CODE_BEFORE before it, the rest after. */
#define UI_CODE_BYTES 96
#define UI_CODE_BEFORE 32

typedef struct ui_cpu_snap {
    uint64_t gpr[16], rip, rflags;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer;
    uint64_t cycle, insns;
    uint8_t cpl, mode; /* cpu_mode */
    uint8_t where;     /* ui_cpu_where */
    bool halted;
    uint8_t activity;          /* VMX activity state numbering: 0 active, 1 HLT */
    uint32_t interruptibility; /* VMX numbering: 1 STI, 2 MOV SS, 8 NMI blocking */
    uint8_t code[UI_CODE_BYTES];
    uint8_t code_len;       /* readable bytes from code_base */
    uint64_t code_base;     /* linear address of code[0] */

    /* The physical local APIC. */
    ui_vec256 irr, isr;
    uint8_t tpr, ppr;
    uint32_t apic_id; /* its APIC ID (SDM 11.4.6; x2APIC: 11.12.5.1) */
    bool x2apic;      /* in x2APIC mode */

    /* The vCPU (has_vmx): virtual-APIC page, posted-interrupt descriptor,
     * guest interrupt status, controls. */
    bool has_vmx;
    ui_vec256 virr, visr, pir, eoi_exit;
    bool on, sn;
    uint8_t pi_nv;          /* NV of the descriptor */
    uint32_t ndst;
    uint8_t rvi, svi, vtpr, vppr;
    uint32_t pin, proc, proc2, exit_ctls, entry_ctls;
    uint32_t tpr_threshold;
    uint16_t notify_vector; /* VMCS posted-interrupt notification vector */
    uint32_t last_exit;     /* VMCS exit reason */
    uint64_t entries, exits;
    /* Native mode, a guest that is its own hypervisor (vmx/vmx_root.h): the
     * CPU is in VMX operation; the current-VMCS pointer (~0 when none) and
     * that VMCS's launch state. The controls above are that VMCS's. */
    bool guest_hv;
    uint64_t vmcs_ptr;
    bool vmcs_launched;
    /* Emulated and tpr-shadow modes: no virtual interrupts, so the VIRR and
     * VISR grids show the hypervisor's software APIC (its IRR and ISR, TPR
     * in vtpr, PPR in vppr), labelled as such. */
    bool sw_apic;
    /* The hypervisor's view of the vCPU: taken off its CPU (DESCHEDULE,
     * posted mode sets SN meanwhile), or asleep after an HLT exit. */
    bool descheduled, blocked;
} ui_cpu_snap;

/* One event as the window keeps it (a copy of cpu_obs_event). */
typedef cpu_obs_event ui_event;

#define UI_SNAP_EVENTS 64
/* Timeline marks a snapshot carries: those of the span on screen (an even
 * sample of them when more fall in it). */
#define UI_TIMELINE 1024
/* The newest marks, kept in full by the recorder whatever the store thinned. */
#define UI_TL_RECENT 256
/* The recorder's store of the whole run's marks: at most this many (72
 * bytes each: 18 MiB), see ui_marks.c. */
#define UI_MARKS_MAX (1u << 18)
#define UI_CONSOLE_BYTES 2048
#define UI_DIAG_BYTES 512

/* What a timeline mark stands for. */
typedef enum ui_tl_kind {
    UI_TL_RAISE,    /* an interrupt raised: device MSI, routed IPI, posting, I/O APIC, timer */
    UI_TL_EXIT,     /* VM exit (or failed entry) */
    UI_TL_ENTRY,    /* VM entry */
    UI_TL_DELIVERY, /* delivery: virtual interrupt, injection, IDT */
    UI_TL_EOI,      /* EOI (virtualized, posted step 4, physical) */
    UI_TL_COUNT
} ui_tl_kind;

/* A timeline mark: one event of the kinds above, with its number on the
 * bus (as --at-event and --log count), so a click can go there. */
typedef struct ui_mark {
    uint64_t cycle;
    uint8_t cpu;  /* the lane: the CPU it happens to (a raise: its destination) */
    uint8_t cls;  /* ui_event_class */
    uint8_t tl;   /* ui_tl_kind */
    uint64_t ev_no;
    ui_event ev;
} ui_mark;

/* The timeline kind of an event and the CPU whose lane it goes in; false
 * when the event is not marked on the timeline. */
bool ui_timeline_kind(const cpu_obs_event *ev, ui_tl_kind *tl, unsigned *lane);

/* A scenario caption that was shown: its number on the bus (the
 * scn.caption event), so the caption list can go back to it. */
#define UI_WARN_LINES 4
#define UI_CAPTIONS 64
#define UI_CAPTION_TEXT 200 /* a scenario caption whole (EMU_SCN_MAX_CAPTION) */
typedef struct ui_caption_entry {
    uint64_t ev_no;
    uint64_t cycle;
    uint16_t idx;  /* the scenario's caption index */
    uint16_t line; /* its line in the scenario */
    uint8_t cpu;
    char text[UI_CAPTION_TEXT]; /* filled from the scenario by the target */
} ui_caption_entry;

typedef struct ui_snapshot {
    uint64_t seq; /* increases with every snapshot taken */
    unsigned ncpus;
    uint64_t now;
    uint64_t insns_total;
    uint8_t mode; /* emu_mode */
    bool finished;
    int exit_status;
    char diag[UI_DIAG_BYTES]; /* why a run crashed */
    ui_cpu_snap cpu[CPU_MAX_CPUS];

    /* The newest events, oldest first; ev_total counts every event seen. */
    ui_event ev[UI_SNAP_EVENTS];
    unsigned nev;
    uint64_t ev_total;
    ui_mark marks[UI_TIMELINE];
    unsigned nmarks;
    /* The timeline's span on screen [tl_t0, tl_t1) in cycles (0, 0: the
     * renderer takes the span of the marks), and the run's extent the
     * recorder knows [tl_first, tl_last] (for the overview bar). tl_sample:
     * one mark in tl_sample of the span is in marks[]; tl_stride: the
     * store kept one mark in tl_stride of the run (1 until it filled). */
    uint64_t tl_t0, tl_t1, tl_first, tl_last;
    unsigned tl_sample;
    uint64_t tl_stride;

    char console[UI_CONSOLE_BYTES]; /* the last bytes of port 0xE9, NUL-terminated */
    char caption[256];              /* narration, "" when none */
    /* The scenario's warnings so far (emu_scenario_warn.c), as stderr
     * prints them ("FILE:LINE: warning: ..."): the first UI_WARN_LINES,
     * and how many there are in all. */
    char warn[UI_WARN_LINES][400];
    unsigned nwarn;
    /* The captions shown since the recorder started, oldest first. */
    ui_caption_entry caps[UI_CAPTIONS];
    unsigned ncaps;
} ui_snapshot;

/* ---- the event observer ---------------------------------------------------- */

/* Kinds of events, for colours and the timeline. */
typedef enum ui_event_class {
    UI_EVC_OTHER,
    UI_EVC_EXIT,     /* VM exit, failed entry */
    UI_EVC_ENTRY,    /* VM entry */
    UI_EVC_DELIVERY, /* virtual interrupt recognised/delivered, injection, IDT delivery */
    UI_EVC_EOI,      /* EOI virtualization, physical EOI */
    UI_EVC_POSTED,   /* a posted-interrupt step */
    UI_EVC_APIC,     /* the physical local APIC */
    UI_EVC_COUNT
} ui_event_class;

ui_event_class ui_event_classify(unsigned kind);
/* The name of any event kind on the bus (cpu, apic, vmx, emu and the
 * hypervisor's), "?" when unknown. */
const char *ui_event_name(unsigned kind);

#define UI_RING_EVENTS 256
/* The most event stops kept from one instruction boundary. */
#define UI_MAX_STOPS 512

/* Takes the snapshot of the machine as it is (called by the recorder from
 * inside the machine, at an event: read-only). */
typedef void (*ui_capture_fn)(void *ctx, ui_snapshot *s);

/* Subscribed to the machine's bus (cpu_obs_subscribe(&m->obs,
 * ui_recorder_event, rec)): keeps recent events, timeline marks and the
 * console. It can also pause the machine on an event kind (run to the next
 * event / exit): when the pause condition matches, it calls
 * emu_machine_pause.
 *
 * Every event is a stop (docs/architecture.md): the machine can only stop
 * at an instruction boundary, and one boundary can hold many events
 * (posted-interrupt processing and virtual-interrupt delivery, a VM exit,
 * the hypervisor's work and the next entry). So from the event where the
 * pause condition matched until the machine stops, the recorder takes a
 * snapshot at every event, from inside the machine (capture): the state
 * after that event and nothing later. The window then shows those
 * snapshots one event at a time before it runs the machine again. */
typedef struct ui_recorder {
    emu_machine *m; /* for emu_machine_pause; NULL in tests */
    ui_event ring[UI_RING_EVENTS];
    uint64_t total;
    ui_mark marks[UI_TL_RECENT]; /* the newest marks (a ring) */
    uint64_t nmarks_total;       /* marks of the run up to here */
    /* Every mark of the run, by event number (ui_marks.c): kept across a
     * restart or a jump back (the run is deterministic: the same marks
     * come again and are not added twice), so marks after the moment on
     * screen stay reachable. At most UI_MARKS_MAX: when full, every other
     * one goes and from then on only one mark in `stride` is kept. */
    ui_mark *store;
    uint64_t *store_maxc; /* the largest cycle of store[0..i] (sorted: for the search) */
    size_t nstore, capstore;
    uint64_t stride;      /* 1, 2, 4, ...: marks numbered a multiple of it are kept */
    uint64_t store_next;  /* marks numbered below this were offered to the store */
    uint64_t disorder;    /* the most a mark's cycle lies below an earlier one's */
    ui_caption_entry caps[UI_CAPTIONS]; /* captions shown (no text) */
    unsigned ncaps;
    char console[UI_CONSOLE_BYTES];
    unsigned console_len;
    uint32_t pause_classes; /* bit per ui_event_class: pause when seen */
    bool pause_apic_vmx;    /* pause on any event but chatter (emu_event_is_chatter) */
    int pause_cpu;          /* with the two above: only this CPU's events (-1: any) */
    uint64_t pause_at_total; /* pause when total reaches this (0: off) */
    bool hit;               /* a pause condition matched */

    /* Event stops (see above); capture NULL: none are taken. */
    ui_capture_fn capture;
    void *capture_ctx;
    ui_snapshot *stops; /* stops[0] is the event that matched */
    unsigned nstops, stops_cap;
    int cur_stop;       /* the stop on screen, -1: the machine as it is */
    bool capturing;     /* between a match and the machine's stop */
    uint64_t stops_lost; /* stops beyond UI_MAX_STOPS (not shown one by one) */
} ui_recorder;

void ui_recorder_init(ui_recorder *r, emu_machine *m);
/* Frees the stops and the mark store and initialises again (a seek that
 * does not start from cycle 0). */
void ui_recorder_reset(ui_recorder *r, emu_machine *m);
/* The same run starts again from its beginning (a restart, going back):
 * as ui_recorder_reset, but the mark store is kept. */
void ui_recorder_rewind(ui_recorder *r, emu_machine *m);
void ui_recorder_free(ui_recorder *r);
void ui_recorder_event(void *ctx, const cpu_obs_event *ev);
/* True when ev matches the armed pause condition (ignoring pause_at_total). */
bool ui_recorder_matches(const ui_recorder *r, const cpu_obs_event *ev);
/* The machine is about to move: the stops of the last boundary go. */
void ui_recorder_forget_stops(ui_recorder *r);
/* The machine stopped: no more stops are taken. */
void ui_recorder_stopped(ui_recorder *r);
/* Moves to the next kept stop that matches the armed condition; false
 * (and the stops forgotten) when none does: the machine must run. */
bool ui_recorder_next_stop(ui_recorder *r);
/* The stop on screen, or NULL. */
const ui_snapshot *ui_recorder_current_stop(const ui_recorder *r);

/* Where a vCPU's virtual-APIC state lives: the hypervisor's vmx_vcpu for
 * CPU k, or NULL (native mode, or a hypervisor that does not say). */
typedef struct vmx_vcpu *(*ui_vcpu_lookup)(emu_machine *m, unsigned k);

/* Copies everything the window shows from m (between slices only). */
void ui_snapshot_take(ui_snapshot *s, emu_machine *m, const ui_recorder *rec,
                      ui_vcpu_lookup lookup);
/* The recorder's part: recent events, timeline marks (the newest ones,
 * as ui_snapshot_marks with a NULL view), console. */
void ui_snapshot_events(ui_snapshot *s, const ui_recorder *rec);

/* The timeline's span the viewer chose (zoom and pan, ui_marks.c). */
typedef struct ui_tl_view {
    bool whole;     /* the whole run */
    bool fixed;     /* [t0, t0 + span) (panned or zoomed); else it follows the current event */
    uint64_t t0;    /* first cycle shown when fixed */
    uint64_t span;  /* cycles shown; 0 while following: the span of the newest 256 marks */
} ui_tl_view;

/* Adds a mark to rec's store (ui_recorder_event does; tests too). */
void ui_marks_add(ui_recorder *rec, const ui_mark *mk, uint64_t index);
/* Fills s->marks with rec's marks in the span tv asks for around the
 * snapshot's current event (NULL: following, the newest marks' span) and
 * says which span it is (s->tl_*). */
void ui_snapshot_marks(ui_snapshot *s, const ui_recorder *rec, const ui_tl_view *tv);
/* The vCPU part of one CPU's snapshot. */
void ui_snapshot_vcpu(ui_cpu_snap *c, struct vmx_vcpu *v);

/* Named values: the CPU a posted-interrupt descriptor's NDST names (SDM
 * 29.6: in xAPIC mode the APIC ID is NDST[15:8], in x2APIC mode all of
 * NDST), found among the snapshot's physical APIC IDs. False when no CPU
 * has that ID; *id is the APIC ID either way. */
bool ui_ndst_cpu(const ui_snapshot *s, const ui_cpu_snap *c, unsigned *cpu, uint32_t *id);
/* What the VMCS panel says after the descriptor's NV: " (the same)" as the
 * VMCS's notification vector, or why a difference matters (the built-in
 * hypervisor's device posts notify with it) or does not (a guest
 * hypervisor's descriptor: bits 511:257 are software's, SDM 29.6). */
const char *ui_pi_nv_note(const ui_cpu_snap *c);
/* The cycle the picture shows, for the title bar: the global clock (the
 * scheduler's round, s->now), or the newest event's cycle when the machine
 * stopped after that event inside a round (an event stop, --at-event), so
 * the title agrees with the vCPU's cycle and the timeline's "now". */
uint64_t ui_snapshot_cycle(const ui_snapshot *s);
/* An event in words for the window (events panel, timeline): its
 * descriptor's words (emu_event_describe), but a scenario caption by its
 * own text when s (may be NULL) has it in its caption list. */
void ui_event_words(const ui_snapshot *s, const ui_event *e, char *buf, size_t len);

/* ---- the view -------------------------------------------------------------- */

/* The grids, in the order they are drawn. */
typedef enum ui_grid_id {
    UI_GRID_VIRR, UI_GRID_VISR, UI_GRID_PIR, UI_GRID_IRR, UI_GRID_ISR, UI_GRID_EOI_EXIT,
    UI_GRID_COUNT
} ui_grid_id;

const char *ui_grid_name(ui_grid_id g);
/* The register shown by grid g of CPU snapshot c. */
const ui_vec256 *ui_grid_reg(const ui_cpu_snap *c, ui_grid_id g);

/* How long a changed cell flashes. */
#define UI_FLASH_MS 700u

#define UI_DISASM_LINES 12

typedef struct ui_cell_info {
    uint64_t changed_ms; /* view clock when it last changed; 0 = never */
    uint64_t cycle;      /* machine cycle of the snapshot where it changed */
    uint16_t event_kind; /* the event that changed it (best guess), 0xFFFF = none */
    uint64_t event_cycle;
} ui_cell_info;

/* One decoded instruction, remembered by its address and bytes. */
typedef struct ui_disasm_entry {
    uint64_t addr;
    uint8_t bytes[15]; /* the bytes Capstone saw (an instruction is at most 15) */
    uint8_t nbytes;    /* how many; 0 = empty entry */
    uint8_t mode;      /* the cpu_mode they were decoded in (16/32/64-bit code) */
    uint8_t len;       /* the instruction's length, 0 = undecodable */
    char text[64];
} ui_disasm_entry;

#define UI_DISASM_CACHE 256

typedef struct ui_view {
    ui_snapshot snap;   /* the snapshot on screen */
    bool have_snap;
    unsigned sel;       /* selected vCPU */
    bool help;          /* help overlay shown */
    uint64_t clock_ms;  /* the view's clock (host time in the window, set by tests) */
    ui_cell_info cell[CPU_MAX_CPUS][UI_GRID_COUNT][256];

    /* The clicked cell: grid and vector, or sel_grid = -1. */
    int sel_grid;
    int sel_vector;
    char info[256]; /* what the clicked cell is */

    char status[128]; /* the session's state line ("paused", "running at full speed") */

    /* The events panel's filter: only the selected vCPU's events, only one
     * class (UI_EVC_COUNT = every class), and whether captions, console
     * bytes and console I/O exits show (hidden by default). */
    bool ev_sel_only;
    unsigned ev_class;
    bool ev_chatter;
    /* Presentation mode (key p, --present): larger type, grids and
     * caption for a lecture hall; the registers, code and VMCS panels go. */
    bool present;
    uint64_t flash_until; /* view clock when the last flash ends (nothing to redraw after) */
    /* The caption list (key l, or a click on its button): every caption
     * seen in this window, by event number, also after going back (the
     * run is deterministic, so the numbers stay valid). */
    bool captions_open;
    ui_caption_entry hist[UI_CAPTIONS];
    unsigned nhist;
    /* The timeline mark under the mouse (its event number), 0 none. */
    uint64_t tl_hover;
    /* The banner of the scenario's warnings hidden (key w). */
    bool warn_hidden;
    /* The timeline's zoom and pan (keys, the wheel, a drag), and a drag
     * of the timeline under way (from x at span start drag_t0). */
    ui_tl_view tl;
    bool tl_drag, tl_dragged;
    int tl_drag_x;
    uint64_t tl_drag_t0;

    /* Disassembly of the selected CPU around RIP (made when a snapshot
     * arrives, not per frame). */
    char disasm[UI_DISASM_LINES][96];
    uint64_t disasm_addr[UI_DISASM_LINES];
    int disasm_cur; /* line of RIP, -1 */
    unsigned ndisasm;
    /* Instructions already decoded (direct-mapped by address): a loop that
     * runs at full speed shows the same few instructions every frame. */
    ui_disasm_entry dcache[UI_DISASM_CACHE];
} ui_view;

void ui_view_init(ui_view *v);
/* A new snapshot: cells that differ from the previous one start flashing
 * and remember the cycle and the event that changed them. */
void ui_view_accept(ui_view *v, const ui_snapshot *s);
/* True when the events panel shows event e under v's filter. */
bool ui_view_event_shown(const ui_view *v, const ui_event *e);
/* Selects vCPU k (ignored beyond the snapshot's CPUs). */
void ui_view_select(ui_view *v, unsigned k);
/* Fills v->info for the cell (grid g, vector) of the selected CPU. */
void ui_view_describe_cell(ui_view *v, ui_grid_id g, unsigned vector);
/* True while cell (cpu, g, vector) flashes. */
bool ui_view_flashing(const ui_view *v, unsigned cpu, ui_grid_id g, unsigned vector);
/* Timeline zoom and pan (ui_marks.c), from the span on screen
 * (v->snap.tl_t0..tl_t1); the next snapshot carries the new span's marks.
 * Zoom by factor (> 1: in) keeping the cycle at fraction `at` of the span
 * where it is (following the current event stays so); pan by a fraction
 * of the span (< 0: earlier); the whole run; follow the current event
 * again with the default span. */
void ui_view_tl_zoom(ui_view *v, double factor, double at, bool keep_follow);
void ui_view_tl_pan(ui_view *v, double frac);
void ui_view_tl_whole(ui_view *v);
void ui_view_tl_follow(ui_view *v);

/* ---- layout and drawing ------------------------------------------------------ */

typedef struct ui_rect {
    int x, y, w, h;
} ui_rect;

typedef struct ui_layout {
    int w, h;
    int font_px, big_px; /* text and caption sizes */
    int cw, ch;          /* character cell of the text font */
    ui_rect top;         /* title, vCPU tabs, state */
    ui_rect grid[UI_GRID_COUNT]; /* the 16x16 cell area of each grid */
    int cell;                    /* side of one grid cell */
    ui_rect tabs[CPU_MAX_CPUS];
    ui_rect regs, disasm, ctls, events, timeline, console, caption;
    ui_rect cap_button; /* "[l] captions (N)" at the caption panel's right */
    ui_rect cap_list;   /* the open caption list (over events and console) */
    ui_rect warn;       /* the scenario's warnings banner (over their top), when any */
} ui_layout;

/* Lays out a window of w x h pixels (any size: small windows get small
 * text, a projector gets large text). */
void ui_layout_compute(ui_layout *l, int w, int h, int cw, int ch);
/* The same, in presentation mode when present: taller grids, no
 * registers, code or VMCS panels (their rectangles are empty). */
void ui_layout_compute_mode(ui_layout *l, int w, int h, int cw, int ch, bool present);
/* All six grids, as a mask of 1u << ui_grid_id. */
#define UI_GRIDS_ALL ((1u << UI_GRID_COUNT) - 1)
/* The same with only the grids in the mask `grids` (the others get empty
 * rectangles), which share the width between them: fewer grids, larger
 * cells. */
void ui_layout_compute_grids(ui_layout *l, int w, int h, int cw, int ch, bool present,
                             unsigned grids);
/* The grids the view shows: all of them, but in presentation mode only
 * those the selected vCPU's mode can fill, so a lecture hall sees them
 * larger (ui_layout.c says which). */
unsigned ui_view_grids(const ui_view *v);
/* Which grid cell is at (x, y): true with *g and *vector. */
bool ui_layout_hit_grid(const ui_layout *l, int x, int y, ui_grid_id *g, unsigned *vector);
/* Which row of the open caption list is at (x, y): the event number of
 * that caption, false when none (ui_timeline.c). */
bool ui_layout_hit_caption(const ui_layout *l, const ui_view *v, int x, int y, uint64_t *ev_no);
/* Which timeline mark is at (x, y) (the nearest within a few pixels in
 * the lane under the mouse): its event number, false when none. */
bool ui_layout_hit_mark(const ui_layout *l, const ui_view *v, int x, int y, uint64_t *ev_no);
/* Where (x, y) is across the timeline's plot: true with the fraction of
 * its width (0 left, 1 right) and the width in pixels, false outside it. */
bool ui_layout_timeline_at(const ui_layout *l, const ui_view *v, int x, int y, double *frac,
                           int *plot_w);
/* Which row of the events panel is at (x, y): that event's number, false
 * when none (or the caption list covers the panel). */
bool ui_layout_hit_event(const ui_layout *l, const ui_view *v, int x, int y, uint64_t *ev_no);
/* True when (x, y) is inside r. */
bool ui_rect_has(const ui_rect *r, int x, int y);
/* Which vCPU tab is at (x, y): the index, or -1. */
int ui_layout_hit_tab(const ui_layout *l, int x, int y);
/* Top-left pixel of the cell of vector in grid g. Row = priority class,
 * class 15 at the top; column = vector[3:0]. */
void ui_layout_cell(const ui_layout *l, ui_grid_id g, unsigned vector, int *x, int *y);
/* Pixel row of the VPPR class line in grid g: the top edge of the row of
 * class (vppr >> 4). Vectors in rows at or below it are masked. */
int ui_layout_class_line_y(const ui_layout *l, ui_grid_id g, uint8_t ppr);

/* Colours the tests look for (RGB). */
enum {
    UI_RGB_BG = 0x101418,
    UI_RGB_CELL_OFF = 0x262c34,
    UI_RGB_VIRR = 0xff9a1f,
    UI_RGB_VISR = 0x3ddc84,
    UI_RGB_PIR = 0xd45cff,
    UI_RGB_IRR = 0x4aa3ff,
    UI_RGB_ISR = 0x2ee6d6,
    UI_RGB_EOI_EXIT = 0xe6d02e,
    UI_RGB_FLASH = 0xffffff,
    UI_RGB_MARKER = 0xff3030, /* RVI / SVI outline */
    UI_RGB_PPR_LINE = 0xff4fa0,
    UI_RGB_TAB_NONROOT = 0x3ddc84, /* a vCPU tab's frame: VMX non-root operation */
    UI_RGB_TAB_ROOT = 0xffb000,    /* VMX root operation */
};

/* The renderer of one window (fonts cached as glyph textures). */
typedef struct ui_gfx ui_gfx;

/* Opens the font (DejaVu Sans Mono; APICV_UI_FONT overrides the path) for
 * renderer r. On failure writes a message naming the font file into err. */
ui_gfx *ui_gfx_create(struct SDL_Renderer *r, char *err, size_t errlen);
void ui_gfx_destroy(ui_gfx *g);
/* Says that g's renderer is a software renderer drawing into surface s
 * (NULL: unknown): rectangles are then filled directly, with ordinary
 * stores, the same pixels as SDL's fill, which uses non-temporal stores
 * and made filling a third of the cost of a frame. */
void ui_gfx_set_surface(ui_gfx *g, struct SDL_Surface *s);
/* Draws the whole window for view v at w x h pixels into g's renderer and
 * leaves the layout used in *l (for hit testing). Flush the renderer
 * (SDL_RenderPresent or SDL_RenderFlush) before reading its pixels. */
void ui_render(ui_gfx *g, ui_view *v, int w, int h, ui_layout *l);

/* The most rectangles ui_render_update reports. */
#define UI_MAX_DIRTY 20
/* Brings g's target up to date with view v at w x h, drawing again only
 * the panels whose picture changed since the last ui_render or
 * ui_render_update on g (the target must keep its pixels between calls, as
 * a surface does). Each panel is first drawn "dry": its primitives are
 * hashed, not drawn, so an unchanged panel costs no pixels. Fills dirty
 * with the rectangles whose pixels changed and returns how many (0 when
 * the picture is the same). The window presents only those rectangles. */
int ui_render_update(ui_gfx *g, ui_view *v, int w, int h, ui_layout *l,
                     ui_rect dirty[UI_MAX_DIRTY]);

/* Renders view v off screen at w x h and saves a PNG. */
bool ui_render_png(ui_view *v, int w, int h, const char *path, char *err, size_t errlen);

/* ---- PNG ---------------------------------------------------------------------- */

/* Writes 8-bit RGB pixels (rows of stride bytes, 3 bytes per pixel) as a
 * PNG with stored (uncompressed) deflate blocks. */
bool ui_png_write(const char *path, const uint8_t *rgb, int w, int h, size_t stride);
/* Converts any SDL surface to RGB and writes it. */
bool ui_png_write_surface(const char *path, struct SDL_Surface *s);

/* ---- commands over a target ---------------------------------------------------- */

typedef enum ui_cmd {
    UI_CMD_NONE,
    UI_CMD_RUN_PAUSE,  /* space */
    UI_CMD_STEP,       /* s: one instruction of the selected CPU */
    UI_CMD_NEXT_EVENT, /* n: to the next event of any vCPU (not chatter) */
    UI_CMD_NEXT_EVENT_CPU, /* m: to the next event of the selected vCPU */
    UI_CMD_NEXT_EXIT,  /* e: to the next VM exit */
    UI_CMD_FASTER,     /* + */
    UI_CMD_SLOWER,     /* - */
    UI_CMD_SELECT,     /* 1-8 (arg = CPU) */
    UI_CMD_RESTART,    /* r */
    UI_CMD_HELP,       /* h */
    UI_CMD_STEP_BACK,  /* b: replay only */
    UI_CMD_QUIT,       /* q, Escape */
    UI_CMD_EV_CPU,     /* v: events panel: the selected vCPU only / every vCPU */
    UI_CMD_EV_KIND,    /* k: events panel: the next class of events (or all) */
    UI_CMD_EV_CHATTER, /* c: events panel: show or hide captions and console I/O */
    UI_CMD_PRESENT,    /* p: presentation mode on or off */
    UI_CMD_CAPTIONS,   /* l: the caption list open or closed */
    UI_CMD_TL_LEFT,    /* Left: the timeline a quarter span earlier */
    UI_CMD_TL_RIGHT,   /* Right: later */
    UI_CMD_TL_ZOOM_IN, /* Up: half the span */
    UI_CMD_TL_ZOOM_OUT, /* Down: twice the span */
    UI_CMD_TL_WHOLE,   /* Home: the whole run */
    UI_CMD_TL_FOLLOW,  /* End: follow the current event */
    UI_CMD_WARNINGS,   /* w: the scenario's warnings banner shown or hidden */
} ui_cmd;

/* The key table: SDL keycode → command (and the argument of SELECT). */
ui_cmd ui_key_command(int sdl_keycode, int *arg);
/* The help text, one line per key, NULL-terminated. */
extern const char *const ui_help_lines[];

/* What the session drives. Every member but snapshot may be NULL (the
 * command then reports "not available"). */
typedef struct ui_target {
    void *ctx;
    /* Runs until CPU cpu retired n instructions (others take turns). */
    cpu_stop (*step)(void *ctx, unsigned cpu, uint64_t n);
    /* Runs about `cycles` more cycles, stopping early at a pause condition
     * armed by run_until; returns true when the run is over. */
    bool (*run)(void *ctx, uint64_t cycles);
    /* Arms a pause condition for the following run calls: classes is a
     * bit mask of ui_event_class, any = any event but chatter, cpu = only
     * that CPU's (-1: any CPU) (0, false disarms). */
    void (*run_until)(void *ctx, uint32_t classes, bool any, int cpu);
    /* Shows the next event stop the last boundary kept that matches the
     * armed condition; false when there is none (then run). May be NULL. */
    bool (*next_stop)(void *ctx);
    /* True once when the armed condition has hit (and disarms it). */
    bool (*hit)(void *ctx);
    bool (*restart)(void *ctx, char *err, size_t errlen);
    bool (*step_back)(void *ctx);
    void (*snapshot)(void *ctx, ui_snapshot *s);
    /* Fills the snapshot's timeline marks for the span tv asks (may be
     * NULL: the snapshot keeps the newest marks). */
    void (*marks)(void *ctx, ui_snapshot *s, const ui_tl_view *tv);
    /* Goes to the state right after event number n (as --at-event counts):
     * forward by running, back by starting again (a live machine restarts,
     * a replay seeks to cycle 0) and running to it; the run is
     * deterministic, so it is the same state. False with a message. */
    bool (*goto_event)(void *ctx, uint64_t n, char *err, size_t errlen);
} ui_target;

typedef enum ui_run_state {
    UI_PAUSED,
    UI_RUNNING,       /* free run at the chosen speed */
    UI_TO_EVENT,      /* running until the next event */
    UI_TO_EXIT,       /* running until a VM exit */
} ui_run_state;

/* Speeds: instructions per second of the selected CPU in slow motion, then
 * full speed (0). */
#define UI_NSPEEDS 7
extern const uint64_t ui_speeds[UI_NSPEEDS];

typedef struct ui_session {
    ui_target t;
    ui_view *view;
    ui_run_state state;
    unsigned speed; /* index into ui_speeds */
    double insn_credit; /* slow motion: instructions owed */
    uint64_t slice_cycles; /* full speed: cycles per run call */
    bool quit;
    bool snap_dirty; /* the machine moved: take a snapshot */
} ui_session;

void ui_session_init(ui_session *s, const ui_target *t, ui_view *v);
/* Performs one command (keys, clicks and tests come here). */
void ui_session_command(ui_session *s, ui_cmd cmd, int arg);
/* Advances a running session by dt_ms of host time (slow motion gets
 * speed x dt instructions; full speed runs one slice). Takes a snapshot
 * into the view when the machine moved. */
void ui_session_tick(ui_session *s, double dt_ms);
/* Takes a snapshot now and hands it to the view. */
void ui_session_refresh(ui_session *s);
/* Takes a snapshot into *out (the machine's state and the timeline's
 * marks for the view's span), as the window's machine thread does. */
void ui_session_snapshot(ui_session *s, ui_snapshot *out);
/* The mouse over the timeline (ui_session.c): a button pressed, moved or
 * released at (x, y) in layout l, or the wheel turned (wheel > 0: zoom
 * in) at (x, y). A drag pans the timeline; a press and release without
 * a drag on a mark goes to its event. True when the timeline took it
 * (*went: it went to an event). */
typedef enum ui_mouse { UI_MOUSE_DOWN, UI_MOUSE_MOVE, UI_MOUSE_UP, UI_MOUSE_WHEEL } ui_mouse;
bool ui_session_timeline_mouse(ui_session *s, const ui_layout *l, ui_mouse what, int x, int y,
                               int wheel, bool *went);
/* Pauses and goes to the state right after event number n (a caption of
 * the list, a timeline mark); says in the view why not when it cannot. */
void ui_session_goto_event(ui_session *s, uint64_t n);

/* Checkpoints of a live run or a replay (ui_checkpoints.c): at most
 * UI_CHECKPOINTS and UI_CHECKPOINT_BYTES in all (thinned past either),
 * one every UI_CHECKPOINT_EVERY cycles at first. */
#define UI_CHECKPOINTS 64
#define UI_CHECKPOINT_BYTES (256u << 20)
#define UI_CHECKPOINT_EVERY 100000u
typedef struct ui_checkpoint ui_checkpoint;

/* What a checkpoint keeps of its target's machine and how it goes back
 * (ctx is the target): a live machine's emu_checkpoint
 * (ui_cp_live_ops, ctx a ui_machine_target), a replay's emu_replay_mark
 * (ui_cp_replay_ops, ctx a ui_replay_target). take is NULL when it cannot;
 * restore false when the state no longer fits the machine (nothing
 * changed then). */
typedef struct ui_cp_ops {
    void *(*take)(void *ctx);
    bool (*restore)(void *ctx, const void *state);
    void (*free)(void *state);
    size_t (*bytes)(const void *state);
} ui_cp_ops;
extern const ui_cp_ops ui_cp_live_ops, ui_cp_replay_ops;

/* A target's checkpoints, by cycle and event number, each with the
 * recorder's counters when it was taken. */
typedef struct ui_cp_list {
    const ui_cp_ops *ops;
    void *ctx;
    ui_checkpoint *cps[UI_CHECKPOINTS];
    unsigned ncps;
    size_t cp_bytes;
    uint64_t cp_every, cp_next; /* cycles between two; the next one's */
    double cp_host_next;        /* host time (s) before which none is taken */
    bool cp_eager;              /* tests: no host-time limit */
    unsigned cp_max;            /* tests: fewer than UI_CHECKPOINTS (0: that many) */
    uint64_t cp_restored;       /* jumps that started from a checkpoint */
} ui_cp_list;

/* A target over a live machine (the window and `--screenshot`). */
typedef struct ui_machine_target {
    emu_machine *m;
    ui_recorder rec;
    ui_vcpu_lookup lookup;
    char guest[4096]; /* for restart */
    uint64_t snap_seq;
    /* The scenario being run, or NULL: its current caption goes into each
     * snapshot, and a restart applies it again to the new machine. */
    struct emu_scenario *scenario;
    ui_cp_list cpl;    /* checkpoints (ui_checkpoints.c) */
    uint64_t restarts; /* machines built again (r, or a jump with none) */
} ui_machine_target;

/* Checkpoints: takes one of m when one is due (between slices; r the
 * target's recorder); frees them all (a restart builds a new machine);
 * goes to the newest one before event n when that saves running
 * (*restored; false: it could not be restored, the target must start
 * again); how many there are and their bytes. */
void ui_checkpoints_take(ui_cp_list *l, const emu_machine *m, const ui_recorder *r);
void ui_checkpoints_free(ui_cp_list *l);
bool ui_checkpoints_goto(ui_cp_list *l, ui_recorder *r, uint64_t n, bool *restored);
unsigned ui_checkpoints_count(const ui_cp_list *l, size_t *bytes);

/* Subscribes rec to m's bus and fills t. */
/* s becomes the event stop `stop` (keeping s's caption when the stop has
 * none, and its sequence number going up). */
void ui_snapshot_from_stop(ui_snapshot *s, const ui_snapshot *stop);
/* Puts the scenario's current caption (if it has shown one) into s. */
void ui_snapshot_scenario_caption(ui_snapshot *s, const struct emu_scenario *scn);
void ui_machine_target_init(ui_machine_target *mt, emu_machine *m, const char *guest,
                            ui_vcpu_lookup lookup, ui_target *t);
void ui_machine_target_detach(ui_machine_target *mt);
/* Both targets' goto_event: runs (run(ctx, cycles)) until rec's event
 * number n, leaving the stop of that event on screen. */
bool ui_target_run_to_event(ui_recorder *rec, const emu_machine *m,
                            bool (*run)(void *, uint64_t), void *ctx, uint64_t n, char *err,
                            size_t errlen);

/* A target over a replay (emu/emu_record.h): the machine is read, never
 * run directly; s and b move by one scheduling round (replay seeks to
 * round boundaries), b seeks back through the replayer's snapshots, r
 * seeks to cycle 0. */
struct emu_replayer;
typedef struct ui_replay_target {
    struct emu_replayer *r;
    emu_machine *m;
    ui_recorder rec;
    ui_vcpu_lookup lookup;
    char err[256];  /* why the last seek failed */
    ui_cp_list cpl; /* checkpoints for jumps to an event (emu_replay_mark) */
    uint64_t rewinds; /* jumps back that ran again from cycle 0 */
} ui_replay_target;

void ui_replay_target_init(ui_replay_target *rt, struct emu_replayer *r, ui_vcpu_lookup lookup,
                           ui_target *t);
void ui_replay_target_detach(ui_replay_target *rt);

/* ---- the front end (emu_main) ---------------------------------------------------- */

/* Options of the window the command line gives (ui_main.c parses them). */
typedef struct ui_options {
    const char *screenshot; /* --screenshot FILE.png, or NULL */
    uint64_t at_cycle;      /* --at CYCLE (0: not given) */
    uint64_t at_event;      /* --at-event N (0: not given) */
    int width, height;      /* --size WxH of the screenshot (default 1600x900) */
    const char *caption;    /* --caption TEXT (a scenario's own captions take over once shown) */
    bool autorun;           /* --autorun: start running at once (benchmarks, demos) */
    bool exit_when_done;    /* --exit-when-done: close the window when the guest ends */
    unsigned vcpu;          /* --vcpu K: the vCPU shown first (default 0) */
    uint64_t max_frames;    /* --frames N: close after N frames (tests), 0 = never */
    bool present;           /* --present: presentation mode (larger grids and captions) */
    bool captions;          /* --captions: the caption list open (key l) */
} ui_options;

/* True when SDL can open a window here. */
bool ui_display_available(void);
/* The window: runs m until the user quits; returns the exit status. */
int ui_run_window(emu_machine *m, const char *guest, const emu_run_opts *opts,
                  const ui_options *uo);
/* The window over a replay (for `apicv-emu replay`): the same keys, with
 * step back. Returns the replayed run's exit status (0 when closed early). */
int ui_replay_window(struct emu_replayer *r, const ui_options *uo);
/* `compare --chart FILE.png`: the comparison drawn off screen (ui_chart.c). */
struct emu_compare_result;
bool ui_compare_chart(const struct emu_compare_result *c, const char *path, char *err,
                      size_t errlen);
/* Headless: runs m to --at/--at-event (or to the end), saves the PNG. */
int ui_screenshot(emu_machine *m, const char *guest, const ui_options *uo);

#endif
