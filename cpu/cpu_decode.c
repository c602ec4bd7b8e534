/*
 * cpu_decode.c — the instruction decoder (SDM Vol. 2 chapter 2 "Instruction
 * Format" and appendix A "Opcode Map").
 *
 * The decoder reads prefixes, REX, the opcode (one-byte, 0F, 0F38, 0F3A
 * maps), ModRM, SIB, displacement and immediate into a cpu_insn, then hands
 * it to the family's decode function, which picks the handler for the
 * operand form and size. The CPU mode parameterises default operand and
 * address sizes and which bytes are REX prefixes, so 32-bit protected mode
 * and real mode fit in without a rewrite.
 */
#include <pthread.h>

#include "cpu/cpu_internal.h"

static cpu_opmap opmap;
static pthread_once_t opmap_once = PTHREAD_ONCE_INIT;

void cpu_op(cpu_opmap *m, unsigned map, unsigned op, cpu_decode_fn fn, unsigned flags,
            unsigned imm, unsigned cost_class)
{
    cpu_opdesc *d = &m->map[map & 3][op & 0xFF];
    d->decode = fn;
    d->flags = (uint16_t)flags;
    d->imm = (uint8_t)imm;
    d->cost_class = (uint8_t)cost_class;
}

/* The opcode tables are immutable after this runs once per process; they
 * hold no machine state, so machines side by side share them safely. */
static void opmap_build(void)
{
    cpu_register_alu(&opmap);
    cpu_register_shift(&opmap);
    cpu_register_bits(&opmap);
    cpu_register_transfer(&opmap);
    cpu_register_control(&opmap);
    cpu_register_far(&opmap);
    cpu_register_string(&opmap);
    cpu_register_system(&opmap);
    cpu_register_legacy(&opmap);
}

const cpu_opmap *cpu_opmap_get(void)
{
    pthread_once(&opmap_once, opmap_build);
    return &opmap;
}

/* Legacy prefix bytes and whether byte b is one in this mode. */
static bool is_rex(cpu_mode mode, uint8_t b)
{
    return mode == CPU_MODE_LONG64 && (b & 0xF0) == 0x40;
}

static unsigned imm_bytes(unsigned kind, unsigned osize, unsigned asize, unsigned digit)
{
    switch (kind) {
    case CPU_IMM_B:
    case CPU_IMM_UB:
        return 1;
    case CPU_IMM_W:
        return 2;
    case CPU_IMM_Z:
        return osize == 2 ? 2 : 4;
    case CPU_IMM_V:
        return osize;
    case CPU_IMM_WB:
        return 3;
    case CPU_IMM_MOFFS:
        return asize;
    case CPU_IMM_PTR:
        return (osize == 2 ? 2u : 4u) + 2u; /* 64-bit mode has no Ap (#UD there) */
    case CPU_IMM_GRP3:
        return digit < 2 ? 1 : 0; /* caller turns 1 into the Iz size for F7 */
    default:
        return 0;
    }
}

static uint64_t read_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < n; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static uint64_t sign_extend(uint64_t v, unsigned bytes)
{
    if (bytes >= 8)
        return v;
    unsigned sh = 64 - bytes * 8;
    return (uint64_t)((int64_t)(v << sh) >> sh);
}

/* Maps a byte-register number without REX: 4..7 are AH, CH, DH, BH. */
static uint8_t byte_reg(unsigned r, bool rex)
{
    return (uint8_t)((!rex && r >= 4 && r < 8) ? r + 12 : r);
}

