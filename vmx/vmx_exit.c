/*
 * vmx_exit.c — VM exits (SDM Vol. 3C chapter 27, 2016 numbering): recording
 * the exit information (27.2), saving guest state (27.3), and returning to
 * the host. The host is the C hypervisor: "loading host state" (27.5) is the
 * return from vmx_run to it, so the host-state area is checked at entry but
 * never loaded into the cpu_t (which models only the guest).
 */
#include "vmx/vmx_internal.h"

#include "vmx/vmx_apicv.h"

/* Saves one segment register (SDM 27.3.2). The interpreter keeps the
 * effective limit and may hold a descriptor type without its accessed bit
 * and without G for a 4-GByte limit (64-bit mode ignores both); the saved
 * access rights are what the processor would hold after loading the
 * descriptor (accessed set, G matching the limit), so the saved state
 * passes the guest-state checks of the next VM entry. */
static uint64_t vmx_save_seg(vmx_vcpu *v, const cpu_seg *s, uint32_t sel_enc)
{
    unsigned i = (sel_enc - VMCS_GUEST_ES_SEL) / 2;
    uint32_t ar = vmx_attr_to_ar(s->attr);
    if (!(ar & (1u << 16))) {
        if (ar & 0x10)
            ar |= 1;
        if (s->limit > 0xFFFFF)
            ar |= 1u << 15;
    }
    /* Stored without vmx_vmcs_write_fast's per-field test: the caller
     * clears the guest check group once if any of the values changed
     * (vmx_vmcs.checked; every one of these fields is in that group). */
    uint64_t *f = v->vmcs.field;
    uint64_t *sel = &f[VMX_VMCS_SLOT(sel_enc)], *lim = &f[VMX_VMCS_SLOT(VMCS_GUEST_ES_LIMIT + 2 * i)],
             *arf = &f[VMX_VMCS_SLOT(VMCS_GUEST_ES_AR + 2 * i)],
             *base = &f[VMX_VMCS_SLOT(VMCS_GUEST_ES_BASE + 2 * i)];
    uint64_t diff = (*sel ^ s->sel) | (*lim ^ s->limit) | (*arf ^ ar) | (*base ^ s->base);
    *sel = s->sel;
    *lim = s->limit;
    *arf = ar;
    *base = s->base;
    return diff;
}

/* SDM 27.3 "Saving Guest State": control registers, debug state, MSRs
 * (per the exit controls), segment and descriptor-table registers, RIP,
 * RSP, RFLAGS, and the non-register state. */
