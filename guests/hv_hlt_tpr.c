/*
 * hv_hlt_tpr.c — HLT must not end for an interrupt the task priority
 * masks. With CR8 = 5 the guest halts; the MSI device (port 0xF0) sends
 * vector 51h (class 5: masked, SDM 11.8.3.1 / 30.2.1) soon and 61h
 * (class 6) later. Only 61h may wake it; 51h must wait until CR8 drops.
 * In posted mode 51h sits in PIR while the vCPU is blocked: the wake-up
 * check must compare its class with VPPR, as evaluation would.
 */
#include "guest.h"

#define PORT_MSI 0xF0

static volatile uint32_t got[256];

static void on_irq(struct guest_frame *f)
{
    got[f->vector & 0xFF]++;
    xapic_eoi();
}

static void msi_after(uint8_t vector, uint16_t delay)
{
    outl(PORT_MSI, (uint32_t)vector | (uint32_t)delay << 16); /* to CPU 0 */
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return GUEST_OK;
    register_handler(0x51, on_irq);
    register_handler(0x61, on_irq);
    xapic_enable(0xFF);
    write_cr8(5);
    msi_after(0x51, 2000);
    msi_after(0x61, 40000);
    sti_hlt();
    uint32_t woke51 = got[0x51], woke61 = got[0x61];
    write_cr8(0); /* 51h is deliverable now */
    for (volatile int i = 0; i < 100; i++)
        ;
    printf("hv_hlt_tpr: woke with 51h=%u 61h=%u; after CR8=0 51h=%u\n", woke51, woke61,
           got[0x51]);
    return woke51 == 0 && woke61 == 1 && got[0x51] == 1 ? GUEST_OK : GUEST_FAIL;
}
