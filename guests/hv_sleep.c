/*
 * hv_sleep.c — vCPUs off their CPU under the built-in hypervisor: a vCPU
 * that waits for device interrupts in HLT (the hypervisor blocks it until
 * it has an interrupt it can take), and a vCPU that the host deschedules
 * (DESCHEDULE) while a device interrupt is sent to it. Two vCPUs.
 * vCPU 1 prints
 *     RESULT sleep got=<n> hlt=<HLT exits>
 *     RESULT desched got=<n> late=<cycles from the send to the handler> sn=<SN after>
 * and vCPU 0 ends the run with 0 (GUEST_FAIL on a wrong count).
 */
#include "guest.h"

#define N 8
#define VEC_SLEEP 0x41
#define VEC_DESCHED 0x42
#define AWAY 40000

static volatile uint32_t got[256];
static volatile uint64_t arrived;
static volatile uint64_t sent_at;
static volatile uint32_t stage;
static struct guest_barrier barrier;

static void on_irq(struct guest_frame *f)
{
    if (f->vector == VEC_DESCHED)
        arrived = rdtsc();
    got[f->vector & 0xFF]++;
    xapic_eoi();
}

static uint64_t exits_of(uint32_t reason)
{
    uint64_t n = 0;
    GUEST_CHECK(hc_exit_count(reason, 1, &n) == 0);
    return n;
}

static void sleeper(void)
{
    uint64_t h0 = exits_of(12);
    atomic_store(&stage, 1);
    for (uint32_t i = 0; i < N; i++) {
        cli();
        while (got[VEC_SLEEP] == i) {
            sti_hlt();
            cli();
        }
    }
    uint64_t h1 = exits_of(12);
    printf("RESULT sleep got=%u hlt=%u\n", (unsigned)got[VEC_SLEEP], (unsigned)(h1 - h0));
}

static void desched_target(void)
{
    atomic_store(&stage, 2);
    sti();
    while (!got[VEC_DESCHED])
        pause();
    cli();
    uint64_t q4 = 0;
    unsigned sn = hc_pid_read(4, &q4) == 0 ? (unsigned)((q4 & PID_SN) != 0) : 2;
    printf("RESULT desched got=%u late=%u sn=%u\n", (unsigned)got[VEC_DESCHED],
           (unsigned)(arrived - sent_at), sn);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus == 2);
    if (cpu == 0) {
        register_handler(VEC_SLEEP, on_irq);
        register_handler(VEC_DESCHED, on_irq);
    }
    xapic_enable(0xFF);
    guest_barrier_wait(&barrier, ncpus);
    if (cpu == 1) {
        sleeper();
        desched_target();
    } else {
        while (atomic_load(&stage) != 1)
            pause();
        for (uint32_t i = 0; i < N; i++) {
            GUEST_CHECK(hc_send_msi(VEC_SLEEP, 1, 3000) == 0);
            while (got[VEC_SLEEP] == i)
                pause();
        }
        while (atomic_load(&stage) != 2)
            pause();
        GUEST_CHECK(hc_deschedule(1, AWAY) == 0);
        uint64_t now = 0;
        GUEST_CHECK(hc_cycles(&now) == 0);
        sent_at = now;
        GUEST_CHECK(hc_send_msi(VEC_DESCHED, 1, 0) == 0);
        while (!got[VEC_DESCHED])
            pause();
    }
    guest_barrier_wait(&barrier, ncpus);
    return 0;
}
