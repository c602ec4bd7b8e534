/*
 * test_apic_priority.c — TPR/PPR/APR, interrupt acceptance, priority
 * arbitration, INTA and EOI sequences, TMR and the level EOI hook, errors,
 * NMI/INIT/SIPI and the CPU_EVT_INTR signal (SDM 11.5.3, 11.6.2.4, 11.8).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"

static cpu_t cpu;
static apic_t ap;
static cpu_obs_bus bus;
static cpu_obs_event evs[64];
static unsigned nev;
static int eoi_vectors[8];
static unsigned neoi;

static void record(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    if (nev < 64)
        evs[nev++] = *ev;
}

static void on_level_eoi(void *ctx, apic_t *a, uint8_t vector)
{
    ck_assert_ptr_eq(ctx, &neoi);
    ck_assert_ptr_eq(a, &ap);
    eoi_vectors[neoi++] = vector;
}

static void setup(void)
{
    memset(&cpu, 0, sizeof cpu);
    memset(&bus, 0, sizeof bus);
    nev = 0;
    neoi = 0;
    cpu.cycles = 777;
    cpu.index = 1;
    cpu_obs_subscribe(&bus, record, NULL);
    apic_init(&ap, &cpu, 1, false, &bus);
    apic_set_eoi_sink(&ap, on_level_eoi, &neoi);
    ck_assert(apic_mmio_write(&ap, APIC_REG_SVR, 4, 0x1FF));
    nev = 0;
}

static uint32_t rd(uint32_t off)
{
    uint64_t v = 0;
    ck_assert(apic_mmio_read(&ap, off, 4, &v));
    return (uint32_t)v;
}

static void wr(uint32_t off, uint32_t v)
{
    ck_assert(apic_mmio_write(&ap, off, 4, v));
}

static const cpu_obs_event *last(unsigned kind)
{
    for (unsigned i = nev; i-- > 0;)
        if (evs[i].kind == kind)
            return &evs[i];
    return NULL;
}

static bool isr_bit(unsigned v)
{
    return (rd(APIC_REG_ISR + (v >> 5) * 0x10) >> (v & 31)) & 1;
}

static bool irr_bit(unsigned v)
{
    return (rd(APIC_REG_IRR + (v >> 5) * 0x10) >> (v & 31)) & 1;
}

START_TEST(ppr_from_tpr_and_isr)
{
    apic_set_tpr(&ap, 0x35);
    ck_assert_uint_eq(apic_ppr(&ap), 0x35); /* nothing in service */
    apic_accept(&ap, 0x41, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x41);
    ck_assert_uint_eq(apic_ppr(&ap), 0x40); /* ISR class 4 > TPR class 3 */
    ck_assert_uint_eq(rd(APIC_REG_PPR), 0x40);
    apic_set_tpr(&ap, 0x45);
    ck_assert_uint_eq(apic_ppr(&ap), 0x45); /* equal class: TPR with sub-class */
    apic_set_tpr(&ap, 0x4F);
    ck_assert_uint_eq(apic_ppr(&ap), 0x4F);
    apic_set_tpr(&ap, 0x3F);
    ck_assert_uint_eq(apic_ppr(&ap), 0x40); /* ISR wins, sub-class 0 */
    const cpu_obs_event *e = last(APIC_EV_TPR);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->a, 0x3F);
    ck_assert_uint_eq(e->b, 0x4F);
    ck_assert_uint_eq(e->d, 0x40);
    ck_assert_uint_eq(e->cycle, 777);
    ck_assert_uint_eq(e->cpu, 1);
}
END_TEST

START_TEST(pending_needs_higher_class_than_ppr)
{
    ck_assert_int_eq(apic_pending_vector(&ap), -1);
    apic_set_tpr(&ap, 0x40);
    apic_accept(&ap, 0x4F, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_pending_vector(&ap), -1); /* class 4 = PPR class 4 */
    apic_accept(&ap, 0x50, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_pending_vector(&ap), 0x50);
    apic_accept(&ap, 0x72, APIC_DM_FIXED, false);
    apic_accept(&ap, 0x71, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_pending_vector(&ap), 0x72); /* highest IRR */
    apic_set_tpr(&ap, 0x70);
    ck_assert_int_eq(apic_pending_vector(&ap), -1);
    apic_set_tpr(&ap, 0x6F);
    ck_assert_int_eq(apic_pending_vector(&ap), 0x72);
    apic_set_tpr(&ap, 0xFF);
    ck_assert_int_eq(apic_acknowledge(&ap), -1);
    ck_assert(irr_bit(0x72));
}
END_TEST

