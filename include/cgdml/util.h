/* cgdml/util.h - shared utilities every stage may use: atomic output files and
 * the memory budget.
 *
 * Atomic output: a writer creates "<path>.tmp-<pid>" in the same folder and renames
 * it over <path> only when complete, so an interrupted command leaves the old file
 * or the new one, never a torn one, and a failed command leaves no new file.
 *
 * Memory budget: every allocation whose size grows with the problem is first
 * checked with cgdml_memory_check() against the budget (default: 80 % of the
 * MemAvailable line of /proc/meminfo; cgdml_memory_set_budget() overrides it).
 */
#ifndef CGDML_UTIL_H
#define CGDML_UTIL_H

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

/* Fraction of MemAvailable used as the default budget. */
#define CGDML_MEMORY_DEFAULT_FRACTION 0.8

/* Bytes of memory the system reports available (MemAvailable), 0 if unknown. */
size_t cgdml_memory_available(void);
/* Set the budget in bytes; 0 restores the default. */
void cgdml_memory_set_budget(size_t bytes);
/* The budget in force, in bytes. */
size_t cgdml_memory_budget(void);
/* CGDML_OK if `bytes` fit in the budget, else CGDML_ERR_NOMEM with a message
 * naming `what`, the estimate and the budget. */
cgdml_status cgdml_memory_check(size_t bytes, const char *what);
/* Bytes a stage needs for a count n of what it works on (frames, bins); must not
 * decrease as n grows.  SIZE_MAX for a count whose need overflows. */
typedef size_t (*cgdml_memory_need)(size_t n, const void *ctx);
/* cgdml_memory_check(need(n, ctx), what); a refusal also names the count and the
 * largest count that fits, "<n> <unit> (at most about <k> fit): <what> needs ...",
 * so the user learns what to ask for instead. */
cgdml_status cgdml_memory_check_count(size_t n, const char *unit, cgdml_memory_need need,
                                      const void *ctx, const char *what);
/* Parse "24G", "512M", "1000000" (bytes) or "80%" (of available) into bytes. */
cgdml_status cgdml_memory_parse(const char *text, size_t *bytes);
/* Peak resident set size of this process in bytes (VmHWM), 0 if unknown. */
size_t cgdml_memory_peak_rss(void);
/* Reset the peak to the current resident size (Linux: "5" to /proc/self/clear_refs),
 * so that the next cgdml_memory_peak_rss measures one stage; 0 on success, -1 where
 * the kernel does not allow it (the peak then stays the process's). */
int cgdml_memory_peak_reset(void);

/* Allocate a large buffer (the kernel matrix) aligned to 2 MiB and marked for
 * transparent huge pages: first-touch page faults are the bulk of the assembly
 * time on virtual machines with 4 KiB pages.  Release with free().  NULL on
 * failure. */
void *cgdml_alloc_large(size_t bytes);

/* Monotonic wall-clock time in seconds. */
double cgdml_wall_seconds(void);

#endif
