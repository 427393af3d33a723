/* cgdml/npy.h - NumPy import: .npy arrays and sGDML .npz datasets.
 *
 * The entry point for data prepared in Python: a pair of .npy files (coordinates
 * and forces), an sGDML dataset (.npz with R, F and z), or a 1-D integer .npy of
 * frame indices.  Arrays are read into double precision, row-major:
 * coords[frame][bead][xyz] in Å and forces[frame][bead][xyz] in kcal/mol/Å (the
 * files carry no units; sGDML's r_unit and e_unit members are checked when
 * present).
 *
 * What is accepted (docs/FORMATS.md): NPY format 1.0, 2.0 and 3.0, C order,
 * little-endian; coordinates and forces as '<f4' or '<f8' shaped (frames, beads, 3)
 * with at least one frame and one bead; indices and atomic numbers as little-endian
 * integers ('<i4', '<i8', '<u4', '<u8', and the 1- and 2-byte widths), never
 * negative.  .npz members may be stored (np.savez) or deflated
 * (np.savez_compressed), with or without zip64 records; their CRC-32 is verified.
 *
 * Anything else is refused with CGDML_ERR_FORMAT (CGDML_ERR_IO when a file cannot
 * be read) and a message naming the file, what was found and what was expected.
 * Every check on the header, the shapes and the file size is done before the data
 * is allocated, and the allocation is checked with cgdml_memory_check().  NaN and
 * Inf values are read as they are; cgdml_dataset_check() reports them.
 */
#ifndef CGDML_NPY_H
#define CGDML_NPY_H

#include <stddef.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"

/* Longest .npy header read, in bytes: NumPy's own limit (max_header_size in
 * numpy.lib.format), so any header NumPy itself would load is accepted. */
#define CGDML_NPY_HEADER_MAX 10000

/* Most dimensions a .npy array may have (NumPy's NPY_MAXDIMS before 2.0). */
#define CGDML_NPY_MAX_DIMS 32

/* Read a (frames, beads, 3) array of '<f4' or '<f8' into a new buffer
 * out[frame][bead][xyz] (n_frames * n_beads * 3 doubles; free() it). */
cgdml_status cgdml_npy_read_frames(const char *path, double **out, size_t *n_frames,
                                   size_t *n_beads);

/* Read a 1-D array of non-negative integers (e.g. frame indices) into a new
 * buffer of n values (free() it).  An empty array is refused. */
cgdml_status cgdml_npy_read_indices(const char *path, size_t **out, size_t *n);

/* Write data (the product of shape[0..ndim-1] doubles, row-major) as '<f8', C
 * order, NPY format 1.0, byte for byte as np.save writes it.  The file appears
 * only when complete (cgdml_atomic_*).  ndim may be 0 (a scalar) up to
 * CGDML_NPY_MAX_DIMS. */
cgdml_status cgdml_npy_write(const char *path, const double *data, size_t ndim,
                             const size_t *shape);

/* Read a coordinates file and a forces file, each (frames, beads, 3) '<f4' or
 * '<f8', with the same shape, into a new dataset (bead names "B0", "B1", ...). */
cgdml_status cgdml_npy_import(const char *coords_path, const char *forces_path,
                              cgdml_dataset **out);

#endif
