/* cli.h - shared pieces of the cgdml command-line program: the parsed options,
 * the commands, and the helpers that turn library statuses into messages and exit
 * codes.  The program is a thin layer: every command is a few library calls.
 */
#ifndef CGDML_CLI_H
#define CGDML_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "cgdml.h"

/* Exit codes: 0 success, 1 the work failed (bad data, numerics, I/O), 2 usage. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* Every option any command takes; each command says which it accepts. */
typedef struct {
    const char *data, *model, *output, *indices, *coords, *forces, *npz, *group;
    const char *energies, *names, *memory;
    double sigma, lambda, spread, noise;
    size_t n_train, beads, frames;
    unsigned long seed;
    int threads;
    int precision; /* cgdml_precision of training solves (--precision) */
    int have_precision;
    /* train --solver cg */
    int solver, preconditioner, layout; /* cgdml_solver, cgdml_cg_preconditioner, cgdml_cg_layout */
    double tolerance;
    size_t max_iterations, block_frames, landmarks;
    const char *cg_option; /* the first CG-only option given, for refusals */
    int train_prior;       /* train --prior: fit the harmonic prior, train on the rest */
    const char *teacher;   /* train --teacher MODEL: distil MODEL's forces */
    int have_sigma, have_lambda, have_n_train, have_seed, held_out;
    const char *positional; /* the one positional argument (info) */
    size_t bins;
    const char *phi, *psi; /* --phi/--psi as given; parsed into the beads below */
    int phi_beads[4], psi_beads[4];
    /* ensemble */
    size_t members, mean_set, folds, kmeans, n_cv_specs;
    double sigma1, sigma2, temperature;
    int have_sigma1, have_sigma2, no_prior, resume, parallel;
    int draw;               /* --draw: 0 stratified, 1 random, 2 partition */
    const char *exclude;    /* --exclude FILE: frames no member or mean set may use */
    int have_draw, have_solver; /* given on the command line (run's defaults differ) */
    size_t shard, n_shards; /* --shard i/n (n_shards 0: all members) */
    int distributed;        /* --distributed: layer 2 (train: the solve) across MPI ranks */
    int select_raw;  /* --select raw: layer-1 CV by raw held-out MSE, not binned error */
    int sigma2_same; /* --sigma2 same: the distilled model takes the chosen sigma1 */
    double sigma1_grid[16], sigma2_grid[16], lambda_grid[16], lambda_rel_grid[16];
    size_t n_sigma1_grid, n_sigma2_grid, n_lambda_grid, n_lambda_rel_grid;
    double lambda2, lambda2_rel_grid[16]; /* --lambda2 / --lambda2-rel (lambda2_rel), --lambda2-rel-grid */
    int lambda2_rel, have_lambda2;
    int lambda_rel; /* --lambda-rel: --lambda's value is relative to the kernel diagonal */
    size_t n_lambda2_rel_grid;
    const char *cv_specs[4], *bonds;
    /* simulate, fes */
    size_t replicas, steps, save_every, burn_in; /* burn_in: steps discarded by fes */
    double dt, diffusion, friction, checkpoint_interval; /* simulate; interval in s */
    int baoab, have_save_every, have_burn_in;
    int start; /* cgdml_start_kind (--start) */
    const char *traj, *reference;
    /* study */
    size_t sizes[16], n_sizes, repeats;
    int methods[4], have_repeats, export_splits;
    size_t n_methods;
    double sigma_grid[16];
    size_t n_sigma_grid;
} cli_options;

typedef struct {
    const char *name;
    int (*run)(const cli_options *opt);
    const char *accepts; /* comma-separated long option names */
    const char *summary;
    const char *usage;   /* full help text */
} cli_command;

/* --start choices, indexed by cgdml_start_kind, NULL-terminated. */
extern const char *const cli_start_names[];
/* Study methods (--methods), in order, NULL-terminated. */
enum { CLI_METHOD_SINGLE, CLI_METHOD_AVERAGE, CLI_METHOD_DISTILLED, CLI_METHOD_PRIOR,
       CLI_N_METHODS };
extern const char *const cli_method_names[];

/* Every option at its default. */
void cli_options_defaults(cli_options *o);

