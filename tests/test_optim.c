/*
 * test_optim.c -- AdamW (rnn_adamw_*, src/optim.c) and its state in model files:
 *   - against PyTorch: golden data from tests/torch_golden.py (the .bin files of RNN_GOLDEN_DIR's
 *     adamw folder): main.py's loop with --use-optimizer (forward, zero_grad, backward,
 *     clip_grad_norm_, AdamW.step() with non-default options, the lr divided by 4 part-way).
 *     Two comparisons, tensor-relative, the worst error of each printed:
 *     (1) the optimizer: from PyTorch's weights, rnn_adamw_step on PyTorch's gradients of every
 *         step; every parameter after every step and the final moments within TOL_OPT (1e-5);
 *     (2) the whole loop on librnn's own gradients: every loss and parameter within TOL_LOOP
 *         (1e-4, the tolerance of test_golden.c). Adam divides each gradient by its running RMS,
 *         so where |grad| is near eps the last-bit differences of the two backward passes grow:
 *         d(update)/d(grad) is up to lr / (4 eps) (here 5000), which (1) takes out;
 *   - the update against a direct double-free transcription of torch's formula on a hand-made
 *     gradient (bit for bit), thread counts (same bits), rnn_adamw_reset, the allocation;
 *   - exact resume: k steps, rnn_model_save_mem with RNN_SAVE_STATE, load, the rest: the same bytes
 *     as an uninterrupted run; without RNN_SAVE_STATE (or with RNN_LOAD_NO_STATE) no state;
 *   - argument checks (each leaves the model as it was), a non-finite gradient, and the loader's
 *     checks of the ADMW section (each a format error).
 * Without golden data (RNN_GOLDEN_DIR unset or no adamw/ there) the PyTorch test passes, saying why.
 */
#include "testutil.h"
#include "golden.h"

#include <stdio.h>
#include <string.h>

#define RNN_EXPERT_API /* rnn_param_get_block */
#include "rnn.h"

#define TOL_OPT 1e-5
#define TOL_LOOP 1e-4

/* ---- model images and their sections -------------------------------------------------------------- */

/* The model's memory image (malloc'd, *len bytes). */
static unsigned char *image(const rnn_model *m, unsigned flags, size_t *len)
{
    ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, len, flags, NULL, 0), RNN_OK);
    unsigned char *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(rnn_model_save_mem(m, b, *len, len, flags, NULL, 0), RNN_OK);
    return b;
}

/* The offset of the section `tag` in an image (its 12-byte header), or 0 when it has none. */
static size_t find_section(const unsigned char *b, size_t len, const char *tag)
{
    for (size_t pos = 16; pos + 16 <= len;) {
        uint64_t plen = (uint64_t)tu_get32(b + pos + 4) | (uint64_t)tu_get32(b + pos + 8) << 32;
        if (memcmp(b + pos, tag, 4) == 0) return pos;
        if (memcmp(b + pos, "END ", 4) == 0) break;
        pos += 16 + (size_t)plen;
    }
    return 0;
}
static uint64_t section_len(const unsigned char *b, size_t at)
{
    return (uint64_t)tu_get32(b + at + 4) | (uint64_t)tu_get32(b + at + 8) << 32;
}
static void fix_crc(unsigned char *b, size_t at)
{
    size_t n = (size_t)section_len(b, at);
    tu_put32(b + at + 12 + n, tu_crc32c(b + at, 12 + n));
}

/* ---- small models and a training step -------------------------------------------------------- */
static rnn_model *small_model(int cell, int tied, float dropout)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = 23, cfg.emb_size = 6, cfg.hidden_size = tied ? 6 : 7;
    cfg.num_layers = 2, cfg.tied = tied, cfg.dropout = dropout, cfg.seed = 77;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, NULL, 0), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(m, 3), RNN_OK);
    return m;
}

