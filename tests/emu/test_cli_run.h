/*
 * test_cli_run.h — running build/apicv-emu (APICV_EMU) as a subprocess in
 * a test, the way a user does, capturing its exit status, standard output
 * and standard error. Shared by the command-line tests of tests/emu/.
 */
#ifndef APICV_TEST_CLI_RUN_H
#define APICV_TEST_CLI_RUN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct cli_result {
    int status;
    char out[65536];
    char err[65536];
} cli_result;

static inline void cli_slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
}

/* Creates an empty file from the mkstemp template path (its name is
 * written back into path) and closes it. */
static inline void cli_temp_file(char *path)
{
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp %s", path);
    close(fd);
}

/* Runs `ENV apicv-emu ARGS` through the shell, stdin from /dev/null; env
 * is "" or shell assignments ending in a space ("VAR='value' "). The
 * result is static: the next call overwrites it. */
static inline cli_result *cli_run(const char *env, const char *args)
{
    static cli_result r;
    char cmd[4096];
    char outp[] = "/tmp/apicv_cli_outXXXXXX", errp[] = "/tmp/apicv_cli_errXXXXXX";
    cli_temp_file(outp);
    cli_temp_file(errp);
    snprintf(cmd, sizeof(cmd), "%s%s %s >%s 2>%s </dev/null", env, APICV_EMU, args, outp, errp);
    int st = system(cmd);
    ck_assert(st != -1 && WIFEXITED(st));
    r.status = WEXITSTATUS(st);
    cli_slurp(outp, r.out, sizeof(r.out));
    cli_slurp(errp, r.err, sizeof(r.err));
    unlink(outp);
    unlink(errp);
    return &r;
}

#endif
