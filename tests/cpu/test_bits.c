/*
 * test_bits.c — BT/BTS/BTR/BTC (register, memory, immediate, far and
 * negative bit offsets), BSF/BSR/LZCNT/TZCNT/POPCNT (zero and every single
 * bit), BSWAP, SETcc and CMOVcc for all 16 conditions (SDM Vol. 2).
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define BUF 0x200000u /* a data buffer in identity-mapped RAM */
#define UNMAPPED 0x80000000ull /* beyond the harness's 1 GiB: #PF */

static cpu_harness h;

static void setup(void)
{
    cpu_harness_init(&h);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* Leaves a HLT handler a previous fault ended in, and drops the decoded
 * blocks so the new test code is decoded afresh. */
static void fresh(void)
{
    h.cpu.halted = 0;
    h.cpu.gpr[CPU_RSP] = CPU_HARNESS_STACK;
    cpu_dcache_flush(&h.cpu);
}

/* Runs one instruction and checks it completed. */
static void run1(const uint8_t *code, size_t len)
{
    fresh();
    ck_assert_int_eq(cpu_harness_exec(&h, code, len, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + len);
}

/* Runs one instruction expected to raise vector v (RIP stays at it). */
static void run1_fault(const uint8_t *code, size_t len, int v)
{
    fresh();
    cpu_harness_exec(&h, code, len, 1);
    ck_assert_int_eq(cpu_harness_vector(&h), v);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + (v == CPU_EXC_UD ? 0 : 8)),
                      CPU_HARNESS_CODE);
}

/* Prefix bytes for an operand size: 66 for 16, REX.W for 64. */
static size_t size_prefix(uint8_t *b, unsigned size)
{
    if (size == 2) {
        b[0] = 0x66;
        return 1;
    }
    if (size == 8) {
        b[0] = 0x48;
        return 1;
    }
    return 0;
}

static uint64_t rflags(void)
{
    return cpu_get_rflags(&h.cpu);
}

/* ---- BT family -------------------------------------------------------------- */

static const uint8_t bt_ops[4] = {0xA3, 0xAB, 0xB3, 0xBB}; /* BT, BTS, BTR, BTC */

static uint64_t bt_expect(unsigned op, uint64_t v, unsigned bit)
{
    uint64_t m = 1ull << bit;
    return op == 0 ? v : op == 1 ? (v | m) : op == 2 ? (v & ~m) : (v ^ m);
}

START_TEST(bt_register_forms)
{
    /* bt* ax/eax/rax, cx/ecx/rcx (ModRM C8: reg = rCX, rm = rAX). */
    cpu_t *c = &h.cpu;
    static const uint64_t vals[] = {0xFFFF0000FFFF0000ull, 0x0123456789ABCDEFull};
    static const uint64_t offs[] = {0, 3, 15, 16, 31, 35, 63, 64 + 7, 0xFFFFFFFFFFFFFFFFull};
    for (unsigned op = 0; op < 4; op++)
        for (unsigned si = 0; si < 3; si++)
            for (unsigned vi = 0; vi < 2; vi++)
                for (unsigned oi = 0; oi < sizeof(offs) / sizeof(offs[0]); oi++) {
                    unsigned size = si == 0 ? 2 : si == 1 ? 4 : 8, w = size * 8;
                    uint8_t b[8];
                    size_t n = size_prefix(b, size);
                    b[n++] = 0x0F;
                    b[n++] = bt_ops[op];
                    b[n++] = 0xC8;
                    uint64_t v = vals[vi];
                    c->gpr[CPU_RAX] = v;
                    c->gpr[CPU_RCX] = offs[oi];
                    cpu_set_rflags(c, 2 | CPU_FL_ZF | CPU_FL_SF | (oi & 1 ? CPU_FL_CF : 0));
                    run1(b, n);
                    unsigned bit = (unsigned)(offs[oi] % w);
                    uint64_t mask = cpu_size_mask(size);
                    uint64_t res = bt_expect(op, v & mask, bit);
                    uint64_t want = op == 0 ? v
                                  : size == 2 ? ((v & ~0xFFFFull) | res)
                                  : res; /* 32-bit writes zero-extend, 64 whole */
                    ck_assert_uint_eq(c->gpr[CPU_RAX], want);
                    ck_assert_uint_eq(c->gpr[CPU_RCX], offs[oi]);
                    uint64_t f = rflags();
                    ck_assert_uint_eq((f & CPU_FL_CF) != 0, (v >> bit) & 1);
                    ck_assert(f & CPU_FL_ZF); /* ZF is not affected */
                }
}
END_TEST

