/* cgdml/npz.h - sGDML datasets (.npz archives of .npy members, read as npy.h
 * describes; stored or deflated members, zip64, CRC-32 verified).
 */
#ifndef CGDML_NPZ_H
#define CGDML_NPZ_H

#include "cgdml/dataset.h"
#include "cgdml/error.h"

/* Read an sGDML dataset: members R.npy (frames, beads, 3) coordinates, F.npy (same
 * shape) forces and z.npy (beads,) atomic numbers, which name the beads by element
 * ("C", "H", ...; "Z<n>" for numbers without a symbol).  If the optional members
 * r_unit / e_unit are present they must be "Ang" / "kcal/mol".  Other members (E,
 * name, theory, ...) are ignored.  On success *out is a new dataset
 * (cgdml_dataset_free() it); on failure *out is NULL. */
cgdml_status cgdml_npz_read_sgdml(const char *path, cgdml_dataset **out);

#endif
