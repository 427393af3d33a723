/* solve_precond.c - the preconditioners of the conjugate-gradient solve (see
 * cgdml/solve.h, solve_cg_private.h and docs/method.md §7):
 *
 *   blocks   P = blockdiag(K_bb + ρI) over disjoint blocks of frames, each
 *            factorised by single-precision Cholesky in RFP storage; blocks are
 *            built and applied side by side, one per thread (BLAS single-threaded
 *            inside), so the result does not depend on the thread count.
 *   Nyström  P = λI + C (W + λI)⁻¹ Cᵀ with C = K(:, S) the kernel columns of m
 *            landmark frames S and W = K(S, S).  With W + λI = L Lᵀ and
 *            B = C L⁻ᵀ, P⁻¹ = (I - B (λI + BᵀB)⁻¹ Bᵀ) / λ (Woodbury), where
 *            BᵀB = L⁻¹ (CᵀC) L⁻ᵀ is formed once from CᵀC, accumulated over chunks
 *            of frames by dsyrk; each application costs two kernel sums of M·m
 *            terms and three triangular solves of order 3Nm.
 *   none     P = I.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/kernel.h"
#include "cgdml/model.h"
#include "cgdml/memory.h"
#include "solve_cg_private.h"

/* Bytes of kernel rows per chunk of the Nyström setup: a chunk's rows of C
 * (3N·chunk x 3Nm) are formed, then added into CᵀC by one dsyrk.  32 MiB keeps
 * the rank-k update at BLAS-3 speed (hundreds of rows and more) and the number of
 * BLAS calls, each waking the BLAS threads, small (a few hundred for 95,000
 * frames and 155 landmarks; under a load of 10 on 2 cores each wake-up cost
 * ~0.1 s, and chunks of 32 frames made the setup of 2000 frames take 10 s). */
#define NYSTROM_CHUNK_BYTES ((size_t)32 << 20)
/* Fewer kernel blocks (a microsecond or two each) than this are formed on the
 * calling thread, cheaper than waking a parallel region's threads. */
#define PARALLEL_MIN_BLOCKS 1024

struct cg_precond {
    cgdml_cg_preconditioner kind;
    const cg_system *sys;
    double ridge;
    size_t bytes;
    /* blocks: block k holds frames member[start[k] .. start[k+1]-1] */
    size_t n_blocks, max_frames, *start, *member;
    float **factor; /* [block] RFP single-precision Cholesky factor */
    /* Nyström: m landmarks, dense factors of order r = 3N m (column-major) */
    size_t m, r;
    double *Ds, *gs, *L, *S;
};

double cg_precond_ridge(double sigma, double lambda)
{
    double carried = CGDML_MIXED_MIN_RELATIVE_LAMBDA * 5.0 / (3.0 * sigma * sigma);
    return lambda > carried ? lambda : carried;
}

/* ---- sizes ---------------------------------------------------------------------------- */

static size_t block_count(size_t n_frames, size_t block_frames)
{
    return (n_frames + block_frames - 1) / block_frames;
}

/* Frames of block k of n_blocks: the sizes differ by at most one. */
static size_t block_size(size_t n_frames, size_t n_blocks, size_t k)
{
    return n_frames / n_blocks + (k < n_frames % n_blocks);
}

static size_t threads(void)
{
    return (size_t)omp_get_max_threads();
}

static size_t blocks_bytes(size_t n_frames, size_t n_beads, size_t block_frames)
{
    size_t n3 = 3 * n_beads, d = n_beads * (n_beads - 1) / 2,
           nb = block_count(n_frames, block_frames);
    size_t biggest = block_size(n_frames, nb, 0), total = 0;
    size_t small = block_size(n_frames, nb, nb - 1), n_big = n_frames % nb ? n_frames % nb : nb;
    total = n_big * cgdml_kernel_rfp_size(n3 * biggest) * sizeof(float) +
            (nb - n_big) * cgdml_kernel_rfp_size(n3 * small) * sizeof(float);
    size_t gather = biggest * d * 4 * sizeof(double), work = n3 * biggest * sizeof(float);
    return total + (nb + 1 + n_frames) * sizeof(size_t) + nb * sizeof(float *) +
           threads() * (gather > work ? gather : work);
}

/* Frames per chunk of the Nyström setup for landmark order r (at least 1). */
static size_t chunk_frames(size_t n_frames, size_t n3, size_t r)
{
    size_t chunk = NYSTROM_CHUNK_BYTES / (n3 * r * sizeof(double));
    chunk = chunk ? chunk : 1;
    return chunk < n_frames ? chunk : n_frames;
}

