/*
 * vmx_apicv.h — APIC virtualization and virtual interrupts: the second
 * public header of vmx/ (the first is vmx/vmx.h, the VMX core).
 *
 * It follows the Intel SDM Vol. 3C chapter "APIC Virtualization and Virtual
 * Interrupts" (chapter 29 in the 2016 editions, 30 or 31 in later ones). Each
 * algorithm of that chapter is one function named after it; its comment in
 * vmx_apicv*.c / vmx_apic_access.c / vmx_x2apic.c / vmx_posted.c cites the
 * section number of the 2016 edition and the section title (numbers shift
 * between editions, titles do not). docs/apic-virtualization.md maps every
 * algorithm to its function and the event it emits.
 *
 * State: the virtual-APIC page (guest memory at VMCS_VIRTUAL_APIC_ADDR, read
 * through cpu_phys_ptr), RVI and SVI (VMCS_GUEST_INTR_STATUS, the single
 * place they live), and the apicv fields of vmx_vcpu (vintr_recognized,
 * apic_write_*, tpr_threshold_pending, eoi_exit_*, apicv_aux).
 *
 * Exits: the algorithms never call vmx_vmexit themselves. A trap-like exit
 * (43 TPR below threshold, 45 virtualized EOI, 56 APIC write) is recorded in
 * vmx_vcpu and taken by vmx_apicv_after_insn at the next instruction
 * boundary, so the saved RIP is already past the instruction. The only
 * fault-like exit, 44 APIC access, is caused by vmx_apicv_mmio.
 */
#ifndef APICV_VMX_APICV_H
#define APICV_VMX_APICV_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "vmx/vmx.h"

/* ---- the virtual-APIC page (SDM 29.1.1 "Virtualized APIC Registers") ---- */

enum vmx_vapic_offset {
    VMX_VAPIC_ID = 0x020,
    VMX_VAPIC_VERSION = 0x030,
    VMX_VAPIC_TPR = 0x080,      /* VTPR */
    VMX_VAPIC_APR = 0x090,
    VMX_VAPIC_PPR = 0x0A0,      /* VPPR */
    VMX_VAPIC_EOI = 0x0B0,      /* VEOI */
    VMX_VAPIC_RRD = 0x0C0,
    VMX_VAPIC_LDR = 0x0D0,
    VMX_VAPIC_DFR = 0x0E0,
    VMX_VAPIC_SVR = 0x0F0,
    VMX_VAPIC_ISR = 0x100,      /* VISR: 100H-170H */
    VMX_VAPIC_TMR = 0x180,
    VMX_VAPIC_IRR = 0x200,      /* VIRR: 200H-270H */
    VMX_VAPIC_ESR = 0x280,
    VMX_VAPIC_ICR_LO = 0x300,   /* VICR_LO */
    VMX_VAPIC_ICR_HI = 0x310,   /* VICR_HI */
    VMX_VAPIC_LVT_TIMER = 0x320,
    VMX_VAPIC_LVT_ERROR = 0x370,
    VMX_VAPIC_TIMER_INIT = 0x380,
    VMX_VAPIC_TIMER_CUR = 0x390,
    VMX_VAPIC_TIMER_DIV = 0x3E0,
    VMX_VAPIC_SELF_IPI = 0x3F0, /* x2APIC SELF IPI (WRMSR 83FH) */
};

/* Host pointer to the 4-KByte virtual-APIC page, NULL when its address is not
 * backed (then reads see 0 and writes vanish). */
const uint8_t *vmx_vapic_page(vmx_vcpu *v);
/* Writes len bytes at offset of the virtual-APIC page (nothing when the
 * page is not backed or the range leaves it); decoded code is invalidated. */
void vmx_vapic_store(vmx_vcpu *v, unsigned offset, const void *src, unsigned len);
/* The 32-bit field at a page offset (offset & 0xFFC). */
uint32_t vmx_vapic_read32(vmx_vcpu *v, unsigned offset);
void vmx_vapic_write32(vmx_vcpu *v, unsigned offset, uint32_t val);
/* Vector v of a 256-bit register (VMX_VAPIC_ISR, _TMR or _IRR) lives at bit
 * (v & 1FH) of the dword at base + ((v & E0H) >> 1) (SDM 29.1.1). */
