/*
 * test_guest_images.c — the built guest programs and what they rely on.
 *
 *   - every image in APICV_GUEST_DIR is an ELF64 x86-64 ET_EXEC whose
 *     PT_LOADs sit at or above 1 MiB with p_paddr = p_vaddr, and the
 *     loader accepts it;
 *   - the workload algorithms (guests/workload_algos.h), compiled natively,
 *     agree with known facts and with the C library, and the expected
 *     values generated at build time are what they compute;
 *   - the guest runtime's formatter (guests/runtime/console.c), compiled
 *     natively under other names, formats like the C library;
 *   - the guests run under `apicv-emu run` (native mode) with the output
 *     and exit status they promise.
 */
#include <check.h>
#include <dirent.h>
#include <elf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cpu/cpu.h"
#include "emu/emu_loader.h"
#include "guests/workload_algos.h"

/* The runtime's formatter, renamed so it does not replace the C library's. */
#define printf rt_printf
#define vprintf rt_vprintf
#define snprintf rt_snprintf
#define vsnprintf rt_vsnprintf
#define puts rt_puts
#define putchar rt_putchar
#define pause rt_pause
#define guest_lock rt_guest_lock
#define guest_unlock rt_guest_unlock
#define guest_barrier_wait rt_guest_barrier_wait
#include "guests/runtime/console.c"
#include "guests/runtime/sync.c"
#undef printf
#undef vprintf
#undef snprintf
#undef vsnprintf
#undef puts
#undef putchar
#undef pause

/* ---- the images ---------------------------------------------------------------- */

static bool read_whole(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(n > 0 ? (size_t)n : 1);
    *size = fread(*data, 1, n > 0 ? (size_t)n : 0, f);
    fclose(f);
    return *size == (size_t)n;
}

/* Checks one image with the host's <elf.h> structures (independently of
 * the loader), then loads it; returns how many PT_LOADs it has. */
static unsigned check_image(const char *path)
{
    uint8_t *d = NULL;
    size_t size = 0;
    ck_assert_msg(read_whole(path, &d, &size), "cannot read %s", path);
    ck_assert_uint_ge(size, sizeof(Elf64_Ehdr));
    Elf64_Ehdr eh;
    memcpy(&eh, d, sizeof(eh));
    ck_assert_msg(memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0, "%s: magic", path);
    ck_assert_uint_eq(eh.e_ident[EI_CLASS], ELFCLASS64);
    ck_assert_uint_eq(eh.e_ident[EI_DATA], ELFDATA2LSB);
    ck_assert_uint_eq(eh.e_type, ET_EXEC);
    ck_assert_uint_eq(eh.e_machine, EM_X86_64);
    ck_assert_uint_eq(eh.e_phentsize, sizeof(Elf64_Phdr));
    unsigned loads = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        ck_assert_uint_le(eh.e_phoff + (i + 1) * sizeof(ph), size);
        memcpy(&ph, d + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        loads++;
        ck_assert_msg(ph.p_paddr >= 0x100000, "%s: segment %u at 0x%" PRIx64, path, i, ph.p_paddr);
        ck_assert_uint_eq(ph.p_paddr, ph.p_vaddr);
        ck_assert_uint_le(ph.p_filesz, ph.p_memsz);
    }
    ck_assert_uint_ge(loads, 1);

    cpu_phys phys;
    ck_assert(cpu_phys_init(&phys, 64ull << 20, 0));
    char err[256] = "";
    uint64_t entry = 0;
    ck_assert_msg(emu_load_guest(&phys, path, &entry, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(entry, eh.e_entry);
    /* The first bytes of every segment are where p_paddr says. */
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, d + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_LOAD && ph.p_filesz)
            ck_assert(memcmp(phys.ram + ph.p_paddr, d + ph.p_offset, ph.p_filesz < 64 ? ph.p_filesz : 64) == 0);
    }
    cpu_phys_free(&phys);
    free(d);
    return loads;
}

