/*
 * test_entry_checks.c — VM-entry checks (SDM Vol. 3C 26.2.1 controls, 26.2.2-
 * 26.2.4 host state, 26.3.1 guest state, apicv.md section 8): a valid
 * baseline enters and loads the guest state; each rule broken on its own
 * fails the entry with the right VM-instruction error (7, 8) or as an
 * entry-failure exit (33 | bit 31), names the rule, and changes nothing
 * else in the VMCS or the CPU.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/cpu_harness.h"
#include "apic/apic.h"
#include "vmx/vmx.h"
#include "vmx/vmx_internal.h"

static cpu_harness h;
static vmx_vcpu v;
static uint64_t vapic; /* host-physical virtual-APIC page */

#define SET(f, val) vmx_vmcs_set(&v.vmcs, VMCS_##f, (val))
#define GET(f) vmx_vmcs_get(&v.vmcs, VMCS_##f)
#define OR(f, bits) SET(f, GET(f) | (bits))
#define CLR(f, bits) SET(f, GET(f) & ~(uint64_t)(bits))

static void setup(void)
{
    cpu_harness_init(&h);
    vmx_vcpu_init(&v, &h.cpu, NULL, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    vmx_setup_guest_from_cpu(&v);
    vapic = cpu_phys_host_alloc(&h.phys, 4096);
    ck_assert_uint_ne(vapic, 0);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* ---- the positive baseline --------------------------------------------- */

START_TEST(test_baseline_enters)
{
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.non_root);
    ck_assert(!v.exited);
    ck_assert_uint_eq(v.vmcs.launch_state, VMX_LAUNCH_LAUNCHED);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], CPU_HARNESS_STACK);
    ck_assert(h.cpu.cr4 & CPU_CR4_VMXE);
    ck_assert_uint_eq(h.cpu.seg[CPU_CS].sel, 0x08);
    ck_assert(h.cpu.seg[CPU_CS].attr & 0x200); /* L survives the AR round trip */
    ck_assert_uint_eq(h.cpu.tr.attr & 0x8F, 0x8B);
    ck_assert_uint_eq(h.cpu.mode, CPU_MODE_LONG64);
    ck_assert(h.cpu.hooks.intercept != NULL);
    ck_assert(h.cpu.icpt_mask & (1u << CPU_ICPT_CPUID));
    /* A second VMLAUNCH on a launched VMCS: error 4; VMRESUME is fine. */
    v.non_root = false;
    ck_assert_uint_eq(vmx_vmentry(&v, true), VMX_ERR_VMLAUNCH_NOT_CLEAR);
    ck_assert_uint_eq(GET(VM_INSN_ERROR), VMX_ERR_VMLAUNCH_NOT_CLEAR);
}
END_TEST

START_TEST(test_resume_needs_launch)
{
    ck_assert_uint_eq(vmx_vmentry(&v, false), VMX_ERR_VMRESUME_NOT_LAUNCHED);
    ck_assert(!v.non_root);
}
END_TEST

/* Loading of non-register state (SDM 26.3.2.5 in the 2016 numbering): STI
 * blocking becomes the CPU's interrupt shadow, HLT the halted state;
 * injection queues the event on the CPU. */
START_TEST(test_nonregister_state_loaded)
{
    OR(GUEST_RFLAGS, CPU_FL_IF);
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_STI);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(h.cpu.events & CPU_EVT_SHADOW);
    ck_assert_uint_eq(h.cpu.shadow_kind, 1);
    ck_assert(!h.cpu.halted);
}
END_TEST

START_TEST(test_hlt_and_injection_loaded)
{
    SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_HLT);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_NMI << 8) | 2);
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    /* The injected NMI wakes the CPU and sets virtual-NMI blocking. */
    ck_assert(h.cpu.inject_pending);
    ck_assert_uint_eq(h.cpu.inject_vector, 2);
    ck_assert_uint_eq(h.cpu.inject_type, VMX_INTR_TYPE_NMI);
    ck_assert(v.vnmi_blocked);
    ck_assert(!h.cpu.halted);
}
END_TEST

/* Unrestricted guest with EPT (SDM 26.3.1.1, 26.3.1.2): a real-mode guest
 * in the INIT state of Table 9-1 (CR0 60000030H with NE, which stays fixed
 * to 1; CS F000H base FFFF0000H) enters, in real mode; and a CPU entered in
 * wait-for-SIPI executes nothing until a SIPI, which exits (4) with the
 * vector (SDM 24.4.2, 25.2, 27.2.1). */
