/* cmd_run.c - `cgdml run` (what `make run` calls): the whole pipeline on a dataset,
 * into one run folder.
 *
 *   reference landscape -> two-layer ensemble (σ₁ by cross-validation) ->
 *   CG simulation with the distilled model -> landscape and comparison ->
 *   plot (scripts/plot_fes.py, if Python's matplotlib is there) -> report.md
 *
 * The stages are library calls in memory (the dataset read once, the reference
 * computed once), through the helpers the commands share (common.c); report.md
 * lists the equivalent command lines, so any stage can be rerun by hand.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The defaults are the library's CGDML_PIPELINE_* (pipeline.h), chosen by
 * measurement on the shipped data (README, "How make run's defaults were chosen")
 * and sized to finish well under 15 minutes on 2 cores: one member of 30,000 frames
 * solved by CG at λ = 1e-3 of the kernel diagonal 5/(3σ²), σ₁ = 0.25, distilled at
 * λ₂ = 1e-4 of the diagonal.  --members, --n-train, --solver and --draw change
 * layer 1 (e.g. --members 8 --n-train 1000 --solver cholesky --draw stratified,
 * the paper's members).  Burn-in: cli_default_burn_in. */
typedef struct {
    char dir[CGDML_PATH_MAX];
    char reference[CGDML_PATH_MAX], model[CGDML_PATH_MAX], average[CGDML_PATH_MAX];
    char traj[CGDML_PATH_MAX], fes[CGDML_PATH_MAX], png[CGDML_PATH_MAX];
    char report[CGDML_PATH_MAX];
    double seconds[5]; /* reference, ensemble, simulate, fes, plot */
    cli_simulate_summary sim;
    cli_fes_summary fes_sum;
    int plotted;
    const cli_options *o;     /* the stages' options */
    cgdml_dataset *data;      /* while the stages run */
    char checkpoint[CGDML_PATH_MAX + 16];
    cli_members_progress members;
    cli_step_progress steps;
} run_state;

static void set_paths(run_state *r, const char *dir)
{
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    snprintf(r->reference, sizeof r->reference, "%s/reference.h5", dir);
    snprintf(r->model, sizeof r->model, "%s/model.h5", dir);
    snprintf(r->average, sizeof r->average, "%s/model.average.h5", dir);
    snprintf(r->traj, sizeof r->traj, "%s/traj.h5", dir);
    snprintf(r->fes, sizeof r->fes, "%s/fes.h5", dir);
    snprintf(r->png, sizeof r->png, "%s/landscapes.png", dir);
    snprintf(r->report, sizeof r->report, "%s/report.md", dir);
}

/* The options of every stage, from `cgdml run`'s own. */
static void stage_options(const cli_options *run, const run_state *r, cli_options *o)
{
    cli_options_defaults(o);
    o->data = run->data;
    o->seed = run->seed;
    o->members = run->members;
    o->have_n_train = 1;
    o->n_train = run->n_train;
    o->solver = run->solver;
    o->draw = run->draw;
    o->have_sigma1 = 1;
    o->sigma1 = CGDML_PIPELINE_SIGMA1;
    o->lambda = CGDML_PIPELINE_LAMBDA_REL * cgdml_crossval_kernel_diagonal(o->sigma1);
    o->have_lambda = 1;
    o->have_sigma2 = 1;
    o->sigma2_same = 1;
    o->have_lambda2 = 1;
    o->lambda2 = CGDML_PIPELINE_LAMBDA2_REL;
    o->lambda2_rel = 1;
    o->mean_set = run->mean_set;
    o->model = r->model;
    o->replicas = run->replicas;
    o->steps = run->steps;
    o->save_every = run->save_every;
    o->traj = r->traj;
    o->reference = run->data;
    o->start = run->start;
    o->burn_in = run->burn_in;
    o->precision = run->precision;
}

/* scripts/plot_fes.py, if Python's matplotlib is there. */
static void stage_plot(run_state *r)
{
    char args[4 * CGDML_PATH_MAX];
    snprintf(args, sizeof args, "'%s' '%s' -o '%s' --title 'alanine dipeptide: all-atom vs CG "
             "(cgdml)'",
             r->reference, r->fes, r->png);
    double t0 = cgdml_clock_wall_seconds();
    r->plotted = cli_python_script("plot_fes.py", args);
    r->seconds[4] = cgdml_clock_wall_seconds() - t0;
    if (!r->plotted)
        cli_note("run: no plot (needs /usr/bin/python3 with matplotlib; make deps python)\n");
}

