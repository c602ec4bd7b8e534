/*
 * test_paging32.c — paging outside IA-32e mode: 32-bit paging with 4-KByte
 * and 4-MByte pages (SDM Vol. 3A 4.3, CR4.PSE), PAE paging with its PDPTE
 * registers, 2-MByte pages and XD (SDM 4.4), the #PF error codes (SDM 4.7),
 * accessed/dirty flags in 4- and 8-byte entries (SDM 4.8), U/S and R/W with
 * CR0.WP (SDM 4.6), INVLPG and MOV CR3 invalidating translations and the
 * decoded code behind them (SDM 4.10.4), and the transitions: paging on
 * and off in 32-bit mode, and from PAE paging into IA-32e mode (SDM 9.8.5).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define STACK CPU_HARNESS_STACK
#define TSS32 0x7000u
#define ESP0 0x90000u
#define SEL_DATA32 CPU_HARNESS_SEL_DATA32
#define SEL_UCODE32 0x3B
#define SEL_UDATA32 0x43

/* 32-bit paging: the page directory, PT0 identity-mapping 0..4 MiB with
 * user, writable 4-KByte pages, PT2 behind PDE 2 (VA 0x800000) and PT3
 * behind PDE 3 (VA 0xC00000). */
#define PD32 0x200000u
#define PT0 0x201000u
#define PT2 0x202000u
#define PT3 0x203000u
/* PAE paging: the PDPT, PD0 (0..1 GiB) whose entry 0 is PTP0 (identity
 * 0..2 MiB, 4-KByte pages), entry 1 a 2-MByte identity page (the
 * tables), entry 4 is PTP4 (VA 0x800000) and entry 5 a
 * 2-MByte page at VA 0xA00000; PD1 behind PDPTE 1 (VA 0x40000000). */
#define PDPT 0x210000u
#define PD0 0x211000u
#define PTP0 0x212000u
#define PTP4 0x213000u
#define PD1 0x214000u

#define DATA 0x300000u /* the page VA 0x800000 maps */

static cpu_harness h;

/* The Multiboot state (32-bit protected mode, paging off) with 32-bit
 * kernel and user descriptors, a 32-bit IDT to the harness's HLT handlers,
 * a 32-bit TSS with SS0:ESP0, and the tables of both paging modes built
 * (paging itself is still off). */
static void setup(void)
{
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, 0x500 + (SEL_UCODE32 & ~3), 0x00CFFA000000FFFFull);
    cpu_harness_poke64(&h, 0x500 + (SEL_UDATA32 & ~3), 0x00CFF2000000FFFFull);
    cpu_harness_poke32(&h, TSS32 + 4, ESP0);
    cpu_harness_poke32(&h, TSS32 + 8, SEL_DATA32);
    cpu_harness_enter_prot32(&h, 0x4F);
    c->tr = (cpu_seg){.sel = 0x48, .attr = 0x8B, .limit = 0x67, .base = TSS32};

    cpu_harness_poke32(&h, PD32, PT0 | 7);
    for (unsigned k = 0; k < 1024; k++)
        cpu_harness_poke32(&h, PT0 + k * 4, (k << 12) | 7);
    cpu_harness_poke32(&h, PD32 + 2 * 4, PT2 | 7);
    cpu_harness_poke32(&h, PD32 + 3 * 4, PT3 | 7);
    cpu_harness_poke32(&h, PT2, DATA | 7);

    cpu_harness_poke64(&h, PDPT, PD0 | 1);
    cpu_harness_poke64(&h, PDPT + 8, PD1 | 1);
    cpu_harness_poke64(&h, PD0, PTP0 | 7);
    for (unsigned k = 0; k < 512; k++)
        cpu_harness_poke64(&h, PTP0 + k * 8, ((uint64_t)k << 12) | 7);
    cpu_harness_poke64(&h, PD0 + 8, 0x200000 | 0x87); /* 2..4 MiB identity: the tables */
    cpu_harness_poke64(&h, PD0 + 4 * 8, PTP4 | 7);
    cpu_harness_poke64(&h, PTP4, DATA | 7);
    cpu_harness_poke64(&h, PD0 + 5 * 8, 0x400000 | 0x87); /* 2-MByte page */
    cpu_harness_poke64(&h, PD1, 0x600000 | 0x87);

    cpu_harness_poke32(&h, DATA, 0xDA7A0001);
    cpu_harness_poke32(&h, 0x400010, 0xB16B16);
    cpu_harness_poke32(&h, 0x600000, 0x60060);
    cpu_harness_poke32(&h, 0x800000, 0x9A9A9A); /* what VA 0x800000 reads with paging off */
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* Turns 32-bit paging on directly (the state a loader leaves). */
static void paging32_on(bool pse)
{
    cpu_t *c = &h.cpu;
    c->cr3 = PD32;
    c->cr4 = pse ? CPU_CR4_PSE : 0;
    c->cr0 |= CPU_CR0_PG;
    cpu_tlb_flush(c);
}

