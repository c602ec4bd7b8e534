/*
 * ioapic.h — an I/O APIC: 24 interrupt input pins turned into interrupt
 * messages for the local APICs (Intel 82093AA I/O APIC datasheet; the
 * version-20H register set of the Intel chipsets' integrated I/O APIC,
 * which adds the EOI register at offset 40H — docs/machine.md "I/O APIC").
 *
 * An ioapic_t is a plain struct the machine embeds. It never touches a
 * local APIC: each message (vector, delivery mode, destination, trigger)
 * goes to the sink the machine installs, which routes it on the interrupt
 * bus. Devices drive the pins' levels (ioapic_set_line); the local APICs'
 * EOI broadcasts come back through ioapic_eoi.
 *
 * Register map (memory, base FEC00000H, 32-bit accesses):
 *   00H IOREGSEL  index of the indirect register (bits 7:0)
 *   10H IOWIN     data of the selected register
 *   40H EOI       write a vector: clears remote IRR of the level-triggered
 *                 entries with that vector (as the local APIC's EOI
 *                 broadcast does)
 * Indirect registers:
 *   00H IOAPICID  bits 27:24 the ID
 *   01H IOAPICVER bits 7:0 version (20H), bits 23:16 maximum redirection
 *                 entry (17H: 24 pins)
 *   02H IOAPICARB bits 27:24 arbitration ID (= the ID)
 *   10H+2n, 11H+2n  redirection entry n, low and high dword:
 *                 7:0 vector, 10:8 delivery mode (0 fixed, 1 lowest
 *                 priority, 4 NMI, 5 INIT, 7 ExtINT), 11 destination mode
 *                 (1 logical), 12 delivery status (RO), 13 polarity (1 low
 *                 active), 14 remote IRR (RO), 15 trigger (1 level),
 *                 16 mask, 63:56 destination.
 */
#ifndef APICV_IOAPIC_H
#define APICV_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_DEFAULT_BASE 0xFEC00000ull
#define IOAPIC_PINS 24
#define IOAPIC_VERSION 0x20u

enum {
    IOAPIC_REG_SELECT = 0x00,
    IOAPIC_REG_WINDOW = 0x10,
    IOAPIC_REG_EOI = 0x40,
};

enum {
    IOAPIC_IND_ID = 0x00,
    IOAPIC_IND_VERSION = 0x01,
    IOAPIC_IND_ARB = 0x02,
    IOAPIC_IND_REDIR = 0x10,
};

/* Redirection entry bits (82093AA datasheet 3.2.4). */
enum {
    IOAPIC_RTE_VECTOR = 0xFFu,
    IOAPIC_RTE_DELIVERY_SHIFT = 8,
    IOAPIC_RTE_DEST_LOGICAL = 1u << 11,
    IOAPIC_RTE_DELIVERY_STATUS = 1u << 12,
    IOAPIC_RTE_POLARITY_LOW = 1u << 13,
    IOAPIC_RTE_REMOTE_IRR = 1u << 14,
    IOAPIC_RTE_LEVEL = 1u << 15,
    IOAPIC_RTE_MASKED = 1u << 16,
};

/* One interrupt message as the I/O APIC sends it on the bus. */
typedef struct ioapic_msg {
    unsigned pin;
    uint8_t vector;
    uint8_t delivery; /* enum apic_delivery */
    bool logical;
    bool level;
    uint8_t dest; /* 8-bit APIC ID (physical) or logical destination */
} ioapic_msg;

typedef void (*ioapic_msg_fn)(void *ctx, const ioapic_msg *msg);

typedef struct ioapic {
    uint32_t id;       /* IOAPICID bits 27:24 as written */
    uint32_t regsel;   /* IOREGSEL */
    uint64_t rte[IOAPIC_PINS];
    uint32_t line;     /* input pin levels as driven (1 = high) */
    uint64_t messages; /* messages sent (digest, statistics) */
    ioapic_msg_fn send;
    void *send_ctx;
} ioapic_t;

/* Reset (82093AA 3.0): ID 0, every redirection entry masked, edge, fixed. */
void ioapic_init(ioapic_t *io, ioapic_msg_fn send, void *ctx);

/* Memory accesses at offset 0..FFFH from the base. Other offsets and
 * sizes other than 4 read 0 and ignore writes (the datasheet allows only
 * dword accesses). Always true: the page belongs to the I/O APIC. */
bool ioapic_mmio_read(ioapic_t *io, uint32_t offset, unsigned size, uint64_t *val);
bool ioapic_mmio_write(ioapic_t *io, uint32_t offset, unsigned size, uint64_t val);

/* Indirect register access (the IOWIN window of IOREGSEL = reg). */
uint32_t ioapic_read_reg(const ioapic_t *io, uint8_t reg);
void ioapic_write_reg(ioapic_t *io, uint8_t reg, uint32_t val);

/* A device drives pin `pin` to `level` (1 = electrically high). An
 * edge-triggered entry sends on the inactive-to-active transition, a
 * level-triggered one while the input is active and remote IRR is clear. */
void ioapic_set_line(ioapic_t *io, unsigned pin, bool level);

/* EOI of `vector` (the local APIC's broadcast for a level-triggered vector,
 * or the EOI register): remote IRR of the matching level entries clears;
 * an input still active sends again. */
void ioapic_eoi(ioapic_t *io, uint8_t vector);

/* Folds the architectural state into an FNV-1a hash. */
void ioapic_digest(const ioapic_t *io, uint64_t *hash);

#endif
