/* dir_bench_disk.h - how fast the benchmark's disk makes a small write durable, measured in the
 * same run: Raft's write rate is bound by it, and on a shared virtual disk it moves by 2x from
 * one minute to the next, so a ratio between two systems measured a minute apart needs it. */
#ifndef DIR_BENCH_DISK_H
#define DIR_BENCH_DISK_H

#include <stdbool.h>

#include "err.h"

struct dir_bench_disk {
    bool ok;
    double one_ms;   /* mean 4 KiB O_DIRECT|O_DSYNC write, one writer */
    double three_ms; /* the same with three writers at once (three Raft nodes on one disk) */
};

/* Write 4 KiB blocks as libraft does (a preallocated file, O_DIRECT and O_DSYNC) in a
 * temporary file under dir, first alone, then three writers at once. */
int dir_bench_disk_probe(const char *dir, struct dir_bench_disk *out, struct strata_err *e);

#endif
