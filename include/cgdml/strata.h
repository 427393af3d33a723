/* cgdml/strata.h - stratified sampling over collective variables (docs/method.md §4).
 *
 * The two-layer ensemble does not train on frames in proportion to how often the
 * simulation visited them: it bins the frames on a grid of collective variables
 * (by default the φ/ψ torus, 300 x 300), and a draw picks an occupied bin uniformly,
 * then a frame uniformly inside it.  The layer-1 subsets and the layer-2 mean set
 * (one frame per occupied bin) are drawn from these strata, so rare regions of the
 * landscape are learnt as well as the basins.  For systems without dihedral
 * collective variables the strata can be k-means clusters in descriptor space.
 *
 * Frame indices are 0-based size_t into the dataset; angles are in radians,
 * distances in Å (the dataset's units).
 */
#ifndef CGDML_STRATA_H
#define CGDML_STRATA_H

#include <stddef.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"

/* Bins per dihedral of the default φ/ψ grid (the authors' scripts, docs/method.md §4). */
#define CGDML_STRATA_DEFAULT_BINS 300
/* Collective variables one grid may combine. */
#define CGDML_STRATA_MAX_CVS 4
/* Lloyd iterations k-means runs at most before it keeps the assignment it has. */
#define CGDML_KMEANS_MAX_ITERATIONS 100

typedef enum { CGDML_CV_DIHEDRAL, CGDML_CV_ANGLE, CGDML_CV_DISTANCE } cgdml_cv_kind;

/* One collective variable and its bins.  A dihedral a-b-c-d (IUPAC sign) is
 * periodic on [-π, π) and ignores lo/hi.  An angle a-b-c (vertex b) lies in
 * [0, π]; its range is [lo, hi] (radians), lo = hi = 0 meaning [0, π].  A
 * distance a-b (Å) needs 0 <= lo < hi, or lo = hi = 0 for the data's min/max.
 * Angles and distances outside the range go to the edge bins. */
typedef struct {
    cgdml_cv_kind kind;
    int beads[4];  /* 4 for a dihedral, 3 for an angle, 2 for a distance; rest -1 */
    size_t n_bins; /* >= 1 */
    double lo, hi; /* range: radians for angles, Å for distances */
} cgdml_cv;

/* Parse "dihedral:0,1,2,4:300", "angle:0,1,2:50[:lo,hi]" or
 * "distance:0,5:40[:lo,hi]" (kind:beads:bins[:range]).  Bead indices are checked
 * against the dataset later, by cgdml_strata_from_cvs. */
cgdml_status cgdml_cv_parse(const char *spec, cgdml_cv *out);

/* The φ and ψ dihedrals of the 6- or 5-bead alanine dipeptide maps
 * (cgdml_geometry_phi_psi_beads), n_bins each; n_bins = 0 means
 * CGDML_STRATA_DEFAULT_BINS. */
cgdml_status cgdml_cv_default_phi_psi(size_t n_beads, size_t n_bins, cgdml_cv cvs[2]);

/* A partition of the frames into non-empty strata. */
typedef struct {
    size_t n_frames;    /* frames of the dataset */
    size_t n_strata;    /* occupied strata (bins, or k-means clusters) */
    size_t *offset;     /* [n_strata + 1]: stratum s is frame[offset[s] .. offset[s+1]-1] */
    size_t *frame;      /* [n_frames] frame indices grouped by stratum, ascending within one */
    size_t *stratum_of; /* [n_frames] stratum of each frame */
} cgdml_strata;

/* Bin the frames on the product grid of n_cv (1..CGDML_STRATA_MAX_CVS) collective
 * variables, computed from the bead positions.  Only occupied bins become strata,
 * in increasing order of the bin id b_0 n_1 n_2 ... + b_1 n_2 ... + ... (the first
 * CV varies slowest), so the grid may have far more bins than there are frames:
 * memory is O(n_frames) whatever the grid. */
cgdml_status cgdml_strata_from_cvs(const cgdml_dataset *data, const cgdml_cv *cvs, size_t n_cv,
                                   cgdml_strata **out);

/* Strata from k-means (Lloyd, k-means++ seeding from `seed`, GSL mt19937) on the
 * inverse-distance descriptors of the frames, for systems without dihedral CVs.
 * Stops when no frame changes cluster or after CGDML_KMEANS_MAX_ITERATIONS; empty
 * clusters are dropped; the same seed gives the same strata at any thread count. */
cgdml_status cgdml_strata_kmeans(const cgdml_dataset *data, size_t k, unsigned long seed,
                                 cgdml_strata **out);

void cgdml_strata_free(cgdml_strata *strata);

typedef enum {
    CGDML_DRAW_STRATIFIED,        /* an occupied stratum uniformly, then a frame uniformly
                                     inside it; with replacement (layer-1 subsets) */
    CGDML_DRAW_STRATIFIED_UNIQUE, /* one frame from each of m distinct strata, m <= n_strata
                                     (the layer-2 mean set) */
    CGDML_DRAW_RANDOM,            /* m distinct frames uniformly (population-proportional) */
} cgdml_draw_kind;

/* Draw m >= 1 frame indices reproducibly from `seed` (GSL mt19937) into a new
 * array *out[m] (release with free()): in draw order for STRATIFIED, ascending
 * for the other two. */
cgdml_status cgdml_strata_draw(const cgdml_strata *strata, cgdml_draw_kind kind, size_t m,
                               unsigned long seed, size_t **out);

#endif
