/*
 * test_tlb_contexts.c — the TLB's flush of the entries it filled, and the
 * second translation context VMX with VPIDs keeps aside (cpu_tlb_switch,
 * SDM Vol. 3C 28.3.1): a switch keeps one set and brings back the other
 * when its label matches, a flush forgets both, a page that becomes code
 * loses its write fast path in both.
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

static cpu_harness h;

static void setup(void) { cpu_harness_init(&h); }
static void teardown(void) { cpu_harness_free(&h); }

#define PAGE_A 0x300000ull
#define PAGE_B 0x401000ull
#define PAGE_C 0x502000ull

static bool cached(uint64_t va)
{
    return cpu_tlb_slot(&h.cpu, va)->tag_read == (va & ~0xFFFull);
}

static bool cached_for_write(uint64_t va)
{
    return cpu_tlb_slot(&h.cpu, va)->tag_write == (va & ~0xFFFull);
}

static bool nothing_cached(void)
{
    for (unsigned k = 0; k < CPU_TLB_ENTRIES; k++)
        if (h.cpu.tlb[k].tag_read != CPU_TLB_INVALID || h.cpu.tlb[k].tag_write != CPU_TLB_INVALID ||
            h.cpu.tlb[k].tag_fetch != CPU_TLB_INVALID)
            return false;
    return true;
}

START_TEST(test_flush_clears_what_was_filled)
{
    cpu_tlb_flush(&h.cpu);
    ck_assert(nothing_cached());
    cpu_translate(&h.cpu, PAGE_A, CPU_ACC_WRITE);
    cpu_translate(&h.cpu, PAGE_B, CPU_ACC_READ);
    ck_assert(cached(PAGE_A) && cached_for_write(PAGE_A) && cached(PAGE_B));
    ck_assert_uint_eq(h.cpu.tlb_nused, 2);
    uint32_t epoch = h.cpu.tlb_epoch;
    cpu_tlb_flush(&h.cpu);
    ck_assert(nothing_cached());
    ck_assert_uint_eq(h.cpu.tlb_nused, 0);
    ck_assert_uint_ne(h.cpu.tlb_epoch, epoch);
    /* More pages than are tracked: the flush clears every entry. */
    for (uint64_t k = 0; k < 2 * CPU_TLB_TRACK; k++)
        cpu_translate(&h.cpu, 0x200000 + k * 0x1000, CPU_ACC_READ);
    ck_assert_uint_gt(h.cpu.tlb_nused, CPU_TLB_TRACK);
    cpu_tlb_flush(&h.cpu);
    ck_assert(nothing_cached());
}
END_TEST

START_TEST(test_switch_keeps_and_brings_back)
{
    cpu_tlb_key root = cpu_tlb_key_of(&h.cpu, 0, 0), guest = cpu_tlb_key_of(&h.cpu, 1, 0),
                other = cpu_tlb_key_of(&h.cpu, 2, 0);
    cpu_tlb_flush(&h.cpu);
    cpu_translate(&h.cpu, PAGE_A, CPU_ACC_WRITE);
    cpu_translate(&h.cpu, PAGE_B, CPU_ACC_READ);
    /* Entry: the root's set aside, the guest starts empty. */
    cpu_tlb_switch(&h.cpu, &root, &guest);
    ck_assert(nothing_cached());
    cpu_translate(&h.cpu, PAGE_C, CPU_ACC_READ);
    /* Same slot as A in the other set: the sets must not mix. */
    cpu_translate(&h.cpu, PAGE_A + 0x100000, CPU_ACC_READ);
    /* Exit: the root's come back, the guest's go aside. */
    cpu_tlb_switch(&h.cpu, &guest, &root);
    ck_assert(cached(PAGE_A) && cached_for_write(PAGE_A) && cached(PAGE_B));
    ck_assert(!cached(PAGE_C) && !cached(PAGE_A + 0x100000));
    /* Next entry under the same label: the guest's come back. */
    cpu_tlb_switch(&h.cpu, &root, &guest);
    ck_assert(cached(PAGE_C) && cached(PAGE_A + 0x100000));
    ck_assert(!cached(PAGE_A) && !cached(PAGE_B));
    /* Another label (another VPID, CR3, ...): nothing comes back. */
    cpu_tlb_switch(&h.cpu, &guest, &other);
    ck_assert(nothing_cached());
    /* The guest's set is aside now; a flush forgets it. */
    cpu_tlb_flush(&h.cpu);
    cpu_tlb_switch(&h.cpu, &other, &guest);
    ck_assert(nothing_cached());
}
END_TEST

/* A page that starts holding decoded code loses its write fast path in the
 * set kept aside too: a later write must invalidate the code. */
START_TEST(test_code_page_in_the_other_set)
{
    cpu_tlb_key root = cpu_tlb_key_of(&h.cpu, 0, 0), guest = cpu_tlb_key_of(&h.cpu, 1, 0);
    cpu_tlb_flush(&h.cpu);
    uint64_t pa = cpu_translate(&h.cpu, PAGE_A, CPU_ACC_WRITE) & ~0xFFFull;
    ck_assert(cached_for_write(PAGE_A));
    cpu_tlb_switch(&h.cpu, &root, &guest);
    cpu_mark_code_page(&h.cpu, pa);
    cpu_tlb_switch(&h.cpu, &guest, &root);
    ck_assert(cached(PAGE_A));
    ck_assert(!cached_for_write(PAGE_A));
}
END_TEST

/* The label covers the paging state the entries were made under. */
START_TEST(test_key_follows_paging_state)
{
    cpu_tlb_key a = cpu_tlb_key_of(&h.cpu, 0, 0);
    h.cpu.cr3 += 0x1000;
    cpu_tlb_key b = cpu_tlb_key_of(&h.cpu, 0, 0);
    h.cpu.cr3 -= 0x1000;
    h.cpu.cpl = 3;
    cpu_tlb_key c = cpu_tlb_key_of(&h.cpu, 0, 0);
    h.cpu.cpl = 0;
    h.cpu.efer ^= CPU_EFER_NXE;
    cpu_tlb_key d = cpu_tlb_key_of(&h.cpu, 0, 0);
    h.cpu.efer ^= CPU_EFER_NXE;
    cpu_tlb_key e = cpu_tlb_key_of(&h.cpu, 0, 0);
    ck_assert(memcmp(&a, &b, sizeof a) != 0);
    ck_assert(memcmp(&a, &c, sizeof a) != 0);
    ck_assert(memcmp(&a, &d, sizeof a) != 0);
    ck_assert(memcmp(&c, &d, sizeof a) != 0);
    ck_assert(memcmp(&a, &e, sizeof a) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_tlb_contexts");
    TCase *t = tcase_create("tlb");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_flush_clears_what_was_filled);
    tcase_add_test(t, test_switch_keeps_and_brings_back);
    tcase_add_test(t, test_code_page_in_the_other_set);
    tcase_add_test(t, test_key_follows_paging_state);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