/* Turns PAE paging on directly, the PDPTEs through cpu_load_pdptes. */
static void paging_pae_on(bool nxe)
{
    cpu_t *c = &h.cpu;
    c->cr3 = PDPT;
    c->cr4 = CPU_CR4_PAE;
    c->efer = nxe ? CPU_EFER_NXE : 0;
    c->cr0 |= CPU_CR0_PG;
    ck_assert(cpu_load_pdptes(c));
}

static cpu_stop run_n(const uint8_t *code, size_t len, uint64_t n)
{
    cpu_harness_load(&h, CODE, code, len);
    h.cpu.rip = CODE;
    h.cpu.halted = 0;
    return cpu_run(&h.cpu, UINT64_MAX, n);
}

static cpu_stop run(const uint8_t *code, size_t len)
{
    return run_n(code, len, 1000);
}

/* The error code of a fault taken at CPL 0 on the 32-bit stack. */
static uint32_t error_code(void)
{
    return cpu_harness_peek32(&h, STACK - 16);
}

static const uint8_t load_store[] = {
    0xA1, 0x00, 0x00, 0x80, 0x00,       /* mov eax, [0x800000] */
    0x89, 0x1D, 0x04, 0x00, 0x80, 0x00, /* mov [0x800004], ebx */
    0xF4,                               /* hlt */
};

/* MOV CR3, CR4.PSE, CR0.PG by instructions, then a load through a 4-KByte
 * PTE: the A bits of PDE and PTE are set, D only after a store. */
START_TEST(two_level_4k)
{
    static const uint8_t code[] = {
        0xB8, 0x00, 0x00, 0x20, 0x00, /* mov eax, PD32 */
        0x0F, 0x22, 0xD8,             /* mov cr3, eax */
        0x0F, 0x20, 0xE0,             /* mov eax, cr4 */
        0x83, 0xC8, 0x10,             /* or eax, PSE */
        0x0F, 0x22, 0xE0,             /* mov cr4, eax */
        0x0F, 0x20, 0xC0,             /* mov eax, cr0 */
        0x0D, 0x00, 0x00, 0x00, 0x80, /* or eax, PG */
        0x0F, 0x22, 0xC0,             /* mov cr0, eax */
        0xA1, 0x00, 0x00, 0x80, 0x00, /* mov eax, [0x800000] */
        0xF4,                         /* hlt */
    };
    cpu_t *c = &h.cpu;
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_int_eq(c->mode, CPU_MODE_PROT32);
    ck_assert(!(c->efer & CPU_EFER_LMA));
    ck_assert_ptr_null(cpu_unexecuted_reason(c));
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDA7A0001);
    ck_assert(cpu_harness_peek32(&h, PD32 + 8) & 0x20);
    ck_assert(cpu_harness_peek32(&h, PT2) & 0x20);
    ck_assert(!(cpu_harness_peek32(&h, PT2) & 0x40));
    c->gpr[CPU_RBX] = 0x5150;
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert(cpu_harness_peek32(&h, PT2) & 0x40);
    ck_assert_uint_eq(cpu_harness_peek32(&h, DATA + 4), 0x5150);
    uint32_t v = 0;
    ck_assert(cpu_peek_linear(c, 0x800004, &v, 4));
    ck_assert_uint_eq(v, 0x5150);
}
END_TEST

