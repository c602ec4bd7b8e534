/*
 * selftest.c — checks the guest ABI's entry state and the runtime itself.
 *
 * Runs in any mode (it uses no hypercall and no APIC):
 *   - entry state: CR0, CR4, EFER, CS/SS/DS selectors, IF = 0, the stack
 *     below 1 MiB and the vCPU arguments;
 *   - exceptions through the runtime's IDT: #UD (ud2), #DE (div by 0),
 *     #BP (int3), #PF with its error code and CR2, with handlers that read
 *     and change the saved frame;
 *   - software interrupts: the frame's vector, and that caller-saved
 *     registers survive the stub and the C dispatcher;
 *   - the formatter (snprintf) and STI/CLI;
 *   - all vCPUs reach a barrier and count themselves atomically.
 * Exits 0 with "selftest: ... OK", or GUEST_FAIL naming the failed check.
 */
#include "guest.h"

#define VEC_SOFT 0x40
#define VEC_SET_RAX 0x41
#define UNMAPPED_ADDR 0x100000000ull /* 4 GiB: just past the boot identity map */

static volatile unsigned ud_count, de_count, bp_count, pf_count, soft_count;
static volatile uint64_t pf_error, pf_cr2, soft_vector, soft_cs;
static volatile uint32_t arrived;
static struct guest_barrier barrier;

static void on_ud(struct guest_frame *f)
{
    GUEST_CHECK(*(const uint16_t *)f->rip == 0x0B0F); /* ud2 */
    ud_count++;
    f->rip += 2;
}

static void on_de(struct guest_frame *f)
{
    GUEST_CHECK(*(const uint16_t *)f->rip == 0xF1F7); /* divl %ecx */
    de_count++;
    f->rip += 2;
}

static void on_bp(struct guest_frame *f)
{
    GUEST_CHECK(*(const uint8_t *)(f->rip - 1) == 0xCC); /* a trap: RIP is after int3 */
    bp_count++;
}

static void on_pf(struct guest_frame *f)
{
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    pf_cr2 = cr2;
    pf_error = f->error_code;
    pf_count++;
    f->rip += 3; /* movb $1, (%rax) */
}

static void on_soft(struct guest_frame *f)
{
    soft_vector = f->vector;
    soft_cs = f->cs;
    soft_count++;
    /* Clobber what the C ABI lets a callee clobber: the stub must restore it. */
    __asm__ volatile("xor %%r8d, %%r8d; xor %%r9d, %%r9d; xor %%r10d, %%r10d; xor %%r11d, %%r11d"
                     ::: "r8", "r9", "r10", "r11");
}

static void on_set_rax(struct guest_frame *f)
{
    f->rax = f->rbx + 1;
}

static void check_entry_state(unsigned cpu, unsigned ncpus)
{
    uint16_t cs, ss, ds;
    __asm__ volatile("mov %%cs, %0; mov %%ss, %1; mov %%ds, %2" : "=r"(cs), "=r"(ss), "=r"(ds));
    GUEST_CHECK(cpu < ncpus);
    GUEST_CHECK(read_cr0() == 0x80010033u); /* PE MP ET NE WP PG */
    GUEST_CHECK(read_cr4() == 0x20u);       /* PAE */
    GUEST_CHECK(rdmsr(0xC0000080u) == 0xD00u); /* EFER: LME LMA NXE */
    GUEST_CHECK(cs == 0x08 && ss == 0x10 && ds == 0x10);
    GUEST_CHECK((read_rflags() & (1u << 9)) == 0);
    volatile int local = 0;
    GUEST_CHECK((uintptr_t)&local < 0x100000);
}

static void check_exceptions(void)
{
    register_handler(6, on_ud);
    register_handler(0, on_de);
    register_handler(3, on_bp);
    register_handler(14, on_pf);
    __asm__ volatile("ud2" ::: "memory");
    GUEST_CHECK(ud_count == 1);
    __asm__ volatile("xor %%edx, %%edx; mov $1, %%eax; xor %%ecx, %%ecx; divl %%ecx"
                     ::: "rax", "rcx", "rdx", "memory");
    GUEST_CHECK(de_count == 1);
    __asm__ volatile("int3" ::: "memory");
    GUEST_CHECK(bp_count == 1);
    __asm__ volatile("movb $1, (%0)" ::"a"(UNMAPPED_ADDR) : "memory");
    GUEST_CHECK(pf_count == 1);
    GUEST_CHECK(pf_cr2 == UNMAPPED_ADDR);
    GUEST_CHECK(pf_error == 0x2); /* not present, write, supervisor */
    register_handler(6, 0);
    register_handler(0, 0);
    register_handler(3, 0);
    register_handler(14, 0);
}

static void check_soft_interrupts(void)
{
    register_handler(VEC_SOFT, on_soft);
    register_handler(VEC_SET_RAX, on_set_rax);
    uint64_t r8, r9, r10, r11, rdi, rsi;
    __asm__ volatile("mov $0x0808, %%r8\n\tmov $0x0909, %%r9\n\tmov $0x1010, %%r10\n\t"
                     "mov $0x1111, %%r11\n\tmov $0xD1D1, %%rdi\n\tmov $0x5151, %%rsi\n\t"
                     "int $0x40\n\t"
                     "mov %%r8, %0\n\tmov %%r9, %1\n\tmov %%r10, %2\n\tmov %%r11, %3\n\t"
                     "mov %%rdi, %4\n\tmov %%rsi, %5"
                     : "=m"(r8), "=m"(r9), "=m"(r10), "=m"(r11), "=m"(rdi), "=m"(rsi)
                     :
                     : "r8", "r9", "r10", "r11", "rdi", "rsi", "memory");
    GUEST_CHECK(soft_count == 1 && soft_vector == VEC_SOFT && soft_cs == 0x08);
    GUEST_CHECK(r8 == 0x0808 && r9 == 0x0909 && r10 == 0x1010 && r11 == 0x1111);
    GUEST_CHECK(rdi == 0xD1D1 && rsi == 0x5151);
    uint64_t rax;
    __asm__ volatile("mov $41, %%ebx; int $0x41" : "=a"(rax)::"rbx", "memory");
    GUEST_CHECK(rax == 42);
}

static void check_format(void)
{
    char buf[96];
    snprintf(buf, sizeof(buf), "%d|%5u|%-4x|%08lX|%s|%c|%%|%p", -7, 42u, 0xabu, 0xBEEFul, "str", 'z',
             (void *)0x1000);
    GUEST_CHECK(strcmp(buf, "-7|   42|ab  |0000BEEF|str|z|%|0x1000") == 0);
    GUEST_CHECK(snprintf(buf, 4, "%llu", 123456789ull) == 9 && strcmp(buf, "123") == 0);
}

static void check_interrupt_flag(void)
{
    sti();
    GUEST_CHECK(read_rflags() & (1u << 9));
    uint64_t saved = irq_save();
    GUEST_CHECK((read_rflags() & (1u << 9)) == 0);
    irq_restore(saved);
    GUEST_CHECK(read_rflags() & (1u << 9));
    cli();
    GUEST_CHECK((read_rflags() & (1u << 9)) == 0);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    check_entry_state(cpu, ncpus);
    atomic_add(&arrived, 1);
    guest_barrier_wait(&barrier, ncpus);
    if (cpu != 0)
        return 0;
    GUEST_CHECK(atomic_load(&arrived) == ncpus);
    check_exceptions();
    check_soft_interrupts();
    check_format();
    check_interrupt_flag();
    printf("selftest: entry state, exceptions, interrupts, printf, %u vCPUs OK\n", ncpus);
    return GUEST_OK;
}
