/* test_json — the JSON writer (src/core/json.c): exact text for compact and
 * pretty output, nesting, escaping of quotes, backslashes and control bytes
 * (UTF-8 passed through), non-finite numbers as null, empty containers. */
#include "medssl/json.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TU_TEXT(j, want)                                                                      \
    do {                                                                                      \
        const char *tu_got = json_text(j);                                                    \
        TU_CHECKF(strcmp(tu_got, (want)) == 0, "got\n%s\nwant\n%s", tu_got, (want));          \
    } while (0)

static void compact_object(void)
{
    ms_json j;
    json_begin(&j, 0);
    json_object(&j, NULL);
    json_int(&j, "step", 12);
    json_num(&j, "loss", 0.25, 6);
    json_num(&j, "nan", NAN, 6);
    json_num(&j, "inf", -INFINITY, 6);
    json_fixed(&j, "ips", 1234.5678, 2);
    json_fixed(&j, "big", 1e300, 2);
    json_fixed(&j, "nanf", NAN, 2);
    json_str(&j, "s", "a\"b\\c\nd\te\x01");
    json_str(&j, "utf8", "\xc3\xa9");
    json_str(&j, "none", NULL);
    json_bool(&j, "t", 1);
    json_null(&j, "z");
    json_array(&j, "list");
    json_int(&j, NULL, 1);
    json_num(&j, NULL, 1.0 / 3.0, 3);
    json_end(&j);
    json_object(&j, "empty");
    json_end(&j);
    json_raw(&j, "env", "{\"a\": 1}");
    json_end(&j);
    TU_TEXT(&j, "{\"step\": 12, \"loss\": 0.25, \"nan\": null, \"inf\": null, \"ips\": 1234.57, \"big\": 1.0000000000000001e+300, \"nanf\": null, \"s\": \"a\\\"b\\\\c\\nd\\te\\u0001\", "
                "\"utf8\": \"\xc3\xa9\", \"none\": null, \"t\": true, \"z\": null, \"list\": [1, 0.333], "
                "\"empty\": {}, \"env\": {\"a\": 1}}");
    json_free(&j);
}

static void pretty_nested(void)
{
    ms_json j;
    json_begin(&j, 1);
    json_object(&j, NULL);
    json_int(&j, "n", 3);
    json_array(&j, "per_class");
    json_object_inline(&j, NULL);
    json_num(&j, "dsc", 0.5, 4);
    json_array_inline(&j, "ci");
    json_num(&j, NULL, 0.1, 4);
    json_num(&j, NULL, 0.9, 4);
    json_end(&j);
    json_end(&j);
    json_object_inline(&j, NULL);
    json_num(&j, "dsc", NAN, 4);
    json_end(&j);
    json_end(&j);
    json_array(&j, "none");
    json_end(&j);
    json_end(&j);
    TU_TEXT(&j, "{\n"
                "  \"n\": 3,\n"
                "  \"per_class\": [\n"
                "    {\"dsc\": 0.5, \"ci\": [0.1, 0.9]},\n"
                "    {\"dsc\": null}\n"
                "  ],\n"
                "  \"none\": []\n"
                "}");
    json_free(&j);
}

static void key_escaped_and_growth(void)
{
    ms_json j;
    json_begin(&j, 0);
    TU_TEXT(&j, "");
    json_array(&j, NULL);
    for (int i = 0; i < 1000; i++) json_str(&j, NULL, "<script>\"x\"</script>");
    json_end(&j);
    TU_CHECK(json_length(&j) == 2 + 1000 * 24 + 999 * 2); /* [ ], each "<script>\"x\"</script>", ", " between */
    TU_CHECK(strncmp(json_text(&j), "[\"<script>\\\"x\\\"</script>\", ", 27) == 0);
    json_free(&j);
    json_begin(&j, 0);
    json_object(&j, NULL);
    json_int(&j, "we\"ird", 1);
    json_end(&j);
    TU_TEXT(&j, "{\"we\\\"ird\": 1}");
    json_free(&j);
}

int main(void)
{
    TU_RUN(compact_object);
    TU_RUN(pretty_nested);
    TU_RUN(key_escaped_and_growth);
    return tu_summary();
}
