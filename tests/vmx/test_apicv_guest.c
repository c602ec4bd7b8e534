/*
 * test_apicv_guest.c — APIC virtualization end to end: guest instructions
 * run in non-root operation (vmx_vmentry + vmx_run on the interpreter) touch
 * the APIC-access page, CR8 and the x2APIC MSRs, and a posted interrupt
 * reaches the guest IDT without a VM exit. Checks that the hooks of the
 * core reach vmx_apicv*.c at the right points: virtualized accesses inside
 * the instruction, APIC-write emulation and trap-like exits at the next
 * boundary (RIP past the instruction), fault-like exit 44 on the instruction.
 */
#include <check.h>
#include <string.h>

#include "apic/apic.h"
#include "tests/support/cpu_harness.h"
#include "vmx/vmx.h"
#include "vmx/vmx_apicv.h"

#define VAPIC 0x400000u
#define PI_DESC 0x401000u
#define MSR_BITMAP 0x402000u
#define ACCESS 0x20000000u /* APIC-access page: mapped by the harness, not RAM */
#define NV 0xF2

static cpu_harness h;
static vmx_vcpu v;
static apic_t apic;
static unsigned n_delivered, n_exits;

#define SET(f, val) vmx_vmcs_set(&v.vmcs, VMCS_##f, (val))
#define GET(f) vmx_vmcs_get(&v.vmcs, VMCS_##f)
#define OR(f, bits) SET(f, GET(f) | (bits))

static void count(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    n_delivered += ev->kind == VMX_EV_VINTR_DELIVERED;
    n_exits += ev->kind == VMX_EV_VMEXIT;
}

/* A guest with use TPR shadow and the given secondary controls. */
static void setup(const uint8_t *code, size_t len, uint32_t proc2)
{
    cpu_harness_init(&h);
    apic_init(&apic, &h.cpu, 0, true, &h.obs);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    vmx_vcpu_init(&v, &h.cpu, &apic, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, len);
    h.cpu.rip = CPU_HARNESS_CODE;
    vmx_setup_guest_from_cpu(&v);
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW | VMX_PROC_SECONDARY | VMX_PROC_MSR_BITMAPS);
    SET(PROC_CONTROLS2, proc2);
    SET(VIRTUAL_APIC_ADDR, VAPIC);
    SET(APIC_ACCESS_ADDR, ACCESS);
    SET(MSR_BITMAP, MSR_BITMAP);
    if (proc2 & VMX_PROC2_VIRT_INTR_DELIVERY)
        OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING);
    n_delivered = n_exits = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count, NULL));
}

static void put32(uint64_t pa, uint32_t val)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &val, 4));
}

static uint32_t get32(uint64_t pa)
{
    uint32_t val = 0;
    ck_assert(cpu_phys_read(&h.phys, pa, &val, 4));
    return val;
}

static cpu_stop enter_and_run(void)
{
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    return vmx_run(&v, h.cpu.cycles + 200000);
}

START_TEST(eoi_write_through_apic_access_page_exits_45)
{
    /* mov dword [ACCESS+0B0H], eax ; hlt */
    static const uint8_t code[] = {0x89, 0x04, 0x25, 0xB0, 0x00, 0x00, 0x20, 0xF4};
    setup(code, sizeof code,
          VMX_PROC2_VIRT_APIC_ACCESS | VMX_PROC2_APIC_REG_VIRT | VMX_PROC2_VIRT_INTR_DELIVERY);
    put32(VAPIC + 0x100 + ((0x41 & 0xE0) >> 1), 1u << (0x41 & 31));
    SET(GUEST_INTR_STATUS, 0x4100);
    SET(EOI_EXIT_BITMAP1, 1ull << 1);
    ck_assert_int_eq(enter_and_run(), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_VIRTUALIZED_EOI);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 0x41);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7); /* trap-like */
    ck_assert_uint_eq(GET(GUEST_INTR_STATUS), 0);
    ck_assert_uint_eq(get32(VAPIC + 0x120), 0);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(tpr_read_virtualized_and_apr_read_exits_44)
{
    /* mov eax, [ACCESS+080H] ; mov ebx, [ACCESS+090H] */
    static const uint8_t code[] = {0x8B, 0x04, 0x25, 0x80, 0x00, 0x00, 0x20,
                                   0x8B, 0x1C, 0x25, 0x90, 0x00, 0x00, 0x20, 0xF4};
    setup(code, sizeof code, VMX_PROC2_VIRT_APIC_ACCESS);
    put32(VAPIC + 0x80, 0x00000060);
    ck_assert_int_eq(enter_and_run(), CPU_STOP_HOOK);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX] & 0xFFFFFFFF, 0x60);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_APIC_ACCESS);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 0x090);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7); /* fault-like */
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 7); /* what a hypervisor skips */
    cpu_harness_free(&h);
}
END_TEST

START_TEST(mov_cr8_tpr_below_threshold_exits_43)
{
    /* mov eax, 1 ; mov cr8, rax ; hlt */
    static const uint8_t code[] = {0xB8, 0x01, 0x00, 0x00, 0x00, 0x44, 0x0F, 0x22, 0xC0, 0xF4};
    setup(code, sizeof code, VMX_PROC2_VIRT_APIC_ACCESS);
    put32(VAPIC + 0x80, 0x50);
    SET(TPR_THRESHOLD, 3);
    ck_assert_int_eq(enter_and_run(), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_TPR_BELOW_THRESHOLD);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 9);
    ck_assert_uint_eq(get32(VAPIC + 0x80), 0x10);
    ck_assert_uint_eq(apic.tpr, 0); /* the physical TPR is untouched */
    cpu_harness_free(&h);
}
END_TEST

