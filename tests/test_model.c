/* test_model.c - training and prediction of a GDML model on the harmonic network:
 * energy-force consistency, equivariance, interpolation at λ → 0, a learning curve,
 * and the model file (exact round trip, refusals of foreign or damaged files).
 */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgdml/kernel.h"
#include "cgdml/memory.h"
#include "cgdml/model.h"
#include "cgdml/solve.h"
#include "cgdml/synthetic.h"

enum { NB = 6, N3 = 3 * NB };

static cgdml_harmonic_network *net;

static void make_net(void) { cr_assert_eq(cgdml_harmonic_network_alloc(NB, 20.0, 42, &net), 0); }
static void free_net(void) { cgdml_harmonic_network_free(net); }

static cgdml_dataset *sample(size_t n, double noise, unsigned long seed)
{
    cgdml_dataset *d;
    cr_assert_eq(cgdml_harmonic_network_sample(net, n, 0.12, noise, seed, &d), CGDML_OK);
    return d;
}

static cgdml_model *train_first(const cgdml_dataset *d, size_t m, double sigma, double lambda)
{
    size_t *idx = malloc(m * sizeof *idx);
    for (size_t t = 0; t < m; t++)
        idx[t] = t;
    cgdml_model *model;
    cr_assert_eq(cgdml_model_train(d, idx, m, sigma, lambda, NULL, &model), CGDML_OK, "%s",
                 cgdml_error_message());
    free(idx);
    return model;
}

TestSuite(model, .init = make_net, .fini = free_net);

