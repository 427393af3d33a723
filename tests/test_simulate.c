/* test_simulate.c - CG Langevin dynamics on potentials with known answers: the
 * overdamped and BAOAB integrators sample the Boltzmann variance of harmonic
 * wells and the Boltzmann populations of an asymmetric double well; replicas that
 * blow up are stopped while the others run on; seeds and thread counts give
 * bit-identical trajectories; a run resumed from its checkpoint equals the
 * uninterrupted one; the H5MD output round-trips with (φ, ψ); bad options and
 * foreign checkpoints are refused.  Statistical tolerances are 5 standard errors of
 * (effectively independent) saved frames, so a wrong factor of √2 fails.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgdml/geometry.h"
#include "cgdml/h5md.h"
#include "shipped_data.h"
#include "cgdml/model.h"
#include "cgdml/simulate.h"
#include "cgdml/synthetic.h"
#include "cgdml/memory.h"

#include "tmp_dir.h"

#define KT (CGDML_BOLTZMANN_KCAL * 300.0)
/* Standard errors allowed by the statistical tests (false failure ~1e-6). */
#define Z_TOL 5.0

/* ---- analytic force fields ------------------------------------------------------ */

/* Independent isotropic wells U = k_b/2 |x_b|² for each bead b. */
typedef struct {
    size_t n_beads;
    const double *k; /* [bead] kcal/mol/Å² */
} harmonic;

static cgdml_status harmonic_forces(void *ctx, size_t n, const double *x, double *f)
{
    const harmonic *h = ctx;
    for (size_t i = 0; i < n * h->n_beads * 3; i++)
        f[i] = -h->k[i / 3 % h->n_beads] * x[i];
    return CGDML_OK;
}

/* U = a (x² - 1)² - b x + k/2 (y² + z²), one bead. */
typedef struct {
    double a, b, k;
} double_well;

static double double_well_energy(const double_well *w, double x)
{
    return w->a * (x * x - 1) * (x * x - 1) - w->b * x;
}

static cgdml_status double_well_forces(void *ctx, size_t n, const double *x, double *f)
{
    const double_well *w = ctx;
    for (size_t r = 0; r < n; r++) {
        const double *p = x + 3 * r;
        f[3 * r] = -4 * w->a * p[0] * (p[0] * p[0] - 1) + w->b;
        f[3 * r + 1] = -w->k * p[1];
        f[3 * r + 2] = -w->k * p[2];
    }
    return CGDML_OK;
}

/* A harmonic well (k = 1) that turns into a runaway F = +x³ beyond |x| = 50. */
static cgdml_status runaway_forces(void *ctx, size_t n, const double *x, double *f)
{
    for (size_t i = 0; i < 3 * n; i++)
        f[i] = fabs(x[i]) > 50 ? x[i] * x[i] * x[i] : -x[i];
    return CGDML_OK;
}

/* Two beads joined by a spring (r0 = 1 Å, k = 240 kcal/mol/Å², σ = 0.05 Å) that
 * turns repulsive beyond 1.5 Å (10 σ). */
