/* atomic.c - output files that appear whole or not at all, the cleanup of the
 * temporaries a killed process left, and removal of scratch folders (see
 * cgdml/atomic.h).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "cgdml/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cgdml_status cgdml_atomic_begin(cgdml_atomic *a, const char *path)
{
    if (!path || !*path)
        return cgdml_error_set(CGDML_ERR_INVALID, "no output path given");
    int n1 = snprintf(a->path, sizeof a->path, "%s", path);
    int n2 = snprintf(a->tmp_path, sizeof a->tmp_path, "%s.tmp-%ld", path, (long)getpid());
    if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof a->tmp_path)
        return cgdml_error_set(CGDML_ERR_INVALID, "output path '%s' is too long", path);
    return CGDML_OK;
}

cgdml_status cgdml_atomic_commit(cgdml_atomic *a)
{
    int fd = open(a->tmp_path, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(a->tmp_path, a->path) != 0) {
        int e = errno;
        unlink(a->tmp_path);
        return cgdml_error_set(CGDML_ERR_IO, "cannot move finished output onto '%s': %s", a->path,
                               strerror(e));
    }
    return CGDML_OK;
}

void cgdml_atomic_abort(cgdml_atomic *a) { unlink(a->tmp_path); }

cgdml_status cgdml_atomic_fopen(cgdml_atomic *a, const char *path, FILE **f)
{
    *f = NULL;
    cgdml_status s = cgdml_atomic_begin(a, path);
    if (s)
        return s;
    *f = fopen(a->tmp_path, "wb");
    if (!*f)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    return CGDML_OK;
}

cgdml_status cgdml_atomic_fclose(cgdml_atomic *a, FILE *f, int write_failed)
{
    int e = write_failed ? errno : 0;
    if (fclose(f) != 0 && !e)
        e = errno ? errno : EIO;
    if (write_failed || e) {
        cgdml_atomic_abort(a);
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot write: %s", a->path,
                               strerror(e ? e : EIO));
    }
    return cgdml_atomic_commit(a);
}

/* The pid of a temporary name "<prefix>.tmp-<pid>" if `name` is one (and, with a
 * prefix, starts with it), else 0. */
static long temporary_pid(const char *name, const char *prefix)
{
    const char *tag = strstr(name, ".tmp-");
    if (!tag || (prefix && (strncmp(name, prefix, strlen(prefix)) != 0 ||
                            tag != name + strlen(prefix))))
        return 0;
    char *end;
    long pid = strtol(tag + 5, &end, 10);
    return *end == '\0' && pid > 0 ? pid : 0;
}

size_t cgdml_atomic_clean(const char *path)
{
    struct stat info;
    char folder[CGDML_PATH_MAX], file[CGDML_PATH_MAX + 256];
    const char *prefix = NULL;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
        snprintf(folder, sizeof folder, "%s", path);
    } else {
        const char *slash = strrchr(path, '/');
        snprintf(folder, sizeof folder, "%.*s", slash ? (int)(slash - path) : 1,
                 slash ? path : ".");
        if (slash == path)
            snprintf(folder, sizeof folder, "/");
        prefix = slash ? slash + 1 : path;
    }
    DIR *d = opendir(folder);
    size_t removed = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        long pid = temporary_pid(e->d_name, prefix);
        /* Only files of processes that are gone: a live one may still commit. */
        if (!pid || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(file, sizeof file, "%s/%s", folder, e->d_name);
        removed += unlink(file) == 0;
    }
    if (d)
        closedir(d);
    return removed;
}

/* nftw callback: remove one entry (children come before their folder, FTW_DEPTH). */
static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *ftw)
{
    (void)info;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : errno;
}

cgdml_status cgdml_atomic_remove_tree(const char *dir)
{
    struct stat info;
    if (!dir || lstat(dir, &info) != 0)
        return CGDML_OK; /* nothing there */
    int e = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (e != 0)
        return cgdml_error_set(CGDML_ERR_IO, "cannot remove %s: %s", dir,
                               strerror(e > 0 ? e : errno));
    return CGDML_OK;
}