START_TEST(every_guest_is_a_loadable_image)
{
    DIR *dir = opendir(APICV_GUEST_DIR);
    ck_assert_msg(dir != NULL, "no guest directory %s", APICV_GUEST_DIR);
    unsigned images = 0;
    bool hello = false, workload = false, loop = false;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".elf") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", APICV_GUEST_DIR, de->d_name);
        check_image(path);
        images++;
        hello |= strcmp(de->d_name, "hello.elf") == 0;
        workload |= strcmp(de->d_name, "workload.elf") == 0;
        loop |= strcmp(de->d_name, "loop.elf") == 0;
    }
    closedir(dir);
    ck_assert_uint_ge(images, 3);
    ck_assert(hello && workload && loop);
}
END_TEST

/* loop.elf must hold the 5 * 10^8 iteration count of its DEC/JNZ loop. */
START_TEST(loop_counts_5e8_iterations)
{
    uint8_t *d = NULL;
    size_t size = 0;
    ck_assert(read_whole(APICV_GUEST_DIR "/loop.elf", &d, &size));
    const uint32_t count = 500000000u;
    bool found = false;
    for (size_t i = 0; i + 4 <= size && !found; i++)
        found = memcmp(d + i, &count, 4) == 0;
    ck_assert(found);
    free(d);
}
END_TEST

/* ---- workload algorithms, natively ---------------------------------------------- */

START_TEST(crc32_known_vector)
{
    /* The CRC-32 check value of the ASCII string "123456789". */
    ck_assert_uint_eq(wl_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(wl_crc32((const uint8_t *)"", 0), 0);
}
END_TEST

START_TEST(sieve_known_counts)
{
    uint8_t *buf = malloc(2000000);
    uint64_t sum = 0;
    ck_assert_uint_eq(wl_sieve(buf, 100, &sum), 25);
    ck_assert_uint_eq(sum, 1060);
    ck_assert_uint_eq(wl_sieve(buf, 1000000, &sum), 78498);
    ck_assert_uint_eq(wl_sieve(buf, 2000000, &sum), 148933);
    ck_assert_uint_eq(sum, 142913828922ull); /* sum of the primes below two million */
    free(buf);
}
END_TEST

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(heapsort_matches_qsort)
{
    const size_t sizes[] = {0, 1, 2, 3, 7, 100, 1000, 50000};
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
        size_t n = sizes[t];
        uint32_t *a = malloc((n + 1) * sizeof(uint32_t)), *b = malloc((n + 1) * sizeof(uint32_t));
        wl_fill_u32(a, n, 77u + (uint32_t)t);
        if (n > 10)
            for (size_t i = 0; i < n; i += 3)
                a[i] = a[i / 2]; /* duplicates */
        memcpy(b, a, n * sizeof(uint32_t));
        wl_heapsort(a, n);
        qsort(b, n, sizeof(uint32_t), cmp_u32);
        ck_assert_msg(memcmp(a, b, n * sizeof(uint32_t)) == 0, "n=%zu", n);
        ck_assert(wl_is_sorted(a, n));
        free(a);
        free(b);
    }
    uint32_t unsorted[3] = {1, 3, 2};
    ck_assert(!wl_is_sorted(unsorted, 3));
}
END_TEST

START_TEST(string_helpers_match_libc)
{
    uint32_t seed = 5;
    for (int i = 0; i < 2000; i++) {
        uint32_t x = wl_lcg(&seed), y = wl_lcg(&seed);
        char a[40], b[40], ref[64], num[12];
        size_t la = wl_build_key(a, "gamma", x % 100000u, (uint32_t)i);
        wl_build_key(b, "gamma", y % 100000u, (uint32_t)i ^ 1u);
        snprintf(ref, sizeof(ref), "gamma-%u-%u", x % 100000u, (unsigned)i);
        ck_assert_str_eq(a, ref);
        ck_assert_uint_eq(la, strlen(ref));
        ck_assert_uint_eq(wl_strlen(a), strlen(a));
        int c1 = wl_strcmp(a, b), c2 = strcmp(a, b);
        ck_assert_int_eq((c1 > 0) - (c1 < 0), (c2 > 0) - (c2 < 0));
        ck_assert_uint_eq(wl_utoa(x, num), (size_t)snprintf(ref, sizeof(ref), "%u", x));
        ck_assert_str_eq(num, ref);
    }
    ck_assert_int_eq(wl_strcmp("abc", "abc"), 0);
    ck_assert_int_lt(wl_strcmp("ab", "abc"), 0);
}
END_TEST

