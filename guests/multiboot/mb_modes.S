/*
 * mb_modes.S — a small Multiboot (v1) kernel that goes through the x86
 * operating modes one after the other (docs/multiboot.md): natively and
 * under the built-in hypervisor (unrestricted guest, EPT identity map).
 *
 * It enters in 32-bit protected mode with paging off (Multiboot spec 3.2),
 * checks EAX = 2BADB002H, loads its own GDT and segments and prints
 *     mb_modes: 32-bit protected mode from the loader
 * It copies a stub to 7000H and drops to real mode the way the SDM says
 * (Vol. 3A 10.9.2): a far jump to a 16-bit code segment (limit FFFFH),
 * 16-bit data segments, CR0.PE cleared, a far jump to 0700:xxxx. In real
 * mode it checks that a segment's base is selector << 4 (a store through
 * DS = 0800H read back through ES = 0 at 8100H) and that INT 40H goes
 * through the real-mode IVT (vector 40H at 0:100H, its handler stores a
 * mark and returns by IRET); it then goes back to protected mode (LGDT with
 * a 32-bit base, CR0.PE, a far jump with a 32-bit offset, SDM 10.9.1) and
 * prints
 *     mb_modes: real mode (segment base, IVT interrupt) and back
 * Then to long mode (SDM 10.8.5): PAE tables (an identity map of 1 GByte
 * in 2-MByte pages), CR4.PAE, EFER.LME, CR0.PG (compatibility mode), a far
 * jump to a 64-bit code segment. In 64-bit mode it checks EFER.LMA and a
 * 64-bit register operation, prints
 *     mb_modes: 64-bit long mode, EFER.LMA set
 * and ends the run with status 0 (port F4H); on any failure with 16.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */
#define STUB 0x7000         /* the real-mode stub: 0700:0000 */
#define STUB_SEG 0x0700
#define MARK_DS 0x8100      /* written as DS = 0800H : 0100H */
#define MARK_INT 0x8102     /* written by the INT 40H handler */
#define SEL_CODE32 0x08
#define SEL_DATA32 0x10
#define SEL_CODE16 0x18
#define SEL_DATA16 0x20
#define SEL_CODE64 0x28
#define REL(x) ((x) - stub)

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    cmpl $0x2BADB002, %eax
    jne fail
    movl $stack_top, %esp
    lgdt gdt_desc
    ljmp $SEL_CODE32, $1f
1:  movl $SEL_DATA32, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl $msg_pm, %esi
    call puts

    /* The marks start clear (low memory is not zeroed: spec 3.2). */
    movl $0, MARK_DS
    movl $stub, %esi
    movl $STUB, %edi
    movl $(stub_end - stub), %ecx
    cld
    rep movsb
    movl %esp, saved_esp
    ljmp $SEL_CODE16, $(STUB + REL(stub_pm16))

back32:
    movl $SEL_DATA32, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl saved_esp, %esp
    cmpw $0x1234, MARK_DS
    jne fail
    cmpw $0x5A5A, MARK_INT
    jne fail
    movl %cr0, %eax
    testl $1, %eax
    jz fail
    movl $msg_real, %esi
    call puts

    /* Long mode: 4-level tables, CR4.PAE, EFER.LME, CR0.PG, 64-bit CS. */
    movl $pdpt, %eax
    orl $3, %eax
    movl %eax, pml4
    movl $page_dir, %eax
    orl $3, %eax
    movl %eax, pdpt
    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax /* present, writable, 2-MByte page */
    movl %eax, page_dir(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 2b
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax
    movl %eax, %cr0
    ljmp $SEL_CODE64, $long_mode

    .code64
long_mode:
    movl $SEL_DATA32, %eax
    movl %eax, %ds
    movl %eax, %ss
    movl $0xC0000080, %ecx
    rdmsr
    testl $0x400, %eax /* EFER.LMA */
    jz 1f
    movabsq $0x123456789ABCDEF0, %rax
    rolq $32, %rax
    movq %rax, %rbx
    shrq $32, %rbx
    cmpl $0x9ABCDEF0, %ebx
    jne 1f
    cmpl $0x12345678, %eax
    jne 1f
    leaq msg_long(%rip), %rsi
    call puts64
    xorl %eax, %eax
    jmp 2f
1:  leaq msg_fail(%rip), %rsi
    call puts64
    movl $16, %eax
2:  movw $0xF4, %dx
    outl %eax, %dx
3:  cli
    hlt
    jmp 3b

puts64:
    lodsb
    testb %al, %al
    jz 1f
    outb %al, $0xE9
    jmp puts64
1:  ret
    .code32

fail:
    movl $msg_fail, %esi
    call puts
    movl $16, %eax
    movw $0xF4, %dx
    outl %eax, %dx
1:  cli
    hlt
    jmp 1b

/* Prints the NUL-terminated string at ESI on port E9H. */
puts:
    lodsb
    testb %al, %al
    jz 1f
    outb %al, $0xE9
    jmp puts
1:  ret

/* The stub, run at 7000H: first in 16-bit protected mode (CS = 18H, base
 * 0, so IP = 7000H + offset), then in real mode at 0700:offset. */
    .code16
stub:
stub_pm16:
    movw $SEL_DATA16, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl %cr0, %eax
    andl $0xFFFFFFFE, %eax
    movl %eax, %cr0
    ljmp $STUB_SEG, $REL(stub_real)
stub_real:
    xorw %ax, %ax
    movw %ax, %ss
    movw $STUB - 0x10, %sp
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw $0x0800, %ax
    movw %ax, %ds
    movw $0x1234, 0x100            /* DS:0100H = linear 8100H */
    cmpw $0x1234, %es:MARK_DS
    jne stub_fail
    movw $REL(stub_int40), %es:0x100 /* IVT entry 40H: offset, then segment */
    movw $STUB_SEG, %es:0x102
    int $0x40
    cmpw $0x5A5A, %es:MARK_INT
    jne stub_fail
    movw %cs, %ax
    cmpw $STUB_SEG, %ax
    jne stub_fail
    /* Back to protected mode: LGDT with a 32-bit base (operand size 32). */
    movw %cs, %ax
    movw %ax, %ds
    lgdtl REL(stub_gdtr)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $SEL_CODE32, $back32
stub_int40:
    movw $0x5A5A, %es:MARK_INT
    iret
stub_fail:
    movb $16, %al
    outb %al, $0xF4
1:  hlt
    jmp 1b
stub_gdtr:
    .word gdt_end - gdt - 1
    .long gdt
stub_end:

    .section .rodata
msg_pm:   .asciz "mb_modes: 32-bit protected mode from the loader\n"
msg_real: .asciz "mb_modes: real mode (segment base, IVT interrupt) and back\n"
msg_long: .asciz "mb_modes: 64-bit long mode, EFER.LMA set\n"
msg_fail: .asciz "mb_modes: FAIL\n"
    .align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF /* 08H: flat 32-bit code */
    .quad 0x00CF92000000FFFF /* 10H: flat data */
    .quad 0x00009A000000FFFF /* 18H: 16-bit code, base 0, limit FFFFH */
    .quad 0x000092000000FFFF /* 20H: 16-bit data, base 0, limit FFFFH */
    .quad 0x00AF9A000000FFFF /* 28H: 64-bit code */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .data
saved_esp:
    .long 0

    .bss
    .align 4096
pml4:
    .space 4096
pdpt:
    .space 4096
page_dir:
    .space 4096
    .space 4096
stack_top:

    .section .note.GNU-stack, "", @progbits
