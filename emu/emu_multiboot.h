/*
 * emu_multiboot.h — booting a Multiboot (version 1) kernel: what `apicv-emu
 * run KERNEL` does when the image carries a Multiboot header (the
 * Multiboot Specification 0.6.96, "OS image format", "Machine state",
 * "Boot information format"; docs/multiboot.md).
 */
#ifndef APICV_EMU_MULTIBOOT_H
#define APICV_EMU_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"

#define EMU_MB_MAGIC 0x1BADB002u       /* in the image's header */
#define EMU_MB_BOOT_MAGIC 0x2BADB002u  /* in EAX at entry */
#define EMU_MB_SEARCH 8192u            /* the header lies in the first 8 KiB */

/* Where the loader puts its own things below 1 MiB (clear of the guest
 * ABI's boot tables, which every machine writes). */
#define EMU_MB_GDT 0x8F00ull  /* null, flat 32-bit code 0x08, flat data 0x10 */
#define EMU_MB_INFO 0x9000ull /* the information structure, then strings, modules, memory map */
#define EMU_MB_INFO_END 0x10000ull

#define EMU_MB_MAX_MODULES 16

/* The header as found in the image. */
typedef struct emu_mb_header {
    uint32_t offset; /* file offset of the magic */
    uint32_t flags;
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr; /* flag 16 */
} emu_mb_header;

/* What the kernel gets at entry. */
typedef struct emu_mb_boot {
    uint32_t entry;
    uint32_t info;     /* EBX */
    uint32_t image_end; /* first byte after the kernel (modules go above) */
} emu_mb_boot;

/* Options from the command line: --append and --initrd. */
typedef struct emu_mb_opts {
    const char *append;            /* NULL: none */
    const char *const *modules;    /* --initrd files, in order */
    unsigned nmodules;
    const char *name;                /* the kernel's name in the command line (NULL: its path) */
    const char *const *module_names; /* the modules' strings (NULL: their paths) */
} emu_mb_opts;

/* Looks for a Multiboot header in the first 8 KiB of data (4-byte aligned
 * magic whose checksum holds). Returns 1 and fills *h when found, 0 when
 * the image is not a Multiboot image; -1 with a message in err (naming
 * path and the field) when a header is there but malformed. */
int emu_multiboot_find(const uint8_t *data, size_t size, const char *path, emu_mb_header *h,
                       char *err, size_t errlen);

/* Whether the file at path has a Multiboot header (a cheap peek at its
 * first 8 KiB; false when unreadable). */
bool emu_multiboot_detect(const char *path);

/* Loads the kernel at path (ELF32 or ELF64 by program headers, or the
 * a.out-kludge address fields when header flag 16 is set), the modules,
 * and builds the information structure in guest RAM. false with a message
 * naming the file and the field for a malformed image or options. */
bool emu_multiboot_load(cpu_phys *phys, const char *path, const emu_mb_opts *o, emu_mb_boot *b,
                        char *err, size_t errlen);

/* The Multiboot machine state (spec "Machine state"): 32-bit protected
 * mode, paging off, flat CS (0x08) / DS, ES, FS, GS, SS (0x10), EAX =
 * 0x2BADB002, EBX = the information structure, IF = 0, A20 on. */
void emu_multiboot_entry_state(cpu_t *c, const emu_mb_boot *b);

#endif
