/*
 * vmx.h — what vmx/ offers: one virtual CPU in VMX operation (SDM Vol. 3C
 * chapters 24-29 in the 2016 numbering: the VMCS, VMX non-root operation,
 * VM entries, VM exits, APIC virtualization), its capability MSRs, and the
 * event kinds vmx/ emits on the observer bus.
 *
 * The host (VMX root operation) is the C hypervisor in emu/: it fills the
 * VMCS with vmx_vmcs_set/vmx_vmwrite, calls vmx_vmentry, then vmx_run, and
 * reads the exit information from the VMCS after vmx_run returns
 * CPU_STOP_HOOK. "Loading host state" at a VM exit is simply the return to
 * that C code: the host-state area is checked at entry (SDM 26.2.2, 26.2.4)
 * but never loaded into the cpu_t, which belongs to the guest.
 */
#ifndef APICV_VMX_H
#define APICV_VMX_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "cpu/cpu_obs.h"
#include "vmx/vmx_vmcs.h"

struct apic; /* apic/apic.h: typedef struct apic apic_t */

/* ---- event kinds of vmx/ (range CPU_OBS_RANGE_VMX) ------------------------
 * Field convention: c = guest RIP where one applies, b = before, d = after.
 * "status" is the 16-bit guest interrupt status SVI << 8 | RVI. */
enum vmx_obs_kind {
    VMX_EV_VMENTRY = CPU_OBS_RANGE_VMX, /* a=1 launch/0 resume b=entry interruption info c=rip d=guest interrupt status */
    VMX_EV_VMEXIT,              /* a=full exit reason b=qualification c=rip d=exit interruption info */
    VMX_EV_ENTRY_FAIL,          /* a=VM-instruction error (7, 8, ...) or exit reason (33|1<<31) b=check id (vmx_check) c=guest rip d=0 */
    VMX_EV_EVENT_INJECTED,      /* a=vector b=type c=rip d=error code (or ~0) */
    VMX_EV_VINTR_RECOGNIZED,    /* a=RVI b=VPPR before c=rip d=status: evaluation recognised a virtual interrupt */
    VMX_EV_VINTR_DELIVERED,     /* a=vector b=status before c=rip d=status after */
    VMX_EV_PPR_VIRT,            /* a=VTPR b=VPPR before c=rip d=VPPR after */
    VMX_EV_TPR_VIRT,            /* a=source (vmx_tpr_source) b=VTPR before c=rip d=VTPR after */
    VMX_EV_EOI_VIRT,            /* a=vector b=status before c=rip d=status after */
    VMX_EV_SELF_IPI_VIRT,       /* a=vector b=status before c=rip d=status after */
    VMX_EV_CR8_READ_VIRT,       /* a=value read (VTPR[7:4]) c=rip */
    VMX_EV_CR8_WRITE_VIRT,      /* a=source value b=VTPR before c=rip d=VTPR after */
    VMX_EV_PI_ACK,              /* a=physical vector acknowledged c=rip: posted-interrupt step 1 */
    VMX_EV_PI_NV_MATCH,         /* a=vector b=notification vector c=rip: step 2, processing goes on */
    VMX_EV_PI_NV_MISMATCH,      /* a=vector b=notification vector c=rip: step 2, ordinary exit 1 */
    VMX_EV_PI_ON_CLEAR,         /* a=descriptor address b=qword 4 before c=rip d=qword 4 after: step 3 */
    VMX_EV_PI_EOI,              /* a=vector c=rip: step 4, EOI written to the local APIC */
    VMX_EV_PI_PIR_TO_VIRR,      /* a=number of PIR bits moved b=highest PIR vector (or ~0) c=rip d=lowest 64 PIR bits: step 5 */
    VMX_EV_PI_RVI_UPDATE,       /* a=highest PIR vector b=RVI before c=rip d=RVI after: step 6 */
    VMX_EV_APIC_ACCESS_READ,    /* a=page offset b=size c=rip d=value read: virtualized read */
    VMX_EV_APIC_ACCESS_WRITE,   /* a=page offset b=size c=rip d=value written: virtualized write */
    VMX_EV_APIC_WRITE_EMUL,     /* a=page offset b=value before c=rip d=outcome (vmx_apic_write_outcome) */
    VMX_EV_X2APIC_RDMSR,        /* a=msr b=0 c=rip d=value: virtualized x2APIC read */
    VMX_EV_X2APIC_WRMSR,        /* a=msr b=previous page value c=rip d=value: virtualized x2APIC write */
    VMX_EV_NMI_INJECTED_VIRT,   /* a=0 c=rip: virtual-NMI blocking set by an injected NMI */
    VMX_EV_PREEMPT_TIMER_ARM,   /* a=timer value b=rate shift c=rip d=deadline cycle */
    VMX_EV_VMWRITE,             /* a=field encoding b=before c=0 d=after: a VMWRITE by the host */
    VMX_EV_EPT_WALK_FAULT,      /* a=guest-physical address b=EPT entry c=rip d=access (cpu_access) */
    VMX_EV_ROOT_INSN,           /* a=instruction (its basic exit reason) b=operand (pointer, field, type) c=rip d=0 VMsucceed, 1 VMfailInvalid, 2+error VMfailValid: a VMX instruction of a guest hypervisor (vmx_root.h) */
    VMX_EV_ABORT,               /* a=VMX-abort indicator (vmx_abort_indicator) b=exit reason c=rip: the CPU shut down (SDM 27.7) */
    VMX_EV_SHADOW_INSN,         /* a=instruction (23 VMREAD, 25 VMWRITE) b=field c=rip d=0 VMsucceed, 1 VMfailInvalid, 2+error VMfailValid: a VMREAD/VMWRITE in non-root operation that reached the shadow VMCS instead of exiting (SDM 24.10, vmx_shadow.c) */
    VMX_EV_VMX_END
};

