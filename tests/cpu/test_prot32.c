/*
 * test_prot32.c — 32-bit protected mode and compatibility mode: execution
 * with 32-bit operand/stack sizes, the 32-bit IDT (SDM Vol. 3A 6.10-6.12),
 * IRETD, segment-load faults with selector error codes (SDM Vol. 2 "MOV",
 * "JMP"), LGDT with 32/16-bit operands, and the transitions protected ->
 * IA-32e (CR4.PAE, EFER.LME, CR0.PG -> LMA, SDM 9.8.5) -> 64-bit mode by a
 * far JMP or a far RET into a 64-bit code segment. Also: the same bytes run
 * in two modes decode separately (the block cache is keyed by mode).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

#define CODE CPU_HARNESS_CODE
#define STACK CPU_HARNESS_STACK
#define IDT32 CPU_HARNESS_IDT32
#define SEL_CODE32 CPU_HARNESS_SEL_CODE32
#define SEL_DATA32 CPU_HARNESS_SEL_DATA32
#define SEL_NP_DATA 0x40
#define SEL_XO_CODE 0x48
#define SEL_DPL3_DATA 0x50
#define SEL_NP_CODE 0x58

/* The harness in the Multiboot state, with 32-bit descriptors added to its
 * GDT and a 32-bit IDT whose vector v handler is the HLT at
 * CPU_HARNESS_HANDLER(v). */
static void setup32(cpu_harness *h)
{
    cpu_harness_init(h);
    cpu_t *c = &h->cpu;
    cpu_harness_poke64(h, 0x500 + 0x38, 0);
    cpu_harness_poke64(h, 0x500 + SEL_NP_DATA, 0x00CF12000000FFFFull);
    cpu_harness_poke64(h, 0x500 + SEL_XO_CODE, 0x00CF98000000FFFFull);
    cpu_harness_poke64(h, 0x500 + SEL_DPL3_DATA, 0x00CFF2000000FFFFull);
    cpu_harness_poke64(h, 0x500 + SEL_NP_CODE, 0x00CF1A000000FFFFull);
    cpu_harness_enter_prot32(h, 0x5F);
    /* These tests kept the harness's EFER.NXE (only LME and LMA cleared). */
    c->efer = CPU_EFER_NXE;
}

static cpu_stop run32(cpu_harness *h, const uint8_t *code, size_t len)
{
    cpu_harness_load(h, CODE, code, len);
    h->cpu.rip = CODE;
    h->cpu.halted = 0;
    return cpu_run(&h->cpu, UINT64_MAX, 1000);
}

START_TEST(arith_branches_call_ret)
{
    cpu_harness h;
    setup32(&h);
    static const uint8_t code[] = {
        0xB9, 0x05, 0, 0, 0, /* mov ecx, 5 */
        0x31, 0xC0,          /* xor eax, eax */
        0x01, 0xC8,          /* L: add eax, ecx */
        0x49,                /* dec ecx (short form) */
        0x75, 0xFB,          /* jnz L */
        0xE8, 1, 0, 0, 0,    /* call f */
        0xF4,                /* hlt */
        0x50,                /* f: push eax */
        0x5B,                /* pop ebx */
        0x43,                /* inc ebx (short form) */
        0xC3,                /* ret */
    };
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_PROT32);
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.rip, CODE + 18);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 15);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], 16);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], STACK);
    /* 4-byte stack slots: the return address at ESP-4, EAX below it. */
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 4), CODE + 17);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 8), 15);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(operand_size_prefix_and_pusha)
{
    cpu_harness h;
    setup32(&h);
    cpu_t *c = &h.cpu;
    for (unsigned r = 0; r < 8; r++)
        if (r != CPU_RSP)
            c->gpr[r] = r + 1;
    static const uint8_t code[] = {
        0x60,             /* pusha */
        0x31, 0xC0,       /* xor eax, eax */
        0x31, 0xDB,       /* xor ebx, ebx */
        0x31, 0xED,       /* xor ebp, ebp */
        0x61,             /* popa */
        0x66, 0x6A, 0xFF, /* push word -1 */
        0x66, 0x58,       /* pop ax */
        0xF4,
    };
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFF);
    ck_assert_uint_eq(c->gpr[CPU_RBX], CPU_RBX + 1);
    ck_assert_uint_eq(c->gpr[CPU_RBP], CPU_RBP + 1);
    ck_assert_uint_eq(c->gpr[CPU_RDI], CPU_RDI + 1);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK);
    /* EAX first; the 2-byte push then wrote FFFF above its low half. */
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 4), 0xFFFF0001u);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 20), STACK);     /* the original ESP */
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 32), CPU_RDI + 1); /* EDI last */
    cpu_harness_free(&h);
}
END_TEST

