/* memory.c - the memory budget, peak resident memory and large aligned buffers
 * (see cgdml/memory.h).
 */
#include "cgdml/memory.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t memory_budget_bytes; /* 0: default fraction of available memory */

size_t cgdml_memory_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (size_t)kb * 1024;
}

void cgdml_memory_set_budget(size_t bytes) { memory_budget_bytes = bytes; }

size_t cgdml_memory_budget(void)
{
    if (memory_budget_bytes)
        return memory_budget_bytes;
    size_t avail = cgdml_memory_available();
    return avail ? (size_t)(CGDML_MEMORY_DEFAULT_FRACTION * (double)avail) : (size_t)-1;
}

/* "1.23 GB", "456 kB", "12 bytes": a size in the unit that shows its digits (a
 * budget of 1K printed as "0.00 GB" tells the user nothing). */
static void format_bytes(char *out, size_t size, size_t bytes)
{
    static const struct {
        double scale;
        const char *unit;
    } units[] = {{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "kB"}};
    if (bytes == SIZE_MAX) {
        snprintf(out, size, "more than memory can address");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if ((double)bytes >= units[i].scale) {
            snprintf(out, size, "%.3g %s", (double)bytes / units[i].scale, units[i].unit);
            return;
        }
    snprintf(out, size, "%zu bytes", bytes);
}

cgdml_status cgdml_memory_check(size_t bytes, const char *what)
{
    size_t budget = cgdml_memory_budget();
    if (bytes <= budget)
        return CGDML_OK;
    char need[64], have[64];
    format_bytes(need, sizeof need, bytes);
    format_bytes(have, sizeof have, budget);
    return cgdml_error_set(CGDML_ERR_NOMEM,
                           "%s needs %s but the memory budget is %s (set it with --memory)", what,
                           need, have);
}

cgdml_status cgdml_memory_check_count(size_t n, const char *unit, cgdml_memory_need need,
                                      const void *ctx, const char *what)
{
    cgdml_status s = cgdml_memory_check(need(n, ctx), what);
    if (s == CGDML_OK)
        return s;
    /* The need grows with the count: bisect for the largest count that fits. */
    size_t budget = cgdml_memory_budget(), lo = 0, hi = n;
    if (need(0, ctx) > budget)
        hi = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (need(mid, ctx) <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    return cgdml_error_wrap(s, "%zu %s (at most about %zu fit)", n, unit, lo);
}

cgdml_status cgdml_memory_parse(const char *text, size_t *bytes)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || !(v > 0))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "memory size '%s': expected a positive number such as 8G, 512M "
                               "or 50%%",
                               text);
    double scale = 1;
    switch (*end) {
    case 'k': case 'K': scale = 1e3; end++; break;
    case 'm': case 'M': scale = 1e6; end++; break;
    case 'g': case 'G': scale = 1e9; end++; break;
    case 't': case 'T': scale = 1e12; end++; break;
    case '%': scale = (double)cgdml_memory_available() / 100; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "memory size '%s': unknown unit '%s' (use K, M, G, T or %%)", text,
                               end);
    *bytes = (size_t)(v * scale);
    return CGDML_OK;
}

size_t cgdml_memory_peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (size_t)kb * 1024;
}

int cgdml_memory_peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

void *cgdml_memory_alloc_large(size_t bytes)
{
    const size_t huge_page = (size_t)1 << 21;
    void *p = NULL;
    if (posix_memalign(&p, huge_page, bytes ? bytes : 1) != 0)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure is harmless */
    return p;
}
