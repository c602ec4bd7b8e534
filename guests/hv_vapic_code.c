/*
 * hv_vapic_code.c — code written through the virtual-APIC page is the code
 * that runs. The guest points the virtual-APIC address at one of its own
 * pages (VMCS_WRITE; guest RAM is allowed), runs a function on that page,
 * rewrites the function with VAPIC_WRITE (the hypervisor's write, not a
 * guest store) and runs it again: the decoded copy of the old code must
 * be gone. Modes with a virtual-APIC page only (tpr-shadow, apicv,
 * posted); emulated mode says "skipped". Prints "vapic code: OK".
 */
#include "guest.h"

#define VMCS_VIRTUAL_APIC_ADDR 0x2012u
#define CODE_OFF 0x800u /* beyond the APIC registers (0x000-0x3F0) */

static uint8_t page[4096] __attribute__((aligned(4096)));

static void on_ud(struct guest_frame *f)
{
    (void)f;
    printf("vapic code: VMCALL raised #UD: not running under VMX (use a VMX mode)\n");
    guest_exit(GUEST_FAIL + 1);
}

int guest_main(unsigned cpu, unsigned ncpus)
{
    (void)ncpus;
    if (cpu != 0)
        return GUEST_OK;
    register_handler(6, on_ud);
    if (hc_vapic_write(0x3F0, 0) != 0) {
        printf("vapic code: skipped (no virtual-APIC page in this mode)\n");
        return GUEST_OK;
    }
    /* mov eax, 1 ; ret — written by guest stores, then run (decoded). */
    static const uint8_t one[] = {0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3};
    for (unsigned k = 0; k < sizeof(one); k++)
        ((volatile uint8_t *)page)[CODE_OFF + k] = one[k];
    int (*fn)(void) = (int (*)(void))(uintptr_t)(page + CODE_OFF);
    GUEST_CHECK(fn() == 1);

    uint64_t old = 0, err = 0;
    GUEST_CHECK(hc_vmcs_read(VMCS_VIRTUAL_APIC_ADDR, &old) == 0);
    GUEST_CHECK(hc_vmcs_write(VMCS_VIRTUAL_APIC_ADDR, (uintptr_t)page, &err) == 0);
    /* mov eax, 2 ; ret, little-endian dwords. */
    GUEST_CHECK(hc_vapic_write(CODE_OFF, 0x000002B8u) == 0);
    GUEST_CHECK(hc_vapic_write(CODE_OFF + 4, 0x0000C300u) == 0);
    GUEST_CHECK(hc_vmcs_write(VMCS_VIRTUAL_APIC_ADDR, old, &err) == 0);
    GUEST_CHECK(page[CODE_OFF] == 0xB8 && page[CODE_OFF + 1] == 0x02);

    int r = fn();
    printf("vapic code: the rewritten function returned %d\n", r);
    GUEST_CHECK(r == 2);
    printf("vapic code: OK\n");
    return GUEST_OK;
}