/* CR4.PSE = 1 and PDE.PS = 1: a 4-MByte page, D set in the PDE; PDE bits
 * 19:13 are physical-address bits 38:32 (PSE-36), bits 21:20 reserved. */
START_TEST(pse_4m_pages)
{
    cpu_t *c = &h.cpu;
    cpu_harness_poke32(&h, PD32 + 2 * 4, 0x400000 | 0x87);
    cpu_harness_poke32(&h, 0x400000, 0x4444);
    paging32_on(true);
    c->gpr[CPU_RBX] = 0x77;
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x4444);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0x400004), 0x77);
    ck_assert_uint_eq(cpu_harness_peek32(&h, PD32 + 8) & 0x60, 0x60); /* A and D in the PDE */
    /* PDE bit 13 = physical-address bit 32: beyond RAM, reads all ones. */
    cpu_harness_poke32(&h, PD32 + 2 * 4, 0x400000 | 0x2000 | 0x87);
    cpu_tlb_flush(c);
    ck_assert_int_eq(run_n(load_store, sizeof load_store, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFu);
    /* Bit 21 reserved: #PF with P and RSVD. */
    cpu_harness_poke32(&h, PD32 + 2 * 4, 0x400000 | 0x200000 | 0x87);
    cpu_tlb_flush(c);
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(error_code(), CPU_PF_P | CPU_PF_RSVD);
    ck_assert_uint_eq(c->cr2, 0x800000);
}
END_TEST

/* With CR4.PSE = 0 the PS bit of a PDE is ignored: it points to a page
 * table. */
START_TEST(ps_ignored_without_pse)
{
    cpu_t *c = &h.cpu;
    cpu_harness_poke32(&h, PD32 + 2 * 4, PT2 | 0x87);
    paging32_on(false);
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDA7A0001);
}
END_TEST

/* #PF error codes at CPL 0 (SDM 4.7): not present (0, CR2), write to a
 * read-only page with CR0.WP = 1 (W|P); with WP = 0 the write succeeds. */
START_TEST(supervisor_faults_and_wp)
{
    cpu_t *c = &h.cpu;
    paging32_on(false);
    cpu_harness_poke32(&h, PT2, 0);
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(error_code(), 0);
    ck_assert_uint_eq(c->cr2, 0x800000);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE); /* EIP of the faulting load */

    cpu_harness_poke32(&h, PT2, DATA | 5); /* user, read-only */
    cpu_tlb_flush(c);
    c->gpr[CPU_RSP] = STACK;
    c->cr0 |= CPU_CR0_WP;
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(error_code(), CPU_PF_P | CPU_PF_W);
    ck_assert_uint_eq(c->cr2, 0x800004);
    ck_assert(!(cpu_harness_peek32(&h, PT2) & 0x40)); /* no D on a failed write */

    c->gpr[CPU_RSP] = STACK;
    c->cr0 &= ~(uint64_t)CPU_CR0_WP;
    cpu_tlb_flush(c);
    c->gpr[CPU_RBX] = 0xAB;
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(cpu_harness_peek32(&h, DATA + 4), 0xAB);
    ck_assert(cpu_harness_peek32(&h, PT2) & 0x40);
}
END_TEST

/* At CPL 3 (SDM 4.6): a read of a user read-only page works, the write
 * faults with P|W|U; a supervisor page faults with P|U. The #PF goes to
 * CPL 0 on the TSS's SS0:ESP0 stack. */
static void enter_cpl3(void)
{
    cpu_t *c = &h.cpu;
    c->cpl = 3;
    c->seg[CPU_CS].sel = SEL_UCODE32;
    c->seg[CPU_CS].attr = 0xCFB;
    for (unsigned s = 0; s < CPU_NSEG; s++)
        if (s != CPU_CS)
            c->seg[s] = (cpu_seg){.sel = SEL_UDATA32, .attr = 0xCF3, .limit = 0xFFFFFFFF};
    c->gpr[CPU_RSP] = STACK;
    cpu_tlb_flush(c);
}

