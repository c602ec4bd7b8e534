/*
 * test_exits.c — the exit decisions of VMX non-root operation (SDM Vol. 3C
 * 25.1.3 and 27.2.1), the capability MSRs (Vol. 3D appendix A), the EPT walk
 * (28.2), and guest code run in non-root operation up to its VM exit.
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
                    VMX_PROC_TSC_OFFSET | VMX_PROC_RDTSC | VMX_PROC_PAUSE;
    ck_assert_uint_eq(proc1 & want, want);
    ck_assert_uint_eq(proc1 & VMX_PROC_MOV_DR, 0);
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
    ck_assert_uint_eq(f1, CPU_CR4_TSD | CPU_CR4_PSE | CPU_CR4_PAE | CPU_CR4_PGE | CPU_CR4_PCE |
                              CPU_CR4_VMXE);
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

/* ---- guest code in non-root operation ------------------------------------ */

static cpu_harness h;
static vmx_vcpu v;
static apic_t apic;

#define SET(f, val) vmx_vmcs_set(&v.vmcs, VMCS_##f, (val))
#define GET(f) vmx_vmcs_get(&v.vmcs, VMCS_##f)
#define OR(f, bits) SET(f, GET(f) | (bits))

static void run_setup(void)
{
    cpu_harness_init(&h);
    apic_init(&apic, &h.cpu, 0, true, &h.obs);
    vmx_vcpu_init(&v, &h.cpu, &apic, &h.phys, &h.obs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
}

static void run_teardown(void)
{
    cpu_harness_free(&h);
}

/* Loads code at CPU_HARNESS_CODE and takes the guest state from the CPU. */
static void load_guest(const uint8_t *code, size_t len)
{
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, len);
    h.cpu.rip = CPU_HARNESS_CODE;
    vmx_setup_guest_from_cpu(&v);
}

static void enter_and_run(void)
{
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert(v.exited);
    ck_assert(!v.non_root);
}

static unsigned n_entry, n_exit;
static uint64_t exit_reason_ev, exit_rip_ev;
static void count_events(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    if (ev->kind == VMX_EV_VMENTRY)
        n_entry++;
    if (ev->kind == VMX_EV_VMEXIT) {
        n_exit++;
        exit_reason_ev = ev->a;
        exit_rip_ev = ev->c;
    }
}

/* A 32-bit PAE guest (IA-32e mode off): flat 32-bit code and data at GDT
 * selectors 28H/30H, CR4.PAE with the PDPT at 210000H, paging on. */
static void pae_guest_state(cpu_t *c)
{
    cpu_enter_flat32(c, CPU_HARNESS_CODE);
    c->seg[CPU_CS].sel = 0x28;
    for (unsigned s = 0; s < CPU_NSEG; s++)
        if (s != CPU_CS)
            c->seg[s].sel = 0x30;
    c->gdtr.limit = 0x37;
    c->efer = 0;
    c->cr4 = CPU_CR4_PAE;
    c->cr3 = 0x210000;
    c->cr0 |= CPU_CR0_PG;
    cpu_update_mode(c);
}

/* A guest in 32-bit protected mode with PAE paging, without EPT: VM entry
 * loads its PDPTEs from the table at guest CR3 (SDM 26.3.2.4), whatever the
 * CPU's PDPTE registers held before, so its load through a 2-MByte page
 * works and the CPUID after it exits. Runs once the VM-entry controls allow
 * "IA-32e mode guest" = 0 (guests outside IA-32e mode). */
START_TEST(test_run_pae_guest_pdptes)
{
    cpu_t *c = &h.cpu;
    uint64_t cap = 0;
    vmx_capability_msr(VMX_MSR_TRUE_ENTRY_CTLS, &cap);
    if (cap & VMX_ENTRY_IA32E) {
        fprintf(stderr, "test_run_pae_guest_pdptes: skipped: IA32_VMX_TRUE_ENTRY_CTLS requires "
                        "\"IA-32e mode guest\" = 1 (no guests outside IA-32e mode yet)\n");
        return;
    }
    static const uint64_t w[][2] = {
        {0x528, 0x00CF9A000000FFFFull}, {0x530, 0x00CF92000000FFFFull}, /* 32-bit code, data */
        {0x210000, 0x211000 | 1},                                       /* PDPTE 0 */
        {0x211000, 0x87}, {0x211008, 0x200000 | 0x87},                  /* 0..4 MiB identity */
        {0x211020, 0x400000 | 0x87},                                    /* VA 8 MiB -> 4 MiB */
        {0x400010, 0x5A5A},
    };
    for (unsigned k = 0; k < sizeof w / sizeof w[0]; k++)
        ck_assert(cpu_phys_write(&h.phys, w[k][0], &w[k][1], 8));
    pae_guest_state(c);
    static const uint8_t code[] = {0x8B, 0x1D, 0x10, 0x00, 0x80, 0x00, /* mov ebx, [0x800010] */
                                   0x0F, 0xA2,                         /* cpuid */
                                   0xF4};
    load_guest(code, sizeof code);
    ck_assert(!(GET(ENTRY_CONTROLS) & VMX_ENTRY_IA32E));
    memset(c->pdpte, 0, sizeof c->pdpte);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 6);
    ck_assert_uint_eq((uint32_t)c->gpr[CPU_RBX], 0x5A5A);
}
END_TEST

