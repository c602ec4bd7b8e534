/*
 * test_apicv_access.c — the APIC-access page (SDM 29.4): the full matrix of
 * offsets x access kinds x sizes x alignments x controls against a table of
 * the SDM's rules written here independently of vmx_apic_access.c, through
 * both the pure decision function and the cpu-hook glue (virtualized data,
 * exit 44 with its qualification, and the APIC-write emulation that
 * follows), plus the details of APIC-write emulation.
 */
#include "tests/vmx/test_apicv_fixture.h"

#define VID VMX_PROC2_VIRT_INTR_DELIVERY
#define REGV VMX_PROC2_APIC_REG_VIRT
#define VAA VMX_PROC2_VIRT_APIC_ACCESS
#define NO_EXIT 0xFFFFu

/* ---- the SDM's rules, as the test reads them ------------------------------- */

/* 29.4.2: register slots whose reads are virtualized with APIC-register
 * virtualization = 1. */
static const unsigned sdm_read_slots[] = {
    0x020, 0x030, 0x080, 0x0B0, 0x0D0, 0x0E0, 0x0F0,
    0x100, 0x110, 0x120, 0x130, 0x140, 0x150, 0x160, 0x170, /* ISR */
    0x180, 0x190, 0x1A0, 0x1B0, 0x1C0, 0x1D0, 0x1E0, 0x1F0, /* TMR */
    0x200, 0x210, 0x220, 0x230, 0x240, 0x250, 0x260, 0x270, /* IRR */
    0x280, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x3E0,
};
/* 29.4.3.1: slots whose writes are virtualized with APIC-register
 * virtualization = 1. */
static const unsigned sdm_write_slots[] = {
    0x020, 0x080, 0x0B0, 0x0D0, 0x0E0, 0x0F0, 0x280, 0x300, 0x310,
    0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x3E0,
};

static bool in_list(const unsigned *list, unsigned n, unsigned x)
{
    for (unsigned i = 0; i < n; i++)
        if (list[i] == x)
            return true;
    return false;
}

enum { K_READ, K_WRITE, K_FETCH };

/* Returns true when virtualized, else sets *qual to the exit-44
 * qualification. */
static bool sdm_virtualized(unsigned offset, unsigned size, int kind, bool ts, bool rv, bool vid,
                            uint32_t *qual)
{
    unsigned type = kind == K_FETCH ? 2 : kind == K_WRITE ? 1 : 0;
    *qual = offset | (type << 12);
    if (!ts || kind == K_FETCH || size > 4)
        return false;
    unsigned last = offset + size - 1;
    /* bits 3:2 of the first and of the last byte's address are 0 */
    if ((offset & 0xC) != 0 || (last & 0xC) != 0)
        return false;
    unsigned slot = offset & ~0xFu;
    if (kind == K_READ)
        return rv ? in_list(sdm_read_slots, sizeof sdm_read_slots / sizeof sdm_read_slots[0], slot)
                  : offset == 0x080;
    if (rv)
        return in_list(sdm_write_slots, sizeof sdm_write_slots / sizeof sdm_write_slots[0], slot);
    if (vid)
        return offset == 0x080 || offset == 0x0B0 || offset == 0x300;
    return offset == 0x080;
}

/* 29.4.3.2 items for VICR_LO at offset 300H. */
static bool sdm_self_ipi_ok(uint32_t icr)
{
    return (icr >> 20) == 0 && ((icr >> 16) & 3) == 0 && !(icr & (1u << 13)) &&
           !(icr & (1u << 12)) && ((icr >> 18) & 3) == 1 && !(icr & (1u << 15)) &&
           ((icr >> 8) & 7) == 0 && ((icr >> 4) & 0xF) != 0;
}

/* The APIC-write emulation expected after a virtualized write. */
static unsigned sdm_emulation(unsigned offset, bool vid, uint32_t icr_after)
{
    switch (offset) {
    case 0x080: return VMX_APIC_WRITE_TPR;
    case 0x0B0: return vid ? VMX_APIC_WRITE_EOI : VMX_APIC_WRITE_EXIT;
    case 0x300: return vid && sdm_self_ipi_ok(icr_after) ? VMX_APIC_WRITE_SELF_IPI : VMX_APIC_WRITE_EXIT;
    case 0x310: case 0x311: case 0x312: case 0x313: return VMX_APIC_WRITE_NONE;
    default: return VMX_APIC_WRITE_EXIT;
    }
}

