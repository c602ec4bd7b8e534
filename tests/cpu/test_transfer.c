/*
 * test_transfer.c — the data transfer family (cpu/cpu_transfer.c), register
 * and memory forms: MOV (incl. moffs and segment registers), MOVZX, MOVSX,
 * MOVSXD, LEA, XLAT, the fences, and the encodings that must raise #UD.
 * XCHG, XADD, CMPXCHG, CMPXCHG8B/16B, BSWAP, MOVBE and CRC32 are in
 * test_transfer_xchg.c, the stack instructions in test_transfer_stack.c,
 * the comparison with the host CPU in test_transfer_diff.c.
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

/* ---- MOV ---------------------------------------------------------------- */

START_TEST(mov_register_sizes)
{
    /* 32-bit destinations zero-extend, 8- and 16-bit ones merge, imm32
     * sign-extends to 64 bits (SDM Vol. 1 3.4.1.1). */
    static const uint8_t code[] = {
        0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* movabs rax, 0x1122334455667788 */
        0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff, /* mov rbx, -1 */
        0x89, 0xc3, /* mov ebx, eax */
        0x48, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, /* mov rcx, -1 */
        0x66, 0x89, 0xc1, /* mov cx, ax */
        0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff, /* mov rdx, -1 */
        0x88, 0xc2, /* mov dl, al */
        0x48, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, /* mov rsi, -1 */
        0xbe, 0x00, 0x00, 0x00, 0x80, /* mov esi, 0x80000000 */
        0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff, /* mov rdi, -1 */
        0x66, 0xbf, 0x34, 0x12, /* mov di, 0x1234 */
        0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov r8, -1 */
        0x41, 0xb0, 0x12, /* mov r8b, 0x12 */
        0x49, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, /* mov r9, -1 */
        0x45, 0x89, 0xc1, /* mov r9d, r8d */
        0x49, 0x89, 0xc2, /* mov r10, rax */
        0x49, 0xc7, 0xc4, 0xfe, 0xff, 0xff, 0xff, /* mov r12, -2 */
        0x49, 0xc7, 0xc5, 0xff, 0xff, 0xff, 0xff, /* mov r13, -1 */
        0x41, 0xbd, 0xff, 0xff, 0xff, 0xff, /* mov r13d, -1 */
        0x49, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, /* mov r14, -1 */
        0x44, 0x8b, 0xf0, /* {load} mov r14d, eax */
        0x49, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff, /* mov r15, -1 */
        0x66, 0x44, 0x8b, 0xf8, /* {load} mov r15w, ax */
        0x48, 0xc7, 0xc5, 0xff, 0xff, 0xff, 0xff, /* mov rbp, -1 */
        0x48, 0x8b, 0xe8, /* {load} mov rbp, rax */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x55667788ull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0xFFFFFFFFFFFF7788ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0xFFFFFFFFFFFFFF88ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0x80000000ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0xFFFFFFFFFFFF1234ull);
    ck_assert_uint_eq(c->gpr[CPU_R8], 0xFFFFFFFFFFFFFF12ull);
    ck_assert_uint_eq(c->gpr[CPU_R9], 0xFFFFFF12ull);
    ck_assert_uint_eq(c->gpr[CPU_R10], 0x1122334455667788ull);
    ck_assert_uint_eq(c->gpr[CPU_R12], 0xFFFFFFFFFFFFFFFEull);
    ck_assert_uint_eq(c->gpr[CPU_R13], 0xFFFFFFFFull);
    ck_assert_uint_eq(c->gpr[CPU_R14], 0x55667788ull);
    ck_assert_uint_eq(c->gpr[CPU_R15], 0xFFFFFFFFFFFF7788ull);
    ck_assert_uint_eq(c->gpr[CPU_RBP], 0x1122334455667788ull);
}
END_TEST

