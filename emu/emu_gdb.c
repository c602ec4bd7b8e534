/*
 * emu_gdb.c — the gdb remote stub: packets, registers, memory, run control
 * (docs/gdb.md). The protocol is GDB's "Remote Serial Protocol" (GDB
 * manual, appendix E); registers are in emu_gdb_regs.c, `monitor`
 * commands in emu_gdb_monitor.c.
 */
#include "emu/emu_gdb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu/emu.h"

/* ---- packets ------------------------------------------------------------ */

static const char hexd[] = "0123456789abcdef";

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Parses hex digits at *p up to a non-hex character; false when none or
 * more than 16. */
static bool parse_hex(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;
    while (hexval(**p) >= 0) {
        if (++n > 16)
            return false;
        v = v << 4 | (uint64_t)hexval(**p);
        (*p)++;
    }
    *out = v;
    return n > 0;
}

static bool send_all(emu_gdb *g, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(g->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

/* Sends "$body#cs" (and keeps it for a retransmission). */
static bool send_packet(emu_gdb *g, const char *body)
{
    size_t n = strlen(body);
    if (n + 4 >= sizeof(g->last_reply))
        n = sizeof(g->last_reply) - 5;
    uint8_t sum = 0;
    char *o = g->last_reply;
    *o++ = '$';
    for (size_t i = 0; i < n; i++) {
        sum = (uint8_t)(sum + (uint8_t)body[i]);
        *o++ = body[i];
    }
    *o++ = '#';
    *o++ = hexd[sum >> 4];
    *o++ = hexd[sum & 15];
    *o = 0;
    return send_all(g, g->last_reply, (size_t)(o - g->last_reply));
}

/* True when fd has input (or an error) within ms milliseconds. */
static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* One byte from the connection: -1 on EOF or error; -2 when wait is false
 * and nothing is there. */
static int get_byte(emu_gdb *g, bool wait)
{
    if (g->rpos == g->rlen) {
        if (!wait && !readable(g->fd, 0))
            return -2;
        /* Waiting, Ctrl-C at the emulator's terminal (SIGINT) ends the
         * session: the run then stops as an interrupted one. */
        while (wait && !readable(g->fd, 200))
            if (emu_stop_requested(g->m))
                return -1;
        ssize_t r;
        do
            r = recv(g->fd, g->rbuf, sizeof(g->rbuf), 0);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            return -1;
        g->rlen = (size_t)r;
        g->rpos = 0;
    }
    return g->rbuf[g->rpos++];
}

typedef enum { PKT_OK, PKT_INTR, PKT_EOF } pkt_result;

/* Reads the next packet into g->pkt, acking it; bad checksums get '-' and
 * an oversize packet gets '+' and the body "\x01" (answered with an error).
 * A 0x03 outside a packet is PKT_INTR. */
static pkt_result read_packet(emu_gdb *g)
{
    for (;;) {
        int ch = get_byte(g, true);
        if (ch < 0)
            return PKT_EOF;
        if (ch == 0x03)
            return PKT_INTR;
        if (ch == '-' && g->last_reply[0]) {
            if (!send_all(g, g->last_reply, strlen(g->last_reply)))
                return PKT_EOF;
            continue;
        }
        if (ch != '$')
            continue; /* '+' and noise between packets */
        size_t n = 0;
        bool over = false;
        uint8_t sum = 0;
        for (;;) {
            ch = get_byte(g, true);
            if (ch < 0)
                return PKT_EOF;
            if (ch == '#')
                break;
            sum = (uint8_t)(sum + ch);
            if (n < EMU_GDB_PKT_MAX)
                g->pkt[n++] = (char)ch;
            else
                over = true;
        }
        int h = get_byte(g, true), l = h < 0 ? -1 : get_byte(g, true);
        if (h < 0 || l < 0)
            return PKT_EOF;
        if (hexval(h) < 0 || hexval(l) < 0 || (uint8_t)(hexval(h) << 4 | hexval(l)) != sum) {
            if (!send_all(g, "-", 1))
                return PKT_EOF;
            continue;
        }
        if (!send_all(g, "+", 1))
            return PKT_EOF;
        if (over) {
            g->pkt[0] = 1;
            n = 1;
        }
        g->pkt[n] = 0;
        return PKT_OK;
    }
}

/* ---- state, registers, memory ------------------------------------------- */

static cpu_t *gcpu(emu_gdb *g)
{
    return &g->m->cpu[g->g_cpu];
}

static void hex_bytes(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[b[i] >> 4];
        out[2 * i + 1] = hexd[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* Decodes exactly n bytes of hex at s; false on a bad digit. */
static bool unhex_bytes(const char *s, uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int h = hexval(s[2 * i]), l = h < 0 ? -1 : hexval(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return false;
        b[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* A thread id of a packet: CPU index + 1; 0 and -1 mean "any" (keep). */
static bool parse_thread(emu_gdb *g, const char *s, unsigned *cpu)
{
    if (strcmp(s, "-1") == 0 || strcmp(s, "0") == 0)
        return true;
    uint64_t t;
    if (!parse_hex(&s, &t) || *s || t < 1 || t > g->m->cfg.ncpus)
        return false;
    *cpu = (unsigned)(t - 1);
    return true;
}

static void reply_regs(emu_gdb *g, char *out)
{
    size_t o = 0;
    for (unsigned r = 0; r < EMU_GDB_NREGS; r++) {
        uint8_t b[10];
        emu_gdb_reg_get(gcpu(g), r, b);
        hex_bytes(out + o, b, emu_gdb_reg_size(r));
        o += 2 * emu_gdb_reg_size(r);
    }
}

static void write_regs(emu_gdb *g, const char *hex, char *out)
{
    size_t need = 0;
    for (unsigned r = 0; r < EMU_GDB_NREGS; r++)
        need += 2 * emu_gdb_reg_size(r);
    if (strlen(hex) != need) {
        strcpy(out, "E01");
        return;
    }
    bool ok = true;
    for (unsigned r = 0; r < EMU_GDB_NREGS; r++) {
        uint8_t b[10];
        if (!unhex_bytes(hex, b, emu_gdb_reg_size(r)) || !emu_gdb_reg_set(gcpu(g), r, b))
            ok = false;
        hex += 2 * emu_gdb_reg_size(r);
    }
    strcpy(out, ok ? "OK" : "E01");
}

/* m ADDR,LEN: by linear address through the Hg CPU's paging (SDM 4.5);
 * the mapped prefix, E14 (#PF's vector) when the first byte is unmapped. */
static void read_mem(emu_gdb *g, const char *p, char *out)
{
    uint64_t addr, len;
    if (!parse_hex(&p, &addr) || *p++ != ',' || !parse_hex(&p, &len) || *p) {
        strcpy(out, "E01");
        return;
    }
    if (len > EMU_GDB_PKT_MAX / 2)
        len = EMU_GDB_PKT_MAX / 2;
    uint8_t buf[EMU_GDB_PKT_MAX / 2];
    size_t n = 0;
    if (cpu_peek_linear(gcpu(g), addr, buf, len))
        n = len;
    else
        while (n < len && cpu_peek_linear(gcpu(g), addr + n, buf + n, 1))
            n++;
    if (n == 0 && len)
        strcpy(out, "E14");
    else
        hex_bytes(out, buf, n);
}

static void write_mem(emu_gdb *g, const char *p, char *out)
{
    uint64_t addr, len;
    if (!parse_hex(&p, &addr) || *p++ != ',' || !parse_hex(&p, &len) || *p++ != ':' ||
        len > EMU_GDB_PKT_MAX / 2 || strlen(p) != 2 * len) {
        strcpy(out, "E01");
        return;
    }
    uint8_t buf[EMU_GDB_PKT_MAX / 2];
    if (!unhex_bytes(p, buf, len)) {
        strcpy(out, "E01");
        return;
    }
    for (uint64_t i = 0; i < len; i++) {
        uint64_t pa;
        if (!cpu_linear_to_phys(gcpu(g), addr + i, &pa)) {
            strcpy(out, "E14");
            return;
        }
        /* cpu_phys_write drops decoded blocks of a written code page. */
        if (!cpu_phys_write(gcpu(g)->phys, pa, buf + i, 1)) {
            strcpy(out, "E14");
            return;
        }
    }
    strcpy(out, "OK");
}

/* ---- breakpoints and watchpoints ------------------------------------------ */

static void point(emu_gdb *g, bool insert, const char *p, char *out)
{
    uint64_t type, addr, kind;
    char t = *p;
    p++;
    if (*p++ != ',' || !parse_hex(&p, &addr) || *p++ != ',' || !parse_hex(&p, &kind)) {
        strcpy(out, "E01");
        return;
    }
    type = (uint64_t)(t - '0');
    if (type <= 1) {
        /* Z0/Z1: both by RIP, checked at each instruction boundary. */
        for (unsigned i = 0; i < g->nbp; i++)
            if (g->bp[i] == addr) {
                if (!insert)
                    g->bp[i] = g->bp[--g->nbp];
                strcpy(out, "OK");
                return;
            }
        if (!insert) {
            strcpy(out, "OK");
            return;
        }
        if (g->nbp == EMU_GDB_NBP) {
            strcpy(out, "E28");
            return;
        }
        g->bp[g->nbp++] = addr;
        strcpy(out, "OK");
        return;
    }
    if (type != 2) {
        out[0] = 0; /* read and access watchpoints: not implemented */
        return;
    }
    for (unsigned i = 0; i < g->nwp; i++)
        if (!g->wp[i].vapic && g->wp[i].va == addr && g->wp[i].len == kind) {
            if (!insert)
                g->wp[i] = g->wp[--g->nwp];
            strcpy(out, "OK");
            return;
        }
    if (!insert) {
        strcpy(out, "OK");
        return;
    }
    emu_gdb_watch w = {.va = addr, .len = (unsigned)kind};
    if (kind < 1 || kind > 8 || g->nwp == EMU_GDB_NWP ||
        !cpu_linear_to_phys(gcpu(g), addr, &w.pa) ||
        !cpu_phys_read(gcpu(g)->phys, w.pa, w.old, w.len)) {
        strcpy(out, "E28");
        return;
    }
    g->wp[g->nwp++] = w;
    strcpy(out, "OK");
}

/* A watched value changed: its index, else -1 (the old values move on). */
static int watch_hit(emu_gdb *g)
{
    int hit = -1;
    for (unsigned i = 0; i < g->nwp; i++) {
        uint8_t now[8];
        emu_gdb_watch *w = &g->wp[i];
        bool got = w->vapic ? emu_gdb_vapic_byte(g, w->vapic_cpu, (unsigned)w->va, now)
                            : cpu_phys_read(g->m->cpu[0].phys, w->pa, now, w->len);
        if (got && memcmp(now, w->old, w->len) != 0) {
            memcpy(w->old, now, w->len);
            if (hit < 0)
                hit = (int)i;
        }
    }
    return hit;
}

/* ---- run control -------------------------------------------------------- */

static void record_event(void *ctx, const cpu_obs_event *ev)
{
    emu_gdb *g = ctx;
    g->ev[g->nev++ % EMU_GDB_NEV] = *ev;
    if (g->want_event) {
        g->want_event = false;
        g->event_hit = true;
        emu_machine_pause(g->m);
    }
}

static void stop_reply(emu_gdb *g, char *out, unsigned sig, unsigned cpu, const char *extra)
{
    emu_machine *m = g->m;
    if (m->finished) {
        sprintf(out, "W%02x", (unsigned)m->exit_status & 0xFF);
        return;
    }
    g->g_cpu = cpu;
    sprintf(out, "T%02xthread:%x;%s", sig, cpu + 1, extra ? extra : "");
}

/* Runs until a breakpoint, a watchpoint, Ctrl-C or the end of the run.
 * Without breakpoints or watchpoints the machine runs in slices; with
 * them, one instruction of any CPU at a time (emu_machine_step_any). */
static bool do_continue(emu_gdb *g, char *out)
{
    emu_machine *m = g->m;
    for (unsigned iter = 0;; iter++) {
        if (m->finished) {
            stop_reply(g, out, 5, 0, NULL);
            return true;
        }
        if (g->nbp == 0 && g->nwp == 0) {
            emu_machine_run(m, m->now + 100000);
        } else {
            int k = emu_machine_step_any(m);
            if (k >= 0) {
                cpu_t *c = &m->cpu[k];
                for (unsigned i = 0; i < g->nbp; i++)
                    if (g->bp[i] == c->rip) {
                        stop_reply(g, out, 5, (unsigned)k, "hwbreak:;");
                        return true;
                    }
                int w = watch_hit(g);
                if (w >= 0) {
                    /* A virtual-APIC byte has no address gdb knows: a
                     * plain SIGTRAP (monitor vapic and events say why). */
                    char extra[48] = "";
                    if (!g->wp[w].vapic)
                        snprintf(extra, sizeof(extra), "watch:%llx;",
                                 (unsigned long long)g->wp[w].va);
                    stop_reply(g, out, 5, (unsigned)k, extra);
                    return true;
                }
            }
            if ((iter & 1023) != 0)
                continue;
        }
        int ch = get_byte(g, false);
        if (ch == -1 || emu_stop_requested(m))
            return false;
        if (ch == 0x03) {
            stop_reply(g, out, 2, m->in_round ? m->turn : 0, NULL);
            return true;
        }
    }
}

static void do_step(emu_gdb *g, unsigned cpu, char *out)
{
    emu_machine_step(g->m, cpu, 1);
    watch_hit(g);
    stop_reply(g, out, 5, cpu, NULL);
}

/* vCont;ACTION[:TID]...: a step action steps its thread (the others run
 * as the scheduler runs them); otherwise the machine continues. */
static bool vcont(emu_gdb *g, const char *p, char *out)
{
    while (*p == ';') {
        p++;
        char a = *p++;
        if (a == 'S' || a == 'C') /* signals mean nothing to this machine */
            while (hexval(*p) >= 0)
                p++;
        unsigned cpu = g->c_cpu;
        if (*p == ':') {
            char tid[24];
            size_t n = 0;
            p++;
            while (*p && *p != ';' && n < sizeof(tid) - 1)
                tid[n++] = *p++;
            tid[n] = 0;
            if (!parse_thread(g, tid, &cpu)) {
                strcpy(out, "E01");
                return true;
            }
        }
        if (a == 's' || a == 'S') {
            do_step(g, cpu, out);
            return true;
        }
        if (a != 'c' && a != 'C') {
            strcpy(out, "E01");
            return true;
        }
    }
    return do_continue(g, out);
}

static void query(emu_gdb *g, const char *p, char *out)
{
    emu_machine *m = g->m;
    if (strncmp(p, "qSupported", 10) == 0) {
        sprintf(out, "PacketSize=%x;qXfer:features:read+;vContSupported+;swbreak-;hwbreak+",
                EMU_GDB_PKT_MAX);
    } else if (strncmp(p, "qXfer:features:read:target.xml:", 31) == 0) {
        const char *q = p + 31;
        uint64_t off, len;
        if (!parse_hex(&q, &off) || *q++ != ',' || !parse_hex(&q, &len)) {
            strcpy(out, "E01");
            return;
        }
        size_t total = 0;
        const char *target_xml = emu_gdb_target_xml(&total);
        if (len > EMU_GDB_PKT_MAX - 2)
            len = EMU_GDB_PKT_MAX - 2;
        if (off >= total) {
            strcpy(out, "l");
            return;
        }
        size_t n = total - off < len ? total - off : len;
        out[0] = off + n < total ? 'm' : 'l';
        memcpy(out + 1, target_xml + off, n);
        out[1 + n] = 0;
    } else if (strncmp(p, "qXfer:", 6) == 0) {
        strcpy(out, "E00");
    } else if (strcmp(p, "qfThreadInfo") == 0) {
        int o = sprintf(out, "m");
        for (unsigned k = 0; k < m->cfg.ncpus; k++)
            o += sprintf(out + o, "%s%x", k ? "," : "", k + 1);
    } else if (strcmp(p, "qsThreadInfo") == 0) {
        strcpy(out, "l");
    } else if (strcmp(p, "qC") == 0) {
        sprintf(out, "QC%x", g->g_cpu + 1);
    } else if (strcmp(p, "qAttached") == 0) {
        strcpy(out, "1");
    } else if (strncmp(p, "qThreadExtraInfo,", 17) == 0) {
        unsigned cpu = g->g_cpu;
        if (!parse_thread(g, p + 17, &cpu)) {
            strcpy(out, "E01");
            return;
        }
        char text[64];
        snprintf(text, sizeof(text), "CPU %u%s", cpu, m->cpu[cpu].halted ? " (halted)" : "");
        hex_bytes(out, (const uint8_t *)text, strlen(text));
    } else if (strncmp(p, "qRcmd,", 6) == 0) {
        size_t n = strlen(p + 6) / 2;
        char cmd[EMU_GDB_PKT_MAX / 2 + 1];
        if (!unhex_bytes(p + 6, (uint8_t *)cmd, n)) {
            strcpy(out, "E01");
            return;
        }
        cmd[n] = 0;
        char text[EMU_GDB_PKT_MAX / 2 - 8];
        emu_gdb_monitor(g, cmd, text, sizeof(text));
        hex_bytes(out, (const uint8_t *)text, strlen(text));
    } else {
        out[0] = 0;
    }
}

/* Handles one packet; false when the session ends (*end says how). */
static bool handle(emu_gdb *g, char *out, emu_gdb_end *end)
{
    const char *p = g->pkt;
    unsigned cpu;
    uint64_t r;
    out[0] = 0;
    switch (p[0]) {
    case '?':
        stop_reply(g, out, 5, g->g_cpu, NULL);
        break;
    case 'g':
        if (p[1] == 0)
            reply_regs(g, out);
        break;
    case 'G':
        write_regs(g, p + 1, out);
        break;
    case 'p':
        p++;
        if (!parse_hex(&p, &r) || *p || r >= EMU_GDB_NREGS) {
            strcpy(out, "E01");
        } else {
            uint8_t b[10];
            emu_gdb_reg_get(gcpu(g), (unsigned)r, b);
            hex_bytes(out, b, emu_gdb_reg_size((unsigned)r));
        }
        break;
    case 'P': {
        p++;
        uint8_t b[10];
        if (!parse_hex(&p, &r) || *p++ != '=' || r >= EMU_GDB_NREGS ||
            strlen(p) != 2 * emu_gdb_reg_size((unsigned)r) || !unhex_bytes(p, b, emu_gdb_reg_size((unsigned)r)))
            strcpy(out, "E01");
        else
            strcpy(out, emu_gdb_reg_set(gcpu(g), (unsigned)r, b) ? "OK" : "E01");
        break;
    }
    case 'm':
        read_mem(g, p + 1, out);
        break;
    case 'M':
        write_mem(g, p + 1, out);
        break;
    case 'H':
        cpu = p[1] == 'g' ? g->g_cpu : g->c_cpu;
        if ((p[1] != 'g' && p[1] != 'c') || !parse_thread(g, p + 2, &cpu)) {
            strcpy(out, "E01");
            break;
        }
        if (p[1] == 'g')
            g->g_cpu = cpu;
        else
            g->c_cpu = cpu;
        strcpy(out, "OK");
        break;
    case 'T':
        cpu = 0;
        strcpy(out, parse_thread(g, p + 1, &cpu) && strcmp(p + 1, "0") && strcmp(p + 1, "-1")
                        ? "OK"
                        : "E01");
        break;
    case 'Z':
    case 'z':
        if (p[1] >= '0' && p[1] <= '4')
            point(g, p[0] == 'Z', p + 1, out);
        break;
    case 's':
        if (p[1]) { /* s ADDR: resume at ADDR */
            p++;
            if (!parse_hex(&p, &r) || *p) {
                strcpy(out, "E01");
                break;
            }
            g->m->cpu[g->c_cpu].rip = r;
        }
        do_step(g, g->c_cpu, out);
        break;
    case 'c':
        if (p[1]) {
            p++;
            if (!parse_hex(&p, &r) || *p) {
                strcpy(out, "E01");
                break;
            }
            g->m->cpu[g->c_cpu].rip = r;
        }
        if (!do_continue(g, out)) {
            *end = EMU_GDB_DETACHED;
            return false;
        }
        break;
    case 'v':
        if (strcmp(p, "vCont?") == 0) {
            strcpy(out, "vCont;c;C;s;S");
        } else if (strncmp(p, "vCont;", 6) == 0) {
            if (!vcont(g, p + 5, out)) {
                *end = EMU_GDB_DETACHED;
                return false;
            }
        }
        break;
    case 'q':
        query(g, p, out);
        break;
    case 'D':
        send_packet(g, "OK");
        *end = EMU_GDB_DETACHED;
        return false;
    case 'k':
        *end = EMU_GDB_KILLED;
        return false;
    case 1: /* an oversize packet (read_packet) */
        strcpy(out, "E22");
        break;
    default:
        break;
    }
    if (!send_packet(g, out)) {
        *end = EMU_GDB_DETACHED;
        return false;
    }
    if (out[0] == 'W') {
        *end = EMU_GDB_FINISHED;
        return false;
    }
    return true;
}

bool emu_gdb_listen(emu_gdb *g, emu_machine *m, unsigned port, char *err, size_t errlen)
{
    memset(g, 0, sizeof(*g));
    g->m = m;
    g->fd = -1;
    g->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (g->lfd < 0) {
        snprintf(err, errlen, "--gdb: socket: %s", strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(g->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (bind(g->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(g->lfd, 1) != 0 ||
        getsockname(g->lfd, (struct sockaddr *)&a, &alen) != 0) {
        snprintf(err, errlen, "--gdb %u: cannot listen on 127.0.0.1:%u: %s", port, port,
                 strerror(errno));
        close(g->lfd);
        g->lfd = -1;
        return false;
    }
    g->port = ntohs(a.sin_port);
    return true;
}

emu_gdb_end emu_gdb_serve(emu_gdb *g)
{
    while (!readable(g->lfd, 200))
        if (emu_stop_requested(g->m))
            return EMU_GDB_DETACHED;
    do
        g->fd = accept(g->lfd, NULL, NULL);
    while (g->fd < 0 && errno == EINTR);
    if (g->fd < 0)
        return EMU_GDB_ERROR;
    int one = 1;
    setsockopt(g->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    cpu_obs_subscribe(&g->m->obs, record_event, g);
    char *out = g->out;
    emu_gdb_end end = EMU_GDB_DETACHED;
    for (;;) {
        pkt_result r = read_packet(g);
        if (r == PKT_EOF)
            break;
        if (r == PKT_INTR) {
            stop_reply(g, out, 2, g->g_cpu, NULL);
            if (!send_packet(g, out))
                break;
            continue;
        }
        if (!handle(g, out, &end))
            break;
    }
    cpu_obs_unsubscribe(&g->m->obs, record_event, g);
    close(g->fd);
    g->fd = -1;
    return end;
}

void emu_gdb_close(emu_gdb *g)
{
    if (g->fd >= 0)
        close(g->fd);
    if (g->lfd >= 0)
        close(g->lfd);
    g->fd = g->lfd = -1;
}