/* Reads "#define NAME value" from the header the build generated. */
static uint64_t expected_value(const char *text, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), "#define %s ", name);
    const char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "%s missing from workload_expected.h", name);
    return strtoull(p + strlen(key), NULL, 0);
}

START_TEST(generated_expectations_are_the_native_results)
{
    uint8_t *d = NULL;
    size_t size = 0;
    ck_assert(read_whole(APICV_GUEST_DIR "/include/workload_expected.h", &d, &size));
    char *text = realloc(d, size + 1);
    text[size] = '\0';
    /* Sizes as the build used them (WL_SCALE may differ from this file's). */
    size_t crc_bytes = expected_value(text, "WL_EXPECT_CRC_BYTES");
    size_t sort_n = expected_value(text, "WL_EXPECT_SORT_N");
    uint32_t limit = (uint32_t)expected_value(text, "WL_EXPECT_SIEVE_LIMIT");
    uint32_t rounds = (uint32_t)expected_value(text, "WL_EXPECT_STR_ROUNDS");
    ck_assert_uint_ge(crc_bytes, 64 * 1024);
    ck_assert_uint_ge(sort_n, 10000);

    uint8_t *buf = malloc(crc_bytes > limit ? crc_bytes : limit);
    wl_fill_bytes(buf, crc_bytes, WL_SEED);
    ck_assert_uint_eq(wl_crc32(buf, crc_bytes), expected_value(text, "WL_EXPECT_CRC32"));

    uint32_t *arr = malloc(sort_n * sizeof(uint32_t));
    wl_fill_u32(arr, sort_n, WL_SEED + 1u);
    qsort(arr, sort_n, sizeof(uint32_t), cmp_u32); /* the C library's sort, not wl_heapsort */
    ck_assert_uint_eq(wl_array_digest(arr, sort_n), expected_value(text, "WL_EXPECT_SORT"));

    uint64_t sum = 0;
    ck_assert_uint_eq(wl_sieve(buf, limit, &sum), expected_value(text, "WL_EXPECT_SIEVE_COUNT"));
    ck_assert_uint_eq(sum, expected_value(text, "WL_EXPECT_SIEVE_SUM"));

    char pool[WL_STR_POOL];
    ck_assert_uint_eq(wl_strings(pool, sizeof(pool), rounds, WL_SEED + 2u),
                      expected_value(text, "WL_EXPECT_STRINGS"));
    /* The digest depends on the data: one round fewer changes it. */
    ck_assert_uint_ne(wl_strings(pool, sizeof(pool), rounds - 1, WL_SEED + 2u),
                      expected_value(text, "WL_EXPECT_STRINGS"));
    free(arr);
    free(buf);
    free(text);
}
END_TEST

/* ---- the guests under the emulator -------------------------------------------------- */

/* Runs `apicv-emu run ARGS` and returns its exit status; stdout into out. */
static int run_emu(const char *args, char *out, size_t outlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' run %s 2>&1", APICV_EMU, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    ck_assert_msg(WIFEXITED(status), "%s: did not exit", cmd);
    return WEXITSTATUS(status);
}

START_TEST(hello_greets_from_every_vcpu)
{
    char out[4096];
    int st = run_emu("--strict --cpus 3 " APICV_GUEST_DIR "/hello.elf", out, sizeof(out));
    ck_assert_msg(st == 0, "status %d: %s", st, out);
    for (unsigned k = 0; k < 3; k++) {
        char line[128];
        snprintf(line, sizeof(line), "hello from vCPU %u of 3: sum of squares 1..1000 = 333833500\n", k);
        ck_assert_msg(strstr(out, line) != NULL, "missing '%s' in: %s", line, out);
    }
}
END_TEST

START_TEST(selftest_passes)
{
    char out[4096];
    for (unsigned n = 1; n <= 2; n++) {
        char args[512], want[128];
        snprintf(args, sizeof(args), "--strict --cpus %u " APICV_GUEST_DIR "/selftest.elf", n);
        int st = run_emu(args, out, sizeof(out));
        ck_assert_msg(st == 0, "status %d: %s", st, out);
        snprintf(want, sizeof(want), "printf, %u vCPUs OK\n", n);
        ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    }
}
END_TEST

