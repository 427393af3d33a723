/* test_ensemble.c - the two-layer ensemble on a system whose mean force is known
 * exactly: the harmonic network with strong Gaussian label noise.  The averaged
 * ensemble and the distilled model must beat a single member, the error must fall
 * with K, cross-validation must pick the σ that is best on held-out data, a
 * resumed layer 1 must equal an uninterrupted one, and model files must keep the
 * prior and the CV table.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml.h"
#include <hdf5.h>

enum { NB = 6, N3 = 3 * NB };

/* Label noise (kcal/mol/Å per component) against a force std of ~10: the noise
 * dominates each label, as in CG force matching. */
#define NOISE 15.0

static cgdml_harmonic_network *net;
static cgdml_dataset *train_data, *test_data;
static cgdml_strata *strata;

static void setup(void)
{
    cr_assert_eq(cgdml_harmonic_network_alloc(NB, 20.0, 42, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, 4000, 0.12, NOISE, 1, &train_data), 0);
    cr_assert_eq(cgdml_harmonic_network_sample(net, 300, 0.12, 0.0, 2, &test_data), 0);
    cr_assert_eq(cgdml_strata_kmeans(train_data, 40, 3, &strata), CGDML_OK, "%s",
                 cgdml_error_message());
}

static void teardown(void)
{
    cgdml_strata_free(strata);
    cgdml_dataset_free(train_data);
    cgdml_dataset_free(test_data);
    cgdml_harmonic_network_free(net);
}

TestSuite(ensemble, .init = setup, .fini = teardown, .timeout = 300);

/* Mean-force error: MSE of the model against the exact (noise-free) forces. */
static double mean_force_mse(const cgdml_model *m)
{
    cgdml_force_errors e;
    cr_assert_eq(cgdml_model_evaluate(m, test_data, NULL, 0, &e), CGDML_OK);
    double mse = e.mse;
    cgdml_force_errors_free(&e);
    return mse;
}

static cgdml_layer1_options options(size_t k, size_t m, double sigma)
{
    return (cgdml_layer1_options){.n_members = k, .n_train = m, .sigma1 = sigma,
                                  .lambda = 1e-6, .draw = CGDML_DRAW_STRATIFIED, .seed = 11,
                                  .side_by_side = -1};
}

static cgdml_model *average_of(size_t k, size_t m, double sigma)
{
    cgdml_layer1_options opt = options(k, m, sigma);
    cgdml_model **members = calloc(k, sizeof *members), *avg;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, members), 0, "%s",
                 cgdml_error_message());
    cr_assert_eq(cgdml_ensemble_average(members, k, &avg), CGDML_OK);
    cr_assert_eq(avg->n_train, k * m);
    for (size_t i = 0; i < k; i++)
        cgdml_model_free(members[i]);
    free(members);
    return avg;
}

Test(ensemble, average_and_distilled_beat_one_member_and_error_falls_with_k)
{
    const size_t m = 100;
    const double sigma = 0.5;
    cgdml_model *one = average_of(1, m, sigma), *four = average_of(4, m, sigma),
                *sixteen = average_of(16, m, sigma);
    double e1 = mean_force_mse(one), e4 = mean_force_mse(four), e16 = mean_force_mse(sixteen);
    cr_assert_lt(e4, 0.8 * e1, "K=4: %g vs K=1: %g", e4, e1);
    cr_assert_lt(e16, 0.8 * e4, "K=16: %g vs K=4: %g", e16, e4);
    size_t *mean_set;
    cr_assert_eq(cgdml_strata_draw(strata, CGDML_DRAW_STRATIFIED_UNIQUE, 40, 5, &mean_set), 0);
    cgdml_model *distilled;
    cr_assert_eq(cgdml_ensemble_distill(sixteen, train_data, mean_set, 40, sigma, 1e-6,
                                        CGDML_PRECISION_DOUBLE, &distilled),
                 CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(distilled->kind, CGDML_MODEL_DISTILLED);
    double ed = mean_force_mse(distilled);
    cr_assert_lt(ed, 0.8 * e1, "distilled %g vs one member %g", ed, e1);
    free(mean_set);
    cgdml_model_free(one);
    cgdml_model_free(four);
    cgdml_model_free(sixteen);
    cgdml_model_free(distilled);
}

Test(ensemble, cross_validation_picks_the_sigma_best_on_held_out_data)
{
    /* The held-out optimum lies inside this grid (near σ = 8 for this system). */
    const double sigmas[5] = {0.5, 2.0, 8.0, 32.0, 128.0};
    const double lambdas[1] = {1e-6};
    cgdml_layer1_options opt = options(10, 80, 0.0);
    cgdml_crossval_point table[5];
    cr_assert_eq(cgdml_crossval_layer1(train_data, strata, NULL, NULL, &opt, sigmas, 5, lambdas, 1, 5,
                                       table),
                 CGDML_OK, "%s", cgdml_error_message());
    size_t best = cgdml_crossval_best(table, 5), truly_best = 0;
    double err[5];
    for (size_t i = 0; i < 5; i++) {
        cgdml_model *avg = average_of(10, 80, sigmas[i]);
        err[i] = mean_force_mse(avg);
        if (err[i] < err[truly_best])
            truly_best = i;
        cgdml_model_free(avg);
        cr_assert_gt(table[i].mse_stderr, 0.0);
        cr_assert_gt(table[i].n_eval, 0);
    }
    cr_assert_eq(best, truly_best, "CV chose sigma %g; mean-force errors %g %g %g %g %g",
                 sigmas[best], err[0], err[1], err[2], err[3], err[4]);
    cr_assert(best > 0 && best < 4, "the optimum must be inside the grid to mean anything");
}

Test(ensemble, resumed_layer1_equals_uninterrupted)
{
    char dir_a[] = "/tmp/cgdml-ens-XXXXXX", dir_b[] = "/tmp/cgdml-ens-XXXXXX";
    cr_assert_not_null(mkdtemp(dir_a));
    cr_assert_not_null(mkdtemp(dir_b));
    cgdml_layer1_options opt = options(6, 60, 0.5);
    opt.side_by_side = 0;
    cgdml_model *a[6], *b[6], *avg_a, *avg_b;
    opt.checkpoint = dir_a;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, a), CGDML_OK);
    /* The interrupted run: only three members finished before the "kill". */
    opt.checkpoint = dir_b;
    opt.n_members = 3;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, b), CGDML_OK);
    for (size_t k = 0; k < 3; k++) {
        b[k]->gamma[0] = NAN; /* in-memory copies are lost with the process */
        cgdml_model_free(b[k]);
    }
    opt.n_members = 6;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, b), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_average(a, 6, &avg_a), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_average(b, 6, &avg_b), CGDML_OK);
    cr_assert_eq(memcmp(avg_a->train_indices, avg_b->train_indices, 360 * sizeof(size_t)), 0);
    for (size_t e = 0; e < 360 * avg_a->n_desc; e++)
        cr_assert_float_eq(avg_a->gamma[e], avg_b->gamma[e], 1e-12 * (1 + fabs(avg_a->gamma[e])));
    for (size_t k = 0; k < 6; k++) {
        cgdml_model_free(a[k]);
        cgdml_model_free(b[k]);
    }
    cgdml_model_free(avg_a);
    cgdml_model_free(avg_b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir_a, dir_b);
    cr_assert_eq(system(cmd), 0);
}

