/*
 * emu_gdb_monitor.c — gdb's `monitor` commands (qRcmd) for this machine:
 * the virtual-APIC page, VMCS fields, the posted-interrupt descriptor and
 * the event log of the CPU gdb has selected (docs/gdb.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_gdb_internal.h"
#include "emu/emu_hv.h"
#include "vmx/vmx.h"
#include "vmx/vmx_apicv.h"
#include "vmx/vmx_vmcs.h"

typedef struct mon_out {
    char *buf;
    size_t len, used;
} mon_out;

static void say(mon_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(mon_out *o, const char *fmt, ...)
{
    if (o->used + 1 >= o->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->used += (size_t)n < o->len - o->used ? (size_t)n : o->len - o->used - 1;
}

/* The vmx_vcpu of CPU k when the built-in hypervisor runs (m->hv is the
 * emu_hv of emu/emu_hv.h in every mode but native), else NULL. */
static vmx_vcpu *vcpu_of(emu_machine *m, unsigned k)
{
    if (m->cfg.mode == EMU_MODE_NATIVE || !m->hv)
        return NULL;
    emu_hv *hv = m->hv;
    return k < hv->ncpus ? &hv->vcpu[k].vmx : NULL;
}

/* The set vectors of a 256-bit register given as eight 32-bit words. */
static void say_vectors(mon_out *o, const char *name, const uint32_t w[8])
{
    say(o, "  %-5s", name);
    unsigned n = 0;
    for (unsigned v = 0; v < 256; v++)
        if (w[v / 32] >> (v % 32) & 1) {
            say(o, " %02xh", v);
            n++;
        }
    say(o, "%s\n", n ? "" : " (none)");
}

/* SDM 29.1.1 (VTPR, VPPR, VISR, VIRR on the virtual-APIC page) and 29.1.2
 * (RVI and SVI in the guest interrupt status). */
static void mon_vapic(emu_gdb *g, mon_out *o)
{
    vmx_vcpu *v = vcpu_of(g->m, g->g_cpu);
    if (!v) {
        say(o, "vCPU %u: %s mode, no virtual-APIC page\n", g->g_cpu, emu_mode_name(g->m->cfg.mode));
        return;
    }
    uint32_t proc = (uint32_t)vmx_vmcs_get(&v->vmcs, VMCS_PROC_CONTROLS);
    say(o, "vCPU %u (%s mode, %s operation)\n", g->g_cpu, emu_mode_name(g->m->cfg.mode),
        v->non_root ? "non-root" : "root");
    say(o, "  RVI   %02xh\n  SVI   %02xh\n", vmx_apicv_rvi(v), vmx_apicv_svi(v));
    if (!(proc & VMX_PROC_TPR_SHADOW)) {
        say(o, "  no virtual-APIC page (use TPR shadow is 0)\n");
        return;
    }
    say(o, "  VTPR  %02xh\n  VPPR  %02xh\n", vmx_vapic_read32(v, VMX_VAPIC_TPR) & 0xFF,
        vmx_vapic_read32(v, VMX_VAPIC_PPR) & 0xFF);
    uint32_t w[8];
    for (unsigned i = 0; i < 8; i++)
        w[i] = vmx_vapic_read32(v, VMX_VAPIC_IRR + 0x10 * i);
    say_vectors(o, "VIRR", w);
    for (unsigned i = 0; i < 8; i++)
        w[i] = vmx_vapic_read32(v, VMX_VAPIC_ISR + 0x10 * i);
    say_vectors(o, "VISR", w);
}

/* SDM 29.6: the posted-interrupt descriptor (PIR, ON, SN, NV, NDST). */
static void mon_pid(emu_gdb *g, mon_out *o)
{
    vmx_vcpu *v = vcpu_of(g->m, g->g_cpu);
    uint32_t pin = v ? (uint32_t)vmx_vmcs_get(&v->vmcs, VMCS_PIN_CONTROLS) : 0;
    uint64_t desc = v ? vmx_vmcs_get(&v->vmcs, VMCS_POSTED_INTR_DESC_ADDR) : 0;
    if (!v || !(pin & VMX_PIN_POSTED_INTR) || !cpu_phys_ptr(v->phys, desc, VMX_PI_DESC_SIZE)) {
        say(o, "vCPU %u: no posted-interrupt descriptor (%s mode)\n", g->g_cpu,
            emu_mode_name(g->m->cfg.mode));
        return;
    }
    say(o, "vCPU %u posted-interrupt descriptor at %llxh\n", g->g_cpu, (unsigned long long)desc);
    uint32_t w[8];
    for (unsigned i = 0; i < 4; i++) {
        uint64_t q = vmx_pi_pir_qword(v->phys, desc, i);
        w[2 * i] = (uint32_t)q;
        w[2 * i + 1] = (uint32_t)(q >> 32);
    }
    say_vectors(o, "PIR", w);
    say(o, "  ON    %u\n  SN    %u\n  NV    %02xh\n  NDST  %xh\n", vmx_pi_get_on(v->phys, desc),
        vmx_pi_get_sn(v->phys, desc), vmx_pi_get_nv(v->phys, desc),
        vmx_pi_get_ndst(v->phys, desc));
}

