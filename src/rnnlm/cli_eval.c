/*
 * cli_eval.c -- `rnnlm eval`: main.py's evaluate() on one text file with a saved model, with the
 * perplexity also without the unknown words (KenLM's "excluding OOVs").
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

typedef struct eval_args {
    const char *checkpoint, *data, *batching, *unk_policy;
    int batch_size, bptt, threads, json;
} eval_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(eval_args, n, a, k, field)

static const cli_flag eval_flags[] = {
    {CLI_CHECKPOINT_FLAG(eval_args)},
    {FLAG("data", "FILE", CLI_STR, data), .what = CLI_REQUIRED,
     .help = "text file to evaluate; a folder: its test.txt (main.py's test set)"},
    {FLAG("batch_size", "N", CLI_INT, batch_size), CLI_POSITIVE, .def = "10",
     .help = "streams (main.py's eval_batch_size), default %D"},
    {FLAG("bptt", "N", CLI_INT, bptt), CLI_POSITIVE, .def = "35", .help = "sequence length, default %D"},
    {FLAG("batching", "MODE", CLI_STR, batching), .def = "torch",
     .help = "torch (main.py, default) or seed (the lecture note's bptt_batchify)"},
    {FLAG("unk-policy", "POLICY", CLI_STR, unk_policy), .def = "map",
     .help = "a word missing from the model's vocabulary: " CLI_UNK_POLICY_HELP},
    {CLI_THREADS_FLAG(eval_args), .help = CLI_THREADS_HELP},
    {FLAG("json", NULL, CLI_FLAG, json), .help = "one JSON object instead of text (below)"},
};

static const char eval_head[] =
    "usage: rnnlm eval --checkpoint FILE --data FILE [flags]\n"
    "\n"
    "Perplexity of a saved model on one text file, exactly as main.py's evaluate(): the file is\n"
    "tokenized as data.py does (every line ends with <eos>), cut into --batch_size streams and\n"
    "chunks of --bptt steps; the loss is sum(steps_k * loss_k) / (stream length - 1).\n"
    "Words missing from the model's vocabulary (OOVs) follow --unk-policy: mapped to <unk>\n"
    "(default), left out, or an error naming the first of them.\n"
    "\n";

static const char eval_tail[] =
    "\n"
    "Output:  loss X ppl Y tokens N\n"
    "         oovs K ppl_excluding_oovs Z tokens_excluding_oovs M\n"
    "  N: the predicted tokens that were scored; K: the unknown words of the file (mapped to\n"
    "  <unk> or left out); Z: the perplexity over the M scored tokens that are not mapped unknown\n"
    "  words (KenLM's \"excluding OOVs\"; Y includes them, scored as <unk>). When --data is a\n"
    "  folder, a first line says which file was evaluated.\n"
    "--json:  {\"loss\":X,\"ppl\":Y,\"tokens\":N,\"oovs\":K,\"loss_excluding_oovs\":L,\n"
    "          \"ppl_excluding_oovs\":Z,\"tokens_excluding_oovs\":M,\"data\":\"FILE\"}\n";

static const cli_command eval_command = {
    "eval", eval_flags, (int)(sizeof eval_flags / sizeof eval_flags[0]), 21, eval_head, eval_tail};

static int parse_eval(int argc, char **argv, eval_args *a, int *help)
{
    memset(a, 0, sizeof *a);
    FORWARD_IF_ERROR(cli_parse(&eval_command, argc, argv, a, NULL, help));
    if (*help) return CLI_OK;
    FORWARD_IF_ERROR(cli_require(&eval_command, a));
    unsigned policy;
    FORWARD_IF_ERROR(cli_unk_policy(a->unk_policy, &policy));
    FORWARD_IF_ERROR(cli_check_batching(a->batching, a->bptt));
    return cli_check_chunk(a->batch_size, "--batch_size", a->bptt);
}

/* What eval reports. */
typedef struct eval_result {
    const char *path;        /* the file evaluated */
    int folder;              /* --data was a folder */
    double loss, loss_excl;  /* main.py's loss; the mean loss over the targets that are not OOVs */
    size_t scored, scored_excl, oovs;
} eval_result;

