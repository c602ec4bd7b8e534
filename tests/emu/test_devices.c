/*
 * test_devices.c — the machine's PC devices through its one dispatch table
 * (emu/devices/): the bus itself, the ABI ports, COM1, fw_cfg, the 8259A
 * pair, the test device's lines into the 8259 and the I/O APIC, and the
 * I/O APIC page; each register as docs/machine.md describes it.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_internal.h"

#define GUEST(name) APICV_GUEST_DIR "/" name ".elf"

static char con[256];
static size_t ncon;

static void to_con(void *ctx, unsigned cpu, uint8_t byte)
{
    (void)ctx, (void)cpu;
    if (ncon + 1 < sizeof(con)) {
        con[ncon++] = (char)byte;
        con[ncon] = 0;
    }
}

static emu_machine *make_with_input(unsigned ncpus, uint64_t mem, const char *serial)
{
    emu_machine *m = malloc(sizeof(*m));
    ck_assert_ptr_nonnull(m);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.ncpus = ncpus;
    cfg.mem_bytes = mem;
    cfg.serial_input = (const uint8_t *)serial;
    cfg.serial_input_len = serial ? strlen(serial) : 0;
    char err[512];
    ck_assert_msg(emu_machine_init(m, &cfg, GUEST("hello"), err, sizeof(err)), "%s", err);
    m->console = to_con;
    ncon = 0;
    con[0] = 0;
    return m;
}

static emu_machine *make(unsigned ncpus, uint64_t mem)
{
    return make_with_input(ncpus, mem, NULL);
}

static void done(emu_machine *m)
{
    emu_machine_free(m);
    free(m);
}

static uint32_t in(emu_machine *m, uint16_t port, unsigned size)
{
    uint32_t v = 0x5A5A5A5A;
    if (!emu_bus_io(m, &m->cpu[0], port, size, true, &v))
        return 0xFFFFFFFFu;
    return v;
}

static void out(emu_machine *m, uint16_t port, unsigned size, uint32_t v)
{
    emu_bus_io(m, &m->cpu[0], port, size, false, &v);
}

/* ---- the bus --------------------------------------------------------------- */

START_TEST(unassigned_ports_are_nobodys)
{
    emu_machine *m = make(1, 16 << 20);
    uint32_t v = 0;
    ck_assert(!emu_bus_io(m, &m->cpu[0], 0x80, 1, true, &v));
    ck_assert(!emu_bus_io(m, &m->cpu[0], 0x3F7, 1, false, &v));
    ck_assert(!emu_bus_io(m, &m->cpu[0], 0x2018, 1, false, &v));
    ck_assert(!m->dev.touched); /* nobody's ports touch no device */
    ck_assert(emu_bus_io(m, &m->cpu[0], 0x3FF, 1, true, &v));
    ck_assert(m->dev.touched);
    /* Overlapping ranges are refused; the table stays as it was. */
    unsigned n = m->dev.bus.npio;
    ck_assert(!emu_bus_add_pio(&m->dev.bus, 0x3FC, 8, emu_uart_io, &m->dev.uart));
    ck_assert_uint_eq(m->dev.bus.npio, n);
    uint64_t mv = 0;
    ck_assert(!emu_bus_mmio(m, &m->cpu[0], 0xFED00000ull, 4, false, &mv));
    ck_assert(emu_bus_owns_page(m, 0xFEC00FFCull));
    ck_assert(!emu_bus_owns_page(m, 0xFEC01000ull));
    done(m);
}
END_TEST

START_TEST(exit_port_takes_any_width)
{
    static const unsigned sizes[] = {1, 2, 4};
    for (unsigned i = 0; i < 3; i++) {
        emu_machine *m = make(1, 16 << 20);
        out(m, EMU_PORT_EXIT, sizes[i], 0x1234u + i);
        ck_assert(m->finished);
        ck_assert_int_eq(m->exit_status, (int)((0x1234u + i) & 0xFF));
        done(m);
    }
}
END_TEST

START_TEST(console_port_and_abi_reads)
{
    emu_machine *m = make(1, 16 << 20);
    out(m, EMU_PORT_CONSOLE, 1, 'h');
    ck_assert_str_eq(con, "h");
    ck_assert_uint_eq(in(m, EMU_PORT_CONSOLE, 1), 0xFFFFFFFFu);
    ck_assert(!m->finished);
    ck_assert(!m->dev.touched); /* the ABI ports leave the digest as it was */
    done(m);
}
END_TEST

