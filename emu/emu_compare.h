/*
 * emu_compare.h — `apicv-emu compare`: the same interrupt workload in all
 * five modes, measured side by side (docs/cli.md, "compare").
 *
 * Each mode runs the same guest with the same stimuli on a fresh machine;
 * an observer measures, from the events' descriptors: interrupts delivered
 * per path, VM exits per reason, the exits a receiver takes for an
 * interrupt, the latency from an interrupt's raise (device MSI due, ICR
 * write, timer expiry, I/O APIC message) to the first instruction of its
 * handler (the delivery through the IDT, or the injection at VM entry,
 * plus the IDT delivery's own cost, which the CPU charges after the
 * delivery event), for every vector, and the cycles the vCPUs spent in
 * root operation between an exit and the next entry.
 */
#ifndef APICV_EMU_COMPARE_H
#define APICV_EMU_COMPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "emu/emu.h"

/* Delivery paths, as --stats names them. */
enum {
    EMU_CMP_APIC,      /* native: from the local APIC through the IDT */
    EMU_CMP_NMI,       /* native NMIs */
    EMU_CMP_INJECTION, /* external interrupts injected at VM entry */
    EMU_CMP_VID,       /* virtual-interrupt deliveries (SDM 30.2.2) */
    EMU_CMP_VNMI,      /* NMIs injected at VM entry */
    EMU_CMP_POSTED,    /* of the vid ones: routed through a posted-interrupt descriptor */
    EMU_CMP_NPATHS
};

/* Where an interrupt came from, for latency: a device MSI, an IPI from
 * another CPU, a self-IPI, the APIC timer, anything else (an I/O APIC
 * message). The built-in workload's vectors 50h-53h are one of each of
 * the first four. */
enum {
    EMU_CMP_SRC_MSI,
    EMU_CMP_SRC_IPI,
    EMU_CMP_SRC_SELF,
    EMU_CMP_SRC_TIMER,
    EMU_CMP_SRC_OTHER,
    EMU_CMP_NSRC
};

#define EMU_CMP_NREASONS 80

typedef struct emu_cmp_mode {
    emu_mode mode;
    int status;             /* the run's exit status (0: the guest reported success) */
    uint64_t cycles;        /* the furthest CPU's clock at the end */
    uint64_t cpu_cycles;    /* summed over the CPUs */
    uint64_t insns;
    uint64_t delivered[EMU_CMP_NPATHS];
    uint64_t interrupts;    /* handler entries (apic + injection + vid) */
    uint64_t exits;         /* every VM exit of every vCPU */
    uint64_t console_exits; /* of them, I/O exits for the console and exit ports (the
                             * guest's printf, its status): not interrupt work */
    uint64_t receive_exits; /* exits a receiver takes for an interrupt: 1, 7, 43, 45, EOI writes */
    uint64_t exit_reason[EMU_CMP_NREASONS];
    uint64_t lat_sum[EMU_CMP_NSRC], lat_n[EMU_CMP_NSRC], lat_max;
    uint64_t lat_vec_sum[256], lat_vec_n[256]; /* the same by vector */
    uint64_t root_cycles;   /* between each VM exit and the next entry, summed */
} emu_cmp_mode;

typedef struct emu_compare_result {
    char workload[256]; /* the guest or scenario, "built in" for the default */
    char cost_file[256]; /* the --cost-model file, "" for the default model */
    unsigned ncpus, interrupts, rate;
    emu_cmp_mode m[EMU_MODE_COUNT]; /* in emu_mode order */
} emu_compare_result;

/* Derived figures of one mode (0 when there is nothing to divide by). */
double emu_cmp_exits_per_intr(const emu_cmp_mode *r);
double emu_cmp_receive_exits_per_intr(const emu_cmp_mode *r);
double emu_cmp_latency(const emu_cmp_mode *r);      /* mean over every source */
double emu_cmp_overhead(const emu_compare_result *c, const emu_cmp_mode *r); /* cycles/interrupt over native */
double emu_cmp_guest_share(const emu_cmp_mode *r);  /* of the CPUs' cycles, not in root */

/* Runs the comparison: the built-in workload (guest NULL) with `ncpus`
 * vCPUs, `interrupts` of each kind per vCPU, one every `rate` cycles, or
 * a guest image or scenario. Returns false with a message in err. */
bool emu_compare_run(const char *guest_dir, const char *guest, unsigned ncpus, unsigned interrupts,
                     unsigned rate, emu_compare_result *out, char *err, size_t errlen);
/* The same with a cost model (NULL: the default one, docs/cost-model.md);
 * out->cost_file names it in the table when not empty. */
bool emu_compare_run_costs(const char *guest_dir, const char *guest, unsigned ncpus,
                           unsigned interrupts, unsigned rate, const cpu_cost_model *costs,
                           const char *cost_file, emu_compare_result *out, char *err,
                           size_t errlen);

/* The table, CSV (one row per metric, one column per mode) and JSON. */
void emu_compare_print(FILE *f, const emu_compare_result *c);
void emu_compare_csv(FILE *f, const emu_compare_result *c);
void emu_compare_json(FILE *f, const emu_compare_result *c);

/* `apicv-emu compare ...`; fe->compare_chart draws --chart (NULL: the
 * headless build, which says so). */
int emu_compare_main(int argc, char **argv, const emu_frontend *fe);

#endif
