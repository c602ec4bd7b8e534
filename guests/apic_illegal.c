/*
 * apic_illegal.c — interrupt vectors 0-15 on every path a guest can use to
 * send one, in every mode (native and the four VMX modes of the built-in
 * hypervisor). SDM Vol. 3A 11.5.3 "Error Handling": a local APIC that sends
 * a fixed interrupt with a vector below 16 (ICR, x2APIC SELF IPI) sets "send
 * illegal vector" (ESR bit 5); one that receives such an interrupt (an IPI,
 * an MSI, its own LVT, a self IPI) sets "receive illegal vector" (bit 6) and
 * never sets the IRR bit: the interrupt is not delivered. Each error raises
 * the LVT error interrupt (vector 4EH here, one interrupt however many
 * errors while it was pending).
 *
 * The sender's other errors of 11.5.3 stop the message: a reserved delivery
 * mode or an invalid shorthand combination ("send accept error", bit 2),
 * lowest priority in the x2APIC ICR ("redirectable IPI", bit 4).
 *
 * Two vCPUs. vCPU 0 runs the cases with interrupts off, waits for the
 * message to arrive, latches its ESR (write, then read), opens a short
 * interrupt window for the error interrupt and checks: the ESR bits, one
 * error interrupt, no vector 0-15 taken and none in IRR. vCPU 1 receives
 * the IPI and the MSI vCPU 0 sends it and checks its own ESR at the end.
 * Prints "apic_illegal: CHECKS <n> <native|vmx>" and ends with 0.
 */
#include "guest.h"

#define VEC_ERROR 0x4E
#define PORT_MSI 0xF0
#define ESR_ACCEPT 0x04u /* send accept error */
#define ESR_REDIR 0x10u  /* redirectable IPI */
#define ESR_SEND 0x20u /* send illegal vector */
#define ESR_RECV 0x40u /* receive illegal vector */
#define WAIT 4000      /* cycles for a message to arrive */

static volatile uint32_t hits[2][256];
static volatile uint32_t phase;
static struct guest_barrier barrier;
static unsigned checks;

static int in_x2apic(void)
{
    return (rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC) != 0;
}

static void on_vector(struct guest_frame *f)
{
    int x2 = in_x2apic();
    unsigned cpu = x2 ? (unsigned)x2apic_read(APIC_ID) : xapic_read(APIC_ID) >> 24;
    hits[cpu & 1][f->vector & 0xFF]++;
    if (x2)
        x2apic_eoi();
    else
        xapic_eoi();
}

static void spin_cycles(uint64_t n)
{
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < n)
        pause();
}

/* SDM 11.5.3: a write to the ESR latches the errors seen since the previous
 * write (x2APIC: the value must be 0). */
static uint32_t esr_latch(void)
{
    if (in_x2apic()) {
        x2apic_write(APIC_ESR, 0);
        return (uint32_t)x2apic_read(APIC_ESR);
    }
    xapic_write(APIC_ESR, 0);
    return xapic_read(APIC_ESR);
}

static uint32_t irr_low(void)
{
    return (in_x2apic() ? (uint32_t)x2apic_read(APIC_IRR) : xapic_read(APIC_IRR)) & 0xFFFFu;
}

static unsigned low_hits(unsigned cpu)
{
    unsigned n = 0;
    for (unsigned v = 0; v < 16; v++)
        n += hits[cpu][v];
    return n;
}

/* After a case on vCPU 0: its ESR, one error interrupt, nothing delivered. */
static void expect(const char *what, uint32_t esr_want)
{
    spin_cycles(WAIT);
    uint32_t esr = esr_latch();
    uint32_t errors = hits[0][VEC_ERROR];
    sti();
    spin_cycles(500);
    cli();
    if (esr != esr_want || hits[0][VEC_ERROR] != errors + 1 || low_hits(0) || irr_low())
        printf("apic_illegal: %s: ESR %#x (want %#x), error interrupts %u -> %u, "
               "vectors 0-15 taken %u, IRR[15:0] %#x\n",
               what, esr, esr_want, errors, hits[0][VEC_ERROR], low_hits(0), irr_low());
    GUEST_CHECK(esr == esr_want);
    GUEST_CHECK(hits[0][VEC_ERROR] == errors + 1);
    GUEST_CHECK(low_hits(0) == 0 && irr_low() == 0);
    checks += 3;
}

static void msi_raise(uint8_t vector, unsigned dest, uint16_t delay)
{
    outl(PORT_MSI, (uint32_t)vector | (uint32_t)(dest & 0xFF) << 8 | (uint32_t)delay << 16);
}

static int under_hypervisor(void)
{
    uint32_t r[4];
    cpuid(1, 0, r);
    return (r[2] >> 31) & 1; /* CPUID.1:ECX[31], as KVM reports it */
}

