/*
 * cli.h -- the pieces of the rnnlm command-line tool shared between its commands.
 *
 * Exit statuses: CLI_OK (0), CLI_RUNTIME (1: a file, corpus or library failure) and CLI_USAGE
 * (2: a bad flag or value). Every failure prints exactly one line "rnnlm: ..." on stderr
 * (cli_error) where it is found, and its status is returned up to main(): the checks are one
 * line each, RETURN_ERROR_IF(cond, status, fmt, ...) where the failure is found and
 * FORWARD_IF_ERROR(call) where a called function already printed it. A function that owns
 * something to release acquires it, hands it to a helper that does the work with those checks,
 * releases it and returns the helper's status.
 */
#ifndef RNNLM_CLI_H
#define RNNLM_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "corpus.h"
#include "rnn.h"
#include "base.h" /* the library's hashes (internal; rnnlm links the static library) */

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

/* The commands; argv[0] is the command name, argv[1..] its flags. */
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_score(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_quantize(int argc, char **argv);

/* ---- Errors ------------------------------------------------------------------------------------ */
/* Prints "rnnlm: <message>\n" on stderr (one line: newlines in the message become spaces) and
   returns status. */
int cli_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Under mpirun: cli_error's lines of ranks other than 0 say "rnnlm: rank R: ..." (rank 0 and
   single processes: "rnnlm: ..."). */
void cli_set_error_rank(int rank);

/* Why a loss or a log-probability is not finite (messages). */
#define CLI_OVERFLOW "the model's outputs overflow (its weights are too large or broken)"

/* Prints the message (cli_error) and returns status. */
#define RETURN_ERROR(status, ...) return cli_error((status), __VA_ARGS__)
/* When cond holds: prints the message (cli_error) and returns status. */
#define RETURN_ERROR_IF(cond, status, ...)                                                          \
    do {                                                                                            \
        if (cond) return cli_error((status), __VA_ARGS__);                                          \
    } while (0)
/* call returns a CLI status and printed its line when it failed: returns that status. */
#define FORWARD_IF_ERROR(call)                                                                      \
    do {                                                                                            \
        int const cli_forward_rc_ = (call);                                                         \
        if (cli_forward_rc_ != CLI_OK) return cli_forward_rc_;                                      \
    } while (0)

/* ---- Flags: one table per command (--name VALUE, --name=VALUE) --------------------------------- */
typedef enum { CLI_INT, CLI_I64, CLI_REAL, CLI_STR, CLI_FLAG } cli_kind;

/* cli_flag.what */
enum {
    CLI_REQUIRED = 1u << 0, /* must be given (its --help line says "(required)") */
    CLI_SHAPE = 1u << 1,    /* train: fixes the model's cell or sizes (not with --init) */
    CLI_FLOAT = 1u << 2,    /* CLI_REAL used as a float: the value as a float must be finite and
                               in the range (the double is stored, unchanged) */
};

/* cli_flag.limit: the upper bound of an integer flag's range is librnn's limit
   (rnn_limit_get(RNN_LIMIT_x)), named in messages; 0: hi. */
#define CLI_LIMIT(x) ((x) + 1)

/* A command's flags: at most CLI_MAX_FLAGS (bit i of the seen mask is flag i). */
#define CLI_MAX_FLAGS 64

typedef struct cli_flag {
    const char *name;   /* without the leading "--" */
    const char *arg;    /* the value's name in --help and messages ("N", "DIR"); NULL: CLI_FLAG */
    cli_kind kind;      /* the value: int, long long, double, const char *, int (set to 1) */
    size_t off;         /* where the value lives in the command's args struct (offsetof) */
    double lo, hi;      /* a number's allowed range, inclusive unless lo_open / hi_open */
    int lo_open, hi_open;
    const char *def;    /* the default, written as it would be given ("200"); NULL: 0 / none */
    const char *help;   /* --help text: "%D" stands for def, "\n" goes on under the column */
    unsigned what;      /* CLI_REQUIRED, CLI_SHAPE, CLI_FLOAT */
    int limit;          /* CLI_LIMIT(RNN_LIMIT_x): the upper bound is that limit of librnn */
    int resume;         /* train: > 0 may be given with --resume (its place in the list) */
    const char *key;    /* train: its key in checkpoints (NULL: not stored) */
} cli_flag;

