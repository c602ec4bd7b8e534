/*
 * emu_evdesc.c — the descriptor of every event kind (see emu_evdesc.h) and
 * the one formatter that turns an event into words.
 *
 * Field meanings follow the comments beside each kind in cpu/cpu_obs.h,
 * apic/apic.h, vmx/vmx.h, emu/emu.h, emu/emu_hv.h and emu/emu_scenario.h;
 * tests/emu/test_evdesc.c checks that every kind of every range has a
 * descriptor whose name is its layer's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "apic/apic.h"
#include "emu/emu.h"
#include "emu/emu_evdesc.h"
#include "emu/emu_hv.h"
#include "emu/emu_scenario.h"
#include "vmx/vmx.h"
#include "vmx/vmx_root.h"
#include "vmx/vmx_vmcs.h"

#define F(l, f) {l, EMU_EVF_##f}
#define NOF {NULL, EMU_EVF_NONE}

/* One row per kind; names are the layers' own (apic_event_name, ...),
 * which tests/emu/test_evdesc.c checks. */
static const emu_evdesc rows[] = {
    /* cpu/ */
    {CPU_EV_EXCEPTION, "cpu.exception", "exception {a}{b}, rip {c}",
     {F("vector", VEC), F("error code", ERRCODE), F("rip", HEX), F("CR2", HEX)}, 0, -1, 0},
    {CPU_EV_INTERRUPT, "cpu.interrupt", "vector {a} through the IDT, rip {c}",
     {F("vector", VEC), NOF, F("rip", HEX), NOF}, 0, -1, 0},
    {CPU_EV_SOFT_INT, "cpu.soft-int", "INT {a}, rip {c}", {F("vector", VEC), NOF, F("rip", HEX), NOF}, 0, -1, 0},
    {CPU_EV_DOUBLE_FAULT, "cpu.double-fault", "{a} while delivering {b}: #DF, rip {c}",
     {F("first vector", VEC), F("second vector", VEC), F("rip", HEX), NOF}, 0, -1, 0},
    {CPU_EV_TRIPLE_FAULT, "cpu.triple-fault", "vector {a} could not be delivered, rip {c}",
     {F("vector", VEC), NOF, F("rip", HEX), NOF}, 0, -1, 0},
    {CPU_EV_HALT, "cpu.halt", "HLT, rip {c}", {NOF, NOF, F("rip", HEX), NOF}, -1, -1, 0},
    {CPU_EV_WAKE, "cpu.wake", "leaves HLT, rip {c}", {NOF, NOF, F("rip", HEX), NOF}, -1, -1, 0},
    {CPU_EV_UNIMPLEMENTED, "cpu.unimplemented", "bytes {a} ({b} long), rip {c}",
     {F("bytes", HEX), F("length", DEC), F("rip", HEX), NOF}, -1, -1, 0},
    {CPU_EV_CR_WRITE, "cpu.cr-write", "CR{a} {b} -> {d}, rip {c}",
     {F("CR", DEC), F("before", HEX), F("rip", HEX), F("after", HEX)}, -1, -1, 0},
    {CPU_EV_MSR_WRITE, "cpu.msr-write", "MSR {a} {b} -> {d}, rip {c}",
     {F("MSR", HEXH), F("before", HEX), F("rip", HEX), F("after", HEX)}, -1, -1, 0},
    /* apic/ */
    {APIC_EV_ACCEPT, "apic.accept", "vector {a} -> IRR, {b}, {c}: {d}",
     {F("vector", VEC), F("delivery mode", DELMODE), F("trigger", TRIGGER), F("outcome", OUTCOME)}, 0, -1, 0},
    {APIC_EV_ACK, "apic.ack", "vector {a}: IRR -> ISR, PPR {b} -> {d}",
     {F("vector", VEC), F("PPR before", VEC), NOF, F("PPR after", VEC)}, 0, -1, 0},
    {APIC_EV_EOI, "apic.eoi", "EOI: vector {a} leaves ISR, highest ISR {b} -> {d}, TMR {c}",
     {F("vector", VEC), F("ISR before", VEC), F("TMR", DEC), F("ISR after", VEC)}, 0, -1, 0},
    {APIC_EV_IPI, "apic.ipi", "ICR {d}: {a}, destination {b}, self {c}",
     {F("ICR summary", IPI), F("destination", HEXH), F("self-delivered", DEC), F("ICR", HEXH)}, -1,
     -1, 0},
    {APIC_EV_TIMER, "apic.timer", "timer fires: vector {a}, {b}, masked {c}, {d} expirations",
     {F("vector", VEC), F("mode", TMRMODE), F("masked", DEC), F("expirations", DEC)}, 0, -1, 0},
    {APIC_EV_TPR, "apic.tpr", "TPR {a}, PPR {b} -> {d}",
     {F("TPR", VEC), F("PPR before", VEC), NOF, F("PPR after", VEC)}, -1, -1, 0},
    {APIC_EV_MODE, "apic.mode", "{a} {b} -> {d}",
     {F("register", APICREG), F("before", HEXH), NOF, F("after", HEXH)}, -1, -1, 0},
    {APIC_EV_ERROR, "apic.error", "error bits {a}, ESR {b} -> {d}",
     {F("error bits", HEXH), F("ESR before", HEXH), NOF, F("ESR after", HEXH)}, -1, -1, 0},
    {APIC_EV_SPURIOUS, "apic.spurious", "spurious vector {a}", {F("vector", VEC), NOF, NOF, NOF}, 0, -1, 0},
    /* vmx/ */
    {VMX_EV_VMENTRY, "vmx.entry", "{a}{b}, rip {c}, {d}",
     {F("instruction", LAUNCH), F("injected", INTINFO), F("rip", HEX), F("guest interrupt status", STATUS)},
     -1, -1, 0},
    {VMX_EV_VMEXIT, "vmx.exit", "exit {a}{b}{d}, rip {c}",
     {F("reason", REASON), F("qualification", QUAL), F("rip", HEX), F("interruption info", INTINFO)},
     -1, 0, 0},
    {VMX_EV_ENTRY_FAIL, "vmx.entry-fail", "entry failed: {a}, check {b}, rip {c}",
     {F("error or reason", HEX), F("check", DEC), F("rip", HEX), NOF}, -1, -1, 0},
    {VMX_EV_EVENT_INJECTED, "vmx.inject", "vector {a} injected ({b}){d}, rip {c}",
     {F("vector", VEC), F("type", INTTYPE), F("rip", HEX), F("error code", ERRCODE)}, 0, -1, 0},
    {VMX_EV_VINTR_RECOGNIZED, "vmx.vintr-recognized", "RVI {a} above VPPR {b}: recognised, {d}",
     {F("RVI", VEC), F("VPPR", VEC), F("rip", HEX), F("status", STATUS)}, 0, -1, 0},
    {VMX_EV_VINTR_DELIVERED, "vmx.vintr-delivered", "vector {a}: VIRR -> VISR, {b} -> {d}",
     {F("vector", VEC), F("status before", STATUS), F("rip", HEX), F("status after", STATUS)}, 0, -1,
     0},
    {VMX_EV_PPR_VIRT, "vmx.ppr-virt", "VTPR {a}: VPPR {b} -> {d}",
     {F("VTPR", VEC), F("VPPR before", VEC), F("rip", HEX), F("VPPR after", VEC)}, -1, -1, 0},
    {VMX_EV_TPR_VIRT, "vmx.tpr-virt", "TPR write ({a}): VTPR {b} -> {d}",
     {F("source", TPR_SOURCE), F("VTPR before", VEC), F("rip", HEX), F("VTPR after", VEC)}, -1, -1,
     0},
    {VMX_EV_EOI_VIRT, "vmx.eoi-virt", "EOI: vector {a} leaves VISR, {b} -> {d}",
     {F("vector", VEC), F("status before", STATUS), F("rip", HEX), F("status after", STATUS)}, 0, -1,
     0},
    {VMX_EV_SELF_IPI_VIRT, "vmx.self-ipi-virt", "self-IPI: vector {a} -> VIRR, {b} -> {d}",
     {F("vector", VEC), F("status before", STATUS), F("rip", HEX), F("status after", STATUS)}, 0, -1,
     0},
    {VMX_EV_CR8_READ_VIRT, "vmx.cr8-read-virt", "MOV from CR8 reads {a} (VTPR[7:4])",
     {F("value", HEXH), NOF, F("rip", HEX), NOF}, -1, -1, 0},
    {VMX_EV_CR8_WRITE_VIRT, "vmx.cr8-write-virt", "MOV to CR8 {a}: VTPR {b} -> {d}",
     {F("value", HEXH), F("VTPR before", VEC), F("rip", HEX), F("VTPR after", VEC)}, -1, -1, 0},
    {VMX_EV_PI_ACK, "vmx.pi-ack", "interrupt {a} acknowledged (posted-interrupt step 1)",
     {F("vector", VEC), NOF, F("rip", HEX), NOF}, 0, -1, 0},
    {VMX_EV_PI_NV_MATCH, "vmx.pi-nv-match", "vector {a} = notification vector {b}: processing goes on",
     {F("vector", VEC), F("notification vector", VEC), F("rip", HEX), NOF}, 0, -1, 0},
    {VMX_EV_PI_NV_MISMATCH, "vmx.pi-nv-mismatch", "vector {a} is not notification vector {b}: exit 1",
     {F("vector", VEC), F("notification vector", VEC), F("rip", HEX), NOF}, 0, -1, 0},
    {VMX_EV_PI_ON_CLEAR, "vmx.pi-on-clear", "ON {b} -> {d} (descriptor {a})",
     {F("descriptor", HEX), F("ON before", BIT0), F("rip", HEX), F("ON after", BIT0)}, -1, -1, 0},
    {VMX_EV_PI_EOI, "vmx.pi-eoi", "EOI to the local APIC for {a}", {F("vector", VEC), NOF, F("rip", HEX), NOF}, 0,
     -1, 0},
    {VMX_EV_PI_PIR_TO_VIRR, "vmx.pi-pir-to-virr", "PIR {b} -> VIRR ({a} bits), PIR = 0",
     {F("bits moved", DEC), F("highest PIR vector", VEC), F("rip", HEX), F("PIR[63:0]", HEX)}, 1, -1,
     0},
    {VMX_EV_PI_RVI_UPDATE, "vmx.pi-rvi-update", "RVI {b} -> {d} (highest PIR {a})",
     {F("highest PIR vector", VEC), F("RVI before", VEC), F("rip", HEX), F("RVI after", VEC)}, 0, -1,
     0},
    {VMX_EV_APIC_ACCESS_READ, "vmx.apic-access-read", "virtualized read of {a} ({b} bytes) = {d}",
     {F("offset", HEXH), F("size", DEC), F("rip", HEX), F("value", HEXH)}, -1, -1, 0},
    {VMX_EV_APIC_ACCESS_WRITE, "vmx.apic-access-write", "virtualized write of {d} to {a} ({b} bytes)",
     {F("offset", HEXH), F("size", DEC), F("rip", HEX), F("value", HEXH)}, -1, -1, 0},
    {VMX_EV_APIC_WRITE_EMUL, "vmx.apic-write-emul", "APIC-write emulation of {a} (was {b}): {d}",
     {F("offset", HEXH), F("before", HEXH), F("rip", HEX), F("outcome", WRITE_OUTCOME)}, -1, -1, 0},
    {VMX_EV_X2APIC_RDMSR, "vmx.x2apic-rdmsr", "virtualized RDMSR {a} = {d}",
     {F("MSR", HEXH), NOF, F("rip", HEX), F("value", HEXH)}, -1, -1, 0},
    {VMX_EV_X2APIC_WRMSR, "vmx.x2apic-wrmsr", "virtualized WRMSR {a}: {b} -> {d}",
     {F("MSR", HEXH), F("before", HEXH), F("rip", HEX), F("value", HEXH)}, -1, -1, 0},
    {VMX_EV_NMI_INJECTED_VIRT, "vmx.vnmi-inject", "virtual NMI injected: virtual-NMI blocking set, rip {c}",
     {NOF, NOF, F("rip", HEX), NOF}, -1, -1, 0},
    {VMX_EV_PREEMPT_TIMER_ARM, "vmx.preempt-arm", "preemption timer {a} (rate shift {b}), deadline cycle {d}",
     {F("value", DEC), F("rate shift", DEC), F("rip", HEX), F("deadline", DEC)}, -1, -1, 0},
    {VMX_EV_VMWRITE, "vmx.vmwrite", "VMWRITE {a}: {b} -> {d}",
     {F("field", FIELD), F("before", HEX), NOF, F("after", HEX)}, -1, -1, 0},
    {VMX_EV_EPT_WALK_FAULT, "vmx.ept-fault", "EPT walk of {a} fails at entry {b} (access {d}), rip {c}",
     {F("guest-physical address", HEX), F("EPT entry", HEX), F("rip", HEX), F("access", DEC)}, -1,
     -1, 0},
    {VMX_EV_ROOT_INSN, "vmx.root-insn",
     "guest hypervisor's {a}{b}, rip {c}: {d}",
     {F("instruction", VMX_INSN), F("operand", VMX_OPERAND), F("rip", HEX), F("outcome", VMX_RESULT)},
     -1, -1, 0},
    {VMX_EV_ABORT, "vmx.abort", "VMX abort, indicator {a}, during exit {b}, rip {c}: the CPU shut down",
     {F("indicator", DEC), F("reason", REASON), F("rip", HEX), NOF}, -1, -1, 0},
    {VMX_EV_SHADOW_INSN, "vmx.shadow-insn",
     "{a} of field {b} on the shadow VMCS, rip {c}: {d} (0 VMsucceed, 1 VMfailInvalid, 2+n VMfailValid n)",
     {F("instruction", REASON), F("field", HEXH), F("rip", HEX), F("outcome", DEC)}, -1, -1, 0},
    /* emu/: the machine */
    {EMU_EV_CONSOLE, "emu.console", "console {a}, rip {c}", {F("byte", CHAR), NOF, F("rip", HEX), NOF}, -1, -1,
     EMU_EVD_CONSOLE},
    {EMU_EV_EXIT_PORT, "emu.exit-port", "exit port: status {a}, rip {c}",
     {F("status", DEC), NOF, F("rip", HEX), NOF}, -1, -1, 0},
    {EMU_EV_CRASH, "emu.crash", "crash (stop reason {a}), rip {c}",
     {F("stop reason", DEC), NOF, F("rip", HEX), NOF}, -1, -1, 0},
    {EMU_EV_MSI_RAISE, "emu.msi-raise", "MSI vector {a} for cpu{b}, due cycle {c}, dropped {d}",
     {F("vector", VEC), F("destination", DEC), F("due", DEC), F("dropped", DEC)}, 0, -1, 0},
    {EMU_EV_MSI_DELIVER, "emu.msi-deliver", "MSI vector {a} reaches cpu{b}",
     {F("vector", VEC), F("destination", DEC), NOF, NOF}, 0, -1, 0},
    {EMU_EV_IPI_ROUTE, "emu.ipi-route", "IPI vector {a} cpu{d} -> cpu{b}, due cycle {c}",
     {F("vector", VEC), F("receiver", DEC), F("due", DEC), F("sender", DEC)}, 0, -1, 0},
    {EMU_EV_IPI_ARRIVE, "emu.ipi-arrive", "IPI vector {a} from cpu{d} arrives ({b})",
     {F("vector", VEC), F("delivery mode", DELMODE), NOF, F("sender", DEC)}, 0, -1, 0},
    {EMU_EV_TIMER_DUE, "emu.timer-due", "APIC timer due at cycle {a}", {F("deadline", DEC), NOF, NOF, NOF}, -1, -1,
     0},
    {EMU_EV_IRQ_LINE, "emu.irq-line", "IRQ line {a} -> level {b}",
     {F("line", DEC), F("level", DEC), NOF, NOF}, -1, -1, 0},
    {EMU_EV_IOAPIC_DELIVER, "emu.ioapic-deliver",
     "I/O APIC pin {d}: vector {a}, {b}, {c}",
     {F("vector", VEC), F("delivery mode", DELMODE), F("trigger", TRIGGER), F("pin", DEC)}, 0, -1, 0},
    {EMU_EV_PIC_INTA, "emu.pic-inta", "8259A gives vector {a} (ExtINT through LINT0)",
     {F("vector", VEC), NOF, NOF, NOF}, 0, -1, 0},
    {EMU_EV_INIT, "emu.init", "INIT: reset, waiting for SIPI", {NOF, NOF, NOF, NOF}, -1, -1, 0},
    {EMU_EV_SIPI, "emu.sipi", "SIPI vector {a}: starts in real mode at CS = vector << 8",
     {F("vector", VEC), NOF, NOF, NOF}, -1, -1, 0},
    {EMU_EV_QUEUE_DROP, "emu.queue-drop",
     "cpu{b}'s event queue is full: event of kind {a} due at cycle {c} (vector {d}) dropped",
     {F("kind", DEC), F("destination", DEC), F("due", DEC), F("vector", VEC)}, 3, -1, 0},
    /* emu/: the hypervisor */
    {EMU_HV_EV_HYPERCALL, "hv.hypercall", "hypercall {a} (RBX {b}) returns {d}, rip {c}",
     {F("number", DEC), F("RBX", HEX), F("rip", HEX), F("RAX", HEX)}, -1, -1, 0},
    {EMU_HV_EV_INJECT, "hv.inject", "vector {a} -> VM-entry interruption information, rip {c}",
     {F("vector", VEC), NOF, F("rip", HEX), NOF}, 0, -1, 0},
    {EMU_HV_EV_VIRR_SET, "hv.virr-set", "vector {a} -> VIRR, RVI {b} -> {d}",
     {F("vector", VEC), F("RVI before", VEC), NOF, F("RVI after", VEC)}, 0, -1, 0},
    {EMU_HV_EV_POST, "hv.post", "PIR[{a}] = 1 for vCPU {b}, notification sent {d}",
     {F("vector", VEC), F("target", DEC), NOF, F("notified", DEC)}, 0, -1, 0},
    {EMU_HV_EV_KICK, "hv.kick", "host IPI kicks vCPU {a} out", {F("target", DEC), NOF, NOF, NOF}, -1, -1, 0},
    {EMU_HV_EV_BLOCK, "hv.block", "vCPU sleeps after HLT, rip {c}", {NOF, NOF, F("rip", HEX), NOF}, -1, -1, 0},
    {EMU_HV_EV_WAKE, "hv.wake", "vCPU wakes after {a} cycles", {F("cycles asleep", DEC), NOF, NOF, NOF}, -1, -1,
     0},
    {EMU_HV_EV_DESCHED, "hv.desched", "vCPU descheduled until cycle {a}, SN {b}",
     {F("until", DEC), F("SN", DEC), NOF, NOF}, -1, -1, 0},
    {EMU_HV_EV_RESCHED, "hv.resched", "vCPU back on its CPU", {NOF, NOF, NOF, NOF}, -1, -1, 0},
    {EMU_HV_EV_HOST_IRQ, "hv.host-irq", "host interrupt {a} handled in root", {F("vector", VEC), NOF, NOF, NOF},
     0, -1, 0},
    {EMU_HV_EV_IPI, "hv.ipi", "guest IPI vector {a} to vCPUs {b}, rip {c}",
     {F("vector", VEC), F("destinations", MASK), F("rip", HEX), NOF}, 0, -1, 0},
    /* emu/: scenarios */
    {EMU_SCN_EV_STIMULUS, "scn.stimulus", "stimulus {a}",
     {F("kind", STIM), F("vector", VEC), F("cpu", DEC), F("cycles", DEC)}, 1, -1, 0},
    {EMU_SCN_EV_CAPTION, "scn.caption", "caption {a} (scenario line {b})",
     {F("caption", DEC), F("line", DEC), NOF, NOF}, -1, -1, EMU_EVD_CAPTION},
    {EMU_SCN_EV_EXPECT, "scn.expect", "expectation {a} (line {b}) passed {c}, actual {d}",
     {F("expectation", DEC), F("line", DEC), F("passed", DEC), F("actual", DEC)}, -1, -1, 0},
};