/* With EPT a PAE guest's PDPTEs live in the guest PDPTE fields between
 * exits and entries: the guest switches to a second PDPT with MOV CR3 (no
 * exit), CPUID exits and saves the new PDPTEs (SDM 27.3.4), and the next
 * entry loads them back (26.3.2.4): the same VA then reads the second
 * table's page. */
START_TEST(test_run_pae_guest_pdptes_ept)
{
    cpu_t *c = &h.cpu;
    uint64_t cap = 0;
    vmx_capability_msr(VMX_MSR_TRUE_ENTRY_CTLS, &cap);
    if (cap & VMX_ENTRY_IA32E) {
        fprintf(stderr, "test_run_pae_guest_pdptes_ept: skipped: IA32_VMX_TRUE_ENTRY_CTLS requires "
                        "\"IA-32e mode guest\" = 1 (no guests outside IA-32e mode yet)\n");
        return;
    }
    static const uint64_t w[][2] = {
        {0x528, 0x00CF9A000000FFFFull}, {0x530, 0x00CF92000000FFFFull},
        {0x210000, 0x211000 | 1}, {0x211000, 0x87}, {0x211008, 0x200000 | 0x87},
        {0x211020, 0x400000 | 0x87}, /* PDPT A: VA 8 MiB -> 4 MiB */
        {0x220000, 0x221000 | 1}, {0x221000, 0x87}, {0x221008, 0x200000 | 0x87},
        {0x221020, 0x600000 | 0x87}, /* PDPT B: VA 8 MiB -> 6 MiB */
        {0x400010, 0x5A5A}, {0x600010, 0x6B6B},
    };
    for (unsigned k = 0; k < sizeof w / sizeof w[0]; k++)
        ck_assert(cpu_phys_write(&h.phys, w[k][0], &w[k][1], 8));
    pae_guest_state(c);
    static const uint8_t code[] = {0x8B, 0x1D, 0x10, 0x00, 0x80, 0x00, /* mov ebx, [0x800010] */
                                   0xB8, 0x00, 0x00, 0x22, 0x00,       /* mov eax, PDPT B */
                                   0x0F, 0x22, 0xD8,                   /* mov cr3, eax */
                                   0x0F, 0xA2,                         /* cpuid */
                                   0x8B, 0x0D, 0x10, 0x00, 0x80, 0x00, /* mov ecx, [0x800010] */
                                   0xF4};
    load_guest(code, sizeof code);
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pdpt = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pd = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t e = pdpt | 7;
    ck_assert(cpu_phys_write(&h.phys, pml4, &e, 8));
    e = pd | 7;
    ck_assert(cpu_phys_write(&h.phys, pdpt, &e, 8));
    for (uint64_t k = 0; k < 8; k++) {
        e = (k << 21) | (6 << 3) | 0x80 | 7;
        ck_assert(cpu_phys_write(&h.phys, pd + k * 8, &e, 8));
    }
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY | VMX_PROC_HLT);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, pml4 | (3 << 3) | 6);
    SET(GUEST_PDPTE0, 0x211000 | 1);
    memset(c->pdpte, 0, sizeof c->pdpte);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq((uint32_t)c->gpr[CPU_RBX], 0x5A5A);
    ck_assert_uint_eq(GET(GUEST_CR3), 0x220000);
    ck_assert_uint_eq(GET(GUEST_PDPTE0), 0x221000 | 1);
    SET(GUEST_RIP, GET(GUEST_RIP) + 2);
    memset(c->pdpte, 0, sizeof c->pdpte);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq((uint32_t)c->gpr[CPU_RCX], 0x6B6B);
}
END_TEST

/* SDM 26.3.1.6: a PAE guest's present PDPTE with a reserved bit (here bit
 * 52, above MAXPHYADDR) fails the entry with exit 33, qualification 2 —
 * read from the table at guest CR3 without EPT, from the guest PDPTE
 * fields with EPT; a non-present one with the same bit is fine. */
