/* cgdml.h - the whole public API of libcgdml: coarse-grained force fields learned
 * by gradient-domain kernel ridge regression (GDML).  One header per stage of the
 * pipeline, included here in pipeline order, after the shared utilities.
 *
 * Conventions of every header:
 *  - A call returns a cgdml_status (CGDML_OK = 0); on failure the message is in
 *    cgdml_error_message() (per thread) and outputs are NULL or untouched.
 *  - Ownership: what a call makes and hands back through a `**out` argument is the
 *    caller's: an object is released with its type's _free (cgdml_dataset_free,
 *    cgdml_model_free, cgdml_ensemble_free, ...), which also frees everything the
 *    object holds; a plain array (size_t **, double **) with free().  Arguments
 *    passed in (datasets, models, options and the arrays they point to) are only
 *    read during the call and stay the caller's.
 *  - Options structs have an _init that sets the documented defaults; a zeroed
 *    struct is not the default.
 *  - Only the functions declared in these headers are exported by libcgdml.so.
 */
#ifndef CGDML_H
#define CGDML_H

#include "cgdml/error.h"
#include "cgdml/atomic.h"
#include "cgdml/clock.h"
#include "cgdml/memory.h"

#include "cgdml/dataset.h"
#include "cgdml/h5md.h"
#include "cgdml/npy.h"
#include "cgdml/npz.h"
#include "cgdml/synthetic.h"
#include "cgdml/geometry.h"
#include "cgdml/sample.h"
#include "cgdml/collective.h"
#include "cgdml/strata.h"
#include "cgdml/prior.h"
#include "cgdml/descriptor.h"
#include "cgdml/kernel.h"
#include "cgdml/solve.h"
#include "cgdml/model.h"
#include "cgdml/ensemble.h"
#include "cgdml/crossval.h"
#include "cgdml/simulate.h"
#include "cgdml/fes.h"
#include "cgdml/study.h"
#include "cgdml/pipeline.h"

#endif
