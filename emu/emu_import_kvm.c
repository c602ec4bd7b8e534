/*
 * emu_import_kvm.c — a KVM trace, read by emu_import_kvm_parse.c, turned
 * into what our machine can replay (docs/import-kvm.md): which vCPU each
 * event is about, the interrupts each vCPU accepted (the stimuli), their
 * times on our cycle clock, and the APIC-virtualization mode that the
 * trace's exits show.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_import_kvm.h"

#define MAX_MALFORMED_SHOWN 20

static void count_unknown(emu_kvm_log *log, const char *name)
{
    log->unknown_total++;
    for (unsigned k = 0; k < log->nunknown; k++)
        if (strcmp(log->unknown_name[k], name) == 0) {
            log->unknown_count[k]++;
            return;
        }
    if (log->nunknown < EMU_KVM_MAX_UNKNOWN) {
        snprintf(log->unknown_name[log->nunknown], sizeof(log->unknown_name[0]), "%s", name);
        log->unknown_count[log->nunknown++] = 1;
    }
}

bool emu_kvm_read(const char *path, emu_kvm_log *log, FILE *diag, char *err, size_t errlen)
{
    memset(log, 0, sizeof(*log));
    log->path = path;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        log->lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if ((size_t)len != strlen(line)) {
            if (++log->malformed <= MAX_MALFORMED_SHOWN && diag)
                fprintf(diag, "%s:%u: expected text, got a NUL byte (skipped)\n", path, log->lines);
            continue;
        }
        emu_kvm_event ev;
        char name[48], why[512];
        switch (emu_kvm_parse_line(line, log->lines, &ev, name, sizeof(name), why, sizeof(why))) {
        case EMU_KVM_LINE_BLANK:
            break;
        case EMU_KVM_LINE_UNKNOWN:
            count_unknown(log, name);
            break;
        case EMU_KVM_LINE_MALFORMED:
            if (++log->malformed <= MAX_MALFORMED_SHOWN && diag)
                fprintf(diag, "%s:%u: %s (skipped)\n", path, log->lines, why);
            break;
        case EMU_KVM_LINE_EVENT:
            if (log->n == log->cap) {
                size_t ncap = log->cap ? log->cap * 2 : 256;
                emu_kvm_event *nev = realloc(log->ev, ncap * sizeof(*nev));
                if (!nev) {
                    free(line);
                    fclose(f);
                    snprintf(err, errlen, "%s: out of memory at line %u", path, log->lines);
                    return false;
                }
                log->ev = nev;
                log->cap = ncap;
            }
            log->ev[log->n++] = ev;
            log->kinds[ev.kind]++;
            log->prefixes[ev.prefix]++;
            if (ev.kind == EMU_KVM_EXIT)
                log->exit_layouts[ev.layout]++;
            break;
        }
    }
    bool read_error = ferror(f);
    free(line);
    fclose(f);
    if (read_error) {
        snprintf(err, errlen, "%s: read error after line %u", path, log->lines);
        return false;
    }
    if (diag && log->malformed > MAX_MALFORMED_SHOWN)
        fprintf(diag, "%s: %u more malformed lines not shown\n", path,
                log->malformed - MAX_MALFORMED_SHOWN);
    return true;
}

void emu_kvm_log_free(emu_kvm_log *log)
{
    free(log->ev);
    log->ev = NULL;
    log->n = log->cap = 0;
}

/* ---- which vCPU ---------------------------------------------------------- */

/* The events that name their own vCPU in their text. kvm_eoi's "apicid" is
 * the vCPU's id too (it is traced from that vCPU's APIC). */
static bool names_own_vcpu(const emu_kvm_event *e)
{
    switch (e->kind) {
    case EMU_KVM_ENTRY:
    case EMU_KVM_EOI:
    case EMU_KVM_PV_EOI:
    case EMU_KVM_PLE_WINDOW:
    case EMU_KVM_LAPIC_EXPIRE:
    case EMU_KVM_HV_TIMER:
        return true;
    case EMU_KVM_EXIT:
        return e->vcpu >= 0;
    default:
        return false;
    }
}