bool vmx_vapic_test_vector(vmx_vcpu *v, unsigned base, uint8_t vector);
void vmx_vapic_set_vector(vmx_vcpu *v, unsigned base, uint8_t vector);
void vmx_vapic_clear_vector(vmx_vcpu *v, unsigned base, uint8_t vector);
/* Highest vector set in a 256-bit register, -1 when none. */
int vmx_vapic_highest(vmx_vcpu *v, unsigned base);

/* RVI and SVI (guest interrupt status, SDM 24.4.2). */
uint8_t vmx_apicv_rvi(const vmx_vcpu *v);
uint8_t vmx_apicv_svi(const vmx_vcpu *v);
void vmx_apicv_set_rvi(vmx_vcpu *v, uint8_t rvi);
void vmx_apicv_set_svi(vmx_vcpu *v, uint8_t svi);
/* The 16-bit guest interrupt status SVI << 8 | RVI (the "status" of events). */
uint16_t vmx_apicv_status(const vmx_vcpu *v);

/* Emits a vmx/ event for v: cycle and CPU index of v->cpu, c = guest RIP. */
void vmx_apicv_emit(const vmx_vcpu *v, unsigned kind, uint64_t a, uint64_t b, uint64_t d);

/* ---- the algorithms (SDM 29.1, 29.2, 29.3) -------------------------------- */

/* 29.1.3 PPR virtualization. */
void vmx_apicv_ppr_virtualization(vmx_vcpu *v);
/* 29.1.2 TPR virtualization, after VTPR was written (vtpr_before: the VTPR
 * dword before that write, for the event). May record exit 43. */
void vmx_apicv_tpr_virtualization(vmx_vcpu *v, enum vmx_tpr_source src, uint32_t vtpr_before);
/* 29.1.4 EOI virtualization. May record exit 45. */
void vmx_apicv_eoi_virtualization(vmx_vcpu *v);
/* 29.1.5 Self-IPI virtualization of a vector. */
void vmx_apicv_self_ipi_virtualization(vmx_vcpu *v, uint8_t vector);
/* 29.2.1 Evaluation of pending virtual interrupts: sets (or clears)
 * v->vintr_recognized; returns it. */
bool vmx_apicv_evaluate_pending(vmx_vcpu *v);
/* True when a recognised virtual interrupt can be delivered at this
 * boundary (29.2.2 conditions: RFLAGS.IF = 1, no STI / MOV-SS blocking,
 * interrupt-window exiting = 0). */
bool vmx_apicv_can_deliver(vmx_vcpu *v);
/* 29.2.2 Virtual-interrupt delivery: if vmx_apicv_can_deliver, performs it,
 * delivers the vector through the guest IDT (leaving HLT) and returns true.
 * The core calls it at the priority of an interrupt-window exit. */
bool vmx_apicv_deliver_virtual_interrupt(vmx_vcpu *v);

/* 29.3 Virtualizing CR8-based TPR accesses (use TPR shadow = 1 and no
 * CR8-store / CR8-load exiting: the caller checks those controls).
 * MOV from CR8 returns VTPR[7:4]. MOV to CR8 stores src[3:0] into
 * VTPR[7:4], clears the rest of VTPR, then TPR virtualization. The caller
 * raises #GP for src bits 63:4 before calling (SDM Vol. 3A 2.5). */
uint64_t vmx_apicv_cr8_read(vmx_vcpu *v);
void vmx_apicv_cr8_write(vmx_vcpu *v, uint64_t src);

/* VM entry (SDM 26.3.2.5 and 26.6.7, in the 2016 numbering): with VID = 1,
 * RVI/SVI are in the VMCS already; PPR virtualization and evaluation of
 * pending virtual interrupts. With TPR shadow = 1 and VID = 0: records exit
 * 43 if TPR threshold[3:0] > VTPR[7:4]. The core calls it after loading guest
 * state; the recorded exit is taken by vmx_apicv_take_trap_exit. */
void vmx_apicv_on_vmentry(vmx_vcpu *v);
/* VM exit: RVI/SVI already live in VMCS_GUEST_INTR_STATUS; forgets the
 * recognised interrupt and any pending APIC-write emulation or trap-like exit
 * (29.4.3.2: an exit before APIC-write emulation cancels it). The core calls
 * it from vmx_vmexit. */
void vmx_apicv_on_vmexit(vmx_vcpu *v);

/* Takes a recorded trap-like exit (43 or 45) now: calls vmx_vmexit (which
 * does not return inside vmx_run). Returns false when none was recorded. */
