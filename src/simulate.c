/* simulate.c - CG Langevin dynamics with a force field (see cgdml/simulate.h,
 * docs/method.md §5).
 *
 * The model learned from all-atom forces drives the beads here; the trajectory's
 * (φ, ψ) landscape is what the fes stage compares with the all-atom reference.
 * One step of a run: every live replica's integrator moves it (OpenMP loop over
 * replicas, each with its own random stream), the forces of all live replicas are
 * evaluated in one batch, BAOAB finishes with its second half kick, and replicas
 * that left the physical region are stopped.  The state arrays x, v, f are
 * [replica][bead][xyz]; a stopped replica keeps its last values and is skipped.
 */
#include "cgdml/simulate.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/geometry.h"
#include "cgdml/h5md.h"
#include "cgdml/model.h"
#include "cgdml/sample.h"
#include "cgdml/strata.h"
#include "cgdml/clock.h"
#include "cgdml/memory.h"
#include "simulate_state.h"

/* Defaults of cgdml_simulate_options_init.  A stiff CG bond at 300 K spreads by
 * σ ≈ 0.03 Å, so its relaxation per Brownian step is h = D·dt/σ² (docs/method.md §5
 * update with k = kT/σ²); D·dt = 4e-5 Å² keeps h ≈ 0.04, well inside the
 * stability limit h < 2 and with a ~2 % bias in the bond variance (1/(1 - h/2)). */
#define DEFAULT_DT_PS 0.002
#define DEFAULT_DIFFUSION 0.05 /* Å²/ps: D dt = 1e-4 Å², a sixth of the stiffest CG bond's thermal variance */
#define DEFAULT_FRICTION 1.0   /* 1/ps, BAOAB */
#define DEFAULT_TEMPERATURE 300.0
#define DEFAULT_STEPS 1000
#define DEFAULT_SAVE_EVERY 10

/* Coordinates per loop below which the integrator runs on one thread: a
 * parallel region costs microseconds (far more when the cores are shared),
 * while updating a coordinate (one Gaussian draw) takes ~50 ns. */
#define PARALLEL_MIN_COORDS 2048
/* Wall-clock seconds between progress reports. */
#define PROGRESS_INTERVAL_S 1.0
/* Frames per force call when cgdml_trajectory_save recomputes forces: enough to
 * keep every thread of cgdml_model_predict busy, small enough to be cheap. */
#define SAVE_BATCH_FRAMES 1024

typedef cgdml_run_state run_state;

void cgdml_simulate_options_init(cgdml_simulate_options *opt)
{
    *opt = (cgdml_simulate_options){
        .integrator = CGDML_INTEGRATOR_OVERDAMPED,
        .dt = DEFAULT_DT_PS,
        .temperature = DEFAULT_TEMPERATURE,
        .diffusion = DEFAULT_DIFFUSION,
        .friction = DEFAULT_FRICTION,
        .n_steps = DEFAULT_STEPS,
        .save_every = DEFAULT_SAVE_EVERY,
        .seed = 1,
        .max_bond_sigma = CGDML_SIMULATE_MAX_BOND_SIGMA,
    };
}

cgdml_status cgdml_simulate_model_forces(void *ctx, size_t n, const double *coords, double *forces)
{
    if (!ctx)
        return cgdml_error_set(CGDML_ERR_INVALID, "model force callback: no model given");
    return cgdml_model_predict((const cgdml_model *)ctx, n, coords, forces, NULL);
}

/* ---- checks ------------------------------------------------------------------- */

static int positive(double v)
{
    return isfinite(v) && v > 0;
}

static cgdml_status check_integrator(const cgdml_simulate_options *o, size_t n_beads)
{
    if (o->integrator == CGDML_INTEGRATOR_OVERDAMPED) {
        if (!positive(o->diffusion))
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "simulate: diffusion = %g Å²/ps, expected > 0", o->diffusion);
        return CGDML_OK;
    }
    if (o->integrator != CGDML_INTEGRATOR_BAOAB)
        return cgdml_error_set(CGDML_ERR_INVALID, "simulate: unknown integrator %d",
                               (int)o->integrator);
    if (!isfinite(o->friction) || o->friction < 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "simulate: friction = %g 1/ps, expected >= 0",
                               o->friction);
    for (size_t b = 0; o->masses && b < n_beads; b++)
        if (!positive(o->masses[b]))
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "simulate: mass of bead %zu = %g amu, expected > 0", b,
                                   o->masses[b]);
    return CGDML_OK;
}

static cgdml_status check_prior(const cgdml_prior *prior, size_t n_beads)
{
    for (size_t b = 0; prior && b < prior->n_bonds; b++)
        for (int e = 0; e < 2; e++)
            if (prior->bonds[2 * b + e] < 0 || (size_t)prior->bonds[2 * b + e] >= n_beads)
                return cgdml_error_set(CGDML_ERR_INVALID,
                                       "simulate: prior bond %zu names bead %d, but the "
                                       "system has %zu beads",
                                       b, prior->bonds[2 * b + e], n_beads);
    return CGDML_OK;
}

