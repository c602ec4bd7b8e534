/*
 * test_system.c — the system instructions (cpu_system.c, cpu_segment.c,
 * cpu_interrupt.c, cpu_msr.c, cpu_cpuid.c): control registers, descriptor
 * tables, TR, MSRs, IRETQ, segment loads, CPUID, RDTSC. Port I/O, HLT,
 * CLI/STI and the STI shadow, VMCALL/VMX outside non-root and the
 * intercept hook are in test_system_hooks.c.
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

/* ---- control registers ---- */

START_TEST(cr0_upper_bits_gp)
{
    /* movabs rax, 0x100000000; mov cr0, rax; hlt */
    static const uint8_t code[] = {0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
                                   0x00, 0x00, 0x0f, 0x22, 0xc0, 0xf4};
    uint64_t cr0 = h.cpu.cr0;
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 10);
    ck_assert_uint_eq(h.cpu.cr0, cr0);
}
END_TEST

START_TEST(cr0_nw_without_cd_gp)
{
    /* mov rax, cr0; or rax, 0x20000000 (NW); and rax, ~0x40000000 (CD); mov cr0, rax */
    static const uint8_t code[] = {0x0f, 0x20, 0xc0, 0x48, 0x0d, 0x00, 0x00, 0x00, 0x20,
                                   0x48, 0x25, 0xff, 0xff, 0xff, 0xbf, 0x0f, 0x22, 0xc0};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 15);
}
END_TEST

START_TEST(cr0_clear_pg_in_long_mode_gp)
{
    /* mov rax, cr0; btr rax, 31; mov cr0, rax */
    static const uint8_t code[] = {0x0f, 0x20, 0xc0, 0x48, 0x0f, 0xba, 0xf0, 0x1f, 0x0f, 0x22, 0xc0};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 8);
    ck_assert(h.cpu.cr0 & CPU_CR0_PG);
}
END_TEST

START_TEST(cr4_unsupported_bit_gp)
{
    /* mov rax, cr4; or rax, 0x200 (OSFXSR: no SSE here); mov cr4, rax */
    static const uint8_t code[] = {0x0f, 0x20, 0xe0, 0x48, 0x0d, 0x00, 0x02, 0x00, 0x00, 0x0f, 0x22, 0xe0};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 9);
    ck_assert_uint_eq(h.cpu.cr4, CPU_CR4_PAE);
}
END_TEST

START_TEST(cr4_pge_write_and_event)
{
    /* mov rax, cr4; or rax, 0x80 (PGE); mov cr4, rax; mov rbx, cr4; hlt */
    static const uint8_t code[] = {0x0f, 0x20, 0xe0, 0x48, 0x0d, 0x80, 0x00, 0x00, 0x00,
                                   0x0f, 0x22, 0xe0, 0x0f, 0x20, 0xe3, 0xf4};
    nseen = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, record_event, NULL));
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], CPU_CR4_PAE | CPU_CR4_PGE);
    ck_assert_uint_eq(h.cpu.cr4, CPU_CR4_PAE | CPU_CR4_PGE);
    ck_assert_uint_ge(nseen, 1);
    ck_assert_uint_eq(seen[0].kind, CPU_EV_CR_WRITE);
    ck_assert_uint_eq(seen[0].a, 4);
    ck_assert_uint_eq(seen[0].b, CPU_CR4_PAE);
    ck_assert_uint_eq(seen[0].c, CODE + 9);
    ck_assert_uint_eq(seen[0].d, CPU_CR4_PAE | CPU_CR4_PGE);
}
END_TEST

START_TEST(cr1_and_lock_are_ud)
{
    /* mov rax, cr1 */
    static const uint8_t cr1[] = {0x0f, 0x20, 0xc8};
    RUN(cr1);
    expect_fault(CPU_EXC_UD, -1, CODE);
    teardown();
    setup();
    /* lock mov rax, cr0 (AMD's CR8 alias) */
    static const uint8_t lock[] = {0xf0, 0x0f, 0x20, 0xc0};
    RUN(lock);
    expect_fault(CPU_EXC_UD, -1, CODE);
}
END_TEST

