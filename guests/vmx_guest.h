/*
 * vmx_guest.h — what a guest program needs to be a hypervisor itself in
 * `--mode native` (docs/vmx.md "VMX root operation for guest code"): the
 * VMX instructions as C functions that return how they ended (SDM Vol. 3C
 * 30.2 "Conventions": VMsucceed, VMfailInvalid = CF, VMfailValid = ZF) or
 * which exception they raised, field encodings (SDM Vol. 3D appendix B),
 * and a VMCS set-up that runs a 64-bit guest on the runtime's own page
 * tables, GDT and IDT. Used by vmx_insns.c and vmx_teach.c.
 */
#ifndef APICV_GUEST_VMX_H
#define APICV_GUEST_VMX_H

#include "guest.h"

/* ---- how an instruction ended ------------------------------------------- */

enum { VX_OK = 0, VX_FAIL_INVALID = 1, VX_FAIL_VALID = 2 };
/* An exception instead: VX_FAULT | vector. */
#define VX_FAULT 0x100
#define VX_UD (VX_FAULT | 6)
#define VX_GP (VX_FAULT | 13)
#define VX_SS (VX_FAULT | 12)

/* The fault fix-up: an instruction run through the wrappers below that
 * raises #UD, #SS, #GP or #PF resumes after itself (vx_trap). */
static volatile uint64_t vx_fixup;
static volatile int vx_vector = -1;

static void vx_trap(struct guest_frame *f)
{
    if (!vx_fixup) {
        printf("unexpected %s at %#lx\n", guest_vector_name((unsigned)f->vector), f->rip);
        guest_exit(GUEST_FAIL);
    }
    vx_vector = (int)f->vector;
    f->rip = vx_fixup;
    vx_fixup = 0;
}

static inline void vx_catch_faults(void)
{
    register_handler(6, vx_trap);
    register_handler(12, vx_trap);
    register_handler(13, vx_trap);
    register_handler(14, vx_trap);
}

static inline int vx_result(uint64_t rflags)
{
    if (vx_vector >= 0)
        return VX_FAULT | vx_vector;
    return (rflags & 1) ? VX_FAIL_INVALID : (rflags & 0x40) ? VX_FAIL_VALID : VX_OK;
}

/* Runs one instruction (asm text with operands %2...) and yields its result. */
#define VX_INSN(text, ...)                                                                     \
    ({                                                                                         \
        uint64_t vx_f_;                                                                        \
        vx_vector = -1;                                                                        \
        __asm__ volatile("leaq 1f(%%rip), %%r11\n\tmovq %%r11, %1\n\t" text "\n1:\tpushfq\n\tpopq %0" \
                         : "=r"(vx_f_), "=m"(vx_fixup)__VA_ARGS__);                            \
        vx_fixup = 0;                                                                          \
        vx_result(vx_f_);                                                                      \
    })
#define VX_CLOBBERS "r11", "cc", "memory"

static inline int vmxon(uint64_t pa) { return VX_INSN("vmxon %2", : "m"(pa) : VX_CLOBBERS); }
static inline int vmxoff(void) { return VX_INSN("vmxoff", : : VX_CLOBBERS); }
static inline int vmclear(uint64_t pa) { return VX_INSN("vmclear %2", : "m"(pa) : VX_CLOBBERS); }
static inline int vmptrld(uint64_t pa) { return VX_INSN("vmptrld %2", : "m"(pa) : VX_CLOBBERS); }
static inline int vmptrst(uint64_t *pa) { return VX_INSN("vmptrst %2", : "m"(*pa) : VX_CLOBBERS); }
static inline int vmcall_root(void) { return VX_INSN("vmcall", : : VX_CLOBBERS); }
static inline int vmlaunch(void) { return VX_INSN("vmlaunch", : : VX_CLOBBERS); }
static inline int vmresume(void) { return VX_INSN("vmresume", : : VX_CLOBBERS); }
/* VMREAD with a register destination, VMWRITE with a register source. */
static inline int vmread_r(uint64_t field, uint64_t *val)
{
    uint64_t v = 0;
    int r = VX_INSN("vmread %3, %2", , "+r"(v) : "r"(field) : VX_CLOBBERS);
    *val = v;
    return r;
}
static inline int vmwrite_r(uint64_t field, uint64_t val)
{
    return VX_INSN("vmwrite %3, %2", : "r"(field), "r"(val) : VX_CLOBBERS);
}
/* The memory forms. */
static inline int vmread_m(uint64_t field, uint64_t *mem)
{
    return VX_INSN("vmread %2, %3", : "r"(field), "m"(*mem) : VX_CLOBBERS);
}
static inline int vmwrite_m(uint64_t field, const uint64_t *mem)
{
    return VX_INSN("vmwrite %3, %2", : "r"(field), "m"(*mem) : VX_CLOBBERS);
}
static inline int invept(uint64_t type, uint64_t eptp)
{
    uint64_t desc[2] = {eptp, 0};
    return VX_INSN("invept %3, %2", : "r"(type), "m"(desc) : VX_CLOBBERS);
}
/* The INVVPID descriptor (SDM 30.3): VPID in bits 15:0 (63:16 reserved),
 * the linear address in bits 127:64. */
