/*
 * test_entry_host_mode.c — the host-state rule that depends on the
 * processor rather than on the VMCS (SDM Vol. 3C 26.2.4): a guest
 * hypervisor outside IA-32e mode (32-bit protected mode, where its VMX
 * instructions run since they take 32-bit operands there) cannot enter a
 * guest, because "host address-space size" is must-be-1 in this model's
 * IA32_VMX_EXIT_CTLS: VMfailValid 8, every time, even after an entry from
 * IA-32e mode passed the host checks with the same VMCS.
 */
#include <check.h>
#include <stdlib.h>

#include "tests/support/cpu_harness.h"
#include "vmx/vmx.h"

static cpu_harness h;
static vmx_vcpu v;

static void setup(void)
{
    cpu_harness_init(&h);
    vmx_vcpu_init(&v, &h.cpu, NULL, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    vmx_setup_guest_from_cpu(&v);
    v.host_on_cpu = true; /* a guest hypervisor: the host is this CPU */
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

START_TEST(host_outside_ia32e_mode_fails_with_error_8)
{
    h.cpu.efer &= ~(uint64_t)CPU_EFER_LMA;
    ck_assert_uint_eq(vmx_vmentry(&v, true), VMX_ERR_ENTRY_INVALID_HOST);
    ck_assert_int_eq(v.last_check, VMX_CHECK_HOST_ADDR_SPACE);
    ck_assert(!v.non_root);
}
END_TEST

START_TEST(rule_applies_after_a_passing_entry)
{
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.vmcs.checked & VMX_CHECKED_HOST);
    v.non_root = false;
    h.cpu.efer &= ~(uint64_t)CPU_EFER_LMA;
    ck_assert_uint_eq(vmx_vmentry(&v, false), VMX_ERR_ENTRY_INVALID_HOST);
    ck_assert_int_eq(v.last_check, VMX_CHECK_HOST_ADDR_SPACE);
}
END_TEST

/* The built-in hypervisor's host is C code, always 64-bit: the CPU holds
 * the guest's state, whose mode says nothing about the host. */
START_TEST(builtin_host_ignores_the_cpu_mode)
{
    v.host_on_cpu = false;
    h.cpu.efer &= ~(uint64_t)CPU_EFER_LMA;
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.non_root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_entry_host_mode");
    TCase *t = tcase_create("host_mode");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, host_outside_ia32e_mode_fails_with_error_8);
    tcase_add_test(t, rule_applies_after_a_passing_entry);
    tcase_add_test(t, builtin_host_ignores_the_cpu_mode);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
