/*
 * emu_uart.c — COM1, a 16550A UART at 3F8H, IRQ 4 (National Semiconductor
 * PC16550D datasheet, "Register Summary"). What the guest transmits goes to
 * the console (standard output and the window's console panel, the same
 * callback port E9H uses) the moment it is written, so the transmitter is
 * always empty. The receiver gets the serial input (`run --serial-input
 * FILE`, emu_config.serial_input) one byte at a time: the next byte
 * arrives the moment the guest has read the previous one from RBR (a
 * sender that waits for the receiver), so a run is the same whatever the
 * host's timing. Each arrival after a read lowers IRQ 4 and raises it
 * again, so an edge-triggered controller sees every byte. In loopback the
 * input waits (the receiver hears the transmitter instead). After the last
 * byte LSR.DR stays 0.
 *
 * Register map (offset from 3F8H; DLAB = LCR bit 7):
 *   0  DLAB=0 read: RBR receive buffer (the received byte, else 0)
 *      DLAB=0 write: THR transmit holding -> console
 *      DLAB=1: DLL divisor latch low
 *   1  DLAB=0: IER interrupt enable (bit 0 data ready, 1 THR empty,
 *      2 line status, 3 modem status; bits 7:4 read 0)
 *      DLAB=1: DLM divisor latch high
 *   2  read: IIR (bit 0 = 1: nothing pending; 04H data ready, 02H THR
 *      empty; bits 7:6 = 11 when the FIFOs are enabled)
 *      write: FCR (bit 0 FIFO enable; bits 1, 2 reset the FIFOs, self-
 *      clearing; bits 7:6 trigger level)
 *   3  LCR line control (bit 7 DLAB)
 *   4  MCR modem control (bit 0 DTR, 1 RTS, 2 OUT1, 3 OUT2 gates the IRQ
 *      line on a PC, 4 loopback; bits 7:5 read 0)
 *   5  LSR line status: bit 0 DR (a received byte waiting), 5 THRE and
 *      6 TEMT always set (the byte left at once)
 *   6  MSR modem status: CTS, DSR, DCD set (a connected terminal); in
 *      loopback bits 7:4 are OUT2, OUT1, DTR, RTS; delta bits 3:0 read 0
 *   7  SCR scratch
 */
#include "emu/emu_internal.h"

enum {
    IER_RDA = 1u << 0,
    IER_THRE = 1u << 1,
    LCR_DLAB = 1u << 7,
    MCR_OUT2 = 1u << 3,
    MCR_LOOP = 1u << 4,
    LSR_DR = 1u << 0,
    LSR_THRE = 1u << 5,
    LSR_TEMT = 1u << 6,
};

void emu_uart_reset(emu_uart *u)
{
    *u = (emu_uart){0};
}

/* The next byte of the serial input arrives when RBR is empty and the
 * receiver is not looped back; returns whether one did. */
static bool uart_receive_next(emu_uart *u)
{
    if (u->rbr_full || (u->mcr & MCR_LOOP) || u->rx_pos >= u->rx_len)
        return false;
    u->rbr = u->rx[u->rx_pos++];
    u->rbr_full = true;
    return true;
}

void emu_uart_set_input(emu_uart *u, const uint8_t *rx, size_t n)
{
    u->rx = rx;
    u->rx_len = rx ? n : 0;
    u->rx_pos = 0;
    uart_receive_next(u);
}

/* IIR's interrupt identification, highest priority first (PC16550D table
 * "Interrupt Control Functions"): received data, then THR empty. */
static uint8_t uart_iir(const emu_uart *u)
{
    uint8_t fifo = (u->fcr & 1) ? 0xC0 : 0;
    if ((u->ier & IER_RDA) && u->rbr_full)
        return fifo | 0x04;
    if ((u->ier & IER_THRE) && u->thre_pending)
        return fifo | 0x02;
    return fifo | 0x01;
}

/* The IRQ line: an interrupt pending and, as on a PC, OUT2 set (in
 * loopback OUT2 is looped back to MSR and the line stays low). */