START_TEST(mov_byte_registers)
{
    /* Without REX, byte registers 4..7 are AH, CH, DH, BH; with any REX
     * they are SPL, BPL, SIL, DIL (SDM Vol. 2 3.1.1.1). */
    static const uint8_t code[] = {
        0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* movabs rax, 0x1122334455667788 */
        0x48, 0x89, 0xc3, /* mov rbx, rax */
        0x48, 0x89, 0xc1, /* mov rcx, rax */
        0x48, 0x89, 0xc2, /* mov rdx, rax */
        0x48, 0x89, 0xc6, /* mov rsi, rax */
        0x48, 0x89, 0xc7, /* mov rdi, rax */
        0xb3, 0x99, /* mov bl, 0x99 */
        0xb4, 0xab, /* mov ah, 0xAB */
        0x88, 0xe5, /* mov ch, ah */
        0x88, 0xde, /* mov dh, bl */
        0x40, 0xb6, 0x5a, /* mov sil, 0x5A */
        0x40, 0x88, 0xdf, /* mov dil, bl */
        0xb7, 0xee, /* mov bh, 0xEE */
        0x49, 0x89, 0xe7, /* mov r15, rsp */
        0x40, 0xb4, 0x40, /* mov spl, 0x40 */
        0x48, 0x89, 0xe5, /* mov rbp, rsp */
        0x4c, 0x89, 0xfc, /* mov rsp, r15 */
        0x49, 0x89, 0xc0, /* mov r8, rax */
        0x41, 0x88, 0xe0, /* mov r8b, spl */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x112233445566AB88ull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x112233445566AB88ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0x1122334455669988ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0x112233445566775Aull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0x1122334455667799ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x112233445566EE99ull);
    ck_assert_uint_eq(c->gpr[CPU_RBP], (CPU_HARNESS_STACK & ~0xFFull) | 0x40);
    /* 41 88 E0 is mov r8b, spl: with REX, rm=4 is SPL, not AH. */
    ck_assert_uint_eq(c->gpr[CPU_R8], 0x112233445566AB00ull | (CPU_HARNESS_STACK & 0xFF));
}
END_TEST

