/*
 * cli_info.c -- `rnnlm info`: what a model file holds (configuration, output layer, parameter
 * count, format version, training state and, with --vocab, the vocabulary), without running the
 * model.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct info_args {
    const char *checkpoint;
    int vocab, json;
} info_args;

#define FLAG(n, a, k, field) CLI_FLAG_AT(info_args, n, a, k, field)

static const cli_flag info_flags[] = {
    {FLAG("checkpoint", "FILE", CLI_STR, checkpoint), .what = CLI_REQUIRED,
     .help = "model file (rnnlm train's --save, or a SAVE.ckpt checkpoint)"},
    {FLAG("vocab", NULL, CLI_FLAG, vocab), .help = "also print the vocabulary: ID<TAB>WORD, one per line"},
    {FLAG("json", NULL, CLI_FLAG, json), .help = "print one JSON object instead"},
};

static const char info_head[] =
    "usage: rnnlm info --checkpoint FILE [--vocab] [--json]\n"
    "\n"
    "Prints what a model file holds: its format version (docs/FORMAT.md), the configuration\n"
    "(cell, sizes, layers, dropout, tied, seed), the output layer (the full softmax, or the\n"
    "adaptive softmax with its cutoffs, div_value, head bias, and each cluster's words and\n"
    "projection), the vocabulary size, the number of parameters\n"
    "(PyTorch's sum of p.numel() over model.parameters()), whether its weights are finite, and\n"
    "whether it holds a training state: a saved hidden state and generator, and application\n"
    "data (an rnnlm train checkpoint's loop position and flags).\n"
    "\n";

static const cli_command info_command = {"info", info_flags, (int)(sizeof info_flags / sizeof info_flags[0]), 14,
                                         info_head, NULL};

/* The format version in the file's header (docs/FORMAT.md: "RNNMODEL", then a little-endian u32
   version); the library reads the file next and names any problem in it. */
static int read_version(const char *path, unsigned long *version)
{
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, CLI_RUNTIME, "cannot open %s: %s", path, strerror(errno));
    unsigned char head[12];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    RETURN_ERROR_IF(n != sizeof head || memcmp(head, "RNNMODEL", 8) != 0, CLI_RUNTIME,
                    "%s is not a librnn model (it does not begin with RNNMODEL)", path);
    *version = (unsigned long)head[8] | (unsigned long)head[9] << 8 | (unsigned long)head[10] << 16 |
               (unsigned long)head[11] << 24;
    return CLI_OK;
}

/* s as a JSON string */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* What the file says about its training state: the application data's first line when it is an
   rnnlm checkpoint's ("rnnlm-train-checkpoint 1"), otherwise "" (kind, n bytes). */
static void app_kind(const rnn_model *m, char *kind, size_t n, size_t *len)
{
    const void *data = NULL;
    rnn_model_get_app_data(m, &data, len);
    kind[0] = 0;
    static const char tag[] = "rnnlm-train-checkpoint ";
    if (!data || *len < sizeof tag - 1 || memcmp(data, tag, sizeof tag - 1) != 0) return;
    const char *nl = memchr(data, '\n', *len);
    size_t k = nl ? (size_t)(nl - (const char *)data) : *len;
    if (k >= n) k = n - 1;
    memcpy(kind, data, k);
    kind[k] = 0;
}

/* The adaptive output layer's clusters: sizes[i] words (ids cutoffs[i] .. cutoffs[i+1] - 1, the last
   up to V - 1) through a projection of proj[i] units (the rows of decoder.tail.{i}.0.weight). */
static void clusters(const rnn_model *m, const rnn_config *c, int *sizes, int *proj)
{
    for (int i = 0; i < c->num_cutoffs; i++) {
        sizes[i] = (i + 1 < c->num_cutoffs ? c->cutoffs[i + 1] : c->vocab_size) - c->cutoffs[i];
        char name[64];
        snprintf(name, sizeof name, "decoder.tail.%d.0.weight", i);
        rnn_param p = {.struct_size = sizeof p};
        proj[i] = rnn_param_find(m, name, &p) == RNN_OK ? p.rows : 0;
    }
}

/* a JSON array of n ints */
static void json_ints(const int *v, int n)
{
    fputc('[', stdout);
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", v[i]);
    fputc(']', stdout);
}