const emu_evdesc *emu_event_desc(unsigned kind)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].kind == kind)
            return &rows[i];
    return NULL;
}

char *emu_exit_reason_text(unsigned reason, char *buf, size_t len)
{
    snprintf(buf, len, "%u %s%s", reason & 0xFFFF, vmx_exit_reason_name(reason & 0xFFFF),
             (reason & VMX_EXIT_REASON_ENTRY_FAIL) ? " (entry failure)" : "");
    return buf;
}

/* SDM style hexadecimal: digits then h, a leading 0 before a letter. */
static void hexh(char *buf, size_t len, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t) - 1, "%" PRIX64, v);
    if (n > 0 && n < (int)sizeof(t) - 1) {
        t[n] = 'h';
        t[n + 1] = 0;
    }
    snprintf(buf, len, "%s%s", (t[0] >= 'A' && t[0] <= 'F') ? "0" : "", t);
}

/* SDM 28.2.1, tables 28-1 ff.: the exit qualification of the exits the
 * built-in hypervisor sees most. */
static void qualification(char *buf, size_t len, unsigned reason, uint64_t q)
{
    char h[24];
    switch (reason & 0xFFFF) {
    case VMX_EXIT_APIC_ACCESS: {
        static const char *const types[16] = {
            [0] = "read", [1] = "write", [2] = "fetch", [3] = "event delivery",
            [10] = "guest-physical event delivery", [15] = "guest-physical fetch"};
        const char *t = types[(q >> 12) & 15];
        hexh(h, sizeof(h), q & 0xFFF);
        snprintf(buf, len, ", offset %s %s", h, t ? t : "access");
        return;
    }
    case VMX_EXIT_APIC_WRITE:
        hexh(h, sizeof(h), q & 0xFFF);
        snprintf(buf, len, ", offset %s", h);
        return;
    case VMX_EXIT_VIRTUALIZED_EOI:
        snprintf(buf, len, ", vector %02" PRIX64 "h", q & 0xFF);
        return;
    case VMX_EXIT_IO:
        hexh(h, sizeof(h), (q >> 16) & 0xFFFF);
        snprintf(buf, len, ", %s port %s, %u byte%s", (q & 8) ? "IN" : "OUT", h,
                 (unsigned)(q & 7) + 1, (q & 7) ? "s" : "");
        return;
    case VMX_EXIT_CR_ACCESS: {
        static const char *const acc[4] = {"MOV to", "MOV from", "CLTS", "LMSW"};
        snprintf(buf, len, ", %s CR%u", acc[(q >> 4) & 3], (unsigned)(q & 15));
        return;
    }
    default:
        if (q) {
            hexh(h, sizeof(h), q);
            snprintf(buf, len, ", qualification %s", h);
        } else {
            buf[0] = 0;
        }
        return;
    }
}

