/* common.c - helpers shared by the commands: the parsers of list-valued options,
 * loading datasets by file type, choosing frames, strata and prior from the
 * options, guarding outputs, and applying --memory / --threads.
 */
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ranks.h"

const char *const cli_start_names[] = {"equilibrium", "strata", "alpha-r", "beta", NULL};
const char *const cli_method_names[] = {"single", "average", "distilled", "prior-only", NULL};

/* ---- messages and defaults ---- */

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cgdml: usage error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return CLI_USAGE;
}

static int quiet;

void cli_quiet(int on)
{
    quiet = on;
}

int cli_fail(cgdml_status status)
{
    if (!quiet)
        fprintf(stderr, "cgdml: error: %s\n", cgdml_error_message());
    (void)status;
    return CLI_FAILED;
}

void cli_note(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

void cli_options_defaults(cli_options *o)
{
    memset(o, 0, sizeof *o);
    o->lambda = 1e-10; /* sGDML's default ridge */
    o->precision = CGDML_PRECISION_AUTO;
    o->tolerance = CGDML_CG_DEFAULT_TOLERANCE;
    o->max_iterations = CGDML_CG_DEFAULT_MAX_ITERATIONS;
    o->beads = 6;
    o->frames = 2000;
    o->spread = 0.12;
    o->bins = CGDML_FES_DEFAULT_BINS;
    o->folds = CGDML_CROSSVAL_DEFAULT_FOLDS;
    o->temperature = 300.0;
    o->parallel = -1;
    o->dt = 0.002;        /* ps; with D = 0.05 Å²/ps, D dt = 1e-4 Å², well below the */
    o->diffusion = 0.05;  /* ~6e-4 Å² thermal variance of the stiffest CG bond */
    o->friction = 10.0;   /* 1/ps, BAOAB */
    o->save_every = 100;
    o->seed = 1;
}

/* ---- parsers of list-valued options ---- */

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

/* "a,b,c,d" -> four bead indices. */
int cli_parse_quad(const char *name, const char *text, int *q)
{
    char tail;
    if (sscanf(text, "%d,%d,%d,%d%c", &q[0], &q[1], &q[2], &q[3], &tail) != 4)
        return cli_usage_error("--%s '%s': expected four bead indices such as 0,1,2,4", name,
                               text);
    return CLI_OK;
}

int cli_parse_sizes(const char *text, cli_options *o)
{
    double v[16];
    int rc = cli_parse_list("sizes", text, v, 16, &o->n_sizes);
    for (size_t i = 0; !rc && i < o->n_sizes; i++) {
        if (!(v[i] >= 1 && v[i] <= 1e9) || v[i] != floor(v[i]))
            return cli_usage_error("--sizes '%s': expected positive whole numbers of frames", text);
        o->sizes[i] = (size_t)v[i];
    }
    return rc;
}

int cli_parse_methods(const char *text, cli_options *o)
{
    o->n_methods = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int m = 0; m < CLI_N_METHODS; m++)
            if (strlen(cli_method_names[m]) == len && !strncmp(p, cli_method_names[m], len))
                found = m;
        if (found < 0)
            return cli_usage_error("--methods: unknown method '%.*s' (choose from single, "
                                   "average, distilled, prior-only)",
                                   (int)len, p);
        for (size_t i = 0; i < o->n_methods; i++)
            if (o->methods[i] == found)
                return cli_usage_error("--methods: '%s' given twice", cli_method_names[found]);
        o->methods[o->n_methods++] = found;
        p += len + (p[len] == ',');
    }
    return o->n_methods ? CLI_OK : cli_usage_error("--methods is empty");
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

/* ---- strata and prior from the options ---- */

cgdml_status cli_strata_options(const cli_options *opt, cgdml_strata_options *so)
{
    cgdml_strata_options_init(so);
    so->kmeans = opt->kmeans;
    so->seed = opt->seed;
    so->n_collective = opt->n_cv_specs;
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < opt->n_cv_specs; i++)
        s = cgdml_collective_parse(opt->cv_specs[i], &so->collective[i]);
    return s;
}

cgdml_status cli_build_strata(const cli_options *opt, const cgdml_dataset *d, cgdml_strata **out)
{
    cgdml_strata_options so;
    cgdml_status s = cli_strata_options(opt, &so);
    return s ? s : cgdml_strata_build(d, &so, 0, out);
}

