/*
 * apic_internal.h — helpers shared by the apic/ sources; not part of the
 * public interface.
 */
#ifndef APICV_APIC_INTERNAL_H
#define APICV_APIC_INTERNAL_H

#include "apic/apic.h"

/* Emits an APIC event stamped with the owner's clock and index. */
static inline void apic_emit(const apic_t *a, unsigned kind, uint64_t ea, uint64_t eb,
                             uint64_t ec, uint64_t ed)
{
    cpu_obs_emit(a->obs, a->cpu->cycles, a->cpu->index, kind, ea, eb, ec, ed);
}

static inline bool apic_vec_test(const uint32_t *r, unsigned v)
{
    return (r[v >> 5] >> (v & 31)) & 1u;
}

static inline void apic_vec_set(uint32_t *r, unsigned v)
{
    r[v >> 5] |= 1u << (v & 31);
}

static inline void apic_vec_clear(uint32_t *r, unsigned v)
{
    r[v >> 5] &= ~(1u << (v & 31));
}

/* Highest set vector of a 256-bit register, or -1. */
int apic_vec_highest(const uint32_t *r);

/* Raises CPU_EVT_INTR when something may be deliverable. */
void apic_update_signal(apic_t *a);
/* Delivers a local interrupt through LVT entry lvt (SDM 11.5.1). Returns
 * whether the entry was unmasked. */
bool apic_lvt_deliver(apic_t *a, unsigned lvt);
/* Writes the SVR (SDM 11.9): clearing the enable bit masks every LVT. */
void apic_write_svr(apic_t *a, uint32_t v);
/* Writes an LVT register (value already cleared of bits the caller
 * rejects); keeps read-only bits and forces the mask while software
 * disabled. */
void apic_write_lvt(apic_t *a, unsigned lvt, uint32_t v);
/* IA32_APIC_BASE write with its mode transitions; false = #GP. */
bool apic_write_base_msr(apic_t *a, uint64_t v);
/* Bits of an LVT register that are reserved in x2APIC mode. */
uint32_t apic_lvt_reserved(unsigned lvt);
/* Timer register writes (apic_timer.c). */
void apic_timer_write_initial(apic_t *a, uint32_t v);
void apic_timer_write_divide(apic_t *a, uint32_t v);
void apic_timer_lvt_written(apic_t *a, uint32_t before, uint32_t after);
uint64_t apic_timer_read_deadline(const apic_t *a);
void apic_timer_write_deadline(apic_t *a, uint64_t v);
/* Sends what the ICR holds (SDM 11.6.1). */
void apic_send_icr(apic_t *a);
/* Logical x2APIC ID from the x2APIC ID (SDM 11.12.10.2). */
uint32_t apic_x2apic_ldr(uint32_t x2apic_id);

#endif
