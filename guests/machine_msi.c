/*
 * machine_msi.c — the machine's MSI device from a native guest.
 *
 * Native guests have no hypercalls, so the device is driven through its
 * register on port 0xF0 (docs/machine.md "The MSI device"): OUT of the
 * dword vector | dest << 8 | delay << 16 raises an edge-triggered fixed
 * interrupt with that vector at CPU dest's local APIC, delay cycles later.
 *
 * vCPU 0 raises, for every CPU k, vector 0x70 + k with a delay of
 * 2000 + 1000 * k cycles, and one message for a CPU that does not exist
 * (dropped by the device). Each CPU records when its vector arrived; vCPU 0
 * checks that each CPU got exactly its own vector, once, no earlier than
 * the delay after the raise, prints
 *     machine_msi: cpuK vector 0x7K after D cycles
 * and exits 0 when all is right, GUEST_FAIL otherwise.
 */
#include "guest.h"

#define MAX_CPUS 8
#define VEC_BASE 0x70
#define PORT_MSI 0xF0

static volatile uint32_t hits[MAX_CPUS][256];
static volatile uint64_t arrived[MAX_CPUS];
static struct guest_barrier barrier;

/* The device register (no runtime helper exists for it: native only). */
static inline void msi_raise(uint8_t vector, unsigned dest, uint16_t delay)
{
    outl(PORT_MSI, (uint32_t)vector | (uint32_t)(dest & 0xFF) << 8 | (uint32_t)delay << 16);
}

static void on_msi(struct guest_frame *f)
{
    unsigned cpu = xapic_read(APIC_ID) >> 24;
    arrived[cpu] = rdtsc();
    hits[cpu][f->vector & 0xFF]++;
    xapic_eoi();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus <= MAX_CPUS);
    if (cpu == 0)
        for (unsigned k = 0; k < MAX_CPUS; k++)
            register_handler(VEC_BASE + k, on_msi);
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, ncpus);
    sti();

    uint64_t raised = 0;
    if (cpu == 0) {
        raised = rdtsc();
        for (unsigned k = 0; k < ncpus; k++)
            msi_raise(VEC_BASE + k, k, (uint16_t)(2000 + 1000 * k));
        if (ncpus < MAX_CPUS)
            msi_raise(VEC_BASE + MAX_CPUS - 1, MAX_CPUS, 100); /* no such CPU */
    }
    for (;;) {
        cli();
        if (hits[cpu][VEC_BASE + cpu])
            break;
        sti_hlt();
    }
    guest_barrier_wait(&barrier, ncpus);
    if (cpu != 0)
        return 0;
    int ok = 1;
    for (unsigned k = 0; k < ncpus; k++) {
        uint64_t after = arrived[k] - raised;
        printf("machine_msi: cpu%u vector %#x after %llu cycles\n", k, VEC_BASE + k,
               (unsigned long long)after);
        for (unsigned v = 0; v < 256; v++)
            ok &= hits[k][v] == (v == VEC_BASE + k);
        ok &= after >= 2000 + 1000 * k;
    }
    printf("machine_msi: %u CPUs %s\n", ncpus, ok ? "OK" : "MISMATCH");
    return ok ? GUEST_OK : GUEST_FAIL;
}
