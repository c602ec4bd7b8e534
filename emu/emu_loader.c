/*
 * emu_loader.c — the guest image loader and the guest ABI's entry state.
 *
 * Loading is two passes over the ELF image: first every check, then the
 * copies, so a refused image leaves guest RAM as it was. Fields are read
 * byte by byte as little-endian, whatever the host's byte order.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_loader.h"

/* Larger images than this cannot be sensible guests; refusing them early
 * keeps a wrong path (a disk image, /dev/zero) from eating host memory. */
#define LOADER_MAX_FILE (1ull << 30)

#define EHDR_SIZE 64u
#define PHDR_SIZE 56u
#define MAX_PHDRS 256u

typedef struct loader_image {
    const char *path;
    const uint8_t *data;
    uint64_t size;
    char *err;
    size_t errlen;
} loader_image;

typedef struct loader_seg {
    unsigned index; /* position in the program-header table */
    uint64_t offset, vaddr, paddr, filesz, memsz;
} loader_seg;

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

/* Writes "<path>: <message>" into err; always returns false. */
static bool fail(const loader_image *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(const loader_image *im, const char *fmt, ...)
{
    if (!im->err || im->errlen == 0)
        return false;
    int n = snprintf(im->err, im->errlen, "%s: ", im->path);
    if (n >= 0 && (size_t)n < im->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(im->err + n, im->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* "64 MiB" when the RAM size is whole MiB, else bytes in hex. */
static void describe_ram(uint64_t ram_size, char *buf, size_t len)
{
    if (ram_size && ram_size % (1ull << 20) == 0)
        snprintf(buf, len, "%llu MiB", (unsigned long long)(ram_size >> 20));
    else
        snprintf(buf, len, "0x%llx bytes", (unsigned long long)ram_size);
}

static bool read_file(loader_image *im, uint8_t **out)
{
    char why[512];
    FILE *f = cpu_open_input(im->path, why, sizeof(why));
    size_t skip = strlen(im->path) + 2; /* the message starts with the path, which fail() adds */
    if (!f)
        return fail(im, "%s", strlen(why) > skip ? why + skip : why);
    uint8_t *buf = NULL;
    uint64_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > LOADER_MAX_FILE + 1)
                cap = LOADER_MAX_FILE + 1;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return fail(im, "out of memory reading the file");
            }
            buf = nb;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
        if (size > LOADER_MAX_FILE) {
            free(buf);
            fclose(f);
            return fail(im, "larger than %llu MiB: not a guest image",
                        (unsigned long long)(LOADER_MAX_FILE >> 20));
        }
    }
    bool io_error = ferror(f) != 0;
    fclose(f);
    if (io_error) {
        free(buf);
        return fail(im, "read error");
    }
    im->data = buf;
    im->size = size;
    *out = buf;
    return true;
}

/* The ELF header checks (ELF-64 Object File Format, 3; System V x86-64 psABI). */
static bool check_header(const loader_image *im, uint64_t *phoff, unsigned *phnum)
{
    const uint8_t *d = im->data;
    if (im->size < 4 || memcmp(d, ELFMAG, SELFMAG) != 0)
        return fail(im, "not an ELF file (bad magic)");
    if (im->size < EHDR_SIZE)
        return fail(im, "truncated ELF header (%llu bytes, need %u)",
                    (unsigned long long)im->size, EHDR_SIZE);
    if (d[EI_CLASS] != ELFCLASS64)
        return fail(im, "ELF class %u is not ELFCLASS64 (a 32-bit image?)", d[EI_CLASS]);
    if (d[EI_DATA] != ELFDATA2LSB)
        return fail(im, "ELF data encoding %u is not little-endian", d[EI_DATA]);
    if (d[EI_VERSION] != EV_CURRENT)
        return fail(im, "ELF version %u is not %u", d[EI_VERSION], EV_CURRENT);
    uint16_t type = le16(d + 16), machine = le16(d + 18);
    if (machine != EM_X86_64)
        return fail(im, "machine %u is not x86-64 (EM_X86_64 = %u)", machine, EM_X86_64);
    if (type == ET_DYN)
        return fail(im, "position-independent image (ET_DYN); link a static ET_EXEC with -no-pie");
    if (type != ET_EXEC)
        return fail(im, "ELF type %u is not ET_EXEC (an executable)", type);
    uint16_t phentsize = le16(d + 54);
    *phoff = le64(d + 32);
    *phnum = le16(d + 56);
    if (*phnum == 0)
        return fail(im, "no program headers, so no loadable segment");
    if (phentsize != PHDR_SIZE)
        return fail(im, "program header size %u is not %u", phentsize, PHDR_SIZE);
    if (*phnum > MAX_PHDRS)
        return fail(im, "%u program headers (more than %u)", *phnum, MAX_PHDRS);
    if (*phoff > im->size || (uint64_t)*phnum * PHDR_SIZE > im->size - *phoff)
        return fail(im, "truncated program header table (%u entries at offset 0x%llx, file is 0x%llx bytes)",
                    *phnum, (unsigned long long)*phoff, (unsigned long long)im->size);
    return true;
}

/* Checks one PT_LOAD against the file and guest RAM. */
static bool check_segment(const loader_image *im, const loader_seg *s, uint64_t ram_size)
{
    char ram[32];
    if (s->filesz > s->memsz)
        return fail(im, "segment %u has file size 0x%llx larger than its memory size 0x%llx",
                    s->index, (unsigned long long)s->filesz, (unsigned long long)s->memsz);
    if (s->offset > im->size || s->filesz > im->size - s->offset)
        return fail(im, "segment %u is truncated (file bytes 0x%llx..0x%llx, file is 0x%llx bytes)",
                    s->index, (unsigned long long)s->offset,
                    (unsigned long long)(s->offset + s->filesz), (unsigned long long)im->size);
    if (s->paddr < EMU_GUEST_MIN_ADDR)
        return fail(im, "segment %u at 0x%llx (size 0x%llx) lies below 0x%llx (1 MiB)", s->index,
                    (unsigned long long)s->paddr, (unsigned long long)s->memsz,
                    (unsigned long long)EMU_GUEST_MIN_ADDR);
    if (s->paddr >= ram_size || s->memsz > ram_size - s->paddr) {
        describe_ram(ram_size, ram, sizeof(ram));
        return fail(im, "segment %u at 0x%llx (size 0x%llx) lies outside guest RAM (%s)", s->index,
                    (unsigned long long)s->paddr, (unsigned long long)s->memsz, ram);
    }
    return true;
}

/* Reads and checks every PT_LOAD; returns how many there are in *nsegs. */
static bool collect_segments(const loader_image *im, uint64_t phoff, unsigned phnum,
                             uint64_t ram_size, loader_seg *segs, unsigned *nsegs)
{
    unsigned n = 0;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = im->data + phoff + (uint64_t)i * PHDR_SIZE;
        if (le32(ph) != PT_LOAD)
            continue;
        loader_seg s = {i, le64(ph + 8), le64(ph + 16), le64(ph + 24), le64(ph + 32), le64(ph + 40)};
        if (s.memsz == 0)
            continue; /* occupies nothing */
        if (!check_segment(im, &s, ram_size))
            return false;
        for (unsigned k = 0; k < n; k++) {
            const loader_seg *o = &segs[k];
            if (s.paddr < o->paddr + o->memsz && o->paddr < s.paddr + s.memsz)
                return fail(im, "segment %u at 0x%llx (size 0x%llx) overlaps segment %u at 0x%llx (size 0x%llx)",
                            s.index, (unsigned long long)s.paddr, (unsigned long long)s.memsz,
                            o->index, (unsigned long long)o->paddr, (unsigned long long)o->memsz);
        }
        segs[n++] = s;
    }
    if (n == 0)
        return fail(im, "no loadable (PT_LOAD) segment");
    *nsegs = n;
    return true;
}

