/* descriptor.c - inverse pair distances and their Jacobian (see cgdml/descriptor.h).
 *
 * Every kernel evaluation starts here; the loops visit pairs in the sGDML order so
 * that descriptor vectors, and hence hyperparameters, match that tool's.
 */
#include "cgdml/descriptor.h"

#include <math.h>

void cgdml_descriptor_compute(size_t n_beads, const double *x, double *D)
{
    size_t k = 0;
    for (size_t i = 1; i < n_beads; i++)
        for (size_t j = 0; j < i; j++, k++) {
            double vx = x[3 * i] - x[3 * j], vy = x[3 * i + 1] - x[3 * j + 1],
                   vz = x[3 * i + 2] - x[3 * j + 2];
            D[k] = 1.0 / sqrt(vx * vx + vy * vy + vz * vz);
        }
}

void cgdml_descriptor_jacobian(size_t n_beads, const double *x, double *D, double *g)
{
    size_t k = 0;
    for (size_t i = 1; i < n_beads; i++)
        for (size_t j = 0; j < i; j++, k++) {
            double v[3] = {x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1],
                           x[3 * i + 2] - x[3 * j + 2]};
            double inv_r = 1.0 / sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
            double inv_r3 = inv_r * inv_r * inv_r;
            D[k] = inv_r;
            for (int c = 0; c < 3; c++)
                g[3 * k + c] = v[c] * inv_r3;
        }
}

void cgdml_descriptor_apply_jt(size_t n_beads, const double *g, const double *w, double *out)
{
    for (size_t a = 0; a < 3 * n_beads; a++)
        out[a] = 0.0;
    size_t k = 0;
    for (size_t i = 1; i < n_beads; i++)
        for (size_t j = 0; j < i; j++, k++)
            for (int c = 0; c < 3; c++) {
                double t = g[3 * k + c] * w[k];
                out[3 * i + c] -= t;
                out[3 * j + c] += t;
            }
}

void cgdml_descriptor_apply_j(size_t n_beads, const double *g, const double *a, double *out)
{
    size_t k = 0;
    for (size_t i = 1; i < n_beads; i++)
        for (size_t j = 0; j < i; j++, k++) {
            double s = 0.0;
            for (int c = 0; c < 3; c++)
                s += g[3 * k + c] * (a[3 * j + c] - a[3 * i + c]);
            out[k] = s;
        }
}

void cgdml_descriptor_jacobian_dense(size_t n_beads, const double *g, double *J)
{
    size_t d = cgdml_descriptor_size(n_beads), n3 = 3 * n_beads;
    for (size_t e = 0; e < d * n3; e++)
        J[e] = 0.0;
    size_t k = 0;
    for (size_t i = 1; i < n_beads; i++)
        for (size_t j = 0; j < i; j++, k++)
            for (int c = 0; c < 3; c++) {
                J[k * n3 + 3 * i + c] = -g[3 * k + c];
                J[k * n3 + 3 * j + c] = g[3 * k + c];
            }
}
