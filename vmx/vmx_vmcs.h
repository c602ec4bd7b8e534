/*
 * vmx_vmcs.h — the virtual-machine control structure of vmx/: field
 * encodings (SDM Vol. 3D appendix B), control bits (SDM Vol. 3C 24.6-24.8),
 * exit reasons (appendix C), VM-instruction errors (Vol. 3C 30.4) and the
 * VMREAD/VMWRITE rules (Vol. 3C 30.3).
 *
 * A field encoding is a 32-bit value (SDM Vol. 3D B / Vol. 3C 24.11.2):
 *   bit 0      access type (1 = "high": the upper 32 bits of a 64-bit field)
 *   bits 9:1   index
 *   bits 11:10 type (0 control, 1 VM-exit information (read-only), 2 guest, 3 host)
 *   bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural width)
 *   bits 12, 31:15 reserved (0)
 * Storage in vmx_vmcs is one uint64_t per full field; vmx_vmcs_get/set of a
 * "high" encoding reads/writes bits 63:32 of its 64-bit field.
 */
#ifndef APICV_VMX_VMCS_H
#define APICV_VMX_VMCS_H

#include <stdbool.h>
#include <stdint.h>

/* Every field of SDM Vol. 3D appendix B (through the 2016 edition, plus the
 * few later fields listed at the end of each group): X(name, encoding). */
