/*
 * ui_panels.c — every panel but the grids, one function each: the title
 * bar with vCPU tabs, CPU registers, disassembly, VMCS controls, the event
 * log, the timeline strip, the guest console, the narration caption, the
 * help overlay and the crash diagnostic.
 */
#include <stdio.h>
#include <string.h>

#include "emu/emu_evdesc.h"
#include "ui/ui_internal.h"
#include "vmx/vmx.h"

static const char *const where_names[] = {"native", "root", "non-root"};

void ui_draw_top(ui_gfx *g, const ui_view *v, const ui_layout *l)
{
    const ui_snapshot *s = &v->snap;
    int cw = l->cw;
    ui_fill(g, 0, 0, l->w, l->top.h, UI_RGB_PANEL);
    int x = cw / 2 + ui_text(g, UI_FONT_TEXT, cw / 2, l->ch / 4, UI_RGB_TITLE, "apicv-emu");
    if (v->have_snap)
        ui_textf(g, UI_FONT_TEXT, x + cw, l->ch / 4, UI_RGB_TEXT,
                 "mode %s  cycle %llu  insns %llu  %s%s   h: help", emu_mode_name((emu_mode)s->mode),
                 (unsigned long long)ui_snapshot_cycle(s), (unsigned long long)s->insns_total,
                 v->status, s->finished ? "  [finished]" : "");
    /* The caption list's button, once a caption has been shown. */
    if (v->nhist > 0) {
        const ui_rect *b = &l->cap_button;
        char label[48];
        ui_caption_button_label(v, label, sizeof(label));
        ui_fill(g, b->x, b->y, b->w, b->h, v->captions_open ? 0x2f5d8a : UI_RGB_BG);
        ui_frame(g, b->x, b->y, b->w, b->h, 1, UI_RGB_BORDER);
        ui_text(g, UI_FONT_TEXT, b->x + cw / 2, b->y + (b->h - l->ch) / 2, UI_RGB_TITLE, label);
    }
    for (unsigned k = 0; k < CPU_MAX_CPUS; k++) {
        const ui_rect *t = &l->tabs[k];
        bool exists = v->have_snap && k < s->ncpus;
        bool sel = exists && k == v->sel;
        ui_fill(g, t->x, t->y, t->w, t->h, sel ? 0x2f5d8a : UI_RGB_BG);
        /* Every CPU's VMX operation at a glance (the selected one's
         * registers panel says it in words): the tab's frame is green in
         * VMX non-root operation, amber in VMX root (a guest hypervisor's
         * or the built-in one's), plain natively and for a vCPU the host
         * took off its CPU. */
        const ui_cpu_snap *c = exists ? &s->cpu[k] : NULL;
        if (c && !c->descheduled && c->where != UI_WHERE_NATIVE)
            ui_frame(g, t->x, t->y, t->w, t->h, 2,
                     c->where == UI_WHERE_NONROOT ? UI_RGB_TAB_NONROOT : UI_RGB_TAB_ROOT);
        else
            ui_frame(g, t->x, t->y, t->w, t->h, 1, exists ? UI_RGB_BORDER : UI_RGB_PANEL);
        ui_textf(g, UI_FONT_TEXT, t->x + cw / 2, t->y + (t->h - l->ch) / 2,
                 exists ? UI_RGB_TEXT : UI_RGB_OFF, "%u cpu%u", k + 1, k);
    }
}

