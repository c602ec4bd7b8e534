/*
 * test_apicv_algorithms.c — the virtual-APIC page helpers and the algorithms
 * of SDM 29.1-29.3 (PPR, TPR, EOI, self-IPI virtualization, evaluation and
 * delivery of virtual interrupts, MOV CR8) and the VM-entry part, driven
 * directly on a hand-made vmx_vcpu.
 */
#include "tests/vmx/test_apicv_fixture.h"

#define VID VMX_PROC2_VIRT_INTR_DELIVERY

/* ---- the page layout ---------------------------------------------------- */

START_TEST(vector_layout_edges)
{
    apicv_fx f;
    fx_init(&f, VID);
    vmx_vcpu *v = &f.v;
    fx_set_page32(&f, 0x204, 0xAAAAAAAA); /* unused bytes of the slot must stay */
    vmx_vapic_set_vector(v, VMX_VAPIC_IRR, 0x10);
    ck_assert_uint_eq(fx_page32(&f, 0x200), 1u << 16);
    vmx_vapic_set_vector(v, VMX_VAPIC_IRR, 0xFF);
    ck_assert_uint_eq(fx_page32(&f, 0x270), 1u << 31);
    vmx_vapic_set_vector(v, VMX_VAPIC_ISR, 0x20);
    ck_assert_uint_eq(fx_page32(&f, 0x110), 1u);
    ck_assert_uint_eq(fx_page32(&f, 0x204), 0xAAAAAAAA);
    ck_assert(vmx_vapic_test_vector(v, VMX_VAPIC_IRR, 0x10));
    ck_assert(!vmx_vapic_test_vector(v, VMX_VAPIC_IRR, 0x11));
    ck_assert(!vmx_vapic_test_vector(v, VMX_VAPIC_ISR, 0x10));
    ck_assert_int_eq(vmx_vapic_highest(v, VMX_VAPIC_IRR), 0xFF);
    vmx_vapic_clear_vector(v, VMX_VAPIC_IRR, 0xFF);
    ck_assert_uint_eq(fx_page32(&f, 0x270), 0);
    ck_assert_int_eq(vmx_vapic_highest(v, VMX_VAPIC_IRR), 0x10);
    vmx_vapic_clear_vector(v, VMX_VAPIC_IRR, 0x10);
    ck_assert_int_eq(vmx_vapic_highest(v, VMX_VAPIC_IRR), -1);
    /* Full register. */
    for (unsigned s = 0; s < 8; s++)
        fx_set_page32(&f, 0x100 + 16 * s, 0xFFFFFFFF);
    ck_assert_int_eq(vmx_vapic_highest(v, VMX_VAPIC_ISR), 0xFF);
    /* Only slot 1 bit 0: vector 0x20. */
    for (unsigned s = 0; s < 8; s++)
        fx_set_page32(&f, 0x100 + 16 * s, s == 1 ? 1u : 0u);
    ck_assert_int_eq(vmx_vapic_highest(v, VMX_VAPIC_ISR), 0x20);
    /* Bytes beyond the low dword of a slot are not part of the register. */
    fx_set_page32(&f, 0x108, 0xFFFFFFFF);
    ck_assert_int_eq(vmx_vapic_highest(v, VMX_VAPIC_ISR), 0x20);
    fx_free(&f);
}
END_TEST

START_TEST(rvi_svi_in_guest_interrupt_status)
{
    apicv_fx f;
    fx_init(&f, VID);
    vmx_apicv_set_rvi(&f.v, 0x41);
    vmx_apicv_set_svi(&f.v, 0x32);
    ck_assert_uint_eq(vmx_vmcs_get(&f.v.vmcs, VMCS_GUEST_INTR_STATUS), 0x3241);
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x41);
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0x32);
    fx_free(&f);
}
END_TEST

/* ---- PPR virtualization (29.1.3) ------------------------------------------ */

