/*
 * test_machine.c — the machine in native mode, tested with real guests:
 *
 *   - the workload guest prints the checksums the same code computes
 *     natively here (guests/workload_algos.h) and exits 0;
 *   - determinism: two machines side by side, same guest, identical
 *     digests and clocks at several points, independent of how the run is
 *     sliced; the digest sees RAM, registers and APIC state;
 *   - the APIC timer (one-shot, periodic, TSC-deadline) fires at exact
 *     cycles and its interrupt is taken at the next boundary;
 *   - fixed IPIs (physical, logical, broadcast, shorthands, lowest
 *     priority, NMI) between 2..8 CPUs, each applied at the receiver's
 *     first boundary at or after the sender's cycle;
 *   - the MSI device (port 0xF0) delivers each message at or after its
 *     due cycle, and drops one for a CPU that does not exist;
 *   - CR8 and the TPR are one register;
 *   - crashes: an exception with no IDT and an unimplemented instruction
 *     under --strict end with status 3 and a diagnostic; the cycle limit
 *     with status 4;
 *   - stepping one CPU and pausing on an event keep the run going right.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "guests/workload_algos.h"

#define GUEST(name) APICV_GUEST_DIR "/" name ".elf"

typedef struct console_buf {
    char text[16384];
    size_t len;
} console_buf;

static void to_buf(void *ctx, unsigned cpu, uint8_t byte)
{
    (void)cpu;
    console_buf *b = ctx;
    if (b->len + 1 < sizeof(b->text)) {
        b->text[b->len++] = (char)byte;
        b->text[b->len] = 0;
    }
}

/* A machine on the heap (it is large) with its console captured. */
static emu_machine *make(const char *guest, unsigned ncpus, uint64_t max_cycles, bool strict,
                         console_buf *con)
{
    emu_machine *m = malloc(sizeof(*m));
    ck_assert_ptr_nonnull(m);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE; /* these tests pin the machine without a hypervisor */
    cfg.ncpus = ncpus;
    cfg.max_cycles = max_cycles;
    cfg.strict = strict;
    char err[512];
    bool ok = emu_machine_init(m, &cfg, guest, err, sizeof(err));
    ck_assert_msg(ok, "init %s: %s", guest, err);
    if (con) {
        memset(con, 0, sizeof(*con));
        m->console = to_buf;
        m->console_ctx = con;
    }
    return m;
}

static void destroy(emu_machine *m)
{
    emu_machine_free(m);
    free(m);
}

static int run_all(emu_machine *m)
{
    while (!emu_machine_run(m, UINT64_MAX))
        ;
    return m->exit_status;
}

/* ---- events recorded by an observer ---------------------------------------- */

#define MAX_EV 20000
typedef struct recorder {
    cpu_obs_event ev[MAX_EV];
    unsigned n;
} recorder;

static void record(void *ctx, const cpu_obs_event *ev)
{
    recorder *r = ctx;
    if (ev->kind == EMU_EV_CONSOLE)
        return;
    if (r->n < MAX_EV)
        r->ev[r->n++] = *ev;
}

/* ---- the workload ------------------------------------------------------------- */

static uint8_t crc_buf[WL_CRC_BYTES];
static uint32_t sort_buf[WL_SORT_N];
static uint8_t sieve_buf[WL_SIEVE_LIMIT];
static char pool[WL_STR_POOL];

START_TEST(workload_prints_native_checksums)
{
    struct wl_buffers b = {crc_buf, sort_buf, sieve_buf, pool};
    struct wl_results r;
    wl_step_crc(&r, &b);
    wl_step_sort(&r, &b);
    wl_step_sieve(&r, &b);
    wl_step_strings(&r, &b);
    char line[256];
    snprintf(line, sizeof(line), WL_LINE_FMT " OK\n", (unsigned)r.crc32, (unsigned)r.sort,
             (unsigned)r.sieve_count, (unsigned long long)r.sieve_sum, (unsigned)r.strings);

    console_buf con;
    emu_machine *m = make(GUEST("workload"), 1, 0, false, &con);
    ck_assert_int_eq(run_all(m), 0);
    ck_assert_msg(strstr(con.text, line) != NULL, "expected '%s' in:\n%s", line, con.text);
    ck_assert_uint_gt(emu_machine_insns(m), 100000000u);
    destroy(m);
}
END_TEST

/* ---- determinism ---------------------------------------------------------------- */

