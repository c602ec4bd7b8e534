/*
 * vmx_entry.c — VM entries (SDM Vol. 3C chapter 26, 2016 numbering): the
 * order of checks (26.1-26.3.1), loading guest state into the cpu_t (26.3.2),
 * guest non-register state (26.6.x in later editions; 26.3.2.5 here), event
 * injection (26.5), and vmx_run, which lets the guest execute until a VM exit.
 */
#include "vmx/vmx_internal.h"

#include <string.h>

#include "vmx/vmx_apicv.h"

void vmx_vcpu_init(vmx_vcpu *v, cpu_t *cpu, struct apic *apic, cpu_phys *phys, cpu_obs_bus *obs)
{
    memset(v, 0, sizeof *v);
    v->cpu = cpu;
    v->apic = apic;
    v->phys = phys;
    v->obs = obs;
    v->vmcs.revision = VMX_VMCS_REVISION;
    vmx_vmcs_clear(&v->vmcs);
    vmx_vmcs_set(&v->vmcs, VMCS_VMCS_LINK_PTR, ~0ull);
    v->vmcs_pa = ~0ull;
}

void vmx_kick(vmx_vcpu *v)
{
    cpu_signal(v->cpu, CPU_EVT_HOOK);
}

/* Loads one segment register from the guest-state area (SDM 26.3.2.2). */
static void vmx_load_seg(vmx_vcpu *v, cpu_seg *s, uint32_t sel_enc)
{
    /* Selector, limit, AR and base fields sit at the same index in their
     * groups: ES..TR are 0x0800.., 0x4800.., 0x4814.., 0x6806... */
    unsigned i = (sel_enc - VMCS_GUEST_ES_SEL) / 2;
    s->sel = (uint16_t)vmx_vmcs_read_fast(&v->vmcs, sel_enc);
    s->limit = (uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_GUEST_ES_LIMIT + 2 * i);
    s->attr = vmx_ar_to_attr((uint32_t)vmx_vmcs_read_fast(&v->vmcs, VMCS_GUEST_ES_AR + 2 * i));
    s->base = vmx_vmcs_read_fast(&v->vmcs, VMCS_GUEST_ES_BASE + 2 * i);
}

/* SDM 26.3.2 "Loading Guest State": control and debug registers, MSRs,
 * segment and descriptor-table registers, RIP/RSP/RFLAGS, and the
 * non-register state (activity, interruptibility, preemption timer). */
