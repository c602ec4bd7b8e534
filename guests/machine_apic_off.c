/*
 * machine_apic_off.c — the local APIC globally disabled and enabled again
 * through IA32_APIC_BASE.EN (SDM Vol. 3A 11.4.3), the two points that
 * kvm-unit-tests' apic.flat checks:
 *
 *   CPUID.01H:EDX.APIC[bit 9] reads 0 while EN = 0 and 1 again after;
 *   the APIC returns to its power-up state (11.4.7.1) when disabled: an
 *   xAPIC ID written before reads the initial APIC ID (CPUID.01H:EBX[31:24])
 *   once the APIC is enabled again, and the SVR is back to FFH;
 *   while EN = 0 the xAPIC page is not decoded: all ones written over it
 *   change nothing (CR8, the TPR's bits 7:4, included; 11.8.6.1) and it
 *   reads all ones; CR8 still reads back what MOV to CR8 wrote; enabled
 *   again, the version register reads as before and the TPR follows CR8;
 *   relocated to FED40000H (11.4.5) the registers are there (version, TPR
 *   following CR8) and FEE00000H reads all ones, until the base is put back;
 *   in x2APIC mode the xAPIC page is not decoded either (11.12.1.2): all
 *   ones written over it change nothing (CR8 included), it reads all ones
 *   while CR8 and the x2APIC TPR (808H) follow each other; disabled and
 *   enabled again (the only way back, 11.12.5) the xAPIC page answers.
 * Prints "machine_apic_off: OK" and exits 0 when every check holds.
 */
#include "guest.h"

#define CPUID1_EDX_APIC (1u << 9)

static uint32_t cpuid1(unsigned reg)
{
    uint32_t out[4];
    cpuid(1, 0, out);
    return out[reg];
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    uint32_t initial_id = cpuid1(1) >> 24;
    uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
    GUEST_CHECK(base & APIC_BASE_ENABLE);
    GUEST_CHECK(cpuid1(3) & CPUID1_EDX_APIC);
    GUEST_CHECK(xapic_read(APIC_ID) >> 24 == initial_id);

    xapic_enable(0xFF);
    xapic_write(APIC_ID, (initial_id + 5) << 24);
    uint32_t written = xapic_read(APIC_ID) >> 24;

    uint32_t version = xapic_read(APIC_VERSION);
    uint64_t cr8 = read_cr8();

    wrmsr(MSR_IA32_APIC_BASE, base & ~APIC_BASE_ENABLE);
    GUEST_CHECK(!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_ENABLE));
    GUEST_CHECK(!(cpuid1(3) & CPUID1_EDX_APIC));
    volatile uint32_t *page = (volatile uint32_t *)XAPIC_BASE;
    for (unsigned i = 0; i < 1024; i++)
        page[i] = 0xFFFFFFFFu;
    GUEST_CHECK(xapic_read(APIC_VERSION) == 0xFFFFFFFFu);
    GUEST_CHECK(read_cr8() == cr8);
    write_cr8(cr8 ^ 0xF);
    GUEST_CHECK(read_cr8() == (cr8 ^ 0xF));
    GUEST_CHECK(xapic_read(APIC_TPR) == 0xFFFFFFFFu);
    write_cr8(cr8);

    wrmsr(MSR_IA32_APIC_BASE, base);
    GUEST_CHECK(cpuid1(3) & CPUID1_EDX_APIC);
    GUEST_CHECK(xapic_read(APIC_ID) >> 24 == initial_id);
    GUEST_CHECK((xapic_read(APIC_SVR) & 0x1FF) == 0xFF);
    GUEST_CHECK(xapic_read(APIC_VERSION) == version);
    GUEST_CHECK(xapic_read(APIC_TPR) == cr8 << 4);
    write_cr8(cr8 ^ 0xF);
    GUEST_CHECK(xapic_read(APIC_TPR) == (cr8 ^ 0xF) << 4);
    write_cr8(cr8);

    if (cpuid1(2) & (1u << 21)) { /* CPUID.01H:ECX.x2APIC */
        x2apic_enable();
        for (unsigned i = 0; i < 1024; i++)
            page[i] = 0xFFFFFFFFu;
        GUEST_CHECK(read_cr8() == cr8);
        GUEST_CHECK(x2apic_read(APIC_TPR) == cr8 << 4);
        write_cr8(cr8 ^ 0xF);
        GUEST_CHECK(read_cr8() == (cr8 ^ 0xF));
        GUEST_CHECK(xapic_read(APIC_TPR) == 0xFFFFFFFFu);
        GUEST_CHECK(x2apic_read(APIC_TPR) == (cr8 ^ 0xF) << 4);
        write_cr8(cr8);
        wrmsr(MSR_IA32_APIC_BASE, base & ~APIC_BASE_ENABLE);
        wrmsr(MSR_IA32_APIC_BASE, base);
        GUEST_CHECK(xapic_read(APIC_VERSION) == version);
        GUEST_CHECK(xapic_read(APIC_TPR) == cr8 << 4);
    }

    volatile uint32_t *moved = (volatile uint32_t *)0xFED40000ull;
    wrmsr(MSR_IA32_APIC_BASE, base & ~APIC_BASE_ENABLE);
    wrmsr(MSR_IA32_APIC_BASE, (base & 0xFFFu) | 0xFED40000ull);
    GUEST_CHECK(moved[APIC_VERSION / 4] == version);
    GUEST_CHECK(xapic_read(APIC_VERSION) == 0xFFFFFFFFu);
    write_cr8(cr8 ^ 0xF);
    GUEST_CHECK(moved[APIC_TPR / 4] == (cr8 ^ 0xF) << 4);
    write_cr8(cr8);
    wrmsr(MSR_IA32_APIC_BASE, base);
    GUEST_CHECK(xapic_read(APIC_VERSION) == version);
    printf("machine_apic_off: OK (ID written %u, %u after re-enable)\n", written, initial_id);
    return GUEST_OK;
}
