/* augment_parse — the text form of an augmentation pipeline (see augment.h).
 *
 * Grammar: "" | "none" | op (',' op)*, op = NAME [':' ARGS] ['@' P]. What ARGS
 * look like and which values they may take is one row per op kind in
 * `syntax_table`; every rejection names the op and the expected form, e.g.
 *   augment: rotate:abc: 'abc' is not a number; expected rotate:DEGREES (a number in [0, 180])
 * Nothing is defaulted silently except the probability, whose default is in
 * the table too. augment_format writes the canonical text, numbers in their
 * shortest form that reads back to the same float.
 */
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/list.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[AUG__COUNT] = {
    "flip", "rotate", "crop", "shift", "scale", "noise", "elastic",
    "brightness", "contrast", "gamma",
};
_Static_assert(sizeof kind_names / sizeof *kind_names == AUG__COUNT, "one name per ms_aug_kind");

const char *augment_kind_name(ms_aug_kind kind)
{
    return (unsigned)kind < AUG__COUNT ? kind_names[kind] : "?";
}

/* Allowed values of one number: [lo, hi], or (lo, hi] when lo_open. */
typedef struct {
    float lo, hi;
    int lo_open;
} num_range;

typedef enum {
    ARGS_FLIP,   /* h | v | hv               -> a = horizontal, b = vertical */
    ARGS_ONE,    /* X                        -> a */
    ARGS_TWO,    /* X:Y                      -> a, b (ranges r[0], r[1]) */
    ARGS_RANGE,  /* LO-HI, LO <= HI          -> a, b (both in r[0]) */
} args_form;

typedef struct {
    args_form form;
    num_range r[2];
    float default_prob;
    const char *expected; /* the op's form and ranges, quoted in every error */
} op_syntax;

#define BIG 3.0e38f /* "no upper bound" (still finite: inf and nan are rejected) */

static const op_syntax syntax_table[AUG__COUNT] = {
    [AUG_FLIP]       = { ARGS_FLIP,  {{0, 0, 0}, {0, 0, 0}}, 0.5f,
                         "flip:h, flip:v or flip:hv" },
    [AUG_ROTATE]     = { ARGS_ONE,   {{0, 180, 0}, {0, 0, 0}}, 1.0f,
                         "rotate:DEGREES (a number in [0, 180])" },
    [AUG_CROP]       = { ARGS_ONE,   {{0, 1, 1}, {0, 0, 0}}, 1.0f,
                         "crop:F (the side as a fraction in (0, 1])" },
    [AUG_SHIFT]      = { ARGS_ONE,   {{0, 1, 0}, {0, 0, 0}}, 1.0f,
                         "shift:F (the largest shift as a fraction of the side, in [0, 1])" },
    [AUG_SCALE]      = { ARGS_RANGE, {{0, 10, 1}, {0, 0, 0}}, 1.0f,
                         "scale:LO-HI (zoom factors, 0 < LO <= HI <= 10)" },
    [AUG_NOISE]      = { ARGS_ONE,   {{0, BIG, 0}, {0, 0, 0}}, 1.0f,
                         "noise:SIGMA (a standard deviation >= 0)" },
    [AUG_ELASTIC]    = { ARGS_TWO,   {{0, BIG, 0}, {0, 64, 1}}, 1.0f,
                         "elastic:ALPHA:SIGMA (pixels, ALPHA >= 0, 0 < SIGMA <= 64)" },
    [AUG_BRIGHTNESS] = { ARGS_ONE,   {{0, BIG, 0}, {0, 0, 0}}, 1.0f,
                         "brightness:B (a number >= 0)" },
    [AUG_CONTRAST]   = { ARGS_ONE,   {{0, 1, 0}, {0, 0, 0}}, 1.0f,
                         "contrast:C (a number in [0, 1])" },
    [AUG_GAMMA]      = { ARGS_RANGE, {{0, 10, 1}, {0, 0, 0}}, 1.0f,
                         "gamma:LO-HI (exponents, 0 < LO <= HI <= 10)" },
};
_Static_assert(sizeof syntax_table / sizeof *syntax_table == AUG__COUNT,
               "one syntax row per ms_aug_kind");

static int in_range(float x, num_range r)
{
    return (r.lo_open ? x > r.lo : x >= r.lo) && x <= r.hi;
}

/* Reads a finite decimal number from the start of s; *end points past it.
 * Only [0-9.eE+-] may appear, so no hex floats, "inf", "nan" or spaces. */