/* FF /2, /4, /6 (CALL, JMP, PUSH r/m) take the 32-bit operand size
 * outside 64-bit mode (SDM Vol. 2 "CALL", "JMP", "PUSH"): 4-byte slots and
 * 4-byte memory targets. */
START_TEST(grp5_operand_size)
{
    cpu_harness h;
    setup32(&h);
    cpu_t *c = &h.cpu;
    cpu_harness_poke64(&h, 0x2000, 0x5566778811223344ull);
    cpu_harness_poke64(&h, 0x2008, 0xFFFFFFFF00000000ull | (CODE + 0x10));
    uint8_t code[0x18];
    memset(code, 0xF4, sizeof code);
    static const uint8_t a[] = {
        0xFF, 0x35, 0x00, 0x20, 0x00, 0x00, /* push dword [0x2000] */
        0x59,                               /* pop ecx */
        0xFF, 0x25, 0x08, 0x20, 0x00, 0x00, /* jmp dword [0x2008] */
    };
    memcpy(code, a, sizeof a);
    uint32_t ret = CODE + 0x17;
    uint8_t b[] = {0xBB, (uint8_t)ret, (uint8_t)(ret >> 8), (uint8_t)(ret >> 16),
                   0,          /* mov ebx, ret */
                   0xFF, 0xD3, /* call ebx */
                   0xF4};
    memcpy(code + 0x10, b, sizeof b);
    cpu_harness_poke64(&h, STACK - 8, 0);
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(c->rip, CODE + 0x18);
    ck_assert_uint_eq(c->gpr[CPU_RCX], 0x11223344);
    ck_assert_uint_eq(c->gpr[CPU_RSP], STACK - 4);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 4), CODE + 0x17);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 8), 0);
    cpu_harness_free(&h);
}
END_TEST

/* #UD through a 32-bit interrupt gate: EFLAGS, CS, EIP, 4 bytes each. */
START_TEST(exception_through_idt32)
{
    cpu_harness h;
    setup32(&h);
    static const uint8_t code[] = {0x0F, 0x0B}; /* ud2 */
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_UD);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], STACK - 12);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 8), SEL_CODE32);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 4) & 0xFFFF0FFFu, 2);
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_PROT32);
    cpu_harness_free(&h);
}
END_TEST

/* INT 80h to a handler that is IRETD: back after the INT, stack balanced. */
START_TEST(int_and_iretd)
{
    cpu_harness h;
    setup32(&h);
    uint8_t iret = 0xCF;
    cpu_harness_load(&h, 0x9000, &iret, 1);
    cpu_harness_poke64(&h, IDT32 + 0x80 * 8,
                       cpu_harness_gate32(0x9000, SEL_CODE32, 0xF)); /* trap gate */
    cpu_set_rflags(&h.cpu, CPU_FL_FIXED1 | CPU_FL_IF);
    static const uint8_t code[] = {0xCD, 0x80, 0xB8, 7, 0, 0, 0, 0xF4};
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 7);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], STACK);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE + 2); /* the saved EIP: after INT */
    ck_assert(cpu_get_rflags(&h.cpu) & CPU_FL_IF);       /* restored by IRETD */
    cpu_harness_free(&h);
}
END_TEST

/* MOV Sreg faults (SDM Vol. 2 "MOV" protected-mode exceptions), each
 * delivered through the 32-bit IDT with its error code on the stack. */
static void check_sreg_fault(uint16_t sel, unsigned sreg_modrm, int vector, uint32_t error)
{
    cpu_harness h;
    setup32(&h);
    uint8_t code[] = {0x66, 0xB8, (uint8_t)sel, (uint8_t)(sel >> 8), 0x8E, (uint8_t)sreg_modrm,
                      0xF4};
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), vector);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), error);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE + 4); /* the MOV itself */
    ck_assert_uint_eq(h.cpu.seg[CPU_DS].sel, SEL_DATA32);
    ck_assert_uint_eq(h.cpu.seg[CPU_SS].sel, SEL_DATA32);
    cpu_harness_free(&h);
}

START_TEST(segment_load_faults)
{
    check_sreg_fault(SEL_XO_CODE, 0xD8, CPU_EXC_GP, SEL_XO_CODE);     /* DS: execute-only code */
    check_sreg_fault(SEL_NP_DATA, 0xD8, CPU_EXC_NP, SEL_NP_DATA);     /* DS: not present */
    check_sreg_fault(SEL_DPL3_DATA, 0xD0, CPU_EXC_GP, SEL_DPL3_DATA); /* SS: DPL != CPL */
    check_sreg_fault(0, 0xD0, CPU_EXC_GP, 0);                         /* SS: null */
    check_sreg_fault(0x1000, 0xD8, CPU_EXC_GP, 0x1000);               /* beyond the GDT limit */
    check_sreg_fault(0x1004, 0xD8, CPU_EXC_GP, 0x1004);               /* LDT, none loaded */
    check_sreg_fault(SEL_NP_DATA, 0xD0, CPU_EXC_SS, SEL_NP_DATA);     /* SS: not present */
}
END_TEST

