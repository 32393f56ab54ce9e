/*
 * cli_score.c -- `rnnlm score`: the log-probability of every line of a text file under a saved
 * model: each line given the lines before it (one stream), or on its own (--per-sentence, as KenLM
 * and n-best rescoring score a line: rnn_state_score_sentence), per word (--per-word), or an n-best
 * list rescored (--nbest); and the perplexity with and without the unknown words (OOVs).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct score_args {
    const char *checkpoint, *data, *unk_policy;
    int threads, json, per_sentence, per_word, nbest;
    double lm_weight;
    int has_weight;  /* --lm-weight was given */
    unsigned policy; /* rnn_vocab_encode flags of --unk-policy */
} score_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(score_args, n, a, k, field)

enum { F_LM_WEIGHT = 8 }; /* the index of --lm-weight in score_flags */
static const cli_flag score_flags[] = {
    {CLI_CHECKPOINT_FLAG(score_args)},
    {FLAG("data", "FILE", CLI_STR, data), .what = CLI_REQUIRED, .help = "text file to score (- for standard input)"},
    {FLAG("per-sentence", NULL, CLI_FLAG, per_sentence),
     .help = "score every line on its own, from the sentence start state\n(zeros, then <eos>)"},
    {FLAG("per-word", NULL, CLI_FLAG, per_word), .help = "one output line per token (below)"},
    {FLAG("nbest", NULL, CLI_FLAG, nbest),
     .help = "the input is an n-best list \"ID ||| HYPOTHESIS ||| SCORES\":\nrescore it (below)"},
    {FLAG("unk-policy", "POLICY", CLI_STR, unk_policy), .def = "map",
     .help = "a word missing from the model's vocabulary: " CLI_UNK_POLICY_HELP},
    {CLI_THREADS_FLAG(score_args), .help = CLI_THREADS_HELP},
    {FLAG("json", NULL, CLI_FLAG, json), .help = "JSON lines instead of text (below)"},
    {FLAG("lm-weight", "W", CLI_REAL, lm_weight), .lo = -1e6, .hi = 1e6,
     .help = "--nbest: sort by SCORE + W * LM (SCORE: the last number of\nthe line's last field)"},
};

static const char score_head[] =
    "usage: rnnlm score --checkpoint FILE --data FILE|- [--per-sentence] [--per-word]\n"
    "                   [--nbest [--lm-weight W]] [--unk-policy POLICY] [--json]\n"
    "\n"
    "Scores every line of a text file with a saved model. A line's tokens are its words (split\n"
    "as Python's str.split() does) and <eos>, as data.py reads them; words missing from the\n"
    "model's vocabulary (OOVs) follow --unk-policy. By default one stream runs through the whole\n"
    "file: each line is scored given the lines before it, and the first token of the file is\n"
    "predicted from the zero hidden state. With --per-sentence (and --nbest) every line is scored\n"
    "on its own from the sentence start state -- zeros, then <eos>, the context of a line in a\n"
    "training stream -- so identical lines get identical scores (librnn's\n"
    "rnn_state_score_sentence; examples/score.c --reset gives the same numbers).\n"
    "\n";

