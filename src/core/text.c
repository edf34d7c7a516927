/* text — growing text buffer, HTML escapes, base64 (include/medssl/text.h). */
#include "medssl/text.h"
#include "medssl/common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void reserve(ms_text *t, size_t more)
{
    CHECKM(more < ((size_t)1 << 40) && t->len + more + 1 > t->len, "text: size overflow");
    if (t->len + more + 1 <= t->cap) return;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + more + 1) cap *= 2;
    t->buf = ms_realloc(t->buf, cap);
    t->cap = cap;
}

void text_put(ms_text *t, const char *s, size_t n)
{
    reserve(t, n);
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

void text_puts(ms_text *t, const char *s) { text_put(t, s, strlen(s)); }

void text_printf(ms_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CHECKM(n >= 0, "text_printf: bad format");
    reserve(t, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void text_html(ms_text *t, const char *s)
{
    for (const char *p = s; *p; p++) {
        const unsigned char c = (unsigned char)*p;
        switch (c) {
        case '&': text_puts(t, "&amp;"); break;
        case '<': text_puts(t, "&lt;"); break;
        case '>': text_puts(t, "&gt;"); break;
        case '"': text_puts(t, "&quot;"); break;
        case '\'': text_puts(t, "&#39;"); break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n') text_puts(t, "&#xFFFD;");
            else text_put(t, p, 1);
        }
    }
}

void text_base64(ms_text *t, const unsigned char *data, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    reserve(t, (n + 2) / 3 * 4);
    char *o = t->buf + t->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        const unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
        *o++ = abc[v & 63];
    }
    if (i < n) {
        const unsigned v = (unsigned)data[i] << 16 | (i + 1 < n ? (unsigned)data[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    t->len = (size_t)(o - t->buf);
    t->buf[t->len] = '\0';
}

void text_free(ms_text *t)
{
    free(t->buf);
    *t = (ms_text){ 0 };
}