static int print_info(const info_args *a, const rnn_model *m, unsigned long version)
{
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    RETURN_ERROR_IF(rnn_model_get_config(m, &c) != RNN_OK, CLI_RUNTIME, "%s", rnn_model_errmsg(m));
    const char *cell = "?";
    rnn_cell_name(c.cell, &cell);
    int ntensors = 0, words = 0, batch = 0;
    rnn_param_get_count(m, &ntensors);
    unsigned long long params = 0;
    for (int i = 0; i < ntensors; i++) {
        rnn_param p = {.struct_size = sizeof p};
        RETURN_ERROR_IF(rnn_param_get(m, i, &p) != RNN_OK, CLI_RUNTIME, "%s", rnn_model_errmsg(m));
        params += p.size;
    }
    rnn_vocab_get_size(m, &words);
    rnn_model_get_batch(m, &batch);
    int wt = RNN_WEIGHTS_FP32;
    rnn_model_get_weight_type(m, &wt);
    const char *wname = wt == RNN_WEIGHTS_Q8 ? "q8" : wt == RNN_WEIGHTS_BF16 ? "bf16" : "fp32";
    char where[128] = "", kind[64];
    int finite = cli_weights_finite(m, where, sizeof where);
    size_t app = 0;
    app_kind(m, kind, sizeof kind, &app);
    int adaptive = c.output == RNN_OUTPUT_ADAPTIVE, nc = adaptive ? c.num_cutoffs : 0;
    int sizes[RNN_MAX_CUTOFFS], proj[RNN_MAX_CUTOFFS];
    clusters(m, &c, sizes, proj);
    if (a->json) {
        printf("{\"file\":");
        json_str(stdout, a->checkpoint);
        printf(",\"format_version\":%lu,\"cell\":\"%s\",\"vocab_size\":%d,\"emb_size\":%d,\"hidden_size\":%d,"
               "\"num_layers\":%d,",
               version, cell, c.vocab_size, c.emb_size, c.hidden_size, c.num_layers);
        printf("\"dropout\":%g,", (double)c.dropout); /* (a float in [0, 1): %g gives what was set) */
        /* the output layer: "full" (the adaptive fields null) or "adaptive" */
        printf("\"output\":\"%s\",\"cutoffs\":", adaptive ? "adaptive" : "full");
        if (adaptive) {
            json_ints(c.cutoffs, nc);
            printf(",\"div_value\":%.9g,\"head_bias\":%s,\"head_size\":%d,\"cluster_sizes\":", (double)c.div_value,
                   c.head_bias ? "true" : "false", c.cutoffs[0] + nc);
            json_ints(sizes, nc);
            fputs(",\"projections\":", stdout);
            json_ints(proj, nc);
            fputc(',', stdout);
        } else {
            fputs("null,\"div_value\":null,\"head_bias\":null,\"head_size\":null,\"cluster_sizes\":null,"
                  "\"projections\":null,", stdout);
        }
        printf("\"tied\":%s,\"seed\":%llu,\"parameters\":%llu,\"tensors\":%d,\"vocabulary\":%d,\"finite\":%s,"
               "\"hidden_state_batch\":%d,\"app_data_bytes\":%zu,\"weight_type\":\"%s\",\"checkpoint\":",
               c.tied ? "true" : "false", (unsigned long long)c.seed, params, ntensors, words,
               finite ? "true" : "false", batch, app, wname);
        if (kind[0]) json_str(stdout, kind);
        else fputs("null", stdout);
        if (a->vocab) {
            fputs(",\"words\":[", stdout);
            for (int i = 0; i < words; i++) {
                const char *w = "";
                rnn_vocab_get_word(m, i, &w);
                if (i) fputc(',', stdout);
                json_str(stdout, w);
            }
            fputc(']', stdout);
        }
        fputs("}\n", stdout);
        return CLI_OK;
    }
    printf("file            %s\n", a->checkpoint);
    printf("format version  %lu\n", version);
    printf("cell            %s\n", cell);
    printf("vocab_size      %d\n", c.vocab_size);
    printf("emb_size        %d\n", c.emb_size);
    printf("hidden_size     %d\n", c.hidden_size);
    printf("num_layers      %d\n", c.num_layers);
    printf("dropout         %g\n", (double)c.dropout);
    printf("tied            %s\n", c.tied ? "yes" : "no");
    printf("seed            %llu\n", (unsigned long long)c.seed);
    if (adaptive) {
        printf("output          adaptive softmax: cutoffs ");
        for (int i = 0; i < nc; i++) printf(i ? ",%d" : "%d", c.cutoffs[i]);
        printf(", div_value %g, head bias %s\n", (double)c.div_value, c.head_bias ? "yes" : "no");
        printf("  head          %d rows: words 0-%d and %d cluster%s\n", c.cutoffs[0] + nc, c.cutoffs[0] - 1, nc,
               nc == 1 ? "" : "s");
        for (int i = 0; i < nc; i++)
            printf("  cluster %d     %d words (%d-%d) through %d projection unit%s\n", i, sizes[i], c.cutoffs[i],
                   c.cutoffs[i] + sizes[i] - 1, proj[i], proj[i] == 1 ? "" : "s");
    } else {
        printf("output          full softmax\n");
    }
    printf("parameters      %llu in %d tensors\n", params, ntensors);
    printf("vocabulary      %s\n", words > 0 ? "yes" : "none");
    printf("weights         %s%s\n", finite ? "finite" : "NOT finite: ", finite ? "" : where);
    printf("weight type     %s%s\n", wname, wt ? " (quantized: inference only)" : "");
    if (batch > 0) printf("hidden state    saved, %d stream%s (with its generator)\n", batch, batch == 1 ? "" : "s");
    else printf("hidden state    not saved\n");
    if (app > 0) printf("app data        %zu bytes%s%s\n", app, kind[0] ? ": " : "", kind);
    else printf("app data        none\n");
    for (int i = 0; a->vocab && i < words; i++) {
        const char *w = "";
        rnn_vocab_get_word(m, i, &w);
        printf("%d\t%s\n", i, w);
    }
    return CLI_OK;
}

int cli_info(int argc, char **argv)
{
    info_args a;
    int help = 0;
    memset(&a, 0, sizeof a);
    FORWARD_IF_ERROR(cli_parse(&info_command, argc, argv, &a, NULL, &help));
    if (help) return cli_help(&info_command);
    FORWARD_IF_ERROR(cli_require(&info_command, &a));
    unsigned long version = 0;
    FORWARD_IF_ERROR(read_version(a.checkpoint, &version));
    char err[PATH_MAX + 512] = "";
    rnn_model *m = NULL;
    int lrc = rnn_model_load(&m, a.checkpoint, NULL, 0, err, sizeof err);
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "cannot load %s (format version %lu): %s", a.checkpoint, version,
                    err[0] ? err : rnn_status_string(lrc));
    int rc = print_info(&a, m, version);
    rnn_model_free(m);
    return rc;
}
