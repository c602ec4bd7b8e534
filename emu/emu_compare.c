/*
 * emu_compare.c — `apicv-emu compare`: one interrupt workload, five modes,
 * one table (see emu_compare.h and docs/cli.md).
 *
 * The built-in workload is guests/compare_load.elf: compare writes its
 * options into the guest's parameter block (found by its magic in guest
 * RAM) and posts the device MSIs itself, one per vCPU every `rate` cycles,
 * as a device would. Everything is measured by an observer on the
 * machine's bus, through the events' descriptors (emu_evdesc.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_compare.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "vmx/vmx.h"
#include "vmx/vmx_vmcs.h"

#define VEC_BASE 0x50 /* compare_load.c: MSI 50h, IPI 51h, self 52h, timer 53h */
#define MSI_START 20000 /* cycles: after every vCPU has set up its APIC */

/* ---- the observer ------------------------------------------------------------ */

/* Raises of one vector at one CPU not yet served, sorted by cycle
 * (device MSIs can be posted long before they are due), each with its
 * source. */
typedef struct raise_ent {
    uint64_t cycle;
    unsigned src;
} raise_ent;

typedef struct raise_q {
    raise_ent *c;
    size_t head, n, cap;
} raise_q;

typedef struct cmp_obs {
    emu_cmp_mode *r;
    unsigned ncpus;
    uint64_t deliver_cost; /* the IDT delivery's cycles, charged after its event */
    raise_q q[CPU_MAX_CPUS][256];
    uint64_t icr_at[CPU_MAX_CPUS];  /* cycle + 1 of a sender's ICR write not yet routed */
    uint64_t exit_at[CPU_MAX_CPUS]; /* cycle + 1 of the last exit without its entry */
    bool oom;
} cmp_obs;

static void raise_at(cmp_obs *o, unsigned cpu, unsigned vector, uint64_t cycle, unsigned src)
{
    if (cpu >= o->ncpus || cpu >= CPU_MAX_CPUS || vector > 0xFF)
        return;
    raise_q *q = &o->q[cpu][vector];
    if (q->head == q->n)
        q->head = q->n = 0; /* all served: start again at the front */
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 16;
        raise_ent *g = realloc(q->c, cap * sizeof(*g));
        if (!g) {
            o->oom = true;
            return;
        }
        q->c = g;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > q->head && q->c[i - 1].cycle > cycle) {
        q->c[i] = q->c[i - 1];
        i--;
    }
    q->c[i].cycle = cycle;
    q->c[i].src = src;
}

/* An ICR write's fixed interrupt from CPU `from` to CPU `to`. */
static void raise_ipi(cmp_obs *o, unsigned from, unsigned to, unsigned vector, uint64_t cycle)
{
    raise_at(o, to, vector, cycle, to == from ? EMU_CMP_SRC_SELF : EMU_CMP_SRC_IPI);
}

/* The handler of `vector` is delivered at CPU ev->cpu: every raise up to
 * now is served by it (an IRR bit holds one request however often it was
 * set); the latency is from the oldest, to the handler's first
 * instruction, which runs once the IDT delivery's cost is paid (SDM 6.12:
 * the event is stamped when the delivery starts, cpu_except.c charges
 * the `interrupt` class after it). */
static void delivered(cmp_obs *o, const cpu_obs_event *ev, unsigned vector)
{
    o->r->interrupts++;
    if (ev->cpu >= CPU_MAX_CPUS || vector > 0xFF)
        return;
    raise_q *q = &o->q[ev->cpu][vector];
    uint64_t first = ev->cycle + o->deliver_cost;
    if (q->head == q->n || q->c[q->head].cycle > ev->cycle)
        return;
    uint64_t lat = first - q->c[q->head].cycle;
    unsigned src = q->c[q->head].src;
    while (q->head < q->n && q->c[q->head].cycle <= ev->cycle)
        q->head++;
    o->r->lat_sum[src] += lat;
    o->r->lat_n[src]++;
    o->r->lat_vec_sum[vector] += lat;
    o->r->lat_vec_n[vector]++;
    if (lat > o->r->lat_max)
        o->r->lat_max = lat;
}