/* Sources of TPR virtualization (VMX_EV_TPR_VIRT a). */
enum vmx_tpr_source { VMX_TPR_SRC_CR8 = 0, VMX_TPR_SRC_MMIO = 1, VMX_TPR_SRC_MSR = 2, VMX_TPR_SRC_ENTRY = 3 };
/* Outcomes of APIC-write emulation (VMX_EV_APIC_WRITE_EMUL d). */
enum vmx_apic_write_outcome {
    VMX_APIC_WRITE_TPR = 0,      /* TPR virtualization */
    VMX_APIC_WRITE_EOI = 1,      /* EOI virtualization */
    VMX_APIC_WRITE_SELF_IPI = 2, /* self-IPI virtualization */
    VMX_APIC_WRITE_NONE = 3,     /* handled without exit (ICR high) */
    VMX_APIC_WRITE_EXIT = 4,     /* APIC-write VM exit (56) */
};

/* Name of a vmx/ event kind ("vmentry", "pi-on-clear", ...), NULL outside the range. */
const char *vmx_event_name(unsigned kind);

/* ---- one virtual CPU --------------------------------------------------- */

/* Identifiers of VM-entry checks (VMX_EV_ENTRY_FAIL b, vmx_vcpu.last_check),
 * so tests and logs can say which rule failed. See vmx_entry.c. */
