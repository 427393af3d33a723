/* cmd_study.c - `cgdml study`: the sample-efficiency curve as one command, by
 * cgdml_study_run (study.h): the options and their checks, the dataset, the
 * folder, progress and the plot.  Output folder:
 *
 *   results.csv         one row per (size, method, repeat); rows already there are
 *                       skipped, so a killed study resumes where it stopped
 *   fes/                the landscape of each row's simulation (cgdml fes files)
 *   splits/             --export-splits: each row's training frames, held_out.txt
 *   error_vs_size.png   scripts/plot_study.py
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* The study's defaults (cgdml_study_options_init) where the options give none. */
static void study_defaults(cli_options *o)
{
    cgdml_study_options d;
    cgdml_study_options_init(&d);
    if (!o->have_repeats)
        o->repeats = d.repeats;
    if (!o->members)
        o->members = d.members;
    if (!o->mean_set)
        o->mean_set = d.mean_set;
    if (!o->replicas)
        o->replicas = d.replicas;
    if (!o->steps)
        o->steps = d.simulate.n_steps;
    if (!o->have_lambda)
        o->lambda = d.lambda;
    if (!o->have_burn_in)
        o->burn_in = cli_default_burn_in(o->steps);
    if (!o->have_n_train)
        o->n_train = d.single_max_frames;
    if (!o->n_sigma_grid) {
        memcpy(o->sigma_grid, d.sigma_grid, d.n_sigma_grid * sizeof(double));
        o->n_sigma_grid = d.n_sigma_grid;
    }
    for (int m = 0; !o->n_methods && m < CLI_N_METHODS; m++)
        o->methods[m] = m;
    o->n_methods = o->n_methods ? o->n_methods : CLI_N_METHODS;
}

static int check_study_options(const cli_options *o)
{
    if (!o->data)
        return cli_usage_error("study: give the dataset with --data FILE");
    if (!o->output)
        return cli_usage_error("study: give the study folder with -o DIR");
    if (!o->n_sizes)
        return cli_usage_error("study: give the training-set sizes with --sizes 1000,2000,...");
    if (o->repeats < 1)
        return cli_usage_error("study: --repeats must be at least 1");
    if (o->members < 2)
        return cli_usage_error("study: --members must be at least 2 (they are the folds of "
                               "the cross-validation of sigma)");
    for (size_t i = 0; i < o->n_sizes; i++)
        if (o->sizes[i] < o->members || o->sizes[i] < CGDML_CROSSVAL_DEFAULT_FOLDS)
            return cli_usage_error("study: size %zu is below --members %zu (or below %d)",
                                   o->sizes[i], o->members, CGDML_CROSSVAL_DEFAULT_FOLDS);
    for (size_t i = 0; i < o->n_sigma_grid; i++)
        if (!(o->sigma_grid[i] > 0))
            return cli_usage_error("study: --sigma-grid values must be positive");
    if (o->replicas < 1 || o->steps < 1)
        return cli_usage_error("study: --replicas and --steps must be at least 1");
    if (!(o->lambda > 0) || (o->have_lambda2 && !(o->lambda2 > 0)))
        return cli_usage_error("study: --lambda%s, --lambda2%s must be > 0",
                               o->lambda_rel ? "-rel" : "", o->lambda2_rel ? "-rel" : "");
    if (o->solver != CGDML_SOLVER_CG && o->cg_option)
        return cli_usage_error("study: --%s applies to --solver cg", o->cg_option);
    return CLI_OK;
}

static int make_folder(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return cli_usage_error("study: cannot create the folder %s: %s", path, strerror(errno));
    return CLI_OK;
}

static void note_line(void *ctx, const char *line)
{
    (void)ctx;
    cli_note("%s", line);
}

static void simulated(void *ctx, const cgdml_trajectory *t, double seconds)
{
    (void)ctx;
    cli_simulate_summary sum;
    cli_report_simulation(t, seconds, &sum);
}

