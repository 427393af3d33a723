/* cgdml/crossval.h - choosing σ₁, σ₂ (and λ) of the two-layer ensemble by k-fold
 * cross-validation on held-out force-matching error (docs/method.md §4).
 *
 * Layer 1: the members are split into folds (member k is in fold k mod F); for
 * each fold, the average of the members outside it predicts the frames that only
 * the fold's members trained on.  Layer 2: the mean set is split into folds;
 * a distilled model trained on the other folds predicts the held-out one.  The
 * error is the force MSE against the raw (noisy) labels, prior included: its
 * floor is the label noise, the same for every grid point, so differences are
 * differences in distance to the mean force.
 */
#ifndef CGDML_CROSSVAL_H
#define CGDML_CROSSVAL_H

#include <stddef.h>

#include "cgdml/ensemble.h"

/* Folds of the published protocol. */
#define CGDML_CROSSVAL_DEFAULT_FOLDS 5

typedef struct {
    double sigma, lambda;
    double mse;        /* mean over folds, (kcal/mol/Å)² */
    double mse_stderr; /* standard error over folds */
    size_t n_eval;     /* held-out frames, over all folds */
} cgdml_cv_point;

/* table[i * n_lambdas + j] for sigmas[i], lambdas[j]: layer-1 CV with the
 * options of `base` (its sigma1/lambda are replaced by the grid's). */
cgdml_status cgdml_crossval_layer1(const cgdml_dataset *data, const cgdml_strata *strata,
                                   const cgdml_prior *prior, const cgdml_layer1_options *base,
                                   const double *sigmas, size_t n_sigmas, const double *lambdas,
                                   size_t n_lambdas, size_t folds, cgdml_cv_point *table);

/* table[i] for sigmas[i]: layer-2 CV on the mean set idx[0..n-1], each fold
 * solved in `precision` and scored by its force MSE against the average's own
 * predictions on the held-out fold (the labels layer 2 fits; raw forces would bury
 * the differences under their noise). */
cgdml_status cgdml_crossval_layer2(const cgdml_model *average, const cgdml_dataset *data,
                                   const size_t *idx, size_t n, const double *sigmas,
                                   size_t n_sigmas, double lambda, cgdml_precision precision,
                                   size_t folds, cgdml_cv_point *table);

/* Index of the grid point with the lowest mse. */
size_t cgdml_crossval_best(const cgdml_cv_point *table, size_t n);

/* Whether the best point of an n_sigmas x n_lambdas table (sigma-major, as
 * cgdml_crossval_layer1 fills it) lies on an edge of its grid: *sigma_edge and
 * *lambda_edge are -1 (lowest value), +1 (highest) or 0 (inside, or a grid of one
 * value, which says nothing).  An optimum on an edge is no optimum: extend the grid
 * (docs/method.md §6). */
void cgdml_crossval_edges(const cgdml_cv_point *table, size_t n_sigmas, size_t n_lambdas,
                          int *sigma_edge, int *lambda_edge);

/* The kernel's diagonal, 5/(3σ²) = s²/3 (H(0), kernel.h): the scale of λ, so that
 * a grid of λ relative to it regularises alike at every σ. */
static inline double cgdml_crossval_kernel_diagonal(double sigma)
{
    return 5.0 / (3.0 * sigma * sigma);
}

#endif
