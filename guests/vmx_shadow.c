/*
 * vmx_shadow.c — VMCS shadowing from a guest that is its own hypervisor
 * (`--mode native`, one CPU; docs/vmx.md "VMCS shadowing"). The hypervisor
 * (VMX root) runs a guest that is itself written like a hypervisor: it
 * executes VMREAD and VMWRITE, which with "VMCS shadowing" = 1 and a clear
 * bit in the VMREAD/VMWRITE bitmap reach the shadow VMCS that the VMCS
 * link pointer references instead of exiting (SDM Vol. 3C 24.10, 25.1.3,
 * 30.3):
 *
 *   the capability (IA32_VMX_PROCBASED_CTLS2 bit 46);
 *   a shadow VMCS (bit 31 of its revision dword): VMPTRLD, VMWRITE,
 *   VMLAUNCH refused with VMfailInvalid (26.1);
 *   the entry checks: bitmap addresses (VMfailValid 7), the link pointer
 *   (exit 33, qualification 4: misaligned, an ordinary VMCS, the current
 *   VMCS) (26.2.1.1, 26.3.1.5);
 *   the guest's VMREAD/VMWRITE: bitmap bit clear = shadow VMCS read or
 *   written (register and memory forms, high access, a VM-exit information
 *   field; that one fails with VMfailValid(13) when IA32_VMX_MISC[29] = 0,
 *   `--cpu max,-vmwrite-any`), bit set = exit 23/25, encoding bits 63:15 set = exit,
 *   unsupported field = VMfailValid(12) in the current VMCS, link pointer
 *   FFFFFFFF_FFFFFFFFH = VMfailInvalid, shadowing off = exit.
 * Prints "vmx_shadow: OK <n> checks" and exits 0 when every check holds.
 */
#include "vmx_guest.h"

VX_DEFINE_ENTER;
static struct vx_cpu *const me = &vx_cpus[0];

static uint32_t vmxon_region[1024] __attribute__((aligned(4096)));
static uint32_t vmcs[1024] __attribute__((aligned(4096)));
static uint32_t ordinary[1024] __attribute__((aligned(4096)));
static uint32_t shadow[1024] __attribute__((aligned(4096)));
static uint8_t read_bitmap[4096] __attribute__((aligned(4096)));
static uint8_t write_bitmap[4096] __attribute__((aligned(4096)));
static uint8_t host_stack[8192] __attribute__((aligned(16)));
static uint8_t guest_stack[8192] __attribute__((aligned(16)));
VX_DEFINE_CHECKS;

#define PA(p) ((uint64_t)(uintptr_t)(p))
#define PROC2_VMCS_SHADOW (1u << 14)
#define F_VMREAD_BITMAP 0x2026u
#define F_VMWRITE_BITMAP 0x2028u
#define F_TSC_OFFSET 0x2010u
enum { X_VMREAD = 23, X_VMWRITE = 25 };

/* ---- the guest (VMX non-root): VMREAD/VMWRITE on request, then VMCALL ---- */

enum { OP_VMREAD = 1, OP_VMWRITE = 2, OP_VMREAD_MEM = 3 };
static volatile struct {
    int op;
    uint64_t field, value;
    int result; /* VX_OK, VX_FAIL_INVALID, VX_FAIL_VALID */
} rq;

static void guest_main_loop(void)
{
    for (;;) {
        uint64_t v = 0;
        switch (rq.op) {
        case OP_VMREAD: rq.result = vmread_r(rq.field, &v); rq.value = v; break;
        case OP_VMWRITE: rq.result = vmwrite_r(rq.field, rq.value); break;
        case OP_VMREAD_MEM: rq.result = vmread_m(rq.field, &v); rq.value = v; break;
        default: break;
        }
        __asm__ volatile("vmcall" ::: "memory");
    }
}

/* ---- the hypervisor (VMX root) ------------------------------------------ */

static int launched;

static void skip_insn(void) { vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + vmr(F_EXIT_INSN_LEN)); }

