/*
 * emu_scenario.c — scenario files: the parser (the runtime is in
 * emu_scenario_run.c).
 *
 * The parser reads one statement a line (docs/scenarios.md) and refuses a
 * bad file with "file:line: expected ..., got ...". The runtime binds a
 * parsed scenario to a machine: `at` items become scheduled calls on the
 * machine's event queue (so they land at an instruction boundary on the
 * cycle clock, deterministically), `on` items are driven by an observer on
 * the event bus, and expectations are evaluated at their point or at the
 * end. Stimuli go through the machine's MSI device and local APICs, never
 * around them.
 *
 * Record/replay (docs/scenarios.md, traces/README.md): `at` stimuli are
 * inputs to the machine and are recorded when posted; a replay posts the
 * recorded inputs in their place. `on` stimuli, captions and expectations
 * follow from the scenario text and the run, so a replay re-derives them.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_scenario.h"

const char *emu_scenario_event_name(unsigned kind)
{
    static const char *const names[] = {"scn.stimulus", "scn.caption", "scn.expect"};
    if (kind >= EMU_SCN_EV_STIMULUS && kind < EMU_SCN_EV_END)
        return names[kind - EMU_SCN_EV_STIMULUS];
    return NULL;
}

const char *emu_stim_name(unsigned kind)
{
    switch (kind) {
    case EMU_STIM_MSI:
        return "msi";
    case EMU_STIM_HOST_IRQ:
        return "host-irq";
    case EMU_STIM_DESCHEDULE:
        return "deschedule";
    case EMU_STIM_NMI:
        return "nmi";
    default:
        return NULL;
    }
}

/* ---- the parser ------------------------------------------------------------ */

#define MAX_TOK 24

typedef struct parser {
    const char *name;
    int line;
    char *tok[MAX_TOK];
    int ntok;
    int at; /* next token */
    char *err;
    size_t errlen;
    bool failed;
} parser;

static bool perr(parser *p, const char *fmt, ...)
{
    if (p->failed)
        return false;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d: %s", p->name, p->line, msg);
    return false;
}

static const char *peek(const parser *p)
{
    return p->at < p->ntok ? p->tok[p->at] : NULL;
}

static const char *got(const parser *p)
{
    return p->at < p->ntok ? p->tok[p->at] : "the end of the line";
}

/* Splits a line into tokens in place: whitespace separates, "..." is one
 * token (with \" and \\), # starts a comment. Quoted tokens keep their
 * opening quote so the caller can tell them apart. */
static bool tokenize(parser *p, char *s)
{
    p->ntok = 0;
    p->at = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s || *s == '#')
            break;
        if (p->ntok == MAX_TOK)
            return perr(p, "expected at most %d words on a line", MAX_TOK);
        p->tok[p->ntok++] = s;
        if (*s == '"') {
            char *w = s + 1;
            char *r = s + 1;
            while (*r && *r != '"') {
                if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
                    r++;
                *w++ = *r++;
            }
            if (*r != '"')
                return perr(p, "expected a closing '\"' for the text begun here");
            *w = 0;
            s = r + 1;
            if (*s && *s != ' ' && *s != '\t' && *s != '\r')
                return perr(p, "expected a space after the closing '\"'");
        } else {
            while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '#')
                s++;
        }
        if (*s == '#')
            *s = 0;
        else if (*s)
            *s++ = 0;
    }
    return true;
}

static bool to_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '"')
        return false;
    errno = 0;
    /* Decimal, or hexadecimal with 0x: a leading 0 is not octal here. */
    int base = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool num(parser *p, const char *what, uint64_t lo, uint64_t hi, uint64_t *out)
{
    const char *t = peek(p);
    uint64_t v;
    if (!to_u64(t, &v) || v < lo || v > hi)
        return perr(p, "expected %s (a number in %llu..%llu), got '%s'", what,
                    (unsigned long long)lo, (unsigned long long)hi, got(p));
    p->at++;
    *out = v;
    return true;
}