START_TEST(test_entry_pdpte_reserved_bits)
{
    cpu_t *c = &h.cpu;
    static const uint64_t w[][2] = {
        {0x528, 0x00CF9A000000FFFFull}, {0x530, 0x00CF92000000FFFFull},
        {0x210000, 0x211000 | 1 | (1ull << 52)}, /* PDPTE 0: reserved bit 52 */
        {0x211000, 0x87},
    };
    for (unsigned k = 0; k < sizeof w / sizeof w[0]; k++)
        ck_assert(cpu_phys_write(&h.phys, w[k][0], &w[k][1], 8));
    pae_guest_state(c);
    static const uint8_t code[] = {0x0F, 0xA2};
    load_guest(code, sizeof code);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.exited);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_ENTRY_FAIL_GUEST | VMX_EXIT_REASON_ENTRY_FAIL);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2);
    ck_assert_int_eq(v.last_check, VMX_CHECK_GUEST_PDPTE);
    /* With EPT the fields count, not memory. */
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    SET(EPT_POINTER, pml4 | (3 << 3) | 6);
    SET(GUEST_PDPTE0, 0x211000 | 1);
    SET(GUEST_PDPTE1, 0x212000 | 1 | (1ull << 52));
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.exited);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2);
    SET(GUEST_PDPTE1, (1ull << 52)); /* not present: the bit is ignored */
    ck_assert_int_eq(vmx_entry_check(&v), VMX_CHECK_NONE);
}
END_TEST

START_TEST(test_run_cpuid_exit)
{
    n_entry = n_exit = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count_events, NULL));
    static const uint8_t code[] = {0x48, 0xC7, 0xC0, 0x07, 0, 0, 0, /* mov rax, 7 */
                                   0x0F, 0xA2,                      /* cpuid */
                                   0xF4};
    load_guest(code, sizeof code);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 2);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7); /* fault-like: at the CPUID */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 7);
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_CPUID], 1);
    ck_assert_uint_eq(n_entry, 1);
    ck_assert_uint_eq(n_exit, 1);
    ck_assert_uint_eq(exit_reason_ev, VMX_EXIT_CPUID);
    ck_assert_uint_eq(exit_rip_ev, CPU_HARNESS_CODE + 7);
    /* The root hooks are back. */
    ck_assert_ptr_null(h.cpu.hooks.intercept);
    /* The saved guest state enters again: resume at the same CPUID. */
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 7);
}
END_TEST

/* SDM 26.3.2.1: the reserved bits 15:6, 17, 28:19 of the CR0 field (allowed
 * by IA32_VMX_CR0_FIXED1) and ET are ignored by VM entry; the guest reads
 * its CR0 without them, and the exit saves that. */
START_TEST(test_entry_cr0_reserved_bits_ignored)
{
    static const uint8_t code[] = {0x0F, 0x20, 0xC3, /* mov rbx, cr0 */
                                   0x0F, 0xA2};      /* cpuid */
    load_guest(code, sizeof code);
    uint64_t cr0 = GET(GUEST_CR0);
    SET(GUEST_CR0, (cr0 | (1u << 6) | (1u << 17) | (1u << 20)) & ~(uint64_t)CPU_CR0_ET);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], cr0);
    ck_assert_uint_eq(GET(GUEST_CR0), cr0);
}
END_TEST

START_TEST(test_run_io_exit)
{
    static const uint8_t code[] = {0xB0, 0x41,       /* mov al, 41h */
                                   0xE6, 0x80,       /* out 80h, al */
                                   0xF4};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_UNCOND_IO);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_IO);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), (0x80u << 16) | 0x40); /* OUT imm8, 1 byte */
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 2);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 2);
}
END_TEST

/* A root I/O hook that asks the run to stop now, as the machine does when
 * an event (an I/O APIC message raised by this OUT) is due for the CPU. */
static bool io_lowers_limit(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in,
                            uint32_t *val)
{
    (void)ctx, (void)port, (void)size, (void)in, (void)val;
    c->cycle_limit = c->cycles;
    return true;
}

START_TEST(test_run_stops_when_limit_lowered)
{
    static const uint8_t code[] = {0xB0, 0x41, /* mov al, 41h */
                                   0xE6, 0x80, /* out 80h, al (no I/O exiting) */
                                   0xEB, 0xFE};
    load_guest(code, sizeof code);
    cpu_hooks hooks = {.io = io_lowers_limit};
    cpu_set_hooks(&h.cpu, &hooks);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    uint64_t limit = h.cpu.cycles + 100000;
    ck_assert_int_eq(vmx_run(&v, limit), CPU_STOP_CYCLES);
    /* Back to the caller right after the OUT, still in non-root operation,
     * not at the caller's limit. */
    ck_assert(!v.exited);
    ck_assert(v.non_root);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 4);
    ck_assert_uint_lt(h.cpu.cycles, limit - 90000);
}
END_TEST

START_TEST(test_run_hlt_exit_and_vmcall)
{
    static const uint8_t code[] = {0x0F, 0x01, 0xC1, /* vmcall */
                                   0xF4};
    load_guest(code, sizeof code);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_VMCALL);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 3);
    /* The hypervisor skips the VMCALL; HLT exiting on: exit 12. */
    SET(GUEST_RIP, GET(GUEST_RIP) + GET(EXIT_INSN_LEN));
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 3);
    ck_assert_uint_eq(GET(GUEST_ACTIVITY_STATE), VMX_ACTIVITY_ACTIVE);
}
END_TEST

