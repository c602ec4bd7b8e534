/*
 * vmx_insns.c — every VMX instruction of VMX root operation, its success
 * and its failures, from a guest that is its own hypervisor (`--mode
 * native`, one CPU; docs/vmx.md "VMX root operation for guest code"):
 *
 *   capability MSRs and IA32_FEATURE_CONTROL (SDM 23.7, Vol. 3D A);
 *   #UD outside VMX operation, VMXON's #UD/#GP and VMfailInvalid cases;
 *   CR0/CR4 bits fixed in VMX operation (SDM 23.8);
 *   VMfailInvalid without a current VMCS, and VMfailValid with the
 *   VM-instruction error numbers 1-5, 7-12, 15, 26, 28 (SDM 30.4), and 13
 *   when IA32_VMX_MISC[29] = 0 (`--cpu max,-vmwrite-any`); a shadow VMCS
 *   made current;
 *   VMREAD/VMWRITE with register and memory operands, widths, high access;
 *   VMCLEAR/VMPTRLD round trips with two VMCSs and the region's contents,
 *   a launched VMCS written back and resumed, cleared while not current;
 *   VMLAUNCH/VMRESUME: a VM exit to the host state, launch states, entry
 *   failures (invalid control 7, invalid host state 8, invalid guest state
 *   = exit 33 with bit 31, MSR loading = exit 34 with bit 31);
 *   the VM-entry and VM-exit MSR lists;
 *   INVEPT types, INVVPID types and their VMfail(28) cases, VPID, VMXOFF.
 * Prints "vmx_insns: OK <n> checks" and exits 0 when every check holds.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;
/* This program's hypervisor runs on CPU 0 only. */
static struct vx_cpu *const me = &vx_cpus[0];

static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));
static uint32_t vmcs_a[1024] __attribute__((aligned(4096)));
static uint32_t vmcs_b[1024] __attribute__((aligned(4096)));
static uint32_t vmcs_bad[1024] __attribute__((aligned(4096)));
static uint8_t host_stack[8192] __attribute__((aligned(16)));
static uint64_t ept_pml4[512] __attribute__((aligned(4096)));
static uint64_t ept_pdpt[512] __attribute__((aligned(4096)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));
VX_DEFINE_CHECKS;

/* The VM-instruction error of the current VMCS. */
static uint64_t insn_error(void) { return vmr(F_VM_INSN_ERROR); }

#define PA(p) ((uint64_t)(uintptr_t)(p))

/* VMREAD to the memory at linear address la (through a base register). */
static int vmread_at(uint64_t field, uint64_t la)
{
    return VX_INSN("vmread %2, (%3)", : "r"(field), "r"(la) : VX_CLOBBERS);
}

/* The tiny guest: VMCALL for ever (the host never skips it here). */
__asm__(".text\n.globl vx_guest_loop\nvx_guest_loop:\nvmcall\njmp vx_guest_loop\n");
void vx_guest_loop(void);
/* A guest that writes CR8 (no TPR shadow, no CR8 exiting: the real TPR). */
__asm__(".text\n.globl vx_guest_cr8\nvx_guest_cr8:\nmov $5, %eax\nmov %rax, %cr8\nvmcall\n"
        "jmp vx_guest_cr8\n");
void vx_guest_cr8(void);

static void msrs_and_feature_control(void)
{
    uint32_t r[4];
    cpuid(1, 0, r);
    CHECK(r[2] & (1u << 5)); /* CPUID.1:ECX.VMX */
    CHECK(rdmsr(MSR_FEATURE_CONTROL) == 5); /* locked, VMXON outside SMX */
    CHECK(wrmsr_try(MSR_FEATURE_CONTROL, 5) == VX_GP); /* locked: #GP */
    uint64_t basic = rdmsr(MSR_VMX_BASIC);
    CHECK((basic & 0x7FFFFFFF) == 1);          /* revision identifier */
    CHECK(((basic >> 32) & 0x1FFF) == 4096);    /* region size */
    CHECK(((basic >> 50) & 0xF) == 6);          /* write-back */
    CHECK(basic & (1ull << 55));                /* TRUE capability MSRs */
    CHECK(rdmsr(MSR_VMX_CR0_FIXED0) == 0x80000021);
    CHECK(rdmsr(MSR_VMX_CR4_FIXED0) == CR4_VMXE);
    CHECK(rdmsr(MSR_VMX_TRUE_ENTRY) & ((uint64_t)ENTRY_IA32E << 32));
    CHECK((rdmsr(MSR_VMX_PROCBASED_CTLS2) >> 32) & PROC2_VID);
    CHECK(wrmsr_try(MSR_VMX_BASIC, basic) == VX_GP); /* read-only */
}

