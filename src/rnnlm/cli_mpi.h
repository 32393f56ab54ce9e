/*
 * cli_mpi.h -- what `rnnlm train` asks of MPI for synchronous data-parallel training (mpirun -np K
 * bin/rnnlm train ...). Two implementations: cli_mpi.c (built when mpicc is found) and
 * cli_mpi_none.c (MPI=0, and every test program: one process, each call a no-op). librnn itself
 * never sees MPI: the trainer (cli_train_dp.c) reduces the gradient block rnn_param_get_block
 * exposes.
 *
 * Without mpirun (none of its environment variables is set) nothing is initialised: the run is
 * the single-process one, with no MPI start-up cost. Every call below is collective (all ranks,
 * in the same order) except mpi_launched, mpi_start, mpi_active, mpi_rank, mpi_size and mpi_time.
 */
#ifndef RNNLM_CLI_MPI_H
#define RNNLM_CLI_MPI_H

#include <stddef.h>
#include <stdint.h>

/* Whether the process was started by mpirun / mpiexec (Open MPI's, PMIx's or PMI's variables). */
int mpi_launched(void);
/* MPI_Init when mpi_launched (and the build has MPI); CLI_OK, or the message and its status.
   Ranks other than 0 then write nothing on stdout (it goes to /dev/null) and their error lines
   say "rank R". */
int mpi_start(int *argc, char ***argv);
/* MPI_Finalize (rc CLI_OK, or a failure every rank knows of: mpi_agree) or MPI_Abort (any other
   failure, which the other ranks may be waiting on); returns rc. Nothing without mpi_start. */
int mpi_finish(int rc);
/* Whether training runs over MPI (mpi_start initialised it), this rank and the world size
   (0, 0 and 1 otherwise). */
int mpi_active(void);
int mpi_rank(void);
int mpi_size(void);

/* Every rank's rc combined: CLI_OK when all are, else the largest code; marks the failure as
   known to all (mpi_finish then finalises instead of aborting). When another rank failed, rank 0
   says so once. */
int mpi_agree(int rc);
/* Sums n doubles over the ranks, in place. */
void mpi_sum(double *v, int n);
/* Whether every rank holds the same v. */
int mpi_same(uint64_t v);
/* n 32-bit words OR-ed over the ranks, in place (the embedding rows some rank touched). */
void mpi_or_words(uint32_t *w, size_t n);
/* Rank 0 receives every rank's n doubles into all[size][n] in rank order (all is only written on
   rank 0; without MPI, a copy). */
void mpi_gather_doubles(const double *mine, double *all, int n);
/* n floats summed over the ranks, in place: one MPI_Allreduce (two past 2^31 - 1 floats). */
void mpi_allreduce_floats(float *g, size_t n);
/* Rank root's n floats into every rank's buffer. */
void mpi_bcast_floats(float *v, size_t n, int root);
/* Rank 0 receives every rank's `rows` rows of `width` floats per block, for `blocks` blocks
   ([blocks][rows][width] on each rank), into all[blocks][size * rows][width] in rank order (all
   is only read on rank 0; without MPI, a copy). */
void mpi_gather_rows(const float *mine, float *all, int blocks, int rows, int width);
/* Seconds since an arbitrary point (MPI_Wtime, or cli_now). */
double mpi_time(void);

#endif
