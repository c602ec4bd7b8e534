/*
 * emu_hv_policy.c — what a guest may put in the VMCS fields that hold a
 * physical address (guest ABI "Hypercalls", the paragraph after the table;
 * docs/guest-abi.md "What a guest can reach").
 *
 * A hardware VMCS holds host-physical addresses: whoever writes them decides
 * what the processor reads and writes behind the guest's back (SDM Vol. 3C
 * 24.6 "VM-Execution Control Fields", 24.7.2 / 24.8.2 MSR areas, 24.4.2 the
 * VMCS link pointer). The guest reaches those fields through VMCS_WRITE and
 * VAPIC_* / PID_* through them, so each may hold only
 *   - the value the host itself put there when it set the vCPU up, or
 *   - an address whose structure lies wholly in the guest's RAM (its own
 *     memory: nothing of anyone else's can be reached through it), or
 *   - for the APIC-access address only (the processor never reads or
 *     writes that page, it only compares addresses with it: SDM 29.4), any
 *     page outside RAM that is not in the host's own memory.
 * Anything else — a page of the host's structures above all, another
 * vCPU's virtual-APIC page or descriptor, this vCPU's own bitmap named by a
 * different field — is refused as VM entry would refuse a bad control:
 * VM-instruction error 7 (SDM 30.4), the old value kept.
 */
#include <stdio.h>

#include "emu/emu_hv_internal.h"

/* The fields of SDM Vol. 3D appendix B that hold a physical address, with
 * the size of what each names (SDM 24.6.4 I/O bitmaps A and B, 4 KiB each;
 * 24.6.9 MSR bitmap, 4 KiB; 24.7.2 / 24.8.2 MSR-store and -load areas, 16
 * bytes per entry of their count field; 24.6.8 virtual-APIC and APIC-access
 * pages; 29.6 posted-interrupt descriptor, 64 bytes; 24.6.11 EPTP, whose
 * bits 11:0 are flags; 24.6.14 EPTP list; 24.6.15 VMREAD/VMWRITE bitmaps;
 * 24.6.16 #VE information area; 24.6.18 PML address; 24.6.19 SPP table;
 * 34.15.5 executive-VMCS pointer; 24.4.2 VMCS link pointer). The EOI-exit,
 * XSS-exiting and ENCLS-exiting "bitmaps" are values, not addresses (24.6.8,
 * 24.6.20, 24.6.16), and the host-state fields are nominal here: the host
 * runs in C and never executes with them. */
static const struct {
    uint32_t enc;
    uint32_t count_enc; /* MSR areas: the count field (entries of 16 bytes) */
    uint32_t size;      /* bytes named, from the address's page offset */
} hv_addr_fields[EMU_HV_NADDR_FIELDS] = {
    {VMCS_IO_BITMAP_A, 0, CPU_PAGE_SIZE},
    {VMCS_IO_BITMAP_B, 0, CPU_PAGE_SIZE},
    {VMCS_MSR_BITMAP, 0, CPU_PAGE_SIZE},
    {VMCS_EXIT_MSR_STORE_ADDR, VMCS_EXIT_MSR_STORE_COUNT, 16},
    {VMCS_EXIT_MSR_LOAD_ADDR, VMCS_EXIT_MSR_LOAD_COUNT, 16},
    {VMCS_ENTRY_MSR_LOAD_ADDR, VMCS_ENTRY_MSR_LOAD_COUNT, 16},
    {VMCS_EXECUTIVE_VMCS_PTR, 0, CPU_PAGE_SIZE},
    {VMCS_PML_ADDR, 0, CPU_PAGE_SIZE},
    {VMCS_VIRTUAL_APIC_ADDR, 0, CPU_PAGE_SIZE},
    {VMCS_APIC_ACCESS_ADDR, 0, CPU_PAGE_SIZE},
    {VMCS_POSTED_INTR_DESC_ADDR, 0, 64},
    {VMCS_EPT_POINTER, 0, CPU_PAGE_SIZE},
    {VMCS_EPTP_LIST_ADDR, 0, CPU_PAGE_SIZE},
    {VMCS_VMREAD_BITMAP, 0, CPU_PAGE_SIZE},
    {VMCS_VMWRITE_BITMAP, 0, CPU_PAGE_SIZE},
    {VMCS_VE_INFO_ADDR, 0, CPU_PAGE_SIZE},
    {VMCS_SPP_TABLE_PTR, 0, CPU_PAGE_SIZE},
    {VMCS_VMCS_LINK_PTR, 0, CPU_PAGE_SIZE},
};

static int hv_addr_field_index(uint32_t full)
{
    for (int i = 0; i < EMU_HV_NADDR_FIELDS; i++)
        if (hv_addr_fields[i].enc == full)
            return i;
    return -1;
}

void hv_policy_record_host_values(emu_hv_vcpu *vc)
{
    for (int i = 0; i < EMU_HV_NADDR_FIELDS; i++)
        vc->host_addr[i] = vmx_vmcs_read_fast(&vc->vmx.vmcs, hv_addr_fields[i].enc);
}

