/*
 * emu_pic.c — the 8259A programmable interrupt controller pair of a PC
 * (Intel 8259A datasheet): the master at 20H/21H, the slave at A0H/A1H
 * cascaded on the master's IR2. The master's INT output reaches the CPUs
 * through LINT0 in ExtINT mode (emu_irq.c); the vector comes from the
 * INTA cycles here (emu_pic_ack).
 *
 * Register map (per chip; "cmd" = 20H/A0H, "data" = 21H/A1H):
 *   cmd write,  bit 4 = 1: ICW1 (bit 0 IC4: ICW4 follows; bit 1 SNGL: no
 *               ICW3; bit 3 LTIM: every input of the chip level-triggered).
 *               Starts initialization: IMR, ISR, IRR cleared (a level input
 *               still high requests again at once), IR7 lowest priority,
 *               read register IRR.
 *   data write during initialization: ICW2 (vector base, bits 7:3), ICW3
 *               (cascade: master's slave bitmap / slave's ID), ICW4 (bit 1
 *               AEOI, bit 4 SFNM)
 *   data write afterwards: OCW1, the interrupt mask register (IMR)
 *   cmd write,  bits 4:3 = 00: OCW2 (bits 7:5 R, SL, EOI: 001 non-specific
 *               EOI, 011 specific EOI of level L = bits 2:0, 101 rotate on
 *               non-specific EOI, 111 rotate on specific EOI, 110 set
 *               priority (L lowest), 100/000 rotate in AEOI set/clear —
 *               accepted, no effect, 010 no operation)
 *   cmd write,  bits 4:3 = 01: OCW3 (bits 1:0 = 10 read IRR, 11 read ISR;
 *               bit 2 poll; bits 6:5 = 10 reset, 11 set special mask mode)
 *   cmd read:   the poll word (bit 7 = request, bits 2:0 its level) after
 *               a poll command, else IRR or ISR as OCW3 selected
 *   data read:  IMR
 * An INTA with nothing pending gives IR7 of the chip (the 8259A's
 * spurious interrupt), without setting ISR.
 *
 * Edge/level control (ELCR, the PC chipset's register beside the pair:
 * Intel PIIX4/ICH "ELCR1"/"ELCR2" at 4D0H/4D1H): bit n = 1 makes IR n of
 * that chip level-triggered; IRQ 0, 1, 2, 8 and 13 are always edge (their
 * bits read 0: masks F8H and DEH). A chip's input is level-triggered when
 * its ICW1.LTIM is set or its ELCR bit is. Triggering (8259A datasheet,
 * "Edge and Level Triggered Modes"): an edge input sets IRR on a rising
 * edge and keeps it until INTA; a level input's IRR follows the line — it
 * drops when the line falls before INTA, and a line still high after the
 * EOI requests again.
 */
#include "emu/emu_internal.h"

void emu_pic_reset(emu_pic *p)
{
    *p = (emu_pic){0};
    for (unsigned k = 0; k < 2; k++)
        p->chip[k].lowest = 7;
}

/* Priority rank of IR irq: 0 is the highest (datasheet "Priority
 * Rotation": the IR after the lowest-priority one is the highest). */
static unsigned rank(const emu_pic_chip *ch, unsigned irq)
{
    return (irq - ch->lowest - 1) & 7;
}

/* The highest-priority IR among the bits of mask, or -1. */
static int highest(const emu_pic_chip *ch, uint8_t mask)
{
    for (unsigned i = 0; i < 8; i++) {
        unsigned irq = (ch->lowest + 1 + i) & 7;
        if (mask & (1u << irq))
            return (int)irq;
    }
    return -1;
}

/* The request the chip signals on INT: the highest unmasked IRR bit whose
 * priority is above every in-service level (special mask mode: levels
 * masked in IMR do not block; fully nested mode on the master: a slave's
 * in-service IR2 does not block the slave's higher requests). */
static int chip_request(const emu_pic_chip *ch, bool master)
{
    int req = highest(ch, (uint8_t)(ch->irr & ~ch->imr));
    if (req < 0)
        return -1;
    uint8_t isr = ch->isr;
    if (ch->special_mask)
        isr &= (uint8_t)~ch->imr;
    if (master && (ch->icw4 & 0x10))
        isr &= (uint8_t)~ch->icw3;
    int srv = highest(ch, isr);
    if (srv >= 0 && rank(ch, (unsigned)srv) <= rank(ch, (unsigned)req))
        return -1;
    return req;
}

