/*
 * cpu_cpuid.c — the CPUID model (SDM Vol. 2 "CPUID—CPU Identification") and
 * the CPUID instruction.
 *
 * The CPU presents itself as an Intel Xeon of the Cascade Lake generation
 * (family 6, model 55H, stepping 7), a VMX-capable server part, but
 * reports only the features the interpreter implements: no x87, no SSE,
 * no XSAVE. Instruction-set bits that depend on other families' work
 * (CMOV, CMPXCHG8B/16B, MOVBE, POPCNT, LZCNT, LAHF/SAHF, SYSCALL, CLFLUSH)
 * are reported only when the decoder implements a representative encoding,
 * so the model cannot claim an instruction that would raise #UD.
 * docs/cpu-model.md explains every bit.
 */
#include "cpu/cpu_internal.h"

void cpu_register_cpuid(cpu_opmap *m);

#define MAX_BASIC_LEAF 0x1Fu
#define MAX_EXT_LEAF 0x80000008u
/* Family 6, model 55H (extended model 5, model 5), stepping 7: Cascade Lake-SP. */
#define SIGNATURE 0x00050657u
/* x2APIC ID bits of the core level in leaves 0BH/1FH: enough for CPU_MAX_CPUS. */
#define CORE_SHIFT 3u

enum {
    /* leaf 1 ECX */
    F1C_VMX = 1u << 5, F1C_CX16 = 1u << 13, F1C_X2APIC = 1u << 21, F1C_MOVBE = 1u << 22,
    F1C_POPCNT = 1u << 23, F1C_TSC_DEADLINE = 1u << 24,
    /* leaf 1 EDX */
    F1D_DE = 1u << 2, F1D_PSE = 1u << 3, F1D_TSC = 1u << 4, F1D_MSR = 1u << 5, F1D_PAE = 1u << 6, F1D_CX8 = 1u << 8,
    F1D_APIC = 1u << 9, F1D_MTRR = 1u << 12, F1D_PGE = 1u << 13, F1D_CMOV = 1u << 15,
    F1D_PAT = 1u << 16, F1D_PSE36 = 1u << 17, F1D_CLFSH = 1u << 19,
    /* leaf 80000001H ECX, EDX */
    FXC_LAHF = 1u << 0, FXC_LZCNT = 1u << 5,
    FXD_SYSCALL = 1u << 11, FXD_NX = 1u << 20, FXD_PAGE1GB = 1u << 26, FXD_RDTSCP = 1u << 27,
    FXD_LM = 1u << 29,
};

/* Does the interpreter implement this encoding (not #UD, not unimplemented)? */
static bool implements(const uint8_t *bytes, size_t len)
{
    bool ok = false;
    cpu_decode_length(CPU_MODE_LONG64, bytes, len, &ok);
    return ok;
}

#define IMPLEMENTS(...) implements((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void leaf1(const cpu_t *c, uint32_t out[4])
{
    uint32_t ecx = F1C_VMX | F1C_X2APIC | F1C_TSC_DEADLINE;
    uint32_t edx = F1D_DE | F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE | F1D_APIC | F1D_MTRR | F1D_PGE | F1D_PAT |
                   F1D_PSE36;
    if (IMPLEMENTS(0x48, 0x0F, 0xC7, 0x0E)) /* cmpxchg16b [rsi] */
        ecx |= F1C_CX16;
    if (IMPLEMENTS(0x0F, 0x38, 0xF0, 0x06)) /* movbe eax, [rsi] */
        ecx |= F1C_MOVBE;
    if (IMPLEMENTS(0xF3, 0x0F, 0xB8, 0xC1)) /* popcnt eax, ecx */
        ecx |= F1C_POPCNT;
    if (IMPLEMENTS(0x0F, 0xC7, 0x0E)) /* cmpxchg8b [rsi] */
        edx |= F1D_CX8;
    if (IMPLEMENTS(0x0F, 0x44, 0xC1)) /* cmove eax, ecx */
        edx |= F1D_CMOV;
    uint32_t ebx = (uint32_t)c->index << 24; /* initial APIC ID */
    if (IMPLEMENTS(0x0F, 0xAE, 0x3E)) {      /* clflush [rsi] */
        edx |= F1D_CLFSH;
        ebx |= 8u << 8; /* CLFLUSH line size: 8 qwords */
    }
    out[0] = SIGNATURE;
    out[1] = ebx;
    out[2] = ecx;
    out[3] = edx;
}

