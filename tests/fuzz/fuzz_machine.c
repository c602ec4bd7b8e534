/*
 * fuzz_machine.c — fuzzing that runs the machine (`make fuzz`, after the
 * parser fuzzer): each input is run by the real `apicv-emu` binary in a
 * child process, built with ASan + UBSan, under a small --max-cycles and a
 * wall-clock watchdog.
 *
 *   fuzz_machine [--seconds N] [--seed S] [--iterations N] [--kind K]
 *                [--emu PATH] [--source DIR] [--crash-dir DIR] [--hang-ms MS]
 *
 * Three kinds of input, taken in turn:
 *   replay  a recorded trace (traces/recorded/) mutated by fuzz_mutate.h's
 *           trace mutator (record checks fixed, so the payloads are reached)
 *           and replayed with `apicv-emu replay --headless`, every second one
 *           with --verify;
 *   code    a generated ELF64 guest: an IDT whose handlers step RIP one byte
 *           past a faulting instruction, then random bytes mixed with
 *           snippets that reach the hypervisor (VMCALL, HLT, PAUSE, STI,
 *           MOV CR8, WRMSR to the APIC, OUT), run in one of the five modes;
 *   hcall   a generated guest making a random sequence of hypercalls
 *           (docs/guest-abi.md: VMCS_WRITE, VAPIC_WRITE, PID_WRITE, SEND_MSI,
 *           RAISE_HOST_IRQ, DESCHEDULE and the rest) with extreme arguments,
 *           and one-bit read-modify-writes of VMCS control fields,
 *           interleaved with STI/HLT/PAUSE, run in one of the five modes.
 * Input i of a kind depends only on --seed and i, so a run repeats exactly.
 *
 * A finding is: the emulator killed by a signal, a sanitizer report on its
 * standard error, a run still going after --hang-ms of CPU time (killed;
 * --max-cycles must end every run), exit status 3 without a diagnostic,
 * status 2 without a message, or a generated (valid) guest refused with 2.
 * Every other status is an outcome the guest may cause. A finding's input is
 * saved under --crash-dir with a .cmd file holding the command line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/fuzz/fuzz_mutate.h"

#ifndef APICV_SOURCE_DIR
#define APICV_SOURCE_DIR "."
#endif
#ifndef APICV_EMU_BIN
#define APICV_EMU_BIN "build-fuzz/apicv-emu"
#endif

#define FM_LOAD 0x100000u     /* where the generated image is loaded (guest ABI) */
#define FM_TSS_OFF 0xD00u     /* a TSS per vCPU, 0x80 apart: IST1 for every handler */
#define FM_GDT_OFF 0xE00u     /* null, code 0x08, data 0x10, TSS 0x18 and 0x28 */
#define FM_GDTR_OFF 0xFD0u
#define FM_IDT_OFF 0x1000u    /* IDT inside the image */
#define FM_STUB_OFF 0x2000u   /* the 256 handler stubs, 32 bytes each */
#define FM_CODE_OFF 0x4000u   /* the generated code */
#define FM_CODE_MAX 0x3000u
#define FM_IMAGE (FM_CODE_OFF + FM_CODE_MAX + 0x100u)
#define FM_BSS 0x2000u        /* the handlers' stacks, after the image */
#define FM_MAX_CPUS 2u        /* runs use 1 or 2 vCPUs, each with a TSS */
#define FM_MAX_SAVED 20u

typedef enum fm_kind { FM_REPLAY, FM_CODE, FM_HCALL, FM_NKINDS } fm_kind;
static const char *const fm_kind_name[FM_NKINDS] = {"replay", "code", "hcall"};
static const char *const fm_modes[] = {"native", "emulated", "tpr-shadow", "apicv", "posted"};

typedef enum fm_outcome { FM_OK, FM_HANG, FM_CRASH, FM_SANITIZER, FM_NODIAG, FM_NOUTCOMES } fm_outcome;
static const char *const fm_outcome_name[FM_NOUTCOMES] = {"ok", "HANG", "CRASH", "SANITIZER",
                                                          "NO DIAGNOSTIC"};

typedef struct fm_code {
    uint8_t *p;
    size_t n, cap;
} fm_code;

static void emit(fm_code *c, const void *b, size_t n)
{
    if (c->n + n > c->cap)
        return; /* the caller stops at the limit */
    memcpy(c->p + c->n, b, n);
    c->n += n;
}