static cgdml_status check_options(const cgdml_simulate_options *o, size_t n_beads)
{
    if (!positive(o->dt))
        return cgdml_error_set(CGDML_ERR_INVALID, "simulate: dt = %g ps, expected > 0", o->dt);
    if (!positive(o->temperature))
        return cgdml_error_set(CGDML_ERR_INVALID, "simulate: temperature = %g K, expected > 0",
                               o->temperature);
    if (o->n_steps == 0 || o->save_every == 0 || o->save_every > o->n_steps)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "simulate: %zu steps saved every %zu, expected 1 <= save_every "
                               "<= steps",
                               o->n_steps, o->save_every);
    if (!isfinite(o->max_bond_sigma) || o->max_bond_sigma < 0)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "simulate: max_bond_sigma = %g, expected > 0 (0: default %g)",
                               o->max_bond_sigma, CGDML_SIMULATE_MAX_BOND_SIGMA);
    if (!isfinite(o->checkpoint_interval_s) || o->checkpoint_interval_s < 0)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "simulate: checkpoint interval = %g s, expected > 0 (0: default "
                               "%g)",
                               o->checkpoint_interval_s, CGDML_SIMULATE_CHECKPOINT_INTERVAL_S);
    cgdml_status st = check_integrator(o, n_beads);
    return st ? st : check_prior(o->prior, n_beads);
}

static cgdml_status check_run(cgdml_force_fn force, size_t n_rep, size_t n_beads,
                              const double *start, const cgdml_simulate_options *opt,
                              cgdml_trajectory **out)
{
    if (!out || !force || !start || !opt)
        return cgdml_error_set(CGDML_ERR_INVALID, "simulate: no %s given",
                               !out     ? "output"
                               : !force ? "force callback"
                               : !start ? "start coordinates"
                                        : "options");
    if (n_rep == 0 || n_beads == 0)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "simulate: %zu replicas of %zu beads, expected at least 1 of each",
                               n_rep, n_beads);
    for (size_t k = 0; k < n_rep * n_beads * 3; k++)
        if (!isfinite(start[k]))
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "simulate: start coordinate of replica %zu, bead %zu is %g",
                                   k / (3 * n_beads), k / 3 % n_beads, start[k]);
    return check_options(opt, n_beads);
}

/* ---- memory ------------------------------------------------------------------- */

/* a * b, or SIZE_MAX on overflow (also if either is SIZE_MAX). */
static size_t mul_size(size_t a, size_t b)
{
    return (a == SIZE_MAX || b == SIZE_MAX || (b && a > SIZE_MAX / b)) ? SIZE_MAX : a * b;
}

static size_t add_size(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Bytes of the trajectory (saved frames, velocities for BAOAB, final frame) and
 * of the working arrays (x, v, f and the force batch bx, bf), 6 frames of all
 * replicas, plus per replica its flags, reason and random generator state. */
static size_t run_bytes(size_t n_rep, size_t n_beads, size_t n_saved, int with_velocities)
{
    size_t frame = mul_size(mul_size(n_rep, n_beads), 3 * sizeof(double));
    size_t saved = mul_size(mul_size(n_saved, frame), with_velocities ? 2 : 1);
    size_t per_save = sizeof(double) + sizeof(int64_t);
    size_t per_rep = sizeof(int) + 2 * sizeof(size_t) +
                     sizeof(((cgdml_trajectory *)0)->stop_reason[0]) + sizeof(gsl_rng) +
                     gsl_rng_mt19937->size;
    return add_size(add_size(saved, mul_size(frame, 6)),
                    add_size(mul_size(n_saved, per_save), mul_size(n_rep, per_rep)));
}

/* The run's memory against the budget; if it does not fit, name the largest
 * number of saved frames per replica that would. */
static cgdml_status check_run_memory(size_t n_rep, size_t n_beads, const cgdml_simulate_options *o)
{
    int baoab = o->integrator == CGDML_INTEGRATOR_BAOAB;
    size_t n_saved = o->n_steps / o->save_every;
    if (!cgdml_memory_check(run_bytes(n_rep, n_beads, n_saved, baoab),
                            "simulation trajectory and state"))
        return CGDML_OK;
    size_t lo = 0, hi = n_saved; /* run_bytes(lo) fits or lo = 0; hi does not */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (run_bytes(n_rep, n_beads, mid, baoab) <= cgdml_memory_budget())
            lo = mid;
        else
            hi = mid;
    }
    if (lo == 0)
        return cgdml_error_wrap(CGDML_ERR_NOMEM, "%zu replicas do not fit even without saved "
                                                 "frames: use fewer replicas",
                                n_rep);
    return cgdml_error_wrap(CGDML_ERR_NOMEM,
                            "%zu saved frames x %zu replicas; at most about %zu saved frames per "
                            "replica fit (raise the save interval to %zu steps)",
                            n_saved, n_rep, lo, (o->n_steps + lo - 1) / lo);
}