typedef enum vmx_check {
    VMX_CHECK_NONE = 0,
    /* 26.2.1.1 VM-execution control fields */
    VMX_CHECK_PIN_CTLS, VMX_CHECK_PROC_CTLS, VMX_CHECK_PROC2_CTLS, VMX_CHECK_CR3_TARGET_COUNT,
    VMX_CHECK_IO_BITMAP_A, VMX_CHECK_IO_BITMAP_B, VMX_CHECK_MSR_BITMAP,
    VMX_CHECK_VAPIC_ADDR, VMX_CHECK_TPR_THRESHOLD_HIGH, VMX_CHECK_TPR_THRESHOLD_VTPR,
    VMX_CHECK_NMI_VIRTUAL_NMIS, VMX_CHECK_VIRTUAL_NMIS_WINDOW,
    VMX_CHECK_APIC_ACCESS_ADDR, VMX_CHECK_X2APIC_APIC_ACCESS, VMX_CHECK_TPR_SHADOW_APICV,
    VMX_CHECK_VID_EXT_INTR, VMX_CHECK_PI_VID, VMX_CHECK_PI_ACK, VMX_CHECK_PI_NV,
    VMX_CHECK_PI_DESC, VMX_CHECK_VPID_ZERO, VMX_CHECK_EPTP, VMX_CHECK_UNRESTRICTED_EPT,
    VMX_CHECK_PML, VMX_CHECK_VMFUNC,
    /* 26.2.1.2 VM-exit control fields */
    VMX_CHECK_EXIT_CTLS, VMX_CHECK_PREEMPT_SAVE, VMX_CHECK_EXIT_MSR_STORE, VMX_CHECK_EXIT_MSR_LOAD,
    /* 26.2.1.3 VM-entry control fields */
    VMX_CHECK_ENTRY_CTLS, VMX_CHECK_ENTRY_INTR_TYPE, VMX_CHECK_ENTRY_INTR_VECTOR,
    VMX_CHECK_ENTRY_INTR_ERROR_VALID, VMX_CHECK_ENTRY_INTR_RESERVED, VMX_CHECK_ENTRY_ERROR_CODE,
    VMX_CHECK_ENTRY_INSN_LEN, VMX_CHECK_ENTRY_MSR_LOAD, VMX_CHECK_ENTRY_SMM,
    /* 26.2.2 / 26.2.3 / 26.2.4 host state */
    VMX_CHECK_HOST_CR0, VMX_CHECK_HOST_CR4, VMX_CHECK_HOST_CR3, VMX_CHECK_HOST_CANONICAL,
    VMX_CHECK_HOST_ADDR_SPACE, VMX_CHECK_HOST_EFER, VMX_CHECK_HOST_PAT, VMX_CHECK_HOST_SEL,
    VMX_CHECK_HOST_RIP,
    /* 26.3.1 guest state (failures are exit 33) */
    VMX_CHECK_GUEST_CR0, VMX_CHECK_GUEST_CR4, VMX_CHECK_GUEST_CR3, VMX_CHECK_GUEST_IA32E_PAE,
    VMX_CHECK_GUEST_DR7, VMX_CHECK_GUEST_DEBUGCTL, VMX_CHECK_GUEST_EFER, VMX_CHECK_GUEST_PAT,
    VMX_CHECK_GUEST_SYSENTER, VMX_CHECK_GUEST_SEL, VMX_CHECK_GUEST_SEG_BASE,
    VMX_CHECK_GUEST_SEG_AR, VMX_CHECK_GUEST_CS, VMX_CHECK_GUEST_SS, VMX_CHECK_GUEST_TR,
    VMX_CHECK_GUEST_LDTR, VMX_CHECK_GUEST_DTR, VMX_CHECK_GUEST_RIP, VMX_CHECK_GUEST_RFLAGS,
    VMX_CHECK_GUEST_ACTIVITY, VMX_CHECK_GUEST_INTERRUPTIBILITY, VMX_CHECK_GUEST_PENDING_DBG,
    VMX_CHECK_GUEST_LINK_PTR, VMX_CHECK_GUEST_MODE,
    VMX_CHECK_GUEST_PDPTE, /* 26.3.1.6: exit qualification 2 */
    /* VMLAUNCH/VMRESUME launch state (30.3) */
    VMX_CHECK_LAUNCH_STATE,
    /* 26.2.1.1 VMREAD/VMWRITE-bitmap addresses with "VMCS shadowing" (added
     * last: the ids above keep their numbers) */
    VMX_CHECK_VMREAD_BITMAP, VMX_CHECK_VMWRITE_BITMAP,
    VMX_CHECK_COUNT
} vmx_check;

#define VMX_EPT_CACHE 256 /* entries of vmx_vcpu.ept_cache (a power of 2) */

/* One cached guest-physical mapping (vmx_vcpu.ept_cache). */
typedef struct vmx_ept_cached {
    uint64_t tag; /* guest-physical page | 1; 0: empty */
    uint64_t hpa_page;
    uint32_t gen;
    uint8_t perms; /* R/W/X (bits 2:0) of the translation */
} vmx_ept_cached;

