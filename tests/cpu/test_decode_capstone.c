/*
 * test_decode_capstone.c — the decoder cross-checked against Capstone.
 *
 * Corpus 1: every instruction of the project's own guest binaries (a linear
 * sweep of their executable segments with Capstone).
 * Corpus 2: generated encodings of every opcode the interpreter implements,
 * with assorted prefixes (66, 67, REX variants, F2/F3, segment overrides)
 * and every ModRM addressing shape (register, SIB, RIP-relative, disp8,
 * disp32), with random displacement and immediate bytes.
 * For each encoding both decode and we implement, the lengths must agree.
 * Corpus 2 runs in 64-bit mode (CS_MODE_64) and again in 32-bit and 16-bit
 * code (CS_MODE_32, CS_MODE_16) with the prefixes those modes have.
 */
#include <capstone/capstone.h>
#include <check.h>
#include <dirent.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"

static csh cs;
static cpu_mode cur_mode = CPU_MODE_LONG64;
static unsigned compared, mismatches, intel_branches;

/* SDM Vol. 2 (CALL, JMP, Jcc): in 64-bit mode a near relative branch has a
 * 64-bit operand size and a 32-bit displacement whatever 66H says, on Intel
 * processors. Capstone 4 decodes 66H-prefixed forms with a 16-bit
 * displacement, as AMD processors do; we model Intel, so those are not
 * compared (and counted apart). */
static bool intel_amd_branch_difference(const uint8_t *b, size_t n)
{
    cpu_cost_model costs;
    cpu_insn i;
    cpu_cost_default(&costs);
    if (cur_mode != CPU_MODE_LONG64)
        return false;
    if (cpu_decode(CPU_MODE_LONG64, &costs, b, (unsigned)(n > 15 ? 15 : n), &i) == 0)
        return false;
    const cpu_opdesc *d = &cpu_opmap_get()->map[i.map][i.op];
    return (i.pfx & CPU_PFX_OSIZE) && (d->flags & CPU_OPF_FORCE64) && d->imm == CPU_IMM_Z;
}

static void compare(const uint8_t *b, size_t n, const char *origin)
{
    cs_insn *insn;
    bool implemented;
    unsigned ours = cpu_decode_length(cur_mode, b, n, &implemented);
    if (!implemented || ours == 0)
        return;
    if (intel_amd_branch_difference(b, n)) {
        intel_branches++;
        return;
    }
    size_t count = cs_disasm(cs, b, n, 0x1000, 1, &insn);
    if (count != 1)
        return; /* Capstone cannot decode it: nothing to compare against */
    unsigned theirs = insn->size;
    compared++;
    if (ours != theirs) {
        mismatches++;
        if (mismatches <= 20) {
            char hex[64] = "";
            for (unsigned k = 0; k < theirs && k < 15; k++)
                sprintf(hex + strlen(hex), "%02x ", b[k]);
            fprintf(stderr, "%s: %s%s %s: capstone %u bytes, ours %u\n", origin, hex,
                    insn->mnemonic, insn->op_str, theirs, ours);
        }
    }
    cs_free(insn, 1);
}

static void sweep_elf(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *img = malloc((size_t)size);
    ck_assert(fread(img, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    for (unsigned k = 0; k < eh->e_phnum; k++) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff + k * eh->e_phentsize);
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        const uint8_t *code = img + ph->p_offset;
        size_t len = ph->p_filesz, off = 0;
        cs_insn *insn = cs_malloc(cs);
        uint64_t addr = ph->p_vaddr;
        const uint8_t *p = code;
        while (off < len) {
            const uint8_t *start = p;
            size_t left = len - off;
            uint64_t a = addr;
            if (!cs_disasm_iter(cs, &p, &left, &a, insn)) {
                p = start + 1; /* data or padding: skip a byte */
                off++;
                addr++;
                continue;
            }
            compare(start, len - off < 15 ? len - off : 15, path);
            off += insn->size;
            addr += insn->size;
        }
        cs_free(insn, 1);
    }
    free(img);
}

START_TEST(guest_binaries)
{
    DIR *d = opendir(APICV_GUEST_DIR);
    ck_assert_msg(d != NULL, "no guest directory %s", APICV_GUEST_DIR);
    struct dirent *e;
    unsigned files = 0;
    compared = mismatches = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".elf") == 0) {
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", APICV_GUEST_DIR, e->d_name);
            sweep_elf(path);
            files++;
        }
    }
    closedir(d);
    fprintf(stderr, "guest binaries: %u files, %u instructions compared, %u mismatches\n", files,
            compared, mismatches);
    ck_assert_uint_gt(files, 0);
    ck_assert_uint_gt(compared, 1000);
    ck_assert_uint_eq(mismatches, 0);
}
END_TEST

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)rng;
}

static const uint8_t prefixes64[][3] = {
    {0}, {1, 0x66}, {1, 0x67}, {1, 0x48}, {1, 0x41}, {1, 0x4C}, {1, 0x43},
    {2, 0x66, 0x41}, {1, 0xF3}, {1, 0xF2}, {1, 0x64}, {2, 0x65, 0x48}, {1, 0x40},
};
/* Outside 64-bit mode 40..4F are INC/DEC, not REX. */
static const uint8_t prefixes_legacy[][3] = {
    {0}, {1, 0x66}, {1, 0x67}, {2, 0x66, 0x67}, {1, 0xF3}, {1, 0xF2}, {1, 0x26},
    {1, 0x64}, {2, 0x36, 0x66}, {1, 0x2E},
};

