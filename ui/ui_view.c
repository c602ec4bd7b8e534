/*
 * ui_view.c — what the viewer sees beyond one snapshot: the selected vCPU,
 * the help overlay, the clicked cell, which cells changed (they flash for
 * UI_FLASH_MS) and the cycle and event that last changed each cell, and the
 * disassembly around RIP (made once per snapshot, never per frame).
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_evdesc.h"
#include "ui/ui.h"

static const char *const grid_names[UI_GRID_COUNT] = {
    "VIRR", "VISR", "PIR", "IRR", "ISR", "EOI-exit",
};

const char *ui_grid_name(ui_grid_id g)
{
    return (unsigned)g < UI_GRID_COUNT ? grid_names[g] : "?";
}

const ui_vec256 *ui_grid_reg(const ui_cpu_snap *c, ui_grid_id g)
{
    switch (g) {
    case UI_GRID_VIRR:
        return &c->virr;
    case UI_GRID_VISR:
        return &c->visr;
    case UI_GRID_PIR:
        return &c->pir;
    case UI_GRID_IRR:
        return &c->irr;
    case UI_GRID_ISR:
        return &c->isr;
    default:
        return &c->eoi_exit;
    }
}

void ui_view_init(ui_view *v)
{
    memset(v, 0, sizeof(*v));
    v->sel_grid = -1;
    v->disasm_cur = -1;
    v->ev_class = UI_EVC_COUNT; /* every class; chatter hidden */
    /* Cells start "never changed": clock 0 is reserved for that, so the
     * view clock starts past any flash of a cell changed at 0. */
    v->clock_ms = UI_FLASH_MS + 1;
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++)
        for (unsigned g = 0; g < UI_GRID_COUNT; g++)
            for (unsigned i = 0; i < 256; i++)
                v->cell[k][g][i].event_kind = 0xFFFF;
}

/* The newest event in s on cpu that names vector (field a) — the best guess
 * of what changed a cell; else the newest event on that CPU. */
static const ui_event *cause_of(const ui_snapshot *s, unsigned cpu, unsigned vector)
{
    const ui_event *any = NULL;
    for (unsigned i = s->nev; i-- > 0;) {
        const ui_event *e = &s->ev[i];
        if (e->cpu != cpu)
            continue;
        if ((e->a & 0xFF) == vector && e->a <= 0xFF)
            return e;
        if (!any)
            any = e;
    }
    return any;
}

/* One instruction at code[0..avail) (address addr) as text; its length,
 * 0 when it does not decode, as code of the CPU's mode (cpu_disasm).
 * Remembered in v->dcache by address, mode and bytes, so the same
 * instruction is decoded once, not once per frame. */
static unsigned decode(ui_view *v, unsigned mode, const uint8_t *code, unsigned avail,
                       uint64_t addr, char *buf, size_t buflen)
{
    unsigned nb = avail < 15 ? avail : 15;
    ui_disasm_entry *e = &v->dcache[((addr * 0x9E3779B97F4A7C15ull) >> 32) % UI_DISASM_CACHE];
    if (e->nbytes != nb || e->addr != addr || e->mode != mode || memcmp(e->bytes, code, nb) != 0) {
        e->addr = addr;
        e->nbytes = (uint8_t)nb;
        e->mode = (uint8_t)mode;
        memcpy(e->bytes, code, nb);
        e->len = (uint8_t)cpu_disasm(mode, code, nb, addr, e->text, sizeof(e->text));
    }
    snprintf(buf, buflen, "%s", e->text);
    return e->len;
}

/* Lines of disassembly around RIP: decode from the start of the copied
 * code at each offset until one lands exactly on RIP (x86 cannot be
 * decoded backwards), keep the last few lines before it and those after. */
static void disassemble(ui_view *v, const ui_cpu_snap *c)
{
    char text[UI_DISASM_LINES * 2][96];
    uint64_t addr[UI_DISASM_LINES * 2];
    unsigned n = 0;
    int cur = -1;
    unsigned rip_off = (unsigned)(c->rip - c->code_base);
    v->ndisasm = 0;
    v->disasm_cur = -1;
    if (c->code_len == 0) {
        snprintf(v->disasm[0], sizeof(v->disasm[0]), "%016llx  (not mapped)",
                 (unsigned long long)c->rip);
        v->disasm_addr[0] = c->rip;
        v->ndisasm = 1;
        v->disasm_cur = 0;
        return;
    }
    for (unsigned start = 0; start <= rip_off; start++) {
        n = 0;
        cur = -1;
        unsigned off = start;
        while (off < c->code_len && n < UI_DISASM_LINES * 2) {
            if (off > rip_off && cur < 0)
                break; /* this alignment steps over RIP */
            if (cur >= 0 && n >= (unsigned)(cur > 3 ? cur - 3 : 0) + UI_DISASM_LINES)
                break; /* enough lines for the panel (below) */
            char buf[64];
            unsigned len = decode(v, c->mode, c->code + off, c->code_len - off,
                                  c->code_base + off, buf, sizeof(buf));
            if (off == rip_off)
                cur = (int)n;
            addr[n] = c->code_base + off;
            snprintf(text[n], sizeof(text[n]), "%016llx  %s", (unsigned long long)addr[n],
                     len ? buf : "(bad)");
            n++;
            if (len == 0)
                break;
            off += len;
        }
        if (cur >= 0)
            break;
    }
    if (cur < 0)
        return;
    unsigned first = cur > 3 ? (unsigned)cur - 3 : 0;
    for (unsigned i = first; i < n && v->ndisasm < UI_DISASM_LINES; i++) {
        memcpy(v->disasm[v->ndisasm], text[i], sizeof(v->disasm[0]));
        v->disasm_addr[v->ndisasm] = addr[i];
        if ((int)i == cur)
            v->disasm_cur = (int)v->ndisasm;
        v->ndisasm++;
    }
}