typedef struct vmx_vcpu {
    cpu_t *cpu;
    struct apic *apic;
    cpu_phys *phys;
    cpu_obs_bus *obs;
    vmx_vmcs vmcs;

    bool non_root; /* in VMX non-root operation (between entry and exit) */
    bool in_run;   /* inside vmx_run's cpu_run: an exit aborts the current instruction */
    bool exited;   /* a VM exit completed since the last entry */

    /* Root-operation hooks and intercept mask, put back at VM exit. */
    cpu_hooks root_hooks;
    uint32_t root_icpt_mask;
    uint64_t root_tsc_offset;

    /* NMI state: a physical NMI waiting for this CPU (set by emu/), the
     * guest's blocking by NMI when "virtual NMIs" = 0, virtual-NMI blocking
     * when it is 1 (SDM 25.3, 26.6.1). */
    bool nmi_pending;
    bool nmi_blocked;
    bool vnmi_blocked;
    /* In the wait-for-SIPI activity state (SDM 24.4.2): only INIT and
     * SIPI end it, each with a VM exit (3, 4; vmx_nonroot.c). */
    bool wait_sipi;

    /* VMX abort (SDM 27.7): the nonzero indicator of the abort that put
     * this CPU into the shutdown state, 0 while none happened. */
    uint32_t aborted;
    /* The host runs on this cpu_t and gets its state loaded at a VM exit
     * (vmx_root): the VM-exit MSR-load list waits until that host state is
     * in (SDM 27.5 before 27.6). False for the built-in hypervisor, whose
     * host is C: the list is loaded as the exit completes. */
    bool host_on_cpu;
    /* The current-VMCS pointer of a guest hypervisor (vmx_root sets it
     * before each entry), FFFFFFFF_FFFFFFFFH for the built-in one, whose
     * VMCS has no region: the VMCS link pointer must differ from it (SDM
     * 26.3.1.5). */
    uint64_t vmcs_pa;
    /* IA32_VMX_MISC[29] = 0 as the machine's CPU model reports it (emu/
     * sets it after init; default false = bit 29 is 1): VMWRITE to a
     * read-only field (the VM-exit information fields) fails with
     * VMfailValid(13) in root operation and through a shadow VMCS alike
     * (SDM 30.3 VMWRITE, A.6). */
    bool vmwrite_ro_fails;

    /* VPIDs (SDM 28.3.1): this entry runs the guest with "enable VPID" =
     * 1 and a VPID other than 0000H, so the root's and the guest's cached
     * translations are kept apart instead of flushed (cpu_tlb_switch);
     * the root's were labelled tlb_root_key at the entry. */
    bool tlb_vpid;
    cpu_tlb_key tlb_root_key;
    /* The decoded blocks' successor-link epochs of the two contexts, noted
     * as the CPU left each (cpu_epoch_mark): taken up again when the
     * context's translations come back, so a round trip does not look
     * every block up anew (root_mark: a host that runs on the CPU). */
    cpu_epoch_mark root_mark, guest_mark;

    /* Monitor trap flag: an MTF VM exit is pending (injected "other event"
     * with vector 0, SDM 26.5.2). */
    bool mtf_pending;
    bool mtf_stepping;  /* vmx_run_mtf's one-instruction run is under way */
    bool mtf_delivered; /* ... and delivered an exception of that instruction through the IDT */

    /* EPT: the host-physical page of the last translation whose EPT
     * permissions are not R/W/X; the page_kind hook reports it as a trap
     * page once, so the CPU's TLB gets no fast path that would bypass the
     * EPT check of a later access of another type. */
    bool ept_trap_armed;
    uint64_t ept_trap_page;
    /* Guest-physical mappings (SDM 28.3.1, 28.4.1 "Information That May Be
     * Cached"): successful EPT walks of this CPU, direct-mapped by page,
     * valid while their gen is ept_cache_gen and the EPTP is ept_cache_eptp
     * (vmx_ept.c; dropped by vmx_ept_cache_flush). */
    vmx_ept_cached ept_cache[VMX_EPT_CACHE];
    uint32_t ept_cache_gen;
    uint64_t ept_cache_eptp;
    /* EPT paging structures are read only below this address (0: anywhere).
     * The hypervisor that lets its guest build EPT tables in guest RAM sets
     * it to the RAM size, so that no entry can make the walk read a page of
     * the host's own memory as a table (docs/guest-abi.md). */
    uint64_t ept_tables_below;

    /* The VM-execution, VM-exit and VM-entry control fields of the last
     * successful entry (pin, primary, secondary, exit, entry), for the cost
     * of the consistency checks an entry does in full when they changed
     * (docs/cost-model.md, "vmentry_checks"); entered_once is false before
     * the first entry. Timing only: not architectural state. */
    bool entered_once;
    uint32_t entry_ctls[5];

    /* VMX-preemption timer: absolute cycle at which it reaches 0 (SDM 25.5.1). */
    bool preempt_armed;
    uint64_t preempt_deadline;

    /* Event delivery in progress (injected or IDT-delivered event), for the
     * IDT-vectoring information of an exit that happens during it (27.2.3). */
    uint32_t delivery_info;  /* interruption-information format, 0 = none */
    uint32_t delivery_error;
    uint32_t delivery_insn_len;

    /* APIC-virtualization state owned by vmx_apicv*.c (RVI/SVI live in
     * VMCS_GUEST_INTR_STATUS, never here). */
    bool vintr_recognized;        /* evaluation recognised RVI: deliver at an open boundary */
    bool apic_write_pending;      /* APIC-write emulation due after the current instruction */
    uint16_t apic_write_offset;   /* its page offset */
    bool apic_write_virtualized;  /* a write was virtualized within the current instruction */
    bool tpr_threshold_pending;   /* trap-like exit 43 due after the current instruction / entry */
    bool eoi_exit_pending;        /* trap-like exit 45 due after the current instruction */
    uint8_t eoi_exit_vector;
    uint64_t apicv_aux[4];        /* spare words for vmx_apicv*.c */

    /* The last failed VM-entry check (vmx_check) and statistics. */
    vmx_check last_check;
    uint64_t entries, exits;
    uint64_t exit_count[VMX_EXIT_NREASONS];
    /* What the guest took (--stats, compare): virtual-interrupt deliveries
     * (SDM 30.2.2), external interrupts and NMIs injected at VM entry. */
    uint64_t vid_delivered, injected_ext, injected_nmi;
} vmx_vcpu;

