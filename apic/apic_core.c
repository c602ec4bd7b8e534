/*
 * apic_core.c — reset, the IA32_APIC_BASE mode state machine, priorities,
 * interrupt acceptance, INTA, EOI, errors, digest and event names of the
 * physical local APIC (SDM Vol. 3A chapter 11).
 */
#include <string.h>

#include "apic/apic_internal.h"

int apic_vec_highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--) {
        if (r[i])
            return i * 32 + 31 - __builtin_clz(r[i]);
    }
    return -1;
}

/* Logical x2APIC ID (SDM 11.12.10.2): cluster ID = x2APIC ID[19:4] in
 * LDR[31:16], one-hot position x2APIC ID[3:0] in LDR[15:0]. */
uint32_t apic_x2apic_ldr(uint32_t x2apic_id)
{
    return ((x2apic_id >> 4) << 16) | (1u << (x2apic_id & 0xF));
}

/* Register values after RESET or INIT (SDM 11.4.7.1 and 11.12.5.1): IRR,
 * ISR, TMR, ICR, LDR, TPR, timer counts and divide configuration 0; LVTs 0
 * with the mask set; SVR FFH; DFR all ones. ID and mode are left alone. */
static void apic_reset_registers(apic_t *a)
{
    a->tpr = 0;
    a->ldr = apic_x2apic_mode(a) ? apic_x2apic_ldr(a->x2apic_id) : 0;
    a->dfr = 0xFFFFFFFFu;
    a->svr = 0xFF;
    memset(a->isr, 0, sizeof a->isr);
    memset(a->tmr, 0, sizeof a->tmr);
    memset(a->irr, 0, sizeof a->irr);
    a->esr = 0;
    a->esr_pending = 0;
    a->icr_lo = 0;
    a->icr_hi = 0;
    for (unsigned i = 0; i < APIC_LVT_COUNT; i++)
        a->lvt[i] = APIC_LVT_MASKED;
    a->timer_initial = 0;
    a->timer_divide = 0;
    a->timer_armed = false;
    a->timer_anchor = 0;
    a->timer_anchor_count = 0;
    a->tsc_deadline = 0;
    a->nmi_pending = false;
    a->smi_pending = false;
    a->init_pending = false;
    a->sipi_pending = false;
    a->sipi_vector = 0;
}

void apic_init(apic_t *a, cpu_t *cpu, unsigned apic_id, bool bsp, cpu_obs_bus *obs)
{
    memset(a, 0, sizeof *a);
    a->cpu = cpu;
    a->obs = obs;
    a->x2apic_id = apic_id;
    a->id = (uint32_t)apic_id << 24;
    a->base_msr = APIC_DEFAULT_BASE | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0);
    apic_reset_registers(a);
}

/* INIT keeps the APIC ID and the mode (SDM 11.12.5.1 "x2APIC After
 * RESET" / "x2APIC Transitions From x2APIC Mode"); all else is reset. */
void apic_init_reset(apic_t *a)
{
    apic_reset_registers(a);
}

void apic_set_ipi_sink(apic_t *a, apic_ipi_fn send, void *ctx)
{
    a->ipi_send = send;
    a->ipi_ctx = ctx;
}

void apic_set_eoi_sink(apic_t *a, apic_eoi_fn eoi, void *ctx)
{
    a->level_eoi = eoi;
    a->eoi_ctx = ctx;
}

/* ---- mode ------------------------------------------------------------------ */

uint64_t apic_base_msr(const apic_t *a)
{
    return a->base_msr;
}

uint64_t apic_base_address(const apic_t *a)
{
    return a->base_msr & ~0xFFFull;
}

bool apic_hw_enabled(const apic_t *a)
{
    return (a->base_msr & APIC_BASE_EN) != 0;
}

bool apic_sw_enabled(const apic_t *a)
{
    return (a->svr & APIC_SVR_ENABLE) != 0;
}

