/* distributed.c - the training system solved across MPI ranks with ScaLAPACK on a
 * block-cyclic BLACS grid (see cgdml/distributed.h).  Compiled only by make MPI=1.
 *
 * Each rank lists the frames whose 3N rows (columns) touch its process row
 * (column), has cgdml_kernel_visit_blocks evaluate the frame blocks of the lower
 * triangle among them, and keeps the entries it owns.  Every collective step is
 * preceded by an agreement on failures (cgdml_dist_agree), so that an error on one rank
 * reaches all of them instead of leaving the others waiting in ScaLAPACK.
 */
#include "cgdml/distributed.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernel_private.h"
#include "cgdml/clock.h"
#include "cgdml/memory.h"
#include "distributed_private.h"

/* The BLACS (C interface) and ScaLAPACK (Fortran: arguments by reference, hidden
 * lengths of character arguments last) as libscalapack-openmpi exports them. */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *context, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int context, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int context);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);
void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, int *info, size_t uplo_len);
void pdpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *ia,
              const int *ja, const int *desca, double *b, const int *ib, const int *jb,
              const int *descb, int *info, size_t uplo_len);

static const size_t NOT_MINE = SIZE_MAX;

void cgdml_dist_options_init(cgdml_dist_options *opt)
{
    *opt = (cgdml_dist_options){.nprow = 0, .npcol = 0, .block = CGDML_DIST_DEFAULT_BLOCK};
}

void cgdml_dist_grid_shape(int ranks, int *nprow, int *npcol)
{
    int r = 1;
    for (int p = 1; p * p <= ranks; p++)
        if (ranks % p == 0)
            r = p;
    *nprow = r;
    *npcol = ranks / r;
}

/* Rows (or columns) of order n that process `proc` of `procs` holds in blocks of nb:
 * ScaLAPACK's NUMROC with the first block on process 0, in size_t (the MPI test
 * checks it against numroc_). */
static size_t local_count(size_t n, size_t nb, size_t proc, size_t procs)
{
    size_t blocks = n / nb, count = blocks / procs * nb, extra = blocks % procs;
    if (proc < extra)
        count += nb;
    else if (proc == extra)
        count += n % nb;
    return count;
}

size_t cgdml_dist_local_bytes(size_t n, int nprow, int npcol, int block)
{
    size_t rows = local_count(n, (size_t)block, 0, (size_t)nprow),
           cols = local_count(n, (size_t)block, 0, (size_t)npcol);
    return cols && rows > SIZE_MAX / sizeof(double) / cols ? SIZE_MAX
                                                           : rows * cols * sizeof(double);
}

/* Global index of local index l on process `proc` of `procs` (blocks of nb). */
static size_t global_index(size_t l, size_t nb, size_t proc, size_t procs)
{
    return (l / nb * procs + proc) * nb + l % nb;
}

cgdml_status cgdml_dist_agree(MPI_Comm comm, cgdml_status local)
{
    int rank, first;
    MPI_Comm_rank(comm, &rank);
    int mine = local ? rank : INT_MAX;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX)
        return CGDML_OK;
    int status = (int)local;
    char msg[1024] = "";
    if (rank == first)
        snprintf(msg, sizeof msg, "%s", cgdml_error_message());
    MPI_Bcast(&status, 1, MPI_INT, first, comm);
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
    return cgdml_error_set((cgdml_status)status, "rank %d: %s", first, msg);
}

static cgdml_status check_shape(MPI_Comm comm, size_t n, const cgdml_dist_options *opt, int *nprow,
                                int *npcol, int *nb)
{
    int size;
    MPI_Comm_size(comm, &size);
    *nprow = opt->nprow;
    *npcol = opt->npcol;
    if (*nprow == 0 && *npcol == 0)
        cgdml_dist_grid_shape(size, nprow, npcol);
    *nb = opt->block ? opt->block : CGDML_DIST_DEFAULT_BLOCK;
    if (n == 0 || n > INT_MAX)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "distributed matrix of order %zu: ScaLAPACK takes orders 1 to %d", n,
                               INT_MAX);
    if (*nprow < 1 || *npcol < 1 || (long)*nprow * *npcol != size)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "process grid %d x %d for %d ranks: the grid must hold every rank",
                               *nprow, *npcol, size);
    if (*nb < 1)
        return cgdml_error_set(CGDML_ERR_INVALID, "block size %d: must be >= 1", *nb);
    return CGDML_OK;
}