/* The entry point is a linear address: it must fall in some segment's
 * virtual range (identical to its physical range under the boot tables). */
static bool check_entry(const loader_image *im, const loader_seg *segs, unsigned n, uint64_t entry)
{
    for (unsigned k = 0; k < n; k++)
        if (entry >= segs[k].vaddr && entry - segs[k].vaddr < segs[k].memsz)
            return true;
    return fail(im, "entry point 0x%llx lies outside every loadable segment", (unsigned long long)entry);
}

static bool copy_segments(const loader_image *im, cpu_phys *phys, const loader_seg *segs, unsigned n)
{
    static const uint8_t zeros[4096];
    for (unsigned k = 0; k < n; k++) {
        const loader_seg *s = &segs[k];
        if (s->filesz && !cpu_phys_write(phys, s->paddr, im->data + s->offset, s->filesz))
            return fail(im, "segment %u: guest RAM write failed", s->index);
        /* bss: memory beyond the file bytes starts zeroed. */
        for (uint64_t pa = s->paddr + s->filesz, end = s->paddr + s->memsz; pa < end;) {
            uint64_t chunk = end - pa < sizeof(zeros) ? end - pa : sizeof(zeros);
            if (!cpu_phys_write(phys, pa, zeros, chunk))
                return fail(im, "segment %u: guest RAM write failed", s->index);
            pa += chunk;
        }
    }
    return true;
}

