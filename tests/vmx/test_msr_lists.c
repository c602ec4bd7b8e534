/*
 * test_msr_lists.c — the MSR lists of VM entries and VM exits (SDM Vol. 3C
 * 26.2.1.2/26.2.1.3 their checks, 26.4 VM-entry MSR loading, 26.7 the
 * failure as exit 34, 27.4 VM-exit MSR storing, 27.6 VM-exit MSR loading,
 * 27.7 VMX abort) with the C hypervisor's host (vmx_root's host is tested
 * by guests/vmx_insns.c and guests/vmx_abort.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/cpu_harness.h"
#include "vmx/vmx.h"

static cpu_harness h;
static vmx_vcpu v;

#define SET(f, val) vmx_vmcs_set(&v.vmcs, VMCS_##f, (val))
#define GET(f) vmx_vmcs_get(&v.vmcs, VMCS_##f)

/* The three areas, in RAM. */
#define ENTRY_AREA 0x200000u
#define STORE_AREA 0x201000u
#define LOAD_AREA 0x202000u

enum {
    MSR_TSC = 0x10,
    MSR_PAT = 0x277,
    MSR_STAR = 0xC0000081,
    MSR_LSTAR = 0xC0000082,
    MSR_FS_BASE = 0xC0000100,
    MSR_GS_BASE = 0xC0000101,
    MSR_KERNEL_GS = 0xC0000102,
    MSR_TSC_AUX = 0xC0000103,
};

static void setup(void)
{
    cpu_harness_init(&h);
    vmx_vcpu_init(&v, &h.cpu, NULL, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    vmx_setup_guest_from_cpu(&v);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* Entry i of the area at base: MSR index (with the reserved half) and data. */
static void put(uint64_t base, unsigned i, uint64_t index, uint64_t data)
{
    cpu_harness_poke64(&h, base + 16 * i, index);
    cpu_harness_poke64(&h, base + 16 * i + 8, data);
}

static void entry_list(unsigned count)
{
    SET(ENTRY_MSR_LOAD_ADDR, ENTRY_AREA);
    SET(ENTRY_MSR_LOAD_COUNT, count);
}

/* ---- 26.4: loading on VM entry ------------------------------------------ */

START_TEST(test_entry_load_in_order)
{
    put(ENTRY_AREA, 0, MSR_STAR, 0x0023001000000000ull);
    put(ENTRY_AREA, 1, MSR_KERNEL_GS, 0xFFFF800000001000ull);
    put(ENTRY_AREA, 2, MSR_TSC_AUX, 7);
    put(ENTRY_AREA, 3, MSR_TSC_AUX, 9); /* the later entry wins */
    /* The list comes after the guest-state area: it overrides the PAT
     * that "load IA32_PAT" loaded (SDM 26.3.2.1). */
    SET(ENTRY_CONTROLS, GET(ENTRY_CONTROLS) | VMX_ENTRY_LOAD_PAT);
    SET(GUEST_PAT, 0x0007040600070406ull);
    put(ENTRY_AREA, 4, MSR_PAT, 0x0606060606060606ull);
    entry_list(5);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.non_root && !v.exited);
    ck_assert_uint_eq(h.cpu.star, 0x0023001000000000ull);
    ck_assert_uint_eq(h.cpu.kernel_gs_base, 0xFFFF800000001000ull);
    ck_assert_uint_eq(h.cpu.tsc_aux, 9);
    ck_assert_uint_eq(h.cpu.pat, 0x0606060606060606ull);
    ck_assert_uint_eq(v.vmcs.launch_state, VMX_LAUNCH_LAUNCHED);
}
END_TEST

/* IA32_TSC in the list sets the processor's TSC; the guest reads it through
 * the VMCS TSC offset (SDM 24.6.5). */
START_TEST(test_entry_load_tsc_under_offset)
{
    SET(PROC_CONTROLS, GET(PROC_CONTROLS) | VMX_PROC_TSC_OFFSET);
    SET(TSC_OFFSET, 1000);
    put(ENTRY_AREA, 0, MSR_TSC, 5000000);
    entry_list(1);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    uint64_t now = h.cpu.cycles;
    ck_assert_uint_eq(now + v.root_tsc_offset, 5000000);
    ck_assert_uint_eq(now + h.cpu.tsc_offset, 5001000);
}
END_TEST

/* Each rule of 26.4 on its own: the entry fails as exit 34 | bit 31 with
 * the 1-based number of the failing entry as qualification (26.7); the
 * entries before it stay loaded; the launch state stays clear; the
 * VM-entry interruption information is no longer valid. */
static const struct {
    const char *name;
    uint64_t index, data;
} bad_loads[] = {
    {"FS base", MSR_FS_BASE, 0},
    {"GS base", MSR_GS_BASE, 0},
    {"x2APIC TPR", 0x808, 0},
    {"x2APIC EOI", 0x80B, 0},
    {"reserved bits 63:32", MSR_STAR | (1ull << 32), 0},
    {"SMM monitor control", 0x9B, 0},
    {"microcode update trigger", 0x79, 0},
    {"microcode revision", 0x8B, 0},
    {"WRMSR #GP: non-canonical LSTAR", MSR_LSTAR, 0x0000800000000000ull},
    {"WRMSR #GP: reserved PAT type", MSR_PAT, 2},
    {"WRMSR #GP: no such MSR", 0x12345, 0},
};

START_TEST(test_entry_load_failure)
{
    put(ENTRY_AREA, 0, MSR_TSC_AUX, 0x55);
    put(ENTRY_AREA, 1, bad_loads[_i].index, bad_loads[_i].data);
    put(ENTRY_AREA, 2, MSR_STAR, 0x77);
    entry_list(3);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_EXT << 8) | 0x40);
    SET(GUEST_RFLAGS, GET(GUEST_RFLAGS) | CPU_FL_IF);
    uint64_t tsc_offset = h.cpu.tsc_offset, star = h.cpu.star;
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_msg(v.exited, "%s: no exit", bad_loads[_i].name);
    ck_assert(!v.non_root);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_ENTRY_FAIL_MSR | VMX_EXIT_REASON_ENTRY_FAIL);
    ck_assert_msg(GET(EXIT_QUALIFICATION) == 2, "%s: qualification %llu", bad_loads[_i].name,
                  (unsigned long long)GET(EXIT_QUALIFICATION));
    ck_assert_uint_eq(h.cpu.tsc_aux, 0x55); /* entry 1 was loaded */
    ck_assert_uint_eq(h.cpu.star, star);    /* entry 3 was not */
    ck_assert_uint_eq(h.cpu.tsc_offset, tsc_offset);
    ck_assert_uint_eq(v.vmcs.launch_state, VMX_LAUNCH_CLEAR);
    ck_assert_uint_eq(GET(ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID, 0);
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_ENTRY_FAIL_MSR], 1);
    ck_assert(!h.cpu.inject_pending);
}
END_TEST