START_TEST(test_unrestricted_guest_real_mode_and_wait_for_sipi)
{
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    ck_assert_uint_ne(pml4, 0);
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_UNRESTRICTED | VMX_PROC2_EPT);
    SET(EPT_POINTER, pml4 | 6 | (3 << 3));
    CLR(ENTRY_CONTROLS, VMX_ENTRY_IA32E);
    SET(GUEST_CR0, 0x60000010ull | CPU_CR0_NE);
    SET(GUEST_CR4, CPU_CR4_VMXE);
    SET(GUEST_CS_SEL, 0xF000);
    SET(GUEST_CS_BASE, 0xFFFF0000ull);
    SET(GUEST_CS_LIMIT, 0xFFFF);
    SET(GUEST_CS_AR, 0x9B);
    static const uint32_t data[][4] = {
        {VMCS_GUEST_SS_SEL, VMCS_GUEST_SS_BASE, VMCS_GUEST_SS_LIMIT, VMCS_GUEST_SS_AR},
        {VMCS_GUEST_DS_SEL, VMCS_GUEST_DS_BASE, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_DS_AR},
        {VMCS_GUEST_ES_SEL, VMCS_GUEST_ES_BASE, VMCS_GUEST_ES_LIMIT, VMCS_GUEST_ES_AR},
        {VMCS_GUEST_FS_SEL, VMCS_GUEST_FS_BASE, VMCS_GUEST_FS_LIMIT, VMCS_GUEST_FS_AR},
        {VMCS_GUEST_GS_SEL, VMCS_GUEST_GS_BASE, VMCS_GUEST_GS_LIMIT, VMCS_GUEST_GS_AR}};
    for (unsigned k = 0; k < 5; k++) {
        vmx_vmcs_set(&v.vmcs, data[k][0], 0x1233); /* any RPL: no check with UG */
        vmx_vmcs_set(&v.vmcs, data[k][1], 0x12330);
        vmx_vmcs_set(&v.vmcs, data[k][2], 0xFFFF);
        vmx_vmcs_set(&v.vmcs, data[k][3], 0x93);
    }
    SET(GUEST_TR_AR, 0x8B);
    SET(GUEST_RIP, 0xFFF0);
    SET(GUEST_RFLAGS, 2);
    SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_WAIT_SIPI);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_msg(!v.exited, "check %d", (int)v.last_check);
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_REAL);
    ck_assert(h.cpu.halted && v.wait_sipi);
    /* SIPI with vector 9AH through the (bare) APIC's flags. */
    apic_t a;
    apic_init(&a, &h.cpu, 0, true, &h.obs);
    v.apic = &a;
    apic_accept(&a, 0x9A, APIC_DM_SIPI, false);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 1000), CPU_STOP_HOOK);
    ck_assert(v.exited);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_SIPI);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 0x9A);
    ck_assert_uint_eq(GET(GUEST_ACTIVITY_STATE), VMX_ACTIVITY_WAIT_SIPI);
    ck_assert_uint_eq(GET(GUEST_CS_SEL), 0xF000);
    v.apic = NULL;
}
END_TEST

START_TEST(test_hlt_loaded)
{
    SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_HLT);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(h.cpu.halted);
}
END_TEST

/* The secondary controls are ignored (not checked) while "activate
 * secondary controls" = 0 (SDM 24.6.2). */
START_TEST(test_secondary_ignored_when_inactive)
{
    SET(PROC_CONTROLS2, VMX_PROC2_UNRESTRICTED | VMX_PROC2_VPID);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
}
END_TEST

/* "enable VPID" with a VPID other than 0000H enters (26.2.1.1). */
START_TEST(test_vpid_enters)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_VPID);
    SET(VPID, 1);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.non_root);
}
END_TEST

/* TPR threshold against VTPR: equal classes pass, and the check is skipped
 * with "virtualize APIC accesses" = 1 (apicv.md 8). */
START_TEST(test_tpr_threshold_boundaries)
{
    uint8_t vtpr = 0x40;
    ck_assert(cpu_phys_write(&h.phys, vapic + 0x80, &vtpr, 1));
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW);
    SET(VIRTUAL_APIC_ADDR, vapic);
    SET(TPR_THRESHOLD, 4);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
}
END_TEST

/* A virtual-APIC address below MAXPHYADDR that no memory backs is legal
 * (SDM 26.2.1.1 checks only alignment and width); VTPR reads as all ones
 * there, so any threshold passes. */
START_TEST(test_tpr_threshold_unbacked_vapic)
{
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW);
    SET(VIRTUAL_APIC_ADDR, 0x80000000ull); /* 2 GiB: beyond the harness RAM */
    SET(TPR_THRESHOLD, 15);
    ck_assert_int_eq(vmx_entry_check(&v), VMX_CHECK_NONE);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
}
END_TEST

START_TEST(test_tpr_threshold_skipped_with_apic_access)
{
    uint64_t apic_page = cpu_phys_host_alloc(&h.phys, 4096);
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW | VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_APIC_ACCESS);
    SET(APIC_ACCESS_ADDR, apic_page);
    SET(VIRTUAL_APIC_ADDR, vapic);
    SET(TPR_THRESHOLD, 9); /* above VTPR = 0, but not checked */
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
}
END_TEST

/* A full APIC-virtualization configuration (posted interrupts) passes. */
START_TEST(test_apicv_configuration_passes)
{
    uint64_t pid = cpu_phys_host_alloc(&h.phys, 64);
    uint64_t apic_page = cpu_phys_host_alloc(&h.phys, 4096);
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING | VMX_PIN_POSTED_INTR);
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW | VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_APIC_ACCESS | VMX_PROC2_APIC_REG_VIRT |
                            VMX_PROC2_VIRT_INTR_DELIVERY);
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
    SET(APIC_ACCESS_ADDR, apic_page);
    SET(VIRTUAL_APIC_ADDR, vapic);
    SET(POSTED_INTR_DESC_ADDR, pid);
    SET(POSTED_INTR_NV, 0xF2);
    SET(TPR_THRESHOLD, 0xFFFFFFFF); /* not checked with VID = 1 */
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
}
END_TEST

/* ---- negative cases ------------------------------------------------------- */

typedef struct entry_case {
    const char *name;
    void (*mutate)(void);
    unsigned error;   /* 7, 8, or 33 for an entry-failure exit */
    vmx_check check;
} entry_case;

static void apicv_base(void)
{
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW | VMX_PROC_SECONDARY);
    SET(VIRTUAL_APIC_ADDR, vapic);
}
static void pi_base(void)
{
    apicv_base();
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING | VMX_PIN_POSTED_INTR);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_INTR_DELIVERY);
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
    SET(POSTED_INTR_DESC_ADDR, 0x2000);
    SET(POSTED_INTR_NV, 0xF2);
}
static void inject(unsigned type, unsigned vector, bool err)
{
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (type << 8) | vector |
                             (err ? VMX_INTR_INFO_ERROR_VALID : 0));
}