static cgdml_status snapping_bond_forces(void *ctx, size_t n, const double *x, double *f)
{
    for (size_t r = 0; r < n; r++) {
        const double *a = x + 6 * r, *b = a + 3;
        double d[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double len = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        double mag = len > 1.5 ? 100.0 * (len - 1) : -240.0 * (len - 1); /* + pushes apart */
        for (int c = 0; c < 3; c++) {
            f[6 * r + 3 + c] = mag * d[c] / len;
            f[6 * r + c] = -mag * d[c] / len;
        }
    }
    return CGDML_OK;
}

/* Forces of a prior alone (ctx: const cgdml_prior *), for 6-bead chains. */
static cgdml_status prior_forces(void *ctx, size_t n, const double *x, double *f)
{
    memset(f, 0, n * 18 * sizeof(double));
    for (size_t r = 0; r < n; r++)
        cgdml_prior_add_forces(ctx, x + 18 * r, f + 18 * r);
    return CGDML_OK;
}

/* ---- helpers -------------------------------------------------------------------- */

static gsl_rng *seeded_rng(unsigned long seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    return rng;
}

/* Default options with the step, length, save interval and seed of a test. */
static cgdml_simulate_options options(double dt, size_t n_steps, size_t save_every,
                                      unsigned long seed)
{
    cgdml_simulate_options o;
    cgdml_simulate_options_init(&o);
    o.dt = dt;
    o.n_steps = n_steps;
    o.save_every = save_every;
    o.seed = seed;
    return o;
}

static cgdml_trajectory *run_ok(cgdml_force_fn force, void *ctx, size_t n_rep, size_t n_beads,
                                const double *start, const cgdml_simulate_options *o)
{
    cgdml_trajectory *t = NULL;
    cr_assert_eq(cgdml_simulate_run(force, ctx, n_rep, n_beads, start, o, &t), CGDML_OK, "%s",
                 cgdml_error_message());
    return t;
}

/* Start frames of n_rep replicas with bead b drawn from N(0, var[b]) per coordinate. */
static double *gaussian_start(size_t n_rep, size_t n_beads, const double *var, unsigned long seed)
{
    gsl_rng *rng = seeded_rng(seed);
    double *x = malloc(n_rep * n_beads * 3 * sizeof(double));
    for (size_t i = 0; i < n_rep * n_beads * 3; i++)
        x[i] = gsl_ran_gaussian(rng, sqrt(var[i / 3 % n_beads]));
    gsl_rng_free(rng);
    return x;
}

static double distance(const double *a, const double *b)
{
    return hypot(hypot(a[0] - b[0], a[1] - b[1]), a[2] - b[2]);
}

typedef struct {
    double mean, mean_se, var, var_se;
} moments;

/* Mean and variance of bead b's coordinates in arr[saved][replica][bead][xyz]
 * (n_saved * n_rep frames), with standard errors for independent samples. */
static moments bead_moments(const double *arr, size_t n_frames, size_t n_beads, size_t b)
{
    double s = 0, s2 = 0, s4 = 0;
    size_t n = 3 * n_frames;
    for (size_t k = 0; k < n_frames; k++)
        for (int c = 0; c < 3; c++)
            s += arr[(k * n_beads + b) * 3 + c];
    double mean = s / n;
    for (size_t k = 0; k < n_frames; k++)
        for (int c = 0; c < 3; c++) {
            double d = arr[(k * n_beads + b) * 3 + c] - mean;
            s2 += d * d;
            s4 += d * d * d * d;
        }
    double var = s2 / (n - 1);
    /* SE of the sample variance: sqrt((m4 - var²) / n). */
    return (moments){mean, sqrt(var / n), var, sqrt((s4 / n - var * var) / n)};
}

static void assert_near(double got, double want, double se, const char *what)
{
    cr_log_info("%s: %.5f, expected %.5f (SE %.5f, %.2f SE off)", what, got, want, se,
                (got - want) / se);
    cr_assert(fabs(got - want) < Z_TOL * se, "%s: %g, expected %g +- %g (%g SE)", what, got, want,
              Z_TOL * se, (got - want) / se);
}

/* ---- sampling ------------------------------------------------------------------- */

/* Two beads in wells k = 1 and 4 kcal/mol/Å², D = 1 Å²/ps, dt = 5 fs: per step
 * the Euler-Maruyama update is x' = (1 - h) x + sqrt(2 D dt) ξ, h = D k dt / kT,
 * whose stationary variance is exactly (kT/k) / (1 - h/2).  Saved every 600
 * steps, the correlation between saved frames is (1 - h)^400 < 0.04 (< 0.002 for
 * their squares). */
Test(simulate, overdamped_harmonic_well_has_boltzmann_variance)
{
    const double k[2] = {1.0, 4.0}, D = 1.0, dt = 0.005;
    const size_t n_rep = 64;
    double exact[2];
    for (int b = 0; b < 2; b++)
        exact[b] = KT / k[b] / (1 - 0.5 * D * k[b] * dt / KT);
    harmonic h = {2, k};
    double *start = gaussian_start(n_rep, 2, exact, 7);
    cgdml_simulate_options o = options(dt, 60000, 400, 11);
    o.diffusion = D;
    cgdml_trajectory *t = run_ok(harmonic_forces, &h, n_rep, 2, start, &o);
    cr_assert_eq(t->n_saved, 150);
    cr_assert_eq(cgdml_trajectory_alive_count(t), n_rep);
    cr_assert_eq(t->step[149], 60000);
    cr_assert_float_eq(t->time[0], 400 * dt, 1e-12);
    for (size_t b = 0; b < 2; b++) {
        moments m = bead_moments(t->coords, t->n_saved * n_rep, 2, b);
        assert_near(m.mean, 0.0, m.mean_se, b ? "mean, k = 4" : "mean, k = 1");
        assert_near(m.var, exact[b], m.var_se, b ? "variance, k = 4" : "variance, k = 1");
    }
    cgdml_trajectory_free(t);
    free(start);
}

/* BAOAB samples positions exactly for a harmonic oscillator (Leimkuhler &
 * Matthews 2013) and velocities with a relative bias (ω dt / 2)², here < 0.4 %.
 * Masses 12 and 3 amu, k = 1 and 4: ω = 5.9 and 23.6 /ps; γ = 5 /ps; saved every
 * 1.5 ps, when the correlation of positions has decayed to e^(-γ/2 · 1.5 ps) < 0.03. */
Test(simulate, baoab_samples_harmonic_variance_and_kinetic_temperature)
{
    const double k[2] = {1.0, 4.0}, masses[2] = {12.0, 3.0}, dt = 0.005;
    const size_t n_rep = 64;
    double var[2] = {KT / k[0], KT / k[1]};
    harmonic h = {2, k};
    double *start = gaussian_start(n_rep, 2, var, 8);
    cgdml_simulate_options o = options(dt, 45000, 300, 12);
    o.integrator = CGDML_INTEGRATOR_BAOAB;
    o.friction = 5.0;
    o.masses = masses;
    cgdml_trajectory *t = run_ok(harmonic_forces, &h, n_rep, 2, start, &o);
    cr_assert_not_null(t->velocities);
    size_t n_frames = t->n_saved * n_rep;
    for (size_t b = 0; b < 2; b++) {
        moments m = bead_moments(t->coords, n_frames, 2, b);
        assert_near(m.var, var[b], m.var_se, b ? "BAOAB variance, k = 4" : "BAOAB variance, k = 1");
        /* Kinetic temperature m <v²> / k_B, with the (ω dt/2)² bias allowed for. */
        moments v = bead_moments(t->velocities, n_frames, 2, b);
        double to_kelvin = masses[b] / (CGDML_BOLTZMANN_KCAL * CGDML_SIMULATE_ACCEL_UNIT);
        double w_dt = sqrt(k[b] * CGDML_SIMULATE_ACCEL_UNIT / masses[b]) * dt;
        double bias = 300.0 * w_dt * w_dt / 4;
        assert_near(v.var * to_kelvin, 300.0, v.var_se * to_kelvin + bias / Z_TOL,
                    b ? "kinetic temperature (K), bead 1" : "kinetic temperature (K), bead 0");
    }
    cgdml_trajectory_free(t);
    free(start);
}

/* Fraction of the Boltzmann density of the double well at x > 0 (Simpson's rule
 * on [-3, 3], where the density has fallen below e^-300). */
static double right_population(const double_well *w)
{
    const int n = 6000;
    double h = 6.0 / n, left = 0, right = 0;
    for (int i = 0; i <= n; i++) {
        double x = -3.0 + i * h, wt = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
        double p = wt * exp(-double_well_energy(w, x) / KT);
        if (i < n / 2)
            left += p;
        else if (i > n / 2)
            right += p;
        else {
            left += p / 2;
            right += p / 2;
        }
    }
    return right / (left + right);
}

/* Transitions between the wells in one replica's saved x (hysteresis ±0.5 Å). */
static size_t count_transitions(const cgdml_trajectory *t, size_t r)
{
    size_t n = 0;
    int side = 0;
    for (size_t s = 0; s < t->n_saved; s++) {
        double x = t->coords[(s * t->n_replicas + r) * 3];
        int now = x > 0.5 ? 1 : x < -0.5 ? -1 : side;
        n += side && now != side;
        side = now;
    }
    return n;
}

/* U = a (x² - 1)² - b x with a barrier of 2.5 kT and a tilt b = 0.45 kT: the
 * right well holds ~70 % of the population.  The fraction at x > 0 averaged over
 * replicas matches the integral of exp(-U/kT) within 5 SE of the replicas'
 * spread; the run must contain enough transitions for that to mean something. */
Test(simulate, double_well_populations_follow_boltzmann)
{
    double_well w = {2.5 * KT, 0.45 * KT, 1.0};
    const size_t n_rep = 64, skip = 20;
    double *start = calloc(n_rep * 3, sizeof(double));
    for (size_t r = 0; r < n_rep; r++)
        start[3 * r] = r % 2 ? 1.0 : -1.0;
    cgdml_simulate_options o = options(0.001, 150000, 50, 13);
    o.diffusion = 1.0;
    cgdml_trajectory *t = run_ok(double_well_forces, &w, n_rep, 1, start, &o);
    double s = 0, s2 = 0;
    size_t transitions = 0;
    for (size_t r = 0; r < n_rep; r++) {
        size_t right = 0;
        for (size_t f = skip; f < t->n_saved; f++)
            right += t->coords[(f * n_rep + r) * 3] > 0;
        double p = (double)right / (double)(t->n_saved - skip);
        s += p;
        s2 += p * p;
        transitions += count_transitions(t, r);
    }
    double mean = s / n_rep, se = sqrt((s2 / n_rep - mean * mean) / (n_rep - 1));
    cr_log_info("double well: %zu transitions", transitions);
    cr_assert_gt(transitions, 1000);
    cr_assert_lt(se, 0.015, "too few transitions for a meaningful test (SE %g)", se);
    assert_near(mean, right_population(&w), se, "population of the right well");
    cgdml_trajectory_free(t);
    free(start);
}

/* ---- stopping replicas ---------------------------------------------------------- */

Test(simulate, runaway_replica_is_stopped_and_the_others_finish)
{
    const size_t n_rep = 4;
    double start[12] = {0};
    start[3] = 100.0; /* replica 1 starts in the runaway region */
    cgdml_simulate_options o = options(0.01, 400, 10, 1);
    o.diffusion = 0.5;
    cgdml_trajectory *t = run_ok(runaway_forces, NULL, n_rep, 1, start, &o);
    cr_assert_eq(cgdml_trajectory_alive_count(t), 3);
    cr_assert_eq(t->alive[1], 0);
    cr_assert(t->stopped_step[1] > 0 && t->stopped_step[1] < 10, "stopped at %zu",
              t->stopped_step[1]);
    cr_assert(strstr(t->stop_reason[1], "on bead 0") &&
                  (strstr(t->stop_reason[1], "NaN") || strstr(t->stop_reason[1], "infinite")),
              "%s", t->stop_reason[1]);
    for (size_t r = 0; r < n_rep; r++)
        if (r != 1) {
            cr_assert(t->alive[r] && t->stopped_step[r] == 400 && !t->stop_reason[r][0]);
            cr_assert(isfinite(t->coords[((t->n_saved - 1) * n_rep + r) * 3]));
        }
    for (size_t s = 0; s < t->n_saved; s++)
        cr_assert(isnan(t->coords[(s * n_rep + 1) * 3]));
    cgdml_trajectory_free(t);
}

/* The prior's bond has σ = 0.1 Å; replica 2 starts beyond the snapping point and
 * is stopped when its bond passes 1 + 20 σ = 3 Å, before it becomes non-finite. */
Test(simulate, bond_beyond_max_sigma_is_stopped)
{
    const size_t n_rep = 3;
    double start[18] = {0};
    for (size_t r = 0; r < n_rep; r++)
        start[6 * r + 3] = r == 2 ? 1.6 : 1.0;
    cgdml_prior *prior;
    cr_assert_eq(cgdml_prior_alloc(1, 0, &prior), CGDML_OK);
    prior->bonds[0] = 0;
    prior->bonds[1] = 1;
    prior->bond_r0[0] = 1.0;
    prior->bond_k[0] = KT / 0.01;
    cgdml_simulate_options o = options(0.001, 2000, 100, 1);
    o.diffusion = 0.01;
    o.prior = prior;
    cgdml_trajectory *t = run_ok(snapping_bond_forces, NULL, n_rep, 2, start, &o);
    cr_assert(t->alive[0] && t->alive[1] && !t->alive[2]);
    cr_assert(t->stopped_step[2] > 0 && t->stopped_step[2] < 2000);
    double z;
    cr_assert_eq(sscanf(t->stop_reason[2], "bond 0-1 at %lf sigma", &z), 1, "%s",
                 t->stop_reason[2]);
    cr_assert(z >= 20 && z < 25, "%s", t->stop_reason[2]);
    /* final_coords keeps the offending frame: bond just past 3 Å. */
    const double *x = t->final_coords + 2 * 6;
    cr_assert_float_eq(distance(x, x + 3), 1 + 0.1 * z, 0.01); /* z printed to 0.1 */
    cgdml_trajectory_free(t);
    cgdml_prior_free(prior);
}

/* ---- reproducibility ------------------------------------------------------------ */

static cgdml_trajectory *small_run(cgdml_integrator integrator, unsigned long seed, size_t n_rep,
                                   int threads)
{
    static const double k[2] = {1.0, 2.0};
    static harmonic h = {2, k};
    double *start = calloc(n_rep * 6, sizeof(double));
    cgdml_simulate_options o = options(0.01, 100, 7, seed);
    o.integrator = integrator;
    o.diffusion = 1.0;
    omp_set_num_threads(threads);
    cgdml_trajectory *t = run_ok(harmonic_forces, &h, n_rep, 2, start, &o);
    free(start);
    return t;
}

static int same_replica(const cgdml_trajectory *a, const cgdml_trajectory *b, size_t r)
{
    for (size_t s = 0; s < a->n_saved; s++)
        if (memcmp(a->coords + (s * a->n_replicas + r) * 6, b->coords + (s * b->n_replicas + r) * 6,
                   6 * sizeof(double)))
            return 0;
    return 1;
}

Test(simulate, seeds_reproduce_independently_of_threads)
{
    for (int i = 0; i < 2; i++) {
        cgdml_integrator g = i ? CGDML_INTEGRATOR_BAOAB : CGDML_INTEGRATOR_OVERDAMPED;
        /* 800 replicas x 6 coordinates: enough for the integrator's loops to
         * run in parallel (PARALLEL_MIN_COORDS in simulate.c). */
        cgdml_trajectory *one = small_run(g, 5, 800, 1), *two = small_run(g, 5, 800, 2);
        cgdml_trajectory *other = small_run(g, 6, 800, 2), *fewer = small_run(g, 5, 3, 2);
        size_t n = one->n_saved * 800 * 6;
        cr_assert_eq(memcmp(one->coords, two->coords, n * sizeof(double)), 0);
        if (i)
            cr_assert_eq(memcmp(one->velocities, two->velocities, n * sizeof(double)), 0);
        cr_assert(!same_replica(one, other, 0), "another seed gives another trajectory");
        for (size_t r = 0; r < 3; r++)
            cr_assert(same_replica(one, fewer, r), "replica %zu depends on the replica count", r);
        /* All start at the origin: only their own noise tells replicas apart. */
        cr_assert_neq(memcmp(one->coords, one->coords + 6, 6 * sizeof(double)), 0);
        cgdml_trajectory_free(one);
        cgdml_trajectory_free(two);
        cgdml_trajectory_free(other);
        cgdml_trajectory_free(fewer);
    }
}

/* ---- output --------------------------------------------------------------------- */

/* A 6-bead alanine-like chain C N CA CB C N with dihedral φ, ψ (NeRF). */
static void build_chain(double phi, double psi, double *x)
{
    memset(x, 0, 18 * sizeof(double));
    x[3] = 1.33;
    x[6] = 1.33 + 1.46 * cos(M_PI - 1.9);
    x[7] = 1.46 * sin(M_PI - 1.9);
    cgdml_geometry_place(x, x + 3, x + 6, 1.52, 1.9, phi, x + 12);      /* C  */
    cgdml_geometry_place(x + 3, x + 6, x + 12, 1.33, 1.9, psi, x + 15); /* N  */
    cgdml_geometry_place(x + 12, x + 3, x + 6, 1.53, 1.9, -2.1, x + 9); /* CB */
}

/* The prior the pipeline would fit (Boltzmann inversion at 300 K) to 40 copies of
 * chain x jittered by 0.03 Å per coordinate. */
static cgdml_prior *chain_prior(const double *x)
{
    size_t n_bonds;
    int *bonds;
    cgdml_dataset *d;
    cr_assert_eq(cgdml_prior_default_bonds(6, &n_bonds, &bonds), CGDML_OK);
    cr_assert_eq(cgdml_dataset_alloc(40, 6, &d), CGDML_OK);
    gsl_rng *rng = seeded_rng(3);
    for (size_t i = 0; i < 40 * 18; i++)
        d->coords[i] = x[i % 18] + gsl_ran_gaussian(rng, 0.03);
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_fit(d, NULL, 40, n_bonds, bonds, 300.0, &p), CGDML_OK, "%s",
                 cgdml_error_message());
    gsl_rng_free(rng);
    cgdml_dataset_free(d);
    free(bonds);
    return p;
}