START_TEST(nested_acknowledge_and_eoi)
{
    apic_accept(&ap, 0x30, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x30);
    ck_assert(isr_bit(0x30));
    ck_assert(!irr_bit(0x30));
    const cpu_obs_event *e = last(APIC_EV_ACK);
    ck_assert_uint_eq(e->a, 0x30);
    ck_assert_uint_eq(e->b, 0x00);
    ck_assert_uint_eq(e->d, 0x30);
    apic_accept(&ap, 0x60, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x60); /* nests above 0x30 */
    apic_accept(&ap, 0x35, APIC_DM_FIXED, false);
    apic_accept(&ap, 0x62, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_pending_vector(&ap), -1); /* 0x62: same class as 0x60 */
    wr(APIC_REG_EOI, 0);
    e = last(APIC_EV_EOI);
    ck_assert_uint_eq(e->a, 0x60);
    ck_assert_uint_eq(e->b, 0x60);
    ck_assert_uint_eq(e->d, 0x30);
    ck_assert(!isr_bit(0x60));
    ck_assert(isr_bit(0x30));
    ck_assert_uint_eq(apic_ppr(&ap), 0x30);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x62);
    wr(APIC_REG_EOI, 0);
    ck_assert_int_eq(apic_pending_vector(&ap), -1); /* 0x35 vs in-service 0x30 */
    wr(APIC_REG_EOI, 0);
    ck_assert_uint_eq(apic_ppr(&ap), 0);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x35);
    wr(APIC_REG_EOI, 0);
    for (unsigned i = 0; i < 8; i++)
        ck_assert_uint_eq(rd(APIC_REG_ISR + i * 0x10), 0);
    nev = 0;
    wr(APIC_REG_EOI, 0); /* nothing in service */
    e = last(APIC_EV_EOI);
    ck_assert_uint_eq(e->a, ~0ull);
    ck_assert_uint_eq(neoi, 0);
}
END_TEST

START_TEST(spurious_when_nothing_deliverable)
{
    wr(APIC_REG_SVR, 0x1EF);
    apic_accept(&ap, 0x30, APIC_DM_FIXED, false);
    apic_set_tpr(&ap, 0x30);
    ck_assert_uint_eq(apic_acknowledge_or_spurious(&ap), 0xEF);
    ck_assert(irr_bit(0x30));
    ck_assert(!isr_bit(0x30));
    ck_assert_ptr_nonnull(last(APIC_EV_SPURIOUS));
    apic_set_tpr(&ap, 0);
    ck_assert_uint_eq(apic_acknowledge_or_spurious(&ap), 0x30);
}
END_TEST

START_TEST(level_eoi_hook_and_tmr)
{
    apic_accept(&ap, 0x51, APIC_DM_FIXED, true);
    ck_assert_uint_eq(rd(APIC_REG_TMR + 0x20), 1u << 17);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x51);
    wr(APIC_REG_EOI, 0);
    ck_assert_uint_eq(neoi, 1);
    ck_assert_int_eq(eoi_vectors[0], 0x51);
    ck_assert_uint_eq(last(APIC_EV_EOI)->c, 1);
    /* edge acceptance of the same vector clears TMR: no broadcast */
    apic_accept(&ap, 0x51, APIC_DM_FIXED, false);
    ck_assert_uint_eq(rd(APIC_REG_TMR + 0x20), 0);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x51);
    wr(APIC_REG_EOI, 0);
    ck_assert_uint_eq(neoi, 1);
    /* EOI-broadcast suppression (SVR bit 12) */
    wr(APIC_REG_SVR, 0x11FF);
    apic_accept(&ap, 0x52, APIC_DM_FIXED, true);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x52);
    wr(APIC_REG_EOI, 0);
    ck_assert_uint_eq(neoi, 1);
    ck_assert(!isr_bit(0x52));
}
END_TEST