static inline int invvpid(uint64_t type, uint64_t vpid, uint64_t addr)
{
    uint64_t desc[2] = {vpid, addr};
    return VX_INSN("invvpid %3, %2", : "r"(type), "m"(desc) : VX_CLOBBERS);
}
/* INVVPID and VMPTRLD with the operand at linear address `la`, addressed
 * through RSP (a stack reference: a non-canonical one is #SS(0)) or through
 * another base register (#GP(0)), SDM 31.3 "64-Bit Mode Exceptions". */
static inline int invvpid_at(uint64_t type, uint64_t la, int via_rsp)
{
    if (via_rsp)
        return VX_INSN("movq %3, %%r10\n\tsubq %%rsp, %%r10\n\tinvvpid (%%rsp,%%r10,1), %2",
                       : "r"(type), "r"(la) : "r10", VX_CLOBBERS);
    return VX_INSN("invvpid (%3), %2", : "r"(type), "r"(la) : VX_CLOBBERS);
}
static inline int vmptrld_at(uint64_t la, int via_rsp)
{
    if (via_rsp)
        return VX_INSN("movq %2, %%r10\n\tsubq %%rsp, %%r10\n\tvmptrld (%%rsp,%%r10,1)",
                       : "r"(la) : "r10", VX_CLOBBERS);
    return VX_INSN("vmptrld (%2)", : "r"(la) : VX_CLOBBERS);
}
/* Instructions that are not VMX instructions: VX_OK or the fault (their
 * RFLAGS mean nothing here). */
#define VX_FAULT_ONLY(r) ((r) & VX_FAULT ? (r) : VX_OK)
static inline int wrmsr_try(uint32_t msr, uint64_t v)
{
    int r = VX_INSN("wrmsr", : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : VX_CLOBBERS);
    return VX_FAULT_ONLY(r);
}
static inline int write_cr4_try(uint64_t v)
{
    int r = VX_INSN("mov %2, %%cr4", : "r"(v) : VX_CLOBBERS);
    return VX_FAULT_ONLY(r);
}
static inline int write_cr0_try(uint64_t v)
{
    int r = VX_INSN("mov %2, %%cr0", : "r"(v) : VX_CLOBBERS);
    return VX_FAULT_ONLY(r);
}

/* VMREAD and VMWRITE that must succeed, written as a VMM's accessors are
 * (KVM's vmcs_readl/vmcs_writel): the instruction and a JBE to the
 * failure path, since VMfailInvalid sets CF and VMfailValid ZF (SDM Vol.
 * 3C 31.2). No fault fix-up: an exception here is an unexpected one, and
 * vx_trap ends the run with it. They are the exit path's instructions, so
 * every guest instruction counts (docs/vmx.md "Speed"). */
static __attribute__((noinline, cold, noreturn)) void vx_accessor_failed(const char *insn,
                                                                         uint64_t field)
{
    uint64_t err = 0;
    if (vmread_r(0x4400 /* VM-instruction error */, &err) == VX_OK)
        printf("%s %#lx: VMfailValid, VM-instruction error %lu\n", insn, field, err);
    else
        printf("%s %#lx: VMfailInvalid (no current VMCS)\n", insn, field);
    guest_exit(GUEST_FAIL);
}
static inline uint64_t vmr(uint64_t field)
{
    uint64_t v;
    __asm__ goto("vmread %1, %0\n\tjbe %l[failed]" : "=r"(v) : "r"(field) : "cc" : failed);
    return v;
failed:
    vx_accessor_failed("VMREAD", field);
}
static inline void vmw(uint64_t field, uint64_t val)
{
    __asm__ goto("vmwrite %1, %0\n\tjbe %l[failed]" : : "r"(field), "rm"(val) : "cc", "memory"
                 : failed);
    return;
failed:
    vx_accessor_failed("VMWRITE", field);
}

