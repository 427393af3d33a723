/* bench_scalapack.c - `make bench MPI=1`: the distributed layer-2 solve
 * (cgdml/distributed.h) on M frames of the shipped dataset, its ScaLAPACK
 * Cholesky rate next to the machine's dgemm measured in the same run on the same
 * ranks.  Run by the make target under mpirun -np 1 and -np 2, one thread per rank.
 *
 * The dgemm rate is measured on every rank at the same time (so that the ranks
 * share the machine as the solve does) and summed: the rate the ranks together
 * could reach; once before and once after the solve, and their mean taken, since
 * on a shared machine the share a rank gets drifts during a long solve.  pdpotrf's rate is n³/3
 * flops over its wall-clock time.  Target: at least half the summed dgemm rate (the one-process RFP
 * Cholesky's target in bench_train is 85 %; ScaLAPACK's panels and their broadcasts cost more). The
 * solution is checked by its residual ||F - (K + λI)α|| / ||F|| (matrix-free
 * product, kernel.h).
 *
 * usage: bench_scalapack [--frames M] [--block NB]   (default 1000 frames, a layer-1
 *        member's size in the paper: order 18,000, 2.6 GB in all, under two minutes
 *        per run here; block CGDML_DIST_DEFAULT_BLOCK)
 * Exit status 1 if the target is missed or the residual exceeds 1e-8.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_common.h"
#include "cgdml.h"
#include "cgdml/distributed.h"

/* Fraction of the ranks' summed dgemm rate pdpotrf must reach. */
#define TARGET_FACTOR_VS_DGEMM 0.5
/* Largest relative residual of the solution. */
#define MAX_RESIDUAL 1e-8

static int parse_args(int argc, char **argv, size_t *frames, int *block)
{
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return 1;
        if (!strcmp(argv[i], "--frames"))
            *frames = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--block"))
            *block = atoi(argv[i + 1]);
        else
            return 1;
    }
    return *frames < 1 || *block < 1;
}

/* The dgemm rates of all ranks measured at the same time, summed (every rank). */
static double summed_dgemm(void)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double mine = measure_dgemm(2000), sum;
    MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return sum;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t M = 1000;
    int block = CGDML_DIST_DEFAULT_BLOCK;
    if (parse_args(argc, argv, &M, &block)) {
        if (rank == 0)
            fprintf(stderr, "usage: %s [--frames M] [--block NB]\n", argv[0]);
        MPI_Finalize();
        return 2;
    }

    char path[4096];
    const char *src = getenv("CGDML_SRC");
    snprintf(path, sizeof path, "%s/datasets/ala2_cg6.h5", src ? src : ".");
    cgdml_dataset *data;
    if (cgdml_h5md_read(path, NULL, &data)) {
        fprintf(stderr, "rank %d: %s\n", rank, cgdml_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (M > data->n_frames)
        M = data->n_frames;
    size_t nb = data->n_beads, n3 = 3 * nb, d = cgdml_descriptor_size(nb), n = n3 * M;
    size_t stride = data->n_frames / M;
    double *D = malloc(M * d * sizeof(double)), *g = malloc(M * d * 3 * sizeof(double));
    double *F = malloc(n * sizeof(double)), *alpha = malloc(n * sizeof(double));
    for (size_t t = 0; t < M; t++) {
        cgdml_descriptor_jacobian(nb, data->coords + t * stride * n3, D + t * d, g + t * d * 3);
        memcpy(F + t * n3, data->forces + t * stride * n3, n3 * sizeof(double));
    }
    double sigma = 0.25, lambda = 1e-2 * 5.0 / (3.0 * sigma * sigma); /* make run's */

    double dgemm_before = summed_dgemm();

    cgdml_dist_options opt;
    cgdml_dist_options_init(&opt);
    opt.block = block;
    cgdml_dist_stats st;
    MPI_Barrier(MPI_COMM_WORLD);
    cgdml_status s =
        cgdml_dist_solve_kernel(MPI_COMM_WORLD, M, nb, D, g, sigma, lambda, F, alpha, &opt, &st);
    if (s) {
        if (rank == 0)
            fprintf(stderr, "bench_scalapack: %s\n", cgdml_error_message());
        MPI_Finalize();
        return 1;
    }
    double dgemm_after = summed_dgemm(), dgemm_sum = 0.5 * (dgemm_before + dgemm_after);
    size_t piece_max;
    MPI_Allreduce(&st.local_bytes, &piece_max, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);

    int ok = 1;
    if (rank == 0) {
        double *r = malloc(n * sizeof(double)), rr = 0.0, ff = 0.0;
        cgdml_kernel_product(M, nb, D, g, sigma, lambda, alpha, r);
        for (size_t i = 0; i < n; i++) {
            rr += (F[i] - r[i]) * (F[i] - r[i]);
            ff += F[i] * F[i];
        }
        free(r);
        double flops = (double)n * n * n / 3.0, rate = flops / st.factor_s / 1e9;
        printf("distributed layer-2 solve: %zu shipped frames, order %zu, sigma %g, lambda %.3g\n",
               M, n, sigma, lambda);
        printf("  ranks %d (grid %d x %d, block %d), %d thread(s) per rank; largest piece "
               "%.2f GB of %.2f GB full\n",
               size, st.nprow, st.npcol, st.block, omp_get_max_threads(), (double)piece_max / 1e9,
               (double)n * n * 8 / 1e9);
        printf("  dgemm (n = 2000) on every rank at once, summed: %.1f GFLOP/s before the "
               "solve, %.1f after, mean %.1f\n",
               dgemm_before, dgemm_after, dgemm_sum);
        printf("  assembly %.2f s, pdpotrf %.2f s (%.1f GFLOP/s, %.0f %% of summed dgemm), "
               "pdpotrs + gather %.3f s\n",
               st.assembly_s, st.factor_s, rate, 100 * rate / dgemm_sum, st.solve_s);
        printf("  relative residual ||F - (K + lambda I) alpha|| / ||F|| = %.2e\n", sqrt(rr / ff));
        ok &= verdict("pdpotrf / summed dgemm", rate / dgemm_sum, TARGET_FACTOR_VS_DGEMM, 0);
        ok &= verdict("relative residual / 1e-8", sqrt(rr / ff) / MAX_RESIDUAL, 1.0, 1);
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(D);
    free(g);
    free(F);
    free(alpha);
    cgdml_dataset_free(data);
    MPI_Finalize();
    return ok ? 0 : 1;
}
