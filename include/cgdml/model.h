/* cgdml/model.h - a trained GDML force field: training, prediction, evaluation,
 * and its HDF5 file.
 *
 * A model keeps, for each of its M training frames, the descriptor D_j[d] (1/Å)
 * and the coefficients γ_j = J(x_j) α_j [d], where α solves (K + λI) α = F_train
 * (docs/method.md §2).  Prediction for a frame x is then O(M·d):
 *   F(x) = J(x)ᵀ Σ_j H(D(x) - D_j) γ_j                       kcal/mol/Å
 *   E(x) = -(s²/3) Σ_j (1 + sρ_j) exp(-sρ_j) (u_j·γ_j)        kcal/mol, up to a constant
 * An averaged ensemble with one σ is the same sum over all members' frames with
 * γ scaled by 1/K, so every kind of model shares this struct and this code.
 */
#ifndef CGDML_MODEL_H
#define CGDML_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"
#include "cgdml/prior.h"
#include "cgdml/solve.h"

/* Version of the model file layout; readers refuse newer files. */
#define CGDML_MODEL_FORMAT_VERSION 1

typedef enum {
    CGDML_MODEL_SINGLE = 0,    /* one GDML solve */
    CGDML_MODEL_AVERAGE = 1,   /* layer-1 members averaged into one sum */
    CGDML_MODEL_DISTILLED = 2, /* layer-2 model trained on the averaged labels */
} cgdml_model_kind;

typedef struct {
    cgdml_model_kind kind;
    size_t n_beads;
    size_t n_desc;          /* d = n_beads (n_beads - 1) / 2 */
    size_t n_train;         /* M, training frames (over all members) */
    double sigma;           /* Matérn length scale, descriptor units (1/Å) */
    double lambda;          /* ridge added to the kernel diagonal */
    double *train_desc;     /* [train][d], 1/Å */
    double *gamma;          /* [train][d] */
    size_t *train_indices;  /* [train], frame indices into the training dataset */
    uint64_t dataset_hash;  /* cgdml_dataset_hash of the training dataset */
    char (*bead_names)[CGDML_NAME_MAX]; /* [bead] */
    cgdml_prior *prior;     /* owned; NULL: none.  Added to every prediction. */
    size_t cv_rows;         /* cross-validation table that chose the hyperparameters */
    double *cv_table;       /* [row][CGDML_CV_COLUMNS], owned, NULL if none */
    struct cgdml_kernel_sum *sum; /* owned: prediction's table, built from train_desc,
                                   * gamma and sigma by cgdml_model_prepare; NULL:
                                   * prediction builds a temporary one per call */
} cgdml_model;

/* Range of σ (1/Å) training accepts.  Inverse distances lie in (0, 1e3]
 * (CGDML_MIN_BEAD_DISTANCE), and frames of MD data differ by 1e-3 or more: below
 * 1e-6 the kernel between any two frames is exp(-2000) = 0 (every frame isolated;
 * below about 1e-154 its prefactor 5/(3σ²) overflows and the model is NaN); above
 * 1e6 it is constant to 1e-4 over all data (the model is flat).  Both ends are six
 * orders of magnitude beyond the useful σ of 0.1 to 10. */
#define CGDML_SIGMA_MIN 1e-6
#define CGDML_SIGMA_MAX 1e6

/* Columns of a model's cross-validation table: layer (1 or 2), sigma, lambda,
 * held-out force MSE, its standard error, held-out frames, binned error
 * (crossval.h; NaN when not measured, and in files written before it). */
#define CGDML_CV_COLUMNS 7

