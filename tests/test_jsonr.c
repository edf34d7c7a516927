/* test_jsonr — the JSON reader (src/core/jsonr.c): exact trees for small
 * texts (nesting, every escape, surrogate pairs to 4-byte UTF-8, the number
 * grammar and range), every refusal with its message and position, the depth
 * limit at 64/65, accessors on NULL and wrong types, duplicate keys (first
 * wins), and what the writer (json.h) prints, compact and pretty, reading
 * back to the values written. */
#include "medssl/common.h"
#include "medssl/json.h"
#include "medssl/jsonr.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a NUL-terminated text that must be valid. */
static ms_jv *parse_ok(const char *text)
{
    ms_jv *v = NULL;
    char err[160];
    const int rc = jv_parse(text, strlen(text), &v, err, sizeof err);
    TU_CHECKF(rc == MS_OK && v != NULL, "'%s': rc %d: %s", text, rc, err);
    return v;
}

/* Parses text[0..len) that must be refused; the message must start with want
 * (NULL: only "line "). */
static void parse_refused(const char *text, size_t len, const char *want)
{
    static ms_jv sentinel;
    ms_jv *v = &sentinel; /* must be reset to NULL */
    char err[160];
    const int rc = jv_parse(text, len, &v, err, sizeof err);
    TU_CHECKF(rc == MS_ERR_INPUT, "'%.*s': rc %d", (int)len, text, rc);
    TU_CHECK(v == NULL);
    TU_CHECKF(strncmp(err, want ? want : "line ", strlen(want ? want : "line ")) == 0, "'%.*s': got '%s', want '%s'",
              (int)len, text, err, want ? want : "line ...");
    TU_CHECKF(strcmp(ms_last_error(), err) == 0, "last error '%s' vs '%s'", ms_last_error(), err);
    if (rc == MS_OK) jv_free(v);
}

#define REFUSED(text, want) parse_refused((text), sizeof(text) - 1, (want))

static void nested_values(void)
{
    ms_jv *v = parse_ok(" {\"a\": [1, 2.5, {\"b\": null}], \"t\": true, \"f\": false, \"s\": \"x\", \"e\": {}, \"z\": []}\n");
    if (!v) return;
    TU_CHECK(v->type == JV_OBJ && jv_len(v) == 6);
    const ms_jv *a = jv_get(v, "a");
    TU_CHECK(a && a->type == JV_ARR && jv_len(a) == 3);
    TU_CHECK(jv_num(jv_at(a, 0), NAN) == 1.0);
    TU_CHECK(jv_num(jv_at(a, 1), NAN) == 2.5);
    const ms_jv *b = jv_get(jv_at(a, 2), "b");
    TU_CHECK(b && b->type == JV_NULL);
    TU_CHECK(jv_bool(jv_get(v, "t"), -1) == 1);
    TU_CHECK(jv_bool(jv_get(v, "f"), -1) == 0);
    TU_CHECK(strcmp(jv_str(jv_get(v, "s")), "x") == 0);
    TU_CHECK(jv_get(v, "e")->type == JV_OBJ && jv_len(jv_get(v, "e")) == 0);
    TU_CHECK(jv_get(v, "z")->type == JV_ARR && jv_len(jv_get(v, "z")) == 0);
    TU_CHECK(strcmp(v->keys[5], "z") == 0);
    jv_free(v);

    /* scalars at the top level; the text need not be NUL-terminated */
    ms_jv *w = NULL;
    TU_CHECK(jv_parse("[1]xyz", 3, &w, NULL, 0) == MS_OK && jv_len(w) == 1);
    jv_free(w);
    TU_CHECK(jv_parse("712", 1, &w, NULL, 0) == MS_OK && jv_num(w, 0) == 7.0);
    jv_free(w);
    w = parse_ok("\t\r\n null \n");
    TU_CHECK(w && w->type == JV_NULL);
    jv_free(w);

    /* growth past the first capacities */
    char big[8192];
    size_t len = 0;
    big[len++] = '[';
    for (int i = 0; i < 1000; i++) len += (size_t)snprintf(big + len, sizeof big - len, i ? ",%d" : "%d", i);
    big[len++] = ']';
    big[len] = 0;
    w = parse_ok(big);
    TU_CHECK(jv_len(w) == 1000 && jv_num(jv_at(w, 999), 0) == 999.0 && jv_at(w, 1000) == NULL);
    jv_free(w);
}

