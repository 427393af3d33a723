/* cmd_ensemble.c - `cgdml ensemble`: the two-layer ensemble from a dataset.
 *
 * strata (φ/ψ grid, other CVs, or k-means) -> prior fit -> [cross-validation of
 * σ₁] -> layer 1 (K members, checkpointed for --resume) -> average ->
 * mean set -> [cross-validation of σ₂] -> distilled model.  Writes the distilled
 * model to -o FILE and the averaged ensemble beside it (FILE with .average.h5).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Progress of layer 1 on stderr: a bar that redraws on a terminal, a line per
 * tenth otherwise. */
typedef struct {
    double start;
    const char *what;
    size_t last_tenth;
} progress_state;

static void show_progress(void *ctx, size_t done, size_t total)
{
    progress_state *p = ctx;
    double elapsed = cgdml_wall_seconds() - p->start;
    double eta = done ? elapsed * (double)(total - done) / (double)done : 0.0;
    int tty = isatty(STDERR_FILENO);
    size_t tenth = done * 10 / total;
    if (!tty && tenth == p->last_tenth && done != total)
        return;
    p->last_tenth = tenth;
    char bar[21];
    for (int i = 0; i < 20; i++)
        bar[i] = (size_t)i < done * 20 / total ? '#' : '.';
    bar[20] = '\0';
    cli_note("%s  %s [%s] %zu/%zu members, %.0f s, ETA %.0f s%s", tty ? "\r" : "", p->what, bar,
             done, total, elapsed, eta, tty && done < total ? "" : "\n");
}

int cli_parse_list(const char *name, const char *text, double *v, size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || (*end && *end != ',') || *n == max)
            return cli_usage_error("--%s '%s': expected up to %zu comma-separated numbers", name,
                                   text, max);
        if (!isfinite(x) || x < 0)
            return cli_usage_error("--%s '%s': %g is not a finite non-negative number", name,
                                   text, x);
        v[(*n)++] = x;
        p = *end ? end + 1 : end;
    }
    return *n ? CLI_OK : cli_usage_error("--%s is empty", name);
}

/* "0-1,1-2,..." -> bonds. */
static int parse_bonds(const char *text, int *bonds, size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        int i, j, used;
        if (*n == max || sscanf(p, "%d-%d%n", &i, &j, &used) != 2 || (p[used] && p[used] != ','))
            return cli_usage_error("--bonds '%s': expected pairs such as 0-1,1-2,2-3", text);
        bonds[2 * *n] = i;
        bonds[2 * *n + 1] = j;
        (*n)++;
        p += used + (p[used] == ',');
    }
    return CLI_OK;
}

/* Strata on the collective variables of the options, with at most max_bins bins
 * per variable (0: as given). */
static cgdml_status strata_of_cvs(const cli_options *opt, const cgdml_dataset *d,
                                  size_t max_bins, cgdml_strata **out)
{
    cgdml_cv cvs[4];
    size_t n_cv = opt->n_cv_specs;
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < n_cv; i++)
        s = cgdml_cv_parse(opt->cv_specs[i], &cvs[i]);
    if (!n_cv) {
        n_cv = 2;
        s = cgdml_cv_default_phi_psi(d->n_beads, CGDML_STRATA_DEFAULT_BINS, cvs);
    }
    for (size_t i = 0; !s && max_bins && i < n_cv; i++)
        cvs[i].n_bins = cvs[i].n_bins < max_bins ? cvs[i].n_bins : max_bins;
    return s ? s : cgdml_strata_from_cvs(d, cvs, n_cv, out);
}

cgdml_status cli_build_strata(const cli_options *opt, const cgdml_dataset *d, cgdml_strata **out)
{
    if (opt->kmeans)
        return cgdml_strata_kmeans(d, opt->kmeans, opt->seed, out);
    return strata_of_cvs(opt, d, 0, out);
}

cgdml_status cli_build_bins(const cli_options *opt, const cgdml_dataset *d, cgdml_strata **out)
{
    *out = NULL;
    return opt->kmeans ? CGDML_OK : strata_of_cvs(opt, d, CGDML_CROSSVAL_BINNED_BINS, out);
}

cgdml_status cli_fit_prior(const cli_options *opt, const cgdml_dataset *d, cgdml_prior **out)
{
    *out = NULL;
    if (opt->no_prior)
        return CGDML_OK;
    int parsed[2 * 256], *bonds = parsed, *defaults = NULL;
    size_t n = 0;
    cgdml_status s = CGDML_OK;
    if (opt->bonds) {
        if (parse_bonds(opt->bonds, parsed, 256, &n))
            return cgdml_error_set(CGDML_ERR_INVALID, "--bonds: see the message above");
    } else if (d->n_bonds) {
        bonds = d->bonds;
        n = d->n_bonds;
    } else {
        s = cgdml_prior_default_bonds(d->n_beads, &n, &defaults);
        bonds = defaults;
    }
    if (!s)
        s = cgdml_prior_fit(d, NULL, d->n_frames, n, bonds, opt->temperature, out);
    free(defaults);
    return s ? cgdml_error_wrap(s, "prior (give --bonds, or --no-prior)") : CGDML_OK;
}

