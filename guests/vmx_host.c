/*
 * vmx_host.c — what a guest hypervisor gets back at a VM exit, and the
 * interrupts it sees (`--mode native`, one CPU; SDM Vol. 3C, 2016
 * numbering; docs/vmx.md "Entries and exits"):
 *
 *   1. the host state of SDM 27.5: CR0 (CD kept from the guest), CR4, RSP,
 *      RFLAGS = 2 exactly, the selectors (a null ES), FS/GS bases, GDTR and
 *      IDTR with limits FFFFH, LDTR null, TR, the SYSENTER MSRs, EFER.LMA/
 *      LME, IA32_PAT with "load IA32_PAT" (27.5.1-27.5.3), DR7 = 400H;
 *   2. an interrupt in VMX root operation goes through the hypervisor's
 *      own IDT (VMX root is ordinary operation for interrupts, SDM 23.3);
 *   3. external-interrupt exiting (24.6.1) with acknowledge interrupt on
 *      exit (24.7.1): exit 1 before the guest's first instruction, the
 *      vector in the VM-exit interruption information (27.2.2), the local
 *      APIC's ISR bit set and IRR bit clear; the host EOIs it;
 *   4. external-interrupt exiting without acknowledge: exit 1 with the
 *      interruption information invalid, the vector still in IRR; the
 *      host takes it through its own IDT once it sets IF;
 *   5. without external-interrupt exiting the interrupt goes through the
 *      guest's IDT in non-root operation, no exit;
 *   6. VMFUNC is #UD in root operation and, "enable VM functions" never
 *      being allowed (IA32_VMX_PROCBASED_CTLS2 bit 45), in the guest too:
 *      no VM exit 59 (SDM 25.5.6, VMFUNC's "#UD");
 *   7. a posted interrupt whose notification arrived while the CPU was in
 *      root operation (IF = 0: it waits in IRR): at the next VM entry the
 *      notification is recognised in non-root operation and processed
 *      (SDM 29.6), the guest gets the vector by virtual-interrupt
 *      delivery, with no exit; ON and PIR are cleared, IRR and ISR too.
 * Prints "vmx_host: OK <n> checks" and exits 0 when every check holds.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;
/* This program's hypervisor runs on CPU 0 only. */
static struct vx_cpu *const me = &vx_cpus[0];

static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));
static uint32_t vmcs[1024] __attribute__((aligned(4096)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));
VX_DEFINE_CHECKS;

#define PA(p) ((uint64_t)(uintptr_t)(p))

enum {
    F_HOST_SYSENTER_ESP = 0x6C10, F_HOST_SYSENTER_EIP = 0x6C12, F_HOST_PAT = 0x2C00,
    MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176,
    MSR_PAT = 0x277, MSR_EFER = 0xC0000080u, MSR_FS_BASE = 0xC0000100u, MSR_GS_BASE = 0xC0000101u,
};
#define EXIT_LOAD_PAT (1u << 19)
#define ENTRY_LOAD_DEBUG (1u << 2)
#define CR0_CD (1ull << 30)
#define CR4_PGE (1ull << 7)
#define VEC_ROOT 0x40  /* taken in root operation */
#define VEC_ACK 0x41   /* exits, acknowledged on exit */
#define VEC_NOACK 0x42 /* exits, left in IRR */
#define VEC_GUEST 0x43 /* delivered in the guest */

/* The guest of parts 1, 3 and 4: VMCALL for ever (its RFLAGS are what the
 * VMCS gives it). */
__asm__(".text\n.globl vh_guest_vmcall\nvh_guest_vmcall:\nvmcall\njmp vh_guest_vmcall\n");
void vh_guest_vmcall(void);

/* A HOST_RIP that records RFLAGS and RSP as the exit left them, then goes
 * on into vx_exit_landing (vmx_guest.h), which saves the guest's registers
 * and returns from vx_enter. */
static volatile uint64_t landed_rflags, landed_rsp;
__asm__(".text\n.globl vh_landing\nvh_landing:\npushfq\npopq landed_rflags(%rip)\n"
        "movq %rsp, landed_rsp(%rip)\njmp vx_exit_landing\n");
void vh_landing(void);

static uint64_t read_dr7(void)
{
    uint64_t v;
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    return v;
}

static uint16_t read_es(void)
{
    uint16_t s;
    __asm__ volatile("mov %%es, %0" : "=r"(s));
    return s;
}

