/*
 * emu_hv_irq.c — the interrupt paths of the four VMX modes (docs/
 * hypervisor.md): delivery to a vCPU (software APIC and injection, VIRR and
 * RVI, posting), IPIs between vCPUs, kicks, what is prepared before each VM
 * entry (injection, NMIs, the TPR threshold, PIR sync), whether a sleeping
 * vCPU can wake, and the guest's APIC timer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"


/* The reschedule IPI of KVM's kvm_vcpu_kick: a running vCPU exits (1) so
 * that the next entry picks up what was queued for it. */
void hv_kick(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (!vc->vmx.non_root)
        return;
    hv_emit(hv, vc, EMU_HV_EV_KICK, hv_index(hv, vc), 0, 0);
    apic_accept(vc->host_apic, EMU_HV_KICK_VECTOR, APIC_DM_FIXED, false);
}

/* Posting as an IOMMU with posted-interrupt remapping (or KVM's
 * vmx_deliver_posted_interrupt) does it: PIR, ON, and the notification
 * vector to NDST unless ON was set already or SN is set. */
static void hv_post(emu_hv *hv, emu_hv_vcpu *vc, uint8_t vector)
{
    cpu_phys *p = &hv->m->phys;
    bool notify = false;
    vmx_pi_post(p, vc->pid_pa, vector, &notify);
    vc->delivered[EMU_HV_PATH_POSTED]++;
    hv_emit(hv, vc, EMU_HV_EV_POST, vector, hv_index(hv, vc), notify);
    if (!notify)
        return;
    uint8_t nv = vmx_pi_get_nv(p, vc->pid_pa);
    uint32_t ndst = vmx_pi_get_ndst(p, vc->pid_pa);
    for (unsigned k = 0; k < hv->ncpus; k++) {
        if (hv_ndst(&hv->vcpu[k]) == ndst) {
            apic_accept(hv->vcpu[k].host_apic, nv, APIC_DM_FIXED, false);
            return;
        }
    }
}

/*
 * Every fixed interrupt for a vCPU — a device MSI (SEND_MSI, port F0H, a
 * scenario), an IPI, the guest's timer — arrives here. SDM 11.5.3 "Error
 * Handling": a local APIC refuses a vector 0-15 with "receive illegal
 * vector" and never sets its IRR bit. The guest's APIC keeps its ESR in the
 * software APIC in every mode (apicv/posted latch it onto the virtual-APIC
 * page at an ESR write), so the refusal happens there and nothing reaches
 * IRR, VIRR, RVI or PIR; the error may raise the LVT error interrupt.
 */
void hv_deliver(emu_hv *hv, unsigned to, uint8_t vector)
{
    emu_hv_vcpu *vc = &hv->vcpu[to];
    if (vector < 16) {
        apic_accept(&vc->sw_apic, vector, APIC_DM_FIXED, false);
        hv_sw_apic_raised(hv, vc);
        return;
    }
    /* Accepted edge-triggered: TMR bit cleared (SDM 11.8.4); a level-
     * triggered one from the I/O APIC sets it again (emu_hv_device_level). */
    if (hv_apicv_mode(hv))
        hv_set_trigger(vc, vector, false);
    switch (hv->mode) {
    case EMU_MODE_POSTED: hv_post(hv, vc, vector); break;
    case EMU_MODE_APICV:
        vc->pending_irr[vector >> 5] |= 1u << (vector & 31);
        hv_kick(hv, vc);
        break;
    default:
        apic_accept(&vc->sw_apic, vector, APIC_DM_FIXED, false);
        hv_kick(hv, vc);
        break;
    }
}

void emu_hv_device_msi(emu_hv *hv, unsigned vcpu, uint8_t vector)
{
    if (vcpu < hv->ncpus)
        hv_deliver(hv, vcpu, vector);
}

/* The cycle a message the host sends from vCPU `from`'s CPU now reaches
 * another CPU: the sender's clock plus the IPI's trip (docs/cost-model.md,
 * "ipi"). */
