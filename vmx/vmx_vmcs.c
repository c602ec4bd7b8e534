/*
 * vmx_vmcs.c — VMCS field table, raw access and the VMREAD/VMWRITE rules
 * (SDM Vol. 3C 24.11.2 "VMREAD, VMWRITE, and Encodings of VMCS Fields",
 * 30.3 instruction reference, Vol. 3D appendix B).
 */
#include "vmx/vmx_vmcs.h"

#include <stddef.h>
#include <string.h>

typedef struct vmx_field_desc {
    uint32_t enc;          /* full encoding (access type 0) */
    const char *name;      /* NULL: no field has this slot */
    const char *high_name; /* "<field>_HIGH", the name of the high access */
} vmx_field_desc;

/* Every field at its storage slot (VMX_VMCS_SLOT: width, type and index
 * bits 4:0 of the encoding), so that a lookup is one index and one compare
 * instead of a search. Built by the compiler and immutable. Two fields of
 * one slot would be a second initializer of one element, which gcc
 * (-Woverride-init, in -Wextra) and clang (-Winitializer-overrides) reject
 * under -Werror; the slot's encoding compare rejects an index above 31. */
#define VMX_VMCS_DESC(name, e) [VMX_VMCS_SLOT(e)] = {(e), #name, #name "_HIGH"},
static const vmx_field_desc vmx_by_slot[VMX_VMCS_NSLOTS] = {VMX_VMCS_FIELDS(VMX_VMCS_DESC)};
#undef VMX_VMCS_DESC

/* The table entry of a full encoding (bit 0 clear), NULL when none: O(1). */
static inline const vmx_field_desc *vmx_field_lookup(uint32_t full)
{
    const vmx_field_desc *d = &vmx_by_slot[VMX_VMCS_SLOT(full)];
    return d->name && d->enc == full ? d : NULL;
}

/* SDM 24.11.2: only 64-bit fields have a "high" access type; bits 31:15
 * and 12 are reserved. */
bool vmx_vmcs_field_valid(uint32_t enc)
{
    if (enc & 0xFFFF9000u)
        return false;
    if ((enc & VMX_ENC_HIGH) && VMX_ENC_WIDTH(enc) != VMX_WIDTH_64)
        return false;
    return vmx_field_lookup(enc & ~VMX_ENC_HIGH) != NULL;
}

bool vmx_vmcs_field_readonly(uint32_t enc)
{
    return vmx_vmcs_field_valid(enc) && VMX_ENC_TYPE(enc) == VMX_TYPE_RO;
}

unsigned vmx_vmcs_field_width(uint32_t enc)
{
    if (!vmx_vmcs_field_valid(enc))
        return 0;
    if (enc & VMX_ENC_HIGH)
        return 32;
    switch (VMX_ENC_WIDTH(enc)) {
    case VMX_WIDTH_16: return 16;
    case VMX_WIDTH_32: return 32;
    default: return 64;
    }
}

const char *vmx_vmcs_field_name(uint32_t enc)
{
    if (!vmx_vmcs_field_valid(enc))
        return NULL;
    const vmx_field_desc *d = vmx_field_lookup(enc & ~VMX_ENC_HIGH);
    return (enc & VMX_ENC_HIGH) ? d->high_name : d->name;
}

void vmx_vmcs_clear(vmx_vmcs *v)
{
    uint32_t rev = v->revision;
    memset(v, 0, sizeof *v);
    v->revision = rev;
    v->launch_state = VMX_LAUNCH_CLEAR;
}

/* Access through an encoding already known to be valid (full or high). */
static inline uint64_t vmx_get_valid(const vmx_vmcs *v, uint32_t enc)
{
    return vmx_field_read_value(enc, v->field[VMX_VMCS_SLOT(enc)]);
}

static inline void vmx_set_valid(vmx_vmcs *v, uint32_t enc, uint64_t val)
{
    uint64_t *f = &v->field[VMX_VMCS_SLOT(enc)], old = *f;
    *f = vmx_field_write_value(enc, *f, val);
    if (*f != old)
        v->checked &= ~vmx_vmcs_checks_of(enc);
}

uint64_t vmx_vmcs_get(const vmx_vmcs *v, uint32_t enc)
{
    return vmx_vmcs_field_valid(enc) ? vmx_get_valid(v, enc) : 0;
}

void vmx_vmcs_set(vmx_vmcs *v, uint32_t enc, uint64_t val)
{
    if (vmx_vmcs_field_valid(enc))
        vmx_set_valid(v, enc, val);
}

/* SDM 30.3 VMREAD: "IF (register operand) does not correspond to any VMCS
 * field THEN VMfailValid(VMREAD/VMWRITE from/to unsupported VMCS
 * component)"; the whole 64-bit register operand is the encoding. */
unsigned vmx_vmread(const vmx_vmcs *v, uint64_t enc, uint64_t *val)
{
    if ((enc >> 32) != 0 || !vmx_vmcs_field_valid((uint32_t)enc))
        return VMX_ERR_UNSUPPORTED_FIELD;
    *val = vmx_get_valid(v, (uint32_t)enc);
    return VMX_ERR_NONE;
}