static const char score_tail[] =
    "\n"
    "Output, one line per input line:  LOGPROB<TAB>NTOKENS<TAB>TEXT\n"
    "  LOGPROB: the natural log-probability of the line's tokens; NTOKENS: their number (words\n"
    "  kept + 1 for <eos>); TEXT: the line's words joined by single spaces.\n"
    "--per-word, one line per token instead:  LINE<TAB>WORD<TAB>LOG10PROB<TAB>LNPROB<TAB>OOV\n"
    "  WORD: the text's word (<eos> at the end of a line); OOV: 1 when it is not in the\n"
    "  vocabulary and was scored as <unk>, else 0. Skipped words (--unk-policy skip) have no line.\n"
    "and last, for every mode:\n"
    "  total logprob X tokens N ppl Y sentences S words W oovs K ppl_excluding_oovs Z\n"
    "  Y = exp(-X / N); K: unknown words (mapped to <unk> or skipped); Z: the perplexity\n"
    "  over the tokens that are not mapped unknown words (KenLM's \"excluding OOVs\"; Y includes\n"
    "  them, scored as <unk>). A line with OOVs is scored in parts at them, which may change the\n"
    "  last digits of its sum; --per-word scores one token at a time (likewise).\n"
    "--json: {\"line\":I,\"logprob\":L,\"tokens\":N,\"text\":\"...\"} per line (--per-word:\n"
    "  {\"line\":I,\"word\":\"...\",\"log10prob\":P,\"logprob\":L,\"oov\":0|1} per token), then\n"
    "  {\"total_logprob\":X,\"tokens\":N,\"ppl\":Y,\"lines\":S,\"sentences\":S,\"words\":W,\"oovs\":K,\n"
    "   \"total_logprob_excluding_oovs\":X2,\"tokens_excluding_oovs\":N2,\"ppl_excluding_oovs\":Z}.\n"
    "\n"
    "--nbest: every input line is \"ID ||| HYPOTHESIS ||| SCORES [||| ...]\" (Moses, Kaldi): at least\n"
    "  three fields split at \"|||\", ID not empty, and each ID's lines together. HYPOTHESIS is\n"
    "  scored per sentence. Output: the same lines with \" ||| LM\" appended (LM: the log10\n"
    "  probability of the hypothesis and <eos>, as KenLM reports), and with --lm-weight W also\n"
    "  \" ||| S + W * LM\" (S: the last number of the line's last field, which must be one);\n"
    "  within each ID the lines are sorted by that combined score (by LM without --lm-weight),\n"
    "  best first, ties in input order. The summary line goes to stderr. --json: per line\n"
    "  {\"line\":I,\"id\":\"...\",\"hypothesis\":\"...\",\"lm_log10prob\":LM,\"lm_logprob\":L,\"score\":C}.\n"
    "\n"
    "Compared with rnnlm eval --batch_size 1 (which predicts every token but the first from the\n"
    "one before it): X minus the first token's log-probability = -(eval's loss * eval's tokens).\n";

static const cli_command score_command = {
    "score", score_flags, (int)(sizeof score_flags / sizeof score_flags[0]), 21, score_head, score_tail};

static int parse_score(int argc, char **argv, score_args *a, int *help)
{
    memset(a, 0, sizeof *a);
    uint64_t seen = 0;
    FORWARD_IF_ERROR(cli_parse(&score_command, argc, argv, a, &seen, help));
    if (*help) return CLI_OK;
    FORWARD_IF_ERROR(cli_require(&score_command, a));
    FORWARD_IF_ERROR(cli_unk_policy(a->unk_policy, &a->policy));
    a->has_weight = (seen >> F_LM_WEIGHT) & 1;
    RETURN_ERROR_IF(a->has_weight && !a->nbest, CLI_USAGE, "score: --lm-weight needs --nbest");
    RETURN_ERROR_IF(a->nbest && a->per_word, CLI_USAGE, "score: --per-word cannot be combined with --nbest");
    if (a->nbest) a->per_sentence = 1;
    return CLI_OK;
}

/* ---- Reading: one pass over the input, keeping each line's text and tokens -------------------- */
typedef struct score_line {
    size_t text;               /* offset in score_input.text: the words joined by single spaces
                                  (--nbest: the line, without the whitespace at its end) */
    size_t first, count;       /* its tokens: ids[first .. first + count) */
    unsigned long long lineno;
    size_t id_len, hyp, hyp_len; /* --nbest: the ID (text[0 .. id_len)), the hypothesis's words */
    double base;               /* --nbest with --lm-weight: the line's score */
    double lp, lp10;           /* --nbest: its LM score */
} score_line;

typedef struct score_input {
    const score_args *a;
    const char *name;          /* the input in messages */
    char *text;
    size_t used, cap;
    score_line *lines;
    size_t count, lines_cap;
    corpus_vocab *ids_seen;    /* --nbest: the IDs of earlier groups */
    size_t span0, span1;       /* --nbest: the current line's hypothesis */
} score_input;

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

/* line[start .. end) with the whitespace at both ends cut (ASCII, as Moses writes it) */
static void trim(const char *line, size_t *start, size_t *end)
{
    while (*start < *end && (line[*start] == ' ' || line[*start] == '\t')) (*start)++;
    while (*end > *start && (line[*end - 1] == ' ' || line[*end - 1] == '\t')) (*end)--;
}

/* the next "|||" in line[from .. len), or len */
static size_t next_bar(const char *line, size_t from, size_t len)
{
    for (size_t i = from; i + 3 <= len; i++)
        if (line[i] == '|' && line[i + 1] == '|' && line[i + 2] == '|') return i;
    return len;
}