static uint64_t hv_ipi_due(emu_hv *hv, unsigned from)
{
    const cpu_t *c = hv->vcpu[from].vmx.cpu;
    return emu_cycle_after(c->cycles, c->costs->cost[CPU_COST_IPI]);
}

void hv_send_nmi(emu_hv *hv, unsigned from, unsigned to)
{
    if (from == to)
        hv->vcpu[to].nmi_pending = true;
    else
        hv_queue(hv, to, HV_WORK_NMI, 2, 0, hv_ipi_due(hv, from));
}

void hv_send(emu_hv *hv, unsigned from, unsigned to, uint8_t vector)
{
    if (from == to)
        hv_deliver(hv, to, vector);
    else
        hv_queue(hv, to, HV_WORK_MSI, vector, 0, hv_ipi_due(hv, from));
}

/* apicv: the vectors queued for this vCPU go into VIRR and RVI (KVM:
 * vmx_sync_pir_to_irr / kvm_apic_update_irr + RVI). */
static void hv_merge_pending_irr(emu_hv *hv, emu_hv_vcpu *vc)
{
    vmx_vcpu *v = &vc->vmx;
    for (int slot = 7; slot >= 0; slot--) {
        uint32_t bits = vc->pending_irr[slot];
        if (!bits)
            continue;
        vc->pending_irr[slot] = 0;
        unsigned off = VMX_VAPIC_IRR + (unsigned)slot * 16u;
        vmx_vapic_write32(v, off, vmx_vapic_read32(v, off) | bits);
        vc->delivered[EMU_HV_PATH_VIRR] += (unsigned)__builtin_popcount(bits);
        uint8_t highest = (uint8_t)(slot * 32 + (31 - __builtin_clz(bits)));
        uint8_t rvi = vmx_apicv_rvi(v);
        if (highest > rvi)
            vmx_apicv_set_rvi(v, highest);
        hv_emit(hv, vc, EMU_HV_EV_VIRR_SET, highest, rvi, vmx_apicv_rvi(v));
    }
}

static bool hv_pid_pending(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_phys *p = &hv->m->phys;
    if (vmx_pi_get_on(p, vc->pid_pa))
        return true;
    for (unsigned i = 0; i < 4; i++)
        if (vmx_pi_pir_qword(p, vc->pid_pa, i))
            return true;
    return false;
}

/* The highest vector posted in PIR, or -1 (the descriptor is not changed). */
static int hv_pir_highest(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_phys *p = &hv->m->phys;
    for (int i = 3; i >= 0; i--) {
        uint64_t q = vmx_pi_pir_qword(p, vc->pid_pa, (unsigned)i);
        if (q)
            return i * 64 + 63 - __builtin_clzll(q);
    }
    return -1;
}

static bool hv_guest_if(emu_hv_vcpu *vc)
{
    return (HV_VMCS(vc, GUEST_RFLAGS) & CPU_FL_IF) != 0;
}

static bool hv_guest_interruptible(emu_hv_vcpu *vc)
{
    return hv_guest_if(vc) &&
           !(HV_VMCS(vc, GUEST_INTERRUPTIBILITY) & (VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS));
}

static int hv_sw_highest_irr(const apic_t *a)
{
    for (int slot = 7; slot >= 0; slot--)
        if (a->irr[slot])
            return slot * 32 + (31 - __builtin_clz(a->irr[slot]));
    return -1;
}

/* KVM update_cr8_intercept / vmx_update_cr8_intercept: with TPR shadow and
 * without VID, the TPR threshold is the class of the highest pending
 * interrupt if the TPR masks it, else 0. The guest then exits (43) exactly
 * when lowering its TPR unmasks something, and never at once after an
 * entry (SDM 26.6.7: exit 43 right after the entry when threshold[3:0] >
 * VTPR[7:4]). Pending means the software APIC's IRR (tpr-shadow) or VIRR
 * (apicv/posted with VID turned off by the guest). */