START_TEST(cr8_is_tpr_class)
{
    /* mov eax, 5; mov cr8, rax; mov rbx, cr8; mov eax, 16; mov cr8, rax */
    static const uint8_t code[] = {0xb8, 0x05, 0x00, 0x00, 0x00, 0x44, 0x0f, 0x22, 0xc0, 0x44, 0x0f,
                                   0x20, 0xc3, 0xb8, 0x10, 0x00, 0x00, 0x00, 0x44, 0x0f, 0x22, 0xc0};
    RUN(code);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 5);
    ck_assert_uint_eq(h.cpu.cr8, 5);
    expect_fault(CPU_EXC_GP, 0, CODE + 18); /* bits 63:4 reserved */
}
END_TEST

START_TEST(cr3_write_flushes_tlb)
{
    /* New tables at 0x10000: 0..2 MiB identity (2 MiB page), and the 4 KiB
     * page 0x200000 mapped by the PT at 0x13000 to 0x201000. */
    poke64(0x10000, 0x11000 | 3);
    poke64(0x11000, 0x12000 | 3);
    poke64(0x12000, 0x83);
    poke64(0x12008, 0x13000 | 3);
    poke64(0x13000, 0x201000 | 3);
    poke64(0x201000, 0xAAAA);
    poke64(0x202000, 0xBBBB);
    /*  mov eax, 0x10000; mov cr3, rax; mov rbx, [0x200000]
     *  mov qword [0x13000], 0x202003    ; remap the page behind the TLB's back
     *  mov rcx, [0x200000]              ; still the cached translation
     *  mov cr3, rax; mov rdx, [0x200000]; hlt */
    static const uint8_t code[] = {
        0xb8, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x22, 0xd8, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x20, 0x00,
        0x48, 0xc7, 0x04, 0x25, 0x00, 0x30, 0x01, 0x00, 0x03, 0x20, 0x20, 0x00, 0x48, 0x8b, 0x0c, 0x25,
        0x00, 0x00, 0x20, 0x00, 0x0f, 0x22, 0xd8, 0x48, 0x8b, 0x14, 0x25, 0x00, 0x00, 0x20, 0x00, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.cr3, 0x10000);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0xAAAA);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0xAAAA);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDX], 0xBBBB);
}
END_TEST

START_TEST(clts_invlpg_wbinvd_pause)
{
    h.cpu.cr0 |= CPU_CR0_TS;
    h.cpu.gpr[CPU_RAX] = 0x5000;
    /* clts; invlpg [rax]; wbinvd; pause; hlt */
    static const uint8_t code[] = {0x0f, 0x06, 0x0f, 0x01, 0x38, 0x0f, 0x09, 0xf3, 0x90, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.rip, CODE + 10);
    ck_assert(!(h.cpu.cr0 & CPU_CR0_TS));
}
END_TEST

START_TEST(smsw_reads_cr0)
{
    /* smsw eax; hlt */
    static const uint8_t smsw[] = {0x0f, 0x01, 0xe0, 0xf4};
    h.cpu.gpr[CPU_RAX] = ~0ull;
    ck_assert_int_eq(RUN(smsw), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], h.cpu.cr0 & 0xFFFFFFFF);
}
END_TEST

/* ---- descriptor tables and segments ---- */

START_TEST(lgdt_sgdt_lidt_sidt_round_trip)
{
    uint8_t gdt[10] = {0x2F, 0x00, 0x00, 0x06, 0, 0, 0, 0, 0, 0}; /* limit 0x2F, base 0x600 */
    uint8_t idt[10] = {0xFF, 0x0F, 0x00, 0x30, 0, 0, 0, 0, 0, 0}; /* limit 0xFFF, base 0x3000 */
    poke(0x9000, gdt, 10);
    poke(0x9200, idt, 10);
    /* lgdt [0x9000]; sgdt [0x9100]; lidt [0x9200]; sidt [0x9300]; hlt */
    static const uint8_t code[] = {0x0f, 0x01, 0x14, 0x25, 0x00, 0x90, 0x00, 0x00, 0x0f, 0x01, 0x04,
                                   0x25, 0x00, 0x91, 0x00, 0x00, 0x0f, 0x01, 0x1c, 0x25, 0x00, 0x92,
                                   0x00, 0x00, 0x0f, 0x01, 0x0c, 0x25, 0x00, 0x93, 0x00, 0x00, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gdtr.base, 0x600);
    ck_assert_uint_eq(h.cpu.gdtr.limit, 0x2F);
    ck_assert_uint_eq(h.cpu.idtr.base, 0x3000);
    ck_assert_uint_eq(h.cpu.idtr.limit, 0xFFF);
    uint8_t out[10];
    ck_assert(cpu_phys_read(&h.phys, 0x9100, out, 10));
    ck_assert_mem_eq(out, gdt, 10);
    ck_assert(cpu_phys_read(&h.phys, 0x9300, out, 10));
    ck_assert_mem_eq(out, idt, 10);
}
END_TEST

