/*
 * test_apic_timer.c — the local APIC timer on the cycle clock (SDM 11.5.4):
 * one-shot and periodic with every divide value, exact current counts and
 * firing cycles, masked LVT, TSC-deadline mode and the mode switches.
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

static void reset_apic(void)
{
    memset(&cpu, 0, sizeof cpu);
    memset(&bus, 0, sizeof bus);
    nev = 0;
    cpu_obs_subscribe(&bus, record, NULL);
    apic_init(&ap, &cpu, 0, true, &bus);
    ck_assert(apic_mmio_write(&ap, APIC_REG_SVR, 4, 0x1FF));
}

static uint32_t rd(uint32_t off)
{
    uint64_t v;
    ck_assert(apic_mmio_read(&ap, off, 4, &v));
    return (uint32_t)v;
}

static void wr(uint32_t off, uint32_t v)
{
    ck_assert(apic_mmio_write(&ap, off, 4, v));
}

/* The current-count register as the guest reads it at cycle t. */
static uint32_t ccr_at(uint64_t t)
{
    cpu.cycles = t;
    return rd(APIC_REG_TIMER_CCR);
}

static bool irr_bit(unsigned v)
{
    return (ap.irr[v >> 5] >> (v & 31)) & 1;
}

static unsigned timer_events(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < nev; i++)
        n += evs[i].kind == APIC_EV_TIMER;
    return n;
}

static const uint32_t dcr_values[8] = {0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB};
static const unsigned divisors[8] = {2, 4, 8, 16, 32, 64, 128, 1};

START_TEST(divide_configuration)
{
    reset_apic();
    for (unsigned i = 0; i < 8; i++) {
        wr(APIC_REG_TIMER_DCR, dcr_values[i]);
        ck_assert_uint_eq(apic_timer_divisor(&ap), divisors[i]);
        wr(APIC_REG_TIMER_DCR, dcr_values[i] | 0xF4); /* reserved bits dropped */
        ck_assert_uint_eq(rd(APIC_REG_TIMER_DCR), dcr_values[i]);
    }
}
END_TEST

START_TEST(oneshot_each_divisor)
{
    for (unsigned i = 0; i < 8; i++) {
        reset_apic();
        const uint64_t d = divisors[i], start = 1000 + i;
        wr(APIC_REG_LVT_TIMER, 0x40);
        wr(APIC_REG_TIMER_DCR, dcr_values[i]);
        cpu.cycles = start;
        wr(APIC_REG_TIMER_ICR, 10);
        ck_assert_uint_eq(ccr_at(start), 10);
        ck_assert_uint_eq(ccr_at(start + d - 1), 10);
        ck_assert_uint_eq(ccr_at(start + d), 9);
        ck_assert_uint_eq(ccr_at(start + 7 * d + d / 2), 3);
        ck_assert_uint_eq(ccr_at(start + 10 * d - 1), 1);
        ck_assert_uint_eq(apic_timer_deadline(&ap), start + 10 * d);
        cpu.events = 0;
        apic_timer_advance(&ap, start + 10 * d - 1);
        ck_assert(!irr_bit(0x40));
        ck_assert_uint_eq(timer_events(), 0);
        cpu.cycles = start + 10 * d;
        apic_timer_advance(&ap, start + 10 * d);
        ck_assert(irr_bit(0x40));
        ck_assert(cpu.events & CPU_EVT_INTR);
        ck_assert_uint_eq(timer_events(), 1);
        ck_assert_uint_eq(ccr_at(start + 10 * d), 0);
        ck_assert_uint_eq(ccr_at(start + 100 * d), 0);
        ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
        ck_assert_uint_eq(rd(APIC_REG_TIMER_ICR), 10); /* initial count kept */
    }
}
END_TEST

START_TEST(periodic_reload_and_late_advance)
{
    reset_apic();
    wr(APIC_REG_LVT_TIMER, 0x20041);
    wr(APIC_REG_TIMER_DCR, 0x0); /* divide by 2 */
    cpu.cycles = 100;
    wr(APIC_REG_TIMER_ICR, 5);
    ck_assert_uint_eq(apic_timer_deadline(&ap), 110);
    ck_assert_uint_eq(ccr_at(109), 1);
    ck_assert_uint_eq(ccr_at(110), 5); /* reloaded, even before the machine advances */
    ck_assert_uint_eq(ccr_at(125), 3);
    apic_timer_advance(&ap, 110);
    ck_assert(irr_bit(0x41));
    ck_assert_uint_eq(apic_timer_deadline(&ap), 120);
    ck_assert_uint_eq(ccr_at(113), 4);
    ck_assert_uint_eq(ccr_at(125), 3);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x41);
    apic_eoi(&ap);
    /* three periods (120, 130, 140) pass before the machine looks */
    apic_timer_advance(&ap, 145);
    ck_assert(irr_bit(0x41));
    ck_assert_uint_eq(evs[nev - 2].kind, APIC_EV_TIMER); /* then the accept */
    ck_assert_uint_eq(evs[nev - 2].d, 3);
    ck_assert_uint_eq(evs[nev - 2].b, APIC_TIMER_PERIODIC);
    ck_assert_uint_eq(apic_timer_deadline(&ap), 150);
    ck_assert_uint_eq(ccr_at(145), 3);
    ck_assert_uint_eq(ap.timer_fired, 4);
}
END_TEST

