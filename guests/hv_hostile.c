/*
 * hv_hostile.c — a guest that tries to reach the hypervisor's own memory
 * through every VMCS field that holds a physical address (guest ABI,
 * "Hypercalls", the paragraph after the table; docs/guest-abi.md "What a
 * guest can reach"). For any VMX mode, with 2 vCPUs and the default 64 MiB
 * of RAM.
 *
 * vCPU 0, for each address field F:
 *   - writes into F the host's structures: the first host page, a page of
 *     vCPU 1's (its virtual-APIC page: five host pages per vCPU), the
 *     host's value of each other address field that lies outside RAM, and,
 *     after F holds a guest-RAM page, a "high" write (encoding F + 1) that
 *     would move it into the host's memory. Each must return -22 with
 *     RDX = 7 and leave F as it was;
 *   - writes a page of its own RAM (a page outside RAM, not the host's,
 *     for the APIC-access address too): accepted, VMCS_READ sees it after
 *     the entry (the VMCS link pointer: accepted by the policy, then
 *     refused by the entry's guest-state check, exit reason 33);
 *   - writes the host's value back: accepted.
 * Then, where the mode has them, VAPIC_* and PID_* through a page and a
 * descriptor in its own RAM reach exactly that memory, and a count that
 * makes an MSR-store area run past the end of RAM is refused at entry.
 * Last it writes marker dwords at offset 400H of "its" virtual-APIC page
 * after the refused attempt to name vCPU 1's; vCPU 1 checks that its own
 * page did not change. Prints "hv_hostile: <n> fields OK" and exits 0.
 */
#include "guest.h"

#define RAM_SIZE 0x4000000ull  /* the default --mem */
#define HOST_BASE 0x4000000000ull /* where the hypervisor's pages begin */
#define HOST_PAGES_PER_VCPU 5
#define ERR_BAD_CONTROL 7
#define ENTRY_FAIL_GUEST 0x80000021ull
#define MARK_OFFSET 0x400u

#define VMCS_VIRTUAL_APIC_ADDR 0x2012u
#define VMCS_APIC_ACCESS_ADDR 0x2014u
#define VMCS_POSTED_INTR_DESC_ADDR 0x2016u
#define VMCS_EXIT_MSR_STORE_ADDR 0x2006u
#define VMCS_EXIT_MSR_STORE_COUNT 0x400Eu
#define VMCS_VMCS_LINK_PTR 0x2800u

