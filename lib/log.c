/* log.c - logfmt lines on stderr: one write() per line so concurrent threads never interleave. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_comp[64] = "strata";
static _Atomic int log_min = STRATA_LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

static int log_level_from_env(void)
{
    const char *s = getenv("STRATA_LOG_LEVEL");
    if (s == NULL)
        return STRATA_LOG_INFO;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, log_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return STRATA_LOG_WARN;
    return STRATA_LOG_INFO;
}

void strata_log_init(const char *component, int level)
{
    pthread_mutex_lock(&log_lock);
    if (component != NULL)
        snprintf(log_comp, sizeof(log_comp), "%s", component);
    if (level < 0)
        level = log_level_from_env();
    log_min = level > STRATA_LOG_ERROR ? STRATA_LOG_ERROR : level;
    pthread_mutex_unlock(&log_lock);
}

/* Append `s` to out[*pos..cap) as a logfmt quoted value body, escaping what would break the
 * one-line-per-record rule. Stops early (truncating) when out of room. */
static void log_escape(char *out, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char buf[4];
        size_t n = 0;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else if (c == '\r') {
            buf[n++] = '\\';
            buf[n++] = 'r';
        } else if (c == '\t') {
            buf[n++] = '\\';
            buf[n++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 15];
        } else {
            buf[n++] = (char)c;
        }
        if (*pos + n >= cap)
            return;
        memcpy(out + *pos, buf, n);
        *pos += n;
    }
}

void strata_log(enum strata_log_level level, const char *fmt, ...)
{
    if ((int)level < log_min)
        return;
    if ((int)level < 0 || level > STRATA_LOG_ERROR)
        level = STRATA_LOG_ERROR;

    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    char line[LOG_LINE_MAX + 256];
    pthread_mutex_lock(&log_lock);
    int n = snprintf(line, sizeof(line),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s msg=\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_names[level], log_comp);
    if (n < 0) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    size_t pos = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    /* Leave room for the closing quote and newline. */
    log_escape(line, sizeof(line) - 2, &pos, msg);
    line[pos++] = '"';
    line[pos++] = '\n';
    /* One write per line under the lock: lines from different threads never interleave, even
     * when longer than PIPE_BUF, and no stdio buffer sits between us and the fd. */
    size_t off = 0;
    while (off < pos) {
        ssize_t w = write(STDERR_FILENO, line + off, pos - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    pthread_mutex_unlock(&log_lock);
}