START_TEST(two_machines_side_by_side_agree)
{
    emu_machine *a = make(GUEST("machine_ipi"), 4, 0, false, NULL);
    emu_machine *b = make(GUEST("machine_ipi"), 4, 0, false, NULL);
    emu_machine *c = make(GUEST("machine_ipi"), 4, 0, false, NULL);
    uint64_t prev = 0;
    const uint64_t points[] = {10000, 30000, 60000, 100000, 200000, 400000};
    for (unsigned i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        emu_machine_run(a, points[i]);
        emu_machine_run(b, points[i]);
        /* c gets there in many small slices: the schedule must not care. */
        while (!c->finished && c->now < points[i])
            emu_machine_run(c, c->now + 777);
        uint64_t da, db, dc;
        emu_machine_digest(a, &da);
        emu_machine_digest(b, &db);
        emu_machine_digest(c, &dc);
        ck_assert_uint_eq(a->now, b->now);
        ck_assert_uint_eq(a->now, c->now);
        ck_assert_uint_eq(da, db);
        ck_assert_uint_eq(da, dc);
        for (unsigned k = 0; k < 4; k++) {
            ck_assert_uint_eq(a->cpu[k].cycles, b->cpu[k].cycles);
            ck_assert_uint_eq(a->cpu[k].insns, c->cpu[k].insns);
        }
        if (!a->finished)
            ck_assert_uint_ne(da, prev); /* the state moved on */
        prev = da;
    }
    ck_assert_int_eq(run_all(a), 0);
    ck_assert_int_eq(run_all(b), 0);
    ck_assert_uint_eq(a->now, b->now);
    ck_assert_uint_eq(emu_machine_insns(a), emu_machine_insns(b));
    destroy(a);
    destroy(b);
    destroy(c);
}
END_TEST

START_TEST(digest_sees_ram_registers_and_apic)
{
    emu_machine *a = make(GUEST("hello"), 2, 0, false, NULL);
    emu_machine_run(a, 20000);
    uint64_t d0, d1;
    emu_machine_digest(a, &d0);
    emu_machine_digest(a, &d1);
    ck_assert_uint_eq(d0, d1); /* taking a digest changes nothing */

    uint8_t byte;
    ck_assert(cpu_phys_read(&a->phys, 0x3000000, &byte, 1));
    byte ^= 1;
    cpu_phys_write(&a->phys, 0x3000000, &byte, 1);
    emu_machine_digest(a, &d1);
    ck_assert_uint_ne(d0, d1);
    byte ^= 1;
    cpu_phys_write(&a->phys, 0x3000000, &byte, 1);
    emu_machine_digest(a, &d1);
    ck_assert_uint_eq(d0, d1);

    a->cpu[1].gpr[CPU_R12] ^= 1;
    emu_machine_digest(a, &d1);
    ck_assert_uint_ne(d0, d1);
    a->cpu[1].gpr[CPU_R12] ^= 1;

    a->apic[1].tpr ^= 0x10;
    emu_machine_digest(a, &d1);
    ck_assert_uint_ne(d0, d1);
    a->apic[1].tpr ^= 0x10;
    emu_machine_digest(a, &d1);
    ck_assert_uint_eq(d0, d1);
    destroy(a);
}
END_TEST

/* ---- the APIC timer ----------------------------------------------------------------- */

