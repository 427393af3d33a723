/* bench_train.c - `make bench`: training and prediction speed of one GDML model on
 * M frames of a 6-bead system, next to the machine's own dgemm rate measured in the
 * same run.  Targets: Cholesky at >= 85 % of dgemm, assembly <= 10 % of the
 * Cholesky time, peak memory <= 0.6 x the full matrix (3NM)²·8 bytes; prediction
 * >= 4x the 52,700 frames/s of the per-frame sum the kernel-sum engine replaced
 * (M = 1000, this machine); one matrix-free product (K + λI) v <= 1/10 of an
 * assembly.
 *
 * usage: bench_train [--n-train M] [--beads N] [--predict P]   (default 1000, 6, 20000)
 * Exit status 1 if a target is missed.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "cgdml.h"

/* Fraction of the dgemm rate the RFP Cholesky must reach. */
#define TARGET_FACTOR_VS_DGEMM 0.85
/* Largest assembly time as a fraction of the factorisation time. */
#define TARGET_ASSEMBLY_VS_FACTOR 0.10
/* Largest peak resident memory as a fraction of the full (3NM)² matrix. */
#define TARGET_PEAK_VS_FULL 0.60
/* Prediction, frames/s of a 1000-frame model: 4x the 52,700 measured here with
 * the per-frame sum before the kernel-sum engine. */
#define TARGET_PREDICT_FRAMES_PER_S (4 * 52700.0)
/* Largest time of one matrix-free product as a fraction of one assembly. */
#define TARGET_PRODUCT_VS_ASSEMBLY 0.10

/* Best of three matrix-free products (K + λI) v over the model's training frames. */
static double time_product(const cgdml_dataset *data, size_t m, double sigma)
{
    size_t nb = data->n_beads, d = cgdml_descriptor_size(nb), n = 3 * nb * m;
    double *D = malloc(m * d * sizeof(double)), *g = malloc(m * 3 * d * sizeof(double)),
           *v = malloc(n * sizeof(double)), *out = malloc(n * sizeof(double)), best = INFINITY;
    for (size_t t = 0; t < m; t++)
        cgdml_descriptor_jacobian(nb, data->coords + t * 3 * nb, D + t * d, g + t * 3 * d);
    for (size_t a = 0; a < n; a++)
        v[a] = sin((double)a);
    for (int rep = 0; rep < 3; rep++) {
        double t = cgdml_clock_wall_seconds();
        if (cgdml_kernel_product(m, nb, D, g, sigma, 1e-8, v, out))
            best = NAN;
        best = fmin(best, cgdml_clock_wall_seconds() - t);
    }
    free(D);
    free(g);
    free(v);
    free(out);
    return best;
}

static int parse_args(int argc, char **argv, size_t *m, size_t *nb, size_t *np)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        size_t v = strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--n-train")) *m = v;
        else if (!strcmp(argv[i], "--beads")) *nb = v;
        else if (!strcmp(argv[i], "--predict")) *np = v;
        else {
            fprintf(stderr, "usage: %s [--n-train M] [--beads N] [--predict P]\n", argv[0]);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t m = 1000, nb = 6, np = 20000;
    if (parse_args(argc, argv, &m, &nb, &np))
        return 2;
    cgdml_harmonic_network *net;
    cgdml_dataset *data;
    cgdml_model *model;
    cgdml_train_stats st;
    if (cgdml_harmonic_network_alloc(nb, 20.0, 1, &net) ||
        cgdml_harmonic_network_sample(net, m + np, 0.12, 0.0, 2, &data)) {
        fprintf(stderr, "bench: %s\n", cgdml_error_message());
        return 1;
    }
    size_t *idx = malloc(m * sizeof *idx);
    for (size_t t = 0; t < m; t++)
        idx[t] = t;
    double n = 3.0 * (double)nb * (double)m, full_bytes = n * n * 8.0;
    printf("bench_train: M = %zu frames of %zu beads, system order %.0f, %d threads\n", m, nb, n,
           omp_get_max_threads());
    if (cgdml_model_train(data, idx, m, 0.5, 1e-8, &st, &model)) {
        fprintf(stderr, "bench: %s\n", cgdml_error_message());
        return 1;
    }
    double peak = (double)cgdml_memory_peak_rss();
    double factor_rate = n * n * n / 3.0 / st.factor_s / 1e9;
    double *f = malloc(np * 3 * nb * sizeof(double));
    double t = cgdml_clock_wall_seconds();
    cgdml_model_predict(model, np, data->coords + m * 3 * nb, f, NULL);
    double predict_s = cgdml_clock_wall_seconds() - t;
    double product_s = time_product(data, m, 0.5);
    double dgemm = measure_dgemm(4000);

    printf("  assembly            %8.2f s\n", st.assembly_s);
    printf("  factorisation       %8.2f s   %7.1f GFLOP/s\n", st.factor_s, factor_rate);
    printf("  machine dgemm                   %7.1f GFLOP/s (n = 4000, same run)\n", dgemm);
    printf("  peak resident       %8.2f GB  (full matrix %.2f GB, packed %.2f GB)\n", peak / 1e9,
           full_bytes / 1e9, (double)st.matrix_bytes / 1e9);
    printf("  prediction          %8.0f frames/s (%zu frames, M = %zu, %s kernel sum)\n",
           np / predict_s, np, m, cgdml_simd_name(cgdml_kernel_sum_simd(model->sum)));
    printf("  matrix-free product %8.4f s   ((K + lambda I) v, order %.0f)\n", product_s, n);
    int ok = verdict("factorisation / dgemm", factor_rate / dgemm, TARGET_FACTOR_VS_DGEMM, 0);
    ok &= verdict("assembly / factorisation time", st.assembly_s / st.factor_s,
                  TARGET_ASSEMBLY_VS_FACTOR, 1);
    ok &= verdict("peak memory / full matrix", peak / full_bytes, TARGET_PEAK_VS_FULL, 1);
    ok &= verdict("prediction / 1000 frames/s", np / predict_s / 1e3,
                  TARGET_PREDICT_FRAMES_PER_S / 1e3, 0);
    ok &= verdict("product / assembly time", product_s / st.assembly_s,
                  TARGET_PRODUCT_VS_ASSEMBLY, 1);
    free(f);
    free(idx);
    cgdml_model_free(model);
    cgdml_dataset_free(data);
    cgdml_harmonic_network_free(net);
    return ok ? 0 : 1;
}