void vmx_save_guest_state(vmx_vcpu *v)
{
    cpu_t *c = v->cpu;
    vmx_vmcs *m = &v->vmcs;
    uint32_t exit = (uint32_t)VMCS(v, EXIT_CONTROLS);

    /* 27.3.1: CR0, CR3, CR4 (the values the guest really has, not the
     * shadows), DR7 and DEBUGCTL when "save debug controls", SYSENTER,
     * PAT and EFER per the save controls. */
    vmx_vmcs_write_fast(m, VMCS_GUEST_CR0, c->cr0);
    vmx_vmcs_write_fast(m, VMCS_GUEST_CR3, c->cr3);
    vmx_vmcs_write_fast(m, VMCS_GUEST_CR4, c->cr4);
    if (exit & VMX_EXIT_SAVE_DEBUG) {
        vmx_vmcs_write_fast(m, VMCS_GUEST_DR7, c->dr[7]);
        vmx_vmcs_write_fast(m, VMCS_GUEST_DEBUGCTL, c->debugctl);
    }
    vmx_vmcs_write_fast(m, VMCS_GUEST_SYSENTER_CS, c->sysenter_cs);
    vmx_vmcs_write_fast(m, VMCS_GUEST_SYSENTER_ESP, c->sysenter_esp);
    vmx_vmcs_write_fast(m, VMCS_GUEST_SYSENTER_EIP, c->sysenter_eip);
    if (exit & VMX_EXIT_SAVE_PAT)
        vmx_vmcs_write_fast(m, VMCS_GUEST_PAT, c->pat);
    if (exit & VMX_EXIT_SAVE_EFER)
        vmx_vmcs_write_fast(m, VMCS_GUEST_EFER, c->efer);
    /* 27.3.4: with "enable EPT" and PAE paging in use, the PDPTE registers
     * go into the guest PDPTE fields, from which the next VM entry loads
     * them (26.3.2.4); a MOV CR3 the guest made meanwhile is kept. */
    if ((vmx_proc2(v) & VMX_PROC2_EPT) && (c->cr0 & CPU_CR0_PG) && (c->cr4 & CPU_CR4_PAE) &&
        !(c->efer & CPU_EFER_LMA)) {
        for (unsigned k = 0; k < 4; k++)
            vmx_vmcs_write_fast(m, VMCS_GUEST_PDPTE0 + 2 * k, c->pdpte[k]);
    }
    /* IA32_VMX_MISC bit 5: the IA-32e mode guest entry control receives
     * EFER.LMA. */
    uint64_t entry = VMCS(v, ENTRY_CONTROLS);
    entry = (c->efer & CPU_EFER_LMA) ? entry | VMX_ENTRY_IA32E : entry & ~(uint64_t)VMX_ENTRY_IA32E;
    vmx_vmcs_write_fast(m, VMCS_ENTRY_CONTROLS, entry);

    static const uint32_t segs[CPU_NSEG] = {VMCS_GUEST_ES_SEL, VMCS_GUEST_CS_SEL,
                                            VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL,
                                            VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL};
    uint64_t diff = 0;
    for (unsigned s = 0; s < CPU_NSEG; s++)
        diff |= vmx_save_seg(v, &c->seg[s], segs[s]);
    diff |= vmx_save_seg(v, &c->ldtr, VMCS_GUEST_LDTR_SEL);
    diff |= vmx_save_seg(v, &c->tr, VMCS_GUEST_TR_SEL);
    if (diff)
        m->checked &= ~(uint32_t)VMX_CHECKED_GUEST;
    /* The CPL lives in SS.DPL (27.3.2); the interpreter keeps it apart. */
    uint64_t ss_ar = VMCS(v, GUEST_SS_AR);
    vmx_vmcs_write_fast(m, VMCS_GUEST_SS_AR, (ss_ar & ~0x60ull) | ((uint64_t)(c->cpl & 3) << 5));
    vmx_vmcs_write_fast(m, VMCS_GUEST_GDTR_BASE, c->gdtr.base);
    vmx_vmcs_write_fast(m, VMCS_GUEST_GDTR_LIMIT, c->gdtr.limit);
    vmx_vmcs_write_fast(m, VMCS_GUEST_IDTR_BASE, c->idtr.base);
    vmx_vmcs_write_fast(m, VMCS_GUEST_IDTR_LIMIT, c->idtr.limit);

    /* 27.3.3: RIP is that of the instruction that caused a fault-like exit
     * or the next one for trap-like exits; the callers leave it in c->rip. */
    vmx_vmcs_write_fast(m, VMCS_GUEST_RIP, c->rip);
    vmx_vmcs_write_fast(m, VMCS_GUEST_RSP, c->gpr[CPU_RSP]);
    vmx_vmcs_write_fast(m, VMCS_GUEST_RFLAGS, cpu_get_rflags(c));

    /* 27.3.4 non-register state. */
    uint32_t intr = 0;
    if (c->events & CPU_EVT_SHADOW)
        intr |= c->shadow_kind == CPU_SHADOW_MOV_SS ? VMX_INTERRUPTIBILITY_MOV_SS : VMX_INTERRUPTIBILITY_STI;
    bool vnmi = (VMCS(v, PIN_CONTROLS) & VMX_PIN_VIRTUAL_NMIS) != 0;
    if (vnmi ? v->vnmi_blocked : v->nmi_blocked)
        intr |= VMX_INTERRUPTIBILITY_NMI;
    vmx_vmcs_write_fast(m, VMCS_GUEST_INTERRUPTIBILITY, intr);
    vmx_vmcs_write_fast(m, VMCS_GUEST_ACTIVITY_STATE, v->wait_sipi ? VMX_ACTIVITY_WAIT_SIPI
                                               : c->halted  ? VMX_ACTIVITY_HLT
                                                            : VMX_ACTIVITY_ACTIVE);
    /* Pending debug exceptions (27.3.4): the #DB traps not yet delivered
     * (a single-step trap behind an MTF or other trap-like exit, one held
     * back by MOV SS blocking); the host does not inherit them. */
    vmx_vmcs_write_fast(m, VMCS_GUEST_PENDING_DBG, c->dbg_pending & VMX_PENDING_DBG_BITS);
    c->dbg_pending = 0;
    c->dbg_tf = 0;

    /* 27.3.4: the preemption timer value when "save VMX-preemption timer
     * value" = 1. */
    if ((exit & VMX_EXIT_SAVE_PREEMPT_TIMER) && v->preempt_armed) {
        uint64_t left = 0;
        if (v->preempt_deadline > c->cycles)
            left = (v->preempt_deadline >> VMX_PREEMPT_RATE) - (c->cycles >> VMX_PREEMPT_RATE);
        vmx_vmcs_write_fast(m, VMCS_PREEMPT_TIMER_VALUE, left);
    }
}

