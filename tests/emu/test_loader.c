/*
 * test_loader.c — the guest loader, the boot tables and the entry state
 * (docs/guest-abi.md "Image and loading", "State at entry").
 *
 * ELF files are built byte by byte here, in a temporary directory, so each
 * malformed case differs from a valid image in exactly one fault.
 */
#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "emu/emu_loader.h"

#define RAM_64M (64ull << 20)

/* ---- building ELF images ---------------------------------------------------- */

typedef struct test_seg {
    uint32_t type;
    uint64_t paddr, vaddr, filesz, memsz;
    uint8_t fill; /* file bytes are fill, fill+1, fill+2, ... */
} test_seg;

typedef struct test_elf {
    uint8_t class_, data, version;
    uint16_t type, machine;
    uint64_t entry;
    unsigned nsegs;
    test_seg seg[4];
    long truncate; /* > 0: cut the file to this many bytes */
} test_elf;

static char tmpdir[64];
static unsigned file_counter;

static void put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A valid two-segment image: code at 0x200000, data + bss at 0x300000. */
static test_elf valid_elf(void)
{
    test_elf e = {ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ET_EXEC, EM_X86_64, 0x200010, 2, {{0}}, 0};
    e.seg[0] = (test_seg){PT_LOAD, 0x200000, 0x200000, 0x180, 0x180, 0x10};
    e.seg[1] = (test_seg){PT_LOAD, 0x300000, 0x300000, 0x40, 0x3000, 0x80};
    return e;
}

