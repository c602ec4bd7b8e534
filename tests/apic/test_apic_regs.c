/*
 * test_apic_regs.c — local APIC register semantics in xAPIC (MMIO) and
 * x2APIC (MSR) mode, the IA32_APIC_BASE mode transitions and the #GP rules
 * of SDM 11.12.1 and 11.12.5.
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

static void record(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    if (nev < 64)
        evs[nev++] = *ev;
}

static void setup(void)
{
    memset(&cpu, 0, sizeof cpu);
    memset(&bus, 0, sizeof bus);
    nev = 0;
    cpu.index = 3;
    cpu_obs_subscribe(&bus, record, NULL);
    apic_init(&ap, &cpu, 3, false, &bus);
}

static uint32_t rd(uint32_t off)
{
    uint64_t v = 0xDEAD;
    ck_assert(apic_mmio_read(&ap, off, 4, &v));
    return (uint32_t)v;
}

static void wr(uint32_t off, uint32_t v)
{
    ck_assert(apic_mmio_write(&ap, off, 4, v));
}

static uint64_t msr(uint32_t m)
{
    uint64_t v = 0;
    ck_assert_msg(apic_msr_read(&ap, m, &v), "rdmsr %#x faulted", m);
    return v;
}

static void to_x2apic(void)
{
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, apic_base_msr(&ap) | APIC_BASE_EXTD));
    ck_assert(apic_x2apic_mode(&ap));
}

static unsigned count_kind(unsigned kind)
{
    unsigned n = 0;
    for (unsigned i = 0; i < nev; i++)
        n += evs[i].kind == kind;
    return n;
}

START_TEST(reset_state)
{
    ck_assert_uint_eq(apic_base_msr(&ap), 0xFEE00800u);
    apic_t bsp;
    apic_init(&bsp, &cpu, 0, true, NULL);
    ck_assert_uint_eq(apic_base_msr(&bsp), 0xFEE00900u);
    ck_assert(apic_xapic_mmio_enabled(&ap));
    ck_assert(!apic_x2apic_mode(&ap));
    ck_assert(!apic_sw_enabled(&ap));
    ck_assert_uint_eq(rd(APIC_REG_ID), 3u << 24);
    ck_assert_uint_eq(rd(APIC_REG_VERSION), 0x01050014u);
    ck_assert_uint_eq(rd(APIC_REG_SVR), 0xFF);
    ck_assert_uint_eq(rd(APIC_REG_DFR), 0xFFFFFFFFu);
    ck_assert_uint_eq(rd(APIC_REG_TPR), 0);
    ck_assert_uint_eq(rd(APIC_REG_PPR), 0);
    ck_assert_uint_eq(rd(APIC_REG_LDR), 0);
    for (uint32_t off = APIC_REG_LVT_TIMER; off <= APIC_REG_LVT_ERROR; off += 0x10)
        ck_assert_uint_eq(rd(off), APIC_LVT_MASKED);
    ck_assert_uint_eq(rd(APIC_REG_TIMER_ICR), 0);
    ck_assert_uint_eq(rd(APIC_REG_TIMER_CCR), 0);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
}
END_TEST

START_TEST(xapic_writable_fields)
{
    wr(APIC_REG_ID, 0x12345678);
    ck_assert_uint_eq(rd(APIC_REG_ID), 0x12000000u);
    ck_assert_uint_eq(apic_id(&ap), 0x12);
    wr(APIC_REG_LDR, 0xFFFFFFFF);
    ck_assert_uint_eq(rd(APIC_REG_LDR), 0xFF000000u);
    wr(APIC_REG_DFR, 0x0);
    ck_assert_uint_eq(rd(APIC_REG_DFR), 0x0FFFFFFFu);
    wr(APIC_REG_TPR, 0x1FF);
    ck_assert_uint_eq(rd(APIC_REG_TPR), 0xFF);
    ck_assert_uint_eq(rd(APIC_REG_PPR), 0xFF);
    wr(APIC_REG_SVR, 0xFFFFFFFF);
    ck_assert_uint_eq(rd(APIC_REG_SVR), 0x13FF);
    wr(APIC_REG_ICR_HI, 0xFFFFFFFF);
    ck_assert_uint_eq(rd(APIC_REG_ICR_HI), 0xFF000000u);
    wr(APIC_REG_LVT_LINT0, 0xFFFFFFFF);
    ck_assert_uint_eq(rd(APIC_REG_LVT_LINT0), 0x1A7FFu);
    wr(APIC_REG_LVT_ERROR, 0xFFFFFFFF);
    ck_assert_uint_eq(rd(APIC_REG_LVT_ERROR), 0x100FFu);
    wr(APIC_REG_LVT_THERMAL, 0xFFFFFFFF);
    ck_assert_uint_eq(rd(APIC_REG_LVT_THERMAL), 0x107FFu);
    wr(APIC_REG_LVT_TIMER, 0x2FFFF);
    ck_assert_uint_eq(rd(APIC_REG_LVT_TIMER), 0x200FFu);
    wr(APIC_REG_TIMER_DCR, 0xFFFFFFFF);
    ck_assert_uint_eq(rd(APIC_REG_TIMER_DCR), 0xB);
}
END_TEST

START_TEST(xapic_timer_mode_reserved_keeps_old)
{
    wr(APIC_REG_SVR, 0x1FF);
    wr(APIC_REG_LVT_TIMER, 0x20040); /* periodic */
    wr(APIC_REG_LVT_TIMER, 0x60041); /* mode 11B is reserved */
    ck_assert_uint_eq(rd(APIC_REG_LVT_TIMER), 0x20041u);
}
END_TEST