START_TEST(bt_memory_register_offset_reaches_far)
{
    /* bt* [rbx], cx/ecx/rcx (ModRM 0B). The offset is signed and selects
     * the operand at rbx + size * floor(offset / width). */
    cpu_t *c = &h.cpu;
    static const int64_t offs[] = {0, 5, 1000, -1, -65, -1000, 40000, -40000};
    uint8_t *mem = cpu_phys_ptr_write(&h.phys, BUF, 0x20000);
    ck_assert_ptr_nonnull(mem);
    for (unsigned op = 0; op < 4; op++)
        for (unsigned si = 0; si < 3; si++)
            for (unsigned oi = 0; oi < sizeof(offs) / sizeof(offs[0]); oi++) {
                unsigned size = si == 0 ? 2 : si == 1 ? 4 : 8, w = size * 8;
                int64_t off = offs[oi];
                if (size == 2 && (off > 32767 || off < -32768))
                    continue;
                for (unsigned k = 0; k < 0x20000; k++)
                    mem[k] = (uint8_t)(k * 37 + 11);
                uint8_t b[8];
                size_t n = size_prefix(b, size);
                b[n++] = 0x0F;
                b[n++] = bt_ops[op];
                b[n++] = 0x0B;
                uint64_t base = BUF + 0x10000;
                c->gpr[CPU_RBX] = base;
                /* Bits above the operand size are not part of the offset. */
                c->gpr[CPU_RCX] = size == 8 ? (uint64_t)off
                                : ((uint64_t)off & cpu_size_mask(size)) | 0x5A5A000000000000ull;
                int64_t unit = off >= 0 ? off / w : -((-off + w - 1) / w);
                uint64_t addr = base + (uint64_t)(unit * (int64_t)size);
                unsigned bit = (unsigned)(((off % w) + w) % w);
                uint64_t before = 0;
                memcpy(&before, mem + (addr - BUF), size);
                uint64_t neighbour_lo = mem[addr - BUF - 1], neighbour_hi = mem[addr - BUF + size];
                run1(b, n);
                uint64_t after = 0;
                memcpy(&after, mem + (addr - BUF), size);
                ck_assert_uint_eq(after, bt_expect(op, before, bit));
                ck_assert_uint_eq((rflags() & CPU_FL_CF) != 0, (before >> bit) & 1);
                ck_assert_uint_eq(mem[addr - BUF - 1], neighbour_lo);
                ck_assert_uint_eq(mem[addr - BUF + size], neighbour_hi);
            }
}
END_TEST

