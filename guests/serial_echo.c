/*
 * serial_echo.c — reads what COM1 receives (`apicv-emu run --serial-input
 * FILE`, docs/machine.md) by polling LSR.DR and reading RBR, and echoes it
 * upper-cased to the console (port 0xE9), then prints how many bytes it
 * read. The machine hands over the next byte as soon as RBR has been read,
 * so DR = 0 right after a read means the input has ended.
 * tests/emu/test_cli.c runs it.
 */
#include "guest.h"

#define COM1 0x3F8

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    unsigned n = 0;
    while (inb(COM1 + 5) & 1) {
        uint8_t c = inb(COM1);
        putchar(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        n++;
    }
    printf("serial_echo: %u bytes\n", n);
    return 0;
}
