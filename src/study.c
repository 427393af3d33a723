/* study.c - the sample-efficiency study in memory (see cgdml/study.h): the plan
 * and its resumable results table, the held-out set and the pool, one trainer per
 * method, and each row's measurements (held-out force error, simulation, landscape
 * against the reference computed once).
 */
#include "cgdml/study.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgdml/atomic.h"
#include "cgdml/clock.h"
#include "cgdml/crossval.h"
#include "cgdml/ensemble.h"
#include "cgdml/memory.h"
#include "cgdml/prior.h"
#include "cgdml/sample.h"
#include "cgdml/strata.h"
#include "note.h"

/* Folds of a single model's σ cross-validation: its frames are drawn as this many
 * stratified members, and σ is cross-validated on them with members as folds. */
#define STUDY_SINGLE_FOLDS CGDML_CROSSVAL_DEFAULT_FOLDS
/* Frames of the distilled model's σ₂ cross-validation.  On the whole mean set
 * (1500) it would train 5 x 3 models of 1200 frames, tens of minutes on 2 cores,
 * for one row; 300 frames of distinct strata take seconds. */
#define STUDY_SIGMA2_CV_FRAMES 300

static const char *const method_names[] = {"single", "average", "distilled", "prior-only"};

const char *cgdml_study_method_name(cgdml_study_method method)
{
    return (unsigned)method < CGDML_STUDY_N_METHODS ? method_names[method] : NULL;
}

const char cgdml_study_csv_header[] =
    "size,method,repeat,sigma,landscape_mse_kT2,floor_kT2,kl,missing_population,"
    "force_mse_heldout,train_s,peak_rss_mb,simulate_s,stopped_replicas,"
    "landscape_mse_weighted_kT2,extra_population,halves_mse_kT2,matched_floor_kT2,lambda";

void cgdml_study_options_init(cgdml_study_options *o)
{
    static const double grid[] = {0.5, 1.0, 2.0};
    memset(o, 0, sizeof *o);
    o->repeats = CGDML_STUDY_REPEATS;
    for (int m = 0; m < CGDML_STUDY_N_METHODS; m++)
        o->methods[m] = (cgdml_study_method)m;
    o->n_methods = CGDML_STUDY_N_METHODS;
    o->members = CGDML_STUDY_MEMBERS;
    o->mean_set = CGDML_STUDY_MEAN_SET;
    o->single_max_frames = CGDML_STUDY_SINGLE_MAX_FRAMES;
    memcpy(o->sigma_grid, grid, sizeof grid);
    o->n_sigma_grid = 3;
    o->lambda = CGDML_STUDY_LAMBDA;
    o->precision = CGDML_PRECISION_AUTO;
    o->solver = CGDML_SOLVER_CHOLESKY;
    cgdml_cg_options_init(&o->cg);
    o->seed = 1;
    o->temperature = CGDML_PRIOR_DEFAULT_TEMPERATURE;
    o->replicas = CGDML_STUDY_REPLICAS;
    o->start = CGDML_START_EQUILIBRIUM;
    cgdml_simulate_options_init(&o->simulate);
    o->simulate.n_steps = CGDML_STUDY_STEPS;
    o->simulate.save_every = 0;
    o->burn_in = SIZE_MAX;
    o->bins = CGDML_FES_DEFAULT_BINS;
}

typedef struct {
    cgdml_study_options opt;    /* the study's options, defaults filled in */
    const cgdml_dataset *data;  /* the whole dataset */
    cgdml_dataset *pool;        /* the frames outside the held-out set */
    size_t *pool_frame, n_pool; /* [pool frame] -> dataset frame */
    size_t *held_out, n_held_out;
    cgdml_strata *strata; /* of the pool */
    cgdml_prior *prior;
    cgdml_fes_reference *reference; /* of the whole dataset, computed once */
    const char *csv, *members, *fes, *splits; /* NULL: not kept */
    char members_path[CGDML_PATH_MAX];
    char **rows; /* CSV lines without the header */
    size_t n_rows, to_do, done;
    double start;
} study;

