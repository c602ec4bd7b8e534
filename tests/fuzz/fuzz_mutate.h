/*
 * fuzz_mutate.h — the input fuzzer shared by tests/fuzz/fuzz_inputs.c (the
 * long run, `make fuzz`) and tests/emu/test_fuzz_smoke.c (a short run under
 * ctest).
 *
 * apicv-emu must never crash on bad input: a malformed trace, scenario file,
 * guest ELF or KVM trace to import gets a message naming the file and exit
 * status 2. This header turns seed files into a deterministic stream of
 * malformed inputs (a fixed seed gives the same inputs on every host) and
 * feeds them to the four parsers, checking the contract: true, or false
 * with a message that starts with the file's name. The KVM importer
 * (`import-kvm`) skips malformed lines by design, so most of its inputs are
 * accepted; an accepted one must then give a scenario that the scenario
 * parser accepts (what `import-kvm --run` runs). Crashes, sanitizer reports and hangs are the
 * caller's to catch (the sanitizers abort; fuzz_inputs.c saves the input).
 *
 * Mutations: bit flips, byte and word changes with boundary values,
 * truncations, insertions, deletions, duplications, splices of two seeds;
 * for scenario text and KVM trace text also line and number-token edits
 * (for KVM text, tracepoint names and field words too); for ELF images writes
 * of boundary values into the header and program-header fields; for traces
 * record-level edits (payload havoc, drop, duplicate, swap, retype, records
 * from another trace) re-framed with correct lengths and record checks, so
 * the payload decoders are reached and not only the check.
 */
#ifndef APICV_FUZZ_MUTATE_H
#define APICV_FUZZ_MUTATE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "emu/emu.h"
#include "emu/emu_loader.h"
#include "emu/emu_import_kvm.h"
#include "emu/emu_record.h"
#include "emu/emu_scenario.h"
#include "traces/trace.h"
#include "traces/trace_internal.h" /* trace_check32: edited records are re-checked */

#define FUZZ_MAX_LEN (256u << 10) /* inputs are clamped to this */
#define FUZZ_MAX_SEEDS 64
#define FUZZ_MAX_RECS 8192        /* records of one trace seed considered */
#define FUZZ_ELF_RAM (8u << 20)   /* guest RAM the ELF target loads into */
#define FUZZ_ERRLEN 1024

typedef enum fuzz_target { FUZZ_TRACE, FUZZ_SCENARIO, FUZZ_ELF, FUZZ_KVM, FUZZ_NTARGETS } fuzz_target;

static inline const char *fuzz_target_name(unsigned t)
{
    static const char *const names[FUZZ_NTARGETS] = {"trace", "scenario", "elf", "kvm"};
    return t < FUZZ_NTARGETS ? names[t] : NULL;
}

/* The file name the parsers are given (their messages must start with it). */
static inline const char *fuzz_input_name(unsigned t)
{
    static const char *const names[FUZZ_NTARGETS] = {"fuzz-input.trace", "fuzz-input.scn",
                                                     "fuzz-input.elf", "fuzz-input.txt"};
    return t < FUZZ_NTARGETS ? names[t] : "fuzz-input";
}

/* ---- random numbers: splitmix64, fixed seed, no host state --------------- */

typedef struct fuzz_rng {
    uint64_t s;
} fuzz_rng;

/* splitmix64's output function: a bijection that scatters neighbouring
 * inputs over the whole 64-bit space. */
static inline uint64_t fuzz_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The state is a hash of (seed, stream), not a linear function of them:
 * splitmix64 walks its state in steps of the golden-ratio constant, so a
 * state of seed * constant made seed s + 1 the stream of seed s shifted by
 * one number. Hashed, two streams' starting points lie far apart. */
static inline void fuzz_rng_seed(fuzz_rng *r, uint64_t seed, unsigned stream)
{
    r->s = fuzz_mix64(fuzz_mix64(seed ^ 0x6A09E667F3BCC909ull) + stream * 0xD1B54A32D192ED03ull + 1);
}

