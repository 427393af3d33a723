/* cgdml/dataset.h - the in-memory coarse-grained dataset.
 *
 * A dataset is a sequence of frames of N beads: positions in Å and the mapped
 * all-atom forces on the beads in kcal/mol/Å, both stored row-major as
 * coords[frame][bead][xyz] in double precision.  Bead names, bonds (pairs of bead
 * indices) and named per-frame observables (e.g. phi, psi in radians) are
 * optional.  Readers and writers live in h5md.h and npy.h.  A dataset and every
 * array in it belong to whoever made it (cgdml_dataset_alloc, a reader, a subset)
 * and are released together by cgdml_dataset_free.
 */
#ifndef CGDML_DATASET_H
#define CGDML_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "cgdml/error.h"

enum {
    CGDML_NAME_MAX = 32,       /* longest bead or observable name, with NUL */
    CGDML_MAX_OBSERVABLES = 8, /* per-frame arrays a dataset can carry */
};

typedef struct {
    char name[CGDML_NAME_MAX];
    double *value; /* [frame] */
} cgdml_observable;

typedef struct {
    size_t n_frames;
    size_t n_beads;
    double *coords;                  /* [frame][bead][xyz], Å */
    double *forces;                  /* [frame][bead][xyz], kcal/mol/Å */
    char (*bead_names)[CGDML_NAME_MAX]; /* [bead], "" when unknown */
    int64_t *step;                   /* [frame], MD step of each frame */
    double *time;                    /* [frame], ps */
    size_t n_bonds;
    int *bonds;                      /* [bond][2], bead indices; NULL if none */
    size_t n_observables;
    cgdml_observable observables[CGDML_MAX_OBSERVABLES];
} cgdml_dataset;

/* Allocate a dataset of n_frames x n_beads with zeroed arrays; bead names "B0",
 * "B1", ...; step = frame index, time = 0.  Checks the size before allocating. */
cgdml_status cgdml_dataset_alloc(size_t n_frames, size_t n_beads, cgdml_dataset **out);

void cgdml_dataset_free(cgdml_dataset *data);

/* Bytes needed by cgdml_dataset_alloc for the given shape (coords, forces, step,
 * time), or SIZE_MAX on overflow. */
size_t cgdml_dataset_bytes(size_t n_frames, size_t n_beads);

/* Add a per-frame observable (copied).  Fails if the name exists or the table
 * is full. */
cgdml_status cgdml_dataset_add_observable(cgdml_dataset *data, const char *name,
                                          const double *value);

/* The observable called `name`, or NULL. */
const double *cgdml_dataset_observable(const cgdml_dataset *data, const char *name);

/* Set the bond list (copied).  Every index must be < n_beads and i != j. */
cgdml_status cgdml_dataset_set_bonds(cgdml_dataset *data, size_t n_bonds,
                                     const int *bonds);

/* Check that the dataset has at least 2 beads, that coordinates and forces are
 * finite and within CGDML_MAX_COORDINATE and CGDML_MAX_FORCE, and that no two
 * beads of a frame coincide (distance below CGDML_MIN_BEAD_DISTANCE).  The
 * message names the first offending frame and bead (or bead pair). */
cgdml_status cgdml_dataset_check(const cgdml_dataset *data);

/* The same checks of values on frames idx[0..n-1] only (idx NULL: frames
 * 0..n-1), for stages handed a dataset they did not read themselves; an index
 * out of range is refused too. */
cgdml_status cgdml_dataset_check_frames(const cgdml_dataset *data, const size_t *idx, size_t n);

/* A new dataset holding frames idx[0..n-1] of `data` (every index < n_frames),
 * with names, bonds and observables carried over. */
cgdml_status cgdml_dataset_subset(const cgdml_dataset *data, const size_t *idx, size_t n,
                                  cgdml_dataset **out);

/* 64-bit FNV-1a hash of the shape, coordinates and forces: identifies the data
 * a model was trained on. */
uint64_t cgdml_dataset_hash(const cgdml_dataset *data);

/* Shortest distance (Å) two beads may have; closer beads make the inverse-distance
 * descriptor blow up, so data with them is refused. */
#define CGDML_MIN_BEAD_DISTANCE 1e-3

/* Largest |coordinate| (Å) accepted: 100 µm, a thousand times any simulation box.
 * A position beyond it is corrupt (uninitialised memory, a blown-up integrator)
 * rather than a molecule; past about 1e154 Å squared distances overflow to inf and
 * the inverse-distance descriptor silently becomes 0, and long before that double
 * precision stops resolving CGDML_MIN_BEAD_DISTANCE (its spacing near 1e6 Å is
 * 1e-10 Å, near 1e13 Å already 2e-3 Å). */
#define CGDML_MAX_COORDINATE 1e6

/* Largest |force component| (kcal/mol/Å) accepted: six orders of magnitude above
 * the mapped forces of MD frames (tens to a few hundred; 149 at most in
 * ala2_cg6), so only corrupt values are refused, while squared errors, label
 * variances and the kernel solve stay far from overflow. */
#define CGDML_MAX_FORCE 1e8

#endif
