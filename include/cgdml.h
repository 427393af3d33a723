/* cgdml.h - the whole public API of libcgdml: coarse-grained force fields learned
 * by gradient-domain kernel ridge regression (GDML).  One header per stage of the
 * pipeline, included here in pipeline order, after the shared utilities.
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
