/*
 * ui_png.c — a small PNG writer (PNG spec, ISO/IEC 15948): 8-bit RGB,
 * filter 0 on every row, one zlib stream (RFC 1950) holding a single
 * deflate block with the fixed Huffman codes (RFC 1951 section 3.2.6) and
 * greedy LZ77 matches (the pixel to the left, the row above, a 3-byte
 * hash), so it needs no zlib. Window pictures are large flat areas: they
 * shrink about a hundredfold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "ui/ui.h"

/* CRC-32 of the PNG chunks (PNG spec annex D), bitwise: a screenshot is a
 * few megabytes at most. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return crc;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool chunk(FILE *f, const char type[4], const uint8_t *data, size_t len)
{
    uint8_t hdr[8];
    be32(hdr, (uint32_t)len);
    memcpy(hdr + 4, type, 4);
    uint32_t crc = crc_update(0xFFFFFFFFu, hdr + 4, 4);
    crc = crc_update(crc, data, len) ^ 0xFFFFFFFFu;
    uint8_t tail[4];
    be32(tail, crc);
    return fwrite(hdr, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
           fwrite(tail, 1, 4, f) == 4;
}

/* An LSB-first bit writer (RFC 1951 3.1.1). */
typedef struct bits {
    uint8_t *p;
    size_t n;
    uint32_t acc;
    unsigned nacc;
} bits;

static void put_bits(bits *b, uint32_t v, unsigned n)
{
    b->acc |= v << b->nacc;
    b->nacc += n;
    while (b->nacc >= 8) {
        b->p[b->n++] = (uint8_t)b->acc;
        b->acc >>= 8;
        b->nacc -= 8;
    }
}

/* Huffman codes go most-significant bit first. */
static void put_code(bits *b, uint32_t code, unsigned n)
{
    uint32_t r = 0;
    for (unsigned i = 0; i < n; i++)
        r |= ((code >> i) & 1u) << (n - 1 - i);
    put_bits(b, r, n);
}

/* Literal/length symbol with the fixed code (RFC 1951 3.2.6). */
static void put_sym(bits *b, unsigned sym)
{
    if (sym < 144)
        put_code(b, 0x30 + sym, 8);
    else if (sym < 256)
        put_code(b, 0x190 + sym - 144, 9);
    else if (sym < 280)
        put_code(b, sym - 256, 7);
    else
        put_code(b, 0xC0 + sym - 280, 8);
}

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                       33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                       1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void put_match(bits *b, unsigned len, unsigned dist)
{
    unsigned i = 28;
    while (len_base[i] > len)
        i--;
    put_sym(b, 257 + i);
    put_bits(b, len - len_base[i], len_extra[i]);
    unsigned d = 29;
    while (dist_base[d] > dist)
        d--;
    put_code(b, d, 5);
    put_bits(b, dist - dist_base[d], dist_extra[d]);
}

static unsigned match_len(const uint8_t *d, size_t n, size_t pos, size_t cand)
{
    unsigned len = 0;
    while (len < 258 && pos + len < n && d[cand + len] == d[pos + len])
        len++;
    return len;
}

#define HASH_BITS 15

/* Deflates d[0..n) into out (capacity n + n / 8 + 64), returns the size. */
static size_t deflate_fixed(const uint8_t *d, size_t n, size_t row, uint8_t *out)
{
    bits b = {out, 0, 0, 0};
    int64_t *head = malloc(sizeof(int64_t) << HASH_BITS);
    if (!head)
        return 0;
    for (size_t i = 0; i < (1u << HASH_BITS); i++)
        head[i] = -1;
    put_bits(&b, 1, 1); /* BFINAL */
    put_bits(&b, 1, 2); /* BTYPE 01: fixed Huffman codes */
    size_t pos = 0;
    while (pos < n) {
        unsigned best = 0, best_dist = 0;
        if (pos + 3 <= n) {
            uint32_t h = ((uint32_t)d[pos] << 16 | (uint32_t)d[pos + 1] << 8 | d[pos + 2]) *
                         2654435761u >> (32 - HASH_BITS);
            size_t cands[3] = {pos >= 3 ? pos - 3 : pos, pos >= row ? pos - row : pos,
                               head[h] >= 0 ? (size_t)head[h] : pos};
            for (int k = 0; k < 3; k++) {
                size_t c = cands[k];
                if (c >= pos || pos - c > 32768)
                    continue;
                unsigned l = match_len(d, n, pos, c);
                if (l > best) {
                    best = l;
                    best_dist = (unsigned)(pos - c);
                }
            }
            head[h] = (int64_t)pos;
        }
        if (best >= 3) {
            put_match(&b, best, best_dist);
            pos += best;
        } else {
            put_sym(&b, d[pos]);
            pos++;
        }
    }
    put_sym(&b, 256);
    if (b.nacc)
        put_bits(&b, 0, 8 - b.nacc);
    free(head);
    return b.n;
}

bool ui_png_write(const char *path, const uint8_t *rgb, int w, int h, size_t stride)
{
    if (w <= 0 || h <= 0)
        return false;
    size_t row = (size_t)w * 3 + 1; /* filter byte + pixels */
    size_t raw_len = row * (size_t)h;
    size_t z_cap = 2 + raw_len + raw_len / 8 + 64 + 4;
    uint8_t *raw = malloc(raw_len), *z = malloc(z_cap);
    bool ok = false;
    if (!raw || !z)
        goto out;
    for (int y = 0; y < h; y++) {
        raw[row * (size_t)y] = 0;
        memcpy(raw + row * (size_t)y + 1, rgb + stride * (size_t)y, (size_t)w * 3);
    }
    /* zlib header: deflate, 32K window, no dictionary, check bits. */
    size_t o = 0;
    z[o++] = 0x78;
    z[o++] = 0x01;
    uint32_t a = 1, b = 0; /* Adler-32 (RFC 1950 8.2) */
    for (size_t i = 0; i < raw_len; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    size_t dn = deflate_fixed(raw, raw_len, row, z + o);
    if (dn == 0)
        goto out;
    o += dn;
    be32(z + o, b << 16 | a);
    o += 4;

    FILE *f = fopen(path, "wb");
    if (!f)
        goto out;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    uint8_t ihdr[13];
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: truecolour */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    ok = fwrite(sig, 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) && chunk(f, "IDAT", z, o) &&
         chunk(f, "IEND", NULL, 0);
    ok = (fclose(f) == 0) && ok;
out:
    free(raw);
    free(z);
    return ok;
}

bool ui_png_write_surface(const char *path, SDL_Surface *s)
{
    SDL_Surface *c = SDL_ConvertSurfaceFormat(s, SDL_PIXELFORMAT_RGB24, 0);
    if (!c)
        return false;
    bool ok = false;
    if (SDL_LockSurface(c) == 0) {
        ok = ui_png_write(path, c->pixels, c->w, c->h, (size_t)c->pitch);
        SDL_UnlockSurface(c);
    }
    SDL_FreeSurface(c);
    return ok;
}