/* QEMU names its vCPU threads "CPU N/KVM". */
static int vcpu_from_comm(const char *comm)
{
    unsigned n;
    char rest[8];
    if (sscanf(comm, "CPU %u/%7s", &n, rest) == 2 && strcmp(rest, "KVM") == 0 && n < 4096)
        return (int)n;
    return -1;
}

typedef struct pid_map {
    int pid[256];
    int vcpu[256];
    unsigned n;
} pid_map;

static int pid_vcpu(const pid_map *pm, int pid)
{
    for (unsigned k = 0; k < pm->n; k++)
        if (pm->pid[k] == pid)
            return pm->vcpu[k];
    return -1;
}

/* The vCPU of a thread: from the events of that thread that name their
 * vCPU (kvm_entry, kvm_exit of newer kernels), else from its name. */
static void build_pid_map(const emu_kvm_log *log, pid_map *pm)
{
    pm->n = 0;
    for (size_t i = 0; i < log->n; i++) {
        const emu_kvm_event *e = &log->ev[i];
        int v = -1;
        if (e->kind == EMU_KVM_ENTRY || (e->kind == EMU_KVM_EXIT && e->vcpu >= 0))
            v = e->vcpu;
        else
            v = vcpu_from_comm(e->comm);
        if (v < 0 || pid_vcpu(pm, e->pid) >= 0 || pm->n == 256)
            continue;
        pm->pid[pm->n] = e->pid;
        pm->vcpu[pm->n++] = v;
    }
}

/* The vCPU the event happened on (its thread), or -1. */
static int thread_vcpu(const pid_map *pm, const emu_kvm_event *e)
{
    int v = pid_vcpu(pm, e->pid);
    return v >= 0 ? v : vcpu_from_comm(e->comm);
}

/* ---- the mode ------------------------------------------------------------ */

/* Linux's posted-interrupt vectors (arch/x86/include/asm/irq_vectors.h):
 * notification F2h, wakeup F1h, nested F0h. An external-interrupt exit for
 * one of them is a notification that arrived in root operation. */
static bool pi_vector(unsigned v)
{
    return v == 0xF0 || v == 0xF1 || v == 0xF2;
}

