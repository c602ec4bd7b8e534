/*
 * emu_devices.h — the machine's PC devices and the one port/MMIO dispatch
 * table that reaches them (docs/machine.md "Devices").
 *
 * Every guest port access and every access to a physical address outside
 * RAM that is not a local APIC page goes through emu_bus_io / emu_bus_mmio,
 * natively and under the built-in hypervisor alike. A device is one file
 * in emu/devices/ with its register map in a comment; it registers its
 * port range (or MMIO range) in emu_devices_init. Ports nobody owns read
 * all ones and ignore writes.
 *
 * Devices raise interrupt lines (emu_irq_set_line); the line goes to the
 * 8259A pair (ISA IRQ 0-15) and to the I/O APIC (pin n, IRQ 0 on pin 2),
 * and the I/O APIC turns it into a message for the local APICs.
 */
#ifndef APICV_EMU_DEVICES_H
#define APICV_EMU_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "apic/apic.h"
#include "apic/ioapic.h"
#include "cpu/cpu.h"

struct emu_machine;

/* ---- the dispatch table ------------------------------------------------ */

/* A port handler: `in` reads into *val (size 1, 2 or 4), else writes *val. */
typedef void (*emu_pio_fn)(void *dev, struct emu_machine *m, cpu_t *c, uint16_t port,
                           unsigned size, bool in, uint32_t *val);
/* An MMIO handler: offset from the range's base. */
typedef void (*emu_mmio_fn)(void *dev, struct emu_machine *m, cpu_t *c, uint64_t offset,
                            unsigned size, bool write, uint64_t *val);

#define EMU_BUS_MAX_PIO 16
#define EMU_BUS_MAX_MMIO 4

typedef struct emu_pio_range {
    uint16_t base, count;
    emu_pio_fn fn;
    void *dev;
} emu_pio_range;

typedef struct emu_mmio_range {
    uint64_t base, size;
    emu_mmio_fn fn;
    void *dev;
} emu_mmio_range;

typedef struct emu_bus {
    emu_pio_range pio[EMU_BUS_MAX_PIO];
    unsigned npio;
    emu_mmio_range mmio[EMU_BUS_MAX_MMIO];
    unsigned nmmio;
} emu_bus;

/* Registers a range; false when the table is full or it overlaps. */
bool emu_bus_add_pio(emu_bus *b, uint16_t base, uint16_t count, emu_pio_fn fn, void *dev);
bool emu_bus_add_mmio(emu_bus *b, uint64_t base, uint64_t size, emu_mmio_fn fn, void *dev);

/* A guest port access from CPU c. Returns false when no device owns the
 * port (the caller then reads all ones / drops the write). */
bool emu_bus_io(struct emu_machine *m, cpu_t *c, uint16_t port, unsigned size, bool in,
                uint32_t *val);
/* A guest access to a physical address outside RAM. false: nobody there. */
bool emu_bus_mmio(struct emu_machine *m, cpu_t *c, uint64_t paddr, unsigned size, bool write,
                  uint64_t *val);
/* Whether a device owns physical page `paddr` (MMIO, never RAM). */
bool emu_bus_owns_page(const struct emu_machine *m, uint64_t paddr);

/* ---- COM1: 16550A UART (emu_uart.c) ------------------------------------ */

#define EMU_UART_COM1 0x3F8
#define EMU_UART_IRQ 4

typedef struct emu_uart {
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    uint8_t rbr;       /* the received byte (the serial input's next byte, or loopback) */
    bool rbr_full;     /* LSR.DR */
    bool thre_pending; /* THR-empty interrupt pending (cleared by an IIR read or THR write) */
    bool irq_level;    /* what the UART drives on its IRQ line */
    /* The serial input (emu_config.serial_input, borrowed): the bytes the
     * receiver gets, one at a time, each once RBR is empty. */
    const uint8_t *rx;
    size_t rx_len, rx_pos;
} emu_uart;

/* ---- fw_cfg, legacy I/O interface (emu_fwcfg.c) ------------------------- */

#define EMU_FWCFG_PORT_SEL 0x510
#define EMU_FWCFG_PORT_DATA 0x511

typedef struct emu_fwcfg {
    uint16_t selector;
    uint32_t offset;
} emu_fwcfg;

/* ---- the 8259A pair (emu_pic.c) ----------------------------------------- */

