/*
 * cli_train.c -- `rnnlm train`: PyTorch's examples/word_language_model/main.py, with exact
 * checkpoints (--checkpoint-every) and --resume (cli_resume.c).
 *
 * The flags are in cli_train_flags.c, the reports (log lines, progress bar, --metrics) in
 * cli_progress.c. This file sets a run up (a fresh model over data.py's vocabulary or train.txt's
 * by frequency, with a full or an adaptive softmax, or --init's weights; --max-eval-batches cuts
 * validation and test), trains it epoch
 * by epoch (main.py's train() and its epoch tail: validation, save or lr /= 4, --patience) and
 * tests the best model. Checkpoints are written after every N-th batch (counting over all epochs), after every
 * epoch's validation (before that epoch's SAVE), and on Ctrl-C.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#define RNN_EXPERT_API    /* rnn_param_get_block: --init copies every weight */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_mpi.h"
#include "cli_train.h"

/* Set by the SIGINT / SIGTERM / SIGHUP handler: training stops after the current batch (main.py's
   KeyboardInterrupt). */
static volatile sig_atomic_t g_stop = 0;

/* ---- Setup ------------------------------------------------------------------------------------- */
/* Gives the model the corpus vocabulary's words. */
static int set_model_vocab(rnn_model *m, const corpus_vocab *v)
{
    int32_t n = vocab_size(v);
    const char **words = malloc((size_t)n * sizeof *words);
    RETURN_ERROR_IF(!words, CLI_RUNTIME, "out of memory");
    for (int32_t i = 0; i < n; i++) words[i] = vocab_word(v, i);
    int rc = rnn_vocab_set(m, words, (int)n);
    free(words);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot set the vocabulary: %s", rnn_model_errmsg(m));
    return CLI_OK;
}

static int create_model(trainer *t, const rnn_config *cfg)
{
    char err[256] = "";
    int rc = rnn_model_create(&t->m, cfg, NULL, err, sizeof err);
    /* no handle: the reason is in err */
    RETURN_ERROR_IF(rc != RNN_OK, rc == RNN_ERR_INVALID ? CLI_USAGE : CLI_RUNTIME,
                    "cannot create the model: %s", err[0] ? err : rnn_status_string(rc));
    return set_model_vocab(t->m, t->c.vocab);
}

/* --adaptive-cutoffs over data.py's vocabulary: the ids renumbered by descending count in
   train.txt (the head holds ids below cutoffs[0]: it must hold the frequent words). */
static int order_by_count(trainer *t)
{
    char err[CORPUS_ERR_SIZE];
    RETURN_ERROR_IF(corpus_order_by_count(&t->c, err, sizeof err) != RNN_OK, CLI_RUNTIME, "%s", err);
    return CLI_OK;
}

int train_load_corpus(trainer *t)
{
    const train_args *a = t->a;
    if (!train_vocab_by_count(a)) {
        FORWARD_IF_ERROR(cli_load_corpus(&t->c, a->data, NULL));
        return a->num_cutoffs > 0 ? order_by_count(t) : CLI_OK;
    }
    char *path = corpus_join_path(a->data, "train.txt"), err[CORPUS_ERR_SIZE];
    RETURN_ERROR_IF(!path, CLI_RUNTIME, "out of memory");
    corpus_vocab *v = NULL;
    int rc = corpus_vocab_build(path, a->vocab_size, a->min_count, &v, NULL, err, sizeof err);
    free(path);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "%s", err);
    return cli_load_corpus(&t->c, a->data, v);
}

