/*
 * test_vmcs_shadow.c — VMCS shadowing (SDM Vol. 3C 24.10, 25.1.3, 26.2.1.1,
 * 26.3.1.5, 30.3) at the VMX level: the capability, the VM-entry checks of
 * the bitmaps and the VMCS link pointer, a guest's VMREAD/VMWRITE in
 * non-root operation (exit, or the shadow VMCS, or VMfail), and VMPTRLD /
 * VMLAUNCH of a shadow VMCS in root operation. The host here is C code
 * (vmx_vcpu without vmx_root, as the built-in hypervisor's); the guest
 * hypervisor's path is guests/vmx_shadow.c (tests/emu/test_vmx_root.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/cpu_harness.h"
#include "vmx/vmx_root.h"

static cpu_harness h;
static vmx_vcpu v;

#define SET(f, val) vmx_vmcs_set(&v.vmcs, VMCS_##f, (val))
#define GET(f) vmx_vmcs_get(&v.vmcs, VMCS_##f)

#define SHADOW 0x300000u
#define READ_BITMAP 0x301000u
#define WRITE_BITMAP 0x302000u
#define ORDINARY 0x303000u

/* The events of the run (VMX_EV_SHADOW_INSN). */
static unsigned n_shadow_ev;
static cpu_obs_event last_shadow_ev;
static void on_event(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    if (ev->kind == VMX_EV_SHADOW_INSN) {
        n_shadow_ev++;
        last_shadow_ev = *ev;
    }
}

static void set_bitmaps(uint8_t fill)
{
    uint8_t page[4096];
    memset(page, fill, sizeof page);
    cpu_phys_write(&h.phys, READ_BITMAP, page, sizeof page);
    cpu_phys_write(&h.phys, WRITE_BITMAP, page, sizeof page);
}

static void bitmap_bit(uint32_t bitmap, uint32_t enc, bool set)
{
    uint8_t b = 0;
    cpu_phys_read(&h.phys, bitmap + (enc >> 3), &b, 1);
    b = set ? (uint8_t)(b | (1u << (enc & 7))) : (uint8_t)(b & ~(1u << (enc & 7)));
    cpu_phys_write(&h.phys, bitmap + (enc >> 3), &b, 1);
}

/* A VMCS region at pa with revision dword rev and GUEST_RIP = 0x1111,
 * TSC offset 0x1122334455667788 (written as VMCLEAR leaves a VMCS). */
static void make_region(uint64_t pa, uint32_t rev)
{
    static vmx_vmcs tmp;
    vmx_vmcs_clear(&tmp);
    vmx_vmcs_set(&tmp, VMCS_GUEST_RIP, 0x1111);
    vmx_vmcs_set(&tmp, VMCS_TSC_OFFSET, 0x1122334455667788ull);
    cpu_harness_poke32(&h, pa, rev);
    vmx_region_store(&h.phys, pa, &tmp);
}