START_TEST(test_run_cr0_exit_and_shadow)
{
    static const uint8_t code[] = {0x0F, 0x20, 0xC3, /* mov rbx, cr0 */
                                   0x48, 0x89, 0xD8, /* mov rax, rbx */
                                   0x48, 0x0F, 0xBA, 0xE8, 0x05, /* bts rax, 5 (NE) */
                                   0x0F, 0x22, 0xC0, /* mov cr0, rax */
                                   0xF4};
    load_guest(code, sizeof code);
    SET(CR0_GUEST_HOST_MASK, CPU_CR0_NE);
    SET(CR0_READ_SHADOW, 0);
    enter_and_run();
    /* The read saw NE from the shadow (0); setting it differs from the
     * shadow: CR-access exit with MOV to CR0 from RAX. */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX] & CPU_CR0_NE, 0);
    ck_assert(h.cpu.cr0 & CPU_CR0_NE);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CR_ACCESS);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 0);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 11);
}
END_TEST

START_TEST(test_run_interrupt_window)
{
    static const uint8_t code[] = {0x90, 0xFB, 0x90, 0x90, 0xF4}; /* nop; sti; nop; nop; hlt */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_INTR_WINDOW);
    enter_and_run();
    /* IF = 0 at entry: no exit until STI and its shadow are over. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_INTERRUPT_WINDOW);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 3);
    ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY), 0);
}
END_TEST

/* A VM entry and a VM exit each move the clock by their class of the cost
 * model (docs/cost-model.md): a preemption timer of 0 exits before the
 * first guest instruction (SDM 25.5.1), so the round trip costs exactly
 * the two, with any model. */
START_TEST(test_entry_and_exit_cost_cycles)
{
    static const uint8_t code[] = {0xEB, 0xFE}; /* jmp $ */
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_PREEMPT_TIMER);
    SET(PREEMPT_TIMER_VALUE, 0);
    h.costs.cost[CPU_COST_VMENTRY] = 123;
    h.costs.cost[CPU_COST_VMEXIT] = 45;
    uint64_t start = h.cpu.cycles, insns = h.cpu.insns;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_PREEMPT_TIMER);
    ck_assert_uint_eq(h.cpu.insns, insns);
    ck_assert_uint_eq(h.cpu.cycles, start + 123 + 45);
    /* The default model charges both too. */
    cpu_cost_model d;
    cpu_cost_default(&d);
    ck_assert_uint_gt(d.cost[CPU_COST_VMENTRY], 0);
    ck_assert_uint_gt(d.cost[CPU_COST_VMEXIT], 0);
}
END_TEST

START_TEST(test_run_preemption_timer)
{
    static const uint8_t code[] = {0xEB, 0xFE}; /* jmp $ */
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_PREEMPT_TIMER);
    OR(EXIT_CONTROLS, VMX_EXIT_SAVE_PREEMPT_TIMER);
    SET(PREEMPT_TIMER_VALUE, 100);
    uint64_t start = h.cpu.cycles;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_PREEMPT_TIMER);
    ck_assert_uint_ge(h.cpu.cycles, start + (99u << VMX_PREEMPT_RATE));
    /* The timer counts from the end of the entry; the exit costs its own
     * cycles on top (docs/cost-model.md). */
    ck_assert_uint_le(h.cpu.cycles, start + (101u << VMX_PREEMPT_RATE) + 64 +
                                        h.costs.cost[CPU_COST_VMENTRY] +
                                        h.costs.cost[CPU_COST_VMEXIT]);
    ck_assert_uint_eq(GET(PREEMPT_TIMER_VALUE), 0);
}
END_TEST

START_TEST(test_run_external_interrupt_ack)
{
    static const uint8_t code[] = {0x90, 0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING);
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    apic_accept(&apic, 0x51, APIC_DM_FIXED, false);
    enter_and_run();
    /* Taken with IF = 0: external-interrupt exiting ignores RFLAGS.IF. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXTERNAL_INTERRUPT);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | 0x51);
    ck_assert_int_eq(apic_pending_vector(&apic), -1); /* acknowledged: in ISR now */
}
END_TEST

START_TEST(test_run_init_exit)
{
    static const uint8_t code[] = {0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    apic_accept(&apic, 0, APIC_DM_INIT, true);
    v.nmi_pending = true; /* lower priority than INIT */
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_INIT);
    ck_assert(!apic.init_pending);
    ck_assert(v.nmi_pending);
}
END_TEST

