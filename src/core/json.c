/* json — an escaping JSON writer into a growing buffer (see include/medssl/json.h). */
#include "medssl/json.h"
#include "medssl/common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(ms_json *j, const char *s, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (j->len + n + 1 > cap) cap *= 2;
        j->buf = ms_realloc(j->buf, cap);
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void puts_(ms_json *j, const char *s) { put(j, s, strlen(s)); }

static void putf(ms_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(ms_json *j, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && (size_t)n < sizeof tmp);
    put(j, tmp, (size_t)n);
}

static void put_string(ms_json *j, const char *s)
{
    puts_(j, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': puts_(j, "\\\""); break;
        case '\\': puts_(j, "\\\\"); break;
        case '\n': puts_(j, "\\n"); break;
        case '\t': puts_(j, "\\t"); break;
        case '\r': puts_(j, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) putf(j, "\\u%04x", *p);
            else put(j, (const char *)p, 1);
        }
    }
    puts_(j, "\"");
}

void json_begin(ms_json *j, int pretty)
{
    memset(j, 0, sizeof *j);
    j->pretty = pretty;
    j->inline_from = JSON_MAX_DEPTH + 1;
}

void json_free(ms_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

const char *json_text(const ms_json *j) { return j->buf ? j->buf : ""; }
size_t json_length(const ms_json *j) { return j->len; }

static int on_one_line(const ms_json *j) { return !j->pretty || j->depth >= j->inline_from; }

static void newline(ms_json *j, int depth)
{
    puts_(j, "\n");
    for (int i = 0; i < depth; i++) puts_(j, "  ");
}

/* The separator and key before a value at the current level. */
static void member(ms_json *j, const char *key)
{
    if (j->depth > 0) {
        const int first = j->empty[j->depth - 1];
        j->empty[j->depth - 1] = 0;
        if (!first) puts_(j, ",");
        if (on_one_line(j)) {
            if (!first) puts_(j, " ");
        } else {
            newline(j, j->depth);
        }
        CHECKM((key != NULL) == (j->closer[j->depth - 1] == '}'), "a key inside an object, none inside an array");
    } else {
        CHECKM(key == NULL && j->len == 0, "one outermost value, without a key");
    }
    if (key) {
        put_string(j, key);
        puts_(j, ": ");
    }
}

static void open_level(ms_json *j, const char *key, char opener, int inline_level)
{
    member(j, key);
    CHECKM(j->depth < JSON_MAX_DEPTH, "JSON nested too deeply");
    put(j, &opener, 1);
    j->closer[j->depth] = opener == '{' ? '}' : ']';
    j->empty[j->depth] = 1;
    j->depth++;
    if (inline_level && j->depth < j->inline_from) j->inline_from = (unsigned char)j->depth;
}

void json_object(ms_json *j, const char *key) { open_level(j, key, '{', 0); }
void json_array(ms_json *j, const char *key) { open_level(j, key, '[', 0); }
void json_object_inline(ms_json *j, const char *key) { open_level(j, key, '{', 1); }
void json_array_inline(ms_json *j, const char *key) { open_level(j, key, '[', 1); }

void json_end(ms_json *j)
{
    CHECKM(j->depth > 0, "json_end without an open object or array");
    const int empty = j->empty[j->depth - 1], one_line = on_one_line(j);
    j->depth--;
    if (!empty && !one_line) newline(j, j->depth);
    put(j, &j->closer[j->depth], 1);
    if (j->depth < j->inline_from) j->inline_from = JSON_MAX_DEPTH + 1;
}

void json_str(ms_json *j, const char *key, const char *s)
{
    member(j, key);
    if (s) put_string(j, s);
    else puts_(j, "null");
}

void json_num(ms_json *j, const char *key, double x, int digits)
{
    member(j, key);
    if (isfinite(x)) putf(j, "%.*g", digits, x);
    else puts_(j, "null");
}

void json_fixed(ms_json *j, const char *key, double x, int decimals)
{
    member(j, key);
    if (!isfinite(x)) puts_(j, "null");
    else if (fabs(x) < 1e15) putf(j, "%.*f", decimals, x);
    else putf(j, "%.17g", x); /* %f of a huge number would not fit the buffer */
}

void json_int(ms_json *j, const char *key, long long v)
{
    member(j, key);
    putf(j, "%lld", v);
}

void json_bool(ms_json *j, const char *key, int v)
{
    member(j, key);
    puts_(j, v ? "true" : "false");
}

void json_null(ms_json *j, const char *key)
{
    member(j, key);
    puts_(j, "null");
}

void json_raw(ms_json *j, const char *key, const char *text)
{
    member(j, key);
    puts_(j, text);
}
