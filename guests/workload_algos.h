/*
 * workload_algos.h — the algorithms of the workload guest, in plain C.
 *
 * No runtime, no libc: only <stddef.h> and <stdint.h>, all functions
 * static inline, all buffers passed in. The guest (workload.c) runs them
 * under the emulator; the host compiles the very same code natively:
 *   - guests/tools/workload_expected.c turns the native results into the
 *     header the guest compares its own results with (so no expected value
 *     is written by hand), and
 *   - tests/emu/test_guest_images.c checks the algorithms themselves
 *     against known facts and the C library.
 * Pure integer arithmetic with fixed-width types, so guest and host agree.
 *
 * Size: WL_SCALE (default 1) multiplies the CRC buffer, the array to sort
 * and the string rounds; at 1 the workload runs roughly 150 million guest
 * instructions (CRC ~30M, sort ~25M, sieve ~35M, strings ~60M; estimated
 * from the loop bodies, see docs/writing-guests.md). Each WL_* size may
 * also be overridden on its own with -D.
 */
#ifndef APICV_WORKLOAD_ALGOS_H
#define APICV_WORKLOAD_ALGOS_H

#include <stddef.h>
#include <stdint.h>

#ifndef WL_SCALE
#define WL_SCALE 1
#endif
#ifndef WL_CRC_BYTES
#define WL_CRC_BYTES (512u * 1024u * WL_SCALE)
#endif
#ifndef WL_SORT_N
#define WL_SORT_N (50000u * WL_SCALE)
#endif
#ifndef WL_SIEVE_LIMIT
#define WL_SIEVE_LIMIT 2000000u
#endif
#ifndef WL_STR_ROUNDS
#define WL_STR_ROUNDS (80000u * WL_SCALE)
#endif
#define WL_STR_POOL 4096u
#define WL_SEED 0x13579BDFu

/* The line the guest prints (followed by " OK\n" or " MISMATCH\n"); tests
 * format the expected values with the same string. */
#define WL_LINE_FMT "workload: crc32=%08x sort=%08x sieve=%u:%llu strings=%08x"

/* ---- building blocks ---------------------------------------------------- */

/* Numerical Recipes' 32-bit linear congruential generator. */
static inline uint32_t wl_lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state;
}

/* FNV-1a over one 32-bit word. */
static inline uint32_t wl_fnv(uint32_t h, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xFFu;
        h *= 16777619u;
    }
    return h;
}
#define WL_FNV_INIT 2166136261u

/* ---- CRC32 --------------------------------------------------------------- */

static inline void wl_fill_bytes(uint8_t *buf, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(wl_lcg(&seed) >> 24);
}

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), one bit at a time. */
static inline uint32_t wl_crc32(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ---- sorting ------------------------------------------------------------- */

static inline void wl_fill_u32(uint32_t *a, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        a[i] = wl_lcg(&seed) ^ (wl_lcg(&seed) >> 16);
}

static inline void wl_sift_down(uint32_t *a, size_t root, size_t n)
{
    uint32_t v = a[root];
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            break;
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[child] <= v)
            break;
        a[root] = a[child];
        root = child;
    }
    a[root] = v;
}

/* Heap sort, ascending: no recursion, so it fits a 16 KiB guest stack. */
static inline void wl_heapsort(uint32_t *a, size_t n)
{
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        wl_sift_down(a, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        wl_sift_down(a, 0, end);
    }
}

static inline int wl_is_sorted(const uint32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return 0;
    return 1;
}

/* Order-sensitive digest of an array. */
static inline uint32_t wl_array_digest(const uint32_t *a, size_t n)
{
    uint32_t h = WL_FNV_INIT;
    for (size_t i = 0; i < n; i++)
        h = wl_fnv(h, a[i]);
    return h;
}

/* ---- prime sieve --------------------------------------------------------- */

/* Sieve of Eratosthenes over [0, limit) in a byte array of limit bytes
 * (composite[i] = 1 when i is not prime). Returns the number of primes below
 * limit and their sum in *sum. */
static inline uint32_t wl_sieve(uint8_t *composite, uint32_t limit, uint64_t *sum)
{
    uint32_t count = 0;
    uint64_t s = 0;
    for (uint32_t i = 0; i < limit; i++)
        composite[i] = 0;
    for (uint32_t i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        count++;
        s += i;
        for (uint64_t j = (uint64_t)i * i; j < limit; j += i)
            composite[j] = 1;
    }
    if (sum)
        *sum = s;
    return count;
}

/* ---- strings ------------------------------------------------------------- */

