/*
 * test_device_guests.c — the PC devices from guest programs (guests/
 * machine_com1, machine_ioapic, machine_pic), natively and under the
 * built-in hypervisor in every VMX mode, through the machine as `apicv-emu
 * run` builds it: COM1 and fw_cfg by port I/O exits, the I/O APIC page by
 * the hypervisor's MMIO emulation, the test device's lines through the I/O
 * APIC (edge and level, remote IRR, the EOI broadcast and register).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_hv.h"
#include "tests/emu/test_guest_run.h"
#include "vmx/vmx_vmcs.h"

#define MAX_CYCLES 2000000000ull

static void run_guest_mem(const char *guest, emu_mode mode, unsigned ncpus, uint64_t mem,
                          const char *expect)
{
    emu_config cfg = guest_run_config(mode, ncpus, MAX_CYCLES);
    if (mem)
        cfg.mem_bytes = mem;
    guest_run *r = guest_run_cfg(guest, &cfg);
    guest_run_assert_ok(r, guest);
    ck_assert_msg(strstr(r->out, expect) != NULL, "%s (%s): no \"%s\" in\n%s", guest,
                  emu_mode_name(mode), expect, r->out);
    ck_assert(r->m.dev.touched);
    guest_run_free(r);
}

static void run_guest(const char *guest, emu_mode mode, unsigned ncpus, const char *expect)
{
    run_guest_mem(guest, mode, ncpus, 0, expect);
}

/* _i: the mode (native, emulated, tpr-shadow, apicv, posted). */
START_TEST(com1_and_fwcfg)
{
    run_guest("machine_com1", (emu_mode)_i, 3, "com1: hello from the 16550A\n");
    run_guest("machine_com1", (emu_mode)_i, 3, "fw_cfg: QEMU, 3 CPUs, 64 MiB\n");
    run_guest("machine_com1", (emu_mode)_i, 1, "com1: rep outsb\n");
    run_guest("machine_com1", (emu_mode)_i, 1, "com1: addr32 rep outsb\ncom1: addr32 outsb, fs\n");
}
END_TEST

START_TEST(ioapic_edge_level_eoi)
{
    run_guest("machine_ioapic", (emu_mode)_i, 2,
              "ioapic: version 0x20, 24 pins; edge, logical, level x2, EOI register OK");
}
END_TEST

/* The TMR as a vector alternates between edge and level I/O APIC
 * interrupts (SDM 11.8.4): set on acceptance of a level one, cleared on
 * acceptance of an edge one — in apicv/posted modes on the virtual-APIC
 * page, which the hypervisor keeps as KVM does. */
START_TEST(ioapic_tmr_follows_trigger)
{
    run_guest("ioapic_tmr", (emu_mode)_i, 1,
              "ioapic tmr: edge 0/0, level 0/1, level 1/1, edge 1/0\n");
}
END_TEST

/* The 8259A's ExtINT through LINT0: natively from the CPU's INTA, under
 * the hypervisor injected as an external interrupt. */
START_TEST(pic_masks_and_extint)
{
    run_guest("machine_pic", (emu_mode)_i, 1, "pic: 21 29 23 delivered, masked IRQ held");
}
END_TEST

/* --mem 4096: RAM reaches over the I/O APIC page, which still belongs to
 * the I/O APIC (device pages trap before RAM); the RAM is allocated
 * lazily, so this costs no 4 GiB. */
START_TEST(ioapic_page_over_4g_ram)
{
    run_guest_mem("machine_ioapic", _i ? EMU_MODE_POSTED : EMU_MODE_NATIVE, 2, 4096ull << 20,
                  "ioapic: version 0x20, 24 pins; edge, logical, level x2, EOI register OK");
}
END_TEST

/* Runs the Multiboot kernel guests/multiboot/<name> on ncpus vCPUs in
 * mode, to a clean end, its console holding the lines of expect in order. */