START_TEST(segment_load_ok)
{
    cpu_harness h;
    setup32(&h);
    /* mov ax, 0; mov ds, ax (a null DS is allowed); push 0x30; pop es */
    static const uint8_t code[] = {0x66, 0xB8, 0, 0, 0x8E, 0xD8, 0x6A, SEL_DATA32, 0x07, 0xF4};
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), -1);
    ck_assert_uint_eq(h.cpu.seg[CPU_DS].sel, 0);
    ck_assert_uint_eq(h.cpu.seg[CPU_ES].sel, SEL_DATA32);
    ck_assert_uint_eq(h.cpu.seg[CPU_ES].limit, 0xFFFFFFFFu);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], STACK);
    cpu_harness_free(&h);
}
END_TEST

static void check_far_jmp_fault(uint16_t sel, int vector)
{
    cpu_harness h;
    setup32(&h);
    uint8_t code[] = {0xEA, 0, 0, 0x10, 0, (uint8_t)sel, (uint8_t)(sel >> 8), 0xF4};
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), vector);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), sel);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE);
    cpu_harness_free(&h);
}

START_TEST(far_jmp_faults)
{
    check_far_jmp_fault(SEL_DATA32, CPU_EXC_GP); /* not a code segment */
    check_far_jmp_fault(SEL_NP_CODE, CPU_EXC_NP);
    check_far_jmp_fault(0x1000, CPU_EXC_GP);     /* beyond the GDT limit */
}
END_TEST

START_TEST(lgdt_operand_sizes)
{
    cpu_harness h;
    setup32(&h);
    static const uint8_t desc[] = {0x57, 0, 0x78, 0x56, 0x34, 0x12, 0xAA, 0xAA, 0xAA, 0xAA};
    cpu_harness_load(&h, 0x200000, desc, sizeof desc);
    static const uint8_t code[] = {0x0F, 0x01, 0x15, 0, 0, 0x20, 0, 0xF4}; /* lgdt [0x200000] */
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gdtr.limit, 0x57);
    ck_assert_uint_eq(h.cpu.gdtr.base, 0x12345678u); /* 4 bytes, not 8 */
    static const uint8_t code16[] = {0x66, 0x0F, 0x01, 0x15, 0, 0, 0x20, 0, 0xF4};
    ck_assert_int_eq(run32(&h, code16, sizeof code16), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.gdtr.base, 0x345678u); /* 24 bits with a 16-bit operand */
    cpu_harness_free(&h);
}
END_TEST

/* The 32-bit prologue of every long-mode kernel, then the far jump (or far
 * return) into the 64-bit code segment 0x08 of the harness GDT. */
static const uint8_t enable_ia32e[] = {
    0x0F, 0x20, 0xE0,             /* mov eax, cr4 */
    0x83, 0xC8, 0x20,             /* or eax, PAE */
    0x0F, 0x22, 0xE0,             /* mov cr4, eax */
    0xB8, 0x00, 0x10, 0, 0,       /* mov eax, 0x1000 (the harness PML4) */
    0x0F, 0x22, 0xD8,             /* mov cr3, eax */
    0xB9, 0x80, 0, 0, 0xC0,       /* mov ecx, IA32_EFER */
    0x0F, 0x32,                   /* rdmsr */
    0x0D, 0x00, 0x01, 0, 0,       /* or eax, LME */
    0x0F, 0x30,                   /* wrmsr */
    0x0F, 0x20, 0xC0,             /* mov eax, cr0 */
    0x0D, 0, 0, 0, 0x80,          /* or eax, PG */
    0x0F, 0x22, 0xC0,             /* mov cr0, eax: IA-32e compatibility mode */
};

static void check_in_64bit(cpu_harness *h)
{
    ck_assert_int_eq(h->cpu.mode, CPU_MODE_LONG64);
    ck_assert(h->cpu.efer & CPU_EFER_LMA);
    ck_assert_uint_eq(h->cpu.seg[CPU_CS].sel, 0x08);
    ck_assert_uint_eq(h->cpu.gpr[CPU_RAX], 0x1122334455667788ull);
}