Test(model, forces_are_minus_gradient_of_energy)
{
    cgdml_dataset *d = sample(40, 0.0, 1);
    cgdml_model *m = train_first(d, 30, 0.4, 1e-8);
    const double *x = d->coords + 35 * N3; /* a held-out frame */
    double f[N3], e0;
    cgdml_model_predict(m, 1, x, f, &e0);
    const double h = 1e-5;
    for (size_t a = 0; a < N3; a++) {
        double xp[N3], xm[N3], fp[N3], ep, em;
        memcpy(xp, x, sizeof xp);
        memcpy(xm, x, sizeof xm);
        xp[a] += h;
        xm[a] -= h;
        cgdml_model_predict(m, 1, xp, fp, &ep);
        cgdml_model_predict(m, 1, xm, fp, &em);
        cr_assert_float_eq(f[a], -(ep - em) / (2 * h), 1e-6 * (1 + fabs(f[a])), "F[%zu]", a);
    }
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

Test(model, forces_rotate_and_translate_with_the_frame)
{
    cgdml_dataset *d = sample(40, 0.0, 2);
    cgdml_model *m = train_first(d, 30, 0.4, 1e-8);
    const double *x = d->coords + 33 * N3;
    /* Rotation by 0.7 rad about the axis (1, 2, 2)/3, then a shift. */
    double n[3] = {1.0 / 3, 2.0 / 3, 2.0 / 3}, c = cos(0.7), s = sin(0.7), R[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            R[i][j] = c * (i == j) + (1 - c) * n[i] * n[j];
    R[0][1] -= s * n[2]; R[1][0] += s * n[2];
    R[0][2] += s * n[1]; R[2][0] -= s * n[1];
    R[1][2] -= s * n[0]; R[2][1] += s * n[0];
    double y[N3], fx[N3], fy[N3], shift[3] = {3.0, -1.5, 7.25};
    for (size_t b = 0; b < NB; b++)
        for (int i = 0; i < 3; i++)
            y[3 * b + i] = shift[i] + R[i][0] * x[3 * b] + R[i][1] * x[3 * b + 1] +
                           R[i][2] * x[3 * b + 2];
    cgdml_model_predict(m, 1, x, fx, NULL);
    cgdml_model_predict(m, 1, y, fy, NULL);
    for (size_t b = 0; b < NB; b++)
        for (int i = 0; i < 3; i++) {
            double rf = R[i][0] * fx[3 * b] + R[i][1] * fx[3 * b + 1] + R[i][2] * fx[3 * b + 2];
            cr_assert_float_eq(fy[3 * b + i], rf, 1e-9 * (1 + fabs(rf)));
        }
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

Test(model, reproduces_training_forces_as_lambda_goes_to_zero)
{
    cgdml_dataset *d = sample(20, 0.0, 3);
    cgdml_model *m = train_first(d, 20, 0.5, 1e-11);
    double *f = malloc(20 * N3 * sizeof(double)), worst = 0.0, scale = 0.0;
    cgdml_model_predict(m, 20, d->coords, f, NULL);
    for (size_t a = 0; a < 20 * N3; a++) {
        worst = fmax(worst, fabs(f[a] - d->forces[a]));
        scale = fmax(scale, fabs(d->forces[a]));
    }
    cr_assert_lt(worst, 1e-6 * scale, "max error %g of max |F| %g", worst, scale);
    free(f);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

Test(model, held_out_error_falls_as_training_set_grows)
{
    cgdml_dataset *train = sample(320, 0.0, 4), *test = sample(200, 0.0, 5);
    double previous = INFINITY, first = 0.0;
    for (size_t m = 20; m <= 320; m *= 4) {
        cgdml_model *model = train_first(train, m, 0.5, 1e-8);
        cgdml_force_errors e;
        cr_assert_eq(cgdml_model_evaluate(model, test, NULL, 0, &e), CGDML_OK);
        cr_assert_lt(e.mse, 0.7 * previous, "M=%zu: MSE %g, before %g", m, e.mse, previous);
        if (m == 20)
            first = e.relative_mse;
        previous = e.mse;
        cgdml_force_errors_free(&e);
        cgdml_model_free(model);
    }
    cr_assert_lt(first, 1.0, "even 20 frames explain some of the variance");
    cgdml_dataset_free(train);
    cgdml_dataset_free(test);
}

Test(model, evaluate_reports_per_bead_and_relative_errors)
{
    cgdml_dataset *d = sample(60, 0.0, 6);
    cgdml_model *m = train_first(d, 40, 0.5, 1e-8);
    size_t idx[20];
    for (size_t t = 0; t < 20; t++)
        idx[t] = 40 + t;
    cgdml_force_errors e;
    cr_assert_eq(cgdml_model_evaluate(m, d, idx, 20, &e), CGDML_OK);
    double mean_bead = 0.0;
    for (size_t b = 0; b < NB; b++)
        mean_bead += e.bead_mse[b] / NB;
    cr_assert_float_eq(mean_bead, e.mse, 1e-12 * e.mse, "MSE is the mean of bead MSEs");
    cr_assert_float_eq(e.relative_mse, e.mse / e.label_variance, 1e-12);
    cr_assert_leq(e.mae * e.mae, e.mse * (1 + 1e-12), "MAE² <= MSE");
    cgdml_force_errors_free(&e);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

Test(model, impossible_training_requests_are_refused)
{
    cgdml_dataset *d = sample(10, 0.0, 7);
    size_t idx[3] = {0, 1, 2}, bad[2] = {0, 10};
    cgdml_model *m;
    cr_assert_eq(cgdml_model_train(d, idx, 3, 0.0, 1e-6, NULL, &m), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "sigma = 0"));
    cr_assert_eq(cgdml_model_train(d, idx, 3, 0.5, -1.0, NULL, &m), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "lambda = -1"));
    cr_assert_eq(cgdml_model_train(d, bad, 2, 0.5, 1e-6, NULL, &m), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "out of range"));
    cr_assert_null(m);
    cgdml_memory_set_budget(1000);
    cr_assert_eq(cgdml_model_train(d, idx, 3, 0.5, 1e-6, NULL, &m), CGDML_ERR_NOMEM);
    cr_assert(strstr(cgdml_error_message(), "memory budget"), "%s", cgdml_error_message());
    cgdml_memory_set_budget(0);
    cgdml_dataset_free(d);
}

Test(model, singular_kernel_is_reported_with_sigma_lambda_and_advice)
{
    /* With σ far above the descriptor spread and no ridge, K is J-products of
     * rank <= d = 15 out of 360: hundreds of pivots are rounding noise, so the
     * Cholesky factorisation must break down. */
    cgdml_dataset *d = sample(20, 0.0, 8);
    size_t idx[20];
    for (size_t t = 0; t < 20; t++)
        idx[t] = t;
    cgdml_model *m;
    cr_assert_eq(cgdml_model_train(d, idx, 20, 1e4, 0.0, NULL, &m), CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "sigma = 10000, lambda = 0"), "%s",
              cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), "not positive definite"), "%s",
              cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), "--lambda"), "%s", cgdml_error_message());
    cr_assert_null(m);
    cgdml_dataset_free(d);
}

