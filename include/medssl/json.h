/* json — the one writer of every JSON text medssl prints or stores
 * (metrics.jsonl lines, metrics.json, inspect --json, bench --json, the
 * run environment). Strings are escaped (quote, backslash and control bytes;
 * bytes >= 0x80 pass through, so UTF-8 stays UTF-8), and a number that is not
 * finite is written as null: whatever a run produces, the output parses.
 *
 * The text grows in a buffer owned by the writer:
 *
 *     ms_json j;
 *     json_begin(&j, 0);
 *     json_object(&j, NULL);
 *     json_int(&j, "step", 12);
 *     json_num(&j, "loss", loss, 6);      // null when loss is NaN/Inf
 *     json_str(&j, "path", path);         // escaped
 *     json_end(&j);
 *     fputs(json_text(&j), f);
 *     json_free(&j);
 *
 * Compact output is `{"step": 12, "loss": 0.25}` on one line; pretty output
 * puts each member on its own line, indented two spaces per level. Keys are
 * escaped like values. Member calls take the key (NULL inside arrays and for
 * the outermost value).
 */
#ifndef MEDSSL_JSON_H
#define MEDSSL_JSON_H

#include <stddef.h>

enum { JSON_MAX_DEPTH = 16 };

typedef struct {
    char *buf;
    size_t len, cap;
    int pretty;
    int depth;                       /* open objects/arrays */
    char closer[JSON_MAX_DEPTH];     /* '}' or ']' per open level */
    unsigned char empty[JSON_MAX_DEPTH]; /* nothing written in this level yet */
    unsigned char inline_from;       /* levels >= this are written on one line (pretty mode) */
} ms_json;

void json_begin(ms_json *j, int pretty);
void json_free(ms_json *j);
const char *json_text(const ms_json *j); /* "" before anything is written */
size_t json_length(const ms_json *j);

void json_object(ms_json *j, const char *key);
void json_array(ms_json *j, const char *key);
/* Like json_object/json_array, but the level and everything inside it stays
 * on one line in pretty mode (rows of a table). */
void json_object_inline(ms_json *j, const char *key);
void json_array_inline(ms_json *j, const char *key);
void json_end(ms_json *j); /* closes the innermost open object or array */

void json_str(ms_json *j, const char *key, const char *s); /* NULL is written as null */
void json_num(ms_json *j, const char *key, double x, int digits); /* %.<digits>g; null unless finite */
void json_fixed(ms_json *j, const char *key, double x, int decimals); /* %.<decimals>f; null unless finite */
void json_int(ms_json *j, const char *key, long long v);
void json_bool(ms_json *j, const char *key, int v);
void json_null(ms_json *j, const char *key);
/* A value that is already JSON text (e.g. a stored environment object),
 * inserted as it is; the caller vouches for it. */
void json_raw(ms_json *j, const char *key, const char *json_text);

#endif