static void emit_mov_imm64(fm_code *c, unsigned reg, uint64_t v)
{
    uint8_t b[10] = {(uint8_t)(reg >= 8 ? 0x49 : 0x48), (uint8_t)(0xB8 + (reg & 7))};
    fuzz_put_le(b + 2, v, 8);
    emit(c, b, sizeof(b));
}

/* Extreme and boundary values, a vector-ish value, or random bits. */
static uint64_t fm_value(fuzz_rng *r)
{
    static const uint64_t edge[] = {0,          1,          2,          0xF,        0x10,
                                    0x1F,       0x20,       0xEF,       0xF0,       0xFF,
                                    0x100,      0xFFF,      0x1000,     0xFFFF,     0x10000,
                                    0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1ull << 32, 1ull << 63,
                                    UINT64_MAX, UINT64_MAX - 1, 0xFEE00000, 0xFEE00000 | 0x900,
                                    FM_LOAD, FM_LOAD + 0x1000};
    switch (fuzz_below(r, 5)) {
    case 0:
        return edge[fuzz_below(r, sizeof(edge) / sizeof(edge[0]))];
    case 1:
        return fuzz_below(r, 256);
    case 2:
        return fuzz_next(r) & 0xFFFFFFFFu;
    case 3:
        return fuzz_interesting(r);
    default:
        return fuzz_next(r);
    }
}

/* VMCS fields a guest is likely to break the host with (SDM Appendix B). */
static uint64_t fm_field(fuzz_rng *r)
{
    static const uint32_t f[] = {
        0x0002, /* posted-interrupt notification vector */
        0x0810, /* guest interrupt status */
        0x2004, 0x2012, 0x2014, 0x2016, 0x201C, 0x201E, 0x2020, 0x2022, 0x2800,
        0x4000, /* pin-based controls */
        0x4002, /* primary processor-based controls */
        0x4004, /* exception bitmap */
        0x400C, 0x4012, 0x4016, 0x4018, 0x401A,
        0x401C, /* TPR threshold */
        0x401E, /* secondary controls */
        0x4824, 0x4826,
        0x482E, /* VMX-preemption timer value */
        0x6800, 0x6802, 0x6804, 0x681C, 0x681E, 0x6820,
    };
    if (fuzz_below(r, 8) == 0)
        return fuzz_next(r) & 0xFFFF;
    return f[fuzz_below(r, sizeof(f) / sizeof(f[0]))];
}

/* One hypercall: RAX = nr, RBX/RCX/RDX arguments, then VMCALL. */
static void emit_hcall(fuzz_rng *r, fm_code *c)
{
    static const uint8_t nrs[] = {0x04, 0x04, 0x04, 0x06, 0x06, 0x08, 0x08, 0x01, 0x01,
                                  0x02, 0x02, 0x0B, 0x0B, 0x00, 0x03, 0x05, 0x07, 0x09,
                                  0x0A, 0x0C, 0x0D, 0xFF};
    uint64_t nr = nrs[fuzz_below(r, sizeof(nrs))];
    uint64_t a = fm_value(r), b = fm_value(r), d = fm_value(r);
    if (nr == 0x03 || nr == 0x04)
        a = fm_field(r);
    else if ((nr == 0x05 || nr == 0x06) && fuzz_below(r, 4))
        a = fuzz_below(r, 0x400) * 4;
    else if ((nr == 0x07 || nr == 0x08) && fuzz_below(r, 4))
        a = fuzz_below(r, 8);
    else if ((nr == 0x01 || nr == 0x02 || nr == 0x0B) && fuzz_below(r, 2))
        b = fuzz_below(r, 3); /* a vCPU or CPU that may exist */
    if ((nr == 0x01 || nr == 0x02 || nr == 0x0B) && fuzz_below(r, 2))
        d = fuzz_below(r, 5000); /* a delay or time that falls inside the run */
    emit_mov_imm64(c, 0, nr);
    emit_mov_imm64(c, 3, a);
    emit_mov_imm64(c, 1, b);
    emit_mov_imm64(c, 2, d);
    static const uint8_t vmcall[] = {0x0F, 0x01, 0xC1};
    emit(c, vmcall, sizeof(vmcall));
}

/*
 * A read-modify-write of one VMCS field through VMCS_READ and VMCS_WRITE:
 * one bit set, cleared or flipped, or the field set to a small value, so
 * that control fields keep their reserved bits and the entry checks pass
 * (a random value in a control field is only ever refused).
 */
