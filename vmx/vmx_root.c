/*
 * vmx_root.c — VMX root operation for guest code (SDM Vol. 3C, 2016
 * numbering; the instruction pages are "VMX Instruction Reference", 30.3
 * there, 31.3 in later editions): VMXON/VMXOFF, VMCLEAR, VMPTRLD, VMPTRST,
 * VMREAD/VMWRITE, VMLAUNCH/VMRESUME, INVEPT, INVVPID and VMCALL in root
 * operation, with VMsucceed/VMfailInvalid/VMfailValid (30.2) and the
 * VM-instruction error numbers (30.4); loading host state at a VM exit
 * (27.5); and the run loop that alternates root and non-root operation.
 *
 * cpu/ made the checks that need only the CPU (modes, the non-root exit,
 * CPL, VMXON's IA32_FEATURE_CONTROL and fixed-CR rules) and read the memory
 * operands before it called vmx_root_insn (cpu.h, cpu_vmx_op).
 */
#include "vmx/vmx_root.h"

#include "vmx/vmx_internal.h"

#include <string.h>

void vmx_root_init(vmx_root *r, cpu_t *cpu, struct apic *apic, cpu_phys *phys, cpu_obs_bus *obs)
{
    vmx_vcpu_init(&r->v, cpu, apic, phys, obs);
    /* The guest hypervisor's EPT tables are in its RAM (machine-physical =
     * its physical addresses); a walk never reads the host-owned area. */
    r->v.ept_tables_below = phys->ram_size;
    /* A VM exit loads the host state into this CPU, then the VM-exit
     * MSR-load list (SDM 27.5, 27.6). */
    r->v.host_on_cpu = true;
    r->vmxon_ptr = 0;
    r->current = VMX_NO_VMCS;
    r->entry_req = 0;
    r->insns = 0;
    cpu->vmx_operation = false;
    /* SDM 23.8: the bits VMXON requires and VMX operation keeps (A.7, A.8). */
    vmx_capability_msr(VMX_MSR_CR0_FIXED0, &cpu->vmx_cr0_fixed0);
    vmx_capability_msr(VMX_MSR_CR0_FIXED1, &cpu->vmx_cr0_fixed1);
    vmx_capability_msr(VMX_MSR_CR4_FIXED0, &cpu->vmx_cr4_fixed0);
    vmx_capability_msr(VMX_MSR_CR4_FIXED1, &cpu->vmx_cr4_fixed1);
}

/* VMX_EV_ROOT_INSN d: 0 VMsucceed, 1 VMfailInvalid, 2 + error VMfailValid. */
static void vmx_root_emit(vmx_root *r, unsigned insn, uint64_t operand, uint64_t outcome)
{
    cpu_t *c = r->v.cpu;
    cpu_obs_emit(r->v.obs, c->cycles, c->index, VMX_EV_ROOT_INSN, insn, operand, c->rip, outcome);
}

/* SDM 30.2 VMfail(ErrorNumber): VMfailValid with the error in the current
 * VMCS when there is one, else VMfailInvalid. */
static cpu_vmx_result vmx_root_fail(vmx_root *r, unsigned err)
{
    if (r->current == VMX_NO_VMCS)
        return CPU_VMX_FAIL_INVALID;
    vmx_vmcs_set(&r->v.vmcs, VMCS_VM_INSN_ERROR, err);
    return CPU_VMX_FAIL_VALID;
}

/* A 4-KByte aligned physical address within MAXPHYADDR (VMXON, VMCLEAR,
 * VMPTRLD operands). */
static bool vmx_root_ptr_ok(uint64_t pa)
{
    return (pa & 0xFFF) == 0 && vmx_phys_ok(pa);
}

/* Makes pa the current VMCS (SDM 30.3 VMPTRLD), writing the one that was
 * current back to its region first. */
static void vmx_root_make_current(vmx_root *r, uint64_t pa)
{
    if (r->current == pa)
        return;
    if (r->current != VMX_NO_VMCS)
        vmx_region_store(r->v.phys, r->current, &r->v.vmcs);
    vmx_region_load(r->v.phys, pa, &r->v.vmcs);
    r->current = pa;
}

