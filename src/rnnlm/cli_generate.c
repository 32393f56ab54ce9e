/*
 * cli_generate.c -- `rnnlm generate`: PyTorch's generate.py with a saved model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct gen_args {
    const char *checkpoint, *outf, *prompt;
    int words, log_interval, top_k, threads;
    long long seed;
    double temperature, top_p;
} gen_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(gen_args, n, a, k, field)

static const cli_flag generate_flags[] = {
    {CLI_CHECKPOINT_FLAG(gen_args)},
    {FLAG("outf", "FILE", CLI_STR, outf), .def = "generated.txt",
     .help = "output file, written atomically; - for stdout. default %D"},
    {FLAG("words", "N", CLI_INT, words), CLI_NATURAL, .def = "1000",
     .help = "number of words to generate, default %D"},
    {FLAG("seed", "N", CLI_I64, seed), CLI_ANY_I64, .def = "1111", .help = "random seed, default %D"},
    {FLAG("temperature", "T", CLI_REAL, temperature), .lo = 0, .hi = INFINITY, .def = "1.0",
     .what = CLI_FLOAT, .help = "higher T: more diversity; 0: greedy (always the most likely word).\n"
             "default %D"},
    {FLAG("log-interval", "N", CLI_INT, log_interval), CLI_POSITIVE, .def = "100",
     .help = "report every N words, default %D"},
    {FLAG("top-k", "K", CLI_INT, top_k), CLI_NATURAL,
     .help = "sample only from the K most likely words; 0: all (default)"},
    {FLAG("top-p", "P", CLI_REAL, top_p), .lo = 0, .lo_open = 1, .hi = 1, .def = "1",
     .what = CLI_FLOAT, .help = "nucleus sampling: only from the most likely words whose probability\n"
             "reaches P, in (0, 1]; 1: all (default)"},
    {FLAG("prompt", "TEXT", CLI_STR, prompt),
     .help = "words to condition on (unknown words become <unk>, if the model has it)"},
    {CLI_THREADS_FLAG(gen_args),
     .help = "threads, default one per CPU (librnn's own, splitting the output\n"
             "layer; OpenBLAS is kept to one). The text is the same for any N"},
};

static const char generate_head[] =
    "usage: rnnlm generate --checkpoint FILE [flags]\n"
    "\n"
    "Samples text from a saved model as generate.py does: one stream, the first input a random\n"
    "word (drawn from --seed) or the words of --prompt fed through the model first (the prompt\n"
    "itself is not written), then --words samples, joined by spaces with each <eos> written as a\n"
    "newline (as the lecture note this project follows writes them). The same --seed (and flags)\n"
    "gives the same text.\n"
    "Each word is drawn from softmax(log_probs / T), cut to the --top-k most likely words and\n"
    "then to the smallest set of most likely words whose probability reaches --top-p.\n"
    "\n";

static const cli_command generate_command = {"generate", generate_flags,
                                             (int)(sizeof generate_flags / sizeof generate_flags[0]), 22,
                                             generate_head, NULL};

static int parse_generate(int argc, char **argv, gen_args *a, int *help)
{
    memset(a, 0, sizeof *a);
    FORWARD_IF_ERROR(cli_parse(&generate_command, argc, argv, a, NULL, help));
    if (*help) return CLI_OK;
    return cli_require(&generate_command, a);
}

/*
 * The prompt's token ids (*ids, *n; malloc'd): its words as Python's str.split() gives them
 * (rnn_vocab_encode, the tokenizer of rnnlm's corpora), words missing from the vocabulary mapped
 * to <unk> when the model has it, otherwise an error naming the word.
 */
static int prompt_ids(const rnn_model *m, const char *prompt, int32_t **ids, int *n)
{
    int32_t unk = -1;
    unsigned flags = rnn_vocab_find(m, CORPUS_UNK, &unk) == RNN_OK ? RNN_ENCODE_UNK_MAP : 0u;
    size_t len = strlen(prompt), count = 0;
    int32_t *out = NULL;
    *ids = NULL, *n = 0;
    int lrc = rnn_vocab_encode(m, prompt, len, flags, NULL, 0, &count, NULL);
    if (lrc == RNN_ERR_SIZE || (lrc == RNN_OK && count > 0)) {
        RETURN_ERROR_IF(count > INT32_MAX, CLI_USAGE, "--prompt has too many words");
        out = malloc(count * sizeof *out);
        RETURN_ERROR_IF(!out, CLI_RUNTIME, "out of memory");
        lrc = rnn_vocab_encode(m, prompt, len, flags, out, count, &count, NULL);
    }
    if (lrc != RNN_OK || count == 0) free(out);
    const char *why = rnn_model_errmsg(m);
    RETURN_ERROR_IF(lrc == RNN_ERR_NOTFOUND, CLI_RUNTIME,
                    "--prompt: %s (the model's vocabulary has no %s)",
                    *why ? why : "a word is not in the model's vocabulary", CORPUS_UNK);
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "--prompt: %s%s%s", rnn_status_string(lrc),
                    *why ? ": " : "", why);
    RETURN_ERROR_IF(count == 0, CLI_USAGE, "--prompt has no words");
    *ids = out, *n = (int)count;
    return CLI_OK;
}

