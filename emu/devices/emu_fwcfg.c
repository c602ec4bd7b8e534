/*
 * emu_fwcfg.c — QEMU's firmware configuration device, legacy I/O interface
 * (QEMU docs/specs/fw_cfg.txt, "Legacy I/O Interface"), so kernels that ask
 * QEMU how many CPUs and how much RAM they have get the answer here.
 *
 * Register map:
 *   510H  selector, 16-bit write: selects an item and rewinds to its byte 0
 *   511H  data, 8-bit read: the next byte of the selected item (past its
 *         end: 0); wider reads return successive bytes, little-endian
 * Items (little-endian unless said otherwise):
 *   0000H  signature, the 4 bytes "QEMU"
 *   0001H  ID, 32-bit feature bitmap: bit 0, the traditional interface
 *   0003H  RAM size in bytes, 64-bit
 *   0005H  NB_CPUS, 16-bit: the number of CPUs
 *   0019H  file directory: a 32-bit big-endian count (0: no files)
 *   other  read 0
 * Writes to the data port are ignored (the write interface is deprecated
 * and absent since QEMU 2.4's fw_cfg version 2).
 */
#include "emu/emu_internal.h"

enum {
    FW_CFG_SIGNATURE = 0x0000,
    FW_CFG_ID = 0x0001,
    FW_CFG_RAM_SIZE = 0x0003,
    FW_CFG_NB_CPUS = 0x0005,
    FW_CFG_FILE_DIR = 0x0019,
};

/* Byte `off` of item `sel` (0 past the end and for unknown items). */
static uint8_t fwcfg_byte(const emu_machine *m, uint16_t sel, uint32_t off)
{
    uint64_t v;
    unsigned len;
    switch (sel) {
    case FW_CFG_SIGNATURE: return off < 4 ? (uint8_t)"QEMU"[off] : 0;
    case FW_CFG_ID: v = 1, len = 4; break;
    case FW_CFG_RAM_SIZE: v = m->cfg.mem_bytes, len = 8; break;
    case FW_CFG_NB_CPUS: v = m->cfg.ncpus, len = 2; break;
    case FW_CFG_FILE_DIR: return 0; /* count 0, big-endian: four zero bytes */
    default: return 0;
    }
    return off < len ? (uint8_t)(v >> (8 * off)) : 0;
}

void emu_fwcfg_io(void *dev, emu_machine *m, cpu_t *c, uint16_t port, unsigned size, bool in,
                  uint32_t *val)
{
    (void)c;
    emu_fwcfg *f = dev;
    m->dev.touched = true;
    if (port == EMU_FWCFG_PORT_SEL) {
        if (in) {
            *val = 0xFFFFFFFFu; /* write-only */
        } else {
            f->selector = (uint16_t)*val;
            f->offset = 0;
        }
        return;
    }
    if (!in)
        return;
    uint32_t out = 0;
    for (unsigned k = 0; k < size; k++) {
        out |= (uint32_t)fwcfg_byte(m, f->selector, f->offset) << (8 * k);
        if (f->offset != UINT32_MAX)
            f->offset++;
    }
    *val = out;
}