START_TEST(test_run_rdtsc_offset)
{
    static const uint8_t code[] = {0x0F, 0x31, 0x0F, 0xA2}; /* rdtsc; cpuid */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_TSC_OFFSET);
    SET(TSC_OFFSET, 1ull << 40);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    uint64_t tsc = (h.cpu.gpr[CPU_RAX] & 0xFFFFFFFF) | (h.cpu.gpr[CPU_RDX] << 32);
    ck_assert_uint_ge(tsc, 1ull << 40);
    ck_assert_uint_lt(tsc, (1ull << 40) + h.cpu.cycles + 1);
    ck_assert_uint_eq(h.cpu.tsc_offset, 0); /* root offset back after the exit */
}
END_TEST

START_TEST(test_run_injected_exception)
{
    static const uint8_t code[] = {0x0F, 0xA2};
    load_guest(code, sizeof code);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_HW_EXC << 8) |
                             VMX_INTR_INFO_ERROR_VALID | 13);
    SET(ENTRY_EXCEPTION_ERROR, 0x18);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    enter_and_run();
    /* #GP delivered through the guest IDT; its handler is a HLT. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(13));
    uint64_t err = cpu_harness_peek64(&h, GET(GUEST_RSP));
    ck_assert_uint_eq(err, 0x18);
    ck_assert_uint_eq(GET(ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID, 0);
    ck_assert_uint_eq(GET(IDT_VECTORING_INFO), 0);
}
END_TEST

START_TEST(test_run_exception_bitmap_idt_vectoring)
{
    /* Inject external interrupt 40H while the exception bitmap intercepts
     * #NP: the IDT gate of 40H is not present, so delivering it raises
     * #NP(40H*8+2+EXT), which exits with the interrupt in the IDT-vectoring
     * information (SDM 27.2.3). A benign first event: no #DF. */
    static const uint8_t code[] = {0x90};
    load_guest(code, sizeof code);
    uint64_t gate = cpu_harness_peek64(&h, CPU_HARNESS_IDT + 0x40 * 16);
    gate &= ~(1ull << 47);
    ck_assert(cpu_phys_write(&h.phys, CPU_HARNESS_IDT + 0x40 * 16, &gate, 8));
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_NP);
    SET(GUEST_RFLAGS, GET(GUEST_RFLAGS) | CPU_FL_IF);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_EXT << 8) | 0x40);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_HW_EXC << 8) |
                                               VMX_INTR_INFO_ERROR_VALID | CPU_EXC_NP);
    ck_assert_uint_eq(GET(EXIT_INTR_ERROR), 0x40 * 8 + 2 + 1);
    ck_assert_uint_eq(GET(IDT_VECTORING_INFO), VMX_INTR_INFO_VALID | 0x40);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
}
END_TEST

START_TEST(test_run_rdtscp)
{
    static const uint8_t code[] = {0x0F, 0x01, 0xF9, 0xF4}; /* rdtscp; hlt */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    enter_and_run();
    /* "enable RDTSCP" = 0: #UD through the guest IDT (its handler halts). */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_UD));
    /* Enabled, with RDTSC exiting: exit 51 at the instruction. */
    vmx_vmcs_clear(&v.vmcs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY | VMX_PROC_RDTSC);
    SET(PROC_CONTROLS2, VMX_PROC2_RDTSCP);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_RDTSCP);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 3);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
}
END_TEST

START_TEST(test_run_nmi_exit)
{
    static const uint8_t code[] = {0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING);
    v.nmi_pending = true;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_NMI << 8) | 2);
    ck_assert(!v.nmi_pending);
}
END_TEST

START_TEST(test_run_nmi_delivered_to_guest)
{
    static const uint8_t code[] = {0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    v.nmi_pending = true;
    enter_and_run();
    /* NMI exiting = 0: the NMI goes through the guest IDT; blocking by NMI
     * is saved in the interruptibility state. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_NMI));
    ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY), VMX_INTERRUPTIBILITY_NMI);
}
END_TEST

/* IRET ends blocking by NMI (SDM Vol. 3A 6.7.1) and, with virtual NMIs,
 * virtual-NMI blocking (SDM 25.3): the NMI handler here is an IRETQ, so the
 * HLT exit after it saves an interruptibility state without NMI blocking. */
START_TEST(test_run_iret_unblocks_nmi)
{
    static const uint8_t code[] = {0x90, 0xF4};
    static const uint8_t iretq[] = {0x48, 0xCF};
    for (int virtual_nmis = 0; virtual_nmis < 2; virtual_nmis++) {
        load_guest(code, sizeof code);
        ck_assert(cpu_phys_write(&h.phys, CPU_HARNESS_HANDLER(CPU_EXC_NMI), iretq, sizeof iretq));
        OR(PROC_CONTROLS, VMX_PROC_HLT);
        if (virtual_nmis) {
            OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS);
            SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_NMI << 8) | 2);
        } else {
            v.nmi_pending = true;
        }
        enter_and_run();
        ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
        ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 1);
        ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY) & VMX_INTERRUPTIBILITY_NMI, 0);
        vmx_vmcs_clear(&v.vmcs);
        vmx_setup_default_controls(&v);
        vmx_setup_host_state(&v);
    }
}
END_TEST

