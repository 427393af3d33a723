/* bench_mixed.c - `make bench`: the mixed-precision training solve (single-
 * precision RFP factor, iterative refinement with the double-precision
 * matrix-free product) against a bare double-precision dpotrf of the same order,
 * both in this run, and the peak memory of mixed against double training.
 * Targets: mixed training (assembly, factor and refinement) <= 0.6 x the dpotrf
 * time; peak resident memory <= 0.55 x that of double-precision training of the
 * same M (measured in a child process, so each peak is its own).
 *
 * The frames are the harmonic network's; σ = 1, λ = 1e-3 (a ridge of the size
 * the noisy labels of CG data call for; with a far smaller λ single precision
 * cannot carry the system and training falls back to double).
 *
 * usage: bench_mixed [--n-train M]   (default 1000: order 18000)
 */
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "cgdml.h"

#define TARGET_MIXED_VS_DPOTRF 0.60
#define TARGET_PEAK_VS_DOUBLE 0.55
#define SIGMA 1.0
#define LAMBDA 1e-3

/* Seconds of LAPACKE_dpotrf on an n x n symmetric positive definite matrix. */
static double time_dpotrf(size_t n)
{
    double *a = malloc(n * n * sizeof(double));
    if (!a)
        return NAN;
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < n; i++)
            a[j * n + i] = i == j ? (double)n : 1.0 / (1.0 + (double)(i > j ? i - j : j - i));
    double t = cgdml_clock_wall_seconds();
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, a, (lapack_int)n);
    t = cgdml_clock_wall_seconds() - t;
    free(a);
    return info ? NAN : t;
}

/* Train in `precision`; returns the wall time, fills the stats. */
static double train(const cgdml_dataset *data, size_t m, cgdml_precision precision,
                    cgdml_train_stats *st)
{
    size_t *idx = malloc(m * sizeof *idx);
    for (size_t t = 0; t < m; t++)
        idx[t] = t;
    cgdml_model *model;
    double t = cgdml_clock_wall_seconds();
    cgdml_status s =
        cgdml_model_train_precision(data, idx, m, NULL, SIGMA, LAMBDA, precision, st, &model);
    t = cgdml_clock_wall_seconds() - t;
    free(idx);
    if (s) {
        fprintf(stderr, "bench_mixed: %s\n", cgdml_error_message());
        return NAN;
    }
    cgdml_model_free(model);
    return t;
}

static cgdml_dataset *frames(size_t m)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *data = NULL;
    if (cgdml_harmonic_network_alloc(6, 20.0, 1, &net) ||
        cgdml_harmonic_network_sample(net, m, 0.12, 0.0, 2, &data))
        fprintf(stderr, "bench_mixed: %s\n", cgdml_error_message());
    cgdml_harmonic_network_free(net);
    return data;
}

/* Peak resident bytes of a double-precision training, in a child process forked
 * before this process starts any OpenMP threads. */
static double double_peak(size_t m)
{
    int fd[2];
    double peak = NAN;
    if (pipe(fd))
        return NAN;
    pid_t pid = fork();
    if (pid == 0) {
        cgdml_train_stats st;
        cgdml_dataset *data = frames(m);
        double v = !data || isnan(train(data, m, CGDML_PRECISION_DOUBLE, &st))
                       ? NAN
                       : (double)cgdml_memory_peak_rss();
        ssize_t w = write(fd[1], &v, sizeof v);
        _exit(w == sizeof v ? 0 : 1);
    }
    close(fd[1]);
    if (pid > 0 && read(fd[0], &peak, sizeof peak) != sizeof peak)
        peak = NAN;
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return peak;
}

int main(int argc, char **argv)
{
    size_t m = 1000, nb = 6;
    if (argc == 3 && !strcmp(argv[1], "--n-train"))
        m = strtoul(argv[2], NULL, 10);
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--n-train M]\n", argv[0]);
        return 2;
    }
    double peak_double = double_peak(m);
    cgdml_dataset *data = frames(m);
    if (!data)
        return 1;
    size_t n = 3 * nb * m;
    printf("bench_mixed: M = %zu frames of %zu beads, order %zu, sigma %g, lambda %g, %d "
           "threads\n",
           m, nb, n, SIGMA, LAMBDA, omp_get_max_threads());
    cgdml_train_stats st;
    double mixed_s = train(data, m, CGDML_PRECISION_MIXED, &st);
    double peak_mixed = (double)cgdml_memory_peak_rss();
    double dpotrf_s = time_dpotrf(n);
    double dgemm = measure_dgemm(4000);
    printf("  mixed training      %8.2f s   (assembly %.2f, spftrf %.2f, %d refinements %.2f)%s\n",
           mixed_s, st.assembly_s, st.factor_s, st.refinements, st.solve_s,
           st.fallback[0] ? "  FELL BACK TO DOUBLE" : "");
    printf("  bare dpotrf         %8.2f s   (%.1f GFLOP/s; dgemm %.1f GFLOP/s, same run)\n",
           dpotrf_s, (double)n * n * n / 3.0 / dpotrf_s / 1e9, dgemm);
    printf("  peak resident       %8.2f GB mixed, %.2f GB double training\n", peak_mixed / 1e9,
           peak_double / 1e9);
    int ok = verdict("mixed training / bare dpotrf", mixed_s / dpotrf_s, TARGET_MIXED_VS_DPOTRF, 1);
    ok &=
        verdict("peak mixed / double training", peak_mixed / peak_double, TARGET_PEAK_VS_DOUBLE, 1);
    ok &= !st.fallback[0];
    cgdml_dataset_free(data);
    return ok ? 0 : 1;
}