/* A fresh model from the flags over a fresh vocabulary (main.py's, or --vocab-size's). */
static int setup_new(trainer *t)
{
    const train_args *a = t->a;
    FORWARD_IF_ERROR(train_load_corpus(t));
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = a->cell, cfg.vocab_size = (int)vocab_size(t->c.vocab);
    cfg.emb_size = a->emsize, cfg.hidden_size = a->nhid, cfg.num_layers = a->nlayers;
    cfg.dropout = (float)a->dropout, cfg.tied = a->tied, cfg.seed = (uint64_t)a->seed;
    if (a->num_cutoffs > 0) { /* --adaptive-cutoffs */
        FORWARD_IF_ERROR(train_check_cutoffs(a, cfg.vocab_size));
        cfg.output = RNN_OUTPUT_ADAPTIVE, cfg.num_cutoffs = a->num_cutoffs;
        memcpy(cfg.cutoffs, a->cutoffs, sizeof cfg.cutoffs);
        cfg.div_value = (float)a->div_value, cfg.head_bias = a->head_bias;
    }
    /* masks that do not depend on how the batch's streams are split (mpirun -np K) */
    cfg.dropout_masks = RNN_DROPOUT_COUNTER;
    return create_model(t, &cfg);
}

/* --init's model: its configuration, weights and vocabulary; --dropout and --seed apply. */
static int init_from(trainer *t, const rnn_model *init)
{
    const train_args *a = t->a;
    corpus_vocab *v = NULL;
    FORWARD_IF_ERROR(cli_model_vocab(init, &v));
    FORWARD_IF_ERROR(cli_load_corpus(&t->c, a->data, v));
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    RETURN_ERROR_IF(rnn_model_get_config(init, &cfg) != RNN_OK, CLI_RUNTIME, "%s: %s", a->init,
                    rnn_model_errmsg(init));
    cfg.dropout = (float)a->dropout, cfg.seed = (uint64_t)a->seed;
    cfg.dropout_masks = RNN_DROPOUT_COUNTER; /* (as setup_new) */
    FORWARD_IF_ERROR(create_model(t, &cfg));
    float *src = NULL, *dst = NULL;
    size_t ns = 0, nd = 0;
    rnn_param_get_block(init, &src, NULL, &ns);
    rnn_param_get_block(t->m, &dst, NULL, &nd);
    RETURN_ERROR_IF(ns != nd || !src || !dst, CLI_RUNTIME, "%s: parameter count mismatch", a->init);
    memcpy(dst, src, ns * sizeof *dst);
    return CLI_OK;
}

static int setup_init(trainer *t)
{
    rnn_model *init = NULL;
    FORWARD_IF_ERROR(cli_load_model(t->a->init, &init));
    int rc = cli_check_trainable(init, "--init", t->a->init);
    if (rc == CLI_OK) rc = init_from(t, init);
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
              {&t->valid, t->c.valid, t->c.n_valid, TRAIN_EVAL_BATCH, "valid.txt"},
              {&t->test, t->c.test, t->c.n_test, TRAIN_EVAL_BATCH, "test.txt"}};
    for (int i = 0; i < 3; i++)
        RETURN_ERROR_IF(corpus_batches_init(s[i].b, s[i].ids, s[i].n, s[i].batch, a->bptt, a->mode, err,
                                            sizeof err) != RNN_OK,
                        CLI_RUNTIME, "%s/%s is too short: %s", a->data, s[i].name,
                        strncmp(err, "batching: ", 10) == 0 ? err + 10 : err);
    t->nbatches = t->train.num_chunks;
    if (a->max_batches > 0 && (size_t)a->max_batches < t->nbatches) t->nbatches = (size_t)a->max_batches;
    /* --max-eval-batches: validation and test over the first chunks, as main.py's evaluate()
       over a shorter file (the loss is their targets' mean) */
    t->valid_all = t->valid.num_chunks, t->test_all = t->test.num_chunks;
    corpus_batches cut;
    RETURN_ERROR_IF(corpus_batches_head(&t->valid, (size_t)a->max_eval_batches, &cut, &t->valid_copy, err,
                                        sizeof err) != RNN_OK, CLI_RUNTIME, "%s", err);
    t->valid = cut;
    RETURN_ERROR_IF(corpus_batches_head(&t->test, (size_t)a->max_eval_batches, &cut, &t->test_copy, err,
                                        sizeof err) != RNN_OK, CLI_RUNTIME, "%s", err);
    t->test = cut;
    return cli_chunk_buffers(&t->train, &t->tok, &t->tgt);
}

/* The folder of path (copied into the malloc'd *buf): "." without a slash, "/" at the root.
   NULL when out of memory. */
