/*
 * vmcall_loop.S — the exit benchmark: 10^6 ABI_VERSION hypercalls (VMCALL,
 * exit 18) in a loop, then exit status 0 through port 0xF4. Under the
 * built-in hypervisor every VMCALL is one exit round trip (VM exit, the
 * handler, VM entry); `apicv-emu bench` times it in posted mode. Every
 * vCPU runs it; the first one to finish ends the run.
 */
    .text
    .globl guest_main
    .type guest_main, @function
guest_main:
    movq $1000000, %r8
1:  xorl %eax, %eax         /* HC_ABI_VERSION */
    vmcall
    decq %r8
    jnz 1b
    xorl %eax, %eax
    movw $0xF4, %dx
    outl %eax, %dx
2:  cli
    hlt
    jmp 2b
    .size guest_main, . - guest_main

    .section .note.GNU-stack, "", @progbits
