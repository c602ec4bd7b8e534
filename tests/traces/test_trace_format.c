/*
 * test_trace_format.c — the trace format: write → read gives identical
 * records; truncated and corrupted traces are refused with a message naming
 * the file, offset and record (status 2 from trace-dump), never a crash.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traces/trace.h"

static char path[256];
static trace_header hdr;

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define NEV 300
#define NIN 5
#define NDG 4
static cpu_obs_event evs[NEV];
static trace_input ins[NIN];
static trace_digest dgs[NDG];
static const uint8_t image[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9};

/* A trace with every record type and awkward values (cycles going back
 * between CPUs, all-ones fields, zeros). */
static void write_sample(void)
{
    memset(&hdr, 0, sizeof(hdr));
    hdr.format_version = TRACE_FORMAT_VERSION;
    snprintf(hdr.emu_version, sizeof(hdr.emu_version), "0.1.0-test");
    snprintf(hdr.guest_path, sizeof(hdr.guest_path), "guests/hello.elf");
    hdr.guest_digest = trace_fnv1a64(image, sizeof(image));
    snprintf(hdr.scenario_path, sizeof(hdr.scenario_path), "x.scn");
    hdr.scenario_text = "apicv-scenario 1\nguest hello.elf\n";
    hdr.mode = 4;
    snprintf(hdr.mode_name, sizeof(hdr.mode_name), "posted");
    hdr.ncpus = 3;
    hdr.mem_bytes = 64ull << 20;
    hdr.quantum = 10000;
    hdr.max_cycles = 0;
    hdr.strict = 1;
    hdr.ncosts = 13;
    for (unsigned k = 0; k < 13; k++)
        hdr.costs[k] = (uint16_t)(k * 7 + 1);
    hdr.digest_interval = 100000;
    char err[512];
    trace_writer *w = trace_writer_open(path, &hdr, err, sizeof(err));
    ck_assert_msg(w != NULL, "%s", err);
    trace_write_guest(w, image, sizeof(image));
    for (unsigned k = 0; k < NIN; k++) {
        ins[k] = (trace_input){.post = k * 10, .cycle = k * 10 + rnd() % 1000, .cpu = (uint16_t)(k % 3),
                               .kind = 1, .a = 0x40 + k, .b = rnd(), .c = 0, .d = ~0ull};
        trace_write_input(w, &ins[k]);
    }
    uint64_t cycle = 1000;
    for (unsigned k = 0; k < NEV; k++) {
        cycle = cycle + (rnd() % 3000) - 1000; /* CPUs interleave: cycles go back too */
        evs[k] = (cpu_obs_event){.cycle = cycle, .cpu = (uint16_t)(k % 3), .kind = (uint16_t)(rnd() % 0x400),
                                 .a = rnd(), .b = k & 1 ? ~0ull : 0, .c = rnd() >> (k % 64), .d = k};
        trace_write_event(w, &evs[k]);
        if (k % (NEV / NDG) == NEV / NDG - 1) {
            trace_digest *d = &dgs[k / (NEV / NDG)];
            memset(d, 0, sizeof(*d));
            d->cycle = cycle;
            d->nparts = 6;
            for (unsigned j = 0; j < 6; j++)
                d->part[j] = (trace_part){j < 3 ? (uint16_t)j : TRACE_PART_MACHINE,
                                          (uint16_t)(j % TRACE_PART_NKINDS), rnd()};
            trace_write_digest(w, d);
        }
    }
    trace_end e = {.cycle = cycle, .exit_status = 0, .nevents = NEV, .ninputs = NIN};
    trace_write_end(w, &e);
    ck_assert_msg(trace_writer_close(w, err, sizeof(err)), "%s", err);
}

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/apicv-test-trace-%d.trace", (int)getpid());
    write_sample();
}

static void teardown(void)
{
    unlink(path);
}

