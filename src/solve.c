/* solve.c - RFP Cholesky factorisation and triangular solves through LAPACK
 * (see cgdml/solve.h).  LAPACKE's _work variants are used so that no extra pass
 * over the 1-GB-scale matrix is spent on NaN checks: the inputs were checked when
 * the dataset was read.
 */
#include "cgdml/solve.h"

#include <lapacke.h>

static cgdml_status check_order(size_t n)
{
    if (n == 0 || n > CGDML_SOLVE_MAX_ORDER)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "system of order %zu: RFP storage supports orders 1 to %d "
                               "(LAPACK's 32-bit indexing)",
                               n, CGDML_SOLVE_MAX_ORDER);
    return CGDML_OK;
}

/* The status of a LAPACK RFP routine's info: > 0 from a factorisation is a matrix
 * that is not positive definite, < 0 a rejected argument. */
static cgdml_status lapack_status(lapack_int info, const char *routine, const char *matrix,
                                  size_t n)
{
    if (info > 0)
        return cgdml_error_set(CGDML_ERR_NUMERIC,
                               "the %skernel matrix is not positive definite (Cholesky failed at "
                               "leading minor %d of %zu)",
                               matrix, (int)info, n);
    if (info < 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s rejected argument %d", routine, (int)-info);
    return CGDML_OK;
}

cgdml_status cgdml_solve_factor(size_t n, double *arf)
{
    cgdml_status st = check_order(n);
    return st ? st
              : lapack_status(LAPACKE_dpftrf_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n, arf),
                              "dpftrf", "", n);
}

cgdml_status cgdml_solve_apply(size_t n, const double *arf, double *b, size_t nrhs)
{
    cgdml_status st = check_order(n);
    return st ? st
              : lapack_status(LAPACKE_dpftrs_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n,
                                                  (lapack_int)nrhs, arf, b, (lapack_int)n),
                              "dpftrs", "", n);
}

cgdml_status cgdml_solve_factor_single(size_t n, float *arf)
{
    cgdml_status st = check_order(n);
    return st ? st
              : lapack_status(LAPACKE_spftrf_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n, arf),
                              "spftrf", "single-precision ", n);
}

cgdml_status cgdml_solve_apply_single(size_t n, const float *arf, float *b, size_t nrhs)
{
    cgdml_status st = check_order(n);
    return st ? st
              : lapack_status(LAPACKE_spftrs_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n,
                                                  (lapack_int)nrhs, arf, b, (lapack_int)n),
                              "spftrs", "single-precision ", n);
}
