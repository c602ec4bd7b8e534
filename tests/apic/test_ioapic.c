/*
 * test_ioapic.c — the I/O APIC alone (apic/ioapic.c): the indirect
 * registers behind IOREGSEL/IOWIN, the read-only bits of redirection
 * entries, edge and level delivery with remote IRR, polarity, masking, the
 * EOI register and the EOI broadcast.
 */
#include <check.h>
#include <stdlib.h>

#include "apic/apic.h"
#include "apic/ioapic.h"

static ioapic_msg sent[32];
static unsigned nsent;

static void capture(void *ctx, const ioapic_msg *msg)
{
    ck_assert_ptr_eq(ctx, &nsent);
    if (nsent < 32)
        sent[nsent++] = *msg;
}

static ioapic_t io;

static void setup(void)
{
    nsent = 0;
    ioapic_init(&io, capture, &nsent);
}

static void wr(uint8_t reg, uint32_t v)
{
    ck_assert(ioapic_mmio_write(&io, IOAPIC_REG_SELECT, 4, reg));
    ck_assert(ioapic_mmio_write(&io, IOAPIC_REG_WINDOW, 4, v));
}

static uint32_t rd(uint8_t reg)
{
    uint64_t v = 0;
    ck_assert(ioapic_mmio_write(&io, IOAPIC_REG_SELECT, 4, reg));
    ck_assert(ioapic_mmio_read(&io, IOAPIC_REG_WINDOW, 4, &v));
    return (uint32_t)v;
}

START_TEST(identification_registers)
{
    setup();
    ck_assert_uint_eq(rd(IOAPIC_IND_VERSION), 0x00170020u); /* 24 entries, version 20H */
    ck_assert_uint_eq(rd(IOAPIC_IND_ID), 0);
    wr(IOAPIC_IND_ID, 0xFFFFFFFFu);
    ck_assert_uint_eq(rd(IOAPIC_IND_ID), 0x0F000000u); /* bits 27:24 only */
    ck_assert_uint_eq(rd(IOAPIC_IND_ARB), 0x0F000000u);
    uint64_t sel = 0;
    ioapic_mmio_read(&io, IOAPIC_REG_SELECT, 4, &sel);
    ck_assert_uint_eq(sel, IOAPIC_IND_ARB);
    /* Registers past the table read 0; non-dword accesses do nothing. */
    ck_assert_uint_eq(rd(0x10 + 48), 0);
    uint64_t v = 123;
    ioapic_mmio_read(&io, IOAPIC_REG_WINDOW, 2, &v);
    ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(redirection_entries_reset_masked_and_keep_readonly_bits)
{
    setup();
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
        ck_assert_uint_eq(rd((uint8_t)(0x10 + 2 * pin)), IOAPIC_RTE_MASKED);
        ck_assert_uint_eq(rd((uint8_t)(0x11 + 2 * pin)), 0);
    }
    /* Delivery status and remote IRR cannot be written; reserved bits of
     * the high dword stay 0. */
    wr(0x10 + 2 * 5, 0xFFFFFFFFu);
    ck_assert_uint_eq(rd(0x10 + 2 * 5), 0x1FFFFu & ~(IOAPIC_RTE_DELIVERY_STATUS | IOAPIC_RTE_REMOTE_IRR));
    wr(0x11 + 2 * 5, 0xFFFFFFFFu);
    ck_assert_uint_eq(rd(0x11 + 2 * 5), 0xFF000000u);
}
END_TEST

START_TEST(edge_sends_once_per_rising_edge)
{
    setup();
    wr(0x10 + 2 * 3, 0x41 | (1u << 8) | IOAPIC_RTE_DEST_LOGICAL); /* lowest priority, logical */
    wr(0x11 + 2 * 3, 0x03000000u);
    ioapic_set_line(&io, 3, true);
    ioapic_set_line(&io, 3, true); /* no new edge */
    ck_assert_uint_eq(nsent, 1);
    ck_assert_uint_eq(sent[0].pin, 3);
    ck_assert_uint_eq(sent[0].vector, 0x41);
    ck_assert_uint_eq(sent[0].delivery, APIC_DM_LOWEST);
    ck_assert(sent[0].logical);
    ck_assert(!sent[0].level);
    ck_assert_uint_eq(sent[0].dest, 3);
    ioapic_set_line(&io, 3, false);
    ioapic_set_line(&io, 3, true);
    ck_assert_uint_eq(nsent, 2);
    /* Edge entries never set remote IRR. */
    ck_assert_uint_eq(rd(0x10 + 2 * 3) & IOAPIC_RTE_REMOTE_IRR, 0);
}
END_TEST

