/* log — a line for people, to the caller's logger or stderr (see medssl/log.h). */
#include "medssl/log.h"

#include <stdarg.h>
#include <stdio.h>

void ms_log(const ms_logger *l, ms_log_level level, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (l && l->fn) l->fn(l->user, level, line);
    else fprintf(stderr, "%s\n", line);
}
