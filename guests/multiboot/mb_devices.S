/*
 * mb_devices.S — a small Multiboot (v1) kernel for the PC devices, run in
 * 32-bit protected mode with paging off, as the loader enters it
 * (docs/multiboot.md), natively and under the built-in hypervisor in every
 * mode (unrestricted guest, EPT identity map; docs/hypervisor.md
 * "Multiboot kernels"). One CPU. It prints through COM1 only:
 *
 *   COM1 (docs/machine.md "COM1"): 8N1 with the divisor latch (LCR.DLAB),
 *   the scratch register, LSR.THRE and TEMT polled before each byte:
 *     mb_devices: COM1 16550A, scratch 5a
 *   fw_cfg: the signature "QEMU" (selector 0):
 *     mb_devices: fw_cfg QEMU
 *   the 8259A pair (ICW1-ICW4, vectors 20H/28H, cascade on IR2): the masks
 *   read back from OCW1, and the test device's IRQ 3 raised on a masked
 *   input waits in the master's IRR (OCW3 read IRR) without an interrupt:
 *     mb_devices: 8259A masks fb ff, masked IRQ 3 held
 *   the I/O APIC with the test device (port 2000H + n) and the local APIC,
 *   taken through a 32-bit IDT of interrupt gates: pin 5 edge-triggered to
 *   vector 30H; pin 6 level-triggered to vector 31H, whose handler finds
 *   remote IRR set (SDM 82093AA "IOREDTBL" bit 14), lowers the line and
 *   EOIs the local APIC, whose EOI message clears remote IRR:
 *     mb_devices: I/O APIC edge, level, remote IRR, EOI
 *   the 8259A's ExtINT through the local APIC's LINT0: IRQ 3 unmasked on
 *   the master arrives as vector 23H by the INTA cycle, IR3 in the master's
 *   ISR until the handler's non-specific EOI; with LINT0 masked a new edge
 *   is not delivered:
 *     mb_devices: 8259A ExtINT 23 through LINT0, held while LINT0 masked
 *
 * and ends the run with status 0 (port F4H); on any failure it prints
 * "mb_devices: FAIL <step>" on port E9H and ends with 16.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */
