/*
 * test_apic_ipi.c — ICR encodings turned into apic_ipi records, send
 * errors, self IPIs and destination matching (SDM 11.6.1, 11.6.2, 11.12.9,
 * 11.12.10, 11.12.11).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"

#define NCPU 4

static cpu_t cpus[NCPU];
static apic_t aps[NCPU];
static cpu_obs_bus bus;
static apic_ipi sent[16];
static unsigned nsent;

static void capture(void *ctx, apic_t *src, const apic_ipi *ipi)
{
    ck_assert_ptr_eq(ctx, &nsent);
    ck_assert_uint_eq(src->cpu->index, ipi->src_index);
    if (nsent < 16)
        sent[nsent++] = *ipi;
}

/* A tiny machine bus: every matching APIC accepts the message at once. */
static void route(void *ctx, apic_t *src, const apic_ipi *ipi)
{
    (void)ctx;
    (void)src;
    for (unsigned i = 0; i < NCPU; i++)
        if (apic_matches_destination(&aps[i], ipi))
            apic_accept_ipi(&aps[i], ipi);
}

struct ipi_rec {
    cpu_obs_event *ev;
    unsigned *n;
};

static void ipi_recorder(void *ctx, const cpu_obs_event *ev)
{
    struct ipi_rec *r = ctx;
    if (ev->kind == APIC_EV_IPI && *r->n < 4)
        r->ev[(*r->n)++] = *ev;
}

static void setup(void)
{
    memset(cpus, 0, sizeof cpus);
    memset(&bus, 0, sizeof bus);
    nsent = 0;
    for (unsigned i = 0; i < NCPU; i++) {
        cpus[i].index = i;
        apic_init(&aps[i], &cpus[i], i, i == 0, &bus);
        apic_set_ipi_sink(&aps[i], capture, &nsent);
        ck_assert(apic_mmio_write(&aps[i], APIC_REG_SVR, 4, 0x1FF));
    }
}

static void wr(apic_t *a, uint32_t off, uint32_t v)
{
    ck_assert(apic_mmio_write(a, off, 4, v));
}

static uint32_t rd(apic_t *a, uint32_t off)
{
    uint64_t v;
    ck_assert(apic_mmio_read(a, off, 4, &v));
    return (uint32_t)v;
}

static uint32_t esr(apic_t *a)
{
    wr(a, APIC_REG_ESR, 0);
    return rd(a, APIC_REG_ESR);
}

static bool irr_bit(apic_t *a, unsigned v)
{
    return (a->irr[v >> 5] >> (v & 31)) & 1;
}

static void x2(apic_t *a)
{
    ck_assert(apic_msr_write(a, APIC_MSR_BASE, apic_base_msr(a) | APIC_BASE_EXTD));
}

START_TEST(icr_fields_xapic)
{
    apic_t *a = &aps[2];
    wr(a, APIC_REG_ICR_HI, 0x05000000);
    ck_assert_uint_eq(nsent, 0); /* writing the high half sends nothing */
    /* fixed, logical, assert, level, no shorthand */
    wr(a, APIC_REG_ICR_LO, 0x0000C841);
    ck_assert_uint_eq(nsent, 1);
    ck_assert_uint_eq(sent[0].src_index, 2);
    ck_assert_uint_eq(sent[0].src_id, 2);
    ck_assert_uint_eq(sent[0].vector, 0x41);
    ck_assert_uint_eq(sent[0].delivery, APIC_DM_FIXED);
    ck_assert(sent[0].logical);
    ck_assert(sent[0].level_assert);
    ck_assert(sent[0].trigger_level);
    ck_assert_uint_eq(sent[0].shorthand, APIC_SH_NONE);
    ck_assert_uint_eq(sent[0].dest, 5);
    ck_assert(!sent[0].x2apic);
    ck_assert_uint_eq(sent[0].icr, 0x050000000000C841ull);
    /* delivery status reads idle after the send */
    ck_assert_uint_eq(rd(a, APIC_REG_ICR_LO) & APIC_LVT_DELIVERY_STATUS, 0);
    ck_assert_uint_eq(rd(a, APIC_REG_ICR_LO), 0xC841);
    /* each delivery mode, physical, edge */
    static const unsigned modes[] = {APIC_DM_FIXED, APIC_DM_LOWEST, APIC_DM_SMI,
                                     APIC_DM_NMI,   APIC_DM_INIT,   APIC_DM_SIPI};
    for (unsigned i = 0; i < 6; i++) {
        wr(a, APIC_REG_ICR_LO, 0x4000u | modes[i] << 8 | 0x22);
        ck_assert_uint_eq(nsent, 2 + i);
        ck_assert_uint_eq(sent[1 + i].delivery, modes[i]);
        ck_assert(!sent[1 + i].logical);
        ck_assert(!sent[1 + i].trigger_level);
        ck_assert_uint_eq(sent[1 + i].vector, 0x22);
    }
    /* INIT level de-assert */
    wr(a, APIC_REG_ICR_LO, 0x00008500);
    ck_assert_uint_eq(sent[7].delivery, APIC_DM_INIT);
    ck_assert(!sent[7].level_assert);
    ck_assert(sent[7].trigger_level);
    ck_assert_uint_eq(esr(a), 0);
}
END_TEST

