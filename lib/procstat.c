/* procstat.c - /proc/self/stat, /proc/stat's btime and /proc/self/fd (see procstat.h). The
 * fields' positions are proc(5)'s. */
#include "procstat.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

/* The boot time in seconds since the epoch: "btime N" in /proc/stat. */
static int procstat_btime(uint64_t *out)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return STRATA_EIO;
    char line[256];
    int rc = STRATA_EIO;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %" SCNu64, out) == 1) {
            rc = 0;
            break;
        }
    fclose(f);
    return rc;
}

/* utime, stime, starttime (clock ticks) and rss (pages) from /proc/self/stat. The command name
 * (field 2) is in parentheses and may hold spaces or ')' itself: fields are counted from the
 * last ')'. */
static int procstat_self(uint64_t *ticks_cpu, uint64_t *ticks_start, uint64_t *rss_pages)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return STRATA_EIO;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return STRATA_EIO;
    p++;
    uint64_t v[22] = {0}; /* fields 3..24; field 3 (state) is a letter and reads as 0 */
    for (int i = 0; i < 22; i++) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return STRATA_EIO;
        char *end;
        v[i] = strtoull(p, &end, 10);
        p = end;
        while (*p != ' ' && *p != '\0')
            p++;
    }
    *ticks_cpu = v[14 - 3] + v[15 - 3];
    *ticks_start = v[22 - 3];
    *rss_pages = v[24 - 3];
    return 0;
}

/* Entries of /proc/self/fd, less the one this reading holds open. */
static int procstat_fds(uint64_t *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return STRATA_EIO;
    uint64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    *out = n > 0 ? n - 1 : 0;
    return 0;
}

int strata_procstat_read(struct strata_procstat *out)
{
    *out = (struct strata_procstat){0};
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    uint64_t btime, cpu, start, rss;
    int rc = 0;
    if (procstat_self(&cpu, &start, &rss) == 0 && hz > 0 && page > 0) {
        out->cpu_s = (double)cpu / (double)hz;
        out->rss_bytes = rss * (uint64_t)page;
        if (procstat_btime(&btime) == 0)
            out->start_time_s = (double)btime + (double)start / (double)hz;
        else
            rc = STRATA_EIO;
    } else {
        rc = STRATA_EIO;
    }
    if (procstat_fds(&out->open_fds) != 0)
        rc = STRATA_EIO;
    return rc;
}