static size_t nystrom_bytes(size_t n_frames, size_t n_beads, size_t m)
{
    size_t n3 = 3 * n_beads, d = n_beads * (n_beads - 1) / 2, r = n3 * m;
    size_t rows = n3 * chunk_frames(n_frames, n3, r);
    return 2 * r * r * sizeof(double) + rows * r * sizeof(double) + m * d * 4 * sizeof(double) +
           r * sizeof(double) + n_frames * sizeof(size_t);
}

size_t cg_precond_bytes(size_t n_frames, size_t n_beads, const cg_setup *set)
{
    size_t n3 = 3 * n_beads;
    if (set->kind == CGDML_CG_PRECONDITIONER_BLOCKS) {
        if (set->block_frames == 0 || n3 * set->block_frames > CGDML_SOLVE_MAX_ORDER)
            return SIZE_MAX;
        return blocks_bytes(n_frames, n_beads, set->block_frames);
    }
    if (set->kind == CGDML_CG_PRECONDITIONER_NYSTROM)
        return nystrom_bytes(n_frames, n_beads, set->landmarks);
    return 0;
}

/* ---- frames in key order ---------------------------------------------------------------- */

typedef struct {
    size_t key, t;
} keyed;

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->t > y->t) - (x->t < y->t);
}

/* order[M]: the frames sorted by (key, index); the frames' own order without keys. */
static cgdml_status key_order(const size_t *keys, size_t n, size_t **order)
{
    *order = malloc(n * sizeof(size_t));
    keyed *k = keys ? malloc(n * sizeof *k) : NULL;
    if (!*order || (keys && !k)) {
        free(k);
        return cgdml_error_set(CGDML_ERR_NOMEM, "CG: cannot allocate the frame order");
    }
    for (size_t t = 0; t < n; t++)
        (*order)[t] = t;
    if (keys) {
        for (size_t t = 0; t < n; t++)
            k[t] = (keyed){keys[t], t};
        qsort(k, n, sizeof *k, by_key);
        for (size_t t = 0; t < n; t++)
            (*order)[t] = k[t].t;
    }
    free(k);
    return CGDML_OK;
}

/* Descriptors and Jacobians of frames idx[0..n-1] into D[n][d], g[n][d][3]. */
static void gather_frames(const cg_system *sys, const size_t *idx, size_t n, double *D, double *g)
{
    size_t d = sys->d;
    for (size_t j = 0; j < n; j++) {
        memcpy(D + j * d, sys->D + idx[j] * d, d * sizeof(double));
        memcpy(g + j * d * 3, sys->g + idx[j] * d * 3, d * 3 * sizeof(double));
    }
}

/* ---- blocks ------------------------------------------------------------------------------ */

/* Block k's frames: round-robin (stratified) or a consecutive run (contiguous) of
 * the frames in key order. */
static void deal_blocks(cg_precond *p, const size_t *order, cgdml_cg_layout layout)
{
    size_t n = p->sys->n_frames, nb = p->n_blocks;
    p->start[0] = 0;
    for (size_t k = 0; k < nb; k++)
        p->start[k + 1] = p->start[k] + block_size(n, nb, k);
    for (size_t k = 0; k < nb; k++)
        for (size_t j = 0; j < p->start[k + 1] - p->start[k]; j++)
            p->member[p->start[k] + j] =
                layout == CGDML_CG_LAYOUT_STRATIFIED ? order[k + j * nb] : order[p->start[k] + j];
}

/* Assemble and factorise block k: K_bb + ρI in single precision. */
static cgdml_status factor_block(cg_precond *p, size_t k)
{
    const cg_system *sys = p->sys;
    size_t nf = p->start[k + 1] - p->start[k], order = sys->n3 * nf;
    double *D = malloc(nf * sys->d * sizeof(double)), *g = malloc(nf * sys->d * 3 * sizeof(double));
    p->factor[k] = cgdml_memory_alloc_large(cgdml_kernel_rfp_size(order) * sizeof(float));
    cgdml_status s =
        D && g && p->factor[k]
            ? CGDML_OK
            : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate preconditioner block %zu", k);
    if (!s) {
        gather_frames(sys, p->member + p->start[k], nf, D, g);
        s = cgdml_kernel_assemble_single(nf, sys->n_beads, D, g, sys->sigma, p->ridge,
                                         p->factor[k]);
    }
    if (!s)
        s = cgdml_solve_factor_single(order, p->factor[k]);
    free(D);
    free(g);
    return s ? cgdml_error_wrap(s, "preconditioner block %zu of %zu frames (ridge %g)", k, nf,
                                p->ridge)
             : s;
}

