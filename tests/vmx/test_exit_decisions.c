/*
 * test_exit_decisions.c — the exit decisions of VMX non-root operation
 * (SDM Vol. 3C 25.1.3 and 27.2.1: I/O and MSR bitmaps, CR qualifications,
 * CR0/CR4 guest/host masks and read shadows, CR3 targets), the capability
 * MSRs (Vol. 3D appendix A) and the EPT walk (28.2), each decided without
 * running guest code. Guest code run up to its VM exit is in test_exits.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "tests/support/cpu_harness.h"
#include "vmx/vmx.h"
#include "vmx/vmx_apicv.h"

static uint8_t bm_a[4096], bm_b[4096], msr_bm[4096];

static void set_bit(uint8_t *bm, unsigned bit)
{
    bm[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

/* ---- I/O bitmaps (SDM 25.1.3) ----------------------------------------------- */

START_TEST(test_io_bitmap)
{
    memset(bm_a, 0, sizeof bm_a);
    memset(bm_b, 0, sizeof bm_b);
    set_bit(bm_a, 0x80);
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0x80, 1));
    ck_assert(!vmx_io_bitmap_exit(bm_a, bm_b, 0x81, 1));
    ck_assert(!vmx_io_bitmap_exit(bm_a, bm_b, 0x7C, 4));
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0x7E, 4)); /* 7E..81 covers 80 */
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0x7F, 2));
    /* Bitmap B: port 8001H is bit 1 of B; an access from 7FFFH reaches it. */
    set_bit(bm_b, 0x0001);
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0x8001, 1));
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0x7FFF, 4));
    ck_assert(!vmx_io_bitmap_exit(bm_a, bm_b, 0x7FFE, 2));
    ck_assert(!vmx_io_bitmap_exit(bm_a, bm_b, 0x0001, 1)); /* A's bit 1 is clear */
    /* Wraparound past FFFFH always exits, even with clear bits. */
    ck_assert(!vmx_io_bitmap_exit(bm_a, bm_b, 0xFFFF, 1));
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0xFFFF, 2));
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0xFFFD, 4));
    ck_assert(!vmx_io_bitmap_exit(bm_a, bm_b, 0xFFFC, 4));
    set_bit(bm_b, 0x7FFF);
    ck_assert(vmx_io_bitmap_exit(bm_a, bm_b, 0xFFFC, 4));
}
END_TEST

/* ---- MSR bitmap (SDM 24.6.9) -------------------------------------------------- */

START_TEST(test_msr_bitmap)
{
    memset(msr_bm, 0, sizeof msr_bm);
    set_bit(msr_bm, 0x10);                 /* read low: IA32_TIME_STAMP_COUNTER */
    set_bit(msr_bm, 2048 * 8 + 0x1B);      /* write low: IA32_APIC_BASE */
    set_bit(msr_bm, 1024 * 8 + 0x80);      /* read high: IA32_EFER */
    set_bit(msr_bm, 3072 * 8 + 0x102);     /* write high: IA32_KERNEL_GS_BASE */
    set_bit(msr_bm, 0x1FFF);
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0x10, false));
    ck_assert(!vmx_msr_bitmap_exit(msr_bm, 0x10, true));
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0x1B, true));
    ck_assert(!vmx_msr_bitmap_exit(msr_bm, 0x1B, false));
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0xC0000080, false));
    ck_assert(!vmx_msr_bitmap_exit(msr_bm, 0xC0000080, true));
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0xC0000102, true));
    ck_assert(!vmx_msr_bitmap_exit(msr_bm, 0xC0000102, false));
    ck_assert(!vmx_msr_bitmap_exit(msr_bm, 0x80, false)); /* low 0x80 is not high 0x80 */
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0x1FFF, false));
    ck_assert(!vmx_msr_bitmap_exit(msr_bm, 0x808, false));
    /* Outside both ranges: always an exit. */
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0x2000, false));
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0x40000000, true));
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0xC0002000, false));
    ck_assert(vmx_msr_bitmap_exit(msr_bm, 0xBFFFFFFF, false));
}
END_TEST

/* ---- control registers (SDM 25.1.3, 25.3, 27.2.1 table 27-3) ---------------- */

