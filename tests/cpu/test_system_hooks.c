/*
 * test_system_hooks.c — the system instructions that go through the CPU's
 * hooks (cpu_interrupt.c, cpu_vmx_insn.c): IN/OUT through the I/O hook and
 * the TSS I/O bitmap at CPL 3, HLT, CLI/STI and the STI shadow with the
 * events hook, VMCALL/VMXON/RDPMC outside non-root, and the intercept hook.
 * The other system instructions are in test_system.c.
 *
 * Each snippet is shown in Intel syntax beside its bytes (assembled with
 * GNU as). Exceptions end in the harness's HLT handlers, so a test reads the
 * vector with cpu_harness_vector and the frame at RSP.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_sys_fixture.h"

/* ---- port I/O ---- */

static struct io_rec {
    uint16_t port;
    unsigned size;
    bool in;
    uint32_t val;
} ios[8];
static unsigned nios;

static bool io_hook(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    (void)ctx;
    (void)c;
    if (nios < 8)
        ios[nios++] = (struct io_rec){port, size, in, in ? 0 : *val};
    if (port == 0x60 && in) {
        *val = 0xAB;
        return true;
    }
    return !in;
}

START_TEST(in_out_through_hook)
{
    cpu_hooks hk = {.io = io_hook};
    cpu_set_hooks(&h.cpu, &hk);
    nios = 0;
    /*  in al, 0x60; mov ebx, eax; mov dx, 0x1234; in ax, dx (nobody: all ones)
     *  mov ecx, eax; mov eax, 0xdeadbeef; out dx, eax; mov al, 0x41; out 0xe9, al; hlt */
    static const uint8_t code[] = {0xe4, 0x60, 0x89, 0xc3, 0x66, 0xba, 0x34, 0x12, 0x66, 0xed, 0x89, 0xc1,
                                   0xb8, 0xef, 0xbe, 0xad, 0xde, 0xef, 0xb0, 0x41, 0xe6, 0xe9, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0xAB);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0xFFFF);
    ck_assert_uint_eq(nios, 4);
    ck_assert(ios[0].in && ios[0].port == 0x60 && ios[0].size == 1);
    ck_assert(ios[1].in && ios[1].port == 0x1234 && ios[1].size == 2);
    ck_assert(!ios[2].in && ios[2].port == 0x1234 && ios[2].size == 4);
    ck_assert_uint_eq(ios[2].val, 0xdeadbeef);
    ck_assert(!ios[3].in && ios[3].port == 0xE9 && ios[3].size == 1);
    ck_assert_uint_eq(ios[3].val, 0x41);
}
END_TEST

START_TEST(in_at_cpl3_uses_io_bitmap)
{
    add_tss(0x9000);
    h.cpu.tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x67 + 0x2000, .base = 0x9000};
    uint8_t ones = 0xFF;
    poke(0x9000 + 0x68 + 0x60 / 8, &ones, 1); /* ports 0x60..0x67 denied */
    h.cpu.cpl = 3;
    h.cpu.seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
    h.cpu.seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0xF3, .limit = 0xFFFFFFFF};
    cpu_tlb_flush(&h.cpu);
    cpu_hooks hk = {.io = io_hook};
    cpu_set_hooks(&h.cpu, &hk);
    nios = 0;
    /* in al, 0x70 (allowed); in al, 0x60 (denied) */
    static const uint8_t code[] = {0xe4, 0x70, 0xe4, 0x60};
    RUN(code);
    ck_assert_uint_eq(nios, 1);
    ck_assert_uint_eq(ios[0].port, 0x70);
    expect_fault(CPU_EXC_GP, 0, CODE + 2);
}
END_TEST

/* ---- HLT, CLI/STI, the STI shadow ---- */

START_TEST(hlt_stops_and_interrupt_wakes)
{
    nseen = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, record_event, NULL));
    /* sti; hlt; (then) mov ebx, 7 */
    static const uint8_t code[] = {0xfb, 0xf4, 0xbb, 0x07, 0x00, 0x00, 0x00};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert(h.cpu.halted);
    ck_assert_uint_eq(h.cpu.rip, CODE + 2);
    ck_assert_uint_eq(seen[0].kind, CPU_EV_HALT);
    ck_assert_uint_eq(seen[0].c, CODE + 1);
    cpu_deliver_interrupt(&h.cpu, 0x40);
    ck_assert(!h.cpu.halted);
    ck_assert_int_eq(cpu_run(&h.cpu, UINT64_MAX, 1000), CPU_STOP_HALT);
    expect_fault(0x40, -1, CODE + 2);
}
END_TEST

