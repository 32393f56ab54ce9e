/*
 * cli_generate.c -- `rnnlm generate`: PyTorch's generate.py with a saved model.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char generate_help[] =
    "usage: rnnlm generate --checkpoint FILE [flags]\n"
    "\n"
    "Samples text from a saved model as generate.py does: one stream, the first input a random\n"
    "word (drawn from --seed) or the words of --prompt fed through the model first (the prompt\n"
    "itself is not written), then --words samples, each written followed by a space, or by a\n"
    "newline after every 20th word. The same seed gives the same text.\n"
    "\n"
    "  --checkpoint FILE   model saved by rnnlm train (required)\n"
    "  --outf FILE         output file, written atomically; - for stdout. default generated.txt\n"
    "  --words N           number of words to generate, default 1000\n"
    "  --seed N            random seed, default 1111\n"
    "  --temperature T     higher T: more diversity; 0: greedy (always the most likely word).\n"
    "                      default 1.0\n"
    "  --log-interval N    report every N words, default 100\n"
    "  --prompt TEXT       words to condition on (unknown words become <unk>, if the model has it)\n";

typedef struct gen_args {
    const char *checkpoint, *outf, *prompt;
    int words, log_interval;
    long long seed;
    double temperature;
} gen_args;

static int parse_generate(int argc, char **argv, gen_args *a, int *help)
{
    a->checkpoint = a->prompt = NULL;
    a->outf = "generated.txt";
    a->words = 1000, a->log_interval = 100, a->seed = 1111, a->temperature = 1.0;
    cli_opt opts[] = {
        {"checkpoint", CLI_STR, &a->checkpoint, 0, 0, 0, 0, 0},
        {"outf", CLI_STR, &a->outf, 0, 0, 0, 0, 0},
        {"words", CLI_INT, &a->words, 0, INT32_MAX, 0, 0, 0},
        {"seed", CLI_I64, &a->seed, -9.2e18, 9.2e18, 0, 0, 0},
        {"temperature", CLI_REAL, &a->temperature, 0, INFINITY, 0, 0, 0},
        {"log-interval", CLI_INT, &a->log_interval, 1, INT32_MAX, 0, 0, 0},
        {"prompt", CLI_STR, &a->prompt, 0, 0, 0, 0, 0},
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

/* The id of one prompt word: itself, else <unk>, else an error. */
static int prompt_word_id(const corpus_vocab *v, const char *w, size_t len, int32_t *id)
{
    *id = vocab_lookup(v, w, len);
    if (*id < 0) *id = vocab_lookup(v, CORPUS_UNK, strlen(CORPUS_UNK));
    if (*id < 0)
        return cli_error(CLI_RUNTIME,
                         "prompt word '%.*s' is not in the model's vocabulary (which has no %s)",
                         (int)(len > 80 ? 80 : len), w, CORPUS_UNK);
    return CLI_OK;
}

/*
 * Feeds the prompt's words through the model; *in receives the last one (the first input of the
 * generation loop). Words are split at ASCII whitespace, as str.split() does.
 */
static int feed_prompt(rnn_model *m, const char *prompt, int32_t *in)
{
    corpus_vocab *v = NULL;
    int rc = cli_model_vocab(m, &v), count = 0;
    const char *p = prompt;
    while (rc == CLI_OK) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        size_t len = 0;
        while (p[len] && !isspace((unsigned char)p[len])) len++;
        int32_t id = 0, ignored;
        if (count > 0 && rnn_sample(m, in, 1, 1.0f, &ignored) != RNN_OK)
            rc = cli_error(CLI_RUNTIME, "sampling failed: %s", rnn_errmsg(m));
        if (rc == CLI_OK) rc = prompt_word_id(v, p, len, &id);
        *in = id;
        count++;
        p += len;
    }
    vocab_free(v);
    if (rc == CLI_OK && count == 0) rc = cli_error(CLI_USAGE, "--prompt has no words");
    return rc;
}

/* generate.py's loop: writes the words to out, progress to log. */
static int sample_words(rnn_model *m, const gen_args *a, int32_t in, FILE *out, FILE *log)
{
    for (int i = 0; i < a->words; i++) {
        int32_t next;
        const char *word = NULL;
        if (rnn_sample(m, &in, 1, (float)a->temperature, &next) != RNN_OK ||
            rnn_vocab_word(m, next, &word) != RNN_OK)
            return cli_error(CLI_RUNTIME, "sampling failed: %s", rnn_errmsg(m));
        fputs(word, out);
        fputc(i % 20 == 19 ? '\n' : ' ', out);
        in = next;
        if (i % a->log_interval == 0) {
            fprintf(log, "| Generated %d/%d words\n", i, a->words);
            fflush(log);
        }
    }
    return CLI_OK;
}

static int run_generate(const gen_args *a, rnn_model *m)
{
    int words = 0;
    rnn_vocab_size(m, &words);
    if (rnn_reset_state(m, 1) != RNN_OK || rnn_set_seed(m, (uint64_t)a->seed) != RNN_OK)
        return cli_error(CLI_RUNTIME, "%s", rnn_errmsg(m));
    int32_t in = (int32_t)(splitmix64((uint64_t)a->seed) % (uint64_t)words);
    int rc = a->prompt ? feed_prompt(m, a->prompt, &in) : CLI_OK;
    if (rc != CLI_OK) return rc;
    cli_outfile o;
    rc = cli_out_open(&o, a->outf);
    if (rc != CLI_OK) return rc;
    rc = sample_words(m, a, in, o.f, o.tmp ? stdout : stderr);
    if (rc == CLI_OK && !o.tmp && a->words % 20 != 0) fputc('\n', stdout); /* end the terminal's line */
    return cli_out_close(&o, rc == CLI_OK);
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
    if (rc == CLI_OK) rc = run_generate(&a, m);
    rnn_model_free(m);
    return rc;
}
