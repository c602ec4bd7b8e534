/*
 * emu_vcd.c — `--vcd FILE`: a Value Change Dump (IEEE 1364-2005 section 18)
 * of each vCPU's interrupt state on the cycle clock, for GTKWave.
 *
 * An observer of the event bus: at each event of CPU k it reads CPU k's
 * state as it is right after that event (the virtual-APIC page, the posted-
 * interrupt descriptor, the physical local APIC) and records what changed,
 * timestamped with the event's cycle. State another CPU changes is changed
 * in the receiver's context (the scheduler applies cross-CPU effects at the
 * receiver's boundary), so sampling the event's own CPU sees every change.
 *
 * The scheduler runs the CPUs of a round one after the other, so events
 * arrive in cycle order per CPU but not across CPUs. A VCD needs increasing
 * times: changes are held back until the machine's clock has passed them
 * (m->now is the start of the current round; nothing later can happen
 * before it), then written sorted by cycle, the last value of a signal at a
 * cycle winning. docs/export.md lists the signals.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "emu/emu_export.h"
#include "emu/emu_hv.h"
#include "vmx/vmx.h"
#include "vmx/vmx_apicv.h"
#include "vmx/vmx_vmcs.h"

/* The signals of one CPU, in the order they are declared. */
enum {
    SIG_NONROOT, /* VMX non-root operation (1) or root (0) */
    SIG_EXIT,    /* 1 from a VM exit until the next VM entry */
    SIG_EXIT_REASON,
    SIG_RVI,
    SIG_SVI,
    SIG_VTPR,
    SIG_VPPR,
    SIG_VIRR,
    SIG_VISR,
    SIG_PIR,
    SIG_ON,
    SIG_SN,
    SIG_NVMX,   /* the signals above exist only with a hypervisor */
    SIG_IRR = SIG_NVMX,
    SIG_ISR,
    SIG_PPR,
    SIG_INTR,   /* a one-cycle pulse at each interrupt delivery */
    SIG_INTR_VECTOR,
    SIG_PER_CPU
};

static const struct {
    const char *name;
    unsigned width;
} sig_def[SIG_PER_CPU] = {
    [SIG_NONROOT] = {"nonroot", 1},  [SIG_EXIT] = {"exit", 1},
    [SIG_EXIT_REASON] = {"exit_reason", 16},
    [SIG_RVI] = {"rvi", 8},          [SIG_SVI] = {"svi", 8},
    [SIG_VTPR] = {"vtpr", 8},        [SIG_VPPR] = {"vppr", 8},
    [SIG_VIRR] = {"virr", 256},      [SIG_VISR] = {"visr", 256},
    [SIG_PIR] = {"pir", 256},        [SIG_ON] = {"on", 1},
    [SIG_SN] = {"sn", 1},            [SIG_IRR] = {"irr", 256},
    [SIG_ISR] = {"isr", 256},        [SIG_PPR] = {"ppr", 8},
    [SIG_INTR] = {"intr", 1},        [SIG_INTR_VECTOR] = {"intr_vector", 8},
};

typedef struct vcd_val {
    uint64_t w[4]; /* bit i of the signal is bit i%64 of w[i/64] */
} vcd_val;

typedef struct vcd_change {
    uint64_t cycle;
    uint64_t seq; /* order of recording: the later of two at a cycle wins */
    uint32_t sig; /* cpu * SIG_PER_CPU + signal */
    vcd_val v;
} vcd_change;

struct emu_vcd {
    emu_machine *m;
    FILE *f;
    const char *path;
    unsigned ncpus;
    bool vmx; /* a hypervisor runs: the VMX signals exist */
    /* Per CPU: the state last sampled, and what only events tell. */
    vcd_val last[CPU_MAX_CPUS][SIG_PER_CPU];
    bool in_exit[CPU_MAX_CPUS];
    uint16_t exit_reason[CPU_MAX_CPUS];
    vcd_val written[CPU_MAX_CPUS * SIG_PER_CPU];
    vcd_change *held;
    size_t nheld, cap;
    uint64_t seq;
    uint64_t flushed_to; /* changes before this cycle are written */
    uint64_t time;       /* the last #time written */
    bool failed;         /* out of memory or a write failed */
};

static void id_of(unsigned idx, char *out)
{
    /* Identifier codes: printable ASCII 33..126, as short as they go. */
    unsigned n = 0;
    do {
        out[n++] = (char)(33 + idx % 94);
        idx /= 94;
    } while (idx);
    out[n] = 0;
}

