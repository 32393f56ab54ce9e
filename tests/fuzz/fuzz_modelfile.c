/*
 * fuzz_modelfile.c -- libFuzzer target for the model-file loaders (rnn_model_load and
 * rnn_model_load_mem).
 *
 * Input: byte 0 is a control byte, the rest is the file.
 *   bit 0     recompute every section's CRC-32C before loading, so that the fuzzer reaches the
 *             section parsers instead of stopping at "checksum mismatch"
 *   bits 1-4  k: when nonzero, the k-th allocation of each load fails (the NOMEM paths)
 *   bit 5     load with RNN_LOAD_NO_STATE
 *   bits 6-7  both set: load with an unknown flag as well (both loaders must refuse it)
 * The file is written to a memfd and loaded by its /proc/self/fd path, and the same bytes are
 * loaded from memory with rnn_model_load_mem.
 * Invariants: the status is a documented one; both loaders agree on it (when no allocation
 * failure is injected; with one, whenever neither reports RNN_ERR_NOMEM); on failure *out is NULL,
 * errbuf holds a message and nothing leaks (the counting allocator and LeakSanitizer); on success
 * both give the same model (configuration, parameter bits, vocabulary, application data, hidden
 * state), which is usable (every parameter and vocabulary word reachable, every word found by
 * rnn_vocab_find under its own id, no word with whitespace, a state can score and generate in
 * range), and save -> load -> save is a fixed point (the same bytes, the same parameter bits),
 * with rnn_model_save_mem giving the bytes rnn_model_save writes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#define RNN_EXPERT_API /* rnn_param_get_block */
#include "rnn.h"

static fz_file g_file;
static char g_dir[64];

typedef struct counting {
    long live, calls, fail_at;
} counting;

static void *c_alloc(void *user, size_t size)
{
    counting *c = user;
    if (++c->calls == c->fail_at) return NULL;
    void *p = malloc(size);
    if (p) c->live++;
    return p;
}
static void c_free(void *user, void *p)
{
    counting *c = user;
    c->live--;
    free(p);
}

/* Walks the section framing from byte 16 and rewrites each complete section's CRC. */
static void fix_crcs(uint8_t *f, size_t n)
{
    size_t pos = 16;
    while (pos + 12 <= n) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; i--) len = len << 8 | f[pos + 4 + i];
        if (len > n - pos - 12 || n - pos - 12 - len < 4) return;
        uint32_t crc = fz_crc32c(0, f + pos, 12 + (size_t)len);
        uint8_t *q = f + pos + 12 + len;
        q[0] = (uint8_t)crc, q[1] = (uint8_t)(crc >> 8), q[2] = (uint8_t)(crc >> 16), q[3] = (uint8_t)(crc >> 24);
        pos += 16 + (size_t)len;
    }
}

/* A word must not contain what rnn_vocab_encode splits at (the loader refuses such files). */
static int has_space(const char *w)
{
    const uint8_t *p = (const uint8_t *)w;
    size_t n = strlen(w);
    for (size_t i = 0; i < n; i++) /* ASCII bytes never occur inside a UTF-8 sequence */
        if (p[i] < 0x80 && fz_is_space(p[i])) return 1;
    for (size_t i = 0; i < n;) { /* the Unicode spaces, where the word is valid UTF-8 */
        uint32_t cp;
        size_t l = fz_utf8_decode(p + i, n - i, &cp);
        if (l == 0) return 0;
        if (fz_is_space(cp)) return 1;
        i += l;
    }
    return 0;
}

