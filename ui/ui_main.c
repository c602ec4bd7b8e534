/*
 * ui_main.c — the program entry when the window is built: the options of
 * the window are taken out of the command line here, everything else is
 * emu_main's (emu/emu_cli.c), which asks this front end whether a display
 * exists and hands it a ready machine.
 *
 *   --screenshot FILE.png   render off screen and save a PNG (no display needed)
 *   --at CYCLE              ... once the global clock reaches CYCLE
 *   --at-event N            ... once N events have been emitted
 *   --size WxH              size of the screenshot (default 1600x900)
 *   --caption TEXT          a narration caption shown in large type
 *   --vcpu K                the vCPU shown first (0-based, as in the logs)
 *   --autorun               start running at once (demos, the benchmark)
 *   --exit-when-done        close the window when the guest ends
 *   --frames N              close the window after N frames (tests)
 *   --present               presentation mode: larger grids and captions
 *   --captions              the caption list open (key l)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu/emu.h"
#include "ui/ui.h"

/* The window's options for this process (the front-end callbacks take no
 * context): set once from argv before emu_main runs. */
static ui_options options;

static bool display_available(void)
{
    return options.screenshot != NULL || ui_display_available();
}

static int run_window(emu_machine *m, const char *guest, const emu_run_opts *opts)
{
    return ui_run_window(m, guest, opts, &options);
}

static int replay_window(struct emu_replayer *r, const char *trace)
{
    (void)trace;
    return ui_replay_window(r, &options);
}

static bool parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    /* Decimal, or hexadecimal with 0x: a leading 0 is not octal here. */
    int base = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || end == s || *end || s[0] == '-' || v == 0) {
        fprintf(stderr, "apicv-emu: %s: expected a positive number, got '%s'\n", opt, s);
        return false;
    }
    *out = v;
    return true;
}

/* --screenshot FILE: can FILE be written? Asked before the run, which may
 * be long, rather than after it. A file created for the question is
 * removed again. */
static bool screenshot_writable(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
        close(fd);
        unlink(path);
        return true;
    }
    if (errno == EEXIST) {
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            return true;
        }
    }
    fprintf(stderr, "apicv-emu: --screenshot %s: cannot write it: %s\n", path, strerror(errno));
    return false;
}

/* Removes the window's options from argv; false on bad input. */
static bool take_options(int *argc, char **argv)
{
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        bool has_arg = i + 1 < *argc;
        if (strcmp(a, "--present") == 0) {
            options.present = true;
            continue;
        }
        if (strcmp(a, "--captions") == 0) {
            options.captions = true;
            continue;
        }
        if (strcmp(a, "--autorun") == 0 || strcmp(a, "--exit-when-done") == 0) {
            if (a[2] == 'a')
                options.autorun = true;
            else
                options.exit_when_done = true;
            continue;
        }
        if (strcmp(a, "--screenshot") == 0 || strcmp(a, "--frames") == 0 ||
            strcmp(a, "--vcpu") == 0 || strcmp(a, "--at") == 0 ||
            strcmp(a, "--at-event") == 0 || strcmp(a, "--size") == 0 ||
            strcmp(a, "--caption") == 0) {
            if (!has_arg) {
                fprintf(stderr, "apicv-emu: %s needs a value\n", a);
                return false;
            }
            const char *val = argv[++i];
            if (strcmp(a, "--screenshot") == 0) {
                options.screenshot = val;
            } else if (strcmp(a, "--at") == 0) {
                if (!parse_u64(a, val, &options.at_cycle))
                    return false;
            } else if (strcmp(a, "--at-event") == 0) {
                if (!parse_u64(a, val, &options.at_event))
                    return false;
            } else if (strcmp(a, "--vcpu") == 0) {
                char *end;
                unsigned long k = strtoul(val, &end, 10);
                if (*end || end == val || k >= CPU_MAX_CPUS) {
                    fprintf(stderr, "apicv-emu: --vcpu: expected 0..%d, got '%s'\n",
                            CPU_MAX_CPUS - 1, val);
                    return false;
                }
                options.vcpu = (unsigned)k;
            } else if (strcmp(a, "--frames") == 0) {
                if (!parse_u64(a, val, &options.max_frames))
                    return false;
            } else if (strcmp(a, "--caption") == 0) {
                options.caption = val;
            } else if (sscanf(val, "%dx%d", &options.width, &options.height) != 2 ||
                       options.width < 320 || options.height < 200 || options.width > 8192 ||
                       options.height > 8192) {
                fprintf(stderr, "apicv-emu: --size: expected WxH (320x200 .. 8192x8192), got '%s'\n",
                        val);
                return false;
            }
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    *argc = out;
    if ((options.at_cycle || options.at_event) && !options.screenshot) {
        fprintf(stderr, "apicv-emu: --at and --at-event go with --screenshot FILE.png\n");
        return false;
    }
    if (options.at_cycle && options.at_event) {
        fprintf(stderr, "apicv-emu: give either --at or --at-event, not both\n");
        return false;
    }
    if (options.screenshot && !screenshot_writable(options.screenshot))
        return false;
    return true;
}

/* `run --help` (emu_main's text) is followed by the window's options. */
static bool wants_run_help(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "run") != 0)
        return false;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    static const emu_frontend frontend = {display_available, run_window, replay_window,
                                               ui_compare_chart};
    if (!take_options(&argc, argv))
        return EMU_EXIT_USAGE;
    bool help = wants_run_help(argc, argv);
    int status = emu_main(argc, argv, &frontend);
    if (help && status == 0) {
        fflush(stdout);
        fputs("\nwindow (docs/window.md; opens when a display exists, keys: h in the window):\n"
              "  --screenshot FILE.png  render off screen to a PNG instead (no display needed)\n"
              "  --at CYCLE             ... when the clock reaches CYCLE\n"
              "  --at-event N           ... after the N-th event\n"
              "  --size WxH             picture size (default 1600x900)\n"
              "  --vcpu K               the vCPU shown first (0-based)\n"
              "  --caption TEXT         a caption in large type\n"
              "  --autorun              start running at once\n"
              "  --exit-when-done       close the window when the guest ends\n"
              "  --frames N             close the window after N frames\n"
              "  --present              presentation mode: larger grids and captions\n"
              "  --captions             the list of captions shown so far open (key l)\n",
              stdout);
    }
    return status;
}
