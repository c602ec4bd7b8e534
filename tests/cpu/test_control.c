/*
 * test_control.c — the control transfer family (cpu/cpu_control.c): Jcc,
 * JMP, CALL, RET, LOOP/LOOPcc, JRCXZ, CLC/STC/CMC/CLD/STD, NOPs and the FF
 * group digits 2..7.
 *
 * Code is assembled with GNU as linked at CPU_HARNESS_CODE, so labels in
 * the assembly beside each line are the guest addresses. The comparison
 * with the host CPU is in test_control_diff.c.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_fixture.h"

#define DATA 0x200000u
#define NONCANON 0x0000800000000000ull

/* Runs code loaded at its own address (so no test depends on rewritten
 * code being re-decoded) from a fresh stack and RFLAGS; returns the vector
 * delivered, or -1. */
static int run_at(uint64_t at, const uint8_t *code, size_t len)
{
    cpu_harness_load(&h, at, code, len);
    c->halted = 0;
    c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
    cpu_set_rflags(c, CPU_FL_FIXED1);
    c->rip = at;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100000), CPU_STOP_HALT);
    return cpu_harness_vector(&h);
}

/* ---- Jcc --------------------------------------------------------------------- */

/* Reference for the 16 conditions after CMP a, b at 64 bits (SDM Vol. 1
 * appendix B), computed independently of the interpreter. */
static bool ref_cond(uint64_t a, uint64_t b, unsigned cc)
{
    uint64_t r = a - b;
    bool cf = a < b, zf = r == 0, sf = (r >> 63) != 0;
    bool of = (((a ^ b) & (a ^ r)) >> 63) != 0;
    bool pf = !__builtin_parity((unsigned)(r & 0xFF));
    bool v;
    switch (cc >> 1) {
    case 0: v = of; break;
    case 1: v = cf; break;
    case 2: v = zf; break;
    case 3: v = cf || zf; break;
    case 4: v = sf; break;
    case 5: v = pf; break;
    case 6: v = sf != of; break;
    default: v = zf || sf != of; break;
    }
    return v != (cc & 1);
}

/* Builds: mov rax, a; mov rbx, b; xor ecx, ecx; cmp rax, rbx;
 * [pushfq; popfq]; jcc +2; mov cl, 1; hlt. */
static size_t build_jcc(uint8_t *p, uint64_t a, uint64_t b, unsigned cc, bool rel32,
                        bool materialise)
{
    size_t n = 0;
    p[n++] = 0x48; /* mov rax, imm64 */
    p[n++] = 0xB8;
    memcpy(p + n, &a, 8);
    n += 8;
    p[n++] = 0x48; /* mov rbx, imm64 */
    p[n++] = 0xBB;
    memcpy(p + n, &b, 8);
    n += 8;
    p[n++] = 0x31; /* xor ecx, ecx */
    p[n++] = 0xC9;
    p[n++] = 0x48; /* cmp rax, rbx */
    p[n++] = 0x39;
    p[n++] = 0xD8;
    if (materialise) {
        p[n++] = 0x9C; /* pushfq */
        p[n++] = 0x9D; /* popfq: the flags now live in RFLAGS, not lazily */
    }
    if (rel32) {
        p[n++] = 0x0F; /* jcc rel32 +2 */
        p[n++] = (uint8_t)(0x80 + cc);
        p[n++] = 2;
        p[n++] = 0;
        p[n++] = 0;
        p[n++] = 0;
    } else {
        p[n++] = (uint8_t)(0x70 + cc); /* jcc rel8 +2 */
        p[n++] = 2;
    }
    p[n++] = 0xB1; /* mov cl, 1 */
    p[n++] = 1;
    p[n++] = 0xF4; /* hlt */
    return n;
}

