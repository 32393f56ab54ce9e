/*
 * cli_train.c -- `rnnlm train`: PyTorch's examples/word_language_model/main.py, with exact
 * checkpoints (--checkpoint-every) and --resume.
 *
 * A checkpoint (SAVE.ckpt) is the model saved with RNN_SAVE_STATE (weights, hidden state, dropout
 * generator) plus, as application data, the flags and the loop's position (train_pos; format in
 * cli_ckpt.c). SGD has no other state, so a resumed run repeats the uninterrupted one bit for bit
 * (given the same BLAS thread count). Checkpoints are written after every N-th batch (counting
 * over all epochs), after every epoch's validation (before that epoch's SAVE), and on Ctrl-C.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#define RNN_EXPERT_API    /* rnn_param_get_block: --init copies, and checkpoints hash, every weight */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_train.h"

/* Set by the SIGINT handler: training stops after the current batch (main.py's KeyboardInterrupt). */
static volatile sig_atomic_t g_stop = 0;

static const char train_help[] =
    "usage: rnnlm train --data DIR [flags]\n"
    "       rnnlm train --resume SAVE.ckpt [--checkpoint-every N] [--metrics FILE]\n"
    "                   [--log-interval N] [--threads N]\n"
    "\n"
    "Trains a word-level language model on DIR/train.txt, DIR/valid.txt and DIR/test.txt exactly\n"
    "as PyTorch's examples/word_language_model/main.py: truncated BPTT, gradient clipping, plain\n"
    "SGD; after every epoch the validation loss (batch size 10); the model is saved when it\n"
    "improves, otherwise lr /= 4. At the end the best model is evaluated on test.\n"
    "Ctrl-C stops after the current batch and evaluates the best saved model (twice: quit now).\n"
    "\n"
    "  --data DIR          corpus folder (required)\n"
    "  --model NAME        LSTM (default), GRU, RNN_TANH or RNN_RELU\n"
    "  --emsize N          size of word embeddings, default 200\n"
    "  --nhid N            hidden units per layer, default 200\n"
    "  --nlayers N         number of layers, default 2\n"
    "  --lr LR             initial learning rate, default 20\n"
    "  --clip C            gradient clipping (global norm), default 0.25\n"
    "  --epochs N          upper epoch limit, default 40\n"
    "  --batch_size N      batch size, default 20\n"
    "  --bptt N            sequence length, default 35\n"
    "  --dropout P         dropout in [0, 1), default 0.2\n"
    "  --tied              tie the word embedding and softmax weights (needs emsize == nhid)\n"
    "  --seed N            random seed (initialisation, dropout), default 1111\n"
    "  --log-interval N    report every N batches, default 200\n"
    "  --save FILE         where to save the best model (atomically), default model.rnn\n"
    "  --dry-run           one batch per epoch (a quick check of the whole pipeline)\n"
    "  --max-batches N     at most N batches per epoch\n"
    "  --threads N         threads, default one per CPU (librnn's own; OpenBLAS is kept to one)\n"
    "  --metrics FILE      JSON lines: one object per log interval, per epoch, and the test\n"
    "                      result (plot with tools/plot_metrics.py)\n"
    "  --init CHECKPOINT   start from this model's weights and vocabulary (its cell and sizes\n"
    "                      are used; the corpus is mapped onto its vocabulary, unknown words\n"
    "                      to <unk>)\n"
    "  --batching MODE     torch (main.py's batchify, default) or seed (the seed's\n"
    "                      bptt_batchify, also used for validation and test)\n"
    "  --checkpoint-every N\n"
    "                      every N batches, after every epoch and on Ctrl-C write a checkpoint\n"
    "                      for --resume to SAVE.ckpt (SAVE: the --save file), atomically;\n"
    "                      0: none (default)\n"
    "  --resume CKPT       continue the run saved in CKPT (a SAVE.ckpt) exactly where it stopped,\n"
    "                      with its flags; the result is bit-identical to an uninterrupted run\n"
    "                      (same BLAS thread count). Only --checkpoint-every, --metrics\n"
    "                      (appended to), --log-interval and --threads may be given with it. The\n"
    "                      best model is SAVE (CKPT without .ckpt), which must be the one this\n"
    "                      run saved; the corpus in the run's --data folder must be unchanged.\n"
    "\n"
    "Progress: every --log-interval batches a line on stdout (main.py's, plus tokens/s); when\n"
    "stderr is a terminal also a live progress bar there.\n";

typedef struct trainer {
    const train_args *a;
    rnn_model *m;
    corpus c;
    corpus_batches train, valid, test;
    int32_t *tok, *tgt;
    FILE *metrics;
    train_pos pos;   /* where the run stands (the checkpoint's state besides the model) */
    int bar;
    size_t nbatches; /* batches per epoch */
    char *ckpt;      /* SAVE.ckpt */
    char *abs_data, *abs_save, *abs_metrics, *abs_init; /* the paths stored in checkpoints */
    /* this process's part of the current log interval and epoch (timing and the progress bar) */
    double iv_start, iv_tokens, ep_start, ep_tokens, bar_drawn;
    size_t iv_here, ep_first;
} trainer;

