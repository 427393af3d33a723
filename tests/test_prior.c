/* test_prior.c - the harmonic prior: Boltzmann inversion recovers known spring
 * constants from synthetic Gaussian data, forces are minus the gradient of the
 * energy and rotate with the frame, forces add and subtract exactly, the topology
 * helpers list the expected bonds and angles, bad input is refused with a message.
 */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/geometry.h"
#include "cgdml/prior.h"

#define KT (CGDML_BOLTZMANN_KCAL * 300.0)

/* ---- helpers ------------------------------------------------------------------- */

/* A Mersenne Twister seeded with `seed`: every test draws its own fixed numbers. */
static gsl_rng *seeded_rng(unsigned long seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    return rng;
}

static void cross(const double a[3], const double b[3], double out[3])
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

/* A random rotation matrix R[3][3] from a uniform random unit quaternion. */
static void random_rotation(gsl_rng *rng, double R[9])
{
    double q[4], n = 0.0;
    for (int k = 0; k < 4; k++) {
        q[k] = gsl_ran_gaussian(rng, 1.0);
        n += q[k] * q[k];
    }
    n = sqrt(n);
    double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
    double r[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
                   2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                   2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
    memcpy(R, r, sizeof r);
}

/* out[bead] = R x[bead] + t for n beads. */
static void transform(const double R[9], const double t[3], size_t n, const double *x, double *out)
{
    for (size_t b = 0; b < n; b++)
        for (int i = 0; i < 3; i++)
            out[3 * b + i] = t[i] + R[3 * i] * x[3 * b] + R[3 * i + 1] * x[3 * b + 1] +
                             R[3 * i + 2] * x[3 * b + 2];
}

/* Known constants of a 4-bead chain 0-1-2-3 (bonds, then angles 0-1-2, 1-2-3). */
typedef struct {
    double r0[3], kb[3]; /* Å, kcal/mol/Å² */
    double t0[2], ka[2]; /* rad, kcal/mol/rad² */
} chain_params;

static const int CHAIN_BONDS[] = {0, 1, 1, 2, 2, 3};

/* Frames first..first+n-1 of `data` (4 beads): every bond length q drawn from
 * N(q0, kT/k), the dihedral uniform, the frame randomly rotated and translated.
 * The internal coordinates are drawn directly, so their sample mean and variance
 * estimate q0 and kT/k with no Jacobian: a true Boltzmann ensemble would also
 * carry the factors r² and sin θ, which shift the mean by about v/r0 and v·cot θ.
 * The parameters used keep those tiny (v/r0 < 2e-3 Å, θ0 far from 0 and π) so
 * the same constants would come back from real data. */
static void draw_chain(gsl_rng *rng, const chain_params *p, cgdml_dataset *data, size_t first,
                       size_t n)
{
    for (size_t f = first; f < first + n; f++) {
        double r[3], t[2], x[12] = {0}, R[9], shift[3];
        for (int k = 0; k < 3; k++)
            r[k] = p->r0[k] + gsl_ran_gaussian(rng, sqrt(KT / p->kb[k]));
        for (int k = 0; k < 2; k++)
            t[k] = p->t0[k] + gsl_ran_gaussian(rng, sqrt(KT / p->ka[k]));
        x[3] = r[0];
        x[6] = r[0] - r[1] * cos(t[0]);
        x[7] = r[1] * sin(t[0]);
        cgdml_geometry_place(x, x + 3, x + 6, r[2], t[1], gsl_ran_flat(rng, -M_PI, M_PI), x + 9);
        random_rotation(rng, R);
        for (int k = 0; k < 3; k++)
            shift[k] = gsl_ran_flat(rng, -10, 10);
        transform(R, shift, 4, x, data->coords + 12 * f);
        for (int k = 0; k < 12; k++)
            data->forces[12 * f + k] = gsl_ran_gaussian(rng, 5.0);
    }
}

static const chain_params CHAIN = {
    .r0 = {1.33, 1.46, 1.53}, .kb = {300, 200, 150}, .t0 = {2.10, 1.93}, .ka = {60, 40}};

/* r0 within 4 standard errors, k within 5 % (its relative standard error is
 * sqrt(2/n), 1 % for 20000 frames). */
static void assert_recovers(const cgdml_prior *p, const chain_params *c, size_t n)
{
    cr_assert_eq(p->n_bonds, 3);
    cr_assert_eq(p->n_angles, 2);
    for (int b = 0; b < 3; b++) {
        double se = sqrt(KT / c->kb[b] / (double)n);
        cr_assert(fabs(p->bond_r0[b] - c->r0[b]) < 4 * se, "bond %d r0 %g, want %g ± %g", b,
                  p->bond_r0[b], c->r0[b], 4 * se);
        cr_assert(fabs(p->bond_k[b] / c->kb[b] - 1) < 0.05, "bond %d k %g, want %g", b,
                  p->bond_k[b], c->kb[b]);
    }
    for (int a = 0; a < 2; a++) {
        double se = sqrt(KT / c->ka[a] / (double)n);
        cr_assert(fabs(p->angle_theta0[a] - c->t0[a]) < 4 * se, "angle %d θ0 %g, want %g", a,
                  p->angle_theta0[a], c->t0[a]);
        cr_assert(fabs(p->angle_k[a] / c->ka[a] - 1) < 0.05, "angle %d k %g, want %g", a,
                  p->angle_k[a], c->ka[a]);
    }
}

/* A hand-made prior on the 6-bead default topology (parameters near alanine
 * dipeptide's, so a perturbed chain is pulled in every term). */
static cgdml_prior *six_bead_prior(void)
{
    size_t nb, na;
    int *bonds, *angles;
    cr_assert_eq(cgdml_prior_default_bonds(6, &nb, &bonds), CGDML_OK);
    cr_assert_eq(cgdml_prior_angles_from_bonds(nb, bonds, &na, &angles), CGDML_OK);
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_alloc(nb, na, &p), CGDML_OK);
    memcpy(p->bonds, bonds, 2 * nb * sizeof *bonds);
    memcpy(p->angles, angles, 3 * na * sizeof *angles);
    for (size_t b = 0; b < nb; b++) {
        p->bond_r0[b] = 1.35 + 0.04 * (double)b;
        p->bond_k[b] = 150.0 + 40.0 * (double)b;
    }
    for (size_t a = 0; a < na; a++) {
        p->angle_theta0[a] = 1.85 + 0.06 * (double)a;
        p->angle_k[a] = 40.0 + 10.0 * (double)a;
    }
    free(bonds);
    free(angles);
    return p;
}