/* cli_span_fn for --nbest: checks the line's fields and keeps the hypothesis's span */
static int nbest_span(void *user, const char *line, size_t len, unsigned long long lineno, size_t *start,
                      size_t *end)
{
    score_input *in = user;
    size_t bar[64], nbars = 0;
    for (size_t i = next_bar(line, 0, len); i < len && nbars < 64; i = next_bar(line, i + 3, len)) bar[nbars++] = i;
    RETURN_ERROR_IF(nbars < 2, CLI_RUNTIME, "%s:%llu: not an n-best line \"ID ||| HYPOTHESIS ||| SCORES\" (%zu "
                    "field%s)", in->name, lineno, nbars + 1, nbars ? "s" : "");
    size_t id0 = 0, id1 = bar[0];
    trim(line, &id0, &id1);
    RETURN_ERROR_IF(id0 == id1, CLI_RUNTIME, "%s:%llu: the n-best line has an empty ID", in->name, lineno);
    *start = bar[0] + 3, *end = bar[1];
    in->span0 = *start, in->span1 = *end;
    return CLI_OK;
}

/* The last number of line[from .. to) (the last field), for --lm-weight. */
static int last_number(const score_input *in, const char *line, size_t from, size_t to, unsigned long long lineno,
                       double *x)
{
    trim(line, &from, &to);
    size_t s = to;
    while (s > from && line[s - 1] != ' ' && line[s - 1] != '\t') s--;
    char buf[64] = "";
    size_t n = to - s < sizeof buf - 1 ? to - s : sizeof buf - 1;
    memcpy(buf, line + s, n);
    buf[n] = 0;
    char *endp = NULL;
    errno = 0;
    *x = strtod(buf, &endp);
    RETURN_ERROR_IF(!n || *endp || errno || !isfinite(*x), CLI_RUNTIME,
                    "%s:%llu: --lm-weight needs a number at the end of the n-best line's last field (got \"%s\")",
                    in->name, lineno, buf);
    return CLI_OK;
}

/* --nbest: the line's ID (text[0 .. id_len)), its score, and the check that each ID's lines are
   together */
static int keep_nbest(score_input *in, score_line *sl, const char *line, size_t len, unsigned long long lineno)
{
    size_t id0 = 0, id1 = next_bar(line, 0, len), o = in->used;
    trim(line, &id0, &id1);
    size_t e = len;
    while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t')) e--;
    RETURN_ERROR_IF(grow((void **)&in->text, &in->cap, o + (id1 - id0) + 1 + e + 1, 1), CLI_RUNTIME, "out of memory");
    /* the ID, NUL, then the line: id at text, the line after it */
    memcpy(in->text + o, line + id0, id1 - id0);
    in->text[o + (id1 - id0)] = 0;
    memcpy(in->text + o + (id1 - id0) + 1, line, e);
    in->text[o + (id1 - id0) + 1 + e] = 0;
    in->used = o + (id1 - id0) + 1 + e + 1;
    sl->text = o, sl->id_len = id1 - id0;
    sl->hyp = in->span0, sl->hyp_len = in->span1 - in->span0;
    if (in->a->has_weight) {
        size_t lastbar = in->span1;
        for (size_t i = next_bar(line, in->span1 + 3, len); i < len; i = next_bar(line, i + 3, len)) lastbar = i;
        FORWARD_IF_ERROR(last_number(in, line, lastbar + 3, len, lineno, &sl->base));
    }
    const char *id = in->text + o;
    int same = in->count > 0 && strcmp(in->text + in->lines[in->count - 1].text, id) == 0;
    if (!same) {
        RETURN_ERROR_IF(vocab_lookup(in->ids_seen, id, sl->id_len) >= 0, CLI_RUNTIME,
                        "%s:%llu: the ID \"%.40s\" comes again after other IDs: an n-best list keeps each ID's "
                        "lines together", in->name, lineno, id);
        RETURN_ERROR_IF(vocab_add(in->ids_seen, id, sl->id_len, NULL) != RNN_OK, CLI_RUNTIME, "out of memory");
    }
    return CLI_OK;
}