cgdml_status cli_fit_prior(const cli_options *opt, const cgdml_dataset *d, cgdml_prior **out)
{
    *out = NULL;
    if (opt->no_prior)
        return CGDML_OK;
    int parsed[2 * 256];
    size_t n = 0;
    if (opt->bonds && parse_bonds(opt->bonds, parsed, 256, &n))
        return cgdml_error_set(CGDML_ERR_INVALID, "--bonds: see the message above");
    cgdml_status s = cgdml_prior_fit_topology(d, opt->bonds ? parsed : NULL, n, opt->temperature,
                                              out);
    return s ? cgdml_error_wrap(s, "prior (give --bonds, or --no-prior)") : CGDML_OK;
}


size_t cli_default_burn_in(size_t steps)
{
    return steps >= 3 * (size_t)CLI_BURN_IN ? (size_t)CLI_BURN_IN : steps / 3;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

cgdml_status cli_load_dataset(const char *path, const char *group, cgdml_dataset **out)
{
    cgdml_status s;
    if (has_suffix(path, ".npz"))
        s = cgdml_npz_read_sgdml(path, out);
    else if (has_suffix(path, ".npy"))
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: a lone .npy holds coordinates or forces, not both; convert "
                               "the pair with 'cgdml import --coords C.npy --forces F.npy -o "
                               "data.h5'",
                               path);
    else
        s = cgdml_h5md_read(path, group, out);
    if (s)
        return s;
    s = cgdml_dataset_check(*out);
    if (s) {
        cgdml_dataset_free(*out);
        *out = NULL;
        return cgdml_error_wrap(s, "%s", path);
    }
    return CGDML_OK;
}

int cli_select_frames(const cli_options *opt, size_t n_frames, int allow_all, size_t **idx,
                      size_t *n)
{
    *idx = NULL;
    *n = 0;
    if (opt->indices && opt->have_n_train)
        return cli_usage_error("give either --indices or --n-train, not both");
    if (opt->have_n_train && opt->n_train == 0)
        return cli_usage_error("--n-train 0: choose at least 1 frame");
    cgdml_status s;
    if (opt->indices) {
        s = cgdml_sample_read_indices(opt->indices, n_frames, idx, n);
    } else if (opt->have_n_train) {
        s = cgdml_sample_random(n_frames, opt->n_train, opt->seed, idx);
        *n = opt->n_train;
    } else if (allow_all) {
        s = cgdml_sample_complement(n_frames, NULL, 0, idx, n);
    } else {
        return cli_usage_error("choose the frames with --indices FILE or --n-train M");
    }
    return s ? cli_fail(s) : CLI_OK;
}

int cli_check_output(const char *output, const char *const *inputs, size_t n_inputs)
{
    if (!output)
        return cli_usage_error("no output file: give -o FILE");
    char out_real[PATH_MAX], in_real[PATH_MAX];
    if (!realpath(output, out_real))
        return CLI_OK; /* does not exist yet */
    for (size_t i = 0; i < n_inputs; i++)
        if (inputs[i] && realpath(inputs[i], in_real) && !strcmp(in_real, out_real))
            return cli_usage_error("the output %s is also an input; writing it would destroy the "
                                   "input",
                                   output);
    return CLI_OK;
}

int cli_python_script(const char *name, const char *args)
{
    const char *src = getenv("CGDML_SRC") ? getenv("CGDML_SRC") : ".";
    char cmd[5 * CGDML_PATH_MAX];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/scripts/%s' %s", src, name, args);
    return system(cmd) == 0;
}

int cli_apply_resources(const cli_options *opt)
{
    if (opt->memory) {
        size_t bytes;
        cgdml_status s = cgdml_memory_parse(opt->memory, &bytes);
        if (s)
            return cli_usage_error("%s", cgdml_error_message());
        cgdml_memory_set_budget(bytes);
    }
    if (opt->threads)
        omp_set_num_threads(opt->threads);
    return CLI_OK;
}

/* ---- simulation with its progress and report ---- */

/* Steps per second on stderr: a redrawn bar on a terminal, ten lines otherwise. */

void cli_show_steps(void *ctx, size_t step, size_t n_steps, double steps_per_s)
{
    cli_step_progress *p = ctx;
    int tty = isatty(STDERR_FILENO);
    size_t tenth = step * 10 / n_steps;
    if (!tty && tenth == p->last_tenth && step != n_steps)
        return;
    p->last_tenth = tenth;
    char bar[21];
    for (int i = 0; i < 20; i++)
        bar[i] = (size_t)i < step * 20 / n_steps ? '#' : '.';
    bar[20] = '\0';
    double eta = steps_per_s > 0 ? (double)(n_steps - step) / steps_per_s : 0.0;
    cli_note("%s  simulate [%s] %zu/%zu steps, %.0f steps/s, ETA %.0f s%s", tty ? "\r" : "",
             bar, step, n_steps, steps_per_s, eta, tty && step < n_steps ? "" : "\n");
}

