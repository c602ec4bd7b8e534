/*
 * test_paging.c — 4-level paging (SDM Vol. 3A 4.5-4.8, 4.10): 4K, 2M and 1G
 * pages, accessed/dirty flags, WP, NX, reserved bits, #PF error codes and
 * CR2, INVLPG and CR3 flushes, unbacked physical memory, self-modifying
 * code and the TLB's host-pointer fast path never covering trap pages.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/cpu_harness.h"

/* The harness maps 0..1 GiB with 2 MiB pages (PML4 0x1000, PDPT 0x2000).
 * Tests add PDPT entry 1 (1..2 GiB) -> PD at 0x5000 -> PT at 0x6000 with
 * 4 KiB pages: VA 0x40000000 + n*4096 is PTE n. */
#define VA4K 0x40000000ull
#define PD1 0x5000u
#define PT1 0x6000u

static cpu_harness h;

static void poke64(uint64_t pa, uint64_t v)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &v, 8));
}

static void setup(void)
{
    cpu_harness_init(&h);
    poke64(0x2008, PD1 | 3);
    poke64(PD1, PT1 | 3);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

static void map4k(unsigned n, uint64_t pa, uint64_t flags)
{
    poke64(PT1 + n * 8, pa | flags);
}

/* Runs code until it halts (in the code or in an exception handler). */
static void run(const uint8_t *code, size_t len)
{
    cpu_harness_exec(&h, code, len, 1000);
}

/* mov rax, [abs32]; hlt */
static const uint8_t load_4k[] = {0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0xF4};
/* mov [abs32], rax; hlt */
static const uint8_t store_4k[] = {0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0xF4};

START_TEST(walk_4k_sets_accessed_then_dirty)
{
    map4k(0, 0x300000, 3);
    uint64_t magic = 0x1122334455667788ull;
    ck_assert(cpu_phys_write(&h.phys, 0x300000, &magic, 8));
    run(load_4k, sizeof(load_4k));
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], magic);
    uint64_t pte = cpu_harness_peek64(&h, PT1);
    ck_assert(pte & (1u << 5));    /* accessed */
    ck_assert(!(pte & (1u << 6))); /* not dirty after a read */
    ck_assert(cpu_harness_peek64(&h, PD1) & (1u << 5));

    h.cpu.gpr[CPU_RAX] = 42;
    run(store_4k, sizeof(store_4k));
    ck_assert(cpu_harness_peek64(&h, PT1) & (1u << 6)); /* dirty after a write */
    ck_assert_uint_eq(cpu_harness_peek64(&h, 0x300000), 42);
}
END_TEST

START_TEST(not_present_faults_with_cr2)
{
    map4k(0, 0, 0);
    run(load_4k, sizeof(load_4k));
    ck_assert_int_eq(cpu_harness_vector(&h), 14);
    ck_assert_uint_eq(h.cpu.cr2, VA4K);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), 0); /* error code: read, not present */
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + 8), CPU_HARNESS_CODE);
}
END_TEST

START_TEST(write_protect)
{
    map4k(0, 0x300000, 1); /* present, read-only */
    run(store_4k, sizeof(store_4k));
    ck_assert_int_eq(cpu_harness_vector(&h), 14);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_PF_P | CPU_PF_W);

    /* With CR0.WP = 0 a supervisor write to a read-only page succeeds. */
    cpu_harness_free(&h);
    cpu_harness_init(&h);
    poke64(0x2008, PD1 | 3);
    poke64(PD1, PT1 | 3);
    map4k(0, 0x300000, 1);
    h.cpu.cr0 &= ~(uint64_t)CPU_CR0_WP;
    h.cpu.gpr[CPU_RAX] = 7;
    run(store_4k, sizeof(store_4k));
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(cpu_harness_peek64(&h, 0x300000), 7);
}
END_TEST

/* SDM 4.10.2.2, 4.6: a TLB entry keeps the AND of the R/W flags and a
 * supervisor write is checked against the current CR0.WP, so setting WP
 * after a WP = 0 write to a read-only page makes the next write fault. */
START_TEST(setting_wp_revokes_supervisor_write)
{
    map4k(1, 0x300000, 1); /* present, read-only; not the code page's TLB slot */
    h.cpu.cr0 &= ~(uint64_t)CPU_CR0_WP;
    h.cpu.gpr[CPU_RAX] = 7;
    h.cpu.gpr[CPU_RBX] = h.cpu.cr0 | CPU_CR0_WP;
    /* mov [0x40001000], rax; mov cr0, rbx; mov [0x40001000], rax; hlt */
    const uint8_t code[] = {0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x40, 0x0F, 0x22, 0xC3,
                            0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x40, 0xF4};
    run(code, sizeof(code));
    ck_assert_uint_eq(cpu_harness_peek64(&h, 0x300000), 7); /* the first write went in */
    ck_assert_int_eq(cpu_harness_vector(&h), 14);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_PF_P | CPU_PF_W);
    ck_assert_uint_eq(h.cpu.cr2, VA4K + 0x1000);
}
END_TEST