/* Batch k of a fixed token stream: forward, zero_grad, backward, clip. */
static void grads_for(rnn_model *m, int k)
{
    enum { B = 3, T = 4 };
    int32_t tok[B * T], tgt[B * T];
    uint64_t s = 1000 + (uint64_t)k;
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(tu_next(&s) % 23), tgt[i] = (int32_t)(tu_next(&s) % 23);
    double loss;
    ck_assert_int_eq(rnn_forward(m, tok, tgt, B, T, 0, &loss), RNN_OK);
    ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
    ck_assert_int_eq(rnn_backward(m), RNN_OK);
    ck_assert_int_eq(rnn_clip_grad_norm(m, 0.5f, NULL), RNN_OK);
}

static rnn_adamw options(void)
{
    rnn_adamw o;
    ck_assert_int_eq(rnn_adamw_init(&o, sizeof o), RNN_OK);
    o.lr = 0.01, o.beta1 = 0.85, o.beta2 = 0.99, o.eps = 1e-7, o.weight_decay = 0.05;
    return o;
}

static void train_steps(rnn_model *m, int from, int to)
{
    rnn_adamw o = options();
    for (int k = from; k < to; k++) {
        grads_for(m, k);
        if (k >= 3) o.lr = 0.0025; /* an annealed lr, as rnnlm applies it */
        ck_assert_int_eq(rnn_adamw_step(m, &o), RNN_OK);
    }
}

/* ---- PyTorch ------------------------------------------------------------------------------------ */
static double g_worst[2];        /* (1) the optimizer on PyTorch's gradients, (2) the whole loop */
static char g_worst_what[2][160];

static void cmp(int replay, const char *file, const char *what, const float *got, const garray *ref, size_t n)
{
    int w = !replay;
    double tol = replay ? TOL_OPT : TOL_LOOP;
    ck_assert_msg(ref != NULL, "%s: %s missing from the golden file", file, what);
    ck_assert_msg(ref->n == n, "%s: %s has %zu values, the model %zu", file, what, ref->n, n);
    double e = tu_rel_err(got, ref->data, n);
    if (getenv("RNN_GOLDEN_VERBOSE")) printf("adamw golden %s %s: %s rel err %.3g\n", replay ? "optimizer" : "loop", file, what, e);
    if (e > g_worst[w]) g_worst[w] = e, snprintf(g_worst_what[w], sizeof g_worst_what[w], "%s: %s", file, what);
    ck_assert_msg(e <= tol, "%s (%s): %s rel err %.3g > %g", file, replay ? "optimizer" : "loop", what, e, tol);
}

