/*
 * test_transfer_xchg.c — the exchanges, compare-exchanges and byte-order
 * moves of the data transfer family (cpu/cpu_transfer.c): XCHG (the short
 * forms and NOP included), XADD, CMPXCHG, CMPXCHG8B/16B, BSWAP, MOVBE and
 * CRC32. The other moves are in test_transfer.c.
 *
 * Each test runs a few machine-code bytes (assembled with GNU as; the
 * assembly is beside each line) on the bare harness CPU and checks
 * registers, memory, flags and the delivered exception against the SDM.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "tests/support/cpu_fixture.h"

#define DATA 0x200000u /* identity-mapped RAM for data */

/* ---- XCHG, XADD, CMPXCHG ---------------------------------------------------- */

START_TEST(xchg_forms)
{
    static const uint8_t code[] = {
        0x48, 0xb8, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, /* movabs rax, 0x1111111111111111 */
        0x48, 0xbb, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* movabs rbx, 0x2222222222222222 */
        0x48, 0xb9, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, /* movabs rcx, 0x3333333333333333 */
        0x48, 0xba, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, /* movabs rdx, 0x4444444444444444 */
        0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov r8, -1 */
        0x48, 0x93, /* xchg rax, rbx */
        0x87, 0xd1, /* xchg ecx, edx */
        0x49, 0x90, /* xchg r8, rax */
        0x86, 0xe0, /* xchg al, ah */
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x48, 0xc7, 0x06, 0x55, 0x00, 0x00, 0x00, /* mov qword ptr [rsi], 0x55 */
        0x48, 0x87, 0x16, /* xchg [rsi], rdx */
        0x41, 0xb9, 0x66, 0x00, 0x00, 0x00, /* mov r9d, 0x66 */
        0xf0, 0x44, 0x86, 0x4e, 0x08, /* lock xchg [rsi+8], r9b */
        0xf4, /* hlt */
    };
    poke(DATA + 8, 0xFFFFFFFFFFFFFF77ull, 8);
    run(code, sizeof code);
    /* rax <- rbx, then r8 <-> rax, then al <-> ah on the old r8 (-1) */
    ck_assert_uint_eq(c->gpr[CPU_R8], 0x2222222222222222ull);
    ck_assert_uint_eq(c->gpr[CPU_RAX], ~0ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x1111111111111111ull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x44444444ull); /* 32-bit XCHG zero-extends both */
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0x55ull);
    ck_assert_uint_eq(peek(DATA, 8), 0x33333333ull);
    ck_assert_uint_eq(c->gpr[CPU_R9], 0x77ull);
    ck_assert_uint_eq(peek(DATA + 8, 8), 0xFFFFFFFFFFFFFF66ull);
}
END_TEST

START_TEST(xchg_ah_al)
{
    static const uint8_t code[] = {
        0xb8, 0x34, 0x12, 0x00, 0x00, /* mov eax, 0x1234 */
        0x86, 0xe0, /* xchg al, ah */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x3412ull);
}
END_TEST

START_TEST(xchg_short_forms_and_nop)
{
    /* 90 is NOP: it does not zero-extend EAX; 87 C0 (xchg eax, eax) does.
     * 41 90 is xchg eax, r8d and 49 90 xchg rax, r8. */
    static const uint8_t code[] = {
        0x48, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xaa, 0xaa, 0xaa, 0xaa, /* movabs rax, 0xAAAAAAAA00000001 */
        0x49, 0x89, 0xc0, /* mov r8, rax */
        0x49, 0xc7, 0xc1, 0xfe, 0xff, 0xff, 0xff, /* mov r9, -2 */
        0x90, /* nop (90) */
        0x48, 0x90, /* rex.w nop */
        0x66, 0x90, /* xchg ax, ax (nop) */
        0x48, 0x89, 0xc3, /* mov rbx, rax */
        0x87, 0xc0, /* xchg eax, eax (87 form: zero-extends) */
        0x48, 0x89, 0xc1, /* mov rcx, rax */
        0x48, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xaa, 0xaa, 0xaa, 0xaa, /* movabs rax, 0xAAAAAAAA00000001 */
        0x41, 0x90, /* xchg eax, r8d */
        0x48, 0x89, 0xc2, /* mov rdx, rax */
        0x48, 0xc7, 0xc0, 0x05, 0x00, 0x00, 0x00, /* mov rax, 5 */
        0x49, 0x91, /* xchg r9, rax */
        0x93, /* xchg ebx, eax */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x00000001ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0x00000001ull);
    ck_assert_uint_eq(c->gpr[CPU_R8], 0x00000001ull);
    ck_assert_uint_eq(c->gpr[CPU_R9], 5ull);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x00000001ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0xFFFFFFFEull);
}
END_TEST

