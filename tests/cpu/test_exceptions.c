/*
 * test_exceptions.c — exceptions and interrupt delivery in 64-bit mode (SDM
 * Vol. 3A chapter 6): #DE, #UD (and the report of an unimplemented
 * instruction), #BP, #GP, #PF error codes and CR2, #NP, #SS, the 64-bit
 * stack frame and its alignment, IST stacks, interrupt versus trap gates,
 * double fault and triple fault.
 *
 * #TS is not reachable: in IA-32e mode it needs a task switch, which the
 * architecture does not have (IRET with NT = 1 is #GP instead).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "tests/support/cpu_sys_fixture.h"

/* A TSS at 0x9000 (RSP0 = 0x70000, IST1 = 0x60000) at selector 0x28, loaded. */
static void load_tss(void)
{
    poke64(0x9000 + 4, 0x70000);
    poke64(0x9000 + 0x24, 0x60000);
    poke64(0x528, 0x67 | (0x9000ull << 16) | (0x8Bull << 40));
    poke64(0x530, 0);
    h.cpu.gdtr.limit = 0x37;
    h.cpu.tr = (cpu_seg){.sel = 0x28, .attr = 0x8B, .limit = 0x67, .base = 0x9000};
}

static void enter_user(void)
{
    load_tss();
    h.cpu.cpl = 3;
    h.cpu.seg[CPU_CS] = (cpu_seg){.sel = 0x1B, .attr = 0x2FB, .limit = 0xFFFFFFFF};
    h.cpu.seg[CPU_SS] = (cpu_seg){.sel = 0x23, .attr = 0xF3, .limit = 0xFFFFFFFF};
    h.cpu.gpr[CPU_RSP] = 0x50000;
    cpu_tlb_flush(&h.cpu);
}

static void set_gate(unsigned v, uint8_t type_attr, unsigned ist)
{
    uint64_t target = CPU_HARNESS_HANDLER(v);
    uint64_t lo = (target & 0xFFFF) | (0x08ull << 16) | ((uint64_t)ist << 32) |
                  ((uint64_t)type_attr << 40) | ((target & 0xFFFF0000ull) << 32);
    poke64(CPU_HARNESS_IDT + v * 16, lo);
}

static unsigned n_double, n_triple, n_unimpl;
static cpu_obs_event last_double;

static void count_events(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    if (ev->kind == CPU_EV_DOUBLE_FAULT) {
        n_double++;
        last_double = *ev;
    } else if (ev->kind == CPU_EV_TRIPLE_FAULT) {
        n_triple++;
    } else if (ev->kind == CPU_EV_UNIMPLEMENTED) {
        n_unimpl++;
    }
}

START_TEST(divide_error)
{
    /* xor ecx, ecx; div ecx */
    static const uint8_t code[] = {0x31, 0xc9, 0xf7, 0xf1};
    RUN(code);
    expect_fault(CPU_EXC_DE, -1, CODE + 2);
}
END_TEST

START_TEST(ud2_is_ud)
{
    n_unimpl = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count_events, NULL));
    /* ud2 */
    static const uint8_t code[] = {0x0f, 0x0b};
    RUN(code);
    expect_fault(CPU_EXC_UD, -1, CODE);
    ck_assert_uint_eq(n_unimpl, 0); /* architectural, not a hole in the tables */
    ck_assert_uint_eq(h.cpu.unimplemented_count, 0);
}
END_TEST

static uint8_t unimpl_bytes[15];
static unsigned unimpl_len;

static void unimpl_hook(void *ctx, cpu_t *c, const uint8_t *bytes, unsigned len)
{
    (void)ctx;
    (void)c;
    memcpy(unimpl_bytes, bytes, len);
    unimpl_len = len;
}

START_TEST(unimplemented_reported_then_ud)
{
    cpu_hooks hk = {.unimplemented = unimpl_hook};
    cpu_set_hooks(&h.cpu, &hk);
    n_unimpl = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count_events, NULL));
    /* fxsave [rax]: not implemented by the interpreter (0F AE's memory
     * forms other than the fences; the whole encoding is reported) */
    static const uint8_t code[] = {0x0f, 0xae, 0x00};
    RUN(code);
    expect_fault(CPU_EXC_UD, -1, CODE);
    ck_assert_uint_eq(unimpl_len, 3);
    ck_assert_mem_eq(unimpl_bytes, code, 3);
    ck_assert_uint_eq(n_unimpl, 1);
    ck_assert_uint_eq(h.cpu.unimplemented_count, 1);
}
END_TEST

START_TEST(breakpoint_saves_next_rip)
{
    /* int3 */
    static const uint8_t code[] = {0xcc};
    RUN(code);
    expect_fault(CPU_EXC_BP, -1, CODE + 1);
}
END_TEST