/* Has the guest do op; returns the basic reason of its first exit: 18
 * (VMCALL) when the instruction did not exit. One that exited is skipped. */
static unsigned guest_does(int op, uint64_t field, uint64_t value)
{
    rq.op = op;
    rq.field = field;
    rq.value = value;
    rq.result = -1;
    CHECK(vx_enter(me, !launched) == 0);
    launched = 1;
    unsigned reason = (unsigned)vmr(F_EXIT_REASON) & 0xFFFF;
    skip_insn();
    if (reason != X_VMCALL) {
        CHECK(vx_enter(me, 0) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
        skip_insn();
    }
    return reason;
}

static void bitmap_clear(uint8_t *bm, uint32_t enc) { bm[enc >> 3] &= (uint8_t)~(1u << (enc & 7)); }
static void bitmap_set(uint8_t *bm, uint32_t enc) { bm[enc >> 3] |= (uint8_t)(1u << (enc & 7)); }

/* A field of the shadow VMCS as software in root operation sees it:
 * VMPTRLD of the shadow VMCS, VMREAD, VMPTRLD of the ordinary one back. */
static uint64_t shadow_read(uint32_t enc)
{
    uint64_t v = 0;
    CHECK(vmptrld(PA(shadow)) == VX_OK);
    CHECK(vmread_r(enc, &v) == VX_OK);
    CHECK(vmptrld(PA(vmcs)) == VX_OK);
    return v;
}

/* IA32_VMX_MISC[29]: 1 under `--cpu max`, 0 under `--cpu max,-vmwrite-any`. */
static int vmwrite_any;

static void capabilities(void)
{
    CHECK((rdmsr(MSR_VMX_PROCBASED_CTLS2) >> 32) & PROC2_VMCS_SHADOW);
    vmwrite_any = (int)((rdmsr(MSR_VMX_MISC) >> 29) & 1);
}

/* A shadow VMCS (SDM 24.10): current after VMPTRLD, written with VMWRITE,
 * never entered (VMLAUNCH: VMfailInvalid, SDM 26.1 step 4). */
static void make_shadow(void)
{
    uint32_t rev = (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu;
    shadow[0] = rev | 0x80000000u;
    ordinary[0] = rev;
    vmcs[0] = rev;
    CHECK(vmclear(PA(shadow)) == VX_OK);
    CHECK(vmptrld(PA(shadow)) == VX_OK);
    CHECK(vmwrite_r(F_GUEST_RIP, 0x1111) == VX_OK);
    CHECK(vmwrite_r(F_TSC_OFFSET, 0x1122334455667788ull) == VX_OK);
    CHECK(vmlaunch() == VX_FAIL_INVALID);
    CHECK(vmresume() == VX_FAIL_INVALID);
    CHECK(vmclear(PA(shadow)) == VX_OK); /* its data to its region */
    CHECK(vmclear(PA(ordinary)) == VX_OK);
}

/* The VM-entry checks of shadowing (SDM 26.2.1.1, 26.3.1.5). */
static void entry_checks(void)
{
    CHECK(vmclear(PA(vmcs)) == VX_OK);
    CHECK(vmptrld(PA(vmcs)) == VX_OK);
    vx_setup_controls(0, 0, PROC2_VMCS_SHADOW, 0);
    CHECK(vmr(F_PROC2) & PROC2_VMCS_SHADOW);
    vx_setup_host(me, 0, PA(host_stack + sizeof(host_stack)));
    vx_setup_guest(PA(guest_main_loop), PA(guest_stack + sizeof(guest_stack) - 8));
    for (unsigned k = 0; k < sizeof(read_bitmap); k++)
        read_bitmap[k] = write_bitmap[k] = 0xFF;
    /* A bitmap address not 4-KByte aligned: invalid control (7). */
    vmw(F_VMREAD_BITMAP, PA(read_bitmap) + 8);
    vmw(F_VMWRITE_BITMAP, PA(write_bitmap));
    uint64_t e = vx_enter(me, 1);
    CHECK((e & VX_ENTRY_FAILED) && (e & 0x40) && vmr(F_VM_INSN_ERROR) == 7);
    vmw(F_VMREAD_BITMAP, PA(read_bitmap));
    vmw(F_VMWRITE_BITMAP, PA(write_bitmap) | (1ull << 45));
    e = vx_enter(me, 1);
    CHECK((e & VX_ENTRY_FAILED) && vmr(F_VM_INSN_ERROR) == 7);
    vmw(F_VMWRITE_BITMAP, PA(write_bitmap));
    /* The link pointer: misaligned, an ordinary VMCS while shadowing is
     * on, the current VMCS: entry failure, exit 33 with qualification 4. */
    const uint64_t bad[] = {PA(shadow) + 8, PA(ordinary), PA(vmcs)};
    for (unsigned k = 0; k < 3; k++) {
        vmw(F_LINK_PTR, bad[k]);
        CHECK(vx_enter(me, 1) == 0);
        CHECK(vmr(F_EXIT_REASON) == (0x80000000u | X_ENTRY_FAIL_GUEST) && vmr(F_EXIT_QUAL) == 4);
    }
    /* With shadowing off, an ordinary VMCS is a good link pointer and a
     * shadow VMCS is not (bit 31 must equal the control). */
    vmw(F_PROC2, 0);
    vmw(F_LINK_PTR, PA(shadow));
    CHECK(vx_enter(me, 1) == 0 && vmr(F_EXIT_REASON) == (0x80000000u | X_ENTRY_FAIL_GUEST));
    vmw(F_LINK_PTR, PA(ordinary));
    rq.op = 0;
    CHECK(vx_enter(me, 1) == 0 && vmr(F_EXIT_REASON) == X_VMCALL);
    launched = 1;
    skip_insn();
    vmw(F_PROC2, PROC2_VMCS_SHADOW);
    vmw(F_LINK_PTR, PA(shadow));
}

/* The guest's VMREAD and VMWRITE (SDM 25.1.3, 30.3). */
static void guest_accesses(void)
{
    /* Every bitmap bit set: both exit, with the shadow VMCS unchanged. */
    CHECK(guest_does(OP_VMREAD, F_GUEST_RIP, 0) == X_VMREAD);
    CHECK(guest_does(OP_VMWRITE, F_GUEST_RIP, 0x9999) == X_VMWRITE);
    /* Bit clear: the shadow VMCS, no exit; ZF and CF clear. */
    bitmap_clear(read_bitmap, F_GUEST_RIP);
    CHECK(guest_does(OP_VMREAD, F_GUEST_RIP, 0) == X_VMCALL);
    CHECK(rq.result == VX_OK && rq.value == 0x1111);
    CHECK(guest_does(OP_VMREAD_MEM, F_GUEST_RIP, 0) == X_VMCALL);
    CHECK(rq.result == VX_OK && rq.value == 0x1111);
    CHECK(guest_does(OP_VMWRITE, F_GUEST_RIP, 0x2222) == X_VMWRITE); /* write bit still set */
    bitmap_clear(write_bitmap, F_GUEST_RIP);
    CHECK(guest_does(OP_VMWRITE, F_GUEST_RIP, 0x2222) == X_VMCALL && rq.result == VX_OK);
    CHECK(guest_does(OP_VMREAD, F_GUEST_RIP, 0) == X_VMCALL && rq.value == 0x2222);
    /* The current VMCS's own GUEST_RIP is the guest's, untouched. */
    CHECK(vmr(F_GUEST_RIP) != 0x2222);
    CHECK(shadow_read(F_GUEST_RIP) == 0x2222);
    /* The high access of a 64-bit field: bits 63:32. */
    bitmap_clear(read_bitmap, F_TSC_OFFSET | 1);
    CHECK(guest_does(OP_VMREAD, F_TSC_OFFSET | 1, 0) == X_VMCALL && rq.value == 0x11223344);
    CHECK(guest_does(OP_VMREAD, F_TSC_OFFSET, 0) == X_VMREAD); /* the full one's bit is set */
    /* A VM-exit information field of the shadow VMCS (SDM 30.3): written
     * when IA32_VMX_MISC[29] = 1; else VMfailValid(13) in the current
     * (ordinary) VMCS and the shadow field untouched. */
    bitmap_clear(write_bitmap, F_EXIT_QUAL);
    if (vmwrite_any) {
        CHECK(guest_does(OP_VMWRITE, F_EXIT_QUAL, 0x77) == X_VMCALL && rq.result == VX_OK);
        CHECK(shadow_read(F_EXIT_QUAL) == 0x77);
    } else {
        uint64_t was = shadow_read(F_EXIT_QUAL);
        CHECK(guest_does(OP_VMWRITE, F_EXIT_QUAL, was + 0x77) == X_VMCALL && rq.result == VX_FAIL_VALID);
        CHECK(vmr(F_VM_INSN_ERROR) == 13);
        CHECK(shadow_read(F_EXIT_QUAL) == was);
    }
    /* A 16-bit field keeps 16 bits. */
    bitmap_clear(write_bitmap, F_GUEST_CS_SEL);
    bitmap_clear(read_bitmap, F_GUEST_CS_SEL);
    CHECK(guest_does(OP_VMWRITE, F_GUEST_CS_SEL, 0x12345) == X_VMCALL);
    CHECK(guest_does(OP_VMREAD, F_GUEST_CS_SEL, 0) == X_VMCALL && rq.value == 0x2345);
    /* No such field (bit 12 is reserved): VMfailValid(12), the error in
     * the current VMCS (the ordinary one, SDM 30.2). The error field is
     * cleared first where VMWRITE may write it (IA32_VMX_MISC[29] = 1);
     * else it holds the 13 of above. */
    if (vmwrite_any)
        vmw(F_VM_INSN_ERROR, 0);
    bitmap_clear(read_bitmap, 0x1000);
    CHECK(guest_does(OP_VMREAD, 0x1000, 0) == X_VMCALL && rq.result == VX_FAIL_VALID);
    CHECK(vmr(F_VM_INSN_ERROR) == 12);
    /* Encoding bits 63:15 set: always an exit, whatever the bitmap. */
    CHECK(guest_does(OP_VMREAD, 1ull << 15, 0) == X_VMREAD);
    CHECK(guest_does(OP_VMWRITE, (1ull << 32) | F_GUEST_RIP, 0) == X_VMWRITE);
    /* Link pointer FFFFFFFF_FFFFFFFFH: VMfailInvalid, no exit. */
    vmw(F_LINK_PTR, ~0ull);
    CHECK(guest_does(OP_VMREAD, F_GUEST_RIP, 0) == X_VMCALL && rq.result == VX_FAIL_INVALID);
    CHECK(guest_does(OP_VMWRITE, F_GUEST_RIP, 1) == X_VMCALL && rq.result == VX_FAIL_INVALID);
    vmw(F_LINK_PTR, PA(shadow));
    /* Shadowing off: every VMREAD exits, the bitmaps are not looked at
     * (link pointer ~0 again: a shadow VMCS needs the control). */
    vmw(F_PROC2, 0);
    vmw(F_LINK_PTR, ~0ull);
    CHECK(guest_does(OP_VMREAD, F_GUEST_RIP, 0) == X_VMREAD);
    bitmap_set(read_bitmap, F_GUEST_RIP);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    vx_catch_faults();
    capabilities();
    CHECK(vx_enable(vmxon_region) == VX_OK);
    make_shadow();
    entry_checks();
    guest_accesses();
    CHECK(vmclear(PA(vmcs)) == VX_OK);
    CHECK(vmxoff() == VX_OK);
    printf("vmx_shadow: OK %u checks\n", checks);
    return 0;
}
