/*
 * vmx_msrlist.c — the MSR lists of a VM entry and a VM exit (SDM Vol. 3C,
 * 2016 numbering): the VM-entry MSR-load area (26.4 "Loading MSRs"), the
 * VM-exit MSR-store area (27.4 "Saving MSRs") and the VM-exit MSR-load area
 * (27.6 "Loading MSRs"), and the VMX abort that a failure at a VM exit
 * causes (27.7 "VMX Aborts").
 *
 * An area is an array of 16-byte entries in physical memory (24.7.2,
 * 24.8.2): bits 31:0 the MSR index, 63:32 reserved (0), 127:64 the data.
 * The count and address were checked at VM entry (26.2.1.2, 26.2.1.3,
 * vmx_checks.c). The MSRs are those of the CPU as RDMSR and WRMSR at CPL 0
 * reach them, without the MSR bitmaps (cpu_msr_get / cpu_msr_set): the
 * lists are the processor's, not the guest's instructions.
 *
 * IA32_VMX_MISC bits 27:25 are 0: at most 512 entries per list are
 * processed (A.6). The SDM leaves a longer list unpredictable; here, as in
 * KVM, entry 513 of a load list fails the VM entry and a longer VM-exit
 * list is a VMX abort.
 */
#include "vmx/vmx_internal.h"

#include <string.h>

enum {
    MSR_UCODE_WRITE = 0x79,      /* IA32_BIOS_UPDT_TRIG */
    MSR_UCODE_REV = 0x8B,        /* IA32_BIOS_SIGN_ID */
    MSR_SMM_MONITOR_CTL = 0x9B,  /* written only in SMM */
    MSR_SMBASE = 0x9E,           /* read only in SMM */
    MSR_FS_BASE = 0xC0000100,
    MSR_GS_BASE = 0xC0000101,
};

/* Reads entry i of the area at addr: false outside RAM (the entry then
 * reads as all ones and fails its checks). */
static bool vmx_msr_entry(vmx_vcpu *v, uint64_t addr, uint32_t i, uint64_t *lo, uint64_t *data)
{
    const uint8_t *p = cpu_phys_ptr(v->phys, addr + 16ull * i, 16);
    if (!p) {
        *lo = *data = ~0ull;
        return false;
    }
    memcpy(lo, p, 8);
    memcpy(data, p + 8, 8);
    return true;
}

/* The index rules common to the three lists: reserved bits 63:32 clear,
 * not an x2APIC MSR (bits 31:8 = 000008H), not one this model refuses for
 * "model-specific reasons" (the microcode update trigger and revision, as
 * KVM refuses them). */
static bool vmx_msr_index_ok(uint64_t lo)
{
    uint32_t msr = (uint32_t)lo;
    return (lo >> 32) == 0 && (msr >> 8) != 0x8 && msr != MSR_UCODE_WRITE && msr != MSR_UCODE_REV;
}

/* One entry of a load list (26.4, 27.6): the checks, then WRMSR's write. */
static bool vmx_msr_load_one(vmx_vcpu *v, uint64_t lo, uint64_t data)
{
    uint32_t msr = (uint32_t)lo;
    if (!vmx_msr_index_ok(lo) || msr == MSR_FS_BASE || msr == MSR_GS_BASE ||
        msr == MSR_SMM_MONITOR_CTL)
        return false;
    return cpu_msr_set(v->cpu, msr, data);
}

/* Processes a load list in order; 0 when every entry loaded, else the
 * 1-based number of the entry that failed (the ones before it stay
 * loaded, as on the processor). */
static uint32_t vmx_msr_load_list(vmx_vcpu *v, uint64_t count, uint64_t addr)
{
    for (uint32_t i = 0; i < count; i++) {
        uint64_t lo, data;
        if (i >= VMX_MSR_LIST_MAX || !vmx_msr_entry(v, addr, i, &lo, &data) ||
            !vmx_msr_load_one(v, lo, data))
            return i + 1;
    }
    return 0;
}

uint32_t vmx_msr_entry_load(vmx_vcpu *v)
{
    uint64_t count = VMCS(v, ENTRY_MSR_LOAD_COUNT);
    if (count == 0)
        return 0;
    /* Loaded as the physical CPU's MSRs: a write of IA32_TSC sets the
     * TSC itself, under the guest's TSC offset (SDM 24.6.5). */
    cpu_t *c = v->cpu;
    uint64_t offset = c->tsc_offset - v->root_tsc_offset;
    c->tsc_offset = v->root_tsc_offset;
    uint32_t failed = vmx_msr_load_list(v, count, VMCS(v, ENTRY_MSR_LOAD_ADDR));
    v->root_tsc_offset = c->tsc_offset;
    c->tsc_offset += offset;
    return failed;
}

bool vmx_msr_exit_store(vmx_vcpu *v)
{
    uint64_t count = VMCS(v, EXIT_MSR_STORE_COUNT), addr = VMCS(v, EXIT_MSR_STORE_ADDR);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t lo, data;
        if (i >= VMX_MSR_LIST_MAX || !vmx_msr_entry(v, addr, i, &lo, &data))
            return false;
        uint32_t msr = (uint32_t)lo;
        if (!vmx_msr_index_ok(lo) || msr == MSR_SMBASE || !cpu_msr_get(v->cpu, msr, &data))
            return false;
        /* Bits 127:64 receive the value (the entry is in RAM: just read). */
        cpu_phys_write(v->phys, addr + 16ull * i + 8, &data, 8);
    }
    return true;
}

bool vmx_msr_exit_load(vmx_vcpu *v)
{
    uint64_t count = VMCS(v, EXIT_MSR_LOAD_COUNT);
    return count == 0 || vmx_msr_load_list(v, count, VMCS(v, EXIT_MSR_LOAD_ADDR)) == 0;
}

const char *vmx_abort_name(uint32_t indicator)
{
    switch (indicator) {
    case VMX_ABORT_SAVE_GUEST_MSR: return "failure saving guest MSRs";
    case VMX_ABORT_HOST_PDPTE: return "host checking of the PDPTEs failed";
    case VMX_ABORT_VMCS_CORRUPT: return "the current VMCS was corrupted";
    case VMX_ABORT_LOAD_HOST_MSR: return "failure loading host MSRs";
    case VMX_ABORT_MACHINE_CHECK: return "machine-check event during the VM exit";
    default: return "unknown VMX-abort indicator";
    }
}

void vmx_abort(vmx_vcpu *v, uint32_t indicator)
{
    cpu_t *c = v->cpu;
    /* SDM 27.7: the indicator goes into the VMCS (its region's second
     * dword: vmx_root writes it there), and the processor enters the
     * shutdown state instead of completing the exit. */
    v->vmcs.abort = indicator;
    v->aborted = indicator;
    v->exited = false;
    v->non_root = false;
    c->halted = 1;
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_ABORT, indicator,
                 VMCS(v, EXIT_REASON), c->rip, 0);
}