/* The model's CV table and hyperparameters, as a Markdown table. */
static void report_model(FILE *f, const cgdml_model *m)
{
    if (m->cv_rows)
        fprintf(f, "| layer | sigma (1/Å) | lambda | held-out force MSE (kcal/mol/Å)² | ± | "
                   "binned error (kcal/mol/Å)² |\n"
                   "| --- | --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < m->cv_rows; i++) {
        const double *row = m->cv_table + i * CGDML_CV_COLUMNS;
        fprintf(f, "| %.0f | %.4g | %.3g | %.3f | %.3f | %.4g |\n%s", row[0], row[1], row[2],
                row[3], row[4], row[6], i + 1 == m->cv_rows ? "\n" : "");
    }
    fprintf(f, "Distilled model: %zu training frames, sigma2 %.4g, lambda %.3g; prior: %zu "
               "bonds, %zu angles.\n",
            m->n_train, m->sigma, m->lambda, m->prior ? m->prior->n_bonds : 0,
            m->prior ? m->prior->n_angles : 0);
}

/* --draw's values, in the order of cli_options.draw */
static const char *const draw_names[] = {"stratified", "random", "partition"};

static void report_commands(FILE *f, const cli_options *run, const run_state *r)
{
    fprintf(f, "```sh\n");
    fprintf(f, "cgdml fes-reference --data %s -o %s\n", run->data, r->reference);
    fprintf(f, "cgdml ensemble --data %s --members %zu --n-train %zu --draw %s --solver %s "
               "--sigma1 %g --lambda %.17g --sigma2 same --lambda2-rel %g --mean-set %zu "
               "--seed %lu -o %s\n",
            run->data, run->members, run->n_train, draw_names[run->draw],
            run->solver == CGDML_SOLVER_CG ? "cg" : "cholesky", CGDML_PIPELINE_SIGMA1,
            CGDML_PIPELINE_LAMBDA_REL * cgdml_crossval_kernel_diagonal(CGDML_PIPELINE_SIGMA1),
            CGDML_PIPELINE_LAMBDA2_REL, run->mean_set, run->seed, r->model);
    fprintf(f, "cgdml simulate --model %s --data %s --replicas %zu --steps %zu --save-every %zu "
               "--seed %lu --start %s -o %s\n",
            r->model, run->data, run->replicas, run->steps, run->save_every, run->seed,
            cli_start_names[run->start], r->traj);
    fprintf(f, "cgdml fes --traj %s --reference %s --burn-in %zu -o %s\n", r->traj, run->data,
            run->burn_in, r->fes);
    fprintf(f, "/usr/bin/python3 scripts/plot_fes.py %s %s -o %s\n```\n", r->reference, r->fes,
            r->png);
}

