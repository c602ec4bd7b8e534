/*
 * emu_native.c — native mode: each CPU drives its own physical local APIC.
 *
 * The CPU reaches its APIC through the hooks installed here: the xAPIC page
 * at IA32_APIC_BASE is a trap page while the APIC is in xAPIC mode, the
 * APIC MSRs (1BH, 6E0H, 800H-8FFH) go to apic_msr_*, and MOV CR8 is routed
 * to the TPR (SDM Vol. 3A 11.8.6). Interrupts are taken at instruction
 * boundaries from the events hook (SDM 11.8.4, 6.8.1). Ports and memory
 * outside RAM go to the machine's dispatch table (emu/devices/).
 *
 * Cross-CPU effects never touch another CPU directly: IPIs are routed at
 * the sender's cycle into the receivers' event queues and applied at their
 * next boundary at or after it (emu_apply_event).
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_internal.h"
#include "vmx/vmx_root.h"

/* The APIC timer is part of the CPU's slice limit: when the guest arms it
 * (or moves it earlier) in the middle of a slice, the slice ends at the
 * deadline so the scheduler can fire it on time. */
static void after_apic_write(emu_machine *m, cpu_t *c)
{
    apic_t *a = &m->apic[c->index];
    c->cr8 = apic_get_tpr(a) >> 4; /* CR8 mirrors TPR[7:4] (SDM 11.8.6.1) */
    uint64_t due = apic_timer_deadline(a);
    if (due < c->cycle_limit)
        c->cycle_limit = due;
}

static bool is_apic_page(emu_machine *m, cpu_t *c, uint64_t paddr)
{
    const apic_t *a = &m->apic[c->index];
    return apic_xapic_mmio_enabled(a) && (paddr & ~0xFFFull) == apic_base_address(a);
}

static cpu_page_kind native_page_kind(void *ctx, cpu_t *c, uint64_t paddr)
{
    emu_machine *m = ctx;
    if (is_apic_page(m, c, paddr) || paddr >= m->phys.ram_size || emu_bus_owns_page(m, paddr))
        return CPU_PAGE_TRAP;
    return CPU_PAGE_RAM;
}

/* The xAPIC page (SDM 11.4.1): each CPU sees only its own APIC there. An
 * access inside RAM that is not the APIC page reaches RAM (a trap page
 * whose APIC moved away since the TLB was filled). */
static bool native_mmio(void *ctx, cpu_t *c, uint64_t paddr, unsigned size, cpu_access acc,
                        uint64_t *val)
{
    emu_machine *m = ctx;
    apic_t *a = &m->apic[c->index];
    if (!is_apic_page(m, c, paddr)) {
        /* Device pages (the I/O APIC) win over RAM below them (--mem 4096). */
        if (paddr + size > m->phys.ram_size || emu_bus_owns_page(m, paddr))
            return emu_bus_mmio(m, c, paddr, size, acc == CPU_ACC_WRITE, val);
        if (acc == CPU_ACC_WRITE)
            return cpu_phys_write(&m->phys, paddr, val, size);
        *val = 0;
        return cpu_phys_read(&m->phys, paddr, val, size);
    }
    uint32_t off = (uint32_t)(paddr & 0xFFF);
    if (acc == CPU_ACC_WRITE) {
        bool ok = apic_mmio_write(a, off, size, *val);
        after_apic_write(m, c);
        return ok;
    }
    return apic_mmio_read(a, off, size, val);
}

static bool is_apic_msr(uint32_t msr)
{
    return msr == APIC_MSR_BASE || msr == APIC_MSR_TSC_DEADLINE ||
           (msr >= APIC_MSR_X2APIC_FIRST && msr <= APIC_MSR_X2APIC_LAST);
}

/* The VMX capability MSRs 480H-491H (SDM Vol. 3D appendix A) when the
 * machine offers VMX root operation: the values vmx/ reports to the
 * built-in hypervisor. They are read-only (WRMSR #GP(0)). */