START_TEST(bt_immediate_forms)
{
    cpu_t *c = &h.cpu;
    uint8_t *mem = cpu_phys_ptr_write(&h.phys, BUF, 16);
    /* bt eax, 37 (0F BA E0 25): 37 mod 32 = bit 5 */
    const uint8_t bt_imm[] = {0x0F, 0xBA, 0xE0, 0x25};
    c->gpr[CPU_RAX] = 0x20;
    run1(bt_imm, sizeof(bt_imm));
    ck_assert(rflags() & CPU_FL_CF);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x20);
    /* btc rax, 0x47 (48 0F BA F8 47): bit 7 */
    const uint8_t btc_imm[] = {0x48, 0x0F, 0xBA, 0xF8, 0x47};
    c->gpr[CPU_RAX] = 0xFFFFFFFF00000000ull;
    run1(btc_imm, sizeof(btc_imm));
    ck_assert(!(rflags() & CPU_FL_CF));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFF00000080ull);
    /* bts dword [rbx], 37 (0F BA 2B 25): an immediate offset stays within
     * the operand: bit 5 of [rbx], not of [rbx+4]. */
    const uint8_t bts_mem[] = {0x0F, 0xBA, 0x2B, 0x25};
    memset(mem, 0, 16);
    c->gpr[CPU_RBX] = BUF;
    run1(bts_mem, sizeof(bts_mem));
    ck_assert_uint_eq(mem[0], 0x20);
    ck_assert_uint_eq(mem[4], 0);
    ck_assert(!(rflags() & CPU_FL_CF));
    /* lock btr word [rbx], 5 (F0 66 0F BA 33 05) */
    const uint8_t lock_btr[] = {0xF0, 0x66, 0x0F, 0xBA, 0x33, 0x05};
    run1(lock_btr, sizeof(lock_btr));
    ck_assert_uint_eq(mem[0], 0);
    ck_assert(rflags() & CPU_FL_CF);
    /* lock btc qword [rbx], rcx with rcx = 64 + 1 (F0 48 0F BB 0B) */
    const uint8_t lock_btc[] = {0xF0, 0x48, 0x0F, 0xBB, 0x0B};
    c->gpr[CPU_RCX] = 65;
    run1(lock_btc, sizeof(lock_btc));
    ck_assert_uint_eq(mem[8], 2);
}
END_TEST

START_TEST(bt_invalid_forms)
{
    cpu_t *c = &h.cpu;
    const uint8_t grp8_0[] = {0x0F, 0xBA, 0xC0, 0x01};         /* 0F BA /0: undefined */
    const uint8_t lock_bt[] = {0xF0, 0x0F, 0xA3, 0x0B};        /* lock bt [rbx], ecx */
    const uint8_t lock_bts_reg[] = {0xF0, 0x0F, 0xAB, 0xC8};   /* lock bts eax, ecx */
    const uint8_t lock_bt_imm[] = {0xF0, 0x0F, 0xBA, 0x23, 1}; /* lock bt [rbx], 1 */
    c->gpr[CPU_RBX] = BUF;
    run1_fault(grp8_0, sizeof(grp8_0), CPU_EXC_UD);
    run1_fault(lock_bt, sizeof(lock_bt), CPU_EXC_UD);
    run1_fault(lock_bts_reg, sizeof(lock_bts_reg), CPU_EXC_UD);
    run1_fault(lock_bt_imm, sizeof(lock_bt_imm), CPU_EXC_UD);
    /* A far offset into unmapped memory faults there. */
    const uint8_t bts_far[] = {0x48, 0x0F, 0xAB, 0x0B};
    c->gpr[CPU_RBX] = BUF;
    c->gpr[CPU_RCX] = (UNMAPPED - BUF) * 8;
    run1_fault(bts_far, sizeof(bts_far), CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, UNMAPPED);
}
END_TEST

/* ---- bit scans and counts --------------------------------------------------- */

enum { SCAN_BSF, SCAN_BSR, SCAN_TZCNT, SCAN_LZCNT, SCAN_POPCNT };

/* op eax, ecx at a size (ModRM C1: reg = rAX, rm = rCX). */
static size_t scan_insn(uint8_t *b, unsigned kind, unsigned size)
{
    size_t n = 0;
    if (size == 2)
        b[n++] = 0x66;
    if (kind >= SCAN_TZCNT)
        b[n++] = 0xF3;
    if (size == 8)
        b[n++] = 0x48;
    b[n++] = 0x0F;
    b[n++] = kind == SCAN_BSF || kind == SCAN_TZCNT ? 0xBC : kind == SCAN_POPCNT ? 0xB8 : 0xBD;
    b[n++] = 0xC1;
    return n;
}

