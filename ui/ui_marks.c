/*
 * ui_marks.c — the timeline's marks of the whole run, and its zoom and pan.
 *
 * The recorder keeps every mark of the run in a store sorted by event
 * number, bounded by UI_MARKS_MAX (18 MiB): when it is full, every other
 * mark goes and from then on only one mark in `stride` (2, 4, ...) is
 * kept, so the whole run stays on the timeline, evenly thinned; the newest
 * UI_TL_RECENT marks are kept in full besides (the recorder's ring). The
 * store survives a restart and a jump back (ui_recorder_rewind): the run is
 * deterministic, the same marks come again and are not stored twice, and
 * the marks after the moment on screen stay there to be clicked.
 *
 * A snapshot carries only the marks of the span on screen (at most
 * UI_TIMELINE, an even sample when more fall in it), chosen here from the
 * viewer's ui_tl_view: following the current event (the default: the span
 * of the newest marks, or a chosen width), a fixed span (zoomed or panned),
 * or the whole run. Marks of different CPUs are not in cycle order (each
 * CPU runs its turn of a round ahead of the others), so the search keeps
 * the largest cycle so far of each stored mark and how far the cycles ever
 * went back (`disorder`).
 */
#include <stdlib.h>
#include <string.h>

#include "ui/ui.h"

/* Halves the store: the marks numbered a multiple of 2 x stride stay
 * (the store holds those numbered a multiple of stride, in order). */
static void thin(ui_recorder *r)
{
    size_t j = 0;
    for (size_t i = 0; i < r->nstore; i += 2)
        r->store[j++] = r->store[i];
    r->nstore = j;
    r->stride *= 2;
    r->disorder = 0;
    for (size_t i = 0; i < r->nstore; i++) {
        uint64_t prev = i ? r->store_maxc[i - 1] : 0, c = r->store[i].cycle;
        if (prev > c && prev - c > r->disorder)
            r->disorder = prev - c;
        r->store_maxc[i] = prev > c ? prev : c;
    }
}

void ui_marks_add(ui_recorder *r, const ui_mark *mk, uint64_t index)
{
    if (index < r->store_next)
        return; /* offered before going back: the same mark is stored already */
    r->store_next = index + 1;
    if (r->stride == 0)
        r->stride = 1;
    if (index % r->stride)
        return;
    if (r->nstore == r->capstore) {
        size_t cap = r->capstore ? r->capstore * 2 : 1024;
        if (cap > UI_MARKS_MAX)
            cap = UI_MARKS_MAX;
        ui_mark *s = r->nstore < cap ? realloc(r->store, cap * sizeof(*s)) : NULL;
        if (s)
            r->store = s;
        uint64_t *mc = s ? realloc(r->store_maxc, cap * sizeof(*mc)) : NULL;
        if (mc) {
            r->store_maxc = mc;
            r->capstore = cap;
        } else if (r->nstore == 0) {
            return; /* no memory at all: the ring still has the newest */
        } else {
            thin(r); /* full (or out of memory): keep half as many */
            if (index % r->stride)
                return;
        }
    }
    uint64_t prev = r->nstore ? r->store_maxc[r->nstore - 1] : 0;
    if (prev > mk->cycle && prev - mk->cycle > r->disorder)
        r->disorder = prev - mk->cycle;
    r->store[r->nstore] = *mk;
    r->store_maxc[r->nstore] = prev > mk->cycle ? prev : mk->cycle;
    r->nstore++;
}

/* Whether the store holds event ev_no (binary search: sorted by it). */
static bool stored(const ui_recorder *r, uint64_t ev_no)
{
    size_t lo = 0, hi = r->nstore;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->store[mid].ev_no < ev_no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nstore && r->store[lo].ev_no == ev_no;
}

static const ui_mark *recent(const ui_recorder *r, uint64_t i)
{
    uint64_t nr = r->nmarks_total < UI_TL_RECENT ? r->nmarks_total : UI_TL_RECENT;
    return &r->marks[(r->nmarks_total - nr + i) % UI_TL_RECENT];
}

/* Visits the marks with a cycle in [t0, t1] in event order: the store's
 * and the recent ones it does not hold, but those numbered in (hide_lo,
 * hide_hi]. */
typedef void (*visit_fn)(void *ctx, const ui_mark *mk);

static void visit(const ui_recorder *r, uint64_t t0, uint64_t t1, uint64_t hide_lo,
                  uint64_t hide_hi, visit_fn fn, void *ctx)
{
    size_t lo = 0, hi = r->nstore;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->store_maxc[mid] < t0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Past i, every mark's cycle is at least store_maxc[i] - disorder. */
    uint64_t stop = t1 > UINT64_MAX - r->disorder ? UINT64_MAX : t1 + r->disorder;
    uint64_t nr = r->nmarks_total < UI_TL_RECENT ? r->nmarks_total : UI_TL_RECENT;
    size_t i = lo;
    uint64_t j = 0;
    for (;;) {
        bool si = i < r->nstore && r->store_maxc[i] <= stop;
        while (j < nr && stored(r, recent(r, j)->ev_no))
            j++;
        bool rj = j < nr;
        if (!si && !rj)
            return;
        const ui_mark *mk;
        if (si && (!rj || r->store[i].ev_no < recent(r, j)->ev_no))
            mk = &r->store[i++];
        else
            mk = recent(r, j++);
        if (mk->cycle >= t0 && mk->cycle <= t1 && (mk->ev_no <= hide_lo || mk->ev_no > hide_hi))
            fn(ctx, mk);
    }
}

