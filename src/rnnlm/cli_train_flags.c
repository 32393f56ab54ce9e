/*
 * cli_train_flags.c -- the flags of `rnnlm train`: one table (train_flags) that gives each flag's
 * name, kind, range, default and --help text, whether it may be given with --resume, and its key
 * in checkpoints. The parser, --help, the checkpoint format (cli_ckpt.c) and the --resume rules
 * all read it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_train.h"

#define FLAG(n, a, k, field) CLI_FLAG_AT(train_args, n, a, k, field)

static const cli_flag train_flags[] = {
    {FLAG("data", "DIR", CLI_STR, data), .what = CLI_REQUIRED, .resume = 6, .key = "data", .help = "corpus folder"},
    {FLAG("vocab-size", "N", CLI_INT, vocab_size), CLI_NATURAL, .key = "vocab_size",
     .help = "the vocabulary is train.txt's N most frequent words, <unk> included\n"
             "(the other words of train, valid and test become <unk>). Without\n"
             "--vocab-size and --min-count: every word of train, valid and test\n"
             "(data.py)"},
    {FLAG("min-count", "N", CLI_INT, min_count), CLI_NATURAL, .key = "min_count",
     .help = "the vocabulary is train.txt's words that occur at least N times\n"
             "(1: all of them), and <unk> (with --vocab-size: both cuts)"},
    {FLAG("model", "NAME", CLI_STR, model), .def = "LSTM", .what = CLI_SHAPE, .key = "model",
     .help = "LSTM (default), GRU, RNN_TANH or RNN_RELU (no Transformer)"},
    {FLAG("emsize", "N", CLI_INT, emsize), CLI_POSITIVE, .limit = CLI_LIMIT(RNN_LIMIT_DIM), .def = "200",
     .what = CLI_SHAPE, .key = "emsize", .help = "size of word embeddings, default %D"},
    {FLAG("nhid", "N", CLI_INT, nhid), CLI_POSITIVE, .limit = CLI_LIMIT(RNN_LIMIT_DIM), .def = "200",
     .what = CLI_SHAPE, .key = "nhid", .help = "hidden units per layer, default %D"},
    {FLAG("nlayers", "N", CLI_INT, nlayers), CLI_POSITIVE, .limit = CLI_LIMIT(RNN_LIMIT_LAYERS),
     .def = "2", .what = CLI_SHAPE, .key = "nlayers", .help = "number of layers, default %D"},
    {FLAG("lr", "LR", CLI_REAL, lr), .lo = 0, .hi = INFINITY, .def = "20", .what = CLI_FLOAT, .key = "lr",
     .help = "initial learning rate, default %D"},
    {FLAG("clip", "C", CLI_REAL, clip), .lo = 0, .lo_open = 1, .hi = INFINITY, .def = "0.25",
     .what = CLI_FLOAT, .key = "clip", .help = "gradient clipping (global norm), default %D"},
    {FLAG("use-optimizer", NULL, CLI_FLAG, use_optimizer), .key = "use_optimizer",
     .help = "update with torch.optim.AdamW (main.py's --use-optimizer) instead of\n"
             "plain SGD, after the clipping; its lr is the current lr, divided by 4\n"
             "with it (main.py's AdamW keeps the initial one); try --lr 0.001"},
    {FLAG("weight-decay", "W", CLI_REAL, weight_decay), .lo = 0, .hi = INFINITY, .def = "0.01",
     .what = CLI_FLOAT, .key = "weight_decay",
     .help = "AdamW's decoupled weight decay (--use-optimizer), default %D"},
    {FLAG("epochs", "N", CLI_INT, epochs), CLI_POSITIVE, .def = "40", .resume = 5, .key = "epochs",
     .help = "upper epoch limit, default %D"},
    {FLAG("patience", "N", CLI_INT, patience), CLI_NATURAL, .key = "patience",
     .help = "early stopping: stop training after N epochs in a row without a\n"
             "better validation loss, then test the best model; 0: never (default)"},
    {FLAG("batch_size", "N", CLI_INT, batch_size), CLI_POSITIVE, .def = "20", .key = "batch_size",
     .help = "batch size, default %D"},
    {FLAG("bptt", "N", CLI_INT, bptt), CLI_POSITIVE, .def = "35", .key = "bptt",
     .help = "sequence length, default %D"},
    {FLAG("dropout", "P", CLI_REAL, dropout), .lo = 0, .hi = 1, .hi_open = 1, .def = "0.2",
     .what = CLI_FLOAT, .key = "dropout", .help = "dropout in [0, 1), default %D"},
    {FLAG("tied", NULL, CLI_FLAG, tied), .what = CLI_SHAPE, .key = "tied",
     .help = "tie the word embedding and softmax weights (needs emsize == nhid)"},
    {FLAG("adaptive-cutoffs", "LIST", CLI_STR, adaptive_cutoffs), .what = CLI_SHAPE, .key = "adaptive_cutoffs",
     .help = "the output layer is PyTorch's adaptive softmax\n"
             "(nn.AdaptiveLogSoftmaxWithLoss) with these cutoffs, e.g. 2000,10000:\n"
             "the head holds words 0-1999, cluster 0 words 2000-9999, cluster 1\n"
             "the rest; strictly increasing, each in [1, V-1], at most 8 (librnn's\n"
             "RNN_LIMIT_CUTOFFS). Word ids are then ordered by frequency (below).\n"
             "Default: the full softmax"},
    {FLAG("div-value", "X", CLI_REAL, div_value), .lo = 0, .lo_open = 1, .hi = INFINITY, .what = CLI_SHAPE | CLI_FLOAT,
     .key = "div_value",
     .help = "adaptive softmax: cluster i projects to floor(nhid / X^(i+1)) units,\n"
             "default 4"},
    {FLAG("head-bias", NULL, CLI_FLAG, head_bias), .what = CLI_SHAPE, .key = "head_bias",
     .help = "adaptive softmax: give its head a bias"},
    {FLAG("seed", "N", CLI_I64, seed), CLI_ANY_I64, .def = "1111", .key = "seed",
     .help = "random seed (initialisation, dropout), default %D; -1: a random one\n"
             "(printed, and kept in checkpoints)"},
    {FLAG("log-interval", "N", CLI_INT, log_interval), CLI_POSITIVE, .def = "200", .resume = 3,
     .key = "log_interval", .help = "report every N batches, default %D"},
    {FLAG("save", "FILE", CLI_STR, save), .def = "model.rnn", .key = "save",
     .help = "where to save the best model (atomically), default %D"},
    {FLAG("dry-run", NULL, CLI_FLAG, dry_run), .key = "dry_run",
     .help = "one batch per epoch, and one of validation and test (a quick\n"
             "check of the whole pipeline; as --max-batches 1 --max-eval-batches 1)"},
    {FLAG("max-batches", "N", CLI_INT, max_batches), CLI_POSITIVE, .key = "max_batches",
     .help = "at most N batches per epoch"},
    {FLAG("max-eval-batches", "N", CLI_INT, max_eval_batches), CLI_NATURAL, .key = "max_eval_batches",
     .help = "validate and test on the first N batches only (of batch size 10);\n"
             "0: all (default)"},
    {CLI_THREADS_FLAG(train_args), .resume = 4, .key = "threads", .help = CLI_THREADS_HELP},
    {FLAG("accel", NULL, CLI_FLAG, accel),
     .help = "accepted for main.py's sake and ignored (there is no accelerator)"},
    {FLAG("metrics", "FILE", CLI_STR, metrics), .resume = 2, .key = "metrics",
     .help = "JSON lines: one object per log interval, per epoch, and the test\n"
             "result (plot with tools/plot_metrics.py); under mpirun also the\n"
             "world size, each rank's tokens/s and the all-reduce's ms per step"},
    {FLAG("init", "CHECKPOINT", CLI_STR, init), .key = "init",
     .help = "start from this model's weights and vocabulary (its cell and sizes\n"
             "are used; the corpus is mapped onto its vocabulary, unknown words\n"
             "to <unk>)"},
    {FLAG("batching", "MODE", CLI_STR, batching), .def = "torch", .key = "batching",
     .help = "torch (main.py's batchify, default) or seed (bptt_batchify of\n"
             "the lecture note this project follows, also used for validation\n"
             "and test)"},
    {FLAG("checkpoint-every", "N", CLI_INT, checkpoint_every), CLI_NATURAL, .resume = 1,
     .key = "checkpoint_every",
     .help = "every N batches, after every epoch and on Ctrl-C, SIGTERM or SIGHUP\n"
             "write a checkpoint for --resume to SAVE.ckpt (SAVE: the --save\n"
             "file), atomically; 0: none (default)"},
    {FLAG("resume", "CKPT", CLI_STR, resume),
     .help = "continue the run saved in CKPT (a SAVE.ckpt) exactly where it stopped,\n"
             "with its flags; the result is bit-identical to an uninterrupted run\n"
             "(same BLAS thread count). Only --checkpoint-every, --metrics\n"
             "(appended to), --log-interval, --threads, --epochs and --data may be\n"
             "given with it. --epochs: not fewer than the run's; more extend it,\n"
             "also a finished one (as if it had been started with them; the best\n"
             "model is tested again). --data: the same corpus (e.g. a moved\n"
             "folder). The best model is SAVE (CKPT without .ckpt), which must be\n"
             "the one this run saved; the corpus must be unchanged."},
};

#define NFLAGS ((int)(sizeof train_flags / sizeof train_flags[0]))
_Static_assert(sizeof train_flags / sizeof train_flags[0] <= CLI_MAX_FLAGS, "too many train flags");

/* ---- --help ------------------------------------------------------------------------------------ */
/* After the usage lines (print_usage). */
static const char help_head[] =
    "\n"
    "Trains a word-level language model on DIR/train.txt, DIR/valid.txt and DIR/test.txt exactly\n"
    "as PyTorch's examples/word_language_model/main.py: truncated BPTT, gradient clipping, plain\n"
    "SGD (AdamW with --use-optimizer); after every epoch the validation loss (batch size 10); the\n"
    "model is saved when it improves, otherwise lr /= 4. At the end the best model is evaluated\n"
    "on test.\n"
    "Ctrl-C stops after the current batch and evaluates the best saved model (twice: quit now);\n"
    "so do SIGTERM and SIGHUP. One run at a time may use a --save file: it is locked (SAVE.lock,\n"
    "naming the run's PID) until the run ends. An output is never an input, and --save and\n"
    "SAVE.ckpt replace only librnn models. Words longer than 1 MiB (librnn's RNN_LIMIT_WORD_BYTES)\n"
    "are refused, naming the file and line.\n"
    "\n";

