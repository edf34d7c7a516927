/* args — the shared long-flag parser of the subcommands (see cli.h). */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/loader.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_meta[ARG__COUNT] = { "", "N", "N", "X", "S" };
_Static_assert(sizeof type_meta / sizeof *type_meta == ARG__COUNT, "one meta per type");

static void print_help(const char *cmd, const char *synopsis, const char *about, const ms_arg *args, int n)
{
    printf("usage: medssl %s %s\n\n%s\n\noptions:\n", cmd, synopsis, about);
    for (int i = 0; i < n; i++) {
        char left[64];
        const char *meta = args[i].meta ? args[i].meta : type_meta[args[i].type];
        snprintf(left, sizeof left, "--%s%s%s", args[i].name, *meta ? " " : "", meta);
        printf("  %-24s %s\n", left, args[i].help);
    }
    printf("  %-24s %s\n", "--help", "show this help and exit");
}

static int set_value(const char *cmd, const ms_arg *a, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (a->type) {
    case ARG_BOOL: *(int *)a->dst = 1; return 0;
    case ARG_STRING: *(const char **)a->dst = v; return 0;
    case ARG_INT:
    case ARG_LONG: {
        long long x = strtoll(v, &end, 10);
        if (*v == 0 || *end != 0 || errno || x < a->lo || x > a->hi) break;
        if (a->type == ARG_INT) *(int *)a->dst = (int)x;
        else *(long *)a->dst = (long)x;
        return 0;
    }
    case ARG_FLOAT: {
        double x = strtod(v, &end);
        if (*v == 0 || *end != 0 || errno || !isfinite(x) || x < a->lo || x > a->hi) break;
        *(float *)a->dst = (float)x;
        return 0;
    }
    default: break;
    }
    fprintf(stderr, "medssl %s: --%s %s: expected %s in [%g, %g]\n", cmd, a->name, v,
            a->type == ARG_FLOAT ? "a number" : "an integer", a->lo, a->hi);
    return MS_ERR_INPUT;
}

int cli_parse(const char *cmd, const char *synopsis, const char *about, const ms_arg *args,
              int n_args, int argc, char **argv, const char **pos, int max_pos, int *n_pos)
{
    if (n_pos) *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *tok = argv[i];
        if (strcmp(tok, "--help") == 0 || strcmp(tok, "-h") == 0) {
            print_help(cmd, synopsis, about, args, n_args);
            return -1;
        }
        if (strncmp(tok, "--", 2) != 0 || tok[2] == 0) {
            if (!pos || !n_pos || *n_pos >= max_pos) {
                fprintf(stderr, "medssl %s: unexpected argument '%s' (see medssl %s --help)\n", cmd, tok, cmd);
                return MS_ERR_INPUT;
            }
            pos[(*n_pos)++] = tok;
            continue;
        }
        const char *name = tok + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ms_arg *a = NULL;
        for (int k = 0; k < n_args; k++)
            if (strlen(args[k].name) == len && strncmp(args[k].name, name, len) == 0) a = &args[k];
        if (!a) {
            fprintf(stderr, "medssl %s: unknown flag '--%.*s' (see medssl %s --help)\n", cmd, (int)len, name, cmd);
            return MS_ERR_INPUT;
        }
        const char *v;
        if (a->type == ARG_BOOL) {
            if (eq) {
                fprintf(stderr, "medssl %s: --%s takes no value\n", cmd, a->name);
                return MS_ERR_INPUT;
            }
            v = "";
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            fprintf(stderr, "medssl %s: --%s needs a value\n", cmd, a->name);
            return MS_ERR_INPUT;
        }
        int rc = set_value(cmd, a, v);
        if (rc) return rc;
    }
    return 0;
}

int cli_report(const char *cmd, int code)
{
    fprintf(stderr, "medssl %s: %s\n", cmd, ms_last_error());
    return code;
}