/* 26.2.1.1 VM-execution controls */
static void m_pin_default1(void) { CLR(PIN_CONTROLS, 0x2); }
static void m_pin_unsupported(void) { OR(PIN_CONTROLS, 1u << 8); }
/* Bit 17, "activate tertiary controls", is not offered; bit 18 is reserved. */
static void m_proc_unsupported(void) { OR(PROC_CONTROLS, 1u << 17); }
static void m_proc_reserved(void) { OR(PROC_CONTROLS, 1u << 18); }
static void m_proc2_unsupported(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_PML);
}
/* "enable VPID" with VPID 0000H (26.2.1.1). */
static void m_proc2_vpid(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_VPID);
    SET(VPID, 0);
}
static void m_cr3_count(void) { SET(CR3_TARGET_COUNT, 5); }
static void m_io_a(void)
{
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS);
    SET(IO_BITMAP_A, 0x3008);
    SET(IO_BITMAP_B, 0x4000);
}
static void m_io_b(void)
{
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS);
    SET(IO_BITMAP_A, 0x3000);
    SET(IO_BITMAP_B, 1ull << CPU_MAXPHYADDR);
}
static void m_msr_bitmap(void)
{
    OR(PROC_CONTROLS, VMX_PROC_MSR_BITMAPS);
    SET(MSR_BITMAP, 0x5800);
}
static void m_vapic_addr(void)
{
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW);
    SET(VIRTUAL_APIC_ADDR, vapic + 0x10);
}
static void m_tpr_high(void)
{
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW);
    SET(VIRTUAL_APIC_ADDR, vapic);
    SET(TPR_THRESHOLD, 0x10);
}
static void m_tpr_vtpr(void)
{
    uint8_t vtpr = 0x40;
    ck_assert(cpu_phys_write(&h.phys, vapic + 0x80, &vtpr, 1));
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW);
    SET(VIRTUAL_APIC_ADDR, vapic);
    SET(TPR_THRESHOLD, 5);
}
static void m_noshadow_x2apic(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_X2APIC);
}
static void m_noshadow_regvirt(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_APIC_REG_VIRT);
}
static void m_noshadow_vid(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_INTR_DELIVERY);
}
static void m_vnmi_no_nmi_exit(void) { OR(PIN_CONTROLS, VMX_PIN_VIRTUAL_NMIS); }
static void m_nmi_window_no_vnmi(void)
{
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING);
    OR(PROC_CONTROLS, VMX_PROC_NMI_WINDOW);
}
static void m_apic_access_addr(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_APIC_ACCESS);
    SET(APIC_ACCESS_ADDR, 0xFEE00800);
}
static void m_x2apic_and_access(void)
{
    apicv_base();
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_X2APIC | VMX_PROC2_VIRT_APIC_ACCESS);
    SET(APIC_ACCESS_ADDR, 0xFEE00000);
}
static void m_vid_no_extint(void)
{
    apicv_base();
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_INTR_DELIVERY);
}
static void m_pi_no_vid(void)
{
    pi_base();
    SET(PROC_CONTROLS2, 0);
}
static void m_pi_no_ack(void)
{
    pi_base();
    CLR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
}
static void m_pi_nv(void)
{
    pi_base();
    SET(POSTED_INTR_NV, 0x1F2);
}
static void m_pi_desc_align(void)
{
    pi_base();
    SET(POSTED_INTR_DESC_ADDR, 0x2020);
}
static void m_pi_desc_width(void)
{
    pi_base();
    SET(POSTED_INTR_DESC_ADDR, 1ull << CPU_MAXPHYADDR);
}
static void m_eptp_walk(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, 0x6000 | 6 | (2 << 3));
}
static void m_eptp_type(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, 0x6000 | 5 | (3 << 3));
}
/* UC: architecturally defined, but IA32_VMX_EPT_VPID_CAP bit 8 is 0. */
static void m_eptp_uc(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, 0x6000 | 0 | (3 << 3));
}
/* 26.2.1.2 VM-exit controls */
static void m_exit_addr_space(void) { CLR(EXIT_CONTROLS, VMX_EXIT_HOST_ADDR_SPACE); }
static void m_exit_unsupported(void) { OR(EXIT_CONTROLS, VMX_EXIT_LOAD_PERF_GLOBAL); }
static void m_preempt_save(void) { OR(EXIT_CONTROLS, VMX_EXIT_SAVE_PREEMPT_TIMER); }
/* MSR areas: bits 3:0 of the address, the address beyond MAXPHYADDR, the
 * last byte beyond it (test_msr_lists.c has the boundaries). */
static void m_exit_msr_store(void)
{
    SET(EXIT_MSR_STORE_COUNT, 1);
    SET(EXIT_MSR_STORE_ADDR, 0x10008);
}
static void m_exit_msr_load(void)
{
    SET(EXIT_MSR_LOAD_COUNT, 1);
    SET(EXIT_MSR_LOAD_ADDR, 1ull << CPU_MAXPHYADDR);
}
/* 26.2.1.3 VM-entry controls */
/* IA-32e mode guest = 0 with the guest's EFER.LMA = 1 loaded (26.3.1.1). */
static void m_entry_ia32e(void)
{
    CLR(ENTRY_CONTROLS, VMX_ENTRY_IA32E);
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_EFER);
    SET(GUEST_EFER, CPU_EFER_LME | CPU_EFER_LMA);
}
static void m_entry_smm(void) { OR(ENTRY_CONTROLS, VMX_ENTRY_SMM); }
static void m_inj_type1(void) { inject(1, 32, false); }
static void m_inj_other(void) { inject(VMX_INTR_TYPE_OTHER, 1, false); }
static void m_inj_nmi_vec(void) { inject(VMX_INTR_TYPE_NMI, 3, false); }
static void m_inj_hw_vec(void) { inject(VMX_INTR_TYPE_HW_EXC, 32, false); }
static void m_inj_gp_noerr(void) { inject(VMX_INTR_TYPE_HW_EXC, 13, false); }
static void m_inj_ud_err(void) { inject(VMX_INTR_TYPE_HW_EXC, 6, true); }
static void m_inj_ext_err(void) { inject(VMX_INTR_TYPE_EXT, 0x40, true); }
/* Without unrestricted guest the error code is due even when the CR0
 * field has PE = 0 (the guest-state checks reject that CR0 later). */
