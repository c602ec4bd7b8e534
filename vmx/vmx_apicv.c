/*
 * vmx_apicv.c — the virtual-APIC page and the virtual-interrupt algorithms of
 * SDM Vol. 3C chapter 29 "APIC Virtualization and Virtual Interrupts" (2016
 * numbering; the section title is quoted beside each number because later
 * editions renumber the chapter as 30 or 31).
 *
 * The algorithms change the virtual-APIC page and RVI/SVI and record
 * trap-like exits in vmx_vcpu; exits are taken by vmx_apicv_take_trap_exit
 * at the next instruction boundary (see vmx_apicv.h).
 */
#include "vmx/vmx_apicv.h"

#include <string.h>

/* ---- small helpers ------------------------------------------------------ */

static uint32_t proc_ctls(const vmx_vcpu *v)
{
    return (uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_PROC_CONTROLS);
}

static bool vid_on(const vmx_vcpu *v)
{
    return (vmx_proc2(v) & VMX_PROC2_VIRT_INTR_DELIVERY) != 0;
}

static uint64_t guest_rip(const vmx_vcpu *v)
{
    return v->cpu ? v->cpu->rip : 0;
}

/* Every event of the apicv files goes through here. */
void vmx_apicv_emit(const vmx_vcpu *v, unsigned kind, uint64_t a, uint64_t b, uint64_t d)
{
    if (!cpu_obs_active(v->obs))
        return;
    cpu_obs_emit(v->obs, v->cpu ? v->cpu->cycles : 0, v->cpu ? v->cpu->index : 0, kind, a, b,
                 guest_rip(v), d);
}

/* ---- the virtual-APIC page (SDM 29.1.1 "Virtualized APIC Registers") ---- */

const uint8_t *vmx_vapic_page(vmx_vcpu *v)
{
    uint64_t pa = vmx_vmcs_read_fast(&v->vmcs, VMCS_VIRTUAL_APIC_ADDR) & ~0xFFFull;
    return v->phys ? (const uint8_t *)cpu_phys_ptr(v->phys, pa, CPU_PAGE_SIZE) : NULL;
}

/* The page may be any page the VMM chose, guest RAM included (SDM 29.1.1
 * "Virtualized APIC Registers"), possibly holding code: every write goes
 * through cpu_phys_ptr_write, which invalidates decoded code there. */
void vmx_vapic_store(vmx_vcpu *v, unsigned offset, const void *src, unsigned len)
{
    uint64_t pa = vmx_vmcs_read_fast(&v->vmcs, VMCS_VIRTUAL_APIC_ADDR) & ~0xFFFull;
    offset &= 0xFFFu;
    if (!v->phys || len > CPU_PAGE_SIZE - offset)
        return;
    uint8_t *dst = cpu_phys_ptr_write(v->phys, pa + offset, len);
    if (dst)
        memcpy(dst, src, len);
}

uint32_t vmx_vapic_read32(vmx_vcpu *v, unsigned offset)
{
    const uint8_t *page = vmx_vapic_page(v);
    uint32_t val = 0;
    if (page)
        memcpy(&val, page + (offset & 0xFFCu), 4);
    return val;
}

void vmx_vapic_write32(vmx_vcpu *v, unsigned offset, uint32_t val)
{
    vmx_vapic_store(v, offset & 0xFFCu, &val, 4);
}

/* The dword holding vector `vector` of the 256-bit register at base. */
static unsigned vector_dword(unsigned base, uint8_t vector)
{
    return base + ((vector & 0xE0u) >> 1);
}

bool vmx_vapic_test_vector(vmx_vcpu *v, unsigned base, uint8_t vector)
{
    return (vmx_vapic_read32(v, vector_dword(base, vector)) >> (vector & 0x1Fu)) & 1u;
}

void vmx_vapic_set_vector(vmx_vcpu *v, unsigned base, uint8_t vector)
{
    unsigned off = vector_dword(base, vector);
    vmx_vapic_write32(v, off, vmx_vapic_read32(v, off) | (1u << (vector & 0x1Fu)));
}

void vmx_vapic_clear_vector(vmx_vcpu *v, unsigned base, uint8_t vector)
{
    unsigned off = vector_dword(base, vector);
    vmx_vapic_write32(v, off, vmx_vapic_read32(v, off) & ~(1u << (vector & 0x1Fu)));
}

int vmx_vapic_highest(vmx_vcpu *v, unsigned base)
{
    for (int slot = 7; slot >= 0; slot--) {
        uint32_t bits = vmx_vapic_read32(v, base + (unsigned)slot * 16u);
        if (bits)
            return slot * 32 + (31 - __builtin_clz(bits));
    }
    return -1;
}

/* ---- RVI and SVI: guest interrupt status (SDM 24.4.2) --------------------- */