START_TEST(scans_on_single_bits)
{
    cpu_t *c = &h.cpu;
    for (unsigned kind = 0; kind < 5; kind++)
        for (unsigned si = 0; si < 3; si++) {
            unsigned size = si == 0 ? 2 : si == 1 ? 4 : 8, w = size * 8;
            uint8_t b[8];
            size_t n = scan_insn(b, kind, size);
            for (unsigned k = 0; k < w; k++) {
                c->gpr[CPU_RAX] = 0xAAAAAAAAAAAAAAAAull;
                /* Bits above the operand are ignored. */
                c->gpr[CPU_RCX] = (1ull << k) | (0x9000000000F00000ull & ~cpu_size_mask(size));
                cpu_set_rflags(c, 2 | CPU_FL_ZF | CPU_FL_CF);
                run1(b, n);
                uint64_t want = kind == SCAN_LZCNT ? w - 1 - k : kind == SCAN_POPCNT ? 1 : k;
                uint64_t got = size == 2 ? (c->gpr[CPU_RAX] & 0xFFFF) : c->gpr[CPU_RAX];
                ck_assert_uint_eq(got, want);
                if (size == 2)
                    ck_assert_uint_eq(c->gpr[CPU_RAX] >> 16, 0xAAAAAAAAAAAAull);
                uint64_t f = rflags();
                if (kind == SCAN_TZCNT || kind == SCAN_LZCNT) {
                    ck_assert(!(f & CPU_FL_CF));
                    ck_assert_uint_eq((f & CPU_FL_ZF) != 0, want == 0);
                } else {
                    ck_assert(!(f & CPU_FL_ZF));
                }
                if (kind == SCAN_POPCNT)
                    ck_assert_uint_eq(f & CPU_FL_ARITH, 0);
            }
        }
}
END_TEST

START_TEST(scans_on_zero)
{
    cpu_t *c = &h.cpu;
    for (unsigned kind = 0; kind < 5; kind++)
        for (unsigned si = 0; si < 3; si++) {
            unsigned size = si == 0 ? 2 : si == 1 ? 4 : 8, w = size * 8;
            uint8_t b[8];
            size_t n = scan_insn(b, kind, size);
            const uint64_t old = 0x1122334455667788ull;
            c->gpr[CPU_RAX] = old;
            c->gpr[CPU_RCX] = size < 8 ? 0xFFFF000000000000ull : 0;
            cpu_set_rflags(c, 2 | CPU_FL_OF | CPU_FL_SF);
            run1(b, n);
            uint64_t f = rflags();
            switch (kind) {
            case SCAN_BSF:
            case SCAN_BSR:
                /* ZF = 1, the destination keeps its value (Intel: a 32-bit
                 * destination loses bits 63:32 as every 32-bit write does). */
                ck_assert(f & CPU_FL_ZF);
                ck_assert_uint_eq(c->gpr[CPU_RAX], size == 4 ? (old & 0xFFFFFFFF) : old);
                break;
            case SCAN_TZCNT:
            case SCAN_LZCNT:
                ck_assert(f & CPU_FL_CF);
                ck_assert(!(f & CPU_FL_ZF));
                ck_assert_uint_eq(c->gpr[CPU_RAX],
                                  size == 2 ? ((old & ~0xFFFFull) | w) : w);
                break;
            default:
                ck_assert_uint_eq(f & CPU_FL_ARITH, CPU_FL_ZF);
                ck_assert_uint_eq(c->gpr[CPU_RAX], size == 2 ? (old & ~0xFFFFull) : 0);
                break;
            }
        }
}
END_TEST

START_TEST(scans_on_mixed_values_and_memory)
{
    cpu_t *c = &h.cpu;
    uint64_t v = 0x00F0000000001800ull;
    ck_assert(cpu_phys_write(&h.phys, BUF, &v, 8));
    c->gpr[CPU_RBX] = BUF;
    const uint8_t bsf_m[] = {0x48, 0x0F, 0xBC, 0x03};             /* bsf rax, [rbx] */
    const uint8_t bsr_m[] = {0x48, 0x0F, 0xBD, 0x03};             /* bsr rax, [rbx] */
    const uint8_t lzcnt_m[] = {0xF3, 0x48, 0x0F, 0xBD, 0x03};     /* lzcnt rax, [rbx] */
    const uint8_t tzcnt_m[] = {0xF3, 0x0F, 0xBC, 0x03};           /* tzcnt eax, [rbx] */
    const uint8_t popcnt_m[] = {0xF3, 0x48, 0x0F, 0xB8, 0x03};    /* popcnt rax, [rbx] */
    const uint8_t popcnt_w[] = {0x66, 0xF3, 0x0F, 0xB8, 0x03};    /* popcnt ax, [rbx] */
    run1(bsf_m, sizeof(bsf_m));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 11);
    run1(bsr_m, sizeof(bsr_m));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 55);
    run1(lzcnt_m, sizeof(lzcnt_m));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 8);
    run1(tzcnt_m, sizeof(tzcnt_m));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 11);
    run1(popcnt_m, sizeof(popcnt_m));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 6);
    c->gpr[CPU_RAX] = 0xFFFFFFFFFFFFFFFFull;
    run1(popcnt_w, sizeof(popcnt_w));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFFFFF0002ull);
    /* 0F B8 without F3 is JMPE: #UD in 64-bit mode. */
    const uint8_t jmpe[] = {0x0F, 0xB8, 0x03};
    run1_fault(jmpe, sizeof(jmpe), CPU_EXC_UD);
}
END_TEST

