/*
 * apic.h — the physical local APIC of one emulated CPU (Intel SDM Vol. 3A
 * chapter 11, "Advanced Programmable Interrupt Controller").
 *
 * An apic_t is a plain struct the machine embeds, one per CPU; it needs no
 * allocation. It models the xAPIC MMIO page and the x2APIC MSRs, the
 * IA32_APIC_BASE mode state machine, TPR/PPR/APR, IRR/ISR/TMR, EOI, the ESR,
 * the ICR (turned into apic_ipi records for the machine to route), destination
 * matching, the LVT and the timer (one-shot, periodic, TSC-deadline).
 *
 * The clock is the owning CPU's cycle counter (cpu->cycles): the APIC timer
 * ticks on it (divided by the divide configuration) and the TSC it compares
 * IA32_TSC_DEADLINE against is it. No host time.
 *
 * The APIC never touches another APIC: an IPI is handed to the sink the
 * machine installs, which routes it (apic_matches_destination,
 * apic_arbitration_priority) and calls apic_accept on the receivers at the
 * cycle it chooses. Whenever an interrupt or NMI may be ready for the CPU,
 * the APIC calls cpu_signal(cpu, CPU_EVT_INTR); the events hook then asks
 * apic_pending_vector / apic_acknowledge / apic_take_nmi.
 *
 * Every architectural event is emitted on the observer bus with the kinds
 * below (range CPU_OBS_RANGE_APIC).
 */
#ifndef APICV_APIC_H
#define APICV_APIC_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"

/* ---- architectural constants ------------------------------------------ */

#define APIC_DEFAULT_BASE 0xFEE00000ull
#define APIC_PAGE_SIZE 0x1000u

/* IA32_APIC_BASE bits (SDM 11.4.4, 11.12.1). */
enum {
    APIC_BASE_BSP = 1u << 8,
    APIC_BASE_EXTD = 1u << 10, /* x2APIC mode */
    APIC_BASE_EN = 1u << 11,   /* xAPIC global enable */
};

/* xAPIC MMIO register offsets (SDM Table 11-1). The x2APIC MSR of a
 * register is 0x800 + (offset >> 4) (SDM Table 11-6). */
enum apic_reg {
    APIC_REG_ID = 0x020,
    APIC_REG_VERSION = 0x030,
    APIC_REG_TPR = 0x080,
    APIC_REG_APR = 0x090,
    APIC_REG_PPR = 0x0A0,
    APIC_REG_EOI = 0x0B0,
    APIC_REG_RRD = 0x0C0,
    APIC_REG_LDR = 0x0D0,
    APIC_REG_DFR = 0x0E0,
    APIC_REG_SVR = 0x0F0,
    APIC_REG_ISR = 0x100, /* 8 registers, 0x100 .. 0x170 */
    APIC_REG_TMR = 0x180, /* 0x180 .. 0x1F0 */
    APIC_REG_IRR = 0x200, /* 0x200 .. 0x270 */
    APIC_REG_ESR = 0x280,
    APIC_REG_LVT_CMCI = 0x2F0,
    APIC_REG_ICR_LO = 0x300,
    APIC_REG_ICR_HI = 0x310,
    APIC_REG_LVT_TIMER = 0x320,
    APIC_REG_LVT_THERMAL = 0x330,
    APIC_REG_LVT_PERF = 0x340,
    APIC_REG_LVT_LINT0 = 0x350,
    APIC_REG_LVT_LINT1 = 0x360,
    APIC_REG_LVT_ERROR = 0x370,
    APIC_REG_TIMER_ICR = 0x380, /* initial count */
    APIC_REG_TIMER_CCR = 0x390, /* current count */
    APIC_REG_TIMER_DCR = 0x3E0, /* divide configuration */
    APIC_REG_SELF_IPI = 0x3F0,  /* x2APIC only (MSR 0x83F) */
};