START_TEST(ppr_all_orderings)
{
    /* {VTPR dword, SVI, expected VPPR}: TPR class above, equal, below SVI's. */
    static const struct { uint32_t vtpr; uint8_t svi; uint32_t vppr; } cases[] = {
        {0x00, 0x00, 0x00}, {0x35, 0x3F, 0x35}, {0x35, 0x51, 0x50}, {0x50, 0x41, 0x50},
        {0x00, 0xFF, 0xF0}, {0xFF, 0xFF, 0xFF}, {0xFF, 0x10, 0xFF}, {0x1F, 0x20, 0x20},
        {0x20, 0x2F, 0x20}, {0xABCD0061, 0x71, 0x70}, {0xABCD0071, 0x71, 0x71},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        apicv_fx f;
        fx_init(&f, VID);
        fx_set_page32(&f, VMX_VAPIC_TPR, cases[i].vtpr);
        fx_set_page32(&f, VMX_VAPIC_PPR, 0xDEADBEEF);
        fx_set_status(&f, 0, cases[i].svi);
        vmx_apicv_ppr_virtualization(&f.v);
        ck_assert_msg(fx_page32(&f, VMX_VAPIC_PPR) == cases[i].vppr, "case %u: VPPR %#x", i,
                      fx_page32(&f, VMX_VAPIC_PPR));
        int e = fx_find(&f, VMX_EV_PPR_VIRT, 0);
        ck_assert_int_ge(e, 0);
        ck_assert_uint_eq(f.ev[e].b, 0xDEADBEEF);
        ck_assert_uint_eq(f.ev[e].d, cases[i].vppr);
        fx_free(&f);
    }
}
END_TEST

/* ---- TPR virtualization (29.1.2) ------------------------------------------ */

START_TEST(tpr_virt_without_vid_threshold)
{
    apicv_fx f;
    fx_init(&f, VMX_PROC2_VIRT_APIC_ACCESS);
    vmx_vmcs_set(&f.v.vmcs, VMCS_TPR_THRESHOLD, 5);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x50);
    vmx_apicv_tpr_virtualization(&f.v, VMX_TPR_SRC_CR8, 0x60);
    ck_assert(!f.v.tpr_threshold_pending); /* 5 > 5 is false */
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x4F);
    vmx_apicv_tpr_virtualization(&f.v, VMX_TPR_SRC_CR8, 0x50);
    ck_assert(f.v.tpr_threshold_pending);
    ck_assert(f.h.cpu.events & CPU_EVT_HOOK);
    /* No PPR virtualization without VID. */
    ck_assert_int_eq(fx_find(&f, VMX_EV_PPR_VIRT, 0), -1);
    int e = fx_find(&f, VMX_EV_TPR_VIRT, 0);
    e = fx_find(&f, VMX_EV_TPR_VIRT, (unsigned)e + 1);
    ck_assert_uint_eq(f.ev[e].b, 0x50);
    ck_assert_uint_eq(f.ev[e].d, 0x4F);
    /* The trap-like exit 43: RIP already past the instruction. */
    f.h.cpu.rip = 0x123456;
    ck_assert(vmx_apicv_take_trap_exit(&f.v));
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_TPR_BELOW_THRESHOLD);
    ck_assert_uint_eq(fx_exit_qual(&f), 0);
    ck_assert_uint_eq(vmx_vmcs_get(&f.v.vmcs, VMCS_GUEST_RIP), 0x123456);
    ck_assert(!vmx_apicv_take_trap_exit(&f.v));
    fx_free(&f);
}
END_TEST

START_TEST(tpr_virt_threshold_zero_never_exits)
{
    apicv_fx f;
    fx_init(&f, 0);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x00);
    vmx_apicv_tpr_virtualization(&f.v, VMX_TPR_SRC_MMIO, 0x10);
    ck_assert(!f.v.tpr_threshold_pending);
    fx_free(&f);
}
END_TEST

START_TEST(tpr_virt_with_vid_ppr_and_evaluation)
{
    apicv_fx f;
    fx_init(&f, VID);
    vmx_vmcs_set(&f.v.vmcs, VMCS_TPR_THRESHOLD, 0xF); /* ignored with VID */
    fx_set_status(&f, 0x45, 0);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x30);
    vmx_apicv_tpr_virtualization(&f.v, VMX_TPR_SRC_MSR, 0x50);
    ck_assert(!f.v.tpr_threshold_pending);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x30);
    ck_assert(f.v.vintr_recognized); /* 4 > 3 */
    /* Raising VTPR to the same class withdraws the recognition. */
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x40);
    vmx_apicv_tpr_virtualization(&f.v, VMX_TPR_SRC_MSR, 0x30);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x40);
    ck_assert(!f.v.vintr_recognized);
    fx_free(&f);
}
END_TEST

/* ---- EOI virtualization (29.1.4) ------------------------------------------ */