START_TEST(user_faults)
{
    static const uint8_t code[] = {
        0xA1, 0x00, 0x00, 0x80, 0x00, /* mov eax, [0x800000] */
        0xA3, 0x00, 0x00, 0x80, 0x00, /* mov [0x800000], eax */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    paging32_on(false);
    cpu_harness_poke32(&h, PT2, DATA | 5); /* user, read-only */
    enter_cpl3();
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDA7A0001);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 24), CPU_PF_P | CPU_PF_W | CPU_PF_U);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 20), CODE + 5);
    ck_assert_uint_eq(c->cpl, 0);

    cpu_harness_poke32(&h, PT2, DATA | 3); /* supervisor */
    enter_cpl3();
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 24), CPU_PF_P | CPU_PF_U);
    ck_assert_uint_eq(cpu_harness_peek32(&h, ESP0 - 20), CODE);
}
END_TEST

/* PAE paging turned on by instructions (CR4.PAE, CR3, CR0.PG: the PDPTEs
 * are loaded by the MOV CR0): a 4-KByte page and a 2-MByte page, A/D in
 * 8-byte entries. */
START_TEST(pae_4k_and_2m)
{
    static const uint8_t code[] = {
        0x0F, 0x20, 0xE0,                   /* mov eax, cr4 */
        0x83, 0xC8, 0x20,                   /* or eax, PAE */
        0x0F, 0x22, 0xE0,                   /* mov cr4, eax */
        0xB8, 0x00, 0x00, 0x21, 0x00,       /* mov eax, PDPT */
        0x0F, 0x22, 0xD8,                   /* mov cr3, eax */
        0x0F, 0x20, 0xC0,                   /* mov eax, cr0 */
        0x0D, 0x00, 0x00, 0x00, 0x80,       /* or eax, PG */
        0x0F, 0x22, 0xC0,                   /* mov cr0, eax */
        0xA1, 0x00, 0x00, 0x80, 0x00,       /* mov eax, [0x800000] */
        0x8B, 0x1D, 0x10, 0x00, 0xA0, 0x00, /* mov ebx, [0xA00010] */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDA7A0001);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0xB16B16);
    ck_assert_uint_eq(c->pdpte[0], PD0 | 1);
    ck_assert_uint_eq(c->pdpte[1], PD1 | 1);
    ck_assert(cpu_harness_peek64(&h, PD0 + 4 * 8) & 0x20);
    ck_assert(cpu_harness_peek64(&h, PTP4) & 0x20);
    ck_assert(cpu_harness_peek64(&h, PD0 + 5 * 8) & 0x20);
    ck_assert(!(cpu_harness_peek64(&h, PDPT) & 0x20)); /* PDPTEs get no A bit */
    c->gpr[CPU_RBX] = 9;
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert(cpu_harness_peek64(&h, PTP4) & 0x40);
    ck_assert_uint_eq(cpu_harness_peek32(&h, DATA + 4), 9);
}
END_TEST

/* The PDPTEs are registers (SDM 4.4.1): clearing PDPTE 1 in memory changes
 * nothing until MOV CR3 reloads them; then VA 0x40000000 is not present. */
START_TEST(pae_pdptes_are_registers)
{
    static const uint8_t code[] = {
        0xA1, 0x00, 0x00, 0x00, 0x40,                               /* mov eax, [0x40000000] */
        0xC7, 0x05, 0x08, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, /* mov dword [PDPT+8], 0 */
        0x8B, 0x1D, 0x00, 0x00, 0x00, 0x40,                         /* mov ebx, [0x40000000] */
        0x0F, 0x20, 0xD8,                                           /* mov eax, cr3 */
        0x0F, 0x22, 0xD8,                                           /* mov cr3, eax */
        0x8B, 0x0D, 0x00, 0x00, 0x00, 0x40,                         /* mov ecx, [0x40000000] */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    paging_pae_on(false);
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0x60060);
    ck_assert_uint_eq(error_code(), 0);
    ck_assert_uint_eq(c->cr2, 0x40000000);
    ck_assert_uint_eq(c->pdpte[1], 0);
}
END_TEST

/* A present PDPTE with a reserved bit: MOV CR3 is #GP(0) and CR3 keeps its
 * value; so is MOV CR0 turning PAE paging on. */
