/* jsonr — the JSON reader: parses one JSON text (a metrics.jsonl line, a
 * metrics.json file) into a tree of values, for the tools that read what
 * medssl wrote (report). The writer is json.h.
 *
 *     ms_jv *v;
 *     char err[160];
 *     if (jv_parse(text, len, &v, err, sizeof err)) { ... err says "line 3, column 7: expected ':'" }
 *     double acc = jv_num(jv_get(v, "accuracy"), NAN);   // NAN when absent, null or not a number
 *     const ms_jv *pc = jv_get(v, "per_class");
 *     for (size_t i = 0; i < jv_len(pc); i++) ... jv_at(pc, i) ...
 *     jv_free(v);
 *
 * Strict RFC 8259 JSON (one value, optional surrounding whitespace), with
 * limits so a hostile file cannot exhaust the machine: nesting depth at most
 * JV_MAX_DEPTH, text at most JV_MAX_TEXT bytes. Strings are decoded (escapes,
 * \uXXXX with surrogate pairs, to UTF-8); a \u0000 escape is refused (keys and
 * values are C strings). Numbers are doubles (strtod, locale-independent
 * grammar checked first). Duplicate keys: jv_get returns the first.
 * Accessors take NULL and wrong types gracefully, so chains never crash.
 */
#ifndef MEDSSL_JSONR_H
#define MEDSSL_JSONR_H

#include <stddef.h>

enum { JV_MAX_DEPTH = 64 };
#define JV_MAX_TEXT ((size_t)256 << 20)

typedef enum { JV_NULL, JV_FALSE, JV_TRUE, JV_NUM, JV_STR, JV_ARR, JV_OBJ } ms_jv_type;

typedef struct ms_jv ms_jv;
struct ms_jv {
    ms_jv_type type;
    double num;        /* JV_NUM */
    char *str;         /* JV_STR: decoded, NUL-terminated */
    size_t n;          /* JV_ARR, JV_OBJ: number of items */
    ms_jv *items;      /* JV_ARR, JV_OBJ: (n) values */
    char **keys;       /* JV_OBJ: (n) decoded keys */
};

/* Parses text[0..len) (need not be NUL-terminated). MS_OK with *out set, or
 * MS_ERR_INPUT with *out = NULL and err holding "line L, column C: what was
 * expected" (nothing allocated is left behind). */
int jv_parse(const char *text, size_t len, ms_jv **out, char *err, size_t errcap);
void jv_free(ms_jv *v);

/* The member `key` of an object; NULL if v is NULL, not an object, or has no such key. */
const ms_jv *jv_get(const ms_jv *v, const char *key);
/* Item i of an array; NULL if v is not an array or i is out of range. */
const ms_jv *jv_at(const ms_jv *v, size_t i);
/* Items of an array or object; 0 for anything else (and NULL). */
size_t jv_len(const ms_jv *v);
/* The number; dflt if v is NULL or not a number (null is not a number). */
double jv_num(const ms_jv *v, double dflt);
/* The string; NULL if v is NULL or not a string. */
const char *jv_str(const ms_jv *v);
/* 1 for true, 0 for false; dflt for anything else. */
int jv_bool(const ms_jv *v, int dflt);

#endif