START_TEST(xchg_nop_keeps_rax)
{
    static const uint8_t code[] = {
        0x48, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xaa, 0xaa, 0xaa, 0xaa, /* movabs rax, 0xAAAAAAAA00000001 */
        0x90, /* nop (90) */
        0x48, 0x90, /* rex.w nop */
        0xf3, 0x90, /* pause */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xAAAAAAAA00000001ull);
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE + sizeof code);
}
END_TEST

START_TEST(xadd_register_and_memory)
{
    static const uint8_t code[] = {
        0xb8, 0xff, 0xff, 0xff, 0x7f, /* mov eax, 0x7FFFFFFF */
        0xbb, 0x01, 0x00, 0x00, 0x00, /* mov ebx, 1 */
        0x0f, 0xc1, 0xd8, /* xadd eax, ebx */
        0x9c, /* pushfq */
        0x41, 0x58, /* pop r8 */
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x48, 0xc7, 0x06, 0xff, 0xff, 0xff, 0xff, /* mov qword ptr [rsi], -1 */
        0x48, 0xc7, 0xc1, 0x02, 0x00, 0x00, 0x00, /* mov rcx, 2 */
        0xf0, 0x48, 0x0f, 0xc1, 0x0e, /* lock xadd [rsi], rcx */
        0x9c, /* pushfq */
        0x41, 0x59, /* pop r9 */
        0xb2, 0x80, /* mov dl, 0x80 */
        0xb6, 0x80, /* mov dh, 0x80 */
        0x0f, 0xc0, 0xf2, /* xadd dl, dh */
        0x9c, /* pushfq */
        0x41, 0x5a, /* pop r10 */
        0xbf, 0x03, 0x00, 0x00, 0x00, /* mov edi, 3 */
        0x0f, 0xc1, 0xff, /* xadd edi, edi */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x80000000ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x7FFFFFFFull);
    ck_assert_uint_eq(c->gpr[CPU_R8] & (CPU_FL_OF | CPU_FL_SF | CPU_FL_CF | CPU_FL_ZF), CPU_FL_OF | CPU_FL_SF);
    ck_assert_uint_eq(peek(DATA, 8), 1ull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], ~0ull);
    ck_assert_uint_eq(c->gpr[CPU_R9] & (CPU_FL_OF | CPU_FL_SF | CPU_FL_CF | CPU_FL_ZF), CPU_FL_CF);
    ck_assert_uint_eq(c->gpr[CPU_RDX] & 0xFFFF, 0x8000ull); /* dh = old dl, dl = 0 */
    ck_assert_uint_eq(c->gpr[CPU_R10] & (CPU_FL_OF | CPU_FL_CF | CPU_FL_ZF), CPU_FL_OF | CPU_FL_CF | CPU_FL_ZF);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 6ull); /* same register: the sum wins */
}
END_TEST