uint16_t vmx_apicv_status(const vmx_vcpu *v)
{
    return (uint16_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_GUEST_INTR_STATUS);
}

uint8_t vmx_apicv_rvi(const vmx_vcpu *v)
{
    return VMX_RVI(vmx_apicv_status(v));
}

uint8_t vmx_apicv_svi(const vmx_vcpu *v)
{
    return VMX_SVI(vmx_apicv_status(v));
}

void vmx_apicv_set_rvi(vmx_vcpu *v, uint8_t rvi)
{
    vmx_vmcs_set(&v->vmcs, VMCS_GUEST_INTR_STATUS, VMX_INTR_STATUS(rvi, vmx_apicv_svi(v)));
}

void vmx_apicv_set_svi(vmx_vcpu *v, uint8_t svi)
{
    vmx_vmcs_set(&v->vmcs, VMCS_GUEST_INTR_STATUS, VMX_INTR_STATUS(vmx_apicv_rvi(v), svi));
}

/* ---- the algorithms ----------------------------------------------------- */

/*
 * SDM 29.1.3 "PPR Virtualization". VPPR follows VTPR unless the in-service
 * vector (SVI) is of a higher priority class, in which case VPPR is that
 * class with subclass 0. Bytes 3:1 of VPPR are cleared.
 */
void vmx_apicv_ppr_virtualization(vmx_vcpu *v)
{
    uint32_t vtpr = vmx_vapic_read32(v, VMX_VAPIC_TPR) & 0xFFu;
    uint8_t svi = vmx_apicv_svi(v);
    uint32_t before = vmx_vapic_read32(v, VMX_VAPIC_PPR);
    uint32_t vppr = ((vtpr >> 4) >= (uint32_t)(svi >> 4)) ? vtpr : (svi & 0xF0u);
    vmx_vapic_write32(v, VMX_VAPIC_PPR, vppr);
    vmx_apicv_emit(v, VMX_EV_PPR_VIRT, vtpr, before, vppr);
}

/*
 * SDM 29.1.2 "TPR Virtualization", after MOV to CR8, a virtualized write to
 * offset 080H (at APIC-write emulation) or WRMSR 808H wrote VTPR. With
 * virtual-interrupt delivery the new priority may unmask a pending virtual
 * interrupt; without it the VMM asked, through the TPR threshold, to hear
 * when the guest lowers its TPR below a level: a trap-like exit 43.
 */
void vmx_apicv_tpr_virtualization(vmx_vcpu *v, enum vmx_tpr_source src, uint32_t vtpr_before)
{
    uint32_t vtpr = vmx_vapic_read32(v, VMX_VAPIC_TPR);
    vmx_apicv_emit(v, VMX_EV_TPR_VIRT, (uint64_t)src, vtpr_before, vtpr);
    if (vid_on(v)) {
        vmx_apicv_ppr_virtualization(v);
        vmx_apicv_evaluate_pending(v);
        return;
    }
    uint32_t threshold = (uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_TPR_THRESHOLD) & 0xFu;
    if (threshold > ((vtpr >> 4) & 0xFu)) {
        v->tpr_threshold_pending = true;
        vmx_kick(v);
    }
}

/* Bit `vector` of the EOI-exit bitmap (fields EOI_EXIT_BITMAP0..3, bitmap n
 * covering vectors 64n..64n+63; SDM 24.6.8). */
static bool eoi_exit_bitmap_bit(const vmx_vcpu *v, uint8_t vector)
{
    uint32_t enc = (uint32_t)VMCS_EOI_EXIT_BITMAP0 + 2u * (vector >> 6);
    return (vmx_vmcs_get(&v->vmcs, enc) >> (vector & 63u)) & 1u;
}

/*
 * SDM 29.1.4 "EOI Virtualization" (only with virtual-interrupt delivery = 1).
 * The vector in service (SVI) completes: it leaves VISR, SVI becomes the next
 * vector in service, VPPR is recomputed. A vector whose EOI-exit bitmap bit
 * is set (a level-triggered source the VMM must re-arm) then causes a
 * trap-like exit 45 with the vector as qualification; any other vector lets
 * the next pending virtual interrupt be evaluated.
 */
void vmx_apicv_eoi_virtualization(vmx_vcpu *v)
{
    uint16_t before = vmx_apicv_status(v);
    uint8_t vector = VMX_SVI(before);
    vmx_vapic_clear_vector(v, VMX_VAPIC_ISR, vector);
    int next = vmx_vapic_highest(v, VMX_VAPIC_ISR);
    vmx_apicv_set_svi(v, next < 0 ? 0 : (uint8_t)next);
    vmx_apicv_emit(v, VMX_EV_EOI_VIRT, vector, before, vmx_apicv_status(v));
    vmx_apicv_ppr_virtualization(v);
    if (eoi_exit_bitmap_bit(v, vector)) {
        v->eoi_exit_pending = true;
        v->eoi_exit_vector = vector;
        vmx_kick(v);
    } else {
        vmx_apicv_evaluate_pending(v);
    }
}