/* SDM 28.2.1: the page offset an APIC-access (44) or APIC-write (56) exit
 * reports; ~0 for other exits. */
static unsigned apic_offset(unsigned reason, uint64_t qual)
{
    if (reason == VMX_EXIT_APIC_ACCESS || reason == VMX_EXIT_APIC_WRITE)
        return (unsigned)(qual & 0xFFF);
    return ~0u;
}

static void observe(void *ctx, const cpu_obs_event *ev)
{
    cmp_obs *o = ctx;
    unsigned cpu = ev->cpu < CPU_MAX_CPUS ? ev->cpu : 0;
    switch (ev->kind) {
    case CPU_EV_INTERRUPT:
        delivered(o, ev, (unsigned)ev->a);
        break;
    case VMX_EV_EVENT_INJECTED:
        if (ev->b == VMX_INTR_TYPE_EXT)
            delivered(o, ev, (unsigned)ev->a);
        break;
    case EMU_EV_MSI_RAISE:
        /* A device MSI, due at cycle c. (The hypervisor sends a guest's
         * IPI on as a message too: that IPI was raised at its ICR write,
         * below, earlier than this, and one delivery serves both.) */
        if (!ev->d)
            raise_at(o, (unsigned)ev->b, (unsigned)ev->a, ev->c, EMU_CMP_SRC_MSI);
        break;
    case EMU_EV_IOAPIC_DELIVER:
        raise_at(o, cpu, (unsigned)(ev->a & 0xFF), ev->cycle, EMU_CMP_SRC_OTHER);
        break;
    case APIC_EV_IPI: {
        /* An ICR write reached an APIC: the CPU's own (native) or the
         * hypervisor's software APIC (emulated, tpr-shadow), where the
         * write's exit came first. Fixed interrupts only (delivery mode 0,
         * SDM 11.6.1), by shorthand: none (destination b), self, all
         * including self, all excluding self. */
        uint64_t at = o->icr_at[cpu] ? o->icr_at[cpu] - 1 : ev->cycle;
        unsigned vec = (unsigned)(ev->a & 0xFF), sh = (unsigned)(ev->a >> 12) & 3;
        if (((ev->a >> 8) & 7) == 0) {
            if (sh == 0)
                raise_ipi(o, cpu, (unsigned)ev->b, vec, at);
            else if (sh == 1)
                raise_ipi(o, cpu, cpu, vec, at);
            for (unsigned k = 0; sh >= 2 && k < o->ncpus; k++)
                if (sh == 2 || k != cpu)
                    raise_ipi(o, cpu, k, vec, at);
        }
        o->icr_at[cpu] = 0;
        break;
    }
    case VMX_EV_APIC_ACCESS_WRITE: /* apicv/posted: the virtualized ICR write */
        if (ev->a == 0x300 && !o->icr_at[cpu])
            o->icr_at[cpu] = ev->cycle + 1;
        break;
    case VMX_EV_SELF_IPI_VIRT:
        raise_at(o, cpu, (unsigned)ev->a, o->icr_at[cpu] ? o->icr_at[cpu] - 1 : ev->cycle,
                 EMU_CMP_SRC_SELF);
        o->icr_at[cpu] = 0;
        break;
    case EMU_HV_EV_IPI: /* the hypervisor routes the guest's ICR write */
        for (unsigned k = 0; k < o->ncpus; k++)
            if ((ev->b >> k) & 1)
                raise_ipi(o, cpu, k, (unsigned)ev->a,
                          o->icr_at[cpu] ? o->icr_at[cpu] - 1 : ev->cycle);
        o->icr_at[cpu] = 0;
        break;
    case APIC_EV_TIMER:
        if (!ev->c)
            raise_at(o, cpu, (unsigned)ev->a, ev->cycle, EMU_CMP_SRC_TIMER);
        break;
    case VMX_EV_VMEXIT: {
        unsigned reason = (unsigned)(ev->a & 0xFFFF);
        o->r->exits++;
        if (emu_event_is_chatter(ev))
            o->r->console_exits++;
        if (reason < EMU_CMP_NREASONS)
            o->r->exit_reason[reason]++;
        unsigned off = apic_offset(reason, ev->b);
        if (off == 0x300 && !o->icr_at[cpu])
            o->icr_at[cpu] = ev->cycle + 1; /* emulated: the ICR write exits */
        if (reason == VMX_EXIT_EXTERNAL_INTERRUPT || reason == VMX_EXIT_INTERRUPT_WINDOW ||
            reason == VMX_EXIT_TPR_BELOW_THRESHOLD || reason == VMX_EXIT_VIRTUALIZED_EOI ||
            off == 0xB0)
            o->r->receive_exits++;
        o->exit_at[cpu] = ev->cycle + 1;
        break;
    }
    case VMX_EV_VMENTRY:
        if (o->exit_at[cpu]) {
            o->r->root_cycles += ev->cycle + 1 - o->exit_at[cpu];
            o->exit_at[cpu] = 0;
        }
        break;
    default:
        break;
    }
}

