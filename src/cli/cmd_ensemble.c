/* cmd_ensemble.c - `cgdml ensemble`: the two-layer ensemble from a dataset, by
 * cgdml_ensemble_build (strata -> prior -> [σ₁ cross-validation] -> layer 1,
 * checkpointed for --resume -> average -> mean set -> [σ₂ cross-validation] ->
 * distilled model).  Writes the distilled model to -o FILE and the averaged
 * ensemble beside it (FILE with .average.h5); prints the CV tables and progress.
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
    if (done == 0) { /* layer 1 starts */
        p->start = cgdml_clock_wall_seconds();
        return;
    }
    double elapsed = cgdml_clock_wall_seconds() - p->start;
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

static void print_cv(int layer, const cgdml_crossval_point *t, size_t n, size_t best)
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

/* The library's reports: notes to stderr, CV tables to stdout. */
static void note_line(void *ctx, const char *line)
{
    (void)ctx;
    cli_note("%s", line);
}

static void crossval_done(void *ctx, int layer, const cgdml_crossval_point *t, size_t n,
                          size_t best)
{
    (void)ctx;
    print_cv(layer, t, n, best);
}

/* The library's options from the command line's. */
static cgdml_status ensemble_options(const cli_options *opt, const char *checkpoint,
                                     cgdml_ensemble_options *eo)
{
    cgdml_ensemble_options_init(eo);
    cgdml_status s = cli_strata_options(opt, &eo->strata);
    cgdml_layer1_options *l1 = &eo->layer1;
    l1->n_members = opt->members;
    l1->n_train = opt->n_train;
    l1->sigma1 = opt->sigma1;
    l1->lambda = opt->lambda;
    l1->draw = opt->draw_random ? CGDML_DRAW_RANDOM : CGDML_DRAW_STRATIFIED;
    l1->seed = opt->seed;
    l1->side_by_side = opt->parallel;
    l1->precision = (cgdml_precision)opt->precision;
    l1->checkpoint = checkpoint;
    eo->resume = opt->resume;
    eo->sigma1_grid = opt->sigma1_grid;
    eo->n_sigma1_grid = opt->n_sigma1_grid;
    eo->lambda_relative = opt->n_lambda_rel_grid > 0;
    eo->lambda_grid = eo->lambda_relative ? opt->lambda_rel_grid : opt->lambda_grid;
    eo->n_lambda_grid = eo->lambda_relative ? opt->n_lambda_rel_grid : opt->n_lambda_grid;
    eo->select_raw = opt->select_raw;
    eo->folds = opt->folds;
    eo->mean_set = opt->mean_set;
    eo->sigma2 = opt->sigma2;
    eo->sigma2_same = opt->sigma2_same;
    eo->sigma2_grid = opt->sigma2_grid;
    eo->n_sigma2_grid = opt->n_sigma2_grid;
    eo->note = note_line;
    eo->crossval_done = crossval_done;
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

/* Build the ensemble of the options; the stale temporaries of a killed run are
 * cleaned first, and the members' folder is removed once both models are saved. */
static int run_job(const cli_options *opt, const char *checkpoint, const char *average_path)
{
    cgdml_dataset *data = NULL;
    cgdml_ensemble *e = NULL;
    cgdml_prior *prior = NULL;
    cgdml_ensemble_options eo;
    progress_state ps = {.start = cgdml_clock_wall_seconds(), .what = "layer 1", .last_tenth = 99};
    cgdml_status s = cli_load_dataset(opt->data, opt->group, &data);
    if (!s && data->n_frames < 2)
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "%s has %zu frame(s); an ensemble needs at least 2 (members, a "
                            "mean set and cross-validation all compare frames)",
                            opt->data, data->n_frames);
    if (!s)
        s = cli_fit_prior(opt, data, &prior);
    if (!s)
        s = ensemble_options(opt, checkpoint, &eo);
    eo.use_prior = prior;
    eo.prior = prior != NULL;
    eo.layer1.progress = show_progress;
    eo.layer1.progress_ctx = &ps;
    size_t stale = cgdml_atomic_clean(opt->output) + cgdml_atomic_clean(average_path) +
                   (opt->resume ? cgdml_atomic_clean(checkpoint) : 0);
    if (stale)
        cli_note("removed %zu temporary file(s) left by a killed run\n", stale);
    if (!s)
        s = cgdml_ensemble_build(data, &eo, &e);
    if (!s)
        s = cgdml_model_save(e->average, average_path);
    if (!s)
        s = cgdml_model_save(e->distilled, opt->output);
    if (!s)
        s = cgdml_atomic_remove_tree(checkpoint);
    cgdml_ensemble_free(e);
    cgdml_prior_free(prior);
    cgdml_dataset_free(data);
    if (s)
        return cli_fail(s);
    cli_note("wrote %s (distilled) and %s (average of %zu members)\n", opt->output,
             average_path, opt->members);
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
    char checkpoint[CGDML_PATH_MAX], average_path[CGDML_PATH_MAX];
    snprintf(checkpoint, sizeof checkpoint, "%s.members", opt->output);
    snprintf(average_path, sizeof average_path, "%.*s.average.h5", (int)strlen(opt->output) - 3,
             opt->output);
    return run_job(opt, checkpoint, average_path);
}
