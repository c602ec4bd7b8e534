/*
 * machine_cr8.c — CR8 and the local APIC's TPR are one register
 * (SDM Vol. 3A 11.8.6.1): CR8 = TPR[7:4].
 *
 *   MOV CR8, 5          -> TPR reads 0x50;
 *   TPR written 0x70    -> MOV from CR8 reads 7;
 *   a self-IPI of 0x65 (class 6) stays in IRR while CR8 = 7 and is
 *   delivered once CR8 is lowered to 0;
 *   MOV CR8 with bits 63:4 set raises #GP(0).
 * Prints "machine_cr8: OK" and exits 0 when every check holds.
 */
#include "guest.h"

#define VEC 0x65

static volatile uint32_t hits;
static volatile uint32_t gp;

static void on_vec(struct guest_frame *f)
{
    (void)f;
    hits++;
    xapic_eoi();
}

/* #GP from the bad MOV CR8: skip the 4-byte instruction (REX.R 0F 22 /r). */
static void on_gp(struct guest_frame *f)
{
    gp++;
    f->rip += 4;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(VEC, on_vec);
    register_handler(13, on_gp);
    xapic_enable(0xFF);

    write_cr8(5);
    GUEST_CHECK(xapic_read(APIC_TPR) == 0x50);
    xapic_write(APIC_TPR, 0x70);
    GUEST_CHECK(read_cr8() == 7);

    sti();
    xapic_write(APIC_ICR_LO, APIC_ICR_SELF | APIC_ICR_ASSERT | VEC);
    for (int i = 0; i < 100; i++)
        pause();
    GUEST_CHECK(hits == 0);
    GUEST_CHECK(xapic_test_vector(APIC_IRR, VEC));
    write_cr8(0);
    for (int i = 0; i < 10 && !hits; i++)
        pause();
    GUEST_CHECK(hits == 1);
    GUEST_CHECK(xapic_read(APIC_TPR) == 0);

    __asm__ volatile("mov %0, %%cr8" ::"r"((uint64_t)0x10) : "memory");
    GUEST_CHECK(gp == 1);
    GUEST_CHECK(read_cr8() == 0);
    cli();
    puts("machine_cr8: OK");
    return GUEST_OK;
}
