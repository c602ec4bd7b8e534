/*
 * emu_hv_exit.c — the hypervisor's VM-exit handlers (KVM's
 * kvm_vmx_exit_handlers): hypercalls of the guest ABI, port I/O, CPUID,
 * MSRs (IA32_APIC_BASE and the x2APIC), CR8 without TPR shadow, HLT,
 * interrupt windows (7), TPR below threshold (43), APIC accesses (44)
 * completed by the interpreter's own emulation of the guest's instruction,
 * APIC writes (56), external interrupts (1).
 * Each exiting instruction it emulates is skipped the KVM way
 * (skip_emulated_instruction: RIP += length, STI/MOV-SS blocking cleared).
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

/* ---- helpers -------------------------------------------------------------- */

/* KVM skip_emulated_instruction: RIP past the instruction, and the
 * instruction's STI / MOV-SS blocking no longer applies. */
static void hv_skip(emu_hv_vcpu *vc, uint64_t len)
{
    HV_VMCS_SET(vc, GUEST_RIP, HV_VMCS(vc, GUEST_RIP) + len);
    HV_VMCS_SET(vc, GUEST_INTERRUPTIBILITY,
                HV_VMCS(vc, GUEST_INTERRUPTIBILITY) &
                    ~(uint64_t)(VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS));
}

static void hv_skip_insn(emu_hv_vcpu *vc)
{
    hv_skip(vc, HV_VMCS(vc, EXIT_INSN_LEN));
}

/* An exception into the guest at the next entry (KVM kvm_queue_exception);
 * the faulting instruction is not skipped. */
static void hv_inject_exception(emu_hv_vcpu *vc, unsigned vector, bool has_error, uint32_t error)
{
    HV_VMCS_SET(vc, ENTRY_INTR_INFO, VMX_INTR_INFO_VALID |
                                         (has_error ? VMX_INTR_INFO_ERROR_VALID : 0) |
                                         ((uint32_t)VMX_INTR_TYPE_HW_EXC << 8) | vector);
    HV_VMCS_SET(vc, ENTRY_EXCEPTION_ERROR, has_error ? error : 0);
}

/* #GP(0) (KVM kvm_inject_gp). */
static void hv_inject_gp(emu_hv_vcpu *vc)
{
    hv_inject_exception(vc, CPU_EXC_GP, true, 0);
}

static uint64_t hv_size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static uint64_t hv_reg(emu_hv_vcpu *vc, unsigned r)
{
    return r == CPU_RSP ? HV_VMCS(vc, GUEST_RSP) : vc->vmx.cpu->gpr[r];
}

static void hv_set_reg(emu_hv_vcpu *vc, unsigned r, uint64_t val)
{
    vc->vmx.cpu->gpr[r] = val;
    if (r == CPU_RSP)
        HV_VMCS_SET(vc, GUEST_RSP, val);
}

/* The software APIC's TPR from VTPR and back (tpr-shadow mode keeps the
 * guest's TPR on the virtual-APIC page). */