static void count_one(void *ctx, const ui_mark *mk)
{
    (void)mk;
    (*(uint64_t *)ctx)++;
}

typedef struct pick_ctx {
    ui_snapshot *s;
    uint64_t k, sample;
} pick_ctx;

static void pick_one(void *ctx, const ui_mark *mk)
{
    pick_ctx *p = ctx;
    bool current = mk->ev_no == p->s->ev_total;
    if ((p->k++ % p->sample == 0 || current) && p->s->nmarks < UI_TIMELINE)
        p->s->marks[p->s->nmarks++] = *mk;
}

void ui_snapshot_marks(ui_snapshot *s, const ui_recorder *rec, const ui_tl_view *tv)
{
    uint64_t cur = s->nev ? s->ev[s->nev - 1].cycle : s->now;
    uint64_t nr = rec->nmarks_total < UI_TL_RECENT ? rec->nmarks_total : UI_TL_RECENT;
    /* The run's extent: its first mark to its last (or the current event). */
    uint64_t first = cur, last = cur;
    if (rec->nstore) {
        first = rec->store[0].cycle < first ? rec->store[0].cycle : first;
        last = rec->store_maxc[rec->nstore - 1] > last ? rec->store_maxc[rec->nstore - 1] : last;
    }
    for (uint64_t i = 0; i < nr; i++) {
        uint64_t c = recent(rec, i)->cycle;
        first = c < first ? c : first;
        last = c > last ? c : last;
    }
    uint64_t t0, t1;
    if (tv && tv->whole) {
        t0 = first;
        t1 = last + (last - first) / 50 + 1;
    } else if (tv && tv->fixed && tv->span) {
        t0 = tv->t0;
        t1 = t0 + tv->span;
    } else if (tv && tv->span) {
        t1 = cur + tv->span / 50 + 1;
        t0 = t1 > tv->span ? t1 - tv->span : 0;
    } else {
        /* The newest marks up to the current event, and it. */
        t0 = t1 = cur;
        for (uint64_t i = 0; i < nr; i++) {
            const ui_mark *mk = recent(rec, i);
            if (mk->ev_no > s->ev_total)
                continue;
            t0 = mk->cycle < t0 ? mk->cycle : t0;
            t1 = mk->cycle > t1 ? mk->cycle : t1;
        }
        t1 += (t1 - t0) / 50 + 1;
    }
    s->tl_t0 = t0;
    s->tl_t1 = t1;
    s->tl_first = first;
    s->tl_last = last;
    s->tl_stride = rec->stride ? rec->stride : 1;
    /* At an event stop, the events after it up to where the machine
     * stopped (the rest of that instruction boundary) are not shown:
     * the picture is the state right after the event and nothing later.
     * Marks past the machine were seen before going back: shown, dim. */
    uint64_t hide_lo = s->ev_total, hide_hi = rec->total;
    uint64_t n = 0;
    visit(rec, t0, t1, hide_lo, hide_hi, count_one, &n);
    pick_ctx p = {s, 0, n > UI_TIMELINE ? (n + UI_TIMELINE - 1) / UI_TIMELINE : 1};
    /* Room for the current event's mark besides the sample. */
    if (n > UI_TIMELINE)
        p.sample = (n + UI_TIMELINE - 2) / (UI_TIMELINE - 1);
    s->nmarks = 0;
    s->tl_sample = (unsigned)p.sample;
    visit(rec, t0, t1, hide_lo, hide_hi, pick_one, &p);
}

/* ---- zoom and pan ----------------------------------------------------------------- */

#define TL_MIN_SPAN 20 /* cycles: closer than this, marks no longer separate */

static bool span_on_screen(const ui_view *v, uint64_t *t0, uint64_t *span)
{
    if (!v->have_snap || v->snap.tl_t1 <= v->snap.tl_t0)
        return false;
    *t0 = v->snap.tl_t0;
    *span = v->snap.tl_t1 - v->snap.tl_t0;
    return true;
}

void ui_view_tl_zoom(ui_view *v, double factor, double at, bool keep_follow)
{
    uint64_t t0, span;
    if (!span_on_screen(v, &t0, &span) || factor <= 0)
        return;
    if (at < 0)
        at = 0;
    if (at > 1)
        at = 1;
    double anchor = (double)t0 + at * (double)span;
    double ns = (double)span / factor;
    if (ns < TL_MIN_SPAN)
        ns = TL_MIN_SPAN;
    if (ns > 1e18)
        ns = 1e18;
    bool follow = keep_follow && !v->tl.fixed && !v->tl.whole;
    double n0 = anchor - at * ns;
    v->tl.whole = false;
    v->tl.fixed = !follow;
    v->tl.span = (uint64_t)ns;
    v->tl.t0 = n0 > 0 ? (uint64_t)n0 : 0;
}

void ui_view_tl_pan(ui_view *v, double frac)
{
    uint64_t t0, span;
    if (!span_on_screen(v, &t0, &span))
        return;
    double n0 = (double)t0 + frac * (double)span;
    double end = (double)v->snap.tl_last;
    if (n0 > end)
        n0 = end; /* not past the run's end: something stays on screen */
    v->tl.whole = false;
    v->tl.fixed = true;
    v->tl.span = span;
    v->tl.t0 = n0 > 0 ? (uint64_t)n0 : 0;
}

void ui_view_tl_whole(ui_view *v)
{
    memset(&v->tl, 0, sizeof(v->tl));
    v->tl.whole = true;
}

void ui_view_tl_follow(ui_view *v)
{
    memset(&v->tl, 0, sizeof(v->tl));
}
