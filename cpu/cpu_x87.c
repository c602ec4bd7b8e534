/*
 * cpu_x87.c — the x87 floating-point instructions the interpreter has:
 * FNOP alone. There is no x87 register stack (CPUID.01H:EDX.FPU = 0,
 * docs/cpu-model.md); FNOP is here because it needs none and system code
 * uses it to probe CR0.TS/CR0.EM (kvm-unit-tests' vmx_no_nm_test). Every
 * other D8-DF encoding stays unimplemented (reported, then #UD).
 */
#include "cpu/cpu_internal.h"

void cpu_register_x87(cpu_opmap *m);

/* FNOP (D9 D0; SDM Vol. 2 "FNOP"): no operation, but like every x87
 * instruction #NM when CR0.EM or CR0.TS is 1 (SDM Vol. 3A 2.5, 12.x
 * "Device Not Available"). */
static void exec_fnop(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    if (c->cr0 & (CPU_CR0_EM | CPU_CR0_TS))
        cpu_fault_noerr(c, CPU_EXC_NM);
}

static bool decode_d9(cpu_insn *i)
{
    i->exec = i->modrm == 0xD0 ? exec_fnop : NULL; /* NULL: unimplemented */
    return true;
}

void cpu_register_x87(cpu_opmap *m)
{
    cpu_op(m, 0, 0xD9, decode_d9, CPU_OPF_MODRM, CPU_IMM_NONE, CPU_COST_SIMPLE);
}
