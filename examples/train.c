/*
 * train.c -- PyTorch's examples/word_language_model/main.py written against librnn's public API.
 *
 *   cc train.c $(pkg-config --cflags --libs rnn) -o train
 *   ./train TRAIN.txt VALID.txt OUT.rnn [epochs]
 *
 * Words are whitespace-separated, every line ends with "<eos>" (data.py). The vocabulary is built
 * over TRAIN then VALID. main.py's defaults: LSTM, emsize = nhid = 200, 2 layers, dropout 0.2,
 * lr 20, clip 0.25, batch 20, bptt 35, eval batch 10. After every epoch the model is evaluated on
 * VALID; it is saved (with its vocabulary) when the validation loss improves, else lr /= 4.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
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
    fprintf(stderr, "train: %s: %s\n", what, detail);
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
/* data.py's tokenize: line.split() + ['<eos>'] for every line. */
static void tokenize(const char *path, vocab *v, ids *out)
{
    FILE *f = fopen(path, "r");
    if (!f) die(path, "cannot open");
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        for (char *w = strtok(line, " \t\r\n\v\f"); w; w = strtok(NULL, " \t\r\n\v\f")) push(out, vocab_add(v, w));
        push(out, vocab_add(v, "<eos>"));
    }
    free(line);
    fclose(f);
}

/* main.py's batchify + get_batch: stream b is data[b*nbatch, (b+1)*nbatch); chunk at row i. */
static int get_batch(const ids *d, int bsz, size_t i, int32_t *tok, int32_t *tgt)
{
    size_t nbatch = d->n / (size_t)bsz;
    int steps = (int)(nbatch - 1 - i < BPTT ? nbatch - 1 - i : BPTT);
    for (int b = 0; b < bsz; b++)
        for (int s = 0; s < steps; s++) {
            tok[b * steps + s] = d->v[(size_t)b * nbatch + i + (size_t)s];
            tgt[b * steps + s] = d->v[(size_t)b * nbatch + i + (size_t)s + 1];
        }
    return steps;
}
static void check(rnn_model *m, int rc, const char *call)
{
    if (rc != RNN_OK) {
        fprintf(stderr, "train: %s: %s (%s)\n", call, rnn_strerror(rc), rnn_errmsg(m));
        rnn_model_free(m);
        exit(1);
    }
}
/* main.py's evaluate(): sum of steps * mean loss over chunks, / (len(data_source) - 1). */
static double evaluate(rnn_model *m, const ids *d, int32_t *tok, int32_t *tgt)
{
    size_t nbatch = d->n / EVAL_BATCH;
    double total = 0.0, loss;
    check(m, rnn_reset_state(m, EVAL_BATCH), "rnn_reset_state");
    for (size_t i = 0; i + 1 < nbatch; i += BPTT) {
        int steps = get_batch(d, EVAL_BATCH, i, tok, tgt);
        check(m, rnn_evaluate(m, tok, tgt, EVAL_BATCH, steps, &loss, NULL), "rnn_evaluate");
        total += steps * loss;
    }
    return total / (double)(nbatch - 1);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: train TRAIN.txt VALID.txt OUT.rnn [epochs]\n");
        return 2;
    }
    int epochs = argc == 5 ? atoi(argv[4]) : 40;
    vocab v = {0};
    ids train = {0}, valid = {0};
    tokenize(argv[1], &v, &train);
    tokenize(argv[2], &v, &valid);
    if (train.n < 2 * BATCH || valid.n < 2 * EVAL_BATCH || epochs < 1) die(argv[1], "corpus too small or bad epochs");
    printf("vocabulary %d words, train %zu tokens, valid %zu tokens\n", v.n, train.n, valid.n);

    rnn_config cfg;
    rnn_config_init(&cfg); /* main.py's defaults: LSTM 200/200, 2 layers, dropout 0.2, seed 1111 */
    cfg.vocab_size = v.n;
    rnn_model *m = NULL;
    int rc = rnn_model_create(&m, &cfg, NULL);
    if (rc != RNN_OK) die("rnn_model_create", rnn_strerror(rc)); /* no handle: no rnn_errmsg */
    check(m, rnn_vocab_set(m, (const char *const *)v.words, v.n), "rnn_vocab_set");

    int32_t *tok = xrealloc(NULL, sizeof(int32_t) * BATCH * BPTT), *tgt = xrealloc(NULL, sizeof(int32_t) * BATCH * BPTT);
    float lr = 20.0f;
    double best = INFINITY;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        size_t nbatch = train.n / BATCH, chunks = 0;
        double sum = 0.0, loss = 0.0, norm = 0.0;
        check(m, rnn_reset_state(m, BATCH), "rnn_reset_state"); /* model.init_hidden(batch_size) */
        for (size_t i = 0; i + 1 < nbatch; i += BPTT, chunks++) {
            int steps = get_batch(&train, BATCH, i, tok, tgt);
            check(m, rnn_forward(m, tok, tgt, BATCH, steps, &loss), "rnn_forward"); /* hidden detached */
            check(m, rnn_zero_grad(m), "rnn_zero_grad");
            check(m, rnn_backward(m), "rnn_backward");
            check(m, rnn_clip_grad_norm(m, 0.25f, &norm), "rnn_clip_grad_norm");
            check(m, rnn_sgd_step(m, lr), "rnn_sgd_step");
            sum += loss;
        }
        double val = evaluate(m, &valid, tok, tgt);
        printf("| epoch %3d | lr %6.3f | train loss %6.3f | valid loss %6.3f | valid ppl %9.3f\n", epoch,
               (double)lr, sum / (double)chunks, val, exp(val));
        fflush(stdout);
        if (val < best) {
            best = val;
            check(m, rnn_model_save(m, argv[3]), "rnn_model_save"); /* atomic, vocabulary included */
        } else {
            lr /= 4.0f;
        }
    }
    printf("best valid ppl %.3f saved to %s\n", exp(best), argv[3]);
    for (int i = 0; i < v.n; i++) free(v.words[i]);
    free(v.words), free(v.slot), free(train.v), free(valid.v), free(tok), free(tgt);
    rnn_model_free(m);
    return 0;
}
