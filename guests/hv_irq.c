/*
 * hv_irq.c — the interrupt workloads of the built-in hypervisor's tests
 * (tests/emu/test_hv.c): how many VM exits each interrupt costs a vCPU.
 *
 * Phases, each a barrier apart; vCPU 0 sends, the others receive:
 *   msi    — SEND_MSI (a device interrupt) of vector 0x40+t to each vCPU t,
 *            HV_N times, one at a time;
 *   ipi    — the same through the xAPIC ICR (ICR high, then ICR low);
 *   self   — vCPU 0 sends itself HV_N device interrupts, 500 cycles ahead;
 *   ipi-x2 — every vCPU switches to x2APIC; IPIs through MSR 0x830.
 * A receiver spins with interrupts enabled (it keeps running: never HLT)
 * and counts exits around its phase with EXIT_COUNT; every handler EOIs.
 * Each receiver prints one line
 *     RESULT <phase> cpu=<k> exits=<exits during the phase> got=<interrupts>
 * (the measuring hypercalls themselves excluded), which the test reads.
 * vCPU 0 ends the run with 0; a wrong vector or count fails (GUEST_FAIL).
 */
#include "guest.h"

#define HV_N 16
#define VEC_BASE 0x40
#define MAX_VCPUS 8

static volatile uint32_t got[MAX_VCPUS];
static volatile uint32_t ready[MAX_VCPUS];
static volatile uint32_t x2[MAX_VCPUS];
static struct guest_barrier barrier;

enum { PH_MSI = 1, PH_IPI, PH_SELF, PH_IPI_X2 };
static const char *const phase_name[] = {"", "msi", "ipi", "self", "ipi-x2"};

/* Vector 0x40+t is only ever sent to vCPU t, so the vector names the vCPU. */
static void on_irq(struct guest_frame *f)
{
    unsigned t = (unsigned)f->vector - VEC_BASE;
    GUEST_CHECK(t < MAX_VCPUS);
    got[t]++;
    if (x2[t])
        x2apic_eoi();
    else
        xapic_eoi();
}

static uint64_t exits_of(unsigned cpu)
{
    uint64_t n = 0;
    GUEST_CHECK(hc_exit_count(HC_ALL_EXITS, cpu, &n) == 0);
    return n;
}

static void send(unsigned phase, unsigned t)
{
    uint8_t vec = (uint8_t)(VEC_BASE + t);
    switch (phase) {
    case PH_MSI: GUEST_CHECK(hc_send_msi(vec, t, 0) == 0); break;
    case PH_IPI: xapic_send_ipi(t, vec); break;
    case PH_IPI_X2: x2apic_send_ipi(t, vec); break;
    default: break;
    }
}

static void receive(unsigned phase, unsigned cpu)
{
    uint64_t e0 = exits_of(cpu);
    uint32_t base = got[cpu];
    atomic_store(&ready[cpu], phase);
    sti();
    while (got[cpu] - base < HV_N)
        pause();
    cli();
    uint64_t e1 = exits_of(cpu);
    /* e1 counts the second EXIT_COUNT's own exit, e0 the first's. */
    printf("RESULT %s cpu=%u exits=%u got=%u\n", phase_name[phase], cpu, (unsigned)(e1 - e0 - 1),
           (unsigned)(got[cpu] - base));
}

static void run_phase(unsigned phase, unsigned cpu, unsigned ncpus)
{
    if (cpu == 0) {
        for (unsigned t = 1; t < ncpus; t++) {
            while (atomic_load(&ready[t]) != phase)
                pause();
            for (unsigned i = 0; i < HV_N; i++) {
                uint32_t before = got[t];
                send(phase, t);
                while (got[t] == before)
                    pause();
            }
        }
    } else {
        receive(phase, cpu);
    }
    guest_barrier_wait(&barrier, ncpus);
}

/* vCPU 0 interrupts itself: HV_N device interrupts 500 cycles ahead. */
static void self_phase(void)
{
    uint64_t e0 = exits_of(0);
    uint32_t base = got[0];
    sti();
    for (unsigned i = 0; i < HV_N; i++) {
        uint32_t before = got[0];
        GUEST_CHECK(hc_send_msi(VEC_BASE, 0, 500) == 0);
        while (got[0] == before)
            pause();
    }
    cli();
    uint64_t e1 = exits_of(0);
    /* Not counted: the first EXIT_COUNT's exit is in e0; HV_N SEND_MSI
     * calls and the second EXIT_COUNT are. */
    printf("RESULT self cpu=0 exits=%u got=%u\n", (unsigned)(e1 - e0 - 1 - HV_N),
           (unsigned)(got[0] - base));
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus <= MAX_VCPUS);
    if (cpu == 0)
        for (unsigned t = 0; t < MAX_VCPUS; t++)
            register_handler(VEC_BASE + t, on_irq);
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, ncpus);

    run_phase(PH_MSI, cpu, ncpus);
    run_phase(PH_IPI, cpu, ncpus);
    if (cpu == 0)
        self_phase();
    guest_barrier_wait(&barrier, ncpus);

    x2apic_enable();
    x2[cpu] = 1;
    guest_barrier_wait(&barrier, ncpus);
    run_phase(PH_IPI_X2, cpu, ncpus);

    if (cpu == 0) {
        GUEST_CHECK(got[0] == HV_N);
        for (unsigned t = 1; t < ncpus; t++)
            GUEST_CHECK(got[t] == 3 * HV_N);
    }
    return 0;
}
