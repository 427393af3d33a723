/* test_mixed.c - the mixed-precision training solve (single-precision factor,
 * iterative refinement with the double-precision matrix-free product) against the
 * double-precision solve, on frames of the shipped alanine dipeptide data, and
 * its fallback to double precision when single precision cannot carry the system.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/h5md.h"
#include "cgdml/model.h"
#include "cgdml/synthetic.h"
#include "compare.h"
#include "shipped_data.h"

enum { M = 300, HELD = 200 };

/* Frames 0, 97, 194, ... for training; held-out frames in between. */
static void split(size_t *train, size_t *held)
{
    for (size_t t = 0; t < M; t++)
        train[t] = 97 * t;
    for (size_t t = 0; t < HELD; t++)
        held[t] = 97 * t + 48;
}

/* Held-out forces of models trained both ways; returns max |difference| / max |F|. */
static double compare(const cgdml_dataset *d, double sigma, double lambda,
                      cgdml_train_stats *mixed_stats, int *identical)
{
    size_t train[M], held[HELD], n3 = 3 * d->n_beads;
    split(train, held);
    cgdml_model *md, *mm;
    cr_assert_eq(cgdml_model_train_precision(d, train, M, NULL, sigma, lambda,
                                             CGDML_PRECISION_DOUBLE, NULL, &md),
                 CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(cgdml_model_train_precision(d, train, M, NULL, sigma, lambda,
                                             CGDML_PRECISION_MIXED, mixed_stats, &mm),
                 CGDML_OK, "%s", cgdml_error_message());
    double *x = malloc(HELD * n3 * sizeof(double)), *fd = malloc(HELD * n3 * sizeof(double)),
           *fm = malloc(HELD * n3 * sizeof(double));
    for (size_t t = 0; t < HELD; t++)
        memcpy(x + t * n3, d->coords + held[t] * n3, n3 * sizeof(double));
    cr_assert_eq(cgdml_model_predict(md, HELD, x, fd, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(mm, HELD, x, fm, NULL), CGDML_OK);
    *identical = !memcmp(md->gamma, mm->gamma, M * md->n_desc * sizeof(double));
    double rel = max_diff_rel(fd, fm, HELD * n3);
    free(x);
    free(fd);
    free(fm);
    cgdml_model_free(md);
    cgdml_model_free(mm);
    return rel;
}

Test(mixed, refined_solve_gives_the_double_forces, .timeout = 300)
{
    cgdml_dataset *d = shipped_dataset();
    cgdml_train_stats st;
    int identical;
    double rel = compare(d, 1.0, 1e-3, &st, &identical);
    cr_assert_eq(st.precision, CGDML_PRECISION_MIXED, "fell back: %s", st.fallback);
    cr_assert_str_empty(st.fallback);
    cr_assert(st.refinements >= 2 && st.refinements <= CGDML_MIXED_MAX_ITERATIONS, "%d refinements",
              st.refinements);
    cr_assert_eq(st.matrix_bytes, (size_t)(3 * 6 * M) * (3 * 6 * M + 1) / 2 * sizeof(float));
    cr_assert_leq(rel, 1e-6, "held-out forces differ by %g of the largest", rel);
    cr_assert(!identical, "the mixed solve must be its own computation");
    cgdml_dataset_free(d);
}

/* λ = 1e-11 against a diagonal of 5/(3σ²): condition far beyond 1/ε_single. */
Test(mixed, ill_conditioned_system_falls_back_to_double, .timeout = 300)
{
    cgdml_dataset *d = shipped_dataset();
    cgdml_train_stats st;
    int identical;
    compare(d, 1.0, 1e-11, &st, &identical);
    cr_assert_eq(st.precision, CGDML_PRECISION_DOUBLE);
    cr_assert_str_not_empty(st.fallback);
    cr_assert_eq(st.refinements, 0);
    cr_assert(identical, "the fallback must return the double-precision answer");
    cgdml_dataset_free(d);
}

/* A small system (also run under Valgrind): 40 harmonic-network frames. */
Test(mixed, small_system_matches_double)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *d;
    cr_assert_eq(cgdml_harmonic_network_alloc(6, 10.0, 7, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, 60, 0.2, 1.0, 3, &d), CGDML_OK);
    size_t idx[40];
    for (size_t t = 0; t < 40; t++)
        idx[t] = t;
    cgdml_model *md, *mm;
    cgdml_train_stats st;
    cr_assert_eq(
        cgdml_model_train_precision(d, idx, 40, NULL, 2.0, 1e-3, CGDML_PRECISION_DOUBLE, NULL, &md),
        CGDML_OK);
    cr_assert_eq(
        cgdml_model_train_precision(d, idx, 40, NULL, 2.0, 1e-3, CGDML_PRECISION_MIXED, &st, &mm),
        CGDML_OK);
    cr_assert_eq(st.precision, CGDML_PRECISION_MIXED, "%s", st.fallback);
    double fd[20 * 18], fm[20 * 18];
    cr_assert_eq(cgdml_model_predict(md, 20, d->coords + 40 * 18, fd, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(mm, 20, d->coords + 40 * 18, fm, NULL), CGDML_OK);
    cr_assert_leq(max_diff_rel(fd, fm, 20 * 18), 1e-6);
    cgdml_model_free(md);
    cgdml_model_free(mm);
    cgdml_dataset_free(d);
    cgdml_harmonic_network_free(net);
}

/* AUTO solves in mixed precision where λ is large against the kernel diagonal, in
 * double precision (without trying single) where it is not. */
Test(mixed, auto_chooses_by_the_relative_ridge)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *d;
    cr_assert_eq(cgdml_harmonic_network_alloc(6, 10.0, 7, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, 30, 0.2, 1.0, 3, &d), CGDML_OK);
    size_t idx[30];
    for (size_t t = 0; t < 30; t++)
        idx[t] = t;
    double diag = 5.0 / (3.0 * 2.0 * 2.0); /* sigma 2 */
    const double rel[] = {10 * CGDML_MIXED_MIN_RELATIVE_LAMBDA, 0.1 * CGDML_MIXED_MIN_RELATIVE_LAMBDA};
    for (int i = 0; i < 2; i++) {
        cgdml_model *m;
        cgdml_train_stats st;
        cr_assert_eq(cgdml_model_train_precision(d, idx, 30, NULL, 2.0, rel[i] * diag,
                                                 CGDML_PRECISION_AUTO, &st, &m),
                     CGDML_OK, "%s", cgdml_error_message());
        cr_assert_eq(st.precision, i == 0 ? CGDML_PRECISION_MIXED : CGDML_PRECISION_DOUBLE);
        cr_assert_str_empty(st.fallback, "AUTO never needs the fallback here: %s", st.fallback);
        cgdml_model_free(m);
    }
    cgdml_dataset_free(d);
    cgdml_harmonic_network_free(net);
}