#define VMX_VMCS_FIELDS(X)                                                    \
    /* B.1.1 16-bit control fields */                                         \
    X(VPID, 0x0000)                                                           \
    X(POSTED_INTR_NV, 0x0002)                                                 \
    X(EPTP_INDEX, 0x0004)                                                     \
    /* B.1.2 16-bit guest-state fields */                                     \
    X(GUEST_ES_SEL, 0x0800)                                                   \
    X(GUEST_CS_SEL, 0x0802)                                                   \
    X(GUEST_SS_SEL, 0x0804)                                                   \
    X(GUEST_DS_SEL, 0x0806)                                                   \
    X(GUEST_FS_SEL, 0x0808)                                                   \
    X(GUEST_GS_SEL, 0x080A)                                                   \
    X(GUEST_LDTR_SEL, 0x080C)                                                 \
    X(GUEST_TR_SEL, 0x080E)                                                   \
    X(GUEST_INTR_STATUS, 0x0810)                                              \
    X(GUEST_PML_INDEX, 0x0812)                                                \
    /* B.1.3 16-bit host-state fields */                                      \
    X(HOST_ES_SEL, 0x0C00)                                                    \
    X(HOST_CS_SEL, 0x0C02)                                                    \
    X(HOST_SS_SEL, 0x0C04)                                                    \
    X(HOST_DS_SEL, 0x0C06)                                                    \
    X(HOST_FS_SEL, 0x0C08)                                                    \
    X(HOST_GS_SEL, 0x0C0A)                                                    \
    X(HOST_TR_SEL, 0x0C0C)                                                    \
    /* B.2.1 64-bit control fields */                                         \
    X(IO_BITMAP_A, 0x2000)                                                    \
    X(IO_BITMAP_B, 0x2002)                                                    \
    X(MSR_BITMAP, 0x2004)                                                     \
    X(EXIT_MSR_STORE_ADDR, 0x2006)                                            \
    X(EXIT_MSR_LOAD_ADDR, 0x2008)                                             \
    X(ENTRY_MSR_LOAD_ADDR, 0x200A)                                            \
    X(EXECUTIVE_VMCS_PTR, 0x200C)                                             \
    X(PML_ADDR, 0x200E)                                                       \
    X(TSC_OFFSET, 0x2010)                                                     \
    X(VIRTUAL_APIC_ADDR, 0x2012)                                              \
    X(APIC_ACCESS_ADDR, 0x2014)                                               \
    X(POSTED_INTR_DESC_ADDR, 0x2016)                                          \
    X(VMFUNC_CONTROLS, 0x2018)                                                \
    X(EPT_POINTER, 0x201A)                                                    \
    X(EOI_EXIT_BITMAP0, 0x201C)                                               \
    X(EOI_EXIT_BITMAP1, 0x201E)                                               \
    X(EOI_EXIT_BITMAP2, 0x2020)                                               \
    X(EOI_EXIT_BITMAP3, 0x2022)                                               \
    X(EPTP_LIST_ADDR, 0x2024)                                                 \
    X(VMREAD_BITMAP, 0x2026)                                                  \
    X(VMWRITE_BITMAP, 0x2028)                                                 \
    X(VE_INFO_ADDR, 0x202A)                                                   \
    X(XSS_EXIT_BITMAP, 0x202C)                                                \
    X(ENCLS_EXIT_BITMAP, 0x202E)                                              \
    X(SPP_TABLE_PTR, 0x2030)                                                  \
    X(TSC_MULTIPLIER, 0x2032)                                                 \
    /* B.2.2 64-bit read-only data field */                                   \
    X(GUEST_PHYSICAL_ADDR, 0x2400)                                            \
    /* B.2.3 64-bit guest-state fields */                                     \
    X(VMCS_LINK_PTR, 0x2800)                                                  \
    X(GUEST_DEBUGCTL, 0x2802)                                                 \
    X(GUEST_PAT, 0x2804)                                                      \
    X(GUEST_EFER, 0x2806)                                                     \
    X(GUEST_PERF_GLOBAL_CTRL, 0x2808)                                         \
    X(GUEST_PDPTE0, 0x280A)                                                   \
    X(GUEST_PDPTE1, 0x280C)                                                   \
    X(GUEST_PDPTE2, 0x280E)                                                   \
    X(GUEST_PDPTE3, 0x2810)                                                   \
    X(GUEST_BNDCFGS, 0x2812)                                                  \
    /* B.2.4 64-bit host-state fields */                                      \
    X(HOST_PAT, 0x2C00)                                                       \
    X(HOST_EFER, 0x2C02)                                                      \
    X(HOST_PERF_GLOBAL_CTRL, 0x2C04)                                          \
    /* B.3.1 32-bit control fields */                                         \
    X(PIN_CONTROLS, 0x4000)                                                   \
    X(PROC_CONTROLS, 0x4002)                                                  \
    X(EXCEPTION_BITMAP, 0x4004)                                               \
    X(PF_ERROR_MASK, 0x4006)                                                  \
    X(PF_ERROR_MATCH, 0x4008)                                                 \
    X(CR3_TARGET_COUNT, 0x400A)                                               \
    X(EXIT_CONTROLS, 0x400C)                                                  \
    X(EXIT_MSR_STORE_COUNT, 0x400E)                                           \
    X(EXIT_MSR_LOAD_COUNT, 0x4010)                                            \
    X(ENTRY_CONTROLS, 0x4012)                                                 \
    X(ENTRY_MSR_LOAD_COUNT, 0x4014)                                           \
    X(ENTRY_INTR_INFO, 0x4016)                                                \
    X(ENTRY_EXCEPTION_ERROR, 0x4018)                                          \
    X(ENTRY_INSN_LEN, 0x401A)                                                 \
    X(TPR_THRESHOLD, 0x401C)                                                  \
    X(PROC_CONTROLS2, 0x401E)                                                 \
    X(PLE_GAP, 0x4020)                                                        \
    X(PLE_WINDOW, 0x4022)                                                     \
    /* B.3.2 32-bit read-only data fields */                                  \
    X(VM_INSN_ERROR, 0x4400)                                                  \
    X(EXIT_REASON, 0x4402)                                                    \
    X(EXIT_INTR_INFO, 0x4404)                                                 \
    X(EXIT_INTR_ERROR, 0x4406)                                                \
    X(IDT_VECTORING_INFO, 0x4408)                                             \
    X(IDT_VECTORING_ERROR, 0x440A)                                            \
    X(EXIT_INSN_LEN, 0x440C)                                                  \
    X(EXIT_INSN_INFO, 0x440E)                                                 \
    /* B.3.3 32-bit guest-state fields */                                     \
    X(GUEST_ES_LIMIT, 0x4800)                                                 \
    X(GUEST_CS_LIMIT, 0x4802)                                                 \
    X(GUEST_SS_LIMIT, 0x4804)                                                 \
    X(GUEST_DS_LIMIT, 0x4806)                                                 \
    X(GUEST_FS_LIMIT, 0x4808)                                                 \
    X(GUEST_GS_LIMIT, 0x480A)                                                 \
    X(GUEST_LDTR_LIMIT, 0x480C)                                               \
    X(GUEST_TR_LIMIT, 0x480E)                                                 \
    X(GUEST_GDTR_LIMIT, 0x4810)                                               \
    X(GUEST_IDTR_LIMIT, 0x4812)                                               \
    X(GUEST_ES_AR, 0x4814)                                                    \
    X(GUEST_CS_AR, 0x4816)                                                    \
    X(GUEST_SS_AR, 0x4818)                                                    \
    X(GUEST_DS_AR, 0x481A)                                                    \
    X(GUEST_FS_AR, 0x481C)                                                    \
    X(GUEST_GS_AR, 0x481E)                                                    \
    X(GUEST_LDTR_AR, 0x4820)                                                  \
    X(GUEST_TR_AR, 0x4822)                                                    \
    X(GUEST_INTERRUPTIBILITY, 0x4824)                                         \
    X(GUEST_ACTIVITY_STATE, 0x4826)                                           \
    X(GUEST_SMBASE, 0x4828)                                                   \
    X(GUEST_SYSENTER_CS, 0x482A)                                              \
    X(PREEMPT_TIMER_VALUE, 0x482E)                                            \
    /* B.3.4 32-bit host-state field */                                       \
    X(HOST_SYSENTER_CS, 0x4C00)                                               \
    /* B.4.1 natural-width control fields */                                  \
    X(CR0_GUEST_HOST_MASK, 0x6000)                                            \
    X(CR4_GUEST_HOST_MASK, 0x6002)                                            \
    X(CR0_READ_SHADOW, 0x6004)                                                \
    X(CR4_READ_SHADOW, 0x6006)                                                \
    X(CR3_TARGET0, 0x6008)                                                    \
    X(CR3_TARGET1, 0x600A)                                                    \
    X(CR3_TARGET2, 0x600C)                                                    \
    X(CR3_TARGET3, 0x600E)                                                    \
    /* B.4.2 natural-width read-only data fields */                           \
    X(EXIT_QUALIFICATION, 0x6400)                                             \
    X(IO_RCX, 0x6402)                                                         \
    X(IO_RSI, 0x6404)                                                         \
    X(IO_RDI, 0x6406)                                                         \
    X(IO_RIP, 0x6408)                                                         \
    X(GUEST_LINEAR_ADDR, 0x640A)                                              \
    /* B.4.3 natural-width guest-state fields */                              \
    X(GUEST_CR0, 0x6800)                                                      \
    X(GUEST_CR3, 0x6802)                                                      \
    X(GUEST_CR4, 0x6804)                                                      \
    X(GUEST_ES_BASE, 0x6806)                                                  \
    X(GUEST_CS_BASE, 0x6808)                                                  \
    X(GUEST_SS_BASE, 0x680A)                                                  \
    X(GUEST_DS_BASE, 0x680C)                                                  \
    X(GUEST_FS_BASE, 0x680E)                                                  \
    X(GUEST_GS_BASE, 0x6810)                                                  \
    X(GUEST_LDTR_BASE, 0x6812)                                                \
    X(GUEST_TR_BASE, 0x6814)                                                  \
    X(GUEST_GDTR_BASE, 0x6816)                                                \
    X(GUEST_IDTR_BASE, 0x6818)                                                \
    X(GUEST_DR7, 0x681A)                                                      \
    X(GUEST_RSP, 0x681C)                                                      \
    X(GUEST_RIP, 0x681E)                                                      \
    X(GUEST_RFLAGS, 0x6820)                                                   \
    X(GUEST_PENDING_DBG, 0x6822)                                              \
    X(GUEST_SYSENTER_ESP, 0x6824)                                             \
    X(GUEST_SYSENTER_EIP, 0x6826)                                             \
    /* B.4.4 natural-width host-state fields */                               \
    X(HOST_CR0, 0x6C00)                                                       \
    X(HOST_CR3, 0x6C02)                                                       \
    X(HOST_CR4, 0x6C04)                                                       \
    X(HOST_FS_BASE, 0x6C06)                                                   \
    X(HOST_GS_BASE, 0x6C08)                                                   \
    X(HOST_TR_BASE, 0x6C0A)                                                   \
    X(HOST_GDTR_BASE, 0x6C0C)                                                 \
    X(HOST_IDTR_BASE, 0x6C0E)                                                 \
    X(HOST_SYSENTER_ESP, 0x6C10)                                              \
    X(HOST_SYSENTER_EIP, 0x6C12)                                              \
    X(HOST_RSP, 0x6C14)                                                       \
    X(HOST_RIP, 0x6C16)

