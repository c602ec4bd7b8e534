/*
 * emu_multiboot.c — the Multiboot (version 1) boot loader: finds the
 * header, loads the kernel and its modules, writes the information
 * structure and sets the entry state (Multiboot Specification 0.6.96,
 * sections 3.1 "OS image format", 3.2 "Machine state", 3.3 "Boot
 * information format").
 *
 * Like the guest ABI's loader, everything is checked before guest RAM is
 * written, and every refusal names the file and the field. Fields are read
 * as little-endian bytes whatever the host's byte order.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_loader.h"
#include "emu/emu_multiboot.h"

#define MB_MAX_FILE (1ull << 30)
#define MB_MAX_SEGS 64u
#define MB_4G (1ull << 32)

/* Header flags (spec 3.1.2): 0 align modules on 4 KiB, 1 memory
 * information, 2 video mode (no video here: the info's video fields stay
 * unset, as QEMU does), 16 the address fields are valid. Bits 3-15 are
 * requirements we do not know: refused. */
enum { MBH_ALIGN = 1u << 0, MBH_MEMINFO = 1u << 1, MBH_VIDEO = 1u << 2, MBH_AOUT = 1u << 16 };

/* Information flags (spec 3.3). */
enum {
    MBI_MEM = 1u << 0,
    MBI_CMDLINE = 1u << 2,
    MBI_MODS = 1u << 3,
    MBI_MMAP = 1u << 6,
    MBI_LOADER_NAME = 1u << 9,
};

typedef struct mb_seg {
    uint64_t offset, paddr, filesz, memsz;
} mb_seg;

typedef struct mb_file {
    const char *path;
    uint8_t *data;
    uint64_t size;
} mb_file;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static bool fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return false;
    int n = snprintf(err, errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool read_whole(mb_file *f, uint64_t limit, char *err, size_t errlen)
{
    char why[256];
    FILE *fp = cpu_open_input(f->path, why, sizeof(why)); /* refuses a FIFO or a device */
    if (!fp) {
        snprintf(err, errlen, "%s", why);
        return false;
    }
    uint8_t *buf = NULL;
    uint64_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return fail(err, errlen, f->path, "out of memory reading the file");
            }
            buf = nb;
        }
        size_t got = fread(buf + size, 1, cap - size, fp);
        size += got;
        if (got == 0)
            break;
        if (size > limit) {
            free(buf);
            fclose(fp);
            return fail(err, errlen, f->path, "larger than %llu MiB",
                        (unsigned long long)(limit >> 20));
        }
    }
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (bad) {
        free(buf);
        return fail(err, errlen, f->path, "read error");
    }
    f->data = buf;
    f->size = size;
    return true;
}

int emu_multiboot_find(const uint8_t *data, size_t size, const char *path, emu_mb_header *h,
                       char *err, size_t errlen)
{
    size_t end = size < EMU_MB_SEARCH ? size : EMU_MB_SEARCH;
    for (size_t off = 0; off + 12 <= end; off += 4) {
        if (le32(data + off) != EMU_MB_MAGIC)
            continue;
        uint32_t flags = le32(data + off + 4), sum = le32(data + off + 8);
        if ((uint32_t)(EMU_MB_MAGIC + flags + sum) != 0) {
            fail(err, errlen, path,
                 "multiboot header at offset 0x%zx: checksum 0x%08x does not make magic + flags + "
                 "checksum zero (flags 0x%08x)", off, sum, flags);
            return -1;
        }
        memset(h, 0, sizeof(*h));
        h->offset = (uint32_t)off;
        h->flags = flags;
        if (flags & 0xFFF8u) {
            fail(err, errlen, path,
                 "multiboot header flags 0x%08x: required feature bits 0x%04x are not supported "
                 "(only bits 0, 1, 2)", flags, flags & 0xFFF8u);
            return -1;
        }
        if (flags & MBH_AOUT) {
            if (off + 32 > size) {
                fail(err, errlen, path,
                     "multiboot header flag 16: the address fields are cut off by the end of the file");
                return -1;
            }
            h->header_addr = le32(data + off + 12);
            h->load_addr = le32(data + off + 16);
            h->load_end_addr = le32(data + off + 20);
            h->bss_end_addr = le32(data + off + 24);
            h->entry_addr = le32(data + off + 28);
        }
        return 1;
    }
    return 0;
}

