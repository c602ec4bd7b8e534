/*
 * vmx_apic_access.c — SDM Vol. 3C 29.4 "Virtualizing Memory-Mapped APIC
 * Accesses" (2016 numbering): which linear accesses to the APIC-access page
 * are virtualized (29.4.2 reads, 29.4.3.1 writes), the virtualized accesses
 * themselves (29.4.3.2 "Treatment of Virtualized Writes") and APIC-write
 * emulation after the instruction (29.4.3.2 "APIC-Write Emulation"). The
 * APIC-access VM exit (44) is caused here, in vmx_apicv_mmio; the
 * APIC-write VM exit (56) by vmx_apicv_after_insn.
 *
 * An "operation" of the SDM (an instruction, one iteration of a REP string
 * instruction, or an event delivery) is approximated by one instruction of
 * the interpreter: vmx_apicv_after_insn ends it at the next boundary.
 */
#include "vmx/vmx_apicv.h"

#include <string.h>

/* Page offsets (of the 16-byte slots) whose reads are virtualized with
 * APIC-register virtualization = 1 (29.4.2): ID, version, TPR, EOI, LDR,
 * DFR, SVR, ISR, TMR, IRR, ESR, ICR low/high, the LVT, initial count and
 * divide configuration. */
static bool read_slot_virtualized(unsigned slot)
{
    switch (slot) {
    case 0x020: case 0x030: case 0x080: case 0x0B0: case 0x0D0: case 0x0E0: case 0x0F0:
    case 0x280: case 0x300: case 0x310: case 0x380: case 0x3E0:
        return true;
    default:
        return (slot >= 0x100 && slot <= 0x270) || (slot >= 0x320 && slot <= 0x370);
    }
}

/* Page offsets whose writes are virtualized with APIC-register
 * virtualization = 1 (29.4.3.1): the registers software may write — not
 * ISR, TMR, IRR, PPR, APR, the current count or the x2APIC-only 3F0H. */
static bool write_slot_virtualized(unsigned slot)
{
    switch (slot) {
    case 0x020: case 0x080: case 0x0B0: case 0x0D0: case 0x0E0: case 0x0F0:
    case 0x280: case 0x300: case 0x310: case 0x380: case 0x3E0:
        return true;
    default:
        return slot >= 0x320 && slot <= 0x370;
    }
}

static vmx_apic_access_decision exit44(unsigned offset, unsigned type)
{
    vmx_apic_access_decision d = {VMX_APIC_ACCESS_EXIT, (uint32_t)((offset & 0xFFFu) | (type << 12))};
    return d;
}

/*
 * SDM 29.4.2 "Virtualizing Reads from the APIC-Access Page" and 29.4.3.1
 * "Determining Whether a Write Access is Virtualized". An access exits (44)
 * when use TPR shadow = 0, when it is a fetch or a guest-physical access
 * (29.4.6.1), when it is wider than 32 bits or not wholly inside the low 4
 * bytes of a 16-byte slot, and when the operation already virtualized a
 * write (for a write: one at another offset or of another size). Otherwise
 * the page offset decides, per the APIC-register-virtualization and
 * virtual-interrupt-delivery controls. Without APIC-register
 * virtualization the SDM names a page offset ("its page offset is 080H"),
 * so only accesses starting there qualify.
 */
vmx_apic_access_decision vmx_apic_access_decide(unsigned offset, unsigned size, vmx_apic_acc acc,
                                                const vmx_apic_access_ctl *ctl)
{
    offset &= 0xFFFu;
    if (acc == VMX_APIC_ACC_GUEST_PHYS)
        return exit44(offset, ctl->event_delivery ? VMX_APIC_ACCESS_TYPE_GPA_EVENT
                                                  : VMX_APIC_ACCESS_TYPE_GPA_INSN);
    if (acc == VMX_APIC_ACC_FETCH)
        return exit44(offset, VMX_APIC_ACCESS_TYPE_FETCH);
    unsigned type = ctl->event_delivery ? VMX_APIC_ACCESS_TYPE_EVENT
                    : acc == VMX_APIC_ACC_WRITE ? VMX_APIC_ACCESS_TYPE_WRITE
                                                : VMX_APIC_ACCESS_TYPE_READ;
    if (!ctl->tpr_shadow || size == 0 || size > 4 || (offset & 0xFu) + size > 4)
        return exit44(offset, type);
    unsigned slot = offset & 0xFF0u;
    bool ok;
    if (acc == VMX_APIC_ACC_READ) {
        if (ctl->write_virtualized)
            return exit44(offset, type);
        ok = ctl->reg_virt ? read_slot_virtualized(slot) : offset == VMX_VAPIC_TPR;
    } else {
        if (ctl->write_virtualized && (ctl->prior_offset != offset || ctl->prior_size != size))
            return exit44(offset, type);
        if (ctl->reg_virt)
            ok = write_slot_virtualized(slot);
        else if (ctl->vid)
            ok = offset == VMX_VAPIC_TPR || offset == VMX_VAPIC_EOI || offset == VMX_VAPIC_ICR_LO;
        else
            ok = offset == VMX_VAPIC_TPR;
    }
    if (!ok)
        return exit44(offset, type);
    vmx_apic_access_decision d = {
        acc == VMX_APIC_ACC_READ ? VMX_APIC_ACCESS_VIRT_READ : VMX_APIC_ACCESS_VIRT_WRITE, 0};
    return d;
}