static void emit_vmcs_rmw(fuzz_rng *r, fm_code *c)
{
    uint64_t field = fm_field(r);
    emit_mov_imm64(c, 0, 0x03);
    emit_mov_imm64(c, 3, field);
    static const uint8_t vmcall_mov[] = {0x0F, 0x01, 0xC1, 0x48, 0x89, 0xD1}; /* vmcall; mov rcx, rdx */
    emit(c, vmcall_mov, sizeof(vmcall_mov));
    unsigned op = (unsigned)fuzz_below(r, 4);
    uint64_t bit = 1ull << fuzz_below(r, fuzz_below(r, 4) ? 32 : 64);
    emit_mov_imm64(c, 8, op == 1 ? ~bit : op == 3 ? fuzz_below(r, 4) : bit);
    static const uint8_t alu[4][3] = {
        {0x4C, 0x09, 0xC1}, /* or rcx, r8 */
        {0x4C, 0x21, 0xC1}, /* and rcx, r8 */
        {0x4C, 0x31, 0xC1}, /* xor rcx, r8 */
        {0x4C, 0x89, 0xC1}, /* mov rcx, r8 */
    };
    emit(c, alu[op], 3);
    emit_mov_imm64(c, 0, 0x04);
    emit_mov_imm64(c, 3, field);
    static const uint8_t vmcall[] = {0x0F, 0x01, 0xC1};
    emit(c, vmcall, sizeof(vmcall));
}

/* Short instruction sequences that reach the local APIC and the host. */
static void emit_snippet(fuzz_rng *r, fm_code *c)
{
    static const struct {
        uint8_t n, b[12];
    } s[] = {
        {1, {0xF4}},                                           /* hlt */
        {2, {0xF3, 0x90}},                                     /* pause */
        {1, {0xFB}},                                           /* sti */
        {1, {0xFA}},                                           /* cli */
        {2, {0xFB, 0xF4}},                                     /* sti; hlt */
        {4, {0x44, 0x0F, 0x22, 0xC0}},                         /* mov cr8, rax */
        {4, {0x44, 0x0F, 0x20, 0xC0}},                         /* mov rax, cr8 */
        {2, {0x0F, 0x30}},                                     /* wrmsr */
        {2, {0x0F, 0x32}},                                     /* rdmsr */
        {3, {0x0F, 0x01, 0xC1}},                               /* vmcall */
        {2, {0xE6, 0xE9}},                                     /* out 0xE9, al */
        {2, {0xE7, 0xF0}},                                     /* out 0xF0, eax */
        {2, {0x89, 0x01}},                                     /* mov [rcx], eax */
        {2, {0x8B, 0x01}},                                     /* mov eax, [rcx] */
        {3, {0x67, 0x8B, 0x01}},                               /* mov eax, [ecx] */
        {2, {0xCD, 0x40}},                                     /* int 0x40 */
        {2, {0x0F, 0xA2}},                                     /* cpuid */
        {2, {0x0F, 0x31}},                                     /* rdtsc */
    };
    unsigned k = (unsigned)fuzz_below(r, sizeof(s) / sizeof(s[0]) + 3);
    if (k >= sizeof(s) / sizeof(s[0])) {
        /* registers for the snippets: an APIC MMIO address or MSR, a value */
        emit_mov_imm64(c, 1, fuzz_below(r, 2) ? 0xFEE00000u + fuzz_below(r, 0x400) * 4
                                              : 0x800u + fuzz_below(r, 0x100));
        emit_mov_imm64(c, 0, fm_value(r));
        emit_mov_imm64(c, 2, fm_value(r) & 0xFFFFFFFFu);
        return;
    }
    emit(c, s[k].b, s[k].n);
}

/*
 * The generated ELF image: one PT_LOAD at FM_LOAD holding the prologue
 * (LGDT and LTR of a GDT with a TSS, LIDT of an IDT of 256 interrupt gates
 * on IST1, SDM 6.14.1), the GDT, the TSS, the IDT, the stubs
 * and the code. A fault stub pops the error code when the vector has one
 * (SDM 6.13) and steps RIP one byte on, so random code keeps running; an
 * interrupt stub writes the xAPIC EOI and returns.
 */
