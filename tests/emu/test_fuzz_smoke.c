/*
 * test_fuzz_smoke.c — a short, fixed run of the input fuzzer
 * (tests/fuzz/fuzz_mutate.h) over the four input parsers, so that
 * `make test` and `make asan` exercise what `make fuzz` does for longer:
 * a malformed trace, scenario file, guest ELF or KVM trace to import is
 * refused with a message naming the file, never a crash (under ASan+UBSan any memory error or
 * undefined behaviour fails the test too).
 */
#include <check.h>
#include <sys/wait.h>

#include "emu/emu_multiboot.h"
#include "tests/fuzz/fuzz_mutate.h"

#define SMOKE_INPUTS 2000u
#define SMOKE_SEED 20261126u

/* Runs `count` inputs of target t from seed; fails on a broken contract. */
static fuzz_stats smoke_run(fuzz_target t, uint64_t seed, unsigned count)
{
    fuzz_corpus *c = calloc(1, sizeof(*c));
    fuzz_ctx *x = calloc(1, sizeof(*x));
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_gt(fuzz_load_seeds(c, t, APICV_SOURCE_DIR, APICV_GUEST_DIR), 0);
    ck_assert(fuzz_ctx_init(x, fuzz_tmpdir()));
    fuzz_rng r;
    fuzz_rng_seed(&r, seed, t);
    fuzz_stats st = {0};
    fuzz_buf in = {0};
    for (unsigned i = 0; i < count; i++) {
        fuzz_make_input(&r, t, c, &in);
        fuzz_verdict v = fuzz_run_one(x, t, in.data, in.len);
        ck_assert_msg(v != FUZZ_BROKEN, "%s input %u (seed %llu, %zu bytes): refused without a "
                      "message naming the file: \"%s\"", fuzz_target_name(t), i,
                      (unsigned long long)seed, in.len, x->err);
        st.inputs++;
        st.bytes += in.len;
        st.accepts += v == FUZZ_ACCEPTED;
        st.rejects += v == FUZZ_REJECTED;
    }
    fuzz_buf_free(&in);
    fuzz_ctx_free(x);
    fuzz_corpus_free(c);
    free(x);
    free(c);
    return st;
}

/* The unmutated seeds are good inputs: each parser accepts every one. */
START_TEST(test_seeds_accepted)
{
    for (unsigned t = 0; t < FUZZ_NTARGETS; t++) {
        fuzz_corpus *c = calloc(1, sizeof(*c));
        fuzz_ctx *x = calloc(1, sizeof(*x));
        ck_assert(fuzz_ctx_init(x, fuzz_tmpdir()));
        unsigned n = fuzz_load_seeds(c, (fuzz_target)t, APICV_SOURCE_DIR, APICV_GUEST_DIR);
        ck_assert_msg(n > 0, "no seeds for %s", fuzz_target_name(t));
        for (unsigned k = 0; k < n; k++)
            ck_assert_msg(fuzz_run_one(x, (fuzz_target)t, c->seed[k].data, c->seed[k].len) ==
                              FUZZ_ACCEPTED,
                          "seed %s refused: %s", c->name[k], x->err);
        fuzz_ctx_free(x);
        fuzz_corpus_free(c);
        free(x);
        free(c);
    }
}
END_TEST

