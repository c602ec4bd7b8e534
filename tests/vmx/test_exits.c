/*
 * test_exits.c — guest code run in VMX non-root operation up to its VM exit
 * (SDM Vol. 3C 25, 26 and 27): exits by reason, entry checks met on the
 * way, exit information, NMIs, MTF, EPT violations and posted interrupts.
 * The exit decisions taken without running code, the capability MSRs and
 * the EPT walk are in test_exit_decisions.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "tests/support/vmx_guest_fixture.h"
#include "vmx/vmx.h"
#include "vmx/vmx_apicv.h"

/* Sets bit `bit` of a VMX bitmap (I/O bitmap A/B, MSR bitmap: SDM 24.6.4, 24.6.9). */
static void set_bit(uint8_t *bm, unsigned bit)
{
    bm[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

/* ---- guest code in non-root operation ------------------------------------ */

static unsigned n_entry, n_exit;
static uint64_t exit_reason_ev, exit_rip_ev;
static void count_events(void *ctx, const cpu_obs_event *ev)
{
    (void)ctx;
    if (ev->kind == VMX_EV_VMENTRY)
        n_entry++;
    if (ev->kind == VMX_EV_VMEXIT) {
        n_exit++;
        exit_reason_ev = ev->a;
        exit_rip_ev = ev->c;
    }
}

/* A 32-bit PAE guest (IA-32e mode off): flat 32-bit code and data at GDT
 * selectors 28H/30H, CR4.PAE with the PDPT at 210000H, paging on. */
static void pae_guest_state(cpu_t *c)
{
    cpu_enter_flat32(c, CPU_HARNESS_CODE);
    c->seg[CPU_CS].sel = 0x28;
    for (unsigned s = 0; s < CPU_NSEG; s++)
        if (s != CPU_CS)
            c->seg[s].sel = 0x30;
    c->gdtr.limit = 0x37;
    c->efer = 0;
    c->cr4 = CPU_CR4_PAE;
    c->cr3 = 0x210000;
    c->cr0 |= CPU_CR0_PG;
    cpu_update_mode(c);
}

/* A guest in 32-bit protected mode with PAE paging, without EPT: VM entry
 * loads its PDPTEs from the table at guest CR3 (SDM 26.3.2.4), whatever the
 * CPU's PDPTE registers held before, so its load through a 2-MByte page
 * works and the CPUID after it exits. Runs once the VM-entry controls allow
 * "IA-32e mode guest" = 0 (guests outside IA-32e mode). */
START_TEST(test_run_pae_guest_pdptes)
{
    cpu_t *c = &h.cpu;
    uint64_t cap = 0;
    vmx_capability_msr(VMX_MSR_TRUE_ENTRY_CTLS, &cap);
    if (cap & VMX_ENTRY_IA32E) {
        fprintf(stderr, "test_run_pae_guest_pdptes: skipped: IA32_VMX_TRUE_ENTRY_CTLS requires "
                        "\"IA-32e mode guest\" = 1 (no guests outside IA-32e mode yet)\n");
        return;
    }
    static const uint64_t w[][2] = {
        {0x528, 0x00CF9A000000FFFFull}, {0x530, 0x00CF92000000FFFFull}, /* 32-bit code, data */
        {0x210000, 0x211000 | 1},                                       /* PDPTE 0 */
        {0x211000, 0x87}, {0x211008, 0x200000 | 0x87},                  /* 0..4 MiB identity */
        {0x211020, 0x400000 | 0x87},                                    /* VA 8 MiB -> 4 MiB */
        {0x400010, 0x5A5A},
    };
    for (unsigned k = 0; k < sizeof w / sizeof w[0]; k++)
        ck_assert(cpu_phys_write(&h.phys, w[k][0], &w[k][1], 8));
    pae_guest_state(c);
    static const uint8_t code[] = {0x8B, 0x1D, 0x10, 0x00, 0x80, 0x00, /* mov ebx, [0x800010] */
                                   0x0F, 0xA2,                         /* cpuid */
                                   0xF4};
    load_guest(code, sizeof code);
    ck_assert(!(GET(ENTRY_CONTROLS) & VMX_ENTRY_IA32E));
    memset(c->pdpte, 0, sizeof c->pdpte);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 6);
    ck_assert_uint_eq((uint32_t)c->gpr[CPU_RBX], 0x5A5A);
}
END_TEST

/* With EPT a PAE guest's PDPTEs live in the guest PDPTE fields between
 * exits and entries: the guest switches to a second PDPT with MOV CR3 (no
 * exit), CPUID exits and saves the new PDPTEs (SDM 27.3.4), and the next
 * entry loads them back (26.3.2.4): the same VA then reads the second
 * table's page. */
START_TEST(test_run_pae_guest_pdptes_ept)
{
    cpu_t *c = &h.cpu;
    uint64_t cap = 0;
    vmx_capability_msr(VMX_MSR_TRUE_ENTRY_CTLS, &cap);
    if (cap & VMX_ENTRY_IA32E) {
        fprintf(stderr, "test_run_pae_guest_pdptes_ept: skipped: IA32_VMX_TRUE_ENTRY_CTLS requires "
                        "\"IA-32e mode guest\" = 1 (no guests outside IA-32e mode yet)\n");
        return;
    }
    static const uint64_t w[][2] = {
        {0x528, 0x00CF9A000000FFFFull}, {0x530, 0x00CF92000000FFFFull},
        {0x210000, 0x211000 | 1}, {0x211000, 0x87}, {0x211008, 0x200000 | 0x87},
        {0x211020, 0x400000 | 0x87}, /* PDPT A: VA 8 MiB -> 4 MiB */
        {0x220000, 0x221000 | 1}, {0x221000, 0x87}, {0x221008, 0x200000 | 0x87},
        {0x221020, 0x600000 | 0x87}, /* PDPT B: VA 8 MiB -> 6 MiB */
        {0x400010, 0x5A5A}, {0x600010, 0x6B6B},
    };
    for (unsigned k = 0; k < sizeof w / sizeof w[0]; k++)
        ck_assert(cpu_phys_write(&h.phys, w[k][0], &w[k][1], 8));
    pae_guest_state(c);
    static const uint8_t code[] = {0x8B, 0x1D, 0x10, 0x00, 0x80, 0x00, /* mov ebx, [0x800010] */
                                   0xB8, 0x00, 0x00, 0x22, 0x00,       /* mov eax, PDPT B */
                                   0x0F, 0x22, 0xD8,                   /* mov cr3, eax */
                                   0x0F, 0xA2,                         /* cpuid */
                                   0x8B, 0x0D, 0x10, 0x00, 0x80, 0x00, /* mov ecx, [0x800010] */
                                   0xF4};
    load_guest(code, sizeof code);
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pdpt = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pd = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t e = pdpt | 7;
    ck_assert(cpu_phys_write(&h.phys, pml4, &e, 8));
    e = pd | 7;
    ck_assert(cpu_phys_write(&h.phys, pdpt, &e, 8));
    for (uint64_t k = 0; k < 8; k++) {
        e = (k << 21) | (6 << 3) | 0x80 | 7;
        ck_assert(cpu_phys_write(&h.phys, pd + k * 8, &e, 8));
    }
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY | VMX_PROC_HLT);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, pml4 | (3 << 3) | 6);
    SET(GUEST_PDPTE0, 0x211000 | 1);
    memset(c->pdpte, 0, sizeof c->pdpte);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq((uint32_t)c->gpr[CPU_RBX], 0x5A5A);
    ck_assert_uint_eq(GET(GUEST_CR3), 0x220000);
    ck_assert_uint_eq(GET(GUEST_PDPTE0), 0x221000 | 1);
    SET(GUEST_RIP, GET(GUEST_RIP) + 2);
    memset(c->pdpte, 0, sizeof c->pdpte);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq((uint32_t)c->gpr[CPU_RCX], 0x6B6B);
}
END_TEST