START_TEST(mov_memory_forms)
{
    static const uint8_t code[] = {
        0xbb, 0x00, 0x00, 0x20, 0x00, /* mov ebx, 0x200000 */
        0x48, 0xb8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* movabs rax, 0x8877665544332211 */
        0x48, 0x89, 0x03, /* mov [rbx], rax */
        0x89, 0x43, 0x08, /* mov [rbx+8], eax */
        0x66, 0x89, 0x43, 0x10, /* mov [rbx+16], ax */
        0x88, 0x43, 0x18, /* mov [rbx+24], al */
        0x88, 0x63, 0x19, /* mov [rbx+25], ah */
        0xc6, 0x43, 0x20, 0xf0, /* mov byte ptr [rbx+32], 0xF0 */
        0x66, 0xc7, 0x43, 0x28, 0x34, 0x12, /* mov word ptr [rbx+40], 0x1234 */
        0xc7, 0x43, 0x30, 0xfe, 0xff, 0xff, 0xff, /* mov dword ptr [rbx+48], -2 */
        0x48, 0xc7, 0x43, 0x38, 0xfd, 0xff, 0xff, 0xff, /* mov qword ptr [rbx+56], -3 */
        0x48, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, /* mov rcx, -1 */
        0x8b, 0x0b, /* mov ecx, [rbx] */
        0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff, /* mov rdx, -1 */
        0x66, 0x8b, 0x13, /* mov dx, [rbx] */
        0x48, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, /* mov rsi, -1 */
        0x40, 0x8a, 0x73, 0x01, /* mov sil, [rbx+1] */
        0x48, 0x8b, 0x7b, 0x38, /* mov rdi, [rbx+56] */
        0x4c, 0x8b, 0x05, 0x9f, 0x00, 0x10, 0x00, /* mov r8, [rip+DATA_ADDR+0x100] */
        0x49, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, /* mov r9, -1 */
        0x66, 0x44, 0x8b, 0x0d, 0x90, 0x00, 0x10, 0x00, /* mov r9w, [rip+DATA_ADDR+0x100] */
        0xc7, 0x05, 0x8e, 0x00, 0x10, 0x00, 0x0d, 0xf0, 0xfe, 0xca, /* mov dword ptr [rip+DATA_ADDR+0x108], 0xCAFEF00D */
        0x41, 0xba, 0x07, 0x00, 0x00, 0x00, /* mov r10d, 7 */
        0x4e, 0x8b, 0x9c, 0xd3, 0xc8, 0x00, 0x00, 0x00, /* mov r11, [rbx+r10*8+0x100-56] */
        0xf4, /* hlt */
    };
    poke(DATA + 0x100, 0x0123456789ABCDEFull, 8);
    run(code, sizeof code);
    ck_assert_uint_eq(peek(DATA, 8), 0x8877665544332211ull);
    ck_assert_uint_eq(peek(DATA + 8, 8), 0x44332211ull);
    ck_assert_uint_eq(peek(DATA + 16, 8), 0x2211ull);
    ck_assert_uint_eq(peek(DATA + 24, 8), 0x2211ull);
    ck_assert_uint_eq(peek(DATA + 32, 8), 0xF0ull);
    ck_assert_uint_eq(peek(DATA + 40, 8), 0x1234ull);
    ck_assert_uint_eq(peek(DATA + 48, 8), 0xFFFFFFFEull);
    ck_assert_uint_eq(peek(DATA + 56, 8), 0xFFFFFFFFFFFFFFFDull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x44332211ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0xFFFFFFFFFFFF2211ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0xFFFFFFFFFFFFFF22ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0xFFFFFFFFFFFFFFFDull);
    /* RIP-relative: disp is from the end of the instruction, immediate
     * included (the C7 store has an imm32 after the disp32). */
    ck_assert_uint_eq(c->gpr[CPU_R8], 0x0123456789ABCDEFull);
    ck_assert_uint_eq(c->gpr[CPU_R9], 0xFFFFFFFFFFFFCDEFull);
    ck_assert_uint_eq(peek(DATA + 0x108, 8), 0xCAFEF00Dull);
    ck_assert_uint_eq(c->gpr[CPU_R11], 0x0123456789ABCDEFull);
}
END_TEST

START_TEST(mov_address_forms)
{
    /* 67 truncates base+disp to 32 bits; FS/GS add their base; a plain
     * base+disp may be negative */
    static const uint8_t code[] = {
        0x48, 0xbb, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, /* movabs rbx, 0x100200000 */
        0x67, 0x8b, 0x4b, 0x08, /* mov ecx, [ebx+8] */
        0x67, 0x48, 0x8b, 0x53, 0x08, /* mov rdx, [ebx+8] */
        0x67, 0x89, 0x4b, 0x10, /* mov [ebx+16], ecx */
        0xbf, 0x00, 0x10, 0x00, 0x00, /* mov edi, 0x1000 */
        0x64, 0x48, 0x8b, 0xb7, 0x00, 0xf0, 0xff, 0xff, /* mov rsi, fs:[rdi-0x1000] */
        0x64, 0x89, 0x77, 0x10, /* mov fs:[rdi+0x10], esi */
        0x65, 0x4c, 0x8b, 0x07, /* mov r8, gs:[rdi] */
        0x41, 0xb9, 0x10, 0x00, 0x20, 0x00, /* mov r9d, 0x200010 */
        0x4d, 0x8b, 0x51, 0xf8, /* mov r10, [r9-8] */
        0x45, 0x89, 0x51, 0x10, /* mov [r9-0x10+0x20], r10d */
        0xf4, /* hlt */
    };
    c->seg[CPU_FS].base = 0x200000;
    c->seg[CPU_GS].base = 0x1FF000 + 0x18;
    poke(DATA, 0xCAFEBABE12345678ull, 8);
    poke(DATA + 8, 0x1122334455667788ull, 8);
    poke(DATA + 0x18, 0x0102030405060708ull, 8);
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x55667788ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0x1122334455667788ull);
    ck_assert_uint_eq(peek(DATA + 16, 4), 0x55667788ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0xCAFEBABE12345678ull);
    ck_assert_uint_eq(peek(DATA + 0x1010, 8), 0x12345678ull);
    ck_assert_uint_eq(c->gpr[CPU_R8], 0x0102030405060708ull);
    ck_assert_uint_eq(c->gpr[CPU_R10], 0x1122334455667788ull);
    ck_assert_uint_eq(peek(DATA + 0x20, 4), 0x55667788ull);
}
END_TEST

