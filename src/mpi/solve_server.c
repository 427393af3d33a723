/* solve_server.c - one rank's solves served by all (see cgdml/distributed.h): rank
 * 0 computes alone and hands each training system to the other ranks, which wait
 * in cgdml_dist_serve and join the ScaLAPACK solve.  Compiled only by make MPI=1.
 *
 * Every message starts with a header broadcast from rank 0 (a solve, or the end
 * with rank 0's status).  The header goes by MPI_Ibcast on every rank - a
 * non-blocking collective matches only non-blocking ones - so that waiting ranks
 * can sleep between tests instead of spinning on a core rank 0 needs.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgdml/descriptor.h"
#include "cgdml/distributed.h"
#include "distributed_private.h"

/* How long a waiting rank sleeps between tests of its request: short against any
 * step worth distributing (a member, a layer-2 solve take seconds). */
#define IDLE_POLL_NS 5000000L /* 5 ms */

enum { HEADER_END = 0, HEADER_SOLVE = 1 };

/* What rank 0 broadcasts first: kind, then a solve's sizes and hyperparameters or
 * the end's status. */
typedef struct {
    double kind, n_frames, n_beads, sigma, lambda, status;
} header;

void cgdml_dist_idle_wait(MPI_Request *request)
{
    int done = 0;
    struct timespec pause = {0, IDLE_POLL_NS};
    MPI_Test(request, &done, MPI_STATUS_IGNORE);
    while (!done) {
        nanosleep(&pause, NULL);
        MPI_Test(request, &done, MPI_STATUS_IGNORE);
    }
}

static void broadcast_header(MPI_Comm comm, header *h)
{
    MPI_Request request;
    MPI_Ibcast(h, (int)(sizeof *h / sizeof(double)), MPI_DOUBLE, 0, comm, &request);
    cgdml_dist_idle_wait(&request);
}

void cgdml_dist_solver_init(cgdml_dist_solver *solver, MPI_Comm comm)
{
    memset(solver, 0, sizeof *solver);
    solver->comm = comm;
    cgdml_dist_options_init(&solver->options);
}

/* The system's arrays on every rank (rank 0's own, the others' received), then the
 * solve by all; rhs (rank 0: F in, α out) may be NULL on the other ranks. */
static cgdml_status solve_together(cgdml_dist_solver *solver, size_t n_frames, size_t n_beads,
                                   const double *D, const double *g, double sigma, double lambda,
                                   double *rhs)
{
    int rank;
    MPI_Comm_rank(solver->comm, &rank);
    size_t d = cgdml_descriptor_size(n_beads), n = 3 * n_beads * n_frames;
    size_t counts[3] = {n_frames * d, n_frames * d * 3, n};
    double *mine[3] = {(double *)D, (double *)g, rhs}, *buf[3] = {NULL, NULL, NULL};
    cgdml_status s = CGDML_OK;
    if (counts[1] > INT_MAX)
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "%zu frames of %zu beads: too many to broadcast in one message",
                            n_frames, n_beads);
    for (int a = 0; !s && a < 3; a++) {
        buf[a] = rank == 0 ? mine[a] : malloc(counts[a] * sizeof(double));
        if (!buf[a])
            s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu doubles of the system",
                                counts[a]);
    }
    s = cgdml_dist_agree(solver->comm, s);
    for (int a = 0; !s && a < 3; a++)
        MPI_Bcast(buf[a], (int)counts[a], MPI_DOUBLE, 0, solver->comm);
    double *alpha = !s ? malloc(n * sizeof(double)) : NULL;
    if (!s)
        s = cgdml_dist_agree(
            solver->comm,
            alpha ? CGDML_OK
                  : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the coefficients"));
    if (!s)
        s = cgdml_dist_solve_kernel(solver->comm, n_frames, n_beads, buf[0], buf[1], sigma, lambda,
                                    buf[2], alpha, &solver->options, &solver->stats);
    if (!s && rank == 0)
        memcpy(rhs, alpha, n * sizeof(double));
    free(alpha);
    for (int a = 0; rank != 0 && a < 3; a++)
        free(buf[a]);
    return s;
}

cgdml_status cgdml_dist_solve_fn(void *ctx, size_t n_frames, size_t n_beads, const double *D,
                                 const double *g, double sigma, double lambda, double *rhs)
{
    cgdml_dist_solver *solver = ctx;
    header h = {HEADER_SOLVE, (double)n_frames, (double)n_beads, sigma, lambda, 0};
    broadcast_header(solver->comm, &h);
    return solve_together(solver, n_frames, n_beads, D, g, sigma, lambda, rhs);
}

cgdml_status cgdml_dist_serve(cgdml_dist_solver *solver)
{
    for (;;) {
        header h;
        broadcast_header(solver->comm, &h);
        if (h.kind == HEADER_SOLVE) {
            /* a failed solve is rank 0's to handle: it fails on every rank alike */
            solve_together(solver, (size_t)h.n_frames, (size_t)h.n_beads, NULL, NULL, h.sigma,
                           h.lambda, NULL);
            continue;
        }
        char message[1024];
        MPI_Bcast(message, (int)sizeof message, MPI_CHAR, 0, solver->comm);
        cgdml_status s = (cgdml_status)h.status;
        return s ? cgdml_error_set(s, "%s", message) : CGDML_OK;
    }
}

cgdml_status cgdml_dist_serve_end(cgdml_dist_solver *solver, cgdml_status s)
{
    header h = {HEADER_END, 0, 0, 0, 0, (double)s};
    broadcast_header(solver->comm, &h);
    char message[1024] = "";
    if (s)
        snprintf(message, sizeof message, "%s", cgdml_error_message());
    MPI_Bcast(message, (int)sizeof message, MPI_CHAR, 0, solver->comm);
    return s;
}
