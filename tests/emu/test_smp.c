/*
 * test_smp.c — INIT and STARTUP IPIs on the machine (emu/emu_smp.c; SDM
 * Vol. 3A 9.4, 11.4.7.3, 11.6.1): INIT by physical, logical and
 * all-excluding-self destinations puts CPUs in wait-for-SIPI with the
 * INIT register state and a reset local APIC; a SIPI starts a waiting CPU
 * in real mode at CS = V << 8, IP = 0, and is ignored by a CPU that is not
 * waiting; INIT-SIPI-SIPI and INIT + SIPI both start it once; a waiting
 * CPU takes no interrupt or NMI; INIT and SIPI are latched at the send.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_internal.h"

#define GUEST(name) APICV_GUEST_DIR "/" name ".elf"

static emu_machine *make(unsigned ncpus)
{
    emu_machine *m = malloc(sizeof(*m));
    ck_assert_ptr_nonnull(m);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.ncpus = ncpus;
    char err[512];
    ck_assert_msg(emu_machine_init(m, &cfg, GUEST("hello"), err, sizeof(err)), "%s", err);
    for (unsigned k = 0; k < ncpus; k++)
        apic_mmio_write(&m->apic[k], APIC_REG_SVR, 4, APIC_SVR_ENABLE | 0xFF);
    return m;
}

static void done(emu_machine *m)
{
    emu_machine_free(m);
    free(m);
}

/* CPU 0 writes the ICR; every queued message is applied and each CPU's
 * events hook runs, as at their next boundaries. */
static void send(emu_machine *m, uint32_t lo, uint32_t dest)
{
    apic_mmio_write(&m->apic[0], APIC_REG_ICR_HI, 4, dest << 24);
    apic_mmio_write(&m->apic[0], APIC_REG_ICR_LO, 4, lo);
    for (unsigned k = 0; k < m->cfg.ncpus; k++) {
        emu_qevent ev;
        while (emu_evq_pop_due(&m->evq[k], UINT64_MAX, &ev))
            emu_apply_event(m, &ev);
        cpu_t *c = &m->cpu[k];
        if (c->events & CPU_EVT_INTR)
            c->hooks.events(c->hooks.ctx, c);
    }
}

#define INIT_IPI (5u << 8 | 1u << 14)
#define SIPI(v) (6u << 8 | 1u << 14 | (v))
#define ALL_BUT_SELF (3u << 18)
#define LOGICAL (1u << 11)

static void assert_waiting(emu_machine *m, unsigned k)
{
    cpu_t *c = &m->cpu[k];
    ck_assert(m->wait_sipi[k]);
    ck_assert(c->halted);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    ck_assert_uint_eq(c->rip, 0xFFF0);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, 0xF000);
    ck_assert_uint_eq(c->seg[CPU_CS].base, 0xFFFF0000ull);
    /* SDM Table 9-1 note: INIT leaves CD and NW as they were. */
    ck_assert_uint_eq(c->cr0 & ~(uint64_t)(CPU_CR0_CD | CPU_CR0_NW), CPU_CR0_ET);
    ck_assert_uint_eq(c->efer, 0);
    /* The local APIC's INIT reset: software-disabled, ID kept. */
    ck_assert_uint_eq(m->apic[k].svr, 0xFF);
    ck_assert_uint_eq(apic_id(&m->apic[k]), k);
}

static void assert_started(emu_machine *m, unsigned k, uint8_t v)
{
    cpu_t *c = &m->cpu[k];
    ck_assert(!m->wait_sipi[k]);
    ck_assert(!c->halted);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, (uint16_t)(v << 8));
    ck_assert_uint_eq(c->seg[CPU_CS].base, (uint64_t)v << 12);
    ck_assert_uint_eq(c->rip, 0);
}

START_TEST(init_sipi_sipi_all_excluding_self)
{
    emu_machine *m = make(4);
    send(m, INIT_IPI | ALL_BUT_SELF, 0);
    ck_assert(!m->wait_sipi[0]);
    ck_assert_int_eq(m->cpu[0].mode, CPU_MODE_LONG64);
    for (unsigned k = 1; k < 4; k++)
        assert_waiting(m, k);
    send(m, SIPI(0x9A) | ALL_BUT_SELF, 0);
    for (unsigned k = 1; k < 4; k++)
        assert_started(m, k, 0x9A);
    /* The second SIPI finds them running: ignored. */
    m->cpu[2].rip = 0x1234;
    send(m, SIPI(0x55) | ALL_BUT_SELF, 0);
    assert_started(m, 1, 0x9A);
    ck_assert_uint_eq(m->cpu[2].rip, 0x1234);
    ck_assert_uint_eq(m->cpu[2].seg[CPU_CS].sel, 0x9A00);
    done(m);
}
END_TEST

START_TEST(init_and_sipi_physical)
{
    emu_machine *m = make(3);
    m->cpu[2].cr0 = (m->cpu[2].cr0 & ~(uint64_t)CPU_CR0_NW) | CPU_CR0_CD;
    m->cpu[2].star = 0x1234;
    send(m, INIT_IPI, 2);
    assert_waiting(m, 2);
    /* INIT keeps CD/NW and the MSRs (the cpu's own INIT, cpu_reset). */
    ck_assert_uint_eq(m->cpu[2].cr0 & (CPU_CR0_CD | CPU_CR0_NW), CPU_CR0_CD);
    ck_assert_uint_eq(m->cpu[2].star, 0x1234);
    ck_assert_uint_eq(m->cpu[2].gpr[CPU_RDX] & 0xF00, 0x600); /* family 6 signature */
    ck_assert(!m->wait_sipi[1]);
    send(m, SIPI(0x10), 1); /* CPU 1 is not waiting: ignored */
    ck_assert_int_eq(m->cpu[1].mode, CPU_MODE_LONG64);
    send(m, SIPI(0x10), 2);
    assert_started(m, 2, 0x10);
    done(m);
}
END_TEST