START_TEST(jcc_all_conditions)
{
    static const uint64_t pairs[][2] = {
        {0, 0}, {1, 2}, {2, 1}, {0x8000000000000000ull, 1}, {0x7FFFFFFFFFFFFFFFull, ~0ull},
        {~0ull, 1}, {3, 0}, {7, 0}, {5, 5},
    };
    unsigned taken[16] = {0}, not_taken[16] = {0}, slot = 0;
    for (unsigned form = 0; form < 4; form++) {
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            for (unsigned cc = 0; cc < 16; cc++) {
                uint8_t code[64];
                size_t n = build_jcc(code, pairs[k][0], pairs[k][1], cc, form & 1, form & 2);
                ck_assert_int_eq(run_at(CPU_HARNESS_CODE + 0x10000 + 64 * slot++, code, n), -1);
                bool expect = ref_cond(pairs[k][0], pairs[k][1], cc);
                ck_assert_msg((c->gpr[CPU_RCX] == 0) == expect,
                              "cc %u form %u: %llx vs %llx: expected %s", cc, form,
                              (unsigned long long)pairs[k][0], (unsigned long long)pairs[k][1],
                              expect ? "taken" : "not taken");
                if (expect)
                    taken[cc]++;
                else
                    not_taken[cc]++;
            }
        }
    }
    /* every condition was seen both ways */
    for (unsigned cc = 0; cc < 16; cc++)
        ck_assert(taken[cc] > 0 && not_taken[cc] > 0);
}
END_TEST

START_TEST(jnz_backward_loop)
{
    static const uint8_t code[] = {
        0xb9, 0x0a, 0x00, 0x00, 0x00, /* mov ecx, 10 */
        0x31, 0xc0, /* xor eax, eax */
        0x83, 0xc0, 0x03, /* 1: add eax, 3 */
        0xff, 0xc9, /* dec ecx */
        0x75, 0xf9, /* jnz 1b */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 30);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
}
END_TEST

START_TEST(jcc_rel32_backward_and_66)
{
    /* 0F 85 with a negative rel32; 66 is ignored by near branches in
     * 64-bit mode (Intel), so 66 E9 still takes a rel32. */
    static const uint8_t code[] = {
        0xb9, 0x03, 0x00, 0x00, 0x00, /* mov ecx, 3 */
        0x31, 0xc0, /* xor eax, eax */
        0xff, 0xc0, /* 1: inc eax */
        0xff, 0xc9, /* dec ecx */
        0x0f, 0x85, 0xf6, 0xff, 0xff, 0xff, /* jnz rel32 back to the inc (-10) */
        0x66, 0xe9, 0x02, 0x00, 0x00, 0x00, /* data16 jmp rel32 +2 */
        0xb3, 0x01, /* mov bl, 1 */
        0xf4, /* hlt */
    };
    c->gpr[CPU_RBX] = 0;
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 3);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0);
}
END_TEST

/* ---- JMP ---------------------------------------------------------------------------- */

START_TEST(jmp_forms)
{
    static const uint8_t code[] = {
        0x31, 0xdb, /* xor ebx, ebx */
        0xeb, 0x03, /* jmp 1f */
        0x80, 0xcb, 0x01, /* or bl, 1 */
        0xe9, /* 1: .byte 0xe9 */
        0x03, 0x00, 0x00, 0x00, /* .long 2f - . - 4 */
        0x80, 0xcb, 0x02, /* or bl, 2 */
        0x48, 0x8d, 0x05, 0x05, 0x00, 0x00, 0x00, /* 2: lea rax, [rip+3f] */
        0xff, 0xe0, /* jmp rax */
        0x80, 0xcb, 0x04, /* or bl, 4 */
        0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x31, 0x00, 0x10, 0x00, /* 3: mov qword ptr [DATA_ADDR], offset 4f */
        0xff, 0x24, 0x25, 0x00, 0x00, 0x20, 0x00, /* jmp qword ptr [DATA_ADDR] */
        0x80, 0xcb, 0x08, /* or bl, 8 */
        0xff, 0x25, 0x09, 0x00, 0x00, 0x00, /* 4: jmp qword ptr [rip+5f] */
        0x80, 0xcb, 0x10, /* or bl, 16 */
        0xf4, /* 6: hlt */
        0x0f, 0x1f, 0x44, 0x00, 0x00, /* .p2align 3 */
        0x3a, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, /* 5: .quad 6b */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0);
}
END_TEST