typedef struct cli_command {
    const char *name;      /* "train" */
    const cli_flag *flags; /* in --help order */
    int nflags;
    int column;            /* --help: where the descriptions start */
    const char *head;      /* --help: the text before the flags' lines */
    const char *tail;      /* --help: the text after them (may be NULL) */
} cli_command;

/* The start of a table row: flag n (value name a, kind k) stored in member field of struct T. */
#define CLI_FLAG_AT(T, n, a, k, field) .name = n, .arg = a, .kind = k, .off = offsetof(T, field)
/* Rows more than one command has: --checkpoint FILE (eval, generate, score) and --threads N. */
#define CLI_CHECKPOINT_FLAG(T)                                                                      \
    CLI_FLAG_AT(T, "checkpoint", "FILE", CLI_STR, checkpoint), .what = CLI_REQUIRED,                \
        .help = "model saved by rnnlm train"
#define CLI_THREADS_FLAG(T)                                                                         \
    CLI_FLAG_AT(T, "threads", "N", CLI_INT, threads), .lo = 1, .limit = CLI_LIMIT(RNN_LIMIT_THREADS)
#define CLI_THREADS_HELP "threads, default one per CPU it may run on (librnn's own; OpenBLAS: one)"

/* Ranges: the int flags 1, 2, ... and 0, 1, ...; a CLI_I64 flag about all of int64 (a seed). */
#define CLI_POSITIVE .lo = 1, .hi = INT32_MAX
#define CLI_NATURAL .lo = 0, .hi = INT32_MAX
#define CLI_ANY_I64 .lo = -9.2e18, .hi = 9.2e18

/*
 * Sets every flag of c in args to its default, then parses argv[1..argc). --help / -h anywhere
 * sets *help and stops (CLI_OK). *seen (may be NULL) receives bit i for each flag c->flags[i]
 * given. On a bad flag or value prints one line and returns CLI_USAGE.
 */
int cli_parse(const cli_command *c, int argc, char **argv, void *args, uint64_t *seen, int *help);
/* CLI_USAGE with "CMD: --NAME ARG is required" for the first CLI_REQUIRED flag without a value. */
int cli_require(const cli_command *c, const void *args);
/* c's --help on stdout: head, the flags' lines, tail. Returns CLI_OK. */
int cli_help(const cli_command *c);
/* Whether the value of number flag f in args is in its range or its default (strings and
   CLI_FLAG: always). */
int cli_flag_valid(const cli_flag *f, const void *args);
/* Copies the value of flag f from args src to args dst. */
void cli_flag_copy(const cli_flag *f, void *dst, const void *src);

/* Parses a --batching value ("torch" or "seed") into CORPUS_BATCH_*; -1 when it is neither. */
int cli_batching_mode(const char *s);
/* --unk-policy: what happens to a word missing from the model's vocabulary. */
#define CLI_UNK_POLICY_HELP "error, map (to <unk>; an error when the model has no <unk>)\n" \
                            "or skip (the word is left out and counted); default map"
/* Parses an --unk-policy value into rnn_vocab_encode flags: "error" 0, "map" RNN_ENCODE_UNK_MAP,
   "skip" RNN_ENCODE_UNK_SKIP. CLI_USAGE with the message for anything else. */
int cli_unk_policy(const char *s, unsigned *flags);
/* CLI_USAGE with the message unless --batching is torch or seed and scores some target with
   --bptt bptt (seed: bptt >= 2). */
int cli_check_batching(const char *batching, int bptt);
/* CLI_USAGE with the message when chunks of batch (named batch_name in it) x bptt tokens are
   larger than librnn's RNN_LIMIT_CHUNK. */