void hv_update_cr8_intercept(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (!(HV_VMCS(vc, PROC_CONTROLS) & VMX_PROC_TPR_SHADOW))
        return;
    int irr;
    unsigned tpr_class;
    if (hv_apicv_mode(hv)) {
        irr = vmx_vapic_highest(&vc->vmx, VMX_VAPIC_IRR);
        tpr_class = (vmx_vapic_read32(&vc->vmx, VMX_VAPIC_TPR) >> 4) & 0xF;
    } else {
        irr = hv_sw_highest_irr(&vc->sw_apic);
        tpr_class = (vc->sw_apic.tpr >> 4) & 0xF;
    }
    unsigned thr = (irr >= 0 && (unsigned)(irr >> 4) <= tpr_class) ? (unsigned)irr >> 4 : 0;
    HV_VMCS_SET(vc, TPR_THRESHOLD, thr);
}

/* emulated/tpr-shadow (KVM: vmx_inject_irq, enable_irq_window,
 * update_cr8_intercept): the highest deliverable interrupt of the software
 * APIC goes into the VM-entry interruption-information field when the
 * guest can take it; otherwise interrupt-window exiting asks for the moment
 * it can. With TPR shadow the threshold is the class of the highest
 * pending interrupt the TPR masks (0 when none), so the guest exits (43)
 * when it lowers its TPR below it. */
static void hv_prepare_injection(emu_hv *hv, emu_hv_vcpu *vc)
{
    apic_t *a = &vc->sw_apic;
    bool window = false;
    if (HV_VMCS(vc, ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID) {
        window = apic_pending_vector(a) >= 0;
    } else if (apic_pending_vector(a) >= 0) {
        if (hv_guest_interruptible(vc)) {
            int vec = apic_acknowledge(a);
            if (vec >= 0) {
                HV_VMCS_SET(vc, ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (uint32_t)vec);
                hv_charge(vc, CPU_COST_HV_INJECT);
                vc->delivered[EMU_HV_PATH_INJECT]++;
                hv_emit(hv, vc, EMU_HV_EV_INJECT, (uint64_t)vec, 0, 0);
            }
            window = apic_pending_vector(a) >= 0;
        } else {
            window = true;
        }
    }
    /* Set here, cleared only by the exit-7 handler, as KVM does. */
    if (window)
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) | VMX_PROC_INTR_WINDOW);
    if (hv->mode == EMU_MODE_TPR_SHADOW)
        hv_update_cr8_intercept(hv, vc);
}

/* KVM vmx_inject_nmi / enable_nmi_window: an NMI goes into the VM-entry
 * field unless another event is there or the guest blocks NMIs (blocking
 * by NMI or MOV SS); then NMI-window exiting asks for the moment. */
static void hv_prepare_nmi(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (!vc->nmi_pending)
        return;
    uint64_t intr = HV_VMCS(vc, GUEST_INTERRUPTIBILITY);
    bool blocked = (intr & (VMX_INTERRUPTIBILITY_NMI | VMX_INTERRUPTIBILITY_MOV_SS |
                            VMX_INTERRUPTIBILITY_STI)) != 0;
    if (!(HV_VMCS(vc, ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID) && !blocked) {
        HV_VMCS_SET(vc, ENTRY_INTR_INFO,
                    VMX_INTR_INFO_VALID | ((uint32_t)VMX_INTR_TYPE_NMI << 8) | CPU_EXC_NMI);
        hv_charge(vc, CPU_COST_HV_INJECT);
        vc->nmi_pending = false;
        hv_emit(hv, vc, EMU_HV_EV_INJECT, CPU_EXC_NMI, VMX_INTR_TYPE_NMI, 0);
    } else {
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) | VMX_PROC_NMI_WINDOW);
    }
}

