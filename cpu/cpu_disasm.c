/*
 * cpu_disasm.c — Capstone disassembly for people (diagnostics, the window,
 * the decoder cross-check). Never on the hot path.
 */
#include <stdio.h>
#include <capstone/capstone.h>

#include "cpu/cpu_internal.h"

unsigned cpu_disasm(const uint8_t *bytes, size_t len, uint64_t rip, char *buf, size_t buflen)
{
    csh h;
    cs_insn *insn;
    unsigned n = 0;
    if (buflen)
        buf[0] = 0;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
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
