/* ensemble_build.c - the ensemble stage as one call (cgdml_ensemble_build): strata,
 * the prior, σ₁/λ by cross-validation, layer 1, the average, the mean set, σ₂ by
 * cross-validation, the distilled model, the prior attached to both models and the
 * CV table recorded in the distilled one - what `cgdml ensemble` does, in memory.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/atomic.h"
#include "cgdml/crossval.h"
#include "cgdml/ensemble.h"
#include "cgdml/memory.h"
#include "cgdml/model.h"
#include "note.h"

void cgdml_layer1_options_init(cgdml_layer1_options *o)
{
    memset(o, 0, sizeof *o);
    o->lambda = CGDML_ENSEMBLE_DEFAULT_LAMBDA;
    o->draw = CGDML_DRAW_STRATIFIED;
    o->seed = 1;
    o->side_by_side = -1;
    o->precision = CGDML_PRECISION_AUTO;
    cgdml_cg_options_init(&o->cg);
}

void cgdml_ensemble_options_init(cgdml_ensemble_options *o)
{
    memset(o, 0, sizeof *o);
    cgdml_strata_options_init(&o->strata);
    cgdml_layer1_options_init(&o->layer1);
    o->prior = 1;
    o->temperature = CGDML_PRIOR_DEFAULT_TEMPERATURE;
    o->folds = CGDML_CROSSVAL_DEFAULT_FOLDS;
}

/* A line for the caller's note callback (none: dropped). */
static void note(const cgdml_ensemble_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(const cgdml_ensemble_options *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cgdml_note_line(o->note, o->ctx, fmt, ap);
    va_end(ap);
}

void cgdml_ensemble_free(cgdml_ensemble *e)
{
    if (!e)
        return;
    for (size_t k = 0; e->members && k < e->n_members; k++)
        cgdml_model_free(e->members[k]);
    free(e->members);
    cgdml_model_free(e->average);
    cgdml_model_free(e->distilled);
    free(e->mean_set);
    free(e->cv1);
    free(e->cv2);
    cgdml_prior_free(e->prior);
    cgdml_strata_free(e->strata);
    free(e);
}

/* Append the rows of a CV table to the model's table. */
static cgdml_status record_cv(cgdml_model *m, int layer, const cgdml_crossval_point *t, size_t n)
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

/* Tell when the best point lies on an edge of a grid that has more than one value. */
static void warn_edges(const cgdml_ensemble_options *o, size_t best, size_t n_sigmas,
                       size_t n_lambdas, const char *sigma_name)
{
    int se, le;
    cgdml_crossval_edges(best, n_sigmas, n_lambdas, &se, &le);
    if (se)
        note(o, "warning: the best %s is the %s of its grid: extend the grid %s\n", sigma_name,
             se < 0 ? "lowest" : "highest", se < 0 ? "downwards" : "upwards");
    if (le)
        note(o, "warning: the best lambda is the %s of its grid: extend the grid %s\n",
             le < 0 ? "lowest" : "highest", le < 0 ? "downwards" : "upwards");
}

static cgdml_status check_options(const cgdml_dataset *d, const cgdml_ensemble_options *o)
{
    const cgdml_layer1_options *l1 = &o->layer1;
    if (!d || !o)
        return cgdml_error_set(CGDML_ERR_INVALID, "ensemble: no %s given", d ? "options" : "dataset");
    if (d->n_frames < 2)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "the dataset has %zu frame(s); an ensemble needs at least 2 "
                               "(members, a mean set and cross-validation all compare frames)",
                               d->n_frames);
    if (l1->n_members < 1 || l1->n_train < 1)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "ensemble: members (%zu) and frames per member (%zu) must be at "
                               "least 1", l1->n_members, l1->n_train);
    /* σ values themselves are checked where they are used (a bad σ₂ fails layer 2,
     * after layer 1 is done and checkpointed). */
    if (o->n_sigma1_grid > CGDML_ENSEMBLE_GRID_MAX || o->n_lambda_grid > CGDML_ENSEMBLE_GRID_MAX ||
        o->n_sigma2_grid > CGDML_ENSEMBLE_GRID_MAX || o->n_lambda2_grid > CGDML_ENSEMBLE_GRID_MAX)
        return cgdml_error_set(CGDML_ERR_INVALID, "ensemble: a grid holds at most %d values",
                               CGDML_ENSEMBLE_GRID_MAX);
    if (!isfinite(o->lambda2) || o->lambda2 < 0)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "ensemble: lambda2 %g must be finite and >= 0 (0: the members' lambda)",
                               o->lambda2);
    for (size_t k = 0; k < o->n_lambda2_grid; k++)
        if (!isfinite(o->lambda2_grid[k]) || o->lambda2_grid[k] <= 0)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "ensemble: lambda2 grid value %g must be finite and > 0",
                                   o->lambda2_grid[k]);
    if (l1->n_shards && o->n_sigma1_grid)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "ensemble: shard %zu/%zu: a sharded layer 1 needs a fixed sigma1 "
                               "(its cross-validation trains other members): choose sigma1 with "
                               "a one-process run or a cross-validation first, then give it",
                               l1->shard, l1->n_shards);
    if (l1->n_shards && (l1->shard >= l1->n_shards || !l1->checkpoint))
        return cgdml_error_set(CGDML_ERR_INVALID, "ensemble: shard %zu/%zu: %s", l1->shard,
                               l1->n_shards,
                               l1->checkpoint ? "the shard must be below the number of shards"
                                              : "shards need a members folder (layer1.checkpoint)");
    if (l1->solver == CGDML_SOLVER_CG && cgdml_cg_options_check(&l1->cg, l1->n_train, d->n_beads))
        return cgdml_error_wrap(CGDML_ERR_INVALID, "ensemble: members by CG");
    if (o->folds < 2 && (o->n_sigma1_grid || o->n_sigma2_grid || o->n_lambda2_grid))
        return cgdml_error_set(CGDML_ERR_INVALID, "ensemble: cross-validation needs 2 folds or more");
    return CGDML_OK;
}

