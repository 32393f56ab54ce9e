/*
 * cli_score.c -- `rnnlm score`: the log-probability of every line of a text file under a saved
 * model, each line given the lines before it, and the perplexity of the whole file.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct score_args {
    const char *checkpoint, *data;
    int threads, json;
} score_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(score_args, n, a, k, field)

static const cli_flag score_flags[] = {
    {CLI_CHECKPOINT_FLAG(score_args)},
    {FLAG("data", "FILE", CLI_STR, data), .what = CLI_REQUIRED, .help = "text file to score (- for standard input)"},
    {CLI_THREADS_FLAG(score_args), .help = CLI_THREADS_HELP},
    {FLAG("json", NULL, CLI_FLAG, json), .help = "JSON lines instead of text (below)"},
};

static const char score_head[] =
    "usage: rnnlm score --checkpoint FILE --data FILE|- [--json]\n"
    "\n"
    "Scores every line of a text file with a saved model. A line's tokens are its words (split\n"
    "as Python's str.split() does) and <eos>, as data.py reads them; words missing from the\n"
    "model's vocabulary map to <unk> when it has one, otherwise this fails naming them. One\n"
    "stream runs through the whole file: each line is scored given the lines before it, and the\n"
    "first token of the file is predicted from the zero hidden state.\n"
    "\n";

static const char score_tail[] =
    "\n"
    "Output, one line per input line:  LOGPROB<TAB>NTOKENS<TAB>TEXT\n"
    "  LOGPROB: the natural log-probability of the line's tokens; NTOKENS: their number (words +\n"
    "  1 for <eos>); TEXT: the line's words joined by single spaces.\n"
    "and last:  total logprob X tokens N ppl Y   (Y = exp(-X / N))\n"
    "--json: {\"line\":I,\"logprob\":L,\"tokens\":N,\"text\":\"...\"} per line, then\n"
    "        {\"total_logprob\":X,\"tokens\":N,\"ppl\":Y,\"lines\":LINES}.\n"
    "\n"
    "Compared with rnnlm eval --batch_size 1 (which predicts every token but the first from the\n"
    "one before it): X minus the first token's log-probability = -(eval's loss * eval's tokens).\n";

static const cli_command score_command = {
    "score", score_flags, (int)(sizeof score_flags / sizeof score_flags[0]), 21, score_head, score_tail};

static int parse_score(int argc, char **argv, score_args *a, int *help)
{
    memset(a, 0, sizeof *a);
    FORWARD_IF_ERROR(cli_parse(&score_command, argc, argv, a, NULL, help));
    if (*help) return CLI_OK;
    return cli_require(&score_command, a);
}

/* ---- Reading: one pass over the input, keeping each line's words and token count ------------- */
typedef struct score_lines {
    char *text;       /* every line's words joined by single spaces, each NUL-terminated */
    size_t used, cap; /* bytes of text */
    size_t *ntok;     /* [count] tokens of each line (its words and <eos>) */
    size_t count, ntok_cap;
} score_lines;

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *q = c <= SIZE_MAX / size ? realloc(*p, c * size) : NULL;
    if (!q) return -1;
    *p = q, *cap = c;
    return 0;
}

/* corpus_tokens_fn: the line's words (split as str.split() does, by rnn_text_next_word) joined by
   single spaces, and its token count */
static int keep_line(void *user, const char *line, size_t len, size_t ntokens)
{
    score_lines *l = user;
    if (grow((void **)&l->text, &l->cap, l->used + len + 1, 1) ||
        grow((void **)&l->ntok, &l->ntok_cap, l->count + 1, sizeof *l->ntok))
        return RNN_ERR_NOMEM;
    size_t pos = 0, wl = 0, o = l->used, words = 0;
    while (rnn_text_next_word(line, len, &pos, &wl) == RNN_OK) {
        if (words++) l->text[o++] = ' ';
        memcpy(l->text + o, line + pos, wl);
        o += wl, pos += wl;
    }
    l->text[o++] = 0;
    l->used = o;
    l->ntok[l->count++] = ntokens;
    return RNN_OK;
}

