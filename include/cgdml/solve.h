/* cgdml/solve.h - Cholesky factorisation and solve of the training system
 * (K + λI) α = F in LAPACK's Rectangular Full Packed storage (dpftrf/dpftrs),
 * which needs half the memory of the full matrix and runs at BLAS-3 speed.
 */
#ifndef CGDML_SOLVE_H
#define CGDML_SOLVE_H

#include <stddef.h>

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

#endif