static cgdml_dataset *chain_template(void)
{
    static const char *names[6] = {"C", "N", "CA", "CB", "C", "N"};
    static const int bonds[10] = {0, 1, 1, 2, 2, 3, 2, 4, 4, 5};
    cgdml_dataset *d;
    cr_assert_eq(cgdml_dataset_alloc(1, 6, &d), CGDML_OK);
    for (int b = 0; b < 6; b++)
        strcpy(d->bead_names[b], names[b]);
    cr_assert_eq(cgdml_dataset_set_bonds(d, 5, bonds), CGDML_OK);
    return d;
}

/* Run n_rep chains from start for n_steps steps saved every save_every, driven
 * by the prior fitted to the first start frame (*prior, caller frees). */
static cgdml_trajectory *chain_run(size_t n_rep, const double *start, size_t n_steps,
                                   size_t save_every, cgdml_prior **prior)
{
    *prior = chain_prior(start);
    cgdml_simulate_options o = options(0.002, n_steps, save_every, 1);
    o.prior = *prior;
    return run_ok(prior_forces, *prior, n_rep, 6, start, &o);
}

/* Save t to a temporary H5MD file and read it back. */
static cgdml_dataset *save_and_read(const cgdml_trajectory *t, const cgdml_dataset *tmpl,
                                    cgdml_force_fn force, void *ctx)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/cgdml_test_simulate_%d.h5", (int)getpid());
    cr_assert_eq(cgdml_trajectory_save(t, tmpl, force, ctx, path), CGDML_OK, "%s",
                 cgdml_error_message());
    cgdml_dataset *d;
    cr_assert_eq(cgdml_h5md_read(path, NULL, &d), CGDML_OK, "%s", cgdml_error_message());
    unlink(path);
    return d;
}

