/*
 * isr.S — the 256 IDT entry stubs and their common body.
 *
 * In 64-bit mode the CPU aligns RSP to 16 and pushes SS, RSP, RFLAGS, CS,
 * RIP and, for some exceptions, an error code (SDM Vol. 3A 6.14.2). Each
 * stub pushes a 0 where the CPU pushed no error code, then its vector, so
 * that every frame has the same shape (struct guest_frame in guest.h).
 * Stubs are 16 bytes apart: guest_isr_stubs + 16 * vector.
 *
 * Vectors with an error code (SDM Vol. 3A table 6-1): 8 #DF, 10 #TS, 11 #NP,
 * 12 #SS, 13 #GP, 14 #PF, 17 #AC, 21 #CP, 29 #VC, 30 #SX.
 */
    .text
    .balign 16
    .globl guest_isr_stubs
guest_isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp guest_isr_common
    .set vec, vec + 1
    .endr

/*
 * Saves every GPR (RAX first, R15 last, so R15 is at the lowest address),
 * calls guest_isr_dispatch(frame) with RSP 16-byte aligned (6 + 1 + 15
 * qwords = 176 bytes below an aligned RSP) and restores what the handler
 * left in the frame.
 */
guest_isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    cld
    call guest_isr_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp               /* vector and error code */
    iretq

    .section .note.GNU-stack, "", @progbits