static guest_run *run_multiboot(const char *name, emu_mode mode, unsigned ncpus,
                                const char *expect)
{
    guest_run *r = guest_run_start(name, mode, ncpus, MAX_CYCLES);
    ck_assert(r->m.multiboot);
    guest_run_assert_ok(r, name);
    ck_assert_msg(strstr(r->out, expect), "%s:\n%s", emu_mode_name(mode), r->out);
    return r;
}

/* guests/multiboot/mb_smp.S, a Multiboot kernel: 32-bit protected mode with
 * paging off, the I/O APIC page, INIT + SIPI of every AP into real mode and
 * from there to 32-bit protected mode; the BSP on to long mode.
 * Natively, and in every VMX mode with unrestricted guest and the EPT
 * identity map: CR0.NE writes exit (28) and read back through the shadow,
 * the I/O APIC page is an EPT violation (48) the hypervisor
 * emulates, each AP waits for SIPI in the wait-for-SIPI activity state and
 * starts with an INIT exit (3) and a SIPI exit (4). _i: the mode. */
START_TEST(multiboot_kernel_smp_start)
{
    emu_mode mode = (emu_mode)_i;
    guest_run *r = run_multiboot("mb_smp", mode, 3,
                                 "mb_smp: 32-bit protected mode, paging off\n"
                                 "mb_smp: I/O APIC version 0x20, 3 CPUs\n"
                                 "mb_smp: 2 APs started in real mode, then in protected mode\n"
                                 "mb_smp: restarted by INIT + SIPI back to back\n"
                                 "mb_smp: 32-bit paging on, I/O APIC read through it\n"
                                 "mb_smp: 64-bit long mode, I/O APIC read\n");
    if (mode != EMU_MODE_NATIVE) {
        const emu_hv_ops *ops = r->m.hv_ops;
        ck_assert_uint_ge(ops->exit_count(&r->m, 0, VMX_EXIT_EPT_VIOLATION), 6);
        ck_assert_uint_eq(ops->exit_count(&r->m, 0, VMX_EXIT_CR_ACCESS), 2); /* CR0.NE */
        for (unsigned k = 1; k < 3; k++) {
            ck_assert_uint_eq(ops->exit_count(&r->m, k, VMX_EXIT_INIT), 2);
            ck_assert_uint_eq(ops->exit_count(&r->m, k, VMX_EXIT_SIPI), 2);
        }
    }
    guest_run_free(r);
}
END_TEST

/* guests/multiboot/mb_modes.S, a Multiboot kernel that goes from the
 * loader's 32-bit protected mode down to real mode (a 16-bit code segment,
 * CR0.PE cleared; a segment base of selector << 4, INT through the IVT)
 * and back, then up to long mode (PAE, EFER.LME, CR0.PG, a far jump to a
 * 64-bit code segment; EFER.LMA checked there). Natively and in every VMX
 * mode (unrestricted guest: none of the mode changes exits). */
START_TEST(multiboot_kernel_modes)
{
    emu_mode mode = (emu_mode)_i;
    guest_run *r = run_multiboot("mb_modes", mode, 1,
                                 "mb_modes: 32-bit protected mode from the loader\n"
                                 "mb_modes: real mode (segment base, IVT interrupt) and back\n"
                                 "mb_modes: 64-bit long mode, EFER.LMA set\n");
    if (mode != EMU_MODE_NATIVE) {
        const emu_hv_ops *ops = r->m.hv_ops;
        ck_assert_uint_eq(ops->exit_count(&r->m, 0, VMX_EXIT_CR_ACCESS), 0);
    }
    guest_run_free(r);
}
END_TEST

/* guests/multiboot/mb_devices.S, a Multiboot kernel in 32-bit protected
 * mode: COM1 (divisor latch, scratch, LSR polling; its own output), fw_cfg,
 * the 8259A masks and a masked IRQ held in IRR, the I/O APIC edge and
 * level with remote IRR and the local APIC's EOI, through a 32-bit IDT;
 * the 8259A's ExtINT through LINT0 once the kernel unmasks both.
 * Natively and in every VMX mode (port I/O exits, the I/O APIC page as EPT
 * violations, interrupts injected or virtualized into a 32-bit guest). */
