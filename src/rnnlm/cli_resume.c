/*
 * cli_resume.c -- checkpoints of `rnnlm train` (SAVE.ckpt) and --resume.
 *
 * A checkpoint is the model saved with RNN_SAVE_STATE (weights, hidden state, dropout generator)
 * plus, as application data, the flags and the loop's position (train_pos; format in
 * cli_ckpt.c). SGD has no other state, so a resumed run repeats the uninterrupted one bit for bit
 * (given the same BLAS thread count). The checkpoint also records the identity (a hash) of the
 * corpus and of the best model saved so far, so that a resume over changed data or another SAVE
 * is refused. --epochs may grow (the run goes on as if started with them, also after it ended) and
 * --data may name a moved folder (the corpus identity decides).
 */
#define RNN_EXPERT_API /* rnn_param_get_block: checkpoints hash every weight */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_mpi.h"
#include "cli_train.h"

/* ---- Identities -------------------------------------------------------------------------------- */
/* rnn__fnv1a of n 32-bit words, each as 4 little-endian bytes (the same on every machine). */
static uint64_t hash_words(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, b + 4 * i, 4);
        unsigned char le[4] = {(unsigned char)w, (unsigned char)(w >> 8), (unsigned char)(w >> 16),
                               (unsigned char)(w >> 24)};
        h = rnn__fnv1a(h, le, 4);
    }
    return h;
}

uint64_t train_params_hash(const rnn_model *m)
{
    float *data = NULL;
    size_t n = 0;
    if (rnn_param_get_block(m, &data, NULL, &n) != RNN_OK) return 0;
    return hash_words(RNN__FNV_INIT, data, n);
}

void train_corpus_identity(const corpus *c, train_pos *p)
{
    uint64_t h = RNN__FNV_INIT;
    h = hash_words(h, c->train, c->n_train);
    h = hash_words(h, c->valid, c->n_valid);
    h = hash_words(h, c->test, c->n_test);
    p->corpus_hash = h;
    p->n_train = c->n_train, p->n_valid = c->n_valid, p->n_test = c->n_test;
}

/* ---- Writing ----------------------------------------------------------------------------------- */
static int write_checkpoint(trainer *t);

/* The --save files carry no application data; the checkpoint holds the flags (with absolute
   paths) and t->pos. */
int train_write_checkpoint(trainer *t)
{
    FORWARD_IF_ERROR(train_check_weights(t, t->ckpt));
    float *mine = NULL; /* under mpirun: rank 0 writes, with every rank's streams (any K resumes) */
    if (mpi_active()) FORWARD_IF_ERROR(dp_gather_hidden(t, &mine));
    if (mpi_rank() != 0) return CLI_OK;
    int rc = write_checkpoint(t);
    return mpi_active() && dp_restore_hidden(t, mine) != CLI_OK ? CLI_RUNTIME : rc;
}

/* train_write_checkpoint's file */
static int write_checkpoint(trainer *t)
{
    train_args st = *t->a;
    st.data = t->abs_data, st.save = t->abs_save, st.metrics = t->abs_metrics, st.init = t->abs_init;
    st.resume = NULL;
    size_t len = 0;
    char *blob = ckpt_encode(&st, &t->pos, &len);
    RETURN_ERROR_IF(!blob, CLI_RUNTIME, "out of memory");
    int rc = rnn_model_save(t->m, t->ckpt, RNN_SAVE_STATE, blob, len);
    free(blob);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot write the checkpoint %s: %s", t->ckpt,
                    rnn_model_errmsg(t->m));
    return CLI_OK;
}

/* ---- Resuming ---------------------------------------------------------------------------------- */
/* SAVE from the checkpoint's path: CKPT without its ".ckpt" into store_save (else the path stored
   in it). */
static void resume_save_path(train_args *ra, char *store_save)
{
    size_t n = strlen(ra->resume);
    if (n > 5 && strcmp(ra->resume + n - 5, ".ckpt") == 0) {
        memcpy(store_save, ra->resume, n - 5);
        store_save[n - 5] = 0;
        ra->save = store_save;
    }
}

/* The training state of the loaded checkpoint t->m into *ra (flags, with those given: a, seen) and
   t->pos. --epochs may grow (extending the run), --data may name another folder (its corpus is
   checked in setup_resume). */
