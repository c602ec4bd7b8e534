/*
 * emu_perfetto.c — `--perfetto FILE`: the run as Chrome trace-event JSON
 * (the "JSON Array/Object Format" Perfetto UI and chrome://tracing open).
 *
 * An observer of the event bus. One process, one track (thread) per vCPU:
 *  - complete slices ("ph":"X") for where the vCPU is: "guest" (VMX non-root
 *    operation, or the whole run natively), "hypervisor" (root operation
 *    before the first VM entry), and each VM exit as a slice named by its
 *    reason from the exit to the next VM entry (SDM 27.2, Appendix C);
 *  - instant events ("ph":"i") for the posted-interrupt steps (SDM 30.6),
 *    the hypervisor's posting, virtual-interrupt recognition, delivery and
 *    EOI virtualization (SDM 30.2);
 *  - flow arrows ("ph":"s", "t", "f" sharing an id) from each interrupt's
 *    raise (MSI, IPI, self-IPI, I/O APIC message, timer) to its delivery in the guest
 *    and its EOI.
 * Events of a CPU arrive in cycle order; the viewers sort across tracks, so
 * everything is written as it happens. One cycle is shown as 1 ns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_export.h"
#include "emu/emu_hv.h"
#include "vmx/vmx.h"
#include "vmx/vmx_vmcs.h"

#define PF_FLOWS 64 /* interrupts in flight per CPU; the oldest goes when full */

typedef struct pf_flow {
    uint64_t id;
    uint8_t vector;
    bool delivered;
} pf_flow;

typedef struct pf_cpu {
    uint64_t start;  /* of the open slice */
    char name[48];   /* of the open slice */
    const char *cat;
    uint64_t qual, rip; /* of the VM exit being handled */
    unsigned reason;
    bool is_exit;
    pf_flow flow[PF_FLOWS];
    unsigned nflow;
} pf_cpu;

struct emu_perfetto {
    emu_machine *m;
    FILE *f;
    const char *path;
    unsigned ncpus;
    uint64_t next_flow;
    pf_cpu cpu[CPU_MAX_CPUS];
};