/* The chip's level-triggered inputs: all with ICW1.LTIM, else its ELCR. */
static uint8_t level_inputs(const emu_pic_chip *ch)
{
    return (ch->icw1 & 0x08) ? 0xFF : ch->elcr;
}

/* Input irq of chip ch changes level: an edge input latches a rising edge
 * in IRR; a level input's IRR bit is the line. */
static void chip_set_input(emu_pic_chip *ch, unsigned irq, bool level)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (level_inputs(ch) & bit) {
        if (level)
            ch->irr |= bit;
        else
            ch->irr &= (uint8_t)~bit;
    } else if (level && !(ch->lines & bit)) {
        ch->irr |= bit;
    }
    if (level)
        ch->lines |= bit;
    else
        ch->lines &= (uint8_t)~bit;
}

/* After a change of the level inputs (ICW1.LTIM, ELCR): a level input's
 * IRR is its line. */
static void chip_sync_levels(emu_pic_chip *ch)
{
    uint8_t lv = level_inputs(ch);
    ch->irr = (uint8_t)((ch->irr & ~lv) | (ch->lines & lv));
}

/* Recomputes the cascade (slave INT on master IR2) and the master's INT;
 * returns true when INT rose. */
static bool pic_update(emu_pic *p)
{
    emu_pic_chip *m = &p->chip[0], *s = &p->chip[1];
    bool single = m->icw1 & 2;
    if (!single)
        chip_set_input(m, 2, chip_request(s, false) >= 0);
    bool before = p->intr;
    p->intr = chip_request(m, true) >= 0;
    return p->intr && !before;
}

bool emu_pic_intr(const emu_pic *p)
{
    return p->intr;
}

bool emu_pic_set_line(emu_pic *p, unsigned irq, bool level)
{
    if (irq >= 16)
        return false;
    chip_set_input(&p->chip[irq >> 3], irq & 7, level);
    return pic_update(p);
}

/* The chip's part of INTA: the in-service bit (unless automatic EOI) and
 * IRR cleared; the IR level, or 7 when nothing is there (spurious). */
static unsigned chip_ack(emu_pic_chip *ch, bool master, bool *spurious)
{
    int irq = chip_request(ch, master);
    *spurious = irq < 0;
    if (irq < 0)
        return 7;
    uint8_t bit = (uint8_t)(1u << irq);
    ch->irr &= (uint8_t)~bit;
    if (!(ch->icw4 & 2)) /* AEOI: the in-service bit resets at the end of INTA */
        ch->isr |= bit;
    /* A level input still high requests again (blocked while in service). */
    ch->irr |= (uint8_t)(ch->lines & level_inputs(ch) & bit);
    return (unsigned)irq;
}

uint8_t emu_pic_ack(emu_pic *p)
{
    emu_pic_chip *m = &p->chip[0], *s = &p->chip[1];
    bool spurious;
    unsigned irq = chip_ack(m, true, &spurious);
    uint8_t vector;
    if (!spurious && irq == 2 && !(m->icw1 & 2)) {
        unsigned sirq = chip_ack(s, false, &spurious);
        vector = (uint8_t)(s->vector_base + sirq);
    } else {
        vector = (uint8_t)(m->vector_base + irq);
    }
    pic_update(p);
    return vector;
}

/* OCW2 (datasheet "Operation Command Word 2"). */
static void chip_ocw2(emu_pic_chip *ch, uint8_t v)
{
    unsigned cmd = v >> 5, level = v & 7;
    switch (cmd) {
    case 1: /* non-specific EOI */
    case 5: { /* rotate on non-specific EOI */
        int irq = highest(ch, ch->isr);
        if (irq >= 0) {
            ch->isr &= (uint8_t)~(1u << irq);
            if (cmd == 5)
                ch->lowest = (uint8_t)irq;
        }
        break;
    }
    case 3: /* specific EOI */
        ch->isr &= (uint8_t)~(1u << level);
        break;
    case 7: /* rotate on specific EOI */
        ch->isr &= (uint8_t)~(1u << level);
        ch->lowest = (uint8_t)level;
        break;
    case 6: /* set priority */
        ch->lowest = (uint8_t)level;
        break;
    default: /* 0, 4: rotate in AEOI clear/set; 2: no operation */
        break;
    }
}

