/*
 * test_session.c — the window's commands: the key table, the command layer
 * against a fake target (exact calls), and against a real machine (a key
 * sequence steps exactly the instructions a directly stepped machine
 * retires; n stops at the next APIC event; a crashing guest is shown, not
 * fatal; restart; 8 vCPUs).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "apic/apic.h"
#include "ui/ui.h"

/* ---- the fake target ------------------------------------------------------------ */

typedef struct fake {
    unsigned steps, last_cpu, snapshots, runs, restarts;
    uint64_t stepped;
    uint32_t classes;
    bool apic_vmx;
    unsigned hit_after; /* run calls until the condition hits */
    bool finished;
} fake;

static cpu_stop fake_step(void *ctx, unsigned cpu, uint64_t n)
{
    fake *f = ctx;
    f->steps++;
    f->last_cpu = cpu;
    f->stepped += n;
    return CPU_STOP_INSNS;
}

static bool fake_run(void *ctx, uint64_t cycles)
{
    fake *f = ctx;
    (void)cycles;
    f->runs++;
    return f->finished;
}

static void fake_run_until(void *ctx, uint32_t classes, bool apic_vmx, int cpu)
{
    fake *f = ctx;
    f->classes = classes;
    f->apic_vmx = apic_vmx;
    (void)cpu;
}

static bool fake_hit(void *ctx)
{
    fake *f = ctx;
    return f->runs >= f->hit_after;
}

static bool fake_restart(void *ctx, char *err, size_t len)
{
    fake *f = ctx;
    (void)err;
    (void)len;
    f->restarts++;
    return true;
}

static void fake_snapshot(void *ctx, ui_snapshot *s)
{
    fake *f = ctx;
    f->snapshots++;
    s->ncpus = 4;
    s->seq = f->snapshots;
    s->cpu[0].insns = f->stepped;
}

static ui_view *view;

static void setup(void)
{
    view = calloc(1, sizeof(*view));
    ui_view_init(view);
}

static void teardown(void)
{
    free(view);
}

static void fake_target(fake *f, ui_target *t)
{
    memset(f, 0, sizeof(*f));
    memset(t, 0, sizeof(*t));
    t->ctx = f;
    t->step = fake_step;
    t->run = fake_run;
    t->run_until = fake_run_until;
    t->hit = fake_hit;
    t->restart = fake_restart;
    t->snapshot = fake_snapshot;
}

/* Presses a key as the window does. */
static void key(ui_session *s, int sym)
{
    int arg = -1;
    ui_cmd c = ui_key_command(sym, &arg);
    ck_assert_int_ne(c, UI_CMD_NONE);
    ui_session_command(s, c, arg);
}

START_TEST(key_table)
{
    int arg;
    ck_assert_int_eq(ui_key_command(SDLK_SPACE, &arg), UI_CMD_RUN_PAUSE);
    ck_assert_int_eq(ui_key_command(SDLK_s, &arg), UI_CMD_STEP);
    ck_assert_int_eq(ui_key_command(SDLK_n, &arg), UI_CMD_NEXT_EVENT);
    ck_assert_int_eq(ui_key_command(SDLK_e, &arg), UI_CMD_NEXT_EXIT);
    ck_assert_int_eq(ui_key_command(SDLK_r, &arg), UI_CMD_RESTART);
    ck_assert_int_eq(ui_key_command(SDLK_h, &arg), UI_CMD_HELP);
    ck_assert_int_eq(ui_key_command(SDLK_b, &arg), UI_CMD_STEP_BACK);
    ck_assert_int_eq(ui_key_command(SDLK_PLUS, &arg), UI_CMD_FASTER);
    ck_assert_int_eq(ui_key_command(SDLK_MINUS, &arg), UI_CMD_SLOWER);
    ck_assert_int_eq(ui_key_command(SDLK_q, &arg), UI_CMD_QUIT);
    ck_assert_int_eq(ui_key_command(SDLK_x, &arg), UI_CMD_NONE);
    for (int k = 0; k < 8; k++) {
        ck_assert_int_eq(ui_key_command(SDLK_1 + k, &arg), UI_CMD_SELECT);
        ck_assert_int_eq(arg, k);
    }
    ck_assert_int_eq(ui_key_command(SDLK_9, &arg), UI_CMD_NONE);
    /* The help lists every key. */
    const char *keys[] = {"space", "s ", "n ", "e ", "+", "1-8", "r ", "b ", "click", "h "};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        bool found = false;
        for (int l = 0; ui_help_lines[l]; l++)
            found |= strncmp(ui_help_lines[l], keys[i], strlen(keys[i])) == 0;
        ck_assert_msg(found, "help lacks %s", keys[i]);
    }
}
END_TEST