/* SDM 25.8.3 (Table 25-17): the interruption types of event injection and
 * of the exit interruption information. */
static const char *const int_types[8] = {"external interrupt", "type 1",
                                         "NMI",                "hardware exception",
                                         "software interrupt", "privileged software exception",
                                         "software exception", "other event"};

/* SDM 11.6.1 (ICR) and 11.5.1 (LVT): delivery modes 000b-111b. */
static const char *const del_modes[8] = {"fixed", "lowest priority", "SMI", "mode 3",
                                         "NMI",   "INIT",            "SIPI", "ExtINT"};

/* "4402h EXIT_REASON": a VMCS field encoding (SDM Vol. 3D appendix B) and
 * its name, or the encoding alone for one the VMCS does not have. */
static void vmcs_field(char *buf, size_t len, uint64_t enc)
{
    char h[24];
    hexh(h, sizeof(h), enc);
    const char *name = enc >> 32 ? NULL : vmx_vmcs_field_name((uint32_t)enc);
    snprintf(buf, len, "%s%s%s", h, name ? " " : " (no such field)", name ? name : "");
}

/* The operand of a guest hypervisor's VMX instruction (vmx_root.c's
 * VMX_EV_ROOT_INSN b, read with the instruction in a). */
static void vmx_operand(char *buf, size_t len, unsigned insn, uint64_t v)
{
    char f[64];
    switch (insn) {
    case VMX_EXIT_VMXON: snprintf(buf, len, ", region %#" PRIx64, v); return;
    case VMX_EXIT_VMCLEAR:
    case VMX_EXIT_VMPTRLD: snprintf(buf, len, ", VMCS %#" PRIx64, v); return;
    case VMX_EXIT_VMLAUNCH:
    case VMX_EXIT_VMRESUME:
    case VMX_EXIT_VMPTRST: /* the current VMCS */
        if (v == VMX_NO_VMCS) /* FFFFFFFF_FFFFFFFFH */
            snprintf(buf, len, ", no current VMCS");
        else
            snprintf(buf, len, ", %sVMCS %#" PRIx64, insn == VMX_EXIT_VMPTRST ? "current " : "", v);
        return;
    case VMX_EXIT_VMREAD:
    case VMX_EXIT_VMWRITE:
        vmcs_field(f, sizeof(f), v);
        snprintf(buf, len, " %s", f);
        return;
    case VMX_EXIT_INVEPT:
    case VMX_EXIT_INVVPID: snprintf(buf, len, " type %" PRIu64, v); return;
    default: buf[0] = 0; return;
    }
}