/* The caption list keeps every caption seen, by event number: going back
 * to an earlier event leaves the later ones in the list (ahead of the
 * current event) to go forward to again. */
static void merge_captions(ui_view *v, const ui_snapshot *s)
{
    for (unsigned k = 0; k < s->ncaps; k++) {
        const ui_caption_entry *c = &s->caps[k];
        unsigned i = 0;
        while (i < v->nhist && v->hist[i].ev_no < c->ev_no)
            i++;
        if (i < v->nhist && v->hist[i].ev_no == c->ev_no) {
            if (c->text[0])
                v->hist[i] = *c;
            continue;
        }
        if (v->nhist == UI_CAPTIONS)
            continue;
        memmove(&v->hist[i + 1], &v->hist[i], (v->nhist - i) * sizeof(v->hist[0]));
        v->hist[i] = *c;
        v->nhist++;
    }
}

void ui_view_accept(ui_view *v, const ui_snapshot *s)
{
    bool first = !v->have_snap;
    for (unsigned k = 0; k < s->ncpus && k < CPU_MAX_CPUS; k++) {
        for (unsigned g = 0; g < UI_GRID_COUNT; g++) {
            const ui_vec256 *now = ui_grid_reg(&s->cpu[k], (ui_grid_id)g);
            const ui_vec256 *was = ui_grid_reg(&v->snap.cpu[k], (ui_grid_id)g);
            for (unsigned w = 0; w < 8; w++) {
                uint32_t diff = first ? now->w[w] : now->w[w] ^ was->w[w];
                while (diff) {
                    unsigned bit = (unsigned)__builtin_ctz(diff);
                    diff &= diff - 1;
                    unsigned vec = w * 32 + bit;
                    ui_cell_info *ci = &v->cell[k][g][vec];
                    ci->changed_ms = first ? 0 : v->clock_ms;
                    if (!first)
                        v->flash_until = v->clock_ms + UI_FLASH_MS;
                    ci->cycle = s->cpu[k].cycle;
                    const ui_event *e = cause_of(s, k, vec);
                    ci->event_kind = e ? e->kind : 0xFFFF;
                    ci->event_cycle = e ? e->cycle : 0;
                }
            }
        }
    }
    merge_captions(v, s);
    v->snap = *s;
    v->have_snap = true;
    if (v->sel >= s->ncpus)
        v->sel = 0;
    disassemble(v, &v->snap.cpu[v->sel]);
    if (v->sel_grid >= 0)
        ui_view_describe_cell(v, (ui_grid_id)v->sel_grid, (unsigned)v->sel_vector);
}

void ui_view_select(ui_view *v, unsigned k)
{
    if (!v->have_snap || k >= v->snap.ncpus)
        return;
    v->sel = k;
    disassemble(v, &v->snap.cpu[k]);
    if (v->sel_grid >= 0)
        ui_view_describe_cell(v, (ui_grid_id)v->sel_grid, (unsigned)v->sel_vector);
}

bool ui_view_flashing(const ui_view *v, unsigned cpu, ui_grid_id g, unsigned vector)
{
    const ui_cell_info *ci = &v->cell[cpu % CPU_MAX_CPUS][g][vector & 0xFF];
    return ci->changed_ms != 0 && v->clock_ms - ci->changed_ms < UI_FLASH_MS;
}

void ui_view_describe_cell(ui_view *v, ui_grid_id g, unsigned vector)
{
    const ui_cpu_snap *c = &v->snap.cpu[v->sel];
    const ui_cell_info *ci = &v->cell[v->sel][g][vector & 0xFF];
    bool set = ui_vec_test(ui_grid_reg(c, g), vector);
    char extra[64] = "";
    v->sel_grid = (int)g;
    v->sel_vector = (int)(vector & 0xFF);
    if (g == UI_GRID_VIRR && c->has_vmx && c->rvi == vector)
        snprintf(extra, sizeof(extra), ", = RVI");
    else if (g == UI_GRID_VISR && c->has_vmx && c->svi == vector)
        snprintf(extra, sizeof(extra), ", = SVI");
    char when[128];
    if (ci->event_kind != 0xFFFF) {
        const char *name = ui_event_name(ci->event_kind);
        snprintf(when, sizeof(when), "last changed at cycle %llu by %s (cycle %llu)",
                 (unsigned long long)ci->cycle, name,
                 (unsigned long long)ci->event_cycle);
    } else if (ci->cycle) {
        snprintf(when, sizeof(when), "last changed at cycle %llu", (unsigned long long)ci->cycle);
    } else {
        snprintf(when, sizeof(when), "unchanged since the window opened");
    }
    snprintf(v->info, sizeof(v->info), "vCPU %u %s[0x%02X] class %u = %u%s; %s", v->sel,
             ui_grid_name(g), vector & 0xFF, (vector >> 4) & 0xF, set ? 1u : 0u, extra, when);
}

bool ui_view_event_shown(const ui_view *v, const ui_event *e)
{
    if (v->ev_sel_only && e->cpu != v->sel)
        return false;
    if (v->ev_class < UI_EVC_COUNT && ui_event_classify(e->kind) != (ui_event_class)v->ev_class)
        return false;
    return v->ev_chatter || !emu_event_is_chatter(e);
}
