/*
 * cpu_vmx_insn.c — the VMX instructions (SDM Vol. 3C 31.3, each one's
 * "Operation" section): the mode and privilege checks and the operand
 * reads the processor does; the VMX layer (vmx/) does the rest through
 * hooks.vmx, and non-root operation exits through the intercept hook.
 */
#include "cpu/cpu_internal.h"

/* Basic exit reasons of the VMX instructions (SDM Vol. 3C Appendix C); the
 * intercept hook gets them in cpu_icpt.subop. */
enum {
    VMX_VMCLEAR = 19, VMX_VMLAUNCH = 20, VMX_VMPTRLD = 21, VMX_VMPTRST = 22,
    VMX_VMREAD = 23, VMX_VMRESUME = 24, VMX_VMWRITE = 25, VMX_VMXOFF = 26,
    VMX_VMXON = 27, VMX_INVEPT = 50, VMX_INVVPID = 53, VMX_VMFUNC = 59,
    VMX_VMCALL_REASON = 18,
};

/* SDM Vol. 3C 31.2 "Conventions": VMsucceed clears CF, PF, AF, ZF, SF and
 * OF; VMfailInvalid sets CF; VMfailValid sets ZF (the error number is in
 * the current VMCS, written by the hook). */
static void vmx_set_result(cpu_t *c, cpu_vmx_result r)
{
    uint64_t v = r == CPU_VMX_FAIL_INVALID ? CPU_FL_CF : r == CPU_VMX_FAIL_VALID ? CPU_FL_ZF : 0;
    if (r != CPU_VMX_DEFERRED)
        cpu_flags_set(c, CPU_FL_ARITH, v);
}

/* The #UD of every VMX instruction in real mode, virtual-8086 mode and
 * compatibility mode (SDM Vol. 3C 31.3: "(CR0.PE = 0) or (RFLAGS.VM = 1) or
 * (IA32_EFER.LMA = 1 and CS.L = 0)"). */
static bool vmx_mode_ud(const cpu_t *c)
{
    return !(c->cr0 & CPU_CR0_PE) || (c->rflags & CPU_FL_VM) || c->mode == CPU_MODE_COMPAT32 ||
           c->mode == CPU_MODE_COMPAT16;
}

/* VMCALL (SDM Vol. 3C 31.3 "VMCALL"): in non-root operation it exits (the
 * intercept); outside VMX operation it is #UD; in VMX root operation it
 * goes to hooks.vmx (there is no dual-monitor treatment: VMfail). */
static void exec_vmcall(cpu_t *c, const cpu_insn *i)
{
    cpu_icpt info = {.kind = CPU_ICPT_VMCALL, .len = i->len};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    if (!c->vmx_operation || vmx_mode_ud(c) || !c->hooks.vmx)
        cpu_ud(c);
    cpu_require_cpl0(c);
    cpu_vmx_op op = {.insn = VMX_VMCALL_REASON};
    vmx_set_result(c, c->hooks.vmx(c->hooks.ctx, c, &op));
}

/* The linear address of a VMX instruction's memory operand of `size`
 * bytes. SDM Vol. 3C 31.3, "64-Bit Mode Exceptions" of each: a memory
 * address in non-canonical form is #SS(0) when the operand references SS
 * (RSP or RBP as the base, no FS/GS override: SDM Vol. 1 3.7.4.1) and
 * #GP(0) otherwise, which the CPU's translation raises. */
static uint64_t vmx_operand(cpu_t *c, const cpu_insn *i, unsigned size)
{
    uint64_t ea = cpu_ea(c, i);
    if (c->mode == CPU_MODE_LONG64 && (i->base == CPU_RSP || i->base == CPU_RBP) &&
        i->seg != CPU_FS && i->seg != CPU_GS && (!cpu_canonical(ea) || !cpu_canonical(ea + size - 1)))
        cpu_fault(c, CPU_EXC_SS, 0);
    return ea;
}

/* The other VMX instructions (SDM Vol. 3C 31.3, the "Operation" section of
 * each): #UD in the wrong mode (VMXON: also with CR4.VMXE = 0), the VM exit
 * in non-root operation (the intercept), #UD outside VMX operation (but
 * VMXON), #GP(0) at CPL > 0; VMXON outside VMX operation also #GP(0) unless
 * IA32_FEATURE_CONTROL is locked with VMXON outside SMX allowed and CR0/CR4
 * hold the bits fixed in VMX operation (SDM 23.7, 23.8). Then the memory
 * sources are read (their faults come before any effect; VMWRITE's before
 * its VMfail checks, where the SDM reads it after them), hooks.vmx does
 * the instruction, and the destination (VMREAD's only on success, as the
 * SDM orders it) and RFLAGS are written. Without
 * hooks.vmx this machine has no VMX root operation for its guest: VMXON is
 * reported as unimplemented. A VMREAD/VMWRITE that VMCS shadowing lets
 * run in non-root operation goes the same way (SDM 31.3: "ELSIF CPL > 0
 * THEN #GP(0)" comes after the exit decision there too). */
