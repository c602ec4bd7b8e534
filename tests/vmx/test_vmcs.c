/*
 * test_vmcs.c — VMCS field encodings, widths, read-only fields, invalid
 * encodings, "high" access to 64-bit fields, VMREAD/VMWRITE errors
 * (SDM Vol. 3C 24.11.2, 30.3, Vol. 3D appendix B), exit-reason names.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmx/vmx.h"

static vmx_vmcs vmcs;

static void setup(void)
{
    memset(&vmcs, 0, sizeof vmcs);
    vmx_vmcs_clear(&vmcs);
}

/* Encodings the issue spells out (SDM appendix B). */
START_TEST(test_named_encodings)
{
    ck_assert_uint_eq(VMCS_POSTED_INTR_NV, 0x0002);
    ck_assert_uint_eq(VMCS_GUEST_INTR_STATUS, 0x0810);
    ck_assert_uint_eq(VMCS_VIRTUAL_APIC_ADDR, 0x2012);
    ck_assert_uint_eq(VMCS_APIC_ACCESS_ADDR, 0x2014);
    ck_assert_uint_eq(VMCS_POSTED_INTR_DESC_ADDR, 0x2016);
    ck_assert_uint_eq(VMCS_EOI_EXIT_BITMAP0, 0x201C);
    ck_assert_uint_eq(VMCS_EOI_EXIT_BITMAP1, 0x201E);
    ck_assert_uint_eq(VMCS_EOI_EXIT_BITMAP2, 0x2020);
    ck_assert_uint_eq(VMCS_EOI_EXIT_BITMAP3, 0x2022);
    ck_assert_uint_eq(VMCS_TPR_THRESHOLD, 0x401C);
    ck_assert_uint_eq(VMCS_GUEST_INTERRUPTIBILITY, 0x4824);
    ck_assert_uint_eq(VMCS_GUEST_ACTIVITY_STATE, 0x4826);
    ck_assert_uint_eq(VMCS_ENTRY_INTR_INFO, 0x4016);
    ck_assert_uint_eq(VMCS_EXIT_INTR_INFO, 0x4404);
    ck_assert_uint_eq(VMCS_IDT_VECTORING_INFO, 0x4408);
    ck_assert_uint_eq(VMCS_PIN_CONTROLS, 0x4000);
    ck_assert_uint_eq(VMCS_PROC_CONTROLS, 0x4002);
    ck_assert_uint_eq(VMCS_PROC_CONTROLS2, 0x401E);
    ck_assert_uint_eq(VMCS_EXIT_CONTROLS, 0x400C);
    ck_assert_uint_eq(VMCS_ENTRY_CONTROLS, 0x4012);
    ck_assert_uint_eq(VMCS_EXIT_REASON, 0x4402);
    ck_assert_uint_eq(VMCS_EXIT_QUALIFICATION, 0x6400);
    ck_assert_uint_eq(VMCS_GUEST_RIP, 0x681E);
    ck_assert_uint_eq(VMCS_HOST_RIP, 0x6C16);
    ck_assert_uint_eq(VMCS_EPT_POINTER, 0x201A);
}
END_TEST

/* The O(1) lookup by storage slot accepts exactly the listed fields (and
 * the high access of the 64-bit ones): every 16-bit encoding is checked
 * against a plain search of the field list, and the names agree. A slot
 * shared by an unlisted encoding (index bits 9:5 differ) must not match. */