/* SDM 26.3.1.6: a PAE guest's present PDPTE with a reserved bit (here bit
 * 52, above MAXPHYADDR) fails the entry with exit 33, qualification 2 —
 * read from the table at guest CR3 without EPT, from the guest PDPTE
 * fields with EPT; a non-present one with the same bit is fine. */
START_TEST(test_entry_pdpte_reserved_bits)
{
    cpu_t *c = &h.cpu;
    static const uint64_t w[][2] = {
        {0x528, 0x00CF9A000000FFFFull}, {0x530, 0x00CF92000000FFFFull},
        {0x210000, 0x211000 | 1 | (1ull << 52)}, /* PDPTE 0: reserved bit 52 */
        {0x211000, 0x87},
    };
    for (unsigned k = 0; k < sizeof w / sizeof w[0]; k++)
        ck_assert(cpu_phys_write(&h.phys, w[k][0], &w[k][1], 8));
    pae_guest_state(c);
    static const uint8_t code[] = {0x0F, 0xA2};
    load_guest(code, sizeof code);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.exited);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_ENTRY_FAIL_GUEST | VMX_EXIT_REASON_ENTRY_FAIL);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2);
    ck_assert_int_eq(v.last_check, VMX_CHECK_GUEST_PDPTE);
    /* With EPT the fields count, not memory. */
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    SET(EPT_POINTER, pml4 | (3 << 3) | 6);
    SET(GUEST_PDPTE0, 0x211000 | 1);
    SET(GUEST_PDPTE1, 0x212000 | 1 | (1ull << 52));
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    ck_assert(v.exited);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2);
    SET(GUEST_PDPTE1, (1ull << 52)); /* not present: the bit is ignored */
    ck_assert_int_eq(vmx_entry_check(&v), VMX_CHECK_NONE);
}
END_TEST