START_TEST(gp_error_code_and_frame)
{
    /* movabs rax, 1 << 32; mov cr0, rax */
    static const uint8_t code[] = {0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
                                   0x00, 0x00, 0x0f, 0x22, 0xc0};
    RUN(code);
    expect_fault(CPU_EXC_GP, 0, CODE + 10);
    ck_assert_uint_eq(frame(2), 0x08);               /* CS */
    ck_assert_uint_eq(frame(3), 2);                  /* RFLAGS */
    ck_assert_uint_eq(frame(4), CPU_HARNESS_STACK);  /* RSP */
    ck_assert_uint_eq(frame(5), 0x10);               /* SS */
}
END_TEST

START_TEST(page_fault_not_present)
{
    /* mov rax, [0x40000000] (no PDPT entry for 1 GiB) */
    static const uint8_t rd[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40};
    RUN(rd);
    expect_fault(CPU_EXC_PF, 0, CODE);
    ck_assert_uint_eq(h.cpu.cr2, 0x40000000);
    teardown();
    setup();
    /* mov qword [0x40000000], 1 */
    static const uint8_t wr[] = {0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00};
    RUN(wr);
    expect_fault(CPU_EXC_PF, CPU_PF_W, CODE);
    ck_assert_uint_eq(h.cpu.cr2, 0x40000000);
}
END_TEST

START_TEST(page_fault_user_on_supervisor_page)
{
    poke64(0x4000 + 5 * 8, 0xA00000 | 0x83); /* 2 MiB at 0xA00000, supervisor only */
    enter_user();
    /* mov rax, [0xA00000] */
    static const uint8_t code[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0xa0, 0x00};
    RUN(code);
    expect_fault(CPU_EXC_PF, CPU_PF_P | CPU_PF_U, CODE);
    ck_assert_uint_eq(h.cpu.cr2, 0xA00000);
    ck_assert_uint_eq(frame(2), 0x1B);       /* CS of the interrupted code */
    ck_assert_uint_eq(frame(4), 0x50000);    /* its RSP */
    ck_assert_uint_eq(frame(5), 0x23);       /* its SS */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], 0x70000 - 48); /* RSP0 */
    ck_assert_uint_eq(h.cpu.cpl, 0);
}
END_TEST

START_TEST(page_fault_reserved_bit)
{
    poke64(0x4000 + 5 * 8, 0xA00000 | 0x83 | (1ull << 13)); /* bit 13: reserved in a 2 MiB PDE */
    /* mov rax, [0xA00000] */
    static const uint8_t code[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0xa0, 0x00};
    RUN(code);
    expect_fault(CPU_EXC_PF, CPU_PF_P | CPU_PF_RSVD, CODE);
}
END_TEST

START_TEST(page_fault_fetch_nx)
{
    poke64(0x4000 + 6 * 8, 0xC00000 | 0x83 | (1ull << 63)); /* XD, with EFER.NXE = 1 */
    /* mov rax, 0xC00000; jmp rax */
    static const uint8_t code[] = {0x48, 0xc7, 0xc0, 0x00, 0x00, 0xc0, 0x00, 0xff, 0xe0};
    RUN(code);
    expect_fault(CPU_EXC_PF, CPU_PF_P | CPU_PF_I, 0xC00000);
    ck_assert_uint_eq(h.cpu.cr2, 0xC00000);
}
END_TEST

START_TEST(segment_not_present)
{
    poke64(0x528, 0x0000120000000000ull); /* data, writable, P = 0, at selector 0x28 */
    h.cpu.gdtr.limit = 0x2F;
    /* mov eax, 0x28; push rax; pop fs */
    static const uint8_t code[] = {0xb8, 0x28, 0x00, 0x00, 0x00, 0x50, 0x0f, 0xa1};
    RUN(code);
    expect_fault(CPU_EXC_NP, 0x28, CODE + 6);
}
END_TEST

START_TEST(stack_segment_not_present)
{
    poke64(0x528, 0x0000120000000000ull);
    h.cpu.gdtr.limit = 0x2F;
    /* push 0x28 (SS); push 0x50000; push 2; push 0x08; lea rcx, [rip+t]; push rcx; iretq; t: hlt */
    static const uint8_t code[] = {0x6a, 0x28, 0x68, 0x00, 0x00, 0x05, 0x00, 0x6a, 0x02, 0x6a, 0x08,
                                   0x48, 0x8d, 0x0d, 0x03, 0x00, 0x00, 0x00, 0x51, 0x48, 0xcf, 0xf4};
    RUN(code);
    expect_fault(CPU_EXC_SS, 0x28, CODE + 19);
}
END_TEST

