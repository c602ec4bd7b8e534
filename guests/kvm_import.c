/*
 * kvm_import.c — the guest of scenarios that `apicv-emu import-kvm` makes
 * from real KVM traces (docs/import-kvm.md): every vCPU waits, running, for
 * the interrupts that the real vCPUs accepted, and takes each one.
 *
 * Every vCPU enables its xAPIC, sets RFLAGS.IF and spins on PAUSE and
 * RDTSC until the time stamp counter reaches IMPORT_END cycles (the
 * importer places its stimuli before 900000: emu/emu_import_kvm.h); the
 * handler (any vector 20h..FFh) counts the vector per vCPU and writes EOI
 * (xAPIC 0B0H); an NMI is counted as vector 2, without EOI (SDM 11.8.5).
 * Nothing in the loop or the handler exits on its own in any VMX mode but
 * the EOI write, so the exits a vCPU takes are those its interrupts cost
 * in the mode (the same design as demo_irq.c, with a longer window).
 * Then vCPU 0 prints one line per vCPU and vector received,
 *     kvm_import: vcpu1 vector 0xec x3
 * and ends the run with 0.
 */
#include "guest.h"

#define IMPORT_END 1000000u
#define IMPORT_MAX_CPUS 8

static volatile uint32_t got[IMPORT_MAX_CPUS][256];
static struct guest_barrier barrier;

static volatile uintptr_t stack_mark[IMPORT_MAX_CPUS];

/* The vCPU a handler runs on, from its stack: each vCPU has its own
 * 16 KiB stack (guest ABI, "State at entry") and the handler runs on it,
 * below guest_main's frame. Reading the APIC ID instead would be an
 * APIC-access exit in the modes without APIC-register virtualization. */
static unsigned this_cpu(void)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    for (unsigned c = 0; c < IMPORT_MAX_CPUS; c++)
        if (stack_mark[c] && sp < stack_mark[c] && stack_mark[c] - sp < 16384)
            return c;
    return 0;
}

static void on_irq(struct guest_frame *f)
{
    atomic_add(&got[this_cpu() % IMPORT_MAX_CPUS][f->vector & 0xFF], 1);
    xapic_eoi();
}

static void on_nmi(struct guest_frame *f)
{
    (void)f;
    atomic_add(&got[this_cpu() % IMPORT_MAX_CPUS][2], 1);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    volatile uint32_t mark = 0;
    if (cpu < IMPORT_MAX_CPUS)
        stack_mark[cpu] = (uintptr_t)&mark;
    if (cpu == 0) {
        register_handler(2, on_nmi);
        for (unsigned v = 0x20; v <= 0xFF; v++)
            register_handler(v, on_irq);
    }
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, ncpus);
    sti();
    while (rdtsc() < IMPORT_END)
        pause();
    cli();
    guest_barrier_wait(&barrier, ncpus);
    if (cpu != 0)
        return GUEST_OK;
    for (unsigned c = 0; c < ncpus && c < IMPORT_MAX_CPUS; c++)
        for (unsigned v = 0; v < 256; v++)
            if (got[c][v])
                printf("kvm_import: vcpu%u vector %#x x%u\n", c, v, (unsigned)got[c][v]);
    return GUEST_OK;
}
