/*
 * emu_loader.h — loading a guest image and the guest ABI's entry state.
 *
 * What emu/ offers here (docs/guest-abi.md, "Image and loading" and
 * "State at entry"):
 *   - emu_load_guest: checks an ELF64 x86-64 ET_EXEC image and copies its
 *     PT_LOAD segments to guest-physical p_paddr, or refuses it with a
 *     message naming the file and the fault;
 *   - emu_build_boot_tables: once per machine, the GDT, the identity page
 *     tables for 0..4 GiB and the per-vCPU stacks, all below 1 MiB;
 *   - emu_setup_entry_state: one vCPU's registers at e_entry.
 * IA32_APIC_BASE is not set here: apic/ owns it.
 */
#ifndef APICV_EMU_LOADER_H
#define APICV_EMU_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"

/* Guest images load at or above 1 MiB; the boot tables live below it. */
#define EMU_GUEST_MIN_ADDR 0x100000ull

/* Layout of the boot area below 1 MiB (docs/guest-abi.md, "Memory below 1 MiB"). */
#define EMU_BOOT_GDT 0x1000ull         /* GDT: null, code 0x08, data 0x10, TSS 0x18 (16 bytes) */
#define EMU_BOOT_TSS 0x1080ull         /* 64-bit TSS (104 bytes, all zero) */
#define EMU_BOOT_PML4 0x2000ull        /* PML4: entry 0 -> PDPT */
#define EMU_BOOT_PDPT 0x3000ull        /* PDPT: entries 0..3 -> the four PDs */
#define EMU_BOOT_PD 0x4000ull          /* 4 page directories (0x4000..0x7FFF), 2 MiB pages */
#define EMU_BOOT_STACKS 0x10000ull     /* stack of vCPU i: [0x10000 + i*16K, 0x10000 + (i+1)*16K) */
#define EMU_BOOT_STACK_SIZE 0x4000ull  /* 16 KiB */
#define EMU_BOOT_END 0x100000ull       /* everything above belongs to the image */

/* Selectors of the boot GDT. */
#define EMU_SEL_CODE 0x08
#define EMU_SEL_DATA 0x10
#define EMU_SEL_TSS 0x18

/* cpu_seg.attr values (layout in cpu.h) of the entry segments. */
#define EMU_ATTR_CODE64 0xA9B /* type 1011 (exec/read, accessed), S, P, L, G */
#define EMU_ATTR_DATA 0xC93   /* type 0011 (read/write, accessed), S, P, D/B, G */
#define EMU_ATTR_TSS64 0x08B  /* type 1011 (busy 64-bit TSS), P */

/*
 * Loads the ELF image at path into phys. *entry receives e_entry. Refuses,
 * with a message "<path>: <fault>" in err and without touching guest RAM:
 * an unreadable or truncated file, a bad ELF magic, class other than
 * ELF64, data other than little-endian, machine other than x86-64, type
 * other than ET_EXEC, a truncated program-header table or segment, a
 * PT_LOAD with filesz > memsz, below EMU_GUEST_MIN_ADDR or beyond guest
 * RAM, overlapping PT_LOADs, no PT_LOAD at all, and an entry point that is
 * in no PT_LOAD segment.
 */
bool emu_load_guest(cpu_phys *phys, const char *path, uint64_t *entry, char *err, size_t errlen);

/*
 * Writes the GDT, TSS, identity page tables (0..4 GiB, 2 MiB pages,
 * present + writable + supervisor) and zeroes the stacks of ncpus vCPUs
 * (1..CPU_MAX_CPUS). Needs guest RAM of at least 1 MiB.
 */
bool emu_build_boot_tables(cpu_phys *phys, unsigned ncpus, char *err, size_t errlen);

/*
 * Puts vCPU `index` of `ncpus` into the guest ABI's entry state at entry:
 * 64-bit mode, CPL 0, CR0 = PE|MP|ET|NE|WP|PG, CR4 = PAE, EFER =
 * LME|LMA|NXE, CR3 = EMU_BOOT_PML4, the boot GDT, IDTR limit 0, RFLAGS =
 * 0x2, RDI = index, RSI = ncpus, RSP = the top of its stack, every other
 * GPR 0. Also zeroes that vCPU's stack, so a restarted vCPU starts from
 * the same memory.
 */
void emu_setup_entry_state(cpu_t *c, cpu_phys *phys, unsigned index, unsigned ncpus, uint64_t entry);

/* Top of vCPU index's boot stack (16-byte aligned). */
static inline uint64_t emu_boot_stack_top(unsigned index)
{
    return EMU_BOOT_STACKS + (uint64_t)(index + 1) * EMU_BOOT_STACK_SIZE;
}

#endif
