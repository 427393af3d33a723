/* test_ensemble_ranks.c - the ensemble across MPI ranks (cgdml_dist_ensemble_build)
 * and the solve server against one process, run under mpirun by make test-mpi
 * MPI=1 with 1 and 2 ranks (a plain driver, driver.h).
 *
 * What it checks, on a small harmonic network (6 beads, 5 members of 40 frames, a
 * 30-frame layer 2, 40 k-means strata): the ranks' average and distilled model equal rank 0's
 * one-process cgdml_ensemble_build bit for bit (coefficients and predicted
 * forces), and the members folder is gone from neither (the caller removes it);
 * with a distributed layer 2 the average is still identical and the distilled
 * model's forces agree to 1e-10 relative; `train` through the solve server
 * (cgdml_model_train_with, cgdml_dist_solve_fn) agrees with the double-precision
 * Cholesky to 1e-10; a memory budget that only the last rank cannot meet fails
 * every rank with that rank's message; --shard-like options and a σ₁ grid are
 * refused on more than one rank.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compare.h"
#include "cgdml.h"
#include "cgdml/distributed.h"
#include "driver.h"

/* Parity of a distributed solve with the one-process one, relative (the issue's). */
#define PARITY 1e-10

static cgdml_dataset *data, *held;
static char folder[64]; /* rank 0's temporary folder, the same path on every rank */

static void ensemble_options(cgdml_ensemble_options *o, const char *members)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", folder, members);
    cgdml_ensemble_options_init(o);
    o->strata.kmeans = 40;
    o->prior = 0;
    o->layer1.n_members = 5;
    o->layer1.n_train = 40;
    o->layer1.sigma1 = 0.5;
    o->layer1.lambda = 1e-6;
    o->layer1.seed = 3;
    o->layer1.checkpoint = path;
    o->sigma2 = 0.5;
    o->mean_set = 30;
}

/* Forces of a model on the held-out frames (new array). */
static double *forces_of(const cgdml_model *m)
{
    double *f = malloc(held->n_frames * 3 * held->n_beads * sizeof(double));
    cgdml_status s = cgdml_model_predict(m, held->n_frames, held->coords, f, NULL);
    check(s == CGDML_OK, "prediction: %s", cgdml_error_message());
    return f;
}

static size_t n_forces(void)
{
    return held->n_frames * 3 * held->n_beads;
}

