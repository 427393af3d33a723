/* ensemble_ranks.c - the two-layer ensemble across MPI ranks (mpirun cgdml
 * ensemble; see cgdml_dist_ensemble_build in cgdml/distributed.h).  Compiled only
 * by make MPI=1.
 *
 * Layer 1 reuses the job arrays' shards (ensemble.c): rank r is shard r of P, and
 * the members folder with its manifest is where the ranks meet, so a killed run
 * resumes, and is collected, exactly as a job array is.  Then rank 0 alone runs the
 * one-process collecting build (the models are the one-process models bit for
 * bit), the other ranks serving its layer-2 solve or just waiting for its status.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cgdml/atomic.h"
#include "cgdml/distributed.h"
#include "distributed_private.h"

static cgdml_status check_ranks(const cgdml_ensemble_options *o, int size)
{
    const cgdml_layer1_options *l1 = &o->layer1;
    if (size == 1)
        return CGDML_OK;
    if (l1->n_shards)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "ensemble: shard %zu/%zu on %d MPI ranks: the ranks are the "
                               "shards already (rank r trains members k with k mod %d == r); "
                               "give --shard to single processes, or run under mpirun",
                               l1->shard, l1->n_shards, size, size);
    if (o->n_sigma1_grid)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "ensemble on %d MPI ranks needs a fixed sigma1 (the ranks share "
                               "layer 1 as shards; its cross-validation trains other members): "
                               "choose sigma1 with a one-process run first, then give it",
                               size);
    if (!l1->checkpoint)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "ensemble on %d MPI ranks: the ranks meet in the members folder; "
                               "give one (layer1.checkpoint)",
                               size);
    return CGDML_OK;
}

/* Rank 0, before any member: a run without resume starts from an empty folder, as
 * a one-process run does, but never empties shards' members (they may be a killed
 * run's: resume continues it). */
static cgdml_status prepare_folder(const cgdml_ensemble_options *o)
{
    const char *dir = o->layer1.checkpoint;
    if (o->resume)
        return CGDML_OK;
    if (cgdml_ensemble_checkpoint_has_shards(dir))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%s holds members trained by shards or MPI ranks (%s): continue "
                               "with resume (--resume), or remove the folder to start again",
                               dir, CGDML_SHARD_MANIFEST);
    return cgdml_atomic_remove_tree(dir);
}

/* This rank's shard of layer 1 into the folder. */
static cgdml_status train_shard(const cgdml_dataset *data, const cgdml_ensemble_options *opt,
                                int rank, int size)
{
    cgdml_ensemble_options so = *opt;
    so.layer1.shard = (size_t)rank;
    so.layer1.n_shards = (size_t)size;
    so.resume = 1;
    cgdml_ensemble *e = NULL;
    cgdml_status s = cgdml_ensemble_build(data, &so, &e);
    cgdml_ensemble_free(e);
    return s;
}

/* Every rank, after its own step: wait (without spinning) for the others, then
 * agree on the first failure. */
static cgdml_status agree_when_all_done(MPI_Comm comm, cgdml_status s)
{
    MPI_Request request;
    MPI_Ibarrier(comm, &request);
    cgdml_dist_idle_wait(&request);
    return cgdml_dist_agree(comm, s);
}

cgdml_status cgdml_dist_ensemble_build(MPI_Comm comm, const cgdml_dataset *data,
                                       const cgdml_ensemble_options *opt, int distributed_layer2,
                                       const cgdml_dist_options *dist, cgdml_ensemble **out)
{
    *out = NULL;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    cgdml_status s = cgdml_dist_agree(comm, check_ranks(opt, size));
    if (!s && size > 1)
        s = cgdml_dist_agree(comm, rank == 0 ? prepare_folder(opt) : CGDML_OK);
    if (!s && size > 1)
        s = agree_when_all_done(comm, train_shard(data, opt, rank, size));
    if (s)
        return s;
    cgdml_dist_solver solver;
    cgdml_dist_solver_init(&solver, comm);
    if (dist)
        solver.options = *dist;
    if (rank != 0)
        return cgdml_dist_serve(&solver);
    cgdml_ensemble_options co = *opt; /* collect the shards (P > 1), then layer 2 */
    co.resume = size > 1 ? 1 : opt->resume;
    if (distributed_layer2) {
        co.layer2_solve = cgdml_dist_solve_fn;
        co.layer2_ctx = &solver;
    }
    return cgdml_dist_serve_end(&solver, cgdml_ensemble_build(data, &co, out));
}