/* Positions, recomputed forces, step/time, φ/ψ and replica observables, names
 * and bonds survive the H5MD round trip; φ/ψ are the dihedrals of the positions. */
Test(simulate, trajectory_h5md_round_trip)
{
    const size_t n_rep = 3;
    double start[3 * 18];
    for (size_t r = 0; r < n_rep; r++)
        build_chain(-1.4 + 0.5 * r, 2.5 - r, start + 18 * r);
    cgdml_prior *p;
    cgdml_trajectory *t = chain_run(n_rep, start, 200, 20, &p);
    cgdml_dataset *tmpl = chain_template();
    cgdml_dataset *d = save_and_read(t, tmpl, prior_forces, p);
    cr_assert_eq(d->n_frames, 30);
    cr_assert_eq(memcmp(d->coords, t->coords, 30 * 18 * sizeof(double)), 0);
    double f[18];
    double *phi = malloc(30 * sizeof(double)), *psi = malloc(30 * sizeof(double));
    cr_assert_eq(cgdml_trajectory_angles(t, NULL, NULL, phi, psi), CGDML_OK);
    const double *ophi = cgdml_dataset_observable(d, "phi"),
                 *opsi = cgdml_dataset_observable(d, "psi");
    const double *orep = cgdml_dataset_observable(d, "replica");
    cr_assert(ophi && opsi && orep);
    for (size_t k = 0; k < 30; k++) {
        const double *x = d->coords + 18 * k;
        prior_forces(p, 1, x, f);
        cr_assert_eq(memcmp(d->forces + 18 * k, f, sizeof f), 0, "frame %zu forces", k);
        cr_assert_eq(d->step[k], (int64_t)(20 * (k / 3 + 1)));
        cr_assert_float_eq(d->time[k], 0.002 * 20 * (k / 3 + 1), 1e-12);
        cr_assert_eq(orep[k], (double)(k % 3));
        cr_assert_eq(ophi[k], cgdml_geometry_dihedral(x, 0, 1, 2, 4));
        cr_assert_eq(opsi[k], cgdml_geometry_dihedral(x, 1, 2, 4, 5));
        cr_assert(ophi[k] == phi[k] && opsi[k] == psi[k]);
    }
    cr_assert_str_eq(d->bead_names[2], "CA");
    cr_assert_eq(d->n_bonds, 5);
    cr_assert_eq(d->bonds[7], 4);
    free(phi);
    free(psi);
    cgdml_dataset_free(d);
    cgdml_dataset_free(tmpl);
    cgdml_trajectory_free(t);
    cgdml_prior_free(p);
}