/* SDM 27.2.3 "Information for VM Exits During Event Delivery": an exit
 * while delivering an injected event, or an event the guest raised itself,
 * records that event. An exit caused by the event itself (exception
 * bitmap, external interrupt) is not "during delivery". */
static void vmx_record_idt_vectoring(vmx_vcpu *v)
{
    cpu_t *c = v->cpu;
    uint32_t info = 0, err = 0;
    if (v->delivery_info & VMX_INTR_INFO_VALID) {
        info = v->delivery_info;
        err = v->delivery_error;
    } else if (c->in_delivery && c->first_fault >= 0) {
        /* The guest's own hardware exception was being delivered (an
         * exception raised by an instruction is intercepted before its
         * delivery starts, so it never names itself here); the interpreter
         * does not keep that exception's error code (docs/vmx.md). */
        info = VMX_INTR_INFO_VALID | ((uint32_t)VMX_INTR_TYPE_HW_EXC << 8) | (uint32_t)c->first_fault;
    }
    vmx_vmcs_write_fast(&v->vmcs, VMCS_IDT_VECTORING_INFO, info);
    vmx_vmcs_write_fast(&v->vmcs, VMCS_IDT_VECTORING_ERROR, err);
    if ((info & VMX_INTR_INFO_VALID) && ((info >> 8) & 7) >= VMX_INTR_TYPE_SOFT_INT)
        vmx_vmcs_write_fast(&v->vmcs, VMCS_EXIT_INSN_LEN, v->delivery_insn_len);
    /* An NMI whose delivery was interrupted is not blocking anymore
     * (27.3.4: blocking by NMI is cleared when the exit happens during
     * the delivery of an NMI). */
    if ((info & VMX_INTR_INFO_VALID) && ((info >> 8) & 7) == VMX_INTR_TYPE_NMI) {
        v->nmi_blocked = false;
        v->vnmi_blocked = false;
    }
}

/* The processor's extra work for some exits, on top of the transition
 * itself (docs/cost-model.md, "exit_*"): an external-interrupt exit that
 * acknowledged the local APIC (SDM 27.2.2, "acknowledge interrupt on
 * exit": the vector in the exit interruption information), an exception
 * or NMI exit (27.2.2, interruption information and error code), an EPT
 * violation or misconfiguration (28.3.3: the guest-physical access walked
 * the EPT paging structures first), a fault-like APIC-access exit (29.4.2)
 * and a trap-like APIC-write exit (29.4.3.3, after the write reached the
 * virtual-APIC page). */
static unsigned vmx_exit_extra(const cpu_cost_model *costs, uint32_t basic,
                               const vmx_exit_info *info)
{
    switch (basic) {
    case VMX_EXIT_EXCEPTION_NMI: return costs->cost[CPU_COST_EXIT_EXCEPTION];
    case VMX_EXIT_EXTERNAL_INTERRUPT:
        return (info->intr_info & VMX_INTR_INFO_VALID) ? costs->cost[CPU_COST_EXIT_EXTINT] : 0;
    case VMX_EXIT_EPT_VIOLATION:
    case VMX_EXIT_EPT_MISCONFIG: return costs->cost[CPU_COST_EXIT_EPT];
    case VMX_EXIT_APIC_ACCESS: return costs->cost[CPU_COST_EXIT_APIC_ACCESS];
    case VMX_EXIT_APIC_WRITE: return costs->cost[CPU_COST_EXIT_APIC_WRITE];
    default: return 0;
    }
}