/* key=NUMBER; true with *present = false when the next token is another key. */
static bool keyed(parser *p, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
                  bool *present)
{
    const char *t = peek(p);
    size_t n = strlen(key);
    *present = false;
    if (!t || strncmp(t, key, n) != 0 || t[n] != '=')
        return true;
    uint64_t v;
    if (!to_u64(t + n + 1, &v) || v < lo || v > hi)
        return perr(p, "expected %s=NUMBER in %llu..%llu, got '%s'", key, (unsigned long long)lo,
                    (unsigned long long)hi, t);
    p->at++;
    *out = v;
    *present = true;
    return true;
}

static bool need_keyed(parser *p, const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
    bool present;
    if (!keyed(p, key, lo, hi, out, &present))
        return false;
    if (!present)
        return perr(p, "expected %s=NUMBER, got '%s'", key, got(p));
    return true;
}

static bool event_kind(parser *p, uint16_t *out)
{
    const char *t = peek(p);
    uint64_t v;
    if (t && to_u64(t, &v) && v < 0x400) {
        *out = (uint16_t)v;
        p->at++;
        return true;
    }
    for (unsigned k = 0; t && k < 0x400; k++) {
        const char *n = emu_any_event_name(k);
        if (!n)
            n = emu_scenario_event_name(k);
        if (n && strcmp(n, t) == 0) {
            *out = (uint16_t)k;
            p->at++;
            return true;
        }
    }
    return perr(p, "expected an event name such as cpu.interrupt, apic.eoi or emu.msi-deliver "
                   "(see apicv-emu run --log), got '%s'", got(p));
}

static bool end_of_line(parser *p)
{
    if (p->at < p->ntok)
        return perr(p, "expected the end of the line, got '%s'", p->tok[p->at]);
    return true;
}

/* `on EVENT [cpu=N] [a=V] [count=N] [delay=N]` or `at CYCLE`. */
static bool trigger(parser *p, emu_trigger *w, bool allow_delay)
{
    const char *t = peek(p);
    memset(w, 0, sizeof(*w));
    w->cpu = -1;
    w->count = 1;
    if (t && strcmp(t, "at") == 0) {
        p->at++;
        return num(p, "a cycle", 0, UINT64_MAX / 2, &w->cycle);
    }
    if (!t || strcmp(t, "on") != 0)
        return perr(p, "expected 'at CYCLE' or 'on EVENT', got '%s'", got(p));
    p->at++;
    w->on_event = true;
    if (!event_kind(p, &w->kind))
        return false;
    bool present;
    uint64_t v;
    if (!keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v, &present))
        return false;
    if (present)
        w->cpu = (int)v;
    if (!keyed(p, "a", 0, UINT64_MAX, &w->a, &w->has_a) ||
        !keyed(p, "count", 1, UINT64_MAX, &v, &present))
        return false;
    if (present)
        w->count = v;
    if (allow_delay && !keyed(p, "delay", 0, UINT64_MAX / 2, &w->delay, &present))
        return false;
    return true;
}

static bool parse_stimulus(parser *p, emu_stimulus *st)
{
    uint64_t v;
    const char *t = peek(p);
    st->line = p->line;
    if (t && strcmp(t, "msi") == 0)
        st->kind = EMU_STIM_MSI;
    else if (t && strcmp(t, "host-irq") == 0)
        st->kind = EMU_STIM_HOST_IRQ;
    else if (t && strcmp(t, "deschedule") == 0)
        st->kind = EMU_STIM_DESCHEDULE;
    else if (t && strcmp(t, "nmi") == 0)
        st->kind = EMU_STIM_NMI;
    else
        return perr(p, "expected a stimulus (msi, host-irq, deschedule or nmi), got '%s'", got(p));
    p->at++;
    if (st->kind == EMU_STIM_NMI) {
        if (!need_keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v))
            return false;
        st->cpu = (unsigned)v;
        st->vector = 2;
    } else if (st->kind == EMU_STIM_DESCHEDULE) {
        if (!need_keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v))
            return false;
        st->cpu = (unsigned)v;
        if (!need_keyed(p, "for", 1, UINT64_MAX / 2, &st->cycles))
            return false;
    } else {
        if (!need_keyed(p, "vector", 16, 255, &v))
            return false;
        st->vector = (uint8_t)v;
        if (!need_keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v))
            return false;
        st->cpu = (unsigned)v;
    }
    return end_of_line(p);
}

