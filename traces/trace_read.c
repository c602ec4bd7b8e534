/*
 * trace_read.c — reading and checking traces.
 *
 * The reader trusts nothing in the file: every length is bounded by what is
 * left, every varint by ten bytes, every count by its limit, and every
 * record's check is verified before its payload is decoded. Whatever is
 * wrong, the message names the file, the byte offset, the record number and
 * what was expected there, and the caller exits with status 2.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "traces/trace_internal.h"

static const char *const rec_names[TRACE_REC_NTYPES] = {"?",     "header", "guest", "event",
                                                        "input", "digest", "end",   "boot"};

typedef struct cursor {
    const char *name;
    const uint8_t *p;
    size_t len, pos;
    size_t base;      /* file offset of p[0] */
    unsigned long rec; /* record number (1 = the header) */
    const char *what; /* the record being read */
    char *err;
    size_t errlen;
    bool failed;
} cursor;

static bool fail(cursor *c, const char *fmt, ...)
{
    if (c->failed)
        return false;
    c->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->rec)
        snprintf(c->err, c->errlen, "%s: offset %zu, record #%lu (%s): %s", c->name,
                 c->base + c->pos, c->rec, c->what, msg);
    else
        snprintf(c->err, c->errlen, "%s: offset %zu: %s", c->name, c->base + c->pos, msg);
    return false;
}