static void setup(void)
{
    cpu_harness_init(&h);
    ck_assert(cpu_obs_subscribe(&h.obs, on_event, NULL));
    n_shadow_ev = 0;
    vmx_vcpu_init(&v, &h.cpu, NULL, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    make_region(SHADOW, VMX_VMCS_REVISION | 0x80000000u);
    make_region(ORDINARY, VMX_VMCS_REVISION);
    set_bitmaps(0xFF);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

static void shadowing(bool on)
{
    SET(PROC_CONTROLS, GET(PROC_CONTROLS) | VMX_PROC_SECONDARY);
    uint64_t p2 = GET(PROC_CONTROLS2);
    SET(PROC_CONTROLS2, on ? p2 | VMX_PROC2_VMCS_SHADOW : p2 & ~(uint64_t)VMX_PROC2_VMCS_SHADOW);
    SET(VMREAD_BITMAP, READ_BITMAP);
    SET(VMWRITE_BITMAP, WRITE_BITMAP);
}

/* The guest: VMREAD RAX <- field RBX (0F 78 D8) or VMWRITE field RBX <- RAX
 * (0F 79 D8), PUSHFQ; POP RCX (its RFLAGS), VMCALL; entered with the VMCS
 * link pointer link. */
static void run_guest(bool write, uint64_t field, uint64_t rax, uint64_t link)
{
    const uint8_t code[] = {0x0F, (uint8_t)(write ? 0x79 : 0x78), 0xD8, 0x9C, 0x59, 0x0F, 0x01, 0xC1};
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, sizeof code);
    h.cpu.rip = CPU_HARNESS_CODE;
    h.cpu.gpr[CPU_RBX] = field;
    h.cpu.gpr[CPU_RAX] = rax;
    h.cpu.gpr[CPU_RCX] = 0xDEAD;
    vmx_setup_guest_from_cpu(&v);
    SET(VMCS_LINK_PTR, link);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_msg(v.non_root, "entry failed: check %d", v.last_check);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert(v.exited);
    v.vmcs.launch_state = VMX_LAUNCH_CLEAR;
}

static unsigned exit_reason(void) { return (unsigned)GET(EXIT_REASON) & 0xFFFF; }

/* ---- capability ----------------------------------------------------------- */

START_TEST(test_capability)
{
    uint64_t cap2, misc;
    ck_assert(vmx_capability_msr(VMX_MSR_PROCBASED_CTLS2, &cap2));
    ck_assert((cap2 >> 32) & VMX_PROC2_VMCS_SHADOW);
    ck_assert(vmx_capability_msr(VMX_MSR_MISC, &misc));
    ck_assert((misc >> 29) & 1);
}
END_TEST

/* ---- 26.3.1.5: the VMCS link pointer ---------------------------------------- */

/* An entry with link pointer link; 0 when it passed, else the check. */
static vmx_check enter_with_link(uint64_t link)
{
    vmx_setup_guest_from_cpu(&v);
    SET(VMCS_LINK_PTR, link);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    if (!v.non_root) {
        ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_ENTRY_FAIL_GUEST | VMX_EXIT_REASON_ENTRY_FAIL);
        ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 4);
        return v.last_check;
    }
    /* Passed: leave non-root operation again through an exit. */
    const uint8_t vmcall[] = {0x0F, 0x01, 0xC1};
    cpu_harness_load(&h, h.cpu.rip, vmcall, sizeof vmcall);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    v.vmcs.launch_state = VMX_LAUNCH_CLEAR;
    return VMX_CHECK_NONE;
}

START_TEST(test_link_pointer_with_shadowing)
{
    shadowing(true);
    ck_assert_int_eq(enter_with_link(SHADOW), VMX_CHECK_NONE);
    ck_assert_int_eq(enter_with_link(~0ull), VMX_CHECK_NONE);
    ck_assert_int_eq(enter_with_link(SHADOW + 8), VMX_CHECK_GUEST_LINK_PTR);      /* bits 11:0 */
    ck_assert_int_eq(enter_with_link(1ull << 45), VMX_CHECK_GUEST_LINK_PTR);      /* MAXPHYADDR */
    ck_assert_int_eq(enter_with_link(ORDINARY), VMX_CHECK_GUEST_LINK_PTR);        /* bit 31 = 0 */
    cpu_harness_poke32(&h, SHADOW, (VMX_VMCS_REVISION + 1) | 0x80000000u);
    ck_assert_int_eq(enter_with_link(SHADOW), VMX_CHECK_GUEST_LINK_PTR);          /* revision */
    cpu_harness_poke32(&h, SHADOW, VMX_VMCS_REVISION | 0x80000000u);
    /* Not the current-VMCS pointer (a guest hypervisor's, vmx_root). */
    v.vmcs_pa = SHADOW;
    ck_assert_int_eq(enter_with_link(SHADOW), VMX_CHECK_GUEST_LINK_PTR);
    v.vmcs_pa = ~0ull;
    /* No memory there: the revision reads as all ones. */
    ck_assert_int_eq(enter_with_link(0x7F000000000ull), VMX_CHECK_GUEST_LINK_PTR);
}
END_TEST

START_TEST(test_link_pointer_without_shadowing)
{
    shadowing(false);
    /* An ordinary VMCS is a valid link pointer; a shadow one is not. */
    ck_assert_int_eq(enter_with_link(ORDINARY), VMX_CHECK_NONE);
    ck_assert_int_eq(enter_with_link(SHADOW), VMX_CHECK_GUEST_LINK_PTR);
    ck_assert_int_eq(enter_with_link(ORDINARY + 0x800), VMX_CHECK_GUEST_LINK_PTR);
}
END_TEST

/* 26.2.1.1: the bitmap addresses, only with shadowing on. */
START_TEST(test_bitmap_address_checks)
{
    vmx_setup_guest_from_cpu(&v);
    shadowing(true);
    SET(VMREAD_BITMAP, READ_BITMAP + 1);
    ck_assert_uint_eq(vmx_vmentry(&v, true), VMX_ERR_ENTRY_INVALID_CONTROL);
    ck_assert_int_eq(v.last_check, VMX_CHECK_VMREAD_BITMAP);
    SET(VMREAD_BITMAP, READ_BITMAP);
    SET(VMWRITE_BITMAP, 1ull << 50);
    ck_assert_uint_eq(vmx_vmentry(&v, true), VMX_ERR_ENTRY_INVALID_CONTROL);
    ck_assert_int_eq(v.last_check, VMX_CHECK_VMWRITE_BITMAP);
    shadowing(false);
    SET(VMWRITE_BITMAP, 1ull << 50);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.non_root);
}
END_TEST

