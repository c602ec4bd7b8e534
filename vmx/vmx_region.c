/*
 * vmx_region.c — the VMCS region in memory (SDM Vol. 3C 24.2 "Format of
 * the VMCS Region"): the revision identifier and VMX-abort indicator where
 * the SDM puts them, the data area in this implementation's own format
 * (vmx_root.h, docs/vmx.md): the launch state, then every field of
 * VMX_VMCS_FIELDS in table order, 8 bytes each. Software must not read or
 * write the data area (SDM 24.2); after VMCLEAR it holds the VMCS's data,
 * so a VMPTRLD on any CPU finds it there.
 */
#include "vmx/vmx_root.h"

#include <string.h>

#define VMX_REGION_ENC(name, enc) (enc),
static const uint32_t vmx_region_fields[] = {VMX_VMCS_FIELDS(VMX_REGION_ENC)};
#undef VMX_REGION_ENC
#define VMX_REGION_NFIELDS (sizeof(vmx_region_fields) / sizeof(vmx_region_fields[0]))
#define VMX_REGION_BYTES (VMX_REGION_DATA + 8 * VMX_REGION_NFIELDS)

_Static_assert(VMX_REGION_BYTES <= 4096, "the VMCS data must fit IA32_VMX_BASIC's 4 KiB region");

/* Where each field sits in the data area: its number in VMX_VMCS_FIELDS
 * plus 1, by storage slot (0: no field), built by the compiler. */
#define VMX_REGION_NUM(name, enc) VMX_REGION_NUM_##name,
enum { VMX_VMCS_FIELDS(VMX_REGION_NUM) VMX_REGION_NUM_END };
#undef VMX_REGION_NUM
#define VMX_REGION_BY_SLOT(name, enc) [VMX_VMCS_SLOT(enc)] = VMX_REGION_NUM_##name + 1,
static const uint16_t vmx_region_slot_num[VMX_VMCS_NSLOTS] = {VMX_VMCS_FIELDS(VMX_REGION_BY_SLOT)};
#undef VMX_REGION_BY_SLOT

/* The byte offset of a valid field encoding's 8 bytes in the region. */
static uint64_t vmx_region_field_offset(uint32_t enc)
{
    return VMX_REGION_DATA + 8u * (uint64_t)(vmx_region_slot_num[VMX_VMCS_SLOT(enc & ~VMX_ENC_HIGH)] - 1);
}

uint32_t vmx_region_revision(cpu_phys *phys, uint64_t pa)
{
    uint32_t rev = UINT32_MAX;
    const void *p = cpu_phys_ptr(phys, pa, 4);
    if (p)
        memcpy(&rev, p, 4);
    return rev;
}

void vmx_region_load(cpu_phys *phys, uint64_t pa, vmx_vmcs *vmcs)
{
    const uint8_t *p = cpu_phys_ptr(phys, pa, VMX_REGION_BYTES);
    if (!p) {
        /* Not RAM: reads return all ones, as for any unbacked access. */
        memset(vmcs, 0xFF, sizeof(*vmcs));
        vmcs->launch_state = VMX_LAUNCH_LAUNCHED;
        vmcs->checked = 0; /* nothing checked yet */
        return;
    }
    memset(vmcs, 0, sizeof(*vmcs));
    memcpy(&vmcs->revision, p + VMX_REGION_REVISION, 4);
    memcpy(&vmcs->abort, p + VMX_REGION_ABORT, 4);
    uint32_t launch;
    memcpy(&launch, p + VMX_REGION_LAUNCH, 4);
    vmcs->launch_state = launch == VMX_LAUNCH_LAUNCHED ? VMX_LAUNCH_LAUNCHED : VMX_LAUNCH_CLEAR;
    for (size_t k = 0; k < VMX_REGION_NFIELDS; k++) {
        uint64_t val;
        memcpy(&val, p + VMX_REGION_DATA + 8 * k, 8);
        vmx_vmcs_set(vmcs, vmx_region_fields[k], val);
    }
}

void vmx_region_store(cpu_phys *phys, uint64_t pa, const vmx_vmcs *vmcs)
{
    uint8_t *p = cpu_phys_ptr_write(phys, pa + VMX_REGION_ABORT, VMX_REGION_BYTES - VMX_REGION_ABORT);
    if (!p)
        return; /* outside RAM: the data goes nowhere */
    p -= VMX_REGION_ABORT;
    memcpy(p + VMX_REGION_ABORT, &vmcs->abort, 4);
    memcpy(p + VMX_REGION_LAUNCH, &vmcs->launch_state, 4);
    memset(p + VMX_REGION_LAUNCH + 4, 0, 4);
    for (size_t k = 0; k < VMX_REGION_NFIELDS; k++) {
        uint64_t val = vmx_vmcs_get(vmcs, vmx_region_fields[k]);
        memcpy(p + VMX_REGION_DATA + 8 * k, &val, 8);
    }
}

void vmx_region_set_launch(cpu_phys *phys, uint64_t pa, uint32_t launch_state)
{
    uint8_t *p = cpu_phys_ptr_write(phys, pa + VMX_REGION_LAUNCH, 4);
    if (p)
        memcpy(p, &launch_state, 4);
}

void vmx_region_set_abort(cpu_phys *phys, uint64_t pa, uint32_t indicator)
{
    uint8_t *p = cpu_phys_ptr_write(phys, pa + VMX_REGION_ABORT, 4);
    if (p)
        memcpy(p, &indicator, 4);
}

uint64_t vmx_region_field_get(cpu_phys *phys, uint64_t pa, uint32_t enc)
{
    uint64_t full = ~0ull;
    const void *p = cpu_phys_ptr(phys, pa + vmx_region_field_offset(enc), 8);
    if (p)
        memcpy(&full, p, 8);
    return full;
}

void vmx_region_field_put(cpu_phys *phys, uint64_t pa, uint32_t enc, uint64_t full)
{
    void *p = cpu_phys_ptr_write(phys, pa + vmx_region_field_offset(enc), 8);
    if (p)
        memcpy(p, &full, 8);
}