START_TEST(commands_on_fake)
{
    fake f;
    ui_target t;
    ui_session s;
    fake_target(&f, &t);
    ui_session_init(&s, &t, view);
    ui_session_refresh(&s);
    key(&s, SDLK_s);
    key(&s, SDLK_s);
    key(&s, SDLK_s);
    ck_assert_uint_eq(f.steps, 3);
    ck_assert_uint_eq(f.stepped, 3);
    ck_assert_uint_eq(f.last_cpu, 0);
    ck_assert_uint_eq(view->snap.cpu[0].insns, 3);
    key(&s, SDLK_3);
    ck_assert_uint_eq(view->sel, 2);
    key(&s, SDLK_8); /* only 4 CPUs: ignored */
    ck_assert_uint_eq(view->sel, 2);
    key(&s, SDLK_s);
    ck_assert_uint_eq(f.last_cpu, 2);

    /* n: arm "any apic/vmx event", run slices until the target says hit. */
    f.hit_after = f.runs + 3;
    key(&s, SDLK_n);
    ck_assert(f.apic_vmx);
    ck_assert_int_eq(s.state, UI_TO_EVENT);
    for (int i = 0; i < 10 && s.state != UI_PAUSED; i++)
        ui_session_tick(&s, 16);
    ck_assert_int_eq(s.state, UI_PAUSED);
    ck_assert_uint_eq(f.runs, 3);
    /* e: arm "VM exit". */
    f.hit_after = f.runs + 1;
    key(&s, SDLK_e);
    ck_assert_uint_eq(f.classes, 1u << UI_EVC_EXIT);
    ck_assert(!f.apic_vmx);
    ui_session_tick(&s, 16);
    ck_assert_int_eq(s.state, UI_PAUSED);

    /* Slow motion: 2 instructions a second of the selected CPU. */
    for (int i = 0; i < UI_NSPEEDS; i++)
        key(&s, SDLK_MINUS);
    ck_assert_uint_eq(s.speed, 0);
    uint64_t before = f.stepped;
    key(&s, SDLK_SPACE);
    ck_assert_int_eq(s.state, UI_RUNNING);
    ui_session_tick(&s, 250);
    ck_assert_uint_eq(f.stepped, before);
    ui_session_tick(&s, 250);
    ck_assert_uint_eq(f.stepped, before + 1);
    ui_session_tick(&s, 1000);
    ck_assert_uint_eq(f.stepped, before + 3);
    key(&s, SDLK_SPACE);
    ck_assert_int_eq(s.state, UI_PAUSED);
    ui_session_tick(&s, 1000);
    ck_assert_uint_eq(f.stepped, before + 3);

    /* Full speed runs slices. */
    for (int i = 0; i < UI_NSPEEDS; i++)
        key(&s, SDLK_PLUS);
    key(&s, SDLK_SPACE);
    unsigned runs = f.runs;
    ui_session_tick(&s, 16);
    ck_assert_uint_eq(f.runs, runs + 1);
    f.finished = true;
    ui_session_tick(&s, 16);
    ck_assert_int_eq(s.state, UI_PAUSED);

    key(&s, SDLK_r);
    ck_assert_uint_eq(f.restarts, 1);
    key(&s, SDLK_h);
    ck_assert(view->help);
    key(&s, SDLK_h);
    ck_assert(!view->help);
    key(&s, SDLK_b); /* no replay: explained, nothing else */
    ck_assert_ptr_nonnull(strstr(view->info, "replay"));
    key(&s, SDLK_q);
    ck_assert(s.quit);
}
END_TEST

/* ---- a real machine ------------------------------------------------------------ */

static emu_machine *machine(const char *guest, unsigned ncpus)
{
    emu_machine *m = calloc(1, sizeof(*m));
    emu_config cfg;
    char err[512], path[1024];
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE; /* the machine alone; test_hv_view.c has the VMX modes */
    cfg.ncpus = ncpus;
    cfg.mem_bytes = 16u << 20;
    cfg.quantum = 1000; /* short rounds: both CPUs move within a few thousand steps */
    snprintf(path, sizeof(path), "%s/%s", APICV_GUEST_DIR, guest);
    ck_assert_msg(emu_machine_init(m, &cfg, path, err, sizeof(err)), "%s", err);
    return m;
}

