/*
 * vmx_teach.c — a teaching hypervisor: the smallest useful VMM, written to
 * be read next to the SDM (Vol. 3C, 2016 numbering). Run it with
 *
 *     apicv-emu run --mode native build/guests/vmx_teach.elf
 *
 * The program is the hypervisor (VMX root operation) and, in the same
 * image, its tiny guest (VMX non-root operation): both use the guest ABI's
 * identity page tables, GDT and the runtime's IDT, so a VMCS needs no
 * memory set-up beyond a few pages. What it shows:
 *
 *   1. Entering VMX operation (SDM 23.7): CR4.VMXE, then VMXON on a region
 *      carrying the revision identifier of IA32_VMX_BASIC.
 *   2. A VMCS (SDM 24): VMCLEAR and VMPTRLD make it current; VMWRITE fills
 *      the guest-state, host-state and control fields. The controls come
 *      from the TRUE capability MSRs (Vol. 3D A.3-A.5): external-interrupt
 *      exiting, TPR shadow with a virtual-APIC page, virtual-interrupt
 *      delivery with virtualized x2APIC MSRs, MSR bitmaps that let every
 *      MSR through, a VPID.
 *   3. VMLAUNCH (SDM 26), and every VM exit (SDM 27) arriving at HOST_RIP
 *      with the guest's registers still in the CPU (vx_exit_landing in
 *      vmx_guest.h saves them); the handler reads the exit reason and the
 *      instruction length, does the work and VMRESUMEs past the VMCALL.
 *   4. APIC virtualization (SDM 29) without a single exit: the guest's MOV
 *      to CR8 writes VTPR on the virtual-APIC page (TPR shadow); a vector
 *      the host puts into VIRR and RVI waits while VTPR masks it and is
 *      delivered through the guest's IDT as soon as CR8 drops; the guest's
 *      EOI (WRMSR 80BH) is virtualized.
 *
 *   5. With two CPUs (--cpus 2), both CPUs are hypervisors, each with its
 *      own VMXON region, VMCS and guest (SDM 31.2: VMX operation is per
 *      logical processor; vmx_guest.h keeps one register save area per
 *      CPU). CPU 1 first plays the rest of the machine for CPU 0: it sends
 *      an INIT while CPU 0 is in VMX root operation, where INIT is blocked
 *      (SDM 23.8), so it waits and becomes an INIT VM exit (reason 3) at
 *      the first guest instruction (SDM 25.2). CPU 0's hypervisor does what
 *      a VMM does with an INIT for its vCPU: it puts the guest into the
 *      wait-for-SIPI activity state (SDM 24.4.2) and resumes it; CPU 1's
 *      SIPI then ends that state with a SIPI VM exit (reason 4, the vector
 *      in the exit qualification, SDM 27.2.1), and the hypervisor makes its
 *      guest active again. Then CPU 1 launches its own guest, which asks
 *      its hypervisor (a hypercall) to post a vector to CPU 0's guest: PIR
 *      bit, ON, and the notification vector as an IPI (SDM 29.6), as a
 *      device or another VMM thread would. CPU 0's guest gets the
 *      interrupt with no exit at all.
 *
 * Hypercalls (VMCALL with RAX = number, RBX = argument, result in RAX):
 * 1 hello, 2 post a virtual interrupt (RBX = vector), 3 read VTPR from the
 * virtual-APIC page, 4 nothing (the round-trip benchmark), 5 done; on CPU
 * 1, 6 post RBX to CPU 0's guest.
 * Prints "vmx_teach: OK ..." and exits 0; any unexpected exit is a failure.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;

enum { HC_HELLO = 1, HC_POST = 2, HC_READ_VTPR = 3, HC_NOP = 4, HC_DONE = 5, HC_POST_REMOTE = 6 };
#define VEC 0x55       /* priority class 5 */
#define NOP_CALLS 1000 /* VMCALL round trips the guest makes (the benchmark's loop) */
#define PI_NV 0xF2     /* posted-interrupt notification vector (host vector) */
#define PI_VEC 0x66    /* the vector CPU 1 posts */
#define SIPI_VEC 0x12  /* the start-up vector CPU 1 sends */
#define F_POSTED_NV 0x0002u
#define F_POSTED_DESC 0x2016u
#define X_INIT 3
#define X_SIPI 4
#define ACTIVITY_WAIT_SIPI 3 /* guest activity state (SDM 24.4.2) */