/* ---- the trajectory ----------------------------------------------------------- */

void cgdml_trajectory_free(cgdml_trajectory *t)
{
    if (!t)
        return;
    free(t->coords);
    free(t->velocities);
    free(t->time);
    free(t->step);
    free(t->final_coords);
    free(t->alive);
    free(t->stopped_step);
    free(t->stop_reason);
    free(t);
}

static cgdml_status trajectory_alloc(size_t n_rep, size_t n_beads, const cgdml_simulate_options *o,
                                     cgdml_trajectory **out)
{
    cgdml_trajectory *t = calloc(1, sizeof *t);
    size_t n_saved = o->n_steps / o->save_every, frame = n_rep * n_beads * 3;
    if (t) {
        *t = (cgdml_trajectory){
            .n_replicas = n_rep, .n_beads = n_beads, .n_steps = o->n_steps, .n_saved = n_saved};
        t->coords = malloc(n_saved * frame * sizeof(double));
        if (o->integrator == CGDML_INTEGRATOR_BAOAB)
            t->velocities = malloc(n_saved * frame * sizeof(double));
        t->time = malloc(n_saved * sizeof(double));
        t->step = malloc(n_saved * sizeof(int64_t));
        t->final_coords = malloc(frame * sizeof(double));
        t->alive = malloc(n_rep * sizeof(int));
        t->stopped_step = malloc(n_rep * sizeof(size_t));
        t->stop_reason = calloc(n_rep, sizeof *t->stop_reason);
    }
    if (!t || !t->coords || (o->integrator == CGDML_INTEGRATOR_BAOAB && !t->velocities) ||
        !t->time || !t->step || !t->final_coords || !t->alive || !t->stopped_step ||
        !t->stop_reason) {
        cgdml_trajectory_free(t);
        return cgdml_error_set(CGDML_ERR_NOMEM,
                               "simulate: cannot allocate the trajectory of "
                               "%zu frames x %zu replicas",
                               n_saved, n_rep);
    }
    for (size_t r = 0; r < n_rep; r++) {
        t->alive[r] = 1;
        t->stopped_step[r] = o->n_steps;
    }
    *out = t;
    return CGDML_OK;
}

size_t cgdml_trajectory_alive_count(const cgdml_trajectory *t)
{
    size_t n = 0;
    for (size_t r = 0; r < t->n_replicas; r++)
        n += t->alive[r] != 0;
    return n;
}

/* ---- the run state -------------------------------------------------------------- */

static void state_free(run_state *s)
{
    for (size_t r = 0; s->rng && r < s->n_rep; r++)
        gsl_rng_free(s->rng[r]);
    free(s->rng);
    free(s->x);
    free(s->v);
    free(s->f);
    free(s->bx);
    free(s->bf);
    free(s->accel);
    free(s->vel_std);
    free(s->live);
}

/* SplitMix64 finaliser (Steele, Lea, Flood 2014): decorrelates the seeds of
 * neighbouring replicas before they reach mt19937's linear seeding. */
static unsigned long mix_seed(unsigned long seed, size_t replica)
{
    uint64_t z = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + (uint64_t)replica + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (unsigned long)(z ^ (z >> 31));
}

/* Per-coordinate constants of the integrators. */
static void state_constants(run_state *s)
{
    const cgdml_simulate_options *o = s->opt;
    double kT = CGDML_BOLTZMANN_KCAL * o->temperature;
    s->drift = o->diffusion * o->dt / kT;
    s->noise = sqrt(2.0 * o->diffusion * o->dt);
    s->c1 = exp(-o->friction * o->dt);
    s->c2 = sqrt(1.0 - s->c1 * s->c1);
    for (size_t k = 0; k < s->dof; k++) {
        double m = o->masses ? o->masses[k / 3] : CGDML_SIMULATE_DEFAULT_MASS;
        s->accel[k] = CGDML_SIMULATE_ACCEL_UNIT / m;
        s->vel_std[k] = sqrt(kT * CGDML_SIMULATE_ACCEL_UNIT / m);
    }
}

static cgdml_status state_alloc(run_state *s, const double *start)
{
    size_t n = s->n_rep * s->dof * sizeof(double);
    s->x = malloc(n);
    s->v = calloc(1, n); /* zero for overdamped runs, whose checkpoints store it too */
    s->f = malloc(n);
    s->bx = malloc(n);
    s->bf = malloc(n);
    s->accel = malloc(s->dof * sizeof(double));
    s->vel_std = malloc(s->dof * sizeof(double));
    s->live = malloc(s->n_rep * sizeof(size_t));
    s->rng = calloc(s->n_rep, sizeof(gsl_rng *));
    int ok = s->x && s->v && s->f && s->bx && s->bf && s->accel && s->vel_std && s->live && s->rng;
    for (size_t r = 0; ok && r < s->n_rep; r++) {
        s->rng[r] = gsl_rng_alloc(gsl_rng_mt19937);
        ok = s->rng[r] != NULL;
        if (ok)
            gsl_rng_set(s->rng[r], mix_seed(s->opt->seed, r));
        s->live[r] = r;
    }
    if (!ok)
        return cgdml_error_set(CGDML_ERR_NOMEM,
                               "simulate: cannot allocate the state of %zu "
                               "replicas",
                               s->n_rep);
    memcpy(s->x, start, n);
    s->n_live = s->n_rep;
    state_constants(s);
    return CGDML_OK;
}

