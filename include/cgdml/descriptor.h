/* cgdml/descriptor.h - the inverse-distance descriptor and its Jacobian.
 *
 * For N beads at x[bead][xyz] (Å) the descriptor has d = N(N-1)/2 entries
 * D_k = 1/|x_i - x_j| (1/Å), pairs (i, j) with i > j in the order
 * (1,0),(2,0),(2,1),(3,0),(3,1),(3,2),... (the sGDML order, docs/method.md §2).
 *
 * The Jacobian J = dD/dx (d x 3N) has two non-zero 3-blocks per row: with
 * v = x_i - x_j and r = |v|, dD_k/dx_i = -v/r³ and dD_k/dx_j = +v/r³.  It is kept
 * in this sparse form, g[k][xyz] = v/r³ (1/Å²), and applied with the helpers below.
 */
#ifndef CGDML_DESCRIPTOR_H
#define CGDML_DESCRIPTOR_H

#include <stddef.h>

/* Number of descriptor entries for n_beads beads: n_beads (n_beads - 1) / 2. */
static inline size_t cgdml_descriptor_size(size_t n_beads)
{
    return n_beads * (n_beads - 1) / 2;
}

/* D[k] = 1/r_k for one frame x[bead][xyz]. */
void cgdml_descriptor_compute(size_t n_beads, const double *x, double *D);

/* D[k] and the sparse Jacobian g[k][xyz] = v_k / r_k³ for one frame. */
void cgdml_descriptor_jacobian(size_t n_beads, const double *x, double *D, double *g);

/* out[3N] = Jᵀ w for a descriptor-space vector w[d] (overwrites out). */
void cgdml_descriptor_apply_jt(size_t n_beads, const double *g, const double *w, double *out);

/* out[d] = J a for a Cartesian vector a[3N] (overwrites out). */
void cgdml_descriptor_apply_j(size_t n_beads, const double *g, const double *a, double *out);

/* The dense Jacobian J[k][3N] (row-major), for tests and small problems. */
void cgdml_descriptor_jacobian_dense(size_t n_beads, const double *g, double *J);

#endif