void ui_draw_regs(ui_gfx *g, const ui_view *v, const ui_rect *r)
{
    static const char *const names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                          "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    static const struct { uint32_t bit; const char *name; } flags[] = {
        {CPU_FL_CF, "CF"}, {CPU_FL_PF, "PF"}, {CPU_FL_AF, "AF"}, {CPU_FL_ZF, "ZF"},
        {CPU_FL_SF, "SF"}, {CPU_FL_TF, "TF"}, {CPU_FL_IF, "IF"}, {CPU_FL_DF, "DF"},
        {CPU_FL_OF, "OF"},
    };
    const ui_cpu_snap *c = &v->snap.cpu[v->sel];
    char title[96];
    /* A vCPU the host took off its CPU runs nowhere: say so rather than
     * "root active"; one asleep after an HLT exit waits in the host. */
    if (c->descheduled)
        snprintf(title, sizeof(title), "vCPU %u  descheduled (off its CPU)", v->sel);
    else if (c->blocked)
        snprintf(title, sizeof(title), "vCPU %u  blocked in the host after HLT", v->sel);
    else
        snprintf(title, sizeof(title), "vCPU %u  %s  %s", v->sel,
                 where_names[c->where < 3 ? c->where : 0], c->halted ? "HLT" : "active");
    int y = ui_panel(g, r, title);
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    int x = r->x + cw / 2;
    for (int i = 0; i < 8; i++) {
        ui_textf(g, UI_FONT_TEXT, x, y + i * ch, UI_RGB_TEXT, "%-3s %016llx", names[i],
                 (unsigned long long)c->gpr[i]);
        ui_textf(g, UI_FONT_TEXT, x + 22 * cw, y + i * ch, UI_RGB_TEXT, "%-3s %016llx",
                 names[i + 8], (unsigned long long)c->gpr[i + 8]);
    }
    y += 8 * ch;
    ui_textf(g, UI_FONT_TEXT, x, y, UI_RGB_TITLE, "rip %016llx  cycle %llu", (unsigned long long)c->rip,
             (unsigned long long)c->cycle);
    y += ch;
    int fx = x + ui_textf(g, UI_FONT_TEXT, x, y, UI_RGB_TEXT, "rfl %08llx ",
                          (unsigned long long)c->rflags);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        fx += ui_textf(g, UI_FONT_TEXT, fx, y, (c->rflags & flags[i].bit) ? UI_RGB_ON : UI_RGB_OFF,
                       "%s ", flags[i].name);
    y += ch;
    ui_textf(g, UI_FONT_TEXT, x, y, UI_RGB_TEXT, "cr0 %08llx cr3 %llx cr4 %llx cr8 %llx",
             (unsigned long long)c->cr0, (unsigned long long)c->cr3, (unsigned long long)c->cr4,
             (unsigned long long)c->cr8);
    y += ch;
    ui_textf(g, UI_FONT_TEXT, x, y, UI_RGB_TEXT, "cpl %u  intr-blocking %s%s%s%s", c->cpl,
             c->interruptibility & 1 ? "STI " : "", c->interruptibility & 2 ? "MOV-SS " : "",
             c->interruptibility & 8 ? "NMI " : "", c->interruptibility ? "" : "none");
}

void ui_draw_disasm(ui_gfx *g, const ui_view *v, const ui_rect *r)
{
    int y = ui_panel(g, r, "code (Capstone)");
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    for (unsigned i = 0; i < v->ndisasm && y + ch <= r->y + r->h; i++, y += ch) {
        bool cur = (int)i == v->disasm_cur;
        if (cur)
            ui_fill(g, r->x + 1, y, r->w - 2, ch, UI_RGB_CUR);
        char line[104];
        snprintf(line, sizeof(line), "%s%s", cur ? "> " : "  ", v->disasm[i]);
        int maxc = (r->w - cw) / cw;
        if (maxc > 0 && (int)strlen(line) > maxc)
            line[maxc] = 0;
        ui_text(g, UI_FONT_TEXT, r->x + cw / 2, y, cur ? 0xffffff : UI_RGB_TEXT, line);
    }
}

/* One labelled control bit, green when set. Returns the x after it. */
static int bit(ui_gfx *g, int x, int y, const char *name, bool on)
{
    return x + ui_textf(g, UI_FONT_TEXT, x, y, on ? UI_RGB_ON : UI_RGB_OFF, "%s ", name);
}

/* One control word: its name, its value in hex, then its bits by name,
 * lit when set (SDM 24.6.1, 24.6.2, 24.7.1, 24.8.1). */
