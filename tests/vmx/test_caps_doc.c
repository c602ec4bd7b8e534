/*
 * test_caps_doc.c — the capability MSRs docs/vmx.md publishes ("Capability
 * MSRs (what is implemented)", SDM Vol. 3D appendix A) are the ones
 * vmx_capability_msr reports, which are what a guest hypervisor reads with
 * RDMSR and what the built-in hypervisor uses: every MSR 480H-491H has a
 * row, and every value of a row is the code's. A row names one MSR or two
 * ("481H / 48DH"); it gives one value for both or one each, in full or as
 * its low digits ("...00036ffb").
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmx/vmx.h"

/* The MSR numbers of a row's first cell ("483H / 48FH exit"): n of them. */
static unsigned row_msrs(const char *cell, const char *end, uint32_t msr[2])
{
    unsigned n = 0;
    for (const char *p = cell; p < end && n < 2; p++) {
        char *q;
        unsigned long v = strtoul(p, &q, 16);
        if (q > p && q < end && *q == 'H' && v >= 0x480 && v <= 0x491) {
            msr[n++] = (uint32_t)v;
            p = q;
        }
    }
    return n;
}

/* Checks one backticked value against the MSR's: in full, or its low
 * digits after "...". */
static void check_value(uint32_t msr, const char *text, size_t len, unsigned line)
{
    uint64_t want;
    ck_assert_msg(vmx_capability_msr(msr, &want), "docs/vmx.md:%u: %XH is no capability MSR",
                  line, msr);
    int partial = len > 3 && strncmp(text, "...", 3) == 0;
    const char *digits = partial ? text + 3 : text;
    size_t nd = partial ? len - 3 : len;
    char buf[24];
    ck_assert_uint_le(nd, 16);
    memcpy(buf, digits, nd);
    buf[nd] = 0;
    char *q;
    uint64_t got = strtoull(buf, &q, 16);
    ck_assert_msg(*q == 0 && nd > 0, "docs/vmx.md:%u: '%s' is not hexadecimal", line, buf);
    uint64_t mask = nd >= 16 || !partial ? ~0ull : (1ull << (4 * nd)) - 1;
    ck_assert_msg((want & mask) == got, "docs/vmx.md:%u: %XH is %016llx, the table says %s", line,
                  msr, (unsigned long long)want, buf);
}

START_TEST(table_matches_the_code)
{
    FILE *f = fopen(APICV_SOURCE_DIR "/docs/vmx.md", "r");
    ck_assert_ptr_nonnull(f);
    char line[2048];
    unsigned lineno = 0, rows = 0;
    uint32_t covered = 0; /* bit k: MSR 480H + k has a row */
    int in_section = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (strncmp(line, "## ", 3) == 0)
            in_section = strstr(line, "Capability MSRs") != NULL;
        if (!in_section || line[0] != '|')
            continue;
        char *c1 = line + 1, *c2 = strchr(c1, '|');
        if (!c2)
            continue;
        char *c3 = strchr(c2 + 1, '|');
        uint32_t msr[2];
        unsigned n = row_msrs(c1, c2, msr);
        if (!n || !c3)
            continue;
        /* The values: the backticked strings of the second cell. */
        const char *val[2];
        size_t vlen[2];
        unsigned nv = 0;
        for (char *p = strchr(c2, '`'); p && p < c3 && nv < 2;) {
            char *e = strchr(p + 1, '`');
            ck_assert_ptr_nonnull(e);
            val[nv] = p + 1;
            vlen[nv++] = (size_t)(e - p - 1);
            p = strchr(e + 1, '`');
        }
        ck_assert_msg(nv >= 1, "docs/vmx.md:%u: no value", lineno);
        for (unsigned k = 0; k < n; k++) {
            unsigned v = nv == n ? k : 0;
            check_value(msr[k], val[v], vlen[v], lineno);
            covered |= 1u << (msr[k] - 0x480);
        }
        rows++;
    }
    fclose(f);
    ck_assert_uint_ge(rows, 12);
    for (uint32_t m = 0x480; m <= 0x491; m++)
        ck_assert_msg(covered & (1u << (m - 0x480)), "docs/vmx.md has no row for %XH", m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("caps_doc");
    TCase *t = tcase_create("caps_doc");
    tcase_add_test(t, table_matches_the_code);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
