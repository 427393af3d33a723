/* test_pipeline.c - the whole pipeline on a subset of the shipped alanine
 * dipeptide data: strata, prior, layer 1, layer 2, CG simulation, landscape.
 * The metric against the all-atom reference must be finite and below a bound
 * that the same model with the wrong sign of its learned force exceeds.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml.h"

/* Landscape MSE (kT²) that separates a learned model from a broken one on this
 * short run (equilibrium starts, the first quarter of the steps discarded):
 * measured 1.46 for the learned model, 3.91 for the prior alone and 0.19 over the
 * few joint bins of the model with its learned force reversed, which puts 0.997 of
 * its population where the reference never goes (2 threads). */
#define PIPELINE_BOUND_KT2 3.1
/* The prior alone puts much of its population where the reference never goes
 * (0.67 here, 0.66 in a 100 x 300,000-step run); the learned model 0.007. */
#define PIPELINE_EXTRA_BOUND 0.25

static cgdml_dataset *data;
static cgdml_model *distilled;
static cgdml_fes *reference;

/* A model trained on 20000 frames of the shipped data: 4 members of 150 frames,
 * σ₁ = σ₂ = 1, a mean set of 300 frames. */
static void build_model(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/datasets/ala2_cg6.h5", getenv("CGDML_SRC"));
    cgdml_dataset *all;
    cr_assert_eq(cgdml_h5md_read(path, NULL, &all), CGDML_OK, "%s", cgdml_error_message());
    size_t *idx;
    cr_assert_eq(cgdml_sample_random(all->n_frames, 20000, 3, &idx), CGDML_OK);
    cr_assert_eq(cgdml_dataset_subset(all, idx, 20000, &data), CGDML_OK);
    double *phi = malloc(all->n_frames * sizeof(double)), *psi = malloc(all->n_frames * 8);
    cr_assert_eq(cgdml_fes_angles(all, NULL, NULL, phi, psi), CGDML_OK);
    cr_assert_eq(cgdml_fes_from_angles(phi, psi, all->n_frames, 60, &reference), CGDML_OK);
    free(phi);
    free(psi);
    free(idx);
    cgdml_dataset_free(all);

    cgdml_collective cvs[2];
    cgdml_strata *strata;
    cgdml_prior *prior;
    cr_assert_eq(cgdml_collective_default_phi_psi(6, 300, cvs), CGDML_OK);
    cr_assert_eq(cgdml_strata_from_cvs(data, cvs, 2, &strata), CGDML_OK);
    cr_assert_eq(cgdml_prior_fit(data, NULL, data->n_frames, data->n_bonds, data->bonds, 300.0,
                                 &prior),
                 CGDML_OK, "%s", cgdml_error_message());
    cgdml_layer1_options opt = {.n_members = 4, .n_train = 150, .sigma1 = 1.0, .lambda = 1e-3,
                                .draw = CGDML_DRAW_STRATIFIED, .seed = 5, .side_by_side = -1};
    cgdml_model *members[4], *average;
    cr_assert_eq(cgdml_ensemble_train_members(data, strata, prior, &opt, members), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_average(members, 4, &average), CGDML_OK);
    size_t *mean_set;
    cr_assert_eq(cgdml_strata_draw(strata, CGDML_DRAW_STRATIFIED_UNIQUE, 300, 9, &mean_set), 0);
    cr_assert_eq(cgdml_model_attach_prior(average, prior), CGDML_OK);
    cr_assert_eq(cgdml_ensemble_distill(average, data, mean_set, 300, 1.0, 1e-3, CGDML_PRECISION_DOUBLE,
                                        &distilled),
                 CGDML_OK, "%s", cgdml_error_message());
    cr_assert_not_null(distilled->prior, "the distilled model carries the prior");
    for (int k = 0; k < 4; k++)
        cgdml_model_free(members[k]);
    cgdml_model_free(average);
    cgdml_prior_free(prior);
    cgdml_strata_free(strata);
    free(mean_set);
}

static void free_model(void)
{
    cgdml_model_free(distilled);
    cgdml_dataset_free(data);
    cgdml_fes_free(reference);
}

/* The model's force with its learned (kernel) part reversed, prior kept. */
static cgdml_status wrong_sign_forces(void *ctx, size_t n, const double *x, double *f)
{
    cgdml_model kernel = *(const cgdml_model *)ctx;
    kernel.prior = NULL;
    cgdml_status s = cgdml_model_predict(&kernel, n, x, f, NULL);
    for (size_t i = 0; i < n * 18; i++)
        f[i] = -f[i];
    for (size_t r = 0; !s && r < n; r++)
        cgdml_prior_add_forces(distilled->prior, x + r * 18, f + r * 18);
    return s;
}

