/* prior.c - the harmonic bond and angle prior (see cgdml/prior.h, docs/method.md §3).
 *
 * Fitted by Boltzmann inversion of the training frames; its force is subtracted
 * from the labels before a kernel model is trained and added back in prediction
 * and simulation.  Bond lengths and angles are treated alike as "internal
 * coordinates" q[j]: j < n_bonds are bonds, the rest angles.
 */
#include "cgdml/prior.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this sin θ the angle force uses sin θ = ANGLE_MIN_SIN: (cos θ û - v̂) has
 * length sin θ, so the force then fades linearly to zero at θ = 0 or π, where its
 * direction is undefined, instead of dividing rounding noise by ~0.  Angles that
 * close to straight are 1e-8 rad from the singular point, far below thermal
 * spread. */
#define ANGLE_MIN_SIN 1e-8

/* ---- topology ----------------------------------------------------------------- */

/* Refuse negative or out-of-range indices (n_beads 0: no upper bound), self-bonds
 * and repeated bonds. */
static cgdml_status check_bonds(size_t n_bonds, const int *bonds, size_t n_beads)
{
    for (size_t b = 0; b < n_bonds; b++) {
        int i = bonds[2 * b], j = bonds[2 * b + 1];
        if (i < 0 || j < 0 || (n_beads && ((size_t)i >= n_beads || (size_t)j >= n_beads)))
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "bond %zu (beads %d-%d): bead index out of range 0..%zu", b, i,
                                   j, n_beads ? n_beads - 1 : (size_t)0);
        if (i == j)
            return cgdml_error_set(CGDML_ERR_INVALID, "bond %zu: bead %d is bonded to itself", b,
                                   i);
        for (size_t c = 0; c < b; c++) {
            int ci = bonds[2 * c], cj = bonds[2 * c + 1];
            if ((ci == i && cj == j) || (ci == j && cj == i))
                return cgdml_error_set(CGDML_ERR_INVALID, "bond %zu (beads %d-%d) repeats bond %zu",
                                       b, i, j, c);
        }
    }
    return CGDML_OK;
}

static int compare_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The neighbours of bead v in increasing order; returns how many. */
static size_t neighbours(size_t n_bonds, const int *bonds, int v, int *nb)
{
    size_t m = 0;
    for (size_t b = 0; b < n_bonds; b++)
        if (bonds[2 * b] == v || bonds[2 * b + 1] == v)
            nb[m++] = bonds[2 * b] == v ? bonds[2 * b + 1] : bonds[2 * b];
    qsort(nb, m, sizeof *nb, compare_int);
    return m;
}

/* Emit the angles at every vertex 0..max_bead into out (NULL: only count them). */
static size_t list_angles(size_t n_bonds, const int *bonds, int max_bead, int *nb, int *out)
{
    size_t n = 0;
    for (int v = 0; v <= max_bead; v++) {
        size_t m = neighbours(n_bonds, bonds, v, nb);
        for (size_t p = 0; p < m; p++)
            for (size_t q = p + 1; q < m; q++, n++)
                if (out) {
                    out[3 * n] = nb[p];
                    out[3 * n + 1] = v;
                    out[3 * n + 2] = nb[q];
                }
    }
    return n;
}

cgdml_status cgdml_prior_angles_from_bonds(size_t n_bonds, const int *bonds, size_t *n_angles,
                                           int **angles)
{
    *n_angles = 0;
    *angles = NULL;
    cgdml_status s = check_bonds(n_bonds, bonds, 0);
    if (s)
        return s;
    int max_bead = -1;
    for (size_t e = 0; e < 2 * n_bonds; e++)
        max_bead = bonds[e] > max_bead ? bonds[e] : max_bead;
    int *nb = malloc((n_bonds + 1) * sizeof *nb);
    if (!nb)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the neighbour list");
    size_t n = list_angles(n_bonds, bonds, max_bead, nb, NULL);
    int *out = n ? malloc(3 * n * sizeof *out) : NULL;
    if (n && !out) {
        free(nb);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu angles", n);
    }
    list_angles(n_bonds, bonds, max_bead, nb, out);
    free(nb);
    *n_angles = n;
    *angles = out;
    return CGDML_OK;
}

