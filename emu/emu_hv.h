/*
 * emu_hv.h — the built-in hypervisor of the machine: what KVM would be.
 *
 * In every mode but `native` each physical CPU of the machine runs one vCPU
 * of the guest, pinned 1:1, under this hypervisor. It programs a real VMCS
 * per vCPU through vmx/ (vmx_vmentry / vmx_run / the exit information), and
 * handles every VM exit in C as KVM's vmx.c would: hypercalls (guest ABI),
 * port I/O (console, exit port), CPUID, MSRs (IA32_APIC_BASE, x2APIC),
 * APIC accesses (44) and APIC writes (56), HLT, interrupt windows (7), TPR
 * below threshold (43) and external interrupts (1).
 *
 * Interrupts reach a vCPU by the mode's path (docs/hypervisor.md):
 *   emulated   — a software APIC per vCPU (apic_t) and VM-entry event
 *                injection, with interrupt-window exiting when the guest
 *                cannot take one yet; xAPIC accesses exit (44) and are
 *                emulated by decoding the guest's MOV;
 *   tpr-shadow — emulated plus TPR shadow and the TPR threshold;
 *   apicv      — virtual-interrupt delivery: VIRR/RVI set before entry,
 *                a running vCPU kicked with a host IPI (EMU_HV_KICK_VECTOR);
 *   posted     — apicv plus posted interrupts (PIR, ON, notification
 *                EMU_HV_NOTIFY_VECTOR to NDST unless SN; wakeup vector
 *                EMU_HV_WAKEUP_VECTOR while the vCPU sleeps in HLT).
 *
 * Each physical CPU has a host local APIC (apic_t): the one the machine
 * passes to emu_hv_create, or one the hypervisor owns. Guest accesses never
 * reach it; it receives notifications, kicks, wakeups and host IRQs.
 *
 * Deterministic: timed work (delayed MSIs, host IRQs, deschedules, IPIs to
 * other vCPUs) is queued per physical CPU on the cycle clock and applied at
 * that CPU's first instruction boundary at or after its cycle.
 */
#ifndef APICV_EMU_HV_H
#define APICV_EMU_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apic/apic.h"
#include "cpu/cpu.h"
#include "emu/emu.h"
#include "vmx/vmx.h"

/* Host vectors (the host's IDT, as Linux/KVM use them). */
#define EMU_HV_WAKEUP_VECTOR 0xF1 /* posted-interrupt wakeup (POSTED_INTR_WAKEUP_VECTOR) */
#define EMU_HV_NOTIFY_VECTOR 0xF2 /* posted-interrupt notification (POSTED_INTR_VECTOR) */
#define EMU_HV_KICK_VECTOR 0xFD   /* reschedule IPI: makes a running vCPU exit */
#define EMU_HV_TIMER_VECTOR 0xEC  /* host timer tick: preempts a vCPU (DESCHEDULE) */

/* Guest ABI hypercall numbers (RAX of VMCALL) and results. */
enum emu_hc {
    EMU_HC_ABI_VERSION = 0x00,
    EMU_HC_SEND_MSI = 0x01,
    EMU_HC_RAISE_HOST_IRQ = 0x02,
    EMU_HC_VMCS_READ = 0x03,
    EMU_HC_VMCS_WRITE = 0x04,
    EMU_HC_VAPIC_READ = 0x05,
    EMU_HC_VAPIC_WRITE = 0x06,
    EMU_HC_PID_READ = 0x07,
    EMU_HC_PID_WRITE = 0x08,
    EMU_HC_EXIT_COUNT = 0x09,
    EMU_HC_LAST_EXIT = 0x0A,
    EMU_HC_DESCHEDULE = 0x0B,
    EMU_HC_CYCLES = 0x0C,
};
#define EMU_HC_EINVAL ((uint64_t)-22)
#define EMU_HC_ENOSYS ((uint64_t)-38)
#define EMU_HC_ALL_EXITS 0xFFFFu

