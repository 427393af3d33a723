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

/* A grid point of a cross-validation (crossval.h). */
typedef struct cgdml_crossval_point cgdml_crossval_point;

/* Ridge of members and distilled model when none is given: sGDML's default. */
#define CGDML_ENSEMBLE_DEFAULT_LAMBDA 1e-10
/* The mean set is one frame per occupied stratum, at most this many by default. */
#define CGDML_ENSEMBLE_MEAN_SET_MAX 3000
/* Values a grid of cgdml_ensemble_options may hold. */
#define CGDML_ENSEMBLE_GRID_MAX 16

typedef struct {
    size_t n_members;       /* K */
    size_t n_train;         /* M, frames per member */
    double sigma1;          /* members' length scale, 1/Å */
    double lambda;          /* ridge of members and distilled model */
    cgdml_draw_kind draw;   /* how member subsets are drawn (default stratified); with
                             * CGDML_DRAW_PARTITION member k is block k of one permutation
                             * of the strata's pool (disjoint members; K M must not exceed
                             * the pool, else CGDML_ERR_INVALID naming both) */
    unsigned long seed;     /* member k draws with seed + k + 1 (a partition: with seed) */
    int side_by_side;       /* -1 choose from the sizes, 0 one at a time, 1 side by side */
    cgdml_precision precision; /* members' solve (model.h) */
    const char *checkpoint; /* folder keeping finished members, NULL for none (borrowed) */
    cgdml_progress_fn progress; /* called with done = 0 before the first member, then after
                                 * each finished one (from one thread at a time) */
    void *progress_ctx;
    size_t *n_resumed;      /* if not NULL: set to the members loaded from the checkpoint */
    /* Job arrays (docs/cluster.md): with n_shards > 0 only the members k with
     * k mod n_shards == shard are trained (or loaded), the others left NULL; a
     * checkpoint folder is then required and gets a manifest (CGDML_SHARD_MANIFEST)
     * of the options members depend on.  A shard whose options differ from the
     * folder's manifest is refused naming the difference.  With n_shards 0 (the
     * default, all members) and a folder holding a shards' manifest, the options
     * must match it and every member must be there already (collecting): missing
     * members are refused, listed as ranges with the shard that owns them. */
    size_t shard, n_shards;
    /* How each member's system is solved: CGDML_SOLVER_CHOLESKY (default) in
     * `precision`, or CGDML_SOLVER_CG, matrix-free conjugate gradients (solve.h) for
     * members too large to factorise (make run's one member of 30,000 frames).  A CG
     * member takes its frames' strata as the preconditioner's keys, and with a
     * checkpoint folder keeps its iterations there, so a killed run resumes inside
     * the member too. */
    cgdml_solver solver;
    cgdml_cg_options cg; /* CG's options (default cgdml_cg_options_init's); keys,
                          * checkpoint and resume are set per member */
} cgdml_layer1_options;

/* The manifest a sharded layer 1 keeps in its checkpoint folder. */
#define CGDML_SHARD_MANIFEST "manifest.txt"
/* 1 when the checkpoint folder dir holds a shards' manifest (members of a job array). */
int cgdml_ensemble_checkpoint_has_shards(const char *dir);


/* Defaults: n_members, n_train and sigma1 0 (the caller must set them), lambda
 * CGDML_ENSEMBLE_DEFAULT_LAMBDA, stratified draws, seed 1, side_by_side -1 (chosen
 * from the sizes), precision CGDML_PRECISION_AUTO, no checkpoint, no progress, no
 * shards (n_shards 0: all members), Cholesky solves (CG options at their defaults).  (A
 * zeroed struct is not the default: it means one at a time in double precision.) */
void cgdml_layer1_options_init(cgdml_layer1_options *opt);

/* The frames of member k (M indices of the strata's pool, draw order; *idx is new,
 * free() it).  They depend only on the options, k and the strata, so a resumed or
 * sharded run draws the same. */
cgdml_status cgdml_ensemble_member_frames(const cgdml_strata *strata,
                                          const cgdml_layer1_options *opt, size_t k,
                                          size_t **idx);

/* Bytes layer 1 needs at once for the chosen parallel layout. */
size_t cgdml_ensemble_layer1_bytes(const cgdml_layer1_options *opt, size_t n_beads,
                                   int side_by_side);

/* Train the K members (members[k] allocated here; prior may be NULL).  With a
 * checkpoint folder, a member already saved there with the same frames and
 * hyperparameters is loaded instead of trained (resume), and every newly trained
 * member is saved there (atomically) as soon as it is done.  With shards only the
 * shard's members are made (the others stay NULL); see n_shards above. */
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
/* The same solved by the caller's `solve` (cgdml_model_train_with; NULL: as above). */
cgdml_status cgdml_ensemble_distill_with(const cgdml_model *average, const cgdml_dataset *data,
                                         const size_t *idx, size_t n, double sigma2, double lambda,
                                         cgdml_precision precision, cgdml_solve_fn solve, void *ctx,
                                         cgdml_model **out);

/* ---- the whole stage: cgdml_ensemble_build ---- */

