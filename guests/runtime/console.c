/*
 * console.c — console output on port 0xE9 and a small printf.
 *
 * One formatter (format()) writes through a sink: the console (a byte to
 * port 0xE9 each) or a buffer (snprintf). Console writes take a spin lock
 * with interrupts disabled, so that lines printed by different vCPUs or by
 * an interrupt handler never interleave mid-line.
 */
#include "guest.h"

typedef void (*sink_fn)(void *ctx, char c);

struct buf_sink {
    char *buf;
    size_t size;
    size_t len;
};

static struct guest_lock console_lock;

static void console_sink(void *ctx, char c)
{
    (void)ctx;
    outb(GUEST_PORT_CONSOLE, (uint8_t)c);
}

static void buffer_sink(void *ctx, char c)
{
    struct buf_sink *b = ctx;
    if (b->len + 1 < b->size)
        b->buf[b->len] = c;
    b->len++;
}

struct spec {
    int left, zero, alt, plus, space;
    int width, precision;
    int len; /* 0 int, 1 long, 2 long long, -1 short, -2 char */
};

static int emit_padded(sink_fn out, void *ctx, const char *prefix, const char *body, int body_len,
                       const struct spec *sp)
{
    int plen = (int)strlen(prefix);
    int pad = sp->width - plen - body_len;
    int n = 0;
    if (pad < 0)
        pad = 0;
    if (!sp->left && !sp->zero)
        for (; pad > 0; pad--, n++)
            out(ctx, ' ');
    for (int i = 0; i < plen; i++, n++)
        out(ctx, prefix[i]);
    if (!sp->left && sp->zero)
        for (; pad > 0; pad--, n++)
            out(ctx, '0');
    for (int i = 0; i < body_len; i++, n++)
        out(ctx, body[i]);
    for (; pad > 0; pad--, n++)
        out(ctx, ' ');
    return n;
}

static int emit_number(sink_fn out, void *ctx, uint64_t v, int negative, unsigned base, int upper,
                       const char *prefix, const struct spec *sp)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = digits[v % base];
        v /= base;
    } while (v);
    char pre[4] = {0};
    int p = 0;
    if (negative)
        pre[p++] = '-';
    else if (sp->plus)
        pre[p++] = '+';
    else if (sp->space)
        pre[p++] = ' ';
    for (const char *q = prefix; *q; q++)
        pre[p++] = *q;
    return emit_padded(out, ctx, pre, tmp + i, (int)sizeof(tmp) - i, sp);
}

static uint64_t fetch_unsigned(va_list *ap, int len)
{
    switch (len) {
    case 2: return va_arg(*ap, unsigned long long);
    case 1: return va_arg(*ap, unsigned long);
    case -1: return (unsigned short)va_arg(*ap, unsigned int);
    case -2: return (unsigned char)va_arg(*ap, unsigned int);
    default: return va_arg(*ap, unsigned int);
    }
}

static int64_t fetch_signed(va_list *ap, int len)
{
    switch (len) {
    case 2: return va_arg(*ap, long long);
    case 1: return va_arg(*ap, long);
    case -1: return (short)va_arg(*ap, int);
    case -2: return (signed char)va_arg(*ap, int);
    default: return va_arg(*ap, int);
    }
}