/* Event kinds of the hypervisor (range CPU_OBS_RANGE_EMU, after emu.h's). */
enum emu_hv_obs_kind {
    EMU_HV_EV_HYPERCALL = CPU_OBS_RANGE_EMU + 0x40, /* a=nr b=RBX c=rip d=RAX returned */
    EMU_HV_EV_INJECT,     /* a=vector b=0 c=rip: external interrupt put in the VM-entry field */
    EMU_HV_EV_VIRR_SET,   /* a=vector b=RVI before d=RVI after: apicv path */
    EMU_HV_EV_POST,       /* a=vector b=target vCPU d=notification sent (1) */
    EMU_HV_EV_KICK,       /* a=target vCPU: host IPI to make it exit */
    EMU_HV_EV_BLOCK,      /* c=rip: vCPU sleeps after HLT */
    EMU_HV_EV_WAKE,       /* a=cycles asleep */
    EMU_HV_EV_DESCHED,    /* a=until cycle b=SN set */
    EMU_HV_EV_RESCHED,    /* no fields: back on its CPU (SN cleared in posted mode) */
    EMU_HV_EV_HOST_IRQ,   /* a=vector: a host interrupt handled in root operation */
    EMU_HV_EV_IPI,        /* a=vector b=destination vCPU mask c=rip: guest IPI routed */
    EMU_HV_EV_END
};
const char *emu_hv_event_name(unsigned kind);

/* Delivery paths counted per vCPU (for --stats). */
enum emu_hv_path { EMU_HV_PATH_INJECT, EMU_HV_PATH_VIRR, EMU_HV_PATH_POSTED, EMU_HV_NPATHS };

/* A timed piece of work on one physical CPU's clock. */
typedef struct emu_hv_work {
    uint64_t cycle, seq;
    uint8_t kind; /* internal */
    uint8_t vector;
    uint64_t arg;
} emu_hv_work;

/* VMCS fields that hold a physical address (emu_hv_policy.c). */
#define EMU_HV_NADDR_FIELDS 18

/* One vCPU and everything the hypervisor keeps for it. */
typedef struct emu_hv_vcpu {
    vmx_vcpu vmx;
    apic_t sw_apic;      /* the guest's APIC in emulated/tpr-shadow; IA32_APIC_BASE state in all */
    apic_t own_host_apic;
    apic_t *host_apic;   /* the physical CPU's local APIC */
    uint64_t vapic_pa, pid_pa, msr_bitmap_pa, io_bitmap_a_pa, io_bitmap_b_pa;
    bool launched;
    bool blocked;        /* asleep after an HLT exit */
    uint64_t blocked_since;
    bool descheduled;
    uint64_t desched_until;
    uint64_t desched_request; /* cycles asked for while it ran: applied at its next exit */
    bool desched_requested;
    uint32_t pending_irr[8];  /* apicv: vectors for VIRR at the next entry */
    bool nmi_pending;         /* an NMI to inject (every mode: KVM injects NMIs) */
    /* What the host put in each address field at setup (the one value
     * outside guest RAM the guest may write back: emu_hv_policy.c). */
    uint64_t host_addr[EMU_HV_NADDR_FIELDS];
    /* VMCS_WRITE waiting for its entry: restored if that entry fails. */
    bool undo_valid;
    uint32_t undo_field;
    uint64_t undo_value;
    /* The latest completed exit (LAST_EXIT) and statistics. */
    uint32_t last_reason;
    uint64_t last_qual;
    uint64_t exit_count[VMX_EXIT_NREASONS];
    uint64_t exits;
    uint64_t delivered[EMU_HV_NPATHS];
    uint64_t host_irqs;
    /* The exit-loop guard (emu_hv_run.c): where the guest resumed after the
     * latest exit, its instruction count then, that exit's reason, and
     * how many exits in a row found all three unchanged. */
    uint64_t stall_rip, stall_insns;
    uint32_t stall_reason, stall_count;
    /* Timed work for this physical CPU. */
    emu_hv_work *work;
    size_t nwork, capwork;
} emu_hv_vcpu;

/* Exits in a row with no guest progress after which the run ends as a
 * crash (emu_hv_run.c, "exit-loop guard"): far above the longest legitimate
 * run of exits at one RIP (one external-interrupt exit per pending host
 * vector, at most 240). */
