/*
 * emu_import_kvm_parse.c — one line of `trace-cmd report` or of ftrace's
 * `trace` file into one KVM event (docs/import-kvm.md, "Formats").
 *
 * Both tools print "TASK-PID [CPU] [FLAGS] SECONDS.FRACTION: EVENT: TEXT",
 * where TEXT is the tracepoint's TP_printk format in the kernel's
 * include/trace/events/kvm.h and arch/x86/kvm/trace.h. Those formats
 * changed over the kernel versions (kvm_exit gained the vCPU, then "info",
 * then info1/info2/intr_info/error_code; kvm_inj_virq went from "irq %u" to
 * "IRQ 0x%x"; kvm_apic's value from 32 to 64 bits): each parser here takes
 * every layout and reads fields by their keyword, not by position.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_import_kvm.h"

static const char *const kind_names[EMU_KVM_NKINDS] = {
    [EMU_KVM_ENTRY] = "kvm_entry",
    [EMU_KVM_EXIT] = "kvm_exit",
    [EMU_KVM_ACCEPT_IRQ] = "kvm_apic_accept_irq",
    [EMU_KVM_APICV_ACCEPT_IRQ] = "kvm_apicv_accept_irq",
    [EMU_KVM_APIC_IPI] = "kvm_apic_ipi",
    [EMU_KVM_APIC] = "kvm_apic",
    [EMU_KVM_EOI] = "kvm_eoi",
    [EMU_KVM_PV_EOI] = "kvm_pv_eoi",
    [EMU_KVM_MSR] = "kvm_msr",
    [EMU_KVM_INJ_VIRQ] = "kvm_inj_virq",
    [EMU_KVM_PI_IRTE] = "kvm_pi_irte_update",
    [EMU_KVM_PLE_WINDOW] = "kvm_ple_window_update",
    [EMU_KVM_LAPIC_EXPIRE] = "kvm_wait_lapic_expire",
    [EMU_KVM_HV_TIMER] = "kvm_hv_timer_state",
    [EMU_KVM_WAKEUP] = "kvm_vcpu_wakeup",
    [EMU_KVM_APICV_INHIBIT] = "kvm_apicv_inhibit_changed",
};

const char *emu_kvm_kind_name(emu_kvm_kind k)
{
    return k < EMU_KVM_NKINDS ? kind_names[k] : "?";
}

/* Older names of the same tracepoints. */
static const struct {
    const char *name;
    emu_kvm_kind kind;
} old_names[] = {
    {"kvm_ple_window", EMU_KVM_PLE_WINDOW},
    {"kvm_apicv_update_request", EMU_KVM_APICV_INHIBIT},
};

/* KVM's VMX_EXIT_REASONS names (arch/x86/include/uapi/asm/vmx.h) by basic
 * exit reason (SDM Vol. 3D Appendix C); PENDING_INTERRUPT is the older
 * name of INTERRUPT_WINDOW. */
static const struct {
    unsigned reason;
    const char *name;
} vmx_reasons[] = {
    {0, "EXCEPTION_NMI"},        {1, "EXTERNAL_INTERRUPT"},   {2, "TRIPLE_FAULT"},
    {3, "INIT_SIGNAL"},          {4, "SIPI_SIGNAL"},          {7, "INTERRUPT_WINDOW"},
    {7, "PENDING_INTERRUPT"},    {8, "NMI_WINDOW"},           {9, "TASK_SWITCH"},
    {10, "CPUID"},               {12, "HLT"},                 {13, "INVD"},
    {14, "INVLPG"},              {15, "RDPMC"},               {16, "RDTSC"},
    {18, "VMCALL"},              {19, "VMCLEAR"},             {20, "VMLAUNCH"},
    {21, "VMPTRLD"},             {22, "VMPTRST"},             {23, "VMREAD"},
    {24, "VMRESUME"},            {25, "VMWRITE"},             {26, "VMOFF"},
    {27, "VMON"},                {28, "CR_ACCESS"},           {29, "DR_ACCESS"},
    {30, "IO_INSTRUCTION"},      {31, "MSR_READ"},            {32, "MSR_WRITE"},
    {33, "INVALID_STATE"},       {34, "MSR_LOAD_FAIL"},       {36, "MWAIT_INSTRUCTION"},
    {37, "MONITOR_TRAP_FLAG"},   {39, "MONITOR_INSTRUCTION"}, {40, "PAUSE_INSTRUCTION"},
    {41, "MCE_DURING_VMENTRY"},  {43, "TPR_BELOW_THRESHOLD"}, {44, "APIC_ACCESS"},
    {45, "EOI_INDUCED"},         {46, "GDTR_IDTR"},           {47, "LDTR_TR"},
    {48, "EPT_VIOLATION"},       {49, "EPT_MISCONFIG"},       {50, "INVEPT"},
    {51, "RDTSCP"},              {52, "PREEMPTION_TIMER"},    {53, "INVVPID"},
    {54, "WBINVD"},              {55, "XSETBV"},              {56, "APIC_WRITE"},
    {57, "RDRAND"},              {58, "INVPCID"},             {59, "VMFUNC"},
    {60, "ENCLS"},               {61, "RDSEED"},              {62, "PML_FULL"},
    {63, "XSAVES"},              {64, "XRSTORS"},             {67, "UMWAIT"},
    {68, "TPAUSE"},              {74, "BUS_LOCK"},            {75, "NOTIFY"},
};

