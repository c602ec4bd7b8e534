/*
 * test_vmx_hook.c — the VMX instructions' way from cpu/ to hooks.vmx
 * (cpu.h cpu_vmx_op, SDM Vol. 3C 30.2 and each instruction's "Operation"
 * in 30.3): the checks the CPU makes before calling the hook, in the SDM's
 * order (#UD outside VMX operation, #GP(0) at CPL 3, VMXON's
 * IA32_FEATURE_CONTROL and fixed-CR #GP), the operands it hands over
 * (register and memory forms), the destination it writes, and RFLAGS for
 * VMsucceed, VMfailInvalid and VMfailValid. Also CR4.VMXE and
 * IA32_FEATURE_CONTROL themselves.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

static cpu_harness h;
static cpu_vmx_op ops[8];
static unsigned nops;
static cpu_vmx_result next_result;
static uint64_t next_value;

static cpu_vmx_result hook(void *ctx, cpu_t *c, cpu_vmx_op *op)
{
    (void)ctx;
    (void)c;
    if (nops < 8)
        ops[nops] = *op;
    nops++;
    op->value = next_value;
    return next_result;
}

static void setup(void)
{
    cpu_harness_init(&h);
    cpu_hooks hk = {.vmx = hook};
    cpu_set_hooks(&h.cpu, &hk);
    nops = 0;
    next_result = CPU_VMX_SUCCEED;
    next_value = 0;
    h.cpu.cr4 |= CPU_CR4_VMXE;
    /* The fixed bits the VMX capability MSRs report (docs/vmx.md). */
    h.cpu.vmx_cr0_fixed0 = 0x80000021;
    h.cpu.vmx_cr0_fixed1 = 0xFFFFFFFF;
    h.cpu.vmx_cr4_fixed0 = CPU_CR4_VMXE;
    h.cpu.vmx_cr4_fixed1 = 0x21A4;
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

#define RUN(code) cpu_harness_exec(&h, (code), sizeof(code), 1000)
#define CODE CPU_HARNESS_CODE

static uint64_t rflags(void)
{
    return cpu_get_rflags(&h.cpu);
}

/* vmread rbx, rax (0F 78 C3); hlt */
static const uint8_t vmread_rr[] = {0x0f, 0x78, 0xc3, 0xf4};

START_TEST(ud_outside_vmx_operation)
{
    RUN(vmread_rr);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(nops, 0);
}
END_TEST

static void poke64(uint64_t pa, uint64_t v)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &v, 8));
}

/* A 64-bit TSS at base with RSP0 = 0x70000 (the #GP from CPL 3 switches
 * to it), described at GDT selector 0x28. */
static void add_tss(uint64_t base)
{
    poke64(base + 4, 0x70000);
    uint64_t lo = 0x67 | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) | (((base >> 24) & 0xFF) << 56);
    poke64(0x528, lo);
    poke64(0x530, base >> 32);
    h.cpu.gdtr.limit = 0x37;
    h.cpu.tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x67, .base = base};
}

/* Every VMX instruction at CPL 3 in VMX root operation, and VMXON at CPL 3
 * outside it: #GP(0) before any operand is read or the hook is called
 * (SDM 31.3, each "Operation": "ELSIF CPL > 0 THEN #GP(0)"). */