/* replay: PyTorch's gradients of every step into the gradient block instead of librnn's own */
static void golden_case(const char *dir, const char *file, int replay)
{
    char path[1024], err[1200], name[200];
    snprintf(path, sizeof path, "%s/adamw/%s", dir, file);
    gfile g;
    ck_assert_msg(gfile_load(&g, path, err, sizeof err) == 0, "%s", err);
    const garray *conf = gfile_get(&g, "config", G_I32), *clip = gfile_get(&g, "clip", G_F32),
                 *opts = gfile_get(&g, "adamw", G_F32), *tok = gfile_get(&g, "train/tokens", G_I32),
                 *tgt = gfile_get(&g, "train/targets", G_I32), *loss = gfile_get(&g, "train/loss", G_F32),
                 *h0 = gfile_get(&g, "h0", G_F32), *c0 = gfile_get(&g, "c0", G_F32);
    ck_assert(conf && conf->n == 9 && clip && opts && opts->n == 6 && tok && tgt && loss && h0);
    const int32_t *c = conf->data;
    int B = c[6], T = c[7], steps = c[8];
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = c[0], cfg.vocab_size = c[1], cfg.emb_size = c[2], cfg.hidden_size = c[3];
    cfg.num_layers = c[4], cfg.tied = c[5], cfg.dropout = 0;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, NULL, 0), RNN_OK);
    int np;
    ck_assert_int_eq(rnn_param_get_count(m, &np), RNN_OK);
    for (int k = 0; k < np; k++) {
        rnn_param p = {.struct_size = sizeof p};
        ck_assert_int_eq(rnn_param_get(m, k, &p), RNN_OK);
        snprintf(name, sizeof name, "init/%s", p.name);
        const garray *a = gfile_get(&g, name, G_F32);
        ck_assert_msg(a && a->n == p.size, "%s: %s", file, name);
        memcpy(p.data, a->data, p.size * sizeof(float));
    }
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK);
    ck_assert_int_eq(rnn_model_set_hidden(m, B, h0->data, c0 ? c0->data : NULL), RNN_OK);
    const float *o = opts->data;
    rnn_adamw opt;
    ck_assert_int_eq(rnn_adamw_init(&opt, sizeof opt), RNN_OK);
    opt.lr = o[0], opt.beta1 = o[1], opt.beta2 = o[2], opt.eps = o[3], opt.weight_decay = o[4];
    for (int k = 1; k <= steps; k++) {
        if (k == (int)o[5]) opt.lr /= 4.0;
        const int32_t *tk = (const int32_t *)tok->data + (size_t)(k - 1) * B * T;
        const int32_t *tg = (const int32_t *)tgt->data + (size_t)(k - 1) * B * T;
        double l;
        ck_assert_int_eq(rnn_forward(m, tk, tg, B, T, 0, &l), RNN_OK);
        ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
        ck_assert_int_eq(rnn_backward(m), RNN_OK);
        ck_assert_int_eq(rnn_clip_grad_norm(m, *(const float *)clip->data, NULL), RNN_OK);
        for (int i = 0; replay && i < np; i++) {
            rnn_param p = {.struct_size = sizeof p};
            ck_assert_int_eq(rnn_param_get(m, i, &p), RNN_OK);
            snprintf(name, sizeof name, "grad%d/%s", k, p.name);
            const garray *a = gfile_get(&g, name, G_F32);
            ck_assert_msg(a && a->n == p.size, "%s: %s", file, name);
            memcpy(p.grad, a->data, p.size * sizeof(float));
        }
        ck_assert_int_eq(rnn_adamw_step(m, &opt), RNN_OK);
        float lf = (float)l;
        snprintf(name, sizeof name, "loss of step %d", k);
        if (!replay) cmp(replay, file, name, &lf, &(garray){.n = 1, .data = (float *)loss->data + k - 1}, 1);
        for (int i = 0; i < np; i++) {
            rnn_param p = {.struct_size = sizeof p};
            ck_assert_int_eq(rnn_param_get(m, i, &p), RNN_OK);
            snprintf(name, sizeof name, "step%d/%s", k, p.name);
            cmp(replay, file, name, p.data, gfile_get(&g, name, G_F32), p.size);
        }
    }
    int64_t step;
    ck_assert_int_eq(rnn_adamw_get_step(m, &step), RNN_OK);
    ck_assert_int_eq(step, steps);
    /* the moments, from the ADMW section of the model's image */
    size_t len;
    unsigned char *b = image(m, RNN_SAVE_STATE, &len);
    size_t at = find_section(b, len, "ADMW");
    float *block;
    size_t count;
    ck_assert_int_eq(rnn_param_get_block(m, &block, NULL, &count), RNN_OK);
    ck_assert_msg(at && section_len(b, at) == 8 + 8 * (uint64_t)count, "no ADMW section of the right size");
    float *mom = malloc(2 * count * sizeof(float));
    memcpy(mom, b + at + 20, 2 * count * sizeof(float)); /* (a little-endian host, as golden.h) */
    for (int i = 0; i < np; i++) {
        rnn_param p = {.struct_size = sizeof p};
        ck_assert_int_eq(rnn_param_get(m, i, &p), RNN_OK);
        size_t off = (size_t)(p.data - block);
        snprintf(name, sizeof name, "final/exp_avg/%s", p.name);
        cmp(replay, file, name, mom + off, gfile_get(&g, name, G_F32), p.size);
        snprintf(name, sizeof name, "final/exp_avg_sq/%s", p.name);
        cmp(replay, file, name, mom + count + off, gfile_get(&g, name, G_F32), p.size);
    }
    free(mom);
    free(b);
    rnn_model_free(m);
    gfile_free(&g);
}

