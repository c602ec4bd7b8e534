/*
 * ioapic.c — the I/O APIC (Intel 82093AA datasheet; version 20H with the
 * EOI register of the chipsets' integrated I/O APIC, see ioapic.h).
 *
 * The redirection table turns pin levels into interrupt messages (SDM Vol.
 * 3A 11.1, 11.11 "the message format of the I/O APIC is the MSI one"):
 * edge entries send once per inactive-to-active transition; level entries
 * send while the input is active and remote IRR is clear, set remote IRR,
 * and wait for the local APIC's EOI broadcast (SDM 11.8.5) or a write to
 * the EOI register before they can send again.
 */
#include "apic/ioapic.h"

#include <string.h>

#define FNV_PRIME 0x100000001b3ull

void ioapic_init(ioapic_t *io, ioapic_msg_fn send, void *ctx)
{
    memset(io, 0, sizeof(*io));
    for (unsigned k = 0; k < IOAPIC_PINS; k++)
        io->rte[k] = IOAPIC_RTE_MASKED;
    io->send = send;
    io->send_ctx = ctx;
}

/* Whether pin's input is asserted, given its polarity (82093AA 3.2.4
 * bit 13: 0 = high active, 1 = low active). */
static bool pin_active(const ioapic_t *io, unsigned pin)
{
    bool high = (io->line >> pin) & 1;
    return (io->rte[pin] & IOAPIC_RTE_POLARITY_LOW) ? !high : high;
}

static void send_msg(ioapic_t *io, unsigned pin)
{
    uint64_t e = io->rte[pin];
    ioapic_msg msg = {
        .pin = pin,
        .vector = (uint8_t)(e & IOAPIC_RTE_VECTOR),
        .delivery = (uint8_t)((e >> IOAPIC_RTE_DELIVERY_SHIFT) & 7),
        .logical = (e & IOAPIC_RTE_DEST_LOGICAL) != 0,
        .level = (e & IOAPIC_RTE_LEVEL) != 0,
        .dest = (uint8_t)(e >> 56),
    };
    io->messages++;
    if (io->send)
        io->send(io->send_ctx, &msg);
}

/* A level entry with an active input and remote IRR clear sends and sets
 * remote IRR (82093AA 3.2.4 bit 14: set when the local APIC(s) accept the
 * level interrupt, reset on the EOI with a matching vector). NMI, INIT and
 * ExtINT are edge by definition and never set remote IRR. */
static void service_level(ioapic_t *io, unsigned pin)
{
    uint64_t e = io->rte[pin];
    if ((e & IOAPIC_RTE_MASKED) || !(e & IOAPIC_RTE_LEVEL) || (e & IOAPIC_RTE_REMOTE_IRR) ||
        !pin_active(io, pin))
        return;
    unsigned dm = (e >> IOAPIC_RTE_DELIVERY_SHIFT) & 7;
    if (dm == 0 || dm == 1)
        io->rte[pin] |= IOAPIC_RTE_REMOTE_IRR;
    send_msg(io, pin);
}

uint32_t ioapic_read_reg(const ioapic_t *io, uint8_t reg)
{
    switch (reg) {
    case IOAPIC_IND_ID:
        return io->id & 0x0F000000u;
    case IOAPIC_IND_VERSION:
        return IOAPIC_VERSION | (uint32_t)(IOAPIC_PINS - 1) << 16;
    case IOAPIC_IND_ARB:
        return io->id & 0x0F000000u;
    default:
        break;
    }
    if (reg >= IOAPIC_IND_REDIR && reg < IOAPIC_IND_REDIR + 2 * IOAPIC_PINS) {
        unsigned pin = (unsigned)(reg - IOAPIC_IND_REDIR) / 2;
        uint64_t e = io->rte[pin];
        return (reg & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
    }
    return 0;
}

/* Writes keep the read-only bits (delivery status, remote IRR) and the
 * reserved bits 55:17 clear. Unmasking a level entry whose input is
 * active sends at once. */
void ioapic_write_reg(ioapic_t *io, uint8_t reg, uint32_t val)
{
    if (reg == IOAPIC_IND_ID) {
        io->id = val & 0x0F000000u;
        return;
    }
    if (reg < IOAPIC_IND_REDIR || reg >= IOAPIC_IND_REDIR + 2 * IOAPIC_PINS)
        return;
    unsigned pin = (unsigned)(reg - IOAPIC_IND_REDIR) / 2;
    uint64_t e = io->rte[pin];
    if (reg & 1) {
        e = (e & 0x00000000FFFFFFFFull) | ((uint64_t)(val & 0xFF000000u) << 32);
    } else {
        const uint64_t ro = IOAPIC_RTE_DELIVERY_STATUS | IOAPIC_RTE_REMOTE_IRR;
        uint64_t writable = 0x1FFFFu & ~ro;
        e = (e & ~0xFFFFFFFFull) | (e & ro) | (val & writable);
        /* An entry switched to edge has no remote IRR. */
        if (!(e & IOAPIC_RTE_LEVEL))
            e &= ~(uint64_t)IOAPIC_RTE_REMOTE_IRR;
    }
    io->rte[pin] = e;
    service_level(io, pin);
}

bool ioapic_mmio_read(ioapic_t *io, uint32_t offset, unsigned size, uint64_t *val)
{
    *val = 0;
    if (size != 4)
        return true;
    if (offset == IOAPIC_REG_SELECT)
        *val = io->regsel;
    else if (offset == IOAPIC_REG_WINDOW)
        *val = ioapic_read_reg(io, (uint8_t)io->regsel);
    return true;
}

bool ioapic_mmio_write(ioapic_t *io, uint32_t offset, unsigned size, uint64_t val)
{
    if (size != 4)
        return true;
    if (offset == IOAPIC_REG_SELECT)
        io->regsel = (uint32_t)val & 0xFF;
    else if (offset == IOAPIC_REG_WINDOW)
        ioapic_write_reg(io, (uint8_t)io->regsel, (uint32_t)val);
    else if (offset == IOAPIC_REG_EOI)
        ioapic_eoi(io, (uint8_t)val);
    return true;
}

void ioapic_set_line(ioapic_t *io, unsigned pin, bool level)
{
    if (pin >= IOAPIC_PINS)
        return;
    bool was_active = pin_active(io, pin);
    if (level)
        io->line |= 1u << pin;
    else
        io->line &= ~(1u << pin);
    bool active = pin_active(io, pin);
    uint64_t e = io->rte[pin];
    if (e & IOAPIC_RTE_LEVEL) {
        service_level(io, pin);
    } else if (active && !was_active && !(e & IOAPIC_RTE_MASKED)) {
        send_msg(io, pin);
    }
}

void ioapic_eoi(ioapic_t *io, uint8_t vector)
{
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
        uint64_t e = io->rte[pin];
        if ((e & IOAPIC_RTE_VECTOR) != vector || !(e & IOAPIC_RTE_REMOTE_IRR))
            continue;
        io->rte[pin] = e & ~(uint64_t)IOAPIC_RTE_REMOTE_IRR;
        service_level(io, pin);
    }
}

static void fnv(uint64_t *h, uint64_t v)
{
    for (unsigned k = 0; k < 8; k++) {
        *h ^= (v >> (8 * k)) & 0xFF;
        *h *= FNV_PRIME;
    }
}

void ioapic_digest(const ioapic_t *io, uint64_t *hash)
{
    fnv(hash, io->id);
    fnv(hash, io->regsel);
    fnv(hash, io->line);
    fnv(hash, io->messages);
    for (unsigned k = 0; k < IOAPIC_PINS; k++)
        fnv(hash, io->rte[k]);
}