/* Writes the image to a new file in tmpdir; returns its path (static buffer per call index). */
static const char *write_elf(const test_elf *e, char *path, size_t pathlen)
{
    uint8_t buf[16384];
    memset(buf, 0, sizeof(buf));
    memcpy(buf, ELFMAG, SELFMAG);
    buf[EI_CLASS] = e->class_;
    buf[EI_DATA] = e->data;
    buf[EI_VERSION] = e->version;
    put(buf + 16, e->type, 2);
    put(buf + 18, e->machine, 2);
    put(buf + 20, EV_CURRENT, 4);
    put(buf + 24, e->entry, 8);
    put(buf + 32, 64, 8); /* e_phoff */
    put(buf + 52, 64, 2); /* e_ehsize */
    put(buf + 54, 56, 2); /* e_phentsize */
    put(buf + 56, e->nsegs, 2);
    uint64_t off = 0x1000;
    for (unsigned i = 0; i < e->nsegs; i++) {
        const test_seg *s = &e->seg[i];
        uint8_t *ph = buf + 64 + 56 * i;
        put(ph, s->type, 4);
        put(ph + 4, PF_R | PF_W | PF_X, 4);
        put(ph + 8, off, 8);
        put(ph + 16, s->vaddr, 8);
        put(ph + 24, s->paddr, 8);
        put(ph + 32, s->filesz, 8);
        put(ph + 40, s->memsz, 8);
        put(ph + 48, 0x1000, 8);
        for (uint64_t k = 0; k < s->filesz && off + k < sizeof(buf); k++)
            buf[off + k] = (uint8_t)(s->fill + k);
        off += (s->filesz + 0xFFF) & ~0xFFFull;
    }
    long size = e->truncate > 0 ? e->truncate : (long)(off < sizeof(buf) ? off : sizeof(buf));
    snprintf(path, pathlen, "%s/img%u.elf", tmpdir, file_counter++);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return path;
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/apicv_loader_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- loading ----------------------------------------------------------------- */

START_TEST(valid_image_loads_with_bss_zeroed)
{
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    /* Dirty the whole data segment and one byte past it: bss must be zeroed,
     * memory beyond memsz left alone. */
    memset(phys.ram + 0x300000, 0xAA, 0x3001);
    test_elf e = valid_elf();
    char path[128], err[256] = "";
    write_elf(&e, path, sizeof(path));
    uint64_t entry = 0;
    ck_assert_msg(emu_load_guest(&phys, path, &entry, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(entry, 0x200010);
    for (unsigned k = 0; k < 0x180; k++)
        ck_assert_uint_eq(phys.ram[0x200000 + k], (uint8_t)(0x10 + k));
    for (unsigned k = 0; k < 0x40; k++)
        ck_assert_uint_eq(phys.ram[0x300000 + k], (uint8_t)(0x80 + k));
    for (unsigned k = 0x40; k < 0x3000; k++)
        ck_assert_uint_eq(phys.ram[0x300000 + k], 0);
    ck_assert_uint_eq(phys.ram[0x303000], 0xAA);
    ck_assert_uint_eq(phys.ram[0x1FFFFF], 0);
    cpu_phys_free(&phys);
}
END_TEST

/* One malformed case: the image is refused, RAM is untouched, and the
 * message names the file and contains `fault`. */
typedef struct bad_case {
    const char *name;
    const char *fault;
} bad_case;

static void expect_refused(test_elf *e, const char *fault)
{
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    memset(phys.ram + 0x200000, 0x5A, 0x200000);
    char path[128], err[256] = "";
    write_elf(e, path, sizeof(path));
    uint64_t entry = 0x1234;
    ck_assert_msg(!emu_load_guest(&phys, path, &entry, err, sizeof(err)), "accepted: %s", fault);
    ck_assert_msg(strstr(err, path) == err, "message does not start with the file: '%s'", err);
    ck_assert_msg(strstr(err, fault) != NULL, "message '%s' lacks '%s'", err, fault);
    ck_assert_uint_eq(entry, 0x1234);
    for (unsigned k = 0; k < 0x200000; k += 0x1000)
        ck_assert_uint_eq(phys.ram[0x200000 + k], 0x5A);
    cpu_phys_free(&phys);
}

START_TEST(bad_magic)
{
    test_elf e = valid_elf();
    char path[128], err[256] = "";
    write_elf(&e, path, sizeof(path));
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fputc('X', f); /* the 0x7F of the magic */
    fclose(f);
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    uint64_t entry = 0;
    ck_assert(!emu_load_guest(&phys, path, &entry, err, sizeof(err)));
    ck_assert_msg(strstr(err, path) == err && strstr(err, "bad magic"), "%s", err);
    cpu_phys_free(&phys);
}
END_TEST

START_TEST(class_32bit)
{
    test_elf e = valid_elf();
    e.class_ = ELFCLASS32;
    expect_refused(&e, "ELFCLASS64");
}
END_TEST

START_TEST(big_endian)
{
    test_elf e = valid_elf();
    e.data = ELFDATA2MSB;
    expect_refused(&e, "little-endian");
}
END_TEST

START_TEST(wrong_machine)
{
    test_elf e = valid_elf();
    e.machine = EM_386;
    expect_refused(&e, "machine 3 is not x86-64");
}
END_TEST

START_TEST(et_dyn)
{
    test_elf e = valid_elf();
    e.type = ET_DYN;
    expect_refused(&e, "ET_DYN");
}
END_TEST

START_TEST(et_rel)
{
    test_elf e = valid_elf();
    e.type = ET_REL;
    expect_refused(&e, "not ET_EXEC");
}
END_TEST

START_TEST(truncated_header)
{
    test_elf e = valid_elf();
    e.truncate = 40;
    expect_refused(&e, "truncated ELF header");
}
END_TEST

START_TEST(truncated_phdrs)
{
    test_elf e = valid_elf();
    e.truncate = 64 + 56 + 20; /* the second program header is cut */
    expect_refused(&e, "truncated program header table");
}
END_TEST

START_TEST(truncated_segment)
{
    test_elf e = valid_elf();
    e.truncate = 0x1000 + 0x100; /* segment 0 has 0x180 file bytes */
    expect_refused(&e, "segment 0 is truncated");
}
END_TEST

START_TEST(segment_below_1mib)
{
    test_elf e = valid_elf();
    e.seg[1].paddr = e.seg[1].vaddr = 0xF0000;
    expect_refused(&e, "segment 1 at 0xf0000 (size 0x3000) lies below 0x100000");
}
END_TEST

START_TEST(segment_beyond_ram)
{
    test_elf e = valid_elf();
    e.seg[1].paddr = e.seg[1].vaddr = RAM_64M - 0x1000; /* 0x3000 bytes: 0x2000 past the end */
    expect_refused(&e, "segment 1 at 0x3fff000 (size 0x3000) lies outside guest RAM (64 MiB)");
}
END_TEST

START_TEST(segment_far_beyond_ram)
{
    test_elf e = valid_elf();
    e.seg[1].paddr = 0xFFFFFFFFFFFFF000ull; /* paddr + memsz wraps around */
    expect_refused(&e, "outside guest RAM");
}
END_TEST

START_TEST(overlapping_segments)
{
    test_elf e = valid_elf();
    e.seg[1].paddr = e.seg[1].vaddr = 0x200100; /* inside segment 0's 0x180 bytes */
    expect_refused(&e, "segment 1 at 0x200100 (size 0x3000) overlaps segment 0");
}
END_TEST

START_TEST(no_pt_load)
{
    test_elf e = valid_elf();
    e.seg[0].type = PT_NOTE;
    e.seg[1].type = PT_NOTE;
    expect_refused(&e, "no loadable (PT_LOAD) segment");
}
END_TEST

START_TEST(entry_outside_segments)
{
    test_elf e = valid_elf();
    e.entry = 0x280000;
    expect_refused(&e, "entry point 0x280000 lies outside every loadable segment");
}
END_TEST

START_TEST(filesz_above_memsz)
{
    test_elf e = valid_elf();
    e.seg[1].memsz = 0x20;
    expect_refused(&e, "larger than its memory size");
}
END_TEST

START_TEST(missing_file)
{
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    char path[128], err[256] = "";
    snprintf(path, sizeof(path), "%s/does-not-exist.elf", tmpdir);
    uint64_t entry = 0;
    ck_assert(!emu_load_guest(&phys, path, &entry, err, sizeof(err)));
    ck_assert_msg(strstr(err, path) == err && strstr(err, "cannot open"), "%s", err);
    cpu_phys_free(&phys);
}
END_TEST

/* ---- boot tables --------------------------------------------------------------- */

static uint64_t rd64(const cpu_phys *p, uint64_t pa)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p->ram[pa + (uint64_t)i];
    return v;
}

/* A 4-level walk (SDM Vol. 3A 4.5) of the tables at cr3, written here
 * independently of the loader. Requires present + writable + supervisor
 * at every level; returns false when va is not mapped that way. */
static bool walk(const cpu_phys *p, uint64_t cr3, uint64_t va, uint64_t *pa)
{
    const uint64_t addr_mask = 0x000FFFFFFFFFF000ull;
    uint64_t table = cr3 & addr_mask;
    for (int level = 4; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        uint64_t idx = (va >> shift) & 0x1FF;
        if (table + 8 * idx + 8 > p->ram_size)
            return false;
        uint64_t e = rd64(p, table + 8 * idx);
        if (!(e & 1) || !(e & 2) || (e & 4))
            return false;
        if (level == 2 && (e & 0x80)) {
            *pa = (e & 0x000FFFFFFFE00000ull) | (va & 0x1FFFFF);
            return true;
        }
        if (level == 3 && (e & 0x80))
            return false; /* the ABI's tables use 2 MiB pages only */
        if (level == 1) {
            *pa = (e & addr_mask) | (va & 0xFFF);
            return true;
        }
        table = e & addr_mask;
    }
    return false;
}

START_TEST(boot_tables_identity_map)
{
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    char err[256] = "";
    ck_assert_msg(emu_build_boot_tables(&phys, 2, err, sizeof(err)), "%s", err);
    const uint64_t probes[] = {0x0, 0x1234567, 0xFFFFF000, 0xFEE00000, 0x200000, 0x3FFFFFFF, 0xFFFFFFFF};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        uint64_t pa = ~0ull;
        ck_assert_msg(walk(&phys, EMU_BOOT_PML4, probes[i], &pa), "0x%llx not mapped",
                      (unsigned long long)probes[i]);
        ck_assert_uint_eq(pa, probes[i]);
    }
    uint64_t pa;
    ck_assert(!walk(&phys, EMU_BOOT_PML4, 0x100000000ull, &pa)); /* 4 GiB: beyond the map */
    /* Everything the tables use lies below 1 MiB, under the image area. */
    ck_assert_uint_lt(EMU_BOOT_PD + 0x4000, EMU_BOOT_STACKS);
    ck_assert_uint_le(emu_boot_stack_top(CPU_MAX_CPUS - 1), EMU_GUEST_MIN_ADDR);
    cpu_phys_free(&phys);
}
END_TEST

START_TEST(boot_gdt_matches_entry_segments)
{
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    char err[256] = "";
    ck_assert_msg(emu_build_boot_tables(&phys, 1, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(rd64(&phys, EMU_BOOT_GDT), 0);
    /* A descriptor's access byte (bits 47:40) and flags (55:52) are the
     * attr layout of cpu_seg (type..P in 7:0, AVL L D/B G in 11:8). */
    const struct { uint16_t sel, attr; } segs[] = {
        {EMU_SEL_CODE, EMU_ATTR_CODE64}, {EMU_SEL_DATA, EMU_ATTR_DATA}, {EMU_SEL_TSS, EMU_ATTR_TSS64}};
    for (size_t i = 0; i < 3; i++) {
        uint64_t d = rd64(&phys, EMU_BOOT_GDT + segs[i].sel);
        uint16_t attr = (uint16_t)(((d >> 40) & 0xFF) | (((d >> 52) & 0xF) << 8));
        ck_assert_uint_eq(attr, segs[i].attr);
    }
    ck_assert_uint_eq((EMU_ATTR_CODE64 >> 9) & 1, 1);  /* L */
    ck_assert_uint_eq((EMU_ATTR_CODE64 >> 10) & 1, 0); /* D must be 0 with L = 1 */
    uint64_t tss = rd64(&phys, EMU_BOOT_GDT + EMU_SEL_TSS);
    uint64_t base = ((tss >> 16) & 0xFFFFFF) | (((tss >> 56) & 0xFF) << 24) |
                    (rd64(&phys, EMU_BOOT_GDT + EMU_SEL_TSS + 8) << 32);
    ck_assert_uint_eq(base, EMU_BOOT_TSS);
    ck_assert_uint_eq(tss & 0xFFFF, 0x67);
    cpu_phys_free(&phys);
}
END_TEST

START_TEST(boot_tables_refuse_bad_config)
{
    cpu_phys small, phys;
    char err[256] = "";
    ck_assert(cpu_phys_init(&small, 512 * 1024, 0));
    ck_assert(!emu_build_boot_tables(&small, 1, err, sizeof(err)));
    ck_assert_msg(strstr(err, "smaller than 1 MiB"), "%s", err);
    cpu_phys_free(&small);
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    ck_assert(!emu_build_boot_tables(&phys, 0, err, sizeof(err)));
    ck_assert(!emu_build_boot_tables(&phys, CPU_MAX_CPUS + 1, err, sizeof(err)));
    ck_assert(emu_build_boot_tables(&phys, CPU_MAX_CPUS, err, sizeof(err)));
    cpu_phys_free(&phys);
}
END_TEST

/* ---- entry state --------------------------------------------------------------- */

START_TEST(entry_state_per_vcpu)
{
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM_64M, 0));
    char err[256] = "";
    ck_assert_msg(emu_build_boot_tables(&phys, 3, err, sizeof(err)), "%s", err);
    cpu_cost_model costs;
    cpu_cost_default(&costs);
    static cpu_t cpus[3];
    uint64_t prev_top = 0;
    for (unsigned i = 0; i < 3; i++) {
        cpu_t *c = &cpus[i];
        ck_assert(cpu_init(c, i, &phys, &costs, NULL));
        /* Leave junk the entry state must overwrite. */
        for (int r = 0; r < 16; r++)
            c->gpr[r] = 0xDEAD0000u + (unsigned)r;
        memset(phys.ram + emu_boot_stack_top(i) - 64, 0xCC, 64);
        emu_setup_entry_state(c, &phys, i, 3, 0x200000);

        ck_assert_uint_eq(c->rip, 0x200000);
        ck_assert_uint_eq(c->gpr[CPU_RDI], i);
        ck_assert_uint_eq(c->gpr[CPU_RSI], 3);
        uint64_t rsp = c->gpr[CPU_RSP];
        ck_assert_uint_eq(rsp % 16, 0);
        ck_assert_uint_le(rsp, EMU_GUEST_MIN_ADDR);
        ck_assert_uint_gt(rsp, prev_top); /* private stacks, one after the other */
        ck_assert_uint_ge(rsp - EMU_BOOT_STACK_SIZE, prev_top ? prev_top : EMU_BOOT_PD + 0x4000);
        prev_top = rsp;
        for (unsigned k = 1; k <= 64; k++)
            ck_assert_uint_eq(phys.ram[rsp - k], 0);
        for (int r = 0; r < 16; r++)
            if (r != CPU_RDI && r != CPU_RSI && r != CPU_RSP)
                ck_assert_uint_eq(c->gpr[r], 0);

        ck_assert_uint_eq(c->cr0, CPU_CR0_PE | CPU_CR0_MP | CPU_CR0_ET | CPU_CR0_NE | CPU_CR0_WP | CPU_CR0_PG);
        ck_assert_uint_eq(c->cr0, 0x80010033u);
        ck_assert_uint_eq(c->cr4, CPU_CR4_PAE);
        ck_assert_uint_eq(c->efer, 0xD00u); /* LME | LMA | NXE */
        ck_assert_uint_eq(c->cr3, EMU_BOOT_PML4);
        ck_assert_uint_eq(cpu_get_rflags(c), 0x2);
        ck_assert_uint_eq(c->mode, CPU_MODE_LONG64);
        ck_assert_uint_eq(c->cpl, 0);
        ck_assert_uint_eq(c->seg[CPU_CS].sel, 0x08);
        ck_assert_uint_eq((c->seg[CPU_CS].attr >> 9) & 1, 1);
        ck_assert_uint_eq(c->seg[CPU_CS].attr & 0x80, 0x80);
        const int data[] = {CPU_DS, CPU_ES, CPU_SS, CPU_FS, CPU_GS};
        for (size_t k = 0; k < 5; k++) {
            ck_assert_uint_eq(c->seg[data[k]].sel, 0x10);
            ck_assert_uint_eq(c->seg[data[k]].base, 0);
            ck_assert_uint_eq(c->seg[data[k]].attr, EMU_ATTR_DATA);
        }
        ck_assert_uint_eq(c->gdtr.base, EMU_BOOT_GDT);
        ck_assert_uint_ge(c->gdtr.limit, 0x17);
        ck_assert_uint_eq(c->idtr.limit, 0);
    }
    for (unsigned i = 0; i < 3; i++)
        cpu_free(&cpus[i]);
    cpu_phys_free(&phys);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("emu_loader");
    TCase *t = tcase_create("load");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, valid_image_loads_with_bss_zeroed);
    tcase_add_test(t, bad_magic);
    tcase_add_test(t, class_32bit);
    tcase_add_test(t, big_endian);
    tcase_add_test(t, wrong_machine);
    tcase_add_test(t, et_dyn);
    tcase_add_test(t, et_rel);
    tcase_add_test(t, truncated_header);
    tcase_add_test(t, truncated_phdrs);
    tcase_add_test(t, truncated_segment);
    tcase_add_test(t, segment_below_1mib);
    tcase_add_test(t, segment_beyond_ram);
    tcase_add_test(t, segment_far_beyond_ram);
    tcase_add_test(t, overlapping_segments);
    tcase_add_test(t, no_pt_load);
    tcase_add_test(t, entry_outside_segments);
    tcase_add_test(t, filesz_above_memsz);
    tcase_add_test(t, missing_file);
    suite_add_tcase(s, t);
    TCase *b = tcase_create("boot");
    tcase_add_test(b, boot_tables_identity_map);
    tcase_add_test(b, boot_gdt_matches_entry_segments);
    tcase_add_test(b, boot_tables_refuse_bad_config);
    tcase_add_test(b, entry_state_per_vcpu);
    suite_add_tcase(s, b);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