START_TEST(xapic_read_only_registers_ignore_writes)
{
    wr(APIC_REG_VERSION, 0);
    ck_assert_uint_eq(rd(APIC_REG_VERSION), APIC_VERSION_VALUE);
    wr(APIC_REG_SVR, 0x1FF);
    apic_accept(&ap, 0x44, APIC_DM_FIXED, true);
    wr(APIC_REG_IRR + 0x20, 0);
    wr(APIC_REG_TMR + 0x20, 0);
    ck_assert_uint_eq(rd(APIC_REG_IRR + 0x20), 1u << 4);
    ck_assert_uint_eq(rd(APIC_REG_TMR + 0x20), 1u << 4);
    wr(APIC_REG_PPR, 0x80);
    ck_assert_uint_eq(rd(APIC_REG_PPR), 0);
    /* Read-only registers are not an error (only reserved offsets are). */
    wr(APIC_REG_ESR, 0);
    ck_assert_uint_eq(rd(APIC_REG_ESR), 0);
}
END_TEST

START_TEST(xapic_esr_write_then_read)
{
    uint64_t v;
    ck_assert(apic_mmio_read(&ap, 0x2F0, 4, &v)); /* no CMCI: reserved */
    ck_assert_uint_eq(v, 0);
    ck_assert_uint_eq(rd(APIC_REG_ESR), 0); /* not latched yet */
    wr(APIC_REG_ESR, 0);
    ck_assert_uint_eq(rd(APIC_REG_ESR), APIC_ESR_ILLEGAL_REGISTER);
    wr(APIC_REG_ESR, 0x1234); /* value written does not matter */
    ck_assert_uint_eq(rd(APIC_REG_ESR), 0);
    wr(0x3F0, 5); /* SELF IPI does not exist in xAPIC mode */
    wr(APIC_REG_ESR, 0);
    ck_assert_uint_eq(rd(APIC_REG_ESR), APIC_ESR_ILLEGAL_REGISTER);
    ck_assert_uint_ge(count_kind(APIC_EV_ERROR), 2);
}
END_TEST

START_TEST(xapic_narrow_and_unaligned_access)
{
    wr(APIC_REG_ID, 0xAB000000);
    uint64_t v;
    ck_assert(apic_mmio_read(&ap, APIC_REG_ID + 3, 1, &v));
    ck_assert_uint_eq(v, 0xAB);
    ck_assert(apic_mmio_read(&ap, APIC_REG_ID + 4, 4, &v));
    ck_assert_uint_eq(v, 0);
    ck_assert(apic_mmio_read(&ap, APIC_REG_VERSION, 2, &v));
    ck_assert_uint_eq(v, 0x0014);
    ck_assert(apic_mmio_write(&ap, APIC_REG_TPR, 1, 0x3C));
    ck_assert_uint_eq(rd(APIC_REG_TPR), 0x3C);
    ck_assert(apic_mmio_write(&ap, APIC_REG_TPR + 8, 4, 0x50));
    ck_assert_uint_eq(rd(APIC_REG_TPR), 0x3C);
}
END_TEST