START_TEST(ltr_marks_busy)
{
    add_tss(0x9000);
    /* mov ax, 0x28; ltr ax; str ebx; sldt ecx; ltr ax (now busy) */
    static const uint8_t code[] = {0x66, 0xb8, 0x28, 0x00, 0x0f, 0x00, 0xd8, 0x0f,
                                   0x00, 0xcb, 0x0f, 0x00, 0xc1, 0x0f, 0x00, 0xd8};
    h.cpu.gpr[CPU_RBX] = ~0ull;
    h.cpu.gpr[CPU_RCX] = ~0ull;
    RUN(code);
    ck_assert_uint_eq(h.cpu.tr.sel, 0x28);
    ck_assert_uint_eq(h.cpu.tr.base, 0x9000);
    ck_assert_uint_eq(h.cpu.tr.limit, 0x67);
    ck_assert_uint_eq(h.cpu.tr.attr & 0x9F, 0x8B);
    ck_assert_uint_eq((cpu_harness_peek64(&h, 0x528) >> 40) & 0xFF, 0x8B);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x28);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0);
    expect_fault(CPU_EXC_GP, 0x28, CODE + 13);
}
END_TEST

START_TEST(ltr_data_segment_gp)
{
    /* mov ax, 0x10; ltr ax */
    static const uint8_t code[] = {0x66, 0xb8, 0x10, 0x00, 0x0f, 0x00, 0xd8};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0x10, CODE + 4);
}
END_TEST

START_TEST(pop_fs_loads_and_checks)
{
    /* mov eax, 0x10; push rax; pop fs; mov eax, 0x30; push rax; pop fs */
    static const uint8_t code[] = {0xb8, 0x10, 0x00, 0x00, 0x00, 0x50, 0x0f, 0xa1,
                                   0xb8, 0x30, 0x00, 0x00, 0x00, 0x50, 0x0f, 0xa1};
    h.cpu.seg[CPU_FS] = (cpu_seg){0};
    RUN(code);
    ck_assert_uint_eq(h.cpu.seg[CPU_FS].sel, 0x10);
    ck_assert_uint_eq(h.cpu.seg[CPU_FS].attr & 0xFF, 0x93); /* accessed bit set */
    ck_assert_uint_eq((cpu_harness_peek64(&h, 0x510) >> 40) & 0xFF, 0x93);
    /* 0x30 is beyond the GDT limit: #GP(0x30), RSP not popped */
    expect_fault(CPU_EXC_GP, 0x30, CODE + 14);
    ck_assert_uint_eq(frame(4), CPU_HARNESS_STACK - 8);
}
END_TEST

START_TEST(push_fs_gs)
{
    h.cpu.seg[CPU_FS].sel = 0x10;
    h.cpu.seg[CPU_GS].sel = 0x23;
    /* Intel writes only the 16-bit selector into the 8-byte slot; the rest
     * keeps what was there (AMD zero-extends: docs/cpu-model.md). */
    poke64(CPU_HARNESS_STACK - 8, 0xA5A5A5A5A5A5A5A5ull);
    poke64(CPU_HARNESS_STACK - 16, 0xA5A5A5A5A5A5A5A5ull);
    /* push fs; push gs; hlt */
    static const uint8_t code[] = {0x0f, 0xa0, 0x0f, 0xa8, 0xf4};
    RUN(code);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], CPU_HARNESS_STACK - 16);
    ck_assert_uint_eq(cpu_harness_peek64(&h, CPU_HARNESS_STACK - 8), 0xA5A5A5A5A5A50010ull);
    ck_assert_uint_eq(cpu_harness_peek64(&h, CPU_HARNESS_STACK - 16), 0xA5A5A5A5A5A50023ull);
}
END_TEST

/* A null selector loaded into FS or GS in 64-bit mode: Intel clears the
 * base, AMD keeps it (docs/cpu-model.md, "Where Intel and AMD differ"). */