/* A caller's solve (cgdml_solve_fn) doing what the one-process double solve does:
 * RFP assembly, dpftrf, dpftrs.  ctx: an int that, if not 0, makes it fail, or
 * (2) return coefficients that are not finite. */
static cgdml_status rfp_solve(void *ctx, size_t n_frames, size_t n_beads, const double *D,
                              const double *g, double sigma, double lambda, double *rhs)
{
    int fault = *(const int *)ctx;
    if (fault == 1)
        return cgdml_error_set(CGDML_ERR_IO, "the caller's solve failed");
    size_t n = 3 * n_beads * n_frames;
    double *arf = malloc(cgdml_kernel_rfp_size(n) * sizeof(double));
    cgdml_status s = cgdml_kernel_assemble(n_frames, n_beads, D, g, sigma, lambda, arf);
    if (!s)
        s = cgdml_solve_factor(n, arf);
    if (!s)
        s = cgdml_solve_apply(n, arf, rhs, 1);
    free(arf);
    if (fault == 2)
        rhs[n / 2] = NAN;
    return s;
}

/* The same solve given by the caller makes the same model bit for bit; its failure
 * and non-finite coefficients are reported. */
Test(model, train_with_a_callers_solve)
{
    cgdml_dataset *d = sample(60, 0.5, 9);
    size_t idx[40];
    for (size_t t = 0; t < 40; t++)
        idx[t] = t + 10;
    cgdml_model *ref, *got;
    int fault = 0;
    cr_assert_eq(cgdml_model_train_precision(d, idx, 40, NULL, 0.5, 1e-6, CGDML_PRECISION_DOUBLE,
                                             NULL, &ref),
                 CGDML_OK);
    cr_assert_eq(cgdml_model_train_with(d, idx, 40, NULL, 0.5, 1e-6, rfp_solve, &fault, NULL, &got),
                 CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(memcmp(ref->gamma, got->gamma, 40 * ref->n_desc * sizeof(double)), 0);
    cr_assert_eq(memcmp(ref->train_indices, got->train_indices, sizeof idx), 0);
    cr_assert_eq(got->sigma, 0.5);
    cgdml_model_free(got);
    fault = 1;
    cr_assert_eq(cgdml_model_train_with(d, idx, 40, NULL, 0.5, 1e-6, rfp_solve, &fault, NULL, &got),
                 CGDML_ERR_IO);
    cr_assert_null(got);
    fault = 2;
    cr_assert_eq(cgdml_model_train_with(d, idx, 40, NULL, 0.5, 1e-6, rfp_solve, &fault, NULL, &got),
                 CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "coefficients came out nan"), "%s",
              cgdml_error_message());
    cr_assert_eq(cgdml_model_train_with(d, idx, 40, NULL, 0.5, 1e-6, NULL, NULL, NULL, &got),
                 CGDML_ERR_INVALID);
    cgdml_model_free(ref);
    cgdml_dataset_free(d);
}

