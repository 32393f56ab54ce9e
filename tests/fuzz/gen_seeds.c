/*
 * gen_seeds.c -- writes the seed corpora of the fuzz targets (tests/fuzz/seeds/<target>/).
 * Built against lib/librnn.a by `make fuzz-seeds`; the seeds are committed, so this only needs
 * to run again when the file format or a target's input layout changes.
 *   gen_seeds OUTDIR    (writes OUTDIR/modelfile, OUTDIR/corpus, OUTDIR/api)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rnn.h"

static const char *g_out;

static void write_file(const char *sub, const char *name, const void *p1, size_t n1, const void *p2, size_t n2)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_out, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_out, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p1, 1, n1, f) != n1 || (n2 && fwrite(p2, 1, n2, f) != n2) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) exit(1);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(*n);
    if (fread(p, 1, *n, f) != *n) exit(1);
    fclose(f);
    return p;
}

/* m saved (flags, application data app of applen bytes) as the seed `name` of fuzz_modelfile
 * (control byte ctl), its bytes first passed to patch when not NULL; frees m. */
static void save_seed(rnn_model *m, const char *name, unsigned flags, const char *app, size_t applen, unsigned char ctl,
                      void (*patch)(unsigned char *, size_t))
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/tmp.bin", g_out);
    if (rnn_model_save(m, tmp, flags, app, applen) != RNN_OK) exit(1);
    size_t n;
    unsigned char *p = slurp(tmp, &n);
    remove(tmp);
    if (patch) patch(p, n);
    write_file("modelfile", name, &ctl, 1, p, n);
    free(p);
    rnn_model_free(m);
}

/* A model file as the seed `name` of fuzz_modelfile (control byte ctl). patch, when not NULL, is
 * called on the file's bytes first (a seed of a file the library would not write). */
static void model_seed_patched(const char *name, int cell, int V, int E, int H, int L, int tied, int vocab, int state,
                               int app, unsigned char ctl, void (*patch)(unsigned char *, size_t))
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = V, cfg.emb_size = E, cfg.hidden_size = H, cfg.num_layers = L;
    cfg.tied = tied, cfg.seed = 42;
    rnn_model *m;
    if (rnn_model_create(&m, &cfg, NULL, NULL, 0) != RNN_OK) exit(1);
    if (vocab) {
        const char *words[8] = {"<eos>", "the", "cat", "sat", "on", "mat", "<unk>", "a"};
        if (rnn_vocab_set(m, words, V) != RNN_OK) exit(1);
    }
    if (state) {
        rnn_model_reset_hidden(m, 2);
        int32_t tok[4] = {1, 2, 3, 0};
        rnn_evaluate(m, tok, NULL, 2, 2, 0, NULL, NULL);
    }
    save_seed(m, name, state ? RNN_SAVE_STATE : 0, app ? "epoch=3" : NULL, app ? 7 : 0, ctl, patch);
}

static void model_seed(const char *name, int cell, int V, int E, int H, int L, int tied, int vocab, int state,
                       int app, unsigned char ctl)
{
    model_seed_patched(name, cell, V, E, H, L, tied, vocab, state, app, ctl, NULL);
}

/* A model file with AdamW's state (the ADMW section): two training steps with rnn_adamw_step,
 * saved with RNN_SAVE_STATE. */
static void adamw_seed(const char *name, int cell, int tied, unsigned char ctl)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = 5, cfg.emb_size = 3, cfg.hidden_size = 3, cfg.num_layers = 1;
    cfg.tied = tied, cfg.seed = 42;
    rnn_model *m;
    if (rnn_model_create(&m, &cfg, NULL, NULL, 0) != RNN_OK || rnn_model_reset_hidden(m, 2) != RNN_OK) exit(1);
    int32_t tok[4] = {1, 2, 3, 0}, tgt[4] = {2, 3, 0, 4};
    for (int k = 0; k < 2; k++)
        if (rnn_forward(m, tok, tgt, 2, 2, 0, NULL) != RNN_OK || rnn_zero_grad(m) != RNN_OK ||
            rnn_backward(m) != RNN_OK || rnn_adamw_step(m, NULL) != RNN_OK)
            exit(1);
    save_seed(m, name, RNN_SAVE_STATE, NULL, 0, ctl, NULL);
}

/* A model with an adaptive output layer (format version 2, OUTP) of nc clusters; adamw: two
 * training steps with rnn_adamw_step, saved with RNN_SAVE_STATE (STAT and ADMW too). */
