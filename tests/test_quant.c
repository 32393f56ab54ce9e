/* test_quant.c -- quantized weights (rnn_model_quantize): training refused, every inference call
 * working, files round-tripping bit for bit and validated, every kernel path giving the same bits,
 * and the results close to fp32. */
#define RNN_EXPERT_API /* rnn_param_get_block */
#include "rnn.h"
#include "quant.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* E and H not multiples of 32 (a short last q8 block) nor of 8 (the bf16 tail) */
enum { V = 97, E = 44, H = 36, L = 2, B = 3, T = 9 };
static void *tu_alloc(void *u, size_t n)
{
    (void)u;
    return malloc(n);
}
static void tu_free(void *u, void *p)
{
    (void)u;
    free(p);
}

static const int TYPES[2] = {RNN_WEIGHTS_BF16, RNN_WEIGHTS_Q8};

static rnn_model *make(int cell, int tied)
{
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.cell = cell, c.vocab_size = V, c.emb_size = tied ? H : E, c.hidden_size = H, c.num_layers = L;
    c.tied = tied, c.dropout = 0.0f, c.seed = 7;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_OK);
    /* weights of several magnitudes, so that blocks get different scales (smaller for the plain
     * RNN cells, whose recurrence otherwise amplifies any change: the test is about rounding) */
    double amp = cell == RNN_CELL_LSTM || cell == RNN_CELL_GRU ? 1.0 : 0.3;
    uint64_t s = 99;
    int n;
    rnn_param_get_count(m, &n);
    for (int i = 0; i < n; i++) {
        rnn_param p = {.struct_size = sizeof p};
        rnn_param_get(m, i, &p);
        for (size_t k = 0; k < p.size; k++) p.data[k] = (float)((tu_uniform(&s) - 0.5) * (k % 7 == 0 ? 2.0 : 0.3) * amp);
    }
    return m;
}

static void tokens(int32_t *tok, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) tok[i] = (int32_t)(tu_next(&seed) % V);
}

/* logprobs of rnn_evaluate over (B, T) from a fresh state */
static void eval_logprobs(rnn_model *m, float *lp, double *loss)
{
    int32_t tok[B * T], tgt[B * T];
    tokens(tok, B * T, 1), tokens(tgt, B * T, 2);
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK);
    ck_assert_int_eq(rnn_evaluate(m, tok, tgt, B, T, 0, loss, lp), RNN_OK);
}

