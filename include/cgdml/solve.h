/* cgdml/solve.h - solving the training system (K + λI) α = F: Cholesky
 * factorisation in LAPACK's Rectangular Full Packed storage (dpftrf/dpftrs), which
 * needs half the memory of the full matrix and runs at BLAS-3 speed, and
 * preconditioned conjugate gradients with the matrix-free product, which never
 * forms the matrix (docs/method.md §7).
 */
#ifndef CGDML_SOLVE_H
#define CGDML_SOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "cgdml/error.h"

/* Largest matrix order LAPACK's 32-bit indexing allows for RFP storage:
 * n(n+1)/2 must stay below 2^31 - 1 (n = 65535, i.e. 3640 frames of 6 beads). */
#define CGDML_SOLVE_MAX_ORDER 65535

/* Factor arf (n x n, RFP, TRANSR='N', UPLO='L') in place as L Lᵀ.
 * CGDML_ERR_NUMERIC if the matrix is not positive definite (the message names
 * the failing leading minor). */
cgdml_status cgdml_solve_factor(size_t n, double *arf);

/* Solve L Lᵀ X = B in place for B[nrhs][n] (each right-hand side contiguous),
 * with arf from cgdml_solve_factor. */
cgdml_status cgdml_solve_apply(size_t n, const double *arf, double *b, size_t nrhs);

/* The same in single precision (spftrf/spftrs), for the mixed-precision solve. */
cgdml_status cgdml_solve_factor_single(size_t n, float *arf);
cgdml_status cgdml_solve_apply_single(size_t n, const float *arf, float *b, size_t nrhs);

/* ---- preconditioned conjugate gradients ------------------------------------------
 * The system of M frames of N beads (order n = 3NM) is given by its descriptors
 * D[M][d] (1/Å) and sparse Jacobians g[M][d][3] (cgdml_descriptor_jacobian), the
 * length scale σ (1/Å) and the ridge λ, as for cgdml_kernel_assemble; every
 * iteration costs one matrix-free product cgdml_kernel_product (O(M² d) work) and
 * one application of the preconditioner.  Vectors and products are in double
 * precision; memory is O(M d) plus the preconditioner (cgdml_solve_cg_bytes). */

typedef enum {
    /* Nyström (the default): K ≈ C W⁻¹ Cᵀ from the kernel columns C = K(:, S) of m
     * landmark frames S, evenly spaced in key order (a stratified set, like a
     * layer-1 member), applied by the Woodbury identity with the Cholesky factor
     * of W + λI.  Memory: two dense (3Nm)² matrices; setup O(n (3Nm)²); each
     * application two kernel sums of M m terms.  It captures the large, smooth
     * part of the spectrum that makes plain CG slow (measured: 50 iterations with
     * the default 23 landmarks, 12 with 200, against 1142 without, on 2000
     * shipped frames; README, "One model on all frames"). */
    CGDML_CG_PRECONDITIONER_NYSTROM = 0,
    /* Block Jacobi: K + λI restricted to disjoint blocks of frames (the frames
     * sorted by key and dealt round-robin, so that every block samples every
     * stratum as a layer-1 member does, or in consecutive runs), each factorised
     * by Cholesky in single precision.  Memory: the blocks' packed factors,
     * n (3N b + 1) / 2 floats for b frames per block.  Measured no better than
     * plain CG on the shipped data: every block sees the same smooth functions,
     * and the differences between blocks, which K + λI barely penalises, are
     * what the blocks leave unpreconditioned. */
    CGDML_CG_PRECONDITIONER_BLOCKS = 1,
    CGDML_CG_PRECONDITIONER_NONE = 2, /* plain conjugate gradients */
} cgdml_cg_preconditioner;

/* How the blocks of CGDML_CG_PRECONDITIONER_BLOCKS take the frames sorted by key. */
typedef enum {
    CGDML_CG_LAYOUT_STRATIFIED = 0, /* round-robin: each block spans all strata */
    CGDML_CG_LAYOUT_CONTIGUOUS = 1, /* consecutive runs: each block one region */
} cgdml_cg_layout;