/* ---- Flags ------------------------------------------------------------------------------------- */
static void train_defaults(train_args *a)
{
    memset(a, 0, sizeof *a);
    a->model = "LSTM", a->save = "model.rnn", a->batching = "torch";
    a->emsize = 200, a->nhid = 200, a->nlayers = 2, a->epochs = 40, a->batch_size = 20;
    a->bptt = 35, a->log_interval = 200, a->lr = 20, a->clip = 0.25, a->dropout = 0.2;
    a->seed = 1111;
}

static int check_train_args(train_args *a)
{
    if (!a->data) return cli_error(CLI_USAGE, "train: --data DIR is required");
    if (rnn_cell_find(a->model, &a->cell) != RNN_OK)
        return cli_error(CLI_USAGE, "--model must be LSTM, GRU, RNN_TANH or RNN_RELU, got '%s'",
                         a->model);
    a->mode = cli_batching_mode(a->batching);
    if (a->mode < 0)
        return cli_error(CLI_USAGE, "--batching must be torch or seed, got '%s'", a->batching);
    if (a->tied && a->emsize != a->nhid && !a->init)
        return cli_error(CLI_USAGE, "--tied needs --emsize == --nhid (got %d and %d)", a->emsize,
                         a->nhid);
    if (a->init && a->shape_given)
        return cli_error(CLI_USAGE, "--init takes the model's cell and sizes from the checkpoint; "
                                    "drop --model/--emsize/--nhid/--nlayers/--tied");
    if (a->dry_run && (a->max_batches == 0 || a->max_batches > 1)) a->max_batches = 1;
    return CLI_OK;
}

/* The flags that may be given with --resume (they override the checkpoint's). */
typedef struct train_given {
    int checkpoint_every, metrics, log_interval, threads;
} train_given;

static int parse_train(int argc, char **argv, train_args *a, train_given *g, int *help)
{
    train_defaults(a);
    cli_opt o[] = {
        {"data", CLI_STR, &a->data, 0, 0, 0, 0, 0},
        {"model", CLI_STR, &a->model, 0, 0, 0, 0, 0},
        {"emsize", CLI_INT, &a->emsize, 1, INT32_MAX, 0, 0, 0},
        {"nhid", CLI_INT, &a->nhid, 1, INT32_MAX, 0, 0, 0},
        {"nlayers", CLI_INT, &a->nlayers, 1, INT32_MAX, 0, 0, 0},
        {"tied", CLI_FLAG, &a->tied, 0, 0, 0, 0, 0},
        {"lr", CLI_REAL, &a->lr, 0, INFINITY, 0, 0, 0},
        {"clip", CLI_REAL, &a->clip, 0, INFINITY, 1, 0, 0},
        {"epochs", CLI_INT, &a->epochs, 1, INT32_MAX, 0, 0, 0},
        {"batch_size", CLI_INT, &a->batch_size, 1, INT32_MAX, 0, 0, 0},
        {"bptt", CLI_INT, &a->bptt, 1, INT32_MAX, 0, 0, 0},
        {"dropout", CLI_REAL, &a->dropout, 0, 1, 0, 1, 0},
        {"seed", CLI_I64, &a->seed, -9.2e18, 9.2e18, 0, 0, 0},
        {"log-interval", CLI_INT, &a->log_interval, 1, INT32_MAX, 0, 0, 0},
        {"save", CLI_STR, &a->save, 0, 0, 0, 0, 0},
        {"dry-run", CLI_FLAG, &a->dry_run, 0, 0, 0, 0, 0},
        {"threads", CLI_INT, &a->threads, 1, cli_max_threads(), 0, 0, 0},
        {"metrics", CLI_STR, &a->metrics, 0, 0, 0, 0, 0},
        {"init", CLI_STR, &a->init, 0, 0, 0, 0, 0},
        {"max-batches", CLI_INT, &a->max_batches, 1, INT32_MAX, 0, 0, 0},
        {"batching", CLI_STR, &a->batching, 0, 0, 0, 0, 0},
        {"checkpoint-every", CLI_INT, &a->checkpoint_every, 0, INT32_MAX, 0, 0, 0},
        {"resume", CLI_STR, &a->resume, 0, 0, 0, 0, 0},
    };
    int n = (int)(sizeof o / sizeof o[0]);
    int rc = cli_parse("train", argc, argv, o, n, help);
    if (rc != CLI_OK || *help) return rc;
    g->checkpoint_every = cli_find(o, n, "checkpoint-every")->seen;
    g->metrics = cli_find(o, n, "metrics")->seen;
    g->log_interval = cli_find(o, n, "log-interval")->seen;
    g->threads = cli_find(o, n, "threads")->seen;
    if (a->resume) {
        static const char *const allowed[] = {"resume", "checkpoint-every", "metrics", "log-interval",
                                              "threads"};
        for (int i = 0; i < n; i++) {
            int ok = !o[i].seen;
            for (int j = 0; j < 5 && !ok; j++) ok = strcmp(o[i].name, allowed[j]) == 0;
            if (!ok)
                return cli_error(CLI_USAGE, "--resume continues with the checkpoint's flags: --%s "
                                            "cannot be given with it (only --checkpoint-every, "
                                            "--metrics, --log-interval, --threads)", o[i].name);
        }
        return CLI_OK;
    }
    static const char *const shape[] = {"model", "emsize", "nhid", "nlayers", "tied"};
    for (int i = 0; i < 5; i++) a->shape_given |= cli_find(o, n, shape[i])->seen;
    return check_train_args(a);
}