START_TEST(eoi_virt_bitmap_clear_evaluates)
{
    apicv_fx f;
    fx_init(&f, VID);
    fx_set_bit(&f, VMX_VAPIC_ISR, 0x41);
    fx_set_bit(&f, VMX_VAPIC_ISR, 0x31);
    fx_set_status(&f, 0x50, 0x41);
    fx_set_page32(&f, VMX_VAPIC_PPR, 0x40);
    vmx_apicv_eoi_virtualization(&f.v);
    ck_assert(!fx_bit(&f, VMX_VAPIC_ISR, 0x41));
    ck_assert(fx_bit(&f, VMX_VAPIC_ISR, 0x31));
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0x31);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x30);
    ck_assert(!f.v.eoi_exit_pending);
    ck_assert(f.v.vintr_recognized); /* RVI 0x50: class 5 > 3 */
    int e = fx_find(&f, VMX_EV_EOI_VIRT, 0);
    ck_assert_int_ge(e, 0);
    ck_assert_uint_eq(f.ev[e].a, 0x41);
    ck_assert_uint_eq(f.ev[e].b, 0x4150);
    ck_assert_uint_eq(f.ev[e].d, 0x3150);
    fx_free(&f);
}
END_TEST

START_TEST(eoi_virt_bitmap_set_exits_45)
{
    static const uint8_t vecs[] = {0x10, 0x41, 0x7F, 0x80, 0xFF};
    for (unsigned i = 0; i < sizeof vecs; i++) {
        apicv_fx f;
        fx_init(&f, VID);
        uint8_t vec = vecs[i];
        fx_set_bit(&f, VMX_VAPIC_ISR, vec);
        fx_set_status(&f, 0xF0, vec);
        /* bitmap n covers 64n..64n+63, fields 0x201C, 0x201E, 0x2020, 0x2022 */
        static const uint32_t fields[4] = {0x201C, 0x201E, 0x2020, 0x2022};
        vmx_vmcs_set(&f.v.vmcs, fields[vec / 64], 1ull << (vec % 64));
        vmx_apicv_eoi_virtualization(&f.v);
        ck_assert(!fx_bit(&f, VMX_VAPIC_ISR, vec));
        ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0);
        ck_assert(f.v.eoi_exit_pending);
        ck_assert(!f.v.vintr_recognized); /* no evaluation before the exit */
        f.h.cpu.rip = 0x200000;
        ck_assert(vmx_apicv_take_trap_exit(&f.v));
        ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_VIRTUALIZED_EOI);
        ck_assert_uint_eq(fx_exit_qual(&f), vec);
        ck_assert_uint_eq(vmx_vmcs_get(&f.v.vmcs, VMCS_GUEST_RIP), 0x200000);
        fx_free(&f);
    }
}
END_TEST

START_TEST(eoi_virt_neighbouring_bitmap_bit_does_not_exit)
{
    apicv_fx f;
    fx_init(&f, VID);
    fx_set_bit(&f, VMX_VAPIC_ISR, 0x41);
    fx_set_status(&f, 0, 0x41);
    vmx_vmcs_set(&f.v.vmcs, VMCS_EOI_EXIT_BITMAP1, ~(1ull << 1));
    vmx_vmcs_set(&f.v.vmcs, VMCS_EOI_EXIT_BITMAP0, ~0ull);
    vmx_apicv_eoi_virtualization(&f.v);
    ck_assert(!f.v.eoi_exit_pending);
    fx_free(&f);
}
END_TEST

START_TEST(eoi_virt_svi_zero_and_full_visr)
{
    apicv_fx f;
    fx_init(&f, VID);
    /* SVI 0, VISR empty: nothing in service, VPPR follows VTPR. */
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x20);
    vmx_apicv_eoi_virtualization(&f.v);
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x20);
    ck_assert_int_eq(vmx_vapic_highest(&f.v, VMX_VAPIC_ISR), -1);
    /* Full VISR, SVI 0xFF: the next in service is 0xFE. */
    for (unsigned s = 0; s < 8; s++)
        fx_set_page32(&f, 0x100 + 16 * s, 0xFFFFFFFF);
    fx_set_status(&f, 0, 0xFF);
    vmx_apicv_eoi_virtualization(&f.v);
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0xFE);
    ck_assert_uint_eq(fx_page32(&f, 0x170), 0x7FFFFFFF);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0xF0);
    fx_free(&f);
}
END_TEST

/* ---- self-IPI virtualization (29.1.5) ------------------------------------- */

