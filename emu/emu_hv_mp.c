/*
 * emu_hv_mp.c — Multiboot kernels under the built-in hypervisor: guests
 * that start in 32-bit protected mode with paging off and whose APs start
 * in real mode through INIT and STARTUP IPIs (docs/multiboot.md).
 *
 * As KVM runs such guests on Intel hardware (vmx.c, enable_unrestricted_guest):
 *   - "unrestricted guest" (SDM 24.6.2, 26.3.1.1) with an EPT identity map
 *     of guest RAM (SDM 28.2), built once in host-owned memory: 2-MByte
 *     pages, and 4-KByte pages around the device pages. The APIC-access
 *     page is mapped (its accesses become APIC-access exits, SDM 29.4); the
 *     I/O APIC page and every other device page are not, so an access is
 *     an EPT violation (exit 48, SDM 28.2.3.2) the hypervisor completes by
 *     emulating the instruction (hv_emulate_insn) on the machine's devices;
 *   - CR0.NE is fixed to 1 in VMX operation (IA32_VMX_CR0_FIXED0): the host
 *     owns it through the CR0 guest/host mask and the guest reads its own
 *     value from the read shadow (SDM 24.6.6); a guest write that changes a
 *     host-owned bit exits (28) and the host completes it;
 *   - the APs wait for SIPI in the wait-for-SIPI activity state (SDM
 *     24.4.2). A guest's INIT IPI reaches the target's physical local APIC
 *     as an INIT signal, which in non-root operation is a VM exit (3, SDM
 *     25.2): the host puts the vCPU in the INIT state of SDM Table 9-1 and
 *     in wait-for-SIPI. A STARTUP IPI reaches the physical APIC as a SIPI,
 *     a VM exit (4) in that state with the vector in the qualification: the
 *     host starts the vCPU in real mode at CS = vector << 8, IP = 0.
 *
 * Our own ABI guests (64-bit from the start) keep the hypervisor's set-up
 * without EPT, as before: only machines that booted a Multiboot kernel get
 * this one (hv->mp).
 */
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

#define EPT_RWX 7ull
#define EPT_WB (6ull << 3)
#define EPT_LARGE (1ull << 7)
#define PAGE_2M (1ull << 21)

static bool ept_table(cpu_phys *p, uint64_t *pa)
{
    *pa = cpu_phys_host_alloc(p, CPU_PAGE_SIZE);
    return *pa != 0;
}

static void ept_set(cpu_phys *p, uint64_t table, unsigned index, uint64_t entry)
{
    uint8_t *t = cpu_phys_ptr_write(p, table + index * 8u, 8);
    memcpy(t, &entry, 8);
}

static uint64_t ept_get(cpu_phys *p, uint64_t table, unsigned index)
{
    uint64_t e = 0;
    cpu_phys_read(p, table + index * 8u, &e, 8);
    return e;
}

/* Whether guest-physical page pa is mapped: guest RAM that no device owns,
 * and the APIC-access page. */
static bool ept_maps(emu_machine *m, uint64_t pa)
{
    if (pa == APIC_DEFAULT_BASE)
        return true;
    return pa < m->phys.ram_size && !emu_bus_owns_page(m, pa);
}

/* The identity map (SDM 28.2.2: a 4-level walk; EPTP memory type WB,
 * walk length 4 - 1). Returns the EPTP, or 0 when host memory ran out. */
static uint64_t hv_build_ept(emu_machine *m)
{
    cpu_phys *p = &m->phys;
    uint64_t pml4, pdpt;
    if (!ept_table(p, &pml4) || !ept_table(p, &pdpt))
        return 0;
    ept_set(p, pml4, 0, pdpt | EPT_RWX);
    uint64_t top = m->phys.ram_size > APIC_DEFAULT_BASE + CPU_PAGE_SIZE
                       ? m->phys.ram_size
                       : APIC_DEFAULT_BASE + CPU_PAGE_SIZE;
    for (uint64_t region = 0; region < top; region += PAGE_2M) {
        unsigned gib = (unsigned)(region >> 30), pde = (unsigned)((region >> 21) & 511);
        uint64_t pd = ept_get(p, pdpt, gib) & ~0xFFFull;
        if (!pd) {
            if (!ept_table(p, &pd))
                return 0;
            ept_set(p, pdpt, gib, pd | EPT_RWX);
        }
        unsigned mapped = 0;
        for (uint64_t pa = region; pa < region + PAGE_2M; pa += CPU_PAGE_SIZE)
            mapped += ept_maps(m, pa);
        if (mapped == 0)
            continue;
        if (mapped == PAGE_2M / CPU_PAGE_SIZE) {
            ept_set(p, pd, pde, region | EPT_RWX | EPT_WB | EPT_LARGE);
            continue;
        }
        uint64_t pt;
        if (!ept_table(p, &pt))
            return 0;
        ept_set(p, pd, pde, pt | EPT_RWX);
        for (unsigned k = 0; k < 512; k++) {
            uint64_t pa = region + (uint64_t)k * CPU_PAGE_SIZE;
            if (ept_maps(m, pa))
                ept_set(p, pt, k, pa | EPT_RWX | EPT_WB);
        }
    }
    return pml4 | 6 | (3ull << 3); /* EPTP: type WB (2:0), walk length - 1 (5:3) */
}

