/*
 * vmx_x2apic.c — SDM Vol. 3C 29.5 "Virtualizing MSR-Based APIC Accesses"
 * (2016 numbering): RDMSR and WRMSR of the x2APIC MSRs 800H-8FFH when
 * "virtualize x2APIC mode" = 1 and the MSR bitmap let the access through
 * (the caller consults the bitmap first; an access the bitmap intercepts is
 * an ordinary exit 31/32 and never reaches this file).
 */
#include "vmx/vmx_apicv.h"

#include <string.h>

enum { X2APIC_TPR = 0x808, X2APIC_EOI = 0x80B, X2APIC_SELF_IPI = 0x83F };

/* MSR 8xyH maps to virtual-APIC page offset xy0H. */
static unsigned msr_offset(uint32_t msr)
{
    return (msr & 0xFFu) << 4;
}

static uint64_t read64(vmx_vcpu *v, unsigned offset)
{
    const uint8_t *page = vmx_vapic_page(v);
    uint64_t val = 0;
    if (page)
        memcpy(&val, page + offset, 8);
    return val;
}

static void write64(vmx_vcpu *v, unsigned offset, uint64_t val)
{
    vmx_vapic_store(v, offset, &val, 8);
}

static bool x2apic_virtualized(const vmx_vcpu *v, uint32_t msr)
{
    return msr >= 0x800 && msr <= 0x8FF && (vmx_proc2(v) & VMX_PROC2_VIRT_X2APIC) != 0;
}

/*
 * SDM 29.5 RDMSR: with APIC-register virtualization = 1 every MSR 800H-8FFH
 * reads the 64 bits at page offset (ECX & FFH) << 4 of the virtual-APIC page
 * (with no #GP for a register the x2APIC lacks); with it 0 only 808H (TPR) is
 * virtualized and any other MSR operates normally.
 */
vmx_x2apic_result vmx_apicv_rdmsr(vmx_vcpu *v, uint32_t msr, uint64_t *val)
{
    if (!x2apic_virtualized(v, msr))
        return VMX_X2APIC_PASS;
    if (!(vmx_proc2(v) & VMX_PROC2_APIC_REG_VIRT) && msr != X2APIC_TPR)
        return VMX_X2APIC_PASS;
    *val = read64(v, msr_offset(msr));
    vmx_apicv_emit(v, VMX_EV_X2APIC_RDMSR, msr, 0, *val);
    return VMX_X2APIC_DONE;
}

/*
 * SDM 29.5 WRMSR: 808H (TPR) always, 80BH (EOI) and 83FH (SELF IPI) with
 * virtual-interrupt delivery = 1; any other MSR operates normally. Faults
 * first: 808H and 83FH #GP when bits 63:8 are set, 80BH when the value is not
 * 0. Then EDX:EAX is written to page offset (ECX & FFH) << 4 and the
 * virtualization the register calls for follows: TPR virtualization, EOI
 * virtualization, or for SELF IPI self-IPI virtualization of a vector >= 16
 * and, for a vector below 16, an APIC-write VM exit with qualification 3F0H
 * (trap-like: recorded as APIC-write emulation of 3F0H, which exits).
 */
vmx_x2apic_result vmx_apicv_wrmsr(vmx_vcpu *v, uint32_t msr, uint64_t val)
{
    if (!x2apic_virtualized(v, msr))
        return VMX_X2APIC_PASS;
    bool vid = (vmx_proc2(v) & VMX_PROC2_VIRT_INTR_DELIVERY) != 0;
    unsigned offset = msr_offset(msr);
    switch (msr) {
    case X2APIC_TPR: {
        if (val >> 8)
            return VMX_X2APIC_GP;
        uint32_t before = vmx_vapic_read32(v, offset);
        vmx_apicv_emit(v, VMX_EV_X2APIC_WRMSR, msr, read64(v, offset), val);
        write64(v, offset, val);
        vmx_apicv_tpr_virtualization(v, VMX_TPR_SRC_MSR, before);
        return VMX_X2APIC_DONE;
    }
    case X2APIC_EOI:
        if (!vid)
            return VMX_X2APIC_PASS;
        if (val != 0)
            return VMX_X2APIC_GP;
        vmx_apicv_emit(v, VMX_EV_X2APIC_WRMSR, msr, read64(v, offset), val);
        write64(v, offset, val);
        vmx_apicv_eoi_virtualization(v);
        return VMX_X2APIC_DONE;
    case X2APIC_SELF_IPI:
        if (!vid)
            return VMX_X2APIC_PASS;
        if (val >> 8)
            return VMX_X2APIC_GP;
        vmx_apicv_emit(v, VMX_EV_X2APIC_WRMSR, msr, read64(v, offset), val);
        v->apicv_aux[0] = vmx_vapic_read32(v, offset);
        write64(v, offset, val);
        if ((val & 0xFFu) >= 16) {
            vmx_apicv_self_ipi_virtualization(v, (uint8_t)val);
            return VMX_X2APIC_DONE;
        }
        v->apic_write_pending = true;
        v->apic_write_offset = VMX_VAPIC_SELF_IPI;
        vmx_kick(v);
        return VMX_X2APIC_DONE_EXIT;
    default:
        return VMX_X2APIC_PASS;
    }
}