static void outside_vmx(void)
{
    uint64_t v;
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_UD);
    CHECK(vmptrld(PA(vmcs_a)) == VX_UD);
    CHECK(vmxoff() == VX_UD);
    CHECK(vmcall_root() == VX_UD);
    CHECK(vmlaunch() == VX_UD);
    /* VMXON with CR4.VMXE = 0 is #UD (SDM 30.3 VMXON). */
    CHECK(vmxon(PA(vmxon_region)) == VX_UD);
    __asm__ volatile("mov %0, %%cr4" ::"r"(read_cr4() | CR4_VMXE) : "memory");
    /* VMfailInvalid: misaligned, then a wrong revision identifier. */
    vmxon_region[0] = 1;
    CHECK(vmxon(PA(vmxon_region) + 8) == VX_FAIL_INVALID);
    vmxon_region[0] = 2;
    CHECK(vmxon(PA(vmxon_region)) == VX_FAIL_INVALID);
    /* Bit 31 of the revision set, and an address beyond MAXPHYADDR. */
    vmxon_region[0] = (uint32_t)rdmsr(MSR_VMX_BASIC) | 0x80000000u;
    CHECK(vmxon(PA(vmxon_region)) == VX_FAIL_INVALID);
    CHECK(vmxon(1ull << 45) == VX_FAIL_INVALID);
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_UD); /* still outside */
    vmxon_region[0] = (uint32_t)rdmsr(MSR_VMX_BASIC);
    CHECK(vmxon(PA(vmxon_region)) == VX_OK);
}

static void fixed_bits_and_no_vmcs(void)
{
    /* SDM 23.8: CR4.VMXE and CR0.NE/PE/PG cannot be cleared now. */
    CHECK(write_cr4_try(read_cr4() & ~(uint64_t)CR4_VMXE) == VX_GP);
    CHECK(write_cr0_try(read_cr0() & ~(uint64_t)(1u << 5)) == VX_GP);
    CHECK(read_cr4() & CR4_VMXE);
    /* CR4 bits the CPU supports stay writable in VMX operation (FIXED1). */
    CHECK(rdmsr(MSR_VMX_CR4_FIXED1) & (1u << 4));
    CHECK(write_cr4_try(read_cr4() | (1u << 4)) == VX_OK); /* PSE */
    CHECK(write_cr4_try(read_cr4() & ~(uint64_t)(1u << 4)) == VX_OK);
    /* No current VMCS: VMfailInvalid everywhere one is needed. */
    uint64_t p = 0;
    CHECK(vmptrst(&p) == VX_OK && p == ~0ull);
    uint64_t v;
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_FAIL_INVALID);
    /* VMREAD writes its memory destination only on success (SDM 31.3): a
     * non-canonical one is no #GP when it fails. */
    CHECK(vmread_at(F_GUEST_RIP, 0x8000000000000000ull) == VX_FAIL_INVALID);
    CHECK(vmwrite_r(F_GUEST_RIP, 1) == VX_FAIL_INVALID);
    CHECK(vmlaunch() == VX_FAIL_INVALID);
    CHECK(vmresume() == VX_FAIL_INVALID);
    CHECK(vmcall_root() == VX_FAIL_INVALID);
    CHECK(vmxon(PA(vmxon_region)) == VX_FAIL_INVALID);  /* VMfail(15) without VMCS */
    CHECK(vmclear(PA(vmcs_a) + 1) == VX_FAIL_INVALID);  /* VMfail(2) */
    CHECK(vmptrld(PA(vmxon_region)) == VX_FAIL_INVALID); /* VMfail(10) */
    CHECK(invvpid(2, 0, 0) == VX_OK);                    /* no VMCS needed */
    CHECK(invvpid(4, 0, 0) == VX_FAIL_INVALID);          /* VMfail(28) */
}

