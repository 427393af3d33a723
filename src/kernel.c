/* kernel.c - Matérn-5/2 Hessian kernel blocks and assembly of the training matrix
 * into RFP storage (see cgdml/kernel.h and docs/method.md §2).
 *
 * A block is built from H = c1 I - c2 u uᵀ without forming H:
 *   Jaᵀ H Jb = c1 JaᵀJb - c2 (Jaᵀu)(Jbᵀu)ᵀ,
 * and JaᵀJb is accumulated pair by pair from the two non-zero 3-blocks of each
 * Jacobian row, so one 18 x 18 block of alanine dipeptide costs ~1k flops instead
 * of ~20k for the dense products.
 *
 * Every assembly visits the frame pairs of the lower block triangle through
 * cgdml_kernel_visit_blocks (kernel_private.h), which hands each block to a sink:
 * here the RFP scatter, in the MPI build also the block-cyclic one.
 */
#include "cgdml/kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "kernel_private.h"

/* The two scalar weights of H(u) = c1 I - c2 u uᵀ for s = √5/σ and ρ = |u|. */
static void hessian_weights(double sigma, double rho, double *c1, double *c2)
{
    double s = sqrt(5.0) / sigma;
    double pre = s * s / 3.0 * exp(-s * rho);
    *c1 = pre * (1.0 + s * rho);
    *c2 = pre * s * s;
}

static double norm_of_difference(size_t d, const double *a, const double *b, double *u)
{
    double rho2 = 0.0;
    for (size_t k = 0; k < d; k++) {
        u[k] = a[k] - b[k];
        rho2 += u[k] * u[k];
    }
    return sqrt(rho2);
}

double cgdml_kernel_matern(double sigma, size_t d, const double *u)
{
    double rho2 = 0.0;
    for (size_t k = 0; k < d; k++)
        rho2 += u[k] * u[k];
    double sr = sqrt(5.0) / sigma * sqrt(rho2);
    return (1.0 + sr + sr * sr / 3.0) * exp(-sr);
}

void cgdml_kernel_hessian_apply(double sigma, size_t d, const double *u, const double *w,
                                double *out)
{
    double rho2 = 0.0, uw = 0.0;
    for (size_t k = 0; k < d; k++) {
        rho2 += u[k] * u[k];
        uw += u[k] * w[k];
    }
    double c1, c2;
    hessian_weights(sigma, sqrt(rho2), &c1, &c2);
    for (size_t k = 0; k < d; k++)
        out[k] = c1 * w[k] - c2 * uw * u[k];
}

/* out[(p,α)][(q,β)] += w * Σ_k ga_k[α] gb_k[β] * sign, summed into the four bead
 * blocks (i,i), (i,j), (j,i), (j,j) of each pair k = (i, j): the c1 JaᵀJb term. */
static void add_jtj(size_t n_beads, double w, const double *ga, const double *gb, double *out)
{
    size_t n3 = 3 * n_beads, k = 0;
    for (size_t i = 1; i < n_beads; i++)
        for (size_t j = 0; j < i; j++, k++)
            for (int al = 0; al < 3; al++) {
                double a = w * ga[3 * k + al];
                double *row_i = out + (3 * i + al) * n3, *row_j = out + (3 * j + al) * n3;
                for (int be = 0; be < 3; be++) {
                    double t = a * gb[3 * k + be];
                    row_i[3 * i + be] += t;
                    row_i[3 * j + be] -= t;
                    row_j[3 * i + be] -= t;
                    row_j[3 * j + be] += t;
                }
            }
}

void cgdml_kernel_block(size_t n_beads, double sigma, const double *Da, const double *ga,
                        const double *Db, const double *gb, double *out)
{
    size_t d = cgdml_descriptor_size(n_beads), n3 = 3 * n_beads;
    double u[d], jta[n3], jtb[n3];
    double c1, c2;
    hessian_weights(sigma, norm_of_difference(d, Da, Db, u), &c1, &c2);
    cgdml_descriptor_apply_jt(n_beads, ga, u, jta);
    cgdml_descriptor_apply_jt(n_beads, gb, u, jtb);
    for (size_t r = 0; r < n3; r++)
        for (size_t c = 0; c < n3; c++)
            out[r * n3 + c] = -c2 * jta[r] * jtb[c];
    add_jtj(n_beads, c1, ga, gb, out);
}

size_t cgdml_kernel_rfp_index(size_t n, size_t i, size_t j)
{
    if (n % 2 == 0) {
        size_t k = n / 2; /* first k columns shifted down a row; the rest transposed on top */
        return j < k ? (i + 1) + j * (n + 1) : (j - k) + (i - k) * (n + 1);
    }
    size_t n1 = (n + 1) / 2; /* first n1 columns in place; the rest transposed on top */
    return j < n1 ? i + j * n : (j - n1) + (i - n1 + 1) * n;
}

/* Distance in RFP storage between (i, j) and (i+1, j) for i >= j: column j is
 * stored in place (stride 1) or, for the trailing columns, transposed on top of
 * the leading ones (stride = leading dimension). */