static void vmx_load_guest_state(vmx_vcpu *v)
{
    cpu_t *c = v->cpu;
    uint32_t entry = (uint32_t)VMCS(v, ENTRY_CONTROLS);
    bool ia32e = (entry & VMX_ENTRY_IA32E) != 0;

    /* 26.3.2.1: ET and the reserved bits 15:6, 17 and 28:19 of CR0 are
     * never modified (the field's values are ignored); 63:32 are 0 (checked).
     * Deviation: CD and NW are loaded from the field (docs/vmx.md). */
    const uint64_t cr0_keep = CPU_CR0_ET | 0x1FF80000ull | (1ull << 17) | 0xFFC0ull;
    c->cr0 = (VMCS(v, GUEST_CR0) & ~cr0_keep) | (c->cr0 & cr0_keep);
    c->cr3 = VMCS(v, GUEST_CR3);
    c->cr4 = VMCS(v, GUEST_CR4);
    if (entry & VMX_ENTRY_LOAD_DEBUG) {
        c->dr[7] = VMCS(v, GUEST_DR7);
        c->debugctl = VMCS(v, GUEST_DEBUGCTL);
    }
    c->sysenter_cs = VMCS(v, GUEST_SYSENTER_CS);
    c->sysenter_esp = VMCS(v, GUEST_SYSENTER_ESP);
    c->sysenter_eip = VMCS(v, GUEST_SYSENTER_EIP);
    if (entry & VMX_ENTRY_LOAD_EFER) {
        c->efer = VMCS(v, GUEST_EFER);
    } else {
        /* 26.3.2.1: without "load IA32_EFER", LMA (and LME when CR0.PG = 1)
         * follow "IA-32e mode guest". */
        c->efer &= ~(uint64_t)(CPU_EFER_LMA | CPU_EFER_LME);
        if (ia32e)
            c->efer |= CPU_EFER_LMA | CPU_EFER_LME;
    }
    if (entry & VMX_ENTRY_LOAD_PAT)
        c->pat = VMCS(v, GUEST_PAT);
    /* 26.3.2.4: a guest that will use PAE paging gets its PDPTEs from the
     * guest PDPTE fields with EPT, else from the table at guest CR3. */
    if (!ia32e && (c->cr0 & CPU_CR0_PG) && (c->cr4 & CPU_CR4_PAE)) {
        if (vmx_proc2(v) & VMX_PROC2_EPT) {
            for (unsigned k = 0; k < 4; k++)
                c->pdpte[k] = vmx_vmcs_get(&v->vmcs, VMCS_GUEST_PDPTE0 + 2 * k);
        } else {
            cpu_load_pdptes(c);
        }
    }

    static const uint32_t segs[CPU_NSEG] = {VMCS_GUEST_ES_SEL, VMCS_GUEST_CS_SEL,
                                            VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL,
                                            VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL};
    for (unsigned s = 0; s < CPU_NSEG; s++)
        vmx_load_seg(v, &c->seg[s], segs[s]);
    vmx_load_seg(v, &c->ldtr, VMCS_GUEST_LDTR_SEL);
    vmx_load_seg(v, &c->tr, VMCS_GUEST_TR_SEL);
    c->gdtr.base = VMCS(v, GUEST_GDTR_BASE);
    c->gdtr.limit = (uint16_t)VMCS(v, GUEST_GDTR_LIMIT);
    c->idtr.base = VMCS(v, GUEST_IDTR_BASE);
    c->idtr.limit = (uint16_t)VMCS(v, GUEST_IDTR_LIMIT);

    c->gpr[CPU_RSP] = VMCS(v, GUEST_RSP);
    c->rip = VMCS(v, GUEST_RIP);
    c->next_rip = c->rip;
    cpu_set_rflags(c, VMCS(v, GUEST_RFLAGS));
    /* CPL is SS.DPL (SDM 26.3.2.2); the mode follows CR0.PE, EFER.LMA and
     * CS.L / CS.D (real mode with unrestricted guest). */
    c->cpl = (uint8_t)((VMCS(v, GUEST_SS_AR) >> 5) & 3);
    cpu_update_mode(c);
    /* 26.3.2.4, 28.3.3.1: without VPIDs a VM entry invalidates the cached
     * translations; with them the root's are kept aside and the guest's
     * own come back (vmx_nonroot_enter). */
    if (!v->tlb_vpid)
        cpu_tlb_flush(c);
    vmx_ept_cache_flush(v); /* vmx_ept.c: none from before the entry */

    /* Interruptibility (26.3.2.5 / SDM 24.4.2): blocking by STI or MOV SS
     * covers the first guest instruction; blocking by NMI is the NMI
     * (or virtual-NMI) state. */
    uint32_t intr = (uint32_t)VMCS(v, GUEST_INTERRUPTIBILITY);
    c->events &= ~(uint32_t)CPU_EVT_SHADOW;
    c->shadow_kind = 0;
    c->shadow_arm = 0;
    if (intr & (VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS)) {
        c->events |= CPU_EVT_SHADOW;
        c->shadow_kind = (intr & VMX_INTERRUPTIBILITY_STI) ? CPU_SHADOW_STI : CPU_SHADOW_MOV_SS;
    }
    /* Pending debug exceptions (26.3.2.5, 26.7.3 "Delivery of Pending
     * Debug Exceptions after VM Entry"): a #DB trap before the first guest
     * instruction, or after it with blocking by MOV SS (it then joins the
     * single-step trap of that instruction); vmx_inject_event drops them
     * when an event is injected. */
    c->dbg_tf = 0;
    c->dbg_pending = (uint32_t)VMCS(v, GUEST_PENDING_DBG) & VMX_PENDING_DBG_BITS;
    if (c->dbg_pending)
        c->events |= CPU_EVT_DEBUG;
    bool nmi_block = (intr & VMX_INTERRUPTIBILITY_NMI) != 0;
    if (VMCS(v, PIN_CONTROLS) & VMX_PIN_VIRTUAL_NMIS) {
        v->vnmi_blocked = nmi_block;
    } else {
        v->nmi_blocked = nmi_block;
        v->vnmi_blocked = false;
    }
    /* HLT and wait-for-SIPI execute nothing (SDM 24.4.2); in
     * wait-for-SIPI only INIT and SIPI end the state (vmx_mp_signals). */
    v->wait_sipi = VMCS(v, GUEST_ACTIVITY_STATE) == VMX_ACTIVITY_WAIT_SIPI;
    c->halted = VMCS(v, GUEST_ACTIVITY_STATE) == VMX_ACTIVITY_HLT || v->wait_sipi;

    /* TSC offsetting (SDM 25.3 RDTSC; 24.6.5). */
    v->root_tsc_offset = c->tsc_offset;
    if (VMCS(v, PROC_CONTROLS) & VMX_PROC_TSC_OFFSET)
        c->tsc_offset += VMCS(v, TSC_OFFSET);

    /* VMX-preemption timer (SDM 25.5.1): the value counts down by 1 each
     * time bit X of the TSC changes, X = IA32_VMX_MISC[4:0]. */
    v->preempt_armed = (VMCS(v, PIN_CONTROLS) & VMX_PIN_PREEMPT_TIMER) != 0;
    if (v->preempt_armed) {
        uint64_t val = VMCS(v, PREEMPT_TIMER_VALUE);
        v->preempt_deadline = ((c->cycles >> VMX_PREEMPT_RATE) + val) << VMX_PREEMPT_RATE;
        if (val == 0)
            v->preempt_deadline = c->cycles;
        cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_PREEMPT_TIMER_ARM, val, VMX_PREEMPT_RATE,
                     c->rip, v->preempt_deadline);
    }
}