/* SDM 30.3 VMXON, in VMX operation or not (cpu/ checked CPL and, outside
 * VMX operation, IA32_FEATURE_CONTROL and the fixed CR bits). */
static cpu_vmx_result vmx_root_vmxon(vmx_root *r, const cpu_vmx_op *op)
{
    cpu_t *c = r->v.cpu;
    if (c->vmx_operation)
        return vmx_root_fail(r, VMX_ERR_VMXON_IN_ROOT);
    if (!vmx_root_ptr_ok(op->ptr))
        return CPU_VMX_FAIL_INVALID;
    uint32_t rev = vmx_region_revision(r->v.phys, op->ptr);
    if ((rev & 0x7FFFFFFFu) != VMX_VMCS_REVISION || (rev >> 31))
        return CPU_VMX_FAIL_INVALID;
    r->vmxon_ptr = op->ptr;
    r->current = VMX_NO_VMCS;
    c->vmx_operation = true;
    return CPU_VMX_SUCCEED;
}

/* SDM 30.3 VMXOFF: leaves VMX operation (no dual-monitor treatment here).
 * The current VMCS is written back to its region so that its data is not
 * lost (the SDM leaves that to VMCLEAR before VMXOFF). */
static cpu_vmx_result vmx_root_vmxoff(vmx_root *r)
{
    if (r->current != VMX_NO_VMCS)
        vmx_region_store(r->v.phys, r->current, &r->v.vmcs);
    r->current = VMX_NO_VMCS;
    r->v.cpu->vmx_operation = false;
    /* "unblock INIT signals": one that waited is taken at the next boundary. */
    cpu_signal(r->v.cpu, CPU_EVT_INTR);
    return CPU_VMX_SUCCEED;
}

/* SDM 30.3 VMCLEAR: the VMCS's data in its region, launch state clear, and
 * no current VMCS if it was the current one. */
static cpu_vmx_result vmx_root_vmclear(vmx_root *r, uint64_t pa)
{
    if (!vmx_root_ptr_ok(pa))
        return vmx_root_fail(r, VMX_ERR_VMCLEAR_INVALID_ADDR);
    if (pa == r->vmxon_ptr)
        return vmx_root_fail(r, VMX_ERR_VMCLEAR_VMXON_PTR);
    if (pa == r->current) {
        r->v.vmcs.launch_state = VMX_LAUNCH_CLEAR;
        vmx_region_store(r->v.phys, pa, &r->v.vmcs);
        r->current = VMX_NO_VMCS;
    } else {
        vmx_region_set_launch(r->v.phys, pa, VMX_LAUNCH_CLEAR);
    }
    return CPU_VMX_SUCCEED;
}

/* SDM 30.3 VMPTRLD. */
static cpu_vmx_result vmx_root_vmptrld(vmx_root *r, uint64_t pa)
{
    if (!vmx_root_ptr_ok(pa))
        return vmx_root_fail(r, VMX_ERR_VMPTRLD_INVALID_ADDR);
    if (pa == r->vmxon_ptr)
        return vmx_root_fail(r, VMX_ERR_VMPTRLD_VMXON_PTR);
    /* "rev[30:0] ≠ VMCS revision identifier supported by processor OR
     * rev[31] = 1 AND processor does not support 1-setting of 'VMCS
     * shadowing'": it is supported, so a shadow VMCS (bit 31 set, SDM
     * 24.10) becomes current like an ordinary one; software fills it with
     * VMWRITE here, and VM entry refuses it (vmx_root_launch). */
    uint32_t rev = vmx_region_revision(r->v.phys, pa);
    uint64_t cap2 = 0;
    vmx_capability_msr(VMX_MSR_PROCBASED_CTLS2, &cap2);
    bool shadowing = ((cap2 >> 32) & VMX_PROC2_VMCS_SHADOW) != 0;
    if ((rev & 0x7FFFFFFFu) != VMX_VMCS_REVISION || ((rev >> 31) && !shadowing))
        return vmx_root_fail(r, VMX_ERR_VMPTRLD_BAD_REVISION);
    vmx_root_make_current(r, pa);
    return CPU_VMX_SUCCEED;
}