/* What the methods of one (size, repeat) share: the seed and the average. */
typedef struct {
    size_t size, repeat;
    unsigned long seed;
    cgdml_model *average;
    double average_s;
} study_group;

typedef cgdml_study_row study_row;

/* A line for the caller's note callback (none: dropped). */
static void note(const study *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const study *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cgdml_note_line(st->opt.note, st->opt.ctx, fmt, ap);
    va_end(ap);
}

/* The seed of a (size, repeat): splitmix64 of the three numbers, so that nearby
 * rows do not share member draws (member k draws with seed + k + 1). */
static unsigned long row_seed(unsigned long base, size_t size, size_t repeat)
{
    uint64_t z = (uint64_t)base * 0x9E3779B97F4A7C15ULL + (uint64_t)size * 0xD1B54A32D192ED03ULL +
                 (uint64_t)repeat + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (unsigned long)((z ^ (z >> 31)) & 0x7fffffffUL);
}

/* ---- the results table ---- */

static cgdml_status add_row(study *st, const char *line)
{
    char **grown = realloc(st->rows, (st->n_rows + 1) * sizeof *grown);
    if (grown)
        st->rows = grown;
    char *copy = grown ? strdup(line) : NULL;
    if (!copy)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot hold the results table");
    st->rows[st->n_rows++] = copy;
    return CGDML_OK;
}

static cgdml_status load_rows(study *st)
{
    if (!st->csv)
        return CGDML_OK;
    FILE *f = fopen(st->csv, "r");
    if (!f)
        return errno == ENOENT
                   ? CGDML_OK
                   : cgdml_error_set(CGDML_ERR_IO, "cannot read %s: %s", st->csv, strerror(errno));
    char line[1024];
    cgdml_status s = CGDML_OK;
    if (!fgets(line, sizeof line, f) || strcmp(strtok(line, "\r\n") ? line : "", cgdml_study_csv_header))
        s = cgdml_error_set(CGDML_ERR_FORMAT,
                            "%s: its header is not that of this cgdml study; move it away "
                            "or choose another -o folder",
                            st->csv);
    while (!s && fgets(line, sizeof line, f))
        if (strtok(line, "\r\n"))
            s = add_row(st, line);
    fclose(f);
    return s;
}

static int row_present(const study *st, size_t size, int method, size_t repeat)
{
    char key[64];
    int n = snprintf(key, sizeof key, "%zu,%s,%zu,", size, method_names[method], repeat);
    for (size_t i = 0; i < st->n_rows; i++)
        if (!strncmp(st->rows[i], key, (size_t)n))
            return 1;
    return 0;
}

static cgdml_status write_rows(const study *st)
{
    if (!st->csv)
        return CGDML_OK;
    cgdml_atomic a;
    FILE *f;
    cgdml_status s = cgdml_atomic_fopen(&a, st->csv, &f);
    if (s)
        return s;
    fprintf(f, "%s\n", cgdml_study_csv_header);
    for (size_t i = 0; i < st->n_rows; i++)
        fprintf(f, "%s\n", st->rows[i]);
    return cgdml_atomic_fclose(&a, f, ferror(f));
}

static cgdml_status record_row(study *st, const study_row *r)
{
    char line[512];
    const cgdml_fes_comparison *vs = &r->vs;
    snprintf(line, sizeof line,
             "%zu,%s,%zu,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f,%.1f,%.3f,%zu,%.6g,%.6g,%.6g,%.6g,%.6g",
             r->size, method_names[r->method], r->repeat, r->sigma, vs->mse, r->floor, vs->kl,
             vs->missing, r->force_mse, r->train_s, r->peak_mb, r->simulate_s, r->stopped,
             vs->mse_weighted, vs->extra, r->halves.mse, r->matched.floor, r->lambda);
    cgdml_status s = add_row(st, line);
    return s ? s : write_rows(st);
}

/* ---- the plan and the data ---- */

