/*
 * test_multiboot.c — the Multiboot v1 loader (emu/emu_multiboot.c) with
 * images built byte by byte here: ELF32 and ELF64 kernels loaded by their
 * program headers (BSS zeroed), the a.out-kludge address fields, the
 * information structure (flags, memory sizes, command line, modules,
 * memory map), the entry state, and each malformed header or option
 * refused with a message naming the file and the field.
 */
#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "emu/emu.h"
#include "emu/emu_multiboot.h"

#define RAM (64ull << 20)

static char tmpdir[64];
static unsigned counter;

static void put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(cpu_phys *p, uint64_t pa)
{
    uint8_t b[4];
    ck_assert(cpu_phys_read(p, pa, b, 4));
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static const char *write_file(const uint8_t *data, size_t len)
{
    static char path[128];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/apicv-mb-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof(path), "%s/k%u", tmpdir, counter++);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

/* A multiboot header at off: magic, flags, checksum (+ address fields). */
static void mb_header(uint8_t *at, uint32_t flags, int32_t sum_error)
{
    put(at, 0x1BADB002u, 4);
    put(at + 4, flags, 4);
    put(at + 8, (uint32_t)(0u - 0x1BADB002u - flags + (uint32_t)sum_error), 4);
}

/* ELF32 (or ELF64) kernel: one PT_LOAD at paddr with filesz bytes of code
 * (the multiboot header at its start, then 0xAB fill) and memsz - filesz
 * of BSS; entry = paddr + 0x20. */
static size_t build_elf(uint8_t *img, bool is64, uint64_t paddr, uint64_t filesz, uint64_t memsz,
                        uint32_t mbflags)
{
    memset(img, 0, 0x2000);
    memcpy(img, ELFMAG, SELFMAG);
    img[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
    img[EI_DATA] = ELFDATA2LSB;
    img[EI_VERSION] = EV_CURRENT;
    put(img + 16, ET_EXEC, 2);
    put(img + 18, is64 ? EM_X86_64 : EM_386, 2);
    put(img + 20, 1, 4);
    size_t off = 0x1000;
    if (is64) {
        put(img + 24, paddr + 0x20, 8);
        put(img + 32, 64, 8);
        put(img + 52, 64, 2);
        put(img + 54, 56, 2);
        put(img + 56, 1, 2);
        uint8_t *ph = img + 64;
        put(ph, PT_LOAD, 4);
        put(ph + 8, off, 8);
        put(ph + 16, paddr, 8);
        put(ph + 24, paddr, 8);
        put(ph + 32, filesz, 8);
        put(ph + 40, memsz, 8);
    } else {
        put(img + 24, paddr + 0x20, 4);
        put(img + 28, 52, 4);
        put(img + 40, 52, 2);
        put(img + 42, 32, 2);
        put(img + 44, 1, 2);
        uint8_t *ph = img + 52;
        put(ph, PT_LOAD, 4);
        put(ph + 4, off, 4);
        put(ph + 8, paddr, 4);
        put(ph + 12, paddr, 4);
        put(ph + 16, filesz, 4);
        put(ph + 20, memsz, 4);
    }
    memset(img + off, 0xAB, filesz);
    mb_header(img + off, mbflags, 0);
    return off + filesz;
}

static cpu_phys *ram(void)
{
    cpu_phys *p = malloc(sizeof(*p));
    ck_assert(cpu_phys_init(p, RAM, 0));
    memset(p->ram, 0xCC, 4u << 20); /* so the BSS zeroing shows */
    return p;
}

static void done(cpu_phys *p)
{
    cpu_phys_free(p);
    free(p);
}

static char *guest_str(cpu_phys *p, uint32_t pa)
{
    static char s[256];
    ck_assert(cpu_phys_read(p, pa, s, sizeof(s) - 1));
    s[sizeof(s) - 1] = 0;
    return s;
}

START_TEST(elf_kernel_loads_with_info)
{
    static uint8_t img[0x3000];
    size_t n = build_elf(img, _i == 1, 0x200000, 0x100, 0x3000, 0x3);
    char kpath[128];
    snprintf(kpath, sizeof(kpath), "%s", write_file(img, n));
    static const uint8_t mod1[] = "TEST_DEVICE=0\nNR_CPUS=2\n";
    char m1[128], m2[128];
    snprintf(m1, sizeof(m1), "%s", write_file(mod1, sizeof(mod1) - 1));
    snprintf(m2, sizeof(m2), "%s", write_file((const uint8_t *)"x", 1));
    const char *mods[] = {m1, m2};
    emu_mb_opts o = {.append = "console=ttyS0 x=1", .modules = mods, .nmodules = 2};
    cpu_phys *p = ram();
    emu_mb_boot b;
    char err[256] = "";
    ck_assert(emu_multiboot_detect(kpath));
    ck_assert_msg(emu_multiboot_load(p, kpath, &o, &b, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(b.entry, 0x200020);
    ck_assert_uint_eq(b.image_end, 0x203000);
    ck_assert_uint_eq(get32(p, 0x200000), 0x1BADB002u);
    ck_assert_uint_eq(get32(p, 0x2000FC), 0xABABABABu);
    ck_assert_uint_eq(get32(p, 0x200100), 0); /* BSS */
    ck_assert_uint_eq(get32(p, 0x202FFC), 0);
    uint32_t info = b.info;
    ck_assert_uint_eq(get32(p, info) & 0x24D, 0x24D); /* mem, cmdline, mods, mmap, name */
    ck_assert_uint_eq(get32(p, info + 4), 640);
    ck_assert_uint_eq(get32(p, info + 8), (RAM - (1u << 20)) >> 10);
    char want[256];
    snprintf(want, sizeof(want), "%s console=ttyS0 x=1", kpath);
    ck_assert_str_eq(guest_str(p, get32(p, info + 16)), want);
    ck_assert_str_eq(guest_str(p, get32(p, info + 64)), "apicv-emu");
    ck_assert_uint_eq(get32(p, info + 20), 2);
    uint32_t mt = get32(p, info + 24);
    uint32_t s0 = get32(p, mt), e0 = get32(p, mt + 4), s1 = get32(p, mt + 16);
    ck_assert_uint_eq(s0, 0x203000); /* page-aligned above the kernel */
    ck_assert_uint_eq(e0 - s0, sizeof(mod1) - 1);
    ck_assert_uint_eq(s1 & 0xFFF, 0);
    ck_assert_uint_ge(s1, e0);
    ck_assert_str_eq(guest_str(p, get32(p, mt + 8)), m1);
    char envbuf[32] = {0};
    ck_assert(cpu_phys_read(p, s0, envbuf, sizeof(mod1) - 1));
    ck_assert_str_eq(envbuf, (const char *)mod1);
    /* The memory map: entries of 24 bytes (size 20), RAM from 1 MiB. */
    uint32_t ml = get32(p, info + 44), ma = get32(p, info + 48);
    ck_assert_uint_eq(ml % 24, 0);
    bool high_ram = false;
    for (uint32_t e = ma; e < ma + ml; e += 24) {
        ck_assert_uint_eq(get32(p, e), 20);
        if (get32(p, e + 4) == 0x100000 && get32(p, e + 20) == 1)
            high_ram = get32(p, e + 12) == RAM - 0x100000;
    }
    ck_assert(high_ram);
    done(p);
}
END_TEST

START_TEST(aout_kludge_address_fields)
{
    static uint8_t img[0x800];
    memset(img, 0x90, sizeof(img));
    mb_header(img + 0x40, 1u << 16, 0);
    put(img + 0x40 + 12, 0x300040, 4); /* header_addr */
    put(img + 0x40 + 16, 0x300000, 4); /* load_addr */
    put(img + 0x40 + 20, 0x300600, 4); /* load_end_addr */
    put(img + 0x40 + 24, 0x302000, 4); /* bss_end_addr */
    put(img + 0x40 + 28, 0x300100, 4); /* entry_addr */
    const char *path = write_file(img, sizeof(img));
    cpu_phys *p = ram();
    emu_mb_boot b;
    char err[256] = "";
    ck_assert_msg(emu_multiboot_load(p, path, NULL, &b, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(b.entry, 0x300100);
    ck_assert_uint_eq(get32(p, 0x300000), 0x90909090u);
    ck_assert_uint_eq(get32(p, 0x300040), 0x1BADB002u);
    ck_assert_uint_eq(get32(p, 0x3005FC), 0x90909090u);
    ck_assert_uint_eq(get32(p, 0x300600), 0); /* not loaded: BSS */
    ck_assert_uint_eq(get32(p, 0x301FFC), 0);
    ck_assert_uint_eq(get32(p, b.info + 20), 0); /* no modules */
    done(p);
}
END_TEST

START_TEST(entry_state)
{
    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, RAM, 0));
    cpu_cost_model costs;
    cpu_cost_default(&costs);
    cpu_obs_bus bus;
    memset(&bus, 0, sizeof(bus));
    cpu_t *c = malloc(sizeof(*c));
    ck_assert(cpu_init(c, 0, &phys, &costs, &bus));
    emu_mb_boot b = {.entry = 0x200020, .info = 0x9000};
    emu_multiboot_entry_state(c, &b);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x2BADB002u);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x9000);
    ck_assert_uint_eq(c->rip, 0x200020);
    ck_assert_int_eq(c->mode, CPU_MODE_PROT32);
    ck_assert_uint_eq(c->cr0 & (CPU_CR0_PE | CPU_CR0_PG), CPU_CR0_PE);
    ck_assert_uint_eq(c->efer, 0);
    ck_assert_uint_eq(cpu_get_rflags(c) & (1u << 9), 0); /* IF = 0 */
    ck_assert_uint_eq(c->seg[CPU_CS].attr, 0xC9B);
    ck_assert_uint_eq(c->seg[CPU_CS].limit, 0xFFFFFFFFu);
    ck_assert_uint_eq(c->seg[CPU_SS].attr, 0xC93);
    ck_assert_uint_eq(c->seg[CPU_DS].base, 0);
    cpu_free(c);
    free(c);
    cpu_phys_free(&phys);
}
END_TEST

/* Malformed images: each refused with the file and the field named. */
static void refused(const uint8_t *img, size_t n, const emu_mb_opts *o, const char *what)
{
    const char *path = write_file(img, n);
    char kpath[128];
    snprintf(kpath, sizeof(kpath), "%s", path);
    cpu_phys *p = ram();
    emu_mb_boot b;
    char err[512] = "";
    ck_assert(!emu_multiboot_load(p, kpath, o, &b, err, sizeof(err)));
    ck_assert_msg(strstr(err, kpath) || (o && o->nmodules), "no file named in \"%s\"", err);
    ck_assert_msg(strstr(err, what) != NULL, "\"%s\" not in \"%s\"", what, err);
    done(p);
}

START_TEST(malformed_images_are_refused)
{
    static uint8_t img[0x3000];
    size_t n = build_elf(img, false, 0x200000, 0x100, 0x100, 0);
    mb_header(img + 0x1000, 0, 1);
    refused(img, n, NULL, "checksum");
    n = build_elf(img, false, 0x200000, 0x100, 0x100, 1u << 3);
    refused(img, n, NULL, "flags");
    n = build_elf(img, false, 0x80000, 0x100, 0x100, 0);
    refused(img, n, NULL, "below 1 MiB");
    n = build_elf(img, false, 0x7FFF000, 0x100, 0x2000, 0);
    refused(img, n, NULL, "outside guest RAM");
    n = build_elf(img, false, 0x200000, 0x100, 0x80, 0);
    refused(img, n, NULL, "p_filesz");
    n = build_elf(img, false, 0x200000, 0x100, 0x100, 0);
    put(img + 18, EM_X86_64, 2);
    refused(img, n, NULL, "machine");
    n = build_elf(img, false, 0x200000, 0x100, 0x100, 0);
    img[0] = 0; /* no ELF, no flag 16 */
    refused(img, n, NULL, "not ELF");
    memset(img, 0, 0x2000);
    refused(img, 0x2000, NULL, "no multiboot header");
    /* a.out kludge: load_addr above header_addr, BSS end below the data. */
    memset(img, 0, 0x800);
    mb_header(img, 1u << 16, 0);
    put(img + 12, 0x300000, 4);
    put(img + 16, 0x300010, 4);
    refused(img, 0x800, NULL, "load_addr");
    put(img + 12, 0x300000, 4);
    put(img + 16, 0x300000, 4);
    put(img + 20, 0x300400, 4);
    put(img + 24, 0x300200, 4);
    refused(img, 0x800, NULL, "bss_end_addr");
    put(img + 24, 0, 4);
    put(img + 20, 0x301000, 4);
    refused(img, 0x800, NULL, "load_end_addr");
    /* A module that does not exist. */
    n = build_elf(img, false, 0x200000, 0x100, 0x100, 0);
    const char *mods[] = {"/nonexistent/initrd"};
    emu_mb_opts o = {.modules = mods, .nmodules = 1};
    refused(img, n, &o, "/nonexistent/initrd");
}
END_TEST

START_TEST(detect_only_multiboot)
{
    static uint8_t img[0x3000];
    memset(img, 0, sizeof(img));
    ck_assert(!emu_multiboot_detect(write_file(img, sizeof(img))));
    mb_header(img + 0x2000, 0, 0); /* past the first 8 KiB */
    ck_assert(!emu_multiboot_detect(write_file(img, sizeof(img))));
    mb_header(img + 0x1FF4, 0, 0);
    ck_assert(emu_multiboot_detect(write_file(img, sizeof(img))));
    ck_assert(!emu_multiboot_detect("/nonexistent/kernel"));
}
END_TEST

/* The machine boots a Multiboot image the Multiboot way: CPU 0 at the
 * entry in 32-bit mode with EAX/EBX, every other CPU waiting for SIPI; a
 * malformed one is refused by emu_machine_init with the loader's message. */
START_TEST(machine_boots_multiboot_images)
{
    static uint8_t img[0x3000];
    size_t n = build_elf(img, false, 0x400000, 0x100, 0x1000, 0);
    char kpath[128];
    snprintf(kpath, sizeof(kpath), "%s", write_file(img, n));
    emu_machine *m = malloc(sizeof(*m));
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.ncpus = 3;
    cfg.append = "TEST_DEVICE=0";
    char err[512] = "";
    ck_assert_msg(emu_machine_init(m, &cfg, kpath, err, sizeof(err)), "%s", err);
    ck_assert(m->multiboot);
    ck_assert_int_eq(m->cpu[0].mode, CPU_MODE_PROT32);
    ck_assert_uint_eq(m->cpu[0].rip, 0x400020);
    ck_assert_uint_eq(m->cpu[0].gpr[CPU_RAX], 0x2BADB002u);
    ck_assert(!m->wait_sipi[0]);
    ck_assert(m->wait_sipi[1] && m->wait_sipi[2]);
    ck_assert(m->cpu[1].halted);
    /* The APs are as RESET left them (SDM Table 9-1): CR0 60000010H. */
    ck_assert_uint_eq(m->cpu[1].cr0, 0x60000010ull);
    ck_assert_int_eq(m->cpu[1].mode, CPU_MODE_REAL);
    char want[256];
    snprintf(want, sizeof(want), "%s TEST_DEVICE=0", kpath);
    ck_assert_str_eq(guest_str(&m->phys, get32(&m->phys, (uint32_t)m->cpu[0].gpr[CPU_RBX] + 16)), want);
    emu_machine_free(m);
    mb_header(img + 0x1000, 0, 7);
    ck_assert(!emu_machine_init(m, &cfg, write_file(img, n), err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "checksum"));
    free(m);
}
END_TEST

/* A crash diagnostic disassembles the guest's code in the CPU's mode: the
 * kernel's first instruction, MOV CR4, EAX (0F 22 E0) with the Multiboot
 * magic in EAX, sets reserved CR4 bits: #GP with no IDT, a triple fault.
 * Decoded as 32-bit code it is "mov cr4, eax", as 64-bit code it would be
 * "mov cr4, rax". */
START_TEST(crash_diagnostic_disassembles_32bit_code)
{
    static uint8_t img[0x3000];
    size_t n = build_elf(img, false, 0x400000, 0x100, 0x1000, 0);
    static const uint8_t code[] = {0x0F, 0x22, 0xE0, 0xF4};
    memcpy(img + 0x1020, code, sizeof code);
    emu_machine *m = malloc(sizeof(*m));
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.ncpus = 1;
    char err[512] = "";
    ck_assert_msg(emu_machine_init(m, &cfg, write_file(img, n), err, sizeof(err)), "%s", err);
    ck_assert_int_eq(m->cpu[0].mode, CPU_MODE_PROT32);
    while (!emu_machine_run(m, UINT64_MAX))
        ;
    ck_assert_int_eq(m->exit_status, EMU_EXIT_CRASH);
    ck_assert_msg(strstr(m->diag, "bytes 0f 22 e0 (mov cr4, eax)"), "diag: %s", m->diag);
    emu_machine_free(m);
    free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("multiboot");
    TCase *t = tcase_create("multiboot");
    tcase_add_loop_test(t, elf_kernel_loads_with_info, 0, 2);
    tcase_add_test(t, aout_kludge_address_fields);
    tcase_add_test(t, entry_state);
    tcase_add_test(t, malformed_images_are_refused);
    tcase_add_test(t, detect_only_multiboot);
    tcase_add_test(t, machine_boots_multiboot_images);
    tcase_add_test(t, crash_diagnostic_disassembles_32bit_code);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
