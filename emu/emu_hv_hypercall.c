/*
 * emu_hv_hypercall.c — the guest ABI's hypercalls (VMCALL, exit 18):
 * the table of /work/shared/spec/guest-abi.md, docs/guest-abi.md.
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

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

bool hv_hypercall(emu_hv *hv, emu_hv_vcpu *vc)
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