/* SDM 4.10.4.1: MOV to CR0 invalidates TLB entries when it clears PG; a
 * CR0.WP toggle need not, and the interpreter keeps its translations (a
 * WP toggle under KVM's vmexit.flat toggle_cr0_wp stays cheap): a PTE
 * changed without INVLPG is not seen across WP = 0 and back to 1. */
START_TEST(wp_toggle_keeps_translations)
{
    /* PTE 1 (VA 0x40001000): its TLB slot is not the code page's. */
    map4k(1, 0x300000, 3);
    uint64_t a = 0x1111, b = 0x2222;
    ck_assert(cpu_phys_write(&h.phys, 0x300000, &a, 8));
    ck_assert(cpu_phys_write(&h.phys, 0x500000, &b, 8));
    /* mov rax, [0x40001000]; hlt */
    const uint8_t load[] = {0x48, 0x8B, 0x04, 0x25, 0x00, 0x10, 0x00, 0x40, 0xF4};
    run(load, sizeof(load));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], a);
    map4k(1, 0x500000, 3); /* no INVLPG */
    h.cpu.gpr[CPU_RBX] = h.cpu.cr0 & ~(uint64_t)CPU_CR0_WP;
    h.cpu.gpr[CPU_RCX] = h.cpu.cr0 | CPU_CR0_WP;
    /* mov cr0, rbx; mov cr0, rcx; mov rax, [0x40001000]; hlt */
    const uint8_t code[] = {0x0F, 0x22, 0xC3, 0x0F, 0x22, 0xC1, 0x48, 0x8B,
                            0x04, 0x25, 0x00, 0x10, 0x00, 0x40, 0xF4};
    run(code, sizeof(code));
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], a);
    /* A MOV to CR3 does invalidate: the new PTE is used. */
    h.cpu.gpr[CPU_RBX] = h.cpu.cr3;
    /* mov cr3, rbx; mov rax, [0x40001000]; hlt */
    const uint8_t reload[] = {0x0F, 0x22, 0xDB, 0x48, 0x8B, 0x04, 0x25, 0x00, 0x10, 0x00, 0x40, 0xF4};
    run(reload, sizeof(reload));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], b);
}
END_TEST

START_TEST(reserved_bit_fault)
{
    map4k(0, 0x300000 | (1ull << 50), 3); /* bit 50 is above MAXPHYADDR */
    run(load_4k, sizeof(load_4k));
    ck_assert_int_eq(cpu_harness_vector(&h), 14);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_PF_P | CPU_PF_RSVD);
}
END_TEST

START_TEST(nx_fetch_fault)
{
    map4k(1, 0x301000, 3 | (1ull << 63));
    /* mov eax, 0x40001000; jmp rax */
    const uint8_t code[] = {0xB8, 0x00, 0x10, 0x00, 0x40, 0xFF, 0xE0};
    run(code, sizeof(code));
    ck_assert_int_eq(cpu_harness_vector(&h), 14);
    ck_assert_uint_eq(h.cpu.cr2, VA4K + 0x1000);
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP]), CPU_PF_P | CPU_PF_I);
    /* the saved RIP is the target: the fetch faulted, not the jump */
    ck_assert_uint_eq(cpu_harness_peek64(&h, h.cpu.gpr[CPU_RSP] + 8), VA4K + 0x1000);
}
END_TEST

START_TEST(one_gig_page)
{
    poke64(0x2010, 0x0 | 0x83); /* PDPT[2]: 1 GiB page at physical 0 */
    uint64_t magic = 0xCAFEF00Dull;
    ck_assert(cpu_phys_write(&h.phys, 0x123450, &magic, 8));
    /* mov rax, [0x80123450] needs a 64-bit address: mov rbx, imm64; mov rax, [rbx]; hlt */
    const uint8_t code[] = {0x48, 0xBB, 0x50, 0x34, 0x12, 0x80, 0, 0, 0, 0, 0x48, 0x8B, 0x03, 0xF4};
    run(code, sizeof(code));
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], magic);
}
END_TEST

START_TEST(invlpg_and_cr3_flush)
{
    map4k(0, 0x300000, 3);
    uint64_t a = 111, b = 222;
    ck_assert(cpu_phys_write(&h.phys, 0x300000, &a, 8));
    ck_assert(cpu_phys_write(&h.phys, 0x310000, &b, 8));
    run(load_4k, sizeof(load_4k));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 111);
    map4k(0, 0x310000, 3);
    /* mov eax, 0x40000000; invlpg [rax]; mov rax, [abs]; hlt */
    const uint8_t code[] = {0xB8, 0x00, 0x00, 0x00, 0x40, 0x0F, 0x01, 0x38,
                            0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0xF4};
    run(code, sizeof(code));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 222);
    map4k(0, 0x300000, 3);
    /* mov eax, 0x1000; mov cr3, rax; mov rax, [abs]; hlt */
    const uint8_t code2[] = {0xB8, 0x00, 0x10, 0x00, 0x00, 0x0F, 0x22, 0xD8,
                             0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0xF4};
    run(code2, sizeof(code2));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 111);
}
END_TEST