/* An area that leaves RAM reads as all ones: that entry fails. */
START_TEST(test_entry_load_outside_ram)
{
    SET(ENTRY_MSR_LOAD_ADDR, CPU_HARNESS_RAM - 16);
    SET(ENTRY_MSR_LOAD_COUNT, 2);
    put(CPU_HARNESS_RAM - 16, 0, MSR_TSC_AUX, 3);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.exited);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2);
    ck_assert_uint_eq(h.cpu.tsc_aux, 3);
}
END_TEST

/* IA32_VMX_MISC[27:25] = 0: 512 entries at most; the 513th fails. */
START_TEST(test_entry_load_list_limit)
{
    uint64_t misc;
    ck_assert(vmx_capability_msr(VMX_MSR_MISC, &misc));
    ck_assert_uint_eq((misc >> 25) & 7, 0);
    ck_assert_uint_eq(VMX_MSR_LIST_MAX, 512);
    for (unsigned i = 0; i < 513; i++)
        put(ENTRY_AREA, i, MSR_TSC_AUX, i);
    entry_list(512);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.non_root);
    ck_assert_uint_eq(h.cpu.tsc_aux, 511);
    vmx_vmexit(&v, VMX_EXIT_CPUID, NULL);
    entry_list(513);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert(v.exited && !v.non_root);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_ENTRY_FAIL_MSR | VMX_EXIT_REASON_ENTRY_FAIL);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 513);
}
END_TEST

/* ---- 26.2.1.2 / 26.2.1.3: the addresses and counts --------------------- */

