/*
 * cli_train.c -- `rnnlm train`: PyTorch's examples/word_language_model/main.py.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Set by the SIGINT handler: training stops after the current batch (main.py's KeyboardInterrupt). */
static volatile sig_atomic_t g_stop = 0;

static const char train_help[] =
    "usage: rnnlm train --data DIR [flags]\n"
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
    "  --threads N         BLAS threads (OpenBLAS only; a no-op with reference BLAS)\n"
    "  --metrics FILE      JSON lines: one object per log interval, per epoch, and the test\n"
    "                      result (plot with tools/plot_metrics.py)\n"
    "  --init CHECKPOINT   start from this model's weights and vocabulary (its cell and sizes\n"
    "                      are used; the corpus is mapped onto its vocabulary, unknown words\n"
    "                      to <unk>)\n"
    "  --batching MODE     torch (main.py's batchify, default) or seed (the seed's\n"
    "                      bptt_batchify, also used for validation and test)\n"
    "\n"
    "Progress: every --log-interval batches a line on stdout (main.py's, plus tokens/s); when\n"
    "stderr is a terminal also a live progress bar there.\n";

typedef struct train_args {
    const char *data, *model, *save, *metrics, *init, *batching;
    int emsize, nhid, nlayers, epochs, batch_size, bptt, tied, log_interval, dry_run, threads;
    int max_batches;
    double lr, clip, dropout;
    long long seed;
    int cell, mode;
    int shape_given; /* any of --model/--emsize/--nhid/--nlayers/--tied was given */
} train_args;

typedef struct trainer {
    const train_args *a;
    rnn_model *m;
    corpus c;
    corpus_batches train, valid, test;
    int32_t *tok, *tgt;
    FILE *metrics;
    double lr, best;
    int saved, bar;
    size_t nbatches; /* batches per epoch */
    /* the current log interval and epoch */
    double iv_loss, iv_tokens, iv_start, last_loss, ep_start, ep_tokens, bar_drawn;
    size_t iv_n;
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

static int cell_of(const char *name)
{
    static const char *const names[] = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};
    static const int cells[] = {RNN_CELL_TANH, RNN_CELL_RELU, RNN_CELL_LSTM, RNN_CELL_GRU};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return cells[i];
    return -1;
}

static int check_train_args(train_args *a)
{
    if (!a->data) return cli_error(CLI_USAGE, "train: --data DIR is required");
    a->cell = cell_of(a->model);
    if (a->cell < 0)
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

static int parse_train(int argc, char **argv, train_args *a, int *help)
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
        {"threads", CLI_INT, &a->threads, 1, 4096, 0, 0, 0},
        {"metrics", CLI_STR, &a->metrics, 0, 0, 0, 0, 0},
        {"init", CLI_STR, &a->init, 0, 0, 0, 0, 0},
        {"max-batches", CLI_INT, &a->max_batches, 1, INT32_MAX, 0, 0, 0},
        {"batching", CLI_STR, &a->batching, 0, 0, 0, 0, 0},
    };
    int n = (int)(sizeof o / sizeof o[0]);
    int rc = cli_parse("train", argc, argv, o, n, help);
    if (rc != CLI_OK || *help) return rc;
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
    if (rc != RNN_OK) return cli_error(CLI_RUNTIME, "cannot set the vocabulary: %s", rnn_errmsg(m));
    return CLI_OK;
}