/* σ₁ (and λ) by cross-validation over the grid, when one is given.  λ values come
 * from lambda_grid (absolute, or times the kernel diagonal 5/(3σ²) of each σ₁ with
 * lambda_relative, so each row of the table regularises alike), else layer1.lambda. */
static cgdml_status choose_sigma1(const cgdml_dataset *d, const cgdml_ensemble_options *o,
                                  const cgdml_strata *bins, cgdml_ensemble *e,
                                  cgdml_layer1_options *l1)
{
    if (!o->n_sigma1_grid)
        return CGDML_OK;
    size_t n_l = o->n_lambda_grid ? o->n_lambda_grid : 1;
    e->n_cv1 = o->n_sigma1_grid * n_l;
    e->cv1 = calloc(e->n_cv1, sizeof *e->cv1);
    if (!e->cv1)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the CV table");
    note(o, "cross-validating %zu sigma1 x %zu lambda values%s over %zu folds of members\n",
         o->n_sigma1_grid, n_l, o->lambda_relative ? " (relative to the kernel diagonal)" : "",
         o->folds);
    cgdml_layer1_options quiet = *l1; /* the CV's members train without progress */
    quiet.progress = NULL;
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < o->n_sigma1_grid; i++) {
        double lambdas[CGDML_ENSEMBLE_GRID_MAX] = {l1->lambda};
        double scale = o->lambda_relative ? cgdml_crossval_kernel_diagonal(o->sigma1_grid[i]) : 1.0;
        for (size_t k = 0; k < o->n_lambda_grid; k++)
            lambdas[k] = o->lambda_grid[k] * scale;
        s = cgdml_crossval_layer1(d, e->strata, o->select_raw ? NULL : bins ? bins : e->strata,
                                  e->prior, &quiet, &o->sigma1_grid[i], 1, lambdas, n_l, o->folds,
                                  e->cv1 + i * n_l);
    }
    if (s)
        return s;
    e->best_cv1 = cgdml_crossval_best_binned(e->cv1, e->n_cv1);
    if (o->crossval_done)
        o->crossval_done(o->ctx, 1, e->cv1, e->n_cv1, e->best_cv1);
    warn_edges(o, e->best_cv1, o->n_sigma1_grid, n_l, "sigma1");
    l1->sigma1 = e->cv1[e->best_cv1].sigma;
    l1->lambda = e->cv1[e->best_cv1].lambda;
    return CGDML_OK;
}