static void set_u(vcd_val *v, uint64_t x)
{
    memset(v, 0, sizeof(*v));
    v->w[0] = x;
}

static void set_vec(vcd_val *v, const uint32_t w[8])
{
    for (unsigned i = 0; i < 4; i++)
        v->w[i] = (uint64_t)w[2 * i] | (uint64_t)w[2 * i + 1] << 32;
}

static vmx_vcpu *vcd_vcpu(emu_machine *m, unsigned k)
{
    if (m->cfg.mode == EMU_MODE_NATIVE || !m->hv)
        return NULL;
    emu_hv *hv = m->hv;
    return k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

/* CPU k's signals as they are now. Before APIC virtualization (emulated,
 * tpr-shadow) the hypervisor's software APIC is the guest's APIC: its IRR and
 * ISR stand for VIRR and VISR, as in the window (ui_snapshot.c). */
static void sample(emu_vcd *x, unsigned k, vcd_val s[SIG_PER_CPU])
{
    emu_machine *m = x->m;
    memset(s, 0, sizeof(vcd_val) * SIG_PER_CPU);
    const apic_t *a = &m->apic[k];
    set_vec(&s[SIG_IRR], a->irr);
    set_vec(&s[SIG_ISR], a->isr);
    set_u(&s[SIG_PPR], apic_ppr(a));
    s[SIG_INTR] = x->last[k][SIG_INTR];
    s[SIG_INTR_VECTOR] = x->last[k][SIG_INTR_VECTOR];
    vmx_vcpu *v = vcd_vcpu(m, k);
    if (!x->vmx || !v)
        return;
    const vmx_vmcs *vm = &v->vmcs;
    set_u(&s[SIG_NONROOT], v->non_root ? 1 : 0);
    set_u(&s[SIG_EXIT], x->in_exit[k]);
    set_u(&s[SIG_EXIT_REASON], x->in_exit[k] ? x->exit_reason[k] : 0);
    set_u(&s[SIG_RVI], vmx_apicv_rvi(v));
    set_u(&s[SIG_SVI], vmx_apicv_svi(v));
    uint32_t proc = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_PROC_CONTROLS);
    if (proc & VMX_PROC_TPR_SHADOW) {
        uint32_t w[8];
        for (unsigned i = 0; i < 8; i++)
            w[i] = vmx_vapic_read32(v, VMX_VAPIC_IRR + 0x10 * i);
        set_vec(&s[SIG_VIRR], w);
        for (unsigned i = 0; i < 8; i++)
            w[i] = vmx_vapic_read32(v, VMX_VAPIC_ISR + 0x10 * i);
        set_vec(&s[SIG_VISR], w);
        set_u(&s[SIG_VTPR], vmx_vapic_read32(v, VMX_VAPIC_TPR) & 0xFF);
        set_u(&s[SIG_VPPR], vmx_vapic_read32(v, VMX_VAPIC_PPR) & 0xFF);
    }
    emu_mode mode = m->cfg.mode;
    if (mode == EMU_MODE_EMULATED || mode == EMU_MODE_TPR_SHADOW) {
        const apic_t *sw = &((emu_hv *)m->hv)->vcpu[k].sw_apic;
        set_vec(&s[SIG_VIRR], sw->irr);
        set_vec(&s[SIG_VISR], sw->isr);
        if (mode == EMU_MODE_EMULATED)
            set_u(&s[SIG_VTPR], sw->tpr & 0xFF);
        set_u(&s[SIG_VPPR], apic_ppr(sw));
    }
    uint32_t pin = (uint32_t)vmx_vmcs_read_fast(vm, VMCS_PIN_CONTROLS);
    uint64_t desc = vmx_vmcs_read_fast(vm, VMCS_POSTED_INTR_DESC_ADDR);
    if ((pin & VMX_PIN_POSTED_INTR) && cpu_phys_ptr(v->phys, desc, VMX_PI_DESC_SIZE)) {
        for (unsigned i = 0; i < 4; i++)
            s[SIG_PIR].w[i] = vmx_pi_pir_qword(v->phys, desc, i);
        set_u(&s[SIG_ON], vmx_pi_get_on(v->phys, desc));
        set_u(&s[SIG_SN], vmx_pi_get_sn(v->phys, desc));
    }
}