static int write_report(const cli_options *run, const run_state *r, const cgdml_model *m,
                        double total)
{
    cgdml_atomic a;
    FILE *f;
    cgdml_status s = cgdml_atomic_fopen(&a, r->report, &f);
    if (s)
        return cli_fail(s);
    const cli_fes_summary *fs = &r->fes_sum;
    fprintf(f, "# cgdml run on %s\n\nWhole pipeline: %.0f s (reference %.0f s, ensemble "
               "%.0f s, simulation %.0f s, landscape %.0f s, plot %.0f s).\n\n",
            run->data, total, r->seconds[0], r->seconds[1], r->seconds[2], r->seconds[3],
            r->seconds[4]);
    fprintf(f, "## Free-energy landscape\n\n| measure | value |\n| --- | --- |\n"
               "| MSE vs all-atom reference (kT², joint bins, best shift) | %.4f |\n"
               "| the same, bins weighted by reference population (kT²) | %.4f |\n"
               "| reference floor, half against half (kT²) | %.4f |\n"
               "| floor matched to this run's size and correlation (kT²) | %.4f ± %.4f |\n"
               "| convergence: first vs second half of the production steps (kT²) | %.4f |\n"
               "| KL(reference ‖ model) over joint bins | %.4f |\n"
               "| reference population in bins the model never visits | %.4f |\n"
               "| model population in bins the reference never visits | %.4f |\n"
               "| jointly populated bins (of %zu²) | %zu |\n"
               "| CG frames histogrammed (after a burn-in of %zu steps) | %zu |\n\n",
            fs->vs.mse, fs->vs.mse_weighted, fs->floor, fs->matched.floor, fs->matched.floor_sd,
            fs->halves.mse, fs->vs.kl,
            fs->vs.missing, fs->vs.extra, run->bins, fs->vs.joint_bins, run->burn_in,
            fs->samples);
    if (r->plotted)
        fprintf(f, "![landscapes](landscapes.png)\n\n");
    fprintf(f, "## Simulation\n\n%zu replicas x %zu steps (overdamped, dt %g ps, D %g Å²/ps, "
               "300 K), started from %s; %zu stopped; %.0f force evaluations/s.\n\n",
            r->sim.replicas, run->steps, run->dt, run->diffusion,
            run->start == CGDML_START_STRATA ? "one data frame per phi/psi stratum"
                                             : "data frames drawn with the data's weights",
            r->sim.stopped, r->sim.evaluations_per_s);
    fprintf(f, "## Ensemble\n\n%zu member%s of %zu frames (%s, solved by %s)",
            run->members, run->members == 1 ? "" : "s", run->n_train,
            run->draw == 1   ? "drawn with the data's weights"
            : run->draw == 2 ? "a partition of the frames"
                             : "drawn over the phi/psi strata",
            run->solver == CGDML_SOLVER_CG ? "conjugate gradients" : "Cholesky");
    fprintf(f, m->cv_rows ? "; cross-validation:\n\n" : ".\n\n");
    report_model(f, m);
    fprintf(f, "\n## Commands\n\nThe same run, stage by stage:\n\n");
    report_commands(f, run, r);
    s = cgdml_atomic_fclose(&a, f, ferror(f));
    if (s)
        return cli_fail(s);
    printf("\nrun finished in %.0f s: landscape MSE %.4f kT^2 (floor %.4f), KL %.4f, missed "
           "%.4f\nmatched floor %.4f +- %.4f kT^2, weighted MSE %.4f kT^2, model population "
           "outside the reference %.4f, convergence (first vs second half) %.4f kT^2\n"
           "report: %s\n",
           total, fs->vs.mse, fs->floor, fs->vs.kl, fs->vs.missing, fs->matched.floor,
           fs->matched.floor_sd, fs->vs.mse_weighted, fs->vs.extra, fs->halves.mse, r->report);
    return CLI_OK;
}

static void stage_begin(void *ctx, cgdml_pipeline_stage stage)
{
    static const char *const names[] = {"reference landscape", "two-layer ensemble",
                                        "CG simulation", "landscape of the simulation"};
    (void)ctx;
    cli_note("== %d/5 %s\n", (int)stage + 1, names[stage]);
}

/* Each stage's files, written as soon as the stage is done (never read back). */
static cgdml_status stage_end(void *ctx, cgdml_pipeline_stage stage, const cgdml_pipeline *p)
{
    run_state *r = ctx;
    cgdml_status s = CGDML_OK;
    const cgdml_ensemble *e = p->ensemble;
    r->seconds[stage] = p->seconds[stage];
    switch (stage) {
    case CGDML_STAGE_REFERENCE: return cli_save_reference(r->o, p->reference, r->reference);
    case CGDML_STAGE_ENSEMBLE:
        s = cgdml_model_save(e->average, r->average);
        if (!s)
            s = cgdml_model_save(e->distilled, r->model);
        if (!s)
            s = cgdml_atomic_remove_tree(e->n_members ? r->checkpoint : NULL);
        if (!s)
            cli_note("wrote %s (distilled) and %s (average of %zu member%s)\n", r->model,
                     r->average, e->n_members, e->n_members == 1 ? "" : "s");
        return s;
    case CGDML_STAGE_SIMULATION:
        cli_report_simulation(p->trajectory, p->seconds[stage], &r->sim);
        s = cgdml_trajectory_save(p->trajectory, r->data, cgdml_simulate_model_forces,
                                  (void *)e->distilled, r->traj);
        if (!s)
            cli_note("wrote %s\n", r->traj);
        return s;
    default: return cli_fes_record(&p->landscape, r->fes, &r->fes_sum);
    }
}