START_TEST(protected_to_long_by_far_jmp)
{
    cpu_harness h;
    setup32(&h);
    uint8_t code[128];
    size_t n = sizeof enable_ia32e;
    memcpy(code, enable_ia32e, n);
    uint32_t target = CODE + (uint32_t)n + 7;
    uint8_t jmp[] = {0xEA, (uint8_t)target, (uint8_t)(target >> 8), (uint8_t)(target >> 16),
                     (uint8_t)(target >> 24), 0x08, 0};
    memcpy(code + n, jmp, sizeof jmp);
    n += sizeof jmp;
    static const uint8_t tail[] = {0x48, 0xB8, 0x88, 0x77, 0x66, 0x55,
                                   0x44, 0x33, 0x22, 0x11, 0xF4};
    memcpy(code + n, tail, sizeof tail);
    n += sizeof tail;

    /* Step to the MOV CR0 and check compatibility mode on the way. */
    cpu_harness_load(&h, CODE, code, n);
    h.cpu.rip = CODE;
    ck_assert_int_eq(cpu_run(&h.cpu, UINT64_MAX, 12), CPU_STOP_INSNS);
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_COMPAT32);
    ck_assert(h.cpu.efer & CPU_EFER_LMA);
    ck_assert_int_eq(cpu_run(&h.cpu, UINT64_MAX, 10), CPU_STOP_HALT);
    check_in_64bit(&h);
    ck_assert_uint_eq(h.cpu.rip, target + 11);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(compat_to_long_by_lret)
{
    cpu_harness h;
    setup32(&h);
    uint8_t code[128];
    size_t n = sizeof enable_ia32e;
    memcpy(code, enable_ia32e, n);
    uint32_t target = CODE + (uint32_t)n + 8;
    uint8_t lret[] = {0x6A, 0x08, 0x68, (uint8_t)target, (uint8_t)(target >> 8),
                      (uint8_t)(target >> 16), (uint8_t)(target >> 24), 0xCB};
    memcpy(code + n, lret, sizeof lret);
    n += sizeof lret;
    static const uint8_t tail[] = {0x48, 0xB8, 0x88, 0x77, 0x66, 0x55,
                                   0x44, 0x33, 0x22, 0x11, 0xF4};
    memcpy(code + n, tail, sizeof tail);
    n += sizeof tail;
    ck_assert_int_eq(run32(&h, code, n), CPU_STOP_HALT);
    check_in_64bit(&h);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], STACK);
    cpu_harness_free(&h);
}
END_TEST

/* PG with LME but PAE clear is #GP(0) (SDM 9.8.5). */
START_TEST(ia32e_needs_pae)
{
    cpu_harness h;
    setup32(&h);
    static const uint8_t code[] = {
        0xB9, 0x80, 0, 0, 0xC0, 0x0F, 0x32, 0x0D, 0x00, 0x01, 0, 0, 0x0F, 0x30, /* EFER.LME */
        0x0F, 0x20, 0xC0, 0x0D, 0, 0, 0, 0x80, 0x0F, 0x22, 0xC0, 0xF4,           /* CR0.PG */
    };
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert(!(h.cpu.cr0 & CPU_CR0_PG));
    ck_assert(!(h.cpu.efer & CPU_EFER_LMA));
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_PROT32);
    cpu_harness_free(&h);
}
END_TEST

/* 48 90 F4 is DEC EAX; NOP; HLT as 32-bit code and REX.W NOP; HLT as 64-bit
 * code: run at one physical address in both modes, neither decoding may be
 * reused for the other. */
START_TEST(block_cache_keyed_by_mode)
{
    cpu_harness h;
    setup32(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {0x48, 0x90, 0xF4};
    c->gpr[CPU_RAX] = 0;
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFu);
    ck_assert_uint_eq(c->rip, CODE + 3);

    c->cr4 |= CPU_CR4_PAE;
    c->efer |= CPU_EFER_LME | CPU_EFER_LMA;
    c->cr0 |= CPU_CR0_PG;
    cpu_tlb_flush(c);
    cpu_set_segment(c, CPU_CS, 0x08, 0, 0xFFFFFFFF, 0x29B);
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    c->gpr[CPU_RAX] = 0;
    c->rip = CODE;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0);
    ck_assert_uint_eq(c->rip, CODE + 3);

    /* And back: 32-bit again finds its own block. */
    c->cr0 &= ~(uint64_t)CPU_CR0_PG;
    c->efer &= ~(uint64_t)(CPU_EFER_LME | CPU_EFER_LMA);
    cpu_set_segment(c, CPU_CS, SEL_CODE32, 0, 0xFFFFFFFF, 0xC9B);
    ck_assert_int_eq(c->mode, CPU_MODE_PROT32);
    c->rip = CODE;
    c->halted = 0;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0xFFFFFFFFu);
    cpu_harness_free(&h);
}
END_TEST

