/* sample.c - frame selections: seeded random draws, index files and complements
 * (see cgdml/sample.h).
 */
#include "cgdml/sample.h"

#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/npy.h"
#include "cgdml/atomic.h"

cgdml_status cgdml_sample_random(size_t n_frames, size_t m, unsigned long seed, size_t **out)
{
    *out = NULL;
    if (m == 0 || m > n_frames)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "cannot draw %zu frames from a dataset of %zu frames", m,
                               n_frames);
    size_t *all = malloc(n_frames * sizeof *all), *pick = malloc(m * sizeof *pick);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!all || !pick || !rng) {
        free(all);
        free(pick);
        gsl_rng_free(rng);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu indices", n_frames);
    }
    for (size_t f = 0; f < n_frames; f++)
        all[f] = f;
    gsl_rng_set(rng, seed);
    gsl_ran_choose(rng, pick, m, all, n_frames, sizeof(size_t)); /* keeps the order */
    gsl_rng_free(rng);
    free(all);
    *out = pick;
    return CGDML_OK;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Append v to the growing array (*a)[*n] of capacity *cap. */
static cgdml_status push_index(size_t **a, size_t *n, size_t *cap, size_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 1024;
        size_t *b = realloc(*a, c * sizeof *b);
        if (!b)
            return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu indices", c);
        *a = b;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return CGDML_OK;
}

static cgdml_status read_text_indices(const char *path, size_t **out, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot open the index file: %s", path,
                               strerror(errno));
    size_t cap = 0, count = 0, *a = NULL;
    char word[64];
    cgdml_status s = CGDML_OK;
    while (!s && fscanf(f, "%63s", word) == 1) {
        char *end;
        errno = 0;
        long long v = strtoll(word, &end, 10);
        if (*end || errno || v < 0)
            s = cgdml_error_set(CGDML_ERR_FORMAT,
                                "%s: entry %zu is '%s'; expected a non-negative integer", path,
                                count + 1, word);
        else
            s = push_index(&a, &count, &cap, (size_t)v);
    }
    fclose(f);
    if (!s && count == 0)
        s = cgdml_error_set(CGDML_ERR_FORMAT, "%s: the index file holds no indices", path);
    if (s) {
        free(a);
        return s;
    }
    *out = a;
    *n = count;
    return CGDML_OK;
}

cgdml_status cgdml_sample_read_indices(const char *path, size_t n_frames, size_t **out,
                                       size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t *a = NULL, count = 0;
    cgdml_status s = has_suffix(path, ".npy") ? cgdml_npy_read_indices(path, &a, &count)
                                              : read_text_indices(path, &a, &count);
    if (s)
        return s;
    for (size_t k = 0; k < count; k++)
        if (a[k] >= n_frames) {
            s = cgdml_error_set(CGDML_ERR_INVALID,
                                "%s: index %zu (entry %zu) is out of range: the dataset has "
                                "%zu frames",
                                path, a[k], k + 1, n_frames);
            free(a);
            return s;
        }
    *out = a;
    *n = count;
    return CGDML_OK;
}

cgdml_status cgdml_sample_complement(size_t n_frames, const size_t *idx, size_t n,
                                     size_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    unsigned char *used = calloc(n_frames ? n_frames : 1, 1);
    size_t *rest = malloc((n_frames ? n_frames : 1) * sizeof *rest);
    if (!used || !rest) {
        free(used);
        free(rest);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu indices", n_frames);
    }
    for (size_t k = 0; k < n; k++)
        if (idx[k] < n_frames)
            used[idx[k]] = 1;
    size_t count = 0;
    for (size_t f = 0; f < n_frames; f++)
        if (!used[f])
            rest[count++] = f;
    free(used);
    *out = rest;
    *n_out = count;
    return CGDML_OK;
}

cgdml_status cgdml_sample_write_indices(const char *path, const size_t *idx, size_t n)
{
    cgdml_atomic a;
    FILE *f;
    cgdml_status s = cgdml_atomic_fopen(&a, path, &f);
    if (s)
        return s;
    int failed = 0;
    for (size_t k = 0; k < n; k++)
        failed |= fprintf(f, "%zu\n", idx[k]) < 0;
    return cgdml_atomic_fclose(&a, f, failed);
}
