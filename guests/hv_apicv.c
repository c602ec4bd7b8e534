/*
 * hv_apicv.c — APIC virtualization seen from a guest of the built-in
 * hypervisor (spec sections 4-9 as far as hypercalls reach them), one vCPU.
 * The guest finds its mode from its own VMCS (VMCS_READ of the controls)
 * and runs the checks that apply; each asserts exact exits (reason,
 * qualification, count through LAST_EXIT / EXIT_COUNT) and the
 * virtual-APIC state afterwards (VAPIC_READ, guest interrupt status).
 * Prints "CHECKS <mode> <n>" and ends with 0; a failed check prints
 * FAIL with its line and ends with GUEST_FAIL.
 */
#include "guest.h"

/* VMCS field encodings (SDM Vol. 3D appendix B). */
#define F_GUEST_INTR_STATUS 0x0810u
#define F_PIN 0x4000u
#define F_PROC 0x4002u
#define F_EXIT_REASON 0x4402u
#define F_TPR_THRESHOLD 0x401Cu
#define F_PROC2 0x401Eu
#define F_GUEST_RIP 0x681Eu
#define F_GUEST_RFLAGS 0x6820u
#define PIN_POSTED (1u << 7)
#define PROC_INTR_WINDOW (1u << 2)
#define PROC_TPR_SHADOW (1u << 21)
#define PROC2_VIRT_APIC_ACCESS (1u << 0)
#define PROC2_VIRT_X2APIC (1u << 4)
#define PROC2_VID (1u << 9)

/* Basic exit reasons. */
enum { X_EXTINT = 1, X_WINDOW = 7, X_CPUID = 10, X_VMCALL = 18, X_IO = 30, X_TPR = 43,
       X_ACCESS = 44, X_WRITE = 56 };

static volatile uint32_t hits[256];
static volatile uint32_t in_x2apic;
static unsigned checks;

static void on_irq(struct guest_frame *f)
{
    hits[f->vector & 0xFF]++;
    if (in_x2apic)
        x2apic_eoi();
    else
        xapic_eoi();
}

static uint64_t vmcs(uint32_t field)
{
    uint64_t v = 0;
    GUEST_CHECK(hc_vmcs_read(field, &v) == 0);
    return v;
}

static uint64_t exits(uint32_t reason)
{
    uint64_t n = 0;
    GUEST_CHECK(hc_exit_count(reason, 0, &n) == 0);
    return n;
}

static uint32_t vapic(uint32_t off)
{
    uint32_t v = 0;
    GUEST_CHECK(hc_vapic_read(off, &v) == 0);
    return v;
}

static void last_exit_is(uint64_t reason, uint64_t qual)
{
    uint64_t r = 0, q = 0;
    GUEST_CHECK(hc_last_exit(0, &r, &q) == 0);
    if (r != reason || q != qual)
        printf("last exit %lu qual %#lx, expected %lu qual %#lx\n", (unsigned long)r,
               (unsigned long)q, (unsigned long)reason, (unsigned long)qual);
    GUEST_CHECK(r == reason && q == qual);
    checks++;
}

static void spin_cycles(uint64_t n)
{
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < n)
        pause();
}

static int vector_in(uint32_t base, uint8_t v)
{
    return (int)((vapic(base + 0x10u * (v >> 5)) >> (v & 31)) & 1);
}

/* The guest ABI itself: versions, errors, instruction exits. */
static void abi_checks(void)
{
    uint64_t v = 0;
    GUEST_CHECK(hc_abi_version(&v) == 0 && v == 1);
    GUEST_CHECK(hc_call(0x77, 0, 0, 0, 0, 0, 0) == HC_ENOSYS);
    GUEST_CHECK(hc_vapic_read(0x82, 0) == HC_EINVAL);
    GUEST_CHECK(hc_exit_count(HC_ALL_EXITS, 9, &v) == HC_EINVAL);
    /* An MSI's vector is 8 bits (0-15 are raised and refused by the
     * destination's APIC, see apic_illegal.c). */
    GUEST_CHECK(hc_call(HC_SEND_MSI, 0x100, 0, 0, 0, 0, 0) == HC_EINVAL);
    checks += 5;
    uint32_t out[4];
    cpuid(0, 0, out);
    last_exit_is(X_CPUID, 0);
    (void)inb(0x1234);
    /* IN of a byte through DX: size-1 = 0, direction IN (bit 3), port in 31:16. */
    last_exit_is(X_IO, 0x12340008u);
    uint64_t c0 = 0, c1 = 0;
    GUEST_CHECK(hc_cycles(&c0) == 0 && hc_cycles(&c1) == 0 && c1 > c0);
    checks++;
}