static int ctl_word(ui_gfx *g, int x, int y, const char *name, uint32_t val)
{
    return x + ui_textf(g, UI_FONT_TEXT, x, y, UI_RGB_DIM, "%-5s %08Xh ", name, val);
}

void ui_draw_controls(ui_gfx *g, const ui_view *v, const ui_rect *r)
{
    const ui_cpu_snap *c = &v->snap.cpu[v->sel];
    int y = ui_panel(g, r, "VMCS controls (lit: set) and the posted-interrupt descriptor");
    int ch = g->ch[UI_FONT_TEXT], cw = g->cw[UI_FONT_TEXT];
    int x0 = r->x + cw / 2, x;
    if (c->guest_hv && !c->has_vmx) {
        ui_text(g, UI_FONT_TEXT, x0, y, UI_RGB_TEXT, "guest hypervisor: VMX root, no current VMCS");
        return;
    }
    if (!c->has_vmx) {
        ui_text(g, UI_FONT_TEXT, x0, y, UI_RGB_DIM, "no VMCS: native mode");
        return;
    }
    if (c->guest_hv) {
        /* The guest's own hypervisor (vmx_root.h): which VMCS is current. */
        ui_textf(g, UI_FONT_TEXT, x0, y, UI_RGB_TEXT, "guest hypervisor, %s, VMCS %#llx %s",
                 c->where == UI_WHERE_NONROOT ? "non-root" : "root",
                 (unsigned long long)c->vmcs_ptr, c->vmcs_launched ? "launched" : "clear");
        y += ch;
    }
    x = ctl_word(g, x0, y, "pin", c->pin);
    x = bit(g, x, y, "ext-intr-exiting", c->pin & VMX_PIN_EXT_INTR_EXITING);
    x = bit(g, x, y, "nmi-exiting", c->pin & VMX_PIN_NMI_EXITING);
    x = bit(g, x, y, "virtual-nmis", c->pin & VMX_PIN_VIRTUAL_NMIS);
    bit(g, x, y, "posted-interrupts", c->pin & VMX_PIN_POSTED_INTR);
    y += ch;
    x = ctl_word(g, x0, y, "proc", c->proc);
    x = bit(g, x, y, "intr-window", c->proc & VMX_PROC_INTR_WINDOW);
    x = bit(g, x, y, "hlt", c->proc & VMX_PROC_HLT);
    x = bit(g, x, y, "tpr-shadow", c->proc & VMX_PROC_TPR_SHADOW);
    x = bit(g, x, y, "cr8-load", c->proc & VMX_PROC_CR8_LOAD);
    x = bit(g, x, y, "cr8-store", c->proc & VMX_PROC_CR8_STORE);
    bit(g, x, y, "msr-bitmap", c->proc & VMX_PROC_MSR_BITMAPS);
    y += ch;
    x = ctl_word(g, x0, y, "sec", c->proc2);
    x = bit(g, x, y, "apic-accesses", c->proc2 & VMX_PROC2_VIRT_APIC_ACCESS);
    x = bit(g, x, y, "x2apic-mode", c->proc2 & VMX_PROC2_VIRT_X2APIC);
    x = bit(g, x, y, "ept", c->proc2 & VMX_PROC2_EPT);
    x = bit(g, x, y, "apic-reg-virt", c->proc2 & VMX_PROC2_APIC_REG_VIRT);
    bit(g, x, y, "virt-intr-delivery", c->proc2 & VMX_PROC2_VIRT_INTR_DELIVERY);
    y += ch;
    x = ctl_word(g, x0, y, "exit", c->exit_ctls);
    x = bit(g, x, y, "ack-intr-on-exit", c->exit_ctls & VMX_EXIT_ACK_INTR);
    x = bit(g, x, y, "host-64", c->exit_ctls & VMX_EXIT_HOST_ADDR_SPACE);
    x = ctl_word(g, x + cw, y, "entry", c->entry_ctls);
    bit(g, x, y, "ia32e-guest", c->entry_ctls & VMX_ENTRY_IA32E);
    y += ch;
    /* The TPR threshold matters with the TPR shadow and without
     * virtual-interrupt delivery (SDM 29.1.2: an exit when VTPR[7:4] drops
     * below it). */
    if ((c->proc & VMX_PROC_TPR_SHADOW) && !(c->proc2 & VMX_PROC2_VIRT_INTR_DELIVERY))
        ui_textf(g, UI_FONT_TEXT, x0, y, UI_RGB_TEXT,
                 "TPR threshold %X: exit when VTPR class drops below %X",
                 (unsigned)c->tpr_threshold & 0xF, (unsigned)c->tpr_threshold & 0xF);
    else
        ui_textf(g, UI_FONT_TEXT, x0, y, UI_RGB_DIM, "TPR threshold %X (%s)",
                 (unsigned)c->tpr_threshold & 0xF,
                 (c->proc & VMX_PROC_TPR_SHADOW) ? "unused with virtual-interrupt delivery"
                                                 : "unused without the TPR shadow");
    y += ch;
    if (c->pin & VMX_PIN_POSTED_INTR) {
        unsigned cpu;
        uint32_t apic;
        char dest[48];
        if (ui_ndst_cpu(&v->snap, c, &cpu, &apic))
            snprintf(dest, sizeof(dest), "APIC ID %u = cpu%u", (unsigned)apic, cpu);
        else
            snprintf(dest, sizeof(dest), "APIC ID %u: no such CPU", (unsigned)apic);
        ui_textf(g, UI_FONT_TEXT, x0, y, UI_RGB_TEXT,
                 "notification vector %02Xh (VMCS); descriptor NV %02Xh%s", c->notify_vector,
                 c->pi_nv, ui_pi_nv_note(c));
        y += ch;
        ui_textf(g, UI_FONT_TEXT, x0, y, UI_RGB_TEXT, "PID ON %u (%s)  SN %u (%s)  NDST %Xh = %s",
                 c->on, c->on ? "notification outstanding" : "none outstanding", c->sn,
                 c->sn ? "notifications suppressed" : "notify", (unsigned)c->ndst, dest);
    } else {
        ui_text(g, UI_FONT_TEXT, x0, y, UI_RGB_DIM,
                "no posted-interrupt descriptor (posted-interrupt processing is off)");
    }
    y += ch;
    ui_textf(g, UI_FONT_TEXT, x0, y, UI_RGB_TEXT, "entries %llu  exits %llu",
             (unsigned long long)c->entries, (unsigned long long)c->exits);
    y += ch;
    if (c->exits)
        ui_textf(g, UI_FONT_TEXT, x0, y, UI_RGB_TEXT, "last exit: reason %u %s",
                 c->last_exit & 0xFFFF, vmx_exit_reason_name(c->last_exit));
}