/* Append the rows of a CV table to the model's table. */
static cgdml_status record_cv(cgdml_model *m, int layer, const cgdml_cv_point *t, size_t n)
{
    if (n == 0)
        return CGDML_OK;
    double *grown = realloc(m->cv_table, (m->cv_rows + n) * CGDML_CV_COLUMNS * sizeof(double));
    if (!grown)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the CV table");
    m->cv_table = grown;
    for (size_t i = 0; i < n; i++) {
        double row[CGDML_CV_COLUMNS] = {layer,         t[i].sigma,          t[i].lambda,
                                        t[i].mse,      t[i].mse_stderr,     (double)t[i].n_eval,
                                        t[i].mse_binned};
        memcpy(grown + (m->cv_rows + i) * CGDML_CV_COLUMNS, row, sizeof row);
    }
    m->cv_rows += n;
    return CGDML_OK;
}

static void print_cv(int layer, const cgdml_cv_point *t, size_t n, size_t best)
{
    printf("cross-validation, layer %d (held-out force MSE%s, (kcal/mol/A)^2):\n", layer,
           layer == 1 ? "; binned: error of bin-averaged forces" : "");
    printf("  %10s %10s %12s %10s %8s %10s\n", layer == 1 ? "sigma1" : "sigma2", "lambda", "MSE",
           "stderr", "frames", layer == 1 ? "binned" : "");
    for (size_t i = 0; i < n; i++)
        printf("  %10.4g %10.3g %12.6g %10.3g %8zu %10.4g%s\n", t[i].sigma, t[i].lambda,
               t[i].mse, t[i].mse_stderr, t[i].n_eval, t[i].mse_binned,
               i == best ? "  <- best" : "");
}

/* Everything one ensemble run holds. */
typedef struct {
    cgdml_dataset *data;
    cgdml_strata *strata, *bins; /* bins: the binned error's coarse grid; NULL: strata */
    cgdml_prior *prior;
    cgdml_layer1_options l1;
    cgdml_model **members, *average, *distilled;
    size_t *mean_set, n_mean;
    char checkpoint[CGDML_PATH_MAX], average_path[CGDML_PATH_MAX];
    cgdml_cv_point cv1[16 * 16], cv2[16]; /* grids hold at most 16 values (main.c) */
    size_t n_cv1, n_cv2;
} ensemble_job;

static void free_job(ensemble_job *j)
{
    for (size_t k = 0; j->members && k < j->l1.n_members; k++)
        cgdml_model_free(j->members[k]);
    free(j->members);
    cgdml_model_free(j->average);
    cgdml_model_free(j->distilled);
    free(j->mean_set);
    cgdml_prior_free(j->prior);
    cgdml_strata_free(j->strata);
    cgdml_strata_free(j->bins);
    cgdml_dataset_free(j->data);
}

/* Tell when the best point lies on an edge of a grid that has more than one value. */
static void warn_edges(size_t best, size_t n_sigmas, size_t n_lambdas, const char *sigma_name)
{
    int se, le;
    cgdml_crossval_edges(best, n_sigmas, n_lambdas, &se, &le);
    if (se)
        cli_note("warning: the best %s is the %s of its grid: extend the grid %s\n", sigma_name,
                 se < 0 ? "lowest" : "highest", se < 0 ? "downwards" : "upwards");
    if (le)
        cli_note("warning: the best lambda is the %s of its grid: extend the grid %s\n",
                 le < 0 ? "lowest" : "highest", le < 0 ? "downwards" : "upwards");
}

/* σ₁ (and λ) by cross-validation over the grid, when one is given.  λ values come
 * from --lambda-grid (absolute), or --lambda-rel-grid (times the kernel diagonal
 * 5/(3σ²) of each σ₁, so each row of the table regularises alike), else --lambda. */