START_TEST(mov_moffs)
{
    static const uint8_t code[] = {
        0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* movabs rax, 0x1122334455667788 */
        0x48, 0xa3, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs [0x200000], rax */
        0xa3, 0x10, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs [0x200010], eax */
        0x66, 0xa3, 0x20, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs [0x200020], ax */
        0xa2, 0x30, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs [0x200030], al */
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0xa0, 0x07, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs al, [0x200007] */
        0x48, 0x89, 0xc3, /* mov rbx, rax */
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0xa1, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs eax, [0x200000] */
        0x48, 0x89, 0xc1, /* mov rcx, rax */
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0x67, 0xa1, 0x04, 0x00, 0x20, 0x00, /* addr32 mov eax, [0x200004] (4-byte moffs) */
        0x48, 0x89, 0xc2, /* mov rdx, rax */
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0x64, 0x48, 0xa1, 0x00, 0xf0, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs rax, fs:0x1FF000 */
        0x48, 0x89, 0xc6, /* mov rsi, rax */
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0x66, 0xa1, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs ax, [0x200000] */
        0xf4, /* hlt */
    };
    c->seg[CPU_FS].base = 0x1000;
    poke(DATA + 0x10, ~0ull, 8);
    poke(DATA + 0x20, ~0ull, 8);
    poke(DATA + 0x30, ~0ull, 8);
    run(code, sizeof code);
    ck_assert_uint_eq(peek(DATA, 8), 0x1122334455667788ull);
    ck_assert_uint_eq(peek(DATA + 0x10, 8), 0xFFFFFFFF55667788ull);
    ck_assert_uint_eq(peek(DATA + 0x20, 8), 0xFFFFFFFFFFFF7788ull);
    ck_assert_uint_eq(peek(DATA + 0x30, 8), 0xFFFFFFFFFFFFFF88ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0xFFFFFFFFFFFFFF11ull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x55667788ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0x11223344ull); /* 67: a 4-byte moffs */
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0x1122334455667788ull); /* FS base applies */
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFFFFF7788ull);
}
END_TEST

