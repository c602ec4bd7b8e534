/*
 * emu_hv_devices.c — the machine's I/O APIC seen from the built-in
 * hypervisor: whose APIC a message's destination names, and level-
 * triggered interrupts with their EOI coming back (as KVM's in-kernel I/O
 * APIC does, arch/x86/kvm/ioapic.c).
 *
 * The destination of an I/O APIC message is matched against the guest's
 * APICs (the software APIC holds each vCPU's ID, LDR and DFR in every mode,
 * as for guest IPIs). A level-triggered message is delivered like an edge
 * one, and then:
 *   - emulated, tpr-shadow: the software APIC is the guest's APIC; its TMR
 *     bit is set and its EOI broadcast (SDM 11.8.5) reaches the I/O APIC;
 *   - apicv, posted: the TMR bit is set on the virtual-APIC page and the
 *     vector's bit in the EOI-exit bitmap (SDM 24.6.8), so the guest's
 *     virtualized EOI of it ends in an EOI-induced exit (SDM 29.1.4,
 *     exit 45), which the hypervisor forwards to the I/O APIC (KVM:
 *     ioapic_handled_vectors and kvm_apic_set_eoi_accelerated).
 */
#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

apic_t *emu_hv_guest_apic(emu_hv *hv, unsigned vcpu)
{
    return vcpu < hv->ncpus ? &hv->vcpu[vcpu].sw_apic : NULL;
}

uint32_t emu_hv_guest_lint0(emu_hv *hv, unsigned vcpu)
{
    if (vcpu >= hv->ncpus)
        return APIC_LVT_MASKED;
    emu_hv_vcpu *vc = &hv->vcpu[vcpu];
    if (hv_apicv_mode(hv) && !apic_x2apic_mode(&vc->sw_apic))
        return vmx_vapic_read32(&vc->vmx, APIC_REG_LVT_LINT0);
    return vc->sw_apic.lvt[APIC_LVT_LINT0];
}

/* SDM 11.8.4 "Interrupt Acceptance for Fixed Interrupts": accepting a
 * fixed interrupt into the IRR sets its TMR bit when it is level-triggered
 * and clears it when it is edge-triggered; the bit keeps that value after
 * the EOI. apicv/posted: the guest reads the TMR (180H-1F0H) from the
 * virtual-APIC page, so the host keeps it there at every acceptance, as
 * KVM's __apic_accept_irq does, and the vector's EOI-exit bit (SDM 24.6.8)
 * with it, so that only a level-triggered vector's EOI exits (45) for the
 * I/O APIC. The software APIC of emulated/tpr-shadow modes does this in
 * apic_accept. */
void hv_set_trigger(emu_hv_vcpu *vc, uint8_t vector, bool level)
{
    uint32_t bit = 1u << (vector & 31);
    unsigned tmr = VMX_VAPIC_TMR + 0x10u * (vector >> 5);
    uint32_t old = vmx_vapic_read32(&vc->vmx, tmr);
    vmx_vapic_write32(&vc->vmx, tmr, level ? old | bit : old & ~bit);
    uint32_t enc = (uint32_t)VMCS_EOI_EXIT_BITMAP0 + 2u * (vector >> 6);
    uint64_t eoi_exit = vmx_vmcs_get(&vc->vmx.vmcs, enc);
    uint64_t ebit = 1ull << (vector & 63u);
    vmx_vmcs_set(&vc->vmx.vmcs, enc, level ? eoi_exit | ebit : eoi_exit & ~ebit);
}

void emu_hv_device_level(emu_hv *hv, unsigned vcpu, uint8_t vector)
{
    if (vcpu >= hv->ncpus)
        return;
    emu_hv_vcpu *vc = &hv->vcpu[vcpu];
    hv_deliver(hv, vcpu, vector);
    if (hv_apicv_mode(hv)) {
        hv_set_trigger(vc, vector, true);
    } else {
        vc->sw_apic.tmr[vector >> 5] |= 1u << (vector & 31);
        apic_set_eoi_sink(&vc->sw_apic, emu_irq_eoi, hv->m);
    }
}

/* The broadcast follows the guest's SVR: bit 12 suppresses it (SDM
 * 11.8.5; KVM kvm_ioapic_send_eoi checks the same bit). */
void emu_hv_level_eoi(emu_hv *hv, emu_hv_vcpu *vc, uint8_t vector)
{
    uint32_t svr = hv_apicv_mode(hv) ? vmx_vapic_read32(&vc->vmx, APIC_REG_SVR) : vc->sw_apic.svr;
    if (!(svr & APIC_SVR_EOI_SUPPRESS))
        emu_irq_eoi(hv->m, &vc->sw_apic, vector);
}

/* ---- the 8259's ExtINT --------------------------------------------------------- */

/* Whether the 8259's INT reaches vCPU vc: its guest APIC's LINT0 unmasked
 * in ExtINT mode (SDM 11.5.1), or, for vCPU 0, a globally disabled APIC
 * (KVM kvm_apic_accept_pic_intr). */
bool emu_hv_extint_pending(emu_hv *hv, emu_hv_vcpu *vc)
{
    return hv->m->dev.pic.intr && emu_pic_routes_to(hv->m, hv_index(hv, vc));
}

/* Before VM entry (KVM kvm_cpu_get_extint, vmx_inject_irq): an ExtINT the
 * guest can take now is acknowledged at the 8259 (its INTA cycles) and
 * injected as an external interrupt; otherwise interrupt-window exiting
 * asks for the moment it can. Returns true when something was injected. */
bool emu_hv_prepare_extint(emu_hv *hv, emu_hv_vcpu *vc)
{
    if (!emu_hv_extint_pending(hv, vc))
        return false;
    bool free_field = !(HV_VMCS(vc, ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID);
    bool interruptible =
        (HV_VMCS(vc, GUEST_RFLAGS) & CPU_FL_IF) &&
        !(HV_VMCS(vc, GUEST_INTERRUPTIBILITY) & (VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS));
    if (!free_field || !interruptible) {
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) | VMX_PROC_INTR_WINDOW);
        return false;
    }
    cpu_t *c = vc->vmx.cpu;
    uint8_t v = emu_pic_ack(&hv->m->dev.pic);
    cpu_obs_emit(&hv->m->obs, c->cycles, c->index, EMU_EV_PIC_INTA, v, 0, HV_VMCS(vc, GUEST_RIP), 0);
    HV_VMCS_SET(vc, ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (uint32_t)v);
    return true;
}
