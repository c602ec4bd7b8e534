/*
 * trace_write.c — writing traces (byte layout in traces/README.md).
 *
 * Every record is framed as: type (1 byte), payload length (LEB128),
 * payload, and a 32-bit FNV-1a check of type and payload, so a reader can
 * tell a corrupted record from a truncated one and name both. Numbers in
 * payloads are LEB128 varints (cycles of events as signed deltas from the
 * previous event, since CPUs take turns and their clocks interleave), which
 * keeps the event log, the bulk of a trace, compact.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "traces/trace_internal.h"

struct trace_writer {
    FILE *f;
    char path[TRACE_MAX_STR];
    trace_buf rec;
    uint64_t last_cycle;
    uint64_t nevents;
    bool failed;
};

uint64_t trace_fnv1a64(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t k = 0; k < len; k++) {
        h ^= p[k];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint32_t trace_check32(uint8_t type, const uint8_t *p, size_t len)
{
    uint32_t h = 0x811c9dc5u;
    h ^= type;
    h *= 0x01000193u;
    for (size_t k = 0; k < len; k++) {
        h ^= p[k];
        h *= 0x01000193u;
    }
    return h;
}

bool trace_file_digest(const char *path, uint64_t *out)
{
    char err[512];
    FILE *f = cpu_open_input(path, err, sizeof(err));
    if (!f)
        return false;
    uint64_t h = 0xcbf29ce484222325ull;
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (size_t k = 0; k < n; k++) {
            h ^= buf[k];
            h *= 0x100000001b3ull;
        }
    }
    bool ok = !ferror(f);
    fclose(f);
    *out = h;
    return ok;
}

const char *trace_part_name(unsigned kind)
{
    static const char *const names[TRACE_PART_NKINDS] = {"total", "regs", "ctrl", "apic", "queue",
                                                         "ram",   "clock", "hv", "vmcs", "vapic",
                                                         "devices"};
    return kind < TRACE_PART_NKINDS ? names[kind] : "?";
}

/* ---- the record buffer ---------------------------------------------------- */

void trace_buf_bytes(trace_buf *b, const void *p, size_t len)
{
    if (b->oom || len == 0)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
}

void trace_buf_varint(trace_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7F;
        v >>= 7;
        tmp[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    trace_buf_bytes(b, tmp, n);
}

void trace_buf_svarint(trace_buf *b, int64_t v)
{
    /* Zigzag: the sign bit spread over all bits, without shifting a
     * negative signed value (implementation-defined in C11). */
    uint64_t sign = 0 - ((uint64_t)v >> 63);
    trace_buf_varint(b, ((uint64_t)v << 1) ^ sign);
}

void trace_buf_u64(trace_buf *b, uint64_t v)
{
    uint8_t tmp[8];
    for (unsigned k = 0; k < 8; k++)
        tmp[k] = (uint8_t)(v >> (8 * k));
    trace_buf_bytes(b, tmp, 8);
}

void trace_buf_str(trace_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    trace_buf_varint(b, n);
    trace_buf_bytes(b, s, n);
}

/* ---- records -------------------------------------------------------------- */

static void emit(trace_writer *w, uint8_t type)
{
    if (w->failed)
        return;
    if (w->rec.oom) {
        w->failed = true;
        return;
    }
    trace_buf frame = {0};
    trace_buf_bytes(&frame, &type, 1);
    trace_buf_varint(&frame, w->rec.len);
    uint32_t check = trace_check32(type, w->rec.data, w->rec.len);
    uint8_t c[4] = {(uint8_t)check, (uint8_t)(check >> 8), (uint8_t)(check >> 16),
                    (uint8_t)(check >> 24)};
    if (frame.oom || fwrite(frame.data, 1, frame.len, w->f) != frame.len ||
        (w->rec.len && fwrite(w->rec.data, 1, w->rec.len, w->f) != w->rec.len) ||
        fwrite(c, 1, 4, w->f) != 4)
        w->failed = true;
    free(frame.data);
    w->rec.len = 0;
}

trace_writer *trace_writer_open(const char *path, const trace_header *h, char *err,
                                size_t errlen)
{
    trace_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        snprintf(err, errlen, "%s: cannot create the trace file", path);
        free(w);
        return NULL;
    }
    snprintf(w->path, sizeof(w->path), "%s", path);
    fwrite(TRACE_MAGIC, 1, 8, w->f);
    trace_buf *b = &w->rec;
    trace_buf_varint(b, h->format_version ? h->format_version : TRACE_FORMAT_VERSION);
    trace_buf_str(b, h->emu_version);
    trace_buf_str(b, h->guest_path);
    trace_buf_u64(b, h->guest_digest);
    trace_buf_str(b, h->scenario_path);
    trace_buf_str(b, h->scenario_text);
    trace_buf_varint(b, h->mode);
    trace_buf_str(b, h->mode_name);
    trace_buf_varint(b, h->ncpus);
    trace_buf_varint(b, h->mem_bytes);
    trace_buf_varint(b, h->quantum);
    trace_buf_varint(b, h->max_cycles);
    trace_buf_varint(b, h->strict);
    trace_buf_varint(b, h->ncosts);
    for (unsigned k = 0; k < h->ncosts && k < TRACE_MAX_COSTS; k++)
        trace_buf_varint(b, h->costs[k]);
    trace_buf_varint(b, h->digest_interval);
    if ((h->format_version ? h->format_version : TRACE_FORMAT_VERSION) >= 4)
        trace_buf_varint(b, h->cpu_off);
    emit(w, TRACE_REC_HEADER);
    return w;
}