/* CPU 0 and CPU 1 meet through these (two-CPU run only), in this order. */
enum {
    PH_START,
    PH_IN_ROOT,     /* CPU 0 is in VMX root operation */
    PH_INIT_SENT,   /* CPU 1 sent the INIT */
    PH_WAIT_SIPI,   /* CPU 0's guest is in the wait-for-SIPI state */
    PH_SIPI_TAKEN,  /* CPU 0's hypervisor took the SIPI exit */
    PH_GUEST_READY, /* CPU 0's guest waits for the posted interrupt */
    PH_CPU1_DONE,   /* CPU 1 left VMX operation */
};
static volatile uint32_t phase;
static unsigned two_cpus;
/* The posted-interrupt descriptor (SDM 29.6): PIR bits 255:0, ON = bit 256. */
static volatile uint64_t pid[8] __attribute__((aligned(64)));

static uint32_t vmxon_region[2][1024] __attribute__((aligned(4096))); /* one per CPU */
static uint32_t vmcs[2][1024] __attribute__((aligned(4096)));
static uint8_t vapic[4096] __attribute__((aligned(4096)));      /* virtual-APIC page (SDM 29.1) */
static uint8_t msr_bitmap[4096] __attribute__((aligned(4096))); /* all zero: no MSR exits */
static uint8_t guest_stack[2][8192] __attribute__((aligned(16)));

#define PA(p) ((uint64_t)(uintptr_t)(p))

/* ---- the guest (VMX non-root operation) ---------------------------------- */

static volatile unsigned virq_taken, posted_taken;

static inline uint64_t hypercall(uint64_t nr, uint64_t arg)
{
    uint64_t ret;
    __asm__ volatile("vmcall" : "=a"(ret) : "a"(nr), "b"(arg) : "memory");
    return ret;
}

/* The virtual interrupt, delivered through the guest's IDT by
 * virtual-interrupt delivery (SDM 29.2.2). Its EOI is an x2APIC MSR write
 * that EOI virtualization completes without an exit (SDM 29.1.3). */
static void on_virq(struct guest_frame *f)
{
    (void)f;
    virq_taken++;
    wrmsr(0x80B, 0);
}

/* The posted vector, also delivered by virtual-interrupt delivery after
 * posted-interrupt processing moved it from PIR to VIRR (SDM 29.6). */
static void on_posted(struct guest_frame *f)
{
    (void)f;
    posted_taken++;
    wrmsr(0x80B, 0);
}

static void guest_fail(const char *what)
{
    printf("guest: FAIL %s\n", what);
    hypercall(HC_DONE, 1);
}

/* Runs in VMX non-root operation, entered by VMLAUNCH at its first
 * instruction with RSP = guest_stack's top (a C function that never
 * returns: it ends with the DONE hypercall, after which the host does not
 * resume it). */
static void tiny_guest(void)
{
    printf("guest: hello from VMX non-root operation\n");
    hypercall(HC_HELLO, 0);
    __asm__ volatile("sti");
    /* TPR shadow (SDM 29.3): MOV to CR8 writes VTPR[7:4], no exit. */
    write_cr8(6);
    if (hypercall(HC_READ_VTPR, 0) != 0x60)
        guest_fail("VTPR after MOV CR8, 6");
    /* The host posts vector 0x55 (class 5): VTPR class 6 masks it. */
    hypercall(HC_POST, VEC);
    for (int i = 0; i < 100; i++)
        pause();
    if (virq_taken != 0)
        guest_fail("delivered while VTPR masks it");
    /* Lowering CR8 makes it deliverable (PPR virtualization, evaluation
     * of pending virtual interrupts, SDM 29.1.2, 29.2.1). */
    write_cr8(0);
    for (int i = 0; i < 10 && !virq_taken; i++)
        pause();
    if (virq_taken != 1)
        guest_fail("not delivered after CR8 dropped");
    printf("guest: virtual interrupt %#x delivered, EOI virtualized\n", VEC);
    if (two_cpus) {
        /* CPU 1 posts PI_VEC and notifies this CPU while it runs here. */
        phase = PH_GUEST_READY;
        while (posted_taken == 0)
            pause();
        printf("guest: posted interrupt %#x from cpu1 delivered\n", PI_VEC);
    }
    for (int i = 0; i < NOP_CALLS; i++)
        hypercall(HC_NOP, 0);
    hypercall(HC_DONE, 0);
    for (;;)
        pause();
}

