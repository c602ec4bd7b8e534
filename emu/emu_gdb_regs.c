/*
 * emu_gdb_regs.c — the stub's x86-64 target description and register
 * access (docs/gdb.md "What the stub offers"; SDM Vol. 1 3.4 for the
 * registers).
 */
#include <string.h>

#include "emu/emu_gdb.h"

/* The x86-64 target description. The core feature must hold the x87
 * registers for gdb's amd64 architecture to accept it; this CPU has no x87
 * (they read as zero and cannot be written). Control registers and EFER
 * come in a feature of our own. Register numbers below follow this order. */
static const char target_xml[] =
    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
    "<target version=\"1.0\"><architecture>i386:x86-64</architecture>"
    "<feature name=\"org.gnu.gdb.i386.core\">"
    "<reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>"
    "<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>"
    "<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>"
    "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>"
    "<reg name=\"eflags\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "</feature><feature name=\"org.gnu.gdb.i386.segments\">"
    "<reg name=\"fs_base\" bitsize=\"64\" type=\"int\"/>"
    "<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>"
    "</feature><feature name=\"org.apicv-emu.control\">"
    "<reg name=\"cr0\" bitsize=\"64\" type=\"int64\" group=\"system\"/>"
    "<reg name=\"cr2\" bitsize=\"64\" type=\"int64\" group=\"system\"/>"
    "<reg name=\"cr3\" bitsize=\"64\" type=\"int64\" group=\"system\"/>"
    "<reg name=\"cr4\" bitsize=\"64\" type=\"int64\" group=\"system\"/>"
    "<reg name=\"cr8\" bitsize=\"64\" type=\"int64\" group=\"system\"/>"
    "<reg name=\"efer\" bitsize=\"64\" type=\"int64\" group=\"system\"/>"
    "</feature></target>";

enum {
    REG_RIP = 16,
    REG_EFLAGS = 17,
    REG_CS = 18, /* cs ss ds es fs gs */
    REG_ST0 = 24,
    REG_FCTRL = 32,
    REG_FS_BASE = 40,
    REG_GS_BASE = 41,
    REG_CR0 = 42, /* cr0 cr2 cr3 cr4 cr8 efer; EMU_GDB_NREGS (48) in all */
};

/* gdb's order of the general registers -> cpu_t.gpr index (SDM 3.4.1). */
static const uint8_t gpr_of[16] = {0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t seg_of[6] = {CPU_CS, CPU_SS, CPU_DS, CPU_ES, CPU_FS, CPU_GS};

unsigned emu_gdb_reg_size(unsigned r)
{
    if (r < 17 || (r >= REG_FS_BASE && r < EMU_GDB_NREGS))
        return 8;
    if (r >= REG_ST0 && r < REG_FCTRL)
        return 10;
    return 4;
}

/* Reads register r of c into out (little-endian, reg_size bytes). */
void emu_gdb_reg_get(cpu_t *c, unsigned r, uint8_t *out)
{
    uint64_t v = 0;
    static const unsigned cr_idx[6] = {0, 2, 3, 4, 8, 99};
    if (r < 16)
        v = c->gpr[gpr_of[r]];
    else if (r == REG_RIP)
        v = c->rip;
    else if (r == REG_EFLAGS)
        v = cpu_get_rflags(c);
    else if (r >= REG_CS && r < REG_ST0)
        v = c->seg[seg_of[r - REG_CS]].sel;
    else if (r == REG_FS_BASE)
        v = c->seg[CPU_FS].base;
    else if (r == REG_GS_BASE)
        v = c->seg[CPU_GS].base;
    else if (r >= REG_CR0 && r < EMU_GDB_NREGS) {
        switch (cr_idx[r - REG_CR0]) {
        case 0: v = c->cr0; break;
        case 2: v = c->cr2; break;
        case 3: v = c->cr3; break;
        case 4: v = c->cr4; break;
        case 8: v = c->cr8; break;
        default: v = c->efer; break;
        }
    }
    memset(out, 0, emu_gdb_reg_size(r));
    for (unsigned i = 0; i < 8 && i < emu_gdb_reg_size(r); i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

/* Writes register r: the general registers, RIP and RFLAGS can change;
 * any other register only to the value it has (gdb's G writes them all).
 * False when the write is refused. */
bool emu_gdb_reg_set(cpu_t *c, unsigned r, const uint8_t *in)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8 && i < emu_gdb_reg_size(r); i++)
        v |= (uint64_t)in[i] << (8 * i);
    if (r < 16) {
        c->gpr[gpr_of[r]] = v;
        return true;
    }
    if (r == REG_RIP) {
        c->rip = v;
        return true;
    }
    if (r == REG_EFLAGS) {
        cpu_set_rflags(c, (cpu_get_rflags(c) & ~0xFFFFFFFFull) | v);
        return true;
    }
    uint8_t cur[10];
    emu_gdb_reg_get(c, r, cur);
    return memcmp(cur, in, emu_gdb_reg_size(r)) == 0;
}

const char *emu_gdb_target_xml(size_t *len)
{
    *len = sizeof(target_xml) - 1;
    return target_xml;
}
