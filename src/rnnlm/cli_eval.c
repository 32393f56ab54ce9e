/*
 * cli_eval.c -- `rnnlm eval`: main.py's evaluate() on one text file with a saved model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char eval_help[] =
    "usage: rnnlm eval --checkpoint FILE --data FILE [flags]\n"
    "\n"
    "Perplexity of a saved model on one text file, exactly as main.py's evaluate(): the file is\n"
    "tokenized as data.py does (every line ends with <eos>), cut into --batch_size streams and\n"
    "chunks of --bptt steps; the loss is sum(steps_k * loss_k) / (stream length - 1).\n"
    "Words missing from the model's vocabulary map to <unk> when it has one; otherwise this fails,\n"
    "naming the first unknown words.\n"
    "\n"
    "  --checkpoint FILE  model saved by rnnlm train (required)\n"
    "  --data FILE        text file to evaluate (required)\n"
    "  --batch_size N     streams (main.py's eval_batch_size), default 10\n"
    "  --bptt N           sequence length, default 35\n"
    "  --batching MODE    torch (main.py, default) or seed (the seed's bptt_batchify)\n"
    "  --threads N        threads, default one per CPU (librnn's own; OpenBLAS is kept to one)\n"
    "  --json             print {\"loss\":...,\"ppl\":...,\"tokens\":...} instead of text\n"
    "\n"
    "Output: loss X ppl Y tokens N  (N: the number of predicted tokens that were scored)\n";

typedef struct eval_args {
    const char *checkpoint, *data, *batching;
    int batch_size, bptt, threads, json;
} eval_args;

static int parse_eval(int argc, char **argv, eval_args *a, int *help)
{
    a->checkpoint = a->data = NULL;
    a->batching = "torch";
    a->batch_size = 10, a->bptt = 35, a->threads = 0, a->json = 0;
    cli_opt opts[] = {
        {"checkpoint", CLI_STR, &a->checkpoint, 0, 0, 0, 0, 0},
        {"data", CLI_STR, &a->data, 0, 0, 0, 0, 0},
        {"batch_size", CLI_INT, &a->batch_size, 1, INT32_MAX, 0, 0, 0},
        {"bptt", CLI_INT, &a->bptt, 1, INT32_MAX, 0, 0, 0},
        {"batching", CLI_STR, &a->batching, 0, 0, 0, 0, 0},
        {"threads", CLI_INT, &a->threads, 1, cli_max_threads(), 0, 0, 0},
        {"json", CLI_FLAG, &a->json, 0, 0, 0, 0, 0},
    };
    int rc = cli_parse("eval", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help);
    if (rc != CLI_OK || *help) return rc;
    if (!a->checkpoint) return cli_error(CLI_USAGE, "eval: --checkpoint FILE is required");
    if (!a->data) return cli_error(CLI_USAGE, "eval: --data FILE is required");
    if (cli_batching_mode(a->batching) < 0)
        return cli_error(CLI_USAGE, "--batching must be torch or seed, got '%s'", a->batching);
    return CLI_OK;
}

static void print_result(const eval_args *a, double loss, size_t tokens)
{
    if (a->json) {
        fputc('{', stdout);
        cli_json_num(stdout, "loss", loss, 0);
        cli_json_num(stdout, "ppl", exp(loss), 0);
        printf("\"tokens\":%zu}\n", tokens);
    } else {
        printf("loss %.4f ppl %.2f tokens %zu\n", loss, exp(loss), tokens);
    }
}

/* Tokenizes a->data with the model's vocabulary and evaluates it. */
static int run_eval(const eval_args *a, rnn_model *m)
{
    corpus_vocab *v = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    char err[CORPUS_ERR_SIZE];
    int rc = cli_model_vocab(m, &v);
    if (rc == CLI_OK && corpus_tokenize_file(v, a->data, 0, &ids, &n, err, sizeof err) != RNN_OK)
        rc = cli_error(CLI_RUNTIME, "%s", err);
    corpus_batches b;
    if (rc == CLI_OK && corpus_batches_init(&b, ids, n, a->batch_size, a->bptt,
                                            cli_batching_mode(a->batching), err, sizeof err) != RNN_OK)
        rc = cli_error(CLI_RUNTIME, "%s is too short: %s", a->data,
                       strncmp(err, "batching: ", 10) == 0 ? err + 10 : err);
    double loss = 0.0;
    size_t scored = 0;
    if (rc == CLI_OK) rc = cli_evaluate(m, &b, &loss, &scored);
    if (rc == CLI_OK) print_result(a, loss, scored);
    free(ids);
    vocab_free(v);
    return rc;
}

int cli_eval(int argc, char **argv)
{
    eval_args a;
    int help = 0, rc = parse_eval(argc, argv, &a, &help);
    if (rc != CLI_OK) return rc;
    if (help) {
        fputs(eval_help, stdout);
        return CLI_OK;
    }
    rnn_model *m = NULL;
    rc = cli_load_model(a.checkpoint, &m);
    if (rc == CLI_OK) rc = cli_set_threads(m, a.threads);
    if (rc == CLI_OK) rc = run_eval(&a, m);
    rnn_model_free(m);
    return rc;
}
