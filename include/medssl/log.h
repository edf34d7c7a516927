/* log — where a library's lines for people go. A training run (medssl/run.h)
 * writes its progress, notes and errors through the logger its caller gives;
 * the CLI leaves it empty (stderr), code that runs many trainings in one
 * process (architecture search) collects or silences them instead.
 *
 *     static void keep(void *user, ms_log_level level, const char *line) { ... }
 *     cfg.run.log = (ms_logger){ keep, &my_state };
 */
#ifndef MEDSSL_LOG_H
#define MEDSSL_LOG_H

typedef enum {
    MS_LOG_PROGRESS, /* step and epoch lines (not written with quiet) */
    MS_LOG_NOTE,     /* what the run decided: splits, loaded tensors, resumes, the end */
    MS_LOG_ERROR,    /* why it failed (also in ms_last_error on the rank that failed) */
} ms_log_level;

/* One call per line; `line` has no trailing newline and lives for the call only. */
typedef void (*ms_log_fn)(void *user, ms_log_level level, const char *line);

typedef struct {
    ms_log_fn fn;    /* NULL: the line and a newline go to stderr */
    void *user;
} ms_logger;

/* Formats one line (longer ones are cut at 4 KiB) and hands it to l (NULL: stderr). */
void ms_log(const ms_logger *l, ms_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