/* ---- MSRs, field encodings and controls (SDM Vol. 3D A, B; 3C 24) --------- */

#define MSR_FEATURE_CONTROL 0x3Au
#define MSR_VMX_BASIC 0x480u
#define MSR_VMX_MISC 0x485u
#define MSR_VMX_CR0_FIXED0 0x486u
#define MSR_VMX_CR0_FIXED1 0x487u
#define MSR_VMX_CR4_FIXED0 0x488u
#define MSR_VMX_CR4_FIXED1 0x489u
#define MSR_VMX_PROCBASED_CTLS2 0x48Bu
#define MSR_VMX_EPT_VPID_CAP 0x48Cu
#define MSR_VMX_TRUE_PINBASED 0x48Du
#define MSR_VMX_TRUE_PROCBASED 0x48Eu
#define MSR_VMX_TRUE_EXIT 0x48Fu
#define MSR_VMX_TRUE_ENTRY 0x490u
#define CR4_VMXE (1u << 13)

enum {
    F_VPID = 0x0000, F_GUEST_ES_SEL = 0x0800, F_GUEST_CS_SEL = 0x0802, F_GUEST_SS_SEL = 0x0804,
    F_GUEST_DS_SEL = 0x0806, F_GUEST_FS_SEL = 0x0808, F_GUEST_GS_SEL = 0x080A,
    F_GUEST_LDTR_SEL = 0x080C, F_GUEST_TR_SEL = 0x080E, F_GUEST_INTR_STATUS = 0x0810,
    F_HOST_ES_SEL = 0x0C00, F_HOST_CS_SEL = 0x0C02, F_HOST_SS_SEL = 0x0C04, F_HOST_DS_SEL = 0x0C06,
    F_HOST_FS_SEL = 0x0C08, F_HOST_GS_SEL = 0x0C0A, F_HOST_TR_SEL = 0x0C0C,
    F_MSR_BITMAP = 0x2004, F_EXIT_MSR_STORE_ADDR = 0x2006, F_EXIT_MSR_LOAD_ADDR = 0x2008,
    F_ENTRY_MSR_LOAD_ADDR = 0x200A, F_VIRTUAL_APIC = 0x2012, F_EOI_EXIT0 = 0x201C, F_EOI_EXIT1 = 0x201E,
    F_EOI_EXIT2 = 0x2020, F_EOI_EXIT3 = 0x2022, F_LINK_PTR = 0x2800,
    F_PIN = 0x4000, F_PROC = 0x4002, F_EXC_BITMAP = 0x4004, F_EXIT_CTLS = 0x400C,
    F_EXIT_MSR_STORE_COUNT = 0x400E, F_EXIT_MSR_LOAD_COUNT = 0x4010, F_ENTRY_CTLS = 0x4012,
    F_ENTRY_MSR_LOAD_COUNT = 0x4014, F_ENTRY_INTR_INFO = 0x4016, F_TPR_THRESHOLD = 0x401C, F_PROC2 = 0x401E,
    F_VM_INSN_ERROR = 0x4400, F_EXIT_REASON = 0x4402, F_EXIT_INTR_INFO = 0x4404,
    F_EXIT_INSN_LEN = 0x440C,
    F_GUEST_ES_LIMIT = 0x4800, F_GUEST_ES_AR = 0x4814, F_GUEST_INTERRUPTIBILITY = 0x4824,
    F_GUEST_ACTIVITY = 0x4826, F_GUEST_GDTR_LIMIT = 0x4810, F_GUEST_IDTR_LIMIT = 0x4812,
    F_GUEST_SYSENTER_CS = 0x482A, F_HOST_SYSENTER_CS = 0x4C00,
    F_EXIT_QUAL = 0x6400,
    F_GUEST_CR0 = 0x6800, F_GUEST_CR3 = 0x6802, F_GUEST_CR4 = 0x6804, F_GUEST_ES_BASE = 0x6806,
    F_GUEST_GDTR_BASE = 0x6816, F_GUEST_IDTR_BASE = 0x6818, F_GUEST_DR7 = 0x681A,
    F_GUEST_RSP = 0x681C, F_GUEST_RIP = 0x681E, F_GUEST_RFLAGS = 0x6820,
    F_HOST_CR0 = 0x6C00, F_HOST_CR3 = 0x6C02, F_HOST_CR4 = 0x6C04, F_HOST_FS_BASE = 0x6C06,
    F_HOST_GS_BASE = 0x6C08, F_HOST_TR_BASE = 0x6C0A, F_HOST_GDTR_BASE = 0x6C0C,
    F_HOST_IDTR_BASE = 0x6C0E, F_HOST_RSP = 0x6C14, F_HOST_RIP = 0x6C16,
};

