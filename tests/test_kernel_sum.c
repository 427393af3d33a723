/* test_kernel_sum.c - the kernel-sum engine (every instruction set this CPU has)
 * and the matrix-free product, against plain references written here: the sum
 * term by term with libm's exp (cgdml_kernel_hessian_apply) and the assembled
 * kernel matrix.  Forces and energies of cgdml_model_predict are checked against
 * the same reference, so the batched, vectorised prediction is the sum of
 * docs/method.md §2 to rounding.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "cgdml/kernel.h"
#include "cgdml/model.h"
#include "cgdml/synthetic.h"
#include "compare.h"

enum { NB = 6, N3 = 3 * NB, ND = NB * (NB - 1) / 2 };

/* Agreement demanded of the engine against the term-by-term sum, relative to the
 * largest entry of the result (summation order and a 2-ulp exp differ). */
#define SUM_RTOL 1e-12

static cgdml_dataset *frames(size_t n, unsigned long seed)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *data;
    cr_assert_eq(cgdml_harmonic_network_alloc(NB, 10.0, 7, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, n, 0.2, 0.0, seed, &data), CGDML_OK);
    cgdml_harmonic_network_free(net);
    return data;
}

/* D[n][d] of the frames, and γ[n][d] of either sign, unevenly sized. */
static void descriptors_and_gamma(const cgdml_dataset *data, double *D, double *gamma)
{
    for (size_t j = 0; j < data->n_frames; j++) {
        cgdml_descriptor_compute(NB, data->coords + j * N3, D + j * ND);
        for (size_t k = 0; k < ND; k++)
            gamma[j * ND + k] = sin(3.0 * (double)(j * ND + k)) * (1.0 + (double)(j % 5));
    }
}

/* The definition, term by term. */
static void reference_sum(size_t m, const double *Dt, const double *gamma, double sigma,
                          const double *D, double *h, double *energy)
{
    double s = sqrt(5.0) / sigma;
    memset(h, 0, ND * sizeof(double));
    *energy = 0.0;
    for (size_t j = 0; j < m; j++) {
        double u[ND], hj[ND], rho2 = 0.0, ug = 0.0;
        for (size_t k = 0; k < ND; k++) {
            u[k] = D[k] - Dt[j * ND + k];
            rho2 += u[k] * u[k];
            ug += u[k] * gamma[j * ND + k];
        }
        cgdml_kernel_hessian_apply(sigma, ND, u, gamma + j * ND, hj);
        for (size_t k = 0; k < ND; k++)
            h[k] += hj[k];
        double sr = s * sqrt(rho2);
        *energy -= s * s / 3.0 * (1.0 + sr) * exp(-sr) * ug;
    }
}

