/*
 * cpu_transfer.c — data transfer instructions (SDM Vol. 1 7.3.1; each
 * instruction's page in SDM Vol. 2): MOV and its extending forms, XCHG,
 * XADD, CMPXCHG, CMPXCHG8B/16B, BSWAP, MOVBE, CRC32, the stack (PUSH,
 * POP, PUSHF, POPF, ENTER, LEAVE), LEA, XLAT, LAHF/SAHF and the
 * segment-register moves. (CBW/CWD and friends live with the ALU family.)
 *
 * Every handler performs the accesses that can fault before it changes a
 * register or a flag, so a fault leaves the instruction restartable with
 * no architectural change (SDM Vol. 3A 6.6 "Program or Task Restart").
 * Handlers are chosen per operand form at decode time; the common 32- and
 * 64-bit register and memory forms of MOV get their own.
 *
 * Only 64-bit mode executes today (cpu.h), so the stack is addressed with
 * the full RSP and no segment base (SDM Vol. 1 6.2, 3.4.2.1).
 */
#include "cpu/cpu_internal.h"

/* PAUSE (cpu_decode_pause) and selector loads (cpu_load_segment) come from
 * the system family: PAUSE is interceptable in VMX non-root operation and a
 * selector load needs descriptor checks. */

static void exec_nop(cpu_t *c, const cpu_insn *i)
{
    (void)c;
    (void)i;
}

static uint64_t sign_extend(uint64_t v, unsigned size)
{
    switch (size) {
    case 1:
        return (uint64_t)(int64_t)(int8_t)v;
    case 2:
        return (uint64_t)(int64_t)(int16_t)v;
    case 4:
        return (uint64_t)(int64_t)(int32_t)v;
    default:
        return v;
    }
}

/* ---- MOV (SDM Vol. 2 "MOV—Move") ----------------------------------------- */

static void mov_rm_r(cpu_t *c, const cpu_insn *i)
{
    cpu_rm_write(c, i, i->osize, cpu_reg_get(c, i->reg, i->osize));
}

static void mov_r_rm(cpu_t *c, const cpu_insn *i)
{
    cpu_reg_set(c, i->reg, i->osize, cpu_rm_read(c, i, i->osize));
}

static void mov_store64(cpu_t *c, const cpu_insn *i)
{
    cpu_write(c, cpu_ea(c, i), 8, c->gpr[i->reg]);
}

static void mov_store32(cpu_t *c, const cpu_insn *i)
{
    cpu_write(c, cpu_ea(c, i), 4, c->gpr[i->reg]);
}

static void mov_load64(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = cpu_read(c, cpu_ea(c, i), 8);
}

static void mov_load32(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = cpu_read(c, cpu_ea(c, i), 4);
}

/* Base + displacement, 64-bit addressing, no FS/GS: the form nearly all
 * compiled stack and structure accesses take, computed without the
 * general effective-address walk. */
static inline bool simple_ea(const cpu_insn *i)
{
    return i->base < 16 && i->index == CPU_REG_NONE && i->asize == 8 && !(i->pfx & CPU_PFX_SEG);
}

static inline uint64_t ea_bd(const cpu_t *c, const cpu_insn *i)
{
    return c->gpr[i->base] + (uint64_t)(int64_t)i->disp;
}

static void mov_store64_bd(cpu_t *c, const cpu_insn *i)
{
    cpu_write(c, ea_bd(c, i), 8, c->gpr[i->reg]);
}

static void mov_store32_bd(cpu_t *c, const cpu_insn *i)
{
    cpu_write(c, ea_bd(c, i), 4, c->gpr[i->reg]);
}

static void mov_load64_bd(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = cpu_read(c, ea_bd(c, i), 8);
}

static void mov_load32_bd(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = cpu_read(c, ea_bd(c, i), 4);
}

/* 89 /r and 8B /r between registers: the direction decides dest and src. */
static void mov_rr64_89(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->rm] = c->gpr[i->reg];
}

static void mov_rr32_89(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->rm] = (uint32_t)c->gpr[i->reg];
}

static void mov_rr64_8b(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = c->gpr[i->rm];
}

static void mov_rr32_8b(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = (uint32_t)c->gpr[i->rm];
}

static void mov_rm_imm(cpu_t *c, const cpu_insn *i)
{
    cpu_rm_write(c, i, i->osize, i->imm);
}