START_TEST(gp_at_cpl3)
{
    static const struct {
        uint8_t len, bytes[7];
        bool outside; /* run outside VMX operation (VMXON) */
    } forms[] = {
        {4, {0x0f, 0x78, 0xc3, 0xf4}, false},             /* VMREAD rbx, rax */
        {4, {0x0f, 0x79, 0xc3, 0xf4}, false},             /* VMWRITE rax, rbx */
        {4, {0x0f, 0xc7, 0x33, 0xf4}, false},             /* VMPTRLD [rbx] */
        {4, {0x0f, 0xc7, 0x3b, 0xf4}, false},             /* VMPTRST [rbx] */
        {5, {0x66, 0x0f, 0xc7, 0x33, 0xf4}, false},       /* VMCLEAR [rbx] */
        {5, {0xf3, 0x0f, 0xc7, 0x33, 0xf4}, false},       /* VMXON [rbx] in root */
        {5, {0xf3, 0x0f, 0xc7, 0x33, 0xf4}, true},        /* VMXON [rbx] outside */
        {4, {0x0f, 0x01, 0xc2, 0xf4}, false},             /* VMLAUNCH */
        {4, {0x0f, 0x01, 0xc3, 0xf4}, false},             /* VMRESUME */
        {4, {0x0f, 0x01, 0xc4, 0xf4}, false},             /* VMXOFF */
        {4, {0x0f, 0x01, 0xc1, 0xf4}, false},             /* VMCALL */
        {6, {0x66, 0x0f, 0x38, 0x80, 0x03, 0xf4}, false}, /* INVEPT rax, [rbx] */
        {6, {0x66, 0x0f, 0x38, 0x81, 0x03, 0xf4}, false}, /* INVVPID rax, [rbx] */
    };
    for (unsigned k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
        teardown();
        setup();
        add_tss(0x9000);
        h.cpu.vmx_operation = !forms[k].outside;
        h.cpu.cpl = 3;
        h.cpu.seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
        h.cpu.seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0xF3, .limit = 0xFFFFFFFF};
        h.cpu.gpr[CPU_RBX] = 0x9000;
        cpu_tlb_flush(&h.cpu);
        cpu_harness_exec(&h, forms[k].bytes, forms[k].len, 1000);
        ck_assert_msg(cpu_harness_vector(&h) == CPU_EXC_GP, "form %u", k);
        ck_assert_uint_eq(nops, 0);
    }
}
END_TEST

/* VMXON [rbx] (F3 0F C7 33): #GP(0) unless IA32_FEATURE_CONTROL is locked
 * with bit 2 and CR0/CR4 hold the fixed bits (SDM 23.7, 23.8). */
static const uint8_t vmxon_rbx[] = {0xf3, 0x0f, 0xc7, 0x33, 0xf4};

START_TEST(vmxon_checks_before_the_hook)
{
    h.cpu.gpr[CPU_RBX] = 0x9000;
    ck_assert(cpu_phys_write(&h.phys, 0x9000, &(uint64_t){0x5000}, 8));
    h.cpu.feature_control = 1; /* locked, VMXON outside SMX not allowed */
    RUN(vmxon_rbx);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(nops, 0);
    teardown();
    setup();
    h.cpu.gpr[CPU_RBX] = 0x9000;
    h.cpu.cr0 &= ~(uint64_t)CPU_CR0_NE; /* NE is fixed to 1 */
    RUN(vmxon_rbx);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(nops, 0);
    teardown();
    setup();
    h.cpu.gpr[CPU_RBX] = 0x9000;
    ck_assert(cpu_phys_write(&h.phys, 0x9000, &(uint64_t){0x5000}, 8));
    h.cpu.cr0 |= CPU_CR0_NE;
    next_result = CPU_VMX_FAIL_INVALID;
    RUN(vmxon_rbx);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(ops[0].insn, 27);
    ck_assert_uint_eq(ops[0].ptr, 0x5000);
    ck_assert(rflags() & CPU_FL_CF);
    ck_assert(!(rflags() & CPU_FL_ZF));
}
END_TEST

START_TEST(vmread_vmwrite_operands_and_flags)
{
    h.cpu.vmx_operation = true;
    h.cpu.gpr[CPU_RAX] = 0x681E;
    next_value = 0x1234;
    RUN(vmread_rr);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(ops[0].insn, 23);
    ck_assert_uint_eq(ops[0].field, 0x681E);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x1234);
    ck_assert_uint_eq(rflags() & CPU_FL_ARITH, 0);
    /* VMfailValid: ZF, no destination write. */
    h.cpu.gpr[CPU_RBX] = 7;
    next_result = CPU_VMX_FAIL_VALID;
    RUN(vmread_rr);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 7);
    ck_assert_uint_eq(rflags() & CPU_FL_ARITH, CPU_FL_ZF);
    /* vmwrite rax, [rbx] (0F 79 03): the value from memory. */
    next_result = CPU_VMX_SUCCEED;
    h.cpu.gpr[CPU_RBX] = 0x9000;
    ck_assert(cpu_phys_write(&h.phys, 0x9000, &(uint64_t){0xCAFE}, 8));
    static const uint8_t vmwrite_rm[] = {0x0f, 0x79, 0x03, 0xf4};
    RUN(vmwrite_rm);
    ck_assert_uint_eq(ops[2].insn, 25);
    ck_assert_uint_eq(ops[2].field, 0x681E);
    ck_assert_uint_eq(ops[2].value, 0xCAFE);
    /* vmptrst [rbx] (0F C7 3B): the hook's pointer lands in memory. */
    next_value = 0xABC000;
    static const uint8_t vmptrst[] = {0x0f, 0xc7, 0x3b, 0xf4};
    RUN(vmptrst);
    ck_assert_uint_eq(cpu_harness_peek64(&h, 0x9000), 0xABC000);
}
END_TEST