static const char *folder_of(const char *path, char **buf)
{
    char *dir = *buf = strdup(path);
    if (!dir) return NULL;
    char *slash = strrchr(dir, '/');
    return slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
}

static int check_writable(const char *path, const char *folder)
{
    RETURN_ERROR_IF(access(folder, W_OK | X_OK) != 0, CLI_RUNTIME,
                    "cannot save to %s: folder %s is not writable", path, folder);
    return CLI_OK;
}

/* Fails early when --save cannot be written (instead of after the first epoch). */
static int check_save_dir(const char *path)
{
    char *buf;
    const char *d = folder_of(path, &buf);
    RETURN_ERROR_IF(!d, CLI_RUNTIME, "out of memory");
    int rc = check_writable(path, d);
    free(buf);
    return rc;
}

/* path as an absolute path (for the checkpoint): realpath, or realpath of its folder + its name
   when it does not exist yet, or a copy of path. NULL path: NULL. */
static char *abs_path(const char *path)
{
    if (!path) return NULL;
    char *r = realpath(path, NULL);
    if (r) return r;
    char *buf;
    const char *d = folder_of(path, &buf), *base = cli_basename(path);
    char *rd = d && *base ? realpath(d, NULL) : NULL;
    free(buf);
    if (!rd) return strdup(path);
    char *out = corpus_join_path(rd, base);
    free(rd);
    return out;
}

/* The checkpoint path SAVE.ckpt, the lock SAVE.lock and the absolute paths stored in checkpoints. */
static int setup_paths(trainer *t)
{
    const train_args *a = t->a;
    t->ckpt = malloc(strlen(a->save) + 6);
    if (t->ckpt) sprintf(t->ckpt, "%s.ckpt", a->save);
    t->lock_fd = -1;
    t->lock = malloc(strlen(a->save) + 6);
    if (t->lock) sprintf(t->lock, "%s.lock", a->save);
    t->abs_data = abs_path(a->data), t->abs_save = abs_path(a->save);
    t->abs_metrics = abs_path(a->metrics), t->abs_init = abs_path(a->init);
    RETURN_ERROR_IF(!t->ckpt || !t->lock || !t->abs_data || !t->abs_save ||
                        (a->metrics && !t->abs_metrics) || (a->init && !t->abs_init),
                    CLI_RUNTIME, "out of memory");
    return CLI_OK;
}

/* No output (--save, SAVE.ckpt, --metrics, SAVE.lock) is an input (the corpus files, --init or
   --resume's checkpoint, which SAVE.ckpt replaces). */
static int check_outputs(trainer *t)
{
    const train_args *a = t->a;
    const char *names[3] = {"train.txt", "valid.txt", "test.txt"};
    char *files[3] = {NULL, NULL, NULL};
    cli_path in[4], out[3] = {{"--save", a->save}, {"--metrics", a->metrics}, {"the lock", t->lock}};
    cli_path ckpt = {"the checkpoint", t->ckpt};
    for (int i = 0; i < 3; i++)
        in[i] = (cli_path){"--data's", files[i] = corpus_join_path(a->data, names[i])};
    in[3] = a->resume ? (cli_path){"--resume", a->resume} : (cli_path){"--init", a->init};
    int rc = files[0] && files[1] && files[2] ? CLI_OK : cli_error(CLI_RUNTIME, "out of memory");
    if (rc == CLI_OK) rc = cli_check_outputs(out, 3, in, 4);
    if (rc == CLI_OK) rc = cli_check_outputs(&ckpt, 1, in, a->resume ? 3 : 4);
    for (int i = 0; i < 3; i++) free(files[i]);
    return rc;
}

int train_claim(trainer *t)
{
    const train_args *a = t->a;
    FORWARD_IF_ERROR(setup_paths(t));
    FORWARD_IF_ERROR(check_outputs(t));
    FORWARD_IF_ERROR(cli_check_model_output("--save", a->save));
    if (a->checkpoint_every > 0) FORWARD_IF_ERROR(cli_check_model_output("the checkpoint", t->ckpt));
    FORWARD_IF_ERROR(check_save_dir(a->save));
    if (mpi_rank() != 0) return CLI_OK; /* under mpirun, rank 0 alone writes (and holds the lock) */
    return cli_lock(t->lock, "--save", a->save, &t->lock_fd);
}