/* The rows of the events panel r: the newest events that pass the filter
 * and fit, newest first in shown[] (the panel draws them oldest first,
 * below its title line). Returns how many. */
static unsigned events_shown(const ui_view *v, const ui_rect *r, int ch, unsigned *shown)
{
    const ui_snapshot *s = &v->snap;
    int rows = ch > 0 ? (r->y + r->h - (r->y + 2 + ch)) / ch : 0;
    unsigned n = 0;
    for (unsigned i = s->nev; rows > 0 && i-- > 0 && n < (unsigned)rows;)
        if (ui_view_event_shown(v, &s->ev[i]))
            shown[n++] = i;
    return n;
}

bool ui_layout_hit_event(const ui_layout *l, const ui_view *v, int x, int y, uint64_t *ev_no)
{
    const ui_rect *r = &l->events;
    if (!v->have_snap || v->captions_open || !ui_rect_has(r, x, y) || l->ch <= 0)
        return false;
    unsigned shown[UI_SNAP_EVENTS];
    unsigned n = events_shown(v, r, l->ch, shown);
    int row0 = r->y + 2 + l->ch;
    if (y < row0 || (unsigned)((y - row0) / l->ch) >= n)
        return false;
    unsigned i = shown[n - 1 - (unsigned)((y - row0) / l->ch)];
    /* ev[nev - 1] is event number ev_total. */
    *ev_no = v->snap.ev_total - (v->snap.nev - 1 - i);
    return true;
}

