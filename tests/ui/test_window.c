/*
 * test_window.c — the real window under SDL's offscreen video driver (no
 * display needed): it opens, survives resizing (pixels follow the new
 * layout), runs a guest to its end, and stays open on a guest that
 * crashes; `--screenshot` through a real machine.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SDL.h>

#include "ui/ui.h"

static emu_machine *machine(const char *guest, unsigned ncpus, char *path, size_t len)
{
    emu_machine *m = calloc(1, sizeof(*m));
    emu_config cfg;
    char err[512];
    emu_config_default(&cfg);
    cfg.ncpus = ncpus;
    cfg.mem_bytes = 16u << 20;
    snprintf(path, len, "%s/%s", APICV_GUEST_DIR, guest);
    ck_assert_msg(emu_machine_init(m, &cfg, path, err, sizeof(err)), "%s", err);
    return m;
}

static uint32_t read_pixel(SDL_Renderer *r, int x, int y)
{
    SDL_Rect rc = {x, y, 1, 1};
    uint32_t px = 0;
    ck_assert_int_eq(SDL_RenderReadPixels(r, &rc, SDL_PIXELFORMAT_ARGB8888, &px, 4), 0);
    return px & 0xFFFFFF;
}

START_TEST(window_survives_resizing)
{
    ck_assert(ui_display_available());
    ck_assert_int_eq(SDL_Init(SDL_INIT_VIDEO), 0);
    SDL_Window *win = SDL_CreateWindow("test", 0, 0, 1600, 900, SDL_WINDOW_RESIZABLE);
    ck_assert_ptr_nonnull(win);
    SDL_Renderer *r = SDL_CreateRenderer(win, -1, SDL_RENDERER_SOFTWARE);
    ck_assert_ptr_nonnull(r);
    char err[256];
    ui_gfx *g = ui_gfx_create(r, err, sizeof(err));
    ck_assert_msg(g != NULL, "%s", err);
    ui_view *v = calloc(1, sizeof(*v));
    ui_view_init(v);
    ui_snapshot s;
    memset(&s, 0, sizeof(s));
    s.ncpus = 1;
    s.cpu[0].has_vmx = true;
    ui_vec_set(&s.cpu[0].virr, 0x41);
    ui_view_accept(v, &s);
    static const int sizes[][2] = {{1600, 900}, {800, 500}, {1920, 1080}, {640, 400}, {2560, 1440}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        SDL_SetWindowSize(win, sizes[i][0], sizes[i][1]);
        SDL_Event e;
        while (SDL_PollEvent(&e))
            ;
        int w, h;
        ck_assert_int_eq(SDL_GetRendererOutputSize(r, &w, &h), 0);
        ck_assert_int_eq(w, sizes[i][0]);
        ck_assert_int_eq(h, sizes[i][1]);
        ui_layout l;
        ui_render(g, v, w, h, &l);
        int x, y;
        ui_layout_cell(&l, UI_GRID_VIRR, 0x41, &x, &y);
        ck_assert_uint_eq(read_pixel(r, x + l.cell / 2, y + l.cell / 2), UI_RGB_VIRR);
        ui_layout_cell(&l, UI_GRID_VIRR, 0x42, &x, &y);
        ck_assert_uint_eq(read_pixel(r, x + l.cell / 2, y + l.cell / 2), UI_RGB_CELL_OFF);
        SDL_RenderPresent(r);
    }
    free(v);
    ui_gfx_destroy(g);
    SDL_DestroyRenderer(r);
    SDL_DestroyWindow(win);
    SDL_Quit();
}
END_TEST

START_TEST(window_runs_guest_to_end)
{
    char path[1024];
    emu_machine *m = machine("hello.elf", 1, path, sizeof(path));
    ui_options uo = {0};
    uo.autorun = true;
    uo.exit_when_done = true;
    uo.max_frames = 600; /* a safety net: hello takes a few frames */
    emu_run_opts opts;
    memset(&opts, 0, sizeof(opts));
    int status = ui_run_window(m, path, &opts, &uo);
    ck_assert_int_eq(status, 0);
    ck_assert(m->finished);
    ck_assert_int_eq(m->exit_status, 0);
    emu_machine_free(m);
    free(m);
}
END_TEST

START_TEST(window_stays_open_on_crash)
{
    char path[1024];
    emu_machine *m = machine("machine_noidt.elf", 1, path, sizeof(path));
    ui_options uo = {0};
    uo.autorun = true;
    uo.max_frames = 30; /* without exit_when_done the window stays until closed */
    emu_run_opts opts;
    memset(&opts, 0, sizeof(opts));
    int status = ui_run_window(m, path, &opts, &uo);
    ck_assert(m->finished);
    ck_assert_int_eq(status, EMU_EXIT_CRASH);
    emu_machine_free(m);
    free(m);
}
END_TEST

