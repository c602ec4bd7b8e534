/*
 * test_gdb.c — `apicv-emu run --gdb 0` (docs/gdb.md), as a user meets it:
 *
 *   - the protocol, over a socket of our own: acks, a bad checksum gets
 *     '-', an oversize packet E22, an unknown one the empty reply, memory
 *     at an unmapped address E14, registers of the target description's
 *     size, threads, breakpoints by RIP, single-step, the stop reply with
 *     the thread, `monitor vapic`; k ends the emulator (status 137);
 *   - the real gdb from Debian (`gdb -batch`): connect, thread list, RIP,
 *     a breakpoint at guest_main hit by `continue`, `stepi`, `monitor
 *     vapic`, a watchpoint, detach — after which the guest runs to its end;
 *     two CPUs as two threads, a breakpoint hit on each.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_cli_run.h"

#define GUEST(name) APICV_GUEST_DIR "/" name ".elf"

typedef struct emu_proc {
    pid_t pid;
    unsigned port;
    char errpath[64];
} emu_proc;

/* Starts the emulator with argv (ending in NULL; it must take --gdb 0)
 * and reads the port it prints. */
static void start_emu_argv(emu_proc *p, char *const argv[])
{
    snprintf(p->errpath, sizeof(p->errpath), "/tmp/apicv_gdb_errXXXXXX");
    int fe = mkstemp(p->errpath);
    ck_assert(fe >= 0);
    p->pid = fork();
    ck_assert(p->pid >= 0);
    if (p->pid == 0) {
        dup2(fe, 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execv(APICV_EMU, argv);
        _exit(127);
    }
    close(fe);
    p->port = 0;
    for (int i = 0; i < 500 && !p->port; i++) {
        char buf[512] = {0};
        FILE *f = fopen(p->errpath, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = 0;
            fclose(f);
        }
        const char *at = strstr(buf, "127.0.0.1:");
        if (at)
            p->port = (unsigned)atoi(at + 10);
        else
            usleep(10000);
    }
    ck_assert_msg(p->port > 0, "the emulator printed no port");
}

/* `apicv-emu run --headless --gdb 0 ARGS GUEST`. */
static void start_emu_cpus(emu_proc *p, const char *mode, const char *cpus, const char *guest)
{
    char *const argv[] = {APICV_EMU, "run", "--headless", "--quiet", "--mode", (char *)mode,
                          "--cpus", (char *)cpus, "--gdb", "0", (char *)guest, NULL};
    start_emu_argv(p, argv);
}

/* `apicv-emu replay --gdb 0 TRACE`. */
static void start_replay(emu_proc *p, const char *trace)
{
    char *const argv[] = {APICV_EMU, "replay", "--gdb", "0", (char *)trace, NULL};
    start_emu_argv(p, argv);
}

static void start_emu(emu_proc *p, const char *mode, const char *guest)
{
    start_emu_cpus(p, mode, "1", guest);
}

/* Waits for the emulator's end; its standard error into err (when not
 * NULL). */
static int wait_emu_err(emu_proc *p, char *err, size_t len)
{
    int st = 0;
    for (int i = 0; i < 3000; i++) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            FILE *f = err ? fopen(p->errpath, "r") : NULL;
            if (f) {
                err[fread(err, 1, len - 1, f)] = 0;
                fclose(f);
            }
            unlink(p->errpath);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 1000;
        }
        usleep(10000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    unlink(p->errpath);
    return -1;
}

static int wait_emu(emu_proc *p)
{
    return wait_emu_err(p, NULL, 0);
}

static int connect_to(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_raw(int fd, const char *s, size_t n)
{
    ck_assert(send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static void send_pkt(int fd, const char *body)
{
    char buf[8192];
    unsigned sum = 0;
    for (const char *p = body; *p; p++)
        sum += (uint8_t)*p;
    int n = snprintf(buf, sizeof(buf), "$%s#%02x", body, sum & 0xFF);
    send_raw(fd, buf, (size_t)n);
}

static char get1(int fd)
{
    char c;
    ck_assert_msg(recv(fd, &c, 1, 0) == 1, "the stub closed the connection or timed out");
    return c;
}

/* Reads one reply packet's body (after the ack), checking its checksum. */
static const char *reply(int fd)
{
    static char body[16384];
    char c;
    while ((c = get1(fd)) != '$')
        ;
    size_t n = 0;
    unsigned sum = 0;
    while ((c = get1(fd)) != '#') {
        ck_assert(n < sizeof(body) - 1);
        body[n++] = c;
        sum += (uint8_t)c;
    }
    body[n] = 0;
    char cs[3] = {get1(fd), get1(fd), 0};
    ck_assert_uint_eq(strtoul(cs, NULL, 16), sum & 0xFF);
    send_raw(fd, "+", 1);
    return body;
}

static const char *ask(int fd, const char *body)
{
    send_pkt(fd, body);
    ck_assert_int_eq(get1(fd), '+');
    return reply(fd);
}

/* Address of a symbol of the guest image (binutils' nm). */
static unsigned long long symbol(const char *elf, const char *name)
{
    char cmd[512], line[256];
    snprintf(cmd, sizeof(cmd), "nm %s", elf);
    FILE *f = popen(cmd, "r");
    ck_assert(f);
    unsigned long long addr = 0;
    while (fgets(line, sizeof(line), f)) {
        char nm[128], t;
        unsigned long long a;
        if (sscanf(line, "%llx %c %127s", &a, &t, nm) == 3 && strcmp(nm, name) == 0)
            addr = a;
    }
    pclose(f);
    ck_assert_msg(addr, "no symbol %s in %s", name, elf);
    return addr;
}

START_TEST(malformed_packets_get_error_replies)
{
    emu_proc p;
    start_emu(&p, "apicv", GUEST("demo_irq"));
    int fd = connect_to(p.port);
    /* A bad checksum: '-' and nothing else. */
    send_raw(fd, "$?#00", 5);
    ck_assert_int_eq(get1(fd), '-');
    /* Unknown: acked, the empty reply. */
    ck_assert_str_eq(ask(fd, "vBogus"), "");
    ck_assert_str_eq(ask(fd, "qNoSuchQuery"), "");
    /* Oversize: acked, an error (and the stub still answers after it). */
    static char big[6000];
    memset(big, 'a', sizeof(big) - 1);
    ck_assert_str_eq(ask(fd, big), "E22");
    /* Malformed arguments. */
    ck_assert_str_eq(ask(fd, "m12"), "E01");
    ck_assert_str_eq(ask(fd, "mzz,4"), "E01");
    ck_assert_str_eq(ask(fd, "M200000,4:00"), "E01");
    ck_assert_str_eq(ask(fd, "p999"), "E01");
    ck_assert_str_eq(ask(fd, "Hg9"), "E01");
    ck_assert_str_eq(ask(fd, "m11111111111111111111,4"), "E01");
    /* Read and access watchpoints: malformed, too long, unmapped. */
    ck_assert_str_eq(ask(fd, "Z3,1000"), "E01");
    ck_assert_str_eq(ask(fd, "Z4,200000,9"), "E28");
    ck_assert_str_eq(ask(fd, "Z3,ffff800000000000,8"), "E28");
    ck_assert_str_eq(ask(fd, "Z5,200000,1"), "");
    /* Unmapped (non-canonical high half): E14. */
    ck_assert_str_eq(ask(fd, "mffff800000000000,8"), "E14");
    /* A well-formed session goes on. */
    ck_assert_ptr_nonnull(strstr(ask(fd, "qSupported:multiprocess+"), "PacketSize=1000"));
    ck_assert_str_eq(ask(fd, "?"), "T05thread:1;");
    ck_assert_str_eq(ask(fd, "qfThreadInfo"), "m1");
    ck_assert_str_eq(ask(fd, "qsThreadInfo"), "l");
    /* 16 general registers, rip, eflags, 6 selectors, 8 x87, 8 x87
     * control, fs/gs base, 5 CRs and EFER: 340 bytes. */
    ck_assert_uint_eq(strlen(ask(fd, "g")), 680);
    ck_assert_str_eq(ask(fd, "p10"), "0000200000000000"); /* rip = entry 0x200000 */
    ck_assert_str_eq(ask(fd, "m200000,1"), "fc");         /* cld */
    unsigned long long main_at = symbol(GUEST("demo_irq"), "guest_main");
    char b[64];
    snprintf(b, sizeof(b), "Z0,%llx,1", main_at);
    ck_assert_str_eq(ask(fd, b), "OK");
    ck_assert_str_eq(ask(fd, "c"), "T05thread:1;hwbreak:;");
    snprintf(b, sizeof(b), "%016llx", (unsigned long long)__builtin_bswap64(main_at));
    ck_assert_str_eq(ask(fd, "p10"), b);
    snprintf(b, sizeof(b), "z0,%llx,1", main_at);
    ck_assert_str_eq(ask(fd, b), "OK");
    ck_assert_str_eq(ask(fd, "vCont;s:1;c"), "T05thread:1;");
    ck_assert_str_ne(ask(fd, "p10"), b);
    /* monitor vapic (hex "vapic"): text naming the registers. */
    const char *hex = ask(fd, "qRcmd,7661706963");
    char text[2048] = {0};
    for (size_t i = 0; hex[2 * i] && i < sizeof(text) - 1; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        text[i] = (char)v;
    }
    ck_assert_ptr_nonnull(strstr(text, "RVI"));
    ck_assert_ptr_nonnull(strstr(text, "VIRR"));
    /* Malformed X (binary write): bad address, a length the data does
     * not have, an escape with nothing after it. */
    ck_assert_str_eq(ask(fd, "Xbogus,1:zz"), "E01");
    ck_assert_str_eq(ask(fd, "X200000,2:a"), "E01");
    ck_assert_str_eq(ask(fd, "X200000,1:}"), "E01");
    /* A live run has no reverse execution: bs and bc are unknown. */
    ck_assert_ptr_null(strstr(ask(fd, "qSupported"), "ReverseStep"));
    ck_assert_str_eq(ask(fd, "bs"), "");
    ck_assert_str_eq(ask(fd, "bc"), "");
    /* X: gdb's probe (length 0), then bytes that need escaping ('}' '#'
     * '$' '*' as 7d xx ^ 20), read back with m. */
    ck_assert_str_eq(ask(fd, "X200100,0:"), "OK");
    ck_assert_str_eq(ask(fd, "X200100,5:}]}\x03}\x04}\x0a" "A"), "OK");
    ck_assert_str_eq(ask(fd, "m200100,5"), "7d23242a41");
    /* Garbage between packets and a bad hex checksum digit. */
    send_raw(fd, "xyz$g#zz", 8);
    ck_assert_int_eq(get1(fd), '-');
    send_pkt(fd, "k");
    ck_assert_int_eq(get1(fd), '+');
    close(fd);
    ck_assert_int_eq(wait_emu(&p), 137);
}
END_TEST

START_TEST(ctrl_c_interrupts_a_running_guest)
{
    emu_proc p;
    start_emu(&p, "posted", GUEST("hang"));
    int fd = connect_to(p.port);
    ck_assert_str_eq(ask(fd, "qfThreadInfo"), "m1");
    send_pkt(fd, "c");
    ck_assert_int_eq(get1(fd), '+');
    usleep(300000);
    send_raw(fd, "\x03", 1);
    ck_assert_str_eq(reply(fd), "T02thread:1;");
    /* The machine moved on: RIP is no longer the entry point. */
    ck_assert_str_ne(ask(fd, "p10"), "0000200000000000");
    send_pkt(fd, "D");
    ck_assert_int_eq(get1(fd), '+');
    ck_assert_str_eq(reply(fd), "OK");
    close(fd);
    /* Detached, the endless guest runs on: stop it as a user would. */
    usleep(100000);
    ck_assert_int_eq(waitpid(p.pid, NULL, WNOHANG), 0);
    kill(p.pid, SIGINT);
    ck_assert_int_eq(wait_emu(&p), 128 + SIGINT);
}
END_TEST

/* Ctrl-C at the emulator's terminal while it waits for gdb ends the run
 * as an interrupted one (128 + SIGINT), as it does without --gdb. */
START_TEST(sigint_while_waiting_for_gdb)
{
    /* Bad --gdb values and combinations: status 2 with the option named. */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s run --headless --gdb 70000 %s 2>&1 | grep -q -- '--gdb'",
             APICV_EMU, GUEST("hello"));
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s run --headless --gdb 0 --record /tmp/x.trace %s 2>/dev/null",
             APICV_EMU, GUEST("hello"));
    int st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    /* replay --gdb: a bad port; --verify (the stepping schedule is not
     * the recorded run's). */
    snprintf(cmd, sizeof(cmd), "%s replay --gdb x %s/traces/recorded/msi_native.trace 2>&1 | "
             "grep -q -- '--gdb: expected a port'", APICV_EMU, APICV_SOURCE_DIR);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s replay --gdb 0 --verify %s/traces/recorded/msi_native.trace "
             "2>/dev/null", APICV_EMU, APICV_SOURCE_DIR);
    st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);

    emu_proc p;
    start_emu(&p, "native", GUEST("hang"));
    kill(p.pid, SIGINT);
    ck_assert_int_eq(wait_emu(&p), 128 + SIGINT);
}
END_TEST