int cli_check_chunk(int batch, const char *batch_name, int bptt);
/* librnn's limit RNN_LIMIT_x (rnn_limit_get), at most INT32_MAX. */
int64_t cli_limit(int limit);

/* ---- Model helpers ----------------------------------------------------------------------------- */
/* Loads a checkpoint that carries a vocabulary; prints the error and returns its status (a PyTorch
   file: the message says to convert it with tools/torch2rnn.py). */
int cli_load_model(const char *path, rnn_model **out);
/* A corpus_vocab holding the model's words with the same ids. */
int cli_model_vocab(const rnn_model *m, corpus_vocab **out);
/* A command's work on a loaded model (args: its flags) and the tokens of its --data file (ids
   NULL without one). */
typedef int cli_model_fn(const void *args, rnn_model *model, const int32_t *ids, size_t n);
/*
 * Loads the model at path (cli_load_model), gives it --threads N (cli_set_threads), tokenizes the
 * text file data (when not NULL) over the model's vocabulary (words missing from it map to <unk>
 * when it has one, otherwise this fails naming the first of them), returns run's status and
 * frees what it made.
 */
int cli_run_model(const char *path, int threads, const char *data, cli_model_fn *run, const void *args);
/*
 * A text tokenized over a model's vocabulary with an --unk-policy (cli_tokenize), keeping which
 * tokens are unknown words: what eval and score count as OOVs (KenLM's word) and leave out of the
 * perplexity "excluding OOVs".
 */
typedef struct cli_tokens {
    int32_t *ids;        /* [n] every line's words, then <eos>, in order */
    unsigned char *oov;  /* [n] 1 where the token is an unknown word scored as <unk> (map) */
    size_t n, cap;
    size_t lines, words; /* lines read; words in them (unknown ones too; <eos> not counted) */
    size_t oovs;         /* unknown words: mapped to <unk> (map) or left out (skip) */
    size_t mapped;       /* of them mapped to <unk>: tokens in ids */
} cli_tokens;
/* Called before each line is tokenized (may be NULL: the whole line): *start, *end (set to 0 and
   len) receive the part of the line to tokenize. A nonzero return stops the read with that CLI
   status (printed). */
typedef int cli_span_fn(void *user, const char *line, size_t len, unsigned long long lineno, size_t *start,
                        size_t *end);
/* Called after each line: the line (as corpus_line_fn gets it), its lineno, and its tokens
   ids[first .. first + count). A nonzero return stops the read with that CLI status (printed). */
typedef int cli_line_fn(void *user, const char *line, size_t len, unsigned long long lineno, size_t first,
                        size_t count);
/*
 * Reads f (named name in messages; a file, a pipe or stdin, read once, not closed) a line at a time
 * as data.py does (corpus_read_lines: universal newlines, strict UTF-8) and tokenizes each line
 * over m's vocabulary (its words split as str.split(), then <eos>) with policy (cli_unk_policy's
 * flags): 0 an unknown word is an error; RNN_ENCODE_UNK_MAP it becomes <unk> (an error when the
 * model has no <unk>); RNN_ENCODE_UNK_SKIP it is left out. The error names the count and the first
 * unknown words with their lines, and what --unk-policy to give. span (may be NULL) chooses the
 * part of each line to tokenize; on_line (may be NULL) runs after every line. Returns CLI_OK, or prints the message and returns CLI_RUNTIME; t is released with
 * cli_tokens_free either way.
 */
int cli_tokenize(const rnn_model *m, FILE *f, const char *name, unsigned policy, cli_span_fn *span,
                 cli_line_fn *on_line, void *user, cli_tokens *t);
void cli_tokens_free(cli_tokens *t);
/* --threads N: librnn's threads N (0: one per CPU this process may run on, i.e. in its affinity
   mask: one under mpirun's default binding of -np 1 or 2), OpenBLAS's 1; warns (rank 0) when N
   is more than those CPUs */