static bool parse_cmp(parser *p, emu_cmp *out)
{
    static const char *const ops[] = {"==", "!=", ">=", "<=", ">", "<"};
    const char *t = peek(p);
    for (unsigned k = 0; t && k < 6; k++) {
        if (strcmp(t, ops[k]) == 0) {
            *out = (emu_cmp)k;
            p->at++;
            return true;
        }
    }
    return perr(p, "expected a comparison (==, !=, >=, <=, >, <), got '%s'", got(p));
}

static bool parse_expect(parser *p, emu_expect *e)
{
    uint64_t v;
    bool present;
    const char *t = peek(p);
    memset(e, 0, sizeof(*e));
    e->line = p->line;
    e->cpu = -1;
    if (t && strcmp(t, "end") == 0) {
        e->at_end = true;
        p->at++;
    } else if (t && strcmp(t, "at") == 0) {
        p->at++;
        if (!num(p, "a cycle", 0, UINT64_MAX / 2, &e->cycle))
            return false;
    } else {
        return perr(p, "expected 'end' or 'at CYCLE' after expect, got '%s'", got(p));
    }
    t = peek(p);
    if (t && strcmp(t, "status") == 0) {
        e->what = EMU_EXPECT_STATUS;
        p->at++;
        if (!e->at_end)
            return perr(p, "expected 'expect end status ...': the exit status exists only at the end");
    } else if (t && strcmp(t, "cycles") == 0) {
        e->what = EMU_EXPECT_CYCLES;
        p->at++;
    } else if (t && strcmp(t, "events") == 0) {
        e->what = EMU_EXPECT_EVENTS;
        p->at++;
        if (!event_kind(p, &e->kind) || !keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v, &present))
            return false;
        if (present)
            e->cpu = (int)v;
        if (!keyed(p, "a", 0, UINT64_MAX, &e->a, &e->has_a))
            return false;
    } else if (t && strcmp(t, "delivered") == 0) {
        e->what = EMU_EXPECT_DELIVERED;
        p->at++;
        if (!need_keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v))
            return false;
        e->cpu = (int)v;
        if (!need_keyed(p, "vector", 0, 255, &e->a))
            return false;
        e->has_a = true;
    } else if (t && strcmp(t, "exits") == 0) {
        e->what = EMU_EXPECT_EXITS;
        p->at++;
        if (!need_keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v))
            return false;
        e->cpu = (int)v;
        if (!keyed(p, "reason", 0, 0xFFFF, &e->a, &e->has_a))
            return false;
    } else if (t && (strcmp(t, "apic") == 0 || strcmp(t, "vapic") == 0)) {
        bool virt = t[0] == 'v';
        e->what = virt ? EMU_EXPECT_VAPIC : EMU_EXPECT_APIC;
        p->at++;
        if (!need_keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v))
            return false;
        e->cpu = (int)v;
        if (!need_keyed(p, "offset", 0, virt ? 0xFFC : 0x3F0, &e->a))
            return false;
        if (e->a % (virt ? 4 : 16))
            return perr(p, "expected an offset aligned to %d bytes, got %#llx", virt ? 4 : 16,
                        (unsigned long long)e->a);
        e->has_a = true;
    } else {
        return perr(p, "expected what to check (status, cycles, events, delivered, exits, apic "
                       "or vapic), got '%s'", got(p));
    }
    if (!parse_cmp(p, &e->cmp) || !num(p, "the expected value", 0, UINT64_MAX, &e->value))
        return false;
    return end_of_line(p);
}