/* Everything the hypervisor does in root operation right before VM entry. */
void hv_prepare_entry(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_phys *p = &hv->m->phys;
    if (hv->mp) {
        hv_mp_prepare_entry(hv, vc);
        /* Nothing is injected into wait-for-SIPI (SDM 26.3.1.5): it
         * waits for the SIPI exit. */
        if (HV_VMCS(vc, GUEST_ACTIVITY_STATE) == VMX_ACTIVITY_WAIT_SIPI)
            return;
    }
    hv_prepare_nmi(hv, vc);
    emu_hv_prepare_extint(hv, vc); /* the 8259 through LINT0 (emu_hv_devices.c) */
    switch (hv->mode) {
    case EMU_MODE_POSTED:
        vmx_pi_set_ndst(p, vc->pid_pa, hv_ndst(vc));
        if (hv_pid_pending(hv, vc))
            vmx_apicv_pi_sync(&vc->vmx);
        hv_merge_pending_irr(hv, vc);
        break;
    case EMU_MODE_APICV: hv_merge_pending_irr(hv, vc); break;
    default: hv_prepare_injection(hv, vc); break;
    }
}

/* VPPR as PPR virtualization computes it (SDM 29.1.3). */
static uint8_t hv_vppr(emu_hv_vcpu *vc)
{
    uint8_t vtpr = (uint8_t)vmx_vapic_read32(&vc->vmx, VMX_VAPIC_TPR);
    uint8_t svi = vmx_apicv_svi(&vc->vmx);
    return (vtpr >> 4) >= (svi >> 4) ? vtpr : (uint8_t)(svi & 0xF0);
}

/* Can a sleeping vCPU take an interrupt (KVM: kvm_vcpu_has_events with
 * kvm_arch_interrupt_allowed)? apicv/posted: the highest pending virtual
 * interrupt — RVI, or a vector still in PIR (posted) — is in a class above
 * VPPR's (SDM 30.2.1: what evaluation would recognise); emulated: the
 * software APIC has a deliverable one. */
bool hv_can_wake(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (vc->nmi_pending || vc->host_apic->init_pending)
        return true;
    if (!hv_guest_if(vc))
        return false;
    if (emu_hv_extint_pending(hv, vc))
        return true;
    switch (hv->mode) {
    case EMU_MODE_POSTED:
    case EMU_MODE_APICV: {
        hv_merge_pending_irr(hv, vc);
        int rvi = vmx_apicv_rvi(&vc->vmx);
        if (hv->mode == EMU_MODE_POSTED) {
            int pir = hv_pir_highest(hv, vc);
            if (pir > rvi)
                rvi = pir;
        }
        return (rvi >> 4) > (hv_vppr(vc) >> 4);
    }
    default: return apic_pending_vector(&vc->sw_apic) >= 0;
    }
}


/* The guest's APIC timer (LVT timer, initial count, divide, TSC deadline)
 * runs on the software APIC in every mode, as KVM emulates the LAPIC
 * timer in software: when it fires, its vector goes to the vCPU by the
 * mode's path (emulated: the software APIC's IRR and a kick; apicv/posted:
 * VIRR or a post). */
void hv_guest_timer(emu_hv *hv, emu_hv_vcpu *vc)
{
    apic_t *a = &vc->sw_apic;
    cpu_t *c = vc->vmx.cpu;
    if (apic_timer_deadline(a) > c->cycles)
        return;
    apic_timer_advance(a, c->cycles);
    hv_sw_apic_raised(hv, vc);
}

/* emulated/tpr-shadow: the software APIC is the guest's APIC, its IRR waits
 * for injection and a running vCPU is kicked to take it. apicv/posted: the
 * software APIC only sources interrupts (timer, LVT error), which leave its
 * IRR for VIRR or PIR. */
void hv_sw_apic_raised(emu_hv *hv, emu_hv_vcpu *vc)
{
    apic_t *a = &vc->sw_apic;
    if (!hv_apicv_mode(hv)) {
        if (apic_pending_vector(a) >= 0)
            hv_kick(hv, vc);
        return;
    }
    for (unsigned slot = 0; slot < 8; slot++) {
        uint32_t bits = a->irr[slot];
        a->irr[slot] = 0;
        while (bits) {
            unsigned b = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            hv_deliver(hv, hv_index(hv, vc), (uint8_t)(slot * 32 + b));
        }
    }
}