/* SDM 26.5 "Event Injection": delivers the event of the VM-entry
 * interruption-information field through the guest IDT (queued by
 * cpu_deliver_event until the first instruction of vmx_run), as if it had
 * happened at the first guest instruction. */
static void vmx_inject_event(vmx_vcpu *v)
{
    cpu_t *c = v->cpu;
    uint32_t info = (uint32_t)VMCS(v, ENTRY_INTR_INFO);
    if (!(info & VMX_INTR_INFO_VALID))
        return;
    uint8_t vector = (uint8_t)(info & 0xFF);
    unsigned type = (info >> 8) & 7;
    bool has_err = (info & VMX_INTR_INFO_ERROR_VALID) != 0;
    uint32_t err = (uint32_t)VMCS(v, ENTRY_EXCEPTION_ERROR);
    unsigned len = (unsigned)VMCS(v, ENTRY_INSN_LEN);
    bool soft = type == VMX_INTR_TYPE_SOFT_INT || type == VMX_INTR_TYPE_PRIV_SOFT_EXC ||
                type == VMX_INTR_TYPE_SOFT_EXC;
    if (type == VMX_INTR_TYPE_OTHER) {
        /* 26.5.2 "Injection of Pending MTF VM Exits": nothing is delivered;
         * an MTF VM exit occurs before the first guest instruction. */
        v->mtf_pending = true;
        return;
    }
    /* 26.7.3: a VM entry that injects an event delivers no pending debug
     * exceptions; they are lost. */
    c->dbg_pending = 0;
    /* 26.5.1.2: an injected NMI blocks further NMIs (virtual NMIs when that
     * control is 1). */
    if (type == VMX_INTR_TYPE_EXT)
        v->injected_ext++;
    if (type == VMX_INTR_TYPE_NMI) {
        v->injected_nmi++;
        if (VMCS(v, PIN_CONTROLS) & VMX_PIN_VIRTUAL_NMIS) {
            v->vnmi_blocked = true;
            cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_NMI_INJECTED_VIRT, 0, 0, c->rip, 0);
        } else {
            v->nmi_blocked = true;
        }
    }
    /* Remembered for the IDT-vectoring information of an exit that occurs
     * while delivering it (SDM 27.2.3); the events hook forgets it at the
     * first boundary. */
    v->delivery_info = info & ~(uint32_t)VMX_INTR_INFO_NMI_UNBLOCK;
    v->delivery_error = err;
    v->delivery_insn_len = soft ? len : 0;
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_EVENT_INJECTED, vector, type, c->rip,
                 has_err ? err : ~0ull);
    cpu_deliver_event(c, vector, type, has_err, err, soft ? len : 0);
}