START_TEST(test_torch_golden)
{
    const char *dir = getenv("RNN_GOLDEN_DIR");
    static const char *const files[] = {"LSTM_L2_untied.bin", "GRU_L2_tied.bin"};
    char path[1024];
    snprintf(path, sizeof path, "%s/adamw/%s", dir ? dir : "", files[0]);
    FILE *f = dir ? fopen(path, "rb") : NULL;
    if (!f) {
        printf("test_optim: no AdamW golden data (%s): the PyTorch comparison is skipped "
               "(make check writes it with python3-torch)\n", dir ? path : "RNN_GOLDEN_DIR unset");
        return;
    }
    fclose(f);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) golden_case(dir, files[i], 1);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) golden_case(dir, files[i], 0);
    printf("test_optim: AdamW against PyTorch on its gradients: worst relative error %.3g (%s), tolerance %g\n",
           g_worst[0], g_worst_what[0], TOL_OPT);
    printf("test_optim: the whole loop with AdamW against PyTorch: worst relative error %.3g (%s), tolerance %g\n",
           g_worst[1], g_worst_what[1], TOL_LOOP);
}
END_TEST

/* ---- the update itself ------------------------------------------------------------------------- */
/* torch 1.13's _single_tensor_adamw for one element, transcribed: float32 tensors, double scalars
 * cast to float where they meet a tensor. */
static void ref_adamw(float *p, float *m, float *v, float g, const rnn_adamw *o, int64_t t)
{
    *p = *p * (float)(1 - o->lr * o->weight_decay);
    *m = *m * (float)o->beta1;
    *m = *m + (float)(1 - o->beta1) * g;
    *v = *v * (float)o->beta2;
    *v = *v + (float)(1 - o->beta2) * g * g;
    double bc1 = 1 - pow(o->beta1, (double)t), bc2 = 1 - pow(o->beta2, (double)t);
    float d = sqrtf(*v) / (float)sqrt(bc2) + (float)o->eps;
    *p = *p + (float)(-(o->lr / bc1)) * *m / d;
}