/* cli_line_fn: the line's words joined by single spaces (--nbest: the line itself) and its tokens */
static int keep_line(void *user, const char *line, size_t len, unsigned long long lineno, size_t first,
                     size_t count)
{
    score_input *in = user;
    RETURN_ERROR_IF(grow((void **)&in->lines, &in->lines_cap, in->count + 1, sizeof *in->lines), CLI_RUNTIME,
                    "out of memory");
    score_line *sl = &in->lines[in->count];
    memset(sl, 0, sizeof *sl);
    sl->first = first, sl->count = count, sl->lineno = lineno;
    if (in->a->nbest) {
        FORWARD_IF_ERROR(keep_nbest(in, sl, line, len, lineno));
    } else {
        RETURN_ERROR_IF(grow((void **)&in->text, &in->cap, in->used + len + 1, 1), CLI_RUNTIME, "out of memory");
        size_t pos = 0, wl = 0, o = in->used, words = 0;
        sl->text = o;
        while (rnn_text_next_word(line, len, &pos, &wl) == RNN_OK) {
            if (words++) in->text[o++] = ' ';
            memcpy(in->text + o, line + pos, wl);
            o += wl, pos += wl;
        }
        in->text[o++] = 0;
        in->used = o;
    }
    in->count++;
    return CLI_OK;
}

/* Reads a->data ("-": standard input) once, tokenizing it over m's vocabulary by --unk-policy. */
static int read_input(const score_args *a, const rnn_model *m, score_input *in, cli_tokens *t)
{
    int from_stdin = strcmp(a->data, "-") == 0;
    in->a = a, in->name = from_stdin ? "(stdin)" : a->data;
    if (a->nbest) RETURN_ERROR_IF(vocab_create(&in->ids_seen) != RNN_OK, CLI_RUNTIME, "out of memory");
    FILE *f = from_stdin ? stdin : fopen(a->data, "rb");
    RETURN_ERROR_IF(!f, CLI_RUNTIME, "%s: cannot open: %s", a->data, strerror(errno));
    int rc = cli_tokenize(m, f, in->name, a->policy, a->nbest ? nbest_span : NULL, keep_line, in, t);
    if (!from_stdin) fclose(f);
    return rc;
}

/* ---- Scoring ----------------------------------------------------------------------------------- */
typedef struct score_total {
    double lp, lp_excl;          /* natural log */
    size_t tokens, tokens_excl;
} score_total;

/* Scores tokens[0 .. n) with st, from the sentence start state when `fresh`, advancing it; the
   stretches between OOVs go in one call each, an OOV token alone, so that it can be left out of
   *lp_excl. per_token (may be NULL): every token alone, its log-probability in per_token[i]. */
static int score_tokens(const score_input *in, rnn_state *st, const int32_t *tok, const unsigned char *oov, size_t n,
                        int fresh, double *per_token, double *lp, double *lp_excl)
{
    *lp = 0.0, *lp_excl = 0.0;
    RETURN_ERROR_IF(n > INT32_MAX, CLI_RUNTIME, "%s: a line of %zu tokens is too long", in->name, n);
    if (fresh && n == 0) { /* nothing to score, but the state restarts all the same */
        double z;
        RETURN_ERROR_IF(rnn_state_score_sentence(st, NULL, 0, 0, &z) != RNN_OK, CLI_RUNTIME, "scoring failed: %s",
                        rnn_state_errmsg(st));
    }
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        if (!per_token && !oov[i])
            while (j < n && !oov[j]) j++;
        double x = 0.0;
        int rc = fresh && i == 0 ? rnn_state_score_sentence(st, tok + i, (int)(j - i), 0, &x)
                                 : rnn_state_score(st, tok + i, (int)(j - i), 0, &x);
        RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "scoring failed: %s", rnn_state_errmsg(st));
        if (per_token) per_token[i] = x;
        *lp += x;
        if (!oov[i]) *lp_excl += x;
        i = j;
    }
    return CLI_OK;
}

static void print_line(const score_args *a, size_t line, double lp, size_t tokens, const char *text)
{
    if (a->json) {
        printf("{\"line\":%zu,", line);
        cli_json_num(stdout, "logprob", lp, 0);
        printf("\"tokens\":%zu,\"text\":", tokens);
        cli_json_str(stdout, text);
        fputs("}\n", stdout);
    } else {
        printf("%.6f\t%zu\t%s\n", lp, tokens, text);
    }
}

static void print_word(const score_args *a, size_t line, const char *word, size_t wl, double lp, int oov)
{
    if (a->json) {
        char w[4096];
        size_t n = wl < sizeof w - 1 ? wl : sizeof w - 1;
        memcpy(w, word, n), w[n] = 0;
        printf("{\"line\":%zu,\"word\":", line);
        cli_json_str(stdout, w);
        fputc(',', stdout);
        cli_json_num(stdout, "log10prob", lp / log(10.0), 0);
        cli_json_num(stdout, "logprob", lp, 0);
        printf("\"oov\":%d}\n", oov);
    } else {
        printf("%zu\t%.*s\t%.6f\t%.6f\t%d\n", line, (int)wl, word, lp / log(10.0), lp, oov);
    }
}