/* The library's options from the command line's; paths in `paths` (4 of them). */
static void study_options(const cli_options *o, char (*paths)[CGDML_PATH_MAX],
                          cli_step_progress *progress, cgdml_study_options *so)
{
    cgdml_study_options_init(so);
    memcpy(so->sizes, o->sizes, o->n_sizes * sizeof o->sizes[0]);
    so->n_sizes = o->n_sizes;
    so->repeats = o->repeats;
    for (size_t k = 0; k < o->n_methods; k++)
        so->methods[k] = (cgdml_study_method)o->methods[k];
    so->n_methods = o->n_methods;
    so->members = o->members;
    so->mean_set = o->mean_set;
    so->single_max_frames = o->n_train;
    memcpy(so->sigma_grid, o->sigma_grid, o->n_sigma_grid * sizeof(double));
    so->n_sigma_grid = o->n_sigma_grid;
    so->lambda = o->lambda;
    so->lambda_relative = o->lambda_rel;
    so->lambda2 = o->have_lambda2 ? o->lambda2 : 0.0;
    so->lambda2_relative = o->lambda2_rel;
    so->precision = (cgdml_precision)o->precision;
    so->solver = (cgdml_solver)o->solver;
    cli_cg_options(o, &so->cg);
    so->cg.progress = NULL; /* a row's models take seconds each: the row's note says enough */
    so->seed = o->seed;
    so->temperature = o->temperature;
    so->replicas = o->replicas;
    so->start = (cgdml_start_kind)o->start;
    so->simulate.integrator = o->baoab ? CGDML_INTEGRATOR_BAOAB : CGDML_INTEGRATOR_OVERDAMPED;
    so->simulate.dt = o->dt;
    so->simulate.temperature = o->temperature;
    so->simulate.diffusion = o->diffusion;
    so->simulate.friction = o->friction;
    so->simulate.n_steps = o->steps;
    so->simulate.save_every = o->have_save_every ? o->save_every : 0;
    so->simulate.progress = cli_show_steps;
    so->simulate.progress_ctx = progress;
    so->burn_in = o->burn_in;
    so->bins = o->bins;
    const char *names[] = {"results.csv", "fes", "splits", "work"};
    for (int i = 0; i < 4; i++)
        snprintf(paths[i], CGDML_PATH_MAX, "%s/%s", o->output, names[i]);
    so->results = paths[0];
    so->landscapes = paths[1];
    so->splits = o->export_splits ? paths[2] : NULL;
    so->work = paths[3];
    so->note = note_line;
    so->simulated = simulated;
}

/* error_vs_size.png by scripts/plot_study.py, if Python's matplotlib is there. */
static void plot(const char *csv, const char *folder)
{
    char args[3 * CGDML_PATH_MAX];
    snprintf(args, sizeof args, "'%s' -o '%s/error_vs_size.png'", csv, folder);
    if (cli_python_script("plot_study.py", args))
        cli_note("study: plotted %s/error_vs_size.png\n", folder);
    else
        cli_note("study: no plot (needs /usr/bin/python3 with matplotlib; make deps python)\n");
}

int cmd_study(const cli_options *given)
{
    cli_options opt = *given;
    study_defaults(&opt);
    int rc = check_study_options(&opt);
    if (!rc)
        rc = cli_apply_resources(&opt);
    if (!rc)
        rc = make_folder(opt.output);
    if (rc)
        return rc;
    char paths[4][CGDML_PATH_MAX];
    cli_step_progress progress = {.last_tenth = 99};
    cgdml_study_options so;
    study_options(&opt, paths, &progress, &so);
    cgdml_dataset *data = NULL;
    size_t rows = 0;
    cgdml_status s = cli_check_landscape_memory(&opt, 4);
    if (!s)
        s = cli_load_dataset(opt.data, opt.group, &data);
    if (!s)
        s = cgdml_study_run(data, &so, &rows);
    cgdml_dataset_free(data);
    if (!s && rows) {
        plot(paths[0], opt.output);
        printf("study: %zu rows in %s\n", rows, paths[0]);
    }
    return s ? cli_fail(s) : CLI_OK;
}
