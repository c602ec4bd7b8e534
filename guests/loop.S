/*
 * loop.S — the benchmark loop: 10^9 instructions (5 * 10^8 DEC + JNZ pairs)
 * after the runtime's start-up, then exit status 0 through port 0xF4.
 * Every vCPU runs it; the first one to finish ends the run.
 */
    .text
    .globl guest_main
    .type guest_main, @function
guest_main:
    movq $500000000, %rcx
1:  decq %rcx
    jnz 1b
    xorl %eax, %eax
    movw $0xF4, %dx
    outl %eax, %dx
2:  cli
    hlt
    jmp 2b
    .size guest_main, . - guest_main

    .section .note.GNU-stack, "", @progbits