START_TEST(test_cr_qualification)
{
    ck_assert_uint_eq(vmx_cr_qualification(0, VMX_CR_ACCESS_MOV_TO, CPU_RAX, false, 0), 0x0);
    ck_assert_uint_eq(vmx_cr_qualification(3, VMX_CR_ACCESS_MOV_FROM, CPU_RBX, false, 0), 0x313);
    ck_assert_uint_eq(vmx_cr_qualification(8, VMX_CR_ACCESS_MOV_TO, CPU_R15, false, 0), 0xF08);
    ck_assert_uint_eq(vmx_cr_qualification(4, VMX_CR_ACCESS_MOV_TO, CPU_RSP, false, 0), 0x404);
    ck_assert_uint_eq(vmx_cr_qualification(0, VMX_CR_ACCESS_CLTS, 0, false, 0), 0x20);
    ck_assert_uint_eq(vmx_cr_qualification(0, VMX_CR_ACCESS_LMSW, 0, true, 0x0001), 0x10070);
    ck_assert_uint_eq(vmx_cr_qualification(0, VMX_CR_ACCESS_LMSW, 0, false, 0xFFFF), 0xFFFF0030);
}
END_TEST

START_TEST(test_cr0_cr4_mask_shadow)
{
    uint64_t mask = CPU_CR0_PG | CPU_CR0_NE | CPU_CR0_PE;
    uint64_t shadow = CPU_CR0_PG | CPU_CR0_PE; /* the guest believes NE = 0 */
    uint64_t guest = CPU_CR0_PG | CPU_CR0_PE | CPU_CR0_NE | CPU_CR0_ET;
    /* Writes agreeing with the shadow on owned bits do not exit, whatever
     * they do to guest-owned bits. */
    ck_assert(!vmx_cr_write_exits(mask, shadow, shadow | CPU_CR0_CD | CPU_CR0_TS));
    ck_assert(vmx_cr_write_exits(mask, shadow, shadow | CPU_CR0_NE));
    ck_assert(vmx_cr_write_exits(mask, shadow, CPU_CR0_PE));
    ck_assert(!vmx_cr_write_exits(0, shadow, 0));
    /* Reads see the shadow for owned bits, the real value otherwise. */
    ck_assert_uint_eq(vmx_cr_read_value(mask, shadow, guest), CPU_CR0_PG | CPU_CR0_PE | CPU_CR0_ET);
    ck_assert_uint_eq(vmx_cr_read_value(0, shadow, guest), guest);
    /* A non-exiting write keeps owned bits. */
    ck_assert_uint_eq(vmx_cr_write_value(mask, guest, CPU_CR0_PG | CPU_CR0_PE | CPU_CR0_TS),
                      CPU_CR0_PG | CPU_CR0_PE | CPU_CR0_NE | CPU_CR0_TS);
    /* CR4: VMXE owned by the host, shadow 0. */
    ck_assert(!vmx_cr_write_exits(CPU_CR4_VMXE, 0, CPU_CR4_PAE | CPU_CR4_PGE));
    ck_assert(vmx_cr_write_exits(CPU_CR4_VMXE, 0, CPU_CR4_PAE | CPU_CR4_VMXE));
    ck_assert_uint_eq(vmx_cr_read_value(CPU_CR4_VMXE, 0, CPU_CR4_PAE | CPU_CR4_VMXE), CPU_CR4_PAE);
    /* CLTS and LMSW. */
    ck_assert(vmx_clts_exits(CPU_CR0_TS, CPU_CR0_TS));
    ck_assert(!vmx_clts_exits(CPU_CR0_TS, 0));
    ck_assert(!vmx_clts_exits(0, CPU_CR0_TS));
    ck_assert(vmx_lmsw_exits(CPU_CR0_PE, 0, 1));
    ck_assert(!vmx_lmsw_exits(CPU_CR0_PE, 0, 0));
    ck_assert(!vmx_lmsw_exits(CPU_CR0_PE, CPU_CR0_PE, 0)); /* LMSW cannot clear PE */
    ck_assert(vmx_lmsw_exits(CPU_CR0_MP, 0, CPU_CR0_MP));
    ck_assert(!vmx_lmsw_exits(CPU_CR0_MP, CPU_CR0_MP, CPU_CR0_MP | CPU_CR0_TS));
}
END_TEST

