/* mpi.c - the ranks of mpirun for the cgdml program of the MPI build (make MPI=1;
 * see ../ranks.h).  MPI starts only under mpirun (Open MPI's, MPICH's or a PMIx
 * launcher's variables) or with --distributed, so that the MPI build's program run
 * by hand behaves as the default one.  Ranks other than 0 are quiet: every failure
 * is agreed on (cgdml_dist_agree) and reported by rank 0, naming the rank.
 *
 * Fault injection for the tests (tests/mpi/cli/): CGDML_TEST_RANK_DIES=R:K makes
 * rank R kill itself (SIGKILL, as a lost node) once K of its members are done.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "../ranks.h"
#include "cgdml/distributed.h"

static int started, rank, size = 1;
static cgdml_dist_solver solver;

/* The layer-1 progress of this rank, and the fault injection's count. */
static struct {
    cgdml_progress_fn show; /* rank 0's bar; NULL on the others */
    void *show_ctx;
    size_t dies_after; /* members after which this rank dies; 0: never */
} progress;

static int under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int cli_ranks_start(const cli_options *opt, int shares_work)
{
    if (!under_mpirun() && !opt->distributed)
        return CLI_OK;
    int provided; /* OpenMP threads inside a rank never call MPI */
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cgdml_dist_solver_init(&solver, MPI_COMM_WORLD);
    cli_quiet(rank > 0);
    if (size > 1 && !shares_work && !opt->distributed) {
        int rc = rank > 0 ? CLI_USAGE
                          : cli_usage_error("%d MPI ranks: this command runs on one process; "
                                            "give --distributed to share its solve",
                                            size);
        return cli_ranks_stop(rc);
    }
    return CLI_OK;
}

const char *cli_ranks_build(void)
{
    return " (MPI build: mpirun, --distributed)";
}

int cli_ranks_rank(void)
{
    return rank;
}

cgdml_status cli_ranks_agree(cgdml_status s)
{
    return started ? cgdml_dist_agree(MPI_COMM_WORLD, s) : s;
}

static void rank_progress(void *ctx, size_t done, size_t total)
{
    (void)ctx;
    if (progress.show)
        progress.show(progress.show_ctx, done, total);
    if (progress.dies_after && done >= progress.dies_after)
        raise(SIGKILL);
}

/* Rank 0 shows its own members' progress; CGDML_TEST_RANK_DIES arms the fault. */
static void set_progress(cgdml_layer1_options *l1)
{
    progress.show = rank == 0 ? l1->progress : NULL;
    progress.show_ctx = l1->progress_ctx;
    const char *dies = getenv("CGDML_TEST_RANK_DIES");
    int who;
    size_t after;
    if (dies && sscanf(dies, "%d:%zu", &who, &after) == 2 && who == rank)
        progress.dies_after = after;
    l1->progress = rank_progress;
}

cgdml_status cli_ranks_ensemble_build(const cli_options *opt, const cgdml_dataset *data,
                                      cgdml_ensemble_options *eo, cgdml_status s,
                                      cgdml_ensemble **out)
{
    *out = NULL;
    s = cli_ranks_agree(s);
    if (s || !started)
        return s ? s : cgdml_ensemble_build(data, eo, out);
    if (rank > 0) {
        eo->note = NULL;
        eo->crossval_done = NULL;
    }
    set_progress(&eo->layer1);
    return cgdml_dist_ensemble_build(MPI_COMM_WORLD, data, eo, opt->distributed, NULL, out);
}

cgdml_status cli_ranks_train(const cgdml_dataset *data, const size_t *idx, size_t n,
                             const double *labels, double sigma, double lambda,
                             cgdml_train_stats *stats, cgdml_model **out)
{
    return cgdml_model_train_with(data, idx, n, labels, sigma, lambda, cgdml_dist_solve_fn, &solver,
                                  stats, out);
}

int cli_ranks_serve(void)
{
    return cgdml_dist_serve(&solver) ? CLI_FAILED : CLI_OK;
}

int cli_ranks_release(int rc)
{
    if (started && rank == 0)
        cgdml_dist_serve_end(&solver,
                             rc ? cgdml_error_set(CGDML_ERR_INVALID, "rank 0 failed") : CGDML_OK);
    return rc;
}

int cli_ranks_stop(int rc)
{
    if (started)
        MPI_Finalize();
    started = 0;
    return rc;
}