START_TEST(null_fs_gs_clears_base)
{
    h.cpu.seg[CPU_FS].base = 0x12345000;
    h.cpu.seg[CPU_GS].base = 0x6789A000;
    /* xor eax, eax; mov fs, ax; mov gs, ax; hlt */
    static const uint8_t code[] = {0x31, 0xc0, 0x8e, 0xe0, 0x8e, 0xe8, 0xf4};
    RUN(code);
    ck_assert_uint_eq(h.cpu.seg[CPU_FS].sel, 0);
    ck_assert_uint_eq(h.cpu.seg[CPU_FS].base, 0);
    ck_assert_uint_eq(h.cpu.seg[CPU_GS].sel, 0);
    ck_assert_uint_eq(h.cpu.seg[CPU_GS].base, 0);
}
END_TEST

START_TEST(lldt_and_ldt_selector)
{
    /* LDT descriptor at selector 0x28: base 0xA000, limit 0xFF, type 2. */
    poke64(0x528, 0xFF | (0xA000ull << 16) | (0x82ull << 40));
    poke64(0x530, 0);
    h.cpu.gdtr.limit = 0x37;
    poke64(0xA008, 0x0000920000000000ull); /* LDT entry 1: data segment */
    /* mov ax, 0x28; lldt ax; sldt ecx; mov eax, 0x0c (LDT index 1); push rax; pop fs; hlt */
    static const uint8_t code[] = {0x66, 0xb8, 0x28, 0x00, 0x0f, 0x00, 0xd0, 0x0f, 0x00, 0xc1,
                                   0xb8, 0x0c, 0x00, 0x00, 0x00, 0x50, 0x0f, 0xa1, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.ldtr.sel, 0x28);
    ck_assert_uint_eq(h.cpu.ldtr.base, 0xA000);
    ck_assert_uint_eq(h.cpu.ldtr.limit, 0xFF);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0x28);
    ck_assert_uint_eq(h.cpu.seg[CPU_FS].sel, 0x0C);
    ck_assert_uint_eq((cpu_harness_peek64(&h, 0xA008) >> 40) & 0xFF, 0x93);
}
END_TEST

/* ---- IRETQ ---- */

START_TEST(iretq_same_level)
{
    /*  mov rax, rsp; push 0x10; push rax; pushfq; push 0x08
     *  lea rcx, [rip+t]; push rcx; iretq; hlt; t: mov ebx, 7; hlt */
    static const uint8_t code[] = {0x48, 0x89, 0xe0, 0x6a, 0x10, 0x50, 0x9c, 0x6a, 0x08,
                                   0x48, 0x8d, 0x0d, 0x04, 0x00, 0x00, 0x00, 0x51, 0x48,
                                   0xcf, 0xf4, 0xbb, 0x07, 0x00, 0x00, 0x00, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 7);
    ck_assert_uint_eq(h.cpu.rip, CODE + 26);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], CPU_HARNESS_STACK);
    ck_assert_uint_eq(h.cpu.cpl, 0);
}
END_TEST

START_TEST(iretq_to_user_and_back)
{
    add_tss(0x9000);
    h.cpu.tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x67, .base = 0x9000};
    /*  push 0x23; push 0x50000; push 2; push 0x1b; lea rcx, [rip+t]; push rcx
     *  iretq; hlt; t: mov ebx, 7; hlt   (HLT at CPL 3 is #GP(0)) */
    static const uint8_t code[] = {0x6a, 0x23, 0x68, 0x00, 0x00, 0x05, 0x00, 0x6a, 0x02, 0x6a,
                                   0x1b, 0x48, 0x8d, 0x0d, 0x04, 0x00, 0x00, 0x00, 0x51, 0x48,
                                   0xcf, 0xf4, 0xbb, 0x07, 0x00, 0x00, 0x00, 0xf4};
    RUN(code);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 7);
    expect_fault(CPU_EXC_GP, 0, CODE + 27);
    ck_assert_uint_eq(frame(2), 0x1b);      /* CS */
    ck_assert_uint_eq(frame(4), 0x50000);   /* RSP */
    ck_assert_uint_eq(frame(5), 0x23);      /* SS */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], 0x70000 - 48); /* RSP0 of the TSS */
    ck_assert_uint_eq(h.cpu.cpl, 0);
}
END_TEST