static inline size_t wl_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static inline int wl_strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (int)(unsigned char)*a - (int)(unsigned char)*b;
}

static inline void wl_memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

/* Decimal digits of v at out (NUL-terminated); returns the length. */
static inline size_t wl_utoa(uint32_t v, char *out)
{
    char tmp[12];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* out = prefix "-" a "-" b (out must hold 40 bytes); returns the length. */
static inline size_t wl_build_key(char *out, const char *prefix, uint32_t a, uint32_t b)
{
    char num[12];
    size_t len = wl_strlen(prefix);
    wl_memcpy(out, prefix, len);
    out[len++] = '-';
    size_t k = wl_utoa(a, num);
    wl_memcpy(out + len, num, k);
    len += k;
    out[len++] = '-';
    k = wl_utoa(b, num);
    wl_memcpy(out + len, num, k + 1);
    return len + k;
}

/*
 * Builds pairs of keys, compares them, keeps the greatest key seen and
 * appends every key to a comma-separated pool (pool_size bytes), measuring
 * the pool with strlen whenever it fills. Returns a digest of everything
 * observed: comparison outcomes, lengths, the greatest key.
 */
static inline uint32_t wl_strings(char *pool, size_t pool_size, uint32_t rounds, uint32_t seed)
{
    static const char *const prefixes[4] = {"alpha", "beta", "gamma", "delta"};
    char a[40], b[40], best[40];
    uint32_t h = WL_FNV_INIT;
    size_t used = 0;
    best[0] = '\0';
    pool[0] = '\0';
    for (uint32_t r = 0; r < rounds; r++) {
        uint32_t x = wl_lcg(&seed);
        uint32_t y = wl_lcg(&seed);
        size_t la = wl_build_key(a, prefixes[x >> 30], x % 100000u, r);
        size_t lb = wl_build_key(b, prefixes[y >> 30], y % 100000u, r ^ 1u);
        int c = wl_strcmp(a, b);
        h = wl_fnv(h, c < 0 ? 1u : c > 0 ? 2u : 3u);
        h = wl_fnv(h, (uint32_t)(la * 64u + lb));
        if (wl_strcmp(a, best) > 0)
            wl_memcpy(best, a, la + 1);
        if (used + la + 2 > pool_size) {
            h = wl_fnv(h, (uint32_t)wl_strlen(pool));
            used = 0;
            pool[0] = '\0';
        }
        wl_memcpy(pool + used, a, la);
        used += la;
        pool[used++] = ',';
        pool[used] = '\0';
    }
    h = wl_fnv(h, (uint32_t)wl_strlen(pool));
    for (size_t i = 0; best[i]; i++)
        h = wl_fnv(h, (uint8_t)best[i]);
    return h;
}

/* ---- the whole workload -------------------------------------------------- */

struct wl_buffers {
    uint8_t *crc_buf;    /* WL_CRC_BYTES */
    uint32_t *sort_buf;  /* WL_SORT_N */
    uint8_t *sieve_buf;  /* WL_SIEVE_LIMIT */
    char *pool;          /* WL_STR_POOL */
};

struct wl_results {
    uint32_t crc32;
    uint32_t sort;        /* digest of the sorted array (0 if it came out unsorted) */
    uint32_t sieve_count; /* primes below WL_SIEVE_LIMIT */
    uint64_t sieve_sum;   /* their sum */
    uint32_t strings;
};

static inline void wl_step_crc(struct wl_results *r, const struct wl_buffers *b)
{
    wl_fill_bytes(b->crc_buf, WL_CRC_BYTES, WL_SEED);
    r->crc32 = wl_crc32(b->crc_buf, WL_CRC_BYTES);
}

static inline void wl_step_sort(struct wl_results *r, const struct wl_buffers *b)
{
    wl_fill_u32(b->sort_buf, WL_SORT_N, WL_SEED + 1u);
    wl_heapsort(b->sort_buf, WL_SORT_N);
    r->sort = wl_is_sorted(b->sort_buf, WL_SORT_N) ? wl_array_digest(b->sort_buf, WL_SORT_N) : 0;
}

static inline void wl_step_sieve(struct wl_results *r, const struct wl_buffers *b)
{
    r->sieve_count = wl_sieve(b->sieve_buf, WL_SIEVE_LIMIT, &r->sieve_sum);
}

static inline void wl_step_strings(struct wl_results *r, const struct wl_buffers *b)
{
    r->strings = wl_strings(b->pool, WL_STR_POOL, WL_STR_ROUNDS, WL_SEED + 2u);
}

#endif