bool emu_load_guest(cpu_phys *phys, const char *path, uint64_t *entry, char *err, size_t errlen)
{
    loader_image im = {path, NULL, 0, err, errlen};
    uint8_t *buf = NULL;
    if (!read_file(&im, &buf))
        return false;
    uint64_t phoff = 0;
    unsigned phnum = 0, nsegs = 0;
    loader_seg segs[MAX_PHDRS];
    bool ok = check_header(&im, &phoff, &phnum) &&
              collect_segments(&im, phoff, phnum, phys->ram_size, segs, &nsegs) &&
              check_entry(&im, segs, nsegs, le64(im.data + 24)) &&
              copy_segments(&im, phys, segs, nsegs);
    if (ok)
        *entry = le64(im.data + 24);
    free(buf);
    return ok;
}

/* ---- boot tables ---------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * A 64-bit TSS descriptor (SDM Vol. 3A 8.2.3): 16 bytes, base split over
 * both qwords, type 1011b (busy: TR is loaded with it at entry).
 */
static void tss_descriptor(uint8_t *d, uint64_t base, uint32_t limit)
{
    uint64_t lo = (limit & 0xFFFFull) | ((base & 0xFFFFFFull) << 16) | (0x8Bull << 40) |
                  ((uint64_t)((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFFull) << 56);
    put64(d, lo);
    put64(d + 8, base >> 32);
}

/*
 * Segment descriptors (SDM Vol. 3A 3.4.5): the 64-bit code segment (L = 1,
 * D = 0; SDM 5.2.1) and a flat read/write data segment.
 */
#define GDT_CODE64 0x00AF9B000000FFFFull
#define GDT_DATA 0x00CF93000000FFFFull

/* Paging-structure entry bits (SDM Vol. 3A 4.5, tables 4-15, 4-17, 4-18). */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull
#define PAGE_2M (2ull << 20)

bool emu_build_boot_tables(cpu_phys *phys, unsigned ncpus, char *err, size_t errlen)
{
    if (!err)
        errlen = 0;
    if (ncpus < 1 || ncpus > CPU_MAX_CPUS) {
        snprintf(err, errlen, "boot tables: %u vCPUs (expected 1..%d)", ncpus, CPU_MAX_CPUS);
        return false;
    }
    if (!cpu_phys_ptr(phys, 0, EMU_BOOT_END)) {
        snprintf(err, errlen, "boot tables: guest RAM (0x%llx bytes) is smaller than 1 MiB",
                 (unsigned long long)phys->ram_size);
        return false;
    }
    /* Written through cpu_phys_write so decoded code on those pages (a
     * machine rebuilt in place) is invalidated. */
    uint8_t gdt[40] = {0};
    put64(gdt + EMU_SEL_CODE, GDT_CODE64);
    put64(gdt + EMU_SEL_DATA, GDT_DATA);
    tss_descriptor(gdt + EMU_SEL_TSS, EMU_BOOT_TSS, 0x67);
    uint8_t tss[0x68] = {0};
    uint8_t table[4096];
    bool ok = cpu_phys_write(phys, EMU_BOOT_GDT, gdt, sizeof(gdt)) &&
              cpu_phys_write(phys, EMU_BOOT_TSS, tss, sizeof(tss));

    memset(table, 0, sizeof(table));
    put64(table, EMU_BOOT_PDPT | PTE_P | PTE_RW);
    ok = ok && cpu_phys_write(phys, EMU_BOOT_PML4, table, sizeof(table));

    memset(table, 0, sizeof(table));
    for (unsigned i = 0; i < 4; i++)
        put64(table + 8 * i, (EMU_BOOT_PD + 0x1000ull * i) | PTE_P | PTE_RW);
    ok = ok && cpu_phys_write(phys, EMU_BOOT_PDPT, table, sizeof(table));

    for (unsigned i = 0; i < 4 && ok; i++) {
        for (unsigned j = 0; j < 512; j++)
            put64(table + 8 * j, ((uint64_t)(i * 512 + j) * PAGE_2M) | PTE_P | PTE_RW | PTE_PS);
        ok = cpu_phys_write(phys, EMU_BOOT_PD + 0x1000ull * i, table, sizeof(table));
    }
    memset(table, 0, sizeof(table));
    for (uint64_t pa = EMU_BOOT_STACKS; ok && pa < emu_boot_stack_top(ncpus - 1); pa += sizeof(table))
        ok = cpu_phys_write(phys, pa, table, sizeof(table));
    if (!ok) {
        snprintf(err, errlen, "boot tables: guest RAM write failed");
        return false;
    }
    return true;
}

static void set_seg(cpu_seg *s, uint16_t sel, uint16_t attr, uint32_t limit, uint64_t base)
{
    s->sel = sel;
    s->attr = attr;
    s->limit = limit;
    s->base = base;
}

void emu_setup_entry_state(cpu_t *c, cpu_phys *phys, unsigned index, unsigned ncpus, uint64_t entry)
{
    uint64_t top = emu_boot_stack_top(index);
    void *stack = cpu_phys_ptr_write(phys, top - EMU_BOOT_STACK_SIZE, EMU_BOOT_STACK_SIZE);
    if (stack)
        memset(stack, 0, EMU_BOOT_STACK_SIZE);

    memset(c->gpr, 0, sizeof(c->gpr));
    c->gpr[CPU_RDI] = index;
    c->gpr[CPU_RSI] = ncpus;
    c->gpr[CPU_RSP] = top;
    c->rip = entry;
    c->next_rip = entry;

    /* SDM Vol. 3A 9.8.5: IA-32e mode = CR0.PG with CR4.PAE and EFER.LME,
     * which makes EFER.LMA = 1. */
    c->cr0 = CPU_CR0_PE | CPU_CR0_MP | CPU_CR0_ET | CPU_CR0_NE | CPU_CR0_WP | CPU_CR0_PG;
    c->cr2 = 0;
    c->cr3 = EMU_BOOT_PML4;
    c->cr4 = CPU_CR4_PAE;
    c->cr8 = 0;
    c->efer = CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE;

    for (int s = 0; s < CPU_NSEG; s++)
        set_seg(&c->seg[s], EMU_SEL_DATA, EMU_ATTR_DATA, 0xFFFFFFFFu, 0);
    set_seg(&c->seg[CPU_CS], EMU_SEL_CODE, EMU_ATTR_CODE64, 0xFFFFFFFFu, 0);
    set_seg(&c->tr, EMU_SEL_TSS, EMU_ATTR_TSS64, 0x67, EMU_BOOT_TSS);
    set_seg(&c->ldtr, 0, 0, 0, 0); /* null LDT: P = 0, unusable */
    c->gdtr.base = EMU_BOOT_GDT;
    c->gdtr.limit = 5 * 8 - 1; /* null, code, data, 16-byte TSS */
    c->idtr.base = 0;
    c->idtr.limit = 0;

    c->cpl = 0;
    c->mode = CPU_MODE_LONG64;
    c->halted = 0;
    cpu_set_rflags(c, CPU_FL_FIXED1);
    cpu_tlb_flush(c);
}