static int single_too_large(const study *st, size_t size, int method)
{
    return method == CGDML_STUDY_SINGLE && size > st->opt.single_max_frames;
}

/* Count the rows to compute; say which are skipped and why. */
static void plan(study *st)
{
    size_t present = 0;
    const cgdml_study_options *o = &st->opt;
    for (size_t i = 0; i < o->n_sizes; i++) {
        for (size_t k = 0; k < o->n_methods; k++)
            if (single_too_large(st, o->sizes[i], o->methods[k]))
                note(st, "study: warning: single models of %zu frames skipped (above "
                         "--n-train %zu; raise it if memory and time allow)\n",
                         o->sizes[i], o->single_max_frames);
        for (size_t r = 0; r < o->repeats; r++)
            for (size_t k = 0; k < o->n_methods; k++) {
                if (row_present(st, o->sizes[i], o->methods[k], r))
                    present++;
                else if (!single_too_large(st, o->sizes[i], o->methods[k]))
                    st->to_do++;
            }
    }
    note(st, "study: %zu rows to compute; %zu rows already in %s, skipped\n", st->to_do, present,
         st->csv ? st->csv : "(no results file)");
}

/* The held-out frames and the pool every draw comes from (strata, prior), and the
 * reference landscape of the whole dataset. */
static cgdml_status load_data(study *st)
{
    size_t n = st->data->n_frames;
    cgdml_status s = CGDML_OK;
    st->n_held_out = n / 10 < CGDML_STUDY_HELD_OUT ? n / 10 : CGDML_STUDY_HELD_OUT;
    if (st->n_held_out < 1)
        s = cgdml_error_set(CGDML_ERR_INVALID, "the dataset has %zu frames; a study needs at "
                            "least 10", n);
    if (!s)
        s = cgdml_sample_random(n, st->n_held_out, CGDML_STUDY_HELD_OUT_SEED, &st->held_out);
    if (!s)
        s = cgdml_sample_complement(n, st->held_out, st->n_held_out, &st->pool_frame, &st->n_pool);
    if (!s)
        s = cgdml_dataset_subset(st->data, st->pool_frame, st->n_pool, &st->pool);
    cgdml_strata_options so;
    cgdml_strata_options_init(&so);
    so.seed = st->opt.seed;
    if (!s)
        s = cgdml_strata_build(st->pool, &so, 0, &st->strata);
    if (!s)
        s = cgdml_prior_fit_topology(st->pool, NULL, 0, st->opt.temperature, &st->prior);
    if (s && !st->strata)
        return s;
    if (s)
        return cgdml_error_wrap(s, "prior");
    s = cgdml_fes_reference_compute(st->data, NULL, NULL, st->opt.bins, &st->reference);
    if (!s)
        note(st, "study: %zu frames: %zu held out, %zu to draw from in %zu phi/psi strata\n", n,
             st->n_held_out, st->n_pool, st->strata->n_strata);
    if (!s && st->splits) {
        char path[CGDML_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/held_out.txt", st->splits);
        s = cgdml_sample_write_indices(path, st->held_out, st->n_held_out);
    }
    return s;
}

/* Write pool frames idx[0..n-1] as dataset frames to splits/size<N>_repeat<R>_<what>.txt. */
static cgdml_status export_split(const study *st, const study_group *g, const char *what,
                                 const size_t *idx, size_t n)
{
    if (!st->splits)
        return CGDML_OK;
    size_t *frames = malloc(n * sizeof *frames);
    if (!frames)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a split of %zu frames", n);
    for (size_t i = 0; i < n; i++)
        frames[i] = st->pool_frame[idx[i]];
    char path[CGDML_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/size%zu_repeat%zu_%s.txt", st->splits, g->size, g->repeat,
             what);
    cgdml_status s = cgdml_sample_write_indices(path, frames, n);
    free(frames);
    return s;
}

/* ---- training, one function per method ---- */

/* The members' and single models' λ at length scale σ (absolute, or relative to
 * the kernel diagonal: study.h). */
static double lambda_at(const cgdml_study_options *o, double sigma)
{
    return o->lambda * (o->lambda_relative ? cgdml_crossval_kernel_diagonal(sigma) : 1.0);
}

/* The distilled model's λ₂ at σ₂, the members having solved with lambda1. */
static double lambda2_at(const cgdml_study_options *o, double sigma2, double lambda1)
{
    if (!(o->lambda2 > 0))
        return lambda1;
    return o->lambda2 * (o->lambda2_relative ? cgdml_crossval_kernel_diagonal(sigma2) : 1.0);
}

/* K members of m frames at the grid's first σ, from layer 1's defaults (the CG
 * options included), solved as the study says. */
static cgdml_layer1_options members_options(const study *st, size_t k, size_t m, unsigned long seed)
{
    cgdml_layer1_options l1;
    cgdml_layer1_options_init(&l1);
    l1.n_members = k;
    l1.n_train = m;
    l1.sigma1 = st->opt.sigma_grid[0];
    l1.lambda = lambda_at(&st->opt, l1.sigma1);
    l1.seed = seed;
    l1.precision = st->opt.precision;
    l1.checkpoint = st->members;
    l1.solver = st->opt.solver;
    l1.cg = st->opt.cg;
    return l1;
}

/* σ₁ (and its λ) by cross-validation with the members as folds (at most 5); the
 * members the CV trains stay in the checkpoint folder, so the final training
 * reuses them. */
static cgdml_status choose_sigma1(const study *st, cgdml_layer1_options *l1)
{
    size_t n = st->opt.n_sigma_grid;
    if (n == 1)
        return CGDML_OK;
    size_t folds =
        l1->n_members < CGDML_CROSSVAL_DEFAULT_FOLDS ? l1->n_members : CGDML_CROSSVAL_DEFAULT_FOLDS;
    cgdml_crossval_point table[16];
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < n; i++) {
        double lambda = lambda_at(&st->opt, st->opt.sigma_grid[i]);
        s = cgdml_crossval_layer1(st->pool, st->strata, NULL, st->prior, l1, &st->opt.sigma_grid[i],
                                  1, &lambda, 1, folds, table + i);
    }
    if (s)
        return s;
    size_t best = cgdml_crossval_best(table, n);
    l1->sigma1 = table[best].sigma;
    l1->lambda = table[best].lambda;
    return CGDML_OK;
}

