/*
 * cli_mpi_none.c -- cli_mpi.h without MPI (make MPI=0, or no mpicc; and the test programs): one
 * process. Started by mpirun with more than one process, such a build refuses to train rather
 * than run K copies of the same job.
 */
#include "cli.h"
#include "cli_mpi.h"

#include <stdlib.h>
#include <string.h>

int mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

int mpi_start(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (!n) n = getenv("PMI_SIZE");
    RETURN_ERROR_IF(n && strcmp(n, "1") != 0, CLI_USAGE,
                    "this rnnlm was built without MPI (make MPI=0, or no mpicc): it cannot train over %s "
                    "processes (build it where Open MPI's libopenmpi-dev is installed)", n);
    return CLI_OK;
}

int mpi_finish(int rc) { return rc; }
int mpi_active(void) { return 0; }
int mpi_rank(void) { return 0; }
int mpi_size(void) { return 1; }
int mpi_agree(int rc) { return rc; }
void mpi_sum(double *v, int n) { (void)v, (void)n; }
int mpi_same(uint64_t v) { return (void)v, 1; }
void mpi_allreduce_floats(float *g, size_t n) { (void)g, (void)n; }
void mpi_or_words(uint32_t *w, size_t n) { (void)w, (void)n; }
void mpi_gather_doubles(const double *mine, double *all, int n) { memcpy(all, mine, sizeof(double) * (size_t)n); }
void mpi_bcast_floats(float *v, size_t n, int root) { (void)v, (void)n, (void)root; }
void mpi_gather_rows(const float *mine, float *all, int blocks, int rows, int width)
{
    memcpy(all, mine, sizeof(float) * (size_t)blocks * (size_t)rows * (size_t)width);
}
double mpi_time(void) { return cli_now(); }