START_TEST(test_update_formula)
{
    rnn_model *m = small_model(RNN_CELL_GRU, 1, 0.0f);
    float *data, *grad;
    size_t n;
    ck_assert_int_eq(rnn_param_get_block(m, &data, &grad, &n), RNN_OK);
    float *p = malloc(n * sizeof(float)), *mm = calloc(n, sizeof(float)), *vv = calloc(n, sizeof(float));
    memcpy(p, data, n * sizeof(float));
    rnn_adamw o = options();
    uint64_t s = 5;
    for (int64_t t = 1; t <= 4; t++) {
        for (size_t i = 0; i < n; i++) grad[i] = (float)(tu_uniform(&s) - 0.5) * (i % 7 == 0 ? 1e-3f : 1.0f);
        if (t == 3) o.weight_decay = 0, o.beta1 = 0; /* the edges of the ranges */
        ck_assert_int_eq(rnn_adamw_step(m, &o), RNN_OK);
        for (size_t i = 0; i < n; i++) ref_adamw(&p[i], &mm[i], &vv[i], grad[i], &o, t);
        ck_assert_msg(memcmp(p, data, n * sizeof(float)) == 0, "step %d differs from torch's formula", (int)t);
    }
    int64_t step;
    ck_assert_int_eq(rnn_adamw_get_step(m, &step), RNN_OK);
    ck_assert_int_eq(step, 4);
    free(p), free(mm), free(vv);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_defaults_and_reset)
{
    rnn_adamw o;
    memset(&o, 0xAB, sizeof o);
    ck_assert_int_eq(rnn_adamw_init(&o, sizeof o), RNN_OK);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert(o.lr == 1e-3 && o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8 && o.weight_decay == 1e-2);
    ck_assert_int_eq(rnn_adamw_init(NULL, sizeof o), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_adamw_init(&o, 3), RNN_ERR_INVALID);

    /* NULL options are the defaults; reset gives a fresh optimizer */
    rnn_model *a = small_model(RNN_CELL_LSTM, 0, 0.0f), *b = small_model(RNN_CELL_LSTM, 0, 0.0f);
    int64_t step = -1;
    ck_assert_int_eq(rnn_adamw_get_step(a, &step), RNN_OK);
    ck_assert_int_eq(step, 0);
    grads_for(a, 0);
    ck_assert_int_eq(rnn_adamw_step(a, &o), RNN_OK);
    grads_for(a, 1);
    ck_assert_int_eq(rnn_adamw_step(a, NULL), RNN_OK);
    ck_assert_int_eq(rnn_adamw_reset(a), RNN_OK);
    ck_assert_int_eq(rnn_adamw_get_step(a, &step), RNN_OK);
    ck_assert_int_eq(step, 0);
    size_t la, lb;
    unsigned char *ia = image(a, RNN_SAVE_STATE, &la);
    ck_assert_uint_eq(find_section(ia, la, "ADMW"), 0); /* no state, nothing saved */
    free(ia);
    /* b: the same weights as a now, and a fresh optimizer: one step each gives the same bits */
    float *da, *db;
    size_t n;
    rnn_param_get_block(a, &da, NULL, &n);
    rnn_param_get_block(b, &db, NULL, &n);
    memcpy(db, da, n * sizeof(float));
    float h[2 * 3 * 7], c[2 * 3 * 7];
    rnn_model_get_hidden(a, 3, h, c);
    rnn_model_set_hidden(b, 3, h, c);
    grads_for(a, 2), grads_for(b, 2);
    ck_assert_int_eq(rnn_adamw_step(a, NULL), RNN_OK);
    ck_assert_int_eq(rnn_adamw_step(b, NULL), RNN_OK);
    ia = image(a, RNN_SAVE_STATE, &la);
    unsigned char *ib = image(b, RNN_SAVE_STATE, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(ia, ib, la) == 0);
    free(ia), free(ib);
    rnn_model_free(a);
    rnn_model_free(b);
}
END_TEST

START_TEST(test_threads_same_bits)
{
    size_t len[3];
    unsigned char *img[3];
    for (int i = 0; i < 3; i++) {
        rnn_model *m = small_model(RNN_CELL_LSTM, 0, 0.3f);
        ck_assert_int_eq(rnn_model_set_threads(m, 1 + 2 * i), RNN_OK); /* 1, 3, 5 */
        /* the layers' products may round differently with threads: feed every model the same
         * gradients, so only AdamW's passes run under different thread counts */
        float *grad;
        size_t n;
        rnn_param_get_block(m, NULL, &grad, &n);
        rnn_adamw o = options();
        for (int k = 0; k < 4; k++) {
            uint64_t s = 99 + (uint64_t)k;
            for (size_t j = 0; j < n; j++) grad[j] = (float)(tu_uniform(&s) - 0.5);
            ck_assert_int_eq(rnn_adamw_step(m, &o), RNN_OK);
        }
        img[i] = image(m, RNN_SAVE_STATE, &len[i]);
        rnn_model_free(m);
    }
    for (int i = 1; i < 3; i++) {
        ck_assert_uint_eq(len[i], len[0]);
        ck_assert_msg(memcmp(img[i], img[0], len[0]) == 0, "%d threads differ from 1", 1 + 2 * i);
    }
    for (int i = 0; i < 3; i++) free(img[i]);
}
END_TEST

