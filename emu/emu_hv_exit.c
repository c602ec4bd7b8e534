/*
 * emu_hv_exit.c — the hypervisor's VM-exit dispatcher (KVM's
 * kvm_vmx_exit_handlers) and the handlers of instruction exits that are not
 * the APIC's: port I/O (string I/O completed by the interpreter), CPUID,
 * control registers (CR8 without TPR shadow, a Multiboot guest's CR0), HLT,
 * interrupt windows (7), TPR below threshold (43), external interrupts (1).
 * APIC accesses, APIC writes and the APIC MSRs are in emu_hv_apic.c,
 * hypercalls in emu_hv_hypercall.c.
 * Each exiting instruction it emulates is skipped the KVM way
 * (skip_emulated_instruction: RIP += length, STI/MOV-SS blocking cleared).
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_hv_internal.h"
#include "emu/emu_internal.h"
#include "vmx/vmx_apicv.h"

/* ---- helpers -------------------------------------------------------------- */

static uint64_t hv_reg(emu_hv_vcpu *vc, unsigned r)
{
    return r == CPU_RSP ? HV_VMCS(vc, GUEST_RSP) : vc->vmx.cpu->gpr[r];
}

static void hv_set_reg(emu_hv_vcpu *vc, unsigned r, uint64_t val)
{
    vc->vmx.cpu->gpr[r] = val;
    if (r == CPU_RSP)
        HV_VMCS_SET(vc, GUEST_RSP, val);
}

/* ---- other instruction exits ---------------------------------------------- */

/* CPUID (exit 10): the CPU model as it is, with VMX hidden and the
 * "hypervisor present" bit set, as KVM reports it; the APIC bit follows the
 * guest's IA32_APIC_BASE.EN (SDM 11.4.3). */
static void hv_cpuid(emu_hv *hv, emu_hv_vcpu *vc)
{
    cpu_t *c = vc->vmx.cpu;
    uint32_t out[4];
    cpu_cpuid(c, (uint32_t)c->gpr[CPU_RAX], (uint32_t)c->gpr[CPU_RCX], out);
    emu_cpu_model_cpuid(hv->m->cfg.cpu_off, (uint32_t)c->gpr[CPU_RAX], out); /* --cpu */
    if ((uint32_t)c->gpr[CPU_RAX] == 1) {
        out[2] &= ~(1u << 5);
        out[2] |= 1u << 31;
        if (!apic_hw_enabled(&vc->sw_apic))
            out[3] &= ~(1u << 9); /* SDM 11.4.3: the guest's APIC is globally disabled */
    }
    c->gpr[CPU_RAX] = out[0];
    c->gpr[CPU_RBX] = out[1];
    c->gpr[CPU_RCX] = out[2];
    c->gpr[CPU_RDX] = out[3];
    hv_skip_insn(vc);
}

/*
 * INS/OUTS (exit 30 with the string bit, SDM 27.2.1 table 27-5): the
 * instruction is completed by the interpreter (hv_emulate, as KVM's
 * emulator completes string I/O), decoded in the guest's mode with every
 * prefix it carries — 67H address size, 66H, REP, a segment override on
 * OUTS — its memory operand through the guest's paging, the ports through
 * the machine's dispatch table. A REP runs its iterations in this one exit
 * until RCX is 0 or the interpreter pauses it (the CPU's cycle budget; the
 * exit port): then RIP stays at the instruction with the registers
 * describing the rest, which the next entry resumes. A fault (#PF, #GP) is
 * injected.
 */
static bool hv_string_io(emu_hv *hv, emu_hv_vcpu *vc)
{
    return hv_emulate_insn(hv, vc, "string I/O");
}