START_TEST(movzx_movsx_all_sizes)
{
    static const uint8_t code[] = {
        0xbb, 0x81, 0x80, 0x00, 0x00, /* mov ebx, 0x8081 */
        0xb9, 0x00, 0x00, 0x20, 0x00, /* mov ecx, 0x200000 */
        0x66, 0xc7, 0x01, 0x0f, 0xf0, /* mov word ptr [rcx], 0xF00F */
        0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov r8, -1 */
        0x44, 0x0f, 0xb6, 0xc3, /* movzx r8d, bl */
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0x0f, 0xb6, 0xc7, /* movzx eax, bh */
        0x49, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff, /* mov r10, -1 */
        0x66, 0x44, 0x0f, 0xb6, 0xd3, /* movzx r10w, bl */
        0x49, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff, /* mov r11, -1 */
        0x44, 0x0f, 0xb7, 0xdb, /* movzx r11d, bx */
        0x49, 0xc7, 0xc4, 0xff, 0xff, 0xff, 0xff, /* mov r12, -1 */
        0x4c, 0x0f, 0xb7, 0x21, /* movzx r12, word ptr [rcx] */
        0x49, 0xc7, 0xc5, 0xff, 0xff, 0xff, 0xff, /* mov r13, -1 */
        0x4c, 0x0f, 0xb6, 0x69, 0x01, /* movzx r13, byte ptr [rcx+1] */
        0x49, 0xc7, 0xc6, 0x00, 0x00, 0x00, 0x00, /* mov r14, 0 */
        0x4c, 0x0f, 0xbe, 0xf3, /* movsx r14, bl */
        0x49, 0xc7, 0xc7, 0x00, 0x00, 0x00, 0x00, /* mov r15, 0 */
        0x44, 0x0f, 0xbe, 0xfb, /* movsx r15d, bl */
        0x48, 0xc7, 0xc5, 0x00, 0x00, 0x00, 0x00, /* mov rbp, 0 */
        0x66, 0x0f, 0xbe, 0xeb, /* movsx bp, bl */
        0x48, 0xc7, 0xc6, 0x00, 0x00, 0x00, 0x00, /* mov rsi, 0 */
        0x48, 0x0f, 0xbf, 0xf3, /* movsx rsi, bx */
        0x48, 0xc7, 0xc7, 0x00, 0x00, 0x00, 0x00, /* mov rdi, 0 */
        0x0f, 0xbf, 0x39, /* movsx edi, word ptr [rcx] */
        0x48, 0xc7, 0xc2, 0x00, 0x00, 0x00, 0x00, /* mov rdx, 0 */
        0x48, 0x0f, 0xbe, 0x11, /* movsx rdx, byte ptr [rcx] */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_R8], 0x81ull);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x80ull); /* BH: no REX */
    ck_assert_uint_eq(c->gpr[CPU_R10], 0xFFFFFFFFFFFF0081ull);
    ck_assert_uint_eq(c->gpr[CPU_R11], 0x8081ull);
    ck_assert_uint_eq(c->gpr[CPU_R12], 0xF00Full);
    ck_assert_uint_eq(c->gpr[CPU_R13], 0xF0ull);
    ck_assert_uint_eq(c->gpr[CPU_R14], 0xFFFFFFFFFFFFFF81ull);
    ck_assert_uint_eq(c->gpr[CPU_R15], 0xFFFFFF81ull);
    ck_assert_uint_eq(c->gpr[CPU_RBP], 0xFF81ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0xFFFFFFFFFFFF8081ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0xFFFFF00Full);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0x0Full);
}
END_TEST

START_TEST(movzx_high_byte_source)
{
    /* Without REX, MOVZX/MOVSX r, r/m8 with rm=4..7 reads AH..BH. */
    static const uint8_t code[] = {
        0xb8, 0x00, 0x9a, 0x00, 0x00, /* mov eax, 0x9A00 */
        0xb9, 0xff, 0xff, 0xff, 0xff, /* mov ecx, -1 */
        0x0f, 0xb6, 0xcc, /* movzx ecx, ah */
        0xba, 0x00, 0x00, 0x00, 0x00, /* mov edx, 0 */
        0x0f, 0xbe, 0xd4, /* movsx edx, ah */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x9Aull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0xFFFFFF9Aull);
}
END_TEST

