/* test_fes.c - dihedral angles, landscapes and the comparison metric of
 * docs/method.md §5: F = -ln p on a known histogram, a metric that is zero for
 * identical or shifted landscapes and grows with a known distortion.
 */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <unistd.h>

#include "cgdml/dataset.h"
#include "cgdml/fes.h"
#include "shipped_data.h"

Test(fes, free_energy_is_minus_log_of_population)
{
    /* 3 samples in one bin, 1 in another, none elsewhere. */
    double phi[4] = {-3.0, -3.0, -3.0, 1.0}, psi[4] = {0.1, 0.1, 0.1, -2.0};
    cgdml_fes *f;
    cr_assert_eq(cgdml_fes_from_angles(phi, psi, 4, 10, &f), CGDML_OK);
    size_t populated = 0;
    double fmax_seen = 0.0;
    for (size_t b = 0; b < 100; b++)
        if (f->count[b] > 0) {
            populated++;
            fmax_seen = fmax(fmax_seen, f->free_energy[b]);
        } else {
            cr_assert(isnan(f->free_energy[b]));
        }
    cr_assert_eq(populated, 2);
    cr_assert_float_eq(fmax_seen, log(3.0), 1e-12);
    cr_assert_eq(f->n_samples, 4);
    /* π and -π are the same angle: the same bin. */
    double a[2] = {M_PI, -M_PI}, z[2] = {0, 0};
    cgdml_fes *g;
    cr_assert_eq(cgdml_fes_from_angles(a, z, 2, 10, &g), CGDML_OK);
    double top = 0;
    for (size_t b = 0; b < 100; b++)
        top = fmax(top, g->count[b]);
    cr_assert_eq(top, 2.0);
    cgdml_fes_free(f);
    cgdml_fes_free(g);
}

/* n samples of wrapped Gaussians of width w around (-1.2, 2.5) and (-1.4, -0.7). */
static cgdml_fes *two_basins(size_t n, double w, unsigned long seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    double *phi = malloc(n * sizeof(double)), *psi = malloc(n * sizeof(double));
    for (size_t k = 0; k < n; k++) {
        int second = gsl_rng_uniform(rng) < 0.4;
        phi[k] = remainder((second ? -1.4 : -1.2) + gsl_ran_gaussian(rng, w), 2 * M_PI);
        psi[k] = remainder((second ? -0.7 : 2.5) + gsl_ran_gaussian(rng, w), 2 * M_PI);
    }
    cgdml_fes *f;
    cr_assert_eq(cgdml_fes_from_angles(phi, psi, n, 60, &f), CGDML_OK);
    free(phi);
    free(psi);
    gsl_rng_free(rng);
    return f;
}

Test(fes, metric_is_zero_for_identical_and_shifted_landscapes)
{
    cgdml_fes *a = two_basins(20000, 0.4, 1), *b = two_basins(20000, 0.4, 1);
    cgdml_fes_comparison c;
    cr_assert_eq(cgdml_fes_compare(a, b, &c), CGDML_OK);
    cr_assert_eq(c.mse, 0.0);
    for (size_t k = 0; k < 3600; k++)
        b->free_energy[k] += 1.7;
    cr_assert_eq(cgdml_fes_compare(a, b, &c), CGDML_OK);
    cr_assert_float_eq(c.mse, 0.0, 1e-20);
    cr_assert_float_eq(c.shift, -1.7, 1e-12);
    cgdml_fes_free(a);
    cgdml_fes_free(b);
}

Test(fes, metric_grows_with_a_known_distortion)
{
    cgdml_fes *ref = two_basins(200000, 0.4, 2), *again = two_basins(200000, 0.4, 3);
    cgdml_fes_comparison floor_cmp, prev = {0};
    cr_assert_eq(cgdml_fes_compare(ref, again, &floor_cmp), CGDML_OK);
    for (int step = 1; step <= 3; step++) {
        cgdml_fes *wide = two_basins(200000, 0.4 * (1.0 + 0.25 * step), 4);
        cgdml_fes_comparison c;
        cr_assert_eq(cgdml_fes_compare(ref, wide, &c), CGDML_OK);
        cr_assert_gt(c.mse, prev.mse, "width x%.2f: MSE %g", 1.0 + 0.25 * step, c.mse);
        cr_assert_gt(c.mse, 2 * floor_cmp.mse, "above the sampling floor %g", floor_cmp.mse);
        prev = c;
        cgdml_fes_free(wide);
    }
    cgdml_fes_free(ref);
    cgdml_fes_free(again);
}

