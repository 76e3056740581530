/* procstat.h - this process's CPU time, memory, open files and start time, read from /proc/self:
 * what the standard Prometheus process_* metrics report. */
#ifndef STRATA_PROCSTAT_H
#define STRATA_PROCSTAT_H

#include <stdint.h>

struct strata_procstat {
    double start_time_s; /* since the Unix epoch */
    double cpu_s;        /* user + system */
    uint64_t rss_bytes;
    uint64_t open_fds;
};

/* Read the figures now. Returns 0, or STRATA_EIO when /proc cannot be read or parsed (then `out`
 * holds zeros for what was not read). */
int strata_procstat_read(struct strata_procstat *out);

#endif