/* K members of size/K frames, σ₁ by CV, averaged; kept for the distilled row. */
static cgdml_status train_average(const study *st, study_group *g)
{
    size_t k = st->opt.members;
    cgdml_layer1_options l1 = members_options(st, k, g->size / k, g->seed);
    cgdml_model **members = calloc(k, sizeof *members);
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status s = members ? choose_sigma1(st, &l1)
                             : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate members");
    if (!s)
        s = cgdml_ensemble_train_members(st->pool, st->strata, st->prior, &l1, members);
    if (!s)
        s = cgdml_ensemble_average(members, k, &g->average);
    if (!s && st->prior)
        s = cgdml_model_attach_prior(g->average, st->prior);
    for (size_t i = 0; members && i < k; i++)
        cgdml_model_free(members[i]);
    free(members);
    g->average_s = cgdml_clock_wall_seconds() - t0;
    if (!s)
        s = export_split(st, g, "average", g->average->train_indices, g->average->n_train);
    return s || !st->members ? s : cgdml_atomic_remove_tree(st->members);
}

/* σ₂ by 5-fold CV on min(--mean-set, STUDY_SIGMA2_CV_FRAMES) frames of distinct
 * strata, labelled by the average like the mean set. */
static cgdml_status choose_sigma2(const study *st, const study_group *g, double *sigma2)
{
    const cgdml_study_options *o = &st->opt;
    *sigma2 = o->sigma_grid[0];
    if (o->n_sigma_grid == 1)
        return CGDML_OK;
    size_t n = o->mean_set < STUDY_SIGMA2_CV_FRAMES ? o->mean_set : STUDY_SIGMA2_CV_FRAMES;
    n = n < st->strata->n_strata ? n : st->strata->n_strata;
    size_t *cv = NULL;
    cgdml_crossval_point table[16];
    cgdml_status s = cgdml_strata_draw(st->strata, CGDML_DRAW_STRATIFIED_UNIQUE, n,
                                       g->seed + o->members + 2, &cv);
    for (size_t i = 0; !s && i < o->n_sigma_grid; i++)
        s = cgdml_crossval_layer2(g->average, st->pool, cv, n, &o->sigma_grid[i], 1,
                                  lambda2_at(o, o->sigma_grid[i], g->average->lambda), o->precision,
                                  CGDML_CROSSVAL_DEFAULT_FOLDS, table + i);
    if (!s)
        *sigma2 = table[cgdml_crossval_best(table, o->n_sigma_grid)].sigma;
    free(cv);
    return s;
}

