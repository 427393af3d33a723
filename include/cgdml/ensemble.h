/* cgdml/ensemble.h - the two-layer ensemble of Wang et al. (docs/method.md §4).
 *
 * Layer 1 trains K GDML members, each on M frames drawn from the strata, on
 * prior-subtracted labels.  Their plain average (one σ₁) is itself a model: the
 * concatenation of all members' training frames with γ/K.  Layer 2 draws a mean
 * set of M₂ frames (one per stratum), labels it with the average's predictions - a
 * denoised mean force - and trains one distilled model on it with its own σ₂.
 * Cross-validation over folds of members (σ₁) and of the mean set (σ₂) chooses
 * the hyperparameters on held-out force-matching error.
 */
#ifndef CGDML_ENSEMBLE_H
#define CGDML_ENSEMBLE_H

#include <stddef.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"
#include "cgdml/model.h"
#include "cgdml/prior.h"
#include "cgdml/strata.h"

/* Members per thread pair: below this system order (3NM) members train side by
 * side, one per core with single-threaded BLAS; above it one at a time with
 * threaded BLAS.  Around order 3000 a member takes ~0.1 s and threaded BLAS
 * does not yet reach its peak, so side by side wins (make bench measures it). */
#define CGDML_ENSEMBLE_SIDE_BY_SIDE_MAX_ORDER 6000

typedef void (*cgdml_progress_fn)(void *ctx, size_t done, size_t total);

typedef struct {
    size_t n_members;       /* K */
    size_t n_train;         /* M, frames per member */
    double sigma1;          /* members' length scale, 1/Å */
    double lambda;          /* ridge of members and distilled model */
    cgdml_draw_kind draw;   /* how member subsets are drawn (default stratified) */
    unsigned long seed;     /* member k draws with seed + k + 1 */
    int side_by_side;       /* -1 choose from the sizes, 0 one at a time, 1 side by side */
    cgdml_precision precision; /* members' solve (model.h); 0 = CGDML_PRECISION_DOUBLE */
    const char *checkpoint; /* folder keeping finished members, NULL for none */
    cgdml_progress_fn progress;
    void *progress_ctx;
    size_t *n_resumed;      /* if not NULL: set to the members loaded from the checkpoint */
} cgdml_layer1_options;

/* The frames of member k (M indices, draw order). */
cgdml_status cgdml_ensemble_member_frames(const cgdml_strata *strata,
                                          const cgdml_layer1_options *opt, size_t k,
                                          size_t **idx);

/* Bytes layer 1 needs at once for the chosen parallel layout. */
size_t cgdml_ensemble_layer1_bytes(const cgdml_layer1_options *opt, size_t n_beads,
                                   int side_by_side);

/* Train the K members (members[k] allocated here; prior may be NULL).  With a
 * checkpoint folder, a member already saved there with the same frames and
 * hyperparameters is loaded instead of trained (resume), and every newly trained
 * member is saved there (atomically) as soon as it is done. */
cgdml_status cgdml_ensemble_train_members(const cgdml_dataset *data, const cgdml_strata *strata,
                                          const cgdml_prior *prior,
                                          const cgdml_layer1_options *opt,
                                          cgdml_model **members);

/* The averaged model of members[0..k-1] (same σ and beads): kind AVERAGE. */
cgdml_status cgdml_ensemble_average(cgdml_model *const *members, size_t k, cgdml_model **out);

/* Labels of frames idx[0..n-1] by the kernel part of `average` (its prior left
 * out), out[n][bead][xyz]. */
cgdml_status cgdml_ensemble_label(const cgdml_model *average, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, double *out);

/* Layer 2: train the distilled model on frames idx[0..n-1] (the mean set)
 * labelled by the average, solved in `precision`; kind DISTILLED. */
cgdml_status cgdml_ensemble_distill(const cgdml_model *average, const cgdml_dataset *data,
                                    const size_t *idx, size_t n, double sigma2, double lambda,
                                    cgdml_precision precision, cgdml_model **out);

/* Give `model` its own copy of the prior (replacing any it had). */
cgdml_status cgdml_model_attach_prior(cgdml_model *model, const cgdml_prior *prior);

#endif
