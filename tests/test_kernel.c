/* test_kernel.c - descriptor, kernel and solver against independent references:
 * finite differences of the descriptor and of the scalar Matérn kernel, LAPACK's
 * own RFP conversion (dtrttf), and a dense dpotrf solve.
 */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "cgdml/kernel.h"
#include "cgdml/solve.h"
#include "cgdml/synthetic.h"

enum { NB = 6, N3 = 3 * NB, ND = NB * (NB - 1) / 2 };

/* Two frames of a 6-bead harmonic network, well away from each other. */
static void two_frames(double *x, double *y)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *data;
    cr_assert_eq(cgdml_harmonic_network_alloc(NB, 10.0, 7, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, 2, 0.2, 0.0, 11, &data), CGDML_OK);
    memcpy(x, data->coords, N3 * sizeof(double));
    memcpy(y, data->coords + N3, N3 * sizeof(double));
    cgdml_dataset_free(data);
    cgdml_harmonic_network_free(net);
}

static double max_abs(const double *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

Test(descriptor, jacobian_matches_central_differences)
{
    double x[N3], y[N3], D[ND], g[3 * ND], J[ND * N3];
    two_frames(x, y);
    cgdml_descriptor_jacobian(NB, x, D, g);
    cgdml_descriptor_jacobian_dense(NB, g, J);
    const double h = 1e-6;
    for (size_t a = 0; a < N3; a++) {
        double xp[N3], xm[N3], Dp[ND], Dm[ND];
        memcpy(xp, x, sizeof xp);
        memcpy(xm, x, sizeof xm);
        xp[a] += h;
        xm[a] -= h;
        cgdml_descriptor_compute(NB, xp, Dp);
        cgdml_descriptor_compute(NB, xm, Dm);
        for (size_t k = 0; k < ND; k++)
            cr_assert_float_eq(J[k * N3 + a], (Dp[k] - Dm[k]) / (2 * h), 1e-7,
                               "dD_%zu/dx_%zu", k, a);
    }
    /* Descriptor order (1,0),(2,0),(2,1),...: entry 2 is beads 2 and 1. */
    double v[3] = {x[6] - x[3], x[7] - x[4], x[8] - x[5]};
    cr_assert_float_eq(D[2], 1.0 / sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]), 1e-15);
}

/* κ(D(x) - D(y)) for the mixed finite differences below. */
static double kappa(double sigma, const double *x, const double *y)
{
    double Dx[ND], Dy[ND], u[ND];
    cgdml_descriptor_compute(NB, x, Dx);
    cgdml_descriptor_compute(NB, y, Dy);
    for (size_t k = 0; k < ND; k++)
        u[k] = Dx[k] - Dy[k];
    return cgdml_kernel_matern(sigma, ND, u);
}

/* ∂²κ/∂x_a∂y_b by a central mixed difference. */
static double mixed_difference(double sigma, const double *x, const double *y, size_t a,
                               size_t b, double h)
{
    double xs[N3], ys[N3], sum = 0.0;
    for (int sa = -1; sa <= 1; sa += 2)
        for (int sb = -1; sb <= 1; sb += 2) {
            memcpy(xs, x, sizeof xs);
            memcpy(ys, y, sizeof ys);
            xs[a] += sa * h;
            ys[b] += sb * h;
            sum += sa * sb * kappa(sigma, xs, ys);
        }
    return sum / (4 * h * h);
}

