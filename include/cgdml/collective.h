/* cgdml/collective.h - collective variables: the dihedrals, angles and distances
 * of bead positions that the strata bin (strata.h) and the landscapes use.
 * A cgdml_collective is a plain value (no allocation, nothing to free).
 */
#ifndef CGDML_COLLECTIVE_H
#define CGDML_COLLECTIVE_H

#include <stddef.h>

#include "cgdml/error.h"

typedef enum { CGDML_COLLECTIVE_DIHEDRAL, CGDML_COLLECTIVE_ANGLE, CGDML_COLLECTIVE_DISTANCE } cgdml_collective_kind;

/* One collective variable and its bins.  A dihedral a-b-c-d (IUPAC sign) is
 * periodic on [-π, π) and ignores lo/hi.  An angle a-b-c (vertex b) lies in
 * [0, π]; its range is [lo, hi] (radians), lo = hi = 0 meaning [0, π].  A
 * distance a-b (Å) needs 0 <= lo < hi, or lo = hi = 0 for the data's min/max.
 * Angles and distances outside the range go to the edge bins. */
typedef struct {
    cgdml_collective_kind kind;
    int beads[4];  /* 4 for a dihedral, 3 for an angle, 2 for a distance; rest -1 */
    size_t n_bins; /* >= 1 */
    double lo, hi; /* range: radians for angles, Å for distances */
} cgdml_collective;

/* Parse "dihedral:0,1,2,4:300", "angle:0,1,2:50[:lo,hi]" or
 * "distance:0,5:40[:lo,hi]" (kind:beads:bins[:range]).  Bead indices are checked
 * against the dataset later, by cgdml_strata_from_cvs. */
cgdml_status cgdml_collective_parse(const char *spec, cgdml_collective *out);

/* The φ and ψ dihedrals of the 6- or 5-bead alanine dipeptide maps
 * (cgdml_geometry_phi_psi_beads), n_bins each; n_bins = 0 means
 * CGDML_STRATA_DEFAULT_BINS (strata.h). */
cgdml_status cgdml_collective_default_phi_psi(size_t n_beads, size_t n_bins, cgdml_collective cvs[2]);

#endif