static cgdml_status choose_sigma1(const cli_options *opt, ensemble_job *j)
{
    if (!opt->n_sigma1_grid)
        return CGDML_OK;
    int relative = opt->n_lambda_rel_grid > 0;
    const double *grid = relative ? opt->lambda_rel_grid : opt->lambda_grid;
    size_t n_l = relative ? opt->n_lambda_rel_grid : opt->n_lambda_grid ? opt->n_lambda_grid : 1;
    j->n_cv1 = opt->n_sigma1_grid * n_l;
    cli_note("cross-validating %zu sigma1 x %zu lambda values%s over %zu folds of members\n",
             opt->n_sigma1_grid, n_l, relative ? " (relative to the kernel diagonal)" : "",
             opt->folds);
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < opt->n_sigma1_grid; i++) {
        double lambdas[16] = {opt->lambda}, scale = relative ? cgdml_crossval_kernel_diagonal(
                                                                    opt->sigma1_grid[i])
                                                              : 1.0;
        for (size_t k = 0; k < n_l && (relative || opt->n_lambda_grid); k++)
            lambdas[k] = grid[k] * scale;
        s = cgdml_crossval_layer1(j->data, j->strata,
                                  opt->select_raw ? NULL : j->bins ? j->bins : j->strata, j->prior,
                                  &j->l1, &opt->sigma1_grid[i], 1,
                                  lambdas, n_l, opt->folds, j->cv1 + i * n_l);
    }
    if (s)
        return s;
    size_t best = cgdml_crossval_best_binned(j->cv1, j->n_cv1);
    print_cv(1, j->cv1, j->n_cv1, best);
    warn_edges(best, opt->n_sigma1_grid, n_l, "sigma1");
    j->l1.sigma1 = j->cv1[best].sigma;
    j->l1.lambda = j->cv1[best].lambda;
    return CGDML_OK;
}

static cgdml_status choose_sigma2(const cli_options *opt, ensemble_job *j, double *sigma2)
{
    *sigma2 = opt->sigma2_same ? j->l1.sigma1 : opt->sigma2;
    if (!opt->n_sigma2_grid)
        return CGDML_OK;
    j->n_cv2 = opt->n_sigma2_grid;
    cli_note("cross-validating %zu sigma2 values over %zu folds of the mean set\n", j->n_cv2,
             opt->folds);
    cgdml_status s = cgdml_crossval_layer2(j->average, j->data, j->mean_set, j->n_mean,
                                           opt->sigma2_grid, j->n_cv2, j->l1.lambda,
                                           j->l1.precision, opt->folds, j->cv2);
    if (s)
        return s;
    size_t best = cgdml_crossval_best(j->cv2, j->n_cv2);
    print_cv(2, j->cv2, j->n_cv2, best);
    warn_edges(best, j->n_cv2, 1, "sigma2");
    *sigma2 = j->cv2[best].sigma;
    return CGDML_OK;
}

static cgdml_status layer1(ensemble_job *j)
{
    progress_state ps = {.start = cgdml_wall_seconds(), .what = "layer 1", .last_tenth = 99};
    j->l1.progress = show_progress;
    j->l1.progress_ctx = &ps;
    j->members = calloc(j->l1.n_members, sizeof *j->members);
    if (!j->members)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate members");
    cli_note("layer 1: %zu members of %zu frames, sigma1 %g, lambda %g\n", j->l1.n_members,
             j->l1.n_train, j->l1.sigma1, j->l1.lambda);
    size_t resumed = 0;
    j->l1.n_resumed = &resumed;
    cgdml_status s = cgdml_ensemble_train_members(j->data, j->strata, j->prior, &j->l1,
                                                  j->members);
    j->l1.progress = NULL;
    j->l1.n_resumed = NULL;
    if (!s && resumed)
        cli_note("layer 1: %zu of %zu members taken from %s (cross-validation or --resume)\n",
                 resumed, j->l1.n_members,
                 j->checkpoint);
    return s ? s : cgdml_ensemble_average(j->members, j->l1.n_members, &j->average);
}

static cgdml_status layer2(const cli_options *opt, ensemble_job *j)
{
    j->n_mean = opt->mean_set ? opt->mean_set : j->strata->n_strata < 3000 ? j->strata->n_strata
                                                                           : 3000;
    cgdml_status s = cgdml_strata_draw(j->strata, CGDML_DRAW_STRATIFIED_UNIQUE, j->n_mean,
                                       opt->seed + j->l1.n_members + 1, &j->mean_set);
    double sigma2 = 0.0;
    if (!s)
        s = choose_sigma2(opt, j, &sigma2);
    if (!s)
        cli_note("layer 2: mean set of %zu frames, sigma2 %g: training needs %.2f GB\n", j->n_mean,
                 sigma2,
                 (double)cgdml_model_train_peak_bytes(j->n_mean, j->data->n_beads, sigma2,
                                                      j->l1.lambda, j->l1.precision) / 1e9);
    if (!s)
        s = cgdml_ensemble_distill(j->average, j->data, j->mean_set, j->n_mean, sigma2,
                                   j->l1.lambda, j->l1.precision, &j->distilled);
    return s;
}