START_TEST(jmp_noncanonical_gp)
{
    static const uint8_t code[] = {
        0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, /* movabs rax, 0x0000800000000000 */
        0xff, 0xe0, /* jmp rax */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_GP);
    ck_assert_uint_eq(frame(0), 0);
    ck_assert_uint_eq(frame(1), CPU_HARNESS_CODE + 10); /* the JMP faults, not the target */
}
END_TEST

START_TEST(jmp_rel_noncanonical_gp)
{
    /* code placed at the top of the canonical lower half: a forward jump
     * leaves it */
    static const uint8_t code[] = {
        0xe9, 0x00, 0x01, 0x00, 0x00, /* jmp rel32 +0x100 from near 0x7fffffffffff */
    };
    /* Map the last 2 MiB of the lower half: PML4[255] -> PDPT at 0x9000,
     * PDPT[511] -> PD at 0xA000, PD[511] -> 2 MiB page at physical 0x400000. */
    poke(0x1000 + 255 * 8, 0x9000 | 7, 8);
    poke(0x9000 + 511 * 8, 0xA000 | 7, 8);
    poke(0xA000 + 511 * 8, 0x400000 | 0x87, 8);
    cpu_tlb_flush(c);
    uint64_t at = 0x00007FFFFFFFFFF0ull;
    ck_assert(cpu_phys_write(&h.phys, 0x400000 + (at & 0x1FFFFF), code, sizeof code));
    c->rip = at;
    cpu_run(c, UINT64_MAX, 10);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(frame(1), at);
}
END_TEST

/* ---- CALL, RET ------------------------------------------------------------------------- */

START_TEST(call_ret_near)
{
    static const uint8_t code[] = {
        0xe8, 0x07, 0x00, 0x00, 0x00, /* call 1f */
        0x49, 0x89, 0xc0, /* mov r8, rax */
        0x49, 0x89, 0xe1, /* mov r9, rsp */
        0xf4, /* hlt */
        0x48, 0x8b, 0x04, 0x24, /* 1: mov rax, [rsp] */
        0x48, 0x89, 0xe2, /* mov rdx, rsp */
        0xc3, /* ret */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_R8], CPU_HARNESS_CODE + 5); /* return address = next insn */
    ck_assert_uint_eq(c->gpr[CPU_RDX], CPU_HARNESS_STACK - 8);
    ck_assert_uint_eq(c->gpr[CPU_R9], CPU_HARNESS_STACK);
}
END_TEST

START_TEST(ret_imm16)
{
    static const uint8_t code[] = {
        0x6a, 0x01, /* push 1 */
        0x6a, 0x02, /* push 2 */
        0xe8, 0x04, 0x00, 0x00, 0x00, /* call 1f */
        0x48, 0x89, 0xe3, /* mov rbx, rsp */
        0xf4, /* hlt */
        0xc2, 0x10, 0x00, /* 1: ret 16 */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], CPU_HARNESS_STACK);
}
END_TEST

START_TEST(call_indirect)
{
    static const uint8_t code[] = {
        0x31, 0xdb, /* xor ebx, ebx */
        0x48, 0x8d, 0x05, 0x23, 0x00, 0x00, 0x00, /* lea rax, [rip+1f] */
        0xff, 0xd0, /* call rax */
        0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x30, 0x00, 0x10, 0x00, /* mov qword ptr [DATA_ADDR], offset 2f */
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, offset DATA_ADDR */
        0x4c, 0x8d, 0x15, 0x02, 0x00, 0x00, 0x00, /* lea r10, [rip+5f] */
        0xff, 0x16, /* call qword ptr [rsi] */
        0xff, 0x15, 0x15, 0x00, 0x00, 0x00, /* 5: call qword ptr [rip+4f] */
        0xf4, /* hlt */
        0x80, 0xc3, 0x01, /* 1: add bl, 1 */
        0xc3, /* ret */
        0x80, 0xc3, 0x02, /* 2: add bl, 2 */
        0x48, 0x8b, 0x3c, 0x24, /* mov rdi, [rsp] */
        0xc3, /* ret */
        0x80, 0xc3, 0x04, /* 3: add bl, 4 */
        0xc3, /* ret */
        0x0f, 0x1f, 0x40, 0x00, /* .p2align 3 */
        0x38, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, /* 4: .quad 3b */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 7);
    /* the pushed return address is the instruction after CALL [RSI] */
    ck_assert_uint_eq(c->gpr[CPU_RDI], c->gpr[CPU_R10]);
    ck_assert_uint_eq(c->gpr[CPU_RSP], CPU_HARNESS_STACK);
}
END_TEST