#define VMX_VMCS_ENUM_FIELD(name, enc) VMCS_##name = (enc),
enum vmx_vmcs_field { VMX_VMCS_FIELDS(VMX_VMCS_ENUM_FIELD) };
#undef VMX_VMCS_ENUM_FIELD

/* Parts of an encoding (SDM Vol. 3C 24.11.2). */
#define VMX_ENC_HIGH 1u
#define VMX_ENC_INDEX(e) (((e) >> 1) & 0x1FFu)
#define VMX_ENC_TYPE(e) (((e) >> 10) & 3u)
#define VMX_ENC_WIDTH(e) (((e) >> 13) & 3u)
enum { VMX_TYPE_CONTROL = 0, VMX_TYPE_RO = 1, VMX_TYPE_GUEST = 2, VMX_TYPE_HOST = 3 };
enum { VMX_WIDTH_16 = 0, VMX_WIDTH_64 = 1, VMX_WIDTH_32 = 2, VMX_WIDTH_NATURAL = 3 };

/* ---- control bits (SDM Vol. 3C 24.6.1, 24.6.2, 24.7.1, 24.8.1) ---------- */

/* Pin-based VM-execution controls (field VMCS_PIN_CONTROLS). */
#define VMX_PIN_EXT_INTR_EXITING (1u << 0)
#define VMX_PIN_NMI_EXITING (1u << 3)
#define VMX_PIN_VIRTUAL_NMIS (1u << 5)
#define VMX_PIN_PREEMPT_TIMER (1u << 6)
#define VMX_PIN_POSTED_INTR (1u << 7)

