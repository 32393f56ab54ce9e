/*
 * cli_generate.c -- `rnnlm generate`: PyTorch's generate.py with a saved model.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct gen_args {
    const char *checkpoint, *outf, *prompt, *prompt_file, *unk_policy, *data;
    int words, log_interval, top_k, threads, repeat_last_n, stop_at_eos, echo, accel;
    long long seed;
    double temperature, top_p, min_p, repeat_penalty;
    char *file_text;   /* not a flag: --prompt-file's contents (file_len bytes) */
    size_t file_len;
} gen_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(gen_args, n, a, k, field)

static const cli_flag generate_flags[] = {
    {CLI_CHECKPOINT_FLAG(gen_args)},
    {FLAG("outf", "FILE", CLI_STR, outf), .def = "generated.txt",
     .help = "output file, written atomically; - for stdout. default %D"},
    {FLAG("words", "N", CLI_INT, words), CLI_NATURAL, .def = "1000",
     .help = "number of words to generate (at most, with --stop-at-eos), default %D"},
    {FLAG("seed", "N", CLI_I64, seed), CLI_ANY_I64, .def = "1111",
     .help = "random seed, default %D; -1: a random one, printed on stderr\n"
             "(\"rnnlm: seed N\") so that the run can be repeated"},
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
    {FLAG("min-p", "P", CLI_REAL, min_p), .lo = 0, .hi = 1, .def = "0", .what = CLI_FLOAT,
     .help = "only words at least P times as likely as the most likely one\n"
             "(llama.cpp's min-p), in [0, 1]; 0: off (default)"},
    {FLAG("repeat-penalty", "R", CLI_REAL, repeat_penalty), .lo = 0, .hi = INFINITY, .def = "1.0",
     .what = CLI_FLOAT, .help = "llama.cpp's repetition penalty on the words of the last\n"
             "--repeat-last-n (prompt included): a logit is divided by R when\n"
             "positive, multiplied otherwise; 1: off (default)"},
    {FLAG("repeat-last-n", "N", CLI_INT, repeat_last_n), .lo = 0, .limit = CLI_LIMIT(RNN_LIMIT_REPEAT_WINDOW),
     .def = "64", .help = "words the penalty looks back; 0: no penalty. default %D"},
    {FLAG("stop-at-eos", NULL, CLI_FLAG, stop_at_eos),
     .help = "stop when <eos> is drawn (as llama.cpp ends at end of text); that\n"
             "<eos> is not written and the text ends with a newline"},
    {FLAG("prompt", "TEXT", CLI_STR, prompt),
     .help = "words to condition on (see --unk-policy)"},
    {FLAG("prompt-file", "FILE", CLI_STR, prompt_file),
     .help = "the prompt read from FILE (- for stdin); each of its lines that ends\n"
             "with a newline ends with <eos>, as in a corpus. Not with --prompt"},
    {FLAG("echo", NULL, CLI_FLAG, echo),
     .help = "write the first input (the prompt's words, or the random first word)\n"
             "before the generated words, written as they are"},
    {FLAG("unk-policy", "P", CLI_STR, unk_policy), .def = "map",
     .help = CLI_UNK_POLICY_HELP ".\n"
             "For the prompt's words; how many were unknown is printed on stderr"},
    {CLI_THREADS_FLAG(gen_args),
     .help = "threads, default one per CPU (librnn's own, splitting the output\n"
             "layer; OpenBLAS is kept to one). The text is the same for any N"},
    {FLAG("data", "DIR", CLI_STR, data),
     .help = "accepted for generate.py's command lines and ignored (with a note):\n"
             "the vocabulary comes from the model"},
    {FLAG("accel", NULL, CLI_FLAG, accel),
     .help = "accepted for generate.py's command lines and ignored (with a note):\n"
             "librnn runs on the CPU"},
};

