/* cgdml/kernel.h - the Matérn-5/2 force-force kernel and the training matrix.
 *
 * With s = √5/σ (σ in descriptor units, 1/Å), u = D - D', ρ = |u| (docs/method.md §2):
 *   κ(u)  = (1 + sρ + s²ρ²/3) exp(-sρ)
 *   H(u)  = (s²/3) exp(-sρ) [ (1 + sρ) I - s² u uᵀ ]      (= -Hessian of κ)
 *   K(x, x') = J(x)ᵀ H(D(x) - D(x')) J(x')                 (3N x 3N block)
 * The training matrix of M frames is (K + λI), 3NM x 3NM, row index
 * frame*3N + bead*3 + xyz.  Only its lower triangle is assembled, straight into
 * LAPACK's Rectangular Full Packed storage (TRANSR='N', UPLO='L'), n(n+1)/2 doubles.
 */
#ifndef CGDML_KERNEL_H
#define CGDML_KERNEL_H

#include <stddef.h>

#include "cgdml/error.h"

/* κ(u) for a descriptor difference u[d]. */
double cgdml_kernel_matern(double sigma, size_t d, const double *u);

/* out[d] = H(u) w: the O(d) product used in prediction. */
void cgdml_kernel_hessian_apply(double sigma, size_t d, const double *u, const double *w,
                                double *out);

/* out[3N][3N] (row-major) = K(x_a, x_b) from descriptors D[d] and sparse
 * Jacobians g[d][3] of the two frames (see descriptor.h). */
void cgdml_kernel_block(size_t n_beads, double sigma, const double *Da, const double *ga,
                        const double *Db, const double *gb, double *out);

/* Doubles in RFP storage of an n x n symmetric matrix: n(n+1)/2. */
static inline size_t cgdml_kernel_rfp_size(size_t n) { return n * (n + 1) / 2; }

/* Position of lower-triangle element (i, j), i >= j, in RFP storage
 * (TRANSR='N', UPLO='L', column-major, as LAPACK's dtrttf lays it out). */
size_t cgdml_kernel_rfp_index(size_t n, size_t i, size_t j);

/* Assemble K + λI for M frames into arf[rfp_size(3NM)], in parallel (OpenMP).
 * D[M][d] and g[M][d][3] come from cgdml_descriptor_jacobian. */
cgdml_status cgdml_kernel_assemble(size_t n_frames, size_t n_beads, const double *D,
                                   const double *g, double sigma, double lambda, double *arf);

/* The same matrix rounded to single precision (half the memory), for the
 * mixed-precision solve (model.h). */
cgdml_status cgdml_kernel_assemble_single(size_t n_frames, size_t n_beads, const double *D,
                                          const double *g, double sigma, double lambda,
                                          float *arf);

/* Frobenius norm of a symmetric n x n matrix in RFP storage (single precision). */
double cgdml_kernel_rfp_norm_single(size_t n, const float *arf);

/* ---- the kernel sum: prediction's inner loop ------------------------------------
 * For training descriptors D_j[d] and coefficients γ_j[d] (j < M), a kernel sum
 * evaluates, for each configuration's descriptor D[d],
 *   h = Σ_j H(D - D_j) γ_j          (d numbers; forces are Jᵀ h, descriptor.h)
 *   E = -(s²/3) Σ_j (1 + sρ_j) exp(-sρ_j) (u_j·γ_j)
 * It keeps its own table (D_j and γ_j interleaved in groups of vector lanes) and
 * evaluates many configurations per sweep over it, in AVX-512, AVX2+FMA or plain
 * lanes, chosen at run time from what the CPU reports.  Results of the vector
 * paths agree with the plain one to rounding (tests: 1e-12 relative); each path is
 * deterministic and independent of how configurations are batched. */
