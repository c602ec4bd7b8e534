/*
 * apic_regs.c — the register interfaces of the local APIC: the xAPIC MMIO
 * page (SDM 11.4.1, Table 11-1), the x2APIC MSRs (SDM 11.12.1, Table 11-6)
 * with their #GP rules, the ICR and IPI records (SDM 11.6.1) and
 * destination matching (SDM 11.6.2).
 */
#include "apic/apic_internal.h"

/* Why a register write was refused. In x2APIC mode every refusal is a
 * #GP; in xAPIC mode a reserved offset is an "illegal register address"
 * error and a read-only register ignores the write. */
typedef enum apic_wr {
    APIC_WR_OK,
    APIC_WR_RESERVED,  /* no register at this offset (in this mode) */
    APIC_WR_READONLY,
    APIC_WR_BADBITS,   /* x2APIC reserved-bit check (SDM 11.12.1.3) */
} apic_wr;

static int apic_lvt_of(uint32_t reg)
{
    switch (reg) {
    case APIC_REG_LVT_TIMER: return APIC_LVT_TIMER;
    case APIC_REG_LVT_THERMAL: return APIC_LVT_THERMAL;
    case APIC_REG_LVT_PERF: return APIC_LVT_PERF;
    case APIC_REG_LVT_LINT0: return APIC_LVT_LINT0;
    case APIC_REG_LVT_LINT1: return APIC_LVT_LINT1;
    case APIC_REG_LVT_ERROR: return APIC_LVT_ERROR;
    default: return -1;
    }
}

/* Reads register reg (a 16-byte-aligned offset). x2 selects the x2APIC
 * view: 32-bit ID, 64-bit ICR, and no APR, RRD, DFR, ICR high or EOI
 * reads. Returns false when the register is reserved or write-only in
 * that mode. */
static bool apic_read_register(const apic_t *a, uint32_t reg, bool x2, uint64_t *out)
{
    uint64_t v = 0;
    if (reg >= APIC_REG_ISR && reg < APIC_REG_ISR + 0x80) {
        v = a->isr[(reg - APIC_REG_ISR) >> 4];
    } else if (reg >= APIC_REG_TMR && reg < APIC_REG_TMR + 0x80) {
        v = a->tmr[(reg - APIC_REG_TMR) >> 4];
    } else if (reg >= APIC_REG_IRR && reg < APIC_REG_IRR + 0x80) {
        v = a->irr[(reg - APIC_REG_IRR) >> 4];
    } else if (apic_lvt_of(reg) >= 0) {
        v = a->lvt[apic_lvt_of(reg)];
    } else {
        switch (reg) {
        case APIC_REG_ID: v = x2 ? a->x2apic_id : a->id; break;
        case APIC_REG_VERSION: v = APIC_VERSION_VALUE; break;
        case APIC_REG_TPR: v = a->tpr; break;
        case APIC_REG_APR:
            if (x2)
                return false;
            v = apic_arbitration_priority(a);
            break;
        case APIC_REG_PPR: v = apic_ppr(a); break;
        case APIC_REG_EOI:
        case APIC_REG_RRD:
        case APIC_REG_ICR_HI:
            if (x2)
                return false;
            v = reg == APIC_REG_ICR_HI ? a->icr_hi : 0;
            break;
        case APIC_REG_LDR: v = a->ldr; break;
        case APIC_REG_DFR:
            if (x2)
                return false;
            v = a->dfr;
            break;
        case APIC_REG_SVR: v = a->svr; break;
        case APIC_REG_ESR: v = a->esr; break;
        case APIC_REG_ICR_LO:
            /* The delivery-status bit always reads idle: IPIs are handed to the
             * machine at once (SDM 11.6.1 bit 12; x2APIC: undefined). */
            v = x2 ? ((uint64_t)a->icr_hi << 32 | a->icr_lo) : a->icr_lo;
            break;
        case APIC_REG_TIMER_ICR: v = a->timer_initial; break;
        case APIC_REG_TIMER_CCR: v = apic_timer_current(a, a->cpu->cycles); break;
        case APIC_REG_TIMER_DCR: v = a->timer_divide; break;
        default: return false; /* includes SELF IPI: write-only / x2APIC only */
        }
    }
    *out = v;
    return true;
}