/* Stop when ||F - (K + λI) α||₂ <= tolerance ||F||₂.  1e-5 changes held-out
 * forces of the shipped data by less than 1e-5 of their size against the
 * Cholesky solution (README, "One model on all frames"). */
#define CGDML_CG_DEFAULT_TOLERANCE 1e-5
/* Tolerances accepted: below 1e-14 the recurrence of a double-precision CG no
 * longer tracks the true residual; at 1 or more nothing is solved. */
#define CGDML_CG_MIN_TOLERANCE 1e-14
/* Iterations before CG gives up (the checkpoint lets a resumed run go on). */
#define CGDML_CG_DEFAULT_MAX_ITERATIONS 1000
/* Landmarks of the Nyström preconditioner by default: this times √M (155 for
 * 95,000 frames).  Its setup, O(M (3Nm)²), then costs about one iteration
 * (O(M²) kernel terms), and the iterations stay near 50 as M grows (measured at
 * tolerance 1e-5: 50 at 2000 frames, 45 at 5000); more landmarks cut iterations
 * more slowly than they add setup (README, "One model on all frames"). */
#define CGDML_CG_LANDMARKS_PER_ROOT_FRAME 0.5
/* Largest block of the block preconditioner chosen by default: a layer-1
 * member's size in the paper (1000 frames); smaller when the budget is smaller. */
#define CGDML_CG_MAX_AUTO_BLOCK_FRAMES 1000
/* Fraction of the memory budget an automatic block size or landmark count may
 * fill: the rest is left to the caller's arrays (a training's descriptors,
 * labels and model, a few per cent of the solve at most). */
#define CGDML_CG_AUTO_BUDGET_FRACTION 0.9
/* Wall-clock seconds between checkpoints by default. */
#define CGDML_CG_CHECKPOINT_INTERVAL_S 60.0

/* What the progress callback is told after each iteration. */
typedef struct {
    size_t iteration;         /* iterations done (counting those before a resume) */
    size_t max_iterations;
    double relative_residual; /* ||r||₂ / ||F||₂ of the recurrence */
    double tolerance;
    double seconds;           /* wall-clock seconds of this call's iterations so far */
} cgdml_cg_progress;

typedef struct {
    double tolerance;              /* relative residual to reach, CGDML_CG_MIN_TOLERANCE..1 */
    size_t max_iterations;         /* >= 1 */
    cgdml_cg_preconditioner preconditioner;
    cgdml_cg_layout layout;        /* blocks only */
    size_t block_frames;           /* blocks: frames per block; 0: automatic
                                    * (cgdml_cg_options_resolve, or the checkpoint's) */
    size_t landmarks;              /* Nyström: landmark frames; 0: automatic, likewise */
    const size_t *keys;            /* [M] stratum of each frame (any integers: frames with
                                    * equal or close keys are alike), borrowed; NULL: the
                                    * frames' own order */
    /* Called from the calling thread after the setup and then at most once a second
     * and after the last iteration.  NULL: no reports. */
    void (*progress)(void *ctx, const cgdml_cg_progress *p);
    void *progress_ctx;
    /* Crash safety.  checkpoint: an HDF5 file that receives the iteration's state
     * (α, residual, search direction) atomically every checkpoint_interval_s
     * seconds and when the solve stops unconverged; NULL: none.  With resume set
     * and the file present, the solve continues from it and ends with the α an
     * uninterrupted solve gives, bit for bit (same machine and thread count).  A
     * checkpoint of another system or preconditioner is refused, naming the
     * difference; tolerance and max_iterations may differ (they only say where to
     * stop).  The caller removes the file when it no longer needs it. */
    const char *checkpoint;
    double checkpoint_interval_s;  /* > 0; 0 means CGDML_CG_CHECKPOINT_INTERVAL_S */
    int resume;
} cgdml_cg_options;