/* Run job(p, k, ctx) for every block, side by side when there are enough blocks
 * for the threads and enough work for a parallel region.  Error messages live in
 * the thread that made them, so each block's outcome is kept with a copy of its
 * message, and the first failure's is set again on the calling thread. */
typedef cgdml_status (*block_job)(cg_precond *p, size_t k, void *ctx);

typedef struct {
    cgdml_status status;
    char message[256];
} block_outcome;

static cgdml_status for_each_block(cg_precond *p, block_job job, void *ctx)
{
    block_outcome *out = calloc(p->n_blocks, sizeof *out);
    if (!out)
        return cgdml_error_set(CGDML_ERR_NOMEM, "CG: cannot allocate %zu block outcomes",
                               p->n_blocks);
#pragma omp parallel for schedule(dynamic, 1) if (p->n_blocks >= threads() &&                      \
                                                  p->sys->n >= CG_PARALLEL_MIN_ENTRIES)
    for (size_t k = 0; k < p->n_blocks; k++)
        if ((out[k].status = job(p, k, ctx)))
            snprintf(out[k].message, sizeof out[k].message, "%s", cgdml_error_message());
    cgdml_status s = CGDML_OK;
    for (size_t k = 0; !s && k < p->n_blocks; k++)
        if (out[k].status)
            s = cgdml_error_set(out[k].status, "%s", out[k].message);
    free(out);
    return s;
}

static cgdml_status factor_job(cg_precond *p, size_t k, void *ctx)
{
    (void)ctx;
    return factor_block(p, k);
}

static cgdml_status create_blocks(cg_precond *p, const cg_setup *set, const size_t *order)
{
    size_t n = p->sys->n_frames;
    p->n_blocks = block_count(n, set->block_frames);
    p->max_frames = block_size(n, p->n_blocks, 0);
    p->start = malloc((p->n_blocks + 1) * sizeof(size_t));
    p->member = malloc(n * sizeof(size_t));
    p->factor = calloc(p->n_blocks, sizeof(float *));
    if (!p->start || !p->member || !p->factor)
        return cgdml_error_set(CGDML_ERR_NOMEM, "CG: cannot allocate %zu preconditioner blocks",
                               p->n_blocks);
    deal_blocks(p, order, set->layout);
    return for_each_block(p, factor_job, NULL);
}

typedef struct {
    const double *r;
    double *z;
} apply_ctx;

static cgdml_status apply_block(cg_precond *p, size_t k, void *ctx)
{
    const apply_ctx *a = ctx;
    size_t n3 = p->sys->n3, nf = p->start[k + 1] - p->start[k];
    const size_t *member = p->member + p->start[k];
    float *w = malloc(n3 * nf * sizeof(float));
    if (!w)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a preconditioner vector");
    for (size_t j = 0; j < nf; j++)
        for (size_t c = 0; c < n3; c++)
            w[j * n3 + c] = (float)a->r[member[j] * n3 + c];
    cgdml_status s = cgdml_solve_apply_single(n3 * nf, p->factor[k], w, 1);
    for (size_t j = 0; !s && j < nf; j++)
        for (size_t c = 0; c < n3; c++)
            a->z[member[j] * n3 + c] = (double)w[j * n3 + c];
    free(w);
    return s;
}

/* ---- Nyström ------------------------------------------------------------------------------ */

/* Copy a 3N x 3N kernel block (row-major) into column-major a[ld] at (row0, col0);
 * lower_only keeps the entries on and below the diagonal of a diagonal block. */
static void put_block(const double *blk, size_t n3, double *a, size_t ld, size_t row0, size_t col0,
                      int lower_only)
{
    for (size_t al = 0; al < n3; al++)
        for (size_t be = 0; be <= (lower_only ? al : n3 - 1); be++)
            a[(col0 + be) * ld + row0 + al] = blk[al * n3 + be];
}

