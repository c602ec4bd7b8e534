/*
 * emu_testdev.c — the interrupt-line part of a test device like QEMU's
 * pc-testdev, so kernels written for it can raise and lower ISA IRQ lines.
 *
 * Register map:
 *   2000H + n, n = 0..23, write: bit 0 is the new level of ISA IRQ line n
 *             (1 raises, 0 lowers); the line reaches the 8259A (n < 16)
 *             and I/O APIC pin n (IRQ 0: pin 2), emu_irq.c
 *   reads: 0
 * The other pc-testdev registers are not implemented (their ports read all
 * ones).
 */
#include "emu/emu_internal.h"

void emu_testdev_io(void *dev, emu_machine *m, cpu_t *c, uint16_t port, unsigned size, bool in,
                    uint32_t *val)
{
    (void)dev, (void)size;
    m->dev.touched = true;
    if (in) {
        *val = 0;
        return;
    }
    emu_irq_set_line(m, c, (unsigned)(port - EMU_TESTDEV_IRQ_PORT), (*val & 1) != 0);
}