Test(ensemble, model_file_keeps_prior_and_cv_table)
{
    cgdml_model *avg = average_of(2, 30, 0.5), *back;
    int bonds[4] = {0, 1, 1, 2};
    cgdml_prior *prior;
    cr_assert_eq(cgdml_prior_fit(train_data, NULL, train_data->n_frames, 2, bonds, 300.0, &prior), CGDML_OK);
    cr_assert_eq(cgdml_model_attach_prior(avg, prior), CGDML_OK);
    avg->cv_rows = 1;
    avg->cv_table = malloc(CGDML_CV_COLUMNS * sizeof(double));
    for (int c = 0; c < CGDML_CV_COLUMNS; c++)
        avg->cv_table[c] = 1.5 * c;
    char path[] = "/tmp/cgdml-ens-model-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cgdml_model_save(avg, path), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(cgdml_model_load(path, &back), CGDML_OK, "%s", cgdml_error_message());
    remove(path);
    cr_assert_eq(back->kind, CGDML_MODEL_AVERAGE);
    cr_assert_not_null(back->prior);
    cr_assert_eq(back->prior->n_bonds, 2);
    cr_assert_eq(back->prior->n_angles, 1);
    cr_assert_eq(back->prior->bond_k[1], prior->bond_k[1]);
    cr_assert_eq(back->prior->angle_theta0[0], prior->angle_theta0[0]);
    cr_assert_eq(back->cv_rows, 1);
    cr_assert_eq(back->cv_table[5], 7.5);
    cr_assert_eq(back->cv_table[6], 9.0);
    /* Prediction includes the prior: identical before and after the round trip. */
    double f1[N3], f2[N3], e1, e2;
    cgdml_model_predict(avg, 1, test_data->coords, f1, &e1);
    cgdml_model_predict(back, 1, test_data->coords, f2, &e2);
    cr_assert_eq(memcmp(f1, f2, sizeof f1), 0);
    cr_assert_eq(e1, e2);
    cgdml_prior_free(prior);
    cgdml_model_free(avg);
    cgdml_model_free(back);
}

/* Layer 2 is cross-validated against the averaged labels it fits: the held-out
 * error is far below the label noise (NOISE² = 225), which a score against the raw
 * forces could never be, and it is the error against the average's predictions. */
Test(ensemble, layer2_cross_validation_scores_against_the_average)
{
    cgdml_layer1_options o = options(4, 100, 8.0);
    cgdml_model *members[4], *average;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &o, members), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_average(members, 4, &average), CGDML_OK);
    size_t *mean_set;
    cr_assert_eq(cgdml_strata_draw(strata, CGDML_DRAW_STRATIFIED_UNIQUE, 40, 5, &mean_set), 0);
    const double sigmas[] = {4.0, 16.0};
    cgdml_crossval_point table[2];
    cr_assert_eq(cgdml_crossval_layer2(average, train_data, mean_set, 40, sigmas, 2, 1e-6,
                                       CGDML_PRECISION_DOUBLE, 5, table),
                 CGDML_OK, "%s", cgdml_error_message());
    for (int i = 0; i < 2; i++) {
        cr_assert(table[i].mse < 0.25 * NOISE * NOISE, "sigma2 %g: %g", sigmas[i], table[i].mse);
        cr_assert_eq(table[i].n_eval, 40);
    }
    /* By hand for fold 0 of sigma2 = 4: train on the other folds, compare with the
     * average on fold 0. */
    size_t train[40], test[40], nt = 0, ne = 0;
    for (size_t t = 0; t < 40; t++)
        t % 5 == 0 ? (void)(test[ne++] = mean_set[t]) : (void)(train[nt++] = mean_set[t]);
    cgdml_model *m;
    cr_assert_eq(cgdml_ensemble_distill(average, train_data, train, nt, 4.0, 1e-6,
                                        CGDML_PRECISION_DOUBLE, &m), CGDML_OK);
    double x[40 * N3], fm[40 * N3], fa[40 * N3], sum = 0.0;
    for (size_t t = 0; t < ne; t++)
        memcpy(x + t * N3, train_data->coords + test[t] * N3, N3 * sizeof(double));
    cr_assert_eq(cgdml_model_predict(m, ne, x, fm, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(average, ne, x, fa, NULL), CGDML_OK);
    for (size_t a = 0; a < ne * N3; a++)
        sum += (fm[a] - fa[a]) * (fm[a] - fa[a]);
    cr_assert_gt(sum, 0.0);
    cr_assert_leq(sum / (double)(ne * N3), 5.0 * table[0].mse + 1e-12,
                  "fold 0 is one of five folds of the table's mean");
    cgdml_model_free(m);
    cgdml_model_free(average);
    for (int i = 0; i < 4; i++)
        cgdml_model_free(members[i]);
    free(mean_set);
}