static void uart_update_irq(emu_uart *u, emu_machine *m, cpu_t *c)
{
    bool level = !(uart_iir(u) & 1) && (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP);
    if (level != u->irq_level) {
        u->irq_level = level;
        emu_irq_set_line(m, c, EMU_UART_IRQ, level);
    }
}

static void uart_transmit(emu_uart *u, emu_machine *m, cpu_t *c, uint8_t byte)
{
    if (u->mcr & MCR_LOOP) {
        u->rbr = byte;
        u->rbr_full = true;
    } else {
        cpu_obs_emit(&m->obs, c->cycles, c->index, EMU_EV_CONSOLE, byte, EMU_UART_COM1, c->rip, 0);
        if (m->console)
            m->console(m->console_ctx, c->index, byte);
    }
    /* The holding register empties at once: THRE interrupt again. */
    u->thre_pending = true;
}

static uint8_t uart_msr(const emu_uart *u)
{
    if (!(u->mcr & MCR_LOOP))
        return 0xB0; /* DCD, DSR, CTS */
    uint8_t mcr = u->mcr;
    return (uint8_t)(((mcr & 0x08) << 4) | ((mcr & 0x04) << 4) | ((mcr & 0x01) << 5) |
                     ((mcr & 0x02) << 3));
}

static uint8_t uart_read(emu_uart *u, unsigned reg)
{
    switch (reg) {
    case 0:
        if (u->lcr & LCR_DLAB)
            return u->dll;
        u->rbr_full = false;
        return u->rbr;
    case 1:
        return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
    case 2: {
        uint8_t iir = uart_iir(u);
        /* Reading IIR with THR empty as the source clears it. */
        if ((iir & 0x0F) == 0x02)
            u->thre_pending = false;
        return iir;
    }
    case 3: return u->lcr;
    case 4: return u->mcr;
    case 5: return (uint8_t)(LSR_THRE | LSR_TEMT | (u->rbr_full ? LSR_DR : 0));
    case 6: return uart_msr(u);
    default: return u->scr;
    }
}

static void uart_write(emu_uart *u, emu_machine *m, cpu_t *c, unsigned reg, uint8_t v)
{
    switch (reg) {
    case 0:
        if (u->lcr & LCR_DLAB)
            u->dll = v;
        else
            uart_transmit(u, m, c, v);
        break;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
        } else {
            /* Enabling the THRE interrupt with THR empty raises it at once. */
            if ((v & IER_THRE) && !(u->ier & IER_THRE))
                u->thre_pending = true;
            u->ier = v & 0x0F;
        }
        break;
    case 2:
        u->fcr = v & 0xC9; /* FIFO reset bits 1, 2 self-clear */
        if (v & 2)
            u->rbr_full = false;
        break;
    case 3: u->lcr = v; break;
    case 4: u->mcr = v & 0x1F; break;
    case 5:
    case 6: break; /* LSR, MSR: read-only here */
    default: u->scr = v; break;
    }
}

/* Each byte of a wider access is its own register access (the UART sits
 * on an 8-bit bus). */
void emu_uart_io(void *dev, emu_machine *m, cpu_t *c, uint16_t port, unsigned size, bool in,
                 uint32_t *val)
{
    emu_uart *u = dev;
    m->dev.touched = true;
    uint32_t out = 0;
    for (unsigned k = 0; k < size; k++) {
        unsigned reg = (unsigned)(port + k - EMU_UART_COM1);
        if (reg > 7) {
            out |= 0xFFu << (8 * k);
            continue;
        }
        if (in)
            out |= (uint32_t)uart_read(u, reg) << (8 * k);
        else
            uart_write(u, m, c, reg, (uint8_t)(*val >> (8 * k)));
    }
    if (in)
        *val = out;
    /* A byte read from RBR (or the end of loopback) lets the next input
     * byte arrive; a new arrival is a new interrupt: the line falls and
     * rises again. */
    bool was_full = u->rbr_full;
    if (uart_receive_next(u) && u->irq_level && !was_full) {
        u->irq_level = false;
        emu_irq_set_line(m, c, EMU_UART_IRQ, false);
    }
    uart_update_irq(u, m, c);
}