/* ---- running one mode ------------------------------------------------------- */

static const char magic[8] = {'A', 'P', 'I', 'C', 'V', 'C', 'M', 'P'};

/* Writes the workload's options into compare_load.elf's parameter block;
 * false when the guest has none (another guest: it runs as it is). */
static bool set_params(emu_machine *m, unsigned rounds, unsigned period, unsigned msis)
{
    uint8_t *ram = m->phys.ram;
    for (uint64_t a = 0x100000; a + 24 <= m->phys.ram_size; a += 8) {
        if (memcmp(ram + a, magic, sizeof(magic)) != 0)
            continue;
        uint32_t w[3] = {rounds, period, msis};
        memcpy(ram + a + 8, w, sizeof(w));
        return true;
    }
    return false;
}

static bool run_mode(emu_mode mode, const char *guest, emu_scenario *scn, unsigned ncpus,
                     unsigned interrupts, unsigned rate, bool builtin, const cpu_cost_model *costs,
                     emu_cmp_mode *r, char *err, size_t errlen)
{
    emu_machine *m = calloc(1, sizeof(*m));
    cmp_obs *o = calloc(1, sizeof(*o));
    bool ok = false;
    if (!m || !o) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    emu_config cfg;
    emu_config_default(&cfg);
    if (scn)
        emu_scenario_config(scn, &cfg);
    else
        cfg.ncpus = ncpus;
    cfg.mode = mode;
    cfg.costs = costs;
    if (builtin)
        cfg.quantum = 1000; /* rounds short enough that an IPI's trip is the model's, not the round's */
    if (!cfg.max_cycles)
        cfg.max_cycles = 1000000000ull;
    if (!emu_machine_init(m, &cfg, guest, err, errlen))
        goto out;
    memset(r, 0, sizeof(*r));
    r->mode = mode;
    o->r = r;
    o->ncpus = cfg.ncpus;
    o->deliver_cost = m->costs.cost[CPU_COST_INTERRUPT];
    cpu_obs_subscribe(&m->obs, observe, o);
    if (scn && !emu_scenario_apply(scn, m, err, errlen)) {
        emu_machine_free(m);
        goto out;
    }
    if (builtin) {
        if (!set_params(m, interrupts, rate, interrupts)) {
            snprintf(err, errlen, "%s: no parameter block (is it compare_load.elf?)", guest);
            emu_machine_free(m);
            goto out;
        }
        /* The device: one MSI per vCPU a period, half a period apart. */
        for (unsigned i = 0; i < interrupts; i++)
            for (unsigned k = 0; k < cfg.ncpus; k++)
                emu_msi_raise(m, VEC_BASE + EMU_CMP_SRC_MSI, k,
                              MSI_START + (uint64_t)i * rate + (uint64_t)k * rate / (2 * cfg.ncpus),
                              k);
    }
    m->console = NULL;
    while (!emu_machine_run(m, m->now + 100000000))
        ;
    r->status = m->exit_status;
    r->insns = emu_machine_insns(m);
    for (unsigned k = 0; k < cfg.ncpus; k++) {
        uint64_t c = m->cpu[k].cycles;
        r->cpu_cycles += c;
        if (c > r->cycles)
            r->cycles = c;
        r->delivered[EMU_CMP_APIC] += m->stats.intr_apic[k];
        r->delivered[EMU_CMP_NMI] += m->stats.nmi[k];
    }
    if (mode != EMU_MODE_NATIVE && m->hv) {
        const emu_hv *hv = m->hv;
        for (unsigned k = 0; k < hv->ncpus; k++) {
            r->delivered[EMU_CMP_INJECTION] += hv->vcpu[k].vmx.injected_ext;
            r->delivered[EMU_CMP_VID] += hv->vcpu[k].vmx.vid_delivered;
            r->delivered[EMU_CMP_VNMI] += hv->vcpu[k].vmx.injected_nmi;
            r->delivered[EMU_CMP_POSTED] += emu_hv_delivered(hv, k, EMU_HV_PATH_POSTED);
        }
    }
    if (scn)
        emu_scenario_check(scn, NULL); /* its observer leaves the machine */
    cpu_obs_unsubscribe(&m->obs, observe, o);
    emu_machine_free(m);
    ok = !o->oom;
    if (o->oom)
        snprintf(err, errlen, "out of memory");
out:
    if (o)
        for (unsigned k = 0; k < CPU_MAX_CPUS; k++)
            for (unsigned v = 0; v < 256; v++)
                free(o->q[k][v].c);
    free(m);
    free(o);
    return ok;
}