void vmx_apic_access_ctl_of(vmx_vcpu *v, vmx_apic_access_ctl *ctl)
{
    uint32_t proc = (uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_PROC_CONTROLS);
    uint32_t proc2 = vmx_proc2(v);
    memset(ctl, 0, sizeof *ctl);
    ctl->tpr_shadow = (proc & VMX_PROC_TPR_SHADOW) != 0;
    ctl->reg_virt = (proc2 & VMX_PROC2_APIC_REG_VIRT) != 0;
    ctl->vid = (proc2 & VMX_PROC2_VIRT_INTR_DELIVERY) != 0;
    ctl->event_delivery = v->cpu != NULL && v->cpu->in_delivery > 0;
    ctl->write_virtualized = v->apic_write_virtualized;
    /* apicv_aux[1]: offset (bits 15:0) and size (bits 23:16) of the write
     * virtualized in the current operation. */
    ctl->prior_offset = (uint16_t)(v->apicv_aux[1] & 0xFFFFu);
    ctl->prior_size = (uint8_t)(v->apicv_aux[1] >> 16);
}

/* SDM 29.4.2: a virtualized read returns the bytes at the same page offset
 * of the virtual-APIC page. */
uint32_t vmx_apicv_virtualized_read(vmx_vcpu *v, unsigned offset, unsigned size)
{
    const uint8_t *page = vmx_vapic_page(v);
    uint32_t val = 0;
    offset &= 0xFFFu;
    if (page && size <= 4 && offset + size <= CPU_PAGE_SIZE)
        memcpy(&val, page + offset, size);
    vmx_apicv_emit(v, VMX_EV_APIC_ACCESS_READ, offset, size, val);
    return val;
}

/*
 * SDM 29.4.3.2 "Treatment of Virtualized Writes": the data goes to the same
 * page offset of the virtual-APIC page and APIC-write emulation for that
 * offset follows the instruction. apicv_aux[0] keeps the dword as it was
 * before the first write of the operation (the "before" of the emulation
 * event and of TPR virtualization).
 */
void vmx_apicv_virtualized_write(vmx_vcpu *v, unsigned offset, unsigned size, uint64_t value)
{
    offset &= 0xFFFu;
    if (!v->apic_write_virtualized)
        v->apicv_aux[0] = vmx_vapic_read32(v, offset);
    if (size <= 4) {
        uint32_t val32 = (uint32_t)value;
        vmx_vapic_store(v, offset, &val32, size);
    }
    vmx_apicv_emit(v, VMX_EV_APIC_ACCESS_WRITE, offset, size, value);
    v->apic_write_virtualized = true;
    v->apicv_aux[1] = offset | ((uint64_t)size << 16);
    v->apic_write_pending = true;
    v->apic_write_offset = (uint16_t)offset;
    vmx_kick(v);
}

/* VICR_LO describes a self-IPI that the processor can virtualize (29.4.3.2,
 * offset 300H): reserved bits 31:20, 17:16, 13 and delivery status (12)
 * clear, trigger mode (15) edge, delivery mode (10:8) fixed — the mask
 * 0xFFF3B700 — destination shorthand (19:18) self, vector >= 16. */
static bool icr_is_virtualizable_self_ipi(uint32_t icr)
{
    return (icr & 0xFFF3B700u) == 0 && ((icr >> 18) & 3u) == 1u && (icr & 0xFFu) >= 16u;
}

/*
 * SDM 29.4.3.2 "APIC-Write Emulation" (30.4.3.2 in later editions) decides
 * on the page offset of the virtualized write, byte for byte as the SDM
 * lists it: three keys are single offsets and one is a range.
 *   080H       bytes 3:1 of VTPR cleared, TPR virtualization;
 *   0B0H       with VID: VEOI cleared, EOI virtualization; else exit 56;
 *   300H       with VID and a virtualizable self-IPI in VICR_LO: self-IPI
 *              virtualization of its vector; else exit 56;
 *   310H-313H  bytes 2:0 of VICR_HI cleared, no other virtualization and
 *              no VM exit (a 1-byte write to 311H clears 310H-312H too);
 *   any other  exit 56 with the offset as qualification — among them
 *              081H-083H, 0B1H-0B3H and 301H-303H: a narrow write into
 *              TPR, EOI or ICR low that does not start at the register is
 *              not emulated by the processor but left to the VMM.
 */