/* The prior alone: the negative control (docs/method.md §6). */
static cgdml_status prior_only_forces(void *ctx, size_t n, const double *x, double *f)
{
    (void)ctx;
    memset(f, 0, n * 18 * sizeof(double));
    for (size_t r = 0; r < n; r++)
        cgdml_prior_add_forces(distilled->prior, x + r * 18, f + r * 18);
    return CGDML_OK;
}

/* Landscape MSE against the reference of 40 replicas x 20000 steps started from
 * data frames, after a burn-in of 5000 steps; *extra: the model's population in
 * bins the reference never visits. */
static double landscape_mse(cgdml_force_fn force, double *extra)
{
    size_t *start_idx;
    cr_assert_eq(cgdml_sample_random(data->n_frames, 40, 11, &start_idx), CGDML_OK);
    double *start = malloc(40 * 18 * sizeof(double));
    for (size_t r = 0; r < 40; r++)
        memcpy(start + r * 18, data->coords + start_idx[r] * 18, 18 * sizeof(double));
    cgdml_simulate_options opt;
    cgdml_simulate_options_init(&opt);
    opt.n_steps = 20000;
    opt.save_every = 200;
    opt.prior = distilled->prior;
    cgdml_trajectory *t;
    cr_assert_eq(cgdml_simulate_run(force, distilled, 40, 6, start, &opt, &t), CGDML_OK, "%s",
                 cgdml_error_message());
    size_t n = t->n_saved * t->n_replicas, skip = t->n_saved / 4 * t->n_replicas;
    double *phi = malloc(n * sizeof(double)), *psi = malloc(n * sizeof(double));
    cr_assert_eq(cgdml_trajectory_angles(t, NULL, NULL, phi, psi), CGDML_OK);
    cgdml_fes *model; /* frames are [saved][replica]: the burn-in is a prefix */
    cgdml_fes_comparison c;
    cr_assert_eq(cgdml_fes_from_angles(phi + skip, psi + skip, n - skip, 60, &model), CGDML_OK);
    double mse = INFINITY; /* every replica blown up: as far from the reference as it gets */
    *extra = 1.0;
    if (model->n_samples > 0 && cgdml_fes_compare(model, reference, &c) == CGDML_OK) {
        mse = c.mse;
        *extra = c.extra;
    }
    cgdml_fes_free(model);
    cgdml_trajectory_free(t);
    free(phi);
    free(psi);
    free(start);
    free(start_idx);
    return mse;
}

TestSuite(pipeline, .init = build_model, .fini = free_model, .timeout = 300);

Test(pipeline, learned_model_beats_the_bound_that_the_wrong_sign_exceeds)
{
    double extra_good, extra_bad;
    double good = landscape_mse(cgdml_simulate_model_forces, &extra_good);
    double bad = landscape_mse(wrong_sign_forces, &extra_bad);
    cr_log_info("learned %g kT^2 (extra %g), reversed %g kT^2 (extra %g)", good, extra_good, bad,
                extra_bad);
    cr_assert(isfinite(good), "landscape MSE %g", good);
    cr_assert_lt(good, PIPELINE_BOUND_KT2, "learned model: %g kT^2", good);
    cr_assert_lt(extra_good, PIPELINE_EXTRA_BOUND, "learned model: %g outside", extra_good);
    /* After the burn-in the reversed model has left the reference's bins (measured:
     * 0.997 of its population outside), where the MSE, over joint bins only, cannot
     * see it: it must fail one of the two. */
    cr_assert(bad > PIPELINE_BOUND_KT2 || extra_bad > PIPELINE_EXTRA_BOUND,
              "wrong sign: %g kT^2, %g outside (learned %g, %g)", bad, extra_bad, good,
              extra_good);
}

/* The negative control: under the same protocol the prior alone scores clearly
 * worse, both in MSE and in population where the reference never goes. */
Test(pipeline, prior_alone_scores_clearly_worse_than_the_learned_model)
{
    double extra_good, extra_prior;
    double good = landscape_mse(cgdml_simulate_model_forces, &extra_good);
    double prior = landscape_mse(prior_only_forces, &extra_prior);
    cr_log_info("learned %g kT^2 (extra %g), prior alone %g kT^2 (extra %g)", good, extra_good,
                prior, extra_prior);
    cr_assert_lt(good, PIPELINE_BOUND_KT2, "learned model: %g kT^2", good);
    cr_assert_gt(prior, PIPELINE_BOUND_KT2, "prior alone: %g kT^2 (learned %g)", prior, good);
    cr_assert_lt(extra_good, PIPELINE_EXTRA_BOUND, "learned model: %g outside", extra_good);
    cr_assert_gt(extra_prior, PIPELINE_EXTRA_BOUND, "prior alone: %g outside (learned %g)",
                 extra_prior, extra_good);
}

/* ---- the whole pipeline as one library call (pipeline.h) ---- */

typedef struct {
    int begun[CGDML_N_STAGES], ended[CGDML_N_STAGES], order, stop_at;
} stage_log;

