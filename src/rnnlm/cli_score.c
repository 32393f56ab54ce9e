/*
 * cli_score.c -- `rnnlm score`: the log-probability of every line of a text file under a saved
 * model, each line given the lines before it, and the perplexity of the whole file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char score_help[] =
    "usage: rnnlm score --checkpoint FILE --data FILE [--json]\n"
    "\n"
    "Scores every line of a text file with a saved model. A line's tokens are its words (split\n"
    "as Python's str.split() does) and <eos>, as data.py reads them; words missing from the\n"
    "model's vocabulary map to <unk> when it has one, otherwise this fails naming them. One\n"
    "stream runs through the whole file: each line is scored given the lines before it, and the\n"
    "first token of the file is predicted from the zero hidden state.\n"
    "\n"
    "  --checkpoint FILE  model saved by rnnlm train (required)\n"
    "  --data FILE        text file to score (required)\n"
    "  --threads N        threads, default one per CPU (librnn's own; OpenBLAS is kept to one)\n"
    "  --json             JSON lines instead of text (below)\n"
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

typedef struct score_args {
    const char *checkpoint, *data;
    int threads, json;
} score_args;

static int parse_score(int argc, char **argv, score_args *a, int *help)
{
    memset(a, 0, sizeof *a);
    cli_opt opts[] = {
        {"checkpoint", CLI_STR, &a->checkpoint, 0, 0, 0, 0, 0},
        {"data", CLI_STR, &a->data, 0, 0, 0, 0, 0},
        {"threads", CLI_INT, &a->threads, 1, cli_max_threads(), 0, 0, 0},
        {"json", CLI_FLAG, &a->json, 0, 0, 0, 0, 0},
    };
    int rc = cli_parse("score", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help);
    if (rc != CLI_OK || *help) return rc;
    if (!a->checkpoint) return cli_error(CLI_USAGE, "score: --checkpoint FILE is required");
    if (!a->data) return cli_error(CLI_USAGE, "score: --data FILE is required");
    return CLI_OK;
}

/* ---- Lines and words, as corpus_tokenize_file splits them ---------------------------------------- */
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
    if (!f) return cli_error(CLI_RUNTIME, "cannot read %s", path);
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return cli_error(CLI_RUNTIME, "out of memory");
        }
        len += fread(b + len, 1, cap - len, f);
        if (len < cap) break;
        char *grown = realloc(b, cap *= 2);
        if (!grown) free(b);
        b = grown;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(b);
        return cli_error(CLI_RUNTIME, "cannot read %s", path);
    }
    *buf = b, *n = len;
    return CLI_OK;
}

/* ---- Output -------------------------------------------------------------------------------------- */
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

/* ---- Scoring ------------------------------------------------------------------------------------- */
/*
 * Scores text[0..n) (ids: its tokens, nids of them, from corpus_tokenize_file) line by line with
 * one state: rnn_state_score scores a line's tokens and advances the state past them.
 */
static int score_lines(const score_args *a, const rnn_model *m, const char *text, size_t n,
                       const int32_t *ids, size_t nids)
{
    rnn_state *st = NULL;
    int lrc = rnn_state_create(&st, m, 1, 0);
    if (lrc != RNN_OK) return cli_error(CLI_RUNTIME, "cannot create a state: %s", rnn_status_string(lrc));
    char *words = malloc(n + 1);
    int rc = words ? CLI_OK : cli_error(CLI_RUNTIME, "out of memory");
    double total = 0.0;
    size_t pos = 0, used = 0, lines = 0;
    /* lines end at "\n", "\r\n" or "\r"; a last line without a terminator counts too */
    while (rc == CLI_OK && pos < n) {
        size_t end = pos;
        while (end < n && text[end] != '\n' && text[end] != '\r') end++;
        size_t nw = 0;
        join_words(text + pos, end - pos, words, &nw);
        size_t ntok = nw + 1;
        if (ntok > nids - used || ntok > INT32_MAX) {
            rc = cli_error(CLI_RUNTIME, "%s: line %zu does not match its tokens", a->data, lines + 1);
            break;
        }
        double lp = 0.0;
        if (rnn_state_score(st, ids + used, (int)ntok, 0, &lp) != RNN_OK) {
            rc = cli_error(CLI_RUNTIME, "scoring failed: %s", rnn_state_errmsg(st));
            break;
        }
        print_line(a, ++lines, lp, ntok, words);
        total += lp, used += ntok;
        pos = end;
        if (pos < n && text[pos] == '\r') pos++;
        if (pos < n && text[pos] == '\n' && (pos == end || text[pos - 1] == '\r')) pos++;
    }
    if (rc == CLI_OK && used != nids)
        rc = cli_error(CLI_RUNTIME, "%s: %zu tokens in lines, %zu in the file", a->data, used, nids);
    if (rc == CLI_OK) print_total(a, total, used, lines);
    if (rc == CLI_OK && (fflush(stdout) != 0 || ferror(stdout)))
        rc = cli_error(CLI_RUNTIME, "cannot write to stdout");
    free(words);
    rnn_state_free(st);
    return rc;
}

static int run_score(const score_args *a, const rnn_model *m)
{
    corpus_vocab *v = NULL;
    int32_t *ids = NULL;
    size_t nids = 0, n = 0;
    char err[CORPUS_ERR_SIZE], *text = NULL;
    int rc = cli_model_vocab(m, &v);
    /* the tokenizer checks the text (UTF-8, NUL bytes, unknown words) and gives the ids */
    if (rc == CLI_OK && corpus_tokenize_file(v, a->data, 0, &ids, &nids, err, sizeof err) != RNN_OK)
        rc = cli_error(CLI_RUNTIME, "%s", err);
    if (rc == CLI_OK) rc = read_file(a->data, &text, &n);
    if (rc == CLI_OK) rc = score_lines(a, m, text, n, ids, nids);
    free(text);
    free(ids);
    vocab_free(v);
    return rc;
}

int cli_score(int argc, char **argv)
{
    score_args a;
    int help = 0, rc = parse_score(argc, argv, &a, &help);
    if (rc != CLI_OK) return rc;
    if (help) {
        fputs(score_help, stdout);
        return CLI_OK;
    }
    rnn_model *m = NULL;
    rc = cli_load_model(a.checkpoint, &m);
    if (rc == CLI_OK) rc = cli_set_threads(m, a.threads);
    if (rc == CLI_OK) rc = run_score(&a, m);
    rnn_model_free(m);
    return rc;
}