START_TEST(x2apic_msrs_fault_in_xapic_mode)
{
    uint64_t v;
    ck_assert(!apic_msr_read(&ap, 0x802, &v));
    ck_assert(!apic_msr_read(&ap, 0x808, &v));
    ck_assert(!apic_msr_write(&ap, 0x808, 0x10));
    ck_assert(!apic_msr_write(&ap, 0x83F, 0x40));
    ck_assert_uint_eq(rd(APIC_REG_TPR), 0);
    ck_assert(!apic_msr_read(&ap, 0x10, &v)); /* not an APIC MSR */
}
END_TEST

START_TEST(base_msr_transitions)
{
    uint64_t base = apic_base_msr(&ap);
    wr(APIC_REG_TPR, 0x20);
    /* EN=0, EXTD=1 is invalid; disabled→x2APIC needs the xAPIC step. */
    ck_assert(!apic_msr_write(&ap, APIC_MSR_BASE, (base & ~(uint64_t)APIC_BASE_EN) | APIC_BASE_EXTD));
    ck_assert_uint_eq(apic_base_msr(&ap), base);
    /* Reserved bits 7:0, 9 and >= MAXPHYADDR. */
    ck_assert(!apic_msr_write(&ap, APIC_MSR_BASE, base | 1));
    ck_assert(!apic_msr_write(&ap, APIC_MSR_BASE, base | (1u << 9)));
    ck_assert(!apic_msr_write(&ap, APIC_MSR_BASE, base | (1ull << CPU_MAXPHYADDR)));
    /* xAPIC → x2APIC keeps other registers. */
    to_x2apic();
    ck_assert(!apic_xapic_mmio_enabled(&ap));
    uint64_t v;
    ck_assert(!apic_mmio_read(&ap, APIC_REG_ID, 4, &v));
    ck_assert(!apic_mmio_write(&ap, APIC_REG_TPR, 4, 0));
    ck_assert_uint_eq(msr(0x808), 0x20);
    /* x2APIC → xAPIC is illegal. */
    ck_assert(!apic_msr_write(&ap, APIC_MSR_BASE, base));
    ck_assert(apic_x2apic_mode(&ap));
    /* x2APIC → disabled: state lost, ID kept. */
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, base & ~(uint64_t)APIC_BASE_EN));
    ck_assert(!apic_hw_enabled(&ap));
    ck_assert(!apic_xapic_mmio_enabled(&ap));
    ck_assert(!apic_msr_read(&ap, 0x808, &v));
    /* disabled → x2APIC is illegal. */
    ck_assert(!apic_msr_write(&ap, APIC_MSR_BASE, base | APIC_BASE_EXTD));
    /* disabled → xAPIC. */
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, base));
    ck_assert(apic_xapic_mmio_enabled(&ap));
    ck_assert_uint_eq(rd(APIC_REG_TPR), 0);
    ck_assert_uint_eq(rd(APIC_REG_SVR), 0xFF);
    ck_assert_uint_eq(rd(APIC_REG_ID), 3u << 24);
    ck_assert_uint_ge(count_kind(APIC_EV_MODE), 3);
}
END_TEST

START_TEST(base_msr_disable_resets_the_xapic_id_too)
{
    wr(APIC_REG_ID, 0x07000000);
    wr(APIC_REG_SVR, 0x1FF);
    apic_accept(&ap, 0x50, APIC_DM_FIXED, false);
    uint64_t base = apic_base_msr(&ap);
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, base & ~(uint64_t)APIC_BASE_EN));
    ck_assert_int_eq(apic_pending_vector(&ap), -1);
    apic_accept(&ap, 0x60, APIC_DM_FIXED, false); /* globally disabled: dropped */
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, base));
    /* SDM 11.4.3 / 11.4.7.1: back to the power-up ID, the initial APIC ID 3 */
    ck_assert_uint_eq(rd(APIC_REG_ID), 3u << 24);
    ck_assert_uint_eq(rd(APIC_REG_IRR + 0x20), 0);
    ck_assert_uint_eq(rd(APIC_REG_IRR + 0x30), 0);
}
END_TEST

