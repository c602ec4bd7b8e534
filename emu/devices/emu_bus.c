/*
 * emu_bus.c — the machine's one port/MMIO dispatch table, and the ports of
 * the guest ABI.
 *
 * Port map (docs/machine.md "Devices"):
 *   0020H-0021H  8259A master          (emu_pic.c)
 *   00A0H-00A1H  8259A slave           (emu_pic.c)
 *   00E9H        console: OUT byte -> standard output / the window   (ABI)
 *   00F0H        MSI device: OUT dword (emu_msi.c)                    (ABI)
 *   00F4H        exit: OUT of 1, 2 or 4 bytes ends the run, status
 *                value & FFH                                          (ABI)
 *   03F8H-03FFH  COM1, 16550A UART     (emu_uart.c)
 *   04D0H-04D1H  ELCR: 8259A edge/level control (emu_pic.c)
 *   0510H-0511H  fw_cfg selector/data  (emu_fwcfg.c)
 *   2000H-2017H  test device: ISA IRQ line n = 0/1 (emu_testdev.c)
 * Memory map outside RAM:
 *   FEC00000H    I/O APIC, one page    (apic/ioapic.c)
 *   FEE00000H    each CPU's local APIC (not here: the CPU's own hook)
 * Everything else: reads all ones, writes ignored.
 *
 * The table is searched linearly: a handful of ranges, and port I/O is
 * never on the interpreter's hot path (an OUT ends its block anyway).
 */
#include <string.h>

#include "emu/emu_internal.h"

bool emu_bus_add_pio(emu_bus *b, uint16_t base, uint16_t count, emu_pio_fn fn, void *dev)
{
    if (b->npio >= EMU_BUS_MAX_PIO || count == 0)
        return false;
    for (unsigned k = 0; k < b->npio; k++) {
        const emu_pio_range *r = &b->pio[k];
        if ((uint32_t)base < (uint32_t)r->base + r->count && (uint32_t)r->base < (uint32_t)base + count)
            return false;
    }
    b->pio[b->npio++] = (emu_pio_range){base, count, fn, dev};
    return true;
}

bool emu_bus_add_mmio(emu_bus *b, uint64_t base, uint64_t size, emu_mmio_fn fn, void *dev)
{
    if (b->nmmio >= EMU_BUS_MAX_MMIO || size == 0)
        return false;
    for (unsigned k = 0; k < b->nmmio; k++) {
        const emu_mmio_range *r = &b->mmio[k];
        if (base < r->base + r->size && r->base < base + size)
            return false;
    }
    b->mmio[b->nmmio++] = (emu_mmio_range){base, size, fn, dev};
    return true;
}

bool emu_bus_io(emu_machine *m, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    const emu_bus *b = &m->dev.bus;
    for (unsigned k = 0; k < b->npio; k++) {
        const emu_pio_range *r = &b->pio[k];
        if ((uint16_t)(port - r->base) < r->count) {
            if (in)
                *val = 0;
            r->fn(r->dev, m, c, port, size, in, val);
            return true;
        }
    }
    return false;
}

static const emu_mmio_range *mmio_find(const emu_machine *m, uint64_t paddr)
{
    const emu_bus *b = &m->dev.bus;
    for (unsigned k = 0; k < b->nmmio; k++)
        if (paddr - b->mmio[k].base < b->mmio[k].size)
            return &b->mmio[k];
    return NULL;
}

bool emu_bus_mmio(emu_machine *m, cpu_t *c, uint64_t paddr, unsigned size, bool write,
                  uint64_t *val)
{
    const emu_mmio_range *r = mmio_find(m, paddr);
    if (!r)
        return false;
    if (!write)
        *val = 0;
    r->fn(r->dev, m, c, paddr - r->base, size, write, val);
    return true;
}

bool emu_bus_owns_page(const emu_machine *m, uint64_t paddr)
{
    return mmio_find(m, paddr & ~0xFFFull) != NULL;
}

/* ---- the guest ABI's ports (guest ABI "I/O ports") ------------------------ */

