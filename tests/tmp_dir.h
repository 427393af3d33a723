/* tmp_dir.h - a scratch folder per test: made under /tmp with mkdtemp, emptied and
 * removed afterwards, and a whole-file reader (shared by the test files that
 * write files).
 */
#ifndef CGDML_TESTS_TMP_DIR_H
#define CGDML_TESTS_TMP_DIR_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* folder[size] = "/tmp/<prefix>-XXXXXX", created. */
static inline void test_tmp_dir_make(char *folder, size_t size, const char *prefix)
{
    snprintf(folder, size, "/tmp/%s-XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(folder));
}

/* Remove the files of folder (one level) and folder itself. */
static inline void test_tmp_dir_remove(const char *folder)
{
    DIR *d = opendir(folder);
    if (!d)
        return;
    char p[1024];
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof p, "%s/%s", folder, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(folder);
}

/* The bytes of `path` (caller frees; NUL-terminated for convenience), *size their
 * count. */
static inline char *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    char *buf = malloc(*size + 1);
    cr_assert_eq(fread(buf, 1, *size, f), *size);
    buf[*size] = '\0';
    fclose(f);
    return buf;
}

#endif
