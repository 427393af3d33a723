/* cgdml/atomic.h - output files that appear whole or not at all, and removal of
 * the scratch folders a run keeps (members, checkpoints).
 *
 * A writer creates "<path>.tmp-<pid>" in the same folder and renames it over
 * <path> only when complete, so an interrupted command leaves the old file or the
 * new one, never a torn one, and a failed command leaves no new file.
 * Ownership: a cgdml_atomic is the caller's (no allocation inside).
 */
#ifndef CGDML_ATOMIC_H
#define CGDML_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

#include "cgdml/error.h"

enum { CGDML_PATH_MAX = 4096 };

typedef struct {
    char path[CGDML_PATH_MAX];     /* the file the user asked for */
    char tmp_path[CGDML_PATH_MAX]; /* where it is written until committed */
} cgdml_atomic;

/* Choose the temporary name for `path` (nothing is created yet). */
cgdml_status cgdml_atomic_begin(cgdml_atomic *a, const char *path);
/* fsync and rename the temporary file onto the final path. */
cgdml_status cgdml_atomic_commit(cgdml_atomic *a);
/* Remove the temporary file if it exists (after a failure). */
void cgdml_atomic_abort(cgdml_atomic *a);

/* Begin an atomic output and open its temporary file for writing ("wb"). */
cgdml_status cgdml_atomic_fopen(cgdml_atomic *a, const char *path, FILE **f);
/* Close f; if that or the caller's writes failed (write_failed != 0) remove the
 * temporary file and report, else commit it onto the final path. */
cgdml_status cgdml_atomic_fclose(cgdml_atomic *a, FILE *f, int write_failed);

/* Remove the temporaries a killed process left of `path` ("<path>.tmp-<pid>" of
 * a pid no longer running), or, if path is a folder, every such temporary in
 * it.  Returns how many were removed. */
size_t cgdml_atomic_clean(const char *path);

/* Remove the folder `dir` and everything in it (a members or scratch folder of
 * files and folders; symbolic links are removed, never followed).  An absent
 * folder is fine (CGDML_OK); CGDML_ERR_IO names what could not be removed. */
cgdml_status cgdml_atomic_remove_tree(const char *dir);

#endif