static void invvpid_types(void);

static void error_numbers(void)
{
    uint32_t rev = (uint32_t)rdmsr(MSR_VMX_BASIC);
    vmcs_a[0] = rev;
    vmcs_b[0] = rev;
    vmcs_bad[0] = rev + 1;
    CHECK(vmclear(PA(vmcs_a)) == VX_OK);
    CHECK(vmptrld(PA(vmcs_a)) == VX_OK);
    uint64_t p = 0, v;
    CHECK(vmptrst(&p) == VX_OK && p == PA(vmcs_a));
    /* SDM 30.4 error numbers, each through VMfailValid. */
    CHECK(vmcall_root() == VX_FAIL_VALID && insn_error() == 1);
    CHECK(vmclear(PA(vmcs_b) + 0x800) == VX_FAIL_VALID && insn_error() == 2);
    CHECK(vmclear(1ull << 45) == VX_FAIL_VALID && insn_error() == 2); /* beyond MAXPHYADDR */
    CHECK(vmclear(PA(vmxon_region)) == VX_FAIL_VALID && insn_error() == 3);
    CHECK(vmresume() == VX_FAIL_VALID && insn_error() == 5); /* clear, not launched */
    CHECK(vmlaunch() == VX_FAIL_VALID && insn_error() == 7);  /* an all-zero VMCS */
    CHECK(vmptrld(1ull << 45) == VX_FAIL_VALID && insn_error() == 9);
    CHECK(vmptrld(PA(vmxon_region)) == VX_FAIL_VALID && insn_error() == 10);
    CHECK(vmptrld(PA(vmcs_bad)) == VX_FAIL_VALID && insn_error() == 11);
    /* A shadow VMCS (bit 31, SDM 24.10) becomes current (VMCS shadowing
     * is supported) and takes VMWRITEs, but no VM entry: VMfailInvalid
     * (SDM 26.1 step 4). */
    vmcs_bad[0] = rev | 0x80000000u;
    CHECK(vmclear(PA(vmcs_bad)) == VX_OK);
    CHECK(vmptrld(PA(vmcs_bad)) == VX_OK);
    CHECK(vmwrite_r(F_GUEST_RIP, 0x1234) == VX_OK);
    CHECK(vmlaunch() == VX_FAIL_INVALID);
    CHECK(vmptrld(PA(vmcs_a)) == VX_OK);
    vmcs_bad[0] = rev + 1;
    CHECK(vmread_r(0x1234567, &v) == VX_FAIL_VALID && insn_error() == 12);
    CHECK(vmread_r(1ull << 32, &v) == VX_FAIL_VALID && insn_error() == 12);
    CHECK(vmread_at(0x1234567, 0x8000000000000000ull) == VX_FAIL_VALID && insn_error() == 12);
    CHECK(vmread_at(F_GUEST_RIP, 0x8000000000000000ull) == VX_GP); /* success: the write faults */
    CHECK(vmwrite_r(0x6C17, 0) == VX_FAIL_VALID && insn_error() == 12); /* high of a natural */
    /* SDM 30.3: IA32_VMX_MISC[29] = 1 (`--cpu max`): VMWRITE to a VM-exit
     * information field works; 0 (`--cpu max,-vmwrite-any`): it fails
     * with error 13 and leaves the field as it was. */
    if ((rdmsr(MSR_VMX_MISC) >> 29) & 1) {
        CHECK(vmwrite_r(F_EXIT_REASON, 5) == VX_OK);
        CHECK(vmread_r(F_EXIT_REASON, &v) == VX_OK && v == 5);
    } else {
        uint64_t was = 0;
        CHECK(vmread_r(F_EXIT_REASON, &was) == VX_OK);
        CHECK(vmwrite_r(F_EXIT_REASON, was + 5) == VX_FAIL_VALID && insn_error() == 13 &&
              vmread_r(F_EXIT_REASON, &v) == VX_OK && v == was);
    }
    CHECK(vmxon(PA(vmxon_region)) == VX_FAIL_VALID && insn_error() == 15);
    CHECK(invept(3, 0) == VX_FAIL_VALID && insn_error() == 28);
    CHECK(invept(1, 0x1000) == VX_FAIL_VALID && insn_error() == 28); /* UC, walk length 1 */
    CHECK(invept(1, 0x1000 | 0x1E) == VX_OK);
    CHECK(invept(2, 0) == VX_OK);
    invvpid_types();
    /* MOV SS blocking before VMLAUNCH: error 26. */
    int r = VX_INSN("mov %%ss, %%ax\n\tmov %%ax, %%ss\n\tvmlaunch", : : "rax", VX_CLOBBERS);
    CHECK(r == VX_FAIL_VALID && insn_error() == 26);
}