START_TEST(pae_pdpte_reserved_gp)
{
    static const uint8_t code[] = {
        0xB8, 0x00, 0x00, 0x22, 0x00, /* mov eax, 0x220000 */
        0x0F, 0x22, 0xD8,             /* mov cr3, eax */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, 0x220000, PD0 | 1 | 4); /* bit 2 is reserved in a PDPTE */
    paging_pae_on(false);
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(error_code(), 0);
    ck_assert_uint_eq(c->cr3, PDPT);
    ck_assert_uint_eq(c->pdpte[0], PD0 | 1);

    /* Not present: the reserved bits do not matter. */
    cpu_harness_poke64(&h, 0x220000, PD0 | 1);
    cpu_harness_poke64(&h, 0x220008, 4);
    c->gpr[CPU_RSP] = STACK;
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->cr3, 0x220000);
    ck_assert_uint_eq(c->pdpte[1], 4);

    /* PG = 1 with CR4.PAE and a bad PDPTE at CR3. */
    c->cr0 &= ~(uint64_t)CPU_CR0_PG;
    c->cr3 = PDPT;
    cpu_harness_poke64(&h, PDPT + 16, 0x100 | 1);
    static const uint8_t pg_on[] = {
        0x0F, 0x20, 0xC0,             /* mov eax, cr0 */
        0x0D, 0x00, 0x00, 0x00, 0x80, /* or eax, PG */
        0x0F, 0x22, 0xC0,             /* mov cr0, eax */
        0xF4,
    };
    c->gpr[CPU_RSP] = STACK;
    ck_assert_int_eq(run(pg_on, sizeof pg_on), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert(!(c->cr0 & CPU_CR0_PG));
}
END_TEST

/* XD (SDM 4.6.2): with EFER.NXE a fetch from an XD page is #PF with I|P;
 * without NXE bit 63 is reserved (#PF with RSVD|P); bits 62:52 are
 * reserved in PAE entries. */
START_TEST(pae_nx_and_reserved)
{
    static const uint8_t call[] = {
        0xBB, 0x00, 0x00, 0x80, 0x00, /* mov ebx, 0x800000 */
        0xFF, 0xD3,                   /* call ebx */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, PTP4, DATA | 7 | (1ull << 63));
    paging_pae_on(true);
    ck_assert_int_eq(run(call, sizeof call), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    /* The CALL completed (its return address is pushed); the fault is
     * the fetch at the target. */
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 20), CPU_PF_I | CPU_PF_P);
    ck_assert_uint_eq(c->cr2, 0x800000);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), 0x800000);
    /* A read of the XD page is fine. */
    c->gpr[CPU_RSP] = STACK;
    ck_assert_int_eq(run_n(load_store, sizeof load_store, 1), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xDA7A0001);

    c->gpr[CPU_RSP] = STACK;
    c->efer = 0;
    cpu_tlb_flush(c);
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(error_code(), CPU_PF_RSVD | CPU_PF_P);

    cpu_harness_poke64(&h, PTP4, DATA | 7 | (1ull << 52));
    c->gpr[CPU_RSP] = STACK;
    cpu_tlb_flush(c);
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_uint_eq(error_code(), CPU_PF_RSVD | CPU_PF_P);

    /* A 2-MByte PDE with bit 13 set: reserved. */
    cpu_harness_poke64(&h, PTP4, DATA | 7);
    cpu_harness_poke64(&h, PD0 + 4 * 8, 0x400000 | 0x2000 | 0x87);
    c->gpr[CPU_RSP] = STACK;
    cpu_tlb_flush(c);
    ck_assert_int_eq(run(load_store, sizeof load_store), CPU_STOP_HALT);
    ck_assert_uint_eq(error_code(), CPU_PF_RSVD | CPU_PF_P);
}
END_TEST

/* 32-bit paging has no XD: a fetch fault has no I bit. */
START_TEST(fetch_fault_32bit_no_i)
{
    static const uint8_t call[] = {0xBB, 0x00, 0x00, 0x80, 0x00, 0xFF, 0xD3, 0xF4};
    cpu_t *c = &h.cpu;
    cpu_harness_poke32(&h, PT2, 0);
    c->efer = CPU_EFER_NXE;
    paging32_on(false);
    ck_assert_int_eq(run(call, sizeof call), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_PF);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 20), 0); /* below the pushed return address */
}
END_TEST

