/*
 * test_exit_costs.c — the processor's own extra cycles for some VM exits
 * and entries (docs/cost-model.md, "vmentry_checks" and "exit_*"), charged
 * by vmx/ on top of vmentry and vmexit:
 *
 *   - an entry pays vmentry_checks the first time and when its controls
 *     differ from the last entry's, never when they are the same;
 *   - an exit pays the extra of its reason: exactly the class's cycles
 *     more when the class is raised, the same guest run otherwise; an
 *     external-interrupt exit pays exit_extint only when it acknowledged
 *     the interrupt (SDM 27.2.2), and a reason without an extra (CPUID)
 *     pays none of them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "tests/support/vmx_guest_fixture.h"
#include "vmx/vmx.h"

/* Every extra class, for the tests that set them all. */
static const cpu_cost_class extras[] = {CPU_COST_VMENTRY_CHECKS,  CPU_COST_EXIT_EXCEPTION,
                                        CPU_COST_EXIT_EXTINT,     CPU_COST_EXIT_EPT,
                                        CPU_COST_EXIT_APIC_ACCESS, CPU_COST_EXIT_APIC_WRITE};

/* One entry (launch or resume) and the run to its exit: the cycles it took. */
static uint64_t round_trip(bool launch)
{
    uint64_t start = h.cpu.cycles;
    ck_assert_uint_eq(vmx_vmentry(&v, launch), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert(v.exited);
    return h.cpu.cycles - start;
}

/* SDM 26.2 with a VMCS-caching processor: the checks are done in full at
 * the first entry and after a control changed, not otherwise. A guest
 * whose preemption timer is 0 exits before its first instruction (SDM
 * 25.5.1), so a round trip is the entry, the checks if any, and the exit. */
START_TEST(entry_checks_charged_when_the_controls_change)
{
    static const uint8_t code[] = {0xEB, 0xFE}; /* jmp $ */
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_PREEMPT_TIMER);
    h.costs.cost[CPU_COST_VMENTRY] = 100;
    h.costs.cost[CPU_COST_VMEXIT] = 10;
    h.costs.cost[CPU_COST_VMENTRY_CHECKS] = 1000;
    SET(PREEMPT_TIMER_VALUE, 0);
    ck_assert_uint_eq(round_trip(true), 1110);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_PREEMPT_TIMER);
    SET(PREEMPT_TIMER_VALUE, 0);
    ck_assert_uint_eq(round_trip(false), 110); /* nothing changed */
    /* A guest-state or other field is no control: no checks. */
    SET(PREEMPT_TIMER_VALUE, 0);
    SET(GUEST_RFLAGS, GET(GUEST_RFLAGS) | CPU_FL_CF);
    ck_assert_uint_eq(round_trip(false), 110);
    /* Each of the five control fields, changed, costs the checks once. */
    static const uint32_t ctl[][2] = {{VMCS_PIN_CONTROLS, VMX_PIN_NMI_EXITING},
                                      {VMCS_PROC_CONTROLS, VMX_PROC_HLT},
                                      {VMCS_PROC_CONTROLS2, 0},
                                      {VMCS_EXIT_CONTROLS, VMX_EXIT_ACK_INTR},
                                      {VMCS_ENTRY_CONTROLS, 0}};
    for (unsigned k = 0; k < 5; k++) {
        uint32_t enc = ctl[k][0], bit = ctl[k][1];
        if (enc == VMCS_PROC_CONTROLS2) {
            OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
            SET(PREEMPT_TIMER_VALUE, 0);
            ck_assert_uint_eq(round_trip(false), 1110);
            bit = VMX_PROC2_RDTSCP;
        }
        if (enc == VMCS_ENTRY_CONTROLS)
            bit = VMX_ENTRY_LOAD_PAT;
        vmx_vmcs_set(&v.vmcs, enc, vmx_vmcs_get(&v.vmcs, enc) ^ bit);
        SET(PREEMPT_TIMER_VALUE, 0);
        ck_assert_msg(round_trip(false) == 1110, "control field %04x", enc);
        SET(PREEMPT_TIMER_VALUE, 0);
        ck_assert_uint_eq(round_trip(false), 110);
    }
    /* With the class at 0 (a trace of format version 4 or older) an entry
     * costs what it did. */
    h.costs.cost[CPU_COST_VMENTRY_CHECKS] = 0;
    OR(PROC_CONTROLS, VMX_PROC_MWAIT);
    SET(PREEMPT_TIMER_VALUE, 0);
    ck_assert_uint_eq(round_trip(false), 110);
}
END_TEST