START_TEST(icr_shorthands)
{
    apic_t *a = &aps[1];
    wr(a, APIC_REG_ICR_HI, 0x03000000);
    wr(a, APIC_REG_ICR_LO, 0x00080030); /* all including self */
    wr(a, APIC_REG_ICR_LO, 0x000C0031); /* all excluding self */
    wr(a, APIC_REG_ICR_LO, 0x000C0400); /* NMI to all but self */
    ck_assert_uint_eq(nsent, 3);
    ck_assert_uint_eq(sent[0].shorthand, APIC_SH_ALL);
    ck_assert_uint_eq(sent[1].shorthand, APIC_SH_ALL_BUT_SELF);
    ck_assert_uint_eq(sent[2].delivery, APIC_DM_NMI);
    /* self: accepted here, never handed to the machine */
    cpus[1].events = 0;
    wr(a, APIC_REG_ICR_LO, 0x00040032);
    ck_assert_uint_eq(nsent, 3);
    ck_assert(irr_bit(a, 0x32));
    ck_assert(cpus[1].events & CPU_EVT_INTR);
    ck_assert_uint_eq(esr(a), 0);
}
END_TEST

START_TEST(icr_errors)
{
    apic_t *a = &aps[0];
    wr(a, APIC_REG_ICR_LO, 0x00000340); /* delivery mode 011: reserved */
    ck_assert_uint_eq(nsent, 0);
    ck_assert_uint_eq(esr(a), APIC_ESR_SEND_ACCEPT);
    wr(a, APIC_REG_ICR_LO, 0x00040400); /* NMI with the self shorthand */
    ck_assert_uint_eq(nsent, 0);
    ck_assert(!a->nmi_pending);
    ck_assert_uint_eq(esr(a), APIC_ESR_SEND_ACCEPT);
    wr(a, APIC_REG_ICR_LO, 0x00080140); /* lowest priority to all incl. self */
    ck_assert_uint_eq(nsent, 0);
    ck_assert_uint_eq(esr(a), APIC_ESR_SEND_ACCEPT);
    wr(a, APIC_REG_ICR_LO, 0x00000007); /* fixed, illegal vector: still sent */
    ck_assert_uint_eq(nsent, 1);
    ck_assert_uint_eq(esr(a), APIC_ESR_SEND_ILLEGAL_VECTOR);
    wr(a, APIC_REG_ICR_LO, 0x00040007); /* self, illegal: both bits */
    ck_assert_uint_eq(esr(a), APIC_ESR_SEND_ILLEGAL_VECTOR | APIC_ESR_RECV_ILLEGAL_VECTOR);
    wr(a, APIC_REG_ICR_LO, 0x00000607); /* SIPI vector 7 is legal */
    ck_assert_uint_eq(nsent, 2);
    ck_assert_uint_eq(esr(a), 0);
}
END_TEST