void vmx_vmexit(vmx_vcpu *v, uint32_t reason, const vmx_exit_info *info)
{
    static const vmx_exit_info none;
    cpu_t *c = v->cpu;
    if (!v->non_root)
        return; /* already exited: nothing to record */
    if (!info)
        info = &none;
    uint32_t basic = reason & VMX_EXIT_REASON_BASIC_MASK;

    /* 27.2.1 basic information, 27.2.2 event-specific, 27.2.4 instruction. */
    vmx_vmcs_write_fast(&v->vmcs, VMCS_EXIT_REASON, reason);
    vmx_vmcs_write_fast(&v->vmcs, VMCS_EXIT_QUALIFICATION, info->qualification);
    vmx_vmcs_write_fast(&v->vmcs, VMCS_EXIT_INSN_LEN, info->insn_len);
    vmx_vmcs_write_fast(&v->vmcs, VMCS_EXIT_INSN_INFO, info->insn_info);
    vmx_vmcs_write_fast(&v->vmcs, VMCS_EXIT_INTR_INFO, info->intr_info);
    vmx_vmcs_write_fast(&v->vmcs, VMCS_EXIT_INTR_ERROR, info->intr_error);
    if (info->has_guest_linear)
        vmx_vmcs_write_fast(&v->vmcs, VMCS_GUEST_LINEAR_ADDR, info->guest_linear);
    if (info->has_guest_physical)
        vmx_vmcs_write_fast(&v->vmcs, VMCS_GUEST_PHYSICAL_ADDR, info->guest_physical);
    vmx_record_idt_vectoring(v);
    /* 24.8.3: every VM exit clears the valid bit of the VM-entry
     * interruption-information field. */
    vmx_vmcs_write_fast(&v->vmcs, VMCS_ENTRY_INTR_INFO,
                 VMCS(v, ENTRY_INTR_INFO) & ~(uint64_t)VMX_INTR_INFO_VALID);

    /* An exit in the middle of event delivery leaves the interrupted
     * instruction's state (c->rip) as the saved RIP (27.3.3). */
    c->in_delivery = 0;
    c->first_fault = -1;
    c->pending_vector = -1;
    vmx_save_guest_state(v);

    /* RVI/SVI already live in VMCS_GUEST_INTR_STATUS (27.3.4 "guest
     * interrupt status" is written back by design); the apicv code drops
     * its per-instruction state. */
    vmx_apicv_on_vmexit(v);

    v->delivery_info = 0;
    v->mtf_pending = false;
    v->non_root = false;
    v->exited = true;
    vmx_ept_cache_flush(v); /* vmx_ept.c: none survives the transition */
    v->exits++;
    if (basic < VMX_EXIT_NREASONS)
        v->exit_count[basic]++;
    vmx_nonroot_leave(v);
    /* The transition takes time (docs/cost-model.md, "vmexit"): the guest
     * state above is that of the exit's start, the event is stamped when
     * the host gets control. */
    c->cycles += c->costs->cost[CPU_COST_VMEXIT] + vmx_exit_extra(c->costs, basic, info);
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_VMEXIT, reason, info->qualification, c->rip,
                 info->intr_info);
    /* 27.4 "Saving MSRs" after the guest state, read with the root hooks
     * back (the processor's MSRs, not the guest's view); 27.6 "Loading
     * MSRs" here only for a host that is not on this CPU (vmx_root loads
     * the list after the host state, 27.5). A failure is a VMX abort. */
    if (VMCS(v, EXIT_MSR_STORE_COUNT) && !vmx_msr_exit_store(v))
        vmx_abort(v, VMX_ABORT_SAVE_GUEST_MSR);
    else if (!v->host_on_cpu && VMCS(v, EXIT_MSR_LOAD_COUNT) && !vmx_msr_exit_load(v))
        vmx_abort(v, VMX_ABORT_LOAD_HOST_MSR);
    if (c->in_run)
        cpu_abort_insn(c, v->aborted ? CPU_STOP_TRIPLE_FAULT : CPU_STOP_HOOK);
}

void vmx_vmexit_qual(vmx_vcpu *v, uint32_t reason, uint64_t qualification)
{
    vmx_exit_info info = {.qualification = qualification};
    vmx_vmexit(v, reason, &info);
}