Test(fes, landscapes_without_common_bins_are_refused)
{
    double p1[1] = {-3.0}, p2[1] = {3.0}, z[1] = {0.0};
    cgdml_fes *a, *b;
    cgdml_fes_comparison c;
    cr_assert_eq(cgdml_fes_from_angles(p1, z, 1, 60, &a), CGDML_OK);
    cr_assert_eq(cgdml_fes_from_angles(p2, z, 1, 60, &b), CGDML_OK);
    cr_assert_eq(cgdml_fes_compare(a, b, &c), CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "no populated bin"));
    cgdml_fes_free(a);
    cgdml_fes_free(b);
}

Test(fes, saved_landscape_reads_back_exactly)
{
    cgdml_fes *a = two_basins(5000, 0.4, 5);
    char dir[] = "/tmp/cgdml-fes-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ref.h5", dir);
    cr_assert_eq(cgdml_fes_save(a, 0.125, NULL, NULL, NULL, path), CGDML_OK, "%s", cgdml_error_message());
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    double *back = malloc(3600 * sizeof(double)), floor_back;
    hid_t ds = H5Dopen2(f, "/fes/free_energy", H5P_DEFAULT);
    cr_assert_geq(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, back), 0);
    H5Dclose(ds);
    hid_t g = H5Gopen2(f, "/fes", H5P_DEFAULT), at = H5Aopen(g, "floor_mse_kT2", H5P_DEFAULT);
    H5Aread(at, H5T_NATIVE_DOUBLE, &floor_back);
    H5Aclose(at);
    H5Gclose(g);
    H5Fclose(f);
    cr_assert_eq(floor_back, 0.125);
    for (size_t k = 0; k < 3600; k++)
        cr_assert(isnan(a->free_energy[k]) ? isnan(back[k]) : back[k] == a->free_energy[k]);
    free(back);
    remove(path);
    rmdir(dir);
    cgdml_fes_free(a);
}

Test(fes, kl_and_missing_population)
{
    /* b: 3 samples in bin A, 1 in bin B; a: 1 in A, 1 in C (never B). */
    double pb[4] = {-3.0, -3.0, -3.0, 1.0}, sb[4] = {0.1, 0.1, 0.1, -2.0};
    double pa[2] = {-3.0, 2.5}, sa[2] = {0.1, 2.5};
    cgdml_fes *a, *b;
    cr_assert_eq(cgdml_fes_from_angles(pa, sa, 2, 10, &a), CGDML_OK);
    cr_assert_eq(cgdml_fes_from_angles(pb, sb, 4, 10, &b), CGDML_OK);
    cgdml_fes_comparison c;
    cr_assert_eq(cgdml_fes_compare(a, b, &c), CGDML_OK);
    cr_assert_eq(c.joint_bins, 1);
    cr_assert_float_eq(c.missing, 0.25, 1e-15, "bin B holds a quarter of b");
    cr_assert_float_eq(c.kl, 0.0, 1e-15, "one joint bin: both renormalise to 1");
    cgdml_fes *c1 = two_basins(50000, 0.4, 7), *c2 = two_basins(50000, 0.6, 8);
    cr_assert_eq(cgdml_fes_compare(c1, c1, &c), CGDML_OK);
    cr_assert_float_eq(c.kl, 0.0, 1e-12);
    cr_assert_eq(c.missing, 0.0);
    cr_assert_eq(cgdml_fes_compare(c1, c2, &c), CGDML_OK);
    cr_assert_gt(c.kl, 0.05, "a wider distribution differs: KL %g", c.kl);
    cr_assert_gt(c.missing, 0.0, "the wider one reaches bins the narrow one misses");
    cgdml_fes_free(a);
    cgdml_fes_free(b);
    cgdml_fes_free(c1);
    cgdml_fes_free(c2);
}

/* Population-weighted MSE and the model's mass outside the reference, by hand:
 * b (reference) has 8 samples in bin A and 2 in bin B; a (model) 2 in A, 2 in B
 * and 1 in C, where b has none. */