START_TEST(test_run_bitmaps)
{
    static const uint8_t code[] = {
        0xE6, 0x80,                               /* out 80h, al: bit clear, no exit */
        0xB9, 0x80, 0x00, 0x00, 0xC0,             /* mov ecx, C0000080h */
        0x0F, 0x32,                               /* rdmsr: read bit clear, no exit */
        0x0F, 0x30,                               /* wrmsr: write bit set, exit 32 */
        0xF4};
    load_guest(code, sizeof code);
    uint64_t a = cpu_phys_host_alloc(&h.phys, 4096), b = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t m = cpu_phys_host_alloc(&h.phys, 4096);
    uint8_t *mp = cpu_phys_ptr_write(&h.phys, m, 4096);
    set_bit(mp, 3072 * 8 + 0x80);
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS | VMX_PROC_UNCOND_IO | VMX_PROC_MSR_BITMAPS);
    SET(IO_BITMAP_A, a);
    SET(IO_BITMAP_B, b);
    SET(MSR_BITMAP, m);
    enter_and_run();
    /* The I/O bitmaps override unconditional I/O exiting (SDM 25.1.3). */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_WRMSR);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 9);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX] & 0xFFFFFFFF, (uint32_t)h.cpu.efer);
    /* Now the port's bit is set: IN exits with direction IN, size 1. */
    static const uint8_t code2[] = {0xE4, 0x71, 0xF4}; /* in al, 71h */
    vmx_vmcs_clear(&v.vmcs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    load_guest(code2, sizeof code2);
    set_bit(cpu_phys_ptr_write(&h.phys, a, 4096), 0x71);
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS);
    SET(IO_BITMAP_A, a);
    SET(IO_BITMAP_B, b);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_IO);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), (0x71u << 16) | 0x40 | 8 | 0);
    /* The DX form clears the operand-encoding bit (SDM Table 27-5 bit 6). */
    static const uint8_t code3[] = {0x66, 0xBA, 0x71, 0x00, 0xEC, 0xF4}; /* mov dx, 71h; in al, dx */
    vmx_vmcs_clear(&v.vmcs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    load_guest(code3, sizeof code3);
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS);
    SET(IO_BITMAP_A, a);
    SET(IO_BITMAP_B, b);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_IO);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), (0x71u << 16) | 8);
}
END_TEST

/* Monitor trap flag (SDM 25.5.2): one instruction, then exit 37 with RIP
 * at the next one; a pending MTF exit injected with type 7 exits before
 * the first instruction. */
START_TEST(test_run_mtf)
{
    static const uint8_t code[] = {0x90, 0x48, 0xFF, 0xC0, 0xF4}; /* nop; inc rax; hlt */
    load_guest(code, sizeof code);
    h.cpu.gpr[CPU_RAX] = 0;
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_OTHER << 8));
    OR(PROC_CONTROLS, VMX_PROC_MTF);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
    for (unsigned step = 1; step <= 2; step++) {
        ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
        ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
        ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    }
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 4);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 1);
    /* The HLT executes, then the MTF exit reports the HLT activity state. */
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    ck_assert_uint_eq(GET(GUEST_ACTIVITY_STATE), VMX_ACTIVITY_HLT);
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_MTF], 4);
}
END_TEST

/* MTF over an instruction that faults (ud2, #UD not in the exception
 * bitmap): the #UD is delivered through the guest IDT and the MTF exit
 * comes with RIP at the handler's first instruction, not after it
 * (SDM 25.5.2; the harness handler is a HLT). */
START_TEST(test_run_mtf_fault_delivered)
{
    static const uint8_t code[] = {0x0F, 0x0B}; /* ud2 */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_MTF);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_UD));
    ck_assert_uint_eq(GET(GUEST_ACTIVITY_STATE), VMX_ACTIVITY_ACTIVE);
}
END_TEST

/* CR8-load exiting, CR4 read shadow and CR3 targets in guest code. */
START_TEST(test_run_cr8_cr4_cr3)
{
    static const uint8_t code[] = {
        0x0F, 0x20, 0xE1,       /* mov rcx, cr4: shadowed VMXE */
        0x0F, 0x20, 0xDA,       /* mov rdx, cr3 */
        0x0F, 0x22, 0xDA,       /* mov cr3, rdx: a CR3 target, no exit */
        0x4C, 0x0F, 0x22, 0xC3, /* mov cr8, rbx */
        0xF4};
    load_guest(code, sizeof code);
    h.cpu.gpr[CPU_RBX] = 2;
    OR(PROC_CONTROLS, VMX_PROC_CR8_LOAD | VMX_PROC_CR3_LOAD);
    SET(CR3_TARGET0, h.cpu.cr3);
    SET(CR3_TARGET_COUNT, 1);
    enter_and_run();
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & CPU_CR4_VMXE, 0);
    ck_assert(h.cpu.cr4 & CPU_CR4_VMXE);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CR_ACCESS);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 8 | (CPU_RBX << 8));
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 9);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 4);
}
END_TEST