static void run_gdb(unsigned port, const char *extra, char *out, size_t len)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "timeout 120 gdb -batch -nx -ex 'target remote :%u' %s 2>&1", port,
             extra);
    FILE *f = popen(cmd, "r");
    ck_assert(f);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = 0;
    pclose(f);
}

/* The text after the first occurrence of what in s (the test fails when
 * there is none): checks that outputs come in order. */
static const char *after(const char *s, const char *what, const char *out)
{
    const char *at = s ? strstr(s, what) : NULL;
    ck_assert_msg(at, "expected '%s' in order in:\n%s", what, out);
    return at + strlen(what);
}

/* The value of the n-th "rip=0x..." line gdb printed at or after s. */
static unsigned long long rip_at(const char **s, const char *out)
{
    *s = after(*s, "rip=0x", out);
    return strtoull(*s, NULL, 16);
}

START_TEST(real_gdb_session)
{
    if (system("gdb --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_gdb: gdb is not installed (make deps installs it)\n");
        ck_abort_msg("gdb missing");
    }
    emu_proc p;
    start_emu(&p, "posted", GUEST("demo_irq"));
    unsigned long long main_at = symbol(GUEST("demo_irq"), "guest_main");
    char extra[1024];
    snprintf(extra, sizeof(extra),
             "-ex 'info threads' -ex 'info registers rip' -ex 'break *0x%llx' -ex 'continue' "
             "-ex 'stepi' -ex 'info registers rip cr0 efer' -ex 'monitor vapic' "
             "-ex 'monitor vmcs GUEST_RIP' -ex 'x/1i 0x200000' -ex 'monitor pid' "
             "-ex 'monitor vmcs POSTED_INTR_NV' -ex 'monitor vmcs NO_SUCH' "
             "-ex 'monitor step-event' -ex 'monitor events 1' -ex 'detach'",
             main_at);
    static char out[65536];
    run_gdb(p.port, extra, out, sizeof(out));
    char want[128];
    ck_assert_msg(strstr(out, "Thread 1 (CPU 0)"), "%s", out);
    ck_assert_msg(strstr(out, "rip            0x200000"), "%s", out);
    snprintf(want, sizeof(want), "Breakpoint 1, 0x%016llx in ?? ()", main_at);
    ck_assert_msg(strstr(out, want), "%s", out);
    ck_assert_msg(strstr(out, "posted mode, non-root operation"), "%s", out);
    ck_assert_msg(strstr(out, "VPPR"), "%s", out);
    ck_assert_msg(strstr(out, "GUEST_RIP (681eh) ="), "%s", out);
    ck_assert_msg(strstr(out, "0x200000:\tcld"), "%s", out);
    ck_assert_msg(strstr(out, "detached"), "%s", out);
    /* Posted mode: the descriptor with the notification vector F2h. */
    ck_assert_msg(strstr(out, "posted-interrupt descriptor at"), "%s", out);
    ck_assert_msg(strstr(out, "  NV    f2h"), "%s", out);
    ck_assert_msg(strstr(out, "POSTED_INTR_NV (0002h) = f2h"), "%s", out);
    ck_assert_msg(strstr(out, "vmcs: no VMCS field 'NO_SUCH'"), "%s", out);
    /* step-event ran to an event past the breakpoint and stopped there;
     * events 1 shows the last one it printed. */
    const char *se = strstr(out, "CPU 0 now at cycle ");
    ck_assert_msg(se, "%s", out);
    ck_assert_uint_gt(strtoull(se + 19, NULL, 10), 0);
    ck_assert_msg(strstr(out, "ev="), "%s", out);
    /* After stepi RIP moved past the breakpoint. */
    const char *after = strstr(out, want);
    const char *rip2 = strstr(after, "rip            0x");
    ck_assert(rip2);
    ck_assert_uint_gt(strtoull(rip2 + 15, NULL, 16), main_at);
    ck_assert(strstr(out, "cr0            0x80000011") || strstr(out, "cr0            0x8"));
    /* Detached: the guest runs to its end and exits 0. */
    ck_assert_int_eq(wait_emu(&p), 0);
}
END_TEST

