/*
 * score.c -- log-probability and perplexity of every line of a text under a saved model.
 *
 *   cc score.c $(pkg-config --cflags --libs rnn) -o score
 *   ./score MODEL.rnn TEXT.txt [--reset]
 *
 * Each line is tokenized exactly as data.py and `rnnlm score` do, by rnn_vocab_encode: lines end
 * at "\n", "\r\n" or "\r"; words are what Python's str.split() returns, then "<eos>"; words missing
 * from the model's vocabulary become "<unk>" when it has one (otherwise an error naming the word);
 * the text must be UTF-8. Every token of the line, its "<eos>" included, is scored with
 * rnn_state_score (natural log).
 *
 * State: by default the hidden state is CARRIED from line to line, so the text is scored as one
 * continuous stream, as the model saw its training data; before the first line the state is
 * primed with one "<eos>" (the context every line but the first has in a training stream).
 * With --reset every line is scored on its own, as n-best rescoring and KenLM score a line:
 * rnn_state_score_sentence restarts the state from zeros and "<eos>" before the line, so identical
 * lines get identical scores (`rnnlm score --per-sentence` calls the same function).
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

typedef struct scorer {
    rnn_model *m;
    rnn_state *st;
    const char *path;
    unsigned flags;  /* rnn_vocab_encode's: RNN_ENCODE_EOS, and RNN_ENCODE_UNK_MAP with <unk> */
    int32_t eos;
    int reset;
    int32_t *tok;    /* the current line's tokens */
    size_t tokcap;
    long lineno;
    size_t total_tokens;
    double total;
} scorer;

/* Tokenizes and scores one line (text[0..len), no line terminator); prints its result. */
static int score_line(scorer *s, const char *text, size_t len)
{
    size_t ntok = 0;
    s->lineno++;
    int rc = rnn_vocab_encode(s->m, text, len, s->flags, s->tok, s->tokcap, &ntok, NULL);
    if ((rc == RNN_OK || rc == RNN_ERR_SIZE) && ntok > s->tokcap) {
        /* a longer line than any before (RNN_ERR_SIZE, or RNN_OK when s->tok is still NULL: a
           measurement): grow, then encode again */
        int32_t *t = realloc(s->tok, sizeof(int32_t) * ntok);
        if (!t) {
            fprintf(stderr, "score: out of memory\n");
            return RNN_ERR_NOMEM;
        }
        s->tok = t, s->tokcap = ntok;
        rc = rnn_vocab_encode(s->m, text, len, s->flags, s->tok, s->tokcap, &ntok, NULL);
    }
    if (rc == RNN_ERR_NOTFOUND) { /* the message names the word */
        fprintf(stderr, "score: %s:%ld: %s (the vocabulary has no <unk>)\n", s->path, s->lineno,
                rnn_model_errmsg(s->m));
        return rc;
    }
    if (rc != RNN_OK) { /* text that is not UTF-8, a NUL byte, an overlong word */
        fprintf(stderr, "score: %s:%ld: %s (%s)\n", s->path, s->lineno, rnn_status_string(rc),
                rnn_model_errmsg(s->m));
        return rc;
    }
    double lp = 0.0;
    if (s->reset) /* the line on its own: zeros, then the same <eos> context as the first line */
        rc = rnn_state_score_sentence(s->st, s->tok, (int)ntok, 0, &lp);
    else
        rc = rnn_state_score(s->st, s->tok, (int)ntok, 0, &lp); /* scores, then advances */
    if (rc != RNN_OK) {
        fprintf(stderr, "score: %s:%ld: %s (%s)\n", s->path, s->lineno, rnn_status_string(rc),
                rnn_state_errmsg(s->st));
        return rc;
    }
    printf("%ld\t%zu\t%.6f\t%.4f\n", s->lineno, ntok, lp, exp(-lp / (double)ntok));
    s->total += lp;
    s->total_tokens += ntok;
    return RNN_OK;
}

int main(int argc, char **argv)
{
    int reset = argc == 4 && strcmp(argv[3], "--reset") == 0;
    if (argc < 3 || (argc == 4 && !reset) || argc > 4) {
        fprintf(stderr, "usage: score MODEL.rnn TEXT.txt [--reset]\n");
        return 2;
    }
    char err[256];
    scorer s = {0};
    s.path = argv[2], s.reset = reset;
    int rc = rnn_model_load(&s.m, argv[1], NULL, 0, err, sizeof err);
    if (rc != RNN_OK) {
        fprintf(stderr, "score: rnn_model_load: %s (%s)\n", rnn_status_string(rc), err);
        return 1;
    }
    int n = 0;
    int32_t unk = -1;
    rnn_vocab_get_size(s.m, &n);
    FILE *f = fopen(argv[2], "rb"); /* line ends are handled below, as Python's universal newlines */
    if (!f || n == 0) {
        fprintf(stderr, "score: %s\n", !f ? "cannot open the text" : "the model has no vocabulary");
        goto fail;
    }
    if (rnn_vocab_find(s.m, "<eos>", &s.eos) != RNN_OK) {
        fprintf(stderr, "score: the model's vocabulary has no <eos>\n");
        goto fail;
    }
    s.flags = RNN_ENCODE_EOS;
    if (rnn_vocab_find(s.m, "<unk>", &unk) == RNN_OK) s.flags |= RNN_ENCODE_UNK_MAP;

    rc = rnn_state_create(&s.st, s.m, 1, 0); /* one stream; the seed only matters for sampling */
    if (rc != RNN_OK) {
        fprintf(stderr, "score: rnn_state_create: %s\n", rnn_status_string(rc));
        goto fail;
    }
    rc = rnn_state_feed(s.st, &s.eos, 1, 0);
    if (rc != RNN_OK) fprintf(stderr, "score: %s (%s)\n", rnn_status_string(rc), rnn_state_errmsg(s.st));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    /* getline splits at "\n"; a "\r" inside (a lone "\r", or the "\r" of "\r\n") ends a line too */
    while (rc == RNN_OK && (got = getline(&buf, &cap, f)) >= 0) {
        size_t len = (size_t)got, pos = 0;
        if (len > 0 && buf[len - 1] == '\n') len--;
        for (;;) {
            const char *cr = memchr(buf + pos, '\r', len - pos);
            size_t end = cr ? (size_t)(cr - buf) : len;
            if (!cr && pos > 0 && pos == len) break; /* the "\r" ended the line: nothing after it */
            rc = score_line(&s, buf + pos, end - pos);
            if (rc != RNN_OK || !cr) break;
            pos = end + 1;
        }
    }
    free(buf);
    if (rc == RNN_OK && ferror(f)) {
        fprintf(stderr, "score: cannot read %s\n", argv[2]);
        rc = RNN_ERR_IO;
    }
    if (rc == RNN_OK && s.total_tokens == 0) {
        fprintf(stderr, "score: %s is empty\n", argv[2]);
        rc = RNN_ERR_INVALID;
    }
    if (rc == RNN_OK)
        printf("total: lines %ld tokens %zu logprob %.6f ppl %.4f\n", s.lineno, s.total_tokens, s.total,
               exp(-s.total / (double)s.total_tokens));
    free(s.tok);
    rnn_state_free(s.st);
    fclose(f);
    rnn_model_free(s.m);
    return rc != RNN_OK;
fail:
    if (f) fclose(f);
    rnn_model_free(s.m);
    return 1;
}