START_TEST(frame_is_aligned)
{
    /* mov rsp, 0x80008; int 0x40 */
    static const uint8_t code[] = {0x48, 0xc7, 0xc4, 0x08, 0x00, 0x08, 0x00, 0xcd, 0x40};
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x40);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], 0x80000 - 40); /* aligned down to 16 before the push */
    ck_assert_uint_eq(frame(0), CODE + 9);
    ck_assert_uint_eq(frame(1), 0x08);
    ck_assert_uint_eq(frame(3), 0x80008);
    ck_assert_uint_eq(frame(4), 0x10);
}
END_TEST

START_TEST(ist_stack)
{
    load_tss();
    set_gate(0x41, 0x8E, 1);
    /* mov rsp, 0x80008; int 0x41 */
    static const uint8_t code[] = {0x48, 0xc7, 0xc4, 0x08, 0x00, 0x08, 0x00, 0xcd, 0x41};
    RUN(code);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x41);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSP], 0x60000 - 40);
    ck_assert_uint_eq(frame(3), 0x80008);
}
END_TEST

START_TEST(interrupt_gate_clears_if_trap_gate_keeps_it)
{
    /* sti; int 0x42 (interrupt gate); hlt */
    static const uint8_t code42[] = {0xfb, 0xcd, 0x42, 0xf4};
    RUN(code42);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x42);
    ck_assert(frame(2) & CPU_FL_IF);
    ck_assert(!(cpu_get_rflags(&h.cpu) & CPU_FL_IF));
    teardown();
    setup();
    set_gate(0x43, 0x8F, 0); /* trap gate */
    /* sti; int 0x43; hlt */
    static const uint8_t code43[] = {0xfb, 0xcd, 0x43, 0xf4};
    RUN(code43);
    ck_assert_int_eq(cpu_harness_vector(&h), 0x43);
    ck_assert(frame(2) & CPU_FL_IF);
    ck_assert(cpu_get_rflags(&h.cpu) & CPU_FL_IF);
}
END_TEST

START_TEST(double_fault)
{
    set_gate(CPU_EXC_PF, 0x80, 0); /* present, but not a gate type */
    n_double = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count_events, NULL));
    /* mov rax, [0x40000000] */
    static const uint8_t code[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40};
    RUN(code);
    expect_fault(CPU_EXC_DF, 0, CODE);
    ck_assert_uint_eq(n_double, 1);
    ck_assert_uint_eq(last_double.a, CPU_EXC_PF);
    ck_assert_uint_eq(last_double.b, CPU_EXC_GP);
}
END_TEST

START_TEST(triple_fault)
{
    set_gate(CPU_EXC_PF, 0x80, 0);
    set_gate(CPU_EXC_DF, 0x80, 0);
    n_triple = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count_events, NULL));
    /* mov rax, [0x40000000] */
    static const uint8_t code[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40};
    ck_assert_int_eq(RUN(code), CPU_STOP_TRIPLE_FAULT);
    ck_assert_uint_eq(n_triple, 1);
}
END_TEST

START_TEST(no_idt_is_triple_fault)
{
    h.cpu.idtr.limit = 0;
    n_double = n_triple = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count_events, NULL));
    /* movabs rax, 1 << 32; mov cr0, rax: #GP, whose delivery faults */
    static const uint8_t code[] = {0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
                                   0x00, 0x00, 0x0f, 0x22, 0xc0};
    ck_assert_int_eq(RUN(code), CPU_STOP_TRIPLE_FAULT);
    ck_assert_uint_eq(n_double, 1);
    ck_assert_uint_eq(n_triple, 1);
    ck_assert_uint_eq(h.cpu.rip, CODE + 10);
}
END_TEST

static Suite *exceptions_suite(void)
{
    Suite *s = suite_create("exceptions");
    TCase *t = tcase_create("faults");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, divide_error);
    tcase_add_test(t, ud2_is_ud);
    tcase_add_test(t, unimplemented_reported_then_ud);
    tcase_add_test(t, breakpoint_saves_next_rip);
    tcase_add_test(t, gp_error_code_and_frame);
    tcase_add_test(t, page_fault_not_present);
    tcase_add_test(t, page_fault_user_on_supervisor_page);
    tcase_add_test(t, page_fault_reserved_bit);
    tcase_add_test(t, page_fault_fetch_nx);
    tcase_add_test(t, segment_not_present);
    tcase_add_test(t, stack_segment_not_present);
    suite_add_tcase(s, t);

    t = tcase_create("delivery");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, frame_is_aligned);
    tcase_add_test(t, ist_stack);
    tcase_add_test(t, interrupt_gate_clears_if_trap_gate_keeps_it);
    tcase_add_test(t, double_fault);
    tcase_add_test(t, triple_fault);
    tcase_add_test(t, no_idt_is_triple_fault);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(exceptions_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