START_TEST(test_run_cpuid_exit)
{
    n_entry = n_exit = 0;
    ck_assert(cpu_obs_subscribe(&h.obs, count_events, NULL));
    static const uint8_t code[] = {0x48, 0xC7, 0xC0, 0x07, 0, 0, 0, /* mov rax, 7 */
                                   0x0F, 0xA2,                      /* cpuid */
                                   0xF4};
    load_guest(code, sizeof code);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 2);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7); /* fault-like: at the CPUID */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 7);
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_CPUID], 1);
    ck_assert_uint_eq(n_entry, 1);
    ck_assert_uint_eq(n_exit, 1);
    ck_assert_uint_eq(exit_reason_ev, VMX_EXIT_CPUID);
    ck_assert_uint_eq(exit_rip_ev, CPU_HARNESS_CODE + 7);
    /* The root hooks are back. */
    ck_assert_ptr_null(h.cpu.hooks.intercept);
    /* The saved guest state enters again: resume at the same CPUID. */
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 7);
}
END_TEST

/* SDM 26.3.2.1: the reserved bits 15:6, 17, 28:19 of the CR0 field (allowed
 * by IA32_VMX_CR0_FIXED1) and ET are ignored by VM entry; the guest reads
 * its CR0 without them, and the exit saves that. */
START_TEST(test_entry_cr0_reserved_bits_ignored)
{
    static const uint8_t code[] = {0x0F, 0x20, 0xC3, /* mov rbx, cr0 */
                                   0x0F, 0xA2};      /* cpuid */
    load_guest(code, sizeof code);
    uint64_t cr0 = GET(GUEST_CR0);
    SET(GUEST_CR0, (cr0 | (1u << 6) | (1u << 17) | (1u << 20)) & ~(uint64_t)CPU_CR0_ET);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX], cr0);
    ck_assert_uint_eq(GET(GUEST_CR0), cr0);
}
END_TEST

START_TEST(test_run_io_exit)
{
    static const uint8_t code[] = {0xB0, 0x41,       /* mov al, 41h */
                                   0xE6, 0x80,       /* out 80h, al */
                                   0xF4};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_UNCOND_IO);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_IO);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), (0x80u << 16) | 0x40); /* OUT imm8, 1 byte */
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 2);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 2);
}
END_TEST

/* A root I/O hook that asks the run to stop now, as the machine does when
 * an event (an I/O APIC message raised by this OUT) is due for the CPU. */
static bool io_lowers_limit(void *ctx, cpu_t *c, uint16_t port, unsigned size, bool in,
                            uint32_t *val)
{
    (void)ctx, (void)port, (void)size, (void)in, (void)val;
    c->cycle_limit = c->cycles;
    return true;
}

START_TEST(test_run_stops_when_limit_lowered)
{
    static const uint8_t code[] = {0xB0, 0x41, /* mov al, 41h */
                                   0xE6, 0x80, /* out 80h, al (no I/O exiting) */
                                   0xEB, 0xFE};
    load_guest(code, sizeof code);
    cpu_hooks hooks = {.io = io_lowers_limit};
    cpu_set_hooks(&h.cpu, &hooks);
    ck_assert_uint_eq(vmx_vmentry(&v, true), 0);
    uint64_t limit = h.cpu.cycles + 100000;
    ck_assert_int_eq(vmx_run(&v, limit), CPU_STOP_CYCLES);
    /* Back to the caller right after the OUT, still in non-root operation,
     * not at the caller's limit. */
    ck_assert(!v.exited);
    ck_assert(v.non_root);
    ck_assert_uint_eq(h.cpu.rip, CPU_HARNESS_CODE + 4);
    ck_assert_uint_lt(h.cpu.cycles, limit - 90000);
}
END_TEST

START_TEST(test_run_hlt_exit_and_vmcall)
{
    static const uint8_t code[] = {0x0F, 0x01, 0xC1, /* vmcall */
                                   0xF4};
    load_guest(code, sizeof code);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_VMCALL);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 3);
    /* The hypervisor skips the VMCALL; HLT exiting on: exit 12. */
    SET(GUEST_RIP, GET(GUEST_RIP) + GET(EXIT_INSN_LEN));
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 3);
    ck_assert_uint_eq(GET(GUEST_ACTIVITY_STATE), VMX_ACTIVITY_ACTIVE);
}
END_TEST

START_TEST(test_run_cr0_exit_and_shadow)
{
    static const uint8_t code[] = {0x0F, 0x20, 0xC3, /* mov rbx, cr0 */
                                   0x48, 0x89, 0xD8, /* mov rax, rbx */
                                   0x48, 0x0F, 0xBA, 0xE8, 0x05, /* bts rax, 5 (NE) */
                                   0x0F, 0x22, 0xC0, /* mov cr0, rax */
                                   0xF4};
    load_guest(code, sizeof code);
    SET(CR0_GUEST_HOST_MASK, CPU_CR0_NE);
    SET(CR0_READ_SHADOW, 0);
    enter_and_run();
    /* The read saw NE from the shadow (0); setting it differs from the
     * shadow: CR-access exit with MOV to CR0 from RAX. */
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX] & CPU_CR0_NE, 0);
    ck_assert(h.cpu.cr0 & CPU_CR0_NE);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CR_ACCESS);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 0);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 11);
}
END_TEST

