/*
 * x2apic_reserved.c — x2APIC MSR writes with reserved bits set #GP(0) and
 * change nothing, on every path that virtualizes or emulates them (SDM Vol.
 * 3A 11.12.1.2 "x2APIC Register Address Space", 11.12.1.3 "Reserved Bit
 * Checking"; Vol. 3C 29.5: an x2APIC MSR write the processor does not
 * virtualize exits and the VMM emulates it as the x2APIC would, KVM's
 * kvm_x2apic_msr_write). Natively the local APIC refuses the write; in the
 * VMX modes ICR (830H) and most other registers exit to the hypervisor, and
 * TPR, EOI and SELF IPI (808H, 80BH, 83FH) are virtualized in apicv/posted.
 *
 * One vCPU in x2APIC mode. For each case: the WRMSR faults (the #GP handler
 * counts it and skips the 2-byte instruction), no interrupt arrives, no APIC
 * error is recorded and the register reads as before. Then the valid forms
 * (an ICR with the ignored delivery-status bit 12, a SELF IPI of a vector)
 * are sent and arrive once. Prints "x2apic_reserved: <n> faults, <m> IPIs".
 */
#include "guest.h"

#define VEC 0x51
#define VEC_ERROR 0x4E

static volatile unsigned gp_count, hits, error_irqs;

static void on_gp(struct guest_frame *f)
{
    const uint8_t *insn = (const uint8_t *)f->rip;
    GUEST_CHECK(insn[0] == 0x0F && insn[1] == 0x30); /* WRMSR */
    GUEST_CHECK(f->error_code == 0);
    gp_count++;
    f->rip += 2;
}

static void on_vec(struct guest_frame *f)
{
    (void)f;
    hits++;
    x2apic_eoi();
}

static void on_error(struct guest_frame *f)
{
    (void)f;
    error_irqs++;
    x2apic_eoi();
}

/* An interrupt window long enough for a sent IPI to arrive. */
static void window(void)
{
    sti();
    for (int i = 0; i < 2000; i++)
        pause();
    cli();
}

static uint32_t esr_latch(void)
{
    x2apic_write(APIC_ESR, 0);
    return (uint32_t)x2apic_read(APIC_ESR);
}

/* WRMSR msr, val must fault, deliver nothing, flag no error and leave the
 * register (when readable) as it was. */
static void expect_gp(uint32_t msr, uint64_t val, int readable)
{
    uint64_t before = readable ? rdmsr(msr) : 0;
    unsigned gp0 = gp_count, hits0 = hits;
    wrmsr(msr, val);
    window();
    if (gp_count != gp0 + 1 || hits != hits0 || (readable && rdmsr(msr) != before)) {
        printf("x2apic_reserved: WRMSR %#x <- %#llx: %u #GP, %u interrupts, reads %#llx (was %#llx)\n",
               msr, (unsigned long long)val, gp_count - gp0, hits - hits0,
               (unsigned long long)(readable ? rdmsr(msr) : 0), (unsigned long long)before);
        guest_exit(GUEST_FAIL);
    }
    GUEST_CHECK(esr_latch() == 0);
}

/* WRMSR msr, val must not fault and deliver VEC once. */
static void expect_sent(uint32_t msr, uint64_t val)
{
    unsigned gp0 = gp_count, hits0 = hits;
    wrmsr(msr, val);
    window();
    if (gp_count != gp0 || hits != hits0 + 1) {
        printf("x2apic_reserved: WRMSR %#x <- %#llx: %u #GP, %u interrupts (want 0, 1)\n", msr,
               (unsigned long long)val, gp_count - gp0, hits - hits0);
        guest_exit(GUEST_FAIL);
    }
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    register_handler(13, on_gp);
    register_handler(VEC, on_vec);
    register_handler(VEC_ERROR, on_error);
    x2apic_enable();
    x2apic_write(APIC_SVR, APIC_SVR_ENABLE | 0xFF);
    x2apic_write(APIC_LVT_ERROR, VEC_ERROR);
    uint64_t self = x2apic_read(APIC_ID) << 32;
    uint64_t icr = self | VEC; /* fixed, physical, edge, to itself */
    unsigned cases = 0;

    /* ICR: bits 13, 16, 17, 31:20 reserved (SDM 11.12.9, Figure 11-28). */
    static const unsigned icr_bits[] = {13, 16, 17, 20, 21, 24, 27, 31};
    for (unsigned i = 0; i < sizeof(icr_bits) / sizeof(icr_bits[0]); i++, cases++)
        expect_gp(0x830, icr | (1ull << icr_bits[i]), 0);
    /* SELF IPI: bits 63:8 reserved (SDM 11.12.11). */
    static const uint64_t self_ipi[] = {0x100 | VEC, 0x8000 | VEC, 1ull << 32 | VEC, 1ull << 63 | VEC};
    for (unsigned i = 0; i < sizeof(self_ipi) / sizeof(self_ipi[0]); i++, cases++)
        expect_gp(0x83F, self_ipi[i], 0);
    /* The other writable registers (SDM 11.12.1.3). */
    expect_gp(0x808, 0x100, 1), cases++;                 /* TPR bits 31:8 */
    expect_gp(0x808, 1ull << 40, 1), cases++;            /* TPR bits 63:32 */
    expect_gp(0x80B, 1, 0), cases++;                     /* EOI: only 0 */
    expect_gp(0x80F, 0x1FF | 1u << 10, 1), cases++;      /* SVR bit 10 */
    expect_gp(0x828, 1, 1), cases++;                     /* ESR: only 0 */
    expect_gp(0x832, 0x10040 | 1u << 19, 1), cases++;    /* LVT timer bit 19 */
    expect_gp(0x832, 0x60040, 1), cases++;               /* timer mode 11B */
    expect_gp(0x835, 0x10000 | 1u << 17, 1), cases++;    /* LINT0 bit 17 */
    expect_gp(0x837, VEC_ERROR | 1u << 8, 1), cases++;   /* LVT error: no delivery mode */
    expect_gp(0x838, 1ull << 32, 1), cases++;            /* timer initial count 63:32 */
    expect_gp(0x83E, 0x4, 1), cases++;                   /* divide bit 2 */
    GUEST_CHECK(gp_count == cases && hits == 0 && error_irqs == 0);

    /* The valid forms go through: bit 12 of the ICR is ignored. */
    expect_sent(0x830, icr);
    expect_sent(0x830, icr | 1u << 12);
    expect_sent(0x83F, VEC);
    GUEST_CHECK(gp_count == cases && hits == 3 && error_irqs == 0);
    printf("x2apic_reserved: %u faults, %u IPIs\n", gp_count, hits);
    return 0;
}