/* MSRs this module answers (apic_msr_read / apic_msr_write). */
enum {
    APIC_MSR_BASE = 0x1B,
    APIC_MSR_TSC_DEADLINE = 0x6E0,
    APIC_MSR_X2APIC_FIRST = 0x800,
    APIC_MSR_X2APIC_LAST = 0x8FF,
    APIC_MSR_ICR = 0x830,
    APIC_MSR_SELF_IPI = 0x83F,
};

/* Version register: version 14H, max LVT entry 5 (timer, thermal, perf,
 * LINT0, LINT1, error: no CMCI), EOI-broadcast suppression supported
 * (bit 24). SDM 11.4.8. */
#define APIC_VERSION_VALUE 0x01050014u

/* SVR bits (SDM 11.9). */
enum {
    APIC_SVR_ENABLE = 1u << 8,
    APIC_SVR_FOCUS_DISABLE = 1u << 9,
    APIC_SVR_EOI_SUPPRESS = 1u << 12,
};

/* ESR bits (SDM 11.5.3). */
enum {
    APIC_ESR_SEND_CHECKSUM = 1u << 0,
    APIC_ESR_RECV_CHECKSUM = 1u << 1,
    APIC_ESR_SEND_ACCEPT = 1u << 2,
    APIC_ESR_RECV_ACCEPT = 1u << 3,
    APIC_ESR_REDIRECTABLE_IPI = 1u << 4,
    APIC_ESR_SEND_ILLEGAL_VECTOR = 1u << 5,
    APIC_ESR_RECV_ILLEGAL_VECTOR = 1u << 6,
    APIC_ESR_ILLEGAL_REGISTER = 1u << 7,
};

/* LVT entries in the order of their registers (without CMCI). */
enum apic_lvt {
    APIC_LVT_TIMER,
    APIC_LVT_THERMAL,
    APIC_LVT_PERF,
    APIC_LVT_LINT0,
    APIC_LVT_LINT1,
    APIC_LVT_ERROR,
    APIC_LVT_COUNT
};

/* LVT and ICR fields (SDM Figures 11-8 and 11-12). */
enum {
    APIC_LVT_VECTOR = 0xFFu,
    APIC_LVT_DELIVERY_SHIFT = 8,
    APIC_LVT_DELIVERY_MASK = 7u << 8,
    APIC_LVT_DELIVERY_STATUS = 1u << 12,
    APIC_LVT_POLARITY = 1u << 13,
    APIC_LVT_REMOTE_IRR = 1u << 14,
    APIC_LVT_LEVEL = 1u << 15,
    APIC_LVT_MASKED = 1u << 16,
    APIC_LVT_TIMER_MODE_SHIFT = 17,
    APIC_LVT_TIMER_MODE_MASK = 3u << 17,
};

/* Timer modes, LVT timer bits 18:17 (SDM 11.5.4). */
enum apic_timer_mode {
    APIC_TIMER_ONESHOT = 0,
    APIC_TIMER_PERIODIC = 1,
    APIC_TIMER_TSC_DEADLINE = 2,
};

/* Delivery modes (ICR and LVT bits 10:8). */
enum apic_delivery {
    APIC_DM_FIXED = 0,
    APIC_DM_LOWEST = 1,
    APIC_DM_SMI = 2,
    APIC_DM_RESERVED3 = 3,
    APIC_DM_NMI = 4,
    APIC_DM_INIT = 5,
    APIC_DM_SIPI = 6,
    APIC_DM_EXTINT = 7,
};

/* ICR destination shorthand, bits 19:18. */
enum apic_shorthand {
    APIC_SH_NONE = 0,
    APIC_SH_SELF = 1,
    APIC_SH_ALL = 2,          /* all including self */
    APIC_SH_ALL_BUT_SELF = 3, /* all excluding self */
};

/* ---- IPIs ---------------------------------------------------------------- */

