/*
 * test_modes.c — the CPU's modes: how CR0.PE, EFER.LMA, CS.L and CS.D
 * select one (SDM Vol. 3A 2.2), the architectural states the layers above
 * set (RESET/INIT per SDM 9.1.1, the SIPI start, the Multiboot entry), the
 * decoder's per-mode defaults and opcode validity, and transitions through
 * MOV CR0 / WRMSR EFER.
 */
#include <check.h>
#include <stdlib.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_harness.h"

static unsigned dec(cpu_mode mode, const uint8_t *b, unsigned n, cpu_insn *i)
{
    cpu_cost_model costs;
    cpu_cost_default(&costs);
    return cpu_decode(mode, &costs, b, n, i);
}

START_TEST(mode_of_control_bits)
{
    const uint16_t d = CPU_SEG_DB, l = CPU_SEG_L;
    ck_assert_int_eq(cpu_mode_of(0, 0, 0), CPU_MODE_REAL);
    ck_assert_int_eq(cpu_mode_of(0, 0, d), CPU_MODE_REAL); /* PE decides before D */
    ck_assert_int_eq(cpu_mode_of(CPU_CR0_PE, 0, 0), CPU_MODE_PROT16);
    ck_assert_int_eq(cpu_mode_of(CPU_CR0_PE, 0, d), CPU_MODE_PROT32);
    ck_assert_int_eq(cpu_mode_of(CPU_CR0_PE, 0, l), CPU_MODE_PROT16); /* L ignored without LMA */
    uint64_t cr0 = CPU_CR0_PE | CPU_CR0_PG;
    uint64_t lma = CPU_EFER_LME | CPU_EFER_LMA;
    ck_assert_int_eq(cpu_mode_of(cr0, lma, l), CPU_MODE_LONG64);
    ck_assert_int_eq(cpu_mode_of(cr0, lma, d), CPU_MODE_COMPAT32);
    ck_assert_int_eq(cpu_mode_of(cr0, lma, 0), CPU_MODE_COMPAT16);
    ck_assert_int_eq(cpu_mode_of(cr0, CPU_EFER_LME, l), CPU_MODE_PROT16); /* LME alone is not IA-32e */
    ck_assert_str_eq(cpu_mode_name(CPU_MODE_REAL), "real");
    ck_assert_str_eq(cpu_mode_name(CPU_MODE_LONG64), "64-bit");
    ck_assert(cpu_mode_executes(CPU_MODE_LONG64));
    ck_assert(cpu_mode_executes(CPU_MODE_PROT32));
    ck_assert(cpu_mode_executes(CPU_MODE_REAL));
    ck_assert(cpu_mode_executes(CPU_MODE_COMPAT16));
}
END_TEST

