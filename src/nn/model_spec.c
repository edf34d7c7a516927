/* model_spec — parsing and formatting the text spec of a model (see model.h).
 *
 * Grammar: part (';' part)*, part = kind ':' item (',' item)*, item = key '=' value
 * or a bare word for the head type ("head:linear,classes=4"). The first part
 * may leave out "encoder:" ("widths=32-64,convs=2", as the CLI help writes
 * it). Unknown parts, keys and values are errors that name what was expected:
 * a spec is a contract stored in checkpoints, so nothing is silently defaulted.
 */
#include "medssl/model.h"
#include "medssl/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const block_names[BLOCK__COUNT] = { "plain", "residual" };
static const char *const head_names[HEAD__COUNT] = { "none", "linear", "mlp" };
static const char *const up_names[UP__COUNT] = { "nearest", "bilinear" };
_Static_assert(sizeof block_names / sizeof *block_names == BLOCK__COUNT, "block names");
_Static_assert(sizeof head_names / sizeof *head_names == HEAD__COUNT, "head names");
_Static_assert(sizeof up_names / sizeof *up_names == UP__COUNT, "up names");

static int lookup(const char *const *names, int n, const char *word)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], word) == 0) return i;
    return -1;
}

static int parse_int(const char *v, int lo, int hi, int *out, const char *key)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end != 0 || x < lo || x > hi)
        return MS_FAIL(MS_ERR_INPUT, "model spec: %s=%s is not an integer in [%d, %d]", key, v, lo, hi);
    *out = (int)x;
    return MS_OK;
}

static int parse_float(const char *v, float lo, float hi, float *out, const char *key)
{
    char *end;
    float x = strtof(v, &end);
    if (*v == 0 || *end != 0 || !(x >= lo && x <= hi))
        return MS_FAIL(MS_ERR_INPUT, "model spec: %s=%s is not a number in [%g, %g]", key, v, lo, hi);
    *out = x;
    return MS_OK;
}

static int parse_widths(ms_model_spec *s, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    s->n_stages = 0;
    for (char *save = NULL, *tok = strtok_r(buf, "-", &save); tok; tok = strtok_r(NULL, "-", &save)) {
        if (s->n_stages == MODEL_MAX_STAGES)
            return MS_FAIL(MS_ERR_INPUT, "model spec: widths=%s has more than %d stages", v, MODEL_MAX_STAGES);
        int rc = parse_int(tok, 1, 4096, &s->widths[s->n_stages], "widths");
        if (rc) return rc;
        s->n_stages++;
    }
    if (s->n_stages == 0) return MS_FAIL(MS_ERR_INPUT, "model spec: widths is empty (e.g. widths=32-64-128)");
    return MS_OK;
}

/* subset=3-17-42: feature indices, strictly increasing (checked against the
 * features once the encoder is known, in model_spec_parse). */
static int parse_subset(ms_model_spec *s, const char *v)
{
    s->n_subset = 0;
    const char *p = v;
    while (*p) {
        if (s->n_subset == MODEL_MAX_SUBSET)
            return MS_FAIL(MS_ERR_INPUT, "model spec: subset has more than %d features", MODEL_MAX_SUBSET);
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > 65535 || (*end && *end != '-') || (s->n_subset && x <= s->subset[s->n_subset - 1]))
            return MS_FAIL(MS_ERR_INPUT, "model spec: subset=%s (expected increasing feature indices, e.g. subset=3-17-42)", v);
        s->subset[s->n_subset++] = (int)x;
        p = *end ? end + 1 : end;
        if (*end && !*p) return MS_FAIL(MS_ERR_INPUT, "model spec: subset=%s ends with '-'", v);
    }
    if (s->n_subset == 0) return MS_FAIL(MS_ERR_INPUT, "model spec: subset is empty");
    return MS_OK;
}

