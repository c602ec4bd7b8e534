/*
 * cpu_internal.h — what the files of cpu/ share among themselves: the
 * decoded-instruction record, the opcode tables, memory access with the TLB
 * fast path, lazy flags and faults. Nothing outside cpu/ includes this.
 */
#ifndef APICV_CPU_INTERNAL_H
#define APICV_CPU_INTERNAL_H

#include <string.h>

#include "cpu/cpu.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- the decoded instruction ------------------------------------------ */

/* Modes other than 64-bit mode (real, 16/32-bit protected, compatibility). */
static inline bool cpu_mode_legacy(unsigned mode)
{
    return mode != CPU_MODE_LONG64;
}

typedef struct cpu_insn cpu_insn;
typedef void (*cpu_exec_fn)(cpu_t *c, const cpu_insn *i);

enum {
    CPU_REG_NONE = 0xFF, /* no base / no index */
    CPU_REG_RIP = 0xFE,  /* RIP-relative base */
    CPU_REG_AH = 16,     /* byte registers AH, CH, DH, BH are 16..19 (no REX) */
};

/* cpu_insn.pfx bits */
enum {
    CPU_PFX_LOCK = 1u << 0,
    CPU_PFX_REP = 1u << 1,   /* F3 */
    CPU_PFX_REPNE = 1u << 2, /* F2 */
    CPU_PFX_OSIZE = 1u << 3, /* 66 */
    CPU_PFX_ASIZE = 1u << 4, /* 67 */
    CPU_PFX_REX = 1u << 5,   /* any REX prefix */
    CPU_PFX_SEG = 1u << 6,   /* a segment override with a base (FS/GS) applies */
    CPU_PFX_REXW = 1u << 7,
};

/*
 * One decoded instruction. The handler (exec) is chosen at decode time for
 * the operand form and size, so it does not re-inspect the encoding.
 */
struct cpu_insn {
    cpu_exec_fn exec;
    int32_t disp;     /* memory displacement; rel8/rel32 for relative branches */
    uint8_t len;      /* encoded length */
    uint8_t osize;    /* operand size in bytes: 1, 2, 4, 8 */
    uint8_t asize;    /* address size in bytes: 2, 4, 8 */
    uint8_t reg;      /* ModRM.reg (+REX.R) or the register in the opcode (+REX.B) */
    uint8_t rm;       /* ModRM.rm (+REX.B) when mod = 3; outside 64-bit mode with a memory
                       * operand, the bytes the access covers (its limit check, cpu_legacy_fixup) */
    uint8_t base;     /* memory base register, CPU_REG_NONE or CPU_REG_RIP */
    uint8_t index;    /* memory index register or CPU_REG_NONE */
    uint8_t scale;    /* index shift 0..3 */
    uint8_t seg;      /* segment of the memory operand (cpu_segreg) */
    uint8_t pfx;      /* CPU_PFX_* */
    uint8_t map;      /* 0 one-byte, 1 0F, 2 0F38, 3 0F3A */
    uint8_t op;       /* the opcode byte within its map */
    uint8_t modrm;    /* the raw ModRM byte (0 when none) */
    uint8_t sub;      /* handler-specific: condition code, ALU op, group digit, ENTER level */
    uint8_t has_mem;  /* the ModRM operand is memory */
    uint8_t ends_block;
    uint8_t cost_class; /* cpu_cost_class: from the table, a decode function may change it */
    uint8_t mode;     /* cpu_mode decoded in (fills what was padding: the record stays 40 bytes) */
    uint16_t cost;    /* cycles, from the cost model, memory operand included */
    uint64_t imm;     /* immediate, sign-extended to 64 bits where the SDM says so */
};

/* ---- opcode tables ------------------------------------------------------ */

/* Immediate kinds of an opcode (SDM Vol. 2 appendix A notation). */
enum cpu_imm_kind {
    CPU_IMM_NONE,
    CPU_IMM_B,     /* Ib, sign-extended into imm */
    CPU_IMM_UB,    /* Ib, zero-extended (port numbers, shift counts, INT n) */
    CPU_IMM_W,     /* Iw, zero-extended (RET imm16) */
    CPU_IMM_Z,     /* Iz: 16 bits with a 16-bit operand size, else 32 sign-extended */
    CPU_IMM_V,     /* Iv: 16/32/64 by operand size (MOV r, imm64) */
    CPU_IMM_WB,    /* ENTER: Iw into imm, Ib into sub */
    CPU_IMM_MOFFS, /* moffs: address-size bytes, into imm */
    CPU_IMM_GRP3,  /* F6/F7: Ib/Iz only for /0 and /1 (TEST) */
    CPU_IMM_PTR,   /* Ap: far pointer, offset of operand size then a 16-bit selector, into imm */
};