static const struct {
    uint32_t enc;
    const char *name;
} fields[] = {
    {0x2000, "I/O bitmap A"},
    {0x2002, "I/O bitmap B"},
    {0x2004, "MSR bitmap"},
    {0x2006, "VM-exit MSR-store address"},
    {0x2008, "VM-exit MSR-load address"},
    {0x200A, "VM-entry MSR-load address"},
    {0x200C, "executive-VMCS pointer"},
    {0x200E, "PML address"},
    {VMCS_VIRTUAL_APIC_ADDR, "virtual-APIC address"},
    {VMCS_APIC_ACCESS_ADDR, "APIC-access address"},
    {VMCS_POSTED_INTR_DESC_ADDR, "posted-interrupt descriptor address"},
    {0x201A, "EPT pointer"},
    {0x2024, "EPTP-list address"},
    {0x2026, "VMREAD-bitmap address"},
    {0x2028, "VMWRITE-bitmap address"},
    {0x202A, "#VE information address"},
    {0x2030, "SPP-table pointer"},
    {VMCS_VMCS_LINK_PTR, "VMCS link pointer"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Pages of this guest's own RAM, one per field. */
static uint8_t ram_page[NFIELDS][4096] __attribute__((aligned(4096)));
static volatile uint32_t stage;
static uint64_t host_value[NFIELDS];

static uint64_t vmcs(uint32_t enc)
{
    uint64_t v = 0;
    GUEST_CHECK(hc_vmcs_read(enc, &v) == 0);
    return v;
}

static void expect_refused(unsigned i, uint32_t enc, uint64_t val)
{
    if (val == host_value[i])
        return; /* the host's own value for this field is the guest's to keep */
    uint64_t before = vmcs(fields[i].enc), err = 0;
    int64_t r = hc_vmcs_write(enc, val, &err);
    if (r != HC_EINVAL || err != ERR_BAD_CONTROL || vmcs(fields[i].enc) != before) {
        printf("hv_hostile: %s (%#x) accepted %#llx: RAX %lld RDX %llu\n", fields[i].name,
               (unsigned)enc, (unsigned long long)val, (long long)r, (unsigned long long)err);
        guest_exit(GUEST_FAIL);
    }
}

static void expect_accepted(unsigned i, uint64_t val)
{
    uint64_t err = 0;
    int64_t r = hc_vmcs_write(fields[i].enc, val, &err);
    if (r != 0 || vmcs(fields[i].enc) != val) {
        printf("hv_hostile: %s refused %#llx: RAX %lld RDX %llu\n", fields[i].name,
               (unsigned long long)val, (long long)r, (unsigned long long)err);
        guest_exit(GUEST_FAIL);
    }
}

static void attack_field(unsigned i, const uint64_t *host)
{
    uint32_t enc = fields[i].enc;
    uint64_t mine = (uint64_t)(uintptr_t)ram_page[i];
    uint64_t vcpu1_vapic = host[8] + HOST_PAGES_PER_VCPU * 4096ull;

    /* The host's memory, whatever part of it. */
    expect_refused(i, enc, HOST_BASE);
    expect_refused(i, enc, vcpu1_vapic);
    expect_refused(i, enc, HOST_BASE + 0x123000);
    for (unsigned j = 0; j < NFIELDS; j++)
        if (host[j] != host[i] && host[j] >= RAM_SIZE && host[j] != ~0ull)
            expect_refused(i, enc, host[j]);

    if (enc == VMCS_VMCS_LINK_PTR) {
        /* Guest RAM passes the policy, then the entry's check of the link
         * pointer (no VMCS shadowing) fails: restored, exit reason 33. */
        uint64_t err = 0;
        GUEST_CHECK(hc_vmcs_write(enc, mine, &err) == HC_EINVAL);
        GUEST_CHECK(err == ENTRY_FAIL_GUEST);
        GUEST_CHECK(vmcs(enc) == host[i]);
        expect_refused(i, enc, HOST_BASE + 0x2000);
        return;
    }
    /* Its own RAM: the first and the last page of it too. */
    expect_accepted(i, 0);
    expect_accepted(i, mine);
    /* A "high" write (bits 63:32) that would move it into the host's
     * memory (4 MiB from HOST_BASE; the host's own pages are the first
     * few dozen). */
    GUEST_CHECK(mine >= 0x100000 && mine < 0x400000);
    expect_refused(i, enc + 1, HOST_BASE >> 32);
    expect_accepted(i, RAM_SIZE - 4096);
    if (enc != VMCS_APIC_ACCESS_ADDR)
        expect_refused(i, enc, RAM_SIZE); /* just past the end of RAM */
    if (enc == VMCS_APIC_ACCESS_ADDR) {
        /* The processor only compares addresses with this page: any page
         * outside RAM but the host's will do. */
        expect_accepted(i, 0xFEC00000ull);
        expect_accepted(i, RAM_SIZE);
    }
    expect_accepted(i, host[i]);
}

/* VAPIC_* through a virtual-APIC page in the guest's RAM reach that page. */
static void vapic_in_ram(void)
{
    volatile uint32_t *page = (volatile uint32_t *)ram_page[8];
    uint32_t v = 0;
    page[MARK_OFFSET / 4] = 0;
    expect_accepted(8, (uint64_t)(uintptr_t)ram_page[8]);
    GUEST_CHECK(hc_vapic_write(MARK_OFFSET, 0x600DF00Du) == 0);
    GUEST_CHECK(page[MARK_OFFSET / 4] == 0x600DF00Du);
    page[MARK_OFFSET / 4] = 0x12345678u;
    GUEST_CHECK(hc_vapic_read(MARK_OFFSET, &v) == 0 && v == 0x12345678u);
}

/* PID_* through a descriptor in the guest's RAM reach that descriptor. */
static void pid_in_ram(void)
{
    volatile uint64_t *desc = (volatile uint64_t *)ram_page[10];
    uint64_t v = 0;
    expect_accepted(10, (uint64_t)(uintptr_t)ram_page[10]);
    GUEST_CHECK(hc_pid_write(6, 0xFEEDull) == 0);
    GUEST_CHECK(desc[6] == 0xFEEDull);
    desc[7] = 0xBEEFull;
    GUEST_CHECK(hc_pid_read(7, &v) == 0 && v == 0xBEEFull);
}

static void vcpu0(const char *mode)
{
    uint64_t host[NFIELDS];
    for (unsigned i = 0; i < NFIELDS; i++) {
        host[i] = host_value[i] = vmcs(fields[i].enc);
        /* Bitmaps all ones (every port and MSR still exits while one of
         * them is named); the virtual-APIC page and the rest zero. */
        if (i <= 2)
            for (unsigned b = 0; b < 4096; b++)
                ram_page[i][b] = 0xFF;
    }
    GUEST_CHECK(host[8] >= HOST_BASE); /* the host's own virtual-APIC page */
    for (unsigned i = 0; i < NFIELDS; i++)
        attack_field(i, host);

    /* An MSR-store area whose count runs it past the end of RAM: the
     * policy refuses it at the entry that would use it. */
    uint64_t err = 0;
    expect_accepted(3, RAM_SIZE - 16);
    GUEST_CHECK(hc_vmcs_write(VMCS_EXIT_MSR_STORE_COUNT, 2, &err) == HC_EINVAL);
    GUEST_CHECK(err == ERR_BAD_CONTROL && vmcs(VMCS_EXIT_MSR_STORE_COUNT) == 0);
    expect_accepted(3, host[3]);

    uint32_t v = 0;
    int has_vapic = hc_vapic_write(MARK_OFFSET, 0) == 0;
    if (has_vapic) {
        vapic_in_ram();
        expect_accepted(8, host[8]);
        /* The host's page again: not the guest's RAM page. */
        GUEST_CHECK(hc_vapic_read(MARK_OFFSET, &v) == 0 && v == 0);
        /* The attack that found the hole: name vCPU 1's page, then write. */
        expect_refused(8, VMCS_VIRTUAL_APIC_ADDR, host[8] + HOST_PAGES_PER_VCPU * 4096ull);
        GUEST_CHECK(hc_vapic_write(MARK_OFFSET, 0xBADu) == 0);
    }
    uint64_t q = 0;
    int has_pid = hc_pid_read(6, &q) == 0;
    if (has_pid) {
        pid_in_ram();
        expect_accepted(10, host[10]);
        GUEST_CHECK(hc_pid_read(6, &q) == 0 && q == 0);
    }
    printf("hv_hostile (%s): %u fields OK, vapic %s, pid %s\n", mode, (unsigned)NFIELDS,
           has_vapic ? "checked" : "none", has_pid ? "checked" : "none");
    atomic_store(&stage, 1);
    while (atomic_load(&stage) != 2)
        pause();
}

static void vcpu1(void)
{
    while (atomic_load(&stage) != 1)
        pause();
    uint32_t v = 0;
    if (hc_vapic_read(MARK_OFFSET, &v) == 0)
        GUEST_CHECK(v == 0); /* vCPU 0's writes never reached this page */
    atomic_store(&stage, 2);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    GUEST_CHECK(ncpus >= 2);
    if (cpu == 0) {
        uint64_t nv = 0;
        /* The mode, as the VMCS shows it (for the message only). */
        uint64_t proc2 = vmcs(0x401E);
        const char *mode = (proc2 & (1u << 9)) ? (hc_pid_read(4, &nv) == 0 ? "posted" : "apicv")
                           : (vmcs(0x4002) & (1u << 21)) ? "tpr-shadow"
                                                         : "emulated";
        vcpu0(mode);
    } else if (cpu == 1) {
        vcpu1();
    }
    return GUEST_OK;
}