static void vcpu0(void)
{
    int vmx = under_hypervisor();
    cli();
    /* xAPIC ICR, self shorthand: the sender's error and the receiver's. */
    xapic_write(APIC_ICR_LO, APIC_ICR_SELF | 5);
    expect("ICR self 05H", ESR_SEND | ESR_RECV);
    /* xAPIC ICR, physical destination = own ID: the same two bits. */
    xapic_send_ipi(0, 7);
    expect("ICR to own ID 07H", ESR_SEND | ESR_RECV);
    /* To vCPU 1: only the sender's bit here (vCPU 1 checks the other). */
    xapic_send_ipi(1, 9);
    expect("ICR to vCPU 1 09H", ESR_SEND);
    /* A device MSI (port F0H) for ourselves: only the receiver's bit. */
    msi_raise(5, 0, 100);
    expect("MSI port F0H 05H", ESR_RECV);
    msi_raise(3, 1, 100);
    /* The sender's other errors stop the message: a reserved delivery
     * mode (011) and lowest priority to all including self. */
    xapic_write(APIC_ICR_LO, (3u << 8) | 0x41);
    expect("ICR delivery mode 011", ESR_ACCEPT);
    xapic_write(APIC_ICR_LO, APIC_ICR_ALL_INCL | (1u << 8) | 0x41);
    expect("ICR lowest priority to all incl. self", ESR_ACCEPT);
    /* The LVT timer with vector 5 (one-shot): a local interrupt refused. */
    xapic_write(APIC_TIMER_DCR, 0xB); /* divide by 1 */
    xapic_write(APIC_LVT_TIMER, 5);
    xapic_write(APIC_TIMER_ICR, 200);
    expect("LVT timer 05H", ESR_RECV);
    if (vmx) {
        /* SEND_MSI: a device interrupt, refused at the destination. */
        GUEST_CHECK(hc_send_msi(5, 0, 0) == 0);
        expect("SEND_MSI 05H now", ESR_RECV);
        GUEST_CHECK(hc_send_msi(0x0F, 0, 300) == 0);
        expect("SEND_MSI 0FH later", ESR_RECV);
        checks += 2;
    }
    /* x2APIC: SELF IPI (83FH) and the 64-bit ICR (830H). */
    x2apic_enable();
    x2apic_self_ipi(5);
    expect("x2APIC SELF IPI 05H", ESR_SEND | ESR_RECV);
    x2apic_write(APIC_ICR_LO, APIC_ICR_SELF | 3);
    expect("x2APIC ICR self 03H", ESR_SEND | ESR_RECV);
    /* Lowest priority is reserved in the x2APIC ICR: not sent. */
    x2apic_write(APIC_ICR_LO, (1u << 8) | 0x41);
    expect("x2APIC ICR lowest priority", ESR_REDIR);
    /* A legal vector still arrives after all that, once: none of the
     * refused messages above delivered 41H. */
    x2apic_self_ipi(0x41);
    sti();
    spin_cycles(500);
    cli();
    GUEST_CHECK(hits[0][0x41] == 1);
    checks++;
    printf("apic_illegal: CHECKS %u %s\n", checks, vmx ? "vmx" : "native");
}

/* vCPU 1 waits with interrupts off for vCPU 0's IPI (09H) and MSI (03H). */
static void vcpu1(void)
{
    cli();
    while (!phase)
        pause();
    uint32_t esr = esr_latch();
    uint32_t errors = hits[1][VEC_ERROR];
    sti();
    spin_cycles(500);
    cli();
    if (esr != ESR_RECV || hits[1][VEC_ERROR] != errors + 1 || low_hits(1))
        printf("apic_illegal: vCPU 1: ESR %#x, error interrupts %u -> %u, vectors 0-15 %u\n", esr,
               errors, hits[1][VEC_ERROR], low_hits(1));
    GUEST_CHECK(esr == ESR_RECV && hits[1][VEC_ERROR] == errors + 1);
    GUEST_CHECK(low_hits(1) == 0 && irr_low() == 0);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus == 2);
    if (cpu == 0) {
        /* The vectors sent below: none is an exception this guest can
         * raise or one that pushes an error code, so the handler would
         * see a delivered interrupt as it is. */
        static const uint8_t low[] = {3, 5, 7, 9, 15};
        for (unsigned i = 0; i < sizeof low; i++)
            register_handler(low[i], on_vector);
        register_handler(VEC_ERROR, on_vector);
        register_handler(0x41, on_vector);
    }
    guest_barrier_wait(&barrier, ncpus);
    xapic_enable(0xFF);
    xapic_write(APIC_LVT_ERROR, VEC_ERROR);
    xapic_write(APIC_ESR, 0);
    xapic_write(APIC_ESR, 0);
    guest_barrier_wait(&barrier, ncpus);
    if (cpu == 0) {
        vcpu0();
        phase = 1;
    } else {
        vcpu1();
    }
    guest_barrier_wait(&barrier, ncpus);
    return 0;
}
