/* cgdml/pipeline.h - the whole pipeline on a dataset in one call, what `cgdml run`
 * (and `make run`) does: the reference landscape and its floor -> the two-layer
 * ensemble -> CG simulation with the distilled model from the dataset's frames ->
 * the landscape after the burn-in, its convergence check and its comparison with
 * the reference.  Everything stays in memory; the caller saves what it wants
 * after each stage (stage_end).
 */
#ifndef CGDML_PIPELINE_H
#define CGDML_PIPELINE_H

#include <stddef.h>

#include "cgdml/dataset.h"
#include "cgdml/ensemble.h"
#include "cgdml/error.h"
#include "cgdml/fes.h"
#include "cgdml/simulate.h"

/* Defaults chosen by measurement on the shipped data (README, "How make run's
 * defaults were chosen"), sized to finish well under 15 minutes on 2 cores.
 * Layer 1 is one member of 30,000 frames drawn with the data's weights, solved by
 * conjugate gradients (an order-540,000 system no Cholesky fits): small members
 * need a ridge that suits their size, and an average keeps their smoothing bias
 * (docs/method.md §6), while one large member at a light ridge, λ = 1e-3 of the
 * kernel diagonal 5/(3σ²) at σ₁ = 0.25, keeps the β well.  Layer 2 distils it onto
 * 1500 frames at λ₂ = 1e-4 of the diagonal: its labels are the member's forces,
 * nearly free of label noise.  No cross-validation: neither the raw nor the binned
 * force error picks the landscape's best point (README). */
#define CGDML_PIPELINE_MEMBERS 1
#define CGDML_PIPELINE_N_TRAIN 30000
#define CGDML_PIPELINE_SOLVER CGDML_SOLVER_CG
#define CGDML_PIPELINE_DRAW CGDML_DRAW_RANDOM
#define CGDML_PIPELINE_SIGMA1 0.25
#define CGDML_PIPELINE_LAMBDA_REL 1e-3
#define CGDML_PIPELINE_LAMBDA2_REL 1e-4
#define CGDML_PIPELINE_MEAN_SET 1500
#define CGDML_PIPELINE_REPLICAS 100
#define CGDML_PIPELINE_STEPS 300000
#define CGDML_PIPELINE_SAVE_EVERY 500
/* Steps discarded before the landscape: this many, or a third of shorter runs
 * (the α_R population of CG runs on the shipped data stops drifting after about
 * 60,000 steps of 2 fs). */
#define CGDML_PIPELINE_BURN_IN 100000

typedef enum {
    CGDML_STAGE_REFERENCE,
    CGDML_STAGE_ENSEMBLE,
    CGDML_STAGE_SIMULATION,
    CGDML_STAGE_LANDSCAPE,
    CGDML_N_STAGES
} cgdml_pipeline_stage;

/* What the pipeline made; owned by the struct (cgdml_pipeline_free). */
typedef struct {
    cgdml_fes_reference *reference;
    cgdml_ensemble *ensemble;
    cgdml_trajectory *trajectory;
    cgdml_fes_assessment landscape; /* the trajectory's, against the reference */
    double seconds[CGDML_N_STAGES];
} cgdml_pipeline;

typedef struct {
    cgdml_ensemble_options ensemble; /* the run's defaults (above): σ₁ and λ fixed (no
                                      * grid), λ₂ relative; a CV grid given here may
                                      * point into sigma1_grid and lambda_grid */
    double sigma1_grid[1], lambda_grid[1];
    size_t replicas;                 /* default 100 */
    cgdml_start_kind start;          /* default equilibrium */
    cgdml_simulate_options simulate; /* default 300,000 steps saved every 500, overdamped */
    size_t burn_in;                  /* SIZE_MAX (default): 100,000, or a third of shorter runs */
    size_t bins;                     /* landscape bins per angle (default 60) */
    unsigned long seed;              /* members, strata, starts, simulation, matched floor
                                      * (default 1; cgdml_pipeline_options_seed sets all) */
    /* Optional reports: a stage begins; a stage ended (what exists so far; a non-zero
     * status stops the pipeline with that status, e.g. a file that could not be
     * saved). */
    void (*stage_begin)(void *ctx, cgdml_pipeline_stage stage);
    cgdml_status (*stage_end)(void *ctx, cgdml_pipeline_stage stage, const cgdml_pipeline *p);
    void *ctx;
} cgdml_pipeline_options;

/* The defaults above (layer1.lambda = CGDML_PIPELINE_LAMBDA_REL x 5/(3σ₁²) for the
 * default σ₁: set both when changing σ₁).  sigma1_grid and lambda_grid hold σ₁ and
 * the relative λ, for a caller who turns the cross-validation on
 * (ensemble.n_sigma1_grid = 1 with the grids pointed at them: make run's former
 * ensemble mode). */
void cgdml_pipeline_options_init(cgdml_pipeline_options *opt);
/* Set the one seed of every stage (members and k-means strata, starts and noise,
 * the matched floor's blocks). */
void cgdml_pipeline_options_seed(cgdml_pipeline_options *opt, unsigned long seed);

/* Run the four stages on `data` (frames in time order).  *out is new
 * (cgdml_pipeline_free); on error NULL, and what the stages made so far is freed
 * (stage_end has seen it). */
cgdml_status cgdml_pipeline_run(const cgdml_dataset *data, const cgdml_pipeline_options *opt,
                                cgdml_pipeline **out);
void cgdml_pipeline_free(cgdml_pipeline *p);

#endif