static cgdml_status layer1(const cgdml_dataset *d, const cgdml_ensemble_options *o,
                           cgdml_ensemble *e, cgdml_layer1_options *l1)
{
    e->members = calloc(l1->n_members, sizeof *e->members);
    if (!e->members)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate members");
    e->n_members = l1->n_members;
    note(o, "layer 1: %zu member%s of %zu frames%s, sigma1 %g, lambda %g\n", l1->n_members,
         l1->n_members == 1 ? "" : "s", l1->n_train,
         l1->solver == CGDML_SOLVER_CG ? " (conjugate gradients)" : "", l1->sigma1, l1->lambda);
    l1->n_resumed = &e->n_resumed;
    cgdml_status s = cgdml_ensemble_train_members(d, e->strata, e->prior, l1, e->members);
    l1->n_resumed = NULL;
    for (size_t k = 0; !s && k < l1->n_members; k++)
        e->n_trained += e->members[k] != NULL;
    if (!s && e->n_resumed)
        note(o, "layer 1: %zu of %zu members taken from %s (cross-validation or --resume)\n",
             e->n_resumed, l1->n_shards ? e->n_trained : l1->n_members, l1->checkpoint);
    if (s || l1->n_shards) /* a shard stops here: its members are in the folder */
        return s;
    return cgdml_ensemble_average(e->members, l1->n_members, &e->average);
}

/* λ₂ of a σ₂: lambda2 (times the kernel diagonal with lambda2_relative), or the
 * members' λ. */
static double lambda2_of(const cgdml_ensemble_options *o, double v, double sigma2)
{
    if (!o->lambda2_relative)
        return v;
    return v * cgdml_crossval_kernel_diagonal(sigma2);
}

/* σ₂ and λ₂: fixed, or by cross-validation over folds of the mean set against the
 * average's labels, every σ₂ (grid, else the single σ₂) with every λ₂ (grid, else
 * the single λ₂); the table is σ₂-major, as cgdml_crossval_edges reads it. */
static cgdml_status choose_layer2(const cgdml_dataset *d, const cgdml_ensemble_options *o,
                                  cgdml_ensemble *e)
{
    e->sigma2 = o->sigma2_same ? e->sigma1 : o->sigma2;
    e->lambda2 = o->lambda2 > 0 ? lambda2_of(o, o->lambda2, e->sigma2) : e->lambda;
    if (!o->n_sigma2_grid && !o->n_lambda2_grid)
        return CGDML_OK;
    const double *sigmas = o->n_sigma2_grid ? o->sigma2_grid : &e->sigma2;
    size_t n_s = o->n_sigma2_grid ? o->n_sigma2_grid : 1;
    size_t n_l = o->n_lambda2_grid ? o->n_lambda2_grid : 1;
    e->n_cv2 = n_s * n_l;
    e->cv2 = calloc(e->n_cv2, sizeof *e->cv2);
    if (!e->cv2)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the CV table");
    note(o, "cross-validating %zu sigma2 x %zu lambda2 values%s over %zu folds of the mean set\n",
         n_s, n_l, o->n_lambda2_grid && o->lambda2_relative ? " (relative to the kernel diagonal)"
                                                             : "",
         o->folds);
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < n_s; i++)
        for (size_t k = 0; !s && k < n_l; k++) {
            double lambda2 = o->n_lambda2_grid ? lambda2_of(o, o->lambda2_grid[k], sigmas[i])
                                               : e->lambda2;
            s = cgdml_crossval_layer2(e->average, d, e->mean_set, e->n_mean_set, &sigmas[i], 1,
                                      lambda2, o->layer1.precision, o->folds,
                                      &e->cv2[i * n_l + k]);
        }
    if (s)
        return s;
    e->best_cv2 = cgdml_crossval_best(e->cv2, e->n_cv2);
    if (o->crossval_done)
        o->crossval_done(o->ctx, 2, e->cv2, e->n_cv2, e->best_cv2);
    warn_edges(o, e->best_cv2, n_s, n_l, "sigma2");
    e->sigma2 = e->cv2[e->best_cv2].sigma;
    e->lambda2 = e->cv2[e->best_cv2].lambda;
    return CGDML_OK;
}