START_TEST(call_through_rsp_memory)
{
    /* CALL [RSP] reads the target before pushing */
    static const uint8_t code[] = {
        0x48, 0x8d, 0x05, 0x0c, 0x00, 0x00, 0x00, /* lea rax, [rip+1f] */
        0x50, /* push rax */
        0x4c, 0x8d, 0x15, 0x03, 0x00, 0x00, 0x00, /* lea r10, [rip+2f] */
        0xff, 0x14, 0x24, /* call qword ptr [rsp] */
        0xf4, /* 2: hlt */
        0x48, 0x8b, 0x1c, 0x24, /* 1: mov rbx, [rsp] */
        0x48, 0x8b, 0x4c, 0x24, 0x08, /* mov rcx, [rsp+8] */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], c->gpr[CPU_R10]); /* return address */
    ck_assert_uint_eq(c->gpr[CPU_RCX], c->gpr[CPU_RAX]); /* the old stack top, the target */
    ck_assert_uint_eq(c->gpr[CPU_RSP], CPU_HARNESS_STACK - 16);
}
END_TEST

START_TEST(call_noncanonical_keeps_rsp)
{
    static const uint8_t code[] = {
        0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, /* movabs rax, 0x0000800000000000 */
        0xff, 0xd0, /* call rax */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_GP);
    ck_assert_uint_eq(frame(1), CPU_HARNESS_CODE + 10);
    ck_assert_uint_eq(frame(4), CPU_HARNESS_STACK); /* nothing was pushed */
}
END_TEST

START_TEST(ret_noncanonical_keeps_rsp)
{
    static const uint8_t code[] = {
        0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, /* movabs rax, 0x0000800000000000 */
        0x50, /* push rax */
        0xc3, /* ret */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_GP);
    ck_assert_uint_eq(frame(1), CPU_HARNESS_CODE + 11);
    ck_assert_uint_eq(frame(4), CPU_HARNESS_STACK - 8);
}
END_TEST

START_TEST(push_rm_forms)
{
    static const uint8_t code[] = {
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, offset DATA_ADDR */
        0xff, 0x36, /* push qword ptr [rsi] */
        0xff, 0x34, 0x24, /* push qword ptr [rsp] */
        0x66, 0xff, 0x76, 0x08, /* push word ptr [rsi+8] */
        0x66, 0x58, /* pop ax */
        0x5b, /* pop rbx */
        0x59, /* pop rcx */
        0xf4, /* hlt */
    };
    poke(DATA, 0x1122334455667788ull, 8);
    poke(DATA + 8, 0xAABBull, 8);
    c->gpr[CPU_RAX] = ~0ull;
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFFFFFAABBull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x1122334455667788ull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x1122334455667788ull);
    ck_assert_uint_eq(c->gpr[CPU_RSP], CPU_HARNESS_STACK);
}
END_TEST

START_TEST(grp5_invalid_and_far)
{
    static const uint8_t ud[] = {
        0xff, 0xf8, /* ff /7 */
        0xf4, /* hlt */
    };
    run_fault(ud, sizeof ud, CPU_EXC_UD);
    ck_assert_uint_eq(c->unimplemented_count, 0);
}
END_TEST