void ui_draw_events(ui_gfx *g, const ui_view *v, const ui_rect *r)
{
    const ui_snapshot *s = &v->snap;
    static const char *const cls[UI_EVC_COUNT + 1] = {"other", "exits", "entries", "deliveries",
                                                      "EOIs", "posting", "APIC", "all"};
    char title[128];
    snprintf(title, sizeof(title), "events (%llu)  [v] %s  [k] %s  [c] %s",
             (unsigned long long)s->ev_total, v->ev_sel_only ? "this vCPU" : "all vCPUs",
             cls[v->ev_class < UI_EVC_COUNT ? v->ev_class : UI_EVC_COUNT],
             v->ev_chatter ? "console shown" : "console hidden");
    int y = ui_panel(g, r, title);
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    unsigned shown[UI_SNAP_EVENTS];
    unsigned n = events_shown(v, r, ch, shown);
    int maxc = (r->w - cw) / cw;
    for (unsigned j = n; j-- > 0; y += ch) {
        const ui_event *e = &s->ev[shown[j]];
        const emu_evdesc *d = emu_event_desc(e->kind);
        char words[192], line[256];
        ui_event_words(s, e, words, sizeof(words));
        snprintf(line, sizeof(line), "%10llu cpu%u %-20s %s", (unsigned long long)e->cycle, e->cpu,
                 d ? d->name : ui_event_name(e->kind), words);
        if (maxc > 0 && (int)strlen(line) > maxc)
            line[maxc] = 0;
        ui_text(g, UI_FONT_TEXT, r->x + cw / 2, y, ui_class_rgb(ui_event_classify(e->kind)), line);
    }
}

void ui_draw_console(ui_gfx *g, const ui_view *v, const ui_rect *r)
{
    int y = ui_panel(g, r, "guest console (port 0xE9)");
    int cw = g->cw[UI_FONT_TEXT], ch = g->ch[UI_FONT_TEXT];
    int rows = (r->y + r->h - y) / ch, cols = (r->w - cw) / cw;
    if (rows <= 0 || cols <= 0)
        return;
    /* Wrap into lines, then show the last rows. */
    enum { MAXL = 128 };
    static const int maxcols = 160;
    char lines[MAXL][161];
    int n = 0, col = 0;
    if (cols > maxcols)
        cols = maxcols;
    memset(lines[0], 0, sizeof(lines[0]));
    for (const char *p = v->snap.console; *p; p++) {
        if (*p == '\n' || col >= cols) {
            n = (n + 1) % MAXL;
            memset(lines[n], 0, sizeof(lines[n]));
            col = 0;
            if (*p == '\n')
                continue;
        }
        if (*p == '\r')
            continue;
        lines[n][col++] = *p;
    }
    int total = n + 1;
    int first = total > rows ? total - rows : 0;
    for (int i = first; i < total; i++, y += ch)
        ui_text(g, UI_FONT_TEXT, r->x + cw / 2, y, UI_RGB_TEXT, lines[i % MAXL]);
}

/* Splits text into lines of at most `cols` characters at spaces (a word
 * longer than a line is split); returns the number of lines, and fills
 * starts/lens when given room for them. With cols = 0 nothing fits: it
 * returns UINT32_MAX and fills nothing. */
unsigned ui_wrap(const char *text, unsigned cols, unsigned max, unsigned *starts, unsigned *lens)
{
    unsigned n = 0, i = 0, len = (unsigned)strlen(text);
    if (cols == 0)
        return UINT32_MAX;
    while (i < len) {
        while (i < len && text[i] == ' ')
            i++;
        if (i >= len)
            break;
        unsigned end = i + cols < len ? i + cols : len;
        if (end < len) {
            unsigned sp = end;
            while (sp > i && text[sp] != ' ')
                sp--;
            if (sp > i)
                end = sp;
        }
        if (n < max) {
            starts[n] = i;
            lens[n] = end - i;
        }
        n++;
        i = end;
    }
    return n;
}