START_TEST(test_run_interrupt_window)
{
    static const uint8_t code[] = {0x90, 0xFB, 0x90, 0x90, 0xF4}; /* nop; sti; nop; nop; hlt */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_INTR_WINDOW);
    enter_and_run();
    /* IF = 0 at entry: no exit until STI and its shadow are over. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_INTERRUPT_WINDOW);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 3);
    ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY), 0);
}
END_TEST

/* A VM entry and a VM exit each move the clock by their class of the cost
 * model (docs/cost-model.md): a preemption timer of 0 exits before the
 * first guest instruction (SDM 25.5.1), so the round trip costs exactly
 * the two, with any model. */
START_TEST(test_entry_and_exit_cost_cycles)
{
    static const uint8_t code[] = {0xEB, 0xFE}; /* jmp $ */
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_PREEMPT_TIMER);
    SET(PREEMPT_TIMER_VALUE, 0);
    h.costs.cost[CPU_COST_VMENTRY] = 123;
    h.costs.cost[CPU_COST_VMEXIT] = 45;
    h.costs.cost[CPU_COST_VMENTRY_CHECKS] = 6; /* a first entry: full checks */
    uint64_t start = h.cpu.cycles, insns = h.cpu.insns;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_PREEMPT_TIMER);
    ck_assert_uint_eq(h.cpu.insns, insns);
    ck_assert_uint_eq(h.cpu.cycles, start + 123 + 6 + 45);
    /* The default model charges both too. */
    cpu_cost_model d;
    cpu_cost_default(&d);
    ck_assert_uint_gt(d.cost[CPU_COST_VMENTRY], 0);
    ck_assert_uint_gt(d.cost[CPU_COST_VMEXIT], 0);
}
END_TEST

START_TEST(test_run_preemption_timer)
{
    static const uint8_t code[] = {0xEB, 0xFE}; /* jmp $ */
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_PREEMPT_TIMER);
    OR(EXIT_CONTROLS, VMX_EXIT_SAVE_PREEMPT_TIMER);
    SET(PREEMPT_TIMER_VALUE, 100);
    uint64_t start = h.cpu.cycles;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_PREEMPT_TIMER);
    ck_assert_uint_ge(h.cpu.cycles, start + (99u << VMX_PREEMPT_RATE));
    /* The timer counts from the end of the entry; the exit costs its own
     * cycles on top (docs/cost-model.md). */
    ck_assert_uint_le(h.cpu.cycles, start + (101u << VMX_PREEMPT_RATE) + 64 +
                                        h.costs.cost[CPU_COST_VMENTRY] +
                                        h.costs.cost[CPU_COST_VMENTRY_CHECKS] +
                                        h.costs.cost[CPU_COST_VMEXIT]);
    ck_assert_uint_eq(GET(PREEMPT_TIMER_VALUE), 0);
}
END_TEST

START_TEST(test_run_external_interrupt_ack)
{
    static const uint8_t code[] = {0x90, 0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING);
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    apic_accept(&apic, 0x51, APIC_DM_FIXED, false);
    enter_and_run();
    /* Taken with IF = 0: external-interrupt exiting ignores RFLAGS.IF. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXTERNAL_INTERRUPT);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | 0x51);
    ck_assert_int_eq(apic_pending_vector(&apic), -1); /* acknowledged: in ISR now */
}
END_TEST

START_TEST(test_run_init_exit)
{
    static const uint8_t code[] = {0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    apic_accept(&apic, 0, APIC_DM_INIT, true);
    v.nmi_pending = true; /* lower priority than INIT */
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_INIT);
    ck_assert(!apic.init_pending);
    ck_assert(v.nmi_pending);
}
END_TEST

START_TEST(test_run_rdtsc_offset)
{
    static const uint8_t code[] = {0x0F, 0x31, 0x0F, 0xA2}; /* rdtsc; cpuid */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_TSC_OFFSET);
    SET(TSC_OFFSET, 1ull << 40);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CPUID);
    uint64_t tsc = (h.cpu.gpr[CPU_RAX] & 0xFFFFFFFF) | (h.cpu.gpr[CPU_RDX] << 32);
    ck_assert_uint_ge(tsc, 1ull << 40);
    ck_assert_uint_lt(tsc, (1ull << 40) + h.cpu.cycles + 1);
    ck_assert_uint_eq(h.cpu.tsc_offset, 0); /* root offset back after the exit */
}
END_TEST

