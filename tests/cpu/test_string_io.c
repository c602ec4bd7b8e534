/*
 * test_string_io.c — the string instructions that reach devices (SDM Vol.
 * 2B INS, OUTS, REP): port I/O through the I/O hook and the I/O intercept,
 * a REP OUTS paused by an event, an INS fault that loses no device read,
 * the I/O permission check at CPL 3, and REP MOVS over MMIO taken access by
 * access. The memory-only string instructions are in test_string.c.
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_string_fixture.h"

/* ---- port I/O ------------------------------------------------------------- */

typedef struct io_log {
    unsigned n;
    uint16_t port[64];
    uint8_t size[64];
    bool in[64];
    uint32_t val[64];
    uint32_t next_in;
    unsigned nicpt;
    cpu_icpt icpt[8];
    cpu_hook_result icpt_result;
    unsigned signal_at; /* raise an event at this access (1-based), 0: never */
} io_log;

static bool test_io(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    io_log *l = ctx;
    if (port == 0x99)
        return false; /* nobody owns it */
    if (in)
        *val = l->next_in++ & (uint32_t)cpu_size_mask(size);
    if (l->n < 64) {
        l->port[l->n] = port;
        l->size[l->n] = (uint8_t)size;
        l->in[l->n] = in;
        l->val[l->n] = *val;
        l->n++;
    }
    if (l->signal_at && l->n == l->signal_at)
        cpu_signal(c, CPU_EVT_HOOK);
    return true;
}

static cpu_hook_result test_icpt(void *ctx, cpu_t *c, cpu_icpt *info)
{
    io_log *l = ctx;
    (void)c;
    if (l->nicpt < 8)
        l->icpt[l->nicpt] = *info;
    l->nicpt++;
    if (l->icpt_result == CPU_HOOK_DONE)
        info->value = 0xC0DE;
    return l->icpt_result;
}

static io_log *install_io(void)
{
    static io_log log;
    memset(&log, 0, sizeof(log));
    cpu_hooks hk;
    memset(&hk, 0, sizeof(hk));
    hk.io = test_io;
    hk.intercept = test_icpt;
    hk.ctx = &log;
    cpu_set_hooks(&h.cpu, &hk);
    return &log;
}

START_TEST(outs_ins_through_hook)
{
    cpu_t *c = &h.cpu;
    io_log *l = install_io();
    const uint8_t outsb[] = {0xF3, 0x6E};       /* rep outsb */
    const uint8_t insw[] = {0x66, 0xF3, 0x6D};  /* rep insw */
    const uint8_t insd[] = {0x6D};              /* insd */
    const uint8_t outsd[] = {0x48, 0x6F};       /* REX.W outsd: still 32-bit */
    fill(SRC, 16, 0x30);
    c->gpr[CPU_RDX] = 0x3F8;
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RCX] = 5;
    run1(outsb, sizeof(outsb));
    ck_assert_uint_eq(l->n, 5);
    for (unsigned k = 0; k < 5; k++) {
        ck_assert_uint_eq(l->port[k], 0x3F8);
        ck_assert_uint_eq(l->size[k], 1);
        ck_assert(!l->in[k]);
        ck_assert_uint_eq(l->val[k], ram(SRC, 5)[k]);
    }
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 5);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);

    l->n = 0;
    l->next_in = 0xA1B2;
    memset(ram(DST, 16), 0, 16);
    c->gpr[CPU_RDX] = 0x60;
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 3;
    run1(insw, sizeof(insw));
    ck_assert_uint_eq(l->n, 3);
    ck_assert(l->in[0] && l->size[0] == 2);
    uint16_t w[3];
    memcpy(w, ram(DST, 6), 6);
    ck_assert_uint_eq(w[0], 0xA1B2);
    ck_assert_uint_eq(w[1], 0xA1B3);
    ck_assert_uint_eq(w[2], 0xA1B4);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 6);

    /* An unowned port reads all ones. */
    c->gpr[CPU_RDX] = 0x99;
    c->gpr[CPU_RDI] = DST + 8;
    run1(insd, sizeof(insd));
    uint32_t d;
    memcpy(&d, ram(DST + 8, 4), 4);
    ck_assert_uint_eq(d, 0xFFFFFFFFu);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 12);

    l->n = 0;
    c->gpr[CPU_RDX] = 0x80;
    c->gpr[CPU_RSI] = DST;
    run1(outsd, sizeof(outsd));
    ck_assert_uint_eq(l->n, 1);
    ck_assert_uint_eq(l->size[0], 4);
    ck_assert_uint_eq(l->val[0], 0xA1B3A1B2u);
    ck_assert_uint_eq(c->gpr[CPU_RSI], DST + 4);
}
END_TEST