bool vmx_apicv_take_trap_exit(vmx_vcpu *v);
/* At the instruction boundary after an instruction that touched the
 * APIC-access page, the MSRs or CR8 (the events hook calls it first, before
 * NMIs and interrupts): APIC-write emulation of a virtualized write (29.4.3.2),
 * then any recorded trap-like exit. Clears the "write virtualized in this
 * operation" flag. */
void vmx_apicv_after_insn(vmx_vcpu *v);
/* True when vmx_apicv_after_insn has work at the next boundary. */
bool vmx_apicv_work_pending(const vmx_vcpu *v);

/* ---- the APIC-access page (SDM 29.4 "Virtualizing Memory-Mapped APIC
 * Accesses", vmx_apic_access.c) ------------------------------------------ */

/* Kinds of access to the APIC-access page. */
typedef enum vmx_apic_acc {
    VMX_APIC_ACC_READ,
    VMX_APIC_ACC_WRITE,
    VMX_APIC_ACC_FETCH,
    VMX_APIC_ACC_GUEST_PHYS, /* page walk / A-D update through EPT: never virtualized */
} vmx_apic_acc;

/* Exit-44 qualification access types (SDM 27.2.1 table 27-6), bits 15:12. */
enum {
    VMX_APIC_ACCESS_TYPE_READ = 0,
    VMX_APIC_ACCESS_TYPE_WRITE = 1,
    VMX_APIC_ACCESS_TYPE_FETCH = 2,
    VMX_APIC_ACCESS_TYPE_EVENT = 3,             /* linear access during event delivery */
    VMX_APIC_ACCESS_TYPE_GPA_EVENT = 10,        /* guest-physical access during event delivery */
    VMX_APIC_ACCESS_TYPE_GPA_INSN = 15,         /* guest-physical access during instruction execution */
};

/* Everything the decision depends on. */
typedef struct vmx_apic_access_ctl {
    bool tpr_shadow;        /* "use TPR shadow" */
    bool reg_virt;          /* "APIC-register virtualization" (effective) */
    bool vid;               /* "virtual-interrupt delivery" (effective) */
    bool event_delivery;    /* the access is part of delivering an event through the IDT */
    bool write_virtualized; /* this operation already had a virtualized write ... */
    uint16_t prior_offset;  /* ... at this page offset ... */
    uint8_t prior_size;     /* ... of this size */
} vmx_apic_access_ctl;

typedef enum vmx_apic_access_action {
    VMX_APIC_ACCESS_VIRT_READ,  /* read from the virtual-APIC page */
    VMX_APIC_ACCESS_VIRT_WRITE, /* write to the virtual-APIC page, APIC-write emulation follows */
    VMX_APIC_ACCESS_EXIT,       /* APIC-access VM exit (44) with qualification */
} vmx_apic_access_action;

typedef struct vmx_apic_access_decision {
    vmx_apic_access_action action;
    uint32_t qualification; /* EXIT: offset in bits 11:0, access type in bits 15:12 */
} vmx_apic_access_decision;

/* 29.4.2 / 29.4.3.1: is an access of size bytes at page offset virtualized?
 * A pure function of its arguments. */
vmx_apic_access_decision vmx_apic_access_decide(unsigned offset, unsigned size, vmx_apic_acc acc,
                                                const vmx_apic_access_ctl *ctl);
/* The controls of v as a vmx_apic_access_ctl (event_delivery from the CPU,
 * the prior write from v's apicv state). */
void vmx_apic_access_ctl_of(vmx_vcpu *v, vmx_apic_access_ctl *ctl);
/* 29.4.2: a virtualized read (size 1..4) from the virtual-APIC page. */
uint32_t vmx_apicv_virtualized_read(vmx_vcpu *v, unsigned offset, unsigned size);
/* 29.4.3.2 "Treatment of Virtualized Writes": stores size bytes of value at
 * offset on the virtual-APIC page and arranges APIC-write emulation after
 * the instruction. */
void vmx_apicv_virtualized_write(vmx_vcpu *v, unsigned offset, unsigned size, uint64_t value);
/* 29.4.3.2 APIC-write emulation for the page offset of a virtualized write.
 * Returns what happened; VMX_APIC_WRITE_EXIT means the caller must cause an
 * APIC-write VM exit (56) with the offset as qualification. */
enum vmx_apic_write_outcome vmx_apicv_apic_write_emulation(vmx_vcpu *v, unsigned offset);
/* The APIC-access page, for the core's page_kind hook: true when "virtualize
 * APIC accesses" = 1 and paddr lies on the page at VMCS_APIC_ACCESS_ADDR. */