START_TEST(cmpxchg_success_and_failure)
{
    static const uint8_t code[] = {
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x48, 0xb8, 0x10, 0x00, 0x00, 0x00, 0xaa, 0xaa, 0xaa, 0xaa, /* movabs rax, 0xAAAAAAAA00000010 */
        0xbb, 0x99, 0x00, 0x00, 0x00, /* mov ebx, 0x99 */
        0xf0, 0x0f, 0xb1, 0x1e, /* lock cmpxchg [rsi], ebx */
        0x9c, /* pushfq */
        0x41, 0x58, /* pop r8 */
        0x49, 0x89, 0xc1, /* mov r9, rax */
        0x48, 0xb8, 0x05, 0x00, 0x00, 0x00, 0xaa, 0xaa, 0xaa, 0xaa, /* movabs rax, 0xAAAAAAAA00000005 */
        0xf0, 0x0f, 0xb1, 0x5e, 0x08, /* lock cmpxchg [rsi+8], ebx */
        0x9c, /* pushfq */
        0x41, 0x5a, /* pop r10 */
        0x49, 0x89, 0xc3, /* mov r11, rax */
        0x48, 0xb8, 0x07, 0x00, 0x00, 0x00, 0xbb, 0xbb, 0xbb, 0xbb, /* movabs rax, 0xBBBBBBBB00000007 */
        0x48, 0xba, 0x07, 0x00, 0x00, 0x00, 0xcc, 0xcc, 0xcc, 0xcc, /* movabs rdx, 0xCCCCCCCC00000007 */
        0xb9, 0x42, 0x00, 0x00, 0x00, /* mov ecx, 0x42 */
        0x0f, 0xb1, 0xca, /* cmpxchg edx, ecx */
        0x49, 0x89, 0xc4, /* mov r12, rax */
        0x49, 0x89, 0xd5, /* mov r13, rdx */
        0x48, 0xba, 0x09, 0x00, 0x00, 0x00, 0xcc, 0xcc, 0xcc, 0xcc, /* movabs rdx, 0xCCCCCCCC00000009 */
        0x0f, 0xb1, 0xca, /* cmpxchg edx, ecx */
        0x9c, /* pushfq */
        0x41, 0x5e, /* pop r14 */
        0x49, 0x89, 0xd7, /* mov r15, rdx */
        0xb0, 0x01, /* mov al, 1 */
        0xb3, 0x01, /* mov bl, 1 */
        0xb7, 0x03, /* mov bh, 3 */
        0x0f, 0xb0, 0xfb, /* cmpxchg bl, bh */
        0xf4, /* hlt */
    };
    poke(DATA, 0x10, 8);
    poke(DATA + 8, 0x20, 8);
    run(code, sizeof code);
    /* success: ZF=1, destination = source, the accumulator untouched */
    ck_assert_uint_eq(peek(DATA, 8), 0x99ull);
    ck_assert_uint_eq(c->gpr[CPU_R8] & CPU_FL_ZF, CPU_FL_ZF);
    ck_assert_uint_eq(c->gpr[CPU_R9], 0xAAAAAAAA00000010ull);
    /* failure: ZF=0, CF from 5 - 0x20, EAX loaded (zero-extended),
     * memory rewritten with its own value */
    ck_assert_uint_eq(peek(DATA + 8, 8), 0x20ull);
    ck_assert_uint_eq(c->gpr[CPU_R10] & (CPU_FL_ZF | CPU_FL_CF | CPU_FL_SF), CPU_FL_CF | CPU_FL_SF);
    ck_assert_uint_eq(c->gpr[CPU_R11], 0x20ull);
    /* register destination: success writes the destination (zero-extended) */
    ck_assert_uint_eq(c->gpr[CPU_R12], 0xBBBBBBBB00000007ull);
    ck_assert_uint_eq(c->gpr[CPU_R13], 0x42ull);
    /* failure: the destination register keeps its upper half, EAX gets it */
    ck_assert_uint_eq(c->gpr[CPU_R15], 0xCCCCCCCC00000009ull);
    ck_assert_uint_eq(c->gpr[CPU_R14] & CPU_FL_ZF, 0);
    /* byte form: AL=1 equals BL=1, so BL = BH */
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFFFF, 0x0303ull);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x01ull);
}
END_TEST

