/*
 * cpu_cost.c — the cycle cost model. docs/cost-model.md gives each default
 * and where it comes from; a file of "class = cycles" lines overrides them.
 * The classes are one table: instruction classes, then the costs of VMX
 * transitions (VM entry, VM exit) that vmx/ charges.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"

static const char *const cost_names[CPU_COST_NCLASSES] = {
    "simple", "branch", "mul", "div", "shift", "string", "stack",
    "atomic", "io", "system", "serialize", "interrupt", "mem", "vmentry", "vmexit",
};

/* Defaults: rounded latencies of a Skylake-class core from Agner Fog's
 * instruction tables and Intel's optimization manual (see the doc). */
static const uint16_t cost_defaults[CPU_COST_NCLASSES] = {
    1,   /* simple: ALU, MOV, LEA */
    1,   /* branch: predicted taken/not-taken branch */
    3,   /* mul: IMUL r64 latency */
    26,  /* div: DIV r32 latency (r64 is 35-88) */
    1,   /* shift: SHL/SHR/ROL by imm, BSF, POPCNT are 1-3 */
    1,   /* string: per iteration of REP MOVS/STOS (fast strings amortised) */
    1,   /* stack: PUSH/POP */
    18,  /* atomic: LOCK ADD / XCHG mem */
    100, /* io: IN/OUT to a device (uncached, serialising) */
    30,  /* system: MOV CR, RDMSR/WRMSR, LGDT, INVLPG */
    40,  /* serialize: IRETQ, CPUID */
    50,  /* interrupt: delivery through the IDT */
    3,   /* mem: an L1 hit, added for a memory operand */
    100, /* vmentry: VMLAUNCH/VMRESUME to the first guest instruction (placeholder) */
    100, /* vmexit: a VM exit to the first host instruction (placeholder) */
};

const char *cpu_cost_name(cpu_cost_class c)
{
    return (unsigned)c < CPU_COST_NCLASSES ? cost_names[c] : "?";
}

void cpu_cost_default(cpu_cost_model *m)
{
    memcpy(m->cost, cost_defaults, sizeof(m->cost));
}

/* The valid range of a class: every class but mem costs at least a cycle,
 * so that every instruction, and every VM entry and exit, moves its CPU's
 * clock (a run bounded by cycles always ends). */
bool cpu_cost_valid(cpu_cost_class c, unsigned long cycles)
{
    return cycles <= CPU_COST_MAX && (cycles > 0 || c == CPU_COST_MEM);
}

/* "simple, branch, ..., vmexit" for messages. */
static void cost_list(char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (unsigned k = 0; k < CPU_COST_NCLASSES && used < len; k++) {
        int n = snprintf(out + used, len - used, "%s%s", k ? ", " : "", cost_names[k]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

bool cpu_cost_check(const cpu_cost_model *m, char *err, size_t errlen)
{
    for (unsigned k = 0; k < CPU_COST_NCLASSES; k++) {
        if (!cpu_cost_valid((cpu_cost_class)k, m->cost[k])) {
            snprintf(err, errlen, "cost of '%s' must be 1..%u cycles (mem may be 0), got %u",
                     cost_names[k], CPU_COST_MAX, m->cost[k]);
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
        if (sscanf(p, "%31[a-z] = %lu %n", name, &cycles, &used) < 2 || p[used] != 0) {
            snprintf(err, errlen, "%s:%u: expected 'class = cycles', got '%.40s'", path, lineno, p);
            ok = false;
            break;
        }
        unsigned k;
        for (k = 0; k < CPU_COST_NCLASSES; k++)
            if (strcmp(name, cost_names[k]) == 0)
                break;
        if (k == CPU_COST_NCLASSES) {
            char names[256];
            cost_list(names, sizeof(names));
            snprintf(err, errlen, "%s:%u: unknown cost class '%s' (expected one of %s)", path, lineno, name, names);
            ok = false;
        } else if (!cpu_cost_valid((cpu_cost_class)k, cycles)) {
            snprintf(err, errlen, "%s:%u: cost of '%s' must be 1..%u cycles (mem may be 0), got %lu", path, lineno, name, CPU_COST_MAX, cycles);
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
