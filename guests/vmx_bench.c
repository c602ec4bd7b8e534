/*
 * vmx_bench.c — the guest-hypervisor half of `apicv-emu bench`'s exit
 * benchmark: the teaching hypervisor's exit loop (vmx_teach.c: VM exit to
 * vx_exit_landing, VMREAD of the exit reason, RIP advanced by the exit
 * instruction length, VMRESUME; VPID on) around a guest that makes 10^5
 * VMCALLs in a loop. Run in `--mode native`; vmcall_loop.S is the built-in
 * hypervisor's half. Exits 0 after the last VMCALL, GUEST_FAIL on any other
 * exit or a failed entry.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;
/* This program's hypervisor runs on CPU 0 only. */
static struct vx_cpu *const me = &vx_cpus[0];

#define ROUND_TRIPS 100000

static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));
static uint32_t vmcs[1024] __attribute__((aligned(4096)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));

#define PA(p) ((uint64_t)(uintptr_t)(p))

/* RAX = 1 while looping, 2 for the last call. */
__asm__(".text\n.globl bench_guest\nbench_guest:\nmov $" "100000" ", %r8\n"
        "1:\nmov $1, %eax\nvmcall\ndec %r8\njnz 1b\nmov $2, %eax\nvmcall\n2:\npause\njmp 2b\n");
void bench_guest(void);

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    vmcs[0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    if (vx_enable(vmxon_region) != VX_OK || vmclear(PA(vmcs)) != VX_OK ||
        vmptrld(PA(vmcs)) != VX_OK)
        return GUEST_FAIL;
    /* VPID 1 (SDM 28.1), as KVM runs its guests: the root's and the
     * guest's cached translations survive the exits and entries. */
    vx_setup_controls(PIN_EXT_INTR, 0, PROC2_VPID, EXIT_ACK_INTR);
    vmw(F_VPID, 1);
    vx_setup_host(me, 0, 0);
    vx_setup_guest(PA(bench_guest), PA(guest_stack + sizeof(guest_stack)));
    unsigned calls = 0;
    for (int launch = 1;; launch = 0) {
        if (vx_enter(me, launch) & VX_ENTRY_FAILED)
            return GUEST_FAIL;
        if (vmr(F_EXIT_REASON) != X_VMCALL)
            return GUEST_FAIL;
        calls++;
        if (me->gregs.rax == 2)
            break;
        vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + vmr(F_EXIT_INSN_LEN));
    }
    return calls == ROUND_TRIPS + 1 ? 0 : GUEST_FAIL;
}