/* A routine at VA 0xC00000 returns 1; its PTE is switched to a page whose
 * routine returns 2. After INVLPG (or a MOV CR3) the call runs the new
 * code: translations and the decoded blocks reached through them are gone
 * (SDM 4.10.4.1). */
static void remap_code(const uint8_t *code, size_t len)
{
    static const uint8_t r1[] = {0xB8, 1, 0, 0, 0, 0xC3};
    static const uint8_t r2[] = {0xB8, 2, 0, 0, 0, 0xC3};
    cpu_t *c = &h.cpu;
    cpu_harness_load(&h, 0x310000, r1, sizeof r1);
    cpu_harness_load(&h, 0x311000, r2, sizeof r2);
    cpu_harness_poke32(&h, PT3, 0x310000 | 3);
    paging32_on(false);
    ck_assert_int_eq(run(code, len), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RSI], 1);
    ck_assert_uint_eq(c->gpr[CPU_RDI], 2);
}

START_TEST(invlpg_and_cr3_invalidate)
{
    static const uint8_t with_invlpg[] = {
        0xBB, 0x00, 0x00, 0xC0, 0x00,                               /* mov ebx, 0xC00000 */
        0xFF, 0xD3,                                                 /* call ebx */
        0x89, 0xC6,                                                 /* mov esi, eax */
        0xC7, 0x05, 0x00, 0x30, 0x20, 0x00, 0x03, 0x10, 0x31, 0x00, /* mov dword [PT3], 0x311003 */
        0x0F, 0x01, 0x3D, 0x00, 0x00, 0xC0, 0x00,                   /* invlpg [0xC00000] */
        0xFF, 0xD3,                                                 /* call ebx */
        0x89, 0xC7,                                                 /* mov edi, eax */
        0xF4,
    };
    static const uint8_t with_cr3[] = {
        0xBB, 0x00, 0x00, 0xC0, 0x00,
        0xFF, 0xD3,
        0x89, 0xC6,
        0xC7, 0x05, 0x00, 0x30, 0x20, 0x00, 0x03, 0x10, 0x31, 0x00,
        0x0F, 0x20, 0xD8, /* mov eax, cr3 */
        0x0F, 0x22, 0xD8, /* mov cr3, eax */
        0xFF, 0xD3,
        0x89, 0xC7,
        0xF4,
    };
    remap_code(with_invlpg, sizeof with_invlpg);
    teardown();
    setup();
    remap_code(with_cr3, sizeof with_cr3);
}
END_TEST

/* Paging off again in 32-bit mode: linear = physical. */
START_TEST(paging_off_in_32bit_mode)
{
    static const uint8_t code[] = {
        0xA1, 0x00, 0x00, 0x80, 0x00, /* mov eax, [0x800000] */
        0x89, 0xC3,                   /* mov ebx, eax */
        0x0F, 0x20, 0xC0,             /* mov eax, cr0 */
        0x25, 0xFF, 0xFF, 0xFF, 0x7F, /* and eax, ~PG */
        0x0F, 0x22, 0xC0,             /* mov cr0, eax */
        0xA1, 0x00, 0x00, 0x80, 0x00, /* mov eax, [0x800000] */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    paging32_on(true);
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(c->gpr[CPU_RBX], 0xDA7A0001);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x9A9A9A);
    ck_assert(!(c->cr0 & CPU_CR0_PG));
}
END_TEST

/* From PAE paging to IA-32e mode (SDM 9.8.5): paging off, CR3 = a PML4,
 * EFER.LME, paging on (compatibility mode, LMA = 1, 4-level paging: no
 * PDPTEs loaded), a far JMP into the 64-bit code segment. */