/* Frames after a stop are NaN in angles and file; without a callback the file's
 * forces are NaN rather than invented zeros. */
Test(simulate, stopped_frames_and_missing_forces_are_nan)
{
    double start[2 * 18];
    build_chain(-1.4, 2.5, start);
    build_chain(-1.4, 2.5, start + 18);
    start[18 + 15] += 50.0; /* replica 1: bond 4-5 stretched by 50 Å */
    cgdml_prior *p;
    cgdml_trajectory *t = chain_run(2, start, 20, 10, &p);
    cr_assert_eq(t->stopped_step[1], 0, "stopped at the start");
    cr_assert(strstr(t->stop_reason[1], "bond 4-5"), "%s", t->stop_reason[1]);
    double phi[4], psi[4];
    cr_assert_eq(cgdml_trajectory_angles(t, NULL, NULL, phi, psi), CGDML_OK);
    cr_assert(isfinite(phi[0]) && isfinite(psi[2]) && isnan(phi[1]) && isnan(psi[3]));
    cgdml_dataset *d = save_and_read(t, NULL, NULL, NULL);
    cr_assert(isfinite(d->coords[0]) && isnan(d->coords[18]) && isnan(d->forces[0]));
    cr_assert(isnan(cgdml_dataset_observable(d, "phi")[3]));
    cgdml_dataset_free(d);
    cgdml_trajectory_free(t);
    cgdml_prior_free(p);
}

/* ---- the model callback and progress -------------------------------------------- */