static bool is_scenario(const char *path)
{
    size_t n = strlen(path);
    return (n > 4 && strcmp(path + n - 4, ".scn") == 0) ||
           (n > 9 && strcmp(path + n - 9, ".scenario") == 0);
}

bool emu_compare_run(const char *guest_dir, const char *guest, unsigned ncpus, unsigned interrupts,
                     unsigned rate, emu_compare_result *out, char *err, size_t errlen)
{
    return emu_compare_run_costs(guest_dir, guest, ncpus, interrupts, rate, NULL, NULL, out, err,
                                 errlen);
}

bool emu_compare_run_costs(const char *guest_dir, const char *guest, unsigned ncpus,
                           unsigned interrupts, unsigned rate, const cpu_cost_model *costs,
                           const char *cost_file, emu_compare_result *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (costs && cost_file)
        snprintf(out->cost_file, sizeof(out->cost_file), "%s", cost_file);
    out->ncpus = ncpus;
    out->interrupts = interrupts;
    out->rate = rate;
    char path[PATH_MAX];
    emu_scenario *scn = NULL;
    bool builtin = guest == NULL;
    if (builtin) {
        snprintf(path, sizeof(path), "%s/compare_load.elf", guest_dir ? guest_dir : "guests");
        snprintf(out->workload, sizeof(out->workload), "built in (compare_load.elf)");
    } else if (is_scenario(guest)) {
        scn = calloc(1, sizeof(*scn));
        if (!scn || !emu_scenario_load(guest, scn, err, errlen) ||
            !emu_scenario_guest_path(scn, guest_dir, path, sizeof(path), err, errlen)) {
            if (scn)
                emu_scenario_free(scn);
            free(scn);
            return false;
        }
        snprintf(out->workload, sizeof(out->workload), "%s", guest);
    } else {
        snprintf(path, sizeof(path), "%s", guest);
        snprintf(out->workload, sizeof(out->workload), "%s", guest);
    }
    bool ok = true;
    for (unsigned k = 0; k < EMU_MODE_COUNT && ok; k++) {
        ok = run_mode((emu_mode)k, path, scn, ncpus, interrupts, rate, builtin, costs, &out->m[k],
                      err, errlen);
        if (scn) {
            /* A scenario's state belongs to the machine it ran on. */
            emu_scenario_free(scn);
            ok = ok && emu_scenario_load(guest, scn, err, errlen);
        }
    }
    if (scn) {
        out->ncpus = 0;
        emu_scenario_free(scn);
        free(scn);
    }
    return ok;
}