/* Binds a VMX vCPU to a CPU (its logical processor), that CPU's local APIC,
 * guest memory and the observer bus. Clears the VMCS (revision = the one
 * IA32_VMX_BASIC reports) and all state; the CPU stays in root operation. */
void vmx_vcpu_init(vmx_vcpu *v, cpu_t *cpu, struct apic *apic, cpu_phys *phys, cpu_obs_bus *obs);

/*
 * VMLAUNCH (launch = true) / VMRESUME (SDM 26 "VM entries", 30.3):
 *  - launch state wrong → VMX_ERR_VMLAUNCH_NOT_CLEAR / VMX_ERR_VMRESUME_NOT_LAUNCHED;
 *  - a control-field check fails → VMX_ERR_ENTRY_INVALID_CONTROL (7);
 *  - a host-state check fails → VMX_ERR_ENTRY_INVALID_HOST (8);
 *  these return the error, write VMCS_VM_INSN_ERROR and change nothing else.
 *  - a guest-state check fails → the entry completes as a VM exit with
 *    reason VMX_EXIT_ENTRY_FAIL_GUEST | VMX_EXIT_REASON_ENTRY_FAIL (returns 0,
 *    v->exited = true, v->non_root = false);
 *  - otherwise the guest state is loaded into the cpu_t, non-root hooks are
 *    installed, the VM-entry event (if any) is injected, and 0 is returned.
 * The exit that may happen during injection or right after entry (e.g. a
 * TPR-below-threshold exit, an exit during event delivery) sets v->exited.
 */
unsigned vmx_vmentry(vmx_vcpu *v, bool launch);

/* The checks of a VM entry on v's VMCS (SDM 26.2 control fields and host
 * state, 26.3.1 guest state) without entering or changing anything:
 * VMX_CHECK_NONE when an entry would pass them, else the first that fails.
 * vmx_check_section names the SDM section of a check. */
vmx_check vmx_entry_check(const vmx_vcpu *v);
const char *vmx_check_section(vmx_check chk);

/* Runs the guest in non-root operation until a VM exit (returns
 * CPU_STOP_HOOK, v->exited = true) or cycle_limit (CPU_STOP_CYCLES; earlier
 * when the caller lowered cpu->cycle_limit during the run) or
 * another stop of cpu_run (HLT with nothing pending: CPU_STOP_HALT). Returns
 * CPU_STOP_HOOK at once when the entry already exited. */