/* Where the best point of a sigma x lambda table lies on its grid, and which
 * point is best: by raw MSE, or by the binned error when the table has it. */
Test(crossval, best_point_on_an_edge_is_reported)
{
    cgdml_crossval_point t[3 * 2];
    for (int i = 0; i < 6; i++)
        t[i] = (cgdml_crossval_point){.sigma = i / 2, .lambda = i % 2, .mse = 10.0 + i,
                                .mse_binned = NAN};
    int se, le;
    cgdml_crossval_edges(cgdml_crossval_best(t, 6), 3, 2, &se, &le); /* row 0, column 0 */
    cr_assert(se == -1 && le == -1, "%d %d", se, le);
    t[3].mse = 1.0; /* row 1 (inside), column 1 (highest) */
    cgdml_crossval_edges(cgdml_crossval_best(t, 6), 3, 2, &se, &le);
    cr_assert(se == 0 && le == 1, "%d %d", se, le);
    t[5].mse = 0.5; /* row 2 (highest) */
    cgdml_crossval_edges(cgdml_crossval_best(t, 6), 3, 2, &se, &le);
    cr_assert(se == 1 && le == 1, "%d %d", se, le);
    cgdml_crossval_edges(cgdml_crossval_best(t, 6), 6, 1, &se, &le); /* one lambda */
    cr_assert(se == 1 && le == 0, "%d %d", se, le);
    /* No binned errors: the binned choice is the raw one. */
    cr_assert_eq(cgdml_crossval_best_binned(t, 6), 5);
    t[2].mse_binned = 3.0;
    t[4].mse_binned = 2.0; /* the lowest finite binned error wins over the raw MSE */
    cr_assert_eq(cgdml_crossval_best_binned(t, 6), 4);
    cr_assert_eq(cgdml_crossval_best(t, 6), 5);
    cr_assert_float_eq(cgdml_crossval_kernel_diagonal(1.0), 5.0 / 3.0, 1e-15);
    cr_assert_float_eq(cgdml_crossval_kernel_diagonal(0.5), 20.0 / 3.0, 1e-15);
}

/* The binned error (cgdml_crossval_binned_error) removes the label noise in
 * expectation: against noisy labels it matches the same error against the exact
 * forces, while the raw MSE carries the whole noise variance NOISE²; and it still
 * ranks a better model (16 members) ahead of a worse one (1 member). */
Test(ensemble, binned_error_sees_through_label_noise)
{
    cgdml_model *models[2] = {average_of(1, 100, 0.5), average_of(16, 100, 0.5)};
    cgdml_dataset *clean = NULL;
    cr_assert_eq(cgdml_dataset_alloc(train_data->n_frames, NB, &clean), CGDML_OK);
    memcpy(clean->coords, train_data->coords, train_data->n_frames * N3 * sizeof(double));
    for (size_t f = 0; f < train_data->n_frames; f++)
        cgdml_harmonic_network_forces(net, clean->coords + f * N3, clean->forces + f * N3);
    size_t *idx = malloc(train_data->n_frames * sizeof *idx), n = 0;
    unsigned char *used = calloc(train_data->n_frames, 1);
    for (size_t t = 0; t < models[1]->n_train; t++)
        used[models[1]->train_indices[t]] = 1;
    for (size_t f = 0; f < train_data->n_frames; f++)
        if (!used[f])
            idx[n++] = f;
    cr_assert_gt(n, 2000);
    double noisy[2], exact[2];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(cgdml_crossval_binned_error(models[i], train_data, idx, n, strata, &noisy[i]),
                     CGDML_OK, "%s", cgdml_error_message());
        cr_assert_eq(cgdml_crossval_binned_error(models[i], clean, idx, n, strata, &exact[i]),
                     CGDML_OK, "%s", cgdml_error_message());
        /* 40 bins of ~60 frames: the noise's contribution would be ~NOISE²/60 ≈ 4. */
        cr_assert_lt(fabs(noisy[i] - exact[i]), 1.0 + 0.2 * exact[i],
                     "model %d: binned %g against noisy labels, %g against exact forces", i,
                     noisy[i], exact[i]);
    }
    cr_log_info("binned: 1 member %g (exact %g), 16 members %g (exact %g)", noisy[0], exact[0],
                noisy[1], exact[1]);
    cr_assert_lt(noisy[1], 0.7 * noisy[0], "16 members %g, 1 member %g", noisy[1], noisy[0]);
    /* Mutation check of the noise correction: without it the noisy value is far off. */
    cgdml_force_errors e;
    cr_assert_eq(cgdml_model_evaluate(models[1], train_data, idx, n, &e), CGDML_OK);
    cr_assert_gt(e.mse, noisy[1] + 0.8 * NOISE * NOISE, "raw MSE %g", e.mse);
    cgdml_force_errors_free(&e);
    cr_assert_eq(cgdml_crossval_binned_error(models[1], train_data, idx, 1, strata, &noisy[0]),
                 CGDML_ERR_INVALID);
    free(used);
    free(idx);
    cgdml_dataset_free(clean);
    cgdml_model_free(models[0]);
    cgdml_model_free(models[1]);
}