cgdml_status cgdml_prior_default_bonds(size_t n_beads, size_t *n_bonds, int **bonds)
{
    static const int six[] = {0, 1, 1, 2, 2, 3, 2, 4, 4, 5}; /* C N CA CB C N */
    static const int five[] = {0, 1, 1, 2, 2, 3, 3, 4};      /* C N CA C N */
    *n_bonds = 0;
    *bonds = NULL;
    if (n_beads != 5 && n_beads != 6)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "no default bonds for %zu beads: known are the alanine dipeptide "
                               "maps with 6 beads (C N CA CB C N) and 5 beads (C N CA C N); "
                               "give the bonds explicitly",
                               n_beads);
    const int *src = n_beads == 6 ? six : five;
    size_t n = n_beads == 6 ? sizeof six / sizeof *six / 2 : sizeof five / sizeof *five / 2;
    *bonds = malloc(2 * n * sizeof **bonds);
    if (!*bonds)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the default bonds");
    memcpy(*bonds, src, 2 * n * sizeof **bonds);
    *n_bonds = n;
    return CGDML_OK;
}

/* ---- allocation ---------------------------------------------------------------- */

cgdml_status cgdml_prior_alloc(size_t n_bonds, size_t n_angles, cgdml_prior **out)
{
    *out = NULL;
    cgdml_prior *p = calloc(1, sizeof *p);
    if (!p)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a prior");
    p->temperature = 300.0; /* K, the temperature of the reference data (docs/method.md §5) */
    p->n_bonds = n_bonds;
    p->n_angles = n_angles;
    /* +1: a valid pointer even for zero bonds or angles. */
    p->bonds = calloc(2 * n_bonds + 1, sizeof *p->bonds);
    p->bond_r0 = calloc(n_bonds + 1, sizeof *p->bond_r0);
    p->bond_k = calloc(n_bonds + 1, sizeof *p->bond_k);
    p->angles = calloc(3 * n_angles + 1, sizeof *p->angles);
    p->angle_theta0 = calloc(n_angles + 1, sizeof *p->angle_theta0);
    p->angle_k = calloc(n_angles + 1, sizeof *p->angle_k);
    if (!p->bonds || !p->bond_r0 || !p->bond_k || !p->angles || !p->angle_theta0 || !p->angle_k) {
        cgdml_prior_free(p);
        return cgdml_error_set(CGDML_ERR_NOMEM,
                               "cannot allocate a prior of %zu bonds and %zu angles", n_bonds,
                               n_angles);
    }
    *out = p;
    return CGDML_OK;
}

void cgdml_prior_free(cgdml_prior *prior)
{
    if (!prior)
        return;
    free(prior->bonds);
    free(prior->bond_r0);
    free(prior->bond_k);
    free(prior->angles);
    free(prior->angle_theta0);
    free(prior->angle_k);
    free(prior);
}

/* ---- geometry ------------------------------------------------------------------ */

/* Length r (Å) of the bond i-j and the unit vector e = (x_i - x_j) / r = dr/dx_i
 * (zero if the beads coincide). */
static double bond_length(const double *x, int i, int j, double e[3])
{
    double r2 = 0.0;
    for (int c = 0; c < 3; c++) {
        e[c] = x[3 * i + c] - x[3 * j + c];
        r2 += e[c] * e[c];
    }
    double r = sqrt(r2), inv = r > 0 ? 1.0 / r : 0.0;
    for (int c = 0; c < 3; c++)
        e[c] *= inv;
    return r;
}

/* The angle θ (rad) of a-b-c, abc = {a, b, c}, and its gradients ga = dθ/dx_a and
 * gc = dθ/dx_c (1/Å); dθ/dx_b = -(ga + gc).  θ = atan2(|u×v|, u·v) is accurate
 * over the whole range, where acos(u·v / |u||v|) loses half the digits near 0
 * and π.  The gradient is the standard dθ/da = (cos θ û - v̂) / (|u| sin θ), with
 * sin θ guarded by ANGLE_MIN_SIN. */
