/* text — a growing text buffer for the writers that build a whole document
 * in memory (the HTML report and its SVG charts), with the escapes HTML needs
 * and base64 for inlined pictures.
 *
 *     ms_text t = { 0 };
 *     text_printf(&t, "<h2>%s</h2>", "Runs");
 *     text_html(&t, name);                 // & < > " ' escaped
 *     fwrite(t.buf, 1, t.len, f);
 *     text_free(&t);
 *
 * buf is always NUL-terminated once anything was written. Allocation failure
 * aborts with medssl's out-of-memory message (ms_realloc).
 */
#ifndef MEDSSL_TEXT_H
#define MEDSSL_TEXT_H

#include <stddef.h>

typedef struct {
    char *buf;
    size_t len, cap;
} ms_text;

void text_put(ms_text *t, const char *s, size_t n);
void text_puts(ms_text *t, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void text_printf(ms_text *t, const char *fmt, ...);
/* s with &, <, >, " and ' replaced by entities (safe in element text and in
 * quoted attribute values); bytes < 0x20 other than tab and newline become
 * U+FFFD's entity, so a control byte from a file never reaches the page. */
void text_html(ms_text *t, const char *s);
/* data[0..n) as base64 (RFC 4648, with padding). */
void text_base64(ms_text *t, const unsigned char *data, size_t n);
void text_free(ms_text *t);

#endif
