/*
 * emu_gdb_points.c — the stub's breakpoints and watchpoints (Z0-Z4):
 * breakpoints by RIP, checked at instruction boundaries (the guest's
 * memory is never patched); watchpoints on guest-physical bytes, resolved
 * from the virtual address when set, and on virtual-APIC page bytes
 * (`monitor watch-vapic`).
 */
#include <string.h>

#include "emu/emu.h"
#include "emu/emu_gdb_internal.h"

void emu_gdb_point(emu_gdb *g, bool insert, const char *p, char *out)
{
    uint64_t type, addr, kind;
    char t = *p;
    p++;
    if (*p++ != ',' || !emu_gdb_parse_hex(&p, &addr) || *p++ != ',' || !emu_gdb_parse_hex(&p, &kind)) {
        strcpy(out, "E01");
        return;
    }
    type = (uint64_t)(t - '0');
    if (type <= 1) {
        /* Z0/Z1: both by RIP, checked at each instruction boundary. */
        for (unsigned i = 0; i < g->nbp; i++)
            if (g->bp[i] == addr) {
                if (!insert)
                    g->bp[i] = g->bp[--g->nbp];
                strcpy(out, "OK");
                return;
            }
        if (!insert) {
            strcpy(out, "OK");
            return;
        }
        if (g->nbp == EMU_GDB_NBP) {
            strcpy(out, "E28");
            return;
        }
        g->bp[g->nbp++] = addr;
        strcpy(out, "OK");
        return;
    }
    /* Z2 write, Z3 read, Z4 access watchpoints. */
    for (unsigned i = 0; i < g->nwp; i++)
        if (!g->wp[i].vapic && g->wp[i].va == addr && g->wp[i].len == kind &&
            g->wp[i].type == type) {
            if (!insert) {
                g->wp[i] = g->wp[--g->nwp];
                emu_gdb_watch_install(g);
            }
            strcpy(out, "OK");
            return;
        }
    if (!insert) {
        strcpy(out, "OK");
        return;
    }
    emu_gdb_watch w = {.va = addr, .len = (unsigned)kind, .type = (unsigned)type};
    if (kind < 1 || kind > 8 || g->nwp == EMU_GDB_NWP ||
        !cpu_linear_to_phys(emu_gdb_cpu(g), addr, &w.pa) ||
        !cpu_phys_read(emu_gdb_cpu(g)->phys, w.pa, w.old, w.len)) {
        strcpy(out, "E28");
        return;
    }
    g->wp[g->nwp++] = w;
    if (!emu_gdb_watch_install(g)) {
        g->nwp--;
        strcpy(out, "E28");
        return;
    }
    strcpy(out, "OK");
}

/* Read and access watchpoints are the CPUs' data watchpoints
 * (cpu_watch_set); write watchpoints compare values, as before. */
bool emu_gdb_watch_install(emu_gdb *g)
{
    uint64_t pa[CPU_MAX_WATCH];
    unsigned len[CPU_MAX_WATCH], n = 0;
    for (unsigned i = 0; i < g->nwp; i++) {
        emu_gdb_watch *w = &g->wp[i];
        if (w->vapic || w->type == 2)
            continue;
        if (n == CPU_MAX_WATCH)
            return false;
        w->cw = n;
        pa[n] = w->pa;
        len[n++] = w->len;
    }
    return cpu_watch_set(&g->m->phys, n, pa, len);
}

/* A watched value changed: its index, else -1 (the old values move on). */
int emu_gdb_watch_hit(emu_gdb *g)
{
    int hit = -1;
    cpu_phys *p = &g->m->phys;
    for (unsigned i = 0; i < g->nwp; i++) {
        uint8_t now[8];
        emu_gdb_watch *w = &g->wp[i];
        if (!w->vapic && w->type != 2) {
            uint8_t seen = p->watch_seen[w->cw];
            p->watch_seen[w->cw] = 0;
            if (hit < 0 && (w->type == 4 ? seen != 0 : (seen & CPU_WATCH_READ) != 0))
                hit = (int)i;
            continue;
        }
        bool got = w->vapic ? emu_gdb_vapic_byte(g, w->vapic_cpu, (unsigned)w->va, now)
                            : cpu_phys_read(g->m->cpu[0].phys, w->pa, now, w->len);
        if (got && memcmp(now, w->old, w->len) != 0) {
            memcpy(w->old, now, w->len);
            if (hit < 0)
                hit = (int)i;
        }
    }
    return hit;
}

bool emu_gdb_bp_at(const emu_gdb *g, uint64_t rip)
{
    for (unsigned i = 0; i < g->nbp; i++)
        if (g->bp[i] == rip)
            return true;
    return false;
}

void emu_gdb_watch_sync(emu_gdb *g)
{
    for (unsigned i = 0; i < g->nwp; i++) {
        emu_gdb_watch *w = &g->wp[i];
        if (!w->vapic && w->type != 2) {
            g->m->phys.watch_seen[w->cw] = 0;
            continue;
        }
        bool got = w->vapic ? emu_gdb_vapic_byte(g, w->vapic_cpu, (unsigned)w->va, w->old)
                            : cpu_phys_read(g->m->cpu[0].phys, w->pa, w->old, w->len);
        if (!got)
            memset(w->old, 0, sizeof(w->old));
    }
}

void emu_gdb_watch_reason(const emu_gdb *g, int w, char *out, size_t len)
{
    /* A virtual-APIC byte has no address gdb knows: a plain SIGTRAP
     * (monitor vapic and events say why). */
    out[0] = 0;
    static const char *const name[] = {"watch", "rwatch", "awatch"};
    if (w >= 0 && !g->wp[w].vapic)
        snprintf(out, len, "%s:%llx;", name[g->wp[w].type - 2], (unsigned long long)g->wp[w].va);
}