/* cpu_opdesc.flags */
enum {
    CPU_OPF_MODRM = 1u << 0,   /* has a ModRM byte */
    CPU_OPF_BYTE = 1u << 1,    /* operand size is 8 bits; reg and rm are byte registers */
    CPU_OPF_RM8 = 1u << 2,     /* only rm is a byte register (MOVZX/MOVSX r, r/m8) */
    CPU_OPF_DEF64 = 1u << 3,   /* 64-bit default operand size in 64-bit mode (PUSH, POP, ...) */
    CPU_OPF_FORCE64 = 1u << 4, /* always 64-bit in 64-bit mode (near branches, Intel ignores 66) */
    CPU_OPF_BRANCH = 1u << 5,  /* ends its block */
    CPU_OPF_ENDS = 1u << 5,    /* alias: ends its block (state change the run loop must see) */
    CPU_OPF_INVALID64 = 1u << 6, /* #UD in 64-bit mode (architecturally invalid, not "unimplemented") */
    CPU_OPF_LOCKOK = 1u << 7,  /* LOCK allowed (with a memory destination) */
    CPU_OPF_REGOP = 1u << 8,   /* register in the low 3 opcode bits (+REX.B) into reg */
    CPU_OPF_UD = 1u << 9,      /* architecturally #UD (UD2, UD0, UD1): not reported as unimplemented */
    CPU_OPF_MODREG = 1u << 10, /* ModRM whose mod field is ignored: always a register (MOV CR/DR) */
    CPU_OPF_ONLY64 = 1u << 11, /* #UD outside 64-bit mode (SYSCALL, SYSRET: SDM Vol. 2 "SYSCALL") */
};

/*
 * Finishes decoding: chooses i->exec (and may adjust fields). Returns false
 * when the form is invalid (#UD); d gives the prefixes seen.
 */
typedef bool (*cpu_decode_fn)(cpu_insn *i);

typedef struct cpu_opdesc {
    cpu_decode_fn decode;
    uint16_t flags;
    uint8_t imm;        /* cpu_imm_kind */
    uint8_t cost_class; /* cpu_cost_class */
} cpu_opdesc;

/* The four opcode maps. Built once by cpu_opmap_build() from each family's
 * registration function; immutable afterwards (no machine state). */
typedef struct cpu_opmap {
    cpu_opdesc map[4][256];
} cpu_opmap;

void cpu_op(cpu_opmap *m, unsigned map, unsigned op, cpu_decode_fn fn, unsigned flags,
            unsigned imm, unsigned cost_class);

/* Registration functions of the instruction families (one file each). */
void cpu_register_alu(cpu_opmap *m);      /* cpu_alu.c: ADD..CMP, INC, DEC, NEG, NOT, TEST, IMUL, MUL, DIV, IDIV, CBW..CQO */
void cpu_register_shift(cpu_opmap *m);    /* cpu_shift.c: SHL..SAR, ROL..RCR, SHLD, SHRD */
void cpu_register_bits(cpu_opmap *m);     /* cpu_bits.c: BT*, BSF, BSR, LZCNT, TZCNT, POPCNT, SETcc, CMOVcc */
void cpu_register_transfer(cpu_opmap *m); /* cpu_transfer.c: MOV*, XCHG, XADD, CMPXCHG*, BSWAP, PUSH, POP, LEA, ENTER, LEAVE, MOVBE, CRC32 */
void cpu_register_control(cpu_opmap *m);  /* cpu_control.c: Jcc, JMP, CALL, RET, LOOP, JRCXZ, flag ops, NOP */
void cpu_register_string(cpu_opmap *m);   /* cpu_string.c: MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS */
void cpu_register_system(cpu_opmap *m);   /* cpu_system.c: CRs, 0F 01, INVLPG, ...; calls the four below */
void cpu_register_segment(cpu_opmap *m);  /* cpu_segment.c: 0F 00 (SLDT..LTR), PUSH/POP FS/GS */
void cpu_register_interrupt(cpu_opmap *m); /* cpu_interrupt.c: IN/OUT, CLI, STI, HLT, INT, IRET */
void cpu_register_vmx_insn(cpu_opmap *m); /* cpu_vmx_insn.c: VMREAD..INVVPID, 0F C7 */
void cpu_register_far(cpu_opmap *m);      /* cpu_far.c: RETF (CA, CB) */
void cpu_register_x87(cpu_opmap *m);      /* cpu_x87.c: FNOP */
/* cpu_far.c: far JMP/CALL through a pointer (EA, 9A: not in 64-bit mode)
 * or memory (FF /5, FF /3: every protected mode). */