/* ---- COM1 ------------------------------------------------------------------ */

START_TEST(uart_transmits_to_the_console)
{
    emu_machine *m = make(1, 16 << 20);
    out(m, 0x3F8, 1, 'O');
    out(m, 0x3F8, 1, 'K');
    ck_assert_str_eq(con, "OK");
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60); /* THRE | TEMT, no data */
    ck_assert_uint_eq(in(m, 0x3FE, 1), 0xB0); /* DCD, DSR, CTS */
    ck_assert(m->dev.touched);
    done(m);
}
END_TEST

START_TEST(uart_divisor_latch_and_scratch)
{
    emu_machine *m = make(1, 16 << 20);
    out(m, 0x3F9, 1, 0x05); /* IER */
    out(m, 0x3FB, 1, 0x83); /* DLAB, 8N1 */
    out(m, 0x3F8, 1, 0x01); /* DLL: not transmitted */
    out(m, 0x3F9, 1, 0x02); /* DLM */
    ck_assert_uint_eq(in(m, 0x3F8, 1), 0x01);
    ck_assert_uint_eq(in(m, 0x3F9, 1), 0x02);
    ck_assert_uint_eq(ncon, 0);
    out(m, 0x3FB, 1, 0x03);
    ck_assert_uint_eq(in(m, 0x3FB, 1), 0x03);
    ck_assert_uint_eq(in(m, 0x3F9, 1), 0x05); /* IER kept */
    out(m, 0x3FF, 1, 0xA5);
    ck_assert_uint_eq(in(m, 0x3FF, 1), 0xA5);
    out(m, 0x3FC, 1, 0xFF);
    ck_assert_uint_eq(in(m, 0x3FC, 1), 0x1F);
    done(m);
}
END_TEST

START_TEST(uart_thre_interrupt_and_iir)
{
    emu_machine *m = make(1, 16 << 20);
    ck_assert_uint_eq(in(m, 0x3FA, 1), 0x01); /* nothing pending */
    out(m, 0x3FC, 1, 0x08);                    /* OUT2: the IRQ line is gated on */
    out(m, 0x3F9, 1, 0x02);                    /* THRE interrupt: pending at once */
    ck_assert_uint_ne(m->dev.isa_lines & (1u << 4), 0);
    ck_assert_uint_eq(in(m, 0x3FA, 1), 0x02);
    ck_assert_uint_eq(m->dev.isa_lines & (1u << 4), 0); /* reading IIR cleared it */
    ck_assert_uint_eq(in(m, 0x3FA, 1), 0x01);
    out(m, 0x3F8, 1, 'x'); /* THR empties again */
    ck_assert_uint_ne(m->dev.isa_lines & (1u << 4), 0);
    out(m, 0x3FA, 1, 0x07); /* FIFOs on */
    ck_assert_uint_eq(in(m, 0x3FA, 1), 0xC2);
    ck_assert_uint_eq(in(m, 0x3FA, 1), 0xC1);
    done(m);
}
END_TEST

START_TEST(uart_loopback)
{
    emu_machine *m = make(1, 16 << 20);
    out(m, 0x3FC, 1, 0x1B); /* loopback, OUT2, RTS, DTR */
    out(m, 0x3F8, 1, 0xAE);
    ck_assert_uint_eq(ncon, 0);
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x61);
    ck_assert_uint_eq(in(m, 0x3FE, 1), 0xB0); /* DCD=OUT2, CTS=RTS, DSR=DTR */
    ck_assert_uint_eq(in(m, 0x3F8, 1), 0xAE);
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60);
    done(m);
}
END_TEST

/* The serial input: each byte arrives once RBR has been read (LSR.DR),
 * in order; after the last one DR stays 0; reading an empty RBR returns the
 * last byte again. */
START_TEST(uart_receives_the_serial_input)
{
    emu_machine *m = make_with_input(1, 16 << 20, "ab");
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x61); /* DR, THRE, TEMT */
    ck_assert_uint_eq(in(m, 0x3F8, 1), 'a');
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x61);
    ck_assert_uint_eq(in(m, 0x3F8, 1), 'b');
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60); /* nothing more */
    ck_assert_uint_eq(in(m, 0x3F8, 1), 'b');
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60);
    done(m);
    /* Without an input nothing is ever received. */
    m = make(1, 16 << 20);
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60);
    done(m);
}
END_TEST