#define EMU_PIC_ELCR 0x4D0 /* edge/level control: 4D0H master, 4D1H slave */

typedef struct emu_pic_chip {
    uint8_t irr, isr, imr;
    uint8_t lines;      /* input levels as driven */
    uint8_t vector_base; /* ICW2 & F8H */
    uint8_t icw_step;   /* 0: operating; 2..4: the next ICW expected */
    uint8_t icw1, icw3, icw4;
    uint8_t elcr;       /* ELCR: level-triggered inputs (4D0H master, 4D1H slave) */
    bool read_isr;      /* OCW3 RR/RIS: the command port reads ISR */
    bool poll;          /* OCW3 P: the next command-port read is a poll */
    bool special_mask;  /* OCW3 SMM */
    uint8_t lowest;     /* the lowest-priority IR after rotation (7 at reset) */
} emu_pic_chip;

typedef struct emu_pic {
    emu_pic_chip chip[2]; /* master 0x20/0x21, slave 0xA0/0xA1 on master IR2 */
    bool intr;            /* the master's INT output */
} emu_pic;

/* The master's INT output: an unmasked request above everything in service. */
bool emu_pic_intr(const emu_pic *p);
/* INTA (the CPU's interrupt-acknowledge cycles): the vector, with the
 * request moved to in-service; IRQ 7 (or 15) when nothing is pending. */
uint8_t emu_pic_ack(emu_pic *p);

/* ---- the devices a machine owns ----------------------------------------- */

#define EMU_TESTDEV_IRQ_PORT 0x2000
#define EMU_ISA_LINES 24

typedef struct emu_devices {
    emu_bus bus;
    emu_uart uart;
    emu_fwcfg fwcfg;
    emu_pic pic;
    ioapic_t ioapic;
    uint32_t isa_lines; /* levels of ISA IRQ lines 0..23 */
    bool touched;       /* a guest reached a device other than the ABI ports */
    /* The cycle and CPU of the access being handled: I/O APIC messages
     * and PIC wake-ups are posted at this cycle (emu_irq.c). */
    uint64_t irq_cycle;
    unsigned irq_cpu;
} emu_devices;

/* Resets every device and fills the dispatch table. */
void emu_devices_init(struct emu_machine *m);

/* A device drives ISA IRQ line `line` (0..23) to `level`: the 8259A input
 * (lines 0-15) and I/O APIC pin `line` (IRQ 0: pin 2). */
void emu_irq_set_line(struct emu_machine *m, cpu_t *c, unsigned line, bool level);

/* The I/O APIC's message sink: routes msg on the interrupt bus. */
void emu_ioapic_send(void *ctx, const ioapic_msg *msg);

/* The local APICs' EOI broadcast (apic_set_eoi_sink). */
void emu_irq_eoi(void *ctx, apic_t *a, uint8_t vector);

/* Folds the devices' state into a hash (emu_digest.c; only when touched). */
void emu_devices_digest(const emu_devices *d, uint64_t *hash);

/* Device register files (each device's own file). */
void emu_uart_reset(emu_uart *u);
/* Connects the serial input (n bytes at rx, kept by the caller) and loads
 * its first byte into RBR. */
void emu_uart_set_input(emu_uart *u, const uint8_t *rx, size_t n);
void emu_uart_io(void *dev, struct emu_machine *m, cpu_t *c, uint16_t port, unsigned size,
                 bool in, uint32_t *val);
void emu_fwcfg_io(void *dev, struct emu_machine *m, cpu_t *c, uint16_t port, unsigned size,
                  bool in, uint32_t *val);
void emu_pic_reset(emu_pic *p);
void emu_pic_io(void *dev, struct emu_machine *m, cpu_t *c, uint16_t port, unsigned size,
                bool in, uint32_t *val);
void emu_pic_elcr_io(void *dev, struct emu_machine *m, cpu_t *c, uint16_t port, unsigned size,
                     bool in, uint32_t *val);
/* Drives 8259 input `irq` (0..15); returns whether INT changed. */
bool emu_pic_set_line(emu_pic *p, unsigned irq, bool level);
void emu_testdev_io(void *dev, struct emu_machine *m, cpu_t *c, uint16_t port, unsigned size,
                    bool in, uint32_t *val);
void emu_abi_ports_io(void *dev, struct emu_machine *m, cpu_t *c, uint16_t port, unsigned size,
                      bool in, uint32_t *val);

#endif