static uint8_t pattern(unsigned i)
{
    return (uint8_t)(i * 7 + 3);
}

/* Puts the fixture back to a known state between matrix points. */
static void reset_point(apicv_fx *f, uint32_t proc2, bool ts)
{
    uint8_t *page = cpu_phys_ptr_write(&f->h.phys, FX_VAPIC, 4096);
    for (unsigned i = 0; i < 4096; i++)
        page[i] = pattern(i);
    vmx_apicv_on_vmexit(&f->v);
    fx_reenter(f);
    f->v.apicv_aux[0] = f->v.apicv_aux[1] = 0;
    fx_set_status(f, 0, 0);
    vmx_vmcs_set(&f->v.vmcs, VMCS_PROC_CONTROLS2, proc2 | VAA);
    vmx_vmcs_set(&f->v.vmcs, VMCS_PROC_CONTROLS,
                 VMX_PROC_SECONDARY | (ts ? VMX_PROC_TPR_SHADOW : 0));
    vmx_vmcs_set(&f->v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
    vmx_vmcs_set(&f->v.vmcs, VMCS_EXIT_QUALIFICATION, 0);
    f->nev = 0;
}

START_TEST(apic_access_matrix)
{
    static const unsigned sizes[] = {1, 2, 4, 8};
    apicv_fx f;
    fx_init(&f, 0);
    unsigned points = 0, virtualized = 0;
    for (unsigned ctl = 0; ctl < 8; ctl++) {
        bool ts = ctl & 1, rv = ctl & 2, vid = ctl & 4;
        uint32_t proc2 = (rv ? REGV : 0) | (vid ? VID : 0);
        for (unsigned slot = 0; slot <= 0x3F0; slot += 0x10) {
            for (unsigned delta = 0; delta < 4; delta++) {
                for (unsigned si = 0; si < 4; si++) {
                    for (int kind = K_READ; kind <= K_FETCH; kind++) {
                        unsigned off = slot + delta, size = sizes[si];
                        uint32_t qual;
                        bool exp = sdm_virtualized(off, size, kind, ts, rv, vid, &qual);
                        points++;
                        virtualized += exp;

                        /* The pure decision. */
                        vmx_apic_access_ctl c = {.tpr_shadow = ts, .reg_virt = rv, .vid = vid};
                        vmx_apic_acc acc = kind == K_READ    ? VMX_APIC_ACC_READ
                                           : kind == K_WRITE ? VMX_APIC_ACC_WRITE
                                                             : VMX_APIC_ACC_FETCH;
                        vmx_apic_access_decision d = vmx_apic_access_decide(off, size, acc, &c);
                        ck_assert_msg((d.action != VMX_APIC_ACCESS_EXIT) == exp,
                                      "ts%d rv%d vid%d off %#x size %u kind %d: action %d", ts, rv,
                                      vid, off, size, kind, d.action);
                        if (!exp)
                            ck_assert_uint_eq(d.qualification, qual);
                        else
                            ck_assert_int_eq(d.action, kind == K_READ ? VMX_APIC_ACCESS_VIRT_READ
                                                                      : VMX_APIC_ACCESS_VIRT_WRITE);

                        /* The glue, on the vCPU. */
                        reset_point(&f, proc2, ts);
                        cpu_access ca = kind == K_READ    ? CPU_ACC_READ
                                        : kind == K_WRITE ? CPU_ACC_WRITE
                                                          : CPU_ACC_FETCH;
                        uint64_t val = kind == K_WRITE ? 0x1122334400040030ull : 0;
                        uint64_t written = val;
                        ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + off, size, ca, &val));
                        if (!exp) {
                            ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_APIC_ACCESS);
                            ck_assert_uint_eq(fx_exit_qual(&f), qual);
                            continue;
                        }
                        ck_assert_uint_eq(fx_exit_reason(&f), NO_EXIT);
                        if (kind == K_READ) {
                            uint64_t expv = 0;
                            for (unsigned b = 0; b < size; b++)
                                expv |= (uint64_t)pattern(off + b) << (8 * b);
                            ck_assert_uint_eq(val, expv);
                            ck_assert(!f.v.apic_write_pending);
                            continue;
                        }
                        const uint8_t *page = cpu_phys_ptr(&f.h.phys, FX_VAPIC, 4096);
                        for (unsigned b = 0; b < size; b++)
                            ck_assert_uint_eq(page[off + b], (uint8_t)(written >> (8 * b)));
                        uint32_t icr = fx_page32(&f, 0x300);
                        unsigned emul = sdm_emulation(off, vid, icr);
                        ck_assert(f.v.apic_write_pending);
                        vmx_apicv_after_insn(&f.v);
                        int e = fx_find(&f, VMX_EV_APIC_WRITE_EMUL, 0);
                        ck_assert_int_ge(e, 0);
                        ck_assert_uint_eq(f.ev[e].a, off);
                        ck_assert_msg(f.ev[e].d == emul, "off %#x size %u: emulation %u, want %u",
                                      off, size, (unsigned)f.ev[e].d, emul);
                        if (emul == VMX_APIC_WRITE_EXIT) {
                            ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_APIC_WRITE);
                            ck_assert_uint_eq(fx_exit_qual(&f), off);
                        } else {
                            ck_assert_uint_eq(fx_exit_reason(&f), NO_EXIT);
                        }
                        ck_assert(!f.v.apic_write_pending);
                    }
                }
            }
        }
    }
    ck_assert_uint_eq(points, 8 * 64 * 4 * 4 * 3);
    ck_assert_uint_gt(virtualized, 0);
    fx_free(&f);
}
END_TEST