/*
 * SDM 29.1.5 "Self-IPI Virtualization": a self-IPI the guest sent through
 * VICR_LO (APIC-write emulation of 300H) or the x2APIC SELF IPI MSR becomes
 * a request in VIRR, raising RVI if it is the highest.
 */
void vmx_apicv_self_ipi_virtualization(vmx_vcpu *v, uint8_t vector)
{
    uint16_t before = vmx_apicv_status(v);
    vmx_vapic_set_vector(v, VMX_VAPIC_IRR, vector);
    if (vector > VMX_RVI(before))
        vmx_apicv_set_rvi(v, vector);
    vmx_apicv_emit(v, VMX_EV_SELF_IPI_VIRT, vector, before, vmx_apicv_status(v));
    vmx_apicv_evaluate_pending(v);
}

/*
 * SDM 29.2.1 "Evaluation of Pending Virtual Interrupts". Runs only at VM
 * entry, TPR, EOI and self-IPI virtualization and posted-interrupt
 * processing, never merely because RVI or VPPR changed. A virtual interrupt
 * is recognised iff interrupt-window exiting is 0 and RVI's priority class
 * exceeds VPPR's. The result replaces any earlier recognition (an
 * evaluation after VTPR rose withdraws it). Recognition is meaningful only
 * with virtual-interrupt delivery = 1.
 */
bool vmx_apicv_evaluate_pending(vmx_vcpu *v)
{
    uint8_t rvi = vmx_apicv_rvi(v);
    uint32_t vppr = vmx_vapic_read32(v, VMX_VAPIC_PPR);
    bool recognised = vid_on(v) && !(proc_ctls(v) & VMX_PROC_INTR_WINDOW) &&
                      (unsigned)(rvi >> 4) > ((vppr >> 4) & 0xFu);
    v->vintr_recognized = recognised;
    if (recognised) {
        vmx_apicv_emit(v, VMX_EV_VINTR_RECOGNIZED, rvi, vppr, vmx_apicv_status(v));
        vmx_kick(v);
    }
    return recognised;
}

/* SDM 29.2.2: the conditions under which a recognised virtual interrupt is
 * delivered at an instruction boundary. */
bool vmx_apicv_can_deliver(vmx_vcpu *v)
{
    return v->vintr_recognized && vid_on(v) && !(proc_ctls(v) & VMX_PROC_INTR_WINDOW) &&
           v->cpu != NULL && cpu_interruptible(v->cpu);
}

/*
 * SDM 29.2.2 "Virtual-Interrupt Delivery". The recognised vector RVI goes
 * in service (VISR, SVI, VPPR = its class), leaves VIRR, RVI becomes the next
 * request, and the vector is delivered through the guest IDT like an
 * external interrupt — which also wakes the CPU from HLT. Recognition ends.
 * delivery_info marks the delivery so that an exit during it reports
 * IDT-vectoring information (SDM 27.2.3); the core clears it at VM exit.
 */
bool vmx_apicv_deliver_virtual_interrupt(vmx_vcpu *v)
{
    if (!vmx_apicv_can_deliver(v))
        return false;
    uint16_t before = vmx_apicv_status(v);
    uint8_t vector = VMX_RVI(before);
    vmx_vapic_set_vector(v, VMX_VAPIC_ISR, vector);
    vmx_apicv_set_svi(v, vector);
    vmx_vapic_write32(v, VMX_VAPIC_PPR, vector & 0xF0u);
    vmx_vapic_clear_vector(v, VMX_VAPIC_IRR, vector);
    int next = vmx_vapic_highest(v, VMX_VAPIC_IRR);
    vmx_apicv_set_rvi(v, next < 0 ? 0 : (uint8_t)next);
    v->vintr_recognized = false;
    v->vid_delivered++;
    vmx_apicv_emit(v, VMX_EV_VINTR_DELIVERED, vector, before, vmx_apicv_status(v));
    /* The virtual-APIC updates above, then the IDT delivery's own cost
     * (docs/cost-model.md, "vid"). */
    v->cpu->cycles += v->cpu->costs->cost[CPU_COST_VID];
    v->delivery_info = VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_EXT << VMX_INTR_INFO_TYPE_SHIFT) | vector;
    cpu_deliver_interrupt(v->cpu, vector);
    v->delivery_info = 0;
    return true;
}

/* ---- SDM 29.3 "Virtualizing CR8-Based TPR Accesses" ---------------------- */

/* MOV from CR8 with use TPR shadow = 1: bits 3:0 of the destination get
 * VTPR[7:4], bits 63:4 are cleared. */