/* SDM 30.3 INVEPT: types 1 (single-context) and 2 (global) are supported
 * (IA32_VMX_EPT_VPID_CAP bits 25, 26); a single-context EPTP must pass the
 * VM-entry EPTP check. Every translation is dropped either way: entries
 * and exits already flush this CPU's TLB and cached guest-physical
 * mappings (vmx_ept_cache_flush), so nothing EPT-derived survives. */
static cpu_vmx_result vmx_root_invept(vmx_root *r, const cpu_vmx_op *op)
{
    uint64_t type = op->field, eptp = op->desc[0];
    if (type != 1 && type != 2)
        return vmx_root_fail(r, VMX_ERR_INVALID_INVEPT_OPERAND);
    if (type == 1 && !vmx_eptp_ok(eptp))
        return vmx_root_fail(r, VMX_ERR_INVALID_INVEPT_OPERAND);
    cpu_tlb_flush(r->v.cpu);
    vmx_ept_cache_flush(&r->v);
    return CPU_VMX_SUCCEED;
}

/* SDM 30.3 INVVPID (31.3 in later editions): the type in the register
 * operand must be one IA32_VMX_EPT_VPID_CAP reports (bits 40-43: all
 * four), bits 63:16 of the descriptor must be 0, the individual-address
 * type needs a VPID other than 0 and a canonical linear address, the
 * single-context types a VPID other than 0; else VMfail(28). cpu/ read
 * the descriptor before the type check (the SDM reads it after: a bad
 * type with an unreadable descriptor faults here instead of VMfail).
 * The guest's translations kept aside for its VPID (vmx_nonroot_leave)
 * are dropped, whatever the type (invalidating more than asked is
 * allowed, SDM 28.3.3.1); the root's are dropped with them. */
static cpu_vmx_result vmx_root_invvpid(vmx_root *r, const cpu_vmx_op *op)
{
    uint64_t type = op->field, vpid = op->desc[0], addr = op->desc[1];
    if (type > 3 || (vpid >> 16))
        return vmx_root_fail(r, VMX_ERR_INVALID_INVEPT_OPERAND);
    if (type == 0 && (vpid == 0 || !vmx_canonical(addr)))
        return vmx_root_fail(r, VMX_ERR_INVALID_INVEPT_OPERAND);
    if ((type == 1 || type == 3) && vpid == 0)
        return vmx_root_fail(r, VMX_ERR_INVALID_INVEPT_OPERAND);
    cpu_tlb_flush(r->v.cpu);
    return CPU_VMX_SUCCEED;
}

/* SDM 30.3 VMLAUNCH/VMRESUME, the checks before the entry proper (26.1):
 * a current VMCS that is not a shadow VMCS (VMfailInvalid for either, 26.1
 * steps 3 and 4, 24.10), no blocking by MOV SS, the launch state. The entry itself
 * (controls, host state, guest state, loading) happens when the run stops
 * after this instruction (vmx_root_run), outside the interpreter's run, as
 * for the built-in hypervisor; RIP is then past the instruction, where a
 * VMfailValid leaves it. */
static cpu_vmx_result vmx_root_launch(vmx_root *r, const cpu_vmx_op *op, bool launch)
{
    if (r->current == VMX_NO_VMCS || (r->v.vmcs.revision >> 31))
        return CPU_VMX_FAIL_INVALID;
    if (op->mov_ss)
        return vmx_root_fail(r, VMX_ERR_ENTRY_MOV_SS);
    if (launch && r->v.vmcs.launch_state != VMX_LAUNCH_CLEAR)
        return vmx_root_fail(r, VMX_ERR_VMLAUNCH_NOT_CLEAR);
    if (!launch && r->v.vmcs.launch_state != VMX_LAUNCH_LAUNCHED)
        return vmx_root_fail(r, VMX_ERR_VMRESUME_NOT_LAUNCHED);
    r->entry_req = launch ? 2 : 1;
    cpu_request_stop(r->v.cpu, CPU_STOP_HOOK);
    return CPU_VMX_DEFERRED;
}