/* SDM 30.3 VMWRITE: unsupported component → 12, the error in the
 * VM-instruction error field (VMfailValid). "VMWRITE to read-only VMCS
 * component" (13) needs IA32_VMX_MISC[29] = 0; here it is 1 (A.6: VMWRITE
 * may write the VM-exit information fields too, as a hypervisor that
 * shadows its guest's VMCS needs), so no field refuses a write;
 * vmx_vcpu_vmwrite refuses them for a CPU model with bit 29 = 0. */
unsigned vmx_vmwrite_seen(vmx_vmcs *v, uint64_t enc, uint64_t val, uint64_t *before,
                          uint64_t *after)
{
    if ((enc >> 32) != 0 || !vmx_vmcs_field_valid((uint32_t)enc)) {
        vmx_vmcs_write_fast(v, VMCS_VM_INSN_ERROR, VMX_ERR_UNSUPPORTED_FIELD);
        return VMX_ERR_UNSUPPORTED_FIELD;
    }
    *before = vmx_get_valid(v, (uint32_t)enc);
    vmx_set_valid(v, (uint32_t)enc, val);
    *after = vmx_get_valid(v, (uint32_t)enc);
    return VMX_ERR_NONE;
}

unsigned vmx_vmwrite(vmx_vmcs *v, uint64_t enc, uint64_t val)
{
    uint64_t before, after;
    return vmx_vmwrite_seen(v, enc, val, &before, &after);
}

/* SDM Vol. 3D appendix C. */
const char *vmx_exit_reason_name(unsigned reason)
{
    static const char *const names[VMX_EXIT_NREASONS] = {
        [VMX_EXIT_EXCEPTION_NMI] = "EXCEPTION_NMI",
        [VMX_EXIT_EXTERNAL_INTERRUPT] = "EXTERNAL_INTERRUPT",
        [VMX_EXIT_TRIPLE_FAULT] = "TRIPLE_FAULT",
        [VMX_EXIT_INIT] = "INIT",
        [VMX_EXIT_SIPI] = "SIPI",
        [VMX_EXIT_IO_SMI] = "IO_SMI",
        [VMX_EXIT_OTHER_SMI] = "OTHER_SMI",
        [VMX_EXIT_INTERRUPT_WINDOW] = "INTERRUPT_WINDOW",
        [VMX_EXIT_NMI_WINDOW] = "NMI_WINDOW",
        [VMX_EXIT_TASK_SWITCH] = "TASK_SWITCH",
        [VMX_EXIT_CPUID] = "CPUID",
        [VMX_EXIT_GETSEC] = "GETSEC",
        [VMX_EXIT_HLT] = "HLT",
        [VMX_EXIT_INVD] = "INVD",
        [VMX_EXIT_INVLPG] = "INVLPG",
        [VMX_EXIT_RDPMC] = "RDPMC",
        [VMX_EXIT_RDTSC] = "RDTSC",
        [VMX_EXIT_RSM] = "RSM",
        [VMX_EXIT_VMCALL] = "VMCALL",
        [VMX_EXIT_VMCLEAR] = "VMCLEAR",
        [VMX_EXIT_VMLAUNCH] = "VMLAUNCH",
        [VMX_EXIT_VMPTRLD] = "VMPTRLD",
        [VMX_EXIT_VMPTRST] = "VMPTRST",
        [VMX_EXIT_VMREAD] = "VMREAD",
        [VMX_EXIT_VMRESUME] = "VMRESUME",
        [VMX_EXIT_VMWRITE] = "VMWRITE",
        [VMX_EXIT_VMXOFF] = "VMXOFF",
        [VMX_EXIT_VMXON] = "VMXON",
        [VMX_EXIT_CR_ACCESS] = "CR_ACCESS",
        [VMX_EXIT_DR_ACCESS] = "DR_ACCESS",
        [VMX_EXIT_IO] = "IO",
        [VMX_EXIT_RDMSR] = "RDMSR",
        [VMX_EXIT_WRMSR] = "WRMSR",
        [VMX_EXIT_ENTRY_FAIL_GUEST] = "ENTRY_FAIL_GUEST",
        [VMX_EXIT_ENTRY_FAIL_MSR] = "ENTRY_FAIL_MSR",
        [VMX_EXIT_MWAIT] = "MWAIT",
        [VMX_EXIT_MTF] = "MTF",
        [VMX_EXIT_MONITOR] = "MONITOR",
        [VMX_EXIT_PAUSE] = "PAUSE",
        [VMX_EXIT_ENTRY_FAIL_MCE] = "ENTRY_FAIL_MCE",
        [VMX_EXIT_TPR_BELOW_THRESHOLD] = "TPR_BELOW_THRESHOLD",
        [VMX_EXIT_APIC_ACCESS] = "APIC_ACCESS",
        [VMX_EXIT_VIRTUALIZED_EOI] = "VIRTUALIZED_EOI",
        [VMX_EXIT_GDTR_IDTR] = "GDTR_IDTR",
        [VMX_EXIT_LDTR_TR] = "LDTR_TR",
        [VMX_EXIT_EPT_VIOLATION] = "EPT_VIOLATION",
        [VMX_EXIT_EPT_MISCONFIG] = "EPT_MISCONFIG",
        [VMX_EXIT_INVEPT] = "INVEPT",
        [VMX_EXIT_RDTSCP] = "RDTSCP",
        [VMX_EXIT_PREEMPT_TIMER] = "PREEMPT_TIMER",
        [VMX_EXIT_INVVPID] = "INVVPID",
        [VMX_EXIT_WBINVD] = "WBINVD",
        [VMX_EXIT_XSETBV] = "XSETBV",
        [VMX_EXIT_APIC_WRITE] = "APIC_WRITE",
        [VMX_EXIT_RDRAND] = "RDRAND",
        [VMX_EXIT_INVPCID] = "INVPCID",
        [VMX_EXIT_VMFUNC] = "VMFUNC",
        [VMX_EXIT_ENCLS] = "ENCLS",
        [VMX_EXIT_RDSEED] = "RDSEED",
        [VMX_EXIT_PML_FULL] = "PML_FULL",
        [VMX_EXIT_XSAVES] = "XSAVES",
        [VMX_EXIT_XRSTORS] = "XRSTORS",
        [VMX_EXIT_SPP_EVENT] = "SPP_EVENT",
        [VMX_EXIT_UMWAIT] = "UMWAIT",
        [VMX_EXIT_TPAUSE] = "TPAUSE",
    };
    unsigned basic = reason & VMX_EXIT_REASON_BASIC_MASK;
    if (basic < VMX_EXIT_NREASONS && names[basic])
        return names[basic];
    return "UNKNOWN";
}