static inline uint64_t fuzz_next(fuzz_rng *r)
{
    return fuzz_mix64(r->s += 0x9E3779B97F4A7C15ull);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline size_t fuzz_below(fuzz_rng *r, size_t n)
{
    return n ? (size_t)(fuzz_next(r) % n) : 0;
}

/* ---- byte buffers ------------------------------------------------------- */

typedef struct fuzz_buf {
    uint8_t *data;
    size_t len, cap;
} fuzz_buf;

static inline void fuzz_buf_reserve(fuzz_buf *b, size_t cap)
{
    if (cap <= b->cap)
        return;
    size_t c = b->cap ? b->cap : 256;
    while (c < cap)
        c *= 2;
    uint8_t *p = realloc(b->data, c);
    if (!p)
        abort(); /* the harness itself out of memory: nothing to test */
    b->data = p;
    b->cap = c;
}

static inline void fuzz_buf_set(fuzz_buf *b, const uint8_t *p, size_t n)
{
    if (n > ((size_t)1 << 40))
        abort(); /* a harness bug; also tells the compiler n + 1 cannot wrap */
    fuzz_buf_reserve(b, n + 1);
    if (n)
        memcpy(b->data, p, n);
    b->len = n;
}

static inline void fuzz_buf_insert(fuzz_buf *b, size_t at, const uint8_t *p, size_t n)
{
    if (at > b->len)
        at = b->len;
    fuzz_buf_reserve(b, b->len + n + 1);
    memmove(b->data + at + n, b->data + at, b->len - at);
    if (n)
        memcpy(b->data + at, p, n);
    b->len += n;
}

static inline void fuzz_buf_erase(fuzz_buf *b, size_t at, size_t n)
{
    if (at >= b->len)
        return;
    if (n > b->len - at)
        n = b->len - at;
    memmove(b->data + at, b->data + at + n, b->len - at - n);
    b->len -= n;
}

static inline void fuzz_buf_free(fuzz_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- seeds -------------------------------------------------------------- */

typedef struct fuzz_corpus {
    fuzz_buf seed[FUZZ_MAX_SEEDS];
    char name[FUZZ_MAX_SEEDS][256];
    unsigned n;
} fuzz_corpus;

static inline bool fuzz_corpus_add_file(fuzz_corpus *c, const char *path)
{
    if (c->n >= FUZZ_MAX_SEEDS)
        return false;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fuzz_buf *b = &c->seed[c->n];
    memset(b, 0, sizeof(*b));
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0 && b->len < FUZZ_MAX_LEN)
        fuzz_buf_insert(b, b->len, chunk, got);
    fclose(f);
    if (b->len > FUZZ_MAX_LEN)
        b->len = FUZZ_MAX_LEN;
    snprintf(c->name[c->n], sizeof(c->name[0]), "%.255s", path);
    c->n++;
    return true;
}

static inline int fuzz_name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Adds dir/ *suffix in name order (the order is part of the determinism);
 * returns how many were added. */
static inline unsigned fuzz_corpus_add_dir(fuzz_corpus *c, const char *dir, const char *suffix)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, fuzz_name_cmp);
    unsigned added = 0;
    size_t sl = strlen(suffix);
    for (int i = 0; i < n; i++) {
        const char *d = ents[i]->d_name;
        size_t l = strlen(d);
        if (l > sl && strcmp(d + l - sl, suffix) == 0) {
            char path[4096];
            snprintf(path, sizeof(path), "%.3800s/%.255s", dir, d);
            added += fuzz_corpus_add_file(c, path);
        }
        free(ents[i]);
    }
    free(ents);
    return added;
}

static inline void fuzz_corpus_free(fuzz_corpus *c)
{
    for (unsigned i = 0; i < c->n; i++)
        fuzz_buf_free(&c->seed[i]);
    c->n = 0;
}

/* ---- generic mutations ---------------------------------------------------- */

static inline uint64_t fuzz_interesting(fuzz_rng *r)
{
    static const uint64_t v[] = {
        0, 1, 2, 7, 8, 0x10, 0x20, 0x38, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0x7FFF, 0x8000,
        0xFFFF, 0x10000, 0x100000, 0x7FFFFFFF, 0x80000000ull, 0xFFFFFFFFull, 0x100000000ull,
        (uint64_t)TRACE_MAX_BLOB, (uint64_t)TRACE_MAX_BLOB + 1, 0x7FFFFFFFFFFFFFFFull,
        0x8000000000000000ull, 0xFFFFFFFFFFFFFFF0ull, 0xFFFFFFFFFFFFFFFFull};
    uint64_t x = v[fuzz_below(r, sizeof(v) / sizeof(v[0]))];
    switch (fuzz_below(r, 4)) {
    case 0:
        return x - 1;
    case 1:
        return x + 1;
    default:
        return x;
    }
}

