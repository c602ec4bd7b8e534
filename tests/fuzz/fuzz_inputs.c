/*
 * fuzz_inputs.c — the long fuzz run over the four input parsers (traces,
 * scenario files, guest ELF images, KVM traces to import): `make fuzz`, or
 *
 *   fuzz_inputs [--seconds N] [--seed S] [--iterations N] [--target T]
 *               [--source DIR] [--guests DIR] [--crash-dir DIR] [--hang-ms MS]
 *   fuzz_inputs --repro trace|scenario|elf|kvm FILE
 *
 * Deterministic: input i of a target depends only on --seed and i (each
 * target has its own random stream), so a run with the same seed replays
 * the same inputs; only where a --seconds run stops depends on the host.
 * Built best with -DAPICV_SANITIZE=ON: a sanitizer report ends the run and
 * the input that caused it is saved under --crash-dir first, as are inputs
 * that crash, hang (longer than --hang-ms) or break the contract (a refusal
 * without a message naming the file). Leaks are checked after each block
 * of inputs, which names the block.
 */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "tests/fuzz/fuzz_mutate.h"

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

#ifndef APICV_SOURCE_DIR
#define APICV_SOURCE_DIR "."
#endif
#ifndef APICV_GUEST_DIR
#define APICV_GUEST_DIR "build/guests"
#endif

#define FUZZ_BLOCK 1000u    /* inputs of one target between leak checks */
#define FUZZ_MAX_SAVED 20u  /* contract-breaking inputs saved per target */

static int target_by_name(const char *s)
{
    for (unsigned t = 0; t < FUZZ_NTARGETS; t++)
        if (strcmp(s, fuzz_target_name(t)) == 0)
            return (int)t;
    return -1;
}

#ifdef FUZZ_LIBFUZZER
/*
 * Coverage-guided mode: built with clang -fsanitize=fuzzer (and the
 * libraries with -fsanitize=fuzzer-no-link), FUZZ_TARGET=trace|scenario|elf|kvm
 * picks the parser; libFuzzer's own flags (-max_total_time=N, -seed=S,
 * corpus directories) replace --seconds and --seed.
 */
static fuzz_ctx *lf_ctx;
static int lf_target = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
size_t LLVMFuzzerMutate(uint8_t *d, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *d, size_t size, size_t max_size, unsigned int seed);

/* libFuzzer ends with exit(): the temporary input files go with it. */
static void lf_cleanup(void)
{
    fuzz_ctx_free(lf_ctx);
    free(lf_ctx);
    lf_ctx = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *t = getenv("FUZZ_TARGET");
    lf_target = t ? target_by_name(t) : -1;
    lf_ctx = malloc(sizeof(*lf_ctx));
    if (lf_target < 0 || !lf_ctx || !fuzz_ctx_init(lf_ctx, fuzz_tmpdir())) {
        fprintf(stderr, "fuzz_inputs: set FUZZ_TARGET=trace|scenario|elf|kvm\n");
        exit(2);
    }
    atexit(lf_cleanup);
    return 0;
}

/* libFuzzer's byte mutations, then fresh record checks for traces. */
size_t LLVMFuzzerCustomMutator(uint8_t *d, size_t size, size_t max_size, unsigned int seed)
{
    (void)seed;
    size_t n = LLVMFuzzerMutate(d, size, max_size);
    if (lf_target == FUZZ_TRACE && (seed & 7) != 0)
        fuzz_trace_fix_checks(d, n);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n > FUZZ_MAX_LEN)
        return -1;
    if (fuzz_run_one(lf_ctx, (fuzz_target)lf_target, d, n) == FUZZ_BROKEN) {
        fprintf(stderr, "CONTRACT BROKEN: refused without a message naming the file: \"%s\"\n",
                lf_ctx->err);
        abort();
    }
    return 0;
}
#else
/*
 * The input being parsed, for the signal handlers and the sanitizer's
 * death callback: they run where no argument can reach them. Harness state
 * only; the emulator's state stays in its structs.
 */
static struct {
    const uint8_t *data;
    size_t len;
    char path[4096];
    char what[128];
} current;

static void save_current(const char *why)
{
    if (!current.data && !current.len)
        return;
    int fd = open(current.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t done = 0;
        while (done < current.len) {
            ssize_t w = write(fd, current.data + done, current.len - done);
            if (w <= 0)
                break;
            done += (size_t)w;
        }
        close(fd);
    }
    /* async-signal-safe output only */
    const char *parts[] = {"\nfuzz: ", why, " on ", current.what, "; input saved as ",
                           current.path, "\n"};
    for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
        if (write(2, parts[k], strlen(parts[k])) < 0)
            break;
}

static void on_fatal_signal(int sig)
{
    save_current(sig == SIGALRM ? "HANG (over --hang-ms)" : "CRASH (fatal signal)");
    signal(SIGABRT, SIG_DFL);
    if (sig == SIGALRM)
        abort();
    raise(sig);
}