START_TEST(base_msr_relocation)
{
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, 0xFED00000u | APIC_BASE_EN));
    ck_assert_uint_eq(apic_base_address(&ap), 0xFED00000u);
    ck_assert_uint_eq(msr(APIC_MSR_BASE), 0xFED00800u);
}
END_TEST

START_TEST(x2apic_id_and_ldr)
{
    apic_init(&ap, &cpu, 0x23, false, &bus);
    wr(APIC_REG_ID, 0x05000000); /* software xAPIC ID does not survive */
    to_x2apic();
    ck_assert_uint_eq(msr(0x802), 0x23);
    ck_assert_uint_eq(apic_id(&ap), 0x23);
    ck_assert_uint_eq(msr(0x80D), 0x00020008u); /* cluster 2, bit 3 */
    ck_assert_uint_eq(msr(0x803), APIC_VERSION_VALUE);
    ck_assert(!apic_msr_write(&ap, 0x802, 0x23));
    ck_assert(!apic_msr_write(&ap, 0x80D, 0));
}
END_TEST

START_TEST(x2apic_read_write_only_and_reserved_msrs)
{
    to_x2apic();
    uint64_t v;
    /* write-only registers */
    ck_assert(!apic_msr_read(&ap, 0x80B, &v));
    ck_assert(!apic_msr_read(&ap, 0x83F, &v));
    /* read-only registers */
    static const uint32_t ro[] = {0x802, 0x803, 0x80A, 0x80D, 0x810, 0x817, 0x818,
                                  0x81F, 0x820, 0x827, 0x839};
    for (unsigned i = 0; i < sizeof ro / sizeof ro[0]; i++) {
        ck_assert_msg(apic_msr_read(&ap, ro[i], &v), "read %#x", ro[i]);
        ck_assert_msg(!apic_msr_write(&ap, ro[i], 0), "write %#x", ro[i]);
    }
    /* reserved: APR, RRD, DFR, ICR high, CMCI (not implemented), holes */
    static const uint32_t rsv[] = {0x800, 0x801, 0x804, 0x807, 0x809, 0x80C, 0x80E,
                                   0x829, 0x82E, 0x82F, 0x831, 0x83A, 0x83D, 0x840, 0x8FF};
    for (unsigned i = 0; i < sizeof rsv / sizeof rsv[0]; i++) {
        ck_assert_msg(!apic_msr_read(&ap, rsv[i], &v), "read %#x", rsv[i]);
        ck_assert_msg(!apic_msr_write(&ap, rsv[i], 0), "write %#x", rsv[i]);
    }
    ck_assert(!apic_msr_read(&ap, 0x900, &v));
}
END_TEST

START_TEST(x2apic_reserved_bits)
{
    to_x2apic();
    ck_assert(!apic_msr_write(&ap, 0x808, 0x100));
    ck_assert(!apic_msr_write(&ap, 0x808, 1ull << 32));
    ck_assert(apic_msr_write(&ap, 0x808, 0x7F));
    ck_assert_uint_eq(msr(0x808), 0x7F);
    ck_assert_uint_eq(msr(0x80A), 0x7F);
    ck_assert(!apic_msr_write(&ap, 0x80F, 0x1FF | (1u << 10)));
    ck_assert(apic_msr_write(&ap, 0x80F, 0x13FF));
    ck_assert_uint_eq(msr(0x80F), 0x13FF);
    ck_assert(!apic_msr_write(&ap, 0x80B, 1));
    ck_assert(apic_msr_write(&ap, 0x80B, 0));
    ck_assert(!apic_msr_write(&ap, 0x828, 1));
    ck_assert(apic_msr_write(&ap, 0x828, 0));
    ck_assert(!apic_msr_write(&ap, 0x832, 0x60040));       /* timer mode 11B */
    ck_assert(!apic_msr_write(&ap, 0x832, 0x40 | (1u << 8))); /* no delivery mode */
    ck_assert(apic_msr_write(&ap, 0x832, 0x20040 | APIC_LVT_DELIVERY_STATUS));
    ck_assert_uint_eq(msr(0x832), 0x20040);
    ck_assert(!apic_msr_write(&ap, 0x835, 1u << 17));
    ck_assert(apic_msr_write(&ap, 0x835, 0xA7FF));
    ck_assert_uint_eq(msr(0x835), 0xA7FF);
    ck_assert(!apic_msr_write(&ap, 0x837, 0x400));
    ck_assert(!apic_msr_write(&ap, 0x83E, 0x4));
    ck_assert(apic_msr_write(&ap, 0x83E, 0xB));
    ck_assert_uint_eq(msr(0x83E), 0xB);
    ck_assert(!apic_msr_write(&ap, 0x838, 1ull << 32));
    ck_assert(!apic_msr_write(&ap, 0x83F, 0x140));
    ck_assert(!apic_msr_write(&ap, 0x830, 0x40 | (1u << 13)));
    ck_assert(!apic_msr_write(&ap, 0x830, 0x40 | (1u << 16)));
    ck_assert(!apic_msr_write(&ap, 0x830, 0x40 | (1u << 20)));
    ck_assert(apic_msr_write(&ap, 0x830, 0x0000000500004040ull | (1u << 12)));
    ck_assert_uint_eq(msr(0x830), 0x0000000500004040ull); /* bit 12 ignored */
}
END_TEST