START_TEST(movsxd_forms)
{
    static const uint8_t code[] = {
        0xbb, 0x01, 0x00, 0x00, 0x80, /* mov ebx, 0x80000001 */
        0xb9, 0x00, 0x00, 0x20, 0x00, /* mov ecx, 0x200000 */
        0xc7, 0x01, 0xf0, 0xff, 0xff, 0xff, /* mov dword ptr [rcx], 0xFFFFFFF0 */
        0x48, 0x63, 0xc3, /* movsxd rax, ebx */
        0x48, 0x63, 0x11, /* movsxd rdx, dword ptr [rcx] */
        0x48, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, /* mov rsi, -1 */
        0x63, 0xf3, /* movsxd esi, ebx (no REX.W: 32-bit move) */
        0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff, /* mov rdi, -1 */
        0x66, 0x63, 0xfb, /* movsxd di, bx (16-bit move) */
        0xf4, /* hlt */
    };
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFF80000001ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0xFFFFFFFFFFFFFFF0ull);
    /* 63 without REX.W moves 32 bits, zero-extending; with 66, 16 bits. */
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0x80000001ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0xFFFFFFFFFFFF0001ull);
}
END_TEST

/* ---- LEA, XLAT ------------------------------------------------------------------ */

START_TEST(lea_forms)
{
    static const uint8_t code[] = {
        0x4c, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00, /* lea r8, [rip+0x10] */
        0x48, 0xc7, 0xc3, 0x00, 0x01, 0x00, 0x00, /* mov rbx, 0x100 */
        0x48, 0xc7, 0xc1, 0x10, 0x00, 0x00, 0x00, /* mov rcx, 0x10 */
        0x48, 0x8d, 0x44, 0x8b, 0x08, /* lea rax, [rbx+rcx*4+8] */
        0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff, /* mov rdx, -1 */
        0x8d, 0x93, 0x00, 0xfe, 0xff, 0xff, /* lea edx, [rbx-0x200] */
        0x48, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, /* mov rsi, -1 */
        0x66, 0x8d, 0xb4, 0x0b, 0x00, 0x00, 0x01, 0x00, /* lea si, [rbx+rcx+0x10000] */
        0x64, 0x48, 0x8d, 0x3b, /* lea rdi, fs:[rbx] */
        0x49, 0xb9, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, /* mov r9, 0xFFFFFFFF */
        0x67, 0x4d, 0x8d, 0x51, 0x02, /* lea r10, [r9d+2] */
        0xf4, /* hlt */
    };
    c->seg[CPU_FS].base = 0x5000000;
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x148ull);
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0xFFFFFF00ull);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 0xFFFFFFFFFFFF0110ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0x100ull); /* no segment base */
    ck_assert_uint_eq(c->gpr[CPU_R8], CPU_HARNESS_CODE + 7 + 0x10);
    /* 67: a 32-bit address wraps before the 64-bit destination */
    ck_assert_uint_eq(c->gpr[CPU_R10], 1ull);
}
END_TEST

START_TEST(lea_register_ud)
{
    static const uint8_t code[] = {
        0x48, 0x8d, 0xc3, /* lea rax, rbx (mod=3) */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_UD);
}
END_TEST

START_TEST(xlat_forms)
{
    static const uint8_t code[] = {
        0xbb, 0x00, 0x00, 0x20, 0x00, /* mov ebx, 0x200000 */
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0xb0, 0x10, /* mov al, 0x10 */
        0xd7, /* xlatb */
        0x48, 0x89, 0xc1, /* mov rcx, rax */
        0xb8, 0xf0, 0x01, 0x00, 0x00, /* mov eax, 0x1F0 */
        0x67, 0xd7, /* addr32 xlatb: AL = [EBX + AL] */
        0x48, 0x89, 0xc2, /* mov rdx, rax */
        0x48, 0xbb, 0x00, 0xf0, 0x1f, 0x00, 0x01, 0x00, 0x00, 0x00, /* movabs rbx, 0x1001FF000 */
        0xb8, 0x12, 0x00, 0x00, 0x00, /* mov eax, 0x12 */
        0x67, 0x64, 0xd7, /* addr32 xlatb fs: [(uint32)(rbx + al) + fs.base] */
        0xf4, /* hlt */
    };
    c->seg[CPU_FS].base = 0x1000;
    poke(DATA + 0x10, 0x5A, 1);
    poke(DATA + 0xF0, 0xA5, 1);
    poke(DATA + 0x12, 0x3C, 1);
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0xFFFFFFFFFFFFFF5Aull); /* only AL changes */
    ck_assert_uint_eq(c->gpr[CPU_RDX], 0x1A5ull); /* AL index is zero-extended: 0xF0, not -0x10 */
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x3Cull);
}
END_TEST