static void mov_r_imm(cpu_t *c, const cpu_insn *i)
{
    cpu_reg_set(c, i->reg, i->osize, i->imm);
}

static void mov_r_imm64(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = i->imm;
}

static void mov_r_imm32(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = (uint32_t)i->imm;
}

/* moffs: an absolute offset, with an FS/GS base when overridden; outside
 * 64-bit mode through the segment with its limit check (cpu_legacy_va). */
static uint64_t moffs_addr(const cpu_t *c, const cpu_insn *i)
{
    uint64_t a = i->imm;
    if (i->pfx & CPU_PFX_SEG) {
        if (unlikely(cpu_mode_legacy(i->mode)))
            return cpu_legacy_va(c, i->seg, a, i->asize, i->osize);
        a += c->seg[i->seg].base;
    }
    return a;
}

static void mov_acc_moffs(cpu_t *c, const cpu_insn *i)
{
    cpu_reg_set(c, CPU_RAX, i->osize, cpu_read(c, moffs_addr(c, i), i->osize));
}

static void mov_moffs_acc(cpu_t *c, const cpu_insn *i)
{
    cpu_write(c, moffs_addr(c, i), i->osize, cpu_reg_get(c, CPU_RAX, i->osize));
}

static bool decode_mov_store(cpu_insn *i) /* 88, 89 */
{
    if (i->has_mem && simple_ea(i) && i->osize >= 4)
        i->exec = i->osize == 8 ? mov_store64_bd : mov_store32_bd;
    else if (i->has_mem)
        i->exec = i->osize == 8 ? mov_store64 : i->osize == 4 ? mov_store32 : mov_rm_r;
    else
        i->exec = i->osize == 8 ? mov_rr64_89 : i->osize == 4 ? mov_rr32_89 : mov_rm_r;
    return true;
}

static bool decode_mov_load(cpu_insn *i) /* 8A, 8B */
{
    if (i->has_mem && simple_ea(i) && i->osize >= 4)
        i->exec = i->osize == 8 ? mov_load64_bd : mov_load32_bd;
    else if (i->has_mem)
        i->exec = i->osize == 8 ? mov_load64 : i->osize == 4 ? mov_load32 : mov_r_rm;
    else
        i->exec = i->osize == 8 ? mov_rr64_8b : i->osize == 4 ? mov_rr32_8b : mov_r_rm;
    return true;
}

/* C6 /0, C7 /0; the other digits (XABORT, XBEGIN) need RTM, which the CPU
 * model does not enumerate: #UD. */
static bool decode_mov_rm_imm(cpu_insn *i)
{
    if (((i->modrm >> 3) & 7) != 0)
        return false;
    i->exec = mov_rm_imm;
    return true;
}

static bool decode_mov_r_imm(cpu_insn *i) /* B0..BF */
{
    i->exec = i->osize == 8 ? mov_r_imm64 : i->osize == 4 ? mov_r_imm32 : mov_r_imm;
    return true;
}

static bool decode_mov_moffs(cpu_insn *i) /* A0..A3 */
{
    i->exec = i->op < 0xA2 ? mov_acc_moffs : mov_moffs_acc;
    return true;
}

/* ---- MOVZX, MOVSX, MOVSXD (i->sub = source size) --------------------------- */

static void movzx(cpu_t *c, const cpu_insn *i)
{
    cpu_reg_set(c, i->reg, i->osize, cpu_rm_read(c, i, i->sub));
}

static void movsx(cpu_t *c, const cpu_insn *i)
{
    cpu_reg_set(c, i->reg, i->osize, sign_extend(cpu_rm_read(c, i, i->sub), i->sub));
}

static bool decode_movx(cpu_insn *i) /* 0F B6, B7, BE, BF */
{
    i->sub = (i->op & 1) ? 2 : 1;
    i->exec = (i->op & 8) ? movsx : movzx;
    return true;
}

/* 63 /r: MOVSXD r64, r/m32 with REX.W; otherwise a plain move at the
 * operand size (SDM Vol. 2 "MOVSX/MOVSXD", 64-bit mode without REX.W). */
static bool decode_movsxd(cpu_insn *i)
{
    /* Outside 64-bit mode 63 is ARPL (SDM Vol. 2 "ARPL"), not implemented:
     * reported, never run as MOVSXD. */
    if (cpu_mode_legacy(i->mode)) {
        i->exec = cpu_exec_unimplemented;
        return true;
    }
    i->sub = i->osize == 8 ? 4 : i->osize;
    i->exec = movsx;
    return true;
}