static void exercise(rnn_model *m)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    FZ_ASSERT(rnn_model_get_config(m, &cfg) == RNN_OK, "config");
    FZ_ASSERT(cfg.vocab_size >= 1 && cfg.emb_size >= 1 && cfg.hidden_size >= 1 && cfg.num_layers >= 1 &&
                  cfg.cell >= 0 && cfg.cell <= 3 && cfg.dropout >= 0 && cfg.dropout < 1 &&
                  (!cfg.tied || cfg.emb_size == cfg.hidden_size),
              "loaded an invalid configuration");
    /* the output layer (format version 2, OUTP): as rnn_model_create accepts it */
    int adaptive = cfg.output == RNN_OUTPUT_ADAPTIVE, nc = cfg.num_cutoffs;
    FZ_ASSERT(cfg.output == RNN_OUTPUT_FULL || adaptive, "output %d", cfg.output);
    if (adaptive) {
        FZ_ASSERT(!cfg.tied && nc >= 1 && nc <= RNN_MAX_CUTOFFS && cfg.div_value > 0 && isfinite(cfg.div_value) &&
                      (cfg.head_bias == 0 || cfg.head_bias == 1),
                  "loaded an invalid adaptive configuration");
        for (int i = 0; i < nc; i++)
            FZ_ASSERT(cfg.cutoffs[i] >= 1 && cfg.cutoffs[i] < cfg.vocab_size && (i == 0 || cfg.cutoffs[i] > cfg.cutoffs[i - 1]),
                      "loaded cutoffs[%d] = %d", i, cfg.cutoffs[i]);
    } else {
        FZ_ASSERT(nc == 0 && cfg.div_value == 0 && cfg.head_bias == 0, "a full output layer with adaptive settings");
    }
    int np = 0, want_np = 4 * cfg.num_layers + (adaptive ? 2 + cfg.head_bias + 2 * nc : 3 - !!cfg.tied) /* the encoder too */;
    FZ_ASSERT(rnn_param_get_count(m, &np) == RNN_OK && np == want_np, "param count %d, want %d", np, want_np);
    size_t total = 0, block = 0;
    float *data, *grad;
    int wt = -1;
    FZ_ASSERT(rnn_model_get_weight_type(m, &wt) == RNN_OK && wt >= RNN_WEIGHTS_FP32 && wt <= RNN_WEIGHTS_Q8, "weight type");
    /* a quantized model (QPRM) has no fp32 block, no gradients, and no fp32 copy of a weight matrix */
    FZ_ASSERT(rnn_param_get_block(m, &data, &grad, &block) == (wt ? RNN_ERR_STATE : RNN_OK), "param block");
    for (int i = 0; i < np; i++) {
        rnn_param p = {.struct_size = sizeof p};
        FZ_ASSERT(rnn_param_get(m, i, &p) == RNN_OK && p.size == (size_t)p.rows * p.cols, "param %d", i);
        if (wt) {
            FZ_ASSERT(!p.grad && (!p.data) == !strstr(p.name, "bias"), "quantized param %d: data %p grad %p", i,
                      (void *)p.data, (void *)p.grad);
            if (p.data) {
                volatile float sink = p.data[0] + p.data[p.size - 1];
                (void)sink;
            }
            continue;
        }
        volatile float sink = p.data[0] + p.data[p.size - 1] + p.grad[p.size - 1];
        (void)sink;
        FZ_ASSERT(p.grad[0] == 0, "gradient not zero after load");
        total += p.size;
    }
    FZ_ASSERT(wt || total == block, "tensor sizes %zu != block %zu", total, block);
    rnn_param past = {.struct_size = sizeof past};
    FZ_ASSERT(rnn_param_get(m, np, &past) == RNN_ERR_RANGE, "param_get past the end");
    int nv = -1;
    FZ_ASSERT(rnn_vocab_get_size(m, &nv) == RNN_OK && (nv == 0 || nv == cfg.vocab_size), "vocab size %d", nv);
    for (int i = 0; i < nv; i++) {
        const char *w = NULL;
        FZ_ASSERT(rnn_vocab_get_word(m, i, &w) == RNN_OK && w && w[0], "vocab word %d", i);
        FZ_ASSERT(!has_space(w), "loaded vocabulary word %d (\"%s\") holds whitespace", i, w);
        int32_t id = -1;
        int rc = rnn_vocab_find(m, w, &id);
        FZ_ASSERT(rc == RNN_OK && id == i, "vocab_find(word %d) = %d, id %d (a duplicate word was loaded?)", i, rc,
                  (int)id);
    }
    if (nv == 0) {
        int32_t id = 5;
        FZ_ASSERT(rnn_vocab_find(m, "the", &id) == RNN_ERR_NOTFOUND, "vocab_find without a vocabulary");
    }
    const void *app;
    size_t app_len;
    FZ_ASSERT(rnn_model_get_app_data(m, &app, &app_len) == RNN_OK, "app data");
    FZ_ASSERT((app == NULL) == (app_len == 0), "app data %p with length %zu", app, app_len);
    int sb = -1;
    FZ_ASSERT(rnn_model_get_batch(m, &sb) == RNN_OK && sb >= 0, "state batch");

    /* inference over the loaded weights (whatever values they hold) */
    rnn_state *st = NULL;
    int rc = rnn_state_create(&st, m, 1, 7);
    FZ_ASSERT(rc == RNN_OK || rc == RNN_ERR_NOMEM, "state_create %d", rc);
    if (st) {
        int32_t tok[2] = {0, cfg.vocab_size - 1}, out[3];
        double lp;
        FZ_ASSERT(rnn_state_score(st, tok, 2, 0, &lp) == RNN_OK, "score: %s", rnn_state_errmsg(st));
        FZ_ASSERT(!(lp > 0), "log-probability %g > 0", lp);
        rnn_sampling s;
        rnn_sampling_init(&s, sizeof s);
        /* a file may hold NaN or inf weights (values are copied bit for bit): then the sampler
           says RNN_ERR_NUMERIC instead of drawing */
        int grc = rnn_state_generate(st, &s, 3, out);
        FZ_ASSERT(grc == RNN_OK || grc == RNN_ERR_NUMERIC, "generate = %d: %s", grc, rnn_state_errmsg(st));
        if (grc == RNN_OK)
            for (int i = 0; i < 3; i++) FZ_ASSERT(out[i] >= 0 && out[i] < cfg.vocab_size, "generated token %d", out[i]);
        rnn_state_free(st);
    }
}