/* 32-bit paging and an ES base no longer stop the run: they execute. */
START_TEST(paging_and_es_base_execute)
{
    cpu_harness h;
    setup32(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {0x40, 0xF4};
    cpu_harness_load(&h, CODE, code, sizeof code);
    ck_assert_ptr_null(cpu_unexecuted_reason(c));
    /* 32-bit paging and an ES base are executed now (test_paging32.c,
     * test_legacy_ops.c). */
    c->seg[CPU_ES].base = 0x1000;
    c->cr0 |= CPU_CR0_PG;
    c->cr3 = 0x200000; /* an empty page directory: the fetch is #PF, then a triple fault */
    c->rip = CODE;
    ck_assert_ptr_null(cpu_unexecuted_reason(c));
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_TRIPLE_FAULT);
    cpu_harness_free(&h);
}
END_TEST


/* A CPU started by SIPI (vector 10H: CS = 1000H, base 10000H, IP = 0) runs
 * real-mode code: DS = CS, a moffs load through DS's base, INT 21H through
 * the IVT and IRET back; then LGDT with a 16-bit operand, CR0.PE (16-bit
 * protected mode, the real-mode CS base kept), a far jump into the 32-bit
 * code segment, IA-32e and a far jump into 64-bit mode. */
START_TEST(sipi_real_protected_long)
{
    cpu_harness h;
    setup32(&h);
    cpu_t *c = &h.cpu;
    cpu_reset(c, true);
    cpu_start_sipi(c, 0x10);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    uint8_t code[160];
    memset(code, 0x90, sizeof code);
    static const uint8_t real[] = {
        0x8C, 0xC8,                   /* mov ax, cs */
        0x8E, 0xD8,                   /* mov ds, ax */
        0xA1, 0x00, 0x01,             /* mov ax, [0x100] */
        0x89, 0xC3,                   /* mov bx, ax */
        0xBC, 0x00, 0x80,             /* mov sp, 0x8000 */
        0xCD, 0x21,                   /* int 0x21 */
        0x0F, 0x01, 0x16, 0x10, 0x01, /* lgdt [0x110] */
        0x0F, 0x20, 0xC0,             /* mov eax, cr0 */
        0x0C, 0x01,                   /* or al, 1 */
        0x0F, 0x22, 0xC0,             /* mov cr0, eax: 16-bit protected mode */
        0x66, 0xEA, 0x40, 0x00, 0x01, 0x00, SEL_CODE32, 0x00, /* jmp dword 0x28:0x10040 */
    };
    memcpy(code, real, sizeof real);
    size_t n = 0x40;
    memcpy(code + n, enable_ia32e, sizeof enable_ia32e);
    n += sizeof enable_ia32e;
    uint32_t target = 0x10000 + (uint32_t)n + 7;
    uint8_t jmp[] = {0xEA, (uint8_t)target, (uint8_t)(target >> 8), (uint8_t)(target >> 16),
                     (uint8_t)(target >> 24), 0x08, 0};
    memcpy(code + n, jmp, sizeof jmp);
    n += sizeof jmp;
    static const uint8_t tail[] = {0x48, 0xB8, 0x88, 0x77, 0x66, 0x55,
                                   0x44, 0x33, 0x22, 0x11, 0xF4};
    memcpy(code + n, tail, sizeof tail);
    n += sizeof tail;
    cpu_harness_load(&h, 0x10000, code, n);
    static const uint8_t word[] = {0xEF, 0xBE};
    cpu_harness_load(&h, 0x10100, word, sizeof word);
    static const uint8_t gdtr[] = {0x5F, 0x00, 0x00, 0x05, 0x00, 0xAA};
    cpu_harness_load(&h, 0x10110, gdtr, sizeof gdtr);
    static const uint8_t ivt21[] = {0x00, 0x02, 0x00, 0x10};
    cpu_harness_load(&h, 0x21 * 4, ivt21, sizeof ivt21);
    static const uint8_t handler[] = {0xB9, 0x34, 0x12, 0xCF}; /* mov cx, 0x1234; iret */
    cpu_harness_load(&h, 0x10200, handler, sizeof handler);

    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 8), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    ck_assert_uint_eq(c->seg[CPU_DS].base, 0x10000);
    ck_assert_uint_eq(c->gpr[CPU_RBX] & 0xFFFF, 0xBEEF);
    ck_assert_uint_eq(c->gpr[CPU_RCX] & 0xFFFF, 0x1234);
    ck_assert_uint_eq(c->gpr[CPU_RSP] & 0xFFFF, 0x8000);
    ck_assert_uint_eq(c->rip, 14);
    ck_assert_uint_eq(c->seg[CPU_CS].base, 0x10000);
    /* The INT frame: IP after INT, CS, FLAGS, 2 bytes each. */
    uint64_t frame = cpu_harness_peek64(&h, 0x8000 - 6);
    ck_assert_uint_eq(frame & 0xFFFF, 14);
    ck_assert_uint_eq((frame >> 16) & 0xFFFF, 0x1000);

    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 4), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->gdtr.base, 0x500); /* 24-bit base with a 16-bit operand */
    ck_assert_uint_eq(c->gdtr.limit, 0x5F);
    ck_assert_int_eq(c->mode, CPU_MODE_PROT16);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 1), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_PROT32);
    ck_assert_uint_eq(c->rip, 0x10040);
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 100), CPU_STOP_HALT);
    check_in_64bit(&h);
    cpu_harness_free(&h);
}
END_TEST

