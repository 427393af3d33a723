/* cgdml/simulate.h - coarse-grained Langevin dynamics with a force field
 * (docs/method.md §5).
 *
 * The simulate stage moves the beads with a trained model (kernel part + prior)
 * and records a trajectory; the fes stage then compares the (φ, ψ) landscape of
 * that trajectory with the all-atom reference.  Forces come through a callback,
 * so the same integrators run a cgdml_model (cgdml_simulate_model_forces) or an
 * analytic potential (the tests' harmonic wells and double wells).
 *
 * Replicas are independent trajectories run side by side: each step, the forces
 * of all live replicas are evaluated in one callback call (a model predicts them
 * in parallel over frames), then each replica's integrator update runs in an
 * OpenMP loop with its own random stream, so results do not depend on the
 * number of threads.  A replica that blows up (non-finite coordinate or force,
 * or a bond far outside the prior's fitted distribution) is stopped and left
 * out of later force batches; the others run on.
 *
 * Units and shapes: coordinates [replica][bead][xyz] in Å, forces in
 * kcal/mol/Å, velocities in Å/ps, masses in amu (g/mol), time in ps,
 * temperature in K, angles in radians; all arrays row-major.
 */
#ifndef CGDML_SIMULATE_H
#define CGDML_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"
#include "cgdml/model.h"
#include "cgdml/prior.h"

/* Forces[r][bead][xyz] (kcal/mol/Å) of coords[r][bead][xyz] (Å) for a batch of n
 * replicas.  A failure aborts the run with the callback's status and message. */
typedef cgdml_status (*cgdml_force_fn)(void *ctx, size_t n, const double *coords, double *forces);

/* The force callback of a model (kernel + prior, cgdml_model_predict): ctx is a
 * const cgdml_model * whose n_beads matches the simulation's. */
cgdml_status cgdml_simulate_model_forces(void *ctx, size_t n, const double *coords, double *forces);

typedef enum {
    /* Brownian dynamics, docs/method.md §5:  x += (D dt/kT) F + sqrt(2 D dt) ξ */
    CGDML_INTEGRATOR_OVERDAMPED = 0,
    /* Underdamped Langevin, BAOAB splitting (Leimkuhler & Matthews 2013): half
     * kick, half drift, Ornstein-Uhlenbeck velocity refresh, half drift, half kick. */
    CGDML_INTEGRATOR_BAOAB = 1,
} cgdml_integrator;

/* Default blow-up threshold: a bond more than this many standard deviations of
 * the prior's fitted (Gaussian) distribution from its mean.  Thermal excursions
 * beyond 6σ have probability ~1e-9 per bond and frame; 20σ costs (20²/2) kT of
 * bond energy, only reached by a replica that has left the physical region. */
#define CGDML_SIMULATE_MAX_BOND_SIGMA 20.0

/* Conversion of force/mass, (kcal/mol/Å)/amu, to acceleration in Å/ps², and of
 * kT/m, (kcal/mol)/amu, to a squared velocity in Å²/ps²: 4184 J/g = 418.4 Å²/ps². */
#define CGDML_SIMULATE_ACCEL_UNIT 418.4

/* Mass of every bead when none are given, amu (a carbon atom). */
#define CGDML_SIMULATE_DEFAULT_MASS 12.0