static void exec_vmx(cpu_t *c, const cpu_insn *i)
{
    unsigned insn = i->sub;
    if (vmx_mode_ud(c) || (insn == VMX_VMXON && !(c->cr4 & CPU_CR4_VMXE)))
        cpu_ud(c);
    cpu_icpt info = {.kind = CPU_ICPT_VMX_INSN, .len = i->len, .subop = i->sub,
                     .reg = i->reg, .addr = i->has_mem ? cpu_ea(c, i) : 0};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    /* In VMX non-root operation the intercept hook lets through only a
     * VMREAD/VMWRITE that reaches the shadow VMCS (SDM 25.1.3, "VMCS
     * shadowing") and says so with info.value = 1: the processor is in
     * VMX operation then, whoever the host is, and hooks.vmx (the
     * non-root one) does the access. VMFUNC outside non-root operation is
     * #UD (SDM 31.3 "VMFUNC"). */
    bool nonroot = info.value != 0;
    if ((!c->vmx_operation && !nonroot && insn != VMX_VMXON) || insn == VMX_VMFUNC)
        cpu_ud(c);
    cpu_require_cpl0(c);
    if (!c->hooks.vmx)
        cpu_exec_unimplemented(c, i);
    if (insn == VMX_VMXON && !c->vmx_operation) {
        if ((c->feature_control & 5) != 5 ||
            !cpu_vmx_cr_ok(c->cr0, c->vmx_cr0_fixed0, c->vmx_cr0_fixed1, true) ||
            !cpu_vmx_cr_ok(c->cr4, c->vmx_cr4_fixed0, c->vmx_cr4_fixed1, true))
            cpu_gp0(c);
    }
    cpu_vmx_op op = {.insn = insn,
                     .mov_ss = cpu_mov_ss_blocking(c)};
    /* The register operands (VMREAD/VMWRITE's encoding and value, INVEPT/
     * INVVPID's type) are 64 bits in 64-bit mode and 32 bits outside it,
     * whatever the operand-size attribute (SDM 31.3: "Operand size" of
     * VMREAD/VMWRITE; the pointers and descriptors are m64 and m128 in
     * every mode). Compatibility mode never gets here (#UD above). */
    unsigned size = c->mode == CPU_MODE_LONG64 ? 8 : 4;
    uint64_t reg = c->gpr[i->reg] & cpu_size_mask(size);
    switch (insn) {
    case VMX_VMXON:
    case VMX_VMCLEAR:
    case VMX_VMPTRLD:
        op.ptr = cpu_read(c, vmx_operand(c, i, 8), 8);
        break;
    case VMX_VMPTRST:
        cpu_probe_write(c, vmx_operand(c, i, 8), 8);
        break;
    case VMX_VMREAD:
        /* 0F 78 /r VMREAD r/m64, r64 (r/m32, r32): the encoding is in
         * ModRM.reg. The destination is written only on success, after
         * the VMfail checks (SDM 31.3 VMREAD "Operation"): its faults come
         * then, and VMREAD changes nothing before. */
        op.field = reg;
        break;
    case VMX_VMWRITE:
        /* 0F 79 /r VMWRITE r64, r/m64 (r32, r/m32): a 32-bit value written
         * into a wider field clears its high bits (vmx_vmwrite). */
        op.field = reg;
        op.value = i->has_mem ? cpu_read(c, vmx_operand(c, i, size), size)
                              : c->gpr[i->rm] & cpu_size_mask(size);
        break;
    case VMX_INVEPT:
    case VMX_INVVPID:
        op.field = reg;
        op.desc[0] = cpu_read(c, vmx_operand(c, i, 16), 8);
        op.desc[1] = cpu_read(c, cpu_ea(c, i) + 8, 8);
        break;
    default:
        break;
    }
    cpu_vmx_result r = c->hooks.vmx(c->hooks.ctx, c, &op);
    if (r == CPU_VMX_SUCCEED && insn == VMX_VMREAD) {
        /* A field wider than the destination gives its low bits. */
        if (!i->has_mem)
            cpu_reg_set(c, i->rm, size, op.value);
        else
            cpu_write(c, vmx_operand(c, i, size), size, op.value);
    } else if (r == CPU_VMX_SUCCEED && insn == VMX_VMPTRST) {
        cpu_write(c, cpu_ea(c, i), 8, op.value);
    }
    vmx_set_result(c, r);
}