/* [first, first + len) lies wholly in guest RAM (no wrap-around). */
static bool hv_in_ram(const emu_hv *hv, uint64_t first, uint64_t len)
{
    uint64_t ram = hv->m->phys.ram_size;
    return first < ram && len <= ram - first;
}

static bool hv_in_host_memory(const emu_hv *hv, uint64_t page)
{
    const cpu_phys *p = &hv->m->phys;
    return page >= p->host_base && page - p->host_base < p->host_size;
}

/* Field i of vc's VMCS holding val: allowed by the policy? */
static bool hv_addr_allowed(const emu_hv *hv, const emu_hv_vcpu *vc, int i, uint64_t val)
{
    if (val == vc->host_addr[i])
        return true;
    uint64_t page = val & ~(uint64_t)(CPU_PAGE_SIZE - 1);
    uint64_t len = hv_addr_fields[i].size;
    if (hv_addr_fields[i].count_enc) {
        /* An MSR area spans pages: every one of them must be the guest's. */
        uint64_t count = vmx_vmcs_read_fast(&vc->vmx.vmcs, hv_addr_fields[i].count_enc);
        len = (val - page) + (count ? count : 1) * 16;
    } else if (len < CPU_PAGE_SIZE) {
        len = CPU_PAGE_SIZE; /* the descriptor's page */
    }
    if (hv_in_ram(hv, page, len))
        return true;
    return hv_addr_fields[i].enc == VMCS_APIC_ACCESS_ADDR && page >= hv->m->phys.ram_size &&
           !hv_in_host_memory(hv, page);
}

static void hv_policy_why(const emu_hv *hv, const emu_hv_vcpu *vc, int i, uint64_t val, char *why,
                          size_t len)
{
    if (!why || !len)
        return;
    snprintf(why, len,
             "VMCS field %#x (%s) = %#llx: expected the host's value %#llx or an address in guest "
             "RAM (below %#llx)%s; %s",
             hv_addr_fields[i].enc, vmx_vmcs_field_name(hv_addr_fields[i].enc),
             (unsigned long long)val, (unsigned long long)vc->host_addr[i],
             (unsigned long long)hv->m->phys.ram_size,
             hv_addr_fields[i].enc == VMCS_APIC_ACCESS_ADDR
                 ? ", or a page outside RAM that is not the host's"
                 : "",
             hv_in_host_memory(hv, val & ~(uint64_t)(CPU_PAGE_SIZE - 1))
                 ? "it names the hypervisor's own memory"
                 : "it is not the guest's memory");
}

unsigned emu_hv_guest_vmwrite(emu_hv *hv, unsigned k, uint64_t enc, uint64_t val, char *why,
                              size_t len)
{
    emu_hv_vcpu *vc = &hv->vcpu[k];
    /* The VM-exit information fields are this host's record of the exit
     * it handles: VMCS_WRITE refuses them with VM-instruction error 13, as
     * VMWRITE does where IA32_VMX_MISC[29] = 0 (SDM 30.3). The guest ABI
     * keeps that, though the MSR now reports 1 for guest hypervisors
     * (VMCS shadowing, docs/vmx.md). */
    if ((enc >> 32) == 0 && vmx_vmcs_field_readonly((uint32_t)enc)) {
        vmx_vmcs_set(&vc->vmx.vmcs, VMCS_VM_INSN_ERROR, VMX_ERR_WRITE_READONLY);
        return VMX_ERR_WRITE_READONLY;
    }
    if ((enc >> 32) == 0 && vmx_vmcs_field_valid((uint32_t)enc)) {
        uint32_t full = (uint32_t)enc & ~(uint32_t)VMX_ENC_HIGH;
        int i = hv_addr_field_index(full);
        if (i >= 0) {
            /* The whole field as this write would leave it (a "high"
             * access writes bits 63:32 only: SDM 24.11.2). */
            uint64_t now = vmx_vmcs_read_fast(&vc->vmx.vmcs, full);
            uint64_t after = (enc & VMX_ENC_HIGH) ? (now & 0xFFFFFFFFull) | (val << 32) : val;
            if (!hv_addr_allowed(hv, vc, i, after)) {
                /* As VM entry reports a bad control: VMfailValid(7). */
                vmx_vmcs_set(&vc->vmx.vmcs, VMCS_VM_INSN_ERROR, VMX_ERR_ENTRY_INVALID_CONTROL);
                hv_policy_why(hv, vc, i, after, why, len);
                return VMX_ERR_ENTRY_INVALID_CONTROL;
            }
        }
    }
    return vmx_vcpu_vmwrite(&vc->vmx, enc, val);
}

bool hv_policy_check_entry(const emu_hv *hv, const emu_hv_vcpu *vc, uint32_t *field, char *why,
                           size_t len)
{
    for (int i = 0; i < EMU_HV_NADDR_FIELDS; i++) {
        uint64_t val = vmx_vmcs_read_fast(&vc->vmx.vmcs, hv_addr_fields[i].enc);
        if (!hv_addr_allowed(hv, vc, i, val)) {
            if (field)
                *field = hv_addr_fields[i].enc;
            hv_policy_why(hv, vc, i, val, why, len);
            return false;
        }
    }
    return true;
}