#define PIN_EXT_INTR (1u << 0)
#define PIN_NMI_EXITING (1u << 3)
#define PIN_POSTED (1u << 7)
#define PROC_HLT (1u << 7)
#define PROC_TPR_SHADOW (1u << 21)
#define PROC_MSR_BITMAPS (1u << 28)
#define PROC_SECONDARY (1u << 31)
#define PROC2_VIRT_X2APIC (1u << 4)
#define PROC2_VPID (1u << 5)
#define PROC2_APIC_REG_VIRT (1u << 8)
#define PROC2_VID (1u << 9)
#define EXIT_HOST_64 (1u << 9)
#define EXIT_ACK_INTR (1u << 15)
#define ENTRY_IA32E (1u << 9)

enum { X_EXTINT = 1, X_HLT = 12, X_VMCALL = 18, X_ENTRY_FAIL_GUEST = 33, X_ENTRY_FAIL_MSR = 34 };

/* A control word the TRUE capability MSR allows: its must-be-1 bits (low
 * half) and the wanted bits it allows (high half) (SDM Vol. 3D A.3-A.5). */
static inline uint32_t vx_ctls(uint32_t msr, uint32_t want)
{
    uint64_t cap = rdmsr(msr);
    return ((uint32_t)cap | want) & (uint32_t)(cap >> 32);
}

/* ---- a VMCS for a 64-bit guest on the runtime's own tables ------------------ */

/* What one CPU's hypervisor keeps for entering its guest and getting its
 * exits back (below, "entering the guest"): the guest's general registers
 * while the host runs (a VM exit leaves them in the CPU and loads only
 * RSP, RIP and RFLAGS from the host-state area, SDM 27.5.3), and the
 * HOST_RSP vx_enter wrote last. One per CPU, so that several CPUs can be
 * in VMX operation at once, each with its own VMCS. */
struct vx_gregs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
struct vx_cpu {
    struct vx_gregs gregs; /* offset 0 (vx_enter's assembly knows the layout) */
    uint64_t host_rsp;     /* offset 120 */
};
#define VX_MAX_CPUS 16
extern struct vx_cpu vx_cpus[VX_MAX_CPUS];

struct vx_dtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static inline struct vx_dtr vx_sidt(void)
{
    struct vx_dtr d;
    __asm__ volatile("sidt %0" : "=m"(d));
    return d;
}

static inline uint16_t vx_read_sel(int which)
{
    uint16_t s = 0;
    switch (which) {
    case 0: __asm__ volatile("mov %%cs, %0" : "=r"(s)); break;
    case 1: __asm__ volatile("mov %%ss, %0" : "=r"(s)); break;
    default: __asm__ volatile("str %0" : "=r"(s)); break;
    }
    return s;
}

/* Host-state area: this CPU as it is now (the runtime's GDT at 0x1000 with
 * TR 0x18 at 0x1080, guest ABI "Memory layout"), resuming at rip on the
 * stack rsp (SDM 24.5, checked by 26.2.2-26.2.4). */