START_TEST(test_training_refused)
{
    int type = TYPES[_i];
    rnn_model *m = make(RNN_CELL_LSTM, 0);
    int wt = -1;
    ck_assert_int_eq(rnn_model_get_weight_type(m, &wt), RNN_OK);
    ck_assert_int_eq(wt, RNN_WEIGHTS_FP32);
    ck_assert_int_eq(rnn_model_quantize(m, type), RNN_OK);
    ck_assert_int_eq(rnn_model_get_weight_type(m, &wt), RNN_OK);
    ck_assert_int_eq(wt, type);
    int32_t tok[B * T];
    tokens(tok, B * T, 3);
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK);
    ck_assert_int_eq(rnn_forward(m, tok, tok, B, T, 0, NULL), RNN_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "quantized"));
    ck_assert_int_eq(rnn_backward(m), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_zero_grad(m), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_clip_grad_norm(m, 1.0f, NULL), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_sgd_step(m, 0.1f), RNN_ERR_STATE);
    rnn_adamw o;
    rnn_adamw_init(&o, sizeof o);
    ck_assert_int_eq(rnn_adamw_step(m, &o), RNN_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "rnn_adamw_step"));
    float *d, *g;
    size_t cnt;
    ck_assert_int_eq(rnn_param_get_block(m, &d, &g, &cnt), RNN_ERR_STATE);
    /* weights: name and shape, no data; biases: data; no gradients */
    rnn_param p = {.struct_size = sizeof p};
    ck_assert_int_eq(rnn_param_find(m, "rnn.weight_hh_l1", &p), RNN_OK);
    ck_assert_ptr_null(p.data);
    ck_assert_int_eq(p.rows, 4 * H);
    ck_assert_ptr_null(p.grad);
    ck_assert_int_eq(rnn_param_find(m, "decoder.bias", &p), RNN_OK);
    ck_assert_ptr_nonnull(p.data);
    ck_assert_ptr_null(p.grad);
    /* irreversible; the same type again is a no-op */
    ck_assert_int_eq(rnn_model_quantize(m, type), RNN_OK);
    ck_assert_int_eq(rnn_model_quantize(m, RNN_WEIGHTS_FP32), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_model_quantize(m, 7), RNN_ERR_INVALID);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_refusals_leave_model)
{
    rnn_model *m = make(RNN_CELL_GRU, 0);
    rnn_param p = {.struct_size = sizeof p};
    rnn_param_find(m, "rnn.weight_ih_l1", &p);
    p.data[5] = INFINITY;
    ck_assert_int_eq(rnn_model_quantize(m, RNN_WEIGHTS_Q8), RNN_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "rnn.weight_ih_l1[5]"));
    int wt;
    rnn_model_get_weight_type(m, &wt);
    ck_assert_int_eq(wt, RNN_WEIGHTS_FP32);
    p.data[5] = 3.4028235e38f; /* FLT_MAX: finite, but its bf16 rounds to infinity */
    ck_assert_int_eq(rnn_model_quantize(m, RNN_WEIGHTS_BF16), RNN_ERR_NUMERIC);
    p.data[5] = 0.0f;
    ck_assert_int_eq(rnn_zero_grad(m), RNN_OK); /* still trainable */
    rnn_model_free(m);

    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.vocab_size = 20, c.emb_size = 8, c.hidden_size = 8, c.output = RNN_OUTPUT_ADAPTIVE;
    c.num_cutoffs = 1, c.cutoffs[0] = 10;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_OK);
    ck_assert_int_eq(rnn_model_quantize(m, RNN_WEIGHTS_Q8), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "adaptive"));
    ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "RNN_OUTPUT_FULL")); /* what to do instead */
    rnn_model_free(m);
}
END_TEST

/* every inference call, close to fp32; the errors are printed */
START_TEST(test_inference_close)
{
    int type = TYPES[_i % 2], cell = _i / 2; /* every cell, both types */
    rnn_model *f = make(cell, cell == RNN_CELL_LSTM);
    rnn_model *q = make(cell, cell == RNN_CELL_LSTM);
    ck_assert_int_eq(rnn_model_quantize(q, type), RNN_OK);
    static float lf[B * T * V], lq[B * T * V];
    double loss_f, loss_q;
    eval_logprobs(f, lf, &loss_f);
    eval_logprobs(q, lq, &loss_q);
    double maxd = 0;
    for (int i = 0; i < B * T * V; i++) {
        ck_assert(isfinite(lq[i]));
        double d = fabs((double)lf[i] - lq[i]);
        maxd = d > maxd ? d : maxd;
    }
    printf("test_quant: %s %s: loss fp32 %.6f quantized %.6f, max |logprob difference| %.2e\n",
           cell == 0 ? "RNN_TANH" : cell == 1 ? "RNN_RELU" : cell == 2 ? "LSTM" : "GRU",
           type == RNN_WEIGHTS_Q8 ? "q8" : "bf16", loss_f, loss_q, maxd);
    fflush(stdout);
    ck_assert(maxd < (type == RNN_WEIGHTS_Q8 ? 0.1 : 0.02));
    ck_assert(maxd > 0); /* the weights did change */
    ck_assert(fabs(loss_f - loss_q) < 0.02);

    /* rnn_sample */
    int32_t next[B], tok[B * T];
    tokens(tok, B * T, 5);
    ck_assert_int_eq(rnn_model_reset_hidden(q, B), RNN_OK);
    ck_assert_int_eq(rnn_sample(q, tok, B, NULL, next), RNN_OK);

    /* states: feed, score, logprobs, generate, clone; a stream's results do not depend on the
     * batch around it */
    rnn_state *s3, *s1;
    ck_assert_int_eq(rnn_state_create(&s3, q, B, 11), RNN_OK);
    ck_assert_int_eq(rnn_state_create(&s1, q, 1, 11), RNN_OK);
    ck_assert_int_eq(rnn_state_feed(s3, tok, T, 0), RNN_OK);
    ck_assert_int_eq(rnn_state_feed(s1, tok, T, 0), RNN_OK);
    static float p3[B * V], p1[V];
    ck_assert_int_eq(rnn_state_get_logprobs(s3, p3), RNN_OK);
    ck_assert_int_eq(rnn_state_get_logprobs(s1, p1), RNN_OK);
    ck_assert_mem_eq(p3, p1, sizeof p1);
    double sc3[B], sc1[1];
    ck_assert_int_eq(rnn_state_score(s3, tok, T, 0, sc3), RNN_OK);
    ck_assert_int_eq(rnn_state_score(s1, tok, T, 0, sc1), RNN_OK);
    ck_assert(sc3[0] == sc1[0] && isfinite(sc1[0]));
    rnn_state *c3;
    ck_assert_int_eq(rnn_state_clone(&c3, s3), RNN_OK);
    int32_t g1[B * 5], g2[B * 5];
    ck_assert_int_eq(rnn_state_generate(s3, NULL, 5, g1), RNN_OK);
    ck_assert_int_eq(rnn_state_generate(c3, NULL, 5, g2), RNN_OK);
    ck_assert_mem_eq(g1, g2, sizeof g1);
    for (int i = 0; i < B * 5; i++) ck_assert(g1[i] >= 0 && g1[i] < V);
    rnn_state_free(c3);
    rnn_state_free(s1);
    rnn_state_free(s3);
    rnn_model_free(f);
    rnn_model_free(q);
}
END_TEST