/* L = chol(W + λI), W the kernel of the landmarks, lower, column-major. */
static cgdml_status landmark_factor(cg_precond *p)
{
    const cg_system *sys = p->sys;
    size_t n3 = sys->n3, r = p->r, d = sys->d;
#pragma omp parallel for schedule(dynamic, 4) if (p->m * p->m >= 2 * PARALLEL_MIN_BLOCKS)
    for (size_t a = 0; a < p->m; a++) {
        double blk[n3 * n3];
        for (size_t b = 0; b <= a; b++) {
            cgdml_kernel_block(sys->n_beads, sys->sigma, p->Ds + a * d, p->gs + a * d * 3,
                               p->Ds + b * d, p->gs + b * d * 3, blk);
            put_block(blk, n3, p->L, r, a * n3, b * n3, a == b);
        }
    }
    for (size_t i = 0; i < r; i++)
        p->L[i * r + i] += sys->lambda;
    lapack_int info =
        LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', (lapack_int)r, p->L, (lapack_int)r);
    return info ? cgdml_error_set(CGDML_ERR_NUMERIC,
                                  "Nyström preconditioner: the landmarks' kernel matrix is not "
                                  "positive definite (dpotrf info %d); increase lambda",
                                  (int)info)
                : CGDML_OK;
}

/* S += Cᵀ C over all frames, chunk by chunk (lower triangle). */
static cgdml_status accumulate_gram(cg_precond *p)
{
    const cg_system *sys = p->sys;
    size_t n3 = sys->n3, r = p->r, d = sys->d, chunk = chunk_frames(sys->n_frames, n3, r);
    double *c = malloc(n3 * chunk * r * sizeof(double));
    if (!c)
        return cgdml_error_set(CGDML_ERR_NOMEM, "Nyström preconditioner: cannot allocate a chunk");
    memset(p->S, 0, r * r * sizeof(double));
    for (size_t i0 = 0; i0 < sys->n_frames; i0 += chunk) {
        size_t nc = sys->n_frames - i0 < chunk ? sys->n_frames - i0 : chunk, rows = n3 * nc;
#pragma omp parallel for schedule(static) collapse(2) if (nc * p->m >= PARALLEL_MIN_BLOCKS)
        for (size_t i = 0; i < nc; i++)
            for (size_t s = 0; s < p->m; s++) {
                double blk[n3 * n3];
                cgdml_kernel_block(sys->n_beads, sys->sigma, sys->D + (i0 + i) * d,
                                   sys->g + (i0 + i) * d * 3, p->Ds + s * d, p->gs + s * d * 3,
                                   blk);
                put_block(blk, n3, c, rows, i * n3, s * n3, 0);
            }
        cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, (int)r, (int)rows, 1.0, c, (int)rows,
                    1.0, p->S, (int)r);
    }
    free(c);
    return CGDML_OK;
}

/* S = chol(λI + L⁻¹ (CᵀC) L⁻ᵀ), S holding CᵀC (lower) on entry. */
static cgdml_status inner_factor(cg_precond *p)
{
    size_t r = p->r;
    for (size_t j = 0; j < r; j++) /* mirror the lower triangle for the full solves */
        for (size_t i = j + 1; i < r; i++)
            p->S[i * r + j] = p->S[j * r + i];
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)r, (int)r,
                1.0, p->L, (int)r, p->S, (int)r);
    cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, (int)r, (int)r,
                1.0, p->L, (int)r, p->S, (int)r);
    for (size_t i = 0; i < r; i++)
        p->S[i * r + i] += p->sys->lambda;
    lapack_int info =
        LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', (lapack_int)r, p->S, (lapack_int)r);
    return info ? cgdml_error_set(CGDML_ERR_NUMERIC,
                                  "Nyström preconditioner: its inner matrix is not positive "
                                  "definite (dpotrf info %d); increase lambda or use the block "
                                  "preconditioner",
                                  (int)info)
                : CGDML_OK;
}

static cgdml_status create_nystrom(cg_precond *p, const cg_setup *set, const size_t *order)
{
    const cg_system *sys = p->sys;
    size_t n = sys->n_frames, d = sys->d;
    p->m = set->landmarks;
    p->r = sys->n3 * p->m;
    size_t *landmark = malloc(p->m * sizeof(size_t));
    p->Ds = malloc(p->m * d * sizeof(double));
    p->gs = malloc(p->m * d * 3 * sizeof(double));
    p->L = cgdml_memory_alloc_large(p->r * p->r * sizeof(double));
    p->S = cgdml_memory_alloc_large(p->r * p->r * sizeof(double));
    cgdml_status s =
        landmark && p->Ds && p->gs && p->L && p->S
            ? CGDML_OK
            : cgdml_error_set(CGDML_ERR_NOMEM,
                              "Nyström preconditioner: cannot allocate %zu landmarks", p->m);
    for (size_t j = 0; !s && j < p->m; j++) /* evenly spaced in key order */
        landmark[j] = order[(2 * j + 1) * n / (2 * p->m)];
    if (!s) {
        gather_frames(sys, landmark, p->m, p->Ds, p->gs);
        s = landmark_factor(p);
    }
    if (!s)
        s = accumulate_gram(p);
    if (!s)
        s = inner_factor(p);
    free(landmark);
    return s;
}