/* monitor vmcs FIELD: by name (GUEST_RIP) or encoding (0x681e). */
static void mon_vmcs(emu_gdb *g, const char *arg, mon_out *o)
{
    vmx_vcpu *v = vcpu_of(g->m, g->g_cpu);
    if (!v) {
        say(o, "vCPU %u: no VMCS (%s mode)\n", g->g_cpu, emu_mode_name(g->m->cfg.mode));
        return;
    }
    if (!*arg) {
        say(o, "usage: monitor vmcs FIELD (a name such as GUEST_RIP, or an encoding 0x681e)\n");
        return;
    }
    uint32_t enc = UINT32_MAX;
    char *end;
    unsigned long e = strtoul(arg, &end, 16);
    if (*end == 0 && e <= 0xFFFF && vmx_vmcs_field_valid((uint32_t)e))
        enc = (uint32_t)e;
    for (uint32_t k = 0; enc == UINT32_MAX && k <= 0xFFFF; k++) {
        const char *n = vmx_vmcs_field_name(k);
        if (n && strcasecmp(n, arg) == 0)
            enc = k;
    }
    if (enc == UINT32_MAX) {
        say(o, "vmcs: no VMCS field '%s' (a name such as GUEST_RIP, or an encoding)\n", arg);
        return;
    }
    say(o, "%s (%04xh) = %llxh\n", vmx_vmcs_field_name(enc), enc,
        (unsigned long long)vmx_vmcs_get(&v->vmcs, enc));
}

bool emu_gdb_vapic_byte(emu_gdb *g, unsigned cpu, unsigned off, uint8_t *out)
{
    vmx_vcpu *v = vcpu_of(g->m, cpu);
    if (!v || off > 0xFFF ||
        !((uint32_t)vmx_vmcs_get(&v->vmcs, VMCS_PROC_CONTROLS) & VMX_PROC_TPR_SHADOW))
        return false;
    *out = (uint8_t)(vmx_vapic_read32(v, off) >> (8 * (off & 3)));
    return true;
}

/* monitor watch-vapic OFFSET [VECTOR]: a write watchpoint on one byte of
 * the selected vCPU's virtual-APIC page (SDM 29.1.1), e.g. 0x208 for VIRR
 * vectors 40h-47h; with VECTOR, the byte of VIRR that holds it. */
static void mon_watch_vapic(emu_gdb *g, const char *arg, bool add, mon_out *o)
{
    char *end;
    unsigned long off = strtoul(arg, &end, 16);
    if (!*arg || *end) {
        say(o, "usage: monitor %swatch-vapic OFFSET (hexadecimal, 0..fff; VIRR of vector V "
               "is 200 + (V / 32) * 10 + (V %% 32) / 8)\n",
            add ? "" : "un");
        return;
    }
    for (unsigned i = 0; i < g->nwp; i++)
        if (g->wp[i].vapic && g->wp[i].va == off && g->wp[i].vapic_cpu == g->g_cpu) {
            if (!add) {
                g->wp[i] = g->wp[--g->nwp];
                say(o, "virtual-APIC watchpoint at offset %03lxh of vCPU %u removed\n", off,
                    g->g_cpu);
            } else {
                say(o, "already watched\n");
            }
            return;
        }
    if (!add) {
        say(o, "no virtual-APIC watchpoint at offset %03lxh of vCPU %u\n", off, g->g_cpu);
        return;
    }
    emu_gdb_watch w = {.va = off, .len = 1, .type = 2, .vapic = true, .vapic_cpu = g->g_cpu};
    if (g->nwp == EMU_GDB_NWP || !emu_gdb_vapic_byte(g, g->g_cpu, (unsigned)off, w.old)) {
        say(o, "cannot watch offset %03lxh of vCPU %u: %s\n", off, g->g_cpu,
            g->nwp == EMU_GDB_NWP ? "no watchpoint left" : "it has no virtual-APIC page");
        return;
    }
    g->wp[g->nwp++] = w;
    say(o, "watching byte %03lxh of vCPU %u's virtual-APIC page (now %02xh): `continue` stops "
           "with SIGTRAP after the instruction at whose boundary it changes\n",
        off, g->g_cpu, w.old[0]);
}