/* Precision of the training solve (docs/method.md §7). */
typedef enum {
    CGDML_PRECISION_DOUBLE = 0, /* assemble and factorise in double precision */
    CGDML_PRECISION_MIXED = 1,  /* single-precision matrix and factor (half the memory),
                                 * iterative refinement to double-precision accuracy with
                                 * the matrix-free product; falls back to DOUBLE by itself
                                 * when single precision cannot carry the system */
    CGDML_PRECISION_AUTO = 2,   /* MIXED when λ >= CGDML_MIXED_MIN_RELATIVE_LAMBDA times the
                                 * kernel diagonal 5/(3σ²), else DOUBLE */
} cgdml_precision;

/* Smallest λ, relative to the kernel diagonal 5/(3σ²), for which AUTO solves in mixed
 * precision.  Measured on 1000 shipped alanine dipeptide frames at σ = 1: the
 * refinement converged in 3 steps at a relative λ of 6e-3 and in 8 at 6e-5, while
 * at 6e-6 the single-precision Cholesky failed and training fell back (README,
 * Benchmark); 1e-4 keeps a margin. */
#define CGDML_MIXED_MIN_RELATIVE_LAMBDA 1e-4

/* Refinement stops when ||r||∞ <= CGDML_MIXED_TOLERANCE ||α||∞ ||K + λI||_F √n, the
 * test of LAPACK's dsposv: a residual as small as a double-precision Cholesky
 * leaves.  It gives up (and training falls back to double) after
 * CGDML_MIXED_MAX_ITERATIONS corrections or when a correction fails to halve the
 * residual. */
#define CGDML_MIXED_TOLERANCE 1.1102230246251565e-16 /* 2^-53 */
#define CGDML_MIXED_MAX_ITERATIONS 30

/* How the training system is solved. */
typedef enum {
    CGDML_SOLVER_CHOLESKY = 0, /* dense Cholesky of the assembled matrix (any precision) */
    CGDML_SOLVER_CG = 1,       /* preconditioned conjugate gradients, matrix-free (solve.h) */
} cgdml_solver;

/* What cgdml_model_train did: wall-clock seconds of each stage, the matrix, and
 * for a mixed solve the refinement; for a CG solve its statistics. */
typedef struct {
    double descriptor_s, assembly_s, factor_s, solve_s; /* solve_s includes refinement */
    size_t matrix_bytes;       /* RFP storage of the kernel matrix (of the last attempt) */
    cgdml_precision precision; /* the precision that produced α */
    int refinements;           /* corrections of the mixed solve (0 for double) */
    char fallback[160];        /* why a mixed solve fell back to double; "" if it did not */
    cgdml_solver solver;
    size_t peak_bytes;         /* the predicted peak (cgdml_model_train_peak_bytes or
                                * cgdml_model_train_cg_bytes) of the solve that ran */
    cgdml_cg_stats cg;         /* CGDML_SOLVER_CG only; solve_s is then its iterations */
} cgdml_train_stats;

/* An empty model of n_train frames and n_beads beads (arrays zeroed). */
cgdml_status cgdml_model_alloc(size_t n_train, size_t n_beads, cgdml_model **out);
void cgdml_model_free(cgdml_model *model);

/* Bytes cgdml_model_train needs for n_train frames of n_beads beads in double
 * precision (dominated by the packed kernel matrix, (3NM)(3NM+1)/2 doubles); the
 * same as cgdml_model_train_peak_bytes(..., CGDML_PRECISION_DOUBLE). */
size_t cgdml_model_train_bytes(size_t n_train, size_t n_beads);

/* The peak bytes a Cholesky training of n_train frames of n_beads beads allocates
 * in `precision` (AUTO resolved with σ and λ as training resolves it): the packed
 * matrix (doubles, or floats for MIXED), the descriptors, Jacobians, labels and
 * the model, and for MIXED the refinement's vectors and its matrix-free product.
 * It leaves out the dataset and the program (libraries, BLAS buffers: about
 * 0.1 GB).  A mixed solve that falls back to double precision checks the double
 * solve's need again before it allocates.  SIZE_MAX on overflow. */