START_TEST(test_lookup_matches_field_list)
{
    static const uint32_t all[] = {
#define X(name, enc) enc,
        VMX_VMCS_FIELDS(X)
#undef X
    };
    static const char *const names[] = {
#define X(name, enc) #name,
        VMX_VMCS_FIELDS(X)
#undef X
    };
    size_t n = sizeof all / sizeof all[0];
    unsigned valid = 0;
    for (uint32_t e = 0; e <= 0xFFFFu; e++) {
        size_t found = n;
        for (size_t i = 0; i < n; i++)
            if (all[i] == (e & ~1u))
                found = i;
        bool expect = found < n && (!(e & 1) || VMX_ENC_WIDTH(e) == VMX_WIDTH_64);
        ck_assert_msg(vmx_vmcs_field_valid(e) == expect, "encoding %#x: valid %d, expected %d", e,
                      vmx_vmcs_field_valid(e), expect);
        if (!expect) {
            ck_assert_ptr_null(vmx_vmcs_field_name(e));
            continue;
        }
        valid++;
        char want[64];
        snprintf(want, sizeof want, "%s%s", names[found], (e & 1) ? "_HIGH" : "");
        ck_assert_str_eq(vmx_vmcs_field_name(e), want);
    }
    ck_assert_uint_gt(valid, n);
    /* Same slot as GUEST_RIP (681EH), index bit 5 set: not a field. */
    ck_assert(!vmx_vmcs_field_valid(0x685Eu));
    ck_assert_uint_eq(VMX_VMCS_SLOT(0x685Eu), VMX_VMCS_SLOT(VMCS_GUEST_RIP));
    ck_assert(!vmx_vmcs_field_valid(0x10000u | VMCS_GUEST_RIP));
}
END_TEST

/* Every field's encoding agrees with its group: width bits 14:13 and type
 * bits 11:10 (SDM 24.11.2), and no two fields share a storage slot. */
START_TEST(test_encoding_structure_and_slots)
{
    static const uint32_t all[] = {
#define X(name, enc) enc,
        VMX_VMCS_FIELDS(X)
#undef X
    };
    size_t n = sizeof all / sizeof all[0];
    ck_assert_uint_gt(n, 150);
    static uint8_t used[VMX_VMCS_NSLOTS];
    memset(used, 0, sizeof used);
    for (size_t i = 0; i < n; i++) {
        uint32_t e = all[i];
        ck_assert_msg(vmx_vmcs_field_valid(e), "field %#x invalid", e);
        ck_assert_uint_eq(e & 1, 0);
        unsigned slot = VMX_VMCS_SLOT(e);
        ck_assert_uint_lt(slot, VMX_VMCS_NSLOTS);
        ck_assert_msg(!used[slot], "slot clash at %#x", e);
        used[slot] = 1;
        /* Writing one field leaves every other at 0. */
        vmx_vmcs_clear(&vmcs);
        vmx_vmcs_set(&vmcs, e, 1);
        for (size_t j = 0; j < n; j++)
            ck_assert_uint_eq(vmx_vmcs_get(&vmcs, all[j]), i == j ? 1 : 0);
    }
}
END_TEST

START_TEST(test_widths)
{
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_VPID), 16);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_GUEST_INTR_STATUS), 16);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_HOST_TR_SEL), 16);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_IO_BITMAP_A), 64);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_IO_BITMAP_A | 1), 32);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_GUEST_PHYSICAL_ADDR), 64);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_PIN_CONTROLS), 32);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_EXIT_REASON), 32);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_GUEST_RIP), 64);
    ck_assert_uint_eq(vmx_vmcs_field_width(VMCS_EXIT_QUALIFICATION), 64);
    ck_assert_uint_eq(vmx_vmcs_field_width(0x7777), 0);

    /* Raw sets truncate to the field width. */
    vmx_vmcs_set(&vmcs, VMCS_GUEST_INTR_STATUS, 0x123456789ull);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_GUEST_INTR_STATUS), 0x6789);
    vmx_vmcs_set(&vmcs, VMCS_TPR_THRESHOLD, 0x1122334455667788ull);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_TPR_THRESHOLD), 0x55667788);
    vmx_vmcs_set(&vmcs, VMCS_GUEST_RIP, 0xFFFF800000001234ull);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_GUEST_RIP), 0xFFFF800000001234ull);
}
END_TEST

