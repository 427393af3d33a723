/* cgdml/study.h - the sample-efficiency study: landscape error against the number
 * of labelled frames, per training method (docs/method.md §6, README "Results").
 *
 * For every training-set size, repeat and method - one GDML model ("single"), the
 * average of K members ("average"), the layer-2 model distilled from that average
 * ("distilled"), the harmonic prior alone ("prior-only", the baseline) - the study
 * draws the frames (stratified over the strata), chooses σ by cross-validation,
 * trains, simulates from the dataset's frames, compares the landscape with the
 * whole dataset's (computed once) and records one row.  A fixed held-out set,
 * excluded from every draw, measures the force-matching error of each model.
 *
 * Resumable results: with a results file, rows already in it are skipped, and the
 * file is rewritten atomically after every new row, so a killed study resumes
 * where it stopped.  Everything else happens in memory.
 */
#ifndef CGDML_STUDY_H
#define CGDML_STUDY_H

#include <stddef.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"
#include "cgdml/fes.h"
#include "cgdml/model.h"
#include "cgdml/simulate.h"
#include "cgdml/solve.h"

typedef enum {
    CGDML_STUDY_SINGLE,
    CGDML_STUDY_AVERAGE,
    CGDML_STUDY_DISTILLED,
    CGDML_STUDY_PRIOR_ONLY,
    CGDML_STUDY_N_METHODS
} cgdml_study_method;

/* "single", "average", "distilled", "prior-only"; NULL out of range. */
const char *cgdml_study_method_name(cgdml_study_method method);

/* Defaults, sized so that a study of three sizes up to 5000 frames and three
 * repeats runs in hours, not days, on 2 cores. */
#define CGDML_STUDY_MAX_SIZES 16
#define CGDML_STUDY_REPEATS 3
#define CGDML_STUDY_MEMBERS 8
#define CGDML_STUDY_MEAN_SET 1500
#define CGDML_STUDY_REPLICAS 100
#define CGDML_STUDY_STEPS 50000
#define CGDML_STUDY_SAVE_EVERY 200 /* at most; short runs save 100 frames per replica */
#define CGDML_STUDY_LAMBDA 1e-3
/* Largest single model: 1500 frames of 6 beads is a 27000² system, 2.9 GB packed
 * and minutes of factorisation on 2 cores. */
#define CGDML_STUDY_SINGLE_MAX_FRAMES 1500
/* Held-out frames for the force MSE: this many (at most a tenth of the data),
 * drawn with a seed that does not depend on the study's, so that every study of a
 * dataset measures on the same frames. */
#define CGDML_STUDY_HELD_OUT 5000
#define CGDML_STUDY_HELD_OUT_SEED 20200519UL
/* Steps discarded before a landscape: this many, or a third of a shorter run. */
#define CGDML_STUDY_BURN_IN 100000

/* One row of the results. */
typedef struct {
    size_t size, repeat;
    cgdml_study_method method;
    double sigma;            /* σ (1/Å) of the model; NaN for prior-only */
    double lambda;           /* its ridge (absolute, the value solved with); NaN for
                              * prior-only */
    double train_s;          /* training time (a distilled row includes its average's) */
    double force_mse;        /* on the held-out frames, (kcal/mol/Å)² */
    double peak_mb;          /* peak resident memory of the row, MiB */
    double simulate_s;
    size_t stopped;          /* replicas stopped (blow-ups) */
    cgdml_fes_comparison vs; /* landscape against the reference (NaN if the run left
                              * no finite production frame) */
    cgdml_fes_comparison halves;
    cgdml_fes_matched matched;
    double floor;            /* the reference's half-against-half floor */
} cgdml_study_row;

/* The study's options.  Pointers are borrowed for the call. */
typedef struct {
    size_t sizes[CGDML_STUDY_MAX_SIZES], n_sizes; /* labelled frames per model; >= 1 size */
    size_t repeats;                  /* default CGDML_STUDY_REPEATS */
    cgdml_study_method methods[CGDML_STUDY_N_METHODS];
    size_t n_methods;                /* default all four, in enum order */
    size_t members;                  /* K of average/distilled (>= 2; default 8) */
    size_t mean_set;                 /* layer-2 frames (default 1500) */
    size_t single_max_frames;        /* sizes above: no single row (default 1500) */
    double sigma_grid[16];           /* σ candidates, chosen by cross-validation (default */
    size_t n_sigma_grid;             /* 0.5, 1, 2; one value: no cross-validation) */
    /* Ridges.  lambda (default 1e-3) is the members' and single models' λ: absolute,
     * or with lambda_relative (default 0) times the kernel diagonal 5/(3σ²) of the
     * model's σ, so that it regularises alike at every σ of the grid (make run's
     * meaning, pipeline.h).  lambda2 is the distilled model's: 0 (default) the
     * members' λ as solved, else lambda2, times 5/(3σ₂²) with lambda2_relative. */
    double lambda;
    int lambda_relative;
    double lambda2;
    int lambda2_relative;
    cgdml_precision precision; /* of the Cholesky solves (default auto) */
    /* Members and single models: CGDML_SOLVER_CHOLESKY (default), or CGDML_SOLVER_CG,
     * matrix-free conjugate gradients with `cg` (default cgdml_cg_options_init's; keys,
     * checkpoint and resume are set per model from the strata and the work folder). */
    cgdml_solver solver;
    cgdml_cg_options cg;
    unsigned long seed;              /* rows draw with seeds mixed from it (default 1) */
    double temperature;              /* of the prior's fit, K (default 300) */
    size_t replicas;                 /* default 100 */
    cgdml_start_kind start;          /* default equilibrium */
    cgdml_simulate_options simulate; /* n_steps (default 50000), save_every (0: the
                                      * default, min(steps / 100, 200)), integrator, ... */
    size_t burn_in;                  /* steps discarded; SIZE_MAX (default): 100,000, or a
                                      * third of shorter runs */
    size_t bins;                     /* landscape bins per angle (default 60) */
    const char *results;             /* CSV of the rows (resumable); NULL: none kept */
    const char *landscapes;          /* folder for each row's landscape file; NULL: none */
    const char *splits;              /* folder for each row's training frames; NULL: none */
    const char *work;                /* scratch folder for members (created, removed); NULL:
                                      * no checkpoint */
    /* Reports, all optional: a line of progress; each finished row; each row's
     * simulation once it ran (seconds of it). */
    void (*note)(void *ctx, const char *line);
    void (*row_done)(void *ctx, const cgdml_study_row *row);
    void (*simulated)(void *ctx, const cgdml_trajectory *t, double seconds);
    void *ctx;
} cgdml_study_options;

/* The defaults above (the simulation: cgdml_simulate_options_init with 50,000
 * steps and save_every 0). */
void cgdml_study_options_init(cgdml_study_options *opt);

/* The header of the results CSV (one line, no newline). */
extern const char cgdml_study_csv_header[];

/* Run the study on `data` (its frames in time order, as the reference needs them).
 * Rows already in opt->results are skipped; *n_rows (if not NULL) receives the
 * rows the results hold at the end.  Errors: CGDML_ERR_INVALID (bad options,
 * fewer than 10 frames), CGDML_ERR_FORMAT (a results file of another kind), and
 * those of the stages. */
cgdml_status cgdml_study_run(const cgdml_dataset *data, const cgdml_study_options *opt,
                             size_t *n_rows);

#endif
