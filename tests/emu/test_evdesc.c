/*
 * test_evdesc.c — self-describing events (emu/emu_evdesc.h): every kind of
 * every layer has one descriptor named as its layer names it, events are
 * said in words with their fields named, and the vector and exit-reason
 * fields are found through the descriptor.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "apic/apic.h"
#include "emu/emu.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "vmx/vmx.h"

static const char *layer_name(unsigned k)
{
    if (k >= CPU_OBS_RANGE_EMU) {
        const char *n = emu_event_name(k);
        if (!n)
            n = emu_hv_event_name(k);
        if (!n)
            n = emu_scenario_event_name(k);
        return n;
    }
    if (k >= CPU_OBS_RANGE_VMX)
        return vmx_event_name(k);
    if (k >= CPU_OBS_RANGE_APIC)
        return apic_event_name(k);
    return NULL;
}

START_TEST(every_kind_has_a_descriptor)
{
    unsigned checked = 0;
    /* Every kind any layer names has a descriptor with that name, and
     * every field a template refers to has a label. */
    for (unsigned k = CPU_OBS_RANGE_APIC; k < CPU_OBS_RANGE_EMU + 0x100; k++) {
        const char *n = layer_name(k);
        if (!n)
            continue;
        const emu_evdesc *d = emu_event_desc(k);
        ck_assert_msg(d != NULL, "no descriptor for %s", n);
        ck_assert_str_eq(d->name, n);
        ck_assert_ptr_nonnull(d->text);
        for (const char *p = d->text; *p; p++)
            if (p[0] == '{')
                ck_assert_msg(d->f[p[1] - 'a'].label != NULL, "%s: {%c} has no label", n, p[1]);
        if (d->vector >= 0)
            ck_assert_ptr_nonnull(d->f[d->vector].label);
        checked++;
    }
    for (unsigned k = CPU_EV_EXCEPTION; k <= CPU_EV_MSR_WRITE; k++)
        ck_assert_ptr_nonnull(emu_event_desc(k));
    ck_assert_uint_ge(checked, 50);
    ck_assert_ptr_null(emu_event_desc(CPU_OBS_RANGE_EMU + 0xFF));
    ck_assert_str_eq(emu_any_event_name(VMX_EV_PI_ON_CLEAR), "vmx.pi-on-clear");
}
END_TEST

static const char *say(unsigned kind, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    static char buf[256];
    cpu_obs_event ev = {100, 1, (uint16_t)kind, 0, a, b, c, d};
    return emu_event_describe(&ev, buf, sizeof(buf));
}

START_TEST(events_in_words)
{
    ck_assert_str_eq(say(VMX_EV_VMEXIT, 56, 0x300, 0x2000, 0),
                     "exit 56 APIC_WRITE, offset 300h, rip 0x2000");
    ck_assert_str_eq(say(VMX_EV_VMEXIT, 1, 0, 0x2000, 0x800000FD),
                     "exit 1 EXTERNAL_INTERRUPT, vector FDh (external interrupt), rip 0x2000");
    ck_assert_str_eq(say(VMX_EV_VMEXIT, 44, 0x10B0, 0x2000, 0),
                     "exit 44 APIC_ACCESS, offset 0B0h write, rip 0x2000");
    ck_assert_str_eq(say(VMX_EV_VMEXIT, 30, (0xE9u << 16), 0x2000, 0),
                     "exit 30 IO, OUT port 0E9h, 1 byte, rip 0x2000");
    ck_assert_str_eq(say(VMX_EV_PI_ON_CLEAR, 0x5000, 0xF201, 0x2000, 0xF200),
                     "ON 1 -> 0 (descriptor 0x5000)");
    ck_assert_str_eq(say(VMX_EV_PI_PIR_TO_VIRR, 1, 0x41, 0x2000, 0),
                     "PIR 41h -> VIRR (1 bits), PIR = 0");
    ck_assert_str_eq(say(VMX_EV_VINTR_DELIVERED, 0x41, 0x41, 0x2000, 0x4100),
                     "vector 41h: VIRR -> VISR, RVI 41h SVI 00h -> RVI 00h SVI 41h");
    ck_assert_str_eq(say(APIC_EV_EOI, 0xFD, 0xFD, 0, ~0ull),
                     "EOI: vector FDh leaves ISR, highest ISR FDh -> none, TMR 0");
    ck_assert_str_eq(say(EMU_HV_EV_IPI, 0x42, 0x6, 0x2000, 0),
                     "guest IPI vector 42h to vCPUs {1,2}, rip 0x2000");
}
END_TEST