static double angle_value(const double *x, const int *abc, double ga[3], double gc[3])
{
    double u[3], v[3];
    double lu = bond_length(x, abc[0], abc[1], u), lv = bond_length(x, abc[2], abc[1], v);
    double w[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    double sin_t = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    double cos_t = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    double theta = atan2(sin_t, cos_t), s = fmax(sin_t, ANGLE_MIN_SIN);
    double fa = lu > 0 ? 1.0 / (lu * s) : 0.0, fc = lv > 0 ? 1.0 / (lv * s) : 0.0;
    for (int c = 0; c < 3; c++) {
        ga[c] = (cos_t * u[c] - v[c]) * fa;
        gc[c] = (cos_t * v[c] - u[c]) * fc;
    }
    return theta;
}

/* q[j] for every internal coordinate of frame x: bond lengths, then angles. */
static void internal_coordinates(const cgdml_prior *p, const double *x, double *q)
{
    double e[3], gc[3];
    for (size_t b = 0; b < p->n_bonds; b++)
        q[b] = bond_length(x, p->bonds[2 * b], p->bonds[2 * b + 1], e);
    for (size_t a = 0; a < p->n_angles; a++)
        q[p->n_bonds + a] = angle_value(x, p->angles + 3 * a, e, gc);
}

/* ---- energy and forces --------------------------------------------------------- */

/* Add `scale` * g to bead i of f. */
static void add_scaled(double *f, int i, double scale, const double g[3])
{
    for (int c = 0; c < 3; c++)
        f[3 * i + c] += scale * g[c];
}

double cgdml_prior_add_forces(const cgdml_prior *prior, const double *x, double *forces)
{
    double U = 0.0, e[3], ga[3], gc[3];
    for (size_t b = 0; b < prior->n_bonds; b++) {
        const int *ij = prior->bonds + 2 * b;
        double dr = bond_length(x, ij[0], ij[1], e) - prior->bond_r0[b];
        double k = prior->bond_k[b];
        U += 0.5 * k * dr * dr;
        add_scaled(forces, ij[0], -k * dr, e);
        add_scaled(forces, ij[1], k * dr, e);
    }
    for (size_t a = 0; a < prior->n_angles; a++) {
        const int *abc = prior->angles + 3 * a;
        double dt = angle_value(x, abc, ga, gc) - prior->angle_theta0[a];
        double k = prior->angle_k[a];
        U += 0.5 * k * dt * dt;
        add_scaled(forces, abc[0], -k * dt, ga);
        add_scaled(forces, abc[2], -k * dt, gc);
        add_scaled(forces, abc[1], k * dt, ga);
        add_scaled(forces, abc[1], k * dt, gc);
    }
    return U;
}

double cgdml_prior_worst_bond_deviation(const cgdml_prior *prior, const double *x)
{
    double kT = CGDML_BOLTZMANN_KCAL * prior->temperature, worst = 0.0, e[3];
    for (size_t b = 0; b < prior->n_bonds; b++) {
        double dr =
            bond_length(x, prior->bonds[2 * b], prior->bonds[2 * b + 1], e) - prior->bond_r0[b];
        double z = fabs(dr) * sqrt(prior->bond_k[b] / kT);
        worst = z > worst ? z : worst;
    }
    return worst;
}

/* ---- frame selections ---------------------------------------------------------- */

/* Frame k of the selection idx (NULL: the identity). */
static size_t frame_of(const size_t *idx, size_t k)
{
    return idx ? idx[k] : k;
}

static cgdml_status check_frames(const cgdml_dataset *data, const size_t *idx, size_t n)
{
    if (!idx && n != data->n_frames)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "no frame list given, so all %zu frames are used, but n = %zu",
                               data->n_frames, n);
    for (size_t k = 0; idx && k < n; k++)
        if (idx[k] >= data->n_frames)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "frame index %zu (entry %zu) is out of range: the dataset has "
                                   "%zu frames",
                                   idx[k], k, data->n_frames);
    return CGDML_OK;
}