START_TEST(test_cr3_targets)
{
    vmx_vmcs m;
    memset(&m, 0, sizeof m);
    ck_assert(!vmx_cr3_write_exits(&m, 0x5000));
    vmx_vmcs_set(&m, VMCS_PROC_CONTROLS, VMX_PROC_CR3_LOAD);
    ck_assert(vmx_cr3_write_exits(&m, 0x5000));
    vmx_vmcs_set(&m, VMCS_CR3_TARGET0, 0x5000);
    vmx_vmcs_set(&m, VMCS_CR3_TARGET1, 0x6000);
    vmx_vmcs_set(&m, VMCS_CR3_TARGET2, 0x7000);
    vmx_vmcs_set(&m, VMCS_CR3_TARGET_COUNT, 2);
    ck_assert(!vmx_cr3_write_exits(&m, 0x5000));
    ck_assert(!vmx_cr3_write_exits(&m, 0x6000));
    ck_assert(vmx_cr3_write_exits(&m, 0x7000)); /* beyond the count */
    ck_assert(vmx_cr3_write_exits(&m, 0x8000));
}
END_TEST

/* ---- capability MSRs (SDM appendix A) ---------------------------------------- */

START_TEST(test_capability_consistency)
{
    static const struct {
        uint32_t msr, true_msr, default1;
    } ctl[] = {
        {VMX_MSR_PINBASED_CTLS, VMX_MSR_TRUE_PINBASED_CTLS, 0x16},
        {VMX_MSR_PROCBASED_CTLS, VMX_MSR_TRUE_PROCBASED_CTLS, 0x0401E172},
        {VMX_MSR_EXIT_CTLS, VMX_MSR_TRUE_EXIT_CTLS, 0x00036DFF},
        {VMX_MSR_ENTRY_CTLS, VMX_MSR_TRUE_ENTRY_CTLS, 0x000011FF},
    };
    uint64_t basic, cap, tcap;
    ck_assert(vmx_capability_msr(VMX_MSR_BASIC, &basic));
    ck_assert_uint_eq(basic & 0x7FFFFFFF, VMX_VMCS_REVISION);
    ck_assert_uint_eq((basic >> 32) & 0x1FFF, 4096);
    ck_assert_uint_eq((basic >> 50) & 0xF, 6);
    ck_assert((basic >> 55) & 1);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert(vmx_capability_msr(ctl[i].msr, &cap));
        ck_assert(vmx_capability_msr(ctl[i].true_msr, &tcap));
        uint32_t a0 = (uint32_t)cap, a1 = (uint32_t)(cap >> 32);
        uint32_t t0 = (uint32_t)tcap, t1 = (uint32_t)(tcap >> 32);
        /* Every must-be-1 bit may be 1; every default1 bit is must-be-1 in
         * the non-TRUE MSR; TRUE relaxes only default1 bits. */
        ck_assert_uint_eq(a0 & ~a1, 0);
        ck_assert_uint_eq(t0 & ~t1, 0);
        ck_assert_uint_eq(a0 & ctl[i].default1, ctl[i].default1);
        ck_assert_uint_eq(t0 & ~a0, 0);
        ck_assert_uint_eq((a0 ^ t0) & ~ctl[i].default1, 0);
        ck_assert_uint_eq(a1, t1);
        /* The minimal setting passes its own check. */
        ck_assert(vmx_ctls_allowed(cap, a0));
        ck_assert(vmx_ctls_allowed(tcap, t0));
        ck_assert(!vmx_ctls_allowed(cap, a0 & ~ctl[i].default1));
    }
    /* Implemented controls may be 1; unimplemented ones must be 0. */
    ck_assert(vmx_capability_msr(VMX_MSR_TRUE_PINBASED_CTLS, &cap));
    uint32_t pin1 = (uint32_t)(cap >> 32);
    ck_assert_uint_eq(pin1 & 0xE9, 0xE9); /* ext-int, NMI, virtual NMIs, timer, posted */
    ck_assert(vmx_capability_msr(VMX_MSR_TRUE_PROCBASED_CTLS, &cap));
    uint32_t proc1 = (uint32_t)(cap >> 32);
    uint32_t want = VMX_PROC_INTR_WINDOW | VMX_PROC_HLT | VMX_PROC_CR8_LOAD | VMX_PROC_CR8_STORE |
                    VMX_PROC_TPR_SHADOW | VMX_PROC_NMI_WINDOW | VMX_PROC_UNCOND_IO |
                    VMX_PROC_IO_BITMAPS | VMX_PROC_MSR_BITMAPS | VMX_PROC_SECONDARY |
                    VMX_PROC_TSC_OFFSET | VMX_PROC_RDTSC | VMX_PROC_PAUSE | VMX_PROC_MOV_DR;
    ck_assert_uint_eq(proc1 & want, want);
    ck_assert_uint_eq(proc1 & (1u << 17), 0); /* no tertiary controls */
    ck_assert(proc1 & VMX_PROC_MTF);
    ck_assert(vmx_capability_msr(VMX_MSR_PROCBASED_CTLS2, &cap));
    uint32_t p2 = (uint32_t)(cap >> 32);
    want = VMX_PROC2_VIRT_APIC_ACCESS | VMX_PROC2_EPT | VMX_PROC2_VIRT_X2APIC | VMX_PROC2_RDTSCP |
           VMX_PROC2_APIC_REG_VIRT | VMX_PROC2_VIRT_INTR_DELIVERY | VMX_PROC2_UNRESTRICTED |
           VMX_PROC2_VPID;
    ck_assert_uint_eq(p2 & want, want);
    ck_assert_uint_eq(p2 & (VMX_PROC2_PML |
                            VMX_PROC2_VMFUNC | VMX_PROC2_DESC_TABLE),
                      0);
    ck_assert_uint_eq((uint32_t)cap, 0);
    ck_assert(vmx_capability_msr(VMX_MSR_TRUE_EXIT_CTLS, &cap));
    ck_assert((cap >> 32) & VMX_EXIT_ACK_INTR);
    ck_assert((uint32_t)cap & VMX_EXIT_HOST_ADDR_SPACE);
    ck_assert_uint_eq((cap >> 32) & VMX_EXIT_LOAD_PERF_GLOBAL, 0);
    ck_assert(vmx_capability_msr(VMX_MSR_TRUE_ENTRY_CTLS, &cap));
    /* IA-32e mode guest may be 0 (legacy-mode guests) or 1. */
    ck_assert_uint_eq((uint32_t)cap & VMX_ENTRY_IA32E, 0);
    ck_assert((cap >> 32) & VMX_ENTRY_IA32E);
    ck_assert_uint_eq((cap >> 32) & (VMX_ENTRY_SMM | VMX_ENTRY_DEACT_DUAL_MONITOR), 0);

    /* MISC: timer rate, HLT and wait-for-SIPI activity states (not
     * shutdown), 4 CR3 targets. */
    ck_assert(vmx_capability_msr(VMX_MSR_MISC, &cap));
    ck_assert_uint_eq(cap & 0x1F, VMX_PREEMPT_RATE);
    ck_assert((cap >> 6) & 1);
    ck_assert_uint_eq((cap >> 7) & 3, 2);
    ck_assert_uint_eq((cap >> 16) & 0x1FF, 4);
    /* Fixed bits: fixed0 within fixed1. */
    uint64_t f0, f1;
    ck_assert(vmx_capability_msr(VMX_MSR_CR0_FIXED0, &f0));
    ck_assert(vmx_capability_msr(VMX_MSR_CR0_FIXED1, &f1));
    ck_assert_uint_eq(f0 & ~f1, 0);
    ck_assert_uint_eq(f0, CPU_CR0_PE | CPU_CR0_NE | CPU_CR0_PG);
    /* Bits 31:0 may be 1, as processors report (A.7): the reserved ones
     * cannot be set anyway; kvm-unit-tests' VMXON test expects a #GP for
     * any bit FIXED1 forbids that MOV to CR0 accepts. */
    ck_assert_uint_eq(f1, 0xFFFFFFFFull);
    ck_assert(vmx_capability_msr(VMX_MSR_CR4_FIXED0, &f0));
    ck_assert(vmx_capability_msr(VMX_MSR_CR4_FIXED1, &f1));
    ck_assert_uint_eq(f0 & ~f1, 0);
    ck_assert_uint_eq(f0, CPU_CR4_VMXE);
    /* Every CR4 bit the interpreter supports may be 1 in VMX operation
     * (4-MByte pages with CR4.PSE came with 32-bit paging). */
    ck_assert_uint_eq(f1, CPU_CR4_TSD | CPU_CR4_DE | CPU_CR4_PSE | CPU_CR4_PAE | CPU_CR4_PGE |
                              CPU_CR4_PCE | CPU_CR4_VMXE);
    /* VMCS_ENUM: the highest index of any supported field. */
    static const uint32_t all[] = {
#define X(name, enc) enc,
        VMX_VMCS_FIELDS(X)
#undef X
    };
    unsigned hi = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (VMX_ENC_INDEX(all[i]) > hi)
            hi = VMX_ENC_INDEX(all[i]);
    ck_assert(vmx_capability_msr(VMX_MSR_VMCS_ENUM, &cap));
    ck_assert_uint_eq((cap >> 1) & 0x1FF, hi);
    /* EPT: 4-level walks, WB, 2M/1G pages, no A/D. */
    ck_assert(vmx_capability_msr(VMX_MSR_EPT_VPID_CAP, &cap));
    ck_assert((cap >> 6) & 1);
    ck_assert((cap >> 14) & 1);
    ck_assert_uint_eq((cap >> 21) & 1, 0);
    /* INVVPID (32) with its four types (40-43), nothing else above. */
    ck_assert_uint_eq(cap >> 32, 0xF01);
    ck_assert(vmx_capability_msr(VMX_MSR_VMFUNC, &cap));
    ck_assert(!vmx_capability_msr(0x47F, &cap));
    ck_assert(!vmx_capability_msr(0x492, &cap));
}
END_TEST