cpu_stop vmx_run(vmx_vcpu *v, uint64_t cycle_limit);
/* The same with an instruction budget (single-stepping a guest): also
 * returns CPU_STOP_INSNS once max_insns guest instructions retired. */
cpu_stop vmx_run_insns(vmx_vcpu *v, uint64_t cycle_limit, uint64_t max_insns);

/*
 * Records a VM exit (SDM 27 "VM exits"): saves the guest state from the cpu_t
 * into the guest-state area (27.3), writes the exit information fields
 * (27.2: reason, qualification, guest linear/physical address, instruction
 * length and information, exit interruption information with acknowledge
 * interrupt on exit, IDT-vectoring information), writes RVI/SVI (kept in
 * VMCS_GUEST_INTR_STATUS) back, restores the root hooks, emits
 * VMX_EV_VMEXIT and, when called inside vmx_run's cpu_run, ends the run with
 * cpu_abort_insn(cpu, CPU_STOP_HOOK) (it then does not return). Outside
 * non-root operation (v->non_root = false) it does nothing.
 *
 * info gives the instruction-specific parts; NULL means all zero. Fields of
 * info that do not apply to the reason are ignored. Trap-like exits (43,
 * 45, 56, ...) pass the RIP after the instruction in cpu->rip before calling.
 */
typedef struct vmx_exit_info {
    uint64_t qualification;
    uint32_t insn_len;         /* VMCS_EXIT_INSN_LEN (instruction-caused exits) */
    uint32_t insn_info;        /* VMCS_EXIT_INSN_INFO */
    uint32_t intr_info;        /* VMCS_EXIT_INTR_INFO (exceptions, NMIs, external interrupts) */
    uint32_t intr_error;       /* VMCS_EXIT_INTR_ERROR */
    uint64_t guest_linear;     /* VMCS_GUEST_LINEAR_ADDR */
    uint64_t guest_physical;   /* VMCS_GUEST_PHYSICAL_ADDR (EPT exits) */
    bool has_guest_linear;
    bool has_guest_physical;
} vmx_exit_info;
void vmx_vmexit(vmx_vcpu *v, uint32_t reason, const vmx_exit_info *info);

/* Convenience: exit with only a qualification. */
void vmx_vmexit_qual(vmx_vcpu *v, uint32_t reason, uint64_t qualification);

/* Setting up a VMCS for the C hypervisor and for tests (vmx_setup.c):
 * - vmx_setup_guest_from_cpu: the guest-state area from the current cpu_t
 *   (every field, as a VM exit with all save controls would store it), with
 *   CR4.VMXE set as the fixed bits demand, a busy 64-bit TSS in TR when the
 *   CPU has none, activity/interruptibility from the CPU, link pointer ~0;
 *   the CR4 guest/host mask covers VMXE and its read shadow is the CPU's
 *   CR4, so the guest still reads its own CR4.
 * - vmx_setup_default_controls: every control at its must-be-1 setting
 *   (TRUE capability MSRs), i.e. the fewest exits; no event injection.
 * - vmx_setup_host_state: a host-state area that passes SDM 26.2.2-26.2.4
 *   (64-bit host); it is checked but never loaded (see the top of this file). */
void vmx_setup_guest_from_cpu(vmx_vcpu *v);
void vmx_setup_default_controls(vmx_vcpu *v);
void vmx_setup_host_state(vmx_vcpu *v);

/* VMWRITE by the host to this vCPU's VMCS (SDM 30.3), emitting
 * VMX_EV_VMWRITE with the value before and after on success. Returns the
 * VM-instruction error as vmx_vmwrite does, and 13 for a read-only field
 * when v->vmwrite_ro_fails (IA32_VMX_MISC[29] = 0). */
unsigned vmx_vcpu_vmwrite(vmx_vcpu *v, uint64_t enc, uint64_t val);

/* Asks the vCPU to look at its events at the next instruction boundary
 * (after the apicv code changed something, after emu/ raised an NMI, ...). */
void vmx_kick(vmx_vcpu *v);

/* Effective secondary controls: 0 unless "activate secondary controls" = 1
 * (SDM 24.6.2). */