static void m_inj_gp_noerr_pe0(void)
{
    CLR(GUEST_CR0, CPU_CR0_PE | CPU_CR0_PG);
    inject(VMX_INTR_TYPE_HW_EXC, 13, false);
}
static void m_inj_reserved(void)
{
    inject(VMX_INTR_TYPE_EXT, 0x40, false);
    OR(ENTRY_INTR_INFO, 1u << 20);
}
static void m_inj_errcode(void)
{
    inject(VMX_INTR_TYPE_HW_EXC, 13, true);
    SET(ENTRY_EXCEPTION_ERROR, 0x8000);
}
static void m_inj_len0(void)
{
    inject(VMX_INTR_TYPE_SOFT_INT, 0x80, false);
    SET(ENTRY_INSN_LEN, 0);
}
static void m_inj_len16(void)
{
    inject(VMX_INTR_TYPE_SOFT_EXC, 3, false);
    SET(ENTRY_INSN_LEN, 16);
}
static void m_entry_msr_load(void)
{
    SET(ENTRY_MSR_LOAD_COUNT, 2);
    SET(ENTRY_MSR_LOAD_ADDR, (1ull << CPU_MAXPHYADDR) - 16);
}
/* 26.2.2-26.2.4 host state */
static void m_host_cr0(void) { CLR(HOST_CR0, CPU_CR0_PG); }
static void m_host_cr0_fixed1(void) { OR(HOST_CR0, 1ull << 32); }
static void m_host_cr4(void) { CLR(HOST_CR4, CPU_CR4_VMXE); }
static void m_host_cr3(void) { SET(HOST_CR3, 1ull << 50); }
static void m_host_sysenter(void) { SET(HOST_SYSENTER_EIP, 0x0000800000000000ull); }
static void m_host_pat(void)
{
    OR(EXIT_CONTROLS, VMX_EXIT_LOAD_PAT);
    SET(HOST_PAT, 0x0007040600070402ull);
}
static void m_host_efer(void)
{
    OR(EXIT_CONTROLS, VMX_EXIT_LOAD_EFER);
    SET(HOST_EFER, CPU_EFER_LME);
}
static void m_host_efer_rsvd(void)
{
    OR(EXIT_CONTROLS, VMX_EXIT_LOAD_EFER);
    OR(HOST_EFER, 1u << 2);
}
static void m_host_cs_rpl(void) { SET(HOST_CS_SEL, 0x09); }
static void m_host_ds_ti(void) { SET(HOST_DS_SEL, 0x14); }
static void m_host_cs_null(void) { SET(HOST_CS_SEL, 0); }
static void m_host_tr_null(void) { SET(HOST_TR_SEL, 0); }
static void m_host_fs_base(void) { SET(HOST_FS_BASE, 0x0000900000000000ull); }
static void m_host_gdtr_base(void) { SET(HOST_GDTR_BASE, 0x8000000000000000ull); }
static void m_host_pae(void) { CLR(HOST_CR4, CPU_CR4_PAE); }
static void m_host_rip(void) { SET(HOST_RIP, 0x00F0000000000000ull); }
/* 26.3.1 guest state */
static void m_guest_cr0_pe(void) { CLR(GUEST_CR0, CPU_CR0_PE); }
static void m_guest_cr0_ne(void) { CLR(GUEST_CR0, CPU_CR0_NE); }
static void m_guest_cr4_vmxe(void) { CLR(GUEST_CR4, CPU_CR4_VMXE); }
static void m_guest_cr4_fixed1(void) { OR(GUEST_CR4, 1u << 12); }
static void m_guest_pae(void) { CLR(GUEST_CR4, CPU_CR4_PAE); }
static void m_guest_cr3(void) { OR(GUEST_CR3, 1ull << 45); }
static void m_guest_debugctl(void)
{
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_DEBUG);
    SET(GUEST_DEBUGCTL, 1u << 3);
}
static void m_guest_dr7(void)
{
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_DEBUG);
    SET(GUEST_DR7, 1ull << 40);
}
static void m_guest_sysenter(void) { SET(GUEST_SYSENTER_ESP, 0x0001000000000000ull); }
static void m_guest_pat(void)
{
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_PAT);
    SET(GUEST_PAT, 0x0706050403020100ull);
}
static void m_guest_efer_lma(void)
{
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_EFER);
    SET(GUEST_EFER, CPU_EFER_LME);
}
static void m_guest_efer_rsvd(void)
{
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_EFER);
    OR(GUEST_EFER, 1u << 1);
}
static void m_guest_tr_ti(void) { SET(GUEST_TR_SEL, 0x1C); }
static void m_guest_ss_rpl(void) { SET(GUEST_SS_SEL, 0x13); }
static void m_guest_fs_base(void) { SET(GUEST_FS_BASE, 0x0000800000000000ull); }
static void m_guest_cs_base(void) { SET(GUEST_CS_BASE, 1ull << 32); }
static void m_guest_ds_accessed(void) { CLR(GUEST_DS_AR, 1); }
static void m_guest_es_present(void) { CLR(GUEST_ES_AR, 0x80); }
static void m_guest_gs_reserved(void) { OR(GUEST_GS_AR, 1u << 8); }
static void m_guest_fs_g(void)
{
    SET(GUEST_FS_LIMIT, 0xFFFFE); /* G = 1 needs limit[11:0] = FFFH */
    OR(GUEST_FS_AR, 1u << 15);
}
static void m_guest_cs_type(void) { SET(GUEST_CS_AR, (GET(GUEST_CS_AR) & ~0xFull) | 3); }
static void m_guest_cs_ld(void) { OR(GUEST_CS_AR, 1u << 14); }
static void m_guest_cs_dpl(void) { OR(GUEST_CS_AR, 3u << 5); }
static void m_guest_cs_unusable(void) { OR(GUEST_CS_AR, 1u << 16); }
static void m_guest_ss_type(void) { SET(GUEST_SS_AR, (GET(GUEST_SS_AR) & ~0xFull) | 0xB); }
static void m_guest_ss_dpl(void) { OR(GUEST_SS_AR, 1u << 5); }
static void m_guest_ss_dpl_rpl(void)
{
    OR(GUEST_CS_AR, 1u << 5);
    OR(GUEST_SS_AR, 1u << 5);
}
static void m_guest_tr_type(void) { SET(GUEST_TR_AR, 0x89); }
static void m_guest_tr_unusable(void) { SET(GUEST_TR_AR, 1u << 16); }
static void m_guest_ldtr(void)
{
    SET(GUEST_LDTR_AR, 0x83);
    SET(GUEST_LDTR_LIMIT, 0xFF);
}
static void m_guest_gdtr_limit(void) { SET(GUEST_GDTR_LIMIT, 0x10000); }
static void m_guest_idtr_base(void) { SET(GUEST_IDTR_BASE, 0x0000800000000000ull); }
static void m_guest_rip(void) { SET(GUEST_RIP, 0x0000800000000000ull); }
static void m_guest_rflags_1(void) { CLR(GUEST_RFLAGS, 2); }
static void m_guest_rflags_rsvd(void) { OR(GUEST_RFLAGS, 1u << 3); }
static void m_guest_rflags_vm(void) { OR(GUEST_RFLAGS, CPU_FL_VM); }
static void m_guest_inject_ext_if0(void)
{
    CLR(GUEST_RFLAGS, CPU_FL_IF);
    inject(VMX_INTR_TYPE_EXT, 0x40, false);
}
static void m_guest_activity_shutdown(void) { SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_SHUTDOWN); }
static void m_guest_hlt_sti(void)
{
    OR(GUEST_RFLAGS, CPU_FL_IF);
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_STI);
    SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_HLT);
}
static void m_guest_hlt_inject_gp(void)
{
    SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_HLT);
    inject(VMX_INTR_TYPE_HW_EXC, 13, true);
}
static void m_guest_intr_rsvd(void) { SET(GUEST_INTERRUPTIBILITY, 1u << 5); }
static void m_guest_sti_movss(void)
{
    OR(GUEST_RFLAGS, CPU_FL_IF);
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_STI | VMX_INTERRUPTIBILITY_MOV_SS);
}
static void m_guest_sti_if0(void) { SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_STI); }
static void m_guest_inject_ext_movss(void)
{
    OR(GUEST_RFLAGS, CPU_FL_IF);
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_MOV_SS);
    inject(VMX_INTR_TYPE_EXT, 0x40, false);
}
static void m_guest_inject_nmi_movss(void)
{
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_MOV_SS);
    inject(VMX_INTR_TYPE_NMI, 2, false);
}
static void m_guest_smi(void) { SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_SMI); }
static void m_guest_vnmi_blocked_inject(void)
{
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS);
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_NMI);
    inject(VMX_INTR_TYPE_NMI, 2, false);
}
static void m_guest_pdbg_rsvd(void) { SET(GUEST_PENDING_DBG, 1u << 4); }
static void m_guest_pdbg_bs(void)
{
    OR(GUEST_RFLAGS, CPU_FL_IF | CPU_FL_TF);
    SET(GUEST_INTERRUPTIBILITY, VMX_INTERRUPTIBILITY_STI);
}
static void m_guest_link(void) { SET(VMCS_LINK_PTR, 0x7000); }
/* "VMCS shadowing" with a misaligned VMREAD / out-of-range VMWRITE bitmap. */
static void m_vmread_bitmap(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    OR(PROC_CONTROLS2, VMX_PROC2_VMCS_SHADOW);
    SET(VMREAD_BITMAP, 0x8008);
}
static void m_vmwrite_bitmap(void)
{
    m_vmread_bitmap();
    SET(VMREAD_BITMAP, 0x8000);
    SET(VMWRITE_BITMAP, 1ull << 40);
}
/* Virtual-8086 mode (RFLAGS.VM = 1 outside IA-32e mode): the interpreter
 * does not execute it. Protected mode with paging, 32-bit CS. */