#ifdef FUZZ_ASAN
static void on_sanitizer_death(void)
{
    save_current("SANITIZER REPORT (above)");
}
#endif

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
#ifdef FUZZ_ASAN
    __sanitizer_set_death_callback(on_sanitizer_death);
#else
    /* Under ASan its own handler reports these and calls the callback. */
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
#endif
}

static void arm_hang_timer(unsigned ms)
{
    struct itimerval it;
    memset(&it, 0, sizeof(it));
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (long)(ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: fuzz_inputs [--seconds N] [--seed S] [--iterations N] [--target trace|scenario|elf|kvm|all]\n"
            "                   [--source DIR] [--guests DIR] [--crash-dir DIR] [--hang-ms MS]\n"
            "       fuzz_inputs --repro trace|scenario|elf|kvm FILE\n");
    return 2;
}

static int repro(const char *target, const char *file)
{
    int t = target_by_name(target);
    fuzz_corpus one;
    memset(&one, 0, sizeof(one));
    if (t < 0 || !fuzz_corpus_add_file(&one, file))
        return usage();
    fuzz_ctx *x = malloc(sizeof(*x));
    if (!x || !fuzz_ctx_init(x, fuzz_tmpdir())) {
        fprintf(stderr, "fuzz_inputs: cannot set up the harness\n");
        return 2;
    }
    install_handlers();
    current.data = one.seed[0].data;
    current.len = one.seed[0].len;
    snprintf(current.path, sizeof(current.path), "%s.again", file);
    snprintf(current.what, sizeof(current.what), "%s %s", target, file);
    fuzz_verdict v = fuzz_run_one(x, (fuzz_target)t, one.seed[0].data, one.seed[0].len);
    printf("%s: %s%s%s\n", file,
           v == FUZZ_ACCEPTED ? "accepted" : v == FUZZ_REJECTED ? "rejected: " : "CONTRACT BROKEN: ",
           v == FUZZ_ACCEPTED ? "" : x->err[0] ? x->err : "(empty message)", "");
    fuzz_ctx_free(x);
    free(x);
    fuzz_corpus_free(&one);
    return v == FUZZ_BROKEN ? 1 : 0;
}

typedef struct fuzz_lane {
    fuzz_corpus corpus;
    fuzz_rng rng;
    fuzz_stats st;
    double busy, slowest;
    uint64_t slowest_index, saved, leak_blocks;
    bool on;
} fuzz_lane;

