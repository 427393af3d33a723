/* cgdml/h5md.h - read and write CG datasets as H5MD 1.1 files.
 *
 * H5MD (de Buyl, Colberg, Höfling 2014) is the on-disk form of a cgdml_dataset:
 * the map stage writes it, every later stage reads it, and other tools
 * (MDAnalysis's H5MDReader, h5py) open the same files.  docs/FORMATS.md gives
 * the layout; in short, for particle group <g> (default "cg"):
 *
 *   /particles/<g>/position/{value,step,time}   value (frames, beads, 3), Å
 *   /particles/<g>/force/{value,step,time}      value (frames, beads, 3), kcal/mol/Å
 *   /observables/<name>/{value,step,time}       value (frames,), rad
 *   /connectivity/cg_bonds                      int32 (bonds, 2), 0-based bead indices
 *   /parameters/cgdml/bead_names                strings (beads,)
 *
 * Reading is lenient about metadata and strict about numbers:
 *  - value arrays may be float32 or float64 (converted to double); integer or
 *    other types are refused;
 *  - unit attributes, where present, must be "Angstrom" (also spelled
 *    "angstrom" or "A", as MDAnalysis accepts) for positions,
 *    "kcal mol-1 Angstrom-1" (or "kcal mol-1 A-1") for forces, "ps" for time and
 *    "rad" for observables; any other unit is refused with the unit found.  A
 *    missing unit attribute is taken to mean the unit above;
 *  - step and time are optional (defaults: step = frame index, time = 0); where
 *    present they must be 1-D with one entry per frame (the fixed-interval
 *    scalar form of H5MD is refused), and force/step must equal position/step;
 *  - /h5md metadata and the box are not required;
 *  - an observable whose value is not a 1-D float array with one entry per frame
 *    (e.g. per-particle data, another sampling interval, an integer counter) is
 *    skipped: H5MD files may carry observables a cgdml dataset cannot hold.
 *    One that fits but has a wrong unit or step/time length is refused, as is a
 *    name of CGDML_NAME_MAX characters or more or more than
 *    CGDML_MAX_OBSERVABLES of them;
 *  - /connectivity/cg_bonds is read only if its particles_group attribute is
 *    absent or names the group being read;
 *  - bead names may be fixed- or variable-length strings, one per bead.
 *
 * Writing produces the full layout of docs/FORMATS.md (float64 values chunked
 * along frames with the shuffle and deflate filters), atomically: on failure no
 * file is left behind and an existing file at the path is untouched.  The file
 * is built in memory and written out by cgdml (HDF5 1.10 crashes at exit after
 * a failed close on a full disk), so a write needs about twice the file's size
 * in memory besides the dataset; that is checked against the memory budget.
 *
 * Every function silences HDF5's own error printing while it runs (restoring the
 * caller's setting afterwards) and turns HDF5 failures into a cgdml message
 * naming the file and the object.  The HDF5 library is the serial build: do not
 * call these functions from several threads at once.
 */
#ifndef CGDML_H5MD_H
#define CGDML_H5MD_H

#include <stddef.h>

#include "cgdml/dataset.h"
#include "cgdml/error.h"

/* The particle group written when none is named, and preferred when reading. */
#define CGDML_H5MD_DEFAULT_GROUP "cg"

/* Read the dataset in particle group `group` of the H5MD file at `path`.
 * group NULL: "cg" if present, else the only group under /particles, else an
 * error listing the groups found.  Shapes, types and units are checked and the
 * memory needed is checked against the budget before anything large is
 * allocated.  On success *out is a new dataset (free with cgdml_dataset_free);
 * on failure *out is NULL.
 * Errors: CGDML_ERR_IO (cannot open), CGDML_ERR_FORMAT (not HDF5, damaged,
 * layout, type, shape or unit wrong), CGDML_ERR_NOMEM (over budget),
 * CGDML_ERR_INVALID (bad group name). */
cgdml_status cgdml_h5md_read(const char *path, const char *group, cgdml_dataset **out);

/* Shape of the dataset cgdml_h5md_read would return, without reading the arrays:
 * frames and beads.  The same checks are made, except the memory budget. */
cgdml_status cgdml_h5md_read_frames_count(const char *path, const char *group, size_t *n_frames,
                                          size_t *n_beads);

/* Write `data` to `path` as H5MD 1.1 in particle group `group` (NULL: "cg").
 * Observable values get unit "rad".  Bonds are written only if there are any.
 * Errors: CGDML_ERR_INVALID (no path, empty dataset, bad group or observable
 * name), CGDML_ERR_NOMEM (over budget), CGDML_ERR_IO (cannot create, write or
 * rename the file). */
cgdml_status cgdml_h5md_write(const char *path, const cgdml_dataset *data, const char *group);

#endif
