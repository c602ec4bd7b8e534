/*
 * vmx_preempt.c — a guest hypervisor's VMX-preemption timer (SDM 25.5.1)
 * while its guest sleeps (`--mode native`, one CPU; docs/vmx.md "VMX root
 * operation for guest code").
 *
 * The guest executes HLT with RFLAGS.IF = 0 and HLT exiting = 0: the only
 * thing that can end that HLT is the preemption timer, which counts in the
 * HLT state too. Its deadline lies many scheduling quanta ahead, so the
 * machine, seeing its only CPU asleep with interrupts off, must still know
 * that the CPU wakes at that deadline (exit 52, activity state HLT saved).
 * Then a timer value of 0 exits before the guest's first instruction
 * (SDM 25.5.1: a VM exit at the end of VM entry, RIP unchanged). Last, an
 * entry into the HLT activity state with "NMI-window exiting" and no
 * blocking by NMI exits at once (exit 8, SDM 25.2), however the entry falls
 * on the machine's scheduling rounds (the test runs it with short ones).
 * Prints "vmx_preempt: OK" and exits 0 when all hold.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;
/* This program's hypervisor runs on CPU 0 only. */
static struct vx_cpu *const me = &vx_cpus[0];

#define PA(p) ((uint64_t)(uintptr_t)(p))
#define PIN_PREEMPT (1u << 6)
#define F_PREEMPT_VALUE 0x482Eu
#define X_PREEMPT 52
#define X_NMI_WINDOW 8
#define PIN_NMI_EXIT (1u << 3)
#define PIN_VIRTUAL_NMIS (1u << 5)
#define PROC_NMI_WINDOW (1u << 22)
#define ACTIVITY_HLT 1
#define TIMER_VALUE 100000u /* x 2^rate (IA32_VMX_MISC[4:0]) cycles: hundreds of quanta */

static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));
static uint32_t vmcs[1024] __attribute__((aligned(4096)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));

/* The guest: HLT with interrupts off, then VMCALL for ever. */
__asm__(".text\n.globl vp_guest\nvp_guest:\ncli\nhlt\n.globl vp_after_hlt\nvp_after_hlt:\n"
        "vmcall\njmp vp_after_hlt\n");
void vp_guest(void);
void vp_after_hlt(void);

static int fail(const char *what, uint64_t e)
{
    printf("host: %s (%#lx): exit reason %#lx, guest RIP %#lx, activity %lu\n", what, e,
           vmr(F_EXIT_REASON), vmr(F_GUEST_RIP), vmr(F_GUEST_ACTIVITY));
    return GUEST_FAIL;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    if (vx_enable(vmxon_region) != VX_OK) {
        puts("host: VMXON failed");
        return GUEST_FAIL;
    }
    vmcs[0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    if (vmclear(PA(vmcs)) != VX_OK || vmptrld(PA(vmcs)) != VX_OK) {
        puts("host: VMCLEAR/VMPTRLD failed");
        return GUEST_FAIL;
    }
    vx_setup_controls(PIN_PREEMPT, 0, 0, 0);
    vx_setup_host(me, 0, 0);
    vx_setup_guest(PA(vp_guest), PA(guest_stack + sizeof(guest_stack)) - 8);
    vmw(F_PREEMPT_VALUE, TIMER_VALUE);
    unsigned rate = (unsigned)rdmsr(0x485) & 0x1F; /* IA32_VMX_MISC */

    /* 1. Asleep in HLT until the timer's deadline. */
    uint64_t t0 = rdtsc();
    uint64_t e = vx_enter(me, 1);
    uint64_t waited = rdtsc() - t0;
    if (e & VX_ENTRY_FAILED)
        return fail("VMLAUNCH failed", e);
    if (vmr(F_EXIT_REASON) != X_PREEMPT || vmr(F_GUEST_ACTIVITY) != ACTIVITY_HLT ||
        vmr(F_GUEST_RIP) != PA(vp_after_hlt))
        return fail("expected a preemption-timer exit in the HLT state", e);
    if (waited < ((uint64_t)TIMER_VALUE << rate))
        return fail("the timer expired early", waited);

    /* 2. Value 0: the exit comes before the guest's first instruction. */
    vmw(F_GUEST_ACTIVITY, 0);
    vmw(F_PREEMPT_VALUE, 0);
    e = vx_enter(me, 0);
    if (e & VX_ENTRY_FAILED)
        return fail("VMRESUME failed", e);
    if (vmr(F_EXIT_REASON) != X_PREEMPT || vmr(F_GUEST_RIP) != PA(vp_after_hlt))
        return fail("expected a preemption-timer exit before the VMCALL", e);

    /* 3. HLT activity state with NMI-window exiting: an exit right away. */
    vmw(F_PIN, vx_ctls(MSR_VMX_TRUE_PINBASED, PIN_NMI_EXIT | PIN_VIRTUAL_NMIS));
    vmw(F_PROC, vmr(F_PROC) | PROC_NMI_WINDOW);
    vmw(F_GUEST_ACTIVITY, ACTIVITY_HLT);
    e = vx_enter(me, 0);
    if (e & VX_ENTRY_FAILED)
        return fail("VMRESUME into HLT failed", e);
    if (vmr(F_EXIT_REASON) != X_NMI_WINDOW || vmr(F_GUEST_RIP) != PA(vp_after_hlt))
        return fail("expected an NMI-window exit from the HLT state", e);

    vmclear(PA(vmcs));
    vmxoff();
    printf("vmx_preempt: OK (HLT woken after %lu cycles of a %u-tick timer)\n", waited,
           TIMER_VALUE);
    return 0;
}