START_TEST(icr_x2apic)
{
    apic_t *a = &aps[3];
    x2(a);
    /* fixed, logical, assert, level; destination in bits 63:32 */
    ck_assert(apic_msr_write(a, APIC_MSR_ICR, 0x123456780000C851ull));
    ck_assert_uint_eq(nsent, 1);
    ck_assert(sent[0].x2apic);
    ck_assert_uint_eq(sent[0].src_id, 3);
    ck_assert_uint_eq(sent[0].dest, 0x12345678u);
    ck_assert_uint_eq(sent[0].vector, 0x51);
    ck_assert_uint_eq(sent[0].delivery, APIC_DM_FIXED);
    ck_assert(sent[0].logical);
    ck_assert(sent[0].level_assert);
    ck_assert(sent[0].trigger_level);
    ck_assert_uint_eq(sent[0].icr, 0x123456780000C851ull);
    /* all excluding self, SIPI */
    ck_assert(apic_msr_write(a, APIC_MSR_ICR, 0x00000000000C0698ull));
    ck_assert_uint_eq(sent[1].shorthand, APIC_SH_ALL_BUT_SELF);
    ck_assert_uint_eq(sent[1].delivery, APIC_DM_SIPI);
    ck_assert_uint_eq(sent[1].vector, 0x98);
    /* the xAPIC high half does not exist in x2APIC mode */
    uint64_t v;
    ck_assert(!apic_msr_read(a, 0x831, &v));
}
END_TEST

START_TEST(icr_x2apic_lowest_priority_refused)
{
    apic_t *a = &aps[3];
    x2(a);
    ck_assert(apic_msr_write(a, APIC_MSR_ICR, 0x0000000100000151ull));
    ck_assert_uint_eq(nsent, 0);
    ck_assert(apic_msr_write(a, 0x828, 0));
    uint64_t v;
    ck_assert(apic_msr_read(a, 0x828, &v));
    ck_assert_uint_eq(v, APIC_ESR_REDIRECTABLE_IPI);
    ck_assert(apic_msr_write(a, APIC_MSR_ICR, 0x0000000200000451ull)); /* NMI to 2 */
    ck_assert_uint_eq(nsent, 1);
    ck_assert_uint_eq(sent[0].dest, 2);
    ck_assert_uint_eq(sent[0].delivery, APIC_DM_NMI);
}
END_TEST

START_TEST(x2apic_self_ipi_msr)
{
    apic_t *a = &aps[2];
    x2(a);
    cpus[2].events = 0;
    ck_assert(apic_msr_write(a, APIC_MSR_SELF_IPI, 0x61));
    ck_assert(irr_bit(a, 0x61));
    ck_assert_uint_eq(nsent, 0);
    ck_assert(cpus[2].events & CPU_EVT_INTR);
    ck_assert_int_eq(apic_pending_vector(a), 0x61);
    ck_assert(apic_msr_write(a, APIC_MSR_SELF_IPI, 0x05));
    ck_assert(!irr_bit(a, 0x05));
    ck_assert(apic_msr_write(a, 0x828, 0));
    uint64_t v;
    ck_assert(apic_msr_read(a, 0x828, &v));
    ck_assert_uint_eq(v, APIC_ESR_SEND_ILLEGAL_VECTOR | APIC_ESR_RECV_ILLEGAL_VECTOR);
}
END_TEST

START_TEST(match_physical)
{
    apic_ipi ipi = {.src_index = 0, .dest = 2};
    ck_assert(!apic_matches_destination(&aps[1], &ipi));
    ck_assert(apic_matches_destination(&aps[2], &ipi));
    wr(&aps[1], APIC_REG_ID, 0x02000000); /* software-assigned ID now matches */
    ck_assert(apic_matches_destination(&aps[1], &ipi));
    ipi.dest = 0xFF;
    for (unsigned i = 0; i < NCPU; i++)
        ck_assert(apic_matches_destination(&aps[i], &ipi));
    /* x2APIC: 32-bit IDs, FFFFFFFFH broadcast, FFH no longer is one */
    x2(&aps[3]);
    ipi = (apic_ipi){.src_index = 0, .x2apic = true, .dest = 3};
    ck_assert(apic_matches_destination(&aps[3], &ipi));
    ipi.dest = 0x103;
    ck_assert(!apic_matches_destination(&aps[3], &ipi));
    ipi.dest = 0xFF;
    ck_assert(!apic_matches_destination(&aps[3], &ipi));
    ipi.dest = 0xFFFFFFFF;
    ck_assert(apic_matches_destination(&aps[3], &ipi));
    /* a globally disabled APIC matches nothing */
    ck_assert(apic_msr_write(&aps[2], APIC_MSR_BASE, APIC_DEFAULT_BASE));
    ck_assert(!apic_matches_destination(&aps[2], &ipi));
}
END_TEST