/* Layer 2 on the group's average, on a mean set of --mean-set distinct strata
 * (r: the σ₂ and λ₂ it took). */
static cgdml_status train_distilled(const study *st, const study_group *g, cgdml_model **out,
                                    study_row *r)
{
    const cgdml_study_options *o = &st->opt;
    size_t n = o->mean_set < st->strata->n_strata ? o->mean_set : st->strata->n_strata, *mean;
    cgdml_status s = choose_sigma2(st, g, &r->sigma);
    if (s)
        return s;
    r->lambda = lambda2_at(o, r->sigma, g->average->lambda);
    s = cgdml_strata_draw(st->strata, CGDML_DRAW_STRATIFIED_UNIQUE, n, g->seed + o->members + 1,
                          &mean);
    if (s)
        return s;
    s = cgdml_ensemble_distill(g->average, st->pool, mean, n, r->sigma, r->lambda, o->precision,
                               out);
    if (!s && st->prior)
        s = cgdml_model_attach_prior(*out, st->prior);
    if (!s)
        s = export_split(st, g, "distilled", g->average->train_indices, g->average->n_train);
    if (!s)
        s = export_split(st, g, "distilled_meanset", mean, n);
    free(mean);
    return s;
}

/* The frames of STUDY_SINGLE_FOLDS stratified members of size/folds frames. */
static cgdml_status single_frames(const study *st, const cgdml_layer1_options *l1, size_t **idx)
{
    *idx = malloc(l1->n_members * l1->n_train * sizeof **idx);
    cgdml_status s = *idx ? CGDML_OK : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate frames");
    for (size_t k = 0; !s && k < l1->n_members; k++) {
        size_t *part = NULL;
        s = cgdml_ensemble_member_frames(st->strata, l1, k, &part);
        if (!s)
            memcpy(*idx + k * l1->n_train, part, l1->n_train * sizeof *part);
        free(part);
    }
    return s;
}

/* Solve the single model on pool frames idx[0..n-1] with layer 1's settings: in
 * double precision by Cholesky, or by CG with the frames' strata as the
 * preconditioner's keys (as a CG member takes them). */
static cgdml_status solve_single(const study *st, const cgdml_layer1_options *l1, const size_t *idx,
                                 size_t n, const double *labels, cgdml_model **out)
{
    if (l1->solver != CGDML_SOLVER_CG)
        return cgdml_model_train_labels(st->pool, idx, n, labels, l1->sigma1, l1->lambda, NULL,
                                        out);
    cgdml_cg_options cg = l1->cg;
    size_t *keys = malloc(n * sizeof *keys);
    if (!keys)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the strata of %zu frames", n);
    for (size_t t = 0; t < n; t++)
        keys[t] = st->strata->stratum_of[idx[t]];
    cg.keys = keys;
    cgdml_status s =
        cgdml_model_train_cg(st->pool, idx, n, labels, l1->sigma1, l1->lambda, &cg, NULL, out);
    free(keys);
    return s;
}

/* One model on all the frames; σ cross-validated on the same frames split into
 * STUDY_SINGLE_FOLDS members (cheap: each CV model has a fifth of the frames). */