/* SDM 26.7 "VM-Entry Failures During or After Loading Guest State": the
 * entry ends as an exit with bit 31 of the exit reason set, the exit
 * qualification given (0, 2 or 4 for reason 33, the number of the
 * failing MSR entry for 34), the VM-entry interruption information no longer valid,
 * nothing of the guest saved; the host state follows (vmx_root, or the
 * C hypervisor). */
static void vmx_entry_fail_exit(vmx_vcpu *v, uint32_t basic, uint64_t qual)
{
    cpu_t *c = v->cpu;
    uint32_t reason = basic | VMX_EXIT_REASON_ENTRY_FAIL;
    vmx_vmcs_set(&v->vmcs, VMCS_EXIT_REASON, reason);
    vmx_vmcs_set(&v->vmcs, VMCS_EXIT_QUALIFICATION, qual);
    vmx_vmcs_set(&v->vmcs, VMCS_EXIT_INTR_INFO, 0);
    vmx_vmcs_set(&v->vmcs, VMCS_ENTRY_INTR_INFO,
                 VMCS(v, ENTRY_INTR_INFO) & ~(uint64_t)VMX_INTR_INFO_VALID);
    v->exited = true;
    v->exits++;
    v->exit_count[basic]++;
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_ENTRY_FAIL, reason, v->last_check,
                 VMCS(v, GUEST_RIP), 0);
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_VMEXIT, reason, qual, VMCS(v, GUEST_RIP), 0);
}

/* 26.4 / 26.7: an entry of the VM-entry MSR-load list failed after the
 * guest state was loaded. The CPU is back in root operation: the root
 * TSC offset, the processor's state for the host (the C hypervisor reads
 * the exit; vmx_root loads the host state and the VM-exit MSR-load list). */
static void vmx_entry_fail_msr(vmx_vcpu *v, uint32_t entry)
{
    v->last_check = VMX_CHECK_NONE;
    v->cpu->tsc_offset = v->root_tsc_offset;
    if (v->tlb_vpid) {
        /* The root's translations were not switched out: the guest state
         * loaded meanwhile must not use them. */
        cpu_tlb_flush(v->cpu);
        v->tlb_vpid = false;
    }
    v->preempt_armed = false;
    vmx_entry_fail_exit(v, VMX_EXIT_ENTRY_FAIL_MSR, entry);
    /* The built-in hypervisor's host is not on the CPU: its VM-exit
     * MSR-load list is loaded now, as at any exit (27.6). */
    if (!v->host_on_cpu && VMCS(v, EXIT_MSR_LOAD_COUNT) && !vmx_msr_exit_load(v))
        vmx_abort(v, VMX_ABORT_LOAD_HOST_MSR);
}

/* Fails a VM entry for a control or host-state check (SDM 26.2:
 * VMfailValid, nothing else changes). */
static unsigned vmx_entry_fail(vmx_vcpu *v, unsigned err, vmx_check check)
{
    v->last_check = check;
    vmx_vmcs_set(&v->vmcs, VMCS_VM_INSN_ERROR, err);
    cpu_obs_emit(v->obs, v->cpu->cycles, v->cpu->index, VMX_EV_ENTRY_FAIL, err, check,
                 VMCS(v, GUEST_RIP), 0);
    return err;
}

vmx_check vmx_entry_check(const vmx_vcpu *v)
{
    /* SDM 26.2, 26.3.1: in the order a VM entry makes them. */
    vmx_check chk = vmx_check_controls(v);
    if (chk == VMX_CHECK_NONE)
        chk = vmx_check_host_state(v);
    if (chk == VMX_CHECK_NONE)
        chk = vmx_check_guest_state(v);
    return chk;
}

