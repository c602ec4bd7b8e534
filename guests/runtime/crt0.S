/*
 * crt0.S — the guest entry point (guest ABI: "State at entry").
 *
 * Every vCPU starts here at once in 64-bit mode with RDI = its index,
 * RSI = the number of vCPUs, RSP = the top of its own 16-byte aligned
 * stack and IF = 0. RSP is 16-byte aligned here, so a CALL leaves the
 * callee with RSP = 8 (mod 16), as the System V ABI wants.
 */
    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
_start:
    cld
    xorl %ebp, %ebp              /* end of the frame-pointer chain */
    movl %edi, %r12d             /* vCPU index: callee-saved across the calls */
    movl %esi, %r13d             /* vCPU count */
    call guest_runtime_init      /* (cpu, ncpus): IDT */
    movl %r12d, %edi
    movl %r13d, %esi
    call guest_main
    testl %r12d, %r12d
    jnz 2f
    /* vCPU 0: its return value is the exit status of the run. */
    movw $0xF4, %dx
    outl %eax, %dx
2:  /* Any other vCPU (or vCPU 0 if the exit port did not stop it): park. */
    cli
    hlt
    jmp 2b
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
