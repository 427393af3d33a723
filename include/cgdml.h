/* cgdml.h - the whole public API of libcgdml: coarse-grained force fields learned
 * by gradient-domain kernel ridge regression (GDML).  One header per stage of the
 * pipeline, included here in pipeline order.
 */
#ifndef CGDML_H
#define CGDML_H

#include "cgdml/error.h"
#include "cgdml/util.h"
#include "cgdml/dataset.h"

#endif
