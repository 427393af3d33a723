/* test_geometry.c - dihedral angles (value, IUPAC sign, trans) and NeRF placement
 * (the bond, angle and dihedral asked for are the ones measured).
 */
#include <criterion/criterion.h>
#include <math.h>

#include "cgdml/geometry.h"

Test(geometry, dihedral_sign_and_value)
{
    /* a-b-c-d with b-c along z; d rotated by +60° about z from a's direction. */
    double x[12] = {1, 0, 0, 0, 0, 0, 0, 0, 1.5, cos(M_PI / 3), sin(M_PI / 3), 1.5};
    cr_assert_float_eq(cgdml_geometry_dihedral(x, 0, 1, 2, 3), M_PI / 3, 1e-12);
    x[10] = -x[10];
    cr_assert_float_eq(cgdml_geometry_dihedral(x, 0, 1, 2, 3), -M_PI / 3, 1e-12);
    x[9] = -1.0, x[10] = 0.0; /* trans */
    cr_assert_float_eq(fabs(cgdml_geometry_dihedral(x, 0, 1, 2, 3)), M_PI, 1e-12);
}

Test(geometry, placed_bead_has_the_asked_bond_angle_and_dihedral)
{
    double x[12] = {0.3, -1.2, 0.1, 1.1, -0.4, 0.2, 1.5, 0.9, -0.3};
    for (double phi = -3.0; phi < 3.1; phi += 0.75) {
        cgdml_geometry_place(x, x + 3, x + 6, 1.47, 1.95, phi, x + 9);
        double v[3] = {x[9] - x[6], x[10] - x[7], x[11] - x[8]};
        double u[3] = {x[3] - x[6], x[4] - x[7], x[5] - x[8]};
        double r = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        double ru = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
        double cos_t = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (r * ru);
        cr_assert_float_eq(r, 1.47, 1e-12);
        cr_assert_float_eq(acos(cos_t), 1.95, 1e-10);
        cr_assert_float_eq(cgdml_geometry_dihedral(x, 0, 1, 2, 3), phi, 1e-10, "phi %g", phi);
    }
}

Test(geometry, phi_psi_beads_of_the_alanine_maps)
{
    int phi[4], psi[4];
    cr_assert_eq(cgdml_geometry_phi_psi_beads(6, phi, psi), CGDML_OK);
    cr_assert(phi[3] == 4 && psi[0] == 1 && psi[3] == 5);
    cr_assert_eq(cgdml_geometry_phi_psi_beads(5, phi, psi), CGDML_OK);
    cr_assert(phi[3] == 3 && psi[3] == 4);
    cr_assert_eq(cgdml_geometry_phi_psi_beads(7, phi, psi), CGDML_ERR_INVALID);
}