void ui_caption_button_label(const ui_view *v, char *buf, size_t len)
{
    snprintf(buf, len, "[l] captions (%u)", v->nhist);
}

void ui_draw_caption(ui_gfx *g, const ui_view *v, const ui_layout *l)
{
    const ui_rect *r = &l->caption;
    if (!v->snap.caption[0] && !v->info[0])
        return;
    ui_fill(g, r->x, r->y, r->w, r->h, UI_RGB_PANEL);
    int text_w = r->w;
    if (v->snap.caption[0]) {
        /* Never cut: the large type when the caption fits on the lines the
         * panel holds, else the text type, wrapped at spaces. */
        enum { MAXL = 64 };
        unsigned starts[MAXL], lens[MAXL];
        static const int fonts[2] = {UI_FONT_BIG, UI_FONT_TEXT};
        for (unsigned f = 0; f < 2; f++) {
            int font = fonts[f], cw = g->cw[font], ch = g->ch[font];
            unsigned cols = cw > 0 && text_w > cw ? (unsigned)((text_w - cw) / cw) : 0;
            unsigned rows = ch > 0 ? (unsigned)(r->h / ch) : 0;
            if (rows == 0)
                rows = 1;
            unsigned n = ui_wrap(v->snap.caption, cols, MAXL, starts, lens);
            if (n > rows && f == 0)
                continue;
            if (cols == 0)
                break; /* not one character fits: wrap filled no line */
            for (unsigned i = 0; i < n && i < MAXL; i++) {
                char line[sizeof(v->snap.caption)];
                snprintf(line, sizeof(line), "%.*s", (int)lens[i], v->snap.caption + starts[i]);
                ui_text(g, font, r->x + cw / 2, r->y + (int)i * ch, 0xffffff, line);
            }
            break;
        }
    } else if (v->info[0]) {
        ui_text(g, UI_FONT_TEXT, r->x + g->cw[UI_FONT_TEXT] / 2, r->y + g->ch[UI_FONT_TEXT] / 2,
                0xffffff, v->info);
    }
}

const char *const ui_help_lines[] = {
    "space   run / pause",
    "s       step one instruction of the selected vCPU",
    "n / m   to the next event (any vCPU / the selected one)",
    "v k c   events: this vCPU / all, by kind, captions and console",
    "p       presentation mode (larger grids and captions)",
    "l       captions shown so far; click one to go to its event",
    "e       run to the next VM exit",
    "+ / -   faster / slower (slow motion ... full speed)",
    "1-8     select vCPU (tab frame: green VMX non-root, amber root)",
    "r       restart the guest",
    "b       step back (replay only)",
    "click   a grid cell: what it is and what last changed it",
    "        a timeline mark: go to its event (hover: what it is)",
    "wheel   zoom the timeline at the mouse; drag it to pan",
    "arrows  timeline: Left/Right pan, Up/Down zoom in/out",
    "Home    timeline: the whole run    End  follow the current event",
    "w       the scenario's warnings shown / hidden",
    "h       this help          q / Esc  quit",
    NULL,
};

void ui_draw_help(ui_gfx *g, const ui_layout *l)
{
    int n = 0;
    while (ui_help_lines[n])
        n++;
    int bw = 64 * l->cw, bh = (n + 3) * l->ch;
    int x = (l->w - bw) / 2, y = (l->h - bh) / 2;
    ui_fill(g, x, y, bw, bh, 0x0b0e12);
    ui_frame(g, x, y, bw, bh, 2, UI_RGB_TITLE);
    ui_text(g, UI_FONT_TEXT, x + l->cw, y + l->ch / 2, UI_RGB_TITLE, "keys");
    for (int i = 0; i < n; i++)
        ui_text(g, UI_FONT_TEXT, x + l->cw, y + (i + 2) * l->ch, UI_RGB_TEXT, ui_help_lines[i]);
}

