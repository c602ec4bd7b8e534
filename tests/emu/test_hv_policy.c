/*
 * test_hv_policy.c — a guest cannot reach what is not its own (guest ABI,
 * "Hypercalls", the paragraph after the table; docs/guest-abi.md "What a
 * guest can reach"): the VMCS fields that hold a physical address accept
 * only the host's own value or guest RAM, from VMCS_WRITE (the hostile
 * guest guests/hv_hostile.c, every VMX mode, every address field), from a
 * scenario's `vmcs` line (refused before the run with the file and line),
 * and at every VM entry (a value nobody should have put there ends the run
 * with a diagnostic naming the field).
 */
#include "emu/emu_scenario.h"
#include "tests/emu/test_hv_support.h"
#include "vmx/vmx_apicv.h"

#define MAX_CYCLES 400000000ull

static const emu_mode modes[] = {EMU_MODE_EMULATED, EMU_MODE_TPR_SHADOW, EMU_MODE_APICV,
                                 EMU_MODE_POSTED};

/* The hostile guest in every VMX mode: each refusal and acceptance is
 * checked by the guest; here the host's memory must be as the host left
 * it. */
START_TEST(hostile_guest_every_mode)
{
    static const char *const want[] = {
        "hv_hostile (emulated): 18 fields OK, vapic none, pid none",
        "hv_hostile (tpr-shadow): 18 fields OK, vapic checked, pid none",
        "hv_hostile (apicv): 18 fields OK, vapic checked, pid none",
        "hv_hostile (posted): 18 fields OK, vapic checked, pid checked",
    };
    for (unsigned i = 0; i < 4; i++) {
        hv_run *r = hv_run_guest("hv_hostile", modes[i], 2, MAX_CYCLES);
        ck_assert_msg(r->status == 0, "%s: status %d: %s\n%s", emu_mode_name(modes[i]), r->status,
                      r->m.diag, r->out);
        ck_assert_msg(strstr(r->out, want[i]) != NULL, "no \"%s\" in\n%s", want[i], r->out);
        cpu_phys *p = &r->m.phys;
        for (unsigned k = 0; k < 2; k++) {
            emu_hv_vcpu *vc = &r->hv->vcpu[k];
            /* Every VMCS address field is the host's again. */
            ck_assert_uint_eq(vmx_vmcs_get(&vc->vmx.vmcs, VMCS_VIRTUAL_APIC_ADDR), vc->vapic_pa);
            ck_assert_uint_eq(vmx_vmcs_get(&vc->vmx.vmcs, VMCS_IO_BITMAP_A), vc->io_bitmap_a_pa);
            ck_assert_uint_eq(vmx_vmcs_get(&vc->vmx.vmcs, VMCS_MSR_BITMAP), vc->msr_bitmap_pa);
            /* The guest's marker never reached a host page other than
             * vCPU 0's own virtual-APIC page. */
            const uint32_t *vapic = cpu_phys_ptr(p, vc->vapic_pa, CPU_PAGE_SIZE);
            ck_assert_uint_eq(vapic[0x400 / 4], k == 0 && modes[i] != EMU_MODE_EMULATED ? 0xBADu : 0);
            /* The I/O bitmaps still make every port exit. */
            const uint8_t *a = cpu_phys_ptr(p, vc->io_bitmap_a_pa, CPU_PAGE_SIZE);
            const uint8_t *b = cpu_phys_ptr(p, vc->io_bitmap_b_pa, CPU_PAGE_SIZE);
            for (unsigned n = 0; n < CPU_PAGE_SIZE; n++)
                ck_assert(a[n] == 0xFF && b[n] == 0xFF);
        }
        hv_run_free(r);
    }
}
END_TEST