/* A 6-bead frame: a bent chain plus Gaussian noise of 0.15 Å per coordinate. */
static void six_bead_frame(gsl_rng *rng, double x[18])
{
    static const double base[18] = {0.0,  0.0,  0.0,  1.33, 0.0,  0.0,   1.90, 1.30, 0.10,
                                    1.50, 2.00, 1.40, 3.40, 1.20, -0.20, 4.00, 2.30, -0.50};
    for (int k = 0; k < 18; k++)
        x[k] = base[k] + gsl_ran_gaussian(rng, 0.15);
}

static double energy(const cgdml_prior *p, const double *x, size_t n_beads)
{
    double f[3 * 8] = {0};
    cr_assert_leq(n_beads, 8);
    return cgdml_prior_add_forces(p, x, f);
}

/* Forces against central finite differences of the energy, step h (Å). */
static void assert_minus_gradient(const cgdml_prior *p, const double *x0, size_t n_beads, double h)
{
    double x[24], f[24] = {0}, fmax = 0.0;
    memcpy(x, x0, 3 * n_beads * sizeof *x);
    cgdml_prior_add_forces(p, x, f);
    for (size_t e = 0; e < 3 * n_beads; e++)
        fmax = fmax > fabs(f[e]) ? fmax : fabs(f[e]);
    cr_assert_gt(fmax, 1.0, "the frame is off equilibrium, so forces are not small");
    for (size_t e = 0; e < 3 * n_beads; e++) {
        x[e] = x0[e] + h;
        double up = energy(p, x, n_beads);
        x[e] = x0[e] - h;
        double down = energy(p, x, n_beads);
        x[e] = x0[e];
        double fd = -(up - down) / (2 * h);
        cr_assert(fabs(fd - f[e]) < 1e-6 * fmax, "component %zu: force %.10g, -dU/dx %.10g", e,
                  f[e], fd);
    }
}