static bool get_varint(cursor *c, const char *field, uint64_t *out)
{
    uint64_t v = 0;
    *out = 0; /* defined on every path (the analyzer cannot see the loop bound) */
    for (unsigned k = 0; k < 10; k++) {
        if (c->pos >= c->len)
            return fail(c, "expected %s (a varint), got the end of the record", field);
        uint8_t b = c->p[c->pos++];
        if (k == 9 && b > 1)
            return fail(c, "expected %s (a varint), got one that overflows 64 bits", field);
        v |= (uint64_t)(b & 0x7F) << (7 * k);
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return fail(c, "expected %s (a varint), got more than 10 bytes", field);
}

static bool get_bounded(cursor *c, const char *field, uint64_t max, uint64_t *out)
{
    size_t at = c->pos;
    if (!get_varint(c, field, out))
        return false;
    if (*out > max) {
        c->pos = at;
        return fail(c, "expected %s of at most %llu, got %llu", field, (unsigned long long)max,
                    (unsigned long long)*out);
    }
    return true;
}

static bool get_u64(cursor *c, const char *field, uint64_t *out)
{
    if (c->len - c->pos < 8)
        return fail(c, "expected %s (8 bytes), got %zu", field, c->len - c->pos);
    uint64_t v = 0;
    for (unsigned k = 0; k < 8; k++)
        v |= (uint64_t)c->p[c->pos + k] << (8 * k);
    c->pos += 8;
    *out = v;
    return true;
}

static bool get_str(cursor *c, const char *field, char *out, size_t cap)
{
    uint64_t n;
    if (!get_bounded(c, field, cap - 1, &n))
        return false;
    if (c->len - c->pos < n)
        return fail(c, "expected %s (%llu bytes), got %zu", field, (unsigned long long)n,
                    c->len - c->pos);
    memcpy(out, c->p + c->pos, n);
    out[n] = 0;
    if (memchr(out, 0, n))
        return fail(c, "expected %s (text), got a NUL byte inside it", field);
    c->pos += n;
    return true;
}

static bool get_blob_str(cursor *c, const char *field, char **out)
{
    uint64_t n;
    if (!get_bounded(c, field, TRACE_MAX_BLOB, &n))
        return false;
    if (c->len - c->pos < n)
        return fail(c, "expected %s (%llu bytes), got %zu", field, (unsigned long long)n,
                    c->len - c->pos);
    *out = NULL;
    if (n == 0)
        return true;
    *out = malloc(n + 1);
    if (!*out)
        return fail(c, "out of memory");
    memcpy(*out, c->p + c->pos, n);
    (*out)[n] = 0;
    c->pos += n;
    return true;
}

static bool parse_header(cursor *c, trace_header *h)
{
    uint64_t v;
    memset(h, 0, sizeof(*h));
    if (!get_varint(c, "the format version", &v))
        return false;
    if (v < TRACE_FORMAT_MIN_VERSION || v > TRACE_FORMAT_VERSION)
        return fail(c, "expected format version %u..%u, got %llu (a trace from another version of "
                       "apicv-emu)", TRACE_FORMAT_MIN_VERSION, TRACE_FORMAT_VERSION,
                    (unsigned long long)v);
    h->format_version = (uint32_t)v;
    if (!get_str(c, "the emulator version", h->emu_version, sizeof(h->emu_version)) ||
        !get_str(c, "the guest path", h->guest_path, sizeof(h->guest_path)) ||
        !get_u64(c, "the guest digest", &h->guest_digest) ||
        !get_str(c, "the scenario path", h->scenario_path, sizeof(h->scenario_path)) ||
        !get_blob_str(c, "the scenario text", &h->scenario_text) ||
        !get_bounded(c, "the mode", 255, &v))
        return false;
    h->mode = (uint32_t)v;
    if (!get_str(c, "the mode name", h->mode_name, sizeof(h->mode_name)) ||
        !get_bounded(c, "the CPU count", 64, &v))
        return false;
    h->ncpus = (uint32_t)v;
    if (h->ncpus == 0)
        return fail(c, "expected a CPU count of at least 1, got 0");
    if (!get_varint(c, "the RAM size", &h->mem_bytes) ||
        !get_varint(c, "the quantum", &h->quantum) ||
        !get_varint(c, "the cycle limit", &h->max_cycles) ||
        !get_bounded(c, "the strict flag", 1, &v))
        return false;
    h->strict = (uint32_t)v;
    if (!get_bounded(c, "the number of cost classes", TRACE_MAX_COSTS, &v))
        return false;
    h->ncosts = (uint32_t)v;
    for (unsigned k = 0; k < h->ncosts; k++) {
        if (!get_bounded(c, "a cost", 0xFFFF, &v))
            return false;
        h->costs[k] = (uint16_t)v;
    }
    if (!get_varint(c, "the digest interval", &h->digest_interval))
        return false;
    if (h->format_version >= 4) {
        if (!get_bounded(c, "the CPU model's features taken away", 0xFFFFFFFFu, &v))
            return false;
        h->cpu_off = (uint32_t)v;
    }
    return true;
}

/* The boot record (format version 3): see trace_boot. */
static bool parse_boot(cursor *c, trace_boot *b)
{
    uint64_t v;
    if (!get_bounded(c, "the append flag", 1, &v))
        return false;
    b->has_append = v != 0;
    if (!get_str(c, "the append text", b->append, sizeof(b->append)) ||
        !get_bounded(c, "the number of modules", TRACE_MAX_MODULES, &v))
        return false;
    for (unsigned k = 0; k < (unsigned)v; k++) {
        trace_module *m = &b->module[k];
        uint64_t n;
        if (!get_str(c, "a module's name", m->name, sizeof(m->name)) ||
            !get_bounded(c, "a module's size", TRACE_MAX_BLOB, &n))
            return false;
        if (c->len - c->pos < n)
            return fail(c, "expected the module's %llu bytes, got %zu", (unsigned long long)n,
                        c->len - c->pos);
        b->nmodules = k + 1; /* freed from here on */
        m->data = n ? malloc((size_t)n) : NULL;
        if (n && !m->data)
            return fail(c, "out of memory");
        if (n)
            memcpy(m->data, c->p + c->pos, (size_t)n);
        m->len = (size_t)n;
        c->pos += (size_t)n;
    }
    return true;
}

static bool parse_event(cursor *c, uint64_t *last, cpu_obs_event *ev)
{
    uint64_t z, v;
    memset(ev, 0, sizeof(*ev));
    if (!get_varint(c, "the cycle delta", &z))
        return false;
    int64_t delta = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    ev->cycle = *last + (uint64_t)delta;
    *last = ev->cycle;
    if (!get_bounded(c, "the CPU", 0xFFFF, &v))
        return false;
    ev->cpu = (uint16_t)v;
    if (!get_bounded(c, "the event kind", 0xFFFF, &v))
        return false;
    ev->kind = (uint16_t)v;
    return get_varint(c, "field a", &ev->a) && get_varint(c, "field b", &ev->b) &&
           get_varint(c, "field c", &ev->c) && get_varint(c, "field d", &ev->d);
}

static bool parse_input(cursor *c, trace_input *in)
{
    uint64_t v;
    memset(in, 0, sizeof(*in));
    if (!get_varint(c, "the posting cycle", &in->post) ||
        !get_varint(c, "the due cycle", &in->cycle) || !get_bounded(c, "the CPU", 0xFFFF, &v))
        return false;
    in->cpu = (uint16_t)v;
    if (!get_bounded(c, "the input kind", 0xFFFF, &v))
        return false;
    in->kind = (uint16_t)v;
    if (in->cycle < in->post)
        return fail(c, "expected a due cycle at or after the posting cycle %llu, got %llu",
                    (unsigned long long)in->post, (unsigned long long)in->cycle);
    return get_varint(c, "field a", &in->a) && get_varint(c, "field b", &in->b) &&
           get_varint(c, "field c", &in->c) && get_varint(c, "field d", &in->d);
}

static bool parse_digest(cursor *c, trace_digest *d)
{
    uint64_t n, v;
    memset(d, 0, sizeof(*d));
    if (!get_varint(c, "the digest cycle", &d->cycle) ||
        !get_bounded(c, "the number of parts", TRACE_MAX_PARTS, &n))
        return false;
    d->nparts = (uint32_t)n;
    for (uint32_t k = 0; k < d->nparts; k++) {
        if (!get_bounded(c, "a part's CPU", 0xFFFF, &v))
            return false;
        d->part[k].cpu = (uint16_t)v;
        if (!get_bounded(c, "a part's kind", TRACE_PART_NKINDS - 1, &v))
            return false;
        d->part[k].kind = (uint16_t)v;
        if (!get_u64(c, "a part's value", &d->part[k].value))
            return false;
    }
    return true;
}

static bool parse_end(cursor *c, trace_end *e)
{
    uint64_t z;
    if (!get_varint(c, "the final cycle", &e->cycle) || !get_varint(c, "the exit status", &z))
        return false;
    int64_t s = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (s < -1 || s > 255)
        return fail(c, "expected an exit status in -1..255, got %lld", (long long)s);
    e->exit_status = (int32_t)s;
    return get_varint(c, "the event count", &e->nevents) &&
           get_varint(c, "the input count", &e->ninputs);
}

/* Appends one element to a growable array. */
static void *grow(void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(arr, c * elem);
    if (p)
        *cap = c;
    return p;
}

bool trace_parse(const char *name, const uint8_t *buf, size_t len, trace_file *t, char *err,
                 size_t errlen)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    cursor c = {.name = name, .p = buf, .len = len, .err = err, .errlen = errlen,
                .what = "?"};
    size_t cap_ev = 0, cap_in = 0, cap_dg = 0, cap_or = 0;
    uint64_t last_cycle = 0;
    if (len < 8 || memcmp(buf, TRACE_MAGIC, 8) != 0) {
        fail(&c, "expected the magic \"%s\" of an apicv-emu trace, got %s", TRACE_MAGIC,
             len < 8 ? "a file shorter than 8 bytes" : "other bytes");
        return false;
    }
    c.pos = 8;
    while (c.pos < len && !t->has_end) {
        size_t start = c.pos;
        c.rec++;
        c.what = "frame";
        uint8_t type = buf[c.pos++];
        if (type == 0 || type >= TRACE_REC_NTYPES) {
            c.pos = start;
            fail(&c, "expected a record type 1..%d, got %u", TRACE_REC_NTYPES - 1, type);
            break;
        }
        c.what = rec_names[type];
        if (c.rec == 1 && type != TRACE_REC_HEADER) {
            c.pos = start;
            fail(&c, "expected the header record first, got a %s record", rec_names[type]);
            break;
        }
        if (c.rec > 1 && type == TRACE_REC_HEADER) {
            c.pos = start;
            fail(&c, "expected one header only, got a second one");
            break;
        }
        uint64_t plen;
        if (c.pos >= len) {
            fail(&c, "expected the record length, got the end of the file (truncated trace)");
            break;
        }
        if (!get_varint(&c, "the record length", &plen))
            break;
        if (plen > len - c.pos || len - c.pos - plen < 4) {
            fail(&c, "expected %llu payload bytes and a 4-byte check, got the end of the file "
                     "after %zu bytes (truncated trace)",
                 (unsigned long long)plen, len - c.pos);
            break;
        }
        const uint8_t *payload = buf + c.pos;
        const uint8_t *ck = payload + plen;
        uint32_t want = (uint32_t)ck[0] | (uint32_t)ck[1] << 8 | (uint32_t)ck[2] << 16 |
                        (uint32_t)ck[3] << 24;
        uint32_t got = trace_check32(type, payload, (size_t)plen);
        if (want != got) {
            fail(&c, "expected the record check %08x, got %08x (corrupted record)", got, want);
            break;
        }
        cursor p = c;
        p.p = payload;
        p.len = (size_t)plen;
        p.pos = 0;
        p.base = c.base + c.pos;
        bool ok = true;
        switch (type) {
        case TRACE_REC_HEADER:
            ok = parse_header(&p, &t->header);
            break;
        case TRACE_REC_GUEST:
            if (t->guest) {
                ok = fail(&p, "expected one guest image only, got a second one");
                break;
            }
            t->guest = malloc(plen ? (size_t)plen : 1);
            if (!t->guest) {
                ok = fail(&p, "out of memory");
                break;
            }
            memcpy(t->guest, payload, (size_t)plen);
            t->guest_len = (size_t)plen;
            p.pos = p.len;
            break;
        case TRACE_REC_BOOT:
            if (t->header.format_version < 3) {
                ok = fail(&p, "expected no boot record in a format version %u trace, got one",
                          t->header.format_version);
                break;
            }
            if (t->boot || !t->guest || t->nevents || t->ninputs || t->ndigests) {
                ok = fail(&p, "expected one boot record, right after the guest image, got %s",
                          t->boot ? "a second one" : "one elsewhere");
                break;
            }
            t->boot = calloc(1, sizeof(*t->boot));
            ok = t->boot ? parse_boot(&p, t->boot) : fail(&p, "out of memory");
            break;
        case TRACE_REC_EVENT: {
            cpu_obs_event *e = grow(t->events, t->nevents, &cap_ev, sizeof(*e));
            if (!e) {
                ok = fail(&p, "out of memory");
                break;
            }
            t->events = e;
            ok = parse_event(&p, &last_cycle, &t->events[t->nevents]);
            if (ok)
                t->nevents++;
            break;
        }
        case TRACE_REC_INPUT: {
            trace_input *in = grow(t->inputs, t->ninputs, &cap_in, sizeof(*in));
            if (!in) {
                ok = fail(&p, "out of memory");
                break;
            }
            t->inputs = in;
            ok = parse_input(&p, &t->inputs[t->ninputs]);
            if (ok)
                t->ninputs++;
            break;
        }
        case TRACE_REC_DIGEST: {
            trace_digest *d = grow(t->digests, t->ndigests, &cap_dg, sizeof(*d));
            if (!d) {
                ok = fail(&p, "out of memory");
                break;
            }
            t->digests = d;
            ok = parse_digest(&p, &t->digests[t->ndigests]);
            if (ok)
                t->ndigests++;
            break;
        }
        case TRACE_REC_END:
            ok = parse_end(&p, &t->end);
            if (ok)
                t->has_end = true;
            break;
        default:
            break;
        }
        if (ok && p.pos != p.len)
            ok = fail(&p, "expected the record to end here, got %zu more bytes", p.len - p.pos);
        if (!ok) {
            c.failed = true;
            break;
        }
        trace_index *o = grow(t->order, t->norder, &cap_or, sizeof(*o));
        if (!o) {
            fail(&c, "out of memory");
            break;
        }
        t->order = o;
        t->order[t->norder++] = (trace_index){type, (uint32_t)(type == TRACE_REC_EVENT    ? t->nevents - 1
                                                               : type == TRACE_REC_INPUT  ? t->ninputs - 1
                                                               : type == TRACE_REC_DIGEST ? t->ndigests - 1
                                                                                          : 0),
                                              start};
        c.pos += (size_t)plen + 4;
    }
    if (!c.failed && c.rec == 0)
        fail(&c, "expected the header record, got the end of the file");
    else if (!c.failed && !t->has_end)
        fail(&c, "expected an end record, got the end of the file (truncated trace)");
    else if (!c.failed && c.pos != len) {
        c.what = "end";
        fail(&c, "expected the end of the file after the end record, got %zu more bytes",
             len - c.pos);
    } else if (!c.failed && (t->end.nevents != t->nevents || t->end.ninputs != t->ninputs)) {
        c.what = "end";
        fail(&c, "expected %llu events and %llu inputs as the end record says, got %zu and %zu",
             (unsigned long long)t->end.nevents, (unsigned long long)t->end.ninputs, t->nevents,
             t->ninputs);
    }
    if (c.failed) {
        trace_file_free(t);
        return false;
    }
    return true;
}

bool trace_load(const char *path, trace_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    FILE *f = cpu_open_input(path, err, errlen);
    if (!f)
        return false;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return false;
            }
            buf = b;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool rd_err = ferror(f) != 0;
    fclose(f);
    if (rd_err) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return false;
    }
    bool ok = trace_parse(path, buf, len, out, err, errlen);
    free(buf);
    return ok;
}

void trace_file_free(trace_file *t)
{
    free(t->header.scenario_text);
    free(t->guest);
    if (t->boot)
        for (unsigned k = 0; k < t->boot->nmodules; k++)
            free(t->boot->module[k].data);
    free(t->boot);
    free(t->events);
    free(t->inputs);
    free(t->digests);
    free(t->order);
    memset(t, 0, sizeof(*t));
}