static void pic_init(emu_machine *m, uint8_t mbase, uint8_t sbase);

/* The receive interrupt (IER bit 0, IIR 04H) on IRQ 4: every byte that
 * arrives after a read is a new rising edge (the line falls and rises), so
 * an edge-triggered 8259A input requests once per byte; after the last
 * byte the line stays low. */
START_TEST(uart_receive_interrupt_per_byte)
{
    emu_machine *m = make_with_input(1, 16 << 20, "xyz");
    pic_init(m, 0x20, 0x28);
    out(m, 0x3FC, 1, 0x08); /* OUT2 */
    ck_assert_uint_eq(m->dev.isa_lines & (1u << 4), 0);
    out(m, 0x3F9, 1, 0x01); /* received-data interrupt */
    ck_assert_uint_ne(m->dev.isa_lines & (1u << 4), 0);
    ck_assert_uint_eq(in(m, 0x3FA, 1), 0x04);
    const char *want = "xyz";
    for (unsigned k = 0; k < 3; k++) {
        ck_assert(emu_pic_intr(&m->dev.pic));
        ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x24);
        ck_assert_uint_eq(in(m, 0x3F8, 1), (uint8_t)want[k]);
        out(m, 0x20, 1, 0x20); /* EOI */
    }
    ck_assert(!emu_pic_intr(&m->dev.pic));
    ck_assert_uint_eq(m->dev.isa_lines & (1u << 4), 0);
    ck_assert_uint_eq(in(m, 0x3FA, 1), 0x01);
    done(m);
}
END_TEST

/* In loopback the receiver hears the transmitter; the serial input waits
 * and arrives when loopback ends and RBR is empty. */
START_TEST(uart_loopback_holds_the_input)
{
    emu_machine *m = make_with_input(1, 16 << 20, "q");
    ck_assert_uint_eq(in(m, 0x3F8, 1), 'q'); /* the first byte was waiting at reset */
    done(m);
    m = make_with_input(1, 16 << 20, "pqr");
    ck_assert_uint_eq(in(m, 0x3F8, 1), 'p'); /* 'q' arrives at once */
    out(m, 0x3FC, 1, 0x10);                  /* loopback */
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x61);
    ck_assert_uint_eq(in(m, 0x3F8, 1), 'q'); /* 'r' must not arrive now */
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60);
    out(m, 0x3F8, 1, 0x5A);
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x61);
    ck_assert_uint_eq(in(m, 0x3F8, 1), 0x5A);
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60);
    out(m, 0x3FC, 1, 0x00); /* loopback off: the input goes on */
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x61);
    ck_assert_uint_eq(in(m, 0x3F8, 1), 'r');
    ck_assert_uint_eq(in(m, 0x3FD, 1), 0x60);
    done(m);
}
END_TEST

/* ---- fw_cfg ---------------------------------------------------------------- */

static uint64_t fwcfg_item(emu_machine *m, uint16_t key, unsigned n)
{
    out(m, 0x510, 2, key);
    uint64_t v = 0;
    for (unsigned k = 0; k < n; k++)
        v |= (uint64_t)in(m, 0x511, 1) << (8 * k);
    return v;
}

START_TEST(fwcfg_items)
{
    emu_machine *m = make(3, 32 << 20);
    ck_assert_uint_eq(fwcfg_item(m, 0x0000, 4), 0x554D4551u); /* "QEMU" */
    ck_assert_uint_eq(fwcfg_item(m, 0x0001, 4), 1);
    ck_assert_uint_eq(fwcfg_item(m, 0x0005, 2), 3);
    ck_assert_uint_eq(fwcfg_item(m, 0x0003, 8), 32u << 20);
    ck_assert_uint_eq(fwcfg_item(m, 0x0019, 4), 0);
    ck_assert_uint_eq(fwcfg_item(m, 0x0004, 8), 0);
    ck_assert_uint_eq(fwcfg_item(m, 0x8000, 4), 0);
    /* Past the end of an item: 0. A 16-bit data read: two bytes. */
    ck_assert_uint_eq(fwcfg_item(m, 0x0000, 6), 0x554D4551u);
    out(m, 0x510, 2, 0x0000);
    ck_assert_uint_eq(in(m, 0x511, 2), 0x4551);
    ck_assert_uint_eq(in(m, 0x510, 2), 0xFFFFFFFFu);
    done(m);
}
END_TEST

/* ---- the 8259A pair ------------------------------------------------------------ */