/* ---- exact resume -------------------------------------------------------------------------------- */
START_TEST(test_resume_exact)
{
    const int cells[2] = {RNN_CELL_LSTM, RNN_CELL_GRU};
    for (int ci = 0; ci < 2; ci++) {
        int tied = ci; /* an untied LSTM and a tied GRU, with dropout (the generator is saved too) */
        rnn_model *whole = small_model(cells[ci], tied, 0.25f);
        train_steps(whole, 0, 6);
        size_t lw;
        unsigned char *iw = image(whole, RNN_SAVE_STATE, &lw);

        for (int k = 1; k < 6; k++) {
            rnn_model *part = small_model(cells[ci], tied, 0.25f), *back = NULL;
            train_steps(part, 0, k);
            size_t lp;
            unsigned char *ip = image(part, RNN_SAVE_STATE, &lp);
            ck_assert_msg(find_section(ip, lp, "ADMW") != 0, "RNN_SAVE_STATE saved no ADMW section");
            char err[256];
            ck_assert_int_eq(rnn_model_load_mem(&back, ip, lp, NULL, 0, err, sizeof err), RNN_OK);
            int64_t step;
            ck_assert_int_eq(rnn_adamw_get_step(back, &step), RNN_OK);
            ck_assert_int_eq(step, k);
            train_steps(back, k, 6);
            size_t lb;
            unsigned char *ib = image(back, RNN_SAVE_STATE, &lb);
            ck_assert_uint_eq(lb, lw);
            ck_assert_msg(memcmp(ib, iw, lw) == 0, "cell %d: resumed after %d steps, the model differs", cells[ci], k);
            free(ib);
            rnn_model_free(back);

            /* RNN_LOAD_NO_STATE: a fresh optimizer; a save without RNN_SAVE_STATE holds none */
            ck_assert_int_eq(rnn_model_load_mem(&back, ip, lp, NULL, RNN_LOAD_NO_STATE, err, sizeof err), RNN_OK);
            ck_assert_int_eq(rnn_adamw_get_step(back, &step), RNN_OK);
            ck_assert_int_eq(step, 0);
            rnn_model_free(back);
            free(ip);
            ip = image(part, 0, &lp);
            ck_assert_uint_eq(find_section(ip, lp, "ADMW"), 0);
            ck_assert_int_eq(rnn_model_load_mem(&back, ip, lp, NULL, 0, err, sizeof err), RNN_OK);
            ck_assert_int_eq(rnn_adamw_get_step(back, &step), RNN_OK);
            ck_assert_int_eq(step, 0);
            rnn_model_free(back);
            free(ip);
            rnn_model_free(part);
        }
        free(iw);
        rnn_model_free(whole);
    }
}
END_TEST

/* ---- arguments ----------------------------------------------------------------------------------- */
static void expect_refused(rnn_model *m, const rnn_adamw *o, int status, const char *words)
{
    size_t l0, l1;
    unsigned char *before = image(m, RNN_SAVE_STATE, &l0);
    ck_assert_int_eq(rnn_adamw_step(m, o), status);
    ck_assert_int_eq(rnn_model_errcode(m), status);
    ck_assert_msg(strstr(rnn_model_errmsg(m), words), "message '%s' lacks '%s'", rnn_model_errmsg(m), words);
    unsigned char *after = image(m, RNN_SAVE_STATE, &l1);
    ck_assert_msg(l0 == l1 && memcmp(before, after, l0) == 0, "a refused step changed the model (%s)", words);
    free(before), free(after);
}