/* ---- EPT (SDM 28.2) ------------------------------------------------------------ */

static cpu_phys ept_phys;

static void put(uint64_t pa, uint64_t val)
{
    uint8_t *p = cpu_phys_ptr_write(&ept_phys, pa, 8);
    ck_assert_ptr_nonnull(p);
    memcpy(p, &val, 8);
}

START_TEST(test_ept_walk)
{
    ck_assert(cpu_phys_init(&ept_phys, 1u << 20, 1u << 20));
    uint64_t pml4 = cpu_phys_host_alloc(&ept_phys, 4096);
    uint64_t pdpt = cpu_phys_host_alloc(&ept_phys, 4096);
    uint64_t pd = cpu_phys_host_alloc(&ept_phys, 4096);
    uint64_t pt = cpu_phys_host_alloc(&ept_phys, 4096);
    uint64_t eptp = pml4 | (3 << 3) | 6;
    put(pml4, pdpt | 7);
    put(pdpt + 0 * 8, pd | 7);                          /* 0 .. 1G through a PD */
    put(pdpt + 1 * 8, (5ull << 30) | (6 << 3) | 0x80 | 7); /* 1G..2G → 5G, 1-GByte page */
    put(pd + 0 * 8, pt | 7);                            /* 0 .. 2M through a PT */
    put(pd + 1 * 8, 0x40000000ull | (6 << 3) | 0x80 | 1); /* 2M..4M read-only 2-MByte page */
    put(pt + 1 * 8, 0x9000 | (6 << 3) | 3);             /* 4K page 1 → 9000H, RW, no X */
    put(pt + 2 * 8, 0xA000 | (6 << 3) | 4);             /* execute-only */
    put(pt + 3 * 8, 0xB000 | (6 << 3) | 2);             /* write-only: misconfigured */
    put(pt + 4 * 8, 0xC000 | (2 << 3) | 7);             /* memory type 2: misconfigured */
    uint64_t hpa = 0, qual = 0, e = 0;

    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x1234, CPU_ACC_READ, &hpa, &qual, &e), VMX_EPT_OK);
    ck_assert_uint_eq(hpa, 0x9234);
    ck_assert_uint_eq(qual, 3 << 3);
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x1234, CPU_ACC_WRITE, &hpa, &qual, &e), VMX_EPT_OK);
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x1234, CPU_ACC_FETCH, &hpa, &qual, &e),
                     VMX_EPT_VIOLATION);
    ck_assert_uint_eq(qual, 4 | (3 << 3));
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x2010, CPU_ACC_FETCH, &hpa, &qual, &e), VMX_EPT_OK);
    ck_assert_uint_eq(hpa, 0xA010);
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x2010, CPU_ACC_READ, &hpa, &qual, &e),
                     VMX_EPT_VIOLATION);
    ck_assert_uint_eq(qual, 1 | (4 << 3));
    /* 2-MByte page, read-only. */
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x212345, CPU_ACC_READ, &hpa, &qual, &e), VMX_EPT_OK);
    ck_assert_uint_eq(hpa, 0x40012345);
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x212345, CPU_ACC_WRITE, &hpa, &qual, &e),
                     VMX_EPT_VIOLATION);
    ck_assert_uint_eq(qual, 2 | (1 << 3));
    /* 1-GByte page. */
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x40000000ull + 0x123456, CPU_ACC_WRITE, &hpa,
                                  &qual, &e),
                     VMX_EPT_OK);
    ck_assert_uint_eq(hpa, (5ull << 30) + 0x123456);
    /* Not present: a violation with no permissions. */
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x5000, CPU_ACC_READ, &hpa, &qual, &e),
                     VMX_EPT_VIOLATION);
    ck_assert_uint_eq(qual, 1);
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x80000000ull, CPU_ACC_WRITE, &hpa, &qual, &e),
                     VMX_EPT_VIOLATION);
    ck_assert_uint_eq(qual, 2);
    /* Misconfigurations. */
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x3000, CPU_ACC_READ, &hpa, &qual, &e),
                     VMX_EPT_MISCONFIG);
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x4000, CPU_ACC_READ, &hpa, &qual, &e),
                     VMX_EPT_MISCONFIG);
    put(pml4, pdpt | 0x80 | 7); /* PML4E bit 7 reserved */
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, 0x1000, CPU_ACC_READ, &hpa, &qual, &e),
                     VMX_EPT_MISCONFIG);
    cpu_phys_free(&ept_phys);
}
END_TEST

