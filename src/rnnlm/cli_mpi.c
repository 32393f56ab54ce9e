/*
 * cli_mpi.c -- cli_mpi.h over MPI (built when mpicc is found; make MPI=0 builds cli_mpi_none.c).
 *
 * MPI is initialised only when mpirun started the process (its environment variables say so), so a
 * plain `rnnlm train` pays no singleton start-up (about 0.5 s with Open MPI) and prints no MPI
 * warning. The gradient is summed by one MPI_Allreduce over the whole block. Open MPI's default
 * choice for a block of tens of megabytes between few ranks is several times slower than its ring
 * algorithm (docs/SCALING.md has the figures), so the ring is asked for through Open MPI's
 * variables unless the user set coll_tuned's own: every rank gets the same sums in any case.
 */
#include "cli.h"
#include "cli_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_on, g_rank, g_size = 1;
static int g_known; /* a failure all ranks know of (mpi_agree): finalise, do not abort */

int mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

int mpi_start(int *argc, char ***argv)
{
    if (g_on || !mpi_launched()) return CLI_OK;
    if (!getenv("OMPI_MCA_coll_tuned_use_dynamic_rules") && !getenv("OMPI_MCA_coll_tuned_allreduce_algorithm")) {
        setenv("OMPI_MCA_coll_tuned_use_dynamic_rules", "1", 0);
        setenv("OMPI_MCA_coll_tuned_allreduce_algorithm", "4", 0); /* ring */
    }
    RETURN_ERROR_IF(MPI_Init(argc, argv) != MPI_SUCCESS, CLI_RUNTIME, "MPI_Init failed");
    /* errors end the job (MPI's default for MPI_COMM_WORLD): no rank waits on a dead one */
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_on = 1;
    cli_set_error_rank(g_rank);
    if (g_rank != 0) {
        fflush(stdout);
        if (!freopen("/dev/null", "w", stdout)) return CLI_OK; /* (then it prints as rank 0 does) */
    }
    return CLI_OK;
}

int mpi_finish(int rc)
{
    if (!g_on) return rc;
    fflush(stdout), fflush(stderr);
    if (rc != CLI_OK && !g_known) MPI_Abort(MPI_COMM_WORLD, rc); /* others may wait on this rank */
    MPI_Finalize();
    g_on = 0;
    return rc;
}

int mpi_active(void) { return g_on; }
int mpi_rank(void) { return g_rank; }
int mpi_size(void) { return g_size; }

int mpi_agree(int rc)
{
    if (!g_on) return rc;
    int worst = rc;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst == CLI_OK) return CLI_OK;
    g_known = 1;
    if (rc == CLI_OK && g_rank == 0) cli_error(worst, "another rank failed (its message is above); stopping");
    return worst;
}

void mpi_sum(double *v, int n)
{
    if (g_on) MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int mpi_same(uint64_t v)
{
    if (!g_on) return 1;
    uint64_t lo = v, hi = v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

void mpi_allreduce_floats(float *g, size_t n)
{
    if (!g_on || g_size == 1) return;
    for (size_t at = 0; at < n;) { /* (counts are ints) */
        int k = n - at > (size_t)INT_MAX ? INT_MAX : (int)(n - at);
        MPI_Allreduce(MPI_IN_PLACE, g + at, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        at += (size_t)k;
    }
}

void mpi_or_words(uint32_t *w, size_t n)
{
    if (g_on && g_size > 1) MPI_Allreduce(MPI_IN_PLACE, w, (int)n, MPI_UINT32_T, MPI_BOR, MPI_COMM_WORLD);
}

void mpi_gather_doubles(const double *mine, double *all, int n)
{
    if (!g_on) {
        memcpy(all, mine, sizeof(double) * (size_t)n);
        return;
    }
    MPI_Gather(mine, n, MPI_DOUBLE, g_rank == 0 ? all : NULL, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

void mpi_bcast_floats(float *v, size_t n, int root)
{
    if (!g_on || g_size == 1) return;
    for (size_t at = 0; at < n;) {
        int k = n - at > (size_t)INT_MAX ? INT_MAX : (int)(n - at);
        MPI_Bcast(v + at, k, MPI_FLOAT, root, MPI_COMM_WORLD);
        at += (size_t)k;
    }
}

void mpi_gather_rows(const float *mine, float *all, int blocks, int rows, int width)
{
    size_t per = (size_t)rows * (size_t)width;
    if (!g_on || g_size == 1) {
        memcpy(all, mine, sizeof(float) * per * (size_t)blocks);
        return;
    }
    for (int b = 0; b < blocks; b++) /* block b of every rank, in rank order */
        MPI_Gather(mine + b * per, (int)per, MPI_FLOAT, all ? all + b * per * (size_t)g_size : NULL, (int)per,
                   MPI_FLOAT, 0, MPI_COMM_WORLD);
}

double mpi_time(void) { return g_on ? MPI_Wtime() : cli_now(); }