static void m_guest_v8086(void)
{
    CLR(ENTRY_CONTROLS, VMX_ENTRY_IA32E);
    OR(ENTRY_CONTROLS, VMX_ENTRY_LOAD_EFER);
    SET(GUEST_EFER, 0);
    CLR(GUEST_CR4, CPU_CR4_PAE);
    SET(GUEST_CS_AR, (GET(GUEST_CS_AR) & ~(uint64_t)(1u << 13)) | (1u << 14));
    OR(GUEST_RFLAGS, CPU_FL_VM);
}
/* Unrestricted guest: CR0.PE = PG = 0 fails without it (FIXED0)... */
static void m_guest_cr0_real_without_ug(void)
{
    CLR(ENTRY_CONTROLS, VMX_ENTRY_IA32E);
    CLR(GUEST_CR0, CPU_CR0_PE | CPU_CR0_PG);
}
/* ... and "unrestricted guest" needs "enable EPT" (26.2.1.1). */
static void m_ug_without_ept(void)
{
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_UNRESTRICTED);
}
/* Nothing can be injected into the wait-for-SIPI state (26.3.1.5). */
static void m_guest_wait_sipi_inject(void)
{
    SET(GUEST_ACTIVITY_STATE, VMX_ACTIVITY_WAIT_SIPI);
    OR(GUEST_RFLAGS, CPU_FL_IF);
    inject(VMX_INTR_TYPE_EXT, 0x40, false);
}

