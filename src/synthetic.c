/* synthetic.c - the harmonic-network toy system (see cgdml/synthetic.h): exact
 * forces for testing that GDML learns what it should, and a 6-bead dataset of any
 * size for benchmarks, without depending on the shipped all-atom data.
 */
#include "cgdml/synthetic.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>

#include "cgdml/descriptor.h"

/* Reference structure: a random walk with 1.5 Å steps, redrawn until every pair
 * is at least 1.2 Å apart, so that springs and descriptors are well defined. */
static void draw_reference(gsl_rng *rng, size_t nb, double *x)
{
    for (;;) {
        for (int c = 0; c < 3; c++)
            x[c] = 0.0;
        for (size_t b = 1; b < nb; b++) {
            double dir[3];
            gsl_ran_dir_3d(rng, &dir[0], &dir[1], &dir[2]);
            for (int c = 0; c < 3; c++)
                x[3 * b + c] = x[3 * (b - 1) + c] + 1.5 * dir[c];
        }
        double D[nb * nb];
        cgdml_descriptor_compute(nb, x, D);
        int ok = 1;
        for (size_t k = 0; k < cgdml_descriptor_size(nb); k++)
            ok &= D[k] < 1.0 / 1.2;
        if (ok)
            return;
    }
}

cgdml_status cgdml_harmonic_network_alloc(size_t n_beads, double k_min, unsigned long seed,
                                          cgdml_harmonic_network **out)
{
    *out = NULL;
    if (n_beads < 2 || !(k_min > 0))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "harmonic network of %zu beads with k_min = %g: need >= 2 beads "
                               "and k_min > 0",
                               n_beads, k_min);
    size_t d = cgdml_descriptor_size(n_beads);
    cgdml_harmonic_network *net = calloc(1, sizeof *net);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (net) {
        net->r0 = malloc(d * sizeof(double));
        net->k = malloc(d * sizeof(double));
        net->reference = malloc(3 * n_beads * sizeof(double));
    }
    if (!net || !rng || !net->r0 || !net->k || !net->reference) {
        gsl_rng_free(rng);
        cgdml_harmonic_network_free(net);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a harmonic network");
    }
    net->n_beads = n_beads;
    gsl_rng_set(rng, seed);
    draw_reference(rng, n_beads, net->reference);
    cgdml_descriptor_compute(n_beads, net->reference, net->r0);
    for (size_t k = 0; k < d; k++) {
        net->r0[k] = 1.0 / net->r0[k];
        net->k[k] = k_min * (1.0 + gsl_rng_uniform(rng));
    }
    gsl_rng_free(rng);
    *out = net;
    return CGDML_OK;
}

void cgdml_harmonic_network_free(cgdml_harmonic_network *net)
{
    if (!net)
        return;
    free(net->r0);
    free(net->k);
    free(net->reference);
    free(net);
}

double cgdml_harmonic_network_forces(const cgdml_harmonic_network *net, const double *x,
                                     double *forces)
{
    size_t nb = net->n_beads, k = 0;
    double energy = 0.0;
    for (size_t a = 0; a < 3 * nb; a++)
        forces[a] = 0.0;
    for (size_t i = 1; i < nb; i++)
        for (size_t j = 0; j < i; j++, k++) {
            double v[3], r = 0.0;
            for (int c = 0; c < 3; c++) {
                v[c] = x[3 * i + c] - x[3 * j + c];
                r += v[c] * v[c];
            }
            r = sqrt(r);
            double stretch = r - net->r0[k];
            energy += 0.5 * net->k[k] * stretch * stretch;
            for (int c = 0; c < 3; c++) {
                double f = -net->k[k] * stretch * v[c] / r; /* force on bead i */
                forces[3 * i + c] += f;
                forces[3 * j + c] -= f;
            }
        }
    return energy;
}

/* x = R (reference + displacement) + shift for a uniformly random rotation R. */
static void draw_frame(const cgdml_harmonic_network *net, gsl_rng *rng, double spread,
                       double *x)
{
    double q[4], norm = 0.0, shift[3];
    for (int c = 0; c < 4; c++) {
        q[c] = gsl_ran_gaussian(rng, 1.0);
        norm += q[c] * q[c];
    }
    norm = sqrt(norm);
    double w = q[0] / norm, a = q[1] / norm, b = q[2] / norm, c = q[3] / norm;
    double R[3][3] = {{1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)},
                      {2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)},
                      {2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)}};
    for (int k = 0; k < 3; k++)
        shift[k] = gsl_ran_gaussian(rng, 5.0);
    for (size_t bead = 0; bead < net->n_beads; bead++) {
        double p[3];
        for (int k = 0; k < 3; k++)
            p[k] = net->reference[3 * bead + k] + gsl_ran_gaussian(rng, spread);
        for (int r = 0; r < 3; r++)
            x[3 * bead + r] = R[r][0] * p[0] + R[r][1] * p[1] + R[r][2] * p[2] + shift[r];
    }
}

cgdml_status cgdml_harmonic_network_sample(const cgdml_harmonic_network *net, size_t n_frames,
                                           double spread, double noise, unsigned long seed,
                                           cgdml_dataset **out)
{
    cgdml_status s = cgdml_dataset_alloc(n_frames, net->n_beads, out);
    if (s)
        return s;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) {
        cgdml_dataset_free(*out);
        *out = NULL;
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a random number generator");
    }
    gsl_rng_set(rng, seed);
    size_t n3 = 3 * net->n_beads;
    for (size_t f = 0; f < n_frames; f++) {
        double *x = (*out)->coords + f * n3, *F = (*out)->forces + f * n3;
        draw_frame(net, rng, spread, x);
        cgdml_harmonic_network_forces(net, x, F);
        for (size_t a = 0; noise > 0 && a < n3; a++)
            F[a] += gsl_ran_gaussian(rng, noise);
        (*out)->time[f] = (double)f;
    }
    gsl_rng_free(rng);
    return CGDML_OK;
}
