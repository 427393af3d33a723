/* bench_common.h - the machine's own limit, measured in the same run as each
 * benchmark: the dgemm rate of the BLAS cgdml links (all threads).
 */
#ifndef CGDML_BENCH_COMMON_H
#define CGDML_BENCH_COMMON_H

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgdml/clock.h"

/* Prints a target line; 1 if met. */
static inline int verdict(const char *what, double value, double target, int at_most)
{
    int ok = at_most ? value <= target : value >= target;
    printf("  target %-34s %6.3f %s %.2f  %s\n", what, value, at_most ? "<=" : ">=", target,
           ok ? "met" : "MISSED");
    return ok;
}

/* Best of three n x n x n dgemm runs, GFLOP/s, all threads. */
static inline double measure_dgemm(size_t n)
{
    double *a = malloc(n * n * sizeof(double)), *b = malloc(n * n * sizeof(double)),
           *c = malloc(n * n * sizeof(double));
    for (size_t i = 0; i < n * n; i++) {
        a[i] = sin((double)i);
        b[i] = cos((double)i);
    }
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        double t = cgdml_clock_wall_seconds();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, a,
                    (int)n, b, (int)n, 0.0, c, (int)n);
        t = cgdml_clock_wall_seconds() - t;
        best = fmax(best, 2.0 * (double)n * n * n / t / 1e9);
    }
    free(a);
    free(b);
    free(c);
    return best;
}

#endif