/* EPT (SDM 28.2): identity 2-MByte pages, the second one read-only; a
 * guest read there is fine, a write after it (same TLB entry) is an EPT
 * violation with the guest-physical address. */
START_TEST(test_run_ept_violation)
{
    static const uint8_t code[] = {0xB8, 0x00, 0x00, 0x20, 0x00, /* mov eax, 200000h */
                                   0x8A, 0x18,                   /* mov bl, [rax]: allowed */
                                   0xC6, 0x00, 0x01,             /* mov byte [rax], 1 */
                                   0xF4};
    load_guest(code, sizeof code);
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pdpt = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pd = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t e = pdpt | 7;
    ck_assert(cpu_phys_write(&h.phys, pml4, &e, 8));
    e = pd | 7;
    ck_assert(cpu_phys_write(&h.phys, pdpt, &e, 8));
    for (uint64_t k = 0; k < 8; k++) {
        e = (k << 21) | (6 << 3) | 0x80 | (k == 1 ? 1 : 7);
        ck_assert(cpu_phys_write(&h.phys, pd + k * 8, &e, 8));
    }
    /* Guest PDE of 200000H already dirty: the read may fill a writable TLB
     * entry as far as guest paging is concerned. */
    uint64_t pde = cpu_harness_peek64(&h, 0x4000 + 8) | 0x40;
    ck_assert(cpu_phys_write(&h.phys, 0x4000 + 8, &pde, 8));
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY | VMX_PROC_HLT);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, pml4 | (3 << 3) | 6);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EPT_VIOLATION);
    /* Write, readable; bits 7-8: a linear address's translation (27.2.1). */
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2 | (1 << 3) | (1 << 7) | (1 << 8));
    ck_assert_uint_eq(GET(GUEST_PHYSICAL_ADDR), 0x200000);
    ck_assert_uint_eq(GET(GUEST_LINEAR_ADDR), 0x200000);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7);
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_EPT_VIOLATION], 1);
    /* Made writable, the guest resumes, stores and halts. */
    e = (1ull << 21) | (6 << 3) | 0x80 | 7;
    ck_assert(cpu_phys_write(&h.phys, pd + 8, &e, 8));
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    uint8_t b = 0;
    ck_assert(cpu_phys_read(&h.phys, 0x200000, &b, 1));
    ck_assert_uint_eq(b, 1);

    /* Code on a read/execute-only page still runs (without a TLB fast
     * path); a store to it is a violation with access "write". */
    static const uint8_t code2[] = {0x8B, 0x1C, 0x25, 0x00, 0x00, 0x10, 0x00, /* mov ebx, [100000h] */
                                    0x88, 0x1C, 0x25, 0x00, 0x00, 0x10, 0x00, /* mov [100000h], bl */
                                    0xF4};
    cpu_harness_load(&h, CPU_HARNESS_CODE, code2, sizeof code2);
    e = (6 << 3) | 0x80 | 5;
    ck_assert(cpu_phys_write(&h.phys, pd, &e, 8));
    SET(GUEST_RIP, CPU_HARNESS_CODE);
    SET(GUEST_RFLAGS, 2);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EPT_VIOLATION);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2 | (5 << 3) | (1 << 7) | (1 << 8));
    ck_assert_uint_eq(GET(GUEST_LINEAR_ADDR), 0x100000);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX] & 0xFF, code2[0]);
}
END_TEST

/* NMI-window exiting (SDM 25.5.2 in the 2016 numbering): an exit at the
 * first boundary without virtual-NMI blocking; an injected NMI sets that
 * blocking, so the window stays shut while its handler runs. */
START_TEST(test_run_nmi_window)
{
    static const uint8_t code[] = {0x90, 0xF4};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS);
    OR(PROC_CONTROLS, VMX_PROC_NMI_WINDOW | VMX_PROC_HLT);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_NMI_WINDOW);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_NMI << 8) | 2);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_NMI));
    ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY), VMX_INTERRUPTIBILITY_NMI);
}
END_TEST

/* Non-exiting MOV to CR4 keeps the host-owned VMXE (SDM 25.3); clearing a
 * VMX fixed-1 bit of CR0 that the guest owns is #GP (SDM 23.8). */