START_TEST(cli_at_cpl3_gp)
{
    add_tss(0x9000);
    h.cpu.tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x67, .base = 0x9000};
    h.cpu.cpl = 3;
    h.cpu.seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
    h.cpu.seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0xF3, .limit = 0xFFFFFFFF};
    cpu_tlb_flush(&h.cpu);
    /* cli (CPL 3 > IOPL 0) */
    static const uint8_t code[] = {0xfa};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE);
}
END_TEST

static int pending_vector = -1;

static void events_hook(void *ctx, cpu_t *c)
{
    (void)ctx;
    c->events &= ~(uint32_t)(CPU_EVT_INTR | CPU_EVT_HOOK);
    if (pending_vector >= 0 && !cpu_interruptible(c))
        c->events |= CPU_EVT_INTR; /* still pending: ask again at the next boundary */
    else if (pending_vector >= 0) {
        uint8_t v = (uint8_t)pending_vector;
        pending_vector = -1;
        cpu_deliver_interrupt(c, v);
    }
}

START_TEST(sti_shadow_delays_interrupt)
{
    cpu_hooks hk = {.events = events_hook};
    cpu_set_hooks(&h.cpu, &hk);
    pending_vector = 0x30;
    cpu_signal(&h.cpu, CPU_EVT_INTR);
    /* cli; sti; mov eax, 1 (in the shadow); mov ebx, 2; hlt */
    static const uint8_t code[] = {0xfa, 0xfb, 0xb8, 0x01, 0x00, 0x00, 0x00,
                                   0xbb, 0x02, 0x00, 0x00, 0x00, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    expect_fault(0x30, -1, CODE + 7);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0);
    ck_assert(frame(2) & CPU_FL_IF);             /* IF was set by STI */
    ck_assert(!(cpu_get_rflags(&h.cpu) & CPU_FL_IF)); /* the interrupt gate cleared it */
}
END_TEST

/* An OUT to port 0x80 makes interrupt 0x30 pending (a device raising it). */
static bool raise_hook(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    (void)ctx;
    (void)size;
    (void)val;
    if (port == 0x80 && !in) {
        pending_vector = 0x30;
        cpu_signal(c, CPU_EVT_INTR);
    }
    return true;
}

START_TEST(cli_blocks_interrupt)
{
    cpu_hooks hk = {.events = events_hook, .io = raise_hook};
    /* With IF = 1 the interrupt is taken right after the OUT that raises it. */
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.rflags |= CPU_FL_IF;
    pending_vector = -1;
    /* nop; out 0x80, al; mov ebx, 2; hlt */
    static const uint8_t open[] = {0x90, 0xe6, 0x80, 0xbb, 0x02, 0x00, 0x00, 0x00, 0xf4};
    RUN(open);
    expect_fault(0x30, -1, CODE + 3);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0);
    teardown();
    setup();
    /* After CLI it stays pending. cli; out 0x80, al; mov ebx, 2; hlt */
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.rflags |= CPU_FL_IF;
    pending_vector = -1;
    static const uint8_t closed[] = {0xfa, 0xe6, 0x80, 0xbb, 0x02, 0x00, 0x00, 0x00, 0xf4};
    ck_assert_int_eq(RUN(closed), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 2);
    ck_assert(!(cpu_get_rflags(&h.cpu) & CPU_FL_IF));
    ck_assert_int_eq(pending_vector, 0x30);
}
END_TEST

/* ---- VMX outside non-root ---- */

START_TEST(vmcall_and_vmxon_ud)
{
    /* vmcall */
    static const uint8_t vmcall[] = {0x0f, 0x01, 0xc1};
    RUN(vmcall);
    expect_fault(CPU_EXC_UD, -1, CODE);
    teardown();
    setup();
    /* vmxon [rax] with CR4.VMXE = 0 */
    static const uint8_t vmxon[] = {0xf3, 0x0f, 0xc7, 0x30};
    RUN(vmxon);
    expect_fault(CPU_EXC_UD, -1, CODE);
}
END_TEST