static double max_diff(const double *a, const double *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* M = 203 (not a multiple of any lane count) training frames, 7 configurations
 * (not a multiple of the batch of 4), for each σ and each instruction set. */
static void check_simd(cgdml_simd simd)
{
    if (!cgdml_simd_supported(simd))
        cr_skip_test("this CPU has no %s", cgdml_simd_name(simd));
    enum { M = 203, Q = 7 };
    cgdml_dataset *train = frames(M, 3), *query = frames(Q, 5);
    double *Dt = malloc(M * ND * sizeof(double)), *gamma = malloc(M * ND * sizeof(double));
    descriptors_and_gamma(train, Dt, gamma);
    double Dq[Q * ND];
    for (size_t q = 0; q < Q; q++)
        cgdml_descriptor_compute(NB, query->coords + q * N3, Dq + q * ND);
    memcpy(Dq + 6 * ND, Dt + 17 * ND, ND * sizeof(double)); /* one query on a training frame */
    const double sigmas[] = {0.05, 0.5, 2.0, 50.0};
    for (size_t i = 0; i < 4; i++) {
        cgdml_kernel_sum *ks;
        cr_assert_eq(cgdml_kernel_sum_alloc(M, ND, Dt, gamma, sigmas[i], simd, &ks), CGDML_OK);
        cr_assert_eq(cgdml_kernel_sum_simd(ks), simd);
        double h[Q * ND], e[Q], href[Q * ND], eref[Q];
        cgdml_kernel_sum_eval(ks, Q, Dq, h, e);
        for (size_t q = 0; q < Q; q++)
            reference_sum(M, Dt, gamma, sigmas[i], Dq + q * ND, href + q * ND, eref + q);
        double hscale = max_abs(href, Q * ND), escale = max_abs(eref, Q);
        cr_assert_gt(hscale, 0.0);
        cr_assert_leq(max_diff(h, href, Q * ND), SUM_RTOL * hscale,
                      "%s sigma %g: h off by %g of %g", cgdml_simd_name(simd), sigmas[i],
                      max_diff(h, href, Q * ND), hscale);
        cr_assert_leq(max_diff(e, eref, Q), SUM_RTOL * escale,
                      "%s sigma %g: energy off by %g of %g", cgdml_simd_name(simd), sigmas[i],
                      max_diff(e, eref, Q), escale);
        /* One configuration at a time gives the same bits as the batch. */
        for (size_t q = 0; q < Q; q++) {
            double h1[ND], e1;
            cgdml_kernel_sum_eval(ks, 1, Dq + q * ND, h1, &e1);
            cr_assert(!memcmp(h1, h + q * ND, sizeof h1), "%s: batching changed the bits",
                      cgdml_simd_name(simd));
            cr_assert_eq(e1, e[q]);
        }
        cgdml_kernel_sum_free(ks);
    }
    free(Dt);
    free(gamma);
    cgdml_dataset_free(train);
    cgdml_dataset_free(query);
}

Test(kernel_sum, generic_matches_the_definition)
{
    check_simd(CGDML_SIMD_GENERIC);
}
Test(kernel_sum, avx2_matches_the_definition)
{
    check_simd(CGDML_SIMD_AVX2);
}
Test(kernel_sum, avx512_matches_the_definition)
{
    check_simd(CGDML_SIMD_AVX512);
}

/* The vector exp reaches far into its range: a σ so small that s ρ runs past the
 * clamp at 708 for most pairs must still give the reference (the near pairs). */
Test(kernel_sum, far_pairs_underflow_cleanly)
{
    enum { M = 40 };
    cgdml_dataset *train = frames(M, 3);
    double Dt[M * ND], gamma[M * ND], h[ND], e, href[ND], eref;
    descriptors_and_gamma(train, Dt, gamma);
    for (cgdml_simd simd = CGDML_SIMD_GENERIC; simd <= CGDML_SIMD_AVX512; simd++) {
        if (!cgdml_simd_supported(simd))
            continue;
        cgdml_kernel_sum *ks;
        cr_assert_eq(cgdml_kernel_sum_alloc(M, ND, Dt, gamma, 1e-4, simd, &ks), CGDML_OK);
        cgdml_kernel_sum_eval(ks, 1, Dt + 9 * ND, h, &e); /* on frame 9: only it is near */
        reference_sum(M, Dt, gamma, 1e-4, Dt + 9 * ND, href, &eref);
        for (size_t k = 0; k < ND; k++)
            cr_assert(isfinite(h[k]) && fabs(h[k] - href[k]) <= 1e-12 * max_abs(href, ND) + 1e-300,
                      "%s: h[%zu] = %g, reference %g", cgdml_simd_name(simd), k, h[k], href[k]);
        cgdml_kernel_sum_free(ks);
    }
    cgdml_dataset_free(train);
}

Test(kernel_sum, environment_chooses_and_refuses)
{
    cgdml_simd got;
    setenv("CGDML_SIMD", "generic", 1);
    cr_assert_eq(cgdml_simd_resolve(CGDML_SIMD_AUTO, &got), CGDML_OK);
    cr_assert_eq(got, CGDML_SIMD_GENERIC);
    setenv("CGDML_SIMD", "sse9", 1);
    cr_assert_eq(cgdml_simd_resolve(CGDML_SIMD_AUTO, &got), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "CGDML_SIMD=sse9"), "%s", cgdml_error_message());
    unsetenv("CGDML_SIMD");
    cr_assert_eq(cgdml_simd_resolve(CGDML_SIMD_AUTO, &got), CGDML_OK);
    cr_assert(cgdml_simd_supported(got));
    cr_assert_neq(got, CGDML_SIMD_AUTO);
    cgdml_kernel_sum *ks;
    double D[ND] = {1.0}, g[ND] = {0.0};
    cr_assert_eq(cgdml_kernel_sum_alloc(1, ND, D, g, 0.0, CGDML_SIMD_AUTO, &ks), CGDML_ERR_INVALID);
}

/* Prediction of a trained model (prior-free) against F = Jᵀ Σ_j H γ_j term by term,
 * forces and energies, with and without the model's prepared table. */
Test(kernel_sum, model_prediction_matches_the_definition)
{
    enum { M = 80, Q = 37 };
    cgdml_dataset *data = frames(M + Q, 9);
    size_t idx[M];
    for (size_t t = 0; t < M; t++)
        idx[t] = t;
    cgdml_model *m;
    cr_assert_eq(cgdml_model_train(data, idx, M, 0.7, 1e-6, NULL, &m), CGDML_OK);
    cr_assert_not_null(m->sum);
    const double *x = data->coords + M * N3;
    double f[Q * N3], e[Q], fref[Q * N3], eref[Q];
    cr_assert_eq(cgdml_model_predict(m, Q, x, f, e), CGDML_OK);
    for (size_t q = 0; q < Q; q++) {
        double D[ND], g[3 * ND], h[ND];
        cgdml_descriptor_jacobian(NB, x + q * N3, D, g);
        reference_sum(M, m->train_desc, m->gamma, m->sigma, D, h, eref + q);
        cgdml_descriptor_apply_jt(NB, g, h, fref + q * N3);
    }
    cr_assert_leq(max_diff(f, fref, Q * N3), SUM_RTOL * max_abs(fref, Q * N3));
    cr_assert_leq(max_diff(e, eref, Q), SUM_RTOL * max_abs(eref, Q));
    /* Without the cached table (a model built by hand): the same bits. */
    cgdml_kernel_sum *cached = m->sum;
    m->sum = NULL;
    double f2[Q * N3], e2[Q];
    cr_assert_eq(cgdml_model_predict(m, Q, x, f2, e2), CGDML_OK);
    cr_assert(!memcmp(f, f2, sizeof f) && !memcmp(e, e2, sizeof e));
    m->sum = cached;
    cgdml_model_free(m);
    cgdml_dataset_free(data);
}

