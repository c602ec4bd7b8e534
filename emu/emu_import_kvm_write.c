/*
 * emu_import_kvm_write.c — an imported KVM trace (emu_kvm_import) written
 * as a scenario (docs/scenarios.md) and summarised for people
 * (docs/import-kvm.md, "What the scenario holds").
 */
#include <string.h>

#include "emu/emu_import_kvm.h"
#include "vmx/vmx_vmcs.h"

/* A caption's text with '"' and '\' escaped (docs/scenarios.md). */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (size_t n = 0; *s && n < EMU_KVM_MAX_CAPTION_TEXT; s++, n++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s == '\n' ? ' ' : *s, out);
    }
    fputc('"', out);
}

static unsigned count_on(const emu_kvm_import *imp, unsigned vcpu, bool nmi)
{
    unsigned n = 0;
    for (unsigned k = 0; k < imp->nstim; k++)
        n += imp->stim[k].vcpu == vcpu && imp->stim[k].nmi == nmi;
    return n;
}

bool emu_kvm_write_scenario(const emu_kvm_log *log, const emu_kvm_import *imp, FILE *out)
{
    const char *mode = emu_mode_name(imp->mode);
    fprintf(out, "apicv-scenario 1\n");
    fprintf(out, "# Imported from a KVM trace by `apicv-emu import-kvm` (docs/import-kvm.md).\n");
    fprintf(out, "# Source: %s: %u lines, %zu KVM events, %u of other events, %u malformed.\n",
            log->path, log->lines, log->n, log->unknown_total, log->malformed);
    fprintf(out, "# Mode %s: %s.\n", mode, imp->mode_why);
    if (imp->nstim)
        fprintf(out, "# Timing: the first accepted interrupt at cycle %u; %s%llu cycles per "
                     "microsecond of the trace; one vCPU's interrupts at least %u cycles apart.\n",
                EMU_KVM_START, imp->compressed ? "compressed to " : "",
                (unsigned long long)imp->cycles_per_us_used, EMU_KVM_MIN_GAP);
    fprintf(out, "# Each interrupt KVM accepted for a vCPU is a stimulus for that vCPU: msi (the "
                 "mode's path) or nmi.\n");
    fprintf(out, "# Run it: apicv-emu run THIS.scn (the window shows every vCPU's virtual APIC).\n");
    fprintf(out, "guest kvm_import.elf\ncpus %u\nmode %s\nmem 8\nquantum 1000\nmax-cycles %u\n\n",
            imp->nvcpus, mode, 2 * EMU_KVM_GUEST_END);
    char intro[EMU_KVM_MAX_CAPTION_TEXT + 1];
    snprintf(intro, sizeof(intro),
             "Imported KVM trace: %u vCPU(s), %u interrupt(s) replayed in mode %s (inferred from the "
             "trace's exits; see the scenario's comments)",
             imp->nvcpus, imp->nstim, mode);
    fprintf(out, "caption at 0 ");
    put_quoted(out, intro);
    fputc('\n', out);
    for (unsigned k = 0; k < imp->nstim; k++) {
        const emu_kvm_stimulus *s = &imp->stim[k];
        if (s->nmi)
            fprintf(out, "at %llu nmi cpu=%u\n", (unsigned long long)s->cycle, s->vcpu);
        else
            fprintf(out, "at %llu msi vector=0x%02x cpu=%u\n", (unsigned long long)s->cycle,
                    s->vector, s->vcpu);
        fprintf(out, "caption at %llu ", (unsigned long long)s->cycle);
        put_quoted(out, s->what);
        fputc('\n', out);
    }
    fprintf(out, "\n# Every interrupt taken through the guest's IDT, once each.\n");
    for (unsigned k = 0; k < imp->nstim; k++) {
        const emu_kvm_stimulus *s = &imp->stim[k];
        bool first = !s->nmi;
        for (unsigned j = 0; j < k && first; j++)
            first = imp->stim[j].nmi || imp->stim[j].vcpu != s->vcpu || imp->stim[j].vector != s->vector;
        if (!first)
            continue;
        unsigned n = 0;
        for (unsigned j = k; j < imp->nstim; j++)
            n += !imp->stim[j].nmi && imp->stim[j].vcpu == s->vcpu && imp->stim[j].vector == s->vector;
        fprintf(out, "expect end delivered cpu=%u vector=0x%02x == %u\n", s->vcpu, s->vector, n);
    }
    /* The exit pattern of the mode (docs/import-kvm.md, "Mode"): the
     * guest's EOI exits (44) unless virtual-interrupt delivery virtualizes
     * it (SDM 30.1.4); a kick (exit 1) per interrupt unless it is posted
     * (SDM 30.6). NMIs kick in every mode. */
    fprintf(out, "# The exit pattern of mode %s, per vCPU that took interrupts.\n", mode);
    bool eoi_exits = imp->mode == EMU_MODE_EMULATED || imp->mode == EMU_MODE_TPR_SHADOW;
    bool posted = imp->mode == EMU_MODE_POSTED;
    for (unsigned v = 0; v < imp->nvcpus && imp->mode != EMU_MODE_NATIVE; v++) {
        unsigned n = count_on(imp, v, false), nmis = count_on(imp, v, true);
        if (!n)
            continue;
        if (eoi_exits)
            fprintf(out, "expect end exits cpu=%u reason=44 >= %u\n", v, n);
        else
            fprintf(out, "expect end exits cpu=%u reason=44 == 0\n", v);
        if (posted)
            fprintf(out, "expect end exits cpu=%u reason=1 <= %u\n", v, nmis);
        else
            fprintf(out, "expect end exits cpu=%u reason=1 >= %u\n", v, n);
    }
    fprintf(out, "expect end status == 0\n");
    return !ferror(out);
}

