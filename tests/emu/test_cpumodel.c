/*
 * test_cpumodel.c — `--cpu MODEL[,+feature|,-feature]` (emu/emu_cpumodel.c):
 * parsing, and CPUID and the MSRs following the model natively (the CPUID
 * intercept is installed only for a reduced model, so `max` runs as
 * before).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "vmx/vmx_root.h"

#define GUEST(name) APICV_GUEST_DIR "/" name ".elf"

START_TEST(parse_models_and_features)
{
    uint32_t off = 99;
    char err[256];
    ck_assert(emu_cpu_model_parse("max", &off, err, sizeof(err)));
    ck_assert_uint_eq(off, 0);
    ck_assert(emu_cpu_model_parse("max,-x2apic", &off, err, sizeof(err)));
    ck_assert_uint_eq(off, EMU_CPU_F_X2APIC);
    ck_assert(emu_cpu_model_parse("max,-x2apic,-tsc-deadline,-vmx,+x2apic", &off, err, sizeof(err)));
    ck_assert_uint_eq(off, EMU_CPU_F_TSC_DEADLINE | EMU_CPU_F_VMX);
    ck_assert(emu_cpu_model_parse("max,-vmwrite-any", &off, err, sizeof(err)));
    ck_assert_uint_eq(off, EMU_CPU_F_VMWRITE_ANY);
    ck_assert(emu_cpu_model_parse("max,-vmwrite-any,+vmwrite-any", &off, err, sizeof(err)));
    ck_assert_uint_eq(off, 0);
    ck_assert(!emu_cpu_model_parse("max,-vmwrite", &off, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "vmwrite-any"));
    ck_assert(!emu_cpu_model_parse("pentium", &off, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "unknown model 'pentium'"));
    ck_assert(!emu_cpu_model_parse("max,-sse9", &off, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "unknown feature 'sse9'"));
    ck_assert(!emu_cpu_model_parse("max,x2apic", &off, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "+feature or -feature"));
    ck_assert(!emu_cpu_model_parse("max,", &off, err, sizeof(err)));
}
END_TEST

static emu_machine *make(uint32_t off)
{
    emu_machine *m = malloc(sizeof(*m));
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.mode = EMU_MODE_NATIVE;
    cfg.cpu_off = off;
    char err[512];
    ck_assert_msg(emu_machine_init(m, &cfg, GUEST("hello"), err, sizeof(err)), "%s", err);
    return m;
}

static uint32_t cpuid1_ecx(emu_machine *m)
{
    cpu_t *c = &m->cpu[0];
    if (!(c->icpt_mask & (1u << CPU_ICPT_CPUID))) {
        uint32_t out[4];
        cpu_cpuid(c, 1, 0, out);
        return out[2];
    }
    cpu_icpt info = {.kind = CPU_ICPT_CPUID, .value = 1};
    ck_assert_int_eq(c->hooks.intercept(c->hooks.ctx, c, &info), CPU_HOOK_DONE);
    return (uint32_t)c->gpr[CPU_RCX];
}

START_TEST(cpuid_and_msrs_follow)
{
    emu_machine *m = make(0);
    cpu_t *c = &m->cpu[0];
    ck_assert_uint_eq(c->icpt_mask & (1u << CPU_ICPT_CPUID), 0);
    uint32_t ecx = cpuid1_ecx(m);
    ck_assert_uint_eq(ecx & ((1u << 21) | (1u << 24) | (1u << 5)), (1u << 21) | (1u << 24) | (1u << 5));
    uint64_t base = APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP;
    ck_assert(c->hooks.wrmsr(c->hooks.ctx, c, APIC_MSR_TSC_DEADLINE, 0));
    ck_assert(c->hooks.wrmsr(c->hooks.ctx, c, APIC_MSR_BASE, base | APIC_BASE_EXTD));
    emu_machine_free(m);
    free(m);

    m = make(EMU_CPU_F_X2APIC | EMU_CPU_F_TSC_DEADLINE);
    c = &m->cpu[0];
    ecx = cpuid1_ecx(m);
    ck_assert_uint_eq(ecx & ((1u << 21) | (1u << 24)), 0);
    ck_assert_uint_ne(ecx & (1u << 5), 0);
    uint64_t v;
    ck_assert(!c->hooks.wrmsr(c->hooks.ctx, c, APIC_MSR_TSC_DEADLINE, 0));
    ck_assert(!c->hooks.rdmsr(c->hooks.ctx, c, APIC_MSR_TSC_DEADLINE, &v));
    ck_assert(!c->hooks.wrmsr(c->hooks.ctx, c, APIC_MSR_BASE, base | APIC_BASE_EXTD));
    ck_assert(!apic_x2apic_mode(&m->apic[0]));
    ck_assert(c->hooks.wrmsr(c->hooks.ctx, c, APIC_MSR_BASE, base)); /* xAPIC: fine */
    ck_assert(!c->hooks.rdmsr(c->hooks.ctx, c, 0x802, &v));
    emu_machine_free(m);
    free(m);

    /* vmwrite-any: IA32_VMX_MISC[29] (SDM A.6) and VMWRITE to read-only
     * fields (vmx_vcpu.vmwrite_ro_fails) follow it; CPUID.1:ECX keeps VMX. */
    m = make(0);
    c = &m->cpu[0];
    ck_assert(c->hooks.rdmsr(c->hooks.ctx, c, VMX_MSR_MISC, &v));
    ck_assert_uint_eq((v >> 29) & 1, 1);
    ck_assert(!m->vroot[0].v.vmwrite_ro_fails);
    emu_machine_free(m);
    free(m);
    m = make(EMU_CPU_F_VMWRITE_ANY);
    c = &m->cpu[0];
    ck_assert(c->hooks.rdmsr(c->hooks.ctx, c, VMX_MSR_MISC, &v));
    ck_assert_uint_eq((v >> 29) & 1, 0);
    uint64_t full;
    ck_assert(vmx_capability_msr(VMX_MSR_MISC, &full));
    ck_assert_uint_eq(v, full & ~(1ull << 29));
    ck_assert(m->vroot[0].v.vmwrite_ro_fails);
    ck_assert_uint_ne(cpuid1_ecx(m) & (1u << 5), 0);
    emu_machine_free(m);
    free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cpumodel");
    TCase *t = tcase_create("cpumodel");
    tcase_add_test(t, parse_models_and_features);
    tcase_add_test(t, cpuid_and_msrs_follow);
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