START_TEST(reset_state)
{
    cpu_harness h;
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    c->gpr[CPU_RAX] = 5;
    c->cr0 |= CPU_CR0_CD | CPU_CR0_NW;
    c->star = 0x1234;
    cpu_reset(c, false);
    /* SDM Vol. 3A Table 9-1. */
    uint32_t sig[4];
    cpu_cpuid(c, 1, 0, sig);
    ck_assert_uint_eq(c->gpr[CPU_RDX], sig[0]);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 0);
    ck_assert_uint_eq(c->rip, 0xFFF0);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, 0xF000);
    ck_assert_uint_eq(c->seg[CPU_CS].base, 0xFFFF0000u);
    ck_assert_uint_eq(c->seg[CPU_CS].limit, 0xFFFF);
    ck_assert_uint_eq(c->seg[CPU_DS].base, 0);
    ck_assert_uint_eq(c->seg[CPU_SS].limit, 0xFFFF);
    ck_assert_uint_eq(c->cr0, 0x60000010u);
    ck_assert_uint_eq(c->cr3, 0);
    ck_assert_uint_eq(c->cr4, 0);
    ck_assert_uint_eq(c->efer, 0);
    ck_assert_uint_eq(cpu_get_rflags(c), 2);
    ck_assert_uint_eq(c->idtr.base, 0);
    ck_assert_uint_eq(c->idtr.limit, 0xFFFF);
    ck_assert_uint_eq(c->dr[6], 0xFFFF0FF0u);
    ck_assert_uint_eq(c->dr[7], 0x400);
    ck_assert_uint_eq(c->star, 0);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(init_keeps_cache_bits_and_msrs)
{
    cpu_harness h;
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    c->cr0 &= ~(uint64_t)(CPU_CR0_CD | CPU_CR0_NW);
    c->star = 0x1234;
    c->halted = 1;
    cpu_reset(c, true);
    ck_assert_uint_eq(c->cr0, CPU_CR0_ET); /* CD and NW kept clear (Table 9-1 note) */
    ck_assert_uint_eq(c->star, 0x1234);
    ck_assert_uint_eq(c->halted, 0);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(sipi_start)
{
    cpu_harness h;
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    cpu_reset(c, true);
    cpu_start_sipi(c, 0x9A);
    ck_assert_uint_eq(c->seg[CPU_CS].sel, 0x9A00);
    ck_assert_uint_eq(c->seg[CPU_CS].base, 0x9A000);
    ck_assert_uint_eq(c->rip, 0);
    ck_assert_int_eq(c->mode, CPU_MODE_REAL);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(multiboot_entry_state)
{
    cpu_harness h;
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    cpu_set_rflags(c, CPU_FL_IF | CPU_FL_FIXED1);
    cpu_enter_flat32(c, 0x100010);
    ck_assert_int_eq(c->mode, CPU_MODE_PROT32);
    ck_assert(c->cr0 & CPU_CR0_PE);
    ck_assert(!(c->cr0 & CPU_CR0_PG));
    ck_assert(!(c->efer & CPU_EFER_LMA));
    ck_assert(!(cpu_get_rflags(c) & CPU_FL_IF));
    ck_assert_uint_eq(c->rip, 0x100010);
    for (unsigned s = 0; s < CPU_NSEG; s++) {
        ck_assert_uint_eq(c->seg[s].base, 0);
        ck_assert_uint_eq(c->seg[s].limit, 0xFFFFFFFFu);
        ck_assert(c->seg[s].attr & CPU_SEG_DB);
    }
    ck_assert_uint_eq(c->seg[CPU_CS].attr & 0x1F, 0x1B); /* S, execute/read, accessed */
    cpu_harness_free(&h);
}
END_TEST

START_TEST(set_segment_updates_mode)
{
    cpu_harness h;
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    ck_assert_int_eq(c->mode, CPU_MODE_LONG64);
    uint32_t epoch = c->tlb_epoch;
    cpu_set_segment(c, CPU_CS, 0x18, 0, 0xFFFFFFFF, 0xC9B); /* D, G: a 32-bit code segment */
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    ck_assert_uint_ne(c->tlb_epoch, epoch); /* links made in 64-bit mode are dropped */
    cpu_set_segment(c, CPU_DS, 0x20, 0, 0xFFFF, 0x93);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT32);
    cpu_harness_free(&h);
}
END_TEST

/* 16-bit compatibility mode executes (it used to stop the run as
 * unimplemented): the same bytes that were 64-bit code run as 16-bit code
 * after CS becomes a 16-bit segment. */
START_TEST(unexecuted_mode_stops)
{
    cpu_harness h;
    cpu_harness_init(&h);
    cpu_t *c = &h.cpu;
    static const uint8_t code[] = {0x48, 0xFF, 0xC0, 0xF4}; /* inc rax; hlt */
    ck_assert_int_eq(cpu_harness_exec(&h, code, sizeof code, 2), CPU_STOP_INSNS);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 1);
    c->rip = 0;
    c->halted = 0;
    /* A 16-bit code segment whose base is the code (its limit is FFFFH). */
    cpu_set_segment(c, CPU_CS, 0x08, CPU_HARNESS_CODE, 0xFFFF, 0x09B);
    ck_assert_int_eq(c->mode, CPU_MODE_COMPAT16);
    ck_assert(cpu_mode_executes(CPU_MODE_COMPAT16));
    ck_assert_ptr_null(cpu_unexecuted_reason(c));
    /* 16-bit code: dec ax; inc ax; hlt. */
    ck_assert_int_eq(cpu_run(c, UINT64_MAX, 10), CPU_STOP_HALT);
    ck_assert_uint_eq(c->gpr[CPU_RAX], 1);
    ck_assert_uint_eq(c->rip, 4);
    ck_assert_uint_eq(c->insns, 2 + 3);
    cpu_harness_free(&h);
}
END_TEST