static void chip_write(emu_pic_chip *ch, bool cmd, uint8_t v)
{
    if (cmd && (v & 0x10)) {
        /* ICW1: the datasheet's "Initialization Sequence". */
        uint8_t lines = ch->lines, elcr = ch->elcr;
        *ch = (emu_pic_chip){0};
        ch->lines = lines;
        ch->elcr = elcr; /* a chipset register, not the 8259A's */
        ch->icw1 = v;
        ch->lowest = 7;
        ch->icw_step = 2;
        chip_sync_levels(ch);
        return;
    }
    if (cmd) {
        if (v & 0x08) {
            ch->poll = (v & 4) != 0;
            if (v & 2)
                ch->read_isr = v & 1;
            if (v & 0x40)
                ch->special_mask = (v & 0x20) != 0;
        } else {
            chip_ocw2(ch, v);
        }
        return;
    }
    switch (ch->icw_step) {
    case 2:
        ch->vector_base = v & 0xF8;
        ch->icw_step = !(ch->icw1 & 2) ? 3 : (ch->icw1 & 1) ? 4 : 0;
        break;
    case 3:
        ch->icw3 = v;
        ch->icw_step = (ch->icw1 & 1) ? 4 : 0;
        break;
    case 4:
        ch->icw4 = v;
        ch->icw_step = 0;
        break;
    default:
        ch->imr = v;
        break;
    }
}

static uint8_t chip_read(emu_pic *p, unsigned k, bool cmd)
{
    emu_pic_chip *ch = &p->chip[k];
    if (!cmd)
        return ch->imr;
    if (ch->poll) {
        /* A poll is an INTA without the vector (datasheet "The Poll
         * Command"). */
        ch->poll = false;
        int irq = chip_request(ch, k == 0);
        if (irq < 0)
            return 0;
        bool spurious;
        chip_ack(ch, k == 0, &spurious);
        return (uint8_t)(0x80 | irq);
    }
    return ch->read_isr ? ch->isr : ch->irr;
}

void emu_pic_io(void *dev, emu_machine *m, cpu_t *c, uint16_t port, unsigned size, bool in,
                uint32_t *val)
{
    emu_pic *p = dev;
    m->dev.touched = true;
    m->dev.irq_cycle = c ? c->cycles : m->now;
    m->dev.irq_cpu = c ? c->index : 0;
    unsigned k = port >= 0xA0;
    bool cmd = !(port & 1);
    if (in) {
        uint32_t v = chip_read(p, k, cmd);
        for (unsigned b = 1; b < size; b++)
            v |= 0xFFu << (8 * b);
        *val = v;
    } else {
        chip_write(&p->chip[k], cmd, (uint8_t)*val);
    }
    if (pic_update(p))
        emu_pic_changed(m);
}

/* ELCR1 (4D0H, IRQ 0-7) and ELCR2 (4D1H, IRQ 8-15); a 16-bit access at
 * 4D0H reaches both. Reserved bits (IRQ 0, 1, 2, 8, 13: always edge) read
 * 0 and ignore writes. */
void emu_pic_elcr_io(void *dev, emu_machine *m, cpu_t *c, uint16_t port, unsigned size,
                     bool in, uint32_t *val)
{
    static const uint8_t writable[2] = {0xF8, 0xDE};
    emu_pic *p = dev;
    m->dev.touched = true;
    m->dev.irq_cycle = c ? c->cycles : m->now;
    m->dev.irq_cpu = c ? c->index : 0;
    uint32_t out = 0;
    for (unsigned b = 0; b < size; b++) {
        unsigned k = (unsigned)(port + b - EMU_PIC_ELCR);
        if (k > 1) {
            out |= 0xFFu << (8 * b);
            continue;
        }
        emu_pic_chip *ch = &p->chip[k];
        if (in) {
            out |= (uint32_t)ch->elcr << (8 * b);
        } else {
            ch->elcr = (uint8_t)(*val >> (8 * b)) & writable[k];
            chip_sync_levels(ch);
        }
    }
    if (in)
        *val = out;
    else if (pic_update(p))
        emu_pic_changed(m);
}