/* Hand-made bad inputs: refused, with a message that names the file. */
START_TEST(test_known_bad_refused)
{
    fuzz_corpus *c = calloc(1, sizeof(*c));
    fuzz_ctx *x = calloc(1, sizeof(*x));
    ck_assert(fuzz_ctx_init(x, fuzz_tmpdir()));

    ck_assert_uint_gt(fuzz_load_seeds(c, FUZZ_TRACE, APICV_SOURCE_DIR, APICV_GUEST_DIR), 0);
    const fuzz_buf *tr = &c->seed[0];
    ck_assert_uint_gt(tr->len, 100);
    ck_assert_int_eq(fuzz_run_one(x, FUZZ_TRACE, tr->data, 0), FUZZ_REJECTED);
    ck_assert_int_eq(fuzz_run_one(x, FUZZ_TRACE, tr->data, 100), FUZZ_REJECTED); /* truncated */
    ck_assert_ptr_nonnull(strstr(x->err, "fuzz-input.trace"));
    fuzz_buf b = {0};
    fuzz_buf_set(&b, tr->data, tr->len);
    b.data[b.len / 2] ^= 0x40; /* one flipped bit: the record check catches it */
    ck_assert_int_eq(fuzz_run_one(x, FUZZ_TRACE, b.data, b.len), FUZZ_REJECTED);
    fuzz_corpus_free(c);

    static const char *const bad_scn[] = {"", "apicv-scenario 2\n",
                                          "apicv-scenario 1\nbogus line\n",
                                          "apicv-scenario 1\ncpus 99999999999999999999999\n"};
    for (unsigned k = 0; k < sizeof(bad_scn) / sizeof(bad_scn[0]); k++) {
        fuzz_verdict v = fuzz_run_one(x, FUZZ_SCENARIO, (const uint8_t *)bad_scn[k],
                                      strlen(bad_scn[k]));
        ck_assert_msg(v == FUZZ_REJECTED, "scenario \"%s\": verdict %d, message \"%s\"",
                      bad_scn[k], v, x->err);
    }

    ck_assert_uint_gt(fuzz_load_seeds(c, FUZZ_ELF, APICV_SOURCE_DIR, APICV_GUEST_DIR), 0);
    fuzz_buf_set(&b, c->seed[0].data, c->seed[0].len);
    b.data[0] = 0; /* bad magic */
    ck_assert_int_eq(fuzz_run_one(x, FUZZ_ELF, b.data, b.len), FUZZ_REJECTED);
    ck_assert_ptr_nonnull(strstr(x->err, "magic"));
    ck_assert_int_eq(fuzz_run_one(x, FUZZ_ELF, c->seed[0].data, 63), FUZZ_REJECTED); /* truncated */
    fuzz_buf_free(&b);
    fuzz_corpus_free(c);

    /* The KVM importer: nothing but a header, or events that name no vCPU. */
    static const char *const bad_kvm[] = {
        "", "# tracer: nop\n#\n",
        " qemu-kvm-1 [000] 1.000000: kvm_apic_accept_irq: apicid 0 vec 300 (Fixed|edge)\n",
        " qemu-kvm-1 [000] 1.000000: sched_switch: prev=a next=b\n"};
    for (unsigned k = 0; k < sizeof(bad_kvm) / sizeof(bad_kvm[0]); k++) {
        fuzz_verdict v = fuzz_run_one(x, FUZZ_KVM, (const uint8_t *)bad_kvm[k],
                                      strlen(bad_kvm[k]));
        ck_assert_msg(v == FUZZ_REJECTED, "KVM trace \"%s\": verdict %d, message \"%s\"",
                      bad_kvm[k], v, x->err);
        ck_assert_ptr_nonnull(strstr(x->err, x->kvm_path));
    }
    fuzz_ctx_free(x);
    free(x);
    free(c);
}
END_TEST

/* The same seed gives the same inputs; another seed gives others. */
START_TEST(test_deterministic)
{
    fuzz_corpus *c = calloc(1, sizeof(*c));
    ck_assert_uint_gt(fuzz_load_seeds(c, FUZZ_TRACE, APICV_SOURCE_DIR, APICV_GUEST_DIR), 0);
    uint64_t h[3] = {0, 0, 0};
    const uint64_t seeds[3] = {7, 7, 8};
    fuzz_buf in = {0};
    for (unsigned run = 0; run < 3; run++) {
        fuzz_rng r;
        fuzz_rng_seed(&r, seeds[run], FUZZ_TRACE);
        for (unsigned i = 0; i < 200; i++) {
            fuzz_make_input(&r, FUZZ_TRACE, c, &in);
            h[run] = h[run] * 31 + trace_fnv1a64(in.data, in.len);
        }
    }
    ck_assert_uint_eq(h[0], h[1]);
    ck_assert_uint_ne(h[0], h[2]);
    fuzz_buf_free(&in);
    fuzz_corpus_free(c);
    free(c);
}
END_TEST

/* Each parser: SMOKE_INPUTS mutated inputs, every one accepted or refused
 * properly, and both outcomes seen (the mutations reach past the first
 * check and the seeds still parse). */
static void smoke_target(fuzz_target t)
{
    fuzz_stats st = smoke_run(t, SMOKE_SEED, SMOKE_INPUTS);
    ck_assert_uint_eq(st.inputs, SMOKE_INPUTS);
    ck_assert_uint_eq(st.accepts + st.rejects, SMOKE_INPUTS);
    ck_assert_uint_gt(st.accepts, 0);
    /* The KVM importer skips malformed lines (docs/import-kvm.md): it
     * refuses only a file with no usable event, so most inputs are
     * accepted and each accepted one went through to a parsed scenario. */
    if (t == FUZZ_KVM) {
        ck_assert_uint_gt(st.accepts, SMOKE_INPUTS / 2);
        ck_assert_uint_gt(st.rejects, 0);
        return;
    }
    ck_assert_uint_gt(st.rejects, SMOKE_INPUTS / 4);
}

START_TEST(test_fuzz_trace)
{
    smoke_target(FUZZ_TRACE);
}
END_TEST

START_TEST(test_fuzz_scenario)
{
    smoke_target(FUZZ_SCENARIO);
}
END_TEST

START_TEST(test_fuzz_elf)
{
    smoke_target(FUZZ_ELF);
}
END_TEST