Test(kernel, block_is_mixed_second_derivative_of_matern)
{
    double x[N3], y[N3], Dx[ND], gx[3 * ND], Dy[ND], gy[3 * ND], K[N3 * N3];
    two_frames(x, y);
    cgdml_descriptor_jacobian(NB, x, Dx, gx);
    cgdml_descriptor_jacobian(NB, y, Dy, gy);
    const double sigma = 0.3; /* |D(x) - D(y)| is about this size: both terms matter */
    cgdml_kernel_block(NB, sigma, Dx, gx, Dy, gy, K);
    double scale = max_abs(K, N3 * N3);
    cr_assert_gt(scale, 1e-3, "the test frames must be correlated under this sigma");
    for (size_t a = 0; a < N3; a++)
        for (size_t b = 0; b < N3; b++)
            cr_assert_float_eq(K[a * N3 + b], mixed_difference(sigma, x, y, a, b, 1e-4),
                               1e-6 * scale, "K[%zu][%zu]", a, b);
}

Test(kernel, hessian_apply_matches_explicit_matrix)
{
    double u[ND], w[ND], out[ND];
    for (size_t k = 0; k < ND; k++) {
        u[k] = 0.05 * sin(1.0 + k);
        w[k] = cos(2.0 * k);
    }
    const double sigma = 0.4, s = sqrt(5.0) / sigma;
    double rho = 0.0;
    for (size_t k = 0; k < ND; k++)
        rho += u[k] * u[k];
    rho = sqrt(rho);
    cgdml_kernel_hessian_apply(sigma, ND, u, w, out);
    for (size_t i = 0; i < ND; i++) {
        double ref = 0.0;
        for (size_t j = 0; j < ND; j++)
            ref += s * s / 3 * exp(-s * rho) * ((1 + s * rho) * (i == j) - s * s * u[i] * u[j]) *
                   w[j];
        cr_assert_float_eq(out[i], ref, 1e-12 * fabs(ref) + 1e-14);
    }
}

/* Our RFP index must put every element where LAPACK's dtrttf puts it. */
static void check_rfp_layout(size_t n)
{
    double *a = calloc(n * n, sizeof(double)), *arf = calloc(n * (n + 1) / 2, sizeof(double));
    for (size_t j = 0; j < n; j++)
        for (size_t i = j; i < n; i++)
            a[i + j * n] = 1000.0 * i + j;
    cr_assert_eq(LAPACKE_dtrttf(LAPACK_COL_MAJOR, 'N', 'L', n, a, n, arf), 0);
    for (size_t j = 0; j < n; j++)
        for (size_t i = j; i < n; i++)
            cr_assert_eq(arf[cgdml_kernel_rfp_index(n, i, j)], 1000.0 * i + j, "n=%zu (%zu,%zu)",
                         n, i, j);
    free(a);
    free(arf);
}

Test(kernel, rfp_index_matches_lapack_even_and_odd)
{
    check_rfp_layout(8);
    check_rfp_layout(9);
    check_rfp_layout(36);
    check_rfp_layout(45);
}

/* A small training system: M frames of a harmonic network. */
typedef struct {
    size_t m, n;
    double *D, *g, *arf, *dense;
} small_system;

static small_system assemble_small(size_t m, double sigma, double lambda)
{
    small_system s = {.m = m, .n = m * N3};
    cgdml_harmonic_network *net;
    cgdml_dataset *data;
    cr_assert_eq(cgdml_harmonic_network_alloc(NB, 10.0, 3, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, m, 0.15, 0.0, 5, &data), CGDML_OK);
    s.D = malloc(m * ND * sizeof(double));
    s.g = malloc(m * ND * 3 * sizeof(double));
    for (size_t f = 0; f < m; f++)
        cgdml_descriptor_jacobian(NB, data->coords + f * N3, s.D + f * ND, s.g + f * 3 * ND);
    s.arf = malloc(cgdml_kernel_rfp_size(s.n) * sizeof(double));
    cr_assert_eq(cgdml_kernel_assemble(m, NB, s.D, s.g, sigma, lambda, s.arf), CGDML_OK);
    /* The dense reference, block by block, lower and upper. */
    s.dense = calloc(s.n * s.n, sizeof(double));
    double blk[N3 * N3];
    for (size_t a = 0; a < m; a++)
        for (size_t b = 0; b < m; b++) {
            cgdml_kernel_block(NB, sigma, s.D + a * ND, s.g + a * 3 * ND, s.D + b * ND,
                               s.g + b * 3 * ND, blk);
            for (size_t r = 0; r < N3; r++)
                for (size_t c = 0; c < N3; c++)
                    s.dense[(a * N3 + r) + (b * N3 + c) * s.n] = blk[r * N3 + c];
        }
    for (size_t i = 0; i < s.n; i++)
        s.dense[i + i * s.n] += lambda;
    cgdml_dataset_free(data);
    cgdml_harmonic_network_free(net);
    return s;
}

