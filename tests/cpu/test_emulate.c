/*
 * test_emulate.c — cpu_emulate_insn: one instruction executed for a
 * hypervisor with the interpreter's own decoder (SDM Vol. 3C 29.4: an
 * APIC-access exit is fault-like and the VMM completes the instruction):
 * every form reaches the caller's page hooks with its size and direction,
 * registers, flags and RIP follow, faults are reported rather than
 * delivered, branches and system instructions are refused, and the CPU's
 * own hooks come back afterwards.
 */
#include <check.h>
#include <stdlib.h>

#include "tests/support/cpu_harness.h"

#define PAGE 0x2000000ull /* mapped by the harness, beyond its RAM */

static cpu_harness h;

typedef struct access {
    uint64_t pa;
    unsigned size;
    cpu_access acc;
    uint64_t val;
} access;

static access log_[16];
static unsigned nlog;
static uint64_t answer; /* what reads of PAGE return */

static cpu_page_kind page_kind(void *ctx, cpu_t *c, uint64_t pa)
{
    (void)ctx, (void)c;
    return (pa & ~0xFFFull) == PAGE || pa >= CPU_HARNESS_RAM ? CPU_PAGE_TRAP : CPU_PAGE_RAM;
}

static bool mmio(void *ctx, cpu_t *c, uint64_t pa, unsigned size, cpu_access acc, uint64_t *val)
{
    (void)ctx, (void)c;
    if ((pa & ~0xFFFull) != PAGE)
        return false;
    if (acc != CPU_ACC_WRITE)
        *val = answer;
    if (nlog < 16)
        log_[nlog++] = (access){pa, size, acc, *val};
    return true;
}

static const cpu_hooks hooks = {.page_kind = page_kind, .mmio = mmio};

static void setup(void)
{
    cpu_harness_init(&h);
    nlog = 0;
    answer = 0;
}

static void teardown(void)
{
    cpu_harness_free(&h);
}

/* Loads code at CPU_HARNESS_CODE and emulates its first instruction. */
static cpu_emul_result emulate(const uint8_t *code, size_t len, cpu_emul_info *info)
{
    cpu_harness_load(&h, CPU_HARNESS_CODE, code, len);
    h.cpu.rip = CPU_HARNESS_CODE;
    return cpu_emulate_insn(&h.cpu, &hooks, info);
}

/* mov eax, [edi + 0x2000000] with a 32-bit address size: EDI's upper half
 * of RDI is ignored, the read is 4 bytes at PAGE + 0x30. */
START_TEST(address_size_prefix)
{
    const uint8_t code[] = {0x67, 0x8B, 0x87, 0x00, 0x00, 0x00, 0x02};
    cpu_emul_info info;
    h.cpu.gpr[CPU_RDI] = 0xFFFFFFFF00000030ull;
    h.cpu.gpr[CPU_RAX] = ~0ull;
    answer = 0x11223344;
    uint64_t cycles = h.cpu.cycles, insns = h.cpu.insns;
    ck_assert_int_eq(emulate(code, sizeof code, &info), CPU_EMUL_DONE);
    /* Completed in the VMM: the CPU's counters do not move. */
    ck_assert_uint_eq(h.cpu.cycles, cycles);
    ck_assert_uint_eq(h.cpu.insns, insns);
    ck_assert_uint_eq(info.len, 7);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 7);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0x11223344); /* 32-bit load zero-extends */
    ck_assert_uint_eq(nlog, 1);
    ck_assert_uint_eq(log_[0].pa, PAGE + 0x30);
    ck_assert_uint_eq(log_[0].size, 4);
    ck_assert_int_eq(log_[0].acc, CPU_ACC_READ);
}
END_TEST

/* MOVZX of a byte, a 16-bit store, an OR to memory (read, then write of
 * the result, flags set), MOVSD to RAM and REP STOSD. */
