/* cgdml/distributed.h - the training system (K + λI) α = F solved across MPI ranks
 * with ScaLAPACK (docs/method.md §7, "Beyond one machine"): the layer-2 system
 * when it outgrows one machine's memory.
 *
 * EXISTS ONLY IN MPI BUILDS (make MPI=1: mpicc, Open MPI, libscalapack-openmpi).
 * The default library neither defines these functions nor includes <mpi.h>; this
 * header is not part of cgdml.h.  A program using it is compiled with mpicc and
 * linked with the MPI build of libcgdml and -lscalapack-openmpi.
 *
 * Layout.  The P ranks of the communicator form a BLACS process grid of nprow x
 * npcol (nprow <= npcol, as square as P allows: 1 x 2 for two ranks, 2 x 2 for
 * four).  The matrix of order n = 3NM is cut into nb x nb blocks dealt
 * block-cyclically: global row i (0-based) lives on process row (i / nb) mod nprow
 * at local row (i / (nb nprow)) nb + i mod nb, columns likewise over process
 * columns (ScaLAPACK's standard descriptor, DESCINIT with first row and column on
 * process (0, 0)).  Each rank holds only its piece, local_rows x local_cols doubles
 * column-major: about n²/P doubles, never the whole matrix.  Only the lower
 * triangle is assembled and referenced (pdpotrf/pdpotrs with UPLO = 'L'); the upper
 * part of each piece stays zero.  Unlike the one-process solve (RFP, n²/2 doubles)
 * the pieces together hold the full square, n² doubles.
 *
 * Assembly.  Each rank evaluates only the frame blocks K(x_a, x_b) (b <= a) that
 * touch its rows and columns, with the same block function as the one-process
 * assembly (cgdml_kernel_block), so every entry it stores is bit for bit the one
 * cgdml_kernel_assemble stores; a frame block that straddles two matrix blocks
 * (nb not a multiple of 3N) is evaluated by each rank that owns part of it.
 * The inputs D[M][d], g[M][d][3] and F[M][3N] are small (O(M d)) and given whole
 * on every rank; α comes back whole on every rank.
 *
 * MPI must be initialised (MPI_Init or MPI_Init_thread) before the first call.
 *
 * Collective calls and failures.  Every function taking a communicator or a
 * cgdml_dist_matrix is collective: all ranks call it with the same arguments.  A
 * failure on any rank (allocation, a rejected argument, a matrix that is not
 * positive definite) is agreed on before anything else collective happens: every
 * rank returns the same status, and the message of the lowest failing rank,
 * prefixed "rank R: ", is set on every rank.  No rank is left waiting.
 */
#ifndef CGDML_DISTRIBUTED_H
#define CGDML_DISTRIBUTED_H

#include <mpi.h>
#include <stddef.h>

#include "cgdml/ensemble.h"
#include "cgdml/error.h"

/* Rows and columns per block by default.  Measured with bench/mpi/bench_scalapack
 * on 500 shipped frames (order 9000), one thread per rank, on a shared 2-core
 * machine: pdpotrf reached 51 / 56 / 61 % of dgemm on one rank and 61 / 85 / 74 %
 * on two with blocks of 64 / 128 / 256 (noisy: dgemm itself varied 2x between
 * runs under the machine's load); 128 was never the worst. */
#define CGDML_DIST_DEFAULT_BLOCK 128

typedef struct {
    int nprow, npcol; /* process grid; 0, 0: chosen from the communicator's size */
    int block;        /* nb >= 1; 0: CGDML_DIST_DEFAULT_BLOCK */
} cgdml_dist_options;

/* One rank's view of a distributed symmetric matrix. */
typedef struct {
    MPI_Comm comm;                 /* the communicator (not owned) */
    int blacs_handle;              /* BLACS system handle of comm */
    int context;                   /* BLACS context of the grid */
    int nprow, npcol;              /* grid shape */
    int myrow, mycol;              /* this rank's place in the grid */
    int rank;                      /* this rank in comm */
    size_t n;                      /* global order */
    int block;                     /* nb */
    size_t local_rows, local_cols; /* this rank's piece */
    double *local;                 /* [local_cols][local_rows] column-major, leading dimension
                                    * max(1, local_rows); owned */
    int desc[9];                   /* ScaLAPACK array descriptor of the matrix */
} cgdml_dist_matrix;

