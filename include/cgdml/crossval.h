/* cgdml/crossval.h - choosing σ₁, σ₂ (and λ) of the two-layer ensemble by k-fold
 * cross-validation on held-out force-matching error (docs/method.md §4).
 *
 * Layer 1: the members are split into folds (member k is in fold k mod F); for
 * each fold, the average of the members outside it predicts the frames that only
 * the fold's members trained on.  Layer 2: the mean set is split into folds;
 * a distilled model trained on the other folds predicts the held-out one.  The
 * error is the force MSE against the raw (noisy) labels, prior included: its
 * floor is the label noise, the same for every grid point, so differences are
 * differences in distance to the mean force.  Tables are arrays the caller
 * provides (and owns), filled in place.
 */
#ifndef CGDML_CROSSVAL_H
#define CGDML_CROSSVAL_H

#include <stddef.h>

#include "cgdml/ensemble.h"

/* Folds of the published protocol. */
#define CGDML_CROSSVAL_DEFAULT_FOLDS 5

/* Frames the binned error uses at most (an even stride over the unused ones):
 * enough for ~20 per bin of a 36 x 36 grid's ~1000 occupied bins. */
#define CGDML_CROSSVAL_BINNED_MAX_FRAMES 20000
/* Bins per collective variable of the binned error's grid (10° for a dihedral). */
#define CGDML_CROSSVAL_BINNED_BINS 36

typedef struct cgdml_crossval_point {
    double sigma, lambda;
    double mse;        /* mean over folds, (kcal/mol/Å)² */
    double mse_stderr; /* standard error over folds */
    size_t n_eval;     /* held-out frames, over all folds */
    double mse_binned; /* cgdml_crossval_binned_error of the average of all members on
                        * frames no member trained on, (kcal/mol/Å)²; NaN if no bins */
} cgdml_crossval_point;

/* The binned force error, a selection target less noisy than the raw-label MSE
 * (docs/method.md §6): frames idx[0..n-1] are grouped by `bins` (coarse strata of
 * the collective variables); each frame's forces are turned into its own axes
 * (bead 0 -> 1, then the plane of bead 2: Cartesian forces of a tumbling molecule
 * average to zero); in each bin b with n_b >= 2 frames the model's mean
 * force over the bin's frames is compared with the labels' mean force, and the
 * noise of that comparison (the residuals' sample variance / n_b) is subtracted:
 *   mse = Σ_b n_b (|ȳ_b - ŷ_b|² - tr S_b / n_b) / (n · 3N)   in (kcal/mol/Å)²,
 * an unbiased estimate of the squared error of the model's bin-conditional mean
 * force.  Raw-label noise (~800 (kcal/mol/Å)² per component on the shipped data)
 * enters only through the variance of this estimate, not its mean.  It can be
 * slightly negative for a model whose bin means are exact. */
cgdml_status cgdml_crossval_binned_error(const cgdml_model *m, const cgdml_dataset *data,
                                         const size_t *idx, size_t n, const cgdml_strata *bins,
                                         double *mse);

/* table[i * n_lambdas + j] for sigmas[i], lambdas[j]: layer-1 CV with the
 * options of `base` (its sigma1/lambda are replaced by the grid's).  With `bins`
 * (NULL: none), each point also gets mse_binned of the average of all its
 * members on the frames none of them trained on. */
cgdml_status cgdml_crossval_layer1(const cgdml_dataset *data, const cgdml_strata *strata,
                                   const cgdml_strata *bins, const cgdml_prior *prior,
                                   const cgdml_layer1_options *base,
                                   const double *sigmas, size_t n_sigmas, const double *lambdas,
                                   size_t n_lambdas, size_t folds, cgdml_crossval_point *table);

/* table[i] for sigmas[i]: layer-2 CV on the mean set idx[0..n-1], each fold
 * solved in `precision` and scored by its force MSE against the average's own
 * predictions on the held-out fold (the labels layer 2 fits; raw forces would bury
 * the differences under their noise). */
cgdml_status cgdml_crossval_layer2(const cgdml_model *average, const cgdml_dataset *data,
                                   const size_t *idx, size_t n, const double *sigmas,
                                   size_t n_sigmas, double lambda, cgdml_precision precision,
                                   size_t folds, cgdml_crossval_point *table);

/* Index of the grid point with the lowest mse. */
size_t cgdml_crossval_best(const cgdml_crossval_point *table, size_t n);

/* Index of the grid point with the lowest finite mse_binned (the lowest mse if
 * none has one).  The pipeline's choice in layer 1: the raw-label MSE ranks
 * models by how they fit the noise more than by their landscape (docs/method.md
 * §6). */
size_t cgdml_crossval_best_binned(const cgdml_crossval_point *table, size_t n);

/* Whether the best point (index `best`) of an n_sigmas x n_lambdas table
 * (sigma-major, as cgdml_crossval_layer1 fills it) lies on an edge of its grid:
 * *sigma_edge and
 * *lambda_edge are -1 (lowest value), +1 (highest) or 0 (inside, or a grid of one
 * value, which says nothing).  An optimum on an edge is no optimum: extend the grid
 * (docs/method.md §6). */
void cgdml_crossval_edges(size_t best, size_t n_sigmas, size_t n_lambdas, int *sigma_edge,
                          int *lambda_edge);

/* The kernel's diagonal, 5/(3σ²) = s²/3 (H(0), kernel.h): the scale of λ, so that
 * a grid of λ relative to it regularises alike at every σ. */
static inline double cgdml_crossval_kernel_diagonal(double sigma)
{
    return 5.0 / (3.0 * sigma * sigma);
}

#endif
