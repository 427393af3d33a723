/* compare.h - the largest-entry comparisons the tests measure agreement with
 * (plain C, no Criterion: the MPI test driver uses them too).
 */
#ifndef CGDML_TESTS_COMPARE_H
#define CGDML_TESTS_COMPARE_H

#include <math.h>
#include <stddef.h>

/* max_i |a_i|. */
static inline double max_abs(const double *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* max_i |ref_i - b_i| / max_i |ref_i|: b against the reference ref. */
static inline double max_diff_rel(const double *ref, const double *b, size_t n)
{
    double diff = 0.0;
    for (size_t i = 0; i < n; i++)
        diff = fmax(diff, fabs(ref[i] - b[i]));
    return diff / max_abs(ref, n);
}

#endif
