/*
 * mb_smp.S — a small Multiboot (v1) kernel, booted the way QEMU's -kernel
 * boots one (docs/multiboot.md): natively and under the built-in
 * hypervisor, whose VMX modes run it with "unrestricted guest" and an EPT
 * identity map of guest RAM (docs/hypervisor.md "Multiboot kernels").
 *
 * CPU 0 enters in 32-bit protected mode with paging off (Multiboot spec
 * 3.2): it checks EAX = 2BADB002H, sets and clears CR0.NE and reads each
 * value back (under the hypervisor: a CR-access exit, the read shadow), prints
 *     mb_smp: 32-bit protected mode, paging off
 * reads the I/O APIC's version register through its MMIO page (FEC00000H;
 * under the hypervisor an EPT violation the hypervisor emulates) and the
 * CPU count from fw_cfg, prints
 *     mb_smp: I/O APIC version 0x20, N CPUs
 * then starts every other CPU the MP way (SDM Vol. 3A 9.4.4, 11.6.1): its
 * local APIC software-enabled, one INIT and one STARTUP IPI with vector 07H
 * to all excluding self. Each AP starts in real mode at 0700:0000, where
 * CPU 0 copied the trampoline below: it counts itself in the word at 7100H
 * with a locked increment, switches to 32-bit protected mode (LGDT of the
 * loader's GDT, CR0.PE, a far jump to its flat code segment: SDM Vol. 3A
 * 10.9.1), counts itself again in the word at 7102H from 32-bit code and
 * halts. When both counts are N - 1 CPU 0 prints
 *     mb_smp: N-1 APs started in real mode, then in protected mode
 * Then it restarts them with INIT and STARTUP sent back to back (as
 * kvm-unit-tests does), waits for the counts 2(N - 1), prints
 *     mb_smp: restarted by INIT + SIPI back to back
 * turns on 32-bit paging (an identity map of 4-MByte pages), reads the
 * I/O APIC version again through it, prints
 *     mb_smp: 32-bit paging on, I/O APIC read through it
 * switches to long mode (PAE tables, EFER.LME, a 64-bit code segment),
 * reads the I/O APIC from 64-bit code, prints
 *     mb_smp: 64-bit long mode, I/O APIC read
 * and ends the run with status 0 (port F4H); on any failure with 16.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */
#define TRAMPOLINE 0x7000
#define AP_COUNT 0x7100
#define AP_COUNT32 0x7102
#define LOADER_GDT 0x8F00 /* null, flat code 08H, flat data 10H (docs/multiboot.md) */
#define APIC_SVR 0xFEE000F0
#define APIC_ICR_LO 0xFEE00300
#define IOAPIC_SEL 0xFEC00000
#define IOAPIC_WIN 0xFEC00010

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
    /* CR0.NE (clear at entry) toggled and read back: under the hypervisor
     * the host owns NE (fixed to 1 in VMX operation) and the guest sees its
     * own value through the read shadow. */
    movl %cr0, %eax
    xorl $0x20, %eax
    movl %eax, %cr0
    movl %cr0, %edx
    cmpl %eax, %edx
    jne fail
    xorl $0x20, %eax
    movl %eax, %cr0
    movl %cr0, %edx
    cmpl %eax, %edx
    jne fail
    movl $msg_pm, %esi
    call puts

    /* The I/O APIC's version register (index 1): version 20H. */
    movl $1, IOAPIC_SEL
    movl IOAPIC_WIN, %eax
    cmpb $0x20, %al
    jne fail
    /* fw_cfg NB_CPUS (key 5, 16 bits little-endian). */
    movw $0x510, %dx
    movw $5, %ax
    outw %ax, %dx
    movw $0x511, %dx
    inb %dx, %al
    movzbl %al, %ebx
    inb %dx, %al
    testb %al, %al
    jnz fail
    testl %ebx, %ebx
    jz fail
    movl $msg_ioapic, %esi
    call puts
    movl %ebx, %eax
    call putdec
    movl $msg_cpus, %esi
    call puts
    cmpl $1, %ebx
    je paging

    /* The trampoline to 7000H, below the loader's tables. */
    movl $trampoline, %esi
    movl $TRAMPOLINE, %edi
    movl $(trampoline_end - trampoline), %ecx
    cld
    rep movsb
    /* INIT, then STARTUP vector 07H, to all excluding self (SDM 11.6.1:
     * shorthand 11B; INIT 101B with level assert; STARTUP 110B). */
    movl $0, AP_COUNT /* both counts: low memory is not zeroed (Multiboot spec 3.2) */
    movl $0x1FF, APIC_SVR
    movl $0x000C4500, APIC_ICR_LO
    movl $20000, %ecx
1:  pause
    loop 1b
    movl $0x000C4607, APIC_ICR_LO
    /* Wait for N - 1 APs (bounded: a lost AP fails the run). */
    leal -1(%ebx), %edi
    movl $50000000, %ecx
2:  movzwl AP_COUNT32, %eax
    cmpl %edi, %eax
    je 3f
    pause
    loop 2b
    jmp fail
3:  movzwl AP_COUNT, %eax
    cmpl %edi, %eax
    jne fail
    movl $msg_prefix, %esi
    call puts
    movl %edi, %eax
    call putdec
    movl $msg_aps, %esi
    call puts
    /* Again, the kvm-unit-tests way: INIT and STARTUP back to back, to
     * APs that halted; each counts itself a second time. */
    movl $0x000C4500, APIC_ICR_LO
    movl $0x000C4607, APIC_ICR_LO
    addl %edi, %edi
    movl $50000000, %ecx