void cpu_far_jmp_ptr(cpu_t *c, const cpu_insn *i);
void cpu_far_jmp_m(cpu_t *c, const cpu_insn *i);
void cpu_far_call_ptr(cpu_t *c, const cpu_insn *i);
void cpu_far_call_m(cpu_t *c, const cpu_insn *i);
void cpu_register_legacy(cpu_opmap *m);   /* cpu_legacy_ops.c: DAA..AAD, BOUND, LDS/LES, LSS/LFS/LGS */
/* cpu_legacy_ops.c: ARPL's handler (63 outside 64-bit mode). */
cpu_exec_fn cpu_legacy_arpl(void);
/* cpu_legacy.c: the fault of a failed data-segment check outside 64-bit
 * mode (cpu_legacy_va): #SS(0) for SS, else #GP(0). Never returns, so the
 * handlers that inline the check keep their register allocation. */
__attribute__((cold)) _Noreturn void cpu_seg_fault(cpu_t *c, unsigned seg);

const cpu_opmap *cpu_opmap_get(void);

/* Shared between family files. */
void cpu_register_msr(cpu_opmap *m);   /* cpu_msr.c: RDMSR, WRMSR, RDTSC */
void cpu_register_cpuid(cpu_opmap *m); /* cpu_cpuid.c: CPUID */
bool cpu_decode_pause(cpu_insn *i);    /* cpu_system.c: F3 90 */
bool cpu_decode_cmpxchg8b(cpu_insn *i); /* cpu_transfer.c: 0F C7 /1 */
bool cpu_decode_grp5_other(cpu_insn *i); /* cpu_control.c: FF /2../7 */
void cpu_load_segment(cpu_t *c, unsigned sreg, uint16_t sel); /* cpu_segment.c */
/* cpu_segment.c: SGDT/SIDT/LGDT/LIDT (0F 01 /0../3 with memory, sub = digit). */
void cpu_exec_desc_table(cpu_t *c, const cpu_insn *i);
/* cpu_vmx_insn.c: 0F 01 C1 VMCALL, C2 VMLAUNCH, C3 VMRESUME, C4 VMXOFF, D4 VMFUNC. */
bool cpu_decode_grp7_vmx(cpu_insn *i);
/* Reads the 8-byte descriptor of sel from the GDT or LDT (#GP(sel) beyond
 * the limit), its linear address in *va (cpu_segment.c). */
uint64_t cpu_desc_read(cpu_t *c, uint16_t sel, uint64_t *va);
/* The hidden part of a segment register from a descriptor (SDM 3.4.5). */
cpu_seg cpu_seg_from_desc(uint16_t sel, uint64_t d);
/* Sets the descriptor's accessed bit as a segment load does (SDM 3.4.5.1). */
void cpu_desc_mark_accessed(cpu_t *c, uint64_t va, uint64_t d);
/* cpu_legacy.c: the handlers that differ outside 64-bit mode, chosen by
 * the decoder for legacy modes; interrupt delivery through the 32-bit IDT. */
void cpu_legacy_fixup(cpu_insn *i);
void cpu_deliver_legacy(cpu_t *c, uint8_t vector, bool soft, bool check_dpl, bool has_error,
                        uint32_t error, uint64_t return_eip);
void cpu_deliver_real(cpu_t *c, uint8_t vector, uint64_t return_ip);
/* Linear address of instruction fetch at offset rip: CS.base is ignored in
 * 64-bit mode (SDM Vol. 3A 3.4.4). */
/* A new successor-link epoch (cpu_t.epoch): links made before no longer
 * match. */
static inline void cpu_epoch_new(cpu_t *c)
{
    c->epoch.cur = ++c->epoch.next;
    c->tlb_epoch = (uint32_t)c->epoch.cur;
}

/* A new epoch that no earlier one can come back to (cpu_epoch_resume):
 * the translations, the code or the decoded blocks the links led to are
 * gone. */
static inline void cpu_epoch_invalidate(cpu_t *c)
{
    cpu_epoch_new(c);
    c->epoch.floor = c->epoch.cur;
}

static inline uint64_t cpu_fetch_va(const cpu_t *c, uint64_t rip)
{
    return c->mode == CPU_MODE_LONG64 ? rip : (uint32_t)(rip + c->seg[CPU_CS].base);
}
void cpu_exec_swapgs(cpu_t *c, const cpu_insn *i); /* cpu_msr.c */
/* cpu_debug.c: MOV DR (0F 21, 0F 23); a #DB fault reporting dr6_bits in
 * DR6 (and in a VM exit's qualification); what delivering a #DB through
 * the IDT does to DR6 and DR7. */