/* ---- figures -------------------------------------------------------------------- */

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

double emu_cmp_exits_per_intr(const emu_cmp_mode *r)
{
    /* The guest's console output is an exit per character under every
     * hypervisor mode (26 for demo_irq's final line): left out, as the
     * window's events panel leaves it out, so a scenario's figure is about
     * its interrupts (compare_demo.scn, posted: 0.38, not 3.62). */
    return ratio((double)(r->exits - r->console_exits), (double)r->interrupts);
}

double emu_cmp_receive_exits_per_intr(const emu_cmp_mode *r)
{
    return ratio((double)r->receive_exits, (double)r->interrupts);
}

double emu_cmp_latency(const emu_cmp_mode *r)
{
    uint64_t s = 0, n = 0;
    for (unsigned i = 0; i < EMU_CMP_NSRC; i++) {
        s += r->lat_sum[i];
        n += r->lat_n[i];
    }
    return ratio((double)s, (double)n);
}

double emu_cmp_overhead(const emu_compare_result *c, const emu_cmp_mode *r)
{
    const emu_cmp_mode *native = &c->m[EMU_MODE_NATIVE];
    return ratio((double)r->cycles - (double)native->cycles, (double)r->interrupts);
}

double emu_cmp_guest_share(const emu_cmp_mode *r)
{
    return r->cpu_cycles ? 1.0 - ratio((double)r->root_cycles, (double)r->cpu_cycles) : 0;
}

/* ---- output ---------------------------------------------------------------------- */

static const char *const path_names[EMU_CMP_NPATHS] = {"apic",  "nmi",  "injection",
                                                        "vid",   "vnmi", "posted"};
static const char *const src_names[EMU_CMP_NSRC] = {"msi", "ipi", "self-ipi", "timer", "other"};

/* One row of figures: the metric's name and a value per mode. */
typedef struct row {
    char name[64];
    double v[EMU_MODE_COUNT];
    bool integer;
} row;

