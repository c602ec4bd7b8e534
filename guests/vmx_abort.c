/*
 * vmx_abort.c — a guest hypervisor whose VM exit cannot complete: a VMX
 * abort (SDM Vol. 3C 27.7). Run in `--mode native`. Its VMCS names a
 * VM-exit MSR list with an entry the processor refuses, so the first VM
 * exit (the guest's VMCALL) writes a VMX-abort indicator into the VMCS
 * region and shuts the CPU down: the run ends with a diagnostic naming the
 * abort, and nothing after VMLAUNCH runs.
 *
 *   --cpus 1: the VM-exit MSR-store list holds an x2APIC MSR (808H, SDM
 *             27.4): indicator 1, "failure saving guest MSRs";
 *   --cpus 2: the VM-exit MSR-load list holds IA32_GS_BASE (SDM 27.6):
 *             indicator 4, "failure loading host MSRs". (The second CPU
 *             only picks the case: it does nothing else.)
 *
 * Prints "vmx_abort: launching" before the entry; "vmx_abort: FAIL" if
 * the exit ever returns to it.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;
/* This program's hypervisor runs on CPU 0 only. */
static struct vx_cpu *const me = &vx_cpus[0];

static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));
static uint32_t vmcs[1024] __attribute__((aligned(4096)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));
/* One MSR entry (SDM 24.7.2): index in bits 31:0, data in 127:64. */
static uint64_t msr_list[2] __attribute__((aligned(16)));

#define PA(p) ((uint64_t)(uintptr_t)(p))

__asm__(".text\n.globl abort_guest\nabort_guest:\nvmcall\n1:\npause\njmp 1b\n");
void abort_guest(void);

int guest_main(unsigned cpu, unsigned ncpus)
{
    if (cpu != 0)
        return 0;
    int load_case = ncpus >= 2;
    vmcs[0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    if (vx_enable(vmxon_region) != VX_OK || vmclear(PA(vmcs)) != VX_OK ||
        vmptrld(PA(vmcs)) != VX_OK)
        return GUEST_FAIL;
    vx_setup_controls(0, 0, 0, 0);
    vx_setup_host(me, 0, 0);
    vx_setup_guest(PA(abort_guest), PA(guest_stack + sizeof(guest_stack)));
    if (load_case) {
        msr_list[0] = 0xC0000101u; /* IA32_GS_BASE: never loaded from a list */
        vmw(F_EXIT_MSR_LOAD_ADDR, PA(msr_list));
        vmw(F_EXIT_MSR_LOAD_COUNT, 1);
    } else {
        msr_list[0] = 0x808u; /* x2APIC TPR: never stored to a list */
        vmw(F_EXIT_MSR_STORE_ADDR, PA(msr_list));
        vmw(F_EXIT_MSR_STORE_COUNT, 1);
    }
    printf("vmx_abort: launching, VMCS at %#lx, %s list\n", PA(vmcs),
           load_case ? "VM-exit MSR-load" : "VM-exit MSR-store");
    vx_enter(me, 1);
    printf("vmx_abort: FAIL: the VM exit came back (reason %#lx)\n", vmr(F_EXIT_REASON));
    return GUEST_FAIL;
}
