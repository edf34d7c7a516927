/* test_list — the list iterator (src/core/list.c): items trimmed of spaces and
 * tabs, empty items and too-long items reported rather than skipped, the
 * cursor at the end, other separators; ms_list_numbers' counts and failures. */
#include "medssl/list.h"
#include "testutil.h"

#include <string.h>

/* Walks list and writes what each call returned: items as themselves, an
 * empty item as <empty>, a too-long one as <long:prefix>, joined by '|'. */
static void walk(const char *list, char sep, size_t cap, char *out, size_t out_cap)
{
    const char *cur = list;
    char item[64];
    out[0] = 0;
    for (int r, n = 0; (r = ms_list_next(&cur, sep, item, cap)) != MS_LIST_END; n++) {
        size_t len = strlen(out);
        snprintf(out + len, out_cap - len, "%s%s%s%s", n ? "|" : "", r == MS_LIST_EMPTY ? "<empty>" : r == MS_LIST_TOO_LONG ? "<long:" : "",
                 item, r == MS_LIST_TOO_LONG ? ">" : "");
        TU_CHECK(r == MS_LIST_ITEM || r == MS_LIST_EMPTY || r == MS_LIST_TOO_LONG);
        TU_CHECK(n < 20);
    }
    TU_CHECK(cur == NULL);
    TU_CHECK(ms_list_next(&cur, sep, item, cap) == MS_LIST_END && item[0] == 0);
}

#define TU_WALK(list, sep, cap, want)                                                  \
    do {                                                                               \
        char tu_got[256];                                                              \
        walk((list), (sep), (cap), tu_got, sizeof tu_got);                             \
        TU_CHECKF(strcmp(tu_got, (want)) == 0, "'%s': got '%s', want '%s'", (list), tu_got, (want)); \
    } while (0)

static void items(void)
{
    TU_WALK("a", ',', 64, "a");
    TU_WALK("stage0,stage1", ',', 64, "stage0|stage1");
    TU_WALK(" rot:30 ,\tflip:h@0.5\t, crop:0.8-1 ", ',', 64, "rot:30|flip:h@0.5|crop:0.8-1");
    TU_WALK("a b,c", ',', 64, "a b|c"); /* inner spaces stay */
    TU_WALK("medssl finetune --train  tr.h5", ' ', 64, "medssl|finetune|--train|<empty>|tr.h5");
    TU_WALK("a;b,c", ';', 64, "a|b,c");
}

static void empty_items(void)
{
    TU_WALK("", ',', 64, "<empty>");
    TU_WALK("  ", ',', 64, "<empty>");
    TU_WALK("a,,b", ',', 64, "a|<empty>|b");
    TU_WALK("a, ,b", ',', 64, "a|<empty>|b");
    TU_WALK(",a", ',', 64, "<empty>|a");
    TU_WALK("a,", ',', 64, "a|<empty>");
}

static void too_long(void)
{
    TU_WALK("abcd,abcde,ab", ',', 5, "abcd|<long:abcd>|ab"); /* cap 5: 4 characters fit */
    TU_WALK("  abcdefg  ", ',', 4, "<long:abc>");
    TU_WALK("x", ',', 1, "<long:>");
}

static void numbers(void)
{
    double v[3] = { -1, -1, -1 };
    TU_CHECK(ms_list_numbers("1, 0.5,2e1", ',', v, 3) == 3 && v[0] == 1 && v[1] == 0.5 && v[2] == 20);
    v[2] = -1;
    TU_CHECK(ms_list_numbers("4,5,6,7", ',', v, 2) == 4 && v[0] == 4 && v[1] == 5 && v[2] == -1); /* counts all, stores 2 */
    TU_CHECK(ms_list_numbers("-3", ',', v, 3) == 1 && v[0] == -3);
    TU_CHECK(ms_list_numbers("", ',', v, 3) == -1);
    TU_CHECK(ms_list_numbers("1,,2", ',', v, 3) == -1);
    TU_CHECK(ms_list_numbers("1,2,", ',', v, 3) == -1);
    TU_CHECK(ms_list_numbers("1,x", ',', v, 3) == -1);
    TU_CHECK(ms_list_numbers("1,2x", ',', v, 3) == -1);
    TU_CHECK(ms_list_numbers("1 2", ',', v, 3) == -1);
}

int main(void)
{
    TU_RUN(items);
    TU_RUN(empty_items);
    TU_RUN(too_long);
    TU_RUN(numbers);
    return tu_summary();
}