cpu_vmx_result vmx_root_insn(vmx_root *r, cpu_vmx_op *op)
{
    cpu_vmx_result res;
    uint64_t operand = op->ptr;
    r->insns++;
    switch (op->insn) {
    case VMX_EXIT_VMXON: res = vmx_root_vmxon(r, op); break;
    case VMX_EXIT_VMXOFF: res = vmx_root_vmxoff(r); break;
    case VMX_EXIT_VMCLEAR: res = vmx_root_vmclear(r, op->ptr); break;
    case VMX_EXIT_VMPTRLD: res = vmx_root_vmptrld(r, op->ptr); break;
    case VMX_EXIT_VMPTRST:
        op->value = r->current;
        operand = r->current;
        res = CPU_VMX_SUCCEED;
        break;
    case VMX_EXIT_VMREAD: {
        operand = op->field;
        if (r->current == VMX_NO_VMCS) {
            res = CPU_VMX_FAIL_INVALID;
            break;
        }
        unsigned err = vmx_vmread(&r->v.vmcs, op->field, &op->value);
        res = err ? vmx_root_fail(r, err) : CPU_VMX_SUCCEED;
        break;
    }
    case VMX_EXIT_VMWRITE:
        operand = op->field;
        if (r->current == VMX_NO_VMCS) {
            res = CPU_VMX_FAIL_INVALID;
            break;
        }
        /* vmx_vcpu_vmwrite records an error itself (VMfailValid). */
        res = vmx_vcpu_vmwrite(&r->v, op->field, op->value) ? CPU_VMX_FAIL_VALID : CPU_VMX_SUCCEED;
        break;
    case VMX_EXIT_VMLAUNCH:
    case VMX_EXIT_VMRESUME:
        operand = r->current; /* the VMCS it enters with, as vmx_root_enter says */
        res = vmx_root_launch(r, op, op->insn == VMX_EXIT_VMLAUNCH);
        if (res == CPU_VMX_DEFERRED)
            return res; /* the entry emits its own events */
        break;
    case VMX_EXIT_INVEPT:
        operand = op->field;
        res = vmx_root_invept(r, op);
        break;
    case VMX_EXIT_INVVPID:
        operand = op->field;
        res = vmx_root_invvpid(r, op);
        break;
    case VMX_EXIT_VMCALL:
        /* SDM 30.3 VMCALL in root operation without the dual-monitor
         * treatment of SMIs and SMM (not offered): VMfail(1). */
        res = vmx_root_fail(r, VMX_ERR_VMCALL_ROOT);
        break;
    default:
        cpu_raise_exception(r->v.cpu, CPU_EXC_UD, false, 0);
    }
    vmx_root_emit(r, op->insn, operand,
                  res == CPU_VMX_FAIL_INVALID ? 1
                  : res == CPU_VMX_FAIL_VALID ? 2u + VMCS(&r->v, VM_INSN_ERROR)
                                              : 0);
    return res;
}

/* Loads one data segment register from the host-state area (SDM 27.5.2):
 * unusable with a null selector, else base 0 (FS/GS: their base fields),
 * limit FFFFFFFFH, read/write accessed, S = 1, DPL 0, P = 1, D/B = 1, G = 1. */
static void vmx_host_seg(cpu_t *c, unsigned sreg, uint16_t sel, uint64_t base)
{
    if ((sel & 0xFFFC) == 0 && sreg != CPU_SS)
        cpu_set_segment(c, sreg, sel, base, 0, 0);
    else
        cpu_set_segment(c, sreg, sel, base, 0xFFFFFFFFu,
                        0x93 | CPU_SEG_DB | CPU_SEG_G);
}

/* SDM 27.5; flush = false right after vmx_vmexit, whose return to the
 * root hooks (cpu_set_hooks) already emptied the TLB with nothing
 * translated since. */