int cmd_import(const cli_options *opt);
int cmd_synthetic(const cli_options *opt);
int cmd_info(const cli_options *opt);
int cmd_train(const cli_options *opt);
int cmd_predict(const cli_options *opt);
int cmd_eval(const cli_options *opt);
int cmd_fes_reference(const cli_options *opt);
int cmd_ensemble(const cli_options *opt);
int cmd_simulate(const cli_options *opt);
int cmd_fes(const cli_options *opt);
int cmd_run(const cli_options *opt);
int cmd_study(const cli_options *opt);

/* Ridge and σ₁ grid of the pipeline commands (run, study): the best ridge of the
 * single-model scan on ala2_cg6, and a grid around σ≈1 (1/Å), the best single-model
 * length scale there. */
/* Steps `run` and `study` discard before a landscape (unless --burn-in): the
 * α_R population of CG runs on the shipped data stops drifting after about
 * 60,000 steps of 2 fs (README, "How make run's defaults were chosen"). */
#define CLI_BURN_IN 100000
/* CLI_BURN_IN, or a third of a run too short to keep two thirds after it. */
size_t cli_default_burn_in(size_t steps);
#define CLI_PIPELINE_LAMBDA 1e-3
#define CLI_PIPELINE_SIGMA_GRID {0.5, 1.0, 2.0}

/* What `cgdml fes` measured (the pipeline's report reads it). */
typedef struct {
    size_t samples, populated;
    int has_reference;
    cgdml_fes_comparison vs; /* model against reference */
    cgdml_fes_comparison halves; /* first against second half of the production frames */
    cgdml_fes_matched matched;   /* the floor of a reference sample like this run's */
    double floor;            /* reference half against half, kT² */
} cli_fes_summary;
/* The reference landscape of the dataset at `path` (group opt->group, at least 2
 * frames) with opt's bins and --phi/--psi beads, and its file (the floor stored). */
cgdml_status cli_load_reference(const cli_options *opt, const char *path,
                                cgdml_fes_reference **out);
/* The same of a dataset in memory (`path` names it in messages). */
cgdml_status cli_reference_of(const cli_options *opt, const cgdml_dataset *d, const char *path,
                              cgdml_fes_reference **out);
/* Save it (`cgdml fes-reference`'s file) and print its frames, bins and floor. */
cgdml_status cli_save_reference(const cli_options *opt, const cgdml_fes_reference *ref,
                                const char *path);
/* Landscape of a trajectory in memory after opt->burn_in, judged against ref (NULL:
 * none) with opt's bins, beads and seed, saved to output; fills the summary. */
cgdml_status cli_fes_judge(const cli_options *opt, const cgdml_dataset *traj,
                           const cgdml_fes_reference *ref, const char *output,
                           cli_fes_summary *sum);
/* Save an assessment's landscape to output (cgdml fes's file) and summarise it. */
cgdml_status cli_fes_record(const cgdml_fes_assessment *a, const char *output,
                            cli_fes_summary *sum);
/* Occupied bins of a landscape. */
size_t cli_populated_bins(const cgdml_fes *f);
/* Before reading anything: `landscapes` landscapes of opt->bins² must fit. */
cgdml_status cli_check_landscape_memory(const cli_options *opt, size_t landscapes);
/* `cgdml fes` without printing: landscape of opt->traj (its particle group
 * traj_group, NULL: "cg" or the only one), compared with opt->reference (group
 * opt->group) if given, saved to opt->output. */
cgdml_status cli_fes_compute(const cli_options *opt, const char *traj_group, cli_fes_summary *sum);

/* What `cgdml simulate` measured. */
typedef struct {
    size_t replicas, stopped;
    double seconds, evaluations_per_s;
} cli_simulate_summary;
/* Simulation progress on stderr (a cgdml_simulate_options.progress; ctx a
 * cli_step_progress starting at last_tenth 99): a redrawn bar on a terminal, ten
 * lines otherwise. */
typedef struct {
    size_t last_tenth;
} cli_step_progress;
void cli_show_steps(void *ctx, size_t step, size_t n_steps, double steps_per_s);
/* Report a finished simulation (stopped replicas on stderr, replicas and speed on
 * stdout) and fill the summary. */
