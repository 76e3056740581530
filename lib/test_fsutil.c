/* test_fsutil.c - strata_file_create: exact modes whatever the umask, never over an existing
 * file (nor a dangling symlink), no temporary file left behind; strata_mkdir_p. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/strata-fsutil-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int count_entries(const char *d)
{
    DIR *dd = opendir(d);
    assert_non_null(dd);
    int n = 0;
    for (struct dirent *de; (de = readdir(dd)) != NULL;)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(dd);
    return n;
}

static void test_create_modes(void **state)
{
    (void)state;
    char a[128], b[128];
    snprintf(a, sizeof(a), "%s/secret", dir);
    snprintf(b, sizeof(b), "%s/public", dir);
    struct strata_err e = {0};
    mode_t old = umask(0);
    int rc = strata_file_create(a, 0600, "k\n", 2, &e);
    umask(077);
    if (rc == 0)
        rc = strata_file_create(b, 0644, "c\n", 2, &e);
    umask(old);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 2);
    assert_int_equal(stat(b, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(count_entries(dir), 2);
}

static void test_create_never_replaces(void **state)
{
    (void)state;
    char a[128], link[128];
    snprintf(a, sizeof(a), "%s/f", dir);
    snprintf(link, sizeof(link), "%s/dangling", dir);
    struct strata_err e = {0};
    assert_int_equal(strata_file_create(a, 0644, "one", 3, &e), 0);
    assert_int_equal(strata_file_create(a, 0644, "two!", 4, &e), STRATA_EEXIST);
    assert_non_null(strstr(e.msg, a));
    struct stat st;
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_size, 3);
    assert_int_equal(strata_file_absent(a, &e), STRATA_EEXIST);

    assert_int_equal(symlink("/nonexistent/target", link), 0);
    assert_int_equal(strata_file_create(link, 0600, "x", 1, &e), STRATA_EEXIST);
    assert_int_equal(count_entries(dir), 2);

    char nodir[160];
    snprintf(nodir, sizeof(nodir), "%s/missing/f", dir);
    assert_int_equal(strata_file_absent(nodir, &e), 0);
    assert_int_equal(strata_file_create(nodir, 0600, "x", 1, &e), STRATA_EIO);
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof(p), "%s/a/b/c", dir);
    struct strata_err e = {0};
    assert_int_equal(strata_mkdir_p(p, 0700, &e), 0);
    assert_int_equal(strata_mkdir_p(p, 0700, &e), 0); /* existing: fine */
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_never_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
