/*
 * cli_score.c -- `rnnlm score`: the log-probability of every line of a text file under a saved
 * model, each line given the lines before it, and the perplexity of the whole file.
 */
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
    {FLAG("data", "FILE", CLI_STR, data), .what = CLI_REQUIRED, .help = "text file to score"},
    {CLI_THREADS_FLAG(score_args), .help = CLI_THREADS_HELP},
    {FLAG("json", NULL, CLI_FLAG, json), .help = "JSON lines instead of text (below)"},
};

static const char score_head[] =
    "usage: rnnlm score --checkpoint FILE --data FILE [--json]\n"
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

/* ---- Lines and words, as corpus_tokenize_file splits them -------------------------------------- */
/* The words of line[0..n) (no line terminator inside; split as str.split() does, by
   rnn_text_next_word) joined by single spaces into out (which has room for n + 1 bytes); *words
   receives their number. The text was validated as UTF-8 by corpus_tokenize_file before. */
static void join_words(const char *line, size_t n, char *out, size_t *words)
{
    size_t pos = 0, len = 0, o = 0;
    *words = 0;
    while (rnn_text_next_word(line, n, &pos, &len) == RNN_OK) {
        if (*words) out[o++] = ' ';
        memcpy(out + o, line + pos, len);
        o += len, pos += len;
        ++*words;
    }
    out[o] = 0;
}

/* The whole file in memory (*buf, *n). */
static int read_file(const char *path, char **buf, size_t *n)
{
    *buf = NULL, *n = 0;
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, CLI_RUNTIME, "cannot read %s", path);
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    while (b) {
        len += fread(b + len, 1, cap - len, f);
        if (len < cap) break;
        char *grown = realloc(b, cap *= 2);
        if (!grown) free(b);
        b = grown;
    }
    int err = ferror(f);
    fclose(f);
    RETURN_ERROR_IF(!b, CLI_RUNTIME, "out of memory");
    if (err) free(b);
    RETURN_ERROR_IF(err, CLI_RUNTIME, "cannot read %s", path);
    *buf = b, *n = len;
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
/*
 * Scores text[0..n) (ids: its tokens, nids of them, from corpus_tokenize_file) line by line with
 * the state st: rnn_state_score scores a line's tokens and advances the state past them. words
 * has room for n + 1 bytes.
 */
static int score_with(const score_args *a, rnn_state *st, const char *text, size_t n, const int32_t *ids,
                      size_t nids, char *words)
{
    double total = 0.0;
    size_t pos = 0, used = 0, lines = 0;
    /* lines end at "\n", "\r\n" or "\r"; a last line without a terminator counts too */
    while (pos < n) {
        size_t end = pos;
        while (end < n && text[end] != '\n' && text[end] != '\r') end++;
        size_t nw = 0;
        join_words(text + pos, end - pos, words, &nw);
        size_t ntok = nw + 1;
        RETURN_ERROR_IF(ntok > nids - used || ntok > INT32_MAX, CLI_RUNTIME,
                        "%s: line %zu does not match its tokens", a->data, lines + 1);
        double lp = 0.0;
        RETURN_ERROR_IF(rnn_state_score(st, ids + used, (int)ntok, 0, &lp) != RNN_OK, CLI_RUNTIME,
                        "scoring failed: %s", rnn_state_errmsg(st));
        print_line(a, ++lines, lp, ntok, words);
        total += lp, used += ntok;
        pos = end;
        if (pos < n && text[pos] == '\r') pos++;
        if (pos < n && text[pos] == '\n' && (pos == end || text[pos - 1] == '\r')) pos++;
    }
    RETURN_ERROR_IF(used != nids, CLI_RUNTIME, "%s: %zu tokens in lines, %zu in the file", a->data, used,
                    nids);
    print_total(a, total, used, lines);
    RETURN_ERROR_IF(fflush(stdout) != 0 || ferror(stdout), CLI_RUNTIME, "cannot write to stdout");
    return CLI_OK;
}

/* score_with over one new state. */
static int score_state(const score_args *a, const rnn_model *m, const char *text, size_t n,
                       const int32_t *ids, size_t nids, char *words)
{
    rnn_state *st = NULL;
    int lrc = rnn_state_create(&st, m, 1, 0);
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "cannot create a state: %s", rnn_status_string(lrc));
    int rc = score_with(a, st, text, n, ids, nids, words);
    rnn_state_free(st);
    return rc;
}

/* score_state with room for a line's words. */
static int score_lines(const score_args *a, const rnn_model *m, const char *text, size_t n,
                       const int32_t *ids, size_t nids)
{
    char *words = malloc(n + 1);
    RETURN_ERROR_IF(!words, CLI_RUNTIME, "out of memory");
    int rc = score_state(a, m, text, n, ids, nids, words);
    free(words);
    return rc;
}

/* Reads a->data as text and scores its lines (ids: its tokens over the model's vocabulary; the
   tokenizer checked the text: UTF-8, NUL bytes, unknown words). */
static int run_score(const void *args, rnn_model *m, const int32_t *ids, size_t nids)
{
    const score_args *a = args;
    char *text = NULL;
    size_t n = 0;
    FORWARD_IF_ERROR(read_file(a->data, &text, &n));
    int rc = score_lines(a, m, text, n, ids, nids);
    free(text);
    return rc;
}

int cli_score(int argc, char **argv)
{
    score_args a;
    int help = 0;
    FORWARD_IF_ERROR(parse_score(argc, argv, &a, &help));
    if (help) return cli_help(&score_command);
    return cli_run_model(a.checkpoint, a.threads, a.data, run_score, &a);
}