size_t cgdml_model_train_peak_bytes(size_t n_train, size_t n_beads, double sigma, double lambda,
                                    cgdml_precision precision);

/* The same for a CG training (cgdml_model_train_cg with these options; NULL: the
 * defaults): the solve's own need (cgdml_solve_cg_bytes) plus descriptors,
 * Jacobians, labels, α and the model. */
size_t cgdml_model_train_cg_bytes(size_t n_train, size_t n_beads, const cgdml_cg_options *cg);

/* Train on frames idx[0..n-1] of `data` with length scale σ in [CGDML_SIGMA_MIN,
 * CGDML_SIGMA_MAX] and ridge lambda >= 0 (λ = 0 fails: the kernel on Cartesian
 * forces is singular along each frame's rigid rotations and translations).  The
 * frames' values (cgdml_dataset_check_frames) and the memory estimate are checked
 * first.  A frame may appear twice (layer-1 subsets are drawn with replacement):
 * λ regularises the copy as it does the rigid motions; cgdml_model_check_duplicates
 * refuses copies for callers who want distinct frames.  A kernel matrix that is
 * not positive definite is reported with σ, λ and what to try.  `stats` may be
 * NULL. */
cgdml_status cgdml_model_train(const cgdml_dataset *data, const size_t *idx, size_t n,
                               double sigma, double lambda, cgdml_train_stats *stats,
                               cgdml_model **out);

/* The same with explicit labels[t][bead][xyz] (kcal/mol/Å) for frame idx[t]
 * instead of the dataset's forces: prior-subtracted forces (layer 1) or the
 * members' averaged predictions (layer 2).  labels NULL: the dataset's forces. */
cgdml_status cgdml_model_train_labels(const cgdml_dataset *data, const size_t *idx, size_t n,
                                      const double *labels, double sigma, double lambda,
                                      cgdml_train_stats *stats, cgdml_model **out);

/* The same with the solve's precision chosen (the two above use DOUBLE).  MIXED
 * gives held-out forces equal to DOUBLE's to rounding for a well-posed system, in
 * less time and half the memory; see cgdml_train_stats for what happened. */
cgdml_status cgdml_model_train_precision(const cgdml_dataset *data, const size_t *idx, size_t n,
                                         const double *labels, double sigma, double lambda,
                                         cgdml_precision precision, cgdml_train_stats *stats,
                                         cgdml_model **out);

/* The same solved by preconditioned conjugate gradients (cgdml_solve_cg, options
 * `cg`, NULL: the defaults), never forming the matrix: memory O(M d) plus the
 * preconditioner, so M is limited by time, not by the RFP order limit.  cg->keys,
 * if given, are indexed like idx (one per training frame).  The forces agree with
 * the Cholesky solution's to about the tolerance.  Not converged within
 * cg->max_iterations: CGDML_ERR_NUMERIC (resumable from cg->checkpoint). */
cgdml_status cgdml_model_train_cg(const cgdml_dataset *data, const size_t *idx, size_t n,
                                  const double *labels, double sigma, double lambda,
                                  const cgdml_cg_options *cg, cgdml_train_stats *stats,
                                  cgdml_model **out);

/* A solve of the training system supplied by the caller: (K + λI) α = F for the
 * descriptors D[M][d] and Jacobians g[M][d][3] of M training frames of N beads;
 * rhs[M][3N] holds F on entry and α on return.  The MPI build's distributed solve
 * (cgdml/distributed.h, cgdml_dist_solve_fn) is one. */
typedef cgdml_status (*cgdml_solve_fn)(void *ctx, size_t n_frames, size_t n_beads, const double *D,
                                       const double *g, double sigma, double lambda, double *rhs);

/* The same with the system solved by `solve` (ctx passed on).  The budget is
 * checked for what training holds besides the solve (descriptors, Jacobians,
 * labels, the model); the solve checks its own need.  Without the one-process
 * Cholesky's order limit.  stats: descriptor_s and the solve's time as solve_s. */
