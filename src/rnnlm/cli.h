/*
 * cli.h -- the pieces of the rnnlm command-line tool shared between its commands.
 *
 * Exit statuses: CLI_OK (0), CLI_RUNTIME (1: a file, corpus or library failure) and CLI_USAGE
 * (2: a bad flag or value). Every failure prints exactly one line "rnnlm: ..." on stderr
 * (cli_error) before its status is returned up to main().
 */
#ifndef RNNLM_CLI_H
#define RNNLM_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "corpus.h"
#include "rnn.h"

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

/* The commands; argv[0] is the command name, argv[1..] its flags. */
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_score(int argc, char **argv);

/* ---- Errors ------------------------------------------------------------------------------------ */
/* Prints "rnnlm: <message>\n" on stderr (one line: newlines in the message become spaces) and
   returns status. */
int cli_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- Flags (--name VALUE, --name=VALUE) --------------------------------------------------------- */
typedef enum { CLI_INT, CLI_I64, CLI_REAL, CLI_STR, CLI_FLAG } cli_kind;

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_kind kind;
    void *dst;        /* int *, long long *, double *, const char **, int * (flag: set to 1) */
    double lo, hi;    /* allowed range of a number (inclusive unless lo_open / hi_open) */
    int lo_open, hi_open;
    int seen;         /* set by cli_parse when the flag is given */
} cli_opt;

/*
 * Parses argv[1..argc) against opts[0..n). --help / -h sets *help and stops (returns CLI_OK).
 * On a bad flag or value prints one line and returns CLI_USAGE.
 */
int cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts, int n, int *help);
/* The option called name in opts (NULL if absent). */
const cli_opt *cli_find(const cli_opt *opts, int n, const char *name);

/* Parses a --batching value ("torch" or "seed") into CORPUS_BATCH_*; -1 when it is neither. */
int cli_batching_mode(const char *s);

/* ---- Model helpers ------------------------------------------------------------------------------ */
/* Loads a checkpoint that carries a vocabulary; prints the error and returns its status. */
int cli_load_model(const char *path, rnn_model **out);
/* A corpus_vocab holding the model's words with the same ids. */
int cli_model_vocab(const rnn_model *m, corpus_vocab **out);
/* --threads N: librnn's threads N (0: one per online CPU), OpenBLAS's 1 */
int cli_set_threads(rnn_model *m, int n);
/* The largest --threads: librnn's RNN_LIMIT_THREADS. */
int cli_max_threads(void);

/*
 * Chunk k of b for rnn_forward / rnn_evaluate: a view into b->data (*tok, *tgt, *stride) when the
 * batching allows one (main.py's), otherwise copied into tok_buf / tgt_buf (b->batch * b->bptt
 * entries each; *stride 0). *steps receives the chunk's steps. Returns RNN_OK or an RNN_ERR_* code.
 */
int cli_chunk(const corpus_batches *b, size_t k, int32_t *tok_buf, int32_t *tgt_buf,
              const int32_t **tok, const int32_t **tgt, int *steps, int *stride);

/*
 * main.py's evaluate(): a fresh state for b->batch streams, every chunk through rnn_evaluate,
 * total = sum of steps_k * loss_k, *loss = total / corpus_batches_eval_denominator(b).
 * *scored (may be NULL) receives the number of targets that counted (not RNN_IGNORE).
 * Returns CLI_OK or prints the library's error and returns CLI_RUNTIME.
 */
int cli_evaluate(rnn_model *m, const corpus_batches *b, double *loss, size_t *scored);

/* ---- Small utilities ---------------------------------------------------------------------------- */
/* Seconds on a monotonic clock. */
double cli_now(void);
/* Writes x as a JSON number ("null" when not finite). */
void cli_json_num(FILE *f, const char *key, double x, int last);
/* The file name of path without its folders (for messages). */
const char *cli_basename(const char *path);

/* Writes through a temporary file beside path that is renamed over path on success. */
typedef struct cli_outfile {
    FILE *f;
    char *tmp;        /* the temporary file (NULL when writing to stdout) */
    const char *path;
} cli_outfile;
/* Opens the temporary file (path "-": stdout). Prints the error and returns CLI_RUNTIME. */
int cli_out_open(cli_outfile *o, const char *path);
/* Flushes, syncs and renames; or, with ok == 0, removes the temporary file. */
int cli_out_close(cli_outfile *o, int ok);

#endif