/* The two loads of one input give the same model. */
static void assert_same(rnn_model *a, rnn_model *b)
{
    rnn_config ca, cb;
    rnn_config_init(&ca, sizeof ca);
    rnn_config_init(&cb, sizeof cb);
    FZ_ASSERT(rnn_model_get_config(a, &ca) == RNN_OK && rnn_model_get_config(b, &cb) == RNN_OK, "config");
    FZ_ASSERT(ca.cell == cb.cell && ca.vocab_size == cb.vocab_size && ca.emb_size == cb.emb_size &&
                  ca.hidden_size == cb.hidden_size && ca.num_layers == cb.num_layers && ca.tied == cb.tied &&
                  memcmp(&ca.dropout, &cb.dropout, sizeof ca.dropout) == 0 && ca.seed == cb.seed &&
                  ca.output == cb.output && ca.num_cutoffs == cb.num_cutoffs &&
                  memcmp(ca.cutoffs, cb.cutoffs, sizeof ca.cutoffs) == 0 &&
                  memcmp(&ca.div_value, &cb.div_value, sizeof ca.div_value) == 0 && ca.head_bias == cb.head_bias,
              "file and memory loads give different configurations");
    float *d1 = NULL, *d2 = NULL, *g;
    size_t n1 = 0, n2 = 0;
    int r1 = rnn_param_get_block(a, &d1, &g, &n1), r2 = rnn_param_get_block(b, &d2, &g, &n2);
    FZ_ASSERT(r1 == r2, "rnn_param_get_block gives %d and %d", r1, r2);
    if (r1 == RNN_OK) {
        FZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1 * sizeof(float)) == 0, "file and memory loads give different parameters");
    } else { /* a quantized model (no fp32 block): the images written from both */
        size_t l1 = 0, l2 = 0;
        FZ_ASSERT(rnn_model_save_mem(a, NULL, 0, &l1, 0, NULL, 0) == RNN_OK &&
                      rnn_model_save_mem(b, NULL, 0, &l2, 0, NULL, 0) == RNN_OK && l1 == l2, "image sizes");
        unsigned char *i1 = malloc(l1), *i2 = malloc(l2);
        FZ_ASSERT(i1 && i2, "out of memory");
        rnn_model_save_mem(a, i1, l1, &l1, 0, NULL, 0), rnn_model_save_mem(b, i2, l2, &l2, 0, NULL, 0);
        FZ_ASSERT(memcmp(i1, i2, l1) == 0, "file and memory loads give different quantized parameters");
        free(i1), free(i2);
    }
    int va = -1, vb = -1;
    rnn_vocab_get_size(a, &va);
    rnn_vocab_get_size(b, &vb);
    FZ_ASSERT(va == vb, "vocabulary sizes %d and %d", va, vb);
    for (int i = 0; i < va; i++) {
        const char *wa = NULL, *wb = NULL;
        rnn_vocab_get_word(a, i, &wa);
        rnn_vocab_get_word(b, i, &wb);
        FZ_ASSERT(wa && wb && strcmp(wa, wb) == 0, "vocabulary word %d differs", i);
    }
    const void *pa, *pb;
    size_t la, lb;
    rnn_model_get_app_data(a, &pa, &la);
    rnn_model_get_app_data(b, &pb, &lb);
    FZ_ASSERT(la == lb && (!la || memcmp(pa, pb, la) == 0), "application data differs");
    int ba = -1, bb = -1;
    rnn_model_get_batch(a, &ba);
    rnn_model_get_batch(b, &bb);
    FZ_ASSERT(ba == bb, "hidden state batch %d and %d", ba, bb);
    if (ba > 0) {
        size_t n = (size_t)ca.num_layers * (size_t)ba * (size_t)ca.hidden_size;
        float *h = calloc(4 * n, sizeof(float));
        FZ_ASSERT(h, "calloc");
        FZ_ASSERT(rnn_model_get_hidden(a, ba, h, h + n) == RNN_OK && rnn_model_get_hidden(b, ba, h + 2 * n, h + 3 * n) == RNN_OK,
                  "get_hidden");
        FZ_ASSERT(memcmp(h, h + 2 * n, 2 * n * sizeof(float)) == 0, "file and memory loads give different hidden states");
        free(h);
    }
}