/* This rank's piece: the 32-bit local index limit, the memory budget, the memory. */
static cgdml_status alloc_piece(cgdml_dist_matrix *m)
{
    size_t elements = m->local_rows * m->local_cols, bytes = elements * sizeof(double);
    if (m->local_cols && elements / m->local_cols != m->local_rows)
        elements = bytes = SIZE_MAX;
    if (elements > INT_MAX)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "a piece of %zu x %zu doubles on one rank: ScaLAPACK's local "
                               "indices stop at 2^31; use more ranks",
                               m->local_rows, m->local_cols);
    cgdml_status s =
        cgdml_memory_check(bytes, "this rank's piece of the distributed kernel matrix");
    if (s)
        return s;
    m->local = cgdml_memory_alloc_large(bytes);
    if (!m->local)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %.2f GB for this rank's piece",
                               (double)bytes / 1e9);
    memset(m->local, 0, bytes);
    int info, zero = 0, order = (int)m->n, lld = m->local_rows ? (int)m->local_rows : 1;
    descinit_(m->desc, &order, &order, &m->block, &m->block, &zero, &zero, &m->context, &lld,
              &info);
    if (info)
        return cgdml_error_set(CGDML_ERR_INVALID, "descinit rejected argument %d", -info);
    return CGDML_OK;
}

static void release(cgdml_dist_matrix *m)
{
    free(m->local);
    Cblacs_gridexit(m->context);
    Cfree_blacs_system_handle(m->blacs_handle);
    free(m);
}