static void every_escape(void)
{
    ms_jv *v = parse_ok("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\u20AC \\uD83D\\ude00 \\u007f \xc3\xa9\"");
    const char *want = "\" \\ / \b \f \n \r \t A \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f \xc3\xa9";
    TU_CHECKF(v && strcmp(jv_str(v), want) == 0, "got '%s'", v ? jv_str(v) : "(none)");
    jv_free(v);
    /* the largest code point: U+10FFFF */
    v = parse_ok("[\"\\uDBFF\\uDFFF\", \"\"]");
    TU_CHECK(v && strcmp(jv_str(jv_at(v, 0)), "\xf4\x8f\xbf\xbf") == 0 && strcmp(jv_str(jv_at(v, 1)), "") == 0);
    jv_free(v);
    /* escaped key */
    v = parse_ok("{\"a\\tb\": 1, \"\": 2}");
    TU_CHECK(jv_num(jv_get(v, "a\tb"), 0) == 1.0 && jv_num(jv_get(v, ""), 0) == 2.0);
    jv_free(v);
}

static void numbers(void)
{
    static const struct { const char *text; double want; } cases[] = {
        {"0", 0.0}, {"-0", -0.0}, {"1e-3", 1e-3}, {"1E+2", 100.0}, {"-12.25e1", -122.5}, {"0.5", 0.5},
        {"123456789012345678901234567890", 1.2345678901234568e29}, {"1e308", 1e308}, {"-1.7976931348623157e308", -1.7976931348623157e308},
        {"1e-400", 0.0}, {"4.9e-324", 4.9e-324}, {"10E0", 10.0}, {"1e0001", 10.0},
        {"0.0000000000000000000000000000000000000000000000000000000000000000000000000001", 1e-76}, /* > 64 bytes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ms_jv *v = parse_ok(cases[i].text);
        TU_CHECKF(v && v->type == JV_NUM && v->num == cases[i].want && !signbit(v->num) == !signbit(cases[i].want),
                  "'%s' -> %.17g, want %.17g", cases[i].text, v ? v->num : NAN, cases[i].want);
        jv_free(v);
    }
    REFUSED("1e309", "line 1, column 1: expected a number within the range of a double");
    REFUSED("-1e999", "line 1, column 1: expected a number within the range of a double");
}

static void refusals(void)
{
    REFUSED("[1,]", "line 1, column 4: expected a value");
    REFUSED("{\"a\": 1,}", "line 1, column 9: expected a string key");
    REFUSED("01", "line 1, column 2: expected no digit after a leading 0");
    REFUSED("-01", "line 1, column 3: expected no digit after a leading 0");
    REFUSED("\"abc", "line 1, column 5: expected '\"' to close the string");
    REFUSED("\"abc\\", "line 1, column 6: expected '\"' to close the string");
    REFUSED("\"a\\x\"", "line 1, column 3: expected an escape");
    REFUSED("\"\\u12g4\"", "line 1, column 4: expected 4 hex digits after \\u");
    REFUSED("\"\\u12\"", "line 1, column 4: expected 4 hex digits after \\u");
    REFUSED("\"\\ud800\"", "line 1, column 8: expected a low surrogate");
    REFUSED("\"\\ud800\\u0041\"", "line 1, column 8: expected a low surrogate");
    REFUSED("\"\\udc00\"", "line 1, column 2: expected a high surrogate");
    REFUSED("\"\\u0000\"", "line 1, column 2: expected no \\u0000");
    REFUSED("\"a\x01\"", "line 1, column 3: expected an escape (\\u0001) for the control byte 0x01");
    REFUSED("\"a\tb\"", "line 1, column 3: expected an escape");
    REFUSED("\"a\nb\"", "line 1, column 3: expected an escape");
    REFUSED("1 2", "line 1, column 3: expected the end of the text");
    REFUSED("", "line 1, column 1: expected a value");
    REFUSED(" \n ", "line 2, column 2: expected a value");
    REFUSED("+1", "line 1, column 1: expected a value");
    REFUSED(".5", "line 1, column 1: expected a value");
    REFUSED("1.", "line 1, column 3: expected a digit after '.'");
    REFUSED("1.e3", "line 1, column 3: expected a digit after '.'");
    REFUSED("1e", "line 1, column 3: expected a digit in the exponent");
    REFUSED("1e+", "line 1, column 4: expected a digit in the exponent");
    REFUSED("-", "line 1, column 2: expected a digit");
    REFUSED("-a", "line 1, column 2: expected a digit");
    REFUSED("NaN", "line 1, column 1: expected a value");
    REFUSED("Infinity", "line 1, column 1: expected a value");
    REFUSED("-Infinity", "line 1, column 2: expected a digit");
    REFUSED("tru", "line 1, column 1: expected 'true'");
    REFUSED("nul", "line 1, column 1: expected 'null'");
    REFUSED("fals", "line 1, column 1: expected 'false'");
    REFUSED("truex", "line 1, column 5: expected the end of the text");
    REFUSED("[1 2]", "line 1, column 4: expected ',' or ']'");
    REFUSED("{\"a\" 1}", "line 1, column 6: expected ':'");
    REFUSED("{1: 2}", "line 1, column 2: expected a string key");
    REFUSED("{\"a\":}", "line 1, column 6: expected a value");
    REFUSED("{\"a\": 1 \"b\": 2}", "line 1, column 9: expected ',' or '}'");
    REFUSED("[", "line 1, column 2: expected a value");
    REFUSED("[1", "line 1, column 3: expected ',' or ']'");
    REFUSED("{", "line 1, column 2: expected a string key");
    REFUSED("]", "line 1, column 1: expected a value");
    REFUSED("'a'", "line 1, column 1: expected a value");
    REFUSED("[1]]", "line 1, column 4: expected the end of the text");
    REFUSED("\"a\"\0", "line 1, column 4: expected the end of the text"); /* a NUL byte inside len */
    /* a refusal deep inside a partial tree leaves nothing behind (checked by ASan's leak check) */
    REFUSED("{\"a\": [1, {\"b\": [\"x\", \"y\", {\"c\": \"\\ud800\"}]}]}", "line 1, column 41: expected a low surrogate");
    /* err may be absent; ms_last_error still has the message */
    ms_jv *v = NULL;
    TU_CHECK(jv_parse("[", 1, &v, NULL, 0) == MS_ERR_INPUT && v == NULL);
    TU_CHECK(strcmp(ms_last_error(), "line 1, column 2: expected a value") == 0);
    char tiny[8];
    TU_CHECK(jv_parse("[", 1, &v, tiny, sizeof tiny) == MS_ERR_INPUT && strcmp(tiny, "line 1,") == 0);
}

static void error_positions(void)
{
    REFUSED("{\n  \"a\" 1}", "line 2, column 7: expected ':'");
    REFUSED("[\n\t01]", "line 2, column 3: expected no digit after a leading 0");
    REFUSED("{\"a\": 1,\n \"b\": [true,\n  false,\n  nope]}", "line 4, column 3: expected 'null'");
    REFUSED("[1,\r\n2,\r\n]", "line 3, column 1: expected a value");
}

static void depth_limit(void)
{
    /* {"":[{"":[ ... ]}]}: objects and arrays alternate, depth 64 then 65 */
    for (int depth = JV_MAX_DEPTH; depth <= JV_MAX_DEPTH + 1; depth++) {
        char buf[6 * (JV_MAX_DEPTH + 1) + 1];
        size_t n = 0;
        for (int i = 0; i < depth; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", i % 2 ? "[" : "{\"\":");
        for (int i = depth - 1; i >= 0; i--) buf[n++] = i % 2 ? ']' : '}';
        buf[n] = 0;
        ms_jv *v = NULL;
        char err[160];
        const int rc = jv_parse(buf, n, &v, err, sizeof err);
        if (depth == JV_MAX_DEPTH) {
            TU_CHECKF(rc == MS_OK, "depth %d: %s", depth, err);
            const ms_jv *inner = v;
            for (int i = 1; i < depth; i++) inner = i % 2 ? jv_get(inner, "") : jv_at(inner, 0);
            TU_CHECK(inner && inner->type == JV_ARR && jv_len(inner) == 0);
        } else {
            TU_CHECK(rc == MS_ERR_INPUT && v == NULL);
            /* 32 x {"": and 32 x [ before the 65th opener: column 32*4 + 32 + 1 */
            TU_CHECKF(strcmp(err, "line 1, column 161: expected at most 64 nested arrays and objects") == 0, "%s", err);
        }
        jv_free(v);
    }
    char arrays[2 * (JV_MAX_DEPTH + 1)];
    memset(arrays, '[', JV_MAX_DEPTH + 1);
    memset(arrays + JV_MAX_DEPTH + 1, ']', JV_MAX_DEPTH + 1);
    parse_refused(arrays, sizeof arrays, "line 1, column 65: expected at most 64 nested arrays and objects");
    ms_jv *v = NULL;
    TU_CHECK(jv_parse(arrays + 1, 2 * JV_MAX_DEPTH, &v, NULL, 0) == MS_OK);
    jv_free(v);
}

static void accessors(void)
{
    TU_CHECK(jv_get(NULL, "a") == NULL && jv_at(NULL, 0) == NULL && jv_len(NULL) == 0);
    TU_CHECK(jv_num(NULL, 3.0) == 3.0 && jv_str(NULL) == NULL && jv_bool(NULL, -1) == -1);
    TU_CHECK(isnan(jv_num(jv_get(jv_get(NULL, "a"), "b"), NAN)));
    jv_free(NULL);
    ms_jv *v = parse_ok("{\"arr\": [1], \"num\": 2, \"str\": \"s\", \"nul\": null, \"obj\": {\"k\": 1}, \"a\": 1, \"a\": 2}");
    if (!v) return;
    const ms_jv *arr = jv_get(v, "arr"), *num = jv_get(v, "num"), *str = jv_get(v, "str"), *nul = jv_get(v, "nul"),
                *obj = jv_get(v, "obj");
    TU_CHECK(jv_get(arr, "a") == NULL && jv_get(num, "a") == NULL && jv_get(v, "missing") == NULL);
    TU_CHECK(jv_get(v, NULL) == NULL);
    TU_CHECK(jv_at(obj, 0) == NULL && jv_at(num, 0) == NULL && jv_at(arr, 1) == NULL && jv_at(arr, 0) != NULL);
    TU_CHECK(jv_len(num) == 0 && jv_len(str) == 0 && jv_len(obj) == 1 && jv_len(arr) == 1);
    TU_CHECK(jv_num(nul, 7.0) == 7.0 && jv_num(str, 7.0) == 7.0 && jv_num(num, 7.0) == 2.0);
    TU_CHECK(jv_str(num) == NULL && jv_str(nul) == NULL && strcmp(jv_str(str), "s") == 0);
    TU_CHECK(jv_bool(num, -1) == -1 && jv_bool(nul, -1) == -1 && jv_bool(str, 5) == 5);
    /* duplicate keys: both kept, jv_get returns the first */
    TU_CHECK(jv_len(v) == 7 && jv_num(jv_get(v, "a"), 0) == 1.0 && jv_num(&v->items[6], 0) == 2.0);
    jv_free(v);
}

/* What json.h writes reads back to the values written: strings with every
 * byte the writer escapes, non-finite numbers as null, nesting, inline levels. */
static void writer_round_trip(void)
{
    const char *weird = "q\"b\\s/n\nt\tr\r\x01\x1f\x7f\xc3\xa9<script>";
    for (int pretty = 0; pretty <= 1; pretty++) {
        ms_json j;
        json_begin(&j, pretty);
        json_object(&j, NULL);
        json_int(&j, "step", 12);
        json_int(&j, "neg", -9007199254740993LL);
        json_num(&j, "loss", 0.1 + 0.2, 17);
        json_num(&j, "nan", NAN, 6);
        json_num(&j, "inf", -INFINITY, 6);
        json_fixed(&j, "ips", 1234.5678, 2);
        json_fixed(&j, "big", 1e300, 2);
        json_str(&j, weird, weird);
        json_str(&j, "none", NULL);
        json_bool(&j, "t", 1);
        json_bool(&j, "f", 0);
        json_null(&j, "z");
        json_array(&j, "per_class");
        json_object_inline(&j, NULL);
        json_num(&j, "dsc", 0.5, 4);
        json_array_inline(&j, "ci");
        json_num(&j, NULL, 0.1, 4);
        json_num(&j, NULL, -0.0, 4);
        json_end(&j);
        json_end(&j);
        json_array(&j, NULL);
        json_end(&j);
        json_end(&j);
        json_object(&j, "empty");
        json_end(&j);
        json_raw(&j, "env", "{\"a\": [1, \"x\"]}");
        json_end(&j);

        ms_jv *v = parse_ok(json_text(&j));
        json_free(&j);
        if (!v) continue;
        TU_CHECK(jv_len(v) == 15);
        TU_CHECK(jv_num(jv_get(v, "step"), 0) == 12.0);
        TU_CHECK(jv_num(jv_get(v, "neg"), 0) == -9007199254740992.0); /* nearest double */
        TU_CHECK(jv_num(jv_get(v, "loss"), 0) == 0.1 + 0.2);           /* %.17g is exact */
        TU_CHECK(jv_get(v, "nan")->type == JV_NULL && isnan(jv_num(jv_get(v, "nan"), NAN)));
        TU_CHECK(jv_get(v, "inf")->type == JV_NULL);
        TU_CHECK(jv_num(jv_get(v, "ips"), 0) == 1234.57);
        TU_CHECK(jv_num(jv_get(v, "big"), 0) == 1e300);
        TU_CHECK(jv_str(jv_get(v, weird)) && strcmp(jv_str(jv_get(v, weird)), weird) == 0);
        TU_CHECK(jv_get(v, "none")->type == JV_NULL);
        TU_CHECK(jv_bool(jv_get(v, "t"), -1) == 1 && jv_bool(jv_get(v, "f"), -1) == 0);
        TU_CHECK(jv_get(v, "z")->type == JV_NULL);
        const ms_jv *pc = jv_get(v, "per_class");
        TU_CHECK(jv_len(pc) == 2 && jv_num(jv_get(jv_at(pc, 0), "dsc"), 0) == 0.5);
        const ms_jv *ci = jv_get(jv_at(pc, 0), "ci");
        TU_CHECK(jv_len(ci) == 2 && jv_num(jv_at(ci, 0), 0) == 0.1 && signbit(jv_num(jv_at(ci, 1), 0)));
        TU_CHECK(jv_at(pc, 1)->type == JV_ARR && jv_len(jv_at(pc, 1)) == 0);
        TU_CHECK(jv_get(v, "empty")->type == JV_OBJ && jv_len(jv_get(v, "empty")) == 0);
        TU_CHECK(strcmp(jv_str(jv_at(jv_get(jv_get(v, "env"), "a"), 1)), "x") == 0);
        jv_free(v);
    }
}

int main(void)
{
    TU_RUN(nested_values);
    TU_RUN(every_escape);
    TU_RUN(numbers);
    TU_RUN(refusals);
    TU_RUN(error_positions);
    TU_RUN(depth_limit);
    TU_RUN(accessors);
    TU_RUN(writer_round_trip);
    return tu_summary();
}