START_TEST(software_disable_masks_lvt)
{
    wr(APIC_REG_SVR, 0x1FF);
    wr(APIC_REG_LVT_LINT0, 0x700);
    wr(APIC_REG_LVT_TIMER, 0x40);
    ck_assert_uint_eq(rd(APIC_REG_LVT_TIMER), 0x40);
    wr(APIC_REG_SVR, 0xFF);
    ck_assert_uint_eq(rd(APIC_REG_LVT_TIMER), 0x10040);
    ck_assert_uint_eq(rd(APIC_REG_LVT_LINT0), 0x10700);
    wr(APIC_REG_LVT_TIMER, 0x41); /* mask cannot be cleared while disabled */
    ck_assert_uint_eq(rd(APIC_REG_LVT_TIMER), 0x10041);
    ck_assert_uint_eq(count_kind(APIC_EV_MODE), 2); /* enable, disable */
}
END_TEST

START_TEST(digest_covers_state)
{
    apic_t b;
    apic_init(&b, &cpu, 3, false, NULL);
    uint64_t h1 = 0xCBF29CE484222325ull, h2 = h1;
    apic_digest(&ap, &h1);
    apic_digest(&b, &h2);
    ck_assert_uint_eq(h1, h2);
    apic_set_tpr(&b, 0x10);
    h2 = 0xCBF29CE484222325ull;
    apic_digest(&b, &h2);
    ck_assert_uint_ne(h1, h2);
    apic_set_tpr(&b, 0);
    b.irr[3] = 1;
    h2 = 0xCBF29CE484222325ull;
    apic_digest(&b, &h2);
    ck_assert_uint_ne(h1, h2);
}
END_TEST

START_TEST(event_names)
{
    ck_assert_str_eq(apic_event_name(APIC_EV_ACCEPT), "apic.accept");
    ck_assert_str_eq(apic_event_name(APIC_EV_EOI), "apic.eoi");
    ck_assert_str_eq(apic_event_name(APIC_EV_SPURIOUS), "apic.spurious");
    for (unsigned k = APIC_EV_ACCEPT; k < APIC_EV_LAST; k++)
        ck_assert_ptr_nonnull(apic_event_name(k));
    ck_assert_ptr_null(apic_event_name(APIC_EV_LAST));
    ck_assert_ptr_null(apic_event_name(CPU_EV_EXCEPTION));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apic_regs");
    TCase *tc = tcase_create("regs");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, reset_state);
    tcase_add_test(tc, xapic_writable_fields);
    tcase_add_test(tc, xapic_timer_mode_reserved_keeps_old);
    tcase_add_test(tc, xapic_read_only_registers_ignore_writes);
    tcase_add_test(tc, xapic_esr_write_then_read);
    tcase_add_test(tc, xapic_narrow_and_unaligned_access);
    tcase_add_test(tc, x2apic_msrs_fault_in_xapic_mode);
    tcase_add_test(tc, base_msr_transitions);
    tcase_add_test(tc, base_msr_disable_resets_the_xapic_id_too);
    tcase_add_test(tc, base_msr_relocation);
    tcase_add_test(tc, x2apic_id_and_ldr);
    tcase_add_test(tc, x2apic_read_write_only_and_reserved_msrs);
    tcase_add_test(tc, x2apic_reserved_bits);
    tcase_add_test(tc, software_disable_masks_lvt);
    tcase_add_test(tc, digest_covers_state);
    tcase_add_test(tc, event_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