static inline void vx_setup_host(struct vx_cpu *me, uint64_t rip, uint64_t rsp)
{
    struct vx_dtr idt = vx_sidt();
    vmw(F_HOST_CR0, read_cr0());
    vmw(F_HOST_CR3, read_cr3());
    vmw(F_HOST_CR4, read_cr4());
    vmw(F_HOST_CS_SEL, vx_read_sel(0));
    vmw(F_HOST_SS_SEL, vx_read_sel(1));
    vmw(F_HOST_DS_SEL, 0x10);
    vmw(F_HOST_ES_SEL, 0x10);
    vmw(F_HOST_FS_SEL, 0x10);
    vmw(F_HOST_GS_SEL, 0x10);
    vmw(F_HOST_TR_SEL, vx_read_sel(2));
    vmw(F_HOST_FS_BASE, 0);
    vmw(F_HOST_GS_BASE, 0);
    vmw(F_HOST_TR_BASE, 0x1080);
    vmw(F_HOST_GDTR_BASE, 0x1000);
    vmw(F_HOST_IDTR_BASE, idt.base);
    vmw(F_HOST_SYSENTER_CS, 0);
    vmw(F_HOST_RSP, rsp);
    vmw(F_HOST_RIP, rip);
    me->host_rsp = 0; /* vx_enter writes its own RSP and RIP again */
}

/* Guest-state area: a 64-bit CPL-0 guest sharing the host's CR0/CR3/CR4,
 * GDT and IDT, starting at rip with stack rsp, RFLAGS = 2 (SDM 24.4,
 * checked by 26.3.1). Access rights: CS 0xA09B (64-bit code), data 0xC093,
 * TR 0x8B (busy 64-bit TSS), LDTR unusable (bit 16). */
static inline void vx_setup_guest(uint64_t rip, uint64_t rsp)
{
    struct vx_dtr idt = vx_sidt();
    vmw(F_GUEST_CR0, read_cr0());
    vmw(F_GUEST_CR3, read_cr3());
    vmw(F_GUEST_CR4, read_cr4());
    for (unsigned s = 0; s < 6; s++) {
        unsigned cs = s == 1;
        vmw(F_GUEST_ES_SEL + 2 * s, cs ? 0x08 : 0x10);
        vmw(F_GUEST_ES_LIMIT + 2 * s, 0xFFFFFFFF);
        vmw(F_GUEST_ES_AR + 2 * s, cs ? 0xA09B : 0xC093);
        vmw(F_GUEST_ES_BASE + 2 * s, 0);
    }
    vmw(F_GUEST_LDTR_SEL, 0);
    vmw(F_GUEST_ES_AR + 12, 0x10000);
    vmw(F_GUEST_TR_SEL, 0x18);
    vmw(F_GUEST_ES_LIMIT + 14, 0x67);
    vmw(F_GUEST_ES_AR + 14, 0x8B);
    vmw(F_GUEST_ES_BASE + 14, 0x1080);
    vmw(F_GUEST_GDTR_BASE, 0x1000);
    vmw(F_GUEST_GDTR_LIMIT, 0x27);
    vmw(F_GUEST_IDTR_BASE, idt.base);
    vmw(F_GUEST_IDTR_LIMIT, idt.limit);
    vmw(F_GUEST_DR7, 0x400);
    vmw(F_GUEST_RSP, rsp);
    vmw(F_GUEST_RIP, rip);
    vmw(F_GUEST_RFLAGS, 2);
    vmw(F_GUEST_INTERRUPTIBILITY, 0);
    vmw(F_GUEST_ACTIVITY, 0);
    vmw(F_LINK_PTR, ~0ull);
}

/* Execution, exit and entry controls: the wanted bits on top of what the
 * TRUE capability MSRs require; a 64-bit host and guest. */
static inline void vx_setup_controls(uint32_t pin, uint32_t proc, uint32_t proc2, uint32_t exit)
{
    vmw(F_PIN, vx_ctls(MSR_VMX_TRUE_PINBASED, pin));
    vmw(F_PROC, vx_ctls(MSR_VMX_TRUE_PROCBASED, proc | (proc2 ? PROC_SECONDARY : 0)));
    if (proc2) {
        uint64_t cap = rdmsr(MSR_VMX_PROCBASED_CTLS2);
        vmw(F_PROC2, proc2 & (uint32_t)(cap >> 32));
    }
    vmw(F_EXIT_CTLS, vx_ctls(MSR_VMX_TRUE_EXIT, exit | EXIT_HOST_64));
    vmw(F_ENTRY_CTLS, vx_ctls(MSR_VMX_TRUE_ENTRY, ENTRY_IA32E));
}

/* ---- entering the guest and getting its exits back ------------------------ */