unsigned cpu_decode(cpu_mode mode, const cpu_cost_model *costs, const uint8_t *bytes,
                    unsigned avail, cpu_insn *i)
{
    const cpu_opmap *m = cpu_opmap_get();
    unsigned pos = 0, rex = 0, map = 0, seg_override = 0xFF;
    bool long64 = mode == CPU_MODE_LONG64;
    bool def32 = mode != CPU_MODE_REAL && mode != CPU_MODE_PROT16 && mode != CPU_MODE_COMPAT16;

    memset(i, 0, sizeof(*i));
    i->mode = (uint8_t)mode;
    i->base = CPU_REG_NONE;
    i->index = CPU_REG_NONE;
    i->seg = CPU_DS;
    if (avail > 15)
        avail = 15;

#define NEED(n)                                                                           \
    do {                                                                                   \
        if (pos + (n) > avail)                                                             \
            goto too_long;                                                                 \
    } while (0)

    /* Legacy prefixes, then REX; a REX followed by a legacy prefix is
     * ignored (SDM Vol. 2 2.2.1). */
    for (;;) {
        NEED(1);
        uint8_t b = bytes[pos];
        if (b == 0xF0)
            i->pfx |= CPU_PFX_LOCK;
        else if (b == 0xF3)
            i->pfx = (uint8_t)((i->pfx & ~CPU_PFX_REPNE) | CPU_PFX_REP);
        else if (b == 0xF2)
            i->pfx = (uint8_t)((i->pfx & ~CPU_PFX_REP) | CPU_PFX_REPNE);
        else if (b == 0x66)
            i->pfx |= CPU_PFX_OSIZE;
        else if (b == 0x67)
            i->pfx |= CPU_PFX_ASIZE;
        else if (b == 0x26 || b == 0x2E || b == 0x36 || b == 0x3E)
            seg_override = (uint8_t)(b == 0x26 ? CPU_ES : b == 0x2E ? CPU_CS : b == 0x36 ? CPU_SS : CPU_DS);
        else if (b == 0x64)
            seg_override = CPU_FS;
        else if (b == 0x65)
            seg_override = CPU_GS;
        else if (is_rex(mode, b)) {
            rex = b;
            pos++;
            NEED(1);
            if (is_rex(mode, bytes[pos]))
                continue;
            uint8_t nb = bytes[pos];
            if (nb == 0xF0 || nb == 0xF2 || nb == 0xF3 || nb == 0x66 || nb == 0x67 ||
                nb == 0x26 || nb == 0x2E || nb == 0x36 || nb == 0x3E || nb == 0x64 || nb == 0x65) {
                rex = 0;
                continue;
            }
            break;
        } else
            break;
        pos++;
    }
    if (rex)
        i->pfx |= CPU_PFX_REX | ((rex & 8) ? CPU_PFX_REXW : 0);

    /* Opcode. */
    NEED(1);
    uint8_t op = bytes[pos++];
    if (op == 0x0F) {
        NEED(1);
        op = bytes[pos++];
        map = 1;
        if (op == 0x38 || op == 0x3A) {
            map = op == 0x38 ? 2 : 3;
            NEED(1);
            op = bytes[pos++];
        }
    }
    i->map = (uint8_t)map;
    i->op = op;
    const cpu_opdesc *d = &m->map[map][op];
    unsigned fl = d->flags;

    /* Operand size (SDM Vol. 1 3.6.1, Vol. 2 2.2.1.2). */
    if (fl & CPU_OPF_BYTE)
        i->osize = 1;
    else if (long64 && (fl & CPU_OPF_FORCE64))
        i->osize = 8;
    else if (long64 && (rex & 8))
        i->osize = 8;
    else if (i->pfx & CPU_PFX_OSIZE)
        i->osize = def32 ? 2 : 4;
    else if (long64 && (fl & CPU_OPF_DEF64))
        i->osize = 8;
    else
        i->osize = def32 ? 4 : 2;
    if (long64)
        i->asize = (i->pfx & CPU_PFX_ASIZE) ? 4 : 8;
    else
        i->asize = (uint8_t)(((i->pfx & CPU_PFX_ASIZE) != 0) != def32 ? 4 : 2);

    /* In 64-bit mode only FS and GS overrides have a base (SDM Vol. 1
     * 3.4.2.1); elsewhere every segment has one, so every access adds it. */
    if (seg_override != 0xFF) {
        i->seg = (uint8_t)seg_override;
        if (!long64 || seg_override >= CPU_FS)
            i->pfx |= CPU_PFX_SEG;
    }
    if (!long64)
        i->pfx |= CPU_PFX_SEG;

    unsigned digit = 0;
    if (fl & (CPU_OPF_MODRM | CPU_OPF_MODREG)) {
        NEED(1);
        uint8_t modrm = bytes[pos++];
        unsigned mod = modrm >> 6, rm = modrm & 7;
        i->modrm = modrm;
        digit = (modrm >> 3) & 7;
        i->reg = (uint8_t)(digit | ((rex & 4) << 1));
        if (fl & CPU_OPF_MODREG)
            mod = 3;
        if (mod == 3) {
            i->rm = (uint8_t)(rm | ((rex & 1) << 3));
            if (fl & (CPU_OPF_BYTE | CPU_OPF_RM8))
                i->rm = byte_reg(i->rm, rex != 0);
        } else {
            i->has_mem = 1;
            if (i->asize == 2) {
                /* 16-bit addressing has no place in 64-bit mode; decode its
                 * length for the modes that will use it later. */
                static const uint8_t base16[8] = {CPU_RBX, CPU_RBX, CPU_RBP, CPU_RBP, CPU_RSI, CPU_RDI, CPU_RBP, CPU_RBX};
                static const uint8_t index16[8] = {CPU_RSI, CPU_RDI, CPU_RSI, CPU_RDI, CPU_REG_NONE, CPU_REG_NONE, CPU_REG_NONE, CPU_REG_NONE};
                i->base = base16[rm];
                i->index = index16[rm];
                if (mod == 0 && rm == 6) {
                    i->base = CPU_REG_NONE;
                    NEED(2);
                    i->disp = (int16_t)read_le(bytes + pos, 2);
                    pos += 2;
                } else if (mod == 1) {
                    NEED(1);
                    i->disp = (int8_t)bytes[pos++];
                } else if (mod == 2) {
                    NEED(2);
                    i->disp = (int16_t)read_le(bytes + pos, 2);
                    pos += 2;
                }
            } else {
                if (rm == 4) {
                    NEED(1);
                    uint8_t sib = bytes[pos++];
                    unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
                    unsigned base = (sib & 7) | ((rex & 1) << 3);
                    i->scale = (uint8_t)(sib >> 6);
                    i->index = idx == CPU_RSP ? CPU_REG_NONE : (uint8_t)idx;
                    if ((sib & 7) == 5 && mod == 0) {
                        i->base = CPU_REG_NONE;
                        NEED(4);
                        i->disp = (int32_t)read_le(bytes + pos, 4);
                        pos += 4;
                    } else
                        i->base = (uint8_t)base;
                } else if (rm == 5 && mod == 0) {
                    i->base = long64 ? CPU_REG_RIP : CPU_REG_NONE;
                    NEED(4);
                    i->disp = (int32_t)read_le(bytes + pos, 4);
                    pos += 4;
                } else
                    i->base = (uint8_t)(rm | ((rex & 1) << 3));
                if (mod == 1) {
                    NEED(1);
                    i->disp = (int8_t)bytes[pos++];
                } else if (mod == 2) {
                    NEED(4);
                    i->disp = (int32_t)read_le(bytes + pos, 4);
                    pos += 4;
                }
            }
            if (seg_override == 0xFF && !long64 &&
                (i->base == CPU_RBP || i->base == CPU_RSP))
                i->seg = CPU_SS;
        }
        if (fl & CPU_OPF_BYTE)
            i->reg = byte_reg(i->reg, rex != 0);
    } else if (fl & CPU_OPF_REGOP) {
        i->reg = (uint8_t)((op & 7) | ((rex & 1) << 3));
        if (fl & CPU_OPF_BYTE)
            i->reg = byte_reg(i->reg, rex != 0);
    }

    /* Immediate. */
    unsigned n = imm_bytes(d->imm, i->osize, i->asize, digit);
    if (d->imm == CPU_IMM_GRP3 && n && i->osize > 1)
        n = i->osize == 2 ? 2 : 4;
    if (n) {
        NEED(n);
        uint64_t v = read_le(bytes + pos, n);
        switch (d->imm) {
        case CPU_IMM_UB:
        case CPU_IMM_W:
        case CPU_IMM_MOFFS:
        case CPU_IMM_PTR:
            i->imm = v;
            break;
        case CPU_IMM_WB:
            i->imm = v & 0xFFFF;
            i->sub = (uint8_t)(v >> 16);
            break;
        default:
            i->imm = sign_extend(v, n);
            break;
        }
        pos += n;
    }
    i->len = (uint8_t)pos;
    i->cost_class = d->cost_class;
    i->ends_block = (fl & CPU_OPF_ENDS) != 0;

    /* Opcodes that exist in one kind of mode only (SDM Vol. 2 appendix A,
     * "i64" and "o64"). */
    bool invalid_here = long64 ? (fl & CPU_OPF_INVALID64) : (fl & CPU_OPF_ONLY64);
    bool ok = d->decode != NULL && !invalid_here;
    if (ok && (i->pfx & CPU_PFX_LOCK) && !((fl & CPU_OPF_LOCKOK) && i->has_mem))
        ok = false;
    if (ok)
        ok = d->decode(i);
    if (!ok) {
        /* Known-invalid encodings raise #UD quietly; holes in our tables are
         * reported as unimplemented so nothing fails silently. */
        bool architectural = (fl & CPU_OPF_UD) || invalid_here || d->decode != NULL;
        i->exec = architectural ? cpu_exec_ud : cpu_exec_unimplemented;
        i->ends_block = 1;
    }
    if (!i->exec) {
        i->exec = cpu_exec_unimplemented;
        i->ends_block = 1;
    }
    if (!long64)
        cpu_legacy_fixup(i);
    i->cost = costs->cost[i->cost_class < CPU_COST_NCLASSES ? i->cost_class : 0];
    if (i->has_mem)
        i->cost = (uint16_t)(i->cost + costs->cost[CPU_COST_MEM]);
    return pos;

too_long:
    /* More than 15 bytes, or the bytes ran out: #GP(0) for an over-long
     * instruction is the caller's decision (SDM Vol. 2 2.3.11). */
    memset(i, 0, sizeof(*i));
    i->exec = cpu_exec_ud;
    i->ends_block = 1;
    i->len = 0;
    return 0;
#undef NEED
}

unsigned cpu_decode_length(cpu_mode mode, const uint8_t *bytes, size_t len, bool *implemented)
{
    cpu_cost_model costs;
    cpu_insn i;
    cpu_cost_default(&costs);
    unsigned n = cpu_decode(mode, &costs, bytes, (unsigned)(len > 15 ? 15 : len), &i);
    if (implemented)
        *implemented = n != 0 && i.exec != cpu_exec_unimplemented && i.exec != cpu_exec_ud;
    return n;
}
