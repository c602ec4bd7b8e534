/*
 * test_bounds.c — the machine's resources are bounded (issue 8 item 9):
 *
 *   - a CPU's event queue holds at most EMU_EVQ_MAX events: device
 *     messages beyond are dropped, counted (stats.msi_dropped and
 *     stats.queue_dropped) and logged (emu.queue-drop), in native mode
 *     through the device and under the hypervisor through SEND_MSI;
 *   - a delay near 2^64 saturates the due cycle at EMU_CYCLE_MAX instead of
 *     wrapping into the past (the message would arrive at once).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"

#define GUEST(name) APICV_GUEST_DIR "/" name ".elf"

typedef struct seen {
    uint64_t drops, drop_events_for_cpu0, raises, saturated, delivered_never;
    char out[4096];
    size_t outlen;
} seen;

static void watch(void *ctx, const cpu_obs_event *ev)
{
    seen *s = ctx;
    if (ev->kind == EMU_EV_QUEUE_DROP) {
        s->drops++;
        if (ev->b == 0 && ev->a == EMU_Q_MSI)
            s->drop_events_for_cpu0++;
    } else if (ev->kind == EMU_EV_MSI_RAISE) {
        s->raises++;
        if (ev->c == EMU_CYCLE_MAX)
            s->saturated++;
    } else if (ev->kind == EMU_EV_MSI_DELIVER && ev->a == 0x41) {
        s->delivered_never++;
    }
}

static void console(void *ctx, unsigned cpu, uint8_t byte)
{
    seen *s = ctx;
    (void)cpu;
    if (s->outlen + 1 < sizeof(s->out)) {
        s->out[s->outlen++] = (char)byte;
        s->out[s->outlen] = 0;
    }
}

static emu_machine *make(const char *guest, emu_mode mode, uint64_t max_cycles, seen *s)
{
    emu_machine *m = calloc(1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = mode;
    cfg.max_cycles = max_cycles;
    char err[512];
    ck_assert_msg(emu_machine_init(m, &cfg, guest, err, sizeof(err)), "%s", err);
    m->console = console;
    m->console_ctx = s;
    cpu_obs_subscribe(&m->obs, watch, s);
    return m;
}

/* The device itself: every message past the limit is dropped and counted,
 * and the queue never holds more than the limit. */
START_TEST(device_messages_past_the_limit_are_dropped_and_counted)
{
    seen *s = calloc(1, sizeof(*s));
    emu_machine *m = make(GUEST("hello"), EMU_MODE_NATIVE, 0, s);
    const unsigned extra = 1000;
    for (unsigned k = 0; k < EMU_EVQ_MAX + extra; k++)
        emu_msi_raise(m, 0x40, 0, 1000000000ull + k, 0);
    ck_assert_uint_eq(m->evq[0].n, EMU_EVQ_MAX);
    ck_assert_uint_le(m->evq[0].cap, EMU_EVQ_MAX);
    ck_assert_uint_eq(m->stats.msi_raised, EMU_EVQ_MAX + extra);
    ck_assert_uint_eq(m->stats.msi_dropped, extra);
    ck_assert_uint_eq(m->stats.queue_dropped[0], extra);
    ck_assert_uint_eq(s->drop_events_for_cpu0, extra);
    emu_machine_free(m);
    free(m);
    free(s);
}
END_TEST

/* The same through the command line's report: --stats names the drops. */
START_TEST(stats_report_names_queue_drops)
{
    seen *s = calloc(1, sizeof(*s));
    emu_machine *m = make(GUEST("hello"), EMU_MODE_NATIVE, 0, s);
    for (unsigned k = 0; k < EMU_EVQ_MAX + 7; k++)
        emu_msi_raise(m, 0x40, 0, 1000000000ull, 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    emu_print_stats(f, m, 1.0);
    fclose(f);
    ck_assert_msg(strstr(buf, "dropped 7") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "events dropped on a full queue 7 cpu0=7") != NULL, "%s", buf);
    free(buf);
    emu_machine_free(m);
    free(m);
    free(s);
}
END_TEST

/* A guest under the hypervisor: SEND_MSI with delay 2^64 - 1 saturates (the
 * message never arrives), and a flood of far-future messages is bounded. */
START_TEST(send_msi_flood_is_bounded_and_huge_delays_saturate)
{
    static const emu_mode modes[] = {EMU_MODE_POSTED, EMU_MODE_EMULATED};
    seen *s = calloc(1, sizeof(*s));
    emu_machine *m = make(GUEST("hv_msi_flood"), modes[_i], 400000000ull, s);
    while (!emu_machine_run(m, UINT64_MAX))
        ;
    ck_assert_msg(m->exit_status == 0, "%s: status %d: %s\n%s", emu_mode_name(modes[_i]),
                  m->exit_status, m->diag, s->out);
    ck_assert_msg(strstr(s->out, "hv_msi_flood: sent 70000 early=0") != NULL, "%s", s->out);
    ck_assert_uint_eq(s->saturated, 1);
    ck_assert_uint_eq(s->delivered_never, 0);
    ck_assert_uint_le(m->evq[0].n, EMU_EVQ_MAX);
    /* 70001 messages, at most EMU_EVQ_MAX of them queued. */
    ck_assert_uint_ge(m->stats.msi_dropped, 70001 - EMU_EVQ_MAX);
    ck_assert_uint_eq(m->stats.msi_dropped, m->stats.queue_dropped[0]);
    ck_assert_uint_eq(s->drops, m->stats.queue_dropped[0]);
    emu_machine_free(m);
    free(m);
    free(s);
}
END_TEST

START_TEST(cycle_after_saturates)
{
    ck_assert_uint_eq(emu_cycle_after(100, 5), 105);
    ck_assert_uint_eq(emu_cycle_after(100, UINT64_MAX), EMU_CYCLE_MAX);
    ck_assert_uint_eq(emu_cycle_after(UINT64_MAX - 3, 10), EMU_CYCLE_MAX);
    ck_assert_uint_eq(emu_cycle_after(EMU_CYCLE_MAX - 1, 1), EMU_CYCLE_MAX);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bounds");
    TCase *t = tcase_create("queue");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, device_messages_past_the_limit_are_dropped_and_counted);
    tcase_add_test(t, stats_report_names_queue_drops);
    tcase_add_loop_test(t, send_msi_flood_is_bounded_and_huge_delays_saturate, 0, 2);
    tcase_add_test(t, cycle_after_saturates);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