static bool native_rdmsr(void *ctx, cpu_t *c, uint32_t msr, uint64_t *val)
{
    emu_machine *m = ctx;
    if (msr >= VMX_MSR_BASIC && msr <= VMX_MSR_VMFUNC)
    {
        if (!m->vroot || !vmx_capability_msr(msr, val))
            return false;
        /* --cpu max,-vmwrite-any: IA32_VMX_MISC[29] = 0 (SDM A.6). */
        if (msr == VMX_MSR_MISC && (m->cfg.cpu_off & EMU_CPU_F_VMWRITE_ANY))
            *val &= ~(1ull << 29);
        return true;
    }
    return is_apic_msr(msr) && emu_cpu_model_msr_ok(m->cfg.cpu_off, msr, false, 0) &&
           apic_msr_read(&m->apic[c->index], msr, val);
}

/* CPUID is intercepted natively only when its answer differs from the
 * interpreter's own: under a reduced --cpu model, and while the APIC is
 * globally disabled (SDM 11.4.3: CPUID.01H:EDX.APIC[bit 9] then reads 0).
 * With `max` and the APIC enabled nothing is intercepted. */
static void native_update_cpuid_intercept(emu_machine *m, cpu_t *c)
{
    if (m->cfg.cpu_off || !apic_hw_enabled(&m->apic[c->index]))
        c->icpt_mask |= 1u << CPU_ICPT_CPUID;
    else
        c->icpt_mask &= ~(1u << CPU_ICPT_CPUID);
}

static bool native_wrmsr(void *ctx, cpu_t *c, uint32_t msr, uint64_t val)
{
    emu_machine *m = ctx;
    if (!is_apic_msr(msr) || !emu_cpu_model_msr_ok(m->cfg.cpu_off, msr, true, val))
        return false;
    apic_t *a = &m->apic[c->index];
    uint64_t base_before = apic_base_msr(a);
    bool ok = apic_msr_write(a, msr, val);
    /* A new base or mode moves or removes the trap page (SDM 11.4.4). */
    if (apic_base_msr(a) != base_before) {
        cpu_tlb_flush(c);
        native_update_cpuid_intercept(m, c);
    }
    after_apic_write(m, c);
    return ok;
}

/* MOV CR8 reads and writes the TPR's priority class (SDM 11.8.6.1). A
 * write with reserved bits is left to the CPU, which raises #GP(0). */
static cpu_hook_result native_intercept(void *ctx, cpu_t *c, cpu_icpt *info)
{
    emu_machine *m = ctx;
    if (info->kind == CPU_ICPT_CPUID) {
        /* Intercepted only when the answer differs (native_update_cpuid_intercept). */
        uint32_t out[4], leaf = (uint32_t)info->value;
        cpu_cpuid(c, leaf, (uint32_t)(info->value >> 32), out);
        emu_cpu_model_cpuid(m->cfg.cpu_off, leaf, out);
        if (leaf == 1 && !apic_hw_enabled(&m->apic[c->index]))
            out[3] &= ~(1u << 9); /* SDM 11.4.3: no APIC while IA32_APIC_BASE.EN = 0 */
        c->gpr[CPU_RAX] = out[0];
        c->gpr[CPU_RBX] = out[1];
        c->gpr[CPU_RCX] = out[2];
        c->gpr[CPU_RDX] = out[3];
        return CPU_HOOK_DONE;
    }
    if (info->cr != 8 || (info->kind != CPU_ICPT_CR_READ && info->kind != CPU_ICPT_CR_WRITE))
        return CPU_HOOK_PASS;
    apic_t *a = &m->apic[c->index];
    if (info->kind == CPU_ICPT_CR_READ) {
        info->value = apic_get_tpr(a) >> 4;
        return CPU_HOOK_DONE;
    }
    if (info->value >> 4)
        return CPU_HOOK_PASS;
    uint64_t before = c->cr8;
    apic_set_tpr(a, (uint8_t)(info->value << 4));
    c->cr8 = info->value;
    cpu_obs_emit(&m->obs, c->cycles, c->index, CPU_EV_CR_WRITE, 8, before, c->rip, c->cr8);
    cpu_signal(c, CPU_EVT_INTR);
    return CPU_HOOK_DONE;
}

/*
 * What the CPU takes at an instruction boundary (SDM 6.9 priorities): a
 * pending NMI unless NMIs are blocked (6.7.1), then, when RFLAGS.IF = 1 and
 * no STI/MOV-SS shadow (6.8.3), the highest deliverable IRR vector, which
 * INTA moves to ISR (11.8.4). CPU_EVT_INTR is cleared once nothing more can
 * be taken now: the APIC signals again when that changes.
 */