Test(simulate, model_callback_is_model_prediction)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *d;
    cr_assert_eq(cgdml_harmonic_network_alloc(4, 20.0, 3, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, 12, 0.1, 0.0, 4, &d), CGDML_OK);
    size_t idx[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    cgdml_model *m;
    cr_assert_eq(cgdml_model_train(d, idx, 10, 0.5, 1e-8, NULL, &m), CGDML_OK);
    double want[2 * 12], got[2 * 12];
    cgdml_model_predict(m, 2, d->coords + 10 * 12, want, NULL);
    cr_assert_eq(cgdml_simulate_model_forces(m, 2, d->coords + 10 * 12, got), CGDML_OK);
    cr_assert_eq(memcmp(want, got, sizeof want), 0);
    cr_assert_eq(cgdml_simulate_model_forces(NULL, 2, d->coords, got), CGDML_ERR_INVALID);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
    cgdml_harmonic_network_free(net);
}

typedef struct {
    size_t calls, last_step, total;
    double rate;
} progress_log;

static void record_progress(void *ctx, size_t step, size_t n_steps, double steps_per_s)
{
    progress_log *p = ctx;
    p->calls++;
    p->last_step = step;
    p->total = n_steps;
    p->rate = steps_per_s;
}

Test(simulate, progress_reports_the_last_step)
{
    double k = 1.0, start[3] = {0};
    harmonic h = {1, &k};
    progress_log log = {0};
    cgdml_simulate_options o = options(0.002, 1000, 10, 1);
    o.progress = record_progress;
    o.progress_ctx = &log;
    cgdml_trajectory *t = run_ok(harmonic_forces, &h, 1, 1, start, &o);
    cr_assert(log.calls >= 1 && log.last_step == 1000 && log.total == 1000 && log.rate > 0);
    cgdml_trajectory_free(t);
}

/* ---- refusals ------------------------------------------------------------------- */

static void assert_refused(const cgdml_simulate_options *o, size_t n_rep, cgdml_status want,
                           const char *fragment)
{
    double k = 1.0, start[6] = {0};
    harmonic h = {1, &k};
    cgdml_trajectory dummy, *t = &dummy; /* must be reset to NULL */
    cr_assert_eq(cgdml_simulate_run(harmonic_forces, &h, n_rep, 1, start, o, &t), want, "%s",
                 cgdml_error_message());
    cr_assert_null(t);
    cr_assert(strstr(cgdml_error_message(), fragment), "message \"%s\" lacks \"%s\"",
              cgdml_error_message(), fragment);
}

Test(simulate, bad_options_are_refused)
{
    cgdml_simulate_options base, o;
    cgdml_simulate_options_init(&base);
    double bad_mass = 0.0;
    o = base, o.dt = 0;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "dt");
    o = base, o.dt = NAN;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "dt");
    o = base, o.temperature = -1;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "temperature");
    o = base, o.save_every = 0;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "save_every");
    o = base, o.save_every = o.n_steps + 1;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "save_every");
    o = base, o.n_steps = 0;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "steps");
    o = base, o.diffusion = 0;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "diffusion");
    o = base, o.integrator = CGDML_INTEGRATOR_BAOAB, o.friction = -1;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "friction");
    o = base, o.integrator = CGDML_INTEGRATOR_BAOAB, o.masses = &bad_mass;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "mass of bead 0");
    o = base, o.integrator = (cgdml_integrator)7;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "integrator");
    o = base, o.max_bond_sigma = -1;
    assert_refused(&o, 1, CGDML_ERR_INVALID, "max_bond_sigma");
    assert_refused(&base, 0, CGDML_ERR_INVALID, "replicas");
    cgdml_memory_set_budget(1000);
    assert_refused(&base, 2, CGDML_ERR_NOMEM, "simulation trajectory");
    cgdml_memory_set_budget(0);
}

Test(simulate, bad_start_and_prior_are_refused)
{
    double k = 1.0, start[6] = {0, 0, 0, 0, NAN, 0};
    harmonic h = {1, &k};
    cgdml_simulate_options o;
    cgdml_simulate_options_init(&o);
    cgdml_trajectory *t;
    cr_assert_eq(cgdml_simulate_run(harmonic_forces, &h, 2, 1, start, &o, &t), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "replica 1, bead 0"), "%s", cgdml_error_message());
    cr_assert_eq(cgdml_simulate_run(NULL, &h, 1, 1, start, &o, &t), CGDML_ERR_INVALID);
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_alloc(1, 0, &p), CGDML_OK);
    p->bonds[1] = 3;
    o.prior = p;
    cr_assert_eq(cgdml_simulate_run(harmonic_forces, &h, 1, 1, start, &o, &t), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "bead 3"), "%s", cgdml_error_message());
    cgdml_prior_free(p);
}

/* ---- checkpoint and resume ------------------------------------------------------ */

/* runaway_forces that fail (as a killed process would stop) at call `fail_at`. */
typedef struct {
    size_t calls, fail_at;
} crashing;

static cgdml_status crashing_forces(void *ctx, size_t n, const double *x, double *f)
{
    crashing *c = ctx;
    if (++c->calls == c->fail_at)
        return cgdml_error_set(CGDML_ERR_IO, "the process died");
    return runaway_forces(NULL, n, x, f);
}