static const char generate_head[] =
    "usage: rnnlm generate --checkpoint FILE [flags]\n"
    "\n"
    "Samples text from a saved model as generate.py does: one stream, the first input a random\n"
    "word (drawn from --seed) or the words of --prompt / --prompt-file fed through the model\n"
    "first (written only with --echo), then --words samples, joined by spaces with each <eos>\n"
    "written as a newline (as the lecture note this project follows writes them). The same\n"
    "--seed (and flags) gives the same text.\n"
    "Each word is drawn by librnn's sampler chain (rnn_sampling): the logits of the words of the\n"
    "last --repeat-last-n penalised (--repeat-penalty), then softmax(logits / T), cut to the\n"
    "--top-k most likely words, then to the smallest set of most likely words whose probability\n"
    "reaches --top-p, then to the words at least --min-p times as likely as the most likely.\n"
    "\n";

static const cli_command generate_command = {"generate", generate_flags,
                                             (int)(sizeof generate_flags / sizeof generate_flags[0]), 22,
                                             generate_head, NULL};

static int parse_generate(int argc, char **argv, gen_args *a, int *help)
{
    memset(a, 0, sizeof *a);
    FORWARD_IF_ERROR(cli_parse(&generate_command, argc, argv, a, NULL, help));
    if (*help) return CLI_OK;
    FORWARD_IF_ERROR(cli_require(&generate_command, a));
    RETURN_ERROR_IF(a->prompt && a->prompt_file, CLI_USAGE, "give --prompt or --prompt-file, not both");
    unsigned flags;
    return cli_unk_policy(a->unk_policy, &flags);
}

/* The prompt: its text and where it came from (messages); with_eos: a line that ends with a
   newline gets <eos> (--prompt-file) */
typedef struct gen_prompt {
    const char *text, *what;
    size_t len;
    int with_eos;
} gen_prompt;

/* One line of the prompt appended to *ids (*n of *cap, grown with realloc); *unknown counts. */
static int encode_line(const rnn_model *m, const gen_prompt *p, const char *line, size_t len, unsigned flags,
                       int32_t **ids, size_t *n, size_t *cap, size_t *unknown)
{
    size_t count = 0, unk = 0;
    int lrc = rnn_vocab_encode(m, line, len, flags, NULL, 0, &count, NULL);
    if (lrc == RNN_OK && count > 0) {
        if (*n + count > *cap) {
            size_t want = (*n + count) * 2;
            int32_t *grown = realloc(*ids, want * sizeof *grown);
            RETURN_ERROR_IF(!grown, CLI_RUNTIME, "out of memory");
            *ids = grown, *cap = want;
        }
        lrc = rnn_vocab_encode(m, line, len, flags, *ids + *n, *cap - *n, &count, &unk);
    }
    const char *why = rnn_model_errmsg(m);
    RETURN_ERROR_IF(lrc == RNN_ERR_NOTFOUND, CLI_RUNTIME, "%s: %s%s", p->what,
                    *why ? why : "a word is not in the model's vocabulary",
                    flags & RNN_ENCODE_UNK_SKIP ? "" : " (see --unk-policy)");
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "%s: %s%s%s", p->what, rnn_status_string(lrc), *why ? ": " : "",
                    why);
    *n += count, *unknown += unk;
    return CLI_OK;
}

/*
 * The prompt's token ids (*ids, *n; malloc'd): its words as Python's str.split() gives them
 * (rnn_vocab_encode, the tokenizer of rnnlm's corpora), line by line; a word missing from the
 * vocabulary as --unk-policy says ("map" on a model without <unk> fails naming the word). The
 * number of unknown words goes to stderr.
 */