/* INVVPID (SDM 30.3): "enable VPID" may be 1 and IA32_VMX_EPT_VPID_CAP
 * reports INVVPID (bit 32) with all four types (40-43); each type's
 * operand rules give VMfailValid(28), valid descriptors VMsucceed. */
static void invvpid_types(void)
{
    uint64_t cap = rdmsr(MSR_VMX_EPT_VPID_CAP);
    CHECK(((rdmsr(MSR_VMX_PROCBASED_CTLS2) >> 32) & PROC2_VPID) != 0);
    CHECK((cap >> 32) & 1);
    CHECK(((cap >> 40) & 0xF) == 0xF);
    CHECK(invvpid(4, 1, 0) == VX_FAIL_VALID && insn_error() == 28);           /* no such type */
    CHECK(invvpid(2, 1ull << 16, 0) == VX_FAIL_VALID && insn_error() == 28);  /* bits 63:16 */
    CHECK(invvpid(0, 0, 0x1000) == VX_FAIL_VALID && insn_error() == 28);      /* VPID 0 */
    CHECK(invvpid(0, 1, 0x0000800000000000ull) == VX_FAIL_VALID && insn_error() == 28);
    CHECK(invvpid(0, 1, 0xFFFF800000001000ull) == VX_OK);                     /* individual address */
    CHECK(invvpid(1, 0, 0) == VX_FAIL_VALID && insn_error() == 28);
    CHECK(invvpid(1, 0xFFFF, 0) == VX_OK);                                    /* single context */
    CHECK(invvpid(2, 0, 0) == VX_OK);                                         /* all contexts */
    CHECK(invvpid(3, 0, 0) == VX_FAIL_VALID && insn_error() == 28);
    CHECK(invvpid(3, 7, 0) == VX_OK);                          /* single context, globals kept */
    /* A non-canonical operand address (SDM 31.3, 64-bit mode exceptions):
     * #SS(0) through RSP, #GP(0) through another base. */
    const uint64_t noncanon = 0x8000000000000000ull;
    CHECK(invvpid_at(2, noncanon, 1) == VX_SS);
    CHECK(invvpid_at(2, noncanon, 0) == VX_GP);
    CHECK(vmptrld_at(noncanon, 1) == VX_SS);
    CHECK(vmptrld_at(noncanon, 0) == VX_GP);
}

static void vmread_vmwrite(void)
{
    uint64_t v, mem = 0x1122334455667788ull;
    CHECK(vmwrite_r(F_GUEST_RIP, 0xABCDEF) == VX_OK);
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_OK && v == 0xABCDEF);
    CHECK(vmwrite_m(F_GUEST_RSP, &mem) == VX_OK);
    uint64_t out = 0;
    CHECK(vmread_m(F_GUEST_RSP, &out) == VX_OK && out == mem);
    /* 16-bit and 32-bit fields keep their width; VMREAD zero-extends. */
    CHECK(vmwrite_r(F_GUEST_CS_SEL, 0x12345) == VX_OK);
    CHECK(vmread_r(F_GUEST_CS_SEL, &v) == VX_OK && v == 0x2345);
    CHECK(vmwrite_r(F_TPR_THRESHOLD, ~0ull) == VX_OK);
    CHECK(vmread_r(F_TPR_THRESHOLD, &v) == VX_OK && v == 0xFFFFFFFFu);
    /* The high access of a 64-bit field is its bits 63:32 (SDM 24.11.2). */
    CHECK(vmwrite_r(F_LINK_PTR, 0x0000000500000006ull) == VX_OK);
    CHECK(vmread_r(F_LINK_PTR + 1, &v) == VX_OK && v == 5);
    CHECK(vmwrite_r(F_LINK_PTR + 1, 7) == VX_OK);
    CHECK(vmread_r(F_LINK_PTR, &v) == VX_OK && v == 0x0000000700000006ull);
    /* Read-only fields read fine. */
    CHECK(vmread_r(F_EXIT_REASON, &v) == VX_OK);
}