/* ---- the hypervisor (VMX root operation) ---------------------------------- */

static unsigned vmcalls, nops, init_exits, sipi_exits, cpu1_vmcalls;
static uint64_t vtpr_seen;

/* Posting a virtual interrupt the way a VMM does between exits: the VIRR
 * bit on the virtual-APIC page (IRR at 200H, 32 vectors per 16 bytes) and
 * RVI, bits 7:0 of the guest interrupt status, if it is higher (SDM 29.1.1,
 * 24.4.2). The next VM entry evaluates it (SDM 26.3.2.5). */
static void post_virtual_interrupt(uint8_t vec)
{
    uint32_t *virr = (uint32_t *)(vapic + 0x200 + (vec / 32) * 0x10);
    *virr |= 1u << (vec % 32);
    uint64_t status = vmr(F_GUEST_INTR_STATUS);
    if (vec > (status & 0xFF))
        vmw(F_GUEST_INTR_STATUS, (status & 0xFF00) | vec);
}

/* One VMCALL exit (reason 18, SDM 25.1.2): the hypercall in the guest's
 * RAX and RBX; the result goes back in RAX; RIP moves past the VMCALL by
 * the VM-exit instruction length (SDM 27.2.4). Returns 0 for DONE. */
static int handle_vmcall(struct vx_cpu *me)
{
    uint64_t nr = me->gregs.rax, arg = me->gregs.rbx;
    vmcalls++;
    switch (nr) {
    case HC_HELLO: printf("host: VMCALL exit at guest RIP %#lx\n", vmr(F_GUEST_RIP)); break;
    case HC_POST: post_virtual_interrupt((uint8_t)arg); break;
    case HC_READ_VTPR: me->gregs.rax = vtpr_seen = *(volatile uint32_t *)(vapic + 0x80); break;
    case HC_NOP: nops++; break;
    case HC_DONE:
        if (arg != 0)
            guest_exit(GUEST_FAIL);
        return 0;
    default:
        printf("host: unknown hypercall %lu\n", nr);
        guest_exit(GUEST_FAIL);
    }
    vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + vmr(F_EXIT_INSN_LEN));
    return 1;
}

/* The guest of CPU 1's hypervisor: once CPU 0's guest waits, it asks its
 * hypervisor to post PI_VEC there. (It prints nothing: CPU 0 prints
 * meanwhile, and the console is shared.) */
static void cpu1_guest(void)
{
    while (phase != PH_GUEST_READY)
        pause();
    hypercall(HC_POST_REMOTE, PI_VEC);
    hypercall(HC_DONE, 0);
    for (;;)
        pause();
}

/* Posting to another CPU's guest (SDM 29.6): the PIR bit, ON (bit 256),
 * then the notification vector as an ordinary fixed IPI to the CPU that
 * runs the guest. */
static void post_to_cpu0(uint8_t vec)
{
    __atomic_fetch_or(&pid[vec / 64], 1ull << (vec % 64), __ATOMIC_SEQ_CST);
    __atomic_fetch_or(&pid[4], 1ull, __ATOMIC_SEQ_CST); /* ON */
    xapic_send_ipi(0, PI_NV);
}

