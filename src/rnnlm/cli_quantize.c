/*
 * cli_quantize.c -- `rnnlm quantize`: a saved model with its weights converted to bf16 or q8
 * (rnn_model_quantize), for inference: eval, score, generate and info read it; train refuses it.
 */
#include <string.h>

#include "cli.h"

typedef struct quantize_args {
    const char *checkpoint, *out, *type;
} quantize_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(quantize_args, n, a, k, field)

static const cli_flag quantize_flags[] = {
    {CLI_CHECKPOINT_FLAG(quantize_args)},
    {FLAG("out", "FILE", CLI_STR, out), .what = CLI_REQUIRED,
     .help = "the quantized model (written atomically; not the --checkpoint file)"},
    {FLAG("type", "TYPE", CLI_STR, type), .what = CLI_REQUIRED,
     .help = "q8 (int8 in blocks of 32 with an fp32 scale each, about 0.28x the\n"
             "size) or bf16 (bfloat16, about 0.5x)"},
};

static const char quantize_head[] =
    "usage: rnnlm quantize --checkpoint IN.rnn --out OUT.rnn --type q8|bf16\n"
    "\n"
    "Writes the model of --checkpoint with its weight matrices (embedding, recurrent layers,\n"
    "decoder) in reduced precision; biases stay fp32. The result is for inference: eval, score,\n"
    "generate and info take it, train --resume / --init refuse it. docs/DESIGN.md defines the\n"
    "roundings; `rnnlm eval --reference IN.rnn` on the result measures what they cost. The\n"
    "training state and application data of a checkpoint are not copied.\n"
    "\n";

static const cli_command quantize_command = {"quantize", quantize_flags,
                                             (int)(sizeof quantize_flags / sizeof quantize_flags[0]), 16,
                                             quantize_head, NULL};

static int quantize_model(const quantize_args *a, rnn_model *m, int type)
{
    int wt = RNN_WEIGHTS_FP32;
    rnn_model_get_weight_type(m, &wt);
    RETURN_ERROR_IF(wt != RNN_WEIGHTS_FP32, CLI_RUNTIME, "%s is already quantized (%s): quantize an fp32 model",
                    a->checkpoint, wt == RNN_WEIGHTS_Q8 ? "q8" : "bf16");
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    rnn_model_get_config(m, &cfg);
    /* the library's message names RNN_OUTPUT_FULL; say it in rnnlm's terms */
    RETURN_ERROR_IF(cfg.output == RNN_OUTPUT_ADAPTIVE, CLI_RUNTIME,
                    "cannot quantize %s: its output layer is adaptive (--adaptive-cutoffs), which cannot be quantized "
                    "yet: use it in fp32 as it is, or quantize a model trained without --adaptive-cutoffs", a->checkpoint);
    RETURN_ERROR_IF(rnn_model_quantize(m, type) != RNN_OK, CLI_RUNTIME, "cannot quantize %s: %s", a->checkpoint,
                    rnn_model_errmsg(m));
    RETURN_ERROR_IF(rnn_model_save(m, a->out, 0, NULL, 0) != RNN_OK, CLI_RUNTIME, "cannot save %s: %s", a->out,
                    rnn_model_errmsg(m));
    return CLI_OK;
}

int cli_quantize(int argc, char **argv)
{
    quantize_args a;
    int help = 0;
    memset(&a, 0, sizeof a);
    FORWARD_IF_ERROR(cli_parse(&quantize_command, argc, argv, &a, NULL, &help));
    if (help) return cli_help(&quantize_command);
    FORWARD_IF_ERROR(cli_require(&quantize_command, &a));
    int type = strcmp(a.type, "q8") == 0 ? RNN_WEIGHTS_Q8 : strcmp(a.type, "bf16") == 0 ? RNN_WEIGHTS_BF16 : -1;
    RETURN_ERROR_IF(type < 0, CLI_USAGE, "quantize: --type must be q8 or bf16 (got '%s')", a.type);
    cli_path out = {"--out", a.out}, in = {"--checkpoint", a.checkpoint};
    RETURN_ERROR_IF(strcmp(a.out, "-") == 0, CLI_USAGE, "quantize: --out must be a file");
    FORWARD_IF_ERROR(cli_check_outputs(&out, 1, &in, 1));
    FORWARD_IF_ERROR(cli_check_model_output("--out", a.out));
    rnn_model *m = NULL;
    FORWARD_IF_ERROR(cli_load_model(a.checkpoint, &m));
    int rc = quantize_model(&a, m, type);
    rnn_model_free(m);
    return rc;
}