static unsigned rows_of(const emu_compare_result *c, row *rows, unsigned max)
{
    unsigned n = 0;
#define ROW(nm, integer_, expr)                                                                     \
    do {                                                                                           \
        if (n < max) {                                                                             \
            snprintf(rows[n].name, sizeof(rows[n].name), "%s", nm);                                \
            rows[n].integer = integer_;                                                            \
            for (unsigned k = 0; k < EMU_MODE_COUNT; k++) {                                        \
                const emu_cmp_mode *r = &c->m[k];                                                  \
                (void)r;                                                                           \
                rows[n].v[k] = (double)(expr);                                                     \
            }                                                                                      \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)
    ROW("interrupts delivered", true, r->interrupts);
    for (unsigned p = 0; p < EMU_CMP_NPATHS; p++) {
        char nm[64];
        snprintf(nm, sizeof(nm), "  by %s", path_names[p]);
        ROW(nm, true, r->delivered[p]);
    }
    ROW("VM exits", true, r->exits);
    for (unsigned reason = 0; reason < EMU_CMP_NREASONS; reason++) {
        bool any = false;
        for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
            any |= c->m[k].exit_reason[reason] != 0;
        if (!any)
            continue;
        char nm[64], rn[48];
        snprintf(nm, sizeof(nm), "  exit %s", emu_exit_reason_text(reason, rn, sizeof(rn)));
        ROW(nm, true, r->exit_reason[reason]);
    }
    ROW("exits per interrupt", false, emu_cmp_exits_per_intr(r));
    ROW("receiver exits per interrupt", false, emu_cmp_receive_exits_per_intr(r));
    ROW("latency mean (cycles)", false, emu_cmp_latency(r));
    for (unsigned s = 0; s < EMU_CMP_NSRC; s++) {
        char nm[64];
        snprintf(nm, sizeof(nm), "  %s", src_names[s]);
        ROW(nm, false, ratio((double)r->lat_sum[s], (double)r->lat_n[s]));
    }
    for (unsigned v = 0; v < 256; v++) {
        bool any = false;
        for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
            any |= c->m[k].lat_vec_n[v] != 0;
        if (!any)
            continue;
        char nm[64];
        snprintf(nm, sizeof(nm), "  vector %02Xh", v);
        ROW(nm, false, ratio((double)r->lat_vec_sum[v], (double)r->lat_vec_n[v]));
    }
    ROW("latency max (cycles)", true, r->lat_max);
    ROW("cycles", true, r->cycles);
    ROW("overhead per interrupt (cycles)", false, emu_cmp_overhead(c, r));
    ROW("cycles in root (all CPUs)", true, r->root_cycles);
    ROW("guest share (%)", false, 100.0 * emu_cmp_guest_share(r));
    ROW("exit status", true, r->status);
#undef ROW
    return n;
}

#define MAX_ROWS 512 /* every exit reason and every vector fit */

void emu_compare_print(FILE *f, const emu_compare_result *c)
{
    static row rows[MAX_ROWS];
    unsigned n = rows_of(c, rows, MAX_ROWS);
    fprintf(f, "compare: workload %s", c->workload);
    if (c->ncpus)
        fprintf(f, ", %u vCPUs, %u interrupts of each kind per vCPU, one every %u cycles",
                c->ncpus, c->interrupts, c->rate);
    if (c->cost_file[0])
        fprintf(f, "\ncost model: %s (apicv-emu info --cost-model %s)", c->cost_file, c->cost_file);
    fprintf(f, "\n%-34s", "");
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
        fprintf(f, " %11s", emu_mode_name((emu_mode)k));
    fputc('\n', f);
    for (unsigned i = 0; i < n; i++) {
        fprintf(f, "%-34s", rows[i].name);
        for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
            fprintf(f, rows[i].integer ? " %11.0f" : " %11.2f", rows[i].v[k]);
        fputc('\n', f);
    }
}

void emu_compare_csv(FILE *f, const emu_compare_result *c)
{
    static row rows[MAX_ROWS];
    unsigned n = rows_of(c, rows, MAX_ROWS);
    fprintf(f, "metric");
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
        fprintf(f, ",%s", emu_mode_name((emu_mode)k));
    fputc('\n', f);
    for (unsigned i = 0; i < n; i++) {
        const char *nm = rows[i].name;
        while (*nm == ' ')
            nm++;
        fprintf(f, "\"%s\"", nm);
        for (unsigned k = 0; k < EMU_MODE_COUNT; k++)
            fprintf(f, rows[i].integer ? ",%.0f" : ",%.4f", rows[i].v[k]);
        fputc('\n', f);
    }
}

void emu_compare_json(FILE *f, const emu_compare_result *c)
{
    fprintf(f, "{\n  \"workload\": \"%s\",\n  \"cpus\": %u,\n  \"interrupts\": %u,\n  \"rate\": %u,\n"
               "  \"modes\": [\n",
            c->workload, c->ncpus, c->interrupts, c->rate);
    for (unsigned k = 0; k < EMU_MODE_COUNT; k++) {
        const emu_cmp_mode *r = &c->m[k];
        fprintf(f, "    {\"mode\": \"%s\", \"status\": %d, \"cycles\": %" PRIu64
                   ", \"instructions\": %" PRIu64 ", \"interrupts\": %" PRIu64 ",\n     \"delivered\": {",
                emu_mode_name(r->mode), r->status, r->cycles, r->insns, r->interrupts);
        for (unsigned p = 0; p < EMU_CMP_NPATHS; p++)
            fprintf(f, "%s\"%s\": %" PRIu64, p ? ", " : "", path_names[p], r->delivered[p]);
        fprintf(f, "},\n     \"exits\": %" PRIu64 ", \"console_exits\": %" PRIu64
                   ", \"exits_by_reason\": {",
                r->exits, r->console_exits);
        bool first = true;
        for (unsigned reason = 0; reason < EMU_CMP_NREASONS; reason++) {
            if (!r->exit_reason[reason])
                continue;
            char rn[48];
            fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
                    emu_exit_reason_text(reason, rn, sizeof(rn)), r->exit_reason[reason]);
            first = false;
        }
        fprintf(f, "},\n     \"exits_per_interrupt\": %.4f, \"receiver_exits_per_interrupt\": %.4f,\n"
                   "     \"latency_mean\": %.2f, \"latency_max\": %" PRIu64 ", \"latency_by_source\": {",
                emu_cmp_exits_per_intr(r), emu_cmp_receive_exits_per_intr(r), emu_cmp_latency(r),
                r->lat_max);
        for (unsigned s = 0; s < EMU_CMP_NSRC; s++)
            fprintf(f, "%s\"%s\": %.2f", s ? ", " : "", src_names[s],
                    ratio((double)r->lat_sum[s], (double)r->lat_n[s]));
        fprintf(f, "}, \"latency_by_vector\": {");
        first = true;
        for (unsigned v = 0; v < 256; v++) {
            if (!r->lat_vec_n[v])
                continue;
            fprintf(f, "%s\"%02Xh\": %.2f", first ? "" : ", ", v,
                    ratio((double)r->lat_vec_sum[v], (double)r->lat_vec_n[v]));
            first = false;
        }
        fprintf(f, "},\n     \"overhead_per_interrupt\": %.2f, \"root_cycles\": %" PRIu64
                   ", \"guest_share\": %.4f}%s\n",
                emu_cmp_overhead(c, r), r->root_cycles, emu_cmp_guest_share(r),
                k + 1 < EMU_MODE_COUNT ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
}

/* ---- the command ---------------------------------------------------------------- */

static bool number(const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = s ? strtoul(s, &end, 0) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "apicv-emu compare: %s: expected a number in %u..%u, got '%s'\n", opt, lo,
                hi, s ? s : "nothing");
        return false;
    }
    *out = (unsigned)v;
    return true;
}

