/* cgdml/fes.h - free-energy landscapes F(φ, ψ) and their comparison (docs/method.md §5).
 *
 * A landscape is a periodic 2-D histogram of two dihedral angles on [-π, π)²,
 * n_bins x n_bins (default 60), turned into F = -ln p in units of kT, shifted so
 * that its minimum is 0; bins without samples hold NaN.  Two landscapes are
 * compared over the bins populated in both, after removing the best constant
 * shift: MSE = mean((F_a - F_b - c)²), c = mean(F_a - F_b), in (kT)².
 */
#ifndef CGDML_FES_H
#define CGDML_FES_H

#include <stddef.h>
#include <stdint.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"

/* Bins per angle of the landscapes cgdml reports (docs/method.md §5, issue 3). */
#define CGDML_FES_DEFAULT_BINS 60

typedef struct {
    size_t n_bins;       /* per angle */
    size_t n_samples;    /* frames histogrammed */
    double *count;       /* [phi bin][psi bin] */
    double *free_energy; /* [phi bin][psi bin], kT, min 0, NaN where count is 0 */
} cgdml_fes;

/* φ and ψ of every frame (out arrays [frame], radians): the dihedrals of beads
 * phi_beads[4] and psi_beads[4]; with NULL beads, the dataset's "phi"/"psi"
 * observables if it has them, else the default beads for its bead count. */
cgdml_status cgdml_fes_angles(const cgdml_dataset *data, const int *phi_beads,
                              const int *psi_beads, double *phi, double *psi);

/* Histogram n angle pairs into a new landscape of n_bins x n_bins. */
cgdml_status cgdml_fes_from_angles(const double *phi, const double *psi, size_t n,
                                   size_t n_bins, cgdml_fes **out);
void cgdml_fes_free(cgdml_fes *fes);

/* Comparison of two landscapes of the same grid. */
typedef struct {
    double mse;          /* (kT)² over jointly populated bins, after the best shift */
    double shift;        /* the constant c removed, kT */
    size_t joint_bins;   /* bins populated in both */
    double kl;           /* KL(p_b || p_a) over the joint bins, each renormalised there */
    double missing;      /* fraction of b's population in bins a never visits */
    double mse_weighted; /* (kT)², each joint bin weighted by b's population there (the
                          * unweighted mse lets sparsely visited bins dominate), after
                          * the best shift under those weights */
    double extra;        /* fraction of a's population in bins b never visits (a
                          * model's mass where the reference has none) */
} cgdml_fes_comparison;

/* Compare landscape a (e.g. a model's) with b (e.g. the reference). */
cgdml_status cgdml_fes_compare(const cgdml_fes *a, const cgdml_fes *b,
                               cgdml_fes_comparison *out);

/* The landscape of a CG trajectory's production frames, judged as docs/method.md
 * §6 asks: frames at steps <= burn_in are discarded (equilibration), and the
 * production frames are split at the middle step into a first and a second half,
 * whose comparison (*halves: a the first, b the second half) is the run's
 * convergence check.  traj holds frames with their steps (cgdml_dataset.step), as
 * `cgdml simulate` writes them; phi_beads/psi_beads as for cgdml_fes_angles.
 * Frames with NaN angles (stopped replicas) are left out.  CGDML_ERR_INVALID if
 * fewer than 2 production frames are left. */
cgdml_status cgdml_fes_trajectory(const cgdml_dataset *traj, int64_t burn_in, size_t n_bins,
                                  const int *phi_beads, const int *psi_beads,
                                  cgdml_fes **production, cgdml_fes_comparison *halves);

/* Save to HDF5 (atomically): /fes/free_energy, /fes/count, /fes/edges and
 * attributes; `floor` (the reference's half-against-half MSE, NaN if unknown) and,
 * if not NULL, the comparison with the reference (attributes mse_kT2, shift_kT,
 * kl, missing_population, joint_bins, mse_weighted_kT2, extra_population) and the
 * convergence check of cgdml_fes_trajectory (attribute halves_mse_kT2) are stored
 * with it. */
cgdml_status cgdml_fes_save(const cgdml_fes *fes, double floor,
                            const cgdml_fes_comparison *vs_reference,
                            const cgdml_fes_comparison *halves, const char *path);

#endif
