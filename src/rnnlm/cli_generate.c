/*
 * cli_generate.c -- `rnnlm generate`: PyTorch's generate.py with a saved model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char generate_help[] =
    "usage: rnnlm generate --checkpoint FILE [flags]\n"
    "\n"
    "Samples text from a saved model as generate.py does: one stream, the first input a random\n"
    "word (drawn from --seed) or the words of --prompt fed through the model first (the prompt\n"
    "itself is not written), then --words samples, joined by spaces with each <eos> written as a\n"
    "newline (as the seed writes them). The same seed (and flags) gives the same text.\n"
    "Each word is drawn from softmax(log_probs / T), cut to the --top-k most likely words and\n"
    "then to the smallest set of most likely words whose probability reaches --top-p.\n"
    "\n"
    "  --checkpoint FILE   model saved by rnnlm train (required)\n"
    "  --outf FILE         output file, written atomically; - for stdout. default generated.txt\n"
    "  --words N           number of words to generate, default 1000\n"
    "  --seed N            random seed, default 1111\n"
    "  --temperature T     higher T: more diversity; 0: greedy (always the most likely word).\n"
    "                      default 1.0\n"
    "  --log-interval N    report every N words, default 100\n"
    "  --top-k K           sample only from the K most likely words; 0: all (default)\n"
    "  --top-p P           nucleus sampling: only from the most likely words whose probability\n"
    "                      reaches P, in (0, 1]; 1: all (default)\n"
    "  --prompt TEXT       words to condition on (unknown words become <unk>, if the model has it)\n"
    "  --threads N         threads, default one per CPU (librnn's own, splitting the output\n"
    "                      layer; OpenBLAS is kept to one). The text is the same for any N\n";

typedef struct gen_args {
    const char *checkpoint, *outf, *prompt;
    int words, log_interval, top_k, threads;
    long long seed;
    double temperature, top_p;
} gen_args;

static int parse_generate(int argc, char **argv, gen_args *a, int *help)
{
    a->checkpoint = a->prompt = NULL;
    a->outf = "generated.txt";
    a->words = 1000, a->log_interval = 100, a->seed = 1111, a->temperature = 1.0;
    a->top_k = 0, a->top_p = 1.0, a->threads = 0;
    cli_opt opts[] = {
        {"checkpoint", CLI_STR, &a->checkpoint, 0, 0, 0, 0, 0},
        {"outf", CLI_STR, &a->outf, 0, 0, 0, 0, 0},
        {"words", CLI_INT, &a->words, 0, INT32_MAX, 0, 0, 0},
        {"seed", CLI_I64, &a->seed, -9.2e18, 9.2e18, 0, 0, 0},
        {"temperature", CLI_REAL, &a->temperature, 0, INFINITY, 0, 0, 0},
        {"log-interval", CLI_INT, &a->log_interval, 1, INT32_MAX, 0, 0, 0},
        {"prompt", CLI_STR, &a->prompt, 0, 0, 0, 0, 0},
        {"top-k", CLI_INT, &a->top_k, 0, INT32_MAX, 0, 0, 0},
        {"top-p", CLI_REAL, &a->top_p, 0, 1, 1, 0, 0},
        {"threads", CLI_INT, &a->threads, 1, cli_max_threads(), 0, 0, 0},
    };
    int rc = cli_parse("generate", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help);
    if (rc != CLI_OK || *help) return rc;
    if (!a->checkpoint) return cli_error(CLI_USAGE, "generate: --checkpoint FILE is required");
    return CLI_OK;
}

/* splitmix64: the first word id is drawn from the seed with it (deterministic). */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
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
        if (count > INT32_MAX) return cli_error(CLI_USAGE, "--prompt has too many words");
        out = malloc(count * sizeof *out);
        if (!out) return cli_error(CLI_RUNTIME, "out of memory");
        lrc = rnn_vocab_encode(m, prompt, len, flags, out, count, &count, NULL);
    }
    if (lrc != RNN_OK) {
        const char *why = rnn_model_errmsg(m);
        free(out);
        if (lrc == RNN_ERR_NOTFOUND)
            return cli_error(CLI_RUNTIME, "--prompt: %s (the model's vocabulary has no %s)",
                             *why ? why : "a word is not in the model's vocabulary", CORPUS_UNK);
        return cli_error(CLI_RUNTIME, "--prompt: %s%s%s", rnn_status_string(lrc), *why ? ": " : "", why);
    }
    if (count == 0) {
        free(out);
        return cli_error(CLI_USAGE, "--prompt has no words");
    }
    *ids = out, *n = (int)count;
    return CLI_OK;
}

