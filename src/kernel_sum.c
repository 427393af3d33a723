/* kernel_sum.c - the kernel sum h = Σ_j H(D - D_j) γ_j behind every prediction,
 * simulation step, layer-2 label and matrix-free product (see cgdml/kernel.h):
 * its table, the choice of instruction set, and the matrix-free products (the
 * training matrix's, and the cross-kernel block of the Nyström preconditioner).
 *
 * The arithmetic is in kernel_sum_impl.h, compiled once per instruction set
 * (kernel_sum_{generic,avx2,avx512}.c, the last two with their -m flags from the
 * Makefile): the default build runs on any x86-64 and picks the widest path the
 * CPU reports when a table is built.  CGDML_SIMD=generic|avx2|avx512 forces one
 * (for comparisons, and for Valgrind, which does not emulate AVX-512).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "kernel_sum_private.h"

/* Table alignment: one cache line, the width of an AVX-512 load. */
#define TABLE_ALIGN 64
/* Configurations per task of the matrix-free product (a multiple of the sum's
 * batch of 4; enough tasks for the threads, few enough hsums). */
#define PRODUCT_BATCH 16
/* Products of fewer kernel terms (out frames x in frames) run on the calling
 * thread: about 50 µs of work, less than waking the threads of a parallel region
 * costs on a busy machine (milliseconds), and the small solves of the tests and
 * of the Nyström preconditioner make thousands of them. */
#define PRODUCT_PARALLEL_MIN_TERMS 65536

static const char *const simd_names[] = {"auto", "generic", "avx2", "avx512"};

const char *cgdml_simd_name(cgdml_simd simd)
{
    return (unsigned)simd < 4 ? simd_names[simd] : "unknown";
}

int cgdml_simd_supported(cgdml_simd simd)
{
    switch (simd) {
    case CGDML_SIMD_AUTO:
    case CGDML_SIMD_GENERIC: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case CGDML_SIMD_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CGDML_SIMD_AVX512: return __builtin_cpu_supports("avx512f");
#else
    default: return 0;
#endif
    }
    return 0;
}

static cgdml_status simd_from_environment(cgdml_simd *out)
{
    const char *env = getenv("CGDML_SIMD");
    for (int i = 1; i < 4; i++)
        if (!strcmp(env, simd_names[i])) {
            *out = (cgdml_simd)i;
            return CGDML_OK;
        }
    return cgdml_error_set(CGDML_ERR_INVALID,
                           "CGDML_SIMD=%s: expected generic, avx2 or avx512 (or unset it)", env);
}

cgdml_status cgdml_simd_resolve(cgdml_simd simd, cgdml_simd *out)
{
    if (simd == CGDML_SIMD_AUTO && getenv("CGDML_SIMD") && *getenv("CGDML_SIMD")) {
        cgdml_status s = simd_from_environment(&simd);
        if (s)
            return s;
    }
    if (simd == CGDML_SIMD_AUTO)
        simd = cgdml_simd_supported(CGDML_SIMD_AVX512) ? CGDML_SIMD_AVX512
               : cgdml_simd_supported(CGDML_SIMD_AVX2) ? CGDML_SIMD_AVX2
                                                       : CGDML_SIMD_GENERIC;
    if ((unsigned)simd > CGDML_SIMD_AVX512)
        return cgdml_error_set(CGDML_ERR_INVALID, "unknown instruction set %d", (int)simd);
    if (!cgdml_simd_supported(simd))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "this CPU does not support %s (CGDML_SIMD or the caller asked "
                               "for it); use generic%s",
                               cgdml_simd_name(simd),
                               cgdml_simd_supported(CGDML_SIMD_AVX2) ? " or avx2" : "");
    *out = simd;
    return CGDML_OK;
}

static size_t simd_width(cgdml_simd simd)
{
    return simd == CGDML_SIMD_AVX512 ? 8 : simd == CGDML_SIMD_AVX2 ? 4 : 1;
}

/* table[group][k][0..w-1] = D_j[k], [w..2w-1] = γ_j[k] for j = group w + lane.
 * Lanes past M repeat the last frame's descriptor with γ = 0: they add exactly 0. */
static void fill_table(cgdml_kernel_sum *ks, const double *D, const double *gamma)
{
    size_t w = ks->width, d = ks->n_desc;
    for (size_t g = 0; g < ks->n_groups; g++)
        for (size_t k = 0; k < d; k++) {
            double *t = ks->table + 2 * w * (g * d + k);
            for (size_t l = 0; l < w; l++) {
                size_t j = g * w + l, src = j < ks->n_train ? j : ks->n_train - 1;
                t[l] = D[src * d + k];
                t[w + l] = j < ks->n_train ? gamma[j * d + k] : 0.0;
            }
        }
}