static bool parse_line(parser *p, emu_scenario *s, bool *seen_version)
{
    const char *t = p->tok[0];
    uint64_t v = 0;
    p->at = 1;
    if (!*seen_version) {
        if (strcmp(t, EMU_SCENARIO_MAGIC) != 0)
            return perr(p, "expected the first line '%s %d', got '%s'", EMU_SCENARIO_MAGIC,
                        EMU_SCENARIO_VERSION, t);
        if (!num(p, "the scenario version", 1, 1000, &v))
            return false;
        if (v != EMU_SCENARIO_VERSION)
            return perr(p, "expected scenario version %d, got %llu (a newer apicv-emu?)",
                        EMU_SCENARIO_VERSION, (unsigned long long)v);
        *seen_version = true;
        return end_of_line(p);
    }
    if (strcmp(t, "guest") == 0) {
        const char *g = peek(p);
        if (!g || *g == '"' )
            return perr(p, "expected a guest image path, got '%s'", got(p));
        snprintf(s->guest, sizeof(s->guest), "%s", g);
        p->at++;
        return end_of_line(p);
    }
    if (strcmp(t, "cpus") == 0) {
        if (!num(p, "the CPU count", 1, CPU_MAX_CPUS, &v))
            return false;
        s->ncpus = (unsigned)v;
        s->has_cpus = true;
        return end_of_line(p);
    }
    if (strcmp(t, "mode") == 0) {
        if (!peek(p) || !emu_mode_parse(peek(p), &s->mode))
            return perr(p, "expected a mode (native, emulated, tpr-shadow, apicv, posted), got '%s'",
                        got(p));
        p->at++;
        s->has_mode = true;
        s->mode_line = p->line;
        return end_of_line(p);
    }
    if (strcmp(t, "mem") == 0) {
        if (!num(p, "the RAM size in MiB", 2, 4096, &v))
            return false;
        s->mem_bytes = v << 20;
        s->has_mem = true;
        return end_of_line(p);
    }
    if (strcmp(t, "quantum") == 0) {
        if (!num(p, "the quantum in cycles", 100, 100000000, &s->quantum))
            return false;
        s->has_quantum = true;
        return end_of_line(p);
    }
    if (strcmp(t, "max-cycles") == 0) {
        if (!num(p, "the cycle limit", 1, UINT64_MAX, &s->max_cycles))
            return false;
        s->has_max_cycles = true;
        return end_of_line(p);
    }
    if (strcmp(t, "vmcs") == 0) {
        if (s->nvmcs == EMU_SCN_MAX_ITEMS)
            return perr(p, "expected at most %d vmcs lines", EMU_SCN_MAX_ITEMS);
        emu_vmcs_override *o = &s->vmcs[s->nvmcs];
        bool present;
        o->line = p->line;
        o->cpu = -1;
        if (!num(p, "a VMCS field encoding", 0, 0xFFFFFFFF, &v))
            return false;
        o->field = (uint32_t)v;
        if (!num(p, "the field's value", 0, UINT64_MAX, &o->value) ||
            !keyed(p, "cpu", 0, CPU_MAX_CPUS - 1, &v, &present))
            return false;
        if (present)
            o->cpu = (int)v;
        s->nvmcs++;
        return end_of_line(p);
    }
    if (strcmp(t, "at") == 0 || strcmp(t, "on") == 0) {
        if (s->nstim == EMU_SCN_MAX_ITEMS)
            return perr(p, "expected at most %d stimuli", EMU_SCN_MAX_ITEMS);
        emu_stimulus *st = &s->stim[s->nstim];
        p->at = 0;
        if (!trigger(p, &st->when, true) || !parse_stimulus(p, st))
            return false;
        s->nstim++;
        return true;
    }
    if (strcmp(t, "caption") == 0) {
        if (s->ncap == EMU_SCN_MAX_ITEMS)
            return perr(p, "expected at most %d captions", EMU_SCN_MAX_ITEMS);
        emu_caption *c = &s->cap[s->ncap];
        c->line = p->line;
        if (!trigger(p, &c->when, true))
            return false;
        const char *q = peek(p);
        if (!q || *q != '"')
            return perr(p, "expected the caption text in double quotes, got '%s'", got(p));
        snprintf(c->text, sizeof(c->text), "%s", q + 1);
        p->at++;
        s->ncap++;
        return end_of_line(p);
    }
    if (strcmp(t, "expect") == 0) {
        if (s->nexp == EMU_SCN_MAX_ITEMS)
            return perr(p, "expected at most %d expectations", EMU_SCN_MAX_ITEMS);
        if (!parse_expect(p, &s->exp[s->nexp]))
            return false;
        s->nexp++;
        return true;
    }
    p->at = 0;
    return perr(p, "expected a statement (guest, cpus, mode, mem, quantum, max-cycles, vmcs, at, "
                   "on, caption, expect), got '%s'", t);
}

