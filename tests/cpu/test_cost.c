/*
 * test_cost.c — the cost model table (cpu/cpu_cost.c, docs/cost-model.md):
 * the VMX transition classes, the hypervisor's per-exit-reason classes,
 * the file format and the rule that every instruction class but mem, and
 * VM entry and exit, cost at least one cycle (so that a run bounded by
 * cycles always ends).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"

static char path[] = "/tmp/apicv-cost-XXXXXX";

/* Writes text to a fresh temporary file; its name is in path. */
static void write_file(const char *text)
{
    strcpy(path, "/tmp/apicv-cost-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(transition_classes_are_named_and_nonzero)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    ck_assert_str_eq(cpu_cost_name(CPU_COST_VMENTRY), "vmentry");
    ck_assert_str_eq(cpu_cost_name(CPU_COST_VMEXIT), "vmexit");
    ck_assert_uint_gt(m.cost[CPU_COST_VMENTRY], 0);
    ck_assert_uint_gt(m.cost[CPU_COST_VMEXIT], 0);
    char err[200];
    ck_assert_msg(cpu_cost_check(&m, err, sizeof(err)), "%s", err);
}
END_TEST

START_TEST(file_sets_transition_costs)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    char err[400];
    write_file("vmentry = 700\nvmexit = 600 # a round trip of 1300\n");
    ck_assert_msg(cpu_cost_load(&m, path, err, sizeof(err)), "%s", err);
    remove(path);
    ck_assert_uint_eq(m.cost[CPU_COST_VMENTRY], 700);
    ck_assert_uint_eq(m.cost[CPU_COST_VMEXIT], 600);
}
END_TEST

/* A class of 0 cycles (mem excepted) is refused by the file and by the
 * check the machine makes of any model it is given. */
START_TEST(zero_costs_are_refused)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    char err[400];
    write_file("vmexit = 0\n");
    ck_assert(!cpu_cost_load(&m, path, err, sizeof(err)));
    remove(path);
    ck_assert_msg(strstr(err, ":1: cost of 'vmexit' must be 1..10000 cycles") != NULL, "%s", err);
    write_file("mem = 0\n");
    ck_assert_msg(cpu_cost_load(&m, path, err, sizeof(err)), "%s", err);
    remove(path);
    ck_assert(cpu_cost_check(&m, err, sizeof(err)));
    m.cost[CPU_COST_VMENTRY] = 0;
    ck_assert(!cpu_cost_check(&m, err, sizeof(err)));
    ck_assert_str_eq(err, "cost of 'vmentry' must be 1..10000 cycles, got 0");
    cpu_cost_default(&m);
    m.cost[CPU_COST_SIMPLE] = 10001;
    ck_assert(!cpu_cost_check(&m, err, sizeof(err)));
}
END_TEST

START_TEST(unknown_class_is_named)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    char err[600];
    write_file("# exit costs\nvmcall 5\n");
    ck_assert(!cpu_cost_load(&m, path, err, sizeof(err)));
    remove(path);
    ck_assert_msg(strstr(err, ":2: unknown cost class 'vmcall' (expected a class that `apicv-emu "
                              "info` lists") != NULL,
                  "%s", err);
    write_file("hv_vmcall = 5 7\n");
    ck_assert(!cpu_cost_load(&m, path, err, sizeof(err)));
    remove(path);
    ck_assert_msg(strstr(err, ":1: expected 'class cycles'") != NULL, "%s", err);
}
END_TEST

/* Every class has a name and a line for `info`, and the names are the ones
 * a file uses (no two alike). */
START_TEST(every_class_is_named_and_described)
{
    for (unsigned k = 0; k < CPU_COST_NCLASSES; k++) {
        const char *n = cpu_cost_name((cpu_cost_class)k);
        ck_assert_str_ne(n, "?");
        ck_assert_str_ne(cpu_cost_what((cpu_cost_class)k), "?");
        for (unsigned j = 0; j < k; j++)
            ck_assert_str_ne(n, cpu_cost_name((cpu_cost_class)j));
    }
    ck_assert_str_eq(cpu_cost_name(CPU_COST_HV_APIC_ACCESS), "hv_apic_access");
    ck_assert_str_eq(cpu_cost_name(CPU_COST_VID), "vid");
    ck_assert_str_eq(cpu_cost_name(CPU_COST_NCLASSES), "?");
}
END_TEST

/* "class cycles" lines (and "class = cycles"); the hypervisor's and the
 * interrupt hardware's classes may be 0 (they only add to a transition or
 * a delivery that moves the clock already), the transitions may not. */
START_TEST(per_reason_classes_from_a_file)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    char err[400];
    write_file("hv_apic_access 3000\nhv_apic_write = 0\nipi 0   # same-cycle IPIs\nvid 7\n");
    ck_assert_msg(cpu_cost_load(&m, path, err, sizeof(err)), "%s", err);
    remove(path);
    ck_assert_uint_eq(m.cost[CPU_COST_HV_APIC_ACCESS], 3000);
    ck_assert_uint_eq(m.cost[CPU_COST_HV_APIC_WRITE], 0);
    ck_assert_uint_eq(m.cost[CPU_COST_IPI], 0);
    ck_assert_uint_eq(m.cost[CPU_COST_VID], 7);
    ck_assert(cpu_cost_check(&m, err, sizeof(err)));
    ck_assert_uint_eq(cpu_cost_min(CPU_COST_VMEXIT), 1);
    ck_assert_uint_eq(cpu_cost_min(CPU_COST_HV_EXTINT), 0);
    write_file("hv_io 10001\n");
    ck_assert(!cpu_cost_load(&m, path, err, sizeof(err)));
    remove(path);
    ck_assert_msg(strstr(err, ":1: cost of 'hv_io' must be 0..10000 cycles, got 10001") != NULL,
                  "%s", err);
}
END_TEST

/* The default model's shape, which `compare` shows: an exit the host must
 * decode and emulate costs more than a trap-like APIC write, and a VMX
 * round trip costs far more than the posted path's hardware steps. */
START_TEST(defaults_order_the_paths)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    ck_assert_uint_gt(m.cost[CPU_COST_HV_APIC_ACCESS], m.cost[CPU_COST_HV_APIC_WRITE]);
    unsigned round_trip = m.cost[CPU_COST_VMEXIT] + m.cost[CPU_COST_VMENTRY];
    ck_assert_uint_gt(round_trip, m.cost[CPU_COST_PI_PROCESS] + m.cost[CPU_COST_VID]);
    for (unsigned k = CPU_COST_FIRST_OPTIONAL; k < CPU_COST_NCLASSES; k++)
        ck_assert_uint_gt(m.cost[k], 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cost");
    TCase *t = tcase_create("model");
    tcase_add_test(t, transition_classes_are_named_and_nonzero);
    tcase_add_test(t, file_sets_transition_costs);
    tcase_add_test(t, zero_costs_are_refused);
    tcase_add_test(t, unknown_class_is_named);
    tcase_add_test(t, every_class_is_named_and_described);
    tcase_add_test(t, per_reason_classes_from_a_file);
    tcase_add_test(t, defaults_order_the_paths);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