START_TEST(illegal_vector_sets_esr)
{
    apic_accept(&ap, 0x0F, APIC_DM_FIXED, false);
    for (unsigned i = 0; i < 8; i++)
        ck_assert_uint_eq(rd(APIC_REG_IRR + i * 0x10), 0);
    ck_assert_uint_eq(last(APIC_EV_ACCEPT)->d, APIC_ACCEPT_ILLEGAL);
    wr(APIC_REG_ESR, 0);
    ck_assert_uint_eq(rd(APIC_REG_ESR), APIC_ESR_RECV_ILLEGAL_VECTOR);
    /* with the error LVT unmasked the error raises its interrupt */
    wr(APIC_REG_LVT_ERROR, 0xE3);
    apic_accept(&ap, 0x03, APIC_DM_LOWEST, false);
    ck_assert(irr_bit(0xE3));
    ck_assert_int_eq(apic_pending_vector(&ap), 0xE3);
    wr(APIC_REG_ESR, 0);
    ck_assert_uint_eq(rd(APIC_REG_ESR), APIC_ESR_RECV_ILLEGAL_VECTOR);
    wr(APIC_REG_ESR, 0);
    ck_assert_uint_eq(rd(APIC_REG_ESR), 0);
}
END_TEST

START_TEST(disabled_apic_acceptance)
{
    wr(APIC_REG_SVR, 0xFF); /* software disabled */
    cpu.events = 0;
    apic_accept(&ap, 0x40, APIC_DM_FIXED, false);
    ck_assert(!irr_bit(0x40));
    ck_assert_uint_eq(last(APIC_EV_ACCEPT)->d, APIC_ACCEPT_DISABLED);
    ck_assert_uint_eq(cpu.events, 0);
    apic_accept(&ap, 0, APIC_DM_NMI, false);
    ck_assert(cpu.events & CPU_EVT_INTR);
    ck_assert(apic_take_nmi(&ap));
    ck_assert(!apic_take_nmi(&ap));
    /* software disabled: pending IRR bits are still offered */
    wr(APIC_REG_SVR, 0x1FF);
    apic_accept(&ap, 0x40, APIC_DM_FIXED, false);
    wr(APIC_REG_SVR, 0xFF);
    ck_assert_int_eq(apic_pending_vector(&ap), 0x40);
}
END_TEST

START_TEST(signal_raised_only_when_deliverable)
{
    cpu.events = 0;
    apic_set_tpr(&ap, 0x80);
    apic_accept(&ap, 0x45, APIC_DM_FIXED, false);
    ck_assert_uint_eq(cpu.events & CPU_EVT_INTR, 0);
    apic_set_tpr(&ap, 0x00);
    ck_assert(cpu.events & CPU_EVT_INTR);
    cpu.events = 0;
    ck_assert_int_eq(apic_acknowledge(&ap), 0x45);
    apic_accept(&ap, 0x46, APIC_DM_FIXED, false);
    ck_assert_uint_eq(cpu.events & CPU_EVT_INTR, 0);
    wr(APIC_REG_EOI, 0);
    ck_assert(cpu.events & CPU_EVT_INTR);
    cpu.events = 0;
    apic_accept(&ap, 0x90, APIC_DM_FIXED, false);
    ck_assert(cpu.events & CPU_EVT_INTR);
}
END_TEST

START_TEST(arbitration_priority)
{
    apic_set_tpr(&ap, 0x25);
    ck_assert_uint_eq(apic_arbitration_priority(&ap), 0x25);
    ck_assert_uint_eq(rd(APIC_REG_APR), 0x25);
    apic_accept(&ap, 0x51, APIC_DM_FIXED, false);
    ck_assert_uint_eq(apic_arbitration_priority(&ap), 0x50); /* IRRV class above TPR */
    apic_set_tpr(&ap, 0x65);
    ck_assert_uint_eq(apic_arbitration_priority(&ap), 0x65);
    apic_set_tpr(&ap, 0x00);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x51);
    apic_set_tpr(&ap, 0x55);
    /* TPR class 5 = ISRV class 5: max(5 AND 5, 0) */
    ck_assert_uint_eq(apic_arbitration_priority(&ap), 0x50);
    apic_set_tpr(&ap, 0x35);
    /* max(3 AND 5 = 1, IRRV 0) */
    ck_assert_uint_eq(apic_arbitration_priority(&ap), 0x10);
}
END_TEST

