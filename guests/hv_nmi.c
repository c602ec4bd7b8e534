/*
 * hv_nmi.c — three NMIs in a row from vCPU 0 to vCPU 1 through the ICR
 * (delivery mode NMI, SDM 11.6.1). Each must be taken before the next is
 * sent, so vCPU 1's NMI blocking has to end at its handler's IRET every
 * time (SDM 6.7.1; under VMX with virtual NMIs, 25.3 and 26.6.1.2) — the
 * case that once stopped the hypervisor after the first NMI.
 * Prints "nmi K handled" three times and ends with 0; runs natively too.
 */
#include "guest.h"

#define NMI_COUNT 3

static volatile uint32_t nmis;
static struct guest_barrier barrier;

static void on_nmi(struct guest_frame *f)
{
    (void)f;
    nmis++;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    if (ncpus < 2) {
        printf("hv_nmi: needs 2 CPUs\n");
        return GUEST_FAIL;
    }
    if (cpu == 0)
        register_handler(2, on_nmi); /* the IDT is shared by every CPU */
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, ncpus);
    if (cpu != 0) {
        for (;;)
            pause();
    }
    for (unsigned i = 1; i <= NMI_COUNT; i++) {
        xapic_write(APIC_ICR_HI, 1u << 24);
        xapic_write(APIC_ICR_LO, APIC_ICR_DELIVERY_NMI | APIC_ICR_ASSERT);
        while (nmis < i)
            pause();
        printf("nmi %u handled\n", i);
    }
    return GUEST_OK;
}