static void hold(emu_vcd *x, uint64_t cycle, unsigned k, unsigned sig, const vcd_val *v)
{
    if (x->failed)
        return;
    if (x->nheld == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 1024;
        vcd_change *n = realloc(x->held, cap * sizeof(*n));
        if (!n) {
            x->failed = true;
            return;
        }
        x->held = n;
        x->cap = cap;
    }
    vcd_change *c = &x->held[x->nheld++];
    c->cycle = cycle < x->flushed_to ? x->flushed_to : cycle;
    c->seq = x->seq++;
    c->sig = k * SIG_PER_CPU + sig;
    c->v = *v;
}

static int by_cycle(const void *pa, const void *pb)
{
    const vcd_change *a = pa, *b = pb;
    if (a->cycle != b->cycle)
        return a->cycle < b->cycle ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void put_value(FILE *f, unsigned width, const vcd_val *v, const char *id)
{
    if (width == 1) {
        fprintf(f, "%c%s\n", (v->w[0] & 1) ? '1' : '0', id);
        return;
    }
    /* Binary, most significant bit first, leading zeros dropped (18.2.3.6). */
    int top = -1;
    for (int b = (int)width - 1; b >= 0; b--)
        if (v->w[b / 64] >> (b % 64) & 1) {
            top = b;
            break;
        }
    fputc('b', f);
    if (top < 0)
        fputc('0', f);
    for (int b = top; b >= 0; b--)
        fputc((v->w[b / 64] >> (b % 64) & 1) ? '1' : '0', f);
    fprintf(f, " %s\n", id);
}

/* Writes the held changes before cycle `before`, in cycle order. */
static void flush(emu_vcd *x, uint64_t before)
{
    if (x->nheld == 0) {
        x->flushed_to = before > x->flushed_to ? before : x->flushed_to;
        return;
    }
    qsort(x->held, x->nheld, sizeof(x->held[0]), by_cycle);
    size_t n = 0;
    while (n < x->nheld && x->held[n].cycle < before) {
        const vcd_change *c = &x->held[n];
        /* A later change of the same signal at the same cycle wins. */
        bool superseded = false;
        for (size_t j = n + 1; j < x->nheld && x->held[j].cycle == c->cycle; j++)
            if (x->held[j].sig == c->sig) {
                superseded = true;
                break;
            }
        n++;
        vcd_val *w = &x->written[c->sig];
        if (superseded || memcmp(w, &c->v, sizeof(*w)) == 0)
            continue;
        if (c->cycle != x->time) {
            fprintf(x->f, "#%llu\n", (unsigned long long)c->cycle);
            x->time = c->cycle;
        }
        char id[8];
        id_of(c->sig, id);
        put_value(x->f, sig_def[c->sig % SIG_PER_CPU].width, &c->v, id);
        *w = c->v;
    }
    memmove(x->held, x->held + n, (x->nheld - n) * sizeof(x->held[0]));
    x->nheld -= n;
    if (before > x->flushed_to)
        x->flushed_to = before;
}

static void vcd_event(void *ctx, const cpu_obs_event *ev)
{
    emu_vcd *x = ctx;
    unsigned k = ev->cpu;
    if (k >= x->ncpus)
        return;
    if (x->m->now > x->flushed_to)
        flush(x, x->m->now);
    if (ev->kind == VMX_EV_VMEXIT) {
        x->in_exit[k] = true;
        x->exit_reason[k] = (uint16_t)ev->a; /* the basic reason, bits 15:0 */
    } else if (ev->kind == VMX_EV_VMENTRY) {
        x->in_exit[k] = false;
    }
    /* Deliveries through the guest's IDT, and external interrupts injected
     * at VM entry (type 0, SDM 26.6 "Event Injection"). */
    bool intr = ev->kind == CPU_EV_INTERRUPT ||
                (ev->kind == VMX_EV_EVENT_INJECTED && ev->b == 0);
    vcd_val s[SIG_PER_CPU];
    if (intr) {
        set_u(&x->last[k][SIG_INTR], 1);
        set_u(&x->last[k][SIG_INTR_VECTOR], ev->a & 0xFF);
    }
    sample(x, k, s);
    for (unsigned i = 0; i < SIG_PER_CPU; i++) {
        if (memcmp(&s[i], &x->last[k][i], sizeof(s[i])) == 0 && !(intr && i == SIG_INTR) &&
            !(intr && i == SIG_INTR_VECTOR))
            continue;
        hold(x, ev->cycle, k, i, &s[i]);
        x->last[k][i] = s[i];
    }
    if (intr) {
        vcd_val zero;
        set_u(&zero, 0);
        hold(x, ev->cycle + 1, k, SIG_INTR, &zero);
        x->last[k][SIG_INTR] = zero;
    }
}

static void header(emu_vcd *x)
{
    FILE *f = x->f;
    fprintf(f, "$version apicv-emu $end\n"
               "$comment mode %s, %u CPUs; one time unit is one cycle of the global clock "
               "(docs/export.md) $end\n"
               "$timescale 1ns $end\n"
               "$scope module apicv $end\n",
            emu_mode_name(x->m->cfg.mode), x->ncpus);
    for (unsigned k = 0; k < x->ncpus; k++) {
        fprintf(f, "$scope module cpu%u $end\n", k);
        for (unsigned i = x->vmx ? 0 : SIG_NVMX; i < SIG_PER_CPU; i++) {
            char id[8];
            id_of(k * SIG_PER_CPU + i, id);
            if (sig_def[i].width == 1)
                fprintf(f, "$var wire 1 %s %s $end\n", id, sig_def[i].name);
            else
                fprintf(f, "$var wire %u %s %s [%u:0] $end\n", sig_def[i].width, id,
                        sig_def[i].name, sig_def[i].width - 1);
        }
        fprintf(f, "$upscope $end\n");
    }
    fprintf(f, "$upscope $end\n$enddefinitions $end\n#0\n$dumpvars\n");
    for (unsigned k = 0; k < x->ncpus; k++) {
        sample(x, k, x->last[k]);
        for (unsigned i = x->vmx ? 0 : SIG_NVMX; i < SIG_PER_CPU; i++) {
            char id[8];
            unsigned sig = k * SIG_PER_CPU + i;
            id_of(sig, id);
            put_value(f, sig_def[i].width, &x->last[k][i], id);
            x->written[sig] = x->last[k][i];
        }
    }
    fprintf(f, "$end\n");
}

emu_vcd *emu_vcd_open(emu_machine *m, const char *path, char *err, size_t errlen)
{
    emu_vcd *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "--vcd %s: out of memory", path);
        return NULL;
    }
    x->m = m;
    x->path = path;
    x->ncpus = m->cfg.ncpus < CPU_MAX_CPUS ? m->cfg.ncpus : CPU_MAX_CPUS;
    x->vmx = m->cfg.mode != EMU_MODE_NATIVE && m->hv;
    x->f = fopen(path, "w");
    if (!x->f) {
        snprintf(err, errlen, "--vcd %s: %s", path, strerror(errno));
        free(x);
        return NULL;
    }
    setvbuf(x->f, NULL, _IOFBF, 1 << 20);
    header(x);
    if (!cpu_obs_subscribe(&m->obs, vcd_event, x)) {
        snprintf(err, errlen, "--vcd %s: too many observers on the event bus", path);
        fclose(x->f);
        free(x);
        return NULL;
    }
    return x;
}