/* Paging turned on with EFER.LME activates IA-32e mode (SDM 9.8.5); paging
 * cannot be turned off in 64-bit mode; LME with PAE clear is #GP. Driven
 * from 64-bit code by turning the prerequisites off first is impossible, so
 * the checks are made on the state a 32-bit kernel would be in, through
 * WRMSR/MOV CR0 in 64-bit mode where the SDM allows them. */
START_TEST(cr0_pg_off_in_64bit_mode_faults)
{
    cpu_harness h;
    cpu_harness_init(&h);
    static const uint8_t code[] = {
        0x0F, 0x20, 0xC0,             /* mov rax, cr0 */
        0x0F, 0xBA, 0xF0, 0x1F,       /* btr eax, 31 */
        0x0F, 0x22, 0xC0,             /* mov cr0, rax */
    };
    cpu_harness_exec(&h, code, sizeof code, 3);
    ck_assert_int_eq(cpu_harness_vector(&h), CPU_EXC_GP);
    ck_assert(h.cpu.cr0 & CPU_CR0_PG);
    ck_assert(h.cpu.efer & CPU_EFER_LMA);
    ck_assert_int_eq(h.cpu.mode, CPU_MODE_LONG64);
    cpu_harness_free(&h);
}
END_TEST

START_TEST(decoder_defaults_per_mode)
{
    cpu_insn i;
    /* 40: INC EAX outside 64-bit mode, REX in it. */
    static const uint8_t inc[] = {0x40, 0x90};
    ck_assert_uint_eq(dec(CPU_MODE_PROT32, inc, 2, &i), 1);
    ck_assert_uint_eq(i.osize, 4);
    ck_assert_uint_eq(i.rm, CPU_RAX);
    ck_assert(i.exec != cpu_exec_unimplemented && i.exec != cpu_exec_ud);
    ck_assert_uint_eq(dec(CPU_MODE_REAL, inc, 2, &i), 1);
    ck_assert_uint_eq(i.osize, 2);
    ck_assert_uint_eq(dec(CPU_MODE_LONG64, inc, 2, &i), 2); /* REX + NOP */
    static const uint8_t dec_edi[] = {0x4F};
    ck_assert_uint_eq(dec(CPU_MODE_PROT32, dec_edi, 1, &i), 1);
    ck_assert_uint_eq(i.rm, CPU_RDI);

    /* MOV r, imm: Iv is 4 bytes with a 32-bit default, 2 with 16. */
    static const uint8_t mov[] = {0xB8, 1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_uint_eq(dec(CPU_MODE_PROT32, mov, 9, &i), 5);
    ck_assert_uint_eq(dec(CPU_MODE_PROT16, mov, 9, &i), 3);
    ck_assert_uint_eq(dec(CPU_MODE_REAL, mov, 9, &i), 3);
    static const uint8_t mov66[] = {0x66, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_uint_eq(dec(CPU_MODE_PROT32, mov66, 10, &i), 4);
    ck_assert_uint_eq(dec(CPU_MODE_REAL, mov66, 10, &i), 6);

    /* 8B 46 02: mov ax, [bp+2] in 16-bit addressing: base BP, default SS. */
    static const uint8_t bp16[] = {0x8B, 0x46, 0x02};
    ck_assert_uint_eq(dec(CPU_MODE_REAL, bp16, 3, &i), 3);
    ck_assert_uint_eq(i.asize, 2);
    ck_assert_uint_eq(i.base, CPU_RBP);
    ck_assert_uint_eq(i.seg, CPU_SS);
    ck_assert_uint_eq(i.disp, 2);
    /* The same bytes with 32-bit addressing: [esi+2] with DS. */
    ck_assert_uint_eq(dec(CPU_MODE_PROT32, bp16, 3, &i), 3);
    ck_assert_uint_eq(i.base, CPU_RSI);
    ck_assert_uint_eq(i.seg, CPU_DS);
    /* 67 flips the address size: mod 0 rm 5 is disp32 in 32-bit addressing. */
    static const uint8_t abs32[] = {0x67, 0x8B, 0x05, 1, 0, 0, 0};
    ck_assert_uint_eq(dec(CPU_MODE_REAL, abs32, 7, &i), 7);
    ck_assert_uint_eq(i.asize, 4);
    ck_assert_uint_eq(i.base, CPU_REG_NONE);

    /* Far pointers (9A/EA Ap): offset of operand size then the selector. */
    static const uint8_t farjmp[] = {0xEA, 0, 0, 0x10, 0, 0x08, 0, 0x90};
    ck_assert_uint_eq(dec(CPU_MODE_PROT32, farjmp, 8, &i), 7);
    ck_assert_uint_eq(dec(CPU_MODE_REAL, farjmp, 8, &i), 5);
    ck_assert(i.exec != cpu_exec_ud); /* valid here (reported while not implemented) */
    dec(CPU_MODE_LONG64, farjmp, 8, &i);
    ck_assert(i.exec == cpu_exec_ud); /* invalid in 64-bit mode */
    static const uint8_t farjmp_w[] = {0x48, 0xEA, 0, 0, 0x10, 0, 0x08, 0, 0x90, 0, 0, 0, 0};
    dec(CPU_MODE_LONG64, farjmp_w, sizeof farjmp_w, &i);
    ck_assert(i.exec == cpu_exec_ud); /* REX.W does not make a 10-byte pointer */

    /* PUSH ES: #UD in 64-bit mode, a valid instruction elsewhere. */
    static const uint8_t push_es[] = {0x06};
    dec(CPU_MODE_LONG64, push_es, 1, &i);
    ck_assert(i.exec == cpu_exec_ud);
    dec(CPU_MODE_PROT32, push_es, 1, &i);
    ck_assert(i.exec != cpu_exec_ud);

    /* SWAPGS exists in 64-bit mode only. */
    static const uint8_t swapgs[] = {0x0F, 0x01, 0xF8};
    dec(CPU_MODE_LONG64, swapgs, 3, &i);
    ck_assert(i.exec != cpu_exec_ud && i.exec != cpu_exec_unimplemented);
    dec(CPU_MODE_COMPAT32, swapgs, 3, &i);
    ck_assert(i.exec == cpu_exec_ud);

    /* 63 is MOVSXD in 64-bit mode and ARPL elsewhere (not run as MOVSXD). */
    static const uint8_t arpl[] = {0x63, 0xC8};
    dec(CPU_MODE_PROT32, arpl, 2, &i);
    cpu_exec_fn arpl_fn = i.exec;
    ck_assert(arpl_fn != cpu_exec_unimplemented && arpl_fn != cpu_exec_ud);
    ck_assert_uint_eq(i.mode, CPU_MODE_PROT32);
    dec(CPU_MODE_LONG64, arpl, 2, &i);
    ck_assert(i.exec != arpl_fn);
}
END_TEST

START_TEST(insn_record_size)
{
    /* The mode field fills padding: the decoded record keeps its size. */
    ck_assert_uint_eq(sizeof(cpu_insn), 40);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("modes");
    TCase *t = tcase_create("modes");
    tcase_add_test(t, mode_of_control_bits);
    tcase_add_test(t, reset_state);
    tcase_add_test(t, init_keeps_cache_bits_and_msrs);
    tcase_add_test(t, sipi_start);
    tcase_add_test(t, multiboot_entry_state);
    tcase_add_test(t, set_segment_updates_mode);
    tcase_add_test(t, unexecuted_mode_stops);
    tcase_add_test(t, cr0_pg_off_in_64bit_mode_faults);
    tcase_add_test(t, decoder_defaults_per_mode);
    tcase_add_test(t, insn_record_size);
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
