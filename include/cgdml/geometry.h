/* cgdml/geometry.h - internal coordinates of CG frames: dihedral angles, the
 * alanine dipeptide φ/ψ beads, and placing a bead from a bond length, angle and
 * dihedral (the NeRF construction).  Shared by sampling (collective variables),
 * landscapes (φ, ψ) and the tests that build chains with known geometry.
 * Positions x[bead][xyz] in Å, angles in radians.
 */
#ifndef CGDML_GEOMETRY_H
#define CGDML_GEOMETRY_H

#include <stddef.h>

#include "cgdml/error.h"

/* Dihedral angle ([-π, π], IUPAC sign) of beads a-b-c-d of frame x. */
double cgdml_geometry_dihedral(const double *x, int a, int b, int c, int d);

/* Default φ/ψ beads of the alanine dipeptide maps: 6 beads C N CA CB C N gives
 * φ = (0,1,2,4), ψ = (1,2,4,5); 5 beads C N CA C N gives (0,1,2,3), (1,2,3,4). */
cgdml_status cgdml_geometry_phi_psi_beads(size_t n_beads, int *phi_beads, int *psi_beads);

/* Position d[3] such that |cd| = r, angle b-c-d = theta and dihedral a-b-c-d = phi. */
void cgdml_geometry_place(const double *a, const double *b, const double *c, double r,
                          double theta, double phi, double *d);

#endif