int main(int argc, char **argv)
{
    double seconds = 60;
    uint64_t seed = 1, iterations = 0;
    unsigned hang_ms = 1000;
    const char *source = APICV_SOURCE_DIR, *guests = APICV_GUEST_DIR, *crash_dir = "/tmp/fuzz-crashes";
    int only = -1;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--repro") == 0 && i + 2 < argc)
            return repro(argv[i + 1], argv[i + 2]);
        if (!v)
            return usage();
        if (strcmp(a, "--seconds") == 0)
            seconds = strtod(v, NULL);
        else if (strcmp(a, "--seed") == 0)
            seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "--iterations") == 0)
            iterations = strtoull(v, NULL, 0);
        else if (strcmp(a, "--hang-ms") == 0)
            hang_ms = (unsigned)strtoul(v, NULL, 0);
        else if (strcmp(a, "--source") == 0)
            source = v;
        else if (strcmp(a, "--guests") == 0)
            guests = v;
        else if (strcmp(a, "--crash-dir") == 0)
            crash_dir = v;
        else if (strcmp(a, "--target") == 0) {
            if (strcmp(v, "all") != 0 && (only = target_by_name(v)) < 0)
                return usage();
        } else
            return usage();
    }
    if (mkdir(crash_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz_inputs: cannot create %s: %s\n", crash_dir, strerror(errno));
        return 2;
    }
    fuzz_lane *lanes = calloc(FUZZ_NTARGETS, sizeof(*lanes));
    fuzz_ctx *x = malloc(sizeof(*x));
    if (!lanes || !x || !fuzz_ctx_init(x, fuzz_tmpdir())) {
        fprintf(stderr, "fuzz_inputs: cannot set up the harness\n");
        return 2;
    }
    for (unsigned t = 0; t < FUZZ_NTARGETS; t++) {
        fuzz_lane *l = &lanes[t];
        if (only >= 0 && (unsigned)only != t)
            continue;
        unsigned n = fuzz_load_seeds(&l->corpus, (fuzz_target)t, source, guests);
        if (!n) {
            fprintf(stderr, "fuzz_inputs: no %s seeds (see --source %s, --guests %s)\n",
                    fuzz_target_name(t), source, guests);
            return 2;
        }
        fuzz_rng_seed(&l->rng, seed, t);
        l->on = true;
        printf("%-8s %u seeds\n", fuzz_target_name(t), n);
    }
    install_handlers();
    printf("seed %llu, %.0f s, hang limit %u ms, crashes to %s\n", (unsigned long long)seed,
           seconds, hang_ms, crash_dir);
    fflush(stdout);

    fuzz_buf in = {0};
    double start = now_seconds(), next_report = start + 5;
    bool more = true;
    while (more) {
        more = false;
        for (unsigned t = 0; t < FUZZ_NTARGETS; t++) {
            fuzz_lane *l = &lanes[t];
            if (!l->on || (iterations && l->st.inputs >= iterations))
                continue;
            if (now_seconds() - start >= seconds) {
                l->on = false;
                continue;
            }
            more = true;
            uint64_t first = l->st.inputs;
            for (unsigned k = 0; k < FUZZ_BLOCK && !(iterations && l->st.inputs >= iterations); k++) {
                fuzz_make_input(&l->rng, (fuzz_target)t, &l->corpus, &in);
                current.data = in.data;
                current.len = in.len;
                snprintf(current.path, sizeof(current.path), "%s/%s-seed%llu-n%llu.bin", crash_dir,
                         fuzz_target_name(t), (unsigned long long)seed,
                         (unsigned long long)l->st.inputs);
                snprintf(current.what, sizeof(current.what), "%s input %llu (seed %llu)",
                         fuzz_target_name(t), (unsigned long long)l->st.inputs,
                         (unsigned long long)seed);
                double t0 = now_seconds();
                arm_hang_timer(hang_ms);
                fuzz_verdict v = fuzz_run_one(x, (fuzz_target)t, in.data, in.len);
                arm_hang_timer(0);
                double dt = now_seconds() - t0;
                l->busy += dt;
                if (dt > l->slowest) {
                    l->slowest = dt;
                    l->slowest_index = l->st.inputs;
                }
                l->st.inputs++;
                l->st.bytes += in.len;
                if (v == FUZZ_ACCEPTED)
                    l->st.accepts++;
                else if (v == FUZZ_REJECTED)
                    l->st.rejects++;
                else {
                    l->st.broken++;
                    printf("CONTRACT BROKEN: %s: message \"%s\"\n", current.what, x->err);
                    if (l->saved++ < FUZZ_MAX_SAVED)
                        save_current("contract broken");
                }
            }
            current.data = NULL;
            current.len = 0;
#ifdef FUZZ_ASAN
            if (__lsan_do_recoverable_leak_check()) {
                l->leak_blocks++;
                printf("LEAK: %s inputs %llu..%llu (seed %llu): rerun with --target %s "
                       "--iterations N to narrow it\n",
                       fuzz_target_name(t), (unsigned long long)first,
                       (unsigned long long)l->st.inputs - 1, (unsigned long long)seed,
                       fuzz_target_name(t));
            }
#else
            (void)first;
#endif
        }
        double now = now_seconds();
        if (now >= next_report || !more) {
            printf("[%6.1f s]", now - start);
            for (unsigned t = 0; t < FUZZ_NTARGETS; t++)
                if (lanes[t].st.inputs)
                    printf("  %s %llu (%llu ok, %llu refused)", fuzz_target_name(t),
                           (unsigned long long)lanes[t].st.inputs,
                           (unsigned long long)lanes[t].st.accepts,
                           (unsigned long long)lanes[t].st.rejects);
            printf("\n");
            fflush(stdout);
            next_report = now + 5;
        }
    }
    double total = now_seconds() - start;
    uint64_t all = 0, bad = 0;
    printf("\nsummary (seed %llu, %.1f s):\n", (unsigned long long)seed, total);
    printf("%-9s %10s %10s %10s %7s %6s %9s %11s\n", "target", "inputs", "accepted", "refused",
           "broken", "leaks", "inputs/s", "slowest ms");
    for (unsigned t = 0; t < FUZZ_NTARGETS; t++) {
        fuzz_lane *l = &lanes[t];
        /* a lane the time limit stopped before its first block still holds its seeds */
        if (!l->st.inputs) {
            fuzz_corpus_free(&l->corpus);
            continue;
        }
        printf("%-9s %10llu %10llu %10llu %7llu %6llu %9.0f %7.1f (#%llu)\n", fuzz_target_name(t),
               (unsigned long long)l->st.inputs, (unsigned long long)l->st.accepts,
               (unsigned long long)l->st.rejects, (unsigned long long)l->st.broken,
               (unsigned long long)l->leak_blocks, l->busy > 0 ? (double)l->st.inputs / l->busy : 0,
               l->slowest * 1e3, (unsigned long long)l->slowest_index);
        all += l->st.inputs;
        bad += l->st.broken + l->leak_blocks;
        fuzz_corpus_free(&l->corpus);
    }
    printf("total     %10llu inputs, %.0f inputs/s overall; %s\n", (unsigned long long)all,
           total > 0 ? (double)all / total : 0, bad ? "PROBLEMS FOUND" : "no problems found");
    fuzz_buf_free(&in);
    fuzz_ctx_free(x);
    free(x);
    free(lanes);
    return bad ? 1 : 0;
}
#endif