static const char help_tail[] =
    "\n"
    "Vocabulary with --vocab-size or --min-count: id 0 is <unk>, then train.txt's words (<eos>\n"
    "included) by descending count, ties in order of first occurrence. With --adaptive-cutoffs\n"
    "(whose head must hold the frequent words) and without them: data.py's words of train,\n"
    "valid and test, with ids by descending count in train.txt, ties in order of first\n"
    "occurrence over train, valid and test (words missing from train.txt come last); with them,\n"
    "their order (<unk> stays id 0, in the head). Otherwise ids are data.py's. The start-up\n"
    "summary gives the vocabulary, the tokens of each file and how many became <unk>, the\n"
    "parameters (an adaptive softmax: each cluster's words and share of the training tokens),\n"
    "and the batches of an epoch, of validation and of test.\n"
    "Progress: every --log-interval batches a line on stdout (main.py's, plus tokens/s); when\n"
    "stderr is a terminal also a live progress bar there.\n";

const cli_command train_command = {"train", train_flags, NFLAGS, 22, help_head, help_tail};

/* The r-th flag that may be given with --resume, in their order (resume = 1, 2, ...); NULL after
   the last. */
static const cli_flag *resumable(int r)
{
    for (int i = 0; i < NFLAGS; i++)
        if (train_flags[i].resume == r + 1) return &train_flags[i];
    return NULL;
}

