/*
 * emu_hv_apic.c — the guest's APIC under the hypervisor: IPIs the guest
 * sends (routed to vCPUs with the sender's checks), APIC-write exits (56)
 * on the virtual-APIC page, APIC-access exits (44) completed by the
 * interpreter's own emulation of the guest's instruction (also INS/OUTS
 * and MMIO: hv_emulate_insn), and the APIC MSRs (IA32_APIC_BASE, the
 * x2APIC, TSC deadline).
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

/* The software APIC's TPR from VTPR and back (tpr-shadow mode keeps the
 * guest's TPR on the virtual-APIC page). */
void hv_sw_set_tpr(apic_t *a, uint32_t tpr)
{
    if ((a->tpr & 0xFF) == (tpr & 0xFF))
        return;
    /* Not through the MMIO or MSR interface, which a globally disabled
     * APIC does not decode: CR8 still reaches the TPR then (SDM 11.8.6.1;
     * KVM kvm_lapic_set_tpr does the same). */
    apic_set_tpr(a, (uint8_t)tpr);
}

/* ---- IPIs ---------------------------------------------------------------- */

/* SDM 11.6.1: the fields of an ICR value. */
static apic_ipi hv_ipi_from_icr(unsigned from, uint64_t icr, bool x2apic)
{
    uint32_t lo = (uint32_t)icr;
    apic_ipi ipi = {
        .src_index = from,
        .src_id = from,
        .vector = (uint8_t)lo,
        .delivery = (uint8_t)((lo >> 8) & 7),
        .logical = (lo >> 11) & 1,
        .level_assert = (lo >> 14) & 1,
        .trigger_level = (lo >> 15) & 1,
        .shorthand = (uint8_t)((lo >> 18) & 3),
        .x2apic = x2apic,
        .dest = x2apic ? (uint32_t)(icr >> 32) : (uint32_t)(icr >> 56),
        .icr = icr,
    };
    return ipi;
}

/*
 * apicv/posted: the guest's ICR and SELF IPI writes that exit (56, 32) are
 * sent by the hypervisor, not by a local APIC, so it makes the local APIC's
 * sender checks of SDM 11.5.3 itself (apic_ipi_send_errors, the same
 * function apic_send_icr uses): the errors go to the guest's ESR (kept in
 * the software APIC), and a message with a send accept error or a
 * redirectable-IPI error is not sent. A vector 0-15 still goes out ("send
 * illegal vector") and each receiver refuses it (hv_deliver). Returns
 * whether to send.
 */
static bool hv_check_send(emu_hv *hv, emu_hv_vcpu *vc, const apic_ipi *ipi)
{
    bool send;
    uint32_t errors = apic_ipi_send_errors(ipi, &send);
    if (errors) {
        apic_signal_error(&vc->sw_apic, errors);
        hv_sw_apic_raised(hv, vc);
    }
    return send;
}

/* SDM 11.12.11 SELF IPI (x2APIC 83FH; APIC-write exit 3F0H): a fixed,
 * edge-triggered interrupt to itself, with the sender's check. */
static void hv_self_ipi(emu_hv *hv, emu_hv_vcpu *vc, uint8_t vector)
{
    unsigned k = hv_index(hv, vc);
    apic_ipi ipi = {.src_index = k, .src_id = k, .vector = vector, .delivery = APIC_DM_FIXED,
                    .shorthand = APIC_SH_SELF, .x2apic = true};
    if (hv_check_send(hv, vc, &ipi))
        hv_send(hv, k, k, vector);
}