/* The guest's CR0 as the VMCS holds it: NE forced to 1, the guest's own
 * value in the read shadow (SDM 24.6.6). */
static void hv_set_guest_cr0(emu_hv_vcpu *vc, uint64_t cr0)
{
    HV_VMCS_SET(vc, CR0_READ_SHADOW, cr0);
    HV_VMCS_SET(vc, GUEST_CR0, cr0 | CPU_CR0_NE);
}

/* The guest state of vCPU vc's cpu_t into its VMCS, for a legacy-mode
 * guest: the activity state given, nothing pending or blocked. */
static void hv_load_from_cpu(emu_hv_vcpu *vc, unsigned activity)
{
    cpu_t *c = vc->vmx.cpu;
    vmx_setup_guest_from_cpu(&vc->vmx);
    hv_set_guest_cr0(vc, c->cr0);
    HV_VMCS_SET(vc, GUEST_ACTIVITY_STATE, activity);
    HV_VMCS_SET(vc, GUEST_INTERRUPTIBILITY, 0);
    HV_VMCS_SET(vc, GUEST_PENDING_DBG, 0);
    HV_VMCS_SET(vc, ENTRY_INTR_INFO, 0);
}

bool hv_mp_setup(emu_hv *hv, char *err, size_t errlen)
{
    emu_machine *m = hv->m;
    hv->mp = true;
    hv->eptp = hv_build_ept(m);
    if (!hv->eptp) {
        snprintf(err, errlen, "hypervisor: host-owned memory exhausted for the EPT identity map");
        return false;
    }
    for (unsigned k = 0; k < hv->ncpus; k++) {
        emu_hv_vcpu *vc = &hv->vcpu[k];
        HV_VMCS_SET(vc, PROC_CONTROLS2,
                    HV_VMCS(vc, PROC_CONTROLS2) | VMX_PROC2_EPT | VMX_PROC2_UNRESTRICTED);
        HV_VMCS_SET(vc, EPT_POINTER, hv->eptp);
        HV_VMCS_SET(vc, CR0_GUEST_HOST_MASK, HV_VMCS(vc, CR0_GUEST_HOST_MASK) | CPU_CR0_NE);
        /* The APs wait for SIPI after RESET (emu_smp_hold_aps). */
        hv_load_from_cpu(vc, m->wait_sipi[k] ? VMX_ACTIVITY_WAIT_SIPI : VMX_ACTIVITY_ACTIVE);
    }
    return true;
}

void hv_mp_prepare_entry(emu_hv *hv, emu_hv_vcpu *vc)
{
    /* The walk reads the host's own tables for the host's EPTP only; one a
     * guest wrote (VMCS_WRITE: guest RAM, emu_hv_policy.c) is confined to
     * guest RAM. */
    vc->vmx.ept_tables_below = HV_VMCS(vc, EPT_POINTER) == hv->eptp ? 0 : hv->m->phys.ram_size;
    /* A CPU started by INIT/SIPI has TR type 3 (busy 16-bit TSS, SDM Vol. 3A
     * Table 10-1) and may enter IA-32e mode before any LTR; the processor
     * does not care, but VM entry wants type 11 in an IA-32e guest (SDM
     * 26.3.1.2). Like KVM's enter_lmode "TSS fixup", the host makes it a
     * busy 64-bit TSS; the guest cannot observe the type until it loads TR. */
    uint64_t tr_ar = HV_VMCS(vc, GUEST_TR_AR);
    if ((HV_VMCS(vc, ENTRY_CONTROLS) & VMX_ENTRY_IA32E) && (tr_ar & 0xF) == 3)
        HV_VMCS_SET(vc, GUEST_TR_AR, (tr_ar & ~0xFull) | 11);
}

/* MOV to CR0 / CLTS / LMSW that changed NE (exit 28; SDM 27.2.1 table
 * 27-3): the new value as the guest sees it goes to the read shadow, with
 * NE forced in the real CR0; PG turned on with EFER.LME makes the guest
 * IA-32e (LMA and the entry control, SDM 26.3.2.1), PG off leaves it. */