/* Defaults: grid from the communicator's size, CGDML_DIST_DEFAULT_BLOCK. */
void cgdml_dist_options_init(cgdml_dist_options *opt);

/* The grid cgdml_dist_matrix_alloc uses for `ranks` processes: the largest
 * divisor nprow of ranks with nprow² <= ranks, npcol = ranks / nprow. */
void cgdml_dist_grid_shape(int ranks, int *nprow, int *npcol);

/* Bytes of the largest piece a rank holds for order n on this grid. */
size_t cgdml_dist_local_bytes(size_t n, int nprow, int npcol, int block);

/* Collective.  A zeroed distributed matrix of order n on the ranks of comm (opt
 * NULL: the defaults).  CGDML_ERR_INVALID for n = 0 or beyond 2^31 - 1, a grid
 * that does not multiply to the communicator's size, nb < 1, or a piece of 2^31
 * doubles or more (ScaLAPACK's 32-bit local indices); CGDML_ERR_NOMEM when a
 * rank's piece exceeds its memory budget (cgdml_memory_check, per rank) or cannot
 * be allocated.  Free with cgdml_dist_matrix_free. */
cgdml_status cgdml_dist_matrix_alloc(MPI_Comm comm, size_t n, const cgdml_dist_options *opt,
                                     cgdml_dist_matrix **out);

/* Collective (releases the BLACS grid).  NULL is ignored on every rank. */
void cgdml_dist_matrix_free(cgdml_dist_matrix *m);

/* 1 if this rank holds global element (i, j), with its offset in m->local in
 * *offset (may be NULL); 0 otherwise. */
int cgdml_dist_matrix_owns(const cgdml_dist_matrix *m, size_t i, size_t j, size_t *offset);

/* Collective.  Fill this rank's part of the lower triangle of K + λI for M frames
 * of N beads (n = 3NM must equal m->n), threaded with OpenMP inside the rank.
 * σ > 0 and λ >= 0 as for cgdml_kernel_assemble. */
cgdml_status cgdml_dist_kernel_assemble(cgdml_dist_matrix *m, size_t n_frames, size_t n_beads,
                                        const double *D, const double *g, double sigma,
                                        double lambda);

/* Collective.  Factorise m in place (pdpotrf, L Lᵀ) and solve for one right-hand
 * side: rhs[n] (the same on every rank) is replaced by the solution on every rank.
 * A matrix that is not positive definite is CGDML_ERR_NUMERIC on every rank,
 * naming the failing leading minor as the one-process solve does; m then holds a
 * partial factor.  Seconds of the factorisation and of the solve (with the
 * gathering of the solution) go to *factor_s and *solve_s if not NULL. */
cgdml_status cgdml_dist_factor_solve(cgdml_dist_matrix *m, double *rhs, double *factor_s,
                                     double *solve_s);

/* What cgdml_dist_solve_kernel did (the same on every rank, except local_bytes). */
typedef struct {
    int nprow, npcol, block;
    size_t local_bytes;                   /* this rank's piece */
    double assembly_s, factor_s, solve_s; /* wall-clock seconds of the slowest rank */
} cgdml_dist_stats;

/* Collective.  The whole distributed solve of (K + λI) α = F for M frames of N
 * beads: allocate, assemble, factorise, solve, free.  D, g and F whole on every
 * rank; alpha[M][3N] whole on every rank on return.  Agrees with the
 * one-process Cholesky solve (cgdml_kernel_assemble, cgdml_solve_factor,
 * cgdml_solve_apply) to rounding: tested at 1e-10 relative.  `stats` may be NULL. */
cgdml_status cgdml_dist_solve_kernel(MPI_Comm comm, size_t n_frames, size_t n_beads,
                                     const double *D, const double *g, double sigma, double lambda,
                                     const double *F, double *alpha, const cgdml_dist_options *opt,
                                     cgdml_dist_stats *stats);