/* Port I/O (exit 30, qualification SDM 27.2.1 table 27-5). */
static bool hv_io(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
{
    emu_machine *m = hv->m;
    cpu_t *c = vc->vmx.cpu;
    unsigned size = (unsigned)(qual & 7) + 1;
    bool in = (qual >> 3) & 1, string = (qual >> 4) & 1;
    uint16_t port = (uint16_t)(qual >> 16);
    if (string)
        return hv_string_io(hv, vc);
    hv_skip_insn(vc);
    /* The machine's devices, as natively (emu/devices/); the MSI device
     * only when the machine's queue carries its messages. Nobody on the
     * port: reads all ones. */
    uint64_t mask = hv_size_mask(size);
    uint32_t val = in ? 0 : (uint32_t)(c->gpr[CPU_RAX] & mask);
    bool owned = !(port == EMU_PORT_MSI && !hv->machine_queue) &&
                 emu_bus_io(m, c, port, size, in, &val);
    if (in) {
        if (!owned)
            val = 0xFFFFFFFFu;
        c->gpr[CPU_RAX] = size == 4 ? val : ((c->gpr[CPU_RAX] & ~mask) | (val & mask));
        return true;
    }
    return !(port == EMU_PORT_EXIT && m->finished);
}

/* CR0 writes of a Multiboot guest that changed NE, which the host owns
 * (exit 28, SDM 27.2.1 table 27-3: MOV to CR0, CLTS, LMSW with its source
 * in bits 31:16): completed by emu_hv_mp.c. */
static bool hv_cr0_access(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
{
    unsigned type = (qual >> 4) & 3, gpr = (qual >> 8) & 15;
    uint64_t shadow = HV_VMCS(vc, CR0_READ_SHADOW), val;
    switch (type) {
    case VMX_CR_ACCESS_MOV_TO: val = hv_reg(vc, gpr); break;
    case VMX_CR_ACCESS_CLTS: val = shadow & ~(uint64_t)CPU_CR0_TS; break;
    case VMX_CR_ACCESS_LMSW: {
        uint64_t src = (qual >> 16) & 0xF; /* PE can be set, not cleared */
        val = (shadow & ~0xEull) | (src & 0xE) | ((shadow | src) & CPU_CR0_PE);
        break;
    }
    default:
        hv_crash(hv, vc, "control-register exit the hypervisor does not expect");
        return false;
    }
    if (!hv_mp_cr0_write(hv, vc, val)) {
        hv_inject_gp(vc);
        return true;
    }
    hv_skip_insn(vc);
    return true;
}

/* MOV to/from CR8 without TPR shadow (exit 28, emulated mode): the
 * software APIC's TPR[7:4] (SDM 11.8.6.1). */
static bool hv_cr_access(emu_hv *hv, emu_hv_vcpu *vc, uint64_t qual)
{
    unsigned cr = qual & 15, type = (qual >> 4) & 3, gpr = (qual >> 8) & 15;
    if (cr == 0 && hv->mp)
        return hv_cr0_access(hv, vc, qual);
    if (cr != 8 || type > VMX_CR_ACCESS_MOV_FROM) {
        hv_crash(hv, vc, "control-register exit the hypervisor does not expect");
        return false;
    }
    apic_t *a = &vc->sw_apic;
    if (type == VMX_CR_ACCESS_MOV_TO) {
        uint64_t val = hv_reg(vc, gpr);
        if (val >> 4) {
            hv_inject_gp(vc);
            return true;
        }
        hv_sw_set_tpr(a, (uint32_t)val << 4);
    } else {
        hv_set_reg(vc, gpr, (a->tpr >> 4) & 0xF);
    }
    hv_skip_insn(vc);
    return true;
}

/* ---- the dispatcher ------------------------------------------------------------ */

/* Exit 1: the vector was acknowledged at exit; the host's handler for it
 * ends with an EOI (a spurious vector needs none). */
static void hv_external_interrupt(emu_hv *hv, emu_hv_vcpu *vc)
{
    uint32_t info = (uint32_t)HV_VMCS(vc, EXIT_INTR_INFO);
    if (!(info & VMX_INTR_INFO_VALID)) {
        /* "Acknowledge interrupt on exit" = 0 (SDM 24.7.1, 27.2.2): the
         * interrupt is still in the local APIC's IRR and the field is
         * invalid. The host takes it in root operation, as a host OS does
         * when it enables interrupts after the exit; left there, it would
         * make the next entry exit for it again, for ever. */
        hv_host_irqs_in_root(hv, vc);
        return;
    }
    uint8_t vec = (uint8_t)info;
    if ((vc->host_apic->isr[vec >> 5] >> (vec & 31)) & 1)
        apic_eoi(vc->host_apic);
    vc->host_irqs++;
}

/* The cost class of the host's work for an exit reason (docs/cost-model.md,
 * "The hypervisor's work"): what KVM's handler for it does, in root
 * operation between the exit and the next entry. */
static cpu_cost_class hv_exit_cost_class(uint32_t basic)
{
    switch (basic) {
    case VMX_EXIT_EXTERNAL_INTERRUPT: return CPU_COST_HV_EXTINT;
    case VMX_EXIT_INTERRUPT_WINDOW:
    case VMX_EXIT_NMI_WINDOW: return CPU_COST_HV_WINDOW;
    case VMX_EXIT_APIC_ACCESS: return CPU_COST_HV_APIC_ACCESS;
    case VMX_EXIT_APIC_WRITE: return CPU_COST_HV_APIC_WRITE;
    case VMX_EXIT_VIRTUALIZED_EOI: return CPU_COST_HV_EOI;
    case VMX_EXIT_RDMSR:
    case VMX_EXIT_WRMSR: return CPU_COST_HV_MSR;
    case VMX_EXIT_IO: return CPU_COST_HV_IO;
    case VMX_EXIT_VMCALL: return CPU_COST_HV_VMCALL;
    case VMX_EXIT_HLT: return CPU_COST_HV_HLT;
    case VMX_EXIT_TPR_BELOW_THRESHOLD: return CPU_COST_HV_TPR;
    case VMX_EXIT_PREEMPT_TIMER: return CPU_COST_HV_PREEMPT;
    default: return CPU_COST_HV_OTHER;
    }
}

bool hv_handle_exit(emu_hv *hv, emu_hv_vcpu *vc)
{
    uint32_t full = (uint32_t)HV_VMCS(vc, EXIT_REASON);
    uint32_t basic = full & VMX_EXIT_REASON_BASIC_MASK;
    uint64_t qual = HV_VMCS(vc, EXIT_QUALIFICATION);
    vc->exits++;
    if (basic < VMX_EXIT_NREASONS)
        vc->exit_count[basic]++;
    /* The handler's time in root operation, on this CPU's clock: what it
     * does next (an IPI it sends, a post, the next entry) happens when it
     * is over. */
    cpu_t *hc = vc->vmx.cpu;
    hc->cycles += hc->costs->cost[hv_exit_cost_class(basic)];
    if (hv->mode == EMU_MODE_TPR_SHADOW)
        hv_sw_set_tpr(&vc->sw_apic, vmx_vapic_read32(&vc->vmx, VMX_VAPIC_TPR));
    /* KVM vmx_complete_interrupts: an event whose delivery the exit
     * interrupted is injected again at the next entry. */
    uint32_t idt = (uint32_t)HV_VMCS(vc, IDT_VECTORING_INFO);
    if ((idt & VMX_INTR_INFO_VALID) && !(full & VMX_EXIT_REASON_ENTRY_FAIL)) {
        HV_VMCS_SET(vc, ENTRY_INTR_INFO, idt & ~(uint32_t)VMX_INTR_INFO_NMI_UNBLOCK);
        HV_VMCS_SET(vc, ENTRY_EXCEPTION_ERROR, HV_VMCS(vc, IDT_VECTORING_ERROR));
        HV_VMCS_SET(vc, ENTRY_INSN_LEN, HV_VMCS(vc, EXIT_INSN_LEN));
    }
    bool ok = true;
    switch (basic) {
    case VMX_EXIT_EXCEPTION_NMI:
        if (((HV_VMCS(vc, EXIT_INTR_INFO) >> 8) & 7) != VMX_INTR_TYPE_NMI) {
            hv_crash(hv, vc, "unexpected exception VM exit");
            ok = false;
        }
        break;
    case VMX_EXIT_EXTERNAL_INTERRUPT: hv_external_interrupt(hv, vc); break;
    case VMX_EXIT_TRIPLE_FAULT:
        hv_crash(hv, vc, "triple fault (an exception could not be delivered: is the IDT loaded?)");
        ok = false;
        break;
    case VMX_EXIT_INTERRUPT_WINDOW:
        /* Injection happens at the entry; the window is asked for again
         * there only if something still waits. */
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) & ~(uint64_t)VMX_PROC_INTR_WINDOW);
        break;
    case VMX_EXIT_NMI_WINDOW:
        HV_VMCS_SET(vc, PROC_CONTROLS, HV_VMCS(vc, PROC_CONTROLS) & ~(uint64_t)VMX_PROC_NMI_WINDOW);
        break;
    case VMX_EXIT_CPUID: hv_cpuid(hv, vc); break;
    case VMX_EXIT_HLT:
        hv_skip_insn(vc);
        hv_block(hv, vc);
        break;
    case VMX_EXIT_VMCALL: ok = hv_hypercall(hv, vc); break;
    case VMX_EXIT_CR_ACCESS: ok = hv_cr_access(hv, vc, qual); break;
    case VMX_EXIT_IO: ok = hv_io(hv, vc, qual); break;
    case VMX_EXIT_RDMSR: hv_msr_exit(hv, vc, false); break;
    case VMX_EXIT_WRMSR: hv_msr_exit(hv, vc, true); break;
    case VMX_EXIT_TPR_BELOW_THRESHOLD:
        /* KVM handle_tpr_below_threshold: the threshold follows the new
         * TPR at once, in every mode (apicv/posted too, where only a guest
         * that turned VID off gets here): a threshold left above VTPR
         * would exit again right after the entry, for ever. */
        hv_update_cr8_intercept(hv, vc);
        break;
    case VMX_EXIT_APIC_ACCESS: ok = hv_apic_access(hv, vc, qual); break;
    case VMX_EXIT_APIC_WRITE: hv_apic_write(hv, vc, (unsigned)(qual & 0xFF0)); break;
    case VMX_EXIT_VIRTUALIZED_EOI: emu_hv_level_eoi(hv, vc, (uint8_t)qual); break;
    case VMX_EXIT_PREEMPT_TIMER:
        /* The timer fired (SDM 25.5.1): as KVM's vmx_update_hv_timer, the
         * host treats it as one-shot and soft-disables it with the
         * largest value, so that the next entry does not exit at once
         * again (a value of 0 would exit before every guest instruction).
         * A guest re-arms it with VMCS_WRITE. */
        HV_VMCS_SET(vc, PREEMPT_TIMER_VALUE, 0xFFFFFFFFu);
        break;
    case VMX_EXIT_PAUSE:
        /* KVM handle_pause: skip the PAUSE (a fault-like exit leaves RIP
         * on it, so re-entering would exit on it again, for ever); KVM's
         * yield to another vCPU has no counterpart in a scheduler that
         * runs each vCPU in its turn. */
        hv_skip_insn(vc);
        break;
    case VMX_EXIT_MTF:
        break;
    case VMX_EXIT_INIT:
    case VMX_EXIT_SIPI:
    case VMX_EXIT_EPT_VIOLATION:
        if (!hv->mp) {
            hv_crash(hv, vc, "INIT, SIPI or EPT exit without a Multiboot guest");
            ok = false;
        } else if (basic == VMX_EXIT_INIT) {
            hv_mp_init_exit(hv, vc);
        } else if (basic == VMX_EXIT_SIPI) {
            hv_mp_sipi_exit(hv, vc, (uint8_t)qual);
        } else {
            ok = hv_mp_ept_violation(hv, vc);
        }
        break;
    default: {
        char msg[96];
        snprintf(msg, sizeof(msg), "unexpected VM exit %u (%s)", basic, vmx_exit_reason_name(basic));
        hv_crash(hv, vc, msg);
        ok = false;
        break;
    }
    }
    if (hv->mode == EMU_MODE_TPR_SHADOW)
        vmx_vapic_write32(&vc->vmx, VMX_VAPIC_TPR, vc->sw_apic.tpr & 0xFF);
    vc->last_reason = basic;
    vc->last_qual = qual;
    return ok && !hv->m->finished;
}
