/*
 * test_apicv_x2apic.c — x2APIC MSR virtualization (SDM 29.5): RDMSR and
 * WRMSR of 800H-8FFH under each combination of virtualize x2APIC mode,
 * APIC-register virtualization and virtual-interrupt delivery, including the
 * #GP cases.
 */
#include "tests/vmx/test_apicv_fixture.h"

#define VID VMX_PROC2_VIRT_INTR_DELIVERY
#define REGV VMX_PROC2_APIC_REG_VIRT
#define X2 VMX_PROC2_VIRT_X2APIC
#define NO_EXIT 0xFFFFu

static void put64(apicv_fx *f, unsigned off, uint64_t v)
{
    ck_assert(cpu_phys_write(&f->h.phys, FX_VAPIC + off, &v, 8));
}

static uint64_t get64(apicv_fx *f, unsigned off)
{
    uint64_t v = 0;
    ck_assert(cpu_phys_read(&f->h.phys, FX_VAPIC + off, &v, 8));
    return v;
}

START_TEST(rdmsr_needs_virtualize_x2apic_mode)
{
    apicv_fx f;
    fx_init(&f, REGV | VID);
    uint64_t val = 0;
    ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, 0x808, &val), VMX_X2APIC_PASS);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x808, 0x20), VMX_X2APIC_PASS);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x80B, 0), VMX_X2APIC_PASS);
    ck_assert_uint_eq(fx_page32(&f, 0x80), 0);
    fx_free(&f);
}
END_TEST

START_TEST(rdmsr_with_register_virtualization)
{
    apicv_fx f;
    fx_init(&f, X2 | REGV);
    for (unsigned i = 0; i < 0x400; i += 8)
        put64(&f, i, 0x0101010101010101ull * (i / 8 + 1));
    for (uint32_t msr = 0x800; msr <= 0x8FF; msr++) {
        uint64_t val = 0;
        ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, msr, &val), VMX_X2APIC_DONE);
        ck_assert_uint_eq(val, get64(&f, (msr & 0xFF) * 16));
    }
    uint64_t val = 0;
    ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, 0x7FF, &val), VMX_X2APIC_PASS);
    ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, 0x900, &val), VMX_X2APIC_PASS);
    ck_assert_uint_eq(fx_count(&f, VMX_EV_X2APIC_RDMSR), 256);
    fx_free(&f);
}
END_TEST

START_TEST(rdmsr_without_register_virtualization)
{
    apicv_fx f;
    fx_init(&f, X2 | VID);
    put64(&f, 0x80, 0x0000000500000060ull);
    uint64_t val = 0;
    ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, 0x808, &val), VMX_X2APIC_DONE);
    ck_assert_uint_eq(val, 0x0000000500000060ull);
    ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, 0x802, &val), VMX_X2APIC_PASS);
    ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, 0x80A, &val), VMX_X2APIC_PASS);
    ck_assert_int_eq(vmx_apicv_rdmsr(&f.v, 0x830, &val), VMX_X2APIC_PASS);
    fx_free(&f);
}
END_TEST

START_TEST(wrmsr_tpr)
{
    apicv_fx f;
    fx_init(&f, X2 | VMX_PROC2_VIRT_APIC_ACCESS);
    put64(&f, 0x80, 0xFFFFFFFFFFFFFFFFull);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x808, 0x100), VMX_X2APIC_GP);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x808, 1ull << 32), VMX_X2APIC_GP);
    ck_assert_uint_eq(get64(&f, 0x80), ~0ull); /* a fault writes nothing */
    vmx_vmcs_set(&f.v.vmcs, VMCS_TPR_THRESHOLD, 3);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x808, 0x5F), VMX_X2APIC_DONE);
    ck_assert_uint_eq(get64(&f, 0x80), 0x5F); /* all 64 bits written */
    ck_assert(!f.v.tpr_threshold_pending);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x808, 0x2F), VMX_X2APIC_DONE);
    ck_assert(f.v.tpr_threshold_pending);
    int e = fx_find(&f, VMX_EV_TPR_VIRT, 0);
    ck_assert_uint_eq(f.ev[e].a, VMX_TPR_SRC_MSR);
    fx_free(&f);
}
END_TEST