/* z = (v - C L⁻ᵀ S⁻¹ L⁻¹ Cᵀ v) / λ */
static cgdml_status apply_nystrom(const cg_precond *p, const double *v, double *z)
{
    const cg_system *sys = p->sys;
    size_t r = p->r;
    double *y = malloc(r * sizeof(double));
    if (!y)
        return cgdml_error_set(CGDML_ERR_NOMEM, "Nyström preconditioner: cannot allocate a vector");
    cgdml_status s = cgdml_kernel_cross_product(p->m, p->Ds, p->gs, sys->n_frames, sys->D, sys->g,
                                                sys->n_beads, sys->sigma, v, y);
    if (!s) {
        cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)r, p->L, (int)r, y,
                    1);
        LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', (lapack_int)r, 1, p->S, (lapack_int)r, y,
                            (lapack_int)r);
        cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, (int)r, p->L, (int)r, y,
                    1);
        s = cgdml_kernel_cross_product(sys->n_frames, sys->D, sys->g, p->m, p->Ds, p->gs,
                                       sys->n_beads, sys->sigma, y, z);
    }
    free(y);
#pragma omp parallel for schedule(static) if (sys->n >= CG_PARALLEL_MIN_ENTRIES)
    for (size_t i = 0; i < sys->n; i++)
        z[i] = (v[i] - z[i]) / sys->lambda;
    return s;
}

/* ---- the interface ------------------------------------------------------------------------- */

cgdml_status cg_precond_create(const cg_system *sys, const cg_setup *set, const size_t *keys,
                               cg_precond **out)
{
    *out = NULL;
    cg_precond *p = calloc(1, sizeof *p);
    if (!p)
        return cgdml_error_set(CGDML_ERR_NOMEM, "CG: cannot allocate the preconditioner");
    p->kind = set->kind;
    p->sys = sys;
    p->ridge = set->kind == CGDML_CG_PRECONDITIONER_BLOCKS
                   ? cg_precond_ridge(sys->sigma, sys->lambda)
                   : sys->lambda;
    p->bytes = cg_precond_bytes(sys->n_frames, sys->n_beads, set);
    size_t *order = NULL;
    cgdml_status s = set->kind == CGDML_CG_PRECONDITIONER_NONE
                         ? CGDML_OK
                         : key_order(keys, sys->n_frames, &order);
    if (!s && set->kind == CGDML_CG_PRECONDITIONER_BLOCKS)
        s = create_blocks(p, set, order);
    if (!s && set->kind == CGDML_CG_PRECONDITIONER_NYSTROM)
        s = create_nystrom(p, set, order);
    free(order);
    if (s) {
        cg_precond_free(p);
        return s;
    }
    *out = p;
    return CGDML_OK;
}

cgdml_status cg_precond_apply(const cg_precond *p, const double *r, double *z)
{
    if (p->kind == CGDML_CG_PRECONDITIONER_BLOCKS) {
        apply_ctx a = {r, z};
        return for_each_block((cg_precond *)p, apply_block, &a);
    }
    if (p->kind == CGDML_CG_PRECONDITIONER_NYSTROM)
        return apply_nystrom(p, r, z);
    memcpy(z, r, p->sys->n * sizeof(double));
    return CGDML_OK;
}

void cg_precond_describe(const cg_precond *p, cgdml_cg_stats *st)
{
    st->n_blocks = p->n_blocks;
    st->block_frames = p->max_frames;
    st->landmarks = p->m;
    st->preconditioner_ridge = p->kind == CGDML_CG_PRECONDITIONER_NONE ? 0.0 : p->ridge;
    st->preconditioner_bytes = p->bytes;
}

void cg_precond_free(cg_precond *p)
{
    if (!p)
        return;
    for (size_t k = 0; p->factor && k < p->n_blocks; k++)
        free(p->factor[k]);
    free(p->factor);
    free(p->start);
    free(p->member);
    free(p->Ds);
    free(p->gs);
    free(p->L);
    free(p->S);
    free(p);
}