/* VMCS_WRITE (guest ABI): failed entries restore the old value and return
 * -22 with the error; the write is applied after the VMCALL is skipped. */
static void vmcs_write_checks(void)
{
    uint64_t err = 0;
    uint64_t proc2 = vmcs(F_PROC2);
    /* Section 8: virtualize x2APIC mode needs virtualize APIC accesses = 0
     * (and TPR shadow = 1): VM-instruction error 7. */
    GUEST_CHECK(hc_vmcs_write(F_PROC2, proc2 | PROC2_VIRT_X2APIC, &err) == HC_EINVAL);
    GUEST_CHECK(err == 7);
    GUEST_CHECK(vmcs(F_PROC2) == proc2);
    /* A read-only field: VMWRITE error 13. */
    GUEST_CHECK(hc_vmcs_write(F_EXIT_REASON, 0, &err) == HC_EINVAL && err == 13);
    /* RFLAGS bit 1 must be 1: a guest-state failure (exit 33, entry-failure
     * bit 31) undone the same way. */
    uint64_t e33 = exits(33);
    GUEST_CHECK(hc_vmcs_write(F_GUEST_RFLAGS, 0, &err) == HC_EINVAL);
    GUEST_CHECK(err == 0x80000021u);
    GUEST_CHECK(exits(33) == e33 + 1);
    checks += 7;

    /* GUEST_RIP written in the hypercall wins over the skip of VMCALL:
     * execution resumes past the UD2. */
    uint64_t rax = HC_VMCS_WRITE;
    __asm__ volatile("lea 1f(%%rip), %%rcx\n\t"
                     "vmcall\n\t"
                     "ud2\n"
                     "1:"
                     : "+a"(rax)
                     : "b"((uint64_t)F_GUEST_RIP)
                     : "rcx", "rdx", "rsi", "memory");
    GUEST_CHECK(rax == 0);
    checks++;

    /* Section 9: event injection through the VM-entry interruption
     * information (valid, external interrupt, vector 49H), written by the
     * guest for its own resuming entry: delivered through the IDT. */
    sti();
    GUEST_CHECK(hc_vmcs_write(0x4016u, 0x80000049u, 0) == 0);
    cli();
    GUEST_CHECK(hits[0x49] == 1);
    /* With RFLAGS.IF = 0 an injected external interrupt fails the
     * guest-state checks: undone, -22, the exit reason 33|bit 31. */
    GUEST_CHECK(hc_vmcs_write(0x4016u, 0x80000049u, &err) == HC_EINVAL && err == 0x80000021u);
    GUEST_CHECK(hits[0x49] == 1 && exits(33) == e33 + 2);
    checks += 3;

    /* Interrupt-window exiting set by the guest: exit 7 at the first
     * boundary with IF = 1; the hypervisor clears the control. */
    uint64_t w0 = exits(X_WINDOW);
    sti();
    GUEST_CHECK(hc_vmcs_write(F_PROC, vmcs(F_PROC) | PROC_INTR_WINDOW, 0) == 0);
    __asm__ volatile("nop; nop");
    cli();
    GUEST_CHECK(exits(X_WINDOW) == w0 + 1);
    GUEST_CHECK(!(vmcs(F_PROC) & PROC_INTR_WINDOW));
    checks += 2;
}

/* Section 6: the APIC-access page with APIC-register virtualization and
 * virtual-interrupt delivery (apicv, posted; xAPIC mode). */