bool emu_multiboot_detect(const char *path)
{
    char why[256]; /* the loader reports why the file cannot be read */
    FILE *fp = cpu_open_input(path, why, sizeof(why));
    if (!fp)
        return false;
    uint8_t buf[EMU_MB_SEARCH];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    emu_mb_header h;
    return emu_multiboot_find(buf, n, path, &h, NULL, 0) != 0;
}

/* ---- the kernel image ----------------------------------------------------------- */

/* Spec 3.1.3: the a.out kludge. The file from the header's offset back to
 * load_addr is text; load_end_addr (0: to the end of the file) ends the
 * data, bss_end_addr (0: none) the bss. */
static bool aout_segments(const mb_file *f, const emu_mb_header *h, mb_seg *s, unsigned *n,
                          uint32_t *entry, char *err, size_t errlen)
{
    if (h->load_addr > h->header_addr)
        return fail(err, errlen, f->path,
                    "multiboot header: load_addr 0x%x is above header_addr 0x%x", h->load_addr,
                    h->header_addr);
    uint64_t start = (uint64_t)h->offset - (h->header_addr - h->load_addr);
    if ((uint64_t)h->header_addr - h->load_addr > h->offset)
        return fail(err, errlen, f->path,
                    "multiboot header: header_addr - load_addr = 0x%x reaches before the start of the file",
                    h->header_addr - h->load_addr);
    uint64_t filesz = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : f->size - start;
    if (h->load_end_addr && h->load_end_addr < h->load_addr)
        return fail(err, errlen, f->path, "multiboot header: load_end_addr 0x%x is below load_addr 0x%x",
                    h->load_end_addr, h->load_addr);
    if (start + filesz > f->size)
        return fail(err, errlen, f->path,
                    "multiboot header: load_end_addr 0x%x needs 0x%llx file bytes from offset 0x%llx, "
                    "the file has 0x%llx", h->load_end_addr, (unsigned long long)filesz,
                    (unsigned long long)start, (unsigned long long)f->size);
    uint64_t memsz = filesz;
    if (h->bss_end_addr) {
        if (h->bss_end_addr < h->load_addr + filesz)
            return fail(err, errlen, f->path,
                        "multiboot header: bss_end_addr 0x%x is below the end of the loaded data 0x%llx",
                        h->bss_end_addr, (unsigned long long)(h->load_addr + filesz));
        memsz = (uint64_t)h->bss_end_addr - h->load_addr;
    }
    s[0] = (mb_seg){start, h->load_addr, filesz, memsz};
    *n = 1;
    *entry = h->entry_addr;
    if ((uint64_t)h->entry_addr - h->load_addr >= memsz)
        return fail(err, errlen, f->path, "multiboot header: entry_addr 0x%x is outside the loaded image",
                    h->entry_addr);
    return true;
}

/* ELF32 (EM_386) or ELF64 (EM_X86_64) executables by their program
 * headers, at p_paddr (spec 3.1.3: "the boot loader must load ELF images
 * by their program headers"). */
