/*
 * test_apicv_posted.c — posted-interrupt processing (SDM 29.6): the
 * descriptor layout, the sender's protocol (ON/SN), and steps 1-7 on the
 * processor's side, with PIR empty and full, ON already clear, RVI above
 * the posted vectors, and the EOI of step 4 reaching a real local APIC.
 */
#include "tests/vmx/test_apicv_fixture.h"

#include "apic/apic.h"

#define VID VMX_PROC2_VIRT_INTR_DELIVERY
#define NV 0xF2

static uint8_t desc_byte(apicv_fx *f, unsigned i)
{
    uint8_t b = 0;
    ck_assert(cpu_phys_read(&f->h.phys, FX_PI_DESC + i, &b, 1));
    return b;
}

static void set_pir(apicv_fx *f, uint8_t vec)
{
    uint8_t b = desc_byte(f, vec / 8);
    b |= (uint8_t)(1u << (vec % 8));
    ck_assert(cpu_phys_write(&f->h.phys, FX_PI_DESC + vec / 8, &b, 1));
}

static void fx_posted(apicv_fx *f)
{
    fx_init(f, VID);
    vmx_vmcs_set(&f->v.vmcs, VMCS_POSTED_INTR_NV, NV);
    vmx_vmcs_set(&f->v.vmcs, VMCS_PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING | VMX_PIN_POSTED_INTR);
}

START_TEST(descriptor_layout)
{
    apicv_fx f;
    fx_posted(&f);
    cpu_phys *p = &f.h.phys;
    vmx_pi_set_nv(p, FX_PI_DESC, 0xEC);
    vmx_pi_set_ndst(p, FX_PI_DESC, 0x03000000);
    vmx_pi_set_on(p, FX_PI_DESC, true);
    vmx_pi_set_sn(p, FX_PI_DESC, true);
    ck_assert_uint_eq(desc_byte(&f, 34), 0xEC);           /* NV bits 279:272 */
    ck_assert_uint_eq(desc_byte(&f, 39), 0x03);           /* NDST bits 319:288 */
    ck_assert_uint_eq(desc_byte(&f, 32), 0x03);           /* ON bit 256, SN bit 257 */
    ck_assert_uint_eq(vmx_pi_get_nv(p, FX_PI_DESC), 0xEC);
    ck_assert_uint_eq(vmx_pi_get_ndst(p, FX_PI_DESC), 0x03000000);
    ck_assert(vmx_pi_get_on(p, FX_PI_DESC));
    ck_assert(vmx_pi_get_sn(p, FX_PI_DESC));
    vmx_pi_set_on(p, FX_PI_DESC, false);
    ck_assert(!vmx_pi_get_on(p, FX_PI_DESC));
    ck_assert(vmx_pi_get_sn(p, FX_PI_DESC));
    set_pir(&f, 0x41);
    set_pir(&f, 0xFF);
    ck_assert_uint_eq(vmx_pi_pir_qword(p, FX_PI_DESC, 1), 1ull << 1);
    ck_assert_uint_eq(vmx_pi_pir_qword(p, FX_PI_DESC, 3), 1ull << 63);
    ck_assert(vmx_pi_test_pir(p, FX_PI_DESC, 0x41));
    ck_assert(!vmx_pi_test_pir(p, FX_PI_DESC, 0x40));
    fx_free(&f);
}
END_TEST

START_TEST(sender_protocol)
{
    apicv_fx f;
    fx_posted(&f);
    cpu_phys *p = &f.h.phys;
    bool send = true;
    ck_assert(vmx_pi_post(p, FX_PI_DESC, 0x41, &send));
    ck_assert(send);
    ck_assert(vmx_pi_get_on(p, FX_PI_DESC));
    ck_assert(vmx_pi_test_pir(p, FX_PI_DESC, 0x41));
    /* ON already set: no second notification. */
    ck_assert(vmx_pi_post(p, FX_PI_DESC, 0x42, &send));
    ck_assert(!send);
    ck_assert(vmx_pi_test_pir(p, FX_PI_DESC, 0x42));
    /* SN set, ON clear: PIR set, ON left clear, nothing sent. */
    vmx_pi_set_on(p, FX_PI_DESC, false);
    vmx_pi_set_sn(p, FX_PI_DESC, true);
    ck_assert(vmx_pi_post(p, FX_PI_DESC, 0x10, &send));
    ck_assert(!send);
    ck_assert(!vmx_pi_get_on(p, FX_PI_DESC));
    ck_assert(vmx_pi_test_pir(p, FX_PI_DESC, 0x10));
    /* Unbacked descriptor. */
    ck_assert(!vmx_pi_post(p, 0x7FFFFFFFF000ull, 0x41, &send));
    ck_assert(!send);
    fx_free(&f);
}
END_TEST