/* Primary processor-based VM-execution controls (VMCS_PROC_CONTROLS). */
#define VMX_PROC_INTR_WINDOW (1u << 2)
#define VMX_PROC_TSC_OFFSET (1u << 3)
#define VMX_PROC_HLT (1u << 7)
#define VMX_PROC_INVLPG (1u << 9)
#define VMX_PROC_MWAIT (1u << 10)
#define VMX_PROC_RDPMC (1u << 11)
#define VMX_PROC_RDTSC (1u << 12)
#define VMX_PROC_CR3_LOAD (1u << 15)
#define VMX_PROC_CR3_STORE (1u << 16)
#define VMX_PROC_CR8_LOAD (1u << 19)
#define VMX_PROC_CR8_STORE (1u << 20)
#define VMX_PROC_TPR_SHADOW (1u << 21)
#define VMX_PROC_NMI_WINDOW (1u << 22)
#define VMX_PROC_MOV_DR (1u << 23)
#define VMX_PROC_UNCOND_IO (1u << 24)
#define VMX_PROC_IO_BITMAPS (1u << 25)
#define VMX_PROC_MTF (1u << 27)
#define VMX_PROC_MSR_BITMAPS (1u << 28)
#define VMX_PROC_MONITOR (1u << 29)
#define VMX_PROC_PAUSE (1u << 30)
#define VMX_PROC_SECONDARY (1u << 31)

/* Secondary processor-based VM-execution controls (VMCS_PROC_CONTROLS2).
 * With VMX_PROC_SECONDARY = 0 every one of them acts as 0 (SDM 24.6.2). */
#define VMX_PROC2_VIRT_APIC_ACCESS (1u << 0)
#define VMX_PROC2_EPT (1u << 1)
#define VMX_PROC2_DESC_TABLE (1u << 2)
#define VMX_PROC2_RDTSCP (1u << 3)
#define VMX_PROC2_VIRT_X2APIC (1u << 4)
#define VMX_PROC2_VPID (1u << 5)
#define VMX_PROC2_WBINVD (1u << 6)
#define VMX_PROC2_UNRESTRICTED (1u << 7)
#define VMX_PROC2_APIC_REG_VIRT (1u << 8)
#define VMX_PROC2_VIRT_INTR_DELIVERY (1u << 9)
#define VMX_PROC2_PAUSE_LOOP (1u << 10)
#define VMX_PROC2_RDRAND (1u << 11)
#define VMX_PROC2_INVPCID (1u << 12)
#define VMX_PROC2_VMFUNC (1u << 13)
#define VMX_PROC2_VMCS_SHADOW (1u << 14)
#define VMX_PROC2_ENCLS (1u << 15)
#define VMX_PROC2_RDSEED (1u << 16)
#define VMX_PROC2_PML (1u << 17)
#define VMX_PROC2_EPT_VE (1u << 18)
#define VMX_PROC2_CONCEAL_PT (1u << 19)
#define VMX_PROC2_XSAVES (1u << 20)
#define VMX_PROC2_MODE_BASED_EPT (1u << 22)
#define VMX_PROC2_TSC_SCALING (1u << 25)

/* VM-exit controls (VMCS_EXIT_CONTROLS). */
#define VMX_EXIT_SAVE_DEBUG (1u << 2)
#define VMX_EXIT_HOST_ADDR_SPACE (1u << 9)
#define VMX_EXIT_LOAD_PERF_GLOBAL (1u << 12)
#define VMX_EXIT_ACK_INTR (1u << 15)
#define VMX_EXIT_SAVE_PAT (1u << 18)
#define VMX_EXIT_LOAD_PAT (1u << 19)
#define VMX_EXIT_SAVE_EFER (1u << 20)
#define VMX_EXIT_LOAD_EFER (1u << 21)
#define VMX_EXIT_SAVE_PREEMPT_TIMER (1u << 22)
#define VMX_EXIT_CLEAR_BNDCFGS (1u << 23)
#define VMX_EXIT_CONCEAL_PT (1u << 24)

