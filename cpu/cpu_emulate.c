/*
 * cpu_emulate.c — one guest instruction executed on behalf of a
 * hypervisor's instruction-emulating VM-exit handler, with the
 * interpreter's own decoder and handlers (what KVM does with its x86
 * emulator for APIC-access and MMIO exits).
 *
 * SDM Vol. 3C 29.4 "Virtualizing Memory-Mapped APIC Accesses" and 27.1
 * "Architectural State before a VM Exit": an APIC-access VM exit is
 * fault-like — the instruction has not completed and RIP still points to
 * it — so the VMM completes it by emulation (SDM Vol. 3C 29.4.4 leaves the
 * access to the VMM). Any form the interpreter runs can therefore be
 * emulated: every prefix combination, addressing form, operand size, RMW
 * and string instruction, decoded in the CPU's current mode. Only the
 * accesses differ: they follow hooks the caller supplies for this one
 * instruction (the hypervisor claims its APIC page there).
 */
#include "cpu/cpu_internal.h"

/* Whether a hypervisor may complete the instruction by emulation: one that
 * changes only general registers, RFLAGS, RIP and memory (the state a VMM
 * writes back, SDM Vol. 3C 27.3 saves the rest in the VMCS). Branches and
 * system instructions (segment loads, control registers, interrupts, HLT)
 * are not data accesses and are refused, as are encodings that would #UD. */
static bool emulable(const cpu_insn *i)
{
    if (i->exec == cpu_exec_ud || i->exec == cpu_exec_unimplemented)
        return false;
    switch (i->cost_class) {
    case CPU_COST_BRANCH:
    case CPU_COST_SYSTEM:
    case CPU_COST_SERIALIZE:
    case CPU_COST_INTERRUPT:
        return false;
    default: break;
    }
    /* POP FS / POP GS load a segment register. */
    if (i->map == 1 && (i->op == 0xA1 || i->op == 0xA9))
        return false;
    /* Instructions that end their block change state the run loop must see
     * (MOV to a segment register, POPF, CLI/STI, INT n); REP string forms
     * and port output end blocks only to pause and to let devices react. */
    return !i->ends_block || i->cost_class == CPU_COST_STRING || i->cost_class == CPU_COST_IO;
}

/* Fetches and decodes the instruction at RIP through the page walk (SDM
 * Vol. 3A 4.6: a fetch needs execute rights, which may fault). */
static unsigned fetch_decode(cpu_t *c, cpu_insn *i)
{
    uint8_t buf[15];
    for (unsigned k = 0; k < 15; k++) {
        buf[k] = (uint8_t)cpu_read_slow(c, c->rip + k, 1, CPU_ACC_FETCH);
        unsigned len = cpu_decode((cpu_mode)c->mode, c->costs, buf, k + 1, i);
        if (len)
            return len;
    }
    return 0;
}

/* The part of cpu_emulate_insn that may be abandoned by a fault or a hook
 * (longjmp to abort_jmp). */
static cpu_emul_result emulate_body(cpu_t *c, cpu_emul_info *info)
{
    cpu_insn i;
    unsigned len = fetch_decode(c, &i);
    if (len == 0)
        cpu_gp0(c); /* longer than 15 bytes (SDM Vol. 2 2.3.11) */
    info->len = (uint8_t)len;
    if (!emulable(&i))
        return CPU_EMUL_UNSUPPORTED;
    c->next_rip = c->rip + len;
    i.exec(c, &i);
    c->rip = c->next_rip;
    return CPU_EMUL_DONE;
}

cpu_emul_result cpu_emulate_insn(cpu_t *c, const cpu_hooks *hooks, cpu_emul_info *info)
{
    memset(info, 0, sizeof(*info));
    if (c->in_run)
        return CPU_EMUL_UNSUPPORTED; /* only between runs: abort_jmp belongs to cpu_run */
    const cpu_hooks saved = c->hooks;
    const uint32_t saved_mask = c->icpt_mask;
    const cpu_stop saved_stop = c->stop;
    const uint64_t saved_cycles = c->cycles;
    cpu_emul_result r;
    /* The caller's hooks decide every access; nothing is intercepted (the
     * instruction already caused its VM exit). cpu_set_hooks flushes the
     * TLB, so no fast path of the previous hooks survives either way. */
    cpu_set_hooks(c, hooks);
    c->icpt_mask = 0;
    c->stop = CPU_STOP_NONE;
    c->cur_block = NULL;
    c->pending_vector = -1;
    if (setjmp(c->abort_jmp) == 0) {
        r = emulate_body(c, info);
    } else if (c->pending_vector >= 0) {
        /* A fault: nothing retired, RIP at the instruction (a REP keeps
         * the iterations it completed), CR2 set for #PF. */
        info->vector = (uint8_t)c->pending_vector;
        info->has_error = c->pending_has_error;
        info->error = c->pending_error;
        c->pending_vector = -1;
        r = CPU_EMUL_EXCEPTION;
    } else {
        r = CPU_EMUL_ABORTED;
    }
    /* The instruction retires in the VMM, not on this CPU's counters, and
     * its time is the VMM's (the caller charges exits): a REP's further
     * iterations added cycles that are taken back. */
    c->cycles = saved_cycles;
    c->exit_block = 0;
    c->shadow_arm = 0;
    c->stop = saved_stop;
    cpu_set_hooks(c, &saved);
    c->icpt_mask = saved_mask;
    return r;
}