START_TEST(test_bad_arguments)
{
    rnn_model *m = small_model(RNN_CELL_TANH, 0, 0.0f);
    ck_assert_int_eq(rnn_adamw_step(NULL, NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_adamw_reset(NULL), RNN_ERR_INVALID);
    int64_t step;
    ck_assert_int_eq(rnn_adamw_get_step(NULL, &step), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_adamw_get_step(m, NULL), RNN_ERR_INVALID);
    for (int pass = 0; pass < 2; pass++) { /* without a state, then with one */
        grads_for(m, pass);
        rnn_adamw o = options();
        const double nan = NAN, inf = INFINITY;
        struct { double *field, value; const char *words; } bad[] = {
            {&o.lr, -1e-3, "lr must be"}, {&o.lr, nan, "lr must be"}, {&o.lr, inf, "lr must be"},
            {&o.beta1, 1.0, "beta1 must be in [0, 1)"}, {&o.beta1, -0.1, "beta1"}, {&o.beta1, nan, "beta1"},
            {&o.beta2, 1.0, "beta2 must be in [0, 1)"}, {&o.beta2, -1e-9, "beta2"},
            {&o.eps, -1e-8, "eps must be"}, {&o.eps, inf, "eps"}, {&o.weight_decay, -0.01, "weight_decay must be"},
            {&o.weight_decay, nan, "weight_decay"}};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            o = options();
            /* (the field pointers point into o, which options() refills in place) */
            *bad[i].field = bad[i].value;
            expect_refused(m, &o, RNN_ERR_INVALID, bad[i].words);
        }
        o = options();
        o.struct_size = 4;
        expect_refused(m, &o, RNN_ERR_INVALID, "struct_size");
        /* a larger struct from a newer program: unknown bytes must be zero */
        struct { rnn_adamw o; double later; } big;
        memset(&big, 0, sizeof big);
        big.o = options();
        big.o.struct_size = sizeof big;
        big.later = 1;
        expect_refused(m, &big.o, RNN_ERR_INVALID, "does not know");
        big.later = 0;
        ck_assert_int_eq(rnn_adamw_step(m, &big.o), RNN_OK);
        /* a non-finite gradient: refused, nothing changed, the parameter named */
        grads_for(m, 7);
        rnn_param p = {.struct_size = sizeof p};
        ck_assert_int_eq(rnn_param_find(m, "rnn.weight_hh_l1", &p), RNN_OK);
        float keep = p.grad[3];
        p.grad[3] = pass ? INFINITY : NAN;
        o = options();
        expect_refused(m, &o, RNN_ERR_NUMERIC, "rnn.weight_hh_l1");
        p.grad[3] = keep;
        ck_assert_int_eq(rnn_adamw_step(m, &o), RNN_OK);
    }
    ck_assert_int_eq(rnn_adamw_get_step(m, &step), RNN_OK);
    ck_assert_int_eq(step, 4);
    rnn_model_free(m);
}
END_TEST

/* An allocator that fails after `left` allocations. */
static void *fail_alloc(void *user, size_t size)
{
    int *left = user;
    return (*left)-- > 0 ? malloc(size) : NULL;
}
static void fail_free(void *user, void *p)
{
    (void)user;
    free(p);
}

START_TEST(test_nomem)
{
    int left = 1000;
    rnn_allocator al = {sizeof al, fail_alloc, fail_free, &left};
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = 9, cfg.emb_size = 4, cfg.hidden_size = 4, cfg.num_layers = 1;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, &al, NULL, 0), RNN_OK);
    for (int allow = 0; allow < 2; allow++) {
        left = allow;
        ck_assert_int_eq(rnn_adamw_step(m, NULL), RNN_ERR_NOMEM);
        ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "AdamW"));
        int64_t step;
        ck_assert_int_eq(rnn_adamw_get_step(m, &step), RNN_OK);
        ck_assert_int_eq(step, 0);
    }
    left = 2;
    ck_assert_int_eq(rnn_adamw_step(m, NULL), RNN_OK);
    left = 0; /* later steps allocate nothing */
    ck_assert_int_eq(rnn_adamw_step(m, NULL), RNN_OK);
    rnn_model_free(m);
}
END_TEST

/* ---- the ADMW section in files ------------------------------------------------------------------- */
static int load_err(const unsigned char *b, size_t len, unsigned flags, char *err, size_t errlen)
{
    rnn_model *m = NULL;
    int rc = rnn_model_load_mem(&m, b, len, NULL, flags, err, errlen);
    rnn_model_free(m);
    return rc;
}