void hv_route_ipi(emu_hv *hv, unsigned from, const apic_ipi *ipi)
{
    emu_hv_vcpu *src = &hv->vcpu[from];
    bool mp = hv->mp && (ipi->delivery == APIC_DM_INIT || ipi->delivery == APIC_DM_SIPI);
    if (ipi->delivery != APIC_DM_FIXED && ipi->delivery != APIC_DM_LOWEST &&
        ipi->delivery != APIC_DM_NMI && !mp) {
        emu_diag(hv->m, EMU_DIAG_IPI, "cpu%u: IPI with delivery mode %u not emulated (dropped)",
                 from, ipi->delivery);
        return;
    }
    uint64_t mask = 0;
    if (ipi->delivery == APIC_DM_LOWEST && ipi->shorthand == APIC_SH_NONE) {
        apic_t *apics[CPU_MAX_CPUS];
        for (unsigned k = 0; k < hv->ncpus; k++) {
            apics[k] = &hv->vcpu[k].sw_apic;
            /* The arbitration priority needs each vCPU's current TPR,
             * which TPR shadow keeps in VTPR. */
            if (hv_tpr_shadow_mode(hv))
                hv_sw_set_tpr(apics[k], vmx_vapic_read32(&hv->vcpu[k].vmx, VMX_VAPIC_TPR));
        }
        int k = apic_select_lowest_priority(apics, hv->ncpus, ipi);
        if (k >= 0)
            mask = 1ull << k;
    } else {
        for (unsigned k = 0; k < hv->ncpus; k++)
            if (apic_matches_destination(&hv->vcpu[k].sw_apic, ipi))
                mask |= 1ull << k;
    }
    cpu_t *c = src->vmx.cpu;
    cpu_obs_emit(&hv->m->obs, c->cycles, c->index, EMU_HV_EV_IPI, ipi->vector, mask, c->rip, 0);
    for (unsigned k = 0; k < hv->ncpus; k++) {
        if (!(mask & (1ull << k)))
            continue;
        if (mp)
            hv_mp_send(hv, from, k, ipi);
        else if (ipi->delivery == APIC_DM_NMI)
            hv_send_nmi(hv, from, k);
        else
            hv_send(hv, from, k, ipi->vector);
    }
}

/* ---- virtual-APIC page emulation (apicv / posted) --------------------------- */

/* KVM apic_set_eoi on the virtual-APIC page: the highest VISR bit is
 * cleared and SVI follows (PPR virtualization runs at the next entry). */
static void hv_vapic_eoi(emu_hv_vcpu *vc)
{
    vmx_vcpu *v = &vc->vmx;
    int isr = vmx_vapic_highest(v, VMX_VAPIC_ISR);
    if (isr < 0)
        return;
    vmx_vapic_clear_vector(v, VMX_VAPIC_ISR, (uint8_t)isr);
    int next = vmx_vapic_highest(v, VMX_VAPIC_ISR);
    vmx_apicv_set_svi(v, next < 0 ? 0 : (uint8_t)next);
}

/* apicv/posted: registers the software APIC acts on — the timer and SVR
 * (the timer runs there), the xAPIC ID, LDR and DFR (IPI routing), the LVT error
 * entry and the ESR (errors are recorded there) — follow the virtual-APIC
 * page. An ESR write latches the errors seen since the last one (SDM
 * 11.5.3) and the page then shows them to virtualized reads. */
static void hv_mirror_to_sw(emu_hv_vcpu *vc, unsigned off, uint32_t val)
{
    apic_t *a = &vc->sw_apic;
    switch (off) {
    case VMX_VAPIC_SVR:
    case VMX_VAPIC_LVT_TIMER:
    case VMX_VAPIC_LVT_ERROR:
    case VMX_VAPIC_TIMER_INIT:
    case VMX_VAPIC_TIMER_DIV:
    case VMX_VAPIC_LDR:
    case VMX_VAPIC_DFR:
    case VMX_VAPIC_ESR:
        if (apic_x2apic_mode(a))
            apic_msr_write(a, APIC_MSR_X2APIC_FIRST + (off >> 4), val);
        else
            apic_mmio_write(a, off, 4, val);
        if (off == VMX_VAPIC_ESR)
            vmx_vapic_write32(&vc->vmx, VMX_VAPIC_ESR, a->esr);
        break;
    case VMX_VAPIC_ID:
        /* The xAPIC ID is writable (SDM 11.4.6) and physical IPI routing
         * matches it on the software APIC; the x2APIC ID is read-only. */
        if (!apic_x2apic_mode(a))
            apic_mmio_write(a, off, 4, val);
        break;
    default: break;
    }
}