static void free_small(small_system *s)
{
    free(s->D);
    free(s->g);
    free(s->arf);
    free(s->dense);
}

Test(kernel, assembly_matches_dense_blocks_and_is_symmetric)
{
    small_system s = assemble_small(5, 0.5, 1e-6);
    double *back = calloc(s.n * s.n, sizeof(double));
    cr_assert_eq(LAPACKE_dtfttr(LAPACK_COL_MAJOR, 'N', 'L', s.n, s.arf, back, s.n), 0);
    double scale = max_abs(s.dense, s.n * s.n);
    for (size_t j = 0; j < s.n; j++)
        for (size_t i = j; i < s.n; i++) {
            cr_assert_float_eq(back[i + j * s.n], s.dense[i + j * s.n], 1e-14 * scale);
            cr_assert_float_eq(s.dense[i + j * s.n], s.dense[j + i * s.n], 1e-13 * scale,
                               "K is symmetric");
        }
    free(back);
    free_small(&s);
}

Test(solve, rfp_cholesky_agrees_with_dense_dpotrf)
{
    small_system s = assemble_small(6, 0.5, 1e-3);
    double *b1 = malloc(s.n * sizeof(double)), *b2 = malloc(s.n * sizeof(double));
    for (size_t i = 0; i < s.n; i++)
        b1[i] = b2[i] = sin(0.37 * i);
    cr_assert_eq(cgdml_solve_factor(s.n, s.arf), CGDML_OK);
    cr_assert_eq(cgdml_solve_apply(s.n, s.arf, b1, 1), CGDML_OK);
    cr_assert_eq(LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', s.n, s.dense, s.n), 0);
    cr_assert_eq(LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', s.n, 1, s.dense, s.n, b2, s.n), 0);
    double scale = max_abs(b2, s.n);
    for (size_t i = 0; i < s.n; i++)
        cr_assert_float_eq(b1[i], b2[i], 1e-10 * scale, "alpha[%zu]", i);
    free(b1);
    free(b2);
    free_small(&s);
}

Test(solve, indefinite_matrix_is_reported)
{
    /* [[1, 2], [2, 1]] has eigenvalues 3 and -1. */
    double a[4] = {1, 2, 2, 1}, arf[3];
    cr_assert_eq(LAPACKE_dtrttf(LAPACK_COL_MAJOR, 'N', 'L', 2, a, 2, arf), 0);
    cr_assert_eq(cgdml_solve_factor(2, arf), CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "not positive definite"), "%s",
              cgdml_error_message());
}

Test(kernel, impossible_hyperparameters_are_refused)
{
    double D[ND] = {0}, g[3 * ND] = {0}, arf[N3 * (N3 + 1) / 2];
    cr_assert_eq(cgdml_kernel_assemble(1, NB, D, g, 0.0, 1e-6, arf), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "sigma"));
    cr_assert_eq(cgdml_kernel_assemble(1, NB, D, g, -1.0, 1e-6, arf), CGDML_ERR_INVALID);
    cr_assert_eq(cgdml_kernel_assemble(1, NB, D, g, 1.0, -1e-6, arf), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "lambda"));
    cr_assert_eq(cgdml_kernel_assemble(1, NB, D, g, NAN, 1e-6, arf), CGDML_ERR_INVALID);
}