/* Model files written before the binned error have a 6-column CV table: they
 * load, with the binned column NaN; a table of another width is refused. */
Test(ensemble, model_file_with_the_old_cv_table_loads)
{
    cgdml_model *avg = average_of(2, 30, 0.5), *back = NULL;
    char path[] = "/tmp/cgdml-ens-old-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cgdml_model_save(avg, path), CGDML_OK, "%s", cgdml_error_message());
    for (hsize_t cols = CGDML_CV_COLUMNS - 1; cols <= CGDML_CV_COLUMNS + 1; cols += 2) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        if (H5Lexists(f, "cgdml_model/cross_validation", H5P_DEFAULT) > 0)
            H5Ldelete(f, "cgdml_model/cross_validation", H5P_DEFAULT);
        hsize_t dims[2] = {2, cols};
        hid_t space = H5Screate_simple(2, dims, NULL);
        hid_t ds = H5Dcreate2(f, "cgdml_model/cross_validation", H5T_IEEE_F64LE, space,
                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        double flat[2 * (CGDML_CV_COLUMNS + 1)];
        for (hsize_t i = 0; i < 2 * cols; i++) /* row r, column c holds 100 r + c */
            flat[i] = 100.0 * (double)(i / cols) + (double)(i % cols);
        H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat);
        H5Dclose(ds);
        H5Sclose(space);
        H5Fclose(f);
        cgdml_status s = cgdml_model_load(path, &back);
        if (cols == CGDML_CV_COLUMNS + 1) {
            cr_assert_eq(s, CGDML_ERR_FORMAT, "a %llu-column table loaded", cols);
            cr_assert(strstr(cgdml_error_message(), "columns"), "%s", cgdml_error_message());
            continue;
        }
        cr_assert_eq(s, CGDML_OK, "%s", cgdml_error_message());
        cr_assert_eq(back->cv_rows, 2);
        for (int c = 0; c < CGDML_CV_COLUMNS - 1; c++) {
            cr_assert_eq(back->cv_table[c], c);
            cr_assert_eq(back->cv_table[CGDML_CV_COLUMNS + c], 100.0 + c);
        }
        cr_assert(isnan(back->cv_table[CGDML_CV_COLUMNS - 1]));
        cr_assert(isnan(back->cv_table[2 * CGDML_CV_COLUMNS - 1]));
        cgdml_model_free(back);
    }
    remove(path);
    cgdml_model_free(avg);
}

/* The defaults of the options structs are the documented ones, not zero. */
/* Job arrays in the library: shards 0 and 2 of 3 into one folder, a collect that
 * names shard 1's members, then shard 1 and a collect giving the one-process
 * members bit for bit; a shard with another lambda is refused by name. */