void emu_kvm_print_summary(const emu_kvm_log *log, const emu_kvm_import *imp, FILE *out)
{
    fprintf(out, "import-kvm: %s: %u lines, %zu KVM events, %u malformed (skipped), %u of other "
                 "events\n",
            log->path, log->lines, log->n, log->malformed, log->unknown_total);
    fprintf(out, "import-kvm: events:");
    for (unsigned k = 0; k < EMU_KVM_NKINDS; k++)
        if (log->kinds[k])
            fprintf(out, " %s %u", emu_kvm_kind_name((emu_kvm_kind)k), log->kinds[k]);
    fprintf(out, "\n");
    fprintf(out, "import-kvm: line prefixes: %u trace-cmd report, %u ftrace (with flags); kvm_exit "
                 "layouts: %u 'reason rip', %u 'reason rip info A B', %u 'vcpu reason rip info1 "
                 "info2 intr_info error_code'\n",
            log->prefixes[EMU_KVM_PREFIX_TRACE_CMD], log->prefixes[EMU_KVM_PREFIX_FTRACE],
            log->exit_layouts[EMU_KVM_EXIT_PLAIN], log->exit_layouts[EMU_KVM_EXIT_INFO],
            log->exit_layouts[EMU_KVM_EXIT_INFO1]);
    if (log->unknown_total) {
        fprintf(out, "import-kvm: unknown events (counted, not used):");
        unsigned listed = 0;
        for (unsigned k = 0; k < log->nunknown; k++) {
            fprintf(out, " %s x%u", log->unknown_name[k], log->unknown_count[k]);
            listed += log->unknown_count[k];
        }
        if (listed < log->unknown_total)
            fprintf(out, " and %u of further kinds", log->unknown_total - listed);
        fprintf(out, "\n");
    }
    if (!imp)
        return;
    for (unsigned v = 0; v < imp->nvcpus; v++) {
        fprintf(out, "import-kvm: vCPU %u exits in the trace:", v);
        unsigned any = 0;
        for (unsigned r = 0; r < 80; r++)
            if (imp->exits[v][r]) {
                fprintf(out, " %s=%u", vmx_exit_reason_name(r), imp->exits[v][r]);
                any++;
            }
        if (imp->exits_other[v])
            fprintf(out, " not-VMX=%u", imp->exits_other[v]), any++;
        fprintf(out, "%s; interrupts replayed: %u, NMIs: %u\n", any ? "" : " none",
                count_on(imp, v, false), count_on(imp, v, true));
    }
    fprintf(out, "import-kvm: mode %s: %s\n", emu_mode_name(imp->mode), imp->mode_why);
    fprintf(out, "import-kvm: %u stimuli for %u vCPU(s)", imp->nstim, imp->nvcpus);
    if (imp->from_ipi)
        fprintf(out, " (%u from kvm_apic_ipi: no acceptance was traced)", imp->from_ipi);
    fprintf(out, "; %u IPIs, %u HLT exits, %u wakeups, %u timer events narrated or counted only\n",
            imp->ipis, imp->halts, imp->wakeups, imp->timer_events);
    if (imp->dropped_dm || imp->dropped_vcpu || imp->dropped_vector || imp->dropped_window ||
        imp->dropped_dup)
        fprintf(out, "import-kvm: not replayed: %u SMI/INIT/SIPI/ExtINT, %u for vCPUs beyond %u, "
                     "%u vectors below 20h, %u beyond the scenario's window or its %u stimuli, %u "
                     "traced twice (kvm_apic_accept_irq and kvm_apicv_accept_irq)\n",
                imp->dropped_dm, imp->dropped_vcpu, (unsigned)CPU_MAX_CPUS, imp->dropped_vector,
                imp->dropped_window, (unsigned)EMU_KVM_MAX_STIMULI, imp->dropped_dup);
    if (imp->outside)
        fprintf(out, "import-kvm: %u accepted interrupts outside --from/--to not replayed\n",
                imp->outside);
    if (imp->unresolved)
        fprintf(out, "import-kvm: %u events whose vCPU could not be told (not counted per vCPU)\n",
                imp->unresolved);
    uint64_t last = 0;
    for (unsigned k = 0; k < imp->nstim; k++)
        last = imp->stim[k].cycle > last ? imp->stim[k].cycle : last;
    if (imp->nstim)
        fprintf(out, "import-kvm: timing: first interrupt at cycle %u, %s%llu cycles per us, last at "
                     "cycle %llu\n",
                EMU_KVM_START, imp->compressed ? "compressed to " : "",
                (unsigned long long)imp->cycles_per_us_used, (unsigned long long)last);
}