/* ---- Boltzmann inversion ------------------------------------------------------- */

Test(prior, fit_recovers_known_constants_from_gaussian_data)
{
    enum { N = 20000 };
    gsl_rng *rng = seeded_rng(11);
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(N, 4, &data), CGDML_OK);
    draw_chain(rng, &CHAIN, data, 0, N);
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_fit(data, NULL, N, 3, CHAIN_BONDS, 300.0, &p), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(p->temperature, 300.0);
    cr_assert(memcmp(p->bonds, CHAIN_BONDS, sizeof CHAIN_BONDS) == 0);
    int angles[] = {0, 1, 2, 1, 2, 3};
    cr_assert(memcmp(p->angles, angles, sizeof angles) == 0);
    assert_recovers(p, &CHAIN, N);
    /* Twice the temperature, twice the spring constants for the same spread. */
    cgdml_prior *hot;
    cr_assert_eq(cgdml_prior_fit(data, NULL, N, 3, CHAIN_BONDS, 600.0, &hot), CGDML_OK);
    for (int b = 0; b < 3; b++) {
        cr_assert_eq(hot->bond_r0[b], p->bond_r0[b]);
        cr_assert(fabs(hot->bond_k[b] / p->bond_k[b] - 2) < 1e-12, "bond %d", b);
    }
    for (int a = 0; a < 2; a++)
        cr_assert(fabs(hot->angle_k[a] / p->angle_k[a] - 2) < 1e-12, "angle %d", a);
    cgdml_prior_free(hot);
    cgdml_prior_free(p);
    cgdml_dataset_free(data);
    gsl_rng_free(rng);
}

Test(prior, fit_uses_only_the_listed_frames)
{
    enum { N = 20000 };
    gsl_rng *rng = seeded_rng(12);
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(2 * N, 4, &data), CGDML_OK);
    chain_params other = {
        .r0 = {1.8, 1.2, 1.6}, .kb = {30, 20, 15}, .t0 = {1.6, 2.4}, .ka = {6, 4}};
    /* Frames alternate: even ones from CHAIN, odd ones from `other`. */
    for (size_t f = 0; f < 2 * N; f++)
        draw_chain(rng, f % 2 ? &other : &CHAIN, data, f, 1);
    size_t *idx = malloc(N * sizeof *idx);
    for (size_t k = 0; k < N; k++)
        idx[k] = 2 * (N - 1 - k); /* even frames, in decreasing order */
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_fit(data, idx, N, 3, CHAIN_BONDS, 300.0, &p), CGDML_OK, "%s",
                 cgdml_error_message());
    assert_recovers(p, &CHAIN, N);
    cgdml_prior_free(p);
    /* All frames: the mixture is wider, so its bond 0 is much softer. */
    cr_assert_eq(cgdml_prior_fit(data, NULL, 2 * N, 3, CHAIN_BONDS, 300.0, &p), CGDML_OK);
    cr_assert_lt(p->bond_k[0], 0.2 * CHAIN.kb[0], "mixture k %g", p->bond_k[0]);
    cgdml_prior_free(p);
    free(idx);
    cgdml_dataset_free(data);
    gsl_rng_free(rng);
}