START_TEST(workload_prints_the_native_results)
{
    uint8_t *d = NULL;
    size_t size = 0;
    ck_assert(read_whole(APICV_GUEST_DIR "/include/workload_expected.h", &d, &size));
    char *text = realloc(d, size + 1);
    text[size] = '\0';
    char want[256];
    snprintf(want, sizeof(want), WL_LINE_FMT " OK\n", (unsigned)expected_value(text, "WL_EXPECT_CRC32"),
             (unsigned)expected_value(text, "WL_EXPECT_SORT"),
             (unsigned)expected_value(text, "WL_EXPECT_SIEVE_COUNT"),
             (unsigned long long)expected_value(text, "WL_EXPECT_SIEVE_SUM"),
             (unsigned)expected_value(text, "WL_EXPECT_STRINGS"));
    free(text);
    char out[4096];
    int st = run_emu("--strict " APICV_GUEST_DIR "/workload.elf", out, sizeof(out));
    ck_assert_msg(st == 0, "status %d: %s", st, out);
    ck_assert_msg(strstr(out, want) != NULL, "missing '%s' in: %s", want, out);
}
END_TEST

/* The complete example of docs/writing-guests.md is guests/ticker.c, word
 * for word, and it does what the page shows. */
START_TEST(documented_example_is_ticker_and_runs)
{
    uint8_t *doc = NULL, *src = NULL;
    size_t doc_size = 0, src_size = 0;
    ck_assert(read_whole(APICV_SOURCE_DIR "/docs/writing-guests.md", &doc, &doc_size));
    ck_assert(read_whole(APICV_SOURCE_DIR "/guests/ticker.c", &src, &src_size));
    doc = realloc(doc, doc_size + 1);
    src = realloc(src, src_size + 1);
    doc[doc_size] = src[src_size] = '\0';
    ck_assert_msg(strstr((char *)doc, (char *)src) != NULL, "docs/writing-guests.md and guests/ticker.c differ");
    free(doc);
    free(src);

    char out[4096];
    int st = run_emu("--strict --cpus 4 " APICV_GUEST_DIR "/ticker.elf", out, sizeof(out));
    ck_assert_msg(st == 0, "status %d: %s", st, out);
    for (unsigned k = 0; k < 4; k++) {
        char line[64];
        snprintf(line, sizeof(line), "vCPU %u of 4: total 55\n", k);
        ck_assert_msg(strstr(out, line) != NULL, "%s", out);
    }
    ck_assert_msg(strstr(out, "ticker: OK\n") != NULL, "%s", out);
}
END_TEST

START_TEST(loop_runs_until_the_cycle_limit)
{
    char out[4096];
    int st = run_emu("--max-cycles 2000000 " APICV_GUEST_DIR "/loop.elf", out, sizeof(out));
    ck_assert_msg(st == 4, "status %d: %s", st, out);
}
END_TEST