START_TEST(real_gdb_watchpoint_and_interrupt)
{
    emu_proc p;
    start_emu(&p, "native", GUEST("demo_irq"));
    /* A write watchpoint on the guest's stack slot below the entry RSP. */
    static char out[65536];
    run_gdb(p.port,
            "-ex 'set $w = $rsp - 8' -ex 'watch *(long *)$w' -ex 'continue' "
            "-ex 'info registers rip' -ex 'delete' -ex 'kill'",
            out, sizeof(out));
    ck_assert_msg(strstr(out, "Hardware watchpoint 1"), "%s", out);
    ck_assert_msg(strstr(out, "New value"), "%s", out);
    ck_assert_int_eq(wait_emu(&p), 137);
}
END_TEST

/* Read and access watchpoints (Z3, Z4) on a live run: an access
 * watchpoint on a stack slot stops at the write (old and new value) and at
 * the read of it; a read watchpoint on the slot of the entry code's return
 * address stops after the ret that reads it, not at the call that writes
 * it: RIP is then the value read. */
START_TEST(real_gdb_read_and_access_watchpoints)
{
    emu_proc p;
    start_emu(&p, "native", GUEST("demo_irq"));
    static char out[65536];
    run_gdb(p.port,
            "-ex 'set $w = $rsp - 8' -ex 'rwatch *(long *)$w' -ex 'awatch *(long *)($w - 8)' "
            "-ex 'continue' -ex 'continue' -ex 'continue' -ex 'printf \"rip=%#lx\\n\", $rip' "
            "-ex 'delete' -ex 'kill'",
            out, sizeof(out));
    const char *s = after(out, "Hardware read watchpoint 1: *(long *)$w", out);
    s = after(s, "Hardware access (read/write) watchpoint 2: *(long *)($w - 8)", out);
    /* The write: old and new values; then the read: the value. */
    s = after(s, "Hardware access (read/write) watchpoint 2", out);
    s = after(s, "Old value = 0", out);
    s = after(s, "Hardware access (read/write) watchpoint 2", out);
    s = after(s, "Value = ", out);
    s = after(s, "Hardware read watchpoint 1", out);
    s = after(s, "Value = ", out);
    unsigned long long value = strtoull(s, NULL, 10);
    ck_assert_uint_eq(rip_at(&s, out), value);
    ck_assert_int_eq(wait_emu(&p), 137);
}
END_TEST