/* Tokenizes a->data ("-": standard input) over m's vocabulary in one pass: *ids, *nids and the lines. */
static int read_input(const score_args *a, const rnn_model *m, int32_t **ids, size_t *nids, score_lines *l)
{
    corpus_vocab *v = NULL;
    char err[CORPUS_ERR_SIZE];
    int from_stdin = strcmp(a->data, "-") == 0;
    FORWARD_IF_ERROR(cli_model_vocab(m, &v));
    FILE *f = from_stdin ? stdin : fopen(a->data, "rb");
    if (!f) vocab_free(v);
    RETURN_ERROR_IF(!f, CLI_RUNTIME, "%s: cannot open: %s", a->data, strerror(errno));
    int rc = corpus_tokenize_stream(v, f, from_stdin ? "(stdin)" : a->data, 0, keep_line, l, ids, nids, err,
                                    sizeof err);
    if (!from_stdin) fclose(f);
    vocab_free(v);
    RETURN_ERROR_IF(rc == RNN_ERR_NOMEM, CLI_RUNTIME, "out of memory");
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "%s", err);
    return CLI_OK;
}

/* ---- Output ------------------------------------------------------------------------------------ */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void print_line(const score_args *a, size_t line, double lp, size_t tokens, const char *text)
{
    if (a->json) {
        printf("{\"line\":%zu,", line);
        cli_json_num(stdout, "logprob", lp, 0);
        printf("\"tokens\":%zu,\"text\":", tokens);
        json_string(stdout, text);
        fputs("}\n", stdout);
    } else {
        printf("%.6f\t%zu\t%s\n", lp, tokens, text);
    }
}

static void print_total(const score_args *a, double total, size_t tokens, size_t lines)
{
    double ppl = exp(-total / (double)tokens);
    if (a->json) {
        fputc('{', stdout);
        cli_json_num(stdout, "total_logprob", total, 0);
        printf("\"tokens\":%zu,", tokens);
        cli_json_num(stdout, "ppl", ppl, 0);
        printf("\"lines\":%zu}\n", lines);
    } else {
        printf("total logprob %.6f tokens %zu ppl %.6f\n", total, tokens, ppl);
    }
}

/* ---- Scoring ----------------------------------------------------------------------------------- */
/* Scores the lines (their tokens in ids) with the state st: rnn_state_score scores a line's tokens
   and advances the state past them. */
static int score_with(const score_args *a, rnn_state *st, const score_lines *l, const int32_t *ids, size_t nids)
{
    double total = 0.0;
    size_t used = 0;
    const char *text = l->text;
    for (size_t i = 0; i < l->count; i++) {
        size_t ntok = l->ntok[i];
        RETURN_ERROR_IF(ntok > nids - used || ntok > INT32_MAX, CLI_RUNTIME,
                        "%s: line %zu does not match its tokens", a->data, i + 1);
        double lp = 0.0;
        RETURN_ERROR_IF(rnn_state_score(st, ids + used, (int)ntok, 0, &lp) != RNN_OK, CLI_RUNTIME,
                        "scoring failed: %s", rnn_state_errmsg(st));
        RETURN_ERROR_IF(!isfinite(lp), CLI_RUNTIME, "%s: the log-probability of line %zu is not finite: %s",
                        a->data, i + 1, CLI_OVERFLOW);
        print_line(a, i + 1, lp, ntok, text);
        total += lp, used += ntok;
        text += strlen(text) + 1;
    }
    RETURN_ERROR_IF(used != nids, CLI_RUNTIME, "%s: %zu tokens in lines, %zu in the file", a->data, used,
                    nids);
    print_total(a, total, used, l->count);
    return cli_stdout_flush();
}

/* Reads a->data once (tokens and lines), then scores its lines over one new state. */
static int run_score(const void *args, rnn_model *m, const int32_t *unused, size_t nunused)
{
    (void)unused, (void)nunused;
    const score_args *a = args;
    score_lines l = {0};
    int32_t *ids = NULL;
    size_t nids = 0;
    rnn_state *st = NULL;
    int rc = read_input(a, m, &ids, &nids, &l);
    if (rc == CLI_OK) {
        int lrc = rnn_state_create(&st, m, 1, 0);
        rc = lrc == RNN_OK ? score_with(a, st, &l, ids, nids)
                           : cli_error(CLI_RUNTIME, "cannot create a state: %s", rnn_status_string(lrc));
    }
    rnn_state_free(st);
    free(ids);
    free(l.text);
    free(l.ntok);
    return rc;
}

int cli_score(int argc, char **argv)
{
    score_args a;
    int help = 0;
    FORWARD_IF_ERROR(parse_score(argc, argv, &a, &help));
    if (help) return cli_help(&score_command);
    return cli_run_model(a.checkpoint, a.threads, NULL, run_score, &a);
}
