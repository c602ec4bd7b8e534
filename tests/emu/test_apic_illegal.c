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
#include "tests/emu/test_guest_run.h"

static void check_mode(emu_mode mode, const char *kind, unsigned nchecks)
{
    guest_run *r = guest_run_start("apic_illegal", mode, 2, 50000000ull);
    guest_run_assert_ok(r, "apic_illegal");
    char want[64];
    snprintf(want, sizeof(want), "apic_illegal: CHECKS %u %s\n", nchecks, kind);
    ck_assert_msg(strstr(r->out, want) != NULL, "%s: expected \"%s\" in:\n%s",
                  emu_mode_name(mode), want, r->out);
    guest_run_free(r);
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
    guest_run *r = guest_run_start("x2apic_reserved", (emu_mode)_i, 1, 50000000ull);
    guest_run_assert_ok(r, "x2apic_reserved");
    ck_assert_msg(strstr(r->out, "x2apic_reserved: 23 faults, 3 IPIs\n") != NULL, "%s:\n%s",
                  emu_mode_name((emu_mode)_i), r->out);
    guest_run_free(r);
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
