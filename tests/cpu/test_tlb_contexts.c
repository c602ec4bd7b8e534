/*
 * test_tlb_contexts.c — the TLB's flush of the entries it filled, and the
 * second translation context VMX with VPIDs keeps aside (cpu_tlb_switch,
 * SDM Vol. 3C 28.3.1): a switch keeps one set and brings back the other
 * when its label matches, a flush forgets both, a page that becomes code
 * loses its write fast path in both; the successor-link epoch of a set
 * comes back with it unless something ended its links.
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

/* One VM entry and exit of a host on the CPU with VPIDs, as vmx/ does it:
 * the root's epoch noted, the switch to the guest's set, the guest's epoch
 * taken up again, noted at the exit, the switch back, the root's taken up
 * again. */
static cpu_epoch_mark root_mark, guest_mark;
static void round_trip(const cpu_tlb_key *root, const cpu_tlb_key *guest)
{
    root_mark = cpu_epoch_mark_now(&h.cpu);
    cpu_tlb_switch(&h.cpu, root, guest);
    cpu_epoch_resume(&h.cpu, &guest_mark);
    guest_mark = cpu_epoch_mark_now(&h.cpu);
    cpu_tlb_switch(&h.cpu, guest, root);
    cpu_epoch_resume(&h.cpu, &root_mark);
}

START_TEST(test_epochs_come_back_with_their_sets)
{
    cpu_tlb_key root = cpu_tlb_key_of(&h.cpu, 0, 0), guest = cpu_tlb_key_of(&h.cpu, 1, 0);
    cpu_tlb_flush(&h.cpu);
    memset(&guest_mark, 0, sizeof guest_mark);
    uint32_t root_epoch = h.cpu.tlb_epoch;
    round_trip(&root, &guest);
    /* The first entry found no guest set: nothing came back. */
    ck_assert_uint_ne(h.cpu.tlb_epoch, root_epoch);
    root_epoch = h.cpu.tlb_epoch;
    uint32_t guest_epoch = (uint32_t)guest_mark.epoch;
    root_mark = cpu_epoch_mark_now(&h.cpu);
    cpu_tlb_switch(&h.cpu, &root, &guest);
    ck_assert_uint_ne(h.cpu.tlb_epoch, guest_epoch); /* a switch alone starts a new one */
    cpu_epoch_resume(&h.cpu, &guest_mark);
    ck_assert_uint_eq(h.cpu.tlb_epoch, guest_epoch);
    guest_mark = cpu_epoch_mark_now(&h.cpu);
    cpu_tlb_switch(&h.cpu, &guest, &root);
    cpu_epoch_resume(&h.cpu, &root_mark);
    ck_assert_uint_eq(h.cpu.tlb_epoch, root_epoch);
    /* Epochs handed out later never repeat an earlier one. */
    cpu_epoch_new(&h.cpu);
    ck_assert_uint_ne(h.cpu.tlb_epoch, root_epoch);
    ck_assert_uint_ne(h.cpu.tlb_epoch, guest_epoch);
}
END_TEST

/* What ends every link also ends the noted epochs: a TLB flush, a write
 * to a code page, a decoded-block flush; and a CS or mode that differs
 * from the noted one keeps the new epoch. */
START_TEST(test_epochs_do_not_come_back_after_invalidation)
{
    cpu_tlb_key root = cpu_tlb_key_of(&h.cpu, 0, 0), guest = cpu_tlb_key_of(&h.cpu, 1, 0);
    cpu_tlb_flush(&h.cpu);
    memset(&guest_mark, 0, sizeof guest_mark);
    round_trip(&root, &guest);
    round_trip(&root, &guest);
    uint32_t root_epoch = h.cpu.tlb_epoch;
    for (unsigned what = 0; what < 5; what++) {
        root_mark = cpu_epoch_mark_now(&h.cpu);
        cpu_tlb_switch(&h.cpu, &root, &guest);
        if (what == 0)
            cpu_code_page_written(h.cpu.phys, PAGE_A >> CPU_PAGE_SHIFT);
        else if (what == 1)
            cpu_dcache_flush(&h.cpu);
        cpu_epoch_resume(&h.cpu, &guest_mark);
        if (what < 2)
            ck_assert_uint_ne(h.cpu.tlb_epoch, (uint32_t)guest_mark.epoch);
        else
            ck_assert_uint_eq(h.cpu.tlb_epoch, (uint32_t)guest_mark.epoch);
        guest_mark = cpu_epoch_mark_now(&h.cpu);
        cpu_tlb_switch(&h.cpu, &guest, &root);
        if (what == 2)
            cpu_tlb_flush(&h.cpu); /* what a host with another CR3 gets */
        uint64_t base = h.cpu.seg[CPU_CS].base;
        if (what == 3)
            h.cpu.seg[CPU_CS].base = 0x1000;
        uint8_t mode = h.cpu.mode;
        if (what == 4)
            h.cpu.mode = CPU_MODE_COMPAT32;
        cpu_epoch_resume(&h.cpu, &root_mark);
        ck_assert_msg(h.cpu.tlb_epoch != root_epoch, "case %u: the root's epoch came back", what);
        h.cpu.seg[CPU_CS].base = base;
        h.cpu.mode = mode;
        /* A clean round trip brings the root's back again (after a flush
         * only the next one does: the flush dropped the guest's set). */
        round_trip(&root, &guest);
        round_trip(&root, &guest);
        root_epoch = h.cpu.tlb_epoch;
        round_trip(&root, &guest);
        ck_assert_uint_eq(h.cpu.tlb_epoch, root_epoch);
    }
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
    tcase_add_test(t, test_epochs_come_back_with_their_sets);
    tcase_add_test(t, test_epochs_do_not_come_back_after_invalidation);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