START_TEST(test_fuzz_kvm)
{
    smoke_target(FUZZ_KVM);
}
END_TEST

/* The command line: the first refused inputs of each target, given to
 * apicv-emu as files, end with exit status 2 and a message naming the file. */
START_TEST(test_cli_exit_status)
{
    static const char *const ext[FUZZ_NTARGETS] = {".trace", ".scn", ".elf", ".txt"};
    static const char *const cmd[FUZZ_NTARGETS] = {"trace-dump", "run --headless --quiet",
                                                   "run --headless --quiet",
                                                   "import-kvm -o /dev/null"};
    fuzz_corpus *c = calloc(1, sizeof(*c));
    fuzz_ctx *x = calloc(1, sizeof(*x));
    ck_assert(fuzz_ctx_init(x, fuzz_tmpdir()));
    fuzz_buf in = {0};
    char file[512], errfile[512], line[8192];
    snprintf(errfile, sizeof(errfile), "%s/fuzz-smoke-%d.err", fuzz_tmpdir(), (int)getpid());
    for (unsigned t = 0; t < FUZZ_NTARGETS; t++) {
        ck_assert_uint_gt(fuzz_load_seeds(c, (fuzz_target)t, APICV_SOURCE_DIR, APICV_GUEST_DIR), 0);
        snprintf(file, sizeof(file), "%s/fuzz-smoke-%d%s", fuzz_tmpdir(), (int)getpid(), ext[t]);
        fuzz_rng r;
        fuzz_rng_seed(&r, SMOKE_SEED, t);
        unsigned tried = 0;
        for (unsigned i = 0; i < 2000 && tried < 4; i++) {
            fuzz_make_input(&r, (fuzz_target)t, c, &in);
            if (fuzz_run_one(x, (fuzz_target)t, in.data, in.len) != FUZZ_REJECTED)
                continue;
            FILE *f = fopen(file, "wb");
            ck_assert_ptr_nonnull(f);
            ck_assert_uint_eq(fwrite(in.data, 1, in.len, f), in.len);
            fclose(f);
            /* `run` boots an image with a Multiboot header as a kernel
             * (docs/multiboot.md), not by the ABI loader that refused it:
             * a mutated guests/multiboot kernel may boot and spin. */
            if (t == FUZZ_ELF && emu_multiboot_detect(file))
                continue;
            snprintf(line, sizeof(line), "'%s' %s '%s' >/dev/null 2>'%s'", APICV_EMU, cmd[t], file,
                     errfile);
            int st = system(line);
            ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2,
                          "%s input %u: apicv-emu %s exited with %d, not 2", fuzz_target_name(t),
                          i, cmd[t], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            f = fopen(errfile, "r");
            ck_assert_ptr_nonnull(f);
            size_t n = fread(line, 1, sizeof(line) - 1, f);
            line[n] = 0;
            fclose(f);
            ck_assert_msg(strstr(line, file) != NULL, "%s input %u: message \"%s\" does not name %s",
                          fuzz_target_name(t), i, line, file);
            tried++;
        }
        ck_assert_uint_eq(tried, 4);
        unlink(file);
        fuzz_corpus_free(c);
    }
    unlink(errfile);
    fuzz_buf_free(&in);
    fuzz_ctx_free(x);
    free(x);
    free(c);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Neighbouring seeds and streams give unrelated numbers: the first 256
 * numbers of seeds 1..32 x streams 0..2 are all distinct (with the state a
 * linear function of the seed, seed s + 1 repeated seed s shifted by one). */
START_TEST(test_rng_streams_do_not_overlap)
{
    enum { SEEDS = 32, STREAMS = 3, N = 256 };
    uint64_t *all = malloc(sizeof(uint64_t) * SEEDS * STREAMS * N);
    ck_assert_ptr_nonnull(all);
    size_t n = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++)
        for (unsigned st = 0; st < STREAMS; st++) {
            fuzz_rng r;
            fuzz_rng_seed(&r, seed, st);
            for (unsigned i = 0; i < N; i++)
                all[n++] = fuzz_next(&r);
        }
    qsort(all, n, sizeof(all[0]), cmp_u64);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(all[i] != all[i - 1], "number %#llx comes twice",
                      (unsigned long long)all[i]);
    free(all);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fuzz_smoke");
    TCase *tc = tcase_create("parsers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rng_streams_do_not_overlap);
    tcase_add_test(tc, test_seeds_accepted);
    tcase_add_test(tc, test_known_bad_refused);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_fuzz_trace);
    tcase_add_test(tc, test_fuzz_scenario);
    tcase_add_test(tc, test_fuzz_elf);
    tcase_add_test(tc, test_fuzz_kvm);
    tcase_add_test(tc, test_cli_exit_status);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
