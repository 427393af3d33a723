/* ranks.h - the processes one cgdml command runs on.  The default build has one
 * (src/cli/ranks/none.c: every function below is a pass-through, --distributed is
 * refused); the MPI build (make MPI=1) links src/cli/ranks/mpi.c instead, where the
 * ranks of `mpirun -np P cgdml ensemble` share layer 1 and, with --distributed,
 * the layer-2 solve, and rank 0 alone writes files and reports (docs/cluster.md).
 *
 * A command that uses ranks calls cli_ranks_start once its options are checked,
 * agrees on every failure before the next collective step, and returns through
 * cli_ranks_stop.
 */
#ifndef CGDML_CLI_RANKS_H
#define CGDML_CLI_RANKS_H

#include "cli.h"

/* Join the ranks (MPI build: MPI is started when the program runs under mpirun or
 * with --distributed; ranks other than 0 go quiet, cli_quiet).  `shares_work`: the
 * command divides its work among ranks (ensemble); the others refuse more than one
 * rank unless --distributed.  Returns an exit code. */
int cli_ranks_start(const cli_options *opt, int shares_work);
/* What `cgdml --version` adds: "" (default build) or " (MPI build)". */
const char *cli_ranks_build(void);
/* This process's rank: 0 without MPI. */
int cli_ranks_rank(void);
/* The first failure of any rank, on every rank (cgdml_dist_agree); s without MPI. */
cgdml_status cli_ranks_agree(cgdml_status s);
/* After agreeing on `s` (the ranks' failures so far): cgdml_ensemble_build, or
 * with MPI cgdml_dist_ensemble_build across the ranks (--distributed: layer 2's
 * solve too).  *out on rank 0 only. */
cgdml_status cli_ranks_ensemble_build(const cli_options *opt, const cgdml_dataset *data,
                                      cgdml_ensemble_options *eo, cgdml_status s,
                                      cgdml_ensemble **out);
/* Rank 0 of `train --distributed`: train with the solve shared by every rank
 * (cgdml_model_train_with and cgdml_dist_solve_fn). */
cgdml_status cli_ranks_train(const cgdml_dataset *data, const size_t *idx, size_t n,
                             const double *labels, double sigma, double lambda,
                             cgdml_train_stats *stats, cgdml_model **out);
/* Ranks other than 0 of `train --distributed`: serve rank 0's solves until
 * cli_ranks_release; returns rank 0's exit code. */
int cli_ranks_serve(void);
/* Rank 0: release the serving ranks with exit code rc; returns rc. */
int cli_ranks_release(int rc);
/* Leave the ranks (MPI_Finalize); returns rc. */
int cli_ranks_stop(int rc);

#endif