cgdml_status cgdml_dist_matrix_alloc(MPI_Comm comm, size_t n, const cgdml_dist_options *opt,
                                     cgdml_dist_matrix **out)
{
    *out = NULL;
    cgdml_dist_options defaults;
    cgdml_dist_options_init(&defaults);
    int nprow, npcol, nb;
    cgdml_status s =
        cgdml_dist_agree(comm, check_shape(comm, n, opt ? opt : &defaults, &nprow, &npcol, &nb));
    if (s)
        return s;
    cgdml_dist_matrix *m = calloc(1, sizeof *m);
    s = cgdml_dist_agree(comm, m ? CGDML_OK
                                 : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a matrix"));
    if (s) {
        free(m);
        return s;
    }
    m->comm = comm;
    m->n = n;
    m->block = nb;
    MPI_Comm_rank(comm, &m->rank);
    m->blacs_handle = Csys2blacs_handle(comm);
    m->context = m->blacs_handle;
    Cblacs_gridinit(&m->context, "Row", nprow, npcol);
    Cblacs_gridinfo(m->context, &m->nprow, &m->npcol, &m->myrow, &m->mycol);
    m->local_rows = local_count(n, (size_t)nb, (size_t)m->myrow, (size_t)m->nprow);
    m->local_cols = local_count(n, (size_t)nb, (size_t)m->mycol, (size_t)m->npcol);
    s = cgdml_dist_agree(comm, alloc_piece(m));
    if (s) {
        release(m);
        return s;
    }
    *out = m;
    return CGDML_OK;
}

void cgdml_dist_matrix_free(cgdml_dist_matrix *m)
{
    if (m)
        release(m);
}

int cgdml_dist_matrix_owns(const cgdml_dist_matrix *m, size_t i, size_t j, size_t *offset)
{
    size_t nb = (size_t)m->block, pr = (size_t)m->nprow, pc = (size_t)m->npcol;
    if (i >= m->n || j >= m->n || i / nb % pr != (size_t)m->myrow ||
        j / nb % pc != (size_t)m->mycol)
        return 0;
    size_t il = i / (nb * pr) * nb + i % nb, jl = j / (nb * pc) * nb + j % nb;
    if (offset)
        *offset = jl * (m->local_rows ? m->local_rows : 1) + il;
    return 1;
}

/* What the block-cyclic sink needs: for each global row its local row and for each
 * global column its offset in the piece (NOT_MINE where another rank holds it). */
typedef struct {
    size_t n3;
    double lambda;
    const size_t *row_at, *col_at;
    double *local;
} cyclic_target;

static void scatter_cyclic(void *ctx, size_t a, size_t b, const double *blk)
{
    const cyclic_target *t = ctx;
    size_t n3 = t->n3;
    for (size_t r = 0; r < n3; r++) {
        size_t i = a * n3 + r, il = t->row_at[i];
        if (il == NOT_MINE)
            continue;
        size_t c_end = a == b ? r + 1 : n3; /* the lower triangle only */
        for (size_t c = 0; c < c_end; c++) {
            size_t j = b * n3 + c, at = t->col_at[j];
            if (at != NOT_MINE) /* as the RFP scatter: λ added to the diagonal entry */
                t->local[at + il] = blk[r * n3 + c] + (i == j ? t->lambda : 0.0);
        }
    }
}

/* Ascending frames whose 3N indices include one of this process's local indices:
 * fills at[] (global index -> local index times `scale`, or NOT_MINE) and returns
 * the frame count in *count. */
static size_t *frames_touched(size_t n, size_t n3, size_t nb, size_t proc, size_t procs,
                              size_t local, size_t scale, size_t *at, size_t *count)
{
    size_t n_frames = n / n3, *frames = malloc((n_frames ? n_frames : 1) * sizeof(size_t));
    *count = 0;
    if (!frames)
        return NULL;
    for (size_t i = 0; i < n; i++)
        at[i] = NOT_MINE;
    for (size_t l = 0; l < local; l++) {
        size_t i = global_index(l, nb, proc, procs), f = i / n3;
        at[i] = l * scale;
        if (*count == 0 || frames[*count - 1] != f) /* global indices ascend with l */
            frames[(*count)++] = f;
    }
    return frames;
}

static cgdml_status assemble_local(cgdml_dist_matrix *m, size_t n_frames, size_t n_beads,
                                   const double *D, const double *g, double sigma, double lambda)
{
    if (!(sigma > 0) || !isfinite(sigma))
        return cgdml_error_set(CGDML_ERR_INVALID, "sigma = %g: must be a positive number", sigma);
    if (!(lambda >= 0) || !isfinite(lambda))
        return cgdml_error_set(CGDML_ERR_INVALID, "lambda = %g: must be >= 0", lambda);
    size_t n3 = 3 * n_beads;
    if (n_beads < 2 || n3 * n_frames != m->n)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%zu frames of %zu beads make order %zu; the matrix has order %zu",
                               n_frames, n_beads, n3 * n_frames, m->n);
    size_t nb = (size_t)m->block, lld = m->local_rows ? m->local_rows : 1, n_rows, n_cols;
    size_t *row_at = malloc(m->n * sizeof(size_t)), *col_at = malloc(m->n * sizeof(size_t));
    size_t *rows = NULL, *cols = NULL;
    cgdml_status s = CGDML_OK;
    if (row_at && col_at) {
        rows = frames_touched(m->n, n3, nb, (size_t)m->myrow, (size_t)m->nprow, m->local_rows, 1,
                              row_at, &n_rows);
        cols = frames_touched(m->n, n3, nb, (size_t)m->mycol, (size_t)m->npcol, m->local_cols, lld,
                              col_at, &n_cols);
    }
    if (!rows || !cols)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the index maps of order %zu", m->n);
    if (!s) {
        cyclic_target t = {n3, lambda, row_at, col_at, m->local};
        s = cgdml_kernel_visit_blocks(n_beads, D, g, sigma, n_rows, rows, n_cols, cols,
                                      scatter_cyclic, &t);
    }
    free(row_at);
    free(col_at);
    free(rows);
    free(cols);
    return s;
}

cgdml_status cgdml_dist_kernel_assemble(cgdml_dist_matrix *m, size_t n_frames, size_t n_beads,
                                        const double *D, const double *g, double sigma,
                                        double lambda)
{
    return cgdml_dist_agree(m->comm, assemble_local(m, n_frames, n_beads, D, g, sigma, lambda));
}