bool emu_vcd_close(emu_vcd *x, char *err, size_t errlen)
{
    if (!x)
        return true;
    cpu_obs_unsubscribe(&x->m->obs, vcd_event, x);
    flush(x, UINT64_MAX);
    /* The end of the run: GTKWave shows the last values up to here. */
    uint64_t end = x->m->now > x->time ? x->m->now : x->time + 1;
    fprintf(x->f, "#%llu\n", (unsigned long long)end);
    bool ok = !x->failed;
    if (x->failed)
        snprintf(err, errlen, "--vcd %s: out of memory: changes are missing", x->path);
    if (ferror(x->f) || fclose(x->f) != 0) {
        if (ok)
            snprintf(err, errlen, "--vcd %s: write failed", x->path);
        ok = false;
    }
    free(x->held);
    free(x);
    return ok;
}

bool emu_exports_open(emu_exports *x, emu_machine *m, const char *vcd_path,
                      const char *perfetto_path, char *err, size_t errlen)
{
    memset(x, 0, sizeof(*x));
    if (vcd_path && !(x->vcd = emu_vcd_open(m, vcd_path, err, errlen)))
        return false;
    if (perfetto_path && !(x->perfetto = emu_perfetto_open(m, perfetto_path, err, errlen))) {
        char dummy[8];
        emu_vcd_close(x->vcd, dummy, sizeof(dummy));
        x->vcd = NULL;
        return false;
    }
    return true;
}

bool emu_exports_close(emu_exports *x, char *err, size_t errlen)
{
    bool ok = emu_vcd_close(x->vcd, err, errlen);
    char err2[512];
    if (!emu_perfetto_close(x->perfetto, err2, sizeof(err2))) {
        if (ok)
            snprintf(err, errlen, "%s", err2);
        ok = false;
    }
    x->vcd = NULL;
    x->perfetto = NULL;
    return ok;
}