START_TEST(cmpxchg8b_16b)
{
    static const uint8_t code[] = {
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x48, 0xba, 0x11, 0x11, 0x11, 0x11, 0xff, 0xff, 0xff, 0xff, /* movabs rdx, 0xFFFFFFFF11111111 */
        0x48, 0xb8, 0x22, 0x22, 0x22, 0x22, 0xff, 0xff, 0xff, 0xff, /* movabs rax, 0xFFFFFFFF22222222 */
        0xb9, 0x33, 0x33, 0x33, 0x33, /* mov ecx, 0x33333333 */
        0xbb, 0x44, 0x44, 0x44, 0x44, /* mov ebx, 0x44444444 */
        0xf0, 0x0f, 0xc7, 0x0e, /* lock cmpxchg8b [rsi] */
        0x9c, /* pushfq */
        0x41, 0x58, /* pop r8 */
        0xf0, 0x0f, 0xc7, 0x4e, 0x08, /* lock cmpxchg8b [rsi+8] */
        0x9c, /* pushfq */
        0x41, 0x59, /* pop r9 */
        0x49, 0x89, 0xc2, /* mov r10, rax */
        0x49, 0x89, 0xd3, /* mov r11, rdx */
        0x48, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00, /* mov rax, 1 */
        0x48, 0xc7, 0xc2, 0x02, 0x00, 0x00, 0x00, /* mov rdx, 2 */
        0x48, 0xc7, 0xc3, 0x03, 0x00, 0x00, 0x00, /* mov rbx, 3 */
        0x48, 0xc7, 0xc1, 0x04, 0x00, 0x00, 0x00, /* mov rcx, 4 */
        0xf0, 0x48, 0x0f, 0xc7, 0x4e, 0x10, /* lock cmpxchg16b [rsi+16] */
        0x9c, /* pushfq */
        0x41, 0x5c, /* pop r12 */
        0xf0, 0x48, 0x0f, 0xc7, 0x4e, 0x20, /* lock cmpxchg16b [rsi+32] */
        0x9c, /* pushfq */
        0x41, 0x5d, /* pop r13 */
        0xf4, /* hlt */
    };
    poke(DATA, 0x1111111122222222ull, 8);
    poke(DATA + 8, 0x5555555566666666ull, 8);
    poke(DATA + 16, 1, 8);
    poke(DATA + 24, 2, 8);
    poke(DATA + 32, 7, 8);
    poke(DATA + 40, 8, 8);
    run(code, sizeof code);
    ck_assert_uint_eq(peek(DATA, 8), 0x3333333344444444ull);
    ck_assert_uint_eq(c->gpr[CPU_R8] & CPU_FL_ZF, CPU_FL_ZF);
    ck_assert_uint_eq(c->gpr[CPU_R9] & CPU_FL_ZF, 0);
    ck_assert_uint_eq(peek(DATA + 8, 8), 0x5555555566666666ull);
    ck_assert_uint_eq(c->gpr[CPU_R10], 0x66666666ull); /* EDX:EAX loaded, zero-extended */
    ck_assert_uint_eq(c->gpr[CPU_R11], 0x55555555ull);
    ck_assert_uint_eq(peek(DATA + 16, 8), 3ull);
    ck_assert_uint_eq(peek(DATA + 24, 8), 4ull);
    ck_assert_uint_eq(c->gpr[CPU_R12] & CPU_FL_ZF, CPU_FL_ZF);
    ck_assert_uint_eq(c->gpr[CPU_R13] & CPU_FL_ZF, 0);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 7ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 8ull);
    ck_assert_uint_eq(peek(DATA + 32, 8), 7ull);
}
END_TEST

START_TEST(cmpxchg8b_keeps_other_flags)
{
    /* Only ZF changes: CF and SF from the STC/arith before survive. */
    static const uint8_t code[] = {
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x31, 0xc0, /* xor eax, eax */
        0x31, 0xd2, /* xor edx, edx */
        0xb8, 0x80, 0x00, 0x00, 0x00, /* mov eax, 0x80 */
        0x00, 0xc0, /* add al, al */
        0x0f, 0xc7, 0x0e, /* cmpxchg8b [rsi] */
        0x9c, /* pushfq */
        0x41, 0x58, /* pop r8 */
        0xf4, /* hlt */
    };
    poke(DATA, 0x99, 8);
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_R8] & (CPU_FL_CF | CPU_FL_ZF | CPU_FL_OF), CPU_FL_CF | CPU_FL_OF);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x99ull);
}
END_TEST

START_TEST(cmpxchg16b_misaligned_gp)
{
    static const uint8_t code[] = {
        0xbe, 0x08, 0x00, 0x20, 0x00, /* mov esi, 0x200008 */
        0x48, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00, /* mov rax, 1 */
        0x48, 0xc7, 0xc2, 0x02, 0x00, 0x00, 0x00, /* mov rdx, 2 */
        0xf0, 0x48, 0x0f, 0xc7, 0x0e, /* lock cmpxchg16b [rsi] */
        0xf4, /* hlt */
    };
    poke(DATA + 8, 1, 8);
    poke(DATA + 16, 2, 8);
    run_fault(code, sizeof code, CPU_EXC_GP);
    ck_assert_uint_eq(frame(0), 0);
    ck_assert_uint_eq(frame(1), CPU_HARNESS_CODE + 19); /* the faulting instruction */
    ck_assert_uint_eq(peek(DATA + 8, 8), 1ull);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 1ull);
}
END_TEST

START_TEST(cmpxchg8b_register_ud)
{
    static const uint8_t code[] = {
        0x0f, 0xc7, 0xc8, /* cmpxchg8b with a register operand */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_UD);
    ck_assert_uint_eq(frame(0), CPU_HARNESS_CODE);
}
END_TEST