/* Checks that refer to the whole file: a guest, and CPU numbers that exist. */
static bool check_whole(parser *p, emu_scenario *s)
{
    unsigned n = s->has_cpus ? s->ncpus : 1;
    if (!s->guest[0]) {
        p->line = 1;
        return perr(p, "expected a 'guest PATH' line, got none in the file");
    }
#define CPU_CHECK(cond, ln, what, c)                                                          \
    if (cond) {                                                                               \
        p->line = (ln);                                                                       \
        return perr(p, "expected %s below the CPU count %u, got cpu=%d", what, n, (int)(c));   \
    }
    for (unsigned k = 0; k < s->nstim; k++) {
        CPU_CHECK(s->stim[k].cpu >= n, s->stim[k].line, "a target CPU", s->stim[k].cpu);
        CPU_CHECK(s->stim[k].when.cpu >= (int)n, s->stim[k].line, "a trigger CPU", s->stim[k].when.cpu);
    }
    for (unsigned k = 0; k < s->ncap; k++)
        CPU_CHECK(s->cap[k].when.cpu >= (int)n, s->cap[k].line, "a trigger CPU", s->cap[k].when.cpu);
    for (unsigned k = 0; k < s->nexp; k++)
        CPU_CHECK(s->exp[k].cpu >= (int)n, s->exp[k].line, "a CPU", s->exp[k].cpu);
    for (unsigned k = 0; k < s->nvmcs; k++)
        CPU_CHECK(s->vmcs[k].cpu >= (int)n, s->vmcs[k].line, "a vCPU", s->vmcs[k].cpu);
#undef CPU_CHECK
    return true;
}

void emu_scenario_init_empty(emu_scenario *s)
{
    memset(s, 0, sizeof(*s));
    s->rt.caption = -1;
}

