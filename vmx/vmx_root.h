/*
 * vmx_root.h — VMX root operation for code running on the emulated CPU
 * (SDM Vol. 3C chapters 23, 24.1-24.2, 27.5, 31): a guest of the machine
 * becomes the hypervisor. It executes VMXON, builds VMCSs in its own memory
 * with VMCLEAR/VMPTRLD/VMWRITE, enters its guest with VMLAUNCH/VMRESUME and
 * gets every VM exit back in its own code (the host state of its VMCS).
 *
 * cpu/ decodes the VMX instructions and calls hooks.vmx; the machine points
 * that hook at vmx_root_insn. The non-root part is vmx/'s, unchanged: the
 * same vmx_vcpu (its VMCS is the processor's cached copy of the current
 * VMCS), vmx_vmentry, vmx_run and vmx_vmexit serve the built-in hypervisor
 * and this one alike. What differs is only what a VM exit returns to: here
 * vmx_root_run loads the VMCS's host-state area into the CPU (SDM 27.5) and
 * goes on running the guest hypervisor's code.
 *
 * The VMCS region in memory (4 KiB, IA32_VMX_BASIC[44:32]) holds, in this
 * implementation's own format (docs/vmx.md "The VMCS region"):
 *   +0   revision identifier (bits 30:0) and shadow-VMCS indicator (31), written by software
 *   +4   VMX-abort indicator
 *   +8   launch state (0 clear, 1 launched)
 *   +12  0
 *   +16  every field of VMX_VMCS_FIELDS, in that order, 8 bytes each
 * The processor keeps the current VMCS in vmx_vcpu.vmcs; VMCLEAR and a
 * VMPTRLD of another VMCS write it back there, VMPTRLD reads it from there.
 */
#ifndef APICV_VMX_ROOT_H
#define APICV_VMX_ROOT_H

#include "vmx/vmx.h"

/* The current-VMCS pointer when there is none (SDM 24.1). */
#define VMX_NO_VMCS UINT64_MAX

/* Offsets of the VMCS region (above). */
enum { VMX_REGION_REVISION = 0, VMX_REGION_ABORT = 4, VMX_REGION_LAUNCH = 8, VMX_REGION_DATA = 16 };

typedef struct vmx_root {
    vmx_vcpu v;          /* the current VMCS (cached) and the non-root machinery */
    uint64_t vmxon_ptr;  /* the VMXON region while in VMX operation */
    uint64_t current;    /* current-VMCS pointer, VMX_NO_VMCS when none */
    uint8_t entry_req;   /* a VM entry the instruction left to vmx_root_run: 0 none, 1 VMRESUME, 2 VMLAUNCH */
    uint64_t insns;      /* VMX instructions executed in root operation */
} vmx_root;

/* Binds the root state of one CPU (and its vmx_vcpu) to the CPU, its local
 * APIC, memory and the observer bus; sets the CR0/CR4 bits fixed in VMX
 * operation on the CPU (cpu_t.vmx_cr*_fixed*) from the capability MSRs.
 * The CPU starts outside VMX operation. */
void vmx_root_init(vmx_root *r, cpu_t *cpu, struct apic *apic, cpu_phys *phys, cpu_obs_bus *obs);

/* hooks.vmx: one VMX instruction in VMX root operation, or VMXON (SDM 31.3). */
cpu_vmx_result vmx_root_insn(vmx_root *r, cpu_vmx_op *op);

/* Runs the CPU as cpu_run does, in root and non-root operation alike: a
 * VMLAUNCH/VMRESUME that passed its instruction checks enters the guest
 * (vmx_vmentry) and the guest runs under vmx_run until a VM exit, which
 * loads the host state and continues in root operation. Returns like
 * cpu_run (HLT in either operation is CPU_STOP_HALT). */
cpu_stop vmx_root_run(vmx_root *r, uint64_t cycle_limit, uint64_t max_insns);

/* The cycle at which the CPU has something to do without any event from
 * outside: the VMX-preemption timer's deadline while its guest runs in
 * non-root operation (the timer counts in the HLT state too, SDM 25.5.1);
 * UINT64_MAX otherwise. A machine whose CPUs all sleep advances its clock
 * to this as to any other event. */
uint64_t vmx_root_wake_deadline(const vmx_root *r);

/* SDM 27.5 "Loading Host State": the host-state area of the current VMCS
 * into the CPU after a VM exit (or a VM entry that failed loading guest
 * state, SDM 26.7). vmx_root_run calls it; public for tests. */
void vmx_root_load_host_state(vmx_root *r);

/* The VMCS region (vmx_region.c): reads the region at pa into vmcs
 * (revision, abort indicator, launch state, fields); an address outside RAM
 * reads as all ones. Writes the cached copy back (abort indicator, launch
 * state, fields; never the revision, which belongs to software). Sets only
 * the launch state of a region. */
void vmx_region_load(cpu_phys *phys, uint64_t pa, vmx_vmcs *vmcs);
void vmx_region_store(cpu_phys *phys, uint64_t pa, const vmx_vmcs *vmcs);
void vmx_region_set_launch(cpu_phys *phys, uint64_t pa, uint32_t launch_state);
/* Writes the VMX-abort indicator of a region (SDM 27.7), nothing else. */
void vmx_region_set_abort(cpu_phys *phys, uint64_t pa, uint32_t indicator);
/* The first dword of a region (its revision identifier), all ones outside RAM. */
uint32_t vmx_region_revision(cpu_phys *phys, uint64_t pa);
/* One field of the region at pa, as a full 64-bit value (enc a valid
 * encoding, its "high" bit ignored): read (all ones outside RAM) and
 * written (nothing outside RAM) in place, with no other part of the region
 * touched. VMREAD/VMWRITE of a shadow VMCS in VMX non-root operation
 * (SDM 24.10, vmx_shadow.c) use them: that VMCS is never the current one
 * (SDM 26.3.1.5), so the processor holds no copy of it. */
uint64_t vmx_region_field_get(cpu_phys *phys, uint64_t pa, uint32_t enc);
void vmx_region_field_put(cpu_phys *phys, uint64_t pa, uint32_t enc, uint64_t full);

#endif
