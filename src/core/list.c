/* list — the items of a separator-separated list (see include/medssl/list.h). */
#include "medssl/list.h"

#include <stdlib.h>
#include <string.h>

static int is_blank(char c) { return c == ' ' || c == '\t'; }

int ms_list_next(const char **cursor, char sep, char *item, size_t cap)
{
    item[0] = 0;
    const char *s = *cursor;
    if (!s) return MS_LIST_END;
    const char *next = strchr(s, sep);
    size_t len = next ? (size_t)(next - s) : strlen(s);
    *cursor = next ? next + 1 : NULL;
    while (len && is_blank(*s)) { s++; len--; }
    while (len && is_blank(s[len - 1])) len--;
    if (len == 0) return MS_LIST_EMPTY;
    const int fits = len < cap;
    if (!fits) len = cap - 1;
    memcpy(item, s, len);
    item[len] = 0;
    return fits ? MS_LIST_ITEM : MS_LIST_TOO_LONG;
}

int ms_list_numbers(const char *list, char sep, double *out, int cap)
{
    const char *cur = list;
    char item[64], *end;
    int n = 0;
    for (int r; (r = ms_list_next(&cur, sep, item, sizeof item)) != MS_LIST_END; n++) {
        if (r != MS_LIST_ITEM) return -1;
        const double v = strtod(item, &end);
        if (end == item || *end) return -1;
        if (n < cap) out[n] = v;
    }
    return n;
}