static void fm_build_elf(fuzz_rng *r, fm_kind kind, fuzz_buf *out)
{
    uint8_t *img = calloc(1, FM_IMAGE);
    if (!img)
        abort();
    fm_code c = {img, 0, FM_TSS_OFF};
    /* lgdt [rip + disp32]; mov ax, 0x18; ltr ax (SDM 7.2.3: IST needs a TSS) */
    uint8_t lgdt[7] = {0x0F, 0x01, 0x15};
    fuzz_put_le(lgdt + 3, FM_GDTR_OFF - (uint32_t)sizeof(lgdt), 4);
    emit(&c, lgdt, sizeof(lgdt));
    /* each vCPU its own TSS (LTR marks it busy): selector 0x18 + 16 * RDI */
    static const uint8_t ltr[] = {0x89, 0xF8, 0xC1, 0xE0, 0x04, 0x83, 0xC0, 0x18, 0x0F, 0x00, 0xD8};
    emit(&c, ltr, sizeof(ltr));
    static const uint64_t gdt[3] = {0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull};
    for (unsigned k = 0; k < 3; k++)
        fuzz_put_le(img + FM_GDT_OFF + 8 * k, gdt[k], 8);
    for (unsigned cpu = 0; cpu < FM_MAX_CPUS; cpu++) {
        uint64_t tss = FM_LOAD + FM_TSS_OFF + 0x80u * cpu;
        uint8_t *d = img + FM_GDT_OFF + 24 + 16 * cpu;
        fuzz_put_le(d, 0x67 | (tss & 0xFFFFFF) << 16 | 0x89ull << 40 | (tss >> 24 & 0xFF) << 56, 8);
        fuzz_put_le(d + 8, tss >> 32, 8);
        /* IST1: its own 4 KiB in the bss */
        fuzz_put_le(img + FM_TSS_OFF + 0x80u * cpu + 0x24,
                    FM_LOAD + FM_IMAGE + FM_BSS - 16 - 0x1000u * cpu, 8);
    }
    fuzz_put_le(img + FM_GDTR_OFF, 24 + 16 * FM_MAX_CPUS - 1, 2);
    fuzz_put_le(img + FM_GDTR_OFF + 2, FM_LOAD + FM_GDT_OFF, 8);
    /* lidt [rip + disp32] of the IDTR image placed just before the IDT */
    uint8_t lidt[7] = {0x0F, 0x01, 0x1D};
    uint32_t idtr_off = FM_IDT_OFF - 16;
    fuzz_put_le(lidt + 3, idtr_off - (uint32_t)(c.n + sizeof(lidt)), 4);
    emit(&c, lidt, sizeof(lidt));
    uint8_t jmp[5] = {0xE9};
    fuzz_put_le(jmp + 1, FM_CODE_OFF - (uint32_t)(c.n + 5), 4);
    emit(&c, jmp, sizeof(jmp));
    fuzz_put_le(img + idtr_off, 256 * 16 - 1, 2);
    fuzz_put_le(img + idtr_off + 2, FM_LOAD + FM_IDT_OFF, 8);
    for (unsigned v = 0; v < 256; v++) {
        uint64_t h = FM_LOAD + FM_STUB_OFF + v * 32u;
        uint8_t *g = img + FM_IDT_OFF + v * 16u;
        fuzz_put_le(g, h & 0xFFFF, 2);
        fuzz_put_le(g + 2, 0x08, 2);
        g[4] = 1; /* IST1: a fresh stack even when random code broke RSP (SDM 6.14.5) */
        g[5] = 0x8E;
        fuzz_put_le(g + 6, (h >> 16) & 0xFFFF, 2);
        fuzz_put_le(g + 8, h >> 32, 4);
        fm_code s = {img + FM_STUB_OFF + v * 32u, 0, 32};
        static const uint8_t pop_err[] = {0x48, 0x83, 0xC4, 0x08};   /* add rsp, 8 */
        static const uint8_t step[] = {0x48, 0xFF, 0x04, 0x24};      /* inc qword [rsp] */
        static const uint8_t eoi[] = {0x50, 0xB8, 0xB0, 0x00, 0xE0, 0xFE, /* push rax; mov eax, EOI */
                                      0xC7, 0x00, 0, 0, 0, 0, 0x58};      /* mov [rax], 0; pop rax */
        static const uint8_t iretq[] = {0x48, 0xCF};
        bool has_err = v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
        if (v < 32) {
            if (has_err)
                emit(&s, pop_err, sizeof(pop_err));
            emit(&s, step, sizeof(step));
        } else {
            emit(&s, eoi, sizeof(eoi));
        }
        emit(&s, iretq, sizeof(iretq));
    }
    /* the generated code */
    c = (fm_code){img + FM_CODE_OFF, 0, FM_CODE_MAX - 16};
    size_t want = 16 + fuzz_below(r, FM_CODE_MAX - 64);
    if (kind == FM_HCALL) {
        unsigned calls = 1 + (unsigned)fuzz_below(r, 48);
        for (unsigned k = 0; k < calls && c.n + 64 < c.cap; k++) {
            if (fuzz_below(r, 4) == 0)
                emit_snippet(r, &c);
            if (fuzz_below(r, 3) == 0)
                emit_vmcs_rmw(r, &c);
            else
                emit_hcall(r, &c);
        }
    } else {
        while (c.n < want && c.n + 40 < c.cap) {
            if (fuzz_below(r, 3) == 0)
                emit_snippet(r, &c);
            else if (fuzz_below(r, 16) == 0)
                emit_hcall(r, &c);
            else {
                size_t n = 1 + fuzz_below(r, 24);
                for (size_t k = 0; k < n && c.n < c.cap; k++) {
                    /* not INS/OUTS: the hypervisor refused string I/O when
                     * this was written, which ended most runs early */
                    uint8_t b = (uint8_t)fuzz_next(r);
                    c.p[c.n++] = b >= 0x6C && b <= 0x6F ? 0x90 : b;
                }
            }
        }
    }
    /* the end: status 0 through port 0xF4 (xor eax, eax; out 0xF4, eax) */
    static const uint8_t end[] = {0x31, 0xC0, 0xE7, 0xF4, 0xEB, 0xFE};
    c.cap = FM_CODE_MAX;
    emit(&c, end, sizeof(end));

    /* ELF64 header and one program header (ELF-64 Object File Format 1.5) */
    uint8_t eh[64 + 56] = {0x7F, 'E', 'L', 'F', 2, 1, 1};
    fuzz_put_le(eh + 16, 2, 2);     /* ET_EXEC */
    fuzz_put_le(eh + 18, 62, 2);    /* EM_X86_64 */
    fuzz_put_le(eh + 20, 1, 4);
    fuzz_put_le(eh + 24, FM_LOAD, 8);
    fuzz_put_le(eh + 32, 64, 8);    /* e_phoff */
    fuzz_put_le(eh + 52, 64, 2);
    fuzz_put_le(eh + 54, 56, 2);
    fuzz_put_le(eh + 56, 1, 2);
    uint8_t *ph = eh + 64;
    fuzz_put_le(ph, 1, 4);          /* PT_LOAD */
    fuzz_put_le(ph + 4, 7, 4);      /* RWX */
    fuzz_put_le(ph + 8, 0x1000, 8); /* p_offset */
    fuzz_put_le(ph + 16, FM_LOAD, 8);
    fuzz_put_le(ph + 24, FM_LOAD, 8);
    fuzz_put_le(ph + 32, FM_IMAGE, 8);
    fuzz_put_le(ph + 40, FM_IMAGE + FM_BSS, 8);
    fuzz_put_le(ph + 48, 0x1000, 8);
    fuzz_buf_reserve(out, 0x1000 + FM_IMAGE);
    memset(out->data, 0, 0x1000);
    memcpy(out->data, eh, sizeof(eh));
    memcpy(out->data + 0x1000, img, FM_IMAGE);
    out->len = 0x1000 + FM_IMAGE;
    free(img);
}

