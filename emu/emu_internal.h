/*
 * emu_internal.h — helpers shared by the files of emu/ (not public).
 */
#ifndef APICV_EMU_INTERNAL_H
#define APICV_EMU_INTERNAL_H

#include "emu/emu.h"

/* Native-mode hooks of CPU k: APIC MMIO/MSRs, CR8, ports, interrupts. */
void emu_native_attach(emu_machine *m, unsigned k);
/* CPU k's turn in native mode: cpu_run, or vmx_root_run when the machine
 * offers VMX root operation (root and non-root operation of the guest's
 * own hypervisor). */
cpu_stop emu_native_run(emu_machine *m, unsigned k, uint64_t limit, uint64_t max_insns);
/* Why CPU k shut down (CPU_STOP_TRIPLE_FAULT), for the crash diagnostic:
 * a VMX abort of its guest hypervisor (SDM 27.7), else a triple fault. */
const char *emu_native_shutdown_cause(const emu_machine *m, unsigned k, char *buf, size_t len);
/* Applies one due event at its CPU's boundary (native path or hv_ops). */
void emu_apply_event(emu_machine *m, const emu_qevent *ev);
/* The IPI sink installed on every APIC. */
void emu_route_ipi(void *ctx, apic_t *src, const apic_ipi *ipi);
/* "bytes 0f 0b (ud2)" for the instruction at c's RIP. */
void emu_describe_rip(cpu_t *c, char *out, size_t outlen);

/* emu_machine_step_any with the run's end at `until` (the replayer stops at
 * its next input): the CPU that retired an instruction, or -1; *finished
 * (when not NULL) says whether the run finished. */
int emu_machine_step_any_until(emu_machine *m, uint64_t until, bool *finished);

/* A CPU whose state was just copied back from a checkpoint or snapshot:
 * what belongs to the host (physical memory, observer bus, cost model,
 * decoded-block cache, the successor epoch) is taken from the live CPU,
 * nothing cached from before is kept (TLB, decoded blocks, the current
 * block), and it is not inside cpu_run. The hooks are the caller's. */
void emu_cpu_restored(cpu_t *cpu, const cpu_t *live);

/* FNV-1a 64 over bytes / one 64-bit value, continuing hash *h (digests). */
void emu_fnv(uint64_t *h, const void *data, size_t len);
void emu_fnv64(uint64_t *h, uint64_t v);
/* I/O APIC message arrival at a CPU (EMU_Q_IOAPIC) and the 8259's INT
 * routing (emu/devices/emu_irq.c). */
void emu_ioapic_deliver(emu_machine *m, const emu_qevent *ev);
bool emu_pic_routes_to(const emu_machine *m, unsigned k);
/* The 8259's INT rose: wakes the CPUs it is routed to. */
void emu_pic_changed(emu_machine *m);
/* INIT/SIPI (emu_smp.c): INIT of CPU k (reset, wait for SIPI); every CPU
 * but 0 waits (multiboot kernels); the events-hook part: takes a pending
 * INIT or SIPI, returns true while the CPU waits for SIPI (it then takes
 * nothing else). */
void emu_smp_wait_for_sipi(emu_machine *m, unsigned k);
void emu_smp_hold_aps(emu_machine *m);
bool emu_smp_events(emu_machine *m, cpu_t *c);
/* Guest RAM page by page (emu_digest.c): fn(ctx, page number, its bytes)
 * for every page holding a nonzero byte, in ascending order; pages the host
 * never backed are skipped without being read (cpu_phys_backed_pages). */
typedef void (*emu_page_fn)(void *ctx, uint64_t page, const uint8_t *data);
void emu_ram_each_nonzero_page(const cpu_phys *p, emu_page_fn fn, void *ctx);
bool emu_page_is_zero(const uint8_t *page);
/* The MSI device's register on port 0xF0 (OUT dword). */
bool emu_msi_port_write(emu_machine *m, cpu_t *c, uint32_t value);

#endif