/* The next-word log-probabilities of st are finite (logprobs: room for them), before word i. */
static int check_finite(rnn_state *st, float *logprobs, int words, int i)
{
    RETURN_ERROR_IF(rnn_state_get_logprobs(st, logprobs) != RNN_OK, CLI_RUNTIME, "sampling failed: %s",
                    rnn_state_errmsg(st));
    int k = 0;
    while (k < words && isfinite(logprobs[k])) k++;
    RETURN_ERROR_IF(k < words, CLI_RUNTIME, "the next-word probabilities are not finite at word %d: %s",
                    i, CLI_OVERFLOW);
    return CLI_OK;
}

/* generate.py's loop: draw a word, write it, feed it; words to out (joined by spaces, <eos> as a
   newline, as the lecture note writes them; a final newline ends the text), progress to log. The
   distribution is checked to be finite now and then (logprobs: room for it). */
static int sample_words(const rnn_model *m, rnn_state *st, const gen_args *a, float *logprobs, FILE *out,
                        FILE *log)
{
    rnn_sampling s;
    rnn_sampling_init(&s, sizeof s);
    s.temperature = (float)a->temperature, s.top_k = a->top_k, s.top_p = (float)a->top_p;
    int words = 0;
    rnn_vocab_get_size(m, &words);
    for (int i = 0; i < a->words; i++) {
        int32_t next;
        const char *word = NULL;
        /* as often as the progress is logged, and before the last word: computing the distribution
           again costs as much as drawing from it */
        if (i % a->log_interval == 0 || i == a->words - 1)
            FORWARD_IF_ERROR(check_finite(st, logprobs, words, i));
        RETURN_ERROR_IF(rnn_state_draw(st, &s, &next) != RNN_OK ||
                            rnn_state_feed(st, &next, 1, 0) != RNN_OK,
                        CLI_RUNTIME, "sampling failed: %s", rnn_state_errmsg(st));
        RETURN_ERROR_IF(rnn_vocab_get_word(m, next, &word) != RNN_OK, CLI_RUNTIME, "sampling failed: %s",
                        rnn_model_errmsg(m));
        /* the lecture note's ' '.join(words).replace('<eos>', '\n') */
        if (i > 0) fputc(' ', out);
        fputs(strcmp(word, CORPUS_EOS) == 0 ? "\n" : word, out);
        if (i % a->log_interval == 0) {
            fprintf(log, "| Generated %d/%d words\n", i, a->words);
            fflush(log);
        }
    }
    return CLI_OK;
}

/* The first input (ids[0..n): a random word, or the prompt) in one rnn_state_feed, then the
   sampling loop into --outf. */
static int generate_from(const gen_args *a, const rnn_model *m, rnn_state *st, const int32_t *ids, int n)
{
    RETURN_ERROR_IF(rnn_state_feed(st, ids, n, 0) != RNN_OK, CLI_RUNTIME, "cannot feed the prompt: %s",
                    rnn_state_errmsg(st));
    int words = 0;
    rnn_vocab_get_size(m, &words);
    float *logprobs = malloc((size_t)words * sizeof *logprobs);
    RETURN_ERROR_IF(!logprobs, CLI_RUNTIME, "out of memory");
    cli_outfile o;
    int rc = cli_out_open(&o, a->outf);
    if (rc == CLI_OK) {
        rc = sample_words(m, st, a, logprobs, o.f, o.to_stdout ? stderr : stdout);
        if (rc == CLI_OK && a->words > 0) fputc('\n', o.f); /* end the text */
        rc = cli_out_close(&o, rc == CLI_OK);
    }
    free(logprobs);
    return rc;
}

/* One inference state (rnn_state, seeded with --seed) over the model, fed ids[0..n) first. */
static int generate_after(const gen_args *a, const rnn_model *m, const int32_t *ids, int n)
{
    rnn_state *st = NULL;
    int lrc = rnn_state_create(&st, m, 1, (uint64_t)a->seed);
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "cannot create a state: %s", rnn_status_string(lrc));
    int rc = generate_from(a, m, st, ids, n);
    rnn_state_free(st);
    return rc;
}

/* The first input: the prompt's words, or a random word id drawn from --seed with splitmix64
   (deterministic). */
static int run_generate(const void *args, rnn_model *m, const int32_t *no_ids, size_t no_n)
{
    const gen_args *a = args;
    (void)no_ids, (void)no_n;
    int words = 0, n = 0;
    rnn_vocab_get_size(m, &words);
    uint64_t seed_state = (uint64_t)a->seed;
    int32_t first = (int32_t)(rnn__splitmix64(&seed_state) % (uint64_t)words), *ids = NULL;
    if (!a->prompt) return generate_after(a, m, &first, 1);
    FORWARD_IF_ERROR(prompt_ids(m, a->prompt, &ids, &n));
    int rc = generate_after(a, m, ids, n);
    free(ids);
    return rc;
}

int cli_generate(int argc, char **argv)
{
    gen_args a;
    int help = 0;
    FORWARD_IF_ERROR(parse_generate(argc, argv, &a, &help));
    if (help) return cli_help(&generate_command);
    cli_path out = {"--outf", strcmp(a.outf, "-") == 0 ? NULL : a.outf};
    cli_path in = {"--checkpoint", a.checkpoint};
    FORWARD_IF_ERROR(cli_check_outputs(&out, 1, &in, 1));
    return cli_run_model(a.checkpoint, a.threads, NULL, run_generate, &a);
}