Test(prior, fit_uses_the_unbiased_sample_variance)
{
    /* Bond lengths 1.0, 1.2 and 1.4 Å: mean 1.2, variance 0.08 / (3 - 1) = 0.04 Å²
     * (dividing by n would give 0.0267). */
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(3, 2, &data), CGDML_OK);
    for (size_t f = 0; f < 3; f++)
        data->coords[6 * f + 4] = 1.0 + 0.2 * (double)f; /* bead 1 at (0, r, 0) */
    int bond[] = {1, 0};
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_fit(data, NULL, 3, 1, bond, 300.0, &p), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(p->n_angles, 0);
    cr_assert(fabs(p->bond_r0[0] - 1.2) < 1e-14, "r0 %.16g", p->bond_r0[0]);
    cr_assert(fabs(p->bond_k[0] - KT / 0.04) < 1e-10, "k %.16g, want %.16g", p->bond_k[0],
              KT / 0.04);
    cgdml_prior_free(p);
    cgdml_dataset_free(data);
}

/* ---- energy and forces --------------------------------------------------------- */

Test(prior, energy_and_forces_of_a_hand_built_geometry)
{
    /* Beads 0 (1.5, 0, 0), 1 at the origin, 2 (0, 2, 0): bonds 1.5 and 2 Å, a right
     * angle.  r0 = 1.4 and 2.2 Å, k = 100 and 50; θ0 = 2.0 rad, k = 30. */
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_alloc(2, 1, &p), CGDML_OK);
    int bonds[] = {0, 1, 1, 2}, angle[] = {0, 1, 2};
    memcpy(p->bonds, bonds, sizeof bonds);
    memcpy(p->angles, angle, sizeof angle);
    p->bond_r0[0] = 1.4, p->bond_k[0] = 100, p->bond_r0[1] = 2.2, p->bond_k[1] = 50;
    p->angle_theta0[0] = 2.0, p->angle_k[0] = 30;
    double x[9] = {1.5, 0, 0, 0, 0, 0, 0, 2, 0}, f[9] = {0};
    double dt = M_PI / 2 - 2.0;
    double want = 0.5 * 100 * 0.01 + 0.5 * 50 * 0.04 + 0.5 * 30 * dt * dt;
    double U = cgdml_prior_add_forces(p, x, f);
    cr_assert(fabs(U - want) < 1e-12, "U = %.15g, want %.15g", U, want);
    /* Bead 0: bond stretched by 0.1 pulls it in (-10 along x); the angle is below θ0,
     * so bead 0 is pushed away from bead 2 (dθ/dx_a = (0, -1/1.5, 0)). */
    double fa[3] = {-100 * 0.1, 30 * dt / 1.5, 0}, fc[3] = {30 * dt / 2.0, 50 * 0.2, 0};
    for (int c = 0; c < 3; c++) {
        cr_assert(fabs(f[c] - fa[c]) < 1e-12, "bead 0 [%d] %g, want %g", c, f[c], fa[c]);
        cr_assert(fabs(f[6 + c] - fc[c]) < 1e-12, "bead 2 [%d] %g, want %g", c, f[6 + c], fc[c]);
    }
    cgdml_prior_free(p);
}

Test(prior, forces_are_minus_the_gradient_of_the_energy)
{
    gsl_rng *rng = seeded_rng(13);
    cgdml_prior *p = six_bead_prior();
    double x[18];
    for (int trial = 0; trial < 5; trial++) {
        six_bead_frame(rng, x);
        assert_minus_gradient(p, x, 6, 1e-5);
    }
    cgdml_prior_free(p);
    gsl_rng_free(rng);
}