START_TEST(test_readonly_and_invalid)
{
    ck_assert(vmx_vmcs_field_readonly(VMCS_EXIT_REASON));
    ck_assert(vmx_vmcs_field_readonly(VMCS_EXIT_QUALIFICATION));
    ck_assert(vmx_vmcs_field_readonly(VMCS_GUEST_PHYSICAL_ADDR));
    ck_assert(vmx_vmcs_field_readonly(VMCS_GUEST_PHYSICAL_ADDR | 1));
    ck_assert(vmx_vmcs_field_readonly(VMCS_VM_INSN_ERROR));
    ck_assert(!vmx_vmcs_field_readonly(VMCS_GUEST_RIP));
    ck_assert(!vmx_vmcs_field_readonly(VMCS_PIN_CONTROLS));
    /* High access only for 64-bit fields; reserved bits; holes. */
    ck_assert(!vmx_vmcs_field_valid(VMCS_PIN_CONTROLS | 1));
    ck_assert(!vmx_vmcs_field_valid(VMCS_GUEST_RIP | 1));
    ck_assert(!vmx_vmcs_field_valid(VMCS_VPID | 1));
    ck_assert(!vmx_vmcs_field_valid(VMCS_GUEST_RIP | 0x1000));
    ck_assert(!vmx_vmcs_field_valid(VMCS_GUEST_RIP | 0x10000));
    ck_assert(!vmx_vmcs_field_valid(0x482C)); /* hole between SYSENTER_CS and the timer */
    ck_assert(!vmx_vmcs_field_valid(0x2034));
    ck_assert(vmx_vmcs_field_valid(VMCS_TSC_MULTIPLIER | 1));
    ck_assert_str_eq(vmx_vmcs_field_name(VMCS_GUEST_RIP), "GUEST_RIP");
    ck_assert_str_eq(vmx_vmcs_field_name(VMCS_EOI_EXIT_BITMAP0 | 1), "EOI_EXIT_BITMAP0_HIGH");
    ck_assert_ptr_null(vmx_vmcs_field_name(0x482C));
}
END_TEST

START_TEST(test_high_access)
{
    vmx_vmcs_set(&vmcs, VMCS_TSC_OFFSET, 0x1122334455667788ull);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_TSC_OFFSET | 1), 0x11223344);
    vmx_vmcs_set(&vmcs, VMCS_TSC_OFFSET | 1, 0xAABBCCDDEEull);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_TSC_OFFSET), 0xBBCCDDEE55667788ull);

    uint64_t val = 0;
    ck_assert_uint_eq(vmx_vmwrite(&vmcs, VMCS_EPT_POINTER, 0x0123456789ABCDEFull), 0);
    ck_assert_uint_eq(vmx_vmread(&vmcs, VMCS_EPT_POINTER | 1, &val), 0);
    ck_assert_uint_eq(val, 0x01234567);
    ck_assert_uint_eq(vmx_vmwrite(&vmcs, VMCS_EPT_POINTER | 1, 0xFFFFFFFF00000042ull), 0);
    ck_assert_uint_eq(vmx_vmread(&vmcs, VMCS_EPT_POINTER, &val), 0);
    ck_assert_uint_eq(val, 0x0000004289ABCDEFull);
}
END_TEST

START_TEST(test_vmread_vmwrite_errors)
{
    uint64_t val = 0x5555;
    /* Unsupported component: 12, value untouched, error recorded. */
    ck_assert_uint_eq(vmx_vmread(&vmcs, 0x482C, &val), VMX_ERR_UNSUPPORTED_FIELD);
    ck_assert_uint_eq(val, 0x5555);
    ck_assert_uint_eq(vmx_vmwrite(&vmcs, 0x482C, 1), VMX_ERR_UNSUPPORTED_FIELD);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_VM_INSN_ERROR), VMX_ERR_UNSUPPORTED_FIELD);
    /* Bits 63:32 of the encoding operand must be 0. */
    ck_assert_uint_eq(vmx_vmread(&vmcs, (1ull << 32) | VMCS_GUEST_RIP, &val),
                      VMX_ERR_UNSUPPORTED_FIELD);
    ck_assert_uint_eq(vmx_vmwrite(&vmcs, VMCS_GUEST_RIP | 1, 0), VMX_ERR_UNSUPPORTED_FIELD);
    /* A VM-exit information field is written too (IA32_VMX_MISC bit 29
     * is 1: no error 13), its high half included. */
    vmx_vmcs_set(&vmcs, VMCS_EXIT_REASON, 10);
    ck_assert_uint_eq(vmx_vmwrite(&vmcs, VMCS_EXIT_REASON, 7), VMX_ERR_NONE);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_EXIT_REASON), 7);
    ck_assert_uint_eq(vmx_vmwrite(&vmcs, VMCS_GUEST_PHYSICAL_ADDR | 1, 7), VMX_ERR_NONE);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_GUEST_PHYSICAL_ADDR), 7ull << 32);
    uint64_t misc;
    ck_assert(vmx_capability_msr(VMX_MSR_MISC, &misc));
    ck_assert_uint_eq((misc >> 29) & 1, 1);
    /* Reading them is fine and zero-extends. */
    ck_assert_uint_eq(vmx_vmread(&vmcs, VMCS_EXIT_REASON, &val), 0);
    ck_assert_uint_eq(val, 7);
    /* VMWRITE of a 16-bit field keeps the low 16 bits. */
    ck_assert_uint_eq(vmx_vmwrite(&vmcs, VMCS_GUEST_CS_SEL, 0xFFFF0008), 0);
    ck_assert_uint_eq(vmx_vmcs_get(&vmcs, VMCS_GUEST_CS_SEL), 0x0008);
}
END_TEST