/* The r-th CLI_SHAPE flag; NULL after the last. */
static const cli_flag *shape(int r)
{
    for (int i = 0; i < NFLAGS; i++)
        if ((train_flags[i].what & CLI_SHAPE) && r-- == 0) return &train_flags[i];
    return NULL;
}

/* "--a<sep>--b..." of the flags pick(0), pick(1), ... in buf. */
static const char *flag_names(char *buf, size_t size, const char *sep, const cli_flag *(*pick)(int))
{
    size_t n = 0;
    buf[0] = 0;
    for (int r = 0; pick(r) && n < size; r++)
        n += (size_t)snprintf(buf + n, size - n, "%s--%s", r ? sep : "", pick(r)->name);
    return buf;
}

/* "usage: ..." for a fresh run and for --resume with the flags it allows, wrapped at 80 columns. */
static void print_usage(void)
{
    static const char lead[] = "       rnnlm train --resume SAVE.ckpt", indent[] = "                   ";
    fputs("usage: rnnlm train --data DIR [flags]\n", stdout);
    fputs(lead, stdout);
    size_t col = strlen(lead);
    for (int r = 0; resumable(r); r++) {
        const cli_flag *f = resumable(r);
        char item[64];
        size_t n = (size_t)snprintf(item, sizeof item, "[--%s %s]", f->name, f->arg);
        if (col + 1 + n > 80) {
            printf("\n%s%s", indent, item);
            col = strlen(indent) + n;
        } else {
            printf(" %s", item);
            col += 1 + n;
        }
    }
    fputc('\n', stdout);
}

