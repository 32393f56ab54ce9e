/*
 * generate.c -- sample text from a saved model with the inference-state API.
 *
 *   cc generate.c $(pkg-config --cflags --libs rnn) -o generate
 *   ./generate MODEL.rnn [words [temperature [seed [prompt]]]]   (defaults: 100 words, 1.0, 1111)
 *
 * The model must carry its vocabulary (examples/train and `rnnlm train` save it). The stream
 * starts after "<eos>" when the vocabulary has it (i.e. at the start of a sentence), otherwise
 * after token 0; the words of `prompt` (split as Python's str.split() does, by rnn_vocab_encode;
 * unknown words become "<unk>" when the vocabulary has it) are fed after that. `words` tokens are
 * drawn with rnn_state_generate; words are printed separated by spaces and "<eos>" as a newline
 * (the prompt is not printed). A summary goes to stderr. The same seed gives the same text.
 */
#include <rnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: generate MODEL.rnn [words [temperature [seed [prompt]]]]\n");
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 100;
    rnn_sampling sampling;
    rnn_sampling_init(&sampling, sizeof sampling); /* temperature 1, no top-k / top-p: generate.py's multinomial */
    if (argc > 3) sampling.temperature = (float)atof(argv[3]);
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1111;
    const char *prompt = argc > 5 ? argv[5] : "";
    if (count < 0) {
        fprintf(stderr, "generate: words must be >= 0\n");
        return 2;
    }

    char err[256];
    rnn_model *m = NULL;
    int rc = rnn_model_load(&m, argv[1], NULL, 0, err, sizeof err);
    if (rc != RNN_OK) { /* no handle yet: the reason is in err */
        fprintf(stderr, "generate: rnn_model_load: %s (%s)\n", rnn_status_string(rc), err);
        return 1;
    }
    int nwords = 0;
    rnn_vocab_get_size(m, &nwords);
    if (nwords == 0) {
        fprintf(stderr, "generate: %s has no vocabulary\n", argv[1]);
        rnn_model_free(m);
        return 1;
    }
    int32_t eos = -1, unk = -1;
    if (rnn_vocab_find(m, "<eos>", &eos) != RNN_OK) eos = -1; /* RNN_ERR_NOTFOUND: none */
    if (rnn_vocab_find(m, "<unk>", &unk) != RNN_OK) unk = -1;

    /* the context: <eos> (or token 0), then the prompt's words */
    size_t nctx = 0, len = strlen(prompt);
    unsigned flags = unk >= 0 ? RNN_ENCODE_UNK_MAP : 0u;
    rc = rnn_vocab_encode(m, prompt, len, flags, NULL, 0, &nctx, NULL); /* measure: RNN_OK or RNN_ERR_SIZE */
    int32_t *ctx = NULL;
    if (rc == RNN_OK || rc == RNN_ERR_SIZE) {
        ctx = malloc(sizeof(int32_t) * (nctx + 1));
        rc = ctx ? RNN_OK : RNN_ERR_NOMEM;
    }
    if (rc == RNN_OK) {
        ctx[0] = eos >= 0 ? eos : 0;
        rc = rnn_vocab_encode(m, prompt, len, flags, ctx + 1, nctx, &nctx, NULL);
    }
    if (rc != RNN_OK) {
        fprintf(stderr, "generate: the prompt: %s (%s)\n", rnn_status_string(rc), rnn_model_errmsg(m));
        free(ctx);
        rnn_model_free(m);
        return 1;
    }

    rnn_state *st = NULL;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(count ? count : 1));
    rc = out ? rnn_state_create(&st, m, 1, seed) : RNN_ERR_NOMEM; /* one stream; the model is read-only */
    if (rc != RNN_OK) {
        fprintf(stderr, "generate: rnn_state_create: %s\n", rnn_status_string(rc));
        free(ctx);
        free(out);
        rnn_model_free(m);
        return 1;
    }
    rc = rnn_state_feed(st, ctx, (int)(nctx + 1), 0);                     /* condition on the context */
    if (rc == RNN_OK) rc = rnn_state_generate(st, &sampling, count, out); /* draw, feed, repeat */
    if (rc != RNN_OK) {
        fprintf(stderr, "generate: %s (%s)\n", rnn_status_string(rc), rnn_state_errmsg(st));
    } else {
        int line_open = 0, neos = 0;
        for (int i = 0; i < count; i++) {
            const char *w = NULL;
            if (out[i] == eos) {
                putchar('\n');
                line_open = 0, neos++;
                continue;
            }
            if (rnn_vocab_get_word(m, out[i], &w) != RNN_OK) w = "?"; /* every id is < vocab_size */
            printf("%s%s", line_open ? " " : "", w);
            line_open = 1;
        }
        if (line_open) putchar('\n');
        fprintf(stderr, "generated %d tokens: %d words, %d <eos>\n", count, count - neos, neos);
    }
    rnn_state_free(st);
    free(ctx);
    free(out);
    rnn_model_free(m);
    return rc != RNN_OK;
}