/* Tables confined below a bound (the built-in hypervisor's RAM size for
 * tables its guest builds): a table entry that names a page of the host's
 * memory as the next table reads as not present (a violation) instead of
 * reading that page. */
START_TEST(test_ept_walk_bounded)
{
    ck_assert(cpu_phys_init(&ept_phys, 1u << 20, 1u << 20));
    const uint64_t ram = 1u << 20, pml4 = 0x10000, pdpt = 0x11000, pd = 0x12000;
    uint64_t host_pdpt = cpu_phys_host_alloc(&ept_phys, 4096);
    uint64_t eptp = pml4 | (3 << 3) | 6;
    put(pml4, pdpt | 7);
    put(pml4 + 8, host_pdpt | 7);                          /* 512G.. through a host page */
    put(host_pdpt, (1ull << 30) | (6 << 3) | 0x80 | 7);    /* what the host page would say */
    put(pdpt, pd | 7);
    put(pd, 0x200000 | (6 << 3) | 0x80 | 7);               /* 0..2M → 2M */
    uint64_t hpa = 0, qual = 0, e = 0;
    /* Tables in RAM: translated as before. */
    ck_assert_int_eq(vmx_ept_walk_bounded(&ept_phys, eptp, 0x1234, CPU_ACC_READ, ram, &hpa, &qual,
                                          &e),
                     VMX_EPT_OK);
    ck_assert_uint_eq(hpa, 0x201234);
    /* A table in host memory: unbounded, the host page is read as one... */
    ck_assert_int_eq(vmx_ept_walk(&ept_phys, eptp, (1ull << 39) + 0x5678, CPU_ACC_READ, &hpa,
                                  &qual, &e),
                     VMX_EPT_OK);
    ck_assert_uint_eq(hpa, (1ull << 30) + 0x5678);
    /* ...bounded, it is not present: a violation, nothing read from it. */
    ck_assert_int_eq(vmx_ept_walk_bounded(&ept_phys, eptp, (1ull << 39) + 0x5678, CPU_ACC_READ,
                                          ram, &hpa, &qual, &e),
                     VMX_EPT_VIOLATION);
    ck_assert_uint_eq(e, 0);
    ck_assert_uint_eq(qual, 1);
    /* An EPTP outside the bound: not even the PML4 is read. */
    ck_assert_int_eq(vmx_ept_walk_bounded(&ept_phys, host_pdpt | (3 << 3) | 6, 0, CPU_ACC_READ,
                                          ram, &hpa, &qual, &e),
                     VMX_EPT_VIOLATION);
    cpu_phys_free(&ept_phys);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_exit_decisions");
    TCase *t = tcase_create("decisions");
    tcase_add_test(t, test_io_bitmap);
    tcase_add_test(t, test_msr_bitmap);
    tcase_add_test(t, test_cr_qualification);
    tcase_add_test(t, test_cr0_cr4_mask_shadow);
    tcase_add_test(t, test_cr3_targets);
    tcase_add_test(t, test_capability_consistency);
    tcase_add_test(t, test_ept_walk);
    tcase_add_test(t, test_ept_walk_bounded);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