static bool elf_segments(const mb_file *f, mb_seg *s, unsigned *n, uint32_t *entry, char *err,
                         size_t errlen)
{
    const uint8_t *d = f->data;
    if (f->size < 52 || memcmp(d, ELFMAG, SELFMAG) != 0)
        return fail(err, errlen, f->path,
                    "multiboot header without flag 16 (address fields), and the image is not ELF");
    bool is64 = d[EI_CLASS] == ELFCLASS64;
    if (d[EI_CLASS] != ELFCLASS32 && !is64)
        return fail(err, errlen, f->path, "ELF class %u is neither ELFCLASS32 nor ELFCLASS64", d[EI_CLASS]);
    if (d[EI_DATA] != ELFDATA2LSB)
        return fail(err, errlen, f->path, "ELF data encoding %u is not little-endian", d[EI_DATA]);
    if (is64 && f->size < 64)
        return fail(err, errlen, f->path, "truncated ELF64 header");
    uint16_t machine = le16(d + 18), type = le16(d + 16);
    if (machine != (is64 ? EM_X86_64 : EM_386))
        return fail(err, errlen, f->path, "ELF%s machine %u is not %s", is64 ? "64" : "32", machine,
                    is64 ? "x86-64 (62)" : "i386 (3)");
    if (type != ET_EXEC)
        return fail(err, errlen, f->path, "ELF type %u is not ET_EXEC (an executable)", type);
    uint64_t e_entry = is64 ? le64(d + 24) : le32(d + 24);
    uint64_t phoff = is64 ? le64(d + 32) : le32(d + 28);
    unsigned phentsize = le16(d + (is64 ? 54 : 42)), phnum = le16(d + (is64 ? 56 : 44));
    unsigned want = is64 ? 56 : 32;
    if (phnum == 0 || phentsize != want)
        return fail(err, errlen, f->path, "ELF program headers: %u entries of %u bytes (need entries of %u)",
                    phnum, phentsize, want);
    if (phoff > f->size || (uint64_t)phnum * phentsize > f->size - phoff)
        return fail(err, errlen, f->path, "truncated ELF program header table");
    if (e_entry >= MB_4G)
        return fail(err, errlen, f->path, "ELF entry 0x%llx is above 4 GiB (entered in 32-bit mode)",
                    (unsigned long long)e_entry);
    unsigned k = 0;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = d + phoff + (uint64_t)i * phentsize;
        if (le32(ph) != PT_LOAD)
            continue;
        mb_seg g = is64 ? (mb_seg){le64(ph + 8), le64(ph + 24), le64(ph + 32), le64(ph + 40)}
                        : (mb_seg){le32(ph + 4), le32(ph + 12), le32(ph + 16), le32(ph + 20)};
        if (g.memsz == 0)
            continue;
        if (g.filesz > g.memsz)
            return fail(err, errlen, f->path, "ELF segment %u: p_filesz 0x%llx is larger than p_memsz 0x%llx",
                        i, (unsigned long long)g.filesz, (unsigned long long)g.memsz);
        if (g.offset > f->size || g.filesz > f->size - g.offset)
            return fail(err, errlen, f->path, "ELF segment %u is truncated (file is 0x%llx bytes)", i,
                        (unsigned long long)f->size);
        if (k == MB_MAX_SEGS)
            return fail(err, errlen, f->path, "more than %u loadable ELF segments", MB_MAX_SEGS);
        s[k++] = g;
    }
    if (k == 0)
        return fail(err, errlen, f->path, "no loadable (PT_LOAD) ELF segment");
    *n = k;
    *entry = (uint32_t)e_entry;
    return true;
}

/* Every segment at or above 1 MiB (below lie the loader's tables), inside
 * RAM and below 4 GiB, not overlapping another. */