START_TEST(vmxon_with_vmxe_is_reported_unimplemented)
{
    h.cpu.gpr[CPU_RAX] = CPU_CR4_PAE | CPU_CR4_VMXE;
    h.cpu.gpr[CPU_RBX] = 0x9000;
    /* mov cr4, rax; vmxon [rbx] */
    static const uint8_t code[] = {0x0f, 0x22, 0xe0, 0xf3, 0x0f, 0xc7, 0x33};
    RUN(code);
    ck_assert_uint_eq(h.cpu.cr4, CPU_CR4_PAE | CPU_CR4_VMXE);
    expect_fault(CPU_EXC_UD, -1, CODE + 3);
    ck_assert_uint_eq(h.cpu.unimplemented_count, 1);
}
END_TEST

START_TEST(rdpmc_gp_and_int1)
{
    /* rdpmc: no counters */
    static const uint8_t rdpmc[] = {0x0f, 0x33};
    RUN(rdpmc);
    expect_fault(CPU_EXC_GP, 0, CODE);
    teardown();
    setup();
    /* int1: #DB with the RIP after it */
    static const uint8_t int1[] = {0xf1};
    RUN(int1);
    expect_fault(CPU_EXC_DB, -1, CODE + 1);
}
END_TEST

/* ---- the intercept hook ---- */

static cpu_icpt icpts[8];
static unsigned nicpt;

static cpu_hook_result icpt_hook(void *ctx, cpu_t *c, cpu_icpt *info)
{
    (void)ctx;
    if (nicpt < 8)
        icpts[nicpt++] = *info;
    switch (info->kind) {
    case CPU_ICPT_CPUID:
        c->gpr[CPU_RAX] = 0x1234;
        return CPU_HOOK_DONE;
    case CPU_ICPT_IO:
        info->value = 0x5A;
        return CPU_HOOK_DONE;
    case CPU_ICPT_RDMSR:
        info->value = 0x1122334455667788ull;
        return CPU_HOOK_DONE;
    case CPU_ICPT_CR_READ:
        info->value = 9;
        return CPU_HOOK_DONE;
    case CPU_ICPT_CR_WRITE:
        return CPU_HOOK_DONE;
    case CPU_ICPT_HLT:
        return CPU_HOOK_EXIT;
    default:
        return CPU_HOOK_PASS;
    }
}

START_TEST(intercepts)
{
    cpu_hooks hk = {.intercept = icpt_hook};
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.icpt_mask = (1u << CPU_ICPT_CPUID) | (1u << CPU_ICPT_HLT) | (1u << CPU_ICPT_IO) |
                      (1u << CPU_ICPT_RDMSR) | (1u << CPU_ICPT_CR_READ) | (1u << CPU_ICPT_CR_WRITE);
    nicpt = 0;
    /*  0: cpuid; 2: in al, 0x70; 4: mov ecx, 0x1b; 9: rdmsr
     *  b: mov rax, cr8; f: mov rbx, rax; 12: mov cr8, rbx; 16: hlt */
    static const uint8_t code[] = {0x0f, 0xa2, 0xe4, 0x70, 0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f, 0x32, 0x44,
                                   0x0f, 0x20, 0xc0, 0x48, 0x89, 0xc3, 0x44, 0x0f, 0x22, 0xc3, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HOOK);
    ck_assert_uint_eq(h.cpu.rip, CODE + 0x16); /* the exiting HLT is abandoned */
    ck_assert(!h.cpu.halted);
    ck_assert_uint_eq(nicpt, 6);
    ck_assert_int_eq(icpts[0].kind, CPU_ICPT_CPUID);
    ck_assert_uint_eq(icpts[0].len, 2);
    ck_assert_int_eq(icpts[1].kind, CPU_ICPT_IO);
    ck_assert(icpts[1].in);
    ck_assert_uint_eq(icpts[1].port, 0x70);
    ck_assert_uint_eq(icpts[1].size, 1);
    ck_assert_int_eq(icpts[2].kind, CPU_ICPT_RDMSR);
    ck_assert_uint_eq(icpts[2].msr, 0x1b);
    ck_assert_int_eq(icpts[3].kind, CPU_ICPT_CR_READ);
    ck_assert_uint_eq(icpts[3].cr, 8);
    ck_assert_uint_eq(icpts[3].reg, CPU_RAX);
    ck_assert_uint_eq(icpts[3].len, 4);
    ck_assert_int_eq(icpts[4].kind, CPU_ICPT_CR_WRITE);
    ck_assert_uint_eq(icpts[4].cr, 8);
    ck_assert_uint_eq(icpts[4].reg, CPU_RBX);
    ck_assert_uint_eq(icpts[4].value, 9);
    ck_assert_int_eq(icpts[5].kind, CPU_ICPT_HLT);
    /* DONE results were used; the CR8 write was the hook's, not the CPU's. */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 9);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDX], 0x11223344);
    ck_assert_uint_eq(h.cpu.cr8, 0);
}
END_TEST