static void put_ts(FILE *f, uint64_t cycle)
{
    /* Microseconds, as the format wants them, with one cycle = 1 ns. */
    fprintf(f, "%llu.%03llu", (unsigned long long)(cycle / 1000),
            (unsigned long long)(cycle % 1000));
}

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7F)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The common head of an event: {"name":..,"cat":..,"ph":..,"ts":..,"pid":1,"tid":k+1 */
static void put_head(emu_perfetto *p, const char *name, const char *cat, const char *ph,
                     uint64_t cycle, unsigned k)
{
    fputs(",\n{\"name\":", p->f);
    put_str(p->f, name);
    fprintf(p->f, ",\"cat\":\"%s\",\"ph\":\"%s\",\"ts\":", cat, ph);
    put_ts(p->f, cycle);
    fprintf(p->f, ",\"pid\":1,\"tid\":%u", k + 1);
}

static void close_slice(emu_perfetto *p, unsigned k, uint64_t end)
{
    pf_cpu *c = &p->cpu[k];
    if (!c->name[0])
        return;
    if (end < c->start)
        end = c->start;
    put_head(p, c->name, c->cat, "X", c->start, k);
    fputs(",\"dur\":", p->f);
    put_ts(p->f, end - c->start);
    if (c->is_exit)
        fprintf(p->f, ",\"args\":{\"reason\":%u,\"qualification\":\"0x%llx\",\"rip\":\"0x%llx\"}",
                c->reason, (unsigned long long)c->qual, (unsigned long long)c->rip);
    fputs("}", p->f);
    c->name[0] = 0;
}

static void open_slice(emu_perfetto *p, unsigned k, uint64_t start, const char *name,
                       const char *cat)
{
    pf_cpu *c = &p->cpu[k];
    c->start = start;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->cat = cat;
    c->is_exit = false;
}

static void instant(emu_perfetto *p, const cpu_obs_event *ev, const char *cat)
{
    const emu_evdesc *d = emu_event_desc(ev->kind);
    char text[256];
    emu_event_describe(ev, text, sizeof(text));
    put_head(p, d ? d->name : "event", cat, "i", ev->cycle, ev->cpu);
    fputs(",\"s\":\"t\",\"args\":{\"text\":", p->f);
    put_str(p->f, text);
    fputs("}}", p->f);
}

static void flow_event(emu_perfetto *p, const char *ph, uint64_t cycle, unsigned k,
                       unsigned vector, uint64_t id)
{
    char name[32];
    snprintf(name, sizeof(name), "interrupt %02Xh", vector);
    put_head(p, name, "interrupt", ph, cycle, k);
    /* "bp":"e": bind to the slice enclosing the point, not the next one. */
    fprintf(p->f, ",\"id\":%llu,\"bp\":\"e\"}", (unsigned long long)id);
}

/* An interrupt for CPU dst raised at ev (on ev's own track). */
static void raise_flow(emu_perfetto *p, const cpu_obs_event *ev, unsigned dst, unsigned vector)
{
    if (dst >= p->ncpus)
        return;
    pf_cpu *c = &p->cpu[dst];
    if (c->nflow == PF_FLOWS) {
        memmove(c->flow, c->flow + 1, (PF_FLOWS - 1) * sizeof(c->flow[0]));
        c->nflow--;
    }
    pf_flow *fl = &c->flow[c->nflow++];
    fl->id = ++p->next_flow;
    fl->vector = (uint8_t)vector;
    fl->delivered = false;
    instant(p, ev, "interrupt");
    flow_event(p, "s", ev->cycle, ev->cpu, vector, fl->id);
}

/* Delivery (step "t") or EOI (finish "f") of vector on ev's CPU: the oldest
 * interrupt of that vector in the state before. */
static bool advance_flow(emu_perfetto *p, const cpu_obs_event *ev, unsigned vector, bool eoi)
{
    pf_cpu *c = &p->cpu[ev->cpu];
    for (unsigned i = 0; i < c->nflow; i++) {
        pf_flow *fl = &c->flow[i];
        if (fl->vector != vector || fl->delivered != eoi)
            continue;
        instant(p, ev, "interrupt");
        flow_event(p, eoi ? "f" : "t", ev->cycle, ev->cpu, vector, fl->id);
        if (eoi) {
            memmove(fl, fl + 1, (c->nflow - i - 1) * sizeof(*fl));
            c->nflow--;
        } else {
            fl->delivered = true;
        }
        return true;
    }
    return false;
}

static void perfetto_event(void *ctx, const cpu_obs_event *ev)
{
    emu_perfetto *p = ctx;
    unsigned k = ev->cpu;
    if (k >= p->ncpus)
        return;
    pf_cpu *c = &p->cpu[k];
    switch (ev->kind) {
    case VMX_EV_VMENTRY:
        close_slice(p, k, ev->cycle);
        open_slice(p, k, ev->cycle, "guest", "guest");
        break;
    case VMX_EV_VMEXIT: {
        close_slice(p, k, ev->cycle);
        unsigned reason = (unsigned)(ev->a & 0xFFFF);
        const char *name = vmx_exit_reason_name(reason);
        char buf[48];
        snprintf(buf, sizeof(buf), "%s", name ? name : "exit");
        open_slice(p, k, ev->cycle, buf, "hypervisor");
        c->is_exit = true;
        c->reason = reason;
        c->qual = ev->b;
        c->rip = ev->c;
        break;
    }
    case VMX_EV_PI_ACK:
    case VMX_EV_PI_NV_MATCH:
    case VMX_EV_PI_NV_MISMATCH:
    case VMX_EV_PI_ON_CLEAR:
    case VMX_EV_PI_EOI:
    case VMX_EV_PI_PIR_TO_VIRR:
    case VMX_EV_PI_RVI_UPDATE:
    case EMU_HV_EV_POST:
    case EMU_HV_EV_KICK:
        instant(p, ev, "posted");
        break;
    case VMX_EV_VINTR_RECOGNIZED:
    case EMU_HV_EV_VIRR_SET:
    case EMU_HV_EV_INJECT:
        instant(p, ev, "virtual-interrupt");
        break;
    case VMX_EV_VINTR_DELIVERED:
        instant(p, ev, "virtual-interrupt");
        break;
    case EMU_EV_MSI_RAISE:
        if (!ev->d)
            raise_flow(p, ev, (unsigned)ev->b, (unsigned)(ev->a & 0xFF));
        break;
    case EMU_EV_IPI_ROUTE:
        raise_flow(p, ev, (unsigned)ev->b, (unsigned)(ev->a & 0xFF));
        break;
    case EMU_HV_EV_IPI:
        /* The hypervisor sends a guest's IPI on as an MSI (EMU_EV_MSI_RAISE
         * follows): the arrow starts there. */
        instant(p, ev, "interrupt");
        break;
    case APIC_EV_IPI:
        /* A fixed IPI the sender's APIC delivers to itself (a self-IPI or
         * a shorthand including self); others go by EMU_EV_IPI_ROUTE. */
        if (ev->c && ((ev->a >> 8) & 7) == 0)
            raise_flow(p, ev, k, (unsigned)(ev->a & 0xFF));
        break;
    case EMU_EV_IOAPIC_DELIVER:
        raise_flow(p, ev, k, (unsigned)(ev->a & 0xFF));
        break;
    case APIC_EV_TIMER:
        if (!ev->c)
            raise_flow(p, ev, k, (unsigned)(ev->a & 0xFF));
        break;
    case CPU_EV_INTERRUPT:
        advance_flow(p, ev, (unsigned)(ev->a & 0xFF), false);
        break;
    case VMX_EV_EVENT_INJECTED:
        if (ev->b == 0) /* an external interrupt (SDM 26.6.1) */
            advance_flow(p, ev, (unsigned)(ev->a & 0xFF), false);
        break;
    case APIC_EV_EOI:
    case VMX_EV_EOI_VIRT:
        if (!(ev->a <= 0xFF && advance_flow(p, ev, (unsigned)ev->a, true)) &&
            ev->kind == VMX_EV_EOI_VIRT)
            instant(p, ev, "virtual-interrupt");
        break;
    default:
        break;
    }
}

emu_perfetto *emu_perfetto_open(emu_machine *m, const char *path, char *err, size_t errlen)
{
    emu_perfetto *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "--perfetto %s: out of memory", path);
        return NULL;
    }
    p->m = m;
    p->path = path;
    p->ncpus = m->cfg.ncpus < CPU_MAX_CPUS ? m->cfg.ncpus : CPU_MAX_CPUS;
    p->f = fopen(path, "w");
    if (!p->f) {
        snprintf(err, errlen, "--perfetto %s: %s", path, strerror(errno));
        free(p);
        return NULL;
    }
    setvbuf(p->f, NULL, _IOFBF, 1 << 20);
    bool native = m->cfg.mode == EMU_MODE_NATIVE || !m->hv;
    fprintf(p->f, "{\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"generator\":\"apicv-emu\","
                  "\"mode\":\"%s\",\"clock\":\"1 cycle of the global clock = 1 ns\"},\n"
                  "\"traceEvents\":[\n"
                  "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
                  "\"args\":{\"name\":\"apicv-emu (%s)\"}}",
            emu_mode_name(m->cfg.mode), emu_mode_name(m->cfg.mode));
    for (unsigned k = 0; k < p->ncpus; k++) {
        fprintf(p->f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,"
                      "\"args\":{\"name\":\"%s %u\"}}",
                k + 1, native ? "CPU" : "vCPU", k);
        fprintf(p->f, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,"
                      "\"args\":{\"sort_index\":%u}}",
                k + 1, k);
        open_slice(p, k, m->cpu[k].cycles, native ? "guest" : "hypervisor",
                   native ? "guest" : "hypervisor");
    }
    if (!cpu_obs_subscribe(&m->obs, perfetto_event, p)) {
        snprintf(err, errlen, "--perfetto %s: too many observers on the event bus", path);
        fclose(p->f);
        free(p);
        return NULL;
    }
    return p;
}

bool emu_perfetto_close(emu_perfetto *p, char *err, size_t errlen)
{
    if (!p)
        return true;
    cpu_obs_unsubscribe(&p->m->obs, perfetto_event, p);
    /* Every track ends where the run ended: the clock of the CPU that got
     * furthest. */
    uint64_t end = p->m->now;
    for (unsigned k = 0; k < p->ncpus; k++)
        if (p->m->cpu[k].cycles > end)
            end = p->m->cpu[k].cycles;
    for (unsigned k = 0; k < p->ncpus; k++)
        close_slice(p, k, end);
    fputs("\n]}\n", p->f);
    bool ok = true;
    if (ferror(p->f) || fclose(p->f) != 0) {
        snprintf(err, errlen, "--perfetto %s: write failed", p->path);
        ok = false;
    }
    free(p);
    return ok;
}