START_TEST(iretq_bad_ss_gp)
{
    /* push 0x33 (beyond the GDT); push 0x50000; push 2; push 0x08; ...; iretq */
    static const uint8_t code[] = {0x6a, 0x33, 0x68, 0x00, 0x00, 0x05, 0x00, 0x6a, 0x02, 0x6a, 0x08,
                                   0x48, 0x8d, 0x0d, 0x03, 0x00, 0x00, 0x00, 0x51, 0x48, 0xcf, 0xf4};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0x30, CODE + 19);
}
END_TEST

/* ---- MSRs ---- */

START_TEST(wrmsr_rdmsr_lstar)
{
    /*  mov ecx, 0xC0000082; mov eax, 0x11223344; mov edx, 0xffff8000; wrmsr
     *  xor eax, eax; xor edx, edx; rdmsr; hlt */
    static const uint8_t code[] = {0xb9, 0x82, 0x00, 0x00, 0xc0, 0xb8, 0x44, 0x33, 0x22, 0x11, 0xba, 0x00,
                                   0x80, 0xff, 0xff, 0x0f, 0x30, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x32, 0xf4};
    nseen = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, record_event, NULL));
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.lstar, 0xffff800011223344ull);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x11223344);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDX], 0xffff8000);
    ck_assert_uint_eq(seen[0].kind, CPU_EV_MSR_WRITE);
    ck_assert_uint_eq(seen[0].a, CPU_MSR_LSTAR);
    ck_assert_uint_eq(seen[0].b, 0);
    ck_assert_uint_eq(seen[0].d, 0xffff800011223344ull);
}
END_TEST

START_TEST(rdmsr_unknown_gp)
{
    /* mov ecx, 0x12345; rdmsr */
    static const uint8_t code[] = {0xb9, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x32};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 5);
}
END_TEST

START_TEST(wrmsr_noncanonical_gp)
{
    /* mov ecx, 0xC0000082; xor eax, eax; mov edx, 0x12345; wrmsr */
    static const uint8_t code[] = {0xb9, 0x82, 0x00, 0x00, 0xc0, 0x31, 0xc0,
                                   0xba, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x30};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 12);
    ck_assert_uint_eq(h.cpu.lstar, 0);
}
END_TEST

START_TEST(efer_lma_read_only)
{
    /* mov ecx, 0xC0000080; mov eax, 0x900 (LME|NXE, LMA clear); xor edx, edx; wrmsr; rdmsr; hlt */
    static const uint8_t code[] = {0xb9, 0x80, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x09, 0x00,
                                   0x00, 0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x32, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE);
    ck_assert_uint_eq(h.cpu.efer, CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE);
}
END_TEST

START_TEST(efer_lme_change_with_paging_gp)
{
    /* mov ecx, 0xC0000080; mov eax, 0x800 (NXE only: clears LME); xor edx, edx; wrmsr */
    static const uint8_t code[] = {0xb9, 0x80, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x08, 0x00,
                                   0x00, 0x31, 0xd2, 0x0f, 0x30, 0xf4};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 12);
}
END_TEST

START_TEST(tsc_write_sets_offset)
{
    /* mov ecx, 0x10; mov eax, 1000000; xor edx, edx; wrmsr; rdtsc; hlt */
    static const uint8_t code[] = {0xb9, 0x10, 0x00, 0x00, 0x00, 0xb8, 0x40, 0x42, 0x0f,
                                   0x00, 0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x31, 0xf4};
    h.cpu.cycles = 5000000; /* the TSC goes back: the offset wraps */
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    uint64_t tsc = h.cpu.gpr[CPU_RAX] | (h.cpu.gpr[CPU_RDX] << 32);
    ck_assert_uint_ge(tsc, 1000000);
    ck_assert_uint_lt(tsc, 1000000 + 1000);
    ck_assert_uint_eq(tsc, h.cpu.cycles - h.cpu.costs->cost[CPU_COST_SYSTEM] + h.cpu.tsc_offset);
}
END_TEST

static bool rdmsr_hook(void *ctx, cpu_t *c, uint32_t msr, uint64_t *val)
{
    (void)ctx;
    (void)c;
    if (msr != CPU_MSR_APIC_BASE)
        return false;
    *val = 0xFEE00900;
    return true;
}

START_TEST(rdmsr_through_hook)
{
    cpu_hooks hk = {.rdmsr = rdmsr_hook};
    cpu_set_hooks(&h.cpu, &hk);
    /* mov ecx, 0x1b; rdmsr; hlt */
    static const uint8_t code[] = {0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f, 0x32, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0xFEE00900);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDX], 0);
}
END_TEST

