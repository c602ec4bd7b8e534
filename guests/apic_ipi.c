/*
 * apic_ipi.c — the local APIC from the guest's side: IDs, IPIs, self-IPIs,
 * TPR masking, the one-shot timer, then the same IPIs in x2APIC mode.
 *
 * Needs a machine whose vCPUs have local APICs (any mode with the APIC
 * wired in). With n vCPUs, on each vCPU:
 *   xAPIC:  APIC ID = index; IA32_APIC_BASE = 0xFEE00000 | EN | BSP(vCPU 0);
 *           vCPU 0 sends vector 0x40 to every other vCPU; every vCPU sends
 *           itself 0x41 (ICR shorthand "self");
 *           with TPR = 0x50 a self-IPI of 0x45 (class 4) stays in IRR;
 *           at TPR = 0 it is delivered and PPR in the handler is 0x40;
 *           a one-shot timer (vector 0x50) fires once and its count ends at 0;
 *   x2APIC: after setting IA32_APIC_BASE bit 10, APIC ID (MSR 0x802) = index;
 *           vCPU 0 sends 0x42 to every other vCPU, every vCPU sends itself
 *           0x43 through the SELF IPI MSR (0x83F).
 * vCPU 0 exits 0 after all vCPUs have finished, GUEST_FAIL on a mismatch.
 */
#include "guest.h"

#define VEC_IPI 0x40
#define VEC_SELF 0x41
#define VEC_X2_IPI 0x42
#define VEC_X2_SELF 0x43
#define VEC_TPR 0x45
#define VEC_TIMER 0x50
#define VEC_SPURIOUS 0xFF

#define MAX_VCPUS 8

static volatile uint32_t hits[MAX_VCPUS][256];
static volatile uint32_t ppr_in_tpr_handler[MAX_VCPUS];
static volatile uint32_t x2apic_on[MAX_VCPUS];
static struct guest_barrier barrier;

static unsigned my_index(void)
{
    /* The handler's vCPU is its APIC ID, read the way the current mode allows. */
    uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
    return (base & APIC_BASE_X2APIC) ? (unsigned)x2apic_read(APIC_ID) : xapic_read(APIC_ID) >> 24;
}

static void eoi(unsigned cpu)
{
    if (x2apic_on[cpu])
        x2apic_eoi();
    else
        xapic_eoi();
}

static void on_interrupt(struct guest_frame *f)
{
    unsigned cpu = my_index();
    GUEST_CHECK(cpu < MAX_VCPUS);
    if (f->vector == VEC_TPR)
        ppr_in_tpr_handler[cpu] = xapic_read(APIC_PPR);
    hits[cpu][f->vector & 0xFF]++;
    eoi(cpu);
}

/* Waits with interrupts enabled until hits[cpu][vector] reaches n: CLI
 * before the test and STI;HLT after it, so no wake-up is lost. */
static void wait_for(unsigned cpu, unsigned vector, uint32_t n)
{
    for (;;) {
        cli();
        if (hits[cpu][vector] >= n)
            break;
        sti_hlt();
    }
    sti();
}

static void xapic_phase(unsigned cpu, unsigned ncpus)
{
    uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
    GUEST_CHECK((base & ~0xFFFull) == XAPIC_BASE);
    GUEST_CHECK(base & APIC_BASE_ENABLE);
    GUEST_CHECK(!(base & APIC_BASE_X2APIC));
    GUEST_CHECK(((base & APIC_BASE_BSP) != 0) == (cpu == 0));
    GUEST_CHECK(xapic_read(APIC_ID) >> 24 == cpu);
    xapic_enable(VEC_SPURIOUS);
    xapic_write(APIC_TPR, 0);
    guest_barrier_wait(&barrier, ncpus); /* every APIC enabled before any IPI */
    sti();

    if (cpu == 0)
        for (unsigned k = 1; k < ncpus; k++)
            xapic_send_ipi(k, VEC_IPI);
    else
        wait_for(cpu, VEC_IPI, 1);

    xapic_write(APIC_ICR_LO, APIC_ICR_SELF | APIC_ICR_ASSERT | VEC_SELF);
    wait_for(cpu, VEC_SELF, 1);

    /* TPR class 5 holds back class 4 (SDM 11.8.3.1). */
    xapic_write(APIC_TPR, 0x50);
    xapic_write(APIC_ICR_LO, APIC_ICR_SELF | APIC_ICR_ASSERT | VEC_TPR);
    for (int i = 0; i < 100; i++)
        pause();
    GUEST_CHECK(hits[cpu][VEC_TPR] == 0);
    GUEST_CHECK(xapic_test_vector(APIC_IRR, VEC_TPR));
    xapic_write(APIC_TPR, 0);
    wait_for(cpu, VEC_TPR, 1);
    GUEST_CHECK(ppr_in_tpr_handler[cpu] == 0x40);
    GUEST_CHECK(!xapic_test_vector(APIC_IRR, VEC_TPR) && !xapic_test_vector(APIC_ISR, VEC_TPR));

    /* One-shot timer, divide by 1 (DCR 1011b). */
    xapic_write(APIC_TIMER_DCR, 0xB);
    xapic_write(APIC_LVT_TIMER, VEC_TIMER);
    xapic_write(APIC_TIMER_ICR, 20000);
    wait_for(cpu, VEC_TIMER, 1);
    GUEST_CHECK(xapic_read(APIC_TIMER_CCR) == 0);
    GUEST_CHECK(hits[cpu][VEC_TIMER] == 1);
    cli();
}

static void x2apic_phase(unsigned cpu, unsigned ncpus)
{
    x2apic_enable();
    x2apic_on[cpu] = 1;
    GUEST_CHECK(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC);
    GUEST_CHECK(x2apic_read(APIC_ID) == cpu);
    guest_barrier_wait(&barrier, ncpus);
    sti();
    if (cpu == 0)
        for (unsigned k = 1; k < ncpus; k++)
            x2apic_send_ipi(k, VEC_X2_IPI);
    else
        wait_for(cpu, VEC_X2_IPI, 1);
    x2apic_self_ipi(VEC_X2_SELF);
    wait_for(cpu, VEC_X2_SELF, 1);
    cli();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus <= MAX_VCPUS);
    const unsigned vectors[] = {VEC_IPI, VEC_SELF, VEC_X2_IPI, VEC_X2_SELF, VEC_TPR, VEC_TIMER};
    if (cpu == 0)
        for (unsigned i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
            register_handler(vectors[i], on_interrupt);
    guest_barrier_wait(&barrier, ncpus);

    xapic_phase(cpu, ncpus);
    guest_barrier_wait(&barrier, ncpus);
    x2apic_phase(cpu, ncpus);
    guest_barrier_wait(&barrier, ncpus);

    if (cpu == 0) {
        for (unsigned k = 0; k < ncpus; k++) {
            GUEST_CHECK(hits[k][VEC_SELF] == 1 && hits[k][VEC_X2_SELF] == 1);
            GUEST_CHECK(hits[k][VEC_IPI] == (k ? 1u : 0u) && hits[k][VEC_X2_IPI] == (k ? 1u : 0u));
        }
        printf("apic_ipi: xAPIC and x2APIC IPIs, self-IPIs, TPR, timer on %u vCPUs OK\n", ncpus);
    }
    return GUEST_OK;
}