int train_help(void)
{
    print_usage();
    return cli_help(&train_command);
}

/* ---- Parsing and checks ------------------------------------------------------------------------ */
int train_vocab_by_count(const train_args *a) { return a->vocab_size > 0 || a->min_count > 0; }

/* --adaptive-cutoffs LIST into a->num_cutoffs, a->cutoffs: comma-separated integers, strictly
   increasing, each at least 1, at most librnn's RNN_LIMIT_CUTOFFS of them (V is checked once the
   corpus is read: train_check_cutoffs). */
static int parse_cutoffs(train_args *a)
{
    const char *s = a->adaptive_cutoffs;
    int max = (int)cli_limit(RNN_LIMIT_CUTOFFS), n = 0;
    a->num_cutoffs = 0;
    memset(a->cutoffs, 0, sizeof a->cutoffs);
    for (const char *p = s;; p++) {
        char *end = NULL;
        errno = 0;
        long long x = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
        RETURN_ERROR_IF(x < 0 || (*end != ',' && *end != 0), CLI_USAGE,
                        "--adaptive-cutoffs: '%s' is not a comma-separated list of integers (e.g. 2000,10000)",
                        s);
        RETURN_ERROR_IF(n == max, CLI_USAGE,
                        "--adaptive-cutoffs: '%s' has more than %d cutoffs (librnn's RNN_LIMIT_CUTOFFS)", s, max);
        RETURN_ERROR_IF(x < 1, CLI_USAGE, "--adaptive-cutoffs: each cutoff must be at least 1, got %lld", x);
        RETURN_ERROR_IF(errno == ERANGE || x > cli_limit(RNN_LIMIT_DIM), CLI_USAGE,
                        "--adaptive-cutoffs: cutoff '%.*s' is larger than any vocabulary (librnn's "
                        "RNN_LIMIT_DIM %lld)", (int)(end - p), p, (long long)cli_limit(RNN_LIMIT_DIM));
        RETURN_ERROR_IF(n > 0 && x <= a->cutoffs[n - 1], CLI_USAGE,
                        "--adaptive-cutoffs must be strictly increasing, got %lld after %d", x, a->cutoffs[n - 1]);
        a->cutoffs[n++] = (int)x;
        if (*end == 0) break;
        p = end;
    }
    a->num_cutoffs = n;
    return CLI_OK;
}

/* The adaptive softmax's flags: --div-value and --head-bias only with --adaptive-cutoffs, not with
   --tied (as PyTorch's module), and every cluster's projection at least one unit (as librnn
   computes it: rnn__adaptive_proj). */
static int check_adaptive(train_args *a)
{
    a->num_cutoffs = 0;
    memset(a->cutoffs, 0, sizeof a->cutoffs);
    if (!a->adaptive_cutoffs) {
        RETURN_ERROR_IF(a->div_value != 0.0 || a->head_bias, CLI_USAGE, "%s is for the adaptive softmax: give "
                        "--adaptive-cutoffs too", a->div_value != 0.0 ? "--div-value" : "--head-bias");
        return CLI_OK;
    }
    RETURN_ERROR_IF(a->tied, CLI_USAGE,
                    "--tied cannot be used with --adaptive-cutoffs (the adaptive softmax has no weight of "
                    "the encoder's shape to tie, nor has PyTorch's module)");
    FORWARD_IF_ERROR(parse_cutoffs(a));
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.hidden_size = a->nhid, cfg.div_value = (float)a->div_value;
    double div = a->div_value != 0.0 ? a->div_value : 4.0;
    for (int i = 0; i < a->num_cutoffs; i++) {
        double p = rnn__adaptive_proj(&cfg, i);
        RETURN_ERROR_IF(!(p >= 1.0), CLI_USAGE,
                        "--div-value %g%s gives cluster %d a projection of floor(--nhid %d / %g^%d) = 0 units: "
                        "give a smaller --div-value, a larger --nhid or fewer cutoffs", div,
                        a->div_value != 0.0 ? "" : " (the default)", i, a->nhid, div, i + 1);
        RETURN_ERROR_IF(p > (double)cli_limit(RNN_LIMIT_DIM), CLI_USAGE,
                        "--div-value %g gives cluster %d a projection of floor(--nhid %d / %g^%d) units, more "
                        "than librnn's RNN_LIMIT_DIM %lld: give a larger --div-value", div, i, a->nhid, div,
                        i + 1, (long long)cli_limit(RNN_LIMIT_DIM));
    }
    return CLI_OK;
}