static void field(char *buf, size_t len, const cpu_obs_event *ev, const emu_evdesc *d, int i)
{
    const uint64_t vals[4] = {ev->a, ev->b, ev->c, ev->d};
    uint64_t v = vals[i];
    buf[0] = 0;
    switch ((emu_evfmt)d->f[i].fmt) {
    case EMU_EVF_NONE:
        return;
    case EMU_EVF_HEX:
        snprintf(buf, len, "%#" PRIx64, v);
        return;
    case EMU_EVF_DEC:
        snprintf(buf, len, "%" PRIu64, v);
        return;
    case EMU_EVF_VEC:
        if (v > 255)
            snprintf(buf, len, "none");
        else
            snprintf(buf, len, "%02" PRIX64 "h", v);
        return;
    case EMU_EVF_HEXH:
        hexh(buf, len, v);
        return;
    case EMU_EVF_REASON:
        emu_exit_reason_text((unsigned)v, buf, len);
        return;
    case EMU_EVF_QUAL:
        qualification(buf, len, d->reason >= 0 ? (unsigned)vals[d->reason] : 0, v);
        return;
    case EMU_EVF_INTINFO:
        /* SDM 25.8.3 / 27.2.2: bit 31 valid, bits 7:0 vector, 10:8 type. */
        if (v & (1u << 31))
            snprintf(buf, len, ", vector %02" PRIX64 "h (%s)", v & 0xFF, int_types[(v >> 8) & 7]);
        return;
    case EMU_EVF_INTTYPE:
        snprintf(buf, len, "%s", int_types[v & 7]);
        return;
    case EMU_EVF_DELMODE:
        snprintf(buf, len, "%s", del_modes[v & 7]);
        return;
    case EMU_EVF_TRIGGER:
        snprintf(buf, len, "%s", v ? "level-triggered" : "edge-triggered");
        return;
    case EMU_EVF_TMRMODE: {
        /* SDM 11.5.4: LVT timer mode bits 18:17. */
        static const char *const o[4] = {"one-shot", "periodic", "TSC-deadline", "mode 3"};
        snprintf(buf, len, "%s", o[v & 3]);
        return;
    }
    case EMU_EVF_APICREG:
        /* apic_core.c emits the MSR number for IA32_APIC_BASE, the
         * register offset for SVR (SDM 11.4.4, 11.9). */
        if (v == APIC_MSR_BASE)
            snprintf(buf, len, "IA32_APIC_BASE");
        else if (v == APIC_REG_SVR)
            snprintf(buf, len, "SVR (0F0h)");
        else
            hexh(buf, len, v);
        return;
    case EMU_EVF_BIT0:
        snprintf(buf, len, "%u", (unsigned)(v & 1));
        return;
    case EMU_EVF_CHAR:
        if (v >= 0x20 && v < 0x7F)
            snprintf(buf, len, "'%c'", (char)v);
        else
            snprintf(buf, len, "%02" PRIX64 "h", v & 0xFF);
        return;
    case EMU_EVF_STATUS:
        /* SDM 25.4.2: guest interrupt status, RVI in bits 7:0, SVI 15:8. */
        snprintf(buf, len, "RVI %02Xh SVI %02Xh", (unsigned)(v & 0xFF), (unsigned)((v >> 8) & 0xFF));
        return;
    case EMU_EVF_LAUNCH:
        snprintf(buf, len, "%s", v ? "VMLAUNCH" : "VMRESUME");
        return;
    case EMU_EVF_IPI: {
        static const char *const sh[4] = {"", ", self", ", all", ", all but self"};
        snprintf(buf, len, "vector %02Xh %s%s", (unsigned)(v & 0xFF), del_modes[(v >> 8) & 7],
                 sh[(v >> 12) & 3]);
        return;
    }
    case EMU_EVF_MASK: {
        size_t n = (size_t)snprintf(buf, len, "{");
        bool first = true;
        for (unsigned k = 0; k < 64 && n < len; k++)
            if ((v >> k) & 1) {
                n += (size_t)snprintf(buf + n, len - n, "%s%u", first ? "" : ",", k);
                first = false;
            }
        if (n < len)
            snprintf(buf + n, len - n, "}");
        return;
    }
    case EMU_EVF_OUTCOME: {
        static const char *const o[4] = {"accepted", "APIC disabled", "illegal vector", "ignored"};
        snprintf(buf, len, "%s", v < 4 ? o[v] : "?");
        return;
    }
    case EMU_EVF_WRITE_OUTCOME: {
        static const char *const o[5] = {"TPR virtualization", "EOI virtualization",
                                         "self-IPI virtualization", "no exit", "APIC-write exit 56"};
        snprintf(buf, len, "%s", v < 5 ? o[v] : "?");
        return;
    }
    case EMU_EVF_TPR_SOURCE: {
        static const char *const o[4] = {"CR8", "MMIO", "MSR", "VM entry"};
        snprintf(buf, len, "%s", v < 4 ? o[v] : "?");
        return;
    }
    case EMU_EVF_STIM: {
        /* The whole stimulus: a vector means nothing to a deschedule. */
        const char *n = emu_stim_name((unsigned)v);
        if (v == EMU_STIM_DESCHEDULE)
            snprintf(buf, len, "%s vCPU %" PRIu64 " for %" PRIu64 " cycles", n, ev->c, ev->d);
        else if (v == EMU_STIM_NMI)
            snprintf(buf, len, "%s for cpu%" PRIu64, n, ev->c);
        else
            snprintf(buf, len, "%s vector %02" PRIX64 "h for cpu%" PRIu64, n ? n : "?",
                     ev->b & 0xFF, ev->c);
        return;
    }
    case EMU_EVF_FIELD:
        vmcs_field(buf, len, v);
        return;
    case EMU_EVF_VMX_INSN:
        snprintf(buf, len, "%s", vmx_exit_reason_name((unsigned)v & 0xFFFF));
        return;
    case EMU_EVF_VMX_OPERAND:
        vmx_operand(buf, len, (unsigned)ev->a, v);
        return;
    case EMU_EVF_VMX_RESULT:
        /* SDM 31.2 (30.2 in 2016): VMfailValid's error in the VMCS, 31.4. */
        if (v < 2)
            snprintf(buf, len, "%s", v ? "VMfailInvalid" : "VMsucceed");
        else
            snprintf(buf, len, "VMfailValid, error %" PRIu64 " (%s)", v - 2,
                     vmx_insn_error_name((unsigned)(v - 2)));
        return;
    case EMU_EVF_ERRCODE:
        if (v != UINT64_MAX && v != UINT32_MAX)
            snprintf(buf, len, ", error code %" PRIX64 "h", v);
        return;
    }
}