Test(prior, angle_forces_are_robust_near_straight_and_folded_angles)
{
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_alloc(0, 1, &p), CGDML_OK);
    int angle[] = {0, 1, 2};
    memcpy(p->angles, angle, sizeof angle);
    p->angle_theta0[0] = 1.9, p->angle_k[0] = 50;
    /* 0.01 rad from straight: the gradient is exact there (smaller steps, since θ
     * curves on the scale of 0.01 x 1.5 Å). */
    double eps = 0.01;
    double bent[9] = {-1.5, 0, 0, 0, 0, 0, 2 * cos(eps), 2 * sin(eps), 0}; /* θ = π - eps */
    assert_minus_gradient(p, bent, 3, 1e-6);
    double f[9] = {0};
    double U = cgdml_prior_add_forces(p, bent, f);
    cr_assert(fabs(U - 25 * (M_PI - eps - 1.9) * (M_PI - eps - 1.9)) < 1e-9, "U %g", U);
    /* Exactly straight (θ = π) and exactly folded (θ = 0): finite energy with the
     * exact angle, finite forces that sum to zero. */
    double straight[9] = {-1.5, 0, 0, 0, 0, 0, 2, 0, 0}, folded[9] = {1.5, 0, 0, 0, 0, 0, 2, 0, 0};
    double *frames[2] = {straight, folded}, theta[2] = {M_PI, 0.0};
    for (int k = 0; k < 2; k++) {
        memset(f, 0, sizeof f);
        U = cgdml_prior_add_forces(p, frames[k], f);
        double d = theta[k] - 1.9;
        cr_assert(fabs(U - 25 * d * d) < 1e-12, "frame %d: U %g, want %g", k, U, 25 * d * d);
        for (int e = 0; e < 9; e++)
            cr_assert(isfinite(f[e]) && fabs(f[e]) < 1e-6, "frame %d: f[%d] = %g", k, e, f[e]);
    }
    cgdml_prior_free(p);
}

Test(prior, forces_rotate_with_the_frame_and_have_no_net_force_or_torque)
{
    gsl_rng *rng = seeded_rng(14);
    cgdml_prior *p = six_bead_prior();
    double x[18], y[18], f[18] = {0}, g[18] = {0}, Rf[18], R[9], t[3] = {3.0, -7.0, 0.5};
    double zero[3] = {0, 0, 0};
    six_bead_frame(rng, x);
    random_rotation(rng, R);
    transform(R, t, 6, x, y);
    double U = cgdml_prior_add_forces(p, x, f), V = cgdml_prior_add_forces(p, y, g);
    cr_assert(fabs(U - V) < 1e-10 * U, "energy invariant: %.15g vs %.15g", U, V);
    transform(R, zero, 6, f, Rf);
    double net[3] = {0}, torque[3] = {0}, fmax = 0.0;
    for (int b = 0; b < 6; b++) {
        double tb[3];
        cross(x + 3 * b, f + 3 * b, tb);
        for (int c = 0; c < 3; c++) {
            net[c] += f[3 * b + c];
            torque[c] += tb[c];
            fmax = fmax > fabs(f[3 * b + c]) ? fmax : fabs(f[3 * b + c]);
        }
    }
    cr_assert_gt(fmax, 1.0);
    for (int e = 0; e < 18; e++)
        cr_assert(fabs(g[e] - Rf[e]) < 1e-10 * fmax, "F(Rx+t) = R F(x) at %d: %g vs %g", e, g[e],
                  Rf[e]);
    for (int c = 0; c < 3; c++) {
        cr_assert(fabs(net[c]) < 1e-12 * fmax, "net force [%d] = %g", c, net[c]);
        cr_assert(fabs(torque[c]) < 1e-11 * fmax, "net torque [%d] = %g", c, torque[c]);
    }
    cgdml_prior_free(p);
    gsl_rng_free(rng);
}