static void free_machine(emu_machine *m)
{
    emu_machine_free(m);
    free(m);
}

typedef struct live {
    emu_machine *m;
    ui_machine_target *mt;
    ui_target t;
    ui_session s;
} live;

static void live_open(live *l, const char *guest, unsigned ncpus)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", APICV_GUEST_DIR, guest);
    l->m = machine(guest, ncpus);
    l->mt = calloc(1, sizeof(*l->mt));
    ui_machine_target_init(l->mt, l->m, path, NULL, &l->t);
    ui_session_init(&l->s, &l->t, view);
    ui_session_refresh(&l->s);
}

static void live_close(live *l)
{
    ui_machine_target_detach(l->mt);
    free(l->mt);
    free_machine(l->m);
}

START_TEST(keys_step_exact_instructions)
{
    live l;
    live_open(&l, "apic_ipi.elf", 2);
    emu_machine *ref = machine("apic_ipi.elf", 2);
    ui_recorder *rrec = calloc(1, sizeof(*rrec));
    ui_recorder_init(rrec, NULL);
    cpu_obs_subscribe(&ref->obs, ui_recorder_event, rrec);
    for (int i = 0; i < 6000; i++) {
        key(&l.s, SDLK_s);
        emu_machine_step(ref, 0, 1);
        /* The same instructions and the same events, in the same order. */
        ck_assert_uint_eq(view->snap.cpu[0].insns, (uint64_t)i + 1);
        ck_assert_uint_eq(view->snap.ev_total, rrec->total);
        if (rrec->total)
            ck_assert_mem_eq(&view->snap.ev[view->snap.nev - 1],
                             &rrec->ring[(rrec->total - 1) % UI_RING_EVENTS], sizeof(ui_event));
        ck_assert_uint_eq(view->snap.cpu[0].rip, ref->cpu[0].rip);
        ck_assert_uint_eq(view->snap.cpu[0].insns, ref->cpu[0].insns);
    }
    /* vCPU 2 (key 2) steps CPU 1. */
    key(&l.s, SDLK_2);
    uint64_t c1 = view->snap.cpu[1].insns;
    key(&l.s, SDLK_s);
    key(&l.s, SDLK_s);
    emu_machine_step(ref, 1, 1);
    emu_machine_step(ref, 1, 1);
    /* As many as the machine's own step retires (CPU 1 may sit in HLT). */
    ck_assert_uint_eq(view->snap.cpu[1].insns, ref->cpu[1].insns);
    ck_assert_uint_le(view->snap.cpu[1].insns, c1 + 2);
    ck_assert_uint_eq(view->snap.cpu[1].rip, ref->cpu[1].rip);
    uint64_t d1, d2;
    emu_machine_digest(l.m, &d1);
    emu_machine_digest(ref, &d2);
    ck_assert_uint_eq(d1, d2);
    /* The disassembly highlights the instruction at RIP. */
    ck_assert_int_ge(view->disasm_cur, 0);
    ck_assert_uint_eq(view->disasm_addr[view->disasm_cur], view->snap.cpu[1].rip);
    ck_assert_uint_gt(rrec->total, 0); /* the steps went through APIC events */
    cpu_obs_unsubscribe(&ref->obs, ui_recorder_event, rrec);
    ui_recorder_free(rrec);
    free(rrec);
    free_machine(ref);
    live_close(&l);
}
END_TEST

static bool is_apic_vmx(unsigned kind)
{
    return kind >= CPU_OBS_RANGE_APIC && kind < CPU_OBS_RANGE_EMU;
}