static inline uint32_t vmx_proc2(const vmx_vcpu *v)
{
    uint32_t p = (uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_PROC_CONTROLS);
    return (p & VMX_PROC_SECONDARY) ? (uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_PROC_CONTROLS2) : 0;
}

/* ---- exit decisions (SDM 25.1.3 "Instructions That Cause VM Exits
 * Conditionally"): pure functions, used by the non-root hooks and tests --- */

/* I/O bitmaps A (ports 0-7FFF) and B (8000-FFFF), 4 KiB each: an access of
 * size bytes at port exits if the bit of any port it touches is set, or if
 * it wraps past FFFFH. */
bool vmx_io_bitmap_exit(const uint8_t *bitmap_a, const uint8_t *bitmap_b, uint16_t port,
                        unsigned size);
/* The whole I/O rule: "use I/O bitmaps" = 1 → the bitmaps (read from guest
 * memory/host memory at VMCS_IO_BITMAP_A/B); else "unconditional I/O
 * exiting". An unreadable bitmap exits. */
bool vmx_io_exit(vmx_vcpu *v, uint16_t port, unsigned size);

/* MSR bitmap (4 KiB): read-low 0-3FF (MSRs 0-1FFF), read-high 400-7FF
 * (C0000000-C0001FFF), write-low 800-BFF, write-high C00-FFF. An MSR
 * outside both ranges always exits. */
bool vmx_msr_bitmap_exit(const uint8_t *bitmap, uint32_t msr, bool write);
/* "use MSR bitmaps" = 0 → every RDMSR/WRMSR exits; else the bitmap. */
bool vmx_msr_exit(vmx_vcpu *v, uint32_t msr, bool write);

/* Exit qualification for control-register accesses (SDM 27.2.1 table
 * 27-3): CR number 3:0, access type 5:4 (VMX_CR_ACCESS_*), LMSW operand
 * type 6 (1 = memory), GPR 11:8, LMSW source data 31:16. */
enum { VMX_CR_ACCESS_MOV_TO = 0, VMX_CR_ACCESS_MOV_FROM = 1, VMX_CR_ACCESS_CLTS = 2, VMX_CR_ACCESS_LMSW = 3 };
uint64_t vmx_cr_qualification(unsigned cr, unsigned access, unsigned gpr, bool lmsw_mem,
                              uint16_t lmsw_src);
/* MOV to CR0/CR4 exits iff a bit set in the guest/host mask differs between
 * the source and the read shadow (SDM 25.1.3). */
bool vmx_cr_write_exits(uint64_t mask, uint64_t shadow, uint64_t val);
/* The value a non-exiting MOV to CR0/CR4 leaves: host-owned (mask) bits
 * keep their current value (SDM 25.3). */
uint64_t vmx_cr_write_value(uint64_t mask, uint64_t current, uint64_t val);
/* MOV from CR0/CR4: host-owned bits come from the read shadow (SDM 25.3). */
uint64_t vmx_cr_read_value(uint64_t mask, uint64_t shadow, uint64_t guest);
/* CLTS exits iff mask.TS = 1 and shadow.TS = 1 (SDM 25.1.3). */
bool vmx_clts_exits(uint64_t mask, uint64_t shadow);
/* LMSW exits iff mask.PE = 1, shadow.PE = 0 and src.PE = 1, or for one of
 * MP/EM/TS mask = 1 and src differs from the shadow (SDM 25.1.3). */
bool vmx_lmsw_exits(uint64_t mask, uint64_t shadow, uint16_t src);
/* MOV to CR3 exits with CR3-load exiting = 1 unless val equals one of the
 * first CR3-target-count target values (SDM 25.1.3). */
bool vmx_cr3_write_exits(const vmx_vmcs *vmcs, uint64_t val);

/* EPT walk of one guest-physical address (SDM 28.2): 4 levels from the
 * EPTP, 4-KByte / 2-MByte / 1-GByte pages. On VMX_EPT_OK *hpa is the
 * translation and *qual holds its permissions in bits 5:3 (R, W, X); on a
 * violation *qual is the exit qualification (access 2:0, permissions 5:3);
 * *entry is the last entry read. */