START_TEST(apic_timer_fires_at_exact_cycles)
{
    console_buf con;
    recorder *r = calloc(1, sizeof(*r));
    emu_machine *m = make(GUEST("machine_timer"), 1, 0, false, &con);
    cpu_obs_subscribe(&m->obs, record, r);
    ck_assert_int_eq(run_all(m), 0);
    ck_assert_ptr_nonnull(strstr(con.text, "machine_timer: oneshot="));

    uint64_t due[16], fired_at[16], intr_at[16], tsc_written = 0;
    unsigned ndue = 0, nfired = 0, nintr = 0;
    for (unsigned i = 0; i < r->n; i++) {
        const cpu_obs_event *e = &r->ev[i];
        if (e->kind == EMU_EV_TIMER_DUE && ndue < 16)
            due[ndue++] = e->a;
        if (e->kind == APIC_EV_TIMER && nfired < 16) {
            ck_assert_uint_eq(e->a, 0x60);
            fired_at[nfired++] = e->cycle;
        }
        if (e->kind == CPU_EV_INTERRUPT && e->a == 0x60 && nintr < 16)
            intr_at[nintr++] = e->cycle;
        if (e->kind == CPU_EV_MSR_WRITE && e->a == 0x6E0)
            tsc_written = e->d;
    }
    /* one-shot, five periods, one TSC deadline */
    ck_assert_uint_eq(ndue, 7);
    ck_assert_uint_eq(nfired, 7);
    ck_assert_uint_eq(nintr, 7);
    ck_assert_uint_eq(m->apic[0].timer_fired, 7);
    ck_assert_uint_eq(m->stats.intr_apic[0], 7);
    for (unsigned k = 0; k < 7; k++) {
        /* fired at the first boundary at or after the deadline ... */
        ck_assert_uint_ge(fired_at[k], due[k]);
        ck_assert_uint_lt(fired_at[k], due[k] + 64);
        /* ... and taken at once (the guest waits with IF = 1) */
        ck_assert_uint_ge(intr_at[k], fired_at[k]);
        ck_assert_uint_lt(intr_at[k], fired_at[k] + 64);
    }
    /* periodic: divide 2 x count 15000, exactly 30000 cycles apart */
    for (unsigned k = 2; k < 6; k++)
        ck_assert_uint_eq(due[k] - due[k - 1], 30000);
    /* TSC deadline: exactly the value written to IA32_TSC_DEADLINE */
    ck_assert_uint_ne(tsc_written, 0);
    ck_assert_uint_eq(due[6], tsc_written);
    destroy(m);
    free(r);
}
END_TEST

/* ---- IPIs --------------------------------------------------------------------------- */

START_TEST(fixed_ipis_between_cpus)
{
    static const unsigned counts[] = {2, 3, 4, 8};
    unsigned ncpus = counts[_i];
    console_buf con;
    recorder *r = calloc(1, sizeof(*r));
    emu_machine *m = make(GUEST("machine_ipi"), ncpus, 0, false, &con);
    cpu_obs_subscribe(&m->obs, record, r);
    ck_assert_msg(run_all(m) == 0, "%s", con.text);
    char ok[64];
    snprintf(ok, sizeof(ok), "machine_ipi: %u CPUs OK", ncpus);
    ck_assert_ptr_nonnull(strstr(con.text, ok));

    /* Every routed message arrives at its receiver at the receiver's first
     * boundary at or after the sender's cycle. In this guest a (sender,
     * receiver, vector) triple is unique, so each route has one arrival. */
    unsigned routes = 0, arrivals = 0, nmis = 0;
    for (unsigned i = 0; i < r->n; i++) {
        const cpu_obs_event *e = &r->ev[i];
        if (e->kind == EMU_EV_IPI_ARRIVE) {
            arrivals++;
            nmis += e->b == APIC_DM_NMI;
        }
        if (e->kind != EMU_EV_IPI_ROUTE)
            continue;
        routes++;
        unsigned found = 0;
        for (unsigned j = 0; j < r->n; j++) {
            const cpu_obs_event *a = &r->ev[j];
            if (a->kind == EMU_EV_IPI_ARRIVE && a->cpu == e->b && a->a == e->a && a->d == e->d) {
                found++;
                ck_assert_uint_ge(a->cycle, e->c);
                ck_assert_uint_lt(a->cycle, e->c + 2 * m->cfg.quantum);
            }
        }
        ck_assert_msg(found == 1, "IPI %#llx from cpu%llu to cpu%llu arrived %u times",
                      (unsigned long long)e->a, (unsigned long long)e->d,
                      (unsigned long long)e->b, found);
    }
    ck_assert_uint_eq(routes, arrivals);
    ck_assert_uint_eq(routes, m->stats.ipis_routed);
    /* per message: 0x40 (n-1) + logical (n-1) + back (n-1) + broadcast n +
     * all-excl (n-1) + all-incl n + lowest 1 + NMI 1 */
    ck_assert_uint_eq(routes, 4 * (ncpus - 1) + 2 * ncpus + 2);
    ck_assert_uint_eq(nmis, 1);
    ck_assert_uint_eq(m->stats.nmi[1], 1);
    destroy(m);
    free(r);
}
END_TEST

/* ---- the MSI device ------------------------------------------------------------------ */