#define COM1 0x3F8
#define TESTDEV 0x2000
#define APIC_SVR 0xFEE000F0
#define APIC_EOI 0xFEE000B0
#define IOAPIC_SEL 0xFEC00000
#define IOAPIC_WIN 0xFEC00010
#define VEC_EDGE 0x30
#define VEC_LEVEL 0x31
#define VEC_EXTINT 0x23 /* the master's IR3 */
#define APIC_LVT_LINT0 0xFEE00350
#define SPIN 20000000

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    cmpl $0x2BADB002, %eax
    movb $'0', %bl
    jne fail
    movl $stack_top, %esp

    /* ---- COM1: 8N1, divisor 1 (115200 baud), FIFO on, scratch. */
    movw $COM1 + 3, %dx
    movb $0x80, %al /* LCR.DLAB */
    outb %al, %dx
    movw $COM1, %dx
    movb $1, %al
    outb %al, %dx
    incw %dx
    xorb %al, %al
    outb %al, %dx
    movw $COM1 + 3, %dx
    movb $0x03, %al /* 8 bits, no parity, 1 stop bit, DLAB off */
    outb %al, %dx
    inb %dx, %al
    movb $'1', %bl
    cmpb $0x03, %al
    jne fail
    movw $COM1 + 7, %dx
    movb $0x5A, %al
    outb %al, %dx
    inb %dx, %al
    movb $'2', %bl
    cmpb $0x5A, %al
    jne fail
    movl $msg_com1, %esi
    call puts

    /* ---- fw_cfg: selector 0 (signature), four bytes "QEMU". */
    movw $0x510, %dx
    xorw %ax, %ax
    outw %ax, %dx
    movw $0x511, %dx
    inb %dx, %al
    shll $8, %eax
    inb %dx, %al
    shll $8, %eax
    inb %dx, %al
    shll $8, %eax
    inb %dx, %al
    movb $'3', %bl
    cmpl $0x51454D55, %eax /* 'Q' 'E' 'M' 'U', first byte highest */
    jne fail
    movl $msg_fwcfg, %esi
    call puts

    /* ---- the 8259A pair: ICW1 (edge, cascade, ICW4), ICW2 (vector
     * base), ICW3 (cascade on IR2 / slave ID 2), ICW4 (8086 mode); then
     * OCW1 masks: everything but the cascade on the master, all on the
     * slave. */
    movb $0x11, %al
    outb %al, $0x20
    outb %al, $0xA0
    movb $0x20, %al
    outb %al, $0x21
    movb $0x28, %al
    outb %al, $0xA1
    movb $0x04, %al
    outb %al, $0x21
    movb $0x02, %al
    outb %al, $0xA1
    movb $0x01, %al
    outb %al, $0x21
    outb %al, $0xA1
    movb $0xFB, %al
    outb %al, $0x21
    movb $0xFF, %al
    outb %al, $0xA1
    inb $0x21, %al
    movb $'4', %bl
    cmpb $0xFB, %al
    jne fail
    inb $0xA1, %al
    cmpb $0xFF, %al
    jne fail
    /* IRQ 3 (masked) raised: the master's IRR holds it (OCW3 read IRR). */
    movw $TESTDEV + 3, %dx
    movb $1, %al
    outb %al, %dx
    movb $0x0A, %al
    outb %al, $0x20
    inb $0x20, %al
    movb $'5', %bl
    testb $0x08, %al
    jz fail
    movw $TESTDEV + 3, %dx
    xorb %al, %al
    outb %al, %dx
    movl $msg_pic, %esi
    call puts

    /* ---- the I/O APIC through a 32-bit IDT. */
    movl $handler_edge, %eax
    movl $VEC_EDGE, %ecx
    call set_gate
    movl $handler_level, %eax
    movl $VEC_LEVEL, %ecx
    call set_gate
    lidt idt_desc
    movl $0x1FF, APIC_SVR /* software-enabled, spurious vector FFH */
    /* Pin 5: edge, fixed, physical destination APIC 0, vector 30H. */
    movl $0x11 + 2 * 5, IOAPIC_SEL
    movl $0, IOAPIC_WIN
    movl $0x10 + 2 * 5, IOAPIC_SEL
    movl $VEC_EDGE, IOAPIC_WIN
    movw $TESTDEV + 5, %dx
    movb $1, %al
    outb %al, %dx
    xorb %al, %al
    outb %al, %dx
    sti
    movl $SPIN, %ecx
1:  cmpl $1, count_edge
    je 2f
    pause
    loop 1b
2:  cli
    movb $'6', %bl
    cmpl $1, count_edge
    jne fail
    /* Pin 6: level-triggered (bit 15), vector 31H; the line stays high
     * until the handler lowers it. */
    movl $0x11 + 2 * 6, IOAPIC_SEL
    movl $0, IOAPIC_WIN
    movl $0x10 + 2 * 6, IOAPIC_SEL
    movl $VEC_LEVEL | 0x8000, IOAPIC_WIN
    movw $TESTDEV + 6, %dx
    movb $1, %al
    outb %al, %dx
    sti
    movl $SPIN, %ecx
3:  cmpl $1, count_level
    je 4f
    pause
    loop 3b
4:  cli
    movb $'7', %bl
    cmpl $1, count_level
    jne fail
    movb $'8', %bl
    cmpl $1, remote_irr_in_handler
    jne fail
    movl $0x10 + 2 * 6, IOAPIC_SEL
    movl IOAPIC_WIN, %eax
    movb $'9', %bl
    testl $0x4000, %eax /* remote IRR cleared by the EOI */
    jnz fail
    movl $msg_ioapic, %esi
    call puts

    /* ---- ExtINT through LINT0 (SDM Vol. 3A 11.5.1: delivery mode 111B,
     * the vector comes from the 8259A's INTA cycle): LINT0 unmasked, IRQ
     * 3 raised again and its master input unmasked; vector 23H arrives
     * with IR3 in the master's ISR, and the handler EOIs the 8259A only
     * (an ExtINT is not in the local APIC's ISR). */
    movl $handler_extint, %eax
    movl $VEC_EXTINT, %ecx
    call set_gate
    movl $0x700, APIC_LVT_LINT0
    movw $TESTDEV + 3, %dx
    movb $1, %al
    outb %al, %dx
    movb $0xF3, %al /* IR2 (cascade) and IR3 open */
    outb %al, $0x21
    sti
    movl $SPIN, %ecx