static cgdml_status train_single(const study *st, const study_group *g, cgdml_model **out,
                                 study_row *r)
{
    cgdml_layer1_options l1 =
        members_options(st, STUDY_SINGLE_FOLDS, g->size / STUDY_SINGLE_FOLDS, g->seed);
    size_t *idx = NULL, n = l1.n_members * l1.n_train, n3 = 3 * st->pool->n_beads;
    double *labels = NULL;
    cgdml_status s = choose_sigma1(st, &l1);
    if (!s)
        s = single_frames(st, &l1, &idx);
    if (!s && st->prior && !(labels = malloc(n * n3 * sizeof *labels)))
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate labels of %zu frames", n);
    if (!s && st->prior)
        s = cgdml_prior_subtract(st->prior, st->pool, idx, n, labels);
    r->sigma = l1.sigma1;
    r->lambda = l1.lambda;
    if (!s)
        s = solve_single(st, &l1, idx, n, labels, out);
    if (!s && st->prior)
        s = cgdml_model_attach_prior(*out, st->prior);
    if (!s)
        s = export_split(st, g, "single", idx, n);
    free(labels);
    free(idx);
    return s || !st->members ? s : cgdml_atomic_remove_tree(st->members);
}

/* A model whose kernel part is zero: it predicts the prior alone. */
static cgdml_status train_prior_only(const study *st, cgdml_model **out)
{
    cgdml_status s = cgdml_model_alloc(1, st->pool->n_beads, out);
    if (s)
        return s;
    (*out)->sigma = 1.0;
    memcpy((*out)->bead_names, st->pool->bead_names, st->pool->n_beads * CGDML_NAME_MAX);
    return st->prior ? cgdml_model_attach_prior(*out, st->prior) : CGDML_OK;
}

/* Train the row's model (*owned: the caller frees it) and time it.  The average
 * is shared by the group's average and distilled rows; the distilled model's time
 * includes its average's, the cost of getting it. */
static cgdml_status train_row(const study *st, study_group *g, study_row *r, cgdml_model **m,
                              int *owned)
{
    int layered = r->method == CGDML_STUDY_AVERAGE || r->method == CGDML_STUDY_DISTILLED;
    cgdml_status s = layered && !g->average ? train_average(st, g) : CGDML_OK;
    double t0 = cgdml_clock_wall_seconds();
    *owned = r->method != CGDML_STUDY_AVERAGE;
    if (!s && r->method == CGDML_STUDY_AVERAGE) {
        *m = g->average;
        r->sigma = g->average->sigma;
        r->lambda = g->average->lambda;
    } else if (!s && r->method == CGDML_STUDY_DISTILLED) {
        s = train_distilled(st, g, m, r);
    } else if (!s && r->method == CGDML_STUDY_SINGLE) {
        s = train_single(st, g, m, r);
    } else if (!s) {
        s = train_prior_only(st, m);
        r->sigma = r->lambda = NAN;
    }
    r->train_s = cgdml_clock_wall_seconds() - t0 + (layered ? g->average_s : 0.0);
    return s;
}

/* ---- measuring a model ---- */

/* Force MSE on the held-out frames, then simulate and compare landscapes (a
 * simulation that leaves no finite frame gives NaN landscape numbers, not an
 * error: a rerun would fail the same way and the study could never finish). */