START_TEST(msi_device_delivers_at_due_cycle)
{
    unsigned ncpus = _i == 0 ? 1 : 4;
    console_buf con;
    recorder *r = calloc(1, sizeof(*r));
    emu_machine *m = make(GUEST("machine_msi"), ncpus, 0, false, &con);
    cpu_obs_subscribe(&m->obs, record, r);
    ck_assert_msg(run_all(m) == 0, "%s", con.text);
    ck_assert_ptr_nonnull(strstr(con.text, "CPUs OK"));
    ck_assert_uint_eq(m->stats.msi_raised, ncpus + 1);
    ck_assert_uint_eq(m->stats.msi_dropped, 1);
    ck_assert_uint_eq(m->stats.msi_delivered, ncpus);
    for (unsigned k = 0; k < ncpus; k++) {
        uint64_t due = 0, got = 0, taken = 0;
        for (unsigned i = 0; i < r->n; i++) {
            const cpu_obs_event *e = &r->ev[i];
            if (e->kind == EMU_EV_MSI_RAISE && e->b == k && !e->d)
                due = e->c;
            if (e->kind == EMU_EV_MSI_DELIVER && e->cpu == k)
                got = e->cycle;
            if (e->kind == CPU_EV_INTERRUPT && e->cpu == k && e->a == 0x70 + k)
                taken = e->cycle;
        }
        ck_assert_uint_ne(due, 0);
        ck_assert_uint_ge(got, due);
        ck_assert_uint_lt(got, due + 64);
        ck_assert_uint_ge(taken, got);
    }
    destroy(m);
    free(r);
}
END_TEST

START_TEST(cr8_is_the_tpr)
{
    console_buf con;
    emu_machine *m = make(GUEST("machine_cr8"), 1, 0, false, &con);
    ck_assert_msg(run_all(m) == 0, "%s", con.text);
    ck_assert_ptr_nonnull(strstr(con.text, "machine_cr8: OK"));
    ck_assert_uint_eq(m->cpu[0].cr8, 0);
    destroy(m);
}
END_TEST

/* PAUSE yields (emu_machine.c): CPU 0 spinning on PAUSE sees CPU 1's flag
 * within the yield gap of its write, not a scheduling round later (the
 * guest checks it: worst 9470 cycles before), and the run is the same when
 * a caller slices it mid-round, inside a yield's catch-up included. */
START_TEST(pause_yields_to_later_cpus)
{
    static console_buf con, sliced;
    emu_machine *a = make(GUEST("pause_yield"), 2, 0, false, &con);
    ck_assert_msg(run_all(a) == 0, "%s", con.text);
    ck_assert_ptr_nonnull(strstr(con.text, "pause_yield: OK"));
    emu_machine *b = make(GUEST("pause_yield"), 2, 0, false, &sliced);
    for (unsigned n = 0; !b->finished; n++) {
        if (n % 3 == 0)
            emu_machine_step_any(b);
        else
            emu_machine_step(b, n % 3 - 1, 97 + n % 13);
    }
    ck_assert_int_eq(b->exit_status, 0);
    ck_assert_str_eq(sliced.text, con.text);
    for (unsigned k = 0; k < 2; k++) {
        ck_assert_uint_eq(a->cpu[k].insns, b->cpu[k].insns);
        ck_assert_uint_eq(a->cpu[k].cycles, b->cpu[k].cycles);
    }
    destroy(a);
    destroy(b);
}
END_TEST

/* IA32_APIC_BASE.EN = 0 (SDM 11.4.3): CPUID stops reporting the APIC, and
 * enabling it again gives the power-up state, initial APIC ID included. */
START_TEST(apic_global_disable)
{
    console_buf con;
    emu_machine *m = make(GUEST("machine_apic_off"), 1, 0, false, &con);
    ck_assert_msg(run_all(m) == 0, "%s", con.text);
    ck_assert_ptr_nonnull(strstr(con.text, "machine_apic_off: OK (ID written 5, 0 after re-enable)"));
    /* enabled again: CPUID is not intercepted any more (--cpu max) */
    ck_assert_uint_eq(m->cpu[0].icpt_mask & (1u << CPU_ICPT_CPUID), 0);
    destroy(m);
}
END_TEST

/* An IPI travels `ipi` cycles to another CPU (docs/cost-model.md) but
 * reaches the sender's own APIC at the send, whether the ICR names it by
 * ID or by "all including self": kvm-unit-tests' apic.flat sends NMIs to
 * itself by ID from the NMI handler and expects them held while it runs. */