/* Exit 56 (SDM 29.4.3.3): the write is already on the virtual-APIC page;
 * do what the APIC would do with it (KVM kvm_apic_write_nodecode). */
void hv_apic_write(emu_hv *hv, emu_hv_vcpu *vc, unsigned off)
{
    vmx_vcpu *v = &vc->vmx;
    unsigned k = hv_index(hv, vc);
    uint32_t val = vmx_vapic_read32(v, off);
    switch (off) {
    case VMX_VAPIC_ICR_LO: {
        uint64_t icr = ((uint64_t)vmx_vapic_read32(v, VMX_VAPIC_ICR_HI) << 32) | val;
        apic_ipi ipi = hv_ipi_from_icr(k, icr, false);
        vmx_vapic_write32(v, VMX_VAPIC_ICR_LO, val & ~(uint32_t)APIC_LVT_DELIVERY_STATUS);
        if (hv_check_send(hv, vc, &ipi))
            hv_route_ipi(hv, k, &ipi);
        break;
    }
    case VMX_VAPIC_TPR:
        /* Exit 56 at 081H-083H: APIC-write emulation handles only a write
         * at 080H (SDM 29.4.3.2) and leaves this one to the VMM. The APIC's
         * TPR is bits 7:0 (bits 31:8 reserved), so the write completes as
         * an 8-bit TPR with bytes 3:1 read as 0 again (KVM
         * kvm_lapic_reg_write); PPR virtualization and evaluation follow at
         * the next entry (SDM 26.3.2.5). */
        vmx_vapic_write32(v, VMX_VAPIC_TPR, val & 0xFFu);
        break;
    case VMX_VAPIC_EOI: hv_vapic_eoi(vc); break;
    case VMX_VAPIC_SELF_IPI: hv_self_ipi(hv, vc, (uint8_t)val); break;
    default: hv_mirror_to_sw(vc, off, val); break;
    }
}

/* ---- APIC-access exits: the guest's instruction, emulated ------------------- */

/* A read of the APIC page as the hypervisor's APIC answers it: the
 * software APIC (emulated, tpr-shadow) or the virtual-APIC page with the
 * timer's current count from the software APIC (apicv, posted). The
 * registers are 32 bits wide (SDM 11.4.1): wider reads see zeros above. */
static uint64_t hv_apic_page_read(emu_hv *hv, emu_hv_vcpu *vc, unsigned off, unsigned size)
{
    if (size > 4)
        size = 4;
    if (!hv_apicv_mode(hv)) {
        uint64_t val;
        if (!apic_mmio_read(&vc->sw_apic, off, size, &val))
            val = hv_size_mask(size); /* xAPIC page disabled: nobody answers */
        return val;
    }
    uint32_t dw = (off & 0xFF0) == VMX_VAPIC_TIMER_CUR
                      ? apic_timer_current(&vc->sw_apic, vc->vmx.cpu->cycles)
                      : vmx_vapic_read32(&vc->vmx, off & 0xFFC);
    return (dw >> ((off & 3) * 8)) & hv_size_mask(size);
}

/* A write of the APIC page. Under APIC-register virtualization the writes
 * that exit are those to registers the processor does not virtualize
 * (SDM 29.4.3.1): read-only and reserved ones, which the APIC ignores. */
static void hv_apic_page_write(emu_hv *hv, emu_hv_vcpu *vc, unsigned off, unsigned size,
                               uint64_t val)
{
    if (!hv_apicv_mode(hv))
        apic_mmio_write(&vc->sw_apic, off, size > 4 ? 4 : size, val);
}

/* The hooks of one emulated instruction: the APIC-access page is the
 * hypervisor's APIC; RAM is RAM; device pages (the I/O APIC) and ports are
 * the machine's, as the root hooks (emu_hv.c) and the I/O exit reach them. */
typedef struct hv_emul {
    emu_hv *hv;
    emu_hv_vcpu *vc;
    uint64_t apic_page; /* guest-physical APIC-access page, or UINT64_MAX */
    unsigned apic_accesses;
    bool bad_access;    /* a fetch or page walk of the APIC page */
} hv_emul;

