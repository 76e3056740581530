/* dir_bench_disk.c - see dir_bench_disk.h. */
#include "dir_bench_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir_bench_stats.h"

#define DISK_BLOCK 4096
#define DISK_WRITES 300 /* per writer: about 0.1-0.3 s on the disks seen here */

struct disk_writer {
    char path[600];
    double ms; /* out: mean per write */
    int err;   /* out: errno of the first failure */
};

static void *disk_writer_main(void *arg)
{
    struct disk_writer *w = arg;
    void *buf = NULL;
    int fd = open(w->path, O_CREAT | O_EXCL | O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EINVAL) /* a file system without O_DIRECT (tmpfs): as libraft does */
        fd = open(w->path, O_CREAT | O_EXCL | O_WRONLY | O_DSYNC | O_CLOEXEC, 0600);
    if (fd < 0 || posix_memalign(&buf, DISK_BLOCK, DISK_BLOCK) != 0 ||
        (errno = posix_fallocate(fd, 0, (off_t)DISK_BLOCK * DISK_WRITES)) != 0) {
        w->err = errno ? errno : ENOMEM;
        goto out;
    }
    memset(buf, 0x5a, DISK_BLOCK);
    uint64_t t0 = dir_bench_now_us();
    for (int i = 0; i < DISK_WRITES; i++)
        if (pwrite(fd, buf, DISK_BLOCK, (off_t)i * DISK_BLOCK) != DISK_BLOCK) {
            w->err = errno ? errno : EIO;
            goto out;
        }
    w->ms = (double)(dir_bench_now_us() - t0) / 1000.0 / DISK_WRITES;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    unlink(w->path);
    return NULL;
}

/* n writers at once; the mean of their per-write means. */
static int disk_run(const char *dir, unsigned n, double *ms, struct strata_err *e)
{
    struct disk_writer w[3] = {0};
    pthread_t t[3];
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        snprintf(w[i].path, sizeof(w[i].path), "%s/disk-probe-%u", dir, i);
        if (pthread_create(&t[i], NULL, disk_writer_main, &w[i]) != 0)
            break;
        started++;
    }
    double sum = 0;
    int err = started == n ? 0 : EAGAIN;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        sum += w[i].ms;
        if (w[i].err && !err)
            err = w[i].err;
    }
    if (err)
        return strata_err_set(e, STRATA_EIO, "disk probe in %s: %s", dir, strerror(err));
    *ms = sum / n;
    return 0;
}

int dir_bench_disk_probe(const char *dir, struct dir_bench_disk *out, struct strata_err *e)
{
    out->ok = false;
    int rc = disk_run(dir, 1, &out->one_ms, e);
    if (rc == 0)
        rc = disk_run(dir, 3, &out->three_ms, e);
    out->ok = rc == 0;
    return rc;
}