static void native_events(void *ctx, cpu_t *c)
{
    emu_machine *m = ctx;
    apic_t *a = &m->apic[c->index];
    c->events &= ~(uint32_t)(CPU_EVT_INTR | CPU_EVT_HOOK);
    /* INIT and SIPI first (SDM 6.9: INIT outranks NMI and interrupts); a
     * CPU waiting for SIPI takes nothing else. In VMX root operation INIT
     * is blocked (SDM 23.8): it stays pending until VMXOFF, or until the
     * guest hypervisor enters a guest, where it is a VM exit (vmx/); a
     * SIPI finds no CPU waiting for it and is dropped. */
    if (c->vmx_operation) {
        if (a->sipi_pending)
            apic_take_sipi(a);
    } else if ((a->init_pending || a->sipi_pending || m->wait_sipi[c->index]) &&
               emu_smp_events(m, c)) {
        return;
    }
    /* An SMI (SDM 11.6.1 / 34.2) would enter SMM, which the machine does
     * not have: said, then dropped, so it does not stay pending for ever. */
    if (a->smi_pending && apic_take_smi(a))
        emu_diag(m, EMU_DIAG_MESSAGE, "cpu%u: SMI at RIP %#llx not emulated (no SMM; dropped)",
                 c->index, (unsigned long long)c->rip);
    if (!c->nmi_blocked && a->nmi_pending && apic_take_nmi(a)) {
        m->stats.nmi[c->index]++;
        cpu_deliver_event(c, CPU_EXC_NMI, 2, false, 0, 0);
        return;
    }
    /* ExtINT through LINT0 (SDM 11.5.1): the 8259's INT, its vector from
     * the controller's INTA cycles, taken ahead of the APIC's own fixed
     * interrupts as the external interrupt it is. */
    if (m->dev.pic.intr && cpu_interruptible(c) && emu_pic_routes_to(m, c->index)) {
        uint8_t v = emu_pic_ack(&m->dev.pic);
        cpu_obs_emit(&m->obs, c->cycles, c->index, EMU_EV_PIC_INTA, v, 0, c->rip, 0);
        cpu_deliver_interrupt(c, v);
        return;
    }
    if (cpu_interruptible(c) && apic_pending_vector(a) >= 0) {
        int v = apic_acknowledge(a);
        if (v >= 0) {
            m->stats.intr_apic[c->index]++;
            c->cr8 = apic_get_tpr(a) >> 4;
            cpu_deliver_interrupt(c, (uint8_t)v);
        }
    }
}

/* Port I/O: the machine's dispatch table (the guest ABI's ports and the PC
 * devices). The exit port ends the run at this instruction. */
static bool native_io(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    emu_machine *m = ctx;
    bool owned = emu_bus_io(m, c, port, size, in, val);
    if (port == EMU_PORT_EXIT && !in)
        cpu_request_stop(c, CPU_STOP_HOOK);
    return owned;
}

static void describe_insn(cpu_t *c, const uint8_t *bytes, unsigned len, char *out, size_t outlen)
{
    char hex[64] = "", dis[96];
    size_t used = 0;
    for (unsigned k = 0; k < len && used + 4 < sizeof(hex); k++)
        used += (size_t)snprintf(hex + used, sizeof(hex) - used, "%s%02x", k ? " " : "", bytes[k]);
    if (len == 0 || !cpu_disasm(c->mode, bytes, len, c->rip, dis, sizeof(dis)))
        snprintf(dis, sizeof(dis), "(Capstone does not know it either)");
    snprintf(out, outlen, "bytes %s (%s)", len ? hex : "unreadable", dis);
}

static void native_unimplemented(void *ctx, cpu_t *c, const uint8_t *bytes, unsigned len)
{
    emu_machine *m = ctx;
    char what[200];
    if (len < 2)
        emu_describe_rip(c, what, sizeof(what)); /* more bytes than the decoder gave */
    else
        describe_insn(c, bytes, len, what, sizeof(what));
    emu_diag(m, EMU_DIAG_UNIMPLEMENTED, "cpu%u: unimplemented instruction at RIP %#llx: %s%s", c->index,
            (unsigned long long)c->rip, what,
            m->cfg.strict ? "" : "; raising #UD in the guest (--strict stops here)");
}

