/*
 * cpu_cost.c — the cycle cost model. docs/cost-model.md gives each default
 * and where it comes from; a file of "class cycles" lines overrides them.
 * The classes are one table: instruction classes, the costs of VMX
 * transitions (VM entry, VM exit) that vmx/ charges, the built-in
 * hypervisor's handling of each exit reason (emu/ charges them), and the
 * interrupt hardware's own steps (IPI trip, posted-interrupt processing,
 * virtual-interrupt delivery).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"

static const char *const cost_names[CPU_COST_NCLASSES] = {
    "simple", "branch", "mul", "div", "shift", "string", "stack",
    "atomic", "io", "system", "serialize", "interrupt", "mem", "vmentry", "vmexit",
    "hv_extint", "hv_window", "hv_apic_access", "hv_apic_write", "hv_eoi", "hv_msr",
    "hv_io", "hv_vmcall", "hv_hlt", "hv_tpr", "hv_preempt", "hv_other", "hv_inject",
    "ipi", "pi_process", "vid", "vmentry_checks", "exit_exception", "exit_extint", "exit_ept",
    "exit_apic_access", "exit_apic_write",
};

static const char *const cost_whats[CPU_COST_NCLASSES] = {
    "register ALU, MOV, LEA, flag operations, NOP",
    "Jcc, JMP, CALL, RET, LOOP",
    "MUL, IMUL",
    "DIV, IDIV",
    "shifts, rotates, bit scans, POPCNT, BT",
    "one iteration of a string instruction",
    "PUSH, POP, PUSHF, POPF, ENTER, LEAVE",
    "LOCKed read-modify-write, XCHG with memory",
    "IN, OUT",
    "MOV CR, RDMSR/WRMSR, LGDT/LIDT, INVLPG, CPUID",
    "IRETQ and other serialising instructions",
    "delivery of an exception or interrupt through the IDT",
    "extra cost of a memory operand",
    "VM entry, to the first guest instruction",
    "VM exit, to the first host instruction",
    "hypervisor: exit 1 external interrupt (host handler, EOI)",
    "hypervisor: exits 7/8 interrupt/NMI window",
    "hypervisor: exit 44 APIC access (decode, emulate)",
    "hypervisor: exit 56 APIC write (ICR: send the IPI)",
    "hypervisor: exit 45 EOI-induced (level-triggered EOI)",
    "hypervisor: exits 31/32 RDMSR/WRMSR (x2APIC)",
    "hypervisor: exit 30 I/O instruction (device model)",
    "hypervisor: exit 18 VMCALL (hypercall)",
    "hypervisor: exit 12 HLT (block the vCPU)",
    "hypervisor: exit 43 TPR below threshold",
    "hypervisor: exit 52 VMX-preemption timer",
    "hypervisor: any other exit (CPUID, CR, PAUSE, MTF, NMI)",
    "hypervisor: an entry that injects an event",
    "an IPI's trip from the sender to the target CPU",
    "posted-interrupt processing, PIR -> VIRR (SDM 29.6)",
    "virtual-interrupt delivery (SDM 29.2.2)",
    "VM entry: extra when its controls changed (full checks)",
    "VM exit 0 exception/NMI: extra (interruption info)",
    "VM exit 1 external interrupt: extra (acknowledged on exit)",
    "VM exit 48/49 EPT violation/misconfig: extra (EPT walk)",
    "VM exit 44 APIC access: extra (fault-like)",
    "VM exit 56 APIC write: extra (trap-like)",
};

/* Defaults: rounded latencies of a Skylake-class core from Agner Fog's
 * instruction tables and Intel's optimization manual; the VMX, hypervisor
 * and interrupt classes from published KVM measurements where there are
 * some, else estimates said to be such (docs/cost-model.md gives each
 * source). */