START_TEST(masked_edge_is_lost)
{
    setup();
    wr(0x10 + 2 * 7, 0x50 | IOAPIC_RTE_MASKED);
    ioapic_set_line(&io, 7, true);
    wr(0x10 + 2 * 7, 0x50); /* unmasked while high: no edge seen */
    ck_assert_uint_eq(nsent, 0);
    ioapic_set_line(&io, 7, false);
    ioapic_set_line(&io, 7, true);
    ck_assert_uint_eq(nsent, 1);
}
END_TEST

START_TEST(level_remote_irr_and_eoi_broadcast)
{
    setup();
    wr(0x10 + 2 * 9, 0x62 | IOAPIC_RTE_LEVEL);
    ioapic_set_line(&io, 9, true);
    ck_assert_uint_eq(nsent, 1);
    ck_assert(sent[0].level);
    ck_assert_uint_ne(rd(0x10 + 2 * 9) & IOAPIC_RTE_REMOTE_IRR, 0);
    /* Still high, remote IRR set: nothing more until the EOI. */
    ioapic_set_line(&io, 9, false);
    ioapic_set_line(&io, 9, true);
    ck_assert_uint_eq(nsent, 1);
    ioapic_eoi(&io, 0x63); /* another vector: no effect */
    ck_assert_uint_ne(rd(0x10 + 2 * 9) & IOAPIC_RTE_REMOTE_IRR, 0);
    ioapic_eoi(&io, 0x62); /* input still active: sent again */
    ck_assert_uint_eq(nsent, 2);
    ck_assert_uint_ne(rd(0x10 + 2 * 9) & IOAPIC_RTE_REMOTE_IRR, 0);
    ioapic_set_line(&io, 9, false);
    ioapic_eoi(&io, 0x62);
    ck_assert_uint_eq(nsent, 2);
    ck_assert_uint_eq(rd(0x10 + 2 * 9) & IOAPIC_RTE_REMOTE_IRR, 0);
}
END_TEST

START_TEST(eoi_register_clears_remote_irr)
{
    setup();
    wr(0x10 + 2 * 10, 0x70 | IOAPIC_RTE_LEVEL);
    ioapic_set_line(&io, 10, true);
    ck_assert_uint_eq(nsent, 1);
    ioapic_set_line(&io, 10, false);
    ck_assert(ioapic_mmio_write(&io, IOAPIC_REG_EOI, 4, 0x70));
    ck_assert_uint_eq(rd(0x10 + 2 * 10) & IOAPIC_RTE_REMOTE_IRR, 0);
    ck_assert_uint_eq(nsent, 1);
}
END_TEST

START_TEST(level_unmask_while_active_sends)
{
    setup();
    wr(0x10 + 2 * 11, 0x71 | IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED);
    ioapic_set_line(&io, 11, true);
    ck_assert_uint_eq(nsent, 0);
    wr(0x10 + 2 * 11, 0x71 | IOAPIC_RTE_LEVEL);
    ck_assert_uint_eq(nsent, 1);
}
END_TEST

START_TEST(low_polarity_inverts_the_input)
{
    setup();
    wr(0x10 + 2 * 12, 0x72 | IOAPIC_RTE_POLARITY_LOW);
    ioapic_set_line(&io, 12, true); /* inactive */
    ck_assert_uint_eq(nsent, 0);
    ioapic_set_line(&io, 12, false); /* active: an edge */
    ck_assert_uint_eq(nsent, 1);
}
END_TEST

START_TEST(nmi_level_sets_no_remote_irr)
{
    setup();
    wr(0x10 + 2 * 13, (4u << 8) | IOAPIC_RTE_LEVEL);
    ioapic_set_line(&io, 13, true);
    ck_assert_uint_eq(nsent, 1);
    ck_assert_uint_eq(sent[0].delivery, APIC_DM_NMI);
    ck_assert_uint_eq(rd(0x10 + 2 * 13) & IOAPIC_RTE_REMOTE_IRR, 0);
}
END_TEST

START_TEST(digest_sees_state)
{
    setup();
    uint64_t a = 1, b = 1;
    ioapic_digest(&io, &a);
    wr(0x10, 0x33);
    ioapic_digest(&io, &b);
    ck_assert_uint_ne(a, b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ioapic");
    TCase *t = tcase_create("ioapic");
    tcase_add_test(t, identification_registers);
    tcase_add_test(t, redirection_entries_reset_masked_and_keep_readonly_bits);
    tcase_add_test(t, edge_sends_once_per_rising_edge);
    tcase_add_test(t, masked_edge_is_lost);
    tcase_add_test(t, level_remote_irr_and_eoi_broadcast);
    tcase_add_test(t, eoi_register_clears_remote_irr);
    tcase_add_test(t, level_unmask_while_active_sends);
    tcase_add_test(t, low_polarity_inverts_the_input);
    tcase_add_test(t, nmi_level_sets_no_remote_irr);
    tcase_add_test(t, digest_sees_state);
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
