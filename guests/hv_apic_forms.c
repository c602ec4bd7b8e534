/*
 * hv_apic_forms.c — xAPIC registers accessed in the instruction forms
 * compilers emit, not only a plain MOV: a 32-bit address size (67h, what
 * gcc emits for XAPIC_BASE plus a computed 32-bit offset), MOVZX, a 16-bit
 * operand (66h), an OR to memory (read-modify-write), MOVS and LODS, and
 * a REP OUTSB to the console. Under the hypervisor every access that is
 * not virtualized is an APIC-access VM exit (44) and every OUTS an I/O
 * exit (30) whose instruction the hypervisor must emulate; the timer's
 * current count (390H) is never virtualized, so the forms reach the
 * hypervisor in every VMX mode. Prints "apic forms: OK" and ends with 0.
 */
#include "guest.h"

/* XAPIC_BASE as a 32-bit displacement: with a 32-bit address size the
 * effective address is (reg32 + 0xFEE00000) mod 2^32. */
#define A32 "-0x1200000"

static uint32_t read_a32(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movl " A32 "(%k1), %0" : "=r"(v) : "r"(off) : "memory");
    return v;
}

static void write_a32(uint32_t off, uint32_t v)
{
    __asm__ volatile("movl %0, " A32 "(%k1)" : : "r"(v), "r"(off) : "memory");
}

static uint32_t read_movzw_a32(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movzwl " A32 "(%k1), %0" : "=r"(v) : "r"(off) : "memory");
    return v;
}

static uint32_t read_movzb(uint32_t off)
{
    uint32_t v;
    uint64_t addr = XAPIC_BASE + off;
    __asm__ volatile("movzbl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static uint32_t read_word_a32(uint32_t off)
{
    uint32_t v = 0xAAAA0000u;
    __asm__ volatile("movw " A32 "(%k1), %w0" : "+r"(v) : "r"(off) : "memory");
    return v;
}

static void or_a32(uint32_t off, uint32_t bits)
{
    __asm__ volatile("orl %0, " A32 "(%k1)" : : "r"(bits), "r"(off) : "memory", "cc");
}

static uint32_t read_movs(uint32_t off)
{
    uint32_t v = 0;
    uint64_t src = XAPIC_BASE + off;
    uint32_t *dst = &v;
    __asm__ volatile("cld\n\tmovsl" : "+S"(src), "+D"(dst) : : "memory");
    return v;
}

static uint32_t read_lods_a32(uint32_t off)
{
    uint32_t v;
    uint64_t src = (uint32_t)(XAPIC_BASE + off);
    __asm__ volatile("cld\n\taddr32 lodsl" : "=a"(v), "+S"(src) : : "memory");
    return v;
}

static void outs_console(const char *s, uint64_t n)
{
    __asm__ volatile("cld\n\trep outsb" : "+S"(s), "+c"(n) : "d"(0xE9) : "memory");
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return GUEST_OK;
    xapic_enable(0xFF);

    /* Registers with a fixed value: the version. */
    uint32_t ver = xapic_read(APIC_VERSION);
    GUEST_CHECK(read_a32(APIC_VERSION) == ver);
    GUEST_CHECK(read_movzw_a32(APIC_VERSION) == (ver & 0xFFFF));
    GUEST_CHECK(read_movzb(APIC_VERSION) == (ver & 0xFF));
    GUEST_CHECK(read_word_a32(APIC_VERSION) == (0xAAAA0000u | (ver & 0xFFFF)));
    GUEST_CHECK(read_movs(APIC_VERSION) == ver);
    GUEST_CHECK(read_lods_a32(APIC_VERSION) == ver);

    /* Writes: the TPR through 67h, then OR to memory. */
    write_a32(APIC_TPR, 0x20);
    GUEST_CHECK(xapic_read(APIC_TPR) == 0x20);
    or_a32(APIC_TPR, 0x10);
    GUEST_CHECK(read_a32(APIC_TPR) == 0x30);
    write_a32(APIC_TPR, 0);
    GUEST_CHECK(xapic_read(APIC_TPR) == 0);

    /* The timer's current count, which no VMX mode virtualizes. */
    write_a32(APIC_TIMER_DCR, 0xB); /* divide by 1 */
    write_a32(APIC_LVT_TIMER, APIC_LVT_MASKED | 0x40);
    write_a32(APIC_TIMER_ICR, 0x7FFFFFFF);
    uint32_t t1 = read_a32(APIC_TIMER_CCR);
    uint32_t t2 = read_movs(APIC_TIMER_CCR);
    uint32_t t3 = read_lods_a32(APIC_TIMER_CCR);
    uint32_t hi = read_movzw_a32(APIC_TIMER_CCR + 2);
    uint32_t lo = read_word_a32(APIC_TIMER_CCR);
    uint32_t b3 = read_movzb(APIC_TIMER_CCR + 3);
    printf("apic forms: version %x, TMCCT %u %u %u, high %x, low word %x, top byte %x\n", ver, t1,
           t2, t3, hi, lo, b3);
    GUEST_CHECK(t1 > 0 && t1 <= 0x7FFFFFFF);
    GUEST_CHECK(t2 <= t1 && t3 <= t2 && t3 > 0);
    GUEST_CHECK(hi <= (t3 >> 16) && hi >= 0x7000);
    GUEST_CHECK((lo & 0xFFFF0000u) == 0xAAAA0000u);
    GUEST_CHECK(b3 == 0x7F);
    write_a32(APIC_TIMER_ICR, 0);

    static const char msg[] = "apic forms: OUTS OK\n";
    outs_console(msg, sizeof(msg) - 1);
    printf("apic forms: OK\n");
    return GUEST_OK;
}