/* VMCLEAR writes the VMCS back: the region then holds its data (the
 * layout is the implementation's, docs/vmx.md: launch state at +8, the
 * fields from +16), VMPTRLD brings it back, two VMCSs stay apart. */
static void clear_and_load_round_trips(void)
{
    uint64_t v, p;
    CHECK(vmwrite_r(F_GUEST_RIP, 0x5A5A5A5A12345678ull) == VX_OK);
    CHECK(vmclear(PA(vmcs_a)) == VX_OK);
    CHECK(vmptrst(&p) == VX_OK && p == ~0ull);
    CHECK(vmcs_a[0] == (uint32_t)rdmsr(MSR_VMX_BASIC)); /* software's revision is kept */
    CHECK(vmcs_a[2] == 0);                               /* launch state clear */
    unsigned found = 0;
    for (unsigned k = 4; k + 1 < 1024; k += 2)
        found += vmcs_a[k] == 0x12345678u && vmcs_a[k + 1] == 0x5A5A5A5Au;
    CHECK(found == 1);
    CHECK(vmptrld(PA(vmcs_b)) == VX_OK);
    CHECK(vmwrite_r(F_GUEST_RIP, 0xB) == VX_OK);
    CHECK(vmptrld(PA(vmcs_a)) == VX_OK);
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_OK && v == 0x5A5A5A5A12345678ull);
    CHECK(vmptrld(PA(vmcs_b)) == VX_OK);
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_OK && v == 0xB);
    /* VMCLEAR of a VMCS that is not current leaves the current one. */
    CHECK(vmclear(PA(vmcs_a)) == VX_OK);
    CHECK(vmptrst(&p) == VX_OK && p == PA(vmcs_b));
    CHECK(vmclear(PA(vmcs_b)) == VX_OK);
}

/* EPT from the guest hypervisor's own tables (SDM 28.2): an identity map
 * of the first 4 GiB with 1-GiB pages, write-back, 4-level walk. Then
 * execute permission taken away: the guest's next fetch is an EPT
 * violation (48) with the fetch bit (2) in the qualification and the
 * guest-physical address of the fetch (SDM 27.2.1 table 27-7). */
static void ept(void)
{
    ept_pml4[0] = PA(ept_pdpt) | 7;
    for (uint64_t i = 0; i < 4; i++)
        ept_pdpt[i] = (i << 30) | (1u << 7) | (6u << 3) | 7;
    vmw(F_PROC, vmr(F_PROC) | PROC_SECONDARY);
    vmw(F_PROC2, 1u << 1); /* enable EPT */
    vmw(0x201A, PA(ept_pml4) | (3u << 3) | 6);
    vmw(F_GUEST_RIP, PA(vx_guest_loop));
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    ept_pdpt[0] &= ~4ull;
    CHECK(invept(2, 0) == VX_OK);
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == 48);
    CHECK(vmr(F_EXIT_QUAL) & 4);
    CHECK((vmr(0x2400) & ~0xFFFull) == (PA(vx_guest_loop) & ~0xFFFull));
    ept_pdpt[0] |= 4;
    vmw(F_PROC2, 0);
}

/* MSR lists with this hypervisor as the host (SDM 26.4, 27.4, 27.6): the
 * VM-entry list gives the guest its own IA32_KERNEL_GS_BASE and STAR, the
 * VM-exit MSR-store list saves them, the VM-exit MSR-load list puts the
 * host's back after the host state (without it the guest's stay, as on
 * hardware); a refused entry fails the VM entry as exit 34 with the entry
 * number; a misaligned area is an invalid control (26.2.1.2). */
#define MSR_STAR 0xC0000081u
#define MSR_FS_BASE 0xC0000100u
#define MSR_KERNEL_GS 0xC0000102u
#define GUEST_STAR 0x0023001000000000ull
static uint64_t entry_area[4] __attribute__((aligned(16)));
static uint64_t store_area[4] __attribute__((aligned(16)));
static uint64_t load_area[4] __attribute__((aligned(16)));