/* One interprocessor interrupt as written to the ICR (SDM 11.6.1). */
typedef struct apic_ipi {
    unsigned src_index; /* the sending CPU's index (cpu->index) */
    uint32_t src_id;    /* the sender's APIC ID at the time of the send */
    uint8_t vector;
    uint8_t delivery;   /* enum apic_delivery */
    uint8_t shorthand;  /* enum apic_shorthand */
    bool logical;       /* destination mode: logical (1) or physical (0) */
    bool level_assert;  /* ICR bit 14: assert (1) / de-assert (0) */
    bool trigger_level; /* ICR bit 15: level (1) / edge (0) */
    bool x2apic;        /* sent in x2APIC mode: dest is 32 bits */
    uint32_t dest;      /* xAPIC: ICR[63:56]; x2APIC: ICR[63:32] */
    uint64_t icr;       /* the ICR value as written (64 bits) */
} apic_ipi;

typedef struct apic apic_t;

typedef void (*apic_ipi_fn)(void *ctx, apic_t *src, const apic_ipi *ipi);
typedef void (*apic_eoi_fn)(void *ctx, apic_t *a, uint8_t vector);

/* ---- the local APIC ------------------------------------------------------ */

struct apic {
    cpu_t *cpu;      /* owner: clock (cycles), index, cpu_signal */
    cpu_obs_bus *obs;

    uint64_t base_msr;    /* IA32_APIC_BASE */
    uint32_t x2apic_id;   /* the hardware (initial) APIC ID: CPU index */
    uint32_t id;          /* xAPIC ID register value (ID in bits 31:24) */
    uint32_t tpr;
    uint32_t ldr;
    uint32_t dfr;
    uint32_t svr;
    uint32_t isr[8], tmr[8], irr[8];
    uint32_t esr;         /* the readable ESR (latched at the last write) */
    uint32_t esr_pending; /* errors detected since the last ESR write */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[APIC_LVT_COUNT];
    uint32_t timer_initial; /* initial-count register */
    uint32_t timer_divide;  /* divide-configuration register */

    /* Timer state (apic_timer.c): while timer_armed, the current count is
     * timer_anchor_count at cycle timer_anchor and drops by one every
     * divisor cycles from there. */
    bool timer_armed;
    uint64_t timer_anchor;
    uint32_t timer_anchor_count;
    uint64_t tsc_deadline; /* IA32_TSC_DEADLINE; 0 = disarmed */
    uint64_t timer_fired;  /* expirations so far (statistics, digest) */

    /* Events that bypass IRR/ISR (SDM 11.8.4 note). */
    bool nmi_pending;
    bool smi_pending;
    bool init_pending;
    bool sipi_pending;
    uint8_t sipi_vector;

    apic_ipi_fn ipi_send;
    void *ipi_ctx;
    apic_eoi_fn level_eoi;
    void *eoi_ctx;
};

/* Power-up reset (SDM 11.4.7.1, 11.12.5.1): IA32_APIC_BASE = FEE00000H |
 * EN | BSP (when bsp), xAPIC mode, ID = apic_id, SVR = FFH (software
 * disabled), LVTs masked, DFR all ones, everything else 0. */
void apic_init(apic_t *a, cpu_t *cpu, unsigned apic_id, bool bsp, cpu_obs_bus *obs);
/* INIT (SDM 11.4.7.3, 11.12.5.1): every register except the ID, the mode
 * and IA32_APIC_BASE returns to its reset value. Sinks stay installed. */
void apic_init_reset(apic_t *a);

void apic_set_ipi_sink(apic_t *a, apic_ipi_fn send, void *ctx);
/* Called on EOI of a level-triggered vector (TMR set) unless EOI-broadcast
 * suppression (SVR bit 12) is on: the hook for the I/O APIC EOI broadcast. */
void apic_set_eoi_sink(apic_t *a, apic_eoi_fn eoi, void *ctx);

/* ---- mode ---------------------------------------------------------------- */

uint64_t apic_base_msr(const apic_t *a);
uint64_t apic_base_address(const apic_t *a);
bool apic_hw_enabled(const apic_t *a);       /* IA32_APIC_BASE.EN */
bool apic_sw_enabled(const apic_t *a);       /* SVR bit 8 */
bool apic_x2apic_mode(const apic_t *a);      /* EN and EXTD */
bool apic_xapic_mmio_enabled(const apic_t *a); /* EN and not EXTD */
/* The APIC ID used for physical destinations: xAPIC ID[31:24] or x2APIC ID. */
uint32_t apic_id(const apic_t *a);

