/*
 * hypercalls.c — the mode-independent part of the hypercall ABI.
 *
 * For any mode that runs the guest under VMX (emulated, tpr-shadow, apicv,
 * posted). Checks, on vCPU 0:
 *   - ABI_VERSION returns 0 with RDX = 1;
 *   - an unknown number returns -38 and preserves every other register;
 *   - CYCLES grows;
 *   - VMCS_READ of the basic exit reason (field 0x4402) sees 18 (VMCALL),
 *     and an invalid field encoding returns -22;
 *   - LAST_EXIT reports the previous hypercall's exit (reason 18);
 *   - EXIT_COUNT of reason 18 grows with each hypercall, and the count of
 *     all reasons is at least that.
 * In native mode VMCALL raises #UD: the guest then says so and exits with
 * GUEST_FAIL + 1 (17), so a run in the wrong mode never looks like success.
 */
#include "guest.h"

#define EXIT_REASON_VMCALL 18
#define VMCS_EXIT_REASON 0x4402u
#define HC_UNKNOWN 0x7Fu

static void on_ud(struct guest_frame *f)
{
    (void)f;
    printf("hypercalls: VMCALL raised #UD: not running under VMX (use a VMX mode)\n");
    guest_exit(GUEST_FAIL + 1);
}

static void check_unknown_number_preserves_registers(void)
{
    uint64_t rax = HC_UNKNOWN, rbx = 0xB0B0, rcx = 0xC0C0, rdx = 0xD0D0, rsi = 0x5050, rdi = 0xD1D1;
    uint64_t r8, r15;
    __asm__ volatile("mov $0x0808, %%r8\n\tmov $0x1515, %%r15\n\tvmcall\n\tmov %%r8, %6\n\tmov %%r15, %7"
                     : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi), "+D"(rdi), "=m"(r8), "=m"(r15)
                     :
                     : "r8", "r15", "memory");
    GUEST_CHECK((int64_t)rax == HC_ENOSYS);
    GUEST_CHECK(rbx == 0xB0B0 && rcx == 0xC0C0 && rdx == 0xD0D0 && rsi == 0x5050 && rdi == 0xD1D1);
    GUEST_CHECK(r8 == 0x0808 && r15 == 0x1515);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(6, on_ud);

    uint64_t version = 0;
    GUEST_CHECK(hc_abi_version(&version) == 0);
    GUEST_CHECK(version == 1);

    check_unknown_number_preserves_registers();

    uint64_t c1 = 0, c2 = 0;
    GUEST_CHECK(hc_cycles(&c1) == 0);
    GUEST_CHECK(hc_cycles(&c2) == 0);
    GUEST_CHECK(c2 > c1);

    uint64_t reason = 0, qual = 0;
    GUEST_CHECK(hc_vmcs_read(VMCS_EXIT_REASON, &reason) == 0);
    GUEST_CHECK((reason & 0xFFFF) == EXIT_REASON_VMCALL);
    GUEST_CHECK(hc_vmcs_read(0xFFFFFFFFu, &reason) == HC_EINVAL);

    GUEST_CHECK(hc_last_exit(cpu, &reason, &qual) == 0);
    GUEST_CHECK(reason == EXIT_REASON_VMCALL);

    uint64_t n1 = 0, n2 = 0, all = 0;
    GUEST_CHECK(hc_exit_count(EXIT_REASON_VMCALL, cpu, &n1) == 0);
    GUEST_CHECK(hc_exit_count(EXIT_REASON_VMCALL, cpu, &n2) == 0);
    GUEST_CHECK(n1 >= 7 && n2 > n1); /* 7 hypercalls came before */
    GUEST_CHECK(hc_exit_count(HC_ALL_EXITS, cpu, &all) == 0);
    GUEST_CHECK(all >= n2);

    printf("hypercalls: ABI version %llu, %llu VMCALL exits, %llu exits in all: OK\n",
           (unsigned long long)version, (unsigned long long)n2, (unsigned long long)all);
    return GUEST_OK;
}