/* ---- the operation rule: after a virtualized write ------------------------- */

START_TEST(access_after_virtualized_write)
{
    apicv_fx f;
    fx_init(&f, VAA | REGV | VID);
    vmx_apic_access_ctl c;
    uint64_t val = 0x40;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x80, 4, CPU_ACC_WRITE, &val));
    ck_assert(f.v.apic_write_virtualized);
    vmx_apic_access_ctl_of(&f.v, &c);
    ck_assert(c.write_virtualized);
    ck_assert_uint_eq(c.prior_offset, 0x80);
    ck_assert_uint_eq(c.prior_size, 4);
    /* A read in the same operation exits, even of a readable register. */
    vmx_apic_access_decision d = vmx_apic_access_decide(0x20, 4, VMX_APIC_ACC_READ, &c);
    ck_assert_int_eq(d.action, VMX_APIC_ACCESS_EXIT);
    ck_assert_uint_eq(d.qualification, 0x020);
    /* A write to the same offset with the same size is virtualized again;
     * another offset or size exits. */
    ck_assert_int_eq(vmx_apic_access_decide(0x80, 4, VMX_APIC_ACC_WRITE, &c).action,
                     VMX_APIC_ACCESS_VIRT_WRITE);
    d = vmx_apic_access_decide(0xB0, 4, VMX_APIC_ACC_WRITE, &c);
    ck_assert_int_eq(d.action, VMX_APIC_ACCESS_EXIT);
    ck_assert_uint_eq(d.qualification, 0x10B0);
    ck_assert_int_eq(vmx_apic_access_decide(0x80, 2, VMX_APIC_ACC_WRITE, &c).action,
                     VMX_APIC_ACCESS_EXIT);
    /* Through the glue: the read exits 44 and cancels the emulation. */
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x20, 4, CPU_ACC_READ, &val));
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_APIC_ACCESS);
    ck_assert(!f.v.apic_write_pending);
    ck_assert_int_eq(fx_find(&f, VMX_EV_APIC_WRITE_EMUL, 0), -1);
    /* The next operation starts clean. */
    vmx_apicv_after_insn(&f.v);
    vmx_apic_access_ctl_of(&f.v, &c);
    ck_assert(!c.write_virtualized);
    fx_free(&f);
}
END_TEST

START_TEST(access_types_in_qualification)
{
    apicv_fx f;
    fx_init(&f, VAA | REGV | VID);
    uint64_t val = 0;
    /* Guest-physical (page walk): never virtualized, type 15. */
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x80, 8, CPU_ACC_WALK, &val));
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_APIC_ACCESS);
    ck_assert_uint_eq(fx_exit_qual(&f), 0xF080);
    /* During event delivery: linear type 3, guest-physical type 10. */
    fx_reenter(&f);
    f.h.cpu.in_delivery = 1;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x3F8, 8, CPU_ACC_WRITE, &val));
    ck_assert_uint_eq(fx_exit_qual(&f), 0x33F8);
    fx_reenter(&f);
    f.h.cpu.in_delivery = 1;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x10, 8, CPU_ACC_WALK, &val));
    ck_assert_uint_eq(fx_exit_qual(&f), 0xA010);
    /* Offsets above 3FFH exit like any other unlisted offset. */
    fx_reenter(&f);
    f.h.cpu.in_delivery = 0;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0xFF0, 4, CPU_ACC_READ, &val));
    ck_assert_uint_eq(fx_exit_qual(&f), 0x0FF0);
    fx_free(&f);
}
END_TEST