START_TEST(intercept_wrmsr_and_pass)
{
    cpu_hooks hk = {.intercept = icpt_hook};
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.icpt_mask = 1u << CPU_ICPT_WRMSR; /* the hook passes WRMSR */
    nicpt = 0;
    /* mov ecx, 0xC0000082; mov eax, 0x11223344; mov edx, 0xffff8000; wrmsr; ...; rdmsr; hlt */
    static const uint8_t code[] = {0xb9, 0x82, 0x00, 0x00, 0xc0, 0xb8, 0x44, 0x33, 0x22, 0x11, 0xba, 0x00,
                                   0x80, 0xff, 0xff, 0x0f, 0x30, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x32, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(nicpt, 1);
    ck_assert_int_eq(icpts[0].kind, CPU_ICPT_WRMSR);
    ck_assert_uint_eq(icpts[0].msr, CPU_MSR_LSTAR);
    ck_assert_uint_eq(icpts[0].value, 0xffff800011223344ull);
    ck_assert_uint_eq(h.cpu.lstar, 0xffff800011223344ull); /* PASS: the CPU wrote it */
}
END_TEST

static cpu_hook_result vmx_hook(void *ctx, cpu_t *c, cpu_icpt *info)
{
    (void)ctx;
    (void)c;
    if (nicpt < 8)
        icpts[nicpt++] = *info;
    return info->kind == CPU_ICPT_VMCALL ? CPU_HOOK_DONE : CPU_HOOK_EXIT;
}

START_TEST(vmx_instructions_intercepted)
{
    cpu_hooks hk = {.intercept = vmx_hook};
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.icpt_mask = (1u << CPU_ICPT_VMCALL) | (1u << CPU_ICPT_VMX_INSN);
    nicpt = 0;
    /* vmcall (emulated by the hook); vmlaunch (exits) */
    static const uint8_t code[] = {0x0f, 0x01, 0xc1, 0x0f, 0x01, 0xc2};
    ck_assert_int_eq(RUN(code), CPU_STOP_HOOK);
    ck_assert_uint_eq(h.cpu.rip, CODE + 3);
    ck_assert_uint_eq(nicpt, 2);
    ck_assert_int_eq(icpts[0].kind, CPU_ICPT_VMCALL);
    ck_assert_uint_eq(icpts[0].len, 3);
    ck_assert_int_eq(icpts[1].kind, CPU_ICPT_VMX_INSN);
    ck_assert_uint_eq(icpts[1].subop, 20); /* basic exit reason of VMLAUNCH */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("system_hooks");
    TCase *t = tcase_create("all");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, in_out_through_hook);
    tcase_add_test(t, in_at_cpl3_uses_io_bitmap);
    tcase_add_test(t, hlt_stops_and_interrupt_wakes);
    tcase_add_test(t, cli_at_cpl3_gp);
    tcase_add_test(t, sti_shadow_delays_interrupt);
    tcase_add_test(t, cli_blocks_interrupt);
    tcase_add_test(t, vmcall_and_vmxon_ud);
    tcase_add_test(t, vmxon_with_vmxe_is_reported_unimplemented);
    tcase_add_test(t, rdpmc_gp_and_int1);
    tcase_add_test(t, intercepts);
    tcase_add_test(t, intercept_wrmsr_and_pass);
    tcase_add_test(t, vmx_instructions_intercepted);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