static int format(sink_fn out, void *ctx, const char *fmt, va_list ap_in)
{
    va_list ap;
    va_copy(ap, ap_in);
    int n = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            out(ctx, *f);
            n++;
            continue;
        }
        struct spec sp = {0, 0, 0, 0, 0, 0, -1, 0};
        for (;; f++) {
            if (f[1] == '-')
                sp.left = 1;
            else if (f[1] == '0')
                sp.zero = 1;
            else if (f[1] == '#')
                sp.alt = 1;
            else if (f[1] == '+')
                sp.plus = 1;
            else if (f[1] == ' ')
                sp.space = 1;
            else
                break;
        }
        f++;
        if (*f == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = 1;
                sp.width = -sp.width;
            }
            f++;
        } else {
            while (*f >= '0' && *f <= '9')
                sp.width = sp.width * 10 + (*f++ - '0');
        }
        if (*f == '.') {
            f++;
            sp.precision = 0;
            if (*f == '*') {
                sp.precision = va_arg(ap, int);
                f++;
            } else {
                while (*f >= '0' && *f <= '9')
                    sp.precision = sp.precision * 10 + (*f++ - '0');
            }
        }
        if (*f == 'l') {
            sp.len = 1;
            if (f[1] == 'l') {
                sp.len = 2;
                f++;
            }
            f++;
        } else if (*f == 'h') {
            sp.len = -1;
            if (f[1] == 'h') {
                sp.len = -2;
                f++;
            }
            f++;
        } else if (*f == 'z' || *f == 't' || *f == 'j') {
            sp.len = 2;
            f++;
        }
        switch (*f) {
        case 'd':
        case 'i': {
            int64_t v = fetch_signed(&ap, sp.len);
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            n += emit_number(out, ctx, mag, v < 0, 10, 0, "", &sp);
            break;
        }
        case 'u':
            n += emit_number(out, ctx, fetch_unsigned(&ap, sp.len), 0, 10, 0, "", &sp);
            break;
        case 'o':
            n += emit_number(out, ctx, fetch_unsigned(&ap, sp.len), 0, 8, 0, sp.alt ? "0" : "", &sp);
            break;
        case 'x':
        case 'X': {
            uint64_t v = fetch_unsigned(&ap, sp.len);
            const char *pre = sp.alt && v ? (*f == 'x' ? "0x" : "0X") : "";
            n += emit_number(out, ctx, v, 0, 16, *f == 'X', pre, &sp);
            break;
        }
        case 'p':
            sp.plus = sp.space = 0;
            n += emit_number(out, ctx, (uint64_t)(uintptr_t)va_arg(ap, void *), 0, 16, 0, "0x", &sp);
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            sp.zero = 0;
            n += emit_padded(out, ctx, "", &c, 1, &sp);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = 0;
            while (s[len] && (sp.precision < 0 || len < sp.precision))
                len++;
            sp.zero = 0;
            n += emit_padded(out, ctx, "", s, len, &sp);
            break;
        }
        case '%':
            out(ctx, '%');
            n++;
            break;
        default:
            /* Unknown conversion: print it as written, so the mistake shows. */
            out(ctx, '%');
            n++;
            if (!*f)
                goto done;
            out(ctx, *f);
            n++;
            break;
        }
    }
done:
    va_end(ap);
    return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct buf_sink b = {buf, size, 0};
    format(buffer_sink, &b, fmt, ap);
    if (size)
        buf[b.len < size ? b.len : size - 1] = '\0';
    return (int)b.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int vprintf(const char *fmt, va_list ap)
{
    uint64_t flags = irq_save();
    guest_lock(&console_lock);
    int n = format(console_sink, 0, fmt, ap);
    guest_unlock(&console_lock);
    irq_restore(flags);
    return n;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

/*
 * For the default exception handler: the fault may have hit inside printf
 * on this very vCPU, so waiting for the lock could hang the run instead of
 * reporting it. Try the lock for a bounded time (so that two vCPUs
 * faulting together print whole lines), then write regardless.
 */
void guest_console_emergency(const char *s)
{
    int locked = 0;
    for (int i = 0; i < 100000 && !locked; i++) {
        locked = !__atomic_exchange_n(&console_lock.held, 1u, __ATOMIC_ACQUIRE);
        if (!locked)
            pause();
    }
    while (*s)
        outb(GUEST_PORT_CONSOLE, (uint8_t)*s++);
    if (locked)
        guest_unlock(&console_lock);
}

int putchar(int c)
{
    outb(GUEST_PORT_CONSOLE, (uint8_t)c);
    return (unsigned char)c;
}

int puts(const char *s)
{
    return printf("%s\n", s);
}