Test(ensemble, shards_collect_to_the_one_process_members)
{
    char dir[] = "/tmp/cgdml-ens-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cgdml_layer1_options opt = options(5, 20, 0.5);
    cgdml_model *one[5], *got[5];
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, one), CGDML_OK);
    opt.checkpoint = dir;
    opt.n_shards = 3;
    for (size_t s = 0; s < 3; s += 2) {
        opt.shard = s;
        cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, got), CGDML_OK,
                     "%s", cgdml_error_message());
        for (size_t k = 0; k < 5; k++) {
            cr_assert_eq(got[k] != NULL, k % 3 == s, "shard %zu holds member %zu", s, k);
            cgdml_model_free(got[k]);
        }
    }
    cgdml_layer1_options other = opt;
    other.lambda = 1e-5;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &other, got),
                 CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "started with lambda 9.9999999999999995e-07"), "%s",
              cgdml_error_message());
    opt.n_shards = 0;
    size_t resumed = 99;
    opt.n_resumed = &resumed;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, got),
                 CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "2 of 5 members are missing") &&
                  strstr(cgdml_error_message(), "(shard 1/3: members 1, 4)"),
              "%s", cgdml_error_message());
    for (size_t k = 0; k < 5; k++)
        cr_assert_null(got[k]);
    opt.n_shards = 3;
    opt.shard = 1;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, got), CGDML_OK);
    for (size_t k = 0; k < 5; k++)
        cgdml_model_free(got[k]);
    opt.n_shards = 0;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &opt, got), CGDML_OK,
                 "%s", cgdml_error_message());
    cr_assert_eq(resumed, 5);
    for (size_t k = 0; k < 5; k++) {
        cr_assert_eq(memcmp(one[k]->train_indices, got[k]->train_indices, 20 * sizeof(size_t)), 0);
        cr_assert_eq(memcmp(one[k]->gamma, got[k]->gamma, 20 * one[k]->n_desc * sizeof(double)),
                     0, "member %zu is the same whichever process trains it", k);
        cgdml_model_free(one[k]);
        cgdml_model_free(got[k]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(ensemble, options_init_sets_the_documented_defaults)
{
    cgdml_ensemble_options o;
    memset(&o, 0xff, sizeof o);
    cgdml_ensemble_options_init(&o);
    cr_assert_eq(o.layer1.side_by_side, -1, "parallel layout chosen from the sizes");
    cr_assert_eq(o.layer1.precision, CGDML_PRECISION_AUTO);
    cr_assert_float_eq(o.layer1.lambda, CGDML_ENSEMBLE_DEFAULT_LAMBDA, 0.0);
    cr_assert_eq(o.layer1.seed, 1);
    cr_assert_eq(o.layer1.draw, CGDML_DRAW_STRATIFIED);
    cr_assert_null(o.layer1.checkpoint);
    cr_assert_eq(o.layer1.n_shards, 0, "no shards: all members");
    cr_assert_eq(o.layer1.shard, 0);
    cr_assert_eq(o.prior, 1);
    cr_assert_float_eq(o.temperature, 300.0, 0.0);
    cr_assert_eq(o.folds, CGDML_CROSSVAL_DEFAULT_FOLDS);
    cr_assert_eq(o.strata.kmeans, 0);
    cr_assert_eq(o.strata.n_collective, 0);
    cr_assert_eq(o.strata.seed, 1);
    cr_assert_eq(o.mean_set, 0);
    cr_assert_eq(o.n_sigma1_grid + o.n_sigma2_grid + o.n_lambda_grid + o.n_lambda2_grid, 0);
    cr_assert_float_eq(o.lambda2, 0.0, 0.0, "default: the members' lambda");
    cr_assert_eq(o.lambda2_relative, 0);
    cr_assert_null(o.note);
}

/* cgdml_ensemble_build is the chain of the stage's calls with its documented
 * seeds: strata from k-means (seed), members drawn with seed + k + 1, the mean set
 * of min(strata, 3000) distinct strata with seed + K + 1, σ₂ by cross-validation
 * chosen by the lowest MSE.  The hand-made chain must give the same forces bit for
 * bit, and the CV table must land in the distilled model. */
Test(ensemble, build_equals_the_chain_of_its_stages)
{
    cgdml_ensemble_options o;
    cgdml_ensemble_options_init(&o);
    const double grid2[] = {0.5, 2.0};
    o.strata.kmeans = 15;
    o.strata.seed = 4;
    o.prior = 0;
    o.layer1.n_members = 3;
    o.layer1.n_train = 60;
    o.layer1.sigma1 = 1.0;
    o.layer1.lambda = 1e-4;
    o.layer1.seed = 7;
    o.layer1.precision = CGDML_PRECISION_DOUBLE;
    o.sigma2_grid = grid2;
    o.n_sigma2_grid = 2;
    o.folds = 3;
    cgdml_ensemble *e = NULL;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_OK, "%s", cgdml_error_message());

    cgdml_strata *st;
    cgdml_model *members[3], *avg, *dist;
    size_t *mean;
    cgdml_crossval_point cv[2];
    cr_assert_eq(cgdml_strata_kmeans(train_data, 15, 4, &st), CGDML_OK);
    cgdml_layer1_options l1 = o.layer1;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, st, NULL, &l1, members), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_average(members, 3, &avg), CGDML_OK);
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_STRATIFIED_UNIQUE, st->n_strata, 7 + 3 + 1,
                                   &mean),
                 CGDML_OK);
    cr_assert_eq(cgdml_crossval_layer2(avg, train_data, mean, st->n_strata, grid2, 2, 1e-4,
                                       CGDML_PRECISION_DOUBLE, 3, cv),
                 CGDML_OK);
    double sigma2 = cv[cgdml_crossval_best(cv, 2)].sigma;
    cr_assert_eq(cgdml_ensemble_distill(avg, train_data, mean, st->n_strata, sigma2, 1e-4,
                                        CGDML_PRECISION_DOUBLE, &dist),
                 CGDML_OK);

    cr_assert_eq(e->n_mean_set, st->n_strata);
    cr_assert_float_eq(e->sigma2, sigma2, 0.0);
    cr_assert_eq(e->n_cv2, 2);
    cr_assert_eq(e->distilled->cv_rows, 2, "the layer-2 CV rows are recorded");
    cr_assert_null(e->prior);
    double fa[5 * N3], fb[5 * N3], ga[5 * N3], gb[5 * N3];
    cr_assert_eq(cgdml_model_predict(e->distilled, 5, test_data->coords, fa, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(dist, 5, test_data->coords, fb, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(e->average, 5, test_data->coords, ga, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(avg, 5, test_data->coords, gb, NULL), CGDML_OK);
    cr_assert_eq(memcmp(fa, fb, sizeof fa), 0, "distilled forces differ from the chain's");
    cr_assert_eq(memcmp(ga, gb, sizeof ga), 0, "average forces differ from the chain's");
    for (int k = 0; k < 3; k++)
        cgdml_model_free(members[k]);
    cgdml_model_free(avg);
    cgdml_model_free(dist);
    cgdml_strata_free(st);
    free(mean);
    cgdml_ensemble_free(e);
}

/* Refusals come before any training. */
Test(ensemble, build_refuses_bad_options)
{
    cgdml_ensemble_options o;
    cgdml_ensemble_options_init(&o);
    cgdml_ensemble *e = (cgdml_ensemble *)&o; /* must be set to NULL */
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_ERR_INVALID);
    cr_assert_null(e);
    cr_assert(strstr(cgdml_error_message(), "members"), "%s", cgdml_error_message());
}

/* MSE between two models' forces on the noise-free test frames. */
static double model_gap(const cgdml_model *a, const cgdml_model *b)
{
    size_t n = test_data->n_frames, n3 = 3 * (size_t)test_data->n_beads;
    double *fa = malloc(n * n3 * sizeof(double)), *fb = malloc(n * n3 * sizeof(double));
    cr_assert(fa && fb);
    cr_assert_eq(cgdml_model_predict(a, n, test_data->coords, fa, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(b, n, test_data->coords, fb, NULL), CGDML_OK);
    double s = 0;
    for (size_t i = 0; i < n * n3; i++)
        s += (fa[i] - fb[i]) * (fa[i] - fb[i]);
    free(fa);
    free(fb);
    return s / (double)(n * n3);
}

static cgdml_ensemble *build_layer2(const double *grid, size_t n_grid, double lambda2)
{
    cgdml_ensemble_options o;
    cgdml_ensemble_options_init(&o);
    o.strata.kmeans = 15;
    o.strata.seed = 4;
    o.prior = 0;
    o.layer1.n_members = 4;
    o.layer1.n_train = 80;
    o.layer1.sigma1 = 2.0;
    o.layer1.lambda = 1.0; /* a members' ridge for noisy labels */
    o.layer1.seed = 7;
    o.layer1.precision = CGDML_PRECISION_DOUBLE;
    o.sigma2_same = 1;
    o.lambda2_grid = grid;
    o.n_lambda2_grid = n_grid;
    o.lambda2 = lambda2;
    o.lambda2_relative = 1;
    o.folds = 3;
    cgdml_ensemble *e = NULL;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_OK, "%s", cgdml_error_message());
    return e;
}

/* Layer 2 fits the average's labels, which carry almost none of the label noise:
 * the λ₂ cross-validation (relative to the kernel diagonal of σ₂) picks the lowest
 * of a grid spanning 1e-6 .. 1e-1, and the distilled model it gives reproduces the
 * average better than one with λ₂ = the members' λ; a fixed relative λ₂ is taken
 * times 5/(3σ₂²); the default is the members' λ. */
Test(ensemble, lambda2_is_cross_validated_against_the_average)
{
    const double grid[] = {1e-6, 1e-3, 1e-1};
    double diag = cgdml_crossval_kernel_diagonal(2.0);
    cgdml_ensemble *cv = build_layer2(grid, 3, 0.0);
    cr_assert_eq(cv->n_cv2, 3);
    for (size_t k = 0; k < 3; k++) {
        cr_assert_float_eq(cv->cv2[k].lambda, grid[k] * diag, 1e-12 * diag);
        cr_assert_float_eq(cv->cv2[k].sigma, 2.0, 0.0);
    }
    cr_assert_eq(cgdml_crossval_best(cv->cv2, 3), cv->best_cv2);
    cr_assert_lt(cv->best_cv2, 2, "the heaviest ridge (1e-1 of the diagonal) is not the best");
    cr_assert_float_eq(cv->lambda2, cv->cv2[cv->best_cv2].lambda, 0.0);
    cr_assert_float_eq(cv->distilled->lambda, cv->lambda2, 0.0);
    cr_assert_lt(cv->cv2[cv->best_cv2].mse, 0.5 * cv->cv2[2].mse, "%g against %g",
                 cv->cv2[cv->best_cv2].mse, cv->cv2[2].mse);

    cgdml_ensemble *same = build_layer2(NULL, 0, 0.0);
    cr_assert_float_eq(same->lambda2, 1.0, 0.0, "default: the members' lambda");
    cr_assert_float_eq(same->distilled->lambda, 1.0, 0.0);
    double gap_cv = model_gap(cv->distilled, cv->average);
    double gap_same = model_gap(same->distilled, same->average);
    cr_assert_lt(gap_cv, 0.5 * gap_same, "distilled vs average: %g (chosen lambda2) against %g",
                 gap_cv, gap_same);

    cgdml_ensemble *fixed = build_layer2(NULL, 0, 1e-3);
    cr_assert_float_eq(fixed->lambda2, 1e-3 * diag, 1e-15 * diag);
    cr_assert_eq(fixed->n_cv2, 0);
    cgdml_ensemble_free(cv);
    cgdml_ensemble_free(same);
    cgdml_ensemble_free(fixed);
}

Test(ensemble, lambda2_refuses_bad_values)
{
    cgdml_ensemble_options o;
    cgdml_ensemble_options_init(&o);
    o.layer1.n_members = 2;
    o.layer1.n_train = 10;
    o.layer1.sigma1 = 1.0;
    o.lambda2 = -1.0;
    cgdml_ensemble *e = NULL;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "lambda2"), "%s", cgdml_error_message());
    const double bad[] = {1e-3, NAN};
    o.lambda2 = 0;
    o.lambda2_grid = bad;
    o.n_lambda2_grid = 2;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "lambda2 grid"), "%s", cgdml_error_message());
    cr_assert_null(e);
}

