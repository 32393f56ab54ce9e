/*
 * train_mpi.c -- examples/train.c (PyTorch's main.py on librnn's public API) as synchronous
 * data-parallel SGD over MPI: one MPI_Allreduce of the gradient block per step.
 *
 *   mpicc train_mpi.c $(pkg-config --cflags --libs rnn) -o train_mpi
 *   mpirun -np K ./train_mpi TRAIN.txt VALID.txt OUT.rnn [epochs]
 *
 * Every rank reads the corpus and creates the same model (same seed: the same weights). BATCH (20)
 * is the global batch: rank r trains streams [r*BATCH/K, (r+1)*BATCH/K) of every chunk, so K must
 * divide it. Dropout uses RNN_DROPOUT_COUNTER with the rank's first stream as the dropout position,
 * so the masks -- and, up to the order of the sums, the weights -- do not depend on K. Each step:
 * the loss's denominator is the whole batch's number of targets (rnn_set_loss_denominator; here
 * every target is kept, so BATCH x steps), so the local forward and backward give this rank's
 * share of the global mean loss and its gradient, and MPI_Allreduce sums them into the gradient of
 * the global mean loss with no scaling; every rank then clips and steps alike. Validation runs
 * on rank 0 alone (the other ranks wait in the next collective); rank 0 prints and saves.
 * The library itself knows nothing of MPI: the driver reduces what rnn_param_get_block exposes.
 */
#define RNN_EXPERT_API /* rnn_param_get_block, rnn_set_loss_denominator */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <rnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 20, EVAL_BATCH = 10, BPTT = 35 };

/* A linear-probing hash map word -> id (ids in order of first occurrence, as data.py). */
typedef struct vocab { char **words; int n, cap; int *slot; int nslot; } vocab;
typedef struct ids { int32_t *v; size_t n, cap; } ids;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "train_mpi: %s: %s\n", what, detail);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}
static void *xrealloc(void *p, size_t n)
{
    if (!(p = realloc(p, n))) die("out of memory", "realloc");
    return p;
}
static unsigned long hash(const char *s)
{
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}
static int32_t vocab_add(vocab *v, const char *w)
{
    if (2 * (v->n + 1) > v->nslot) { /* grow and rehash */
        int ns = v->nslot ? 2 * v->nslot : 1024;
        free(v->slot);
        v->slot = xrealloc(NULL, sizeof(int) * (size_t)ns);
        for (int i = 0; i < ns; i++) v->slot[i] = -1;
        v->nslot = ns;
        for (int i = 0; i < v->n; i++) {
            unsigned long h = hash(v->words[i]) & (unsigned long)(ns - 1);
            while (v->slot[h] >= 0) h = (h + 1) & (unsigned long)(ns - 1);
            v->slot[h] = i;
        }
    }
    unsigned long h = hash(w) & (unsigned long)(v->nslot - 1);
    for (; v->slot[h] >= 0; h = (h + 1) & (unsigned long)(v->nslot - 1))
        if (strcmp(v->words[v->slot[h]], w) == 0) return v->slot[h];
    if (v->n == v->cap) v->words = xrealloc(v->words, sizeof(char *) * (size_t)(v->cap = v->cap ? 2 * v->cap : 256));
    v->words[v->n] = strcpy(xrealloc(NULL, strlen(w) + 1), w);
    return v->slot[h] = v->n++;
}
static void push(ids *d, int32_t id)
{
    if (d->n == d->cap) d->v = xrealloc(d->v, sizeof(int32_t) * (d->cap = d->cap ? 2 * d->cap : 4096));
    d->v[d->n++] = id;
}
/* The words of one line (text[0..n), no line terminator), split as Python's str.split() does
   (rnn_text_next_word), added to v and out, then "<eos>". */
static void tokenize_line(const char *path, const char *text, size_t n, vocab *v, ids *out, char **word,
                          size_t *wcap)
{
    size_t pos = 0, len = 0;
    int rc;
    while ((rc = rnn_text_next_word(text, n, &pos, &len)) == RNN_OK) {
        if (len + 1 > *wcap) *word = xrealloc(*word, *wcap = len + 1);
        memcpy(*word, text + pos, len);
        (*word)[len] = '\0';
        push(out, vocab_add(v, *word));
        pos += len;
    }
    if (rc != RNN_ERR_NOTFOUND) die(path, "not UTF-8 text (or a NUL byte)"); /* RNN_ERR_FORMAT */
    push(out, vocab_add(v, "<eos>"));
}
/* data.py's tokenize: line.split() + ['<eos>'] for every line; lines end at "\n", "\r\n" or "\r"
   (Python's universal newlines). */
static void tokenize(const char *path, vocab *v, ids *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path, "cannot open");
    char *line = NULL, *word = NULL;
    size_t cap = 0, wcap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)got, start = 0;
        if (len > 0 && line[len - 1] == '\n') len--;
        for (;;) { /* a "\r" inside ends a line too */
            const char *cr = memchr(line + start, '\r', len - start);
            size_t end = cr ? (size_t)(cr - line) : len;
            if (!cr && start > 0 && start == len) break; /* "\r\n": the line already ended */
            tokenize_line(path, line + start, end - start, v, out, &word, &wcap);
            if (!cr) break;
            start = end + 1;
        }
    }
    free(line);
    free(word);
    fclose(f);
}