/* Two CPUs: each is a thread, and a breakpoint is found on the CPU that
 * reaches it (continue checks every CPU's boundaries). */
START_TEST(real_gdb_two_cpus)
{
    emu_proc p;
    start_emu_cpus(&p, "apicv", "2", GUEST("hello"));
    unsigned long long main_at = symbol(GUEST("hello"), "guest_main");
    char extra[512];
    snprintf(extra, sizeof(extra),
             "-ex 'info threads' -ex 'break *0x%llx' -ex 'continue' -ex 'continue' "
             "-ex 'monitor vapic' -ex 'delete' -ex 'continue'",
             main_at);
    static char out[65536];
    run_gdb(p.port, extra, out, sizeof(out));
    ck_assert_msg(strstr(out, "Thread 2 (CPU 1)  0x0000000000200000"), "%s", out);
    ck_assert_msg(strstr(out, "Thread 1 hit Breakpoint 1"), "%s", out);
    ck_assert_msg(strstr(out, "Thread 2 hit Breakpoint 1"), "%s", out);
    ck_assert_msg(strstr(out, "vCPU 1 (apicv mode"), "%s", out);
    ck_assert_msg(strstr(out, "exited normally"), "%s", out);
    ck_assert_int_eq(wait_emu(&p), 0);
}
END_TEST