/* ---- 25.1.3 / 30.3: the guest's VMREAD and VMWRITE -------------------------- */

START_TEST(test_shadowing_off_exits)
{
    shadowing(false);
    set_bitmaps(0);
    run_guest(false, VMCS_GUEST_RIP, 0, ~0ull);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMREAD);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 3);
    ck_assert_uint_eq(n_shadow_ev, 0);
}
END_TEST

START_TEST(test_bitmap_bit_set_exits)
{
    shadowing(true);
    bitmap_bit(READ_BITMAP, VMCS_GUEST_RIP, true);
    bitmap_bit(WRITE_BITMAP, VMCS_GUEST_RIP, false);
    run_guest(false, VMCS_GUEST_RIP, 0, SHADOW);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMREAD);
    /* The write bitmap is the VMWRITE's: its bit set, the read one clear. */
    bitmap_bit(READ_BITMAP, VMCS_GUEST_RIP, false);
    bitmap_bit(WRITE_BITMAP, VMCS_GUEST_RIP, true);
    run_guest(true, VMCS_GUEST_RIP, 5, SHADOW);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMWRITE);
    ck_assert_uint_eq(vmx_region_field_get(&h.phys, SHADOW, VMCS_GUEST_RIP), 0x1111);
}
END_TEST

START_TEST(test_vmread_reads_shadow)
{
    shadowing(true);
    set_bitmaps(0);
    run_guest(false, VMCS_GUEST_RIP, 0, SHADOW);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMCALL);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x1111);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & (CPU_FL_CF | CPU_FL_ZF), 0);
    ck_assert_uint_eq(n_shadow_ev, 1);
    ck_assert_uint_eq(last_shadow_ev.a, VMX_EXIT_VMREAD);
    ck_assert_uint_eq(last_shadow_ev.b, VMCS_GUEST_RIP);
    ck_assert_uint_eq(last_shadow_ev.d, 0);
    /* The high access of a 64-bit field. */
    run_guest(false, VMCS_TSC_OFFSET | 1, 0, SHADOW);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x11223344);
    /* The current VMCS's own field is not what was read. */
    ck_assert_uint_ne(GET(GUEST_RIP), 0x1111);
}
END_TEST

START_TEST(test_vmwrite_writes_shadow)
{
    shadowing(true);
    set_bitmaps(0);
    run_guest(true, VMCS_GUEST_CS_SEL, 0x12345, SHADOW);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMCALL);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & (CPU_FL_CF | CPU_FL_ZF), 0);
    ck_assert_uint_eq(vmx_region_field_get(&h.phys, SHADOW, VMCS_GUEST_CS_SEL), 0x2345);
    /* A VM-exit information field (IA32_VMX_MISC[29] = 1) and the high
     * half of a 64-bit one (the low half stays). */
    run_guest(true, VMCS_EXIT_QUALIFICATION, 0x77, SHADOW);
    ck_assert_uint_eq(vmx_region_field_get(&h.phys, SHADOW, VMCS_EXIT_QUALIFICATION), 0x77);
    run_guest(true, VMCS_TSC_OFFSET | 1, 0xAABBCCDD, SHADOW);
    ck_assert_uint_eq(vmx_region_field_get(&h.phys, SHADOW, VMCS_TSC_OFFSET), 0xAABBCCDD55667788ull);
    /* The rest of the region is untouched: VMPTRLD finds it (root view). */
    static vmx_vmcs back;
    vmx_region_load(&h.phys, SHADOW, &back);
    ck_assert_uint_eq(back.revision, VMX_VMCS_REVISION | 0x80000000u);
    ck_assert_uint_eq(vmx_vmcs_get(&back, VMCS_GUEST_RIP), 0x1111);
    ck_assert_uint_eq(vmx_vmcs_get(&back, VMCS_GUEST_CS_SEL), 0x2345);
}
END_TEST

