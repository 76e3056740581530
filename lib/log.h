/* log.h - structured (logfmt) logging to stderr, shared by every daemon and tool. */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

enum strata_log_level { STRATA_LOG_DEBUG = 0, STRATA_LOG_INFO, STRATA_LOG_WARN, STRATA_LOG_ERROR };

/* Set the component name printed on every line ("dird/1", "csd/a") and the minimum level.
 * Reads STRATA_LOG_LEVEL (debug|info|warn|error) from the environment when level < 0. */
void strata_log_init(const char *component, int level);

/* The flag-table row of --log-level (flags.h) for every daemon: `level` is an int * holding -1
 * (use STRATA_LOG_LEVEL) until the flag sets it; pass it to strata_log_init. The names are in
 * enum strata_log_level's order. */
#define STRATA_LOG_FLAG_ROW(level)                                                                 \
    {                                                                                              \
        "log-level", STRATA_FLAG_CHOICE, (level), "debug|info|warn|error",                         \
            "the least severe level logged (default: $STRATA_LOG_LEVEL, else info)", false, 0, 0   \
    }

/* One line: `ts=2026-11-23T22:00:00.123Z level=info comp=dird/1 msg="..."`. Thread-safe. */
void strata_log(enum strata_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...) strata_log(STRATA_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) strata_log(STRATA_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) strata_log(STRATA_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) strata_log(STRATA_LOG_ERROR, __VA_ARGS__)

#endif
