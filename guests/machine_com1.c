/*
 * machine_com1.c — COM1 and fw_cfg from a guest (docs/machine.md
 * "Devices").
 *
 * vCPU 0 programs COM1 as a kernel's serial console does (8N1 at 115200
 * baud: DLAB, divisor 1, FIFOs on, DTR/RTS/OUT2), checks the divisor
 * latch, the scratch register and LSR (THRE and TEMT set), and writes
 *     com1: hello from the 16550A
 * through THR, polling LSR.THRE before each byte. Then it reads fw_cfg:
 * the "QEMU" signature, the ID, NB_CPUS (must equal ncpus) and the RAM
 * size (must be non-zero and a multiple of 1 MiB), prints
 *     fw_cfg: QEMU, N CPUs, M MiB
 * String I/O takes the same paths: REP OUTSB writes
 *     com1: rep outsb
 * and REP INSB reads the signature again from the data port; with a 67H
 * prefix (ESI, ECX; bits 63:32 of RSI and RCX cleared), REP OUTSB and then
 * single OUTSBs with an FS override write
 *     com1: addr32 rep outsb
 *     com1: addr32 outsb, fs
 * It exits 0, GUEST_FAIL on any mismatch.
 */
#include "guest.h"

#define COM1 0x3F8
#define FW_CFG_SEL 0x510
#define FW_CFG_DATA 0x511

static void com1_putc(char ch)
{
    while (!(inb(COM1 + 5) & 0x20))
        pause();
    outb(COM1, (uint8_t)ch);
}

static uint64_t fw_cfg_read(uint16_t key, unsigned n)
{
    outw(FW_CFG_SEL, key);
    uint64_t v = 0;
    for (unsigned k = 0; k < n; k++)
        v |= (uint64_t)inb(FW_CFG_DATA) << (8 * k);
    return v;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    if (cpu != 0)
        return 0;
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    GUEST_CHECK(inb(COM1 + 0) == 0x01 && inb(COM1 + 1) == 0x00);
    outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(COM1 + 2, 0xC7); /* FIFOs on and cleared */
    outb(COM1 + 4, 0x0B); /* DTR, RTS, OUT2 */
    GUEST_CHECK(inb(COM1 + 3) == 0x03);
    GUEST_CHECK((inb(COM1 + 2) & 0xC0) == 0xC0);
    GUEST_CHECK(inb(COM1 + 5) == 0x60);
    outb(COM1 + 7, 0x5A);
    GUEST_CHECK(inb(COM1 + 7) == 0x5A);
    for (const char *s = "com1: hello from the 16550A\n"; *s; s++)
        com1_putc(*s);

    char sig[5] = {0};
    uint32_t s = (uint32_t)fw_cfg_read(0x0000, 4);
    memcpy(sig, &s, 4);
    GUEST_CHECK(strcmp(sig, "QEMU") == 0);
    GUEST_CHECK(fw_cfg_read(0x0001, 4) & 1);
    uint64_t cpus = fw_cfg_read(0x0005, 2);
    uint64_t ram = fw_cfg_read(0x0003, 8);
    GUEST_CHECK(cpus == ncpus);
    GUEST_CHECK(ram != 0 && (ram & 0xFFFFF) == 0);
    GUEST_CHECK(fw_cfg_read(0x0019, 4) == 0); /* no files */
    printf("fw_cfg: %s, %llu CPUs, %llu MiB\n", sig, (unsigned long long)cpus,
           (unsigned long long)(ram >> 20));

    static const char line[] = "com1: rep outsb\n";
    const char *src = line;
    uint64_t n = sizeof(line) - 1;
    __asm__ volatile("rep outsb" : "+S"(src), "+c"(n) : "d"((uint16_t)COM1) : "memory");
    GUEST_CHECK(n == 0 && src == line + sizeof(line) - 1);
    char again[5] = {0};
    char *dst = again;
    n = 4;
    outw(FW_CFG_SEL, 0x0000);
    __asm__ volatile("rep insb" : "+D"(dst), "+c"(n) : "d"((uint16_t)FW_CFG_DATA) : "memory");
    GUEST_CHECK(n == 0 && dst == again + 4 && strcmp(again, "QEMU") == 0);

    /* 67H (address size 32): the string instruction uses ESI and ECX only,
     * and its writes of them zero-extend into RSI and RCX (SDM Vol. 1
     * 3.4.1.1). Bits 63:32 hold garbage that must neither be used nor
     * survive: under a hypervisor the exit's handler must see the prefix. */
    static const char line32[] = "com1: addr32 rep outsb\n";
    uint64_t rsi = 0xA5A5A5A500000000ull | (uint32_t)(uintptr_t)line32;
    uint64_t rcx = 0x5A5A5A5A00000000ull | (sizeof(line32) - 1);
    __asm__ volatile("rep outsb (%%esi), (%%dx)" : "+S"(rsi), "+c"(rcx) : "d"((uint16_t)COM1)
                     : "memory");
    GUEST_CHECK(rcx == 0 && rsi == (uint32_t)(uintptr_t)line32 + sizeof(line32) - 1);
    /* One OUTS at a time, 67H and an FS override (FS base 1000H). */
    static const char fs32[] = "com1: addr32 outsb, fs\n";
    wrmsr(0xC0000100u, 0x1000); /* IA32_FS_BASE */
    for (unsigned k = 0; k < sizeof(fs32) - 1; k++) {
        uint32_t off = (uint32_t)(uintptr_t)&fs32[k] - 0x1000;
        rsi = 0xC3C3C3C300000000ull | off;
        __asm__ volatile("outsb %%fs:(%%esi), (%%dx)" : "+S"(rsi) : "d"((uint16_t)COM1) : "memory");
        GUEST_CHECK(rsi == (uint64_t)off + 1);
    }
    wrmsr(0xC0000100u, 0);
    return GUEST_OK;
}