static void say_event(mon_out *o, const cpu_obs_event *ev)
{
    char line[256];
    emu_log_format(ev, line, sizeof(line));
    say(o, "%s\n", line);
}

static void mon_events(emu_gdb *g, const char *arg, mon_out *o)
{
    char *end;
    unsigned long n = *arg ? strtoul(arg, &end, 10) : 10;
    if (*arg && *end) {
        say(o, "usage: monitor events [N] (the last N events, at most %u)\n", EMU_GDB_NEV);
        return;
    }
    if (n > EMU_GDB_NEV)
        n = EMU_GDB_NEV;
    if (n > g->nev)
        n = g->nev;
    if (n == 0)
        say(o, "no events since gdb attached\n");
    for (uint64_t i = g->nev - n; i < g->nev; i++)
        say_event(o, &g->ev[i % EMU_GDB_NEV]);
}

/* Runs until the next event on the observer bus (any CPU) and prints it.
 * gdb does not know the machine moved: `flushregs` refreshes its view. */
static void mon_step_event(emu_gdb *g, mon_out *o)
{
    emu_machine *m = g->m;
    uint64_t before = g->nev;
    g->event_hit = false;
    g->want_event = true;
    emu_gdb_until_event(g);
    g->want_event = false;
    /* The pause takes effect at the next instruction boundary: every event
     * of the boundary where the first one came is printed. */
    uint64_t first = g->nev - before > EMU_GDB_NEV ? g->nev - EMU_GDB_NEV : before;
    for (uint64_t i = first; i < g->nev; i++)
        say_event(o, &g->ev[i % EMU_GDB_NEV]);
    if (g->nev == before)
        say(o, "no event came%s\n", m->finished ? ": the run ended" : "");
    const cpu_t *c = &m->cpu[g->nev > before ? g->ev[before % EMU_GDB_NEV].cpu : g->g_cpu];
    say(o, "CPU %u now at cycle %llu, rip %llx (`maintenance flush register-cache` refreshes "
           "gdb's registers)\n",
        c->index, (unsigned long long)c->cycles, (unsigned long long)c->rip);
}

void emu_gdb_monitor(emu_gdb *g, const char *cmd, char *out, size_t outlen)
{
    mon_out o = {out, outlen, 0};
    out[0] = 0;
    while (*cmd == ' ')
        cmd++;
    char word[32];
    size_t n = 0;
    while (cmd[n] && cmd[n] != ' ' && n < sizeof(word) - 1) {
        word[n] = cmd[n];
        n++;
    }
    word[n] = 0;
    const char *arg = cmd + n;
    while (*arg == ' ')
        arg++;
    if (strcmp(word, "vapic") == 0)
        mon_vapic(g, &o);
    else if (strcmp(word, "pid") == 0)
        mon_pid(g, &o);
    else if (strcmp(word, "vmcs") == 0)
        mon_vmcs(g, arg, &o);
    else if (strcmp(word, "events") == 0)
        mon_events(g, arg, &o);
    else if (strcmp(word, "step-event") == 0)
        mon_step_event(g, &o);
    else if (strcmp(word, "watch-vapic") == 0)
        mon_watch_vapic(g, arg, true, &o);
    else if (strcmp(word, "unwatch-vapic") == 0)
        mon_watch_vapic(g, arg, false, &o);
    else
        say(&o, "%s%s%sapicv-emu monitor commands (of the selected thread's vCPU):\n"
                "  vapic        virtual-APIC state: RVI, SVI, VTPR, VPPR, VIRR, VISR\n"
                "  vmcs FIELD   a VMCS field by name (GUEST_RIP) or encoding (681e)\n"
                "  pid          the posted-interrupt descriptor: PIR, ON, SN, NV, NDST\n"
                "  events [N]   the last N events of the machine (default 10)\n"
                "  step-event   run to the next event and print it\n"
                "  watch-vapic OFFSET    stop when that virtual-APIC page byte changes\n"
                "  unwatch-vapic OFFSET  remove it\n",
            strcmp(word, "help") && *word ? "unknown command '" : "",
            strcmp(word, "help") && *word ? word : "", strcmp(word, "help") && *word ? "'\n" : "");
}