START_TEST(swapgs_rdtscp)
{
    h.cpu.seg[CPU_GS].base = 0x1111;
    h.cpu.kernel_gs_base = 0x2222;
    h.cpu.tsc_aux = 3;
    /* swapgs; rdtscp; hlt */
    static const uint8_t code[] = {0x0f, 0x01, 0xf8, 0x0f, 0x01, 0xf9, 0xf4};
    ck_assert_int_eq(RUN(code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.seg[CPU_GS].base, 0x2222);
    ck_assert_uint_eq(h.cpu.kernel_gs_base, 0x1111);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 3);
}
END_TEST

START_TEST(rdtsc_is_cycles_and_monotonic)
{
    /* rdtsc */
    static const uint8_t code[] = {0x0f, 0x31};
    h.cpu.cycles = 0x123456789ull;
    ck_assert_int_eq(cpu_harness_exec(&h, code, sizeof(code), 1), CPU_STOP_INSNS);
    uint64_t t1 = h.cpu.gpr[CPU_RAX] | (h.cpu.gpr[CPU_RDX] << 32);
    ck_assert_uint_eq(t1, h.cpu.cycles);
    ck_assert_uint_gt(t1, 0x123456789ull);
    ck_assert_int_eq(cpu_harness_exec(&h, code, sizeof(code), 1), CPU_STOP_INSNS);
    uint64_t t2 = h.cpu.gpr[CPU_RAX] | (h.cpu.gpr[CPU_RDX] << 32);
    ck_assert_uint_gt(t2, t1);
    ck_assert_uint_eq(t2, h.cpu.cycles);
}
END_TEST

/* ---- CPUID ---- */

START_TEST(cpuid_leaves)
{
    uint32_t r[4];
    cpu_cpuid(&h.cpu, 0, 0, r);
    ck_assert_uint_ge(r[0], 0x1F);
    char vendor[13] = {0};
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    ck_assert_str_eq(vendor, "GenuineIntel");

    cpu_cpuid(&h.cpu, 1, 0, r);
    ck_assert_uint_eq((r[0] >> 8) & 0xF, 6);                                 /* family */
    ck_assert_uint_eq(((r[0] >> 12) & 0xF0) | ((r[0] >> 4) & 0xF), 0x55);   /* model */
    ck_assert_uint_eq(r[1] >> 24, h.cpu.index);
    ck_assert(r[2] & (1u << 5));    /* VMX */
    ck_assert(r[2] & (1u << 21));   /* x2APIC */
    ck_assert(r[2] & (1u << 24));   /* TSC deadline */
    ck_assert(!(r[2] & (1u << 3))); /* no MONITOR */
    ck_assert(!(r[2] & (1u << 30))); /* no RDRAND */
    ck_assert(r[3] & (1u << 9));    /* APIC */
    ck_assert(r[3] & (1u << 4) && r[3] & (1u << 5)); /* TSC, MSR */
    ck_assert(!(r[3] & (1u << 0)));  /* no x87 */
    ck_assert(!(r[3] & (1u << 26))); /* no SSE2: not implemented */

    /* Every instruction-set bit reported is backed by the decoder. */
    static const struct { unsigned reg, bit; uint8_t bytes[4]; unsigned len; } dyn[] = {
        {2, 13, {0x48, 0x0f, 0xc7, 0x0e}, 4}, /* CX16: cmpxchg16b [rsi] */
        {2, 22, {0x0f, 0x38, 0xf0, 0x06}, 4}, /* MOVBE */
        {2, 23, {0xf3, 0x0f, 0xb8, 0xc1}, 4}, /* POPCNT */
        {3, 8, {0x0f, 0xc7, 0x0e}, 3},        /* CX8 */
        {3, 15, {0x0f, 0x44, 0xc1}, 3},       /* CMOV */
    };
    for (unsigned k = 0; k < sizeof(dyn) / sizeof(dyn[0]); k++) {
        bool impl = false;
        cpu_decode_length(CPU_MODE_LONG64, dyn[k].bytes, dyn[k].len, &impl);
        ck_assert_int_eq((r[dyn[k].reg] >> dyn[k].bit) & 1, impl);
    }

    cpu_cpuid(&h.cpu, 0x0B, 0, r);
    ck_assert_uint_eq(r[3], h.cpu.index);
    ck_assert_uint_eq((r[2] >> 8) & 0xFF, 1); /* SMT level */
    cpu_cpuid(&h.cpu, 0x0B, 1, r);
    ck_assert_uint_eq((r[2] >> 8) & 0xFF, 2); /* core level */
    ck_assert_uint_eq(r[1], h.phys.ncpus);
    cpu_cpuid(&h.cpu, 0x0B, 2, r);
    ck_assert_uint_eq((r[2] >> 8) & 0xFF, 0); /* invalid level */

    cpu_cpuid(&h.cpu, 0x80000001u, 0, r);
    ck_assert(r[3] & (1u << 29)); /* LM */
    ck_assert(r[3] & (1u << 20)); /* NX */
    ck_assert(r[3] & (1u << 27)); /* RDTSCP */
    ck_assert(r[3] & (1u << 26)); /* 1-GByte pages */
    cpu_cpuid(&h.cpu, 0x80000008u, 0, r);
    ck_assert_uint_eq(r[0] & 0xFF, CPU_MAXPHYADDR);
    ck_assert_uint_eq((r[0] >> 8) & 0xFF, 48);

    /* Beyond the maximum: the highest basic leaf's answer. */
    uint32_t top[4];
    cpu_cpuid(&h.cpu, 0x1F, 1, top);
    cpu_cpuid(&h.cpu, 0x50, 1, r);
    ck_assert_mem_eq(r, top, sizeof(r));
    cpu_cpuid(&h.cpu, 0x80000100u, 1, r);
    ck_assert_mem_eq(r, top, sizeof(r));
}
END_TEST