int train_check_cutoffs(const train_args *a, int V)
{
    int n = a->num_cutoffs;
    RETURN_ERROR_IF(n > 0 && a->cutoffs[n - 1] > V - 1, CLI_RUNTIME,
                    "--adaptive-cutoffs %s: the vocabulary has V = %d words, so every cutoff must be at most "
                    "V - 1 = %d (each cluster holds at least one word)", a->adaptive_cutoffs, V, V - 1);
    return CLI_OK;
}

int train_check(train_args *a)
{
    FORWARD_IF_ERROR(cli_require(&train_command, a));
    RETURN_ERROR_IF(strcmp(a->model, "Transformer") == 0, CLI_USAGE,
                    "--model Transformer is not available: librnn has PyTorch's recurrent models only "
                    "(LSTM, GRU, RNN_TANH, RNN_RELU; see docs/PYTORCH.md)");
    RETURN_ERROR_IF(rnn_cell_find(a->model, &a->cell) != RNN_OK, CLI_USAGE,
                    "--model must be LSTM, GRU, RNN_TANH or RNN_RELU, got '%s'", a->model);
    FORWARD_IF_ERROR(cli_check_batching(a->batching, a->bptt));
    a->mode = cli_batching_mode(a->batching);
    FORWARD_IF_ERROR(cli_check_chunk(a->batch_size, "--batch_size", a->bptt));
    FORWARD_IF_ERROR(cli_check_chunk(TRAIN_EVAL_BATCH, "the validation and test batch size", a->bptt));
    char names[256];
    RETURN_ERROR_IF(a->init && a->shape_given, CLI_USAGE,
                    "--init takes the model's cell, sizes and output layer from the checkpoint; drop %s",
                    flag_names(names, sizeof names, "/", shape));
    FORWARD_IF_ERROR(check_adaptive(a));
    RETURN_ERROR_IF(a->tied && a->emsize != a->nhid && !a->init, CLI_USAGE,
                    "--tied needs --emsize == --nhid (got %d and %d)", a->emsize, a->nhid);
    RETURN_ERROR_IF(a->init && train_vocab_by_count(a), CLI_USAGE,
                    "--init takes the model's vocabulary; drop --vocab-size/--min-count");
    /* main.py's --dry-run breaks after one batch; here validation and test are one batch too, so
       that a dry run over a large corpus is as quick as its name says */
    if (a->dry_run && (a->max_batches == 0 || a->max_batches > 1)) a->max_batches = 1;
    if (a->dry_run && (a->max_eval_batches == 0 || a->max_eval_batches > 1)) a->max_eval_batches = 1;
    return CLI_OK;
}

static int given(uint64_t seen, int i) { return (int)((seen >> i) & 1u); }

/* With --resume: only the resumable flags (and --resume) may be given. */
static int check_resume_flags(uint64_t seen)
{
    for (int i = 0; i < NFLAGS; i++) {
        const cli_flag *f = &train_flags[i];
        if (!given(seen, i) || f->resume > 0 || f->off == offsetof(train_args, resume)) continue;
        char names[256];
        RETURN_ERROR(CLI_USAGE,
                     "--resume continues with the checkpoint's flags: --%s cannot be given with it "
                     "(only %s)", f->name, flag_names(names, sizeof names, ", ", resumable));
    }
    return CLI_OK;
}

int train_parse(int argc, char **argv, train_args *a, uint64_t *seen, int *help)
{
    memset(a, 0, sizeof *a);
    FORWARD_IF_ERROR(cli_parse(&train_command, argc, argv, a, seen, help));
    if (*help) return CLI_OK;
    if (a->resume) return check_resume_flags(*seen);
    for (int i = 0; i < NFLAGS; i++)
        if (train_flags[i].what & CLI_SHAPE) a->shape_given |= given(*seen, i);
    return train_check(a);
}

int train_flags_valid(const train_args *a)
{
    for (int i = 0; i < NFLAGS; i++)
        if (train_flags[i].key && !cli_flag_valid(&train_flags[i], a)) return 0;
    return 1;
}

void train_override(train_args *ra, const train_args *a, uint64_t seen)
{
    for (int i = 0; i < NFLAGS; i++)
        if (train_flags[i].resume > 0 && given(seen, i)) cli_flag_copy(&train_flags[i], ra, a);
    ra->resume = a->resume;
}
