/* fuzz_input.h - what every libFuzzer target in tests/fuzz/ shares: the input
 * bytes turned into a file path, and the limits the readers run under.
 *
 * The readers take paths, so each input is written to a scratch file,
 * $TMPDIR/cgdml-fuzz-<pid> (/tmp without TMPDIR), which is removed once the reader
 * has returned.  (A memfd behind /proc/self/fd/N would avoid the file system, but
 * HDF5 refuses it: it resolves the path to a real one before opening.)  The
 * HDF5 targets check that the reader closed every object, so HDF5 never holds
 * the previous input open when the next one is written under the same name.
 *
 * Header-only on purpose: each target is one translation unit linked against the
 * sanitized library (Makefile, target `fuzz`).
 */
#ifndef CGDML_FUZZ_INPUT_H
#define CGDML_FUZZ_INPUT_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cgdml/atomic.h"
#include "cgdml/memory.h"

/* Memory budget for the readers: claimed shapes beyond it must be refused with
 * CGDML_ERR_NOMEM before anything is allocated (libFuzzer's own limit, -rss_limit_mb,
 * is 2 GB, so a reader that ignored the budget would show up as an OOM). */
#define FUZZ_MEMORY_BUDGET ((size_t)64 << 20)

typedef struct {
    char path[CGDML_PATH_MAX];
} fuzz_file;

/* Write the input to the scratch file; aborts (a harness bug, not a finding) if
 * the system refuses. */
static inline void fuzz_file_open(fuzz_file *f, const uint8_t *data, size_t size)
{
    const char *dir = getenv("TMPDIR");
    cgdml_memory_set_budget(FUZZ_MEMORY_BUDGET);
    snprintf(f->path, sizeof f->path, "%s/cgdml-fuzz-%ld", dir && *dir ? dir : "/tmp",
             (long)getpid());
    int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(f->path);
        abort();
    }
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            perror(f->path);
            abort();
        }
        done += (size_t)n;
    }
    close(fd);
}

static inline void fuzz_file_close(fuzz_file *f)
{
    unlink(f->path);
}

#endif