static int parse_item(ms_model_spec *s, const char *part, char *item, int *seen_encoder)
{
    char *eq = strchr(item, '=');
    const char *key = item, *val = eq ? eq + 1 : "";
    if (eq) *eq = 0;
    if (strcmp(part, "encoder") == 0) {
        *seen_encoder = 1;
        if (strcmp(key, "in") == 0) return parse_int(val, 1, 64, &s->in_channels, "in");
        if (strcmp(key, "widths") == 0) return parse_widths(s, val);
        if (strcmp(key, "convs") == 0) return parse_int(val, 1, 16, &s->convs, "convs");
        if (strcmp(key, "block") == 0) {
            int b = lookup(block_names, BLOCK__COUNT, val);
            if (b < 0) return MS_FAIL(MS_ERR_INPUT, "model spec: block=%s (expected plain or residual)", val);
            s->block = (ms_block_kind)b;
            return MS_OK;
        }
        return MS_FAIL(MS_ERR_INPUT, "model spec: unknown encoder key '%s' (expected in, widths, block, convs)", key);
    }
    if (strcmp(part, "head") == 0) {
        if (!eq || strcmp(key, "type") == 0) {
            const char *word = eq ? val : key;
            int h = lookup(head_names, HEAD__COUNT, word);
            if (h <= HEAD_NONE) return MS_FAIL(MS_ERR_INPUT, "model spec: head type '%s' (expected linear or mlp)", word);
            s->head = (ms_head_kind)h;
            return MS_OK;
        }
        if (strcmp(key, "classes") == 0) return parse_int(val, 1, 100000, &s->classes, "classes");
        if (strcmp(key, "hidden") == 0) return parse_int(val, 1, 65536, &s->hidden, "hidden");
        if (strcmp(key, "dropout") == 0) return parse_float(val, 0.0f, 0.95f, &s->dropout, "dropout");
        if (strcmp(key, "tiles") == 0) return parse_int(val, 1, 64, &s->tiles, "tiles");
        if (strcmp(key, "subset") == 0) return parse_subset(s, val);
        if (strcmp(key, "norm") == 0) {
            if (strcmp(val, "bn") != 0 && strcmp(val, "none") != 0)
                return MS_FAIL(MS_ERR_INPUT, "model spec: norm=%s (expected bn or none)", val);
            s->head_norm = strcmp(val, "bn") == 0;
            return MS_OK;
        }
        return MS_FAIL(MS_ERR_INPUT, "model spec: unknown head key '%s' (expected type, classes, hidden, dropout, tiles, "
                                     "norm, subset)", key);
    }
    if (strcmp(part, "decoder") == 0) {
        s->has_decoder = 1;
        if (strcmp(key, "out") == 0) return parse_int(val, 1, 4096, &s->dec_out, "out");
        if (strcmp(key, "up") == 0) {
            int u = lookup(up_names, UP__COUNT, val);
            if (u < 0) return MS_FAIL(MS_ERR_INPUT, "model spec: up=%s (expected nearest or bilinear)", val);
            s->up = (ms_up_kind)u;
            return MS_OK;
        }
        return MS_FAIL(MS_ERR_INPUT, "model spec: unknown decoder key '%s' (expected out, up)", key);
    }
    return MS_FAIL(MS_ERR_INPUT, "model spec: unknown part '%s' (expected encoder, head or decoder)", part);
}

/* Parameters (and BN buffers) a spec can build, an upper bound in double:
 * per encoder stage convs 3x3 convs of up to max(in, width) inputs with their
 * BN, a 1x1 projection; the head's BN, hidden and output layers; per decoder
 * stage convs 3x3 convs over a concatenation of up to twice the widest stage.
 * Checked before anything is allocated, so a spec read from a file (a
 * checkpoint's model_spec) cannot ask for terabytes: model_build allocates its
 * slab (values, gradients and two optimizer moments) without asking. */
#define MODEL_SPEC_MAX_PARAMS (1LL << 27) /* 134M parameters: 2 GiB of slab */
double model_spec_params_bound(const ms_model_spec *s)
{
    double n = 0, prev = s->in_channels, maxw = 1;
    for (int i = 0; i < s->n_stages; i++) {
        const double w = s->widths[i], big = w > prev ? w : prev;
        n += s->convs * (9 * big * w + 4 * w) + prev * w + 4 * w;
        prev = w;
        if (w > maxw) maxw = w;
    }
    const double feat = s->n_subset ? s->n_subset : prev * s->tiles, hid = s->head == HEAD_MLP ? s->hidden : 0;
    if (s->head != HEAD_NONE) n += 4 * feat + (feat + 1) * (hid + s->classes) + (hid + 1) * s->classes + 4 * hid;
    if (s->has_decoder) n += s->n_stages * s->convs * (9 * 2 * maxw * maxw + 8 * maxw) + (maxw + 1) * s->dec_out;
    return n;
}