START_TEST(test_area_checks)
{
    static const struct {
        uint32_t count_enc, addr_enc;
        vmx_check check;
    } lists[] = {
        {VMCS_EXIT_MSR_STORE_COUNT, VMCS_EXIT_MSR_STORE_ADDR, VMX_CHECK_EXIT_MSR_STORE},
        {VMCS_EXIT_MSR_LOAD_COUNT, VMCS_EXIT_MSR_LOAD_ADDR, VMX_CHECK_EXIT_MSR_LOAD},
        {VMCS_ENTRY_MSR_LOAD_COUNT, VMCS_ENTRY_MSR_LOAD_ADDR, VMX_CHECK_ENTRY_MSR_LOAD},
    };
    const uint64_t top = 1ull << CPU_MAXPHYADDR;
    for (unsigned k = 0; k < 3; k++) {
        /* Count 0: the address is not looked at. */
        vmx_vmcs_set(&v.vmcs, lists[k].addr_enc, 0x123457);
        vmx_vmcs_set(&v.vmcs, lists[k].count_enc, 0);
        ck_assert_int_eq(vmx_entry_check(&v), VMX_CHECK_NONE);
        /* Bits 3:0 of the address. */
        vmx_vmcs_set(&v.vmcs, lists[k].count_enc, 1);
        ck_assert_int_eq(vmx_entry_check(&v), lists[k].check);
        ck_assert_uint_eq(vmx_vmentry(&v, true), VMX_ERR_ENTRY_INVALID_CONTROL);
        /* The address beyond MAXPHYADDR. */
        vmx_vmcs_set(&v.vmcs, lists[k].addr_enc, top);
        ck_assert_int_eq(vmx_entry_check(&v), lists[k].check);
        /* The last byte just inside, then just beyond. */
        vmx_vmcs_set(&v.vmcs, lists[k].addr_enc, top - 32);
        vmx_vmcs_set(&v.vmcs, lists[k].count_enc, 2);
        ck_assert_int_eq(vmx_entry_check(&v), VMX_CHECK_NONE);
        vmx_vmcs_set(&v.vmcs, lists[k].count_enc, 3);
        ck_assert_int_eq(vmx_entry_check(&v), lists[k].check);
        /* A count that only overflows 32 bits when multiplied by 16. */
        vmx_vmcs_set(&v.vmcs, lists[k].addr_enc, 0x1000);
        vmx_vmcs_set(&v.vmcs, lists[k].count_enc, 0xFFFFFFFFu);
        ck_assert_int_eq(vmx_entry_check(&v), VMX_CHECK_NONE); /* 64 GiB fits 39 bits */
        vmx_vmcs_set(&v.vmcs, lists[k].count_enc, 0);
    }
}
END_TEST

/* ---- 27.4 / 27.6: storing and loading on VM exit ------------------------- */

static void exit_lists(unsigned store, unsigned load)
{
    SET(EXIT_MSR_STORE_ADDR, STORE_AREA);
    SET(EXIT_MSR_STORE_COUNT, store);
    SET(EXIT_MSR_LOAD_ADDR, LOAD_AREA);
    SET(EXIT_MSR_LOAD_COUNT, load);
}

START_TEST(test_exit_store_then_load)
{
    put(STORE_AREA, 0, MSR_KERNEL_GS, 0);
    put(STORE_AREA, 1, MSR_TSC, 0);
    put(STORE_AREA, 2, MSR_FS_BASE, 0); /* may be stored (only loading it fails) */
    put(LOAD_AREA, 0, MSR_KERNEL_GS, 0x1111000);
    put(LOAD_AREA, 1, MSR_STAR, 0x2222);
    exit_lists(3, 2);
    SET(PROC_CONTROLS, GET(PROC_CONTROLS) | VMX_PROC_TSC_OFFSET);
    SET(TSC_OFFSET, 1ull << 40);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    /* The guest's own values. */
    h.cpu.kernel_gs_base = 0xABC000;
    h.cpu.seg[CPU_FS].base = 0xF5000;
    h.cpu.cycles += 100;
    vmx_vmexit(&v, VMX_EXIT_CPUID, NULL);
    ck_assert(v.exited && !v.aborted);
    ck_assert_uint_eq(cpu_harness_peek64(&h, STORE_AREA + 8), 0xABC000);
    /* The processor's TSC, not the guest's offset view. */
    ck_assert_uint_eq(cpu_harness_peek64(&h, STORE_AREA + 24), h.cpu.cycles + h.cpu.tsc_offset);
    ck_assert_uint_lt(cpu_harness_peek64(&h, STORE_AREA + 24), 1ull << 40);
    ck_assert_uint_eq(cpu_harness_peek64(&h, STORE_AREA + 40), 0xF5000);
    /* Indexes are not written back. */
    ck_assert_uint_eq(cpu_harness_peek64(&h, STORE_AREA), MSR_KERNEL_GS);
    /* Then the host's values are loaded (the C host: at the exit itself). */
    ck_assert_uint_eq(h.cpu.kernel_gs_base, 0x1111000);
    ck_assert_uint_eq(h.cpu.star, 0x2222);
}
END_TEST