static inline void fuzz_put_le(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned k = 0; k < width; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

/* LEB128, as the trace format encodes its numbers. */
static inline size_t fuzz_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

/* A different seed than `self` when there is one. */
static inline const fuzz_buf *fuzz_other(fuzz_rng *r, const fuzz_corpus *c)
{
    return &c->seed[fuzz_below(r, c->n)];
}

/* One havoc step on b. Returns nothing: b is always left a valid buffer. */
static inline void fuzz_havoc_step(fuzz_rng *r, fuzz_buf *b, const fuzz_corpus *c)
{
    size_t len = b->len;
    size_t at = fuzz_below(r, len ? len : 1);
    switch (fuzz_below(r, 13)) {
    case 0: /* bit flip */
        if (len)
            b->data[at] ^= (uint8_t)(1u << fuzz_below(r, 8));
        break;
    case 1: /* random byte */
        if (len)
            b->data[at] = (uint8_t)fuzz_next(r);
        break;
    case 2: /* boundary byte */
        if (len)
            b->data[at] = (uint8_t)fuzz_interesting(r);
        break;
    case 3: { /* boundary word of 2, 4 or 8 bytes */
        unsigned w = 2u << fuzz_below(r, 3);
        if (len >= w)
            fuzz_put_le(b->data + fuzz_below(r, len - w + 1), fuzz_interesting(r), w);
        break;
    }
    case 4: /* small add/sub */
        if (len)
            b->data[at] = (uint8_t)(b->data[at] + (int)fuzz_below(r, 35) - 17);
        break;
    case 5: /* delete a range */
        fuzz_buf_erase(b, at, 1 + fuzz_below(r, fuzz_below(r, 2) ? 8 : 512));
        break;
    case 6: { /* insert random bytes */
        uint8_t tmp[16];
        size_t n = 1 + fuzz_below(r, sizeof(tmp));
        for (size_t k = 0; k < n; k++)
            tmp[k] = (uint8_t)fuzz_next(r);
        fuzz_buf_insert(b, fuzz_below(r, len + 1), tmp, n);
        break;
    }
    case 7: { /* duplicate a range of itself */
        if (!len)
            break;
        size_t n = 1 + fuzz_below(r, len - at < 256 ? len - at : 256);
        uint8_t tmp[256];
        memcpy(tmp, b->data + at, n);
        fuzz_buf_insert(b, fuzz_below(r, len + 1), tmp, n);
        break;
    }
    case 8: { /* insert a chunk of another seed */
        const fuzz_buf *o = fuzz_other(r, c);
        if (!o->len)
            break;
        size_t from = fuzz_below(r, o->len);
        size_t n = 1 + fuzz_below(r, o->len - from < 512 ? o->len - from : 512);
        fuzz_buf_insert(b, fuzz_below(r, len + 1), o->data + from, n);
        break;
    }
    case 9: /* truncate */
        b->len = fuzz_below(r, len + 1);
        break;
    case 10: { /* splice: our head, another seed's tail */
        const fuzz_buf *o = fuzz_other(r, c);
        size_t from = fuzz_below(r, o->len + 1);
        b->len = at;
        fuzz_buf_insert(b, b->len, o->data + from, o->len - from);
        break;
    }
    case 11: { /* overwrite with another seed's bytes at the same offset */
        const fuzz_buf *o = fuzz_other(r, c);
        if (at < o->len && at < len) {
            size_t n = 1 + fuzz_below(r, 64);
            if (n > o->len - at)
                n = o->len - at;
            if (n > len - at)
                n = len - at;
            memcpy(b->data + at, o->data + at, n);
        }
        break;
    }
    default: { /* a varint of a boundary value over 1..3 bytes */
        uint8_t v[10];
        size_t n = fuzz_varint(v, fuzz_interesting(r));
        fuzz_buf_erase(b, at, 1 + fuzz_below(r, 3));
        fuzz_buf_insert(b, at, v, n);
        break;
    }
    }
}

static inline void fuzz_havoc(fuzz_rng *r, fuzz_buf *b, const fuzz_corpus *c)
{
    unsigned steps = 1u << fuzz_below(r, 4);
    for (unsigned k = 0; k < steps; k++)
        fuzz_havoc_step(r, b, c);
}

/* ---- scenario text -------------------------------------------------------- */

/* Start and length of line `k` (0-based, wrapping) of b. */
static inline void fuzz_line(const fuzz_buf *b, size_t k, size_t *start, size_t *n)
{
    size_t lines = 1;
    for (size_t i = 0; i < b->len; i++)
        lines += b->data[i] == '\n';
    k %= lines;
    size_t s = 0;
    for (size_t i = 0; i < b->len && k; i++)
        if (b->data[i] == '\n') {
            k--;
            s = i + 1;
        }
    size_t e = s;
    while (e < b->len && b->data[e] != '\n')
        e++;
    *start = s;
    *n = e - s;
}

static inline void fuzz_text_step(fuzz_rng *r, fuzz_buf *b, const fuzz_corpus *c)
{
    static const char *const words[] = {
        "0", "-1", "1", "255", "256", "0x", "0x1", "0xffffffffffffffff", "18446744073709551615",
        "18446744073709551616", "99999999999999999999999", "4294967296", "-9223372036854775808",
        "=", "==", "\"", "\"\"", "#", " ", "\t", "\r", "\\", ">=", "<", "!=", "cpu=", "vector=",
        "cycles=", "a=", "reason=", "delay=", "count=", "at ", "on ", "end ", "expect ",
        "caption ", "msi ", "host-irq ", "deschedule ", "vmcs ", "guest ", "cpus ", "mode ",
        "mem ", "quantum ", "max-cycles ", "apicv-scenario 1\n", "\n", "status ", "events ",
        "delivered ", "exits ", "apic ", "vapic ", "cycles ", "posted", "native", "apicv",
        "emulated", "tpr-shadow", "cpu.interrupt", "emu.msi-deliver", "0x3FFFFFFF", "8", "9",
        "1k", "1M", "1G", "1T", "0b1", "1e9", ".."};
    size_t s, n;
    fuzz_line(b, fuzz_next(r), &s, &n);
    switch (fuzz_below(r, 7)) {
    case 0: /* delete a line */
        fuzz_buf_erase(b, s, n + 1);
        break;
    case 1: { /* duplicate a line */
        fuzz_buf tmp = {0};
        fuzz_buf_set(&tmp, b->data + s, n);
        fuzz_buf_insert(&tmp, tmp.len, (const uint8_t *)"\n", 1);
        size_t s2, n2;
        fuzz_line(b, fuzz_next(r), &s2, &n2);
        fuzz_buf_insert(b, s2, tmp.data, tmp.len);
        fuzz_buf_free(&tmp);
        break;
    }
    case 2: { /* a line of another seed */
        const fuzz_buf *o = fuzz_other(r, c);
        size_t s2, n2;
        fuzz_line(o, fuzz_next(r), &s2, &n2);
        fuzz_buf tmp = {0};
        fuzz_buf_set(&tmp, o->data + s2, n2);
        fuzz_buf_insert(&tmp, tmp.len, (const uint8_t *)"\n", 1);
        fuzz_buf_insert(b, s, tmp.data, tmp.len);
        fuzz_buf_free(&tmp);
        break;
    }
    case 3: { /* replace a number token (or any token) with a word */
        size_t i = s + fuzz_below(r, n + 1);
        size_t e = i;
        while (e < b->len && b->data[e] != ' ' && b->data[e] != '\n' && b->data[e] != '=')
            e++;
        while (i > s && b->data[i - 1] != ' ' && b->data[i - 1] != '=')
            i--;
        const char *w = words[fuzz_below(r, sizeof(words) / sizeof(words[0]))];
        fuzz_buf_erase(b, i, e - i);
        fuzz_buf_insert(b, i, (const uint8_t *)w, strlen(w));
        break;
    }
    case 4: { /* insert a word anywhere */
        const char *w = words[fuzz_below(r, sizeof(words) / sizeof(words[0]))];
        fuzz_buf_insert(b, fuzz_below(r, b->len + 1), (const uint8_t *)w, strlen(w));
        break;
    }
    case 5: { /* a very long token */
        size_t len = 1 + fuzz_below(r, 3000);
        fuzz_buf tmp = {0};
        fuzz_buf_reserve(&tmp, len);
        memset(tmp.data, fuzz_below(r, 2) ? '9' : 'a', len);
        tmp.len = len;
        fuzz_buf_insert(b, fuzz_below(r, b->len + 1), tmp.data, tmp.len);
        fuzz_buf_free(&tmp);
        break;
    }
    default:
        fuzz_havoc_step(r, b, c);
        break;
    }
}

/* KVM trace text (docs/import-kvm.md): the scenario edits, and words of
 * the tracepoint lines the importer reads, so the edits reach its field
 * parsers (a vCPU number, a vector, a delivery mode, an exit reason). */
static inline void fuzz_kvm_step(fuzz_rng *r, fuzz_buf *b, const fuzz_corpus *c)
{
    static const char *const words[] = {
        "kvm_entry: ", "kvm_exit: ", "kvm_apic_accept_irq: ", "kvm_apicv_accept_irq: ",
        "kvm_apic_ipi: ", "kvm_apic: ", "kvm_eoi: ", "kvm_pv_eoi: ", "kvm_msr: ",
        "kvm_inj_virq: ", "kvm_pi_irte_update: ", "kvm_ple_window_update: ",
        "kvm_wait_lapic_expire: ", "kvm_hv_timer_state: ", "kvm_vcpu_wakeup: ",
        "kvm_apicv_inhibit_changed: ", "vcpu ", "vcpu 4294967296", "vcpu -1", "apicid ", "vec ",
        "vector ", "reason ", "rip 0x", "info ", "info1 ", "intr_info ", "error_code ", "dst ",
        "(Fixed|edge)", "(NMI|level)", "(", ")", "|", "[000]", "[", "]", " 1e99:", "42.5:",
        "18446744073709.551615:", ":", "apic_write ", "apic_read ", "msr_write ", "EOI_INDUCED ",
        "EXTERNAL_INTERRUPT ", "APIC_ACCESS ", "APIC_WRITE ", "HLT ", "TPR_BELOW_THRESHOLD ",
        "cpus=99", "# tracer: nop\n", "qemu-kvm-1 "};
    if (fuzz_below(r, 3) != 0) {
        fuzz_text_step(r, b, c);
        return;
    }
    const char *w = words[fuzz_below(r, sizeof(words) / sizeof(words[0]))];
    size_t s, n;
    fuzz_line(b, fuzz_next(r), &s, &n);
    fuzz_buf_insert(b, s + fuzz_below(r, n + 1), (const uint8_t *)w, strlen(w));
}

/* ---- ELF images ----------------------------------------------------------- */

/* A boundary value into a field of the ELF header or of a program header. */
static inline void fuzz_elf_step(fuzz_rng *r, fuzz_buf *b)
{
    static const struct {
        uint8_t off, width;
    } ehdr[] = {{4, 1}, {5, 1}, {6, 1}, {16, 2}, {18, 2}, {24, 8}, {32, 8}, {54, 2}, {56, 2}},
      phdr[] = {{0, 4}, {8, 8}, {16, 8}, {24, 8}, {32, 8}, {40, 8}};
    if (b->len < 64)
        return;
    uint64_t phoff = 0;
    for (unsigned k = 0; k < 8; k++)
        phoff |= (uint64_t)b->data[32 + k] << (8 * k);
    unsigned phnum = (unsigned)(b->data[56] | (b->data[57] << 8));
    uint64_t v = fuzz_interesting(r);
    if (fuzz_below(r, 3) == 0 || !phnum || phoff >= b->len) {
        unsigned f = (unsigned)fuzz_below(r, sizeof(ehdr) / sizeof(ehdr[0]));
        fuzz_put_le(b->data + ehdr[f].off, v, ehdr[f].width);
        return;
    }
    unsigned f = (unsigned)fuzz_below(r, sizeof(phdr) / sizeof(phdr[0]));
    uint64_t at = phoff + (uint64_t)fuzz_below(r, phnum) * 56 + phdr[f].off;
    if (at > b->len || b->len - at < phdr[f].width)
        return;
    if (f == 0)
        v = fuzz_below(r, 2) ? 1 /* PT_LOAD */ : v;
    else if (fuzz_below(r, 2)) {
        /* near the current value: off-by-some sizes and addresses */
        uint64_t cur = 0;
        for (unsigned k = 0; k < phdr[f].width; k++)
            cur |= (uint64_t)b->data[at + k] << (8 * k);
        v = cur + (uint64_t)((int64_t)fuzz_below(r, 0x2001) - 0x1000);
    }
    fuzz_put_le(b->data + at, v, phdr[f].width);
}

/* ---- traces: record-level edits, re-framed -------------------------------- */

typedef struct fuzz_rec {
    uint8_t type;
    const uint8_t *p;
    size_t len;
} fuzz_rec;

/* Splits a trace into records (stops at the first bad frame); returns the count. */
static inline size_t fuzz_trace_split(const fuzz_buf *b, fuzz_rec *recs, size_t max)
{
    size_t pos = 8, n = 0;
    if (b->len < 8)
        return 0;
    while (pos < b->len && n < max) {
        uint8_t type = b->data[pos++];
        uint64_t len = 0;
        unsigned k = 0;
        for (; k < 10 && pos < b->len; k++) {
            uint8_t x = b->data[pos++];
            len |= (uint64_t)(x & 0x7F) << (7 * k);
            if (!(x & 0x80))
                break;
        }
        if (k == 10 || len > b->len - pos || b->len - pos - len < 4)
            break;
        recs[n++] = (fuzz_rec){type, b->data + pos, (size_t)len};
        pos += (size_t)len + 4;
    }
    return n;
}

static inline void fuzz_trace_frame(fuzz_buf *out, uint8_t type, const uint8_t *p, size_t len)
{
    uint8_t hdr[11];
    hdr[0] = type;
    size_t n = 1 + fuzz_varint(hdr + 1, len);
    fuzz_buf_insert(out, out->len, hdr, n);
    fuzz_buf_insert(out, out->len, p, len);
    uint8_t ck[4];
    fuzz_put_le(ck, trace_check32(type, p, len), 4);
    fuzz_buf_insert(out, out->len, ck, 4);
}

/* Rewrites the check of every frame that fits the buffer, so that byte-level
 * edits of a trace reach the record decoders. */
static inline void fuzz_trace_fix_checks(uint8_t *d, size_t len)
{
    size_t pos = 8;
    while (len >= 8 && pos < len) {
        uint8_t type = d[pos++];
        uint64_t plen = 0;
        unsigned k = 0;
        bool end = false;
        for (; k < 10 && pos < len; k++) {
            uint8_t x = d[pos++];
            plen |= (uint64_t)(x & 0x7F) << (7 * k);
            if (!(x & 0x80)) {
                end = true;
                break;
            }
        }
        if (!end || plen > len - pos || len - pos - plen < 4)
            return;
        fuzz_put_le(d + pos + plen, trace_check32(type, d + pos, (size_t)plen), 4);
        pos += (size_t)plen + 4;
    }
}

static inline void fuzz_trace_mutate(fuzz_rng *r, fuzz_buf *out, const fuzz_buf *seed,
                                     const fuzz_corpus *c)
{
    fuzz_rec *recs = malloc(sizeof(*recs) * FUZZ_MAX_RECS);
    fuzz_buf *edited = calloc(FUZZ_MAX_RECS, sizeof(*edited)); /* a payload replaced by an edit */
    if (!recs || !edited)
        abort();
    size_t n = fuzz_trace_split(seed, recs, FUZZ_MAX_RECS);
    unsigned ops = 1 + (unsigned)fuzz_below(r, 3);
    for (unsigned o = 0; o < ops && n; o++) {
        size_t k = fuzz_below(r, n);
        switch (fuzz_below(r, 8)) {
        case 0: /* drop a record */
            fuzz_buf_free(&edited[k]);
            memmove(&recs[k], &recs[k + 1], (n - k - 1) * sizeof(*recs));
            memmove(&edited[k], &edited[k + 1], (n - k - 1) * sizeof(*edited));
            memset(&edited[n - 1], 0, sizeof(*edited));
            n--;
            break;
        case 1: /* duplicate a record (its original bytes) */
            if (n < FUZZ_MAX_RECS) {
                size_t j = fuzz_below(r, n + 1);
                memmove(&recs[j + 1], &recs[j], (n - j) * sizeof(*recs));
                memmove(&edited[j + 1], &edited[j], (n - j) * sizeof(*edited));
                memset(&edited[j], 0, sizeof(*edited));
                recs[j] = recs[k < j ? k : k + 1];
                n++;
            }
            break;
        case 2: { /* swap two records */
            size_t j = fuzz_below(r, n);
            fuzz_rec t = recs[k];
            recs[k] = recs[j];
            recs[j] = t;
            fuzz_buf e = edited[k];
            edited[k] = edited[j];
            edited[j] = e;
            break;
        }
        case 3: /* another type, same payload */
            recs[k].type = (uint8_t)(fuzz_below(r, 4) ? 1 + fuzz_below(r, TRACE_REC_NTYPES - 1)
                                                      : fuzz_next(r));
            break;
        case 4: { /* a record of another trace in place of this one */
            const fuzz_buf *os = fuzz_other(r, c);
            fuzz_rec tmp[64];
            size_t m = fuzz_trace_split(os, tmp, 64);
            if (m) {
                fuzz_buf_free(&edited[k]);
                recs[k] = tmp[fuzz_below(r, m)];
                /* its bytes live in the corpus, which outlives this call */
            }
            break;
        }
        case 5: /* truncate the record list */
            for (size_t j = k + 1; j < n; j++)
                fuzz_buf_free(&edited[j]);
            n = k + 1;
            break;
        default: /* havoc inside one payload */
            if (!edited[k].data)
                fuzz_buf_set(&edited[k], recs[k].p, recs[k].len);
            fuzz_havoc(r, &edited[k], c);
            break;
        }
    }
    out->len = 0;
    fuzz_buf_insert(out, 0, (const uint8_t *)TRACE_MAGIC, 8);
    for (size_t k = 0; k < n; k++) {
        if (edited[k].data)
            fuzz_trace_frame(out, recs[k].type, edited[k].data, edited[k].len);
        else
            fuzz_trace_frame(out, recs[k].type, recs[k].p, recs[k].len);
        fuzz_buf_free(&edited[k]);
        if (out->len > FUZZ_MAX_LEN)
            break;
    }
    for (size_t k = 0; k < n; k++)
        fuzz_buf_free(&edited[k]); /* those left by an early stop */
    free(edited);
    free(recs);
}

/* ---- one input per target ------------------------------------------------- */

/* The next input of target t into out: a mutated seed (sometimes the seed
 * itself, so the accepting paths stay covered). */
static inline void fuzz_make_input(fuzz_rng *r, fuzz_target t, const fuzz_corpus *c, fuzz_buf *out)
{
    const fuzz_buf *seed = &c->seed[fuzz_below(r, c->n)];
    unsigned how = (unsigned)fuzz_below(r, 64);
    if (how == 0) {
        fuzz_buf_set(out, seed->data, seed->len);
    } else if (t == FUZZ_TRACE && how < 48) {
        fuzz_trace_mutate(r, out, seed, c);
    } else if (t == FUZZ_SCENARIO && how < 48) {
        fuzz_buf_set(out, seed->data, seed->len);
        unsigned steps = 1u << fuzz_below(r, 3);
        for (unsigned k = 0; k < steps; k++)
            fuzz_text_step(r, out, c);
    } else if (t == FUZZ_KVM && how < 48) {
        fuzz_buf_set(out, seed->data, seed->len);
        unsigned steps = 1u << fuzz_below(r, 3);
        for (unsigned k = 0; k < steps; k++)
            fuzz_kvm_step(r, out, c);
    } else if (t == FUZZ_ELF && how < 40) {
        fuzz_buf_set(out, seed->data, seed->len);
        unsigned steps = 1u << fuzz_below(r, 2);
        for (unsigned k = 0; k < steps; k++)
            fuzz_elf_step(r, out);
    } else {
        fuzz_buf_set(out, seed->data, seed->len);
        fuzz_havoc(r, out, c);
        if (t == FUZZ_TRACE && how >= 56)
            fuzz_trace_fix_checks(out->data, out->len);
    }
    if (out->len > FUZZ_MAX_LEN)
        out->len = FUZZ_MAX_LEN;
}

/* ---- running the parsers -------------------------------------------------- */

typedef struct fuzz_ctx {
    trace_file *trace;
    emu_scenario *scn;
    cpu_phys phys;
    bool phys_ok;
    char elf_path[4096];
    int elf_fd;
    char scn_path[4096]; /* every 8th scenario goes through emu_scenario_load */
    int scn_fd;
    uint64_t scn_count;
    char kvm_path[4096]; /* the KVM importer reads a file */
    int kvm_fd;
    emu_kvm_log *kvm_log;
    emu_kvm_import *kvm_imp;
    fuzz_buf text;
    FILE *devnull;
    char err[FUZZ_ERRLEN];
} fuzz_ctx;

/* Where the temporary input files go: memory-backed when the host has
 * /dev/shm (a truncate and rewrite of a disk file per input costs more
 * than the parse), else $TMPDIR, else /tmp. */
static inline const char *fuzz_tmpdir(void)
{
    if (access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

/* tmpdir holds the temporary files the ELF and scenario-file targets load. */
static inline bool fuzz_ctx_init(fuzz_ctx *x, const char *tmpdir)
{
    memset(x, 0, sizeof(*x));
    x->elf_fd = -1;
    x->scn_fd = -1;
    x->kvm_fd = -1;
    x->kvm_log = calloc(1, sizeof(*x->kvm_log));
    x->kvm_imp = calloc(1, sizeof(*x->kvm_imp));
    x->trace = calloc(1, sizeof(*x->trace));
    x->scn = calloc(1, sizeof(*x->scn));
    x->devnull = fopen("/dev/null", "w");
    snprintf(x->elf_path, sizeof(x->elf_path), "%s/fuzz-input-XXXXXX.elf", tmpdir);
    x->elf_fd = mkstemps(x->elf_path, 4);
    snprintf(x->scn_path, sizeof(x->scn_path), "%s/fuzz-input-XXXXXX.scn", tmpdir);
    x->scn_fd = mkstemps(x->scn_path, 4);
    snprintf(x->kvm_path, sizeof(x->kvm_path), "%s/fuzz-input-XXXXXX.txt", tmpdir);
    x->kvm_fd = mkstemps(x->kvm_path, 4);
    x->phys_ok = cpu_phys_init(&x->phys, FUZZ_ELF_RAM, 0);
    return x->trace && x->scn && x->devnull && x->elf_fd >= 0 && x->scn_fd >= 0 &&
           x->kvm_fd >= 0 && x->kvm_log && x->kvm_imp && x->phys_ok;
}

static inline void fuzz_ctx_free(fuzz_ctx *x)
{
    free(x->trace);
    free(x->scn);
    free(x->kvm_log);
    free(x->kvm_imp);
    if (x->devnull)
        fclose(x->devnull);
    if (x->elf_fd >= 0) {
        close(x->elf_fd);
        unlink(x->elf_path);
    }
    if (x->scn_fd >= 0) {
        close(x->scn_fd);
        unlink(x->scn_path);
    }
    if (x->kvm_fd >= 0) {
        close(x->kvm_fd);
        unlink(x->kvm_path);
    }
    if (x->phys_ok)
        cpu_phys_free(&x->phys);
    fuzz_buf_free(&x->text);
}

typedef enum fuzz_verdict { FUZZ_REJECTED, FUZZ_ACCEPTED, FUZZ_BROKEN } fuzz_verdict;

/* The contract on a refusal: a message, and it names the file. */
static inline fuzz_verdict fuzz_check_refusal(fuzz_ctx *x, const char *name)
{
    if (!memchr(x->err, 0, sizeof(x->err)))
        return FUZZ_BROKEN;
    if (x->err[0] == 0 || strncmp(x->err, name, strlen(name)) != 0)
        return FUZZ_BROKEN;
    return FUZZ_REJECTED;
}

static inline bool fuzz_write_file(fuzz_ctx *x, int fd, const char *path, const uint8_t *d,
                                   size_t n)
{
    if (ftruncate(fd, 0) == 0 && (!n || pwrite(fd, d, n, 0) == (ssize_t)n))
        return true;
    snprintf(x->err, sizeof(x->err), "harness: cannot write %.900s", path);
    return false;
}

/* What `apicv-emu import-kvm` does with a file (emu_cli_import.c): read,
 * analyse, report, write the scenario; then the scenario must parse, as
 * `import-kvm --run` and `run` need it to. */
static inline fuzz_verdict fuzz_run_kvm(fuzz_ctx *x, const char *name, const uint8_t *d, size_t n)
{
    if (!fuzz_write_file(x, x->kvm_fd, name, d, n))
        return FUZZ_BROKEN;
    if (!emu_kvm_read(name, x->kvm_log, x->devnull, x->err, sizeof(x->err))) {
        emu_kvm_log_free(x->kvm_log);
        return fuzz_check_refusal(x, name);
    }
    emu_kvm_import_opts opts = {0};
    if (!emu_kvm_analyse(x->kvm_log, &opts, x->kvm_imp, x->err, sizeof(x->err))) {
        emu_kvm_print_summary(x->kvm_log, NULL, x->devnull);
        emu_kvm_log_free(x->kvm_log);
        return fuzz_check_refusal(x, name);
    }
    emu_kvm_print_summary(x->kvm_log, x->kvm_imp, x->devnull);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    bool wrote = out && emu_kvm_write_scenario(x->kvm_log, x->kvm_imp, out);
    if (out)
        fclose(out);
    emu_kvm_log_free(x->kvm_log);
    if (!wrote || !text) {
        free(text);
        snprintf(x->err, sizeof(x->err), "%.900s: accepted, but no scenario was written", name);
        return FUZZ_BROKEN;
    }
    char scn_err[FUZZ_ERRLEN - 100];
    bool ok = emu_scenario_parse("imported.scn", text, x->scn, scn_err, sizeof(scn_err));
    free(text);
    emu_scenario_free(x->scn);
    if (!ok) {
        snprintf(x->err, sizeof(x->err), "accepted, but the scenario written is refused: %s",
                 scn_err);
        return FUZZ_BROKEN;
    }
    return FUZZ_ACCEPTED;
}

/*
 * Feeds one input to target t. FUZZ_BROKEN when a parser refused it
 * without a proper message (x->err shows what it said) or could not be
 * run at all; a crash or a sanitizer report ends the process.
 */
static inline fuzz_verdict fuzz_run_one(fuzz_ctx *x, fuzz_target t, const uint8_t *d, size_t n)
{
    const char *name = t == FUZZ_ELF ? x->elf_path : t == FUZZ_KVM ? x->kvm_path : fuzz_input_name(t);
    memset(x->err, 0, sizeof(x->err));
    switch (t) {
    case FUZZ_TRACE:
        if (!trace_parse(name, d, n, x->trace, x->err, sizeof(x->err)))
            return fuzz_check_refusal(x, name);
        /* What `apicv-emu trace-dump` does with an accepted trace. */
        trace_dump(x->devnull, x->trace, &emu_trace_names);
        trace_file_free(x->trace);
        return FUZZ_ACCEPTED;
    case FUZZ_SCENARIO: {
        bool ok;
        if (x->scn_count++ % 8 == 7) {
            /* The file reader too: NUL bytes and sizes are its to refuse. */
            name = x->scn_path;
            if (!fuzz_write_file(x, x->scn_fd, x->scn_path, d, n))
                return FUZZ_BROKEN;
            ok = emu_scenario_load(name, x->scn, x->err, sizeof(x->err));
        } else {
            fuzz_buf_set(&x->text, d, n);
            x->text.data[n] = 0; /* the parser takes C text: NUL-terminated */
            ok = emu_scenario_parse(name, (const char *)x->text.data, x->scn, x->err,
                                    sizeof(x->err));
        }
        if (!ok) {
            fuzz_verdict v = fuzz_check_refusal(x, name);
            emu_scenario_free(x->scn);
            return v;
        }
        emu_config cfg;
        emu_config_default(&cfg);
        emu_scenario_config(x->scn, &cfg);
        emu_scenario_free(x->scn);
        return FUZZ_ACCEPTED;
    }
    case FUZZ_ELF: {
        if (!fuzz_write_file(x, x->elf_fd, x->elf_path, d, n))
            return FUZZ_BROKEN;
        uint64_t entry = 0;
        if (!emu_load_guest(&x->phys, name, &entry, x->err, sizeof(x->err)))
            return fuzz_check_refusal(x, name);
        return FUZZ_ACCEPTED;
    }
    case FUZZ_KVM:
        return fuzz_run_kvm(x, name, d, n);
    default:
        snprintf(x->err, sizeof(x->err), "harness: no target %u", (unsigned)t);
        return FUZZ_BROKEN;
    }
}

/* Loads target t's seeds: source_dir's traces/recorded, scenarios and
 * tests/import (KVM traces), guest_dir's images. Returns the number of seeds. */
static inline unsigned fuzz_load_seeds(fuzz_corpus *c, fuzz_target t, const char *source_dir,
                                       const char *guest_dir)
{
    char dir[4096];
    memset(c, 0, sizeof(*c));
    switch (t) {
    case FUZZ_TRACE:
        snprintf(dir, sizeof(dir), "%s/traces/recorded", source_dir);
        return fuzz_corpus_add_dir(c, dir, ".trace");
    case FUZZ_SCENARIO:
        snprintf(dir, sizeof(dir), "%s/scenarios", source_dir);
        return fuzz_corpus_add_dir(c, dir, ".scn");
    case FUZZ_ELF:
        return fuzz_corpus_add_dir(c, guest_dir, ".elf");
    case FUZZ_KVM:
        snprintf(dir, sizeof(dir), "%s/tests/import", source_dir);
        return fuzz_corpus_add_dir(c, dir, ".txt");
    default:
        return 0;
    }
}

typedef struct fuzz_stats {
    uint64_t inputs, accepts, rejects, broken;
    uint64_t bytes;
} fuzz_stats;

#endif