START_TEST(match_logical_flat_and_cluster)
{
    wr(&aps[0], APIC_REG_LDR, 0x01000000);
    wr(&aps[1], APIC_REG_LDR, 0x02000000);
    wr(&aps[2], APIC_REG_LDR, 0x04000000);
    apic_ipi ipi = {.src_index = 3, .logical = true, .dest = 0x05};
    ck_assert(apic_matches_destination(&aps[0], &ipi));
    ck_assert(!apic_matches_destination(&aps[1], &ipi));
    ck_assert(apic_matches_destination(&aps[2], &ipi));
    ck_assert(!apic_matches_destination(&aps[3], &ipi)); /* LDR 0 */
    /* cluster model: cluster in [7:4], members in [3:0] */
    for (unsigned i = 0; i < 3; i++)
        wr(&aps[i], APIC_REG_DFR, 0x0FFFFFFF);
    wr(&aps[0], APIC_REG_LDR, 0x11000000);
    wr(&aps[1], APIC_REG_LDR, 0x12000000);
    wr(&aps[2], APIC_REG_LDR, 0x21000000);
    ipi.dest = 0x13;
    ck_assert(apic_matches_destination(&aps[0], &ipi));
    ck_assert(apic_matches_destination(&aps[1], &ipi));
    ck_assert(!apic_matches_destination(&aps[2], &ipi)); /* other cluster */
    ipi.dest = 0x21;
    ck_assert(!apic_matches_destination(&aps[0], &ipi));
    ck_assert(apic_matches_destination(&aps[2], &ipi));
    ipi.dest = 0xFF;
    ck_assert(apic_matches_destination(&aps[0], &ipi));
    ck_assert(apic_matches_destination(&aps[3], &ipi));
}
END_TEST

START_TEST(match_x2apic_cluster)
{
    for (unsigned i = 0; i < NCPU; i++)
        x2(&aps[i]);
    apic_ipi ipi = {.src_index = 0, .logical = true, .x2apic = true, .dest = 0x0000000A};
    ck_assert(!apic_matches_destination(&aps[0], &ipi));
    ck_assert(apic_matches_destination(&aps[1], &ipi));
    ck_assert(!apic_matches_destination(&aps[2], &ipi));
    ck_assert(apic_matches_destination(&aps[3], &ipi));
    ipi.dest = 0x0001000A; /* cluster 1: none of ours */
    for (unsigned i = 0; i < NCPU; i++)
        ck_assert(!apic_matches_destination(&aps[i], &ipi));
    ipi.dest = 0xFFFFFFFF;
    for (unsigned i = 0; i < NCPU; i++)
        ck_assert(apic_matches_destination(&aps[i], &ipi));
}
END_TEST

START_TEST(match_shorthands)
{
    apic_ipi ipi = {.src_index = 1, .shorthand = APIC_SH_SELF, .dest = 3};
    ck_assert(apic_matches_destination(&aps[1], &ipi));
    ck_assert(!apic_matches_destination(&aps[3], &ipi));
    ipi.shorthand = APIC_SH_ALL;
    for (unsigned i = 0; i < NCPU; i++)
        ck_assert(apic_matches_destination(&aps[i], &ipi));
    ipi.shorthand = APIC_SH_ALL_BUT_SELF;
    for (unsigned i = 0; i < NCPU; i++)
        ck_assert(apic_matches_destination(&aps[i], &ipi) == (i != 1));
}
END_TEST

