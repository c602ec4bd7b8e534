/*
 * test_apic_illegal.c — vectors 0-15 are never delivered (SDM Vol. 3A
 * 11.5.3 "Error Handling"), whichever path sends them: guests/apic_illegal.c
 * in native mode and in the four VMX modes of the built-in hypervisor,
 * through the machine's own scheduler as `apicv-emu run` drives it (so the
 * MSI device on port F0H is there in every mode). The guest checks each
 * path's ESR bits, the one LVT error interrupt and that no vector 0-15 was
 * taken or left in IRR, and the sender's other errors (send accept error,
 * redirectable IPI) that stop a message; here the run must end with 0 after every check of
 * its mode, and the software APIC of vCPU 1 must hold the receive error.
 * guests/x2apic_reserved.c: reserved bits of x2APIC MSR writes #GP in every
 * mode.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_hv.h"

typedef struct run_out {
    emu_machine m;
    char out[8192];
    size_t len;
} run_out;

static void console(void *ctx, unsigned cpu, uint8_t byte)
{
    run_out *r = ctx;
    (void)cpu;
    if (r->len + 1 < sizeof(r->out))
        r->out[r->len++] = (char)byte;
    r->out[r->len] = 0;
}

static run_out *run_guest(const char *guest, emu_mode mode, unsigned ncpus)
{
    run_out *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/%s.elf", APICV_GUEST_DIR, guest);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = ncpus;
    cfg.max_cycles = 50000000ull;
    cfg.mode = mode;
    ck_assert_msg(emu_machine_init(&r->m, &cfg, path, err, sizeof(err)), "%s", err);
    r->m.console = console;
    r->m.console_ctx = r;
    emu_machine_run(&r->m, UINT64_MAX);
    ck_assert_msg(r->m.finished && r->m.exit_status == 0, "%s: status %d %s\n%s",
                  emu_mode_name(mode), r->m.exit_status, r->m.diag, r->out);
    return r;
}

static void check_mode(emu_mode mode, const char *kind, unsigned nchecks)
{
    run_out *r = run_guest("apic_illegal", mode, 2);
    char want[64];
    snprintf(want, sizeof(want), "apic_illegal: CHECKS %u %s\n", nchecks, kind);
    ck_assert_msg(strstr(r->out, want) != NULL, "%s: expected \"%s\" in:\n%s",
                  emu_mode_name(mode), want, r->out);
    emu_machine_free(&r->m);
    free(r);
}

START_TEST(native)
{
    check_mode(EMU_MODE_NATIVE, "native", 31);
}
END_TEST

START_TEST(emulated)
{
    check_mode(EMU_MODE_EMULATED, "vmx", 39);
}
END_TEST

START_TEST(tpr_shadow)
{
    check_mode(EMU_MODE_TPR_SHADOW, "vmx", 39);
}
END_TEST

START_TEST(apicv)
{
    check_mode(EMU_MODE_APICV, "vmx", 39);
}
END_TEST

START_TEST(posted)
{
    check_mode(EMU_MODE_POSTED, "vmx", 39);
}
END_TEST

/* x2APIC MSR writes with reserved bits (guests/x2apic_reserved.c): #GP and
 * nothing sent or changed, natively and in every VMX mode (SDM 11.12.1.3;
 * 29.5 for the writes the hypervisor emulates). _i: the mode. */
START_TEST(x2apic_reserved_bits_gp)
{
    run_out *r = run_guest("x2apic_reserved", (emu_mode)_i, 1);
    ck_assert_msg(strstr(r->out, "x2apic_reserved: 23 faults, 3 IPIs\n") != NULL, "%s:\n%s",
                  emu_mode_name((emu_mode)_i), r->out);
    emu_machine_free(&r->m);
    free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("apic_illegal");
    TCase *t = tcase_create("modes");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, native);
    tcase_add_test(t, emulated);
    tcase_add_test(t, tpr_shadow);
    tcase_add_test(t, apicv);
    tcase_add_test(t, posted);
    tcase_add_loop_test(t, x2apic_reserved_bits_gp, EMU_MODE_NATIVE, EMU_MODE_COUNT);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