static cpu_page_kind hv_emul_page_kind(void *ctx, cpu_t *c, uint64_t paddr)
{
    const hv_emul *e = ctx;
    if ((paddr & ~0xFFFull) == e->apic_page)
        return CPU_PAGE_TRAP;
    return paddr < c->phys->ram_size && !emu_bus_owns_page(e->hv->m, paddr) ? CPU_PAGE_RAM
                                                                            : CPU_PAGE_TRAP;
}

static bool hv_emul_mmio(void *ctx, cpu_t *c, uint64_t paddr, unsigned size, cpu_access acc,
                         uint64_t *val)
{
    hv_emul *e = ctx;
    if ((paddr & ~0xFFFull) != e->apic_page) {
        if ((paddr < c->phys->ram_size && !emu_bus_owns_page(e->hv->m, paddr)) ||
            acc == CPU_ACC_FETCH)
            return false;
        return emu_bus_mmio(e->hv->m, c, paddr, size, acc == CPU_ACC_WRITE, val);
    }
    if (acc == CPU_ACC_FETCH || acc == CPU_ACC_WALK) {
        e->bad_access = true;
        cpu_abort_insn(c, CPU_STOP_HOOK);
    }
    unsigned off = (unsigned)(paddr & 0xFFF);
    e->apic_accesses++;
    if (acc == CPU_ACC_WRITE)
        hv_apic_page_write(e->hv, e->vc, off, size, *val);
    else
        *val = hv_apic_page_read(e->hv, e->vc, off, size);
    return true;
}

/* Port I/O of an emulated instruction (INS/OUTS after exit 30): the
 * machine's dispatch table as for IN/OUT (hv_io). The exit port ends the
 * run: the CPU stops, so a REP goes no further. */
static bool hv_emul_io(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    hv_emul *e = ctx;
    emu_hv *hv = e->hv;
    if (port == EMU_PORT_MSI && !hv->machine_queue)
        return false;
    bool owned = emu_bus_io(hv->m, c, port, size, in, val);
    if (hv->m->finished)
        cpu_request_stop(c, CPU_STOP_HOOK);
    return owned;
}

/*
 * Completes the instruction that caused a fault-like exit by emulating it
 * with the interpreter (cpu_emulate_insn, as KVM's kvm_emulate_instruction):
 * the guest's RIP, RSP and RFLAGS go back to the VMCS, which the next VM
 * entry loads (SDM 26.3.2.3); a fault is injected. Returns false after a
 * crash diagnostic when the instruction cannot be emulated.
 */
static bool hv_emulate(emu_hv *hv, emu_hv_vcpu *vc, hv_emul *e, const char *what)
{
    cpu_t *c = vc->vmx.cpu;
    cpu_hooks h = {
        .page_kind = hv_emul_page_kind,
        .mmio = hv_emul_mmio,
        .io = hv_emul_io,
        .ctx = e,
    };
    cpu_emul_info info;
    /* The cpu_t holds the guest state the exit saved (vmx_exit.c). */
    c->rip = HV_VMCS(vc, GUEST_RIP);
    cpu_emul_result r = cpu_emulate_insn(c, &h, &info);
    switch (r) {
    case CPU_EMUL_DONE:
        HV_VMCS_SET(vc, GUEST_RIP, c->rip);
        HV_VMCS_SET(vc, GUEST_RSP, c->gpr[CPU_RSP]);
        HV_VMCS_SET(vc, GUEST_RFLAGS, cpu_get_rflags(c));
        /* Completed: its STI / MOV-SS blocking no longer applies (KVM
         * skip_emulated_instruction). */
        HV_VMCS_SET(vc, GUEST_INTERRUPTIBILITY,
                    HV_VMCS(vc, GUEST_INTERRUPTIBILITY) &
                        ~(uint64_t)(VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS));
        return true;
    case CPU_EMUL_EXCEPTION:
        /* A REP may have completed iterations before the fault. */
        HV_VMCS_SET(vc, GUEST_RSP, c->gpr[CPU_RSP]);
        HV_VMCS_SET(vc, GUEST_RFLAGS, cpu_get_rflags(c));
        hv_inject_exception(vc, info.vector, info.has_error, info.error);
        return true;
    case CPU_EMUL_UNSUPPORTED:
    case CPU_EMUL_ABORTED:
        break;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "%s by an instruction the hypervisor cannot emulate (%s)", what,
             e->bad_access ? "a fetch or page walk of the APIC page"
                           : "a branch or system instruction");
    hv_crash(hv, vc, msg);
    return false;
}