static void roundtrip(rnn_model *m)
{
    char p1[96], p2[96];
    snprintf(p1, sizeof p1, "%s/a.bin", g_dir);
    snprintf(p2, sizeof p2, "%s/b.bin", g_dir);
    const void *app;
    size_t app_len;
    rnn_model_get_app_data(m, &app, &app_len);
    FZ_ASSERT(rnn_model_save(m, p1, RNN_SAVE_STATE, app, app_len) == RNN_OK, "save: %s", rnn_model_errmsg(m));
    rnn_model *m2 = NULL;
    char err[256];
    FZ_ASSERT(rnn_model_load(&m2, p1, NULL, 0, err, sizeof err) == RNN_OK, "reload of a saved file: %s", err);
    float *d1 = NULL, *d2 = NULL, *g;
    size_t n1 = 0, n2 = 0;
    /* (a quantized model has no fp32 block: the byte comparison below covers it) */
    if (rnn_param_get_block(m, &d1, &g, &n1) == RNN_OK && rnn_param_get_block(m2, &d2, &g, &n2) == RNN_OK)
        FZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1 * sizeof(float)) == 0, "parameters differ after save/load");
    const void *app2;
    size_t app2_len;
    rnn_model_get_app_data(m2, &app2, &app2_len);
    FZ_ASSERT(app2_len == app_len && (!app_len || memcmp(app, app2, app_len) == 0), "app data differs after save/load");
    FZ_ASSERT(rnn_model_save(m2, p2, RNN_SAVE_STATE, app2, app2_len) == RNN_OK, "save 2: %s", rnn_model_errmsg(m2));
    size_t s1, s2;
    uint8_t *b1 = fz_read_file(p1, &s1), *b2 = fz_read_file(p2, &s2);
    FZ_ASSERT(s1 == s2 && memcmp(b1, b2, s1) == 0, "save(load(save(x))) differs from save(x)");
    /* the memory image is the file's bytes */
    size_t need = 0, got = 0;
    FZ_ASSERT(rnn_model_save_mem(m2, NULL, 0, &need, RNN_SAVE_STATE, app2, app2_len) == RNN_OK && need == s1,
              "save_mem size %zu, file %zu", need, s1);
    uint8_t *mem = malloc(need);
    FZ_ASSERT(mem && rnn_model_save_mem(m2, mem, need, &got, RNN_SAVE_STATE, app2, app2_len) == RNN_OK && got == need,
              "save_mem: %s", rnn_model_errmsg(m2));
    FZ_ASSERT(memcmp(mem, b1, s1) == 0, "save_mem differs from save");
    free(mem);
    free(b1);
    free(b2);
    rnn_model_free(m2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/rnnfuzz-XXXXXX", base);
    if (!mkdtemp(g_dir)) abort();
    return 0;
}