Test(fes, weighted_mse_and_extra_population)
{
    double pb[10] = {-3, -3, -3, -3, -3, -3, -3, -3, 1, 1};
    double sb[10] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, -2, -2};
    double pa[5] = {-3, -3, 1, 1, 2.5}, sa[5] = {0.1, 0.1, -2, -2, 2.5};
    cgdml_fes *a, *b;
    cr_assert_eq(cgdml_fes_from_angles(pa, sa, 5, 10, &a), CGDML_OK);
    cr_assert_eq(cgdml_fes_from_angles(pb, sb, 10, 10, &b), CGDML_OK);
    cgdml_fes_comparison c;
    cr_assert_eq(cgdml_fes_compare(a, b, &c), CGDML_OK);
    cr_assert_float_eq(c.extra, 0.2, 1e-15, "bin C holds a fifth of a");
    cr_assert_float_eq(c.missing, 0.0, 1e-15);
    /* F_a - F_b: bin A 0 - 0 = 0, bin B 0 - ln 4 = -ln 4; weights 0.8, 0.2. */
    double d = -log(4.0), mean_w = 0.2 * d, mse_w = 0.2 * d * d - mean_w * mean_w;
    cr_assert_float_eq(c.mse_weighted, mse_w, 1e-14, "%g vs %g", c.mse_weighted, mse_w);
    cr_assert_float_eq(c.mse, d * d / 4.0, 1e-14, "unweighted: two bins equally");
    cgdml_fes_free(a);
    cgdml_fes_free(b);
}

/* A trajectory dataset of `n` frames at steps 1, 2, ... whose phi/psi observables
 * come from the two arrays. */
static cgdml_dataset *trajectory(const double *phi, const double *psi, size_t n)
{
    cgdml_dataset *t;
    cr_assert_eq(cgdml_dataset_alloc(n, 6, &t), CGDML_OK);
    for (size_t k = 0; k < n; k++)
        t->step[k] = (int64_t)(k + 1);
    cr_assert_eq(cgdml_dataset_add_observable(t, "phi", phi), CGDML_OK);
    cr_assert_eq(cgdml_dataset_add_observable(t, "psi", psi), CGDML_OK);
    return t;
}

/* Burn-in drops the early frames; the convergence check compares the halves of
 * the production steps: zero for a stationary run, large for a drifting one. */
Test(fes, trajectory_burn_in_and_halves)
{
    enum { N = 402 }; /* steps 3..402 after the burn-in: halves of 200 frames */
    double phi[N], psi[N];
    for (size_t k = 0; k < N; k++) { /* stationary: alternate between two bins */
        phi[k] = k % 2 ? -2.0 : 1.0;
        psi[k] = k % 2 ? 2.0 : -1.0;
    }
    phi[0] = phi[1] = 3.0; /* the first 2 frames somewhere else: burn-in removes them */
    cgdml_dataset *t = trajectory(phi, psi, N);
    cgdml_fes *f;
    cgdml_fes_comparison halves;
    cr_assert_eq(cgdml_fes_trajectory(t, 2, 10, NULL, NULL, &f, &halves), CGDML_OK,
                 "%s", cgdml_error_message());
    cr_assert_eq(f->n_samples, N - 2);
    cr_assert_eq(halves.joint_bins, 2);
    cr_assert_float_eq(halves.mse, 0.0, 1e-12);
    cgdml_fes_free(f);
    cgdml_dataset_free(t);

    for (size_t k = 202; k < N; k++) /* drifting: the second half favours one bin 3:1 */
        if (k % 4 == 1) {
            phi[k] = 1.0;
            psi[k] = -1.0;
        }
    t = trajectory(phi, psi, N);
    cr_assert_eq(cgdml_fes_trajectory(t, 2, 10, NULL, NULL, &f, &halves), CGDML_OK);
    cr_assert_eq(f->n_samples, N - 2);
    double expect = log(3.0) * log(3.0) / 4.0; /* ln(1:1) vs ln(3:1), best shift */
    cr_assert_float_eq(halves.mse, expect, 1e-12, "%g vs %g", halves.mse, expect);
    cgdml_fes_free(f);
    /* A burn-in past the last step leaves nothing: refused, naming the burn-in. */
    cr_assert_eq(cgdml_fes_trajectory(t, N, 10, NULL, NULL, &f, &halves), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "burn-in of 402 steps"), "%s", cgdml_error_message());
    cr_assert_null(f);
    cgdml_dataset_free(t);
}

