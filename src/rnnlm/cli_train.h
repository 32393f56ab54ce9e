/*
 * cli_train.h -- what `rnnlm train` (cli_train.c) and its checkpoint format (cli_ckpt.c) share.
 */
#ifndef RNNLM_CLI_TRAIN_H
#define RNNLM_CLI_TRAIN_H

#include <stddef.h>
#include <stdint.h>

/* The flags of `rnnlm train` (main.py's, plus ours). */
typedef struct train_args {
    const char *data, *model, *save, *metrics, *init, *batching, *resume;
    int emsize, nhid, nlayers, epochs, batch_size, bptt, tied, log_interval, dry_run, threads;
    int max_batches, checkpoint_every;
    double lr, clip, dropout;
    long long seed;
    int cell, mode;
    int shape_given; /* any of --model/--emsize/--nhid/--nlayers/--tied was given */
} train_args;

/*
 * Where a run stands: everything besides the model (weights, hidden state, dropout generator)
 * that the loop needs to continue exactly. A checkpoint taken at (epoch, batch) means: batches
 * [0, batch) of that epoch are done; batch == batches per epoch means the epoch's training is done
 * but not its validation; epoch == epochs + 1 means training is over (only the test remains).
 */
typedef struct train_pos {
    int epoch;            /* the epoch in progress, 1-based */
    uint64_t batch;       /* batches of it done */
    uint64_t step;        /* batches trained since the start of the run (all epochs) */
    double lr;            /* the current learning rate (after the /4 decays) */
    int saved;            /* a best model was saved (there was a validation) */
    double best;          /* its validation loss (when saved) */
    uint64_t best_hash;   /* ckpt_hash of its parameters (when saved) */
    /* the current log interval (so that the log lines after a resume show the same losses) */
    double iv_loss, last_loss;
    uint64_t iv_n;
    /* the corpus the run trains on, to refuse a resume over changed data */
    uint64_t corpus_hash, n_train, n_valid, n_test, nbatches;
} train_pos;

/* FNV-1a 64 over n bytes, continuing from h (start with CKPT_HASH_INIT). */
#define CKPT_HASH_INIT 0xcbf29ce484222325ull
uint64_t ckpt_hash(uint64_t h, const void *p, size_t n);

/*
 * The checkpoint's application data (rnn_model_save's app_data) for a and p: a malloc'd text
 * blob, *len bytes (see cli_ckpt.c for the format). NULL when out of memory.
 */
char *ckpt_encode(const train_args *a, const train_pos *p, size_t *len);

/*
 * Parses a blob written by ckpt_encode into *a (from defaults: every train flag it holds) and *p.
 * The strings in *a point into *store (malloc'd; the caller frees it, also on failure).
 * Returns 0, or -1 with a one-line reason in err.
 */
int ckpt_decode(const void *data, size_t len, train_args *a, train_pos *p, char **store, char *err,
                size_t errsz);

#endif
