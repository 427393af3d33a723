/* pipeline.c - the whole pipeline in one call (see cgdml/pipeline.h): reference,
 * ensemble, simulation, landscape, each stage a library call in memory.
 */
#include "cgdml/pipeline.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/clock.h"
#include "cgdml/crossval.h"

void cgdml_pipeline_options_init(cgdml_pipeline_options *o)
{
    memset(o, 0, sizeof *o);
    cgdml_ensemble_options_init(&o->ensemble);
    o->sigma1_grid[0] = CGDML_PIPELINE_SIGMA1;
    o->lambda_grid[0] = CGDML_PIPELINE_LAMBDA_REL;
    cgdml_layer1_options *l1 = &o->ensemble.layer1;
    l1->n_members = CGDML_PIPELINE_MEMBERS;
    l1->n_train = CGDML_PIPELINE_N_TRAIN;
    l1->solver = CGDML_PIPELINE_SOLVER;
    l1->draw = CGDML_PIPELINE_DRAW;
    l1->sigma1 = CGDML_PIPELINE_SIGMA1;
    l1->lambda = CGDML_PIPELINE_LAMBDA_REL * cgdml_crossval_kernel_diagonal(l1->sigma1);
    o->ensemble.lambda_relative = 1; /* for a grid, if the caller sets one */
    o->ensemble.sigma2_same = 1;
    o->ensemble.lambda2 = CGDML_PIPELINE_LAMBDA2_REL;
    o->ensemble.lambda2_relative = 1;
    o->ensemble.mean_set = CGDML_PIPELINE_MEAN_SET;
    o->replicas = CGDML_PIPELINE_REPLICAS;
    o->start = CGDML_START_EQUILIBRIUM;
    cgdml_simulate_options_init(&o->simulate);
    o->simulate.n_steps = CGDML_PIPELINE_STEPS;
    o->simulate.save_every = CGDML_PIPELINE_SAVE_EVERY;
    o->burn_in = SIZE_MAX;
    o->bins = CGDML_FES_DEFAULT_BINS;
    cgdml_pipeline_options_seed(o, 1);
}

void cgdml_pipeline_options_seed(cgdml_pipeline_options *o, unsigned long seed)
{
    o->seed = seed;
    o->ensemble.layer1.seed = seed;
    o->ensemble.strata.seed = seed;
    o->simulate.seed = seed;
}

void cgdml_pipeline_free(cgdml_pipeline *p)
{
    if (!p)
        return;
    cgdml_fes_reference_free(p->reference);
    cgdml_ensemble_free(p->ensemble);
    cgdml_trajectory_free(p->trajectory);
    cgdml_fes_assessment_free(&p->landscape);
    free(p);
}

cgdml_status cgdml_pipeline_run(const cgdml_dataset *data, const cgdml_pipeline_options *opt,
                                cgdml_pipeline **out)
{
    *out = NULL;
    cgdml_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a pipeline");
    cgdml_ensemble_options eo = opt->ensemble;
    size_t members = eo.layer1.n_members, steps = opt->simulate.n_steps;
    if (!eo.folds || eo.folds > members) /* folds of members: at most one per member */
        eo.folds = members < CGDML_CROSSVAL_DEFAULT_FOLDS ? members : CGDML_CROSSVAL_DEFAULT_FOLDS;
    size_t burn_in = opt->burn_in != SIZE_MAX ? opt->burn_in
                     : steps >= 3 * (size_t)CGDML_PIPELINE_BURN_IN ? CGDML_PIPELINE_BURN_IN
                                                                    : steps / 3;
    cgdml_dataset *frames = NULL;
    cgdml_status s = CGDML_OK;
    for (int k = 0; !s && k < CGDML_N_STAGES; k++) {
        if (opt->stage_begin)
            opt->stage_begin(opt->ctx, (cgdml_pipeline_stage)k);
        double t0 = cgdml_clock_wall_seconds();
        switch (k) {
        case CGDML_STAGE_REFERENCE:
            s = cgdml_fes_reference_compute(data, NULL, NULL, opt->bins, &p->reference);
            break;
        case CGDML_STAGE_ENSEMBLE: s = cgdml_ensemble_build(data, &eo, &p->ensemble); break;
        case CGDML_STAGE_SIMULATION:
            s = cgdml_simulate_dataset(p->ensemble->distilled, data, opt->replicas, opt->start,
                                       &opt->simulate, &p->trajectory);
            break;
        default:
            s = cgdml_trajectory_to_dataset(p->trajectory, data, NULL, NULL, &frames);
            if (!s)
                s = cgdml_fes_assess(frames, (int64_t)burn_in, opt->bins, NULL, NULL,
                                     p->reference, opt->seed, &p->landscape);
        }
        p->seconds[k] = cgdml_clock_wall_seconds() - t0;
        if (!s && opt->stage_end)
            s = opt->stage_end(opt->ctx, (cgdml_pipeline_stage)k, p);
    }
    cgdml_dataset_free(frames);
    if (s)
        cgdml_pipeline_free(p);
    else
        *out = p;
    return s;
}