static void access_page_checks(void)
{
    uint64_t a0 = exits(X_ACCESS), w0 = exits(X_WRITE);
    /* PPR (0A0H) and the timer's current count (390H) are not virtualized. */
    (void)xapic_read(APIC_PPR);
    last_exit_is(X_ACCESS, 0x0A0);
    (void)xapic_read(APIC_TIMER_CCR);
    last_exit_is(X_ACCESS, 0x390);
    /* A write to a read-only register exits with access type 1 (write). */
    xapic_write(APIC_TIMER_CCR, 1);
    last_exit_is(X_ACCESS, 0x1390);
    GUEST_CHECK(exits(X_ACCESS) == a0 + 3);
    /* Virtualized reads: no exit. */
    GUEST_CHECK(xapic_read(APIC_VERSION) == vapic(APIC_VERSION));
    GUEST_CHECK(xapic_read(APIC_ID) == 0);
    GUEST_CHECK(exits(X_ACCESS) == a0 + 3);
    /* SVR: virtualized write, then APIC-write exit 56 with the offset. */
    xapic_write(APIC_SVR, 0x1FF);
    last_exit_is(X_WRITE, 0x0F0);
    GUEST_CHECK(vapic(APIC_SVR) == 0x1FF);
    /* TPR: virtualized, TPR virtualization, no exit; VPPR follows. */
    xapic_write(APIC_TPR, 0x20);
    GUEST_CHECK(vapic(APIC_TPR) == 0x20 && vapic(APIC_PPR) == 0x20);
    xapic_write(APIC_TPR, 0);
    GUEST_CHECK(exits(X_WRITE) == w0 + 1);
    /* ICR high: APIC-write emulation of any offset 310H-313H clears bytes
     * 2:0 and nothing else happens — no exit, whichever byte is written. */
    xapic_write(APIC_ICR_HI, 0xAABBCCDDu);
    GUEST_CHECK(vapic(APIC_ICR_HI) == 0xAA000000u);
    *(volatile uint8_t *)(uintptr_t)(XAPIC_BASE + APIC_ICR_HI + 3) = 0x12;
    *(volatile uint8_t *)(uintptr_t)(XAPIC_BASE + APIC_ICR_HI + 1) = 0x77;
    GUEST_CHECK(xapic_read(APIC_ICR_HI) == 0x12000000u);
    GUEST_CHECK(exits(X_WRITE) == w0 + 1);
    /* A 1-byte write to 081H: APIC-write exit with qualification 081H;
     * the hypervisor completes it as an 8-bit TPR (bits 31:8 read 0). */
    *(volatile uint8_t *)(uintptr_t)(XAPIC_BASE + 0x81) = 5;
    last_exit_is(X_WRITE, 0x081);
    GUEST_CHECK(xapic_read(APIC_TPR) == 0 && vapic(APIC_TPR) == 0);
    checks += 10;
}

/* Sections 4: self-IPI through the ICR with TPR masking, then TPR
 * virtualization delivering it (apicv, posted). */