/* bytes to a temporary file (the caller unlinks path) */
static void write_tmp(const unsigned char *f, size_t n, char *path, size_t len)
{
    snprintf(path, len, "%s/rnn-test-quant.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    FILE *o = fdopen(fd, "wb");
    ck_assert(o && fwrite(f, 1, n, o) == n);
    fclose(o);
}

/* save and load give the same model: the same bytes again and the same bits out */
START_TEST(test_roundtrip)
{
    int type = TYPES[_i % 2], tied = _i / 2;
    rnn_model *q = make(RNN_CELL_LSTM, tied);
    static const char *words[V];
    static char wb[V][8];
    for (int i = 0; i < V; i++) snprintf(wb[i], sizeof wb[i], "w%d", i), words[i] = wb[i];
    ck_assert_int_eq(rnn_vocab_set(q, words, V), RNN_OK);
    size_t n32, n;
    ck_assert_int_eq(rnn_model_save_mem(q, NULL, 0, &n32, 0, NULL, 0), RNN_OK);
    unsigned char *f32 = malloc(n32);
    ck_assert_int_eq(rnn_model_save_mem(q, f32, n32, &n32, 0, NULL, 0), RNN_OK);
    ck_assert_int_eq(tu_get32(f32 + 8), 1); /* fp32 files stay version 1 */
    ck_assert_int_eq(rnn_model_quantize(q, type), RNN_OK);
    ck_assert_int_eq(rnn_model_save_mem(q, NULL, 0, &n, 0, "app", 3), RNN_OK);
    unsigned char *buf = malloc(n), *buf2 = malloc(n);
    ck_assert_int_eq(rnn_model_save_mem(q, buf, n, &n, 0, "app", 3), RNN_OK);
    ck_assert_int_eq(tu_get32(buf + 8), 3);
    printf("test_quant: %s%s file %zu bytes, fp32 %zu (%.3fx)\n", type == RNN_WEIGHTS_Q8 ? "q8" : "bf16",
           tied ? " tied" : "", n, n32, (double)n / n32);
    ck_assert(n < n32 * (type == RNN_WEIGHTS_Q8 ? 0.4 : 0.6));
    rnn_model *r = NULL;
    char err[256];
    ck_assert_msg(rnn_model_load_mem(&r, buf, n, NULL, 0, err, sizeof err) == RNN_OK, "%s", err);
    int wt;
    rnn_model_get_weight_type(r, &wt);
    ck_assert_int_eq(wt, type);
    size_t n2;
    ck_assert_int_eq(rnn_model_save_mem(r, buf2, n, &n2, 0, "app", 3), RNN_OK);
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(buf, buf2, n);
    char path[512];
    write_tmp(buf, n, path, sizeof path);
    rnn_model *rf = NULL;
    ck_assert_msg(rnn_model_load(&rf, path, NULL, 0, err, sizeof err) == RNN_OK, "%s", err);
    unlink(path);
    ck_assert_int_eq(rnn_model_save_mem(rf, buf2, n, &n2, 0, "app", 3), RNN_OK);
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(buf, buf2, n); /* from a file: the same model */
    rnn_model_free(rf);
    static float a[B * T * V], b[B * T * V];
    double la, lb;
    eval_logprobs(q, a, &la);
    eval_logprobs(r, b, &lb);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert(la == lb);
    rnn_model_free(r);
    rnn_model_free(q);
    free(buf), free(buf2), free(f32);
}
END_TEST

/* the offset of the first QPRM tensor's values of name `want` in a saved file */
static size_t find_values(const unsigned char *f, size_t n, const char *want, size_t *sec)
{
    size_t pos = 16;
    while (pos + 16 <= n) {
        uint32_t len = tu_get32(f + pos + 4);
        if (memcmp(f + pos, "QPRM", 4) == 0) {
            *sec = pos;
            size_t p = pos + 12 + 8;
            for (;;) {
                uint32_t nl = tu_get32(f + p);
                if (nl == strlen(want) && memcmp(f + p + 4, want, nl) == 0) return p + 4 + nl + 12;
                uint32_t rows = tu_get32(f + p + 4 + nl), cols = tu_get32(f + p + 8 + nl), tt = tu_get32(f + p + 12 + nl);
                size_t bytes = tt == 0 ? 4u * rows * cols : tt == 1 ? 2u * rows * cols : rows * ((cols + 31) / 32) * 4u + (size_t)rows * cols;
                p += 4 + nl + 12 + bytes;
            }
        }
        pos += 16 + len;
    }
    return 0;
}

static void fix_crc(unsigned char *f, size_t sec)
{
    uint32_t len = tu_get32(f + sec + 4);
    tu_put32(f + sec + 12 + len, tu_crc32c(f + sec, 12 + len));
}

/* loads f from memory and from a file (a quantized file's QPRM is parsed as it is read: its own
 * path); both must give the same status and message */
static int load_patched(const unsigned char *f, size_t n, char *err, size_t errlen)
{
    rnn_model *r = NULL;
    int rc = rnn_model_load_mem(&r, f, n, NULL, 0, err, errlen);
    rnn_model_free(r);
    char path[512], ferr[256];
    write_tmp(f, n, path, sizeof path);
    r = NULL;
    int frc = rnn_model_load(&r, path, NULL, 0, ferr, sizeof ferr);
    rnn_model_free(r);
    unlink(path);
    ck_assert_int_eq(frc, rc);
    if (errlen) ck_assert_str_eq(ferr, err);
    return rc;
}

START_TEST(test_load_validates)
{
    rnn_model *q = make(RNN_CELL_LSTM, 0);
    rnn_param p = {.struct_size = sizeof p};
    rnn_param_find(q, "rnn.weight_hh_l0", &p);
    for (int k = 0; k < 32; k++) p.data[k] = 0.0f; /* a block of zeros: scale 0 */
    ck_assert_int_eq(rnn_model_quantize(q, RNN_WEIGHTS_Q8), RNN_OK);
    size_t n, sec = 0;
    rnn_model_save_mem(q, NULL, 0, &n, 0, NULL, 0);
    unsigned char *f = malloc(n), *g = malloc(n);
    rnn_model_save_mem(q, f, n, &n, 0, NULL, 0);
    char err[256];
    ck_assert_int_eq(load_patched(f, n, err, sizeof err), RNN_OK);
    size_t at = find_values(f, n, "rnn.weight_hh_l0", &sec);
    ck_assert(at > 0);
    ck_assert_int_eq(tu_get32(f + at), 0); /* the zero block's scale */
    const uint32_t bad_scales[4] = {0x7FC00000u /* NaN */, 0x7F800000u /* inf */, 0xBF800000u /* -1 */, 0};
    for (int i = 0; i < 4; i++) {
        memcpy(g, f, n);
        tu_put32(g + at + 4 * (i == 3 ? 1 : 0), bad_scales[i]); /* i 3: scale 0 over nonzero values */
        fix_crc(g, sec);
        ck_assert_int_eq(load_patched(g, n, err, sizeof err), RNN_ERR_FORMAT);
        ck_assert_msg(strstr(err, "scale") != NULL, "%s", err);
    }
    /* an int8 of -128 */
    memcpy(g, f, n);
    int nb = (H + 31) / 32;
    g[at + (size_t)4 * H * nb * 4 + 40] = 0x80;
    fix_crc(g, sec);
    ck_assert_int_eq(load_patched(g, n, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_msg(strstr(err, "-128") != NULL, "%s", err);
    /* the same -128 with the CRC left as it was: a corrupt file, whatever the values say (from a
     * file too, where the values are checked before the CRC has been read) */
    memcpy(g, f, n);
    g[at + (size_t)4 * H * nb * 4 + 40] = 0x80;
    ck_assert_int_eq(load_patched(g, n, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_msg(strstr(err, "checksum mismatch in section 'QPRM'") != NULL, "%s", err);
    memcpy(g, f, n);
    g[n - 40] ^= 1; /* a byte of the last tensor's values: parsed, then the CRC */
    ck_assert_int_eq(load_patched(g, n, err, sizeof err), RNN_ERR_FORMAT);
    ck_assert_msg(strstr(err, "checksum mismatch") != NULL, "%s", err);
    /* a tensor type that the model's weight type does not give */
    memcpy(g, f, n);
    tu_put32(g + at - 4, 1);
    fix_crc(g, sec);
    ck_assert_int_eq(load_patched(g, n, err, sizeof err), RNN_ERR_FORMAT);
    /* a version-1 header over QPRM (what a writer that forgot the rule would give): refused (too
     * small for version 1's fp32 parameters, or QPRM in a version-1 file) */
    memcpy(g, f, n);
    tu_put32(g + 8, 1);
    ck_assert_int_eq(load_patched(g, n, err, sizeof err), RNN_ERR_FORMAT);
    /* truncated anywhere: refused, never a crash */
    for (size_t cut = 0; cut < n; cut += 97) ck_assert_int_ne(load_patched(f, cut, err, sizeof err), RNN_OK);
    rnn_model_free(q);
    free(f), free(g);
}
END_TEST

/* ---- the memory a load takes: an allocator that counts the live bytes and their peak ------------ */
typedef struct bytes_counter {
    size_t live, peak;
} bytes_counter;
static void *b_alloc(void *u, size_t n)
{
    bytes_counter *c = u;
    size_t *p = malloc(n + 16); /* the size in front, 16 bytes keep the alignment */
    if (!p) return NULL;
    p[0] = n;
    c->live += n;
    if (c->live > c->peak) c->peak = c->live;
    return (char *)p + 16;
}
static void b_free(void *u, void *p)
{
    if (!p) return;
    bytes_counter *c = u;
    size_t *h = (size_t *)((char *)p - 16);
    c->live -= h[0];
    free(h);
}

/* Loading a quantized file reads its weights straight into their quantized storage: the peak of
 * the bytes allocated stays near what the loaded model keeps (no fp32 weights or gradients on the
 * way, and, from a file, no buffer holding the payload), for memory images and files alike. */
START_TEST(test_load_peak)
{
    int type = TYPES[_i % 2], from_file = _i / 2;
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.vocab_size = 6000, c.emb_size = 64, c.hidden_size = 64, c.num_layers = 2, c.dropout = 0.0f;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_OK);
    size_t fp32 = 0, n;
    int np;
    rnn_param_get_count(m, &np);
    for (int i = 0; i < np; i++) {
        rnn_param p = {.struct_size = sizeof p};
        rnn_param_get(m, i, &p);
        fp32 += p.size * sizeof(float);
    }
    ck_assert_int_eq(rnn_model_quantize(m, type), RNN_OK);
    rnn_model_save_mem(m, NULL, 0, &n, 0, NULL, 0);
    unsigned char *buf = malloc(n);
    ck_assert_int_eq(rnn_model_save_mem(m, buf, n, &n, 0, NULL, 0), RNN_OK);
    char path[512], err[256];
    if (from_file) write_tmp(buf, n, path, sizeof path);
    bytes_counter bc = {0, 0};
    rnn_allocator al = {sizeof al, b_alloc, b_free, &bc};
    rnn_model *r = NULL;
    int rc = from_file ? rnn_model_load(&r, path, &al, 0, err, sizeof err) : rnn_model_load_mem(&r, buf, n, &al, 0, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "%s", err);
    printf("test_load_peak: %s from %s: peak %zu bytes allocated, %zu kept by the model, file %zu, fp32 weights %zu\n",
           type == RNN_WEIGHTS_Q8 ? "q8" : "bf16", from_file ? "a file" : "memory", bc.peak, bc.live, n, fp32);
    ck_assert_msg(bc.peak <= bc.live + bc.live / 8, "peak %zu, kept %zu", bc.peak, bc.live);
    ck_assert(bc.live < fp32 * (type == RNN_WEIGHTS_Q8 ? 0.35 : 0.6));
    rnn_model_free(r);
    ck_assert_uint_eq(bc.live, 0);
    if (from_file) unlink(path);
    free(buf);
    rnn_model_free(m);
}
END_TEST

/* Every kernel path the CPU has gives the same bits as plain C, through whole models and through
 * the product alone over many shapes */
START_TEST(test_paths_identical)
{
    int type = TYPES[_i];
    rnn_model *q = make(RNN_CELL_LSTM, 0);
    ck_assert_int_eq(rnn_model_quantize(q, type), RNN_OK);
    static float ref[B * T * V], got[B * T * V];
    double lr, lg;
    rnn__q_force = 0;
    eval_logprobs(q, ref, &lr);
    int paths = 0;
    for (int path = 1; path <= 1; path++) {
        if (!rnn__q_have(path)) continue;
        paths++;
        rnn__q_force = path;
        eval_logprobs(q, got, &lg);
        ck_assert_mem_eq(ref, got, sizeof ref);
    }
    /* threads split the outputs of a product large enough to be cut: the same dots */
    {
        rnn_allocator pal = {sizeof pal, tu_alloc, tu_free, NULL};
        int M = 140, N = 301, K = 130; /* (more rows than one activation tile: 128) */
        float *w = malloc(sizeof(float) * N * K), *a = malloc(sizeof(float) * M * K);
        float *c0 = malloc(sizeof(float) * M * N), *c1 = malloc(sizeof(float) * M * N);
        uint64_t s2 = 17;
        for (int i = 0; i < N * K; i++) w[i] = (float)(tu_uniform(&s2) - 0.5);
        for (int i = 0; i < M * K; i++) a[i] = (float)(tu_uniform(&s2) - 0.5);
        rnn__qmat m;
        rnn__pool *pool = NULL;
        ck_assert_int_eq(rnn__qmat_alloc(&m, type, N, K, &pal), RNN_OK);
        ck_assert_int_eq(rnn__pool_create(&pool, 3, &pal), RNN_OK);
        rnn__qmat_fill(&m, w);
        rnn__q_force = -1;
        rnn__qgemm_nt(NULL, M, &m, a, K, 0.0f, c0, N);
        rnn__qgemm_nt(pool, M, &m, a, K, 0.0f, c1, N);
        ck_assert_mem_eq(c0, c1, sizeof(float) * M * N);
        rnn__pool_free(pool, &pal);
        rnn__qmat_free(&m, &pal);
        free(w), free(a), free(c0), free(c1);
    }
    printf("test_quant: %s: %d vector path(s) compared with plain C\n", type == RNN_WEIGHTS_Q8 ? "q8" : "bf16", paths);

    rnn_allocator al = {sizeof al, tu_alloc, tu_free, NULL};
    uint64_t s = 5;
    for (int K = 1; K <= 130; K += 7) {
        int N = 13, M = 5;
        float *w = malloc(sizeof(float) * N * K), *a = malloc(sizeof(float) * M * K);
        float *c0 = malloc(sizeof(float) * M * N), *c1 = malloc(sizeof(float) * M * N);
        for (int i = 0; i < N * K; i++) w[i] = (float)(tu_uniform(&s) - 0.5) * (i % 5 ? 1.0f : 40.0f);
        for (int i = 0; i < M * K; i++) a[i] = (float)(tu_uniform(&s) - 0.5) * (i % 3 ? 1.0f : 10.0f);
        rnn__qmat m;
        ck_assert_int_eq(rnn__qmat_alloc(&m, type, N, K, &al), RNN_OK);
        rnn__qmat_fill(&m, w);
        rnn__q_force = 0;
        rnn__qgemm_nt(NULL, M, &m, a, K, 0.0f, c0, N);
        for (int path = 1; path <= 1; path++) {
            if (!rnn__q_have(path)) continue;
            rnn__q_force = path;
            rnn__qgemm_nt(NULL, M, &m, a, K, 0.0f, c1, N);
            ck_assert_mem_eq(c0, c1, sizeof(float) * M * N);
        }
        rnn__qmat_free(&m, &al);
        free(w), free(a), free(c0), free(c1);
    }
    /* the vector kernels' shapes: q8 takes 8 weight rows (the last group padded) against 1 to 6
     * activation rows, over groups of 4 inputs (K not a multiple of 4 or 32: the padding is zero);
     * bf16 8 weight rows against one activation row or 4 against two, and the rows left over; into
     * C with beta 0 and 1 and a row stride past N */
    static const int Ks[] = {1, 3, 4, 5, 32, 33, 63, 146, 200};
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
        for (int N = 1; N <= 37; N += N < 20 ? 1 : 8)
            for (int M = 1; M <= 13; M += M < 7 ? 1 : 3) {
                int K = Ks[ki];
                int ldc = N + 3;
                float *w = malloc(sizeof(float) * N * K), *a = malloc(sizeof(float) * M * K);
                float *c0 = malloc(sizeof(float) * M * ldc), *c1 = malloc(sizeof(float) * M * ldc);
                for (int i = 0; i < N * K; i++) w[i] = (float)(tu_uniform(&s) - 0.5) * (i % 7 ? 1.0f : 30.0f);
                for (int i = 0; i < M * K; i++) a[i] = (float)(tu_uniform(&s) - 0.5) * (i % 4 ? 1.0f : 8.0f);
                rnn__qmat m;
                ck_assert_int_eq(rnn__qmat_alloc(&m, type, N, K, &al), RNN_OK);
                rnn__qmat_fill(&m, w);
                for (int beta = 0; beta <= 1; beta++) {
                    for (int i = 0; i < M * ldc; i++) c0[i] = c1[i] = (float)i;
                    rnn__q_force = 0;
                    rnn__qgemm_nt(NULL, M, &m, a, K, (float)beta, c0, ldc);
                    for (int path = 1; path <= 1; path++) {
                        if (!rnn__q_have(path)) continue;
                        for (int i = 0; i < M * ldc; i++) c1[i] = (float)i;
                        rnn__q_force = path;
                        rnn__qgemm_nt(NULL, M, &m, a, K, (float)beta, c1, ldc);
                        ck_assert_msg(!memcmp(c0, c1, sizeof(float) * M * ldc), "K %d N %d M %d beta %d", K, N, M, beta);
                    }
                }
                rnn__qmat_free(&m, &al);
                free(w), free(a), free(c0), free(c1);
            }
    rnn__q_force = -1;
    rnn_model_free(q);
}
END_TEST

/* Generation at batch 1 on 1, 2 and 3 threads: the decoder is large enough (V * H >= 2^18) for the
 * pool to cut its rows, and the tokens drawn are the same */
START_TEST(test_generate_threads)
{
    int type = TYPES[_i];
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.vocab_size = 3001, c.emb_size = 40, c.hidden_size = 100, c.num_layers = 2, c.dropout = 0.0f, c.seed = 5;
    int32_t ref[40], got[40], start = 17;
    for (int threads = 1; threads <= 3; threads++) {
        rnn_model *m = NULL;
        rnn_state *st = NULL;
        ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_OK);
        ck_assert_int_eq(rnn_model_quantize(m, type), RNN_OK);
        ck_assert_int_eq(rnn_model_set_threads(m, threads), RNN_OK);
        ck_assert_int_eq(rnn_state_create(&st, m, 1, 3), RNN_OK);
        ck_assert_int_eq(rnn_state_feed(st, &start, 1, 0), RNN_OK);
        ck_assert_int_eq(rnn_state_generate(st, NULL, 40, threads == 1 ? ref : got), RNN_OK);
        if (threads > 1) ck_assert_mem_eq(ref, got, sizeof ref);
        rnn_state_free(st);
        rnn_model_free(m);
    }
}
END_TEST

/* the roundings as docs/DESIGN.md defines them, on values chosen for their ties */
START_TEST(test_roundings)
{
    /* bf16: ties to even */
    union { uint32_t u; float f; } v;
    v.u = 0x3F808000u; /* exactly halfway between 0x3F80 and 0x3F81: to even 0x3F80 */
    ck_assert_uint_eq(rnn__bf16_round(v.f), 0x3F80u);
    v.u = 0x3F818000u; /* halfway between 0x3F81 and 0x3F82: to even 0x3F82 */
    ck_assert_uint_eq(rnn__bf16_round(v.f), 0x3F82u);
    v.u = 0x3F808001u;
    ck_assert_uint_eq(rnn__bf16_round(v.f), 0x3F81u);
    /* q8: scale max|w| / 127, w / scale rounded half to even */
    rnn_allocator al = {sizeof al, tu_alloc, tu_free, NULL};
    float w[3] = {127.0f, 2.5f, -0.5f}; /* scale 1: 2.5 -> 2, -0.5 -> -0 */
    rnn__qmat m;
    ck_assert_int_eq(rnn__qmat_alloc(&m, RNN_WEIGHTS_Q8, 1, 3, &al), RNN_OK);
    rnn__qmat_fill(&m, w);
    ck_assert(m.scale[0] == 1.0f);
    ck_assert_int_eq(m.q[0], 127);
    ck_assert_int_eq(m.q[1], 2);
    ck_assert_int_eq(m.q[2], 0);
    float row[3];
    rnn__qmat_row(&m, 0, row);
    ck_assert(row[0] == 127.0f && row[1] == 2.0f && row[2] == 0.0f);
    rnn__qmat_free(&m, &al);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("api");
    tcase_add_loop_test(tc, test_training_refused, 0, 2);
    tcase_add_test(tc, test_refusals_leave_model);
    tcase_add_test(tc, test_roundings);
    suite_add_tcase(s, tc);
    tc = tcase_create("inference");
    tcase_add_loop_test(tc, test_inference_close, 0, 8);
    tcase_add_loop_test(tc, test_paths_identical, 0, 2);
    tcase_add_loop_test(tc, test_generate_threads, 0, 2);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_loop_test(tc, test_roundtrip, 0, 4);
    tcase_add_test(tc, test_load_validates);
    tcase_add_loop_test(tc, test_load_peak, 0, 4);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
