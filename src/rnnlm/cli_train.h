/*
 * cli_train.h -- what the parts of `rnnlm train` share:
 *   cli_train_flags.c  the one table of its flags (parsing, --help, checkpoint keys, --resume rules)
 *   cli_train.c        setup, the training loop, the final test
 *   cli_resume.c       checkpoints (SAVE.ckpt) and --resume
 *   cli_ckpt.c         the checkpoint's application data (the format)
 *   cli_progress.c     the log lines, the progress bar and the --metrics records
 *   cli_train_dp.c     data-parallel training under mpirun (over cli_mpi.h)
 */
#ifndef RNNLM_CLI_TRAIN_H
#define RNNLM_CLI_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/* The batch size of validation and test (main.py's eval_batch_size). */
#define TRAIN_EVAL_BATCH 10

/* The flags of `rnnlm train` (main.py's, plus ours), as train_command's table describes them. */
typedef struct train_args {
    const char *data, *model, *save, *metrics, *init, *batching, *resume;
    int emsize, nhid, nlayers, epochs, batch_size, bptt, tied, log_interval, dry_run, threads;
    int max_batches, checkpoint_every;
    int vocab_size, min_count; /* a vocabulary by frequency from train.txt (0, 0: data.py's) */
    int max_eval_batches, patience, accel;
    double lr, clip, dropout;
    long long seed;
    int seed_random; /* --seed -1: seed was drawn at random (train_random_seed) */
    int use_optimizer;     /* --use-optimizer: AdamW (rnn_adamw_step) instead of plain SGD */
    double weight_decay;   /* its --weight-decay */
    const char *adaptive_cutoffs; /* --adaptive-cutoffs "2000,10000": the adaptive softmax (NULL: full) */
    double div_value;      /* its --div-value (0: not given, PyTorch's 4) */
    int head_bias;         /* its --head-bias */
    int cell, mode;  /* from model and batching (train_check) */
    int num_cutoffs, cutoffs[RNN_MAX_CUTOFFS]; /* from adaptive_cutoffs (train_check; 0: full) */
    int shape_given; /* a CLI_SHAPE flag (--model/--emsize/--nhid/--nlayers/--tied, the output
                        layer's) was given */
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
    uint64_t best_hash;   /* train_params_hash of its parameters (when saved) */
    /* the current log interval (so that the log lines after a resume show the same losses) */
    double iv_loss, last_loss;
    uint64_t iv_n;
    /* the corpus the run trains on, to refuse a resume over changed data */
    uint64_t corpus_hash, n_train, n_valid, n_test, nbatches;
    int stale;            /* validations since the best one (--patience) */
} train_pos;

/* A run of `rnnlm train`: its flags, model, data, position and outputs. */
typedef struct trainer {
    const train_args *a;
    rnn_model *m;
    corpus c;
    corpus_batches train, valid, test; /* valid, test: cut by --max-eval-batches */
    size_t valid_all, test_all;         /* their batches before the cut */
    int32_t *valid_copy, *test_copy;    /* the cut views' data (corpus_batches_head) */
    int32_t *tok, *tgt;
    FILE *metrics;
    train_pos pos;   /* where the run stands (the checkpoint's state besides the model) */
    int bar;         /* stderr is a terminal: draw the progress bar */
    size_t nbatches; /* batches per epoch */
    char *ckpt;      /* SAVE.ckpt */
    char *lock;      /* SAVE.lock: held (lock_fd) from train_claim to train_teardown */
    int lock_fd;
    char *abs_data, *abs_save, *abs_metrics, *abs_init; /* the paths stored in checkpoints */
    const char *resumed_data; /* --resume with --data: the checkpoint's --data (messages) */
    int resumed_epochs;       /* --resume: the checkpoint's --epochs */
    /* this process's part of the current log interval and epoch (timing and the progress bar) */
    double iv_start, iv_tokens, ep_start, ep_tokens, bar_drawn;
    size_t iv_here, ep_first;
    /* the streams of every training chunk this process trains: [first, first + rows) (all B
       without mpirun); stop: every rank saw the stop signal's flag (under mpirun) */
    int first, rows, stop;
    /* under mpirun, this log interval's: seconds in the gradient's all-reduce, seconds waiting for
       the other ranks before it (the loss sum), floats all-reduced */
    double reduce_s, wait_s, reduce_floats;
    struct dp_exchange *dx; /* the sparse exchange's buffers (cli_train_dp.c) */
} trainer;