/* KVM's kvm_trace_symbol_apic names: xAPIC register offsets (SDM 11.4.1
 * Table 11-1). */
static const struct {
    const char *name;
    uint32_t off;
} apic_regs[] = {
    {"APIC_ID", 0x20},     {"APIC_LVR", 0x30},      {"APIC_TASKPRI", 0x80}, {"APIC_ARBPRI", 0x90},
    {"APIC_PROCPRI", 0xA0}, {"APIC_EOI", 0xB0},     {"APIC_RRR", 0xC0},     {"APIC_LDR", 0xD0},
    {"APIC_DFR", 0xE0},    {"APIC_SPIV", 0xF0},     {"APIC_ISR", 0x100},    {"APIC_TMR", 0x180},
    {"APIC_IRR", 0x200},   {"APIC_ESR", 0x280},     {"APIC_ICR", 0x300},    {"APIC_ICR2", 0x310},
    {"APIC_LVTT", 0x320},  {"APIC_LVTTHMR", 0x330}, {"APIC_LVTPC", 0x340},  {"APIC_LVT0", 0x350},
    {"APIC_LVT1", 0x360},  {"APIC_LVTERR", 0x370},  {"APIC_TMICT", 0x380},  {"APIC_TMCCT", 0x390},
    {"APIC_TDCR", 0x3E0},  {"APIC_SELF_IPI", 0x3F0}, {"APIC_EFEAT", 0x400}, {"APIC_ECTRL", 0x410},
};

/* KVM's kvm_deliver_mode names, by ICR delivery mode (SDM 11.6.1). */
static const char *const dm_names[8] = {"Fixed", "LowPrio", "SMI", "Res3",
                                        "NMI",   "INIT",    "SIPI", "ExtINT"};

static bool fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The first place where word stands as a whole word in s (after the start,
 * a blank, a comma or a '('; before a blank, ':', ',', '=' or the end), and
 * the text after it. NULL if absent. */
static const char *after_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word)) {
        bool start = p == s || p[-1] == ' ' || p[-1] == '\t' || p[-1] == ',' || p[-1] == '(';
        char c = p[n];
        bool end = c == 0 || c == ' ' || c == ':' || c == ',' || c == '=' || c == '\t';
        if (start && end) {
            p += n;
            while (*p == ' ' || *p == ':' || *p == '=' || *p == '\t')
                p++;
            return p;
        }
    }
    return NULL;
}

/* A number at *p: 0x-prefixed is hexadecimal, else in base. Moves *p on. */
static bool num(const char **p, int base, uint64_t *out)
{
    const char *s = skip_ws(*p);
    char *end;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        base = 16;
    }
    if (!isxdigit((unsigned char)*s) || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || end == s)
        return false;
    *out = v;
    *p = end;
    return true;
}

/* The number after a keyword: "vcpu 3", "gvec: 0x41", "vcpu_id 2". */
static bool field(const char *body, const char *word, int base, uint64_t *out)
{
    const char *p = after_word(body, word);
    return p && num(&p, base, out);
}

