/*
 * test_hv_emulate.c — instructions the hypervisor completes after a
 * fault-like exit are emulated by the interpreter (cpu_emulate_insn), in
 * every form it runs, and memory the hypervisor writes is memory the
 * decoded-block cache sees, in every VMX mode and natively.
 */
#include "tests/emu/test_hv_support.h"

#define MAX_CYCLES 2000000000ull

static const emu_mode vmx_modes[] = {EMU_MODE_EMULATED, EMU_MODE_TPR_SHADOW, EMU_MODE_APICV,
                                     EMU_MODE_POSTED};

/* Runs guest natively through the machine's own loop. */
static void run_native(const char *guest, const char *expect)
{
    emu_machine *m = calloc(1, sizeof(*m));
    char path[512], err[512];
    ck_assert_ptr_nonnull(m);
    snprintf(path, sizeof(path), "%s/%s.elf", APICV_GUEST_DIR, guest);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.max_cycles = MAX_CYCLES;
    cfg.mode = EMU_MODE_NATIVE;
    ck_assert_msg(emu_machine_init(m, &cfg, path, err, sizeof(err)), "%s", err);
    hv_run *cap = calloc(1, sizeof(*cap));
    m->console = hv_run_console;
    m->console_ctx = cap;
    emu_machine_run(m, UINT64_MAX);
    const char *out = cap->out;
    ck_assert_msg(m->exit_status == 0, "%s (native): status %d: %s\n%s", guest, m->exit_status,
                  m->diag, out);
    ck_assert_msg(strstr(out, expect) != NULL, "%s (native): no \"%s\" in\n%s", guest, expect, out);
    free(cap);
    emu_machine_free(m);
    free(m);
}

/* 67h, MOVZX, 66h, OR to memory, MOVS, LODS on the xAPIC page and REP
 * OUTSB to the console: each VMX mode takes APIC-access exits for them
 * (at least the timer count, which is never virtualized) and an I/O exit
 * for the OUTS, and the guest sees what a native APIC answers. */
START_TEST(apic_access_forms)
{
    run_native("hv_apic_forms", "apic forms: OK");
    for (unsigned i = 0; i < 4; i++) {
        hv_run *r = hv_run_guest("hv_apic_forms", vmx_modes[i], 1, MAX_CYCLES);
        const char *mode = emu_mode_name(vmx_modes[i]);
        ck_assert_msg(r->status == 0, "hv_apic_forms (%s): status %d: %s\n%s", mode, r->status,
                      r->m.diag, r->out);
        ck_assert_msg(strstr(r->out, "apic forms: OUTS OK\n") != NULL, "%s: %s", mode, r->out);
        ck_assert_msg(strstr(r->out, "apic forms: OK") != NULL, "%s: %s", mode, r->out);
        /* The 6 forms of the timer count (390H) exit everywhere; in
         * emulated mode every access does. */
        uint64_t n44 = emu_hv_exit_count(r->hv, 0, VMX_EXIT_APIC_ACCESS);
        ck_assert_msg(n44 >= (vmx_modes[i] == EMU_MODE_EMULATED ? 20u : 6u),
                      "%s: %llu APIC-access exits", mode, (unsigned long long)n44);
        hv_run_free(r);
    }
}
END_TEST

/* Code written through the virtual-APIC page by the hypervisor
 * (VAPIC_WRITE after VMCS_WRITE pointed the page at guest RAM) runs in
 * its new version. */
START_TEST(vapic_page_code)
{
    for (unsigned i = 0; i < 4; i++) {
        hv_run *r = hv_run_guest("hv_vapic_code", vmx_modes[i], 1, MAX_CYCLES);
        const char *mode = emu_mode_name(vmx_modes[i]);
        ck_assert_msg(r->status == 0, "hv_vapic_code (%s): status %d: %s\n%s", mode, r->status,
                      r->m.diag, r->out);
        const char *want = vmx_modes[i] == EMU_MODE_EMULATED ? "vapic code: skipped" : "vapic code: OK";
        ck_assert_msg(strstr(r->out, want) != NULL, "%s: no \"%s\" in\n%s", mode, want, r->out);
        hv_run_free(r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hv_emulate");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, apic_access_forms);
    tcase_add_test(tc, vapic_page_code);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