/* ---- Setup ------------------------------------------------------------------------------------- */
/* dir/name into a malloc'd string. */
static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return p;
}

/* The three files of dir mapped onto an existing vocabulary v (taken over by c). */
static int load_corpus_with(corpus *c, const char *dir, corpus_vocab *v)
{
    static const char *const names[3] = {"train.txt", "valid.txt", "test.txt"};
    int32_t **arrays[3] = {&c->train, &c->valid, &c->test};
    size_t *counts[3] = {&c->n_train, &c->n_valid, &c->n_test};
    char err[CORPUS_ERR_SIZE];
    c->vocab = v;
    for (int i = 0; i < 3; i++) {
        char *path = join_path(dir, names[i]);
        if (!path) return cli_error(CLI_RUNTIME, "out of memory");
        int rc = corpus_tokenize_file(v, path, 0, arrays[i], counts[i], err, sizeof err);
        free(path);
        if (rc != RNN_OK) return cli_error(CLI_RUNTIME, "%s", err);
    }
    return CLI_OK;
}

/* Gives the model the corpus vocabulary's words. */
static int set_model_vocab(rnn_model *m, const corpus_vocab *v)
{
    int32_t n = vocab_size(v);
    const char **words = malloc((size_t)n * sizeof *words);
    if (!words) return cli_error(CLI_RUNTIME, "out of memory");
    for (int32_t i = 0; i < n; i++) words[i] = vocab_word(v, i);
    int rc = rnn_vocab_set(m, words, (int)n);
    free(words);
    if (rc != RNN_OK) return cli_error(CLI_RUNTIME, "cannot set the vocabulary: %s", rnn_model_errmsg(m));
    return CLI_OK;
}

static int create_model(trainer *t, const rnn_config *cfg)
{
    char err[256] = "";
    int rc = rnn_model_create(&t->m, cfg, NULL, err, sizeof err);
    if (rc != RNN_OK) /* no handle: the reason is in err */
        return cli_error(rc == RNN_ERR_INVALID ? CLI_USAGE : CLI_RUNTIME, "cannot create the model: %s",
                         err[0] ? err : rnn_status_string(rc));
    return set_model_vocab(t->m, t->c.vocab);
}

/* A fresh model from the flags over a fresh vocabulary (main.py). */
static int setup_new(trainer *t)
{
    const train_args *a = t->a;
    char err[CORPUS_ERR_SIZE];
    if (corpus_load_dir(&t->c, a->data, err, sizeof err) != RNN_OK)
        return cli_error(CLI_RUNTIME, "%s", err);
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = a->cell, cfg.vocab_size = (int)vocab_size(t->c.vocab);
    cfg.emb_size = a->emsize, cfg.hidden_size = a->nhid, cfg.num_layers = a->nlayers;
    cfg.dropout = (float)a->dropout, cfg.tied = a->tied, cfg.seed = (uint64_t)a->seed;
    return create_model(t, &cfg);
}

/* --init: the checkpoint's configuration, weights and vocabulary; --dropout and --seed apply. */
static int setup_init(trainer *t)
{
    const train_args *a = t->a;
    rnn_model *init = NULL;
    corpus_vocab *v = NULL;
    int rc = cli_load_model(a->init, &init);
    if (rc == CLI_OK) rc = cli_model_vocab(init, &v);
    if (rc == CLI_OK) rc = load_corpus_with(&t->c, a->data, v);
    else vocab_free(v);
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    if (rc == CLI_OK && rnn_model_get_config(init, &cfg) != RNN_OK)
        rc = cli_error(CLI_RUNTIME, "%s: %s", a->init, rnn_model_errmsg(init));
    if (rc == CLI_OK) {
        cfg.dropout = (float)a->dropout, cfg.seed = (uint64_t)a->seed;
        rc = create_model(t, &cfg);
    }
    if (rc == CLI_OK) {
        float *src = NULL, *dst = NULL;
        size_t ns = 0, nd = 0;
        rnn_param_get_block(init, &src, NULL, &ns);
        rnn_param_get_block(t->m, &dst, NULL, &nd);
        if (ns != nd || !src || !dst) rc = cli_error(CLI_RUNTIME, "%s: parameter count mismatch", a->init);
        else memcpy(dst, src, ns * sizeof *dst);
    }
    rnn_model_free(init);
    return rc;
}