static int read_state(trainer *t, const train_args *a, uint64_t seen, train_args *ra, char **store,
                      char **save_buf)
{
    const rnn_model *m = t->m;
    train_pos *pos = &t->pos;
    const char *path = a->resume;
    const void *data = NULL;
    size_t len = 0;
    rnn_model_get_app_data(m, &data, &len); /* ckpt_decode copies it; --save files never carry it */
    FORWARD_IF_ERROR(ckpt_decode(path, data, len, ra, pos, store));
    const char *stored_data = ra->data;
    t->resumed_epochs = ra->epochs;
    train_override(ra, a, seen);
    RETURN_ERROR_IF(ra->epochs < t->resumed_epochs, CLI_USAGE,
                    "--resume: --epochs %d is fewer than the run's %d (more extend it; fewer cannot "
                    "undo what was trained)", ra->epochs, t->resumed_epochs);
    if (a->data) t->resumed_data = stored_data;
    *save_buf = malloc(strlen(path) + 1);
    RETURN_ERROR_IF(!*save_buf, CLI_RUNTIME, "out of memory");
    resume_save_path(ra, *save_buf);
    ra->shape_given = 0;
    /* the stored flags were valid when written; refuse a blob that was altered */
    RETURN_ERROR_IF(!train_flags_valid(ra) || pos->epoch < 1 || pos->epoch > t->resumed_epochs + 1 ||
                        pos->batch > pos->nbatches || !isfinite(pos->lr) || pos->stale < 0,
                    CLI_RUNTIME, "%s: the training state holds impossible values", path);
    if (train_check(ra) != CLI_OK) return CLI_RUNTIME;
    int batch = 0;
    rnn_model_get_batch(m, &batch);
    RETURN_ERROR_IF(pos->batch > 0 && pos->batch < pos->nbatches && batch != ra->batch_size, CLI_RUNTIME,
                    "%s holds no hidden state for batch size %d", path, ra->batch_size);
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
               train_params_hash(best) == p->best_hash;
    rnn_model_free(best);
    if (same || mpi_rank() != 0) return CLI_OK; /* (rank 0 checks it, and writes it again) */
    RETURN_ERROR_IF(train_params_hash(t->m) != p->best_hash, CLI_RUNTIME,
                    "cannot resume: %s is not the best model this run saved (it is missing or was "
                    "changed since the checkpoint)", save);
    RETURN_ERROR_IF(rnn_model_save(t->m, save, 0, NULL, 0) != RNN_OK, CLI_RUNTIME, "cannot save %s: %s",
                    save, rnn_model_errmsg(t->m));
    printf("| resume: wrote the best model %s again from the checkpoint\n", save);
    return CLI_OK;
}

/* With --vocab-size / --min-count: the vocabulary built again from train.txt must be the
   checkpoint's (v), word for word. */
static int check_vocab(const trainer *t, const corpus_vocab *v)
{
    const train_args *a = t->a;
    char *path = corpus_join_path(a->data, "train.txt"), err[CORPUS_ERR_SIZE];
    RETURN_ERROR_IF(!path, CLI_RUNTIME, "out of memory");
    corpus_vocab *now = NULL;
    int rc = corpus_vocab_build(path, a->vocab_size, a->min_count, &now, NULL, err, sizeof err);
    free(path);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "%s", err);
    int32_t i = 0, n = vocab_size(now);
    while (i < n && i < vocab_size(v) && strcmp(vocab_word(now, i), vocab_word(v, i)) == 0) i++;
    int same = i == n && n == vocab_size(v);
    vocab_free(now);
    RETURN_ERROR_IF(!same, CLI_RUNTIME,
                    "cannot resume: the vocabulary built from %s/train.txt differs from the checkpoint's "
                    "(word %d of %d): the corpus changed since the checkpoint", a->data, (int)i, (int)n);
    return CLI_OK;
}

/* The corpus must be the run's (the same token ids over the checkpoint's vocabulary): the message
   names the file whose token count differs, or says the words do. */