static void adaptive_seed(const char *name, int cell, int V, int H, int L, int nc, float div, int head_bias, int vocab,
                          int adamw, unsigned char ctl)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = V, cfg.emb_size = 2, cfg.hidden_size = H, cfg.num_layers = L, cfg.seed = 42;
    cfg.output = RNN_OUTPUT_ADAPTIVE, cfg.num_cutoffs = nc, cfg.div_value = div, cfg.head_bias = head_bias;
    for (int i = 0; i < nc; i++) cfg.cutoffs[i] = 1 + 2 * i;
    rnn_model *m;
    if (rnn_model_create(&m, &cfg, NULL, NULL, 0) != RNN_OK) exit(1);
    if (vocab) {
        const char *words[8] = {"<eos>", "the", "cat", "sat", "on", "mat", "<unk>", "a"};
        if (rnn_vocab_set(m, words, V) != RNN_OK) exit(1);
    }
    if (adamw) {
        int32_t tok[4] = {1, 2, 3, 0}, tgt[4] = {2, 3, 0, (int32_t)V - 1};
        if (rnn_model_reset_hidden(m, 2) != RNN_OK) exit(1);
        for (int k = 0; k < 2; k++)
            if (rnn_forward(m, tok, tgt, 2, 2, 0, NULL) != RNN_OK || rnn_zero_grad(m) != RNN_OK ||
                rnn_backward(m) != RNN_OK || rnn_adamw_step(m, NULL) != RNN_OK)
                exit(1);
    }
    save_seed(m, name, adamw ? RNN_SAVE_STATE : 0, NULL, 0, ctl, NULL);
}

/* A quantized model file (QPRM, format version 3; rnn_model_quantize to `type`) with a
 * vocabulary; E = 33 gives a row of two q8 blocks, the second of one value. */
static void quant_seed(const char *name, int cell, int tied, int type, unsigned char ctl)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = 5, cfg.emb_size = 33, cfg.hidden_size = tied ? 33 : 3, cfg.num_layers = 1;
    cfg.tied = tied, cfg.seed = 42;
    rnn_model *m;
    const char *words[5] = {"<eos>", "the", "cat", "sat", "on"};
    if (rnn_model_create(&m, &cfg, NULL, NULL, 0) != RNN_OK || rnn_vocab_set(m, words, 5) != RNN_OK ||
        rnn_model_quantize(m, type) != RNN_OK)
        exit(1);
    save_seed(m, name, 0, NULL, 0, ctl, NULL);
}

/* The vocabulary's "cat" becomes a second "the" (the CRC is left stale: the seed's control byte
 * asks fuzz_modelfile to fix it), a file the loaders must refuse. */
static void dup_word(unsigned char *p, size_t n)
{
    for (size_t i = 0; i + 7 <= n; i++)
        if (memcmp(p + i, "\3\0\0\0cat", 7) == 0) {
            memcpy(p + i + 4, "the", 3);
            return;
        }
    exit(1);
}