START_TEST(test_run_injected_exception)
{
    static const uint8_t code[] = {0x0F, 0xA2};
    load_guest(code, sizeof code);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_HW_EXC << 8) |
                             VMX_INTR_INFO_ERROR_VALID | 13);
    SET(ENTRY_EXCEPTION_ERROR, 0x18);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    enter_and_run();
    /* #GP delivered through the guest IDT; its handler is a HLT. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(13));
    uint64_t err = cpu_harness_peek64(&h, GET(GUEST_RSP));
    ck_assert_uint_eq(err, 0x18);
    ck_assert_uint_eq(GET(ENTRY_INTR_INFO) & VMX_INTR_INFO_VALID, 0);
    ck_assert_uint_eq(GET(IDT_VECTORING_INFO), 0);
}
END_TEST

START_TEST(test_run_exception_bitmap_idt_vectoring)
{
    /* Inject external interrupt 40H while the exception bitmap intercepts
     * #NP: the IDT gate of 40H is not present, so delivering it raises
     * #NP(40H*8+2+EXT), which exits with the interrupt in the IDT-vectoring
     * information (SDM 27.2.3). A benign first event: no #DF. */
    static const uint8_t code[] = {0x90};
    load_guest(code, sizeof code);
    uint64_t gate = cpu_harness_peek64(&h, CPU_HARNESS_IDT + 0x40 * 16);
    gate &= ~(1ull << 47);
    ck_assert(cpu_phys_write(&h.phys, CPU_HARNESS_IDT + 0x40 * 16, &gate, 8));
    SET(EXCEPTION_BITMAP, 1u << CPU_EXC_NP);
    SET(GUEST_RFLAGS, GET(GUEST_RFLAGS) | CPU_FL_IF);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_EXT << 8) | 0x40);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_HW_EXC << 8) |
                                               VMX_INTR_INFO_ERROR_VALID | CPU_EXC_NP);
    ck_assert_uint_eq(GET(EXIT_INTR_ERROR), 0x40 * 8 + 2 + 1);
    ck_assert_uint_eq(GET(IDT_VECTORING_INFO), VMX_INTR_INFO_VALID | 0x40);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
}
END_TEST

START_TEST(test_run_rdtscp)
{
    static const uint8_t code[] = {0x0F, 0x01, 0xF9, 0xF4}; /* rdtscp; hlt */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    enter_and_run();
    /* "enable RDTSCP" = 0: #UD through the guest IDT (its handler halts). */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_UD));
    /* Enabled, with RDTSC exiting: exit 51 at the instruction. */
    vmx_vmcs_clear(&v.vmcs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY | VMX_PROC_RDTSC);
    SET(PROC_CONTROLS2, VMX_PROC2_RDTSCP);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_RDTSCP);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 3);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
}
END_TEST

START_TEST(test_run_nmi_exit)
{
    static const uint8_t code[] = {0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING);
    v.nmi_pending = true;
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXCEPTION_NMI);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_NMI << 8) | 2);
    ck_assert(!v.nmi_pending);
}
END_TEST

START_TEST(test_run_nmi_delivered_to_guest)
{
    static const uint8_t code[] = {0x90, 0xEB, 0xFE};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    v.nmi_pending = true;
    enter_and_run();
    /* NMI exiting = 0: the NMI goes through the guest IDT; blocking by NMI
     * is saved in the interruptibility state. */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_NMI));
    ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY), VMX_INTERRUPTIBILITY_NMI);
}
END_TEST

/* IRET ends blocking by NMI (SDM Vol. 3A 6.7.1) and, with virtual NMIs,
 * virtual-NMI blocking (SDM 25.3): the NMI handler here is an IRETQ, so the
 * HLT exit after it saves an interruptibility state without NMI blocking. */
START_TEST(test_run_iret_unblocks_nmi)
{
    static const uint8_t code[] = {0x90, 0xF4};
    static const uint8_t iretq[] = {0x48, 0xCF};
    for (int virtual_nmis = 0; virtual_nmis < 2; virtual_nmis++) {
        load_guest(code, sizeof code);
        ck_assert(cpu_phys_write(&h.phys, CPU_HARNESS_HANDLER(CPU_EXC_NMI), iretq, sizeof iretq));
        OR(PROC_CONTROLS, VMX_PROC_HLT);
        if (virtual_nmis) {
            OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS);
            SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_NMI << 8) | 2);
        } else {
            v.nmi_pending = true;
        }
        enter_and_run();
        ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
        ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 1);
        ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY) & VMX_INTERRUPTIBILITY_NMI, 0);
        vmx_vmcs_clear(&v.vmcs);
        vmx_setup_default_controls(&v);
        vmx_setup_host_state(&v);
    }
}
END_TEST