bool hv_mp_cr0_write(emu_hv *hv, emu_hv_vcpu *vc, uint64_t val)
{
    (void)hv;
    uint64_t old = HV_VMCS(vc, CR0_READ_SHADOW);
    if ((val >> 32) || ((val & CPU_CR0_PG) && !(val & CPU_CR0_PE)) ||
        ((val & CPU_CR0_NW) && !(val & CPU_CR0_CD)))
        return false; /* #GP(0) (SDM Vol. 2 "MOV to CR0") */
    val |= CPU_CR0_ET;
    hv_set_guest_cr0(vc, val);
    if ((old ^ val) & CPU_CR0_PG) {
        uint64_t efer = HV_VMCS(vc, GUEST_EFER);
        uint64_t entry = HV_VMCS(vc, ENTRY_CONTROLS) & ~(uint64_t)VMX_ENTRY_IA32E;
        efer &= ~(uint64_t)CPU_EFER_LMA;
        if ((val & CPU_CR0_PG) && (efer & CPU_EFER_LME)) {
            efer |= CPU_EFER_LMA;
            entry |= VMX_ENTRY_IA32E;
        }
        HV_VMCS_SET(vc, GUEST_EFER, efer);
        HV_VMCS_SET(vc, ENTRY_CONTROLS, entry);
        vc->vmx.cpu->efer = efer;
    }
    return true;
}

/* A guest's INIT or STARTUP IPI to vCPU `to` (KVM: kvm_apic_accept_events
 * on the target): the signal reaches the target's physical local APIC at
 * the sender's cycle, through the target's work queue; an INIT level
 * de-assert does nothing (SDM 11.6.1). */
void hv_mp_send(emu_hv *hv, unsigned from, unsigned to, const apic_ipi *ipi)
{
    if (ipi->delivery == APIC_DM_INIT && ipi->trigger_level && !ipi->level_assert)
        return;
    unsigned kind = ipi->delivery == APIC_DM_INIT ? HV_WORK_INIT : HV_WORK_SIPI;
    hv_queue(hv, to, kind, ipi->vector, 0, hv->vcpu[from].vmx.cpu->cycles);
}

/* Exit 3: INIT (SDM 25.2; the processor did none of it). The vCPU gets the
 * INIT state of SDM Table 9-1 (cpu_wait_for_sipi, the cpu's own), an
 * INIT-reset guest APIC (software APIC and virtual-APIC page) and waits for
 * SIPI in the wait-for-SIPI activity state. */
void hv_mp_init_exit(emu_hv *hv, emu_hv_vcpu *vc)
{
    unsigned k = hv_index(hv, vc);
    cpu_t *c = vc->vmx.cpu;
    cpu_wait_for_sipi(c, true);
    apic_init_reset(&vc->sw_apic);
    if (hv_apicv_mode(hv)) {
        for (unsigned off = 0; off < CPU_PAGE_SIZE; off += 0x10)
            vmx_vapic_write32(&vc->vmx, off, 0);
        hv_vapic_reset(vc, k);
        HV_VMCS_SET(vc, GUEST_INTR_STATUS, 0);
    }
    vc->nmi_pending = false;
    hv_load_from_cpu(vc, VMX_ACTIVITY_WAIT_SIPI);
    cpu_obs_emit(&hv->m->obs, c->cycles, c->index, EMU_EV_INIT, 0, 0, 0, 0);
}

/* Exit 4: SIPI with vector V in the qualification (SDM 27.2.1): real mode
 * at CS = V << 8 (base V << 12), IP = 0, active (SDM 9.4.4, 10.6.1). */
void hv_mp_sipi_exit(emu_hv *hv, emu_hv_vcpu *vc, uint8_t vector)
{
    cpu_t *c = vc->vmx.cpu;
    HV_VMCS_SET(vc, GUEST_CS_SEL, (uint64_t)vector << 8);
    HV_VMCS_SET(vc, GUEST_CS_BASE, (uint64_t)vector << 12);
    HV_VMCS_SET(vc, GUEST_CS_LIMIT, 0xFFFF);
    HV_VMCS_SET(vc, GUEST_CS_AR, 0x9B);
    HV_VMCS_SET(vc, GUEST_RIP, 0);
    HV_VMCS_SET(vc, GUEST_ACTIVITY_STATE, VMX_ACTIVITY_ACTIVE);
    cpu_obs_emit(&hv->m->obs, c->cycles, c->index, EMU_EV_SIPI, vector, 0, 0, 0);
}

/* Exit 48 (SDM 28.2.3.2, qualification table 27-7): a device page the
 * identity map leaves out; the instruction is completed on the machine's
 * devices (KVM handle_ept_violation -> MMIO emulation). */
bool hv_mp_ept_violation(emu_hv *hv, emu_hv_vcpu *vc)
{
    uint64_t gpa = HV_VMCS(vc, GUEST_PHYSICAL_ADDR);
    if (!hv->mp || ept_maps(hv->m, gpa & ~0xFFFull)) {
        hv_crash(hv, vc, "EPT violation the hypervisor did not expect");
        return false;
    }
    return hv_emulate_insn(hv, vc, "MMIO access (EPT violation)");
}