START_TEST(self_ipi_virt)
{
    apicv_fx f;
    fx_init(&f, VID);
    fx_set_status(&f, 0x30, 0);
    vmx_apicv_self_ipi_virtualization(&f.v, 0x50);
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x50));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x50);
    ck_assert(f.v.vintr_recognized);
    int e = fx_find(&f, VMX_EV_SELF_IPI_VIRT, 0);
    ck_assert_uint_eq(f.ev[e].b, 0x0030);
    ck_assert_uint_eq(f.ev[e].d, 0x0050);
    /* A lower vector does not lower RVI. */
    vmx_apicv_self_ipi_virtualization(&f.v, 0x20);
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x20));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x50);
    vmx_apicv_self_ipi_virtualization(&f.v, 0xFF);
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0xFF);
    fx_free(&f);
}
END_TEST

/* ---- evaluation (29.2.1) --------------------------------------------------- */

START_TEST(evaluate_class_boundaries)
{
    apicv_fx f;
    fx_init(&f, VID);
    fx_set_page32(&f, VMX_VAPIC_PPR, 0x40);
    fx_set_status(&f, 0x4F, 0);
    ck_assert(!vmx_apicv_evaluate_pending(&f.v));
    ck_assert(!f.v.vintr_recognized);
    fx_set_status(&f, 0x50, 0);
    ck_assert(vmx_apicv_evaluate_pending(&f.v));
    ck_assert(f.v.vintr_recognized);
    int e = fx_find(&f, VMX_EV_VINTR_RECOGNIZED, 0);
    ck_assert_uint_eq(f.ev[e].a, 0x50);
    ck_assert_uint_eq(f.ev[e].b, 0x40);
    /* Interrupt-window exiting = 1: nothing recognised. */
    fx_set_proc(&f, VMX_PROC_INTR_WINDOW, 0);
    ck_assert(!vmx_apicv_evaluate_pending(&f.v));
    fx_set_proc(&f, 0, VMX_PROC_INTR_WINDOW);
    /* RVI 0 never; VPPR 0 with RVI 0x10 yes. */
    fx_set_page32(&f, VMX_VAPIC_PPR, 0);
    fx_set_status(&f, 0, 0);
    ck_assert(!vmx_apicv_evaluate_pending(&f.v));
    fx_set_status(&f, 0x10, 0);
    ck_assert(vmx_apicv_evaluate_pending(&f.v));
    fx_free(&f);
}
END_TEST

START_TEST(evaluate_needs_vid)
{
    apicv_fx f;
    fx_init(&f, VMX_PROC2_VIRT_APIC_ACCESS);
    fx_set_status(&f, 0xF0, 0);
    ck_assert(!vmx_apicv_evaluate_pending(&f.v));
    fx_free(&f);
    /* Secondary controls inactive: VID acts as 0 even when its bit is set. */
    fx_init(&f, VID);
    fx_set_proc(&f, 0, VMX_PROC_SECONDARY);
    fx_set_status(&f, 0xF0, 0);
    ck_assert(!vmx_apicv_evaluate_pending(&f.v));
    fx_free(&f);
}
END_TEST

/* ---- delivery (29.2.2) ------------------------------------------------------ */

START_TEST(deliver_virtual_interrupt)
{
    apicv_fx f;
    fx_init(&f, VID);
    cpu_t *c = &f.h.cpu;
    cpu_set_rflags(c, CPU_FL_FIXED1 | CPU_FL_IF);
    fx_set_bit(&f, VMX_VAPIC_IRR, 0x51);
    fx_set_bit(&f, VMX_VAPIC_IRR, 0x31);
    fx_set_status(&f, 0x51, 0);
    ck_assert(vmx_apicv_evaluate_pending(&f.v));
    ck_assert(vmx_apicv_deliver_virtual_interrupt(&f.v));
    ck_assert(fx_bit(&f, VMX_VAPIC_ISR, 0x51));
    ck_assert(!fx_bit(&f, VMX_VAPIC_IRR, 0x51));
    ck_assert(fx_bit(&f, VMX_VAPIC_IRR, 0x31));
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0x51);
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x31);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x50);
    ck_assert(!f.v.vintr_recognized);
    int e = fx_find(&f, VMX_EV_VINTR_DELIVERED, 0);
    ck_assert_uint_eq(f.ev[e].a, 0x51);
    ck_assert_uint_eq(f.ev[e].b, 0x0051);
    ck_assert_uint_eq(f.ev[e].d, 0x5131);
    /* The vector goes through the guest IDT: the CPU ends in its handler. */
    cpu_run(c, ~0ull, 1);
    ck_assert_int_eq(cpu_harness_vector(&f.h), 0x51);
    /* Not recognised any more: a second call delivers nothing. */
    ck_assert(!vmx_apicv_deliver_virtual_interrupt(&f.v));
    fx_free(&f);
}
END_TEST