static void vmx_root_load_host(vmx_root *r, bool flush)
{
    vmx_vcpu *v = &r->v;
    cpu_t *c = v->cpu;
    uint32_t exit = (uint32_t)VMCS(v, EXIT_CONTROLS);
    bool host64 = (exit & VMX_EXIT_HOST_ADDR_SPACE) != 0;

    /* 27.5.1: CR0 keeps ET, CD, NW, bits 63:32, 28:19, 17 and 15:6 (and
     * the bits fixed in VMX operation, which the host field holds anyway:
     * the entry checked it); CR3 keeps nothing; CR4.PAE follows the host
     * address-space size. DR7 = 400H, IA32_DEBUGCTL = 0,
     * SYSENTER from the fields, EFER and PAT per the exit controls. */
    const uint64_t cr0_keep = CPU_CR0_ET | CPU_CR0_CD | CPU_CR0_NW | 0xFFFFFFFF00000000ull |
                              0x1FF80000ull | (1ull << 17) | 0xFFC0ull;
    c->cr0 = (VMCS(v, HOST_CR0) & ~cr0_keep) | (c->cr0 & cr0_keep);
    c->cr3 = VMCS(v, HOST_CR3) & ((1ull << CPU_MAXPHYADDR) - 1);
    c->cr4 = VMCS(v, HOST_CR4) | (host64 ? CPU_CR4_PAE : 0);
    c->dr[7] = 0x400;
    c->debugctl = 0;
    c->sysenter_cs = (uint32_t)VMCS(v, HOST_SYSENTER_CS);
    c->sysenter_esp = VMCS(v, HOST_SYSENTER_ESP);
    c->sysenter_eip = VMCS(v, HOST_SYSENTER_EIP);
    if (exit & VMX_EXIT_LOAD_EFER) {
        c->efer = VMCS(v, HOST_EFER);
    } else {
        c->efer &= ~(uint64_t)(CPU_EFER_LMA | CPU_EFER_LME);
        if (host64)
            c->efer |= CPU_EFER_LMA | CPU_EFER_LME;
    }
    if (exit & VMX_EXIT_LOAD_PAT)
        c->pat = VMCS(v, HOST_PAT);

    /* 27.5.2: CS is a flat 64-bit (or 32-bit) code segment, type 11;
     * the data segments as vmx_host_seg; TR a busy 64-bit TSS of limit
     * 67H; LDTR unusable; GDTR and IDTR limits FFFFH. */
    c->cpl = 0;
    vmx_host_seg(c, CPU_ES, (uint16_t)VMCS(v, HOST_ES_SEL), 0);
    vmx_host_seg(c, CPU_SS, (uint16_t)VMCS(v, HOST_SS_SEL), 0);
    vmx_host_seg(c, CPU_DS, (uint16_t)VMCS(v, HOST_DS_SEL), 0);
    vmx_host_seg(c, CPU_FS, (uint16_t)VMCS(v, HOST_FS_SEL), VMCS(v, HOST_FS_BASE));
    vmx_host_seg(c, CPU_GS, (uint16_t)VMCS(v, HOST_GS_SEL), VMCS(v, HOST_GS_BASE));
    c->ldtr = (cpu_seg){.sel = 0, .attr = 0, .limit = 0, .base = 0};
    c->tr = (cpu_seg){.sel = (uint16_t)VMCS(v, HOST_TR_SEL), .attr = 0x8B, .limit = 0x67,
                      .base = VMCS(v, HOST_TR_BASE)};
    c->gdtr = (cpu_dtr){.base = VMCS(v, HOST_GDTR_BASE), .limit = 0xFFFF};
    c->idtr = (cpu_dtr){.base = VMCS(v, HOST_IDTR_BASE), .limit = 0xFFFF};
    cpu_set_segment(c, CPU_CS, (uint16_t)VMCS(v, HOST_CS_SEL), 0, 0xFFFFFFFFu,
                    0x9B | CPU_SEG_G | (host64 ? CPU_SEG_L : CPU_SEG_DB));

    /* 27.5.3: RIP, RSP from the fields, RFLAGS = 2. */
    c->rip = c->next_rip = VMCS(v, HOST_RIP);
    c->gpr[CPU_RSP] = VMCS(v, HOST_RSP);
    cpu_set_rflags(c, CPU_FL_FIXED1);

    /* 27.5.5 and 24.4.2: the processor is active, with no blocking by STI
     * or MOV SS; an exit caused by an NMI leaves blocking by NMI. */
    c->halted = 0;
    c->events &= ~(uint32_t)CPU_EVT_SHADOW;
    c->shadow_kind = 0;
    uint32_t intr = (uint32_t)VMCS(v, EXIT_INTR_INFO);
    if ((VMCS(v, EXIT_REASON) & VMX_EXIT_REASON_BASIC_MASK) == VMX_EXIT_EXCEPTION_NMI &&
        (intr & VMX_INTR_INFO_VALID) && ((intr >> 8) & 7) == VMX_INTR_TYPE_NMI)
        c->nmi_blocked = true;
    cpu_update_mode(c);
    if (flush) {
        cpu_tlb_flush(c);
    } else if (v->tlb_vpid) {
        /* VPIDs: the root's translations came back at the exit (SDM
         * 28.3.1); they fit the host state only if its paging state is
         * the one they were made under. */
        cpu_tlb_key now = cpu_tlb_key_of(c, 0, 0);
        if (memcmp(&now, &v->tlb_root_key, sizeof(now)) != 0)
            cpu_tlb_flush(c);
        else
            cpu_epoch_resume(c, &v->root_mark);
    }
    /* 27.6: the VM-exit MSR-load list, on top of the host state (a failure
     * is a VMX abort, 27.7). */
    if (VMCS(v, EXIT_MSR_LOAD_COUNT) && !vmx_msr_exit_load(v))
        vmx_abort(v, VMX_ABORT_LOAD_HOST_MSR);
    /* The host may now take what waits in its local APIC (an external
     * interrupt that exited without being acknowledged). */
    cpu_signal(c, CPU_EVT_INTR);
}