static size_t report_stops(const cgdml_trajectory *t)
{
    size_t stopped = 0;
    for (size_t r = 0; r < t->n_replicas; r++)
        if (!t->alive[r]) {
            stopped++;
            cli_note("  replica %zu stopped at step %zu: %s\n", r, t->stopped_step[r],
                     t->stop_reason[r]);
        }
    printf("replicas %zu, finished %zu, stopped %zu\n", t->n_replicas, t->n_replicas - stopped,
           stopped);
    return stopped;
}

cgdml_status cli_simulate_model(const cli_options *opt, const cgdml_model *m,
                                const cgdml_dataset *d, const char *checkpoint, uint64_t force_tag,
                                cgdml_trajectory **out, cli_simulate_summary *sum)
{
    cli_step_progress progress = {.last_tenth = 99};
    cgdml_simulate_options so;
    cgdml_simulate_options_init(&so);
    so.integrator = opt->baoab ? CGDML_INTEGRATOR_BAOAB : CGDML_INTEGRATOR_OVERDAMPED;
    so.dt = opt->dt;
    so.temperature = opt->temperature;
    so.diffusion = opt->diffusion;
    so.friction = opt->friction;
    so.n_steps = opt->steps;
    so.save_every = opt->save_every;
    so.seed = opt->seed;
    so.progress = cli_show_steps;
    so.progress_ctx = &progress;
    so.checkpoint = checkpoint;
    so.checkpoint_interval_s = opt->checkpoint_interval;
    so.resume = opt->resume;
    so.force_tag = force_tag;
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status s = cgdml_simulate_dataset(m, d, opt->replicas, (cgdml_start_kind)opt->start,
                                            &so, out);
    if (s)
        return s;
    cgdml_trajectory *t = *out;
    if (t->resumed_step)
        cli_note("resumed from step %zu of %zu (%s)\n", t->resumed_step, opt->steps, checkpoint);
    cli_report_simulation(t, cgdml_clock_wall_seconds() - t0, sum);
    return CGDML_OK;
}

void cli_report_simulation(const cgdml_trajectory *t, double secs, cli_simulate_summary *sum)
{
    size_t steps_run = t->n_steps - t->resumed_step;
    *sum = (cli_simulate_summary){.replicas = t->n_replicas,
                                  .stopped = report_stops(t),
                                  .seconds = secs,
                                  .evaluations_per_s =
                                      (double)(steps_run * t->n_replicas) / secs};
    printf("steps %zu x %zu replicas in %.1f s: %.0f force evaluations/s\n", steps_run,
           t->n_replicas, secs, sum->evaluations_per_s);
}


/* ---- landscapes ---- */

/* Bytes of `*landscapes` landscapes of n_bins x n_bins held at once (each a count
 * and a free energy per bin, as cgdml_fes), SIZE_MAX on overflow. */
static size_t landscapes_need(size_t n_bins, const void *landscapes)
{
    size_t per_bin = *(const size_t *)landscapes * 2 * sizeof(double);
    if (n_bins > 0 && n_bins > SIZE_MAX / n_bins / per_bin)
        return SIZE_MAX;
    return n_bins * n_bins * per_bin;
}

/* Before reading anything: the landscapes a command holds at once must fit
 * (fes-reference: all frames and the two halves; fes: the trajectory's, plus
 * those three of a reference). */
cgdml_status cli_check_landscape_memory(const cli_options *opt, size_t landscapes)
{
    char what[96];
    snprintf(what, sizeof what, "holding %zu landscapes of %zu x %zu bins", landscapes, opt->bins,
             opt->bins);
    return cgdml_memory_check_count(opt->bins, "bins per angle", landscapes_need, &landscapes,
                                    what);
}

size_t cli_populated_bins(const cgdml_fes *f)
{
    size_t k = 0;
    for (size_t b = 0; b < f->n_bins * f->n_bins; b++)
        k += f->count[b] > 0;
    return k;
}

cgdml_status cli_reference_of(const cli_options *opt, const cgdml_dataset *d, const char *path,
                              cgdml_fes_reference **out)
{
    *out = NULL;
    if (d->n_frames < 2)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%s has 1 frame; a landscape and its floor need at least 2", path);
    return cgdml_fes_reference_compute(d, opt->phi ? opt->phi_beads : NULL,
                                       opt->psi ? opt->psi_beads : NULL, opt->bins, out);
}