START_TEST(init_logical_destination)
{
    emu_machine *m = make(3);
    /* Flat model: CPU 2's logical ID is bit 2. */
    for (unsigned k = 0; k < 3; k++)
        apic_mmio_write(&m->apic[k], APIC_REG_LDR, 4, (1u << k) << 24);
    send(m, INIT_IPI | LOGICAL, 1u << 2);
    assert_waiting(m, 2);
    ck_assert(!m->wait_sipi[1]);
    done(m);
}
END_TEST

START_TEST(waiting_cpu_takes_no_interrupt_or_nmi)
{
    emu_machine *m = make(2);
    send(m, INIT_IPI, 1);
    assert_waiting(m, 1);
    apic_mmio_write(&m->apic[1], APIC_REG_SVR, 4, APIC_SVR_ENABLE | 0xFF);
    send(m, 4u << 8 | 1u << 14, 1); /* NMI */
    send(m, 0x40 | 1u << 14, 1);    /* fixed 0x40 */
    ck_assert(m->wait_sipi[1]);
    ck_assert(m->cpu[1].halted);
    ck_assert_uint_eq(m->cpu[1].rip, 0xFFF0);
    ck_assert(m->apic[1].nmi_pending);
    done(m);
}
END_TEST

/* INIT and SIPI do not travel (docs/cost-model.md): both are due at once
 * at the receiver — here behind the sender's clock, at its own — while a
 * fixed IPI takes the `ipi` trip. Written back to back, as kvm-unit-tests'
 * start-up does, and applied at the same boundary, the INIT is performed
 * first and the SIPI then starts the CPU (it is not lost in the INIT's
 * APIC reset). */
START_TEST(init_and_sipi_latched_at_the_send)
{
    emu_machine *m = make(2);
    m->cpu[0].cycles = 5000;
    m->cpu[1].cycles = 1000;
    uint64_t trip = m->cpu[0].costs->cost[CPU_COST_IPI];
    ck_assert_uint_gt(trip, 0);
    apic_mmio_write(&m->apic[0], APIC_REG_ICR_HI, 4, 1u << 24);
    apic_mmio_write(&m->apic[0], APIC_REG_ICR_LO, 4, 0x40 | 1u << 14);
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[1]), 5000 + trip);
    emu_qevent ev;
    while (emu_evq_pop_due(&m->evq[1], UINT64_MAX, &ev))
        ;
    apic_mmio_write(&m->apic[0], APIC_REG_ICR_LO, 4, INIT_IPI);
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[1]), 1000);
    apic_mmio_write(&m->apic[0], APIC_REG_ICR_LO, 4, SIPI(0x9B));
    ck_assert(!m->wait_sipi[1]);
    while (emu_evq_pop_due(&m->evq[1], m->cpu[1].cycles, &ev))
        emu_apply_event(m, &ev);
    ck_assert(emu_evq_next_cycle(&m->evq[1]) == UINT64_MAX);
    m->cpu[1].hooks.events(m->cpu[1].hooks.ctx, &m->cpu[1]);
    assert_started(m, 1, 0x9B);
    /* A receiver ahead of the sender takes them at the send's cycle. */
    m->cpu[1].cycles = 9000;
    apic_mmio_write(&m->apic[0], APIC_REG_ICR_LO, 4, INIT_IPI);
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[1]), 5000);
    done(m);
}
END_TEST

START_TEST(hold_aps_and_digest)
{
    emu_machine *m = make(3);
    uint64_t before, after;
    emu_machine_digest(m, &before);
    emu_smp_hold_aps(m);
    emu_machine_digest(m, &after);
    ck_assert_uint_ne(before, after);
    ck_assert(!m->wait_sipi[0]);
    assert_waiting(m, 1);
    assert_waiting(m, 2);
    done(m);
}
END_TEST

static char out[4096];
static size_t outlen;

static void to_out(void *ctx, unsigned cpu, uint8_t byte)
{
    (void)ctx, (void)cpu;
    if (outlen + 1 < sizeof(out)) {
        out[outlen++] = (char)byte;
        out[outlen] = 0;
    }
}

/* guests/machine_init.c: INIT from a running guest stops its receiver. */
START_TEST(guest_init_stops_the_receiver)
{
    emu_machine *m = malloc(sizeof(*m));
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.ncpus = 2;
    cfg.max_cycles = 500000000ull;
    char err[512];
    ck_assert_msg(emu_machine_init(m, &cfg, GUEST("machine_init"), err, sizeof(err)), "%s", err);
    outlen = 0;
    out[0] = 0;
    m->console = to_out;
    emu_machine_run(m, UINT64_MAX);
    ck_assert_msg(m->finished && m->exit_status == 0, "status %d %s\n%s", m->exit_status, m->diag, out);
    ck_assert_ptr_nonnull(strstr(out, "init: cpu1 stopped in wait-for-SIPI"));
    ck_assert(m->wait_sipi[1]);
    ck_assert(!m->wait_sipi[0]);
    done(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("smp");
    TCase *t = tcase_create("smp");
    tcase_add_test(t, init_sipi_sipi_all_excluding_self);
    tcase_add_test(t, init_and_sipi_physical);
    tcase_add_test(t, init_logical_destination);
    tcase_add_test(t, waiting_cpu_takes_no_interrupt_or_nmi);
    tcase_add_test(t, hold_aps_and_digest);
    tcase_add_test(t, init_and_sipi_latched_at_the_send);
    tcase_add_test(t, guest_init_stops_the_receiver);
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