START_TEST(init_sipi_smi)
{
    apic_accept(&ap, 0, APIC_DM_INIT, false);
    apic_accept(&ap, 0x9A, APIC_DM_SIPI, false);
    apic_accept(&ap, 0, APIC_DM_SMI, false);
    ck_assert(apic_take_init(&ap));
    ck_assert(!apic_take_init(&ap));
    ck_assert_int_eq(apic_take_sipi(&ap), 0x9A);
    ck_assert_int_eq(apic_take_sipi(&ap), -1);
    ck_assert(apic_take_smi(&ap));
    apic_accept(&ap, 0x40, APIC_DM_EXTINT, false);
    ck_assert_uint_eq(last(APIC_EV_ACCEPT)->d, APIC_ACCEPT_IGNORED);
    ck_assert(!irr_bit(0x40));
    /* INIT keeps the ID and the mode, resets the rest */
    apic_set_tpr(&ap, 0x20);
    wr(APIC_REG_ID, 0x09000000);
    apic_init_reset(&ap);
    ck_assert_uint_eq(rd(APIC_REG_TPR), 0);
    ck_assert_uint_eq(rd(APIC_REG_SVR), 0xFF);
    ck_assert_uint_eq(rd(APIC_REG_ID), 0x09000000);
}
END_TEST

START_TEST(lint_delivery)
{
    wr(APIC_REG_LVT_LINT1, 0x400); /* NMI */
    apic_raise_lint(&ap, 1);
    ck_assert(apic_take_nmi(&ap));
    wr(APIC_REG_LVT_LINT0, 0x10033); /* masked fixed */
    apic_raise_lint(&ap, 0);
    ck_assert(!irr_bit(0x33));
    wr(APIC_REG_LVT_LINT0, 0x33);
    apic_raise_lint(&ap, 0);
    ck_assert(irr_bit(0x33));
}
END_TEST

START_TEST(x2apic_tpr_eoi_msrs)
{
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, apic_base_msr(&ap) | APIC_BASE_EXTD));
    apic_accept(&ap, 0xA0, APIC_DM_FIXED, false);
    ck_assert_int_eq(apic_acknowledge(&ap), 0xA0);
    uint64_t v;
    ck_assert(apic_msr_read(&ap, 0x80A, &v));
    ck_assert_uint_eq(v, 0xA0);
    ck_assert(apic_msr_read(&ap, 0x815, &v));
    ck_assert_uint_eq(v, 1);
    ck_assert(!apic_msr_write(&ap, 0x80B, 0xA0));
    ck_assert(apic_msr_read(&ap, 0x815, &v));
    ck_assert_uint_eq(v, 1); /* the faulting EOI did nothing */
    ck_assert(apic_msr_write(&ap, 0x80B, 0));
    ck_assert(apic_msr_read(&ap, 0x815, &v));
    ck_assert_uint_eq(v, 0);
    ck_assert(apic_msr_write(&ap, 0x808, 0x90));
    ck_assert_uint_eq(apic_get_tpr(&ap), 0x90);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apic_priority");
    TCase *tc = tcase_create("priority");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, ppr_from_tpr_and_isr);
    tcase_add_test(tc, pending_needs_higher_class_than_ppr);
    tcase_add_test(tc, nested_acknowledge_and_eoi);
    tcase_add_test(tc, spurious_when_nothing_deliverable);
    tcase_add_test(tc, level_eoi_hook_and_tmr);
    tcase_add_test(tc, illegal_vector_sets_esr);
    tcase_add_test(tc, disabled_apic_acceptance);
    tcase_add_test(tc, signal_raised_only_when_deliverable);
    tcase_add_test(tc, arbitration_priority);
    tcase_add_test(tc, init_sipi_smi);
    tcase_add_test(tc, lint_delivery);
    tcase_add_test(tc, x2apic_tpr_eoi_msrs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