static cgdml_status save_results(const cli_options *opt, ensemble_job *j)
{
    cgdml_status s = j->prior ? cgdml_model_attach_prior(j->average, j->prior) : CGDML_OK;
    if (!s && j->prior)
        s = cgdml_model_attach_prior(j->distilled, j->prior);
    if (!s)
        s = record_cv(j->distilled, 1, j->cv1, j->n_cv1);
    if (!s)
        s = record_cv(j->distilled, 2, j->cv2, j->n_cv2);
    if (!s)
        s = cgdml_model_save(j->average, j->average_path);
    if (!s)
        s = cgdml_model_save(j->distilled, opt->output);
    if (!s)
        s = cli_remove_tree(j->checkpoint);
    return s;
}

static int check_ensemble_options(const cli_options *opt)
{
    if (!opt->data)
        return cli_usage_error("ensemble: give the dataset with --data FILE");
    if (!opt->have_sigma1 && !opt->n_sigma1_grid)
        return cli_usage_error("ensemble: give --sigma1 S or --sigma1-grid a,b,...");
    if (!opt->have_sigma2 && !opt->n_sigma2_grid)
        return cli_usage_error("ensemble: give --sigma2 S or --sigma2-grid a,b,...");
    if (opt->n_lambda_grid && opt->n_lambda_rel_grid)
        return cli_usage_error("ensemble: give --lambda-grid (absolute) or --lambda-rel-grid "
                               "(relative to the kernel diagonal), not both");
    if (opt->members < 1 || !opt->have_n_train || opt->n_train < 1)
        return cli_usage_error("ensemble: give --members K (>= 1) and --n-train M (>= 1)");
    size_t len = strlen(opt->output ? opt->output : "");
    if (len < 4 || strcmp(opt->output + len - 3, ".h5"))
        return cli_usage_error("ensemble: -o must name a .h5 file (the distilled model)");
    return CLI_OK;
}

static int run_job(const cli_options *opt, ensemble_job *j)
{
    cgdml_status s = cli_load_dataset(opt->data, opt->group, &j->data);
    if (!s && j->data->n_frames < 2)
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "%s has %zu frame(s); an ensemble needs at least 2 (members, a "
                            "mean set and cross-validation all compare frames)",
                            opt->data, j->data->n_frames);
    if (!s)
        s = cli_build_strata(opt, j->data, &j->strata);
    if (!s && opt->n_sigma1_grid && !opt->select_raw)
        s = cli_build_bins(opt, j->data, &j->bins);
    if (!s)
        cli_note("%zu frames in %zu occupied strata\n", j->data->n_frames, j->strata->n_strata);
    if (!s)
        s = cli_fit_prior(opt, j->data, &j->prior);
    if (!s && !opt->resume)
        s = cli_remove_tree(j->checkpoint);
    size_t stale = cgdml_atomic_clean(opt->output) + cgdml_atomic_clean(j->average_path) +
                   cgdml_atomic_clean(j->checkpoint);
    if (stale)
        cli_note("removed %zu temporary file(s) left by a killed run\n", stale);
    if (!s)
        s = choose_sigma1(opt, j);
    if (!s)
        s = layer1(j);
    if (!s)
        s = layer2(opt, j);
    if (!s)
        s = save_results(opt, j);
    if (s)
        return cli_fail(s);
    cli_note("wrote %s (distilled) and %s (average of %zu members)\n", opt->output,
             j->average_path, j->l1.n_members);
    return CLI_OK;
}

int cmd_ensemble(const cli_options *opt)
{
    int rc = check_ensemble_options(opt);
    const char *inputs[] = {opt->data};
    if (!rc)
        rc = cli_check_output(opt->output, inputs, 1);
    if (!rc)
        rc = cli_apply_resources(opt);
    if (rc)
        return rc;
    ensemble_job j = {0};
    snprintf(j.checkpoint, sizeof j.checkpoint, "%s.members", opt->output);
    snprintf(j.average_path, sizeof j.average_path, "%.*s.average.h5",
             (int)strlen(opt->output) - 3, opt->output);
    j.l1 = (cgdml_layer1_options){.n_members = opt->members,
                                  .n_train = opt->n_train,
                                  .sigma1 = opt->sigma1,
                                  .lambda = opt->lambda,
                                  .draw = opt->draw_random ? CGDML_DRAW_RANDOM
                                                           : CGDML_DRAW_STRATIFIED,
                                  .seed = opt->seed,
                                  .side_by_side = opt->parallel,
                                  .precision = (cgdml_precision)opt->precision,
                                  .checkpoint = j.checkpoint};
    rc = run_job(opt, &j);
    free_job(&j);
    return rc;
}