/* The four stages by cgdml_pipeline_run with the options of `cgdml run`, then the
 * plot; *out keeps the models for the report. */
static int stages(const cli_options *o, run_state *r, cgdml_pipeline **out)
{
    cgdml_pipeline_options po;
    cgdml_pipeline_options_init(&po);
    cgdml_pipeline_options_seed(&po, o->seed);
    cgdml_status s = cli_ensemble_options(o, r->checkpoint, &po.ensemble);
    r->members = (cli_members_progress){.what = "layer 1", .last_tenth = 99};
    po.ensemble.layer1.progress_ctx = &r->members;
    po.replicas = o->replicas;
    po.start = (cgdml_start_kind)o->start;
    po.simulate.n_steps = o->steps;
    po.simulate.save_every = o->save_every;
    po.simulate.progress = cli_show_steps;
    po.simulate.progress_ctx = &r->steps;
    po.burn_in = o->burn_in;
    po.bins = o->bins;
    po.stage_begin = stage_begin;
    po.stage_end = stage_end;
    po.ctx = r;
    r->o = o;
    size_t stale = cgdml_atomic_clean(r->model) + cgdml_atomic_clean(r->average);
    if (stale)
        cli_note("removed %zu temporary file(s) left by a killed run\n", stale);
    if (!s)
        s = cli_check_landscape_memory(o, 4);
    if (!s)
        s = cli_load_dataset(o->data, NULL, &r->data);
    if (!s)
        s = cgdml_pipeline_run(r->data, &po, out);
    cgdml_dataset_free(r->data);
    r->data = NULL;
    if (s)
        return cli_fail(s);
    cli_note("== 5/5 plot and report\n");
    stage_plot(r);
    return CLI_OK;
}

static int check_run_options(const cli_options *opt)
{
    if (!opt->data)
        return cli_usage_error("run: give the dataset with --data FILE");
    if (!opt->output)
        return cli_usage_error("run: give the run folder with -o DIR");
    if (mkdir(opt->output, 0777) != 0 && errno != EEXIST)
        return cli_usage_error("run: cannot create the folder %s: %s", opt->output,
                               strerror(errno));
    return CLI_OK;
}

int cmd_run(const cli_options *given)
{
    cli_options run = *given, o;
    if (!run.members) run.members = CGDML_PIPELINE_MEMBERS;
    if (!run.have_n_train) run.n_train = CGDML_PIPELINE_N_TRAIN;
    if (!run.mean_set) run.mean_set = CGDML_PIPELINE_MEAN_SET;
    if (!run.have_solver) run.solver = CGDML_PIPELINE_SOLVER;
    if (!run.have_draw) run.draw = 1; /* random, CGDML_PIPELINE_DRAW */
    if (!run.replicas) run.replicas = CGDML_PIPELINE_REPLICAS;
    if (!run.steps) run.steps = CGDML_PIPELINE_STEPS;
    if (!run.have_save_every) run.save_every = CGDML_PIPELINE_SAVE_EVERY;
    if (!run.have_burn_in)
        run.burn_in = cli_default_burn_in(run.steps);
    int rc = check_run_options(&run);
    if (!rc)
        rc = cli_apply_resources(&run);
    if (rc)
        return rc;
    run_state r = {0};
    set_paths(&r, run.output);
    stage_options(&run, &r, &o);
    o.output = r.model; /* the ensemble's distilled model; the other files by name */
    double t_start = cgdml_clock_wall_seconds();
    cgdml_pipeline *p = NULL;
    snprintf(r.checkpoint, sizeof r.checkpoint, "%s.members", r.model);
    r.steps.last_tenth = 99;
    rc = stages(&o, &r, &p);
    if (!rc)
        rc = write_report(&run, &r, p->ensemble->distilled, cgdml_clock_wall_seconds() - t_start);
    cgdml_pipeline_free(p);
    return rc;
}