typedef struct {
    cgdml_integrator integrator; /* default overdamped */
    double dt;                   /* time step, ps, > 0 */
    double temperature;          /* K, > 0; kT = CGDML_BOLTZMANN_KCAL * temperature */
    double diffusion;            /* Å²/ps, > 0, overdamped only */
    double friction;             /* γ, 1/ps, >= 0, BAOAB only */
    const double *masses;        /* [bead] amu, BAOAB only; NULL: CGDML_SIMULATE_DEFAULT_MASS */
    size_t n_steps;              /* steps per replica, >= 1 */
    size_t save_every;           /* 1 <= save_every <= n_steps; frames at steps k*save_every */
    unsigned long seed;          /* replica r draws from its own mt19937 seeded from (seed, r) */
    const cgdml_prior *prior;    /* NULL: no bond check (non-finite values are still caught) */
    double max_bond_sigma;       /* > 0; 0 means CGDML_SIMULATE_MAX_BOND_SIGMA */
    /* Called from the calling thread about once a second and after the last step;
     * steps_per_s is the mean rate so far.  NULL: no reports. */
    void (*progress)(void *ctx, size_t step, size_t n_steps, double steps_per_s);
    void *progress_ctx;
    /* Crash safety.  checkpoint: a file (HDF5) that receives the whole state of
     * the run - coordinates, velocities, forces, every replica's random generator,
     * the frames saved so far - atomically, every checkpoint_interval_s seconds of
     * wall time and after the last step; NULL: none.  With resume set and that
     * file present, the run continues from it instead of starting, and finishes
     * with the trajectory an uninterrupted run gives, bit for bit.  A checkpoint
     * of another run (other options, or another force_tag) is refused. */
    const char *checkpoint;
    double checkpoint_interval_s; /* > 0; 0 means CGDML_SIMULATE_CHECKPOINT_INTERVAL_S */
    int resume;
    uint64_t force_tag; /* identifies the force field and start frames (caller's choice) */
} cgdml_simulate_options;

/* Default wall-clock seconds between checkpoints. */
#define CGDML_SIMULATE_CHECKPOINT_INTERVAL_S 60.0

/* Defaults: overdamped, dt 0.002 ps, 300 K, D 0.05 Å²/ps, γ 1/ps, default masses,
 * 1000 steps saved every 10, seed 1, no prior, CGDML_SIMULATE_MAX_BOND_SIGMA. */
void cgdml_simulate_options_init(cgdml_simulate_options *opt);

typedef struct {
    size_t n_replicas, n_beads, n_steps;
    size_t n_saved;           /* saved frames per replica, n_steps / save_every */
    double *coords;           /* [saved][replica][bead][xyz], Å; NaN from a replica's stop on */
    double *velocities;       /* [saved][replica][bead][xyz], Å/ps; BAOAB only, else NULL */
    double *time;             /* [saved], ps */
    int64_t *step;            /* [saved] */
    double *final_coords;     /* [replica][bead][xyz], Å: after the last step, or the
                                 coordinates that stopped the replica */
    int *alive;               /* [replica] 1 if it ran to the end */
    size_t *stopped_step;     /* [replica] the step that stopped it (n_steps if alive) */
    char (*stop_reason)[128]; /* [replica] "" or why, e.g. "bond 2-4 at 31.2 sigma" */
    size_t resumed_step;      /* the checkpoint's step the run continued from, 0 if none */
} cgdml_trajectory;

/* Run n_replicas replicas of n_beads beads from start[r][bead][xyz] (Å) for
 * opt->n_steps steps each.  Saved frame s is step (s+1)*save_every (the start is
 * not saved).  A replica whose coordinates or forces become non-finite, or whose
 * worst bond deviates more than max_bond_sigma from opt->prior, is stopped at
 * that step: its saved frames from then on are NaN.  The memory of the
 * trajectory and the working arrays is checked against the budget first.
 * With opt->checkpoint set, the state is checkpointed (see the options); a
 * resumed run skips the start (its coordinates are not used) and sets
 * resumed_step.  Errors: CGDML_ERR_INVALID (bad options or start, a checkpoint of
 * another run), CGDML_ERR_FORMAT (an unreadable checkpoint), CGDML_ERR_IO (a
 * checkpoint that cannot be written), CGDML_ERR_NOMEM, or the callback's status. */
cgdml_status cgdml_simulate_run(cgdml_force_fn force, void *ctx, size_t n_replicas, size_t n_beads,
                                const double *start, const cgdml_simulate_options *opt,
                                cgdml_trajectory **out);

void cgdml_trajectory_free(cgdml_trajectory *t);

/* Replicas that ran to the end. */
size_t cgdml_trajectory_alive_count(const cgdml_trajectory *t);