/* SDM 11.6.1: the ICR bits software writes (vector, delivery mode,
 * destination mode, level, trigger mode, shorthand); delivery status is
 * read-only (xAPIC) or ignored (x2APIC). */
#define APIC_ICR_WRITABLE 0x000CCFFFu
#define APIC_ICR_X2_RESERVED 0xFFF32000u /* bits 13, 16, 17, 20-31 */

/*
 * SDM 11.12.1.2 (x2APIC Register Address Space, Table 11-6) and 11.12.1.3
 * (Reserved Bit Checking): whether a WRMSR of register reg with value v in
 * x2APIC mode is refused with #GP — a reserved MSR, a read-only register, or
 * a reserved bit set. Bits 63:32 are reserved in every register but the
 * 64-bit ICR; in the ICR bits 31:20, 17:16 and 13 are reserved (delivery
 * status, bit 12, is ignored as KVM does: Intel CPUs ignore it); SELF IPI
 * takes only a vector (bits 7:0).
 */
static apic_wr apic_x2_write_check(uint32_t reg, uint64_t v)
{
    if (reg != APIC_REG_ICR_LO && (v >> 32))
        return APIC_WR_BADBITS;
    uint32_t v32 = (uint32_t)v;
    int lvt = apic_lvt_of(reg);
    if (lvt >= 0)
        return (v32 & apic_lvt_reserved((unsigned)lvt)) ||
                       (lvt == APIC_LVT_TIMER &&
                        (v32 & APIC_LVT_TIMER_MODE_MASK) == APIC_LVT_TIMER_MODE_MASK)
                   ? APIC_WR_BADBITS
                   : APIC_WR_OK;
    if (reg >= APIC_REG_ISR && reg < APIC_REG_IRR + 0x80)
        return APIC_WR_READONLY;
    switch (reg) {
    case APIC_REG_ID:
    case APIC_REG_VERSION:
    case APIC_REG_PPR:
    case APIC_REG_TIMER_CCR:
    case APIC_REG_LDR: /* SDM 11.12.10.2: derived from the ID */
        return APIC_WR_READONLY;
    case APIC_REG_TPR: return (v32 & ~0xFFu) ? APIC_WR_BADBITS : APIC_WR_OK;
    case APIC_REG_EOI: /* SDM 11.8.5 / Table 11-6: only 0 */
    case APIC_REG_ESR: return v32 ? APIC_WR_BADBITS : APIC_WR_OK;
    case APIC_REG_SVR:
        return (v32 & ~(0xFFu | APIC_SVR_ENABLE | APIC_SVR_FOCUS_DISABLE | APIC_SVR_EOI_SUPPRESS))
                   ? APIC_WR_BADBITS
                   : APIC_WR_OK;
    case APIC_REG_ICR_LO: return (v32 & APIC_ICR_X2_RESERVED) ? APIC_WR_BADBITS : APIC_WR_OK;
    case APIC_REG_TIMER_ICR: return APIC_WR_OK;
    case APIC_REG_TIMER_DCR: return (v32 & ~0xBu) ? APIC_WR_BADBITS : APIC_WR_OK;
    case APIC_REG_SELF_IPI: return (v32 & ~0xFFu) ? APIC_WR_BADBITS : APIC_WR_OK;
    default: return APIC_WR_RESERVED; /* APR, RRD, DFR, ICR high and the holes */
    }
}

bool apic_x2apic_msr_write_allowed(uint32_t msr, uint64_t val)
{
    if (msr < APIC_MSR_X2APIC_FIRST || msr > APIC_MSR_X2APIC_LAST)
        return false;
    return apic_x2_write_check((msr - APIC_MSR_X2APIC_FIRST) << 4, val) == APIC_WR_OK;
}

/* Writes register reg. v holds 32 bits (64 for the x2APIC ICR). An x2APIC
 * write is checked first (apic_x2_write_check) and changes nothing when
 * refused. */