/* Pending debug exceptions field (SDM 24.4.2): B3-B0 (3:0), enabled
 * breakpoint (12), BS (14); the RTM bit (16) is reserved here (no RTM). */
#define VMX_PENDING_DBG_BITS 0x500Fu

/* VM-entry controls (VMCS_ENTRY_CONTROLS). */
#define VMX_ENTRY_LOAD_DEBUG (1u << 2)
#define VMX_ENTRY_IA32E (1u << 9)
#define VMX_ENTRY_SMM (1u << 10)
#define VMX_ENTRY_DEACT_DUAL_MONITOR (1u << 11)
#define VMX_ENTRY_LOAD_PERF_GLOBAL (1u << 13)
#define VMX_ENTRY_LOAD_PAT (1u << 14)
#define VMX_ENTRY_LOAD_EFER (1u << 15)
#define VMX_ENTRY_LOAD_BNDCFGS (1u << 16)
#define VMX_ENTRY_CONCEAL_PT (1u << 17)

/* Interruption-information fields (entry 24.8.3, exit 24.9.2, IDT-vectoring
 * 24.9.3): vector 7:0, type 10:8, error code valid 11, NMI unblocking due to
 * IRET 12 (exit/IDT forms), valid 31. */
#define VMX_INTR_INFO_VECTOR_MASK 0xFFu
#define VMX_INTR_INFO_TYPE_SHIFT 8
#define VMX_INTR_INFO_TYPE_MASK (7u << 8)
#define VMX_INTR_INFO_ERROR_VALID (1u << 11)
#define VMX_INTR_INFO_NMI_UNBLOCK (1u << 12)
#define VMX_INTR_INFO_VALID (1u << 31)
enum vmx_intr_type {
    VMX_INTR_TYPE_EXT = 0,
    VMX_INTR_TYPE_NMI = 2,
    VMX_INTR_TYPE_HW_EXC = 3,
    VMX_INTR_TYPE_SOFT_INT = 4,
    VMX_INTR_TYPE_PRIV_SOFT_EXC = 5,
    VMX_INTR_TYPE_SOFT_EXC = 6,
    VMX_INTR_TYPE_OTHER = 7,
};

/* Guest interruptibility state (SDM 24.4.2 table 24-3). */
#define VMX_INTERRUPTIBILITY_STI (1u << 0)
#define VMX_INTERRUPTIBILITY_MOV_SS (1u << 1)
#define VMX_INTERRUPTIBILITY_SMI (1u << 2)
#define VMX_INTERRUPTIBILITY_NMI (1u << 3)
#define VMX_INTERRUPTIBILITY_ENCLAVE (1u << 4)

/* Guest activity state (SDM 24.4.2). */
enum { VMX_ACTIVITY_ACTIVE = 0, VMX_ACTIVITY_HLT = 1, VMX_ACTIVITY_SHUTDOWN = 2, VMX_ACTIVITY_WAIT_SIPI = 3 };

/* Guest interrupt status (0x0810): RVI bits 7:0, SVI bits 15:8 (SDM 24.4.2).
 * The one place where RVI and SVI live, for vmx/ and vmx_apicv*.c alike. */
#define VMX_RVI(status) ((uint8_t)((status) & 0xFF))
#define VMX_SVI(status) ((uint8_t)(((status) >> 8) & 0xFF))
#define VMX_INTR_STATUS(rvi, svi) ((uint16_t)(((unsigned)(svi) << 8) | (uint8_t)(rvi)))

/* Exit reason field: basic reason 15:0, VM-entry failure bit 31 (SDM 24.9.1). */
#define VMX_EXIT_REASON_BASIC_MASK 0xFFFFu
#define VMX_EXIT_REASON_ENTRY_FAIL (1u << 31)

