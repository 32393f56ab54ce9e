/*
 * bench/allreduce.c -- the time of one MPI_Allreduce (MPI_FLOAT, MPI_SUM, in place) of a gradient
 * block, as `mpirun -np K rnnlm train` does once per step (bench/README.md, docs/SCALING.md).
 *
 *   mpirun -np K build/bench/allreduce [REPS [COUNT...]]
 *
 * For each COUNT (floats; default 13987678, the WikiText-2 default model's untied gradient block,
 * and 7472078, what the sparse exchange sends when a step touches 700 embedding rows): 3 warm-up
 * calls, then REPS (default 15) timed ones, each between barriers; a call's time is the slowest
 * rank's. Prints one JSON line per COUNT (rank 0): the median and best time, the algorithm
 * bandwidth (bytes / time) and the bus bandwidth (2 (K-1)/K bytes / time: what each rank sent over
 * its link in a ring). Open MPI's algorithm is chosen by the caller's --mca flags.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    if (reps < 1) reps = 1;
    long defaults[] = {13987678L, 7472078L};
    int ncounts = argc > 2 ? argc - 2 : 2;
    double *t = malloc(sizeof *t * (size_t)reps);
    for (int c = 0; c < ncounts && t; c++) {
        long n = argc > 2 ? atol(argv[2 + c]) : defaults[c];
        float *g = n > 0 && n < 0x7fffffffL ? malloc(sizeof *g * (size_t)n) : NULL;
        if (!g) {
            if (rank == 0) fprintf(stderr, "allreduce: bad count or out of memory: %ld\n", n);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (long i = 0; i < n; i++) g[i] = (float)((i + rank) % 7) * 1e-3f;
        for (int r = -3; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double dt = MPI_Wtime() - t0, worst = dt;
            MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (r >= 0) t[r] = worst;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
        double bytes = 4.0 * (double)n, bus = 2.0 * (size - 1) / size * bytes;
        if (rank == 0)
            printf("{\"kind\": \"allreduce\", \"ranks\": %d, \"floats\": %ld, \"reps\": %d, \"median_ms\": %.3f, "
                   "\"best_ms\": %.3f, \"algbw_GBps\": %.3f, \"busbw_GBps\": %.3f}\n",
                   size, n, reps, med * 1e3, t[0] * 1e3, bytes / med / 1e9, bus / med / 1e9);
        fflush(stdout);
        free(g);
    }
    free(t);
    MPI_Finalize();
    return 0;
}