static void log_begin(void *ctx, cgdml_pipeline_stage stage)
{
    stage_log *l = ctx;
    l->begun[stage] = ++l->order;
}

static cgdml_status log_end(void *ctx, cgdml_pipeline_stage stage, const cgdml_pipeline *p)
{
    stage_log *l = ctx;
    l->ended[stage] = ++l->order;
    cr_assert_not_null(p->reference);
    if ((int)stage == l->stop_at)
        return cgdml_error_set(CGDML_ERR_IO, "stopped at stage %d", l->stop_at);
    return CGDML_OK;
}

/* cgdml_pipeline_run's stages run in order, each reported before the next
 * begins; the result holds the reference (floor as cgdml_fes_reference_compute
 * gives it), the ensemble with its CV row, the trajectory and a finite landscape;
 * a stage_end that fails stops the pipeline with its status and nothing is left. */
Test(pipeline_call, runs_the_stages_in_order_and_stops_on_a_failed_stage, .timeout = 300)
{
    char path[600];
    snprintf(path, sizeof path, "%s/datasets/ala2_cg6.h5", getenv("CGDML_SRC"));
    cgdml_dataset *all, *part;
    size_t idx[20000];
    cr_assert_eq(cgdml_h5md_read(path, NULL, &all), CGDML_OK, "%s", cgdml_error_message());
    for (size_t i = 0; i < 20000; i++)
        idx[i] = i; /* a stretch in time order, as the reference's halves need */
    cr_assert_eq(cgdml_dataset_subset(all, idx, 20000, &part), CGDML_OK);
    cgdml_dataset_free(all);

    cgdml_pipeline_options o;
    cgdml_pipeline_options_init(&o);
    cr_assert_eq(o.ensemble.layer1.n_members, 1);
    cr_assert_eq(o.ensemble.layer1.n_train, 30000);
    cr_assert_eq(o.ensemble.layer1.solver, CGDML_SOLVER_CG);
    cr_assert_eq(o.ensemble.layer1.draw, CGDML_DRAW_RANDOM);
    cr_assert_eq(o.simulate.n_steps, 300000);
    cr_assert_eq(o.ensemble.n_sigma1_grid, 0, "sigma1 and lambda fixed");
    cr_assert_float_eq(o.ensemble.layer1.sigma1, 0.25, 0.0);
    cr_assert_float_eq(o.ensemble.layer1.lambda, 1e-3 * 5.0 / (3.0 * 0.0625), 1e-15);
    cr_assert(o.ensemble.lambda2_relative && o.ensemble.sigma2_same);
    cr_assert_float_eq(o.ensemble.lambda2, 1e-4, 0.0);
    o.ensemble.layer1.n_train = 100;
    o.ensemble.layer1.n_members = 2;
    o.ensemble.mean_set = 100;
    o.replicas = 4;
    o.simulate.n_steps = 600;
    o.simulate.save_every = 10;
    stage_log log = {.stop_at = -1};
    o.stage_begin = log_begin;
    o.stage_end = log_end;
    o.ctx = &log;
    cgdml_pipeline *p = NULL;
    cr_assert_eq(cgdml_pipeline_run(part, &o, &p), CGDML_OK, "%s", cgdml_error_message());
    for (int k = 0; k < CGDML_N_STAGES; k++)
        cr_assert(log.begun[k] == 2 * k + 1 && log.ended[k] == 2 * k + 2, "stage %d", k);
    cgdml_fes_reference *ref;
    cr_assert_eq(cgdml_fes_reference_compute(part, NULL, NULL, 60, &ref), CGDML_OK);
    cr_assert_float_eq(p->reference->halves.mse, ref->halves.mse, 0.0);
    cr_assert_float_eq(p->landscape.floor, ref->halves.mse, 0.0);
    cr_assert_eq(p->ensemble->distilled->cv_rows, 0, "sigma1 and lambda fixed: no CV");
    cr_assert_float_eq(p->ensemble->lambda2, 1e-4 * 5.0 / (3.0 * 0.0625), 1e-15);
    cr_assert_eq(p->ensemble->n_members, 2);
    cr_assert_eq(p->trajectory->n_replicas, 4);
    cr_assert(p->landscape.has_reference && isfinite(p->landscape.vs.mse) &&
                  p->landscape.vs.mse > 0,
              "landscape MSE %g", p->landscape.vs.mse);
    cgdml_fes_reference_free(ref);
    cgdml_pipeline_free(p);

    stage_log stop = {.stop_at = CGDML_STAGE_ENSEMBLE};
    o.ctx = &stop;
    p = (cgdml_pipeline *)&o;
    cr_assert_eq(cgdml_pipeline_run(part, &o, &p), CGDML_ERR_IO);
    cr_assert_null(p);
    cr_assert_eq(stop.begun[CGDML_STAGE_SIMULATION], 0, "no stage after the failed one");
    cgdml_dataset_free(part);
}