/* ---- cli_train_flags.c ------------------------------------------------------------------------- */
/* The flags of rnnlm train: name, kind, range, default, help, --resume, checkpoint key. */
extern const cli_command train_command;

/*
 * Parses the flags into *a; *seen receives the flags given (bit i: train_command.flags[i]). With
 * --resume only the flags the table allows with it may be given; otherwise train_check runs.
 */
int train_parse(int argc, char **argv, train_args *a, uint64_t *seen, int *help);
/* The --help text on stdout; CLI_OK. */
int train_help(void);
/* The checks across flags (--data given, --model, --batching, --tied, --init, the adaptive
   softmax's); sets a->cell, a->mode, a->num_cutoffs, a->cutoffs and, with --dry-run,
   a->max_batches. CLI_USAGE with the message. */
int train_check(train_args *a);
/* With --adaptive-cutoffs: CLI_RUNTIME with the message (naming V) unless every cutoff is below
   the vocabulary's V words (known once the corpus is read). */
int train_check_cutoffs(const train_args *a, int V);
/* Whether the vocabulary is train.txt's by frequency (--vocab-size / --min-count). */
int train_vocab_by_count(const train_args *a);
/* --seed -1: a seed drawn from /dev/urandom (else the clock and PID), in [0, 2^32). */
long long train_random_seed(void);
/* Whether every number flag of a checkpoint's *a is in its range (or its default). */
int train_flags_valid(const train_args *a);
/* The flags given with --resume (seen) from *a replace those of the checkpoint's *ra. */
void train_override(train_args *ra, const train_args *a, uint64_t seen);

/* ---- cli_train.c ------------------------------------------------------------------------------- */
/* The corpus of a->data: the vocabulary of the run (data.py's over the three files, or
   train.txt's by frequency; with --adaptive-cutoffs data.py's words renumbered by descending
   count in train.txt) and the token ids. */
int train_load_corpus(trainer *t);
/* Whether --patience has stopped training (that many validations without a better one). */
int train_early_stopped(const trainer *t);
/* Batches and the --metrics file (opened with metrics_mode): what a fresh run and a resumed one set
   up after the model and the corpus. */
int train_setup_rest(trainer *t, const char *metrics_mode);
/* Before the corpus is read: checks the outputs (--save and SAVE.ckpt are models when they exist,
   --save's folder is writable, no output is an input), then locks SAVE for the whole run. */
int train_claim(trainer *t);
/* CLI_OK when every weight is finite; otherwise "training diverged" naming the weight and that
   `path` was not written, CLI_RUNTIME. */
int train_check_weights(const trainer *t, const char *path);
/* Trains (t->a, t->pos and, for a resume, t->m set up), then tests the best model. */
int train_run(trainer *t);
/* Releases what t holds. */
void train_teardown(trainer *t);

/* ---- cli_resume.c ------------------------------------------------------------------------------ */
/* The identity of a model's weights (the best model's, in checkpoints). */
uint64_t train_params_hash(const rnn_model *m);
/* The identity of the token ids the run trains, validates and tests on, into p. */
void train_corpus_identity(const corpus *c, train_pos *p);
/* Writes SAVE.ckpt (t->ckpt): the model with its state and the flags and position. */
int train_write_checkpoint(trainer *t);
/* --resume CKPT (a->resume): the checkpoint's flags with those given (seen), model, position. */
int train_resume(const train_args *a, uint64_t seen);

