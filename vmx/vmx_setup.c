/*
 * vmx_setup.c — building a VMCS that passes the VM-entry checks (SDM Vol.
 * 3C 26.2, 26.3.1) from the state of a cpu_t: the starting point of the
 * built-in hypervisor and of the tests.
 */
#include "vmx/vmx_internal.h"

void vmx_setup_guest_from_cpu(vmx_vcpu *v)
{
    cpu_t *c = v->cpu;
    vmx_vmcs *m = &v->vmcs;
    /* Save every piece of guest state regardless of the current exit
     * controls, as a VM exit with all "save" controls would. */
    uint64_t exit = VMCS(v, EXIT_CONTROLS);
    vmx_vmcs_set(m, VMCS_EXIT_CONTROLS,
                 exit | VMX_EXIT_SAVE_DEBUG | VMX_EXIT_SAVE_PAT | VMX_EXIT_SAVE_EFER);
    vmx_save_guest_state(v);
    vmx_vmcs_set(m, VMCS_EXIT_CONTROLS, exit);

    /* TR must be a usable busy TSS (SDM 26.3.1.2). */
    if (!(c->tr.attr & 0x80)) {
        vmx_vmcs_set(m, VMCS_GUEST_TR_AR, 0x8B);
        vmx_vmcs_set(m, VMCS_GUEST_TR_LIMIT, 0x67);
        vmx_vmcs_set(m, VMCS_GUEST_TR_BASE, c->tr.base);
    }
    /* CR4.VMXE is fixed to 1 in VMX operation (IA32_VMX_CR4_FIXED0); the
     * host owns it and the guest reads its own value through the shadow. */
    vmx_vmcs_set(m, VMCS_GUEST_CR4, c->cr4 | CPU_CR4_VMXE);
    vmx_vmcs_set(m, VMCS_CR4_GUEST_HOST_MASK, VMCS(v, CR4_GUEST_HOST_MASK) | CPU_CR4_VMXE);
    vmx_vmcs_set(m, VMCS_CR4_READ_SHADOW, c->cr4);
    vmx_vmcs_set(m, VMCS_GUEST_DEBUGCTL, 0);
    vmx_vmcs_set(m, VMCS_VMCS_LINK_PTR, ~0ull);
    uint64_t entry = VMCS(v, ENTRY_CONTROLS);
    entry = (c->efer & CPU_EFER_LMA) ? entry | VMX_ENTRY_IA32E : entry & ~(uint64_t)VMX_ENTRY_IA32E;
    vmx_vmcs_set(m, VMCS_ENTRY_CONTROLS, entry);
}

void vmx_setup_default_controls(vmx_vcpu *v)
{
    vmx_vmcs *m = &v->vmcs;
    uint64_t cap;
    vmx_capability_msr(VMX_MSR_TRUE_PINBASED_CTLS, &cap);
    vmx_vmcs_set(m, VMCS_PIN_CONTROLS, (uint32_t)cap);
    vmx_capability_msr(VMX_MSR_TRUE_PROCBASED_CTLS, &cap);
    vmx_vmcs_set(m, VMCS_PROC_CONTROLS, (uint32_t)cap);
    vmx_vmcs_set(m, VMCS_PROC_CONTROLS2, 0);
    vmx_capability_msr(VMX_MSR_TRUE_EXIT_CTLS, &cap);
    vmx_vmcs_set(m, VMCS_EXIT_CONTROLS, (uint32_t)cap);
    vmx_capability_msr(VMX_MSR_TRUE_ENTRY_CTLS, &cap);
    vmx_vmcs_set(m, VMCS_ENTRY_CONTROLS, (uint32_t)cap);
    vmx_vmcs_set(m, VMCS_ENTRY_INTR_INFO, 0);
    vmx_vmcs_set(m, VMCS_CR3_TARGET_COUNT, 0);
    vmx_vmcs_set(m, VMCS_EXCEPTION_BITMAP, 0);
    vmx_vmcs_set(m, VMCS_PF_ERROR_MASK, 0);
    vmx_vmcs_set(m, VMCS_PF_ERROR_MATCH, 0);
}

void vmx_setup_host_state(vmx_vcpu *v)
{
    vmx_vmcs *m = &v->vmcs;
    vmx_vmcs_set(m, VMCS_HOST_CR0, CPU_CR0_PE | CPU_CR0_MP | CPU_CR0_ET | CPU_CR0_NE |
                                       CPU_CR0_WP | CPU_CR0_PG);
    vmx_vmcs_set(m, VMCS_HOST_CR3, 0x1000);
    vmx_vmcs_set(m, VMCS_HOST_CR4, CPU_CR4_PAE | CPU_CR4_VMXE);
    vmx_vmcs_set(m, VMCS_HOST_CS_SEL, 0x08);
    vmx_vmcs_set(m, VMCS_HOST_SS_SEL, 0x10);
    vmx_vmcs_set(m, VMCS_HOST_DS_SEL, 0x10);
    vmx_vmcs_set(m, VMCS_HOST_ES_SEL, 0x10);
    vmx_vmcs_set(m, VMCS_HOST_FS_SEL, 0);
    vmx_vmcs_set(m, VMCS_HOST_GS_SEL, 0);
    vmx_vmcs_set(m, VMCS_HOST_TR_SEL, 0x18);
    vmx_vmcs_set(m, VMCS_HOST_FS_BASE, 0);
    vmx_vmcs_set(m, VMCS_HOST_GS_BASE, 0);
    vmx_vmcs_set(m, VMCS_HOST_TR_BASE, 0);
    vmx_vmcs_set(m, VMCS_HOST_GDTR_BASE, 0);
    vmx_vmcs_set(m, VMCS_HOST_IDTR_BASE, 0);
    vmx_vmcs_set(m, VMCS_HOST_SYSENTER_ESP, 0);
    vmx_vmcs_set(m, VMCS_HOST_SYSENTER_EIP, 0);
    vmx_vmcs_set(m, VMCS_HOST_EFER, CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE);
    vmx_vmcs_set(m, VMCS_HOST_PAT, 0x0007040600070406ull);
    vmx_vmcs_set(m, VMCS_HOST_RSP, 0);
    vmx_vmcs_set(m, VMCS_HOST_RIP, 0xFFFFFFFF80000000ull);
}

/* SDM 30.3 VMWRITE: "ELSE IF (secondary source operand is read-only field)
 * AND (IA32_VMX_MISC[29] = 0) THEN VMfail(VMWRITE to read-only VMCS
 * component)" (13), checked after the unsupported-field case (12). */
unsigned vmx_vcpu_vmwrite(vmx_vcpu *v, uint64_t enc, uint64_t val)
{
    uint64_t before = 0, after = 0;
    if (v->vmwrite_ro_fails && (enc >> 32) == 0 && vmx_vmcs_field_readonly((uint32_t)enc)) {
        vmx_vmcs_write_fast(&v->vmcs, VMCS_VM_INSN_ERROR, VMX_ERR_WRITE_READONLY);
        return VMX_ERR_WRITE_READONLY;
    }
    unsigned err = vmx_vmwrite_seen(&v->vmcs, enc, val, &before, &after);
    if (err == VMX_ERR_NONE)
        cpu_obs_emit(v->obs, v->cpu ? v->cpu->cycles : 0, v->cpu ? v->cpu->index : 0,
                     VMX_EV_VMWRITE, enc, before, 0, after);
    return err;
}