/* Members solved by CG (layer1.solver) are the Cholesky members to the tolerance;
 * a member whose CG solve stops early leaves its iterations in the members' folder,
 * and the resumed run continues them to the same model. */
static cgdml_layer1_options cg_options(void)
{
    cgdml_layer1_options opt = options(2, 150, 0.5);
    opt.lambda = 1e-2;
    opt.draw = CGDML_DRAW_RANDOM;
    opt.side_by_side = 0;
    opt.solver = CGDML_SOLVER_CG;
    cgdml_cg_options_init(&opt.cg);
    opt.cg.tolerance = 1e-11;
    return opt;
}

static size_t count_cg_checkpoints(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '\\.cg\\.h5$'", dir);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    cr_assert(p && fscanf(p, "%zu", &n) == 1);
    pclose(p);
    return n;
}

Test(ensemble, cg_members_equal_cholesky_members_and_resume_inside_a_member)
{
    cgdml_layer1_options chol = cg_options();
    chol.solver = CGDML_SOLVER_CHOLESKY;
    chol.precision = CGDML_PRECISION_DOUBLE;
    cgdml_layer1_options cg = cg_options();
    char dir[] = "/tmp/cgdml-ens-cg-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cg.checkpoint = dir;
    cgdml_model *a[2], *b[2], *avg_a, *avg_b;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &chol, a), CGDML_OK);
    /* killed inside member 0's solve: it stops unconverged after 3 iterations */
    cg.cg.max_iterations = 3;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &cg, b), CGDML_ERR_NUMERIC,
                 "%s", cgdml_error_message());
    cr_assert_geq(count_cg_checkpoints(dir), 1);
    cg.cg.max_iterations = CGDML_CG_DEFAULT_MAX_ITERATIONS;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, strata, NULL, &cg, b), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(count_cg_checkpoints(dir), 0, "a finished member removes its CG checkpoint");
    cr_assert_eq(cgdml_ensemble_average(a, 2, &avg_a), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_average(b, 2, &avg_b), CGDML_OK);
    size_t n = test_data->n_frames * N3;
    double *fa = malloc(n * sizeof(double)), *fb = malloc(n * sizeof(double)), da = 0, dab = 0;
    cr_assert(fa && fb);
    cr_assert_eq(cgdml_model_predict(avg_a, test_data->n_frames, test_data->coords, fa, NULL), 0);
    cr_assert_eq(cgdml_model_predict(avg_b, test_data->n_frames, test_data->coords, fb, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        da = fmax(da, fabs(fa[i]));
        dab = fmax(dab, fabs(fa[i] - fb[i]));
    }
    free(fa);
    free(fb);
    cr_assert_gt(da, 1.0);
    cr_assert_lt(dab / da, 1e-6, "CG members differ from Cholesky ones by %g (relative)", dab / da);
    for (size_t k = 0; k < 2; k++) {
        cgdml_model_free(a[k]);
        cgdml_model_free(b[k]);
    }
    cgdml_model_free(avg_a);
    cgdml_model_free(avg_b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    /* CG's memory grows with M, not M²: a 30,000-frame member fits in a few GB */
    cg.n_train = 30000;
    chol.n_train = 30000;
    cr_assert_lt(cgdml_ensemble_layer1_bytes(&cg, NB, 0), 1e9);
    cr_assert_gt(cgdml_ensemble_layer1_bytes(&chol, NB, 0), 1e11);
    cg.cg.tolerance = 2.0;
    cgdml_ensemble_options o;
    cgdml_ensemble_options_init(&o);
    o.layer1 = cg;
    cgdml_ensemble *e = NULL;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "tolerance"), "%s", cgdml_error_message());
}

