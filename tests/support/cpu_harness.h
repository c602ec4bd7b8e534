/*
 * cpu_harness.h — a bare CPU for unit tests: 64-bit mode, identity-mapped
 * RAM (2 MiB pages, 0 .. 1 GiB, tables at 0x1000), code loaded where the
 * test says, and an IDT whose handler for vector v is a HLT at
 * CPU_HARNESS_HANDLER(v), so a test sees which exception was delivered.
 */
#ifndef APICV_TEST_CPU_HARNESS_H
#define APICV_TEST_CPU_HARNESS_H

#include "cpu/cpu.h"

#define CPU_HARNESS_RAM (16u << 20)
#define CPU_HARNESS_CODE 0x100000u  /* default load address of test code */
#define CPU_HARNESS_STACK 0x80000u  /* initial RSP */
#define CPU_HARNESS_IDT 0x3000u
#define CPU_HARNESS_HANDLERS 0x8000u
#define CPU_HARNESS_HANDLER(v) (CPU_HARNESS_HANDLERS + (v) * 16u)
#define CPU_HARNESS_HANDLER_STACK 0x70000u /* RSP0-free: CPL0 handlers use the current stack */
/* The 32-bit protected-mode set-up of cpu_harness_enter_prot32: its IDT and
 * the flat 32-bit code and data selectors it writes into the GDT at 0x500. */
#define CPU_HARNESS_IDT32 0x6000u
#define CPU_HARNESS_SEL_CODE32 0x28
#define CPU_HARNESS_SEL_DATA32 0x30

typedef struct cpu_harness {
    cpu_phys phys;
    cpu_t cpu;
    cpu_cost_model costs;
    cpu_obs_bus obs;
} cpu_harness;

/* A fresh CPU in 64-bit mode at CPL 0, RIP = CPU_HARNESS_CODE, RSP =
 * CPU_HARNESS_STACK, RFLAGS = 2, with the identity tables, a GDT and the
 * HLT-handler IDT loaded. */
void cpu_harness_init(cpu_harness *h);
void cpu_harness_free(cpu_harness *h);
/* Copies code to guest-physical addr. */
void cpu_harness_load(cpu_harness *h, uint64_t addr, const void *code, size_t len);
/* Loads code at CPU_HARNESS_CODE, sets RIP there, leaves the HLT state and
 * runs n instructions. */
cpu_stop cpu_harness_exec(cpu_harness *h, const void *code, size_t len, uint64_t n);
/* The vector whose handler the CPU halted in, or -1. */
int cpu_harness_vector(const cpu_harness *h);
/* Reads a qword / dword of guest-physical memory. */
uint64_t cpu_harness_peek64(cpu_harness *h, uint64_t pa);
uint32_t cpu_harness_peek32(cpu_harness *h, uint64_t pa);
/* Writes a qword / dword of guest-physical memory. */
void cpu_harness_poke64(cpu_harness *h, uint64_t pa, uint64_t v);
void cpu_harness_poke32(cpu_harness *h, uint64_t pa, uint32_t v);
/* A 32-bit IDT gate descriptor (SDM Vol. 3A 6.11, Figure 6-2): handler
 * offset, code selector, present, DPL 0, the given type (0EH interrupt
 * gate, 0FH trap gate). */
uint64_t cpu_harness_gate32(uint32_t off, uint16_t sel, unsigned type);
/* The same, an interrupt gate. */
uint64_t cpu_harness_int_gate32(uint32_t off, uint16_t sel);
/* Switches a fresh harness CPU to the Multiboot state, 32-bit protected
 * mode with paging off (SDM Vol. 3A 9.9.1): flat 4-GByte 32-bit code at
 * CPU_HARNESS_SEL_CODE32 and data at CPU_HARNESS_SEL_DATA32 written into the
 * GDT at 0x500 (whose limit is gdt_limit: the test adds its own descriptors),
 * a 256-entry 32-bit IDT at CPU_HARNESS_IDT32 of interrupt gates to the HLT
 * handlers, CS = the code selector and every other segment register the
 * data selector, EFER and CR4 clear, ESP = CPU_HARNESS_STACK, EIP =
 * CPU_HARNESS_CODE. */
void cpu_harness_enter_prot32(cpu_harness *h, uint16_t gdt_limit);

#endif