START_TEST(multiboot_kernel_devices)
{
    emu_mode mode = (emu_mode)_i;
    guest_run *r = run_multiboot("mb_devices", mode, 1,
                                 "mb_devices: COM1 16550A, scratch 5a\n"
                                 "mb_devices: fw_cfg QEMU\n"
                                 "mb_devices: 8259A masks fb ff, masked IRQ 3 held\n"
                                 "mb_devices: I/O APIC edge, level, remote IRR, EOI\n"
                                 "mb_devices: 8259A ExtINT 23 through LINT0, held while LINT0 masked\n");
    if (mode != EMU_MODE_NATIVE) {
        const emu_hv_ops *ops = r->m.hv_ops;
        ck_assert_uint_ge(ops->exit_count(&r->m, 0, VMX_EXIT_EPT_VIOLATION), 10);
        ck_assert_uint_ge(ops->exit_count(&r->m, 0, VMX_EXIT_IO), 100);
    }
    guest_run_free(r);
}
END_TEST

/* A CPU started by INIT/SIPI keeps TR's busy 16-bit TSS type (SDM Vol. 3A
 * Table 10-1) when a kernel such as kvm-unit-tests takes it to long mode
 * without an LTR; VM entry wants a busy 64-bit TSS in an IA-32e guest (SDM
 * 26.3.1.2), so the hypervisor fixes the type as KVM does. Here the BSP is
 * given that TR and mb_smp goes to long mode and exits from there: without
 * the fix its first entry in long mode fails (exit 33). */
START_TEST(multiboot_long_mode_with_init_tr)
{
    emu_mode mode = (emu_mode)_i;
    emu_config cfg = guest_run_config(mode, 1, MAX_CYCLES);
    guest_run *r = guest_run_load("mb_smp", &cfg);
    const uint16_t tss16_busy = 0x83; /* present, type 3 */
    r->m.cpu[0].tr.attr = tss16_busy;
    emu_hv *hv = r->m.hv;
    vmx_vmcs_set(&hv->vcpu[0].vmx.vmcs, VMCS_GUEST_TR_AR, tss16_busy);
    emu_machine_run(&r->m, UINT64_MAX);
    guest_run_assert_ok(r, "mb_smp");
    ck_assert_msg(strstr(r->out, "mb_smp: 64-bit long mode, I/O APIC read\n"), "%s:\n%s",
                  emu_mode_name(mode), r->out);
    ck_assert_uint_eq(vmx_vmcs_get(&hv->vcpu[0].vmx.vmcs, VMCS_GUEST_TR_AR) & 0xF, 11);
    guest_run_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("device_guests");
    TCase *t = tcase_create("device_guests");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, com1_and_fwcfg, EMU_MODE_NATIVE, EMU_MODE_COUNT);
    tcase_add_loop_test(t, ioapic_edge_level_eoi, EMU_MODE_NATIVE, EMU_MODE_COUNT);
    tcase_add_loop_test(t, ioapic_tmr_follows_trigger, EMU_MODE_NATIVE, EMU_MODE_COUNT);
    tcase_add_loop_test(t, pic_masks_and_extint, EMU_MODE_NATIVE, EMU_MODE_COUNT);
    tcase_add_loop_test(t, ioapic_page_over_4g_ram, 0, 2);
    tcase_add_loop_test(t, multiboot_kernel_smp_start, EMU_MODE_NATIVE, EMU_MODE_COUNT);
    tcase_add_loop_test(t, multiboot_long_mode_with_init_tr, EMU_MODE_EMULATED, EMU_MODE_COUNT);
    tcase_add_loop_test(t, multiboot_kernel_devices, EMU_MODE_NATIVE, EMU_MODE_COUNT);
    tcase_add_loop_test(t, multiboot_kernel_modes, EMU_MODE_NATIVE, EMU_MODE_COUNT);
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