/* A deferred VMLAUNCH leaves RFLAGS alone; VMCALL in root goes to the
 * hook too (SDM 30.3 VMCALL: VMfail without dual-monitor treatment). */
START_TEST(vmlaunch_deferred_and_vmcall)
{
    h.cpu.vmx_operation = true;
    next_result = CPU_VMX_DEFERRED;
    cpu_set_rflags(&h.cpu, CPU_FL_FIXED1 | CPU_FL_CF | CPU_FL_ZF);
    static const uint8_t vmlaunch[] = {0x0f, 0x01, 0xc2, 0xf4};
    RUN(vmlaunch);
    ck_assert_uint_eq(ops[0].insn, 20);
    ck_assert_uint_eq(rflags() & (CPU_FL_CF | CPU_FL_ZF), CPU_FL_CF | CPU_FL_ZF);
    next_result = CPU_VMX_FAIL_VALID;
    static const uint8_t vmcall[] = {0x0f, 0x01, 0xc1, 0xf4};
    RUN(vmcall);
    ck_assert_uint_eq(ops[1].insn, 18);
    ck_assert_uint_eq(rflags() & CPU_FL_ARITH, CPU_FL_ZF);
}
END_TEST

/* SDM 23.8: in VMX operation a MOV to CR4 clearing VMXE is #GP(0);
 * outside it is fine. SDM 23.7: IA32_FEATURE_CONTROL is writable until
 * locked, then #GP(0). */
START_TEST(fixed_cr_bits_and_feature_control)
{
    h.cpu.vmx_operation = true;
    h.cpu.gpr[CPU_RAX] = CPU_CR4_PAE;
    static const uint8_t mov_cr4[] = {0x0f, 0x22, 0xe0, 0xf4};
    RUN(mov_cr4);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert(h.cpu.cr4 & CPU_CR4_VMXE);
    teardown();
    setup();
    h.cpu.gpr[CPU_RAX] = CPU_CR4_PAE;
    RUN(mov_cr4);
    ck_assert_uint_eq(h.cpu.cr4, CPU_CR4_PAE);
    /* wrmsr 0x3A */
    static const uint8_t wrmsr[] = {0x0f, 0x30, 0xf4};
    teardown();
    setup();
    h.cpu.feature_control = 0;
    h.cpu.gpr[CPU_RCX] = 0x3A;
    h.cpu.gpr[CPU_RAX] = 5;
    h.cpu.gpr[CPU_RDX] = 0;
    RUN(wrmsr);
    ck_assert_uint_eq(h.cpu.feature_control, 5);
    RUN(wrmsr);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
}
END_TEST

/* SDM Vol. 2 INVVPID, "64-Bit Mode Exceptions": a non-canonical memory
 * operand is #SS(0) through RSP or RBP (an SS reference), #GP(0) else. */
START_TEST(noncanonical_operand_ss_or_gp)
{
    /* invvpid rax, [rsp+rbx]; hlt */
    static const uint8_t ss_form[] = {0x66, 0x0f, 0x38, 0x81, 0x04, 0x1c, 0xf4};
    /* invvpid rax, [rbx]; hlt */
    static const uint8_t ds_form[] = {0x66, 0x0f, 0x38, 0x81, 0x03, 0xf4};
    h.cpu.vmx_operation = true;
    h.cpu.gpr[CPU_RBX] = 0x8000000000000000ull - CPU_HARNESS_STACK;
    RUN(ss_form);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_SS);
    h.cpu.gpr[CPU_RSP] = CPU_HARNESS_STACK;
    h.cpu.gpr[CPU_RBX] = 0x8000000000000000ull;
    RUN(ds_form);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(nops, 0);
}
END_TEST

/* The forms each instruction's page makes #UD in any state, before the
 * VMX checks (SDM Vol. 3C 31.3, "#UD If operand is a register" and the
 * LOCK prefix, Vol. 2 2.1.1): VMXON, VMCLEAR and VMPTRLD with a register
 * operand (0F C7 /6 with ModRM.mod = 11 is RDRAND, /7 RDSEED, both absent
 * here), INVEPT/INVVPID with a register, LOCK on VMPTRLD and VMREAD. The
 * hook is never called, in VMX operation or not. */
