/*
 * test_cost.c — the cost model table (cpu/cpu_cost.c, docs/cost-model.md):
 * the VMX transition classes, the file format and the rule that every
 * class but mem costs at least one cycle (so that a run bounded by cycles
 * always ends).
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
    ck_assert_str_eq(err, "cost of 'vmentry' must be 1..10000 cycles (mem may be 0), got 0");
    cpu_cost_default(&m);
    m.cost[CPU_COST_SIMPLE] = 10001;
    ck_assert(!cpu_cost_check(&m, err, sizeof(err)));
}
END_TEST

START_TEST(unknown_class_lists_every_class)
{
    cpu_cost_model m;
    cpu_cost_default(&m);
    char err[600];
    write_file("vmcall = 5\n");
    ck_assert(!cpu_cost_load(&m, path, err, sizeof(err)));
    remove(path);
    ck_assert_msg(strstr(err, "unknown cost class 'vmcall' (expected one of simple, branch,") != NULL,
                  "%s", err);
    ck_assert_msg(strstr(err, "interrupt, mem, vmentry, vmexit)") != NULL, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cost");
    TCase *t = tcase_create("model");
    tcase_add_test(t, transition_classes_are_named_and_nonzero);
    tcase_add_test(t, file_sets_transition_costs);
    tcase_add_test(t, zero_costs_are_refused);
    tcase_add_test(t, unknown_class_lists_every_class);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
