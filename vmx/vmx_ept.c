/*
 * vmx_ept.c — extended page tables (SDM Vol. 3C 28.2 "The Extended Page
 * Table Mechanism (EPT)", 2016 numbering): the 4-level walk with 4-KByte,
 * 2-MByte and 1-GByte pages, R/W/X permissions, EPT misconfigurations
 * (28.2.3.1) and EPT violations (28.2.3.2) with their exit qualification
 * (27.2.1 table 27-7). No accessed/dirty flags (not reported in
 * IA32_VMX_EPT_VPID_CAP) and no #VE.
 */
#include <string.h>

#include "vmx/vmx_internal.h"

#define EPT_R 1ull
#define EPT_W 2ull
#define EPT_X 4ull
#define EPT_LARGE (1ull << 7)
#define EPT_ADDR (((1ull << CPU_MAXPHYADDR) - 1) & ~0xFFFull)
#define EPT_RSVD_HIGH (((1ull << 52) - 1) & ~((1ull << CPU_MAXPHYADDR) - 1))

/* SDM 28.2.3.1: an entry is misconfigured if it is write-only (W without
 * R), has reserved bits set, or (as a leaf) a reserved memory type (2, 3,
 * 7). Execute-only entries are allowed (capability bit 0). */
static bool vmx_ept_misconfigured(uint64_t e, unsigned level, bool leaf)
{
    if ((e & EPT_W) && !(e & EPT_R))
        return true;
    if (e & EPT_RSVD_HIGH)
        return true;
    if (!leaf)
        return (e & 0xF8) != 0; /* bits 7:3 of a non-leaf entry are reserved */
    unsigned mt = (e >> 3) & 7;
    if (mt == 2 || mt == 3 || mt == 7)
        return true;
    /* Large-page entries: the address bits below the page size are reserved. */
    if (level == 1 && (e & 0x3FFFF000ull))
        return true;
    if (level == 2 && (e & 0x1FF000ull))
        return true;
    return false;
}

/* Exit qualification of an EPT violation (SDM 27.2.1 table 27-7): access
 * 2:0 (read, write, fetch), permissions of the translation 5:3 (AND over
 * the levels walked), guest linear address not reported (bit 7 = 0: the
 * interpreter does not hand the linear address to the translate hook). */
static uint64_t vmx_ept_violation_qual(cpu_access acc, uint64_t perms)
{
    uint64_t q;
    switch (acc) {
    case CPU_ACC_WRITE: q = 2; break;
    case CPU_ACC_FETCH: q = 4; break;
    default: q = 1; break;
    }
    return q | ((perms & 7) << 3);
}

/* The EPT walk of one guest-physical address (SDM 28.2.2 translation,
 * 28.2.3 violations and misconfigurations). */
vmx_ept_result vmx_ept_walk(cpu_phys *phys, uint64_t eptp, uint64_t gpa, cpu_access acc,
                            uint64_t *hpa, uint64_t *qual, uint64_t *entry)
{
    return vmx_ept_walk_bounded(phys, eptp, gpa, acc, 0, hpa, qual, entry);
}

/* The walk with its paging structures confined below tables_below: what a
 * hypervisor does with tables its guest built, which it reads through its
 * own map of the guest's memory (KVM's nested EPT walk reads L1's tables by
 * guest-physical address): an entry outside that memory is not present, an
 * EPT violation, and never a read of the host's own pages. */
vmx_ept_result vmx_ept_walk_bounded(cpu_phys *phys, uint64_t eptp, uint64_t gpa, cpu_access acc,
                                    uint64_t tables_below, uint64_t *hpa, uint64_t *qual,
                                    uint64_t *entry)
{
    uint64_t table = eptp & EPT_ADDR;
    uint64_t perms = EPT_R | EPT_W | EPT_X;
    *qual = 0;
    for (unsigned level = 0; level < 4; level++) {
        unsigned shift = 39 - 9 * level;
        uint64_t e = 0;
        uint64_t ea = table + ((gpa >> shift) & 511) * 8;
        const uint8_t *p = tables_below && ea >= tables_below ? NULL : cpu_phys_ptr(phys, ea, 8);
        if (p)
            for (unsigned b = 0; b < 8; b++)
                e |= (uint64_t)p[b] << (8 * b);
        *entry = e;
        bool present = (e & 7) != 0;
        bool leaf = level == 3 || ((level == 1 || level == 2) && (e & EPT_LARGE));
        /* PML4E bit 7 is reserved: vmx_ept_misconfigured sees it as a
         * non-leaf reserved bit. */
        if (present && vmx_ept_misconfigured(e, level, leaf))
            return VMX_EPT_MISCONFIG;
        perms &= present ? (e & 7) : 0;
        bool allowed = acc == CPU_ACC_WRITE   ? (perms & EPT_W) != 0
                       : acc == CPU_ACC_FETCH ? (perms & EPT_X) != 0
                                              : (perms & EPT_R) != 0;
        if (!present || (leaf && !allowed)) {
            *qual = vmx_ept_violation_qual(acc, perms);
            return VMX_EPT_VIOLATION;
        }
        if (leaf) {
            uint64_t mask = level == 1 ? 0x3FFFFFFFull : level == 2 ? 0x1FFFFFull : 0xFFFull;
            *hpa = (e & EPT_ADDR & ~mask) | (gpa & mask);
            *qual = (perms & 7) << 3;
            return VMX_EPT_OK;
        }
        table = e & EPT_ADDR;
    }
    return VMX_EPT_VIOLATION;
}