/* A VMX instruction of the guest in VMX root operation (cpu.h hooks.vmx). */
static cpu_vmx_result native_vmx(void *ctx, cpu_t *c, cpu_vmx_op *op)
{
    emu_machine *m = ctx;
    return vmx_root_insn(&m->vroot[c->index], op);
}

cpu_stop emu_native_run(emu_machine *m, unsigned k, uint64_t limit, uint64_t max_insns)
{
    if (m->vroot)
        return vmx_root_run(&m->vroot[k], limit, max_insns);
    return cpu_run(&m->cpu[k], limit, max_insns);
}

const char *emu_native_shutdown_cause(const emu_machine *m, unsigned k, char *buf, size_t len)
{
    const vmx_root *r = m->vroot ? &m->vroot[k] : NULL;
    if (!r || !r->v.aborted)
        return "triple fault (an exception could not be delivered: is the IDT loaded?)";
    snprintf(buf, len,
             "VMX abort %u (%s) at the VM exit for reason %llu; the VMX-abort indicator is in the "
             "VMCS region at %#llx (SDM 27.7)",
             r->v.aborted, vmx_abort_name(r->v.aborted),
             (unsigned long long)(vmx_vmcs_get(&r->v.vmcs, VMCS_EXIT_REASON) & 0xFFFF),
             (unsigned long long)r->current);
    return buf;
}

void emu_native_attach(emu_machine *m, unsigned k)
{
    cpu_hooks hooks = {
        .page_kind = native_page_kind,
        .mmio = native_mmio,
        .io = native_io,
        .rdmsr = native_rdmsr,
        .wrmsr = native_wrmsr,
        .intercept = native_intercept,
        .events = native_events,
        .unimplemented = native_unimplemented,
        .vmx = m->vroot ? native_vmx : NULL,
        .ctx = m,
    };
    cpu_t *c = &m->cpu[k];
    if (m->vroot) {
        vmx_root_init(&m->vroot[k], c, &m->apic[k], &m->phys, &m->obs);
        /* IA32_VMX_MISC[29] as the CPU model reports it (native_rdmsr). */
        m->vroot[k].v.vmwrite_ro_fails = (m->cfg.cpu_off & EMU_CPU_F_VMWRITE_ANY) != 0;
    }
    cpu_set_hooks(c, &hooks);
    c->icpt_mask |= (1u << CPU_ICPT_CR_READ) | (1u << CPU_ICPT_CR_WRITE);
    native_update_cpuid_intercept(m, c);
    c->cr8 = apic_get_tpr(&m->apic[k]) >> 4;
}

/* Describes the instruction at a crashed CPU's RIP for the diagnostic. */
void emu_describe_rip(cpu_t *c, char *out, size_t outlen)
{
    uint8_t bytes[15];
    unsigned len = cpu_peek_linear(c, cpu_code_linear(c, c->rip), bytes, sizeof(bytes)) ? 15 : 0;
    if (len) {
        /* The interpreter's length when it knows the instruction; else a
         * few bytes, enough for Capstone and for people. */
        bool impl = false;
        unsigned n = cpu_decode_length((cpu_mode)c->mode, bytes, len, &impl);
        len = n && impl ? n : 4;
    }
    describe_insn(c, bytes, len, out, outlen);
}

/*
 * The interrupt bus (SDM 11.6.2): an IPI is matched against every APIC at
 * the sender's cycle — physical, logical, shorthands, broadcast; for
 * lowest priority the one APIC with the lowest APR — and becomes one event
 * per receiver, due `ipi` cycles later (the message's trip, cost model) for
 * another CPU and at once for the sender's own APIC, applied at the
 * receiver's next boundary at or after that cycle.
 *
 * INIT and start-up messages (SDM 11.6.1 delivery modes 101B and 110B) are
 * latched in the receiver's pending state at the send instead: due at the
 * send's cycle, or at the receiver's own clock when that is behind it, so
 * the receiver's next boundary takes them, before it can see any store
 * the sender makes after the ICR write (docs/cost-model.md, "INIT and SIPI
 * do not travel"). They are not interrupts but requests to the
 * processor — INIT is held while it is in VMX root operation and taken when
 * it leaves it (SDM 25.2 "Other Causes of VM Exits", 23.8 "Restrictions on
 * VMX Operation") — and software orders them against memory: KVM latches
 * them inside the ICR write and kvm-unit-tests' vmx_init_signal_test
 * relies on it.
 */