typedef enum {
    CGDML_SIMD_AUTO = 0,  /* the widest the CPU has, or CGDML_SIMD from the environment */
    CGDML_SIMD_GENERIC,   /* one lane, libm exp: any CPU */
    CGDML_SIMD_AVX2,      /* 4 lanes, needs AVX2 and FMA */
    CGDML_SIMD_AVX512,    /* 8 lanes, needs AVX-512F */
} cgdml_simd;

/* 1 if this CPU can run `simd` (AUTO and GENERIC: always). */
int cgdml_simd_supported(cgdml_simd simd);
/* "generic", "avx2", "avx512" ("auto" for AUTO). */
const char *cgdml_simd_name(cgdml_simd simd);
/* What AUTO resolves to: the environment variable CGDML_SIMD (generic, avx2 or
 * avx512) if set, else the widest the CPU supports.  CGDML_ERR_INVALID if
 * CGDML_SIMD names something else or an instruction set this CPU lacks. */
cgdml_status cgdml_simd_resolve(cgdml_simd simd, cgdml_simd *out);

/* s ρ beyond which a training frame's term is dropped (exactly 0): exp(-600) =
 * 1e-261 is negligible against any term that matters, and cutting there keeps
 * subnormal numbers (100x slower arithmetic on most CPUs) out of the sum when a
 * configuration wanders far from all training frames. */
#define CGDML_KERNEL_SUM_CUTOFF 600.0

typedef struct cgdml_kernel_sum cgdml_kernel_sum;

/* Build the table for M frames: D[M][d] (1/Å) and gamma[M][d], length scale σ.
 * The table is a copy (the arrays may change afterwards without effect on it);
 * it takes 2 d ceil(M / lanes) lanes doubles.  Free with cgdml_kernel_sum_free. */
cgdml_status cgdml_kernel_sum_alloc(size_t n_train, size_t n_desc, const double *D,
                                    const double *gamma, double sigma, cgdml_simd simd,
                                    cgdml_kernel_sum **out);
void cgdml_kernel_sum_free(cgdml_kernel_sum *ks);
/* The instruction set the table was built for. */
cgdml_simd cgdml_kernel_sum_simd(const cgdml_kernel_sum *ks);
/* 1 if `ks` was built from these very arrays with this M and σ. */
int cgdml_kernel_sum_matches(const cgdml_kernel_sum *ks, size_t n_train, const double *D,
                             const double *gamma, double sigma);
/* h[n][d] and, if energy is not NULL, energy[n] for n configurations' descriptors
 * Dq[n][d].  Runs on the calling thread; callers parallelise over configurations
 * (batches of 4 or more use the table best). */
void cgdml_kernel_sum_eval(const cgdml_kernel_sum *ks, size_t n, const double *Dq, double *h,
                           double *energy);

/* The matrix-free product out = (K + λI) v for the training matrix of M frames
 * (the same matrix cgdml_kernel_assemble builds, never formed): v and out are
 * [M][3N], D[M][d] and g[M][d][3] as for assembly.  O(M² d) work, O(M d) memory
 * (docs/method.md §7), in parallel over frames (OpenMP). */
cgdml_status cgdml_kernel_product(size_t n_frames, size_t n_beads, const double *D,
                                  const double *g, double sigma, double lambda, const double *v,
                                  double *out);

/* The off-diagonal block of the kernel between two sets of frames times a vector:
 * out = K(out frames, in frames) v, i.e. out_i = J_iᵀ Σ_j H(D_i - D_j) J_j v_j,
 * for v [n_in][3N] and out [n_out][3N]; D_out[n_out][d], g_out[n_out][d][3] and
 * D_in, g_in likewise.  O(n_out n_in d) work, in parallel over the out frames.
 * The Nyström preconditioner of the CG solve (solve.h) applies its landmark
 * columns with it. */
cgdml_status cgdml_kernel_cross_product(size_t n_out, const double *D_out, const double *g_out,
                                        size_t n_in, const double *D_in, const double *g_in,
                                        size_t n_beads, double sigma, const double *v,
                                        double *out);

#endif