static int read_number(const char *s, float *out, const char **end)
{
    size_t n = strspn(s, "0123456789.eE+-");
    if (n == 0) return 0;
    char buf[64];
    if (n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *e;
    float x = strtof(buf, &e);
    if (e == buf || !isfinite(x)) return 0;
    *out = x;
    *end = s + (e - buf);
    return 1;
}

/* One failure message: "augment: ITEM: WHY; expected FORM". */
static int parse_fail(const char *item, ms_aug_kind kind, const char *why)
{
    return MS_FAIL(MS_ERR_INPUT, "augment: %s: %s; expected %s", item, why,
                   syntax_table[kind].expected);
}

/* A number that must span the whole of `text`, within r. */
static int parse_number(const char *item, ms_aug_kind kind, const char *text, num_range r,
                        float *out)
{
    char why[160];
    const char *end;
    if (!read_number(text, out, &end) || *end != 0) {
        snprintf(why, sizeof why, "'%s' is not a number", text);
        return parse_fail(item, kind, why);
    }
    if (!in_range(*out, r)) {
        snprintf(why, sizeof why, "%s is out of range", text);
        return parse_fail(item, kind, why);
    }
    return MS_OK;
}

/* The part after "NAME:" (args may be NULL when there was no ':'). */
static int parse_args(ms_aug_op *op, const char *item, const char *args)
{
    const op_syntax *syn = &syntax_table[op->kind];
    char why[160];
    if (!args || !*args) return parse_fail(item, op->kind, "missing parameter");
    switch (syn->form) {
    case ARGS_FLIP:
        if (strcmp(args, "h") == 0) { op->a = 1; op->b = 0; }
        else if (strcmp(args, "v") == 0) { op->a = 0; op->b = 1; }
        else if (strcmp(args, "hv") == 0) { op->a = 1; op->b = 1; }
        else {
            snprintf(why, sizeof why, "unknown axis '%s'", args);
            return parse_fail(item, op->kind, why);
        }
        return MS_OK;
    case ARGS_ONE:
        if (strchr(args, ':')) return parse_fail(item, op->kind, "too many parameters");
        return parse_number(item, op->kind, args, syn->r[0], &op->a);
    case ARGS_TWO: {
        const char *colon = strchr(args, ':');
        if (!colon) return parse_fail(item, op->kind, "missing parameter");
        if (strchr(colon + 1, ':')) return parse_fail(item, op->kind, "too many parameters");
        char first[64];
        size_t n = (size_t)(colon - args);
        if (n >= sizeof first) return parse_fail(item, op->kind, "parameter too long");
        memcpy(first, args, n);
        first[n] = 0;
        int rc = parse_number(item, op->kind, first, syn->r[0], &op->a);
        if (rc) return rc;
        return parse_number(item, op->kind, colon + 1, syn->r[1], &op->b);
    }
    case ARGS_RANGE: {
        if (strchr(args, ':')) return parse_fail(item, op->kind, "too many parameters");
        const char *end;
        if (!read_number(args, &op->a, &end) || *end != '-' || !end[1]) {
            snprintf(why, sizeof why, "'%s' is not a range LO-HI", args);
            return parse_fail(item, op->kind, why);
        }
        const char *hi = end + 1;
        if (!read_number(hi, &op->b, &end) || *end != 0) {
            snprintf(why, sizeof why, "'%s' is not a range LO-HI", args);
            return parse_fail(item, op->kind, why);
        }
        if (!in_range(op->a, syn->r[0]) || !in_range(op->b, syn->r[0])) {
            snprintf(why, sizeof why, "%s is out of range", args);
            return parse_fail(item, op->kind, why);
        }
        if (op->a > op->b) {
            snprintf(why, sizeof why, "LO > HI in %s", args);
            return parse_fail(item, op->kind, why);
        }
        return MS_OK;
    }
    }
    return parse_fail(item, op->kind, "internal: unknown argument form");
}

/* One op, `item` a NUL-terminated copy without surrounding blanks. */
static int parse_op(ms_aug_op *op, const char *item)
{
    char name[64], args[128], body[128];
    const char *at = strchr(item, '@');
    size_t body_len = at ? (size_t)(at - item) : strlen(item);
    if (body_len >= sizeof body)
        return MS_FAIL(MS_ERR_INPUT, "augment: %s: op text too long", item);
    memcpy(body, item, body_len);
    body[body_len] = 0;

    const char *colon = strchr(body, ':');
    size_t name_len = colon ? (size_t)(colon - body) : body_len;
    if (name_len >= sizeof name) name_len = sizeof name - 1;
    memcpy(name, body, name_len);
    name[name_len] = 0;
    int kind = -1;
    for (int k = 0; k < AUG__COUNT; k++)
        if (strcmp(kind_names[k], name) == 0) kind = k;
    if (kind < 0) {
        char known[160] = "";
        for (int k = 0; k < AUG__COUNT; k++) {
            strcat(known, kind_names[k]);
            if (k + 1 < AUG__COUNT) strcat(known, ", ");
        }
        return MS_FAIL(MS_ERR_INPUT, "augment: %s: unknown op '%s'; expected one of %s",
                       item, name, known);
    }
    memset(op, 0, sizeof *op);
    op->kind = (ms_aug_kind)kind;
    op->prob = syntax_table[kind].default_prob;
    if (colon) snprintf(args, sizeof args, "%s", colon + 1);
    int rc = parse_args(op, item, colon ? args : NULL);
    if (rc) return rc;

    if (at) {
        const char *p = at + 1, *end;
        if (!read_number(p, &op->prob, &end) || *end != 0 || !(op->prob >= 0 && op->prob <= 1))
            return MS_FAIL(MS_ERR_INPUT,
                           "augment: %s: probability '%s' is not a number in [0, 1]; "
                           "expected %s@P", item, p, kind_names[kind]);
    }
    return MS_OK;
}

int augment_parse(ms_augment *aug, const char *text)
{
    ms_augment out;
    memset(&out, 0, sizeof out);
    const char *s = text ? text : "";
    while (*s == ' ' || *s == '\t') s++;
    if (*s == 0 || strcmp(s, "none") == 0) {
        *aug = out;
        return MS_OK;
    }
    const char *cur = s;
    char item[160];
    for (int pos = 1, r; (r = ms_list_next(&cur, ',', item, sizeof item)) != MS_LIST_END; pos++) {
        if (r == MS_LIST_EMPTY)
            return MS_FAIL(MS_ERR_INPUT, "augment: empty op at position %d of '%s'; "
                           "expected ops separated by single commas", pos, text);
        if (r == MS_LIST_TOO_LONG)
            return MS_FAIL(MS_ERR_INPUT, "augment: op %d of '%s' is too long", pos, text);
        if (out.n_ops == AUG_MAX_OPS)
            return MS_FAIL(MS_ERR_INPUT, "augment: %s: more than %d ops", item, AUG_MAX_OPS);
        int rc = parse_op(&out.ops[out.n_ops], item);
        if (rc) return rc;
        out.n_ops++;
    }
    *aug = out;
    return MS_OK;
}

/* Shortest %g text of x that strtof reads back as exactly x, without an
 * exponent when one is not needed ("180", not "1.8e+02"). */
static void format_number(char *buf, size_t cap, float x)
{
    for (int pass = 0; pass < 2; pass++)
        for (int prec = 1; prec <= 9; prec++) {
            snprintf(buf, cap, "%.*g", prec, (double)x);
            if (strtof(buf, NULL) == x && (pass == 1 || !strchr(buf, 'e'))) return;
        }
}

void augment_format(const ms_augment *aug, char *buf, size_t cap)
{
    if (cap == 0) return;
    buf[0] = 0;
    if (aug->n_ops == 0) {
        snprintf(buf, cap, "none");
        return;
    }
    size_t len = 0;
    for (int i = 0; i < aug->n_ops; i++) {
        const ms_aug_op *op = &aug->ops[i];
        const op_syntax *syn = &syntax_table[op->kind];
        char item[160], a[32], b[32], p[32];
        format_number(a, sizeof a, op->a);
        format_number(b, sizeof b, op->b);
        switch (syn->form) {
        case ARGS_FLIP:
            snprintf(item, sizeof item, "flip:%s%s", op->a != 0 ? "h" : "", op->b != 0 ? "v" : "");
            break;
        case ARGS_ONE: snprintf(item, sizeof item, "%s:%s", kind_names[op->kind], a); break;
        case ARGS_TWO: snprintf(item, sizeof item, "%s:%s:%s", kind_names[op->kind], a, b); break;
        case ARGS_RANGE: snprintf(item, sizeof item, "%s:%s-%s", kind_names[op->kind], a, b); break;
        }
        if (op->prob != syn->default_prob) {
            format_number(p, sizeof p, op->prob);
            size_t n = strlen(item);
            snprintf(item + n, sizeof item - n, "@%s", p);
        }
        int w = snprintf(buf + len, cap - len, "%s%s", i ? "," : "", item);
        if (w < 0 || (size_t)w >= cap - len) return; /* truncated, still terminated */
        len += (size_t)w;
    }
}