/* ---- basic exit reasons (SDM Vol. 3D appendix C) ------------------------- */
enum vmx_exit_reason {
    VMX_EXIT_EXCEPTION_NMI = 0,
    VMX_EXIT_EXTERNAL_INTERRUPT = 1,
    VMX_EXIT_TRIPLE_FAULT = 2,
    VMX_EXIT_INIT = 3,
    VMX_EXIT_SIPI = 4,
    VMX_EXIT_IO_SMI = 5,
    VMX_EXIT_OTHER_SMI = 6,
    VMX_EXIT_INTERRUPT_WINDOW = 7,
    VMX_EXIT_NMI_WINDOW = 8,
    VMX_EXIT_TASK_SWITCH = 9,
    VMX_EXIT_CPUID = 10,
    VMX_EXIT_GETSEC = 11,
    VMX_EXIT_HLT = 12,
    VMX_EXIT_INVD = 13,
    VMX_EXIT_INVLPG = 14,
    VMX_EXIT_RDPMC = 15,
    VMX_EXIT_RDTSC = 16,
    VMX_EXIT_RSM = 17,
    VMX_EXIT_VMCALL = 18,
    VMX_EXIT_VMCLEAR = 19,
    VMX_EXIT_VMLAUNCH = 20,
    VMX_EXIT_VMPTRLD = 21,
    VMX_EXIT_VMPTRST = 22,
    VMX_EXIT_VMREAD = 23,
    VMX_EXIT_VMRESUME = 24,
    VMX_EXIT_VMWRITE = 25,
    VMX_EXIT_VMXOFF = 26,
    VMX_EXIT_VMXON = 27,
    VMX_EXIT_CR_ACCESS = 28,
    VMX_EXIT_DR_ACCESS = 29,
    VMX_EXIT_IO = 30,
    VMX_EXIT_RDMSR = 31,
    VMX_EXIT_WRMSR = 32,
    VMX_EXIT_ENTRY_FAIL_GUEST = 33,
    VMX_EXIT_ENTRY_FAIL_MSR = 34,
    VMX_EXIT_MWAIT = 36,
    VMX_EXIT_MTF = 37,
    VMX_EXIT_MONITOR = 39,
    VMX_EXIT_PAUSE = 40,
    VMX_EXIT_ENTRY_FAIL_MCE = 41,
    VMX_EXIT_TPR_BELOW_THRESHOLD = 43,
    VMX_EXIT_APIC_ACCESS = 44,
    VMX_EXIT_VIRTUALIZED_EOI = 45,
    VMX_EXIT_GDTR_IDTR = 46,
    VMX_EXIT_LDTR_TR = 47,
    VMX_EXIT_EPT_VIOLATION = 48,
    VMX_EXIT_EPT_MISCONFIG = 49,
    VMX_EXIT_INVEPT = 50,
    VMX_EXIT_RDTSCP = 51,
    VMX_EXIT_PREEMPT_TIMER = 52,
    VMX_EXIT_INVVPID = 53,
    VMX_EXIT_WBINVD = 54,
    VMX_EXIT_XSETBV = 55,
    VMX_EXIT_APIC_WRITE = 56,
    VMX_EXIT_RDRAND = 57,
    VMX_EXIT_INVPCID = 58,
    VMX_EXIT_VMFUNC = 59,
    VMX_EXIT_ENCLS = 60,
    VMX_EXIT_RDSEED = 61,
    VMX_EXIT_PML_FULL = 62,
    VMX_EXIT_XSAVES = 63,
    VMX_EXIT_XRSTORS = 64,
    VMX_EXIT_SPP_EVENT = 66,
    VMX_EXIT_UMWAIT = 67,
    VMX_EXIT_TPAUSE = 68,
    VMX_EXIT_NREASONS = 69,
};

/* ---- VM-instruction error numbers (SDM Vol. 3C 30.4) --------------------- */
enum vmx_insn_error {
    VMX_ERR_NONE = 0,
    VMX_ERR_VMCALL_ROOT = 1,
    VMX_ERR_VMCLEAR_INVALID_ADDR = 2,
    VMX_ERR_VMCLEAR_VMXON_PTR = 3,
    VMX_ERR_VMLAUNCH_NOT_CLEAR = 4,
    VMX_ERR_VMRESUME_NOT_LAUNCHED = 5,
    VMX_ERR_VMRESUME_AFTER_VMXOFF = 6,
    VMX_ERR_ENTRY_INVALID_CONTROL = 7,
    VMX_ERR_ENTRY_INVALID_HOST = 8,
    VMX_ERR_VMPTRLD_INVALID_ADDR = 9,
    VMX_ERR_VMPTRLD_VMXON_PTR = 10,
    VMX_ERR_VMPTRLD_BAD_REVISION = 11,
    VMX_ERR_UNSUPPORTED_FIELD = 12,
    VMX_ERR_WRITE_READONLY = 13,
    VMX_ERR_VMXON_IN_ROOT = 15,
    VMX_ERR_ENTRY_INVALID_EXEC_VMCS = 16,
    VMX_ERR_ENTRY_NONLAUNCHED_EXEC_VMCS = 17,
    VMX_ERR_ENTRY_EXEC_VMCS_NOT_VMXON = 18,
    VMX_ERR_VMCALL_NOT_CLEAR = 19,
    VMX_ERR_VMCALL_INVALID_EXIT_CONTROL = 20,
    VMX_ERR_VMCALL_BAD_MSEG_REVISION = 22,
    VMX_ERR_VMXOFF_DUAL_MONITOR = 23,
    VMX_ERR_VMCALL_BAD_SMM_FEATURES = 24,
    VMX_ERR_ENTRY_INVALID_EXEC_CONTROL_EXEC_VMCS = 25,
    VMX_ERR_ENTRY_MOV_SS = 26,
    VMX_ERR_INVALID_INVEPT_OPERAND = 28,
};