static size_t rfp_row_stride(size_t n, size_t j)
{
    size_t lead = n % 2 == 0 ? n / 2 : (n + 1) / 2;
    return j < lead ? 1 : (n % 2 == 0 ? n + 1 : n);
}

/* Scatter the lower part of block (a, b) (b <= a) into RFP storage, adding λ on
 * the diagonal, as doubles (arf) or rounded to floats (arf_single; the other is
 * NULL).  Each block column is one strided run, so the index arithmetic is paid
 * once per column, not per element. */
static void scatter_block(size_t n, size_t n3, size_t a, size_t b, const double *blk,
                          double lambda, double *arf, float *arf_single)
{
    for (size_t c = 0; c < n3; c++) {
        size_t j = b * n3 + c, r0 = a == b ? c : 0;
        size_t stride = rfp_row_stride(n, j), at = cgdml_kernel_rfp_index(n, a * n3 + r0, j);
        double diag = a == b ? lambda : 0.0; /* added to the column's first entry */
        if (arf) {
            double *dst = arf + at;
            for (size_t r = r0; r < n3; r++, dst += stride, diag = 0.0)
                *dst = blk[r * n3 + c] + diag;
        } else {
            float *dst = arf_single + at;
            for (size_t r = r0; r < n3; r++, dst += stride, diag = 0.0)
                *dst = (float)(blk[r * n3 + c] + diag);
        }
    }
}

cgdml_status cgdml_kernel_visit_blocks(size_t n_beads, const double *D, const double *g,
                                       double sigma, size_t n_rows, const size_t *rows,
                                       size_t n_cols, const size_t *cols,
                                       cgdml_kernel_block_sink sink, void *ctx)
{
    size_t d = cgdml_descriptor_size(n_beads), n3 = 3 * n_beads;
    int failed = 0;
#pragma omp parallel
    {
        double *blk = malloc(n3 * n3 * sizeof(double));
        if (!blk) {
#pragma omp atomic write
            failed = 1;
        }
        /* Row a holds up to a+1 blocks: dynamic scheduling balances the triangle. */
#pragma omp for schedule(dynamic, 4)
        for (size_t r = 0; r < n_rows; r++) {
            size_t a = rows ? rows[r] : r;
            for (size_t c = 0; blk && c < n_cols; c++) {
                size_t b = cols ? cols[c] : c;
                if (b > a)
                    break;
                cgdml_kernel_block(n_beads, sigma, D + a * d, g + a * d * 3, D + b * d,
                                   g + b * d * 3, blk);
                sink(ctx, a, b, blk);
            }
        }
        free(blk);
    }
    if (failed)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate kernel block buffers");
    return CGDML_OK;
}

/* Where the RFP assembly puts its blocks. */
typedef struct {
    size_t n, n3;
    double lambda;
    double *arf;
    float *arf_single;
} rfp_target;

static void scatter_rfp(void *ctx, size_t a, size_t b, const double *blk)
{
    const rfp_target *t = ctx;
    scatter_block(t->n, t->n3, a, b, blk, t->lambda, t->arf, t->arf_single);
}

static cgdml_status assemble(size_t n_frames, size_t n_beads, const double *D, const double *g,
                             double sigma, double lambda, double *arf, float *arf_single)
{
    if (!(sigma > 0) || !isfinite(sigma))
        return cgdml_error_set(CGDML_ERR_INVALID, "sigma = %g: must be a positive number", sigma);
    if (!(lambda >= 0) || !isfinite(lambda))
        return cgdml_error_set(CGDML_ERR_INVALID, "lambda = %g: must be >= 0", lambda);
    size_t n3 = 3 * n_beads;
    rfp_target t = {n3 * n_frames, n3, lambda, arf, arf_single};
    return cgdml_kernel_visit_blocks(n_beads, D, g, sigma, n_frames, NULL, n_frames, NULL,
                                     scatter_rfp, &t);
}

cgdml_status cgdml_kernel_assemble(size_t n_frames, size_t n_beads, const double *D,
                                   const double *g, double sigma, double lambda, double *arf)
{
    return assemble(n_frames, n_beads, D, g, sigma, lambda, arf, NULL);
}

cgdml_status cgdml_kernel_assemble_single(size_t n_frames, size_t n_beads, const double *D,
                                          const double *g, double sigma, double lambda,
                                          float *arf)
{
    return assemble(n_frames, n_beads, D, g, sigma, lambda, NULL, arf);
}

double cgdml_kernel_rfp_norm_single(size_t n, const float *arf)
{
    double all = 0.0, diag = 0.0;
#pragma omp parallel for reduction(+ : all) schedule(static)
    for (size_t e = 0; e < cgdml_kernel_rfp_size(n); e++)
        all += (double)arf[e] * (double)arf[e];
    for (size_t j = 0; j < n; j++) {
        double v = arf[cgdml_kernel_rfp_index(n, j, j)];
        diag += v * v;
    }
    return sqrt(2.0 * all - diag);
}