START_TEST(string_io_intercept)
{
    cpu_t *c = &h.cpu;
    io_log *l = install_io();
    const uint8_t insb[] = {0xF3, 0x6C}; /* rep insb */
    const uint8_t outsw[] = {0x66, 0x6F}; /* outsw */
    c->icpt_mask |= 1u << CPU_ICPT_IO;

    /* EXIT: the run stops at the instruction with nothing done. */
    l->icpt_result = CPU_HOOK_EXIT;
    c->gpr[CPU_RDX] = 0x1234;
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 4;
    ck_assert_int_eq(run1(insb, sizeof(insb)), CPU_STOP_HOOK);
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 4);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST);
    ck_assert_uint_eq(l->n, 0);
    ck_assert_uint_eq(l->nicpt, 1);
    cpu_icpt *i = &l->icpt[0];
    ck_assert_int_eq(i->kind, CPU_ICPT_IO);
    ck_assert(i->string && i->in && i->rep);
    ck_assert_uint_eq(i->port, 0x1234);
    ck_assert_uint_eq(i->size, 1);
    ck_assert_uint_eq(i->len, 2);
    ck_assert_uint_eq(i->addr, DST);

    /* DONE: the hook supplied each value; the device was not touched. */
    l->icpt_result = CPU_HOOK_DONE;
    l->nicpt = 0;
    memset(ram(DST, 8), 0, 8);
    ck_assert_int_eq(run1(insb, sizeof(insb)), CPU_STOP_INSNS);
    ck_assert_uint_eq(l->nicpt, 4);
    ck_assert_uint_eq(l->icpt[3].addr, DST + 3);
    ck_assert_uint_eq(l->n, 0);
    ck_assert_uint_eq(ram(DST, 4)[3], 0xDE);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0);

    /* PASS: the device sees the access; the intercept saw an OUTS. */
    l->icpt_result = CPU_HOOK_PASS;
    l->nicpt = 0;
    c->gpr[CPU_RSI] = SRC;
    fill(SRC, 2, 0x40);
    run1(outsw, sizeof(outsw));
    ck_assert_uint_eq(l->nicpt, 1);
    ck_assert(l->icpt[0].string && !l->icpt[0].in && !l->icpt[0].rep);
    ck_assert_uint_eq(l->icpt[0].size, 2);
    ck_assert_uint_eq(l->icpt[0].addr, SRC);
    ck_assert_uint_eq(l->n, 1);
    ck_assert_uint_eq(l->val[0], ram(SRC, 2)[0] | ram(SRC, 2)[1] << 8);
}
END_TEST

START_TEST(rep_outs_pauses_on_event)
{
    /* The device raises an event during the third iteration: the REP stops
     * after it, RIP stays at the instruction, and the rest runs later. */
    cpu_t *c = &h.cpu;
    io_log *l = install_io();
    const uint8_t outsb[] = {0xF3, 0x6E};
    l->signal_at = 3;
    fill(SRC, 10, 0x50);
    c->gpr[CPU_RDX] = 0x3F8;
    c->gpr[CPU_RSI] = SRC;
    c->gpr[CPU_RCX] = 10;
    ck_assert_int_eq(run1(outsb, sizeof(outsb)), CPU_STOP_INSNS);
    ck_assert_uint_eq(l->n, 3);
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 7);
    ck_assert_uint_eq(c->gpr[CPU_RSI], SRC + 3);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(l->n, 10);
    ck_assert_uint_eq(c->rip, CPU_HARNESS_CODE + 2);
    for (unsigned k = 0; k < 10; k++)
        ck_assert_uint_eq(l->val[k], ram(SRC, 10)[k]);
}
END_TEST

START_TEST(rep_ins_fault_loses_no_device_read)
{
    /* REP INSB into a page that is not present: the destination is checked
     * before each port read, so the device sees exactly the reads whose
     * bytes were stored, and the restart reads the rest. */
    cpu_t *c = &h.cpu;
    io_log *l = install_io();
    const uint8_t insb[] = {0xF3, 0x6C};
    map_4k(2, 1);
    l->next_in = 0x10;
    c->gpr[CPU_RDX] = 0x60;
    c->gpr[CPU_RDI] = LIN4K + 4094;
    c->gpr[CPU_RCX] = 5;
    run1(insb, sizeof(insb));
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(l->n, 2);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 3);
    ck_assert_uint_eq(c->gpr[CPU_RDI], LIN4K + 4096);
    map_4k(2, -1);
    rerun();
    ck_assert_uint_eq(l->n, 5);
    const uint8_t *p = ram(PHYS4K + 4094, 5);
    for (unsigned k = 0; k < 5; k++)
        ck_assert_uint_eq(p[k], 0x10 + k);
}
END_TEST

