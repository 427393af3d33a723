/* cgdml/prior.h - the harmonic prior on bonds and angles (docs/method.md §3).
 *
 * The kernel models learn only what the prior does not explain: the prior force is
 * subtracted from the force labels before training (cgdml_prior_subtract) and added
 * back when a model predicts or a simulation moves the beads
 * (cgdml_prior_add_forces).  Its stiff springs keep simulations in physical space,
 * where the kernel models were trained.
 *
 * The prior is fitted by Boltzmann inversion of training frames: a bond length or
 * angle q with mean q0 and variance v at temperature T gets the spring constant
 * k = k_B T / v, i.e. U(q) = k/2 (q - q0)², whose Boltzmann density is the Gaussian
 * with that mean and variance.
 *
 * Units and shapes as in dataset.h: positions x[bead][xyz] in Å, forces
 * [bead][xyz] in kcal/mol/Å, row-major; energies in kcal/mol; angles in radians.
 */
#ifndef CGDML_PRIOR_H
#define CGDML_PRIOR_H

#include <stddef.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"

/* Boltzmann constant k_B in kcal/mol/K (CODATA 2018 R = 8.314462618 J/mol/K
 * divided by 4184 J/kcal). */
#define CGDML_BOLTZMANN_KCAL 0.0019872041
/* kT at 300 K in kcal/mol, docs/method.md §5. */
#define CGDML_KT_300K 0.5962

typedef struct {
    double temperature; /* K, the temperature of the fit (kT = k_B T) */
    size_t n_bonds;
    int *bonds;      /* [bond][2] bead indices */
    double *bond_r0; /* [bond] Å, mean length */
    double *bond_k;  /* [bond] kcal/mol/Å², = kT / variance */
    size_t n_angles;
    int *angles;          /* [angle][3] bead indices a-b-c, b the vertex */
    double *angle_theta0; /* [angle] radians, mean angle */
    double *angle_k;      /* [angle] kcal/mol/rad², = kT / variance */
} cgdml_prior;

/* The angles of a bond list: every pair of bonds sharing a bead b gives an angle
 * a-b-c with a < c, listed sorted by vertex b, then by a, then by c.  *angles is
 * [angle][3] (malloc'd, NULL when there are none).  Negative indices, self-bonds
 * and repeated bonds are refused. */
cgdml_status cgdml_prior_angles_from_bonds(size_t n_bonds, const int *bonds, size_t *n_angles,
                                           int **angles);

/* The default CG alanine dipeptide topology.  6 beads C N CA CB C N: bonds 0-1, 1-2,
 * 2-3, 2-4, 4-5; 5 beads C N CA C N: bonds 0-1, 1-2, 2-3, 3-4.  *bonds is
 * [bond][2] (malloc'd).  Other bead counts are refused. */
cgdml_status cgdml_prior_default_bonds(size_t n_beads, size_t *n_bonds, int **bonds);

/* Fit a prior by Boltzmann inversion on frames idx[0..n-1] of `data` (idx NULL: all
 * frames, and n must equal data->n_frames).  The angles come from
 * cgdml_prior_angles_from_bonds.  For each bond length and angle: mean q0 and
 * unbiased sample variance v over the frames, k = k_B T / v.  Needs n >= 2, at
 * least one bond, every bead index < data->n_beads, no self-bond, temperature > 0
 * (K), and every variance above rounding (CGDML_PRIOR_MIN_STD); the message names
 * the bond or angle at fault. */
cgdml_status cgdml_prior_fit(const cgdml_dataset *data, const size_t *idx, size_t n, size_t n_bonds,
                             const int *bonds, double temperature, cgdml_prior **out);

/* A standard deviation (Å or rad) at or below which a bond or angle counts as
 * constant: the spread of rounding errors in double precision is ~1e-15, while a
 * stiff covalent bond at 300 K spreads by ~0.03 Å.  k = kT / v would be meaningless. */
#define CGDML_PRIOR_MIN_STD 1e-8

/* Allocate a prior for n_bonds bonds and n_angles angles with zeroed arrays and
 * temperature 300 K; the caller (e.g. the model-file reader) fills in the
 * topology and parameters.  Release with cgdml_prior_free. */
cgdml_status cgdml_prior_alloc(size_t n_bonds, size_t n_angles, cgdml_prior **out);

void cgdml_prior_free(cgdml_prior *prior);

/* A new copy of `prior` (*out is the caller's: cgdml_prior_free). */
cgdml_status cgdml_prior_copy(const cgdml_prior *prior, cgdml_prior **out);

/* Energy U = Σ_bonds k/2 (r - r0)² + Σ_angles k/2 (θ - θ0)² (kcal/mol) of one frame
 * x[bead][xyz] (Å); ADDS the prior force -∇U (kcal/mol/Å) to forces[bead][xyz]
 * (does not overwrite).  The angle a-b-c is θ = atan2(|u×v|, u·v) with u = a - b,
 * v = c - b.  At a straight (θ = π) or folded (θ = 0) angle the direction of the
 * angle force is undefined; the force there goes smoothly to zero (see prior.c). */
double cgdml_prior_add_forces(const cgdml_prior *prior, const double *x, double *forces);

/* Prior-subtracted labels: out[k][bead][xyz] = data forces - prior forces of frame
 * idx[k], k = 0..n-1 (idx NULL: all frames, and n must equal data->n_frames); out
 * holds n frames (kcal/mol/Å).  Refuses frame indices out of range and a prior
 * whose bead indices do not fit the dataset. */
cgdml_status cgdml_prior_subtract(const cgdml_prior *prior, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, double *out);

/* The largest |r - r0| / sqrt(kT/k) over the bonds of frame x[bead][xyz]: how many
 * standard deviations of the fitted distribution the worst bond is off.
 * Simulations use it to detect blow-ups.  0 for a prior without bonds. */
double cgdml_prior_worst_bond_deviation(const cgdml_prior *prior, const double *x);

/* Temperature of the prior's Boltzmann inversion when none is given, K. */
#define CGDML_PRIOR_DEFAULT_TEMPERATURE 300.0

/* cgdml_prior_fit on all frames with the topology the pipeline uses: bonds[n_bonds][2]
 * if given (not NULL), else the dataset's own bonds, else the alanine dipeptide
 * default for its bead count (cgdml_prior_default_bonds). */
cgdml_status cgdml_prior_fit_topology(const cgdml_dataset *data, const int *bonds,
                                      size_t n_bonds, double temperature, cgdml_prior **out);

#endif
