/*
 * cpu_disasm.c — Capstone disassembly for people (diagnostics, the window,
 * the decoder cross-check). Never on the hot path.
 */
#include <stdio.h>
#include <capstone/capstone.h>

#include "cpu/cpu_internal.h"

/* The default operand/address size of the code (SDM Vol. 1 3.6): 16 bits in
 * real mode and 16-bit code segments, 32 in 32-bit ones, 64 in 64-bit mode. */
static cs_mode capstone_mode(unsigned mode)
{
    switch (mode) {
    case CPU_MODE_LONG64: return CS_MODE_64;
    case CPU_MODE_PROT32:
    case CPU_MODE_COMPAT32: return CS_MODE_32;
    default: return CS_MODE_16;
    }
}

unsigned cpu_disasm(unsigned mode, const uint8_t *bytes, size_t len, uint64_t rip, char *buf,
                    size_t buflen)
{
    csh h;
    cs_insn *insn;
    unsigned n = 0;
    if (buflen)
        buf[0] = 0;
    if (cs_open(CS_ARCH_X86, capstone_mode(mode), &h) != CS_ERR_OK)
        return 0;
    if (cs_disasm(h, bytes, len, rip, 1, &insn) == 1) {
        snprintf(buf, buflen, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
        n = insn->size;
        cs_free(insn, 1);
    } else {
        snprintf(buf, buflen, "(bad)");
    }
    cs_close(&h);
    return n;
}

uint64_t cpu_code_linear(const cpu_t *c, uint64_t rip)
{
    return cpu_fetch_va(c, rip);
}