static void infer_mode(emu_kvm_import *imp, const emu_kvm_import_opts *opts, unsigned accepts,
                       unsigned nexits)
{
    char ev[360];
    snprintf(ev, sizeof(ev),
             "%u EOI writes that exited (APIC_ACCESS at 0B0h, APIC_EOI emulated, WRMSR 80BH), "
             "%u paravirtual EOIs, %u injected APIC interrupts, "
             "%u APICv signs (EOI_INDUCED/APIC_WRITE exits, kvm_apicv_accept_irq, VT-d PI), "
             "%u posted-interrupt signs, %u TPR_BELOW_THRESHOLD and %u CR8 exits",
             imp->eoi_exits, imp->pv_eois, imp->injections, imp->apicv_signs, imp->pi_signs,
             imp->tpr_threshold, imp->cr8_exits);
    if (opts->mode_given) {
        imp->mode = opts->mode;
        snprintf(imp->mode_why, sizeof(imp->mode_why), "given with --mode (the trace shows %s)", ev);
        return;
    }
    if (imp->eoi_exits > 0 || imp->pv_eois > 0 || imp->injections > 0) {
        /* The guest's EOI exits: no virtual-interrupt delivery (SDM 30.1.4
         * EOI virtualization needs it). So do paravirtual EOIs (KVM's
         * PV EOI serves injected interrupts only) and APIC interrupts
         * injected at VM entry (with APICv, KVM injects only ExtINT: the
         * APIC's go through RVI, SDM 30.2). KVM uses the TPR shadow on
         * every CPU that has it; CR8 exits without a threshold exit mean
         * it had none. */
        bool emulated = imp->cr8_exits > 0 && imp->tpr_threshold == 0;
        imp->mode = emulated ? EMU_MODE_EMULATED : EMU_MODE_TPR_SHADOW;
        snprintf(imp->mode_why, sizeof(imp->mode_why),
                 "EOIs reach KVM or interrupts are injected, so no virtual-interrupt delivery; %s (%s)",
                 emulated ? "CR8 accesses exit too: no TPR shadow" :
                            "KVM turns the TPR shadow on wherever the CPU has it",
                 ev);
        return;
    }
    if (imp->apicv_signs > 0 || (accepts > 0 && nexits > 0)) {
        /* No EOI exit: EOI virtualization, i.e. APICv. KVM enables APICv
         * only with posted interrupts; a vCPU kicked out (exit 1) for most
         * interrupts it accepted while running, with no sign of posting,
         * is virtual-interrupt delivery without them. */
        bool kicked = imp->pi_signs == 0 && imp->running_accepts >= 2 &&
                      imp->kicked_accepts * 2 > imp->running_accepts;
        imp->mode = kicked ? EMU_MODE_APICV : EMU_MODE_POSTED;
        snprintf(imp->mode_why, sizeof(imp->mode_why),
                 "no EOI exit: EOI virtualization (APICv); %s: %u of %u interrupts for a running "
                 "vCPU were followed by its EXTERNAL_INTERRUPT exit (%s)",
                 kicked ? "kicks, not posting" : "posted interrupts", imp->kicked_accepts,
                 imp->running_accepts, ev);
        return;
    }
    imp->mode = EMU_MODE_POSTED;
    snprintf(imp->mode_why, sizeof(imp->mode_why),
             "the default: the trace has no interrupt with exits to tell (%s)", ev);
}

/* ---- stimuli ------------------------------------------------------------- */

typedef struct vcpu_state {
    bool running;      /* between kvm_entry and kvm_exit */
    bool halted;       /* after a HLT exit, until it runs again */
    int pending_kick;  /* index of an accepted interrupt while running, -1 none */
    unsigned lvtt_vector;
} vcpu_state;

static void describe(char *out, size_t len, const emu_kvm_event *e, const char *source,
                     uint64_t t0, bool halted)
{
    uint64_t dt = e->ts_ns - t0;
    snprintf(out, len, "trace line %u, +%llu.%03llu us: KVM accepts vector %02Xh (%s|%s) for vCPU %u%s%s%s",
             e->line, (unsigned long long)(dt / 1000), (unsigned long long)(dt % 1000), e->vector,
             e->dm == 4 ? "NMI" : e->dm == 1 ? "LowPrio" : "Fixed", e->level ? "level" : "edge",
             e->dest, source[0] ? ", " : "", source, halted ? "; in the trace it was halted (HLT)" : "");
}

static void add_stimulus(emu_kvm_import *imp, const emu_kvm_event *e, unsigned vcpu,
                         const char *source, uint64_t t0, bool halted)
{
    if (e->ts_ns < imp->from_ns || (imp->to_ns && e->ts_ns > imp->to_ns)) {
        imp->outside++;
        return;
    }
    if (imp->nstim == EMU_KVM_MAX_STIMULI) {
        imp->dropped_window++;
        return;
    }
    emu_kvm_stimulus *s = &imp->stim[imp->nstim++];
    memset(s, 0, sizeof(*s));
    s->ts_ns = e->ts_ns;
    s->line = e->line;
    s->vcpu = vcpu;
    s->vector = (uint8_t)e->vector;
    s->nmi = e->dm == 4;
    describe(s->what, sizeof(s->what), e, source, t0, halted);
}

/* Whether an accepted interrupt can be a stimulus; counts why not. */
static bool importable(emu_kvm_import *imp, unsigned dm, unsigned vector, unsigned dest)
{
    if (dm != 0 && dm != 1 && dm != 4) {
        imp->dropped_dm++; /* SMI, INIT, SIPI, ExtINT: not an interrupt to replay */
        return false;
    }
    if (dest >= CPU_MAX_CPUS) {
        imp->dropped_vcpu++;
        return false;
    }
    if (dm != 4 && vector < 0x20) {
        imp->dropped_vector++; /* 0-15 illegal, 16-31 reserved (SDM 11.5.2) */
        return false;
    }
    return true;
}