static int prompt_ids(const rnn_model *m, const gen_prompt *p, const char *policy, int32_t **ids, int *n)
{
    unsigned flags = 0;
    int32_t unk_id = -1;
    FORWARD_IF_ERROR(cli_unk_policy(policy, &flags));
    if ((flags & RNN_ENCODE_UNK_MAP) && rnn_vocab_find(m, CORPUS_UNK, &unk_id) != RNN_OK)
        flags = 0; /* an unknown word is then an error naming it */
    int32_t *out = NULL;
    size_t count = 0, cap = 0, unknown = 0;
    int rc = CLI_OK;
    for (size_t pos = 0; rc == CLI_OK && pos < p->len;) {
        const char *nl = memchr(p->text + pos, '\n', p->len - pos);
        size_t end = nl ? (size_t)(nl - p->text) : p->len;
        unsigned eos = nl && p->with_eos ? RNN_ENCODE_EOS : 0u;
        rc = encode_line(m, p, p->text + pos, end - pos, flags | eos, &out, &count, &cap, &unknown);
        pos = nl ? end + 1 : end;
    }
    if (rc == CLI_OK && count > INT32_MAX) rc = cli_error(CLI_USAGE, "%s has too many words", p->what);
    if (rc == CLI_OK && count == 0) rc = cli_error(CLI_USAGE, "%s has no words", p->what);
    if (rc != CLI_OK) {
        free(out);
        return rc;
    }
    if (unknown > 0)
        fprintf(stderr, "rnnlm: %s: %zu unknown word%s (not in the model's vocabulary), %s\n", p->what, unknown,
                unknown == 1 ? "" : "s", flags & RNN_ENCODE_UNK_SKIP ? "left out" : "mapped to <unk>");
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

/* Writes word id to out as the lecture note writes text (' '.join(words).replace('<eos>', '\n')):
   a space before every word but the first (*written counts them), <eos> as a newline. */
static int write_word(const rnn_model *m, int32_t id, FILE *out, long *written)
{
    const char *word = NULL;
    RETURN_ERROR_IF(rnn_vocab_get_word(m, id, &word) != RNN_OK, CLI_RUNTIME, "sampling failed: %s",
                    rnn_model_errmsg(m));
    if ((*written)++ > 0) fputc(' ', out);
    fputs(strcmp(word, CORPUS_EOS) == 0 ? "\n" : word, out);
    return CLI_OK;
}

/* generate.py's loop: draw a word, write it, feed it; words to out, progress to log; with
   --stop-at-eos, <eos> (eos, its id) ends it unwritten. The distribution is checked to be finite
   now and then (logprobs: room for it). */
static int sample_words(const rnn_model *m, rnn_state *st, const gen_args *a, int32_t eos, float *logprobs,
                        FILE *out, FILE *log, long *written)
{
    rnn_sampling s;
    rnn_sampling_init(&s, sizeof s);
    s.temperature = (float)a->temperature, s.top_k = a->top_k, s.top_p = (float)a->top_p;
    s.min_p = (float)a->min_p;
    /* --repeat-last-n 0 turns the penalty off, as in llama.cpp (librnn's 0 means 64) */
    s.repeat_penalty = a->repeat_last_n > 0 ? (float)a->repeat_penalty : 0.0f;
    s.repeat_last_n = a->repeat_last_n;
    int words = 0;
    rnn_vocab_get_size(m, &words);
    for (int i = 0; i < a->words; i++) {
        int32_t next;
        /* as often as the progress is logged, and before the last word: computing the distribution
           again costs as much as drawing from it */
        if (i % a->log_interval == 0 || i == a->words - 1)
            FORWARD_IF_ERROR(check_finite(st, logprobs, words, i));
        RETURN_ERROR_IF(rnn_state_draw(st, &s, &next) != RNN_OK, CLI_RUNTIME, "sampling failed: %s",
                        rnn_state_errmsg(st));
        if (a->stop_at_eos && next == eos) {
            fprintf(log, "| Stopped at <eos> after %d/%d words\n", i, a->words);
            fflush(log);
            return CLI_OK;
        }
        RETURN_ERROR_IF(rnn_state_feed(st, &next, 1, 0) != RNN_OK, CLI_RUNTIME, "sampling failed: %s",
                        rnn_state_errmsg(st));
        FORWARD_IF_ERROR(write_word(m, next, out, written));
        if (i % a->log_interval == 0) {
            fprintf(log, "| Generated %d/%d words\n", i, a->words);
            fflush(log);
        }
    }
    return CLI_OK;
}

/* The first input (ids[0..n): a random word, or the prompt) in one rnn_state_feed (so it is in the
   history of the repetition penalty), written first with --echo, then the sampling loop into
   --outf. */
static int generate_from(const gen_args *a, const rnn_model *m, rnn_state *st, const int32_t *ids, int n)
{
    int32_t eos = -1;
    RETURN_ERROR_IF(a->stop_at_eos && rnn_vocab_find(m, CORPUS_EOS, &eos) != RNN_OK, CLI_RUNTIME,
                    "--stop-at-eos: the model's vocabulary has no %s", CORPUS_EOS);
    RETURN_ERROR_IF(rnn_state_feed(st, ids, n, 0) != RNN_OK, CLI_RUNTIME, "cannot feed the prompt: %s",
                    rnn_state_errmsg(st));
    int words = 0;
    rnn_vocab_get_size(m, &words);
    float *logprobs = malloc((size_t)words * sizeof *logprobs);
    RETURN_ERROR_IF(!logprobs, CLI_RUNTIME, "out of memory");
    cli_outfile o;
    long written = 0;
    int rc = cli_out_open(&o, a->outf);
    if (rc == CLI_OK) {
        for (int i = 0; rc == CLI_OK && a->echo && i < n; i++) rc = write_word(m, ids[i], o.f, &written);
        if (rc == CLI_OK) rc = sample_words(m, st, a, eos, logprobs, o.f, o.to_stdout ? stderr : stdout, &written);
        if (rc == CLI_OK && written > 0) fputc('\n', o.f); /* end the text */
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
    if (!a->prompt && !a->file_text) return generate_after(a, m, &first, 1);
    gen_prompt p = {a->prompt, "--prompt", a->prompt ? strlen(a->prompt) : 0, 0};
    if (!a->prompt) p = (gen_prompt){a->file_text, "--prompt-file", a->file_len, 1};
    FORWARD_IF_ERROR(prompt_ids(m, &p, a->unk_policy, &ids, &n));
    int rc = generate_after(a, m, ids, n);
    free(ids);
    return rc;
}

/* --seed -1: 62 random bits (from /dev/urandom, else the clock and the PID), a value --seed takes */
static long long random_seed(void)
{
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1) {
        uint64_t t = (uint64_t)(cli_now() * 1e9) ^ ((uint64_t)time(NULL) << 20) ^ ((uint64_t)getpid() << 40);
        v = rnn__splitmix64(&t);
    }
    if (f) fclose(f);
    return (long long)(v >> 2);
}

/* The whole of path ("-": standard input) into *text (*len bytes; malloc'd). */
static int read_all(const char *path, char **text, size_t *len)
{
    int std = strcmp(path, "-") == 0;
    FILE *f = std ? stdin : fopen(path, "rb");
    RETURN_ERROR_IF(!f, CLI_RUNTIME, "--prompt-file %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? CLI_OK : cli_error(CLI_RUNTIME, "out of memory");
    while (rc == CLI_OK) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (!grown) rc = cli_error(CLI_RUNTIME, "--prompt-file %s: out of memory", path);
        else buf = grown, cap *= 2;
    }
    if (rc == CLI_OK && ferror(f)) rc = cli_error(CLI_RUNTIME, "--prompt-file %s: cannot read it", path);
    if (!std) fclose(f);
    if (rc != CLI_OK) {
        free(buf);
        return rc;
    }
    *text = buf, *len = n;
    return CLI_OK;
}

int cli_generate(int argc, char **argv)
{
    gen_args a;
    int help = 0;
    FORWARD_IF_ERROR(parse_generate(argc, argv, &a, &help));
    if (help) return cli_help(&generate_command);
    if (a.data) fprintf(stderr, "rnnlm: --data is ignored: the vocabulary comes from the model\n");
    if (a.accel) fprintf(stderr, "rnnlm: --accel is ignored: librnn has no accelerator, it runs on the CPU\n");
    cli_path out = {"--outf", strcmp(a.outf, "-") == 0 ? NULL : a.outf};
    cli_path in[2] = {{"--checkpoint", a.checkpoint}, {"--prompt-file", NULL}};
    if (a.prompt_file && strcmp(a.prompt_file, "-") != 0) in[1].path = a.prompt_file;
    FORWARD_IF_ERROR(cli_check_outputs(&out, 1, in, 2));
    if (a.seed == -1) {
        a.seed = random_seed();
        fprintf(stderr, "rnnlm: seed %lld\n", a.seed);
    }
    if (a.prompt_file) FORWARD_IF_ERROR(read_all(a.prompt_file, &a.file_text, &a.file_len));
    int rc = cli_run_model(a.checkpoint, a.threads, NULL, run_generate, &a);
    free(a.file_text);
    return rc;
}
