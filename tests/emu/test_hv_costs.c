/*
 * test_hv_costs.c — where the cost model's VMX, hypervisor and interrupt
 * classes are charged (docs/cost-model.md), each measured between two
 * events of the bus:
 *
 *   - a VMCALL exit: from the VM exit (stamped when the host gets control)
 *     to the next VM entry (stamped when the guest starts) is exactly the
 *     host's handling (hv_vmcall) plus the entry (vmentry), whatever the
 *     model says;
 *   - posted-interrupt processing: from the notification's recognition
 *     (vmx.pi-nv-match) to ON cleared (step 3) is pi_process;
 *   - virtual-interrupt delivery: from vmx.vintr-delivered to the IDT
 *     delivery (cpu.interrupt) is vid;
 *   - an IPI's trip: a native IPI is due `ipi` cycles after its send
 *     (emu.ipi-route, field c);
 *   - the processor's extra for an exit reason (exit_extint,
 *     exit_apic_access, exit_apic_write): the first exit of that reason,
 *     from the entry before it, takes exactly the class's cycles more when
 *     the class is raised (everything before it ran the same).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_scenario.h"
#include "vmx/vmx.h"
#include "vmx/vmx_vmcs.h"

static emu_machine machine;
static emu_scenario scn;

/* The first interval between an event of kind `from` and the next of kind
 * `to` on CPU `cpu` (with a = from_a when from_a >= 0). */
typedef struct gap {
    unsigned cpu, from, to;
    long from_a;
    long to_a; /* -1: any; else an event of kind `to` with another a disarms */
    uint64_t from_cycle;
    bool armed;
    long long first;   /* -1 until measured */
    unsigned n;        /* intervals measured */
    bool all_equal;    /* every interval equal to the first */
} gap;

static void on_event(void *ctx, const cpu_obs_event *ev)
{
    gap *g = ctx;
    if (ev->cpu != g->cpu)
        return;
    if (ev->kind == g->from && (g->from_a < 0 || ev->a == (uint64_t)g->from_a)) {
        g->from_cycle = ev->cycle;
        g->armed = true;
    } else if (ev->kind == g->to && g->armed) {
        if (g->to_a >= 0 && ev->a != (uint64_t)g->to_a) {
            g->armed = false;
            return;
        }
        long long d = (long long)(ev->cycle - g->from_cycle);
        if (g->first < 0)
            g->first = d;
        else if (d != g->first)
            g->all_equal = false;
        g->n++;
        g->armed = false;
    }
}

static void gap_init(gap *g, unsigned cpu, unsigned from, long from_a, unsigned to)
{
    memset(g, 0, sizeof(*g));
    g->cpu = cpu;
    g->from = from;
    g->from_a = from_a;
    g->to_a = -1;
    g->to = to;
    g->first = -1;
    g->all_equal = true;
}

/* vmcall_loop.elf (a VMCALL per 3 instructions) in posted mode for 200 000
 * cycles with `costs`: every VMCALL exit's root time. */
static gap vmcall_gap(const cpu_cost_model *costs)
{
    char g[1024], err[512];
    snprintf(g, sizeof(g), "%s/vmcall_loop.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_POSTED;
    cfg.costs = costs;
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    gap gp;
    gap_init(&gp, 0, VMX_EV_VMEXIT, VMX_EXIT_VMCALL, VMX_EV_VMENTRY);
    ck_assert(cpu_obs_subscribe(&machine.obs, on_event, &gp));
    emu_machine_run(&machine, 200000);
    emu_machine_free(&machine);
    return gp;
}

START_TEST(vmcall_round_trip_is_handler_plus_entry)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    gap d = vmcall_gap(&m);
    ck_assert_uint_gt(d.n, 50);
    ck_assert(d.all_equal);
    ck_assert_int_eq(d.first, m.cost[CPU_COST_HV_VMCALL] + m.cost[CPU_COST_VMENTRY]);
    m.cost[CPU_COST_HV_VMCALL] = 1234;
    m.cost[CPU_COST_VMENTRY] = 77;
    d = vmcall_gap(&m);
    ck_assert(d.all_equal);
    ck_assert_int_eq(d.first, 1234 + 77);
    /* The host's time may be 0: only the entry remains. */
    m.cost[CPU_COST_HV_VMCALL] = 0;
    d = vmcall_gap(&m);
    ck_assert_int_eq(d.first, 77);
}
END_TEST

/* Scenario `name` with `costs`, measuring one gap on CPU `cpu` (to events
 * with a = to_a only, when to_a >= 0). */
static gap scn_gap(const char *name, const cpu_cost_model *costs, unsigned cpu, unsigned from,
                   unsigned to, long to_a)
{
    char path[1200], guest[1024], err[1024];
    snprintf(path, sizeof(path), "%s/scenarios/%s", APICV_SOURCE_DIR, name);
    ck_assert_msg(emu_scenario_load(path, &scn, err, sizeof(err)), "%s", err);
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(&scn, &cfg);
    cfg.costs = costs;
    ck_assert_msg(emu_scenario_guest_path(&scn, APICV_GUEST_DIR, guest, sizeof(guest), err,
                                          sizeof(err)),
                  "%s", err);
    ck_assert_msg(emu_machine_init(&machine, &cfg, guest, err, sizeof(err)), "%s", err);
    gap gp;
    gap_init(&gp, cpu, from, -1, to);
    gp.to_a = to_a;
    ck_assert(cpu_obs_subscribe(&machine.obs, on_event, &gp));
    ck_assert_msg(emu_scenario_apply(&scn, &machine, err, sizeof(err)), "%s", err);
    while (!emu_machine_run(&machine, machine.now + 1000000))
        ;
    ck_assert_int_eq(machine.exit_status, 0);
    emu_machine_free(&machine);
    emu_scenario_free(&scn);
    return gp;
}

