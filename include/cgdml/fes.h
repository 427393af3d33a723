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

/* The floor a CG sample of this size and correlation can reach (docs/method.md §6):
 * the half-against-half floor of the reference uses 50,000 frames per half, far
 * more independent samples than a CG run of R replicas x T frames holds.  The
 * correlation of either sample is the integrated autocorrelation time of the
 * basin indicator 1[-115° < ψ < 46°] (α against β, the slow motion of a
 * peptide's backbone), in frames (Sokal's window, c = 5; a CG replica's series are
 * averaged).  The matched sample is R contiguous blocks of one half of the
 * reference, each of T·τ_reference/τ_model frames (as many independent samples as
 * a replica holds), at random places; the floor is the mean MSE of such samples
 * against the other half (independent of them, as the half-against-half floor
 * is), over CGDML_FES_MATCHED_DRAWS draws alternating between the halves. */
#define CGDML_FES_MATCHED_DRAWS 20
#define CGDML_FES_SOKAL_WINDOW 5.0

typedef struct {
    double tau_model;     /* frames of the trajectory (saved frames) */
    double tau_reference; /* frames of the reference */
    size_t blocks;        /* R: replicas with production frames */
    size_t block_frames;  /* reference frames per block (capped at n_ref / 2R) */
    int capped;           /* 1 if the blocks had to be shortened to fit the reference */
    double floor;         /* mean MSE of matched samples against the reference, kT² */
    double floor_sd;      /* their standard deviation over the draws */
} cgdml_fes_matched;

/* Integrated autocorrelation time of n_series series of `len` values each, stored
 * one after another (series s at x[s*len]), averaging their autocovariances. */
double cgdml_fes_autocorrelation_time(const double *x, size_t n_series, size_t len);

/* The matched floor for the production frames (step > burn_in) of traj (a
 * trajectory with a "replica" observable; without it, one replica) against the
 * reference angles ref_phi/ref_psi[n_ref] in time order, on landscapes of
 * n_bins; phi_beads/psi_beads as for cgdml_fes_angles; the block places drawn
 * with `seed`. */
cgdml_status cgdml_fes_matched_floor(const cgdml_dataset *traj, int64_t burn_in,
                                     const int *phi_beads, const int *psi_beads,
                                     const double *ref_phi, const double *ref_psi, size_t n_ref,
                                     size_t n_bins, unsigned long seed, cgdml_fes_matched *out);

/* Save to HDF5 (atomically): /fes/free_energy, /fes/count, /fes/edges and
 * attributes; `floor` (the reference's half-against-half MSE, NaN if unknown) and,
 * if not NULL, the comparison with the reference (attributes mse_kT2, shift_kT,
 * kl, missing_population, joint_bins, mse_weighted_kT2, extra_population) and the
 * convergence check of cgdml_fes_trajectory (attribute halves_mse_kT2) and the
 * matched floor (matched_floor_kT2, matched_floor_sd_kT2, tau_model_frames,
 * tau_reference_frames) are stored with it. */
cgdml_status cgdml_fes_save(const cgdml_fes *fes, double floor,
                            const cgdml_fes_comparison *vs_reference,
                            const cgdml_fes_comparison *halves, const cgdml_fes_matched *matched,
                            const char *path);

/* ---- the reference landscape and the assessment of a trajectory ---- */

/* A dataset's landscape with its floor.  Owned by the struct
 * (cgdml_fes_reference_free). */
typedef struct {
    cgdml_fes *landscape;        /* all frames */
    cgdml_fes_comparison halves; /* first half of the frames against the second half:
                                  * halves.mse is the floor of the comparison metric */
    double *phi, *psi;           /* [n_frames] the angles in time order (radians), which
                                  * the matched floor draws its blocks from */
    size_t n_frames;
} cgdml_fes_reference;

/* The reference landscape of `data` (at least 2 frames) on n_bins x n_bins bins,
 * phi_beads/psi_beads as for cgdml_fes_angles, and its half-against-half floor.
 * *out is new; NULL on error. */
cgdml_status cgdml_fes_reference_compute(const cgdml_dataset *data, const int *phi_beads,
                                         const int *psi_beads, size_t n_bins,
                                         cgdml_fes_reference **out);
void cgdml_fes_reference_free(cgdml_fes_reference *ref);

/* A trajectory's landscape judged as the pipeline reports it. */
typedef struct {
    cgdml_fes *landscape;        /* production frames (owned: cgdml_fes_assessment_free) */
    cgdml_fes_comparison halves; /* convergence: first against second half (cgdml_fes_trajectory) */
    int has_reference;           /* 1 if the three below were computed */
    cgdml_fes_comparison vs;     /* landscape against the reference */
    cgdml_fes_matched matched;   /* the floor matched to this trajectory */
    double floor;                /* the reference's half-against-half floor; NaN without */
} cgdml_fes_assessment;

/* cgdml_fes_trajectory of traj after burn_in, and with ref (NULL: none) the
 * comparison, the reference's floor and the matched floor (blocks drawn with
 * seed); n_bins must be the reference's. */
cgdml_status cgdml_fes_assess(const cgdml_dataset *traj, int64_t burn_in, size_t n_bins,
                              const int *phi_beads, const int *psi_beads,
                              const cgdml_fes_reference *ref, unsigned long seed,
                              cgdml_fes_assessment *out);
/* Release what an assessment owns (its landscape); the struct itself is the caller's. */
void cgdml_fes_assessment_free(cgdml_fes_assessment *a);

#endif
