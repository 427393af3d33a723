/* bench_ensemble.c - `make bench`: layer 1 of the two-layer ensemble, members per
 * minute and the parallel efficiency on this machine's cores: the same K members
 * trained on one thread, then side by side (one member per core, single-threaded
 * BLAS), then one at a time with threaded BLAS.
 *
 * usage: bench_ensemble [--members K] [--n-train M]     (default 16, 150)
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml.h"

/* Seconds to train the K members with the given layout and thread count. */
static double time_layer1(const cgdml_dataset *data, const cgdml_strata *strata, size_t k,
                          size_t m, int side_by_side, int threads)
{
    cgdml_layer1_options opt = {.n_members = k, .n_train = m, .sigma1 = 0.5, .lambda = 1e-8,
                                .draw = CGDML_DRAW_STRATIFIED, .seed = 1,
                                .side_by_side = side_by_side};
    cgdml_model **members = calloc(k, sizeof *members);
    omp_set_num_threads(threads);
    double t = cgdml_clock_wall_seconds();
    if (cgdml_ensemble_train_members(data, strata, NULL, &opt, members)) {
        fprintf(stderr, "bench_ensemble: %s\n", cgdml_error_message());
        exit(1);
    }
    t = cgdml_clock_wall_seconds() - t;
    for (size_t i = 0; i < k; i++)
        cgdml_model_free(members[i]);
    free(members);
    return t;
}

int main(int argc, char **argv)
{
    size_t k = 16, m = 150;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--members"))
            k = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--n-train"))
            m = strtoul(argv[i + 1], NULL, 10);
    }
    int cores = omp_get_max_threads();
    cgdml_harmonic_network *net;
    cgdml_dataset *data;
    cgdml_strata *strata;
    if (cgdml_harmonic_network_alloc(6, 20.0, 1, &net) ||
        cgdml_harmonic_network_sample(net, 20 * m, 0.12, 5.0, 2, &data) ||
        cgdml_strata_kmeans(data, 50, 3, &strata)) {
        fprintf(stderr, "bench_ensemble: %s\n", cgdml_error_message());
        return 1;
    }
    printf("bench_ensemble: K = %zu members of M = %zu frames (6 beads), %d cores\n", k, m,
           cores);
    double serial = time_layer1(data, strata, k, m, 0, 1);
    double side = time_layer1(data, strata, k, m, 1, cores);
    double blas = time_layer1(data, strata, k, m, 0, cores);
    printf("  one thread               %8.2f s  %8.1f members/min\n", serial, 60.0 * k / serial);
    printf("  side by side (%d cores)   %8.2f s  %8.1f members/min  efficiency %.0f %%\n", cores,
           side, 60.0 * k / side, 100.0 * serial / (side * cores));
    printf("  threaded BLAS (%d cores)  %8.2f s  %8.1f members/min  efficiency %.0f %%\n", cores,
           blas, 60.0 * k / blas, 100.0 * serial / (blas * cores));
    printf("  auto layout for this size: %s\n",
           3 * 6 * m <= CGDML_ENSEMBLE_SIDE_BY_SIDE_MAX_ORDER ? "side by side" : "threaded BLAS");
    cgdml_strata_free(strata);
    cgdml_dataset_free(data);
    cgdml_harmonic_network_free(net);
    return 0;
}