#define C(n, err, chk) {#n, m_##n, err, VMX_CHECK_##chk}
static const entry_case cases[] = {
    C(pin_default1, 7, PIN_CTLS),
    C(pin_unsupported, 7, PIN_CTLS),
    C(proc_unsupported, 7, PROC_CTLS),
    C(proc_reserved, 7, PROC_CTLS),
    C(proc2_unsupported, 7, PROC2_CTLS),
    C(proc2_vpid, 7, VPID_ZERO),
    C(cr3_count, 7, CR3_TARGET_COUNT),
    C(io_a, 7, IO_BITMAP_A),
    C(io_b, 7, IO_BITMAP_B),
    C(msr_bitmap, 7, MSR_BITMAP),
    C(vapic_addr, 7, VAPIC_ADDR),
    C(tpr_high, 7, TPR_THRESHOLD_HIGH),
    C(tpr_vtpr, 7, TPR_THRESHOLD_VTPR),
    C(noshadow_x2apic, 7, TPR_SHADOW_APICV),
    C(noshadow_regvirt, 7, TPR_SHADOW_APICV),
    C(noshadow_vid, 7, TPR_SHADOW_APICV),
    C(vnmi_no_nmi_exit, 7, NMI_VIRTUAL_NMIS),
    C(nmi_window_no_vnmi, 7, VIRTUAL_NMIS_WINDOW),
    C(apic_access_addr, 7, APIC_ACCESS_ADDR),
    C(x2apic_and_access, 7, X2APIC_APIC_ACCESS),
    C(vid_no_extint, 7, VID_EXT_INTR),
    C(pi_no_vid, 7, PI_VID),
    C(pi_no_ack, 7, PI_ACK),
    C(pi_nv, 7, PI_NV),
    C(pi_desc_align, 7, PI_DESC),
    C(pi_desc_width, 7, PI_DESC),
    C(eptp_walk, 7, EPTP),
    C(eptp_type, 7, EPTP),
    C(eptp_uc, 7, EPTP),
    C(exit_addr_space, 7, EXIT_CTLS),
    C(exit_unsupported, 7, EXIT_CTLS),
    C(preempt_save, 7, PREEMPT_SAVE),
    C(exit_msr_store, 7, EXIT_MSR_STORE),
    C(exit_msr_load, 7, EXIT_MSR_LOAD),
    C(entry_ia32e, 33, GUEST_EFER),
    C(entry_smm, 7, ENTRY_CTLS),
    C(inj_type1, 7, ENTRY_INTR_TYPE),
    C(inj_other, 7, ENTRY_INTR_VECTOR),
    C(inj_nmi_vec, 7, ENTRY_INTR_VECTOR),
    C(inj_hw_vec, 7, ENTRY_INTR_VECTOR),
    C(inj_gp_noerr, 7, ENTRY_INTR_ERROR_VALID),
    C(inj_gp_noerr_pe0, 7, ENTRY_INTR_ERROR_VALID),
    C(inj_ud_err, 7, ENTRY_INTR_ERROR_VALID),
    C(inj_ext_err, 7, ENTRY_INTR_ERROR_VALID),
    C(inj_reserved, 7, ENTRY_INTR_RESERVED),
    C(inj_errcode, 7, ENTRY_ERROR_CODE),
    C(inj_len0, 7, ENTRY_INSN_LEN),
    C(inj_len16, 7, ENTRY_INSN_LEN),
    C(entry_msr_load, 7, ENTRY_MSR_LOAD),
    C(host_cr0, 8, HOST_CR0),
    C(host_cr0_fixed1, 8, HOST_CR0),
    C(host_cr4, 8, HOST_CR4),
    C(host_cr3, 8, HOST_CR3),
    C(host_sysenter, 8, HOST_CANONICAL),
    C(host_pat, 8, HOST_PAT),
    C(host_efer, 8, HOST_EFER),
    C(host_efer_rsvd, 8, HOST_EFER),
    C(host_cs_rpl, 8, HOST_SEL),
    C(host_ds_ti, 8, HOST_SEL),
    C(host_cs_null, 8, HOST_SEL),
    C(host_tr_null, 8, HOST_SEL),
    C(host_fs_base, 8, HOST_CANONICAL),
    C(host_gdtr_base, 8, HOST_CANONICAL),
    C(host_pae, 8, HOST_ADDR_SPACE),
    C(host_rip, 8, HOST_RIP),
    C(guest_cr0_pe, 33, GUEST_CR0),
    C(guest_cr0_ne, 33, GUEST_CR0),
    C(guest_cr4_vmxe, 33, GUEST_CR4),
    C(guest_cr4_fixed1, 33, GUEST_CR4),
    C(guest_pae, 33, GUEST_IA32E_PAE),
    C(guest_cr3, 33, GUEST_CR3),
    C(guest_debugctl, 33, GUEST_DEBUGCTL),
    C(guest_dr7, 33, GUEST_DR7),
    C(guest_sysenter, 33, GUEST_SYSENTER),
    C(guest_pat, 33, GUEST_PAT),
    C(guest_efer_lma, 33, GUEST_EFER),
    C(guest_efer_rsvd, 33, GUEST_EFER),
    C(guest_tr_ti, 33, GUEST_SEL),
    C(guest_ss_rpl, 33, GUEST_SEL),
    C(guest_fs_base, 33, GUEST_SEG_BASE),
    C(guest_cs_base, 33, GUEST_SEG_BASE),
    C(guest_ds_accessed, 33, GUEST_SEG_AR),
    C(guest_es_present, 33, GUEST_SEG_AR),
    C(guest_gs_reserved, 33, GUEST_SEG_AR),
    C(guest_fs_g, 33, GUEST_SEG_AR),
    C(guest_cs_type, 33, GUEST_CS),
    C(guest_cs_ld, 33, GUEST_CS),
    C(guest_cs_dpl, 33, GUEST_CS),
    C(guest_cs_unusable, 33, GUEST_CS),
    C(guest_ss_type, 33, GUEST_SS),
    C(guest_ss_dpl, 33, GUEST_CS),
    C(guest_ss_dpl_rpl, 33, GUEST_SS),
    C(guest_tr_type, 33, GUEST_TR),
    C(guest_tr_unusable, 33, GUEST_TR),
    C(guest_ldtr, 33, GUEST_LDTR),
    C(guest_gdtr_limit, 33, GUEST_DTR),
    C(guest_idtr_base, 33, GUEST_DTR),
    C(guest_rip, 33, GUEST_RIP),
    C(guest_rflags_1, 33, GUEST_RFLAGS),
    C(guest_rflags_rsvd, 33, GUEST_RFLAGS),
    C(guest_rflags_vm, 33, GUEST_RFLAGS),
    C(guest_inject_ext_if0, 33, GUEST_RFLAGS),
    C(guest_activity_shutdown, 33, GUEST_ACTIVITY),
    C(guest_hlt_sti, 33, GUEST_ACTIVITY),
    C(guest_hlt_inject_gp, 33, GUEST_ACTIVITY),
    C(guest_intr_rsvd, 33, GUEST_INTERRUPTIBILITY),
    C(guest_sti_movss, 33, GUEST_INTERRUPTIBILITY),
    C(guest_sti_if0, 33, GUEST_INTERRUPTIBILITY),
    C(guest_inject_ext_movss, 33, GUEST_INTERRUPTIBILITY),
    C(guest_inject_nmi_movss, 33, GUEST_INTERRUPTIBILITY),
    C(guest_smi, 33, GUEST_INTERRUPTIBILITY),
    C(guest_vnmi_blocked_inject, 33, GUEST_INTERRUPTIBILITY),
    C(guest_pdbg_rsvd, 33, GUEST_PENDING_DBG),
    C(guest_pdbg_bs, 33, GUEST_PENDING_DBG),
    C(guest_link, 33, GUEST_LINK_PTR),
    C(vmread_bitmap, 7, VMREAD_BITMAP),
    C(vmwrite_bitmap, 7, VMWRITE_BITMAP),
    C(guest_v8086, 33, GUEST_MODE),
    C(guest_cr0_real_without_ug, 33, GUEST_CR0),
    C(ug_without_ept, 7, UNRESTRICTED_EPT),
    C(guest_wait_sipi_inject, 33, GUEST_ACTIVITY),
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* Fields an entry failure may write: the VM-instruction error (7, 8), or the
 * exit information of an entry-failure exit (33). */
static bool allowed_to_change(uint32_t enc, unsigned error)
{
    if (error != 33)
        return enc == VMCS_VM_INSN_ERROR;
    return enc == VMCS_EXIT_REASON || enc == VMCS_EXIT_QUALIFICATION ||
           enc == VMCS_EXIT_INTR_INFO || enc == VMCS_ENTRY_INTR_INFO;
}

static const uint32_t all_fields[] = {
#define X(name, enc) enc,
    VMX_VMCS_FIELDS(X)
#undef X
};

START_TEST(test_each_check_fails_alone)
{
    const entry_case *tc = &cases[_i];
    tc->mutate();
    vmx_vmcs before = v.vmcs;
    static cpu_t cpu_before;
    memcpy(&cpu_before, &h.cpu, sizeof cpu_before);

    unsigned err = vmx_vmentry(&v, true);
    if (tc->error == 33) {
        ck_assert_msg(err == 0, "%s: returned %u", tc->name, err);
        ck_assert_msg(v.exited, "%s: no entry-failure exit", tc->name);
        ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_ENTRY_FAIL_GUEST | VMX_EXIT_REASON_ENTRY_FAIL);
        /* SDM 26.8: qualification 4 for the VMCS link pointer, else 0. */
        ck_assert_uint_eq(GET(EXIT_QUALIFICATION), tc->check == VMX_CHECK_GUEST_LINK_PTR ? 4 : 0);
        ck_assert_uint_eq(GET(ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID, 0);
        ck_assert_uint_eq(v.exit_count[VMX_EXIT_ENTRY_FAIL_GUEST], 1);
    } else {
        ck_assert_msg(err == tc->error, "%s: error %u, want %u (check %d)", tc->name, err,
                      tc->error, v.last_check);
        ck_assert_uint_eq(GET(VM_INSN_ERROR), tc->error);
        ck_assert(!v.exited);
    }
    ck_assert_msg(v.last_check == tc->check, "%s: check %d, want %d", tc->name, v.last_check,
                  tc->check);
    ck_assert(!v.non_root);
    ck_assert_uint_eq(v.vmcs.launch_state, VMX_LAUNCH_CLEAR);
    for (size_t i = 0; i < sizeof all_fields / sizeof all_fields[0]; i++) {
        uint32_t e = all_fields[i];
        if (allowed_to_change(e, tc->error))
            continue;
        ck_assert_msg(vmx_vmcs_get(&before, e) == vmx_vmcs_get(&v.vmcs, e),
                      "%s: field %s changed", tc->name, vmx_vmcs_field_name(e));
    }
    ck_assert_msg(memcmp(&cpu_before, &h.cpu, sizeof cpu_before) == 0, "%s: CPU state changed",
                  tc->name);
}
END_TEST

/* The same rules after an entry that passed them all (vmx_vmcs.checked
 * remembers the groups that passed): each case's change to a field or to
 * the virtual-APIC page still fails the next VMRESUME with its rule. */
START_TEST(test_each_check_fails_after_a_passing_entry)
{
    const entry_case *tc = &cases[_i];
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_uint_eq(v.vmcs.checked, VMX_CHECKED_CONTROLS | VMX_CHECKED_HOST | VMX_CHECKED_GUEST);
    v.non_root = false;
    tc->mutate();
    unsigned err = vmx_vmentry(&v, false);
    ck_assert_msg(err == (tc->error == 33 ? 0 : tc->error), "%s: returned %u", tc->name, err);
    ck_assert_msg(v.last_check == tc->check, "%s: check %d, want %d", tc->name, v.last_check,
                  tc->check);
    ck_assert(!v.non_root);
}
END_TEST

/* What clears which group: a store of the value a field holds nothing; the
 * guest's RIP nothing (checked at every entry); a guest segment field the
 * guest group; a host field the host group; a control field all three. */
START_TEST(test_checked_groups_follow_the_fields)
{
    const uint32_t all = VMX_CHECKED_CONTROLS | VMX_CHECKED_HOST | VMX_CHECKED_GUEST;
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_uint_eq(v.vmcs.checked, all);
    SET(GUEST_TR_AR, GET(GUEST_TR_AR));
    vmx_vmcs_write_fast(&v.vmcs, VMCS_HOST_CR0, GET(HOST_CR0));
    SET(GUEST_RIP, GET(GUEST_RIP) + 3);
    ck_assert_uint_eq(v.vmcs.checked, all);
    vmx_vmcs_write_fast(&v.vmcs, VMCS_GUEST_TR_AR, 0x89);
    ck_assert_uint_eq(v.vmcs.checked, VMX_CHECKED_CONTROLS | VMX_CHECKED_HOST);
    SET(HOST_FS_BASE, 0x1000);
    ck_assert_uint_eq(v.vmcs.checked, VMX_CHECKED_CONTROLS);
    SET(EXCEPTION_BITMAP, 1);
    ck_assert_uint_eq(v.vmcs.checked, 0);
}
END_TEST

/* The processor's own stores at a VM exit (SDM 27.3) clear the guest
 * group when a saved value differs, and only then. */
START_TEST(test_exit_stores_clear_the_guest_group)
{
    const uint32_t all = VMX_CHECKED_CONTROLS | VMX_CHECKED_HOST | VMX_CHECKED_GUEST;
    vmx_save_guest_state(&v);
    v.vmcs.checked = all;
    vmx_save_guest_state(&v);
    ck_assert_uint_eq(v.vmcs.checked, all);
    h.cpu.rip += 3; /* RIP is checked at every entry */
    vmx_save_guest_state(&v);
    ck_assert_uint_eq(v.vmcs.checked, all);
    h.cpu.seg[CPU_FS].base = 0x7000;
    vmx_save_guest_state(&v);
    ck_assert_uint_eq(v.vmcs.checked, VMX_CHECKED_CONTROLS | VMX_CHECKED_HOST);
}
END_TEST

/* Every check id of the table is a different rule: the table covers at least
 * one case for each control, host and guest check of vmx.h. */
START_TEST(test_every_check_covered)
{
    static bool seen[VMX_CHECK_COUNT];
    for (int i = 0; i < NCASES; i++)
        seen[cases[i].check] = true;
    static const vmx_check not_reachable[] = {
        /* Unreachable with this capability set: PML and VM functions are
         * must-be-0, so their control check fails first; HOST_ADDR_SPACE via the control is EXIT_CTLS;
         * GUEST_SEL covers the LDTR TI rule only when usable (tested via
         * TR); launch state is tested separately. */
        VMX_CHECK_NONE, VMX_CHECK_PML,
        VMX_CHECK_VMFUNC, VMX_CHECK_ENTRY_SMM, VMX_CHECK_LAUNCH_STATE,
        /* Needs a PAE guest: vmx_test_exits test_entry_pdpte_reserved_bits. */
        VMX_CHECK_GUEST_PDPTE,
    };
    for (size_t i = 0; i < sizeof not_reachable / sizeof not_reachable[0]; i++)
        seen[not_reachable[i]] = true;
    for (int k = 0; k < VMX_CHECK_COUNT; k++)
        ck_assert_msg(seen[k], "check %d has no negative test", k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_entry_checks");
    TCase *t = tcase_create("entry");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_baseline_enters);
    tcase_add_test(t, test_resume_needs_launch);
    tcase_add_test(t, test_nonregister_state_loaded);
    tcase_add_test(t, test_hlt_and_injection_loaded);
    tcase_add_test(t, test_hlt_loaded);
    tcase_add_test(t, test_unrestricted_guest_real_mode_and_wait_for_sipi);
    tcase_add_test(t, test_secondary_ignored_when_inactive);
    tcase_add_test(t, test_vpid_enters);
    tcase_add_test(t, test_tpr_threshold_boundaries);
    tcase_add_test(t, test_tpr_threshold_skipped_with_apic_access);
    tcase_add_test(t, test_tpr_threshold_unbacked_vapic);
    tcase_add_test(t, test_apicv_configuration_passes);
    tcase_add_loop_test(t, test_each_check_fails_alone, 0, NCASES);
    tcase_add_loop_test(t, test_each_check_fails_after_a_passing_entry, 0, NCASES);
    tcase_add_test(t, test_checked_groups_follow_the_fields);
    tcase_add_test(t, test_exit_stores_clear_the_guest_group);
    tcase_add_test(t, test_every_check_covered);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
