/*
 * emu_events.c — the machine's event queue on the global cycle clock.
 *
 * One binary min-heap per CPU (the CPU at whose instruction boundary an
 * event is applied). Events are ordered by cycle, then by the machine-wide
 * sequence number given at posting, so two events due at the same cycle are
 * applied in the order they were posted: the order never depends on host
 * addresses, timing or heap layout, only on what the guest did. Ties across
 * CPUs are broken by the scheduler, which gives CPUs their turns in index
 * order.
 *
 * Storage grows by doubling when an event is posted, up to EMU_EVQ_MAX
 * events: a guest that keeps raising messages due far in the future fills
 * the queue, and further pushes fail (the caller counts the drop) instead
 * of growing the emulator's memory without limit. Nothing is allocated on
 * the instruction hot path.
 */
#include <stdlib.h>
#include <string.h>

#include "emu/emu.h"

static bool before(const emu_qevent *x, const emu_qevent *y)
{
    return x->cycle != y->cycle ? x->cycle < y->cycle : x->seq < y->seq;
}

static void swap(emu_qevent *x, emu_qevent *y)
{
    emu_qevent t = *x;
    *x = *y;
    *y = t;
}

bool emu_evq_push(emu_evq *q, const emu_qevent *ev)
{
    if (q->n >= EMU_EVQ_MAX)
        return false;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        if (cap > EMU_EVQ_MAX)
            cap = EMU_EVQ_MAX;
        emu_qevent *h = realloc(q->heap, cap * sizeof(*h));
        if (!h)
            return false;
        q->heap = h;
        q->cap = cap;
    }
    size_t k = q->n++;
    q->heap[k] = *ev;
    while (k > 0) {
        size_t parent = (k - 1) / 2;
        if (!before(&q->heap[k], &q->heap[parent]))
            break;
        swap(&q->heap[k], &q->heap[parent]);
        k = parent;
    }
    return true;
}

uint64_t emu_evq_next_cycle(const emu_evq *q)
{
    return q->n ? q->heap[0].cycle : UINT64_MAX;
}

bool emu_evq_pop_due(emu_evq *q, uint64_t now, emu_qevent *out)
{
    if (q->n == 0 || q->heap[0].cycle > now)
        return false;
    *out = q->heap[0];
    q->heap[0] = q->heap[--q->n];
    size_t k = 0;
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, m = k;
        if (l < q->n && before(&q->heap[l], &q->heap[m]))
            m = l;
        if (r < q->n && before(&q->heap[r], &q->heap[m]))
            m = r;
        if (m == k)
            break;
        swap(&q->heap[k], &q->heap[m]);
        k = m;
    }
    return true;
}

void emu_evq_free(emu_evq *q)
{
    free(q->heap);
    memset(q, 0, sizeof(*q));
}