/* ---- LTR, LLDT, STR, SLDT with 8-byte descriptors (SDM Vol. 2 "LTR",
 * "LLDT", Vol. 3A 7.2.2-7.2.4) ------------------------------------------------ */

#define SEL_TSS32 0x60
#define SEL_TSS16 0x68
#define SEL_LDT 0x70
#define SEL_NP_TSS32 0x78
#define SEL_NP_LDT 0x80
#define SEL_CODE32_DPL3 0x88
#define TSS32_BASE 0x7000u
#define LDT_BASE 0x7800u

static uint64_t sys_desc(uint32_t base, uint32_t limit, unsigned type_p)
{
    return (limit & 0xFFFFull) | ((uint64_t)(base & 0xFFFFFF) << 16) | ((uint64_t)type_p << 40) |
           ((uint64_t)((limit >> 16) & 0xF) << 48) | ((uint64_t)(base >> 24) << 56);
}

/* setup32 plus TSS and LDT descriptors in the GDT. */
static void setup32_sys(cpu_harness *h)
{
    setup32(h);
    cpu_harness_poke64(h, 0x500 + SEL_TSS32, sys_desc(TSS32_BASE, 0x67, 0x89));
    cpu_harness_poke64(h, 0x500 + SEL_TSS16, sys_desc(0x7100, 0x2B, 0x81));
    cpu_harness_poke64(h, 0x500 + SEL_LDT, sys_desc(LDT_BASE, 0x17, 0x82));
    cpu_harness_poke64(h, 0x500 + SEL_NP_TSS32, sys_desc(TSS32_BASE, 0x67, 0x09));
    cpu_harness_poke64(h, 0x500 + SEL_NP_LDT, sys_desc(LDT_BASE, 0x17, 0x02));
    cpu_harness_poke64(h, 0x500 + SEL_CODE32_DPL3, 0x00CFFA000000FFFFull);
    h->cpu.gdtr.limit = 0x8F;
}

static unsigned gdt_type(cpu_harness *h, uint16_t sel)
{
    uint64_t d = 0;
    ck_assert(cpu_phys_read(&h->phys, 0x500 + sel, &d, 8));
    return (unsigned)(d >> 40) & 0xFF;
}

START_TEST(ltr_lldt_str_sldt_32)
{
    cpu_harness h;
    setup32_sys(&h);
    cpu_t *c = &h.cpu;
    c->gpr[CPU_RBX] = ~0ull;
    c->gpr[CPU_RCX] = ~0ull;
    static const uint8_t code[] = {
        0x66, 0xB8, SEL_TSS32, 0,   /* mov ax, TSS32 */
        0x0F, 0x00, 0xD8,           /* ltr ax */
        0x0F, 0x00, 0xCB,           /* str ebx */
        0x66, 0xB8, SEL_LDT, 0,     /* mov ax, LDT */
        0x0F, 0x00, 0xD0,           /* lldt ax */
        0x0F, 0x00, 0xC1,           /* sldt ecx */
        0x0F, 0x00, 0x0D, 0, 0x40, 0, 0, /* str [0x4000] */
        0x66, 0xB8, SEL_TSS16, 0,   /* mov ax, TSS16 */
        0x0F, 0x00, 0xD8,           /* ltr ax: a 16-bit TSS */
        0x66, 0xB8, SEL_TSS32, 0,   /* mov ax, TSS32 */
        0x0F, 0x00, 0xD8,           /* ltr ax: busy now, #GP(sel) */
        0xF4,
    };
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RBX], SEL_TSS32); /* zero-extended to 32 bits */
    ck_assert_uint_eq(c->gpr[CPU_RCX], SEL_LDT);
    ck_assert_uint_eq(cpu_harness_peek32(&h, 0x4000) & 0xFFFF, SEL_TSS32);
    ck_assert_uint_eq(c->ldtr.sel, SEL_LDT);
    ck_assert_uint_eq(c->ldtr.base, LDT_BASE);
    ck_assert_uint_eq(c->ldtr.limit, 0x17);
    ck_assert_uint_eq(gdt_type(&h, SEL_TSS32), 0x8B); /* busy 32-bit TSS */
    ck_assert_uint_eq(gdt_type(&h, SEL_TSS16), 0x83); /* busy 16-bit TSS */
    ck_assert_uint_eq(c->tr.sel, SEL_TSS16);
    ck_assert_uint_eq(c->tr.base, 0x7100);
    ck_assert_uint_eq(c->tr.limit, 0x2B);
    ck_assert_uint_eq(c->tr.attr & 0x9F, 0x83);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), SEL_TSS32);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE + sizeof code - 4);
    cpu_harness_free(&h);
}
END_TEST