#define EMU_HV_STALL_EXITS 1000u

typedef struct emu_hv {
    emu_machine *m;
    emu_mode mode;
    unsigned ncpus;
    uint64_t seq;
    /* Attached to the machine's scheduler (emu_hv_machine_ops): timed work
     * goes on the machine's event queue (m->evq) and device interrupts
     * through its MSI device, instead of the per-vCPU work lists. */
    bool machine_queue;
    /* A Multiboot kernel (emu_hv_mp.c): unrestricted guest with the EPT
     * identity map eptp, CR0.NE owned by the host, INIT/SIPI emulated. */
    bool mp;
    uint64_t eptp;
    emu_hv_vcpu vcpu[CPU_MAX_CPUS];
} emu_hv;

/*
 * Creates the hypervisor for machine m (guest loaded, every cpu_t in the
 * guest ABI entry state) in mode (not native): per vCPU a VMCS set up as
 * KVM would, host-owned pages from cpu_phys_host_alloc, its own root hooks
 * on each cpu_t. host_apics[i] is physical CPU i's local APIC, or NULL
 * (then the hypervisor owns one). NULL and a message in err on failure.
 */
emu_hv *emu_hv_create(emu_machine *m, emu_mode mode, apic_t *const *host_apics, char *err,
                      size_t errlen);
void emu_hv_free(emu_hv *hv);

/*
 * Runs vCPU cpu until its clock reaches cycle_limit, the run finishes
 * (exit port, crash: m->finished) or it sleeps with nothing to wake it
 * before the limit (its clock then jumps to the limit). Performs VM entry,
 * runs non-root, handles exits, loops. Returns CPU_STOP_CYCLES normally,
 * CPU_STOP_HOOK when the machine finished, CPU_STOP_YIELD early after a
 * guest PAUSE that yields (the machine's "PAUSE yields", docs/machine.md).
 */
cpu_stop emu_hv_run_vcpu(emu_hv *hv, unsigned cpu, uint64_t cycle_limit);
/* The same with a budget of guest instructions (emu_machine_step): returns
 * CPU_STOP_INSNS once max_insns retired in non-root operation. */
cpu_stop emu_hv_run_vcpu_insns(emu_hv *hv, unsigned cpu, uint64_t cycle_limit, uint64_t max_insns);

/* A device's edge, fixed MSI for vCPU vcpu now (on that CPU's clock), by
 * the mode's path. */
void emu_hv_device_msi(emu_hv *hv, unsigned vcpu, uint8_t vector);
/* I/O APIC messages (emu_hv_devices.c): the guest's APIC of vCPU vcpu for
 * destination matching (NULL past the last vCPU); a level-triggered fixed
 * interrupt, whose EOI the hypervisor forwards to the I/O APIC; that EOI
 * when it arrives as an EOI-induced exit. */
apic_t *emu_hv_guest_apic(emu_hv *hv, unsigned vcpu);
/* The guest's LVT LINT0 of vCPU vcpu (the virtual-APIC page in apicv and
 * posted modes, where the guest's writes land; else the software APIC). */
uint32_t emu_hv_guest_lint0(emu_hv *hv, unsigned vcpu);
void emu_hv_device_level(emu_hv *hv, unsigned vcpu, uint8_t vector);
void emu_hv_level_eoi(emu_hv *hv, struct emu_hv_vcpu *vc, uint8_t vector);
/* The 8259's ExtINT for vCPU vc: pending (its LINT0 takes it), and the
 * injection before VM entry (true when injected). */
bool emu_hv_extint_pending(emu_hv *hv, struct emu_hv_vcpu *vc);
bool emu_hv_prepare_extint(emu_hv *hv, struct emu_hv_vcpu *vc);
/* The same, delay cycles after cycle `now` (queued on the target's clock). */
void emu_hv_device_msi_at(emu_hv *hv, unsigned vcpu, uint8_t vector, uint64_t cycle);
/* The host's scheduler takes vCPU vcpu's CPU at `cycle` for `cycles`
 * cycles, as the DESCHEDULE hypercall does (a scenario's deschedule). */
