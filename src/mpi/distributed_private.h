/* distributed_private.h - what the files of src/mpi/ share and the public header
 * (cgdml/distributed.h) does not offer.  Compiled only by make MPI=1.
 */
#ifndef CGDML_DISTRIBUTED_PRIVATE_H
#define CGDML_DISTRIBUTED_PRIVATE_H

#include <mpi.h>

/* Wait for a request without spinning: test it, sleeping between tests, so that a
 * rank waiting for others leaves its core to the ranks (and threads) that work. */
void cgdml_dist_idle_wait(MPI_Request *request);

#endif
