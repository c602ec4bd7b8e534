/*
 * machine_ipi.c — fixed IPIs between 2..8 CPUs on the physical local APICs:
 * physical, logical (flat), physical broadcast, the "all excluding self"
 * and "all including self" shorthands, lowest priority, and an NMI.
 *
 * Every CPU counts the vectors it receives; after the last barrier vCPU 0
 * compares every count with what the SDM says each message reaches
 * (Vol. 3A 11.6.2) and exits 0 only when all are right, GUEST_FAIL
 * otherwise. It prints one line per CPU:
 *     machine_ipi: cpu1 40=1 42=1 43=1 44=0 45=1 46=0 back=0 nmi=1
 * Needs at least 2 CPUs; native mode (the machine's physical APICs).
 */
#include "guest.h"

#define MAX_CPUS 8
#define VEC_PHYS 0x40      /* vCPU 0 -> every other CPU, physical */
#define VEC_BACK 0x50     /* + k: CPU k -> vCPU 0, physical (one vector per sender: IRR
                            * has one bit per vector, so equal vectors could merge) */
#define VEC_LOGICAL 0x42   /* vCPU 0 -> all others, one logical flat message */
#define VEC_BCAST 0x43     /* last CPU -> physical destination FFH (everyone, itself included) */
#define VEC_ALL_EXCL 0x44  /* vCPU 1 -> shorthand all excluding self */
#define VEC_ALL_INCL 0x45  /* vCPU 0 -> shorthand all including self */
#define VEC_LOWEST 0x46    /* vCPU 0 -> lowest priority among all: the last CPU (TPR 0) */
#define NVEC 7

static volatile uint32_t hits[MAX_CPUS][256];
static struct guest_barrier barrier;

static unsigned my_cpu(void)
{
    return xapic_read(APIC_ID) >> 24;
}

static void on_ipi(struct guest_frame *f)
{
    hits[my_cpu()][f->vector & 0xFF]++;
    xapic_eoi();
}

static void on_nmi(struct guest_frame *f)
{
    (void)f;
    hits[my_cpu()][2]++; /* no EOI: an NMI does not go through ISR */
}

/* How many messages with `vector` CPU `cpu` of n must receive (SDM 11.6.2). */
static uint32_t expected(unsigned cpu, unsigned vector, unsigned n)
{
    switch (vector) {
    case VEC_PHYS:
    case VEC_LOGICAL:
        return cpu != 0;
    case VEC_BCAST:
    case VEC_ALL_INCL:
        return 1;
    case VEC_ALL_EXCL:
        return cpu != 1;
    case VEC_LOWEST:
        return cpu == n - 1;
    case 2:
        return cpu == 1;
    default:
        return cpu == 0 && vector > VEC_BACK && vector < VEC_BACK + n;
    }
}

static void send(uint32_t icr_hi, uint32_t icr_lo)
{
    xapic_write(APIC_ICR_HI, icr_hi);
    xapic_write(APIC_ICR_LO, icr_lo);
}

/* Waits, interrupts enabled, until every count of this CPU is reached
 * (but the lowest-priority one, which comes in a phase of its own). */
static void wait_all(unsigned cpu, unsigned n)
{
    for (unsigned v = 0; v < 256; v++) {
        for (; v != VEC_LOWEST;) {
            cli();
            if (hits[cpu][v] >= expected(cpu, v, n))
                break;
            sti_hlt();
        }
    }
    sti();
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    if (ncpus < 2 || ncpus > MAX_CPUS) {
        printf("machine_ipi: needs 2..%d CPUs, got %u\n", MAX_CPUS, ncpus);
        return GUEST_FAIL;
    }
    if (cpu == 0) {
        for (unsigned v = VEC_PHYS; v < VEC_PHYS + NVEC; v++)
            register_handler(v, on_ipi);
        for (unsigned k = 1; k < ncpus; k++)
            register_handler(VEC_BACK + k, on_ipi);
        register_handler(2, on_nmi);
    }
    GUEST_CHECK(my_cpu() == cpu);
    xapic_enable(0xFF);
    xapic_write(APIC_DFR, 0xFFFFFFFFu);       /* flat model */
    xapic_write(APIC_LDR, (1u << cpu) << 24); /* one logical bit per CPU */
    xapic_write(APIC_TPR, cpu == ncpus - 1 ? 0 : 0x20);
    guest_barrier_wait(&barrier, ncpus);
    sti();

    if (cpu == 0) {
        for (unsigned k = 1; k < ncpus; k++)
            send(k << 24, APIC_ICR_ASSERT | VEC_PHYS);
        uint32_t others = ((1u << ncpus) - 1) & ~1u;
        send(others << 24, (1u << 11) | APIC_ICR_ASSERT | VEC_LOGICAL);
        send(0, APIC_ICR_ALL_INCL | APIC_ICR_ASSERT | VEC_ALL_INCL);
        send(1u << 24, APIC_ICR_DELIVERY_NMI | APIC_ICR_ASSERT);
    } else {
        send(0, APIC_ICR_ASSERT | (VEC_BACK + cpu));
    }
    if (cpu == 1)
        send(0, APIC_ICR_ALL_EXCL | APIC_ICR_ASSERT | VEC_ALL_EXCL);
    if (cpu == ncpus - 1)
        send(0xFFu << 24, APIC_ICR_ASSERT | VEC_BCAST);

    wait_all(cpu, ncpus);

    /* Lowest priority is arbitrated on APR, which counts vectors in
     * service (SDM 11.6.2.4): send it only when every CPU is idle (ISR and
     * IRR empty), so that TPR alone decides. */
    guest_barrier_wait(&barrier, ncpus);
    if (cpu == 0)
        send(0xFFu << 24, (1u << 11) | (1u << 8) | APIC_ICR_ASSERT | VEC_LOWEST);
    for (;;) {
        cli();
        if (hits[cpu][VEC_LOWEST] >= expected(cpu, VEC_LOWEST, ncpus))
            break;
        sti_hlt();
    }
    sti();
    guest_barrier_wait(&barrier, ncpus);
    cli();
    if (cpu != 0)
        return 0;
    int ok = 1;
    for (unsigned k = 0; k < ncpus; k++) {
        printf("machine_ipi: cpu%u", k);
        uint32_t back = 0;
        for (unsigned v = 0; v < 256; v++) {
            if (v >= VEC_PHYS && v < VEC_PHYS + NVEC && v != 0x41)
                printf(" %x=%u", v, hits[k][v]);
            if (v > VEC_BACK && v < VEC_BACK + MAX_CPUS)
                back += hits[k][v];
            ok &= hits[k][v] == expected(k, v, ncpus);
        }
        printf(" back=%u nmi=%u\n", back, hits[k][2]);
    }
    printf("machine_ipi: %u CPUs %s\n", ncpus, ok ? "OK" : "MISMATCH");
    return ok ? GUEST_OK : GUEST_FAIL;
}
