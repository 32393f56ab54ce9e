/*
 * cli_eval.c -- `rnnlm eval`: main.py's evaluate() on one text file with a saved model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct eval_args {
    const char *checkpoint, *data, *batching;
    int batch_size, bptt, threads, json;
} eval_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(eval_args, n, a, k, field)

static const cli_flag eval_flags[] = {
    {CLI_CHECKPOINT_FLAG(eval_args)},
    {FLAG("data", "FILE", CLI_STR, data), .what = CLI_REQUIRED, .help = "text file to evaluate"},
    {FLAG("batch_size", "N", CLI_INT, batch_size), CLI_POSITIVE, .def = "10",
     .help = "streams (main.py's eval_batch_size), default %D"},
    {FLAG("bptt", "N", CLI_INT, bptt), CLI_POSITIVE, .def = "35", .help = "sequence length, default %D"},
    {FLAG("batching", "MODE", CLI_STR, batching), .def = "torch",
     .help = "torch (main.py, default) or seed (the lecture note's bptt_batchify)"},
    {CLI_THREADS_FLAG(eval_args), .help = CLI_THREADS_HELP},
    {FLAG("json", NULL, CLI_FLAG, json),
     .help = "print {\"loss\":...,\"ppl\":...,\"tokens\":...} instead of text"},
};

static const char eval_head[] =
    "usage: rnnlm eval --checkpoint FILE --data FILE [flags]\n"
    "\n"
    "Perplexity of a saved model on one text file, exactly as main.py's evaluate(): the file is\n"
    "tokenized as data.py does (every line ends with <eos>), cut into --batch_size streams and\n"
    "chunks of --bptt steps; the loss is sum(steps_k * loss_k) / (stream length - 1).\n"
    "Words missing from the model's vocabulary map to <unk> when it has one; otherwise this fails,\n"
    "naming the first unknown words.\n"
    "\n";

static const char eval_tail[] =
    "\n"
    "Output: loss X ppl Y tokens N  (N: the number of predicted tokens that were scored)\n";

static const cli_command eval_command = {
    "eval", eval_flags, (int)(sizeof eval_flags / sizeof eval_flags[0]), 21, eval_head, eval_tail};

static int parse_eval(int argc, char **argv, eval_args *a, int *help)
{
    memset(a, 0, sizeof *a);
    FORWARD_IF_ERROR(cli_parse(&eval_command, argc, argv, a, NULL, help));
    if (*help) return CLI_OK;
    FORWARD_IF_ERROR(cli_require(&eval_command, a));
    FORWARD_IF_ERROR(cli_check_batching(a->batching, a->bptt));
    return cli_check_chunk(a->batch_size, "--batch_size", a->bptt);
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

/* Evaluates a->data (ids: its tokens over the model's vocabulary). */
static int run_eval(const void *args, rnn_model *m, const int32_t *ids, size_t n)
{
    const eval_args *a = args;
    char err[CORPUS_ERR_SIZE];
    corpus_batches b;
    int mode = cli_batching_mode(a->batching);
    int lrc = corpus_batches_init(&b, ids, n, a->batch_size, a->bptt, mode, err, sizeof err);
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "%s is too short: %s", a->data,
                    strncmp(err, "batching: ", 10) == 0 ? err + 10 : err);
    double loss = 0.0;
    size_t scored = 0;
    FORWARD_IF_ERROR(cli_evaluate(m, &b, &loss, &scored));
    RETURN_ERROR_IF(!isfinite(loss), CLI_RUNTIME, "the loss on %s is not finite: %s", a->data,
                    CLI_OVERFLOW);
    print_result(a, loss, scored);
    return CLI_OK;
}

int cli_eval(int argc, char **argv)
{
    eval_args a;
    int help = 0;
    FORWARD_IF_ERROR(parse_eval(argc, argv, &a, &help));
    if (help) return cli_help(&eval_command);
    return cli_run_model(a.checkpoint, a.threads, a.data, run_eval, &a);
}
