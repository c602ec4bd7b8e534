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
 *      MSR through.
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
 * Hypercalls (VMCALL with RAX = number, RBX = argument, result in RAX):
 * 1 hello, 2 post a virtual interrupt (RBX = vector), 3 read VTPR from the
 * virtual-APIC page, 4 nothing (the round-trip benchmark), 5 done.
 * Prints "vmx_teach: OK ..." and exits 0; any unexpected exit is a failure.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;

enum { HC_HELLO = 1, HC_POST = 2, HC_READ_VTPR = 3, HC_NOP = 4, HC_DONE = 5 };
#define VEC 0x55       /* priority class 5 */
#define NOP_CALLS 1000 /* VMCALL round trips the guest makes (the benchmark's loop) */

static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));
static uint32_t vmcs[1024] __attribute__((aligned(4096)));
static uint8_t vapic[4096] __attribute__((aligned(4096)));      /* virtual-APIC page (SDM 29.1) */
static uint8_t msr_bitmap[4096] __attribute__((aligned(4096))); /* all zero: no MSR exits */
static uint8_t guest_stack[8192] __attribute__((aligned(16)));

#define PA(p) ((uint64_t)(uintptr_t)(p))

/* ---- the guest (VMX non-root operation) ---------------------------------- */

static volatile unsigned virq_taken;

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
    for (int i = 0; i < NOP_CALLS; i++)
        hypercall(HC_NOP, 0);
    hypercall(HC_DONE, 0);
    for (;;)
        pause();
}

/* ---- the hypervisor (VMX root operation) ---------------------------------- */

static unsigned vmcalls, nops;
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
static int handle_vmcall(void)
{
    uint64_t nr = vx_gregs.rax, arg = vx_gregs.rbx;
    vmcalls++;
    switch (nr) {
    case HC_HELLO: printf("host: VMCALL exit at guest RIP %#lx\n", vmr(F_GUEST_RIP)); break;
    case HC_POST: post_virtual_interrupt((uint8_t)arg); break;
    case HC_READ_VTPR: vx_gregs.rax = vtpr_seen = *(volatile uint32_t *)(vapic + 0x80); break;
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

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    /* 1. VMX operation. */
    if (vx_enable(vmxon_region) != VX_OK) {
        puts("host: VMXON failed");
        return GUEST_FAIL;
    }
    /* 2. The VMCS: revision identifier, VMCLEAR (launch state clear),
     * VMPTRLD (current), then its fields. */
    vmcs[0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    if (vmclear(PA(vmcs)) != VX_OK || vmptrld(PA(vmcs)) != VX_OK) {
        puts("host: VMCLEAR/VMPTRLD failed");
        return GUEST_FAIL;
    }
    vx_setup_controls(PIN_EXT_INTR, PROC_TPR_SHADOW | PROC_MSR_BITMAPS,
                      PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT | PROC2_VID, EXIT_ACK_INTR);
    vmw(F_MSR_BITMAP, PA(msr_bitmap));
    vmw(F_VIRTUAL_APIC, PA(vapic));
    vmw(F_TPR_THRESHOLD, 0);
    vmw(F_EOI_EXIT0, 0);
    vmw(F_EOI_EXIT1, 0);
    vmw(F_EOI_EXIT2, 0);
    vmw(F_EOI_EXIT3, 0);
    vmw(F_GUEST_INTR_STATUS, 0);
    vx_setup_host(0, 0); /* HOST_RSP and HOST_RIP: vx_enter */
    /* A C function entered as if called: RSP + 8 is 16-byte aligned. */
    vx_setup_guest(PA(tiny_guest), PA(guest_stack + sizeof(guest_stack)) - 8);
    register_handler(VEC, on_virq);

    /* 3. Launch, then handle exits and resume until the guest is done. */
    int launch = 1;
    for (;;) {
        uint64_t e = vx_enter(launch);
        if (e & VX_ENTRY_FAILED) {
            printf("host: %s failed, VM-instruction error %lu\n", launch ? "VMLAUNCH" : "VMRESUME",
                   (e & 1) ? 0 : vmr(F_VM_INSN_ERROR));
            return GUEST_FAIL;
        }
        launch = 0;
        uint64_t reason = vmr(F_EXIT_REASON);
        if (reason != X_VMCALL) {
            printf("host: unexpected exit %#lx, qualification %#lx, guest RIP %#lx\n", reason,
                   vmr(F_EXIT_QUAL), vmr(F_GUEST_RIP));
            return GUEST_FAIL;
        }
        if (!handle_vmcall())
            break;
    }
    vmclear(PA(vmcs));
    vmxoff();
    printf("vmx_teach: OK: %u VMCALL exits (%u round trips), VTPR %#lx, no other exit\n", vmcalls,
           nops, vtpr_seen);
    return 0;
}