static uint8_t *slurp(size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

START_TEST(round_trip_identical)
{
    trace_file t;
    char err[512];
    ck_assert_msg(trace_load(path, &t, err, sizeof(err)), "%s", err);
    ck_assert_str_eq(t.header.emu_version, "0.1.0-test");
    ck_assert_str_eq(t.header.guest_path, "guests/hello.elf");
    ck_assert_str_eq(t.header.scenario_text, hdr.scenario_text);
    ck_assert_str_eq(t.header.mode_name, "posted");
    ck_assert_uint_eq(t.header.guest_digest, hdr.guest_digest);
    ck_assert_uint_eq(t.header.ncpus, 3);
    ck_assert_uint_eq(t.header.mem_bytes, 64ull << 20);
    ck_assert_uint_eq(t.header.strict, 1);
    ck_assert_uint_eq(t.header.ncosts, 13);
    ck_assert_mem_eq(t.header.costs, hdr.costs, sizeof(hdr.costs));
    ck_assert_uint_eq(t.header.digest_interval, 100000);
    ck_assert_uint_eq(t.guest_len, sizeof(image));
    ck_assert_mem_eq(t.guest, image, sizeof(image));
    ck_assert_uint_eq(t.nevents, NEV);
    for (unsigned k = 0; k < NEV; k++) {
        const cpu_obs_event *x = &t.events[k], *y = &evs[k];
        ck_assert(x->cycle == y->cycle && x->cpu == y->cpu && x->kind == y->kind &&
                  x->a == y->a && x->b == y->b && x->c == y->c && x->d == y->d);
    }
    ck_assert_uint_eq(t.ninputs, NIN);
    for (unsigned k = 0; k < NIN; k++) {
        const trace_input *x = &t.inputs[k], *y = &ins[k];
        ck_assert(x->post == y->post && x->cycle == y->cycle && x->cpu == y->cpu &&
                  x->kind == y->kind && x->a == y->a && x->b == y->b && x->c == y->c &&
                  x->d == y->d);
    }
    ck_assert_uint_eq(t.ndigests, NDG);
    for (unsigned k = 0; k < NDG; k++) {
        ck_assert_uint_eq(t.digests[k].cycle, dgs[k].cycle);
        ck_assert_uint_eq(t.digests[k].nparts, 6);
        for (unsigned j = 0; j < 6; j++) {
            ck_assert_uint_eq(t.digests[k].part[j].cpu, dgs[k].part[j].cpu);
            ck_assert_uint_eq(t.digests[k].part[j].kind, dgs[k].part[j].kind);
            ck_assert_uint_eq(t.digests[k].part[j].value, dgs[k].part[j].value);
        }
    }
    ck_assert(t.has_end);
    ck_assert_uint_eq(t.norder, 1 + 1 + NIN + NEV + NDG + 1);
    /* Saving it again gives the same bytes. */
    size_t len1, len2;
    uint8_t *a = slurp(&len1);
    ck_assert_msg(trace_save(&t, path, err, sizeof(err)), "%s", err);
    uint8_t *b = slurp(&len2);
    ck_assert_uint_eq(len1, len2);
    ck_assert_mem_eq(a, b, len1);
    free(a);
    free(b);
    trace_file_free(&t);
}
END_TEST

START_TEST(every_truncation_refused)
{
    size_t len;
    uint8_t *b = slurp(&len);
    char err[512];
    trace_file t;
    for (size_t n = 0; n < len; n++) {
        ck_assert_msg(!trace_parse("cut.trace", b, n, &t, err, sizeof(err)), "prefix %zu accepted", n);
        ck_assert_msg(strncmp(err, "cut.trace: offset ", 18) == 0, "%s", err);
        ck_assert_msg(strstr(err, "expected") != NULL, "%s", err);
    }
    /* A cut inside the events names a record and says truncated. */
    ck_assert(!trace_parse("cut.trace", b, len / 2, &t, err, sizeof(err)));
    ck_assert_msg(strstr(err, "record #") != NULL && strstr(err, "truncated") != NULL, "%s", err);
    ck_assert(trace_parse("whole.trace", b, len, &t, err, sizeof(err)));
    trace_file_free(&t);
    free(b);
}
END_TEST

START_TEST(random_corruptions_refused_or_harmless)
{
    size_t len;
    uint8_t *b = slurp(&len);
    uint8_t *c = malloc(len + 64);
    char err[512];
    trace_file t;
    unsigned refused = 0;
    for (unsigned iter = 0; iter < 3000; iter++) {
        memcpy(c, b, len);
        size_t n = len;
        unsigned flips = 1 + rnd() % 4;
        for (unsigned k = 0; k < flips; k++)
            c[rnd() % n] ^= (uint8_t)(1 + rnd() % 255);
        if (iter % 5 == 0)
            n = rnd() % len; /* and cut */
        if (!trace_parse("fuzz.trace", c, n, &t, err, sizeof(err))) {
            refused++;
            ck_assert_msg(strncmp(err, "fuzz.trace: offset ", 19) == 0, "%s", err);
        } else {
            trace_file_free(&t);
        }
    }
    /* The check per record catches every change of payload bytes. */
    ck_assert_uint_eq(refused, 3000);
    /* Corruptions behind a valid check: a payload byte changes and the
     * check is recomputed, so the payload decoders meet the nonsense. */
    ck_assert(trace_parse("ok.trace", b, len, &t, err, sizeof(err)));
    unsigned accepted = 0;
    for (unsigned iter = 0; iter < 3000; iter++) {
        memcpy(c, b, len);
        const trace_index *o = &t.order[rnd() % t.norder];
        size_t p = (size_t)o->offset + 1, plen = 0;
        unsigned shift = 0;
        while (c[p] & 0x80) {
            plen |= (size_t)(c[p] & 0x7F) << shift;
            shift += 7;
            p++;
        }
        plen |= (size_t)c[p] << shift;
        p++;
        if (plen == 0)
            continue;
        c[p + rnd() % plen] ^= (uint8_t)(1 + rnd() % 255);
        uint32_t h = 0x811c9dc5u;
        h = (h ^ c[o->offset]) * 0x01000193u;
        for (size_t k = 0; k < plen; k++)
            h = (h ^ c[p + k]) * 0x01000193u;
        for (unsigned k = 0; k < 4; k++)
            c[p + plen + k] = (uint8_t)(h >> (8 * k));
        trace_file u;
        if (trace_parse("fuzz2.trace", c, len, &u, err, sizeof(err))) {
            accepted++;
            trace_file_free(&u);
        } else {
            ck_assert_msg(strncmp(err, "fuzz2.trace: offset ", 20) == 0, "%s", err);
            ck_assert_msg(strstr(err, "record #") != NULL, "%s", err);
        }
    }
    /* Most such changes are plausible values (a field of an event), some
     * are not (lengths, counts, versions): both kinds occur. */
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_lt(accepted, 3000);
    trace_file_free(&t);
    free(c);
    free(b);
}
END_TEST

START_TEST(bad_magic_and_version)
{
    char err[512];
    trace_file t;
    ck_assert(!trace_parse("x", (const uint8_t *)"APICVTRX", 8, &t, err, sizeof(err)));
    ck_assert_msg(strstr(err, "magic") != NULL, "%s", err);
    ck_assert(!trace_parse("x", (const uint8_t *)"APICVTRC", 8, &t, err, sizeof(err)));
    ck_assert_msg(strstr(err, "expected the header record") != NULL, "%s", err);
    /* A header of the next version (newer than this reader) with a valid check. */
    size_t len;
    uint8_t *b = slurp(&len);
    /* byte 8 = type, 9.. = length varint, then payload starting with the version */
    size_t p = 9;
    uint64_t plen = 0;
    unsigned shift = 0;
    while (b[p] & 0x80) {
        plen |= (uint64_t)(b[p] & 0x7F) << shift;
        shift += 7;
        p++;
    }
    plen |= (uint64_t)b[p] << shift;
    p++;
    b[p] = TRACE_FORMAT_VERSION + 1;
    /* Recompute the record check (FNV-1a 32 of type and payload). */
    uint32_t h = 0x811c9dc5u;
    h = (h ^ b[8]) * 0x01000193u;
    for (size_t k = 0; k < plen; k++)
        h = (h ^ b[p + k]) * 0x01000193u;
    for (unsigned k = 0; k < 4; k++)
        b[p + plen + k] = (uint8_t)(h >> (8 * k));
    ck_assert(!trace_parse("v6.trace", b, len, &t, err, sizeof(err)));
    ck_assert_msg(strstr(err, "v6.trace: offset 11, record #1 (header): expected format version 1..5, got 6") != NULL,
                  "%s", err);
    free(b);
}
END_TEST

START_TEST(dump_text_and_status)
{
    char out[300];
    snprintf(out, sizeof(out), "%s.txt", path);
    FILE *f = freopen(out, "w", stdout);
    ck_assert_ptr_nonnull(f);
    char *argv[] = {"trace-dump", path, NULL};
    int st = trace_dump_main(2, argv, NULL);
    fflush(stdout);
    ck_assert_int_eq(st, 0);
    FILE *r = fopen(out, "r");
    char line[512];
    unsigned events = 0, digests = 0, inputs = 0, ends = 0;
    while (fgets(line, sizeof(line), r)) {
        events += strncmp(line, "event cycle=", 12) == 0;
        digests += strncmp(line, "digest cycle=", 13) == 0;
        inputs += strncmp(line, "input post=", 11) == 0;
        ends += strncmp(line, "end cycle=", 10) == 0;
    }
    fclose(r);
    unlink(out);
    ck_assert_uint_eq(events, NEV);
    ck_assert_uint_eq(digests, NDG);
    ck_assert_uint_eq(inputs, NIN);
    ck_assert_uint_eq(ends, 1);
    /* A corrupted file: status 2. */
    size_t len;
    uint8_t *b = slurp(&len);
    b[len / 2] ^= 0x55;
    FILE *w = fopen(path, "wb");
    fwrite(b, 1, len, w);
    fclose(w);
    free(b);
    ck_assert_int_eq(trace_dump_main(2, argv, NULL), TRACE_EXIT_BAD);
    char *none[] = {"trace-dump", NULL};
    ck_assert_int_eq(trace_dump_main(1, none, NULL), TRACE_EXIT_BAD);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("trace_format");
    TCase *tc = tcase_create("format");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_identical);
    tcase_add_test(tc, every_truncation_refused);
    tcase_add_test(tc, random_corruptions_refused_or_harmless);
    tcase_add_test(tc, bad_magic_and_version);
    tcase_add_test(tc, dump_text_and_status);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
