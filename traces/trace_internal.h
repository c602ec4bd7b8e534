/*
 * trace_internal.h — helpers shared by the files of traces/ (not public).
 */
#ifndef APICV_TRACE_INTERNAL_H
#define APICV_TRACE_INTERNAL_H

#include "traces/trace.h"

/* A growable byte buffer: one record's payload while it is built. */
typedef struct trace_buf {
    uint8_t *data;
    size_t len, cap;
    bool oom;
} trace_buf;

void trace_buf_bytes(trace_buf *b, const void *p, size_t len);
void trace_buf_varint(trace_buf *b, uint64_t v);   /* LEB128 */
void trace_buf_svarint(trace_buf *b, int64_t v);   /* zigzag, then LEB128 */
void trace_buf_u64(trace_buf *b, uint64_t v);      /* 8 bytes, little-endian */
void trace_buf_str(trace_buf *b, const char *s);   /* length, then bytes */

/* The record check: FNV-1a 32 of the type byte and the payload. */
uint32_t trace_check32(uint8_t type, const uint8_t *p, size_t len);

#endif