START_TEST(test_run_cr_write_fixed_bits)
{
    static const uint8_t code[] = {
        0x0F, 0x20, 0xE0,                   /* mov rax, cr4 (shadow: no VMXE) */
        0x48, 0x0D, 0x80, 0x00, 0x00, 0x00, /* or rax, 80h (PGE) */
        0x0F, 0x22, 0xE0,                   /* mov cr4, rax */
        0x0F, 0x20, 0xC0,                   /* mov rax, cr0 */
        0x48, 0x83, 0xE0, 0xDF,             /* and rax, ~20h (NE) */
        0x0F, 0x22, 0xC0,                   /* mov cr0, rax: #GP */
        0xF4};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_GP));
    ck_assert_uint_eq(GET(GUEST_CR4), CPU_CR4_PAE | CPU_CR4_PGE | CPU_CR4_VMXE);
    ck_assert(GET(GUEST_CR0) & CPU_CR0_NE);
}
END_TEST

/* The posted-interrupt path through the events hook (SDM 29.6): the
 * notification vector is processed without an exit and the posted vector is
 * delivered through the guest IDT; another vector is an ordinary exit 1. */
static uint64_t pi_setup(void)
{
    static const uint8_t code[] = {0xFB, 0x90, 0x90, 0xEB, 0xFE}; /* sti; nop; nop; jmp $ */
    load_guest(code, sizeof code);
    uint64_t vapic = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pid = cpu_phys_host_alloc(&h.phys, 4096);
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING | VMX_PIN_POSTED_INTR);
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW | VMX_PROC_SECONDARY | VMX_PROC_HLT);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_INTR_DELIVERY);
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
    SET(VIRTUAL_APIC_ADDR, vapic);
    SET(POSTED_INTR_DESC_ADDR, pid);
    SET(POSTED_INTR_NV, 0xF2);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    return pid;
}

START_TEST(test_run_posted_interrupt)
{
    uint64_t pid = pi_setup();
    bool send = false;
    ck_assert(vmx_pi_post(&h.phys, pid, 0x41, &send));
    ck_assert(send);
    apic_accept(&apic, 0xF2, APIC_DM_FIXED, false);
    enter_and_run();
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_EXTERNAL_INTERRUPT], 0);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(0x41));
    ck_assert_uint_eq(GET(GUEST_INTR_STATUS), VMX_INTR_STATUS(0, 0x41));
    ck_assert(!vmx_pi_get_on(&h.phys, pid));
    ck_assert_int_eq(apic_pending_vector(&apic), -1);
    ck_assert_uint_eq(apic.isr[0xF2 / 32], 0); /* the physical EOI of step 4 */
}
END_TEST

START_TEST(test_run_posted_other_vector_exits)
{
    pi_setup();
    apic_accept(&apic, 0x51, APIC_DM_FIXED, false);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXTERNAL_INTERRUPT);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | 0x51);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_exits");
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
    TCase *r = tcase_create("nonroot");
    tcase_add_checked_fixture(r, run_setup, run_teardown);
    tcase_add_test(r, test_run_cpuid_exit);
    tcase_add_test(r, test_entry_pdpte_reserved_bits);
    tcase_add_test(r, test_run_io_exit);
    tcase_add_test(r, test_entry_cr0_reserved_bits_ignored);
    tcase_add_test(r, test_run_hlt_exit_and_vmcall);
    tcase_add_test(r, test_run_stops_when_limit_lowered);
    tcase_add_test(r, test_run_cr0_exit_and_shadow);
    tcase_add_test(r, test_run_interrupt_window);
    tcase_add_test(r, test_run_preemption_timer);
    tcase_add_test(r, test_entry_and_exit_cost_cycles);
    tcase_add_test(r, test_run_external_interrupt_ack);
    tcase_add_test(r, test_run_rdtsc_offset);
    tcase_add_test(r, test_run_init_exit);
    tcase_add_test(r, test_run_injected_exception);
    tcase_add_test(r, test_run_exception_bitmap_idt_vectoring);
    tcase_add_test(r, test_run_rdtscp);
    tcase_add_test(r, test_run_bitmaps);
    tcase_add_test(r, test_run_mtf);
    tcase_add_test(r, test_run_mtf_fault_delivered);
    tcase_add_test(r, test_run_cr_write_fixed_bits);
    tcase_add_test(r, test_run_nmi_window);
    tcase_add_test(r, test_run_cr8_cr4_cr3);
    tcase_add_test(r, test_run_ept_violation);
    tcase_add_test(r, test_run_posted_interrupt);
    tcase_add_test(r, test_run_posted_other_vector_exits);
    tcase_add_test(r, test_run_nmi_exit);
    tcase_add_test(r, test_run_nmi_delivered_to_guest);
    tcase_add_test(r, test_run_iret_unblocks_nmi);
    tcase_add_test(r, test_run_pae_guest_pdptes);
    tcase_add_test(r, test_run_pae_guest_pdptes_ept);
    suite_add_tcase(s, r);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