static void generate(cpu_mode mode, const uint8_t (*prefixes)[3], unsigned nprefixes)
{
    cur_mode = mode;
    static const uint8_t modrms[] = {0xC1, 0xD8, 0x00, 0x04, 0x05, 0x44, 0x84, 0x80, 0x4D, 0x3C, 0x25};
    const cpu_opmap *m = cpu_opmap_get();
    compared = mismatches = intel_branches = 0;
    unsigned opcodes = 0;
    for (unsigned map = 0; map < 4; map++) {
        for (unsigned op = 0; op < 256; op++) {
            if (!m->map[map][op].decode)
                continue;
            if (mode == CPU_MODE_LONG64 && map == 0 && (op & 0xF0) == 0x40)
                continue; /* REX prefixes in 64-bit mode (INC/DEC elsewhere) */
            opcodes++;
            for (unsigned p = 0; p < nprefixes; p++) {
                for (unsigned r = 0; r < sizeof(modrms); r++) {
                    for (unsigned digit = 0; digit < 8; digit++) {
                        uint8_t b[24];
                        unsigned n = 0;
                        for (unsigned k = 0; k < prefixes[p][0]; k++)
                            b[n++] = prefixes[p][1 + k];
                        if (map)
                            b[n++] = 0x0F;
                        if (map == 2)
                            b[n++] = 0x38;
                        if (map == 3)
                            b[n++] = 0x3A;
                        b[n++] = (uint8_t)op;
                        b[n++] = (uint8_t)((modrms[r] & 0xC7) | (digit << 3));
                        while (n < sizeof(b))
                            b[n++] = rnd8();
                        compare(b, 15, "generated");
                    }
                }
            }
        }
    }
    fprintf(stderr, "generated (%s): %u opcodes, %u encodings compared, %u mismatches, %u 66H near branches skipped (Intel vs AMD)\n",
            cpu_mode_name(mode), opcodes, compared, mismatches, intel_branches);
    cur_mode = CPU_MODE_LONG64;
    ck_assert_uint_gt(opcodes, 200);
    ck_assert_uint_gt(compared, 10000);
    ck_assert_uint_eq(mismatches, 0);
}

START_TEST(generated_encodings)
{
    generate(CPU_MODE_LONG64, prefixes64, sizeof(prefixes64) / sizeof(prefixes64[0]));
}
END_TEST

/* The same opcodes decoded as 32-bit and 16-bit code against Capstone's
 * CS_MODE_32 and CS_MODE_16. */
START_TEST(generated_encodings_32)
{
    csh saved = cs;
    ck_assert_int_eq(cs_open(CS_ARCH_X86, CS_MODE_32, &cs), CS_ERR_OK);
    generate(CPU_MODE_PROT32, prefixes_legacy, sizeof(prefixes_legacy) / sizeof(prefixes_legacy[0]));
    cs_close(&cs);
    cs = saved;
}
END_TEST

START_TEST(generated_encodings_16)
{
    csh saved = cs;
    ck_assert_int_eq(cs_open(CS_ARCH_X86, CS_MODE_16, &cs), CS_ERR_OK);
    generate(CPU_MODE_REAL, prefixes_legacy, sizeof(prefixes_legacy) / sizeof(prefixes_legacy[0]));
    cs_close(&cs);
    cs = saved;
}
END_TEST

/* cpu_disasm (the diagnostics' and the window's disassembler) decodes in
 * the CPU mode it is given: 48 40 is "dec eax" then "inc eax" in 32-bit
 * code, but one instruction with a REX prefix in 64-bit code. */
START_TEST(disasm_follows_mode)
{
    static const uint8_t b[] = {0x48, 0x40, 0x90, 0x90};
    char buf[96];
    ck_assert_uint_eq(cpu_disasm(CPU_MODE_PROT32, b, sizeof b, 0x1000, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "dec eax");
    ck_assert_uint_eq(cpu_disasm(CPU_MODE_COMPAT32, b + 1, sizeof b - 1, 0x1001, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "inc eax");
    ck_assert_uint_eq(cpu_disasm(CPU_MODE_PROT16, b, sizeof b, 0x1000, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "dec ax");
    ck_assert_uint_eq(cpu_disasm(CPU_MODE_REAL, b + 1, sizeof b - 1, 0x1001, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "inc ax");
    ck_assert_uint_ne(cpu_disasm(CPU_MODE_LONG64, b, sizeof b, 0x1000, buf, sizeof buf), 1);
    ck_assert_ptr_null(strstr(buf, "dec"));
    static const uint8_t mov[] = {0xB8, 0x01, 0x00, 0x02, 0x00}; /* mov (e)ax, imm */
    ck_assert_uint_eq(cpu_disasm(CPU_MODE_PROT16, mov, sizeof mov, 0, buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "mov ax, 1");
    ck_assert_uint_eq(cpu_disasm(CPU_MODE_PROT32, mov, sizeof mov, 0, buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "mov eax, 0x20001");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("decode-capstone");
    TCase *t = tcase_create("lengths");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, guest_binaries);
    tcase_add_test(t, generated_encodings);
    tcase_add_test(t, generated_encodings_32);
    tcase_add_test(t, generated_encodings_16);
    tcase_add_test(t, disasm_follows_mode);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
        fprintf(stderr, "cannot open Capstone\n");
        return EXIT_FAILURE;
    }
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    cs_close(&cs);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