START_TEST(next_event_stops_at_apic_event)
{
    live l;
    live_open(&l, "apic_ipi.elf", 2);
    for (int round = 0; round < 3; round++) {
        uint64_t total = l.mt->rec.total;
        key(&l.s, SDLK_n);
        for (int i = 0; i < 1000 && l.s.state != UI_PAUSED; i++)
            ui_session_tick(&l.s, 16);
        ck_assert_int_eq(l.s.state, UI_PAUSED);
        ui_session_refresh(&l.s);
        ck_assert(!view->snap.finished);
        /* Among the new events: the first apic/vmx one, and after it only
         * what the same instruction emitted (same cycle). */
        uint64_t n = l.mt->rec.total - total;
        ck_assert_uint_ge(n, 1);
        ck_assert_uint_le(n, UI_RING_EVENTS);
        int first = -1;
        for (uint64_t i = 0; i < n; i++) {
            const cpu_obs_event *e = &l.mt->rec.ring[(total + i) % UI_RING_EVENTS];
            if (first < 0 && is_apic_vmx(e->kind))
                first = (int)i;
        }
        ck_assert_int_ge(first, 0);
        const cpu_obs_event *fe = &l.mt->rec.ring[(total + first) % UI_RING_EVENTS];
        for (uint64_t i = (uint64_t)first; i < n; i++) {
            const cpu_obs_event *e = &l.mt->rec.ring[(total + i) % UI_RING_EVENTS];
            ck_assert_uint_le(e->cycle, fe->cycle + 200);
        }
        /* The pause is disarmed: a step is one instruction again, from
         * where the machine stopped (the view showed the event's stop,
         * taken inside the machine; the machine finished that block). */
        ck_assert_uint_le(view->snap.cpu[0].insns, l.m->cpu[0].insns);
        uint64_t insns = l.m->cpu[0].insns;
        key(&l.s, SDLK_s);
        ck_assert_uint_eq(view->snap.cpu[0].insns, insns + 1);
    }
    live_close(&l);
}
END_TEST

START_TEST(crashing_guest_is_shown)
{
    live l;
    live_open(&l, "machine_noidt.elf", 1);
    key(&l.s, SDLK_SPACE);
    for (int i = 0; i < 10000 && l.s.state != UI_PAUSED; i++)
        ui_session_tick(&l.s, 16);
    ck_assert_int_eq(l.s.state, UI_PAUSED);
    ui_session_refresh(&l.s);
    ck_assert(view->snap.finished);
    ck_assert_int_eq(view->snap.exit_status, EMU_EXIT_CRASH);
    ck_assert_ptr_nonnull(strstr(view->snap.diag, "triple fault"));
    /* Steps after the end do nothing; restart starts over. */
    uint64_t insns = view->snap.cpu[0].insns;
    key(&l.s, SDLK_s);
    ck_assert_uint_eq(view->snap.cpu[0].insns, insns);
    key(&l.s, SDLK_r);
    ck_assert(!view->snap.finished);
    ck_assert_uint_eq(view->snap.cpu[0].insns, 0);
    ck_assert_uint_eq(view->snap.ev_total, 0);
    live_close(&l);
}
END_TEST

START_TEST(console_and_exit)
{
    live l;
    live_open(&l, "hello.elf", 1);
    key(&l.s, SDLK_e); /* native: no VM exit ever, so it runs to the end */
    for (int i = 0; i < 10000 && l.s.state != UI_PAUSED; i++)
        ui_session_tick(&l.s, 16);
    ui_session_refresh(&l.s);
    ck_assert(view->snap.finished);
    ck_assert_int_eq(view->snap.exit_status, 0);
    ck_assert_uint_gt(strlen(view->snap.console), 0);
    live_close(&l);
}
END_TEST

START_TEST(eight_vcpu_machine)
{
    live l;
    live_open(&l, "hello.elf", 8);
    ck_assert_uint_eq(view->snap.ncpus, 8);
    key(&l.s, SDLK_8);
    ck_assert_uint_eq(view->sel, 7);
    uint64_t insns = view->snap.cpu[7].insns;
    key(&l.s, SDLK_s);
    ck_assert_uint_eq(view->snap.cpu[7].insns, insns + 1);
    /* Every CPU's physical APIC is in its snapshot. */
    apic_accept(&l.m->apic[5], 0x61, 0, false);
    ui_session_refresh(&l.s);
    ck_assert(ui_vec_test(&view->snap.cpu[5].irr, 0x61) ==
              ((l.m->apic[5].svr & 0x100) != 0));
    live_close(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui_session");
    TCase *tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, key_table);
    tcase_add_test(tc, commands_on_fake);
    tcase_add_test(tc, keys_step_exact_instructions);
    tcase_add_test(tc, next_event_stops_at_apic_event);
    tcase_add_test(tc, crashing_guest_is_shown);
    tcase_add_test(tc, console_and_exit);
    tcase_add_test(tc, eight_vcpu_machine);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
