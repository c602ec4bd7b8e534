/*
 * machine_pic.c — the 8259A pair and ExtINT through LINT0, from a guest
 * (docs/machine.md "The 8259A pair", "The test device").
 *
 * vCPU 0 initializes the pair as a PC BIOS does (ICW1-ICW4: master
 * vectors 20H-27H, slave 28H-2FH cascaded on IR2), masks everything but
 * IR1, IR2 and the slave's IR1 (IRQ 9), checks that IMR reads back, and
 * sets its local APIC's LINT0 to ExtINT (SDM 11.5.1). Through the test
 * device (port 2000H + n) it then
 *   - raises masked IRQ 3: nothing is delivered, IRR shows it;
 *   - raises IRQ 1: vector 21H arrives, ISR shows IR1 until the EOI;
 *   - raises IRQ 9: vector 29H arrives through the slave;
 *   - unmasks IRQ 3: the request waiting in IRR arrives as vector 23H;
 *   - masks LINT0: a new IRQ 1 edge is not delivered.
 * It prints
 *     pic: 21 29 23 delivered, masked IRQ held
 * and exits 0; GUEST_FAIL on any mismatch.
 */
#include "guest.h"

#define TESTDEV 0x2000

static volatile uint32_t got[16];
static volatile uint32_t order[8];
static volatile uint32_t norder;
static volatile uint8_t isr_seen;

static void on_irq(struct guest_frame *f)
{
    unsigned v = (unsigned)f->vector;
    got[v - 0x20]++;
    if (norder < 8)
        order[norder++] = v;
    outb(0x20, 0x0B); /* OCW3: read ISR */
    isr_seen = inb(0x20);
    if (v >= 0x28)
        outb(0xA0, 0x20); /* non-specific EOI to the slave, then the master */
    outb(0x20, 0x20);
}

static void line(unsigned irq, int level) { outb((uint16_t)(TESTDEV + irq), (uint8_t)level); }

static void wait_for(unsigned vector)
{
    for (unsigned spin = 0; spin < 100000 && !got[vector - 0x20]; spin++)
        pause();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    for (unsigned v = 0x20; v < 0x30; v++)
        register_handler(v, on_irq);
    xapic_enable(0xFF);
    outb(0x20, 0x11), outb(0x21, 0x20), outb(0x21, 0x04), outb(0x21, 0x01);
    outb(0xA0, 0x11), outb(0xA1, 0x28), outb(0xA1, 0x02), outb(0xA1, 0x01);
    outb(0x21, 0xF9); /* IR1, IR2 open */
    outb(0xA1, 0xFD); /* slave IR1 (IRQ 9) open */
    GUEST_CHECK(inb(0x21) == 0xF9 && inb(0xA1) == 0xFD);
    xapic_write(APIC_LVT_LINT0, 7u << 8); /* ExtINT, unmasked */
    sti();

    line(3, 1);
    wait_for(0x23);
    GUEST_CHECK(got[3] == 0);
    outb(0x20, 0x0A); /* OCW3: read IRR */
    GUEST_CHECK(inb(0x20) & 0x08);

    line(1, 1);
    wait_for(0x21);
    GUEST_CHECK(got[1] == 1 && isr_seen == 0x02);
    line(1, 0);

    line(9, 1);
    wait_for(0x29);
    GUEST_CHECK(got[9] == 1 && isr_seen == 0x04);
    line(9, 0);

    outb(0x21, 0xF1); /* IR3 open: the held request arrives */
    wait_for(0x23);
    GUEST_CHECK(got[3] == 1);
    line(3, 0);

    xapic_write(APIC_LVT_LINT0, (7u << 8) | APIC_LVT_MASKED);
    line(1, 1);
    for (unsigned spin = 0; spin < 2000; spin++)
        pause();
    GUEST_CHECK(got[1] == 1);
    cli();
    GUEST_CHECK(norder == 3 && order[0] == 0x21 && order[1] == 0x29 && order[2] == 0x23);
    printf("pic: %x %x %x delivered, masked IRQ held\n", order[0], order[1], order[2]);
    return GUEST_OK;
}
