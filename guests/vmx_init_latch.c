/*
 * vmx_init_latch.c — an INIT IPI is latched at its receiver before the
 * sender's next store is seen (docs/cost-model.md, "INIT and SIPI do not
 * travel"; SDM 11.6.1, 23.8, 25.2). Needs 2 CPUs, --mode native (the CPUs
 * are VMX processors, docs/vmx.md).
 *
 * The ordering kvm-unit-tests' vmx_init_signal_test checks last: CPU 1 is
 * in VMX root operation, where INIT is blocked and stays pending. CPU 0
 * sends INIT to it, then sets `stage` to 2. CPU 1 waits for that, executes
 * VMXOFF and would set `continued`: but the INIT was pending before the
 * store, so leaving VMX operation takes it (wait-for-SIPI) and CPU 1 never
 * gets there. CPU 0 waits, checks `continued` is still 0 and prints
 *     vmx_init_latch: INIT taken at VMXOFF, before the flag store was acted on
 * then exits 0; GUEST_FAIL otherwise.
 */
#include "vmx_guest.h"

static volatile uint32_t stage;
static volatile uint32_t continued;
static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus >= 2);
    xapic_enable(0xFF);
    if (cpu == 1) {
        GUEST_CHECK(vx_enable(vmxon_region) == VX_OK);
        atomic_store(&stage, 1);
        while (atomic_load(&stage) != 2)
            pause();
        /* The INIT sent before stage 2 is pending: VMXOFF unblocks it and
         * it is taken at the next boundary (SDM 23.8). */
        GUEST_CHECK(vmxoff() == VX_OK);
        atomic_store(&continued, 1);
        for (;;)
            pause();
    }
    if (cpu != 0)
        return GUEST_OK;
    while (atomic_load(&stage) != 1)
        pause();
    xapic_write(APIC_ICR_HI, 1u << 24);
    xapic_write(APIC_ICR_LO, (5u << 8) | APIC_ICR_ASSERT); /* INIT, physical, APIC 1 */
    atomic_store(&stage, 2);
    /* Several scheduling rounds: CPU 1 has seen stage 2 long before. */
    uint64_t t = rdtsc();
    while (rdtsc() - t < 200000)
        pause();
    GUEST_CHECK(atomic_load(&continued) == 0);
    printf("vmx_init_latch: INIT taken at VMXOFF, before the flag store was acted on\n");
    return GUEST_OK;
}
