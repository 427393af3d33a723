/* driver.h - what the MPI test drivers share (the .c files of tests/mpi/, run under mpirun by
 * make test-mpi MPI=1).  Criterion forks a process per test, which MPI does not
 * survive, so a driver is a plain program: every check is made on every rank,
 * failures are printed with the rank, and rank 0 prints the counts summed over
 * ranks.  Included by one driver per program; everything is static to it.
 */
#ifndef CGDML_TESTS_MPI_DRIVER_H
#define CGDML_TESTS_MPI_DRIVER_H

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>

static int rank, size, passed, failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL [rank %d/%d] ", rank, size);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* 1 if every rank says 1. */
__attribute__((unused)) static int all_ranks(int mine)
{
    int all;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

static void driver_start(int *argc, char ***argv, const char *name)
{
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0)
        printf("%s on %d rank(s)\n", name, size);
}

/* The counts over all ranks; the exit status: 0 only if no check failed anywhere. */
static int driver_finish(const char *name)
{
    int counts[2] = {passed, failed};
    MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s on %d rank(s): %d checks passed, %d failed\n", name, size, counts[0], counts[1]);
    MPI_Finalize();
    return counts[1] || counts[0] == 0 ? 1 : 0;
}

#endif