static void assert_same_trajectory(const cgdml_trajectory *a, const cgdml_trajectory *b)
{
    size_t n = a->n_saved * a->n_replicas * 3;
    cr_assert_eq(a->n_saved, b->n_saved);
    cr_assert_eq(memcmp(a->coords, b->coords, n * sizeof(double)), 0, "coordinates differ");
    if (a->velocities)
        cr_assert_eq(memcmp(a->velocities, b->velocities, n * sizeof(double)), 0);
    cr_assert_eq(memcmp(a->final_coords, b->final_coords, a->n_replicas * 3 * sizeof(double)), 0);
    cr_assert_eq(memcmp(a->step, b->step, a->n_saved * sizeof *a->step), 0);
    for (size_t r = 0; r < a->n_replicas; r++) {
        cr_assert_eq(a->alive[r], b->alive[r]);
        cr_assert_eq(a->stopped_step[r], b->stopped_step[r]);
        cr_assert_str_eq(a->stop_reason[r], b->stop_reason[r]);
    }
}

/* A run that dies at step 37 of 60 (checkpoints every step) and is resumed
 * equals the uninterrupted run, a stopped replica included, for both
 * integrators; the checkpoint of the last step resumes to the same result. */
Test(simulate, checkpoint_resumes_bit_for_bit)
{
    char dir[64], path[128];
    test_tmp_dir_make(dir, sizeof dir, "cgdml-ckpt");
    snprintf(path, sizeof path, "%s/run.checkpoint", dir);
    double start[12] = {0};
    start[3] = 100.0; /* replica 1 blows up within a few steps */
    for (int i = 0; i < 2; i++) {
        cgdml_simulate_options o = options(0.01, 60, 10, 3);
        o.integrator = i ? CGDML_INTEGRATOR_BAOAB : CGDML_INTEGRATOR_OVERDAMPED;
        o.diffusion = 0.5;
        cgdml_trajectory *whole = run_ok(runaway_forces, NULL, 4, 1, start, &o), *t = NULL;
        cr_assert_eq(whole->alive[1], 0);
        o.checkpoint = path;
        o.checkpoint_interval_s = 1e-9;
        o.resume = 1;
        unlink(path);
        crashing c = {.fail_at = 38}; /* call 1 is step 0 */
        cr_assert_eq(cgdml_simulate_run(crashing_forces, &c, 4, 1, start, &o, &t),
                     CGDML_ERR_IO);
        cr_assert_null(t);
        cgdml_trajectory *resumed = run_ok(runaway_forces, NULL, 4, 1, start, &o);
        cr_assert_eq(resumed->resumed_step, 36);
        assert_same_trajectory(whole, resumed);
        /* The run left its last step's checkpoint: resuming it only reloads. */
        cgdml_trajectory *again = run_ok(runaway_forces, NULL, 4, 1, start, &o);
        cr_assert_eq(again->resumed_step, 60);
        assert_same_trajectory(whole, again);
        /* Without resume, the checkpoint is not read. */
        o.resume = 0;
        cgdml_trajectory *fresh = run_ok(runaway_forces, NULL, 4, 1, start, &o);
        cr_assert_eq(fresh->resumed_step, 0);
        assert_same_trajectory(whole, fresh);
        cgdml_trajectory_free(whole);
        cgdml_trajectory_free(resumed);
        cgdml_trajectory_free(again);
        cgdml_trajectory_free(fresh);
    }
    unlink(path);
    test_tmp_dir_remove(dir);
}

/* A checkpoint of another run, a truncated one and a foreign file are refused. */
Test(simulate, foreign_or_damaged_checkpoints_are_refused)
{
    char dir[64], path[128];
    test_tmp_dir_make(dir, sizeof dir, "cgdml-ckpt");
    snprintf(path, sizeof path, "%s/run.checkpoint", dir);
    double start[9] = {0}; /* room for 3 replicas of 1 bead */
    cgdml_simulate_options o = options(0.01, 50, 10, 3);
    o.checkpoint = path;
    o.resume = 1;
    cgdml_trajectory *t = run_ok(runaway_forces, NULL, 2, 1, start, &o);
    cgdml_trajectory_free(t);
    t = NULL;
    struct {
        const char *field;
        cgdml_simulate_options o;
    } other[4] = {{"seed 3 there, 4 here", o}, {"n_steps 50 there, 60 here", o},
                  {"dt 0.01", o}, {"force_tag", o}};
    other[0].o.seed = 4;
    other[1].o.n_steps = 60;
    other[2].o.dt = 0.02;
    other[3].o.force_tag = 99;
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(cgdml_simulate_run(runaway_forces, NULL, 2, 1, start, &other[k].o, &t),
                     CGDML_ERR_INVALID);
        cr_assert(strstr(cgdml_error_message(), other[k].field), "%s", cgdml_error_message());
    }
    cr_assert_eq(cgdml_simulate_run(runaway_forces, NULL, 3, 1, start, &o, &t), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "n_replicas 2 there, 3 here"), "%s",
              cgdml_error_message());
    /* Cut the file in half, then replace it with text. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(path, size / 2), 0);
    cr_assert_neq(cgdml_simulate_run(runaway_forces, NULL, 2, 1, start, &o, &t), CGDML_OK);
    cr_assert(strstr(cgdml_error_message(), "checkpoint"), "%s", cgdml_error_message());
    f = fopen(path, "w");
    fputs("not a checkpoint\n", f);
    fclose(f);
    cr_assert_eq(cgdml_simulate_run(runaway_forces, NULL, 2, 1, start, &o, &t), CGDML_ERR_FORMAT);
    cr_assert(strstr(cgdml_error_message(), "not an HDF5 file"), "%s", cgdml_error_message());
    cr_assert_null(t);
    o.checkpoint_interval_s = -1;
    cr_assert_eq(cgdml_simulate_run(runaway_forces, NULL, 2, 1, start, &o, &t), CGDML_ERR_INVALID);
    unlink(path);
    test_tmp_dir_remove(dir);
}

/* A run that does not fit the memory budget is refused before it starts, with
 * the largest number of saved frames that would fit. */