static int create_model(trainer *t, const rnn_config *cfg)
{
    int rc = rnn_model_create(&t->m, cfg, NULL);
    if (rc != RNN_OK)
        return cli_error(rc == RNN_ERR_INVALID ? CLI_USAGE : CLI_RUNTIME, "cannot create the model: %s",
                         rnn_strerror(rc));
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
    rnn_config_init(&cfg);
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
    if (rc == CLI_OK) {
        rnn_model_config(init, &cfg);
        cfg.dropout = (float)a->dropout, cfg.seed = (uint64_t)a->seed;
        rc = create_model(t, &cfg);
    }
    if (rc == CLI_OK) {
        float *src, *dst;
        size_t ns, nd;
        rnn_param_block(init, &src, NULL, &ns);
        rnn_param_block(t->m, &dst, NULL, &nd);
        if (ns != nd) rc = cli_error(CLI_RUNTIME, "%s: parameter count mismatch", a->init);
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

static int setup(trainer *t)
{
    const train_args *a = t->a;
    int rc = a->init ? setup_init(t) : setup_new(t);
    if (rc == CLI_OK) rc = setup_batches(t);
    if (rc == CLI_OK) rc = check_save_dir(a->save);
    if (rc == CLI_OK && a->metrics) {
        t->metrics = fopen(a->metrics, "w");
        if (!t->metrics)
            rc = cli_error(CLI_RUNTIME, "cannot write %s: %s", a->metrics, strerror(errno));
    }
    t->lr = a->lr;
    t->bar = isatty(STDERR_FILENO);
    return rc;
}

static void teardown(trainer *t)
{
    if (t->metrics) fclose(t->metrics);
    rnn_model_free(t->m);
    corpus_free(&t->c);
    free(t->tok);
    free(t->tgt);
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
    double el = now - t->ep_start, loss = t->iv_n ? t->iv_loss / (double)t->iv_n : t->last_loss;
    char bar[21], eta[32];
    size_t fill = done * 20 / t->nbatches;
    for (size_t i = 0; i < 20; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[20] = 0;
    format_eta(el / (double)done * (double)(t->nbatches - done), eta, sizeof eta);
    fprintf(stderr,
            "\r\033[Kepoch %d [%s] %zu/%zu %3.0f%% | loss %5.2f | ppl %8.2f | lr %.2f"
            " | %.0f tok/s | ETA %s",
            epoch, bar, done, t->nbatches, 100.0 * (double)done / (double)t->nbatches, loss,
            exp(loss), t->lr, t->ep_tokens / (el > 0 ? el : 1e-9), eta);
    fflush(stderr);
}

/* main.py's total batch count in the log line (len(train_data) // bptt), or the --max-batches cut. */
static size_t logged_total(const trainer *t)
{
    if (t->nbatches < t->train.num_chunks) return t->nbatches;
    if (t->train.mode == CORPUS_BATCH_MAIN) return t->train.stream_len / (size_t)t->train.bptt;
    return t->train.num_chunks;
}

/* main.py's log line (+ tokens/s), and a metrics record. */
static void log_interval(trainer *t, int epoch, size_t batch)
{
    double now = cli_now(), el = now - t->iv_start;
    double loss = t->iv_loss / (double)t->iv_n, tps = t->iv_tokens / (el > 0 ? el : 1e-9);
    bar_clear(t);
    printf("| epoch %3d | %5zu/%5zu batches | lr %02.2f | ms/batch %5.2f | loss %5.2f | ppl %8.2f"
           " | tokens/s %7.0f\n",
           epoch, batch, logged_total(t), t->lr, el * 1000.0 / (double)t->iv_n, loss, exp(loss), tps);
    fflush(stdout);
    if (t->metrics) {
        fprintf(t->metrics, "{\"epoch\":%d,\"batch\":%zu,", epoch, batch);
        cli_json_num(t->metrics, "loss", loss, 0);
        cli_json_num(t->metrics, "ppl", exp(loss), 0);
        cli_json_num(t->metrics, "lr", t->lr, 0);
        cli_json_num(t->metrics, "tokens_per_s", tps, 1);
        fputs("}\n", t->metrics);
        fflush(t->metrics);
    }
    t->last_loss = loss;
    t->iv_loss = t->iv_tokens = 0.0, t->iv_n = 0, t->iv_start = now;
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
    int steps = 0, b = t->a->batch_size;
    double loss = 0.0, norm = 0.0;
    int rc = corpus_batches_get(&t->train, k, t->tok, t->tgt, &steps);
    if (rc == RNN_OK) rc = rnn_forward(m, t->tok, t->tgt, b, steps, &loss);
    if (rc == RNN_OK) rc = rnn_zero_grad(m);
    if (rc == RNN_OK) rc = rnn_backward(m);
    if (rc == RNN_OK) rc = rnn_clip_grad_norm(m, (float)t->a->clip, &norm);
    if (rc == RNN_ERR_NUMERIC)
        return cli_error(CLI_RUNTIME, "training diverged at epoch %d, batch %zu: the gradient norm "
                                      "is not finite (try a lower --lr)", epoch, k);
    if (rc == RNN_OK) rc = rnn_sgd_step(m, (float)t->lr);
    if (rc != RNN_OK)
        return cli_error(CLI_RUNTIME, "training failed at epoch %d, batch %zu: %s (%s)", epoch, k,
                         rnn_strerror(rc), rnn_errmsg(m));
    t->iv_loss += loss, t->iv_n++;
    t->iv_tokens += (double)b * steps, t->ep_tokens += (double)b * steps;
    return CLI_OK;
}

/* main.py's train(): one epoch (stops early after a SIGINT). */
static int train_epoch(trainer *t, int epoch)
{
    if (rnn_reset_state(t->m, t->a->batch_size) != RNN_OK)
        return cli_error(CLI_RUNTIME, "%s", rnn_errmsg(t->m));
    t->iv_loss = t->iv_tokens = t->ep_tokens = 0.0, t->iv_n = 0;
    t->iv_start = t->ep_start = cli_now();
    for (size_t k = 0; k < t->nbatches && !g_stop; k++) {
        int rc = train_step(t, epoch, k);
        if (rc != CLI_OK) {
            bar_clear(t);
            return rc;
        }
        if (k % (size_t)t->a->log_interval == 0 && k > 0) log_interval(t, epoch, k);
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

/* Validation, the epoch line, save-or-decay (main.py's epoch tail). */
static int end_epoch(trainer *t, int epoch, double start)
{
    double val = 0.0;
    int rc = cli_evaluate(t->m, &t->valid, &val, NULL);
    if (rc != CLI_OK) return rc;
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
        cli_json_num(t->metrics, "lr", t->lr, 0);
        cli_json_num(t->metrics, "seconds", secs, 1);
        fputs("}\n", t->metrics);
        fflush(t->metrics);
    }
    if (!t->saved || val < t->best) {
        if (rnn_model_save(t->m, t->a->save) != RNN_OK)
            return cli_error(CLI_RUNTIME, "cannot save %s: %s", t->a->save, rnn_errmsg(t->m));
        t->best = val, t->saved = 1;
    } else {
        t->lr /= 4.0;
    }
    return CLI_OK;
}

static int train_loop(trainer *t)
{
    for (int epoch = 1; epoch <= t->a->epochs && !g_stop; epoch++) {
        double start = cli_now();
        int rc = train_epoch(t, epoch);
        if (rc == CLI_OK && !g_stop) rc = end_epoch(t, epoch, start);
        if (rc != CLI_OK) return rc;
    }
    if (g_stop) {
        print_rule('-');
        puts("Exiting from training early");
        fflush(stdout);
    }
    return CLI_OK;
}

/* Loads the best saved model and evaluates it on test (main.py's last lines). */
static int final_test(trainer *t)
{
    if (!t->saved)
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

static int run_train(const train_args *a)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.a = a;
    cli_set_threads(a->threads);
    int rc = setup(&t);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    if (rc == CLI_OK) {
        g_stop = 0;
        sigaction(SIGINT, &sa, &old);
        rc = train_loop(&t);
        sigaction(SIGINT, &old, NULL);
    }
    if (rc == CLI_OK) rc = final_test(&t);
    teardown(&t);
    return rc;
}

int cli_train(int argc, char **argv)
{
    train_args a;
    int help = 0, rc = parse_train(argc, argv, &a, &help);
    if (rc != CLI_OK) return rc;
    if (help) {
        fputs(train_help, stdout);
        return CLI_OK;
    }
    return run_train(&a);
}