/* ---- BSWAP, MOVBE, CRC32 ------------------------------------------------------ */

START_TEST(bswap_movbe)
{
    static const uint8_t code[] = {
        0x48, 0xb8, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* movabs rax, 0x0102030405060708 */
        0x48, 0x89, 0xc3, /* mov rbx, rax */
        0x48, 0x0f, 0xc8, /* bswap rax */
        0x0f, 0xcb, /* bswap ebx */
        0x49, 0x89, 0xd9, /* mov r9, rbx */
        0x66, 0x41, 0x0f, 0xc9, /* bswap r9w */
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x0f, 0x38, 0xf0, 0x0e, /* movbe ecx, [rsi] */
        0x48, 0x0f, 0x38, 0xf1, 0x46, 0x08, /* movbe [rsi+8], rax */
        0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff, /* mov rdx, -1 */
        0x66, 0x0f, 0x38, 0xf0, 0x16, /* movbe dx, [rsi] */
        0x4c, 0x0f, 0x38, 0xf0, 0x06, /* movbe r8, [rsi] */
        0xf4, /* hlt */
    };
    c->gpr[CPU_R9] = 0;
    poke(DATA, 0x11223344AABBCCDDull, 8);
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x0807060504030201ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x08070605ull);
    /* BSWAP r16 is undefined; Intel (and we) clear the 16-bit register */
    ck_assert_uint_eq(c->gpr[CPU_R9], 0x08070000ull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0xDDCCBBAAull);
    ck_assert_uint_eq(peek(DATA + 8, 8), 0x0102030405060708ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0xFFFFFFFFFFFFDDCCull);
    ck_assert_uint_eq(c->gpr[CPU_R8], 0xDDCCBBAA44332211ull);
}
END_TEST

START_TEST(movbe_register_ud)
{
    static const uint8_t code[] = {
        0x0f, 0x38, 0xf0, 0xc1, /* movbe eax, ecx (register form) */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_UD);
}
END_TEST

START_TEST(crc32c_check_value)
{
    /* CRC-32C of "123456789" is E3069283 (init ~0, final ~): the
     * catalogue check value of the Castagnoli polynomial. */
    static const uint8_t code[] = {
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0xb8, 0xff, 0xff, 0xff, 0xff, /* mov eax, -1 */
        0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x06, /* crc32 rax, qword ptr [rsi] */
        0xf2, 0x0f, 0x38, 0xf0, 0x46, 0x08, /* crc32 eax, byte ptr [rsi+8] */
        0xf7, 0xd0, /* not eax */
        0xbb, 0xff, 0xff, 0xff, 0xff, /* mov ebx, -1 */
        0xb9, 0x31, 0x32, 0x33, 0x34, /* mov ecx, 0x34333231 */
        0xf2, 0x0f, 0x38, 0xf1, 0xd9, /* crc32 ebx, ecx */
        0x66, 0xba, 0x35, 0x36, /* mov dx, 0x3635 */
        0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xda, /* crc32 ebx, dx */
        0xb2, 0x37, /* mov dl, 0x37 */
        0xf2, 0x0f, 0x38, 0xf0, 0xda, /* crc32 ebx, dl */
        0x66, 0xba, 0x38, 0x39, /* mov dx, 0x3938 */
        0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xda, /* crc32 ebx, dx */
        0xf7, 0xd3, /* not ebx */
        0xf4, /* hlt */
    };
    ck_assert(cpu_phys_write(&h.phys, DATA, "123456789", 9));
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xE3069283ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0xE3069283ull);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transfer_xchg");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, xchg_forms);
    tcase_add_test(t, xchg_ah_al);
    tcase_add_test(t, xchg_short_forms_and_nop);
    tcase_add_test(t, xchg_nop_keeps_rax);
    tcase_add_test(t, xadd_register_and_memory);
    tcase_add_test(t, cmpxchg_success_and_failure);
    tcase_add_test(t, cmpxchg8b_16b);
    tcase_add_test(t, cmpxchg8b_keeps_other_flags);
    tcase_add_test(t, cmpxchg16b_misaligned_gp);
    tcase_add_test(t, cmpxchg8b_register_ud);
    tcase_add_test(t, bswap_movbe);
    tcase_add_test(t, movbe_register_ud);
    tcase_add_test(t, crc32c_check_value);
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