START_TEST(bswap_sizes)
{
    cpu_t *c = &h.cpu;
    const uint8_t b32[] = {0x0F, 0xC8};             /* bswap eax */
    const uint8_t b64[] = {0x49, 0x0F, 0xC9};       /* bswap r9 */
    const uint8_t b16[] = {0x66, 0x0F, 0xCB};       /* bswap bx (undefined: cleared) */
    c->gpr[CPU_RAX] = 0xFFFFFFFF11223344ull;
    run1(b32, sizeof(b32));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x44332211ull);
    c->gpr[CPU_R9] = 0x0102030405060708ull;
    run1(b64, sizeof(b64));
    ck_assert_uint_eq(c->gpr[CPU_R9], 0x0807060504030201ull);
    c->gpr[CPU_RBX] = 0x1122334455667788ull;
    run1(b16, sizeof(b16));
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x1122334455660000ull);
}
END_TEST

/* ---- SETcc / CMOVcc ----------------------------------------------------------- */

/* The conditions of SDM Vol. 1 appendix B, Table B-1, from the flags. */
static bool cond_ref(unsigned cc, uint64_t f)
{
    bool of = f & CPU_FL_OF, cf = f & CPU_FL_CF, zf = f & CPU_FL_ZF, sf = f & CPU_FL_SF,
         pf = f & CPU_FL_PF, r;
    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || sf != of; break;
    }
    return (cc & 1) ? !r : r;
}

/* Every combination of OF, CF, ZF, SF, PF. */
static uint64_t flag_combo(unsigned m)
{
    return ((m & 1) ? CPU_FL_OF : 0) | ((m & 2) ? CPU_FL_CF : 0) | ((m & 4) ? CPU_FL_ZF : 0) |
           ((m & 8) ? CPU_FL_SF : 0) | ((m & 16) ? CPU_FL_PF : 0);
}

START_TEST(setcc_all_conditions)
{
    cpu_t *c = &h.cpu;
    uint8_t *mem = cpu_phys_ptr_write(&h.phys, BUF, 1);
    unsigned seen_true[16] = {0}, seen_false[16] = {0};
    for (unsigned cc = 0; cc < 16; cc++)
        for (unsigned m = 0; m < 32; m++) {
            uint64_t f = flag_combo(m);
            bool want = cond_ref(cc, f);
            /* setcc ah (no REX: rm 4 = AH) and setcc byte [rbx] */
            const uint8_t reg[] = {0x0F, (uint8_t)(0x90 + cc), 0xC4};
            const uint8_t mm[] = {0x0F, (uint8_t)(0x90 + cc), 0x03};
            c->gpr[CPU_RAX] = 0xFFFFFFFFFFFF55FFull;
            cpu_set_rflags(c, 2 | f);
            run1(reg, sizeof(reg));
            ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFFFFF00FFull | ((uint64_t)want << 8));
            ck_assert_uint_eq(rflags() & CPU_FL_ARITH, f);
            *mem = 0x77;
            c->gpr[CPU_RBX] = BUF;
            run1(mm, sizeof(mm));
            ck_assert_uint_eq(*mem, want);
            if (want)
                seen_true[cc]++;
            else
                seen_false[cc]++;
        }
    for (unsigned cc = 0; cc < 16; cc++)
        ck_assert(seen_true[cc] && seen_false[cc]);
}
END_TEST

