/*
 * hv_msr_lists.c — the VMCS MSR lists under the built-in hypervisor (any
 * VMX mode, one vCPU): the guest names areas in its own RAM through
 * VMCS_WRITE (guest ABI 0x04) and the processor (vmx/) processes them at
 * the entries and exits around its hypercalls (SDM Vol. 3C 26.4 VM-entry
 * MSR loading, 27.4 VM-exit MSR storing, 27.6 VM-exit MSR loading):
 *
 *   1. a VM-entry MSR-load list gives this guest IA32_KERNEL_GS_BASE and
 *      STAR at the entry that resumes the hypercall;
 *   2. a VM-exit MSR-store list records IA32_TSC_AUX as it was at the
 *      next exit;
 *   3. a VM-exit MSR-load list loads IA32_TSC_AUX at the exit (the host's
 *      value), which the guest then sees, as on hardware, since its entry
 *      list does not restore it;
 *   4. an entry list whose third entry names IA32_FS_BASE fails the entry
 *      as exit 34 (bit 31 set): the hypervisor takes the VMCS_WRITE back
 *      and returns -22 with RDX = that exit reason; the first two entries
 *      were loaded all the same.
 * Prints "hv_msr_lists: OK" and exits 0.
 */
#include "guest.h"

#define ENTRY_MSR_LOAD_ADDR 0x200Au
#define ENTRY_MSR_LOAD_COUNT 0x4014u
#define EXIT_MSR_STORE_ADDR 0x2006u
#define EXIT_MSR_STORE_COUNT 0x400Eu
#define EXIT_MSR_LOAD_ADDR 0x2008u
#define EXIT_MSR_LOAD_COUNT 0x4010u
#define MSR_TSC_AUX 0xC0000103u
#define MSR_STAR 0xC0000081u
#define MSR_FS_BASE 0xC0000100u
#define MSR_KERNEL_GS 0xC0000102u
#define ENTRY_FAIL_MSR 0x80000022ull

/* Entries of 16 bytes (SDM 24.7.2): index, then data. */
static uint64_t entry_area[6] __attribute__((aligned(16)));
static uint64_t store_area[2] __attribute__((aligned(16)));
static uint64_t load_area[2] __attribute__((aligned(16)));

#define PA(p) ((uint64_t)(uintptr_t)(p))

static void write_field(uint32_t field, uint64_t value)
{
    uint64_t err = 0;
    int64_t r = hc_vmcs_write(field, value, &err);
    if (r != 0) {
        printf("VMCS_WRITE %#x = %#lx: %ld (error %#lx)\n", field, value, r, err);
        guest_exit(GUEST_FAIL);
    }
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return 0;
    uint64_t version;
    /* 1. The entry list. */
    entry_area[0] = MSR_KERNEL_GS;
    entry_area[1] = 0x5550000;
    entry_area[2] = MSR_STAR;
    entry_area[3] = 0x0033002000000000ull;
    write_field(ENTRY_MSR_LOAD_ADDR, PA(entry_area));
    write_field(ENTRY_MSR_LOAD_COUNT, 2);
    GUEST_CHECK(rdmsr(MSR_KERNEL_GS) == 0x5550000);
    GUEST_CHECK(rdmsr(MSR_STAR) == 0x0033002000000000ull);
    /* 2. The exit store list. */
    wrmsr(MSR_TSC_AUX, 0x42);
    store_area[0] = MSR_TSC_AUX;
    write_field(EXIT_MSR_STORE_ADDR, PA(store_area));
    write_field(EXIT_MSR_STORE_COUNT, 1);
    GUEST_CHECK(hc_abi_version(&version) == 0);
    GUEST_CHECK(store_area[1] == 0x42);
    /* 3. The exit load list. */
    load_area[0] = MSR_TSC_AUX;
    load_area[1] = 0x99;
    write_field(EXIT_MSR_LOAD_ADDR, PA(load_area));
    write_field(EXIT_MSR_LOAD_COUNT, 1);
    GUEST_CHECK(hc_abi_version(&version) == 0);
    GUEST_CHECK(rdmsr(MSR_TSC_AUX) == 0x99);
    write_field(EXIT_MSR_LOAD_COUNT, 0);
    /* 4. An entry the processor refuses. */
    wrmsr(MSR_KERNEL_GS, 0);
    entry_area[1] = 0x6660000;
    entry_area[4] = MSR_FS_BASE;
    uint64_t err = 0;
    GUEST_CHECK(hc_vmcs_write(ENTRY_MSR_LOAD_COUNT, 3, &err) == HC_EINVAL);
    GUEST_CHECK(err == ENTRY_FAIL_MSR);
    GUEST_CHECK(rdmsr(MSR_KERNEL_GS) == 0x6660000);
    uint64_t count = 0;
    GUEST_CHECK(hc_vmcs_read(ENTRY_MSR_LOAD_COUNT, &count) == 0 && count == 2);
    write_field(ENTRY_MSR_LOAD_COUNT, 0);
    printf("hv_msr_lists: OK\n");
    return 0;
}