START_TEST(test_run_bitmaps)
{
    static const uint8_t code[] = {
        0xE6, 0x80,                               /* out 80h, al: bit clear, no exit */
        0xB9, 0x80, 0x00, 0x00, 0xC0,             /* mov ecx, C0000080h */
        0x0F, 0x32,                               /* rdmsr: read bit clear, no exit */
        0x0F, 0x30,                               /* wrmsr: write bit set, exit 32 */
        0xF4};
    load_guest(code, sizeof code);
    uint64_t a = cpu_phys_host_alloc(&h.phys, 4096), b = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t m = cpu_phys_host_alloc(&h.phys, 4096);
    uint8_t *mp = cpu_phys_ptr_write(&h.phys, m, 4096);
    set_bit(mp, 3072 * 8 + 0x80);
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS | VMX_PROC_UNCOND_IO | VMX_PROC_MSR_BITMAPS);
    SET(IO_BITMAP_A, a);
    SET(IO_BITMAP_B, b);
    SET(MSR_BITMAP, m);
    enter_and_run();
    /* The I/O bitmaps override unconditional I/O exiting (SDM 25.1.3). */
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_WRMSR);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 9);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX] & 0xFFFFFFFF, (uint32_t)h.cpu.efer);
    /* Now the port's bit is set: IN exits with direction IN, size 1. */
    static const uint8_t code2[] = {0xE4, 0x71, 0xF4}; /* in al, 71h */
    vmx_vmcs_clear(&v.vmcs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    load_guest(code2, sizeof code2);
    set_bit(cpu_phys_ptr_write(&h.phys, a, 4096), 0x71);
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS);
    SET(IO_BITMAP_A, a);
    SET(IO_BITMAP_B, b);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_IO);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), (0x71u << 16) | 0x40 | 8 | 0);
    /* The DX form clears the operand-encoding bit (SDM Table 27-5 bit 6). */
    static const uint8_t code3[] = {0x66, 0xBA, 0x71, 0x00, 0xEC, 0xF4}; /* mov dx, 71h; in al, dx */
    vmx_vmcs_clear(&v.vmcs);
    vmx_setup_default_controls(&v);
    vmx_setup_host_state(&v);
    load_guest(code3, sizeof code3);
    OR(PROC_CONTROLS, VMX_PROC_IO_BITMAPS);
    SET(IO_BITMAP_A, a);
    SET(IO_BITMAP_B, b);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_IO);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), (0x71u << 16) | 8);
}
END_TEST

/* Monitor trap flag (SDM 25.5.2): one instruction, then exit 37 with RIP
 * at the next one; a pending MTF exit injected with type 7 exits before
 * the first instruction. */
START_TEST(test_run_mtf)
{
    static const uint8_t code[] = {0x90, 0x48, 0xFF, 0xC0, 0xF4}; /* nop; inc rax; hlt */
    load_guest(code, sizeof code);
    h.cpu.gpr[CPU_RAX] = 0;
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_OTHER << 8));
    OR(PROC_CONTROLS, VMX_PROC_MTF);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
    for (unsigned step = 1; step <= 2; step++) {
        ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
        ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
        ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    }
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 4);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RAX], 1);
    /* The HLT executes, then the MTF exit reports the HLT activity state. */
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    ck_assert_uint_eq(GET(GUEST_ACTIVITY_STATE), VMX_ACTIVITY_HLT);
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_MTF], 4);
}
END_TEST

/* MTF over an instruction that faults (ud2, #UD not in the exception
 * bitmap): the #UD is delivered through the guest IDT and the MTF exit
 * comes with RIP at the handler's first instruction, not after it
 * (SDM 25.5.2; the harness handler is a HLT). */
START_TEST(test_run_mtf_fault_delivered)
{
    static const uint8_t code[] = {0x0F, 0x0B}; /* ud2 */
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_MTF);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_MTF);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_UD));
    ck_assert_uint_eq(GET(GUEST_ACTIVITY_STATE), VMX_ACTIVITY_ACTIVE);
}
END_TEST

/* CR8-load exiting, CR4 read shadow and CR3 targets in guest code. */
START_TEST(test_run_cr8_cr4_cr3)
{
    static const uint8_t code[] = {
        0x0F, 0x20, 0xE1,       /* mov rcx, cr4: shadowed VMXE */
        0x0F, 0x20, 0xDA,       /* mov rdx, cr3 */
        0x0F, 0x22, 0xDA,       /* mov cr3, rdx: a CR3 target, no exit */
        0x4C, 0x0F, 0x22, 0xC3, /* mov cr8, rbx */
        0xF4};
    load_guest(code, sizeof code);
    h.cpu.gpr[CPU_RBX] = 2;
    OR(PROC_CONTROLS, VMX_PROC_CR8_LOAD | VMX_PROC_CR3_LOAD);
    SET(CR3_TARGET0, h.cpu.cr3);
    SET(CR3_TARGET_COUNT, 1);
    enter_and_run();
    ck_assert_uint_eq(h.cpu.gpr[CPU_RCX] & CPU_CR4_VMXE, 0);
    ck_assert(h.cpu.cr4 & CPU_CR4_VMXE);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_CR_ACCESS);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 8 | (CPU_RBX << 8));
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 9);
    ck_assert_uint_eq(GET(EXIT_INSN_LEN), 4);
}
END_TEST

/* EPT (SDM 28.2): identity 2-MByte pages, the second one read-only; a
 * guest read there is fine, a write after it (same TLB entry) is an EPT
 * violation with the guest-physical address. */
