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
#include "emu/emu_gdb_internal.h"

/* ---- packets ------------------------------------------------------------ */

const char emu_gdb_hexd[] = "0123456789abcdef";

int emu_gdb_hexval(int ch)
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
bool emu_gdb_parse_hex(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;
    while (emu_gdb_hexval(**p) >= 0) {
        if (++n > 16)
            return false;
        v = v << 4 | (uint64_t)emu_gdb_hexval(**p);
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
    *o++ = emu_gdb_hexd[sum >> 4];
    *o++ = emu_gdb_hexd[sum & 15];
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
int emu_gdb_get_byte(emu_gdb *g, bool wait)
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
        int ch = emu_gdb_get_byte(g, true);
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
            ch = emu_gdb_get_byte(g, true);
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
        int h = emu_gdb_get_byte(g, true), l = h < 0 ? -1 : emu_gdb_get_byte(g, true);
        if (h < 0 || l < 0)
            return PKT_EOF;
        if (emu_gdb_hexval(h) < 0 || emu_gdb_hexval(l) < 0 || (uint8_t)(emu_gdb_hexval(h) << 4 | emu_gdb_hexval(l)) != sum) {
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
        g->pkt_len = n;
        return PKT_OK;
    }
}

/* ---- state, registers, memory ------------------------------------------- */

cpu_t *emu_gdb_cpu(emu_gdb *g)
{
    return &g->m->cpu[g->g_cpu];
}

void emu_gdb_hex_bytes(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = emu_gdb_hexd[b[i] >> 4];
        out[2 * i + 1] = emu_gdb_hexd[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* Decodes exactly n bytes of hex at s; false on a bad digit. */
bool emu_gdb_unhex_bytes(const char *s, uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int h = emu_gdb_hexval(s[2 * i]), l = h < 0 ? -1 : emu_gdb_hexval(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return false;
        b[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* A thread id of a packet: CPU index + 1; 0 and -1 mean "any" (keep). */
bool emu_gdb_parse_thread(emu_gdb *g, const char *s, unsigned *cpu)
{
    if (strcmp(s, "-1") == 0 || strcmp(s, "0") == 0)
        return true;
    uint64_t t;
    if (!emu_gdb_parse_hex(&s, &t) || *s || t < 1 || t > g->m->cfg.ncpus)
        return false;
    *cpu = (unsigned)(t - 1);
    return true;
}

static void reply_regs(emu_gdb *g, char *out)
{
    size_t o = 0;
    for (unsigned r = 0; r < EMU_GDB_NREGS; r++) {
        uint8_t b[10];
        emu_gdb_reg_get(emu_gdb_cpu(g), r, b);
        emu_gdb_hex_bytes(out + o, b, emu_gdb_reg_size(r));
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
        if (!emu_gdb_unhex_bytes(hex, b, emu_gdb_reg_size(r)) || !emu_gdb_reg_set(emu_gdb_cpu(g), r, b))
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
    if (!emu_gdb_parse_hex(&p, &addr) || *p++ != ',' || !emu_gdb_parse_hex(&p, &len) || *p) {
        strcpy(out, "E01");
        return;
    }
    if (len > EMU_GDB_PKT_MAX / 2)
        len = EMU_GDB_PKT_MAX / 2;
    uint8_t buf[EMU_GDB_PKT_MAX / 2];
    size_t n = 0;
    if (cpu_peek_linear(emu_gdb_cpu(g), addr, buf, len))
        n = len;
    else
        while (n < len && cpu_peek_linear(emu_gdb_cpu(g), addr + n, buf + n, 1))
            n++;
    if (n == 0 && len)
        strcpy(out, "E14");
    else
        emu_gdb_hex_bytes(out, buf, n);
}

/* len bytes at linear address addr through the Hg CPU's paging. */
static void poke(emu_gdb *g, uint64_t addr, const uint8_t *buf, uint64_t len, char *out)
{
    for (uint64_t i = 0; i < len; i++) {
        uint64_t pa;
        if (!cpu_linear_to_phys(emu_gdb_cpu(g), addr + i, &pa)) {
            strcpy(out, "E14");
            return;
        }
        /* cpu_phys_write drops decoded blocks of a written code page. */
        if (!cpu_phys_write(emu_gdb_cpu(g)->phys, pa, buf + i, 1)) {
            strcpy(out, "E14");
            return;
        }
    }
    strcpy(out, "OK");
}

/* M ADDR,LEN:HEX */
static void write_mem(emu_gdb *g, const char *p, char *out)
{
    uint64_t addr, len;
    if (!emu_gdb_parse_hex(&p, &addr) || *p++ != ',' || !emu_gdb_parse_hex(&p, &len) || *p++ != ':' ||
        len > EMU_GDB_PKT_MAX / 2 || strlen(p) != 2 * len) {
        strcpy(out, "E01");
        return;
    }
    uint8_t buf[EMU_GDB_PKT_MAX / 2];
    if (!emu_gdb_unhex_bytes(p, buf, len)) {
        strcpy(out, "E01");
        return;
    }
    poke(g, addr, buf, len, out);
}

/* X ADDR,LEN:BINARY (GDB manual E.4): the data as raw bytes, 0x7d
 * escaping the next one (XOR 0x20). p..end is the packet after 'X' (it may
 * hold NUL bytes). gdb probes the packet with LEN 0. */
static void write_mem_binary(emu_gdb *g, const char *p, const char *end, char *out)
{
    uint64_t addr, len;
    if (!emu_gdb_parse_hex(&p, &addr) || *p++ != ',' || !emu_gdb_parse_hex(&p, &len) ||
        *p++ != ':' || p > end || len > EMU_GDB_PKT_MAX) {
        strcpy(out, "E01");
        return;
    }
    uint8_t buf[EMU_GDB_PKT_MAX];
    uint64_t n = 0;
    while (p < end) {
        uint8_t b = (uint8_t)*p++;
        if (b == 0x7d) {
            if (p == end) {
                strcpy(out, "E01");
                return;
            }
            b = (uint8_t)(*p++ ^ 0x20);
        }
        if (n == len) {
            strcpy(out, "E01");
            return;
        }
        buf[n++] = b;
    }
    if (n != len) {
        strcpy(out, "E01");
        return;
    }
    poke(g, addr, buf, len, out);
}

static void query(emu_gdb *g, const char *p, char *out)
{
    emu_machine *m = g->m;
    if (strncmp(p, "qSupported", 10) == 0) {
        sprintf(out, "PacketSize=%x;qXfer:features:read+;vContSupported+;swbreak-;hwbreak+%s",
                EMU_GDB_PKT_MAX, g->rp ? ";ReverseStep+;ReverseContinue+" : "");
    } else if (strncmp(p, "qXfer:features:read:target.xml:", 31) == 0) {
        const char *q = p + 31;
        uint64_t off, len;
        if (!emu_gdb_parse_hex(&q, &off) || *q++ != ',' || !emu_gdb_parse_hex(&q, &len)) {
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
        if (!emu_gdb_parse_thread(g, p + 17, &cpu)) {
            strcpy(out, "E01");
            return;
        }
        char text[64];
        snprintf(text, sizeof(text), "CPU %u%s", cpu, m->cpu[cpu].halted ? " (halted)" : "");
        emu_gdb_hex_bytes(out, (const uint8_t *)text, strlen(text));
    } else if (strncmp(p, "qRcmd,", 6) == 0) {
        size_t n = strlen(p + 6) / 2;
        char cmd[EMU_GDB_PKT_MAX / 2 + 1];
        if (!emu_gdb_unhex_bytes(p + 6, (uint8_t *)cmd, n)) {
            strcpy(out, "E01");
            return;
        }
        cmd[n] = 0;
        char text[EMU_GDB_PKT_MAX / 2 - 8];
        emu_gdb_monitor(g, cmd, text, sizeof(text));
        emu_gdb_hex_bytes(out, (const uint8_t *)text, strlen(text));
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
    /* A replay is the trace's run: a write would change it, and positions
     * (reverse execution runs again from cycle 0) would no longer be. */
    bool writes = p[0] == 'G' || p[0] == 'P' || p[0] == 'M' || p[0] == 'X' ||
                  ((p[0] == 's' || p[0] == 'c') && p[1]);
    if (g->rp && writes)
        p = "\x02";
    switch (p[0]) {
    case 2:
        strcpy(out, "E01");
        break;
    case '?':
        emu_gdb_stop_reply(g, out, 5, g->g_cpu, NULL);
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
        if (!emu_gdb_parse_hex(&p, &r) || *p || r >= EMU_GDB_NREGS) {
            strcpy(out, "E01");
        } else {
            uint8_t b[10];
            emu_gdb_reg_get(emu_gdb_cpu(g), (unsigned)r, b);
            emu_gdb_hex_bytes(out, b, emu_gdb_reg_size((unsigned)r));
        }
        break;
    case 'P': {
        p++;
        uint8_t b[10];
        if (!emu_gdb_parse_hex(&p, &r) || *p++ != '=' || r >= EMU_GDB_NREGS ||
            strlen(p) != 2 * emu_gdb_reg_size((unsigned)r) || !emu_gdb_unhex_bytes(p, b, emu_gdb_reg_size((unsigned)r)))
            strcpy(out, "E01");
        else
            strcpy(out, emu_gdb_reg_set(emu_gdb_cpu(g), (unsigned)r, b) ? "OK" : "E01");
        break;
    }
    case 'm':
        read_mem(g, p + 1, out);
        break;
    case 'M':
        write_mem(g, p + 1, out);
        break;
    case 'X':
        write_mem_binary(g, p + 1, g->pkt + g->pkt_len, out);
        break;
    case 'b':
        if (strcmp(p, "bs") == 0)
            emu_gdb_reverse_step(g, out);
        else if (strcmp(p, "bc") == 0)
            emu_gdb_reverse_continue(g, out);
        break;
    case 'H':
        cpu = p[1] == 'g' ? g->g_cpu : g->c_cpu;
        if ((p[1] != 'g' && p[1] != 'c') || !emu_gdb_parse_thread(g, p + 2, &cpu)) {
            strcpy(out, "E01");
            break;
        }
        if (p[1] == 'g') {
            g->g_cpu = cpu;
        } else {
            g->c_cpu = cpu;
            /* Hc0 / Hc-1: any thread; a step then steps the one gdb
             * stopped on (gdb sends Hc0 before bs). */
            g->c_any = strcmp(p + 2, "0") == 0 || strcmp(p + 2, "-1") == 0;
        }
        strcpy(out, "OK");
        break;
    case 'T':
        cpu = 0;
        strcpy(out, emu_gdb_parse_thread(g, p + 1, &cpu) && strcmp(p + 1, "0") && strcmp(p + 1, "-1")
                        ? "OK"
                        : "E01");
        break;
    case 'Z':
    case 'z':
        if (p[1] >= '0' && p[1] <= '4')
            emu_gdb_point(g, p[0] == 'Z', p + 1, out);
        break;
    case 's':
        if (p[1]) { /* s ADDR: resume at ADDR */
            p++;
            if (!emu_gdb_parse_hex(&p, &r) || *p) {
                strcpy(out, "E01");
                break;
            }
            g->m->cpu[g->c_cpu].rip = r;
        }
        emu_gdb_step(g, g->c_any ? g->g_cpu : g->c_cpu, out);
        break;
    case 'c':
        if (p[1]) {
            p++;
            if (!emu_gdb_parse_hex(&p, &r) || *p) {
                strcpy(out, "E01");
                break;
            }
            g->m->cpu[g->c_cpu].rip = r;
        }
        if (!emu_gdb_continue(g, out)) {
            *end = EMU_GDB_DETACHED;
            return false;
        }
        break;
    case 'v':
        if (strcmp(p, "vCont?") == 0) {
            strcpy(out, "vCont;c;C;s;S");
        } else if (strncmp(p, "vCont;", 6) == 0) {
            if (!emu_gdb_vcont(g, p + 5, out)) {
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
    if (g->running)
        return true; /* emu_gdb_poll: the continue's stop reply comes later */
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

/* A connection from gdb: accepted, and the session's observer. */
static bool session_begin(emu_gdb *g)
{
    do
        g->fd = accept(g->lfd, NULL, NULL);
    while (g->fd < 0 && errno == EINTR);
    if (g->fd < 0)
        return false;
    int one = 1;
    setsockopt(g->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    cpu_obs_subscribe(&g->m->obs, emu_gdb_record_event, g);
    return true;
}

static void session_end(emu_gdb *g)
{
    cpu_obs_unsubscribe(&g->m->obs, emu_gdb_record_event, g);
    /* Without gdb the run goes on with no watched pages on the slow path. */
    g->nwp = g->nbp = 0;
    emu_gdb_watch_install(g);
    close(g->fd);
    g->fd = -1;
    g->running = false;
}

emu_gdb_end emu_gdb_serve(emu_gdb *g)
{
    while (!readable(g->lfd, 200))
        if (emu_stop_requested(g->m))
            return EMU_GDB_DETACHED;
    if (!session_begin(g))
        return EMU_GDB_ERROR;
    char *out = g->out;
    emu_gdb_end end = EMU_GDB_DETACHED;
    for (;;) {
        pkt_result r = read_packet(g);
        if (r == PKT_EOF)
            break;
        if (r == PKT_INTR) {
            emu_gdb_stop_reply(g, out, 2, g->g_cpu, NULL);
            if (!send_packet(g, out))
                break;
            continue;
        }
        if (!handle(g, out, &end))
            break;
    }
    session_end(g);
    return end;
}

bool emu_gdb_poll(emu_gdb *g)
{
    char *out = g->out;
    g->async = true;
    if (g->fd < 0) {
        if (!readable(g->lfd, 0) || !session_begin(g))
            return false;
        g->running = false;
        g->rlen = g->rpos = 0;
        g->last_reply[0] = 0;
    }
    if (g->running) {
        /* A continue in progress: a bounded part of it per call, so the
         * front end keeps drawing (what the machine does is the same). */
        int st = emu_gdb_continue_some(g, out, 2048);
        g->moved = true;
        if (st == 0)
            return true;
        g->running = false;
        if (st < 0 || !send_packet(g, out) || out[0] == 'W') {
            session_end(g);
            return false;
        }
        return true;
    }
    /* The packets that are there (a packet begun is read to its end). */
    while (g->rpos < g->rlen || readable(g->fd, 0)) {
        emu_gdb_end end = EMU_GDB_DETACHED;
        pkt_result r = read_packet(g);
        if (r == PKT_EOF) {
            session_end(g);
            return false;
        }
        if (r == PKT_INTR) {
            emu_gdb_stop_reply(g, out, 2, g->g_cpu, NULL);
            if (!send_packet(g, out)) {
                session_end(g);
                return false;
            }
            continue;
        }
        uint64_t before = g->m->now;
        if (!handle(g, out, &end)) {
            if (end == EMU_GDB_KILLED) {
                fprintf(stderr, "apicv-emu: killed by gdb at cycle %llu\n",
                        (unsigned long long)g->m->now);
                emu_machine_stop(g->m, 137, "killed by gdb");
            }
            session_end(g);
            return false;
        }
        g->moved = g->moved || g->m->now != before || g->running;
        if (g->running)
            break;
    }
    return true;
}

void emu_gdb_close(emu_gdb *g)
{
    free(g->hist);
    g->hist = NULL;
    g->nhist = g->hist_cap = 0;
    if (g->fd >= 0)
        close(g->fd);
    if (g->lfd >= 0)
        close(g->lfd);
    g->fd = g->lfd = -1;
}
