/* allreduce.c — the cost of one MPI_Allreduce (sum of doubles) by size, median of many, for the
 * scaling estimate in docs/robustness.md: data-parallel logreg does one per objective and
 * gradient evaluation (the gradient's size, K x D) and one per Hessian-vector product.
 * usage: mpirun -np N build/allreduce [MAX_DOUBLES]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long max = argc > 1 ? atol(argv[1]) : 10000000;
    double *buf = calloc((size_t)max, sizeof *buf), t[51];
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank == 0) printf("%d ranks\n%12s %12s %10s\n", size, "doubles", "median us", "GB/s");
    for (long n = 1000; n <= max; n *= 10) {
        int reps = n >= 10000000 ? 11 : 51;
        for (int r = 0; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            t[r] = MPI_Wtime() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp);
        double med = t[reps / 2];
        if (rank == 0) printf("%12ld %12.1f %10.2f\n", n, med * 1e6, (double)n * 8 / med / 1e9);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