Test(prior, add_forces_adds_to_what_is_there)
{
    gsl_rng *rng = seeded_rng(15);
    cgdml_prior *p = six_bead_prior();
    double x[18], once[18] = {0}, twice[18] = {0}, start[18], onto[18];
    six_bead_frame(rng, x);
    for (int e = 0; e < 18; e++)
        start[e] = onto[e] = gsl_ran_gaussian(rng, 10.0);
    double U = cgdml_prior_add_forces(p, x, once);
    cr_assert_eq(cgdml_prior_add_forces(p, x, twice), U);
    cr_assert_eq(cgdml_prior_add_forces(p, x, twice), U, "the energy does not accumulate");
    cgdml_prior_add_forces(p, x, onto);
    for (int e = 0; e < 18; e++) {
        cr_assert(fabs(twice[e] - 2 * once[e]) < 1e-12 * (1 + fabs(once[e])), "twice at %d", e);
        cr_assert(fabs(onto[e] - start[e] - once[e]) < 1e-12 * (1 + fabs(start[e])), "onto %d", e);
    }
    cgdml_prior_free(p);
    gsl_rng_free(rng);
}

Test(prior, subtract_gives_data_forces_minus_prior_forces)
{
    gsl_rng *rng = seeded_rng(16);
    cgdml_prior *p = six_bead_prior();
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(8, 6, &data), CGDML_OK);
    for (size_t f = 0; f < 8; f++) {
        six_bead_frame(rng, data->coords + 18 * f);
        for (int e = 0; e < 18; e++)
            data->forces[18 * f + e] = gsl_ran_gaussian(rng, 20.0);
    }
    size_t idx[] = {3, 0, 7};
    double out[3 * 18], all[8 * 18];
    cr_assert_eq(cgdml_prior_subtract(p, data, idx, 3, out), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(cgdml_prior_subtract(p, data, NULL, 8, all), CGDML_OK);
    for (size_t k = 0; k < 3; k++) {
        double prior_f[18] = {0};
        cgdml_prior_add_forces(p, data->coords + 18 * idx[k], prior_f);
        for (int e = 0; e < 18; e++) {
            double want = data->forces[18 * idx[k] + e] - prior_f[e];
            cr_assert_eq(out[18 * k + e], want, "frame %zu [%d]", idx[k], e);
            cr_assert_eq(all[18 * idx[k] + e], want, "all frames, frame %zu [%d]", idx[k], e);
        }
    }
    cgdml_prior_free(p);
    cgdml_dataset_free(data);
    gsl_rng_free(rng);
}

Test(prior, worst_bond_deviation_counts_standard_deviations)
{
    cgdml_prior *p;
    cr_assert_eq(cgdml_prior_alloc(2, 0, &p), CGDML_OK);
    int bonds[] = {0, 1, 1, 2};
    memcpy(p->bonds, bonds, sizeof bonds);
    p->temperature = 300.0;
    p->bond_r0[0] = 1.5, p->bond_k[0] = 100, p->bond_r0[1] = 1.4, p->bond_k[1] = 400;
    double s0 = sqrt(KT / 100), s1 = sqrt(KT / 400);
    /* Bond 0 stretched by 2 σ, bond 1 compressed by 3 σ: the worst is 3. */
    double x[9] = {0, 0, 0, 1.5 + 2 * s0, 0, 0, 1.5 + 2 * s0, 1.4 - 3 * s1, 0};
    double z = cgdml_prior_worst_bond_deviation(p, x);
    cr_assert(fabs(z - 3.0) < 1e-9, "worst deviation %.12g, want 3", z);
    x[7] = 1.4; /* bond 1 at rest: bond 0 is the worst at 2 σ */
    z = cgdml_prior_worst_bond_deviation(p, x);
    cr_assert(fabs(z - 2.0) < 1e-9, "worst deviation %.12g, want 2", z);
    cgdml_prior_free(p);
}

/* ---- topology ------------------------------------------------------------------ */