START_TEST(register_forms_and_lock_are_ud)
{
    static const struct {
        uint8_t len, bytes[7];
    } forms[] = {
        {5, {0xf3, 0x0f, 0xc7, 0xf0, 0xf4}},             /* VMXON eax */
        {5, {0x66, 0x0f, 0xc7, 0xf0, 0xf4}},             /* VMCLEAR eax */
        {4, {0x0f, 0xc7, 0xf0, 0xf4}},                   /* VMPTRLD eax */
        {4, {0x0f, 0xc7, 0xf8, 0xf4}},                   /* VMPTRST eax */
        {6, {0x66, 0x0f, 0x38, 0x80, 0xc0, 0xf4}},       /* INVEPT rax, rax */
        {6, {0x66, 0x0f, 0x38, 0x81, 0xc0, 0xf4}},       /* INVVPID rax, rax */
        {5, {0xf0, 0x0f, 0xc7, 0x33, 0xf4}},             /* LOCK VMPTRLD [rbx] */
        {5, {0xf0, 0x0f, 0x78, 0xc3, 0xf4}},             /* LOCK VMREAD rbx, rax */
    };
    for (unsigned k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
        for (int in_vmx = 0; in_vmx < 2; in_vmx++) {
            teardown();
            setup();
            h.cpu.vmx_operation = in_vmx;
            h.cpu.gpr[CPU_RBX] = 0x9000;
            cpu_harness_exec(&h, forms[k].bytes, forms[k].len, 1000);
            ck_assert_msg(cpu_harness_vector(&h) == CPU_EXC_UD, "form %u, VMX operation %d", k,
                          in_vmx);
            ck_assert_uint_eq(nops, 0);
        }
    }
}
END_TEST

/* Non-root operation with VMCS shadowing (SDM 25.1.3, 30.3): an intercept
 * hook that lets a VMREAD through with cpu_icpt.value = 1 gets it at
 * hooks.vmx even with vmx_operation false (the built-in hypervisor's
 * guest); CPL 3 is #GP(0) first; PASS without value = 1 is the old #UD. */
static int shadow_pass; /* 1: PASS with value 1; 0: PASS alone */
static cpu_hook_result shadow_icpt(void *ctx, cpu_t *c, cpu_icpt *info)
{
    (void)ctx;
    (void)c;
    info->value = shadow_pass ? 1 : 0;
    return CPU_HOOK_PASS;
}

static void nonroot_hooks(int pass)
{
    cpu_hooks hk = {.vmx = hook, .intercept = shadow_icpt};
    cpu_set_hooks(&h.cpu, &hk);
    h.cpu.icpt_mask |= 1u << CPU_ICPT_VMX_INSN;
    h.cpu.vmx_operation = false;
    shadow_pass = pass;
}

START_TEST(nonroot_shadow_pass)
{
    nonroot_hooks(1);
    next_value = 0x77;
    h.cpu.gpr[CPU_RAX] = 0x681E;
    RUN(vmread_rr);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(nops, 1);
    ck_assert_uint_eq(ops[0].insn, 23);
    ck_assert_uint_eq(ops[0].field, 0x681E);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x77);
    teardown();
    setup();
    nonroot_hooks(0);
    RUN(vmread_rr);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(nops, 0);
    teardown();
    setup();
    nonroot_hooks(1);
    add_tss(0x9000);
    h.cpu.cpl = 3;
    h.cpu.seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
    h.cpu.seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0xF3, .limit = 0xFFFFFFFF};
    cpu_tlb_flush(&h.cpu);
    RUN(vmread_rr);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(nops, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("vmx_hook");
    TCase *t = tcase_create("vmx_hook");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, ud_outside_vmx_operation);
    tcase_add_test(t, gp_at_cpl3);
    tcase_add_test(t, vmxon_checks_before_the_hook);
    tcase_add_test(t, vmread_vmwrite_operands_and_flags);
    tcase_add_test(t, vmlaunch_deferred_and_vmcall);
    tcase_add_test(t, fixed_cr_bits_and_feature_control);
    tcase_add_test(t, noncanonical_operand_ss_or_gp);
    tcase_add_test(t, register_forms_and_lock_are_ud);
    tcase_add_test(t, nonroot_shadow_pass);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