/*
 * A trace whose records keep their framing and most of their bytes: one to
 * three bytes of header, input, event or digest payloads changed (a mode, a
 * CPU count, a cycle limit, a recorded MSI's vector or due cycle), so that
 * more of the replays get past the reader and run the machine; the rest of
 * the inputs come from fuzz_mutate.h's trace mutator.
 */
static void fm_trace_input(fuzz_rng *r, const fuzz_corpus *c, fuzz_buf *out)
{
    if (fuzz_below(r, 2)) {
        fuzz_make_input(r, FUZZ_TRACE, c, out);
        return;
    }
    const fuzz_buf *seed = &c->seed[fuzz_below(r, c->n)];
    fuzz_rec *recs = malloc(sizeof(*recs) * FUZZ_MAX_RECS);
    fuzz_buf tweaked = {0};
    if (!recs)
        abort();
    size_t n = fuzz_trace_split(seed, recs, FUZZ_MAX_RECS);
    out->len = 0;
    fuzz_buf_insert(out, 0, (const uint8_t *)TRACE_MAGIC, 8);
    unsigned edits = 1 + (unsigned)fuzz_below(r, 3);
    size_t pick[3];
    for (unsigned e = 0; e < edits; e++)
        pick[e] = n ? fuzz_below(r, n) : 0;
    for (size_t k = 0; k < n; k++) {
        bool edit = false;
        for (unsigned e = 0; e < edits; e++)
            edit |= pick[e] == k;
        if (!edit || recs[k].type == TRACE_REC_GUEST || !recs[k].len) {
            fuzz_trace_frame(out, recs[k].type, recs[k].p, recs[k].len);
            continue;
        }
        fuzz_buf_set(&tweaked, recs[k].p, recs[k].len);
        uint8_t *b = &tweaked.data[fuzz_below(r, tweaked.len)];
        switch (fuzz_below(r, 4)) {
        case 0:
            *b ^= (uint8_t)(1u << fuzz_below(r, 8));
            break;
        case 1:
            (*b)++;
            break;
        case 2:
            (*b)--;
            break;
        default:
            *b = (uint8_t)fuzz_next(r);
        }
        fuzz_trace_frame(out, recs[k].type, tweaked.data, tweaked.len);
    }
    fuzz_buf_free(&tweaked);
    free(recs);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool write_all(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The child's standard error, at most its last 256 KiB (a report ends it). */
static size_t read_tail(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    if (len > (long)cap - 1)
        fseek(f, len - (long)cap + 1, SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

/*
 * CPU time (user + system, seconds) process pid has used so far, from
 * /proc/PID/stat fields 14 and 15; -1 when it cannot be read (the process
 * is gone). The fields come after the command name's closing parenthesis.
 */
static double fm_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    /* after ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt cmajflt utime stime (fields 3..15) */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    long tick = sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) / (double)(tick > 0 ? tick : 100);
}

/*
 * Runs argv (the emulator) with stdout to /dev/null and stderr to errpath;
 * kills it (its own process, by pid) once it has used hang_ms of CPU time,
 * or 10 * hang_ms of wall-clock time (a run blocked without using CPU).
 * CPU time and not wall-clock time decides, because these machines are
 * shared: under a load of eight builds on two cores a run that takes 1.5 s
 * alone took over 10 s of wall-clock time and was reported as a hang.
 * Returns the outcome; *status gets the exit status (-1 when none).
 */
static fm_outcome fm_exec(char *const argv[], const char *errpath, unsigned hang_ms, int *status,
                          char *err, size_t errcap)
{
    *status = -1;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fuzz_machine: fork");
        exit(2);
    }
    if (pid == 0) {
        int o = open("/dev/null", O_WRONLY);
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        /* a sanitizer report ends the run with its own status */
        setenv("ASAN_OPTIONS", "detect_leaks=1:exitcode=86", 1);
        setenv("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=86", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    double cpu_limit = hang_ms / 1000.0;
    double wall_deadline = now_seconds() + 10.0 * cpu_limit;
    int ws = 0;
    bool hung = false;
    for (;;) {
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            perror("fuzz_machine: waitpid");
            exit(2);
        }
        if (!hung && (fm_cpu_seconds(pid) > cpu_limit || now_seconds() > wall_deadline)) {
            hung = true;
            kill(pid, SIGKILL);
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    size_t n = read_tail(errpath, err, errcap);
    if (hung)
        return FM_HANG;
    if (memmem(err, n, "Sanitizer", 9) || memmem(err, n, "runtime error:", 14))
        return FM_SANITIZER;
    if (WIFSIGNALED(ws))
        return FM_CRASH;
    *status = WEXITSTATUS(ws);
    if ((*status == 2 || *status == 3) && n == 0)
        return FM_NODIAG;
    return FM_OK;
}

typedef struct fm_lane {
    fuzz_rng rng;
    uint64_t runs, found[FM_NOUTCOMES], status[256], saved;
    double busy, slowest;
} fm_lane;

static int usage(void)
{
    fprintf(stderr, "usage: fuzz_machine [--seconds N] [--seed S] [--iterations N] "
                    "[--kind replay|code|hcall|all] [--verbose]\n"
                    "                    [--emu PATH] [--source DIR] [--crash-dir DIR] [--hang-ms MS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    double seconds = 60;
    uint64_t seed = 1, iterations = 0;
    unsigned hang_ms = 10000;
    const char *emu = APICV_EMU_BIN, *source = APICV_SOURCE_DIR, *crash_dir = "/tmp/fuzz-crashes";
    int only = -1;
    bool verbose = false;
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
            i--;
            continue;
        }
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
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
        else if (strcmp(a, "--emu") == 0)
            emu = v;
        else if (strcmp(a, "--source") == 0)
            source = v;
        else if (strcmp(a, "--crash-dir") == 0)
            crash_dir = v;
        else if (strcmp(a, "--kind") == 0) {
            only = -1;
            for (int k = 0; k < FM_NKINDS; k++)
                if (strcmp(v, fm_kind_name[k]) == 0)
                    only = k;
            if (only < 0 && strcmp(v, "all") != 0)
                return usage();
        } else
            return usage();
    }
    if (access(emu, X_OK) != 0) {
        fprintf(stderr, "fuzz_machine: %s: not an executable (see --emu)\n", emu);
        return 2;
    }
    if (mkdir(crash_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz_machine: cannot create %s: %s\n", crash_dir, strerror(errno));
        return 2;
    }
    fuzz_corpus *traces = calloc(1, sizeof(*traces));
    fm_lane *lanes = calloc(FM_NKINDS, sizeof(*lanes));
    char *err = malloc(256u << 10);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/fuzz-machine-XXXXXX", fuzz_tmpdir());
    if (!traces || !lanes || !err || !mkdtemp(tmp)) {
        fprintf(stderr, "fuzz_machine: cannot set up the harness\n");
        return 2;
    }
    if ((only < 0 || only == FM_REPLAY) &&
        fuzz_load_seeds(traces, FUZZ_TRACE, source, ".") == 0) {
        fprintf(stderr, "fuzz_machine: no traces under %s/traces/recorded\n", source);
        return 2;
    }
    for (unsigned k = 0; k < FM_NKINDS; k++)
        fuzz_rng_seed(&lanes[k].rng, seed, 100 + k);
    char in_path[4200], err_path[4200];
    snprintf(err_path, sizeof(err_path), "%s/stderr", tmp);
    printf("fuzz_machine: seed %llu, %.0f s, hang limit %u ms, emulator %s, findings to %s\n",
           (unsigned long long)seed, seconds, hang_ms, emu, crash_dir);
    fflush(stdout);

    fuzz_buf in = {0};
    double start = now_seconds(), next_report = start + 10;
    uint64_t findings = 0;
    for (;;) {
        bool any = false;
        for (unsigned k = 0; k < FM_NKINDS; k++) {
            fm_lane *l = &lanes[k];
            if ((only >= 0 && (unsigned)only != k) || (iterations && l->runs >= iterations) ||
                now_seconds() - start >= seconds)
                continue;
            any = true;
            /* the input and the command line, from the lane's stream only */
            char mode_arg[32], cyc_arg[32], cpus_arg[16];
            char *args[16];
            unsigned na = 0;
            args[na++] = (char *)emu;
            if (k == FM_REPLAY) {
                fm_trace_input(&l->rng, traces, &in);
                snprintf(in_path, sizeof(in_path), "%s/in.trace", tmp);
                args[na++] = "replay";
                args[na++] = "--headless";
                if (l->runs & 1)
                    args[na++] = "--verify";
            } else {
                fm_build_elf(&l->rng, (fm_kind)k, &in);
                snprintf(in_path, sizeof(in_path), "%s/in.elf", tmp);
                snprintf(mode_arg, sizeof(mode_arg), "--mode=%s", fm_modes[l->runs % 5]);
                snprintf(cyc_arg, sizeof(cyc_arg), "--max-cycles=%llu",
                         (unsigned long long)(20000 + fuzz_below(&l->rng, 480000)));
                snprintf(cpus_arg, sizeof(cpus_arg), "--cpus=%u",
                         1 + (unsigned)fuzz_below(&l->rng, FM_MAX_CPUS));
                args[na++] = "run";
                args[na++] = "--headless";
                args[na++] = mode_arg;
                args[na++] = cyc_arg;
                args[na++] = cpus_arg;
                args[na++] = "--mem=8";
            }
            args[na++] = in_path;
            args[na] = NULL;
            if (!write_all(in_path, in.data, in.len)) {
                fprintf(stderr, "fuzz_machine: cannot write %s\n", in_path);
                return 2;
            }
            double t0 = now_seconds();
            int status;
            fm_outcome o = fm_exec(args, err_path, hang_ms, &status, err, 256u << 10);
            /* a generated guest is a valid image: refusing it is a finding too */
            if (o == FM_OK && k != FM_REPLAY && status == 2)
                o = FM_NODIAG;
            double dt = now_seconds() - t0;
            l->busy += dt;
            if (dt > l->slowest)
                l->slowest = dt;
            l->found[o]++;
            if (status >= 0)
                l->status[status & 0xFF]++;
            if (verbose && o == FM_OK) {
                size_t elen = strlen(err);
                while (elen && err[elen - 1] == '\n')
                    err[--elen] = 0;
                const char *last = memrchr(err, '\n', elen);
                printf("%s run %llu: %s status %d: %.160s\n", fm_kind_name[k],
                       (unsigned long long)l->runs, k == FM_REPLAY ? "" : mode_arg, status,
                       last ? last + 1 : err);
            }
            if (o != FM_OK) {
                findings++;
                char base[4300], save[4400], cmdf[4400];
                snprintf(base, sizeof(base), "%s/%s-seed%llu-n%llu", crash_dir, fm_kind_name[k],
                         (unsigned long long)seed, (unsigned long long)l->runs);
                snprintf(save, sizeof(save), "%s%s", base, k == FM_REPLAY ? ".trace" : ".elf");
                snprintf(cmdf, sizeof(cmdf), "%s.cmd", base);
                size_t elen = strlen(err);
                while (elen && err[elen - 1] == '\n')
                    err[--elen] = 0;
                const char *last = memrchr(err, '\n', elen);
                printf("%s: %s run %llu (seed %llu, %.1f s, status %d): %s%.200s\n",
                       fm_outcome_name[o], fm_kind_name[k], (unsigned long long)l->runs,
                       (unsigned long long)seed, dt, status,
                       l->saved < FM_MAX_SAVED ? "saved; last stderr line: " : "not saved; ",
                       last ? last + 1 : err);
                if (l->saved++ < FM_MAX_SAVED) {
                    write_all(save, in.data, in.len);
                    FILE *f = fopen(cmdf, "w");
                    if (f) {
                        for (unsigned a = 0; a + 1 < na; a++)
                            fprintf(f, "%s ", args[a]);
                        fprintf(f, "%s\n", save);
                        fclose(f);
                    }
                }
                fflush(stdout);
            }
            l->runs++;
        }
        double now = now_seconds();
        if (now >= next_report || !any) {
            printf("[%6.1f s]", now - start);
            for (unsigned k = 0; k < FM_NKINDS; k++)
                if (lanes[k].runs)
                    printf("  %s %llu (%llu findings)", fm_kind_name[k],
                           (unsigned long long)lanes[k].runs,
                           (unsigned long long)(lanes[k].runs - lanes[k].found[FM_OK]));
            printf("\n");
            fflush(stdout);
            next_report = now + 10;
        }
        if (!any)
            break;
    }
    printf("\nsummary (seed %llu, %.1f s):\n", (unsigned long long)seed, now_seconds() - start);
    for (unsigned k = 0; k < FM_NKINDS; k++) {
        fm_lane *l = &lanes[k];
        if (!l->runs)
            continue;
        printf("%-7s %6llu runs, %.1f runs/s, slowest %.2f s;", fm_kind_name[k],
               (unsigned long long)l->runs, l->busy > 0 ? (double)l->runs / l->busy : 0, l->slowest);
        for (unsigned o = 1; o < FM_NOUTCOMES; o++)
            printf(" %s %llu,", fm_outcome_name[o], (unsigned long long)l->found[o]);
        printf(" exit statuses:");
        for (unsigned s = 0; s < 256; s++)
            if (l->status[s])
                printf(" %u:%llu", s, (unsigned long long)l->status[s]);
        printf("\n");
    }
    printf("%s\n", findings ? "FINDINGS (see above)" : "no findings");
    unlink(in_path);
    unlink(err_path);
    snprintf(in_path, sizeof(in_path), "%s/in.trace", tmp);
    unlink(in_path);
    rmdir(tmp);
    fuzz_buf_free(&in);
    fuzz_corpus_free(traces);
    free(traces);
    free(lanes);
    free(err);
    return findings ? 1 : 0;
}