static bool check_placement(const char *path, const mb_seg *s, unsigned n, uint64_t ram,
                            uint64_t *end, char *err, size_t errlen)
{
    *end = 0;
    for (unsigned k = 0; k < n; k++) {
        if (s[k].paddr < EMU_GUEST_MIN_ADDR)
            return fail(err, errlen, path, "segment %u loads at 0x%llx, below 1 MiB (the loader's area)",
                        k, (unsigned long long)s[k].paddr);
        if (s[k].paddr >= ram || s[k].memsz > ram - s[k].paddr)
            return fail(err, errlen, path,
                        "segment %u at 0x%llx (size 0x%llx) lies outside guest RAM (%llu MiB; see --mem)",
                        k, (unsigned long long)s[k].paddr, (unsigned long long)s[k].memsz,
                        (unsigned long long)(ram >> 20));
        for (unsigned j = 0; j < k; j++)
            if (s[k].paddr < s[j].paddr + s[j].memsz && s[j].paddr < s[k].paddr + s[k].memsz)
                return fail(err, errlen, path, "segments %u and %u overlap", j, k);
        if (s[k].paddr + s[k].memsz > *end)
            *end = s[k].paddr + s[k].memsz;
    }
    return true;
}

static bool zero_fill(cpu_phys *phys, uint64_t pa, uint64_t len)
{
    static const uint8_t zeros[4096];
    while (len) {
        uint64_t chunk = len < sizeof(zeros) ? len : sizeof(zeros);
        if (!cpu_phys_write(phys, pa, zeros, chunk))
            return false;
        pa += chunk;
        len -= chunk;
    }
    return true;
}

/* ---- the information structure ------------------------------------------------ */

typedef struct mb_area {
    uint8_t buf[EMU_MB_INFO_END - EMU_MB_INFO];
    uint32_t used;
} mb_area;

/* Appends bytes (4-byte aligned) to the information area; returns their
 * guest address, 0 when the area is full. */
static uint32_t area_put(mb_area *a, const void *p, size_t len)
{
    uint32_t at = (a->used + 3u) & ~3u;
    if (at + len > sizeof(a->buf))
        return 0;
    memcpy(a->buf + at, p, len);
    a->used = at + (uint32_t)len;
    return (uint32_t)(EMU_MB_INFO + at);
}

/* The BIOS-style memory map (spec 3.3 "mmap"): conventional memory, the
 * EBDA/ROM hole, RAM from 1 MiB, and the APIC pages as reserved. */
static uint32_t put_mmap(mb_area *a, uint64_t ram, uint32_t *len)
{
    const struct { uint64_t base, length; uint32_t type; } map[] = {
        {0, 0x9FC00, 1},
        {0x9FC00, 0x400, 2},
        {0xF0000, 0x10000, 2},
        {0x100000, ram - 0x100000, 1},
        {0xFEC00000ull, 0x1000, 2},
        {0xFEE00000ull, 0x1000, 2},
    };
    uint8_t e[24 * 6];
    unsigned n = 0;
    for (unsigned k = 0; k < 6; k++) {
        if (map[k].length == 0)
            continue;
        put32(e + 24 * n, 20); /* size of the rest of the entry */
        put64(e + 24 * n + 4, map[k].base);
        put64(e + 24 * n + 12, map[k].length);
        put32(e + 24 * n + 20, map[k].type);
        n++;
    }
    *len = 24 * n;
    return area_put(a, e, 24 * n);
}

/* The information structure (spec 3.3) and what it points to: the command
 * line "KERNEL-PATH ARGS", the boot loader's name, one module entry per
 * --initrd (its string is the file's name), the memory map. */