static bool signed_field(const char *body, const char *word, int64_t *out)
{
    const char *p = after_word(body, word);
    if (!p)
        return false;
    bool neg = *p == '-';
    uint64_t v;
    if (neg)
        p++;
    if (!num(&p, 10, &v))
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* The word at p (up to a blank, '|', ')' or ','), copied into out. */
static const char *word_at(const char *p, char *out, size_t len)
{
    size_t n = 0;
    p = skip_ws(p);
    while (*p && *p != ' ' && *p != '|' && *p != ')' && *p != ',' && *p != '\t') {
        if (n + 1 < len)
            out[n++] = *p;
        p++;
    }
    out[n] = 0;
    return p;
}

/* "(Fixed|edge)" and "(Fixed|physical|assert|edge|dst)": the words inside
 * the first parentheses after p. */
static unsigned paren_words(const char *p, char words[][16], unsigned max)
{
    const char *o = strchr(p, '(');
    unsigned n = 0;
    if (!o)
        return 0;
    o++;
    while (n < max && *o && *o != ')') {
        o = word_at(o, words[n], 16);
        n++;
        if (*o == '|')
            o++;
        else
            break;
    }
    return n;
}

static int dm_from_name(const char *s)
{
    for (unsigned k = 0; k < 8; k++)
        if (strcmp(s, dm_names[k]) == 0)
            return (int)k;
    return -1;
}

static bool parse_exit(const char *body, emu_kvm_event *ev, char *err, size_t errlen)
{
    uint64_t v;
    ev->vcpu = field(body, "vcpu", 10, &v) ? (int)v : -1;
    const char *p = after_word(body, "reason");
    if (!p || !*p)
        return fail(err, errlen, "expected 'reason NAME' in kvm_exit, got '%s'", body);
    word_at(p, ev->reason_name, sizeof(ev->reason_name));
    ev->reason = EMU_KVM_NO_REASON;
    for (unsigned k = 0; k < sizeof(vmx_reasons) / sizeof(vmx_reasons[0]); k++)
        if (strcmp(ev->reason_name, vmx_reasons[k].name) == 0)
            ev->reason = vmx_reasons[k].reason;
    const char *r = ev->reason_name;
    if (ev->reason == EMU_KVM_NO_REASON && num(&r, 16, &v) && *r == 0 && v < 0x10000)
        ev->reason = (unsigned)v; /* __print_symbolic prints an unnamed value in hex */
    if (!field(body, "rip", 16, &v))
        return fail(err, errlen, "expected 'rip 0xADDRESS' in kvm_exit, got '%s'", body);
    if (field(body, "info1", 16, &ev->info1)) {
        if (!field(body, "intr_info", 16, &v))
            return fail(err, errlen, "expected 'intr_info 0xVALUE' after info1 in kvm_exit, got '%s'",
                        body);
        ev->intr_info = (uint32_t)v;
        ev->layout = EMU_KVM_EXIT_INFO1;
        ev->has_info = true;
    } else if ((p = after_word(body, "info"))) {
        /* "info %llx %llx": the exit qualification, then (VMX) the
         * interruption information. */
        if (!num(&p, 16, &ev->info1) || !num(&p, 16, &v))
            return fail(err, errlen, "expected 'info QUALIFICATION INTR_INFO' in kvm_exit, got '%s'",
                        body);
        ev->intr_info = (uint32_t)v;
        ev->layout = EMU_KVM_EXIT_INFO;
        ev->has_info = true;
    } else {
        ev->layout = EMU_KVM_EXIT_PLAIN;
    }
    return true;
}

static bool parse_accept(const char *body, emu_kvm_event *ev, char *err, size_t errlen)
{
    uint64_t id, vec;
    if (!field(body, "apicid", 16, &id) || !field(body, "vec", 10, &vec) || vec > 255)
        return fail(err, errlen, "expected 'apicid ID vec VECTOR (MODE|TRIGGER)', got '%s'", body);
    ev->dest = (unsigned)id;
    ev->vector = (unsigned)vec;
    char w[2][16];
    unsigned n = paren_words(body, w, 2);
    int dm = n >= 1 ? dm_from_name(w[0]) : 0;
    if (dm < 0)
        return fail(err, errlen, "expected a delivery mode (Fixed, LowPrio, NMI, ...), got '%s'", w[0]);
    ev->dm = (unsigned)dm;
    ev->level = n >= 2 && strcmp(w[1], "level") == 0;
    return true;
}

static bool parse_ipi(const char *body, emu_kvm_event *ev, char *err, size_t errlen)
{
    uint64_t dst, vec;
    if (!field(body, "dst", 16, &dst) || !field(body, "vec", 10, &vec) || vec > 255)
        return fail(err, errlen, "expected 'dst ID vec VECTOR (...)' in kvm_apic_ipi, got '%s'", body);
    ev->dest = (unsigned)dst;
    ev->vector = (unsigned)vec;
    char w[5][16];
    unsigned n = paren_words(body, w, 5);
    int dm = n >= 1 ? dm_from_name(w[0]) : 0;
    if (dm < 0)
        return fail(err, errlen, "expected a delivery mode (Fixed, LowPrio, NMI, ...), got '%s'", w[0]);
    ev->dm = (unsigned)dm;
    ev->logical = n >= 2 && strcmp(w[1], "logical") == 0;
    ev->level = n >= 4 && strcmp(w[3], "level") == 0;
    ev->shorthand = 0;
    if (n >= 5) {
        static const char *const sh[4] = {"dst", "self", "all", "all-but-self"};
        for (unsigned k = 0; k < 4; k++)
            if (strcmp(w[4], sh[k]) == 0)
                ev->shorthand = k;
    }
    return true;
}

static bool parse_apic(const char *body, emu_kvm_event *ev, char *err, size_t errlen)
{
    char op[16] = {0}, reg[24] = {0};
    const char *p = word_at(body, op, sizeof(op));
    if (strcmp(op, "apic_write") != 0 && strcmp(op, "apic_read") != 0)
        return fail(err, errlen, "expected 'apic_read' or 'apic_write' in kvm_apic, got '%s'", body);
    ev->write = op[5] == 'w';
    p = word_at(p, reg, sizeof(reg));
    const char *r = reg;
    uint64_t v;
    bool known = false;
    for (unsigned k = 0; k < sizeof(apic_regs) / sizeof(apic_regs[0]); k++)
        if (strcmp(reg, apic_regs[k].name) == 0) {
            ev->reg = apic_regs[k].off;
            known = true;
        }
    if (!known && num(&r, 16, &v) && *r == 0) {
        ev->reg = (uint32_t)v;
        known = true;
    }
    p = skip_ws(p);
    if (!known || *p != '=')
        return fail(err, errlen, "expected 'apic_%s REGISTER = 0xVALUE' in kvm_apic, got '%s'",
                    ev->write ? "write" : "read", body);
    p++;
    if (!num(&p, 16, &ev->val))
        return fail(err, errlen, "expected a value after '=' in kvm_apic, got '%s'", body);
    return true;
}

static bool parse_msr(const char *body, emu_kvm_event *ev, char *err, size_t errlen)
{
    char op[16] = {0};
    const char *p = word_at(body, op, sizeof(op));
    uint64_t v;
    if ((strcmp(op, "msr_write") != 0 && strcmp(op, "msr_read") != 0) || !num(&p, 16, &v))
        return fail(err, errlen, "expected 'msr_read|msr_write MSR = 0xVALUE' in kvm_msr, got '%s'",
                    body);
    ev->write = op[4] == 'w';
    ev->reg = (uint32_t)v;
    p = skip_ws(p);
    if (*p != '=')
        return fail(err, errlen, "expected '= 0xVALUE' after the MSR in kvm_msr, got '%s'", body);
    p++;
    if (!num(&p, 16, &ev->val))
        return fail(err, errlen, "expected a value after '=' in kvm_msr, got '%s'", body);
    ev->flag = strstr(p, "#GP") != NULL;
    return true;
}

static bool parse_inj(const char *body, emu_kvm_event *ev, char *err, size_t errlen)
{
    uint64_t v;
    const char *p;
    if ((p = after_word(body, "irq")) && num(&p, 10, &v)) {
        ev->flag = false; /* "irq %u": older kernels */
    } else if ((p = after_word(body, "IRQ")) && num(&p, 16, &v)) {
        ev->flag = false;
    } else if ((p = after_word(body, "Soft/INTn")) && num(&p, 16, &v)) {
        ev->flag = true;
    } else {
        return fail(err, errlen, "expected 'irq N', 'IRQ 0xV' or 'Soft/INTn 0xV' in kvm_inj_virq, got '%s'",
                    body);
    }
    if (v > 255)
        return fail(err, errlen, "expected a vector 0..255 in kvm_inj_virq, got '%s'", body);
    ev->vector = (unsigned)v;
    return true;
}

/* Parses the tracepoint text of kind k into ev. */
static bool parse_body(emu_kvm_kind k, const char *body, emu_kvm_event *ev, char *err,
                       size_t errlen)
{
    uint64_t v;
    int64_t sv;
    switch (k) {
    case EMU_KVM_ENTRY:
        if (!field(body, "vcpu", 10, &v))
            return fail(err, errlen, "expected 'vcpu N' in kvm_entry, got '%s'", body);
        ev->vcpu = (int)v;
        return true;
    case EMU_KVM_EXIT:
        return parse_exit(body, ev, err, errlen);
    case EMU_KVM_ACCEPT_IRQ:
    case EMU_KVM_APICV_ACCEPT_IRQ:
        return parse_accept(body, ev, err, errlen);
    case EMU_KVM_APIC_IPI:
        return parse_ipi(body, ev, err, errlen);
    case EMU_KVM_APIC:
        return parse_apic(body, ev, err, errlen);
    case EMU_KVM_EOI:
    case EMU_KVM_PV_EOI:
        if (!field(body, "apicid", 16, &v) || !signed_field(body, "vector", &sv))
            return fail(err, errlen, "expected 'apicid ID vector N' in %s, got '%s'", kind_names[k],
                        body);
        ev->vcpu = (int)v; /* the field holds the vCPU's id */
        ev->vector = (unsigned)sv & 0xFF;
        return true;
    case EMU_KVM_MSR:
        return parse_msr(body, ev, err, errlen);
    case EMU_KVM_INJ_VIRQ:
        return parse_inj(body, ev, err, errlen);
    case EMU_KVM_PI_IRTE:
        if (!field(body, "vcpu", 10, &v))
            return fail(err, errlen, "expected 'vcpu N' in kvm_pi_irte_update, got '%s'", body);
        ev->vcpu = (int)v;
        ev->flag = strstr(body, "enabled") != NULL;
        ev->vector = field(body, "gvec", 16, &v) ? (unsigned)v & 0xFF : 0;
        return true;
    case EMU_KVM_PLE_WINDOW:
    case EMU_KVM_LAPIC_EXPIRE:
        if (!field(body, "vcpu", 10, &v))
            return fail(err, errlen, "expected 'vcpu N' in %s, got '%s'", kind_names[k], body);
        ev->vcpu = (int)v;
        if (k == EMU_KVM_LAPIC_EXPIRE && signed_field(body, "delta", &sv))
            ev->val = (uint64_t)sv;
        return true;
    case EMU_KVM_HV_TIMER:
        if (!field(body, "vcpu_id", 16, &v))
            return fail(err, errlen, "expected 'vcpu_id N hv_timer N' in kvm_hv_timer_state, got '%s'",
                        body);
        ev->vcpu = (int)v;
        ev->flag = field(body, "hv_timer", 16, &v) && v != 0;
        return true;
    case EMU_KVM_WAKEUP: {
        char w[8];
        word_at(body, w, sizeof(w));
        if ((strcmp(w, "wait") != 0 && strcmp(w, "poll") != 0) || !field(body, "time", 10, &ev->val))
            return fail(err, errlen, "expected 'wait|poll time N ns' in kvm_vcpu_wakeup, got '%s'", body);
        ev->flag = w[0] == 'w';
        return true;
    }
    case EMU_KVM_APICV_INHIBIT:
        ev->flag = strncmp(skip_ws(body), "set", 3) == 0 ||
                   (field(body, "activate", 10, &v) && v == 0);
        return true;
    default:
        return fail(err, errlen, "internal: no parser for %s", kind_names[k]);
    }
}

/* "SECONDS[.FRACTION]" into nanoseconds (up to nine decimals kept); the
 * text after it, or NULL if p holds no such number. */
static const char *seconds(const char *p, uint64_t *ns)
{
    const char *s = p;
    uint64_t sec = 0, frac = 0;
    unsigned digits = 0;
    if (!isdigit((unsigned char)*s))
        return NULL;
    while (isdigit((unsigned char)*s)) {
        if (sec > UINT64_MAX / 10 / 1000000000ull)
            return NULL;
        sec = sec * 10 + (uint64_t)(*s++ - '0');
    }
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            if (digits < 9) {
                frac = frac * 10 + (uint64_t)(*s - '0');
                digits++;
            }
            s++;
        }
        for (; digits < 9; digits++)
            frac *= 10;
    }
    *ns = sec * 1000000000ull + frac;
    return s;
}