static void self_ipi_tpr_checks(void)
{
    uint64_t a0 = exits(X_ACCESS), w0 = exits(X_WRITE);
    xapic_write(APIC_TPR, 0x50);
    sti();
    /* Fixed, edge, self shorthand: self-IPI virtualization (no exit). */
    xapic_write(APIC_ICR_LO, APIC_ICR_SELF | 0x45);
    spin_cycles(200);
    GUEST_CHECK(hits[0x45] == 0);
    GUEST_CHECK(vector_in(APIC_IRR, 0x45));
    GUEST_CHECK((vmcs(F_GUEST_INTR_STATUS) & 0xFF) == 0x45); /* RVI */
    /* TPR 0: evaluation recognises 45H, delivered, EOI virtualized. */
    xapic_write(APIC_TPR, 0);
    spin_cycles(200);
    cli();
    GUEST_CHECK(hits[0x45] == 1);
    GUEST_CHECK(!vector_in(APIC_IRR, 0x45) && !vector_in(APIC_ISR, 0x45));
    GUEST_CHECK(vmcs(F_GUEST_INTR_STATUS) == 0); /* RVI = SVI = 0 */
    GUEST_CHECK(vapic(APIC_PPR) == 0);
    GUEST_CHECK(exits(X_ACCESS) == a0 && exits(X_WRITE) == w0);
    checks += 7;

    /* VM entry evaluates RVI (guest interrupt status): a VIRR bit alone
     * is not recognised; RVI written for the entry is, and delivered. */
    sti();
    GUEST_CHECK(hc_vapic_write(APIC_IRR + 0x20, 1u << (0x4A - 64)) == 0);
    GUEST_CHECK(hits[0x4A] == 0);
    GUEST_CHECK(hc_vmcs_write(F_GUEST_INTR_STATUS, 0x4A, 0) == 0);
    cli();
    GUEST_CHECK(hits[0x4A] == 1);
    GUEST_CHECK(vmcs(F_GUEST_INTR_STATUS) == 0);
    /* EOI-exit bitmap bit of 4BH: the virtualized EOI traps (exit 45,
     * qualification = the vector), after VISR and SVI were updated. */
    GUEST_CHECK(hc_vmcs_write(0x201Eu, 1ull << (0x4B - 64), 0) == 0); /* EOI_EXIT_BITMAP1 */
    sti();
    xapic_write(APIC_ICR_LO, APIC_ICR_SELF | 0x4B);
    last_exit_is(45, 0x4B);
    cli();
    GUEST_CHECK(hits[0x4B] == 1 && !vector_in(APIC_ISR, 0x4B));
    GUEST_CHECK(hc_vmcs_write(0x201Eu, 0, 0) == 0);
    checks += 5;

    /* A device interrupt for ourselves, delivered by the mode's path. */
    sti();
    GUEST_CHECK(hc_send_msi(0x46, 0, 300) == 0);
    spin_cycles(2000);
    cli();
    GUEST_CHECK(hits[0x46] == 1);
    checks++;
}

/* Section 4, TPR shadow without VID: the threshold follows the highest
 * masked pending interrupt, and lowering VTPR below it exits (43). */
static void tpr_threshold_checks(void)
{
    uint64_t t0 = exits(X_TPR);
    xapic_write(APIC_TPR, 0x50); /* virtualized: TPR shadow */
    GUEST_CHECK(vapic(APIC_TPR) == 0x50);
    sti();
    GUEST_CHECK(hc_send_msi(0x45, 0, 0) == 0);
    GUEST_CHECK(hits[0x45] == 0);
    GUEST_CHECK(vmcs(F_TPR_THRESHOLD) == 4);
    xapic_write(APIC_TPR, 0x30);
    last_exit_is(X_ACCESS, 0x10B0); /* the handler's EOI, after the exit 43 */
    GUEST_CHECK(exits(X_TPR) == t0 + 1);
    GUEST_CHECK(hits[0x45] == 1);
    GUEST_CHECK(vmcs(F_TPR_THRESHOLD) == 0);
    xapic_write(APIC_TPR, 0);
    cli();
    GUEST_CHECK(exits(X_TPR) == t0 + 1);
    checks += 7;
}

/* Section 5: the posted-interrupt descriptor and notifications. */
static void posted_checks(void)
{
    uint64_t q4 = 0;
    GUEST_CHECK(hc_pid_read(4, &q4) == 0);
    GUEST_CHECK(PID_NV(q4) == 0xF2 && PID_NDST(q4) == 0 && !(q4 & (PID_ON | PID_SN)));
    uint64_t e1 = exits(X_EXTINT);
    sti();
    /* The notification vector with nothing posted: processed, no exit. */
    GUEST_CHECK(hc_raise_host_irq(0xF2, 0, 100) == 0);
    spin_cycles(1000);
    GUEST_CHECK(exits(X_EXTINT) == e1);
    /* Any other host vector: exit 1. */
    GUEST_CHECK(hc_raise_host_irq(0x30, 0, 100) == 0);
    spin_cycles(1000);
    last_exit_is(X_EXTINT, 0);
    GUEST_CHECK(exits(X_EXTINT) == e1 + 1);
    /* A PIR bit the guest posts itself reaches VIRR before the next entry. */
    GUEST_CHECK(hc_pid_write(1, 1ull << (0x47 - 64)) == 0);
    spin_cycles(500);
    cli();
    GUEST_CHECK(hits[0x47] == 1);
    uint64_t q1 = 1;
    GUEST_CHECK(hc_pid_read(1, &q1) == 0 && q1 == 0);
    GUEST_CHECK(hc_pid_read(8, &q1) == HC_EINVAL);
    checks += 8;
}