static void print_result(const eval_args *a, const eval_result *r)
{
    if (a->json) {
        fputc('{', stdout);
        cli_json_num(stdout, "loss", r->loss, 0);
        cli_json_num(stdout, "ppl", exp(r->loss), 0);
        printf("\"tokens\":%zu,\"oovs\":%zu,", r->scored, r->oovs);
        cli_json_num(stdout, "loss_excluding_oovs", r->loss_excl, 0);
        cli_json_num(stdout, "ppl_excluding_oovs", exp(r->loss_excl), 0);
        printf("\"tokens_excluding_oovs\":%zu,\"data\":", r->scored_excl);
        cli_json_str(stdout, r->path);
        fputs("}\n", stdout);
    } else {
        if (r->folder) printf("evaluating %s (--data is a folder)\n", r->path);
        printf("loss %.4f ppl %.2f tokens %zu\n", r->loss, exp(r->loss), r->scored);
        printf("oovs %zu ppl_excluding_oovs %.2f tokens_excluding_oovs %zu\n", r->oovs, exp(r->loss_excl),
               r->scored_excl);
    }
}

/* The targets of a chunk that count (not RNN_IGNORE): batch rows of steps, stride apart. */
static size_t kept_targets(const int32_t *tgt, int batch, int steps, int stride)
{
    size_t c = 0, st = (size_t)(stride ? stride : steps);
    for (size_t r = 0; r < (size_t)batch; r++)
        for (size_t i = 0; i < (size_t)steps; i++) c += tgt[r * st + i] != RNN_IGNORE;
    return c;
}

/* One chunk of evaluate_oovs: the loss with every target, and the loss with the OOV targets left
   out (mtgt) when that chunk has any; the model's hidden state advances once. */
static int eval_chunk(rnn_model *m, const int32_t *tok, const int32_t *tgt, const int32_t *mtgt, int batch,
                      int steps, int stride, float *h, float *c, double *l, double *lm, size_t *kept)
{
    size_t all = kept_targets(tgt, batch, steps, stride);
    *kept = kept_targets(mtgt, batch, steps, stride);
    if (*kept == all) { /* no OOV target here: one pass gives both */
        int rc = rnn_evaluate(m, tok, tgt, batch, steps, stride, l, NULL);
        *lm = *l;
        return rc;
    }
    int rc = rnn_model_get_hidden(m, batch, h, c);
    if (!rc && *kept) rc = rnn_evaluate(m, tok, mtgt, batch, steps, stride, lm, NULL);
    if (!rc) rc = rnn_model_set_hidden(m, batch, h, c); /* back to where the chunk starts */
    if (!rc) rc = rnn_evaluate(m, tok, tgt, batch, steps, stride, l, NULL);
    return rc;
}

/* cli_evaluate, and the loss over the targets that are not OOVs: bm is b over the tokens with every
   OOV (mapped to <unk>) turned into RNN_IGNORE, so its targets leave them out; h, c: the hidden
   state's size. */
static int evaluate_oovs(rnn_model *m, const corpus_batches *b, const corpus_batches *bm, float *h, float *c,
                         eval_result *r)
{
    int32_t *tok_buf = NULL, *tgt_buf = NULL, *mtok_buf = NULL, *mtgt_buf = NULL;
    int crc = cli_chunk_buffers(b, &tok_buf, &tgt_buf);
    if (crc == CLI_OK) crc = cli_chunk_buffers(bm, &mtok_buf, &mtgt_buf);
    int rc = crc == CLI_OK ? rnn_model_reset_hidden(m, b->batch) : RNN_OK;
    double total = 0.0, total_excl = 0.0;
    size_t scored = 0, scored_excl = 0;
    for (size_t k = 0; crc == CLI_OK && rc == RNN_OK && k < b->num_chunks; k++) {
        int steps = 0, stride = 0, msteps = 0, mstride = 0;
        const int32_t *tok = NULL, *tgt = NULL, *mtok = NULL, *mtgt = NULL;
        double l = 0.0, lm = 0.0;
        size_t kept = 0;
        rc = cli_chunk(b, k, tok_buf, tgt_buf, &tok, &tgt, &steps, &stride);
        if (rc == RNN_OK) rc = cli_chunk(bm, k, mtok_buf, mtgt_buf, &mtok, &mtgt, &msteps, &mstride);
        if (rc == RNN_OK) rc = eval_chunk(m, tok, tgt, mtgt, b->batch, steps, stride, h, c, &l, &lm, &kept);
        if (rc != RNN_OK) break;
        total += (double)steps * l;
        scored += kept_targets(tgt, b->batch, steps, stride);
        total_excl += (double)kept * lm, scored_excl += kept;
    }
    free(tok_buf), free(tgt_buf), free(mtok_buf), free(mtgt_buf);
    FORWARD_IF_ERROR(crc);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "evaluation failed: %s (%s)", rnn_status_string(rc),
                    rnn_model_errmsg(m));
    RETURN_ERROR_IF(scored == 0, CLI_RUNTIME, "evaluation failed: no chunk has a target to score");
    r->loss = total / (double)corpus_batches_eval_denominator(b);
    r->scored = scored, r->scored_excl = scored_excl;
    r->loss_excl = scored_excl ? total_excl / (double)scored_excl : NAN;
    return CLI_OK;
}