static void pic_init(emu_machine *m, uint8_t mbase, uint8_t sbase)
{
    out(m, 0x20, 1, 0x11);
    out(m, 0x21, 1, mbase);
    out(m, 0x21, 1, 0x04);
    out(m, 0x21, 1, 0x01);
    out(m, 0xA0, 1, 0x11);
    out(m, 0xA1, 1, sbase);
    out(m, 0xA1, 1, 0x02);
    out(m, 0xA1, 1, 0x01);
}

START_TEST(pic_init_masks_and_vectors)
{
    emu_machine *m = make(1, 16 << 20);
    pic_init(m, 0x20, 0x28);
    ck_assert_uint_eq(in(m, 0x21, 1), 0x00); /* ICW1 cleared IMR */
    out(m, 0x21, 1, 0xFD);
    out(m, 0xA1, 1, 0xFF);
    ck_assert_uint_eq(in(m, 0x21, 1), 0xFD);
    ck_assert_uint_eq(in(m, 0xA1, 1), 0xFF);
    emu_irq_set_line(m, &m->cpu[0], 3, true); /* masked */
    ck_assert(!emu_pic_intr(&m->dev.pic));
    out(m, 0x20, 1, 0x0A); /* read IRR */
    ck_assert_uint_eq(in(m, 0x20, 1), 0x08);
    emu_irq_set_line(m, &m->cpu[0], 1, true);
    ck_assert(emu_pic_intr(&m->dev.pic));
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x21);
    ck_assert(!emu_pic_intr(&m->dev.pic));
    out(m, 0x20, 1, 0x0B); /* read ISR */
    ck_assert_uint_eq(in(m, 0x20, 1), 0x02);
    out(m, 0x20, 1, 0x20); /* non-specific EOI */
    ck_assert_uint_eq(in(m, 0x20, 1), 0x00);
    /* A new edge is needed for another request. */
    ck_assert(!emu_pic_intr(&m->dev.pic));
    emu_irq_set_line(m, &m->cpu[0], 1, false);
    emu_irq_set_line(m, &m->cpu[0], 1, true);
    ck_assert(emu_pic_intr(&m->dev.pic));
    done(m);
}
END_TEST

START_TEST(pic_cascade_priority_and_spurious)
{
    emu_machine *m = make(1, 16 << 20);
    pic_init(m, 0x30, 0x38);
    /* Nothing pending: the master's IR7, no in-service bit. */
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x37);
    out(m, 0x20, 1, 0x0B);
    ck_assert_uint_eq(in(m, 0x20, 1), 0x00);
    /* IRQ 9: through the slave and master IR2. */
    emu_irq_set_line(m, &m->cpu[0], 9, true);
    ck_assert(emu_pic_intr(&m->dev.pic));
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x39);
    ck_assert_uint_eq(in(m, 0x20, 1), 0x04);
    out(m, 0xA0, 1, 0x0B);
    ck_assert_uint_eq(in(m, 0xA0, 1), 0x02);
    /* IRQ 3 in service blocks IRQ 5 but not IRQ 0. */
    out(m, 0xA0, 1, 0x20);
    out(m, 0x20, 1, 0x20);
    emu_irq_set_line(m, &m->cpu[0], 3, true);
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x33);
    emu_irq_set_line(m, &m->cpu[0], 5, true);
    ck_assert(!emu_pic_intr(&m->dev.pic));
    emu_irq_set_line(m, &m->cpu[0], 0, true);
    ck_assert(emu_pic_intr(&m->dev.pic));
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x30);
    out(m, 0x20, 1, 0x60); /* specific EOI of IR0 */
    out(m, 0x20, 1, 0x63); /* specific EOI of IR3 */
    ck_assert(emu_pic_intr(&m->dev.pic));
    /* The poll command: the request level, acknowledged. */
    out(m, 0x20, 1, 0x0C);
    ck_assert_uint_eq(in(m, 0x20, 1), 0x85);
    ck_assert(!emu_pic_intr(&m->dev.pic));
    done(m);
}
END_TEST

/* Level-triggered inputs (8259A datasheet "Edge and Level Triggered
 * Modes"): with ICW1.LTIM an input still high after the EOI requests
 * again, and one that falls before INTA withdraws its request. */
