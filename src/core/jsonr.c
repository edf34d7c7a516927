/* jsonr — a strict recursive-descent JSON reader (see include/medssl/jsonr.h).
 *
 * The parser fills a value in place and keeps the tree consistent at every
 * step (a container's n counts only members already in place, a member's key
 * is stored before its value is parsed), so on any error jv_parse frees the
 * whole partial tree with jv_free and nothing leaks. Recursion is bounded by
 * JV_MAX_DEPTH. Bytes >= 0x80 inside strings are taken as they are (the writer
 * passes them through too, so a file name that is not UTF-8 still reads back).
 */
#include "medssl/jsonr.h"
#include "medssl/common.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text, *p, *end;
    char *err;
    size_t errcap;
    int depth; /* open objects and arrays */
} jv_parser;

/* Writes "line L, column C: <what>" (1-based, columns in bytes) for the byte at `at`. */
static int fail(jv_parser *ps, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(jv_parser *ps, const char *at, const char *fmt, ...)
{
    size_t line = 1, col = 1;
    for (const char *q = ps->text; q < at; q++) {
        if (*q == '\n') { line++; col = 1; }
        else col++;
    }
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (ps->err && ps->errcap) snprintf(ps->err, ps->errcap, "line %zu, column %zu: %s", line, col, what);
    return MS_FAIL(MS_ERR_INPUT, "line %zu, column %zu: %s", line, col, what);
}

static void skip_ws(jv_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int is_digit(const char *p, const char *end) { return p < end && *p >= '0' && *p <= '9'; }

/* ---- numbers --------------------------------------------------------------------------------- */

static const char *skip_digits(const char *p, const char *end)
{
    while (is_digit(p, end)) p++;
    return p;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?, checked here; strtod converts
 * a NUL-terminated copy. A number beyond the range of a double is refused. */
static int parse_number(jv_parser *ps, ms_jv *v)
{
    const char *start = ps->p, *p = ps->p, *end = ps->end;
    if (p < end && *p == '-') p++;
    if (!is_digit(p, end)) return fail(ps, p, "expected a digit");
    if (*p == '0') {
        p++;
        if (is_digit(p, end)) return fail(ps, p, "expected no digit after a leading 0");
    } else {
        p = skip_digits(p, end);
    }
    if (p < end && *p == '.') {
        if (!is_digit(++p, end)) return fail(ps, p, "expected a digit after '.'");
        p = skip_digits(p, end);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, end)) return fail(ps, p, "expected a digit in the exponent");
        p = skip_digits(p, end);
    }
    const size_t len = (size_t)(p - start);
    char small[64], *buf = len < sizeof small ? small : ms_malloc(len + 1), *conv_end;
    memcpy(buf, start, len);
    buf[len] = '\0';
    const double x = strtod(buf, &conv_end);
    CHECKM(conv_end == buf + len, "strtod needs the C locale's '.' (LC_NUMERIC)");
    if (buf != small) free(buf);
    if (isinf(x)) return fail(ps, start, "expected a number within the range of a double");
    v->type = JV_NUM;
    v->num = x;
    ps->p = p;
    return MS_OK;
}

/* ---- strings --------------------------------------------------------------------------------- */

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4) return 0;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        const char c = p[i];
        const unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d == 16) return 0;
        x = x * 16 + d;
    }
    *out = x;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The \uXXXX escape at p (at the backslash) as a code point, a surrogate pair
 * joined; moves *p past it. */