/* ---- segment-register moves ---------------------------------------------------------------- */

START_TEST(mov_from_sreg)
{
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, /* mov rax, -1 */
        0x8c, 0xd8, /* mov eax, ds */
        0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff, /* mov rbx, -1 */
        0x66, 0x8c, 0xc3, /* mov bx, es */
        0x48, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, /* mov rcx, -1 */
        0x8c, 0xc9, /* mov rcx, cs */
        0xbe, 0x00, 0x00, 0x20, 0x00, /* mov esi, 0x200000 */
        0x48, 0xc7, 0x06, 0xff, 0xff, 0xff, 0xff, /* mov qword ptr [rsi], -1 */
        0x8c, 0x16, /* mov [rsi], ss */
        0xf4, /* hlt */
    };
    c->seg[CPU_ES].sel = 0x2B;
    run(code, sizeof code);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x10ull);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0xFFFFFFFFFFFF002Bull);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x08ull);
    ck_assert_uint_eq(peek(DATA, 8), 0xFFFFFFFFFFFF0010ull);
}
END_TEST

START_TEST(mov_to_sreg)
{
    static const uint8_t code[] = {
        0xb8, 0x23, 0x00, 0x00, 0x00, /* mov eax, 0x23 */
        0x8e, 0xd8, /* mov ds, ax */
        0xb9, 0x10, 0x00, 0x00, 0x00, /* mov ecx, 0x10 */
        0x8e, 0xd1, /* mov ss, cx */
    };
    run_n(code, sizeof code, 4);
    ck_assert_uint_eq(c->seg[CPU_DS].sel, 0x23);
    ck_assert_uint_eq(c->seg[CPU_SS].sel, 0x10);
    /* MOV SS: blocking by MOV SS covers the next instruction */
    ck_assert(c->events & CPU_EVT_SHADOW);
    ck_assert_uint_eq(c->shadow_kind, 2);
}
END_TEST

START_TEST(mov_sreg_invalid)
{
    static const uint8_t cs_code[] = {
        0x8e, 0xc8, /* mov cs, ax */
        0xf4, /* hlt */
    };
    run_fault(cs_code, sizeof cs_code, CPU_EXC_UD);
}
END_TEST

START_TEST(mov_sreg6_invalid)
{
    static const uint8_t code[] = {
        0x8c, 0xf0, /* mov eax, sreg6 */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_UD);
}
END_TEST

START_TEST(mov_imm_group_ud)
{
    /* C7 /1 is not a MOV (XBEGIN needs RTM, which is not enumerated) */
    static const uint8_t code[] = {
        0xc7, 0xc8, 0x00, 0x00, 0x00, 0x00, /* c7 /1 (xbegin) */
        0xf4, /* hlt */
    };
    run_fault(code, sizeof code, CPU_EXC_UD);
}
END_TEST

START_TEST(lock_invalid_forms)
{
    static const uint8_t xadd_reg[] = {
        0xf0, 0x0f, 0xc1, 0xc8, /* lock xadd eax, ecx (register destination) */
        0xf4, /* hlt */
    };
    static const uint8_t mov_mem[] = {
        0xf0, 0x89, 0x06, /* lock mov [rsi], eax */
        0xf4, /* hlt */
    };
    c->gpr[CPU_RSI] = DATA;
    run_fault(xadd_reg, sizeof xadd_reg, CPU_EXC_UD);
    cpu_harness_load(&h, CPU_HARNESS_CODE + 0x100, mov_mem, sizeof mov_mem);
    c->halted = 0;
    c->rip = CPU_HARNESS_CODE + 0x100;
    cpu_run(c, UINT64_MAX, 100);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(peek(DATA, 8), 0);
}
END_TEST