START_TEST(test_exit_reason_names)
{
    ck_assert_str_eq(vmx_exit_reason_name(VMX_EXIT_EXTERNAL_INTERRUPT), "EXTERNAL_INTERRUPT");
    ck_assert_str_eq(vmx_exit_reason_name(VMX_EXIT_APIC_WRITE), "APIC_WRITE");
    ck_assert_str_eq(vmx_exit_reason_name(VMX_EXIT_ENTRY_FAIL_GUEST | VMX_EXIT_REASON_ENTRY_FAIL),
                     "ENTRY_FAIL_GUEST");
    ck_assert_str_eq(vmx_exit_reason_name(35), "UNKNOWN");
    ck_assert_str_eq(vmx_exit_reason_name(1000), "UNKNOWN");
    ck_assert_uint_eq(VMX_EXIT_TPR_BELOW_THRESHOLD, 43);
    ck_assert_uint_eq(VMX_EXIT_PREEMPT_TIMER, 52);
    ck_assert_uint_eq(VMX_EXIT_EPT_MISCONFIG, 49);
    ck_assert_str_eq(vmx_event_name(VMX_EV_VMEXIT), "vmx.exit");
    ck_assert_ptr_null(vmx_event_name(VMX_EV_VMX_END));
    for (unsigned k = CPU_OBS_RANGE_VMX; k < VMX_EV_VMX_END; k++)
        ck_assert_ptr_nonnull(vmx_event_name(k));
    ck_assert_uint_lt(VMX_EV_VMX_END, CPU_OBS_RANGE_EMU);
}
END_TEST

static cpu_obs_event last_ev;
static unsigned nev;
static void record(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    last_ev = *ev;
    nev++;
}