int cli_set_threads(rnn_model *m, int n);
/* The threads --threads n gives (n, or for 0 the default above). */
int cli_threads(int n);
/* The largest --threads: librnn's RNN_LIMIT_THREADS. */
int cli_max_threads(void);

/*
 * A data folder (data.py's Corpus): dir/train.txt, dir/valid.txt and dir/test.txt into c. With
 * v NULL the vocabulary is built over the three files in that order; otherwise the words are
 * mapped onto v (unknown words to <unk>), which c takes over (also on failure). Release c with
 * corpus_free, also after a failure.
 */
int cli_load_corpus(corpus *c, const char *dir, corpus_vocab *v);

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

/* A chunk's token and target buffers for b (cli_chunk's tok_buf, tgt_buf; malloc'd): CLI_OK, or
   the bytes they would need printed and CLI_RUNTIME. */
int cli_chunk_buffers(const corpus_batches *b, int32_t **tok, int32_t **tgt);

/* Whether every weight of m is finite; otherwise where (n bytes) names the first one that is not
   ("decoder.bias[0] is nan"). */
int cli_weights_finite(const rnn_model *m, char *where, size_t n);
/* CLI_RUNTIME with the message when m (loaded from path for `flag`, e.g. "--resume") has quantized
   weights (rnnlm quantize): those are for inference only. */
int cli_check_trainable(const rnn_model *m, const char *flag, const char *path);

/* ---- Small utilities --------------------------------------------------------------------------- */
/* Seconds on a monotonic clock. */
double cli_now(void);
/* Writes x as a JSON number ("null" when not finite). */
void cli_json_num(FILE *f, const char *key, double x, int last);
/* Writes s as a JSON string (quotes, backslashes and control characters escaped). */
void cli_json_str(FILE *f, const char *s);
/* The file name of path without its folders (for messages). */
const char *cli_basename(const char *path);

/* Hashes: the library's FNV-1a (rnn__fnv1a, RNN__FNV_INIT) and splitmix64 (rnn__splitmix64),
   from base.h (rnnlm links the static library). */

/* ---- Output files: written atomically (the library's rnn__atomic), or stdout ------------------- */
struct rnn__atomic;
typedef struct cli_outfile {
    FILE *f;                /* write here */
    int to_stdout;          /* the path was "-" */
    struct rnn__atomic *at; /* the temporary file beside the path (NULL for stdout) */
} cli_outfile;
/* Opens the temporary file beside path (path "-": stdout). Prints the error and returns
   CLI_RUNTIME. */
int cli_out_open(cli_outfile *o, const char *path);
/* Flushes, syncs and renames the temporary file over the path; or, with ok == 0, removes it (and
   returns CLI_RUNTIME). */
int cli_out_close(cli_outfile *o, int ok);

/* Flushes stdout: CLI_OK, or the message and CLI_RUNTIME when anything written to it was lost. */
int cli_stdout_flush(void);

/* ---- Inputs and outputs of a command ----------------------------------------------------------- */
typedef struct cli_path {
    const char *what; /* the flag, e.g. "--save" (messages) */
    const char *path; /* NULL: none */
} cli_path;
/* CLI_RUNTIME with the message when an output that exists is the same file (device and inode,
   following symbolic links) as one of the inputs. */
int cli_check_outputs(const cli_path *out, int nout, const cli_path *in, int nin);
/* An existing file at path (the output `what`) that a model would replace must be a librnn model
   (its first 8 bytes "RNNMODEL"): CLI_OK, or the message and CLI_RUNTIME. */
int cli_check_model_output(const char *what, const char *path);
/* Takes an exclusive advisory lock (flock) on the file path (created) for the output `flag target`
   ("--save", "m.rnn") and writes this process's PID in it; *fd receives it. When another process
   holds it: its PID in the message and CLI_RUNTIME. */
int cli_lock(const char *path, const char *flag, const char *target, int *fd);
/* Releases cli_lock's lock and removes its file (fd < 0: nothing). */
void cli_unlock(const char *path, int fd);

#endif