/* "Who set VIRR bit 51h?": in scenarios/tpr_mask_apicv.scn an MSI 51h
 * waits in VIRR under VTPR 50h. A watchpoint on the virtual-APIC byte of
 * vectors 50h-57h (offset 222h) stops the run where it changes, and the
 * event log names the hypervisor's VIRR write. */
START_TEST(real_gdb_vapic_watchpoint)
{
    emu_proc p;
    start_emu(&p, "apicv", APICV_SOURCE_DIR "/scenarios/tpr_mask_apicv.scn");
    static char out[65536];
    run_gdb(p.port,
            "-ex 'monitor watch-vapic 222' -ex 'continue' -ex 'monitor vapic' "
            "-ex 'monitor events 8' -ex 'monitor unwatch-vapic 222' -ex 'kill'",
            out, sizeof(out));
    ck_assert_msg(strstr(out, "watching byte 222h of vCPU 0's virtual-APIC page (now 00h)"), "%s",
                  out);
    ck_assert_msg(strstr(out, "received signal SIGTRAP"), "%s", out);
    ck_assert_msg(strstr(out, "  VIRR  51h\n"), "%s", out);
    ck_assert_msg(strstr(out, "  VTPR  50h\n"), "%s", out);
    ck_assert_msg(strstr(out, "ev=hv.virr-set a=0x51"), "%s", out);
    ck_assert_msg(strstr(out, "virtual-APIC watchpoint at offset 222h of vCPU 0 removed"), "%s",
                  out);
    ck_assert_int_eq(wait_emu(&p), 137);
}
END_TEST

