/*
 * main.c -- rnnlm, PyTorch's examples/word_language_model (main.py + generate.py) as one C
 * program on librnn. The commands live in cli_train.c (with cli_train_flags.c, its flags;
 * cli_resume.c, checkpoints and --resume; cli_ckpt.c, the checkpoint format; cli_progress.c, its
 * reports), cli_eval.c, cli_generate.c, cli_score.c and cli_info.c; each command's flags are a table
 * (cli_flag) that cli_opts.c parses and prints --help from; cli_util.c has what they share.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: rnnlm COMMAND [flags]\n"
    "\n"
    "Word-level RNN language models (PyTorch's examples/word_language_model) on librnn.\n"
    "\n"
    "commands:\n"
    "  train     train a model on DIR/{train,valid,test}.txt (main.py); checkpoints and --resume\n"
    "  eval      perplexity of a saved model on a text file (main.py's evaluate)\n"
    "  generate  sample text from a saved model (generate.py; temperature, top-k, top-p, min-p,\n"
    "            repetition penalty, --prompt-file, --stop-at-eos)\n"
    "  score     log-probability of every line of a text file, and the perplexity\n"
    "  info      what a model file holds: configuration, parameters, format, vocabulary\n"
    "  quantize  a model with bf16 or q8 weights, for faster inference from a smaller file\n"
    "\n"
    "  rnnlm COMMAND --help   the flags of a command\n"
    "  rnnlm --version        the librnn version\n"
    "\n"
    "Flags are given as --flag VALUE or --flag=VALUE. Exit status: 0 ok, 1 runtime error (files,\n"
    "corpus, model), 2 usage error (bad flag or value).\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    int rc = CLI_OK;
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        fputs(usage, stdout);
    else if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0)
        printf("rnnlm (librnn) %s\n", rnn_version_string());
    else if (strcmp(cmd, "train") == 0) rc = cli_train(argc - 1, argv + 1);
    else if (strcmp(cmd, "eval") == 0) rc = cli_eval(argc - 1, argv + 1);
    else if (strcmp(cmd, "generate") == 0) rc = cli_generate(argc - 1, argv + 1);
    else if (strcmp(cmd, "score") == 0) rc = cli_score(argc - 1, argv + 1);
    else if (strcmp(cmd, "info") == 0) rc = cli_info(argc - 1, argv + 1);
    else if (strcmp(cmd, "quantize") == 0) rc = cli_quantize(argc - 1, argv + 1);
    else RETURN_ERROR(CLI_USAGE, "unknown command '%s' (try rnnlm --help)", cmd);
    /* the result (and the log) on stdout was written: a full disk or a closed pipe is an error */
    return rc == CLI_OK ? cli_stdout_flush() : rc;
}