START_TEST(test_run_ept_violation)
{
    static const uint8_t code[] = {0xB8, 0x00, 0x00, 0x20, 0x00, /* mov eax, 200000h */
                                   0x8A, 0x18,                   /* mov bl, [rax]: allowed */
                                   0xC6, 0x00, 0x01,             /* mov byte [rax], 1 */
                                   0xF4};
    load_guest(code, sizeof code);
    uint64_t pml4 = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pdpt = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pd = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t e = pdpt | 7;
    ck_assert(cpu_phys_write(&h.phys, pml4, &e, 8));
    e = pd | 7;
    ck_assert(cpu_phys_write(&h.phys, pdpt, &e, 8));
    for (uint64_t k = 0; k < 8; k++) {
        e = (k << 21) | (6 << 3) | 0x80 | (k == 1 ? 1 : 7);
        ck_assert(cpu_phys_write(&h.phys, pd + k * 8, &e, 8));
    }
    /* Guest PDE of 200000H already dirty: the read may fill a writable TLB
     * entry as far as guest paging is concerned. */
    uint64_t pde = cpu_harness_peek64(&h, 0x4000 + 8) | 0x40;
    ck_assert(cpu_phys_write(&h.phys, 0x4000 + 8, &pde, 8));
    OR(PROC_CONTROLS, VMX_PROC_SECONDARY | VMX_PROC_HLT);
    SET(PROC_CONTROLS2, VMX_PROC2_EPT);
    SET(EPT_POINTER, pml4 | (3 << 3) | 6);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EPT_VIOLATION);
    /* Write, readable; bits 7-8: a linear address's translation (27.2.1). */
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2 | (1 << 3) | (1 << 7) | (1 << 8));
    ck_assert_uint_eq(GET(GUEST_PHYSICAL_ADDR), 0x200000);
    ck_assert_uint_eq(GET(GUEST_LINEAR_ADDR), 0x200000);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7);
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_EPT_VIOLATION], 1);
    /* Made writable, the guest resumes, stores and halts. */
    e = (1ull << 21) | (6 << 3) | 0x80 | 7;
    ck_assert(cpu_phys_write(&h.phys, pd + 8, &e, 8));
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    uint8_t b = 0;
    ck_assert(cpu_phys_read(&h.phys, 0x200000, &b, 1));
    ck_assert_uint_eq(b, 1);

    /* Code on a read/execute-only page still runs (without a TLB fast
     * path); a store to it is a violation with access "write". */
    static const uint8_t code2[] = {0x8B, 0x1C, 0x25, 0x00, 0x00, 0x10, 0x00, /* mov ebx, [100000h] */
                                    0x88, 0x1C, 0x25, 0x00, 0x00, 0x10, 0x00, /* mov [100000h], bl */
                                    0xF4};
    cpu_harness_load(&h, CPU_HARNESS_CODE, code2, sizeof code2);
    e = (6 << 3) | 0x80 | 5;
    ck_assert(cpu_phys_write(&h.phys, pd, &e, 8));
    SET(GUEST_RIP, CPU_HARNESS_CODE);
    SET(GUEST_RFLAGS, 2);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EPT_VIOLATION);
    ck_assert_uint_eq(GET(EXIT_QUALIFICATION), 2 | (5 << 3) | (1 << 7) | (1 << 8));
    ck_assert_uint_eq(GET(GUEST_LINEAR_ADDR), 0x100000);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE + 7);
    ck_assert_uint_eq(h.cpu.gpr[CPU_RBX] & 0xFF, code2[0]);
}
END_TEST

/* NMI-window exiting (SDM 25.5.2 in the 2016 numbering): an exit at the
 * first boundary without virtual-NMI blocking; an injected NMI sets that
 * blocking, so the window stays shut while its handler runs. */
START_TEST(test_run_nmi_window)
{
    static const uint8_t code[] = {0x90, 0xF4};
    load_guest(code, sizeof code);
    OR(PIN_CONTROLS, VMX_PIN_NMI_EXITING | VMX_PIN_VIRTUAL_NMIS);
    OR(PROC_CONTROLS, VMX_PROC_NMI_WINDOW | VMX_PROC_HLT);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_NMI_WINDOW);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_CODE);
    SET(ENTRY_INTR_INFO, VMX_INTR_INFO_VALID | (VMX_INTR_TYPE_NMI << 8) | 2);
    ck_assert_uint_eq(vmx_vmentry(&v, false), 0);
    ck_assert_int_eq(vmx_run(&v, h.cpu.cycles + 100000), CPU_STOP_HOOK);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_NMI));
    ck_assert_uint_eq(GET(GUEST_INTERRUPTIBILITY), VMX_INTERRUPTIBILITY_NMI);
}
END_TEST

/* Non-exiting MOV to CR4 keeps the host-owned VMXE (SDM 25.3); clearing a
 * VMX fixed-1 bit of CR0 that the guest owns is #GP (SDM 23.8). */
START_TEST(test_run_cr_write_fixed_bits)
{
    static const uint8_t code[] = {
        0x0F, 0x20, 0xE0,                   /* mov rax, cr4 (shadow: no VMXE) */
        0x48, 0x0D, 0x80, 0x00, 0x00, 0x00, /* or rax, 80h (PGE) */
        0x0F, 0x22, 0xE0,                   /* mov cr4, rax */
        0x0F, 0x20, 0xC0,                   /* mov rax, cr0 */
        0x48, 0x83, 0xE0, 0xDF,             /* and rax, ~20h (NE) */
        0x0F, 0x22, 0xC0,                   /* mov cr0, rax: #GP */
        0xF4};
    load_guest(code, sizeof code);
    OR(PROC_CONTROLS, VMX_PROC_HLT);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(CPU_EXC_GP));
    ck_assert_uint_eq(GET(GUEST_CR4), CPU_CR4_PAE | CPU_CR4_PGE | CPU_CR4_VMXE);
    ck_assert(GET(GUEST_CR0) & CPU_CR0_NE);
}
END_TEST

