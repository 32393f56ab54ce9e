/*
 * bench/dpstep.c -- what synchrony alone costs data-parallel training on this machine (make
 * bench-mpi; bench/README.md, "MPI"). The training step of `rnnlm train` on librnn's public API,
 * with the WikiText-2 default model (LSTM, V = 33,278, 200/200, 2 layers, dropout 0.2 with
 * counter masks) on synthetic token ids (the cost of a step does not depend on which words they
 * are), and the exchange between the ranks chosen by MODE:
 *
 *   build/bench/dpstep none STEPS BATCH            one process, no MPI (MPI_Init is not called)
 *   mpirun -np K build/bench/dpstep sync STEPS B   K ranks, B/K streams each; per step only the
 *                                                  3-double all-reduce rnnlm makes first (the
 *                                                  ranks wait for the slowest), no gradient
 *                                                  exchange: the ranks' weights drift apart,
 *                                                  which is fine for a timing
 *   mpirun -np K build/bench/dpstep allreduce ...  the same plus one MPI_Allreduce of the whole
 *                                                  gradient block (the dense exchange)
 *
 * Each step: rnn_set_loss_denominator, rnn_forward, rnn_zero_grad, rnn_backward, the exchange,
 * rnn_clip_grad_norm(0.25), rnn_sgd_step(20). 3 warm-up steps, then STEPS timed. Rank 0 prints
 * one JSON line: tokens_per_s (all ranks' tokens over the timed steps' wall clock), and per step
 * the mean time in the sync all-reduce (the wait for the slower rank) and in the block's
 * all-reduce, each the mean over ranks.
 */
#define RNN_EXPERT_API /* rnn_param_get_block, rnn_set_loss_denominator */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <rnn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BPTT = 35, WARMUP = 3, VOCAB = 33278 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int g_mpi; /* MPI was initialised: a failure aborts every rank */

static void fail(const char *what)
{
    fprintf(stderr, "dpstep: %s\n", what);
    if (g_mpi) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

static void check(rnn_model *m, int rc, const char *call)
{
    if (rc == RNN_OK) return;
    fprintf(stderr, "dpstep: %s: %s (%s)\n", call, rnn_status_string(rc), rnn_model_errmsg(m));
    fail("stopping");
}

int main(int argc, char **argv)
{
    if (argc != 4) fail("usage: [mpirun -np K] dpstep none|sync|allreduce STEPS BATCH");
    int mode = strcmp(argv[1], "none") == 0 ? 0 : strcmp(argv[1], "sync") == 0 ? 1 : strcmp(argv[1], "allreduce") == 0 ? 2 : -1;
    int steps = atoi(argv[2]), batch = atoi(argv[3]);
    if (mode < 0 || steps < 1 || batch < 1) fail("bad MODE, STEPS or BATCH");
    int mpi = mode > 0, rank = 0, size = 1;
    if (mpi) { /* (mode none never initialises MPI: a singleton MPI_Init costs ~0.5 s) */
        MPI_Init(&argc, &argv);
        g_mpi = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
    if (batch % size != 0) fail("BATCH must be a multiple of the number of ranks");
    int rows = batch / size, first = rank * rows;

    /* the global batch's streams, [batch][n] with rows n apart; this rank reads its rows */
    size_t n = (size_t)(WARMUP + steps) * BPTT + 1;
    int32_t *tok = malloc(sizeof *tok * n * (size_t)batch);
    if (!tok) fail("out of memory");
    uint64_t s = 1111;
    for (size_t i = 0; i < n * (size_t)batch; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        tok[i] = (int32_t)((s >> 33) % VOCAB);
    }

    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = VOCAB;
    cfg.dropout_masks = RNN_DROPOUT_COUNTER;
    rnn_model *m = NULL;
    char err[256] = "";
    if (rnn_model_create(&m, &cfg, NULL, err, sizeof err) != RNN_OK) fail(err[0] ? err : "rnn_model_create failed");
    check(m, rnn_model_set_threads(m, 1), "rnn_model_set_threads");
    check(m, rnn_model_set_dropout_position(m, (uint64_t)first, 0), "rnn_model_set_dropout_position");
    check(m, rnn_model_reset_hidden(m, rows), "rnn_model_reset_hidden");
    float *grad = NULL;
    size_t count = 0;
    check(m, rnn_param_get_block(m, NULL, mode == 2 ? &grad : NULL, &count), "rnn_param_get_block");

    double start = 0.0, wait = 0.0, exch = 0.0, loss = 0.0, norm = 0.0;
    for (int k = 0; k < WARMUP + steps; k++) {
        if (k == WARMUP) {
            if (mpi) MPI_Barrier(MPI_COMM_WORLD);
            start = now(), wait = exch = 0.0;
        }
        const int32_t *mine = tok + (size_t)first * n + (size_t)k * BPTT;
        check(m, rnn_set_loss_denominator(m, (double)batch * BPTT), "rnn_set_loss_denominator");
        check(m, rnn_forward(m, mine, mine + 1, rows, BPTT, (int)n, &loss), "rnn_forward");
        check(m, rnn_zero_grad(m), "rnn_zero_grad");
        check(m, rnn_backward(m), "rnn_backward");
        if (mpi) {
            double v[3] = {(double)rows * BPTT, loss, 0.0}, t0 = now();
            MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            double t1 = now();
            if (mode == 2) MPI_Allreduce(MPI_IN_PLACE, grad, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            wait += t1 - t0, exch += now() - t1;
        }
        check(m, rnn_clip_grad_norm(m, 0.25f, &norm), "rnn_clip_grad_norm");
        check(m, rnn_sgd_step(m, 20.0f), "rnn_sgd_step");
    }
    double elapsed = now() - start, t[2] = {wait, exch};
    if (mpi) {
        MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, t, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
    if (rank == 0)
        printf("{\"kind\": \"dpstep\", \"mode\": \"%s\", \"ranks\": %d, \"batch\": %d, \"steps\": %d, "
               "\"tokens_per_s\": %.1f, \"step_ms\": %.2f, \"wait_ms\": %.2f, \"exchange_ms\": %.2f}\n",
               argv[1], size, batch, steps, (double)steps * batch * BPTT / elapsed, 1e3 * elapsed / steps,
               1e3 * t[0] / size / steps, 1e3 * t[1] / size / steps);
    rnn_model_free(m);
    free(tok);
    if (mpi) MPI_Finalize();
    return 0;
}