START_TEST(ipi_to_own_apic_does_not_travel)
{
    emu_machine *m = make(GUEST("hello"), 2, 0, false, NULL);
    apic_t *a = &m->apic[0];
    uint64_t now = m->cpu[0].cycles, trip = m->cpu[0].costs->cost[CPU_COST_IPI];
    ck_assert_uint_gt(trip, 0);
    ck_assert(apic_mmio_write(a, APIC_REG_ICR_HI, 4, 0u << 24)); /* APIC ID 0: itself */
    ck_assert(apic_mmio_write(a, APIC_REG_ICR_LO, 4, (4u << 8) | (1u << 14))); /* NMI */
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[0]), now);
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[1]), UINT64_MAX);
    ck_assert(apic_mmio_write(a, APIC_REG_ICR_HI, 4, 1u << 24)); /* CPU 1 */
    ck_assert(apic_mmio_write(a, APIC_REG_ICR_LO, 4, (4u << 8) | (1u << 14)));
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[1]), now + trip);
    destroy(m);
    m = make(GUEST("hello"), 2, 0, false, NULL);
    a = &m->apic[0];
    now = m->cpu[0].cycles;
    ck_assert(apic_mmio_write(a, APIC_REG_ICR_LO, 4, (2u << 18) | (4u << 8) | (1u << 14))); /* all incl. self */
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[0]), now);
    ck_assert_uint_eq(emu_evq_next_cycle(&m->evq[1]), now + trip);
    destroy(m);
}
END_TEST

/* ---- crashes and limits ---------------------------------------------------------------- */

START_TEST(exception_without_idt_is_a_crash)
{
    emu_machine *m = make(GUEST("machine_noidt"), 2, 0, false, NULL);
    ck_assert_int_eq(run_all(m), EMU_EXIT_CRASH);
    ck_assert_msg(strstr(m->diag, "cpu0") && strstr(m->diag, "RIP 0x") &&
                      strstr(m->diag, "0f 0b") && strstr(m->diag, "triple fault"),
                  "diag: %s", m->diag);
    destroy(m);
}
END_TEST

START_TEST(unimplemented_instruction_strict_is_a_crash)
{
    emu_machine *m = make(GUEST("machine_unimpl"), 1, 0, true, NULL);
    ck_assert_int_eq(run_all(m), EMU_EXIT_CRASH);
    ck_assert_msg(strstr(m->diag, "cpu0") && strstr(m->diag, "unimplemented") &&
                      strstr(m->diag, "d9 e8"),
                  "diag: %s", m->diag);
    destroy(m);
    /* without --strict the guest sees #UD and its handler exits 0x7F */
    m = make(GUEST("machine_unimpl"), 1, 0, false, NULL);
    ck_assert_int_eq(run_all(m), 0x7F);
    ck_assert_uint_eq(m->cpu[0].unimplemented_count, 1);
    destroy(m);
}
END_TEST

START_TEST(cycle_limit_ends_with_status_4)
{
    emu_machine *m = make(GUEST("loop"), 2, 1234567, false, NULL);
    ck_assert_int_eq(run_all(m), EMU_EXIT_CYCLES);
    ck_assert_uint_eq(m->now, 1234567);
    ck_assert_ptr_nonnull(strstr(m->diag, "1234567"));
    ck_assert_uint_ge(m->cpu[0].cycles, 1234567);
    destroy(m);
}
END_TEST

/* ---- stepping and pausing ------------------------------------------------------------------ */