bool cpu_decode_mov_dr(cpu_insn *i);
__attribute__((cold)) _Noreturn void cpu_debug_fault(cpu_t *c, uint32_t dr6_bits);
void cpu_debug_deliver(cpu_t *c, uint32_t dr6_bits);
/* Single-step traps and pending debug exceptions at instruction boundaries
 * (cpu_exec.c's run loop, while CPU_EVT_DEBUG is set): the instruction
 * that began with TF = 1 completed; deliver the pending #DB trap; arm the
 * next instruction's single step (true: run it alone). */
void cpu_debug_step_done(cpu_t *c);
void cpu_debug_trap(cpu_t *c);
bool cpu_debug_arm(cpu_t *c);
void cpu_exec_rdtscp(cpu_t *c, const cpu_insn *i); /* cpu_msr.c */

/* Decodes one instruction at bytes (up to avail bytes). Returns the length
 * (0 when more bytes are needed than avail, i.e. beyond 15). i->exec is set
 * to the #UD or unimplemented handler for bad encodings. */
unsigned cpu_decode(cpu_mode mode, const cpu_cost_model *costs, const uint8_t *bytes,
                    unsigned avail, cpu_insn *i);

/* Handlers for encodings without an implementation. */
void cpu_exec_ud(cpu_t *c, const cpu_insn *i);
void cpu_exec_unimplemented(cpu_t *c, const cpu_insn *i);

/* ---- registers ------------------------------------------------------------ */

static inline uint64_t cpu_size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Reads a general register at operand size (byte registers 16..19 = AH..BH). */
static inline uint64_t cpu_reg_get(const cpu_t *c, unsigned r, unsigned size)
{
    switch (size) {
    case 1:
        return r < 16 ? (uint8_t)c->gpr[r] : (uint8_t)(c->gpr[r - 16] >> 8);
    case 2:
        return (uint16_t)c->gpr[r];
    case 4:
        return (uint32_t)c->gpr[r];
    default:
        return c->gpr[r];
    }
}

/* Writes a general register at operand size: 32-bit writes zero-extend,
 * 8- and 16-bit writes merge (SDM Vol. 1 3.4.1.1). */
static inline void cpu_reg_set(cpu_t *c, unsigned r, unsigned size, uint64_t v)
{
    switch (size) {
    case 1:
        if (r < 16)
            c->gpr[r] = (c->gpr[r] & ~0xFFull) | (uint8_t)v;
        else
            c->gpr[r - 16] = (c->gpr[r - 16] & ~0xFF00ull) | ((uint64_t)(uint8_t)v << 8);
        break;
    case 2:
        c->gpr[r] = (c->gpr[r] & ~0xFFFFull) | (uint16_t)v;
        break;
    case 4:
        c->gpr[r] = (uint32_t)v;
        break;
    default:
        c->gpr[r] = v;
        break;
    }
}

/* ---- faults ----------------------------------------------------------------- */

/* Raises an exception: abandons the current instruction (RIP stays at it
 * for faults) and delivers the vector at the run loop. */
_Noreturn void cpu_fault(cpu_t *c, unsigned vector, uint32_t error);
_Noreturn void cpu_fault_noerr(cpu_t *c, unsigned vector);
static inline _Noreturn void cpu_gp0(cpu_t *c)
{
    cpu_fault(c, CPU_EXC_GP, 0);
}
static inline _Noreturn void cpu_ud(cpu_t *c)
{
    cpu_fault_noerr(c, CPU_EXC_UD);
}
/* The privilege check of the system instructions: CPL > 0 is #GP(0). */
static inline void cpu_require_cpl0(cpu_t *c)
{
    if (c->cpl != 0)
        cpu_gp0(c);
}
/* A fault whose error code is a selector (SDM Vol. 3A 6.13: bits 15:3 index,
 * TI; EXT and IDT bits clear). */
static inline _Noreturn void cpu_fault_sel(cpu_t *c, unsigned vector, uint16_t sel)
{
    cpu_fault(c, vector, sel & 0xFFFCu);
}
/* SDM 23.8 "Restrictions on VMX Operation": in VMX operation every bit set
 * in FIXED0 must be 1 and every bit clear in FIXED1 must be 0. */
static inline bool cpu_vmx_cr_ok(uint64_t v, uint64_t fixed0, uint64_t fixed1, bool in_vmx)
{
    return !in_vmx || ((v & fixed0) == fixed0 && (v & ~fixed1) == 0);
}