/* ---- cli_ckpt.c -------------------------------------------------------------------------------- */
/*
 * The checkpoint's application data (rnn_model_save's app_data) for a and p: a malloc'd text
 * blob, *len bytes (see cli_ckpt.c for the format). NULL when out of memory.
 */
char *ckpt_encode(const train_args *a, const train_pos *p, size_t *len);
/*
 * Parses a blob written by ckpt_encode (the application data of the checkpoint path) into *a
 * (every train flag with a checkpoint key; the others 0) and *p. The strings in *a point into
 * *store (malloc'd; the caller frees it, also on failure). CLI_OK, or CLI_RUNTIME with the line
 * "PATH is not a checkpoint of rnnlm train (--checkpoint-every): REASON" printed.
 */
int ckpt_decode(const char *path, const void *data, size_t len, train_args *a, train_pos *p,
                char **store);

/* ---- cli_progress.c ---------------------------------------------------------------------------- */
/* Removes the progress bar from stderr (when drawn). */
void progress_clear(const trainer *t);
/* The live line on stderr: batch done/n of the epoch, loss, ppl, lr, tokens/s, ETA (at most every
   0.1 s unless force). */
void progress_bar(trainer *t, int epoch, size_t done, int force);
/* main.py's log line after batch `batch` of the epoch (+ tokens/s) and its --metrics record;
   starts the next log interval. */
void progress_interval(trainer *t, int epoch, size_t batch);
/* main.py's end-of-epoch lines and their --metrics record. */
void progress_epoch(trainer *t, int epoch, double val, double secs);
/* main.py's final lines for the test loss and its --metrics record (CLI_RUNTIME when the metrics
   file cannot be written). */
int progress_test(trainer *t, double loss);
/* The start-up summary on stdout: the vocabulary, tokens per split (and how many became <unk>),
   the model's parameters (an adaptive softmax: its clusters and their shares of the training
   tokens), batches per epoch, validation and test, the seed. */
void progress_summary(const trainer *t);
/* main.py's line of 89 c characters. */
void progress_rule(char c);

/* ---- cli_train_dp.c (under mpirun; cli_mpi.h) ----------------------------------------------- */
/* t->first, t->rows for this rank (CLI_USAGE when --batch_size is not divisible by the ranks). */
int dp_setup_rows(trainer *t);
/* Before the first step: the ranks' corpus, flags and weights compared (a clear error when they
   differ), a checkpoint's hidden state cut to this rank's streams, the dropout position's stream. */
int dp_setup(trainer *t);
/* After backward on the rows tok[rows][steps] (row stride `stride`), which kept `kept` of the
   whole batch's `total` targets, with the loss denominator set to total (rnn_set_loss_denominator):
   *loss (this rank's share of the global mean) becomes the global mean and the gradient block that
   of the global mean loss (one all-reduce: of the embedding rows some rank's tok touched and the
   rest of the block, or of the whole block); *stop_all: some rank's stop was set. */
int dp_reduce(trainer *t, const int32_t *tok, int rows, int steps, int stride, double *loss, size_t kept,
              size_t total, int stop, int *stop_all);
/* Frees what dp_reduce allocated (every process; nothing without mpirun). */
void dp_teardown(trainer *t);
/* cli_evaluate over the ranks: each evaluates its share of b's streams, the sums are reduced. */
int dp_evaluate(trainer *t, const corpus_batches *b, double *loss);
/* The ranks' weights compared by checksum (a mismatch names the epoch and step). */
int dp_check_weights(const trainer *t);
/* For a checkpoint mid-epoch: rank 0's model receives all B streams' hidden state (*saved its own,
   for dp_restore_hidden); the others send theirs. */
int dp_gather_hidden(trainer *t, float **saved);
int dp_restore_hidden(trainer *t, float *saved);
/* The final test: rank 0 loaded the best model (loaded: its status, agreed); every rank's weights
   become its weights. */
int dp_share_best(trainer *t, int loaded);

#endif