/* One LTR (digit 3) or LLDT (digit 2) of sel that must fault with vector
 * and error code, leaving TR and LDTR as they were. */
static void check_sys_fault(unsigned digit, uint16_t sel, int vector, uint32_t error)
{
    cpu_harness h;
    setup32_sys(&h);
    cpu_seg tr = h.cpu.tr, ldtr = h.cpu.ldtr;
    uint8_t code[] = {0x66, 0xB8, (uint8_t)sel, (uint8_t)(sel >> 8), 0x0F, 0x00,
                      (uint8_t)(0xC0 | digit << 3), 0xF4};
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), vector);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), error);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 12), CODE + 4);
    ck_assert_uint_eq(h.cpu.tr.sel, tr.sel);
    ck_assert_uint_eq(h.cpu.ldtr.sel, ldtr.sel);
    ck_assert_uint_eq(h.cpu.ldtr.attr, ldtr.attr);
    cpu_harness_free(&h);
}

START_TEST(ltr_lldt_faults_32)
{
    check_sys_fault(3, SEL_DATA32, CPU_EXC_GP, SEL_DATA32);       /* not a TSS */
    check_sys_fault(3, SEL_LDT, CPU_EXC_GP, SEL_LDT);             /* an LDT, not a TSS */
    check_sys_fault(3, SEL_TSS32 | 4, CPU_EXC_GP, SEL_TSS32 | 4); /* in the LDT */
    check_sys_fault(3, SEL_NP_TSS32, CPU_EXC_NP, SEL_NP_TSS32);   /* not present */
    check_sys_fault(3, 0, CPU_EXC_GP, 0);                         /* null */
    check_sys_fault(3, 0x1000, CPU_EXC_GP, 0x1000);               /* beyond the GDT limit */
    check_sys_fault(2, SEL_TSS32, CPU_EXC_GP, SEL_TSS32);         /* not an LDT */
    check_sys_fault(2, SEL_LDT | 4, CPU_EXC_GP, SEL_LDT | 4);     /* in the LDT */
    check_sys_fault(2, SEL_NP_LDT, CPU_EXC_NP, SEL_NP_LDT);       /* not present */
    check_sys_fault(2, 0x1000, CPU_EXC_GP, 0x1000);               /* beyond the GDT limit */
}
END_TEST

/* LLDT with a null selector makes LDTR unusable: a later LDT reference is
 * #GP(sel). */
START_TEST(lldt_null_unusable_32)
{
    cpu_harness h;
    setup32_sys(&h);
    static const uint8_t code[] = {
        0x66, 0xB8, SEL_LDT, 0, 0x0F, 0x00, 0xD0, /* lldt LDT */
        0x66, 0x31, 0xC0, 0x0F, 0x00, 0xD0,       /* xor ax, ax; lldt ax */
        0x66, 0xB8, 0x04, 0, 0x8E, 0xD8,          /* mov ds, 4 (LDT entry 0) */
        0xF4,
    };
    ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
    ck_assert_uint_eq(h.cpu.ldtr.sel, 0);
    ck_assert(!(h.cpu.ldtr.attr & CPU_SEG_P));
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(cpu_harness_peek32(&h, STACK - 16), 4);
    cpu_harness_free(&h);
}
END_TEST

/* LTR and LLDT at CPL 3 are #GP(0), delivered on the TSS's SS0:ESP0. */
START_TEST(ltr_lldt_cpl3_gp0_32)
{
    for (unsigned digit = 2; digit <= 3; digit++) {
        cpu_harness h;
        setup32_sys(&h);
        cpu_t *c = &h.cpu;
        uint32_t esp0 = 0x60000;
        ck_assert(cpu_phys_write(&h.phys, TSS32_BASE + 4, &esp0, 4));
        uint32_t ss0 = SEL_DATA32;
        ck_assert(cpu_phys_write(&h.phys, TSS32_BASE + 8, &ss0, 4));
        c->tr = (cpu_seg){.sel = SEL_TSS32, .attr = 0x8B, .limit = 0x67, .base = TSS32_BASE};
        c->seg[CPU_CS].sel = SEL_CODE32_DPL3 | 3;
        c->seg[CPU_CS].attr |= 0x60;
        c->seg[CPU_SS].sel = SEL_DPL3_DATA | 3;
        c->seg[CPU_SS].attr |= 0x60;
        c->cpl = 3;
        uint8_t code[] = {0x66, 0xB8, SEL_TSS32, 0, 0x0F, 0x00, (uint8_t)(0xC0 | digit << 3), 0xF4};
        ck_assert_int_eq(run32(&h, code, sizeof code), CPU_STOP_HALT);
        ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
        ck_assert_uint_eq(c->cpl, 0);
        ck_assert_uint_eq(cpu_harness_peek32(&h, esp0 - 24), 0);        /* error code */
        ck_assert_uint_eq(cpu_harness_peek32(&h, esp0 - 20), CODE + 4); /* the LTR/LLDT */
        ck_assert_uint_eq(gdt_type(&h, SEL_TSS32), 0x89);   /* not marked busy */
        cpu_harness_free(&h);
    }
}
END_TEST

