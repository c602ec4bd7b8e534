/*
 * test_code_writes.c — memory written by anything but the CPU's own stores
 * (cpu_phys_ptr_write, cpu_phys_written, cpu_phys_write: the virtual-APIC
 * page, posted-interrupt descriptors, the hypervisor, loaders) is seen by
 * the decoded-block cache: the new code runs, also when a hook rewrites
 * the rest of the block that is executing (cross-modifying code, SDM Vol.
 * 3A 8.1.3).
 */
#include <check.h>
#include <stdlib.h>

#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define MMIO 0x2000000ull /* mapped by the harness, beyond its RAM */

static cpu_harness h;

static void setup(void)
{
    cpu_harness_init(&h);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* Runs from rip to the next HLT without reloading any code. */
static void run_at(uint64_t rip)
{
    h.cpu.rip = rip;
    h.cpu.halted = 0;
    ck_assert_int_eq(cpu_run(&h.cpu, h.cpu.cycles + 100000, UINT64_MAX), CPU_STOP_HALT);
}

/* mov eax, imm32 ; hlt */
static void put_mov_eax(uint64_t pa, uint8_t imm)
{
    const uint8_t code[] = {0xB8, imm, 0x00, 0x00, 0x00, 0xF4};
    cpu_harness_load(&h, pa, code, sizeof code);
}

START_TEST(ptr_write_invalidates)
{
    put_mov_eax(CODE, 1);
    run_at(CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 1); /* decoded and cached now */
    uint8_t *imm = cpu_phys_ptr_write(&h.phys, CODE + 1, 1);
    ck_assert_ptr_nonnull(imm);
    *imm = 2;
    run_at(CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 2);
}
END_TEST

/* A writer holding a pointer reports its writes with cpu_phys_written;
 * a range over two pages invalidates both. */
START_TEST(written_range_over_pages)
{
    uint8_t *raw = cpu_phys_ptr_write(&h.phys, CODE, 0x2000);
    ck_assert_ptr_nonnull(raw);
    put_mov_eax(CODE, 1);
    put_mov_eax(CODE + 0x1000, 3);
    run_at(CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 1);
    run_at(CODE + 0x1000);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 3);
    raw[1] = 5;
    raw[0x1001] = 6;
    cpu_phys_written(&h.phys, CODE + 1, 0x1000);
    run_at(CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 5);
    run_at(CODE + 0x1000);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 6);
}
END_TEST

/* Host-owned memory holds no code; unbacked ranges have no pointer. */
START_TEST(outside_ram)
{
    uint64_t host = cpu_phys_host_alloc(&h.phys, CPU_PAGE_SIZE);
    ck_assert_uint_ne(host, 0);
    ck_assert_ptr_nonnull(cpu_phys_ptr_write(&h.phys, host, CPU_PAGE_SIZE));
    ck_assert_ptr_null(cpu_phys_ptr_write(&h.phys, MMIO, 4));
    ck_assert_ptr_null(cpu_phys_ptr_write(&h.phys, CPU_HARNESS_RAM - 4, 8));
    cpu_phys_written(&h.phys, MMIO, 4);
    cpu_phys_written(&h.phys, CPU_HARNESS_RAM - 4, 1ull << 40); /* clipped to RAM */
}
END_TEST

/* A hook (a device, the VMX model) rewrites the instruction after the one
 * executing, in the same decoded block: the new instruction runs. */
static bool rewrite;
static bool mmio_rewrites(void *ctx, cpu_t *c, uint64_t pa, unsigned size, cpu_access acc,
                          uint64_t *val)
{
    (void)ctx, (void)c, (void)pa, (void)size, (void)acc;
    *val = 0;
    if (rewrite) {
        uint8_t *imm = cpu_phys_ptr_write(&h.phys, CODE + 8, 1);
        *imm = 2;
    }
    return true;
}

START_TEST(hook_rewrites_the_running_block)
{
    /* mov eax, [MMIO] ; mov ebx, 1 ; hlt */
    const uint8_t code[] = {0x8B, 0x04, 0x25, 0x00, 0x00, 0x00, 0x02,
                            0xBB, 0x01, 0x00, 0x00, 0x00, 0xF4};
    cpu_hooks hk = {.mmio = mmio_rewrites};
    cpu_set_hooks(&h.cpu, &hk);
    cpu_harness_load(&h, CODE, code, sizeof code);
    rewrite = false;
    run_at(CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 1);
    uint64_t insns = h.cpu.insns;
    rewrite = true;
    run_at(CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 2);
    ck_assert_uint_eq(h.cpu.insns - insns, 3); /* retired counts stay exact */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("code_writes");
    TCase *t = tcase_create("code_writes");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, ptr_write_invalidates);
    tcase_add_test(t, written_range_over_pages);
    tcase_add_test(t, outside_ram);
    tcase_add_test(t, hook_rewrites_the_running_block);
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