/* ---- XCHG (SDM Vol. 2 "XCHG"; with memory always locked) ------------------------ */

static void xchg_rm_r(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t r = cpu_reg_get(c, i->reg, s), m;
    if (i->has_mem) {
        uint64_t a = cpu_ea(c, i);
        m = cpu_read(c, a, s);
        cpu_write(c, a, s, r);
    } else {
        m = cpu_reg_get(c, i->rm, s);
        cpu_reg_set(c, i->rm, s, r);
    }
    cpu_reg_set(c, i->reg, s, m);
}

static void xchg_acc_r(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t a = cpu_reg_get(c, CPU_RAX, s), r = cpu_reg_get(c, i->reg, s);
    cpu_reg_set(c, CPU_RAX, s, r);
    cpu_reg_set(c, i->reg, s, a);
}

static bool decode_xchg(cpu_insn *i) /* 86, 87 */
{
    i->exec = xchg_rm_r;
    if (i->has_mem)
        i->cost_class = CPU_COST_ATOMIC;
    return true;
}

/* 90+r: XCHG rAX, r; 90 itself (even with REX.W) is NOP and leaves the
 * upper half of RAX alone, F3 90 is PAUSE (SDM Vol. 2 "NOP", "PAUSE"). */
static bool decode_xchg_acc(cpu_insn *i)
{
    if (i->reg == CPU_RAX) {
        if (i->pfx & CPU_PFX_REP)
            return cpu_decode_pause(i);
        i->exec = exec_nop;
        return true;
    }
    i->exec = xchg_acc_r;
    return true;
}

/* 0F AE register forms /5 LFENCE, /6 MFENCE, /7 SFENCE (SDM Vol. 2
 * "LFENCE", "MFENCE", "SFENCE"). The interpreter retires one instruction at
 * a time and every store is visible to every CPU at once (docs/machine.md,
 * "The scheduler"), so each fence's ordering already holds: a no-op. They
 * belong to SSE/SSE2, which CPUID does not report; they are executed anyway
 * because every x86-64 processor has them and 64-bit code (kvm-unit-tests'
 * x2APIC ICR write) uses MFENCE without asking (docs/cpu-model.md). Every
 * other form of 0F AE (FXSAVE, LDMXCSR, XSAVE, CLFLUSH, RDFSBASE, ...) is
 * left without a handler: reported as unimplemented, as before. */
static bool decode_fence(cpu_insn *i)
{
    unsigned digit = (i->modrm >> 3) & 7;
    if (!i->has_mem && digit >= 5 && !(i->pfx & (CPU_PFX_REP | CPU_PFX_REPNE | CPU_PFX_OSIZE)))
        i->exec = exec_nop;
    return true;
}

/* ---- BSWAP, MOVBE, CRC32 -------------------------------------------------------- */

static uint64_t bswap_sized(uint64_t v, unsigned size)
{
    switch (size) {
    case 2:
        return __builtin_bswap16((uint16_t)v);
    case 4:
        return __builtin_bswap32((uint32_t)v);
    default:
        return __builtin_bswap64(v);
    }
}

static void bswap64(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = __builtin_bswap64(c->gpr[i->reg]);
}

static void bswap32(cpu_t *c, const cpu_insn *i)
{
    c->gpr[i->reg] = __builtin_bswap32((uint32_t)c->gpr[i->reg]);
}

/* BSWAP r16 is undefined (SDM Vol. 2 "BSWAP"); Intel processors clear the
 * 16-bit register, and so do we. */
static void bswap16(cpu_t *c, const cpu_insn *i)
{
    cpu_reg_set(c, i->reg, 2, 0);
}

static bool decode_bswap(cpu_insn *i) /* 0F C8..CF */
{
    i->exec = i->osize == 8 ? bswap64 : i->osize == 4 ? bswap32 : bswap16;
    return true;
}

static void movbe_load(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = cpu_read(c, cpu_ea(c, i), i->osize);
    cpu_reg_set(c, i->reg, i->osize, bswap_sized(v, i->osize));
}

static void movbe_store(cpu_t *c, const cpu_insn *i)
{
    cpu_write(c, cpu_ea(c, i), i->osize, bswap_sized(cpu_reg_get(c, i->reg, i->osize), i->osize));
}