/* In compatibility mode the IA-32e rules stay (SDM Vol. 2 "LTR": 16-byte
 * descriptor, only a 64-bit TSS): a 16-bit TSS is #GP(sel), and so is the
 * 32-bit TSS at 0x60, whose "upper half" (the descriptor at 0x68) has a
 * non-zero type field. */
static void check_compat_ltr(uint16_t sel)
{
    cpu_harness h;
    setup32_sys(&h);
    cpu_t *c = &h.cpu;
    uint8_t code[128];
    size_t n = sizeof enable_ia32e;
    memcpy(code, enable_ia32e, n);
    uint8_t ltr[] = {0x66, 0xB8, (uint8_t)sel, 0, 0x0F, 0x00, 0xD8, 0xF4};
    memcpy(code + n, ltr, sizeof ltr);
    cpu_harness_load(&h, CODE, code, n + sizeof ltr);
    c->rip = CODE;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 12), CPU_STOP_INSNS);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    c->idtr.base = CPU_HARNESS_IDT; /* the harness's 64-bit IDT */
    c->idtr.limit = 256 * 16 - 1;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert_uint_eq(cpu_harness_peek64(&h, STACK - 48), sel);
    ck_assert_uint_eq(gdt_type(&h, sel), sel == SEL_TSS16 ? 0x81 : 0x89);
    ck_assert_uint_ne(c->tr.sel, sel);
    cpu_harness_free(&h);
}

START_TEST(ltr_compat_ia32e_rules)
{
    check_compat_ltr(SEL_TSS16);
    check_compat_ltr(SEL_TSS32);
}
END_TEST

/* Real mode does not recognize the group-6 instructions (#UD). */
START_TEST(ltr_real_mode_ud)
{
    cpu_harness h;
    setup32_sys(&h);
    cpu_t *c = &h.cpu;
    c->cr0 &= ~(uint64_t)CPU_CR0_PE;
    cpu_update_mode(c);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    c->seg[CPU_CS].base = 0;
    c->seg[CPU_CS].sel = 0;
    uint8_t code[] = {0x0F, 0x00, 0xC8, 0xF4}; /* str ax */
    cpu_harness_load(&h, 0x7C00, code, sizeof code);
    c->rip = 0x7C00;
    c->idtr.base = 0;
    c->idtr.limit = 0x3FF;
    uint32_t ivt6 = 0x7D00; /* vector 6 -> 0000:7D00, a HLT */
    ck_assert(cpu_phys_write(&h.phys, 6 * 4, &ivt6, 4));
    uint8_t hlt = 0xF4;
    ck_assert(cpu_phys_write(&h.phys, 0x7D00, &hlt, 1));
    c->gpr[CPU_RAX] = 0x1234;
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_uint_eq(c->rip, 0x7D01);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0x1234);
    cpu_harness_free(&h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("prot32");
    TCase *t = tcase_create("prot32");
    tcase_add_test(t, arith_branches_call_ret);
    tcase_add_test(t, operand_size_prefix_and_pusha);
    tcase_add_test(t, grp5_operand_size);
    tcase_add_test(t, exception_through_idt32);
    tcase_add_test(t, int_and_iretd);
    tcase_add_test(t, segment_load_faults);
    tcase_add_test(t, segment_load_ok);
    tcase_add_test(t, far_jmp_faults);
    tcase_add_test(t, lgdt_operand_sizes);
    tcase_add_test(t, protected_to_long_by_far_jmp);
    tcase_add_test(t, compat_to_long_by_lret);
    tcase_add_test(t, ia32e_needs_pae);
    tcase_add_test(t, block_cache_keyed_by_mode);
    tcase_add_test(t, paging_and_es_base_execute);
    tcase_add_test(t, sipi_real_protected_long);
    tcase_add_test(t, ltr_lldt_str_sldt_32);
    tcase_add_test(t, ltr_lldt_faults_32);
    tcase_add_test(t, lldt_null_unusable_32);
    tcase_add_test(t, ltr_lldt_cpl3_gp0_32);
    tcase_add_test(t, ltr_compat_ia32e_rules);
    tcase_add_test(t, ltr_real_mode_ud);
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