START_TEST(test_vcpu_vmwrite_event)
{
    static vmx_vcpu vc;
    cpu_obs_bus bus = {0};
    ck_assert(cpu_obs_subscribe(&bus, record, NULL));
    vmx_vcpu_init(&vc, NULL, NULL, NULL, &bus);
    nev = 0;
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_TPR_THRESHOLD, 3), 0);
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_TPR_THRESHOLD, 5), 0);
    ck_assert_uint_eq(nev, 2);
    ck_assert_uint_eq(last_ev.kind, VMX_EV_VMWRITE);
    ck_assert_uint_eq(last_ev.a, VMCS_TPR_THRESHOLD);
    ck_assert_uint_eq(last_ev.b, 3);
    ck_assert_uint_eq(last_ev.d, 5);
    /* The values read through the encoding: a high access gives bits
     * 63:32, a 16-bit field keeps 16 bits. */
    vmx_vmcs_set(&vc.vmcs, VMCS_TSC_OFFSET, 0x1122334455667788ull);
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_TSC_OFFSET | 1, 0xAABBCCDD), 0);
    ck_assert_uint_eq(last_ev.b, 0x11223344);
    ck_assert_uint_eq(last_ev.d, 0xAABBCCDD);
    ck_assert_uint_eq(vmx_vmcs_get(&vc.vmcs, VMCS_TSC_OFFSET), 0xAABBCCDD55667788ull);
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_VPID, 0x12345), 0);
    ck_assert_uint_eq(last_ev.b, 0);
    ck_assert_uint_eq(last_ev.d, 0x2345);
    ck_assert_uint_eq(nev, 4);
    /* A failing VMWRITE emits nothing. */
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, 0x7FFF, 5), VMX_ERR_UNSUPPORTED_FIELD);
    ck_assert_uint_eq(nev, 4);
    /* SDM 30.3: a read-only field refuses VMWRITE with 13 only when
     * IA32_VMX_MISC[29] = 0 (vmwrite_ro_fails); unsupported stays 12. */
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_EXIT_REASON, 9), VMX_ERR_NONE);
    ck_assert_uint_eq(nev, 5);
    vc.vmwrite_ro_fails = true;
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_EXIT_REASON, 4), VMX_ERR_WRITE_READONLY);
    ck_assert_uint_eq(vmx_vmcs_get(&vc.vmcs, VMCS_EXIT_REASON), 9);
    ck_assert_uint_eq(vmx_vmcs_get(&vc.vmcs, VMCS_VM_INSN_ERROR), VMX_ERR_WRITE_READONLY);
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_GUEST_PHYSICAL_ADDR | 1, 4), VMX_ERR_WRITE_READONLY);
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, 0x7FFF, 5), VMX_ERR_UNSUPPORTED_FIELD);
    ck_assert_uint_eq(vmx_vcpu_vmwrite(&vc, VMCS_TPR_THRESHOLD, 6), VMX_ERR_NONE);
    ck_assert_uint_eq(nev, 6);
    vc.vmwrite_ro_fails = false;
    /* A fresh vCPU: revision reported by IA32_VMX_BASIC, link pointer ~0. */
    uint64_t basic;
    ck_assert(vmx_capability_msr(VMX_MSR_BASIC, &basic));
    ck_assert_uint_eq(vc.vmcs.revision, basic & 0x7FFFFFFF);
    ck_assert_uint_eq(vmx_vmcs_get(&vc.vmcs, VMCS_VMCS_LINK_PTR), ~0ull);
}
END_TEST

/* Names agree with the type bits: HOST_* are host-state (3), GUEST_* guest-
 * state (2) except the two exit-information addresses, and the 64-bit
 * fields sit in width 1. */
START_TEST(test_names_match_types)
{
#define X(name, enc) {#name, enc},
    static const struct {
        const char *name;
        uint32_t enc;
    } f[] = {VMX_VMCS_FIELDS(X)};
#undef X
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        const char *n = f[i].name;
        unsigned type = VMX_ENC_TYPE(f[i].enc);
        ck_assert_str_eq(vmx_vmcs_field_name(f[i].enc), n);
        if (strncmp(n, "HOST_", 5) == 0)
            ck_assert_msg(type == VMX_TYPE_HOST, "%s", n);
        else if (strcmp(n, "GUEST_PHYSICAL_ADDR") == 0 || strcmp(n, "GUEST_LINEAR_ADDR") == 0)
            ck_assert_msg(type == VMX_TYPE_RO, "%s", n);
        else if (strncmp(n, "GUEST_", 6) == 0)
            ck_assert_msg(type == VMX_TYPE_GUEST, "%s", n);
        if (strstr(n, "_ADDR") || strstr(n, "BITMAP_") || strstr(n, "EOI_EXIT") ||
            strstr(n, "_PTR") || strstr(n, "PDPTE"))
            ck_assert_msg(VMX_ENC_WIDTH(f[i].enc) == VMX_WIDTH_64 ||
                              strcmp(n, "GUEST_LINEAR_ADDR") == 0,
                          "%s", n);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_vmcs");
    TCase *t = tcase_create("vmcs");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_add_test(t, test_named_encodings);
    tcase_add_test(t, test_encoding_structure_and_slots);
    tcase_add_test(t, test_lookup_matches_field_list);
    tcase_add_test(t, test_widths);
    tcase_add_test(t, test_readonly_and_invalid);
    tcase_add_test(t, test_high_access);
    tcase_add_test(t, test_vmread_vmwrite_errors);
    tcase_add_test(t, test_exit_reason_names);
    tcase_add_test(t, test_vcpu_vmwrite_event);
    tcase_add_test(t, test_names_match_types);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