START_TEST(pic_level_triggered_ltim)
{
    emu_machine *m = make(1, 16 << 20);
    out(m, 0x20, 1, 0x19); /* ICW1: LTIM, ICW4 follows */
    out(m, 0x21, 1, 0x20);
    out(m, 0x21, 1, 0x04);
    out(m, 0x21, 1, 0x01);
    emu_irq_set_line(m, &m->cpu[0], 3, true);
    ck_assert(emu_pic_intr(&m->dev.pic));
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x23);
    ck_assert(!emu_pic_intr(&m->dev.pic)); /* in service */
    out(m, 0x20, 1, 0x20);                 /* EOI, the line still high */
    ck_assert(emu_pic_intr(&m->dev.pic));
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x23);
    emu_irq_set_line(m, &m->cpu[0], 3, false);
    out(m, 0x20, 1, 0x20);
    ck_assert(!emu_pic_intr(&m->dev.pic)); /* the line is low: no request */
    /* A request withdrawn before INTA: IRR follows the line. */
    emu_irq_set_line(m, &m->cpu[0], 5, true);
    ck_assert(emu_pic_intr(&m->dev.pic));
    emu_irq_set_line(m, &m->cpu[0], 5, false);
    ck_assert(!emu_pic_intr(&m->dev.pic));
    out(m, 0x20, 1, 0x0A);
    ck_assert_uint_eq(in(m, 0x20, 1), 0x00);
    /* An edge-triggered chip keeps the latched request instead. */
    pic_init(m, 0x20, 0x28);
    emu_irq_set_line(m, &m->cpu[0], 5, true);
    emu_irq_set_line(m, &m->cpu[0], 5, false);
    ck_assert(emu_pic_intr(&m->dev.pic));
    done(m);
}
END_TEST

/* ELCR at 4D0H/4D1H: per-IRQ level triggering with an edge-mode ICW1; IRQ
 * 0, 1, 2, 8 and 13 stay edge (their bits read 0); ICW1 keeps the ELCR. */
START_TEST(pic_elcr)
{
    emu_machine *m = make(1, 16 << 20);
    pic_init(m, 0x20, 0x28);
    ck_assert_uint_eq(in(m, 0x4D0, 2), 0x0000);
    out(m, 0x4D0, 1, 0xFF);
    out(m, 0x4D1, 1, 0xFF);
    ck_assert_uint_eq(in(m, 0x4D0, 1), 0xF8);
    ck_assert_uint_eq(in(m, 0x4D1, 1), 0xDE);
    out(m, 0x4D0, 2, 0x0608); /* IRQ 3, IRQ 9 and 10 level */
    ck_assert_uint_eq(in(m, 0x4D0, 2), 0x0608);
    pic_init(m, 0x20, 0x28); /* ICW1 does not touch the ELCR */
    ck_assert_uint_eq(in(m, 0x4D0, 2), 0x0608);
    emu_irq_set_line(m, &m->cpu[0], 3, true);
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x23);
    out(m, 0x20, 1, 0x20);
    ck_assert(emu_pic_intr(&m->dev.pic)); /* level: requests again */
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x23);
    emu_irq_set_line(m, &m->cpu[0], 3, false);
    out(m, 0x20, 1, 0x20);
    ck_assert(!emu_pic_intr(&m->dev.pic));
    /* IRQ 4 stays edge: one request per rising edge. */
    emu_irq_set_line(m, &m->cpu[0], 4, true);
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x24);
    out(m, 0x20, 1, 0x20);
    ck_assert(!emu_pic_intr(&m->dev.pic));
    /* IRQ 10 (level) through the slave. */
    emu_irq_set_line(m, &m->cpu[0], 10, true);
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x2A);
    out(m, 0xA0, 1, 0x20);
    out(m, 0x20, 1, 0x20);
    ck_assert(emu_pic_intr(&m->dev.pic));
    ck_assert_uint_eq(emu_pic_ack(&m->dev.pic), 0x2A);
    done(m);
}
END_TEST

/* ---- the test device and the I/O APIC ---------------------------------------- */

static void ioapic_wr(emu_machine *m, uint8_t reg, uint32_t v)
{
    uint64_t sel = reg, val = v;
    ck_assert(emu_bus_mmio(m, &m->cpu[0], IOAPIC_DEFAULT_BASE, 4, true, &sel));
    ck_assert(emu_bus_mmio(m, &m->cpu[0], IOAPIC_DEFAULT_BASE + 0x10, 4, true, &val));
}