uint64_t vmx_apicv_cr8_read(vmx_vcpu *v)
{
    uint64_t val = (vmx_vapic_read32(v, VMX_VAPIC_TPR) >> 4) & 0xFu;
    vmx_apicv_emit(v, VMX_EV_CR8_READ_VIRT, val, 0, 0);
    return val;
}

/* MOV to CR8 with use TPR shadow = 1: VTPR[7:4] = src[3:0], the rest of VTPR
 * (bits 3:0 and 31:8) cleared, then TPR virtualization. */
void vmx_apicv_cr8_write(vmx_vcpu *v, uint64_t src)
{
    uint32_t before = vmx_vapic_read32(v, VMX_VAPIC_TPR);
    uint32_t vtpr = (uint32_t)(src & 0xFu) << 4;
    vmx_vapic_write32(v, VMX_VAPIC_TPR, vtpr);
    vmx_apicv_emit(v, VMX_EV_CR8_WRITE_VIRT, src, before, vtpr);
    vmx_apicv_tpr_virtualization(v, VMX_TPR_SRC_CR8, before);
}

/* ---- VM entry and VM exit ----------------------------------------------- */

static void forget_transient(vmx_vcpu *v)
{
    v->vintr_recognized = false;
    v->apic_write_pending = false;
    v->apic_write_virtualized = false;
    v->tpr_threshold_pending = false;
    v->eoi_exit_pending = false;
}

/*
 * VM entry, SDM 26.3.2.5 "Updating Non-Register State" (VID = 1: RVI and SVI
 * come from the guest interrupt status — here they never leave it — then
 * PPR virtualization and evaluation of pending virtual interrupts) and 26.6.7
 * "VM Exits Induced by the TPR Threshold" (use TPR shadow = 1, VID = 0: a VM
 * exit right after entry when TPR threshold[3:0] > VTPR[7:4]; it can only
 * arise with virtualize APIC accesses = 1, the entry checks of 26.2.1.1
 * refuse the other case).
 */
void vmx_apicv_on_vmentry(vmx_vcpu *v)
{
    forget_transient(v);
    if (!(proc_ctls(v) & VMX_PROC_TPR_SHADOW))
        return;
    if (vid_on(v)) {
        vmx_apicv_ppr_virtualization(v);
        vmx_apicv_evaluate_pending(v);
        return;
    }
    uint32_t vtpr = vmx_vapic_read32(v, VMX_VAPIC_TPR);
    vmx_apicv_emit(v, VMX_EV_TPR_VIRT, VMX_TPR_SRC_ENTRY, vtpr, vtpr);
    uint32_t threshold = (uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_TPR_THRESHOLD) & 0xFu;
    if (threshold > ((vtpr >> 4) & 0xFu)) {
        v->tpr_threshold_pending = true;
        vmx_kick(v);
    }
}

/* VM exit (SDM 27.3.3 saves RVI/SVI into the guest interrupt status, where
 * they already are). An exit cancels a pending APIC-write emulation
 * (29.4.3.2) and any recorded trap-like exit; a recognised interrupt is
 * evaluated again at the next entry. */
void vmx_apicv_on_vmexit(vmx_vcpu *v)
{
    forget_transient(v);
}

bool vmx_apicv_take_trap_exit(vmx_vcpu *v)
{
    if (v->tpr_threshold_pending) {
        v->tpr_threshold_pending = false;
        vmx_vmexit_qual(v, VMX_EXIT_TPR_BELOW_THRESHOLD, 0);
        return true;
    }
    if (v->eoi_exit_pending) {
        v->eoi_exit_pending = false;
        vmx_vmexit_qual(v, VMX_EXIT_VIRTUALIZED_EOI, v->eoi_exit_vector);
        return true;
    }
    return false;
}

bool vmx_apicv_work_pending(const vmx_vcpu *v)
{
    return v->apic_write_pending || v->apic_write_virtualized || v->tpr_threshold_pending ||
           v->eoi_exit_pending;
}

/*
 * At the boundary after the instruction: SDM 29.4.3.2 "APIC-Write Emulation"
 * happens after the instruction that made the virtualized write (it is not
 * blocked by IF = 0 or STI/MOV-SS blocking and takes priority over SMIs,
 * INIT and lower events), and the trap-like exits the instruction or the
 * emulation recorded follow it, with RIP already past the instruction.
 */
void vmx_apicv_after_insn(vmx_vcpu *v)
{
    v->apic_write_virtualized = false;
    if (v->apic_write_pending) {
        unsigned offset = v->apic_write_offset;
        v->apic_write_pending = false;
        if (vmx_apicv_apic_write_emulation(v, offset) == VMX_APIC_WRITE_EXIT) {
            vmx_vmexit_qual(v, VMX_EXIT_APIC_WRITE, offset);
            return;
        }
    }
    vmx_apicv_take_trap_exit(v);
}