static enum vmx_apic_write_outcome apic_write_outcome(unsigned offset, bool vid, uint32_t icr)
{
    if (offset >= VMX_VAPIC_ICR_HI && offset <= VMX_VAPIC_ICR_HI + 3u)
        return VMX_APIC_WRITE_NONE;
    switch (offset) {
    case VMX_VAPIC_TPR: return VMX_APIC_WRITE_TPR;
    case VMX_VAPIC_EOI: return vid ? VMX_APIC_WRITE_EOI : VMX_APIC_WRITE_EXIT;
    case VMX_VAPIC_ICR_LO:
        return vid && icr_is_virtualizable_self_ipi(icr) ? VMX_APIC_WRITE_SELF_IPI
                                                         : VMX_APIC_WRITE_EXIT;
    default: return VMX_APIC_WRITE_EXIT;
    }
}

/* SDM 29.4.3.2: the emulation after the operation that made the virtualized
 * write at `offset` (apic_write_outcome decides what it is). The outcome is
 * emitted before the algorithm it starts, so the log reads in causal order. */
enum vmx_apic_write_outcome vmx_apicv_apic_write_emulation(vmx_vcpu *v, unsigned offset)
{
    bool vid = (vmx_proc2(v) & VMX_PROC2_VIRT_INTR_DELIVERY) != 0;
    uint32_t before = (uint32_t)v->apicv_aux[0];
    uint32_t icr = vmx_vapic_read32(v, VMX_VAPIC_ICR_LO);
    offset &= 0xFFFu;
    enum vmx_apic_write_outcome out = apic_write_outcome(offset, vid, icr);
    vmx_apicv_emit(v, VMX_EV_APIC_WRITE_EMUL, offset, before, out);
    switch (out) {
    case VMX_APIC_WRITE_TPR:
        vmx_vapic_write32(v, VMX_VAPIC_TPR, vmx_vapic_read32(v, VMX_VAPIC_TPR) & 0xFFu);
        vmx_apicv_tpr_virtualization(v, VMX_TPR_SRC_MMIO, before);
        break;
    case VMX_APIC_WRITE_EOI:
        vmx_vapic_write32(v, VMX_VAPIC_EOI, 0);
        vmx_apicv_eoi_virtualization(v);
        break;
    case VMX_APIC_WRITE_SELF_IPI:
        vmx_apicv_self_ipi_virtualization(v, (uint8_t)(icr & 0xFFu));
        break;
    case VMX_APIC_WRITE_NONE:
        vmx_vapic_write32(v, VMX_VAPIC_ICR_HI, vmx_vapic_read32(v, VMX_VAPIC_ICR_HI) & 0xFF000000u);
        break;
    case VMX_APIC_WRITE_EXIT:
        break;
    }
    return out;
}

bool vmx_apicv_is_apic_access_page(const vmx_vcpu *v, uint64_t paddr)
{
    if (!(vmx_proc2(v) & VMX_PROC2_VIRT_APIC_ACCESS))
        return false;
    uint64_t page = vmx_vmcs_read_fast(&v->vmcs, VMCS_APIC_ACCESS_ADDR) & ~0xFFFull;
    return (paddr & ~0xFFFull) == page;
}

/*
 * cpu_hooks.mmio glue for the APIC-access page (29.4). Page walks arrive as
 * CPU_ACC_WALK and are treated as guest-physical accesses (29.4.6.1: always
 * exit); without EPT the SDM leaves such "physical accesses" undefined
 * (29.4.6.2) and this model exits the same way.
 */
bool vmx_apicv_mmio(vmx_vcpu *v, uint64_t paddr, unsigned size, cpu_access acc, uint64_t *val)
{
    if (!vmx_apicv_is_apic_access_page(v, paddr))
        return false;
    unsigned offset = (unsigned)(paddr & 0xFFFu);
    vmx_apic_acc kind = acc == CPU_ACC_WRITE   ? VMX_APIC_ACC_WRITE
                        : acc == CPU_ACC_FETCH ? VMX_APIC_ACC_FETCH
                        : acc == CPU_ACC_WALK  ? VMX_APIC_ACC_GUEST_PHYS
                                               : VMX_APIC_ACC_READ;
    vmx_apic_access_ctl ctl;
    vmx_apic_access_ctl_of(v, &ctl);
    vmx_apic_access_decision d = vmx_apic_access_decide(offset, size, kind, &ctl);
    switch (d.action) {
    case VMX_APIC_ACCESS_VIRT_READ:
        *val = vmx_apicv_virtualized_read(v, offset, size);
        return true;
    case VMX_APIC_ACCESS_VIRT_WRITE:
        vmx_apicv_virtualized_write(v, offset, size, *val);
        return true;
    case VMX_APIC_ACCESS_EXIT:
        break;
    }
    if (acc != CPU_ACC_WRITE)
        *val = 0;
    /* SDM 24.9.4: an exit resulting from instruction execution receives
     * the instruction's length (27.2.4 leaves it undefined for APIC-access
     * exits; processors store it and hypervisors skip the access with it).
     * The interpreter sets next_rip = rip + length before running an
     * instruction, and a branch writes it only after its memory accesses. */
    vmx_exit_info info = {.qualification = d.qualification,
                          .insn_len = (uint32_t)(v->cpu->next_rip - v->cpu->rip)};
    if (info.insn_len > 15)
        info.insn_len = 0;
    vmx_vmexit(v, VMX_EXIT_APIC_ACCESS, &info);
    return true;
}