START_TEST(other_forms)
{
    cpu_emul_info info;
    const uint8_t movzx[] = {0x0F, 0xB6, 0x47, 0x03}; /* movzx eax, byte [rdi+3] */
    h.cpu.gpr[CPU_RDI] = PAGE + 0x10;
    h.cpu.gpr[CPU_RAX] = ~0ull;
    answer = 0xAB;
    ck_assert_int_eq(emulate(movzx, sizeof movzx, &info), CPU_EMUL_DONE);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 0xAB);
    ck_assert_uint_eq(log_[0].pa, PAGE + 0x13);
    ck_assert_uint_eq(log_[0].size, 1);

    nlog = 0;
    const uint8_t store16[] = {0x66, 0x89, 0x07}; /* mov [rdi], ax */
    h.cpu.gpr[CPU_RAX] = 0x12345678;
    ck_assert_int_eq(emulate(store16, sizeof store16, &info), CPU_EMUL_DONE);
    ck_assert_uint_eq(nlog, 1);
    ck_assert_int_eq(log_[0].acc, CPU_ACC_WRITE);
    ck_assert_uint_eq(log_[0].size, 2);
    ck_assert_uint_eq(log_[0].val, 0x5678);

    nlog = 0;
    const uint8_t or_mem[] = {0x83, 0x0F, 0x10}; /* or dword [rdi], 0x10 */
    answer = 0x20;
    ck_assert_int_eq(emulate(or_mem, sizeof or_mem, &info), CPU_EMUL_DONE);
    ck_assert_uint_eq(nlog, 2);
    ck_assert_int_eq(log_[0].acc, CPU_ACC_READ);
    ck_assert_int_eq(log_[1].acc, CPU_ACC_WRITE);
    ck_assert_uint_eq(log_[1].val, 0x30);
    ck_assert_uint_eq(cpu_get_rflags(&h.cpu) & CPU_FL_ZF, 0);

    nlog = 0;
    const uint8_t movsd[] = {0xA5}; /* movsd: [rsi] (PAGE) to [rdi] (RAM) */
    h.cpu.gpr[CPU_RSI] = PAGE + 0x20;
    h.cpu.gpr[CPU_RDI] = 0x200000;
    answer = 0xCAFEF00D;
    ck_assert_int_eq(emulate(movsd, sizeof movsd, &info), CPU_EMUL_DONE);
    ck_assert_uint_eq(cpu_harness_peek64(&h, 0x200000) & 0xFFFFFFFF, 0xCAFEF00D);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RSI], PAGE + 0x24);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RDI], 0x200004);

    nlog = 0;
    const uint8_t rep_stosd[] = {0xF3, 0xAB};
    h.cpu.gpr[CPU_RDI] = PAGE + 0x100;
    h.cpu.gpr[CPU_RCX] = 3;
    h.cpu.gpr[CPU_RAX] = 7;
    h.cpu.cycle_limit = UINT64_MAX;
    ck_assert_int_eq(emulate(rep_stosd, sizeof rep_stosd, &info), CPU_EMUL_DONE);
    ck_assert_uint_eq(nlog, 3);
    ck_assert_uint_eq(log_[2].pa, PAGE + 0x108);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX], 0);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 2);
}
END_TEST

/* A fault is reported, not delivered: RIP stays, CR2 names the address. */
START_TEST(fault_is_reported)
{
    const uint8_t code[] = {0x8B, 0x07}; /* mov eax, [rdi] */
    cpu_emul_info info;
    h.cpu.gpr[CPU_RDI] = 0x40000000; /* beyond the harness's 1 GiB map */
    uint64_t insns = h.cpu.insns;
    ck_assert_int_eq(emulate(code, sizeof code, &info), CPU_EMUL_EXCEPTION);
    ck_assert_uint_eq(info.vector, CPU_EXC_PF);
    ck_assert(info.has_error);
    ck_assert_uint_eq(h.cpu.cr2, 0x40000000);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE);
    ck_assert_uint_eq(h.cpu.insns, insns);
    ck_assert_int_eq(h.cpu.pending_vector, -1);
}
END_TEST

/* Branches and system instructions are not a hypervisor's to complete. */
START_TEST(branches_and_system_refused)
{
    cpu_emul_info info;
    const uint8_t jmp_mem[] = {0xFF, 0x27};       /* jmp [rdi] */
    const uint8_t mov_cr3[] = {0x0F, 0x22, 0xD8}; /* mov cr3, rax */
    const uint8_t mov_ss[] = {0x8E, 0x17};        /* mov ss, [rdi] */
    h.cpu.gpr[CPU_RDI] = PAGE;
    uint64_t cr3 = h.cpu.cr3;
    ck_assert_int_eq(emulate(jmp_mem, sizeof jmp_mem, &info), CPU_EMUL_UNSUPPORTED);
    ck_assert_int_eq(emulate(mov_cr3, sizeof mov_cr3, &info), CPU_EMUL_UNSUPPORTED);
    ck_assert_int_eq(emulate(mov_ss, sizeof mov_ss, &info), CPU_EMUL_UNSUPPORTED);
    ck_assert_uint_eq(nlog, 0);
    ck_assert_uint_eq(h.cpu.cr3, cr3);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE);
}
END_TEST

static bool own_mmio_called;
static bool own_mmio(void *ctx, cpu_t *c, uint64_t pa, unsigned size, cpu_access acc, uint64_t *val)
{
    (void)ctx, (void)c, (void)pa, (void)size, (void)acc;
    own_mmio_called = true;
    *val = 0;
    return true;
}

/* The CPU's hooks and intercepts are back after the emulation. */
START_TEST(hooks_restored)
{
    cpu_hooks own = {.mmio = own_mmio};
    cpu_set_hooks(&h.cpu, &own);
    h.cpu.icpt_mask = 1u << CPU_ICPT_CPUID;
    const uint8_t code[] = {0x8B, 0x07}; /* mov eax, [rdi] */
    cpu_emul_info info;
    h.cpu.gpr[CPU_RDI] = PAGE;
    ck_assert_int_eq(emulate(code, sizeof code, &info), CPU_EMUL_DONE);
    ck_assert(!own_mmio_called);
    ck_assert(h.cpu.hooks.mmio == own_mmio);
    ck_assert_uint_eq(h.cpu.icpt_mask, 1u << CPU_ICPT_CPUID);
    /* A normal run reaches the CPU's own hook again. */
    const uint8_t again[] = {0x8B, 0x07, 0xF4};
    ck_assert_int_eq(cpu_harness_exec(&h, again, sizeof again, 1), CPU_STOP_INSNS);
    ck_assert(own_mmio_called);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("emulate");
    TCase *t = tcase_create("emulate");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, address_size_prefix);
    tcase_add_test(t, other_forms);
    tcase_add_test(t, fault_is_reported);
    tcase_add_test(t, branches_and_system_refused);
    tcase_add_test(t, hooks_restored);
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