/* ---- one step ------------------------------------------------------------------- */

/* Velocities from the Maxwell-Boltzmann distribution (BAOAB start). */
static void draw_velocities(const run_state *s, size_t r)
{
    double *v = s->v + r * s->dof;
    for (size_t k = 0; k < s->dof; k++)
        v[k] = gsl_ran_gaussian(s->rng[r], s->vel_std[k]);
}

/* Brownian step of docs/method.md §5: x += (D dt/kT) F + sqrt(2 D dt) ξ. */
static void overdamped_move(const run_state *s, size_t r)
{
    double *x = s->x + r * s->dof;
    const double *f = s->f + r * s->dof;
    for (size_t k = 0; k < s->dof; k++)
        x[k] += s->drift * f[k] + gsl_ran_gaussian(s->rng[r], s->noise);
}

/* Half kick: v += (dt/2) F/m. */
static void half_kick(const run_state *s, size_t r)
{
    double *v = s->v + r * s->dof, h = 0.5 * s->opt->dt;
    const double *f = s->f + r * s->dof;
    for (size_t k = 0; k < s->dof; k++)
        v[k] += h * s->accel[k] * f[k];
}

/* B A O A of BAOAB; the last B follows the force evaluation. */
static void baoab_move(const run_state *s, size_t r)
{
    double *x = s->x + r * s->dof, *v = s->v + r * s->dof, h = 0.5 * s->opt->dt;
    half_kick(s, r);
    for (size_t k = 0; k < s->dof; k++) {
        x[k] += h * v[k];
        v[k] = s->c1 * v[k] + s->c2 * gsl_ran_gaussian(s->rng[r], s->vel_std[k]);
        x[k] += h * v[k];
    }
}

/* Move every live replica (unless this is the start) and copy it into the force
 * batch bx[live]. */
static void move_replicas(run_state *s, int move)
{
    size_t dof = s->dof;
    int baoab = s->opt->integrator == CGDML_INTEGRATOR_BAOAB;
#pragma omp parallel for schedule(static) if (s->n_live * dof >= PARALLEL_MIN_COORDS)
    for (size_t i = 0; i < s->n_live; i++) {
        size_t r = s->live[i];
        if (move && baoab)
            baoab_move(s, r);
        else if (move)
            overdamped_move(s, r);
        memcpy(s->bx + i * dof, s->x + r * dof, dof * sizeof(double));
    }
}

/* Why replica r must stop ("" if it may go on), written to why[128]. */
static void diagnose(const run_state *s, size_t r, char *why)
{
    const double *x = s->x + r * s->dof, *f = s->f + r * s->dof;
    const cgdml_prior *prior = s->opt->prior;
    double limit =
        s->opt->max_bond_sigma > 0 ? s->opt->max_bond_sigma : CGDML_SIMULATE_MAX_BOND_SIGMA;
    for (size_t k = 0; k < s->dof; k++)
        if (!isfinite(x[k]) || !isfinite(f[k])) {
            double bad = isfinite(x[k]) ? f[k] : x[k];
            snprintf(why, 128, "%s %s on bead %zu", isnan(bad) ? "NaN" : "infinite",
                     isfinite(x[k]) ? "force" : "coordinate", k / 3);
            return;
        }
    if (!prior || cgdml_prior_worst_bond_deviation(prior, x) <= limit)
        return;
    /* Name the first bond over the limit: the prior restricted to bond b. */
    for (size_t b = 0; b < prior->n_bonds; b++) {
        cgdml_prior one = *prior;
        one.n_bonds = 1;
        one.bonds = prior->bonds + 2 * b;
        one.bond_r0 = prior->bond_r0 + b;
        one.bond_k = prior->bond_k + b;
        double z = cgdml_prior_worst_bond_deviation(&one, x);
        if (z > limit) {
            snprintf(why, 128, "bond %d-%d at %.1f sigma", one.bonds[0], one.bonds[1], z);
            return;
        }
    }
}

/* Take the forces of the batch bf[live], finish the step of every live replica
 * (BAOAB: second half kick), stop the ones that blew up, and drop them from the
 * live list. */