/* (K + λI) v without the matrix against the assembled matrix (RFP -> full). */
Test(kernel_sum, matrix_free_product_matches_the_assembled_matrix)
{
    enum { M = 60, N = M * N3 };
    cgdml_dataset *data = frames(M, 13);
    double *D = malloc(M * ND * sizeof(double)), *g = malloc(M * 3 * ND * sizeof(double));
    for (size_t j = 0; j < M; j++)
        cgdml_descriptor_jacobian(NB, data->coords + j * N3, D + j * ND, g + j * 3 * ND);
    double *arf = malloc(cgdml_kernel_rfp_size(N) * sizeof(double));
    double *full = malloc((size_t)N * N * sizeof(double));
    double *v = malloc(N * sizeof(double)), *out = malloc(N * sizeof(double)),
           *ref = malloc(N * sizeof(double));
    for (size_t a = 0; a < N; a++)
        v[a] = cos(0.7 * (double)a);
    const double sigma = 0.8, lambda = 1e-3;
    cr_assert_eq(cgdml_kernel_assemble(M, NB, D, g, sigma, lambda, arf), CGDML_OK);
    cr_assert_eq(LAPACKE_dtfttr(LAPACK_COL_MAJOR, 'N', 'L', N, arf, full, N), 0);
    for (size_t a = 0; a < N; a++) { /* full holds the lower triangle, column-major */
        ref[a] = 0.0;
        for (size_t b = 0; b < N; b++)
            ref[a] += (a >= b ? full[b * N + a] : full[a * N + b]) * v[b];
    }
    cr_assert_eq(cgdml_kernel_product(M, NB, D, g, sigma, lambda, v, out), CGDML_OK);
    double scale = max_abs(ref, N), err = max_diff(out, ref, N);
    cr_assert_leq(err, 1e-12 * scale, "product off by %g of %g", err, scale);
    /* It must see λ: without it the difference is λ v. */
    cr_assert_eq(cgdml_kernel_product(M, NB, D, g, sigma, 0.0, v, out), CGDML_OK);
    cr_assert_float_eq(ref[5] - out[5], lambda * v[5], 1e-12 * scale);
    free(D);
    free(g);
    free(arf);
    free(full);
    free(v);
    free(out);
    free(ref);
    cgdml_dataset_free(data);
}

/* Each term to a few ulp, far ones included: one training frame and queries whose
 * s ρ runs from 0 to 700, so the energy's relative error is that of exp (a sum
 * hides an inaccurate exp of a far, small term behind the near ones). */
Test(kernel_sum, every_term_is_exact_to_rounding)
{
    double Dt[ND], gamma[ND], Dq[ND], h[ND], e, href[ND], eref;
    for (size_t k = 0; k < ND; k++) {
        Dt[k] = 0.3 + 0.01 * (double)k;
        gamma[k] = 1.0 + 0.1 * (double)k;
    }
    for (cgdml_simd simd = CGDML_SIMD_GENERIC; simd <= CGDML_SIMD_AVX512; simd++) {
        if (!cgdml_simd_supported(simd))
            continue;
        cgdml_kernel_sum *ks;
        cr_assert_eq(cgdml_kernel_sum_alloc(1, ND, Dt, gamma, 0.01, simd, &ks), CGDML_OK);
        for (double t = 1e-6; t < 3.1; t *= 1.37) { /* s ρ = √5/0.01 · t √ND ≈ 866 t */
            for (size_t k = 0; k < ND; k++)
                Dq[k] = Dt[k] + t / sqrt((double)ND) * 0.8; /* u·γ free of cancellation */
            cgdml_kernel_sum_eval(ks, 1, Dq, h, &e);
            reference_sum(1, Dt, gamma, 0.01, Dq, href, &eref);
            /* exp(-sρ) carries sρ times the rounding of sρ itself, in both. */
            double sr = sqrt(5.0) / 0.01 * t * 0.8;
            if (sr >= CGDML_KERNEL_SUM_CUTOFF) { /* dropped: exactly zero */
                cr_assert_eq(e, 0.0, "%s s rho = %g: energy %g", cgdml_simd_name(simd), sr, e);
                continue;
            }
            cr_assert_leq(fabs(e - eref), 8 * DBL_EPSILON * (1.0 + sr) * fabs(eref),
                          "%s t = %g: energy %.17g vs %.17g", cgdml_simd_name(simd), t, e, eref);
        }
        cgdml_kernel_sum_free(ks);
    }
}