/* The status of a ScaLAPACK info, worded as the one-process solve words it. */
static cgdml_status scalapack_status(int info, const char *routine, size_t n)
{
    if (info > 0)
        return cgdml_error_set(CGDML_ERR_NUMERIC,
                               "the kernel matrix is not positive definite (Cholesky failed at "
                               "leading minor %d of %zu)",
                               info, n);
    if (info < 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s rejected argument %d", routine, -info);
    return CGDML_OK;
}

cgdml_status cgdml_dist_factor_solve(cgdml_dist_matrix *m, double *rhs, double *factor_s,
                                     double *solve_s)
{
    int info = 0, one = 1, zero = 0, order = (int)m->n;
    double t0 = cgdml_clock_wall_seconds();
    pdpotrf_("L", &order, m->local, &one, &one, m->desc, &info, 1);
    /* INFO is global output of pdpotrf; agreeing on it costs one reduction and
     * keeps every rank's answer the same even if a rank's were not. */
    cgdml_status s = cgdml_dist_agree(m->comm, scalapack_status(info, "pdpotrf", m->n));
    if (factor_s)
        *factor_s = cgdml_clock_wall_seconds() - t0;
    if (s)
        return s;
    t0 = cgdml_clock_wall_seconds();
    /* The right-hand side: an n x 1 matrix in the same row blocks, on process column 0. */
    int descb[9], lld = m->local_rows ? (int)m->local_rows : 1;
    double *b = malloc((m->local_rows ? m->local_rows : 1) * sizeof(double));
    s = b ? CGDML_OK : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the right-hand side");
    if (!s) {
        descinit_(descb, &order, &one, &m->block, &m->block, &zero, &zero, &m->context, &lld,
                  &info);
        s = scalapack_status(info, "descinit", m->n);
    }
    size_t nb = (size_t)m->block, pr = (size_t)m->nprow;
    for (size_t l = 0; !s && m->mycol == 0 && l < m->local_rows; l++)
        b[l] = rhs[global_index(l, nb, (size_t)m->myrow, pr)];
    s = cgdml_dist_agree(m->comm, s);
    if (!s) {
        pdpotrs_("L", &order, &one, m->local, &one, &one, m->desc, b, &one, &one, descb, &info, 1);
        s = cgdml_dist_agree(m->comm, scalapack_status(info, "pdpotrs", m->n));
    }
    if (!s) { /* every entry from its one owner, zeros from the rest: an exact sum */
        memset(rhs, 0, m->n * sizeof(double));
        for (size_t l = 0; m->mycol == 0 && l < m->local_rows; l++)
            rhs[global_index(l, nb, (size_t)m->myrow, pr)] = b[l];
        MPI_Allreduce(MPI_IN_PLACE, rhs, (int)m->n, MPI_DOUBLE, MPI_SUM, m->comm);
    }
    free(b);
    if (solve_s)
        *solve_s = cgdml_clock_wall_seconds() - t0;
    return s;
}

cgdml_status cgdml_dist_solve_kernel(MPI_Comm comm, size_t n_frames, size_t n_beads,
                                     const double *D, const double *g, double sigma, double lambda,
                                     const double *F, double *alpha, const cgdml_dist_options *opt,
                                     cgdml_dist_stats *stats)
{
    cgdml_dist_stats st = {0};
    size_t n = 3 * n_beads * n_frames;
    cgdml_dist_matrix *m = NULL;
    cgdml_status s = cgdml_dist_matrix_alloc(comm, n, opt, &m);
    if (s)
        return s;
    double t0 = cgdml_clock_wall_seconds();
    s = cgdml_dist_kernel_assemble(m, n_frames, n_beads, D, g, sigma, lambda);
    st.assembly_s = cgdml_clock_wall_seconds() - t0;
    if (!s) {
        memcpy(alpha, F, n * sizeof(double));
        s = cgdml_dist_factor_solve(m, alpha, &st.factor_s, &st.solve_s);
    }
    if (s == CGDML_ERR_NUMERIC)
        cgdml_error_wrap(s,
                         "distributed solve of %zu frames, sigma = %g, lambda = %g: increase "
                         "lambda",
                         n_frames, sigma, lambda);
    st.nprow = m->nprow;
    st.npcol = m->npcol;
    st.block = m->block;
    st.local_bytes = m->local_rows * m->local_cols * sizeof(double);
    double seconds[3] = {st.assembly_s, st.factor_s, st.solve_s};
    MPI_Allreduce(MPI_IN_PLACE, seconds, 3, MPI_DOUBLE, MPI_MAX, comm);
    st.assembly_s = seconds[0];
    st.factor_s = seconds[1];
    st.solve_s = seconds[2];
    cgdml_dist_matrix_free(m);
    if (stats)
        *stats = st;
    return s;
}