static int setup_batches(trainer *t)
{
    const train_args *a = t->a;
    char err[CORPUS_ERR_SIZE];
    struct {
        corpus_batches *b;
        const int32_t *ids;
        size_t n;
        int batch;
        const char *name;
    } s[3] = {{&t->train, t->c.train, t->c.n_train, a->batch_size, "train.txt"},
              {&t->valid, t->c.valid, t->c.n_valid, 10, "valid.txt"},
              {&t->test, t->c.test, t->c.n_test, 10, "test.txt"}};
    for (int i = 0; i < 3; i++)
        if (corpus_batches_init(s[i].b, s[i].ids, s[i].n, s[i].batch, a->bptt, a->mode, err,
                                sizeof err) != RNN_OK)
            return cli_error(CLI_RUNTIME, "%s/%s is too short: %s", a->data, s[i].name,
                             strncmp(err, "batching: ", 10) == 0 ? err + 10 : err);
    t->nbatches = t->train.num_chunks;
    if (a->max_batches > 0 && (size_t)a->max_batches < t->nbatches) t->nbatches = (size_t)a->max_batches;
    size_t cap = (size_t)a->batch_size * (size_t)a->bptt;
    t->tok = malloc(cap * sizeof *t->tok);
    t->tgt = malloc(cap * sizeof *t->tgt);
    if (!t->tok || !t->tgt) return cli_error(CLI_RUNTIME, "out of memory");
    return CLI_OK;
}

/* Fails early when --save cannot be written (instead of after the first epoch). */
static int check_save_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_error(CLI_RUNTIME, "cannot save to %s: it is a folder", path);
    char *dir = strdup(path);
    if (!dir) return cli_error(CLI_RUNTIME, "out of memory");
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
    int ok = access(d, W_OK | X_OK) == 0;
    int rc = ok ? CLI_OK : cli_error(CLI_RUNTIME, "cannot save to %s: folder %s is not writable",
                                     path, d);
    free(dir);
    return rc;
}

/* path as an absolute path (for the checkpoint): realpath, or realpath of its folder + its name
   when it does not exist yet, or a copy of path. NULL path: NULL. */
static char *abs_path(const char *path)
{
    if (!path) return NULL;
    char *r = realpath(path, NULL);
    if (r) return r;
    char *dir = strdup(path);
    if (!dir) return NULL;
    char *slash = strrchr(dir, '/');
    const char *base = slash ? path + (slash - dir) + 1 : path;
    const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
    char *rd = *base ? realpath(d, NULL) : NULL;
    free(dir);
    if (!rd) return strdup(path);
    char *out = join_path(rd, base);
    free(rd);
    return out;
}

/* ckpt_hash of n 32-bit words, each as 4 little-endian bytes (the same on every machine). */
static uint64_t hash_words(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, b + 4 * i, 4);
        unsigned char le[4] = {(unsigned char)w, (unsigned char)(w >> 8), (unsigned char)(w >> 16),
                               (unsigned char)(w >> 24)};
        h = ckpt_hash(h, le, 4);
    }
    return h;
}

/* The identity of a model's weights (the best model's, in checkpoints). */
static uint64_t params_hash(const rnn_model *m)
{
    float *data = NULL;
    size_t n = 0;
    if (rnn_param_get_block(m, &data, NULL, &n) != RNN_OK) return 0;
    return hash_words(CKPT_HASH_INIT, data, n);
}

/* The identity of the token ids the run trains, validates and tests on. */
static void corpus_identity(const corpus *c, train_pos *p)
{
    uint64_t h = CKPT_HASH_INIT;
    h = hash_words(h, c->train, c->n_train);
    h = hash_words(h, c->valid, c->n_valid);
    h = hash_words(h, c->test, c->n_test);
    p->corpus_hash = h;
    p->n_train = c->n_train, p->n_valid = c->n_valid, p->n_test = c->n_test;
}

/* The checkpoint path SAVE.ckpt and the absolute paths stored in checkpoints. */
static int setup_paths(trainer *t)
{
    const train_args *a = t->a;
    t->ckpt = malloc(strlen(a->save) + 6);
    if (t->ckpt) sprintf(t->ckpt, "%s.ckpt", a->save);
    t->abs_data = abs_path(a->data), t->abs_save = abs_path(a->save);
    t->abs_metrics = abs_path(a->metrics), t->abs_init = abs_path(a->init);
    if (!t->ckpt || !t->abs_data || !t->abs_save || (a->metrics && !t->abs_metrics) ||
        (a->init && !t->abs_init))
        return cli_error(CLI_RUNTIME, "out of memory");
    return CLI_OK;
}

/* What both a fresh run and a resumed one set up after the model and the corpus. */
static int setup_rest(trainer *t, const char *metrics_mode)
{
    const train_args *a = t->a;
    int rc = setup_batches(t);
    if (rc == CLI_OK) rc = check_save_dir(a->save);
    if (rc == CLI_OK) rc = setup_paths(t);
    if (rc == CLI_OK && a->metrics) {
        t->metrics = fopen(a->metrics, metrics_mode);
        if (!t->metrics)
            rc = cli_error(CLI_RUNTIME, "cannot write %s: %s", a->metrics, strerror(errno));
    }
    t->bar = isatty(STDERR_FILENO);
    return rc;
}