static bool vmx_insn(cpu_insn *i, unsigned reason)
{
    i->sub = (uint8_t)reason;
    i->exec = exec_vmx;
    /* Those that change the processor's operation end the block (VM
     * entry, entering and leaving VMX operation, INIT blocking); VMREAD,
     * VMWRITE, VMPTRLD, VMPTRST, VMCLEAR and INVEPT/INVVPID change only the
     * VMCS, memory or the TLB, and the block goes on. In non-root
     * operation all of them exit, which abandons the block anyway. */
    i->ends_block = reason == VMX_VMLAUNCH || reason == VMX_VMRESUME || reason == VMX_VMXON ||
                    reason == VMX_VMXOFF || reason == VMX_VMFUNC;
    i->cost_class = CPU_COST_SYSTEM;
    return true;
}

/* 0F 78 VMREAD, 0F 79 VMWRITE (66/F2/F3 forms are AMD's SSE4a: #UD). */
static bool decode_vmread_vmwrite(cpu_insn *i)
{
    if (i->pfx & (CPU_PFX_OSIZE | CPU_PFX_REP | CPU_PFX_REPNE))
        return false;
    return vmx_insn(i, i->op == 0x78 ? VMX_VMREAD : VMX_VMWRITE);
}

/* 66 0F 38 80 INVEPT, 66 0F 38 81 INVVPID: memory operand required. */
static bool decode_invept(cpu_insn *i)
{
    if (!(i->pfx & CPU_PFX_OSIZE) || !i->has_mem)
        return false;
    return vmx_insn(i, i->op == 0x80 ? VMX_INVEPT : VMX_INVVPID);
}

/* 0F C7: /1 CMPXCHG8B/16B (cpu_transfer.c); /6 VMPTRLD, 66 /6 VMCLEAR,
 * F3 /6 VMXON, /7 VMPTRST with memory. RDRAND, RDSEED and RDPID (register
 * forms) and the XSAVE forms are #UD: CPUID reports them absent. */
static bool decode_grp9(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    if (digit == 1)
        return cpu_decode_cmpxchg8b(i);
    if ((i->pfx & CPU_PFX_LOCK) || !i->has_mem)
        return false;
    if (digit == 6) {
        if (i->pfx & CPU_PFX_REP)
            return vmx_insn(i, VMX_VMXON);
        return vmx_insn(i, (i->pfx & CPU_PFX_OSIZE) ? VMX_VMCLEAR : VMX_VMPTRLD);
    }
    if (digit == 7 && !(i->pfx & (CPU_PFX_OSIZE | CPU_PFX_REP | CPU_PFX_REPNE)))
        return vmx_insn(i, VMX_VMPTRST);
    return false;
}

/* The register forms of 0F 01 that are VMX instructions: C1 VMCALL,
 * C2 VMLAUNCH, C3 VMRESUME, C4 VMXOFF, D4 VMFUNC (cpu_system.c's group 7). */
bool cpu_decode_grp7_vmx(cpu_insn *i)
{
    switch (i->modrm) {
    case 0xC1:
        i->exec = exec_vmcall;
        i->ends_block = 1;
        return true;
    case 0xC2: return vmx_insn(i, VMX_VMLAUNCH);
    case 0xC3: return vmx_insn(i, VMX_VMRESUME);
    case 0xC4: return vmx_insn(i, VMX_VMXOFF);
    case 0xD4: return vmx_insn(i, VMX_VMFUNC);
    default: return false;
    }
}

void cpu_register_vmx_insn(cpu_opmap *m)
{
    const unsigned M = CPU_OPF_MODRM;

    cpu_op(m, 1, 0x78, decode_vmread_vmwrite, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0x79, decode_vmread_vmwrite, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 1, 0xC7, decode_grp9, M | CPU_OPF_LOCKOK, CPU_IMM_NONE, CPU_COST_ATOMIC);
    cpu_op(m, 2, 0x80, decode_invept, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
    cpu_op(m, 2, 0x81, decode_invept, M, CPU_IMM_NONE, CPU_COST_SYSTEM);
}