/*
 * gdb and the window on one run (SDL's offscreen driver, as the window
 * tests use): the window's machine thread serves gdb between slices.
 * With --autorun on an endless guest (its timer ticks), gdb's attach stops
 * the machine (no event while gdb waits), stepi works; a breakpoint is hit by a
 * continue that runs in bounded parts; kill ends the run (137) and the
 * window, which drew frames meanwhile (--stats).
 */
START_TEST(real_gdb_with_the_window)
{
    setenv("SDL_VIDEODRIVER", "offscreen", 1);
    /* Under ASan: SDL's offscreen driver loads Mesa, which leaks (as for
     * ui_test_window in tests/CMakeLists.txt); address checks stay on. */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    emu_proc p;
    char *const argv[] = {APICV_EMU, "run", "--autorun", "--exit-when-done", "--stats", "--mode",
                          "posted", "--gdb", "0", GUEST("hang"), NULL};
    start_emu_argv(&p, argv);
    usleep(300000); /* the window runs the guest: its timer ticks */
    unsigned long long ticks = symbol(GUEST("hang"), "ticks");
    static char out[65536];
    char extra[1024];
    snprintf(extra, sizeof(extra),
             "-ex 'printf \"ticks=%%lu\\n\", *(unsigned long *)0x%llx' -ex 'shell sleep 0.5' "
             "-ex 'monitor events 1' -ex 'stepi' -ex 'monitor vapic' -ex 'kill'",
             ticks);
    run_gdb(p.port, extra, out, sizeof(out));
    const char *s = after(out, "ticks=", out);
    unsigned long long t0 = strtoull(s, NULL, 10);
    ck_assert_uint_gt(t0, 0); /* it ran before gdb came */
    /* Not while gdb held it: its timer would have made events. */
    s = after(s, "no events since gdb attached", out);
    s = after(s, "vCPU 0 (posted mode", out);
    ck_assert_int_eq(wait_emu(&p), 137);

    char *const argv2[] = {APICV_EMU, "run", "--exit-when-done", "--stats", "--mode", "apicv",
                           "--gdb", "0", GUEST("demo_irq"), NULL};
    start_emu_argv(&p, argv2);
    unsigned long long main_at = symbol(GUEST("demo_irq"), "guest_main");
    char want[128];
    snprintf(extra, sizeof(extra), "-ex 'break *0x%llx' -ex 'continue' -ex 'kill'", main_at);
    run_gdb(p.port, extra, out, sizeof(out));
    snprintf(want, sizeof(want), "Breakpoint 1, 0x%016llx in ?? ()", main_at);
    ck_assert_msg(strstr(out, want), "%s", out);
    char err[8192] = {0};
    ck_assert_int_eq(wait_emu_err(&p, err, sizeof(err)), 137);
    ck_assert_msg(strstr(err, "gdb can attach on 127.0.0.1:"), "%s", err);
    ck_assert_msg(strstr(err, "killed by gdb"), "%s", err);
    ck_assert_msg(strstr(err, "window: "), "%s", err); /* the window ran meanwhile */
}
END_TEST