/* What `cgdml ensemble` does, as options.  Pointers are borrowed for the call. */
typedef struct {
    cgdml_strata_options strata;   /* default φ/ψ on 300 x 300 (strata.h).  Frames to keep
                                    * out of the members, the mean set and the frames the
                                    * cross-validation judges (a held-out set): strata.exclude
                                    * (the prior is still fitted on all frames) */
    int prior;                     /* 1 (default): fit the harmonic prior on all frames; 0: none */
    const int *bonds;              /* prior topology [n_bonds][2]; NULL (default): the data's
                                    * bonds, else the alanine default (cgdml_prior_fit_topology) */
    size_t n_bonds;
    double temperature;            /* of the prior's Boltzmann inversion, K (default 300) */
    const cgdml_prior *use_prior;  /* a prior fitted already (copied); NULL (default): fit one */
    cgdml_layer1_options layer1;   /* K, M, σ₁, λ, draws, seed, ... (cgdml_layer1_options_init) */
    int resume;                    /* 0 (default): empty layer1.checkpoint first; 1: reuse it.
                                    * A sharded run (layer1.n_shards > 0) always reuses it and
                                    * stops after layer 1 (no average, no layer 2); a folder
                                    * holding shards' members is never emptied: a run
                                    * without resume is refused, one with it collects. */
    /* σ₁ and λ by cross-validation over folds of members when n_sigma1_grid > 0 (else
     * layer1.sigma1 and layer1.lambda): every σ₁ with every λ of lambda_grid (none:
     * layer1.lambda), λ taken times the kernel diagonal 5/(3σ₁²) with lambda_relative. */
    const double *sigma1_grid;
    size_t n_sigma1_grid;
    const double *lambda_grid;
    size_t n_lambda_grid;
    int lambda_relative;
    int select_raw;                /* 0 (default): choose by the binned error; 1: raw MSE */
    size_t folds;                  /* default CGDML_CROSSVAL_DEFAULT_FOLDS (5) */
    size_t mean_set;               /* layer-2 frames; 0 (default): min(strata,
                                    * CGDML_ENSEMBLE_MEAN_SET_MAX), drawn with seed K + 1 */
    double sigma2;                 /* distilled model's σ when no grid and not sigma2_same */
    int sigma2_same;               /* 1: σ₂ = the chosen σ₁ */
    const double *sigma2_grid;     /* σ₂ by cross-validation over folds of the mean set */
    size_t n_sigma2_grid;
    /* The distilled model's ridge λ₂: lambda2, or, with lambda2_grid, each value of the
     * grid cross-validated with each σ₂ (grid or single) over folds of the mean set
     * against the average's labels; with lambda2_relative every value is taken times
     * the kernel diagonal 5/(3σ₂²).  lambda2 0 and no grid (the default): the
     * members' chosen λ.  Its labels are averages, nearly free of the label noise, so
     * a λ₂ far below the members' keeps more of the average (docs/method.md §6). */
    double lambda2;
    const double *lambda2_grid;
    size_t n_lambda2_grid;
    int lambda2_relative;
    /* The distilled model's solve: NULL (default) the one-process Cholesky in
     * layer1.precision; else this one (cgdml_model_train_with, ctx layer2_ctx), e.g.
     * the MPI build's ScaLAPACK solve (cgdml/distributed.h).  The σ₂/λ₂
     * cross-validation's fold models are solved by the one-process Cholesky. */
    cgdml_solve_fn layer2_solve;
    void *layer2_ctx;
    /* Reports, all optional (NULL, the default): a line of progress or a warning
     * ("warning: the best sigma1 is ..."), and each finished CV table with its
     * chosen row. */
    void (*note)(void *ctx, const char *line);
    void (*crossval_done)(void *ctx, int layer, const cgdml_crossval_point *table, size_t n,
                          size_t best);
    void *ctx;
} cgdml_ensemble_options;

/* The defaults documented above; layer1 from cgdml_layer1_options_init (members,
 * frames and σ₁ still to be set). */
void cgdml_ensemble_options_init(cgdml_ensemble_options *opt);

/* What cgdml_ensemble_build made; everything is owned by the struct
 * (cgdml_ensemble_free releases it all). */
typedef struct {
    cgdml_model *distilled;        /* layer 2, with the prior and the CV table (cv_table);
                                    * NULL after a sharded layer 1 */
    cgdml_model *average;          /* layer 1's average, with the prior; NULL after a shard */
    cgdml_model **members;         /* [n_members], without prior (a shard: only its own) */
    size_t n_members;
    size_t n_resumed;              /* members taken from the checkpoint folder */
    size_t n_trained;              /* members this call made or loaded (a shard's, or all) */
    cgdml_strata *strata;
    cgdml_prior *prior;            /* NULL without a prior */
    size_t *mean_set, n_mean_set;  /* layer-2 frames */
    double sigma1, lambda, sigma2, lambda2; /* the values used */
    cgdml_crossval_point *cv1, *cv2; /* CV tables (NULL when not cross-validated) */
    size_t n_cv1, n_cv2, best_cv1, best_cv2;
} cgdml_ensemble;

/* Strata -> prior -> [σ₁/λ cross-validation] -> layer 1 -> average -> mean set ->
 * [σ₂ cross-validation] -> distilled model, the prior attached to both models
 * and the CV rows recorded in the distilled one, in memory; the same options give
 * the same models as `cgdml ensemble`.  The checkpoint folder (layer1.checkpoint)
 * is left for the caller to remove once it has saved what it needs
 * (cgdml_atomic_remove_tree).  With layer1.n_shards > 0 the call stops after the
 * shard's members (members[k] NULL for the others, no average, no distilled model,
 * no mean set); a later call without shards and with resume collects them.
 * *out is new (cgdml_ensemble_free); NULL on error. */
cgdml_status cgdml_ensemble_build(const cgdml_dataset *data, const cgdml_ensemble_options *opt,
                                  cgdml_ensemble **out);
void cgdml_ensemble_free(cgdml_ensemble *ensemble);

#endif