static void hv_sw_set_tpr(apic_t *a, uint32_t tpr)
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
static void hv_apic_write(emu_hv *hv, emu_hv_vcpu *vc, unsigned off)
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
static bool hv_apic_access(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
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

static void hv_msr_exit(emu_hv *hv, emu_hv_vcpu *vc, bool write)
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

/* ---- other instruction exits ---------------------------------------------- */

/* CPUID (exit 10): the CPU model as it is, with VMX hidden and the
 * "hypervisor present" bit set, as KVM reports it; the APIC bit follows the
 * guest's IA32_APIC_BASE.EN (SDM 11.4.3). */
static void hv_cpuid(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_t *c = vc->vmx.cpu;
    uint32_t out[4];
    cpu_cpuid(c, (uint32_t)c->gpr[CPU_RAX], (uint32_t)c->gpr[CPU_RCX], out);
    emu_cpu_model_cpuid(hv->m->cfg.cpu_off, (uint32_t)c->gpr[CPU_RAX], out); /* --cpu */
    if ((uint32_t)c->gpr[CPU_RAX] == 1) {
        out[2] &= ~(1u << 5);
        out[2] |= 1u << 31;
        if (!apic_hw_enabled(&vc->sw_apic))
            out[3] &= ~(1u << 9); /* SDM 11.4.3: the guest's APIC is globally disabled */
    }
    c->gpr[CPU_RAX] = out[0];
    c->gpr[CPU_RBX] = out[1];
    c->gpr[CPU_RCX] = out[2];
    c->gpr[CPU_RDX] = out[3];
    hv_skip_insn(vc);
}

/*
 * INS/OUTS (exit 30 with the string bit, SDM 27.2.1 table 27-5): the
 * instruction is completed by the interpreter (hv_emulate, as KVM's
 * emulator completes string I/O), decoded in the guest's mode with every
 * prefix it carries — 67H address size, 66H, REP, a segment override on
 * OUTS — its memory operand through the guest's paging, the ports through
 * the machine's dispatch table. A REP runs its iterations in this one exit
 * until RCX is 0 or the interpreter pauses it (the CPU's cycle budget; the
 * exit port): then RIP stays at the instruction with the registers
 * describing the rest, which the next entry resumes. A fault (#PF, #GP) is
 * injected.
 */
static bool hv_string_io(emu_hv *hv, emu_hv_vcpu *vc)
{
    return hv_emulate_insn(hv, vc, "string I/O");
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

/* Port I/O (exit 30, qualification SDM 27.2.1 table 27-5). */
static bool hv_io(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
{
    emu_machine *m = hv->m;
    cpu_t *c = vc->vmx.cpu;
    unsigned size = (unsigned)(qual & 7) + 1;
    bool in = (qual >> 3) & 1, string = (qual >> 4) & 1;
    uint16_t port = (uint16_t)(qual >> 16);
    if (string)
        return hv_string_io(hv, vc);
    hv_skip_insn(vc);
    /* The machine's devices, as natively (emu/devices/); the MSI device
     * only when the machine's queue carries its messages. Nobody on the
     * port: reads all ones. */
    uint64_t mask = hv_size_mask(size);
    uint32_t val = in ? 0 : (uint32_t)(c->gpr[CPU_RAX] & mask);
    bool owned = !(port == EMU_PORT_MSI && !hv->machine_queue) &&
                 emu_bus_io(m, c, port, size, in, &val);
    if (in) {
        if (!owned)
            val = 0xFFFFFFFFu;
        c->gpr[CPU_RAX] = size == 4 ? val : ((c->gpr[CPU_RAX] & ~mask) | (val & mask));
        return true;
    }
    return !(port == EMU_PORT_EXIT && m->finished);
}

/* CR0 writes of a Multiboot guest that changed NE, which the host owns
 * (exit 28, SDM 27.2.1 table 27-3: MOV to CR0, CLTS, LMSW with its source
 * in bits 31:16): completed by emu_hv_mp.c. */
static bool hv_cr0_access(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
{
    unsigned type = (qual >> 4) & 3, gpr = (qual >> 8) & 15;
    uint64_t shadow = HV_VMCS(vc, CR0_READ_SHADOW), val;
    switch (type) {
    case VMX_CR_ACCESS_MOV_TO: val = hv_reg(vc, gpr); break;
    case VMX_CR_ACCESS_CLTS: val = shadow & ~(uint64_t)CPU_CR0_TS; break;
    case VMX_CR_ACCESS_LMSW: {
        uint64_t src = (qual >> 16) & 0xF; /* PE can be set, not cleared */
        val = (shadow & ~0xEull) | (src & 0xE) | ((shadow | src) & CPU_CR0_PE);
        break;
    }
    default:
        hv_crash(hv, vc, "control-register exit the hypervisor does not expect");
        return false;
    }
    if (!hv_mp_cr0_write(hv, vc, val)) {
        hv_inject_gp(vc);
        return true;
    }
    hv_skip_insn(vc);
    return true;
}

/* MOV to/from CR8 without TPR shadow (exit 28, emulated mode): the
 * software APIC's TPR[7:4] (SDM 11.8.6.1). */
static bool hv_cr_access(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
{
    unsigned cr = qual & 15, type = (qual >> 4) & 3, gpr = (qual >> 8) & 15;
    if (cr == 0 && hv->mp)
        return hv_cr0_access(hv, vc, qual);
    if (cr != 8 || type > VMX_CR_ACCESS_MOV_FROM) {
        hv_crash(hv, vc, "control-register exit the hypervisor does not expect");
        return false;
    }
    apic_t *a = &vc->sw_apic;
    if (type == VMX_CR_ACCESS_MOV_TO) {
        uint64_t val = hv_reg(vc, gpr);
        if (val >> 4) {
            hv_inject_gp(vc);
            return true;
        }
        hv_sw_set_tpr(a, (uint32_t)val << 4);
    } else {
        hv_set_reg(vc, gpr, (a->tpr >> 4) & 0xF);
    }
    hv_skip_insn(vc);
    return true;
}

/* ---- hypercalls (guest ABI table) --------------------------------------------- */

/* The address of qword `index` of the caller's posted-interrupt
 * descriptor in *pa; false when there is none. */
static bool hv_pid_qword(emu_hv *hv, emu_hv_vcpu *vc, uint64_t index, uint64_t *pa)
{
    if (hv->mode != EMU_MODE_POSTED || index > 7)
        return false;
    /* Guest ABI: the descriptor the caller's VMCS names (the host's own,
     * or one in guest RAM: emu_hv_policy.c admits nothing else). */
    *pa = HV_VMCS(vc, POSTED_INTR_DESC_ADDR) + 8 * index;
    return true;
}

static bool hv_hypercall(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_t *c = vc->vmx.cpu;
    vmx_vcpu *v = &vc->vmx;
    unsigned self = hv_index(hv, vc);
    uint64_t nr = c->gpr[CPU_RAX], a1 = c->gpr[CPU_RBX], a2 = c->gpr[CPU_RCX];
    uint64_t a3 = c->gpr[CPU_RDX];
    uint64_t ret = 0, rdx = c->gpr[CPU_RDX], rsi = c->gpr[CPU_RSI];
    /* Skipped first: a VMCS_WRITE below (of GUEST_RIP, say) then wins. */
    hv_skip_insn(vc);
    switch (nr) {
    case EMU_HC_ABI_VERSION: rdx = 1; break;
    case EMU_HC_SEND_MSI:
        /* An MSI carries any 8-bit vector; the destination's APIC refuses
         * 0-15 (SDM 11.5.3), which hv_deliver models. */
        if (a1 > 255 || a2 >= hv->ncpus) {
            ret = EMU_HC_EINVAL;
        } else if (a2 == self && a3 == 0) {
            hv_deliver(hv, self, (uint8_t)a1);
        } else {
            hv_queue(hv, (unsigned)a2, HV_WORK_MSI, (uint8_t)a1, 0,
                     emu_cycle_after(c->cycles, a3));
        }
        break;
    case EMU_HC_RAISE_HOST_IRQ:
        if (a1 < 16 || a1 > 255 || a2 >= hv->ncpus)
            ret = EMU_HC_EINVAL;
        else
            hv_queue(hv, (unsigned)a2, HV_WORK_HOST_IRQ, (uint8_t)a1, 0,
                     emu_cycle_after(c->cycles, a3));
        break;
    case EMU_HC_VMCS_READ: {
        uint64_t val = 0;
        unsigned err = vmx_vmread(&v->vmcs, a1, &val);
        if (err)
            ret = EMU_HC_EINVAL, rdx = err;
        else
            rdx = val;
        break;
    }
    case EMU_HC_VMCS_WRITE: {
        uint64_t old = vmx_vmcs_get(&v->vmcs, (uint32_t)a1);
        unsigned err = emu_hv_guest_vmwrite(hv, self, a1, a2, NULL, 0);
        if (err) {
            ret = EMU_HC_EINVAL, rdx = err;
        } else {
            vc->undo_valid = true;
            vc->undo_field = (uint32_t)a1;
            vc->undo_value = old;
        }
        break;
    }
    case EMU_HC_VAPIC_READ:
        if ((a1 & 3) || a1 >= 0x1000) {
            ret = EMU_HC_EINVAL;
        } else if (hv->mode == EMU_MODE_EMULATED) {
            /* No virtual-APIC page: the software APIC's register. */
            uint64_t val = 0;
            apic_t *a = &vc->sw_apic;
            bool ok = apic_x2apic_mode(a)
                          ? apic_msr_read(a, APIC_MSR_X2APIC_FIRST + ((uint32_t)a1 >> 4), &val)
                          : apic_mmio_read(a, (uint32_t)a1, 4, &val);
            if (ok)
                rdx = (uint32_t)val;
            else
                ret = EMU_HC_EINVAL;
        } else {
            rdx = vmx_vapic_read32(v, (unsigned)a1);
        }
        break;
    case EMU_HC_VAPIC_WRITE:
        if ((a1 & 3) || a1 >= 0x1000 || hv->mode == EMU_MODE_EMULATED)
            ret = EMU_HC_EINVAL;
        else
            vmx_vapic_write32(v, (unsigned)a1, (uint32_t)a2);
        break;
    case EMU_HC_PID_READ: {
        uint64_t q = 0;
        if (!hv_pid_qword(hv, vc, a1, &q) || !cpu_phys_read(&hv->m->phys, q, &rdx, 8))
            ret = EMU_HC_EINVAL;
        break;
    }
    case EMU_HC_PID_WRITE: {
        uint64_t q = 0;
        if (!hv_pid_qword(hv, vc, a1, &q) || !cpu_phys_write(&hv->m->phys, q, &a2, 8))
            ret = EMU_HC_EINVAL;
        break;
    }
    case EMU_HC_EXIT_COUNT:
        if (a2 >= hv->ncpus || (a1 != EMU_HC_ALL_EXITS && a1 >= VMX_EXIT_NREASONS))
            ret = EMU_HC_EINVAL;
        else
            rdx = emu_hv_exit_count(hv, (unsigned)a2, (unsigned)a1);
        break;
    case EMU_HC_LAST_EXIT:
        if (a2 >= hv->ncpus) {
            ret = EMU_HC_EINVAL;
        } else {
            rdx = hv->vcpu[a2].last_reason;
            rsi = hv->vcpu[a2].last_qual;
        }
        break;
    case EMU_HC_DESCHEDULE:
        if (a1 >= hv->ncpus)
            ret = EMU_HC_EINVAL;
        else if (a1 == self)
            hv_deschedule(hv, vc, a2);
        else
            hv_queue(hv, (unsigned)a1, HV_WORK_DESCHEDULE, 0, a2, c->cycles);
        break;
    case EMU_HC_CYCLES: rdx = c->cycles; break;
    default: ret = EMU_HC_ENOSYS; break;
    }
    cpu_obs_emit(&hv->m->obs, c->cycles, c->index, EMU_HV_EV_HYPERCALL, nr, a1, c->rip, ret);
    c->gpr[CPU_RAX] = ret;
    c->gpr[CPU_RDX] = rdx;
    c->gpr[CPU_RSI] = rsi;
    return true;
}

/* ---- the dispatcher ------------------------------------------------------------ */

/* Exit 1: the vector was acknowledged at exit; the host's handler for it
 * ends with an EOI (a spurious vector needs none). */
static void hv_external_interrupt(emu_hv *hv, emu_hv_vcpu *vc)
{
    uint32_t info = (uint32_t)HV_VMCS(vc, EXIT_INTR_INFO);
    if (!(info & VMX_INTR_INFO_VALID)) {
        /* "Acknowledge interrupt on exit" = 0 (SDM 24.7.1, 27.2.2): the
         * interrupt is still in the local APIC's IRR and the field is
         * invalid. The host takes it in root operation, as a host OS does
         * when it enables interrupts after the exit; left there, it would
         * make the next entry exit for it again, for ever. */
        hv_host_irqs_in_root(hv, vc);
        return;
    }
    uint8_t vec = (uint8_t)info;
    if ((vc->host_apic->isr[vec >> 5] >> (vec & 31)) & 1)
        apic_eoi(vc->host_apic);
    vc->host_irqs++;
}

/* The cost class of the host's work for an exit reason (docs/cost-model.md,
 * "The hypervisor's work"): what KVM's handler for it does, in root
 * operation between the exit and the next entry. */
static cpu_cost_class hv_exit_cost_class(uint32_t basic)
{
    switch (basic) {
    case VMX_EXIT_EXTERNAL_INTERRUPT: return CPU_COST_HV_EXTINT;
    case VMX_EXIT_INTERRUPT_WINDOW:
    case VMX_EXIT_NMI_WINDOW: return CPU_COST_HV_WINDOW;
    case VMX_EXIT_APIC_ACCESS: return CPU_COST_HV_APIC_ACCESS;
    case VMX_EXIT_APIC_WRITE: return CPU_COST_HV_APIC_WRITE;
    case VMX_EXIT_VIRTUALIZED_EOI: return CPU_COST_HV_EOI;
    case VMX_EXIT_RDMSR:
    case VMX_EXIT_WRMSR: return CPU_COST_HV_MSR;
    case VMX_EXIT_IO: return CPU_COST_HV_IO;
    case VMX_EXIT_VMCALL: return CPU_COST_HV_VMCALL;
    case VMX_EXIT_HLT: return CPU_COST_HV_HLT;
    case VMX_EXIT_TPR_BELOW_THRESHOLD: return CPU_COST_HV_TPR;
    case VMX_EXIT_PREEMPT_TIMER: return CPU_COST_HV_PREEMPT;
    default: return CPU_COST_HV_OTHER;
    }
}

bool hv_handle_exit(emu_hv *hv, emu_hv_vcpu *vc)
{
    uint32_t full = (uint32_t)HV_VMCS(vc, EXIT_REASON);
    uint32_t basic = full & VMX_EXIT_REASON_BASIC_MASK;
    uint64_t qual = HV_VMCS(vc, EXIT_QUALIFICATION);
    vc->exits++;
    if (basic < VMX_EXIT_NREASONS)
        vc->exit_count[basic]++;
    /* The handler's time in root operation, on this CPU's clock: what it
     * does next (an IPI it sends, a post, the next entry) happens when it
     * is over. */
    cpu_t *hc = vc->vmx.cpu;
    hc->cycles += hc->costs->cost[hv_exit_cost_class(basic)];
    if (hv->mode == EMU_MODE_TPR_SHADOW)
        hv_sw_set_tpr(&vc->sw_apic, vmx_vapic_read32(&vc->vmx, VMX_VAPIC_TPR));
    /* KVM vmx_complete_interrupts: an event whose delivery the exit
     * interrupted is injected again at the next entry. */
    uint32_t idt = (uint32_t)HV_VMCS(vc, IDT_VECTORING_INFO);
    if ((idt & VMX_INTR_INFO_VALID) && !(full & VMX_EXIT_REASON_ENTRY_FAIL)) {
        HV_VMCS_SET(vc, ENTRY_INTR_INFO, idt & ~(uint32_t)VMX_INTR_INFO_NMI_UNBLOCK);
        HV_VMCS_SET(vc, ENTRY_EXCEPTION_ERROR, HV_VMCS(vc, IDT_VECTORING_ERROR));
        HV_VMCS_SET(vc, ENTRY_INSN_LEN, HV_VMCS(vc, EXIT_INSN_LEN));
    }
    bool ok = true;
    switch (basic) {
    case VMX_EXIT_EXCEPTION_NMI:
        if (((HV_VMCS(vc, EXIT_INTR_INFO) >> 8) & 7) != VMX_INTR_TYPE_NMI) {
            hv_crash(hv, vc, "unexpected exception VM exit");
            ok = false;
        }
        break;
    case VMX_EXIT_EXTERNAL_INTERRUPT: hv_external_interrupt(hv, vc); break;
    case VMX_EXIT_TRIPLE_FAULT:
        hv_crash(hv, vc, "triple fault (an exception could not be delivered: is the IDT loaded?)");
        ok = false;
        break;
    case VMX_EXIT_INTERRUPT_WINDOW:
        /* Injection happens at the entry; the window is asked for again
         * there only if something still waits. */
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) & ~(uint64_t)VMX_PROC_INTR_WINDOW);
        break;
    case VMX_EXIT_NMI_WINDOW:
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) & ~(uint64_t)VMX_PROC_NMI_WINDOW);
        break;
    case VMX_EXIT_CPUID: hv_cpuid(hv, vc); break;
    case VMX_EXIT_HLT:
        hv_skip_insn(vc);
        hv_block(hv, vc);
        break;
    case VMX_EXIT_VMCALL: ok = hv_hypercall(hv, vc); break;
    case VMX_EXIT_CR_ACCESS: ok = hv_cr_access(hv, vc, qual); break;
    case VMX_EXIT_IO: ok = hv_io(hv, vc, qual); break;
    case VMX_EXIT_RDMSR: hv_msr_exit(hv, vc, false); break;
    case VMX_EXIT_WRMSR: hv_msr_exit(hv, vc, true); break;
    case VMX_EXIT_TPR_BELOW_THRESHOLD:
        /* KVM handle_tpr_below_threshold: the threshold follows the new
         * TPR at once, in every mode (apicv/posted too, where only a guest
         * that turned VID off gets here): a threshold left above VTPR
         * would exit again right after the entry, for ever. */
        hv_update_cr8_intercept(hv, vc);
        break;
    case VMX_EXIT_APIC_ACCESS: ok = hv_apic_access(hv, vc, qual); break;
    case VMX_EXIT_APIC_WRITE: hv_apic_write(hv, vc, (unsigned)(qual & 0xFF0)); break;
    case VMX_EXIT_VIRTUALIZED_EOI: emu_hv_level_eoi(hv, vc, (uint8_t)qual); break;
    case VMX_EXIT_PREEMPT_TIMER:
        /* The timer fired (SDM 25.5.1): as KVM's vmx_update_hv_timer, the
         * host treats it as one-shot and soft-disables it with the
         * largest value, so that the next entry does not exit at once
         * again (a value of 0 would exit before every guest instruction).
         * A guest re-arms it with VMCS_WRITE. */
        HV_VMCS_SET(vc, PREEMPT_TIMER_VALUE, 0xFFFFFFFFu);
        break;
    case VMX_EXIT_PAUSE:
        /* KVM handle_pause: skip the PAUSE (a fault-like exit leaves RIP
         * on it, so re-entering would exit on it again, for ever); KVM's
         * yield to another vCPU has no counterpart in a scheduler that
         * runs each vCPU in its turn. */
        hv_skip_insn(vc);
        break;
    case VMX_EXIT_MTF:
        break;
    case VMX_EXIT_INIT:
    case VMX_EXIT_SIPI:
    case VMX_EXIT_EPT_VIOLATION:
        if (!hv->mp) {
            hv_crash(hv, vc, "INIT, SIPI or EPT exit without a Multiboot guest");
            ok = false;
        } else if (basic == VMX_EXIT_INIT) {
            hv_mp_init_exit(hv, vc);
        } else if (basic == VMX_EXIT_SIPI) {
            hv_mp_sipi_exit(hv, vc, (uint8_t)qual);
        } else {
            ok = hv_mp_ept_violation(hv, vc);
        }
        break;
    default: {
        char msg[96];
        snprintf(msg, sizeof(msg), "unexpected VM exit %u (%s)", basic, vmx_exit_reason_name(basic));
        hv_crash(hv, vc, msg);
        ok = false;
        break;
    }
    }
    if (hv->mode == EMU_MODE_TPR_SHADOW)
        vmx_vapic_write32(&vc->vmx, VMX_VAPIC_TPR, vc->sw_apic.tpr & 0xFF);
    vc->last_reason = basic;
    vc->last_qual = qual;
    return ok && !hv->m->finished;
}