START_TEST(setcc_after_arithmetic)
{
    /* cmp eax, ecx (39 C8) then setl dl / setb dl with lazy flags. */
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0x39, 0xC8, 0x0F, 0x9C, 0xC2, 0x0F, 0x92, 0xC6};
    c->gpr[CPU_RAX] = 0xFFFFFFFF; /* -1 */
    c->gpr[CPU_RCX] = 1;
    c->gpr[CPU_RDX] = 0;
    fresh();
    cpu_harness_exec(&h, code, sizeof(code), 3);
    ck_assert_uint_eq(c->gpr[CPU_RDX] & 0xFF, 1);        /* -1 < 1 signed */
    ck_assert_uint_eq((c->gpr[CPU_RDX] >> 8) & 0xFF, 0); /* not below unsigned */
}
END_TEST

START_TEST(cmovcc_all_conditions)
{
    cpu_t *c = &h.cpu;
    uint64_t mv = 0xCAFEF00DDEADBEEFull;
    ck_assert(cpu_phys_write(&h.phys, BUF, &mv, 8));
    for (unsigned cc = 0; cc < 16; cc++)
        for (unsigned m = 0; m < 32; m++)
            for (unsigned si = 0; si < 3; si++)
                for (unsigned mem = 0; mem < 2; mem++) {
                    unsigned size = si == 0 ? 2 : si == 1 ? 4 : 8;
                    uint64_t f = flag_combo(m);
                    bool want = cond_ref(cc, f);
                    uint8_t b[8];
                    size_t n = size_prefix(b, size);
                    b[n++] = 0x0F;
                    b[n++] = (uint8_t)(0x40 + cc);
                    b[n++] = mem ? 0x03 : 0xC1; /* cmovcc rax, [rbx] / rax, rcx */
                    const uint64_t old = 0x1111222233334444ull;
                    uint64_t src = mem ? mv : 0x5555666677778888ull;
                    c->gpr[CPU_RAX] = old;
                    c->gpr[CPU_RCX] = 0x5555666677778888ull;
                    c->gpr[CPU_RBX] = BUF;
                    cpu_set_rflags(c, 2 | f);
                    run1(b, n);
                    uint64_t exp;
                    if (size == 8)
                        exp = want ? src : old;
                    else if (size == 4)
                        exp = want ? (uint32_t)src : (uint32_t)old; /* zero-extended either way */
                    else
                        exp = want ? ((old & ~0xFFFFull) | (src & 0xFFFF)) : old;
                    ck_assert_uint_eq(c->gpr[CPU_RAX], exp);
                    ck_assert_uint_eq(rflags() & CPU_FL_ARITH, f);
                }
}
END_TEST

START_TEST(cmovcc_reads_memory_even_when_false)
{
    /* cmovo eax, [rbx] with OF = 0 and [rbx] unmapped: #PF, RAX intact. */
    cpu_t *c = &h.cpu;
    const uint8_t code[] = {0x0F, 0x40, 0x03};
    c->gpr[CPU_RAX] = 0xFFFFFFFF00000001ull;
    c->gpr[CPU_RBX] = UNMAPPED + 0x10;
    cpu_set_rflags(c, 2);
    run1_fault(code, sizeof(code), CPU_EXC_PF);
    ck_assert_uint_eq(c->cr2, UNMAPPED + 0x10);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFF00000001ull);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bits");
    TCase *t = tcase_create("bits");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, bt_register_forms);
    tcase_add_test(t, bt_memory_register_offset_reaches_far);
    tcase_add_test(t, bt_immediate_forms);
    tcase_add_test(t, bt_invalid_forms);
    tcase_add_test(t, scans_on_single_bits);
    tcase_add_test(t, scans_on_zero);
    tcase_add_test(t, scans_on_mixed_values_and_memory);
    tcase_add_test(t, bswap_sizes);
    tcase_add_test(t, setcc_all_conditions);
    tcase_add_test(t, setcc_after_arithmetic);
    tcase_add_test(t, cmovcc_all_conditions);
    tcase_add_test(t, cmovcc_reads_memory_even_when_false);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