static int check_corpus(const trainer *t)
{
    const train_pos *p = &t->pos;
    train_pos now = *p;
    train_corpus_identity(&t->c, &now);
    if (now.corpus_hash == p->corpus_hash && now.n_train == p->n_train && now.n_valid == p->n_valid &&
        now.n_test == p->n_test)
        return CLI_OK;
    const char *names[3] = {"train.txt", "valid.txt", "test.txt"};
    uint64_t have[3] = {now.n_train, now.n_valid, now.n_test}, want[3] = {p->n_train, p->n_valid, p->n_test};
    char what[128] = "the same number of tokens, other words";
    for (int i = 2; i >= 0; i--)
        if (have[i] != want[i])
            snprintf(what, sizeof what, "%s has %llu tokens, the checkpoint's %llu", names[i],
                     (unsigned long long)have[i], (unsigned long long)want[i]);
    if (t->resumed_data)
        RETURN_ERROR(CLI_RUNTIME, "cannot resume: the corpus in %s (--data) is not the one the run "
                     "trained on (in %s): %s", t->a->data, t->resumed_data, what);
    RETURN_ERROR(CLI_RUNTIME, "cannot resume: the corpus in %s changed since the checkpoint: %s", t->a->data,
                 what);
}

/* What the resumed run does, on stdout. */
static void print_resume(const trainer *t)
{
    const train_args *a = t->a;
    const train_pos *p = &t->pos;
    if (t->resumed_data && strcmp(t->resumed_data, t->abs_data) != 0)
        printf("| resume: the corpus moved from %s to %s\n", t->resumed_data, t->abs_data);
    if (train_early_stopped(t))
        printf("| resume: %s: training stopped early at epoch %d (--patience %d); testing the best model\n",
               a->resume, p->epoch - 1, a->patience);
    else if (p->epoch > a->epochs)
        printf("| resume: %s: training ended (%d epochs); testing the best model\n", a->resume, a->epochs);
    else
        printf("| resume: %s: epoch %d, %llu/%zu batches done (%llu in all), lr %.2f\n", a->resume,
               p->epoch, (unsigned long long)p->batch, t->nbatches, (unsigned long long)p->step, p->lr);
    if (a->epochs > t->resumed_epochs && !train_early_stopped(t))
        printf("| resume: --epochs %d extends the run's %d\n", a->epochs, t->resumed_epochs);
    fflush(stdout);
}

/* The corpus as it was (mapped onto the checkpoint's vocabulary), the rest of the setup, and the
   checks that the run can go on. */
static int setup_resume(trainer *t)
{
    const train_args *a = t->a;
    const train_pos *p = &t->pos;
    corpus_vocab *v = NULL;
    FORWARD_IF_ERROR(cli_model_vocab(t->m, &v));
    int rc = train_vocab_by_count(a) ? check_vocab(t, v) : CLI_OK;
    if (rc != CLI_OK) vocab_free(v);
    FORWARD_IF_ERROR(rc);
    FORWARD_IF_ERROR(cli_load_corpus(&t->c, a->data, v));
    FORWARD_IF_ERROR(check_corpus(t));
    FORWARD_IF_ERROR(train_setup_rest(t, "a"));
    RETURN_ERROR_IF(t->nbatches != p->nbatches, CLI_RUNTIME,
                    "cannot resume: %zu batches per epoch, the checkpoint has %llu", t->nbatches,
                    (unsigned long long)p->nbatches);
    FORWARD_IF_ERROR(check_best(t));
    progress_summary(t);
    print_resume(t);
    return CLI_OK;
}

/* The checkpoint's model, flags and position into t. */
static int resume_setup(trainer *t, const train_args *a, uint64_t seen, train_args *ra, char **store,
                        char **save_buf)
{
    FORWARD_IF_ERROR(cli_load_model(a->resume, &t->m));
    FORWARD_IF_ERROR(cli_check_trainable(t->m, "--resume", a->resume));
    FORWARD_IF_ERROR(read_state(t, a, seen, ra, store, save_buf));
    t->a = ra;
    FORWARD_IF_ERROR(train_claim(t));
    return setup_resume(t);
}

/* The checkpoint's model, flags and position into t, then the run from there (under mpirun, when
   every rank could set up). */
static int resume_run(trainer *t, const train_args *a, uint64_t seen, train_args *ra, char **store,
                      char **save_buf)
{
    FORWARD_IF_ERROR(mpi_agree(resume_setup(t, a, seen, ra, store, save_buf)));
    return train_run(t);
}

int train_resume(const train_args *a, uint64_t seen)
{
    trainer t;
    memset(&t, 0, sizeof t);
    train_args ra;
    char *store = NULL, *save_buf = NULL;
    int rc = resume_run(&t, a, seen, &ra, &store, &save_buf);
    train_teardown(&t);
    free(store);
    free(save_buf);
    return rc;
}