const char *vmx_check_section(vmx_check chk)
{
    if (chk == VMX_CHECK_NONE)
        return "none";
    if (chk <= VMX_CHECK_VMFUNC)
        return "SDM 26.2.1.1 VM-execution control fields";
    if (chk <= VMX_CHECK_EXIT_MSR_LOAD)
        return "SDM 26.2.1.2 VM-exit control fields";
    if (chk <= VMX_CHECK_ENTRY_SMM)
        return "SDM 26.2.1.3 VM-entry control fields";
    if (chk <= VMX_CHECK_HOST_RIP)
        return "SDM 26.2.2-26.2.4 host state";
    if (chk <= VMX_CHECK_GUEST_MODE)
        return "SDM 26.3.1 guest state";
    if (chk == VMX_CHECK_GUEST_PDPTE)
        return "SDM 26.3.1.6 guest PDPTEs";
    return "SDM 30.3 launch state";
}

/* SDM 26.2 "Checks on VMX Controls and Host-State Area": processors that
 * cache the VMCS skip the checks of control fields not written since the
 * last successful entry (KVM, Linux commit 804939ea200d: writing a major
 * control makes the next entry do all of them, "several hundred cycles").
 * The model charges vmentry_checks for the first entry and for one whose
 * controls differ from the last entry's (a host that writes a control
 * only when it changes, as KVM's control shadows do). */
static unsigned vmx_entry_checks_cost(vmx_vcpu *v)
{
    uint32_t now[5] = {(uint32_t)VMCS(v, PIN_CONTROLS), (uint32_t)VMCS(v, PROC_CONTROLS),
                       (uint32_t)VMCS(v, PROC_CONTROLS2), (uint32_t)VMCS(v, EXIT_CONTROLS),
                       (uint32_t)VMCS(v, ENTRY_CONTROLS)};
    bool same = v->entered_once && memcmp(now, v->entry_ctls, sizeof(now)) == 0;
    v->entered_once = true;
    memcpy(v->entry_ctls, now, sizeof(now));
    return same ? 0 : v->cpu->costs->cost[CPU_COST_VMENTRY_CHECKS];
}

