/*
 * score.c -- log-probability and perplexity of every line of a text under a saved model.
 *
 *   cc score.c $(pkg-config --cflags --libs rnn) -o score
 *   ./score MODEL.rnn TEXT.txt [--reset]
 *
 * Each line is tokenized as data.py does (whitespace-separated words, then "<eos>"); words missing
 * from the model's vocabulary become "<unk>" when it has one (otherwise an error). Every token of
 * the line, its "<eos>" included, is scored with rnn_state_score (natural log).
 *
 * State: by default the hidden state is CARRIED from line to line, so the text is scored as one
 * continuous stream, as the model saw its training data; before the first line the state is
 * primed with one "<eos>" (the context every line but the first has in a training stream).
 * With --reset every line is scored independently: the state is reset (rnn_state_reset) and
 * primed with "<eos>" before each line.
 *
 * Output: one line per input line, "LINE<TAB>TOKENS<TAB>LOGPROB<TAB>PPL", then
 * "total: lines N tokens T logprob X ppl Y" with ppl = exp(-logprob / tokens).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <rnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry { const char *word; int32_t id; } entry;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->word, ((const entry *)b)->word);
}
/* The id of w in the sorted table, or -1. */
static int32_t lookup(const entry *tab, int n, const char *w)
{
    entry key = {w, 0};
    const entry *e = bsearch(&key, tab, (size_t)n, sizeof *tab, cmp_entry);
    return e ? e->id : -1;
}

int main(int argc, char **argv)
{
    int reset = argc == 4 && strcmp(argv[3], "--reset") == 0;
    if (argc < 3 || (argc == 4 && !reset) || argc > 4) {
        fprintf(stderr, "usage: score MODEL.rnn TEXT.txt [--reset]\n");
        return 2;
    }
    char err[256];
    rnn_model *m = NULL;
    int rc = rnn_model_load(&m, argv[1], NULL, err, sizeof err);
    if (rc != RNN_OK) {
        fprintf(stderr, "score: rnn_model_load: %s (%s)\n", rnn_strerror(rc), err);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    int n = 0;
    rnn_vocab_size(m, &n);
    entry *tab = malloc(sizeof(entry) * (size_t)(n ? n : 1));
    if (!f || !tab || n == 0) {
        fprintf(stderr, "score: %s\n", !f ? "cannot open the text" : !tab ? "out of memory" : "the model has no vocabulary");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        tab[i].id = i;
        rnn_vocab_word(m, i, &tab[i].word); /* cannot fail for i in [0, n) */
    }
    qsort(tab, (size_t)n, sizeof *tab, cmp_entry);
    int32_t eos = lookup(tab, n, "<eos>"), unk = lookup(tab, n, "<unk>");
    if (eos < 0) {
        fprintf(stderr, "score: the model's vocabulary has no <eos>\n");
        goto fail;
    }

    rnn_state *st = NULL;
    rc = rnn_state_create(&st, m, 1, 0); /* one stream; the seed only matters for sampling */
    if (rc != RNN_OK) {
        fprintf(stderr, "score: rnn_state_create: %s\n", rnn_strerror(rc));
        goto fail;
    }
    char *line = NULL;
    size_t cap = 0, ntok = 0, tokcap = 0, total_tokens = 0;
    int32_t *tok = NULL;
    double total = 0.0;
    long lineno = 0;
    rc = rnn_state_feed(st, &eos, 1);
    while (rc == RNN_OK && getline(&line, &cap, f) >= 0) {
        lineno++;
        ntok = 0;
        for (char *w = strtok(line, " \t\r\n\v\f");; w = strtok(NULL, " \t\r\n\v\f")) {
            int32_t id = w ? lookup(tab, n, w) : eos;
            if (id < 0) id = unk;
            if (id < 0) {
                fprintf(stderr, "score: %s:%ld: '%s' is not in the vocabulary (which has no <unk>)\n", argv[2],
                        lineno, w);
                rc = RNN_ERR_NOTFOUND;
                break;
            }
            if (ntok == tokcap) {
                int32_t *t = realloc(tok, sizeof(int32_t) * (tokcap = tokcap ? 2 * tokcap : 256));
                if (!t) {
                    rc = RNN_ERR_NOMEM;
                    fprintf(stderr, "score: out of memory\n");
                    break;
                }
                tok = t;
            }
            tok[ntok++] = id;
            if (!w) break;
        }
        double lp = 0.0;
        if (rc == RNN_OK && reset) {
            rc = rnn_state_reset(st); /* zeros; then the same <eos> context as the first line */
            if (rc == RNN_OK) rc = rnn_state_feed(st, &eos, 1);
        }
        if (rc == RNN_OK) rc = rnn_state_score(st, tok, (int)ntok, &lp); /* scores, then advances */
        if (rc == RNN_OK) {
            printf("%ld\t%zu\t%.6f\t%.4f\n", lineno, ntok, lp, exp(-lp / (double)ntok));
            total += lp;
            total_tokens += ntok;
        }
    }
    if (rc != RNN_OK && rc != RNN_ERR_NOTFOUND && rc != RNN_ERR_NOMEM) /* a librnn call failed */
        fprintf(stderr, "score: %s:%ld: %s (%s)\n", argv[2], lineno, rnn_strerror(rc), rnn_state_errmsg(st));
    if (rc == RNN_OK && total_tokens == 0) {
        fprintf(stderr, "score: %s is empty\n", argv[2]);
        rc = RNN_ERR_INVALID;
    }
    if (rc == RNN_OK)
        printf("total: lines %ld tokens %zu logprob %.6f ppl %.4f\n", lineno, total_tokens, total,
               exp(-total / (double)total_tokens));
    free(line);
    free(tok);
    rnn_state_free(st);
    free(tab);
    fclose(f);
    rnn_model_free(m);
    return rc != RNN_OK;
fail:
    free(tab);
    if (f) fclose(f);
    rnn_model_free(m);
    return 1;
}