/* The posted-interrupt path through the events hook (SDM 29.6): the
 * notification vector is processed without an exit and the posted vector is
 * delivered through the guest IDT; another vector is an ordinary exit 1. */
static uint64_t pi_setup(void)
{
    static const uint8_t code[] = {0xFB, 0x90, 0x90, 0xEB, 0xFE}; /* sti; nop; nop; jmp $ */
    load_guest(code, sizeof code);
    uint64_t vapic = cpu_phys_host_alloc(&h.phys, 4096);
    uint64_t pid = cpu_phys_host_alloc(&h.phys, 4096);
    OR(PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING | VMX_PIN_POSTED_INTR);
    OR(PROC_CONTROLS, VMX_PROC_TPR_SHADOW | VMX_PROC_SECONDARY | VMX_PROC_HLT);
    SET(PROC_CONTROLS2, VMX_PROC2_VIRT_INTR_DELIVERY);
    OR(EXIT_CONTROLS, VMX_EXIT_ACK_INTR);
    SET(VIRTUAL_APIC_ADDR, vapic);
    SET(POSTED_INTR_DESC_ADDR, pid);
    SET(POSTED_INTR_NV, 0xF2);
    ck_assert(apic_mmio_write(&apic, APIC_REG_SVR, 4, 0x1FF));
    return pid;
}

START_TEST(test_run_posted_interrupt)
{
    uint64_t pid = pi_setup();
    bool send = false;
    ck_assert(vmx_pi_post(&h.phys, pid, 0x41, &send));
    ck_assert(send);
    apic_accept(&apic, 0xF2, APIC_DM_FIXED, false);
    enter_and_run();
    ck_assert_uint_eq(v.exit_count[VMX_EXIT_EXTERNAL_INTERRUPT], 0);
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_HLT);
    ck_assert_uint_eq(GET(GUEST_RIP), CPU_HARNESS_HANDLER(0x41));
    ck_assert_uint_eq(GET(GUEST_INTR_STATUS), VMX_INTR_STATUS(0, 0x41));
    ck_assert(!vmx_pi_get_on(&h.phys, pid));
    ck_assert_int_eq(apic_pending_vector(&apic), -1);
    ck_assert_uint_eq(apic.isr[0xF2 / 32], 0); /* the physical EOI of step 4 */
}
END_TEST

START_TEST(test_run_posted_other_vector_exits)
{
    pi_setup();
    apic_accept(&apic, 0x51, APIC_DM_FIXED, false);
    enter_and_run();
    ck_assert_uint_eq(GET(EXIT_REASON), VMX_EXIT_EXTERNAL_INTERRUPT);
    ck_assert_uint_eq(GET(EXIT_INTR_INFO), VMX_INTR_INFO_VALID | 0x51);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx_exits");
    TCase *r = tcase_create("nonroot");
    tcase_add_checked_fixture(r, vmx_guest_setup, vmx_guest_teardown);
    tcase_add_test(r, test_run_cpuid_exit);
    tcase_add_test(r, test_entry_pdpte_reserved_bits);
    tcase_add_test(r, test_run_io_exit);
    tcase_add_test(r, test_entry_cr0_reserved_bits_ignored);
    tcase_add_test(r, test_run_hlt_exit_and_vmcall);
    tcase_add_test(r, test_run_stops_when_limit_lowered);
    tcase_add_test(r, test_run_cr0_exit_and_shadow);
    tcase_add_test(r, test_run_interrupt_window);
    tcase_add_test(r, test_run_preemption_timer);
    tcase_add_test(r, test_entry_and_exit_cost_cycles);
    tcase_add_test(r, test_run_external_interrupt_ack);
    tcase_add_test(r, test_run_rdtsc_offset);
    tcase_add_test(r, test_run_init_exit);
    tcase_add_test(r, test_run_injected_exception);
    tcase_add_test(r, test_run_exception_bitmap_idt_vectoring);
    tcase_add_test(r, test_run_rdtscp);
    tcase_add_test(r, test_run_bitmaps);
    tcase_add_test(r, test_run_mtf);
    tcase_add_test(r, test_run_mtf_fault_delivered);
    tcase_add_test(r, test_run_cr_write_fixed_bits);
    tcase_add_test(r, test_run_nmi_window);
    tcase_add_test(r, test_run_cr8_cr4_cr3);
    tcase_add_test(r, test_run_ept_violation);
    tcase_add_test(r, test_run_posted_interrupt);
    tcase_add_test(r, test_run_posted_other_vector_exits);
    tcase_add_test(r, test_run_nmi_exit);
    tcase_add_test(r, test_run_nmi_delivered_to_guest);
    tcase_add_test(r, test_run_iret_unblocks_nmi);
    tcase_add_test(r, test_run_pae_guest_pdptes);
    tcase_add_test(r, test_run_pae_guest_pdptes_ept);
    suite_add_tcase(s, r);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