/* Codes a lecture cannot read are named: delivery modes (SDM 11.6.1),
 * trigger modes, interruption types (SDM 25.8.3), timer modes (11.5.4),
 * the register apic.mode changed, and a stimulus by its own fields. */
START_TEST(codes_by_name)
{
    ck_assert_str_eq(say(APIC_EV_ACCEPT, 0x41, 0, 0, 0),
                     "vector 41h -> IRR, fixed, edge-triggered: accepted");
    ck_assert_str_eq(say(APIC_EV_ACCEPT, 0x55, 0, 1, 0),
                     "vector 55h -> IRR, fixed, level-triggered: accepted");
    ck_assert_str_eq(say(APIC_EV_ACCEPT, 0x2, 4, 0, 0),
                     "vector 02h -> IRR, NMI, edge-triggered: accepted");
    ck_assert_str_eq(say(EMU_EV_IPI_ARRIVE, 0x40, 5, 0, 0), "IPI vector 40h from cpu0 arrives (INIT)");
    ck_assert_str_eq(say(EMU_EV_IOAPIC_DELIVER, 0x55, 1, 1, 5),
                     "I/O APIC pin 5: vector 55h, lowest priority, level-triggered");
    ck_assert_str_eq(say(VMX_EV_EVENT_INJECTED, 0x41, 0, 0x2000, ~0ull),
                     "vector 41h injected (external interrupt), rip 0x2000");
    ck_assert_str_eq(say(VMX_EV_EVENT_INJECTED, 0x2, 2, 0x2000, ~0ull),
                     "vector 02h injected (NMI), rip 0x2000");
    ck_assert_str_eq(say(VMX_EV_VMEXIT, 1, 0, 0x2000, 0x80000202),
                     "exit 1 EXTERNAL_INTERRUPT, vector 02h (NMI), rip 0x2000");
    ck_assert_str_eq(say(APIC_EV_TIMER, 0x53, 0, 0, 1),
                     "timer fires: vector 53h, one-shot, masked 0, 1 expirations");
    ck_assert_str_eq(say(APIC_EV_TIMER, 0x53, 2, 0, 1),
                     "timer fires: vector 53h, TSC-deadline, masked 0, 1 expirations");
    ck_assert_str_eq(say(APIC_EV_MODE, APIC_REG_SVR, 0xFF, 0, 0x1FF), "SVR (0F0h) 0FFh -> 1FFh");
    ck_assert_str_eq(say(APIC_EV_MODE, APIC_MSR_BASE, 0xFEE00900, 0, 0xFEE00D00),
                     "IA32_APIC_BASE 0FEE00900h -> 0FEE00D00h");
    ck_assert_str_eq(say(APIC_EV_IPI, 0x440, 1, 0, 0x4440),
                     "ICR 4440h: vector 40h NMI, destination 1h, self 0");
    ck_assert_str_eq(say(EMU_SCN_EV_STIMULUS, EMU_STIM_MSI, 0x41, 1, 0),
                     "stimulus msi vector 41h for cpu1");
    ck_assert_str_eq(say(EMU_SCN_EV_STIMULUS, EMU_STIM_DESCHEDULE, 0, 1, 40000),
                     "stimulus deschedule vCPU 1 for 40000 cycles");
    ck_assert_str_eq(say(EMU_SCN_EV_STIMULUS, EMU_STIM_NMI, 2, 0, 0), "stimulus nmi for cpu0");
}
END_TEST

/* A guest hypervisor's VMX instructions (vmx/vmx_root.c): the instruction
 * by name, its operand by what it is (a VMCS, a field with its name, a
 * type) and how it ended (SDM 31.2; the error by name, 31.4); VMWRITE
 * events name the field. */
