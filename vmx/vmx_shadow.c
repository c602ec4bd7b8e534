/*
 * vmx_shadow.c — VMCS shadowing (SDM Vol. 3C, 2016 numbering: 24.6.2 the
 * "VMCS shadowing" control, 24.6.15 the VMREAD and VMWRITE bitmaps, 24.10
 * "VMCS Types: Ordinary and Shadow", 25.1.3 the conditional VMREAD/VMWRITE
 * exits, 30.3 VMREAD and VMWRITE in VMX non-root operation).
 *
 * With "VMCS shadowing" = 1 a VMREAD or VMWRITE in VMX non-root operation
 * whose encoding has bits 63:15 clear and whose bit in the VMREAD or
 * VMWRITE bitmap is 0 does not exit: it reads or writes the VMCS the VMCS
 * link pointer references (a shadow VMCS, as VM entry made sure, 26.3.1.5)
 * — a guest hypervisor's own guest, itself a hypervisor, then reads and
 * writes "its" VMCS without a VM exit per field.
 *
 * The intercept hook (vmx_nonroot.c) asks vmx_shadow_exits; when the
 * instruction does not exit, the CPU goes on with it as in root operation
 * (CPL check, operands, cpu_vmx_insn.c) and calls vmx_shadow_insn through
 * hooks.vmx of the non-root hooks. The shadow VMCS is never the current
 * VMCS (26.3.1.5), so the processor holds no copy of it: each access reads
 * or writes the one field in its region (vmx_region_field_get/_put).
 */
#include "vmx/vmx_internal.h"
#include "vmx/vmx_root.h"

/* SDM 25.1.3 and 30.3 (VMREAD, VMWRITE: "in VMX non-root operation AND
 * ('VMCS shadowing' is 0 OR source operand sets bits in range 63:15 OR
 * VMREAD bit corresponding to bits 14:0 of source operand is 1) THEN
 * VMexit"). The bitmaps are 4-KByte pages (24.6.15): bit n of the page is
 * the one for encoding n. A bitmap byte that no memory backs reads as all
 * ones: the instruction exits. */
bool vmx_shadow_exits(const vmx_vcpu *v, unsigned reason, uint64_t enc)
{
    if (!(vmx_proc2(v) & VMX_PROC2_VMCS_SHADOW) || (enc >> 15))
        return true;
    uint64_t bitmap = reason == VMX_EXIT_VMREAD ? VMCS(v, VMREAD_BITMAP) : VMCS(v, VMWRITE_BITMAP);
    uint8_t byte = 0xFF;
    if (!cpu_phys_read(v->phys, bitmap + (enc >> 3), &byte, 1))
        byte = 0xFF;
    return (byte >> (enc & 7)) & 1;
}

/* SDM 30.3 VMREAD / VMWRITE after the exit decision, in VMX non-root
 * operation (cpu/ made the CPL check and read the operands): "VMCS link
 * pointer is not valid" (FFFFFFFF_FFFFFFFFH: VM entry let no other invalid
 * value through) is VMfailInvalid; an unsupported encoding VMfailValid(12)
 * with the error in the current VMCS, the ordinary one that runs this
 * guest (30.2); a VMWRITE to a read-only field VMfailValid(13) when
 * IA32_VMX_MISC[29] = 0 (v->vmwrite_ro_fails); else the field of the VMCS
 * referenced by the link pointer is read or written (with bit 29 = 1 the
 * VM-exit information fields too). hooks.vmx of the non-root hooks. */
cpu_vmx_result vmx_shadow_insn(void *ctx, cpu_t *c, cpu_vmx_op *op)
{
    vmx_vcpu *v = ctx;
    uint64_t link = VMCS(v, VMCS_LINK_PTR);
    uint32_t enc = (uint32_t)op->field;
    cpu_vmx_result res = CPU_VMX_SUCCEED;
    unsigned err = 0;
    if (op->insn != VMX_EXIT_VMREAD && op->insn != VMX_EXIT_VMWRITE) {
        /* The intercept exits for every other VMX instruction. */
        cpu_raise_exception(c, CPU_EXC_UD, false, 0);
    }
    if (link == ~0ull) {
        res = CPU_VMX_FAIL_INVALID;
    } else if ((op->field >> 32) || !vmx_vmcs_field_valid(enc)) {
        err = VMX_ERR_UNSUPPORTED_FIELD;
    } else if (op->insn == VMX_EXIT_VMWRITE && v->vmwrite_ro_fails && vmx_vmcs_field_readonly(enc)) {
        err = VMX_ERR_WRITE_READONLY;
    } else if (op->insn == VMX_EXIT_VMREAD) {
        op->value = vmx_field_read_value(enc, vmx_region_field_get(v->phys, link, enc));
    } else {
        uint64_t full = vmx_region_field_get(v->phys, link, enc);
        vmx_region_field_put(v->phys, link, enc, vmx_field_write_value(enc, full, op->value));
    }
    if (err) {
        vmx_vmcs_write_fast(&v->vmcs, VMCS_VM_INSN_ERROR, err);
        res = CPU_VMX_FAIL_VALID;
    }
    cpu_obs_emit(v->obs, c->cycles, c->index, VMX_EV_SHADOW_INSN, op->insn, op->field, c->rip,
                 res == CPU_VMX_FAIL_INVALID ? 1 : res == CPU_VMX_FAIL_VALID ? 2u + err : 0);
    return res;
}

/* SDM 26.3.1.5 "Checks on Guest Non-Register State", the VMCS link
 * pointer: other than FFFFFFFF_FFFFFFFFH it must have bits 11:0 clear and
 * no bit beyond the physical-address width, the first 4 bytes it references
 * must hold the VMCS revision identifier in bits 30:0 and the setting of
 * "VMCS shadowing" in bit 31 (so that it is a shadow VMCS exactly when
 * shadowing is on, 24.10), and it must not be the current-VMCS pointer
 * (outside SMM). Memory that does not back it reads as all ones. */
bool vmx_link_pointer_ok(const vmx_vcpu *v)
{
    uint64_t link = VMCS(v, VMCS_LINK_PTR);
    if (link == ~0ull)
        return true;
    if ((link & 0xFFF) || !vmx_phys_ok(link) || link == v->vmcs_pa)
        return false;
    uint32_t rev = UINT32_MAX;
    if (!v->phys || !cpu_phys_read(v->phys, link, &rev, 4))
        rev = UINT32_MAX;
    uint32_t shadow = (vmx_proc2(v) & VMX_PROC2_VMCS_SHADOW) ? 1u : 0u;
    return (rev & 0x7FFFFFFFu) == VMX_VMCS_REVISION && (rev >> 31) == shadow;
}
