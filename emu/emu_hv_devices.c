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

void emu_hv_device_level(emu_hv *hv, unsigned vcpu, uint8_t vector)
{
    if (vcpu >= hv->ncpus)
        return;
    emu_hv_vcpu *vc = &hv->vcpu[vcpu];
    hv_deliver(hv, vcpu, vector);
    uint32_t bit = 1u << (vector & 31);
    if (hv_apicv_mode(hv)) {
        unsigned tmr = VMX_VAPIC_TMR + 0x10u * (vector >> 5);
        vmx_vapic_write32(&vc->vmx, tmr, vmx_vapic_read32(&vc->vmx, tmr) | bit);
        uint32_t enc = (uint32_t)VMCS_EOI_EXIT_BITMAP0 + 2u * (vector >> 6);
        vmx_vmcs_set(&vc->vmx.vmcs, enc,
                     vmx_vmcs_get(&vc->vmx.vmcs, enc) | (1ull << (vector & 63u)));
    } else {
        vc->sw_apic.tmr[vector >> 5] |= bit;
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