/* A device window beyond RAM: reads return address-derived data, writes
 * are logged. */
#define MMIO_BASE 0x3F000000ull

typedef struct mmio_log {
    unsigned reads, writes;
    uint64_t last_addr, last_val;
} mmio_log;

static bool test_mmio(void *ctx, cpu_t *c, uint64_t pa, unsigned size, cpu_access acc,
                      uint64_t *val)
{
    mmio_log *l = ctx;
    (void)c;
    if (acc == CPU_ACC_WRITE) {
        l->writes++;
        l->last_addr = pa;
        l->last_val = *val;
    } else {
        l->reads++;
        *val = (pa * 3) & cpu_size_mask(size);
    }
    return true;
}

START_TEST(rep_string_over_mmio_goes_access_by_access)
{
    /* REP MOVSD from a device window and REP STOSW into it: every element
     * is one device access (no chunking over trap pages). */
    cpu_t *c = &h.cpu;
    static mmio_log log;
    memset(&log, 0, sizeof(log));
    cpu_hooks hk;
    memset(&hk, 0, sizeof(hk));
    hk.mmio = test_mmio;
    hk.ctx = &log;
    cpu_set_hooks(c, &hk);
    const uint8_t movsd[] = {0xF3, 0xA5};        /* rep movsd */
    const uint8_t stosw[] = {0xF3, 0x66, 0xAB};  /* rep stosw */
    c->gpr[CPU_RSI] = MMIO_BASE + 0x10;
    c->gpr[CPU_RDI] = DST;
    c->gpr[CPU_RCX] = 20;
    run1(movsd, sizeof(movsd));
    ck_assert_uint_eq(log.reads, 20);
    for (unsigned k = 0; k < 20; k++) {
        uint32_t v;
        memcpy(&v, ram(DST + 4 * k, 4), 4);
        ck_assert_uint_eq(v, (uint32_t)((MMIO_BASE + 0x10 + 4 * k) * 3));
    }
    c->gpr[CPU_RAX] = 0xBEEF;
    c->gpr[CPU_RDI] = MMIO_BASE + 0x100;
    c->gpr[CPU_RCX] = 7;
    run1(stosw, sizeof(stosw));
    ck_assert_uint_eq(log.writes, 7);
    ck_assert_uint_eq(log.last_addr, MMIO_BASE + 0x100 + 12);
    ck_assert_uint_eq(log.last_val, 0xBEEF);
    ck_assert_uint_eq(c->gpr[CPU_RDI], MMIO_BASE + 0x100 + 14);
}
END_TEST

/* A 64-bit TSS at TSS_BASE with RSP0 and an I/O bitmap at +0x68 in which
 * only port 0x61 is denied (SDM Vol. 1 19.5.2). */
#define TSS_BASE 0x22000u

static void user_mode_with_tss(void)
{
    cpu_t *c = &h.cpu;
    uint8_t *t = ram(TSS_BASE, 0x68 + 0x2001);
    memset(t, 0, 0x68 + 0x2001);
    uint64_t rsp0 = CPU_HARNESS_HANDLER_STACK;
    memcpy(t + 4, &rsp0, 8);
    uint16_t iomap = 0x68;
    memcpy(t + 0x66, &iomap, 2);
    t[0x68 + 0x61 / 8] = 1u << (0x61 % 8);
    t[0x68 + 0x2000] = 0xFF;
    c->tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x68 + 0x2000, .base = TSS_BASE};
    c->cpl = 3;
    c->seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
    c->seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0x0F3, .limit = 0xFFFFFFFF};
}

START_TEST(ins_user_mode_needs_permission)
{
    /* CPL 3 > IOPL 0: the TSS bitmap decides, before any access. */
    cpu_t *c = &h.cpu;
    io_log *l = install_io();
    const uint8_t insb[] = {0x6C};
    user_mode_with_tss();
    c->gpr[CPU_RDX] = 0x60;
    c->gpr[CPU_RDI] = DST;
    l->next_in = 0x77;
    ck_assert_int_eq(run1(insb, sizeof(insb)), CPU_STOP_INSNS);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(l->n, 1);
    ck_assert_uint_eq(ram(DST, 1)[0], 0x77);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 1);

    c->gpr[CPU_RDX] = 0x61;
    run1(insb, sizeof(insb));
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(l->n, 1);
    ck_assert_uint_eq(c->gpr[CPU_RDI], DST + 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("string_io");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, outs_ins_through_hook);
    tcase_add_test(t, string_io_intercept);
    tcase_add_test(t, rep_outs_pauses_on_event);
    tcase_add_test(t, rep_string_over_mmio_goes_access_by_access);
    tcase_add_test(t, rep_ins_fault_loses_no_device_read);
    tcase_add_test(t, ins_user_mode_needs_permission);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
