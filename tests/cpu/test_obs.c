/*
 * test_obs.c — the observer bus every layer emits to: each observer hears
 * each event once and in subscription order; subscribing the same observer
 * twice does not double its calls; a bus copied from another keeps the
 * observers it already had, in place, and adds the rest (a machine rebuilt
 * in place keeps its listeners); a full bus says so.
 */
#include <check.h>

#include "cpu/cpu_obs.h"

typedef struct log_ctx {
    unsigned calls;
    unsigned order; /* position of the last call in a dispatch */
} log_ctx;

static unsigned dispatch_seq;

static void listen(void *ctx, const cpu_obs_event *ev)
{
    log_ctx *l = ctx;
    (void)ev;
    l->calls++;
    l->order = ++dispatch_seq;
}

static void emit(const cpu_obs_bus *bus)
{
    cpu_obs_event ev = {0};
    dispatch_seq = 0;
    cpu_obs_dispatch(bus, &ev);
}

START_TEST(subscribing_twice_is_one_subscription)
{
    cpu_obs_bus bus = {0};
    log_ctx a = {0};
    ck_assert(cpu_obs_subscribe(&bus, listen, &a));
    ck_assert(cpu_obs_subscribe(&bus, listen, &a));
    ck_assert_uint_eq(bus.count, 1);
    emit(&bus);
    ck_assert_uint_eq(a.calls, 1);
    cpu_obs_unsubscribe(&bus, listen, &a);
    emit(&bus);
    ck_assert_uint_eq(a.calls, 1);
}
END_TEST

START_TEST(subscribe_all_keeps_order_and_adds_the_rest)
{
    cpu_obs_bus old = {0}, fresh = {0};
    log_ctx a = {0}, b = {0}, c = {0};
    ck_assert(cpu_obs_subscribe(&old, listen, &a));
    ck_assert(cpu_obs_subscribe(&old, listen, &b));
    ck_assert(cpu_obs_subscribe(&old, listen, &c));
    /* The rebuilt machine's own observer (b) came back first. */
    ck_assert(cpu_obs_subscribe(&fresh, listen, &b));
    ck_assert(cpu_obs_subscribe_all(&fresh, &old));
    ck_assert_uint_eq(fresh.count, 3);
    emit(&fresh);
    ck_assert_uint_eq(a.calls, 1);
    ck_assert_uint_eq(b.calls, 1);
    ck_assert_uint_eq(c.calls, 1);
    ck_assert_uint_eq(b.order, 1);
    ck_assert_uint_eq(a.order, 2);
    ck_assert_uint_eq(c.order, 3);
}
END_TEST

START_TEST(a_full_bus_refuses)
{
    cpu_obs_bus bus = {0}, more = {0};
    log_ctx l[CPU_OBS_MAX + 1];
    for (unsigned k = 0; k < CPU_OBS_MAX; k++)
        ck_assert(cpu_obs_subscribe(&bus, listen, &l[k]));
    ck_assert(!cpu_obs_subscribe(&bus, listen, &l[CPU_OBS_MAX]));
    ck_assert(cpu_obs_subscribe(&bus, listen, &l[0])); /* already there */
    ck_assert(cpu_obs_subscribe(&more, listen, &l[CPU_OBS_MAX]));
    ck_assert(!cpu_obs_subscribe_all(&bus, &more));
    ck_assert_uint_eq(bus.count, CPU_OBS_MAX);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("obs");
    TCase *t = tcase_create("bus");
    tcase_add_test(t, subscribing_twice_is_one_subscription);
    tcase_add_test(t, subscribe_all_keeps_order_and_adds_the_rest);
    tcase_add_test(t, a_full_bus_refuses);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