/* Leaves 0BH and 1FH: x2APIC topology. Every CPU of the machine is one
 * core of one package with one thread; the x2APIC ID is the CPU index. */
static void leaf_topology(const cpu_t *c, uint32_t subleaf, uint32_t out[4])
{
    unsigned ncpus = c->phys && c->phys->ncpus ? c->phys->ncpus : 1;
    out[3] = c->index;
    switch (subleaf) {
    case 0: /* SMT level */
        out[0] = 0;
        out[1] = 1;
        out[2] = (1u << 8) | 0;
        break;
    case 1: /* core level */
        out[0] = CORE_SHIFT;
        out[1] = ncpus;
        out[2] = (2u << 8) | 1;
        break;
    default: /* invalid level: type 0, ECX[7:0] echoes the subleaf */
        out[0] = 0;
        out[1] = 0;
        out[2] = subleaf & 0xFF;
        break;
    }
}

static void brand(uint32_t leaf, uint32_t out[4])
{
    static const char name[49] = "Intel(R) Xeon(R) CPU (apicv-emu interpreter)";
    memcpy(out, name + (leaf - 0x80000002u) * 16, 16);
}

void cpu_cpuid(const cpu_t *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    out[0] = out[1] = out[2] = out[3] = 0;
    /* Leaves above the maximum answer as the highest basic leaf (Intel). */
    if ((leaf > MAX_BASIC_LEAF && leaf < 0x80000000u) || leaf > MAX_EXT_LEAF)
        leaf = MAX_BASIC_LEAF;
    switch (leaf) {
    case 0:
        out[0] = MAX_BASIC_LEAF;
        memcpy(&out[1], "Genu", 4);
        memcpy(&out[3], "ineI", 4);
        memcpy(&out[2], "ntel", 4);
        break;
    case 1:
        leaf1(c, out);
        break;
    case 0x0B:
    case 0x1F:
        leaf_topology(c, subleaf, out);
        break;
    case 0x80000000u:
        out[0] = MAX_EXT_LEAF;
        break;
    case 0x80000001u:
        out[3] = FXD_NX | FXD_PAGE1GB | FXD_RDTSCP | FXD_LM;
        if (IMPLEMENTS(0x9F) && IMPLEMENTS(0x9E)) /* lahf, sahf */
            out[2] |= FXC_LAHF;
        if (IMPLEMENTS(0xF3, 0x0F, 0xBD, 0xC1)) /* lzcnt eax, ecx */
            out[2] |= FXC_LZCNT;
        if (IMPLEMENTS(0x0F, 0x05)) /* syscall */
            out[3] |= FXD_SYSCALL;
        break;
    case 0x80000002u:
    case 0x80000003u:
    case 0x80000004u:
        brand(leaf, out);
        break;
    case 0x80000007u:
        out[3] = 1u << 8; /* invariant TSC: it counts cycles in every state */
        break;
    case 0x80000008u:
        out[0] = (48u << 8) | CPU_MAXPHYADDR;
        break;
    default:
        /* 2 (no descriptors), 4 (no cache levels), 5, 6, 7 (no structured
         * extended features), 0AH (no performance counters), 0DH (no
         * XSAVE), the rest: all zero. */
        if (leaf == 2)
            out[0] = 1;
        break;
    }
}

/* CPUID (0F A2): the intercept first (VMX exits unconditionally); a hook
 * that returns DONE has written RAX, RBX, RCX and RDX itself. info.value
 * carries the leaf (bits 31:0) and subleaf (63:32). */
static void exec_cpuid(cpu_t *c, const cpu_insn *i)
{
    uint32_t leaf = (uint32_t)c->gpr[CPU_RAX], subleaf = (uint32_t)c->gpr[CPU_RCX];
    cpu_icpt info = {.kind = CPU_ICPT_CPUID, .len = i->len,
                     .value = leaf | ((uint64_t)subleaf << 32)};
    if (cpu_intercept(c, &info) == CPU_HOOK_DONE)
        return;
    uint32_t out[4];
    cpu_cpuid(c, leaf, subleaf, out);
    c->gpr[CPU_RAX] = out[0];
    c->gpr[CPU_RBX] = out[1];
    c->gpr[CPU_RCX] = out[2];
    c->gpr[CPU_RDX] = out[3];
}

static bool decode_cpuid(cpu_insn *i)
{
    i->exec = exec_cpuid;
    return true;
}

void cpu_register_cpuid(cpu_opmap *m)
{
    cpu_op(m, 1, 0xA2, decode_cpuid, 0, CPU_IMM_NONE, CPU_COST_SERIALIZE);
}
