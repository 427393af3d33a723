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

#include "cgdml/collective.h"
#include "cgdml/dataset.h"
#include "cgdml/error.h"

/* Bins per dihedral of the default φ/ψ grid (the authors' scripts, docs/method.md §4). */
#define CGDML_STRATA_DEFAULT_BINS 300
/* Collective variables one grid may combine. */
#define CGDML_STRATA_MAX_CVS 4
/* Lloyd iterations k-means runs at most before it keeps the assignment it has. */
#define CGDML_KMEANS_MAX_ITERATIONS 100

/* stratum_of of a frame kept out of every stratum (cgdml_strata_exclude). */
#define CGDML_STRATUM_NONE ((size_t)-1)

/* A partition of the pool - the frames every draw comes from: all frames of the
 * dataset, less those excluded (a held-out set) - into non-empty strata. */
typedef struct {
    size_t n_frames;    /* frames of the dataset */
    size_t n_strata;    /* occupied strata (bins, or k-means clusters) */
    size_t *offset;     /* [n_strata + 1]: stratum s is frame[offset[s] .. offset[s+1]-1] */
    size_t *frame;      /* [n_pool] frame indices grouped by stratum, ascending within one */
    size_t *stratum_of; /* [n_frames] stratum of each frame, CGDML_STRATUM_NONE if excluded */
    size_t n_pool;      /* frames in the strata: n_frames less the excluded (offset[n_strata]) */
} cgdml_strata;

/* Bin the frames on the product grid of n_cv (1..CGDML_STRATA_MAX_CVS) collective
 * variables, computed from the bead positions.  Only occupied bins become strata,
 * in increasing order of the bin id b_0 n_1 n_2 ... + b_1 n_2 ... + ... (the first
 * CV varies slowest), so the grid may have far more bins than there are frames:
 * memory is O(n_frames) whatever the grid. */
cgdml_status cgdml_strata_from_cvs(const cgdml_dataset *data, const cgdml_collective *cvs, size_t n_cv,
                                   cgdml_strata **out);

/* Strata from k-means (Lloyd, k-means++ seeding from `seed`, GSL mt19937) on the
 * inverse-distance descriptors of the frames, for systems without dihedral CVs.
 * Stops when no frame changes cluster or after CGDML_KMEANS_MAX_ITERATIONS; empty
 * clusters are dropped; the same seed gives the same strata at any thread count. */
cgdml_status cgdml_strata_kmeans(const cgdml_dataset *data, size_t k, unsigned long seed,
                                 cgdml_strata **out);

/* Keep frames[0..n-1] out of every stratum (held-out frames no draw may pick):
 * their stratum_of becomes CGDML_STRATUM_NONE, strata left empty are dropped (the
 * others keep their order), n_pool shrinks.  Repeated frames are fine; a frame
 * beyond the dataset, or excluding every frame, is an error (strata unchanged). */
cgdml_status cgdml_strata_exclude(cgdml_strata *strata, const size_t *frames, size_t n);

void cgdml_strata_free(cgdml_strata *strata);

typedef enum {
    CGDML_DRAW_STRATIFIED,        /* an occupied stratum uniformly, then a frame uniformly
                                     inside it; with replacement (layer-1 subsets) */
    CGDML_DRAW_STRATIFIED_UNIQUE, /* one frame from each of m distinct strata, m <= n_strata
                                     (the layer-2 mean set) */
    CGDML_DRAW_RANDOM,            /* m distinct frames uniformly (population-proportional) */
    CGDML_DRAW_PARTITION,         /* block b of m frames of one random permutation of the
                                     pool: the blocks of one seed are disjoint, so K members
                                     of M frames use K M distinct frames (all of the pool
                                     when K M = n_pool); cgdml_strata_partition_block */
} cgdml_draw_kind;

/* Draw m >= 1 frame indices of the pool reproducibly from `seed` (GSL mt19937) into
 * a new array *out[m] (release with free()): in draw order for STRATIFIED,
 * ascending for the others (PARTITION: block 0). */
cgdml_status cgdml_strata_draw(const cgdml_strata *strata, cgdml_draw_kind kind, size_t m,
                               unsigned long seed, size_t **out);

/* Block `block` (0-based) of m frames of the permutation of the pool that `seed`
 * draws (GSL mt19937, gsl_ran_shuffle of the pool in ascending order), ascending,
 * into a new array *out[m].  It depends only on the seed, the block and the pool,
 * so each member of a partition can be drawn alone (resume, shards).  Refused
 * (CGDML_ERR_INVALID) unless (block + 1) m <= n_pool. */
cgdml_status cgdml_strata_partition_block(const cgdml_strata *strata, size_t m, size_t block,
                                          unsigned long seed, size_t **out);

/* How cgdml_strata_build bins a dataset (the program's --kmeans and --collective). */
typedef struct {
    size_t kmeans;                /* > 0: k-means clusters (cgdml_strata_kmeans) instead of
                                   * collective variables; default 0 */
    unsigned long seed;           /* k-means++ seeding; default 1 */
    cgdml_collective collective[CGDML_STRATA_MAX_CVS];
    size_t n_collective;          /* 0 (default): φ/ψ of the alanine dipeptide maps on
                                   * CGDML_STRATA_DEFAULT_BINS x CGDML_STRATA_DEFAULT_BINS */
    const size_t *exclude;        /* frames kept out of every stratum (cgdml_strata_exclude),
                                   * borrowed; NULL (default): none */
    size_t n_exclude;
} cgdml_strata_options;

/* The defaults above. */
void cgdml_strata_options_init(cgdml_strata_options *opt);

/* The strata of `opt` on `data`; max_bins > 0 caps the bins of every collective
 * variable (a coarser grid of the same variables), 0 keeps them.  *out is new
 * (cgdml_strata_free). */
cgdml_status cgdml_strata_build(const cgdml_dataset *data, const cgdml_strata_options *opt,
                                size_t max_bins, cgdml_strata **out);

#endif