/* LFENCE, MFENCE, SFENCE (0F AE /5 /6 /7 register forms): executed as
 * no-ops (every ModRM rm value), changing nothing but RIP; the memory forms
 * of 0F AE (FXSAVE, CLFLUSH, ...) and the prefixed register forms are still
 * reported as unimplemented. */
START_TEST(fences_are_no_ops)
{
    static const uint8_t code[] = {
        0x0f, 0xae, 0xe8, /* lfence */
        0x0f, 0xae, 0xf0, /* mfence */
        0x0f, 0xae, 0xf8, /* sfence */
        0x0f, 0xae, 0xef, /* lfence (rm = 7) */
        0x0f, 0xae, 0xf5, /* mfence (rm = 5) */
        0x0f, 0xae, 0xff, /* sfence (rm = 7) */
        0xf4, /* hlt */
    };
    c->gpr[CPU_RAX] = 0x1122334455667788ull;
    c->gpr[CPU_RDI] = 0x99;
    cpu_set_rflags(c, 0x2 | 0x1 | 0x40); /* CF, ZF */
    run(code, sizeof code);
    ck_assert_uint_eq(cpu_get_rflags(c) & 0x8D5, 0x41);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x1122334455667788ull);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 0x99);
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE + sizeof code);
    ck_assert_uint_eq(c->unimplemented_count, 0);

    static const uint8_t clflush[] = {
        0x0f, 0xae, 0x3e, /* clflush [rsi] */
        0xf4, /* hlt */
    };
    c->gpr[CPU_RSI] = DATA;
    run_fault(clflush, sizeof clflush, CPU_EXC_UD);
    ck_assert_uint_eq(c->unimplemented_count, 1);
}
END_TEST

START_TEST(invalid_in_64bit_mode)
{
    /* PUSH/POP of ES, CS, SS, DS and PUSHA/POPA: #UD, and not reported as
     * unimplemented */
    static const uint8_t ops[] = {0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x60, 0x61};
    for (unsigned k = 0; k < sizeof ops; k++) {
        uint8_t code[2] = {ops[k], 0xF4};
        uint64_t at = CPU_HARNESS_CODE + 0x1000 + 16 * k; /* each at its own address */
        cpu_harness_load(&h, at, code, sizeof code);
        c->halted = 0;
        c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
        c->rip = at;
        cpu_run(c, UINT64_MAX, 100);
        ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
        ck_assert_uint_eq(frame(0), at);
    }
    ck_assert_uint_eq(c->unimplemented_count, 0);
}
END_TEST

static Suite *transfer_suite(void)
{
    Suite *s = suite_create("transfer");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, mov_register_sizes);
    tcase_add_test(t, mov_byte_registers);
    tcase_add_test(t, mov_memory_forms);
    tcase_add_test(t, mov_address_forms);
    tcase_add_test(t, mov_moffs);
    tcase_add_test(t, movzx_movsx_all_sizes);
    tcase_add_test(t, movzx_high_byte_source);
    tcase_add_test(t, movsxd_forms);
    tcase_add_test(t, lea_forms);
    tcase_add_test(t, lea_register_ud);
    tcase_add_test(t, xlat_forms);
    tcase_add_test(t, mov_from_sreg);
    tcase_add_test(t, mov_to_sreg);
    tcase_add_test(t, mov_sreg_invalid);
    tcase_add_test(t, mov_sreg6_invalid);
    tcase_add_test(t, mov_imm_group_ud);
    tcase_add_test(t, lock_invalid_forms);
    tcase_add_test(t, invalid_in_64bit_mode);
    tcase_add_test(t, fences_are_no_ops);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(transfer_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