void trace_write_guest(trace_writer *w, const void *image, size_t len)
{
    trace_buf_bytes(&w->rec, image, len);
    emit(w, TRACE_REC_GUEST);
}

void trace_write_boot(trace_writer *w, const trace_boot *bt)
{
    trace_buf *b = &w->rec;
    trace_buf_varint(b, bt->has_append);
    trace_buf_str(b, bt->append);
    unsigned n = bt->nmodules < TRACE_MAX_MODULES ? bt->nmodules : TRACE_MAX_MODULES;
    trace_buf_varint(b, n);
    for (unsigned k = 0; k < n; k++) {
        trace_buf_str(b, bt->module[k].name);
        trace_buf_varint(b, bt->module[k].len);
        trace_buf_bytes(b, bt->module[k].data, bt->module[k].len);
    }
    emit(w, TRACE_REC_BOOT);
}

void trace_write_event(trace_writer *w, const cpu_obs_event *ev)
{
    trace_buf *b = &w->rec;
    trace_buf_svarint(b, (int64_t)(ev->cycle - w->last_cycle));
    w->last_cycle = ev->cycle;
    trace_buf_varint(b, ev->cpu);
    trace_buf_varint(b, ev->kind);
    trace_buf_varint(b, ev->a);
    trace_buf_varint(b, ev->b);
    trace_buf_varint(b, ev->c);
    trace_buf_varint(b, ev->d);
    emit(w, TRACE_REC_EVENT);
    w->nevents++;
}

void trace_write_input(trace_writer *w, const trace_input *in)
{
    trace_buf *b = &w->rec;
    trace_buf_varint(b, in->post);
    trace_buf_varint(b, in->cycle);
    trace_buf_varint(b, in->cpu);
    trace_buf_varint(b, in->kind);
    trace_buf_varint(b, in->a);
    trace_buf_varint(b, in->b);
    trace_buf_varint(b, in->c);
    trace_buf_varint(b, in->d);
    emit(w, TRACE_REC_INPUT);
}

void trace_write_digest(trace_writer *w, const trace_digest *d)
{
    trace_buf *b = &w->rec;
    trace_buf_varint(b, d->cycle);
    uint32_t n = d->nparts < TRACE_MAX_PARTS ? d->nparts : TRACE_MAX_PARTS;
    trace_buf_varint(b, n);
    for (uint32_t k = 0; k < n; k++) {
        trace_buf_varint(b, d->part[k].cpu);
        trace_buf_varint(b, d->part[k].kind);
        trace_buf_u64(b, d->part[k].value);
    }
    emit(w, TRACE_REC_DIGEST);
}

void trace_write_end(trace_writer *w, const trace_end *e)
{
    trace_buf *b = &w->rec;
    trace_buf_varint(b, e->cycle);
    trace_buf_svarint(b, e->exit_status);
    trace_buf_varint(b, e->nevents);
    trace_buf_varint(b, e->ninputs);
    emit(w, TRACE_REC_END);
}

uint64_t trace_writer_events(const trace_writer *w)
{
    return w->nevents;
}

bool trace_writer_failed(const trace_writer *w)
{
    return w->failed || ferror(w->f);
}

bool trace_writer_close(trace_writer *w, char *err, size_t errlen)
{
    if (!w)
        return false;
    bool ok = !w->failed && fflush(w->f) == 0 && !ferror(w->f);
    if (fclose(w->f) != 0)
        ok = false;
    if (!ok)
        snprintf(err, errlen, "%s: writing the trace failed (disk full or out of memory?)",
                 w->path);
    free(w->rec.data);
    free(w);
    return ok;
}

bool trace_save(const trace_file *t, const char *path, char *err, size_t errlen)
{
    trace_writer *w = trace_writer_open(path, &t->header, err, errlen);
    if (!w)
        return false;
    for (size_t k = 0; k < t->norder; k++) {
        const trace_index *o = &t->order[k];
        switch (o->type) {
        case TRACE_REC_GUEST:
            trace_write_guest(w, t->guest, t->guest_len);
            break;
        case TRACE_REC_BOOT:
            if (t->boot)
                trace_write_boot(w, t->boot);
            break;
        case TRACE_REC_EVENT:
            trace_write_event(w, &t->events[o->idx]);
            break;
        case TRACE_REC_INPUT:
            trace_write_input(w, &t->inputs[o->idx]);
            break;
        case TRACE_REC_DIGEST:
            trace_write_digest(w, &t->digests[o->idx]);
            break;
        case TRACE_REC_END:
            trace_write_end(w, &t->end);
            break;
        default:
            break;
        }
    }
    return trace_writer_close(w, err, errlen);
}