/* Sokal's estimate on AR(1) series x_t = a x_{t-1} + noise: τ = (1 + a)/(1 - a). */
Test(fes, autocorrelation_time_of_ar1)
{
    enum { N = 200000 };
    double *x = malloc(N * sizeof(double));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5);
    const double as[] = {0.0, 0.5, 0.9};
    for (int i = 0; i < 3; i++) {
        x[0] = 0.0;
        for (size_t t = 1; t < N; t++)
            x[t] = as[i] * x[t - 1] + gsl_ran_gaussian(rng, 1.0);
        double tau = cgdml_fes_autocorrelation_time(x, 1, N), expect = (1 + as[i]) / (1 - as[i]);
        cr_assert(fabs(tau - expect) < 0.1 * expect + 0.05, "a = %g: tau %g, expected %g", as[i],
                  tau, expect);
        /* The same series cut into 100 replicas of 2000 gives the same τ. */
        double tau_r = cgdml_fes_autocorrelation_time(x, 100, N / 100);
        cr_assert(fabs(tau_r - expect) < 0.15 * expect + 0.05, "a = %g: by replica %g vs %g",
                  as[i], tau_r, expect);
    }
    gsl_rng_free(rng);
    free(x);
}

/* A "perfect model": R replicas that are stretches of the reference itself, every
 * frame (stride 1) or every 4th.  The matched blocks are as long as a replica's
 * stretch of reference, and the trajectory's own MSE against the reference is one
 * draw of the matched floor's distribution.  Frames every 300 reference frames are
 * nearly independent: their blocks would outgrow the reference (capped). */
Test(fes, matched_floor_of_reference_stretches, .timeout = 120)
{
    cgdml_dataset *d = shipped_dataset();
    size_t n = d->n_frames;
    double *phi = malloc(2 * n * sizeof(double)), *psi = phi + n;
    cr_assert_eq(cgdml_fes_angles(d, NULL, NULL, phi, psi), CGDML_OK);
    cgdml_fes *ref;
    cr_assert_eq(cgdml_fes_from_angles(phi, psi, n, 60, &ref), CGDML_OK);
    enum { R = 20, T = 500 };
    const size_t strides[] = {1, 4, 300}; /* reference frames between trajectory frames */
    for (int i = 0; i < 3; i++) {
        size_t stride = strides[i];
        double tp[R * T], ts[R * T], rep[R * T];
        cgdml_dataset *t;
        cr_assert_eq(cgdml_dataset_alloc(R * T, 6, &t), CGDML_OK);
        for (size_t k = 0; k < T; k++)
            for (size_t r = 0; r < R; r++) {
                size_t src = (r * 4999 + k * stride) % n;
                tp[k * R + r] = phi[src];
                ts[k * R + r] = psi[src];
                rep[k * R + r] = (double)r;
                t->step[k * R + r] = (int64_t)(k + 1);
            }
        cr_assert_eq(cgdml_dataset_add_observable(t, "phi", tp), CGDML_OK);
        cr_assert_eq(cgdml_dataset_add_observable(t, "psi", ts), CGDML_OK);
        cr_assert_eq(cgdml_dataset_add_observable(t, "replica", rep), CGDML_OK);
        cgdml_fes_matched m;
        cr_assert_eq(cgdml_fes_matched_floor(t, 0, NULL, NULL, phi, psi, n, 60, 1, &m),
                     CGDML_OK, "%s", cgdml_error_message());
        cr_assert_eq(m.blocks, R);
        cr_assert_eq(m.capped, stride == 300, "stride %zu: capped %d", stride, m.capped);
        if (m.capped) {
            cr_assert_eq(m.block_frames, n / 2 / R);
            cgdml_dataset_free(t);
            continue;
        }
        double ratio = (double)m.block_frames / (double)(T * stride);
        cr_assert(ratio > 0.6 && ratio < 1.6, "stride %zu: blocks of %zu frames for %d x %zu "
                  "(tau %g vs %g)", stride, m.block_frames, T, stride, m.tau_model,
                  m.tau_reference);
        cgdml_fes *f;
        cgdml_fes_comparison c;
        cr_assert_eq(cgdml_fes_from_angles(tp, ts, R * T, 60, &f), CGDML_OK);
        cr_assert_eq(cgdml_fes_compare(f, ref, &c), CGDML_OK);
        cr_assert(c.mse > m.floor / 3 && c.mse < 3 * m.floor,
                  "stride %zu: the stretches score %g, matched floor %g +- %g", stride, c.mse,
                  m.floor, m.floor_sd);
        cr_assert_gt(m.floor_sd, 0.0);
        cgdml_fes_free(f);
        cgdml_dataset_free(t);
    }
    cgdml_fes_free(ref);
    free(phi);
    cgdml_dataset_free(d);
}