START_TEST(process_not_notification_vector)
{
    apicv_fx f;
    fx_posted(&f);
    set_pir(&f, 0x41);
    vmx_pi_set_on(&f.h.phys, FX_PI_DESC, true);
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&f.v, 0x30), VMX_PI_NOT_NOTIFICATION);
    ck_assert(vmx_pi_get_on(&f.h.phys, FX_PI_DESC));
    ck_assert(vmx_pi_test_pir(&f.h.phys, FX_PI_DESC, 0x41));
    ck_assert_int_eq(vmx_vapic_highest(&f.v, VMX_VAPIC_IRR), -1);
    int e = fx_find(&f, VMX_EV_PI_NV_MISMATCH, 0);
    ck_assert_int_ge(e, 0);
    ck_assert_uint_eq(f.ev[e].a, 0x30);
    ck_assert_uint_eq(f.ev[e].b, NV);
    fx_free(&f);
}
END_TEST

START_TEST(process_steps_in_order)
{
    apicv_fx f;
    fx_posted(&f);
    fx_set_bit(&f, VMX_VAPIC_IRR, 0x20);
    fx_set_status(&f, 0x20, 0);
    set_pir(&f, 0x41);
    set_pir(&f, 0xFF);
    set_pir(&f, 0x10);
    vmx_pi_set_on(&f.h.phys, FX_PI_DESC, true);
    vmx_pi_set_nv(&f.h.phys, FX_PI_DESC, NV);
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&f.v, NV), VMX_PI_PROCESSED);
    ck_assert(!vmx_pi_get_on(&f.h.phys, FX_PI_DESC));
    ck_assert_uint_eq(vmx_pi_get_nv(&f.h.phys, FX_PI_DESC), NV); /* rest of the qword kept */
    for (unsigned i = 0; i < 4; i++)
        ck_assert_uint_eq(vmx_pi_pir_qword(&f.h.phys, FX_PI_DESC, i), 0);
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x20));
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x41));
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0xFF));
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x10));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0xFF);
    ck_assert(f.v.vintr_recognized);
    static const unsigned order[] = {VMX_EV_PI_ACK, VMX_EV_PI_NV_MATCH, VMX_EV_PI_ON_CLEAR,
                                     VMX_EV_PI_EOI, VMX_EV_PI_PIR_TO_VIRR, VMX_EV_PI_RVI_UPDATE,
                                     VMX_EV_VINTR_RECOGNIZED};
    int at = -1;
    for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
        int e = fx_find(&f, order[i], (unsigned)(at + 1));
        ck_assert_msg(e > at, "step event %u out of order", i);
        at = e;
    }
    int e = fx_find(&f, VMX_EV_PI_PIR_TO_VIRR, 0);
    ck_assert_uint_eq(f.ev[e].a, 3);
    ck_assert_uint_eq(f.ev[e].b, 0xFF);
    ck_assert_uint_eq(f.ev[e].d, 1ull << 0x10);
    e = fx_find(&f, VMX_EV_PI_RVI_UPDATE, 0);
    ck_assert_uint_eq(f.ev[e].b, 0x20);
    ck_assert_uint_eq(f.ev[e].d, 0xFF);
    e = fx_find(&f, VMX_EV_PI_ON_CLEAR, 0);
    ck_assert_uint_eq(f.ev[e].a, FX_PI_DESC);
    ck_assert_uint_eq(f.ev[e].b & 1, 1);
    ck_assert_uint_eq(f.ev[e].d & 1, 0);
    fx_free(&f);
}
END_TEST

START_TEST(process_pir_empty_and_on_clear)
{
    apicv_fx f;
    fx_posted(&f);
    fx_set_status(&f, 0x35, 0);
    /* ON already clear, PIR empty: nothing moves, RVI unchanged. */
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&f.v, NV), VMX_PI_PROCESSED);
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x35);
    ck_assert_int_eq(vmx_vapic_highest(&f.v, VMX_VAPIC_IRR), -1);
    int e = fx_find(&f, VMX_EV_PI_PIR_TO_VIRR, 0);
    ck_assert_uint_eq(f.ev[e].a, 0);
    ck_assert_uint_eq(f.ev[e].b, ~0ull);
    /* Evaluation still happens (step 7): RVI 0x35 over VPPR 0. */
    ck_assert(f.v.vintr_recognized);
    fx_free(&f);
}
END_TEST