void vmx_root_load_host_state(vmx_root *r)
{
    vmx_root_load_host(r, true);
}

/* The VM entry a VMLAUNCH/VMRESUME asked for (SDM 26): VMfailValid with
 * the error for a control, host-state or launch-state failure; a failure
 * checking or loading guest state is an exit (33) to the host. */
static void vmx_root_enter(vmx_root *r)
{
    cpu_t *c = r->v.cpu;
    bool launch = r->entry_req == 2;
    r->entry_req = 0;
    unsigned insn = launch ? VMX_EXIT_VMLAUNCH : VMX_EXIT_VMRESUME;
    uint64_t rip = c->rip;
    r->v.vmcs_pa = r->current; /* the link pointer must differ (SDM 26.3.1.5) */
    unsigned err = vmx_vmentry(&r->v, launch);
    if (err) {
        cpu_set_rflags(c, (cpu_get_rflags(c) & ~(uint64_t)CPU_FL_ARITH) | CPU_FL_ZF);
        vmx_root_emit(r, insn, r->current, 2u + err);
        return;
    }
    cpu_obs_emit(r->v.obs, c->cycles, c->index, VMX_EV_ROOT_INSN, insn, r->current, rip, 0);
    if (r->v.exited)
        vmx_root_load_host_state(r);
}

/* SDM 27.7: a VMX abort writes its indicator into the VMCS region of the
 * VMCS whose exit failed (the current one) and nothing else of it; the
 * CPU is in the shutdown state, so the run ends there. */
static cpu_stop vmx_root_shutdown(vmx_root *r)
{
    if (r->current != VMX_NO_VMCS)
        vmx_region_set_abort(r->v.phys, r->current, r->v.aborted);
    r->v.cpu->stop = CPU_STOP_TRIPLE_FAULT;
    return CPU_STOP_TRIPLE_FAULT;
}

cpu_stop vmx_root_run(vmx_root *r, uint64_t cycle_limit, uint64_t max_insns)
{
    vmx_vcpu *v = &r->v;
    if (v->aborted)
        return vmx_root_shutdown(r);
    if (v->non_root) {
        cpu_stop s = vmx_run_insns(v, cycle_limit, max_insns);
        if (v->exited) {
            vmx_root_load_host(r, false);
            /* The caller loops (its own stops come first) and calls again:
             * the host goes on where the host-state area says. */
            return v->aborted ? vmx_root_shutdown(r) : CPU_STOP_HOOK;
        }
        return v->aborted ? vmx_root_shutdown(r) : s;
    }
    cpu_stop s = cpu_run(v->cpu, cycle_limit, max_insns);
    if (r->entry_req) {
        vmx_root_enter(r);
        if (v->aborted)
            return vmx_root_shutdown(r);
    }
    return s;
}

uint64_t vmx_root_wake_deadline(const vmx_root *r)
{
    const vmx_vcpu *v = &r->v;
    return v->non_root && v->preempt_armed ? v->preempt_deadline : UINT64_MAX;
}
