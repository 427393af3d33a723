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

cgdml_status cgdml_solve_factor(size_t n, double *arf)
{
    cgdml_status st = check_order(n);
    if (st)
        return st;
    lapack_int info = LAPACKE_dpftrf_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n, arf);
    if (info > 0)
        return cgdml_error_set(CGDML_ERR_NUMERIC,
                               "the kernel matrix is not positive definite (Cholesky failed at "
                               "leading minor %d of %zu)",
                               (int)info, n);
    if (info < 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "dpftrf rejected argument %d", (int)-info);
    return CGDML_OK;
}

cgdml_status cgdml_solve_apply(size_t n, const double *arf, double *b, size_t nrhs)
{
    cgdml_status st = check_order(n);
    if (st)
        return st;
    lapack_int info = LAPACKE_dpftrs_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n,
                                          (lapack_int)nrhs, arf, b, (lapack_int)n);
    if (info != 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "dpftrs rejected argument %d", (int)-info);
    return CGDML_OK;
}

cgdml_status cgdml_solve_factor_single(size_t n, float *arf)
{
    cgdml_status st = check_order(n);
    if (st)
        return st;
    lapack_int info = LAPACKE_spftrf_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n, arf);
    if (info > 0)
        return cgdml_error_set(CGDML_ERR_NUMERIC,
                               "the single-precision kernel matrix is not positive definite "
                               "(Cholesky failed at leading minor %d of %zu)",
                               (int)info, n);
    if (info < 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "spftrf rejected argument %d", (int)-info);
    return CGDML_OK;
}

cgdml_status cgdml_solve_apply_single(size_t n, const float *arf, float *b, size_t nrhs)
{
    cgdml_status st = check_order(n);
    if (st)
        return st;
    lapack_int info = LAPACKE_spftrs_work(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n,
                                          (lapack_int)nrhs, arf, b, (lapack_int)n);
    if (info != 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "spftrs rejected argument %d", (int)-info);
    return CGDML_OK;
}