/* Exit 44 (SDM 27.2.1 table 27-6 qualification: offset 11:0, access type
 * 15:12): the access is emulated on the hypervisor's copy of the APIC —
 * the software APIC (emulated, tpr-shadow) or the virtual-APIC page
 * (apicv, posted: the offsets the processor does not virtualize). */
bool hv_apic_access(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
{
    unsigned type = (qual >> 12) & 0xF;
    if (type != VMX_APIC_ACCESS_TYPE_READ && type != VMX_APIC_ACCESS_TYPE_WRITE) {
        hv_crash(hv, vc, "APIC access of a kind the hypervisor does not emulate (fetch or event delivery)");
        return false;
    }
    hv_emul e = {.hv = hv, .vc = vc, .apic_page = HV_VMCS(vc, APIC_ACCESS_ADDR) & ~0xFFFull};
    return hv_emulate(hv, vc, &e, "APIC access");
}

/* ---- MSRs ------------------------------------------------------------------ */

/* x2APIC MSR writes that exit in apicv/posted modes (all but TPR, EOI and
 * SELF IPI): the virtual-APIC page takes the value; ICR sends. A write the
 * x2APIC refuses — a read-only or reserved register, a reserved bit set
 * (SDM 11.12.1.2, 11.12.1.3) — is #GP and changes nothing, as KVM's
 * kvm_x2apic_msr_write makes it (SDM 29.5: the VMM emulates the exiting
 * write as the x2APIC would do it). */
static bool hv_vapic_wrmsr(emu_hv *hv, emu_hv_vcpu *vc, uint32_t msr, uint64_t val)
{
    vmx_vcpu *v = &vc->vmx;
    unsigned k = hv_index(hv, vc), off = (msr & 0xFF) << 4;
    if (!apic_x2apic_msr_write_allowed(msr, val))
        return false;
    switch (msr) {
    case 0x830: {
        /* Bit 12 (delivery status) is ignored (SDM 11.12.9), as natively. */
        vmx_vapic_write32(v, VMX_VAPIC_ICR_LO, (uint32_t)val & ~(uint32_t)APIC_LVT_DELIVERY_STATUS);
        vmx_vapic_write32(v, VMX_VAPIC_ICR_HI, (uint32_t)(val >> 32));
        apic_ipi ipi = hv_ipi_from_icr(k, val, true);
        if (hv_check_send(hv, vc, &ipi))
            hv_route_ipi(hv, k, &ipi);
        return true;
    }
    case 0x828: hv_mirror_to_sw(vc, off, 0); return true;
    case 0x80B: hv_vapic_eoi(vc); return true;
    case 0x83F: hv_self_ipi(hv, vc, (uint8_t)val); return true;
    default:
        vmx_vapic_write32(v, off, (uint32_t)val);
        hv_mirror_to_sw(vc, off, (uint32_t)val);
        return true;
    }
}

static bool hv_rdmsr(emu_hv *hv, emu_hv_vcpu *vc, uint32_t msr, uint64_t *val)
{
    apic_t *a = &vc->sw_apic;
    if (msr == APIC_MSR_BASE) {
        *val = apic_base_msr(a);
        return true;
    }
    if (msr >= APIC_MSR_X2APIC_FIRST && msr <= APIC_MSR_X2APIC_LAST) {
        if (!hv_apicv_mode(hv))
            return apic_msr_read(a, msr, val);
        if (!apic_x2apic_mode(a))
            return false;
        unsigned off = (msr & 0xFF) << 4;
        *val = off == VMX_VAPIC_TIMER_CUR ? apic_timer_current(a, vc->vmx.cpu->cycles)
                                          : vmx_vapic_read32(&vc->vmx, off);
        if (msr == 0x830)
            *val |= (uint64_t)vmx_vapic_read32(&vc->vmx, VMX_VAPIC_ICR_HI) << 32;
        return true;
    }
    if (msr == APIC_MSR_TSC_DEADLINE)
        return apic_msr_read(a, msr, val);
    return false;
}

static bool hv_wrmsr(emu_hv *hv, emu_hv_vcpu *vc, uint32_t msr, uint64_t val)
{
    apic_t *a = &vc->sw_apic;
    if (msr == APIC_MSR_BASE) {
        bool was = apic_x2apic_mode(a), was_en = apic_hw_enabled(a);
        uint64_t was_base = apic_base_address(a);
        if (!apic_msr_write(a, msr, val))
            return false;
        if (hv_apicv_mode(hv) && was_en && !apic_hw_enabled(a))
            hv_vapic_power_up(vc, hv_index(hv, vc));
        /* KVM vmx_set_virtual_apic_mode: x2APIC means virtualize x2APIC
         * mode and the x2APIC MSR bitmap; xAPIC the APIC-access page;
         * a disabled APIC neither (hv_set_x2apic_controls). */
        if (was != apic_x2apic_mode(a) || was_en != apic_hw_enabled(a) ||
            was_base != apic_base_address(a))
            hv_set_x2apic_controls(hv, vc, apic_x2apic_mode(a));
        return true;
    }
    if (msr >= APIC_MSR_X2APIC_FIRST && msr <= APIC_MSR_X2APIC_LAST) {
        if (!hv_apicv_mode(hv))
            return apic_msr_write(a, msr, val);
        if (!apic_x2apic_mode(a))
            return false;
        return hv_vapic_wrmsr(hv, vc, msr, val);
    }
    if (msr == APIC_MSR_TSC_DEADLINE) {
        /* A deadline the TSC has already reached fires inside the write
         * (SDM 11.5.4.1); its vector, now in the software APIC's IRR, goes
         * on by the mode's path before the resuming entry (apicv/posted:
         * VIRR or PIR), not at the timer's next expiry, which is none. */
        bool ok = apic_msr_write(a, msr, val);
        hv_sw_apic_raised(hv, vc);
        return ok;
    }
    return false;
}

void hv_msr_exit(emu_hv *hv, emu_hv_vcpu *vc, bool write)
{
    cpu_t *c = vc->vmx.cpu;
    uint32_t msr = (uint32_t)c->gpr[CPU_RCX];
    bool ok;
    if (write) {
        uint64_t val = (c->gpr[CPU_RDX] << 32) | (uint32_t)c->gpr[CPU_RAX];
        ok = emu_cpu_model_msr_ok(hv->m->cfg.cpu_off, msr, true, val) && hv_wrmsr(hv, vc, msr, val);
    } else {
        uint64_t val = 0;
        ok = emu_cpu_model_msr_ok(hv->m->cfg.cpu_off, msr, false, 0) && hv_rdmsr(hv, vc, msr, &val);
        if (ok) {
            c->gpr[CPU_RAX] = (uint32_t)val;
            c->gpr[CPU_RDX] = val >> 32;
        }
    }
    if (ok)
        hv_skip_insn(vc);
    else
        hv_inject_gp(vc);
}

bool hv_emulate_insn(emu_hv *hv, emu_hv_vcpu *vc, const char *what)
{
    uint64_t page = (HV_VMCS(vc, PROC_CONTROLS2) & VMX_PROC2_VIRT_APIC_ACCESS)
                        ? HV_VMCS(vc, APIC_ACCESS_ADDR) & ~0xFFFull
                        : UINT64_MAX;
    hv_emul e = {.hv = hv, .vc = vc, .apic_page = page};
    if (!hv_emulate(hv, vc, &e, what))
        return false;
    return !hv->m->finished;
}
