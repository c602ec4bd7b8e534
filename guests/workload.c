/*
 * workload.c — the C workload guest: CRC32, heap sort, prime sieve, strings.
 *
 * vCPU 0 runs the four steps of workload_algos.h, prints each result next
 * to the value the host computed natively from the same code at build time
 * (workload_expected.h, generated), then one summary line
 *     workload: crc32=... sort=... sieve=COUNT:SUM strings=... OK
 * and exits 0 when all four agree, GUEST_FAIL (16) otherwise. Other vCPUs
 * return at once and park. Size: WL_SCALE (see workload_algos.h).
 */
#include "guest.h"
#include "workload_algos.h"
#include "workload_expected.h"

#if WL_EXPECT_CRC_BYTES != WL_CRC_BYTES || WL_EXPECT_SORT_N != WL_SORT_N || \
    WL_EXPECT_SIEVE_LIMIT != WL_SIEVE_LIMIT || WL_EXPECT_STR_ROUNDS != WL_STR_ROUNDS
#error "workload_expected.h was generated for other workload sizes"
#endif

static uint8_t crc_buf[WL_CRC_BYTES];
static uint32_t sort_buf[WL_SORT_N];
static uint8_t sieve_buf[WL_SIEVE_LIMIT];
static char pool[WL_STR_POOL];

static int report(const char *step, uint64_t got, uint64_t expected)
{
    int ok = got == expected;
    printf("workload: %-7s %#llx (expected %#llx) %s\n", step, (unsigned long long)got,
           (unsigned long long)expected, ok ? "ok" : "MISMATCH");
    return ok;
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    struct wl_buffers b = {crc_buf, sort_buf, sieve_buf, pool};
    struct wl_results r;
    int ok = 1;

    wl_step_crc(&r, &b);
    ok &= report("crc32", r.crc32, WL_EXPECT_CRC32);
    wl_step_sort(&r, &b);
    ok &= report("sort", r.sort, WL_EXPECT_SORT);
    wl_step_sieve(&r, &b);
    ok &= report("sieve", r.sieve_count, WL_EXPECT_SIEVE_COUNT);
    ok &= report("sum", r.sieve_sum, WL_EXPECT_SIEVE_SUM);
    wl_step_strings(&r, &b);
    ok &= report("strings", r.strings, WL_EXPECT_STRINGS);

    printf(WL_LINE_FMT " %s\n", (unsigned)r.crc32, (unsigned)r.sort, (unsigned)r.sieve_count,
           (unsigned long long)r.sieve_sum, (unsigned)r.strings, ok ? "OK" : "MISMATCH");
    return ok ? GUEST_OK : GUEST_FAIL;
}
