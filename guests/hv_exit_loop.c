/*
 * hv_exit_loop.c — a guest that traps its vCPU in a VM-exit loop that makes
 * no progress, for the hypervisor's exit-loop guard (tests/emu/test_hv_loops.c).
 *
 * The #GP gate is pointed at a WRMSR of the x2APIC TPR (808H) with IST 1:
 * in xAPIC mode the hypervisor intercepts that WRMSR (exit 32) and injects
 * #GP (SDM 11.12.1.2: x2APIC MSRs #GP unless x2APIC mode is on); the #GP is
 * delivered on the IST stack, so RSP is the same every time, to the same
 * WRMSR. No instruction retires and nothing changes from one exit to the
 * next: the run must end with status 3 and the guard's diagnostic, not spin
 * until --max-cycles. VMX modes only (natively the #GP never leaves the CPU).
 */
#include "guest.h"

#define F_GUEST_TR_BASE 0x6814u

extern char exit_loop_entry[], exit_loop_wrmsr[];
__asm__(".text\n"
        ".globl exit_loop_entry, exit_loop_wrmsr\n"
        "exit_loop_entry:\n"
        "    movl $0x808, %ecx\n"
        "    xorl %eax, %eax\n"
        "    xorl %edx, %edx\n"
        "exit_loop_wrmsr:\n"
        "    wrmsr\n"
        "    jmp exit_loop_entry\n");

static uint8_t ist_stack[4096] __attribute__((aligned(16)));

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0) {
        for (;;)
            sti_hlt();
    }
    uint64_t tr_base = 0;
    GUEST_CHECK(hc_vmcs_read(F_GUEST_TR_BASE, &tr_base) == 0);
    /* TSS IST1 (SDM 8.7: offset 24H). */
    *(volatile uint64_t *)(tr_base + 0x24) = (uint64_t)(ist_stack + sizeof(ist_stack));
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr;
    __asm__ volatile("sidt %0" : "=m"(idtr));
    /* The 16-byte gate of #GP (SDM 6.14.1): the WRMSR itself, IST 1. */
    volatile uint8_t *gate = (volatile uint8_t *)(idtr.base + 13 * 16);
    uint64_t off = (uint64_t)exit_loop_wrmsr;
    gate[0] = (uint8_t)off;
    gate[1] = (uint8_t)(off >> 8);
    gate[4] = 1;
    gate[6] = (uint8_t)(off >> 16);
    gate[7] = (uint8_t)(off >> 24);
    *(volatile uint32_t *)(gate + 8) = (uint32_t)(off >> 32);
    __asm__ volatile("jmp exit_loop_entry" ::: "memory");
    return GUEST_FAIL;
}