5:  movzwl AP_COUNT32, %eax
    cmpl %edi, %eax
    je 6f
    pause
    loop 5b
    jmp fail
6:  movzwl AP_COUNT, %eax
    cmpl %edi, %eax
    jne fail
    movl $msg_again, %esi
    call puts
paging:
    /* 32-bit paging with 4-MByte pages (CR4.PSE), an identity map of the
     * 4-GByte space, then the I/O APIC again through it (SDM Vol. 3A
     * 4.3): under the hypervisor the guest's paging runs above the EPT
     * identity map, and the device page is still an EPT violation. */
    movl $page_dir, %edi
    xorl %eax, %eax
    movl $0x83, %edx /* present, writable, 4-MByte page */
7:  movl %edx, (%edi,%eax,4)
    addl $0x400000, %edx
    incl %eax
    cmpl $1024, %eax
    jne 7b
    movl %cr4, %eax
    orl $0x10, %eax
    movl %eax, %cr4
    movl $page_dir, %eax
    movl %eax, %cr3
    movl %cr0, %eax
    orl $0x80000000, %eax
    movl %eax, %cr0
    movl $1, IOAPIC_SEL
    movl IOAPIC_WIN, %eax
    cmpb $0x20, %al
    jne fail
    movl $msg_paging, %esi
    call puts

    /* To long mode (SDM Vol. 3A 10.8.5): paging off, 4-level tables (an
     * identity map of 4 GBytes in 2-MByte pages), CR4.PAE, EFER.LME,
     * paging on (IA-32e, compatibility mode), a 64-bit code segment from
     * our own GDT by a far jump. Under the hypervisor none of it exits:
     * the VM exit after it stores EFER.LMA into "IA-32e mode guest". */
    movl %cr0, %eax
    andl $0x7FFFFFFF, %eax
    movl %eax, %cr0
    movl $pml4, %edi
    movl $pdpt, %eax
    orl $3, %eax
    movl %eax, (%edi)
    xorl %ecx, %ecx /* PDPT entry k -> page directory k */
8:  movl %ecx, %eax
    shll $12, %eax
    addl $page_dirs, %eax
    orl $3, %eax
    movl %eax, pdpt(,%ecx,8)
    incl %ecx
    cmpl $4, %ecx
    jne 8b
    xorl %ecx, %ecx /* 2048 PDEs of 2 MBytes: 4 GBytes */
9:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, page_dirs(,%ecx,8)
    movl %ecx, %eax
    shrl $11, %eax
    movl %eax, page_dirs + 4(,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jne 9b
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
    lgdt gdt_desc
    ljmp $0x08, $long_mode

    .code64
long_mode:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %ss
    movl $IOAPIC_SEL, %edi /* absolute addresses above 2 GBytes: through a register */
    movl $1, (%rdi)
    movl 0x10(%rdi), %eax
    cmpb $0x20, %al
    jne 2f
    leaq msg_long(%rip), %rsi
1:  lodsb
    testb %al, %al
    jz 3f
    outb %al, $0xE9
    jmp 1b
2:  movl $16, %eax
    jmp 4f
3:  xorl %eax, %eax
4:  movw $0xF4, %dx
    outl %eax, %dx
5:  cli
    hlt
    jmp 5b
    .code32
done:
    xorl %eax, %eax
    movw $0xF4, %dx
    outl %eax, %dx
4:  cli
    hlt
    jmp 4b

fail:
    movl $msg_fail, %esi
    call puts
    movl $16, %eax
    movw $0xF4, %dx
    outl %eax, %dx
    jmp 4b

/* Prints the NUL-terminated string at ESI on port E9H. */
puts:
    lodsb
    testb %al, %al
    jz 1f
    outb %al, $0xE9
    jmp puts
1:  ret

/* Prints EAX (below 100) in decimal. */
putdec:
    movl $10, %ecx
    xorl %edx, %edx
    divl %ecx
    testl %eax, %eax
    jz 1f
    addb $'0', %al
    outb %al, $0xE9
1:  movb %dl, %al
    addb $'0', %al
    outb %al, $0xE9
    ret

/* Real mode, CS = 0700H, IP = 0: position-independent, DS = 0. */
    .code16
trampoline:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    lock incw AP_COUNT
    lgdtl TRAMPOLINE + (tramp_gdtr - trampoline)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $TRAMPOLINE + (tramp_pm - trampoline)
    .code32
tramp_pm:
    movl $0x10, %eax
    movl %eax, %ds
    lock incw AP_COUNT32
1:  cli
    hlt
    jmp 1b
tramp_gdtr:
    .word 23
    .long LOADER_GDT
trampoline_end:

    .section .rodata
msg_pm:     .asciz "mb_smp: 32-bit protected mode, paging off\n"
msg_ioapic: .asciz "mb_smp: I/O APIC version 0x20, "
msg_cpus:   .asciz " CPUs\n"
msg_prefix: .asciz "mb_smp: "
msg_aps:    .asciz " APs started in real mode, then in protected mode\n"
msg_again:  .asciz "mb_smp: restarted by INIT + SIPI back to back\n"
msg_paging: .asciz "mb_smp: 32-bit paging on, I/O APIC read through it\n"
msg_long:   .asciz "mb_smp: 64-bit long mode, I/O APIC read\n"
msg_fail:   .asciz "mb_smp: FAIL\n"
    .align 8
gdt:        .quad 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF
gdt_desc:   .word 23
            .long gdt

    .bss
    .align 4096
page_dir:
    .space 4096
pml4:
    .space 4096
pdpt:
    .space 4096
page_dirs:
    .space 4 * 4096
    .space 4096
stack_top:

    .section .note.GNU-stack, "", @progbits