/* ---- effective addresses and memory ---------------------------------------- */

/* Whether the bytes off .. off + size - 1 of an access lie within segment
 * s (SDM Vol. 3A 5.3 "Limit Checking", 3.4.5.1; every byte, without a
 * wrap at 4 GBytes): real mode checks the limit alone; in protected mode a
 * null (not present) segment allows nothing, an expand-down data segment
 * the offsets above its limit up to FFFFH or FFFFFFFFH (by its B flag),
 * the others 0..limit. */
static inline bool cpu_seg_range_ok(const cpu_t *c, const cpu_seg *s, uint32_t off,
                                    unsigned size)
{
    uint64_t last = (uint64_t)off + size - 1;
    if (!(c->cr0 & CPU_CR0_PE))
        return last <= s->limit;
    if (!(s->attr & CPU_SEG_P))
        return false;
    if ((s->attr & 0x1C) == 0x14)
        return off > s->limit && last <= ((s->attr & CPU_SEG_DB) ? 0xFFFFFFFFu : 0xFFFFu);
    return last <= s->limit;
}

/* Outside 64-bit mode: the linear address of offset a (at address size
 * asize) in segment seg, wrapping at 4 GBytes, after the limit check of
 * all `size` bytes of the access (SDM Vol. 3A 3.4, 5.3). The common case
 * (an expand-up data or code segment, the access within the limit) is two
 * compares; the full check runs only beyond the limit or for a null or
 * expand-down segment. 64-bit code never comes here. */
static inline uint64_t cpu_legacy_va(const cpu_t *c, unsigned seg, uint64_t a, unsigned asize,
                                     unsigned size)
{
    uint32_t off = asize == 2 ? (uint16_t)a : (uint32_t)a;
    const cpu_seg *s = &c->seg[seg];
    if (unlikely((uint64_t)off + size - 1 > s->limit ||
                 ((s->attr & 0x94) != 0x90 && (s->attr & 0x98) != 0x98)) &&
        !cpu_seg_range_ok(c, s, off, size))
        cpu_seg_fault((cpu_t *)c, seg);
    return (uint32_t)(off + s->base);
}

/* Outside 64-bit mode: cpu_legacy_va of the ModRM operand, i->rm bytes
 * (cpu_legacy.c). Out of line, so cpu_ea stays small enough to be inlined
 * into every 64-bit handler. */
uint64_t cpu_ea_legacy(const cpu_t *c, const cpu_insn *i, uint64_t a);

/* The offset of the ModRM memory operand, before any segment base:
 * base + index * scale + displacement (SDM Vol. 1 3.7.5), truncated to 32
 * bits at a 32-bit address size; a 16-bit one is the caller's to truncate
 * (cpu_ea_legacy, LEA). */
static inline uint64_t cpu_ea_offset(const cpu_t *c, const cpu_insn *i)
{
    uint64_t a = (uint64_t)(int64_t)i->disp;
    if (i->base < 16)
        a += c->gpr[i->base];
    else if (i->base == CPU_REG_RIP)
        a += c->next_rip;
    if (i->index != CPU_REG_NONE)
        a += c->gpr[i->index] << i->scale;
    if (i->asize == 4)
        a = (uint32_t)a;
    return a;
}

/* Effective linear address of the ModRM memory operand (SDM Vol. 1 3.7.5). */
static inline uint64_t cpu_ea(const cpu_t *c, const cpu_insn *i)
{
    uint64_t a = cpu_ea_offset(c, i);
    if (i->pfx & CPU_PFX_SEG) {
        /* Outside 64-bit mode every access comes here: the offset at the
         * address size plus the segment base, wrapping at 4 GBytes (SDM
         * Vol. 3A 3.4); in 64-bit mode only FS/GS overrides do. */
        if (unlikely(cpu_mode_legacy(i->mode)))
            return cpu_ea_legacy(c, i, a);
        a += c->seg[i->seg].base;
    }
    return a;
}

/* 48-bit linear addresses: bits 63:47 all equal (SDM Vol. 1 3.3.7.1). */
static inline bool cpu_canonical(uint64_t va)
{
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1FFFF;
}

/* Alignment checking (SDM Vol. 3A 6.15 "Interrupt 17—Alignment Check
 * Exception", 2.5 CR0.AM): at CPL 3 with CR0.AM = 1 and RFLAGS.AC = 1, a
 * data access of 2, 4 or 8 bytes not aligned to its size is #AC(0). While
 * it is on the TLB gives no fast read or write path, so every data access
 * reaches cpu_read_slow/cpu_write_slow, which check; whatever turns it on
 * or off flushes the TLB (a CPL change, MOV CR0 changing AM,
 * cpu_set_rflags changing AC at CPL 3). */
