/*
 * test_apicv_fixture.h — a vmx_vcpu set up by hand for the APIC-
 * virtualization tests (tests/vmx/test_apicv_*.c): the bare 64-bit CPU of
 * tests/support/cpu_harness.h (identity-mapped RAM, an IDT whose handler for
 * vector v is a HLT at CPU_HARNESS_HANDLER(v)), a virtual-APIC page and a
 * posted-interrupt descriptor in its RAM, and an observer that records every
 * event, so tests check both the state and what was emitted.
 */
#ifndef APICV_TEST_APICV_FIXTURE_H
#define APICV_TEST_APICV_FIXTURE_H

#include <check.h>
#include <string.h>

#include "tests/support/cpu_harness.h"
#include "vmx/vmx.h"
#include "vmx/vmx_apicv.h"

#define FX_VAPIC 0x400000u     /* virtual-APIC page */
#define FX_PI_DESC 0x401000u   /* posted-interrupt descriptor */
#define FX_APIC_ACCESS 0xFEE00000u /* APIC-access page (beyond RAM: traps) */
#define FX_MAX_EVENTS 512

typedef struct apicv_fx {
    cpu_harness h;
    vmx_vcpu v;
    cpu_obs_event ev[FX_MAX_EVENTS];
    unsigned nev;
} apicv_fx;

static void fx_record(void *ctx, const cpu_obs_event *ev)
{
    apicv_fx *f = ctx;
    if (f->nev < FX_MAX_EVENTS)
        f->ev[f->nev++] = *ev;
}

/* proc2: secondary controls (VMX_PROC2_*); "use TPR shadow" and "activate
 * secondary controls" are always on; the vCPU is in non-root operation. */
static inline void fx_init(apicv_fx *f, uint32_t proc2)
{
    memset(f, 0, sizeof *f);
    cpu_harness_init(&f->h);
    vmx_vcpu_init(&f->v, &f->h.cpu, NULL, &f->h.phys, &f->h.obs);
    vmx_vmcs_set(&f->v.vmcs, VMCS_PROC_CONTROLS, VMX_PROC_TPR_SHADOW | VMX_PROC_SECONDARY);
    vmx_vmcs_set(&f->v.vmcs, VMCS_PROC_CONTROLS2, proc2);
    vmx_vmcs_set(&f->v.vmcs, VMCS_PIN_CONTROLS, VMX_PIN_EXT_INTR_EXITING);
    vmx_vmcs_set(&f->v.vmcs, VMCS_VIRTUAL_APIC_ADDR, FX_VAPIC);
    vmx_vmcs_set(&f->v.vmcs, VMCS_APIC_ACCESS_ADDR, FX_APIC_ACCESS);
    vmx_vmcs_set(&f->v.vmcs, VMCS_POSTED_INTR_DESC_ADDR, FX_PI_DESC);
    f->v.non_root = true;
    ck_assert(cpu_obs_subscribe(&f->h.obs, fx_record, f));
}

/* Back in non-root operation after a recorded VM exit (vmx_vmexit records
 * nothing outside non-root operation), so one fixture can see many exits. */
static inline void fx_reenter(apicv_fx *f)
{
    f->v.non_root = true;
    f->v.exited = false;
}

static inline void fx_free(apicv_fx *f)
{
    cpu_harness_free(&f->h);
}

static inline void fx_set_proc(apicv_fx *f, uint32_t set, uint32_t clear)
{
    uint64_t p = vmx_vmcs_get(&f->v.vmcs, VMCS_PROC_CONTROLS);
    vmx_vmcs_set(&f->v.vmcs, VMCS_PROC_CONTROLS, (p | set) & ~(uint64_t)clear);
}

static inline void fx_set_status(apicv_fx *f, uint8_t rvi, uint8_t svi)
{
    vmx_vmcs_set(&f->v.vmcs, VMCS_GUEST_INTR_STATUS, (uint64_t)svi << 8 | rvi);
}

/* Direct access to the page, independent of vmx_vapic_*: bytes in RAM. */
static inline uint32_t fx_page32(apicv_fx *f, unsigned off)
{
    uint32_t v = 0;
    ck_assert(cpu_phys_read(&f->h.phys, FX_VAPIC + off, &v, 4));
    return v;
}

static inline void fx_set_page32(apicv_fx *f, unsigned off, uint32_t val)
{
    ck_assert(cpu_phys_write(&f->h.phys, FX_VAPIC + off, &val, 4));
}

/* Vector bit in a 256-bit register computed the SDM's way (29.1.1). */
static inline bool fx_bit(apicv_fx *f, unsigned base, unsigned vec)
{
    return (fx_page32(f, base + ((vec & 0xE0u) >> 1)) >> (vec & 31u)) & 1u;
}

static inline void fx_set_bit(apicv_fx *f, unsigned base, unsigned vec)
{
    unsigned off = base + ((vec & 0xE0u) >> 1);
    fx_set_page32(f, off, fx_page32(f, off) | (1u << (vec & 31u)));
}

/* Index of the first recorded event of a kind after position from, or -1. */
static inline int fx_find(const apicv_fx *f, unsigned kind, unsigned from)
{
    for (unsigned i = from; i < f->nev; i++)
        if (f->ev[i].kind == kind)
            return (int)i;
    return -1;
}

static inline unsigned fx_count(const apicv_fx *f, unsigned kind)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->nev; i++)
        n += f->ev[i].kind == kind;
    return n;
}

static inline uint32_t fx_exit_reason(apicv_fx *f)
{
    return (uint32_t)vmx_vmcs_get(&f->v.vmcs, VMCS_EXIT_REASON);
}

static inline uint64_t fx_exit_qual(apicv_fx *f)
{
    return vmx_vmcs_get(&f->v.vmcs, VMCS_EXIT_QUALIFICATION);
}

#endif