/* ---- storage ------------------------------------------------------------- */

/* Slot of a field in vmx_vmcs.field: (width, type, index) with index < 32
 * (the highest index any field uses is 0x19). */
#define VMX_VMCS_SLOT(enc) \
    (((((enc) >> 13) & 3u) << 7) | ((((enc) >> 10) & 3u) << 5) | (((enc) >> 1) & 0x1Fu))
#define VMX_VMCS_NSLOTS 512

/* Launch state of a VMCS (SDM 24.1): clear after VMCLEAR, launched after a
 * successful VMLAUNCH. */
enum { VMX_LAUNCH_CLEAR = 0, VMX_LAUNCH_LAUNCHED = 1 };

/* Groups of VM-entry checks whose outcome depends on VMCS fields alone
 * (vmx_vmcs.checked): the control-field checks but the VTPR comparison
 * (SDM 26.2.1, which reads the virtual-APIC page), the host-state checks
 * (26.2.2-26.2.4), and the guest's register and segment checks (26.3.1.1-
 * 26.3.1.3). The guest's RIP, RFLAGS and non-register state (26.3.1.4,
 * 26.3.1.5) and the PDPTEs (26.3.1.6, in memory without EPT) are checked
 * at every entry. */
enum { VMX_CHECKED_CONTROLS = 1u, VMX_CHECKED_HOST = 2u, VMX_CHECKED_GUEST = 4u };

typedef struct vmx_vmcs {
    uint32_t revision;     /* VMCS revision identifier (IA32_VMX_BASIC 30:0) */
    uint32_t abort;        /* VMX-abort indicator */
    uint32_t launch_state; /* VMX_LAUNCH_* */
    /* VMX_CHECKED_* groups that passed at a VM entry with the values the
     * fields hold now: every store that changes a field those checks read
     * clears its groups (vmx_vmcs_checks_of), so an entry skips only
     * checks whose every input is what it was when they passed. */
    uint32_t checked;
    uint64_t field[VMX_VMCS_NSLOTS]; /* one full-width value per field, by VMX_VMCS_SLOT */
} vmx_vmcs;

/* The VMX_CHECKED_* groups a change of field enc invalidates: a control
 * field every group (the host and guest checks read controls too), a
 * host-state field the host checks, a guest-state field the guest checks
 * unless it is one of those checked at every entry (RIP, RSP, RFLAGS,
 * interruptibility, activity, pending debug exceptions, the interrupt
 * status, the preemption-timer value: vmx_check_guest_regs and
 * vmx_check_guest_segments read none of them); VM-exit information none
 * (no check reads it). */
static inline uint32_t vmx_vmcs_checks_of(uint32_t enc)
{
    switch (VMX_ENC_TYPE(enc)) {
    case VMX_TYPE_CONTROL: return VMX_CHECKED_CONTROLS | VMX_CHECKED_HOST | VMX_CHECKED_GUEST;
    case VMX_TYPE_HOST: return VMX_CHECKED_HOST;
    case VMX_TYPE_GUEST:
        switch (enc & ~1u) {
        case VMCS_GUEST_RIP:
        case VMCS_GUEST_RSP:
        case VMCS_GUEST_RFLAGS:
        case VMCS_GUEST_INTERRUPTIBILITY:
        case VMCS_GUEST_ACTIVITY_STATE:
        case VMCS_GUEST_PENDING_DBG:
        case VMCS_GUEST_INTR_STATUS:
        case VMCS_PREEMPT_TIMER_VALUE:
            return 0;
        default: return VMX_CHECKED_GUEST;
        }
    default: return 0;
    }
}

/* Clears every field and sets the launch state to clear (VMCLEAR). */
void vmx_vmcs_clear(vmx_vmcs *v);

/* True when enc names a field this implementation supports (a valid
 * encoding from the table above, with the high form allowed only for 64-bit
 * fields). */
bool vmx_vmcs_field_valid(uint32_t enc);
/* True for the VM-exit information fields (type 1). */
bool vmx_vmcs_field_readonly(uint32_t enc);
/* Width in bits of the value read or written through enc: 16, 32, 64; a
 * natural-width field is 64; a "high" access is 32. 0 when invalid. */