static struct vx_dtr read_gdtr(void)
{
    struct vx_dtr d;
    __asm__ volatile("sgdt %0" : "=m"(d));
    return d;
}

static uint16_t read_ldtr(void)
{
    uint16_t s = 0xFFFF;
    __asm__ volatile("sldt %0" : "=r"(s));
    return s;
}

/* 1. SDM 27.5: the host-state fields set apart from what the CPU holds,
 * one VM exit, and the CPU afterwards. */
static void host_state(void)
{
    const uint64_t cr0 = read_cr0(), cr4 = read_cr4(), pat = rdmsr(MSR_PAT);
    const uint64_t fs = rdmsr(MSR_FS_BASE), gs = rdmsr(MSR_GS_BASE);
    vx_setup_controls(0, 0, 0, EXIT_LOAD_PAT);
    vx_setup_host(me, 0, 0);
    vx_setup_guest(PA(vh_guest_vmcall), PA(guest_stack + sizeof(guest_stack)) - 8);
    /* The guest's arithmetic flags and IF set: the host gets RFLAGS = 2. */
    vmw(F_GUEST_RFLAGS, 0x2C3);
    vmw(F_GUEST_DR7, 0x401);
    vmw(F_ENTRY_CTLS, vx_ctls(MSR_VMX_TRUE_ENTRY, ENTRY_IA32E | ENTRY_LOAD_DEBUG));
    /* CR0.CD is among the bits an exit keeps (27.5.1): the guest's 0 stays. */
    vmw(F_HOST_CR0, cr0 | CR0_CD);
    vmw(F_HOST_CR4, cr4 ^ CR4_PGE);
    vmw(F_HOST_ES_SEL, 0);
    vmw(F_HOST_FS_BASE, 0x12345000);
    vmw(F_HOST_GS_BASE, 0xFFFF800000678000ull);
    vmw(F_HOST_SYSENTER_CS, 0x10);
    vmw(F_HOST_SYSENTER_ESP, 0xAAAA000);
    vmw(F_HOST_SYSENTER_EIP, 0xFFFF8000BBBB0000ull);
    vmw(F_HOST_PAT, 0x0007040600070406ull ^ 0x0100000000000000ull);
    /* The first entry writes HOST_RSP/HOST_RIP for this call site; the
     * second, from the same site, keeps HOST_RSP and lands at vh_landing. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            vmw(F_HOST_RIP, PA(vh_landing));
        CHECK(vx_enter(me, pass == 0) == 0);
        CHECK(vmr(F_EXIT_REASON) == X_VMCALL);
    }
    CHECK(landed_rflags == 2);
    CHECK(landed_rsp == vmr(F_HOST_RSP));
    CHECK((read_cr0() & CR0_CD) == 0);
    CHECK(read_cr4() == (cr4 ^ CR4_PGE));
    CHECK(read_es() == 0);
    CHECK(rdmsr(MSR_FS_BASE) == 0x12345000);
    CHECK(rdmsr(MSR_GS_BASE) == 0xFFFF800000678000ull);
    struct vx_dtr g = read_gdtr(), i = vx_sidt();
    CHECK(g.base == 0x1000 && g.limit == 0xFFFF);
    CHECK(i.base == vmr(F_HOST_IDTR_BASE) && i.limit == 0xFFFF);
    CHECK(read_ldtr() == 0);
    CHECK(vx_read_sel(2) == vmr(F_HOST_TR_SEL));
    CHECK(rdmsr(MSR_SYSENTER_CS) == 0x10);
    CHECK(rdmsr(MSR_SYSENTER_ESP) == 0xAAAA000);
    CHECK(rdmsr(MSR_SYSENTER_EIP) == 0xFFFF8000BBBB0000ull);
    CHECK((rdmsr(MSR_EFER) & 0x500) == 0x500); /* LMA, LME: a 64-bit host */
    CHECK(rdmsr(MSR_PAT) == (0x0007040600070406ull ^ 0x0100000000000000ull));
    CHECK(read_dr7() == 0x400);
    /* The guest's values were the guest's: stored at the exit. */
    CHECK(vmr(F_GUEST_RFLAGS) == 0x2C3);
    /* Back to the runtime's own state. */
    __asm__ volatile("mov %0, %%es" ::"r"((uint16_t)0x10));
    __asm__ volatile("mov %0, %%cr4" ::"r"(cr4) : "memory");
    wrmsr(MSR_FS_BASE, fs);
    wrmsr(MSR_GS_BASE, gs);
    wrmsr(MSR_PAT, pat);
    vx_setup_host(me, 0, 0);
    vmw(F_EXIT_CTLS, vx_ctls(MSR_VMX_TRUE_EXIT, EXIT_HOST_64));
}