static int setup(trainer *t)
{
    const train_args *a = t->a;
    int rc = a->init ? setup_init(t) : setup_new(t);
    if (rc == CLI_OK) rc = setup_rest(t, "w");
    memset(&t->pos, 0, sizeof t->pos);
    t->pos.epoch = 1, t->pos.lr = a->lr;
    corpus_identity(&t->c, &t->pos);
    t->pos.nbatches = t->nbatches;
    return rc;
}

static void teardown(trainer *t)
{
    if (t->metrics) fclose(t->metrics);
    rnn_model_free(t->m);
    corpus_free(&t->c);
    free(t->tok);
    free(t->tgt);
    free(t->ckpt);
    free(t->abs_data);
    free(t->abs_save);
    free(t->abs_metrics);
    free(t->abs_init);
}

/* ---- Checkpoints -------------------------------------------------------------------------------- */
/*
 * Writes SAVE.ckpt: the model with its hidden state and generator (RNN_SAVE_STATE) and, as its
 * application data, the flags and t->pos (cli_ckpt.c). The --save files carry no application data.
 */
static int write_checkpoint(trainer *t)
{
    train_args st = *t->a;
    st.data = t->abs_data, st.save = t->abs_save, st.metrics = t->abs_metrics, st.init = t->abs_init;
    st.resume = NULL;
    size_t len = 0;
    char *blob = ckpt_encode(&st, &t->pos, &len);
    if (!blob) return cli_error(CLI_RUNTIME, "out of memory");
    int rc = rnn_model_save(t->m, t->ckpt, RNN_SAVE_STATE, blob, len);
    const char *why = rc == RNN_OK ? "" : rnn_model_errmsg(t->m);
    int status = rc == RNN_OK ? CLI_OK
                              : cli_error(CLI_RUNTIME, "cannot write the checkpoint %s: %s", t->ckpt, why);
    free(blob);
    return status;
}

/* The flags given with --resume replace the checkpoint's. */
static void apply_overrides(train_args *ra, const train_args *a, const train_given *g)
{
    if (g->checkpoint_every) ra->checkpoint_every = a->checkpoint_every;
    if (g->metrics) ra->metrics = a->metrics;
    if (g->log_interval) ra->log_interval = a->log_interval;
    if (g->threads) ra->threads = a->threads;
    ra->resume = a->resume;
}

/* SAVE from the checkpoint's path: CKPT without its ".ckpt" (else the path stored in it). */
static void resume_save_path(train_args *ra, char *store_save)
{
    size_t n = strlen(ra->resume);
    if (n > 5 && strcmp(ra->resume + n - 5, ".ckpt") == 0) {
        memcpy(store_save, ra->resume, n - 5);
        store_save[n - 5] = 0;
        ra->save = store_save;
    }
}

/* Loads CKPT and its training state into *m, *ra (flags) and *pos. */
static int load_checkpoint(const train_args *a, const train_given *g, rnn_model **m, train_args *ra,
                           train_pos *pos, char **store, char **save_buf)
{
    const char *path = a->resume;
    int rc = cli_load_model(path, m);
    if (rc != CLI_OK) return rc;
    const void *data = NULL;
    size_t len = 0;
    char err[256];
    rnn_model_get_app_data(*m, &data, &len); /* ckpt_decode copies it; --save files never carry it */
    if (ckpt_decode(data, len, ra, pos, store, err, sizeof err) != 0)
        return cli_error(CLI_RUNTIME, "%s is not a checkpoint of rnnlm train (--checkpoint-every): %s",
                         path, err);
    apply_overrides(ra, a, g);
    *save_buf = malloc(strlen(path) + 1);
    if (!*save_buf) return cli_error(CLI_RUNTIME, "out of memory");
    resume_save_path(ra, *save_buf);
    ra->shape_given = 0;
    /* the stored flags were valid when written; refuse a blob that was altered */
    int bad = ra->emsize < 1 || ra->nhid < 1 || ra->nlayers < 1 || ra->epochs < 1 ||
              ra->batch_size < 1 || ra->bptt < 1 || ra->log_interval < 1 || ra->max_batches < 0 ||
              ra->checkpoint_every < 0 || ra->threads < 0 || !(ra->clip > 0) || !(ra->lr >= 0) ||
              !(ra->dropout >= 0 && ra->dropout < 1) || pos->epoch < 1 ||
              pos->epoch > ra->epochs + 1 || pos->batch > pos->nbatches || !isfinite(pos->lr);
    if (bad) return cli_error(CLI_RUNTIME, "%s: the training state holds impossible values", path);
    if (check_train_args(ra) != CLI_OK) return CLI_RUNTIME;
    int batch = 0;
    rnn_model_get_batch(*m, &batch);
    if (pos->batch > 0 && pos->batch < pos->nbatches && batch != ra->batch_size)
        return cli_error(CLI_RUNTIME, "%s holds no hidden state for batch size %d", path,
                         ra->batch_size);
    return CLI_OK;
}

/*
 * The best model so far must be SAVE, as the checkpoint records it (by the hash of its weights).
 * The checkpoint written at the end of an epoch comes before that epoch's SAVE, so when a run was
 * killed between the two, the checkpoint's own weights are the best model: SAVE is written again
 * from them. Anything else (SAVE missing or changed) is an error.
 */