/* The scenario's warnings (emu_scenario_warn.c): a banner over the top of
 * the events and console panels, each as stderr says it (file:line), so a
 * scenario run in another mode than it declares, or with a line that can
 * have no effect, says so where the lecture happens. */
void ui_draw_warnings(ui_gfx *g, const ui_view *v, const ui_layout *l)
{
    const ui_snapshot *s = &v->snap;
    const ui_rect *r = &l->warn;
    unsigned shown = s->nwarn < UI_WARN_LINES ? s->nwarn : UI_WARN_LINES;
    /* Each warning wrapped at spaces to the banner's width, its second line
     * indented (two at most: the rest is on stderr). */
    int maxc = (r->w - 2 * l->cw) / (l->cw > 0 ? l->cw : 1);
    unsigned starts[UI_WARN_LINES][2], lens[UI_WARN_LINES][2], nl[UI_WARN_LINES];
    int lines = 1 + (s->nwarn > shown ? 1 : 0);
    for (unsigned i = 0; i < shown; i++) {
        unsigned n = maxc > 2 ? ui_wrap(s->warn[i], (unsigned)maxc, 2, starts[i], lens[i]) : 0;
        if (n > 1) /* the second line, indented, holds what is left of it */
            n = ui_wrap(s->warn[i], (unsigned)maxc - 2, 2, starts[i], lens[i]);
        nl[i] = n < 2 ? n : 2;
        if (n > 2) /* the rest no longer fits: the second line runs to the end, cut */
            lens[i][1] = (unsigned)strlen(s->warn[i]) - starts[i][1];
        lines += (int)nl[i];
    }
    int bh = lines * l->ch + 6;
    if (bh > l->warn.h)
        bh = l->warn.h;
    ui_fill(g, r->x, r->y, r->w, bh, UI_RGB_WARN_BG);
    ui_frame(g, r->x, r->y, r->w, bh, 2, UI_RGB_WARN);
    ui_textf(g, UI_FONT_TEXT, r->x + l->cw, r->y + 2, UI_RGB_WARN,
             "scenario warning%s (%u): what it says may not happen in this run; w hides",
             s->nwarn == 1 ? "" : "s", s->nwarn);
    int y = r->y + 2 + l->ch;
    for (unsigned i = 0; i < shown; i++) {
        for (unsigned j = 0; j < nl[i]; j++, y += l->ch) {
            char line[400];
            int indent = j ? 2 : 0, room = maxc - indent;
            int len = (int)lens[i][j] < room ? (int)lens[i][j] : room;
            snprintf(line, sizeof(line), "%.*s", len > 0 ? len : 0, s->warn[i] + starts[i][j]);
            ui_text(g, UI_FONT_TEXT, r->x + l->cw * (1 + indent), y, UI_RGB_TEXT, line);
        }
    }
    if (s->nwarn > shown)
        ui_textf(g, UI_FONT_TEXT, r->x + l->cw, y, UI_RGB_DIM,
                 "... and %u more (all of them on stderr)", s->nwarn - shown);
}

void ui_draw_crash(ui_gfx *g, const ui_view *v, const ui_layout *l)
{
    int bw = l->w * 3 / 4, bh = 4 * l->ch;
    int x = (l->w - bw) / 2, y = l->regs.y;
    ui_fill(g, x, y, bw, bh, UI_RGB_CRASH);
    ui_frame(g, x, y, bw, bh, 2, 0xffffff);
    ui_text(g, UI_FONT_TEXT, x + l->cw, y + l->ch / 2, 0xffffff,
            "the guest crashed (exit status 3); r restarts, q quits:");
    char diag[UI_DIAG_BYTES];
    snprintf(diag, sizeof(diag), "%s", v->snap.diag);
    int maxc = (bw - 2 * l->cw) / l->cw;
    if (maxc > 0 && (int)strlen(diag) > maxc)
        diag[maxc] = 0;
    ui_text(g, UI_FONT_TEXT, x + l->cw, y + 2 * l->ch, 0xffffff, diag);
}