static apic_wr apic_write_register(apic_t *a, uint32_t reg, bool x2, uint64_t v)
{
    if (x2) {
        apic_wr w = apic_x2_write_check(reg, v);
        if (w != APIC_WR_OK)
            return w;
    }
    uint32_t v32 = (uint32_t)v;
    int lvt = apic_lvt_of(reg);
    if (lvt >= 0) {
        apic_write_lvt(a, (unsigned)lvt, v32);
        return APIC_WR_OK;
    }
    if (reg >= APIC_REG_ISR && reg < APIC_REG_IRR + 0x80)
        return APIC_WR_READONLY;
    switch (reg) {
    case APIC_REG_ID:
        /* SDM 11.4.6: software may change the xAPIC ID, bits 31:24. */
        a->id = v32 & 0xFF000000u;
        return APIC_WR_OK;
    case APIC_REG_VERSION:
    case APIC_REG_PPR:
    case APIC_REG_TIMER_CCR:
    case APIC_REG_APR:
    case APIC_REG_RRD:
        return APIC_WR_READONLY;
    case APIC_REG_TPR:
        apic_set_tpr(a, (uint8_t)v32);
        return APIC_WR_OK;
    case APIC_REG_EOI:
        /* SDM 11.8.5: xAPIC takes any value. */
        apic_eoi(a);
        return APIC_WR_OK;
    case APIC_REG_LDR:
        a->ldr = v32 & 0xFF000000u;
        return APIC_WR_OK;
    case APIC_REG_DFR:
        a->dfr = (v32 & 0xF0000000u) | 0x0FFFFFFFu; /* SDM 11.6.2.2: bits 27:0 read 1 */
        return APIC_WR_OK;
    case APIC_REG_SVR:
        apic_write_svr(a, v32);
        return APIC_WR_OK;
    case APIC_REG_ESR:
        /* SDM 11.5.3: a write latches the errors seen since the previous
         * write into the readable ESR. */
        a->esr = a->esr_pending;
        a->esr_pending = 0;
        return APIC_WR_OK;
    case APIC_REG_ICR_LO:
        if (x2)
            a->icr_hi = (uint32_t)(v >> 32);
        a->icr_lo = v32 & APIC_ICR_WRITABLE;
        apic_send_icr(a);
        return APIC_WR_OK;
    case APIC_REG_ICR_HI:
        a->icr_hi = v32 & 0xFF000000u;
        return APIC_WR_OK;
    case APIC_REG_TIMER_ICR:
        apic_timer_write_initial(a, v32);
        return APIC_WR_OK;
    case APIC_REG_TIMER_DCR:
        apic_timer_write_divide(a, v32 & 0xBu);
        return APIC_WR_OK;
    case APIC_REG_SELF_IPI:
        /* SDM 11.12.11: x2APIC only (the check above passed it); a self IPI
         * of a fixed, edge-triggered interrupt. */
        if (!x2)
            return APIC_WR_RESERVED;
        {
            apic_ipi ipi = {.src_index = a->cpu->index, .src_id = apic_id(a),
                            .vector = (uint8_t)v32, .delivery = APIC_DM_FIXED,
                            .shorthand = APIC_SH_SELF, .x2apic = true,
                            .icr = (uint64_t)APIC_SH_SELF << 18 | (v32 & 0xFF)};
            if (ipi.vector < 16)
                apic_signal_error(a, APIC_ESR_SEND_ILLEGAL_VECTOR);
            apic_emit(a, APIC_EV_IPI, ipi.vector | (uint64_t)APIC_SH_SELF << 12, 0, 1, ipi.icr);
            apic_accept(a, ipi.vector, APIC_DM_FIXED, false);
        }
        return APIC_WR_OK;
    default:
        return APIC_WR_RESERVED;
    }
}

/* ---- xAPIC MMIO ------------------------------------------------------------------- */

/* SDM 11.4.1: registers are 32 bits at 16-byte-aligned offsets; an access
 * to a reserved offset sets ESR "illegal register address" (SDM 11.5.3). */
bool apic_mmio_read(apic_t *a, uint32_t offset, unsigned size, uint64_t *val)
{
    if (!apic_xapic_mmio_enabled(a))
        return false;
    offset &= APIC_PAGE_SIZE - 1;
    uint32_t reg = offset & 0xFF0, byte = offset & 0xF;
    *val = 0;
    if (byte >= 4)
        return true;
    uint64_t r;
    if (!apic_read_register(a, reg, false, &r)) {
        apic_signal_error(a, APIC_ESR_ILLEGAL_REGISTER);
        return true;
    }
    r = (uint32_t)r >> (8 * byte);
    if (size < 4)
        r &= (1u << (8 * size)) - 1;
    *val = r;
    return true;
}