/* ---- register access ------------------------------------------------------ */

/* The xAPIC page (SDM 11.4.1, Table 11-1), offset 0..FFFH from the base.
 * Registers sit in the low dword of each 16-byte slot; narrower accesses
 * see the bytes of that dword, the rest of the slot reads 0 and ignores
 * writes. Returns false when the page is not there (APIC disabled or in
 * x2APIC mode): the machine then treats the address as unowned. */
bool apic_mmio_read(apic_t *a, uint32_t offset, unsigned size, uint64_t *val);
bool apic_mmio_write(apic_t *a, uint32_t offset, unsigned size, uint64_t val);

/* IA32_APIC_BASE (1BH), IA32_TSC_DEADLINE (6E0H) and the x2APIC MSRs
 * 800H-8FFH (SDM 11.12.1). false means #GP(0). Other MSR numbers: false. */
bool apic_msr_read(apic_t *a, uint32_t msr, uint64_t *val);
bool apic_msr_write(apic_t *a, uint32_t msr, uint64_t val);
/* Whether an x2APIC-mode WRMSR of x2APIC MSR msr (800H-8FFH) with val is
 * allowed: false for a reserved MSR, a read-only register or a reserved bit
 * set (SDM 11.12.1.2, 11.12.1.3), where the processor raises #GP(0). For
 * whoever emulates the MSRs (the hypervisor's virtual-APIC page). */
bool apic_x2apic_msr_write_allowed(uint32_t msr, uint64_t val);

/* TPR as CR8 sees it (SDM 11.8.6): the machine maps MOV CR8 onto these. */
uint8_t apic_get_tpr(const apic_t *a);
void apic_set_tpr(apic_t *a, uint8_t tpr);

/* ---- priority, acceptance, acknowledge, EOI -------------------------------- */

uint8_t apic_ppr(const apic_t *a);                    /* SDM 11.8.3.1 */
uint8_t apic_arbitration_priority(const apic_t *a);   /* APR, SDM 11.6.2.4 */
uint8_t apic_spurious_vector(const apic_t *a);        /* SVR[7:0] */
/* Highest IRR vector whose priority class is above PPR's, or -1 (also -1
 * while the APIC is globally disabled). SDM 11.8.3. */
int apic_pending_vector(const apic_t *a);
/* INTA (SDM 11.8.4): moves the highest deliverable IRR bit to ISR and
 * returns its vector; -1 when nothing is deliverable (see
 * apic_acknowledge_or_spurious for what hardware does then). */
int apic_acknowledge(apic_t *a);
/* INTA as the processor sees it: a deliverable vector, else the spurious
 * vector (SDM 11.9: ISR untouched, no EOI due). Only meaningful after the
 * APIC signalled an interrupt. */
uint8_t apic_acknowledge_or_spurious(apic_t *a);
/* An EOI write (SDM 11.8.5). */
void apic_eoi(apic_t *a);

/* An interrupt message arrives (SDM 11.8.4, 11.6.1): fixed and lowest
 * priority set IRR (and TMR when level) unless the APIC is software
 * disabled; vectors 0-15 are refused with ESR "receive illegal vector";
 * NMI, SMI, INIT and SIPI set their pending flags. Ignored while globally
 * disabled. */
void apic_accept(apic_t *a, uint8_t vector, unsigned delivery_mode, bool level);
/* apic_accept for an IPI record (INIT level de-assert is dropped). */
void apic_accept_ipi(apic_t *a, const apic_ipi *ipi);
/* Records detected errors (APIC_ESR_* bits) in the ESR and raises the LVT
 * error interrupt (SDM 11.5.3). Public for a hypervisor that sends messages
 * on behalf of a guest's APIC (an ICR write it emulates). */
