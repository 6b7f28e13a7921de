/* mpi.c — `mpirun -np N duet train …`: data-parallel training over MPI (Open MPI from Debian).
 * Built with MPI when its development files are there (the Makefile defines DUET_HAVE_MPI);
 * without them these functions say that the program runs alone. Under mpirun every rank reads
 * the same data, the library fits the features on all of it and the model on each rank's share
 * of the rows, adding sums across ranks with MPI_Allreduce; rank 0 writes the model and
 * speaks, the other ranks stay quiet.
 */
#include <stdlib.h>

#include "cli.h"

#ifdef DUET_HAVE_MPI
#include <mpi.h>

static int started, rank, size = 1;

static int allreduce(void *user, double *buf, size_t n) {
    (void)user;
    while (n > 0) { /* MPI counts are ints */
        int k = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
        if (MPI_Allreduce(MPI_IN_PLACE, buf, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
        buf += k, n -= (size_t)k;
    }
    return 0;
}

int mpi_start(int *argc, char ***argv) {
    /* only when mpirun (or another launcher) started this process: a plain run stays alone */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK")) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return 0;
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size > 1;
}

void mpi_setup(duet_ctx *ctx) {
    if (started && size > 1) duet_ctx_set_distributed(ctx, rank, size, allreduce, NULL);
}

int mpi_built(void) { return 1; }
int mpi_rank(void) { return rank; }
int mpi_size(void) { return size; }

void mpi_stop(void) {
    if (started) MPI_Finalize();
    started = 0;
}

#else

int mpi_start(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}
void mpi_setup(duet_ctx *ctx) { (void)ctx; }
int mpi_built(void) { return 0; }
int mpi_rank(void) { return 0; }
int mpi_size(void) { return 1; }
void mpi_stop(void) {}

#endif
