/*
 * vmx_posted.c — SDM Vol. 3C 29.6 "Posted-Interrupt Processing" (2016
 * numbering): the posted-interrupt descriptor, the processor's side (steps
 * 1-7 when the notification vector arrives in non-root operation) and the
 * sender's side used by the hypervisor and the IOMMU model.
 *
 * "Atomically" in the SDM is about other agents touching the descriptor
 * between the read and the write. The machine is single-threaded and applies
 * cross-CPU effects only at instruction boundaries, so each function below
 * is one indivisible step for every other agent.
 */
#include "vmx/vmx_apicv.h"

#include "apic/apic.h"

#include <string.h>

/* Byte offsets in the 64-byte descriptor (SDM 29.6 table 29-1). */
enum { PI_PIR = 0, PI_CTL = 32, PI_NV = 34, PI_NDST = 36 };
enum { PI_ON = 1u << 0, PI_SN = 1u << 1 };

static const uint8_t *desc_ptr(cpu_phys *p, uint64_t desc)
{
    return (const uint8_t *)cpu_phys_ptr(p, desc, VMX_PI_DESC_SIZE);
}

/* For writing: the descriptor may be in guest RAM the VMM chose (SDM 29.6),
 * even on a page holding code, which cpu_phys_ptr_write invalidates. */
static uint8_t *desc_ptr_write(cpu_phys *p, uint64_t desc)
{
    return (uint8_t *)cpu_phys_ptr_write(p, desc, VMX_PI_DESC_SIZE);
}

bool vmx_pi_get_on(cpu_phys *p, uint64_t desc)
{
    const uint8_t *d = desc_ptr(p, desc);
    return d && (d[PI_CTL] & PI_ON);
}

void vmx_pi_set_on(cpu_phys *p, uint64_t desc, bool on)
{
    uint8_t *d = desc_ptr_write(p, desc);
    if (d)
        d[PI_CTL] = (uint8_t)(on ? d[PI_CTL] | PI_ON : d[PI_CTL] & ~PI_ON);
}

bool vmx_pi_get_sn(cpu_phys *p, uint64_t desc)
{
    const uint8_t *d = desc_ptr(p, desc);
    return d && (d[PI_CTL] & PI_SN);
}

void vmx_pi_set_sn(cpu_phys *p, uint64_t desc, bool sn)
{
    uint8_t *d = desc_ptr_write(p, desc);
    if (d)
        d[PI_CTL] = (uint8_t)(sn ? d[PI_CTL] | PI_SN : d[PI_CTL] & ~PI_SN);
}

uint8_t vmx_pi_get_nv(cpu_phys *p, uint64_t desc)
{
    const uint8_t *d = desc_ptr(p, desc);
    return d ? d[PI_NV] : 0;
}

void vmx_pi_set_nv(cpu_phys *p, uint64_t desc, uint8_t nv)
{
    uint8_t *d = desc_ptr_write(p, desc);
    if (d)
        d[PI_NV] = nv;
}

uint32_t vmx_pi_get_ndst(cpu_phys *p, uint64_t desc)
{
    const uint8_t *d = desc_ptr(p, desc);
    uint32_t ndst = 0;
    if (d)
        memcpy(&ndst, d + PI_NDST, 4);
    return ndst;
}

void vmx_pi_set_ndst(cpu_phys *p, uint64_t desc, uint32_t ndst)
{
    uint8_t *d = desc_ptr_write(p, desc);
    if (d)
        memcpy(d + PI_NDST, &ndst, 4);
}

uint64_t vmx_pi_pir_qword(cpu_phys *p, uint64_t desc, unsigned i)
{
    const uint8_t *d = desc_ptr(p, desc);
    uint64_t q = 0;
    if (d && i < 4)
        memcpy(&q, d + PI_PIR + 8 * i, 8);
    return q;
}

bool vmx_pi_test_pir(cpu_phys *p, uint64_t desc, uint8_t vector)
{
    return (vmx_pi_pir_qword(p, desc, vector >> 6) >> (vector & 63u)) & 1u;
}

/*
 * The sender's protocol (SDM 29.6 and the VT-d posted-interrupt rules): the
 * request goes into PIR first; a notification is needed only when ON was
 * clear (no notification outstanding) and SN is clear (the vCPU is not
 * suppressing them, e.g. while it is not running). A sender that finds SN
 * set leaves ON clear: whoever clears SN must look at PIR again.
 */
bool vmx_pi_post(cpu_phys *p, uint64_t desc, uint8_t vector, bool *send_notification)
{
    uint8_t *d = desc_ptr_write(p, desc);
    *send_notification = false;
    if (!d)
        return false;
    d[PI_PIR + (vector >> 3)] |= (uint8_t)(1u << (vector & 7u));
    if (!(d[PI_CTL] & PI_ON) && !(d[PI_CTL] & PI_SN)) {
        d[PI_CTL] |= PI_ON;
        *send_notification = true;
    }
    return true;
}