START_TEST(test_unsupported_field_fails_valid)
{
    shadowing(true);
    set_bitmaps(0);
    SET(VM_INSN_ERROR, 0);
    run_guest(false, 0x1000, 0, SHADOW); /* bit 12 is reserved */
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMCALL);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & (CPU_FL_CF | CPU_FL_ZF), CPU_FL_ZF);
    ck_assert_uint_eq(GET(VM_INSN_ERROR), VMX_ERR_UNSUPPORTED_FIELD);
    ck_assert_uint_eq(last_shadow_ev.d, 2 + VMX_ERR_UNSUPPORTED_FIELD);
    SET(VM_INSN_ERROR, 0);
    run_guest(true, VMCS_GUEST_RIP | 1, 0, SHADOW); /* high access of a natural-width field */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & (CPU_FL_CF | CPU_FL_ZF), CPU_FL_ZF);
    ck_assert_uint_eq(GET(VM_INSN_ERROR), VMX_ERR_UNSUPPORTED_FIELD);
}
END_TEST

START_TEST(test_high_encoding_bits_exit)
{
    shadowing(true);
    set_bitmaps(0);
    run_guest(false, 1ull << 15, 0, SHADOW);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMREAD);
    run_guest(true, (1ull << 40) | VMCS_GUEST_RIP, 0, SHADOW);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMWRITE);
    ck_assert_uint_eq(n_shadow_ev, 0);
}
END_TEST

START_TEST(test_link_pointer_all_ones_fails_invalid)
{
    shadowing(true);
    set_bitmaps(0);
    run_guest(false, VMCS_GUEST_RIP, 0, ~0ull);
    ck_assert_uint_eq(exit_reason(), VMX_EXIT_VMCALL);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & (CPU_FL_CF | CPU_FL_ZF), CPU_FL_CF);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0); /* the destination is not written */
    run_guest(true, VMCS_GUEST_RIP, 9, ~0ull);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & (CPU_FL_CF | CPU_FL_ZF), CPU_FL_CF);
    ck_assert_uint_eq(last_shadow_ev.d, 1);
}
END_TEST

/* ---- root operation: VMPTRLD and VM entry of a shadow VMCS (24.10, 26.1) ---- */

START_TEST(test_root_shadow_vmcs)
{
    static vmx_root r;
    vmx_root_init(&r, &h.cpu, NULL, &h.phys, &h.obs);
    h.cpu.cr4 |= CPU_CR4_VMXE;
    cpu_harness_poke32(&h, 0x304000, VMX_VMCS_REVISION);
    cpu_vmx_op op = {.insn = VMX_EXIT_VMXON, .ptr = 0x304000};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_SUCCEED);
    op = (cpu_vmx_op){.insn = VMX_EXIT_VMPTRLD, .ptr = SHADOW};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_SUCCEED);
    ck_assert_uint_eq(r.current, SHADOW);
    op = (cpu_vmx_op){.insn = VMX_EXIT_VMREAD, .field = VMCS_GUEST_RIP};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_SUCCEED);
    ck_assert_uint_eq(op.value, 0x1111);
    op = (cpu_vmx_op){.insn = VMX_EXIT_VMLAUNCH};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_FAIL_INVALID);
    op = (cpu_vmx_op){.insn = VMX_EXIT_VMRESUME};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_FAIL_INVALID);
    ck_assert_uint_eq(r.entry_req, 0);
    /* VMCLEAR of a shadow VMCS as of any other. */
    op = (cpu_vmx_op){.insn = VMX_EXIT_VMCLEAR, .ptr = SHADOW};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_SUCCEED);
    ck_assert_uint_eq(r.current, VMX_NO_VMCS);
    /* An ordinary VMCS may be entered (the launch state check follows). */
    op = (cpu_vmx_op){.insn = VMX_EXIT_VMPTRLD, .ptr = ORDINARY};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_SUCCEED);
    op = (cpu_vmx_op){.insn = VMX_EXIT_VMRESUME};
    ck_assert_int_eq(vmx_root_insn(&r, &op), CPU_VMX_FAIL_VALID);
    ck_assert_uint_eq(vmx_vmcs_get(&r.v.vmcs, VMCS_VM_INSN_ERROR), VMX_ERR_VMRESUME_NOT_LAUNCHED);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_vmcs_shadow");
    TCase *t = tcase_create("shadow");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_capability);
    tcase_add_test(t, test_link_pointer_with_shadowing);
    tcase_add_test(t, test_link_pointer_without_shadowing);
    tcase_add_test(t, test_bitmap_address_checks);
    tcase_add_test(t, test_shadowing_off_exits);
    tcase_add_test(t, test_bitmap_bit_set_exits);
    tcase_add_test(t, test_vmread_reads_shadow);
    tcase_add_test(t, test_vmwrite_writes_shadow);
    tcase_add_test(t, test_unsupported_field_fails_valid);
    tcase_add_test(t, test_high_encoding_bits_exit);
    tcase_add_test(t, test_link_pointer_all_ones_fails_invalid);
    tcase_add_test(t, test_root_shadow_vmcs);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