/* The one-process ensemble, built by rank 0 alone (the reference). */
static cgdml_ensemble *one_process(void)
{
    cgdml_ensemble *e = NULL;
    if (rank == 0) {
        cgdml_ensemble_options o;
        ensemble_options(&o, "one.members");
        cgdml_status s = cgdml_ensemble_build(data, &o, &e);
        check(s == CGDML_OK, "one-process ensemble: %s", cgdml_error_message());
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return e;
}

/* Rank 0: the ranks' ensemble against the one-process one. */
static void compare(const char *what, const cgdml_ensemble *one, const cgdml_ensemble *e,
                    int distributed)
{
    if (rank != 0 || !one || !e)
        return;
    const cgdml_model *a = one->average, *b = e->average;
    check(a->n_train == b->n_train &&
              !memcmp(a->gamma, b->gamma, a->n_train * a->n_desc * sizeof(double)),
          "%s: the average's coefficients differ from one process's", what);
    double *fa = forces_of(one->distilled), *fb = forces_of(e->distilled);
    double diff = max_diff_rel(fa, fb, n_forces());
    printf("  %-40s distilled forces differ by %.2e relative\n", what, diff);
    if (distributed)
        check(diff <= PARITY, "%s: distilled forces differ by %.3g (> %g)", what, diff, PARITY);
    else
        check(!memcmp(fa, fb, n_forces() * sizeof(double)) &&
                  !memcmp(one->distilled->gamma, e->distilled->gamma,
                          one->distilled->n_train * one->distilled->n_desc * sizeof(double)),
              "%s: the distilled model is not one process's bit for bit (%.3g)", what, diff);
    free(fa);
    free(fb);
}

static void test_ranks_equal_one_process(const cgdml_ensemble *one, int distributed)
{
    cgdml_ensemble_options o;
    ensemble_options(&o, distributed ? "dist.members" : "ranks.members");
    cgdml_dist_options dist;
    cgdml_dist_options_init(&dist);
    dist.block = 16; /* cuts frames, and both ranks of two hold a piece */
    cgdml_ensemble *e = NULL;
    cgdml_status s = cgdml_dist_ensemble_build(MPI_COMM_WORLD, data, &o, distributed, &dist, &e);
    check(all_ranks(s == CGDML_OK), "ensemble on %d rank(s)%s: %s", size,
          distributed ? ", distributed layer 2" : "", cgdml_error_message());
    check((e != NULL) == (rank == 0 && s == CGDML_OK), "rank %d holds %s ensemble", rank,
          e ? "an" : "no");
    compare(distributed ? "ranks, distributed layer 2" : "ranks, layer 2 on rank 0", one, e,
            distributed);
    if (rank == 0)
        cgdml_atomic_remove_tree(o.layer1.checkpoint);
    cgdml_ensemble_free(e);
}

/* train's solve shared by the ranks against the double-precision Cholesky. */
static void test_train_with_server(void)
{
    size_t idx[60];
    for (size_t t = 0; t < 60; t++)
        idx[t] = 7 * t;
    double sigma = 0.5, lambda = 1e-4 * 5.0 / (3.0 * sigma * sigma);
    cgdml_dist_solver solver;
    cgdml_dist_solver_init(&solver, MPI_COMM_WORLD);
    solver.options.block = 32;
    if (rank != 0) {
        check(cgdml_dist_serve(&solver) == CGDML_OK, "serving: %s", cgdml_error_message());
        return;
    }
    /* two solves in a row: the servers go on serving until released */
    for (int pass = 0; pass < 2; pass++) {
        double sg = pass ? 2 * sigma : sigma;
        cgdml_model *ref = NULL, *got = NULL;
        cgdml_status s = cgdml_model_train_precision(data, idx, 60, NULL, sg, lambda,
                                                     CGDML_PRECISION_DOUBLE, NULL, &ref);
        cgdml_status t = cgdml_model_train_with(data, idx, 60, NULL, sg, lambda,
                                                cgdml_dist_solve_fn, &solver, NULL, &got);
        check(s == CGDML_OK && t == CGDML_OK, "training: %s", cgdml_error_message());
        if (ref && got) {
            double *fa = forces_of(ref), *fb = forces_of(got);
            double diff = max_diff_rel(fa, fb, n_forces());
            printf("  %-40s forces differ by %.2e relative (sigma %g)\n",
                   "train through the solve server", diff, sg);
            check(diff <= PARITY, "train through the server: forces differ by %.3g", diff);
            free(fa);
            free(fb);
        }
        cgdml_model_free(ref);
        cgdml_model_free(got);
    }
    cgdml_dist_serve_end(&solver, CGDML_OK);
}

/* The last rank alone cannot afford its members: every rank fails with its message. */
static void test_one_rank_short_of_memory(void)
{
    cgdml_ensemble_options o;
    ensemble_options(&o, "budget.members");
    if (rank == size - 1) /* enough for the strata (84 kB), not for a member (2 MB) */
        cgdml_memory_set_budget(500000);
    cgdml_ensemble *e = NULL;
    cgdml_status s = cgdml_dist_ensemble_build(MPI_COMM_WORLD, data, &o, 0, NULL, &e);
    cgdml_memory_set_budget(0);
    char prefix[32] = ""; /* one rank runs the one-process build, which names no rank */
    if (size > 1)
        snprintf(prefix, sizeof prefix, "rank %d: ", size - 1);
    check(s == CGDML_ERR_NOMEM && e == NULL && strstr(cgdml_error_message(), prefix) &&
              strstr(cgdml_error_message(), "layer 1") && strstr(cgdml_error_message(), "budget"),
          "budget on rank %d: status %d, \"%s\"", size - 1, s, cgdml_error_message());
    check(all_ranks(s == CGDML_ERR_NOMEM), "a rank did not report the last rank's failure");
    if (rank == 0)
        cgdml_atomic_remove_tree(o.layer1.checkpoint);
}

static void test_refusals(void)
{
    if (size == 1)
        return;
    cgdml_ensemble_options o;
    ensemble_options(&o, "refused.members");
    o.layer1.n_shards = 2;
    cgdml_ensemble *e = NULL;
    cgdml_status s = cgdml_dist_ensemble_build(MPI_COMM_WORLD, data, &o, 0, NULL, &e);
    check(s == CGDML_ERR_INVALID && strstr(cgdml_error_message(), "the ranks are the shards"),
          "shards on %d ranks: status %d, \"%s\"", size, s, cgdml_error_message());
    ensemble_options(&o, "refused.members");
    double grid[] = {0.5, 1.0};
    o.sigma1_grid = grid;
    o.n_sigma1_grid = 2;
    s = cgdml_dist_ensemble_build(MPI_COMM_WORLD, data, &o, 0, NULL, &e);
    check(s == CGDML_ERR_INVALID && strstr(cgdml_error_message(), "fixed sigma1"),
          "sigma1 grid on %d ranks: status %d, \"%s\"", size, s, cgdml_error_message());
    check(access(o.layer1.checkpoint, F_OK) != 0, "a refused run made its members folder");
}

int main(int argc, char **argv)
{
    driver_start(&argc, &argv, "test_ensemble_ranks");
    if (rank == 0) {
        strcpy(folder, "/tmp/cgdml-ranks-XXXXXX");
        check(mkdtemp(folder) != NULL, "cannot make a temporary folder");
    }
    MPI_Bcast(folder, sizeof folder, MPI_CHAR, 0, MPI_COMM_WORLD);
    cgdml_harmonic_network *net;
    cgdml_harmonic_network_alloc(6, 20.0, 5, &net);
    cgdml_harmonic_network_sample(net, 600, 0.12, 10.0, 1, &data);
    cgdml_harmonic_network_sample(net, 40, 0.12, 0.0, 2, &held);

    cgdml_ensemble *one = one_process();
    test_ranks_equal_one_process(one, 0);
    test_ranks_equal_one_process(one, 1);
    cgdml_ensemble_free(one);
    test_train_with_server();
    test_one_rank_short_of_memory();
    test_refusals();

    cgdml_dataset_free(data);
    cgdml_dataset_free(held);
    cgdml_harmonic_network_free(net);
    if (rank == 0) {
        char cmd[96];
        snprintf(cmd, sizeof cmd, "rm -rf %s", folder);
        check(system(cmd) == 0, "cannot remove %s", folder);
    }
    return driver_finish("test_ensemble_ranks");
}
