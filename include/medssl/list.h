/* list — the items of a separator-separated list, one at a time.
 *
 * Flags take lists: --freeze stage0,stage1, --members a.h5,b.h5, --combiner
 * vote,average, --weights 1,0.5, --class-weights, --domains, the --augment
 * ops. ms_list_next walks such a list without copying it or allocating: each
 * call copies the next item, with spaces and tabs trimmed from both ends, into
 * the caller's buffer and moves the cursor past it. An empty item ("a,,b",
 * "a," or " ") and an item too long for the buffer are reported by the return
 * value, not skipped: the caller rejects them with its own message, which
 * names its flag. The empty list "" is one empty item; a caller for which ""
 * means "nothing" tests for it first.
 *
 *     const char *cur = list;
 *     char item[64];
 *     for (int r; (r = ms_list_next(&cur, ',', item, sizeof item)) != MS_LIST_END;) {
 *         if (r != MS_LIST_ITEM) return MS_FAIL(MS_ERR_INPUT, "--flag %s: ...", list);
 *         ...
 *     }
 *
 * ms_list_numbers reads a list of numbers (weights, sizes) in one call.
 */
#ifndef MEDSSL_LIST_H
#define MEDSSL_LIST_H

#include <stddef.h>

enum {
    MS_LIST_END = 0,       /* no items left; *cursor is NULL */
    MS_LIST_ITEM = 1,      /* item holds the next item */
    MS_LIST_TOO_LONG = -1, /* the item has cap or more characters; item holds its first cap - 1 */
    MS_LIST_EMPTY = -2,    /* the item is empty after trimming; item is "" */
};

/* The next item of the list at *cursor (items separated by sep) into item
 * (cap >= 1 bytes, NUL-terminated): MS_LIST_ITEM, MS_LIST_EMPTY,
 * MS_LIST_TOO_LONG, or MS_LIST_END once every item has been returned. */
int ms_list_next(const char **cursor, char sep, char *item, size_t cap);

/* The numbers of a sep-separated list (strtod syntax, spaces around items
 * allowed) into out[0..cap): returns how many items the list has (only the
 * first cap are stored), or -1 when an item is empty or not a number. */
int ms_list_numbers(const char *list, char sep, double *out, int cap);

#endif