static void finish_step(run_state *s, size_t step)
{
    cgdml_trajectory *t = s->t;
    size_t dof = s->dof;
    int baoab = s->opt->integrator == CGDML_INTEGRATOR_BAOAB;
#pragma omp parallel for schedule(static) if (s->n_live * dof >= PARALLEL_MIN_COORDS)
    for (size_t i = 0; i < s->n_live; i++) {
        size_t r = s->live[i];
        memcpy(s->f + r * dof, s->bf + i * dof, dof * sizeof(double));
        if (baoab && step > 0)
            half_kick(s, r);
        diagnose(s, r, t->stop_reason[r]);
        if (t->stop_reason[r][0]) {
            t->alive[r] = 0;
            t->stopped_step[r] = step;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n_live; i++)
        if (t->alive[s->live[i]])
            s->live[n++] = s->live[i];
    s->n_live = n;
}

/* Record saved frame `save` (step `step`): NaN for stopped replicas. */
static void save_frame(run_state *s, size_t save, size_t step)
{
    cgdml_trajectory *t = s->t;
    size_t dof = s->dof, frame = save * s->n_rep * dof;
    t->step[save] = (int64_t)step;
    t->time[save] = (double)step * s->opt->dt;
#pragma omp parallel for schedule(static) if (s->n_rep * dof >= PARALLEL_MIN_COORDS)
    for (size_t r = 0; r < s->n_rep; r++)
        for (size_t k = 0; k < dof; k++) {
            size_t at = frame + r * dof + k;
            t->coords[at] = t->alive[r] ? s->x[r * dof + k] : NAN;
            if (t->velocities)
                t->velocities[at] = t->alive[r] ? s->v[r * dof + k] : NAN;
        }
}

/* Progress after `step`; the rate counts the steps since `first` (a resumed run's
 * checkpoint step, else 0). */
static void report_progress(const run_state *s, size_t step, size_t first, double t0,
                            double *last)
{
    const cgdml_simulate_options *o = s->opt;
    double now = cgdml_clock_wall_seconds();
    if (!o->progress || (now - *last < PROGRESS_INTERVAL_S && step < o->n_steps))
        return;
    *last = now;
    o->progress(o->progress_ctx, step, o->n_steps,
                now > t0 ? (double)(step - first) / (now - t0) : 0.0);
}

/* ---- the run -------------------------------------------------------------------- */

/* Checkpoint after `step` if the interval has passed since *last or the run is at
 * its last step. */
static cgdml_status maybe_checkpoint(const run_state *s, size_t step, double *last)
{
    const cgdml_simulate_options *o = s->opt;
    double interval =
        o->checkpoint_interval_s > 0 ? o->checkpoint_interval_s : CGDML_SIMULATE_CHECKPOINT_INTERVAL_S;
    double now = cgdml_clock_wall_seconds();
    if (!o->checkpoint || (now - *last < interval && step < o->n_steps))
        return CGDML_OK;
    *last = now;
    cgdml_status st = cgdml_simulate_checkpoint_save(s, step);
    return st ? cgdml_error_wrap(st, "simulate: checkpoint after step %zu", step) : CGDML_OK;
}

/* Steps first+1 .. n_steps; a fresh run (first = 0) draws BAOAB velocities and
 * evaluates the start's forces (step 0) first. */
static cgdml_status run_steps(run_state *s, size_t first)
{
    const cgdml_simulate_options *o = s->opt;
    int baoab = o->integrator == CGDML_INTEGRATOR_BAOAB;
    double t0 = cgdml_clock_wall_seconds(), last = t0, last_checkpoint = t0;
    for (size_t r = 0; baoab && first == 0 && r < s->n_rep; r++)
        draw_velocities(s, r);
    for (size_t step = first ? first + 1 : 0; step <= o->n_steps; step++) {
        move_replicas(s, step > 0);
        /* One batch of all live replicas; once all are stopped, only NaN frames remain. */
        cgdml_status st = s->n_live ? s->force(s->ctx, s->n_live, s->bx, s->bf) : CGDML_OK;
        if (st)
            return cgdml_error_wrap(st, "simulate: forces at step %zu", step);
        finish_step(s, step);
        if (step > 0 && step % o->save_every == 0)
            save_frame(s, step / o->save_every - 1, step);
        if (step > 0)
            report_progress(s, step, first, t0, &last);
        if (step > 0 && (st = maybe_checkpoint(s, step, &last_checkpoint)))
            return st;
    }
    return CGDML_OK;
}

cgdml_status cgdml_simulate_run(cgdml_force_fn force, void *ctx, size_t n_replicas, size_t n_beads,
                                const double *start, const cgdml_simulate_options *opt,
                                cgdml_trajectory **out)
{
    if (out)
        *out = NULL;
    cgdml_status st = check_run(force, n_replicas, n_beads, start, opt, out);
    if (!st)
        st = check_run_memory(n_replicas, n_beads, opt);
    if (st)
        return st;
    run_state s = {.force = force, .ctx = ctx, .opt = opt, .n_rep = n_replicas, .dof = 3 * n_beads};
    size_t first = 0;
    st = trajectory_alloc(n_replicas, n_beads, opt, &s.t);
    if (!st)
        st = state_alloc(&s, start);
    if (!st && opt->checkpoint && opt->resume)
        st = cgdml_simulate_checkpoint_load(&s, &first);
    if (!st) {
        s.t->resumed_step = first;
        st = run_steps(&s, first);
    }
    if (!st) {
        memcpy(s.t->final_coords, s.x, n_replicas * s.dof * sizeof(double));
        *out = s.t;
    } else {
        cgdml_trajectory_free(s.t);
    }
    state_free(&s);
    return st;
}

/* ---- angles and output ---------------------------------------------------------- */

static cgdml_status angle_beads(size_t n_beads, const int *phi_in, const int *psi_in, int *phi,
                                int *psi)
{
    if (!phi_in || !psi_in) {
        cgdml_status st = cgdml_geometry_phi_psi_beads(n_beads, phi, psi);
        if (st)
            return st;
    }
    if (phi_in)
        memcpy(phi, phi_in, 4 * sizeof(int));
    if (psi_in)
        memcpy(psi, psi_in, 4 * sizeof(int));
    for (int k = 0; k < 8; k++) {
        int b = k < 4 ? phi[k] : psi[k - 4];
        if (b < 0 || (size_t)b >= n_beads)
            return cgdml_error_set(CGDML_ERR_INVALID, "%s bead %d out of range for %zu beads",
                                   k < 4 ? "phi" : "psi", b, n_beads);
    }
    return CGDML_OK;
}

cgdml_status cgdml_trajectory_angles(const cgdml_trajectory *t, const int *phi_beads,
                                     const int *psi_beads, double *phi, double *psi)
{
    if (!t || !phi || !psi)
        return cgdml_error_set(CGDML_ERR_INVALID, "trajectory angles: missing argument");
    int a[4], b[4];
    cgdml_status st = angle_beads(t->n_beads, phi_beads, psi_beads, a, b);
    if (st)
        return st;
    size_t n = t->n_saved * t->n_replicas;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k++) {
        const double *x = t->coords + k * t->n_beads * 3;
        phi[k] = cgdml_geometry_dihedral(x, a[0], a[1], a[2], a[3]);
        psi[k] = cgdml_geometry_dihedral(x, b[0], b[1], b[2], b[3]);
    }
    return CGDML_OK;
}