/*
 * replay --gdb over the recorded posted_demo trace (2 vCPUs): the
 * protocol's replay side (ReverseStep+, writes refused), then the real gdb:
 * a breakpoint on the guest's handler, stepi twice and reverse-stepi back
 * over the same instructions to the breakpoint; continue to the handler's
 * second run (vector 42h) and reverse-continue back to its first (41h);
 * forward again to the second hit, which must be the same state (the same
 * last event); reverse-continue past the first hit to the beginning.
 */
START_TEST(replay_reverse_step_and_continue)
{
    const char *trace = APICV_SOURCE_DIR "/traces/recorded/posted_demo.trace";
    emu_proc p;
    start_replay(&p, trace);
    int fd = connect_to(p.port);
    ck_assert_ptr_nonnull(strstr(ask(fd, "qSupported"), ";ReverseStep+;ReverseContinue+"));
    ck_assert_str_eq(ask(fd, "?"), "T05thread:1;");
    ck_assert_str_eq(ask(fd, "M200000,1:00"), "E01"); /* a replay is read-only */
    ck_assert_str_eq(ask(fd, "P10=0000000000000000"), "E01");
    ck_assert_str_eq(ask(fd, "X200000,0:"), "E01");
    ck_assert_str_eq(ask(fd, "bs"), "T05thread:1;replaylog:begin;");
    ck_assert_str_eq(ask(fd, "bc"), "T05thread:1;replaylog:begin;");
    ck_assert_str_eq(ask(fd, "bq"), "");
    ck_assert_str_eq(ask(fd, "D"), "OK");
    close(fd);
    /* Detached, the replay runs to its end: the scenario's status. */
    ck_assert_int_eq(wait_emu(&p), 0);

    start_replay(&p, trace);
    unsigned long long isr = symbol(GUEST("demo_posted"), "on_irq");
    char extra[2048];
    snprintf(extra, sizeof(extra),
             "-ex 'thread 2' -ex 'break *0x%llx' -ex 'continue' -ex 'printf \"rip=%%#lx\\n\", $rip' "
             "-ex 'monitor vapic' -ex 'stepi' -ex 'printf \"rip=%%#lx\\n\", $rip' -ex 'stepi' "
             "-ex 'printf \"rip=%%#lx\\n\", $rip' -ex 'reverse-stepi' "
             "-ex 'printf \"rip=%%#lx\\n\", $rip' -ex 'reverse-stepi' "
             "-ex 'printf \"rip=%%#lx\\n\", $rip' -ex 'continue' -ex 'monitor vapic' "
             "-ex 'monitor events 1' -ex 'reverse-continue' -ex 'monitor vapic' -ex 'continue' "
             "-ex 'monitor events 1' -ex 'reverse-continue' -ex 'reverse-continue' "
             "-ex 'printf \"rip=%%#lx\\n\", $rip' -ex 'kill'",
             isr);
    static char out[65536];
    run_gdb(p.port, extra, out, sizeof(out));
    char hit[128];
    snprintf(hit, sizeof(hit), "Thread 2 hit Breakpoint 1, 0x%016llx", isr);
    const char *s = after(out, hit, out);
    ck_assert_uint_eq(rip_at(&s, out), isr);
    s = after(s, "  VISR  41h\n", out);
    unsigned long long r1 = rip_at(&s, out), r2 = rip_at(&s, out);
    ck_assert_uint_gt(r1, isr);
    ck_assert_uint_gt(r2, r1);
    /* Backwards over the same two instructions. */
    ck_assert_uint_eq(rip_at(&s, out), r1);
    ck_assert_uint_eq(rip_at(&s, out), isr);
    /* The second interrupt, 42h; its last event; back to the first. */
    s = after(s, hit, out);
    s = after(s, "  VISR  42h\n", out);
    const char *ev = after(s, "cycle=", out);
    char last[256];
    snprintf(last, sizeof(last), "cycle=%.*s", (int)strcspn(ev, "\n"), ev);
    s = after(ev, hit, out);
    s = after(s, "  VISR  41h\n", out);
    /* Forward again: exactly the same state at the second hit. */
    s = after(s, hit, out);
    s = after(s, last, out);
    /* Back past the first hit: the beginning of the replay. */
    s = after(s, hit, out);
    s = after(s, "No more reverse-execution history.", out);
    ck_assert_uint_eq(rip_at(&s, out), 0x200000);
    ck_assert_int_eq(wait_emu(&p), 137);
}
END_TEST