char *emu_event_describe(const cpu_obs_event *ev, char *buf, size_t len)
{
    const emu_evdesc *d = emu_event_desc(ev->kind);
    if (!len)
        return buf;
    if (!d) {
        snprintf(buf, len, "a=%#" PRIx64 " b=%#" PRIx64 " c=%#" PRIx64 " d=%#" PRIx64, ev->a, ev->b,
                 ev->c, ev->d);
        return buf;
    }
    size_t n = 0;
    buf[0] = 0;
    char f[96];
    if (!d->text) {
        for (int i = 0; i < 4 && n + 1 < len; i++) {
            if (!d->f[i].label)
                continue;
            field(f, sizeof(f), ev, d, i);
            n += (size_t)snprintf(buf + n, len - n, "%s%s %s", n ? ", " : "", d->f[i].label, f);
        }
        return buf;
    }
    for (const char *p = d->text; *p && n + 1 < len; p++) {
        if (p[0] == '{' && p[1] >= 'a' && p[1] <= 'd' && p[2] == '}') {
            field(f, sizeof(f), ev, d, p[1] - 'a');
            n += (size_t)snprintf(buf + n, len - n, "%s", f);
            p += 2;
        } else {
            buf[n++] = *p;
            buf[n] = 0;
        }
    }
    if (n >= len)
        buf[len - 1] = 0;
    return buf;
}