/* Collective.  The failure of the lowest failing rank, on every rank: its status,
 * and its message prefixed with its rank ("rank R: ").  CGDML_OK on every rank if
 * none failed.  Every collective function here agrees this way before the next
 * collective step; a caller does the same with its own steps. */
cgdml_status cgdml_dist_agree(MPI_Comm comm, cgdml_status local);

/* ---- one rank's solves served by all (layer 2 of mpirun cgdml ensemble) ----
 *
 * Rank 0 runs a one-process computation (the ensemble's layer 2, `train
 * --teacher`) that calls a cgdml_solve_fn; the other ranks wait in
 * cgdml_dist_serve, without spinning, and join each solve rank 0 sends until rank
 * 0 ends the service with cgdml_dist_serve_end.  Only the descriptors, Jacobians
 * and labels travel (O(M d) doubles); the matrix is assembled in pieces as by
 * cgdml_dist_solve_kernel. */
typedef struct {
    MPI_Comm comm;              /* every rank of it serves */
    cgdml_dist_options options; /* grid and block of every solve */
    cgdml_dist_stats stats;     /* of the last solve */
} cgdml_dist_solver;

/* Defaults: comm, cgdml_dist_options_init, zero stats. */
void cgdml_dist_solver_init(cgdml_dist_solver *solver, MPI_Comm comm);

/* A cgdml_solve_fn for rank 0 (ctx: a cgdml_dist_solver): sends the system to the
 * ranks in cgdml_dist_serve and solves it with them (cgdml_dist_solve_kernel);
 * rhs holds F on entry, α on return.  A failure on any rank is the same on all. */
cgdml_status cgdml_dist_solve_fn(void *ctx, size_t n_frames, size_t n_beads, const double *D,
                                 const double *g, double sigma, double lambda, double *rhs);

/* Ranks other than 0: take part in every solve rank 0 sends until it calls
 * cgdml_dist_serve_end; returns the status rank 0 ended with (its message set). */
cgdml_status cgdml_dist_serve(cgdml_dist_solver *solver);

/* Rank 0: release the serving ranks with status s (and the current message when s
 * is a failure).  Returns s. */
cgdml_status cgdml_dist_serve_end(cgdml_dist_solver *solver, cgdml_status s);

/* ---- the ensemble across ranks (mpirun cgdml ensemble) ---- */

/* Collective.  cgdml_ensemble_build with layer 1 divided among the P ranks of comm:
 * rank r trains the members k with k mod P == r (a shard of layer1's job-array
 * mechanism, threaded inside the rank) into the members folder layer1.checkpoint,
 * which every rank must see (one machine, or a filesystem shared by the nodes).
 * When every rank is done, rank 0 collects the members, averages them and trains
 * layer 2, while the others wait - or, with distributed_layer2, join the
 * distilled model's solve (cgdml_dist_solve_fn; the σ₂/λ₂ cross-validation's folds
 * are solved on rank 0 alone).  The models are those of cgdml_ensemble_build with
 * the same options, bit for bit (predictions identical); with distributed_layer2
 * the distilled model agrees to rounding (1e-10 relative tested).
 *
 * Each rank checks its own memory budget for its members (and rank 0 for layer 2,
 * or each rank for its piece when distributed).  resume as for
 * cgdml_ensemble_build: 0 empties the folder first (refused if it holds shards'
 * members, e.g. of a killed run of this function: resume then continues it); a
 * folder of members trained by a one-process run or by P ranks is reused with 1.
 * With P > 1: layer1.n_shards (the ranks are the shards), a σ₁ grid (its
 * cross-validation trains other members) and no members folder are refused.  The
 * callbacks (note, crossval_done, layer1.progress) are called on every rank that
 * runs the step: the caller quiets ranks other than 0 if it wishes.  dist: the
 * grid and block of the distributed solve (NULL: defaults).  *out on rank 0 (NULL
 * on the others and on error); every rank returns the same status. */
cgdml_status cgdml_dist_ensemble_build(MPI_Comm comm, const cgdml_dataset *data,
                                       const cgdml_ensemble_options *opt, int distributed_layer2,
                                       const cgdml_dist_options *dist, cgdml_ensemble **out);

#endif