6:  cmpl $1, count_extint
    je 7f
    pause
    loop 6b
7:  cli
    movb $'a', %bl
    cmpl $1, count_extint
    jne fail
    movb $'b', %bl
    cmpb $0x08, isr_in_extint
    jne fail
    movw $TESTDEV + 3, %dx
    xorb %al, %al
    outb %al, %dx
    /* LINT0 masked: a new IRQ 3 edge stays in the 8259A's IRR. */
    movl $0x10700, APIC_LVT_LINT0
    movb $1, %al
    outb %al, %dx
    sti
    movl $20000, %ecx
8:  pause
    loop 8b
    cli
    movb $'c', %bl
    cmpl $1, count_extint
    jne fail
    movl $msg_extint, %esi
    call puts
    xorl %eax, %eax
    movw $0xF4, %dx
    outl %eax, %dx
5:  cli
    hlt
    jmp 5b

/* BL names the failed step. */
fail:
    movl $msg_fail, %esi
1:  lodsb
    testb %al, %al
    jz 2f
    outb %al, $0xE9
    jmp 1b
2:  movb %bl, %al
    outb %al, $0xE9
    movb $'\n', %al
    outb %al, $0xE9
    movl $16, %eax
    movw $0xF4, %dx
    outl %eax, %dx
3:  cli
    hlt
    jmp 3b

/* Prints the NUL-terminated string at ESI on COM1, waiting for THRE. */
puts:
    lodsb
    testb %al, %al
    jz 2f
    movb %al, %ah
    movw $COM1 + 5, %dx
1:  inb %dx, %al
    testb $0x20, %al
    jz 1b
    movw $COM1, %dx
    movb %ah, %al
    outb %al, %dx
    jmp puts
2:  ret

/* IDT entry ECX: a 32-bit interrupt gate (type 0EH, present, DPL 0) to
 * EAX in the loader's flat code segment 08H (SDM Vol. 3A 6.11). */
set_gate:
    movl %eax, %edx
    andl $0xFFFF, %edx
    orl $0x00080000, %edx
    movl %edx, idt(,%ecx,8)
    andl $0xFFFF0000, %eax
    orl $0x8E00, %eax
    movl %eax, idt + 4(,%ecx,8)
    ret

handler_edge:
    pushl %eax
    incl count_edge
    movl $0, APIC_EOI
    popl %eax
    iret

handler_extint:
    pushl %eax
    incl count_extint
    movb $0x0B, %al /* OCW3: read ISR */
    outb %al, $0x20
    inb $0x20, %al
    movb %al, isr_in_extint
    movb $0x20, %al /* non-specific EOI */
    outb %al, $0x20
    popl %eax
    iret

handler_level:
    pushl %eax
    pushl %edx
    incl count_level
    movl $0x10 + 2 * 6, IOAPIC_SEL
    movl IOAPIC_WIN, %eax
    shrl $14, %eax
    andl $1, %eax
    movl %eax, remote_irr_in_handler
    movw $TESTDEV + 6, %dx
    xorb %al, %al
    outb %al, %dx
    movl $0, APIC_EOI
    popl %edx
    popl %eax
    iret

    .section .rodata
msg_com1:   .asciz "mb_devices: COM1 16550A, scratch 5a\n"
msg_fwcfg:  .asciz "mb_devices: fw_cfg QEMU\n"
msg_pic:    .asciz "mb_devices: 8259A masks fb ff, masked IRQ 3 held\n"
msg_ioapic: .asciz "mb_devices: I/O APIC edge, level, remote IRR, EOI\n"
msg_extint: .asciz "mb_devices: 8259A ExtINT 23 through LINT0, held while LINT0 masked\n"
msg_fail:   .asciz "mb_devices: FAIL "
    .align 8
idt_desc:   .word 256 * 8 - 1
            .long idt

    .data
    .align 4
count_edge:            .long 0
count_extint:          .long 0
isr_in_extint:         .long 0
count_level:           .long 0
remote_irr_in_handler: .long 0

    .bss
    .align 4096
idt:
    .space 256 * 8
    .align 16
    .space 4096
stack_top:

    .section .note.GNU-stack, "", @progbits