/* The cycles from the launch to the exit of `code` with class `cls` at
 * `extra` (every other extra at 0), after `prepare` set up the VMCS. */
typedef void (*prepare_fn)(void);

static uint64_t cycles_to_exit(const uint8_t *code, size_t len, prepare_fn prepare,
                               cpu_cost_class cls, unsigned extra, uint32_t want_reason)
{
    vmx_guest_teardown();
    vmx_guest_setup();
    load_guest(code, len);
    for (unsigned k = 0; k < sizeof(extras) / sizeof(extras[0]); k++)
        h.costs.cost[extras[k]] = 0;
    h.costs.cost[cls] = (uint16_t)extra;
    if (prepare)
        prepare();
    uint64_t d = round_trip(true);
    ck_assert_uint_eq(GET(EXIT_REASON), want_reason);
    return d;
}

/* The exit costs exactly `cls` more when it is raised by 777. */
static void check_extra(const uint8_t *code, size_t len, prepare_fn prepare, cpu_cost_class cls,
                        uint32_t reason, unsigned want)
{
    uint64_t base = cycles_to_exit(code, len, prepare, cls, 0, reason);
    uint64_t more = cycles_to_exit(code, len, prepare, cls, 777, reason);
    ck_assert_msg(more - base == want, "%s: %llu more cycles, expected %u", cpu_cost_name(cls),
                  (unsigned long long)(more - base), want);
}

static void intercept_ud(void)
{
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_UD);
}

static void pending_interrupt(void)
{
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    apic_accept(&apic, 0x51, APIC_DM_FIXED, false);
}

static void pending_interrupt_ack(void)
{
    pending_interrupt();
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
}

/* EPT (SDM 28.3): the first 16 MiB mapped by 2-MByte pages, the one at
 * 200000H read-only. */
static void ept_read_only_page(void)
{
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pdpt = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pd = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t e = pdpt | 7;
    ck_assert(cpu_phys_write(&h.phys, pml4, &e, 8));
    e = pd | 7;
    ck_assert(cpu_phys_write(&h.phys, pdpt, &e, 8));
    for (uint64_t k = 0; k < 8; k++) {
        e = (k << 21) | (6 << 3) | 0x80 | (k == 1 ? 1 : 7);
        ck_assert(cpu_phys_write(&h.phys, pd + k * 8, &e, 8));
    }
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, pml4 | (3 << 3) | 6);
}

START_TEST(exit_extras_by_reason)
{
    static const uint8_t ud2[] = {0x0F, 0x0B};
    check_extra(ud2, sizeof ud2, intercept_ud, CPU_COST_EXIT_EXCEPTION, VMX_EXIT_EXCEPTION_NMI, 777);
    static const uint8_t spin[] = {0x90, 0x90, 0xEB, 0xFE};
    check_extra(spin, sizeof spin, pending_interrupt_ack, CPU_COST_EXIT_EXTINT,
                VMX_EXIT_EXTERNAL_INTERRUPT, 777);
    /* Without "acknowledge interrupt on exit" the processor acknowledges
     * nothing: no extra. */
    check_extra(spin, sizeof spin, pending_interrupt, CPU_COST_EXIT_EXTINT,
                VMX_EXIT_EXTERNAL_INTERRUPT, 0);
    static const uint8_t store[] = {0xB8, 0x00, 0x00, 0x20, 0x00, /* mov eax, 200000h */
                                    0xC6, 0x00, 0x01};            /* mov byte [rax], 1 */
    check_extra(store, sizeof store, ept_read_only_page, CPU_COST_EXIT_EPT, VMX_EXIT_EPT_VIOLATION,
                777);
    /* A CPUID exit has no extra: none of the classes changes it. */
    static const uint8_t cpuid[] = {0x0F, 0xA2};
    for (unsigned k = 1; k < sizeof(extras) / sizeof(extras[0]); k++)
        check_extra(cpuid, sizeof cpuid, NULL, extras[k], VMX_EXIT_CPUID, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_exit_costs");
    TCase *tc = tcase_create("costs");
    tcase_add_checked_fixture(tc, vmx_guest_setup, vmx_guest_teardown);
    tcase_add_test(tc, entry_checks_charged_when_the_controls_change);
    tcase_add_test(tc, exit_extras_by_reason);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