/* generate.py's loop: draw a word, write it, feed it; words to out (joined by spaces, <eos> as a
   newline, as the seed writes them; a final newline ends the text), progress to log. */
static int sample_words(const rnn_model *m, rnn_state *st, const gen_args *a, FILE *out, FILE *log)
{
    rnn_sampling s;
    rnn_sampling_init(&s, sizeof s);
    s.temperature = (float)a->temperature, s.top_k = a->top_k, s.top_p = (float)a->top_p;
    for (int i = 0; i < a->words; i++) {
        int32_t next;
        const char *word = NULL;
        if (rnn_state_draw(st, &s, &next) != RNN_OK || rnn_state_feed(st, &next, 1, 0) != RNN_OK)
            return cli_error(CLI_RUNTIME, "sampling failed: %s", rnn_state_errmsg(st));
        if (rnn_vocab_get_word(m, next, &word) != RNN_OK)
            return cli_error(CLI_RUNTIME, "sampling failed: %s", rnn_model_errmsg(m));
        /* the seed's ' '.join(words).replace('<eos>', '\n') */
        if (i > 0) fputc(' ', out);
        fputs(strcmp(word, CORPUS_EOS) == 0 ? "\n" : word, out);
        if (i % a->log_interval == 0) {
            fprintf(log, "| Generated %d/%d words\n", i, a->words);
            fflush(log);
        }
    }
    return CLI_OK;
}

/*
 * One inference state (rnn_state, seeded with --seed) over the model: the first input (a random
 * word, or the whole prompt in one rnn_state_feed), then the sampling loop.
 */
static int run_generate(const gen_args *a, const rnn_model *m)
{
    int words = 0, n = 1;
    rnn_vocab_get_size(m, &words);
    int32_t first = (int32_t)(splitmix64((uint64_t)a->seed) % (uint64_t)words), *ids = &first;
    int rc = a->prompt ? prompt_ids(m, a->prompt, &ids, &n) : CLI_OK;
    if (rc != CLI_OK) return rc;
    rnn_state *st = NULL;
    int lrc = rnn_state_create(&st, m, 1, (uint64_t)a->seed);
    if (lrc != RNN_OK) rc = cli_error(CLI_RUNTIME, "cannot create a state: %s", rnn_status_string(lrc));
    if (rc == CLI_OK && rnn_state_feed(st, ids, n, 0) != RNN_OK)
        rc = cli_error(CLI_RUNTIME, "cannot feed the prompt: %s", rnn_state_errmsg(st));
    if (ids != &first) free(ids);
    cli_outfile o;
    if (rc == CLI_OK) rc = cli_out_open(&o, a->outf);
    if (rc == CLI_OK) {
        rc = sample_words(m, st, a, o.f, o.tmp ? stdout : stderr);
        if (rc == CLI_OK && a->words > 0) fputc('\n', o.f); /* end the text */
        rc = cli_out_close(&o, rc == CLI_OK);
    }
    rnn_state_free(st);
    return rc;
}

int cli_generate(int argc, char **argv)
{
    gen_args a;
    int help = 0, rc = parse_generate(argc, argv, &a, &help);
    if (rc != CLI_OK) return rc;
    if (help) {
        fputs(generate_help, stdout);
        return CLI_OK;
    }
    rnn_model *m = NULL;
    rc = cli_load_model(a.checkpoint, &m);
    if (rc == CLI_OK) rc = cli_set_threads(m, a.threads);
    if (rc == CLI_OK) rc = run_generate(&a, m);
    rnn_model_free(m);
    return rc;
}
