/*
 * emu_evdesc.h — self-describing events: one descriptor per event kind of
 * every layer (cpu, apic, vmx, the machine, the hypervisor, scenarios).
 *
 * A descriptor says what the kind is called, the label and format of each
 * of its fields a..d, which field holds the vector and which the VM-exit
 * reason, and how to say the whole event in words ("vector 41h",
 * "PIR 41h -> VIRR", "ON 1 -> 0", "exit 56 APIC_WRITE, offset 300h").
 * The text log, the window's events panel, --stats, failure messages and
 * `compare` print and interpret events through it, so nobody guesses what
 * a field means. The meaning of each field is still documented beside the
 * kind in its layer's header; the descriptors live here, in the one layer
 * that sees every kind (their names are the layers' own, checked by
 * tests/emu/test_evdesc.c).
 */
#ifndef APICV_EMU_EVDESC_H
#define APICV_EMU_EVDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu_obs.h"

/* How a field is printed. */
typedef enum emu_evfmt {
    EMU_EVF_NONE = 0, /* not used by this kind */
    EMU_EVF_HEX,      /* 0x1234 */
    EMU_EVF_DEC,      /* 1234 */
    EMU_EVF_VEC,      /* a vector: 41h; ~0 or above 255: "none" */
    EMU_EVF_HEXH,     /* an offset or register value in SDM style: 0B0h */
    EMU_EVF_REASON,   /* a full VM-exit reason: "56 APIC_WRITE" (SDM Appendix C) */
    EMU_EVF_QUAL,     /* an exit qualification read with the event's reason: ", offset 300h" */
    EMU_EVF_INTINFO,  /* an interruption-information field: ", vector FDh" or "" when invalid */
    EMU_EVF_BIT0,     /* bit 0 of the value (ON in the descriptor's fourth qword) */
    EMU_EVF_CHAR,     /* a console byte: 'h' */
    EMU_EVF_STATUS,   /* guest interrupt status: "RVI 41h SVI 00h" */
    EMU_EVF_LAUNCH,   /* VMLAUNCH (1) or VMRESUME (0) */
    EMU_EVF_IPI,      /* the APIC's packed ICR summary: "vector 42h fixed" */
    EMU_EVF_MASK,     /* a CPU mask: "{1,3}" */
    EMU_EVF_OUTCOME,  /* apic accept outcome: accepted, disabled, ... */
    EMU_EVF_WRITE_OUTCOME, /* APIC-write emulation outcome: TPR, EOI, ... */
    EMU_EVF_TPR_SOURCE,    /* source of TPR virtualization: CR8, MMIO, MSR, entry */
    EMU_EVF_STIM,     /* a scenario stimulus kind: msi, host-irq, deschedule */
    EMU_EVF_ERRCODE,  /* an exception error code: ", error code 0h" or "" when ~0 */
    EMU_EVF_DELMODE,  /* an APIC delivery mode by name: fixed, NMI, ExtINT, ... */
    EMU_EVF_INTTYPE,  /* an interruption type by name: external interrupt, NMI, ... */
    EMU_EVF_TMRMODE,  /* the LVT timer mode: one-shot, periodic, TSC-deadline */
    EMU_EVF_APICREG,  /* what apic.mode changed: IA32_APIC_BASE (1Bh) or SVR (0F0h) */
    EMU_EVF_TRIGGER,  /* a trigger mode: edge (0) or level (1) */
    EMU_EVF_FIELD,    /* a VMCS field encoding with its name: 4402h EXIT_REASON */
    EMU_EVF_VMX_INSN, /* a VMX instruction by its exit reason: VMPTRLD */
    EMU_EVF_VMX_OPERAND, /* a guest hypervisor's VMX instruction operand, read with
                          * the instruction (field a): " VMCS 0x20f000", " field ..." */
    EMU_EVF_VMX_RESULT,  /* VMsucceed (0), VMfailInvalid (1), VMfailValid (2 + error) */
} emu_evfmt;

typedef struct emu_evfield {
    const char *label; /* "vector", "PPR before", ...; NULL = field unused */
    uint8_t fmt;       /* emu_evfmt */
} emu_evfield;

/* Roles a kind can have, for filters. */
enum {
    EMU_EVD_CAPTION = 1u << 0, /* a scenario's caption (hidden by default in the window) */
    EMU_EVD_CONSOLE = 1u << 1, /* a console byte */
};

typedef struct emu_evdesc {
    unsigned kind;
    const char *name;  /* "vmx.exit" */
    /* The event in words: "{a}".."{d}" are replaced by the formatted
     * fields; NULL says "label value, label value, ...". */
    const char *text;
    emu_evfield f[4]; /* a, b, c, d */
    int8_t vector;    /* index (0 = a .. 3 = d) of the vector field, -1 none */
    int8_t reason;    /* index of the VM-exit reason field, -1 none */
    uint8_t flags;    /* EMU_EVD_* */
} emu_evdesc;

/* The descriptor of kind, or NULL for a kind no layer defines. */
const emu_evdesc *emu_event_desc(unsigned kind);
/* The event's fields in words, from its descriptor ("vector 41h: VIRR ->
 * VISR, ..."); an unknown kind prints its raw fields. Returns buf. */
char *emu_event_describe(const cpu_obs_event *ev, char *buf, size_t len);
/* The event's vector (its descriptor's vector field), false when it has
 * none or the field says "none". */
bool emu_event_vector(const cpu_obs_event *ev, unsigned *vector);
/* The basic exit reason (bits 15:0) of an event that carries one. */
bool emu_event_exit_reason(const cpu_obs_event *ev, unsigned *reason);
/* "56 APIC_WRITE": a VM-exit reason by number and name (SDM Appendix C,
 * the one table in vmx/, vmx_exit_reason_name). Returns buf. */
char *emu_exit_reason_text(unsigned reason, char *buf, size_t len);
/* True for the events a viewer rarely wants: captions, console bytes and
 * the I/O exits a guest's console output causes (port E9h, F4h). */
bool emu_event_is_chatter(const cpu_obs_event *ev);

#endif