/*
 * main.py's batchify + get_batch without a copy: batchify makes stream b the row
 * data[b*nbatch, (b+1)*nbatch) of a [bsz][nbatch] array, and the chunk at column i is the
 * column slice tokens = &data[i], targets = &data[i + 1], rows nbatch apart: librnn's stride.
 */
static int chunk_steps(size_t nbatch, size_t i)
{
    return (int)(nbatch - 1 - i < BPTT ? nbatch - 1 - i : BPTT);
}
static int stride_of(size_t nbatch)
{
    if (nbatch > INT_MAX) die("corpus", "too large for one stride");
    return (int)nbatch;
}
static void check(rnn_model *m, int rc, const char *call)
{
    if (rc != RNN_OK) {
        fprintf(stderr, "train_mpi: %s: %s (%s)\n", call, rnn_status_string(rc), rnn_model_errmsg(m));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}
/* main.py's evaluate(): sum of steps * mean loss over chunks, / (len(data_source) - 1). */
static double evaluate(rnn_model *m, const ids *d)
{
    size_t nbatch = d->n / EVAL_BATCH;
    int stride = stride_of(nbatch);
    double total = 0.0, loss;
    check(m, rnn_model_reset_hidden(m, EVAL_BATCH), "rnn_model_reset_hidden");
    for (size_t i = 0; i + 1 < nbatch; i += BPTT) {
        int steps = chunk_steps(nbatch, i);
        check(m, rnn_evaluate(m, d->v + i, d->v + i + 1, EVAL_BATCH, steps, stride, &loss, NULL), "rnn_evaluate");
        total += steps * loss;
    }
    return total / (double)(nbatch - 1);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 4 || argc > 5) die("usage", "mpirun -np K train_mpi TRAIN.txt VALID.txt OUT.rnn [epochs]");
    if (BATCH % size != 0) die("mpirun -np", "K must divide the batch size 20");
    int epochs = argc == 5 ? atoi(argv[4]) : 40, rows = BATCH / size, first = rank * rows;
    vocab v = {0};
    ids train = {0}, valid = {0};
    tokenize(argv[1], &v, &train);
    tokenize(argv[2], &v, &valid);
    if (train.n < 2 * BATCH || valid.n < 2 * EVAL_BATCH || epochs < 1) die(argv[1], "corpus too small or bad epochs");
    if (rank == 0) printf("vocabulary %d words, train %zu tokens, %d processes\n", v.n, train.n, size);

    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = v.n;
    cfg.dropout_masks = RNN_DROPOUT_COUNTER; /* masks by global stream and step: independent of K */
    rnn_model *m = NULL;
    char err[256] = "";
    int rc = rnn_model_create(&m, &cfg, NULL, err, sizeof err);
    if (rc != RNN_OK) die("rnn_model_create", err[0] ? err : rnn_status_string(rc));
    check(m, rnn_vocab_set(m, (const char *const *)v.words, v.n), "rnn_vocab_set");
    check(m, rnn_model_set_dropout_position(m, (uint64_t)first, 0), "rnn_model_set_dropout_position");
    float *grad = NULL;
    size_t count = 0;
    check(m, rnn_param_get_block(m, NULL, &grad, &count), "rnn_param_get_block");
    if (count > INT_MAX) die("model", "too large for one MPI_Allreduce");

    float lr = 20.0f;
    double best = INFINITY;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        size_t nbatch = train.n / BATCH, chunks = 0;
        int stride = stride_of(nbatch);
        double sum = 0.0, loss = 0.0, norm = 0.0;
        check(m, rnn_model_reset_hidden(m, rows), "rnn_model_reset_hidden");
        for (size_t i = 0; i + 1 < nbatch; i += BPTT, chunks++) {
            int steps = chunk_steps(nbatch, i);
            const int32_t *mine = train.v + (size_t)first * nbatch + i; /* rows [first, first + rows) */
            check(m, rnn_set_loss_denominator(m, (double)BATCH * steps), "rnn_set_loss_denominator");
            check(m, rnn_forward(m, mine, mine + 1, rows, steps, stride, &loss), "rnn_forward");
            check(m, rnn_zero_grad(m), "rnn_zero_grad");
            check(m, rnn_backward(m), "rnn_backward");
            MPI_Allreduce(MPI_IN_PLACE, grad, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            check(m, rnn_clip_grad_norm(m, 0.25f, &norm), "rnn_clip_grad_norm");
            check(m, rnn_sgd_step(m, lr), "rnn_sgd_step");
            sum += loss; /* this rank's share of the batch's mean loss */
        }
        MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        double val = 0.0;
        if (rank == 0) val = evaluate(m, &valid);
        MPI_Bcast(&val, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD); /* every rank decides lr alike */
        if (rank == 0) {
            printf("| epoch %3d | lr %6.3f | train loss %6.3f | valid loss %6.3f | valid ppl %9.3f\n", epoch,
                   (double)lr, sum / (double)chunks, val, exp(val));
            fflush(stdout);
        }
        if (val < best) {
            best = val;
            if (rank == 0) check(m, rnn_model_save(m, argv[3], 0, NULL, 0), "rnn_model_save");
        } else {
            lr /= 4.0f;
        }
    }
    if (rank == 0) printf("best valid ppl %.3f saved to %s\n", exp(best), argv[3]);
    for (int i = 0; i < v.n; i++) free(v.words[i]);
    free(v.words), free(v.slot), free(train.v), free(valid.v);
    rnn_model_free(m);
    MPI_Finalize();
    return 0;
}