/* evaluate_oovs with the masked tokens and the hidden state's buffers (OOVs mapped to <unk>). */
static int evaluate_masked(const eval_args *a, rnn_model *m, const cli_tokens *t, const corpus_batches *b,
                           eval_result *r)
{
    rnn_config cfg;
    cfg.struct_size = sizeof cfg;
    RETURN_ERROR_IF(rnn_model_get_config(m, &cfg) != RNN_OK, CLI_RUNTIME, "%s", rnn_model_errmsg(m));
    size_t state = (size_t)cfg.num_layers * (size_t)a->batch_size * (size_t)cfg.hidden_size;
    int32_t *masked = malloc(t->n * sizeof *masked);
    float *h = malloc(state * sizeof *h), *c = malloc(state * sizeof *c);
    int rc = CLI_RUNTIME;
    if (masked && h && c) {
        char err[CORPUS_ERR_SIZE];
        corpus_batches bm;
        for (size_t i = 0; i < t->n; i++) masked[i] = t->oov[i] ? RNN_IGNORE : t->ids[i];
        rc = corpus_batches_init(&bm, masked, t->n, b->batch, b->bptt, b->mode, err, sizeof err) == RNN_OK
                 ? evaluate_oovs(m, b, &bm, h, c, r)
                 : cli_error(CLI_RUNTIME, "%s", err);
    } else {
        cli_error(CLI_RUNTIME, "out of memory: %zu tokens", t->n);
    }
    free(masked), free(h), free(c);
    return rc;
}

/* Evaluates the tokens t of r->path. */
static int eval_tokens(const eval_args *a, rnn_model *m, const cli_tokens *t, eval_result *r)
{
    char err[CORPUS_ERR_SIZE];
    corpus_batches b;
    int mode = cli_batching_mode(a->batching);
    int lrc = t->n ? corpus_batches_init(&b, t->ids, t->n, a->batch_size, a->bptt, mode, err, sizeof err)
                   : RNN_ERR_INVALID;
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "%s is too short: %s", r->path,
                    !t->n ? "no tokens" : strncmp(err, "batching: ", 10) == 0 ? err + 10 : err);
    if (t->mapped) {
        FORWARD_IF_ERROR(evaluate_masked(a, m, t, &b, r));
    } else { /* nothing to leave out: main.py's evaluate() alone */
        FORWARD_IF_ERROR(cli_evaluate(m, &b, &r->loss, &r->scored));
        r->loss_excl = r->loss, r->scored_excl = r->scored;
    }
    r->oovs = t->oovs;
    RETURN_ERROR_IF(!isfinite(r->loss), CLI_RUNTIME, "the loss on %s is not finite: %s", r->path, CLI_OVERFLOW);
    print_result(a, r);
    return CLI_OK;
}

/* Tokenizes r->path with the --unk-policy, then evaluates it. */
static int eval_file(const eval_args *a, rnn_model *m, eval_result *r)
{
    unsigned policy = 0;
    FORWARD_IF_ERROR(cli_unk_policy(a->unk_policy, &policy));
    FILE *f = fopen(r->path, "rb");
    RETURN_ERROR_IF(!f, CLI_RUNTIME, "%s: cannot open: %s", r->path, strerror(errno));
    cli_tokens t;
    int rc = cli_tokenize(m, f, r->path, policy, NULL, NULL, NULL, &t);
    fclose(f);
    if (rc == CLI_OK) rc = eval_tokens(a, m, &t, r);
    cli_tokens_free(&t);
    return rc;
}

/* Evaluates a->data, or its test.txt when it is a folder. */
static int run_eval(const void *args, rnn_model *m, const int32_t *unused, size_t nunused)
{
    (void)unused, (void)nunused;
    const eval_args *a = args;
    eval_result r;
    memset(&r, 0, sizeof r);
    struct stat sb;
    r.path = a->data;
    char *joined = NULL;
    if (stat(a->data, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        joined = corpus_join_path(a->data, "test.txt");
        RETURN_ERROR_IF(!joined, CLI_RUNTIME, "out of memory");
        r.path = joined, r.folder = 1;
    }
    int rc = eval_file(a, m, &r);
    free(joined);
    return rc;
}

int cli_eval(int argc, char **argv)
{
    eval_args a;
    int help = 0;
    FORWARD_IF_ERROR(parse_eval(argc, argv, &a, &help));
    if (help) return cli_help(&eval_command);
    return cli_run_model(a.checkpoint, a.threads, NULL, run_eval, &a);
}