/* ---- partition draws and excluded frames ---- */

/* 4000 frames of which all but every PART_EVERY-th are excluded: a pool of 800 =
 * PART_K members of PART_M frames. */
enum { PART_K = 8, PART_M = 100, PART_EVERY = 5 };

static int part_excluded(size_t f)
{
    return f % PART_EVERY != 1;
}

static size_t *excluded_frames(size_t *n)
{
    size_t *ex = malloc(train_data->n_frames * sizeof *ex);
    *n = 0;
    for (size_t f = 0; f < train_data->n_frames; f++)
        if (part_excluded(f))
            ex[(*n)++] = f;
    return ex;
}

static cgdml_ensemble_options partition_options(const size_t *ex, size_t n_ex)
{
    cgdml_ensemble_options o;
    cgdml_ensemble_options_init(&o);
    o.strata.kmeans = 40;
    o.strata.seed = 3;
    o.strata.exclude = ex;
    o.strata.n_exclude = n_ex;
    o.prior = 0;
    o.layer1.n_members = PART_K;
    o.layer1.n_train = PART_M;
    o.layer1.sigma1 = 0.5;
    o.layer1.lambda = 1e-4;
    o.layer1.draw = CGDML_DRAW_PARTITION;
    o.layer1.seed = 5;
    o.sigma2 = 0.5;
    o.mean_set = 30;
    return o;
}

/* Frames used by the members, each at most once (asserted), none excluded. */
static size_t member_frames_used(cgdml_model *const *members, size_t k)
{
    unsigned char used[4000] = {0};
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(members[i]->n_train, PART_M);
        for (size_t t = 0; t < PART_M; t++) {
            size_t f = members[i]->train_indices[t];
            cr_assert(!part_excluded(f), "member %zu has excluded frame %zu", i, f);
            cr_assert_eq(used[f]++, 0, "frame %zu in two members", f);
            n++;
        }
    }
    return n;
}

/* The members of a partition are disjoint and avoid the excluded frames; so do the
 * mean set and the frames the cross-validation judges (a σ₁ grid of one value runs
 * the binned cross-validation, which reads the stratum of every frame it judges:
 * an excluded frame has none).  K M below the pool leaves frames to judge. */