static int check_best(trainer *t)
{
    const train_pos *p = &t->pos;
    const char *save = t->a->save;
    if (!p->saved) return CLI_OK; /* no validation yet: SAVE is written at the end of epoch 1 */
    rnn_model *best = NULL;
    char err[256];
    int same = rnn_model_load(&best, save, NULL, 0, err, sizeof err) == RNN_OK &&
               params_hash(best) == p->best_hash;
    rnn_model_free(best);
    if (same) return CLI_OK;
    if (params_hash(t->m) == p->best_hash) {
        if (rnn_model_save(t->m, save, 0, NULL, 0) != RNN_OK)
            return cli_error(CLI_RUNTIME, "cannot save %s: %s", save, rnn_model_errmsg(t->m));
        printf("| resume: wrote the best model %s again from the checkpoint\n", save);
        return CLI_OK;
    }
    return cli_error(CLI_RUNTIME, "cannot resume: %s is not the best model this run saved (it is "
                                  "missing or was changed since the checkpoint)", save);
}

/* --resume: the model, generator and hidden state from CKPT; the corpus as it was. */
static int setup_resume(trainer *t)
{
    const train_args *a = t->a;
    corpus_vocab *v = NULL;
    int rc = cli_model_vocab(t->m, &v);
    if (rc == CLI_OK) rc = load_corpus_with(&t->c, a->data, v);
    else vocab_free(v);
    if (rc == CLI_OK) {
        train_pos now = t->pos;
        corpus_identity(&t->c, &now);
        if (now.corpus_hash != t->pos.corpus_hash || now.n_train != t->pos.n_train ||
            now.n_valid != t->pos.n_valid || now.n_test != t->pos.n_test)
            rc = cli_error(CLI_RUNTIME, "cannot resume: the corpus in %s changed since the checkpoint",
                           a->data);
    }
    if (rc == CLI_OK) rc = setup_rest(t, "a");
    if (rc == CLI_OK && t->nbatches != t->pos.nbatches)
        rc = cli_error(CLI_RUNTIME, "cannot resume: %zu batches per epoch, the checkpoint has %llu",
                       t->nbatches, (unsigned long long)t->pos.nbatches);
    if (rc == CLI_OK) rc = check_best(t);
    if (rc == CLI_OK) {
        const train_pos *p = &t->pos;
        if (p->epoch > a->epochs)
            printf("| resume: %s: training ended (%d epochs); testing the best model\n",
                   a->resume, a->epochs);
        else
            printf("| resume: %s: epoch %d, %llu/%zu batches done (%llu in all), lr %.2f\n",
                   a->resume, p->epoch, (unsigned long long)p->batch, t->nbatches,
                   (unsigned long long)p->step, p->lr);
        fflush(stdout);
    }
    return rc;
}

/* ---- Progress ---------------------------------------------------------------------------------- */
static void bar_clear(const trainer *t)
{
    if (t->bar) fputs("\r\033[K", stderr);
}

