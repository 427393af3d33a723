/* h5util.h - small HDF5 helpers shared by the model, landscape and simulation
 * checkpoint files (private to the library; the H5MD module has its own, richer
 * layer).  Writers return CGDML_OK or CGDML_ERR_IO, readers CGDML_OK or
 * CGDML_ERR_FORMAT, with a message naming the object.
 */
#ifndef CGDML_H5UTIL_H
#define CGDML_H5UTIL_H

#include <hdf5.h>

#include "cgdml/error.h"

/* A scalar attribute `name` of HDF5 type `type` on loc. */
cgdml_status cgdml_h5_write_attr(hid_t loc, const char *name, hid_t type, const void *value);
/* A fixed-length string attribute. */
cgdml_status cgdml_h5_write_attr_string(hid_t loc, const char *name, const char *value);
/* A contiguous dataset of rank 1 or 2. */
cgdml_status cgdml_h5_write_array(hid_t loc, const char *name, hid_t type, int rank,
                                  const hsize_t *dims, const void *data);

/* Read scalar attribute `name` as `type`; missing or unreadable is an error. */
cgdml_status cgdml_h5_read_attr(hid_t loc, const char *name, hid_t type, void *value);
/* Read a fixed-length string attribute into buf[size] (always terminated). */
cgdml_status cgdml_h5_read_attr_string(hid_t loc, const char *name, char *buf, size_t size);
/* Read dataset `name`, which must have rank `rank` (1 or 2) and shape dims, as
 * `type` into data. */
cgdml_status cgdml_h5_read_array(hid_t loc, const char *name, hid_t type, int rank,
                                 const hsize_t *dims, void *data);

/* Open the checkpoint file at `path` read-only into *file (close with H5Fclose);
 * CGDML_ERR_FORMAT "<what> <path> is not an HDF5 file; remove it to start afresh"
 * if it is not one. */
cgdml_status cgdml_h5_open_checkpoint(const char *path, const char *what, hid_t *file);

/* Write a new HDF5 file atomically: create a temporary file beside `path`, let
 * write(file, ctx) fill it, and rename it onto `path` only if everything succeeded
 * (else remove it).  `what` names the file in messages ("model", "landscape"). */
typedef cgdml_status (*cgdml_h5_writer)(hid_t file, const void *ctx);
cgdml_status cgdml_h5_save(const char *path, const char *what, cgdml_h5_writer write,
                           const void *ctx);

#endif