static const uint16_t cost_defaults[CPU_COST_NCLASSES] = {
    1,    /* simple: ALU, MOV, LEA */
    1,    /* branch: predicted taken/not-taken branch */
    3,    /* mul: IMUL r64 latency */
    26,   /* div: DIV r32 latency (r64 is 35-88) */
    1,    /* shift: SHL/SHR/ROL by imm, BSF, POPCNT are 1-3 */
    1,    /* string: per iteration of REP MOVS/STOS (fast strings amortised) */
    1,    /* stack: PUSH/POP */
    18,   /* atomic: LOCK ADD / XCHG mem */
    100,  /* io: IN/OUT to a device (uncached, serialising) */
    30,   /* system: MOV CR, RDMSR/WRMSR, LGDT, INVLPG */
    40,   /* serialize: IRETQ, CPUID */
    50,   /* interrupt: delivery through the IDT */
    3,    /* mem: an L1 hit, added for a memory operand */
    350,  /* vmentry (estimate: with vmexit a hardware round trip of 800) */
    450,  /* vmexit */
    1200, /* hv_extint */
    1000, /* hv_window */
    2000, /* hv_apic_access */
    700,  /* hv_apic_write */
    600,  /* hv_eoi */
    600,  /* hv_msr */
    1000, /* hv_io (in-kernel device; KVM's QEMU path is ~5000 more) */
    400,  /* hv_vmcall */
    800,  /* hv_hlt */
    300,  /* hv_tpr */
    400,  /* hv_preempt */
    800,  /* hv_other */
    200,  /* hv_inject */
    500,  /* ipi */
    150,  /* pi_process */
    20,   /* vid */
    400,  /* vmentry_checks: "several hundred cycles" (docs/cost-model.md) */
    40,   /* exit_exception (estimate) */
    50,   /* exit_extint: an interrupt acknowledge, as in an IDT delivery (estimate) */
    120,  /* exit_ept: a nested walk of up to 24 references (estimate) */
    40,   /* exit_apic_access (estimate) */
    20,   /* exit_apic_write (estimate) */
};

const char *cpu_cost_name(cpu_cost_class c)
{
    return (unsigned)c < CPU_COST_NCLASSES ? cost_names[c] : "?";
}

const char *cpu_cost_what(cpu_cost_class c)
{
    return (unsigned)c < CPU_COST_NCLASSES ? cost_whats[c] : "?";
}

unsigned cpu_cost_min(cpu_cost_class c)
{
    return c == CPU_COST_MEM || c >= CPU_COST_FIRST_OPTIONAL ? 0 : 1;
}

void cpu_cost_default(cpu_cost_model *m)
{
    memcpy(m->cost, cost_defaults, sizeof(m->cost));
}

/* The valid range of a class: every instruction class but mem, and VM
 * entry and exit, cost at least a cycle, so that every instruction and
 * every VMX transition moves its CPU's clock (a run bounded by cycles
 * always ends); the hypervisor's and the interrupt hardware's classes only
 * add to those and may be 0. */
bool cpu_cost_valid(cpu_cost_class c, unsigned long cycles)
{
    return cycles <= CPU_COST_MAX && cycles >= cpu_cost_min(c);
}

bool cpu_cost_check(const cpu_cost_model *m, char *err, size_t errlen)
{
    for (unsigned k = 0; k < CPU_COST_NCLASSES; k++) {
        if (!cpu_cost_valid((cpu_cost_class)k, m->cost[k])) {
            snprintf(err, errlen, "cost of '%s' must be %u..%u cycles, got %u", cost_names[k],
                     cpu_cost_min((cpu_cost_class)k), CPU_COST_MAX, m->cost[k]);
            return false;
        }
    }
    return true;
}

bool cpu_cost_load(cpu_cost_model *m, const char *path, char *err, size_t errlen)
{
    FILE *f = cpu_open_input(path, err, errlen);
    if (!f)
        return false;
    char line[256];
    unsigned lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line;
        char *hash = strchr(p, '#');
        if (hash)
            *hash = 0;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            continue;
        char name[32];
        unsigned long cycles;
        int used = 0;
        /* "class cycles", or "class = cycles" as before. */
        if ((sscanf(p, "%31[a-z0-9_] = %lu %n", name, &cycles, &used) < 2 || p[used] != 0) &&
            (used = 0, sscanf(p, "%31[a-z0-9_] %lu %n", name, &cycles, &used) < 2 || p[used] != 0)) {
            snprintf(err, errlen, "%s:%u: expected 'class cycles' (a class name and a number), got '%.40s'",
                     path, lineno, p);
            ok = false;
            break;
        }
        unsigned k;
        for (k = 0; k < CPU_COST_NCLASSES; k++)
            if (strcmp(name, cost_names[k]) == 0)
                break;
        if (k == CPU_COST_NCLASSES) {
            snprintf(err, errlen, "%s:%u: unknown cost class '%s' (expected a class that `apicv-emu info` lists: simple, branch, ..., vmexit, hv_extint, ..., vid)",
                     path, lineno, name);
            ok = false;
        } else if (!cpu_cost_valid((cpu_cost_class)k, cycles)) {
            snprintf(err, errlen, "%s:%u: cost of '%s' must be %u..%u cycles, got %lu", path, lineno,
                     name, cpu_cost_min((cpu_cost_class)k), CPU_COST_MAX, cycles);
            ok = false;
        } else
            m->cost[k] = (uint16_t)cycles;
    }
    if (ok && ferror(f)) {
        snprintf(err, errlen, "%s: cannot read (is it a directory?)", path);
        ok = false;
    }
    fclose(f);
    return ok;
}