static bool write_file(const char *opt, const char *path, const emu_compare_result *c,
                       void (*fn)(FILE *, const emu_compare_result *))
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "apicv-emu compare: %s %s: %s\n", opt, path, strerror(errno));
        return false;
    }
    fn(f, c);
    if (fclose(f) != 0) {
        fprintf(stderr, "apicv-emu compare: %s %s: write failed\n", opt, path);
        return false;
    }
    return true;
}

int emu_compare_main(int argc, char **argv, const emu_frontend *fe)
{
    unsigned ncpus = 2, interrupts = 16, rate = 20000;
    const char *csv = NULL, *json = NULL, *chart = NULL, *guest = NULL, *cost_file = NULL;
    cpu_cost_model costs;
    cpu_cost_default(&costs);
    char err0[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: apicv-emu compare [--cpus N] [--interrupts K] [--rate R] [--csv FILE]\n"
                   "                         [--json FILE] [--chart FILE.png] [--cost-model FILE]\n"
                   "                         [GUEST.elf|SCENARIO]\n\n"
                   "Runs the same interrupt workload in all five modes and prints a table:\n"
                   "interrupts delivered per path, VM exits by reason, exits per interrupt (all but\n"
                   "the console's I/O exits, and those of the receiver), latency from raise to the handler's first\n"
                   "instruction, cycles and overhead per interrupt, the share of cycles spent in\n"
                   "the guest. The built-in workload (guests/compare_load.elf) gives each of N\n"
                   "vCPUs (default 2) K (16) device MSIs, IPIs from the previous vCPU, self-IPIs\n"
                   "and APIC timer interrupts, one of each every R (20000) cycles. A guest image\n"
                   "or scenario given instead runs as it is in each mode. --cost-model FILE\n"
                   "replaces the default cycle costs (docs/cost-model.md; apicv-emu info).\n");
            return 0;
        } else if (strcmp(a, "--cpus") == 0 || strcmp(a, "--interrupts") == 0 ||
                   strcmp(a, "--rate") == 0 || strcmp(a, "--csv") == 0 ||
                   strcmp(a, "--json") == 0 || strcmp(a, "--chart") == 0 ||
                   strcmp(a, "--cost-model") == 0) {
            if (!has_val) {
                fprintf(stderr, "apicv-emu compare: %s: expected a value\n", a);
                return EMU_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--cpus") == 0 && !number(a, v, 1, CPU_MAX_CPUS, &ncpus))
                return EMU_EXIT_USAGE;
            if (strcmp(a, "--interrupts") == 0 && !number(a, v, 1, 100000, &interrupts))
                return EMU_EXIT_USAGE;
            if (strcmp(a, "--rate") == 0 && !number(a, v, 1000, 100000000, &rate))
                return EMU_EXIT_USAGE;
            if (strcmp(a, "--csv") == 0)
                csv = v;
            if (strcmp(a, "--json") == 0)
                json = v;
            if (strcmp(a, "--chart") == 0)
                chart = v;
            if (strcmp(a, "--cost-model") == 0) {
                if (!cpu_cost_load(&costs, v, err0, sizeof(err0))) {
                    fprintf(stderr, "apicv-emu compare: --cost-model: %s\n", err0);
                    return EMU_EXIT_USAGE;
                }
                cost_file = v;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "apicv-emu compare: unknown option '%s' (see apicv-emu compare --help)\n", a);
            return EMU_EXIT_USAGE;
        } else if (guest) {
            fprintf(stderr, "apicv-emu compare: expected one GUEST.elf or SCENARIO, got '%s' and '%s'\n",
                    guest, a);
            return EMU_EXIT_USAGE;
        } else {
            guest = a;
        }
    }
    if (chart && !(fe && fe->compare_chart)) {
        fprintf(stderr, "apicv-emu compare: --chart needs the build with the window (SDL)\n");
        return EMU_EXIT_USAGE;
    }
    char dir[PATH_MAX], err[1024];
    if (!emu_default_guest_dir(dir, sizeof(dir)))
        snprintf(dir, sizeof(dir), "guests");
    emu_compare_result *c = calloc(1, sizeof(*c));
    if (!c)
        return EMU_EXIT_USAGE;
    int status = 0;
    if (!emu_compare_run_costs(dir, guest, ncpus, interrupts, rate, cost_file ? &costs : NULL,
                               cost_file, c, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu compare: %s\n", err);
        free(c);
        return EMU_EXIT_USAGE;
    }
    emu_compare_print(stdout, c);
    if (csv && !write_file("--csv", csv, c, emu_compare_csv))
        status = EMU_EXIT_USAGE;
    if (json && !write_file("--json", json, c, emu_compare_json))
        status = EMU_EXIT_USAGE;
    if (chart && !fe->compare_chart(c, chart, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu compare: --chart %s: %s\n", chart, err);
        status = EMU_EXIT_USAGE;
    }
    for (unsigned k = 0; k < EMU_MODE_COUNT && status == 0; k++)
        if (c->m[k].status != 0) {
            fprintf(stderr, "apicv-emu compare: mode %s: the guest ended with status %d\n",
                    emu_mode_name((emu_mode)k), c->m[k].status);
            status = c->m[k].status;
        }
    free(c);
    return status;
}