int train_setup_rest(trainer *t, const char *metrics_mode)
{
    const train_args *a = t->a;
    t->bar = isatty(STDERR_FILENO);
    t->first = 0, t->rows = a->batch_size;
    if (mpi_active()) FORWARD_IF_ERROR(dp_setup_rows(t));
    FORWARD_IF_ERROR(setup_batches(t));
    int metrics = a->metrics && mpi_rank() == 0;
    if (metrics) t->metrics = fopen(a->metrics, metrics_mode);
    RETURN_ERROR_IF(metrics && !t->metrics, CLI_RUNTIME, "cannot write %s: %s", a->metrics,
                    strerror(errno));
    return CLI_OK;
}

/* A fresh run (or --init): the model, the corpus, the rest, the position at its start. */
static int setup(trainer *t)
{
    const train_args *a = t->a;
    FORWARD_IF_ERROR(train_claim(t));
    FORWARD_IF_ERROR(a->init ? setup_init(t) : setup_new(t));
    FORWARD_IF_ERROR(train_setup_rest(t, "w"));
    t->pos.epoch = 1, t->pos.lr = a->lr;
    train_corpus_identity(&t->c, &t->pos);
    t->pos.nbatches = t->nbatches;
    progress_summary(t);
    return CLI_OK;
}

void train_teardown(trainer *t)
{
    if (t->metrics) fclose(t->metrics);
    dp_teardown(t);
    rnn_model_free(t->m);
    corpus_free(&t->c);
    free(t->tok);
    free(t->tgt);
    free(t->valid_copy);
    free(t->test_copy);
    free(t->ckpt);
    if (t->lock) cli_unlock(t->lock, t->lock_fd);
    free(t->lock);
    free(t->abs_data);
    free(t->abs_save);
    free(t->abs_metrics);
    free(t->abs_init);
}

/* ---- Training ---------------------------------------------------------------------------------- */
static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

int train_check_weights(const trainer *t, const char *path)
{
    char where[128];
    RETURN_ERROR_IF(!cli_weights_finite(t->m, where, sizeof where), CLI_RUNTIME,
                    "training diverged at epoch %d, batch %llu: the weights are not finite after its "
                    "update (%s); %s was not written (try a lower --lr)",
                    t->pos.epoch, (unsigned long long)(t->pos.batch ? t->pos.batch - 1 : 0), where, path);
    return CLI_OK;
}

/* --use-optimizer: one torch.optim.AdamW step with the current (annealed) lr. */
static int adamw_step(const trainer *t)
{
    rnn_adamw o;
    rnn_adamw_init(&o, sizeof o);
    o.lr = t->pos.lr, o.weight_decay = t->a->weight_decay;
    return rnn_adamw_step(t->m, &o);
}

/* Whether training stops after this batch (SIGINT): under mpirun, when any rank got the signal, as
   the ranks agreed at the last step (so that all stop after the same one). */
static int stopping(const trainer *t) { return mpi_active() ? t->stop : g_stop; }

/* The targets of this process's rows that count (not RNN_IGNORE). */
static size_t kept_targets(const int32_t *tgt, int rows, int steps, int stride)
{
    size_t n = 0;
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < steps; s++) n += tgt[(size_t)r * (size_t)stride + (size_t)s] != RNN_IGNORE;
    return n;
}

/* One batch: forward, zero_grad, backward, clip, SGD (or AdamW). Under mpirun, this process's rows
   of it, and the gradient reduced over the ranks before the clip. */