/* The policy as a function: what is accepted, what is refused, and why. */
START_TEST(guest_vmwrite_policy)
{
    hv_run *r = calloc(1, sizeof(*r));
    char path[512], err[512], why[256];
    snprintf(path, sizeof(path), "%s/hello.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = 2;
    cfg.mode = EMU_MODE_NATIVE; /* the test creates the hypervisor itself */
    ck_assert_msg(emu_machine_init(&r->m, &cfg, path, err, sizeof(err)), "%s", err);
    r->hv = emu_hv_create(&r->m, EMU_MODE_POSTED, NULL, err, sizeof(err));
    ck_assert_msg(r->hv != NULL, "%s", err);
    emu_hv *hv = r->hv;
    uint64_t ram = r->m.phys.ram_size, other_vapic = hv->vcpu[1].vapic_pa;
    /* EPT tables the guest builds are read from its RAM only. */
    ck_assert_uint_eq(hv->vcpu[0].vmx.ept_tables_below, ram);
    ck_assert_uint_eq(hv->vcpu[1].vmx.ept_tables_below, ram);
    vmx_vmcs *v = &hv->vcpu[0].vmx.vmcs;

    /* Another vCPU's virtual-APIC page, into every address field. */
    static const uint32_t fields[] = {VMCS_IO_BITMAP_A, VMCS_IO_BITMAP_B, VMCS_MSR_BITMAP,
                                      VMCS_EXIT_MSR_STORE_ADDR, VMCS_EXIT_MSR_LOAD_ADDR,
                                      VMCS_ENTRY_MSR_LOAD_ADDR, VMCS_EXECUTIVE_VMCS_PTR,
                                      VMCS_PML_ADDR, VMCS_VIRTUAL_APIC_ADDR, VMCS_APIC_ACCESS_ADDR,
                                      VMCS_POSTED_INTR_DESC_ADDR, VMCS_EPT_POINTER,
                                      VMCS_EPTP_LIST_ADDR, VMCS_VMREAD_BITMAP, VMCS_VMWRITE_BITMAP,
                                      VMCS_VE_INFO_ADDR, VMCS_SPP_TABLE_PTR, VMCS_VMCS_LINK_PTR};
    for (unsigned k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        uint64_t before = vmx_vmcs_get(v, fields[k]);
        why[0] = 0;
        ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, fields[k], other_vapic, why, sizeof(why)),
                          VMX_ERR_ENTRY_INVALID_CONTROL);
        ck_assert_uint_eq(vmx_vmcs_get(v, fields[k]), before);
        ck_assert_uint_eq(vmx_vmcs_get(v, VMCS_VM_INSN_ERROR), VMX_ERR_ENTRY_INVALID_CONTROL);
        ck_assert_msg(strstr(why, "hypervisor's own memory") != NULL, "%s", why);
        ck_assert_msg(strstr(why, vmx_vmcs_field_name(fields[k])) != NULL, "%s", why);
        /* The high half alone, moving a guest-RAM address into the host's. */
        ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, fields[k], 0x200000, NULL, 0), 0);
        ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, fields[k] + 1, other_vapic >> 32, NULL, 0),
                          VMX_ERR_ENTRY_INVALID_CONTROL);
        ck_assert_uint_eq(vmx_vmcs_get(v, fields[k]), 0x200000);
        /* Its own memory, to the last page; the host's value back. */
        ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, fields[k], ram - 4096, NULL, 0), 0);
        ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, fields[k], before, NULL, 0), 0);
        ck_assert_uint_eq(vmx_vmcs_get(v, fields[k]), before);
    }
    /* Outside RAM: only the APIC-access page may be there, not in the host's memory. */
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_VIRTUAL_APIC_ADDR, ram, NULL, 0),
                      VMX_ERR_ENTRY_INVALID_CONTROL);
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_APIC_ACCESS_ADDR, 0xFEC00000, NULL, 0), 0);
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_APIC_ACCESS_ADDR, CPU_HOST_BASE, NULL, 0),
                      VMX_ERR_ENTRY_INVALID_CONTROL);
    /* An MSR-store area must lie wholly in RAM, by its count. */
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_EXIT_MSR_STORE_COUNT, 2, NULL, 0), 0);
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_EXIT_MSR_STORE_ADDR, ram - 32, NULL, 0), 0);
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_EXIT_MSR_STORE_ADDR, ram - 16, NULL, 0),
                      VMX_ERR_ENTRY_INVALID_CONTROL);
    /* Not address fields: EOI-exit bitmaps are values; VMWRITE's own errors stay. */
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_EOI_EXIT_BITMAP0, CPU_HOST_BASE, NULL, 0), 0);
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, 0x7FFF, 0, NULL, 0), VMX_ERR_UNSUPPORTED_FIELD);
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, VMCS_EXIT_REASON, 0, NULL, 0),
                      VMX_ERR_WRITE_READONLY);
    ck_assert_uint_eq(emu_hv_guest_vmwrite(hv, 0, (1ull << 32) | VMCS_GUEST_RIP, 0, NULL, 0),
                      VMX_ERR_UNSUPPORTED_FIELD);
    hv_run_free(r);
}
END_TEST