unsigned vmx_vmcs_field_width(uint32_t enc);
/* "GUEST_RIP", "EOI_EXIT_BITMAP0_HIGH", ...; NULL when invalid. */
const char *vmx_vmcs_field_name(uint32_t enc);

/* Raw access for the hypervisor and the processor itself: no read-only
 * rule, values truncated to the field width; a "high" encoding accesses
 * bits 63:32 of its field. Invalid encodings read 0 and ignore writes. */
uint64_t vmx_vmcs_get(const vmx_vmcs *v, uint32_t enc);
void vmx_vmcs_set(vmx_vmcs *v, uint32_t enc, uint64_t val);

/* Field access without any checks on a valid full encoding: the hot path of
 * vmx/ (enc must be a constant VMCS_* full encoding). */
static inline uint64_t vmx_vmcs_read_fast(const vmx_vmcs *v, uint32_t enc)
{
    return v->field[VMX_VMCS_SLOT(enc)];
}

/* The bits a full field of encoding enc holds (its width). */
static inline uint64_t vmx_vmcs_width_mask(uint32_t enc)
{
    return VMX_ENC_WIDTH(enc) == VMX_WIDTH_16   ? 0xFFFFull
           : VMX_ENC_WIDTH(enc) == VMX_WIDTH_32 ? 0xFFFFFFFFull
                                                : ~0ull;
}

/* Field store without checks on a valid full encoding, truncated to the
 * field's width: the processor's own writes (saving guest state at a VM
 * exit, the exit information), where vmx_vmcs_set's lookup would cost
 * more than the store. */
static inline void vmx_vmcs_write_fast(vmx_vmcs *v, uint32_t enc, uint64_t val)
{
    uint64_t *f = &v->field[VMX_VMCS_SLOT(enc)], nv = val & vmx_vmcs_width_mask(enc);
    if (*f != nv) {
        *f = nv;
        v->checked &= ~vmx_vmcs_checks_of(enc);
    }
}

/* What VMREAD through a valid encoding enc returns of a field whose full
 * value is full: bits 63:32 for a "high" access (SDM 24.11.2). */
static inline uint64_t vmx_field_read_value(uint32_t enc, uint64_t full)
{
    return (enc & VMX_ENC_HIGH) ? full >> 32 : full;
}

/* The full value of a field after VMWRITE of val through a valid encoding
 * enc: a "high" access replaces bits 63:32 with val[31:0], a full one
 * keeps the field's width of val (SDM 30.3 VMWRITE). */
static inline uint64_t vmx_field_write_value(uint32_t enc, uint64_t full, uint64_t val)
{
    if (enc & VMX_ENC_HIGH)
        return (full & 0xFFFFFFFFull) | (val << 32);
    return val & vmx_vmcs_width_mask(enc);
}

/*
 * VMREAD / VMWRITE as the instructions define them (SDM Vol. 3C 30.3), with a
 * 64-bit operand (64-bit mode). Return the VM-instruction error: 0 on
 * success (VMsucceed), VMX_ERR_UNSUPPORTED_FIELD (12) when enc is not a
 * supported field or has bits 63:32 set. These assume IA32_VMX_MISC bit 29
 * = 1: VMWRITE may write any supported field, the VM-exit information
 * fields included; vmx_vcpu_vmwrite adds error 13 for a CPU model with bit
 * 29 = 0 (vmx_vcpu.vmwrite_ro_fails). VMREAD of a 16/32-bit field zero-extends; VMREAD of a high encoding
 * returns bits 63:32 of the field in bits 31:0; VMWRITE stores the low
 * width bits of val (a high encoding stores val[31:0] into bits 63:32).
 * vmx_vmwrite also records the error in VMCS_VM_INSN_ERROR when it fails
 * (VMfailValid).
 */
unsigned vmx_vmread(const vmx_vmcs *v, uint64_t enc, uint64_t *val);
unsigned vmx_vmwrite(vmx_vmcs *v, uint64_t enc, uint64_t val);
/* vmx_vmwrite that also gives the value read through enc before and after
 * the write (for the VMWRITE event), with one validation of enc. */
unsigned vmx_vmwrite_seen(vmx_vmcs *v, uint64_t enc, uint64_t val, uint64_t *before,
                          uint64_t *after);

/* "EXTERNAL_INTERRUPT", "CPUID", ...; "UNKNOWN" for reserved numbers.
 * Accepts a full exit reason (bits 15:0 are used). */
const char *vmx_exit_reason_name(unsigned reason);
/* Text of a VM-instruction error number ("invalid control field(s)", ...). */
const char *vmx_insn_error_name(unsigned err);

#endif