static uint64_t ctl_qword(cpu_phys *p, uint64_t desc)
{
    const uint8_t *d = desc_ptr(p, desc);
    uint64_t q = 0;
    if (d)
        memcpy(&q, d + PI_CTL, 8);
    return q;
}

/* Step 5 (PIR ORed into VIRR and cleared) and step 6 (RVI = max(RVI, highest
 * PIR vector), unchanged when PIR was empty), shared by the processor's
 * processing and the hypervisor's root-operation sync. Returns the number of
 * PIR bits moved. */
static unsigned pir_to_virr(vmx_vcpu *v, uint64_t desc)
{
    uint8_t *d = desc_ptr_write(v->phys, desc);
    uint64_t pir[4] = {0, 0, 0, 0};
    if (d) {
        memcpy(pir, d + PI_PIR, sizeof pir);
        memset(d + PI_PIR, 0, sizeof pir);
    }
    unsigned moved = 0;
    int highest = -1;
    for (unsigned slot = 0; slot < 8; slot++) {
        uint32_t bits = (uint32_t)(pir[slot / 2] >> (32 * (slot % 2)));
        if (!bits)
            continue;
        unsigned off = VMX_VAPIC_IRR + slot * 16u;
        vmx_vapic_write32(v, off, vmx_vapic_read32(v, off) | bits);
        moved += (unsigned)__builtin_popcount(bits);
        highest = (int)(slot * 32 + (31 - (unsigned)__builtin_clz(bits)));
    }
    vmx_apicv_emit(v, VMX_EV_PI_PIR_TO_VIRR, moved, highest < 0 ? ~0ull : (uint64_t)highest, pir[0]);
    uint8_t rvi = vmx_apicv_rvi(v);
    uint8_t after = rvi;
    if (highest > (int)rvi)
        after = (uint8_t)highest;
    vmx_apicv_set_rvi(v, after);
    vmx_apicv_emit(v, VMX_EV_PI_RVI_UPDATE, highest < 0 ? ~0ull : (uint64_t)highest, rvi, after);
    return moved;
}

/*
 * SDM 29.6 "Posted-Interrupt Processing", for an external interrupt that
 * arrives in non-root operation with external-interrupt exiting = 1 and
 * process posted interrupts = 1:
 *  1. the local APIC is acknowledged (by the caller), giving the vector;
 *  2. a vector other than the notification vector ends processing: the
 *     caller causes the ordinary external-interrupt exit (1);
 *  3. ON is cleared in the descriptor;
 *  4. 0 is written to the local APIC's EOI register (apic_eoi);
 *  5. PIR is ORed into VIRR and cleared;
 *  6. RVI = max(RVI, highest PIR vector);
 *  7. pending virtual interrupts are evaluated.
 * No VM exit: a recognised virtual interrupt may be delivered right away.
 */
vmx_pi_result vmx_apicv_posted_intr_process(vmx_vcpu *v, uint8_t vector)
{
    vmx_apicv_emit(v, VMX_EV_PI_ACK, vector, 0, 0);
    uint8_t nv = (uint8_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_POSTED_INTR_NV);
    if (vector != nv) {
        vmx_apicv_emit(v, VMX_EV_PI_NV_MISMATCH, vector, nv, 0);
        return VMX_PI_NOT_NOTIFICATION;
    }
    vmx_apicv_emit(v, VMX_EV_PI_NV_MATCH, vector, nv, 0);
    /* Steps 3-6 take the CPU's time (docs/cost-model.md, "pi_process"). */
    if (v->cpu)
        v->cpu->cycles += v->cpu->costs->cost[CPU_COST_PI_PROCESS];
    uint64_t desc = vmx_vmcs_read_fast(&v->vmcs, VMCS_POSTED_INTR_DESC_ADDR);
    uint64_t before = ctl_qword(v->phys, desc);
    vmx_pi_set_on(v->phys, desc, false);
    vmx_apicv_emit(v, VMX_EV_PI_ON_CLEAR, desc, before, ctl_qword(v->phys, desc));
    if (v->apic)
        apic_eoi(v->apic);
    vmx_apicv_emit(v, VMX_EV_PI_EOI, vector, 0, 0);
    pir_to_virr(v, desc);
    vmx_apicv_evaluate_pending(v);
    return VMX_PI_PROCESSED;
}

/* What a hypervisor does in software when the notification reached the CPU
 * in root operation (an ordinary host interrupt): ON cleared, then steps 5
 * and 6, before the next VM entry evaluates. */
unsigned vmx_apicv_pi_sync(vmx_vcpu *v)
{
    uint64_t desc = vmx_vmcs_read_fast(&v->vmcs, VMCS_POSTED_INTR_DESC_ADDR);
    uint64_t before = ctl_qword(v->phys, desc);
    vmx_pi_set_on(v->phys, desc, false);
    vmx_apicv_emit(v, VMX_EV_PI_ON_CLEAR, desc, before, ctl_qword(v->phys, desc));
    return pir_to_virr(v, desc);
}
