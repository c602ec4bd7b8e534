/*
 * emu_cli.h — what the files of the command line (emu_cli*.c) share: the
 * version, option-value parsing, running a machine to its end, and one
 * entry per command. Not public: emu_main (emu.h) is the entry point.
 */
#ifndef APICV_EMU_CLI_H
#define APICV_EMU_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "emu/emu.h"

#define APICV_VERSION "0.1.0"

/* Parses s (decimal, or hexadecimal with 0x) into *out within lo..hi; on
 * failure prints what option opt expected and returns false. */
bool emu_cli_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* Host monotonic time in seconds (progress lines and MIPS only). */
double emu_cli_host_seconds(void);
/* Runs a machine to the end, with a progress line on a terminal when
 * progress; *seconds gets the host time it took. */
void emu_cli_run_to_end(emu_machine *m, bool progress, double *seconds);

/* The commands: argv[0] is the command's name; each returns the exit status. */
int emu_cli_run(int argc, char **argv, const emu_frontend *fe);
int emu_cli_info(int argc, char **argv);
int emu_cli_bench(int argc, char **argv);
int emu_cli_import_kvm(int argc, char **argv, const emu_frontend *fe);

#endif
