/*
 * machine_init.c — an INIT IPI natively (docs/multiboot.md "SMP start-up";
 * SDM 9.4, 11.6.1): the receiver stops in the wait-for-SIPI state. Needs 2
 * CPUs, native mode (the built-in hypervisor drops INIT).
 *
 * vCPU 1 counts in a loop. vCPU 0 waits until it has counted, sends INIT
 * to APIC 1 (physical), then a fixed IPI, waits, and checks that the count
 * no longer moves: vCPU 1 executes nothing and takes no interrupt while it
 * waits for a SIPI. It prints
 *     init: cpu1 stopped in wait-for-SIPI
 * and exits 0; GUEST_FAIL otherwise.
 */
#include "guest.h"

static volatile uint32_t count;
static volatile uint32_t got_ipi;
static struct guest_barrier barrier;

static void on_ipi(struct guest_frame *f)
{
    (void)f;
    got_ipi++;
    xapic_eoi();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus >= 2);
    if (cpu == 0)
        register_handler(0x60, on_ipi);
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, 2);
    if (cpu == 1) {
        sti();
        for (;;) {
            atomic_add(&count, 1);
            pause();
        }
    }
    if (cpu != 0)
        return 0;
    while (atomic_load(&count) < 100)
        pause();
    xapic_write(APIC_ICR_HI, 1u << 24);
    xapic_write(APIC_ICR_LO, (5u << 8) | APIC_ICR_ASSERT); /* INIT */
    /* vCPU 1 runs up to the INIT's cycle in its own turns: wait several
     * scheduling rounds before reading where it stopped. */
    uint64_t t = rdtsc();
    while (rdtsc() - t < 200000)
        pause();
    uint32_t stopped_at = atomic_load(&count);
    xapic_send_ipi(1, 0x60);
    t = rdtsc();
    while (rdtsc() - t < 200000)
        pause();
    GUEST_CHECK(atomic_load(&count) == stopped_at);
    GUEST_CHECK(got_ipi == 0);
    printf("init: cpu1 stopped in wait-for-SIPI\n");
    return GUEST_OK;
}