/* ---- model files --------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    make_net();
    strcpy(tmpdir, "/tmp/cgdml-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
    free_net();
}

static const char *tmpfile_path(const char *name)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

TestSuite(model_file, .init = make_tmpdir, .fini = remove_tmpdir);

Test(model_file, round_trip_is_exact)
{
    cgdml_dataset *d = sample(12, 0.0, 9);
    cgdml_model *m = train_first(d, 12, 0.45, 1e-7), *back;
    m->kind = CGDML_MODEL_DISTILLED;
    const char *path = tmpfile_path("m.h5");
    cr_assert_eq(cgdml_model_save(m, path), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(cgdml_model_load(path, &back), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(back->kind, CGDML_MODEL_DISTILLED);
    cr_assert_eq(back->n_train, 12);
    cr_assert_eq(back->n_beads, NB);
    cr_assert_eq(back->sigma, 0.45);
    cr_assert_eq(back->lambda, 1e-7);
    cr_assert_eq(back->dataset_hash, cgdml_dataset_hash(d));
    cr_assert_eq(memcmp(back->gamma, m->gamma, 12 * m->n_desc * sizeof(double)), 0);
    cr_assert_eq(memcmp(back->train_desc, m->train_desc, 12 * m->n_desc * sizeof(double)), 0);
    cr_assert_eq(memcmp(back->train_indices, m->train_indices, 12 * sizeof(size_t)), 0);
    cr_assert_str_eq(back->bead_names[3], d->bead_names[3]);
    cgdml_model_free(back);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(model_file, foreign_and_damaged_files_are_refused)
{
    cgdml_model *m = NULL;
    cr_assert_eq(cgdml_model_load(tmpfile_path("absent.h5"), &m), CGDML_ERR_IO);
    cr_assert(strstr(cgdml_error_message(), "cannot open"));
    write_text(tmpfile_path("text.h5"), "this is not HDF5\n");
    cr_assert_eq(cgdml_model_load(tmpfile_path("text.h5"), &m), CGDML_ERR_FORMAT);
    cr_assert(strstr(cgdml_error_message(), "not an HDF5 file"));
    hid_t f = H5Fcreate(tmpfile_path("other.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(f, "/particles", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
    cr_assert_eq(cgdml_model_load(tmpfile_path("other.h5"), &m), CGDML_ERR_FORMAT);
    cr_assert(strstr(cgdml_error_message(), "not a cgdml model file"));
    cr_assert_null(m);
}

Test(model_file, newer_format_and_truncation_are_refused)
{
    cgdml_dataset *d = sample(12, 0.0, 10);
    cgdml_model *m = train_first(d, 12, 0.45, 1e-7), *back = NULL;
    const char *path = tmpfile_path("new.h5");
    cr_assert_eq(cgdml_model_save(m, path), CGDML_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "/cgdml_model", H5P_DEFAULT);
    hid_t a = H5Aopen(g, "format_version", H5P_DEFAULT);
    int future = CGDML_MODEL_FORMAT_VERSION + 1;
    H5Awrite(a, H5T_NATIVE_INT, &future);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    cr_assert_eq(cgdml_model_load(path, &back), CGDML_ERR_FORMAT);
    cr_assert(strstr(cgdml_error_message(), "format_version"), "%s", cgdml_error_message());

    const char *whole = tmpfile_path("whole.h5"), *half = tmpfile_path("half.h5");
    cr_assert_eq(cgdml_model_save(m, whole), CGDML_OK);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s %s) / 2 )) %s > %s", whole, whole,
             half);
    cr_assert_eq(system(cmd), 0);
    cgdml_status s = cgdml_model_load(half, &back);
    cr_assert_eq(s, CGDML_ERR_FORMAT, "status %d: %s", s, cgdml_error_message());
    cr_assert_null(back);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

Test(model_file, failed_save_leaves_no_file)
{
    cgdml_dataset *d = sample(5, 0.0, 11);
    cgdml_model *m = train_first(d, 5, 0.45, 1e-7);
    const char *path = tmpfile_path("no-such-dir/m.h5");
    cr_assert_eq(cgdml_model_save(m, path), CGDML_ERR_IO);
    cr_assert_neq(access(path, F_OK), 0);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}