static cgdml_status layer2(const cgdml_dataset *d, const cgdml_ensemble_options *o,
                           cgdml_ensemble *e)
{
    size_t max = CGDML_ENSEMBLE_MEAN_SET_MAX;
    e->n_mean_set = o->mean_set ? o->mean_set : e->strata->n_strata < max ? e->strata->n_strata
                                                                          : max;
    cgdml_status s = cgdml_strata_draw(e->strata, CGDML_DRAW_STRATIFIED_UNIQUE, e->n_mean_set,
                                       o->layer1.seed + o->layer1.n_members + 1, &e->mean_set);
    if (!s)
        s = choose_layer2(d, o, e);
    if (!s && o->layer2_solve)
        note(o,
             "layer 2: mean set of %zu frames, sigma2 %g, lambda2 %g: order %zu, by the "
             "given solve (MPI build: ScaLAPACK across the ranks)\n",
             e->n_mean_set, e->sigma2, e->lambda2, 3 * d->n_beads * e->n_mean_set);
    else if (!s)
        note(o, "layer 2: mean set of %zu frames, sigma2 %g, lambda2 %g: training needs %.2f GB\n",
             e->n_mean_set, e->sigma2, e->lambda2,
             (double)cgdml_model_train_peak_bytes(e->n_mean_set, d->n_beads, e->sigma2,
                                                  e->lambda2, o->layer1.precision) / 1e9);
    if (!s)
        s = cgdml_ensemble_distill_with(e->average, d, e->mean_set, e->n_mean_set, e->sigma2,
                                        e->lambda2, o->layer1.precision, o->layer2_solve,
                                        o->layer2_ctx, &e->distilled);
    return s;
}

static cgdml_status finish(cgdml_ensemble *e)
{
    cgdml_status s = e->prior ? cgdml_model_attach_prior(e->average, e->prior) : CGDML_OK;
    if (!s && e->prior)
        s = cgdml_model_attach_prior(e->distilled, e->prior);
    if (!s)
        s = record_cv(e->distilled, 1, e->cv1, e->n_cv1);
    if (!s)
        s = record_cv(e->distilled, 2, e->cv2, e->n_cv2);
    return s;
}

cgdml_status cgdml_ensemble_build(const cgdml_dataset *data, const cgdml_ensemble_options *opt,
                                  cgdml_ensemble **out)
{
    *out = NULL;
    cgdml_status s = check_options(data, opt);
    if (s)
        return s;
    cgdml_ensemble *e = calloc(1, sizeof *e);
    if (!e)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate an ensemble");
    cgdml_layer1_options l1 = opt->layer1;
    cgdml_strata *bins = NULL;
    s = cgdml_strata_build(data, &opt->strata, 0, &e->strata);
    if (!s && opt->n_sigma1_grid && !opt->select_raw)
        s = opt->strata.kmeans ? CGDML_OK : cgdml_strata_build(data, &opt->strata, CGDML_CROSSVAL_BINNED_BINS, &bins);
    if (!s)
        note(opt, "%zu frames in %zu occupied strata%s\n", e->strata->n_pool, e->strata->n_strata,
             e->strata->n_pool < data->n_frames ? " (the others excluded)" : "");
    if (!s && opt->use_prior)
        s = cgdml_prior_copy(opt->use_prior, &e->prior);
    else if (!s && opt->prior)
        s = cgdml_prior_fit_topology(data, opt->bonds, opt->n_bonds, opt->temperature, &e->prior);
    if (s == CGDML_OK && l1.checkpoint && !opt->resume && !l1.n_shards &&
        cgdml_ensemble_checkpoint_has_shards(l1.checkpoint))
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "%s holds members trained by shards (%s): collect them with resume "
                            "(--resume), or remove the folder to start again",
                            l1.checkpoint, CGDML_SHARD_MANIFEST);
    else if (s == CGDML_OK && l1.checkpoint && !opt->resume && !l1.n_shards)
        s = cgdml_atomic_remove_tree(l1.checkpoint);
    if (!s)
        s = choose_sigma1(data, opt, bins, e, &l1);
    e->sigma1 = l1.sigma1;
    e->lambda = l1.lambda;
    if (!s)
        s = layer1(data, opt, e, &l1);
    if (!s && !l1.n_shards)
        s = layer2(data, opt, e);
    if (!s && !l1.n_shards)
        s = finish(e);
    cgdml_strata_free(bins);
    if (s)
        cgdml_ensemble_free(e);
    else
        *out = e;
    return s;
}