START_TEST(default_handler_reports_and_exits_0x7f)
{
    char out[4096];
    int st = run_emu(APICV_GUEST_DIR "/fault.elf", out, sizeof(out));
    ck_assert_msg(st == 0x7F, "status %d: %s", st, out);
    ck_assert_msg(strstr(out, "guest: unhandled vector 14 (#PF) error 0x2 at RIP 0x") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "CR2 0x100000000\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "did not fault") == NULL, "%s", out);
}
END_TEST

START_TEST(hypercalls_refused_in_native_mode)
{
    /* In native mode VMCALL raises #UD: hypercalls.elf says so and exits 17. */
    char out[4096];
    int st = run_emu("--mode native " APICV_GUEST_DIR "/hypercalls.elf", out, sizeof(out));
    ck_assert_msg(st == 17, "status %d: %s", st, out);
    ck_assert_msg(strstr(out, "VMCALL raised #UD") != NULL, "%s", out);
}
END_TEST

/* ---- the runtime's formatter ------------------------------------------------------ */

#define SAME_AS_LIBC(...)                                                                     \
    do {                                                                                      \
        char want[128], got[128];                                                             \
        int nw = snprintf(want, sizeof(want), __VA_ARGS__);                                   \
        int ng = rt_snprintf(got, sizeof(got), __VA_ARGS__);                                  \
        ck_assert_msg(strcmp(want, got) == 0 && nw == ng, "'%s' (%d) vs libc '%s' (%d)", got, \
                      ng, want, nw);                                                          \
    } while (0)

START_TEST(runtime_printf_matches_libc)
{
    SAME_AS_LIBC("%d %i %d", 0, -42, INT_MIN);
    SAME_AS_LIBC("%u %u", 0u, UINT_MAX);
    SAME_AS_LIBC("[%5d][%-5d][%05d][%+d][% d]", 42, 42, -42, 7, 7);
    SAME_AS_LIBC("%x %X %08x %#x %#X %#x", 0xBEEFu, 0xBEEFu, 0x1234u, 255u, 255u, 0u);
    SAME_AS_LIBC("%lx %llx %lu %lld", 0xFFFFFFFFFFFFFFFFul, 0x123456789ABCDEFull, 18446744073709551615ul,
                 LLONG_MIN);
    SAME_AS_LIBC("%zu %zx", (size_t)123456789, (size_t)0xABC);
    /* hh and h truncate an int argument; a non-literal format keeps the
     * compiler from objecting to exactly that. */
    const char *short_fmt = "%hhu %hu %hd";
    SAME_AS_LIBC(short_fmt, 300, 70000, 40000);
    SAME_AS_LIBC("%o %#o", 8u, 8u);
    SAME_AS_LIBC("%p", (void *)0x200000);
    SAME_AS_LIBC("[%s][%10s][%-10s][%.3s][%*d][%-*d]", "abc", "right", "left", "truncate", 6, 9, 6, 9);
    SAME_AS_LIBC("%c%c%c %% done", 'a', 'b', 'c');
    SAME_AS_LIBC("[%016llx]", 0xFEE00000ull);

    char small[5];
    ck_assert_int_eq(rt_snprintf(small, sizeof(small), "hello %s", "world"), 11);
    ck_assert_str_eq(small, "hell");
    ck_assert_int_eq(rt_snprintf(NULL, 0, "%d", 12345), 5);
}
END_TEST

START_TEST(runtime_barrier_single_vcpu)
{
    /* With n = 1 the caller is the last arrival: it must not wait, and the
     * barrier is reusable. */
    struct guest_barrier b = {0, 0};
    rt_guest_barrier_wait(&b, 1);
    rt_guest_barrier_wait(&b, 1);
    ck_assert_uint_eq(b.generation, 2);
    ck_assert_uint_eq(b.count, 0);
    struct guest_lock l = {0};
    rt_guest_lock(&l);
    ck_assert_uint_eq(l.held, 1);
    rt_guest_unlock(&l);
    ck_assert_uint_eq(l.held, 0);
}
END_TEST

static Suite *images_suite(void)
{
    Suite *s = suite_create("guest_images");
    TCase *t = tcase_create("images");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, every_guest_is_a_loadable_image);
    tcase_add_test(t, loop_counts_5e8_iterations);
    tcase_add_test(t, crc32_known_vector);
    tcase_add_test(t, sieve_known_counts);
    tcase_add_test(t, heapsort_matches_qsort);
    tcase_add_test(t, string_helpers_match_libc);
    tcase_add_test(t, generated_expectations_are_the_native_results);
    tcase_add_test(t, runtime_printf_matches_libc);
    tcase_add_test(t, runtime_barrier_single_vcpu);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("run");
    tcase_set_timeout(r, 120);
    tcase_add_test(r, hello_greets_from_every_vcpu);
    tcase_add_test(r, selftest_passes);
    tcase_add_test(r, workload_prints_the_native_results);
    tcase_add_test(r, documented_example_is_ticker_and_runs);
    tcase_add_test(r, loop_runs_until_the_cycle_limit);
    tcase_add_test(r, default_handler_reports_and_exits_0x7f);
    tcase_add_test(r, hypercalls_refused_in_native_mode);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(images_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