void cli_report_simulation(const cgdml_trajectory *t, double secs, cli_simulate_summary *sum);
/* The model's simulation from frames of d with the options' replicas, steps,
 * integrator, start and seed (cgdml_simulate_dataset), progress on stderr, the
 * stopped replicas and the speed reported; checkpointed to `checkpoint` (NULL:
 * none) under force_tag.  *out is the caller's. */
cgdml_status cli_simulate_model(const cli_options *opt, const cgdml_model *m,
                                const cgdml_dataset *d, const char *checkpoint, uint64_t force_tag,
                                cgdml_trajectory **out, cli_simulate_summary *sum);

/* Layer 1's progress bar (ctx of cgdml_layer1_options.progress). */
typedef struct {
    double start;
    const char *what;
    size_t last_tenth;
} cli_members_progress;
/* The CG options of the command line (--tolerance, --max-iterations,
 * --preconditioner, --landmarks, --block-frames, --block-layout), progress lines on
 * stderr; no checkpoint, keys or resume. */
void cli_cg_options(const cli_options *opt, cgdml_cg_options *cg);
/* The library's ensemble options from the command line's: strata, members, grids,
 * σ₂, the members' folder `checkpoint`; notes and CV tables printed, the members'
 * progress shown (set layer1.progress_ctx to a cli_members_progress). */
cgdml_status cli_ensemble_options(const cli_options *opt, const char *checkpoint,
                                  cgdml_ensemble_options *eo);
/* `cgdml ensemble` on data in memory (cgdml_ensemble_build with the options'
 * prior, strata, grids and reports): saves the average to average_path and the
 * distilled model to opt->output, then removes the members' folder `checkpoint`.
 * *out (if not NULL) receives the ensemble.  Returns an exit code. */
int cli_ensemble(const cli_options *opt, const cgdml_dataset *data, const char *checkpoint,
                 const char *average_path, cgdml_ensemble **out);

/* Parse "a,b,c" into at most max numbers (grids). */
int cli_parse_list(const char *name, const char *text, double *v, size_t max, size_t *n);

/* Parse --sizes "1000,2000" (positive integers) and --methods "single,average,
 * distilled,prior-only" into the options. */
int cli_parse_sizes(const char *text, cli_options *o);
int cli_parse_methods(const char *text, cli_options *o);

/* Parse "a,b,c,d" into four bead indices (--phi, --psi). */
int cli_parse_quad(const char *name, const char *text, int *q);

/* Quiet (1): cli_note and cli_fail print nothing (the MPI ranks other than 0,
 * whose failures rank 0 reports). */
void cli_quiet(int on);
/* Print "cgdml: error: <library message>" to stderr and return CLI_FAILED. */
int cli_fail(cgdml_status status);
/* Print a usage problem and return CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress and information for the user go to stderr through this. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a dataset by its file type (.h5/.hdf5/.h5md: H5MD; .npz: sGDML) and check
 * its values (finite, no coinciding beads). */
cgdml_status cli_load_dataset(const char *path, const char *group, cgdml_dataset **out);

/* The frames a command works on: --indices FILE, or --n-train M --seed S, or
 * (if allow_all) every frame.  `what` names them in messages. */
int cli_select_frames(const cli_options *opt, size_t n_frames, int allow_all, size_t **idx,
                      size_t *n);

/* Refuse an output path that is also one of the inputs (it would be lost). */
int cli_check_output(const char *output, const char *const *inputs, size_t n_inputs);

/* Strata of the options (--kmeans, --collective, default φ/ψ 300 x 300) and the
 * harmonic prior (--bonds, the data's bonds, or the alanine default; NULL with
 * --no-prior) fitted on all frames of d. */
cgdml_status cli_strata_options(const cli_options *opt, cgdml_strata_options *so);
cgdml_status cli_build_strata(const cli_options *opt, const cgdml_dataset *d,
                              cgdml_strata **out);
cgdml_status cli_fit_prior(const cli_options *opt, const cgdml_dataset *d, cgdml_prior **out);

/* Run /usr/bin/python3 on scripts/NAME of the source tree ($CGDML_SRC, else the
 * current folder) with the given (shell-quoted) arguments; 1 if it succeeded. */
int cli_python_script(const char *name, const char *args);

/* Apply --memory and --threads. */
int cli_apply_resources(const cli_options *opt);

#endif