bool apic_mmio_write(apic_t *a, uint32_t offset, unsigned size, uint64_t val)
{
    if (!apic_xapic_mmio_enabled(a))
        return false;
    apic_timer_advance(a, a->cpu->cycles);
    offset &= APIC_PAGE_SIZE - 1;
    uint32_t reg = offset & 0xFF0, byte = offset & 0xF;
    if (byte >= 4)
        return true;
    uint32_t v = (uint32_t)(val << (8 * byte));
    if (byte != 0 || size < 4) {
        /* A narrow write replaces only its bytes of the register. */
        uint32_t mask = size >= 4 ? 0xFFFFFFFFu : ((1u << (8 * size)) - 1);
        mask <<= 8 * byte;
        uint64_t cur = 0;
        apic_read_register(a, reg, false, &cur);
        v = ((uint32_t)cur & ~mask) | (v & mask);
    }
    if (apic_write_register(a, reg, false, v) == APIC_WR_RESERVED)
        apic_signal_error(a, APIC_ESR_ILLEGAL_REGISTER);
    return true;
}

/* ---- MSRs --------------------------------------------------------------------------- */

/* SDM 11.12.1.2: the x2APIC MSRs exist only in x2APIC mode (#GP otherwise);
 * reserved MSRs, reads of write-only and writes of read-only registers
 * #GP. */
bool apic_msr_read(apic_t *a, uint32_t msr, uint64_t *val)
{
    if (msr == APIC_MSR_BASE) {
        *val = a->base_msr;
        return true;
    }
    if (msr == APIC_MSR_TSC_DEADLINE) {
        *val = apic_timer_read_deadline(a);
        return true;
    }
    if (msr < APIC_MSR_X2APIC_FIRST || msr > APIC_MSR_X2APIC_LAST || !apic_x2apic_mode(a))
        return false;
    return apic_read_register(a, (msr - APIC_MSR_X2APIC_FIRST) << 4, true, val);
}

bool apic_msr_write(apic_t *a, uint32_t msr, uint64_t val)
{
    apic_timer_advance(a, a->cpu->cycles);
    if (msr == APIC_MSR_BASE)
        return apic_write_base_msr(a, val);
    if (msr == APIC_MSR_TSC_DEADLINE) {
        apic_timer_write_deadline(a, val);
        return true;
    }
    if (msr < APIC_MSR_X2APIC_FIRST || msr > APIC_MSR_X2APIC_LAST || !apic_x2apic_mode(a))
        return false;
    return apic_write_register(a, (msr - APIC_MSR_X2APIC_FIRST) << 4, true, val) == APIC_WR_OK;
}

/* ---- IPIs ----------------------------------------------------------------------------- */

/* SDM 11.6.1 (Table "Valid Combinations for the ... Local xAPIC Interrupt
 * Command Register"): the self shorthand takes only fixed; all-including-
 * self excludes lowest priority and start-up. */
static bool apic_icr_combination_valid(unsigned dm, unsigned sh)
{
    if (sh == APIC_SH_SELF)
        return dm == APIC_DM_FIXED;
    if (sh == APIC_SH_ALL)
        return dm != APIC_DM_LOWEST && dm != APIC_DM_SIPI;
    return true;
}

/*
 * The sender's errors of SDM 11.5.3 for a message built from an ICR:
 * reserved delivery modes and invalid shorthand combinations set "send
 * accept error" and are not sent; lowest priority in x2APIC mode sets
 * "redirectable IPI" and is not sent (SDM 11.12.9 ICR figure: delivery mode
 * 001 reserved); a fixed or lowest-priority vector below 16 sets "send
 * illegal vector", and the message still goes out (receivers refuse it).
 */
uint32_t apic_ipi_send_errors(const apic_ipi *ipi, bool *send)
{
    *send = false;
    if (ipi->delivery == APIC_DM_RESERVED3 || ipi->delivery == APIC_DM_EXTINT ||
        !apic_icr_combination_valid(ipi->delivery, ipi->shorthand))
        return APIC_ESR_SEND_ACCEPT;
    if (ipi->x2apic && ipi->delivery == APIC_DM_LOWEST)
        return APIC_ESR_REDIRECTABLE_IPI;
    *send = true;
    if ((ipi->delivery == APIC_DM_FIXED || ipi->delivery == APIC_DM_LOWEST) && ipi->vector < 16)
        return APIC_ESR_SEND_ILLEGAL_VECTOR;
    return 0;
}