static cgdml_status measure_row(const study *st, const cgdml_model *m, unsigned long seed,
                                study_row *r)
{
    cgdml_force_errors e;
    cgdml_status s = cgdml_model_evaluate(m, st->data, st->held_out, st->n_held_out, &e);
    r->force_mse = e.mse;
    cgdml_force_errors_free(&e);
    cgdml_simulate_options so = st->opt.simulate;
    so.seed = seed;
    cgdml_trajectory *t = NULL;
    cgdml_dataset *td = NULL;
    cgdml_fes_assessment fa = {0};
    double t0 = cgdml_clock_wall_seconds();
    if (!s)
        s = cgdml_simulate_dataset(m, st->data, st->opt.replicas, st->opt.start, &so, &t);
    r->simulate_s = cgdml_clock_wall_seconds() - t0;
    if (!s) {
        r->stopped = t->n_replicas - cgdml_trajectory_alive_count(t);
        if (st->opt.simulated)
            st->opt.simulated(st->opt.ctx, t, r->simulate_s);
        s = cgdml_trajectory_to_dataset(t, st->data, NULL, NULL, &td);
    }
    if (!s)
        s = cgdml_fes_assess(td, (int64_t)st->opt.burn_in, st->opt.bins, NULL, NULL,
                             st->reference, seed, &fa);
    if (!s) {
        r->vs = fa.vs;
        r->halves = fa.halves;
        r->matched = fa.matched;
        r->floor = fa.floor;
    }
    if (!s && st->fes) {
        char fes[CGDML_PATH_MAX + 64];
        snprintf(fes, sizeof fes, "%s/size%zu_repeat%zu_%s.h5", st->fes, r->size, r->repeat,
                 method_names[r->method]);
        s = cgdml_fes_save(fa.landscape, fa.floor, &fa.vs, &fa.halves, &fa.matched, fes);
    }
    cgdml_fes_assessment_free(&fa);
    cgdml_dataset_free(td);
    cgdml_trajectory_free(t);
    if (s == CGDML_ERR_NUMERIC) {
        note(st, "study: warning: %s; landscape numbers of this row are NaN\n",
                 cgdml_error_message());
        r->vs = (cgdml_fes_comparison){
            .mse = NAN, .kl = NAN, .missing = NAN, .mse_weighted = NAN, .extra = NAN};
        r->halves.mse = r->matched.floor = NAN;
        r->floor = NAN;
        s = CGDML_OK;
    }
    return s;
}

static void note_row(study *st, const study_row *r)
{
    st->done++;
    double elapsed = cgdml_clock_wall_seconds() - st->start;
    double eta = elapsed / (double)st->done * (double)(st->to_do - st->done);
    note(st, "study: [%zu/%zu] size %zu, repeat %zu, %s: landscape MSE %.4f kT^2 (floor %.4f), "
             "force MSE %.2f, train %.1f s, simulate %.1f s; %.0f s so far, ETA %.0f s\n",
             st->done, st->to_do, r->size, r->repeat, method_names[r->method], r->vs.mse,
             r->floor, r->force_mse, r->train_s, r->simulate_s, elapsed, eta);
}

static cgdml_status run_row(study *st, study_group *g, int method)
{
    study_row r = {.size = g->size, .repeat = g->repeat, .method = method};
    cgdml_model *m = NULL;
    int owned = 1;
    note(st, "study: size %zu, repeat %zu, %s\n", g->size, g->repeat, method_names[method]);
    cgdml_memory_peak_reset();
    cgdml_status s = train_row(st, g, &r, &m, &owned);
    if (!s)
        s = measure_row(st, m, g->seed, &r);
    r.peak_mb = (double)cgdml_memory_peak_rss() / (1024.0 * 1024.0);
    if (!s)
        s = record_row(st, &r);
    if (!s)
        note_row(st, &r);
    if (!s && st->opt.row_done)
        st->opt.row_done(st->opt.ctx, &r);
    if (owned)
        cgdml_model_free(m);
    return s;
}

static cgdml_status run_group(study *st, size_t size, size_t repeat)
{
    study_group g = {.size = size, .repeat = repeat, .seed = row_seed(st->opt.seed, size, repeat)};
    cgdml_status s = CGDML_OK;
    for (size_t k = 0; !s && k < st->opt.n_methods; k++) {
        int m = st->opt.methods[k];
        if (!row_present(st, size, m, repeat) && !single_too_large(st, size, m))
            s = run_row(st, &g, m);
    }
    cgdml_model_free(g.average);
    return s;
}


/* ---- the whole study ---- */