static int train_step(trainer *t, int epoch, size_t k)
{
    rnn_model *m = t->m;
    int steps = 0, stride = 0, b = t->rows, dp = mpi_active();
    const int32_t *tok = NULL, *tgt = NULL;
    double loss = 0.0, norm = 0.0;
    size_t total = 0; /* under mpirun: the whole batch's kept targets, the loss's denominator */
    int rc = cli_chunk(&t->train, k, t->tok, t->tgt, &tok, &tgt, &steps, &stride);
    if (rc == RNN_OK && dp) { /* rows [first, first + rows) */
        size_t rs = (size_t)(stride ? stride : steps);
        total = kept_targets(tgt, t->a->batch_size, steps, (int)rs);
        tok += (size_t)t->first * rs, tgt += (size_t)t->first * rs, stride = (int)rs;
        rc = rnn_set_loss_denominator(m, (double)total);
    }
    if (rc == RNN_OK) rc = rnn_forward(m, tok, tgt, b, steps, stride, &loss);
    RETURN_ERROR_IF(rc == RNN_OK && !dp && !isfinite(loss), CLI_RUNTIME,
                    "training diverged at epoch %d, batch %zu: the loss is not finite (try a lower --lr)",
                    epoch, k);
    if (rc == RNN_OK) rc = rnn_zero_grad(m);
    if (rc == RNN_OK) rc = rnn_backward(m);
    if (rc == RNN_OK && dp) {
        FORWARD_IF_ERROR(dp_reduce(t, tok, b, steps, stride, &loss, kept_targets(tgt, b, steps, stride), total,
                                   g_stop, &t->stop));
        RETURN_ERROR_IF(!isfinite(loss), CLI_RUNTIME,
                        "training diverged at epoch %d, batch %zu: the loss is not finite (try a lower --lr)",
                        epoch, k);
    }
    if (rc == RNN_OK) rc = rnn_clip_grad_norm(m, (float)t->a->clip, &norm);
    RETURN_ERROR_IF(rc == RNN_ERR_NUMERIC, CLI_RUNTIME,
                    "training diverged at epoch %d, batch %zu: the gradient norm is not finite "
                    "(try a lower --lr)", epoch, k);
    if (rc == RNN_OK) rc = t->a->use_optimizer ? adamw_step(t) : rnn_sgd_step(m, (float)t->pos.lr);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "training failed at epoch %d, batch %zu: %s (%s)", epoch,
                    k, rnn_status_string(rc), rnn_model_errmsg(m));
    t->pos.iv_loss += loss, t->pos.iv_n++, t->pos.batch = k + 1, t->pos.step++;
    t->iv_here++;
    t->iv_tokens += (double)t->a->batch_size * steps, t->ep_tokens += (double)t->a->batch_size * steps;
    return CLI_OK;
}

/* Batch k of the epoch, its log line and its checkpoint (every --checkpoint-every batches). */
static int train_batch(trainer *t, int epoch, size_t k)
{
    int every = t->a->checkpoint_every;
    FORWARD_IF_ERROR(train_step(t, epoch, k));
    if (k % (size_t)t->a->log_interval == 0 && k > 0) progress_interval(t, epoch, k);
    if (every > 0 && t->pos.step % (uint64_t)every == 0) FORWARD_IF_ERROR(train_write_checkpoint(t));
    return CLI_OK;
}

/* The batches of the epoch from t->pos.batch on (stops early after a SIGINT). */
static int train_batches(trainer *t, int epoch)
{
    for (size_t k = (size_t)t->pos.batch; k < t->nbatches && !stopping(t); k++) {
        FORWARD_IF_ERROR(train_batch(t, epoch, k));
        progress_bar(t, epoch, k + 1, k + 1 == t->nbatches);
    }
    return CLI_OK;
}

/* main.py's train(): the rest of the epoch t->pos.epoch from batch t->pos.batch. */
static int train_epoch(trainer *t)
{
    train_pos *p = &t->pos;
    if (p->batch == 0) { /* a resumed epoch goes on with the checkpoint's hidden state */
        RETURN_ERROR_IF(rnn_model_reset_hidden(t->m, t->rows) != RNN_OK, CLI_RUNTIME, "%s",
                        rnn_model_errmsg(t->m));
        p->iv_loss = 0.0, p->iv_n = 0;
    }
    t->iv_tokens = t->ep_tokens = 0.0, t->iv_here = 0;
    t->reduce_s = t->wait_s = t->reduce_floats = 0.0;
    t->iv_start = t->ep_start = cli_now();
    t->ep_first = (size_t)p->batch;
    int rc = train_batches(t, p->epoch);
    progress_clear(t);
    return rc;
}