START_TEST(cpuid_instruction)
{
    /* cpuid */
    static const uint8_t code[] = {0x0f, 0xa2};
    h.cpu.gpr[CPU_RAX] = 0xFFFFFFFF00000000ull; /* leaf 0: upper half ignored */
    ck_assert_int_eq(cpu_harness_exec(&h, code, sizeof(code), 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 0x756e6547); /* "Genu" */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDX], 0x49656e69); /* "ineI" */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0x6c65746e); /* "ntel" */
}
END_TEST

static Suite *system_suite(void)
{
    Suite *s = suite_create("system");
    TCase *t = tcase_create("cr");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, cr0_upper_bits_gp);
    tcase_add_test(t, cr0_nw_without_cd_gp);
    tcase_add_test(t, cr0_clear_pg_in_long_mode_gp);
    tcase_add_test(t, cr4_unsupported_bit_gp);
    tcase_add_test(t, cr4_pge_write_and_event);
    tcase_add_test(t, cr1_and_lock_are_ud);
    tcase_add_test(t, cr8_is_tpr_class);
    tcase_add_test(t, cr3_write_flushes_tlb);
    tcase_add_test(t, clts_invlpg_wbinvd_pause);
    tcase_add_test(t, smsw_reads_cr0);
    suite_add_tcase(s, t);

    t = tcase_create("descriptors");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, lgdt_sgdt_lidt_sidt_round_trip);
    tcase_add_test(t, ltr_marks_busy);
    tcase_add_test(t, ltr_data_segment_gp);
    tcase_add_test(t, lldt_and_ldt_selector);
    tcase_add_test(t, pop_fs_loads_and_checks);
    tcase_add_test(t, push_fs_gs);
    tcase_add_test(t, null_fs_gs_clears_base);
    tcase_add_test(t, iretq_same_level);
    tcase_add_test(t, iretq_to_user_and_back);
    tcase_add_test(t, iretq_bad_ss_gp);
    suite_add_tcase(s, t);

    t = tcase_create("msr");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, wrmsr_rdmsr_lstar);
    tcase_add_test(t, rdmsr_unknown_gp);
    tcase_add_test(t, wrmsr_noncanonical_gp);
    tcase_add_test(t, efer_lma_read_only);
    tcase_add_test(t, efer_lme_change_with_paging_gp);
    tcase_add_test(t, tsc_write_sets_offset);
    tcase_add_test(t, rdmsr_through_hook);
    tcase_add_test(t, swapgs_rdtscp);
    tcase_add_test(t, rdtsc_is_cycles_and_monotonic);
    suite_add_tcase(s, t);

    t = tcase_create("cpuid");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, cpuid_leaves);
    tcase_add_test(t, cpuid_instruction);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(system_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