Test(simulate, memory_budget_names_what_fits)
{
    double start[3 * 100] = {0};
    cgdml_simulate_options o = options(0.01, 100000, 1, 3);
    cgdml_trajectory *t = NULL;
    /* 100 replicas x 100000 frames x 24 bytes = 240 MB; a 24 MB budget fits ~1/10. */
    cgdml_memory_set_budget(24000000);
    cr_assert_eq(cgdml_simulate_run(runaway_forces, NULL, 100, 1, start, &o, &t), CGDML_ERR_NOMEM);
    const char *msg = cgdml_error_message(), *at = strstr(msg, "at most about ");
    cr_assert_not_null(at, "%s", msg);
    size_t fit = strtoul(at + strlen("at most about "), NULL, 10);
    cr_assert(fit > 9000 && fit < 10000, "%zu frames fit: %s", fit, msg);
    cr_assert(strstr(msg, "memory budget"), "%s", msg);
    cr_assert_null(t);
    o.save_every = 100000 / fit + 1; /* the advice works */
    t = run_ok(runaway_forces, NULL, 100, 1, start, &o);
    cgdml_trajectory_free(t);
    cgdml_memory_set_budget(0);
}

/* Start frames (docs/method.md §6): drawn with the data's weights, the replicas
 * in alpha_L (phi > 0) are as rare as in the data (0.9 % of the shipped frames);
 * one per phi/psi stratum over-represents it several times. */
Test(simulate, equilibrium_starts_keep_the_data_weights, .timeout = 120)
{
    cgdml_dataset *d = shipped_dataset();
    enum { R = 2000 };
    double *start = malloc(R * 18 * sizeof(double));
    double fraction[2];
    for (int kind = 0; kind < 2; kind++) {
        cr_assert_eq(cgdml_simulate_start_frames(d, R, (cgdml_start_kind)kind, 3, start),
                     CGDML_OK, "%s", cgdml_error_message());
        size_t left = 0;
        for (size_t r = 0; r < R; r++) {
            const double *x = start + r * 18; /* phi = dihedral of beads 0, 1, 2, 4 */
            left += cgdml_geometry_dihedral(x, 0, 1, 2, 4) > 0;
        }
        fraction[kind] = (double)left / R;
    }
    cr_assert_lt(fraction[CGDML_START_EQUILIBRIUM], 0.02, "equilibrium: %g in alpha_L",
                 fraction[CGDML_START_EQUILIBRIUM]);
    cr_assert_gt(fraction[CGDML_START_STRATA], 3 * fraction[CGDML_START_EQUILIBRIUM] + 0.01,
                 "strata %g vs equilibrium %g", fraction[CGDML_START_STRATA],
                 fraction[CGDML_START_EQUILIBRIUM]);
    /* Every start is a frame of the data. */
    for (size_t r = 0; r < 5; r++) {
        int found = 0;
        for (size_t f = 0; !found && f < d->n_frames; f++)
            found = !memcmp(start + r * 18, d->coords + f * 18, 18 * sizeof(double));
        cr_assert(found, "start %zu is not a data frame", r);
    }
    free(start);
    cgdml_dataset_free(d);
}

/* Basin starts (the α_R-against-β convergence check, docs/method.md §6): every
 * replica of --start alpha-r is in α_R (φ < 0, -115° < ψ < 46°), every one of
 * --start beta in β; data without φ/ψ beads is refused. */
Test(simulate, basin_starts_lie_in_their_basin, .timeout = 120)
{
    cgdml_dataset *d = shipped_dataset();
    enum { R = 300 };
    double *start = malloc(R * 18 * sizeof(double));
    const double lo = -115.0 * M_PI / 180.0, hi = 46.0 * M_PI / 180.0;
    for (int alpha = 1; alpha >= 0; alpha--) {
        cgdml_start_kind kind = alpha ? CGDML_START_ALPHA_R : CGDML_START_BETA;
        cr_assert_eq(cgdml_simulate_start_frames(d, R, kind, 3, start), CGDML_OK, "%s",
                     cgdml_error_message());
        size_t inside = 0, distinct = 0;
        for (size_t r = 0; r < R; r++) {
            const double *x = start + r * 18; /* phi: beads 0,1,2,4; psi: 1,2,4,5 */
            double phi = cgdml_geometry_dihedral(x, 0, 1, 2, 4);
            double psi = cgdml_geometry_dihedral(x, 1, 2, 4, 5);
            inside += phi < 0 && (psi > lo && psi < hi) == alpha;
            distinct += r == 0 || memcmp(x, x - 18, 18 * sizeof(double)) != 0;
        }
        cr_assert_eq(inside, R, "%s: %zu of %d starts in the basin", alpha ? "alpha" : "beta",
                     inside, R);
        cr_assert_eq(distinct, R, "%s: repeated starts", alpha ? "alpha" : "beta");
    }
    cgdml_dataset *three = NULL; /* no phi/psi: refused with a message */
    cr_assert_eq(cgdml_dataset_alloc(4, 3, &three), CGDML_OK);
    cr_assert_eq(cgdml_simulate_start_frames(three, 2, CGDML_START_BETA, 1, start),
                 CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "phi/psi"), "%s", cgdml_error_message());
    cgdml_dataset_free(three);
    free(start);
    cgdml_dataset_free(d);
}
