/*
 * emu_gdb.h — a gdb remote stub (GDB's remote serial protocol over TCP) for
 * a running machine (`apicv-emu run --gdb PORT`) or a replayed trace
 * (`apicv-emu replay --gdb PORT`, with reverse execution): docs/gdb.md.
 *
 * One thread per CPU (thread id = CPU index + 1); registers of the x86-64
 * target description; memory by guest-virtual address through the selected
 * CPU's paging; breakpoints by RIP (the guest's memory is never patched);
 * write, read and access watchpoints; single-step and continue; Ctrl-C;
 * reverse-stepi and reverse-continue on a replay; `monitor` commands
 * for the virtual APIC, the VMCS, the posted-interrupt descriptor and the
 * event log. All of a session's state lives in emu_gdb.
 */
#ifndef APICV_EMU_GDB_H
#define APICV_EMU_GDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "cpu/cpu_obs.h"

struct emu_machine;

#define EMU_GDB_PKT_MAX 4096 /* PacketSize: the largest packet body we accept */
#define EMU_GDB_NBP 64       /* breakpoints (software and hardware share the table) */
#define EMU_GDB_NWP 8        /* watchpoints of all kinds */
#define EMU_GDB_NEV 256      /* recent events kept for `monitor events N` */

typedef struct emu_gdb_watch {
    uint64_t va, pa; /* pa: the guest-physical address when the watchpoint was set */
    unsigned len;    /* 1..8 */
    unsigned type;   /* 2 write (values compared), 3 read, 4 access (cpu_watch_set) */
    unsigned cw;     /* types 3 and 4: the index in cpu_phys.watch_* */
    uint8_t old[8];
    /* `monitor watch-vapic`: a byte of CPU vapic_cpu's virtual-APIC page at
     * offset va (host memory: gdb knows no address for it). */
    bool vapic;
    unsigned vapic_cpu;
} emu_gdb_watch;

typedef struct emu_gdb {
    struct emu_machine *m;
    int lfd, fd; /* listening socket, connection (-1: none) */
    unsigned port;
    unsigned g_cpu, c_cpu; /* Hg (registers, memory, monitor) and Hc (step) threads */
    bool c_any;            /* Hc0 or Hc-1: steps go to g_cpu, the thread gdb stopped on */
    uint64_t bp[EMU_GDB_NBP];
    unsigned nbp;
    emu_gdb_watch wp[EMU_GDB_NWP];
    unsigned nwp;
    /* Input: bytes read from the connection and not yet consumed. */
    uint8_t rbuf[EMU_GDB_PKT_MAX + 64];
    size_t rlen, rpos;
    char pkt[EMU_GDB_PKT_MAX + 1];
    size_t pkt_len; /* its length (an X packet's data may hold NUL bytes) */
    char out[2 * EMU_GDB_PKT_MAX + 8];        /* the reply being built */
    char last_reply[2 * EMU_GDB_PKT_MAX + 8]; /* re-sent after a '-' */
    /* The event ring (an observer while the session lasts). */
    cpu_obs_event ev[EMU_GDB_NEV];
    uint64_t nev;
    bool want_event; /* monitor step-event: pause at the next event */
    bool event_hit;
    /* replay --gdb: the replay gdb drives (NULL: a live run), set after
     * emu_gdb_listen. It moves only by emu_replay_step; hist[j] is the CPU
     * that retired an instruction in the step to position j + 1 (0xFF:
     * none), for reverse-stepi. */
    struct emu_replayer *rp;
    uint8_t *hist;
    size_t nhist, hist_cap;
    bool hist_lost; /* out of memory: reverse-stepi answers E0c */
    /* emu_gdb_poll: packets are served without waiting; a continue runs a
     * bounded part per call (running); the machine moved since the front
     * end last looked (moved: it clears it). */
    bool async, running, moved;
} emu_gdb;

typedef enum emu_gdb_end {
    EMU_GDB_DETACHED, /* D, or the connection closed: the run goes on without gdb */
    EMU_GDB_KILLED,   /* k: the run is over */
    EMU_GDB_FINISHED, /* the guest's run ended while gdb was attached */
    EMU_GDB_ERROR,    /* the connection failed before gdb came */
} emu_gdb_end;

/* Listens on 127.0.0.1:port (0: a free port the system picks; g->port is
 * the one chosen). False with a message in err. */
bool emu_gdb_listen(emu_gdb *g, struct emu_machine *m, unsigned port, char *err, size_t errlen);
/* Waits for gdb, then serves it until detach, kill or the end of the run.
 * The machine stays stopped until gdb continues it. */
emu_gdb_end emu_gdb_serve(emu_gdb *g);
/* For a front end that runs the machine itself (the window, on its machine
 * thread, between slices): serves gdb without waiting. Accepts a pending
 * connection, handles the packets that have arrived, and runs a continue a
 * bounded number of steps per call. True while gdb is attached: gdb holds
 * the machine (stopped, or running it for a continue), and the caller must
 * not run it. A kill ends the run (status 137); a detach leaves the machine
 * to the caller. */
bool emu_gdb_poll(emu_gdb *g);
void emu_gdb_close(emu_gdb *g);

/* Registers (emu_gdb_regs.c), numbered as in the target description:
 * its XML, each register's size in bytes, its value (little-endian), and a
 * write (false when refused: only the general registers, RIP and RFLAGS
 * change; the others accept their current value). */
#define EMU_GDB_NREGS 48
const char *emu_gdb_target_xml(size_t *len);
unsigned emu_gdb_reg_size(unsigned r);
void emu_gdb_reg_get(cpu_t *c, unsigned r, uint8_t *out);
bool emu_gdb_reg_set(cpu_t *c, unsigned r, const uint8_t *in);

/* `monitor CMD` (qRcmd; emu_gdb_monitor.c): the text gdb prints, in out. */
void emu_gdb_monitor(emu_gdb *g, const char *cmd, char *out, size_t outlen);
/* The byte at offset off of CPU cpu's virtual-APIC page; false when it has
 * none (native mode, no TPR shadow). */
bool emu_gdb_vapic_byte(emu_gdb *g, unsigned cpu, unsigned off, uint8_t *out);

#endif
