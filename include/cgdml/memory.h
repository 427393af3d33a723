/* cgdml/memory.h - the memory budget, peak-memory measurement and large aligned
 * buffers.
 *
 * Every allocation whose size grows with the problem is first checked with
 * cgdml_memory_check() against the budget (default: 80 % of the MemAvailable line
 * of /proc/meminfo; cgdml_memory_set_budget() overrides it).  The budget is one
 * per process (not per thread).
 */
#ifndef CGDML_MEMORY_H
#define CGDML_MEMORY_H

#include <stddef.h>

#include "cgdml/error.h"

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
void *cgdml_memory_alloc_large(size_t bytes);

#endif