unsigned vmx_vmentry(vmx_vcpu *v, bool launch)
{
    cpu_t *c = v->cpu;
    v->exited = false;
    /* SDM 30.3 VMLAUNCH/VMRESUME: launch state first. */
    if (launch && v->vmcs.launch_state != VMX_LAUNCH_CLEAR)
        return vmx_entry_fail(v, VMX_ERR_VMLAUNCH_NOT_CLEAR, VMX_CHECK_LAUNCH_STATE);
    if (!launch && v->vmcs.launch_state != VMX_LAUNCH_LAUNCHED)
        return vmx_entry_fail(v, VMX_ERR_VMRESUME_NOT_LAUNCHED, VMX_CHECK_LAUNCH_STATE);
    /* SDM 26.1: VM entry with events blocked by MOV SS fails (the host's
     * blocking: never the case for the C hypervisor). */
    vmx_check chk = vmx_entry_check_controls(v);
    if (chk != VMX_CHECK_NONE)
        return vmx_entry_fail(v, VMX_ERR_ENTRY_INVALID_CONTROL, chk);
    chk = vmx_entry_check_host_state(v);
    if (chk != VMX_CHECK_NONE)
        return vmx_entry_fail(v, VMX_ERR_ENTRY_INVALID_HOST, chk);

    /* From here on the entry is committed to happen or to end as an exit
     * (SDM 26.3 "Checking and Loading Guest State"). */
    chk = vmx_entry_check_guest_state(v);
    if (chk != VMX_CHECK_NONE) {
        /* 26.7 "VM-Entry Failures During or After Loading Guest State":
         * exit reason 33 with bit 31 set, qualification 0 (2 for a PDPTE,
         * 4 for the VMCS link pointer, 26.8); the guest state was not
         * loaded, so nothing of the cpu_t changes, and the VM-entry
         * interruption information is not delivered. */
        v->last_check = chk;
        vmx_entry_fail_exit(v, VMX_EXIT_ENTRY_FAIL_GUEST,
                            chk == VMX_CHECK_GUEST_PDPTE      ? 2
                            : chk == VMX_CHECK_GUEST_LINK_PTR ? 4
                                                              : 0);
        return VMX_ERR_NONE;
    }

    v->last_check = VMX_CHECK_NONE;
    /* The entry takes time (docs/cost-model.md, "vmentry"), so a host that
     * re-enters at once still moves the clock; the guest (and its
     * preemption timer) starts when it is over. A failed entry changes
     * nothing (VMfailValid, or the exit of 26.7 before any guest state is
     * loaded), and the host cannot retry one without changing the VMCS. */
    c->cycles += c->costs->cost[CPU_COST_VMENTRY] + vmx_entry_checks_cost(v);
    bool nmi_blocked = v->nmi_blocked, vnmi_blocked = v->vnmi_blocked, wait_sipi = v->wait_sipi;
    v->tlb_vpid = (vmx_proc2(v) & VMX_PROC2_VPID) && VMCS(v, VPID) != 0;
    if (v->tlb_vpid) {
        v->tlb_root_key = cpu_tlb_key_of(c, 0, 0);
        v->root_mark = cpu_epoch_mark_now(c); /* the host's state is still in the CPU */
    }
    vmx_load_guest_state(v);
    /* 26.4 "Loading MSRs", after the guest state; a failure ends the entry
     * as an exit (34) to the host (26.7). */
    uint32_t msr_fail = vmx_msr_entry_load(v);
    if (msr_fail) {
        vmx_entry_fail_msr(v, msr_fail);
        v->nmi_blocked = nmi_blocked;
        v->vnmi_blocked = vnmi_blocked;
        v->wait_sipi = wait_sipi;
        return VMX_ERR_NONE;
    }
    if (launch)
        v->vmcs.launch_state = VMX_LAUNCH_LAUNCHED;
    v->non_root = true;
    v->entries++;
    v->delivery_info = 0;
    vmx_nonroot_enter(v);
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_VMENTRY, launch, VMCS(v, ENTRY_INTR_INFO),
                 c->rip, VMCS(v, GUEST_INTR_STATUS));
    vmx_inject_event(v);
    /* 26.3.2.5 / 29 (apicv.md 4): PPR virtualization and evaluation with
     * VID = 1; the TPR-threshold check with TPR shadow = 1 and VID = 0. */
    if (VMCS(v, PROC_CONTROLS) & VMX_PROC_TPR_SHADOW)
        vmx_apicv_on_vmentry(v);
    /* The first boundary looks at pending work: preemption timer, windows,
     * trap-like exits recorded at entry, virtual interrupts. */
    cpu_signal(c, CPU_EVT_HOOK | CPU_EVT_INTR);
    return VMX_ERR_NONE;
}

/* SDM 25.5.2 "Monitor Trap Flag": with the control set the guest executes
 * one instruction (or only the delivery of an injected event, or wakes from
 * HLT), then an MTF VM exit occurs at the next boundary, after any
 * trap-like exit that instruction caused (29.4.3.3). An exception the
 * instruction raised and that was delivered through the IDT ends the step
 * there: the exit comes with RIP at the handler's first instruction
 * (vmx_exception stops the run after the delivery). */
static cpu_stop vmx_run_mtf(vmx_vcpu *v, uint64_t cycle_limit)
{
    cpu_t *c = v->cpu;
    uint64_t insns = c->insns;
    bool injected = c->inject_pending, was_halted = c->halted;
    v->in_run = true;
    v->mtf_stepping = true;
    v->mtf_delivered = false;
    cpu_stop s = cpu_run(c, cycle_limit, injected ? 0 : 1);
    v->mtf_stepping = false;
    v->in_run = false;
    if (v->exited)
        return CPU_STOP_HOOK;
    if (!injected && !v->mtf_delivered && c->insns == insns && was_halted == (bool)c->halted)
        return s; /* nothing happened (cycle limit, still halted) */
    if (vmx_apicv_work_pending(v))
        vmx_apicv_after_insn(v);
    if (v->exited)
        return CPU_STOP_HOOK;
    vmx_vmexit(v, VMX_EXIT_MTF, NULL);
    return CPU_STOP_HOOK;
}