static void assert_angles(size_t n_bonds, const int *bonds, size_t want_n, const int *want)
{
    size_t n;
    int *angles;
    cr_assert_eq(cgdml_prior_angles_from_bonds(n_bonds, bonds, &n, &angles), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(n, want_n, "%zu angles, want %zu", n, want_n);
    for (size_t e = 0; e < 3 * n; e++)
        cr_assert_eq(angles[e], want[e], "angle %zu bead %zu: %d, want %d", e / 3, e % 3, angles[e],
                     want[e]);
    free(angles);
}

Test(prior, default_topologies_give_the_expected_bonds_and_angles)
{
    size_t n;
    int *bonds;
    cr_assert_eq(cgdml_prior_default_bonds(6, &n, &bonds), CGDML_OK);
    int six[] = {0, 1, 1, 2, 2, 3, 2, 4, 4, 5};
    cr_assert_eq(n, 5);
    cr_assert(memcmp(bonds, six, sizeof six) == 0);
    int six_angles[] = {0, 1, 2, 1, 2, 3, 1, 2, 4, 3, 2, 4, 2, 4, 5};
    assert_angles(n, bonds, 5, six_angles);
    free(bonds);
    /* Order does not depend on how the bonds are listed or oriented. */
    int shuffled[] = {5, 4, 3, 2, 1, 0, 4, 2, 2, 1};
    assert_angles(5, shuffled, 5, six_angles);

    cr_assert_eq(cgdml_prior_default_bonds(5, &n, &bonds), CGDML_OK);
    int five[] = {0, 1, 1, 2, 2, 3, 3, 4}, five_angles[] = {0, 1, 2, 1, 2, 3, 2, 3, 4};
    cr_assert_eq(n, 4);
    cr_assert(memcmp(bonds, five, sizeof five) == 0);
    assert_angles(n, bonds, 3, five_angles);
    free(bonds);
    /* A single bond has no angle; a star of 4 around bead 0 has 6. */
    assert_angles(1, six, 0, NULL);
    int star[] = {0, 1, 0, 2, 3, 0, 0, 4};
    int star_angles[] = {1, 0, 2, 1, 0, 3, 1, 0, 4, 2, 0, 3, 2, 0, 4, 3, 0, 4};
    assert_angles(4, star, 6, star_angles);
}

/* ---- refusals ------------------------------------------------------------------ */

static void assert_refused(cgdml_status got, cgdml_status want, const char *words)
{
    cr_assert_eq(got, want, "status %d, want %d (%s)", got, want, cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), words), "message '%s' lacks '%s'",
              cgdml_error_message(), words);
}

Test(prior, unknown_default_bead_count_is_refused)
{
    static int dummy[2];
    size_t n = 99;
    int *bonds = dummy;
    assert_refused(cgdml_prior_default_bonds(7, &n, &bonds), CGDML_ERR_INVALID,
                   "no default bonds for 7 beads");
    cr_assert_eq(n, 0);
    cr_assert_null(bonds);
}

Test(prior, bad_bond_lists_are_refused)
{
    size_t n;
    int *angles;
    int self[] = {0, 1, 2, 2}, negative[] = {0, -1}, repeated[] = {0, 1, 1, 2, 1, 0};
    assert_refused(cgdml_prior_angles_from_bonds(2, self, &n, &angles), CGDML_ERR_INVALID,
                   "bond 1: bead 2 is bonded to itself");
    assert_refused(cgdml_prior_angles_from_bonds(1, negative, &n, &angles), CGDML_ERR_INVALID,
                   "bond 0 (beads 0--1): bead index out of range");
    assert_refused(cgdml_prior_angles_from_bonds(3, repeated, &n, &angles), CGDML_ERR_INVALID,
                   "bond 2 (beads 1-0) repeats bond 0");
    cr_assert_null(angles);
}

/* A small 4-bead dataset of distinct chain frames for the refusals. */
static cgdml_dataset *small_chain(size_t n)
{
    gsl_rng *rng = seeded_rng(17);
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(n, 4, &data), CGDML_OK);
    draw_chain(rng, &CHAIN, data, 0, n);
    gsl_rng_free(rng);
    return data;
}