START_TEST(periodic_each_divisor)
{
    for (unsigned i = 0; i < 8; i++) {
        reset_apic();
        const uint64_t d = divisors[i];
        wr(APIC_REG_LVT_TIMER, 0x20050);
        wr(APIC_REG_TIMER_DCR, dcr_values[i]);
        wr(APIC_REG_TIMER_ICR, 3);
        for (unsigned k = 1; k <= 4; k++) {
            ck_assert_uint_eq(apic_timer_deadline(&ap), 3 * d * k);
            ck_assert_uint_eq(ccr_at(3 * d * k - 1), 1);
            apic_timer_advance(&ap, 3 * d * k);
            ck_assert_uint_eq(ccr_at(3 * d * k), 3);
        }
        ck_assert_uint_eq(timer_events(), 4);
    }
}
END_TEST

START_TEST(masked_timer_counts_without_interrupt)
{
    reset_apic();
    wr(APIC_REG_LVT_TIMER, 0x10042);
    wr(APIC_REG_TIMER_DCR, 0xB);
    cpu.cycles = 7;
    wr(APIC_REG_TIMER_ICR, 3);
    ck_assert_uint_eq(apic_timer_deadline(&ap), 10);
    cpu.events = 0;
    apic_timer_advance(&ap, 10);
    ck_assert(!irr_bit(0x42));
    ck_assert_uint_eq(cpu.events, 0);
    ck_assert_uint_eq(timer_events(), 1);
    ck_assert_uint_eq(evs[nev - 1].c, 1);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
}
END_TEST

START_TEST(zero_initial_count_stops)
{
    reset_apic();
    wr(APIC_REG_LVT_TIMER, 0x20040);
    wr(APIC_REG_TIMER_ICR, 50);
    cpu.cycles = 30;
    wr(APIC_REG_TIMER_ICR, 0);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
    ck_assert_uint_eq(ccr_at(40), 0);
    apic_timer_advance(&ap, 1000);
    ck_assert(!irr_bit(0x40));
}
END_TEST

START_TEST(register_writes_fire_a_due_timer_first)
{
    reset_apic();
    wr(APIC_REG_LVT_TIMER, 0x40);
    wr(APIC_REG_TIMER_DCR, 0xB);
    wr(APIC_REG_TIMER_ICR, 10); /* due at cycle 10 */
    cpu.cycles = 15;
    wr(APIC_REG_TIMER_ICR, 20); /* the expiry at 10 happened before this write */
    ck_assert(irr_bit(0x40));
    ck_assert_uint_eq(apic_timer_deadline(&ap), 35);
}
END_TEST

START_TEST(mode_switch_oneshot_periodic)
{
    reset_apic();
    wr(APIC_REG_LVT_TIMER, 0x40);
    wr(APIC_REG_TIMER_DCR, 0xB);
    wr(APIC_REG_TIMER_ICR, 10);
    apic_timer_advance(&ap, 10);
    cpu.cycles = 12;
    wr(APIC_REG_LVT_TIMER, 0x20040); /* an expired one-shot stays stopped */
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
    ck_assert_uint_eq(ccr_at(20), 0);
    wr(APIC_REG_TIMER_ICR, 4); /* periodic from cycle 20 */
    cpu.cycles = 22;
    wr(APIC_REG_LVT_TIMER, 0x40); /* one-shot from the next expiry on */
    ck_assert_uint_eq(apic_timer_deadline(&ap), 24);
    apic_timer_advance(&ap, 24);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
}
END_TEST

START_TEST(divide_change_mid_count)
{
    reset_apic();
    wr(APIC_REG_LVT_TIMER, 0x40);
    wr(APIC_REG_TIMER_DCR, 0x0);
    wr(APIC_REG_TIMER_ICR, 100); /* cycle 0, divide by 2 */
    cpu.cycles = 50;
    ck_assert_uint_eq(ccr_at(50), 75);
    wr(APIC_REG_TIMER_DCR, 0xB);
    ck_assert_uint_eq(ccr_at(60), 65);
    ck_assert_uint_eq(apic_timer_deadline(&ap), 125);
}
END_TEST