START_TEST(pae_to_long_mode)
{
    uint8_t code[96];
    static const uint8_t head[] = {
        0x0F, 0x20, 0xC0,             /* mov eax, cr0 */
        0x25, 0xFF, 0xFF, 0xFF, 0x7F, /* and eax, ~PG */
        0x0F, 0x22, 0xC0,             /* mov cr0, eax */
        0xB8, 0x00, 0x10, 0x00, 0x00, /* mov eax, 0x1000 (the harness PML4) */
        0x0F, 0x22, 0xD8,             /* mov cr3, eax */
        0xB9, 0x80, 0x00, 0x00, 0xC0, /* mov ecx, IA32_EFER */
        0x0F, 0x32,                   /* rdmsr */
        0x0D, 0x00, 0x01, 0x00, 0x00, /* or eax, LME */
        0x0F, 0x30,                   /* wrmsr */
        0x0F, 0x20, 0xC0,             /* mov eax, cr0 */
        0x0D, 0x00, 0x00, 0x00, 0x80, /* or eax, PG */
        0x0F, 0x22, 0xC0,             /* mov cr0, eax */
    };
    size_t n = sizeof head;
    memcpy(code, head, n);
    uint32_t target = CODE + (uint32_t)n + 7;
    uint8_t jmp[] = {0xEA, (uint8_t)target, (uint8_t)(target >> 8), (uint8_t)(target >> 16),
                     (uint8_t)(target >> 24), 0x08, 0};
    memcpy(code + n, jmp, sizeof jmp);
    n += sizeof jmp;
    static const uint8_t tail[] = {0x48, 0xB8, 0x88, 0x77, 0x66, 0x55,
                                   0x44, 0x33, 0x22, 0x11, 0xF4};
    memcpy(code + n, tail, sizeof tail);
    n += sizeof tail;

    cpu_t *c = &h.cpu;
    paging_pae_on(true);
    cpu_harness_poke64(&h, PDPT + 16, 0xFFF); /* would be #GP as a PAE PDPTE: must not be loaded */
    cpu_harness_load(&h, CODE, code, n);
    c->rip = CODE;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 12), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert(c->efer & CPU_EFER_LMA);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x1122334455667788ull);
}
END_TEST

/* MOV CR4 that turns 32-bit paging into PAE paging (SDM 4.1.2) loads the
 * PDPTEs from CR3 first (SDM 4.4.1): here CR3 is the 32-bit page
 * directory, whose first 8 bytes (PDE 0 = PT0|US|RW|P, PDE 1 = 0) make a
 * PDPTE with the reserved bits 2:1 set, so the MOV is #GP(0) and CR4 keeps
 * its value. */
START_TEST(cr4_pae_with_paging_loads_pdptes)
{
    static const uint8_t code[] = {
        0x0F, 0x20, 0xE1, /* mov ecx, cr4 */
        0x83, 0xC9, 0x20, /* or ecx, PAE */
        0x0F, 0x22, 0xE1, /* mov cr4, ecx */
        0xF4,
    };
    cpu_t *c = &h.cpu;
    paging32_on(false);
    ck_assert_int_eq(run(code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(error_code(), 0);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE + 6);
    ck_assert(!(c->cr4 & CPU_CR4_PAE));
}
END_TEST

/* CPUID reports PSE and PSE-36 now that 4-MByte pages work. */
START_TEST(cpuid_pse)
{
    uint32_t r[4];
    cpu_cpuid(&h.cpu, 1, 0, r);
    ck_assert(r[3] & (1u << 3));
    ck_assert(r[3] & (1u << 17));
    ck_assert(r[3] & (1u << 6));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("paging32");
    TCase *t = tcase_create("paging32");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, two_level_4k);
    tcase_add_test(t, pse_4m_pages);
    tcase_add_test(t, ps_ignored_without_pse);
    tcase_add_test(t, supervisor_faults_and_wp);
    tcase_add_test(t, user_faults);
    tcase_add_test(t, pae_4k_and_2m);
    tcase_add_test(t, pae_pdptes_are_registers);
    tcase_add_test(t, pae_pdpte_reserved_gp);
    tcase_add_test(t, pae_nx_and_reserved);
    tcase_add_test(t, fetch_fault_32bit_no_i);
    tcase_add_test(t, invlpg_and_cr3_invalidate);
    tcase_add_test(t, paging_off_in_32bit_mode);
    tcase_add_test(t, pae_to_long_mode);
    tcase_add_test(t, cr4_pae_with_paging_loads_pdptes);
    tcase_add_test(t, cpuid_pse);
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
