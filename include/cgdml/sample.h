/* cgdml/sample.h - choosing which frames of a dataset to train or test on.
 *
 * Selections are arrays of frame indices (0-based, size_t).  They come from an
 * index file (text or .npy, see docs/FORMATS.md) or from a seeded random draw that
 * reproduces exactly for the same seed and sizes.  Stratified sampling over
 * collective variables extends this module (the ensemble stage).  Arrays handed
 * back through `size_t **out` are new and the caller's: free() them.
 */
#ifndef CGDML_SAMPLE_H
#define CGDML_SAMPLE_H

#include <stddef.h>

#include "cgdml/error.h"

/* m distinct frames out of n_frames, uniformly at random from `seed` (GSL
 * Mersenne Twister), in increasing order. */
cgdml_status cgdml_sample_random(size_t n_frames, size_t m, unsigned long seed, size_t **out);

/* Read an index file: a 1-D integer .npy (by the .npy ending) or whitespace-separated
 * non-negative integers in text.  Every index must be < n_frames. */
cgdml_status cgdml_sample_read_indices(const char *path, size_t n_frames, size_t **out,
                                       size_t *n);

/* The frames of 0..n_frames-1 that are not in idx[0..n-1], in increasing order. */
cgdml_status cgdml_sample_complement(size_t n_frames, const size_t *idx, size_t n,
                                     size_t **out, size_t *n_out);

/* Write indices as text, one per line (atomically). */
cgdml_status cgdml_sample_write_indices(const char *path, const size_t *idx, size_t n);

#endif
