/*
 * ioapic_tmr.c — the local APIC's TMR seen by a guest as I/O APIC
 * interrupts of one vector alternate between edge and level triggering
 * (SDM 11.8.4 "Interrupt Acceptance for Fixed Interrupts": on acceptance
 * into the IRR the TMR bit is set for a level-triggered interrupt and
 * cleared for an edge-triggered one; it keeps that value until the next
 * interrupt of the vector is accepted). One CPU.
 *
 * Pin 14 -> vector 79H, through the test device's line 14 (port 200EH):
 *   edge  : TMR[79H] 0 before, 0 in the handler;
 *   level : 0 before, 1 in the handler (the handler lowers the line);
 *   level : 1 before (it stays after the EOI), 1 in the handler;
 *   edge  : 1 before, 0 in the handler;
 * after each level EOI the pin's remote IRR is clear. It prints
 *     ioapic tmr: edge 0/0, level 0/1, level 1/1, edge 1/0
 * and exits 0; GUEST_FAIL on any mismatch.
 */
#include "guest.h"

#define IOAPIC ((volatile uint32_t *)0xFEC00000ull)
#define TESTDEV 0x2000
#define PIN 14
#define VEC 0x79

static volatile uint32_t taken;
static volatile int tmr_in_handler = -1;

static uint32_t io_read(uint8_t reg)
{
    IOAPIC[0] = reg;
    return IOAPIC[4];
}

static void io_write(uint8_t reg, uint32_t v)
{
    IOAPIC[0] = reg;
    IOAPIC[4] = v;
}

static void line(int level) { outb((uint16_t)(TESTDEV + PIN), (uint8_t)level); }

static void on_vec(struct guest_frame *f)
{
    (void)f;
    tmr_in_handler = xapic_test_vector(APIC_TMR, VEC);
    line(0);
    taken++;
    xapic_eoi();
}

/* One interrupt with the given trigger mode; returns TMR before it in
 * bit 1 and TMR in its handler in bit 0. */
static unsigned one(int level)
{
    io_write(0x11 + 2 * PIN, 0);
    io_write(0x10 + 2 * PIN, VEC | (level ? 1u << 15 : 0));
    unsigned before = (unsigned)xapic_test_vector(APIC_TMR, VEC);
    uint32_t n = taken;
    tmr_in_handler = -1;
    line(1);
    if (!level)
        line(0);
    for (unsigned spin = 0; spin < 200000 && taken == n; spin++)
        pause();
    GUEST_CHECK(taken == n + 1 && tmr_in_handler >= 0);
    GUEST_CHECK(((io_read(0x10 + 2 * PIN) >> 14) & 1) == 0);
    return before << 1 | (unsigned)tmr_in_handler;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(VEC, on_vec);
    xapic_enable(0xFF);
    sti();
    unsigned e1 = one(0), l1 = one(1), l2 = one(1), e2 = one(0);
    printf("ioapic tmr: edge %u/%u, level %u/%u, level %u/%u, edge %u/%u\n", e1 >> 1, e1 & 1,
           l1 >> 1, l1 & 1, l2 >> 1, l2 & 1, e2 >> 1, e2 & 1);
    GUEST_CHECK(e1 == 0 && l1 == 1 && l2 == 3 && e2 == 2);
    return GUEST_OK;
}