/*
 * Sending an IPI (SDM 11.6.1): the ICR becomes an apic_ipi record, checked
 * by apic_ipi_send_errors. A self IPI is accepted here directly; every other
 * message goes to the machine's sink, which routes it with
 * apic_matches_destination.
 */
void apic_send_icr(apic_t *a)
{
    uint32_t lo = a->icr_lo;
    bool x2 = apic_x2apic_mode(a);
    apic_ipi ipi = {
        .src_index = a->cpu->index,
        .src_id = apic_id(a),
        .vector = (uint8_t)lo,
        .delivery = (uint8_t)((lo >> 8) & 7),
        .shorthand = (uint8_t)((lo >> 18) & 3),
        .logical = (lo >> 11) & 1,
        .level_assert = (lo >> 14) & 1,
        .trigger_level = (lo >> 15) & 1,
        .x2apic = x2,
        .dest = x2 ? a->icr_hi : a->icr_hi >> 24,
        .icr = (uint64_t)a->icr_hi << 32 | lo,
    };
    uint64_t summary = ipi.vector | (uint64_t)ipi.delivery << 8 | (uint64_t)ipi.shorthand << 12 |
                       (uint64_t)ipi.logical << 14 | (uint64_t)ipi.trigger_level << 15;
    bool send;
    uint32_t errors = apic_ipi_send_errors(&ipi, &send);
    if (errors)
        apic_signal_error(a, errors);
    if (!send)
        return;
    bool self = ipi.shorthand == APIC_SH_SELF;
    apic_emit(a, APIC_EV_IPI, summary, ipi.dest, self, ipi.icr);
    if (self)
        apic_accept(a, ipi.vector, APIC_DM_FIXED, ipi.trigger_level);
    else if (a->ipi_send)
        a->ipi_send(a->ipi_ctx, a, &ipi);
}

/*
 * SDM 11.6.2: destination shorthands; physical destination = APIC ID;
 * logical destination against the LDR — xAPIC flat model (DFR[31:28] =
 * 1111B: any common bit of the 8-bit MDA and LDR[31:24]) and cluster model
 * (0000B: MDA[7:4] = LDR[31:28] and a common bit in [3:0]) — or, in x2APIC
 * mode, the cluster form of SDM 11.12.10.2 (MDA[31:16] = LDR[31:16] and a
 * common bit in [15:0]). FFH (xAPIC sender) or FFFFFFFFH (x2APIC sender)
 * is a broadcast in both destination modes.
 */
bool apic_matches_destination(const apic_t *a, const apic_ipi *ipi)
{
    if (!apic_hw_enabled(a))
        return false;
    bool self = ipi->src_index == a->cpu->index;
    switch (ipi->shorthand) {
    case APIC_SH_SELF: return self;
    case APIC_SH_ALL: return true;
    case APIC_SH_ALL_BUT_SELF: return !self;
    default: break;
    }
    uint32_t dest = ipi->dest;
    if (dest == (ipi->x2apic ? 0xFFFFFFFFu : 0xFFu))
        return true;
    if (!ipi->logical)
        return dest == apic_id(a);
    if (apic_x2apic_mode(a))
        return (dest >> 16) == (a->ldr >> 16) && (dest & a->ldr & 0xFFFF) != 0;
    if (dest > 0xFF)
        return false;
    uint32_t lid = a->ldr >> 24;
    switch (a->dfr >> 28) {
    case 0xF: return (dest & lid) != 0;
    case 0x0: return (dest >> 4) == (lid >> 4) && (dest & lid & 0xF) != 0;
    default: return false;
    }
}

/* SDM 11.6.2.4: lowest-priority delivery goes to the matching processor
 * whose APR is lowest. The SDM leaves ties to the bus arbitration ID (or
 * the chipset); ties go to the lowest index here so runs are repeatable. */
int apic_select_lowest_priority(apic_t *const *apics, unsigned n, const apic_ipi *ipi)
{
    int best = -1;
    unsigned best_apr = 0x100;
    for (unsigned i = 0; i < n; i++) {
        if (!apics[i] || !apic_matches_destination(apics[i], ipi))
            continue;
        unsigned apr = apic_arbitration_priority(apics[i]);
        if (apr < best_apr) {
            best_apr = apr;
            best = (int)i;
        }
    }
    return best;
}
