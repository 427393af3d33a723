/* test_study.c - `cgdml study` end to end on the shipped data: a tiny
 * sample-efficiency study writes exactly the expected rows with finite numbers and
 * the training splits, a rerun skips every row and leaves the table as it was,
 * and bad requests are refused with exit code 2.  The program is found through
 * $CGDML_BIN (set by `make test`).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgdml.h"

#include "cli_helpers.h"

TestSuite(study, .init = setup, .fini = teardown, .timeout = 240);

#define TINY_STUDY                                                                                 \
    "study --data %s/datasets/ala2_cg6.h5 --sizes 200,400 --repeats 2 "                            \
    "--methods average,distilled,prior-only --members 2 --mean-set 100 --replicas 4 "              \
    "--steps 300 --export-splits -o st"

/* The whole of a file of the test folder (at most 64 KiB) into buf. */
static size_t slurp(const char *name, char *buf, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s is missing", name);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* A random subset of n frames of the shipped data (drawn with `seed`). */
static cgdml_dataset *shipped_subset(size_t n, unsigned long seed)
{
    char path[600];
    snprintf(path, sizeof path, "%s/datasets/ala2_cg6.h5", getenv("CGDML_SRC"));
    cgdml_dataset *all, *part;
    size_t *idx;
    cr_assert_eq(cgdml_h5md_read(path, NULL, &all), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(cgdml_sample_random(all->n_frames, n, seed, &idx), CGDML_OK);
    cr_assert_eq(cgdml_dataset_subset(all, idx, n, &part), CGDML_OK);
    free(idx);
    cgdml_dataset_free(all);
    return part;
}

/* Rows of results.csv: the header, then (size, method, repeat) and finite numbers. */
static void assert_table(const char *csv)
{
    static const char *const methods[] = {"average", "distilled", "prior-only"};
    char copy[65536], *save = NULL;
    int seen[2][2][3] = {{{0}}};
    size_t rows = 0;
    strcpy(copy, csv);
    char *line = strtok_r(copy, "\n", &save);
    cr_assert(line && !strncmp(line, "size,method,repeat,sigma,landscape_mse_kT2", 42), "%s", csv);
    while ((line = strtok_r(NULL, "\n", &save))) {
        char method[32];
        size_t size, repeat;
        double v[10];
        int n =
            sscanf(line, "%zu,%31[^,],%zu,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &size, method,
                   &repeat, v, v + 1, v + 2, v + 3, v + 4, v + 5, v + 6, v + 7, v + 8, v + 9);
        cr_assert_eq(n, 13, "row '%s'", line);
        int m = !strcmp(method, "average") ? 0 : !strcmp(method, "distilled") ? 1 : 2;
        cr_assert_str_eq(method, methods[m], "row '%s'", line);
        cr_assert((size == 200 || size == 400) && repeat < 2, "row '%s'", line);
        seen[size == 400][repeat][m]++;
        for (int k = m == 2 ? 1 : 0; k < 10; k++) /* prior-only has no sigma */
            cr_assert(isfinite(v[k]) && v[k] >= 0, "column %d of '%s'", k + 4, line);
        cr_assert(v[1] > 0 && v[4] > 0 && v[7] > 0, "MSE, force MSE, memory of '%s'", line);
        rows++;
    }
    cr_assert_eq(rows, 12, "%s", csv);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(seen[i / 6][i / 3 % 2][i % 3], 1, "row %d missing or repeated: %s", i, csv);
}

static size_t count_lines(const char *name)
{
    static char buf[65536];
    slurp(name, buf, sizeof buf);
    size_t n = 0;
    for (const char *p = buf; *p; p++)
        n += *p == '\n';
    return n;
}

/* Every split has its size, and no training frame is a held-out frame. */
static void assert_splits(void)
{
    cr_assert_eq(count_lines("st/splits/held_out.txt"), 5000);
    cr_assert_eq(count_lines("st/splits/size200_repeat0_average.txt"), 200);
    cr_assert_eq(count_lines("st/splits/size400_repeat1_distilled.txt"), 400);
    cr_assert_eq(count_lines("st/splits/size400_repeat1_distilled_meanset.txt"), 100);
    cr_assert(!exists("st/splits/size200_repeat0_prior-only.txt"));
    char path[256];
    size_t *held, n_held, *train, n_train;
    snprintf(path, sizeof path, "%s/st/splits/held_out.txt", dir);
    cr_assert_eq(cgdml_sample_read_indices(path, 100000, &held, &n_held), CGDML_OK);
    snprintf(path, sizeof path, "%s/st/splits/size400_repeat0_average.txt", dir);
    cr_assert_eq(cgdml_sample_read_indices(path, 100000, &train, &n_train), CGDML_OK);
    unsigned char *is_held = calloc(100000, 1);
    for (size_t i = 0; i < n_held; i++)
        is_held[held[i]] = 1;
    for (size_t i = 0; i < n_train; i++)
        cr_assert(!is_held[train[i]], "training frame %zu is held out", train[i]);
    free(is_held);
    free(held);
    free(train);
}

Test(study, tiny_study_writes_rows_and_splits_and_a_rerun_skips_them)
{
    const char *src = getenv("CGDML_SRC");
    cr_assert_eq(cgdml(TINY_STUDY, src), 0, "%s", output);
    static char csv[65536], again[65536];
    slurp("st/results.csv", csv, sizeof csv);
    assert_table(csv);
    assert_splits();
    cr_assert(exists("st/fes/size400_repeat1_distilled.h5"));
    cr_assert(!exists("st/work"), "the scratch folder was left behind");
    cr_assert_eq(cgdml(TINY_STUDY, src), 0, "%s", output);
    cr_assert(strstr(output, "0 rows to compute; 12 rows already in st/results.csv, skipped"), "%s",
              output);
    slurp("st/results.csv", again, sizeof again);
    cr_assert_str_eq(again, csv, "the rerun changed the table");
}

Test(study, bad_requests_are_refused)
{
    const char *src = getenv("CGDML_SRC");
    assert_refused(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 200 "
                         "--methods average,bagging -o st",
                         src),
                   2, "unknown method 'bagging'");
    assert_refused(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes '' -o st", src), 2,
                   "--sizes");
    assert_refused(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 200,x -o st", src), 2,
                   "--sizes");
    assert_refused(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 200 --repeats 0 -o st", src),
                   2, "--repeats");
    assert_refused(cgdml("study --data %s/datasets/ala2_cg6.h5 -o st", src), 2, "--sizes");
    cr_assert(!exists("st"), "a refused study created its folder");
    char path[256];
    snprintf(path, sizeof path, "%s/other", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/other/results.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("a,b\n1,2\n", f);
    fclose(f);
    assert_refused(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 200 -o other", src), 1,
                   "header");
}

/* `study --group X` names the dataset's particle group; the study's own scratch
 * trajectory is written under "cg" and must be read as such (the group used to be
 * applied to it as well, and the first row failed with "/particles/aa is
 * missing").  The dataset here holds its frames under "aa" only.  The row of
 * `single` is there too: it must train and score like the others. */
Test(study, group_names_the_dataset_not_the_scratch_trajectory)
{
    char path[600];
    cgdml_dataset *part = shipped_subset(20000, 7);
    snprintf(path, sizeof path, "%s/aa.h5", dir);
    cr_assert_eq(cgdml_h5md_write(path, part, "aa"), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset_free(part);
    cr_assert_eq(cgdml("study --data aa.h5 --group aa --sizes 100 --repeats 1 "
                       "--methods single,prior-only --members 2 --mean-set 50 --replicas 4 "
                       "--steps 300 --sigma-grid 1 -o st"),
                 0, "%s", output);
    static char csv[65536];
    slurp("st/results.csv", csv, sizeof csv);
    cr_assert(strstr(csv, "\n100,single,0,1,"), "%s", csv);
    cr_assert(strstr(csv, "\n100,prior-only,0,nan,"), "%s", csv);
}

/* One row of results.csv: the columns this file asserts on. */
typedef struct {
    double sigma, mse, force_mse, extra;
    int found;
} study_result;

static study_result row_of(const char *csv, const char *method)
{
    char key[64];
    snprintf(key, sizeof key, "\n800,%s,0,", method);
    const char *p = strstr(csv, key);
    study_result r = {0};
    if (!p)
        return r;
    double v[14];
    int n = sscanf(p + strlen(key), "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf",
                   v, v + 1, v + 2, v + 3, v + 4, v + 5, v + 6, v + 7, v + 8, v + 9, v + 10,
                   v + 11, v + 12, v + 13);
    r.found = n == 14;
    r.sigma = v[0];
    r.mse = v[1];
    r.force_mse = v[5];
    r.extra = v[11];
    return r;
}

/* The study's methods measured on a case where the answer is known: 800 labelled
 * frames of the shipped data and runs of 20 x 6000 steps (the first third
 * discarded).  Measured (2 threads): landscape MSE single 1.88, average 1.83,
 * distilled 2.20, prior-only 3.49 kT²; model population where the reference never
 * goes 0.002, 0.016, 0.032 against 0.42 for the prior alone.  So every learned
 * method must score clearly better than the prior alone (below 3/4 of its MSE,
 * and a tenth of its extra population), and the methods must be different models
 * (their held-out force errors differ). */
Test(study, learned_methods_beat_the_prior_alone_and_differ_from_each_other, .timeout = 600)
{
    const char *src = getenv("CGDML_SRC");
    cr_assert_eq(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 800 --repeats 1 "
                       "--methods single,average,distilled,prior-only --members 4 "
                       "--mean-set 300 --replicas 20 --steps 6000 --sigma-grid 1 -o sci",
                       src),
                 0, "%s", output);
    static char csv[65536];
    slurp("sci/results.csv", csv, sizeof csv);
    study_result single = row_of(csv, "single"), average = row_of(csv, "average");
    study_result distilled = row_of(csv, "distilled"), prior = row_of(csv, "prior-only");
    cr_assert(single.found && average.found && distilled.found && prior.found, "%s", csv);
    cr_assert(isnan(prior.sigma) && single.sigma == 1.0 && average.sigma == 1.0, "%s", csv);
    const study_result *learned[] = {&single, &average, &distilled};
    for (int k = 0; k < 3; k++) {
        cr_assert(learned[k]->mse < 0.75 * prior.mse, "learned %d: %g against prior %g\n%s", k,
                  learned[k]->mse, prior.mse, csv);
        cr_assert(learned[k]->extra < 0.1 * prior.extra, "learned %d: extra %g against %g\n%s",
                  k, learned[k]->extra, prior.extra, csv);
    }
    cr_assert(prior.extra > 0.2, "%s", csv);
    cr_assert(fabs(single.force_mse - average.force_mse) > 0.1 &&
                  fabs(distilled.force_mse - average.force_mse) > 0.1 &&
                  fabs(single.force_mse - prior.force_mse) > 0.1,
              "methods gave the same model: %s", csv);
}

/* A tiny study: one repeat of 100 frames, 2 members, a mean set of 50, one σ,
 * 4 replicas of 300 steps. */
static void tiny_options(cgdml_study_options *o, double sigma)
{
    o->sizes[0] = 100;
    o->n_sizes = o->repeats = 1;
    o->members = 2;
    o->mean_set = 50;
    o->sigma_grid[0] = sigma;
    o->n_sigma_grid = 1;
    o->replicas = 4;
    o->simulate.n_steps = 300;
}

/* The study as a library call: in memory (no results file, no folders), rows
 * reported through the callback, the documented defaults from _init. */
static void collect_row(void *ctx, const cgdml_study_row *row)
{
    cgdml_study_row *rows = ctx;
    rows[row->method] = *row;
}

Test(study, library_call_reports_rows_in_memory)
{
    cgdml_study_options o;
    cgdml_study_options_init(&o);
    cr_assert_eq(o.repeats, 3);
    cr_assert_eq(o.n_methods, 4);
    cr_assert_eq(o.members, 8);
    cr_assert_eq(o.simulate.n_steps, 50000);
    cr_assert_eq(o.burn_in, SIZE_MAX);
    cr_assert_eq(o.n_sigma_grid, 3);
    cr_assert_float_eq(o.lambda, 1e-3, 0.0);
    cr_assert_null(o.results);

    size_t n_rows = 0;
    cgdml_dataset *part = shipped_subset(20000, 11);
    cgdml_study_row rows[CGDML_STUDY_N_METHODS];
    memset(rows, 0, sizeof rows);
    tiny_options(&o, 1.0);
    o.methods[0] = CGDML_STUDY_AVERAGE;
    o.methods[1] = CGDML_STUDY_PRIOR_ONLY;
    o.n_methods = 2;
    o.row_done = collect_row;
    o.ctx = rows;
    cr_assert_eq(cgdml_study_run(part, &o, &n_rows), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(n_rows, 2);
    const cgdml_study_row *avg = &rows[CGDML_STUDY_AVERAGE], *prior = &rows[CGDML_STUDY_PRIOR_ONLY];
    cr_assert_eq(avg->size, 100);
    cr_assert_eq(avg->method, CGDML_STUDY_AVERAGE);
    cr_assert_float_eq(avg->sigma, 1.0, 0.0);
    cr_assert(isnan(prior->sigma));
    cr_assert(isfinite(avg->vs.mse) && avg->vs.mse > 0 && isfinite(prior->vs.mse));
    cr_assert(avg->floor > 0 && avg->floor == prior->floor, "one reference for every row");
    cr_assert(avg->force_mse > 0 && avg->force_mse != prior->force_mse);
    cr_assert_str_eq(cgdml_study_method_name(CGDML_STUDY_PRIOR_ONLY), "prior-only");
    o.members = 1; /* the folds of sigma's cross-validation: refused */
    cr_assert_eq(cgdml_study_run(part, &o, NULL), CGDML_ERR_INVALID);
    cgdml_dataset_free(part);
}

/* One row per method of a tiny in-memory study on `part` with the options o. */
static void run_tiny(const cgdml_dataset *part, cgdml_study_options *o,
                     cgdml_study_row rows[CGDML_STUDY_N_METHODS])
{
    memset(rows, 0, CGDML_STUDY_N_METHODS * sizeof *rows);
    o->row_done = collect_row;
    o->ctx = rows;
    cr_assert_eq(cgdml_study_run(part, o, NULL), CGDML_OK, "%s", cgdml_error_message());
}

/* make run's ridges and solver in the study: λ = 1e-3 and λ₂ = 1e-4 of the kernel
 * diagonal 5/(3σ²) reach the single, average and distilled models; members and
 * single models solved by CG give the held-out force errors of Cholesky's to 1e-6
 * (the CG tolerance is 1e-5 of the residual); negative controls: CG stopped at a
 * tolerance of 0.3 gives another model, and a distilled model left at the members'
 * λ (the default) another distilled model. */
Test(study, relative_ridges_and_cg_reach_the_models)
{
    cgdml_dataset *part = shipped_subset(20000, 13);
    cgdml_study_options o;
    cgdml_study_options_init(&o);
    cr_assert_eq(o.solver, CGDML_SOLVER_CHOLESKY);
    cr_assert_float_eq(o.cg.tolerance, CGDML_CG_DEFAULT_TOLERANCE, 0.0);
    cr_assert(!o.lambda_relative && o.lambda2 == 0.0);
    tiny_options(&o, 0.5);
    o.methods[0] = CGDML_STUDY_SINGLE;
    o.methods[1] = CGDML_STUDY_AVERAGE;
    o.methods[2] = CGDML_STUDY_DISTILLED;
    o.n_methods = 3;
    o.lambda_relative = o.lambda2_relative = 1;
    o.lambda2 = 1e-4;
    double diagonal = 5.0 / (3.0 * 0.25);
    cgdml_study_row chol[CGDML_STUDY_N_METHODS], cg[CGDML_STUDY_N_METHODS];
    run_tiny(part, &o, chol);
    for (int m = CGDML_STUDY_SINGLE; m <= CGDML_STUDY_DISTILLED; m++)
        cr_assert_float_eq(chol[m].lambda, (m == CGDML_STUDY_DISTILLED ? 1e-4 : 1e-3) * diagonal,
                           1e-15, "method %d: lambda %g", m, chol[m].lambda);
    o.solver = CGDML_SOLVER_CG;
    run_tiny(part, &o, cg);
    for (int m = CGDML_STUDY_SINGLE; m <= CGDML_STUDY_DISTILLED; m++)
        cr_assert(fabs(cg[m].force_mse - chol[m].force_mse) < 1e-6 * chol[m].force_mse,
                  "method %d: CG %.9g, Cholesky %.9g", m, cg[m].force_mse, chol[m].force_mse);
    o.cg.tolerance = 0.3;
    o.n_methods = 1;
    run_tiny(part, &o, cg);
    cr_assert(fabs(cg[CGDML_STUDY_SINGLE].force_mse - chol[CGDML_STUDY_SINGLE].force_mse) >
                  1e-4 * chol[CGDML_STUDY_SINGLE].force_mse,
              "a loose CG gave Cholesky's model: is the solver used?");
    o.solver = CGDML_SOLVER_CHOLESKY;
    o.lambda2 = 0.0;
    o.methods[0] = CGDML_STUDY_DISTILLED;
    run_tiny(part, &o, cg);
    cr_assert_float_eq(cg[CGDML_STUDY_DISTILLED].lambda, 1e-3 * diagonal, 1e-15);
    cr_assert(fabs(cg[CGDML_STUDY_DISTILLED].force_mse - chol[CGDML_STUDY_DISTILLED].force_mse) >
                  1e-4 * chol[CGDML_STUDY_DISTILLED].force_mse,
              "lambda2 made no difference");
    o.lambda = 0.0;
    cr_assert_eq(cgdml_study_run(part, &o, NULL), CGDML_ERR_INVALID);
    cgdml_dataset_free(part);
}

/* The last column of the row of csv that starts with key (NaN: no such row). */
static double last_column(const char *csv, const char *key)
{
    const char *row = strstr(csv, key);
    if (!row)
        return NAN;
    const char *end = strchr(row + 1, '\n'), *comma = end;
    while (comma > row && *comma != ',')
        comma--;
    return strtod(comma + 1, NULL);
}

/* The same options from the command line: the results' last column is the ridge
 * each model was solved with, and --lambda with --lambda-rel, or a CG option
 * without --solver cg, is refused. */
Test(study, command_line_takes_relative_ridges_and_the_solver)
{
    const char *src = getenv("CGDML_SRC");
    cr_assert_eq(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 100 --repeats 1 "
                       "--methods single,distilled --members 2 --mean-set 50 --replicas 2 "
                       "--steps 100 --sigma-grid 0.5 --lambda-rel 1e-3 --lambda2-rel 1e-4 "
                       "--solver cg -o st",
                       src),
                 0, "%s", output);
    static char csv[65536];
    slurp("st/results.csv", csv, sizeof csv);
    cr_assert(strstr(csv, ",matched_floor_kT2,lambda\n"), "%s", csv);
    /* printed with 6 significant digits */
    double single = last_column(csv, "\n100,single,0,");
    double distilled = last_column(csv, "\n100,distilled,0,");
    cr_assert(fabs(single / (1e-3 * 5.0 / 3.0 / 0.25) - 1) < 1e-5, "%s", csv);
    cr_assert(fabs(distilled / (1e-4 * 5.0 / 3.0 / 0.25) - 1) < 1e-5, "%s", csv);
    assert_refused(cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 200 --lambda 1e-3 "
                         "--lambda-rel 1e-3 -o st2",
                         src),
                   2, "--lambda or --lambda-rel, not both");
    assert_refused(
        cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 200 --tolerance 1e-6 -o st2", src), 2,
        "--tolerance applies to --solver cg");
    assert_refused(
        cgdml("study --data %s/datasets/ala2_cg6.h5 --sizes 200 --lambda-rel 0 -o st2", src), 2,
        "must be > 0");
    cr_assert(!exists("st2"), "a refused study created its folder");
}