START_TEST(deliver_vector_ff_empties_virr)
{
    apicv_fx f;
    fx_init(&f, VID);
    cpu_set_rflags(&f.h.cpu, CPU_FL_FIXED1 | CPU_FL_IF);
    fx_set_bit(&f, VMX_VAPIC_IRR, 0xFF);
    fx_set_status(&f, 0xFF, 0x10);
    fx_set_bit(&f, VMX_VAPIC_ISR, 0x10);
    fx_set_page32(&f, VMX_VAPIC_PPR, 0x10);
    ck_assert(vmx_apicv_evaluate_pending(&f.v));
    ck_assert(vmx_apicv_deliver_virtual_interrupt(&f.v));
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0);
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0xFF);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0xF0);
    ck_assert(fx_bit(&f, VMX_VAPIC_ISR, 0x10));
    fx_free(&f);
}
END_TEST

START_TEST(deliver_blocked_conditions)
{
    apicv_fx f;
    fx_init(&f, VID);
    cpu_t *c = &f.h.cpu;
    fx_set_bit(&f, VMX_VAPIC_IRR, 0x40);
    fx_set_status(&f, 0x40, 0);
    ck_assert(vmx_apicv_evaluate_pending(&f.v));
    /* IF = 0 */
    cpu_set_rflags(c, CPU_FL_FIXED1);
    ck_assert(!vmx_apicv_deliver_virtual_interrupt(&f.v));
    /* STI / MOV-SS blocking */
    cpu_set_rflags(c, CPU_FL_FIXED1 | CPU_FL_IF);
    c->events |= CPU_EVT_SHADOW;
    ck_assert(!vmx_apicv_deliver_virtual_interrupt(&f.v));
    c->events &= ~(uint32_t)CPU_EVT_SHADOW;
    /* interrupt-window exiting = 1 */
    fx_set_proc(&f, VMX_PROC_INTR_WINDOW, 0);
    ck_assert(!vmx_apicv_deliver_virtual_interrupt(&f.v));
    fx_set_proc(&f, 0, VMX_PROC_INTR_WINDOW);
    ck_assert_uint_eq(vmx_apicv_rvi(&f.v), 0x40); /* nothing moved */
    ck_assert(!fx_bit(&f, VMX_VAPIC_ISR, 0x40));
    /* Open: delivered, and it ends HLT. */
    c->halted = 1;
    ck_assert(vmx_apicv_deliver_virtual_interrupt(&f.v));
    ck_assert_uint_eq(c->halted, 0);
    fx_free(&f);
}
END_TEST

START_TEST(deliver_needs_recognition)
{
    apicv_fx f;
    fx_init(&f, VID);
    cpu_set_rflags(&f.h.cpu, CPU_FL_FIXED1 | CPU_FL_IF);
    /* RVI above VPPR but never evaluated: no delivery (evaluation only at the
     * SDM's listed points). */
    fx_set_bit(&f, VMX_VAPIC_IRR, 0x60);
    fx_set_status(&f, 0x60, 0);
    ck_assert(!vmx_apicv_deliver_virtual_interrupt(&f.v));
    fx_free(&f);
}
END_TEST

/* ---- MOV CR8 (29.3) --------------------------------------------------------- */