START_TEST(test_file_checks)
{
    rnn_model *m = small_model(RNN_CELL_LSTM, 0, 0.0f);
    train_steps(m, 0, 2);
    size_t len;
    unsigned char *good = image(m, RNN_SAVE_STATE, &len);
    size_t at = find_section(good, len, "ADMW");
    ck_assert(at > 0);
    size_t n = (size_t)(section_len(good, at) - 8) / 8; /* parameters */
    ck_assert_uint_eq(tu_get32(good + at + 12), 2);
    ck_assert_uint_eq(tu_get32(good + at + 16), 0);
    ck_assert(at > find_section(good, len, "PARM") && at > find_section(good, len, "STAT"));
    char err[1200];
    ck_assert_int_eq(load_err(good, len, 0, err, sizeof err), RNN_OK);
    unsigned char *b = malloc(len + 64);
    const float nanf_ = NAN, neg = -1.0f, inf = INFINITY;
    struct { const char *what; size_t off; const void *val; size_t size; const char *words; } pokes[] = {
        {"step 0", 12, "\0\0\0\0", 4, "step count 0"},
        {"step 2^63", 16, "\0\0\0\x80", 4, "step count"},
        {"NaN exp_avg", 20 + 4 * 5, &nanf_, 4, "exp_avg 5 is NaN"},
        {"negative exp_avg_sq", 20 + 4 * (n + 7), &neg, 4, "exp_avg_sq 7"},
        {"NaN exp_avg_sq", 20 + 4 * (n + 1), &nanf_, 4, "exp_avg_sq 1"},
    };
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        memcpy(b, good, len);
        memcpy(b + at + pokes[i].off, pokes[i].val, pokes[i].size);
        fix_crc(b, at);
        ck_assert_msg(load_err(b, len, 0, err, sizeof err) == RNN_ERR_FORMAT, "%s loaded", pokes[i].what);
        ck_assert_msg(strstr(err, pokes[i].words), "%s: '%s' lacks '%s'", pokes[i].what, err, pokes[i].words);
        /* RNN_LOAD_NO_STATE skips the section: the model loads */
        ck_assert_int_eq(load_err(b, len, RNN_LOAD_NO_STATE, err, sizeof err), RNN_OK);
    }
    /* +inf in a moment is what an overflowing square gives: kept */
    memcpy(b, good, len);
    memcpy(b + at + 20 + 4 * (n + 2), &inf, 4);
    fix_crc(b, at);
    ck_assert_int_eq(load_err(b, len, 0, err, sizeof err), RNN_OK);
    /* a stale CRC */
    memcpy(b, good, len);
    b[at + 30] ^= 1;
    ck_assert_int_eq(load_err(b, len, 0, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "ADMW"));
    /* a length that is not this model's (shorter by one float; the tail moved down) */
    memcpy(b, good, at + 12 + section_len(good, at) - 4);
    size_t sl = (size_t)section_len(good, at) - 4;
    b[at + 4] = (unsigned char)sl, b[at + 5] = (unsigned char)(sl >> 8), b[at + 6] = (unsigned char)(sl >> 16);
    memcpy(b + at + 12 + sl + 4, good + at + 16 + sl + 4, len - (at + 16 + sl + 4));
    fix_crc(b, at);
    ck_assert_int_eq(load_err(b, len - 4, 0, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_msg(strstr(err, "ADMW holds"), "%s", err);
    /* two ADMW sections */
    size_t slen = 16 + (size_t)section_len(good, at);
    unsigned char *two = malloc(len + slen);
    memcpy(two, good, at + slen);
    memcpy(two + at + slen, good + at, len - at);
    ck_assert_int_eq(load_err(two, len + slen, 0, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_msg(strstr(err, "two ADMW"), "%s", err);
    /* ADMW before PARM: moved in front of CONF */
    size_t cut = 16;
    memcpy(two, good, cut);
    memcpy(two + cut, good + at, slen);
    memcpy(two + cut + slen, good + cut, at - cut);
    memcpy(two + at + slen, good + at + slen, len - at - slen);
    ck_assert_int_eq(load_err(two, len, 0, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_msg(strstr(err, "before"), "%s", err);
    free(two);
    free(b);
    free(good);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("adamw");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_torch_golden);
    tcase_add_test(tc, test_update_formula);
    tcase_add_test(tc, test_defaults_and_reset);
    tcase_add_test(tc, test_threads_same_bits);
    tcase_add_test(tc, test_resume_exact);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_nomem);
    tcase_add_test(tc, test_file_checks);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