void emu_abi_ports_io(void *dev, emu_machine *m, cpu_t *c, uint16_t port, unsigned size, bool in,
                      uint32_t *val)
{
    (void)dev;
    if (in) {
        *val = 0xFFFFFFFFu; /* write-only registers: the bus floats high */
        return;
    }
    if (port == EMU_PORT_CONSOLE) {
        uint8_t byte = (uint8_t)*val;
        cpu_obs_emit(&m->obs, c->cycles, c->index, EMU_EV_CONSOLE, byte, 0, c->rip, 0);
        if (m->console)
            m->console(m->console_ctx, c->index, byte);
    } else if (port == EMU_PORT_EXIT) {
        /* Any width ends the run (QEMU's isa-debug-exit takes 1, 2 or 4). */
        cpu_obs_emit(&m->obs, c->cycles, c->index, EMU_EV_EXIT_PORT, *val, 0, c->rip, 0);
        if (!m->finished) {
            m->finished = true;
            m->exit_status = (int)(*val & 0xFF);
        }
    } else if (port == EMU_PORT_MSI && size == 4) {
        emu_msi_port_write(m, c, *val);
    }
}

/* ---- the I/O APIC page -------------------------------------------------------- */

static void ioapic_mmio(void *dev, emu_machine *m, cpu_t *c, uint64_t offset, unsigned size,
                        bool write, uint64_t *val)
{
    ioapic_t *io = dev;
    m->dev.touched = true;
    m->dev.irq_cycle = c ? c->cycles : m->now;
    m->dev.irq_cpu = c ? c->index : 0;
    if (write)
        ioapic_mmio_write(io, (uint32_t)offset, size, *val);
    else
        ioapic_mmio_read(io, (uint32_t)offset, size, val);
}

void emu_devices_init(emu_machine *m)
{
    emu_devices *d = &m->dev;
    memset(d, 0, sizeof(*d));
    emu_uart_reset(&d->uart);
    emu_uart_set_input(&d->uart, m->cfg.serial_input, m->cfg.serial_input_len);
    emu_pic_reset(&d->pic);
    ioapic_init(&d->ioapic, emu_ioapic_send, m);
    emu_bus *b = &d->bus;
    emu_bus_add_pio(b, 0x20, 2, emu_pic_io, &d->pic);
    emu_bus_add_pio(b, 0xA0, 2, emu_pic_io, &d->pic);
    emu_bus_add_pio(b, EMU_PIC_ELCR, 2, emu_pic_elcr_io, &d->pic);
    emu_bus_add_pio(b, EMU_PORT_CONSOLE, 1, emu_abi_ports_io, NULL);
    emu_bus_add_pio(b, EMU_PORT_MSI, 1, emu_abi_ports_io, NULL);
    emu_bus_add_pio(b, EMU_PORT_EXIT, 1, emu_abi_ports_io, NULL);
    emu_bus_add_pio(b, EMU_UART_COM1, 8, emu_uart_io, &d->uart);
    emu_bus_add_pio(b, EMU_FWCFG_PORT_SEL, 2, emu_fwcfg_io, &d->fwcfg);
    emu_bus_add_pio(b, EMU_TESTDEV_IRQ_PORT, EMU_ISA_LINES, emu_testdev_io, NULL);
    emu_bus_add_mmio(b, IOAPIC_DEFAULT_BASE, 0x1000, ioapic_mmio, &d->ioapic);
}

static void fnv_u64(uint64_t *h, uint64_t v)
{
    emu_fnv64(h, v);
}

void emu_devices_digest(const emu_devices *d, uint64_t *hash)
{
    const emu_uart *u = &d->uart;
    const uint64_t uart[] = {u->ier, u->lcr, u->mcr, u->scr, u->fcr, u->dll, u->dlm,
                             u->rbr, u->rbr_full, u->thre_pending, u->irq_level};
    for (unsigned k = 0; k < sizeof(uart) / sizeof(uart[0]); k++)
        fnv_u64(hash, uart[k]);
    if (u->rx_len) /* only with a serial input: digests of other runs stay as they were */
        fnv_u64(hash, u->rx_pos);
    fnv_u64(hash, d->fwcfg.selector);
    fnv_u64(hash, d->fwcfg.offset);
    for (unsigned k = 0; k < 2; k++) {
        const emu_pic_chip *p = &d->pic.chip[k];
        const uint64_t v[] = {p->irr,  p->isr,      p->imr,      p->lines,        p->vector_base,
                              p->icw_step, p->icw1, p->icw3,     p->icw4,         p->elcr,
                              p->read_isr, p->poll, p->special_mask, p->lowest};
        for (unsigned j = 0; j < sizeof(v) / sizeof(v[0]); j++)
            fnv_u64(hash, v[j]);
    }
    fnv_u64(hash, d->pic.intr);
    fnv_u64(hash, d->isa_lines);
    ioapic_digest(&d->ioapic, hash);
}