bool emu_scenario_parse(const char *name, const char *text, emu_scenario *s, char *err,
                        size_t errlen)
{
    emu_scenario_init_empty(s);
    snprintf(s->path, sizeof(s->path), "%s", name);
    char tmp[sizeof(s->path)];
    snprintf(tmp, sizeof(tmp), "%s", name);
    snprintf(s->dir, sizeof(s->dir), "%s", dirname(tmp));
    s->text = strdup(text);
    if (!s->text) {
        snprintf(err, errlen, "%s: out of memory", name);
        return false;
    }
    parser p = {.name = name, .err = err, .errlen = errlen};
    bool seen_version = false;
    const char *cur = text;
    char line[2048];
    while (*cur) {
        const char *nl = strchr(cur, '\n');
        size_t n = nl ? (size_t)(nl - cur) : strlen(cur);
        p.line++;
        if (n >= sizeof(line)) {
            perr(&p, "expected a line of at most %zu characters, got %zu", sizeof(line) - 1, n);
            break;
        }
        memcpy(line, cur, n);
        line[n] = 0;
        cur += n + (nl ? 1 : 0);
        if (memchr(line, 0, n) || !tokenize(&p, line)) {
            perr(&p, "expected text, got a NUL byte");
            break;
        }
        if (p.ntok == 0)
            continue;
        if (!parse_line(&p, s, &seen_version))
            break;
    }
    if (!p.failed && !seen_version) {
        p.line = p.line ? p.line : 1;
        perr(&p, "expected the first line '%s %d', got an empty file", EMU_SCENARIO_MAGIC,
             EMU_SCENARIO_VERSION);
    }
    if (!p.failed)
        check_whole(&p, s);
    if (p.failed) {
        emu_scenario_free(s);
        return false;
    }
    return true;
}

bool emu_scenario_load(const char *path, emu_scenario *out, char *err, size_t errlen)
{
    emu_scenario_init_empty(out);
    FILE *f = cpu_open_input(path, err, errlen);
    if (!f)
        return false;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    bool too_big = buf && n == (1 << 20) - 1 && fgetc(f) != EOF;
    bool unreadable = ferror(f) != 0; /* a directory, an I/O error */
    fclose(f);
    if (!buf || too_big || unreadable) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf ? "out of memory"
                 : unreadable ? "cannot read the scenario (is it a directory?)"
                              : "expected a scenario under 1 MiB");
        free(buf);
        return false;
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        snprintf(err, errlen, "%s: expected a text file, got a NUL byte at offset %zu", path,
                 strlen(buf));
        free(buf);
        return false;
    }
    bool ok = emu_scenario_parse(path, buf, out, err, errlen);
    free(buf);
    return ok;
}

void emu_scenario_free(emu_scenario *s)
{
    free(s->text);
    free(s->inputs);
    s->text = NULL;
    s->inputs = NULL;
    s->m = NULL;
}

bool emu_exe_guest_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = 0;
    snprintf(out, len, "%s/guests", dirname(exe));
    return true;
}

bool emu_default_guest_dir(char *out, size_t len)
{
    const char *env = getenv("APICV_GUEST_DIR");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return true;
    }
    return emu_exe_guest_dir(out, len);
}

bool emu_scenario_guest_path(const emu_scenario *s, const char *guest_dir, char *out,
                             size_t outlen, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (s->guest[0] == '/') {
        snprintf(out, outlen, "%s", s->guest);
        if (access(out, R_OK) == 0)
            return true;
        snprintf(err, errlen, "%s: guest image '%s' not found", s->path, s->guest);
        return false;
    }
    snprintf(out, outlen, "%s/%s", s->dir, s->guest);
    if (access(out, R_OK) == 0)
        return true;
    if (!guest_dir && emu_default_guest_dir(dir, sizeof(dir)))
        guest_dir = dir;
    if (guest_dir) {
        snprintf(out, outlen, "%s/%s", guest_dir, s->guest);
        if (access(out, R_OK) == 0)
            return true;
    }
    snprintf(err, errlen, "%s: guest image '%s' not found beside the scenario (%s) nor in the "
                          "guest directory (%s)",
             s->path, s->guest, s->dir, guest_dir ? guest_dir : "unknown");
    return false;
}

void emu_scenario_config(const emu_scenario *s, emu_config *cfg)
{
    if (s->has_cpus)
        cfg->ncpus = s->ncpus;
    if (s->has_mode)
        cfg->mode = s->mode;
    if (s->has_mem)
        cfg->mem_bytes = s->mem_bytes;
    if (s->has_quantum)
        cfg->quantum = s->quantum;
    if (s->has_max_cycles)
        cfg->max_cycles = s->max_cycles;
}