START_TEST(not_the_apic_access_page)
{
    apicv_fx f;
    fx_init(&f, REGV | VID); /* virtualize APIC accesses = 0 */
    uint64_t val = 0;
    ck_assert(!vmx_apicv_is_apic_access_page(&f.v, FX_APIC_ACCESS));
    ck_assert(!vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x80, 4, CPU_ACC_READ, &val));
    vmx_vmcs_set(&f.v.vmcs, VMCS_PROC_CONTROLS2, VAA);
    ck_assert(vmx_apicv_is_apic_access_page(&f.v, FX_APIC_ACCESS + 0xFFF));
    ck_assert(!vmx_apicv_is_apic_access_page(&f.v, FX_APIC_ACCESS + 0x1000));
    ck_assert(!vmx_apicv_mmio(&f.v, FX_APIC_ACCESS - 4, 4, CPU_ACC_READ, &val));
    fx_free(&f);
}
END_TEST

/* ---- APIC-write emulation (29.4.3.2) ---------------------------------------- */

START_TEST(emulation_tpr_clears_bytes_and_virtualizes)
{
    apicv_fx f;
    fx_init(&f, VAA | REGV | VID);
    fx_set_page32(&f, VMX_VAPIC_TPR, 0x10);
    fx_set_status(&f, 0x45, 0);
    uint64_t val = 0xAABBCC30;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x80, 4, CPU_ACC_WRITE, &val));
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_TPR), 0xAABBCC30); /* not yet emulated */
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_TPR), 0x30);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_PPR), 0x30);
    ck_assert(f.v.vintr_recognized);
    int e = fx_find(&f, VMX_EV_TPR_VIRT, 0);
    ck_assert_uint_eq(f.ev[e].a, VMX_TPR_SRC_MMIO);
    ck_assert_uint_eq(f.ev[e].b, 0x10);
    ck_assert_uint_eq(f.ev[e].d, 0x30);
    fx_free(&f);
}
END_TEST

START_TEST(emulation_tpr_without_vid_threshold_exit)
{
    apicv_fx f;
    fx_init(&f, VAA);
    vmx_vmcs_set(&f.v.vmcs, VMCS_TPR_THRESHOLD, 4);
    vmx_vmcs_set(&f.v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
    uint64_t val = 0x30;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x80, 1, CPU_ACC_WRITE, &val));
    f.h.cpu.rip = 0x100007; /* the boundary after the writing instruction */
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_TPR_BELOW_THRESHOLD);
    ck_assert_uint_eq(vmx_vmcs_get(&f.v.vmcs, VMCS_GUEST_RIP), 0x100007);
    fx_free(&f);
}
END_TEST

START_TEST(emulation_eoi)
{
    apicv_fx f;
    fx_init(&f, VAA | VID);
    vmx_vmcs_set(&f.v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
    fx_set_bit(&f, VMX_VAPIC_ISR, 0x41);
    fx_set_status(&f, 0, 0x41);
    uint64_t val = 0x12345678;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0xB0, 4, CPU_ACC_WRITE, &val));
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_page32(&f, VMX_VAPIC_EOI), 0);
    ck_assert(!fx_bit(&f, VMX_VAPIC_ISR, 0x41));
    ck_assert_uint_eq(vmx_apicv_svi(&f.v), 0);
    ck_assert_uint_eq(fx_exit_reason(&f), NO_EXIT);
    /* With the EOI-exit bitmap bit: exit 45 right after the emulation. */
    fx_set_bit(&f, VMX_VAPIC_ISR, 0x41);
    fx_set_status(&f, 0, 0x41);
    vmx_vmcs_set(&f.v.vmcs, VMCS_EOI_EXIT_BITMAP1, 2);
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0xB0, 4, CPU_ACC_WRITE, &val));
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_VIRTUALIZED_EOI);
    ck_assert_uint_eq(fx_exit_qual(&f), 0x41);
    fx_free(&f);
}
END_TEST