typedef enum vmx_ept_result { VMX_EPT_OK, VMX_EPT_VIOLATION, VMX_EPT_MISCONFIG } vmx_ept_result;
vmx_ept_result vmx_ept_walk(cpu_phys *phys, uint64_t eptp, uint64_t gpa, cpu_access acc,
                            uint64_t *hpa, uint64_t *qual, uint64_t *entry);
/* The same with the paging structures confined below tables_below (0:
 * anywhere): an entry outside reads as 0, not present. */
/* Drops this CPU's cached guest-physical mappings (SDM 28.4.3: INVEPT;
 * also done at every VM entry and exit, which the SDM allows). */
void vmx_ept_cache_flush(vmx_vcpu *v);
vmx_ept_result vmx_ept_walk_bounded(cpu_phys *phys, uint64_t eptp, uint64_t gpa, cpu_access acc,
                                    uint64_t tables_below, uint64_t *hpa, uint64_t *qual,
                                    uint64_t *entry);

/* VMX-abort indicators (SDM 27.7). */
typedef enum vmx_abort_indicator {
    VMX_ABORT_SAVE_GUEST_MSR = 1, /* the VM-exit MSR-store list failed (27.4) */
    VMX_ABORT_HOST_PDPTE = 2,
    VMX_ABORT_VMCS_CORRUPT = 3,
    VMX_ABORT_LOAD_HOST_MSR = 4, /* the VM-exit MSR-load list failed (27.6) */
    VMX_ABORT_MACHINE_CHECK = 5,
} vmx_abort_indicator;
/* "failure saving guest MSRs", ... for diagnostics. */
const char *vmx_abort_name(uint32_t indicator);

/* ---- capability MSRs (SDM Vol. 3D appendix A) ---------------------------- */
enum {
    VMX_MSR_BASIC = 0x480,
    VMX_MSR_PINBASED_CTLS = 0x481,
    VMX_MSR_PROCBASED_CTLS = 0x482,
    VMX_MSR_EXIT_CTLS = 0x483,
    VMX_MSR_ENTRY_CTLS = 0x484,
    VMX_MSR_MISC = 0x485,
    VMX_MSR_CR0_FIXED0 = 0x486,
    VMX_MSR_CR0_FIXED1 = 0x487,
    VMX_MSR_CR4_FIXED0 = 0x488,
    VMX_MSR_CR4_FIXED1 = 0x489,
    VMX_MSR_VMCS_ENUM = 0x48A,
    VMX_MSR_PROCBASED_CTLS2 = 0x48B,
    VMX_MSR_EPT_VPID_CAP = 0x48C,
    VMX_MSR_TRUE_PINBASED_CTLS = 0x48D,
    VMX_MSR_TRUE_PROCBASED_CTLS = 0x48E,
    VMX_MSR_TRUE_EXIT_CTLS = 0x48F,
    VMX_MSR_TRUE_ENTRY_CTLS = 0x490,
    VMX_MSR_VMFUNC = 0x491,
};

/* The VMCS revision identifier this implementation reports. */
#define VMX_VMCS_REVISION 1u
/* IA32_VMX_MISC bits 4:0: the preemption timer counts down by 1 every
 * 2^VMX_PREEMPT_RATE cycles of the CPU clock. */
#define VMX_PREEMPT_RATE 5u
/* IA32_VMX_MISC bits 27:25 (N): an MSR list holds up to 512 * (N + 1)
 * entries (SDM A.6); N = 0 here, and longer lists fail (vmx_msrlist.c). */
#define VMX_MISC_MSR_LIST_N 0u
#define VMX_MSR_LIST_MAX (512u * (VMX_MISC_MSR_LIST_N + 1u))

/* Value of a VMX capability MSR 0x480-0x491; false for any other MSR.
 * Exactly what this implementation supports (docs/vmx.md lists them). */
bool vmx_capability_msr(uint32_t msr, uint64_t *val);

/* A control value is allowed by a capability MSR pair: every bit set in the
 * low 32 bits (allowed-0 settings) is set in ctl and every bit set in ctl is
 * set in the high 32 bits (allowed-1). SDM Vol. 3D A.3-A.5. */
bool vmx_ctls_allowed(uint64_t cap, uint32_t ctl);

#endif
