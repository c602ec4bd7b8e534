/*
 * cpu_harness.c — a bare 64-bit CPU for unit tests (see cpu_harness.h).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/cpu_harness.h"

static void put64(cpu_harness *h, uint64_t pa, uint64_t v)
{
    ck_assert(cpu_phys_write(&h->phys, pa, &v, 8));
}

void cpu_harness_init(cpu_harness *h)
{
    memset(h, 0, sizeof(*h));
    ck_assert(cpu_phys_init(&h->phys, CPU_HARNESS_RAM, 1u << 20));
    cpu_cost_default(&h->costs);
    ck_assert(cpu_init(&h->cpu, 0, &h->phys, &h->costs, &h->obs));
    cpu_t *c = &h->cpu;

    /* Identity map 0 .. 1 GiB with 2 MiB pages: PML4 0x1000, PDPT 0x2000, PD 0x4000. */
    put64(h, 0x1000, 0x2000 | 7);
    put64(h, 0x2000, 0x4000 | 7);
    for (uint64_t k = 0; k < 512; k++)
        put64(h, 0x4000 + k * 8, (k << 21) | 0x87);

    /* GDT at 0x500: null, 64-bit code 0x08, data 0x10, user code 0x1B, user data 0x23. */
    put64(h, 0x500, 0);
    put64(h, 0x508, 0x00209A0000000000ull);
    put64(h, 0x510, 0x0000920000000000ull);
    put64(h, 0x518, 0x0020FA0000000000ull);
    put64(h, 0x520, 0x0000F20000000000ull);

    /* IDT at CPU_HARNESS_IDT: interrupt gates to a HLT per vector. */
    for (unsigned v = 0; v < 256; v++) {
        uint64_t target = CPU_HARNESS_HANDLER(v);
        uint64_t lo = (target & 0xFFFF) | (0x08ull << 16) | (0x8Eull << 40) |
                      ((target & 0xFFFF0000ull) << 32);
        put64(h, CPU_HARNESS_IDT + v * 16, lo);
        put64(h, CPU_HARNESS_IDT + v * 16 + 8, target >> 32);
        uint8_t hlt = 0xF4;
        ck_assert(cpu_phys_write(&h->phys, target, &hlt, 1));
    }

    c->cr0 = CPU_CR0_PE | CPU_CR0_MP | CPU_CR0_ET | CPU_CR0_NE | CPU_CR0_WP | CPU_CR0_PG;
    c->cr4 = CPU_CR4_PAE;
    c->efer = CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE;
    c->cr3 = 0x1000;
    c->gdtr.base = 0x500;
    c->gdtr.limit = 0x27;
    c->idtr.base = CPU_HARNESS_IDT;
    c->idtr.limit = 256 * 16 - 1;
    c->seg[CPU_CS] = (cpu_seg){.sel = 0x08, .attr = 0x29B, .limit = 0xFFFFFFFF};
    for (unsigned s = 0; s < CPU_NSEG; s++) {
        if (s != CPU_CS)
            c->seg[s] = (cpu_seg){.sel = 0x10, .attr = 0x093, .limit = 0xFFFFFFFF};
    }
    c->rip = CPU_HARNESS_CODE;
    c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
    cpu_set_rflags(c, 2);
    cpu_tlb_flush(c);
}

void cpu_harness_free(cpu_harness *h)
{
    cpu_free(&h->cpu);
    cpu_phys_free(&h->phys);
}

void cpu_harness_load(cpu_harness *h, uint64_t addr, const void *code, size_t len)
{
    ck_assert(cpu_phys_write(&h->phys, addr, code, len));
}

cpu_stop cpu_harness_exec(cpu_harness *h, const void *code, size_t len, uint64_t n)
{
    cpu_harness_load(h, CPU_HARNESS_CODE, code, len);
    /* Each exec starts at the code, out of the HLT state; registers (RSP
     * included) are the test's to set. */
    h->cpu.rip = CPU_HARNESS_CODE;
    h->cpu.halted = 0;
    return cpu_run(&h->cpu, UINT64_MAX, n);
}

int cpu_harness_vector(const cpu_harness *h)
{
    uint64_t rip = h->cpu.rip - 1; /* RIP is past the HLT */
    if (!h->cpu.halted || rip < CPU_HARNESS_HANDLERS || rip >= CPU_HARNESS_HANDLER(256))
        return -1;
    if ((rip - CPU_HARNESS_HANDLERS) % 16)
        return -1;
    return (int)((rip - CPU_HARNESS_HANDLERS) / 16);
}

uint64_t cpu_harness_peek64(cpu_harness *h, uint64_t pa)
{
    uint64_t v = 0;
    ck_assert(cpu_phys_read(&h->phys, pa, &v, 8));
    return v;
}

uint32_t cpu_harness_peek32(cpu_harness *h, uint64_t pa)
{
    uint32_t v = 0;
    ck_assert(cpu_phys_read(&h->phys, pa, &v, 4));
    return v;
}

void cpu_harness_poke64(cpu_harness *h, uint64_t pa, uint64_t v)
{
    ck_assert(cpu_phys_write(&h->phys, pa, &v, 8));
}

void cpu_harness_poke32(cpu_harness *h, uint64_t pa, uint32_t v)
{
    ck_assert(cpu_phys_write(&h->phys, pa, &v, 4));
}

uint64_t cpu_harness_gate32(uint32_t off, uint16_t sel, unsigned type)
{
    return (off & 0xFFFFull) | ((uint64_t)sel << 16) | ((uint64_t)(0x80 | type) << 40) |
           ((uint64_t)(off >> 16) << 48);
}

uint64_t cpu_harness_int_gate32(uint32_t off, uint16_t sel)
{
    return cpu_harness_gate32(off, sel, 0xE);
}

void cpu_harness_enter_prot32(cpu_harness *h, uint16_t gdt_limit)
{
    cpu_t *c = &h->cpu;
    cpu_harness_poke64(h, 0x500 + CPU_HARNESS_SEL_CODE32, 0x00CF9A000000FFFFull);
    cpu_harness_poke64(h, 0x500 + CPU_HARNESS_SEL_DATA32, 0x00CF92000000FFFFull);
    for (unsigned v = 0; v < 256; v++)
        cpu_harness_poke64(h, CPU_HARNESS_IDT32 + v * 8,
                           cpu_harness_int_gate32(CPU_HARNESS_HANDLER(v), CPU_HARNESS_SEL_CODE32));
    cpu_enter_flat32(c, CPU_HARNESS_CODE);
    c->efer = 0;
    c->cr4 = 0;
    c->gdtr.limit = gdt_limit;
    c->idtr.base = CPU_HARNESS_IDT32;
    c->idtr.limit = 256 * 8 - 1;
    c->seg[CPU_CS].sel = CPU_HARNESS_SEL_CODE32;
    for (unsigned s = 0; s < CPU_NSEG; s++)
        if (s != CPU_CS)
            c->seg[s].sel = CPU_HARNESS_SEL_DATA32;
    c->gpr[CPU_RSP] = CPU_HARNESS_STACK;
}