/* posted_demo.scn with `costs`, measuring one gap on vCPU 1. */
static gap posted_gap(const cpu_cost_model *costs, unsigned from, unsigned to)
{
    return scn_gap("posted_demo.scn", costs, 1, from, to, -1);
}

/* The first entry-to-exit interval of exit `reason` in scenario `name`
 * grows by exactly the extra of class `cls`. */
static void check_exit_extra(const char *name, uint32_t reason, cpu_cost_class cls)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    m.cost[cls] = 0;
    gap base = scn_gap(name, &m, 0, VMX_EV_VMENTRY, VMX_EV_VMEXIT, reason);
    m.cost[cls] = 777;
    gap more = scn_gap(name, &m, 0, VMX_EV_VMENTRY, VMX_EV_VMEXIT, reason);
    ck_assert_msg(base.n > 0 && more.n == base.n, "%s: %u and %u exits %u", name, base.n, more.n,
                  reason);
    ck_assert_msg(more.first - base.first == 777, "%s exit %u: %lld cycles more with %s 777",
                  name, reason, more.first - base.first, cpu_cost_name(cls));
}

START_TEST(exit_extras_in_the_hypervisors_runs)
{
    check_exit_extra("irq_emulated.scn", VMX_EXIT_EXTERNAL_INTERRUPT, CPU_COST_EXIT_EXTINT);
    check_exit_extra("irq_emulated.scn", VMX_EXIT_APIC_ACCESS, CPU_COST_EXIT_APIC_ACCESS);
    check_exit_extra("posted_demo.scn", VMX_EXIT_APIC_WRITE, CPU_COST_EXIT_APIC_WRITE);
}
END_TEST

START_TEST(posted_processing_and_delivery_costs)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    gap pi = posted_gap(&m, VMX_EV_PI_NV_MATCH, VMX_EV_PI_ON_CLEAR);
    ck_assert_uint_eq(pi.n, 2); /* 41h and 42h reach vCPU 1 */
    ck_assert(pi.all_equal);
    ck_assert_int_eq(pi.first, m.cost[CPU_COST_PI_PROCESS]);
    gap vid = posted_gap(&m, VMX_EV_VINTR_DELIVERED, CPU_EV_INTERRUPT);
    ck_assert_uint_eq(vid.n, 2);
    ck_assert_int_eq(vid.first, m.cost[CPU_COST_VID]);
    m.cost[CPU_COST_PI_PROCESS] = 333;
    m.cost[CPU_COST_VID] = 0;
    pi = posted_gap(&m, VMX_EV_PI_NV_MATCH, VMX_EV_PI_ON_CLEAR);
    ck_assert_int_eq(pi.first, 333);
    vid = posted_gap(&m, VMX_EV_VINTR_DELIVERED, CPU_EV_INTERRUPT);
    ck_assert_int_eq(vid.first, 0);
}
END_TEST

typedef struct route_log {
    unsigned n;
    uint64_t sent[8], due[8];
} route_log;

static void on_route(void *ctx, const cpu_obs_event *ev)
{
    route_log *r = ctx;
    if (ev->kind == EMU_EV_IPI_ROUTE && r->n < 8) {
        r->sent[r->n] = ev->cycle;
        r->due[r->n] = ev->c;
        r->n++;
    }
}

static route_log native_routes(const cpu_cost_model *costs)
{
    char g[1024], err[512];
    snprintf(g, sizeof(g), "%s/apic_ipi.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.ncpus = 2;
    cfg.costs = costs;
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    route_log r;
    memset(&r, 0, sizeof(r));
    ck_assert(cpu_obs_subscribe(&machine.obs, on_route, &r));
    while (!emu_machine_run(&machine, machine.now + 1000000))
        ;
    ck_assert_int_eq(machine.exit_status, 0);
    emu_machine_free(&machine);
    return r;
}

START_TEST(native_ipi_trip)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    route_log r = native_routes(&m);
    ck_assert_uint_ge(r.n, 2);
    for (unsigned k = 0; k < r.n; k++)
        ck_assert_uint_eq(r.due[k] - r.sent[k], m.cost[CPU_COST_IPI]);
    m.cost[CPU_COST_IPI] = 0;
    r = native_routes(&m);
    ck_assert_uint_ge(r.n, 2);
    for (unsigned k = 0; k < r.n; k++)
        ck_assert_uint_eq(r.due[k], r.sent[k]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hv_costs");
    TCase *t = tcase_create("costs");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, vmcall_round_trip_is_handler_plus_entry);
    tcase_add_test(t, posted_processing_and_delivery_costs);
    tcase_add_test(t, native_ipi_trip);
    tcase_add_test(t, exit_extras_in_the_hypervisors_runs);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