/* The interrupts: who took which vector where. The IDT is shared by the
 * host and its guest (vx_setup_guest), so the handler asks in_guest. */
static volatile unsigned in_guest, root_hits, guest_hits;
static volatile uint64_t last_vector;

static void on_irq(struct guest_frame *f)
{
    last_vector = f->vector;
    if (in_guest)
        guest_hits++;
    else
        root_hits++;
    xapic_eoi();
}

/* 5. The guest's own code: IF on, wait for the interrupt, then VMCALL. */
static void guest_takes_it(void)
{
    in_guest = 1;
    sti();
    while (guest_hits == 0)
        pause();
    cli();
    in_guest = 0;
    for (;;)
        __asm__ volatile("vmcall");
}

static void self_ipi(uint8_t vec) { xapic_send_ipi(xapic_read(APIC_ID) >> 24, vec); }

static void interrupts(void)
{
    for (unsigned v = VEC_ROOT; v <= VEC_GUEST; v++)
        register_handler(v, on_irq);
    /* 2. In VMX root operation: the hypervisor's IDT. */
    sti();
    self_ipi(VEC_ROOT);
    for (int i = 0; i < 100 && root_hits == 0; i++)
        pause();
    cli();
    CHECK(root_hits == 1 && last_vector == VEC_ROOT);

    /* 3. External-interrupt exiting, acknowledge on exit: the pending
     * vector exits at the entry, before any guest instruction. */
    vx_setup_controls(PIN_EXT_INTR, 0, 0, EXIT_ACK_INTR);
    vmw(F_GUEST_RIP, PA(vh_guest_vmcall));
    self_ipi(VEC_ACK);
    CHECK(xapic_test_vector(APIC_IRR, VEC_ACK));
    CHECK(vx_enter(me, 0) == 0);
    CHECK(vmr(F_EXIT_REASON) == X_EXTINT);
    CHECK(vmr(F_EXIT_INTR_INFO) == (0x80000000u | VEC_ACK)); /* valid, external, vector */
    CHECK(vmr(F_GUEST_RIP) == PA(vh_guest_vmcall));
    CHECK(xapic_test_vector(APIC_ISR, VEC_ACK) && !xapic_test_vector(APIC_IRR, VEC_ACK));
    xapic_eoi();
    CHECK(!xapic_test_vector(APIC_ISR, VEC_ACK));
    CHECK(root_hits == 1 && guest_hits == 0);

    /* 4. Without acknowledge: the exit says nothing of the vector, which
     * waits in IRR until the host takes it through its IDT. */
    vmw(F_EXIT_CTLS, vx_ctls(MSR_VMX_TRUE_EXIT, EXIT_HOST_64));
    self_ipi(VEC_NOACK);
    CHECK(vx_enter(me, 0) == 0);
    CHECK(vmr(F_EXIT_REASON) == X_EXTINT);
    CHECK((vmr(F_EXIT_INTR_INFO) & 0x80000000u) == 0);
    CHECK(xapic_test_vector(APIC_IRR, VEC_NOACK) && !xapic_test_vector(APIC_ISR, VEC_NOACK));
    CHECK(root_hits == 1);
    sti();
    for (int i = 0; i < 100 && root_hits == 1; i++)
        pause();
    cli();
    CHECK(root_hits == 2 && last_vector == VEC_NOACK && guest_hits == 0);

    /* 5. No external-interrupt exiting: the guest's IDT, no exit. */
    vmw(F_PIN, vx_ctls(MSR_VMX_TRUE_PINBASED, 0));
    vmw(F_GUEST_RIP, PA(guest_takes_it));
    vmw(F_GUEST_RFLAGS, 2); /* IF = 0 until the guest's STI */
    vmw(F_GUEST_RSP, PA(guest_stack + sizeof(guest_stack)) - 8);
    self_ipi(VEC_GUEST);
    CHECK(vx_enter(me, 0) == 0);
    CHECK(vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(guest_hits == 1 && last_vector == VEC_GUEST && root_hits == 2);
}

/* 6. VMFUNC with EAX = 0 (EPTP switching), in the guest: the result goes
 * to the host through guest_vmfunc_result, then VMCALL. */
static volatile int guest_vmfunc_result = -1;

static int vmfunc0(void) { return VX_INSN("vmfunc", : "a"(0) : VX_CLOBBERS); }

static void guest_vmfunc(void)
{
    guest_vmfunc_result = vmfunc0();
    for (;;)
        __asm__ volatile("vmcall");
}

static void vmfunc(void)
{
    CHECK(vmfunc0() == VX_UD);
    vmw(F_GUEST_RIP, PA(guest_vmfunc));
    vmw(F_GUEST_RSP, PA(guest_stack + sizeof(guest_stack)) - 8);
    vmw(F_GUEST_RFLAGS, 2);
    CHECK(vx_enter(me, 0) == 0);
    CHECK(vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(guest_vmfunc_result == VX_UD);
}

/* 7. Posted interrupts (SDM 29.6) with the virtual-APIC page, virtual-
 * interrupt delivery and virtualized x2APIC MSRs (the guest's EOI). */
#define F_POSTED_NV 0x0002u
#define F_POSTED_DESC 0x2016u
#define PI_NV 0xF2  /* notification vector */
#define PI_VEC 0x66 /* the vector posted */
static uint8_t vapic[4096] __attribute__((aligned(4096)));
static uint8_t msr_bitmap[4096] __attribute__((aligned(4096))); /* all zero: no MSR exits */
static volatile uint64_t pid[8] __attribute__((aligned(64)));   /* PIR 255:0, ON = bit 256 */
static volatile unsigned posted_hits;

static void on_posted(struct guest_frame *f)
{
    (void)f;
    posted_hits++;
    wrmsr(0x80B, 0); /* EOI virtualization */
}

static void guest_posted(void)
{
    sti();
    while (posted_hits == 0)
        pause();
    cli();
    for (;;)
        __asm__ volatile("vmcall");
}

static void posted_from_root(void)
{
    register_handler(PI_VEC, on_posted);
    vx_setup_controls(PIN_EXT_INTR | PIN_POSTED, PROC_TPR_SHADOW | PROC_MSR_BITMAPS,
                      PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT | PROC2_VID, EXIT_ACK_INTR);
    vmw(F_POSTED_NV, PI_NV);
    vmw(F_POSTED_DESC, PA(pid));
    vmw(F_MSR_BITMAP, PA(msr_bitmap));
    vmw(F_VIRTUAL_APIC, PA(vapic));
    vmw(F_TPR_THRESHOLD, 0);
    vmw(F_EOI_EXIT0, 0);
    vmw(F_EOI_EXIT1, 0);
    vmw(F_EOI_EXIT2, 0);
    vmw(F_EOI_EXIT3, 0);
    vmw(F_GUEST_INTR_STATUS, 0);
    vmw(F_GUEST_RIP, PA(guest_posted));
    vmw(F_GUEST_RSP, PA(guest_stack + sizeof(guest_stack)) - 8);
    vmw(F_GUEST_RFLAGS, 2);
    /* Posted while this CPU is in root with IF = 0, as another CPU would. */
    __atomic_fetch_or(&pid[PI_VEC / 64], 1ull << (PI_VEC % 64), __ATOMIC_SEQ_CST);
    __atomic_fetch_or(&pid[4], 1ull, __ATOMIC_SEQ_CST);
    self_ipi(PI_NV);
    CHECK(xapic_test_vector(APIC_IRR, PI_NV));
    CHECK(vx_enter(me, 0) == 0);
    CHECK(vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(posted_hits == 1);
    CHECK(!xapic_test_vector(APIC_IRR, PI_NV) && !xapic_test_vector(APIC_ISR, PI_NV));
    CHECK((pid[4] & 1) == 0 && pid[PI_VEC / 64] == 0);
    CHECK((vmr(F_GUEST_INTR_STATUS) & 0xFFFF) == 0); /* RVI, SVI back to 0 after the EOI */
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    xapic_enable(0xFF);
    vmcs[0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    CHECK(vx_enable(vmxon_region) == VX_OK);
    CHECK(vmclear(PA(vmcs)) == VX_OK && vmptrld(PA(vmcs)) == VX_OK);
    vx_catch_faults();
    host_state();
    interrupts();
    vmfunc();
    posted_from_root();
    CHECK(vmclear(PA(vmcs)) == VX_OK && vmxoff() == VX_OK);
    printf("vmx_host: OK %u checks\n", checks);
    return 0;
}