/* VMLAUNCH (launch != 0) or VMRESUME of the current VMCS, from the CPU
 * whose vx_cpu is me. The guest's registers are loaded from me->gregs;
 * HOST_RSP is set to this call's stack, where me is kept, and HOST_RIP to
 * vx_exit_landing, so a VM exit comes back here as if vx_enter returned 0,
 * with the guest's registers saved in me->gregs (HOST_RSP and HOST_RIP are
 * written only when the stack differs from me->host_rsp, the last one
 * written, as KVM does; vx_setup_host forgets it). A failed entry returns
 * RFLAGS with bit 63 set (CF: VMfailInvalid, ZF: VMfailValid). Top-level
 * assembly in VX_DEFINE_ENTER below, emitted once per program. */
uint64_t vx_enter(struct vx_cpu *me, int launch);
#define VX_ENTRY_FAILED (1ull << 63)

#define VX_DEFINE_ENTER                                                    \
    struct vx_cpu vx_cpus[VX_MAX_CPUS];                                    \
    __asm__(".text\n.globl vx_enter\nvx_enter:\n"                         \
            "push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\npush %r15\n" \
            "push %rdi\n"                                                  \
            "cmp 120(%rdi), %rsp\nje 3f\nmov %rsp, 120(%rdi)\n"            \
            "mov $0x6C14, %rax\nvmwrite %rsp, %rax\n"                      \
            "lea vx_exit_landing(%rip), %rdx\nmov $0x6C16, %rax\nvmwrite %rdx, %rax\n3:\n" \
            "test %esi, %esi\n"                                            \
            "mov 0(%rdi), %rax\nmov 8(%rdi), %rbx\n"                       \
            "mov 16(%rdi), %rcx\nmov 24(%rdi), %rdx\n"                     \
            "mov 32(%rdi), %rsi\nmov 48(%rdi), %rbp\n"                     \
            "mov 56(%rdi), %r8\nmov 64(%rdi), %r9\n"                       \
            "mov 72(%rdi), %r10\nmov 80(%rdi), %r11\n"                     \
            "mov 88(%rdi), %r12\nmov 96(%rdi), %r13\n"                     \
            "mov 104(%rdi), %r14\nmov 112(%rdi), %r15\n"                   \
            "mov 40(%rdi), %rdi\n"                                         \
            "jz 1f\nvmlaunch\njmp 2f\n1:\nvmresume\n"                      \
            "2:\npushfq\npop %rax\nbts $63, %rax\nadd $8, %rsp\n"          \
            "pop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\npop %rbx\nret\n" \
            ".globl vx_exit_landing\nvx_exit_landing:\n"                    \
            "push %rax\nmov 8(%rsp), %rax\n"                               \
            "mov %rbx, 8(%rax)\nmov %rcx, 16(%rax)\n"                      \
            "mov %rdx, 24(%rax)\nmov %rsi, 32(%rax)\n"                     \
            "mov %rdi, 40(%rax)\nmov %rbp, 48(%rax)\n"                     \
            "mov %r8, 56(%rax)\nmov %r9, 64(%rax)\n"                       \
            "mov %r10, 72(%rax)\nmov %r11, 80(%rax)\n"                     \
            "mov %r12, 88(%rax)\nmov %r13, 96(%rax)\n"                     \
            "mov %r14, 104(%rax)\nmov %r15, 112(%rax)\n"                   \
            "pop %rbx\nmov %rbx, 0(%rax)\n"                                \
            "xor %eax, %eax\nadd $8, %rsp\n"                               \
            "pop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\npop %rbx\nret\n")

/* Turns VMX on (SDM 23.7): CR4.VMXE, then VMXON with the revision
 * identifier of IA32_VMX_BASIC in the region's first dword. */
static inline int vx_enable(uint32_t *vmxon_region)
{
    __asm__ volatile("mov %0, %%cr4" ::"r"(read_cr4() | CR4_VMXE) : "memory");
    vmxon_region[0] = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    return vmxon((uint64_t)(uintptr_t)vmxon_region);
}

/* The counted checks of the programs that end with "NAME: OK <n> checks"
 * (vmx_insns, vmx_host, vmx_shadow): VX_DEFINE_CHECKS defines the counter
 * `checks` once per program, CHECK counts a condition and fails the run
 * with its line when it does not hold (GUEST_CHECK). */
#define VX_DEFINE_CHECKS static unsigned checks
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        GUEST_CHECK(cond);                                                                         \
    } while (0)

#endif
