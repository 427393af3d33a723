/* geometry.c - dihedrals, the alanine dipeptide φ/ψ beads, and NeRF bead placement
 * (see cgdml/geometry.h).
 */
#include "cgdml/geometry.h"

#include <math.h>
#include <string.h>

static void cross(const double *u, const double *v, double *out)
{
    out[0] = u[1] * v[2] - u[2] * v[1];
    out[1] = u[2] * v[0] - u[0] * v[2];
    out[2] = u[0] * v[1] - u[1] * v[0];
}

static void normalise(double *v)
{
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int k = 0; k < 3; k++)
        v[k] /= n;
}

double cgdml_geometry_dihedral(const double *x, int a, int b, int c, int d)
{
    double b1[3], b2[3], b3[3], n1[3], n2[3];
    for (int k = 0; k < 3; k++) {
        b1[k] = x[3 * b + k] - x[3 * a + k];
        b2[k] = x[3 * c + k] - x[3 * b + k];
        b3[k] = x[3 * d + k] - x[3 * c + k];
    }
    cross(b1, b2, n1);
    cross(b2, b3, n2);
    double len_b2 = sqrt(b2[0] * b2[0] + b2[1] * b2[1] + b2[2] * b2[2]);
    double y = len_b2 * (b1[0] * n2[0] + b1[1] * n2[1] + b1[2] * n2[2]);
    double xx = n1[0] * n2[0] + n1[1] * n2[1] + n1[2] * n2[2];
    return atan2(y, xx);
}

cgdml_status cgdml_geometry_phi_psi_beads(size_t n_beads, int *phi_beads, int *psi_beads)
{
    static const int six[2][4] = {{0, 1, 2, 4}, {1, 2, 4, 5}};
    static const int five[2][4] = {{0, 1, 2, 3}, {1, 2, 3, 4}};
    const int(*p)[4] = n_beads == 6 ? six : n_beads == 5 ? five : NULL;
    if (!p)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "no default phi/psi beads for %zu beads (known: the 6-bead and "
                               "5-bead alanine dipeptide maps); give them explicitly",
                               n_beads);
    memcpy(phi_beads, p[0], sizeof p[0]);
    memcpy(psi_beads, p[1], sizeof p[1]);
    return CGDML_OK;
}

void cgdml_geometry_place(const double *a, const double *b, const double *c, double r,
                          double theta, double phi, double *d)
{
    double bc[3], ab[3], n[3], m[3];
    for (int k = 0; k < 3; k++) {
        bc[k] = c[k] - b[k];
        ab[k] = b[k] - a[k];
    }
    normalise(bc);
    cross(ab, bc, n);
    normalise(n);
    cross(n, bc, m);
    double l[3] = {-r * cos(theta), r * sin(theta) * cos(phi), r * sin(theta) * sin(phi)};
    for (int k = 0; k < 3; k++)
        d[k] = c[k] + l[0] * bc[k] + l[1] * m[k] + l[2] * n[k];
}
