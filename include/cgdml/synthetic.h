/* cgdml/synthetic.h - toy CG systems with exact forces, for tests, benchmarks and
 * demonstrations of the method where the right answer is known.
 *
 * The harmonic network: N beads around a random reference structure (beads about
 * 1.5 Å apart), every pair (i, j) joined by a spring
 *   U = Σ_{i>j} k_ij/2 (r_ij - r0_ij)²,  k_ij in [k_min, 2 k_min]  (kcal/mol/Å²),
 * with r0 the reference distances.  Frames are the reference structure, randomly
 * rotated and translated, with Gaussian displacements of `spread` Å per coordinate;
 * forces are -∇U exactly, plus optional Gaussian label noise of `noise`
 * kcal/mol/Å per component (a stand-in for the all-atom noise of force matching).
 */
#ifndef CGDML_SYNTHETIC_H
#define CGDML_SYNTHETIC_H

#include <stddef.h>

#include "cgdml/dataset.h"

typedef struct {
    size_t n_beads;
    double *r0; /* [pair], Å, descriptor order */
    double *k;  /* [pair], kcal/mol/Å² */
    double *reference; /* [bead][xyz], Å */
} cgdml_harmonic_network;

/* A random network of n_beads beads from `seed`, springs k in [k_min, 2 k_min]. */
cgdml_status cgdml_harmonic_network_alloc(size_t n_beads, double k_min, unsigned long seed,
                                          cgdml_harmonic_network **out);
void cgdml_harmonic_network_free(cgdml_harmonic_network *net);

/* Exact energy (kcal/mol) and forces[bead][xyz] of one frame x[bead][xyz]. */
double cgdml_harmonic_network_forces(const cgdml_harmonic_network *net, const double *x,
                                     double *forces);

/* A dataset of n_frames frames sampled as described above. */
cgdml_status cgdml_harmonic_network_sample(const cgdml_harmonic_network *net, size_t n_frames,
                                           double spread, double noise, unsigned long seed,
                                           cgdml_dataset **out);

#endif