cpu_stop vmx_run(vmx_vcpu *v, uint64_t cycle_limit)
{
    return vmx_run_insns(v, cycle_limit, UINT64_MAX);
}

/* vmx_run_insns without the VMX-abort rule. */
static cpu_stop vmx_run_body(vmx_vcpu *v, uint64_t cycle_limit, uint64_t max_insns)
{
    cpu_t *c = v->cpu;
    const uint64_t insns_at_start = c->insns;
    if (v->exited || !v->non_root)
        return CPU_STOP_HOOK;
    if (v->mtf_pending) {
        v->mtf_pending = false;
        vmx_vmexit(v, VMX_EXIT_MTF, NULL);
        return CPU_STOP_HOOK;
    }
    if (VMCS(v, PROC_CONTROLS) & VMX_PROC_MTF)
        return vmx_run_mtf(v, cycle_limit);
    uint64_t limit = cycle_limit;
    /* The preemption timer ends the run at its deadline: cpu_run stops at
     * cycle_limit, and the events hook takes the exit. */
    if (v->preempt_armed && v->preempt_deadline < limit)
        limit = v->preempt_deadline > c->cycles ? v->preempt_deadline : c->cycles;
    for (;;) {
        uint64_t done = c->insns - insns_at_start;
        if (done >= max_insns)
            return CPU_STOP_INSNS;
        v->in_run = true;
        cpu_stop s = cpu_run(c, limit, max_insns == UINT64_MAX ? UINT64_MAX : max_insns - done);
        v->in_run = false;
        if (v->exited)
            return CPU_STOP_HOOK;
        if (v->preempt_armed && c->cycles >= v->preempt_deadline) {
            /* Reached the timer's deadline (running, or asleep in HLT: the
             * timer counts in the HLT state too, SDM 25.5.1). */
            vmx_vmexit(v, VMX_EXIT_PREEMPT_TIMER, NULL);
            return CPU_STOP_HOOK;
        }
        if (s == CPU_STOP_HALT && v->preempt_armed && v->preempt_deadline < cycle_limit) {
            c->cycles = v->preempt_deadline;
            continue;
        }
        /* A CPU_STOP_CYCLES before cycle_limit means the caller lowered
         * cpu->cycle_limit during the run (the machine: an event due for
         * this CPU, an I/O APIC message or an IPI, emu_machine_post):
         * return so it is applied at that cycle rather than a quantum later. */
        return s;
    }
}

cpu_stop vmx_run_insns(vmx_vcpu *v, uint64_t cycle_limit, uint64_t max_insns)
{
    /* A VMX abort (SDM 27.7) leaves the CPU in the shutdown state. */
    if (v->aborted)
        return CPU_STOP_TRIPLE_FAULT;
    cpu_stop s = vmx_run_body(v, cycle_limit, max_insns);
    return v->aborted ? CPU_STOP_TRIPLE_FAULT : s;
}

const char *vmx_event_name(unsigned kind)
{
    static const char *const names[VMX_EV_VMX_END - CPU_OBS_RANGE_VMX] = {
        "vmx.entry", "vmx.exit", "vmx.entry-fail", "vmx.inject", "vmx.vintr-recognized",
        "vmx.vintr-delivered", "vmx.ppr-virt", "vmx.tpr-virt", "vmx.eoi-virt", "vmx.self-ipi-virt",
        "vmx.cr8-read-virt", "vmx.cr8-write-virt", "vmx.pi-ack", "vmx.pi-nv-match",
        "vmx.pi-nv-mismatch", "vmx.pi-on-clear", "vmx.pi-eoi", "vmx.pi-pir-to-virr",
        "vmx.pi-rvi-update", "vmx.apic-access-read", "vmx.apic-access-write", "vmx.apic-write-emul",
        "vmx.x2apic-rdmsr", "vmx.x2apic-wrmsr", "vmx.vnmi-inject", "vmx.preempt-arm", "vmx.vmwrite",
        "vmx.ept-fault", "vmx.root-insn", "vmx.abort", "vmx.shadow-insn",
    };
    if (kind < CPU_OBS_RANGE_VMX || kind >= VMX_EV_VMX_END)
        return NULL;
    return names[kind - CPU_OBS_RANGE_VMX];
}