/* A value that breaks the policy and that no guest write put there (the
 * host's own bug, simulated by a raw VMCS store) is caught at the entry:
 * the run ends as a crash naming the field. */
START_TEST(entry_check_catches_any_writer)
{
    hv_run *r = calloc(1, sizeof(*r));
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/hello.elf", APICV_GUEST_DIR);
    emu_config cfg;
    emu_config_default(&cfg);
    cfg.ncpus = 2;
    cfg.max_cycles = 10000000;
    cfg.mode = EMU_MODE_NATIVE; /* the test creates the hypervisor itself */
    ck_assert_msg(emu_machine_init(&r->m, &cfg, path, err, sizeof(err)), "%s", err);
    r->hv = emu_hv_create(&r->m, EMU_MODE_APICV, NULL, err, sizeof(err));
    ck_assert_msg(r->hv != NULL, "%s", err);
    vmx_vmcs_set(&r->hv->vcpu[0].vmx.vmcs, VMCS_VIRTUAL_APIC_ADDR, r->hv->vcpu[1].vapic_pa);
    emu_hv_run_machine(r->hv, UINT64_MAX);
    ck_assert_int_eq(r->m.exit_status, 3);
    ck_assert_msg(strstr(r->m.diag, "VIRTUAL_APIC_ADDR") != NULL &&
                      strstr(r->m.diag, "hypervisor's own memory") != NULL,
                  "%s", r->m.diag);
    hv_run_free(r);
}
END_TEST

/* A scenario's `vmcs` line is held to the same policy, before the run. */
START_TEST(scenario_vmcs_line_refused)
{
    static emu_scenario scn;
    static emu_machine machine;
    char err[600], g[1200], name[1200], text[256];
    snprintf(name, sizeof(name), "%s/t.scn", APICV_GUEST_DIR);
    snprintf(text, sizeof(text),
             "apicv-scenario 1\nguest hello.elf\nmode apicv\ncpus 2\nvmcs 0x2012 %#llx cpu=0\n",
             (unsigned long long)(CPU_HOST_BASE + 5 * CPU_PAGE_SIZE));
    ck_assert_msg(emu_scenario_parse(name, text, &scn, err, sizeof(err)), "%s", err);
    ck_assert(emu_scenario_guest_path(&scn, NULL, g, sizeof(g), err, sizeof(err)));
    emu_config cfg;
    emu_config_default(&cfg);
    emu_scenario_config(&scn, &cfg);
    ck_assert_msg(emu_machine_init(&machine, &cfg, g, err, sizeof(err)), "%s", err);
    ck_assert(!emu_scenario_apply(&scn, &machine, err, sizeof(err)));
    ck_assert_msg(strstr(err, "t.scn:5: VMCS field 0x2012 (VIRTUAL_APIC_ADDR) = 0x4000005000: "
                              "expected the host's value") != NULL &&
                      strstr(err, "hypervisor's own memory") != NULL,
                  "got '%s'", err);
    emu_machine_free(&machine);
    emu_scenario_free(&scn);
}
END_TEST

static Suite *hv_policy_suite(void)
{
    Suite *s = suite_create("hv_policy");
    TCase *tc = tcase_create("policy");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, hostile_guest_every_mode);
    tcase_add_test(tc, guest_vmwrite_policy);
    tcase_add_test(tc, entry_check_catches_any_writer);
    tcase_add_test(tc, scenario_vmcs_line_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hv_policy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