START_TEST(routed_ipis_reach_targets)
{
    for (unsigned i = 0; i < NCPU; i++)
        apic_set_ipi_sink(&aps[i], route, NULL);
    wr(&aps[0], APIC_REG_ICR_HI, 0x02000000);
    wr(&aps[0], APIC_REG_ICR_LO, 0x00004055);
    ck_assert(irr_bit(&aps[2], 0x55));
    ck_assert(!irr_bit(&aps[1], 0x55));
    ck_assert(!irr_bit(&aps[0], 0x55));
    wr(&aps[0], APIC_REG_ICR_LO, 0x000C4066); /* all but self */
    ck_assert(!irr_bit(&aps[0], 0x66));
    for (unsigned i = 1; i < NCPU; i++)
        ck_assert(irr_bit(&aps[i], 0x66));
    wr(&aps[3], APIC_REG_ICR_LO, 0x0008C077); /* all incl. self, level */
    for (unsigned i = 0; i < NCPU; i++) {
        ck_assert(irr_bit(&aps[i], 0x77));
        ck_assert((aps[i].tmr[3] >> 23) & 1);
    }
    wr(&aps[1], APIC_REG_ICR_HI, 0x00000000);
    wr(&aps[1], APIC_REG_ICR_LO, 0x00008500); /* INIT de-assert: dropped */
    ck_assert(!apic_take_init(&aps[0]));
    wr(&aps[1], APIC_REG_ICR_LO, 0x00004500); /* INIT assert to APIC 0 */
    ck_assert(apic_take_init(&aps[0]));
}
END_TEST

START_TEST(lowest_priority_selection)
{
    apic_t *all[NCPU] = {&aps[0], &aps[1], &aps[2], &aps[3]};
    for (unsigned i = 0; i < NCPU; i++)
        wr(&aps[i], APIC_REG_LDR, 0x0F000000);
    apic_ipi ipi = {.src_index = 0, .logical = true, .delivery = APIC_DM_LOWEST,
                    .vector = 0x40, .dest = 0x0E};
    ck_assert_int_eq(apic_select_lowest_priority(all, NCPU, &ipi), 0); /* all APR 0: lowest index */
    apic_set_tpr(&aps[0], 0x30);
    apic_set_tpr(&aps[1], 0x20);
    apic_set_tpr(&aps[2], 0x10);
    apic_set_tpr(&aps[3], 0x50);
    ck_assert_int_eq(apic_select_lowest_priority(all, NCPU, &ipi), 2);
    apic_accept(&aps[2], 0x45, APIC_DM_FIXED, false); /* raises its APR to 0x40 */
    ck_assert_int_eq(apic_select_lowest_priority(all, NCPU, &ipi), 1);
    wr(&aps[1], APIC_REG_LDR, 0x10000000); /* no longer a destination */
    ck_assert_int_eq(apic_select_lowest_priority(all, NCPU, &ipi), 0);
    ipi.dest = 0x20;
    ck_assert_int_eq(apic_select_lowest_priority(all, NCPU, &ipi), -1);
}
END_TEST

START_TEST(ipi_event_fields)
{
    cpu_obs_event got[4];
    unsigned n = 0;
    struct ipi_rec r = {got, &n};
    cpu_obs_subscribe(&bus, ipi_recorder, &r);
    cpus[2].cycles = 4242;
    wr(&aps[2], APIC_REG_ICR_HI, 0x01000000);
    wr(&aps[2], APIC_REG_ICR_LO, 0x0000C941); /* lowest priority, logical, level */
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(got[0].kind, APIC_EV_IPI);
    ck_assert_uint_eq(got[0].cycle, 4242);
    ck_assert_uint_eq(got[0].cpu, 2);
    ck_assert_uint_eq(got[0].a, 0x41 | 1u << 8 | 1u << 14 | 1u << 15);
    ck_assert_uint_eq(got[0].b, 1);
    ck_assert_uint_eq(got[0].d, 0x010000000000C941ull);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apic_ipi");
    TCase *tc = tcase_create("ipi");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, icr_fields_xapic);
    tcase_add_test(tc, icr_shorthands);
    tcase_add_test(tc, icr_errors);
    tcase_add_test(tc, icr_x2apic);
    tcase_add_test(tc, icr_x2apic_lowest_priority_refused);
    tcase_add_test(tc, x2apic_self_ipi_msr);
    tcase_add_test(tc, match_physical);
    tcase_add_test(tc, match_logical_flat_and_cluster);
    tcase_add_test(tc, match_x2apic_cluster);
    tcase_add_test(tc, match_shorthands);
    tcase_add_test(tc, routed_ipis_reach_targets);
    tcase_add_test(tc, lowest_priority_selection);
    tcase_add_test(tc, ipi_event_fields);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
