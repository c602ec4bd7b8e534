/*
 * emu_checkpoint.h — an in-memory copy of a whole machine between two
 * slices, in every mode, to go back to (the window's jumps to an earlier
 * event, docs/architecture.md "Checkpoints").
 *
 * A checkpoint holds what a run changes: the machine (CPUs, local APICs,
 * event queues, devices, clock and scheduler, statistics), guest RAM (its
 * nonzero pages), the host-owned memory the hypervisor keeps its VMCS
 * pages in (virtual-APIC pages, posted-interrupt descriptors, bitmaps),
 * the built-in hypervisor (its vCPUs, VMCSs, software APICs, timed work)
 * or a guest's own VMX root state, and a scenario's runtime. Restoring it
 * into the same machine (not re-created since: a restart frees the
 * hypervisor it points into) gives exactly the state it was taken in; the
 * run is deterministic, so running on from there passes through the same
 * states and events as the first time.
 */
#ifndef APICV_EMU_CHECKPOINT_H
#define APICV_EMU_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu/emu.h"

struct emu_scenario;
typedef struct emu_checkpoint emu_checkpoint;

/* Copies m (and scn's runtime, when scn is not NULL) between two slices:
 * never from inside a run (an observer). NULL when memory runs out. */
emu_checkpoint *emu_checkpoint_take(const emu_machine *m, const struct emu_scenario *scn);
/* Puts m (and scn's runtime) back to checkpoint c, taken from this same
 * machine. Its observers and console stay as they are now. False, with m
 * unchanged, when there is no memory for its event queues or the
 * hypervisor's work lists. */
bool emu_checkpoint_restore(emu_machine *m, struct emu_scenario *scn, const emu_checkpoint *c);
void emu_checkpoint_free(emu_checkpoint *c);
/* The clock when it was taken, and the bytes it holds. */
uint64_t emu_checkpoint_cycle(const emu_checkpoint *c);
size_t emu_checkpoint_bytes(const emu_checkpoint *c);

#endif