/* --per-word: the words of line i (its text) beside their tokens; a word that has no token was
   skipped (--unk-policy skip). */
static void print_words(const score_input *in, const corpus_vocab *v, size_t i, const cli_tokens *t,
                        const double *lp)
{
    const score_line *sl = &in->lines[i];
    const char *text = in->text + sl->text;
    size_t len = strlen(text), pos = 0, wl = 0, k = 0;
    for (; rnn_text_next_word(text, len, &pos, &wl) == RNN_OK && k < sl->count; pos += wl) {
        int known = vocab_lookup(v, text + pos, wl) >= 0;
        if (!known && !t->oov[sl->first + k]) continue; /* skipped */
        print_word(in->a, i + 1, text + pos, wl, lp[k], !known);
        k++;
    }
    if (k < sl->count) /* <eos> */
        print_word(in->a, i + 1, CORPUS_EOS, sizeof CORPUS_EOS - 1, lp[k], t->oov[sl->first + k]);
}

static void print_total(const score_args *a, FILE *f, const score_total *s, const cli_tokens *t)
{
    double ppl = exp(-s->lp / (double)s->tokens), ppl_excl = exp(-s->lp_excl / (double)s->tokens_excl);
    if (a->json) {
        fputc('{', f);
        cli_json_num(f, "total_logprob", s->lp, 0);
        fprintf(f, "\"tokens\":%zu,", s->tokens);
        cli_json_num(f, "ppl", ppl, 0);
        fprintf(f, "\"lines\":%zu,\"sentences\":%zu,\"words\":%zu,\"oovs\":%zu,", t->lines, t->lines, t->words,
                t->oovs);
        cli_json_num(f, "total_logprob_excluding_oovs", s->lp_excl, 0);
        fprintf(f, "\"tokens_excluding_oovs\":%zu,", s->tokens_excl);
        cli_json_num(f, "ppl_excluding_oovs", ppl_excl, 1);
        fputs("}\n", f);
    } else {
        fprintf(f, "total logprob %.6f tokens %zu ppl %.6f sentences %zu words %zu oovs %zu ppl_excluding_oovs %.6f\n",
                s->lp, s->tokens, ppl, t->lines, t->words, t->oovs, ppl_excl);
    }
}

/* Scores line i (its tokens in t) into s; prints it unless --nbest. per_token: room for the
   longest line (--per-word) or NULL. */
static int score_one(const score_input *in, rnn_state *st, const cli_tokens *t, const corpus_vocab *v, size_t i,
                     double *per_token, score_total *s)
{
    score_line *sl = &in->lines[i];
    double lp = 0.0, lp_excl = 0.0;
    const unsigned char *oov = t->oov + sl->first;
    FORWARD_IF_ERROR(score_tokens(in, st, t->ids + sl->first, oov, sl->count, in->a->per_sentence, per_token, &lp,
                                  &lp_excl));
    RETURN_ERROR_IF(!isfinite(lp), CLI_RUNTIME, "%s: the log-probability of line %zu is not finite: %s", in->name,
                    i + 1, CLI_OVERFLOW);
    size_t mapped = 0;
    for (size_t k = 0; k < sl->count; k++) mapped += oov[k];
    s->lp += lp, s->lp_excl += lp_excl;
    s->tokens += sl->count, s->tokens_excl += sl->count - mapped;
    sl->lp = lp, sl->lp10 = lp / log(10.0);
    if (in->a->nbest) return CLI_OK;
    if (per_token) print_words(in, v, i, t, per_token);
    else print_line(in->a, i + 1, lp, sl->count, in->text + sl->text);
    return CLI_OK;
}

/* --nbest: the combined score of a line */
static double nbest_score(const score_args *a, const score_line *sl)
{
    return a->has_weight ? sl->base + a->lm_weight * sl->lp10 : sl->lp10;
}