/* 27.4 failure: a VMX abort (indicator 1, 27.7): the CPU shuts down, the
 * host gets no exit, the run stops with CPU_STOP_TRIPLE_FAULT. */
START_TEST(test_exit_store_failure_aborts)
{
    put(STORE_AREA, 0, MSR_TSC_AUX, 0);
    put(STORE_AREA, 1, 0x9E, 0); /* IA32_SMBASE: read only in SMM */
    exit_lists(2, 0);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    h.cpu.tsc_aux = 42;
    vmx_vmexit(&v, VMX_EXIT_CPUID, NULL);
    ck_assert_uint_eq(v.aborted, VMX_ABORT_SAVE_GUEST_MSR);
    ck_assert_uint_eq(v.vmcs.abort, VMX_ABORT_SAVE_GUEST_MSR);
    ck_assert(!v.exited && !v.non_root);
    ck_assert_uint_eq(cpu_harness_peek64(&h, STORE_AREA + 8), 42); /* entry 1 was stored */
    ck_assert_uint_eq(vmx_run(&v, h.cpu.cycles + 1000), CPU_STOP_TRIPLE_FAULT);
    ck_assert_str_eq(vmx_abort_name(VMX_ABORT_SAVE_GUEST_MSR), "failure saving guest MSRs");
}
END_TEST

static const uint64_t bad_store_index[] = {0x808, MSR_TSC_AUX | (1ull << 40), 0x9E, 0x12345};

START_TEST(test_exit_store_rules)
{
    put(STORE_AREA, 0, bad_store_index[_i], 0);
    exit_lists(1, 0);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    vmx_vmexit(&v, VMX_EXIT_CPUID, NULL);
    ck_assert_uint_eq(v.aborted, VMX_ABORT_SAVE_GUEST_MSR);
}
END_TEST

/* 27.6 failure: indicator 4. The exit inside a run ends it as shutdown. */
START_TEST(test_exit_load_failure_aborts_in_run)
{
    put(LOAD_AREA, 0, MSR_GS_BASE, 0);
    exit_lists(0, 1);
    static const uint8_t code[] = {0x0F, 0xA2}; /* CPUID: an unconditional exit */
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, sizeof code);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_uint_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_TRIPLE_FAULT);
    ck_assert_uint_eq(v.aborted, VMX_ABORT_LOAD_HOST_MSR);
    ck_assert(!v.exited);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
}
END_TEST

/* 26.7: after an entry failure on the MSR-load list, the VM-exit MSR-load
 * list is loaded as at any exit (the C host: at once). */
START_TEST(test_entry_failure_loads_exit_list)
{
    put(ENTRY_AREA, 0, 0x808, 0);
    entry_list(1);
    put(LOAD_AREA, 0, MSR_STAR, 0x3333);
    exit_lists(0, 1);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.exited && !v.aborted);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 1);
    ck_assert_uint_eq(h.cpu.star, 0x3333);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_msr_lists");
    TCase *t = tcase_create("lists");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_entry_load_in_order);
    tcase_add_test(t, test_entry_load_tsc_under_offset);
    tcase_add_loop_test(t, test_entry_load_failure, 0,
                        (int)(sizeof bad_loads / sizeof bad_loads[0]));
    tcase_add_test(t, test_entry_load_outside_ram);
    tcase_add_test(t, test_entry_load_list_limit);
    tcase_add_test(t, test_area_checks);
    tcase_add_test(t, test_exit_store_then_load);
    tcase_add_test(t, test_exit_store_failure_aborts);
    tcase_add_loop_test(t, test_exit_store_rules, 0,
                        (int)(sizeof bad_store_index / sizeof bad_store_index[0]));
    tcase_add_test(t, test_exit_load_failure_aborts_in_run);
    tcase_add_test(t, test_entry_failure_loads_exit_list);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