static uint32_t ioapic_rd(emu_machine *m, uint8_t reg)
{
    uint64_t sel = reg, val = 0;
    ck_assert(emu_bus_mmio(m, &m->cpu[0], IOAPIC_DEFAULT_BASE, 4, true, &sel));
    ck_assert(emu_bus_mmio(m, &m->cpu[0], IOAPIC_DEFAULT_BASE + 0x10, 4, false, &val));
    return (uint32_t)val;
}

START_TEST(testdev_lines_reach_ioapic_pins)
{
    emu_machine *m = make(2, 16 << 20);
    ck_assert_uint_eq(ioapic_rd(m, 1), 0x00170020u);
    ioapic_wr(m, 0x10 + 2 * 2, 0x40); /* pin 2: IRQ 0 */
    ioapic_wr(m, 0x11 + 2 * 2, 0x01000000u); /* to APIC 1 */
    ioapic_wr(m, 0x10 + 2 * 5, 0x45 | IOAPIC_RTE_LEVEL); /* pin 5, level, APIC 0 */
    size_t q0 = m->evq[0].n, q1 = m->evq[1].n;
    out(m, 0x2000, 1, 1);
    ck_assert_uint_eq(m->evq[1].n, q1 + 1);
    ck_assert_uint_eq(m->evq[0].n, q0);
    ck_assert_uint_eq(m->dev.isa_lines, 1);
    out(m, 0x2005, 1, 1);
    ck_assert_uint_eq(m->evq[0].n, q0 + 1);
    ck_assert_uint_ne(ioapic_rd(m, 0x10 + 2 * 5) & IOAPIC_RTE_REMOTE_IRR, 0);
    /* The message reaches APIC 0 as a level-triggered interrupt: TMR set;
     * its EOI is broadcast back and clears remote IRR. */
    emu_qevent ev;
    ck_assert(emu_evq_pop_due(&m->evq[0], UINT64_MAX, &ev));
    ck_assert_uint_eq(ev.kind, EMU_Q_IOAPIC);
    apic_t *a = &m->apic[0];
    apic_mmio_write(a, APIC_REG_SVR, 4, APIC_SVR_ENABLE | 0xFF);
    emu_apply_event(m, &ev);
    ck_assert_uint_ne(a->irr[0x45 / 32] & (1u << (0x45 % 32)), 0);
    ck_assert_uint_ne(a->tmr[0x45 / 32] & (1u << (0x45 % 32)), 0);
    ck_assert_int_eq(apic_acknowledge(a), 0x45);
    out(m, 0x2005, 1, 0);
    apic_eoi(a);
    ck_assert_uint_eq(ioapic_rd(m, 0x10 + 2 * 5) & IOAPIC_RTE_REMOTE_IRR, 0);
    ck_assert_uint_eq(in(m, 0x2005, 1), 0);
    done(m);
}
END_TEST

START_TEST(devices_count_in_the_digest_once_touched)
{
    emu_machine *m = make(1, 16 << 20);
    uint64_t d0, d1, d2;
    emu_machine_digest(m, &d0);
    out(m, EMU_PORT_CONSOLE, 1, 'a'); /* the ABI port: nothing touched */
    emu_machine_digest(m, &d1);
    ck_assert_uint_eq(d0, d1);
    out(m, 0x3FF, 1, 0x42);
    emu_machine_digest(m, &d2);
    ck_assert_uint_ne(d1, d2);
    done(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("devices");
    TCase *t = tcase_create("devices");
    tcase_add_test(t, unassigned_ports_are_nobodys);
    tcase_add_test(t, exit_port_takes_any_width);
    tcase_add_test(t, console_port_and_abi_reads);
    tcase_add_test(t, uart_transmits_to_the_console);
    tcase_add_test(t, uart_divisor_latch_and_scratch);
    tcase_add_test(t, uart_thre_interrupt_and_iir);
    tcase_add_test(t, uart_loopback);
    tcase_add_test(t, uart_receives_the_serial_input);
    tcase_add_test(t, uart_receive_interrupt_per_byte);
    tcase_add_test(t, uart_loopback_holds_the_input);
    tcase_add_test(t, fwcfg_items);
    tcase_add_test(t, pic_init_masks_and_vectors);
    tcase_add_test(t, pic_cascade_priority_and_spurious);
    tcase_add_test(t, pic_level_triggered_ltim);
    tcase_add_test(t, pic_elcr);
    tcase_add_test(t, testdev_lines_reach_ioapic_pins);
    tcase_add_test(t, devices_count_in_the_digest_once_touched);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