/*
 * Validation, the epoch line, save-or-decay (main.py's epoch tail); moves to the next epoch. With
 * checkpoints, the checkpoint of the next epoch's start is written before SAVE (see cli_resume.c).
 */
static int end_epoch(trainer *t, double start)
{
    train_pos *p = &t->pos;
    int epoch = p->epoch;
    double val = 0.0;
    FORWARD_IF_ERROR(mpi_active() ? dp_evaluate(t, &t->valid, &val) : cli_evaluate(t->m, &t->valid, &val, NULL));
    RETURN_ERROR_IF(!isfinite(val), CLI_RUNTIME,
                    "training diverged at epoch %d: the validation loss is not finite "
                    "(%s was not written)", epoch, t->a->save);
    FORWARD_IF_ERROR(train_check_weights(t, t->a->save));
    if (mpi_active()) FORWARD_IF_ERROR(dp_check_weights(t));
    progress_epoch(t, epoch, val, cli_now() - start);
    int improved = !p->saved || val < p->best;
    if (improved) p->best = val, p->saved = 1, p->best_hash = train_params_hash(t->m), p->stale = 0;
    else p->lr /= 4.0, p->stale++;
    p->epoch++, p->batch = 0;
    if (train_early_stopped(t) && p->epoch <= t->a->epochs) {
        printf("| early stopping: no better validation loss in %d epochs (--patience %d)\n", p->stale,
               t->a->patience);
        fflush(stdout);
    }
    if (t->a->checkpoint_every > 0) FORWARD_IF_ERROR(train_write_checkpoint(t));
    RETURN_ERROR_IF(improved && mpi_rank() == 0 && rnn_model_save(t->m, t->a->save, 0, NULL, 0) != RNN_OK, CLI_RUNTIME,
                    "cannot save %s: %s", t->a->save, rnn_model_errmsg(t->m));
    return CLI_OK;
}

int train_early_stopped(const trainer *t) { return t->a->patience > 0 && t->pos.stale >= t->a->patience; }

static int train_loop(trainer *t)
{
    while (t->pos.epoch <= t->a->epochs && !train_early_stopped(t) && !stopping(t)) {
        double start = cli_now();
        FORWARD_IF_ERROR(train_epoch(t));
        if (!stopping(t)) FORWARD_IF_ERROR(end_epoch(t, start));
    }
    if (!stopping(t)) return CLI_OK;
    if (t->a->checkpoint_every > 0) FORWARD_IF_ERROR(train_write_checkpoint(t));
    progress_rule('-');
    if (t->a->checkpoint_every > 0)
        printf("Exiting from training early (continue with --resume %s)\n", t->ckpt);
    else
        puts("Exiting from training early");
    fflush(stdout);
    return CLI_OK;
}

/* Loads the best saved model and evaluates it on test (main.py's last lines). */
static int final_test(trainer *t)
{
    RETURN_ERROR_IF(!t->pos.saved, CLI_RUNTIME,
                    "interrupted before the first epoch ended: no model saved");
    double loss = 0.0;
    if (mpi_active()) { /* rank 0 reads it; every rank evaluates its share of the streams */
        rnn_model *best = NULL;
        int rc = mpi_rank() == 0 ? cli_load_model(t->a->save, &best) : CLI_OK;
        if (best) rnn_model_free(t->m), t->m = best;
        FORWARD_IF_ERROR(dp_share_best(t, rc));
        FORWARD_IF_ERROR(dp_evaluate(t, &t->test, &loss));
        RETURN_ERROR_IF(!isfinite(loss), CLI_RUNTIME, "the test loss of %s is not finite: %s", t->a->save,
                        CLI_OVERFLOW);
        return progress_test(t, loss);
    }
    rnn_model_free(t->m);
    t->m = NULL;
    FORWARD_IF_ERROR(cli_load_model(t->a->save, &t->m));
    FORWARD_IF_ERROR(cli_evaluate(t->m, &t->test, &loss, NULL));
    RETURN_ERROR_IF(!isfinite(loss), CLI_RUNTIME, "the test loss of %s is not finite: %s", t->a->save,
                    CLI_OVERFLOW);
    return progress_test(t, loss);
}