static cgdml_status check_options(const cgdml_study_options *o)
{
    int bad_size = 0, bad_sigma = 0;
    for (size_t i = 0; i < o->n_sizes; i++)
        bad_size |= o->sizes[i] < o->members || o->sizes[i] < STUDY_SINGLE_FOLDS;
    for (size_t i = 0; i < o->n_sigma_grid; i++)
        bad_sigma |= !(o->sigma_grid[i] > 0);
    for (size_t k = 0; k < o->n_methods; k++)
        bad_size |= (unsigned)o->methods[k] >= CGDML_STUDY_N_METHODS;
    if (!o->n_sizes || o->n_sizes > CGDML_STUDY_MAX_SIZES || !o->n_methods ||
        o->n_methods > CGDML_STUDY_N_METHODS || o->repeats < 1 || o->members < 2 || bad_size ||
        !o->n_sigma_grid || o->n_sigma_grid > 16 || bad_sigma || o->replicas < 1 ||
        o->simulate.n_steps < 1 || o->bins < 2 || !(o->lambda > 0) || !(o->lambda2 >= 0) ||
        (unsigned)o->solver > CGDML_SOLVER_CG)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "study: bad options (sizes 1-16 values, each at least members "
                               "and %d; members >= 2; repeats, replicas and steps >= 1; sigma "
                               "grid 1-16 positive values; methods from the enum; bins >= 2; "
                               "lambda > 0, lambda2 >= 0; solver Cholesky or CG)",
                               STUDY_SINGLE_FOLDS);
    return CGDML_OK;
}

static cgdml_status make_folder(const char *path)
{
    if (path && mkdir(path, 0777) != 0 && errno != EEXIST)
        return cgdml_error_set(CGDML_ERR_IO, "cannot create the folder %s: %s", path,
                               strerror(errno));
    return CGDML_OK;
}

static void free_study(study *st)
{
    for (size_t i = 0; i < st->n_rows; i++)
        free(st->rows[i]);
    free(st->rows);
    cgdml_prior_free(st->prior);
    cgdml_fes_reference_free(st->reference);
    cgdml_strata_free(st->strata);
    cgdml_dataset_free(st->pool);
    free(st->pool_frame);
    free(st->held_out);
}

cgdml_status cgdml_study_run(const cgdml_dataset *data, const cgdml_study_options *opt,
                             size_t *n_rows)
{
    study st = {.opt = *opt, .data = data, .csv = opt->results, .fes = opt->landscapes,
                .splits = opt->splits};
    cgdml_study_options *o = &st.opt;
    size_t steps = o->simulate.n_steps;
    if (!o->simulate.save_every) {
        o->simulate.save_every = steps / 100 < CGDML_STUDY_SAVE_EVERY ? steps / 100
                                                                     : CGDML_STUDY_SAVE_EVERY;
        o->simulate.save_every += o->simulate.save_every == 0;
    }
    if (o->burn_in == SIZE_MAX)
        o->burn_in = steps >= 3 * (size_t)CGDML_STUDY_BURN_IN ? CGDML_STUDY_BURN_IN : steps / 3;
    if (opt->work) {
        snprintf(st.members_path, sizeof st.members_path, "%s/members", opt->work);
        st.members = st.members_path;
    }
    cgdml_status s = check_options(o);
    if (!s)
        s = make_folder(opt->work);
    if (!s)
        s = make_folder(st.fes);
    if (!s)
        s = make_folder(st.splits);
    if (!s)
        s = load_rows(&st);
    if (!s)
        plan(&st);
    if (!s && st.to_do)
        s = load_data(&st);
    st.start = cgdml_clock_wall_seconds();
    for (size_t i = 0; !s && i < o->n_sizes; i++)
        for (size_t r = 0; !s && r < o->repeats; r++)
            s = run_group(&st, o->sizes[i], r);
    cgdml_status cleanup = opt->work ? cgdml_atomic_remove_tree(opt->work) : CGDML_OK;
    s = s ? s : cleanup;
    if (n_rows)
        *n_rows = st.n_rows;
    free_study(&st);
    return s;
}