START_TEST(emulation_icr_low_cases)
{
    static const struct { uint32_t icr; bool self_ipi; } cases[] = {
        {0x00040030, true},  {0x0004000F, false}, {0x00040010, true},  {0x000400FF, true},
        {0x00040130, false}, {0x00040430, false}, {0x00048030, false}, {0x00041030, false},
        {0x00042030, false}, {0x00050030, false}, {0x00060030, false}, {0x00140030, false},
        {0xFF040030, false}, {0x000C0030, false}, {0x00080030, false}, {0x00000030, false},
        {0x00044030, true},  {0x00040830, true},  {0x00040000, false},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int vid = 0; vid < 2; vid++) {
            apicv_fx f;
            fx_init(&f, VAA | REGV | (vid ? VID : 0));
            vmx_vmcs_set(&f.v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
            uint64_t val = cases[i].icr;
            ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x300, 4, CPU_ACC_WRITE, &val));
            vmx_apicv_after_insn(&f.v);
            uint8_t vec = (uint8_t)cases[i].icr;
            if (vid && cases[i].self_ipi) {
                ck_assert_msg(fx_exit_reason(&f) == NO_EXIT, "icr %#x", cases[i].icr);
                ck_assert(fx_bit(&f, VMX_VAPIC_IRR, vec));
                ck_assert_uint_eq(vmx_apicv_rvi(&f.v), vec);
                ck_assert_int_ge(fx_find(&f, VMX_EV_SELF_IPI_VIRT, 0), 0);
            } else {
                ck_assert_msg(fx_exit_reason(&f) == VMX_EXIT_APIC_WRITE, "icr %#x vid %d",
                              cases[i].icr, vid);
                ck_assert_uint_eq(fx_exit_qual(&f), 0x300);
                ck_assert_int_eq(vmx_vapic_highest(&f.v, VMX_VAPIC_IRR), -1);
            }
            ck_assert_uint_eq(fx_page32(&f, 0x300), cases[i].icr);
            fx_free(&f);
        }
    }
}
END_TEST

START_TEST(emulation_icr_high_and_others)
{
    apicv_fx f;
    fx_init(&f, VAA | REGV | VID);
    vmx_vmcs_set(&f.v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
    uint64_t val = 0xAABBCCDD;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x310, 4, CPU_ACC_WRITE, &val));
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_page32(&f, 0x310), 0xAA000000);
    ck_assert_uint_eq(fx_exit_reason(&f), NO_EXIT);
    /* A 1-byte write to 081H is emulated for 081H: an APIC-write exit. */
    val = 0x55;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x81, 1, CPU_ACC_WRITE, &val));
    f.h.cpu.rip = 0x100010;
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_APIC_WRITE);
    ck_assert_uint_eq(fx_exit_qual(&f), 0x081);
    ck_assert_uint_eq(vmx_vmcs_get(&f.v.vmcs, VMCS_GUEST_RIP), 0x100010);
    ck_assert_uint_eq(fx_page32(&f, 0x80) & 0xFF00, 0x5500);
    /* LVT timer: stored, then exit 56 with 320H. */
    fx_reenter(&f);
    vmx_vmcs_set(&f.v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
    val = 0x000200EF;
    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + 0x320, 4, CPU_ACC_WRITE, &val));
    vmx_apicv_after_insn(&f.v);
    ck_assert_uint_eq(fx_page32(&f, 0x320), 0x000200EF);
    ck_assert_uint_eq(fx_exit_reason(&f), VMX_EXIT_APIC_WRITE);
    ck_assert_uint_eq(fx_exit_qual(&f), 0x320);
    fx_free(&f);
}
END_TEST

/*
 * 29.4.3.2 keys APIC-write emulation on the page offset: 080H, 0B0H and 300H
 * are single offsets, 310H-313H a range. Every byte offset of the four
 * registers, every size that stays inside the register's low dword, with
 * and without VID: the page afterwards, the exit (none, or 56 with the
 * offset) and the algorithm that ran, each written out here by hand.
 */