int model_spec_parse(ms_model_spec *s, const char *text)
{
    memset(s, 0, sizeof *s);
    s->in_channels = 1;
    s->convs = 2;
    s->block = BLOCK_PLAIN;
    s->head = HEAD_NONE;
    s->hidden = 256;
    s->up = UP_BILINEAR;
    s->dec_out = 1;
    s->tiles = 1;
    size_t len = strlen(text);
    if (len == 0 || len > 4000) return MS_FAIL(MS_ERR_INPUT, "model spec: empty or too long");
    char *copy = ms_malloc(len + 1);
    memcpy(copy, text, len + 1);
    int rc = MS_OK, seen_encoder = 0;
    int first = 1;
    for (char *save = NULL, *part = strtok_r(copy, ";", &save); part && !rc; part = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(part, ':'), *items;
        if (!colon && first && strchr(part, '=')) { /* "widths=32-64,convs=2": the encoder part without its name */
            items = part;
            part = "encoder";
        } else if (!colon) {
            rc = MS_FAIL(MS_ERR_INPUT, "model spec: part '%s' has no ':' (e.g. encoder:widths=32-64)", part);
            break;
        } else {
            *colon = 0;
            items = colon + 1;
        }
        first = 0;
        if (strcmp(part, "encoder") == 0) seen_encoder = 1;
        if (strcmp(part, "head") == 0 && s->head == HEAD_NONE) s->head = HEAD_LINEAR;
        for (char *save2 = NULL, *item = strtok_r(items, ",", &save2); item && !rc; item = strtok_r(NULL, ",", &save2))
            rc = parse_item(s, part, item, &seen_encoder);
        if (!rc && strcmp(part, "decoder") == 0) s->has_decoder = 1;
    }
    free(copy);
    if (rc) return rc;
    if (!seen_encoder || s->n_stages == 0)
        return MS_FAIL(MS_ERR_INPUT, "model spec: an encoder with widths is required (e.g. encoder:in=1,widths=32-64-128-256)");
    if (s->head != HEAD_NONE && s->classes < 1)
        return MS_FAIL(MS_ERR_INPUT, "model spec: head needs classes=K");
    if (s->tiles > 1 && s->head == HEAD_NONE)
        return MS_FAIL(MS_ERR_INPUT, "model spec: tiles=%d needs a head", s->tiles);
    if (s->tiles > 1 && s->has_decoder)
        return MS_FAIL(MS_ERR_INPUT, "model spec: tiles and a decoder cannot be combined");
    if (s->n_subset && (s->head == HEAD_NONE || s->tiles > 1))
        return MS_FAIL(MS_ERR_INPUT, "model spec: subset needs a head without tiles");
    if (s->n_subset && s->subset[s->n_subset - 1] >= s->widths[s->n_stages - 1])
        return MS_FAIL(MS_ERR_INPUT, "model spec: subset feature %d, but the encoder gives %d features (0..%d)",
                       s->subset[s->n_subset - 1], s->widths[s->n_stages - 1], s->widths[s->n_stages - 1] - 1);
    if (s->block == BLOCK_RESIDUAL && s->convs % 2)
        return MS_FAIL(MS_ERR_INPUT, "model spec: block=residual needs an even convs (2 convs per block)");
    if (model_spec_params_bound(s) > (double)MODEL_SPEC_MAX_PARAMS)
        return MS_FAIL(MS_ERR_INPUT, "model spec: about %.3g parameters, more than the %lld medssl builds "
                       "(narrower widths, fewer convs, classes or hidden)", model_spec_params_bound(s), MODEL_SPEC_MAX_PARAMS);
    return MS_OK; /* with neither head nor decoder, the output is the pooled features */
}

void model_spec_format(const ms_model_spec *s, char *buf, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "encoder:in=%d,widths=", s->in_channels);
    for (int i = 0; i < s->n_stages && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "-" : "", s->widths[i]);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, ",block=%s,convs=%d", block_names[s->block], s->convs);
    if (s->head != HEAD_NONE && n < cap) {
        n += (size_t)snprintf(buf + n, cap - n, ";head:type=%s,classes=%d", head_names[s->head], s->classes);
        if (s->head == HEAD_MLP && n < cap)
            n += (size_t)snprintf(buf + n, cap - n, ",hidden=%d,dropout=%g", s->hidden, (double)s->dropout);
        if (s->tiles > 1 && n < cap) n += (size_t)snprintf(buf + n, cap - n, ",tiles=%d", s->tiles);
        if (s->head_norm && n < cap) n += (size_t)snprintf(buf + n, cap - n, ",norm=bn");
        for (int i = 0; i < s->n_subset && n < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "-" : ",subset=", s->subset[i]);
    }
    if (s->has_decoder && n < cap)
        snprintf(buf + n, cap - n, ";decoder:out=%d,up=%s", s->dec_out, up_names[s->up]);
}