cgdml_status cgdml_prior_subtract(const cgdml_prior *prior, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, double *out)
{
    cgdml_status s = check_frames(data, idx, n);
    if (!s)
        s = check_bonds(prior->n_bonds, prior->bonds, data->n_beads);
    for (size_t a = 0; !s && a < 3 * prior->n_angles; a++)
        if (prior->angles[a] < 0 || (size_t)prior->angles[a] >= data->n_beads)
            s = cgdml_error_set(CGDML_ERR_INVALID,
                                "angle %zu of the prior names bead %d; the dataset has %zu beads",
                                a / 3, prior->angles[a], data->n_beads);
    if (s)
        return cgdml_error_wrap(s, "subtracting the prior");
    size_t n3 = 3 * data->n_beads;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k++) {
        double *o = out + k * n3;
        const double *f = data->forces + frame_of(idx, k) * n3;
        memset(o, 0, n3 * sizeof *o);
        cgdml_prior_add_forces(prior, data->coords + frame_of(idx, k) * n3, o);
        for (size_t e = 0; e < n3; e++)
            o[e] = f[e] - o[e];
    }
    return CGDML_OK;
}

/* ---- Boltzmann inversion ------------------------------------------------------- */

/* "bond 2 (beads 1-3)" or "angle 0 (beads 0-1-2)" for internal coordinate j. */
static void describe(const cgdml_prior *p, size_t j, char *buf, size_t size)
{
    if (j < p->n_bonds)
        snprintf(buf, size, "bond %zu (beads %d-%d)", j, p->bonds[2 * j], p->bonds[2 * j + 1]);
    else {
        const int *abc = p->angles + 3 * (j - p->n_bonds);
        snprintf(buf, size, "angle %zu (beads %d-%d-%d)", j - p->n_bonds, abc[0], abc[1], abc[2]);
    }
}

static cgdml_status check_fit_arguments(const cgdml_dataset *data, const size_t *idx, size_t n,
                                        size_t n_bonds, const int *bonds, double temperature)
{
    if (!(temperature > 0) || !isfinite(temperature))
        return cgdml_error_set(CGDML_ERR_INVALID, "temperature = %g K: must be a positive number",
                               temperature);
    if (n < 2)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%zu frame(s) selected: a variance needs at least 2 frames", n);
    if (n_bonds == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "no bonds given: the prior needs at least one");
    cgdml_status s = check_frames(data, idx, n);
    return s ? s : check_bonds(n_bonds, bonds, data->n_beads);
}

/* A prior holding the bonds (copied) and their angles, parameters still zero. */
static cgdml_status prior_with_topology(size_t n_bonds, const int *bonds, cgdml_prior **out)
{
    size_t n_angles;
    int *angles;
    cgdml_status s = cgdml_prior_angles_from_bonds(n_bonds, bonds, &n_angles, &angles);
    if (!s)
        s = cgdml_prior_alloc(n_bonds, n_angles, out);
    if (!s) {
        memcpy((*out)->bonds, bonds, 2 * n_bonds * sizeof *bonds);
        if (n_angles)
            memcpy((*out)->angles, angles, 3 * n_angles * sizeof *angles);
    }
    free(angles);
    return s;
}

/* Mean and unbiased variance of every internal coordinate over the frames, from
 * sums of q - q(first frame): shifting by a value near the mean avoids the
 * cancellation of the naive Σq² - (Σq)²/n, and identical frames give exactly 0. */
static void moments(const cgdml_prior *p, const cgdml_dataset *data, const size_t *idx, size_t n,
                    double *mean, double *var, double *work)
{
    size_t nq = p->n_bonds + p->n_angles, n3 = 3 * data->n_beads;
    double *shift = work, *q = work + nq;
    internal_coordinates(p, data->coords + frame_of(idx, 0) * n3, shift);
    memset(mean, 0, nq * sizeof *mean);
    memset(var, 0, nq * sizeof *var);
    for (size_t k = 0; k < n; k++) {
        internal_coordinates(p, data->coords + frame_of(idx, k) * n3, q);
        for (size_t j = 0; j < nq; j++) {
            double d = q[j] - shift[j];
            mean[j] += d;
            var[j] += d * d;
        }
    }
    for (size_t j = 0; j < nq; j++) {
        var[j] = (var[j] - mean[j] * mean[j] / (double)n) / (double)(n - 1);
        mean[j] = shift[j] + mean[j] / (double)n;
    }
}