static int frame_finite(const double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return 0;
    return 1;
}

/* d->forces of the finite frames of d->coords from `force`, in batches of
 * SAVE_BATCH_FRAMES; NaN elsewhere (and everywhere without a callback). */
static cgdml_status recompute_forces(cgdml_dataset *d, cgdml_force_fn force, void *ctx)
{
    size_t dof = 3 * d->n_beads, cap = SAVE_BATCH_FRAMES, *idx = malloc(cap * sizeof(size_t));
    double *bx = malloc(cap * dof * sizeof(double)), *bf = malloc(cap * dof * sizeof(double));
    cgdml_status st = idx && bx && bf
                          ? CGDML_OK
                          : cgdml_error_set(CGDML_ERR_NOMEM, "trajectory save: cannot allocate a "
                                                             "force batch");
    for (size_t k = 0; k < d->n_frames * dof; k++)
        d->forces[k] = NAN;
    for (size_t next = 0; !st && force && next < d->n_frames;) {
        size_t n = 0;
        for (; next < d->n_frames && n < cap; next++)
            if (frame_finite(d->coords + next * dof, dof)) {
                memcpy(bx + n * dof, d->coords + next * dof, dof * sizeof(double));
                idx[n++] = next;
            }
        st = n ? force(ctx, n, bx, bf) : CGDML_OK;
        for (size_t i = 0; !st && i < n; i++)
            memcpy(d->forces + idx[i] * dof, bf + i * dof, dof * sizeof(double));
    }
    free(idx);
    free(bx);
    free(bf);
    return st;
}

/* Observables "replica" and, where the bead count has defaults, "phi", "psi". */
static cgdml_status add_observables(const cgdml_trajectory *t, cgdml_dataset *d)
{
    int a[4], b[4];
    double *rep = malloc(d->n_frames * sizeof(double));
    double *phi = malloc(d->n_frames * sizeof(double)), *psi = malloc(d->n_frames * sizeof(double));
    cgdml_status st = rep && phi && psi
                          ? CGDML_OK
                          : cgdml_error_set(CGDML_ERR_NOMEM, "trajectory save: cannot allocate "
                                                             "observables");
    for (size_t k = 0; !st && k < d->n_frames; k++)
        rep[k] = (double)(k % t->n_replicas);
    if (!st)
        st = cgdml_dataset_add_observable(d, "replica", rep);
    int has_angles = !st && cgdml_geometry_phi_psi_beads(t->n_beads, a, b) == CGDML_OK;
    if (!st && !has_angles)
        cgdml_error_clear(); /* no default φ/ψ beads for this bead count: no angles */
    if (has_angles)
        st = cgdml_trajectory_angles(t, a, b, phi, psi);
    if (has_angles && !st)
        st = cgdml_dataset_add_observable(d, "phi", phi);
    if (has_angles && !st)
        st = cgdml_dataset_add_observable(d, "psi", psi);
    free(rep);
    free(phi);
    free(psi);
    return st;
}