/* SDM Vol. 3C 30.4 table 30-1. */
const char *vmx_insn_error_name(unsigned err)
{
    switch (err) {
    case VMX_ERR_NONE: return "success";
    case VMX_ERR_VMCALL_ROOT: return "VMCALL executed in VMX root operation";
    case VMX_ERR_VMCLEAR_INVALID_ADDR: return "VMCLEAR with invalid physical address";
    case VMX_ERR_VMCLEAR_VMXON_PTR: return "VMCLEAR with VMXON pointer";
    case VMX_ERR_VMLAUNCH_NOT_CLEAR: return "VMLAUNCH with non-clear VMCS";
    case VMX_ERR_VMRESUME_NOT_LAUNCHED: return "VMRESUME with non-launched VMCS";
    case VMX_ERR_VMRESUME_AFTER_VMXOFF: return "VMRESUME after VMXOFF";
    case VMX_ERR_ENTRY_INVALID_CONTROL: return "VM entry with invalid control field(s)";
    case VMX_ERR_ENTRY_INVALID_HOST: return "VM entry with invalid host-state field(s)";
    case VMX_ERR_VMPTRLD_INVALID_ADDR: return "VMPTRLD with invalid physical address";
    case VMX_ERR_VMPTRLD_VMXON_PTR: return "VMPTRLD with VMXON pointer";
    case VMX_ERR_VMPTRLD_BAD_REVISION: return "VMPTRLD with incorrect VMCS revision identifier";
    case VMX_ERR_UNSUPPORTED_FIELD: return "VMREAD/VMWRITE from/to unsupported VMCS component";
    case VMX_ERR_WRITE_READONLY: return "VMWRITE to read-only VMCS component";
    case VMX_ERR_VMXON_IN_ROOT: return "VMXON executed in VMX root operation";
    case VMX_ERR_ENTRY_INVALID_EXEC_VMCS: return "VM entry with invalid executive-VMCS pointer";
    case VMX_ERR_ENTRY_NONLAUNCHED_EXEC_VMCS: return "VM entry with non-launched executive VMCS";
    case VMX_ERR_ENTRY_EXEC_VMCS_NOT_VMXON: return "VM entry with executive-VMCS pointer not VMXON pointer";
    case VMX_ERR_VMCALL_NOT_CLEAR: return "VMCALL with non-clear VMCS";
    case VMX_ERR_VMCALL_INVALID_EXIT_CONTROL: return "VMCALL with invalid VM-exit control fields";
    case VMX_ERR_VMCALL_BAD_MSEG_REVISION: return "VMCALL with incorrect MSEG revision identifier";
    case VMX_ERR_VMXOFF_DUAL_MONITOR: return "VMXOFF under dual-monitor treatment";
    case VMX_ERR_VMCALL_BAD_SMM_FEATURES: return "VMCALL with invalid SMM-monitor features";
    case VMX_ERR_ENTRY_INVALID_EXEC_CONTROL_EXEC_VMCS: return "VM entry with invalid VM-execution control fields in executive VMCS";
    case VMX_ERR_ENTRY_MOV_SS: return "VM entry with events blocked by MOV SS";
    case VMX_ERR_INVALID_INVEPT_OPERAND: return "invalid operand to INVEPT/INVVPID";
    default: return "unknown VM-instruction error";
    }
}