/* SDM 28.4.3.1 (2016 numbering; 29.4.3.1 later): INVEPT invalidates the
 * guest-physical mappings; a processor may drop more at any time, and
 * this one drops all of them at every VM entry and exit as well, so a
 * hypervisor that changes EPT entries between exits never meets a stale
 * one. A new generation makes every entry stale at once. */
void vmx_ept_cache_flush(vmx_vcpu *v)
{
    if (++v->ept_cache_gen == 0) {
        memset(v->ept_cache, 0, sizeof v->ept_cache);
        v->ept_cache_gen = 1;
    }
}

static bool ept_perms_allow(unsigned perms, cpu_access acc)
{
    switch (acc) {
    case CPU_ACC_WRITE: return (perms & EPT_W) != 0;
    case CPU_ACC_FETCH: return (perms & EPT_X) != 0;
    default: return (perms & EPT_R) != 0;
    }
}

/* The interpreter fills its TLB from guest paging alone: a page EPT
 * restricts must not get a fast path (vmx_hook_page_kind). Page-walk
 * reads never fill the TLB. */
static void ept_arm_trap(vmx_vcpu *v, unsigned perms, cpu_access acc, uint64_t hpa)
{
    if (perms != 7 && acc != CPU_ACC_WALK) {
        v->ept_trap_armed = true;
        v->ept_trap_page = hpa & ~0xFFFull;
    }
}

/* cpu_hooks.translate while "enable EPT" = 1: an EPT violation or
 * misconfiguration is a VM exit (48 / 49) with the guest-physical address.
 * Successful walks are cached as guest-physical mappings (SDM 28.4.1):
 * after a guest TLB flush (MOV to CR3 or CR4.PGE, which invalidate only
 * linear and combined mappings, SDM 28.4.3.1) the guest's page walks do
 * not walk EPT again for every paging-structure entry. Only an access the
 * cached rights allow is answered from the cache; any other walks EPT
 * (and so finds the violation with its qualification). */
bool vmx_ept_translate(void *ctx, cpu_t *c, uint64_t gpa, cpu_access acc, uint64_t *hpa)
{
    vmx_vcpu *v = ctx;
    uint64_t eptp = VMCS(v, EPT_POINTER);
    uint64_t tag = (gpa & ~0xFFFull) | 1;
    vmx_ept_cached *ce = &v->ept_cache[(gpa >> 12) & (VMX_EPT_CACHE - 1)];
    if (ce->tag == tag && ce->gen == v->ept_cache_gen && v->ept_cache_eptp == eptp &&
        ept_perms_allow(ce->perms, acc)) {
        *hpa = ce->hpa_page | (gpa & 0xFFF);
        ept_arm_trap(v, ce->perms, acc, *hpa);
        return true;
    }
    uint64_t qual, entry;
    vmx_ept_result r = vmx_ept_walk_bounded(v->phys, eptp, gpa, acc, v->ept_tables_below, hpa,
                                            &qual, &entry);
    if (r == VMX_EPT_OK) {
        if (v->ept_cache_eptp != eptp) {
            vmx_ept_cache_flush(v);
            v->ept_cache_eptp = eptp;
        }
        ce->tag = tag;
        ce->hpa_page = *hpa & ~0xFFFull;
        ce->gen = v->ept_cache_gen;
        ce->perms = (uint8_t)((qual >> 3) & 7);
        ept_arm_trap(v, ce->perms, acc, *hpa);
        return true;
    }
    /* SDM 28.4.3.1: an EPT violation invalidates the mappings that would
     * translate its guest-physical address. */
    if (ce->tag == tag)
        ce->tag = 0;
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_EPT_WALK_FAULT, gpa, entry, c->rip, acc);
    vmx_exit_info ei = {.qualification = qual, .guest_physical = gpa, .has_guest_physical = true};
    if (r == VMX_EPT_VIOLATION && c->xlat_linear) {
        /* SDM 27.2.1 (Table 27-7): bit 7, the guest-linear-address field
         * is valid; bit 8, the access was to the linear address's
         * translation (clear: to a guest paging-structure entry). */
        ei.qualification |= 1ull << 7;
        if (acc != CPU_ACC_WALK)
            ei.qualification |= 1ull << 8;
        ei.guest_linear = c->xlat_va;
        ei.has_guest_linear = true;
    }
    vmx_vmexit(v, r == VMX_EPT_MISCONFIG ? VMX_EXIT_EPT_MISCONFIG : VMX_EXIT_EPT_VIOLATION, &ei);
    return false;
}