/* CRC32 accumulates with the CRC-32C polynomial 11EDC6F41H, bit-reflected,
 * with no pre- or post-inversion (SDM Vol. 2 "CRC32"). */
static uint32_t crc32c_update(uint32_t crc, uint64_t data, unsigned bytes)
{
    for (unsigned k = 0; k < bytes; k++) {
        crc ^= (uint8_t)(data >> (8 * k));
        for (unsigned b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return crc;
}

static void crc32(cpu_t *c, const cpu_insn *i)
{
    uint64_t data = cpu_rm_read(c, i, i->sub);
    c->gpr[i->reg] = crc32c_update((uint32_t)c->gpr[i->reg], data, i->sub);
}

/* 0F 38 F0/F1: MOVBE, or CRC32 with F2 (SDM Vol. 2 "MOVBE", "CRC32"). */
static bool decode_movbe_crc32(cpu_insn *i)
{
    if (i->pfx & CPU_PFX_REPNE) {
        i->sub = i->op == 0xF0 ? 1 : i->osize;
        i->exec = crc32;
        i->cost_class = CPU_COST_SHIFT;
        return true;
    }
    if (!i->has_mem || (i->pfx & CPU_PFX_REP))
        return false;
    i->exec = i->op == 0xF0 ? movbe_load : movbe_store;
    return true;
}

/* ---- XADD, CMPXCHG (SDM Vol. 2) --------------------------------------------------- */

static void xadd(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t src = cpu_reg_get(c, i->reg, s), dst, sum;
    if (i->has_mem) {
        uint64_t a = cpu_ea(c, i);
        dst = cpu_read(c, a, s);
        sum = dst + src;
        cpu_write(c, a, s, sum);
        cpu_reg_set(c, i->reg, s, dst);
    } else {
        dst = cpu_reg_get(c, i->rm, s);
        sum = dst + src;
        cpu_reg_set(c, i->reg, s, dst);
        cpu_reg_set(c, i->rm, s, sum); /* XADD r, r with one register: the sum wins */
    }
    cpu_lf_set(c, CPU_LF_ADD, s, sum, dst, src);
}

static bool decode_xadd(cpu_insn *i) /* 0F C0, C1 */
{
    i->exec = xadd;
    if (i->pfx & CPU_PFX_LOCK)
        i->cost_class = CPU_COST_ATOMIC;
    return true;
}

/* The accumulator is compared with the destination; a memory destination
 * is written either way. A 32-bit register destination is written only on
 * success and EAX only on failure, so only those zero-extend. */
static void cmpxchg(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t acc = cpu_reg_get(c, CPU_RAX, s), src = cpu_reg_get(c, i->reg, s), dst;
    bool eq;
    if (i->has_mem) {
        uint64_t a = cpu_ea(c, i);
        dst = cpu_read(c, a, s);
        eq = dst == acc;
        cpu_write(c, a, s, eq ? src : dst);
    } else {
        dst = cpu_reg_get(c, i->rm, s);
        eq = dst == acc;
        if (eq)
            cpu_reg_set(c, i->rm, s, src);
    }
    cpu_lf_set(c, CPU_LF_SUB, s, acc - dst, acc, dst);
    if (!eq)
        cpu_reg_set(c, CPU_RAX, s, dst);
}

static bool decode_cmpxchg(cpu_insn *i) /* 0F B0, B1 */
{
    i->exec = cmpxchg;
    i->cost_class = CPU_COST_ATOMIC;
    return true;
}

/* EDX:EAX (RDX:RAX) against m64 (m128); only ZF changes. */
static void cmpxchg8b(cpu_t *c, const cpu_insn *i)
{
    uint64_t a = cpu_ea(c, i);
    uint64_t m = cpu_read(c, a, 8);
    uint64_t cmp = (uint32_t)c->gpr[CPU_RAX] | c->gpr[CPU_RDX] << 32;
    bool eq = m == cmp;
    cpu_write(c, a, 8, eq ? ((uint32_t)c->gpr[CPU_RBX] | c->gpr[CPU_RCX] << 32) : m);
    if (!eq) {
        c->gpr[CPU_RAX] = (uint32_t)m;
        c->gpr[CPU_RDX] = m >> 32;
    }
    cpu_flags_set(c, CPU_FL_ZF, eq ? CPU_FL_ZF : 0);
}

static void cmpxchg16b(cpu_t *c, const cpu_insn *i)
{
    uint64_t a = cpu_ea(c, i);
    if (a & 15)
        cpu_gp0(c);
    uint64_t lo = cpu_read(c, a, 8), hi = cpu_read(c, a + 8, 8);
    bool eq = lo == c->gpr[CPU_RAX] && hi == c->gpr[CPU_RDX];
    cpu_probe_write(c, a, 16);
    cpu_write(c, a, 8, eq ? c->gpr[CPU_RBX] : lo);
    cpu_write(c, a + 8, 8, eq ? c->gpr[CPU_RCX] : hi);
    if (!eq) {
        c->gpr[CPU_RAX] = lo;
        c->gpr[CPU_RDX] = hi;
    }
    cpu_flags_set(c, CPU_FL_ZF, eq ? CPU_FL_ZF : 0);
}

/* 0F C7: /1 with memory is CMPXCHG8B (CMPXCHG16B with REX.W); a register
 * operand is #UD. The other digits (VMPTRLD, VMPTRST, VMCLEAR, VMXON,
 * RDRAND, RDSEED) belong to the system family and are reported as
 * unimplemented until it dispatches them. */
bool cpu_decode_cmpxchg8b(cpu_insn *i)
{
    if (((i->modrm >> 3) & 7) != 1) {
        i->exec = cpu_exec_unimplemented;
        i->ends_block = 1;
        return true;
    }
    if (!i->has_mem)
        return false;
    i->exec = (i->pfx & CPU_PFX_REXW) ? cmpxchg16b : cmpxchg8b;
    i->cost_class = CPU_COST_ATOMIC;
    return true;
}

/* ---- PUSH, POP (SDM Vol. 2 "PUSH", "POP") ---------------------------------------- */

/* PUSH RSP pushes the value RSP had before the instruction. */
static void push_r(cpu_t *c, const cpu_insn *i)
{
    cpu_push(c, i->osize, cpu_reg_get(c, i->reg, i->osize));
}

static void push_r64(cpu_t *c, const cpu_insn *i)
{
    cpu_push(c, 8, c->gpr[i->reg]);
}

static void push_imm(cpu_t *c, const cpu_insn *i)
{
    cpu_push(c, i->osize, i->imm);
}

/* POP RSP: the popped value replaces the incremented RSP. */
static void pop_r(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = cpu_pop(c, i->osize);
    cpu_reg_set(c, i->reg, i->osize, v);
}

static void pop_r64(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = cpu_pop(c, 8);
    c->gpr[i->reg] = v;
}

/* 8F /0 with memory: an RSP-based address is computed after the increment,
 * but a faulting store must leave RSP as it was. */
static void pop_rm(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize;
    uint64_t sp = c->gpr[CPU_RSP];
    uint64_t v = cpu_read(c, sp, s);
    if (!i->has_mem) {
        c->gpr[CPU_RSP] = sp + s;
        cpu_reg_set(c, i->rm, s, v);
        return;
    }
    c->gpr[CPU_RSP] = sp + s;
    uint64_t a = cpu_ea(c, i);
    c->gpr[CPU_RSP] = sp;
    cpu_write(c, a, s, v);
    c->gpr[CPU_RSP] = sp + s;
}

static bool decode_push_r(cpu_insn *i) /* 50..57 */
{
    i->exec = i->osize == 8 ? push_r64 : push_r;
    return true;
}

static bool decode_pop_r(cpu_insn *i) /* 58..5F */
{
    i->exec = i->osize == 8 ? pop_r64 : pop_r;
    return true;
}

static bool decode_push_imm(cpu_insn *i) /* 68, 6A */
{
    i->exec = push_imm;
    return true;
}

static bool decode_pop_rm(cpu_insn *i) /* 8F /0; the other digits are XOP on AMD: #UD */
{
    if (((i->modrm >> 3) & 7) != 0)
        return false;
    i->exec = pop_rm;
    return true;
}

/* ---- PUSHF, POPF, LAHF, SAHF ---------------------------------------------------- */

/* PUSHF stores RFLAGS with VM and RF cleared (SDM Vol. 2 "PUSHF"). */
static void pushf(cpu_t *c, const cpu_insn *i)
{
    uint64_t f = cpu_get_rflags(c) & ~(uint64_t)(CPU_FL_RF | CPU_FL_VM);
    cpu_push(c, i->osize, f);
}

/*
 * POPF in protected and 64-bit mode (SDM Vol. 2 "POPF/POPFD/POPFQ", table
 * "Effect of POPF on the EFLAGS register"): IOPL changes only at CPL 0, IF
 * only when CPL <= IOPL, AC and ID only with a 32/64-bit operand; VM, VIF,
 * VIP and the reserved bits never change, RF ends up clear. No exception
 * for lacking privilege: those bits just stay.
 */
static void popf(cpu_t *c, const cpu_insn *i)
{
    uint64_t v = cpu_read(c, c->gpr[CPU_RSP], i->osize);
    uint64_t old = cpu_get_rflags(c);
    uint64_t mask = CPU_FL_ARITH | CPU_FL_TF | CPU_FL_DF | CPU_FL_NT;
    if (i->osize != 2)
        mask |= CPU_FL_AC | CPU_FL_ID;
    if (c->cpl == 0)
        mask |= CPU_FL_IOPL;
    if (c->cpl <= ((old & CPU_FL_IOPL) >> 12))
        mask |= CPU_FL_IF;
    uint64_t nf = ((old & ~mask) | (v & mask)) & ~(uint64_t)CPU_FL_RF;
    c->gpr[CPU_RSP] += i->osize;
    cpu_set_rflags(c, nf);
    /* A newly set IF may make a pending interrupt deliverable: have the
     * run loop look at the next boundary (POPF sets no shadow). */
    if ((nf & ~old) & CPU_FL_IF)
        cpu_signal(c, CPU_EVT_INTR);
    cpu_end_block(c);
}

/* LAHF: AH = SF:ZF:0:AF:0:PF:1:CF (SDM Vol. 2 "LAHF"). */
static void lahf(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    uint64_t f = cpu_get_rflags(c);
    cpu_reg_set(c, CPU_REG_AH, 1, (f & (CPU_FL_SF | CPU_FL_ZF | CPU_FL_AF | CPU_FL_PF | CPU_FL_CF)) | 2);
}

static void sahf(cpu_t *c, const cpu_insn *i)
{
    (void)i;
    cpu_flags_set(c, CPU_FL_SF | CPU_FL_ZF | CPU_FL_AF | CPU_FL_PF | CPU_FL_CF,
                  cpu_reg_get(c, CPU_REG_AH, 1));
}

static bool decode_flags_xfer(cpu_insn *i) /* 9C, 9D, 9E, 9F */
{
    static const cpu_exec_fn fns[4] = {pushf, popf, sahf, lahf};
    i->exec = fns[i->op - 0x9C];
    return true;
}

/* ---- LEA, ENTER, LEAVE ----------------------------------------------------------- */

/* LEA: the offset alone, no segment base, truncated to the address size
 * and then to the operand size (SDM Vol. 2 "LEA"). */
static void lea(cpu_t *c, const cpu_insn *i)
{
    uint64_t a = cpu_ea_offset(c, i);
    if (i->asize == 2)
        a = (uint16_t)a;
    cpu_reg_set(c, i->reg, i->osize, a);
}

static bool decode_lea(cpu_insn *i) /* 8D; a register operand is #UD */
{
    if (!i->has_mem)
        return false;
    i->has_mem = 0; /* no memory access: costs like a register op */
    i->exec = lea;
    return true;
}

/*
 * ENTER imm16, imm8 (SDM Vol. 2 "ENTER", 64-bit stack): push RBP, copy
 * level-1 frame pointers from the old frame, push the new frame pointer
 * when level > 0, then RBP = frame, RSP -= imm16. All memory accesses come
 * before the register updates, so a fault changes no register.
 */
static void enter(cpu_t *c, const cpu_insn *i)
{
    unsigned s = i->osize, level = i->sub & 31;
    uint64_t sp = c->gpr[CPU_RSP] - s, bp = c->gpr[CPU_RBP];
    cpu_write(c, sp, s, bp);
    uint64_t frame = sp;
    if (level > 0) {
        for (unsigned k = 1; k < level; k++) {
            bp -= s;
            uint64_t v = cpu_read(c, bp, s);
            sp -= s;
            cpu_write(c, sp, s, v);
        }
        sp -= s;
        cpu_write(c, sp, s, frame);
    }
    cpu_reg_set(c, CPU_RBP, s, frame);
    c->gpr[CPU_RSP] = sp - i->imm;
}

/* LEAVE: RSP = RBP, then pop RBP (SDM Vol. 2 "LEAVE"). */
static void leave(cpu_t *c, const cpu_insn *i)
{
    uint64_t bp = c->gpr[CPU_RBP];
    uint64_t v = cpu_read(c, bp, i->osize);
    c->gpr[CPU_RSP] = bp + i->osize;
    cpu_reg_set(c, CPU_RBP, i->osize, v);
}

static bool decode_enter_leave(cpu_insn *i) /* C8, C9 */
{
    i->exec = i->op == 0xC8 ? enter : leave;
    return true;
}

/* XLAT: AL = [RBX + AL] (EBX + AL, BX + AL with a 32- or 16-bit address
 * size), an FS/GS override applying; outside 64-bit mode DS or the
 * override, wrapping at 4 GBytes (SDM Vol. 2 "XLAT/XLATB"). */
static void xlat(cpu_t *c, const cpu_insn *i)
{
    uint64_t a = c->gpr[CPU_RBX] + (uint8_t)c->gpr[CPU_RAX];
    if (i->asize == 4)
        a = (uint32_t)a;
    else if (i->asize == 2)
        a = (uint16_t)a;
    if (i->pfx & CPU_PFX_SEG) {
        if (cpu_mode_legacy(i->mode))
            a = cpu_legacy_va(c, i->seg, a, i->asize, 1); /* with the limit check */
        else
            a += c->seg[i->seg].base;
    }
    cpu_reg_set(c, CPU_RAX, 1, cpu_read(c, a, 1));
}

static bool decode_xlat(cpu_insn *i) /* D7 */
{
    i->exec = xlat;
    return true;
}

/* ---- segment-register moves (SDM Vol. 2 "MOV—Move", 8C and 8E) ------------------ */

/* 8C: the selector; a register destination gets it zero-extended at 32 and
 * 64 bits, memory always takes 16 bits. */
static void mov_rm_sreg(cpu_t *c, const cpu_insn *i)
{
    uint16_t sel = c->seg[i->sub].sel;
    if (i->has_mem)
        cpu_write(c, cpu_ea(c, i), 2, sel);
    else
        cpu_reg_set(c, i->rm, i->osize, sel);
}

/* 8E: the system family loads the descriptor. MOV SS blocks interrupts
 * and debug traps for one instruction (SDM Vol. 3A 6.8.3). */
static void mov_sreg_rm(cpu_t *c, const cpu_insn *i)
{
    uint16_t sel = (uint16_t)cpu_rm_read(c, i, 2);
    cpu_load_segment(c, i->sub, sel);
    if (i->sub == CPU_SS)
        cpu_begin_shadow(c, CPU_SHADOW_MOV_SS);
    cpu_end_block(c);
}

static bool decode_mov_sreg(cpu_insn *i) /* 8C, 8E; Sreg 6 and 7 are #UD, so is MOV CS */
{
    unsigned sreg = (i->modrm >> 3) & 7;
    if (sreg >= CPU_NSEG || (i->op == 0x8E && sreg == CPU_CS))
        return false;
    i->sub = (uint8_t)sreg;
    if (i->op == 0x8C) {
        i->exec = mov_rm_sreg;
    } else {
        i->exec = mov_sreg_rm;
        i->cost_class = CPU_COST_SYSTEM;
    }
    return true;
}

/* ---- registration ------------------------------------------------------------------- */

void cpu_register_transfer(cpu_opmap *m)
{
    const unsigned M = CPU_OPF_MODRM, B = CPU_OPF_BYTE, R = CPU_OPF_REGOP, D64 = CPU_OPF_DEF64;
    const unsigned LK = CPU_OPF_LOCKOK;

    cpu_op(m, 0, 0x88, decode_mov_store, M | B, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x89, decode_mov_store, M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x8A, decode_mov_load, M | B, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x8B, decode_mov_load, M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xC6, decode_mov_rm_imm, M | B, CPU_IMM_B, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xC7, decode_mov_rm_imm, M, CPU_IMM_Z, CPU_COST_SIMPLE);
    for (unsigned r = 0; r < 8; r++) {
        cpu_op(m, 0, 0xB0 + r, decode_mov_r_imm, R | B, CPU_IMM_B, CPU_COST_SIMPLE);
        cpu_op(m, 0, 0xB8 + r, decode_mov_r_imm, R, CPU_IMM_V, CPU_COST_SIMPLE);
        cpu_op(m, 0, 0x90 + r, decode_xchg_acc, R, CPU_IMM_NONE, CPU_COST_SIMPLE);
        cpu_op(m, 0, 0x50 + r, decode_push_r, R | D64, CPU_IMM_NONE, CPU_COST_STACK);
        cpu_op(m, 0, 0x58 + r, decode_pop_r, R | D64, CPU_IMM_NONE, CPU_COST_STACK);
        cpu_op(m, 1, 0xC8 + r, decode_bswap, R, CPU_IMM_NONE, CPU_COST_SIMPLE);
    }
    cpu_op(m, 0, 0xA0, decode_mov_moffs, B, CPU_IMM_MOFFS, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xA1, decode_mov_moffs, 0, CPU_IMM_MOFFS, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xA2, decode_mov_moffs, B, CPU_IMM_MOFFS, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xA3, decode_mov_moffs, 0, CPU_IMM_MOFFS, CPU_COST_SIMPLE);

    cpu_op(m, 1, 0xB6, decode_movx, M | CPU_OPF_RM8, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xB7, decode_movx, M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xBE, decode_movx, M | CPU_OPF_RM8, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xBF, decode_movx, M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x63, decode_movsxd, M, CPU_IMM_NONE, CPU_COST_SIMPLE);

    cpu_op(m, 0, 0x86, decode_xchg, M | B | LK, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x87, decode_xchg, M | LK, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xC0, decode_xadd, M | B | LK, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xC1, decode_xadd, M | LK, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 1, 0xB0, decode_cmpxchg, M | B | LK, CPU_IMM_NONE, CPU_COST_ATOMIC);
    cpu_op(m, 1, 0xB1, decode_cmpxchg, M | LK, CPU_IMM_NONE, CPU_COST_ATOMIC);
    cpu_op(m, 1, 0xC7, cpu_decode_cmpxchg8b, M | LK, CPU_IMM_NONE, CPU_COST_ATOMIC);
    cpu_op(m, 1, 0xAE, decode_fence, M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 2, 0xF0, decode_movbe_crc32, M | CPU_OPF_RM8, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 2, 0xF1, decode_movbe_crc32, M, CPU_IMM_NONE, CPU_COST_SIMPLE);

    cpu_op(m, 0, 0x68, decode_push_imm, D64, CPU_IMM_Z, CPU_COST_STACK);
    cpu_op(m, 0, 0x6A, decode_push_imm, D64, CPU_IMM_B, CPU_COST_STACK);
    cpu_op(m, 0, 0x8F, decode_pop_rm, M | D64, CPU_IMM_NONE, CPU_COST_STACK);
    cpu_op(m, 0, 0x9C, decode_flags_xfer, D64, CPU_IMM_NONE, CPU_COST_STACK);
    cpu_op(m, 0, 0x9D, decode_flags_xfer, D64 | CPU_OPF_ENDS, CPU_IMM_NONE, CPU_COST_STACK);
    cpu_op(m, 0, 0x9E, decode_flags_xfer, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x9F, decode_flags_xfer, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x8D, decode_lea, M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0xC8, decode_enter_leave, D64, CPU_IMM_WB, CPU_COST_STACK);
    cpu_op(m, 0, 0xC9, decode_enter_leave, D64, CPU_IMM_NONE, CPU_COST_STACK);
    cpu_op(m, 0, 0xD7, decode_xlat, 0, CPU_IMM_NONE, CPU_COST_SIMPLE);
    /* PUSH/POP ES, CS, SS, DS and PUSHA/POPA do not exist in 64-bit mode
     * (SDM Vol. 2 appendix A, "i64"): #UD, not "unimplemented". */
    static const uint8_t invalid64[] = {0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x60, 0x61};
    for (unsigned k = 0; k < sizeof invalid64; k++)
        cpu_op(m, 0, invalid64[k], NULL, CPU_OPF_INVALID64, CPU_IMM_NONE, CPU_COST_STACK);
    cpu_op(m, 0, 0x8C, decode_mov_sreg, M, CPU_IMM_NONE, CPU_COST_SIMPLE);
    cpu_op(m, 0, 0x8E, decode_mov_sreg, M | CPU_OPF_ENDS, CPU_IMM_NONE, CPU_COST_SIMPLE);
}