static bool build_info(mb_area *a, const char *path, const emu_mb_opts *o, const mb_file *mods,
                       const uint64_t *mod_at, unsigned nmods, uint64_t ram, uint32_t *info_addr,
                       char *err, size_t errlen)
{
    uint8_t info[88] = {0};
    uint32_t at = area_put(a, info, sizeof(info));
    const char *append = o && o->append ? o->append : NULL;
    const char *name = o && o->name ? o->name : path;
    size_t cl = strlen(name) + (append ? 1 + strlen(append) : 0) + 1;
    char *cmdline = malloc(cl);
    if (!cmdline)
        return fail(err, errlen, path, "out of memory");
    snprintf(cmdline, cl, "%s%s%s", name, append ? " " : "", append ? append : "");
    uint32_t cmd_addr = area_put(a, cmdline, cl);
    free(cmdline);
    uint32_t name_addr = area_put(a, "apicv-emu", 10);
    uint8_t modtab[16 * EMU_MB_MAX_MODULES] = {0};
    bool fits = at && cmd_addr && name_addr;
    for (unsigned k = 0; k < nmods; k++) {
        const char *mname = o->module_names ? o->module_names[k] : mods[k].path;
        uint32_t s = area_put(a, mname, strlen(mname) + 1);
        put32(modtab + 16 * k, (uint32_t)mod_at[k]);
        put32(modtab + 16 * k + 4, (uint32_t)(mod_at[k] + mods[k].size));
        put32(modtab + 16 * k + 8, s);
        fits = fits && s;
    }
    uint32_t mods_addr = nmods ? area_put(a, modtab, 16 * nmods) : 0;
    uint32_t mmap_len = 0, mmap_addr = put_mmap(a, ram, &mmap_len);
    if (!fits || (nmods && !mods_addr) || !mmap_addr)
        return fail(err, errlen, path,
                    "the --append text and --initrd names do not fit in the %u bytes of the "
                    "information area", (unsigned)sizeof(a->buf));
    put32(info + 0, MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
    put32(info + 4, 640);                                /* mem_lower, KiB below 1 MiB */
    put32(info + 8, (uint32_t)((ram - 0x100000) >> 10)); /* mem_upper, KiB from 1 MiB */
    put32(info + 16, cmd_addr);
    put32(info + 20, nmods);
    put32(info + 24, mods_addr);
    put32(info + 44, mmap_len);
    put32(info + 48, mmap_addr);
    put32(info + 64, name_addr);
    memcpy(a->buf + (at - EMU_MB_INFO), info, sizeof(info));
    *info_addr = at;
    return true;
}

bool emu_multiboot_load(cpu_phys *phys, const char *path, const emu_mb_opts *o, emu_mb_boot *b,
                        char *err, size_t errlen)
{
    mb_file kf = {path, NULL, 0};
    mb_file mods[EMU_MB_MAX_MODULES];
    unsigned nmods = o ? o->nmodules : 0;
    memset(mods, 0, sizeof(mods));
    if (nmods > EMU_MB_MAX_MODULES)
        return fail(err, errlen, path, "%u --initrd modules (at most %u)", nmods, EMU_MB_MAX_MODULES);
    if (phys->ram_size < 2 * EMU_GUEST_MIN_ADDR)
        return fail(err, errlen, path, "multiboot kernels need at least 2 MiB of RAM");
    if (!read_whole(&kf, MB_MAX_FILE, err, errlen))
        return false;
    bool ok = false;
    emu_mb_header h;
    mb_seg segs[MB_MAX_SEGS];
    unsigned nsegs = 0;
    uint32_t entry = 0;
    uint64_t end = 0, ram = phys->ram_size < MB_4G ? phys->ram_size : MB_4G;
    uint32_t info_addr = 0;
    mb_area *area = calloc(1, sizeof(*area));
    if (!area) {
        fail(err, errlen, path, "out of memory");
        goto out;
    }
    int found = emu_multiboot_find(kf.data, kf.size, path, &h, err, errlen);
    if (found == 0)
        fail(err, errlen, path, "no multiboot header (magic 0x1BADB002) in the first 8 KiB");
    if (found <= 0)
        goto out;
    if (!((h.flags & MBH_AOUT) ? aout_segments(&kf, &h, segs, &nsegs, &entry, err, errlen)
                               : elf_segments(&kf, segs, &nsegs, &entry, err, errlen)) ||
        !check_placement(path, segs, nsegs, ram, &end, err, errlen))
        goto out;

    /* Modules go page-aligned above the kernel (spec: flag 0 asks for 4 KiB
     * alignment; we always give it). */
    uint64_t mod_at[EMU_MB_MAX_MODULES] = {0};
    uint64_t next = (end + 0xFFF) & ~0xFFFull;
    for (unsigned k = 0; k < nmods; k++) {
        mods[k].path = o->modules[k];
        if (!read_whole(&mods[k], MB_MAX_FILE, err, errlen))
            goto out;
        if (next + mods[k].size > ram) {
            fail(err, errlen, mods[k].path,
                 "--initrd module does not fit in guest RAM above the kernel (%llu MiB; see --mem)",
                 (unsigned long long)(ram >> 20));
            goto out;
        }
        mod_at[k] = next;
        next = (next + mods[k].size + 0xFFF) & ~0xFFFull;
    }
    if (!build_info(area, path, o, mods, mod_at, nmods, ram, &info_addr, err, errlen))
        goto out;

    /* Everything checked: write guest RAM. */
    static const uint8_t gdt[24] = {0, 0, 0, 0, 0, 0, 0, 0,
                                    0xFF, 0xFF, 0, 0, 0, 0x9B, 0xCF, 0, /* flat code, 32-bit */
                                    0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0}; /* flat data */
    bool wrote = cpu_phys_write(phys, EMU_MB_GDT, gdt, sizeof(gdt)) &&
                 cpu_phys_write(phys, EMU_MB_INFO, area->buf, area->used);
    for (unsigned k = 0; k < nsegs && wrote; k++)
        wrote = (!segs[k].filesz ||
                 cpu_phys_write(phys, segs[k].paddr, kf.data + segs[k].offset, segs[k].filesz)) &&
                zero_fill(phys, segs[k].paddr + segs[k].filesz, segs[k].memsz - segs[k].filesz);
    for (unsigned k = 0; k < nmods && wrote; k++)
        wrote = !mods[k].size || cpu_phys_write(phys, mod_at[k], mods[k].data, mods[k].size);
    if (!wrote) {
        fail(err, errlen, path, "guest RAM write failed");
        goto out;
    }
    b->entry = entry;
    b->info = info_addr;
    b->image_end = (uint32_t)end;
    ok = true;
out:
    free(area);
    free(kf.data);
    for (unsigned k = 0; k < EMU_MB_MAX_MODULES; k++)
        free(mods[k].data);
    return ok;
}

static void set_seg(cpu_seg *s, uint16_t sel, uint16_t attr)
{
    s->sel = sel;
    s->attr = attr;
    s->limit = 0xFFFFFFFFu;
    s->base = 0;
}

void emu_multiboot_entry_state(cpu_t *c, const emu_mb_boot *b)
{
    memset(c->gpr, 0, sizeof(c->gpr));
    c->gpr[CPU_RAX] = EMU_MB_BOOT_MAGIC;
    c->gpr[CPU_RBX] = b->info;
    c->rip = b->entry;
    c->next_rip = b->entry;
    c->cr0 = CPU_CR0_PE | CPU_CR0_ET;
    c->cr2 = c->cr3 = c->cr4 = c->cr8 = 0;
    c->efer = 0;
    for (int s = 0; s < CPU_NSEG; s++)
        set_seg(&c->seg[s], 0x10, 0xC93);
    set_seg(&c->seg[CPU_CS], 0x08, 0xC9B); /* type 1011, S, P, D/B = 1, G */
    c->tr = (cpu_seg){.sel = 0, .attr = 0x8B, .limit = 0xFFFF, .base = 0};
    c->ldtr = (cpu_seg){0};
    c->gdtr.base = EMU_MB_GDT;
    c->gdtr.limit = 23;
    c->idtr.base = 0;
    c->idtr.limit = 0x3FF;
    c->cpl = 0;
    c->mode = CPU_MODE_PROT32;
    c->halted = 0;
    cpu_set_rflags(c, CPU_FL_FIXED1);
    cpu_tlb_flush(c);
}