void apic_signal_error(apic_t *a, uint32_t bits);
/* The ESR bits a local APIC sets when it sends this message (SDM 11.5.3:
 * send accept error, redirectable IPI, send illegal vector; 0 when none)
 * and, in *send, whether the message goes out at all. */
uint32_t apic_ipi_send_errors(const apic_ipi *ipi, bool *send);
/* An edge on LINT0/LINT1 (pin 0/1), delivered through its LVT entry
 * (SDM 11.5.1): fixed, NMI, SMI and INIT; ExtINT is unimplemented. */
void apic_raise_lint(apic_t *a, unsigned pin);

bool apic_take_nmi(apic_t *a);
bool apic_take_smi(apic_t *a);
bool apic_take_init(apic_t *a);
/* Returns the SIPI vector and clears it, or -1. */
int apic_take_sipi(apic_t *a);

/* ---- IPIs ------------------------------------------------------------------ */

/* Whether a receives ipi (SDM 11.6.2): shorthands, physical, logical flat
 * and cluster (DFR, xAPIC), x2APIC logical cluster, broadcast (FFH /
 * FFFFFFFFH). A globally disabled APIC matches nothing. */
bool apic_matches_destination(const apic_t *a, const apic_ipi *ipi);

/* Lowest-priority delivery (SDM 11.6.2.4): among the n APICs that match
 * ipi, the index of the one with the lowest arbitration priority (APR),
 * ties going to the lowest index (our model of the arbitration ID); -1
 * when none matches. */
int apic_select_lowest_priority(apic_t *const *apics, unsigned n, const apic_ipi *ipi);

/* ---- timer ------------------------------------------------------------------ */

/* The cycle at which the timer next fires, UINT64_MAX if none (SDM 11.5.4). */
uint64_t apic_timer_deadline(const apic_t *a);
/* Fires the timer if now >= its deadline: sets IRR of the LVT timer vector
 * unless masked, reloads periodic, disarms one-shot and TSC-deadline. */
void apic_timer_advance(apic_t *a, uint64_t now);
/* The current-count register at cycle now. */
uint32_t apic_timer_current(const apic_t *a, uint64_t now);
/* The divisor selected by the divide-configuration register (1..128). */
unsigned apic_timer_divisor(const apic_t *a);

/* ---- events, digest ------------------------------------------------------------ */

enum apic_obs_kind {
    APIC_EV_ACCEPT = CPU_OBS_RANGE_APIC, /* a=vector b=delivery mode c=level d=outcome (apic_accept_outcome) */
    APIC_EV_ACK,       /* a=vector b=PPR before d=PPR after */
    APIC_EV_EOI,       /* a=vector (or ~0 if ISR was empty) b=ISR highest before c=TMR bit d=ISR highest after */
    APIC_EV_IPI,       /* a=vector | delivery<<8 | shorthand<<12 | logical<<14 | trigger<<15 b=dest c=self-delivered d=ICR */
    APIC_EV_TIMER,     /* a=vector b=timer mode c=masked d=expirations in this call */
    APIC_EV_TPR,       /* a=new TPR b=PPR before d=PPR after */
    APIC_EV_MODE,      /* IA32_APIC_BASE or SVR change: a=msr/offset b=before d=after */
    APIC_EV_ERROR,     /* a=new error bits b=ESR pending before d=after */
    APIC_EV_SPURIOUS,  /* a=spurious vector: INTA with nothing deliverable */
    APIC_EV_LAST
};

enum apic_accept_outcome {
    APIC_ACCEPT_OK = 0,
    APIC_ACCEPT_DISABLED = 1, /* software or globally disabled */
    APIC_ACCEPT_ILLEGAL = 2,  /* vector 0-15 */
    APIC_ACCEPT_IGNORED = 3,  /* delivery mode the APIC does not take (ExtINT, reserved) */
};

/* Name of an APIC event kind ("apic.accept"), or NULL outside the range. */
const char *apic_event_name(unsigned kind);

/* Folds all architectural state (no pointers) into an FNV-1a 64-bit hash. */
void apic_digest(const apic_t *a, uint64_t *hash);

#endif
