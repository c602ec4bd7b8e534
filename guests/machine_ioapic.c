/*
 * machine_ioapic.c — the I/O APIC and the test device's interrupt lines
 * from a guest (docs/machine.md "The I/O APIC", "The test device").
 * Needs 2 CPUs.
 *
 * vCPU 0 reads the version register (20H, 24 entries), then through the
 * test device (port 2000H + n, value = line level):
 *   - edge, physical: pin 5 -> vector 55H on APIC 1;
 *   - IRQ 0 arrives on pin 2 (vector 52H on APIC 0);
 *   - edge, logical (flat, LDR bit 1 on vCPU 1): pin 10 -> vector 5AH;
 *   - masked pin 8: nothing;
 *   - level, pin 6 -> vector 56H on APIC 0: TMR set, remote IRR set while
 *     in service; an EOI with the line still high sends it again; after
 *     the line drops, the EOI clears remote IRR;
 *   - level, pin 7 -> vector 57H with EOI broadcast suppressed (SVR bit
 *     12): the local EOI leaves remote IRR set; the I/O APIC's EOI register
 *     clears it.
 * It prints
 *     ioapic: version 0x20, 24 pins; edge, logical, level x2, EOI register OK
 * and exits 0; GUEST_FAIL on any mismatch.
 */
#include "guest.h"

#define IOAPIC ((volatile uint32_t *)0xFEC00000ull)
#define TESTDEV 0x2000

static volatile uint32_t got[2][256];
static volatile uint32_t level_remote_irr, level_tmr, eoireg_remote_irr;
static struct guest_barrier barrier;
static volatile uint32_t done;

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

static void route(unsigned pin, uint32_t low, uint8_t dest)
{
    io_write((uint8_t)(0x11 + 2 * pin), (uint32_t)dest << 24);
    io_write((uint8_t)(0x10 + 2 * pin), low);
}

static void line(unsigned irq, int level) { outb((uint16_t)(TESTDEV + irq), (uint8_t)level); }

static unsigned my_cpu(void) { return xapic_read(APIC_ID) >> 24; }

static void on_edge(struct guest_frame *f)
{
    got[my_cpu()][f->vector & 0xFF]++;
    xapic_eoi();
}

/* Pin 6: the first time the line stays high (the EOI resends), the second
 * time it is lowered before the EOI. */
static void on_level(struct guest_frame *f)
{
    unsigned n = ++got[my_cpu()][f->vector & 0xFF];
    level_remote_irr = (io_read(0x10 + 2 * 6) >> 14) & 1;
    level_tmr = (uint32_t)xapic_test_vector(APIC_TMR, 0x56);
    if (n >= 2)
        line(6, 0);
    xapic_eoi();
}

static void on_eoireg(struct guest_frame *f)
{
    got[my_cpu()][f->vector & 0xFF]++;
    line(7, 0);
    xapic_eoi(); /* broadcast suppressed: remote IRR stays */
    eoireg_remote_irr = (io_read(0x10 + 2 * 7) >> 14) & 1;
    IOAPIC[0x40 / 4] = 0x57;
}

static void wait_for(unsigned cpu, unsigned vector, unsigned count)
{
    for (unsigned spin = 0; spin < 200000 && got[cpu][vector] < count; spin++)
        pause();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus >= 2);
    if (cpu == 0) {
        register_handler(0x52, on_edge);
        register_handler(0x55, on_edge);
        register_handler(0x58, on_edge);
        register_handler(0x5A, on_edge);
        register_handler(0x56, on_level);
        register_handler(0x57, on_eoireg);
    }
    xapic_enable(0xFF);
    xapic_write(APIC_DFR, 0xFFFFFFFFu);          /* flat model */
    xapic_write(APIC_LDR, (1u << cpu) << 24);   /* logical ID: bit cpu */
    guest_barrier_wait(&barrier, 2);
    sti();
    if (cpu != 0) {
        while (!done)
            pause();
        return 0;
    }

    uint32_t ver = io_read(0x01);
    GUEST_CHECK((ver & 0xFF) == 0x20 && ((ver >> 16) & 0xFF) == 23);

    route(5, 0x55, 1);
    line(5, 1);
    wait_for(1, 0x55, 1);
    GUEST_CHECK(got[1][0x55] == 1 && got[0][0x55] == 0);
    line(5, 0);

    route(2, 0x52, 0);
    line(0, 1);
    wait_for(0, 0x52, 1);
    GUEST_CHECK(got[0][0x52] == 1);
    line(0, 0);

    route(10, 0x5A | (1u << 11), 0x02); /* logical: vCPU 1 */
    line(10, 1);
    wait_for(1, 0x5A, 1);
    GUEST_CHECK(got[1][0x5A] == 1 && got[0][0x5A] == 0);
    line(10, 0);

    route(8, 0x58 | (1u << 16), 0);
    line(8, 1);
    for (unsigned spin = 0; spin < 2000; spin++)
        pause();
    GUEST_CHECK(got[0][0x58] == 0);

    route(6, 0x56 | (1u << 15), 0);
    line(6, 1);
    wait_for(0, 0x56, 2);
    GUEST_CHECK(got[0][0x56] == 2 && level_remote_irr == 1 && level_tmr == 1);
    GUEST_CHECK(((io_read(0x10 + 2 * 6) >> 14) & 1) == 0);

    xapic_write(APIC_SVR, xapic_read(APIC_SVR) | (1u << 12));
    route(7, 0x57 | (1u << 15), 0);
    line(7, 1);
    wait_for(0, 0x57, 1);
    GUEST_CHECK(got[0][0x57] == 1 && eoireg_remote_irr == 1);
    GUEST_CHECK(((io_read(0x10 + 2 * 7) >> 14) & 1) == 0);

    done = 1;
    printf("ioapic: version %#x, %u pins; edge, logical, level x2, EOI register OK\n", ver & 0xFF,
           ((ver >> 16) & 0xFF) + 1);
    return GUEST_OK;
}