cgdml_status cgdml_kernel_sum_alloc(size_t n_train, size_t n_desc, const double *D,
                                    const double *gamma, double sigma, cgdml_simd simd,
                                    cgdml_kernel_sum **out)
{
    *out = NULL;
    if (n_train == 0 || n_desc == 0 || !(sigma > 0) || !isfinite(sigma))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "kernel sum of %zu frames x %zu descriptor entries, sigma %g: "
                               "need at least one of each and sigma > 0",
                               n_train, n_desc, sigma);
    cgdml_kernel_sum *ks = calloc(1, sizeof *ks);
    if (!ks)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a kernel sum");
    cgdml_status s = cgdml_simd_resolve(simd, &ks->simd);
    if (s) {
        free(ks);
        return s;
    }
    ks->width = simd_width(ks->simd);
    ks->n_train = n_train;
    ks->n_desc = n_desc;
    ks->n_groups = (n_train + ks->width - 1) / ks->width;
    ks->sigma = sigma;
    ks->s = sqrt(5.0) / sigma;
    ks->src_desc = D;
    ks->src_gamma = gamma;
    size_t bytes = 2 * ks->width * n_desc * ks->n_groups * sizeof(double);
    bytes = (bytes + TABLE_ALIGN - 1) / TABLE_ALIGN * TABLE_ALIGN;
    ks->table = aligned_alloc(TABLE_ALIGN, bytes);
    if (!ks->table) {
        free(ks);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the %.1f MB kernel-sum table",
                               (double)bytes / 1e6);
    }
    fill_table(ks, D, gamma);
    *out = ks;
    return CGDML_OK;
}

void cgdml_kernel_sum_free(cgdml_kernel_sum *ks)
{
    if (!ks)
        return;
    free(ks->table);
    free(ks);
}

cgdml_simd cgdml_kernel_sum_simd(const cgdml_kernel_sum *ks)
{
    return ks->simd;
}

int cgdml_kernel_sum_matches(const cgdml_kernel_sum *ks, size_t n_train, const double *D,
                             const double *gamma, double sigma)
{
    return ks && ks->n_train == n_train && ks->src_desc == D && ks->src_gamma == gamma &&
           ks->sigma == sigma;
}

void cgdml_kernel_sum_eval(const cgdml_kernel_sum *ks, size_t n, const double *Dq, double *h,
                           double *energy)
{
    switch (ks->simd) {
    case CGDML_SIMD_AVX512: cgdml_kernel_sum_eval_avx512(ks, n, Dq, h, energy); break;
    case CGDML_SIMD_AVX2: cgdml_kernel_sum_eval_avx2(ks, n, Dq, h, energy); break;
    default: cgdml_kernel_sum_eval_generic(ks, n, Dq, h, energy); break;
    }
}

/* The kernel sum at frames (D_out, g_out) over the frames (D_in, g_in) with
 * γ'_j = J_j v_j: out_i = J_iᵀ Σ_j H(D_i - D_j) γ'_j, plus λ v_i when diag_v is
 * given (the square case, where row i of out and of v is the same frame). */
static cgdml_status kernel_apply(size_t n_out, const double *D_out, const double *g_out,
                                 size_t n_in, const double *D_in, const double *g_in,
                                 size_t n_beads, double sigma, const double *v, double lambda,
                                 const double *diag_v, double *out)
{
    size_t d = cgdml_descriptor_size(n_beads), n3 = 3 * n_beads;
    double *gv = malloc(n_in * d * sizeof(double));
    if (!gv)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu descriptor vectors", n_in);
    int parallel = n_out * n_in >= PRODUCT_PARALLEL_MIN_TERMS;
#pragma omp parallel for schedule(static) if (parallel)
    for (size_t j = 0; j < n_in; j++)
        cgdml_descriptor_apply_j(n_beads, g_in + j * d * 3, v + j * n3, gv + j * d);
    cgdml_kernel_sum *ks;
    cgdml_status s = cgdml_kernel_sum_alloc(n_in, d, D_in, gv, sigma, CGDML_SIMD_AUTO, &ks);
    free(gv);
    if (s)
        return s;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (size_t i0 = 0; i0 < n_out; i0 += PRODUCT_BATCH) {
        size_t nb = n_out - i0 < PRODUCT_BATCH ? n_out - i0 : PRODUCT_BATCH;
        double h[PRODUCT_BATCH * d];
        cgdml_kernel_sum_eval(ks, nb, D_out + i0 * d, h, NULL);
        for (size_t i = i0; i < i0 + nb; i++) {
            cgdml_descriptor_apply_jt(n_beads, g_out + i * d * 3, h + (i - i0) * d, out + i * n3);
            for (size_t a = 0; diag_v && a < n3; a++)
                out[i * n3 + a] += lambda * diag_v[i * n3 + a];
        }
    }
    cgdml_kernel_sum_free(ks);
    return CGDML_OK;
}

/* (K + λI) v: γ'_j = J_j v_j makes Σ_j K_ij v_j = J_iᵀ Σ_j H(D_i - D_j) γ'_j, a
 * kernel sum over the training frames evaluated at the training frames. */
cgdml_status cgdml_kernel_product(size_t n_frames, size_t n_beads, const double *D, const double *g,
                                  double sigma, double lambda, const double *v, double *out)
{
    return kernel_apply(n_frames, D, g, n_frames, D, g, n_beads, sigma, v, lambda, v, out);
}

cgdml_status cgdml_kernel_cross_product(size_t n_out, const double *D_out, const double *g_out,
                                        size_t n_in, const double *D_in, const double *g_in,
                                        size_t n_beads, double sigma, const double *v,
                                        double *out)
{
    return kernel_apply(n_out, D_out, g_out, n_in, D_in, g_in, n_beads, sigma, v, 0.0, NULL, out);
}