START_TEST(cr8_read_write)
{
    apicv_fx f;
    fx_init(&f, VMX_PROC2_VIRT_APIC_ACCESS);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0xFFFFFF5A);
    ck_assert_uint_eq(vmx_apicv_cr8_read(&f.v), 5);
    vmx_apicv_cr8_write(&f.v, 7);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_TPR), 0x70);
    ck_assert_uint_eq(vmx_apicv_cr8_read(&f.v), 7);
    int e = fx_find(&f, VMX_EV_CR8_WRITE_VIRT, 0);
    ck_assert_uint_eq(f.ev[e].b, 0xFFFFFF5A);
    ck_assert_uint_eq(f.ev[e].d, 0x70);
    ck_assert_int_ge(fx_find(&f, VMX_EV_TPR_VIRT, (unsigned)e), 0);
    vmx_apicv_cr8_write(&f.v, 0xF);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_TPR), 0xF0);
    vmx_apicv_cr8_write(&f.v, 0);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_TPR), 0);
    ck_assert_uint_eq(vmx_apicv_cr8_read(&f.v), 0);
    /* TPR virtualization follows: threshold 3 > 0 → exit 43 recorded. */
    vmx_vmcs_set(&f.v.vmcs, VMCS_TPR_THRESHOLD, 3);
    vmx_apicv_cr8_write(&f.v, 2);
    ck_assert(f.v.tpr_threshold_pending);
    fx_free(&f);
}
END_TEST

START_TEST(cr8_write_with_vid_delivers_unmasked)
{
    apicv_fx f;
    fx_init(&f, VID);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x80);
    fx_set_page32(&f, VMX_VAPIC_PPR, 0x80);
    fx_set_bit(&f, VMX_VAPIC_IRR, 0x61);
    fx_set_status(&f, 0x61, 0);
    vmx_apicv_cr8_write(&f.v, 5);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x50);
    ck_assert(f.v.vintr_recognized);
    fx_free(&f);
}
END_TEST

/* ---- VM entry ----------------------------------------------------------- */

START_TEST(vmentry_with_vid_evaluates)
{
    apicv_fx f;
    fx_init(&f, VID);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x20);
    fx_set_status(&f, 0x31, 0);
    f.v.apic_write_pending = true; /* stale state from before does not survive */
    vmx_apicv_on_vmentry(&f.v);
    ck_assert(!f.v.apic_write_pending);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x20);
    ck_assert(f.v.vintr_recognized);
    /* SVI in a higher class masks it. */
    fx_set_status(&f, 0x31, 0x35);
    vmx_apicv_on_vmentry(&f.v);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x30);
    ck_assert(!f.v.vintr_recognized);
    fx_free(&f);
}
END_TEST

START_TEST(vmentry_tpr_shadow_without_vid_threshold)
{
    apicv_fx f;
    fx_init(&f, VMX_PROC2_VIRT_APIC_ACCESS);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x20);
    vmx_vmcs_set(&f.v.vmcs, VMCS_TPR_THRESHOLD, 2);
    vmx_apicv_on_vmentry(&f.v);
    ck_assert(!f.v.tpr_threshold_pending);
    vmx_vmcs_set(&f.v.vmcs, VMCS_TPR_THRESHOLD, 3);
    vmx_apicv_on_vmentry(&f.v);
    ck_assert(f.v.tpr_threshold_pending);
    ck_assert(!f.v.vintr_recognized);
    /* The exit cancels the pending work. */
    vmx_apicv_on_vmexit(&f.v);
    ck_assert(!f.v.tpr_threshold_pending);
    fx_free(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("apicv_algorithms");
    TCase *t = tcase_create("core");
    tcase_add_test(t, vector_layout_edges);
    tcase_add_test(t, rvi_svi_in_guest_interrupt_status);
    tcase_add_test(t, ppr_all_orderings);
    tcase_add_test(t, tpr_virt_without_vid_threshold);
    tcase_add_test(t, tpr_virt_threshold_zero_never_exits);
    tcase_add_test(t, tpr_virt_with_vid_ppr_and_evaluation);
    tcase_add_test(t, eoi_virt_bitmap_clear_evaluates);
    tcase_add_test(t, eoi_virt_bitmap_set_exits_45);
    tcase_add_test(t, eoi_virt_neighbouring_bitmap_bit_does_not_exit);
    tcase_add_test(t, eoi_virt_svi_zero_and_full_visr);
    tcase_add_test(t, self_ipi_virt);
    tcase_add_test(t, evaluate_class_boundaries);
    tcase_add_test(t, evaluate_needs_vid);
    tcase_add_test(t, deliver_virtual_interrupt);
    tcase_add_test(t, deliver_vector_ff_empties_virr);
    tcase_add_test(t, deliver_blocked_conditions);
    tcase_add_test(t, deliver_needs_recognition);
    tcase_add_test(t, cr8_read_write);
    tcase_add_test(t, cr8_write_with_vid_delivers_unmasked);
    tcase_add_test(t, vmentry_with_vid_evaluates);
    tcase_add_test(t, vmentry_tpr_shadow_without_vid_threshold);
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
