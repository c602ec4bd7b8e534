/*
 * vmx_guest_fixture.h — the fixture of the tests that run guest code in
 * VMX non-root operation up to its VM exit (tests/vmx/test_exits.c,
 * test_exit_debug.c, test_exit_costs.c): one harness CPU with its local
 * APIC and a vCPU whose VMCS has the default controls and the host state
 * of vmx_setup.c; the guest state is taken from the CPU once the code is
 * loaded.
 * Included by the single .c file of a test program (it defines the
 * file-level h, v and apic); the functions are static inline, so a program
 * that does not use one does not warn.
 */
#ifndef APICV_TEST_VMX_GUEST_FIXTURE_H
#define APICV_TEST_VMX_GUEST_FIXTURE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "apic/apic.h"
#include "tests/support/cpu_harness.h"
#include "vmx/vmx.h"

static cpu_harness h;
static vmx_vcpu v;
static apic_t apic;

#define SET(f, val) vmx_vmcs_set(&v.vmcs, VMCS_##f, (val))
#define GET(f) vmx_vmcs_get(&v.vmcs, VMCS_##f)
#define OR(f, bits) SET(f, GET(f) | (bits))

static inline void vmx_guest_setup(void)
{
    cpu_harness_init(&h);
    apic_init(&apic, &h.cpu, 0, true, &h.obs);
    vmx_vcpu_init(&v, &h.cpu, &apic, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
}

static inline void vmx_guest_teardown(void)
{
    cpu_harness_free(&h);
}

/* Loads code at CPU_HARNESS_CODE and takes the guest state from the CPU. */
static inline void load_guest(const uint8_t *code, size_t len)
{
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, len);
    h.cpu.rip = CPU_HARNESS_CODE;
    vmx_setup_guest_from_cpu(&v);
}

/* Enters the guest and runs it up to its VM exit, back in root operation. */
static inline void enter_and_run(void)
{
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert(v.exited);
    ck_assert(!v.non_root);
}

#endif