/* k = kT / v for every internal coordinate, refusing variances that are not
 * above rounding. */
static cgdml_status set_parameters(cgdml_prior *p, const double *mean, const double *var, size_t n)
{
    double kT = CGDML_BOLTZMANN_KCAL * p->temperature;
    for (size_t j = 0; j < p->n_bonds + p->n_angles; j++) {
        if (!(var[j] > CGDML_PRIOR_MIN_STD * CGDML_PRIOR_MIN_STD) || !isfinite(var[j])) {
            char what[96];
            describe(p, j, what, sizeof what);
            return cgdml_error_set(
                CGDML_ERR_NUMERIC,
                "%s: variance %g %s over %zu frames; it must exceed %g (a "
                "coordinate that does not vary has no spring constant kT/variance)",
                what, var[j], j < p->n_bonds ? "Å²" : "rad²", n,
                CGDML_PRIOR_MIN_STD * CGDML_PRIOR_MIN_STD);
        }
        double *q0 = j < p->n_bonds ? p->bond_r0 + j : p->angle_theta0 + (j - p->n_bonds);
        double *k = j < p->n_bonds ? p->bond_k + j : p->angle_k + (j - p->n_bonds);
        *q0 = mean[j];
        *k = kT / var[j];
    }
    return CGDML_OK;
}

cgdml_status cgdml_prior_fit(const cgdml_dataset *data, const size_t *idx, size_t n, size_t n_bonds,
                             const int *bonds, double temperature, cgdml_prior **out)
{
    *out = NULL;
    cgdml_prior *p = NULL;
    cgdml_status s = check_fit_arguments(data, idx, n, n_bonds, bonds, temperature);
    if (!s)
        s = prior_with_topology(n_bonds, bonds, &p);
    if (s)
        return cgdml_error_wrap(s, "fitting the prior");
    p->temperature = temperature;
    size_t nq = p->n_bonds + p->n_angles;
    double *buf = malloc(4 * nq * sizeof *buf);
    if (!buf) {
        cgdml_prior_free(p);
        return cgdml_error_set(CGDML_ERR_NOMEM, "fitting the prior: cannot allocate moments");
    }
    moments(p, data, idx, n, buf, buf + nq, buf + 2 * nq);
    s = set_parameters(p, buf, buf + nq, n);
    free(buf);
    if (s) {
        cgdml_prior_free(p);
        return cgdml_error_wrap(s, "fitting the prior");
    }
    *out = p;
    return CGDML_OK;
}

cgdml_status cgdml_prior_fit_topology(const cgdml_dataset *data, const int *bonds,
                                      size_t n_bonds, double temperature, cgdml_prior **out)
{
    *out = NULL;
    int *defaults = NULL;
    cgdml_status s = CGDML_OK;
    if (!bonds && data->n_bonds) {
        bonds = data->bonds;
        n_bonds = data->n_bonds;
    } else if (!bonds) {
        s = cgdml_prior_default_bonds(data->n_beads, &n_bonds, &defaults);
        bonds = defaults;
    }
    if (!s)
        s = cgdml_prior_fit(data, NULL, data->n_frames, n_bonds, bonds, temperature, out);
    free(defaults);
    return s;
}

cgdml_status cgdml_prior_copy(const cgdml_prior *prior, cgdml_prior **out)
{
    cgdml_prior *copy = NULL;
    cgdml_status s = cgdml_prior_alloc(prior->n_bonds, prior->n_angles, &copy);
    *out = NULL;
    if (s)
        return s;
    copy->temperature = prior->temperature;
    memcpy(copy->bonds, prior->bonds, 2 * prior->n_bonds * sizeof(int));
    memcpy(copy->bond_r0, prior->bond_r0, prior->n_bonds * sizeof(double));
    memcpy(copy->bond_k, prior->bond_k, prior->n_bonds * sizeof(double));
    memcpy(copy->angles, prior->angles, 3 * prior->n_angles * sizeof(int));
    memcpy(copy->angle_theta0, prior->angle_theta0, prior->n_angles * sizeof(double));
    memcpy(copy->angle_k, prior->angle_k, prior->n_angles * sizeof(double));
    *out = copy;
    return CGDML_OK;
}