/* A read watchpoint met backwards: from its second forward hit,
 * reverse-continue stops before the instruction that read (a ret), and
 * one stepi is back at the forward stop. */
START_TEST(replay_read_watchpoint_backwards)
{
    emu_proc p;
    start_replay(&p, APICV_SOURCE_DIR "/traces/recorded/posted_demo.trace");
    static char out[65536];
    run_gdb(p.port,
            "-ex 'set $w = $rsp - 8' -ex 'rwatch *(long *)$w' -ex 'continue' -ex 'continue' "
            "-ex 'printf \"rip=%#lx\\n\", $rip' -ex 'reverse-continue' -ex 'x/1i $rip' "
            "-ex 'stepi' -ex 'printf \"rip=%#lx\\n\", $rip' -ex 'kill'",
            out, sizeof(out));
    const char *s = after(out, "Thread 1 hit Hardware read watchpoint 1", out);
    s = after(s, "Thread 1 hit Hardware read watchpoint 1", out);
    unsigned long long stop = rip_at(&s, out);
    s = after(s, "Thread 1 hit Hardware read watchpoint 1", out);
    s = after(s, "ret", out);
    ck_assert_uint_eq(rip_at(&s, out), stop);
    ck_assert_int_eq(wait_emu(&p), 137);
}
END_TEST

/*
 * "Who set VIRR bit 51h?", backwards: scenarios/tpr_mask_apicv.scn is
 * recorded, then replayed under gdb to its end. A watchpoint on the
 * virtual-APIC byte of vectors 50h-57h (offset 222h): reverse-continue
 * stops before the bit is cleared (delivery, VIRR 51h still set), again
 * before it is set (VIRR empty, VTPR 50h); one stepi sets it, and the
 * event log names the hypervisor's VIRR write.
 */
START_TEST(replay_vapic_watchpoint_backwards)
{
    char trace[] = "/tmp/apicv_gdb_traceXXXXXX";
    cli_temp_file(trace);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s run --headless --quiet --record %s %s/scenarios/tpr_mask_apicv.scn "
             ">/dev/null", APICV_EMU, trace, APICV_SOURCE_DIR);
    ck_assert_int_eq(system(cmd), 0);
    emu_proc p;
    start_replay(&p, trace);
    static char out[65536];
    run_gdb(p.port,
            "-ex 'continue' -ex 'monitor watch-vapic 222' -ex 'reverse-continue' "
            "-ex 'monitor vapic' -ex 'reverse-continue' -ex 'monitor vapic' -ex 'stepi' "
            "-ex 'monitor vapic' -ex 'monitor events 4' -ex 'kill'",
            out, sizeof(out));
    unlink(trace);
    const char *s = after(out, "No more reverse-execution history.", out);
    s = after(s, "watching byte 222h of vCPU 0's virtual-APIC page (now 00h)", out);
    s = after(s, "received signal SIGTRAP", out);
    s = after(s, "  VIRR  51h\n", out);
    s = after(s, "received signal SIGTRAP", out);
    s = after(s, "  VTPR  50h\n", out);
    s = after(s, "  VIRR  (none)\n", out);
    s = after(s, "  VIRR  51h\n", out);
    s = after(s, "ev=hv.virr-set a=0x51", out);
    ck_assert_int_eq(wait_emu(&p), 137);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gdb");
    TCase *t = tcase_create("stub");
    tcase_set_timeout(t, 200);
    tcase_add_test(t, malformed_packets_get_error_replies);
    tcase_add_test(t, ctrl_c_interrupts_a_running_guest);
    tcase_add_test(t, sigint_while_waiting_for_gdb);
    tcase_add_test(t, real_gdb_session);
    tcase_add_test(t, real_gdb_watchpoint_and_interrupt);
    tcase_add_test(t, real_gdb_two_cpus);
    tcase_add_test(t, real_gdb_vapic_watchpoint);
    tcase_add_test(t, replay_reverse_step_and_continue);
    tcase_add_test(t, replay_vapic_watchpoint_backwards);
    tcase_add_test(t, replay_read_watchpoint_backwards);
    tcase_add_test(t, real_gdb_read_and_access_watchpoints);
    tcase_add_test(t, real_gdb_with_the_window);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
