/*
 * trace_dump.c — a trace as text, one line a record, for people and grep.
 */
#include <string.h>

#include "traces/trace.h"

static void kind_name(char *buf, size_t len, const char *(*fn)(unsigned), unsigned kind)
{
    const char *n = fn ? fn(kind) : NULL;
    if (n)
        snprintf(buf, len, "%s", n);
    else
        snprintf(buf, len, "kind%#x", kind);
}

static void dump_header(FILE *f, const trace_file *t)
{
    const trace_header *h = &t->header;
    fprintf(f, "trace %s\n", t->name);
    fprintf(f, "header format=%u emulator=%s mode=%s(%u) cpus=%u mem=%llu quantum=%llu "
               "max-cycles=%llu strict=%u digest-interval=%llu cpu-off=%#x\n",
            h->format_version, h->emu_version, h->mode_name, h->mode, h->ncpus,
            (unsigned long long)h->mem_bytes, (unsigned long long)h->quantum,
            (unsigned long long)h->max_cycles, h->strict, (unsigned long long)h->digest_interval,
            h->cpu_off);
    fprintf(f, "header guest=%s digest=%016llx\n", h->guest_path,
            (unsigned long long)h->guest_digest);
    fprintf(f, "header costs=");
    for (unsigned k = 0; k < h->ncosts; k++)
        fprintf(f, "%s%u", k ? "," : "", h->costs[k]);
    fputc('\n', f);
    if (h->scenario_path[0] || h->scenario_text) {
        fprintf(f, "header scenario=%s\n", h->scenario_path[0] ? h->scenario_path : "-");
        if (h->scenario_text) {
            const char *p = h->scenario_text;
            while (*p) {
                const char *nl = strchr(p, '\n');
                int n = nl ? (int)(nl - p) : (int)strlen(p);
                fprintf(f, "scenario | %.*s\n", n, p);
                p += n + (nl ? 1 : 0);
            }
        }
    }
}

void trace_dump(FILE *f, const trace_file *t, const trace_names *names)
{
    char name[64];
    dump_header(f, t);
    for (size_t k = 0; k < t->norder; k++) {
        const trace_index *o = &t->order[k];
        switch (o->type) {
        case TRACE_REC_GUEST:
            fprintf(f, "guest bytes=%zu fnv1a64=%016llx\n", t->guest_len,
                    (unsigned long long)trace_fnv1a64(t->guest, t->guest_len));
            break;
        case TRACE_REC_BOOT:
            if (!t->boot)
                break;
            fprintf(f, "boot append=%s%s%s modules=%u\n", t->boot->has_append ? "\"" : "",
                    t->boot->has_append ? t->boot->append : "-", t->boot->has_append ? "\"" : "",
                    t->boot->nmodules);
            for (unsigned j = 0; j < t->boot->nmodules; j++)
                fprintf(f, "boot module=%s bytes=%zu fnv1a64=%016llx\n", t->boot->module[j].name,
                        t->boot->module[j].len,
                        (unsigned long long)trace_fnv1a64(t->boot->module[j].data,
                                                          t->boot->module[j].len));
            break;
        case TRACE_REC_EVENT: {
            const cpu_obs_event *e = &t->events[o->idx];
            kind_name(name, sizeof(name), names ? names->event : NULL, e->kind);
            fprintf(f, "event cycle=%llu cpu=%u ev=%s a=%#llx b=%#llx c=%#llx d=%#llx\n",
                    (unsigned long long)e->cycle, e->cpu, name, (unsigned long long)e->a,
                    (unsigned long long)e->b, (unsigned long long)e->c, (unsigned long long)e->d);
            break;
        }
        case TRACE_REC_INPUT: {
            const trace_input *in = &t->inputs[o->idx];
            kind_name(name, sizeof(name), names ? names->input : NULL, in->kind);
            fprintf(f, "input post=%llu cycle=%llu cpu=%u in=%s a=%#llx b=%#llx c=%#llx d=%#llx\n",
                    (unsigned long long)in->post, (unsigned long long)in->cycle, in->cpu, name,
                    (unsigned long long)in->a, (unsigned long long)in->b,
                    (unsigned long long)in->c, (unsigned long long)in->d);
            break;
        }
        case TRACE_REC_DIGEST: {
            const trace_digest *d = &t->digests[o->idx];
            fprintf(f, "digest cycle=%llu", (unsigned long long)d->cycle);
            for (uint32_t j = 0; j < d->nparts; j++) {
                const trace_part *p = &d->part[j];
                if (p->cpu == TRACE_PART_MACHINE)
                    fprintf(f, " %s=%016llx", trace_part_name(p->kind),
                            (unsigned long long)p->value);
                else
                    fprintf(f, " cpu%u.%s=%016llx", p->cpu, trace_part_name(p->kind),
                            (unsigned long long)p->value);
            }
            fputc('\n', f);
            break;
        }
        case TRACE_REC_END:
            fprintf(f, "end cycle=%llu status=%d events=%llu inputs=%llu\n",
                    (unsigned long long)t->end.cycle, t->end.exit_status,
                    (unsigned long long)t->end.nevents, (unsigned long long)t->end.ninputs);
            break;
        default:
            break;
        }
    }
}

int trace_dump_main(int argc, char **argv, const trace_names *names)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: apicv-emu trace-dump FILE\n\n"
               "Prints a trace recorded with `run --record FILE` as text, one line a record:\n"
               "the header, the guest image's size and digest, inputs, events, digests and\n"
               "the end record (traces/README.md). Exit status 2 for a bad trace.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "apicv-emu trace-dump: expected one FILE (see apicv-emu trace-dump --help)\n");
        return TRACE_EXIT_BAD;
    }
    static trace_file t;
    char err[1024];
    if (!trace_load(argv[1], &t, err, sizeof(err))) {
        fprintf(stderr, "apicv-emu: %s\n", err);
        return TRACE_EXIT_BAD;
    }
    trace_dump(stdout, &t, names);
    trace_file_free(&t);
    return 0;
}