cgdml_status cli_load_reference(const cli_options *opt, const char *path,
                                cgdml_fes_reference **out)
{
    cgdml_dataset *d = NULL;
    *out = NULL;
    cgdml_status s = cli_load_dataset(path, opt->group, &d);
    if (!s)
        s = cli_reference_of(opt, d, path, out);
    cgdml_dataset_free(d);
    return s;
}

cgdml_status cli_save_reference(const cli_options *opt, const cgdml_fes_reference *ref,
                                const char *path)
{
    cgdml_status s = cgdml_fes_save(ref->landscape, ref->halves.mse, NULL, NULL, NULL, path);
    if (!s) {
        printf("frames %zu\nbins %zu x %zu, populated %zu\n"
               "floor (first half vs second half) %.4f kT^2 over %zu joint bins\n",
               ref->landscape->n_samples, opt->bins, opt->bins, cli_populated_bins(ref->landscape),
               ref->halves.mse, ref->halves.joint_bins);
        cli_note("wrote %s\n", path);
    }
    return s;
}

cgdml_status cli_fes_record(const cgdml_fes_assessment *a, const char *output,
                            cli_fes_summary *sum)
{
    int ref = a->has_reference;
    cgdml_status s = cgdml_fes_save(a->landscape, a->floor, ref ? &a->vs : NULL, &a->halves,
                                    ref ? &a->matched : NULL, output);
    if (!s) {
        sum->has_reference = ref;
        sum->vs = a->vs;
        sum->halves = a->halves;
        sum->matched = a->matched;
        sum->floor = a->floor;
        sum->samples = a->landscape->n_samples;
        sum->populated = cli_populated_bins(a->landscape);
    }
    return s;
}

cgdml_status cli_fes_judge(const cli_options *opt, const cgdml_dataset *traj,
                           const cgdml_fes_reference *ref, const char *output,
                           cli_fes_summary *sum)
{
    cgdml_fes_assessment a;
    memset(sum, 0, sizeof *sum);
    sum->floor = NAN;
    cgdml_status s = cgdml_fes_assess(traj, (int64_t)opt->burn_in, opt->bins,
                                      opt->phi ? opt->phi_beads : NULL,
                                      opt->psi ? opt->psi_beads : NULL, ref, opt->seed, &a);
    if (!s)
        s = cli_fes_record(&a, output, sum);
    cgdml_fes_assessment_free(&a);
    return s;
}

/* ---- the ensemble with its progress and CV tables ---- */

/* Progress of layer 1 on stderr: a bar that redraws on a terminal, a line per
 * tenth otherwise. */