cgdml_status cgdml_model_train_with(const cgdml_dataset *data, const size_t *idx, size_t n,
                                    const double *labels, double sigma, double lambda,
                                    cgdml_solve_fn solve, void *ctx, cgdml_train_stats *stats,
                                    cgdml_model **out);

/* CGDML_ERR_INVALID naming the first pair of frames among idx[0..n-1] that are
 * duplicates: one index selected twice, or two frames of the same geometry up to
 * rotation and translation (inverse distances equal to 1e-10 of the largest).  A
 * copy teaches a model nothing; in a selection the user made it is a mistake of
 * the selection or of the data (`cgdml train` refuses it). */
cgdml_status cgdml_model_check_duplicates(const cgdml_dataset *data, const size_t *idx, size_t n);

/* Build (or rebuild) the model's prediction table from train_desc, gamma and σ,
 * once, so that every later prediction uses it.  Training, loading and
 * cgdml_ensemble_average do this; call it yourself after changing those arrays or
 * σ of a model (a table built from other arrays, M or σ is not used, but edits in
 * place of the same arrays cannot be seen). */
cgdml_status cgdml_model_prepare(cgdml_model *model);

/* Forces[frame][bead][xyz] (kcal/mol/Å) and, if energies is not NULL, energies
 * [frame] (kcal/mol, up to a constant) for coords[frame][bead][xyz] (Å), in
 * parallel over frames: the kernel part plus the prior, if the model has one.
 * The coordinates are not checked (this is the simulation's inner loop): give
 * frames that pass cgdml_dataset_check, or the results are NaN. */
cgdml_status cgdml_model_predict(const cgdml_model *model, size_t n_frames,
                                 const double *coords, double *forces, double *energies);

/* Bytes a prediction of n_frames needs beside the model and the coordinates: a
 * temporary prediction table if the model has none (2 M d doubles, rounded up to
 * vector lanes), the forces and the energies it fills ((3N + 1) doubles per
 * frame).  SIZE_MAX on overflow.  Callers
 * check it with cgdml_memory_check before allocating the outputs. */
size_t cgdml_model_predict_bytes(const cgdml_model *model, size_t n_frames);

/* Force errors of a model on frames of a dataset. */
typedef struct {
    size_t n_frames, n_beads;
    double mse;            /* mean over frames, beads, xyz of squared error, (kcal/mol/Å)² */
    double mae;            /* mean absolute error, kcal/mol/Å */
    double label_variance; /* mean over components of the labels' variance over frames */
    double relative_mse;   /* mse / label_variance */
    double *bead_mse;      /* [bead] */
    double *bead_mae;      /* [bead] */
} cgdml_force_errors;

/* Evaluate on frames idx[0..n-1] of `data` (idx NULL: every frame).  The frames'
 * values are checked (cgdml_dataset_check_frames) and the memory the evaluation
 * needs is checked against the budget first.  Free the result with
 * cgdml_force_errors_free. */
cgdml_status cgdml_model_evaluate(const cgdml_model *model, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, cgdml_force_errors *out);
void cgdml_force_errors_free(cgdml_force_errors *errors);

/* Save to / load from an HDF5 model file (layout in docs/FORMATS.md).  Saving is
 * atomic; loading checks the format version, shapes and values. */
cgdml_status cgdml_model_save(const cgdml_model *model, const char *path);
cgdml_status cgdml_model_load(const char *path, cgdml_model **out);

/* 1 if `path` is an HDF5 file holding a cgdml model, 0 otherwise. */
int cgdml_model_file_probe(const char *path);

/* "single", "average" or "distilled". */
const char *cgdml_model_kind_name(cgdml_model_kind kind);

/* Give `model` its own copy of the prior (replacing any it had). */
cgdml_status cgdml_model_attach_prior(cgdml_model *model, const cgdml_prior *prior);

#endif