static void msr_lists(void)
{
    uint64_t host_kgs = rdmsr(MSR_KERNEL_GS), host_star = rdmsr(MSR_STAR);
    entry_area[0] = MSR_KERNEL_GS;
    entry_area[1] = 0x1234000;
    entry_area[2] = MSR_STAR;
    entry_area[3] = GUEST_STAR;
    store_area[0] = MSR_KERNEL_GS;
    store_area[2] = MSR_STAR;
    load_area[0] = MSR_KERNEL_GS;
    load_area[1] = host_kgs;
    load_area[2] = MSR_STAR;
    load_area[3] = host_star;
    vmw(F_ENTRY_MSR_LOAD_ADDR, PA(entry_area));
    vmw(F_ENTRY_MSR_LOAD_COUNT, 2);
    vmw(F_EXIT_MSR_STORE_ADDR, PA(store_area));
    vmw(F_EXIT_MSR_STORE_COUNT, 2);
    vmw(F_EXIT_MSR_LOAD_ADDR, PA(load_area));
    vmw(F_EXIT_MSR_LOAD_COUNT, 2);
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(store_area[1] == 0x1234000 && store_area[3] == GUEST_STAR);
    CHECK(store_area[0] == MSR_KERNEL_GS); /* the index stays */
    CHECK(rdmsr(MSR_KERNEL_GS) == host_kgs && rdmsr(MSR_STAR) == host_star);
    vmw(F_EXIT_MSR_LOAD_COUNT, 0);
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(rdmsr(MSR_KERNEL_GS) == 0x1234000 && rdmsr(MSR_STAR) == GUEST_STAR);
    wrmsr(MSR_KERNEL_GS, host_kgs);
    wrmsr(MSR_STAR, host_star);
    /* Entry 2 names IA32_FS_BASE, which no list may load. */
    entry_area[2] = MSR_FS_BASE;
    CHECK(vx_enter(me, 0) == 0);
    CHECK(vmr(F_EXIT_REASON) == (0x80000000u | X_ENTRY_FAIL_MSR) && vmr(F_EXIT_QUAL) == 2);
    CHECK(rdmsr(MSR_KERNEL_GS) == 0x1234000); /* entry 1 was loaded */
    wrmsr(MSR_KERNEL_GS, host_kgs);
    vmw(F_ENTRY_MSR_LOAD_COUNT, 0);
    /* Bits 3:0 of an area's address must be 0. */
    vmw(F_EXIT_MSR_STORE_ADDR, PA(store_area) + 8);
    uint64_t e = vx_enter(me, 0);
    CHECK((e & VX_ENTRY_FAILED) && insn_error() == 7);
    vmw(F_EXIT_MSR_STORE_COUNT, 0);
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
}