/* CPU 1 in a two-CPU run: a hypervisor too. From VMX root operation it
 * sends CPU 0 an INIT, then SIPIs until CPU 0's hypervisor took one (a
 * SIPI that arrives while CPU 0 is in root operation, or its guest is not
 * waiting for one, is dropped: SDM 23.8, 25.2); then it runs its own guest
 * with its own VMCS and save area, whose hypercall posts the interrupt. */
static int other_cpu(void)
{
    struct vx_cpu *me = &vx_cpus[1];
    xapic_enable(0xFF);
    if (vx_enable(vmxon_region[1]) != VX_OK)
        return GUEST_FAIL;
    while (phase != PH_IN_ROOT)
        pause();
    xapic_write(APIC_ICR_HI, 0);
    xapic_write(APIC_ICR_LO, (5u << 8) | APIC_ICR_ASSERT); /* INIT */
    phase = PH_INIT_SENT;
    while (phase != PH_WAIT_SIPI)
        pause();
    while (phase == PH_WAIT_SIPI) {
        xapic_write(APIC_ICR_HI, 0);
        xapic_write(APIC_ICR_LO, (6u << 8) | SIPI_VEC); /* start-up */
        for (int i = 0; i < 200 && phase == PH_WAIT_SIPI; i++)
            pause();
    }
    vmcs[1][0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    if (vmclear(PA(vmcs[1])) != VX_OK || vmptrld(PA(vmcs[1])) != VX_OK)
        return GUEST_FAIL;
    vx_setup_controls(0, 0, PROC2_VPID, 0);
    vmw(F_VPID, 2);
    vx_setup_host(me, 0, 0);
    vx_setup_guest(PA(cpu1_guest), PA(guest_stack[1] + sizeof(guest_stack[1])) - 8);
    for (int launch = 1;; launch = 0) {
        if (vx_enter(me, launch) & VX_ENTRY_FAILED)
            return GUEST_FAIL;
        if (vmr(F_EXIT_REASON) != X_VMCALL)
            return GUEST_FAIL;
        cpu1_vmcalls++;
        if (me->gregs.rax == HC_DONE)
            break;
        if (me->gregs.rax == HC_POST_REMOTE)
            post_to_cpu0((uint8_t)me->gregs.rbx);
        vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + vmr(F_EXIT_INSN_LEN));
    }
    if (vmclear(PA(vmcs[1])) != VX_OK || vmxoff() != VX_OK)
        return GUEST_FAIL;
    phase = PH_CPU1_DONE;
    return 0;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    two_cpus = ncpus >= 2;
    if (cpu == 1)
        return other_cpu();
    if (cpu != 0)
        return 0;
    struct vx_cpu *me = &vx_cpus[0];
    xapic_enable(0xFF);
    /* 1. VMX operation. */
    if (vx_enable(vmxon_region[0]) != VX_OK) {
        puts("host: VMXON failed");
        return GUEST_FAIL;
    }
    if (two_cpus) {
        /* INIT is blocked in VMX root operation: this CPU goes on. */
        phase = PH_IN_ROOT;
        while (phase != PH_INIT_SENT)
            pause();
        for (int i = 0; i < 100; i++)
            pause();
        printf("host: INIT from cpu1 is pending, blocked in VMX root operation\n");
    }
    /* 2. The VMCS: revision identifier, VMCLEAR (launch state clear),
     * VMPTRLD (current), then its fields. */
    vmcs[0][0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    if (vmclear(PA(vmcs[0])) != VX_OK || vmptrld(PA(vmcs[0])) != VX_OK) {
        puts("host: VMCLEAR/VMPTRLD failed");
        return GUEST_FAIL;
    }
    vx_setup_controls(PIN_EXT_INTR | (two_cpus ? PIN_POSTED : 0), PROC_TPR_SHADOW | PROC_MSR_BITMAPS,
                      PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT | PROC2_VID | PROC2_VPID, EXIT_ACK_INTR);
    /* A VPID (SDM 28.1): the guest's cached translations are tagged with
     * it, so VM entries and exits need not throw them (or the host's)
     * away. Each of this machine's guests has its own. */
    vmw(F_VPID, 1);
    if (two_cpus) {
        /* Posted interrupts need VID, external-interrupt exiting and
         * acknowledge interrupt on exit (SDM 26.2.1.1), all set above. */
        vmw(F_POSTED_NV, PI_NV);
        vmw(F_POSTED_DESC, PA(pid));
    }
    vmw(F_MSR_BITMAP, PA(msr_bitmap));
    vmw(F_VIRTUAL_APIC, PA(vapic));
    vmw(F_TPR_THRESHOLD, 0);
    vmw(F_EOI_EXIT0, 0);
    vmw(F_EOI_EXIT1, 0);
    vmw(F_EOI_EXIT2, 0);
    vmw(F_EOI_EXIT3, 0);
    vmw(F_GUEST_INTR_STATUS, 0);
    vx_setup_host(me, 0, 0); /* HOST_RSP and HOST_RIP: vx_enter */
    /* A C function entered as if called: RSP + 8 is 16-byte aligned. */
    vx_setup_guest(PA(tiny_guest), PA(guest_stack[0] + sizeof(guest_stack[0])) - 8);
    register_handler(VEC, on_virq);
    register_handler(PI_VEC, on_posted);

    /* 3. Launch, then handle exits and resume until the guest is done. */
    int launch = 1;
    for (;;) {
        uint64_t e = vx_enter(me, launch);
        if (e & VX_ENTRY_FAILED) {
            printf("host: %s failed, VM-instruction error %lu\n", launch ? "VMLAUNCH" : "VMRESUME",
                   (e & 1) ? 0 : vmr(F_VM_INSN_ERROR));
            return GUEST_FAIL;
        }
        launch = 0;
        uint64_t reason = vmr(F_EXIT_REASON);
        if (reason == X_INIT && two_cpus) {
            /* SDM 25.2: INIT in non-root operation is a VM exit. As a VMM
             * does for its vCPU, the guest goes into the wait-for-SIPI
             * activity state, where it executes nothing until a SIPI. */
            init_exits++;
            printf("host: INIT exit at guest RIP %#lx: guest into wait-for-SIPI\n",
                   vmr(F_GUEST_RIP));
            vmw(F_GUEST_ACTIVITY, ACTIVITY_WAIT_SIPI);
            phase = PH_WAIT_SIPI;
            continue;
        }
        if (reason == X_SIPI && two_cpus) {
            /* SDM 25.2, 27.2.1: a SIPI in wait-for-SIPI is a VM exit with
             * the vector in the qualification; the VMM makes its vCPU
             * active again (here at the same RIP, not at vector << 12). */
            sipi_exits++;
            printf("host: SIPI exit, vector %#lx: the guest is active again\n",
                   vmr(F_EXIT_QUAL) & 0xFF);
            vmw(F_GUEST_ACTIVITY, 0);
            phase = PH_SIPI_TAKEN;
            continue;
        }
        if (reason != X_VMCALL) {
            printf("host: unexpected exit %#lx, qualification %#lx, guest RIP %#lx\n", reason,
                   vmr(F_EXIT_QUAL), vmr(F_GUEST_RIP));
            return GUEST_FAIL;
        }
        if (!handle_vmcall(me))
            break;
    }
    vmclear(PA(vmcs[0]));
    vmxoff();
    if (two_cpus) {
        while (phase != PH_CPU1_DONE)
            pause();
        if (init_exits != 1 || sipi_exits != 1 || posted_taken != 1 || cpu1_vmcalls != 2) {
            printf("host: %u INIT exits, %u SIPI exits, %u posted interrupts, cpu1 %u VMCALLs\n",
                   init_exits, sipi_exits, posted_taken, cpu1_vmcalls);
            return GUEST_FAIL;
        }
    }
    printf("vmx_teach: OK: %u VMCALL exits (%u round trips), VTPR %#lx, %u INIT exit, %u SIPI exit, "
           "no other exit; cpu1's hypervisor: %u VMCALL exits\n",
           vmcalls, nops, vtpr_seen, init_exits, sipi_exits, cpu1_vmcalls);
    return 0;
}