bool apic_x2apic_mode(const apic_t *a)
{
    return (a->base_msr & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

bool apic_xapic_mmio_enabled(const apic_t *a)
{
    return (a->base_msr & (APIC_BASE_EN | APIC_BASE_EXTD)) == APIC_BASE_EN;
}

uint32_t apic_id(const apic_t *a)
{
    return apic_x2apic_mode(a) ? a->x2apic_id : a->id >> 24;
}

/*
 * WRMSR IA32_APIC_BASE (SDM 11.4.4, 11.12.1 and 11.12.5 with its Figure
 * "Local x2APIC State Transitions"). Reserved bits (7:0, 9, MAXPHYADDR and
 * up) #GP; EN=0 EXTD=1 is invalid; x2APIC → xAPIC and disabled → x2APIC
 * are illegal transitions (#GP). Entering the disabled state returns the
 * APIC to its power-up state (SDM 11.4.3: "may return to the state described
 * in Section 11.4.7.1"), the ID included: the xAPIC ID becomes the initial
 * APIC ID again, x2APIC ID[7:0], as 11.12.5.1 has it for x2APIC -> disabled
 * and as KVM does when the APIC is enabled again (kvm-unit-tests' apic test
 * "correct xapic id after reset" expects it). Entering x2APIC mode
 * initialises the logical x2APIC ID. The BSP flag is writable, as KVM
 * models it.
 */
bool apic_write_base_msr(apic_t *a, uint64_t v)
{
    const uint64_t reserved = 0x2FFull | (~0ull << CPU_MAXPHYADDR);
    if (v & reserved)
        return false;
    bool old_en = (a->base_msr & APIC_BASE_EN) != 0, old_x = (a->base_msr & APIC_BASE_EXTD) != 0;
    bool new_en = (v & APIC_BASE_EN) != 0, new_x = (v & APIC_BASE_EXTD) != 0;
    if (!new_en && new_x)
        return false;
    if (old_en && old_x && new_en && !new_x)
        return false;
    if (!old_en && new_x)
        return false;
    uint64_t before = a->base_msr;
    a->base_msr = v;
    if (old_en && !new_en) {
        a->id = a->x2apic_id << 24; /* the legacy ID is x2APIC ID[7:0] */
        apic_reset_registers(a);
    }
    if (!old_x && new_x)
        a->ldr = apic_x2apic_ldr(a->x2apic_id);
    if (before != v)
        apic_emit(a, APIC_EV_MODE, APIC_MSR_BASE, before, 0, v);
    apic_update_signal(a);
    return true;
}

/* ---- priorities -------------------------------------------------------------- */

/* SDM 11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4,
 * ISRV being the highest in-service vector (0 if none). */
uint8_t apic_ppr(const apic_t *a)
{
    int isrv = apic_vec_highest(a->isr);
    uint8_t tpr = (uint8_t)a->tpr;
    if (isrv < 0 || (tpr >> 4) >= (isrv >> 4))
        return tpr;
    return (uint8_t)(isrv & 0xF0);
}

/* SDM 11.6.2.4 (Figure "Arbitration Priority Register"): APR = TPR if
 * TPR[7:4] >= IRRV[7:4] and TPR[7:4] > ISRV[7:4], else
 * APR[7:4] = max(TPR[7:4] AND ISRV[7:4], IRRV[7:4]), APR[3:0] = 0 — the
 * AND is the SDM's own wording. */
uint8_t apic_arbitration_priority(const apic_t *a)
{
    int isrv = apic_vec_highest(a->isr), irrv = apic_vec_highest(a->irr);
    unsigned tpr_c = (a->tpr >> 4) & 0xF;
    unsigned isr_c = isrv < 0 ? 0 : (unsigned)isrv >> 4;
    unsigned irr_c = irrv < 0 ? 0 : (unsigned)irrv >> 4;
    if (tpr_c >= irr_c && tpr_c > isr_c)
        return (uint8_t)a->tpr;
    unsigned c = tpr_c & isr_c;
    if (irr_c > c)
        c = irr_c;
    return (uint8_t)(c << 4);
}

uint8_t apic_spurious_vector(const apic_t *a)
{
    return (uint8_t)a->svr;
}

uint8_t apic_get_tpr(const apic_t *a)
{
    return (uint8_t)a->tpr;
}

/* A TPR write (SDM 11.8.3): PPR follows, and a lowered PPR may unmask a
 * pending interrupt. */
void apic_set_tpr(apic_t *a, uint8_t tpr)
{
    uint8_t before = apic_ppr(a);
    a->tpr = tpr;
    apic_emit(a, APIC_EV_TPR, tpr, before, 0, apic_ppr(a));
    apic_update_signal(a);
}

/* SDM 11.8.3: the APIC offers the highest IRR vector to the processor
 * only if its priority class is above the processor-priority class. */
int apic_pending_vector(const apic_t *a)
{
    if (!apic_hw_enabled(a))
        return -1;
    int v = apic_vec_highest(a->irr);
    if (v < 0 || (v >> 4) <= (apic_ppr(a) >> 4))
        return -1;
    return v;
}

void apic_update_signal(apic_t *a)
{
    if (a->nmi_pending || a->smi_pending || a->init_pending || a->sipi_pending ||
        apic_pending_vector(a) >= 0)
        cpu_signal(a->cpu, CPU_EVT_INTR);
}

/* INTA (SDM 11.8.4): the highest deliverable IRR bit moves to ISR. */
int apic_acknowledge(apic_t *a)
{
    int v = apic_pending_vector(a);
    if (v < 0)
        return -1;
    uint8_t before = apic_ppr(a);
    apic_vec_clear(a->irr, (unsigned)v);
    apic_vec_set(a->isr, (unsigned)v);
    apic_emit(a, APIC_EV_ACK, (uint64_t)v, before, 0, apic_ppr(a));
    return v;
}

/* SDM 11.9: when the interrupt the APIC raised has been masked by the time
 * of INTA, the APIC returns the spurious vector and sets no ISR bit. */
uint8_t apic_acknowledge_or_spurious(apic_t *a)
{
    int v = apic_acknowledge(a);
    if (v >= 0)
        return (uint8_t)v;
    apic_emit(a, APIC_EV_SPURIOUS, apic_spurious_vector(a), 0, 0, 0);
    return apic_spurious_vector(a);
}

/* SDM 11.8.5: EOI clears the highest ISR bit; for a level-triggered vector
 * (TMR set) the EOI is broadcast to the I/O APICs unless SVR bit 12
 * suppresses it. */
void apic_eoi(apic_t *a)
{
    int v = apic_vec_highest(a->isr);
    if (v < 0) {
        apic_emit(a, APIC_EV_EOI, ~0ull, ~0ull, 0, ~0ull);
        return;
    }
    apic_vec_clear(a->isr, (unsigned)v);
    bool level = apic_vec_test(a->tmr, (unsigned)v);
    int after = apic_vec_highest(a->isr);
    apic_emit(a, APIC_EV_EOI, (uint64_t)v, (uint64_t)v, level, (uint64_t)(int64_t)after);
    if (level && !(a->svr & APIC_SVR_EOI_SUPPRESS) && a->level_eoi)
        a->level_eoi(a->eoi_ctx, a, (uint8_t)v);
    apic_update_signal(a);
}

/* ---- acceptance ------------------------------------------------------------------ */

/* SDM 11.8.4 (fixed interrupts into IRR, TMR set for level and cleared for
 * edge), 11.5.3 (vectors 0-15: receive illegal vector, no IRR bit),
 * 11.4.7.2 (a software-disabled APIC takes only NMI, SMI, INIT, SIPI),
 * 11.4.3 (a globally disabled APIC takes nothing). */
void apic_accept(apic_t *a, uint8_t vector, unsigned delivery_mode, bool level)
{
    unsigned outcome = APIC_ACCEPT_OK;
    if (!apic_hw_enabled(a)) {
        outcome = APIC_ACCEPT_DISABLED;
    } else {
        switch (delivery_mode) {
        case APIC_DM_FIXED:
        case APIC_DM_LOWEST:
            if (vector < 16)
                outcome = APIC_ACCEPT_ILLEGAL;
            else if (!apic_sw_enabled(a))
                outcome = APIC_ACCEPT_DISABLED;
            else {
                apic_vec_set(a->irr, vector);
                if (level)
                    apic_vec_set(a->tmr, vector);
                else
                    apic_vec_clear(a->tmr, vector);
            }
            break;
        case APIC_DM_NMI:
            a->nmi_pending = true;
            break;
        case APIC_DM_SMI:
            a->smi_pending = true;
            break;
        case APIC_DM_INIT:
            a->init_pending = true;
            break;
        case APIC_DM_SIPI:
            a->sipi_pending = true;
            a->sipi_vector = vector;
            break;
        default:
            outcome = APIC_ACCEPT_IGNORED;
            break;
        }
    }
    apic_emit(a, APIC_EV_ACCEPT, vector, delivery_mode, level, outcome);
    if (outcome == APIC_ACCEPT_ILLEGAL)
        apic_signal_error(a, APIC_ESR_RECV_ILLEGAL_VECTOR);
    if (outcome == APIC_ACCEPT_OK)
        apic_update_signal(a);
}

/* SDM 11.6.1: an INIT level de-assert only resets arbitration IDs. */
void apic_accept_ipi(apic_t *a, const apic_ipi *ipi)
{
    if (ipi->delivery == APIC_DM_INIT && ipi->trigger_level && !ipi->level_assert)
        return;
    apic_accept(a, ipi->vector, ipi->delivery, ipi->trigger_level);
}

/* SDM 11.5.1: a local interrupt source delivers through its LVT entry; the
 * timer and error entries are always fixed. A fixed LINT entry is taken as
 * edge-triggered (remote IRR is not modelled). */
bool apic_lvt_deliver(apic_t *a, unsigned lvt)
{
    uint32_t e = a->lvt[lvt];
    if ((e & APIC_LVT_MASKED) || !apic_hw_enabled(a))
        return false;
    unsigned dm = (lvt == APIC_LVT_TIMER || lvt == APIC_LVT_ERROR)
                      ? APIC_DM_FIXED
                      : (e & APIC_LVT_DELIVERY_MASK) >> APIC_LVT_DELIVERY_SHIFT;
    apic_accept(a, (uint8_t)(e & APIC_LVT_VECTOR), dm, false);
    return true;
}

void apic_raise_lint(apic_t *a, unsigned pin)
{
    if (pin < 2)
        apic_lvt_deliver(a, APIC_LVT_LINT0 + pin);
}

/* SDM 11.5.3: errors accumulate in the ESR's shadow until the next ESR
 * write, and each detected error raises the LVT error interrupt unless
 * masked. An illegal error vector only adds "receive illegal vector". */
void apic_signal_error(apic_t *a, uint32_t bits)
{
    uint32_t before = a->esr_pending;
    a->esr_pending |= bits;
    apic_emit(a, APIC_EV_ERROR, bits, before, 0, a->esr_pending);
    uint32_t e = a->lvt[APIC_LVT_ERROR];
    if ((e & APIC_LVT_MASKED) || !apic_hw_enabled(a) || !apic_sw_enabled(a))
        return;
    unsigned v = e & APIC_LVT_VECTOR;
    if (v < 16) {
        a->esr_pending |= APIC_ESR_RECV_ILLEGAL_VECTOR;
        return;
    }
    apic_vec_set(a->irr, v);
    apic_vec_clear(a->tmr, v);
    apic_emit(a, APIC_EV_ACCEPT, v, APIC_DM_FIXED, 0, APIC_ACCEPT_OK);
    apic_update_signal(a);
}

bool apic_take_nmi(apic_t *a)
{
    bool r = a->nmi_pending;
    a->nmi_pending = false;
    return r;
}

bool apic_take_smi(apic_t *a)
{
    bool r = a->smi_pending;
    a->smi_pending = false;
    return r;
}

bool apic_take_init(apic_t *a)
{
    bool r = a->init_pending;
    a->init_pending = false;
    return r;
}

int apic_take_sipi(apic_t *a)
{
    if (!a->sipi_pending)
        return -1;
    a->sipi_pending = false;
    return a->sipi_vector;
}

/* ---- SVR and LVT writes ------------------------------------------------------------ */

/* SDM 11.9 and 11.4.7.2: clearing SVR bit 8 software-disables the APIC and
 * sets every LVT mask bit. */
void apic_write_svr(apic_t *a, uint32_t v)
{
    uint32_t before = a->svr;
    a->svr = v & (0xFFu | APIC_SVR_ENABLE | APIC_SVR_FOCUS_DISABLE | APIC_SVR_EOI_SUPPRESS);
    if (!(a->svr & APIC_SVR_ENABLE)) {
        for (unsigned i = 0; i < APIC_LVT_COUNT; i++)
            a->lvt[i] |= APIC_LVT_MASKED;
    }
    if ((before ^ a->svr) & APIC_SVR_ENABLE)
        apic_emit(a, APIC_EV_MODE, APIC_REG_SVR, before, 0, a->svr);
    apic_update_signal(a);
}

/* The bits of each LVT register software can write (SDM Figure 11-8). */
static uint32_t apic_lvt_writable(unsigned lvt)
{
    switch (lvt) {
    case APIC_LVT_TIMER:
        return APIC_LVT_VECTOR | APIC_LVT_MASKED | APIC_LVT_TIMER_MODE_MASK;
    case APIC_LVT_THERMAL:
    case APIC_LVT_PERF:
        return APIC_LVT_VECTOR | APIC_LVT_DELIVERY_MASK | APIC_LVT_MASKED;
    case APIC_LVT_LINT0:
    case APIC_LVT_LINT1:
        return APIC_LVT_VECTOR | APIC_LVT_DELIVERY_MASK | APIC_LVT_POLARITY | APIC_LVT_LEVEL |
               APIC_LVT_MASKED;
    default:
        return APIC_LVT_VECTOR | APIC_LVT_MASKED;
    }
}

/* Reserved bits of an LVT register for x2APIC reserved-bit checking
 * (SDM 11.12.1.3); the read-only delivery-status and remote-IRR bits are
 * ignored, not reserved. */
uint32_t apic_lvt_reserved(unsigned lvt)
{
    return ~(apic_lvt_writable(lvt) | APIC_LVT_DELIVERY_STATUS | APIC_LVT_REMOTE_IRR);
}

/* An LVT write (SDM 11.5.1): read-only bits keep their value; while the
 * APIC is software disabled the mask stays set (SDM 11.4.7.2). Timer mode
 * 11B is reserved: an xAPIC write of it keeps the old mode. */
void apic_write_lvt(apic_t *a, unsigned lvt, uint32_t v)
{
    uint32_t before = a->lvt[lvt];
    uint32_t e = (before & (APIC_LVT_DELIVERY_STATUS | APIC_LVT_REMOTE_IRR)) |
                 (v & apic_lvt_writable(lvt));
    if (lvt == APIC_LVT_TIMER && (e & APIC_LVT_TIMER_MODE_MASK) == APIC_LVT_TIMER_MODE_MASK)
        e = (e & ~APIC_LVT_TIMER_MODE_MASK) | (before & APIC_LVT_TIMER_MODE_MASK);
    if (!apic_sw_enabled(a))
        e |= APIC_LVT_MASKED;
    a->lvt[lvt] = e;
    if (lvt == APIC_LVT_TIMER)
        apic_timer_lvt_written(a, before, e);
}

/* ---- digest and names ------------------------------------------------------------------- */

static void fnv_u64(uint64_t *h, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) {
        *h ^= (v >> (8 * i)) & 0xFF;
        *h *= 0x100000001B3ull;
    }
}

void apic_digest(const apic_t *a, uint64_t *hash)
{
    fnv_u64(hash, a->base_msr);
    fnv_u64(hash, a->x2apic_id);
    fnv_u64(hash, a->id);
    fnv_u64(hash, a->tpr);
    fnv_u64(hash, a->ldr);
    fnv_u64(hash, a->dfr);
    fnv_u64(hash, a->svr);
    for (unsigned i = 0; i < 8; i++) {
        fnv_u64(hash, a->isr[i]);
        fnv_u64(hash, a->tmr[i]);
        fnv_u64(hash, a->irr[i]);
    }
    fnv_u64(hash, a->esr);
    fnv_u64(hash, a->esr_pending);
    fnv_u64(hash, a->icr_lo);
    fnv_u64(hash, a->icr_hi);
    for (unsigned i = 0; i < APIC_LVT_COUNT; i++)
        fnv_u64(hash, a->lvt[i]);
    fnv_u64(hash, a->timer_initial);
    fnv_u64(hash, a->timer_divide);
    fnv_u64(hash, a->timer_armed);
    fnv_u64(hash, a->timer_anchor);
    fnv_u64(hash, a->timer_anchor_count);
    fnv_u64(hash, a->tsc_deadline);
    fnv_u64(hash, a->timer_fired);
    fnv_u64(hash, (uint64_t)a->nmi_pending | (uint64_t)a->smi_pending << 1 |
                      (uint64_t)a->init_pending << 2 | (uint64_t)a->sipi_pending << 3 |
                      (uint64_t)a->sipi_vector << 8);
}

const char *apic_event_name(unsigned kind)
{
    static const char *const names[] = {
        "apic.accept", "apic.ack",  "apic.eoi",   "apic.ipi",      "apic.timer",
        "apic.tpr",    "apic.mode", "apic.error", "apic.spurious",
    };
    _Static_assert(sizeof names / sizeof names[0] == APIC_EV_LAST - APIC_EV_ACCEPT,
                   "one name per APIC event kind");
    if (kind < APIC_EV_ACCEPT || kind >= APIC_EV_LAST)
        return NULL;
    return names[kind - APIC_EV_ACCEPT];
}