static void text_seed(const char *name, unsigned flags, unsigned batch, unsigned bptt, const char *text, size_t n)
{
    unsigned char hdr[4] = {(unsigned char)flags, (unsigned char)(batch + 8), (unsigned char)(bptt + 8), 3};
    write_file("corpus", name, hdr, 4, text, n);
}
#define TEXT(name, flags, batch, bptt, lit) text_seed(name, flags, batch, bptt, lit, sizeof lit - 1)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds OUTDIR\n");
        return 2;
    }
    g_out = argv[1];
    mkdir(g_out, 0755);

    /* model files: every cell, tied and untied, with and without vocabulary/state/app data */
    model_seed("tanh_l1", RNN_CELL_TANH, 3, 2, 2, 1, 0, 0, 0, 0, 0);
    model_seed("relu_l2_tied", RNN_CELL_RELU, 4, 3, 3, 2, 1, 1, 0, 0, 0);
    model_seed("lstm_l2_vocab", RNN_CELL_LSTM, 5, 2, 3, 2, 0, 1, 0, 0, 0);
    model_seed("lstm_state_app", RNN_CELL_LSTM, 4, 2, 2, 1, 0, 1, 1, 1, 0);
    model_seed("gru_l1_tied_state", RNN_CELL_GRU, 6, 2, 2, 1, 1, 1, 1, 0, 0);
    model_seed("gru_l3", RNN_CELL_GRU, 3, 1, 1, 3, 0, 0, 0, 1, 0);
    model_seed("tanh_fixcrc", RNN_CELL_TANH, 8, 2, 2, 2, 0, 1, 1, 1, 1);
    model_seed("lstm_fixcrc_failalloc", RNN_CELL_LSTM, 3, 2, 2, 1, 0, 1, 0, 0, 1 | (3 << 1));
    model_seed("gru_state_app_nostate", RNN_CELL_GRU, 5, 3, 3, 2, 0, 1, 1, 1, 32); /* RNN_LOAD_NO_STATE */
    model_seed("tanh_badflag", RNN_CELL_TANH, 3, 2, 2, 1, 0, 1, 0, 0, 0xC0);      /* an unknown load flag */
    model_seed_patched("lstm_dup_word_fixcrc", RNN_CELL_LSTM, 4, 2, 2, 1, 0, 1, 0, 0, 1, dup_word);
    adamw_seed("lstm_adamw_state", RNN_CELL_LSTM, 0, 0);
    adamw_seed("gru_tied_adamw_fixcrc", RNN_CELL_GRU, 1, 1);
    adamw_seed("tanh_adamw_nostate", RNN_CELL_TANH, 0, 32); /* RNN_LOAD_NO_STATE */
    adaptive_seed("lstm_adaptive_c1_vocab", RNN_CELL_LSTM, 6, 4, 1, 1, 0.0f, 0, 1, 0, 0);
    adaptive_seed("gru_adaptive_c2_bias_adamw_fixcrc", RNN_CELL_GRU, 7, 4, 2, 2, 2.0f, 1, 1, 1, 1);
    adaptive_seed("tanh_adaptive_c3_bias_fixcrc", RNN_CELL_TANH, 8, 8, 1, 3, 2.0f, 1, 0, 0, 1);
    adaptive_seed("relu_adaptive_c2_fixcrc_failalloc", RNN_CELL_RELU, 5, 4, 1, 2, 1.5f, 0, 1, 0, 1 | (4 << 1));
    adaptive_seed("lstm_adaptive_adamw_nostate", RNN_CELL_LSTM, 6, 4, 1, 2, 2.0f, 1, 1, 1, 32); /* RNN_LOAD_NO_STATE */
    quant_seed("lstm_q8", RNN_CELL_LSTM, 0, RNN_WEIGHTS_Q8, 0);
    quant_seed("gru_tied_q8_fixcrc", RNN_CELL_GRU, 1, RNN_WEIGHTS_Q8, 1);
    quant_seed("tanh_bf16_fixcrc", RNN_CELL_TANH, 0, RNN_WEIGHTS_BF16, 1);
    write_file("modelfile", "empty", "\0", 1, NULL, 0);
    write_file("modelfile", "header_only", "\0RNNMODEL\1\0\0\0\0\0\0\0", 17, NULL, 0);

    /* corpus texts: header (flags, batch, bptt, pad offset) + text */
    TEXT("plain", 0, 2, 3, "the cat sat on the mat\nthe dog sat on the log\n");
    TEXT("crlf_cr_blank", 2, 1, 2, "a b\r\nc\rd\n\n\ne f g");
    TEXT("unicode_space", 0, 3, 1, "x\xc2\xa0y\xe2\x80\x83z\xe3\x80\x80w\x1c\x1dv\xe2\x80\xa8u\xc2\x85t\n");
    TEXT("utf8_words", 0, 1, 4, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 na\xc3\xafve\n<unk> <eos>\n");
    TEXT("bom", 2, 2, 2, "\xef\xbb\xbfhello world\nhello\n");
    TEXT("bad_utf8", 0, 1, 1, "ok \xc0\xaf bad\n");
    TEXT("surrogate", 0, 1, 1, "a \xed\xa0\x80 b\n");
    TEXT("truncated", 0, 1, 1, "a b \xe2\x82");
    TEXT("nul", 0, 1, 1, "a\0b\n");
    TEXT("empty", 0, 1, 1, "");
    TEXT("boundary", 5, 2, 2, "xyz \xe2\x80\x83 \xf0\x9f\x98\x80\r\n\xc3\xa9");
    TEXT("tabs_vt_ff", 3, 2, 5, "\ta\x0b b\x0c c  \t\n  \n d");

    /* api programs: header (cell, V, E, H, L, tied|dropout, seed, fail_at lo, hi) + ops */
    static const unsigned char api_train[] = {
        2, 5, 3, 3, 1, 0, 7, 0, 0,
        0, 3,                                    /* reset_state(2) */
        2, 1, 1, 2, 1, 1, 2, 3, 4, 0, 1, 3, 2, 1, 1, 2, 3, 4, 0, 1, 3, 2, /* forward 2x3 */
        5,                                       /* backward */
        8, 24,                                   /* clip */
        9, 20,                                   /* sgd */
        11, 1, 2, 3, 1, 1, 1, 2, 3, 4, 0, 1, 1, 3, 2, 1, 0, 4, 1, 2, /* evaluate */
        13, 1, 1, 10, 1, 1, 2,                   /* sample */
        22, 0, 0, 3, 5,                          /* state 0 create(2) */
        22, 8, 0, 3, 1, 1, 2, 3, 4, 0, 1,        /* score */
        22, 11, 0, 7, 40, 3, 200, 4,             /* generate with T, k, p */
        22, 3, 0, 1,                             /* copy 0 -> 1 (empty) */
        22, 4, 0, 2,                             /* clone 0 -> 2 */
        22, 10, 2, 0,                            /* next */
        20, 1,                                   /* save/load with state */
        17, 3, 1, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 12,
        18, 1, 1, 2, 3, 4, 5, 2,                 /* vocab_set */
        19, 4, 1, 2, 3, 4,                       /* app data */
        15, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, /* set_state */
        16, 1,
    };
    write_file("api", "train_lstm", api_train, sizeof api_train, NULL, 0);

    /* the 1.0 operations (op bytes 216-239; fuzz_api.c); a token row starts with a byte whose low 3
       bits are not all 0 (all valid ids) */
    static const unsigned char api_v1[] = {
        2, 5, 3, 3, 1, 0, 7, 0, 0,               /* LSTM, V 6, E = H = 4, L 2 */
        0, 3,                                    /* reset_hidden(2) */
        231, 1, 1, 2, 7, 0, 8, 1, 9, 2, 10, 3,   /* vocab_set <unk> <eos> ac bd ce df */
        216, 1, 3,                               /* vocab_find(word 3) */
        217, 0, 3, 0, 1, 2,                      /* vocab_find("ab<") */
        218, 5, 2, 126, 3, 112, 137, 3, 10, 0,   /* encode "ac bd\u00a0zz", EOS | UNK_MAP */
        219, 2, 130, 139, 0, 5, 0,               /* encode invalid UTF-8 */
        220, 3, 2, 126, 3, 1, 1, 0,              /* encode with cap 1: RNN_ERR_SIZE */
        19, 4, 'a', 'b', 'c', 'd',               /* app data for the next save */
        221, 3, 10, 0, 0, 20, 0, 30, 0, 7,       /* save_mem / load_mem with state and app data */
        222, 5, 100, 0, 3, 50, 0, 200, 0, 3,     /* ... RNN_LOAD_NO_STATE, allocation 3 fails */
        223, 1, 3, 1, 1, 0, 1, 2, 3, 1, 2, 3, 4, 5, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, /* forward, stride 5 */
        223, 1, 3, 2,                            /* forward, stride 1 < steps 4 */
        5,                                       /* backward */
        224, 2, 1, 1, 0, 1, 2, 1, 3, 4, 5, 1, 0, 1, 2, 1, 5, 4, 3, /* evaluate dense vs stride 4 */
        22, 0, 0, 3, 5,                          /* state 0 create(2) */
        226, 0, 2, 0, 1, 0, 1, 2, 1, 2, 3, 4,    /* state score dense vs stride 4 */
        227, 0, 2, 4, 1, 0, 1, 2, 1, 2, 3, 4,    /* state feed dense vs stride 4 */
        226, 0, 3, 0x1C, 1, 0, 1, 2, 3, 1, 1, 2, 3, 4, /* state feed with stride 2 < steps 4 */
        228, 1, 6, 3, 200, 6, 1, 1, 2,           /* sample with top-k, top-p, a longer struct */
        230, 0, 1, 64, 4, 2,                     /* state generate, a shorter struct */
        233, 3, 3, 5,                            /* limits, cells, status strings */
        234, 0, 2,                               /* get_config with a shorter struct */
        234, 1, 3, 2,                            /* param_get with a longer struct */
        20, 1,                                   /* save/load with state and app data */
        231, 1, 1, 1, 7, 0, 7, 1, 7, 2, 7, 3,    /* vocab_set with <unk> twice: refused */
    };
    for (int cell = 0; cell < 4; cell++) {
        unsigned char p[sizeof api_v1];
        memcpy(p, api_v1, sizeof p);
        p[0] = (unsigned char)cell;
        char name[32];
        snprintf(name, sizeof name, "v1_ops_cell%d", cell);
        write_file("api", name, p, sizeof p, NULL, 0);
    }
    for (int cell = 0; cell < 4; cell++) {
        unsigned char p[sizeof api_train];
        memcpy(p, api_train, sizeof p);
        p[0] = (unsigned char)cell;
        p[4] = (unsigned char)(cell % 3);        /* layers */
        p[5] = (unsigned char)(cell & 1 ? 3 : 2); /* tied / dropout */
        char name[32];
        snprintf(name, sizeof name, "train_cell%d", cell);
        write_file("api", name, p, sizeof p, NULL, 0);
        p[7] = (unsigned char)(5 + cell * 3);   /* a failing allocation */
        snprintf(name, sizeof name, "train_cell%d_nomem", cell);
        write_file("api", name, p, sizeof p, NULL, 0);
    }
    return 0;
}