static const score_args *sort_args;
static const score_line *sort_lines;
/* best first; ties in input order (a total order, so qsort's order is the stable one) */
static int by_score(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    double a = nbest_score(sort_args, &sort_lines[i]), b = nbest_score(sort_args, &sort_lines[j]);
    if (a != b) return a > b ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* --nbest: every ID's lines, sorted, with the LM score (and the combined one) appended */
static void print_nbest(const score_input *in, size_t *order)
{
    const score_args *a = in->a;
    for (size_t g = 0; g < in->count;) {
        size_t e = g + 1;
        while (e < in->count && strcmp(in->text + in->lines[e].text, in->text + in->lines[g].text) == 0) e++;
        for (size_t k = g; k < e; k++) order[k - g] = k;
        sort_args = a, sort_lines = in->lines;
        qsort(order, e - g, sizeof *order, by_score);
        for (size_t k = 0; k < e - g; k++) {
            const score_line *sl = &in->lines[order[k]];
            const char *id = in->text + sl->text, *line = id + sl->id_len + 1;
            if (a->json) {
                char hyp[8192];
                size_t p0 = sl->hyp, p1 = sl->hyp + sl->hyp_len;
                trim(line, &p0, &p1);
                size_t n = p1 - p0 < sizeof hyp - 1 ? p1 - p0 : sizeof hyp - 1;
                memcpy(hyp, line + p0, n), hyp[n] = 0;
                printf("{\"line\":%llu,\"id\":", sl->lineno);
                cli_json_str(stdout, id);
                fputs(",\"hypothesis\":", stdout);
                cli_json_str(stdout, hyp);
                fputc(',', stdout);
                cli_json_num(stdout, "lm_log10prob", sl->lp10, 0);
                cli_json_num(stdout, "lm_logprob", sl->lp, 0);
                cli_json_num(stdout, "score", nbest_score(a, sl), 1);
                fputs("}\n", stdout);
            } else if (a->has_weight) {
                printf("%s ||| %.6f ||| %.6f\n", line, sl->lp10, nbest_score(a, sl));
            } else {
                printf("%s ||| %.6f\n", line, sl->lp10);
            }
        }
        g = e;
    }
}

/* Scores the lines of in (their tokens in t) with the state st. */
static int score_with(const score_input *in, rnn_state *st, const cli_tokens *t, const corpus_vocab *v,
                      double *per_token, size_t *order)
{
    score_total s = {0};
    for (size_t i = 0; i < in->count; i++) FORWARD_IF_ERROR(score_one(in, st, t, v, i, per_token, &s));
    RETURN_ERROR_IF(s.tokens == 0, CLI_RUNTIME, "%s: no token to score", in->name);
    if (in->a->nbest) {
        print_nbest(in, order);
        print_total(in->a, stderr, &s, t);
    } else {
        print_total(in->a, stdout, &s, t);
    }
    return cli_stdout_flush();
}

/* The buffers of score_with: per-token scores (--per-word: the longest line), the sort order
   (--nbest) and the vocabulary (--per-word: which words are known); then scoring. */
static int score_buffers(const score_input *in, rnn_state *st, const cli_tokens *t, const rnn_model *m)
{
    size_t longest = 1;
    for (size_t i = 0; i < in->count; i++)
        if (in->lines[i].count > longest) longest = in->lines[i].count;
    double *per_token = in->a->per_word ? malloc(longest * sizeof *per_token) : NULL;
    size_t *order = in->a->nbest ? malloc((in->count ? in->count : 1) * sizeof *order) : NULL;
    corpus_vocab *v = NULL;
    int rc = (in->a->per_word && !per_token) || (in->a->nbest && !order) ? cli_error(CLI_RUNTIME, "out of memory")
             : in->a->per_word                                            ? cli_model_vocab(m, &v)
                                                                          : CLI_OK;
    if (rc == CLI_OK) rc = score_with(in, st, t, v, per_token, order);
    vocab_free(v);
    free(per_token);
    free(order);
    return rc;
}

/* Reads a->data once (tokens and lines), then scores its lines over one new state. */
static int run_score(const void *args, rnn_model *m, const int32_t *unused, size_t nunused)
{
    (void)unused, (void)nunused;
    const score_args *a = args;
    score_input in;
    memset(&in, 0, sizeof in);
    cli_tokens t;
    memset(&t, 0, sizeof t);
    rnn_state *st = NULL;
    int rc = read_input(a, m, &in, &t);
    if (rc == CLI_OK) {
        int lrc = rnn_state_create(&st, m, 1, 0);
        rc = lrc == RNN_OK ? score_buffers(&in, st, &t, m)
                           : cli_error(CLI_RUNTIME, "cannot create a state: %s", rnn_status_string(lrc));
    }
    rnn_state_free(st);
    cli_tokens_free(&t);
    vocab_free(in.ids_seen);
    free(in.text);
    free(in.lines);
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