START_TEST(emulation_every_byte_of_the_keyed_registers)
{
    static const unsigned regs[] = {0x080, 0x0B0, 0x300, 0x310};
    static const unsigned sizes[] = {1, 2, 4};
    const uint32_t old = 0xA1B2C3D4u, data = 0x00040031u;
    unsigned points = 0;
    for (int vid = 0; vid < 2; vid++) {
        for (unsigned r = 0; r < 4; r++) {
            for (unsigned delta = 0; delta < 4; delta++) {
                for (unsigned si = 0; si < 3; si++) {
                    unsigned size = sizes[si], off = regs[r] + delta;
                    if (delta + size > 4)
                        continue;
                    apicv_fx f;
                    fx_init(&f, VAA | REGV | (vid ? VID : 0));
                    vmx_vmcs_set(&f.v.vmcs, VMCS_EXIT_REASON, NO_EXIT);
                    fx_set_page32(&f, regs[r], old);
                    uint64_t val = data;
                    ck_assert(vmx_apicv_mmio(&f.v, FX_APIC_ACCESS + off, size, CPU_ACC_WRITE, &val));
                    uint32_t mask = (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1) << (8 * delta);
                    uint32_t stored = (old & ~mask) | ((data << (8 * delta)) & mask);
                    ck_assert_uint_eq(fx_page32(&f, regs[r]), stored);
                    vmx_apicv_after_insn(&f.v);
                    points++;
                    uint32_t want_page = stored;
                    bool exits = true;
                    unsigned algo = 0; /* event of the algorithm that must run */
                    if (regs[r] == 0x310) {
                        want_page = stored & 0xFF000000u;
                        exits = false;
                    } else if (off == 0x080) {
                        want_page = stored & 0xFFu;
                        exits = false;
                        algo = VMX_EV_TPR_VIRT;
                    } else if (off == 0x0B0 && vid) {
                        want_page = 0;
                        exits = false;
                        algo = VMX_EV_EOI_VIRT;
                    } else if (off == 0x300 && vid && size == 4) {
                        /* 00040031H: fixed, edge, self, vector 31H. */
                        exits = false;
                        algo = VMX_EV_SELF_IPI_VIRT;
                    }
                    ck_assert_msg(fx_page32(&f, regs[r]) == want_page,
                                  "vid %d off %#x size %u: page %#x, want %#x", vid, off, size,
                                  fx_page32(&f, regs[r]), want_page);
                    if (exits) {
                        ck_assert_msg(fx_exit_reason(&f) == VMX_EXIT_APIC_WRITE,
                                      "vid %d off %#x size %u: no exit 56", vid, off, size);
                        ck_assert_uint_eq(fx_exit_qual(&f), off);
                    } else {
                        ck_assert_msg(fx_exit_reason(&f) == NO_EXIT,
                                      "vid %d off %#x size %u: exit %u", vid, off, size,
                                      fx_exit_reason(&f));
                    }
                    ck_assert_int_eq(fx_count(&f, VMX_EV_TPR_VIRT), algo == VMX_EV_TPR_VIRT);
                    ck_assert_int_eq(fx_count(&f, VMX_EV_EOI_VIRT), algo == VMX_EV_EOI_VIRT);
                    ck_assert_int_eq(fx_count(&f, VMX_EV_SELF_IPI_VIRT),
                                     algo == VMX_EV_SELF_IPI_VIRT);
                    ck_assert(!f.v.apic_write_pending);
                    fx_free(&f);
                }
            }
        }
    }
    /* per register: 3 sizes at +0, 2 at +1, 2 at +2, 1 at +3 */
    ck_assert_uint_eq(points, 2 * 4 * (3 + 2 + 2 + 1));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("apicv_access");
    TCase *t = tcase_create("core");
    tcase_add_test(t, apic_access_matrix);
    tcase_add_test(t, access_after_virtualized_write);
    tcase_add_test(t, access_types_in_qualification);
    tcase_add_test(t, not_the_apic_access_page);
    tcase_add_test(t, emulation_tpr_clears_bytes_and_virtualizes);
    tcase_add_test(t, emulation_tpr_without_vid_threshold_exit);
    tcase_add_test(t, emulation_eoi);
    tcase_add_test(t, emulation_icr_low_cases);
    tcase_add_test(t, emulation_icr_high_and_others);
    tcase_add_test(t, emulation_every_byte_of_the_keyed_registers);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