/* Far CALL/JMP through memory run in 64-bit mode (tests/cpu/test_compat.c
 * for the transfers): a null selector is #GP(0) (SDM Vol. 2 "CALL"), and
 * the register forms are #UD; neither is reported as unimplemented. */
START_TEST(grp5_far_unimplemented)
{
    static const uint8_t far[] = {
        0xff, 0x1e, /* call fword ptr [rsi] */
        0xf4, /* hlt */
    };
    static const uint8_t far_reg[] = {
        0xff, 0xd8, /* ff /3 with a register operand */
        0xf4, /* hlt */
    };
    c->gpr[CPU_RSI] = DATA;
    run_fault(far, sizeof far, CPU_EXC_GP);
    ck_assert_uint_eq(frame(0), 0);
    ck_assert_uint_eq(frame(1), CPU_HARNESS_CODE);
    ck_assert_int_eq(run_at(CPU_HARNESS_CODE + 0x1000, far_reg, sizeof far_reg), CPU_EXC_UD);
    ck_assert_uint_eq(c->unimplemented_count, 0);
}
END_TEST

START_TEST(far_direct_invalid)
{
    static const uint8_t call_far[] = {
        0x9a, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, /* call far ptr16:32 (invalid in 64-bit mode) */
        0xf4, /* hlt */
    };
    static const uint8_t jmp_far[] = {
        0xea, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, /* jmp far ptr16:32 (invalid in 64-bit mode) */
        0xf4, /* hlt */
    };
    run_fault(call_far, sizeof call_far, CPU_EXC_UD);
    ck_assert_uint_eq(frame(0), CPU_HARNESS_CODE);
    ck_assert_int_eq(run_at(CPU_HARNESS_CODE + 0x1000, jmp_far, sizeof jmp_far), CPU_EXC_UD);
    ck_assert_uint_eq(c->unimplemented_count, 0);
}
END_TEST

START_TEST(grp5_lock_ud)
{
    static const uint8_t code[] = {
        0xf0, 0xff, 0x26, /* lock jmp [rsi] */
        0xf4, /* hlt */
    };
    c->gpr[CPU_RSI] = DATA;
    run_fault(code, sizeof code, CPU_EXC_UD);
}
END_TEST

/* ---- LOOP, JRCXZ ------------------------------------------------------------------------- */

START_TEST(loop_counts)
{
    static const uint8_t code[] = {
        0xb9, 0x05, 0x00, 0x00, 0x00, /* mov ecx, 5 */
        0x31, 0xc0, /* xor eax, eax */
        0xff, 0xc0, /* 1: inc eax */
        0xe2, 0xfc, /* loop 1b */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 5);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
}
END_TEST

/* LOOP at offset 0 with target +2 (skipping "mov bl, 1"); bl = 2 when taken. */
static const uint8_t loop_probe[] = {
        0xe2, 0x03, /* loop 1f */
        0xb3, 0x01, /* mov bl, 1 */
        0xf4, /* hlt */
        0xb3, 0x02, /* 1: mov bl, 2 */
        0xf4, /* hlt */
};

static const uint8_t loop32_probe[] = {
        0x67, 0xe2, 0x03, /* addr32 loop 1f */
        0xb3, 0x01, /* mov bl, 1 */
        0xf4, /* hlt */
        0xb3, 0x02, /* 1: mov bl, 2 */
        0xf4, /* hlt */
};

START_TEST(loop_rcx_one_falls_through)
{
    c->gpr[CPU_RCX] = 1;
    run(loop_probe, sizeof loop_probe);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFF, 1);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
}
END_TEST

START_TEST(loop_rcx_zero_wraps)
{
    c->gpr[CPU_RCX] = 0;
    run(loop_probe, sizeof loop_probe);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFF, 2);
    ck_assert_uint_eq(c->gpr[CPU_RCX], ~0ull);
}
END_TEST