START_TEST(step_one_cpu_keeps_the_run)
{
    emu_machine *m = make(GUEST("machine_ipi"), 2, 0, false, NULL);
    uint64_t before = m->cpu[1].insns;
    ck_assert_int_eq(emu_machine_step(m, 1, 500), CPU_STOP_INSNS);
    ck_assert_uint_eq(m->cpu[1].insns, before + 500);
    ck_assert_int_eq(emu_machine_step(m, 1, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(m->cpu[1].insns, before + 501);
    /* cpu 0 took its turn first, as in a free run */
    ck_assert_uint_gt(m->cpu[0].insns, 0);
    ck_assert_int_eq(run_all(m), 0);
    destroy(m);
}
END_TEST

typedef struct pauser {
    emu_machine *m;
    unsigned kind;
    uint64_t hits;
} pauser;

static void pause_on(void *ctx, const cpu_obs_event *ev)
{
    pauser *p = ctx;
    if (ev->kind == p->kind) {
        p->hits++;
        emu_machine_pause(p->m);
    }
}

START_TEST(pause_on_event_and_resume)
{
    emu_machine *m = make(GUEST("machine_timer"), 1, 0, false, NULL);
    pauser p = {m, CPU_EV_INTERRUPT, 0};
    cpu_obs_subscribe(&m->obs, pause_on, &p);
    unsigned pauses = 0;
    while (!emu_machine_run(m, UINT64_MAX)) {
        pauses++;
        ck_assert_uint_eq(p.hits, pauses); /* stopped right after each interrupt */
    }
    ck_assert_int_eq(m->exit_status, 0);
    ck_assert_uint_eq(pauses, 7);
    destroy(m);
}
END_TEST

START_TEST(vmx_modes_run_under_the_hypervisor)
{
    emu_machine *m = malloc(sizeof(*m));
    emu_config cfg;
    emu_config_default(&cfg);
    ck_assert_int_eq(cfg.mode, EMU_MODE_POSTED); /* the default */
    char err[256];
    for (unsigned mode = EMU_MODE_EMULATED; mode < EMU_MODE_COUNT; mode++) {
        cfg.mode = (emu_mode)mode;
        ck_assert_msg(emu_machine_init(m, &cfg, GUEST("hello"), err, sizeof(err)), "%s", err);
        ck_assert_ptr_nonnull(m->hv_ops);
        ck_assert_ptr_nonnull(m->hv);
        /* a guest step is exact under the hypervisor too */
        uint64_t before = m->cpu[0].insns;
        ck_assert_int_eq(emu_machine_step(m, 0, 3), CPU_STOP_INSNS);
        ck_assert_uint_eq(m->cpu[0].insns, before + 3);
        emu_machine_run(m, UINT64_MAX);
        ck_assert_int_eq(m->exit_status, 0);
        emu_machine_free(m);
    }
    cfg.mode = EMU_MODE_NATIVE;
    cfg.ncpus = 9;
    ck_assert(!emu_machine_init(m, &cfg, GUEST("hello"), err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "--cpus"));
    free(m);
}
END_TEST

/* A cost model with a class of 0 cycles could run loop.elf (or an exit
 * loop) without moving the clock, so that --max-cycles never ended it: the
 * machine refuses it, whoever built it (a trace header, a caller). */
START_TEST(zero_cost_model_is_refused)
{
    emu_machine *m = malloc(sizeof(*m));
    emu_config cfg;
    emu_config_default(&cfg);
    cpu_cost_model costs;
    memset(&costs, 0, sizeof(costs));
    cfg.costs = &costs;
    cfg.mode = EMU_MODE_NATIVE;
    cfg.max_cycles = 100000;
    char err[256];
    ck_assert(!emu_machine_init(m, &cfg, GUEST("loop"), err, sizeof(err)));
    ck_assert_str_eq(err, "cost model: cost of 'simple' must be 1..10000 cycles, got 0");
    cpu_cost_default(&costs);
    costs.cost[CPU_COST_VMEXIT] = 0;
    cfg.mode = EMU_MODE_POSTED;
    ck_assert(!emu_machine_init(m, &cfg, GUEST("loop"), err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "'vmexit'"));
    cpu_cost_default(&costs);
    costs.cost[CPU_COST_MEM] = 0;
    ck_assert_msg(emu_machine_init(m, &cfg, GUEST("loop"), err, sizeof(err)), "%s", err);
    emu_machine_run(m, UINT64_MAX);
    ck_assert_int_eq(m->exit_status, EMU_EXIT_CYCLES);
    emu_machine_free(m);
    free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("machine");
    TCase *t = tcase_create("native");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, workload_prints_native_checksums);
    tcase_add_test(t, two_machines_side_by_side_agree);
    tcase_add_test(t, digest_sees_ram_registers_and_apic);
    tcase_add_test(t, apic_timer_fires_at_exact_cycles);
    tcase_add_loop_test(t, fixed_ipis_between_cpus, 0, 4);
    tcase_add_loop_test(t, msi_device_delivers_at_due_cycle, 0, 2);
    tcase_add_test(t, cr8_is_the_tpr);
    tcase_add_test(t, pause_yields_to_later_cpus);
    tcase_add_test(t, apic_global_disable);
    tcase_add_test(t, ipi_to_own_apic_does_not_travel);
    tcase_add_test(t, exception_without_idt_is_a_crash);
    tcase_add_test(t, unimplemented_instruction_strict_is_a_crash);
    tcase_add_test(t, cycle_limit_ends_with_status_4);
    tcase_add_test(t, step_one_cpu_keeps_the_run);
    tcase_add_test(t, pause_on_event_and_resume);
    tcase_add_test(t, vmx_modes_run_under_the_hypervisor);
    tcase_add_test(t, zero_cost_model_is_refused);
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