START_TEST(wrmsr_tpr_with_vid)
{
    apicv_fx f;
    fx_init(&f, X2 | VID);
    fx_set_status(&f, 0x51, 0x31);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x808, 0x40), VMX_X2APIC_DONE);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x40);
    ck_assert(f.v.vintr_recognized);
    fx_free(&f);
}
END_TEST

START_TEST(wrmsr_eoi)
{
    apicv_fx f;
    fx_init(&f, X2 | VID);
    fx_set_bit(&f, VMX_VAPIC_ISR, 0x61);
    fx_set_status(&f, 0, 0x61);
    put64(&f, 0xB0, 0x1234);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x80B, 1), VMX_X2APIC_GP);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x80B, 1ull << 40), VMX_X2APIC_GP);
    ck_assert(fx_bit(&f, VMX_VAPIC_ISR, 0x61));
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x80B, 0), VMX_X2APIC_DONE);
    ck_assert_uint_eq(get64(&f, 0xB0), 0);
    ck_assert(!fx_bit(&f, VMX_VAPIC_ISR, 0x61));
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0);
    /* Without VID the EOI MSR is not virtualized. */
    vmx_vmcs_set(&f.v.vmcs, VMCS_PROC_CONTROLS2, X2 | REGV);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x80B, 0), VMX_X2APIC_PASS);
    fx_free(&f);
}
END_TEST

START_TEST(wrmsr_self_ipi)
{
    apicv_fx f;
    fx_init(&f, X2 | VID);
    vmx_vmcs_set(&f.v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x83F, 0x130), VMX_X2APIC_GP);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x83F, 1ull << 63), VMX_X2APIC_GP);
    ck_assert_uint_eq(get64(&f, 0x3F0), 0);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x83F, 0x30), VMX_X2APIC_DONE);
    ck_assert_uint_eq(get64(&f, 0x3F0), 0x30);
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x30));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x30);
    ck_assert(f.v.vintr_recognized);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x83F, 0x10), VMX_X2APIC_DONE);
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x10));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x30);
    /* Vector below 16: stored, then an APIC-write exit with 3F0H after the
     * instruction. */
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x83F, 0x0F), VMX_X2APIC_DONE_EXIT);
    ck_assert_uint_eq(get64(&f, 0x3F0), 0x0F);
    ck_assert(!fx_bit(&f, VMX_VAPIC_IRR, 0x0F));
    ck_assert_uint_eq(fx_exit_reason(&f), NO_EXIT);
    f.h.cpu.rip = 0x100002;
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_APIC_WRITE);
    ck_assert_uint_eq(fx_exit_qual(&f), 0x3F0);
    ck_assert_uint_eq(vmx_vmcs_get(&f.v.vmcs, VMCS_GUEST_RIP), 0x100002);
    /* Without VID: not virtualized. */
    vmx_vmcs_set(&f.v.vmcs, VMCS_PROC_CONTROLS2, X2 | REGV);
    ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, 0x83F, 0x30), VMX_X2APIC_PASS);
    fx_free(&f);
}
END_TEST

START_TEST(wrmsr_other_msrs_operate_normally)
{
    static const uint32_t msrs[] = {0x802, 0x80A, 0x80F, 0x828, 0x830, 0x832, 0x838, 0x83E, 0x8FF};
    apicv_fx f;
    fx_init(&f, X2 | REGV | VID);
    for (unsigned i = 0; i < sizeof msrs / sizeof msrs[0]; i++) {
        ck_assert_int_eq(vmx_apicv_wrmsr(&f.v, msrs[i], 0x12), VMX_X2APIC_PASS);
        ck_assert_uint_eq(get64(&f, (msrs[i] & 0xFF) * 16), 0);
    }
    ck_assert_uint_eq(fx_count(&f, VMX_EV_X2APIC_WRMSR), 0);
    fx_free(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("apicv_x2apic");
    TCase *t = tcase_create("core");
    tcase_add_test(t, rdmsr_needs_virtualize_x2apic_mode);
    tcase_add_test(t, rdmsr_with_register_virtualization);
    tcase_add_test(t, rdmsr_without_register_virtualization);
    tcase_add_test(t, wrmsr_tpr);
    tcase_add_test(t, wrmsr_tpr_with_vid);
    tcase_add_test(t, wrmsr_eoi);
    tcase_add_test(t, wrmsr_self_ipi);
    tcase_add_test(t, wrmsr_other_msrs_operate_normally);
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