/* Defaults: tolerance CGDML_CG_DEFAULT_TOLERANCE, CGDML_CG_DEFAULT_MAX_ITERATIONS,
 * Nyström preconditioner with automatic landmarks (blocks: stratified layout,
 * automatic size), no keys, no progress, no checkpoint. */
void cgdml_cg_options_init(cgdml_cg_options *opt);

/* CGDML_ERR_INVALID naming the first option that is out of range for M frames of
 * N beads (tolerance, iterations, enums, block size against the RFP order limit,
 * landmarks against M and the dense order limit, checkpoint interval); what
 * cgdml_solve_cg checks first. */
cgdml_status cgdml_cg_options_check(const cgdml_cg_options *opt, size_t n_frames, size_t n_beads);

/* What a CG solve did. */
typedef struct {
    size_t iterations;          /* total, counting those done before a resume */
    size_t resumed_from;        /* the checkpoint's iteration, 0 for a fresh solve */
    int converged;              /* the tolerance was reached */
    double relative_residual;   /* ||F - (K + λI) α||₂ / ||F||₂, recomputed from α at the end */
    size_t block_frames, n_blocks; /* blocks preconditioner: frames per block (largest), blocks */
    size_t landmarks;           /* Nyström preconditioner: landmark frames */
    double preconditioner_ridge; /* the ridge of the factorised blocks (see cgdml_solve_cg),
                                  * or λ (Nyström) */
    size_t preconditioner_bytes;
    size_t bytes;               /* cgdml_solve_cg_bytes of this solve */
    double setup_s, iterate_s;  /* wall-clock seconds: preconditioner, this call's iterations */
    double product_s, apply_s;  /* of which matrix-free products, preconditioner applications */
} cgdml_cg_stats;

/* `opt` (NULL: the defaults) with an automatic block size or landmark count
 * replaced by what a solve of M frames of N beads uses: the largest up to
 * CGDML_CG_MAX_AUTO_BLOCK_FRAMES frames per block, or up to
 * CGDML_CG_LANDMARKS_PER_ROOT_FRAME √M landmarks, whose solve fits
 * CGDML_CG_AUTO_BUDGET_FRACTION of the memory budget (at least 1; at most M). */
void cgdml_cg_options_resolve(const cgdml_cg_options *opt, size_t n_frames, size_t n_beads,
                              cgdml_cg_options *out);

/* Bytes cgdml_solve_cg allocates at its peak for M frames of N beads: five
 * vectors of order n, the product's temporaries, the preconditioner and its
 * workspace (the caller's D, g, F and α are not counted).  SIZE_MAX on overflow. */
size_t cgdml_solve_cg_bytes(size_t n_frames, size_t n_beads, const cgdml_cg_options *opt);

/* Solve (K + λI) α = F for α[M][3N] given F[M][3N] (kcal/mol/Å), by flexible
 * preconditioned conjugate gradients from α = 0 (or the checkpoint).  The
 * preconditioner's blocks are factorised with the ridge max(λ,
 * CGDML_MIXED_MIN_RELATIVE_LAMBDA 5/(3σ²)) (model.h), which single precision
 * carries; any symmetric positive definite preconditioner leaves the solution
 * unchanged.  The options are checked first (CGDML_ERR_INVALID naming the bad
 * one), then the memory (CGDML_ERR_NOMEM).  Not converged after max_iterations:
 * CGDML_ERR_NUMERIC, α holds the last iterate and the checkpoint (if any) the
 * state to continue from.  `stats` may be NULL; opt NULL means the defaults. */
cgdml_status cgdml_solve_cg(size_t n_frames, size_t n_beads, const double *D, const double *g,
                            double sigma, double lambda, const double *F, double *alpha,
                            const cgdml_cg_options *opt, cgdml_cg_stats *stats);

#endif
