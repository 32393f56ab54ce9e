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
    const char *checkpoint, *data, *batching, *unk_policy, *reference;
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
    {FLAG("reference", "FILE", CLI_STR, reference),
     .help = "an fp32 model (that --checkpoint was quantized from): also its\n"
             "perplexity, and how far the two next-word distributions are apart"},
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
    "          \"ppl_excluding_oovs\":Z,\"tokens_excluding_oovs\":M,\"data\":\"FILE\"}\n"
    "--reference R:  loss X ppl Y tokens N\n"
    "         reference_loss X2 reference_ppl Y2\n"
    "         kl_mean D kl_p99 D99 top1_agreement A\n"
    "  (--json: those keys in one object.) D: the mean over the N scored positions of\n"
    "  KL(P_R || P) = sum_w P_R(w) (log P_R(w) - log P(w)) in nats, P_R R's next-word\n"
    "  distribution and P the --checkpoint's; D99 its 99th percentile (nearest rank); A the\n"
    "  share of positions where both give their highest probability to the same word.\n";

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

/* ---- --reference: the cost of quantization, as llama.cpp's perplexity --kl-divergence ---------- */
/* What --reference adds to a chunk's (B, T) rows: their KL divergences into kl (one per scored
   position) and the argmax agreements; lq, lr are [b][t][V] log-probabilities. */
static void compare_rows(const float *lq, const float *lr, const int32_t *tgt, int batch, int steps, int stride,
                         int V, double *kl, size_t *n, size_t *agree)
{
    size_t st = (size_t)(stride ? stride : steps);
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < steps; t++) {
            if (tgt[(size_t)b * st + (size_t)t] == RNN_IGNORE) continue;
            const float *q = lq + ((size_t)b * steps + (size_t)t) * V, *r = lr + ((size_t)b * steps + (size_t)t) * V;
            double d = 0.0;
            int aq = 0, ar = 0;
            for (int v = 0; v < V; v++) {
                d += exp((double)r[v]) * ((double)r[v] - (double)q[v]);
                aq = q[v] > q[aq] ? v : aq, ar = r[v] > r[ar] ? v : ar;
            }
            kl[(*n)++] = d > 0.0 ? d : 0.0; /* (rounding can give a tiny negative) */
            *agree += aq == ar;
        }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Both models over the chunks of b: their losses (main.py's), and the comparison. */
static int reference_pass(rnn_model *m, rnn_model *ref, const corpus_batches *b, int V, double *loss, double *rloss,
                          double *kl, size_t *n, size_t *agree)
{
    int32_t *tok_buf = NULL, *tgt_buf = NULL;
    FORWARD_IF_ERROR(cli_chunk_buffers(b, &tok_buf, &tgt_buf));
    size_t rows = (size_t)b->batch * (size_t)b->bptt * (size_t)V;
    float *lq = malloc(rows * sizeof *lq), *lr = malloc(rows * sizeof *lr);
    int rc = lq && lr ? rnn_model_reset_hidden(m, b->batch) : RNN_ERR_NOMEM;
    if (rc == RNN_OK) rc = rnn_model_reset_hidden(ref, b->batch);
    double total = 0.0, rtotal = 0.0;
    rnn_model *failed = m;
    for (size_t k = 0; rc == RNN_OK && k < b->num_chunks; k++) {
        int steps = 0, stride = 0;
        const int32_t *tok = NULL, *tgt = NULL;
        double l = 0.0, lref = 0.0;
        rc = cli_chunk(b, k, tok_buf, tgt_buf, &tok, &tgt, &steps, &stride);
        if (rc == RNN_OK) rc = rnn_evaluate(m, tok, tgt, b->batch, steps, stride, &l, lq);
        if (rc == RNN_OK && (rc = rnn_evaluate(ref, tok, tgt, b->batch, steps, stride, &lref, lr)) != RNN_OK) failed = ref;
        if (rc != RNN_OK) break;
        total += (double)steps * l, rtotal += (double)steps * lref;
        compare_rows(lq, lr, tgt, b->batch, steps, stride, V, kl, n, agree);
    }
    free(tok_buf), free(tgt_buf), free(lq), free(lr);
    RETURN_ERROR_IF(rc == RNN_ERR_NOMEM && (!lq || !lr), CLI_RUNTIME, "out of memory: log-probabilities of %zu rows", rows);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "evaluation failed: %s (%s)", rnn_status_string(rc), rnn_model_errmsg(failed));
    RETURN_ERROR_IF(*n == 0, CLI_RUNTIME, "evaluation failed: no chunk has a target to score");
    *loss = total / (double)corpus_batches_eval_denominator(b);
    *rloss = rtotal / (double)corpus_batches_eval_denominator(b);
    return CLI_OK;
}