START_TEST(loop_ecx_address_size)
{
    /* 67: the count is ECX; RCX = 1_0000_0000 has ECX = 0, which wraps to
     * FFFFFFFF, written back as a 32-bit register (upper half cleared). */
    c->gpr[CPU_RCX] = 0x100000000ull;
    run(loop32_probe, sizeof loop32_probe);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFF, 2);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0xFFFFFFFFull);
}
END_TEST

START_TEST(loop_ecx_one)
{
    c->gpr[CPU_RCX] = 0x500000001ull;
    run(loop32_probe, sizeof loop32_probe);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFF, 1);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);
}
END_TEST

START_TEST(loope_loopne)
{
    static const uint8_t code[] = {
        0x39, 0xc0, /* cmp eax, eax */
        0xb9, 0x01, 0x00, 0x00, 0x00, /* mov ecx, 1 */
        0xe2, 0x00, /* loop 9f */
        0x9c, /* 9: pushfq */
        0x41, 0x58, /* pop r8 */
        0x31, 0xdb, /* xor ebx, ebx */
        0xb9, 0x03, 0x00, 0x00, 0x00, /* mov ecx, 3 */
        0x39, 0xc0, /* cmp eax, eax */
        0xe1, 0x03, /* loope 1f */
        0x80, 0xcb, 0x01, /* or bl, 1 */
        0xe0, 0x03, /* 1: loopne 2f */
        0x80, 0xcb, 0x02, /* or bl, 2 */
        0x49, 0x89, 0xc9, /* 2: mov r9, rcx */
        0xb9, 0x05, 0x00, 0x00, 0x00, /* mov ecx, 5 */
        0x83, 0xf9, 0x01, /* cmp ecx, 1 */
        0xe1, 0x03, /* loope 3f */
        0x80, 0xcb, 0x04, /* or bl, 4 */
        0xe0, 0x03, /* 3: loopne 4f */
        0x80, 0xcb, 0x08, /* or bl, 8 */
        0xf4, /* 4: hlt */
    };
    run(code, sizeof code);
    /* ZF=1: LOOPE taken, LOOPNE not; ZF=0: LOOPE not, LOOPNE taken */
    ck_assert_uint_eq(c->gpr[CPU_RBX], 2 | 4);
    ck_assert_uint_eq(c->gpr[CPU_R9], 1);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 3);
    /* LOOP changes no flag */
    ck_assert_uint_eq(c->gpr[CPU_R8] & CPU_FL_ZF, CPU_FL_ZF);
}
END_TEST