START_TEST(self_ipi_through_icr_delivered_without_exit)
{
    /* sti ; mov dword [ACCESS+300H], 00040031H ; nop ; jmp $ */
    static const uint8_t code[] = {0xFB, 0xC7, 0x04, 0x25, 0x00, 0x03, 0x00, 0x20,
                                   0x31, 0x00, 0x04, 0x00, 0x90, 0xEB, 0xFE};
    setup(code, sizeof code,
          VMX_PROC2_VIRT_APIC_ACCESS | VMX_PROC2_APIC_REG_VIRT | VMX_PROC2_VIRT_INTR_DELIVERY);
    cpu_stop s = enter_and_run();
    ck_assert_int_ne(s, CPU_STOP_HOOK);
    ck_assert_uint_eq(n_exits, 0);
    ck_assert_uint_eq(n_delivered, 1);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x31);
    ck_assert_uint_eq(vmx_apicv_svi(&v), 0x31);
    ck_assert_uint_eq(get32(VAPIC + 0xA0), 0x30);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(x2apic_eoi_wrmsr)
{
    /* mov ecx, 80BH ; xor eax, eax ; xor edx, edx ; wrmsr ; hlt */
    static const uint8_t code[] = {0xB9, 0x0B, 0x08, 0x00, 0x00, 0x31, 0xC0,
                                   0x31, 0xD2, 0x0F, 0x30, 0xF4};
    setup(code, sizeof code, VMX_PROC2_VIRT_X2APIC | VMX_PROC2_VIRT_INTR_DELIVERY);
    put32(VAPIC + 0x170, 1u << 31); /* VISR[FFH] */
    SET(GUEST_INTR_STATUS, 0xFF00);
    SET(EOI_EXIT_BITMAP3, 1ull << 63);
    ck_assert_int_eq(enter_and_run(), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_VIRTUALIZED_EOI);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 0xFF);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 11);
    ck_assert_uint_eq(get32(VAPIC + 0x170), 0);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(posted_interrupt_reaches_guest_without_exit)
{
    /* sti ; nop ; jmp $ */
    static const uint8_t code[] = {0xFB, 0x90, 0xEB, 0xFE};
    setup(code, sizeof code, VMX_PROC2_VIRT_APIC_ACCESS | VMX_PROC2_VIRT_INTR_DELIVERY);
    OR(PIN_CONTROLS, VMX_PIN_POSTED_INTR);
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
    SET(POSTED_INTR_NV, NV);
    SET(POSTED_INTR_DESC_ADDR, PI_DESC);
    bool send = false;
    ck_assert(vmx_pi_post(&h.phys, PI_DESC, 0x41, &send));
    ck_assert(send);
    apic_accept(&apic, NV, APIC_DM_FIXED, false); /* the notification */
    cpu_stop s = enter_and_run();
    ck_assert_int_ne(s, CPU_STOP_HOOK);
    ck_assert_uint_eq(n_exits, 0);
    ck_assert_uint_eq(n_delivered, 1);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x41);
    ck_assert(!vmx_pi_get_on(&h.phys, PI_DESC));
    ck_assert_uint_eq(vmx_pi_pir_qword(&h.phys, PI_DESC, 1), 0);
    ck_assert_uint_eq(vmx_apicv_svi(&v), 0x41);
    ck_assert_int_eq(apic_pending_vector(&apic), -1);
    ck_assert_uint_eq(apic.isr[NV / 32] & (1u << (NV % 32)), 0); /* step 4 EOI */
    cpu_harness_free(&h);
}
END_TEST

START_TEST(entry_in_hlt_with_pending_rvi_wakes)
{
    /* The guest sits in HLT at entry (activity state HLT, IF = 1). */
    static const uint8_t code[] = {0xEB, 0xFE};
    setup(code, sizeof code, VMX_PROC2_VIRT_APIC_ACCESS | VMX_PROC2_VIRT_INTR_DELIVERY);
    SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_HLT);
    SET(GUEST_RFLAGS, CPU_FL_FIXED1 | CPU_FL_IF);
    put32(VAPIC + 0x200 + ((0x51 & 0xE0) >> 1), 1u << (0x51 & 31));
    SET(GUEST_INTR_STATUS, 0x0051);
    cpu_stop s = enter_and_run();
    ck_assert_int_ne(s, CPU_STOP_HOOK);
    ck_assert_uint_eq(n_delivered, 1);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x51);
    ck_assert_uint_eq(GET(GUEST_INTR_STATUS) & 0xFF, 0x00); /* RVI: VIRR now empty */
    ck_assert_uint_eq(vmx_apicv_svi(&v), 0x51);
    cpu_harness_free(&h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("apicv_guest");
    TCase *t = tcase_create("core");
    tcase_add_test(t, eoi_write_through_apic_access_page_exits_45);
    tcase_add_test(t, tpr_read_virtualized_and_apr_read_exits_44);
    tcase_add_test(t, mov_cr8_tpr_below_threshold_exits_43);
    tcase_add_test(t, self_ipi_through_icr_delivered_without_exit);
    tcase_add_test(t, x2apic_eoi_wrmsr);
    tcase_add_test(t, posted_interrupt_reaches_guest_without_exit);
    tcase_add_test(t, entry_in_hlt_with_pending_rvi_wakes);
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
