/*
 * emu_cpumodel.c — `--cpu MODEL[,+feature|,-feature...]`: the CPU model a
 * run presents (docs/cpu-model.md "Models and features").
 *
 * One model today, `max`: everything the emulator implements (the CPUID of
 * docs/cpu-model.md). Features can be taken away, as QEMU's -cpu
 * max,-x2apic does; CPUID and the MSRs follow:
 *   x2apic        CPUID.1:ECX[21]; without it IA32_APIC_BASE.EXTD cannot be
 *                 set (WRMSR #GP(0), SDM 11.12.1) and the x2APIC MSRs #GP
 *   tsc-deadline  CPUID.1:ECX[24]; without it IA32_TSC_DEADLINE #GPs (SDM
 *                 11.5.4.1: the MSR exists only when the bit is reported)
 *   vmx           CPUID.1:ECX[5]; natively also VMX root operation for the
 *                 guest (vmx/vmx_root.h); the hypervisor hides it anyway
 *   vmwrite-any   IA32_VMX_MISC[29]; without it the guest hypervisor's
 *                 VMWRITE to a read-only field (the VM-exit information
 *                 fields) fails with VM-instruction error 13 (SDM 30.3)
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_internal.h"

static const struct {
    const char *name;
    uint32_t bit;   /* EMU_CPU_F_* */
    uint32_t ecx1;  /* CPUID.1:ECX bit */
    const char *what;
} features[] = {
    {"x2apic", EMU_CPU_F_X2APIC, 1u << 21, "x2APIC mode (IA32_APIC_BASE.EXTD, MSRs 800H-8FFH)"},
    {"tsc-deadline", EMU_CPU_F_TSC_DEADLINE, 1u << 24, "TSC-deadline timer mode (IA32_TSC_DEADLINE)"},
    {"vmx", EMU_CPU_F_VMX, 1u << 5, "VMX (native: VMX root operation for the guest; the built-in hypervisor hides it)"},
    {"vmwrite-any", EMU_CPU_F_VMWRITE_ANY, 0, "VMWRITE to VM-exit information fields (IA32_VMX_MISC[29])"},
};
#define NFEATURES (sizeof(features) / sizeof(features[0]))

bool emu_cpu_model_parse(const char *s, uint32_t *off, char *err, size_t errlen)
{
    *off = 0;
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    if (n != 3 || strncmp(s, "max", 3) != 0) {
        snprintf(err, errlen, "--cpu: unknown model '%.*s' (models: max; see apicv-emu info)", (int)n, s);
        return false;
    }
    while (comma) {
        const char *f = comma + 1;
        comma = strchr(f, ',');
        n = comma ? (size_t)(comma - f) : strlen(f);
        if (n < 2 || (f[0] != '+' && f[0] != '-')) {
            snprintf(err, errlen, "--cpu: expected +feature or -feature, got '%.*s'", (int)n, f);
            return false;
        }
        unsigned k;
        for (k = 0; k < NFEATURES; k++)
            if (strlen(features[k].name) == n - 1 && strncmp(f + 1, features[k].name, n - 1) == 0)
                break;
        if (k == NFEATURES) {
            snprintf(err, errlen, "--cpu: unknown feature '%.*s' (features: x2apic, tsc-deadline, vmx, vmwrite-any)",
                     (int)(n - 1), f + 1);
            return false;
        }
        if (f[0] == '-')
            *off |= features[k].bit;
        else
            *off &= ~features[k].bit;
    }
    return true;
}

void emu_cpu_model_cpuid(uint32_t off, uint32_t leaf, uint32_t out[4])
{
    if (leaf != 1)
        return;
    for (unsigned k = 0; k < NFEATURES; k++)
        if (off & features[k].bit)
            out[2] &= ~features[k].ecx1;
}

bool emu_cpu_model_msr_ok(uint32_t off, uint32_t msr, bool write, uint64_t val)
{
    if ((off & EMU_CPU_F_TSC_DEADLINE) && msr == APIC_MSR_TSC_DEADLINE)
        return false;
    if (off & EMU_CPU_F_X2APIC) {
        if (msr >= APIC_MSR_X2APIC_FIRST && msr <= APIC_MSR_X2APIC_LAST)
            return false;
        if (write && msr == APIC_MSR_BASE && (val & APIC_BASE_EXTD))
            return false;
    }
    return true;
}

void emu_cpu_model_print(FILE *f)
{
    fprintf(f, "CPU models (--cpu MODEL[,+feature|,-feature...]):\n"
               "  max          everything implemented (the default)\n"
               "features (each on in max; -feature takes it away, CPUID and MSRs follow):\n");
    for (unsigned k = 0; k < NFEATURES; k++)
        fprintf(f, "  %-12s %s\n", features[k].name, features[k].what);
}