Test(prior, fit_refuses_bad_arguments)
{
    static const size_t one[] = {4}, bad_idx[] = {1, 10};
    static const int out_of_range[] = {0, 1, 1, 4}, self[] = {0, 1, 3, 3};
    static const struct {
        const size_t *idx;
        size_t n, n_bonds;
        const int *bonds;
        double temperature; /* K */
        const char *words;  /* expected in the message */
    } cases[] = {
        {one, 1, 3, CHAIN_BONDS, 300, "1 frame(s) selected: a variance needs at least 2 frames"},
        {NULL, 9, 3, CHAIN_BONDS, 300, "all 10 frames are used, but n = 9"},
        {bad_idx, 2, 3, CHAIN_BONDS, 300, "frame index 10 (entry 1) is out of range"},
        {NULL, 10, 2, out_of_range, 300, "bond 1 (beads 1-4): bead index out of range 0..3"},
        {NULL, 10, 2, self, 300, "bond 1: bead 3 is bonded to itself"},
        {NULL, 10, 3, CHAIN_BONDS, 0, "temperature = 0 K"},
        {NULL, 10, 3, CHAIN_BONDS, NAN, "temperature = nan K"},
        {NULL, 10, 0, CHAIN_BONDS, 300, "no bonds given"},
    };
    cgdml_dataset *data = small_chain(10);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        cgdml_prior *p = (cgdml_prior *)data;
        assert_refused(cgdml_prior_fit(data, cases[c].idx, cases[c].n, cases[c].n_bonds,
                                       cases[c].bonds, cases[c].temperature, &p),
                       CGDML_ERR_INVALID, cases[c].words);
        cr_assert(strncmp(cgdml_error_message(), "fitting the prior: ", 19) == 0);
        cr_assert_null(p, "case %zu leaves no prior", c);
    }
    cgdml_dataset_free(data);
}

Test(prior, fit_refuses_coordinates_that_do_not_vary)
{
    cgdml_dataset *data = small_chain(10);
    cgdml_prior *p;
    /* Every frame a copy of frame 0: no bond varies. */
    for (size_t f = 1; f < 10; f++)
        memcpy(data->coords + 12 * f, data->coords, 12 * sizeof(double));
    assert_refused(cgdml_prior_fit(data, NULL, 10, 3, CHAIN_BONDS, 300, &p), CGDML_ERR_NUMERIC,
                   "bond 0 (beads 0-1): variance 0 Å² over 10 frames");
    cr_assert_null(p);
    /* Bonds stretch along fixed directions, so the angle 0-1-2 stays put up to
     * rounding (~1e-16 rad), which must not pass for a spread. */
    for (size_t f = 0; f < 10; f++) {
        double s = 1.0 + 0.05 * (double)f, t = 1.0 - 0.03 * (double)f;
        double x[9] = {1.2 * s, 0.3 * s, 0.1 * s, 0, 0, 0, -0.5 * t, 1.4 * t, 0.2 * t};
        memcpy(data->coords + 12 * f, x, sizeof x);
    }
    assert_refused(cgdml_prior_fit(data, NULL, 10, 2, CHAIN_BONDS, 300, &p), CGDML_ERR_NUMERIC,
                   "angle 0 (beads 0-1-2): variance");
    cr_assert_null(p);
    cgdml_dataset_free(data);
}

Test(prior, subtract_refuses_a_prior_that_does_not_fit_the_data)
{
    cgdml_dataset *data = small_chain(3);
    cgdml_prior *p = six_bead_prior();
    double out[3 * 12];
    size_t idx[] = {0, 3};
    assert_refused(cgdml_prior_subtract(p, data, NULL, 3, out), CGDML_ERR_INVALID,
                   "subtracting the prior: bond 3 (beads 2-4): bead index out of range 0..3");
    cgdml_prior_free(p);
    cr_assert_eq(cgdml_prior_fit(data, NULL, 3, 3, CHAIN_BONDS, 300, &p), CGDML_OK);
    assert_refused(cgdml_prior_subtract(p, data, idx, 2, out), CGDML_ERR_INVALID,
                   "frame index 3 (entry 1) is out of range: the dataset has 3 frames");
    cgdml_prior_free(p);
    cgdml_dataset_free(data);
}