Test(ensemble, partition_members_are_disjoint_and_skip_excluded_frames)
{
    size_t n_ex, *ex = excluded_frames(&n_ex);
    cgdml_ensemble_options o = partition_options(ex, n_ex);
    const double grid[] = {0.5};
    o.layer1.n_members = PART_K - 2;
    o.sigma1_grid = grid;
    o.n_sigma1_grid = 1;
    o.folds = 2;
    cgdml_ensemble *e = NULL;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(e->strata->n_pool, PART_K * PART_M);
    cr_assert_eq(member_frames_used(e->members, PART_K - 2), (PART_K - 2) * PART_M);
    cr_assert_eq(e->n_mean_set, 30);
    for (size_t i = 0; i < e->n_mean_set; i++)
        cr_assert(!part_excluded(e->mean_set[i]), "mean set has excluded frame %zu",
                  e->mean_set[i]);
    cr_assert_eq(e->n_cv1, 1);
    cr_assert(isfinite(e->cv1[0].mse_binned) && e->cv1[0].mse_binned > 0, "binned %g",
              e->cv1[0].mse_binned);
    cgdml_ensemble_free(e);
    /* the whole pool in members: nothing left for the binned error, said so */
    o.layer1.n_members = PART_K;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "leave 0 frame(s) of the pool to judge"), "%s",
              cgdml_error_message());
    free(ex);
}

Test(ensemble, partition_refuses_more_frames_than_the_pool)
{
    size_t n_ex, *ex = excluded_frames(&n_ex), *idx = NULL;
    cgdml_ensemble_options o = partition_options(ex, n_ex);
    o.layer1.n_members = PART_K + 1;
    cgdml_ensemble *e = NULL;
    cr_assert_eq(cgdml_ensemble_build(train_data, &o, &e), CGDML_ERR_INVALID);
    cr_assert_null(e);
    cr_assert(strstr(cgdml_error_message(), "9 members of 100 frames needs 900 frames; the "
                                            "pool has 800 (4000 frames, 3200 excluded)"),
              "%s", cgdml_error_message());
    cgdml_strata *st = NULL;
    cr_assert_eq(cgdml_strata_build(train_data, &o.strata, 0, &st), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_member_frames(st, &o.layer1, 0, &idx), CGDML_ERR_INVALID,
                 "member 0 alone is refused too");
    cr_assert_null(idx);
    o.layer1.n_members = PART_K;
    cr_assert_eq(cgdml_ensemble_member_frames(st, &o.layer1, PART_K - 1, &idx), CGDML_OK,
                 "K M = the pool exactly is fine");
    free(idx);
    cgdml_strata_free(st);
    free(ex);
}

/* Member k of a partition depends on the seed, k and the pool only: a run that
 * stopped after 3 members and resumed, and shards of 3, make the one-process
 * members bit for bit; together the K members use the whole pool once. */
Test(ensemble, partition_members_resume_and_shard_alike)
{
    size_t n_ex, *ex = excluded_frames(&n_ex);
    cgdml_ensemble_options o = partition_options(ex, n_ex);
    cgdml_strata *st = NULL;
    cr_assert_eq(cgdml_strata_build(train_data, &o.strata, 0, &st), CGDML_OK);
    cgdml_layer1_options l1 = o.layer1;
    cgdml_model *one[PART_K], *got[PART_K], *sharded[PART_K] = {0};
    cr_assert_eq(cgdml_ensemble_train_members(train_data, st, NULL, &l1, one), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(member_frames_used(one, PART_K), st->n_pool, "the whole pool, once");
    char resumed_dir[] = "/tmp/cgdml-ens-XXXXXX", shard_dir[] = "/tmp/cgdml-ens-XXXXXX";
    cr_assert_not_null(mkdtemp(resumed_dir));
    cr_assert_not_null(mkdtemp(shard_dir));
    l1.checkpoint = resumed_dir;
    l1.n_members = 3; /* the interrupted run */
    cr_assert_eq(cgdml_ensemble_train_members(train_data, st, NULL, &l1, got), CGDML_OK);
    for (size_t k = 0; k < 3; k++)
        cgdml_model_free(got[k]);
    l1.n_members = PART_K;
    size_t resumed = 0;
    l1.n_resumed = &resumed;
    cr_assert_eq(cgdml_ensemble_train_members(train_data, st, NULL, &l1, got), CGDML_OK);
    cr_assert_eq(resumed, 3, "members 0-2 taken from the folder");
    cgdml_layer1_options sh = o.layer1;
    sh.checkpoint = shard_dir;
    sh.n_shards = 3;
    for (sh.shard = 0; sh.shard < 3; sh.shard++) {
        cgdml_model *part[PART_K];
        cr_assert_eq(cgdml_ensemble_train_members(train_data, st, NULL, &sh, part), CGDML_OK, "%s",
                     cgdml_error_message());
        for (size_t k = sh.shard; k < PART_K; k += 3)
            sharded[k] = part[k];
    }
    for (size_t k = 0; k < PART_K; k++) {
        const cgdml_model *other[2] = {got[k], sharded[k]};
        for (int r = 0; r < 2; r++) {
            cr_assert_eq(
                memcmp(one[k]->train_indices, other[r]->train_indices, PART_M * sizeof(size_t)), 0,
                "member %zu's frames (%s)", k, r ? "shard" : "resumed");
            cr_assert_eq(
                memcmp(one[k]->gamma, other[r]->gamma, PART_M * one[k]->n_desc * sizeof(double)), 0,
                "member %zu's coefficients (%s)", k, r ? "shard" : "resumed");
        }
        cgdml_model_free(one[k]);
        cgdml_model_free(got[k]);
        cgdml_model_free(sharded[k]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", resumed_dir, shard_dir);
    cr_assert_eq(system(cmd), 0);
    cgdml_strata_free(st);
    free(ex);
}