/* The line's "SECONDS[.FRACTION]:"; the text after the colon or NULL. */
static const char *timestamp(const char *p, uint64_t *ns)
{
    const char *s = seconds(p, ns);
    return s && *s == ':' ? s + 1 : NULL;
}

bool emu_kvm_parse_seconds(const char *text, uint64_t *ns)
{
    const char *s = seconds(text, ns);
    return s && *s == 0;
}

emu_kvm_line emu_kvm_parse_line(const char *line, unsigned lineno, emu_kvm_event *ev,
                                char *name, size_t namelen, char *err, size_t errlen)
{
    const char *s = skip_ws(line);
    unsigned cpu;
    char tail[16];
    memset(ev, 0, sizeof(*ev));
    ev->line = lineno;
    ev->vcpu = -1;
    if (namelen)
        name[0] = 0;
    /* Comments (ftrace's header), trace-cmd's "cpus=N", "version = N" and
     * "CPU N is empty" lines. */
    if (!*s || *s == '#' || strncmp(s, "cpus=", 5) == 0 || strncmp(s, "version =", 9) == 0 ||
        (sscanf(s, "CPU %u is %15s", &cpu, tail) == 2 && strcmp(tail, "empty") == 0))
        return EMU_KVM_LINE_BLANK;
    /* The host CPU "[NNN]" ends the task; the task itself may hold blanks
     * ("CPU 1/KVM-4321"). */
    const char *br = NULL;
    for (const char *p = strchr(s, '['); p; p = strchr(p + 1, '[')) {
        const char *q = p + 1;
        while (isdigit((unsigned char)*q))
            q++;
        if (q > p + 1 && *q == ']' && p > s && (p[-1] == ' ' || p[-1] == '\t')) {
            br = p;
            break;
        }
    }
    if (!br) {
        fail(err, errlen, "expected 'TASK-PID [CPU] TIMESTAMP: EVENT: ...' (trace-cmd report or "
                          "ftrace), got '%.60s'", s);
        return EMU_KVM_LINE_MALFORMED;
    }
    const char *te = br;
    while (te > s && (te[-1] == ' ' || te[-1] == '\t'))
        te--;
    const char *dash = NULL;
    for (const char *p = s; p < te; p++)
        if (*p == '-')
            dash = p;
    if (!dash || dash + 1 == te) {
        fail(err, errlen, "expected TASK-PID before '[CPU]', got '%.*s'", (int)(te - s), s);
        return EMU_KVM_LINE_MALFORMED;
    }
    ev->pid = atoi(dash + 1);
    size_t cl = (size_t)(dash - s) < sizeof(ev->comm) - 1 ? (size_t)(dash - s) : sizeof(ev->comm) - 1;
    memcpy(ev->comm, s, cl);
    ev->comm[cl] = 0;
    ev->host_cpu = atoi(br + 1);
    /* After the CPU: ftrace's flags ("d..1.", "...1") or trace-cmd's
     * latency columns, then the timestamp. */
    const char *p = strchr(br, ']') + 1;
    const char *after = NULL;
    for (unsigned tok = 0; tok < 4 && !after; tok++) {
        p = skip_ws(p);
        after = timestamp(p, &ev->ts_ns);
        if (!after) {
            while (*p && *p != ' ' && *p != '\t')
                p++;
            ev->prefix = EMU_KVM_PREFIX_FTRACE;
        }
    }
    if (!after) {
        fail(err, errlen, "expected a timestamp 'SECONDS.FRACTION:' after '[CPU]', got '%.40s'",
             skip_ws(strchr(br, ']') + 1));
        return EMU_KVM_LINE_MALFORMED;
    }
    p = skip_ws(after);
    const char *colon = strchr(p, ':');
    size_t nl = colon ? (size_t)(colon - p) : 0;
    bool ok = nl > 0 && nl < 48;
    for (size_t k = 0; k < nl && ok; k++)
        ok = isalnum((unsigned char)p[k]) || p[k] == '_';
    if (!ok) {
        fail(err, errlen, "expected 'EVENT:' after the timestamp, got '%.40s'", p);
        return EMU_KVM_LINE_MALFORMED;
    }
    char ename[48];
    memcpy(ename, p, nl);
    ename[nl] = 0;
    const char *body = skip_ws(colon + 1);
    int kind = -1;
    for (unsigned k = 0; k < EMU_KVM_NKINDS; k++)
        if (strcmp(ename, kind_names[k]) == 0)
            kind = (int)k;
    for (unsigned k = 0; k < sizeof(old_names) / sizeof(old_names[0]) && kind < 0; k++)
        if (strcmp(ename, old_names[k].name) == 0)
            kind = (int)old_names[k].kind;
    if (kind < 0) {
        snprintf(name, namelen, "%s", ename);
        return EMU_KVM_LINE_UNKNOWN;
    }
    ev->kind = (emu_kvm_kind)kind;
    char why[400];
    if (!parse_body(ev->kind, body, ev, why, sizeof(why))) {
        snprintf(err, errlen, "%s", why);
        return EMU_KVM_LINE_MALFORMED;
    }
    return EMU_KVM_LINE_EVENT;
}