static int parse_u_escape(jv_parser *ps, const char **p, unsigned *cp)
{
    const char *at = *p;
    if (!hex4(at + 2, ps->end, cp)) return fail(ps, at + 2, "expected 4 hex digits after \\u");
    *p = at + 6;
    if (*cp == 0) return fail(ps, at, "expected no \\u0000 (strings are C strings)");
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return fail(ps, at, "expected a high surrogate before the low surrogate \\u%04X", *cp);
    if (*cp < 0xd800 || *cp > 0xdbff) return MS_OK;
    unsigned lo;
    if (ps->end - *p < 2 || (*p)[0] != '\\' || (*p)[1] != 'u' || !hex4(*p + 2, ps->end, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return fail(ps, *p, "expected a low surrogate \\uDC00-\\uDFFF after \\u%04X", *cp);
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    *p += 6;
    return MS_OK;
}

/* The string whose opening quote is at ps->p, decoded into *out (malloc'd). */
static int parse_string(jv_parser *ps, char **out)
{
    const char *open = ps->p, *close = open + 1;
    while (close < ps->end && *close != '"') close += *close == '\\' && close + 1 < ps->end ? 2 : 1;
    if (close == ps->end) return fail(ps, close, "expected '\"' to close the string");
    char *s = ms_malloc((size_t)(close - open)); /* decoding never lengthens */
    size_t n = 0;
    for (const char *p = open + 1; p < close;) {
        const unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            free(s);
            return fail(ps, p, "expected an escape (\\u%04x) for the control byte 0x%02x in a string", c, c);
        }
        if (c != '\\') { s[n++] = (char)c; p++; continue; }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *hit = strchr(from, p[1]);
        if (p[1] != '\0' && hit) {
            s[n++] = to[hit - from];
            p += 2;
        } else if (p[1] == 'u') {
            unsigned cp;
            if (parse_u_escape(ps, &p, &cp)) { free(s); return MS_ERR_INPUT; }
            n += put_utf8(s + n, cp);
        } else {
            free(s);
            return fail(ps, p, "expected an escape \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX");
        }
    }
    s[n] = '\0';
    *out = s;
    ps->p = close + 1;
    return MS_OK;
}

/* ---- values ---------------------------------------------------------------------------------- */

static int parse_value(jv_parser *ps, ms_jv *v);

/* Room for one more member of a container holding v->n of *cap (doubling). */
static int grow(jv_parser *ps, ms_jv *v, size_t *cap)
{
    if (v->n < *cap) return MS_OK;
    if (*cap > SIZE_MAX / 2 / sizeof(ms_jv)) return fail(ps, ps->p, "expected fewer members");
    *cap = *cap ? *cap * 2 : 4;
    v->items = ms_realloc(v->items, *cap * sizeof *v->items);
    if (v->type == JV_OBJ) v->keys = ms_realloc(v->keys, *cap * sizeof *v->keys);
    return MS_OK;
}

/* An array or object at ps->p ('[' or '{'): members are added to v one by one. */
static int parse_container(jv_parser *ps, ms_jv *v)
{
    const char closer = *ps->p == '{' ? '}' : ']';
    if (++ps->depth > JV_MAX_DEPTH) return fail(ps, ps->p, "expected at most %d nested arrays and objects", JV_MAX_DEPTH);
    v->type = closer == '}' ? JV_OBJ : JV_ARR;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == closer) {
        ps->p++;
        ps->depth--;
        return MS_OK;
    }
    for (size_t cap = 0;;) {
        if (grow(ps, v, &cap)) return MS_ERR_INPUT;
        ms_jv *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (v->type == JV_OBJ) {
            if (ps->p >= ps->end || *ps->p != '"') return fail(ps, ps->p, "expected a string key");
            char *key;
            if (parse_string(ps, &key)) return MS_ERR_INPUT;
            v->keys[v->n++] = key;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return fail(ps, ps->p, "expected ':'");
            ps->p++;
        } else {
            v->n++;
        }
        if (parse_value(ps, item)) return MS_ERR_INPUT;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == closer) break;
        if (ps->p >= ps->end || *ps->p != ',') return fail(ps, ps->p, "expected ',' or '%c'", closer);
        ps->p++;
        skip_ws(ps);
    }
    ps->p++;
    ps->depth--;
    return MS_OK;
}

static int parse_literal(jv_parser *ps, ms_jv *v, const char *word, ms_jv_type type)
{
    const size_t len = strlen(word);
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0) return fail(ps, ps->p, "expected '%s'", word);
    v->type = type;
    ps->p += len;
    return MS_OK;
}

/* The value at ps->p (after whitespace) into v, which starts as JV_NULL with nothing allocated. */
static int parse_value(jv_parser *ps, ms_jv *v)
{
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, ps->p, "expected a value");
    switch (*ps->p) {
    case '{': case '[': return parse_container(ps, v);
    case '"': {
        char *s;
        if (parse_string(ps, &s)) return MS_ERR_INPUT;
        v->type = JV_STR;
        v->str = s;
        return MS_OK;
    }
    case 't': return parse_literal(ps, v, "true", JV_TRUE);
    case 'f': return parse_literal(ps, v, "false", JV_FALSE);
    case 'n': return parse_literal(ps, v, "null", JV_NULL);
    default:
        if (*ps->p == '-' || is_digit(ps->p, ps->end)) return parse_number(ps, v);
        return fail(ps, ps->p, "expected a value");
    }
}

/* ---- the API --------------------------------------------------------------------------------- */

static void jv_clear(ms_jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jv_clear(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

void jv_free(ms_jv *v)
{
    if (!v) return;
    jv_clear(v);
    free(v);
}

int jv_parse(const char *text, size_t len, ms_jv **out, char *err, size_t errcap)
{
    CHECK(out != NULL && (text != NULL || len == 0));
    if (!text) text = "";
    *out = NULL;
    if (err && errcap) err[0] = '\0';
    jv_parser ps = {.text = text, .p = text, .end = text + len, .err = err, .errcap = errcap};
    if (len > JV_MAX_TEXT) return fail(&ps, text, "expected at most %zu bytes of text, not %zu", JV_MAX_TEXT, len);
    ms_jv *v = ms_calloc(1, sizeof *v);
    int rc = parse_value(&ps, v);
    if (rc == MS_OK) {
        skip_ws(&ps);
        if (ps.p < ps.end) rc = fail(&ps, ps.p, "expected the end of the text");
    }
    if (rc != MS_OK) {
        jv_free(v);
        return rc;
    }
    *out = v;
    return MS_OK;
}

const ms_jv *jv_get(const ms_jv *v, const char *key)
{
    if (!v || v->type != JV_OBJ || !key) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

const ms_jv *jv_at(const ms_jv *v, size_t i) { return v && v->type == JV_ARR && i < v->n ? &v->items[i] : NULL; }
size_t jv_len(const ms_jv *v) { return v && (v->type == JV_ARR || v->type == JV_OBJ) ? v->n : 0; }
double jv_num(const ms_jv *v, double dflt) { return v && v->type == JV_NUM ? v->num : dflt; }
const char *jv_str(const ms_jv *v) { return v && v->type == JV_STR ? v->str : NULL; }

int jv_bool(const ms_jv *v, int dflt)
{
    if (v && v->type == JV_TRUE) return 1;
    if (v && v->type == JV_FALSE) return 0;
    return dflt;
}