static void show_progress(void *ctx, size_t done, size_t total)
{
    cli_members_progress *p = ctx;
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
/* A CG solve's progress: a line every CLI_CG_PROGRESS_S seconds and at the end (the
 * library reports about once a second; a make run log needs fewer). */
#define CLI_CG_PROGRESS_S 10.0
static void show_cg_progress(void *ctx, const cgdml_cg_progress *p)
{
    static double last = -1.0; /* called from one thread, one solve at a time */
    (void)ctx;
    int end = p->relative_residual <= p->tolerance || p->iteration >= p->max_iterations;
    if (p->seconds < last) /* a new solve */
        last = -1.0;
    if (!end && last >= 0 && p->seconds - last < CLI_CG_PROGRESS_S)
        return;
    last = p->seconds;
    cli_note("  CG iteration %zu: relative residual %.3g (tolerance %g), %.0f s\n", p->iteration,
             p->relative_residual, p->tolerance, p->seconds);
}

void cli_cg_options(const cli_options *opt, cgdml_cg_options *cg)
{
    cgdml_cg_options_init(cg);
    cg->tolerance = opt->tolerance;
    cg->max_iterations = opt->max_iterations;
    cg->preconditioner = (cgdml_cg_preconditioner)opt->preconditioner;
    cg->layout = (cgdml_cg_layout)opt->layout;
    cg->block_frames = opt->block_frames;
    cg->landmarks = opt->landmarks;
    cg->progress = show_cg_progress;
}

cgdml_status cli_ensemble_options(const cli_options *opt, const char *checkpoint,
                                     cgdml_ensemble_options *eo)
{
    cgdml_ensemble_options_init(eo);
    cgdml_status s = cli_strata_options(opt, &eo->strata);
    cgdml_layer1_options *l1 = &eo->layer1;
    l1->n_members = opt->members;
    l1->n_train = opt->n_train;
    l1->sigma1 = opt->sigma1;
    l1->lambda = opt->lambda;
    static const cgdml_draw_kind draws[] = {CGDML_DRAW_STRATIFIED, CGDML_DRAW_RANDOM,
                                            CGDML_DRAW_PARTITION};
    l1->draw = draws[opt->draw];
    l1->seed = opt->seed;
    l1->side_by_side = opt->parallel;
    l1->precision = (cgdml_precision)opt->precision;
    l1->checkpoint = checkpoint;
    l1->shard = opt->shard;
    l1->n_shards = opt->n_shards;
    l1->solver = (cgdml_solver)opt->solver;
    cli_cg_options(opt, &l1->cg);
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
    eo->lambda2 = opt->lambda2;
    eo->lambda2_relative = opt->lambda2_rel || opt->n_lambda2_rel_grid > 0;
    eo->lambda2_grid = opt->lambda2_rel_grid;
    eo->n_lambda2_grid = opt->n_lambda2_rel_grid;
    eo->note = note_line;
    eo->crossval_done = crossval_done;
    eo->layer1.progress = show_progress;
    return s;
}

/* Build the ensemble of the options; the stale temporaries of a killed run are
 * cleaned first, and the members' folder is removed once both models are saved.
 * A shard (--shard i/n) only trains its members into the folder and says so. */
int cli_ensemble(const cli_options *opt, const cgdml_dataset *data, const char *checkpoint,
                 const char *average_path, cgdml_ensemble **out)
{
    cgdml_ensemble *e = NULL;
    cgdml_prior *prior = NULL;
    size_t *exclude = NULL, n_exclude = 0;
    cgdml_ensemble_options eo;
    cli_members_progress ps = {.start = cgdml_clock_wall_seconds(), .what = "layer 1", .last_tenth = 99};
    cgdml_status s = CGDML_OK;
    if (data->n_frames < 2)
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "%s has %zu frame(s); an ensemble needs at least 2 (members, a "
                            "mean set and cross-validation all compare frames)",
                            opt->data, data->n_frames);
    if (!s)
        s = cli_fit_prior(opt, data, &prior);
    if (!s)
        s = cli_ensemble_options(opt, checkpoint, &eo);
    if (!s && opt->exclude)
        s = cgdml_sample_read_indices(opt->exclude, data->n_frames, &exclude, &n_exclude);
    eo.strata.exclude = exclude;
    eo.strata.n_exclude = n_exclude;
    eo.use_prior = prior;
    eo.prior = prior != NULL;
    eo.layer1.progress_ctx = &ps;
    size_t stale = cli_ranks_rank() > 0
                       ? 0 /* rank 0 cleans, before any rank starts */
                       : cgdml_atomic_clean(opt->output) + cgdml_atomic_clean(average_path) +
                             (opt->resume && !cgdml_ensemble_checkpoint_has_shards(checkpoint)
                                  ? cgdml_atomic_clean(checkpoint)
                                  : 0);
    /* (shards' folders keep their temporaries: they may be members other shards are
     * writing; the collecting run removes the folder once it succeeds) */
    if (stale)
        cli_note("removed %zu temporary file(s) left by a killed run\n", stale);
    s = cli_ranks_ensemble_build(opt, data, &eo, s, &e);
    if (cli_ranks_rank() > 0) { /* rank 0 writes the models and reports */
        cgdml_prior_free(prior);
        cgdml_ensemble_free(e);
        return s ? CLI_FAILED : CLI_OK;
    }
    free(exclude);
    if (!s && opt->n_shards) {
        cgdml_prior_free(prior);
        cli_note("shard %zu/%zu: %zu of %zu members in %s (%zu trained now, %zu there "
                 "already); no average, no layer 2 and no %s yet: when every shard is done, "
                 "run the same command without --shard and with --resume\n",
                 opt->shard, opt->n_shards, e->n_trained, opt->members, checkpoint,
                 e->n_trained - e->n_resumed, e->n_resumed, opt->output);
        cgdml_ensemble_free(e);
        return CLI_OK;
    }
    if (!s)
        s = cgdml_model_save(e->average, average_path);
    if (!s)
        s = cgdml_model_save(e->distilled, opt->output);
    if (!s)
        s = cgdml_atomic_remove_tree(checkpoint);
    cgdml_prior_free(prior);
    if (s) {
        cgdml_ensemble_free(e);
        return cli_fail(s);
    }
    if (out)
        *out = e;
    else
        cgdml_ensemble_free(e);
    cli_note("wrote %s (distilled) and %s (average of %zu member%s)\n", opt->output,
             average_path, opt->members, opt->members == 1 ? "" : "s");
    return CLI_OK;
}