START_TEST(jrcxz_jecxz)
{
    static const uint8_t code[] = {
        0x31, 0xdb, /* xor ebx, ebx */
        0x48, 0xb9, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* movabs rcx, 0x100000000 */
        0xe3, 0x03, /* jrcxz 1f */
        0x80, 0xcb, 0x01, /* or bl, 1 */
        0x67, 0xe3, 0x03, /* 1: jecxz 2f */
        0x80, 0xcb, 0x02, /* or bl, 2 */
        0x31, 0xc9, /* 2: xor ecx, ecx */
        0xe3, 0x03, /* jrcxz 3f */
        0x80, 0xcb, 0x04, /* or bl, 4 */
        0xf4, /* 3: hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 1);
}
END_TEST

/* ---- flag control ------------------------------------------------------------------------- */

START_TEST(flag_ops)
{
    static const uint8_t code[] = {
        0xf9, /* stc */
        0x9c, /* pushfq */
        0x41, 0x58, /* pop r8 */
        0xf8, /* clc */
        0x9c, /* pushfq */
        0x41, 0x59, /* pop r9 */
        0xb0, 0xff, /* mov al, 0xFF */
        0x04, 0x01, /* add al, 1 */
        0xf5, /* cmc */
        0x9c, /* pushfq */
        0x41, 0x5a, /* pop r10 */
        0xf5, /* cmc */
        0x9c, /* pushfq */
        0x41, 0x5b, /* pop r11 */
        0xfd, /* std */
        0x9c, /* pushfq */
        0x41, 0x5c, /* pop r12 */
        0xfc, /* cld */
        0x9c, /* pushfq */
        0x41, 0x5d, /* pop r13 */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_R8] & CPU_FL_CF, CPU_FL_CF);
    ck_assert_uint_eq(c->gpr[CPU_R9] & CPU_FL_CF, 0);
    /* CMC after ADD: CF 1 -> 0, the other flags of the ADD remain */
    ck_assert_uint_eq(c->gpr[CPU_R10] & (CPU_FL_CF | CPU_FL_ZF | CPU_FL_AF), CPU_FL_ZF | CPU_FL_AF);
    ck_assert_uint_eq(c->gpr[CPU_R11] & (CPU_FL_CF | CPU_FL_ZF), CPU_FL_CF | CPU_FL_ZF);
    ck_assert_uint_eq(c->gpr[CPU_R12] & CPU_FL_DF, CPU_FL_DF);
    ck_assert_uint_eq(c->gpr[CPU_R12] & CPU_FL_CF, CPU_FL_CF); /* STD leaves CF */
    ck_assert_uint_eq(c->gpr[CPU_R13] & CPU_FL_DF, 0);
}
END_TEST

/* ---- NOPs ----------------------------------------------------------------------------------- */

START_TEST(nop_forms)
{
    static const uint8_t code[] = {
        0x90, /* nop */
        0x0f, 0x1f, 0x00, /* nop dword ptr [rax] */
        0x0f, 0x1f, 0x44, 0x00, 0x00, /* nop dword ptr [rax+rax*1+0] */
        0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, /* nop word ptr [rax+rax*1+0] */
        0xf3, 0x0f, 0x1e, 0xfa, /* endbr64 */
        0x0f, 0x18, 0x08, /* prefetcht0 [rax] (non-canonical rax: no fault) */
        0x0f, 0x19, 0xc0, /* reserved-NOP 0f 19 /0 */
        0x0f, 0x1f, 0xc0, /* nop eax */
        0x0f, 0x0d, 0x08, /* prefetchw [rax] (non-canonical rax: no fault) */
        0xf4, /* hlt */
    };
    c->gpr[CPU_RAX] = NONCANON;
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], NONCANON);
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE + sizeof code);
}
END_TEST

START_TEST(nop_lock_ud)
{
    static const uint8_t code[] = {
        0xf0, 0x0f, 0x1f, 0x00, /* lock nop [rax] */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_UD);
}
END_TEST

static Suite *control_suite(void)
{
    Suite *s = suite_create("control");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, jcc_all_conditions);
    tcase_add_test(t, jnz_backward_loop);
    tcase_add_test(t, jcc_rel32_backward_and_66);
    tcase_add_test(t, jmp_forms);
    tcase_add_test(t, jmp_noncanonical_gp);
    tcase_add_test(t, jmp_rel_noncanonical_gp);
    tcase_add_test(t, call_ret_near);
    tcase_add_test(t, ret_imm16);
    tcase_add_test(t, call_indirect);
    tcase_add_test(t, call_through_rsp_memory);
    tcase_add_test(t, call_noncanonical_keeps_rsp);
    tcase_add_test(t, ret_noncanonical_keeps_rsp);
    tcase_add_test(t, push_rm_forms);
    tcase_add_test(t, grp5_invalid_and_far);
    tcase_add_test(t, grp5_far_unimplemented);
    tcase_add_test(t, grp5_lock_ud);
    tcase_add_test(t, far_direct_invalid);
    tcase_add_test(t, loop_counts);
    tcase_add_test(t, loop_rcx_one_falls_through);
    tcase_add_test(t, loop_rcx_zero_wraps);
    tcase_add_test(t, loop_ecx_address_size);
    tcase_add_test(t, loop_ecx_one);
    tcase_add_test(t, loope_loopne);
    tcase_add_test(t, jrcxz_jecxz);
    tcase_add_test(t, flag_ops);
    tcase_add_test(t, nop_forms);
    tcase_add_test(t, nop_lock_ud);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(control_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