/* Places the stimuli on our clock: cycles_per_us from their first one, at
 * least EMU_KVM_MIN_GAP apart on one vCPU; when that overruns the window
 * the scale shrinks until it fits (at scale 0 they are only spaced). */
static void place(emu_kvm_import *imp, uint64_t cycles_per_us)
{
    if (!imp->nstim)
        return;
    uint64_t t0 = imp->stim[0].ts_ns;
    double scale = (double)cycles_per_us / 1000.0; /* cycles per ns */
    for (unsigned iter = 0; iter < 40; iter++) {
        uint64_t last[CPU_MAX_CPUS] = {0}, end = 0;
        bool seen[CPU_MAX_CPUS] = {false};
        for (unsigned k = 0; k < imp->nstim; k++) {
            emu_kvm_stimulus *s = &imp->stim[k];
            uint64_t c = EMU_KVM_START + (uint64_t)((double)(s->ts_ns - t0) * scale);
            if (seen[s->vcpu] && c < last[s->vcpu] + EMU_KVM_MIN_GAP)
                c = last[s->vcpu] + EMU_KVM_MIN_GAP;
            s->cycle = c;
            last[s->vcpu] = c;
            seen[s->vcpu] = true;
            end = c > end ? c : end;
        }
        imp->cycles_per_us_used = (uint64_t)(scale * 1000.0);
        if (end < EMU_KVM_WINDOW_END)
            return;
        imp->compressed = true;
        scale = iter == 38 ? 0 : scale * (double)(EMU_KVM_WINDOW_END - EMU_KVM_START) /
                                     (double)(end - EMU_KVM_START) * 0.98;
    }
    /* Spaced only, and still beyond the window: drop the tail. */
    unsigned keep = 0;
    for (unsigned k = 0; k < imp->nstim; k++)
        if (imp->stim[k].cycle < EMU_KVM_WINDOW_END)
            imp->stim[keep++] = imp->stim[k];
    imp->dropped_window += imp->nstim - keep;
    imp->nstim = keep;
}

