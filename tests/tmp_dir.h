/* tmp_dir.h - a scratch folder per test: made under /tmp with mkdtemp, emptied and
 * removed afterwards (shared by the test files that write files).
 */
#ifndef CGDML_TESTS_TMP_DIR_H
#define CGDML_TESTS_TMP_DIR_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* dir[size] = "/tmp/<prefix>-XXXXXX", created. */
static inline void test_tmp_dir_make(char *dir, size_t size, const char *prefix)
{
    snprintf(dir, size, "/tmp/%s-XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(dir));
}

/* Remove the files of dir (one level) and dir itself. */
static inline void test_tmp_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char p[1024];
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

#endif