/* The trajectory as a dataset of n_saved * n_replicas frames. */
static cgdml_status trajectory_dataset(const cgdml_trajectory *t, const cgdml_dataset *tmpl,
                                       cgdml_force_fn force, void *ctx, cgdml_dataset **out)
{
    size_t n_frames = t->n_saved * t->n_replicas, dof = 3 * t->n_beads;
    cgdml_dataset *d = NULL;
    cgdml_status st = cgdml_dataset_alloc(n_frames, t->n_beads, &d);
    if (st)
        return st;
    memcpy(d->coords, t->coords, n_frames * dof * sizeof(double));
    for (size_t k = 0; k < n_frames; k++) {
        d->step[k] = t->step[k / t->n_replicas];
        d->time[k] = t->time[k / t->n_replicas];
    }
    if (tmpl) {
        memcpy(d->bead_names, tmpl->bead_names, t->n_beads * sizeof *d->bead_names);
        st = cgdml_dataset_set_bonds(d, tmpl->n_bonds, tmpl->bonds);
    }
    if (!st)
        st = add_observables(t, d);
    if (!st)
        st = recompute_forces(d, force, ctx);
    if (st)
        cgdml_dataset_free(d);
    else
        *out = d;
    return st;
}

cgdml_status cgdml_trajectory_to_dataset(const cgdml_trajectory *t,
                                         const cgdml_dataset *template_data,
                                         cgdml_force_fn force, void *ctx, cgdml_dataset **out)
{
    *out = NULL;
    if (!t || t->n_saved == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "trajectory: %s",
                               t ? "no saved frames" : "none given");
    if (template_data && template_data->n_beads != t->n_beads)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "trajectory: the template dataset has %zu beads, the "
                               "trajectory %zu",
                               template_data->n_beads, t->n_beads);
    return trajectory_dataset(t, template_data, force, ctx, out);
}

cgdml_status cgdml_trajectory_save(const cgdml_trajectory *t, const cgdml_dataset *template_data,
                                   cgdml_force_fn force, void *ctx, const char *path)
{
    if (!t || !path)
        return cgdml_error_set(CGDML_ERR_INVALID, "trajectory save: no %s given",
                               t ? "path" : "trajectory");
    if (template_data && template_data->n_beads != t->n_beads)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "trajectory save %s: the template dataset has %zu beads, the "
                               "trajectory %zu",
                               path, template_data->n_beads, t->n_beads);
    if (t->n_saved == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "trajectory save %s: no saved frames", path);
    cgdml_dataset *d = NULL;
    cgdml_status st = trajectory_dataset(t, template_data, force, ctx, &d);
    if (st)
        return cgdml_error_wrap(st, "trajectory save %s", path);
    st = cgdml_h5md_write(path, d, NULL);
    cgdml_dataset_free(d);
    return st;
}

/* ---- start frames ----------------------------------------------------------------- */

/* One frame per phi/psi stratum (with replacement when replicas outnumber strata);
 * CGDML_ERR_INVALID when the beads have no phi/psi. */
static cgdml_status strata_frames(const cgdml_dataset *d, size_t n, unsigned long seed,
                                  size_t **idx)
{
    cgdml_collective cvs[2];
    cgdml_strata *strata = NULL;
    cgdml_status s = cgdml_collective_default_phi_psi(d->n_beads, CGDML_STRATA_DEFAULT_BINS, cvs);
    if (!s)
        s = cgdml_strata_from_cvs(d, cvs, 2, &strata);
    if (!s)
        s = cgdml_strata_draw(strata, n <= strata->n_strata ? CGDML_DRAW_STRATIFIED_UNIQUE
                                                             : CGDML_DRAW_STRATIFIED,
                              n, seed, idx);
    cgdml_strata_free(strata);
    return s;
}

/* Whether frame x (n_beads beads) lies in α_R: φ < 0 and -115° < ψ < 46°, the
 * basin indicator of the landscape's autocorrelation (fes.c). */
static int in_alpha_r(const double *x, const int *phi, const int *psi)
{
    double f = cgdml_geometry_dihedral(x, phi[0], phi[1], phi[2], phi[3]);
    double p = cgdml_geometry_dihedral(x, psi[0], psi[1], psi[2], psi[3]);
    return f < 0.0 && p > -115.0 * M_PI / 180.0 && p < 46.0 * M_PI / 180.0;
}

/* n frames drawn uniformly among those in α_R (alpha = 1) or in β (φ < 0, ψ
 * outside α_R; alpha = 0), with replacement only when the basin has fewer. */
