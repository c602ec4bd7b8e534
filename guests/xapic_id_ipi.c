/*
 * xapic_id_ipi.c — a physical-destination IPI goes to the APIC whose xAPIC
 * ID matches, after software changed that ID (SDM 11.4.6: the xAPIC ID
 * register is writable; 11.6.2.1 physical destination mode). Two CPUs:
 * vCPU 1 writes ID 5 to its APIC, vCPU 0 sends vector 60H to destination 5,
 * and vCPU 1 must take it. Prints "xapic id ipi: 1 to ID 5" and exits 0.
 */
#include "guest.h"

static volatile uint32_t got;
static struct guest_barrier barrier;

static void on_ipi(struct guest_frame *f)
{
    (void)f;
    got++;
    xapic_eoi();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus >= 2);
    if (cpu == 0)
        register_handler(0x60, on_ipi);
    xapic_enable(0xFF);
    if (cpu == 1)
        xapic_write(APIC_ID, 5u << 24);
    guest_barrier_wait(&barrier, 2);
    sti();
    if (cpu == 1) {
        for (unsigned spin = 0; spin < 200000 && !got; spin++)
            pause();
        return 0;
    }
    xapic_send_ipi(5, 0x60);
    for (unsigned spin = 0; spin < 200000 && !got; spin++)
        pause();
    printf("xapic id ipi: %u to ID 5\n", got);
    GUEST_CHECK(got == 1);
    return GUEST_OK;
}