/* The models' vocabularies must be the same words with the same ids. */
static int same_vocab(const eval_args *a, const rnn_model *m, const rnn_model *ref, int *V)
{
    int vm = 0, vr = 0;
    rnn_vocab_get_size(m, &vm), rnn_vocab_get_size(ref, &vr);
    RETURN_ERROR_IF(vm != vr, CLI_RUNTIME, "--reference %s has %d words; %s has %d", a->reference, vr, a->checkpoint, vm);
    for (int i = 0; i < vm; i++) {
        const char *x = "", *y = "";
        rnn_vocab_get_word(m, i, &x), rnn_vocab_get_word(ref, i, &y);
        RETURN_ERROR_IF(strcmp(x, y) != 0, CLI_RUNTIME, "--reference %s: word %d is '%s' but '%s' in %s", a->reference,
                        i, y, x, a->checkpoint);
    }
    *V = vm;
    return CLI_OK;
}

static int eval_reference_tokens(const eval_args *a, rnn_model *m, rnn_model *ref, const cli_tokens *t, const char *path)
{
    int V = 0;
    FORWARD_IF_ERROR(same_vocab(a, m, ref, &V));
    char err[CORPUS_ERR_SIZE];
    corpus_batches b;
    int lrc = t->n ? corpus_batches_init(&b, t->ids, t->n, a->batch_size, a->bptt, cli_batching_mode(a->batching), err,
                                         sizeof err)
                   : RNN_ERR_INVALID;
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "%s is too short: %s", path, !t->n ? "no tokens" : err);
    double *kl = malloc(t->n * sizeof *kl), loss = 0, rloss = 0;
    RETURN_ERROR_IF(!kl, CLI_RUNTIME, "out of memory: %zu tokens", t->n);
    size_t n = 0, agree = 0;
    int rc = reference_pass(m, ref, &b, V, &loss, &rloss, kl, &n, &agree);
    if (rc == CLI_OK) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += kl[i];
        qsort(kl, n, sizeof *kl, cmp_double);
        size_t rank = (size_t)ceil(0.99 * (double)n);
        double mean = sum / (double)n, p99 = kl[rank ? rank - 1 : 0], share = (double)agree / (double)n;
        if (a->json) {
            fputc('{', stdout);
            cli_json_num(stdout, "loss", loss, 0), cli_json_num(stdout, "ppl", exp(loss), 0);
            printf("\"tokens\":%zu,", n);
            cli_json_num(stdout, "reference_loss", rloss, 0), cli_json_num(stdout, "reference_ppl", exp(rloss), 0);
            cli_json_num(stdout, "kl_mean", mean, 0), cli_json_num(stdout, "kl_p99", p99, 0);
            cli_json_num(stdout, "top1_agreement", share, 0);
            fputs("\"data\":", stdout);
            cli_json_str(stdout, path);
            fputs("}\n", stdout);
        } else {
            printf("loss %.4f ppl %.2f tokens %zu\n", loss, exp(loss), n);
            printf("reference_loss %.4f reference_ppl %.2f\n", rloss, exp(rloss));
            printf("kl_mean %.9f kl_p99 %.9f top1_agreement %.4f\n", mean, p99, share);
        }
    }
    free(kl);
    return rc;
}

/* --reference: tokenizes path (--unk-policy) and compares the models on it */
static int eval_reference(const eval_args *a, rnn_model *m, const char *path)
{
    rnn_model *ref = NULL;
    FORWARD_IF_ERROR(cli_load_model(a->reference, &ref));
    int rc = cli_set_threads(ref, a->threads);
    unsigned policy = 0;
    if (rc == CLI_OK) rc = cli_unk_policy(a->unk_policy, &policy);
    FILE *f = rc == CLI_OK ? fopen(path, "rb") : NULL;
    if (rc == CLI_OK && !f) rc = cli_error(CLI_RUNTIME, "%s: cannot open: %s", path, strerror(errno));
    if (f) {
        cli_tokens t;
        rc = cli_tokenize(m, f, path, policy, NULL, NULL, NULL, &t);
        fclose(f);
        if (rc == CLI_OK) rc = eval_reference_tokens(a, m, ref, &t, path);
        cli_tokens_free(&t);
    }
    rnn_model_free(ref);
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
    int rc = a->reference ? eval_reference(a, m, r.path) : eval_file(a, m, &r);
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