/* One load's invariants; returns its status. */
static int check_load(int rc, rnn_model *m, const char *err, size_t errlen, const counting *cnt, unsigned flags,
                      const char *which)
{
    FZ_ASSERT(memchr(err, 0, errlen), "%s: errbuf not NUL-terminated", which);
    if (rc != RNN_OK) {
        if (flags & ~RNN_LOAD_NO_STATE) FZ_ASSERT(rc == RNN_ERR_INVALID, "%s with an unknown flag: status %d (%s)", which, rc, err);
        FZ_ASSERT(rc == RNN_ERR_FORMAT || rc == RNN_ERR_NOMEM || rc == RNN_ERR_IO || rc == RNN_ERR_INVALID,
                  "%s: status %d (%s)", which, rc, err);
        FZ_ASSERT(rc != RNN_ERR_INVALID || (flags & ~RNN_LOAD_NO_STATE), "%s: RNN_ERR_INVALID for valid arguments (%s)",
                  which, err);
        FZ_ASSERT(m == NULL, "%s: *out not NULL on failure", which);
        FZ_ASSERT(err[0], "%s: no message for status %d", which, rc);
        FZ_ASSERT(cnt->live == 0, "%s: %ld allocations leaked by a failed load (%s)", which, cnt->live, err);
        FZ_ASSERT(rc != RNN_ERR_NOMEM || cnt->fail_at, "%s: NOMEM without a failing allocator: %s", which, err);
        return rc;
    }
    FZ_ASSERT(!(flags & ~RNN_LOAD_NO_STATE), "%s: an unknown flag accepted", which);
    FZ_ASSERT(m != NULL && err[0] == 0, "%s: success with a message: %s", which, err);
    if (flags & RNN_LOAD_NO_STATE) {
        int b = -1;
        FZ_ASSERT(rnn_model_get_batch(m, &b) == RNN_OK && b == 0, "%s: RNN_LOAD_NO_STATE gave a hidden state (batch %d)",
                  which, b);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned ctl = data[0];
    size_t n = size - 1;
    uint8_t *f = malloc(n ? n : 1);
    if (n) memcpy(f, data + 1, n);
    if (ctl & 1) fix_crcs(f, n);
    fz_file_write(&g_file, "model", f, n, NULL, 0);
    unsigned flags = (ctl & 32) ? RNN_LOAD_NO_STATE : 0;
    if ((ctl & 0xC0) == 0xC0) flags |= 2u; /* not a load flag */

    /* from the file */
    counting cnt = {0, 0, (long)((ctl >> 1) & 15)};
    rnn_allocator al = {sizeof al, c_alloc, c_free, &cnt};
    rnn_model *m = (rnn_model *)&cnt; /* must be overwritten */
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = rnn_model_load(&m, g_file.path, &al, flags, err, sizeof err);
    check_load(rc, m, err, sizeof err, &cnt, flags, "rnn_model_load");

    /* from memory: the same bytes, a private copy (the loader must not keep a pointer to them) */
    counting cnt2 = {0, 0, cnt.fail_at};
    rnn_allocator al2 = {sizeof al2, c_alloc, c_free, &cnt2};
    rnn_model *m2 = (rnn_model *)&cnt2;
    char err2[256];
    memset(err2, 'x', sizeof err2);
    int rc2 = rnn_model_load_mem(&m2, f, n, &al2, flags, err2, sizeof err2);
    memset(f, 0xA5, n); /* "the bytes are not kept after the call" */
    free(f);
    check_load(rc2, m2, err2, sizeof err2, &cnt2, flags, "rnn_model_load_mem");

    if (!cnt.fail_at || (rc != RNN_ERR_NOMEM && rc2 != RNN_ERR_NOMEM))
        FZ_ASSERT(rc == rc2, "rnn_model_load = %d (%s) but rnn_model_load_mem = %d (%s)", rc, err, rc2, err2);
    if (rc == RNN_OK && rc2 == RNN_OK) assert_same(m, m2);

    rnn_model *loaded[2] = {rc == RNN_OK ? m : NULL, rc2 == RNN_OK ? m2 : NULL};
    counting *cn[2] = {&cnt, &cnt2};
    for (int k = 0; k < 2; k++) {
        if (!loaded[k]) continue;
        cn[k]->fail_at = 0;
        exercise(loaded[k]);
        if (k == 0 || !loaded[0]) roundtrip(loaded[k]); /* the same model: once is enough */
        rnn_model_free(loaded[k]);
        FZ_ASSERT(cn[k]->live == 0, "%ld allocations leaked", cn[k]->live);
    }
    return 0;
}