START_TEST(process_pir_full)
{
    apicv_fx f;
    fx_posted(&f);
    for (unsigned v = 0; v < 256; v++)
        set_pir(&f, (uint8_t)v);
    vmx_pi_set_on(&f.h.phys, FX_PI_DESC, true);
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&f.v, NV), VMX_PI_PROCESSED);
    for (unsigned s = 0; s < 8; s++)
        ck_assert_uint_eq(fx_page32(&f, 0x200 + 16 * s), 0xFFFFFFFF);
    ck_assert_uint_eq(fx_page32(&f, 0x204), 0); /* only the low dword of each slot */
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0xFF);
    int e = fx_find(&f, VMX_EV_PI_PIR_TO_VIRR, 0);
    ck_assert_uint_eq(f.ev[e].a, 256);
    fx_free(&f);
}
END_TEST

START_TEST(process_rvi_above_pir_and_masked)
{
    apicv_fx f;
    fx_posted(&f);
    fx_set_status(&f, 0x80, 0x90);
    fx_set_page32(&f, VMX_VAPIC_PPR, 0x90);
    set_pir(&f, 0x41);
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&f.v, NV), VMX_PI_PROCESSED);
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x80);
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x41));
    ck_assert(!f.v.vintr_recognized); /* class 8 not above VPPR class 9 */
    fx_free(&f);
}
END_TEST

/* SDM 29.6 moves PIR into VIRR and RVI without looking at the vectors, so a
 * vector 0-15 someone posted (the guest itself, through PID_WRITE) lands
 * in VIRR and may become RVI; it is still never delivered, because
 * recognition needs RVI[7:4] above VPPR[7:4] (29.2.1) and its class is 0.
 * Senders that follow the APIC's rules never post one (hv_deliver). */
START_TEST(process_low_vector_never_delivered)
{
    apicv_fx f;
    fx_posted(&f);
    set_pir(&f, 0x05);
    vmx_pi_set_on(&f.h.phys, FX_PI_DESC, true);
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&f.v, NV), VMX_PI_PROCESSED);
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x05));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x05);
    ck_assert(!f.v.vintr_recognized);
    f.h.cpu.rflags |= CPU_FL_IF;
    ck_assert(!vmx_apicv_deliver_virtual_interrupt(&f.v));
    vmx_apicv_on_vmentry(&f.v);
    ck_assert(!f.v.vintr_recognized);
    ck_assert_int_eq(fx_count(&f, VMX_EV_VINTR_DELIVERED), 0);
    fx_free(&f);
}
END_TEST

START_TEST(process_eoi_reaches_local_apic)
{
    apicv_fx f;
    fx_posted(&f);
    apic_t apic;
    apic_init(&apic, &f.h.cpu, 0, true, &f.h.obs);
    ck_assert(apic_mmio_write(&apic, 0xF0, 4, 0x1FF)); /* software enable */
    apic_accept(&apic, NV, 0, false);
    ck_assert_int_eq(apic_acknowledge(&apic), NV); /* step 1, the caller's */
    ck_assert(apic.isr[NV / 32] & (1u << (NV % 32)));
    f.v.apic = &apic;
    set_pir(&f, 0x41);
    ck_assert_int_eq(vmx_apicv_posted_intr_process(&f.v, NV), VMX_PI_PROCESSED);
    ck_assert(!(apic.isr[NV / 32] & (1u << (NV % 32))));
    fx_free(&f);
}
END_TEST

START_TEST(hypervisor_sync_in_root_operation)
{
    apicv_fx f;
    fx_posted(&f);
    set_pir(&f, 0x61);
    vmx_pi_set_on(&f.h.phys, FX_PI_DESC, true);
    ck_assert_uint_eq(vmx_apicv_pi_sync(&f.v), 1);
    ck_assert(!vmx_pi_get_on(&f.h.phys, FX_PI_DESC));
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x61));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x61);
    ck_assert(!f.v.vintr_recognized); /* the next VM entry evaluates */
    vmx_apicv_on_vmentry(&f.v);
    ck_assert(f.v.vintr_recognized);
    fx_free(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("apicv_posted");
    TCase *t = tcase_create("core");
    tcase_add_test(t, descriptor_layout);
    tcase_add_test(t, sender_protocol);
    tcase_add_test(t, process_not_notification_vector);
    tcase_add_test(t, process_steps_in_order);
    tcase_add_test(t, process_pir_empty_and_on_clear);
    tcase_add_test(t, process_pir_full);
    tcase_add_test(t, process_rvi_above_pir_and_masked);
    tcase_add_test(t, process_eoi_reaches_local_apic);
    tcase_add_test(t, process_low_vector_never_delivered);
    tcase_add_test(t, hypervisor_sync_in_root_operation);
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
