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

#endif