void emu_hv_deschedule_at(emu_hv *hv, unsigned vcpu, uint64_t cycles, uint64_t cycle);
/* An NMI for vCPU `vcpu` from outside the guest (a scenario's `nmi`), at
 * its first boundary at or after `cycle`: pending, the vCPU kicked, injected
 * at the next entry the guest's NMI blocking allows (else NMI-window
 * exiting asks for the moment). */
void emu_hv_nmi_at(emu_hv *hv, unsigned vcpu, uint64_t cycle);
/* A fixed interrupt arrives at physical CPU pcpu's local APIC at cycle. */
void emu_hv_host_irq(emu_hv *hv, unsigned pcpu, uint8_t vector, uint64_t cycle);

/*
 * A VMWRITE of vCPU k's VMCS on the guest's behalf (VMCS_WRITE, a
 * scenario's `vmcs` line), under the guest ABI's address policy: a field
 * that holds a physical address may only be set to the host's own value or
 * to an address in guest RAM (the APIC-access address also to a page
 * outside RAM that is not the host's). Returns the VM-instruction error:
 * 0, 12/13 as VMWRITE gives them, or 7 (VMX_ERR_ENTRY_INVALID_CONTROL)
 * when the policy refuses the value, which then stays unwritten and `why`
 * (may be NULL) says what was expected.
 */
unsigned emu_hv_guest_vmwrite(emu_hv *hv, unsigned k, uint64_t enc, uint64_t val, char *why,
                              size_t len);

/* VM exits with basic reason `reason` (EMU_HC_ALL_EXITS = all) on vcpu. */
uint64_t emu_hv_exit_count(const emu_hv *hv, unsigned vcpu, unsigned reason);
/* Interrupts delivered to vcpu by a path. */
uint64_t emu_hv_delivered(const emu_hv *hv, unsigned vcpu, enum emu_hv_path path);
/* True when every vCPU sleeps (HLT) with RFLAGS.IF = 0 and no timed work
 * is queued: the guest can never continue. */
bool emu_hv_all_stuck(const emu_hv *hv);
/* Cycle of the next timed work queued for physical CPU cpu (UINT64_MAX: none). */
uint64_t emu_hv_next_work(const emu_hv *hv, unsigned cpu);

/*
 * A simple deterministic scheduler of the hypervisor's own, for tests that
 * drive a hypervisor without the machine's scheduler (emu_machine_run is
 * what runs VMX modes): rounds of m->cfg.quantum
 * cycles, CPUs in index order, until the run finishes or the clock
 * reaches until (or cfg.max_cycles: exit status 4). With machine_queue it
 * also applies the machine's due events (m->evq) at each CPU's boundaries.
 * Returns m->finished.
 */
bool emu_hv_run_machine(emu_hv *hv, uint64_t until);

/* Folds the hypervisor's state (VMCSs, virtual-APIC pages, descriptors,
 * software APICs, blocking and scheduling state, timed work) into an
 * FNV-1a hash. */
void emu_hv_digest(const emu_hv *hv, uint64_t *hash);
/* The part of it for vCPU k: its VMCS (fields, launch state, non-root)
 * into *vmcs; its virtual-APIC page, posted-interrupt descriptor and
 * software APIC into *vapic (trace digests name the two apart). */
void emu_hv_vcpu_digest(const emu_hv *hv, unsigned k, uint64_t *vmcs, uint64_t *vapic);

/* ---- the machine's side (emu_hv_glue.c) ----------------------------------
 * emu_hv_machine_ops is the emu_hv_ops table of emu.h for every VMX mode:
 * attach creates the hypervisor on the machine's CPUs and local APICs
 * (m->apic[] are the host APICs) and stores it in m->hv. The scheduler
 * runs a vCPU's turn with emu_hv_machine_run instead of cpu_run (it
 * returns when the turn's limit or the CPU's next machine event is
 * reached). See docs/hypervisor.md. */
extern const emu_hv_ops emu_hv_machine_ops;
cpu_stop emu_hv_machine_run(emu_machine *m, unsigned cpu, uint64_t cycle_limit,
                            uint64_t max_insns);

#endif