static inline bool cpu_ac_on(const cpu_t *c)
{
    return c->cpl == 3 && (c->cr0 & CPU_CR0_AM) && (c->rflags & CPU_FL_AC);
}

/* Slow paths: page walk, TLB fill, MMIO, page-crossing, faults. */
uint64_t cpu_read_slow(cpu_t *c, uint64_t va, unsigned size, cpu_access acc);
void cpu_write_slow(cpu_t *c, uint64_t va, unsigned size, uint64_t v);
/* Faults unless [va, va+size) is writable (for instructions that must check
 * before any side effect). */
void cpu_probe_write(cpu_t *c, uint64_t va, unsigned size);

static inline uint64_t cpu_load_host(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1:
        return *p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

static inline void cpu_store_host(uint8_t *p, unsigned size, uint64_t v)
{
    switch (size) {
    case 1:
        *p = (uint8_t)v;
        break;
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    default:
        memcpy(p, &v, 8);
        break;
    }
}

static inline cpu_tlb_entry *cpu_tlb_slot(cpu_t *c, uint64_t va)
{
    return &c->tlb[(va >> CPU_PAGE_SHIFT) & (CPU_TLB_ENTRIES - 1)];
}

/* Reads size bytes (1, 2, 4, 8) at linear address va. */
static inline uint64_t cpu_read(cpu_t *c, uint64_t va, unsigned size)
{
    cpu_tlb_entry *e = cpu_tlb_slot(c, va);
    if (likely(e->tag_read == (va & ~0xFFFull) && (va & 0xFFF) <= 0x1000u - size))
        return cpu_load_host((const uint8_t *)(uintptr_t)(va + e->host_adj), size);
    return cpu_read_slow(c, va, size, CPU_ACC_READ);
}

/* Writes size bytes (1, 2, 4, 8) at linear address va. */
static inline void cpu_write(cpu_t *c, uint64_t va, unsigned size, uint64_t v)
{
    cpu_tlb_entry *e = cpu_tlb_slot(c, va);
    if (likely(e->tag_write == (va & ~0xFFFull) && (va & 0xFFF) <= 0x1000u - size))
        cpu_store_host((uint8_t *)(uintptr_t)(va + e->host_adj), size, v);
    else
        cpu_write_slow(c, va, size, v);
}

/* Reads the r/m operand (register or memory) at the instruction's size. */
static inline uint64_t cpu_rm_read(cpu_t *c, const cpu_insn *i, unsigned size)
{
    if (!i->has_mem)
        return cpu_reg_get(c, i->rm, size);
    return cpu_read(c, cpu_ea(c, i), size);
}

static inline void cpu_rm_write(cpu_t *c, const cpu_insn *i, unsigned size, uint64_t v)
{
    if (!i->has_mem)
        cpu_reg_set(c, i->rm, size, v);
    else
        cpu_write(c, cpu_ea(c, i), size, v);
}

/* Stack (SDM Vol. 1 6.2): 64-bit mode uses RSP without a segment base. */
static inline void cpu_push(cpu_t *c, unsigned size, uint64_t v)
{
    uint64_t sp = c->gpr[CPU_RSP] - size;
    cpu_write(c, sp, size, v);
    c->gpr[CPU_RSP] = sp;
}

static inline uint64_t cpu_pop(cpu_t *c, unsigned size)
{
    uint64_t v = cpu_read(c, c->gpr[CPU_RSP], size);
    c->gpr[CPU_RSP] += size;
    return v;
}

/* An implicit supervisor-mode read (descriptor tables, IDT, TSS) that
 * ignores CPL 3 (SDM Vol. 3A 4.6). */
uint64_t cpu_read_supervisor(cpu_t *c, uint64_t va, unsigned size);

/* Translates a linear address for an access (page walk on a TLB miss),
 * raising #PF/#GP on failure. Returns the physical address. */
uint64_t cpu_translate(cpu_t *c, uint64_t va, cpu_access acc);

/* Reads the four PAE PDPTEs at cr3[31:5] into out (SDM 4.4.1); false when
 * a present one has reserved bits set (#GP(0) for the MOV that loads them). */
bool cpu_pdptes_read(cpu_t *c, uint64_t cr3, uint64_t out[4]);

/* Physical access (after translation) honouring RAM, trap pages and MMIO. */
uint64_t cpu_phys_load(cpu_t *c, uint64_t pa, unsigned size, cpu_access acc);
void cpu_phys_store(cpu_t *c, uint64_t pa, unsigned size, uint64_t v);

/* Marks a physical page as holding decoded code: its writes go slow so
 * they invalidate the decoded blocks (self-modifying code). */
void cpu_mark_code_page(cpu_t *c, uint64_t paddr);

/* ---- lazy flags (cpu_flags.c) ------------------------------------------------ */

/* Lazy flag operations: lf_op = kind * 4 + log2(size). */
enum cpu_lf_kind {
    CPU_LF_NONE = 0, /* flags are all in rflags */
    CPU_LF_ADD,      /* res = src1 + src2 */
    CPU_LF_ADC,      /* res = src1 + src2 + CF_in; carry-in kept in lf_op bit 8 */
    CPU_LF_SUB,      /* res = src1 - src2 (also CMP) */
    CPU_LF_SBB,      /* res = src1 - src2 - CF_in */
    CPU_LF_LOGIC,    /* AND, OR, XOR, TEST: CF = OF = 0, AF undefined (0) */
    CPU_LF_INC,      /* CF preserved in rflags */
    CPU_LF_DEC,      /* CF preserved in rflags */
    CPU_LF_NEG,      /* res = 0 - src2 */
    CPU_LF_NKINDS
};
#define CPU_LF_CARRY_IN (1u << 8)

static inline unsigned cpu_size_log2(unsigned size)
{
    return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
}

static inline void cpu_lf_set(cpu_t *c, unsigned kind, unsigned size, uint64_t res,
                              uint64_t src1, uint64_t src2)
{
    c->lf_op = kind * 4 + cpu_size_log2(size);
    c->lf_res = res & cpu_size_mask(size);
    c->lf_src1 = src1;
    c->lf_src2 = src2;
}

/* For the kinds whose flags depend on the result alone (LOGIC, INC, DEC:
 * CF and OF are 0 or come from rflags, AF is 0 or a function of the
 * result), so the operands are not stored. */
static inline void cpu_lf_set_res(cpu_t *c, unsigned kind, unsigned size, uint64_t res)
{
    c->lf_op = kind * 4 + cpu_size_log2(size);
    c->lf_res = res & cpu_size_mask(size);
}

/* INC/DEC keep CF: materialise it from the previous operation first. */
void cpu_lf_keep_cf_slow(cpu_t *c);
static inline void cpu_lf_keep_cf(cpu_t *c)
{
    unsigned kind = (c->lf_op & 0xFF) >> 2;
    if (kind != CPU_LF_NONE && kind != CPU_LF_INC && kind != CPU_LF_DEC)
        cpu_lf_keep_cf_slow(c);
}

/* Computes the six arithmetic flags from the lazy state. */
uint64_t cpu_lf_flags(const cpu_t *c);
/* Evaluates condition code cc (0..15, the low nibble of Jcc) (SDM Vol. 1 B.1). */
bool cpu_cond(const cpu_t *c, unsigned cc);

/* Sets arithmetic flags eagerly (for instructions whose flags are not one of
 * the lazy kinds: shifts, rotates, MUL, bit operations). mask says which
 * flags change; the others keep their value. */
void cpu_flags_set(cpu_t *c, uint64_t mask, uint64_t values);

/* Parity of the low byte: PF (SDM Vol. 1 3.4.3.1). */
static inline bool cpu_parity(uint64_t v)
{
    return !__builtin_parity((unsigned)(v & 0xFF));
}

/*
 * Condition cc after a CMP/SUB (lazy kind SUB), straight from its operands:
 * an unsigned or signed comparison of the operands is exactly the flag
 * combination the condition tests (SDM Vol. 1 B.1: B = CF, BE = CF|ZF,
 * L = SF!=OF, LE = ZF|(SF!=OF)). Inline so a fused CMP+Jcc evaluates it
 * from the values it just computed.
 */
static inline bool cpu_cond_sub(const cpu_t *c, unsigned cc)
{
    unsigned size = 1u << (c->lf_op & 3), sh = 64 - size * 8;
    uint64_t mask = cpu_size_mask(size), sb = 1ull << (size * 8 - 1);
    uint64_t res = c->lf_res, a = c->lf_src1 & mask, b = c->lf_src2 & mask;
    bool r;
    switch (cc >> 1) {
    case 0: r = ((a ^ b) & (a ^ res) & sb) != 0; break;
    case 1: r = a < b; break;
    case 2: r = res == 0; break;
    case 3: r = a <= b; break;
    case 4: r = (res & sb) != 0; break;
    case 5: r = cpu_parity(res); break;
    case 6: r = (int64_t)(a << sh) < (int64_t)(b << sh); break;
    default: r = (int64_t)(a << sh) <= (int64_t)(b << sh); break;
    }
    return r ^ (cc & 1);
}

/*
 * Macro-fusion (cpu_exec.c): a register-only flag-setting instruction (ALU
 * reg/reg and reg/imm, TEST, INC, DEC) followed by a Jcc in the same block
 * runs as one handler call: the first record's exec becomes a fused handler
 * that executes its own instruction, then the Jcc of the record after it
 * (i + 1) exactly as the run loop would have: RIP advanced to the Jcc, its
 * cost added before it executes, so retired counts, cycles and fault RIPs
 * match unfused execution. The first half cannot fault (registers only).
 */
/* A near branch's new RIP: #GP(0) at the branch itself when the target is
 * not canonical (SDM Vol. 2 "Jcc", "JMP", "CALL"), else next_rip. */
static inline void cpu_branch_to(cpu_t *c, uint64_t target)
{
    if (unlikely(!cpu_canonical(target)))
        cpu_gp0(c);
    c->next_rip = target;
}

static inline void cpu_fused_jz(cpu_t *c, const cpu_insn *j, bool taken)
{
    uint64_t rip = c->next_rip, next = rip + j->len;
    c->rip = rip;
    c->cycles += j->cost;
    if (taken)
        cpu_branch_to(c, next + j->imm);
    else
        c->next_rip = next;
}

/* Any condition (SDM Vol. 1 B.1); taken for JZ/JNZ is computed by the
 * caller from the lazy result (the first half always leaves one, and ZF
 * is res == 0 for every lazy kind). */
static inline void cpu_fused_jcc(cpu_t *c, const cpu_insn *j)
{
    cpu_fused_jz(c, j, cpu_cond(c, j->sub));
}

/* The same after a CMP/SUB first half: no call, no kind dispatch. */
static inline void cpu_fused_jcc_sub(cpu_t *c, const cpu_insn *j)
{
    cpu_fused_jz(c, j, cpu_cond_sub(c, j->sub));
}

/* The fused handler for a first-half handler followed by a Jcc with
 * condition cc, or NULL when it has none (cpu_alu.c). */
cpu_exec_fn cpu_alu_fused(cpu_exec_fn first, unsigned cc);
/* Whether a decoded record is a Jcc (70..7F, 0F 80..8F) (cpu_control.c). */
bool cpu_is_jcc(const cpu_insn *i);

/* ---- exceptions and interrupts (cpu_except.c) ---------------------------------- */

/* Delivers a pending exception recorded by cpu_fault (called by the run loop). */
void cpu_deliver_pending_fault(cpu_t *c);
/* Delivers the event queued by cpu_deliver_event outside a run. */
void cpu_deliver_injected(cpu_t *c);

/* ---- decoded-block cache (cpu_exec.c) -------------------------------------------- */

/* Invalidates every decoded block of physical page p on every CPU of phys. */
void cpu_code_page_written(cpu_phys *phys, uint64_t page);

/* The intercept hook, if enabled for kind. */
static inline cpu_hook_result cpu_intercept(cpu_t *c, cpu_icpt *info)
{
    if (likely(!(c->icpt_mask & (1u << info->kind))) || !c->hooks.intercept)
        return CPU_HOOK_PASS;
    cpu_hook_result r = c->hooks.intercept(c->hooks.ctx, c, info);
    if (r == CPU_HOOK_EXIT)
        cpu_abort_insn(c, CPU_STOP_HOOK);
    return r;
}

/* Ends the current block after this instruction (trap stores, state changes). */
static inline void cpu_end_block(cpu_t *c)
{
    c->exit_block = 1;
}

/* Blocking by MOV SS covers the next instruction: it also holds back debug
 * traps (SDM 6.8.3) and makes VMLAUNCH/VMRESUME fail (26.1). */
static inline bool cpu_mov_ss_blocking(const cpu_t *c)
{
    return (c->events & CPU_EVT_SHADOW) && c->shadow_kind == CPU_SHADOW_MOV_SS;
}

/* STI (CPU_SHADOW_STI) or MOV SS (CPU_SHADOW_MOV_SS) blocks interrupts
 * until after the next instruction (SDM Vol. 3A 6.8.3): the run loop
 * executes that one alone. */
static inline void cpu_begin_shadow(cpu_t *c, unsigned kind)
{
    c->events |= CPU_EVT_SHADOW;
    c->shadow_arm = 1;
    c->shadow_kind = (uint8_t)kind;
    c->exit_block = 1;
}

#endif