START_TEST(unbacked_memory_reads_all_ones)
{
    /* VA 0x40000000 -> PA 0x30000000, beyond the 16 MiB of RAM. */
    map4k(0, 0x30000000, 3);
    h.cpu.gpr[CPU_RAX] = 5;
    run(store_4k, sizeof(store_4k)); /* ignored */
    run(load_4k, sizeof(load_4k));
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], ~0ull);
}
END_TEST

static unsigned mmio_calls;
static bool test_mmio(void *ctx, cpu_t *c, uint64_t pa, unsigned size, cpu_access acc,
                      uint64_t *val)
{
    (void)ctx;
    (void)c;
    (void)size;
    mmio_calls++;
    if (acc == CPU_ACC_READ)
        *val = pa & 0xFFF;
    return true;
}
static cpu_page_kind test_page_kind(void *ctx, cpu_t *c, uint64_t pa)
{
    (void)ctx;
    (void)c;
    return pa == 0x300000 ? CPU_PAGE_TRAP : CPU_PAGE_RAM;
}

START_TEST(trap_pages_never_get_a_fast_path)
{
    cpu_hooks hk = {.mmio = test_mmio, .page_kind = test_page_kind};
    cpu_set_hooks(&h.cpu, &hk);
    map4k(0, 0x300000, 3);
    /* Read the trap page twice: both reads reach the hook. */
    const uint8_t code[] = {0x48, 0x8B, 0x04, 0x25, 0x08, 0x00, 0x00, 0x40,
                            0x48, 0x8B, 0x1C, 0x25, 0x08, 0x00, 0x00, 0x40, 0xF4};
    mmio_calls = 0;
    run(code, sizeof(code));
    ck_assert_uint_eq(mmio_calls, 2);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 8);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 8);
}
END_TEST

START_TEST(self_modifying_code)
{
    /* The first store rewrites the immediate of the MOV that follows it in
     * the same block; the new value must be the one executed.
     *   mov byte [rip+1], 0x55   (C6 05 01 00 00 00 55) -> patches imm below
     *   mov eax, 0x11            (B8 11 00 00 00)
     *   hlt
     * The disp of the first store is relative to its end: the next insn's
     * opcode is at +0, its imm8 low byte at +1. */
    const uint8_t code[] = {0xC6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x55,
                            0xB8, 0x11, 0x00, 0x00, 0x00, 0xF4};
    run(code, sizeof(code));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x55);
    /* Run the same (patched) code again from the cache: still 0x55. */
    h.cpu.rip = CPU_HARNESS_CODE + 7;
    cpu_run(&h.cpu, UINT64_MAX, 100);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x55);
}
END_TEST

START_TEST(code_written_from_outside_is_redecoded)
{
    const uint8_t a[] = {0xB8, 0x01, 0x00, 0x00, 0x00, 0xF4}; /* mov eax, 1; hlt */
    run(a, sizeof(a));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 1);
    const uint8_t b[] = {0xB8, 0x02, 0x00, 0x00, 0x00, 0xF4};
    run(b, sizeof(b)); /* cpu_phys_write must invalidate the decoded block */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 2);
}
END_TEST

START_TEST(page_crossing_access)
{
    map4k(0, 0x300000, 3);
    map4k(1, 0x500000, 3); /* virtually contiguous, physically apart */
    uint8_t lo[4] = {1, 2, 3, 4}, hi[4] = {5, 6, 7, 8};
    ck_assert(cpu_phys_write(&h.phys, 0x300FFC, lo, 4));
    ck_assert(cpu_phys_write(&h.phys, 0x500000, hi, 4));
    /* mov rax, [0x40000FFC]; hlt */
    const uint8_t code[] = {0x48, 0x8B, 0x04, 0x25, 0xFC, 0x0F, 0x00, 0x40, 0xF4};
    run(code, sizeof(code));
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x0807060504030201ull);
    /* The second page not present: #PF with CR2 at the second page. */
    map4k(1, 0, 0);
    run(code, sizeof(code));
    ck_assert_int_eq(cpu_harness_vector(&h), 14);
    ck_assert_uint_eq(h.cpu.cr2, VA4K + 0x1000);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("paging");
    TCase *t = tcase_create("paging");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, walk_4k_sets_accessed_then_dirty);
    tcase_add_test(t, not_present_faults_with_cr2);
    tcase_add_test(t, write_protect);
    tcase_add_test(t, setting_wp_revokes_supervisor_write);
    tcase_add_test(t, wp_toggle_keeps_translations);
    tcase_add_test(t, reserved_bit_fault);
    tcase_add_test(t, nx_fetch_fault);
    tcase_add_test(t, one_gig_page);
    tcase_add_test(t, invlpg_and_cr3_flush);
    tcase_add_test(t, unbacked_memory_reads_all_ones);
    tcase_add_test(t, trap_pages_never_get_a_fast_path);
    tcase_add_test(t, self_modifying_code);
    tcase_add_test(t, code_written_from_outside_is_redecoded);
    tcase_add_test(t, page_crossing_access);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