START_TEST(vmx_instructions_in_words)
{
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 21, 0x20f000, 0x2000, 0),
                     "guest hypervisor's VMPTRLD, VMCS 0x20f000, rip 0x2000: VMsucceed");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 27, 0x211000, 0x2000, 1),
                     "guest hypervisor's VMXON, region 0x211000, rip 0x2000: VMfailInvalid");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 23, 0x4402, 0x2000, 0),
                     "guest hypervisor's VMREAD 4402h EXIT_REASON, rip 0x2000: VMsucceed");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 25, 0x6C17, 0x2000, 2 + 12),
                     "guest hypervisor's VMWRITE 6C17h (no such field), rip 0x2000: VMfailValid, "
                     "error 12 (VMREAD/VMWRITE from/to unsupported VMCS component)");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 25, 1ull << 32, 0x2000, 2 + 12),
                     "guest hypervisor's VMWRITE 100000000h (no such field), rip 0x2000: "
                     "VMfailValid, error 12 (VMREAD/VMWRITE from/to unsupported VMCS component)");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 22, ~0ull, 0x2000, 0),
                     "guest hypervisor's VMPTRST, no current VMCS, rip 0x2000: VMsucceed");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 22, 0x20f000, 0x2000, 0),
                     "guest hypervisor's VMPTRST, current VMCS 0x20f000, rip 0x2000: VMsucceed");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 24, ~0ull, 0x2000, 1),
                     "guest hypervisor's VMRESUME, no current VMCS, rip 0x2000: VMfailInvalid");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 20, 0x20f000, 0x2000, 2 + 4),
                     "guest hypervisor's VMLAUNCH, VMCS 0x20f000, rip 0x2000: VMfailValid, error 4 "
                     "(VMLAUNCH with non-clear VMCS)");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 53, 4, 0x2000, 2 + 28),
                     "guest hypervisor's INVVPID type 4, rip 0x2000: VMfailValid, error 28 "
                     "(invalid operand to INVEPT/INVVPID)");
    ck_assert_str_eq(say(VMX_EV_ROOT_INSN, 18, 0, 0x2000, 2 + 1),
                     "guest hypervisor's VMCALL, rip 0x2000: VMfailValid, error 1 (VMCALL executed "
                     "in VMX root operation)");
    ck_assert_str_eq(say(VMX_EV_VMWRITE, 0x4000, 0, 0, 0x97), "VMWRITE 4000h PIN_CONTROLS: 0 -> 0x97");
}
END_TEST

START_TEST(vector_and_reason_fields)
{
    cpu_obs_event ev = {0, 0, VMX_EV_PI_PIR_TO_VIRR, 0, 1, 0x41, 0, 0};
    unsigned v = 0, r = 0;
    ck_assert(emu_event_vector(&ev, &v));
    ck_assert_uint_eq(v, 0x41); /* b, not a (the count) */
    ck_assert(!emu_event_exit_reason(&ev, &r));
    cpu_obs_event ex = {0, 0, VMX_EV_VMEXIT, 0, 56 | (1u << 27), 0x300, 0, 0};
    ck_assert(emu_event_exit_reason(&ex, &r));
    ck_assert_uint_eq(r, 56);
    ck_assert(!emu_event_vector(&ex, &v));
    cpu_obs_event eoi = {0, 0, APIC_EV_EOI, 0, ~0ull, 0, 0, 0};
    ck_assert(!emu_event_vector(&eoi, &v)); /* "none" is no vector */
    char buf[64];
    ck_assert_str_eq(emu_exit_reason_text(56, buf, sizeof(buf)), "56 APIC_WRITE");
}
END_TEST

START_TEST(chatter)
{
    cpu_obs_event cap = {0, 0, EMU_SCN_EV_CAPTION, 0, 0, 1, 0, 0};
    cpu_obs_event con = {0, 0, EMU_EV_CONSOLE, 0, 'h', 0, 0, 0};
    cpu_obs_event io = {0, 0, VMX_EV_VMEXIT, 0, 30, 0xE9u << 16, 0, 0};
    cpu_obs_event io2 = {0, 0, VMX_EV_VMEXIT, 0, 30, 0x3F8u << 16, 0, 0};
    cpu_obs_event pi = {0, 0, VMX_EV_PI_ACK, 0, 0xF2, 0, 0, 0};
    ck_assert(emu_event_is_chatter(&cap));
    ck_assert(emu_event_is_chatter(&con));
    ck_assert(emu_event_is_chatter(&io));
    ck_assert(!emu_event_is_chatter(&io2));
    ck_assert(!emu_event_is_chatter(&pi));
}
END_TEST

START_TEST(log_line_keeps_keys_and_adds_words)
{
    cpu_obs_event ev = {30108, 0, VMX_EV_VMEXIT, 0, 0x2c, 0x10b0, 0x202442, 0};
    char line[384];
    emu_log_format(&ev, line, sizeof(line));
    ck_assert_str_eq(line, "cycle=30108 cpu=0 ev=vmx.exit a=0x2c b=0x10b0 c=0x202442 d=0 | "
                           "exit 44 APIC_ACCESS, offset 0B0h write, rip 0x202442");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("evdesc");
    TCase *t = tcase_create("evdesc");
    tcase_add_test(t, every_kind_has_a_descriptor);
    tcase_add_test(t, events_in_words);
    tcase_add_test(t, codes_by_name);
    tcase_add_test(t, vmx_instructions_in_words);
    tcase_add_test(t, vector_and_reason_fields);
    tcase_add_test(t, chatter);
    tcase_add_test(t, log_line_keeps_keys_and_adds_words);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