void emu_route_ipi(void *ctx, apic_t *src, const apic_ipi *ipi)
{
    emu_machine *m = ctx;
    /* The message reaches the other CPUs after its trip on the bus
     * (docs/cost-model.md, "ipi"); the sender's own APIC, named by its ID
     * or by "all including self", takes it at the send, as the self
     * shorthand does: it never travels between CPUs. kvm-unit-tests'
     * apic.flat ("pending nmi", "multiple nmi") counts on an NMI to self
     * being held while the handler still runs. */
    uint64_t now = src->cpu->cycles;
    uint64_t due = emu_cycle_after(now, src->cpu->costs->cost[CPU_COST_IPI]);
    unsigned n = m->cfg.ncpus;
    bool latch = ipi->delivery == APIC_DM_INIT || ipi->delivery == APIC_DM_SIPI;
    int only = -1;
    if (ipi->delivery == APIC_DM_LOWEST) {
        apic_t *all[CPU_MAX_CPUS];
        for (unsigned k = 0; k < n; k++)
            all[k] = &m->apic[k];
        only = apic_select_lowest_priority(all, n, ipi);
        if (only < 0)
            return;
    }
    for (unsigned k = 0; k < n; k++) {
        if (only >= 0 ? (int)k != only : !apic_matches_destination(&m->apic[k], ipi))
            continue;
        uint64_t at = k == ipi->src_index ? now : due;
        if (latch) /* at the send, or at once for a receiver behind it */
            at = m->cpu[k].cycles < now ? m->cpu[k].cycles : now;
        emu_qevent ev = {.cycle = at, .cpu = (uint8_t)k, .kind = EMU_Q_IPI, .vector = ipi->vector,
                         .ipi = *ipi};
        m->stats.ipis_routed++;
        cpu_obs_emit(&m->obs, now, ipi->src_index, EMU_EV_IPI_ROUTE, ipi->vector, k, at, ipi->src_index);
        emu_machine_post(m, &ev);
    }
}

void emu_apply_event(emu_machine *m, const emu_qevent *ev)
{
    cpu_t *c = &m->cpu[ev->cpu];
    switch (ev->kind) {
    case EMU_Q_IPI:
        cpu_obs_emit(&m->obs, c->cycles, ev->cpu, EMU_EV_IPI_ARRIVE, ev->vector, ev->ipi.delivery,
                     0, ev->ipi.src_index);
        apic_accept_ipi(&m->apic[ev->cpu], &ev->ipi);
        /* An INIT is performed where it lands, unless VMX operation blocks
         * it (SDM 23.8; taken at the boundary after VMXOFF, native_events):
         * a SIPI latched right behind it, at the same boundary, then finds
         * the CPU waiting for it (SDM 9.4.4: INIT, then STARTUP). */
        if (ev->ipi.delivery == APIC_DM_INIT && !m->hv_ops && !c->vmx_operation &&
            apic_take_init(&m->apic[ev->cpu]))
            emu_smp_wait_for_sipi(m, ev->cpu);
        break;
    case EMU_Q_MSI:
        m->stats.msi_delivered++;
        cpu_obs_emit(&m->obs, c->cycles, ev->cpu, EMU_EV_MSI_DELIVER, ev->vector, ev->cpu, 0, 0);
        if (m->hv_ops && m->hv_ops->deliver_msi)
            m->hv_ops->deliver_msi(m, ev->cpu, ev->vector);
        else
            apic_accept(&m->apic[ev->cpu], ev->vector, APIC_DM_FIXED, false);
        break;
    case EMU_Q_CALL:
        if (ev->fn)
            ev->fn(m, ev);
        break;
    case EMU_Q_IOAPIC:
        emu_ioapic_deliver(m, ev);
        break;
    default:
        break;
    }
}