static void format_eta(double s, char *buf, size_t n)
{
    long v = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (v >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
    else snprintf(buf, n, "%ld:%02ld", v / 60, v % 60);
}

/* The live line on stderr: batch i/n, %, loss, ppl, lr, tokens/s, ETA (at most every 0.1 s). */
static void bar_draw(trainer *t, int epoch, size_t done, int force)
{
    double now = cli_now();
    if (!t->bar || (!force && now - t->bar_drawn < 0.1)) return;
    t->bar_drawn = now;
    const train_pos *p = &t->pos;
    double el = now - t->ep_start, loss = p->iv_n ? p->iv_loss / (double)p->iv_n : p->last_loss;
    char bar[21], eta[32];
    size_t fill = done * 20 / t->nbatches, here = done - t->ep_first;
    for (size_t i = 0; i < 20; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[20] = 0;
    format_eta(here ? el / (double)here * (double)(t->nbatches - done) : 0, eta, sizeof eta);
    fprintf(stderr,
            "\r\033[Kepoch %d [%s] %zu/%zu %3.0f%% | loss %5.2f | ppl %8.2f | lr %.2f"
            " | %.0f tok/s | ETA %s",
            epoch, bar, done, t->nbatches, 100.0 * (double)done / (double)t->nbatches, loss,
            exp(loss), p->lr, t->ep_tokens / (el > 0 ? el : 1e-9), eta);
    fflush(stderr);
}

/* main.py's total batch count in the log line (len(train_data) // bptt), or the --max-batches cut. */
static size_t logged_total(const trainer *t)
{
    if (t->nbatches < t->train.num_chunks) return t->nbatches;
    if (t->train.mode == CORPUS_BATCH_MAIN) return t->train.stream_len / (size_t)t->train.bptt;
    return t->train.num_chunks;
}

/* main.py's log line (+ tokens/s), and a metrics record. The loss covers the whole interval (also
   the batches before a resume); the timings only this process's part of it. */
static void log_interval(trainer *t, int epoch, size_t batch)
{
    train_pos *p = &t->pos;
    double now = cli_now(), el = now - t->iv_start;
    double loss = p->iv_loss / (double)p->iv_n, tps = t->iv_tokens / (el > 0 ? el : 1e-9);
    double ms = t->iv_here ? el * 1000.0 / (double)t->iv_here : 0.0;
    bar_clear(t);
    printf("| epoch %3d | %5zu/%5zu batches | lr %02.2f | ms/batch %5.2f | loss %5.2f | ppl %8.2f"
           " | tokens/s %7.0f\n",
           epoch, batch, logged_total(t), p->lr, ms, loss, exp(loss), tps);
    fflush(stdout);
    if (t->metrics) {
        fprintf(t->metrics, "{\"epoch\":%d,\"batch\":%zu,", epoch, batch);
        cli_json_num(t->metrics, "loss", loss, 0);
        cli_json_num(t->metrics, "ppl", exp(loss), 0);
        cli_json_num(t->metrics, "lr", p->lr, 0);
        cli_json_num(t->metrics, "tokens_per_s", tps, 1);
        fputs("}\n", t->metrics);
        fflush(t->metrics);
    }
    p->last_loss = loss;
    p->iv_loss = 0.0, p->iv_n = 0;
    t->iv_tokens = 0.0, t->iv_here = 0, t->iv_start = now;
}

/* ---- Training ---------------------------------------------------------------------------------- */
static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* One batch: forward, zero_grad, backward, clip, SGD. */
static int train_step(trainer *t, int epoch, size_t k)
{
    rnn_model *m = t->m;
    int steps = 0, stride = 0, b = t->a->batch_size;
    const int32_t *tok = NULL, *tgt = NULL;
    double loss = 0.0, norm = 0.0;
    int rc = cli_chunk(&t->train, k, t->tok, t->tgt, &tok, &tgt, &steps, &stride);
    if (rc == RNN_OK) rc = rnn_forward(m, tok, tgt, b, steps, stride, &loss);
    if (rc == RNN_OK && !isfinite(loss))
        return cli_error(CLI_RUNTIME, "training diverged at epoch %d, batch %zu: the loss is not finite "
                                      "(try a lower --lr)", epoch, k);
    if (rc == RNN_OK) rc = rnn_zero_grad(m);
    if (rc == RNN_OK) rc = rnn_backward(m);
    if (rc == RNN_OK) rc = rnn_clip_grad_norm(m, (float)t->a->clip, &norm);
    if (rc == RNN_ERR_NUMERIC)
        return cli_error(CLI_RUNTIME, "training diverged at epoch %d, batch %zu: the gradient norm "
                                      "is not finite (try a lower --lr)", epoch, k);
    if (rc == RNN_OK) rc = rnn_sgd_step(m, (float)t->pos.lr);
    if (rc != RNN_OK)
        return cli_error(CLI_RUNTIME, "training failed at epoch %d, batch %zu: %s (%s)", epoch, k,
                         rnn_status_string(rc), rnn_model_errmsg(m));
    t->pos.iv_loss += loss, t->pos.iv_n++, t->pos.batch = k + 1, t->pos.step++;
    t->iv_here++;
    t->iv_tokens += (double)b * steps, t->ep_tokens += (double)b * steps;
    return CLI_OK;
}

/* main.py's train(): the rest of the epoch t->pos.epoch from batch t->pos.batch (stops early after
   a SIGINT); a checkpoint every --checkpoint-every batches. */
static int train_epoch(trainer *t)
{
    train_pos *p = &t->pos;
    int epoch = p->epoch, every = t->a->checkpoint_every;
    if (p->batch == 0) { /* a resumed epoch goes on with the checkpoint's hidden state */
        if (rnn_model_reset_hidden(t->m, t->a->batch_size) != RNN_OK)
            return cli_error(CLI_RUNTIME, "%s", rnn_model_errmsg(t->m));
        p->iv_loss = 0.0, p->iv_n = 0;
    }
    t->iv_tokens = t->ep_tokens = 0.0, t->iv_here = 0;
    t->iv_start = t->ep_start = cli_now();
    t->ep_first = (size_t)p->batch;
    for (size_t k = (size_t)p->batch; k < t->nbatches && !g_stop; k++) {
        int rc = train_step(t, epoch, k);
        if (rc == CLI_OK && k % (size_t)t->a->log_interval == 0 && k > 0) log_interval(t, epoch, k);
        if (rc == CLI_OK && every > 0 && p->step % (uint64_t)every == 0) rc = write_checkpoint(t);
        if (rc != CLI_OK) {
            bar_clear(t);
            return rc;
        }
        bar_draw(t, epoch, k + 1, k + 1 == t->nbatches);
    }
    bar_clear(t);
    return CLI_OK;
}

static void print_rule(char c)
{
    char line[90];
    memset(line, c, 89);
    line[89] = 0;
    puts(line);
}

/*
 * Validation, the epoch line, save-or-decay (main.py's epoch tail); moves to the next epoch. With
 * checkpoints, the checkpoint of the next epoch's start is written before SAVE (see check_best).
 */
static int end_epoch(trainer *t, double start)
{
    train_pos *p = &t->pos;
    int epoch = p->epoch;
    double val = 0.0;
    int rc = cli_evaluate(t->m, &t->valid, &val, NULL);
    if (rc != CLI_OK) return rc;
    if (!isfinite(val))
        return cli_error(CLI_RUNTIME, "training diverged at epoch %d: the validation loss is not finite "
                                      "(%s was not written)", epoch, t->a->save);
    double secs = cli_now() - start;
    print_rule('-');
    printf("| end of epoch %3d | time: %5.2fs | valid loss %5.2f | valid ppl %8.2f\n", epoch, secs,
           val, exp(val));
    print_rule('-');
    fflush(stdout);
    if (t->metrics) {
        fprintf(t->metrics, "{\"epoch\":%d,", epoch);
        cli_json_num(t->metrics, "valid_loss", val, 0);
        cli_json_num(t->metrics, "valid_ppl", exp(val), 0);
        cli_json_num(t->metrics, "lr", p->lr, 0);
        cli_json_num(t->metrics, "seconds", secs, 1);
        fputs("}\n", t->metrics);
        fflush(t->metrics);
    }
    int improved = !p->saved || val < p->best;
    if (improved) p->best = val, p->saved = 1, p->best_hash = params_hash(t->m);
    else p->lr /= 4.0;
    p->epoch++, p->batch = 0;
    if (t->a->checkpoint_every > 0 && (rc = write_checkpoint(t)) != CLI_OK) return rc;
    if (improved && rnn_model_save(t->m, t->a->save, 0, NULL, 0) != RNN_OK)
        return cli_error(CLI_RUNTIME, "cannot save %s: %s", t->a->save, rnn_model_errmsg(t->m));
    return CLI_OK;
}

static int train_loop(trainer *t)
{
    while (t->pos.epoch <= t->a->epochs && !g_stop) {
        double start = cli_now();
        int rc = train_epoch(t);
        if (rc == CLI_OK && !g_stop) rc = end_epoch(t, start);
        if (rc != CLI_OK) return rc;
    }
    if (g_stop) {
        if (t->a->checkpoint_every > 0) {
            int rc = write_checkpoint(t);
            if (rc != CLI_OK) return rc;
        }
        print_rule('-');
        if (t->a->checkpoint_every > 0)
            printf("Exiting from training early (continue with --resume %s)\n", t->ckpt);
        else
            puts("Exiting from training early");
        fflush(stdout);
    }
    return CLI_OK;
}

/* Loads the best saved model and evaluates it on test (main.py's last lines). */
static int final_test(trainer *t)
{
    if (!t->pos.saved)
        return cli_error(CLI_RUNTIME, "interrupted before the first epoch ended: no model saved");
    rnn_model_free(t->m);
    t->m = NULL;
    int rc = cli_load_model(t->a->save, &t->m);
    double loss = 0.0;
    if (rc == CLI_OK) rc = cli_evaluate(t->m, &t->test, &loss, NULL);
    if (rc != CLI_OK) return rc;
    print_rule('=');
    printf("| End of training | test loss %5.2f | test ppl %8.2f\n", loss, exp(loss));
    print_rule('=');
    fflush(stdout);
    if (t->metrics) {
        fputc('{', t->metrics);
        cli_json_num(t->metrics, "test_loss", loss, 0);
        cli_json_num(t->metrics, "test_ppl", exp(loss), 1);
        fputs("}\n", t->metrics);
        if (fflush(t->metrics) != 0) return cli_error(CLI_RUNTIME, "cannot write %s", t->a->metrics);
    }
    return CLI_OK;
}

/* Trains (t->a, t->pos and, for a resume, t->m set up), then tests the best model. */
static int run(trainer *t)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    int rc = cli_set_threads(t->m, t->a->threads);
    if (rc != CLI_OK) return rc;
    sigaction(SIGINT, &sa, &old);
    rc = train_loop(t);
    sigaction(SIGINT, &old, NULL);
    if (rc == CLI_OK) rc = final_test(t);
    return rc;
}

static int run_train(const train_args *a)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.a = a;
    int rc = setup(&t);
    if (rc == CLI_OK) rc = run(&t);
    teardown(&t);
    return rc;
}

/* --resume CKPT: the checkpoint's flags (with the given overrides), model and position. */
static int run_resume(const train_args *a, const train_given *g)
{
    trainer t;
    memset(&t, 0, sizeof t);
    train_args ra;
    char *store = NULL, *save_buf = NULL;
    int rc = load_checkpoint(a, g, &t.m, &ra, &t.pos, &store, &save_buf);
    if (rc == CLI_OK) {
        t.a = &ra;
        rc = setup_resume(&t);
    }
    if (rc == CLI_OK) rc = run(&t);
    teardown(&t);
    free(store);
    free(save_buf);
    return rc;
}

int cli_train(int argc, char **argv)
{
    train_args a;
    train_given g;
    int help = 0, rc = parse_train(argc, argv, &a, &g, &help);
    if (rc != CLI_OK) return rc;
    if (help) {
        fputs(train_help, stdout);
        return CLI_OK;
    }
    return a.resume ? run_resume(&a, &g) : run_train(&a);
}