static cgdml_status basin_frames(const cgdml_dataset *d, size_t n, int alpha, unsigned long seed,
                                 size_t **idx)
{
    int phi[4], psi[4];
    cgdml_status s = cgdml_geometry_phi_psi_beads(d->n_beads, phi, psi);
    if (s)
        return cgdml_error_set(CGDML_ERR_INVALID, "start frames: basin starts need the phi/psi "
                                                  "beads of alanine dipeptide (5 or 6 beads, not %zu)",
                               d->n_beads);
    size_t *basin = malloc(d->n_frames * sizeof(size_t)), n_basin = 0, *pick = NULL;
    if (!basin)
        return cgdml_error_set(CGDML_ERR_NOMEM, "start frames: %zu indices", d->n_frames);
    for (size_t i = 0; i < d->n_frames; i++) {
        const double *x = d->coords + i * 3 * d->n_beads;
        int phi_negative = cgdml_geometry_dihedral(x, phi[0], phi[1], phi[2], phi[3]) < 0.0;
        if (phi_negative && in_alpha_r(x, phi, psi) == alpha)
            basin[n_basin++] = i;
    }
    size_t n_pick = n < n_basin ? n : n_basin;
    s = n_basin ? cgdml_sample_random(n_basin, n_pick, seed, &pick)
                : cgdml_error_set(CGDML_ERR_INVALID, "start frames: no frame of the data lies in %s",
                                  alpha ? "alpha_R" : "beta");
    if (!s) {
        *idx = malloc(n * sizeof(size_t));
        if (!*idx)
            s = cgdml_error_set(CGDML_ERR_NOMEM, "start frames: %zu indices", n);
        for (size_t r = 0; !s && r < n; r++)
            (*idx)[r] = basin[pick[r % n_pick]];
    }
    free(pick);
    free(basin);
    return s;
}

cgdml_status cgdml_simulate_start_frames(const cgdml_dataset *data, size_t n,
                                         cgdml_start_kind kind, unsigned long seed,
                                         double *start)
{
    if (data->n_frames && n && (kind == CGDML_START_ALPHA_R || kind == CGDML_START_BETA)) {
        size_t *idx = NULL, n3 = 3 * data->n_beads;
        cgdml_status s = basin_frames(data, n, kind == CGDML_START_ALPHA_R, seed, &idx);
        for (size_t r = 0; !s && r < n; r++)
            memcpy(start + r * n3, data->coords + idx[r] * n3, n3 * sizeof(double));
        free(idx);
        return s;
    }
    if (data->n_frames == 0 || n == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "start frames: %zu replicas from %zu frames",
                               n, data->n_frames);
    size_t *idx = NULL, n3 = 3 * data->n_beads, n_idx = n;
    cgdml_status s = kind == CGDML_START_STRATA ? strata_frames(data, n, seed, &idx)
                                                : CGDML_ERR_INVALID;
    if (s == CGDML_ERR_INVALID) { /* equilibrium, or strata without phi/psi */
        cgdml_error_clear();
        n_idx = n < data->n_frames ? n : data->n_frames;
        s = cgdml_sample_random(data->n_frames, n_idx, seed, &idx);
    }
    for (size_t r = 0; !s && r < n; r++)
        memcpy(start + r * n3, data->coords + idx[r % n_idx] * n3, n3 * sizeof(double));
    free(idx);
    return s;
}

/* ---- a model's simulation from a dataset ------------------------------------------ */

void cgdml_simulate_bead_masses(const cgdml_dataset *d, double *m)
{
    for (size_t b = 0; b < d->n_beads; b++) {
        switch (d->bead_names[b][0]) {
        case 'N': m[b] = 14.007; break;
        case 'O': m[b] = 15.999; break;
        case 'S': m[b] = 32.06; break;
        case 'H': m[b] = 1.008; break;
        default: m[b] = 12.011;
        }
    }
}

cgdml_status cgdml_simulate_dataset(const cgdml_model *model, const cgdml_dataset *data,
                                    size_t n_replicas, cgdml_start_kind start,
                                    const cgdml_simulate_options *opt, cgdml_trajectory **out)
{
    *out = NULL;
    if (data->n_beads != model->n_beads)
        return cgdml_error_set(CGDML_ERR_INVALID, "the dataset has %zu beads but the model %zu",
                               data->n_beads, model->n_beads);
    if (n_replicas < 1)
        return cgdml_error_set(CGDML_ERR_INVALID, "simulate: at least 1 replica");
    size_t n3 = 3 * data->n_beads;
    cgdml_status s = cgdml_memory_check(n_replicas * n3 * sizeof(double), "the start frames");
    if (s)
        return s;
    double *start_x = malloc(n_replicas * n3 * sizeof(double));
    double *masses = malloc(data->n_beads * sizeof(double));
    if (!start_x || !masses) {
        free(start_x);
        free(masses);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu replicas", n_replicas);
    }
    cgdml_simulate_bead_masses(data, masses);
    cgdml_simulate_options so = *opt;
    if (!so.masses)
        so.masses = masses;
    if (!so.prior)
        so.prior = model->prior;
    s = cgdml_simulate_start_frames(data, n_replicas, start, opt->seed, start_x);
    if (!s)
        s = cgdml_simulate_run(cgdml_simulate_model_forces, (void *)model, n_replicas,
                               data->n_beads, start_x, &so, out);
    free(start_x);
    free(masses);
    return s;
}
