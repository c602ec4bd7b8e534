/*
 * test_ept_cache.c — the guest-physical mappings a CPU caches from EPT
 * (SDM Vol. 3C 28.3.1, 28.4.1 and 28.4.3 in the 2016 numbering): a guest
 * TLB flush (MOV to CR3) invalidates linear and combined mappings only,
 * so a changed EPT entry is not seen until the mappings go (this CPU drops
 * them at every VM entry and exit and on INVEPT); an access the cached
 * rights do not allow still walks EPT and is an EPT violation.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "tests/support/cpu_harness.h"
#include "vmx/vmx.h"

static cpu_harness h;
static vmx_vcpu v;
static apic_t apic;

#define SET(f, val) vmx_vmcs_set(&v.vmcs, VMCS_##f, (val))
#define GET(f) vmx_vmcs_get(&v.vmcs, VMCS_##f)
#define OR(f, bits) SET(f, GET(f) | (bits))

/* EPT tables in guest RAM, so that guest code can change them: PML4 at
 * 600000H, PDPT at 601000H, PD at 602000H; 2-MByte identity pages. */
#define EPT_PML4 0x600000u
#define EPT_PDPT 0x601000u
#define EPT_PD 0x602000u
/* The data read, in the 2-MByte page whose EPT entry changes. */
#define DATA 0x20A000u

static void poke64(uint64_t pa, uint64_t val)
{
    ck_assert(cpu_phys_write(&h.phys, pa, &val, 8));
}

static uint64_t ept_2m(uint64_t hpa, unsigned rwx)
{
    return hpa | (6 << 3) | 0x80 | rwx;
}

static void setup(void)
{
    cpu_harness_init(&h);
    apic_init(&apic, &h.cpu, 0, true, &h.obs);
    vmx_vcpu_init(&v, &h.cpu, &apic, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    poke64(EPT_PML4, EPT_PDPT | 7);
    poke64(EPT_PDPT, EPT_PD | 7);
    for (uint64_t k = 0; k < 8; k++)
        poke64(EPT_PD + k * 8, ept_2m(k << 21, 7));
    /* Distinct data at host-physical DATA and DATA + 200000H. */
    poke64(DATA, 0xAAAA);
    poke64(DATA + 0x200000, 0xBBBB);
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

static void start(const uint8_t *code, size_t len)
{
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, len);
    h.cpu.rip = CPU_HARNESS_CODE;
    vmx_setup_guest_from_cpu(&v);
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY | VMX_PROC_HLT);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, EPT_PML4 | (3 << 3) | 6);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert(v.exited);
}

static void resume(const uint8_t *code, size_t len)
{
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, len);
    SET(GUEST_RIP, CPU_HARNESS_CODE);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert(v.exited);
}

/* The guest reads guest-physical DATA, points its EPT entry at host-
 * physical 400000H, flushes its TLB by MOV to CR3 and reads again: the
 * cached guest-physical mapping still gives DATA's host page. After the VM
 * exit (HLT) and a new entry the changed entry is used. */
START_TEST(guest_tlb_flush_keeps_guest_physical_mappings)
{
    /* mov rax, [20A000h]; mov rdx, new PDE; mov [602008h], rdx;
     * mov rcx, cr3; mov cr3, rcx; mov rbx, [20A000h]; hlt */
    uint64_t pde = ept_2m(0x400000, 7);
    uint8_t code[] = {0x48, 0x8B, 0x04, 0x25, 0x00, 0xA0, 0x20, 0x00,       /* mov rax, [20A000h] */
                      0x48, 0xBA, 0, 0, 0, 0, 0, 0, 0, 0,                   /* mov rdx, imm64 */
                      0x48, 0x89, 0x14, 0x25, 0x08, 0x20, 0x60, 0x00,       /* mov [602008h], rdx */
                      0x0F, 0x20, 0xD9, 0x0F, 0x22, 0xD9,                   /* mov rcx, cr3; mov cr3, rcx */
                      0x48, 0x8B, 0x1C, 0x25, 0x00, 0xA0, 0x20, 0x00,       /* mov rbx, [20A000h] */
                      0xF4};
    memcpy(&code[10], &pde, 8);
    start(code, sizeof code);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(cpu_harness_peek64(&h, EPT_PD + 8), pde); /* the guest changed it */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0xAAAA);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0xAAAA);
    /* mov rbx, [20A000h]; hlt */
    static const uint8_t again[] = {0x48, 0x8B, 0x1C, 0x25, 0x00, 0xA0, 0x20, 0x00, 0xF4};
    resume(again, sizeof again);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0xBBBB);
}
END_TEST

/* A cached read-only mapping does not allow a write: the write walks EPT
 * and is an EPT violation with the walk's qualification (write access,
 * readable: SDM 27.2.1 table 27-7). */
START_TEST(cached_rights_are_checked)
{
    poke64(EPT_PD + 8, ept_2m(0x200000, 1));
    /* mov rax, [20A000h]; mov rcx, cr3; mov cr3, rcx; mov rax, [20A000h];
     * mov byte [20A000h], 1; hlt */
    static const uint8_t code[] = {0x48, 0x8B, 0x04, 0x25, 0x00, 0xA0, 0x20, 0x00,
                                   0x0F, 0x20, 0xD9, 0x0F, 0x22, 0xD9,
                                   0x48, 0x8B, 0x04, 0x25, 0x00, 0xA0, 0x20, 0x00,
                                   0xC6, 0x04, 0x25, 0x00, 0xA0, 0x20, 0x00, 0x01,
                                   0xF4};
    start(code, sizeof code);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EPT_VIOLATION);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2 | (1 << 3) | (1 << 7) | (1 << 8));
    ck_assert_uint_eq(GET(GUEST_PHYSICAL_ADDR), DATA);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 22);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0xAAAA);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ept_cache");
    TCase *t = tcase_create("ept_cache");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, guest_tlb_flush_keeps_guest_physical_mappings);
    tcase_add_test(t, cached_rights_are_checked);
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