/* SIGINT (Ctrl-C), SIGTERM (kill, docker stop, batch schedulers) and SIGHUP (unless ignored, as
   nohup does) stop training after the current batch; old[] receives the previous handlers. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NSTOP ((int)(sizeof stop_signals / sizeof stop_signals[0]))

static void catch_stop_signals(struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESETHAND; /* a second signal kills at once */
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NSTOP; i++) {
        sigaction(stop_signals[i], NULL, &old[i]);
        if (stop_signals[i] != SIGHUP || old[i].sa_handler != SIG_IGN)
            sigaction(stop_signals[i], &sa, NULL);
    }
}

int train_run(trainer *t)
{
    struct sigaction old[NSTOP];
    g_stop = 0;
    FORWARD_IF_ERROR(cli_set_threads(t->m, t->a->threads));
    /* under mpirun, a signal ends the job: mpirun sends SIGTERM to every rank when one fails or on
       Ctrl-C, and a rank that caught it would wait for the dead one (resume from the checkpoint) */
    int dp = mpi_active();
    if (dp) FORWARD_IF_ERROR(dp_setup(t));
    else catch_stop_signals(old);
    int rc = train_loop(t);
    for (int i = 0; i < NSTOP && !dp; i++) sigaction(stop_signals[i], &old[i], NULL);
    FORWARD_IF_ERROR(rc);
    return final_test(t);
}

static int setup_and_run(trainer *t)
{
    FORWARD_IF_ERROR(mpi_agree(setup(t))); /* under mpirun: every rank stops when one failed */
    return train_run(t);
}

static int run_train(const train_args *a)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.a = a;
    int rc = setup_and_run(&t);
    train_teardown(&t);
    return rc;
}

long long train_random_seed(void)
{
    uint32_t x = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    int got = f && fread(&x, sizeof x, 1, f) == 1;
    if (f) fclose(f);
    if (!got) {
        uint64_t st = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        x = (uint32_t)rnn__splitmix64(&st);
    }
    return (long long)x;
}

/* rnnlm train after parsing (between mpi_start and mpi_finish under mpirun). */
static int train_command_run(train_args *a, uint64_t seen)
{
    if (a->accel) {
        puts("| --accel ignored: there is no accelerator (librnn trains on the CPU; --threads N)");
        fflush(stdout);
    }
    /* the seed drawn is a flag like any other from here: printed, and stored in checkpoints (under
       mpirun, rank 0's for all) */
    if (!a->resume && a->seed == -1) {
        double s = mpi_rank() == 0 ? (double)train_random_seed() : 0.0;
        mpi_sum(&s, 1);
        a->seed = (long long)s, a->seed_random = 1;
    }
    /* under mpirun, before any work (a resume checks the checkpoint's batch size in its setup) */
    int bad = !a->resume && a->batch_size % mpi_size() != 0; /* (every rank alike: rank 0 says it) */
    if (bad && mpi_rank() == 0)
        cli_error(CLI_USAGE, "--batch_size %d is not divisible by the %d processes (each takes batch_size / %d "
                  "streams): use a multiple of %d", a->batch_size, mpi_size(), mpi_size(), mpi_size());
    FORWARD_IF_ERROR(mpi_agree(bad ? CLI_USAGE : CLI_OK));
    return a->resume ? train_resume(a, seen) : run_train(a);
}

int cli_train(int argc, char **argv)
{
    train_args a;
    uint64_t seen = 0;
    int help = 0;
    FORWARD_IF_ERROR(train_parse(argc, argv, &a, &seen, &help));
    if (help) return train_help();
    FORWARD_IF_ERROR(mpi_start(&argc, &argv));
    return mpi_finish(train_command_run(&a, seen));
}