/* Section 7 and the x2APIC switch (guest ABI): apicv/posted switch to
 * virtualize x2APIC mode, pass RDMSR 800H-8FFH and WRMSR 808H/80BH/83FH,
 * and intercept the rest; emulated/tpr-shadow intercept every x2APIC MSR.
 * In every mode virtualize APIC accesses goes off: an x2APIC does not
 * decode its xAPIC page (SDM 11.12.1.2). */
static void x2apic_checks(int vid)
{
    enum { X_RDMSR = 31, X_WRMSR = 32 };
    uint64_t proc2 = vmcs(F_PROC2);
    x2apic_enable();
    in_x2apic = 1;
    GUEST_CHECK(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC);
    uint64_t p2 = vmcs(F_PROC2);
    if (vid) {
        GUEST_CHECK((p2 & PROC2_VIRT_X2APIC) && !(p2 & PROC2_VIRT_APIC_ACCESS));
    } else {
        GUEST_CHECK(p2 == (proc2 & ~(uint64_t)PROC2_VIRT_APIC_ACCESS));
    }
    uint64_t r0 = exits(X_RDMSR), w0 = exits(X_WRMSR);
    GUEST_CHECK(x2apic_read(APIC_ID) == 0);
    GUEST_CHECK((x2apic_read(APIC_VERSION) & 0xFF) == 0x14);
    if (vid) {
        /* Reads are virtualized: no exit. */
        GUEST_CHECK(exits(X_RDMSR) == r0);
        /* SVR is not among the writes that pass: exit 32. */
        x2apic_write(APIC_SVR, 0x1FF);
        last_exit_is(X_WRMSR, 0);
        GUEST_CHECK(vapic(APIC_SVR) == 0x1FF);
        w0++;
        /* TPR, SELF IPI and EOI pass and are virtualized. */
        x2apic_write(APIC_TPR, 0x30);
        GUEST_CHECK(vapic(APIC_TPR) == 0x30);
        x2apic_write(APIC_TPR, 0);
        sti();
        x2apic_self_ipi(0x48);
        spin_cycles(200);
        cli();
        GUEST_CHECK(hits[0x48] == 1);
        GUEST_CHECK(exits(X_WRMSR) == w0 && exits(X_RDMSR) == r0);
        GUEST_CHECK(vmcs(F_GUEST_INTR_STATUS) == 0);
        checks += 6;
    } else {
        GUEST_CHECK(exits(X_RDMSR) == r0 + 2);
        (void)x2apic_read(APIC_TPR);
        last_exit_is(X_RDMSR, 0);
        sti();
        x2apic_self_ipi(0x48);
        spin_cycles(200);
        cli();
        GUEST_CHECK(hits[0x48] == 1);
        /* The self IPI and the handler's EOI were both WRMSR exits. */
        GUEST_CHECK(exits(X_WRMSR) == w0 + 2);
        checks += 3;
    }
    checks += 4;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    for (unsigned v = 0x40; v < 0x50; v++)
        register_handler(v, on_irq);
    uint64_t pin = vmcs(F_PIN), proc = vmcs(F_PROC), proc2 = vmcs(F_PROC2);
    const char *mode = (pin & PIN_POSTED)          ? "posted"
                       : (proc2 & PROC2_VID)       ? "apicv"
                       : (proc & PROC_TPR_SHADOW) ? "tpr-shadow"
                                                   : "emulated";
    GUEST_CHECK(proc2 & PROC2_VIRT_APIC_ACCESS);
    xapic_enable(0xFF);
    abi_checks();
    vmcs_write_checks();
    if (proc2 & PROC2_VID) {
        access_page_checks();
        self_ipi_tpr_checks();
    } else if (proc & PROC_TPR_SHADOW) {
        tpr_threshold_checks();
    }
    if (pin & PIN_POSTED)
        posted_checks();
    x2apic_checks((proc2 & PROC2_VID) != 0);
    printf("CHECKS %s %u\n", mode, checks);
    return 0;
}