START_TEST(screenshot_of_a_machine)
{
    char path[1024], png[] = "/tmp/apicv_ui_shot_XXXXXX";
    int fd = mkstemp(png);
    ck_assert_int_ge(fd, 0);
    close(fd);
    emu_machine *m = machine("apic_ipi.elf", 2, path, sizeof(path));
    ui_options uo = {0};
    uo.screenshot = png;
    uo.at_event = 20;
    uo.width = 800;
    uo.height = 450;
    ck_assert_int_eq(ui_screenshot(m, path, &uo), 0);
    ck_assert(!m->finished); /* stopped at event 20, not at the end */
    FILE *f = fopen(png, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t hdr[24];
    ck_assert_uint_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    fclose(f);
    unlink(png);
    ck_assert_mem_eq(hdr + 1, "PNG", 3);
    ck_assert_uint_eq((unsigned)hdr[18] << 8 | hdr[19], 800);
    ck_assert_uint_eq((unsigned)hdr[22] << 8 | hdr[23], 450);
    emu_machine_free(m);
    free(m);
}
END_TEST

/* The command line end to end: apicv-emu's own entry (ui/ui_main.c) takes
 * the window's options and hands the rest to emu_main. */
START_TEST(command_line_screenshot)
{
    char png[] = "/tmp/apicv_ui_cli_XXXXXX";
    int fd = mkstemp(png);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(png);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "env -u DISPLAY '%s' run --cpus 2 --screenshot '%s' --at 20000 --size 640x360 "
             "--vcpu 1 --caption 'hello' '%s/apic_ipi.elf' >/dev/null 2>&1",
             APICV_EMU, png, APICV_GUEST_DIR);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(png, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t hdr[24];
    ck_assert_uint_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    fclose(f);
    unlink(png);
    ck_assert_uint_eq((unsigned)hdr[18] << 8 | hdr[19], 640);
    ck_assert_uint_eq((unsigned)hdr[22] << 8 | hdr[23], 360);
    /* Bad window options are usage errors (status 2), named. */
    snprintf(cmd, sizeof(cmd), "'%s' run --at 100 '%s/hello.elf' >/dev/null 2>&1", APICV_EMU,
             APICV_GUEST_DIR);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 2);
    snprintf(cmd, sizeof(cmd), "'%s' run --screenshot /tmp/x.png --size 10x10 '%s/hello.elf' >/dev/null 2>&1",
             APICV_EMU, APICV_GUEST_DIR);
    st = system(cmd);
    ck_assert_int_eq(WEXITSTATUS(st), 2);
    /* Without a display, run falls back to headless with the guest's status. */
    snprintf(cmd, sizeof(cmd), "env -u DISPLAY -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER '%s' run '%s/hello.elf' >/dev/null 2>&1",
             APICV_EMU, APICV_GUEST_DIR);
    st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

static long file_bytes(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long n = (long)fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* replay --screenshot --at-event N draws what run --screenshot draws at the
 * same event (irq_emulated: event 16 is the kick's exit, inside the
 * boundary that ends at event 27), and the two events differ. */
START_TEST(replay_screenshot_at_an_event)
{
    char dir[] = "/tmp/apicv_ui_shot_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && APICV_GUEST_DIR='%s' '%s' run --headless --quiet --record t.trace "
             "'%s/scenarios/irq_emulated.scn' >/dev/null 2>&1 && "
             "'%s' replay --screenshot r16.png --at-event 16 --size 640x360 t.trace 2>/dev/null && "
             "'%s' replay --screenshot r17.png --at-event 17 --size 640x360 t.trace 2>/dev/null && "
             "APICV_GUEST_DIR='%s' '%s' run --screenshot s16.png --at-event 16 --size 640x360 "
             "'%s/scenarios/irq_emulated.scn' 2>/dev/null",
             dir, APICV_GUEST_DIR, APICV_EMU, APICV_SOURCE_DIR, APICV_EMU, APICV_EMU,
             APICV_GUEST_DIR, APICV_EMU, APICV_SOURCE_DIR);
    ck_assert_int_eq(system(cmd), 0);
    static uint8_t a[1 << 20], b[1 << 20], c[1 << 20];
    char p[600];
    snprintf(p, sizeof(p), "%s/r16.png", dir);
    long na = file_bytes(p, a, sizeof(a));
    snprintf(p, sizeof(p), "%s/s16.png", dir);
    long nb = file_bytes(p, b, sizeof(b));
    snprintf(p, sizeof(p), "%s/r17.png", dir);
    long nc = file_bytes(p, c, sizeof(c));
    ck_assert_int_gt(na, 100);
    ck_assert_int_eq(na, nb);
    ck_assert(memcmp(a, b, (size_t)na) == 0);
    ck_assert(nc != na || memcmp(a, c, (size_t)na) != 0);
    /* An event or a cycle the run never reaches: the picture of the end,
     * and a note that says so (it was silent). */
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && '%s' replay --screenshot end.png --at-event 999999 --size 640x360 t.trace "
             "2>err1.txt && '%s' replay --screenshot end2.png --at 999999999 --size 640x360 "
             "t.trace 2>err2.txt && grep -q -- '--at-event 999999: the run ended after [0-9]* "
             "events; the picture shows its end' err1.txt && grep -q -- '--at 999999999: the run "
             "ended at cycle [0-9]*; the picture shows its end' err2.txt",
             dir, APICV_EMU, APICV_EMU);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && '%s' replay --screenshot r16.png --at-event 16 --size 640x360 t.trace "
             "2>err3.txt && ! grep -q 'the run ended' err3.txt",
             dir, APICV_EMU);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    /* No display in CI: SDL's offscreen driver with the software renderer. */
    setenv("SDL_VIDEODRIVER", "offscreen", 1);
    setenv("SDL_RENDER_DRIVER", "software", 1);
    Suite *s = suite_create("ui_window");
    TCase *tc = tcase_create("window");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, window_survives_resizing);
    tcase_add_test(tc, window_runs_guest_to_end);
    tcase_add_test(tc, window_stays_open_on_crash);
    tcase_add_test(tc, screenshot_of_a_machine);
    tcase_add_test(tc, command_line_screenshot);
    tcase_add_test(tc, replay_screenshot_at_an_event);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
