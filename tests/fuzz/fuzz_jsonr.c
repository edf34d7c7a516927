/* fuzz_jsonr — jv_parse (src/core/jsonr.c) on the input bytes as they are
 * (not NUL-terminated, so a read past the end is an ASan report). A text that
 * parses is written back with the json.h writer, compact and pretty, and must
 * parse again to the same tree (types, keys, strings, numbers bit for bit);
 * anything else must be a clean MS_ERR_INPUT with the message in err. Trees
 * nested deeper than the writer's JSON_MAX_DEPTH are not written back. */
#include "fuzz_common.h"
#include "medssl/common.h"
#include "medssl/json.h"
#include "medssl/jsonr.h"

static int depth_of(const ms_jv *v)
{
    int d = 0;
    for (size_t i = 0; i < jv_len(v); i++) {
        const int di = depth_of(&v->items[i]);
        if (di > d) d = di;
    }
    return (v->type == JV_ARR || v->type == JV_OBJ) + d;
}

static void write_value(ms_json *j, const char *key, const ms_jv *v)
{
    switch (v->type) {
    case JV_NULL: json_null(j, key); break;
    case JV_FALSE: json_bool(j, key, 0); break;
    case JV_TRUE: json_bool(j, key, 1); break;
    case JV_NUM: json_num(j, key, v->num, 17); break;
    case JV_STR: json_str(j, key, v->str); break;
    case JV_ARR:
    case JV_OBJ:
        if (v->type == JV_ARR) json_array(j, key);
        else json_object(j, key);
        for (size_t i = 0; i < v->n; i++) write_value(j, v->type == JV_OBJ ? v->keys[i] : NULL, &v->items[i]);
        json_end(j);
        break;
    }
}

static int same(const ms_jv *a, const ms_jv *b)
{
    if (a->type != b->type) return 0;
    if (a->type == JV_NUM) return memcmp(&a->num, &b->num, sizeof a->num) == 0;
    if (a->type == JV_STR) return strcmp(a->str, b->str) == 0;
    if (a->type != JV_ARR && a->type != JV_OBJ) return 1;
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->type == JV_OBJ && strcmp(a->keys[i], b->keys[i]) != 0) return 0;
        if (!same(&a->items[i], &b->items[i])) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_jv *v = NULL;
    char err[160] = "unset";
    const int rc = jv_parse((const char *)data, size, &v, err, sizeof err);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    if (rc == MS_ERR_INPUT) {
        if (v != NULL || strncmp(err, "line ", 5) != 0) abort();
        return 0;
    }
    if (v == NULL) abort();
    if (depth_of(v) <= JSON_MAX_DEPTH) {
        for (int pretty = 0; pretty <= 1; pretty++) {
            ms_json j;
            json_begin(&j, pretty);
            write_value(&j, NULL, v);
            ms_jv *again = NULL;
            if (jv_parse(json_text(&j), json_length(&j), &again, err, sizeof err) != MS_OK) {
                fprintf(stderr, "written text does not parse: %s\n%s\n", err, json_text(&j));
                abort();
            }
            if (!same(v, again)) {
                fprintf(stderr, "written text parses to another tree:\n%s\n", json_text(&j));
                abort();
            }
            jv_free(again);
            json_free(&j);
        }
    }
    jv_free(v);
    return 0;
}