/* φ and ψ (radians) of every saved frame of every replica, out arrays
 * [saved][replica], from beads phi_beads[4] and psi_beads[4] (geometry.h); NULL
 * beads: the alanine dipeptide defaults for n_beads.  Frames after a replica's
 * stop give NaN. */
cgdml_status cgdml_trajectory_angles(const cgdml_trajectory *t, const int *phi_beads,
                                     const int *psi_beads, double *phi, double *psi);

/* Write the trajectory as an H5MD file (atomically, cgdml_h5md_write), frames
 * ordered [saved][replica] (n_saved * n_replicas frames): positions; forces
 * recomputed with `force` at every saved frame (NaN for frames after a stop, and
 * everywhere if force is NULL); step and time; observables "replica" (the
 * replica index) and, when n_beads has alanine defaults, "phi" and "psi"
 * (radians); bead names and bonds from template_data (NULL: default names, no
 * bonds; else its n_beads must match). */
cgdml_status cgdml_trajectory_save(const cgdml_trajectory *t, const cgdml_dataset *template_data,
                                   cgdml_force_fn force, void *ctx, const char *path);

/* Where replicas start (docs/method.md §6). */
typedef enum {
    CGDML_START_EQUILIBRIUM = 0, /* data frames drawn uniformly: the data's own weights
                                  * (an equilibrium start for an MD trajectory) */
    CGDML_START_STRATA = 1,      /* one frame per phi/psi stratum (even coverage; biases
                                  * a short run towards rare regions) */
    CGDML_START_ALPHA_R = 2,     /* data frames drawn uniformly among those in α_R
                                  * (φ < 0, -115° < ψ < 46°): a convergence check */
    CGDML_START_BETA = 3,        /* the same among those in β/PPII (φ < 0, ψ outside) */
} cgdml_start_kind;

/* start[n][bead][xyz]: coordinates of n frames of `data` chosen by `kind` with
 * `seed` (distinct frames while there are enough, then again from the start).
 * CGDML_START_STRATA falls back to EQUILIBRIUM for beads without phi/psi; the
 * basin starts (ALPHA_R, BETA) refuse such beads, and a basin without frames
 * (CGDML_ERR_INVALID).  Runs started all in one basin and all in another must
 * reach the same landscape (docs/method.md §6). */
cgdml_status cgdml_simulate_start_frames(const cgdml_dataset *data, size_t n,
                                         cgdml_start_kind kind, unsigned long seed,
                                         double *start);

/* ---- a model's simulation from a dataset ---- */

/* Bead masses (amu) from the first letter of the dataset's bead names: N 14.007,
 * O 15.999, S 32.06, H 1.008, anything else carbon 12.011.  masses[n_beads]. */
void cgdml_simulate_bead_masses(const cgdml_dataset *data, double *masses);

/* The trajectory as a dataset of n_saved * n_replicas frames in the order
 * cgdml_trajectory_save writes them (positions, step, time, observables
 * "replica" and, for beads with alanine defaults, "phi"/"psi"; forces from
 * `force`, NaN everywhere if NULL; names and bonds from template_data, NULL for
 * defaults): what cgdml_fes_trajectory and cgdml_fes_assess take, without a file.
 * *out is new (cgdml_dataset_free). */
cgdml_status cgdml_trajectory_to_dataset(const cgdml_trajectory *t,
                                         const cgdml_dataset *template_data,
                                         cgdml_force_fn force, void *ctx, cgdml_dataset **out);

/* Simulate `model` (kernel part and prior) with n_replicas replicas started from
 * frames of `data` chosen by `start` with opt->seed (cgdml_simulate_start_frames).
 * Besides cgdml_simulate_run's options: masses NULL means the bead masses of the
 * data's names (cgdml_simulate_bead_masses), prior NULL means the model's.  The
 * data and the model must have the same beads.  *out as cgdml_simulate_run. */
cgdml_status cgdml_simulate_dataset(const cgdml_model *model, const cgdml_dataset *data,
                                    size_t n_replicas, cgdml_start_kind start,
                                    const cgdml_simulate_options *opt, cgdml_trajectory **out);

#endif