static void launch_and_exit(void)
{
    uint64_t v, p;
    CHECK(vmptrld(PA(vmcs_a)) == VX_OK);
    vx_setup_controls(0, 0, 0, 0);
    vx_setup_host(me, 0, PA(host_stack + sizeof(host_stack)));
    vx_setup_guest(PA(vx_guest_loop), PA(guest_stack + sizeof(guest_stack)));

    /* Host state invalid (CS selector 0): VMfailValid(8), nothing runs. */
    vmw(F_HOST_CS_SEL, 0);
    uint64_t e = vx_enter(me, 1);
    CHECK((e & VX_ENTRY_FAILED) && (e & 0x40) && insn_error() == 8);
    vmw(F_HOST_CS_SEL, 0x08);
    /* Guest state invalid (RFLAGS bit 1 clear): the entry fails as an exit
     * to the host, reason 33 with bit 31 (SDM 26.7). */
    vmw(F_GUEST_RFLAGS, 0);
    CHECK(vx_enter(me, 1) == 0);
    CHECK(vmr(F_EXIT_REASON) == (0x80000000u | X_ENTRY_FAIL_GUEST));
    vmw(F_GUEST_RFLAGS, 2);
    /* The entry failure left the launch state clear: VMLAUNCH runs the
     * guest, whose VMCALL exits (18) back to the host. */
    me->gregs.rbx = 0xFEEDu;
    CHECK(vx_enter(me, 1) == 0);
    CHECK(vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(vmr(F_EXIT_INSN_LEN) == 3);
    CHECK(vmr(F_GUEST_RIP) == PA(vx_guest_loop));
    CHECK(me->gregs.rbx == 0xFEEDu); /* the guest's registers, seen by the host */
    CHECK((read_rflags() & (1u << 9)) == 0);
    /* Launched: VMLAUNCH is error 4, VMRESUME works. */
    e = vx_enter(me, 1);
    CHECK((e & VX_ENTRY_FAILED) && insn_error() == 4);
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    /* "enable VPID" with VPID 0000H is an invalid control (26.2.1.1);
     * with VPID 1 the guest runs as before. */
    vmw(F_PROC, vmr(F_PROC) | PROC_SECONDARY);
    vmw(F_PROC2, PROC2_VPID);
    vmw(F_VPID, 0);
    e = vx_enter(me, 0);
    CHECK((e & VX_ENTRY_FAILED) && insn_error() == 7);
    vmw(F_VPID, 1);
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(invvpid(1, 1, 0) == VX_OK);
    vmw(F_PROC2, 0);
    /* Invalid control (an unsupported pin-based bit): error 7. */
    vmw(F_PIN, vmr(F_PIN) | (1u << 8));
    e = vx_enter(me, 0);
    CHECK((e & VX_ENTRY_FAILED) && insn_error() == 7);
    vmw(F_PIN, vmr(F_PIN) & ~(1u << 8));
    /* VMCLEAR makes it clear again: VMRESUME is error 5, VMLAUNCH works. */
    CHECK(vmclear(PA(vmcs_a)) == VX_OK);
    CHECK(vmptrld(PA(vmcs_a)) == VX_OK);
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_OK && v == PA(vx_guest_loop));
    e = vx_enter(me, 0);
    CHECK((e & VX_ENTRY_FAILED) && insn_error() == 5);
    CHECK(vx_enter(me, 1) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    /* VMPTRLD of another VMCS writes this one back still launched (region
     * +8 = 1), and made current again it resumes; VMCLEAR of it while it
     * is not current clears only that word, and it must be launched anew
     * (SDM 30.3 VMCLEAR, VMPTRLD; 24.1 launch state). */
    CHECK(vmptrld(PA(vmcs_b)) == VX_OK);
    CHECK(vmcs_a[2] == 1);
    CHECK(vmptrld(PA(vmcs_a)) == VX_OK);
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(vmptrld(PA(vmcs_b)) == VX_OK);
    CHECK(vmclear(PA(vmcs_a)) == VX_OK);
    CHECK(vmcs_a[2] == 0);
    CHECK(vmptrst(&p) == VX_OK && p == PA(vmcs_b));
    CHECK(vmptrld(PA(vmcs_a)) == VX_OK);
    e = vx_enter(me, 0);
    CHECK((e & VX_ENTRY_FAILED) && insn_error() == 5);
    CHECK(vx_enter(me, 1) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    /* Without TPR shadow or CR8 exiting the guest's MOV to CR8 writes the
     * local APIC's TPR (SDM 25.3, 10.8.6.1). */
    vmw(F_GUEST_RIP, PA(vx_guest_cr8));
    CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    CHECK(xapic_read(APIC_TPR) == 0x50);
    CHECK(read_cr8() == 5);
    write_cr8(0);
    ept();
    msr_lists();
}

static void leave_vmx(void)
{
    uint64_t v;
    CHECK(vmclear(PA(vmcs_a)) == VX_OK);
    CHECK(vmxoff() == VX_OK);
    CHECK(vmread_r(F_GUEST_RIP, &v) == VX_UD);
    /* Outside VMX operation CR4.VMXE may be cleared again. */
    CHECK(write_cr4_try(read_cr4() & ~(uint64_t)CR4_VMXE) == VX_OK);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    vx_catch_faults();
    msrs_and_feature_control();
    outside_vmx();
    fixed_bits_and_no_vmcs();
    error_numbers();
    vmread_vmwrite();
    clear_and_load_round_trips();
    launch_and_exit();
    leave_vmx();
    printf("vmx_insns: OK %u checks\n", checks);
    return 0;
}