START_TEST(tsc_deadline_mode)
{
    reset_apic();
    uint64_t v;
    /* outside TSC-deadline mode the MSR ignores writes and reads 0 */
    wr(APIC_REG_LVT_TIMER, 0x40);
    ck_assert(apic_msr_write(&ap, APIC_MSR_TSC_DEADLINE, 500));
    ck_assert(apic_msr_read(&ap, APIC_MSR_TSC_DEADLINE, &v));
    ck_assert_uint_eq(v, 0);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
    /* entering the mode disarms the counting timer */
    wr(APIC_REG_TIMER_ICR, 1000);
    wr(APIC_REG_LVT_TIMER, 0x40043);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
    ck_assert_uint_eq(rd(APIC_REG_TIMER_ICR), 0);
    cpu.cycles = 1000;
    ck_assert(apic_msr_write(&ap, APIC_MSR_TSC_DEADLINE, 5000));
    ck_assert(apic_msr_read(&ap, APIC_MSR_TSC_DEADLINE, &v));
    ck_assert_uint_eq(v, 5000);
    ck_assert_uint_eq(apic_timer_deadline(&ap), 5000);
    wr(APIC_REG_TIMER_ICR, 7); /* ignored in this mode */
    ck_assert_uint_eq(rd(APIC_REG_TIMER_ICR), 0);
    ck_assert_uint_eq(ccr_at(2000), 0);
    apic_timer_advance(&ap, 4999);
    ck_assert(!irr_bit(0x43));
    apic_timer_advance(&ap, 5000);
    ck_assert(irr_bit(0x43));
    ck_assert(apic_msr_read(&ap, APIC_MSR_TSC_DEADLINE, &v));
    ck_assert_uint_eq(v, 0);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
    ck_assert_int_eq(apic_acknowledge(&ap), 0x43);
    apic_eoi(&ap);
    /* a deadline already past fires at once */
    cpu.cycles = 6000;
    ck_assert(apic_msr_write(&ap, APIC_MSR_TSC_DEADLINE, 100));
    ck_assert(irr_bit(0x43));
    ck_assert(apic_msr_read(&ap, APIC_MSR_TSC_DEADLINE, &v));
    ck_assert_uint_eq(v, 0);
    /* 0 disarms; leaving the mode clears the deadline */
    ck_assert(apic_msr_write(&ap, APIC_MSR_TSC_DEADLINE, 9000));
    ck_assert(apic_msr_write(&ap, APIC_MSR_TSC_DEADLINE, 0));
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
    ck_assert(apic_msr_write(&ap, APIC_MSR_TSC_DEADLINE, 9000));
    wr(APIC_REG_LVT_TIMER, 0x40);
    wr(APIC_REG_LVT_TIMER, 0x40043);
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
}
END_TEST

START_TEST(x2apic_timer_msrs)
{
    reset_apic();
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, apic_base_msr(&ap) | APIC_BASE_EXTD));
    ck_assert(apic_msr_write(&ap, 0x832, 0x20060));
    ck_assert(apic_msr_write(&ap, 0x83E, 0x1)); /* divide by 4 */
    cpu.cycles = 40;
    ck_assert(apic_msr_write(&ap, 0x838, 8));
    uint64_t v;
    cpu.cycles = 53;
    ck_assert(apic_msr_read(&ap, 0x839, &v));
    ck_assert_uint_eq(v, 5);
    ck_assert(!apic_msr_write(&ap, 0x839, 1));
    ck_assert_uint_eq(apic_timer_deadline(&ap), 72);
    apic_timer_advance(&ap, 72);
    ck_assert(irr_bit(0x60));
}
END_TEST

START_TEST(disabled_apic_timer_is_silent)
{
    reset_apic();
    wr(APIC_REG_LVT_TIMER, 0x40);
    wr(APIC_REG_TIMER_ICR, 10);
    ck_assert(apic_msr_write(&ap, APIC_MSR_BASE, APIC_DEFAULT_BASE | APIC_BASE_BSP));
    ck_assert_uint_eq(apic_timer_deadline(&ap), UINT64_MAX);
    apic_timer_advance(&ap, 1000);
    ck_assert(!irr_bit(0x40));
    ck_assert_uint_eq(timer_events(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apic_timer");
    TCase *tc = tcase_create("timer");
    tcase_add_test(tc, divide_configuration);
    tcase_add_test(tc, oneshot_each_divisor);
    tcase_add_test(tc, periodic_reload_and_late_advance);
    tcase_add_test(tc, periodic_each_divisor);
    tcase_add_test(tc, masked_timer_counts_without_interrupt);
    tcase_add_test(tc, zero_initial_count_stops);
    tcase_add_test(tc, register_writes_fire_a_due_timer_first);
    tcase_add_test(tc, mode_switch_oneshot_periodic);
    tcase_add_test(tc, divide_change_mid_count);
    tcase_add_test(tc, tsc_deadline_mode);
    tcase_add_test(tc, x2apic_timer_msrs);
    tcase_add_test(tc, disabled_apic_timer_is_silent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