static int cmp_stim(const void *a, const void *b)
{
    const emu_kvm_stimulus *x = a, *y = b;
    if (x->ts_ns != y->ts_ns)
        return x->ts_ns < y->ts_ns ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

bool emu_kvm_analyse(const emu_kvm_log *log, const emu_kvm_import_opts *opts,
                     emu_kvm_import *imp, char *err, size_t errlen)
{
    memset(imp, 0, sizeof(*imp));
    imp->from_ns = opts->from_ns;
    imp->to_ns = opts->to_ns;
    if (log->n == 0) {
        snprintf(err, errlen, "%s: expected KVM tracepoint lines (kvm_exit, kvm_apic_accept_irq, ...), "
                              "found none in %u lines", log->path, log->lines);
        return false;
    }
    pid_map pm;
    build_pid_map(log, &pm);
    int maxv = -1;
    unsigned accepts = log->kinds[EMU_KVM_ACCEPT_IRQ] + log->kinds[EMU_KVM_APICV_ACCEPT_IRQ];
    vcpu_state st[CPU_MAX_CPUS];
    memset(st, 0, sizeof(st));
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++)
        st[k].pending_kick = -1;
    uint64_t t0 = UINT64_MAX;
    const emu_kvm_event *prev_accept = NULL;
    /* One EOI exit may show twice: as its APIC_ACCESS exit and as KVM's
     * emulated APIC_EOI write; the larger count of the two is taken. */
    unsigned eoi_by_exit = 0, eoi_by_emulation = 0;
    bool accepted[256] = {false}; /* vectors accepted as Fixed or LowPrio */
    for (size_t i = 0; i < log->n; i++) {
        const emu_kvm_event *e = &log->ev[i];
        int v = names_own_vcpu(e) ? e->vcpu : thread_vcpu(&pm, e);
        if (v > maxv && v < 4096 && e->kind != EMU_KVM_ACCEPT_IRQ &&
            e->kind != EMU_KVM_APICV_ACCEPT_IRQ && e->kind != EMU_KVM_PI_IRTE)
            maxv = v;
        if (v < 0 && e->kind != EMU_KVM_ACCEPT_IRQ && e->kind != EMU_KVM_APICV_ACCEPT_IRQ &&
            e->kind != EMU_KVM_APIC_IPI)
            imp->unresolved++;
        vcpu_state *s = v >= 0 && v < CPU_MAX_CPUS ? &st[v] : NULL;
        switch (e->kind) {
        case EMU_KVM_ENTRY:
            if (s) {
                s->running = true;
                s->halted = false;
            }
            break;
        case EMU_KVM_EXIT:
            if (v >= 0 && v < CPU_MAX_CPUS) {
                if (e->reason < 80)
                    imp->exits[v][e->reason]++;
                else
                    imp->exits_other[v]++;
            }
            if (e->reason == 44 && e->has_info && (e->info1 & 0xFFF) == 0xB0 &&
                ((e->info1 >> 12) & 0xF) == 1)
                eoi_by_exit++; /* linear write at 0B0h (SDM 28.2.1 Table 28-6) */
            if (e->reason == 45 || e->reason == 56)
                imp->apicv_signs++;
            if (e->reason == 43)
                imp->tpr_threshold++;
            if (e->reason == 28 && e->has_info && (e->info1 & 0xF) == 8)
                imp->cr8_exits++; /* control register 8 (SDM 28.2.1 Table 28-3) */
            if (e->reason == 1 && e->has_info && (e->intr_info & 0x80000000u) &&
                pi_vector(e->intr_info & 0xFF))
                imp->pi_signs++;
            if (e->reason == 12)
                imp->halts++;
            if (s) {
                if (s->pending_kick >= 0 && e->reason == 1)
                    imp->kicked_accepts++;
                s->pending_kick = -1;
                s->running = false;
                s->halted = e->reason == 12;
            }
            break;
        case EMU_KVM_APIC:
            if (e->write && e->reg == 0xB0)
                eoi_by_emulation++;
            if (e->write && e->reg == 0x320 && s)
                s->lvtt_vector = (unsigned)e->val & 0xFF;
            break;
        case EMU_KVM_MSR:
            if (e->write && e->reg == 0x80B && !e->flag)
                imp->eoi_exits++; /* x2APIC EOI (SDM 11.12.1.2) reached the host */
            if (e->write && e->reg == 0x832 && s)
                s->lvtt_vector = (unsigned)e->val & 0xFF;
            break;
        case EMU_KVM_APICV_ACCEPT_IRQ:
            imp->apicv_signs++;
            /* fall through */
        case EMU_KVM_ACCEPT_IRQ: {
            if (prev_accept && prev_accept->kind != e->kind && prev_accept->dest == e->dest &&
                prev_accept->vector == e->vector && e->ts_ns - prev_accept->ts_ns <= 2000) {
                imp->dropped_dup++; /* the same interrupt under both tracepoints */
                break;
            }
            prev_accept = e;
            if (e->dm <= 1)
                accepted[e->vector & 0xFF] = true;
            if (!importable(imp, e->dm, e->vector, e->dest))
                break;
            if ((int)e->dest > maxv)
                maxv = (int)e->dest;
            char source[96] = "";
            const emu_kvm_event *ipi = NULL;
            /* Its IPI, if any: just before, in the same thread (at most 64
             * events and 20 us back, so a long trace stays linear). */
            for (size_t j = i; j-- > 0 && i - j <= 64 && log->ev[j].ts_ns + 20000 >= e->ts_ns;)
                if (log->ev[j].kind == EMU_KVM_APIC_IPI && log->ev[j].pid == e->pid &&
                    log->ev[j].vector == e->vector) {
                    ipi = &log->ev[j];
                    break;
                }
            int sv = thread_vcpu(&pm, e);
            vcpu_state *d = &st[e->dest];
            if (ipi && sv >= 0)
                snprintf(source, sizeof(source), "an IPI from vCPU %d", sv);
            else if (sv == (int)e->dest && d->lvtt_vector == e->vector)
                snprintf(source, sizeof(source), "its APIC timer (LVTT vector %02Xh)", e->vector);
            else if (sv >= 0)
                snprintf(source, sizeof(source), "raised on vCPU %d's thread", sv);
            else
                snprintf(source, sizeof(source), "from %s (a device or the host)", e->comm);
            if (t0 == UINT64_MAX && e->ts_ns >= imp->from_ns)
                t0 = e->ts_ns;
            if (d->running && e->dm != 4) {
                imp->running_accepts++;
                d->pending_kick = (int)imp->nstim;
            }
            add_stimulus(imp, e, e->dest, source, t0, d->halted);
            break;
        }
        case EMU_KVM_APIC_IPI:
            imp->ipis++;
            break;
        case EMU_KVM_PV_EOI:
            imp->pv_eois++;
            break;
        case EMU_KVM_INJ_VIRQ:
            if (!e->flag && accepted[e->vector & 0xFF])
                imp->injections++;
            break;
        case EMU_KVM_PI_IRTE:
            if (e->flag)
                imp->apicv_signs++, imp->pi_signs++;
            break;
        case EMU_KVM_WAKEUP:
            imp->wakeups++;
            break;
        case EMU_KVM_LAPIC_EXPIRE:
        case EMU_KVM_HV_TIMER:
            imp->timer_events++;
            break;
        default:
            break;
        }
    }
    /* Without any acceptance traced, the IPIs are the interrupts we know. */
    if (accepts == 0) {
        for (size_t i = 0; i < log->n; i++) {
            const emu_kvm_event *e = &log->ev[i];
            if (e->kind != EMU_KVM_APIC_IPI)
                continue;
            int sv = thread_vcpu(&pm, e);
            char source[64];
            snprintf(source, sizeof(source), "an IPI from vCPU %d (kvm_apic_ipi)", sv);
            for (unsigned d = 0; d < CPU_MAX_CPUS; d++) {
                bool to = e->shorthand == 0 ? !e->logical && d == e->dest
                          : e->shorthand == 1 ? (int)d == sv
                          : e->shorthand == 2 ? (int)d <= maxv
                                              : (int)d <= maxv && (int)d != sv;
                if (!to || !importable(imp, e->dm, e->vector, d))
                    continue;
                emu_kvm_event acc = *e;
                acc.dest = d;
                if (t0 == UINT64_MAX && e->ts_ns >= imp->from_ns)
                    t0 = e->ts_ns;
                if ((int)d > maxv)
                    maxv = (int)d;
                add_stimulus(imp, &acc, d, source, t0, false);
                imp->from_ipi++;
            }
        }
    }
    imp->eoi_exits += eoi_by_exit > eoi_by_emulation ? eoi_by_exit : eoi_by_emulation;
    if (maxv < 0) {
        snprintf(err, errlen, "%s: no vCPU could be identified (no kvm_entry, no 'vcpu N' field, "
                              "no 'CPU N/KVM' thread, no accepted interrupt)", log->path);
        return false;
    }
    imp->nvcpus = maxv >= CPU_MAX_CPUS ? CPU_MAX_CPUS : (unsigned)maxv + 1;
    qsort(imp->stim, imp->nstim, sizeof(imp->stim[0]), cmp_stim);
    infer_mode(imp, opts, accepts, log->kinds[EMU_KVM_EXIT]);
    place(imp, opts->cycles_per_us ? opts->cycles_per_us : EMU_KVM_DEFAULT_CYCLES_PER_US);
    return true;
}
