/*
 * cpu_obs.h — the one event stream of apicv-emu.
 *
 * Every architectural event of every layer (cpu, apic, vmx, emu) is one record
 * {cycle, cpu, kind, fields} handed to the observers registered on a bus. The
 * bus lives in the lowest layer so that every layer can emit without
 * including a higher one. The text log, trace writer, statistics, tests and
 * the window are observers. With no observer registered, emitting costs one
 * predictable branch (cpu_obs_active).
 *
 * Event kinds are grouped by layer: each layer defines its own kinds in its
 * public header inside its range, and a name for each (for the text log).
 */
#ifndef APICV_CPU_OBS_H
#define APICV_CPU_OBS_H

#include <stdbool.h>
#include <stdint.h>

/* Ranges of event kinds, one per layer. */
enum {
    CPU_OBS_RANGE_CPU = 0x000,  /* cpu/: exceptions, interrupts delivered, ... */
    CPU_OBS_RANGE_APIC = 0x100, /* apic/: accept, acknowledge, EOI, IPI, timer */
    CPU_OBS_RANGE_VMX = 0x200,  /* vmx/: entry, exit, virtual interrupts, posting */
    CPU_OBS_RANGE_EMU = 0x300,  /* emu/: devices, scheduler, hypervisor decisions */
};

/* Kinds emitted by cpu/ itself. */
enum cpu_obs_kind {
    CPU_EV_EXCEPTION = CPU_OBS_RANGE_CPU, /* a=vector b=error code (or ~0) c=rip d=cr2 */
    CPU_EV_INTERRUPT,                     /* a=vector c=rip: external interrupt delivered via IDT */
    CPU_EV_SOFT_INT,                      /* a=vector c=rip: INT n / INT3 */
    CPU_EV_DOUBLE_FAULT,                  /* a=first vector b=second vector c=rip */
    CPU_EV_TRIPLE_FAULT,                  /* a=vector c=rip */
    CPU_EV_HALT,                          /* c=rip: HLT entered */
    CPU_EV_WAKE,                          /* c=rip: left the HLT state */
    CPU_EV_UNIMPLEMENTED,                 /* a=first 8 bytes (little-endian) b=length c=rip */
    CPU_EV_CR_WRITE,                      /* a=cr number b=before c=rip d=after */
    CPU_EV_MSR_WRITE,                     /* a=msr b=before c=rip d=after */
};

/*
 * One event. The meaning of a..d depends on kind and is documented beside each
 * kind; by convention "before/after" pairs use b (before) and d (after).
 */
typedef struct cpu_obs_event {
    uint64_t cycle;
    uint16_t cpu;
    uint16_t kind;
    uint32_t reserved;
    uint64_t a, b, c, d;
} cpu_obs_event;

typedef void (*cpu_obs_fn)(void *ctx, const cpu_obs_event *ev);

#define CPU_OBS_MAX 8

typedef struct cpu_obs_bus {
    unsigned count;
    struct {
        cpu_obs_fn fn;
        void *ctx;
    } sub[CPU_OBS_MAX];
} cpu_obs_bus;

/* Registers an observer (once: the same fn and ctx again is a no-op);
 * returns false when the bus is full. */
bool cpu_obs_subscribe(cpu_obs_bus *bus, cpu_obs_fn fn, void *ctx);
/* Registers every observer of `from` not yet on bus (a machine rebuilt in
 * place keeps its listeners); false when the bus filled up. */
bool cpu_obs_subscribe_all(cpu_obs_bus *bus, const cpu_obs_bus *from);
/* Removes an observer registered with the same fn and ctx. */
void cpu_obs_unsubscribe(cpu_obs_bus *bus, cpu_obs_fn fn, void *ctx);
/* Hands ev to every observer, in order of subscription. */
void cpu_obs_dispatch(const cpu_obs_bus *bus, const cpu_obs_event *ev);

static inline bool cpu_obs_active(const cpu_obs_bus *bus)
{
    return bus != 0 && __builtin_expect(bus->count != 0, 0);
}

/* Emits an event if anyone listens; the common case costs one branch. */
static inline void cpu_obs_emit(const cpu_obs_bus *bus, uint64_t cycle, unsigned cpu,
                                unsigned kind, uint64_t a, uint64_t b, uint64_t c,
                                uint64_t d)
{
    if (cpu_obs_active(bus)) {
        cpu_obs_event ev = {cycle, (uint16_t)cpu, (uint16_t)kind, 0, a, b, c, d};
        cpu_obs_dispatch(bus, &ev);
    }
}

#endif