bool emu_event_vector(const cpu_obs_event *ev, unsigned *vector)
{
    const emu_evdesc *d = emu_event_desc(ev->kind);
    if (!d || d->vector < 0)
        return false;
    const uint64_t vals[4] = {ev->a, ev->b, ev->c, ev->d};
    uint64_t v = vals[d->vector];
    if (v > 255)
        return false;
    *vector = (unsigned)v;
    return true;
}

bool emu_event_exit_reason(const cpu_obs_event *ev, unsigned *reason)
{
    const emu_evdesc *d = emu_event_desc(ev->kind);
    if (!d || d->reason < 0)
        return false;
    const uint64_t vals[4] = {ev->a, ev->b, ev->c, ev->d};
    *reason = (unsigned)(vals[d->reason] & 0xFFFF);
    return true;
}

bool emu_event_is_chatter(const cpu_obs_event *ev)
{
    const emu_evdesc *d = emu_event_desc(ev->kind);
    if (d && (d->flags & (EMU_EVD_CAPTION | EMU_EVD_CONSOLE)))
        return true;
    unsigned reason;
    if (emu_event_exit_reason(ev, &reason) && reason == VMX_EXIT_IO) {
        unsigned port = (unsigned)((ev->b >> 16) & 0xFFFF);
        return port == EMU_PORT_CONSOLE || port == EMU_PORT_EXIT;
    }
    return false;
}