bool vmx_apicv_is_apic_access_page(const vmx_vcpu *v, uint64_t paddr);
/* cpu_hooks.mmio glue for an access to the APIC-access page: virtualizes it
 * (reads store into *val) or causes exit 44 through vmx_vmexit (which ends
 * the run inside vmx_run). Returns false when paddr is not on the
 * APIC-access page (the core then forwards the access). */
bool vmx_apicv_mmio(vmx_vcpu *v, uint64_t paddr, unsigned size, cpu_access acc, uint64_t *val);

/* ---- x2APIC MSRs (SDM 29.5 "Virtualizing MSR-Based APIC Accesses",
 * vmx_x2apic.c). The caller consults the MSR bitmap first. ---------------- */

typedef enum vmx_x2apic_result {
    VMX_X2APIC_PASS,      /* not virtualized: the instruction operates normally */
    VMX_X2APIC_DONE,      /* virtualized (RDMSR: value in *val) */
    VMX_X2APIC_GP,        /* #GP(0) */
    VMX_X2APIC_DONE_EXIT, /* virtualized; an APIC-write VM exit (56) follows the instruction */
} vmx_x2apic_result;

vmx_x2apic_result vmx_apicv_rdmsr(vmx_vcpu *v, uint32_t msr, uint64_t *val);
vmx_x2apic_result vmx_apicv_wrmsr(vmx_vcpu *v, uint32_t msr, uint64_t val);

/* ---- posted interrupts (SDM 29.6 "Posted-Interrupt Processing",
 * vmx_posted.c) ------------------------------------------------------------ */

/* Posted-interrupt descriptor (SDM 29.6 table 29-1): 64 bytes, PIR bits
 * 255:0, ON bit 256, SN bit 257, NV bits 279:272, NDST bits 319:288. */
#define VMX_PI_DESC_SIZE 64u
bool vmx_pi_get_on(cpu_phys *p, uint64_t desc);
void vmx_pi_set_on(cpu_phys *p, uint64_t desc, bool on);
bool vmx_pi_get_sn(cpu_phys *p, uint64_t desc);
void vmx_pi_set_sn(cpu_phys *p, uint64_t desc, bool sn);
uint8_t vmx_pi_get_nv(cpu_phys *p, uint64_t desc);
void vmx_pi_set_nv(cpu_phys *p, uint64_t desc, uint8_t nv);
uint32_t vmx_pi_get_ndst(cpu_phys *p, uint64_t desc);
void vmx_pi_set_ndst(cpu_phys *p, uint64_t desc, uint32_t ndst);
/* PIR bits 64i+63..64i (i = 0..3). */
uint64_t vmx_pi_pir_qword(cpu_phys *p, uint64_t desc, unsigned i);
bool vmx_pi_test_pir(cpu_phys *p, uint64_t desc, uint8_t vector);

/* The sender's side (IOMMU model, hypervisor): sets PIR[vector]; if ON was
 * clear and SN is clear, sets ON and *send_notification = true (the caller
 * then sends NV to NDST). Returns false when the descriptor is not backed. */
bool vmx_pi_post(cpu_phys *p, uint64_t desc, uint8_t vector, bool *send_notification);

typedef enum vmx_pi_result {
    VMX_PI_NOT_NOTIFICATION, /* step 2: not the notification vector: the caller causes exit 1 */
    VMX_PI_PROCESSED,        /* steps 3-7 done */
} vmx_pi_result;

/*
 * 29.6 Posted-interrupt processing of an external interrupt taken in
 * non-root operation with external-interrupt exiting = 1 and process posted
 * interrupts = 1. Step 1 (acknowledge at the local APIC) is the caller's:
 * it acknowledges (apic_acknowledge_or_spurious) and passes the vector; this function
 * emits step 1's event, then performs steps 2-7. Step 4 writes the EOI with
 * apic_eoi(v->apic) (skipped when v->apic is NULL, as in unit tests).
 */
vmx_pi_result vmx_apicv_posted_intr_process(vmx_vcpu *v, uint8_t vector);

/* The hypervisor's software equivalent of steps 5-6 in root operation (a
 * notification that arrived while the CPU was in root operation): PIR into
 * VIRR, RVI = max(RVI, highest PIR), ON cleared. No evaluation (the next VM
 * entry evaluates). Returns the number of PIR bits moved. */
unsigned vmx_apicv_pi_sync(vmx_vcpu *v);

#endif
