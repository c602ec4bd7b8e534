/*
 * emu_export.h — a run (or a replay) exported for the tools people already
 * use: a Value Change Dump for GTKWave (--vcd) and Chrome trace-event JSON
 * for Perfetto UI / chrome://tracing (--perfetto). docs/export.md.
 *
 * Both are observers of the machine's event bus and nothing else: they are
 * called at each event, inside the machine, after the change the event
 * reports (docs/architecture.md "Every event is a stop"), so what they write
 * is the state at that event. Usage:
 *
 *   emu_vcd *v = emu_vcd_open(&m, path, err, errlen);   // subscribes to m.obs
 *   ... run or replay the machine ...
 *   emu_vcd_close(v, err, errlen);                      // unsubscribes, writes the rest
 */
#ifndef APICV_EMU_EXPORT_H
#define APICV_EMU_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "emu/emu.h"

typedef struct emu_vcd emu_vcd;
typedef struct emu_perfetto emu_perfetto;

/* Creates path and subscribes to m's bus; the header and the initial values
 * (the machine as it is now, cycle 0) are written at once. NULL with a
 * message naming the file when it cannot. */
emu_vcd *emu_vcd_open(emu_machine *m, const char *path, char *err, size_t errlen);
/* Writes the changes still held back, unsubscribes and closes; false with a
 * message when a write failed. Always frees. */
bool emu_vcd_close(emu_vcd *v, char *err, size_t errlen);

emu_perfetto *emu_perfetto_open(emu_machine *m, const char *path, char *err, size_t errlen);
/* Ends the open slices at the machine's clock, closes the JSON, frees. */
bool emu_perfetto_close(emu_perfetto *p, char *err, size_t errlen);

/* Both of the above from the options of run and replay (either path may be
 * NULL); false with a message when a file cannot be created. */
typedef struct emu_exports {
    emu_vcd *vcd;
    emu_perfetto *perfetto;
} emu_exports;
bool emu_exports_open(emu_exports *x, emu_machine *m, const char *vcd_path,
                      const char *perfetto_path, char *err, size_t errlen);
bool emu_exports_close(emu_exports *x, char *err, size_t errlen);

#endif
